//! HL7 v2 → FHIR Bundle mapping with `caresync_fhir::v2`.
//!
//! Inputs:
//!
//! - `adt_a01_2kb`: the 2 KB fictional ADT^A01 of the parser benchmarks
//!   (`benches/parsers/data/adt_a01_2kb.hl7`), with PID, PD1, NK1 ×2, PV1,
//!   PV2, AL1, DG1 ×2, PR1, IN1 and Z-segments.
//! - `corpus_adt_a01`: the two ADT^A01 messages of
//!   `../shared/corpora/hl7v2/fhir-converter-samples`, mapped one after
//!   the other (throughput counts both).
//!
//! Groups (throughput in messages):
//!
//! - `v2_to_fhir_parse_and_map`: bytes in, compact Bundle JSON out
//!   ([`map_bytes`]): what a pipeline pays per message.
//! - `v2_to_fhir_map_only`: the message parsed once outside the timing,
//!   then [`to_bundle`].

use std::hint::black_box;
use std::path::Path;

use caresync_fhir::v2::{map_bytes, to_bundle};
use caresync_hl7v2::Message;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ADT_A01: &[u8] = include_bytes!("../../parsers/data/adt_a01_2kb.hl7");
const SAMPLES: &str = "../../../shared/corpora/hl7v2/fhir-converter-samples";

fn corpus_adt_a01() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLES);
    ["ADT-A01-01.hl7", "ADT-A01-02.hl7"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            std::fs::read(&path).unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()))
        })
        .collect()
}

fn inputs() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![
        ("adt_a01_2kb", vec![ADT_A01.to_vec()]),
        ("corpus_adt_a01", corpus_adt_a01()),
    ]
}

fn check_inputs_map(inputs: &[(&'static str, Vec<Vec<u8>>)]) {
    for (name, messages) in inputs {
        for m in messages {
            let mapped = map_bytes(m).unwrap_or_else(|e| panic!("{name} maps: {e}"));
            assert!(mapped.bundle.contains(r#""resourceType":"Patient""#));
            assert!(mapped.bundle.contains(r#""resourceType":"Encounter""#));
        }
    }
}

fn v2_to_fhir(c: &mut Criterion) {
    let inputs = inputs();
    check_inputs_map(&inputs);

    let mut group = c.benchmark_group("v2_to_fhir_parse_and_map");
    for (name, messages) in &inputs {
        group.throughput(Throughput::Elements(messages.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                messages
                    .iter()
                    .map(|m| map_bytes(black_box(m)).map_or(0, |out| out.bundle.len()))
                    .sum::<usize>()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("v2_to_fhir_map_only");
    for (name, messages) in &inputs {
        let parsed: Vec<Message<'_>> = messages
            .iter()
            .map(|m| Message::parse(m).expect("input parses"))
            .collect();
        group.throughput(Throughput::Elements(parsed.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                parsed
                    .iter()
                    .map(|m| to_bundle(black_box(m)).map_or(0, |out| out.bundle.len()))
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, v2_to_fhir);
criterion_main!(benches);
