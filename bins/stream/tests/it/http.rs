//! FHIR over HTTP into bronze and silver; `/metrics`, `/health`, `/ready`.
//!
//! A real server on 127.0.0.1 (port 0) in front of a real pipeline on a
//! temporary lake; requests are raw HTTP/1.1 over a `TcpStream`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use caresync_stream::http::{self, BRONZE_BATCH_HEADER, CODE_SYSTEM, HttpOptions};
use caresync_stream::{Health, IngestHandle, LakeLayout, Pipeline};
use caresync_testkit::fhir::{FhirGenerator, FhirOptions, FhirType};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::{count, layout, rows, settings, texts};

const FHIR_JSON: &str = "application/fhir+json";

/// An HTTP server on 127.0.0.1, port 0.
struct Server {
    addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(
        ingest: Option<IngestHandle>,
        health: Arc<Health>,
        metrics: Option<PrometheusHandle>,
        options: HttpOptions,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(http::serve(
            listener,
            ingest,
            health,
            metrics,
            Arc::from("fhir-http"),
            options,
            cancel.clone(),
        ));
        Server { addr, cancel, task }
    }

    /// Stops accepting and waits for the requests in flight.
    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.expect("server task");
    }
}

/// A pipeline on a temporary lake with an HTTP server in front.
struct Lake {
    _dir: tempfile::TempDir,
    layout: LakeLayout,
    pipeline: Pipeline,
    server: Server,
}

impl Lake {
    async fn start() -> Lake {
        Lake::with_options(HttpOptions::default()).await
    }

    async fn with_options(options: HttpOptions) -> Lake {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = layout(&dir);
        let pipeline = Pipeline::start(settings(&layout))
            .await
            .expect("pipeline starts");
        let server = Server::start(Some(pipeline.ingest()), pipeline.health(), None, options).await;
        Lake {
            _dir: dir,
            layout,
            pipeline,
            server,
        }
    }

    /// POSTs `body` and, once it is stored (202), waits for silver to
    /// apply its bronze batch.
    async fn post_and_apply(&self, path: &str, content_type: &str, body: &[u8]) -> i64 {
        let reply = request(self.server.addr, "POST", path, Some(content_type), body).await;
        assert_eq!(reply.status, 202, "{}", reply.text());
        let batch = reply.bronze_batch();
        self.pipeline.wait_silver(batch).await;
        batch
    }

    async fn silver_ids(&self, table: &str) -> BTreeSet<String> {
        texts(&rows(&self.layout.silver(table)).await, "id")
            .into_iter()
            .collect()
    }

    async fn stop(self) -> caresync_stream::SilverStats {
        self.server.stop().await;
        self.pipeline.shutdown().await
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response head");
        let head = std::str::from_utf8(&raw[..end]).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        if let Some(length) = length {
            assert!(body.len() >= length, "the body is cut off");
            body.truncate(length);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The first issue of the `OperationOutcome` body.
    fn issue(&self) -> Value {
        assert_eq!(self.header("content-type"), Some(FHIR_JSON));
        let outcome = self.json();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
        outcome["issue"][0].clone()
    }

    fn bronze_batch(&self) -> i64 {
        self.header(BRONZE_BATCH_HEADER)
            .and_then(|b| b.parse().ok())
            .expect("a bronze batch header")
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    // One write: the server gets the whole request at once, even when it
    // answers without reading the body.
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    stream.write_all(&raw).await.expect("send");
    Reply::parse(&read_to_end(&mut stream).await)
}

async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("a response within 30 s")
        .expect("read");
    raw
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None, b"").await
}

pub(crate) fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON serialises")
}

pub(crate) fn patient(seed: u64) -> Value {
    FhirGenerator::new(seed, FhirOptions::default()).resource(FhirType::Patient)
}

