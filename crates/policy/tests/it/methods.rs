//! Each masking method, consent and row filters, determinism, the audit
//! record, and the errors of plans that cannot be served.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray as _;
use arrow_array::types::{Date32Type, Int32Type, TimestampMicrosecondType};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use caresync_core::calendar::days_from_civil;
use caresync_policy::{Keyring, Masked, Policy, Request, audit};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const OTHER_KEY: &[u8] = b"fedcba9876543210fedcba9876543210";
/// 2024-06-15T12:00:00Z.
const AT: i64 = 1_718_452_800_000_000;

fn keys(bytes: &[u8]) -> Keyring {
    let mut ring = Keyring::new();
    ring.insert("k", bytes).expect("a 32-byte key");
    ring
}

fn policy(rules: &str) -> Policy {
    let text = format!(
        "policy = \"test\"\nversion = \"2.1.0\"\npurposes = [\"TREAT\", \"HPAYMT\", \"HRESCH\"]\n\
         [keys.k]\nenv = \"UNUSED\"\n[[table]]\nname = \"t\"\n{rules}"
    );
    Policy::from_toml(&text, "test.toml").expect("a valid policy")
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let schema = Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("a batch")
}

fn run(policy: &Policy, batch: &RecordBatch, request: &Request, keys: &Keyring) -> Masked {
    policy
        .plan("t", &batch.schema(), request, keys)
        .expect("a plan")
        .apply(batch)
        .expect("applied")
}

fn research() -> Request {
    Request::new("analyst", "HRESCH", AT)
}

