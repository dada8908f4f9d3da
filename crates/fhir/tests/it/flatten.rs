//! Flattening FHIR resources into Arrow tables.

use std::fs;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use caresync_fhir::flatten::{FlattenError, Flattener, ResourceTable, flatten_ndjson};
use expect_test::{Expect, expect};

const BULK: &str = "../../../shared/corpora/fhir/bulk-10-patients";

fn bulk_file(resource_type: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(BULK)
        .join(format!("{resource_type}.000.ndjson"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()))
}

/// All rows of one corpus file in one batch.
fn bulk_batch(table: ResourceTable) -> RecordBatch {
    let out = flatten_ndjson(table, &bulk_file(table.resource_type()), usize::MAX);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(out.batches.len(), 1);
    out.batches.into_iter().next().expect("one batch")
}

fn row_of(batch: &RecordBatch, id: &str) -> usize {
    let ids = str_col(batch, "id");
    (0..ids.len())
        .find(|&i| ids.value(i) == id)
        .unwrap_or_else(|| panic!("row with id {id}"))
}

fn str_col<'b>(batch: &'b RecordBatch, name: &str) -> &'b arrow_array::StringArray {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_string::<i32>()
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let c = str_col(batch, name);
    c.is_valid(row).then(|| c.value(row).to_owned())
}

fn ts(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let c = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_primitive::<TimestampMicrosecondType>();
    c.is_valid(row).then(|| c.value(row))
}

fn f64_of(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let c = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .as_primitive::<Float64Type>();
    c.is_valid(row).then(|| c.value(row))
}

/// Flattens `lines` one by one and shows each outcome, then the batch's ids.
fn check_rows(table: ResourceTable, lines: &[&str], expect: Expect) {
    let mut f = Flattener::new(table);
    let mut shown: Vec<String> = lines
        .iter()
        .map(|l| match f.push(l) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{} {} | {e}", e.code(), e.path()),
        })
        .collect();
    let batch = f.finish();
    let ids = str_col(&batch, "id");
    shown.push(format!(
        "batch: {} rows, ids {:?}",
        batch.num_rows(),
        (0..ids.len()).map(|i| ids.value(i)).collect::<Vec<_>>()
    ));
    expect.assert_eq(&(shown.join("\n") + "\n"));
}

