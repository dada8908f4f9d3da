//! Deterministic synthetic patients and encounters.
//!
//! A [`Generator`] seeded with the same number yields the same records on
//! every machine and every run (it uses ChaCha8, whose output is fixed by its
//! specification), so tests and benchmarks can rely on exact values. Every
//! value is invented: names, MRNs, SSNs and NPIs belong to nobody.
//!
//! Values are realistic where parsers, policies and contracts care: NPIs carry
//! a valid Luhn check digit, SSNs avoid the ranges the SSA never issues, some
//! patients are over 89 and some live in a ZIP3 area that HIPAA Safe Harbor
//! requires to be reported as `000`. A configurable share of records are
//! *nasty*: names with apostrophes, hyphens, accents, CJK characters and the
//! HL7 v2 delimiter characters `| ^ ~ \ &`.

use std::sync::Arc;

use arrow_array::builder::{Date32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

/// Administrative sex as HL7 v2 table 0001 and FHIR code it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sex {
    /// `F` / `female`
    Female,
    /// `M` / `male`
    Male,
    /// `O` / `other`
    Other,
    /// `U` / `unknown`
    Unknown,
}

impl Sex {
    /// The HL7 v2 code (`F`, `M`, `O`, `U`).
    pub fn hl7_code(self) -> &'static str {
        match self {
            Sex::Female => "F",
            Sex::Male => "M",
            Sex::Other => "O",
            Sex::Unknown => "U",
        }
    }

    /// The FHIR `AdministrativeGender` code.
    pub fn fhir_code(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

/// A postal address in the United States.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// Street line.
    pub line: String,
    /// City.
    pub city: String,
    /// Two-letter state code.
    pub state: String,
    /// Five-digit ZIP code.
    pub zip: String,
}

/// A synthetic patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patient {
    /// Stable logical id (`pat-` and 12 hex digits), unique per generator.
    pub id: String,
    /// Medical record number (`MRN` and 8 digits), unique per generator.
    pub mrn: String,
    /// Family name.
    pub family: String,
    /// Given name.
    pub given: String,
    /// Middle name, when there is one.
    pub middle: Option<String>,
    /// Administrative sex.
    pub sex: Sex,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Social security number, `AAA-GG-SSSS`, never in a range the SSA does not issue.
    pub ssn: String,
    /// Phone number, `(NPA) NXX-XXXX` with a 555-01xx fictional line.
    pub phone: String,
    /// Home address.
    pub address: Address,
    /// When this version of the record was last changed.
    pub updated_at: DateTime<Utc>,
}

/// Encounter class, as in HL7 v2 PV1-2 and FHIR `Encounter.class`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncounterClass {
    /// `I` / `IMP`
    Inpatient,
    /// `O` / `AMB`
    Outpatient,
    /// `E` / `EMER`
    Emergency,
}

impl EncounterClass {
    /// The HL7 v2 PV1-2 code.
    pub fn hl7_code(self) -> &'static str {
        match self {
            EncounterClass::Inpatient => "I",
            EncounterClass::Outpatient => "O",
            EncounterClass::Emergency => "E",
        }
    }

    /// The FHIR v3 ActCode.
    pub fn fhir_code(self) -> &'static str {
        match self {
            EncounterClass::Inpatient => "IMP",
            EncounterClass::Outpatient => "AMB",
            EncounterClass::Emergency => "EMER",
        }
    }
}

/// A synthetic encounter of a [`Patient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encounter {
    /// Stable logical id (`enc-` and 12 hex digits).
    pub id: String,
    /// The patient's logical id.
    pub patient_id: String,
    /// The patient's MRN.
    pub mrn: String,
    /// Inpatient, outpatient or emergency.
    pub class: EncounterClass,
    /// Admission (or arrival) time.
    pub admit_at: DateTime<Utc>,
    /// Discharge time; `None` while the encounter is in progress.
    pub discharge_at: Option<DateTime<Utc>>,
    /// Payer class: `commercial`, `medicare`, `medicaid`, `self-pay`, `tricare`.
    pub payer_class: String,
    /// Facility name.
    pub facility: String,
    /// Attending physician's NPI (10 digits, valid check digit).
    pub attending_npi: String,
    /// Principal diagnosis, ICD-10-CM.
    pub diagnosis_code: String,
    /// When this version of the record was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A seeded generator of patients and encounters.
