//! The stream end to end: HL7 v2 ADT messages over MLLP into bronze and
//! silver Delta tables on a local folder.
//!
//! Two runs, each on a fresh lake:
//!
//! 1. **Throughput**: `CARESYNC_STREAM_MESSAGES` (default 100,000) seeded
//!    ADT^A01 messages sent over `CARESYNC_STREAM_CONNECTIONS` (default 16)
//!    connections, each pipelining up to 256 frames; timed from the first
//!    frame to the last acknowledgement (bronze) and to the silver stage
//!    having merged every batch (silver).
//! 2. **ACK latency at a fixed rate**: 5,000 messages a second for
//!    `CARESYNC_STREAM_SECONDS` (default 10) over the same connections,
//!    each frame's time from its send to its acknowledgement; percentiles.
//!
//! ```sh
//! CARGO_TARGET_DIR=/tmp/t-bench-lake cargo bench -p caresync-bench-lake --bench stream
//! ```
//!
//! With `CARESYNC_STREAM_KEEP` set, each run's lake folder is kept and its
//! path printed, to look at the tables afterwards.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caresync_hl7v2::mllp::{MllpDecoder, Scan, encode_frame};
use caresync_stream::bronze::Batching;
use caresync_stream::mllp::{self, MllpOptions};
use caresync_stream::{LakeLayout, Pipeline, Settings};
use caresync_testkit::hl7::{Hl7Generator, Hl7Kind, Hl7Options};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

// The allocator of the stream binary (`bins/stream/src/main.rs`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A pipeline with an MLLP listener on 127.0.0.1.
struct Server {
    pipeline: Pipeline,
    addr: std::net::SocketAddr,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = LakeLayout::new(
        dir.path().join("lake").display().to_string(),
        HashMap::new(),
    );
    let pipeline = Pipeline::start(Settings {
        lake: layout,
        batching: Batching::default(),
        contracts: HashMap::new(),
    })
    .await
    .expect("pipeline");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let cancel = CancellationToken::new();
    let task = tokio::spawn(mllp::serve(
        listener,
        pipeline.ingest(),
        Arc::from("mllp"),
        MllpOptions::default(),
        cancel.clone(),
    ));
    Server {
        pipeline,
        addr,
        cancel,
        task,
        dir,
    }
}

impl Server {
    async fn stop(self) -> caresync_stream::SilverStats {
        self.cancel.cancel();
        let _ = self.task.await;
        let stats = self.pipeline.shutdown().await;
        if std::env::var_os("CARESYNC_STREAM_KEEP").is_some() {
            let kept = self.dir.keep();
            let mut out = std::io::stdout().lock();
            writeln!(out, "lake kept at {}", kept.display()).expect("stdout");
        }
        stats
    }
}

/// Reads `n` acknowledgements from `read`, calling `each` with the time each
/// arrived.
async fn read_acks(
    mut read: tokio::net::tcp::OwnedReadHalf,
    n: usize,
    mut each: impl FnMut(Instant),
) {
    let mut decoder = MllpDecoder::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut seen = 0;
    while seen < n {
        match decoder.scan(&buf) {
            Scan::Frame { consumed, payload } => {
                assert!(
                    buf[payload]
                        .windows(4)
                        .any(|w| w == b"|AA|" || w == b"|CA|"),
                    "every message is accepted"
                );
                buf.drain(..consumed);
                seen += 1;
                each(Instant::now());
            }
            Scan::NeedMore => {
                let got = read.read(&mut chunk).await.expect("read");
                assert!(got > 0, "the server closed the connection");
                buf.extend_from_slice(&chunk[..got]);
            }
            other => {
                let k = other.consumed();
                buf.drain(..k);
            }
        }
    }
}

fn framed(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    messages
        .iter()
        .map(|m| {
            let mut out = Vec::with_capacity(m.len() + 3);
            encode_frame(m, &mut out);
            out
        })
        .collect()
}

