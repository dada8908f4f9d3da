//! HL7 v2 parsing never panics, and what parses cleanly prints back, reprints
//! with other delimiters to the same values, and splits the same way as a
//! slice and as a stream.
#![no_main]

use caresync_hl7v2::{Delimiters, Message, MessageReader, PrintOptions, messages};
use libfuzzer_sys::fuzz_target;

fn values(msg: &Message<'_>) -> Vec<Vec<Vec<Vec<Vec<String>>>>> {
    msg.segments()
        .skip(1)
        .map(|seg| {
            seg.fields()
                .map(|f| {
                    f.repetitions()
                        .map(|r| {
                            r.components()
                                .map(|c| c.subcomponents().map(|s| s.decode().into_owned()).collect())
                                .collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = Message::parse(data) {
        let vals = values(&msg);
        let _ = msg.header().timestamp();
        let _ = msg.version();
        let printed = msg.to_bytes();
        if msg.issues().is_empty() {
            let again = Message::parse(&printed).expect("a clean message reparses");
            assert_eq!(again.to_bytes(), printed, "printing is stable");
            let other = Delimiters::new(b'#', b'$', b'*', Some(b'@'), Some(b'!'), None)
                .expect("legal delimiters");
            let mut out = Vec::new();
            if msg
                .write_to(&mut out, &PrintOptions::default().with_delimiters(other))
                .is_ok()
            {
                let reprinted = Message::parse(&out).expect("a reprinted message parses");
                assert_eq!(values(&reprinted), vals, "values survive other delimiters");
            }
        }
    }
    let from_slice: Vec<_> = messages(data)
        .map(|m| m.map(|m| m.to_bytes()).map_err(|e| e.offset()))
        .collect();
    let mut reader = MessageReader::new(data);
    let mut from_stream = Vec::new();
    while let Some(m) = reader.next_message() {
        from_stream.push(m.map(|m| m.to_bytes()).map_err(|e| match e {
            caresync_hl7v2::ReadError::Parse(e) => e.offset(),
            _ => u64::MAX,
        }));
    }
    assert_eq!(from_slice, from_stream, "slice and stream splitting agree");
});
