//! Deterministic synthetic X12 005010 claims (837P, 837I) and remittances
//! (835), with the values written kept as [`ClaimTruth`] and
//! [`RemitTruth`], and a [`mutate`] function that breaks a file the ways
//! real feeds break.
//!
//! ```
//! use caresync_testkit::x12::{X12Generator, X12Kind, X12Options};
//!
//! let file = X12Generator::new(7, X12Options::default()).claims_file(X12Kind::Professional, 25);
//! assert!(file.text.starts_with(b"ISA*00*"));
//! assert_eq!(file.claims.len(), 25);
//! // Balanced by construction: the claim total is the sum of its lines.
//! for c in &file.claims {
//!     assert_eq!(c.total_cents, c.lines.iter().map(|l| l.charge_cents).sum::<i64>());
//! }
//! // The same seed gives the same bytes.
//! let again = X12Generator::new(7, X12Options::default()).claims_file(X12Kind::Professional, 25);
//! assert_eq!(file.text, again.text);
//! ```
//!
//! Values never contain the delimiters in use (X12 has no escapes): names
//! from the patient [`Generator`] are upper-cased and cut to the X12 basic
//! character set. Every value is invented.

use chrono::{Datelike, NaiveDate};
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::generate::{Generator, Patient, Sex};

/// Which transaction the generator writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum X12Kind {
    /// 837P, 005010X222A1: `SV1` lines with CPT/HCPCS codes.
    Professional,
    /// 837I, 005010X223A2: `SV2` lines with revenue codes, a statement period.
    Institutional,
}

/// Options of an [`X12Generator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X12Options {
    /// Element, component, repetition separators and segment terminator.
    pub delimiters: [u8; 4],
    /// Write `\r\n` after every segment terminator (common in real files).
    pub line_breaks: bool,
    /// Claims per ST/SE transaction set (at least 1).
    pub claims_per_transaction: usize,
}

impl Default for X12Options {
    /// `*`, `:`, `^`, `~`; no line breaks; 100 claims per transaction set.
    fn default() -> Self {
        X12Options {
            delimiters: [b'*', b':', b'^', b'~'],
            line_breaks: false,
            claims_per_transaction: 100,
        }
    }
}

/// One service line as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineTruth {
    /// Line number (LX01).
    pub number: u32,
    /// Procedure code (CPT/HCPCS; the HCPCS code of an 837I line).
    pub procedure: String,
    /// Procedure modifiers.
    pub modifiers: Vec<String>,
    /// Revenue code (837I only).
    pub revenue_code: Option<String>,
    /// Line charge in cents.
    pub charge_cents: i64,
    /// Units of service.
    pub units: u32,
    /// Date of service.
    pub date: NaiveDate,
}

/// One claim as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimTruth {
    /// Patient control number (CLM01).
    pub claim_id: String,
    /// Total charge in cents (CLM02), the sum of the lines.
    pub total_cents: i64,
    /// Billing provider NPI (NM1*85, NM109).
    pub billing_npi: String,
    /// Subscriber member id (NM1*IL, NM109).
    pub member_id: String,
    /// Payer id (NM1*PR, NM109).
    pub payer_id: String,
    /// Whether the patient is the subscriber (no 2000C loop).
    pub patient_is_subscriber: bool,
    /// Patient family name as written.
    pub patient_family: String,
    /// Patient given name as written.
    pub patient_given: String,
    /// Patient birth date.
    pub patient_birth_date: NaiveDate,
    /// ICD-10-CM codes, principal first (without the dot).
    pub diagnoses: Vec<String>,
    /// Service lines.
    pub lines: Vec<LineTruth>,
}

/// A generated 837 file and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsFile {
    /// The X12 text.
    pub text: Vec<u8>,
    /// The claims, in file order.
    pub claims: Vec<ClaimTruth>,
    /// ISA13.
    pub interchange_control_number: u32,
    /// How many ST/SE transaction sets.
    pub transactions: usize,
}

/// One adjustment (CAS triplet) as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdjustmentTruth {
    /// Group code (`CO`, `PR`, `OA`).
    pub group: String,
    /// Claim adjustment reason code.
    pub reason: String,
    /// Amount in cents.
    pub amount_cents: i64,
}

