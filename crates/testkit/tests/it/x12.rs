//! The X12 generator writes well-formed interchanges, and each mutation
//! breaks them the way it says.

use caresync_testkit::x12::{Mutation, X12Generator, X12Kind, X12Options, mutate};
use caresync_x12::{Document, codes};

fn issue_codes(text: &[u8]) -> Vec<&'static str> {
    let doc = Document::read(text).expect("an interchange");
    doc.issues().iter().map(|i| i.code.code()).collect()
}

#[test]
fn generated_files_have_clean_envelopes_in_every_shape() {
    for (kind, options) in [
        (X12Kind::Professional, X12Options::default()),
        (
            X12Kind::Institutional,
            X12Options {
                delimiters: [b'|', b'>', b'}', b'\n'],
                line_breaks: false,
                claims_per_transaction: 7,
            },
        ),
        (
            X12Kind::Professional,
            X12Options {
                line_breaks: true,
                claims_per_transaction: 1,
                ..X12Options::default()
            },
        ),
    ] {
        let file = X12Generator::new(3, options).claims_file(kind, 40);
        let doc = Document::read(&file.text).expect("reads");
        assert!(doc.issues().is_empty(), "{kind:?}: {:?}", doc.issues());
        assert_eq!(doc.transactions().count(), file.transactions);
        let clm = doc.segments().iter().filter(|s| s.is("CLM")).count();
        assert_eq!(clm, 40);
        let ic = doc.interchanges().next().expect("interchange");
        assert_eq!(
            ic.control_number().map(str::parse::<u32>),
            Some(Ok(file.interchange_control_number))
        );
    }
    let remits = X12Generator::new(3, X12Options::default()).remittance_file(3, 10);
    let doc = Document::read(&remits.text).expect("reads");
    assert!(doc.issues().is_empty(), "{:?}", doc.issues());
    assert_eq!(doc.transactions().count(), 3);
    for r in &remits.remittances {
        let paid: i64 = r.claims.iter().map(|c| c.paid_cents).sum();
        assert_eq!(
            r.total_paid_cents,
            paid - r.provider_adjustments_cents.iter().sum::<i64>()
        );
        for c in &r.claims {
            for l in &c.lines {
                let adj: i64 = l.adjustments.iter().map(|a| a.amount_cents).sum();
                assert_eq!(l.charge_cents - l.paid_cents, adj);
            }
        }
    }
}

#[test]
fn mutations_break_what_they_say() {
    let file = X12Generator::new(11, X12Options::default()).claims_file(X12Kind::Professional, 30);
    let remits = X12Generator::new(11, X12Options::default()).remittance_file(2, 5);
    for seed in 0..20 {
        for m in Mutation::ALL {
            let broken = mutate(&file.text, m, seed).expect("the file has a place for it");
            assert_ne!(broken, file.text, "{m:?}");
            let found = issue_codes(&broken);
            match m {
                Mutation::WrongSegmentCount => {
                    assert_eq!(found, [codes::COUNT_MISMATCH.code()], "{m:?}")
                }
                Mutation::WrongControlNumber => {
                    assert_eq!(found, [codes::CONTROL_NUMBER_MISMATCH.code()], "{m:?}")
                }
                Mutation::DroppedSegment | Mutation::UnknownSegment => {
                    assert_eq!(found, [codes::COUNT_MISMATCH.code()], "{m:?}")
                }
                Mutation::Truncated => assert!(
                    found.contains(&codes::MISSING_TRAILER.code()),
                    "{m:?}: {found:?}"
                ),
                // Content, not envelope: the envelope stays clean.
                Mutation::BadDate
                | Mutation::BadAmount
                | Mutation::Unbalanced
                | Mutation::LineBreaks => assert!(found.is_empty(), "{m:?}: {found:?}"),
            }
        }
        let broken = mutate(&remits.text, Mutation::Unbalanced, seed).expect("a CLP");
        assert!(issue_codes(&broken).is_empty());
    }
}

#[test]
fn the_same_seed_gives_the_same_file() {
    let a = X12Generator::new(5, X12Options::default()).claims_file(X12Kind::Institutional, 12);
    let b = X12Generator::new(5, X12Options::default()).claims_file(X12Kind::Institutional, 12);
    let c = X12Generator::new(6, X12Options::default()).claims_file(X12Kind::Institutional, 12);
    assert_eq!(a, b);
    assert_ne!(a.text, c.text);
}
