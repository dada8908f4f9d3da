//! `s3://` locations reach deltalake's S3 store: a round trip against a
//! private moto S3 server on 127.0.0.1, and a prompt, typed error for an
//! endpoint nothing listens on.
//!
//! The round trip needs `moto_server` (`pip install 'moto[server]'`;
//! `scripts/test` installs it).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caresync_core::ChangeType;
use caresync_lake::{CommitOutcome, LakeError, LakeTable};

use crate::common::{Change, batch, changes, owned, read, rows, spec};

/// A free port on 127.0.0.1 (free when this returns; nothing holds it).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Storage options for an S3 endpoint at `endpoint`, with dummy credentials.
fn s3_options(endpoint: &str) -> HashMap<String, String> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test-key"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret"),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A moto S3 server on 127.0.0.1, killed and reaped on drop.
struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    const PROGRAM: &str = "moto_server";
    const INSTALL_HINT: &str = "install it with: pip install 'moto[server]'";

    /// Starts the server and waits (up to 30 s) until it accepts connections.
    fn start() -> Self {
        let port = free_port();
        // The server's output goes to a file, read back only if it fails to start.
        let log = tempfile::tempfile().expect("temp file for the server's output");
        let child = Command::new(Self::PROGRAM)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file handle"))
            .stderr(log.try_clone().expect("clone the log file handle"))
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run {} ({err}); {}",
                    Self::PROGRAM,
                    Self::INSTALL_HINT
                )
            });
        let mut server = Self { child, port };
        server.wait_until_listening(log);
        server
    }

    fn wait_until_listening(&mut self, mut log: File) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut output = || {
            let mut text = String::new();
            log.rewind().expect("rewind the log file");
            log.read_to_string(&mut text).expect("read the log file");
            text
        };
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                panic!(
                    "{} exited with {status} before listening on port {}; {}\n{}",
                    Self::PROGRAM,
                    self.port,
                    Self::INSTALL_HINT,
                    output()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not listen on port {} within 30 s\n{}",
                    Self::PROGRAM,
                    self.port,
                    output()
                );
            }
            // Polling interval while the server starts; not a synchronisation.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket with a plain `PUT /bucket` (moto needs no signature).
    fn create_bucket(&self, bucket: &str) {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set read timeout");
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send PUT bucket");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the PUT bucket response");
        let status = response.lines().next().unwrap_or_default();
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "PUT /{bucket}: {response}"
        );
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // An error here means the process is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn change(kind: ChangeType, id: i64, name: &str, version: u64) -> Change {
    (kind.as_str().to_owned(), id, Some(name.to_owned()), version)
}

#[tokio::test]
async fn a_table_on_s3_round_trips() {
    let server = MotoServer::start();
    server.create_bucket("lake");
    let options = s3_options(&server.endpoint());
    let url = "s3://lake/patients";

    let mut table = LakeTable::open_or_create(url, &spec().with_storage_options(options.clone()))
        .await
        .expect("create the table on S3");
    assert_eq!((table.url(), table.version()), (url, 0));

    let rows_1 = [(1, Some("a")), (2, Some("b"))];
    assert_eq!(
        table
            .append_idempotent("loader", 1, vec![batch(&rows_1)])
            .await
            .expect("txn 1"),
        CommitOutcome::Committed { version: 1 }
    );

    // A retry from a freshly opened handle, as after a crash, is a no-op.
    let mut retry = LakeTable::open_with_options(url, options.clone())
        .await
        .expect("reopen");
    assert_eq!(retry.version(), 1);
    assert_eq!(
        retry
            .append_idempotent("loader", 1, vec![batch(&rows_1)])
            .await
            .expect("retry txn 1"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 1
        }
    );
    assert_eq!(read(&retry).await, owned(&rows_1));

    // `table` is now stale (at version 1). Its commit must not overwrite the
    // one another handle made at version 2: S3 conditional puts
    // (If-None-Match) make it land as version 3.
    assert_eq!(
        retry
            .append(vec![batch(&[(3, Some("c"))])])
            .await
            .expect("append from the fresh handle"),
        2
    );
    assert_eq!(table.version(), 1);
    assert_eq!(
        table
            .append(vec![batch(&[(4, Some("d"))])])
            .await
            .expect("append from the stale handle"),
        3
    );

    let latest = LakeTable::open_with_options(url, options.clone())
        .await
        .expect("open latest");
    assert_eq!(latest.version(), 3);
    let all_rows = owned(&[
        (1, Some("a")),
        (2, Some("b")),
        (3, Some("c")),
        (4, Some("d")),
    ]);
    assert_eq!(read(&latest).await, all_rows);

    let first = LakeTable::options(url)
        .storage_options(options.clone())
        .at_version(0)
        .open()
        .await
        .expect("open version 0");
    assert_eq!(first.version(), 0);
    assert_eq!(
        rows(&first.read_all().await.expect("read version 0")),
        vec![]
    );

    use ChangeType::Insert;
    assert_eq!(
        changes(&latest.changes(0, None).await.expect("change feed")),
        vec![
            change(Insert, 1, "a", 1),
            change(Insert, 2, "b", 1),
            change(Insert, 3, "c", 2),
            change(Insert, 4, "d", 3),
        ]
    );
}

/// Storage options for an S3 endpoint on a local port nothing listens on,
/// with object_store's retries and timeouts cut short.
fn unreachable_endpoint() -> HashMap<String, String> {
    let mut options = s3_options(&format!("http://127.0.0.1:{}", free_port()));
    for (key, value) in [
        ("max_retries", "0"),
        ("retry_timeout", "2s"),
        ("connect_timeout", "2s"),
        ("timeout", "5s"),
    ] {
        options.insert(key.to_owned(), value.to_owned());
    }
    options
}

#[tokio::test]
async fn an_unreachable_s3_endpoint_is_an_open_error() {
    let options = unreachable_endpoint();
    let started = Instant::now();
    let opened = tokio::time::timeout(
        Duration::from_secs(20),
        LakeTable::open_with_options("s3://bucket/table", options.clone()),
    )
    .await
    .expect("open gives up in bounded time");
    let err = opened.expect_err("nothing listens there");
    assert!(matches!(err, LakeError::Open { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot open Delta table at s3://bucket/table"
    );

    let created = tokio::time::timeout(
        Duration::from_secs(20),
        LakeTable::open_or_create("s3://bucket/table", &spec().with_storage_options(options)),
    )
    .await
    .expect("open_or_create gives up in bounded time");
    let err = created.expect_err("nothing listens there");
    assert!(matches!(err, LakeError::Open { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}
