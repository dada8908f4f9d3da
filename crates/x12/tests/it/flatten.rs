//! Claims and remittances flatten into Arrow tables whose schemas are the
//! documented ones, with one row per claim, line, diagnosis, claim payment
//! and adjustment, exact amounts and keys that never collide.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int32Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use caresync_testkit::x12::{X12Generator, X12Kind, X12Options};
use caresync_x12::claim::{read_claims, read_document_claims};
use caresync_x12::flatten::{
    ClaimFlattener, RemittanceTables, Table, flatten_claims, flatten_remittances,
};
use caresync_x12::remit::read_remittances;
use caresync_x12::{Date, Document};

use crate::corpus::{corpus_dir, corpus_files};

// ---------------------------------------------------------------- helpers

fn strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    col.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

fn str_at(b: &RecordBatch, name: &str, row: usize) -> Option<String> {
    strs(b, name).swap_remove(row)
}

/// An amount column in ten-thousandths.
fn amounts(b: &RecordBatch, name: &str) -> Vec<Option<i128>> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    col.as_primitive::<Decimal128Type>().iter().collect()
}

/// An amount cell as Arrow prints it (`100.0000`).
fn amount_text(b: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    let col = col.as_primitive::<Decimal128Type>();
    col.is_valid(row).then(|| col.value_as_string(row))
}

fn ints(b: &RecordBatch, name: &str) -> Vec<Option<i32>> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    col.as_primitive::<Int32Type>().iter().collect()
}

fn bools(b: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    col.as_boolean().iter().collect()
}

fn dates(b: &RecordBatch, name: &str) -> Vec<Option<i32>> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    col.as_primitive::<Date32Type>().iter().collect()
}

fn str_lists(b: &RecordBatch, name: &str) -> Vec<Vec<String>> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    let list = col.as_list::<i32>();
    (0..list.len())
        .map(|i| {
            assert!(list.is_valid(i), "lists are never null");
            list.value(i)
                .as_string::<i32>()
                .iter()
                .map(|v| v.expect("no null items").to_owned())
                .collect()
        })
        .collect()
}

fn int_lists(b: &RecordBatch, name: &str) -> Vec<Vec<i32>> {
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    let list = col.as_list::<i32>();
    (0..list.len())
        .map(|i| {
            assert!(list.is_valid(i), "lists are never null");
            let v = list.value(i);
            v.as_primitive::<Int32Type>().iter().flatten().collect()
        })
        .collect()
}

fn days(d8: &str) -> Option<i32> {
    Date::parse_d8(d8).map(|d| d.days_since_epoch())
}

/// Ten-thousandths of an amount written as text.
fn tt(amount: &str) -> Option<i128> {
    amount
        .parse::<caresync_x12::Amount>()
        .ok()
        .map(|a| i128::from(a.ten_thousandths()))
}

/// The key tuples of a table, as text, asserting they are never null and
/// never repeated.
fn assert_keys_unique(table: Table, b: &RecordBatch, context: &str) {
    assert_eq!(b.schema(), table.schema(), "{context}: {}", table.name());
    let keys = table.key_columns();
    let cols: Vec<_> = keys
        .iter()
        .map(|k| b.column_by_name(k).expect("key column"))
        .collect();
    let mut seen = HashSet::new();
    for row in 0..b.num_rows() {
        let tuple: Vec<String> = cols
            .iter()
            .map(|c| {
                assert!(c.is_valid(row), "{context}: null key in {}", table.name());
                match c.data_type() {
                    DataType::Utf8 => c.as_string::<i32>().value(row).to_owned(),
                    DataType::Int32 => c.as_primitive::<Int32Type>().value(row).to_string(),
                    t => panic!("key of type {t}"),
                }
            })
            .collect();
        assert!(
            seen.insert(tuple.clone()),
            "{context}: {} key {tuple:?} repeated",
            table.name()
        );
    }
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(path)).expect("corpus file")
}

fn remittance_tables(input: &[u8]) -> RemittanceTables {
    let doc = Document::read(input).expect("reads");
    let remittances = read_remittances(&doc);
    flatten_remittances(&doc, &remittances)
}

// ---------------------------------------------------------------- schemas

