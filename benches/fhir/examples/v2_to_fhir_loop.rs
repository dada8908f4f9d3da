//! Maps the inputs of `benches/v2_to_fhir.rs` a fixed number of times, for
//! profilers and instruction counts: on a shared virtual machine wall
//! times vary by ±15% from run to run, instruction counts do not.
//!
//! ```sh
//! cargo build --release -p caresync-bench-fhir --example v2_to_fhir_loop
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/v2_to_fhir_loop 2kb 2000
//! ```
//!
//! Arguments: `2kb` (the 2 KB ADT^A01) or `corpus` (the two corpus
//! ADT^A01 messages, alternately), then the number of messages
//! (default 100,000). Subtract a run with 0 messages to leave out start-up.

use std::io::Write as _;

use caresync_fhir::v2::map_bytes;

const ADT_A01: &[u8] = include_bytes!("../../parsers/data/adt_a01_2kb.hl7");
const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpora/hl7v2/fhir-converter-samples/"
);

fn main() {
    let mut args = std::env::args().skip(1);
    let inputs: Vec<Vec<u8>> = match args.next().as_deref() {
        Some("corpus") => ["ADT-A01-01.hl7", "ADT-A01-02.hl7"]
            .iter()
            .map(|name| std::fs::read(format!("{SAMPLES}{name}")).expect("corpus file"))
            .collect(),
        _ => vec![ADT_A01.to_vec()],
    };
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut bytes = 0usize;
    for m in inputs.iter().cycle().take(messages) {
        bytes += map_bytes(std::hint::black_box(m)).map_or(0, |out| out.bundle.len());
    }
    let _ = writeln!(
        std::io::stdout(),
        "{messages} messages, {bytes} bytes of Bundle JSON"
    );
}
