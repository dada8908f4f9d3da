//! Upserting 10,000 changes into a 1,000,000-row, 10-column Delta table:
//! caresync's merge (`LakeTable::merge`) against deltalake's own MERGE
//! doing the same upsert with the same version guard, in one run.
//!
//! The table: `id` (key), `version` and eight other columns, written as 16
//! files of 62,500 rows with disjoint, ascending key ranges, change data
//! feed and deletion vectors on. The changes: 8,000 existing keys (spread
//! over the whole key range) with a greater version and new values, and
//! 2,000 new keys — 1% of the keys, 20% of them new. Every iteration starts
//! from a fresh copy of the table (the copy is not timed).
//!
//! - `lake_merge/caresync`: `LakeTable::merge`, the batch recorded by its
//!   `txn`; the replaced rows are marked in deletion vectors.
//! - `lake_merge/deltalake`: `DeltaTable::merge` on the same table, with
//!   `target.id = source.id`, `when_matched_update` guarded by
//!   `source.version > target.version` setting every column,
//!   `when_not_matched_insert` (deltalake rewrites the files).
//! - `lake_merge/caresync_rewrite`: `LakeTable::merge` on the same rows in
//!   a table without deletion vectors, where it rewrites the files.
//!
//! Peak memory is measured once per engine, each merge in a process of its
//! own that only opens the table and merges (a process's peak resident set
//! cannot be lowered again): run with
//! `CARESYNC_MERGE_MEMORY=caresync`, `=caresync_rewrite` or `=deltalake` to
//! print the peak resident set size during the merge and exit.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use caresync_lake::{LakeTable, MergeOutcome, MergeSpec, TableSpec};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use deltalake::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::delta_datafusion::create_session;
use deltalake::{DeltaTable, DeltaTableBuilder};

use support::copy_dir;

mod support;

const ROWS: i64 = 1_000_000;
const FILES: i64 = 16;
const UPDATES: i64 = 8_000;
const INSERTS: i64 = 2_000;

/// The ten columns.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("version", DataType::Int64, false),
        Field::new("mrn", DataType::Utf8, true),
        Field::new("family", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("visits", DataType::Int64, true),
        Field::new("score", DataType::Float64, true),
        Field::new("balance", DataType::Float64, true),
        Field::new(
            "admitted_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// Rows for `ids`, all at `version`; `salt` changes the values.
fn rows(ids: &[i64], version: i64, salt: i64) -> RecordBatch {
    const CITIES: [&str; 6] = [
        "Springfield",
        "Riverton",
        "Lakeview",
        "Fairview",
        "Salem",
        "Madison",
    ];
    const STATUS: [&str; 4] = ["admitted", "discharged", "transferred", "pending"];
    let mix = |id: i64| (id.wrapping_mul(6_364_136_223_846_793_005) ^ salt).rem_euclid(1 << 40);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(Int64Array::from(vec![version; ids.len()])),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|id| format!("MRN{id:09}")),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|id| format!("FAMILY{}", mix(*id) % 5_000)),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|id| CITIES[(mix(*id) % 6) as usize]),
        )),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|id| STATUS[(mix(*id) % 4) as usize]),
        )),
        Arc::new(Int64Array::from_iter_values(
            ids.iter().map(|id| mix(*id) % 40),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|id| (mix(*id) % 10_000) as f64 / 100.0),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|id| (mix(*id) % 1_000_000) as f64 / 100.0),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                ids.iter()
                    .map(|id| 1_700_000_000_000_000 + mix(*id) % 31_536_000_000_000),
            )
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(schema(), columns).expect("a batch")
}

/// 8,000 existing keys spread over the table (multiplying by a prime
/// coprime with 10⁶ permutes the keys) at version 2, and 2,000 new keys.
fn changes() -> RecordBatch {
    let mut ids: Vec<i64> = (0..UPDATES).map(|i| (i * 104_729 + 17) % ROWS).collect();
    ids.extend((0..INSERTS).map(|i| ROWS + i));
    rows(&ids, 2, 99)
}

/// Builds the 1,000,000-row table at `dir/<name>`, with deletion vectors
/// on or off.
fn build_table(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    name: &str,
    deletion_vectors: bool,
) -> String {
    let url = dir.join(name).display().to_string();
    rt.block_on(async {
        let spec = TableSpec::new("encounters", schema()).with_deletion_vectors(deletion_vectors);
        let mut table = LakeTable::open_or_create(&url, &spec)
            .await
            .expect("create");
        let per = ROWS / FILES;
        for f in 0..FILES {
            let ids: Vec<i64> = (f * per..(f + 1) * per).collect();
            table.append(vec![rows(&ids, 1, 0)]).await.expect("append");
        }
    });
    url
}

