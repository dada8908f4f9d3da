use std::io::BufReader;

use caresync_hl7v2::{MessageReader, ReadError, codes, messages};

const M1: &[u8] = b"MSH|^~\\&|A|B|||20240101||ADT^A01|1|P|2.5\rPID|1\r";
const M2: &[u8] = b"MSH|^~\\&|A|B|||20240101||ADT^A08|2|P|2.5\rPID|2\r";

fn control_ids(input: &[u8]) -> Vec<Result<String, u64>> {
    messages(input)
        .map(|m| match m {
            Ok(m) => Ok(m.get("MSH-10").expect("MSH-10").decode().into_owned()),
            Err(e) => Err(e.offset()),
        })
        .collect()
}

#[test]
fn envelopes_are_skipped_and_counted() {
    let mut file = b"FHS|^~\\&|A\rBHS|^~\\&|A\r".to_vec();
    file.extend_from_slice(M1);
    file.extend_from_slice(M2);
    file.extend_from_slice(b"BTS|3\rFTS|1\r");
    assert_eq!(control_ids(&file), [Ok("1".to_owned()), Ok("2".to_owned())]);
    let mut it = messages(&file);
    it.by_ref().for_each(drop);
    let issues: Vec<_> = it
        .envelope_issues()
        .iter()
        .map(|i| (i.code, i.offset))
        .collect();
    let bts_at = file.windows(3).position(|w| w == b"BTS").expect("BTS") as u64;
    assert_eq!(issues, [(codes::BATCH_COUNT, bts_at)]);
}

#[test]
fn a_bad_chunk_does_not_hide_its_neighbours() {
    let mut file = M1.to_vec();
    file.extend_from_slice(b"garbage line\rmore\r");
    file.extend_from_slice(b"MSH|^^^^|broken\r");
    file.extend_from_slice(M2);
    let ids = control_ids(&file);
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids[0], Ok("1".to_owned()));
    // The garbage belongs to the first message (it follows its PID); the
    // broken MSH is its own error, at its offset.
    let broken_at = (M1.len() + b"garbage line\rmore\r".len()) as u64;
    assert_eq!(ids[1], Err(broken_at + 5));
    assert_eq!(ids[2], Ok("2".to_owned()));
    // Issue offsets of later messages are offsets in the whole file.
    let first = messages(&file).next().expect("one").expect("good");
    assert!(
        first
            .issues()
            .iter()
            .any(|i| i.code == codes::BAD_SEGMENT_ID && i.offset == M1.len() as u64)
    );
}

#[test]
fn the_reader_streams_and_agrees_with_the_slice_splitter() {
    let mut file = b"\xEF\xBB\xBFFHS|^~\\&\r\nBHS|^~\\&\r\n".to_vec();
    for i in 0..50 {
        file.extend_from_slice(
            format!("MSH|^~\\&|A|B|||20240101||ADT^A01|{i}|P|2.5\r\nPID|{i}\nZPI|x\r").as_bytes(),
        );
    }
    file.extend_from_slice(b"BTS|50\rFTS|1\r\n\r\n");
    let expected: Vec<(String, u64, usize)> = messages(&file)
        .map(|m| {
            let m = m.expect("good");
            (
                m.get("MSH-10").expect("id").decode().into_owned(),
                m.segment_at(0).expect("MSH").offset(),
                m.segment_count(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 50);
    // Tiny read buffers split CR LF pairs and lines across reads.
    for cap in [1, 2, 3, 7, 64, 8192] {
        let mut reader = MessageReader::new(BufReader::with_capacity(cap, &file[..]));
        let mut got = Vec::new();
        while let Some(m) = reader.next_message() {
            let m = m.expect("good");
            assert!(m.issues().is_empty(), "cap {cap}: {:?}", m.issues());
            got.push((
                m.get("MSH-10").expect("id").decode().into_owned(),
                m.segment_at(0).expect("MSH").offset(),
                m.segment_count(),
            ));
        }
        assert_eq!(got, expected, "read buffer of {cap} bytes");
        assert!(
            reader.envelope_issues().is_empty(),
            "{:?}",
            reader.envelope_issues()
        );
    }
}

#[test]
fn the_reader_skips_an_oversized_message_and_goes_on() {
    let mut file = M1.to_vec();
    let big_at = file.len() as u64;
    file.extend_from_slice(b"MSH|^~\\&|A|B|||20240101||ORU^R01|big|P|2.5\rOBX|1|ED|||");
    file.extend(std::iter::repeat_n(b'A', 100_000));
    file.extend_from_slice(b"\r");
    file.extend_from_slice(M2);
    let mut reader =
        MessageReader::new(BufReader::with_capacity(4096, &file[..])).with_limit(10_000);
    let mut got = Vec::new();
    while let Some(m) = reader.next_message() {
        got.push(match m {
            Ok(m) => format!("ok {}", m.get("MSH-10").expect("id").decode()),
            Err(ReadError::TooLarge { offset, limit }) => {
                format!("too large at {offset} over {limit}")
            }
            Err(e) => format!("error {e}"),
        });
    }
    assert_eq!(
        got,
        [
            "ok 1".to_owned(),
            format!("too large at {big_at} over 10000"),
            "ok 2".to_owned()
        ]
    );
}