/// One paid service line (SVC) as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemitLineTruth {
    /// Procedure code.
    pub procedure: String,
    /// Charge in cents (SVC02).
    pub charge_cents: i64,
    /// Payment in cents (SVC03).
    pub paid_cents: i64,
    /// Line adjustments; charge − paid = their sum.
    pub adjustments: Vec<AdjustmentTruth>,
}

/// One paid claim (CLP) as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemitClaimTruth {
    /// Patient control number (CLP01).
    pub claim_id: String,
    /// Claim status (CLP02).
    pub status: String,
    /// Total charge in cents (CLP03).
    pub charge_cents: i64,
    /// Payment in cents (CLP04).
    pub paid_cents: i64,
    /// Patient responsibility in cents (CLP05).
    pub patient_responsibility_cents: i64,
    /// Payer claim control number (CLP07).
    pub payer_claim_id: String,
    /// Service lines.
    pub lines: Vec<RemitLineTruth>,
}

/// One remittance (835 transaction set) as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemitTruth {
    /// Total payment in cents (BPR02) = Σ CLP04 − Σ PLB.
    pub total_paid_cents: i64,
    /// Check or EFT trace number (TRN02).
    pub trace_number: String,
    /// Provider-level adjustments in cents (PLB amounts; positive reduces payment).
    pub provider_adjustments_cents: Vec<i64>,
    /// Claims.
    pub claims: Vec<RemitClaimTruth>,
}

/// A generated 835 file and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemitFile {
    /// The X12 text.
    pub text: Vec<u8>,
    /// One remittance per transaction set.
    pub remittances: Vec<RemitTruth>,
}

/// A seeded generator of X12 files.
#[derive(Debug)]
pub struct X12Generator {
    rng: ChaCha8Rng,
    people: Generator,
    options: X12Options,
    next_claim: u64,
    next_control: u32,
}

const CPT: &[(&str, i64)] = &[
    ("99213", 9_500),
    ("99214", 14_000),
    ("99203", 11_000),
    ("93000", 4_500),
    ("87070", 1_500),
    ("86663", 1_000),
    ("71046", 12_500),
    ("80053", 3_200),
    ("J1885", 850),
    ("97110", 6_000),
];
const MODIFIERS: &[&str] = &["25", "59", "LT", "RT", "GT", "26", "TC"];
const REVENUE: &[(&str, &str)] = &[
    ("0450", "99284"),
    ("0300", "80053"),
    ("0320", "71046"),
    ("0250", "J1885"),
    ("0730", "93000"),
];
const ICD10: &[&str] = &[
    "E119", "I10", "J069", "M545", "R079", "Z0000", "K219", "F329", "J449", "N390", "R51",
    "S060X0A",
];
const PAYERS: &[(&str, &str)] = &[
    ("BLUE SHIELD OF EXAMPLE", "BSX01"),
    ("EXAMPLE HEALTH PLAN", "EHP77"),
    ("MEDICARE PART B EXAMPLE", "MCRB9"),
    ("STATE MEDICAID EXAMPLE", "SMCD4"),
];
const PROVIDERS: &[(&str, &str)] = &[
    ("NORTHGATE CLINIC", "1184729365"),
    ("RIVERSIDE MEDICAL GROUP", "1639271845"),
    ("LAKEVIEW HOSPITAL", "1912301953"),
];