/// How `schemas.md` writes an Arrow type.
fn doc_type(t: &DataType) -> String {
    match t {
        DataType::Utf8 => "Utf8".into(),
        DataType::Boolean => "Boolean".into(),
        DataType::Int32 => "Int32".into(),
        DataType::Int64 => "Int64".into(),
        DataType::Date32 => "Date32".into(),
        DataType::Decimal128(p, s) => format!("Decimal128({p}, {s})"),
        DataType::List(item) => format!("List<{}>", doc_type(item.data_type())),
        t => panic!("undocumented type {t}"),
    }
}

#[test]
fn schemas_are_what_the_docs_say() {
    let doc = include_str!("../../src/flatten/schemas.md");
    let mut sections = doc.split("\n## ").skip(1);
    for table in Table::ALL {
        let section = sections.next().expect("a section per table");
        let mut lines = section.lines();
        assert_eq!(
            lines.next(),
            Some(format!("`{}`", table.name()).as_str()),
            "sections in the order of Table::ALL"
        );
        let key_line = format!("Key: ({}).", table.key_columns().join(", "));
        assert!(section.contains(&key_line), "{}", table.name());
        let documented: Vec<(String, String, bool)> = lines
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                let name = cells[0].trim_start_matches("| ").trim_matches('`');
                let ty = cells[1].trim_matches('`');
                (name.to_owned(), ty.to_owned(), cells[2] == "yes")
            })
            .collect();
        let schema = table.schema();
        let actual: Vec<(String, String, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), doc_type(f.data_type()), f.is_nullable()))
            .collect();
        assert_eq!(documented, actual, "{}", table.name());
        // Amounts are exact decimals and dates are days: never floats or text.
        for f in schema.fields() {
            let n = f.name();
            if n.ends_with("_date") || n.ends_with("_from") || n.ends_with("_to") {
                assert_eq!(f.data_type(), &DataType::Date32, "{n}");
            }
            assert!(!matches!(
                f.data_type(),
                DataType::Float64 | DataType::Float32
            ));
        }
        for k in table.key_columns() {
            assert!(!schema.field_with_name(k).expect("key").is_nullable());
        }
    }
    assert!(sections.next().is_none(), "no undocumented section");
}

// ---------------------------------------------------------------- 837

