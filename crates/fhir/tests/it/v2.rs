//! HL7 v2 → FHIR mapping against the converter samples and their reference Bundles.

use std::fs;
use std::path::{Path, PathBuf};

use caresync_fhir::v2::{self, Error, IssueKind};
use caresync_hl7v2::Message;
use caresync_testkit::hl7::{Hl7Generator, Hl7Kind, Hl7Options};
use serde_json::Value;

const SAMPLES: &str = "../../../shared/corpora/hl7v2/fhir-converter-samples";
const EXPECTED: &str = "../../../shared/corpora/fhir/hl7v2-to-fhir-expected";

fn root(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

/// The samples of supported types that have a reference Bundle.
fn samples() -> Vec<(String, Vec<u8>, Value)> {
    let mut out = Vec::new();
    let mut names: Vec<String> = fs::read_dir(root(SAMPLES))
        .expect("samples are readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".hl7")
                && (n.starts_with("ADT-") || n.starts_with("ORU-R01-") || n.starts_with("VXU-V04-"))
        })
        .collect();
    names.sort();
    for name in names {
        let stem = name.trim_end_matches(".hl7");
        let expected = root(EXPECTED).join(format!("{stem}-expected.json"));
        let Ok(text) = fs::read_to_string(&expected) else {
            continue;
        };
        let input = fs::read(root(SAMPLES).join(&name)).expect("sample is readable");
        let msg = Message::parse(&input).expect("sample parses");
        let supported = msg
            .header()
            .message_type()
            .and_then(|t| t.known())
            .is_some_and(v2::is_supported);
        if supported {
            out.push((
                stem.to_owned(),
                input,
                serde_json::from_str(&text).expect("reference is JSON"),
            ));
        }
    }
    out
}

fn resources<'a>(bundle: &'a Value, ty: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| &e["resource"])
                .filter(|r| r["resourceType"] == ty)
                .collect()
        })
        .unwrap_or_default()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Default, Debug)]
struct Tally {
    messages: usize,
    checks: usize,
    differences: Vec<String>,
    unmatched: Vec<String>,
}

impl Tally {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.differences.push(what());
        }
    }
}

/// Seconds since 1970 of a FHIR dateTime with time and zone (dates compare as text).
fn instant(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return Err(s.to_owned());
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().map_err(|_| s.to_owned());
    let (y, mo, d, h, mi, sec) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    let zone = &s[s.len() - 6..];
    let off = if s.ends_with('Z') {
        0
    } else {
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        sign * (zone[1..3].parse::<i64>().map_err(|_| s.to_owned())? * 60
            + zone[4..6].parse::<i64>().map_err(|_| s.to_owned())?)
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h * 3600 + mi * 60 + sec - off * 60)
}

fn first_code(cc: &Value) -> Option<&str> {
    cc["coding"][0]["code"].as_str()
}

