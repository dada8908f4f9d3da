//! The built-in HIPAA Safe Harbor profile on caresync's tables: it plans for
//! every FHIR, X12 and generated table, decides every column explicitly,
//! and leaves no identifier of generated patients in its output.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, Date32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use caresync_core::calendar::{civil_from_days, days_from_civil};
use caresync_fhir::flatten::{Flattener, ResourceTable};
use caresync_policy::{
    Generalization, Keyring, Method, PURPOSES_OF_USE, Policy, RESTRICTED_ZIP3, Request, safe_harbor,
};
use caresync_testkit::fhir::{FhirGenerator, FhirOptions};
use caresync_testkit::generate::{self, Encounter, Generator, Patient};
use caresync_x12::flatten::Table;

const KEY: &[u8] = b"a secret Safe Harbor key of 32+ bytes";
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// The request's date, 2025-06-01 (ages are counted to it).
const AS_OF: (i64, u32, u32) = (2025, 6, 1);
const AT: i64 = days_from_civil(AS_OF.0, AS_OF.1 as i64, AS_OF.2 as i64) * MICROS_PER_DAY;

fn profile() -> Policy {
    safe_harbor::profile().expect("the built-in profile parses")
}

fn keyring(key: &[u8]) -> Keyring {
    let mut keys = Keyring::new();
    keys.insert(safe_harbor::KEY_NAME, key)
        .expect("a key of 32 bytes or more");
    keys
}

fn research() -> Request {
    Request::new("analyst@example.org", "HRESCH", AT)
}

fn apply(profile: &Policy, table: &str, batch: &RecordBatch) -> RecordBatch {
    profile
        .plan(table, &batch.schema(), &research(), &keyring(KEY))
        .unwrap_or_else(|e| panic!("{table}: {e}"))
        .apply(batch)
        .unwrap_or_else(|e| panic!("{table}: {e}"))
        .batch
}

// ---------------------------------------------------------------------------
// The tables
// ---------------------------------------------------------------------------

/// The X12 tables, with their schemas.
fn x12_tables() -> Vec<(String, SchemaRef)> {
    Table::ALL
        .into_iter()
        .map(|t| (t.name().to_owned(), t.schema()))
        .collect()
}

/// Every table the profile is for, with its schema.
fn all_tables() -> Vec<(String, SchemaRef)> {
    let mut tables: Vec<(String, SchemaRef)> = ResourceTable::ALL
        .into_iter()
        .map(|t| (t.table_name().to_owned(), Arc::new(t.schema())))
        .collect();
    tables.extend(x12_tables());
    tables.push(("generated_patient".to_owned(), generate::patient_schema()));
    tables.push((
        "generated_encounter".to_owned(),
        generate::encounter_schema(),
    ));
    tables
}

// ---------------------------------------------------------------------------
// Rendering cells, and what must not be in them
// ---------------------------------------------------------------------------

fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn timestamp_text(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rest = micros.rem_euclid(MICROS_PER_DAY);
    let (secs, frac) = (rest / 1_000_000, rest % 1_000_000);
    format!(
        "{}T{:02}:{:02}:{:02}.{frac:06}Z",
        date_text(days),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// One cell as text: dates as `YYYY-MM-DD`, timestamps as ISO 8601,
/// lists and structs as their items joined by commas; `None` for null.
fn render(array: &dyn Array, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    let joined = |items: Vec<Option<String>>| {
        items
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect::<Vec<_>>()
            .join(",")
    };
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i).to_owned(),
        DataType::Boolean => array.as_boolean().value(i).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float64 => array.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Decimal128(_, _) => array.as_primitive::<Decimal128Type>().value(i).to_string(),
        DataType::Date32 => date_text(i64::from(array.as_primitive::<Date32Type>().value(i))),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            timestamp_text(array.as_primitive::<TimestampMicrosecondType>().value(i))
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            joined(
                (0..items.len())
                    .map(|j| render(items.as_ref(), j))
                    .collect(),
            )
        }
        DataType::Struct(_) => joined(
            array
                .as_struct()
                .columns()
                .iter()
                .map(|c| render(c.as_ref(), i))
                .collect(),
        ),
        other => panic!("no renderer for {other}"),
    })
}

