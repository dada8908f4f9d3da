//! 837P claims end to end with `caresync_x12`: bytes → envelopes →
//! typed claims → Arrow record batches (`claim`, `claim_line`,
//! `claim_diagnosis`).
//!
//! Input: a seeded 837P from `caresync_testkit::x12` (10,000 claims in
//! transaction sets of 100, 1–6 lines and 1–4 diagnoses each); throughput
//! in claims.
//!
//! - `x12_claims/read`: [`Document::read`] and [`read_document_claims`].
//! - `x12_claims/read_and_flatten`: the same, then every claim into Arrow
//!   through a [`ClaimFlattener`], every claim of the file held at once.
//! - `x12_claims/read_and_flatten_streamed`: the same pipeline one
//!   transaction set at a time ([`read_claims`] then
//!   [`ClaimFlattener::push_transaction`]), as a stream ingest runs it:
//!   memory bounded by one transaction set, not the whole file.
//! - `x12_claims/flatten_only`: claims read outside the timing, flattened.

use std::hint::black_box;

use caresync_testkit::x12::{X12Generator, X12Kind, X12Options};
use caresync_x12::Document;
use caresync_x12::claim::{read_claims, read_document_claims};
use caresync_x12::flatten::{ClaimFlattener, flatten_claims};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CLAIMS: usize = 10_000;

fn claims(c: &mut Criterion) {
    let text = X12Generator::new(42, X12Options::default())
        .claims_file(X12Kind::Professional, CLAIMS)
        .text;
    let doc = Document::read(&text).expect("reads");
    let read = read_document_claims(&doc);
    assert_eq!(read.claims.len(), CLAIMS);
    assert!(read.all_issues().next().is_none(), "a clean input");
    let tables = flatten_claims(&doc, &read.claims);
    assert_eq!(tables.claim.num_rows(), CLAIMS);

    let mut g = c.benchmark_group("x12_claims");
    g.throughput(Throughput::Elements(CLAIMS as u64));
    g.sample_size(20);
    g.bench_function("read", |b| {
        b.iter(|| {
            let doc = Document::read(black_box(&text)).expect("reads");
            read_document_claims(&doc).claims.len()
        })
    });
    g.bench_function("read_and_flatten", |b| {
        b.iter(|| {
            let doc = Document::read(black_box(&text)).expect("reads");
            let claims = read_document_claims(&doc);
            flatten_claims(&doc, &claims.claims).claim.num_rows()
        })
    });
    g.bench_function("read_and_flatten_streamed", |b| {
        b.iter(|| {
            let doc = Document::read(black_box(&text)).expect("reads");
            let mut flattener = ClaimFlattener::with_capacity(CLAIMS);
            for tx in doc.transactions() {
                let claims = read_claims(&tx);
                flattener.push_transaction(&tx, &claims.claims);
            }
            flattener.finish().claim.num_rows()
        })
    });
    g.bench_function("flatten_only", |b| {
        b.iter(|| {
            flatten_claims(black_box(&doc), black_box(&read.claims))
                .claim_line
                .num_rows()
        })
    });
    g.finish();
}

criterion_group!(benches, claims);
criterion_main!(benches);
