//! X12 reading never panics: tokenizing, envelopes, 837 claims, 835
//! remittances and the acknowledgements of whatever was read; and the
//! tokenizer never yields more bytes than it was given.
#![no_main]

use caresync_x12::{Document, Tokenizer};
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
});
