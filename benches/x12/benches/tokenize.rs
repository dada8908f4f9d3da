//! X12 tokenizing and envelope reading with `caresync_x12`, and the same
//! 837P parsed by `x12-types` for comparison.
//!
//! Input: a seeded 837P from `caresync_testkit::x12` (10,000 claims in
//! transaction sets of 100, 1–6 lines each, `~` terminators without line
//! breaks); throughput in bytes.
//!
//! - `x12_tokenize/caresync`: every segment cut out ([`Tokenizer`]).
//! - `x12_tokenize/caresync_elements`: every segment and every element.
//! - `x12_envelope/caresync`: [`Document::read`], tokenizing plus the
//!   envelope tree with counts and control numbers checked.
//! - `x12_envelope/x12_types`: `x12_types::util::Parser` on the same text
//!   into its typed 005010 837 (`Transmission<_837>`).

use std::hint::black_box;

use caresync_testkit::x12::{X12Generator, X12Kind, X12Options};
use caresync_x12::{Document, Tokenizer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use x12_types::util::Parser;
use x12_types::v005010::{_837, Transmission};

fn input() -> Vec<u8> {
    X12Generator::new(42, X12Options::default())
        .claims_file(X12Kind::Professional, 10_000)
        .text
}

fn tokenize(c: &mut Criterion) {
    let text = input();
    let s = std::str::from_utf8(&text).expect("generated text is ASCII");
    let parsed = Transmission::<_837>::parse(s);
    assert!(
        parsed.is_ok_and(|(rest, _)| rest.trim().is_empty()),
        "x12-types reads the input whole"
    );
    let mut g = c.benchmark_group("x12_tokenize");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("caresync", |b| {
        b.iter(|| Tokenizer::new(black_box(&text)).count())
    });
    g.bench_function("caresync_elements", |b| {
        b.iter(|| {
            Tokenizer::new(black_box(&text))
                .map(|s| s.elements().count())
                .sum::<usize>()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("x12_envelope");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(20);
    g.bench_function("caresync", |b| {
        b.iter(|| {
            Document::read(black_box(&text))
                .map(|d| d.segments().len())
                .unwrap_or(0)
        })
    });
    g.bench_function("x12_types", |b| {
        b.iter(|| Transmission::<_837>::parse(black_box(s)).map(|(rest, _)| rest.len()))
    });
    g.finish();
}

criterion_group!(benches, tokenize);
criterion_main!(benches);
