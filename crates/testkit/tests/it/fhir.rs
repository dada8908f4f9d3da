use caresync_testkit::fhir::{FhirGenerator, FhirOptions, FhirType};
use serde_json::Value;

fn lines(ndjson: &[u8]) -> Vec<Value> {
    ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn ndjson_is_deterministic_and_typed() {
    for t in FhirType::ALL {
        let a = FhirGenerator::new(9, FhirOptions::default()).ndjson(t, 50);
        let b = FhirGenerator::new(9, FhirOptions::default()).ndjson(t, 50);
        assert_eq!(a, b, "{t:?}: same seed, same bytes");
        assert_ne!(
            a,
            FhirGenerator::new(10, FhirOptions::default()).ndjson(t, 50)
        );
        let rows = lines(&a);
        assert_eq!(rows.len(), 50);
        for r in &rows {
            assert_eq!(r["resourceType"], t.name());
            assert!(r["id"].is_string());
            assert!(
                r["meta"]["lastUpdated"].is_string(),
                "clean output always has lastUpdated"
            );
        }
    }
}

#[test]
fn references_point_at_generated_patients() {
    let mut g = FhirGenerator::new(1, FhirOptions::default());
    let obs = lines(&g.ndjson(FhirType::Observation, 100));
    for o in &obs {
        let subject = o["subject"]["reference"].as_str().expect("subject");
        assert!(subject.starts_with("Patient/pat-"), "{subject}");
        assert!(
            o["valueQuantity"].is_object()
                || o["component"].as_array().is_some_and(|c| c.len() == 2)
        );
    }
}

#[test]
fn nasty_output_has_duplicates_stale_versions_and_missing_last_updated() {
    let rows = lines(&FhirGenerator::new(3, FhirOptions::nasty()).ndjson(FhirType::Patient, 400));
    assert_eq!(rows.len(), 400);
    let missing = rows
        .iter()
        .filter(|r| r["meta"]["lastUpdated"].is_null())
        .count();
    assert!(missing > 10, "{missing} without lastUpdated");
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().expect("id")).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert!(
        ids.len() < total,
        "some ids repeat (duplicates and stale versions)"
    );
    let exact_dupes = rows.windows(2).filter(|w| w[0] == w[1]).count();
    let stale = rows
        .windows(2)
        .filter(|w| w[0]["id"] == w[1]["id"] && w[0] != w[1])
        .count();
    assert!(
        exact_dupes > 5 && stale > 5,
        "{exact_dupes} duplicates, {stale} stale versions"
    );
}

#[test]
fn bundles_have_requests_for_transactions() {
    let mut g = FhirGenerator::new(5, FhirOptions::default());
    let b = g.bundle("transaction", 8);
    assert_eq!(b["resourceType"], "Bundle");
    let entries = b["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 8);
    for e in entries {
        let url = e["request"]["url"].as_str().expect("request url");
        let r = &e["resource"];
        assert_eq!(
            url,
            format!(
                "{}/{}",
                r["resourceType"].as_str().expect("type"),
                r["id"].as_str().expect("id")
            )
        );
    }
    let s = g.bundle("searchset", 4);
    assert!(s["entry"][0]["request"].is_null());
    assert_eq!(s["entry"][0]["search"]["mode"], "match");
}