fn texts(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    batch
        .column_by_name(column)
        .expect("the column")
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

#[test]
fn keep_null_and_redact() {
    let p = policy(
        "[[table.rule]]\ncolumns = [\"a\"]\nmethod = \"keep\"\n\
         [[table.rule]]\ncolumns = [\"b\"]\nmethod = \"redact\"\nwith = \"***\"\n",
    );
    let input = batch(vec![
        ("a", strings(&[Some("x"), None])),
        ("b", strings(&[Some("secret"), None])),
        ("c", Arc::new(Int32Array::from(vec![Some(1), Some(2)]))),
    ]);
    let out = run(&p, &input, &research(), &keys(KEY)).batch;
    assert_eq!(texts(&out, "a"), [Some("x".to_owned()), None]);
    assert_eq!(texts(&out, "b"), [Some("***".to_owned()), None]);
    // No rule: the table's default, null, keeping the type.
    let c = out.column_by_name("c").expect("c");
    assert_eq!(c.data_type(), &DataType::Int32);
    assert_eq!(c.null_count(), 2);
}

#[test]
fn keyed_hashes_are_hmac_sha256_deterministic_and_key_dependent() {
    let p = policy("[[table.rule]]\ncolumns = [\"mrn\", \"n\"]\nmethod = \"hash\"\nkey = \"k\"\n");
    let input = batch(vec![
        (
            "mrn",
            strings(&[Some("MRN001"), Some("MRN001"), Some("MRN002"), None]),
        ),
        (
            "n",
            Arc::new(Int64Array::from(vec![Some(42), Some(-7), None, Some(42)])),
        ),
    ]);
    let a = run(&p, &input, &research(), &keys(KEY)).batch;
    let b = run(&p, &input, &research(), &keys(KEY)).batch;
    let c = run(&p, &input, &research(), &keys(OTHER_KEY)).batch;
    assert_eq!(a, b, "the same input, key and policy give the same output");
    let mrn = texts(&a, "mrn");
    assert_eq!(mrn[0], mrn[1], "equal values join");
    assert_ne!(mrn[0], mrn[2]);
    assert_eq!(mrn[3], None);
    assert_ne!(
        texts(&c, "mrn")[0],
        mrn[0],
        "another key, another pseudonym"
    );
    // HMAC-SHA256(key, "MRN001") as lower-case hex, computed independently.
    let expected = caresync_policy::Key::new("k", KEY)
        .expect("key")
        .mac(&[b"MRN001"]);
    let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(mrn[0].as_deref(), Some(hex.as_str()));
    // Integers hash as their decimal text.
    let n = texts(&a, "n");
    let forty_two = caresync_policy::Key::new("k", KEY)
        .expect("key")
        .mac(&[b"42"]);
    let hex: String = forty_two.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(n[0].as_deref(), Some(hex.as_str()));
    assert_eq!(n[0], n[3]);
    assert_eq!(a.schema().field(1).data_type(), &DataType::Utf8);
}

#[test]
fn tokens_keep_the_shape_of_the_value() {
    let p = policy("[[table.rule]]\ncolumns = [\"v\"]\nmethod = \"tokenize\"\nkey = \"k\"\n");
    let values = [
        Some("(617) 555-0142"),
        Some("123-45-6789"),
        Some("jane.doe@example.org"),
        Some("MRN00012345"),
        Some("Zoë"),
        Some("a much longer value than thirty-two characters, 0123456789"),
        None,
    ];
    let input = batch(vec![("v", strings(&values))]);
    let out = texts(&run(&p, &input, &research(), &keys(KEY)).batch, "v");
    for (before, after) in values.iter().zip(&out) {
        let (Some(before), Some(after)) = (before, after) else {
            assert_eq!(before.is_none(), after.is_none());
            continue;
        };
        assert_ne!(before, after);
        assert_eq!(before.chars().count(), after.chars().count(), "{before}");
        for (b, a) in before.chars().zip(after.chars()) {
            match b {
                '0'..='9' => assert!(a.is_ascii_digit()),
                'a'..='z' => assert!(a.is_ascii_lowercase()),
                'A'..='Z' => assert!(a.is_ascii_uppercase()),
                c if c.is_ascii() => assert_eq!(a, c),
                _ => assert!(a.is_ascii_lowercase()),
            }
        }
    }
    let again = texts(&run(&p, &input, &research(), &keys(KEY)).batch, "v");
    assert_eq!(out, again);
}

#[test]
fn generalisation_to_year_zip3_and_age() {
    let p = policy(
        "[[table.rule]]\ncolumns = [\"seen\", \"seen_at\", \"seen_text\"]\nmethod = \"generalize\"\nto = \"year\"\n\
         [[table.rule]]\ncolumns = [\"born\", \"born_text\"]\nmethod = \"generalize\"\nto = \"birth_year\"\n\
         [[table.rule]]\ncolumns = [\"zip\"]\nmethod = \"generalize\"\nto = \"zip3\"\n\
         [[table.rule]]\ncolumns = [\"age\", \"age_text\"]\nmethod = \"generalize\"\nto = \"age\"\n",
    );
    let day = |y, m, d| i32::try_from(days_from_civil(y, m, d)).expect("near the epoch");
    let micros = |y, m, d| i64::from(day(y, m, d)) * 86_400_000_000 + 3_600_000_000;
    let input = batch(vec![
        (
            "seen",
            Arc::new(Date32Array::from(vec![
                Some(day(2021, 7, 4)),
                None,
                Some(day(1969, 12, 31)),
            ])),
        ),
        (
            "seen_at",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(micros(2021, 7, 4)),
                    None,
                    Some(micros(1960, 2, 29)),
                ])
                .with_timezone("UTC"),
            ),
        ),
        (
            "seen_text",
            strings(&[Some("20210704083000"), Some("2021-07-04"), Some("July 4")]),
        ),
        // Request date 2024-06-15: born 1934-06-15 is 90 today; 1934-06-16 is 89.
        (
            "born",
            Arc::new(Date32Array::from(vec![
                Some(day(1934, 6, 15)),
                Some(day(1934, 6, 16)),
                Some(day(1900, 1, 1)),
            ])),
        ),
        (
            "born_text",
            strings(&[Some("19340615"), Some("1934-06-16"), Some("1931")]),
        ),
        (
            "zip",
            strings(&[Some("02139-4307"), Some("89310"), Some("ABCDE")]),
        ),
        (
            "age",
            Arc::new(Int32Array::from(vec![Some(89), Some(90), Some(104)])),
        ),
        (
            "age_text",
            strings(&[Some("89"), Some("104"), Some("about 40")]),
        ),
    ]);
    let out = run(&p, &input, &research(), &keys(KEY)).batch;
    let dates = |c: &str| -> Vec<Option<i32>> {
        out.column_by_name(c)
            .expect("c")
            .as_primitive::<Date32Type>()
            .iter()
            .collect()
    };
    assert_eq!(
        dates("seen"),
        [Some(day(2021, 1, 1)), None, Some(day(1969, 1, 1))]
    );
    let at: Vec<Option<i64>> = out
        .column_by_name("seen_at")
        .expect("seen_at")
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    let jan1 = |y| Some(i64::from(day(y, 1, 1)) * 86_400_000_000);
    assert_eq!(at, [jan1(2021), None, jan1(1960)]);
    assert_eq!(
        out.schema()
            .field_with_name("seen_at")
            .expect("seen_at")
            .data_type(),
        input
            .schema()
            .field_with_name("seen_at")
            .expect("seen_at")
            .data_type(),
        "the timezone is kept"
    );
    assert_eq!(
        texts(&out, "seen_text"),
        [Some("2021".into()), Some("2021".into()), None]
    );
    // 90 or older: one category, the year 2024 - 90.
    assert_eq!(
        dates("born"),
        [
            Some(day(1934, 1, 1)),
            Some(day(1934, 1, 1)),
            Some(day(1934, 1, 1))
        ]
    );
    assert_eq!(
        texts(&out, "born_text"),
        [
            Some("1934".into()),
            Some("1934".into()),
            Some("1934".into())
        ]
    );
    assert_eq!(
        texts(&out, "zip"),
        [Some("021".into()), Some("000".into()), None]
    );
    let ages: Vec<Option<i32>> = out
        .column_by_name("age")
        .expect("age")
        .as_primitive::<Int32Type>()
        .iter()
        .collect();
    assert_eq!(ages, [Some(89), Some(90), Some(90)]);
    assert_eq!(
        texts(&out, "age_text"),
        [Some("89".into()), Some("90+".into()), None]
    );
}