///
/// ```
/// use caresync_testkit::generate::Generator;
///
/// let a = Generator::new(7).patients(3);
/// let b = Generator::new(7).patients(3);
/// assert_eq!(a, b);
/// assert_ne!(a, Generator::new(8).patients(3));
/// ```
#[derive(Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    nasty_rate: f64,
    next_patient: u64,
    next_encounter: u64,
    id_salt: u64,
}

impl Generator {
    /// A generator whose output is fixed by `seed`; 5% of records are nasty.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let id_salt = rng.random();
        Generator {
            rng,
            nasty_rate: 0.05,
            next_patient: 0,
            next_encounter: 0,
            id_salt,
        }
    }

    /// Sets the share of nasty records, from 0.0 (none) to 1.0 (all).
    pub fn with_nasty_rate(mut self, rate: f64) -> Self {
        self.nasty_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// The next patient.
    pub fn patient(&mut self) -> Patient {
        let n = self.next_patient;
        self.next_patient += 1;
        let nasty = self.rng.random_bool(self.nasty_rate);
        let sex = *pick(
            &mut self.rng,
            &[
                Sex::Female,
                Sex::Male,
                Sex::Female,
                Sex::Male,
                Sex::Other,
                Sex::Unknown,
            ],
        );
        let given_pool = match (sex, nasty) {
            (_, true) => NASTY_GIVEN,
            (Sex::Female, false) => FEMALE_GIVEN,
            (Sex::Male, false) => MALE_GIVEN,
            _ => NEUTRAL_GIVEN,
        };
        let family = if nasty {
            pick(&mut self.rng, NASTY_FAMILY).to_string()
        } else {
            pick(&mut self.rng, FAMILY).to_string()
        };
        let given = pick(&mut self.rng, given_pool).to_string();
        let middle = self
            .rng
            .random_bool(0.6)
            .then(|| pick(&mut self.rng, NEUTRAL_GIVEN).to_string());
        // Ages 0 to 105, so some patients are over 89.
        let birth_date = NaiveDate::from_ymd_opt(2025, 1, 1)
            .expect("a valid date")
            .checked_sub_signed(Duration::days(self.rng.random_range(0..105 * 365)))
            .expect("within chrono's range");
        let place = *pick(&mut self.rng, PLACES);
        let zip = format!("{}{:02}", place.zip3, self.rng.random_range(0..100));
        let address = Address {
            line: format!(
                "{} {} {}",
                self.rng.random_range(1..9999),
                pick(&mut self.rng, STREETS),
                pick(&mut self.rng, &["St", "Ave", "Rd", "Blvd", "Ln", "Way"])
            ),
            city: place.city.to_owned(),
            state: place.state.to_owned(),
            zip,
        };
        let phone = format!(
            "({}) 555-01{:02}",
            place.area_code,
            self.rng.random_range(0..100)
        );
        let ssn = self.ssn();
        let updated_at = self.time_between(2024, 2026);
        Patient {
            id: format!("pat-{:012x}", self.id_of(n)),
            mrn: format!("MRN{:08}", self.mrn_of(n)),
            family,
            given,
            middle,
            sex,
            birth_date,
            ssn,
            phone,
            address,
            updated_at,
        }
    }

    /// The next `n` patients.
    pub fn patients(&mut self, n: usize) -> Vec<Patient> {
        (0..n).map(|_| self.patient()).collect()
    }

    /// The next encounter of `patient`, after the patient's birth.
    pub fn encounter(&mut self, patient: &Patient) -> Encounter {
        let n = self.next_encounter;
        self.next_encounter += 1;
        let class = *pick(
            &mut self.rng,
            &[
                EncounterClass::Outpatient,
                EncounterClass::Outpatient,
                EncounterClass::Emergency,
                EncounterClass::Inpatient,
            ],
        );
        let admit_at = self.time_between(2024, 2026);
        let stay_minutes = match class {
            EncounterClass::Outpatient => self.rng.random_range(15..240),
            EncounterClass::Emergency => self.rng.random_range(60..1_440),
            EncounterClass::Inpatient => self.rng.random_range(1_440..20_160),
        };
        let discharge_at =
            (!self.rng.random_bool(0.1)).then(|| admit_at + Duration::minutes(stay_minutes));
        let updated_at =
            discharge_at.unwrap_or(admit_at) + Duration::seconds(self.rng.random_range(0..3_600));
        Encounter {
            id: format!("enc-{:012x}", self.id_of(n ^ 0x5555_5555)),
            patient_id: patient.id.clone(),
            mrn: patient.mrn.clone(),
            class,
            admit_at,
            discharge_at,
            payer_class: pick(&mut self.rng, PAYER_CLASSES).to_string(),
            facility: pick(&mut self.rng, FACILITIES).to_string(),
            attending_npi: self.npi(),
            diagnosis_code: pick(&mut self.rng, ICD10).to_string(),
            updated_at,
        }
    }

    /// Patients with `per_patient` encounters each.
    pub fn patients_with_encounters(
        &mut self,
        patients: usize,
        per_patient: usize,
    ) -> (Vec<Patient>, Vec<Encounter>) {
        let ps = self.patients(patients);
        let es = ps
            .iter()
            .flat_map(|p| {
                (0..per_patient)
                    .map(|_| self.encounter(p))
                    .collect::<Vec<_>>()
            })
            .collect();
        (ps, es)
    }

    /// A unique, scrambled 48-bit identifier for the n-th record.
    fn id_of(&self, n: u64) -> u64 {
        // An invertible mix (so distinct n give distinct ids), salted per seed.
        let mut x = n.wrapping_add(self.id_salt);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        // Distinct 64-bit values stay distinct in practice after folding to 48 bits.
        (x ^ (x >> 48)) & 0xffff_ffff_ffff
    }

    /// An 8-digit MRN, distinct for the first 10^8 patients: `n ↦ a·n + b mod 10^8`
    /// is a bijection because `a` is coprime to 10^8.
    fn mrn_of(&self, n: u64) -> u64 {
        const A: u64 = 48_271; // odd and not a multiple of 5
        (n % 100_000_000 * A + self.id_salt % 100_000_000) % 100_000_000
    }

    fn time_between(&mut self, from_year: i32, to_year: i32) -> DateTime<Utc> {
        let start = Utc
            .with_ymd_and_hms(from_year, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid instant");
        let end = Utc
            .with_ymd_and_hms(to_year, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid instant");
        let span = (end - start).num_seconds();
        start
            + Duration::seconds(self.rng.random_range(0..span))
            + Duration::microseconds(self.rng.random_range(0..1_000_000))
    }

    fn ssn(&mut self) -> String {
        // Area 001-899 except 666; group 01-99; serial 0001-9999.
        let area = loop {
            let a = self.rng.random_range(1..900);
            if a != 666 {
                break a;
            }
        };
        format!(
            "{area:03}-{:02}-{:04}",
            self.rng.random_range(1..100),
            self.rng.random_range(1..10_000)
        )
    }

    fn npi(&mut self) -> String {
        let first = *pick(&mut self.rng, &[1u8, 2]);
        let mut digits = vec![first];
        digits.extend((0..8).map(|_| self.rng.random_range(0..10u8)));
        digits.push(npi_check_digit(&digits));
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

/// The Luhn check digit of the first nine digits of an NPI, computed with the
/// card-issuer prefix 80840 as the NPI standard prescribes.
fn npi_check_digit(first_nine: &[u8]) -> u8 {
    // The prefix 80840 contributes a constant 24 to the Luhn sum.
    let mut sum = 24u32;
    for (i, &d) in first_nine.iter().rev().enumerate() {
        let d = u32::from(d);
        sum += if i % 2 == 0 {
            let doubled = d * 2;
            doubled / 10 + doubled % 10
        } else {
            d
        };
    }
    ((10 - sum % 10) % 10) as u8
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("pools are not empty")
}

/// The Arrow schema of [`patients_batch`].
pub fn patient_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("mrn", DataType::Utf8, false),
        Field::new("family", DataType::Utf8, false),
        Field::new("given", DataType::Utf8, false),
        Field::new("middle", DataType::Utf8, true),
        Field::new("sex", DataType::Utf8, false),
        Field::new("birth_date", DataType::Date32, false),
        Field::new("ssn", DataType::Utf8, false),
        Field::new("phone", DataType::Utf8, false),
        Field::new("address_line", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("zip", DataType::Utf8, false),
        Field::new("updated_at", utc_micros(), false),
    ]))
}

/// The Arrow schema of [`encounters_batch`].
pub fn encounter_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("patient_id", DataType::Utf8, false),
        Field::new("mrn", DataType::Utf8, false),
        Field::new("class", DataType::Utf8, false),
        Field::new("admit_at", utc_micros(), false),
        Field::new("discharge_at", utc_micros(), true),
        Field::new("payer_class", DataType::Utf8, false),
        Field::new("facility", DataType::Utf8, false),
        Field::new("attending_npi", DataType::Utf8, false),
        Field::new("diagnosis_code", DataType::Utf8, false),
        Field::new("updated_at", utc_micros(), false),
    ]))
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn timestamps(values: impl Iterator<Item = Option<DateTime<Utc>>>) -> ArrayRef {
    let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for v in values {
        b.append_option(v.map(|t| t.timestamp_micros()));
    }
    Arc::new(b.finish())
}

