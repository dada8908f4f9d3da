//! HL7 v2 parsing, side by side: `caresync-hl7v2` against the `hl7-parser`
//! (0.3) and `rust-hl7` (0.5, library `rusthl7`) crates.
//!
//! The input is `data/adt_a01_2kb.hl7`, a hand-written, fictional ADT^A01
//! (HL7 v2.5.1) of 2,138 bytes: 18 segments ending in `\r`, a Z-segment
//! (`ZPD`), escape sequences (`\T\`, `\F\`, `\S\`, `\.br\`), repetitions in
//! PID-3, PID-5, PID-11 and PID-13, and sub-components (HD assigning
//! authorities in PID-3 and PV1-3). Every group reports throughput in input
//! bytes (`Throughput::Bytes`, shown by criterion as MiB/s).
//!
//! What each group measures:
//!
//! - `hl7v2_parse_only`: building each crate's parsed message from the
//!   2 KB input and dropping it. For `caresync-hl7v2` that is the indexed,
//!   zero-copy `Message::parse`; `hl7-parser` builds its nom-parsed tree of
//!   spans (`Message::parse`); `rust-hl7` splits into nested `Vec<&str>`s
//!   (`Message::try_from`).
//! - `hl7v2_parse_read5`: the same parse, then reading five fields through
//!   each crate's natural path-string API: MSH-10, PID-3(1).1, PID-5.1
//!   escape-decoded (`DE LA CRUZ&VEGA`), PV1-3.1 and the second OBX's OBX-5.
//!   The first four are raw slices; only PID-5.1 is decoded (our
//!   `Value::decode`, `hl7-parser`'s `display(&separators)`, `rust-hl7`'s
//!   `EscapeSequence::decode`). `rust-hl7`'s `EscapeSequence` compiles a
//!   regex, so it is built once outside the timed loop, as its docs advise.
//! - `hl7v2_batch_1000`: 1,000 copies of the message concatenated (2.1 MB),
//!   split on `"\rMSH|"` by the same function for every crate (inside the
//!   timed loop), each message parsed and dropped. `split_only` is the
//!   splitter alone, so it can be subtracted.
//!
//! The comparators take `&str`; the UTF-8 check of the input is done once,
//! outside the timed loops, and not charged to them. Before any timing, the
//! five values read by each crate are checked to be the same, so no crate is
//! measured doing less work through a wrong lookup.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// The 2 KB ADT^A01 fixture.
const ADT_A01: &[u8] = include_bytes!("../data/adt_a01_2kb.hl7");

/// Number of messages in the batch benchmark.
const BATCH: usize = 1_000;

/// The five values every crate must read from the fixture.
const EXPECTED: [&str; 5] = [
    "NGH20251114000417",
    "000483921",
    "DE LA CRUZ&VEGA",
    "4WEST",
    r"148\S\92 mmHg (sitting\F\left arm)",
];

fn fixture_str() -> &'static str {
    std::str::from_utf8(ADT_A01).expect("the fixture is ASCII")
}

/// Splits concatenated messages before each `"\rMSH|"`; every message keeps
/// its trailing `\r`. The same splitter serves every crate.
fn split_messages(batch: &str) -> impl Iterator<Item = &str> {
    let mut rest = batch;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.find("\rMSH|").map_or(rest.len(), |i| i + 1);
        let (message, tail) = rest.split_at(end);
        rest = tail;
        Some(message)
    })
}

// ---------------------------------------------------------------------------
// caresync-hl7v2

mod ours {
    use std::hint::black_box;

    use caresync_hl7v2::Message;

    pub(crate) fn parse(input: &[u8]) -> usize {
        let message = Message::parse(input).expect("the fixture parses");
        black_box(&message);
        input.len()
    }

    pub(crate) fn read5(input: &[u8]) -> [String; 5] {
        let message = Message::parse(input).expect("the fixture parses");
        let raw = |path: &str| {
            let value = message.get(path).expect("field present");
            String::from_utf8_lossy(value.raw()).into_owned()
        };
        [
            raw("MSH-10"),
            raw("PID-3(1).1"),
            message
                .get("PID-5.1")
                .expect("field present")
                .decode()
                .into_owned(),
            raw("PV1-3.1"),
            raw("OBX[2]-5"),
        ]
    }

    pub(crate) fn parse_read5(input: &[u8]) {
        let message = Message::parse(input).expect("the fixture parses");
        let msh10 = message.get("MSH-10");
        black_box(msh10.as_ref().map(|v| v.raw()));
        let mrn = message.get("PID-3(1).1");
        black_box(mrn.as_ref().map(|v| v.raw()));
        let family = message.get("PID-5.1");
        black_box(family.as_ref().map(|v| v.decode()));
        let location = message.get("PV1-3.1");
        black_box(location.as_ref().map(|v| v.raw()));
        let obx5 = message.get("OBX[2]-5");
        black_box(obx5.as_ref().map(|v| v.raw()));
    }
}

// ---------------------------------------------------------------------------
// hl7-parser 0.3

mod hl7_parser_crate {
    use std::hint::black_box;

    use hl7_parser::Message;

    pub(crate) fn parse(input: &str) -> usize {
        let message = Message::parse(input).expect("the fixture parses");
        black_box(&message);
        input.len()
    }

    pub(crate) fn read5(input: &str) -> [String; 5] {
        let message = Message::parse(input).expect("the fixture parses");
        let raw = |path: &str| {
            message
                .query(path)
                .expect("field present")
                .raw_value()
                .to_owned()
        };
        [
            raw("MSH.10"),
            raw("PID.3[1].1"),
            message
                .query("PID.5.1")
                .expect("field present")
                .display(&message.separators)
                .to_string(),
            raw("PV1.3.1"),
            raw("OBX[2].5"),
        ]
    }