#[test]
fn dates_shift_by_the_same_days_per_patient_and_never_by_zero() {
    let p = policy(
        "[[table.rule]]\ncolumns = [\"d\", \"ts\", \"text\"]\nmethod = \"date_shift\"\nkey = \"k\"\nby = \"patient\"\nmax_days = 30\n\
         [[table.rule]]\ncolumns = [\"patient\"]\nmethod = \"keep\"\n",
    );
    let n = 400;
    let patients: Vec<Option<String>> = (0..n)
        .map(|i| {
            if i == 7 {
                None
            } else {
                Some(format!("p{}", i % 100))
            }
        })
        .collect();
    let base = i32::try_from(days_from_civil(2022, 3, 1)).expect("days");
    let input = batch(vec![
        ("patient", Arc::new(StringArray::from(patients.clone()))),
        (
            "d",
            Arc::new(Date32Array::from(
                (0..n).map(|i| Some(base + i)).collect::<Vec<_>>(),
            )),
        ),
        (
            "ts",
            Arc::new(
                TimestampMicrosecondArray::from(
                    (0..n)
                        .map(|i| Some(i64::from(base + i) * 86_400_000_000 + 123))
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
        ),
        // Every 50th value carries free text after its date: withheld.
        (
            "text",
            Arc::new(StringArray::from_iter((0..n).map(|i| {
                Some(if i % 50 == 3 {
                    "2022-03-01 seen by Dr Who"
                } else {
                    "2022-03-01T10:00"
                })
            }))),
        ),
    ]);
    let out = run(&p, &input, &research(), &keys(KEY)).batch;
    let d: Vec<Option<i32>> = out
        .column_by_name("d")
        .expect("d")
        .as_primitive::<Date32Type>()
        .iter()
        .collect();
    let ts: Vec<Option<i64>> = out
        .column_by_name("ts")
        .expect("ts")
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    let text = texts(&out, "text");
    let mut shift_of = std::collections::HashMap::new();
    let mut distinct = std::collections::HashSet::new();
    for i in 0..n as usize {
        let Some(patient) = &patients[i] else {
            assert_eq!(
                (d[i], ts[i], text[i].as_deref()),
                (None, None, None),
                "no patient, no date"
            );
            continue;
        };
        let shift = d[i].expect("shifted") - (base + i as i32);
        assert!((1..=30).contains(&shift.abs()), "shift {shift}");
        assert_eq!(
            *shift_of.entry(patient.clone()).or_insert(shift),
            shift,
            "one shift per patient"
        );
        assert_eq!(
            ts[i],
            Some(i64::from(d[i].expect("d")) * 86_400_000_000 + 123),
            "time of day kept"
        );
        let (y, m, dd) = caresync_core::calendar::civil_from_days(
            days_from_civil(2022, 3, 1) + i64::from(shift),
        );
        let expected = format!("{y:04}-{m:02}-{dd:02}T10:00");
        let expected = (i % 50 != 3).then_some(expected.as_str());
        assert_eq!(text[i].as_deref(), expected, "row {i}");
        distinct.insert(shift);
    }
    assert!(
        distinct.len() > 20,
        "shifts spread over the range: {}",
        distinct.len()
    );
}

#[test]
fn substitutes_are_constant_or_picked_by_key() {
    let p = policy(
        "[[table.rule]]\ncolumns = [\"a\"]\nmethod = \"substitute\"\nvalues = [\"Patient\"]\n\
         [[table.rule]]\ncolumns = [\"b\"]\nmethod = \"substitute\"\nvalues = [\"Alex\", \"Sam\", \"Robin\"]\nkey = \"k\"\n",
    );
    let names: Vec<Option<String>> = (0..60).map(|i| Some(format!("name{}", i % 20))).collect();
    let input = batch(vec![
        ("a", Arc::new(StringArray::from(names.clone()))),
        ("b", Arc::new(StringArray::from(names.clone()))),
    ]);
    let out = run(&p, &input, &research(), &keys(KEY)).batch;
    assert!(
        texts(&out, "a")
            .iter()
            .all(|v| v.as_deref() == Some("Patient"))
    );
    let b = texts(&out, "b");
    let used: std::collections::HashSet<_> = b.iter().flatten().cloned().collect();
    assert_eq!(used.len(), 3, "all three substitutes are used: {used:?}");
    for i in 0..40 {
        assert_eq!(b[i], b[i + 20], "equal names get equal substitutes");
    }
}

#[test]
fn consent_and_filters_withhold_rows_and_the_audit_counts_them() {
    let p = policy(
        "consent = { column = \"excluded\", holds = \"excluded\" }\n\
         [[table.rule]]\ncolumns = [\"id\", \"excluded\", \"vip\"]\nmethod = \"keep\"\n\
         [[table.filter]]\npurposes = [\"HRESCH\"]\ndrop_when = { column = \"vip\", equals = true }\n",
    );
    let input = batch(vec![
        (
            "id",
            strings(&[Some("1"), Some("2"), Some("3"), Some("4"), Some("5")]),
        ),
        (
            "excluded",
            strings(&[
                Some("HRESCH,HMARKT"),
                None,
                Some("HMARKT"),
                Some("hmarkt\thresch"),
                Some(""),
            ]),
        ),
        (
            "vip",
            Arc::new(BooleanArray::from(vec![
                Some(false),
                Some(true),
                Some(false),
                Some(true),
                None,
            ])),
        ),
    ]);
    let masked = run(&p, &input, &research().with_role("analyst"), &keys(KEY));
    assert_eq!(
        texts(&masked.batch, "id"),
        [Some("3".into()), Some("5".into())]
    );
    let audit = &masked.audit;
    assert_eq!(
        (
            audit.rows_in,
            audit.rows_dropped_by_consent,
            audit.rows_dropped_by_filter,
            audit.rows_out
        ),
        (5, 2, 1, 2)
    );
    assert_eq!(audit.principal, "analyst");
    assert_eq!(audit.role.as_deref(), Some("analyst"));
    assert_eq!(
        (audit.policy.as_str(), audit.policy_version.as_str()),
        ("test", "2.1.0")
    );
    assert_eq!(audit.masked_columns, Vec::<String>::new());
    // The filter is for research only; consent excluded no treatment here.
    let treat = run(&p, &input, &Request::new("dr", "TREAT", AT), &keys(KEY));
    assert_eq!(treat.batch.num_rows(), 5);

    // A permitted-purposes list column: only rows listing the purpose.
    let p = policy(
        "consent = { column = \"allowed\", holds = \"permitted\" }\n\
         [[table.rule]]\ncolumns = [\"id\"]\nmethod = \"keep\"\n",
    );
    let mut allowed = ListBuilder::new(StringBuilder::new());
    for row in [vec!["TREAT", "HRESCH"], vec!["TREAT"], vec![]] {
        for p in row {
            allowed.values().append_value(p);
        }
        allowed.append(true);
    }
    allowed.append(false);
    let input = batch(vec![
        ("id", strings(&[Some("1"), Some("2"), Some("3"), Some("4")])),
        ("allowed", Arc::new(allowed.finish())),
    ]);
    let masked = run(&p, &input, &research(), &keys(KEY));
    assert_eq!(texts(&masked.batch, "id"), [Some("1".into())]);
    assert_eq!(masked.audit.rows_dropped_by_consent, 3);
    let rows = audit::to_batch(std::slice::from_ref(&masked.audit)).expect("the audit batch");
    assert_eq!(rows.schema(), audit::schema());
    assert_eq!(rows.num_rows(), 1);
}

#[test]
fn roles_and_purposes_choose_the_rule() {
    let p = Policy::from_toml(
        "policy = \"test\"\nversion = \"1.0.0\"\npurposes = [\"TREAT\", \"HPAYMT\", \"HRESCH\"]\n\
         roles = [\"clinician\", \"billing\", \"analyst\"]\n\
         [keys.t]\nenv = \"UNUSED_T\"\n[keys.h]\nenv = \"UNUSED_H\"\n[[table]]\nname = \"t\"\n\
         [[table.rule]]\ncolumns = [\"mrn\"]\npurposes = [\"TREAT\"]\nroles = [\"clinician\"]\nmethod = \"keep\"\n\
         [[table.rule]]\ncolumns = [\"mrn\"]\npurposes = [\"TREAT\", \"HPAYMT\"]\nmethod = \"tokenize\"\nkey = \"t\"\n\
         [[table.rule]]\ncolumns = [\"mrn\"]\nmethod = \"hash\"\nkey = \"h\"\n",
        "roles.toml",
    )
    .expect("a valid policy");
    let mut ring = Keyring::new();
    ring.insert("t", KEY).expect("a key");
    ring.insert("h", OTHER_KEY).expect("a key");
    let input = batch(vec![("mrn", strings(&[Some("MRN001")]))]);
    let mrn = |request: Request| texts(&run(&p, &input, &request, &ring).batch, "mrn")[0].clone();
    let at = |purpose: &str, role: &str| Request::new("a", purpose, AT).with_role(role);
    assert_eq!(mrn(at("TREAT", "clinician")).as_deref(), Some("MRN001"));
    let token = mrn(at("TREAT", "billing")).expect("a token");
    let shape: String = token
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                '9'
            } else if c.is_ascii_uppercase() {
                'A'
            } else {
                c
            }
        })
        .collect();
    assert!(shape == "AAA999" && token != "MRN001", "{token}");
    assert_eq!(mrn(at("HPAYMT", "clinician")), Some(token));
    assert_eq!(mrn(at("HRESCH", "analyst")).map(|h| h.len()), Some(64));
    // A policy with roles needs one it knows: no request falls through to
    // rules meant for nobody in particular.
    for request in [Request::new("a", "TREAT", AT), at("TREAT", "nurse")] {
        let e = p
            .plan("t", &input.schema(), &request, &ring)
            .expect_err("no known role");
        assert_eq!(e.code(), "POLICY-0008", "{e}");
    }
}