pub(crate) fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_patient_is_accepted_once_in_bronze_and_lands_in_silver() {
    let lake = Lake::start().await;
    let patient = patient(1);
    let reply = request(
        lake.server.addr,
        "POST",
        "/fhir/Patient",
        Some("application/fhir+json; charset=utf-8"),
        &to_vec(&patient),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let issue = reply.issue();
    assert_eq!(issue["severity"], "information");
    let batch = reply.bronze_batch();
    let diagnostics = issue["diagnostics"].as_str().expect("diagnostics");
    assert!(
        diagnostics.contains(&format!("bronze batch {batch}")),
        "{diagnostics}"
    );
    // Durable before the answer: the bronze row is there already.
    assert_eq!(count(&rows(&lake.layout.bronze()).await), 1);

    lake.pipeline.wait_silver(batch).await;
    assert_eq!(
        lake.silver_ids("patient").await,
        BTreeSet::from([id_of(&patient)])
    );
    let stats = lake.stop().await;
    assert_eq!(stats.dead_letters, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_lands_in_the_tables_of_its_resources() {
    let lake = Lake::start().await;
    let bundle = FhirGenerator::new(2, FhirOptions::default()).bundle("collection", 2);
    let entries = bundle["entry"].as_array().expect("entries");
    let types: Vec<&str> = entries
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().expect("a type"))
        .collect();
    assert_eq!(types, ["Patient", "Encounter"]);
    let patient = id_of(&entries[0]["resource"]);
    let encounter = id_of(&entries[1]["resource"]);

    lake.post_and_apply("/fhir/", "application/json", &to_vec(&bundle))
        .await;
    assert_eq!(lake.silver_ids("patient").await, BTreeSet::from([patient]));
    assert_eq!(
        lake.silver_ids("encounter").await,
        BTreeSet::from([encounter])
    );
    assert_eq!(
        count(&rows(&lake.layout.bronze()).await),
        1,
        "one body, one bronze row"
    );
    lake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_of_three_patients_lands_three_rows() {
    let lake = Lake::start().await;
    let mut ndjson = Vec::new();
    for seed in [30, 31, 32] {
        ndjson.extend(to_vec(&patient(seed)));
        ndjson.push(b'\n');
    }
    let expected: BTreeSet<String> = ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| id_of(&serde_json::from_slice(l).expect("a JSON line")))
        .collect();
    assert_eq!(expected.len(), 3);

    lake.post_and_apply("/fhir", "application/fhir+ndjson", &ndjson)
        .await;
    assert_eq!(lake.silver_ids("patient").await, expected);
    lake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_posted_twice_leaves_one_silver_row() {
    let lake = Lake::start().await;
    let body = to_vec(&patient(4));
    let first = lake.post_and_apply("/fhir/Patient", FHIR_JSON, &body).await;
    let second = lake.post_and_apply("/fhir/Patient", FHIR_JSON, &body).await;
    assert!(second > first, "two requests, two bronze batches");

    assert_eq!(
        count(&rows(&lake.layout.bronze()).await),
        2,
        "bronze keeps both"
    );
    assert_eq!(count(&rows(&lake.layout.silver("patient")).await), 1);
    let stats = lake.stop().await;
    assert_eq!(stats.duplicate, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_fhir_json_are_refused_and_not_stored() {
    let lake = Lake::start().await;
    let addr = lake.server.addr;
    for body in [
        &b"MSH|^~\\&|ADT|GHH|||20240501||ADT^A01|SECRET-4711|P|2.5.1\r"[..],
        b"[{\"resourceType\":\"Patient\",\"id\":\"SECRET-4711\"}]",
        b"",
        b"  \r\n ",
    ] {
        let reply = request(addr, "POST", "/fhir", Some(FHIR_JSON), body).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        let issue = reply.issue();
        assert_eq!(issue["severity"], "error");
        assert_eq!(issue["code"], "invalid");
        assert_eq!(issue["details"]["coding"][0]["system"], CODE_SYSTEM);
        assert_eq!(issue["details"]["coding"][0]["code"], "FHIR-0001");
        assert!(
            !reply.text().contains("SECRET"),
            "no body value in the answer"
        );
    }

    let reply = request(
        addr,
        "POST",
        "/fhir",
        Some("text/plain"),
        &to_vec(&patient(5)),
    )
    .await;
    assert_eq!(reply.status, 415, "{}", reply.text());
    assert_eq!(reply.issue()["code"], "not-supported");

    assert_eq!(
        count(&rows(&lake.layout.bronze()).await),
        0,
        "nothing refused is in bronze"
    );
    // The next good body is the first and only bronze row.
    lake.post_and_apply("/fhir", FHIR_JSON, &to_vec(&patient(5)))
        .await;
    assert_eq!(count(&rows(&lake.layout.bronze()).await), 1);
    lake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_413_and_is_not_stored() {
    let lake = Lake::with_options(HttpOptions { max_body: 64 }).await;
    let body = to_vec(&patient(6));
    assert!(body.len() > 64);
    // The Content-Length is enough: the answer comes before the body.
    let mut stream = TcpStream::connect(lake.server.addr).await.expect("connect");
    let head = format!(
        "POST /fhir HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: {FHIR_JSON}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    let reply = Reply::parse(&read_to_end(&mut stream).await);
    assert_eq!(reply.status, 413, "{}", reply.text());
    let issue = reply.issue();
    assert_eq!(issue["code"], "too-long");
    assert_eq!(issue["details"]["coding"][0]["code"], "FHIR-0002");

    // Without a Content-Length the limit holds while reading.
    let mut stream = TcpStream::connect(lake.server.addr).await.expect("connect");
    let head = "POST /fhir HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut chunked = head.as_bytes().to_vec();
    chunked.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    stream.write_all(&chunked).await.expect("send");
    let reply = Reply::parse(&read_to_end(&mut stream).await);
    assert_eq!(reply.status, 413, "{}", reply.text());

    assert_eq!(count(&rows(&lake.layout.bronze()).await), 0);
    lake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_get_an_operation_outcome() {
    let lake = Lake::start().await;
    let addr = lake.server.addr;
    for path in ["/", "/nope", "/fhir/patient", "/fhir/Patient/123"] {
        let reply = get(addr, path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.issue()["code"], "not-found", "{path}");
    }
    let reply = get(addr, "/fhir/Patient").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert_eq!(reply.issue()["severity"], "error");
    let reply = request(addr, "POST", "/health", None, b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    lake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready_follow_the_pipeline() {
    let lake = Lake::start().await;
    // A second, metrics-only server outlives the ingesting one.
    let probes = Server::start(None, lake.pipeline.health(), None, HttpOptions::default()).await;
    for addr in [lake.server.addr, probes.addr] {
        let health = get(addr, "/health").await;
        assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
        assert_eq!(get(addr, "/ready").await.status, 200);
        assert_eq!(get(addr, "/ready/").await.status, 200);
    }
    let reply = request(
        probes.addr,
        "POST",
        "/fhir",
        Some(FHIR_JSON),
        &to_vec(&patient(7)),
    )
    .await;
    assert_eq!(reply.status, 404, "no ingest, no FHIR endpoint");
    assert_eq!(
        get(probes.addr, "/metrics").await.status,
        404,
        "no recorder handle"
    );

    lake.stop().await;
    assert_eq!(get(probes.addr, "/ready").await.status, 503);
    assert_eq!(get(probes.addr, "/health").await.status, 503);
    probes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_that_stopped_gets_503_with_retry_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let pipeline = Pipeline::start(settings(&layout))
        .await
        .expect("pipeline starts");
    let server = Server::start(
        Some(pipeline.ingest()),
        pipeline.health(),
        None,
        HttpOptions::default(),
    )
    .await;
    pipeline.abort().await;

    let reply = request(
        server.addr,
        "POST",
        "/fhir",
        Some(FHIR_JSON),
        &to_vec(&patient(8)),
    )
    .await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.header("retry-after"), Some("1"));
    let issue = reply.issue();
    assert_eq!(issue["severity"], "error");
    assert_eq!(issue["code"], "transient");
    assert_eq!(issue["details"]["coding"][0]["code"], "STREAM-0002");
    server.stop().await;
    assert_eq!(count(&rows(&layout.bronze()).await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish() {
    let lake = Lake::start().await;
    let body = to_vec(&patient(9));
    let mut stream = TcpStream::connect(lake.server.addr).await.expect("connect");
    let head = format!(
        "POST /fhir HTTP/1.1\r\nHost: localhost\r\nContent-Type: {FHIR_JSON}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    // `100 Continue` comes once the handler reads the body: the request
    // is in flight.
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte))
            .await
            .expect("100 Continue within 30 s")
            .expect("read");
        assert_eq!(n, 1, "connection closed before 100 Continue");
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );

    lake.server.cancel.cancel();
    stream.write_all(&body).await.expect("send body");
    let reply = Reply::parse(&read_to_end(&mut stream).await);
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.header("connection"), Some("close"));
    let addr = lake.server.addr;
    lake.server.task.await.expect("server task");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no more connections"
    );

    let stats = lake.pipeline.shutdown().await;
    assert_eq!(stats.applied, 1, "{stats:?}");
    assert_eq!(count(&rows(&lake.layout.silver("patient")).await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_from_the_handle() {
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("caresync_http_test_total", "kind" => "probe").increment(3);
    });
    let server = Server::start(
        None,
        Arc::new(Health::default()),
        Some(recorder.handle()),
        HttpOptions::default(),
    )
    .await;
    let reply = get(server.addr, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{reply:?}"
    );
    assert!(
        reply
            .text()
            .contains("caresync_http_test_total{kind=\"probe\"} 3"),
        "{}",
        reply.text()
    );
    server.stop().await;
}

/// `caresync_stream_received_total` counts what HTTP stored. The recorder
/// is a thread's local one (no process-global state shared with other
/// tests), so everything runs on one thread: a current-thread runtime
/// inside `with_local_recorder`.
#[test]
fn received_total_counts_stored_bodies() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let layout = layout(&dir);
            let pipeline = Pipeline::start(settings(&layout))
                .await
                .expect("pipeline starts");
            let server = Server::start(
                Some(pipeline.ingest()),
                pipeline.health(),
                Some(handle),
                HttpOptions::default(),
            )
            .await;
            for seed in [10, 11] {
                let reply = request(
                    server.addr,
                    "POST",
                    "/fhir",
                    Some(FHIR_JSON),
                    &to_vec(&patient(seed)),
                )
                .await;
                assert_eq!(reply.status, 202, "{}", reply.text());
            }
            let refused = request(server.addr, "POST", "/fhir", Some(FHIR_JSON), b"nope").await;
            assert_eq!(refused.status, 400);

            let text = get(server.addr, "/metrics").await.text();
            let line = text
                .lines()
                .find(|l| l.starts_with("caresync_stream_received_total{"))
                .unwrap_or_else(|| panic!("no received counter in {text}"));
            assert!(line.contains("source=\"fhir-http\""), "{line}");
            assert!(line.contains("format=\"fhir\""), "{line}");
            assert!(
                line.ends_with(" 2"),
                "two bodies stored, the refused one not counted: {line}"
            );
            server.stop().await;
            pipeline.shutdown().await;
        });
    });
}
