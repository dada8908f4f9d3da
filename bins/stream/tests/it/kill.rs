//! The real binary killed with SIGKILL during ingest, then started again:
//! nothing acknowledged is lost, nothing is duplicated in silver.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use caresync_testkit::hl7::{Hl7Generator, Hl7Kind, Hl7Options};

use crate::support::{Client, accepted, layout, rows, texts};

/// A free port on 127.0.0.1 (bound, then released for the child).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address").port()
}

fn spawn(lake: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_caresync-stream"))
        .args(["run", "--lake", lake, "--mllp", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the stream binary starts")
}

async fn connect(port: u16) -> Client {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Client::connect(addr).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stream binary does not listen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let lake = layout.root().to_owned();
    let mut g = Hl7Generator::new(99, Hl7Options::default());
    let messages: Vec<_> = (0..400).map(|_| g.generate(Hl7Kind::AdtA01)).collect();

    let port = free_port();
    let mut child = spawn(&lake, port);
    let mut client = connect(port).await;
    // Everything is sent; the process dies after 150 acknowledgements, with
    // more in flight.
    for m in &messages {
        client.send(&m.bytes).await;
    }
    let mut acked = Vec::new();
    for m in &messages[..150] {
        assert!(accepted(&client.ack().await));
        acked.push(m);
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    drop(client);

    // Started again, then stopped cleanly (SIGTERM drains silver).
    let port = free_port();
    let mut child = spawn(&lake, port);
    let _ = connect(port).await;
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = child.wait().expect("exit");
    assert!(status.success(), "a clean stop: {status}");

    let bronze_ids: BTreeSet<String> = texts(&rows(&layout.bronze()).await, "message_id")
        .into_iter()
        .collect();
    for m in &acked {
        assert!(bronze_ids.contains(&m.control_id), "an acknowledged message was lost");
    }
    // Silver holds exactly the patients of what bronze holds, once each.
    let stored: BTreeSet<String> = messages
        .iter()
        .filter(|m| bronze_ids.contains(&m.control_id))
        .flat_map(|m| m.patients.iter().map(|p| p.mrn.clone()))
        .collect();
    let patients = rows(&layout.silver("patient")).await;
    let mrns = texts(&patients, "mrn");
    assert_eq!(mrns.len(), stored.len(), "no duplicate silver rows");
    assert_eq!(mrns.into_iter().collect::<BTreeSet<_>>(), stored);
}