fn column_texts(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    (0..array.len())
        .map(|i| render(array.as_ref(), i))
        .collect()
}

/// 64 lower-case hex digits: a keyed hash.
fn is_pseudonym(cell: &str) -> bool {
    cell.len() == 64 && cell.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Texts no output cell may contain, each with what it was.
#[derive(Default)]
struct Forbidden {
    needles: BTreeMap<String, String>,
}

impl Forbidden {
    /// `value` must not appear, compared case-insensitively.
    fn text(&mut self, what: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        self.needles.insert(value.to_lowercase(), what.to_owned());
    }

    /// A name must not appear; names shorter than four characters are
    /// skipped (`Lee`, `Wei` and `明` occur inside unrelated words).
    fn name(&mut self, what: &str, value: &str) {
        if value.chars().count() >= 4 {
            self.text(what, value);
        }
    }

    /// Neither `value` nor its digits alone may appear.
    fn with_digits(&mut self, what: &str, value: &str) {
        self.text(what, value);
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        self.text(&format!("{what} (digits)"), &digits);
    }

    /// A full date must not appear, as `YYYY-MM-DD` or `YYYYMMDD`, unless
    /// it is 1 January (which a generalised date legitimately is).
    fn date(&mut self, what: &str, days: i64) {
        let text = date_text(days);
        if !text.ends_with("-01-01") {
            self.text(what, &text);
            self.text(&format!("{what} (compact)"), &text.replace('-', ""));
        }
    }

    /// A full timestamp, and its date, must not appear.
    fn timestamp(&mut self, what: &str, micros: i64) {
        self.text(what, &timestamp_text(micros));
        self.date(&format!("{what} (date)"), micros.div_euclid(MICROS_PER_DAY));
    }

    /// Every cell of `batch` (distinct values, lower-cased) against every
    /// needle: each substring of a cell as long as some needle is looked
    /// up. A keyed hash is 64 hex digits, so a needle of hex digits only
    /// (an SSN's digits, say) could occur in one by chance: such a hit in
    /// a hash does not count.
    fn assert_absent(&self, table: &str, batch: &RecordBatch) {
        let mut cells: BTreeMap<String, String> = BTreeMap::new();
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            for i in 0..array.len() {
                if let Some(cell) = render(array.as_ref(), i) {
                    cells
                        .entry(cell.to_lowercase())
                        .or_insert_with(|| field.name().clone());
                }
            }
        }
        let lengths: BTreeSet<usize> = self.needles.keys().map(String::len).collect();
        for (cell, column) in &cells {
            let hashed = is_pseudonym(cell);
            for (start, _) in cell.char_indices() {
                for len in &lengths {
                    let Some(part) = cell.get(start..start + len) else {
                        continue;
                    };
                    let Some(what) = self.needles.get(part) else {
                        continue;
                    };
                    let by_chance = hashed && part.bytes().all(|b| b.is_ascii_hexdigit());
                    assert!(
                        by_chance,
                        "{table}.{column}: an output cell holds the input's {what}"
                    );
                }
            }
        }
    }
}

/// Every date and timestamp left in `batch` is 1 January, midnight.
fn assert_dates_are_years(table: &str, batch: &RecordBatch) {
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let days: Vec<i64> = match field.data_type() {
            DataType::Date32 => array
                .as_primitive::<Date32Type>()
                .iter()
                .flatten()
                .map(i64::from)
                .collect(),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let micros = array.as_primitive::<TimestampMicrosecondType>();
                for m in micros.iter().flatten() {
                    assert_eq!(
                        m.rem_euclid(MICROS_PER_DAY),
                        0,
                        "{table}.{}: a time of day",
                        field.name()
                    );
                }
                micros
                    .iter()
                    .flatten()
                    .map(|m| m.div_euclid(MICROS_PER_DAY))
                    .collect()
            }
            DataType::Timestamp(_, _) => panic!("{table}.{}: not microseconds", field.name()),
            _ => continue,
        };
        for d in days {
            let (_, m, day) = civil_from_days(d);
            assert_eq!(
                (m, day),
                (1, 1),
                "{table}.{}: {} is not a year",
                field.name(),
                date_text(d)
            );
        }
    }
}