#[test]
fn every_served_corpus_file_flattens_without_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(BULK);
    let mut served = Vec::new();
    for entry in fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        let Some(resource_type) = name.strip_suffix(".000.ndjson") else {
            continue;
        };
        let Some(table) = ResourceTable::from_resource_type(resource_type) else {
            continue;
        };
        let text = fs::read_to_string(&path).expect("readable");
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        let out = flatten_ndjson(table, &text, 500);
        assert!(out.errors.is_empty(), "{name}: {:?}", out.errors);
        let rows: usize = out.batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, lines, "{name}");
        assert!(out.batches.iter().all(|b| b.num_rows() <= 500));
        for b in &out.batches {
            assert_eq!(b.schema().as_ref(), &table.schema(), "{name}");
            // Every resource is kept whole.
            let json = str_col(b, "resource_json");
            assert_eq!(json.null_count(), 0);
        }
        served.push(resource_type.to_owned());
    }
    served.sort();
    expect![[r#"["AllergyIntolerance", "Condition", "Encounter", "Immunization", "MedicationRequest", "Patient", "Procedure"]"#]]
        .assert_eq(&format!("{served:?}"));
}

#[test]
fn patient_sample_values() {
    let b = bulk_batch(ResourceTable::Patient);
    let r = row_of(&b, "129c6ac7-8d06-89de-ad63-0204a93e76c3");
    assert_eq!(
        text(&b, "mrn", r).as_deref(),
        Some("129c6ac7-8d06-89de-ad63-0204a93e76c3")
    );
    assert_eq!(text(&b, "gender", r).as_deref(), Some("female"));
    // 1927-05-21 is 15,566 days before the epoch.
    let birth = b
        .column_by_name("birth_date")
        .expect("birth_date")
        .as_primitive::<Date32Type>();
    assert_eq!(birth.value(r), -15_566);
    // 1989-05-09T20:35:22-04:00
    assert_eq!(ts(&b, "deceased_date_time", r), Some(610_763_722_000_000));
    assert_eq!(text(&b, "name_family", r).as_deref(), Some("Medhurst46"));
    let given = b
        .column_by_name("name_given")
        .expect("name_given")
        .as_list::<i32>();
    assert_eq!(
        format!(
            "{:?}",
            given.value(r).as_string::<i32>().iter().collect::<Vec<_>>()
        ),
        r#"[Some("Sumiko254"), Some("Larue605")]"#
    );
    assert_eq!(text(&b, "address_city", r).as_deref(), Some("Emporia"));
    let ids = b
        .column_by_name("identifiers")
        .expect("identifiers")
        .as_list::<i32>();
    let ids = ids.value(r);
    let ids = ids.as_struct();
    assert_eq!(ids.len(), 5);
    assert_eq!(
        ids.column(0).as_string::<i32>().value(2),
        "http://hl7.org/fhir/sid/us-ssn"
    );
    assert_eq!(ids.column(1).as_string::<i32>().value(2), "999-94-5397");
    // Escaped text (the narrative div) survives in the JSON column.
    assert!(
        text(&b, "resource_json", r)
            .expect("json")
            .contains(r#"\"http://www.w3.org/1999/xhtml\""#)
    );
}

#[test]
fn encounter_sample_values() {
    let b = bulk_batch(ResourceTable::Encounter);
    let r = row_of(&b, "00c7f717-4030-5582-2ed8-888ad2bc878e");
    assert_eq!(text(&b, "status", r).as_deref(), Some("finished"));
    assert_eq!(text(&b, "class_code", r).as_deref(), Some("AMB"));
    assert_eq!(text(&b, "type_code", r).as_deref(), Some("185347001"));
    assert_eq!(
        text(&b, "type_system", r).as_deref(),
        Some("http://snomed.info/sct")
    );
    assert_eq!(
        text(&b, "subject_id", r).as_deref(),
        Some("79a66c97-6131-3213-f3c9-4606946ab056")
    );
    // 1989-10-04T02:25:16-04:00 and 06:20:16-04:00
    assert_eq!(ts(&b, "period_start", r), Some(623_485_516_000_000));
    assert_eq!(
        ts(&b, "period_end", r),
        Some(623_485_516_000_000 + (3 * 3600 + 55 * 60) * 1_000_000)
    );
    assert_eq!(text(&b, "reason_code", r).as_deref(), Some("46177005"));
    // A conditional reference (`Organization?identifier=...`) has no id.
    assert_eq!(text(&b, "service_provider_id", r), None);
    // Synthea gives every encounter a subject.
    assert_eq!(str_col(&b, "subject_id").null_count(), 0);
}

#[test]
fn condition_and_medication_sample_values() {
    let b = bulk_batch(ResourceTable::Condition);
    let r = row_of(&b, "0023b3a7-2ded-840c-ee5b-6b123fdcfb0b");
    assert_eq!(text(&b, "clinical_status", r).as_deref(), Some("active"));
    assert_eq!(text(&b, "code", r).as_deref(), Some("91302008"));
    assert_eq!(
        text(&b, "code_display", r).as_deref(),
        Some("Sepsis (disorder)")
    );
    assert_eq!(
        text(&b, "encounter_id", r).as_deref(),
        Some("f6003197-6507-1168-87be-ceccd5517094")
    );
    assert_eq!(ts(&b, "onset", r), Some(190_958_296_000_000)); // 1976-01-19T22:58:16-05:00
    assert_eq!(ts(&b, "abatement", r), None);

    let b = bulk_batch(ResourceTable::MedicationRequest);
    let r = row_of(&b, "002eb5b8-2964-effd-3b09-f132017dae04");
    assert_eq!(text(&b, "medication_code", r).as_deref(), Some("314076"));
    assert_eq!(
        text(&b, "medication_system", r).as_deref(),
        Some("http://www.nlm.nih.gov/research/umls/rxnorm")
    );
    assert_eq!(
        text(&b, "reason_reference_id", r).as_deref(),
        Some("b343d81b-e061-10cb-8292-8ff6ba4dfbf8")
    );
    assert_eq!(text(&b, "intent", r).as_deref(), Some("order"));
}

const BP: &str = r#"{"resourceType":"Observation","id":"bp-1","meta":{"versionId":"3","lastUpdated":"2023-03-14T10:00:00.123456789+00:00"},
 "status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
 "code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel"}],"text":"Blood pressure"},
 "subject":{"reference":"urn:uuid:7f2c0a3e-1b4d-4a57-9d8e-000000000001"},"encounter":{"reference":"https://ehr.example.org/fhir/Encounter/enc-9/_history/2"},
 "effectivePeriod":{"start":"2023-03-14T09:30:00+01:00","end":"2023-03-14"},
 "interpretation":[{"coding":[{"code":"H"}]}],
 "component":[
  {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic blood pressure"}]},"valueQuantity":{"value":142,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
  {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4","display":"Diastolic blood pressure"}]},"valueQuantity":{"value":91.5,"unit":"mmHg"}},
  {"code":{"coding":[{"code":"cuff"}]},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"720737000"}]}}]}"#;