fn compare(stem: &str, ours: &Value, theirs: &Value, t: &mut Tally) {
    // Patient: every name and PID identifier we produce is in the reference.
    let (op, tp) = (resources(ours, "Patient"), resources(theirs, "Patient"));
    if let (Some(o), Some(r)) = (op.first(), tp.first()) {
        for name in o["name"].as_array().into_iter().flatten() {
            let found = r["name"].as_array().into_iter().flatten().any(|n| {
                n["family"] == name["family"] && strs(&n["given"]) == strs(&name["given"])
            });
            t.check(found, || format!("{stem}: Patient.name {name}"));
        }
        for id in o["identifier"].as_array().into_iter().flatten() {
            let found = r["identifier"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["value"] == id["value"]);
            t.check(found.is_some(), || {
                format!("{stem}: Patient.identifier value {}", id["value"])
            });
            if let Some(found) = found {
                if let Some(code) = first_code(&found["type"]) {
                    t.check(first_code(&id["type"]) == Some(code), || {
                        format!(
                            "{stem}: Patient.identifier type {:?} vs {code}",
                            first_code(&id["type"])
                        )
                    });
                }
                if let Some(sys) = found["system"].as_str().filter(|s| s.starts_with("urn:")) {
                    t.check(id["system"].as_str() == Some(sys), || {
                        format!(
                            "{stem}: Patient.identifier system {} vs {sys}",
                            id["system"]
                        )
                    });
                }
            }
        }
        for field in ["birthDate", "gender"] {
            t.check(o[field] == r[field], || {
                format!("{stem}: Patient.{field} {} vs {}", o[field], r[field])
            });
        }
    } else if !tp.is_empty() {
        t.check(false, || {
            format!("{stem}: Patient count {} vs {}", op.len(), tp.len())
        });
    }
    // Encounter: class and period.
    let (oe, te) = (resources(ours, "Encounter"), resources(theirs, "Encounter"));
    if let (Some(o), Some(r)) = (oe.first(), te.first()) {
        if r["class"]["code"].is_string() {
            t.check(o["class"]["code"] == r["class"]["code"], || {
                format!(
                    "{stem}: Encounter.class {} vs {}",
                    o["class"]["code"], r["class"]["code"]
                )
            });
        }
        for edge in ["start", "end"] {
            let (a, b) = (&o["period"][edge], &r["period"][edge]);
            match (a.as_str(), b.as_str()) {
                (Some(x), Some(y)) => t.check(instant(x) == instant(y), || {
                    format!("{stem}: Encounter.period.{edge} {a} vs {b}")
                }),
                (None, None) => {}
                _ => t
                    .unmatched
                    .push(format!("{stem}: Encounter.period.{edge} {a} vs {b}")),
            }
        }
    }
    // Observations from OBX: matched by code.
    let theirs_obs = resources(theirs, "Observation");
    for o in resources(ours, "Observation") {
        let code = first_code(&o["code"]);
        let same_code: Vec<&&Value> = theirs_obs
            .iter()
            .filter(|r| first_code(&r["code"]) == code)
            .collect();
        // Several OBX may share a code: compare with the one holding the same kind of value.
        let Some(r) = same_code
            .iter()
            .find(|r| {
                [
                    "valueQuantity",
                    "valueString",
                    "valueCodeableConcept",
                    "valueDateTime",
                ]
                .iter()
                .any(|k| !o[*k].is_null() && !r[*k].is_null())
            })
            .or(same_code.first())
        else {
            t.unmatched
                .push(format!("{stem}: Observation {code:?} not in reference"));
            continue;
        };
        for key in [
            "valueQuantity",
            "valueString",
            "valueCodeableConcept",
            "valueDateTime",
        ] {
            let (a, b) = (&o[key], &r[key]);
            if b.is_null() && a.is_null() {
                continue;
            }
            if key == "valueQuantity" {
                let b_val = if b.is_null() {
                    &r["component"][0]["valueQuantity"]["value"]
                } else {
                    &b["value"]
                };
                let a_val = if a.is_null() {
                    &o["component"][0]["valueQuantity"]["value"]
                } else {
                    &a["value"]
                };
                t.check(a_val.as_f64() == b_val.as_f64(), || {
                    format!("{stem}: Observation {code:?} value {a_val} vs {b_val}")
                });
            } else if key == "valueCodeableConcept" {
                t.check(first_code(a) == first_code(b), || {
                    format!("{stem}: Observation {code:?} concept {a} vs {b}")
                });
            } else {
                t.check(a == b, || {
                    format!("{stem}: Observation {code:?} {key} {a} vs {b}")
                });
            }
        }
    }
}

#[test]
fn corpus_agrees_with_reference_bundles() {
    let mut t = Tally::default();
    for (stem, input, reference) in samples() {
        let mapped = v2::map_bytes(&input).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let ours: Value = serde_json::from_str(&mapped.bundle).expect("our Bundle is JSON");
        compare(&stem, &ours, &reference, &mut t);
        t.messages += 1;
    }
    let report = format!(
        "compared {} messages, {} checks\ndifferences:\n{}\nmapped on one side only:\n{}",
        t.messages,
        t.checks,
        t.differences.join("\n"),
        t.unmatched.join("\n"),
    );
    assert!(t.messages >= 30, "{report}");
    assert!(t.differences.is_empty(), "{report}");
    // Known gaps: PV1-44/45 the reference fills from elsewhere, and OBX the
    // reference maps to other resources (VXU funding/eligibility, ORU RP).
    assert_eq!(t.unmatched.len(), 10, "{report}");
}