fn birth_days(p: &Patient) -> i64 {
    days_from_text(&p.birth_date.to_string())
}

fn days_from_text(date: &str) -> i64 {
    let part = |r: std::ops::Range<usize>| -> i64 { date[r].parse().expect("a YYYY-MM-DD date") };
    days_from_civil(part(0..4), part(5..7), part(8..10))
}

/// Whole years from `born` to the request's date.
fn age(born: i64) -> i64 {
    let (by, bm, bd) = civil_from_days(born);
    let (y, m, d) = AS_OF;
    y - by - i64::from((m, d) < (bm, bd))
}

/// The birth year Safe Harbor allows: the year, or `as-of year − 90` for
/// everyone 90 or older.
fn safe_birth_year(born: i64) -> i64 {
    if age(born) >= 90 {
        AS_OF.0 - 90
    } else {
        civil_from_days(born).0
    }
}

fn patient_needles(forbidden: &mut Forbidden, p: &Patient) {
    forbidden.name("family name", &p.family);
    forbidden.name("given name", &p.given);
    if let Some(middle) = &p.middle {
        forbidden.name("middle name", middle);
    }
    forbidden.text("patient id", &p.id);
    forbidden.text("MRN", &p.mrn);
    forbidden.with_digits("SSN", &p.ssn);
    forbidden.with_digits("phone", &p.phone);
    forbidden.text("street line", &p.address.line);
    forbidden.text("city", &p.address.city);
    forbidden.text("ZIP", &p.address.zip);
    forbidden.date("birth date", birth_days(p));
    forbidden.timestamp("last update", p.updated_at.timestamp_micros());
}

fn encounter_needles(forbidden: &mut Forbidden, e: &Encounter) {
    forbidden.text("encounter id", &e.id);
    forbidden.text("patient id", &e.patient_id);
    forbidden.text("MRN", &e.mrn);
    forbidden.timestamp("admission", e.admit_at.timestamp_micros());
    if let Some(discharge) = e.discharge_at {
        forbidden.timestamp("discharge", discharge.timestamp_micros());
    }
    forbidden.timestamp("last update", e.updated_at.timestamp_micros());
}