#[test]
fn professional_claim_flattens_with_its_lines_and_diagnoses() {
    let bytes = read("linuxforhealth/837_005010X222A2/demo.example1.837");
    let doc = Document::read(&bytes).expect("reads");
    let claims = read_document_claims(&doc);
    let t = flatten_claims(&doc, &claims.claims);
    let c = &t.claim;
    assert_eq!(c.num_rows(), 1);
    let row = |name: &str| str_at(c, name, 0);
    assert_eq!(
        row("claim_key").as_deref(),
        Some("TGJ23|26463774|000000907")
    );
    assert_eq!(row("claim_id").as_deref(), Some("26463774"));
    assert_eq!(
        amount_text(c, "total_charge", 0).as_deref(),
        Some("100.0000")
    );
    assert_eq!(amounts(c, "total_charge"), [Some(1_000_000)]);
    assert_eq!(
        row("interchange_control_number").as_deref(),
        Some("000000907")
    );
    assert_eq!(row("group_control_number").as_deref(), Some("1"));
    assert_eq!(row("transaction_control_number").as_deref(), Some("0021"));
    assert_eq!(row("implementation").as_deref(), Some("005010X222A2"));
    assert_eq!(row("kind").as_deref(), Some("professional"));
    assert_eq!(row("facility_code").as_deref(), Some("11"));
    assert_eq!(row("frequency").as_deref(), Some("1"));
    assert_eq!(row("submitter_id").as_deref(), Some("TGJ23"));
    assert_eq!(row("billing_provider_npi").as_deref(), Some("1912301953"));
    assert_eq!(
        row("billing_provider_name").as_deref(),
        Some("BEN KILDARE SERVICE")
    );
    assert_eq!(row("billing_provider_tax_id").as_deref(), Some("587654321"));
    assert_eq!(row("payer_id").as_deref(), Some("999996666"));
    assert_eq!(row("payer_name").as_deref(), Some("KEY INSURANCE COMPANY"));
    assert_eq!(row("responsibility").as_deref(), Some("P"));
    assert_eq!(
        row("subscriber_member_id").as_deref(),
        Some("JS00111223333")
    );
    assert_eq!(bools(c, "patient_is_subscriber"), [Some(false)]);
    assert_eq!(row("patient_relationship").as_deref(), Some("19"));
    assert_eq!(row("patient_family_name").as_deref(), Some("SMITH"));
    assert_eq!(row("patient_given_name").as_deref(), Some("TED"));
    assert_eq!(dates(c, "patient_birth_date"), [days("19730501")]);
    assert_eq!(row("patient_gender").as_deref(), Some("M"));
    assert_eq!(row("principal_diagnosis").as_deref(), Some("0340"));
    assert_eq!(ints(c, "line_count"), [Some(4)]);
    assert_eq!(ints(c, "diagnosis_count"), [Some(2)]);
    assert_eq!(amounts(c, "line_charge_total"), [Some(1_000_000)]);
    assert_eq!(bools(c, "balanced"), [Some(true)]);
    assert_eq!(str_lists(c, "issue_codes"), [Vec::<String>::new()]);

    let l = &t.claim_line;
    assert_eq!(l.num_rows(), 4);
    assert_eq!(ints(l, "line_number"), [Some(1), Some(2), Some(3), Some(4)]);
    assert!(
        strs(l, "claim_key")
            .iter()
            .all(|k| k.as_deref() == Some("TGJ23|26463774|000000907"))
    );
    let charges: i128 = amounts(l, "charge").into_iter().flatten().sum();
    assert_eq!(charges, 1_000_000);
    assert!(strs(l, "procedure_code").iter().all(Option::is_some));
    assert!(dates(l, "service_from").iter().all(Option::is_some));

    let d = &t.claim_diagnosis;
    assert_eq!(d.num_rows(), 2);
    assert_eq!(ints(d, "sequence"), [Some(1), Some(2)]);
    assert_eq!(
        strs(d, "code"),
        [Some("0340".to_owned()), Some("V7389".to_owned())]
    );
    assert_eq!(
        strs(d, "qualifier"),
        [Some("BK".to_owned()), Some("BF".to_owned())]
    );
    assert_eq!(bools(d, "principal"), [Some(true), Some(false)]);
}

