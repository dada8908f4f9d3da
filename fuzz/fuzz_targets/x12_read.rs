//! X12 reading never panics: tokenizing, envelopes, 837 claims, 835
//! remittances, their Arrow tables and the acknowledgements of whatever was
//! read; the tokenizer never yields more bytes than it was given.
#![no_main]

use caresync_x12::ack::{AckOptions, acknowledge};
use caresync_x12::claim::read_document_claims;
use caresync_x12::flatten::{flatten_claims, flatten_remittances};
use caresync_x12::remit::read_remittances;
use caresync_x12::{Date, Document, Tokenizer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Segments are disjoint, in order, and inside the input.
    let mut end = 0;
    for s in Tokenizer::new(data) {
        assert!(s.offset() >= end && s.offset() + s.raw().len() <= data.len());
        end = s.offset() + s.raw().len();
        assert!(s.elements().count() <= s.raw().len());
    }
    let Ok(doc) = Document::read(data) else {
        return;
    };
    for tx in doc.transactions() {
        assert!(tx.body().len() <= doc.segments().len());
    }
    let claims = read_document_claims(&doc);
    let clm = doc.segments().iter().filter(|s| s.is("CLM")).count();
    assert!(claims.claims.len() <= clm, "a claim per CLM at most");
    let tables = flatten_claims(&doc, &claims.claims);
    assert_eq!(tables.claim.num_rows(), claims.claims.len(), "a row per claim");
    let remits = read_remittances(&doc);
    let tables = flatten_remittances(&doc, &remits);
    let paid: usize = remits.iter().map(|r| r.claims.len()).sum();
    assert_eq!(tables.remittance.num_rows(), paid, "a row per paid claim");
    let date = Date::parse_d8("20250101").expect("a date");
    let acks = acknowledge(&doc, &AckOptions::new(1, 1, date, 12, 0)).expect("valid options");
    for a in &acks.interchanges {
        // An acknowledgement is itself a clean interchange.
        let back = Document::read(a.text().as_bytes()).expect("an ack reads");
        assert!(back.issues().is_empty(), "ack has issues");
    }
});