#[test]
fn requests_that_cannot_be_served_are_refused_with_codes() {
    let p = policy(
        "[[table.rule]]\ncolumns = [\"mrn\"]\nmethod = \"hash\"\nkey = \"k\"\n\
         [[table.rule]]\ncolumns = [\"n\"]\nmethod = \"generalize\"\nto = \"zip3\"\n",
    );
    let good = batch(vec![
        ("mrn", strings(&[Some("MRN001")])),
        ("n", strings(&[Some("02139")])),
    ]);
    let schema: SchemaRef = good.schema();
    let plan = |table: &str, schema: &SchemaRef, request: &Request, keys: &Keyring| {
        p.plan(table, schema, request, keys).expect_err("refused")
    };
    let e = plan("t", &schema, &research(), &Keyring::new());
    assert_eq!(e.code(), "POLICY-0003");
    assert_eq!(
        e.to_string(),
        "[POLICY-0003] key k: environment variable UNUSED is not set or cannot be read (not in the keyring)"
    );
    let e = plan("other", &schema, &research(), &keys(KEY));
    assert_eq!(
        e.to_string(),
        "[POLICY-0004] policy test does not cover table other"
    );
    let e = plan("t", &schema, &Request::new("x", "HMARKT", AT), &keys(KEY));
    assert_eq!(
        e.to_string(),
        "[POLICY-0006] policy test does not serve purpose HMARKT"
    );
    let missing = Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, true)]));
    let e = plan("t", &missing, &research(), &keys(KEY));
    assert_eq!(
        e.to_string(),
        "[POLICY-0005] table t: column mrn: not in the batch"
    );
    let wrong = Arc::new(Schema::new(vec![
        Field::new("mrn", DataType::Utf8, true),
        Field::new("n", DataType::Int32, true),
    ]));
    let e = plan("t", &wrong, &research(), &keys(KEY));
    assert_eq!(
        e.to_string(),
        "[POLICY-0005] table t: column n: generalize to zip3: zip3 takes text columns"
    );
    // A batch of another schema than planned for is refused, not masked wrongly.
    let plan = p.plan("t", &schema, &research(), &keys(KEY)).expect("plan");
    let other = batch(vec![("mrn", strings(&[Some("MRN001")]))]);
    assert_eq!(
        plan.apply(&other).expect_err("another schema").code(),
        "POLICY-0005"
    );
    // Errors never carry values.
    assert!(
        !plan
            .apply(&other)
            .expect_err("again")
            .to_string()
            .contains("MRN001")
    );
}

