//! Generated files round-trip: every value the testkit generator wrote is
//! read back exactly, and its realistic breakages are reported, not fatal.

use caresync_testkit::x12::{ClaimTruth, Mutation, X12Generator, X12Kind, X12Options, mutate};
use caresync_x12::claim::{Claim, ClaimKind, read_document_claims};
use caresync_x12::{Amount, Date, Document};

fn date(d: chrono::NaiveDate) -> Date {
    Date::parse_d8(&d.format("%Y%m%d").to_string()).expect("a generated date")
}

fn assert_same(claim: &Claim<'_>, truth: &ClaimTruth) {
    let id = truth.claim_id.as_str();
    assert_eq!(claim.id.as_deref(), Some(id));
    assert_eq!(
        claim.total_charge,
        Some(Amount::from_cents(truth.total_cents)),
        "{id}"
    );
    assert!(claim.issues.is_empty(), "{id}: {:?}", claim.issues);
    let billing = claim.billing_provider.as_ref().expect("billing provider");
    assert_eq!(billing.npi(), Some(truth.billing_npi.as_str()), "{id}");
    assert_eq!(
        claim.insured().and_then(|p| p.id.as_deref()),
        Some(truth.member_id.as_str())
    );
    assert_eq!(
        claim.payer().and_then(|p| p.id.as_deref()),
        Some(truth.payer_id.as_str())
    );
    assert_eq!(claim.patient_is_subscriber(), truth.patient_is_subscriber);
    let patient = claim.patient().expect("a patient");
    assert_eq!(patient.name.as_deref(), Some(truth.patient_family.as_str()));
    assert_eq!(
        patient.first_name.as_deref(),
        Some(truth.patient_given.as_str())
    );
    assert_eq!(patient.birth_date, Some(date(truth.patient_birth_date)));
    let dx: Vec<&str> = claim.diagnoses.iter().map(|d| d.code).collect();
    assert_eq!(dx, truth.diagnoses, "{id}");
    assert!(claim.diagnoses[0].principal);
    assert_eq!(claim.lines.len(), truth.lines.len(), "{id}");
    for (line, t) in claim.lines.iter().zip(&truth.lines) {
        assert_eq!(line.number, Some(t.number));
        let p = line.procedure.as_ref().expect("a procedure");
        assert_eq!(
            (p.code, p.modifiers.as_slice()),
            (
                t.procedure.as_str(),
                &t.modifiers.iter().map(String::as_str).collect::<Vec<_>>()[..]
            )
        );
        assert_eq!(line.revenue_code.as_deref(), t.revenue_code.as_deref());
        assert_eq!(line.charge, Some(Amount::from_cents(t.charge_cents)));
        assert_eq!(
            line.quantity,
            Some(Amount::from_cents(i64::from(t.units) * 100))
        );
        let period = line.service_period.expect("a service date");
        assert_eq!((period.start, period.end), (date(t.date), date(t.date)));
    }
}

#[test]
fn ten_thousand_generated_claims_read_back_exactly() {
    for (kind, expected) in [
        (X12Kind::Professional, ClaimKind::Professional),
        (X12Kind::Institutional, ClaimKind::Institutional),
    ] {
        let options = X12Options {
            line_breaks: kind == X12Kind::Institutional,
            ..X12Options::default()
        };
        let file = X12Generator::new(2026, options).claims_file(kind, 10_000);
        let doc = Document::read(&file.text).expect("reads");
        assert!(doc.issues().is_empty(), "{:?}", &doc.issues()[..1]);
        let claims = read_document_claims(&doc);
        assert!(claims.issues.is_empty(), "{:?}", &claims.issues[..1]);
        assert_eq!(claims.claims.len(), file.claims.len());
        for (claim, truth) in claims.claims.iter().zip(&file.claims) {
            assert_eq!(claim.kind, expected);
            assert_same(claim, truth);
        }
    }
}

#[test]
fn broken_files_keep_their_other_claims() {
    let file = X12Generator::new(8, X12Options::default()).claims_file(X12Kind::Professional, 40);
    for m in [
        Mutation::BadDate,
        Mutation::BadAmount,
        Mutation::Unbalanced,
        Mutation::UnknownSegment,
        Mutation::DroppedSegment,
    ] {
        for seed in 0..10 {
            let broken = mutate(&file.text, m, seed).expect("a place to break");
            let doc = Document::read(&broken).expect("reads");
            let claims = read_document_claims(&doc);
            assert_eq!(claims.claims.len(), 40, "{m:?}");
            let clean = claims.claims.iter().filter(|c| c.issues.is_empty()).count();
            let expect_issue = !matches!(m, Mutation::DroppedSegment);
            if expect_issue {
                assert_eq!(clean, 39, "{m:?} seed {seed}: one claim has the issue");
            }
            let good = claims
                .claims
                .iter()
                .zip(&file.claims)
                .filter(|(c, _)| c.issues.is_empty())
                .all(|(c, t)| c.id.as_deref() == Some(t.claim_id.as_str()));
            assert!(good, "{m:?}: claims without issues are the ones written");
        }
    }
    // Cut anywhere: never a panic, never more claims than written.
    for seed in 0..30 {
        let cut = mutate(&file.text, Mutation::Truncated, seed).expect("cut");
        if let Ok(doc) = Document::read(&cut) {
            assert!(read_document_claims(&doc).claims.len() <= 40);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any seed, kind, size, delimiters and line breaks: generate, read,
    /// and every claim compares equal to what was written.
    #[test]
    fn generate_read_compare(
        seed in proptest::prelude::any::<u64>(),
        institutional in proptest::prelude::any::<bool>(),
        n in 1usize..40,
        per in 1usize..12,
        delims in proptest::sample::select(vec![
            [b'*', b':', b'^', b'~'],
            [b'|', b'>', b'}', b'\n'],
            [b'+', b'<', b'!', b'\''],
            [0x1d, 0x1f, 0x1e, 0x1c],
        ]),
        line_breaks in proptest::prelude::any::<bool>(),
    ) {
        let kind = if institutional { X12Kind::Institutional } else { X12Kind::Professional };
        let options = X12Options { delimiters: delims, line_breaks, claims_per_transaction: per };
        let file = X12Generator::new(seed, options).claims_file(kind, n);
        let doc = Document::read(&file.text).expect("reads");
        proptest::prop_assert!(doc.issues().is_empty(), "{:?}", doc.issues());
        let claims = read_document_claims(&doc);
        proptest::prop_assert_eq!(claims.claims.len(), n);
        for (claim, truth) in claims.claims.iter().zip(&file.claims) {
            assert_same(claim, truth);
        }
    }
}
