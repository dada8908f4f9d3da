//! What every socket source shares: accepting connections until cancelled,
//! then letting those open finish.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Accepts connections on `listener`, each served by a task from
/// `connection`, until `cancel` fires; then stops accepting and waits for
/// the open connections (which watch `cancel` themselves) to finish.
/// `what` names the protocol in logs.
pub(crate) async fn serve_until_cancelled<F, Fut>(
    listener: TcpListener,
    cancel: &CancellationToken,
    what: &'static str,
    mut connection: F,
) where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, protocol = what, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