/// Each raw id with its pseudonym, from an input and an output column.
fn pseudonyms(input: &RecordBatch, output: &RecordBatch, column: &str) -> BTreeMap<String, String> {
    let raw = column_texts(input, column);
    let hashed = column_texts(output, column);
    raw.into_iter()
        .zip(hashed)
        .filter_map(|(r, h)| Some((r?, h.expect("a non-null id hashes to a value"))))
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Columns whose names say they hold an identifier or free text: the
/// profile must null them. Provider and payer names are kept on purpose.
const IDENTIFYING: &[&str] = &[
    "name",
    "family",
    "given",
    "middle",
    "city",
    "address_line",
    "phone",
    "fax",
    "email",
    "ssn",
    "mrn",
    "member",
    "insured",
    "subscriber_id",
    "group_number",
    "tax_id",
    "control_number",
    "trace_number",
    "lot_number",
    "identifiers",
    "_text",
    "_display",
    "value_string",
    "resource_json",
    "components",
];
const PROVIDER_AND_PAYER_NAMES: &[&str] = &["billing_provider_name", "payer_name", "payee_name"];

#[test]
fn every_table_plans_and_every_column_is_decided_by_one_rule() {
    let profile = profile();
    let keys = keyring(KEY);
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut covered = BTreeSet::new();
    for (name, schema) in all_tables() {
        let plan = profile
            .plan(&name, &schema, &research(), &keys)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let table = profile.table(&name).expect("planned, so covered");
        assert_eq!(
            table.default,
            Method::Null,
            "{name}: an allow-list fails closed"
        );
        assert!(
            table.consent.is_none() && table.filters.is_empty(),
            "{name}"
        );
        for rule in &table.rules {
            assert!(
                rule.purposes.is_none() && rule.roles.is_none(),
                "{name}: line {}",
                rule.line
            );
        }
        for (column, method) in plan.methods() {
            let field = schema.field_with_name(column).expect("the plan's column");
            let naming: Vec<usize> = table
                .rules
                .iter()
                .filter(|r| r.columns.iter().any(|c| c == column))
                .map(|r| r.line)
                .collect();
            assert_eq!(
                naming.len(),
                1,
                "{name}.{column}: named by the rules at lines {naming:?}"
            );
            *tally.entry(method.to_string()).or_default() += 1;

            let at = format!("{name}.{column}");
            match field.data_type() {
                DataType::Date32 | DataType::Timestamp(_, _) => assert!(
                    matches!(
                        method,
                        Method::Null
                            | Method::Generalize(Generalization::Year | Generalization::BirthYear)
                    ),
                    "{at}: a date served as {method}"
                ),
                DataType::List(_) | DataType::Struct(_) => assert!(
                    matches!(method, Method::Keep | Method::Null),
                    "{at}: nested columns are kept or nulled"
                ),
                _ => {}
            }
            if column.contains("birth") {
                assert_eq!(
                    method,
                    &Method::Generalize(Generalization::BirthYear),
                    "{at}"
                );
            }
            if column.contains("zip") || column.contains("postal") {
                assert_eq!(method, &Method::Generalize(Generalization::Zip3), "{at}");
            }
            if column.ends_with("_npi") {
                assert_eq!(method, &Method::Keep, "{at}: provider NPIs are kept");
            }
            if IDENTIFYING.iter().any(|p| column.contains(p))
                && !PROVIDER_AND_PAYER_NAMES.contains(&column)
            {
                assert_eq!(method, &Method::Null, "{at}: an identifier or free text");
            }
            if let Method::Hash { key } = method {
                assert_eq!(key, safe_harbor::KEY_NAME, "{at}");
                assert_eq!(field.data_type(), &DataType::Utf8, "{at}: ids are text");
            }
            if column == "id" || column.ends_with("_key") {
                assert_eq!(method.name(), "hash", "{at}: record ids and keys join");
            }
        }
        covered.insert(name);
    }
    let listed: BTreeSet<String> = profile.tables.iter().map(|t| t.name.clone()).collect();
    assert_eq!(
        listed, covered,
        "the profile covers exactly the known tables"
    );
    assert_eq!(covered.len(), 11 + 6 + 2);
    // Every method the profile uses, and nothing kept that is a date.
    let methods: BTreeSet<&str> = tally.keys().map(String::as_str).collect();
    assert_eq!(
        methods,
        BTreeSet::from([
            "generalize to birth_year",
            "generalize to year",
            "generalize to zip3",
            "hash",
            "keep",
            "null"
        ])
    );
}

#[test]
fn the_profile_serves_every_purpose_and_nothing_else() {
    let profile = profile();
    assert_eq!(profile.name, "hipaa_safe_harbor");
    assert_eq!(profile.version.to_string(), "1.0.0");
    assert_eq!(profile.purposes, PURPOSES_OF_USE);
    let keys = keyring(KEY);
    let schema = generate::patient_schema();
    for purpose in PURPOSES_OF_USE {
        let request = Request::new("someone", purpose, AT);
        let plan = profile
            .plan("generated_patient", &schema, &request, &keys)
            .unwrap_or_else(|e| panic!("{purpose}: {e}"));
        let research = profile
            .plan("generated_patient", &schema, &research(), &keys)
            .expect("research");
        assert!(
            plan.methods().eq(research.methods()),
            "{purpose}: the same decisions"
        );
    }
    let e = profile
        .plan("clinical_notes", &schema, &research(), &keys)
        .expect_err("a table the profile does not cover");
    assert_eq!(e.code(), "POLICY-0004");
}

#[test]
fn unknown_columns_are_nulled_and_missing_ones_refused() {
    let profile = profile();
    let keys = keyring(KEY);
    let patients = Generator::new(11).patients(3);
    let batch = generate::patients_batch(&patients);

    // A column added upstream, never reviewed: served as nulls.
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("email", DataType::Utf8, false));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec!["a@example.org"; 3])));
    let wider = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("a batch");
    let masked = apply(&profile, "generated_patient", &wider);
    assert_eq!(
        masked.column_by_name("email").map(|c| c.null_count()),
        Some(3)
    );

    // A column the profile names is gone (renamed upstream): refused, so
    // the rename is noticed instead of its new name being served.
    let narrower = Arc::new(Schema::new(
        batch
            .schema()
            .fields()
            .iter()
            .filter(|f| f.name() != "ssn")
            .map(|f| f.as_ref().clone())
            .collect::<Vec<_>>(),
    ));
    let e = profile
        .plan("generated_patient", &narrower, &research(), &keys)
        .expect_err("ssn is missing");
    assert_eq!(e.code(), "POLICY-0005");
    assert!(e.to_string().contains("column ssn"), "{e}");
}