#[test]
fn every_resource_is_valid_r4b() {
    for (stem, input, _) in samples() {
        let mapped = v2::map_bytes(&input).expect("maps");
        let bundle: Value = serde_json::from_str(&mapped.bundle).expect("JSON");
        assert_eq!(bundle["type"], "message", "{stem}");
        assert_eq!(
            bundle["entry"][0]["resource"]["resourceType"], "MessageHeader",
            "{stem}"
        );
        for e in bundle["entry"].as_array().expect("entries") {
            let r = &e["resource"];
            let parsed: Result<fhir_sdk::r4b::resources::Resource, _> =
                serde_json::from_value(r.clone());
            assert!(
                parsed.is_ok(),
                "{stem}: {} invalid: {:?}\n{r}",
                r["resourceType"],
                parsed.err()
            );
        }
        let whole: Result<fhir_sdk::r4b::resources::Bundle, _> =
            serde_json::from_str(&mapped.bundle);
        assert!(whole.is_ok(), "{stem}: Bundle invalid: {:?}", whole.err());
    }
}

#[test]
fn same_message_maps_to_same_json() {
    for (stem, input, _) in samples() {
        let a = v2::map_bytes(&input).expect("maps");
        let b = v2::map_bytes(&input).expect("maps");
        assert_eq!(a, b, "{stem}");
    }
}

#[test]
fn message_header_focus_names_the_main_resources() {
    let mut seen = 0;
    for (stem, input, _) in samples() {
        let mapped = v2::map_bytes(&input).expect("maps");
        let bundle: Value = serde_json::from_str(&mapped.bundle).expect("JSON");
        let entries = bundle["entry"].as_array().expect("entries");
        let header = &entries[0]["resource"];
        assert_eq!(header["resourceType"], "MessageHeader", "{stem}");
        let focus: Vec<&str> = header["focus"]
            .as_array()
            .map(|f| f.iter().filter_map(|r| r["reference"].as_str()).collect())
            .unwrap_or_default();
        // Every focus is an entry of this Bundle, of the message's main type.
        let main = match &stem[..3] {
            "ADT" => &["Patient", "Encounter"][..],
            "ORU" => &["DiagnosticReport"][..],
            _ => &["Immunization"][..],
        };
        for url in &focus {
            let entry = entries
                .iter()
                .find(|e| e["fullUrl"] == *url)
                .unwrap_or_else(|| panic!("{stem}: focus {url} is an entry"));
            let ty = entry["resource"]["resourceType"].as_str().unwrap_or("");
            assert!(main.contains(&ty), "{stem}: focus on a {ty}");
        }
        // An ADT message focuses on its Patient; ORU on its reports.
        let first_of = |ty: &str| {
            entries
                .iter()
                .find(|e| e["resource"]["resourceType"] == ty)
                .and_then(|e| e["fullUrl"].as_str())
        };
        if stem.starts_with("ADT") {
            let patient = first_of("Patient").expect("a Patient");
            assert!(focus.contains(&patient), "{stem}: focus on the Patient");
        }
        if stem.starts_with("ORU")
            && let Some(report) = first_of("DiagnosticReport")
        {
            assert!(focus.contains(&report), "{stem}: focus on the report");
        }
        seen += focus.len();
    }
    assert!(seen > 0, "some message has a focus");
}

#[test]
fn missing_pid_is_a_typed_error() {
    let input = b"MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01^ADT_A01|X1|P|2.5\rPV1|1|I\r";
    let err = v2::map_bytes(input).expect_err("no PID");
    assert!(matches!(err, Error::MissingSegment { segment: "PID" }));
    assert_eq!(err.code().code(), "FHIR-0202");
}

#[test]
fn unsupported_type_is_a_typed_error() {
    let input = b"MSH|^~\\&|A|B|C|D|20240101120000||SIU^S12|X1|P|2.5\rPID|1||1\r";
    let err = v2::map_bytes(input).expect_err("SIU");
    assert_eq!(err.code().code(), "FHIR-0200");
}

