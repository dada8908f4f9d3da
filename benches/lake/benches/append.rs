//! Appending invented patients to a local Delta table, plainly and with an
//! idempotent `txn` commit, and reading the snapshot back.

use caresync_lake::{LakeTable, TableSpec};
use caresync_testkit::generate::{Generator, patient_schema, patients_batch};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

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

criterion_group!(benches, append);
criterion_main!(benches);