#[test]
fn every_corpus_file_flattens_one_row_per_item_with_unique_keys() {
    let mut claim_files = 0;
    let mut remit_files = 0;
    for path in corpus_files() {
        let bytes = std::fs::read(&path).expect("readable");
        let doc = Document::read(&bytes).expect("reads");
        let name = path.display().to_string();

        let claims = read_document_claims(&doc);
        let t = flatten_claims(&doc, &claims.claims);
        let claims = &claims.claims;
        claim_files += usize::from(!claims.is_empty());
        assert_eq!(t.claim.num_rows(), claims.len(), "{name}");
        let lines: usize = claims.iter().map(|c| c.lines.len()).sum();
        assert_eq!(t.claim_line.num_rows(), lines, "{name}");
        let dx: usize = claims.iter().map(|c| c.diagnoses.len()).sum();
        assert_eq!(t.claim_diagnosis.num_rows(), dx, "{name}");
        let total: i128 = claims
            .iter()
            .filter_map(|c| c.total_charge)
            .map(|a| i128::from(a.ten_thousandths()))
            .sum();
        let flat: i128 = amounts(&t.claim, "total_charge")
            .into_iter()
            .flatten()
            .sum();
        assert_eq!(flat, total, "{name}");
        let ids: Vec<Option<String>> = claims
            .iter()
            .map(|c| c.id.as_deref().map(str::to_owned))
            .collect();
        assert_eq!(strs(&t.claim, "claim_id"), ids, "{name}");
        let all_lines: Vec<_> = claims.iter().flat_map(|c| &c.lines).collect();
        let paid: Vec<Option<i128>> = all_lines
            .iter()
            .map(|l| {
                l.adjudications
                    .iter()
                    .filter_map(|a| a.paid)
                    .map(|a| i128::from(a.ten_thousandths()))
                    .reduce(|a, b| a + b)
            })
            .collect();
        assert_eq!(amounts(&t.claim_line, "paid_amount"), paid, "{name}");
        let pointers: Vec<Vec<i32>> = all_lines
            .iter()
            .map(|l| l.diagnosis_pointers.iter().map(|p| i32::from(*p)).collect())
            .collect();
        assert_eq!(
            int_lists(&t.claim_line, "diagnosis_pointers"),
            pointers,
            "{name}"
        );
        // Every claim carries the envelope of its own transaction set.
        let st02: Vec<Option<String>> = doc
            .transactions()
            .filter(|tx| tx.set_id() == Some("837"))
            .flat_map(|tx| {
                let n = read_claims(&tx).claims.len();
                std::iter::repeat_n(tx.control_number().map(str::to_owned), n)
            })
            .collect();
        assert_eq!(strs(&t.claim, "transaction_control_number"), st02, "{name}");
        assert_keys_unique(Table::Claim, &t.claim, &name);
        assert_keys_unique(Table::ClaimLine, &t.claim_line, &name);
        assert_keys_unique(Table::ClaimDiagnosis, &t.claim_diagnosis, &name);

        let remittances = read_remittances(&doc);
        let r = flatten_remittances(&doc, &remittances);
        remit_files += usize::from(!remittances.is_empty());
        let paid: usize = remittances.iter().map(|r| r.claims.len()).sum();
        assert_eq!(r.remittance.num_rows(), paid, "{name}");
        let lines: usize = remittances
            .iter()
            .flat_map(|r| &r.claims)
            .map(|c| c.lines.len())
            .sum();
        assert_eq!(r.remittance_line.num_rows(), lines, "{name}");
        let rlines: Vec<_> = remittances
            .iter()
            .flat_map(|r| &r.claims)
            .flat_map(|c| &c.lines)
            .collect();
        let allowed: Vec<Option<i128>> = rlines
            .iter()
            .map(|l| l.allowed.map(|a| i128::from(a.ten_thousandths())))
            .collect();
        assert_eq!(amounts(&r.remittance_line, "allowed"), allowed, "{name}");
        let remarks: Vec<Vec<String>> = rlines
            .iter()
            .map(|l| l.remarks.iter().filter_map(|q| q.value.clone()).collect())
            .collect();
        assert_eq!(
            str_lists(&r.remittance_line, "remark_codes"),
            remarks,
            "{name}"
        );
        let adjustments: usize = remittances
            .iter()
            .map(|r| {
                r.provider_adjustments.len()
                    + r.claims
                        .iter()
                        .map(|c| {
                            c.adjustments.len()
                                + c.lines.iter().map(|l| l.adjustments.len()).sum::<usize>()
                        })
                        .sum::<usize>()
            })
            .sum();
        assert_eq!(r.adjustment.num_rows(), adjustments, "{name}");
        assert_keys_unique(Table::Remittance, &r.remittance, &name);
        assert_keys_unique(Table::RemittanceLine, &r.remittance_line, &name);
        assert_keys_unique(Table::Adjustment, &r.adjustment, &name);
    }
    assert!(claim_files >= 30, "{claim_files} claim files");
    assert!(remit_files >= 5, "{remit_files} remittance files");
}

#[test]
fn claim_keys_escape_the_separator_and_never_repeat() {
    let claim = |id: &str| {
        format!(
            "HL*2*1*22*0~SBR*P*18*******CI~NM1*IL*1*DOE*JANE****MI*M1~NM1*PR*2*PAYER*****PI*P1~\
             CLM*{id}*50.00***11:B:1*Y*A*Y*Y~LX*1~SV1*HC:99213*50.00*UN*1~"
        )
    };
    let body = format!(
        "BHT*0019*00*1*20240101*1200*CH~NM1*41*2*SUBMITTER*****46*S\\1~\
         HL*1**20*1~NM1*85*2*CLINIC*****XX*1234567893~{}{}{}{}",
        claim("A|B"),
        claim("A"),
        claim("A"),
        claim(""),
    );
    let segments = body.matches('~').count() + 2;
    let input = format!(
        "ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~\
         GS*HC*A*B*20240101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~{body}\
         SE*{segments}*0001~GE*1*1~IEA*1*000000001~"
    );
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert!(doc.issues().is_empty(), "{:?}", doc.issues());
    let claims = read_document_claims(&doc);
    let t = flatten_claims(&doc, &claims.claims);
    let keys: Vec<String> = strs(&t.claim, "claim_key").into_iter().flatten().collect();
    // The claim without CLM01 is named by its CLM segment (the 33rd).
    assert_eq!(
        keys,
        [
            "S\\\\1|A\\|B|000000001",
            "S\\\\1|A|000000001",
            "S\\\\1|A|000000001|\\#2",
            "S\\\\1|\\#33|000000001",
        ]
    );
    assert_eq!(claims.claims[3].at.segment, 33);
    assert_eq!(strs(&t.claim, "claim_id")[3], None);
    assert_keys_unique(Table::ClaimLine, &t.claim_line, "lines");
}

