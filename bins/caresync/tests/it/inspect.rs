use std::path::PathBuf;

use serde_json::Value;

use crate::caresync_with_stderr;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    path.display().to_string()
}

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

#[test]
fn inspect_prints_one_json_object_per_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        &dir,
        "two.hl7",
        b"MSH|^~\\&|LAB|H|||20240101120000||ORU^R01^ORU_R01|C1|P|2.5.1\nPID|1||42^^^H^MR~7^^^SSA^SS||Doe\\S\\x^Jane\nMSH|^~\\&|LAB|H|||20240101||ADT^A08|C2|P|2.5\nPID|1\n",
    );
    let (ok, out, err) = caresync_with_stderr(&["inspect", &file]);
    assert!(ok, "{err}");
    let msgs = lines(&out);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["type"], "ORU^R01");
    assert_eq!(msgs[0]["structure"], "ORU_R01");
    assert_eq!(msgs[0]["control_id"], "C1");
    assert_eq!(msgs[0]["timestamp"], "20240101120000");
    let pid = &msgs[0]["segments"][1];
    assert_eq!(pid["id"], "PID");
    assert_eq!(pid["fields"][2][1][3], "SSA", "PID-3(2).4");
    assert_eq!(pid["fields"][4][0][0], "Doe^x", "escapes decoded");
    assert_eq!(pid["fields"][0], serde_json::json!([["1"]]));
    assert_eq!(msgs[1]["control_id"], "C2");
    assert_eq!(msgs[1]["offset"], 102);
}

#[test]
fn summary_and_strict_report_issues_with_offsets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        &dir,
        "bad.hl7",
        b"MSH|^~\\&|A|H|||20240101||ADT^A01|C1|P|2.5\rPID|1|\\F\rMSH|^~\\&|A|H|||20240101||ADT^A01|C2|P|2.5\rPID|2\r",
    );
    let (ok, out, err) = caresync_with_stderr(&["inspect", "--summary", &file]);
    assert!(ok, "lenient by default: {err}");
    let summary = &lines(&out)[0];
    assert_eq!(summary["messages"], 2);
    assert_eq!(summary["types"]["ADT^A01"], 2);
    assert_eq!(summary["issues"][0]["code"], "HL7-0012");
    assert_eq!(summary["issues"][0]["offset"], 48);

    let (ok, _, err) = caresync_with_stderr(&["inspect", "--summary", "--strict", &file]);
    assert!(!ok, "strict fails on an issue");
    assert!(err.contains("byte 48: HL7-0012"), "{err}");
}

#[test]
fn inspect_reads_mllp_captures_and_refuses_unknown_formats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = write(
        &dir,
        "capture.bin",
        b"\x0bMSH|^~\\&|A|H|||20240101||ADT^A01|C1|P|2.5\rPID|1\r\x1c\x0d\x0bMSH|^~\\&|A|H|||20240101||ADT^A04|C2|P|2.5\r\x1c\x0d",
    );
    let (ok, out, err) = caresync_with_stderr(&["inspect", &capture]);
    assert!(ok, "{err}");
    let ids: Vec<_> = lines(&out)
        .iter()
        .map(|m| m["control_id"].clone())
        .collect();
    assert_eq!(ids, ["C1", "C2"]);

    let other = write(&dir, "notes.txt", b"hello");
    let (ok, _, err) = caresync_with_stderr(&["inspect", &other]);
    assert!(!ok);
    assert!(err.contains("unrecognised format"), "{err}");
}

#[test]
fn inspect_accepts_the_whole_corpus_strictly_enough() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/hl7v2/fhir-converter-samples");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hl7"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    let mut args = vec!["inspect", "--summary"];
    args.extend(files.iter().map(String::as_str));
    let (ok, out, err) = caresync_with_stderr(&args);
    assert!(ok, "{err}");
    let summaries = lines(&out);
    assert_eq!(summaries.len(), files.len());
    for s in &summaries {
        assert_eq!(s["unreadable"], 0, "{s}");
        let errors = s["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .filter(|i| i["severity"] == "error")
            .count();
        assert_eq!(errors, 0, "{s}");
    }
}