/// Patients as one Arrow record batch with [`patient_schema`].
pub fn patients_batch(patients: &[Patient]) -> RecordBatch {
    let col = |f: fn(&Patient) -> &str| strings(patients.iter().map(|p| Some(f(p))));
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    let mut birth = Date32Builder::new();
    for p in patients {
        let days = (p.birth_date - epoch).num_days();
        birth.append_value(i32::try_from(days).expect("birth dates are near the epoch"));
    }
    let columns: Vec<ArrayRef> = vec![
        col(|p| &p.id),
        col(|p| &p.mrn),
        col(|p| &p.family),
        col(|p| &p.given),
        strings(patients.iter().map(|p| p.middle.as_deref())),
        col(|p| p.sex.hl7_code()),
        Arc::new(birth.finish()),
        col(|p| &p.ssn),
        col(|p| &p.phone),
        col(|p| &p.address.line),
        col(|p| &p.address.city),
        col(|p| &p.address.state),
        col(|p| &p.address.zip),
        timestamps(patients.iter().map(|p| Some(p.updated_at))),
    ];
    RecordBatch::try_new(patient_schema(), columns).expect("columns match the schema")
}

/// Encounters as one Arrow record batch with [`encounter_schema`].
pub fn encounters_batch(encounters: &[Encounter]) -> RecordBatch {
    let col = |f: fn(&Encounter) -> &str| strings(encounters.iter().map(|e| Some(f(e))));
    let columns: Vec<ArrayRef> = vec![
        col(|e| &e.id),
        col(|e| &e.patient_id),
        col(|e| &e.mrn),
        col(|e| e.class.hl7_code()),
        timestamps(encounters.iter().map(|e| Some(e.admit_at))),
        timestamps(encounters.iter().map(|e| e.discharge_at)),
        col(|e| &e.payer_class),
        col(|e| &e.facility),
        col(|e| &e.attending_npi),
        col(|e| &e.diagnosis_code),
        timestamps(encounters.iter().map(|e| Some(e.updated_at))),
    ];
    RecordBatch::try_new(encounter_schema(), columns).expect("columns match the schema")
}