impl X12Generator {
    /// A generator with its own seed.
    pub fn new(seed: u64, options: X12Options) -> Self {
        X12Generator {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0837_0835),
            people: Generator::new(seed),
            options: X12Options {
                claims_per_transaction: options.claims_per_transaction.max(1),
                ..options
            },
            next_claim: 0,
            next_control: 1,
        }
    }

    fn control(&mut self) -> u32 {
        let n = self.next_control;
        self.next_control += 1;
        n
    }

    /// An 837 file of `n` claims.
    pub fn claims_file(&mut self, kind: X12Kind, n: usize) -> ClaimsFile {
        let isa13 = self.control();
        let gs06 = self.control();
        let mut w = Writer::new(self.options);
        let version = match kind {
            X12Kind::Professional => "005010X222A1",
            X12Kind::Institutional => "005010X223A2",
        };
        w.isa(isa13, "SUBMITTER01", "RECEIVER01");
        w.seg(&[
            "GS",
            "HC",
            "SUBMITTER01",
            "RECEIVER01",
            "20250301",
            "1200",
            &gs06.to_string(),
            "X",
            version,
        ]);
        let mut claims = Vec::with_capacity(n);
        let per = self.options.claims_per_transaction;
        let transactions = n.div_ceil(per);
        for t in 0..transactions {
            let st02 = format!("{:04}", t + 1);
            let start = w.count;
            w.seg(&["ST", "837", &st02, version]);
            w.seg(&[
                "BHT",
                "0019",
                "00",
                &format!("B{isa13}{t}"),
                "20250301",
                "1200",
                "CH",
            ]);
            w.seg(&[
                "NM1",
                "41",
                "2",
                "EXAMPLE SUBMITTER",
                "",
                "",
                "",
                "",
                "46",
                "SUB0001",
            ]);
            w.seg(&["PER", "IC", "EDI DESK", "TE", "5555550100"]);
            w.seg(&[
                "NM1",
                "40",
                "2",
                "EXAMPLE RECEIVER",
                "",
                "",
                "",
                "",
                "46",
                "REC0001",
            ]);
            let (provider, npi) = *PROVIDERS.choose(&mut self.rng).expect("providers");
            w.seg(&["HL", "1", "", "20", "1"]);
            w.seg(&["NM1", "85", "2", provider, "", "", "", "", "XX", npi]);
            w.seg(&["N3", "100 EXAMPLE WAY"]);
            w.seg(&["N4", "SPRINGFIELD", "IL", "627040000"]);
            w.seg(&["REF", "EI", "371234567"]);
            let mut hl = 1u32;
            let count = per.min(n - t * per);
            for _ in 0..count {
                let claim = self.claim(kind, &mut w, &mut hl, npi);
                claims.push(claim);
            }
            let segments = w.count - start + 1;
            w.seg(&["SE", &segments.to_string(), &st02]);
        }
        w.seg(&["GE", &transactions.to_string(), &gs06.to_string()]);
        w.seg(&["IEA", "1", &format!("{isa13:09}")]);
        ClaimsFile {
            text: w.out,
            claims,
            interchange_control_number: isa13,
            transactions,
        }
    }

    fn claim(&mut self, kind: X12Kind, w: &mut Writer, hl: &mut u32, npi: &str) -> ClaimTruth {
        let subscriber = self.people.patient();
        let dependent = self.rng.random_bool(0.3).then(|| self.people.patient());
        let (payer, payer_id) = *PAYERS.choose(&mut self.rng).expect("payers");
        let member_id = format!("M{:09}", self.rng.random_range(0..1_000_000_000u32));
        *hl += 1;
        let sub_hl = *hl;
        let child = if dependent.is_some() { "1" } else { "0" };
        w.seg(&["HL", &sub_hl.to_string(), "1", "22", child]);
        let relationship = if dependent.is_some() { "" } else { "18" };
        w.seg(&["SBR", "P", relationship, "GRP100", "", "", "", "", "", "CI"]);
        let (sf, sg) = (
            x12_text(&subscriber.family, self.options.delimiters),
            x12_text(&subscriber.given, self.options.delimiters),
        );
        w.seg(&["NM1", "IL", "1", &sf, &sg, "", "", "", "MI", &member_id]);
        if dependent.is_none() {
            w.seg(&[
                "N3",
                &x12_text(&subscriber.address.line, self.options.delimiters),
            ]);
            w.seg(&[
                "N4",
                &x12_text(&subscriber.address.city, self.options.delimiters),
                &subscriber.address.state,
                &subscriber.address.zip,
            ]);
            w.seg(&["DMG", "D8", &d8(subscriber.birth_date), sex(&subscriber)]);
        }
        w.seg(&["NM1", "PR", "2", payer, "", "", "", "", "PI", payer_id]);
        let patient = match &dependent {
            Some(p) => {
                *hl += 1;
                w.seg(&["HL", &hl.to_string(), &sub_hl.to_string(), "23", "0"]);
                w.seg(&["PAT", "19"]);
                let (pf, pg) = (
                    x12_text(&p.family, self.options.delimiters),
                    x12_text(&p.given, self.options.delimiters),
                );
                w.seg(&["NM1", "QC", "1", &pf, &pg]);
                w.seg(&["N3", &x12_text(&p.address.line, self.options.delimiters)]);
                w.seg(&[
                    "N4",
                    &x12_text(&p.address.city, self.options.delimiters),
                    &p.address.state,
                    &p.address.zip,
                ]);
                w.seg(&["DMG", "D8", &d8(p.birth_date), sex(p)]);
                p
            }
            None => &subscriber,
        };
        self.next_claim += 1;
        let claim_id = format!("CLM{:010}", self.next_claim);
        let n_lines = self.rng.random_range(1..=6u32);
        let n_dx = self.rng.random_range(1..=4usize);
        let diagnoses: Vec<String> = (0..n_dx)
            .map(|_| ICD10.choose(&mut self.rng).expect("codes").to_string())
            .collect();
        let first = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date")
            + chrono::Duration::days(self.rng.random_range(0..300));
        let mut lines = Vec::with_capacity(n_lines as usize);
        for number in 1..=n_lines {
            let (procedure, base) = *CPT.choose(&mut self.rng).expect("cpt");
            let units = self.rng.random_range(1..=3u32);
            let modifiers: Vec<String> = (0..self.rng.random_range(0..=2usize))
                .map(|_| MODIFIERS.choose(&mut self.rng).expect("mods").to_string())
                .collect();
            let revenue_code = match kind {
                X12Kind::Professional => None,
                X12Kind::Institutional => Some(
                    REVENUE
                        .choose(&mut self.rng)
                        .expect("revenue")
                        .0
                        .to_string(),
                ),
            };
            let cents = self.rng.random_range(0..100i64);
            lines.push(LineTruth {
                number,
                procedure: procedure.to_string(),
                modifiers,
                revenue_code,
                charge_cents: base * i64::from(units) + cents,
                units,
                date: first + chrono::Duration::days(i64::from(number - 1)),
            });
        }
        let total_cents: i64 = lines.iter().map(|l| l.charge_cents).sum();
        let last = lines.last().map_or(first, |l| l.date);
        match kind {
            X12Kind::Professional => {
                w.seg(&[
                    "CLM",
                    &claim_id,
                    &money(total_cents),
                    "",
                    "",
                    &w.comp(&["11", "B", "1"]),
                    "Y",
                    "A",
                    "Y",
                    "Y",
                ]);
                w.seg(&["DTP", "431", "D8", &d8(first)]);
            }
            X12Kind::Institutional => {
                w.seg(&[
                    "CLM",
                    &claim_id,
                    &money(total_cents),
                    "",
                    "",
                    &w.comp(&["13", "A", "1"]),
                    "",
                    "A",
                    "Y",
                    "Y",
                ]);
                w.seg(&["DTP", "434", "RD8", &format!("{}-{}", d8(first), d8(last))]);
                w.seg(&["CL1", "1", "1", "01"]);
            }
        }
        w.seg(&[
            "REF",
            "D9",
            &format!("{:015}", self.rng.next_u64() % 1_000_000_000_000_000),
        ]);
        let (principal, other) = match kind {
            X12Kind::Professional => ("ABK", "ABF"),
            X12Kind::Institutional => ("ABK", "ABF"),
        };
        let hi: Vec<String> = diagnoses
            .iter()
            .enumerate()
            .map(|(i, code)| w.comp(&[if i == 0 { principal } else { other }, code]))
            .collect();
        let mut hi_seg = vec!["HI"];
        hi_seg.extend(hi.iter().map(String::as_str));
        w.seg(&hi_seg);
        w.seg(&["NM1", "82", "1", "RENDERING", "DOC", "", "", "", "XX", npi]);
        for line in &lines {
            w.seg(&["LX", &line.number.to_string()]);
            let mut proc_parts = vec!["HC", line.procedure.as_str()];
            proc_parts.extend(line.modifiers.iter().map(String::as_str));
            let procedure = w.comp(&proc_parts);
            let units = line.units.to_string();
            match kind {
                X12Kind::Professional => {
                    let pointers = (1..=diagnoses.len().min(4))
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>();
                    let pointer_refs: Vec<&str> = pointers.iter().map(String::as_str).collect();
                    let pointers = w.comp(&pointer_refs);
                    w.seg(&[
                        "SV1",
                        &procedure,
                        &money(line.charge_cents),
                        "UN",
                        &units,
                        "",
                        "",
                        &pointers,
                    ]);
                }
                X12Kind::Institutional => {
                    let rev = line.revenue_code.as_deref().unwrap_or("0450");
                    w.seg(&[
                        "SV2",
                        rev,
                        &procedure,
                        &money(line.charge_cents),
                        "UN",
                        &units,
                    ]);
                }
            }
            w.seg(&["DTP", "472", "D8", &d8(line.date)]);
        }
        let (patient_family, patient_given) = (
            x12_text(&patient.family, self.options.delimiters),
            x12_text(&patient.given, self.options.delimiters),
        );
        ClaimTruth {
            claim_id,
            total_cents,
            billing_npi: npi.to_string(),
            member_id,
            payer_id: payer_id.to_string(),
            patient_is_subscriber: dependent.is_none(),
            patient_family,
            patient_given,
            patient_birth_date: patient.birth_date,
            diagnoses,
            lines,
        }
    }

    /// An 835 file of `remittances` transaction sets with `claims` paid
    /// claims each, balanced by construction.
    pub fn remittance_file(&mut self, remittances: usize, claims: usize) -> RemitFile {
        let isa13 = self.control();
        let gs06 = self.control();
        let mut w = Writer::new(self.options);
        w.isa(isa13, "PAYER01", "PROVIDER01");
        w.seg(&[
            "GS",
            "HP",
            "PAYER01",
            "PROVIDER01",
            "20250401",
            "0900",
            &gs06.to_string(),
            "X",
            "005010X221A1",
        ]);
        let mut out = Vec::with_capacity(remittances);
        for t in 0..remittances {
            let st02 = format!("{:04}", t + 1);
            let mut body = Writer::new(self.options);
            let mut truth_claims = Vec::with_capacity(claims);
            for _ in 0..claims {
                truth_claims.push(self.remit_claim(&mut body));
            }
            let plb: Vec<i64> = if self.rng.random_bool(0.3) {
                vec![self.rng.random_range(100..5_000i64)]
            } else {
                Vec::new()
            };
            let paid: i64 =
                truth_claims.iter().map(|c| c.paid_cents).sum::<i64>() - plb.iter().sum::<i64>();
            let trace = format!("EFT{:012}", self.rng.next_u64() % 1_000_000_000_000);
            let start = w.count;
            w.seg(&["ST", "835", &st02]);
            let method = if paid == 0 { "NON" } else { "ACH" };
            w.seg(&[
                "BPR",
                "I",
                &money(paid),
                "C",
                method,
                "CCP",
                "01",
                "011000015",
                "DA",
                "1234567",
                "1512345678",
                "",
                "01",
                "021000021",
                "DA",
                "7654321",
                "20250401",
            ]);
            w.seg(&["TRN", "1", &trace, "1512345678"]);
            w.seg(&["DTM", "405", "20250331"]);
            w.seg(&["N1", "PR", "EXAMPLE HEALTH PLAN"]);
            w.seg(&["N3", "1 PAYER PLAZA"]);
            w.seg(&["N4", "CHICAGO", "IL", "60601"]);
            w.seg(&["N1", "PE", "NORTHGATE CLINIC", "XX", "1184729365"]);
            w.seg(&["LX", "1"]);
            w.append(&body);
            for amount in &plb {
                w.seg(&[
                    "PLB",
                    "1184729365",
                    "20251231",
                    &w.comp(&["WO", "OVERPAY1"]),
                    &money(*amount),
                ]);
            }
            let segments = w.count - start + 1;
            w.seg(&["SE", &segments.to_string(), &st02]);
            out.push(RemitTruth {
                total_paid_cents: paid,
                trace_number: trace,
                provider_adjustments_cents: plb,
                claims: truth_claims,
            });
        }
        w.seg(&["GE", &remittances.to_string(), &gs06.to_string()]);
        w.seg(&["IEA", "1", &format!("{isa13:09}")]);
        RemitFile {
            text: w.out,
            remittances: out,
        }
    }

    fn remit_claim(&mut self, w: &mut Writer) -> RemitClaimTruth {
        self.next_claim += 1;
        let claim_id = format!("CLM{:010}", self.next_claim);
        let patient = self.people.patient();
        let n_lines = self.rng.random_range(1..=4usize);
        let mut lines = Vec::with_capacity(n_lines);
        for _ in 0..n_lines {
            let (procedure, base) = *CPT.choose(&mut self.rng).expect("cpt");
            let charge = base + self.rng.random_range(0..100i64);
            let allowed = charge * self.rng.random_range(40..=100i64) / 100;
            let patient_part = allowed * self.rng.random_range(0..=30i64) / 100;
            let mut adjustments = Vec::new();
            if charge > allowed {
                adjustments.push(AdjustmentTruth {
                    group: "CO".into(),
                    reason: "45".into(),
                    amount_cents: charge - allowed,
                });
            }
            if patient_part > 0 {
                adjustments.push(AdjustmentTruth {
                    group: "PR".into(),
                    reason: (*["1", "2", "3"].choose(&mut self.rng).expect("reasons")).into(),
                    amount_cents: patient_part,
                });
            }
            lines.push(RemitLineTruth {
                procedure: procedure.to_string(),
                charge_cents: charge,
                paid_cents: allowed - patient_part,
                adjustments,
            });
        }
        let charge: i64 = lines.iter().map(|l| l.charge_cents).sum();
        let paid: i64 = lines.iter().map(|l| l.paid_cents).sum();
        let patient_responsibility: i64 = lines
            .iter()
            .flat_map(|l| &l.adjustments)
            .filter(|a| a.group == "PR")
            .map(|a| a.amount_cents)
            .sum();
        let payer_claim_id = format!("PCN{:012}", self.rng.next_u64() % 1_000_000_000_000);
        w.seg(&[
            "CLP",
            &claim_id,
            "1",
            &money(charge),
            &money(paid),
            &money(patient_responsibility),
            "12",
            &payer_claim_id,
            "11",
            "1",
        ]);
        w.seg(&[
            "NM1",
            "QC",
            "1",
            &x12_text(&patient.family, self.options.delimiters),
            &x12_text(&patient.given, self.options.delimiters),
            "",
            "",
            "",
            "MI",
            &format!("M{:09}", self.rng.random_range(0..1_000_000_000u32)),
        ]);
        w.seg(&["DTM", "232", "20250301"]);
        for line in &lines {
            w.seg(&[
                "SVC",
                &w.comp(&["HC", &line.procedure]),
                &money(line.charge_cents),
                &money(line.paid_cents),
                "",
                "1",
            ]);
            w.seg(&["DTM", "472", "20250301"]);
            for group in ["CO", "PR"] {
                let adj: Vec<&AdjustmentTruth> = line
                    .adjustments
                    .iter()
                    .filter(|a| a.group == group)
                    .collect();
                if adj.is_empty() {
                    continue;
                }
                let mut parts: Vec<String> = vec!["CAS".into(), group.into()];
                for a in adj {
                    parts.push(a.reason.clone());
                    parts.push(money(a.amount_cents));
                    parts.push(String::new());
                }
                while parts.last().is_some_and(String::is_empty) {
                    parts.pop();
                }
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                w.seg(&refs);
            }
        }
        RemitClaimTruth {
            claim_id,
            status: "1".into(),
            charge_cents: charge,
            paid_cents: paid,
            patient_responsibility_cents: patient_responsibility,
            payer_claim_id,
            lines,
        }
    }
}

