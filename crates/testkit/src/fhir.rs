//! Seeded generators of FHIR R4 resources, bulk-export NDJSON files and
//! Bundles, built from the same invented patients and encounters as
//! [`crate::generate`].
//!
//! ```
//! use caresync_testkit::fhir::{FhirGenerator, FhirOptions, FhirType};
//!
//! let mut g = FhirGenerator::new(42, FhirOptions::default());
//! let ndjson = g.ndjson(FhirType::Patient, 3);
//! assert_eq!(ndjson.iter().filter(|&&b| b == b'\n').count(), 3);
//! let first: serde_json::Value = serde_json::from_slice(ndjson.split(|&b| b == b'\n').next().expect("a line"))?;
//! assert_eq!(first["resourceType"], "Patient");
//! # Ok::<(), serde_json::Error>(())
//! ```

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::generate::{Encounter, Generator, Patient};

/// The resource types the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FhirType {
    /// `Patient`.
    Patient,
    /// `Encounter`, referring to a generated patient.
    Encounter,
    /// `Observation` (vital signs and labs, some with components).
    Observation,
    /// `Condition` (the encounter's ICD-10-CM diagnosis).
    Condition,
}

impl FhirType {
    /// Every type.
    pub const ALL: [FhirType; 4] = [
        FhirType::Patient,
        FhirType::Encounter,
        FhirType::Observation,
        FhirType::Condition,
    ];

    /// The `resourceType` value.
    pub fn name(self) -> &'static str {
        match self {
            FhirType::Patient => "Patient",
            FhirType::Encounter => "Encounter",
            FhirType::Observation => "Observation",
            FhirType::Condition => "Condition",
        }
    }
}

/// What the generator writes besides clean resources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FhirOptions {
    /// Share of patients whose names are hard (apostrophes, delimiters, non-ASCII, very long).
    pub nasty_name_rate: f64,
    /// Share of resources without `meta.lastUpdated` (they must fall back to another rule).
    pub missing_last_updated_rate: f64,
    /// Share of resources also written as an earlier version (lower `versionId`
    /// and older `lastUpdated`), placed after the newer one: late, out-of-order data.
    pub stale_version_rate: f64,
    /// Share of resources written twice, identically: re-sent duplicates.
    pub duplicate_rate: f64,
}

impl FhirOptions {
    /// Everything turned on at rates that show up in a few hundred resources.
    pub fn nasty() -> Self {
        FhirOptions {
            nasty_name_rate: 0.3,
            missing_last_updated_rate: 0.1,
            stale_version_rate: 0.1,
            duplicate_rate: 0.1,
        }
    }
}

/// Vital signs and labs: LOINC code, display, unit (UCUM), low, high.
const QUANTITIES: &[(&str, &str, &str, f64, f64)] = &[
    ("8867-4", "Heart rate", "/min", 48.0, 130.0),
    ("9279-1", "Respiratory rate", "/min", 10.0, 30.0),
    ("8310-5", "Body temperature", "Cel", 35.5, 40.2),
    ("29463-7", "Body weight", "kg", 3.0, 160.0),
    ("8302-2", "Body height", "cm", 45.0, 205.0),
    (
        "2339-0",
        "Glucose [Mass/volume] in Blood",
        "mg/dL",
        55.0,
        380.0,
    ),
    (
        "2160-0",
        "Creatinine [Mass/volume] in Serum or Plasma",
        "mg/dL",
        0.4,
        6.5,
    ),
    (
        "718-7",
        "Hemoglobin [Mass/volume] in Blood",
        "g/dL",
        6.5,
        18.5,
    ),
];

/// A seeded FHIR generator; the same seed gives the same bytes.
#[derive(Debug)]
pub struct FhirGenerator {
    people: Generator,
    rng: ChaCha8Rng,
    options: FhirOptions,
    stays: Vec<(Patient, Encounter)>,
    observations: u64,
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl FhirGenerator {
    /// A generator for `seed`.
    pub fn new(seed: u64, options: FhirOptions) -> Self {
        FhirGenerator {
            people: Generator::new(seed).with_nasty_rate(options.nasty_name_rate),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xF41B_0000_0000_0001),
            options,
            stays: Vec::new(),
            observations: 0,
        }
    }

    fn stay(&mut self, fresh: bool) -> (Patient, Encounter) {
        if fresh || self.stays.is_empty() || self.rng.random_bool(0.3) {
            let patient = self.people.patient();
            let encounter = self.people.encounter(&patient);
            self.stays.push((patient, encounter));
            if self.stays.len() > 64 {
                self.stays.remove(0);
            }
        }
        let i = self.rng.random_range(0..self.stays.len());
        self.stays[i].clone()
    }

