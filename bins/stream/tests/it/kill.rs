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
    spawn_with(lake, &["--mllp", &format!("127.0.0.1:{port}")])
}

fn spawn_with(lake: &str, sources: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_caresync-stream"))
        .args(["run", "--lake", lake])
        .args(sources)
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
    terminate(&mut child);

    let bronze_ids: BTreeSet<String> = texts(&rows(&layout.bronze()).await, "message_id")
        .into_iter()
        .collect();
    for m in &acked {
        assert!(
            bronze_ids.contains(&m.control_id),
            "an acknowledged message was lost"
        );
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

fn terminate(child: &mut Child) {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = child.wait().expect("exit");
    assert!(status.success(), "a clean stop: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_fhir_over_http_and_files_and_serves_its_metrics() {
    use crate::http::{get, id_of, patient, request, to_vec};

    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let landing = dir.path().join("landing");
    std::fs::create_dir(&landing).expect("landing folder");
    let port = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = spawn_with(
        layout.root(),
        &[
            "--http",
            &addr.to_string(),
            "--landing",
            &landing.display().to_string(),
        ],
    );
    let mut ready = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok()
            && get(addr, "/ready").await.status == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the binary is ready");
    let posted = patient(1);
    let reply = request(
        addr,
        "POST",
        "/fhir/Patient",
        Some("application/fhir+json"),
        &to_vec(&posted),
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text());
    let filed = patient(2);
    std::fs::write(landing.join("one.ndjson"), to_vec(&filed)).expect("a landing file");
    let mut moved = false;
    for _ in 0..200 {
        if !landing.join("one.ndjson").exists() {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(moved, "the landing file is taken");
    let metrics = get(addr, "/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for wanted in [
        "caresync_stream_received_total{source=\"fhir-http\",format=\"fhir\"} 1",
        "caresync_stream_received_total{source=\"landing\",format=\"fhir\"} 1",
        "caresync_stream_bronze_commit_seconds",
    ] {
        assert!(text.contains(wanted), "{wanted} in {text}");
    }
    assert_eq!(get(addr, "/health").await.status, 200);
    terminate(&mut child);

    let ids: BTreeSet<String> = texts(&rows(&layout.silver("patient")).await, "id")
        .into_iter()
        .collect();
    assert_eq!(ids, BTreeSet::from([id_of(&posted), id_of(&filed)]));
}
