//! pgoutput decoding never panics, whatever the bytes and the order of the
//! messages. The input is a sequence of messages, each behind a two-byte
//! big-endian length, decoded through one `Decoder` so that streamed
//! transactions are entered and left. A decoded message borrows only from
//! its own bytes, carries an xid exactly when a stream is open, and a
//! refused message leaves the stream state as it was.
#![no_main]

use caresync_cdc::pgoutput::{Decoder, Message, Tuple};
use libfuzzer_sys::fuzz_target;

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr_range(), inner.as_ptr_range());
    o.start <= i.start && i.end <= o.end
}

fn check_tuple(bytes: &[u8], tuple: &Tuple<'_>) {
    assert!(tuple.len() <= bytes.len(), "a value takes at least a byte");
    for value in tuple.values() {
        if let Some(b) = value.bytes() {
            assert!(within(bytes, b), "a value lies inside its message");
        }
    }
}

fn check(bytes: &[u8], message: &Message<'_>, in_stream: bool) {
    let xid = match message {
        Message::Relation(m) => {
            assert!(within(bytes, m.namespace.as_bytes()) && within(bytes, m.name.as_bytes()));
            assert!(
                m.columns.len() <= bytes.len() / 10,
                "a column takes at least 10 bytes"
            );
            Some(m.xid)
        }
        Message::Type(m) => Some(m.xid),
        Message::Insert(m) => {
            check_tuple(bytes, &m.new);
            Some(m.xid)
        }
        Message::Update(m) => {
            if let Some(old) = &m.old {
                check_tuple(bytes, old.tuple());
            }
            check_tuple(bytes, &m.new);
            Some(m.xid)
        }
        Message::Delete(m) => {
            check_tuple(bytes, m.old.tuple());
            Some(m.xid)
        }
        Message::Truncate(m) => {
            assert!(
                m.relation_ids.len() <= bytes.len() / 4,
                "an id takes 4 bytes"
            );
            Some(m.xid)
        }
        Message::LogicalMessage(m) => {
            assert!(
                within(bytes, m.content),
                "the content lies inside its message"
            );
            Some(m.xid)
        }
        _ => None,
    };
    if let Some(xid) = xid {
        assert_eq!(xid.is_some(), in_stream, "an xid exactly inside a stream");
    }
    let _ = format!("{message:?}");
}

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new();
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let (bytes, tail) = tail.split_at(usize::from(u16::from_be_bytes(*len)).min(tail.len()));
        rest = tail;
        let in_stream = decoder.in_stream();
        match decoder.decode(bytes) {
            Ok(message) => {
                check(bytes, &message, in_stream);
                match message {
                    Message::StreamStart(_) => assert!(decoder.in_stream()),
                    Message::StreamStop => assert!(!decoder.in_stream()),
                    _ => assert_eq!(decoder.in_stream(), in_stream),
                }
            }
            Err(e) => {
                assert_eq!(decoder.in_stream(), in_stream, "an error changes no state");
                assert!(
                    e.offset() <= bytes.len(),
                    "the offset is inside the message"
                );
                assert!(e.to_string().starts_with(&format!("[{}] ", e.code())));
            }
        }
    }
});