/// Writes segments with the chosen delimiters and counts them.
struct Writer {
    out: Vec<u8>,
    count: usize,
    options: X12Options,
}

impl Writer {
    fn new(options: X12Options) -> Self {
        Writer {
            out: Vec::with_capacity(1 << 16),
            count: 0,
            options,
        }
    }

    fn isa(&mut self, control: u32, sender: &str, receiver: &str) {
        let [e, c, r, _] = self.options.delimiters;
        let isa = format!(
            "ISA{e}00{e}          {e}00{e}          {e}ZZ{e}{sender:<15}{e}ZZ{e}{receiver:<15}{e}250301{e}1200{e}{r}{e}00501{e}{control:09}{e}0{e}T{e}{c}",
            e = char::from(e),
            c = char::from(c),
            r = char::from(r),
        );
        self.out.extend_from_slice(isa.as_bytes());
        self.end();
    }

    fn end(&mut self) {
        self.out.push(self.options.delimiters[3]);
        if self.options.line_breaks {
            self.out.extend_from_slice(b"\r\n");
        }
        self.count += 1;
    }

    /// One segment; trailing empty elements are dropped, as X12 requires.
    fn seg(&mut self, elements: &[&str]) {
        let used = elements
            .iter()
            .rposition(|e| !e.is_empty())
            .map_or(0, |i| i + 1);
        for (i, e) in elements[..used].iter().enumerate() {
            if i > 0 {
                self.out.push(self.options.delimiters[0]);
            }
            self.out.extend_from_slice(e.as_bytes());
        }
        self.end();
    }

