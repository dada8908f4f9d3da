//! Contract validation of Arrow batches: `caresync_contract::validate` over
//! a 100,000-row claim-line batch against a contract of exactly ten simple
//! checks, reported in rows per second (`Throughput::Elements`). The target
//! is 2 million rows/s.
//!
//! The ten checks:
//!
//! 1. `claim_key` required (null bitmap),
//! 2. `procedure_code` required,
//! 3. `procedure_code` in CPT/HCPCS,
//! 4. `primary_diagnosis` in ICD-10-CM,
//! 5. `rendering_npi` an NPI (Luhn check digit),
//! 6. `received` has the `hl7_datetime` pattern,
//! 7. rule `amount_not_negative`: `allowed_amount >= 0` (decimal),
//! 8. rule `payer_known`: `payer_class` one of six values,
//! 9. rule `service_in_order`: `service_from <= service_to` (dates),
//! 10. rule `paid_has_time`: `paid_at` required when `status = "paid"`.
//!
//! The batch is seeded (SplitMix64), realistic in shape (real codes, valid
//! NPIs, a few nulls in optional columns), and each check is broken on about
//! 2% of rows, so violations are built and sorted too. Before timing, every
//! check is asserted to fire, so none is measured doing nothing.

use std::hint::black_box;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Date32Array, Decimal128Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use caresync_contract::{CODES, CodeSystem, Contract, validate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Rows in the batch.
const ROWS: usize = 100_000;

/// One violation per this many rows, per check (about 2%).
const ONE_IN: u64 = 50;

const CONTRACT: &str = r#"
entity = "claim_line"
version = "1.0.0"

[[field]]
name = "claim_key"
type = "string"
required = true

[[field]]
name = "procedure_code"
type = "string"
required = true
code_system = "cpt_hcpcs"

[[field]]
name = "primary_diagnosis"
type = "string"
code_system = "icd10cm"

[[field]]
name = "rendering_npi"
type = "string"
code_system = "npi"

[[field]]
name = "received"
type = "string"
pattern = "hl7_datetime"

[[field]]
name = "allowed_amount"
type = "decimal(12,2)"

[[field]]
name = "payer_class"
type = "string"

[[field]]
name = "service_from"
type = "date"

[[field]]
name = "service_to"
type = "date"

[[field]]
name = "status"
type = "string"

[[field]]
name = "paid_at"
type = "timestamp"

[[rule]]
name = "amount_not_negative"
severity = "error"
range = { column = "allowed_amount", min = 0 }

[[rule]]
name = "payer_known"
severity = "error"
allowed = { column = "payer_class", values = ["commercial", "medicare", "medicaid", "tricare", "self-pay", "other"] }

[[rule]]
name = "service_in_order"
severity = "error"
order = { before = "service_from", after = "service_to" }

[[rule]]
name = "paid_has_time"
severity = "warning"
required_if = { column = "paid_at", when = "status", equals = "paid" }
"#;

const CPT: &[&str] = &[
    "99213", "99214", "99203", "93000", "36415", "80053", "85025", "J1885", "A0425", "G0439",
    "0001F", "71046",
];
const ICD: &[&str] = &[
    "E11.9", "I10", "J06.9", "M54.5", "Z00.00", "S72.001A", "R07.9", "N39.0", "F41.1", "K21.9",
];
const PAYERS: &[&str] = &[
    "commercial",
    "medicare",
    "medicaid",
    "tricare",
    "self-pay",
    "other",
];
const STATUSES: &[&str] = &["paid", "denied", "pending"];

/// SplitMix64: a seeded, dependency-free generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("small")
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    /// True about once in [`ONE_IN`].
    fn breaks(&mut self) -> bool {
        self.next().is_multiple_of(ONE_IN)
    }
}

/// A valid NPI: `1` and eight random digits, then the Luhn check digit.
fn npi(rng: &mut Rng) -> String {
    let stem = format!("1{:08}", rng.next() % 100_000_000);
    (0..10)
        .map(|d| format!("{stem}{d}"))
        .find(|n| CodeSystem::Npi.accepts(n))
        .expect("one check digit fits")
}

