//! FHIR NDJSON → Arrow flattening with `caresync_fhir::flatten`.
//!
//! The input is the Synthea bulk export in
//! `../shared/corpora/fhir/bulk-10-patients`: every file whose resource
//! type has a table. Each file is read once, outside the timing; the timed
//! loop splits it into lines and flattens every line into record batches of
//! 8,192 rows (`flatten_ndjson`), dropping the batches. Throughput is in
//! input bytes.
//!
//! - `fhir_flatten/<Type>`: one file.
//! - `fhir_flatten_all/all_7_files`: the seven files one after another.
//! - `fhir_json_scan/<Type>`: `serde_json` reading each line as
//!   `IgnoredAny` (well-formedness only, nothing kept): the ceiling for any
//!   serde_json-based flattener on this machine.

use std::hint::black_box;
use std::path::Path;

use caresync_fhir::flatten::{DEFAULT_BATCH_ROWS, ResourceTable, flatten_ndjson};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CORPUS: &str = "../../../shared/corpora/fhir/bulk-10-patients";

/// The served resource types present in the corpus, with their files' text.
fn corpus() -> Vec<(ResourceTable, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    let mut files: Vec<(ResourceTable, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} is readable: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path.file_name()?.to_str()?;
            let table = ResourceTable::from_resource_type(name.strip_suffix(".000.ndjson")?)?;
            let text = std::fs::read_to_string(&path).expect("corpus file is UTF-8");
            Some((table, text))
        })
        .collect();
    files.sort_by_key(|(t, _)| *t);
    files
}

fn flatten(c: &mut Criterion) {
    let files = corpus();
    for (table, text) in &files {
        let out = flatten_ndjson(*table, text, DEFAULT_BATCH_ROWS);
        assert!(out.errors.is_empty(), "{table}: corpus flattens cleanly");
    }

    let mut group = c.benchmark_group("fhir_flatten");
    for (table, text) in &files {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(table.resource_type(), |b| {
            b.iter(|| flatten_ndjson(*table, black_box(text), DEFAULT_BATCH_ROWS))
        });
    }
    group.finish();

    let total: usize = files.iter().map(|(_, t)| t.len()).sum();
    let mut group = c.benchmark_group("fhir_flatten_all");
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("all_7_files", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|(table, text)| flatten_ndjson(*table, black_box(text), DEFAULT_BATCH_ROWS))
                .map(|out| out.batches.len())
                .sum::<usize>()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("fhir_json_scan");
    for (table, text) in &files {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(table.resource_type(), |b| {
            b.iter(|| {
                black_box(text)
                    .lines()
                    .filter(|l| serde_json::from_str::<serde::de::IgnoredAny>(l).is_ok())
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, flatten);
criterion_main!(benches);