    /// A composite element, trailing empty components dropped.
    fn comp(&self, parts: &[&str]) -> String {
        let used = parts
            .iter()
            .rposition(|e| !e.is_empty())
            .map_or(0, |i| i + 1);
        parts[..used].join(&char::from(self.options.delimiters[1]).to_string())
    }

    fn append(&mut self, other: &Writer) {
        self.out.extend_from_slice(&other.out);
        self.count += other.count;
    }
}

/// Cents as an X12 decimal (`12345` → `123.45`, `100` → `1`).
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    match c % 100 {
        0 => format!("{sign}{}", c / 100),
        r if r % 10 == 0 => format!("{sign}{}.{}", c / 100, r / 10),
        r => format!("{sign}{}.{r:02}", c / 100),
    }
}

fn d8(d: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

fn sex(p: &Patient) -> &'static str {
    match p.sex {
        Sex::Female => "F",
        Sex::Male => "M",
        _ => "U",
    }
}

/// Text in the X12 basic character set: upper case, letters, digits,
/// space and a few marks; anything else, and any of the `delimiters` in
/// use, dropped.
fn x12_text(s: &str, delimiters: [u8; 4]) -> String {
    let t: String = s
        .chars()
        .filter_map(|c| {
            let c = c.to_ascii_uppercase();
            let mark = matches!(c, ' ' | '-' | '.' | ',' | '\'');
            let delimiter = u8::try_from(c).is_ok_and(|b| delimiters.contains(&b));
            ((c.is_ascii_alphanumeric() || mark) && !delimiter).then_some(c)
        })
        .collect();
    let t = t.trim().to_string();
    if t.is_empty() { "X".into() } else { t }
}