    fn meta(&mut self, version: u32, updated: DateTime<Utc>) -> Value {
        if self.rng.random_bool(self.options.missing_last_updated_rate) {
            json!({ "versionId": version.to_string() })
        } else {
            json!({ "versionId": version.to_string(), "lastUpdated": instant(updated) })
        }
    }

    /// One resource of `kind`, as JSON.
    pub fn resource(&mut self, kind: FhirType) -> Value {
        match kind {
            FhirType::Patient => {
                let (p, _) = self.stay(true);
                self.patient(&p)
            }
            FhirType::Encounter => {
                let (p, e) = self.stay(false);
                self.encounter(&p, &e)
            }
            FhirType::Observation => {
                let (p, e) = self.stay(false);
                self.observation(&p, &e)
            }
            FhirType::Condition => {
                let (p, e) = self.stay(false);
                self.condition(&p, &e)
            }
        }
    }

    /// A Patient resource for `p`.
    pub fn patient(&mut self, p: &Patient) -> Value {
        let version = self.rng.random_range(1..4);
        let meta = self.meta(version, p.updated_at);
        let mut given = vec![Value::from(p.given.clone())];
        if let Some(m) = &p.middle {
            given.push(Value::from(m.clone()));
        }
        json!({
            "resourceType": "Patient",
            "id": p.id,
            "meta": meta,
            "identifier": [
                {
                    "use": "usual",
                    "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR" }] },
                    "system": "urn:oid:2.16.840.1.113883.19.5",
                    "value": p.mrn,
                },
                {
                    "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS" }] },
                    "system": "http://hl7.org/fhir/sid/us-ssn",
                    "value": p.ssn,
                }
            ],
            "name": [{ "use": "official", "family": p.family, "given": given }],
            "telecom": [{ "system": "phone", "value": p.phone, "use": "home" }],
            "gender": p.sex.fhir_code(),
            "birthDate": p.birth_date.format("%Y-%m-%d").to_string(),
            "address": [{
                "use": "home",
                "line": [p.address.line],
                "city": p.address.city,
                "state": p.address.state,
                "postalCode": p.address.zip,
                "country": "US",
            }],
        })
    }

    /// An Encounter resource for `e`.
    pub fn encounter(&mut self, p: &Patient, e: &Encounter) -> Value {
        let version = self.rng.random_range(1..4);
        let meta = self.meta(version, e.updated_at);
        let mut period = json!({ "start": instant(e.admit_at) });
        if let Some(end) = e.discharge_at {
            period["end"] = Value::from(instant(end));
        }
        json!({
            "resourceType": "Encounter",
            "id": e.id,
            "meta": meta,
            "identifier": [{ "system": "urn:oid:2.16.840.1.113883.19.6", "value": e.id }],
            "status": if e.discharge_at.is_some() { "finished" } else { "in-progress" },
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": e.class.fhir_code(),
            },
            "subject": { "reference": format!("Patient/{}", p.id) },
            "participant": [{
                "individual": {
                    "identifier": { "system": "http://hl7.org/fhir/sid/us-npi", "value": e.attending_npi }
                }
            }],
            "period": period,
            "reasonCode": [{
                "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": e.diagnosis_code }]
            }],
            "serviceProvider": { "display": e.facility },
        })
    }

    /// An Observation made during `e`: a quantity, or blood pressure with two components.
    pub fn observation(&mut self, p: &Patient, e: &Encounter) -> Value {
        self.observations += 1;
        let id = format!("obs-{:012x}", self.rng.random::<u64>() & 0xFFFF_FFFF_FFFF);
        let at = e.admit_at + Duration::minutes(self.rng.random_range(0..600));
        let version = self.rng.random_range(1..3);
        let meta = self.meta(version, at + Duration::minutes(5));
        let category = |code: &str| json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": code }] }]);
        let mut obs = json!({
            "resourceType": "Observation",
            "id": id,
            "meta": meta,
            "status": "final",
            "subject": { "reference": format!("Patient/{}", p.id) },
            "encounter": { "reference": format!("Encounter/{}", e.id) },
            "effectiveDateTime": instant(at),
            "issued": instant(at + Duration::minutes(5)),
        });
        if self.rng.random_bool(0.2) {
            let systolic = self.rng.random_range(90..190);
            let diastolic = self.rng.random_range(50..systolic - 20);
            let part = |code: &str, display: &str, v: i32| {
                json!({
                    "code": { "coding": [{ "system": "http://loinc.org", "code": code, "display": display }] },
                    "valueQuantity": { "value": v, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]" }
                })
            };
            obs["category"] = category("vital-signs");
            obs["code"] = json!({ "coding": [{ "system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel" }], "text": "Blood pressure" });
            obs["component"] = json!([
                part("8480-6", "Systolic blood pressure", systolic),
                part("8462-4", "Diastolic blood pressure", diastolic),
            ]);
        } else {
            let (code, display, unit, lo, hi) =
                QUANTITIES[self.rng.random_range(0..QUANTITIES.len())];
            let value = (self.rng.random_range(lo..hi) * 10.0).round() / 10.0;
            obs["category"] = category(if unit == "mg/dL" || unit == "g/dL" {
                "laboratory"
            } else {
                "vital-signs"
            });
            obs["code"] = json!({ "coding": [{ "system": "http://loinc.org", "code": code, "display": display }], "text": display });
            obs["valueQuantity"] = json!({ "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit });
        }
        obs
    }

    /// A Condition for the encounter's principal diagnosis.
    pub fn condition(&mut self, p: &Patient, e: &Encounter) -> Value {
        let version = self.rng.random_range(1..3);
        let meta = self.meta(version, e.updated_at);
        json!({
            "resourceType": "Condition",
            "id": format!("cond-{}", e.id.trim_start_matches("enc-")),
            "meta": meta,
            "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": if e.discharge_at.is_some() { "resolved" } else { "active" } }] },
            "verificationStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed" }] },
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis" }] }],
            "code": { "coding": [{ "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": e.diagnosis_code }] },
            "subject": { "reference": format!("Patient/{}", p.id) },
            "encounter": { "reference": format!("Encounter/{}", e.id) },
            "onsetDateTime": instant(e.admit_at),
            "recordedDate": instant(e.admit_at + Duration::minutes(30)),
        })
    }

    /// `n` resources of `kind` as a bulk-export NDJSON file (one per line,
    /// each line ending in `\n`), with the stale versions and duplicates the
    /// options ask for added after their originals (they count toward `n`).
    pub fn ndjson(&mut self, kind: FhirType, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut written = 0;
        while written < n {
            let resource = self.resource(kind);
            push_line(&mut out, &resource);
            written += 1;
            if written < n && self.rng.random_bool(self.options.duplicate_rate) {
                push_line(&mut out, &resource);
                written += 1;
            }
            if written < n && self.rng.random_bool(self.options.stale_version_rate) {
                push_line(&mut out, &stale(&resource));
                written += 1;
            }
        }
        out
    }

    /// A Bundle of `n` resources of mixed types. `kind` is the Bundle type
    /// (`collection`, `searchset`, `transaction`, `batch`); transaction and
    /// batch entries carry a `PUT Type/id` request.
    pub fn bundle(&mut self, kind: &str, n: usize) -> Value {
        let entries: Vec<Value> = (0..n)
            .map(|i| {
                let t = FhirType::ALL[i % FhirType::ALL.len()];
                let resource = self.resource(t);
                let id = resource["id"].as_str().unwrap_or_default().to_owned();
                let mut entry = json!({
                    "fullUrl": format!("urn:uuid:{}", uuid_like(&mut self.rng)),
                    "resource": resource,
                });
                match kind {
                    "transaction" | "batch" => {
                        entry["request"] =
                            json!({ "method": "PUT", "url": format!("{}/{}", t.name(), id) });
                    }
                    "searchset" => entry["search"] = json!({ "mode": "match" }),
                    _ => {}
                }
                entry
            })
            .collect();
        json!({
            "resourceType": "Bundle",
            "id": uuid_like(&mut self.rng),
            "type": kind,
            "entry": entries,
        })
    }
}

fn push_line(out: &mut Vec<u8>, v: &Value) {
    // Serialising a `Value` cannot fail.
    out.extend(serde_json::to_vec(v).expect("a JSON value serialises"));
    out.push(b'\n');
}

/// The same resource one version earlier, an hour older.
fn stale(resource: &Value) -> Value {
    let mut old = resource.clone();
    let meta = &mut old["meta"];
    let version: u32 = meta["versionId"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    meta["versionId"] = Value::from(version.saturating_sub(1).to_string());
    if let Some(t) = meta["lastUpdated"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    {
        meta["lastUpdated"] = Value::from(instant(t.with_timezone(&Utc) - Duration::hours(1)));
    }
    old
}

fn uuid_like(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}
