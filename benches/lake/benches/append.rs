//! Appending invented patients to a local Delta table, plainly and with an
//! idempotent `txn` commit, and reading the snapshot back; and a long-lived
//! writer's small appends to a table that already has many files, through
//! the table handle and through an `Appender`.

use std::time::{Duration, Instant};

use caresync_lake::{LakeTable, TableSpec};
use caresync_testkit::generate::{Generator, patient_schema, patients_batch};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

use support::copy_dir;

mod support;

const ROWS: usize = 100_000;

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let batch = patients_batch(&Generator::new(1).patients(ROWS));
    let spec = TableSpec::new("patients", patient_schema());
    let mut group = c.benchmark_group("lake");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));

    group.bench_function("append_100k_patients", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("t").display().to_string();
                let table = rt
                    .block_on(LakeTable::open_or_create(&url, &spec))
                    .expect("create");
                (dir, table)
            },
            |(dir, mut table)| {
                rt.block_on(table.append_idempotent("bench", 1, vec![batch.clone()]))
                    .expect("append");
                dir
            },
            BatchSize::PerIteration,
        )
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let url = dir.path().join("t").display().to_string();
    let mut table = rt
        .block_on(LakeTable::open_or_create(&url, &spec))
        .expect("create");
    rt.block_on(table.append(vec![batch.clone()]))
        .expect("append");
    group.bench_function("read_all_100k_patients", |b| {
        b.iter(|| rt.block_on(table.read_all()).expect("read").len())
    });
    group.finish();
}

/// Files (one per commit) in the table the small appends go to.
const COMMITS: i64 = 400;
/// Patients per small append.
const SMALL: usize = 10;

/// One small idempotent append after [`COMMITS`] others, each its own
/// file: through `LakeTable::append_idempotent`, which loads the snapshot
/// after each commit, and through an `Appender`, which does not. Each
/// sample starts from a copy of the same table and times consecutive
/// appends after a first one (the one that reads the log).
fn small_appends(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let spec = TableSpec::new("patients", patient_schema());
    let batches: Vec<_> = (0..4)
        .map(|seed| patients_batch(&Generator::new(seed).patients(SMALL)))
        .collect();
    let template = tempfile::tempdir().expect("temp dir");
    let template_url = template.path().join("t").display().to_string();
    rt.block_on(async {
        let table = LakeTable::open_or_create(&template_url, &spec)
            .await
            .expect("create");
        let mut appender = table.appender("bench");
        for txn in 1..=COMMITS {
            let batch = batches[txn.unsigned_abs() as usize % batches.len()].clone();
            appender
                .append_notifying(txn, vec![batch], |_| {})
                .await
                .expect("append");
        }
        appender.wait_for_checkpoint().await;
    });

    let mut group = c.benchmark_group("lake/append_10_patients_after_400_commits");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(SMALL as u64));
    for through_appender in [false, true] {
        let name = if through_appender {
            "appender"
        } else {
            "table"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("t");
                copy_dir(&template.path().join("t"), &url);
                let url = url.display().to_string();
                rt.block_on(async {
                    let mut table = LakeTable::open(&url).await.expect("open");
                    let mut next = COMMITS + 1;
                    let mut batch = || {
                        next += 1;
                        (
                            next - 1,
                            batches[next.unsigned_abs() as usize % batches.len()].clone(),
                        )
                    };
                    if through_appender {
                        let mut appender = table.appender("bench");
                        let (txn, first) = batch();
                        appender
                            .append_notifying(txn, vec![first], |_| {})
                            .await
                            .expect("first append");
                        let start = Instant::now();
                        for _ in 0..iters {
                            let (txn, b) = batch();
                            appender
                                .append_notifying(txn, vec![b], |_| {})
                                .await
                                .expect("append");
                        }
                        let elapsed = start.elapsed();
                        appender.wait_for_checkpoint().await;
                        elapsed
                    } else {
                        let (txn, first) = batch();
                        table
                            .append_idempotent("bench", txn, vec![first])
                            .await
                            .expect("first append");
                        let start = Instant::now();
                        for _ in 0..iters {
                            let (txn, b) = batch();
                            table
                                .append_idempotent("bench", txn, vec![b])
                                .await
                                .expect("append");
                        }
                        start.elapsed()
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = append, small_appends
}
criterion_main!(benches);