#[test]
fn a_resent_837_maps_to_the_same_keys_and_a_new_interchange_does_not() {
    let bytes = read("linuxforhealth/837_005010X222A2/demo.example1.837");
    let keys = |input: &[u8]| {
        let doc = Document::read(input).expect("reads");
        let claims = read_document_claims(&doc);
        strs(&flatten_claims(&doc, &claims.claims).claim, "claim_key")
    };
    let text = String::from_utf8(bytes.clone()).expect("ASCII");
    assert_eq!(keys(&bytes), keys(text.as_bytes()));
    let new_interchange = text.replace("000000907", "000000908");
    assert_ne!(keys(&bytes), keys(new_interchange.as_bytes()));
}

#[test]
fn a_flattener_cuts_batches_where_it_is_told() {
    let file = X12Generator::new(7, X12Options::default()).claims_file(X12Kind::Professional, 250);
    let doc = Document::read(&file.text).expect("reads");
    let mut f = ClaimFlattener::with_capacity(16);
    assert!(f.is_empty());
    let mut rows = Vec::new();
    for tx in doc.transactions() {
        let claims = read_claims(&tx);
        f.push_transaction(&tx, &claims.claims);
        assert_eq!(f.len(), claims.claims.len());
        let t = f.finish();
        rows.push(t.claim.num_rows());
        assert!(f.is_empty());
    }
    assert_eq!(rows, [100, 100, 50]);
    assert_eq!(f.finish().claim.num_rows(), 0);
}

#[test]
fn a_thousand_generated_claims_flatten_exactly() {
    for kind in [X12Kind::Professional, X12Kind::Institutional] {
        let file = X12Generator::new(2027, X12Options::default()).claims_file(kind, 1_000);
        let doc = Document::read(&file.text).expect("reads");
        let claims = read_document_claims(&doc);
        let t = flatten_claims(&doc, &claims.claims);
        assert_eq!(t.claim.num_rows(), 1_000);
        let truth_total: i128 = file
            .claims
            .iter()
            .map(|c| i128::from(c.total_cents) * 100)
            .sum();
        let total: i128 = amounts(&t.claim, "total_charge")
            .into_iter()
            .flatten()
            .sum();
        assert_eq!(total, truth_total);
        let lines: usize = file.claims.iter().map(|c| c.lines.len()).sum();
        assert_eq!(t.claim_line.num_rows(), lines);
        let truth_line_total: i128 = file
            .claims
            .iter()
            .flat_map(|c| &c.lines)
            .map(|l| i128::from(l.charge_cents) * 100)
            .sum();
        let line_total: i128 = amounts(&t.claim_line, "charge").into_iter().flatten().sum();
        assert_eq!(line_total, truth_line_total);
        let dx: usize = file.claims.iter().map(|c| c.diagnoses.len()).sum();
        assert_eq!(t.claim_diagnosis.num_rows(), dx);
        let ids: Vec<Option<String>> = file
            .claims
            .iter()
            .map(|c| Some(c.claim_id.clone()))
            .collect();
        assert_eq!(strs(&t.claim, "claim_id"), ids);
        let members: Vec<Option<String>> = file
            .claims
            .iter()
            .map(|c| Some(c.member_id.clone()))
            .collect();
        assert_eq!(strs(&t.claim, "subscriber_member_id"), members);
        let births: Vec<Option<i32>> = file
            .claims
            .iter()
            .map(|c| days(&c.patient_birth_date.format("%Y%m%d").to_string()))
            .collect();
        assert_eq!(dates(&t.claim, "patient_birth_date"), births);
        assert!(bools(&t.claim, "balanced").iter().all(|b| *b == Some(true)));
        let icn = format!("{:09}", file.interchange_control_number);
        assert!(
            strs(&t.claim, "interchange_control_number")
                .iter()
                .all(|v| v.as_deref() == Some(icn.as_str()))
        );
        assert_keys_unique(Table::Claim, &t.claim, "generated");
        assert_keys_unique(Table::ClaimLine, &t.claim_line, "generated");
        assert_keys_unique(Table::ClaimDiagnosis, &t.claim_diagnosis, "generated");
    }
}