/// How [`mutate`] broke a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// The file was cut short mid-segment.
    Truncated,
    /// One segment inside a transaction set was removed.
    DroppedSegment,
    /// SE01 (the segment count) was changed.
    WrongSegmentCount,
    /// IEA02 no longer matches ISA13.
    WrongControlNumber,
    /// A D8 date became an impossible one.
    BadDate,
    /// A claim total (CLM02 or CLP03) became a non-number.
    BadAmount,
    /// A segment no transaction defines was inserted in a claim.
    UnknownSegment,
    /// A claim total was changed so the claim no longer balances.
    Unbalanced,
    /// Line breaks after some terminators (harmless).
    LineBreaks,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Mutation; 9] = [
        Mutation::Truncated,
        Mutation::DroppedSegment,
        Mutation::WrongSegmentCount,
        Mutation::WrongControlNumber,
        Mutation::BadDate,
        Mutation::BadAmount,
        Mutation::UnknownSegment,
        Mutation::Unbalanced,
        Mutation::LineBreaks,
    ];
}

/// Breaks `input` (a file from this module, `*` and `~` delimiters) in
/// the way `mutation` names, at a place chosen by `seed`; returns `None`
/// when the file has no place for it (for example no date to break).
///
/// ```
/// use caresync_testkit::x12::{Mutation, X12Generator, X12Kind, X12Options, mutate};
///
/// let file = X12Generator::new(1, X12Options::default()).claims_file(X12Kind::Professional, 3);
/// let broken = mutate(&file.text, Mutation::WrongControlNumber, 9).expect("an IEA");
/// assert_ne!(broken, file.text);
/// ```
pub fn mutate(input: &[u8], mutation: Mutation, seed: u64) -> Option<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let text = std::str::from_utf8(input).ok()?;
    let segs: Vec<&str> = text.split('~').collect();
    let find = |pred: &dyn Fn(&str) -> bool| -> Vec<usize> {
        segs.iter()
            .enumerate()
            .filter(|(_, s)| pred(s.trim_start()))
            .map(|(i, _)| i)
            .collect()
    };
    let pick = |rng: &mut ChaCha8Rng, v: Vec<usize>| v.choose(rng).copied();
    let mut out: Vec<String> = segs.iter().map(|s| (*s).to_string()).collect();
    match mutation {
        Mutation::Truncated => {
            let len = input.len();
            if len < 8 {
                return None;
            }
            return Some(input[..rng.random_range(len / 4..len - 1)].to_vec());
        }
        Mutation::DroppedSegment => {
            let i = pick(
                &mut rng,
                find(&|s| {
                    s.starts_with("DTP*") || s.starts_with("REF*") || s.starts_with("NM1*82")
                }),
            )?;
            out.remove(i);
        }
        Mutation::WrongSegmentCount => {
            let i = pick(&mut rng, find(&|s| s.starts_with("SE*")))?;
            let mut parts: Vec<String> = out[i].split('*').map(str::to_string).collect();
            let n: u64 = parts.get(1)?.trim().parse().ok()?;
            parts[1] = (n + 1 + rng.random_range(0..5u64)).to_string();
            out[i] = parts.join("*");
        }
        Mutation::WrongControlNumber => {
            let i = pick(&mut rng, find(&|s| s.starts_with("IEA*")))?;
            out[i] = "IEA*1*999999999".into();
        }
        Mutation::BadDate => {
            let i = pick(
                &mut rng,
                find(&|s| s.starts_with("DTP*") && s.contains("*D8*")),
            )?;
            let prefix = out[i].rsplit_once('*')?.0.to_string();
            out[i] = format!("{prefix}*20251345");
        }
        Mutation::BadAmount => {
            let i = pick(
                &mut rng,
                find(&|s| s.starts_with("CLM*") || s.starts_with("CLP*")),
            )?;
            let mut parts: Vec<String> = out[i].split('*').map(str::to_string).collect();
            let at = if parts[0] == "CLM" { 2 } else { 3 };
            *parts.get_mut(at)? = "12.3.4".into();
            out[i] = parts.join("*");
        }
        Mutation::UnknownSegment => {
            let i = pick(
                &mut rng,
                find(&|s| s.starts_with("LX*") || s.starts_with("SVC*")),
            )?;
            out.insert(i, "ZZZ*UNKNOWN".into());
        }
        Mutation::Unbalanced => {
            let i = pick(
                &mut rng,
                find(&|s| s.starts_with("CLM*") || s.starts_with("CLP*")),
            )?;
            let mut parts: Vec<String> = out[i].split('*').map(str::to_string).collect();
            let at = if parts[0] == "CLM" { 2 } else { 3 };
            // A leading 1 makes the amount larger by a power of ten.
            let v = parts.get(at)?.clone();
            *parts.get_mut(at)? = format!("1{v}");
            out[i] = parts.join("*");
        }
        Mutation::LineBreaks => {
            for s in out.iter_mut().skip(1) {
                if rng.random_bool(0.5) {
                    s.insert_str(0, "\r\n");
                }
            }
        }
    }
    Some(out.join("~").into_bytes())
}
