//! Contract and policy files, and the text masks, never panic: any text is
//! a contract or a policy or an error with a line; a contract checks
//! against itself and exports to ODCS; a policy checks against it; and every
//! line of the input, masked by each text method, comes out as text or null
//! (hashes of 64 hex digits, tokens of the value's length).
#![no_main]

use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use caresync_contract::{CodeSystem, Contract, Mode, Pattern, check, to_odcs_yaml};
use caresync_policy::{Keyring, Policy, Request};
use libfuzzer_sys::fuzz_target;

const MASKS: &str = r#"
policy = "fuzz"
version = "1.0.0"
purposes = ["HRESCH"]
[keys.h]
env = "UNUSED_H"
[keys.k]
env = "UNUSED_K"
[[table]]
name = "t"
[[table.rule]]
columns = ["hash"]
method = "hash"
key = "h"
[[table.rule]]
columns = ["token"]
method = "tokenize"
key = "k"
[[table.rule]]
columns = ["year"]
method = "generalize"
to = "year"
[[table.rule]]
columns = ["birth"]
method = "generalize"
to = "birth_year"
[[table.rule]]
columns = ["zip"]
method = "generalize"
to = "zip3"
[[table.rule]]
columns = ["age"]
method = "generalize"
to = "age"
[[table.rule]]
columns = ["shifted"]
method = "date_shift"
key = "k"
by = "hash"
max_days = 30
[[table.rule]]
columns = ["picked"]
method = "substitute"
values = ["a", "b", "c"]
key = "k"
"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for pattern in Pattern::ALL {
        let _ = pattern.accepts(text);
    }
    for system in [CodeSystem::Icd10Cm, CodeSystem::CptHcpcs, CodeSystem::Loinc, CodeSystem::Npi] {
        let _ = system.accepts(text);
    }
    let contract = Contract::from_toml(text, "fuzz.toml").ok();
    if let Some(c) = &contract {
        assert!(check(std::slice::from_ref(c), c, Mode::FullTransitive).is_empty());
        assert!(to_odcs_yaml(c).starts_with("apiVersion: "));
    }
    if let (Ok(p), Some(c)) = (Policy::from_toml(text, "fuzz.toml"), &contract) {
        let _ = caresync_policy::check(&p, std::slice::from_ref(c));
    }

    let masks = Policy::from_toml(MASKS, "masks.toml").expect("the fixed policy");
    let mut keys = Keyring::new();
    keys.insert("h", b"a fuzzing key of thirty-two bytes..").expect("key");
    keys.insert("k", b"another fuzzing key, 32 bytes long").expect("key");
    let lines: Vec<&str> = text.lines().collect();
    let lines: ArrayRef = Arc::new(StringArray::from(lines));
    let names = ["hash", "token", "year", "birth", "zip", "age", "shifted", "picked"];
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), vec![lines.clone(); names.len()])
        .expect("a batch");
    let request = Request::new("fuzz", "HRESCH", 1_700_000_000_000_000);
    let plan = masks.plan("t", &schema, &request, &keys).expect("a plan");
    let masked = plan.apply(&batch).expect("text always masks");
    assert_eq!(masked.batch.num_rows(), batch.num_rows());
    let hashed = masked.batch.column(0).as_string::<i32>();
    for (i, original) in text.lines().enumerate() {
        // A hash is 64 hex digits, never the value.
        assert_eq!(hashed.value(i).len(), 64);
        // A token has as many characters as the value.
        let token = masked.batch.column(1).as_string::<i32>().value(i);
        assert_eq!(token.chars().count(), original.chars().count());
    }
});