// ---------------------------------------------------------------- 835

#[test]
fn managed_care_remittance_flattens_with_its_adjustments() {
    let r = remittance_tables(&read("linuxforhealth/835_005010X221A1/managed-care.835"));
    let rem = &r.remittance;
    assert_eq!(rem.num_rows(), 2);
    assert_eq!(
        strs(rem, "remittance_key"),
        [
            Some("1935665544|7170066655|5554555444|94060555410000".to_owned()),
            Some("1935665544|7170066655|8765432112|94077799230000".to_owned()),
        ]
    );
    assert!(
        strs(rem, "payment_key")
            .iter()
            .all(|k| k.as_deref() == Some("1935665544|7170066655"))
    );
    assert_eq!(amounts(rem, "paid"), [tt("450.00"), tt("495.00")]);
    assert_eq!(amount_text(rem, "paid", 0).as_deref(), Some("450.0000"));
    assert_eq!(amounts(rem, "charge"), [tt("800"), tt("1200")]);
    assert_eq!(
        amounts(rem, "patient_responsibility"),
        [tt("300"), tt("600")]
    );
    assert_eq!(amounts(rem, "total_paid"), [tt("945"), tt("945")]);
    assert_eq!(
        str_at(rem, "trace_number", 0).as_deref(),
        Some("7170066655")
    );
    assert_eq!(str_at(rem, "payer_id", 0).as_deref(), Some("1935665544"));
    assert_eq!(
        str_at(rem, "payer_name", 1).as_deref(),
        Some("RUSHMORE LIFE")
    );
    assert_eq!(str_at(rem, "payee_id", 1).as_deref(), Some("5544667733"));
    assert_eq!(
        str_at(rem, "payee_name", 1).as_deref(),
        Some("ACME MEDICAL CENTER")
    );
    assert_eq!(str_at(rem, "payment_method", 0).as_deref(), Some("ACH"));
    // BPR16 `20002316` is not a date: null, and an issue of the payment.
    assert_eq!(dates(rem, "payment_date"), [None, None]);
    assert!(str_lists(rem, "payment_issue_codes")[0].contains(&"X12-0204".to_owned()));
    assert_eq!(dates(rem, "production_date")[0], days("20020314"));
    assert_eq!(str_at(rem, "claim_id", 1).as_deref(), Some("8765432112"));
    assert_eq!(str_at(rem, "status", 1).as_deref(), Some("1"));
    assert_eq!(str_at(rem, "filing_indicator", 1).as_deref(), Some("12"));
    assert_eq!(
        str_at(rem, "patient_family_name", 0).as_deref(),
        Some("BUDD")
    );
    assert_eq!(str_at(rem, "patient_id", 0).as_deref(), Some("33344555510"));
    assert_eq!(bools(rem, "balanced"), [Some(true), Some(true)]);
    assert_eq!(ints(rem, "line_count"), [Some(1), Some(1)]);
    assert_eq!(
        str_lists(rem, "issue_codes"),
        [Vec::<String>::new(), vec![]]
    );

    let lines = &r.remittance_line;
    assert_eq!(lines.num_rows(), 2);
    assert_eq!(strs(lines, "remittance_key"), strs(rem, "remittance_key"));
    assert_eq!(ints(lines, "line_number"), [Some(1), Some(1)]);
    assert_eq!(
        strs(lines, "procedure_code"),
        [Some("99211".to_owned()), Some("93555".to_owned())]
    );
    assert_eq!(amounts(lines, "paid"), [tt("500"), tt("550")]);
    assert_eq!(
        dates(lines, "service_from"),
        [days("20020301"), days("20020310")]
    );
    assert_eq!(
        dates(lines, "service_to"),
        [days("20020304"), days("20020312")]
    );
    assert_eq!(bools(lines, "balanced"), [Some(true), Some(true)]);

    let adj = &r.adjustment;
    assert_eq!(adj.num_rows(), 5);
    assert_eq!(ints(adj, "sequence"), [1, 2, 3, 4, 5].map(Some));
    let level = strs(adj, "level");
    let group = strs(adj, "group_code");
    let reason = strs(adj, "reason_code");
    let amount = amounts(adj, "amount");
    let line = ints(adj, "line_number");
    let owner = strs(adj, "remittance_key");
    let row = |i: usize| {
        (
            level[i].as_deref(),
            group[i].as_deref(),
            reason[i].as_deref(),
            amount[i],
            line[i],
            owner[i] == strs(rem, "remittance_key")[usize::from(i >= 2)],
        )
    };
    assert_eq!(
        row(0),
        (
            Some("claim"),
            Some("CO"),
            Some("A2"),
            tt("50.00"),
            None,
            true
        )
    );
    assert_eq!(
        row(1),
        (
            Some("line"),
            Some("PR"),
            Some("1"),
            tt("300.00"),
            Some(1),
            true
        )
    );
    assert_eq!(
        row(2),
        (
            Some("claim"),
            Some("CO"),
            Some("A2"),
            tt("55.00"),
            None,
            true
        )
    );
    assert_eq!(
        row(3),
        (
            Some("line"),
            Some("PR"),
            Some("1"),
            tt("600.00"),
            Some(1),
            true
        )
    );
    assert_eq!(
        row(4),
        (
            Some("line"),
            Some("CO"),
            Some("45"),
            tt("50.00"),
            Some(1),
            true
        )
    );
}

