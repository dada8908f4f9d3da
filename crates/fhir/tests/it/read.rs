//! Reading resources, Bundles and NDJSON; identity; validation.

use std::fs;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use caresync_core::{EventTime, KeyPart, Tiebreaker, Version, check_unique};
use caresync_fhir::read::{
    self, Format, NdjsonReader, RawResource, ReadError, ReadOptions, Source, detect, read_bundle,
    read_bundle_slice, read_resource, validate,
};
use expect_test::{Expect, expect};

const CORPUS: &str = "../../../shared/corpora/fhir";

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS).join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("corpus {} is readable: {e}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson" || e == "json"))
        .collect();
    files.sort();
    files
}

fn ndjson(text: &str) -> Vec<Result<RawResource, ReadError>> {
    NdjsonReader::new(text.as_bytes(), ReadOptions::default()).collect()
}

/// One line per item: the identity or the error code, location and message.
fn check_ndjson(text: &str, expect: Expect) {
    let shown: Vec<String> = ndjson(text)
        .iter()
        .map(|item| match item {
            Ok(r) => format!(
                "ok {} {:?} v={:?} at {}",
                r.identity().resource_type(),
                r.identity().id(),
                r.identity().version_id(),
                r.source()
            ),
            Err(e) => format!("err {} {e}", e.code()),
        })
        .collect();
    expect.assert_eq(&(shown.join("\n") + "\n"));
}

fn check_validate(json: &str, expect: Expect) {
    let shown = match validate(json) {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("{} path={:?}: {e}", e.code(), e.path()),
    };
    expect.assert_eq(&(shown + "\n"));
}

#[test]
fn bulk_export_files_stream_without_errors() {
    let files = corpus("bulk-10-patients");
    assert_eq!(files.len(), 13, "13 NDJSON files in the corpus");
    let mut total = 0;
    for path in files {
        let text = fs::read_to_string(&path).expect("corpus file is UTF-8");
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
        let file = fs::File::open(&path).expect("corpus file opens");
        let expected_type = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
            .expect("file name is <Type>.000.ndjson")
            .to_owned();
        let mut count = 0;
        let mut last_line = 0;
        for item in NdjsonReader::new(BufReader::new(file), ReadOptions::default()) {
            let r = item.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(r.identity().resource_type(), expected_type);
            assert!(r.identity().id().is_some_and(|id| !id.is_empty()));
            let key = r.record_key().expect("every resource has an id");
            assert_eq!(key.entity(), expected_type);
            let line = r.source().line.expect("NDJSON items carry a line");
            assert!(line > last_line, "lines ascend");
            last_line = line;
            // Synthea writes no meta.lastUpdated: the version needs a fallback.
            assert!(matches!(
                r.version(None),
                Err(ReadError::NoEventTime { .. })
            ));
            count += 1;
        }
        assert_eq!(count, lines, "{}: one resource per line", path.display());
        total += count;
    }
    assert_eq!(total, 7160, "wc -l of the corpus");
}

