//! Shared set-up: a pipeline on a temporary lake, an MLLP client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use caresync_hl7v2::mllp::{MllpDecoder, Scan, encode_frame};
use caresync_lake::LakeTable;
use caresync_stream::bronze::Batching;
use caresync_stream::mllp::{self, MllpOptions};
use caresync_stream::{LakeLayout, Pipeline, Settings};
use deltalake::arrow::array::{Array, AsArray as _, RecordBatch};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub(crate) fn layout(dir: &tempfile::TempDir) -> LakeLayout {
    LakeLayout::new(
        dir.path().join("lake").display().to_string(),
        HashMap::new(),
    )
}

pub(crate) fn settings(layout: &LakeLayout) -> Settings {
    Settings {
        lake: layout.clone(),
        batching: Batching {
            max_rows: 500,
            linger: Duration::from_millis(5),
            ..Batching::default()
        },
        contracts: HashMap::new(),
    }
}

/// A pipeline with an MLLP listener on 127.0.0.1, port 0.
pub(crate) struct Running {
    pub(crate) pipeline: Pipeline,
    pub(crate) addr: std::net::SocketAddr,
    cancel: CancellationToken,
    server: JoinHandle<()>,
}

impl Running {
    pub(crate) async fn start(settings: Settings) -> Running {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let pipeline = Pipeline::start(settings).await.expect("pipeline starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let cancel = CancellationToken::new();
        let server = tokio::spawn(mllp::serve(
            listener,
            pipeline.ingest(),
            Arc::from("mllp"),
            MllpOptions::default(),
            cancel.clone(),
        ));
        Running {
            pipeline,
            addr,
            cancel,
            server,
        }
    }

    /// Stops the listener and drains the pipeline.
    pub(crate) async fn stop(self) -> caresync_stream::SilverStats {
        self.cancel.cancel();
        self.server.await.expect("server task");
        self.pipeline.shutdown().await
    }

    /// Stops at once, like a killed process: nothing is drained.
    pub(crate) async fn kill(self) {
        self.cancel.cancel();
        self.server.abort();
        self.pipeline.abort().await;
    }
}

/// An MLLP client that pipelines frames and reads their acknowledgements.
pub(crate) struct Client {
    stream: TcpStream,
    decoder: MllpDecoder,
    buf: Vec<u8>,
}

impl Client {
    pub(crate) async fn connect(addr: std::net::SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.expect("connect"),
            decoder: MllpDecoder::default(),
            buf: Vec::new(),
        }
    }

    pub(crate) async fn send(&mut self, payload: &[u8]) {
        let mut out = Vec::new();
        encode_frame(payload, &mut out);
        self.stream.write_all(&out).await.expect("send");
    }

    /// The next acknowledgement, as text.
    pub(crate) async fn ack(&mut self) -> String {
        loop {
            match self.decoder.scan(&self.buf) {
                Scan::Frame { payload, consumed } => {
                    let text = String::from_utf8_lossy(&self.buf[payload]).into_owned();
                    self.buf.drain(..consumed);
                    return text;
                }
                Scan::NeedMore => {
                    let mut chunk = [0u8; 4096];
                    let n =
                        tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut chunk))
                            .await
                            .expect("an acknowledgement within 30 s")
                            .expect("read");
                    assert!(n > 0, "connection closed before the acknowledgement");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                other => {
                    let n = other.consumed();
                    self.buf.drain(..n);
                }
            }
        }
    }

    /// Sends `payload` and returns its acknowledgement.
    pub(crate) async fn call(&mut self, payload: &[u8]) -> String {
        self.send(payload).await;
        self.ack().await
    }
}

/// MSA-1 of an acknowledgement.
pub(crate) fn msa_code(ack: &str) -> &str {
    ack.split('\r')
        .find(|s| s.starts_with("MSA|"))
        .and_then(|s| s.split('|').nth(1))
        .unwrap_or("")
}

/// Whether an acknowledgement says the message was stored (`AA` in
/// original mode, `CA` in enhanced mode).
pub(crate) fn accepted(ack: &str) -> bool {
    matches!(msa_code(ack), "AA" | "CA")
}

/// Every row of a table (empty when the table does not exist yet).
pub(crate) async fn rows(url: &str) -> Vec<RecordBatch> {
    match LakeTable::open(url).await {
        Ok(t) => t.read_all().await.expect("read"),
        Err(_) => Vec::new(),
    }
}

pub(crate) fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The values of a text column, nulls skipped.
pub(crate) fn texts(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let Some(c) = b.column_by_name(column) else {
            continue;
        };
        let c = deltalake::arrow::compute::cast(c, &deltalake::arrow::datatypes::DataType::Utf8)
            .expect("a text column");
        let c = c.as_string::<i32>();
        for i in 0..c.len() {
            if c.is_valid(i) {
                out.push(c.value(i).to_owned());
            }
        }
    }
    out
}