#[test]
fn a_resent_835_maps_to_the_same_keys() {
    let bytes = read("linuxforhealth/835_005010X221A1/managed-care.835");
    let text = String::from_utf8(bytes.clone()).expect("ASCII");
    // A payer re-sending the payment regenerates the envelopes.
    let resent = text
        .replace("000000907", "000000911")
        .replace("*112233", "*445566")
        .replace(
            "GS*HP*000000005*54321*20131031*1147*1*",
            "GS*HP*000000005*54321*20131031*1147*9*",
        )
        .replace("GE*1*1", "GE*1*9");
    let (a, b) = (
        remittance_tables(&bytes),
        remittance_tables(resent.as_bytes()),
    );
    assert_ne!(
        strs(&a.remittance, "interchange_control_number"),
        strs(&b.remittance, "interchange_control_number")
    );
    for (name, x, y) in [
        ("remittance", &a.remittance, &b.remittance),
        ("adjustment", &a.adjustment, &b.adjustment),
    ] {
        assert_eq!(
            strs(x, "remittance_key"),
            strs(y, "remittance_key"),
            "{name}"
        );
        assert_eq!(strs(x, "payment_key"), strs(y, "payment_key"), "{name}");
    }
    // Another payment (trace number) of the same claims is another row.
    let other = text.replace("7170066655", "7170066656");
    let c = remittance_tables(other.as_bytes());
    assert_ne!(
        strs(&a.remittance, "remittance_key"),
        strs(&c.remittance, "remittance_key")
    );
}

#[test]
fn a_reversal_and_its_correction_in_one_payment_have_two_keys() {
    let input = b"ISA*00*          *00*          *ZZ*PAYER          *ZZ*PROVIDER       *240101*1200*^*00501*000000001*0*P*:~\
GS*HP*PAYER*PROVIDER*20240101*1200*1*X*005010X221A1~ST*835*0001*005010X221A1~\
BPR*I*10.00*C*CHK************20240105~TRN*1*12345*1512345678~\
N1*PR*A PAYER~N1*PE*A CLINIC*XX*1234567893~LX*1~\
CLP*PCN1*22*-100.00*-80.00**12*ICN1~CAS*CO*45*-20.00~\
CLP*PCN1*1*100.00*90.00**12*ICN1~CAS*CO*45*10.00~\
PLB*1234567893*20241231*WO:OVERPAY*0.00~\
SE*12*0001~GE*1*1~IEA*1*000000001~";
    let r = remittance_tables(input);
    assert_eq!(
        strs(&r.remittance, "remittance_key"),
        [
            Some("1512345678|12345|PCN1|ICN1".to_owned()),
            Some("1512345678|12345|PCN1|ICN1|\\#2".to_owned()),
        ]
    );
    assert_eq!(amounts(&r.remittance, "paid"), [tt("-80"), tt("90")]);
    assert_eq!(
        strs(&r.adjustment, "level"),
        ["claim", "claim", "provider"].map(|s| Some(s.to_owned()))
    );
    assert_eq!(
        str_at(&r.adjustment, "remittance_key", 1),
        str_at(&r.remittance, "remittance_key", 1)
    );
    assert_eq!(str_at(&r.adjustment, "remittance_key", 2), None);
    assert_eq!(
        str_at(&r.adjustment, "reference", 2).as_deref(),
        Some("OVERPAY")
    );
    assert_eq!(
        str_at(&r.adjustment, "provider_id", 2).as_deref(),
        Some("1234567893")
    );
    assert_eq!(
        dates(&r.adjustment, "fiscal_period_end")[2],
        days("20241231")
    );
    assert_keys_unique(Table::Remittance, &r.remittance, "reversal");
    assert_keys_unique(Table::Adjustment, &r.adjustment, "reversal");
}