#[test]
fn inspect_reads_fhir_ndjson_and_bundles_with_issues() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ndjson = write(
        &dir,
        "Patient.ndjson",
        b"{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"2\",\"lastUpdated\":\"2024-01-01T00:00:00Z\"}}\n\
          {\"resourceType\":\"Patient\",\"id\":\"p2\",\"name\":{\"family\":\"Secretname\"}}\n\
          not json\n\
          {\"resourceType\":\"Observation\",\"id\":\"o1\",\"status\":\"final\",\"code\":{\"text\":\"x\"}}\n",
    );
    let (ok, out, err) = caresync_with_stderr(&["inspect", &ndjson]);
    assert!(ok, "{err}");
    assert!(
        !out.contains("Secretname"),
        "values are not echoed in issues"
    );
    let rows = lines(&out);
    assert_eq!(rows.len(), 3, "the bad line is an issue, not a row");
    assert_eq!(
        (
            rows[0]["type"].as_str(),
            rows[0]["id"].as_str(),
            rows[0]["version_id"].as_str()
        ),
        (Some("Patient"), Some("p1"), Some("2"))
    );
    assert_eq!(
        rows[1]["issues"][0]["path"], "name",
        "cardinality violation with its path"
    );
    assert_eq!(rows[2]["line"], 4);

    let (ok, out, _) = caresync_with_stderr(&["inspect", "--summary", "--strict", &ndjson]);
    assert!(!ok, "strict fails on issues");
    let summary = &lines(&out)[0];
    assert_eq!(summary["format"], "fhir-ndjson");
    assert_eq!(summary["types"]["Patient"], 2);
    assert_eq!(summary["unreadable"], 1);

    let bundle = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/fhir/hl7v2-to-fhir-expected/ADT-A01-01-expected.json");
    let (ok, out, err) =
        caresync_with_stderr(&["inspect", "--summary", &bundle.display().to_string()]);
    assert!(ok, "{err}");
    let summary = &lines(&out)[0];
    assert_eq!(summary["format"], "fhir-bundle");
    assert!(summary["types"]["Patient"].as_u64() >= Some(1));
}