/// Sends every frame as fast as the window allows; returns (time to the
/// last ACK, time to silver, stats).
async fn throughput(
    frames: Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> (Duration, Duration, caresync_stream::SilverStats) {
    const WINDOW: usize = 256;
    let server = start().await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let frames = frames.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (c..frames.len()).step_by(connections).collect();
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (read, mut write) = stream.into_split();
            let (credit_tx, mut credit) = tokio::sync::mpsc::channel::<()>(WINDOW);
            for _ in 0..WINDOW {
                credit_tx.try_send(()).expect("window");
            }
            let n = mine.len();
            let reader = tokio::spawn(read_acks(read, n, move |_| {
                let _ = credit_tx.try_send(());
            }));
            for i in mine {
                credit.recv().await.expect("credit");
                write.write_all(&frames[i]).await.expect("send");
            }
            reader.await.expect("reader");
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let acked = started.elapsed();
    let stats = server.stop().await;
    (acked, started.elapsed(), stats)
}

/// Sends at `rate` messages a second for `seconds`; returns each message's
/// ACK latency.
async fn latency(
    frames: Arc<Vec<Vec<u8>>>,
    connections: usize,
    rate: usize,
    seconds: usize,
) -> Vec<Duration> {
    let server = start().await;
    let total = (rate * seconds).min(frames.len());
    let per_conn_interval = Duration::from_secs_f64(connections as f64 / rate as f64);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let frames = frames.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (c..total).step_by(connections).collect();
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (read, mut write) = stream.into_split();
            let sent = Arc::new(std::sync::Mutex::new(
                std::collections::VecDeque::<Instant>::new(),
            ));
            let lat = Arc::new(std::sync::Mutex::new(Vec::with_capacity(mine.len())));
            let reader = {
                let sent = sent.clone();
                let lat = lat.clone();
                tokio::spawn(read_acks(read, mine.len(), move |at| {
                    let t0 = sent
                        .lock()
                        .expect("lock")
                        .pop_front()
                        .expect("a sent frame");
                    lat.lock().expect("lock").push(at - t0);
                }))
            };
            let mut tick = tokio::time::interval(per_conn_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for i in mine {
                tick.tick().await;
                sent.lock().expect("lock").push_back(Instant::now());
                write.write_all(&frames[i]).await.expect("send");
            }
            reader.await.expect("reader");
            std::mem::take(&mut *lat.lock().expect("lock"))
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    server.stop().await;
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let messages = env("CARESYNC_STREAM_MESSAGES", 100_000);
    let connections = env("CARESYNC_STREAM_CONNECTIONS", 16);
    let seconds = env("CARESYNC_STREAM_SECONDS", 10);
    let mut g = Hl7Generator::new(42, Hl7Options::default());
    let raw: Vec<Vec<u8>> = (0..messages.max(5_000 * seconds))
        .map(|_| g.message(Hl7Kind::AdtA01))
        .collect();
    let bytes: usize = raw.iter().map(Vec::len).sum();
    let frames = Arc::new(framed(&raw));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut out = std::io::stdout().lock();

    let sent: Arc<Vec<Vec<u8>>> = Arc::new(frames[..messages].to_vec());
    let (acked, silver, stats) = runtime.block_on(throughput(sent, connections));
    writeln!(
        out,
        "stream/throughput: {messages} ADT^A01 ({:.1} MB) over {connections} connections: \
         bronze (all ACKs) {:.2} s = {:.0} msg/s; silver {:.2} s = {:.0} msg/s; \
         {} bronze batches, {} silver records, {} dead letters",
        bytes as f64 * messages as f64 / raw.len() as f64 / 1e6,
        acked.as_secs_f64(),
        messages as f64 / acked.as_secs_f64(),
        silver.as_secs_f64(),
        messages as f64 / silver.as_secs_f64(),
        stats.batches,
        stats.records,
        stats.dead_letters,
    )
    .expect("stdout");

    let mut lat = runtime.block_on(latency(frames, connections, 5_000, seconds));
    lat.sort();
    writeln!(
        out,
        "stream/ack_latency at 5000 msg/s for {seconds} s ({} messages): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.95).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    )
    .expect("stdout");
}