#[test]
fn generated_patients_and_encounters_keep_no_identifier() {
    let profile = profile();
    let (patients, encounters) = Generator::new(20_250_601)
        .with_nasty_rate(0.2)
        .patients_with_encounters(500, 2);
    let patient_in = generate::patients_batch(&patients);
    let encounter_in = generate::encounters_batch(&encounters);
    let patient_out = apply(&profile, "generated_patient", &patient_in);
    let encounter_out = apply(&profile, "generated_encounter", &encounter_in);
    assert_eq!(patient_out.num_rows(), 500);
    assert_eq!(encounter_out.num_rows(), 1000);

    let mut forbidden = Forbidden::default();
    for p in &patients {
        patient_needles(&mut forbidden, p);
    }
    forbidden.assert_absent("generated_patient", &patient_out);
    // Encounters keep facility names ("St. Mary Medical Center"), which
    // share words with patients' names; they never held names to leak.
    let mut forbidden = Forbidden::default();
    for e in &encounters {
        encounter_needles(&mut forbidden, e);
    }
    for p in &patients {
        forbidden.text("MRN", &p.mrn);
        forbidden.with_digits("SSN", &p.ssn);
        forbidden.with_digits("phone", &p.phone);
    }
    forbidden.assert_absent("generated_encounter", &encounter_out);
    assert_dates_are_years("generated_patient", &patient_out);
    assert_dates_are_years("generated_encounter", &encounter_out);

    // Identifiers are nulled outright.
    for column in [
        "mrn",
        "family",
        "given",
        "middle",
        "ssn",
        "phone",
        "address_line",
        "city",
    ] {
        let c = patient_out
            .column_by_name(column)
            .expect("kept in the schema");
        assert_eq!(c.null_count(), 500, "generated_patient.{column}");
    }
    assert_eq!(
        encounter_out.column_by_name("mrn").map(|c| c.null_count()),
        Some(1000)
    );

    // ZIP codes: three digits, 000 for the restricted areas.
    let zips = column_texts(&patient_out, "zip");
    let mut restricted = 0;
    for (p, zip) in patients.iter().zip(&zips) {
        let prefix = &p.address.zip[..3];
        let expected = if RESTRICTED_ZIP3.contains(&prefix) {
            restricted += 1;
            "000"
        } else {
            prefix
        };
        assert_eq!(zip.as_deref(), Some(expected), "{}", p.address.zip);
    }
    assert!(
        restricted > 0,
        "the generator puts some patients in restricted ZIP3 areas"
    );

    // Birth dates: the year, and one year for everyone 90 or older.
    let births = patient_out
        .column_by_name("birth_date")
        .expect("birth_date")
        .as_primitive::<Date32Type>()
        .clone();
    let mut oldest = 0;
    for (p, out) in patients.iter().zip(births.iter()) {
        let born = birth_days(p);
        let out = i64::from(out.expect("a birth year"));
        assert_eq!(
            out,
            days_from_civil(safe_birth_year(born), 1, 1),
            "born {}",
            date_text(born)
        );
        if age(born) >= 90 {
            oldest += 1;
            assert_eq!(civil_from_days(out).0, AS_OF.0 - 90);
        }
    }
    assert!(
        oldest > 10,
        "the generator makes patients over 89 ({oldest})"
    );

    // The kept columns are served as they were.
    let sexes: Vec<Option<String>> = patients
        .iter()
        .map(|p| Some(p.sex.hl7_code().to_owned()))
        .collect();
    assert_eq!(column_texts(&patient_out, "sex"), sexes);
    assert_eq!(
        column_texts(&encounter_out, "attending_npi"),
        column_texts(&encounter_in, "attending_npi")
    );
}