    pub(crate) fn parse_read5(input: &str) {
        let message = Message::parse(input).expect("the fixture parses");
        black_box(message.query("MSH.10").map(|v| v.raw_value()));
        black_box(message.query("PID.3[1].1").map(|v| v.raw_value()));
        black_box(
            message
                .query("PID.5.1")
                .map(|v| v.display(&message.separators).to_string()),
        );
        black_box(message.query("PV1.3.1").map(|v| v.raw_value()));
        black_box(message.query("OBX[2].5").map(|v| v.raw_value()));
    }
}

// ---------------------------------------------------------------------------
// rust-hl7 0.5 (library name `rusthl7`)

mod rust_hl7_crate {
    use std::hint::black_box;

    use rusthl7::escape_sequence::EscapeSequence;
    use rusthl7::message::Message;

    pub(crate) fn parse(input: &str) -> usize {
        let message = Message::try_from(input).expect("the fixture parses");
        black_box(&message);
        input.len()
    }

    /// `Message::query` does not shift MSH numbering (its field 0 is the
    /// segment name and MSH-1 is not a split field), so MSH-10 is `F9`.
    /// It also only finds the first segment of a name, hence
    /// `segments_by_name` for the second OBX.
    pub(crate) fn read5(input: &str, escapes: &EscapeSequence) -> [String; 5] {
        let message = Message::try_from(input).expect("the fixture parses");
        let obx = message.segments_by_name("OBX").expect("OBX segments");
        [
            message.query("MSH.F9").to_owned(),
            message.query("PID.F3.R1.C1").to_owned(),
            escapes.decode(message.query("PID.F5.R1.C1")).into_owned(),
            message.query("PV1.F3.R1.C1").to_owned(),
            obx.get(1).expect("a second OBX").query("F5").to_owned(),
        ]
    }

    pub(crate) fn parse_read5(input: &str, escapes: &EscapeSequence) {
        let message = Message::try_from(input).expect("the fixture parses");
        black_box(message.query("MSH.F9"));
        black_box(message.query("PID.F3.R1.C1"));
        black_box(escapes.decode(message.query("PID.F5.R1.C1")));
        black_box(message.query("PV1.F3.R1.C1"));
        let obx = message.segments_by_name("OBX").expect("OBX segments");
        black_box(obx.get(1).map(|s| s.query("F5")));
    }

    pub(crate) fn escapes(input: &str) -> EscapeSequence {
        let message = Message::try_from(input).expect("the fixture parses");
        EscapeSequence::new(message.get_separators())
    }
}

// ---------------------------------------------------------------------------
// Benchmarks

/// Every crate reads the same five values before anything is timed.
fn check_same_values() {
    let text = fixture_str();
    let escapes = rust_hl7_crate::escapes(text);
    assert_eq!(ours::read5(ADT_A01), EXPECTED, "caresync-hl7v2");
    assert_eq!(hl7_parser_crate::read5(text), EXPECTED, "hl7-parser");
    assert_eq!(rust_hl7_crate::read5(text, &escapes), EXPECTED, "rust-hl7");
}

fn parse_only(c: &mut Criterion) {
    check_same_values();
    let text = fixture_str();
    let mut group = c.benchmark_group("hl7v2_parse_only");
    group.throughput(Throughput::Bytes(ADT_A01.len() as u64));
    group.bench_function("caresync-hl7v2", |b| {
        b.iter(|| ours::parse(black_box(ADT_A01)))
    });
    group.bench_function("hl7-parser", |b| {
        b.iter(|| hl7_parser_crate::parse(black_box(text)))
    });
    group.bench_function("rust-hl7", |b| {
        b.iter(|| rust_hl7_crate::parse(black_box(text)))
    });
    group.finish();
}

fn parse_read5(c: &mut Criterion) {
    let text = fixture_str();
    let escapes = rust_hl7_crate::escapes(text);
    let mut group = c.benchmark_group("hl7v2_parse_read5");
    group.throughput(Throughput::Bytes(ADT_A01.len() as u64));
    group.bench_function("caresync-hl7v2", |b| {
        b.iter(|| ours::parse_read5(black_box(ADT_A01)))
    });
    group.bench_function("hl7-parser", |b| {
        b.iter(|| hl7_parser_crate::parse_read5(black_box(text)))
    });
    group.bench_function("rust-hl7", |b| {
        b.iter(|| rust_hl7_crate::parse_read5(black_box(text), &escapes))
    });
    group.finish();
}

fn batch(c: &mut Criterion) {
    let batch = fixture_str().repeat(BATCH);
    assert_eq!(split_messages(&batch).count(), BATCH);
    assert!(split_messages(&batch).all(|m| m == fixture_str()));

    let mut group = c.benchmark_group("hl7v2_batch_1000");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.sample_size(20);
    group.bench_function("split_only", |b| {
        b.iter(|| {
            split_messages(black_box(&batch))
                .map(str::len)
                .sum::<usize>()
        })
    });
    group.bench_function(BenchmarkId::new("caresync-hl7v2", BATCH), |b| {
        b.iter(|| {
            split_messages(black_box(&batch))
                .map(|m| ours::parse(m.as_bytes()))
                .sum::<usize>()
        })
    });
    group.bench_function(BenchmarkId::new("hl7-parser", BATCH), |b| {
        b.iter(|| {
            split_messages(black_box(&batch))
                .map(hl7_parser_crate::parse)
                .sum::<usize>()
        })
    });
    group.bench_function(BenchmarkId::new("rust-hl7", BATCH), |b| {
        b.iter(|| {
            split_messages(black_box(&batch))
                .map(rust_hl7_crate::parse)
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, parse_only, parse_read5, batch);
criterion_main!(benches);