fn claim_lines() -> RecordBatch {
    let mut rng = Rng(0x5EED_CA2E_5A1C);
    let mut claim_key = Vec::with_capacity(ROWS);
    let mut procedure = Vec::with_capacity(ROWS);
    let mut diagnosis = Vec::with_capacity(ROWS);
    let mut npis = Vec::with_capacity(ROWS);
    let mut received = Vec::with_capacity(ROWS);
    let mut amount = Vec::with_capacity(ROWS);
    let mut payer = Vec::with_capacity(ROWS);
    let mut from = Vec::with_capacity(ROWS);
    let mut to = Vec::with_capacity(ROWS);
    let mut status = Vec::with_capacity(ROWS);
    let mut paid_at = Vec::with_capacity(ROWS);
    let npi_pool: Vec<String> = (0..500).map(|_| npi(&mut rng)).collect();
    // 2024-01-01 as days since the epoch.
    let first_day = 19_723;
    for row in 0..ROWS {
        claim_key.push((!rng.breaks()).then(|| format!("CLM{:08}", row / 4)));
        procedure.push(match (rng.breaks(), rng.breaks()) {
            (true, _) => None,
            (_, true) => Some("9921".to_owned()),
            _ => Some(rng.pick(CPT).to_owned()),
        });
        let dx = if rng.breaks() { "E11-9" } else { rng.pick(ICD) };
        diagnosis.push(Some(dx.to_owned()));
        npis.push(if rng.breaks() {
            Some("1234567890".to_owned())
        } else if rng.below(10) == 0 {
            None
        } else {
            Some(npi_pool[rng.below(npi_pool.len())].clone())
        });
        let day = 1 + rng.below(28);
        received.push(Some(if rng.breaks() {
            format!("202402{day:02}2561")
        } else {
            format!(
                "202402{day:02}{:02}{:02}-0500",
                rng.below(24),
                rng.below(60)
            )
        }));
        let cents = i128::from(rng.next() % 250_000);
        amount.push(Some(if rng.breaks() { -cents - 1 } else { cents }));
        let class = if rng.breaks() {
            "Medicare"
        } else {
            rng.pick(PAYERS)
        };
        payer.push(Some(class.to_owned()));
        let start = first_day + i32::try_from(rng.below(365)).expect("small");
        let length = i32::try_from(rng.below(5)).expect("small");
        from.push(Some(start));
        to.push(Some(if rng.breaks() {
            start - 1 - length
        } else {
            start + length
        }));
        let s = rng.pick(STATUSES);
        status.push(Some(s.to_owned()));
        let paid = i64::from(start) * 86_400_000_000 + 3_600_000_000;
        paid_at.push((s == "paid" && !rng.breaks()).then_some(paid));
    }
    let amounts = Decimal128Array::from(amount)
        .with_precision_and_scale(12, 2)
        .expect("decimal(12,2)");
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("claim_key", Arc::new(StringArray::from(claim_key))),
        ("procedure_code", Arc::new(StringArray::from(procedure))),
        ("primary_diagnosis", Arc::new(StringArray::from(diagnosis))),
        ("rendering_npi", Arc::new(StringArray::from(npis))),
        ("received", Arc::new(StringArray::from(received))),
        ("allowed_amount", Arc::new(amounts)),
        ("payer_class", Arc::new(StringArray::from(payer))),
        ("service_from", Arc::new(Date32Array::from(from))),
        ("service_to", Arc::new(Date32Array::from(to))),
        ("status", Arc::new(StringArray::from(status))),
        (
            "paid_at",
            Arc::new(TimestampMicrosecondArray::from(paid_at).with_timezone("UTC")),
        ),
    ];
    RecordBatch::try_from_iter(columns).expect("batch")
}

fn validate_10_checks(c: &mut Criterion) {
    let contract = Contract::from_toml(CONTRACT, "bench/claim_line.toml").expect("contract");
    let batch = claim_lines();
    assert_eq!(batch.num_rows(), ROWS);
    // Every check fires, on a few percent of rows.
    let found = validate(&contract, &batch).expect("validated");
    let mut fired: Vec<(&str, Option<&str>, &str)> = found
        .violations
        .iter()
        .map(|v| (&*v.column, v.rule.as_deref(), v.code.code()))
        .collect();
    fired.sort_unstable();
    fired.dedup();
    assert_eq!(fired.len(), 10, "{fired:?}");
    assert!(fired.iter().all(|f| CODES.iter().any(|c| c.code() == f.2)));
    let share = found.violations.len() as f64 / (ROWS * 10) as f64;
    assert!((0.01..0.04).contains(&share), "{share}");

    let mut group = c.benchmark_group("contract_validate");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("10_checks_100k_rows", |b| {
        b.iter(|| validate(black_box(&contract), black_box(&batch)).expect("validated"))
    });
    group.finish();
}

criterion_group!(benches, validate_10_checks);
criterion_main!(benches);
