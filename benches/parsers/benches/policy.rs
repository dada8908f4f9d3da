//! Masking Arrow batches with `caresync_policy`: keyed hashing and
//! generalisation over text and date columns, reported in cells per second
//! (`Throughput::Elements` = rows × masked columns). The target is 20
//! million cells/s on one core.
//!
//! The batch is 100,000 generated patients (`caresync_testkit`): unique
//! MRNs (text), five-digit ZIP codes (text), birth dates (`Date32`) and
//! update times (timestamps, µs). Each method is measured alone on its
//! column, then the four together, then the whole built-in Safe Harbor
//! profile on the generated patient table (14 columns). Keyed hashing is
//! also measured on 100,000 encounters of 10,000 patients, where each MRN
//! comes ten times (hashed once, then copied).

use std::hint::black_box;

use arrow_array::RecordBatch;
use caresync_policy::{Keyring, Policy, Request, safe_harbor};
use caresync_testkit::generate::{Generator, encounters_batch, patients_batch};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: usize = 100_000;
const KEY: &[u8] = b"a benchmark key of thirty-two bytes or more";
/// 2025-06-01T00:00:00Z.
const AT: i64 = 1_748_736_000_000_000;

fn policy(rules: &str) -> Policy {
    let text = format!(
        "policy = \"bench\"\nversion = \"1.0.0\"\npurposes = [\"HRESCH\"]\n\
         [keys.k]\nenv = \"UNUSED\"\n[[table]]\nname = \"patient\"\ndefault = \"keep\"\n{rules}"
    );
    Policy::from_toml(&text, "bench.toml").expect("a valid policy")
}

fn bench(c: &mut Criterion) {
    let patients = patients_batch(&Generator::new(42).patients(ROWS));
    let mut keys = Keyring::new();
    keys.insert("k", KEY).expect("a key");
    keys.insert(safe_harbor::KEY_NAME, KEY).expect("a key");
    let request = Request::new("bench", "HRESCH", AT);
    let only = |column: &str, method: &str| {
        // Every other column is projected away, so one column is measured.
        let index = patients.schema().index_of(column).expect("the column");
        let batch = patients.project(&[index]).expect("projected");
        let p = policy(&format!(
            "[[table.rule]]\ncolumns = [\"{column}\"]\n{method}\n"
        ));
        (p, batch)
    };
    let cases: Vec<(&str, Policy, RecordBatch, u64)> = vec![
        {
            let (p, b) = only("mrn", "method = \"hash\"\nkey = \"k\"");
            ("hash_text", p, b, 1)
        },
        {
            // 10,000 patients with 10 encounters each: every MRN ten times.
            let (_, encounters) = Generator::new(42).patients_with_encounters(ROWS / 10, 10);
            let encounters = encounters_batch(&encounters);
            let index = encounters.schema().index_of("mrn").expect("mrn");
            let batch = encounters.project(&[index]).expect("projected");
            let p = policy("[[table.rule]]\ncolumns = [\"mrn\"]\nmethod = \"hash\"\nkey = \"k\"\n");
            ("hash_text_each_10_times", p, batch, 1)
        },
        {
            let (p, b) = only("zip", "method = \"generalize\"\nto = \"zip3\"");
            ("zip3_text", p, b, 1)
        },
        {
            let (p, b) = only("birth_date", "method = \"generalize\"\nto = \"birth_year\"");
            ("birth_year_date32", p, b, 1)
        },
        {
            let (p, b) = only("updated_at", "method = \"generalize\"\nto = \"year\"");
            ("year_timestamp", p, b, 1)
        },
        {
            let columns = ["mrn", "zip", "birth_date", "updated_at"]
                .map(|c| patients.schema().index_of(c).expect("the column"));
            let batch = patients.project(&columns).expect("projected");
            let p = policy(
                "[[table.rule]]\ncolumns = [\"mrn\"]\nmethod = \"hash\"\nkey = \"k\"\n\
                 [[table.rule]]\ncolumns = [\"zip\"]\nmethod = \"generalize\"\nto = \"zip3\"\n\
                 [[table.rule]]\ncolumns = [\"birth_date\"]\nmethod = \"generalize\"\nto = \"birth_year\"\n\
                 [[table.rule]]\ncolumns = [\"updated_at\"]\nmethod = \"generalize\"\nto = \"year\"\n",
            );
            ("hash_and_generalize_4_columns", p, batch, 4)
        },
    ];
    let mut group = c.benchmark_group("policy_mask");
    for (name, p, batch, columns) in &cases {
        let plan = p
            .plan("patient", &batch.schema(), &request, &keys)
            .expect("a plan");
        group.throughput(Throughput::Elements(ROWS as u64 * columns));
        group.bench_function(*name, |b| {
            b.iter(|| black_box(plan.apply(black_box(batch)).expect("masked")))
        });
    }
    let profile = safe_harbor::profile().expect("the built-in profile");
    let plan = profile
        .plan("generated_patient", &patients.schema(), &request, &keys)
        .expect("a plan");
    group.throughput(Throughput::Elements((ROWS * patients.num_columns()) as u64));
    group.bench_function("safe_harbor_generated_patient", |b| {
        b.iter(|| black_box(plan.apply(black_box(&patients)).expect("masked")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