#[test]
fn to_fhir_prints_a_message_bundle_per_hl7_message() {
    let msg = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/hl7v2/fhir-converter-samples/ADT-A01-01.hl7");
    let (ok, out, err) =
        caresync_with_stderr(&["inspect", "--to-fhir", &msg.display().to_string()]);
    assert!(ok, "{err}");
    let bundles = lines(&out);
    assert_eq!(bundles.len(), 1);
    assert_eq!(bundles[0]["resourceType"], "Bundle");
    assert_eq!(bundles[0]["type"], "message");
    let types: Vec<&str> = bundles[0]["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert_eq!(types.first(), Some(&"MessageHeader"));
    assert!(
        types.contains(&"Patient") && types.contains(&"Encounter") && types.contains(&"Provenance"),
        "{types:?}"
    );
    // The same message maps to the same bundle.
    let (_, again, _) = caresync_with_stderr(&["inspect", "--to-fhir", &msg.display().to_string()]);
    assert_eq!(out, again);
}

#[test]
fn to_fhir_reports_an_unmappable_message_and_maps_the_others() {
    let dir = tempfile::tempdir().expect("temp dir");
    let batch = write(
        &dir,
        "batch.hl7",
        b"MSH|^~\\&|A|FAC|C|D|20240101120000||ADT^A01^ADT_A01|M1|P|2.5.1\rPID|1||42^^^H^MR||Doe^Jane\rPV1|1|I\r\
          MSH|^~\\&|A|FAC|C|D|20240101120100||ADT^A01^ADT_A01|M2|P|2.5.1\rPV1|1|I\r\
          MSH|^~\\&|A|FAC|C|D|20240101120200||ADT^A08^ADT_A01|M3|P|2.5.1\rPID|1||43^^^H^MR||Roe^Rick\rPV1|1|O\r",
    );
    let (ok, out, err) = caresync_with_stderr(&["inspect", "--to-fhir", &batch]);
    assert!(ok, "{err}");
    let bundles = lines(&out);
    assert_eq!(
        bundles.len(),
        2,
        "the messages around the bad one are mapped"
    );
    assert!(
        err.contains("message 1") && err.contains("FHIR-0202") && err.contains("PID"),
        "{err}"
    );
    assert!(!err.contains("Doe") && !err.contains("Roe"), "{err}");

    let (ok, out, err) =
        caresync_with_stderr(&["inspect", "--to-fhir", "--summary", "--strict", &batch]);
    assert!(!ok, "strict fails on an unmapped message");
    let summary = &lines(&out)[0];
    assert_eq!(summary["unreadable"], 1);
    assert_eq!(summary["issues"][0]["code"], "FHIR-0202");
    assert!(err.contains("FHIR-0202"), "{err}");
}

fn x12_corpus(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/x12")
        .join(rel)
        .display()
        .to_string()
}

#[test]
fn inspect_prints_a_line_per_x12_claim_and_paid_claim() {
    let claims = x12_corpus("linuxforhealth/837_005010X223A3/two-claims-single-provider.837i");
    let (ok, out, err) = caresync_with_stderr(&["inspect", &claims]);
    assert!(ok, "{err}");
    let rows = lines(&out);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["transaction"], "837");
        assert_eq!(r["kind"], "institutional");
        assert_eq!(r["total_charge"], r["line_charges"], "{r}");
        assert_eq!(r["issues"], serde_json::json!([]));
    }
    let remits = x12_corpus("linuxforhealth/835_005010X221A1/managed-care.835");
    let (ok, out, err) = caresync_with_stderr(&["inspect", &remits]);
    assert!(ok, "{err}");
    let rows = lines(&out);
    let paid: Vec<&str> = rows.iter().filter_map(|r| r["paid"].as_str()).collect();
    assert_eq!(paid, ["450.00", "495.00"]);
    assert_eq!(rows[0]["total_paid"], "945.00");
    assert_eq!(rows[0]["adjustments"][0]["reason"], "A2");
}

#[test]
fn inspect_summarises_x12_issues_and_prints_acknowledgements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = std::fs::read(x12_corpus(
        "linuxforhealth/837_005010X222A2/demo.example1.837",
    ))
    .expect("corpus file");
    let bad = String::from_utf8(good.clone())
        .expect("ASCII")
        .replace("CLM*26463774*100.00", "CLM*26463774*101.00");
    let bad = write(&dir, "unbalanced.837", bad.as_bytes());
    let (ok, out, err) = caresync_with_stderr(&["inspect", "--summary", "--strict", &bad]);
    assert!(!ok, "strict fails on an unbalanced claim");
    assert!(err.contains("X12-0107"), "{err}");
    let summary = &lines(&out)[0];
    assert_eq!(summary["format"], "x12");
    assert_eq!(summary["messages"], 1);
    assert_eq!(summary["issues"][0]["segment_id"], "CLM");
    assert_eq!(summary["issues"][0]["element"], 2);
    let (ok, out, err) = caresync_with_stderr(&["inspect", "--ack", "999", &bad]);
    assert!(ok, "{err}");
    assert!(out.contains("~ST*999*"), "{out}");
    assert!(
        out.contains("~IK4*2**"),
        "the CLM02 element is named: {out}"
    );
    assert!(out.contains("~AK9*R*1*1*0~"), "{out}");
    assert!(
        !out.contains("SMITH"),
        "no patient data in an acknowledgement"
    );
    let good = write(&dir, "good.837", &good);
    let (ok, out, _) = caresync_with_stderr(&["inspect", "--ack", "999", &good]);
    assert!(ok);
    assert!(out.contains("~IK5*A~AK9*A*1*1*1~"), "{out}");
    let hl7 = write(
        &dir,
        "m.hl7",
        b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rPID|1\r",
    );
    let (ok, _, err) = caresync_with_stderr(&["inspect", "--ack", "999", &hl7]);
    assert!(!ok && err.contains("not X12"), "{err}");
}