#[test]
fn keys_come_from_files_and_missing_ones_are_errors() {
    let dir = std::env::temp_dir().join(format!("caresync-policy-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("k");
    std::fs::write(&file, [KEY, b"\n"].concat()).expect("the key file");
    let text = |source: &str| {
        format!("policy = \"p\"\nversion = \"1.0.0\"\npurposes = [\"TREAT\"]\n[keys.k]\n{source}\n")
    };
    let p = Policy::from_toml(
        &text(&format!("file = {:?}", file.display().to_string())),
        "p.toml",
    )
    .expect("valid");
    let ring = Keyring::from_sources(&p).expect("the key file");
    assert_eq!(
        ring.get("k").expect("k").mac(&[b"x"]),
        caresync_policy::Key::new("k", KEY)
            .expect("key")
            .mac(&[b"x"]),
        "the trailing newline is not part of the key"
    );
    // A relative file is read from the folder given (beside its policy).
    let relative = Policy::from_toml(&text("file = \"k\""), "p.toml").expect("valid");
    let beside = Keyring::from_sources_in(&relative, &dir).expect("the key beside");
    assert_eq!(
        beside.get("k").expect("k").mac(&[b"x"]),
        caresync_policy::Key::new("k", KEY)
            .expect("key")
            .mac(&[b"x"])
    );
    std::fs::write(&file, b"too short\n").expect("a short key");
    let e = Keyring::from_sources(&p).expect_err("short");
    assert_eq!(
        e.to_string(),
        "[POLICY-0003] key k: 9 bytes, fewer than the 32 required"
    );
    std::fs::remove_dir_all(&dir).expect("cleaned up");
    let e = Keyring::from_sources(&p).expect_err("gone");
    assert!(
        e.to_string().starts_with("[POLICY-0003] key k: file "),
        "{e}"
    );
    let p = Policy::from_toml(
        &text("env = \"CARESYNC_TEST_KEY_THAT_IS_NEVER_SET\""),
        "p.toml",
    )
    .expect("valid");
    let e = Keyring::from_sources(&p).expect_err("unset");
    assert_eq!(
        e.to_string(),
        "[POLICY-0003] key k: environment variable CARESYNC_TEST_KEY_THAT_IS_NEVER_SET is not set or cannot be read (not set)"
    );
}