/// Age in whole years on `on`.
pub fn age_on(birth_date: NaiveDate, on: NaiveDate) -> u32 {
    let mut years = on.year() - birth_date.year();
    if (on.month(), on.day()) < (birth_date.month(), birth_date.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

#[derive(Clone, Copy)]
struct Place {
    city: &'static str,
    state: &'static str,
    zip3: &'static str,
    area_code: &'static str,
}

const fn place(
    city: &'static str,
    state: &'static str,
    zip3: &'static str,
    area_code: &'static str,
) -> Place {
    Place {
        city,
        state,
        zip3,
        area_code,
    }
}

const PLACES: &[Place] = &[
    place("Boston", "MA", "021", "617"),
    place("Springfield", "IL", "627", "217"),
    place("Austin", "TX", "787", "512"),
    place("Seattle", "WA", "981", "206"),
    place("Atlanta", "GA", "303", "404"),
    place("Denver", "CO", "802", "303"),
    place("Minneapolis", "MN", "554", "612"),
    place("Phoenix", "AZ", "850", "602"),
    place("Columbus", "OH", "432", "614"),
    place("Nashville", "TN", "372", "615"),
    // Small ZIP3 areas: 036 is on HIPAA Safe Harbor's list of areas of
    // 20,000 people or fewer (reported as 000); 693 and 870 are rural but
    // not on that list (2000 Census), so they stay.
    place("Keene", "NH", "036", "603"),
    place("Scottsbluff", "NE", "693", "308"),
    place("Grants", "NM", "870", "505"),
];

const FAMILY: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
];

const FEMALE_GIVEN: &[&str] = &[
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Betty",
    "Sandra",
    "Ashley",
    "Emily",
    "Maria",
    "Olivia",
];

const MALE_GIVEN: &[&str] = &[
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Christopher",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Jose",
    "Wei",
    "Noah",
];

const NEUTRAL_GIVEN: &[&str] = &[
    "Alex", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn", "Rowan",
];

const NASTY_FAMILY: &[&str] = &[
    "O'Brien",
    "Smith-Jones",
    "Núñez",
    "Müller",
    "李",
    "van der Berg",
    "D'Angelo-Ruiz",
    "Smith|Jones",
    "Ng^Lee",
    "Back\\Slash",
    "Tilde~Rep",
    "Amp&Sub",
    "Ó Súilleabháin",
    "Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaftschaferswessenschafewarenwohlgepflegeundsorgfaltigkeitbeschutzenvonangreifendurchihrraubgierigfeindewelchevoralternzwolftausendjahresvorandieerscheinenwanderersteerdemenschderraumschiffgebrauchlichtalsseinursprungvonkraftgestartseinlangefahrthinzwischensternartigraumaufdersuchenachdiesternwelchegehabtbewohnbarplanetenkreisedrehensichundwohinderneurassevonverstandigmenschlichkeitkonntefortpflanzenundsicherfreuenanlebenslanglichfreudeundruhemitnichteinfurchtvorangreifenvonandererintelligentgeschopfsvonhinzwischensternartigraum",
];

const NASTY_GIVEN: &[&str] = &[
    "José",
    "Zoë",
    "François",
    "Siobhán",
    "Анна",
    "明",
    "Mary-Jane",
    "D'Andre",
    "J.R.",
    "Ana María",
];

const STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
];