#[test]
fn bad_birth_date_is_an_issue_and_the_rest_maps() {
    let input = b"MSH|^~\\&|A|B|C|D|20240101120000+0100||ADT^A01^ADT_A01|X1|P|2.5\rPID|1||42^^^H^MR||Doe^Jane||19801345|F\r";
    let mapped = v2::map_bytes(input).expect("maps");
    assert_eq!(mapped.issues.len(), 1);
    let issue = mapped.issues[0];
    assert_eq!(issue.kind, IssueKind::BadDate);
    assert_eq!(issue.location.to_string(), "PID-7");
    assert_eq!(issue.code().code(), "FHIR-0203");
    assert!(!issue.to_string().contains("19801345"));
    let bundle: Value = serde_json::from_str(&mapped.bundle).expect("JSON");
    let patient = &resources(&bundle, "Patient")[0];
    assert_eq!(patient["gender"], "female");
    assert!(patient["birthDate"].is_null());
}

#[test]
fn ids_follow_the_documented_rules() {
    let a = b"MSH|^~\\&|A|FAC|C|D|20240101120000||ADT^A08^ADT_A01|X1|P|2.5\rPID|1||42^^^H^MR||Doe^Jane\rPV1|1|I|||||||||||||||||V9\r";
    let b = b"MSH|^~\\&|A|FAC|C|D|20240202120000||ADT^A08^ADT_A01|X2|P|2.5\rPID|1||42^^^H^MR||Doe^Janet\rPV1|1|O|||||||||||||||||V9\r";
    let ids = |input: &[u8], ty: &str| {
        let bundle: Value =
            serde_json::from_str(&v2::map_bytes(input).expect("maps").bundle).expect("JSON");
        resources(&bundle, ty)[0]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    // Another message about the same patient and visit: same Patient and Encounter.
    assert_eq!(ids(a, "Patient"), ids(b, "Patient"));
    assert_eq!(ids(a, "Encounter"), ids(b, "Encounter"));
    assert_ne!(ids(a, "MessageHeader"), ids(b, "MessageHeader"));
}

/// Parses the Bundle and validates every entry against R4B.
fn valid_bundle(bundle: &str) -> Value {
    let value: Value = serde_json::from_str(bundle).expect("the Bundle is well-formed JSON");
    caresync_fhir::validate(bundle).expect("the Bundle validates against R4B");
    value
}

#[test]
fn fields_left_out_leave_well_formed_valid_json() {
    // Ethnicity without race (an empty first extension), a length of stay,
    // dose, numeric and structured-numeric results that are not numbers:
    // each is left out with an issue, and the JSON around it stays valid.
    let adt = b"MSH|^~\\&|A|FAC|C|D|20240101120000+0100||ADT^A01^ADT_A01|X1|P|2.5.1\r\
        PID|1||42^^^H^MR||Doe^Jane||19800101|F||||||||||||||H^Hispanic or Latino^CDCREC\r\
        PV1|1|I\rPV2|||^Chest pain||||||||three\r";
    let mapped = v2::map_bytes(adt).expect("maps");
    let bundle = valid_bundle(&mapped.bundle);
    let patient = resources(&bundle, "Patient")[0];
    assert_eq!(patient["extension"].as_array().map(Vec::len), Some(1));
    assert!(resources(&bundle, "Encounter")[0]["length"].is_null());
    assert_eq!(
        mapped.issues.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [IssueKind::BadNumber]
    );
    assert_eq!(mapped.issues[0].location.to_string(), "PV2-11");

    let oru = b"MSH|^~\\&|LAB|FAC|C|D|20240101120000+0100||ORU^R01^ORU_R01|X2|P|2.5.1\r\
        PID|1||42^^^H^MR||Doe^Jane\rOBR|1||F1|24331-1^Lipid panel^LN\r\
        OBX|1|NM|2093-3^Cholesterol^LN||high|mg/dL\r\
        OBX|2|SN|2571-8^Triglyceride^LN||^abc^:^def\r\
        OBX|3|NM|2085-9^HDL^LN||45|mg/dL\r";
    let mapped = v2::map_bytes(oru).expect("maps");
    let bundle = valid_bundle(&mapped.bundle);
    let observations = resources(&bundle, "Observation");
    assert_eq!(observations.len(), 3, "every OBX is an Observation");
    assert!(observations[0]["valueQuantity"].is_null());
    assert!(observations[1]["valueRatio"].is_null());
    assert_eq!(observations[2]["valueQuantity"]["value"], 45);
    assert_eq!(
        mapped
            .issues
            .iter()
            .filter(|i| i.kind == IssueKind::BadNumber)
            .count(),
        3
    );

    let vxu = b"MSH|^~\\&|IIS|FAC|C|D|20240101120000+0100||VXU^V04^VXU_V04|X3|P|2.5.1\r\
        PID|1||42^^^H^MR||Doe^Jane\r\
        RXA|0|1|20240101||08^HepB^CVX|half|mL\r";
    let mapped = v2::map_bytes(vxu).expect("maps");
    let bundle = valid_bundle(&mapped.bundle);
    assert!(resources(&bundle, "Immunization")[0]["doseQuantity"].is_null());
    assert_eq!(mapped.issues[0].location.to_string(), "RXA-6");
}

#[test]
fn the_benchmark_message_maps_to_valid_fhir() {
    let input = fs::read(root("../../benches/parsers/data/adt_a01_2kb.hl7")).expect("fixture");
    let mapped = v2::map_bytes(&input).expect("maps");
    let bundle = valid_bundle(&mapped.bundle);
    let patient = resources(&bundle, "Patient")[0];
    assert_eq!(patient["extension"].as_array().map(Vec::len), Some(1));
    assert_eq!(patient["birthDate"], "1982-03-17");
}

#[test]
fn a_coding_system_name_with_multibyte_text_is_not_a_table() {
    // Seven bytes whose third starts a three-byte character: once a panic.
    let input = "MSH|^~\\&|LAB|FAC|C|D|20240101120000+0100||ORU^R01^ORU_R01|X1|P|2.5.1\r\
        PID|1||42^^^H^MR||Doe^Jane\rOBR|1||F1|24331-1^Lipid panel^LN\r\
        OBX|1|CWE|2093-3^Cholesterol^AB\u{20ac}CD||POS^Positive^AB\u{20ac}CD\r";
    let mapped = v2::map_bytes(input.as_bytes()).expect("maps");
    let bundle = valid_bundle(&mapped.bundle);
    let obs = resources(&bundle, "Observation")[0];
    assert_eq!(obs["code"]["coding"][0]["code"], "2093-3");
    assert!(
        !obs["code"]["coding"][0]["system"]
            .as_str()
            .is_some_and(|s| s.contains("v2-")),
        "not read as an HL7 table"
    );
}

/// An entry's resource type, id and JSON text.
type Entry = (String, String, String);

/// `(type, id, JSON)` of each entry reading `mapped`'s Bundle back yields,
/// and the same from [`v2::Mapped::resources`].
fn entries_both_ways(mapped: &v2::Mapped) -> (Vec<Entry>, Vec<Entry>) {
    let mut read = Vec::new();
    caresync_fhir::read_bundle_slice(
        mapped.bundle.as_bytes(),
        &caresync_fhir::read::ReadOptions::default(),
        |entry| {
            let r = entry.expect("our Bundle reads back");
            read.push((
                r.identity().resource_type().to_owned(),
                r.identity().id().unwrap_or("").to_owned(),
                r.json().to_owned(),
            ));
            std::ops::ControlFlow::Continue(())
        },
    )
    .expect("our Bundle reads back");
    let ours = mapped
        .resources()
        .map(|r| {
            (
                r.resource_type.to_owned(),
                r.id.to_owned(),
                r.json.to_owned(),
            )
        })
        .collect();
    (ours, read)
}

#[test]
fn mapped_resources_are_the_entries_reading_the_bundle_yields() {
    let mut seen = 0;
    for (stem, input, _) in samples() {
        let mapped = v2::map_bytes(&input).expect("maps");
        let (ours, read) = entries_both_ways(&mapped);
        assert!(read.len() >= 3, "{stem}: header, patient, provenance");
        assert_eq!(ours, read, "{stem}");
        seen += 1;
    }
    assert!(seen >= 30, "{seen} samples");
    let mut g = Hl7Generator::new(5, Hl7Options::default());
    for kind in Hl7Kind::ALL.iter().cycle().take(400) {
        let m = g.generate(*kind);
        let Ok(mapped) = v2::map_bytes(&m.bytes) else {
            continue; // a type the mapping does not take
        };
        let (ours, read) = entries_both_ways(&mapped);
        assert_eq!(ours, read, "{kind:?} {}", m.control_id);
        seen += 1;
    }
    assert!(seen >= 300, "{seen} messages");
}