#[test]
fn birth_years_of_people_90_or_older_are_one_category() {
    let profile = profile();
    // (birth date, the year served) on 2025-06-01.
    let cases = [
        ((1920, 3, 4), 1935),   // 105
        ((1932, 2, 29), 1935),  // 93, born on a leap day
        ((1934, 6, 2), 1935),   // 90 since yesterday: never 1934
        ((1935, 6, 1), 1935),   // 90 today
        ((1935, 6, 2), 1935),   // 89 until tomorrow: its own year
        ((1936, 12, 31), 1936), // 88
        ((1900, 1, 1), 1935),   // 125
        ((2025, 5, 31), 2025),  // a day old
    ];
    let patients = Generator::new(3).patients(cases.len());
    let batch = generate::patients_batch(&patients);
    let births: Date32Array = cases
        .iter()
        .map(|((y, m, d), _)| i32::try_from(days_from_civil(*y, *m, *d)).ok())
        .collect();
    let index = batch.schema().index_of("birth_date").expect("birth_date");
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(births);
    let batch = RecordBatch::try_new(batch.schema(), columns).expect("same schema");

    let masked = apply(&profile, "generated_patient", &batch);
    let served: Vec<i64> = masked
        .column(index)
        .as_primitive::<Date32Type>()
        .iter()
        .map(|d| civil_from_days(i64::from(d.expect("a year"))).0)
        .collect();
    let expected: Vec<i64> = cases.iter().map(|(_, y)| *y).collect();
    assert_eq!(served, expected);
}

/// Patients as FHIR, with email and fax added to their telecom, and a
/// death time for every fifth.
fn fhir_patients(g: &mut FhirGenerator, patients: &[Patient]) -> (Vec<String>, Forbidden) {
    let mut forbidden = Forbidden::default();
    let mut rows = Vec::with_capacity(patients.len());
    for (i, p) in patients.iter().enumerate() {
        patient_needles(&mut forbidden, p);
        let mut json = g.patient(p);
        let local: String = p.given.chars().filter(char::is_ascii_alphabetic).collect();
        let email = format!("{}.{}@mail.example.org", local.to_lowercase(), &p.mrn[3..]);
        let fax = format!("+1 555 010 {:04}", i);
        let telecom = json["telecom"]
            .as_array_mut()
            .expect("the generator writes a phone");
        for (system, value) in [("email", &email), ("fax", &fax)] {
            let mut point = telecom[0].clone();
            point["system"] = system.into();
            point["value"] = value.as_str().into();
            telecom.push(point);
        }
        forbidden.text("email", &email);
        forbidden.with_digits("fax", &fax);
        if i % 5 == 0 {
            let died = p.updated_at.timestamp_micros() - 400 * MICROS_PER_DAY;
            let text = timestamp_text(died);
            json["deceasedDateTime"] = text.as_str().into();
            forbidden.timestamp("death", died);
        }
        rows.push(json.to_string());
    }
    (rows, forbidden)
}