#[test]
fn generated_remittances_flatten_exactly() {
    let mut generator = X12Generator::new(2028, X12Options::default());
    let file = generator.remittance_file(5, 200);
    let r = remittance_tables(&file.text);
    let claims: Vec<_> = file.remittances.iter().flat_map(|r| &r.claims).collect();
    assert_eq!(r.remittance.num_rows(), 1_000);
    let paid: i128 = amounts(&r.remittance, "paid").into_iter().flatten().sum();
    let truth_paid: i128 = claims.iter().map(|c| i128::from(c.paid_cents) * 100).sum();
    assert_eq!(paid, truth_paid);
    let charge: i128 = amounts(&r.remittance, "charge").into_iter().flatten().sum();
    let truth_charge: i128 = claims
        .iter()
        .map(|c| i128::from(c.charge_cents) * 100)
        .sum();
    assert_eq!(charge, truth_charge);
    let totals: Vec<Option<i128>> = file
        .remittances
        .iter()
        .flat_map(|r| {
            r.claims
                .iter()
                .map(|_| Some(i128::from(r.total_paid_cents) * 100))
        })
        .collect();
    assert_eq!(amounts(&r.remittance, "total_paid"), totals);
    let traces: Vec<Option<String>> = file
        .remittances
        .iter()
        .flat_map(|r| r.claims.iter().map(|_| Some(r.trace_number.clone())))
        .collect();
    assert_eq!(strs(&r.remittance, "trace_number"), traces);
    let ids: Vec<Option<String>> = claims.iter().map(|c| Some(c.claim_id.clone())).collect();
    assert_eq!(strs(&r.remittance, "claim_id"), ids);
    assert!(
        bools(&r.remittance, "balanced")
            .iter()
            .all(|b| *b == Some(true))
    );

    let lines: usize = claims.iter().map(|c| c.lines.len()).sum();
    assert_eq!(r.remittance_line.num_rows(), lines);
    assert!(
        bools(&r.remittance_line, "balanced")
            .iter()
            .all(|b| *b == Some(true))
    );

    let cas: Vec<i64> = claims
        .iter()
        .flat_map(|c| &c.lines)
        .flat_map(|l| &l.adjustments)
        .map(|a| a.amount_cents)
        .collect();
    let plb: Vec<i64> = file
        .remittances
        .iter()
        .flat_map(|r| r.provider_adjustments_cents.iter().copied())
        .collect();
    assert_eq!(r.adjustment.num_rows(), cas.len() + plb.len());
    let levels = strs(&r.adjustment, "level");
    let adjusted: i128 = amounts(&r.adjustment, "amount")
        .into_iter()
        .zip(&levels)
        .filter(|(_, l)| l.as_deref() == Some("line"))
        .map(|(a, _)| a.expect("an amount"))
        .sum();
    assert_eq!(
        adjusted,
        cas.iter().map(|c| i128::from(*c) * 100).sum::<i128>()
    );
    let provider = levels
        .iter()
        .filter(|l| l.as_deref() == Some("provider"))
        .count();
    assert_eq!(provider, plb.len());
    assert_keys_unique(Table::Remittance, &r.remittance, "generated");
    assert_keys_unique(Table::RemittanceLine, &r.remittance_line, "generated");
    assert_keys_unique(Table::Adjustment, &r.adjustment, "generated");
}
