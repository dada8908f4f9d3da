//! HL7 v2 over MLLP into bronze, silver and the dead-letter table.

use std::collections::BTreeSet;

use caresync_testkit::hl7::{Hl7Generator, Hl7Kind, Hl7Options};

use crate::support::{Client, Running, accepted, count, layout, msa_code, rows, settings, texts};

fn admissions(seed: u64, n: usize) -> Vec<caresync_testkit::hl7::Hl7Message> {
    let mut g = Hl7Generator::new(seed, Hl7Options::default());
    (0..n).map(|_| g.generate(Hl7Kind::AdtA01)).collect()
}

/// The patient table holds one row for each patient `messages` name.
fn assert_one_row_per_patient(
    patients: &[deltalake::arrow::array::RecordBatch],
    messages: &[caresync_testkit::hl7::Hl7Message],
) {
    let expected: BTreeSet<String> = messages
        .iter()
        .flat_map(|m| m.patients.iter().map(|p| p.mrn.clone()))
        .collect();
    let mrns = texts(patients, "mrn");
    assert_eq!(mrns.len(), expected.len(), "one row per patient");
    assert_eq!(mrns.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_messages_leave_one_silver_row_per_patient() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let running = Running::start(settings(&layout)).await;
    let messages = admissions(7, 40);
    let mut client = Client::connect(running.addr).await;
    // Pipelined: every frame first, then the acknowledgements in order.
    for m in &messages {
        client.send(&m.bytes).await;
    }
    for m in &messages[..10] {
        client.send(&m.bytes).await;
    }
    for m in messages.iter().chain(&messages[..10]) {
        let ack = client.ack().await;
        assert!(accepted(&ack), "{ack}");
        assert!(
            ack.contains(&format!("|{}", m.control_id)),
            "acks come in order"
        );
    }
    let stats = running.stop().await;

    assert_eq!(
        count(&rows(&layout.bronze()).await),
        50,
        "every arrival is in bronze"
    );
    let patients = rows(&layout.silver("patient")).await;
    assert_one_row_per_patient(&patients, &messages);
    // Data skipping by every flat column but the resource's JSON.
    let table = layout
        .open_silver(&caresync_stream::silver::SilverTable::fhir(
            caresync_fhir::flatten::ResourceTable::Patient,
        ))
        .await
        .expect("patient table");
    let indexed = table
        .property("delta.dataSkippingStatsColumns")
        .expect("metadata")
        .expect("statistics columns named");
    let indexed: Vec<&str> = indexed.split(',').collect();
    assert!(
        indexed.contains(&"id") && indexed.contains(&"mrn"),
        "{indexed:?}"
    );
    assert!(!indexed.contains(&"resource_json"), "{indexed:?}");
    assert_eq!(
        table
            .property(caresync_lake::PLAIN_COLUMNS_PROPERTY)
            .expect("metadata")
            .as_deref(),
        Some("id,resource_json")
    );
    let ids = texts(&patients, "id");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "ids are unique"
    );
    let encounters = rows(&layout.silver("encounter")).await;
    let visits: BTreeSet<String> = messages
        .iter()
        .flat_map(|m| m.encounters.iter().map(|e| e.id.clone()))
        .collect();
    assert_eq!(count(&encounters), visits.len());
    assert!(stats.duplicate >= 10, "re-sends are duplicates: {stats:?}");
    assert_eq!(count(&rows(&layout.dead_letter()).await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_the_full_queue_drops_are_read_back_from_bronze() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let mut settings = settings(&layout);
    // No batch fits: silver gets every batch from the bronze table.
    settings.batching.queued_bytes = 0;
    settings.batching.max_rows = 7;
    let running = Running::start(settings).await;
    let messages = admissions(11, 60);
    let mut client = Client::connect(running.addr).await;
    for m in &messages {
        client.send(&m.bytes).await;
    }
    for _ in &messages {
        assert!(accepted(&client.ack().await));
    }
    let stats = running.stop().await;

    let bronze = rows(&layout.bronze()).await;
    assert_eq!(count(&bronze), messages.len());
    let patients = rows(&layout.silver("patient")).await;
    assert_one_row_per_patient(&patients, &messages);
    assert!(stats.batches >= 9, "60 messages in batches of 7: {stats:?}");
    assert_eq!(stats.duplicate, 0, "no batch applied twice: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_message_arriving_late_does_not_roll_a_patient_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let mut g = Hl7Generator::new(11, Hl7Options::default());
    let admit = g.generate(Hl7Kind::AdtA01);
    let update = (0..200)
        .map(|_| g.generate(Hl7Kind::AdtA08))
        .find(|m| m.patients[0].mrn == admit.patients[0].mrn)
        .expect("an A08 for the admitted patient");
    let running = Running::start(settings(&layout)).await;
    let mut client = Client::connect(running.addr).await;
    assert!(accepted(&client.call(&update.bytes).await));
    running.pipeline.wait_silver(1).await;
    assert!(accepted(&client.call(&admit.bytes).await));
    let stats = running.stop().await;
    assert!(stats.late >= 1, "the A01 is late: {stats:?}");
    let patients = rows(&layout.silver("patient")).await;
    assert_eq!(count(&patients), 1);
    let version = texts(&patients, "_version").pop().expect("a version");
    assert!(
        version.ends_with(&format!(":t{}", update.control_id)),
        "{version}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_refused_or_dead_lettered_without_losing_good_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let running = Running::start(settings(&layout)).await;
    let good = admissions(3, 2);
    let mut client = Client::connect(running.addr).await;
    // Not HL7 at all: stored, then refused with AR and the parse code.
    let junk = client.call(b"SSN 123-45-6789 for Jane Roe").await;
    assert_eq!(msa_code(&junk), "AR", "{junk}");
    assert!(junk.contains("HL7-0001"), "{junk}");
    // A type the mapping does not take.
    let unsupported = b"MSH|^~\\&|LAB|GHH|EHR|GHH|20240501103000||MFN^M02|BAD2|P|2.5.1\rPID|1||4711^^^GHH^MR||Roe^Jane\r";
    // No MSH-7: no version to order it by.
    let timeless = b"MSH|^~\\&|ADT|GHH|EHR|GHH|||ADT^A01|BAD3|P|2.5.1\rPID|1||4713^^^GHH^MR||Roe^Jane\rPV1|1|I\r";
    for m in [
        &good[0].bytes[..],
        unsupported,
        timeless,
        &good[1].bytes[..],
    ] {
        assert!(accepted(&client.call(m).await));
    }
    running.stop().await;

    let patients = rows(&layout.silver("patient")).await;
    let expected: BTreeSet<String> = good
        .iter()
        .flat_map(|m| m.patients.iter().map(|p| p.mrn.clone()))
        .collect();
    assert_eq!(
        texts(&patients, "mrn").into_iter().collect::<BTreeSet<_>>(),
        expected
    );

    let dead = rows(&layout.dead_letter()).await;
    assert_eq!(count(&dead), 3, "one dead letter per bad message");
    let mut by_class: Vec<(String, String, String)> = texts(&dead, "error_class")
        .into_iter()
        .zip(texts(&dead, "error_code"))
        .zip(
            texts(&dead, "message_id")
                .into_iter()
                .chain(std::iter::once(String::new())),
        )
        .map(|((a, b), c)| (a, b, c))
        .collect();
    by_class.sort();
    let classes: Vec<&str> = by_class.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(classes, ["mapping", "merge", "parse"], "{by_class:?}");
    let codes: BTreeSet<String> = texts(&dead, "error_code").into_iter().collect();
    assert!(
        codes.contains("HL7-0001") && codes.contains("STREAM-0004"),
        "{codes:?}"
    );
    for sample in texts(&dead, "sample") {
        for value in ["Roe", "Jane", "123-45-6789", "4711", "4713"] {
            assert!(
                !sample.contains(value),
                "{value} leaked into a sample: {sample}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pipeline_restarts_and_converges_to_the_same_silver() {
    let messages = admissions(21, 120);

    // Reference: no crash.
    let calm_dir = tempfile::tempdir().expect("temp dir");
    let calm = layout(&calm_dir);
    let running = Running::start(settings(&calm)).await;
    let mut client = Client::connect(running.addr).await;
    for m in &messages {
        client.send(&m.bytes).await;
    }
    for _ in &messages {
        assert!(accepted(&client.ack().await));
    }
    running.stop().await;

    // Killed once every message is acknowledged (durable in bronze), before
    // silver is known to be done; then started again.
    let dir = tempfile::tempdir().expect("temp dir");
    let crashed = layout(&dir);
    let running = Running::start(settings(&crashed)).await;
    let mut client = Client::connect(running.addr).await;
    for m in &messages {
        client.send(&m.bytes).await;
    }
    for _ in &messages {
        assert!(accepted(&client.ack().await));
    }
    running.kill().await;
    let restarted = Running::start(settings(&crashed)).await;
    restarted.stop().await;

    assert_eq!(count(&rows(&crashed.bronze()).await), messages.len());
    for table in ["patient", "encounter"] {
        let mut want = texts(&rows(&calm.silver(table)).await, "id");
        let mut got = texts(&rows(&crashed.silver(table)).await, "id");
        want.sort();
        got.sort();
        assert_eq!(got, want, "{table} after the crash");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_a_crashed_run_left_in_bronze_are_applied_on_start() {
    use std::sync::Arc;

    use caresync_stream::Format;
    use caresync_stream::bronze::{self, BronzeBatch, BronzeRow};

    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let messages = admissions(5, 30);
    // What a process killed after its bronze commits and before its silver
    // merges leaves: three bronze batches, no silver, no checkpoint.
    let mut table = layout.open_bronze().await.expect("bronze");
    for (i, chunk) in messages.chunks(10).enumerate() {
        let seq = i as i64 + 1;
        let batch = BronzeBatch {
            seq,
            rows: chunk
                .iter()
                .enumerate()
                .map(|(row, m)| BronzeRow {
                    row: row as u32,
                    source: Arc::from("mllp"),
                    format: Format::Hl7v2,
                    received_at: 1_700_000_000_000_000,
                    message_id: Some(m.control_id.clone()),
                    content_sha256: bronze::sha256_hex(&m.bytes),
                    payload: m.bytes.clone(),
                })
                .collect(),
        };
        table
            .append_idempotent(bronze::APP_ID, seq, vec![batch.to_record_batch()])
            .await
            .expect("bronze commit");
    }
    let running = Running::start(settings(&layout)).await;
    running.pipeline.wait_silver(3).await;
    // New input after the recovered batches gets the next batch number.
    let extra = admissions(6, 1);
    let mut client = Client::connect(running.addr).await;
    assert!(accepted(&client.call(&extra[0].bytes).await));
    running.stop().await;

    let expected: BTreeSet<String> = messages
        .iter()
        .chain(&extra)
        .flat_map(|m| m.patients.iter().map(|p| p.mrn.clone()))
        .collect();
    let mrns: BTreeSet<String> = texts(&rows(&layout.silver("patient")).await, "mrn")
        .into_iter()
        .collect();
    assert_eq!(mrns, expected);
    let batches: BTreeSet<String> = texts(&rows(&layout.bronze()).await, "message_id")
        .into_iter()
        .collect();
    assert_eq!(batches.len(), 31);
}

/// The nice value in a `/proc/.../stat` line, or `None` when the thread
/// ended meanwhile.
#[cfg(target_os = "linux")]
fn nice(stat: &std::path::Path) -> Option<i32> {
    let stat = std::fs::read_to_string(stat).ok()?;
    // After "pid (comm) ", the state is field 3 and the nice value 19.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(16)?.parse().ok()
}

/// The nice value of each thread of this process whose name is `name`.
#[cfg(target_os = "linux")]
fn thread_nices(name: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("a task").path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim_end() == name
            && let Some(n) = nice(&path.join("stat"))
        {
            out.push(n);
        }
    }
    out
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_silver_stage_runs_below_the_priority_of_acknowledgements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = layout(&dir);
    let running = Running::start(settings(&layout)).await;
    let mut client = Client::connect(running.addr).await;
    for m in admissions(11, 5) {
        assert!(accepted(&client.call(&m.bytes).await));
    }

    let silver = thread_nices("caresync-silver");
    let base = nice(std::path::Path::new("/proc/thread-self/stat")).expect("this thread's nice");
    assert!(
        base < 10,
        "this test needs to run below nice 10 to tell the two apart"
    );
    assert!(!silver.is_empty(), "the silver stage has its own threads");
    assert!(
        silver.iter().all(|&n| n == 10),
        "silver threads are niced: {silver:?}, this thread {base}"
    );
    let stats = running.stop().await;
    assert!(stats.records >= 5, "silver still applies: {stats:?}");
}