const GLUCOSE: &str = r#"{"resourceType":"Observation","id":"glu-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2339-0","display":"Glucose [Mass/volume] in Blood"}]},"subject":{"reference":"Patient/p-7"},"effectiveDateTime":"2022-06","issued":"2022-06-02T08:00:00Z","valueQuantity":{"value":5.4e1,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}"#;

const SMOKER: &str = r#"{"resourceType":"Observation","id":"smk-1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"72166-2"}],"text":"Tobacco smoking status"},"subject":{"reference":"Patient/p-7"},"effectiveInstant":"2021-01-01T00:00:00Z","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"266919005","display":"Never smoked tobacco"}],"text":"Never smoker"}}"#;

const NOTE: &str = r#"{"resourceType":"Observation","id":"note-1","status":"preliminary","code":{"text":"Comment"},"valueString":"Line one\nwith \"quotes\" and é","valueInteger":3}"#;

#[test]
fn observations_with_quantities_concepts_and_components() {
    let mut f = Flattener::new(ResourceTable::Observation);
    for json in [BP, GLUCOSE, SMOKER, NOTE] {
        f.push(json).expect("observation flattens");
    }
    let b = f.finish();
    assert_eq!(b.num_rows(), 4);

    // Blood pressure panel.
    assert_eq!(text(&b, "meta_version_id", 0).as_deref(), Some("3"));
    assert_eq!(ts(&b, "meta_last_updated", 0), Some(1_678_788_000_123_456));
    assert_eq!(text(&b, "category_code", 0).as_deref(), Some("vital-signs"));
    assert_eq!(text(&b, "code", 0).as_deref(), Some("85354-9"));
    assert_eq!(
        text(&b, "code_system", 0).as_deref(),
        Some("http://loinc.org")
    );
    assert_eq!(text(&b, "code_text", 0).as_deref(), Some("Blood pressure"));
    assert_eq!(
        text(&b, "subject_id", 0).as_deref(),
        Some("7f2c0a3e-1b4d-4a57-9d8e-000000000001")
    );
    assert_eq!(text(&b, "encounter_id", 0).as_deref(), Some("enc-9"));
    assert_eq!(ts(&b, "effective_start", 0), Some(1_678_782_600_000_000)); // 08:30Z
    assert_eq!(ts(&b, "effective_end", 0), Some(1_678_752_000_000_000)); // 2023-03-14T00:00Z
    assert_eq!(text(&b, "interpretation_code", 0).as_deref(), Some("H"));
    assert_eq!(f64_of(&b, "value_quantity_value", 0), None);
    let comps = b
        .column_by_name("components")
        .expect("components")
        .as_list::<i32>();
    let comps = comps.value(0);
    let comps = comps.as_struct();
    assert_eq!(comps.len(), 3);
    let code = comps
        .column_by_name("code")
        .expect("code")
        .as_string::<i32>();
    let qty = comps
        .column_by_name("value_quantity_value")
        .expect("qty")
        .as_primitive::<Float64Type>();
    let unit = comps
        .column_by_name("value_quantity_unit")
        .expect("unit")
        .as_string::<i32>();
    let vcode = comps
        .column_by_name("value_code")
        .expect("value_code")
        .as_string::<i32>();
    assert_eq!(
        (code.value(0), qty.value(0), unit.value(0)),
        ("8480-6", 142.0, "mmHg")
    );
    assert_eq!((code.value(1), qty.value(1)), ("8462-4", 91.5));
    assert!(qty.is_null(2));
    assert_eq!(vcode.value(2), "720737000");

    // Glucose: a partial dateTime is the start of its month.
    assert_eq!(ts(&b, "effective_start", 1), Some(1_654_041_600_000_000));
    assert_eq!(ts(&b, "issued", 1), Some(1_654_156_800_000_000));
    assert_eq!(f64_of(&b, "value_quantity_value", 1), Some(54.0));
    assert_eq!(text(&b, "value_quantity_unit", 1).as_deref(), Some("mg/dL"));
    assert_eq!(
        text(&b, "value_quantity_system", 1).as_deref(),
        Some("http://unitsofmeasure.org")
    );
    assert!(
        b.column_by_name("components")
            .expect("components")
            .is_null(1)
    );

    // Smoking status: valueCodeableConcept and effectiveInstant.
    assert_eq!(ts(&b, "effective_start", 2), Some(1_609_459_200_000_000));
    assert_eq!(text(&b, "value_code", 2).as_deref(), Some("266919005"));
    assert_eq!(
        text(&b, "value_system", 2).as_deref(),
        Some("http://snomed.info/sct")
    );
    assert_eq!(
        text(&b, "value_display", 2).as_deref(),
        Some("Never smoked tobacco")
    );
    assert_eq!(text(&b, "value_text", 2).as_deref(), Some("Never smoker"));

    // A string with escapes is unescaped; integers are kept.
    assert_eq!(
        text(&b, "value_string", 3).as_deref(),
        Some("Line one\nwith \"quotes\" and é")
    );
    let ints = b
        .column_by_name("value_integer")
        .expect("value_integer")
        .as_primitive::<Int64Type>();
    assert_eq!(ints.value(3), 3);
    assert_eq!(text(&b, "code", 3), None);
    assert_eq!(text(&b, "code_text", 3).as_deref(), Some("Comment"));
}