const PAYER_CLASSES: &[&str] = &["commercial", "medicare", "medicaid", "self-pay", "tricare"];

const FACILITIES: &[&str] = &[
    "General Hospital",
    "St. Mary Medical Center",
    "University Clinic",
    "Riverside Community Hospital",
    "Northside Urgent Care",
];

const ICD10: &[&str] = &[
    "E11.9", "I10", "J45.909", "M54.5", "N39.0", "R07.9", "J18.9", "K21.9", "F41.1", "Z00.00",
    "S52.501A", "O80", "I21.4", "C50.911", "U07.1",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn luhn_valid_npi(npi: &str) -> bool {
        // Independent check: Luhn over "80840" + all ten digits.
        let digits: Vec<u32> = format!("80840{npi}")
            .chars()
            .map(|c| c.to_digit(10).expect("digits"))
            .collect();
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                if i % 2 == 1 {
                    (d * 2) / 10 + (d * 2) % 10
                } else {
                    d
                }
            })
            .sum();
        npi.len() == 10 && sum.is_multiple_of(10)
    }

    #[test]
    fn known_npi_check_digit() {
        // 1234567893 is the example NPI in the CMS standard.
        assert_eq!(npi_check_digit(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), 3);
        assert!(luhn_valid_npi("1234567893"));
        assert!(!luhn_valid_npi("1234567890"));
    }

    #[test]
    fn generated_values_are_valid() {
        let mut g = Generator::new(42);
        let (patients, encounters) = g.patients_with_encounters(500, 2);
        for e in &encounters {
            assert!(luhn_valid_npi(&e.attending_npi), "bad NPI check digit");
            if let Some(d) = e.discharge_at {
                assert!(d > e.admit_at);
            }
            assert!(e.updated_at >= e.admit_at);
        }
        for p in &patients {
            let area: u32 = p.ssn[..3].parse().expect("digits");
            assert!(area != 0 && area != 666 && area < 900);
            assert_eq!(p.address.zip.len(), 5);
        }
        let mut ids: Vec<&str> = patients.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), patients.len(), "patient ids are unique");
        let mut mrns: Vec<&str> = patients.iter().map(|p| p.mrn.as_str()).collect();
        mrns.sort_unstable();
        mrns.dedup();
        assert_eq!(mrns.len(), patients.len(), "MRNs are unique");
        let on = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
        assert!(patients.iter().any(|p| age_on(p.birth_date, on) > 89));
        assert!(patients.iter().any(|p| p.address.zip.starts_with("036")));
        assert!(
            patients
                .iter()
                .any(|p| p.family.contains(['|', '^', '~', '\\', '&', '\'']))
        );
    }

    #[test]
    fn nasty_rate_is_respected() {
        let clean = Generator::new(1).with_nasty_rate(0.0).patients(300);
        assert!(clean.iter().all(|p| FAMILY.contains(&p.family.as_str())));
        let nasty = Generator::new(1).with_nasty_rate(1.0).patients(50);
        assert!(
            nasty
                .iter()
                .all(|p| NASTY_FAMILY.contains(&p.family.as_str()))
        );
    }

    #[test]
    fn batches_have_one_row_per_record() {
        let mut g = Generator::new(3);
        let (p, e) = g.patients_with_encounters(10, 3);
        let pb = patients_batch(&p);
        let eb = encounters_batch(&e);
        assert_eq!((pb.num_rows(), eb.num_rows()), (10, 30));
        assert_eq!(pb.schema(), patient_schema());
        assert_eq!(eb.schema(), encounter_schema());
        let null_discharges = e.iter().filter(|e| e.discharge_at.is_none()).count();
        assert_eq!(eb.column(5).null_count(), null_discharges);
    }

    #[test]
    fn ages_count_whole_years() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert_eq!(age_on(d(1935, 6, 15), d(2025, 6, 14)), 89);
        assert_eq!(age_on(d(1935, 6, 15), d(2025, 6, 15)), 90);
        assert_eq!(age_on(d(2030, 1, 1), d(2025, 1, 1)), 0);
    }
}