async fn ours(url: &str, changes: &RecordBatch) -> u64 {
    let mut table = LakeTable::open(url).await.expect("open");
    let marks = table.deletion_vectors_enabled().expect("protocol");
    let spec = MergeSpec::new(["id"], "version");
    match table
        .merge("bench", 1, std::slice::from_ref(changes), &spec)
        .await
        .expect("merge")
    {
        MergeOutcome::Committed { report, .. } => {
            assert_eq!(
                (report.updated, report.inserted),
                (UPDATES as u64, INSERTS as u64)
            );
            let (marked, rewritten) = if marks { (FILES, 0) } else { (0, FILES) };
            assert_eq!(
                (report.files_marked, report.files_rewritten),
                (marked as u64, rewritten as u64)
            );
            report.updated + report.inserted
        }
        other => panic!("expected a commit, got {other:?}"),
    }
}

async fn theirs(url: &str, changes: &RecordBatch) -> u64 {
    let table: DeltaTable =
        DeltaTableBuilder::from_url(url::Url::from_directory_path(url).expect("a path"))
            .expect("builder")
            .load()
            .await
            .expect("open");
    let ctx = create_session().into_inner();
    let source = ctx.read_batch(changes.clone()).expect("source");
    let names: Vec<String> = schema().fields().iter().map(|f| f.name().clone()).collect();
    let (_, metrics) = table
        .merge(source, "target.id = source.id")
        .with_source_alias("source")
        .with_target_alias("target")
        .when_matched_update(|u| {
            names
                .iter()
                .filter(|n| *n != "id")
                .fold(u.predicate("source.version > target.version"), |u, n| {
                    u.update(n.as_str(), format!("source.{n}"))
                })
        })
        .expect("update clause")
        .when_not_matched_insert(|i| {
            names
                .iter()
                .fold(i, |i, n| i.set(n.as_str(), format!("source.{n}")))
        })
        .expect("insert clause")
        .await
        .expect("merge");
    assert_eq!(
        (
            metrics.num_target_rows_updated,
            metrics.num_target_rows_inserted
        ),
        (UPDATES as usize, INSERTS as usize)
    );
    (metrics.num_target_rows_updated + metrics.num_target_rows_inserted) as u64
}

/// `VmHWM` or `VmRSS` of this process, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a memory field")
}

/// With `CARESYNC_MERGE_MEMORY` set: one merge by that engine, its peak
/// resident set printed, then exit. The table is built here, and the merge
/// runs in a child process of this binary that does nothing else (building
/// a million rows would leave the allocator holding memory the merge then
/// reuses or not, whichever engine it is).
fn memory_probe(rt: &tokio::runtime::Runtime) {
    let Ok(engine) = std::env::var("CARESYNC_MERGE_MEMORY") else {
        return;
    };
    let batch = changes();
    let Ok(table) = std::env::var("CARESYNC_MERGE_TABLE") else {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = build_table(rt, dir.path(), "table", engine != "caresync_rewrite");
        let fresh = dir.path().join("run");
        copy_dir(Path::new(&url), &fresh);
        let status = std::process::Command::new(std::env::current_exe().expect("this binary"))
            .args(std::env::args_os().skip(1))
            .env("CARESYNC_MERGE_TABLE", &fresh)
            .status()
            .expect("the merge process");
        assert!(status.success(), "the merge process failed: {status}");
        std::process::exit(0);
    };
    let before = status_kib("VmRSS:");
    // Resets the peak resident set to the current one (Linux ≥ 4.0).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak");
    match engine.as_str() {
        "caresync" | "caresync_rewrite" => rt.block_on(ours(&table, &batch)),
        "deltalake" => rt.block_on(theirs(&table, &batch)),
        other => {
            panic!("CARESYNC_MERGE_MEMORY is caresync, caresync_rewrite or deltalake, not {other}")
        }
    };
    let peak = status_kib("VmHWM:");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{engine}: peak resident set {} MiB during the merge ({} MiB above the {} MiB before it)",
        peak / 1024,
        peak.saturating_sub(before) / 1024,
        before / 1024
    )
    .expect("stdout");
    drop(out);
    std::process::exit(0);
}

fn merge(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    memory_probe(&rt);
    let dir = tempfile::tempdir().expect("temp dir");
    let marking = build_table(&rt, dir.path(), "marking", true);
    let rewriting = build_table(&rt, dir.path(), "rewriting", false);
    let batch = changes();
    let fresh = |template: &str| {
        let copy = tempfile::tempdir_in(dir.path()).expect("temp dir");
        let url = copy.path().join("table");
        copy_dir(Path::new(template), &url);
        (copy, url.display().to_string())
    };

    let mut group = c.benchmark_group("lake_merge");
    group.sample_size(10);
    group.throughput(Throughput::Elements((UPDATES + INSERTS) as u64));
    group.bench_function("caresync", |b| {
        b.iter_batched(
            || fresh(&marking),
            |(copy, url)| {
                rt.block_on(ours(&url, &batch));
                copy
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("deltalake", |b| {
        b.iter_batched(
            || fresh(&marking),
            |(copy, url)| {
                rt.block_on(theirs(&url, &batch));
                copy
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("caresync_rewrite", |b| {
        b.iter_batched(
            || fresh(&rewriting),
            |(copy, url)| {
                rt.block_on(ours(&url, &batch));
                copy
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