fn flatten(table: ResourceTable, rows: &[String]) -> RecordBatch {
    let mut f = Flattener::new(table);
    for row in rows {
        f.push(row).unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    f.finish()
}

#[test]
fn fhir_resources_of_generated_patients_keep_no_identifier() {
    let profile = profile();
    let (patients, encounters) = Generator::new(77)
        .with_nasty_rate(0.3)
        .patients_with_encounters(200, 1);
    let mut g = FhirGenerator::new(77, FhirOptions::default());

    let (patient_rows, forbidden) = fhir_patients(&mut g, &patients);
    let patient_in = flatten(ResourceTable::Patient, &patient_rows);
    // The input holds what must go: MRNs, names, full birth dates, JSON.
    assert_eq!(
        column_texts(&patient_in, "mrn")[0].as_deref(),
        Some(patients[0].mrn.as_str())
    );
    assert_eq!(
        patient_in
            .column_by_name("deceased_date_time")
            .map(|c| c.null_count()),
        Some(160)
    );
    let patient_out = apply(&profile, "patient", &patient_in);
    forbidden.assert_absent("patient", &patient_out);
    assert_dates_are_years("patient", &patient_out);
    for column in [
        "identifiers",
        "mrn",
        "name_family",
        "name_given",
        "address_city",
        "resource_json",
    ] {
        let c = patient_out
            .column_by_name(column)
            .expect("kept in the schema");
        assert_eq!(c.null_count(), 200, "patient.{column}");
    }
    let zips = column_texts(&patient_out, "address_postal_code");
    assert!(
        zips.iter()
            .all(|z| z.as_ref().is_some_and(|z| z.len() == 3)),
        "{zips:?}"
    );
    let births: Vec<Option<String>> = patients
        .iter()
        .map(|p| {
            Some(date_text(days_from_civil(
                safe_birth_year(birth_days(p)),
                1,
                1,
            )))
        })
        .collect();
    assert_eq!(column_texts(&patient_out, "birth_date"), births);
    assert_eq!(
        column_texts(&patient_out, "address_state"),
        column_texts(&patient_in, "address_state")
    );

    // Encounters, observations and conditions of the same patients.
    let mut forbidden = Forbidden::default();
    let (mut encounter_rows, mut observation_rows, mut condition_rows) = (vec![], vec![], vec![]);
    for (p, e) in patients.iter().zip(&encounters) {
        encounter_needles(&mut forbidden, e);
        forbidden.text("MRN", &p.mrn);
        forbidden.text("attending NPI", &e.attending_npi);
        forbidden.text("facility", &e.facility);
        encounter_rows.push(g.encounter(p, e).to_string());
        for _ in 0..3 {
            let o = g.observation(p, e);
            for time in ["effectiveDateTime", "issued"] {
                let text = o[time].as_str().expect("an instant");
                forbidden.text(time, text);
                forbidden.date(time, days_from_text(text));
            }
            forbidden.text("observation id", o["id"].as_str().expect("an id"));
            observation_rows.push(o.to_string());
        }
        let c = g.condition(p, e);
        forbidden.text("condition id", c["id"].as_str().expect("an id"));
        for time in ["onsetDateTime", "recordedDate"] {
            forbidden.date(time, days_from_text(c[time].as_str().expect("an instant")));
        }
        condition_rows.push(c.to_string());
    }
    let encounter_in = flatten(ResourceTable::Encounter, &encounter_rows);
    let observation_in = flatten(ResourceTable::Observation, &observation_rows);
    let condition_in = flatten(ResourceTable::Condition, &condition_rows);
    let encounter_out = apply(&profile, "encounter", &encounter_in);
    let observation_out = apply(&profile, "observation", &observation_in);
    let condition_out = apply(&profile, "condition", &condition_in);
    for (table, out) in [
        ("encounter", &encounter_out),
        ("observation", &observation_out),
        ("condition", &condition_out),
    ] {
        forbidden.assert_absent(table, out);
        assert_dates_are_years(table, out);
        let json = out.column_by_name("resource_json").expect("resource_json");
        assert_eq!(json.null_count(), out.num_rows(), "{table}.resource_json");
    }
    // Clinical values survive.
    assert_eq!(
        column_texts(&observation_out, "value_quantity_value"),
        column_texts(&observation_in, "value_quantity_value")
    );
    assert_eq!(
        column_texts(&condition_out, "code"),
        column_texts(&condition_in, "code")
    );

    // Joins survive: one pseudonym per patient and encounter, in every
    // table, FHIR and generated alike.
    let patient_ids = pseudonyms(&patient_in, &patient_out, "id");
    let generated = generate::patients_batch(&patients);
    let generated_ids = pseudonyms(
        &generated,
        &apply(&profile, "generated_patient", &generated),
        "id",
    );
    assert_eq!(patient_ids, generated_ids);
    let encounter_ids = pseudonyms(&encounter_in, &encounter_out, "id");
    for (table, input, output) in [
        ("encounter", &encounter_in, &encounter_out),
        ("observation", &observation_in, &observation_out),
        ("condition", &condition_in, &condition_out),
    ] {
        for (raw, hashed) in pseudonyms(input, output, "subject_id") {
            assert_eq!(Some(&hashed), patient_ids.get(&raw), "{table}.subject_id");
        }
        if table != "encounter" {
            for (raw, hashed) in pseudonyms(input, output, "encounter_id") {
                assert_eq!(
                    Some(&hashed),
                    encounter_ids.get(&raw),
                    "{table}.encounter_id"
                );
            }
        }
    }
}

#[test]
fn masking_is_deterministic_and_joins_survive() {
    let profile = profile();
    let (patients, encounters) = Generator::new(5).patients_with_encounters(50, 3);
    let patient_in = generate::patients_batch(&patients);
    let encounter_in = generate::encounters_batch(&encounters);
    let keys = keyring(KEY);
    let plan = profile
        .plan(
            "generated_patient",
            &patient_in.schema(),
            &research(),
            &keys,
        )
        .expect("a plan");
    let once = plan.apply(&patient_in).expect("applied");
    let twice = plan.apply(&patient_in).expect("applied");
    assert_eq!(once.batch, twice.batch);
    assert_eq!(once.audit, twice.audit);
    assert_eq!(
        once.batch,
        apply(&profile, "generated_patient", &patient_in)
    );
    assert_eq!(once.audit.policy, "hipaa_safe_harbor");
    assert_eq!(
        once.audit.masked_columns,
        [
            "id=hash",
            "mrn=null",
            "family=null",
            "given=null",
            "middle=null",
            "birth_date=generalize to birth_year",
            "ssn=null",
            "phone=null",
            "address_line=null",
            "city=null",
            "zip=generalize to zip3",
            "updated_at=generalize to year",
        ]
    );

    // The same patient id, the same pseudonym, in both tables.
    let encounter_out = apply(&profile, "generated_encounter", &encounter_in);
    let patient_ids = pseudonyms(&patient_in, &once.batch, "id");
    let hashed = pseudonyms(&encounter_in, &encounter_out, "patient_id");
    assert_eq!(hashed.len(), 50);
    for (raw, pseudonym) in &hashed {
        assert_eq!(patient_ids.get(raw), Some(pseudonym));
        assert!(is_pseudonym(pseudonym));
    }

    // Another key, other pseudonyms: the key is what keeps them secret.
    let other = profile
        .plan(
            "generated_patient",
            &patient_in.schema(),
            &research(),
            &keyring(b"another secret key, 32 bytes long"),
        )
        .expect("a plan")
        .apply(&patient_in)
        .expect("applied");
    let a = column_texts(&once.batch, "id");
    let b = column_texts(&other.batch, "id");
    assert!(a.iter().zip(&b).all(|(a, b)| a != b));
}

#[test]
fn without_its_key_the_profile_serves_nothing() {
    let profile = profile();
    let e = profile
        .plan(
            "generated_patient",
            &generate::patient_schema(),
            &research(),
            &Keyring::new(),
        )
        .expect_err("no key");
    assert_eq!(e.code(), "POLICY-0003");
    assert!(e.to_string().contains(safe_harbor::KEY_ENV), "{e}");

    let e = Keyring::new()
        .insert(safe_harbor::KEY_NAME, b"too short")
        .expect_err("a short key");
    assert!(e.to_string().starts_with("[POLICY-0003]"), "{e}");

    // The variable is read, never set, here (setting it would race with
    // other tests); when it is unset, the keyring cannot be made.
    if std::env::var_os(safe_harbor::KEY_ENV).is_none() {
        let e = Keyring::from_sources(&profile).expect_err("the variable is unset");
        assert_eq!(
            e.to_string(),
            "[POLICY-0003] key safe_harbor: environment variable CARESYNC_SAFE_HARBOR_KEY \
             is not set or cannot be read (not set)"
        );
    }
}
