//! The MLLP decoder never panics, consumes within the buffer, and keeps its
//! buffer bounded, however the input is split.
#![no_main]

use caresync_hl7v2::mllp::{MllpDecoder, Scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else { return };
    let chunk = usize::from(split % 16) + 1;
    let max = 64;
    let mut decoder = MllpDecoder::new(max);
    let mut buf = Vec::new();
    let drain = |decoder: &mut MllpDecoder, buf: &mut Vec<u8>, eof: bool| {
        let mut idle = 0;
        loop {
            let found = if eof { decoder.scan_eof(buf) } else { decoder.scan(buf) };
            if let Scan::Frame { payload, .. } = &found {
                assert!(payload.end <= buf.len() && payload.len() <= max);
            }
            if found == Scan::NeedMore {
                break;
            }
            let n = found.consumed();
            assert!(n <= buf.len(), "consumes within the buffer");
            // An error about bytes already dropped (an oversized frame that
            // the stream's end cuts off) consumes nothing, once.
            if n == 0 {
                assert!(matches!(found, Scan::Error { .. }), "only an error may consume nothing");
                idle += 1;
                assert!(idle < 2, "the decoder makes progress");
            } else {
                idle = 0;
            }
            buf.drain(..n);
        }
    };
    for part in data.chunks(chunk) {
        buf.extend_from_slice(part);
        drain(&mut decoder, &mut buf, false);
        assert!(buf.len() <= max + 2 + chunk, "the buffer stays bounded");
    }
    drain(&mut decoder, &mut buf, true);
    assert!(buf.is_empty(), "everything is consumed at the end of the stream");
});
