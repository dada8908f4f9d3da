//! Continuous forward sync's latency: the time from a Delta commit to its
//! rows being visible in PostgreSQL, at 1,000 changed rows per second.
//!
//! A Delta table of 100,000 rows × 10 columns (change data feed on) is
//! served by `caresync_forward_sync::run` in continuous mode into the
//! testkit's private PostgreSQL cluster. A writer merges 1,000 changes a
//! second into it (800 updates of existing keys, 200 new keys), one commit
//! each, for `CARESYNC_LAG_SECONDS` seconds (default 60). An observer polls
//! the sync state table every 10 ms; a commit is visible when the served
//! table records its version (the rows and the version are committed in
//! one transaction). The bench prints the latency percentiles per poll
//! interval (`CARESYNC_LAG_POLL_MS`, default `1000,250`).
//!
//! ```sh
//! CARGO_TARGET_DIR=/tmp/t-bench-lake cargo bench -p caresync-bench-lake --bench continuous
//! ```

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caresync_forward_sync::{Config, Mode, TableConfig, run};
use caresync_lake::{LakeTable, MergeOutcome, MergeSpec, TableSpec};
use caresync_testkit::pg::shared_cluster;
use deltalake::arrow::array::{
    Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use tokio::sync::oneshot;

const ROWS: i64 = 100_000;
const PER_COMMIT: i64 = 1_000;
const UPDATES: i64 = 800;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("version", DataType::Int64, false),
        Field::new("patient", DataType::Utf8, true),
        Field::new("ward", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("los_days", DataType::Int64, true),
        Field::new("charges", DataType::Float64, true),
        Field::new("acuity", DataType::Float64, true),
        Field::new("payer", DataType::Utf8, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

fn rows(ids: &[i64], version: i64) -> RecordBatch {
    let text = |prefix: &str, m: i64| {
        Arc::new(StringArray::from_iter_values(
            ids.iter()
                .map(|i| format!("{prefix}{}", (i * 7 + version) % m)),
        ))
    };
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(Int64Array::from(vec![version; ids.len()])),
            text("MRN", 1_000_003),
            text("ward-", 40),
            text("status-", 6),
            Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| (i + version) % 30),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| (*i as f64) * 1.5 + version as f64),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| ((i * 13) % 100) as f64 / 10.0),
            )),
            text("payer-", 12),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    ids.iter()
                        .map(|i| 1_700_000_000_000_000 + i * 1_000 + version),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .expect("a batch")
}

/// The changes of commit `n` (1-based): 800 existing keys spread over the
/// table and 200 new ones.
fn changes(n: i64) -> RecordBatch {
    let mut ids: Vec<i64> = (0..UPDATES)
        .map(|i| ((n * UPDATES + i) * 104_729) % ROWS)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.extend((0..PER_COMMIT - UPDATES).map(|i| ROWS + n * PER_COMMIT + i));
    rows(&ids, n + 1)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(poll_ms: u64, seconds: u64, out: &mut impl Write) {
    let cluster = shared_cluster().expect("a private PostgreSQL cluster");
    let db = cluster.create_unique_database("lag").expect("a database");
    let dsn = cluster.connection_string(&db);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("encounter").display().to_string();
    let spec = TableSpec::new("encounter", schema()).with_change_data_feed(true);
    let mut table = LakeTable::open_or_create(&url, &spec)
        .await
        .expect("a Delta table");
    let ids: Vec<i64> = (0..ROWS).collect();
    table.append(vec![rows(&ids, 1)]).await.expect("append");

    let config = Config {
        poll_interval_ms: poll_ms,
        tables: vec![TableConfig {
            mode: Mode::Continuous,
            ..TableConfig::new(&url, "encounter", &["id"])
        }],
        ..Config::new(&dsn)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let sync = tokio::spawn(async move {
        run(&config, None, async {
            let _ = stopped.await;
        })
        .await
    });

    let (client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let synced = || async {
        client
            .query_opt(
                "SELECT synced_version FROM caresync_sync_state \
                 WHERE table_schema = 'public' AND table_name = 'encounter'",
                &[],
            )
            .await
            .ok()
            .flatten()
            .map(|r| r.get::<_, i64>(0))
    };
    // The first sync (a snapshot) done.
    let start = table.version();
    while synced().await.is_none_or(|v| v < start) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The writer: one merge a second, its commit instant recorded.
    let merge_spec = MergeSpec::new(["id"], "version");
    let written = std::cell::Cell::new(None::<i64>);
    let writer = async {
        let mut commits = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for n in 1..=seconds as i64 {
            tick.tick().await;
            let batch = changes(n);
            match table
                .merge("lag-bench", n, std::slice::from_ref(&batch), &merge_spec)
                .await
                .expect("merge")
            {
                MergeOutcome::Committed { version, .. } => commits.push((version, Instant::now())),
                other => panic!("expected a commit, got {other:?}"),
            }
        }
        written.set(Some(table.version()));
        commits
    };
    // The observer: when each version became visible.
    let observer = async {
        let mut seen: Vec<(i64, Instant)> = Vec::new();
        let mut newest = start;
        let mut deadline = None;
        loop {
            if let Some(v) = synced().await
                && v > newest
            {
                seen.push((v, Instant::now()));
                newest = v;
            }
            if let Some(last) = written.get() {
                if newest >= last {
                    return seen;
                }
                let limit = *deadline.get_or_insert(Instant::now() + Duration::from_secs(60));
                assert!(
                    Instant::now() < limit,
                    "version {last} never became visible"
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let (commits, seen) = tokio::join!(writer, observer);
    let _ = stop.send(());
    sync.await.expect("the sync task").expect("the sync");

    let mut lags: Vec<Duration> = commits
        .iter()
        .map(|(version, at)| {
            let visible = seen
                .iter()
                .find(|(v, _)| v >= version)
                .map(|(_, t)| *t)
                .expect("every commit becomes visible");
            visible.saturating_duration_since(*at)
        })
        .collect();
    lags.sort();
    writeln!(
        out,
        "poll {poll_ms} ms: {} commits of {PER_COMMIT} changed rows, one a second; \
         commit → visible p50 {:?}, p95 {:?}, max {:?}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.95),
        lags.last().copied().unwrap_or_default(),
    )
    .expect("stdout");
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no other flags.
    let seconds: u64 = std::env::var("CARESYNC_LAG_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let polls: Vec<u64> = std::env::var("CARESYNC_LAG_POLL_MS")
        .unwrap_or_else(|_| "1000,250".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut out = std::io::stdout().lock();
    for poll in polls {
        runtime.block_on(measure(poll, seconds, &mut out));
    }
}