#[test]
fn bulk_export_counts_per_file() {
    let counts: Vec<String> = corpus("bulk-10-patients")
        .iter()
        .map(|path| {
            let file = fs::File::open(path).expect("corpus file opens");
            let n = NdjsonReader::new(BufReader::new(file), ReadOptions::default())
                .filter(Result::is_ok)
                .count();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            format!("{name} {n}")
        })
        .collect();
    expect![[r#"
        AllergyIntolerance.000.ndjson 11
        Condition.000.ndjson 555
        Device.000.ndjson 16
        DocumentReference.000.ndjson 1215
        Encounter.000.ndjson 1215
        Immunization.000.ndjson 161
        Location.000.ndjson 44
        MedicationRequest.000.ndjson 1745
        Organization.000.ndjson 43
        Patient.000.ndjson 13
        Practitioner.000.ndjson 43
        PractitionerRole.000.ndjson 43
        Procedure.000.ndjson 2056
    "#]]
    .assert_eq(&(counts.join("\n") + "\n"));
}

#[test]
fn ndjson_byte_offsets_point_at_line_starts() {
    let path = &corpus("bulk-10-patients")[0];
    let bytes = fs::read(path).expect("corpus file reads");
    let file = fs::File::open(path).expect("corpus file opens");
    for item in NdjsonReader::new(BufReader::new(file), ReadOptions::default()) {
        let r = item.expect("corpus line reads");
        let offset = usize::try_from(r.source().byte_offset.expect("offset")).expect("fits");
        assert!(bytes[offset..].starts_with(r.json().as_bytes()));
        assert!(offset == 0 || bytes[offset - 1] == b'\n');
    }
}

#[test]
fn hl7v2_expected_bundles_read_entry_by_entry() {
    let files = corpus("hl7v2-to-fhir-expected");
    assert!(files.len() > 100);
    let mut total = 0;
    let mut without_id = 0;
    for path in files {
        let head = fs::read(&path).expect("corpus file reads");
        assert_eq!(detect(&head), Some(Format::Bundle), "{}", path.display());
        let file = fs::File::open(&path).expect("corpus file opens");
        let mut yielded = 0;
        // Some entries (Organization, Location, Practitioner, ...) carry no id:
        // the converter leaves them to conditional updates by identifier.
        let options = ReadOptions::default().require_id(false);
        let summary = read_bundle(BufReader::new(file), &options, |item| {
            let r = item.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if r.identity().id().is_none() {
                without_id += 1;
            }
            assert_eq!(r.source().entry, Some(yielded));
            assert!(r.entry().is_some());
            assert!(r.json().starts_with('{'));
            yielded += 1;
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(yielded > 0, "{} has entries", path.display());
        assert_eq!(summary.entries, yielded + summary.entries_without_resource);
        assert!(summary.bundle_type.is_some());
        total += yielded;
    }
    expect!["7629 resources, 2 without id"]
        .assert_eq(&format!("{total} resources, {without_id} without id"));
}

#[test]
fn bundle_entries_carry_full_url_and_request() {
    let bundle = r#"{"resourceType":"Bundle","type":"transaction","entry":[
        {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"p1","meta":{"versionId":"3","lastUpdated":"2024-05-01T12:00:00.5-05:00"}},"request":{"method":"PUT","url":"Patient/p1"}},
        {"request":{"method":"DELETE","url":"Patient/p0"}},
        {"fullUrl":"urn:uuid:2","resource":{"id":"nope"}},
        {"resource":{"resourceType":"Observation","id":"o1"}}
    ],"link":[{"relation":"self","url":"x"}]}"#;
    let mut shown = Vec::new();
    let summary = read_bundle(bundle.as_bytes(), &ReadOptions::default(), |item| {
        shown.push(match item {
            Ok(r) => {
                let e = r.entry().expect("from a Bundle");
                format!(
                    "ok {} {:?} {:?} {:?} {:?} {:?}",
                    r.source(),
                    r.identity().id(),
                    e.full_url,
                    e.method,
                    e.url,
                    r.version(None).map(|v| v.to_string()).ok()
                )
            }
            Err(e) => format!("err {} {e}", e.code()),
        });
        ControlFlow::Continue(())
    })
    .expect("the Bundle reads");
    expect![[r#"
        ok entry 0 Some("p1") Some("urn:uuid:1") Some("PUT") Some("Patient/p1") Some("1714582800500000:s3")
        err FHIR-0004 entry 2: not a FHIR resource (no resourceType)
        ok entry 3 Some("o1") None None None None
    "#]]
    .assert_eq(&(shown.join("\n") + "\n"));
    assert_eq!(summary.entries, 4);
    assert_eq!(summary.entries_without_resource, 1);
    assert_eq!(summary.bundle_type.as_deref(), Some("transaction"));
}

#[test]
fn bundle_reader_stops_when_asked_and_refuses_non_bundles() {
    let bundle = r#"{"resourceType":"Bundle","type":"collection","entry":[
        {"resource":{"resourceType":"Patient","id":"a"}},{"resource":{"resourceType":"Patient","id":"b"}}]}"#;
    let mut n = 0;
    let summary = read_bundle(bundle.as_bytes(), &ReadOptions::default(), |_| {
        n += 1;
        ControlFlow::Break(())
    })
    .expect("stopping is not an error");
    assert!(summary.stopped);
    assert_eq!(n, 1);

    let err = read_bundle(
        br#"{"resourceType":"Patient","id":"a"}"#.as_slice(),
        &ReadOptions::default(),
        |_| ControlFlow::Continue(()),
    )
    .expect_err("a Patient is not a Bundle");
    assert_eq!(err.code().code(), "FHIR-0012");

    let err = read_bundle(
        br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"}},"#
            .as_slice(),
        &ReadOptions::default(),
        |_| ControlFlow::Continue(()),
    )
    .expect_err("truncated");
    expect![[r#"input: invalid JSON (unexpected end of input: EOF while parsing a value) at line 1 column 83"#]]
        .assert_eq(&err.to_string());
}

#[test]
fn bad_ndjson_lines_are_items_and_the_stream_goes_on() {
    check_ndjson(
        concat!(
            "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n",
            "\n",
            "{\"resourceType\":\"Patient\",\"id\":\"b\",\"name\":[{\"family\":\"Secret\"\n",
            "   \r\n",
            "{\"resourceType\":\"Patient\",\"id\":\"c\",\"meta\":{\"versionId\":\"10\"}}\r\n",
            "[1,2]\n",
            "{\"resourceType\":\"patient record\",\"id\":\"d\"}\n",
            "{\"resourceType\":\"Patient\",\"name\":[]}\n",
            "{\"resourceType\":\"Patient\",\"id\":\"has space\"}\n",
            "{\"resourceType\":\"Patient\",\"id\":\"e\",\"meta\":{\"lastUpdated\":\"2024-01-01\"}}\n",
            "{\"resourceType\":\"Patient\",\"id\":\"f\"} trailing\n",
            "{\"resourceType\":\"Patient\",\"id\":\"g\"}",
        ),
        expect![[r#"
            ok Patient Some("a") v=None at line 1, byte 0
            err FHIR-0001 line 3, byte 37: invalid JSON (unexpected end of input: EOF while parsing an object) at line 1 column 61
            ok Patient Some("c") v=Some("10") at line 5, byte 104
            err FHIR-0004 line 6, byte 167: not a FHIR resource (no resourceType)
            err FHIR-0005 line 7, byte 173: resourceType is not a type name
            err FHIR-0007 line 8, byte 216: Patient has no id
            err FHIR-0008 line 9, byte 253: id is not a FHIR id
            err FHIR-0009 line 10, byte 297: meta.lastUpdated is not a FHIR instant
            err FHIR-0001 line 11, byte 369: invalid JSON (syntax error: trailing characters) at line 1 column 37
            ok Patient Some("g") v=None at line 12, byte 414
        "#]],
    );
}

#[test]
fn errors_never_quote_resource_values() {
    let secret = "Zebediah-Quux";
    let inputs = [
        format!(
            "{{\"resourceType\":\"Patient\",\"id\":\"a\",\"name\":[{{\"family\":\"{secret}\"\n"
        ),
        format!("{{\"resourceType\":\"Patient\",\"id\":\"{secret} x\"}}\n"),
        format!("{{\"resourceType\":\"{secret} x\",\"id\":\"a\"}}\n"),
        format!(
            "{{\"resourceType\":\"Patient\",\"id\":\"a\",\"meta\":{{\"lastUpdated\":\"{secret}\"}}}}\n"
        ),
        format!(
            "{{\"resourceType\":\"Patient\",\"id\":\"a\",\"meta\":{{\"versionId\":[\"{secret}\"]}}}}\n"
        ),
    ];
    for input in &inputs {
        for item in ndjson(input) {
            let err = item.expect_err("every input is bad");
            let shown = format!("{err} {err:?} {}", err.to_rejection());
            assert!(!shown.contains("Zebediah"), "{shown}");
        }
    }
    let validations = [
        format!("{{\"resourceType\":\"Patient\",\"gender\":\"{secret}\"}}"),
        format!("{{\"resourceType\":\"Patient\",\"name\":{{\"family\":\"{secret}\"}}}}"),
        format!("{{\"resourceType\":\"Patient\",\"birthDate\":\"{secret}\"}}"),
        format!("{{\"resourceType\":\"Patient\",\"active\":\"{secret}\"}}"),
        format!("{{\"resourceType\":\"Observation\",\"status\":\"{secret}\",\"code\":{{}}}}"),
    ];
    for input in &validations {
        let err = validate(input).expect_err("every resource is invalid");
        let shown = format!("{err} {err:?} {}", err.to_rejection());
        assert!(!shown.contains("Zebediah"), "{shown}");
    }
}

#[test]
fn validation_reports_paths() {
    check_validate(
        r#"{"resourceType":"Patient","id":"a","name":{"family":"X"}}"#,
        expect![[r#"
            FHIR-0011 path=Some("name"): input: does not conform to FHIR R4B at name: expected a sequence, found map
        "#]],
    );
    check_validate(
        r#"{"resourceType":"Observation","id":"o","code":{"text":"t"}}"#,
        expect![[r#"
            FHIR-0011 path=Some("."): input: does not conform to FHIR R4B at .: missing field `status`
        "#]],
    );
    check_validate(
        r#"{"resourceType":"Observation","id":"o","status":"final"}"#,
        expect![[r#"
            FHIR-0011 path=Some("."): input: does not conform to FHIR R4B at .: missing field `code`
        "#]],
    );
    check_validate(
        r#"{"resourceType":"Patient","id":"a","name":[{"given":"X"}]}"#,
        expect![[r#"
            FHIR-0011 path=Some("name[0].given"): input: does not conform to FHIR R4B at name[0].given: expected a sequence, found string
        "#]],
    );
    check_validate(
        r#"{"resourceType":"Spaceship","id":"a"}"#,
        expect![[r#"
            FHIR-0006 path=None: input: unknown resourceType Spaceship
        "#]],
    );
    check_validate(r#"{"resourceType":"Patient","id":"a"}"#, expect!["ok\n"]);
    assert!(read::is_r4b_resource_type("Observation"));
    assert!(!read::is_r4b_resource_type("MedicinalProduct"));
}

#[test]
fn validation_paths_in_bundle_entries() {
    let bundle = r#"{"resourceType":"Bundle","type":"batch","entry":[
        {"resource":{"resourceType":"Patient","id":"a"}},
        {"resource":{"resourceType":"Patient","id":"b"}},
        {"resource":{"resourceType":"Patient","id":"c"}},
        {"resource":{"resourceType":"Observation","id":"o","code":{},"status":["final"]}}]}"#;
    let mut errors = Vec::new();
    read_bundle(bundle.as_bytes(), &ReadOptions::default(), |item| {
        let r = item.expect("entries read");
        if let Err(e) = r.validate() {
            errors.push(format!("{} {}", e.code(), e.to_rejection()));
        }
        ControlFlow::Continue(())
    })
    .expect("Bundle reads");
    expect![[r#"
        FHIR-0011 FHIR-0011 at entry[3].resource.status: entry 3: does not conform to FHIR R4B at entry[3].resource.status: expected a string, found sequence
    "#]]
    .assert_eq(&(errors.join("\n") + "\n"));
}

/// Every corpus resource against the R4B model: the R4 → R4B findings.
#[test]
fn corpus_validates_as_r4b() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in corpus("bulk-10-patients") {
        let file = fs::File::open(&path).expect("corpus file opens");
        for item in NdjsonReader::new(BufReader::new(file), ReadOptions::default()) {
            let r = item.expect("corpus line reads");
            checked += 1;
            if let Err(e) = r.validate() {
                failures.push(format!("{} {e}", r.identity().resource_type()));
            }
        }
    }
    for path in corpus("hl7v2-to-fhir-expected") {
        let file = fs::File::open(&path).expect("corpus file opens");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        let options = ReadOptions::default().require_id(false);
        read_bundle(BufReader::new(file), &options, |item| {
            let r = item.expect("corpus entry reads");
            checked += 1;
            if let Err(e) = r.validate() {
                failures.push(format!("{name} {} {e}", r.identity().resource_type()));
            }
            ControlFlow::Continue(())
        })
        .expect("corpus Bundle reads");
    }
    failures.sort();
    failures.dedup();
    assert!(checked > 8000);
    expect![[r#"
        ADT-A40-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ADT-A40-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ADT01-23-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ADT01-23-expected.json Provenance entry 12: does not conform to FHIR R4B at entry[12].resource: missing field `agent`
        ADT01-28-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ADT01-28-expected.json Provenance entry 10: does not conform to FHIR R4B at entry[10].resource: missing field `agent`
        ADT04-23-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ADT04-23-expected.json Patient entry 4: does not conform to FHIR R4B at entry[4].resource.telecom[0].use: invalid value
        ADT04-23-expected.json Practitioner entry 12: does not conform to FHIR R4B at entry[12].resource.name[0].use: invalid value
        ADT04-23-expected.json Practitioner entry 6: does not conform to FHIR R4B at entry[6].resource.name[0].use: invalid value
        ADT04-23-expected.json Practitioner entry 7: does not conform to FHIR R4B at entry[7].resource.name[0].use: invalid value
        ADT04-251-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ADT04-28-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ADT04-28-expected.json Provenance entry 13: does not conform to FHIR R4B at entry[13].resource: missing field `agent`
        IZ_1_1.1_Admin_Child_Max_Message-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        LAB-ORU-1-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        LAB-ORU-1-expected.json Provenance entry 1: does not conform to FHIR R4B at entry[1].resource.agent[0]: missing field `who`
        LAB-ORU-2-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        LAB-ORU-2-expected.json Provenance entry 1: does not conform to FHIR R4B at entry[1].resource.agent[0]: missing field `who`
        LRI_2.0-NG_CBC_Typ_Message-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDHHS-OML-O21-1-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDHHS-OML-O21-2-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T01-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T01-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T02-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T02-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T02-03-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T05-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T05-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T06-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T06-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T09-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T09-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T10-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        MDM-T10-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        ORU-R01-RMGEAD-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        OUL-R22-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        OUL-R22-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        OUL-R23-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        OUL-R23-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        OUL-R24-01-expected.json DiagnosticReport entry 100: does not conform to FHIR R4B at entry[100].resource: missing field `status`
        OUL-R24-01-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        OUL-R24-02-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`
        VXU-V04-01-expected.json DocumentReference entry 88: does not conform to FHIR R4B at entry[88].resource: missing field `status`
        VXU-expected.json MessageHeader entry 0: does not conform to FHIR R4B at entry[0].resource.source: missing field `endpoint`"#]].assert_eq(&failures.join("\n"));
}

#[test]
fn single_resources_and_detection() {
    let r = read_resource(
        br#"{"resourceType":"Patient","id":"a","meta":{"lastUpdated":"2024-01-01T00:00:00Z"}}"#
            .as_slice(),
        &ReadOptions::default(),
    )
    .expect("reads");
    assert_eq!(r.source(), Source::WHOLE);
    assert_eq!(
        r.version(None).expect("has lastUpdated"),
        Version::new(
            EventTime::from_unix_seconds(1_704_067_200),
            Tiebreaker::None
        )
    );
    let err = read_resource(
        br#"{"resourceType":"Patient","id":"a"}"#.as_slice(),
        &ReadOptions::default().max_bytes(10),
    )
    .expect_err("too large");
    assert_eq!(err.code().code(), "FHIR-0002");

    let nd = fs::read(&corpus("bulk-10-patients")[9]).expect("Patient file reads");
    assert_eq!(detect(&nd[..nd.len().min(64 << 10)]), Some(Format::Ndjson));
    assert_eq!(
        detect(b"\xEF\xBB\xBF{\"resourceType\":\"Bundle\"}"),
        Some(Format::Bundle)
    );
    assert_eq!(
        detect(b"{\"id\":\"x\",\n \"resourceType\" : \"Patient\"}"),
        Some(Format::Resource)
    );
    assert_eq!(detect(b"ISA*00*"), None);
    assert_eq!(detect(b""), None);
}

#[test]
fn missing_id_rules() {
    let text = "{\"resourceType\":\"Patient\",\"name\":[]}\n";
    let strict = ndjson(text);
    assert!(matches!(strict[0], Err(ReadError::MissingId { .. })));
    let lenient: Vec<_> =
        NdjsonReader::new(text.as_bytes(), ReadOptions::default().require_id(false)).collect();
    let r = lenient[0].as_ref().expect("yielded without id");
    assert_eq!(r.identity().id(), None);
    let err = r.record_key().expect_err("cannot be merged");
    assert_eq!(err.code().code(), "FHIR-0007");
}

#[test]
fn versions_use_last_updated_then_version_id_in_natural_order() {
    let at = |v: &str, t: &str| {
        let json = format!(
            "{{\"resourceType\":\"Patient\",\"id\":\"a\",\"meta\":{{\"versionId\":\"{v}\",\"lastUpdated\":\"{t}\"}}}}"
        );
        RawResource::parse(json, &ReadOptions::default(), Source::WHOLE)
            .expect("parses")
            .version(None)
            .expect("has a version")
    };
    let t = "2024-01-01T00:00:00Z";
    assert!(at("2", t) < at("10", t), "\"2\" < \"10\"");
    assert!(at("v2", t) < at("v10", t));
    // The same instant written with another offset is the same event time.
    assert_eq!(at("1", "2024-01-01T02:00:00+02:00"), at("1", t));
    assert!(at("99", t) < at("1", "2024-01-01T00:00:00.000001Z"));
    assert!(Tiebreaker::from_text("2") < Tiebreaker::from_text("10"));

    // Without lastUpdated the caller's fallback is the event time.
    let r = RawResource::parse(
        r#"{"resourceType":"Patient","id":"a","meta":{"versionId":"7"}}"#.to_owned(),
        &ReadOptions::default(),
        Source::WHOLE,
    )
    .expect("parses");
    let export = EventTime::from_unix_seconds(1_700_000_000);
    assert_eq!(
        r.version(Some(export)).expect("fallback"),
        Version::new(export, Tiebreaker::Sequence(7))
    );
    assert_eq!(
        r.record_key().expect("has id").parts()[0],
        KeyPart::from("a")
    );
}

/// The NDJSON reader holds one line: a line over the limit is skipped in
/// pieces (never buffered whole) and the next line still comes.
#[test]
fn memory_is_bounded_by_one_line() {
    let big = format!(
        "{{\"resourceType\":\"Binary\",\"id\":\"b\",\"data\":\"{}\"}}\n",
        "A".repeat(100_000)
    );
    let text = format!("{big}{{\"resourceType\":\"Patient\",\"id\":\"a\"}}\n");
    let items: Vec<_> = NdjsonReader::new(
        BufReader::with_capacity(4096, text.as_bytes()),
        ReadOptions::default().max_bytes(10_000),
    )
    .collect();
    assert!(matches!(
        items[0],
        Err(ReadError::TooLarge { limit: 10_000, .. })
    ));
    let next = items[1].as_ref().expect("the next line reads");
    assert_eq!(next.source().line, Some(2));
    assert_eq!(next.source().byte_offset, Some(big.len() as u64));
}

#[test]
fn codes_are_unique_and_in_range() {
    check_unique(read::CODES).expect("unique codes");
    for code in read::CODES {
        let n: u32 = code.code()["FHIR-".len()..].parse().expect("numeric");
        assert!((1..=39).contains(&n), "{code} in FHIR-0001..0039");
    }
}

/// What a Bundle reader hands over, as text: each entry (its source, id,
/// resource JSON, entry URL) or error code, then the summary or the error.
fn bundle_transcript(
    read: impl FnOnce(
        &mut dyn FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
    ) -> Result<caresync_fhir::read::BundleSummary, ReadError>,
) -> String {
    let mut out = String::new();
    let result = read(&mut |item| {
        match item {
            Ok(r) => out.push_str(&format!(
                "{} {:?} {} {:?}\n",
                r.source(),
                r.identity().id(),
                r.json(),
                r.entry().map(|e| e.full_url.clone())
            )),
            Err(e) => out.push_str(&format!("{} {}\n", e.code(), e.source_location())),
        }
        ControlFlow::Continue(())
    });
    match result {
        Ok(s) => out.push_str(&format!("{s:?}")),
        Err(e) => out.push_str(&format!("error {} {e}", e.code())),
    }
    out
}

#[test]
fn bundle_slice_reader_matches_the_stream_reader() {
    let options = ReadOptions::default().require_id(false);
    let mut inputs: Vec<Vec<u8>> = corpus("hl7v2-to-fhir-expected")
        .into_iter()
        .map(|p| fs::read(p).expect("corpus file reads"))
        .collect();
    for bad in [
        br#"{"resourceType":"Bundle","entry":[{"resource":{"id":"x"}},{"resource":{"resourceType":"Patient","id":"a"}}]}"#.as_slice(),
        br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"}},"#,
        br#"{"resourceType":"Patient","id":"a"}"#,
        br#"{"entry":[]}"#,
        b"[1,2]",
        b"",
    ] {
        inputs.push(bad.to_vec());
    }
    for input in &inputs {
        let streamed = bundle_transcript(|each| read_bundle(input.as_slice(), &options, each));
        let sliced = bundle_transcript(|each| read_bundle_slice(input, &options, each));
        assert_eq!(sliced, streamed);
    }
    // Bytes that are not UTF-8: the slice reader says so before reading
    // any entry; the stream reader fails on them as bad JSON.
    let bad = b"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"\xff\"}}]}";
    let sliced = bundle_transcript(|each| read_bundle_slice(bad, &options, each));
    expect!["error FHIR-0003 input: not UTF-8"].assert_eq(&sliced);
}