#[test]
fn claims_coverage_and_eob_amounts() {
    let claim = r#"{"resourceType":"Claim","id":"c1","status":"active","type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"institutional"}]},"use":"claim","patient":{"reference":"Patient/p1"},"billablePeriod":{"start":"2020-01-01T10:00:00Z","end":"2020-01-01T11:00:00Z"},"created":"2020-01-02T00:00:00Z","provider":{"reference":"Organization/o1"},"priority":{"coding":[{"code":"normal"}]},"total":{"value":1234.56,"currency":"USD"}}"#;
    let b = flatten_ndjson(ResourceTable::Claim, claim, 10)
        .batches
        .remove(0);
    assert_eq!(f64_of(&b, "total_value", 0), Some(1234.56));
    assert_eq!(text(&b, "total_currency", 0).as_deref(), Some("USD"));
    assert_eq!(text(&b, "type_code", 0).as_deref(), Some("institutional"));
    assert_eq!(text(&b, "provider_id", 0).as_deref(), Some("o1"));
    assert_eq!(ts(&b, "billable_start", 0), Some(1_577_872_800_000_000));

    let eob = r#"{"resourceType":"ExplanationOfBenefit","id":"e1","status":"active","use":"claim","patient":{"reference":"Patient/p1"},"claim":{"reference":"Claim/c1"},"outcome":"complete","total":[{"category":{"coding":[{"code":"submitted"}]},"amount":{"value":1234.56,"currency":"USD"}}],"payment":{"amount":{"value":1000,"currency":"USD"}}}"#;
    let b = flatten_ndjson(ResourceTable::ExplanationOfBenefit, eob, 10)
        .batches
        .remove(0);
    assert_eq!(text(&b, "claim_id", 0).as_deref(), Some("c1"));
    assert_eq!(text(&b, "total_category", 0).as_deref(), Some("submitted"));
    assert_eq!(f64_of(&b, "total_value", 0), Some(1234.56));
    assert_eq!(f64_of(&b, "payment_value", 0), Some(1000.0));

    let cov = r#"{"resourceType":"Coverage","id":"v1","status":"active","subscriberId":"S-1","beneficiary":{"reference":"Patient/p1"},"period":{"start":"2019"},"payor":[{"reference":"Organization/payer"}]}"#;
    let b = flatten_ndjson(ResourceTable::Coverage, cov, 10)
        .batches
        .remove(0);
    assert_eq!(text(&b, "beneficiary_id", 0).as_deref(), Some("p1"));
    assert_eq!(text(&b, "payor_id", 0).as_deref(), Some("payer"));
    assert_eq!(ts(&b, "period_start", 0), Some(1_546_300_800_000_000));
}

#[test]
fn bad_rows_are_typed_errors_and_the_batch_keeps_the_good_rows() {
    check_rows(
        ResourceTable::Observation,
        &[
            GLUCOSE,
            r#"{"resourceType":"Observation","id":"x1","status":"final""#,
            r#"{"resourceType":"Observation","id":"x2","code":{"coding":[{"code":"a"}, {"code": 7}]}}"#,
            r#"{"resourceType":"Observation","id":"x3","valueQuantity":{"value":"98.6"}}"#,
            r#"{"resourceType":"Patient","id":"x4"}"#,
            r#"{"id":"x5"}"#,
            r#"{"resourceType":"Observation","id":"x6","effectiveDateTime":"2023-02-30"}"#,
            r#"{"resourceType":"Observation","id":"x7","meta":{"lastUpdated":"yesterday"}}"#,
            r#"[1, 2]"#,
            r#"["Observation"]"#,
            "not json",
            r#"{"resourceType":"Observation","id":"x9"} trailing"#,
            NOTE,
        ],
        expect![[r#"
            ok
            FHIR-0100 $ | FHIR-0100 at row 1, $: not well-formed JSON (line 1, column 56)
            FHIR-0101 $.code.coding[1].code | FHIR-0101 at row 2, $.code.coding[1].code: JSON value has the wrong type for this element
            FHIR-0101 $.valueQuantity.value | FHIR-0101 at row 3, $.valueQuantity.value: JSON value has the wrong type for this element
            FHIR-0102 $.resourceType | FHIR-0102 at row 4, $.resourceType: expected Observation
            FHIR-0102 $.resourceType | FHIR-0102 at row 5, $.resourceType: expected Observation
            FHIR-0103 $.effectiveDateTime | FHIR-0103 at row 6, $.effectiveDateTime: expected a FHIR dateTime or instant
            FHIR-0103 $.meta.lastUpdated | FHIR-0103 at row 7, $.meta.lastUpdated: expected a FHIR dateTime or instant
            FHIR-0101 $ | FHIR-0101 at row 8, $: JSON value has the wrong type for this element
            FHIR-0101 $ | FHIR-0101 at row 9, $: JSON value has the wrong type for this element
            FHIR-0100 $ | FHIR-0100 at row 10, $: not well-formed JSON (line 1, column 2)
            FHIR-0100 $ | FHIR-0100 at row 11, $: not well-formed JSON (line 1, column 42)
            ok
            batch: 2 rows, ids ["glu-1", "note-1"]
        "#]],
    );
}

#[test]
fn error_messages_never_hold_resource_values() {
    let secret = "SECRET-VALUE-42";
    let rows = [
        format!(r#"{{"resourceType":"Patient","id":"p","gender":{{"x":"{secret}"}}}}"#),
        format!(r#"{{"resourceType":"Patient","id":"p","birthDate":"{secret}"}}"#),
        format!(r#"{{"resourceType":"Patient","active":"{secret}"}}"#),
        format!(r#"{{"resourceType":"{secret}"}}"#),
        format!(r#"{{"resourceType":"Patient","{secret}":[1,}}"#),
    ];
    let mut f = Flattener::new(ResourceTable::Patient);
    for row in &rows {
        let e: FlattenError = f.push(row).expect_err("refused");
        let shown = format!("{e} {e:?} {}", e.to_rejection());
        assert!(!shown.contains("SECRET"), "{shown}");
    }
    assert_eq!(f.rows_seen(), 5);
    assert!(f.is_empty());
}

#[test]
fn tables_by_resource_type() {
    assert_eq!(
        ResourceTable::from_resource_type("Encounter"),
        Some(ResourceTable::Encounter)
    );
    assert_eq!(ResourceTable::from_resource_type("DocumentReference"), None);
    for t in ResourceTable::ALL {
        let schema = t.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            &names[..4],
            ["id", "meta_version_id", "meta_last_updated", "identifiers"],
            "{t}"
        );
        assert_eq!(names.last(), Some(&"resource_json"), "{t}");
    }
}
