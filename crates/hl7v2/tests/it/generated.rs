//! Everything the testkit generator writes parses cleanly, decodes to the
//! values it was built from, and prints back.

use caresync_hl7v2::{Message, MessageReader, Severity, messages};
use caresync_testkit::hl7::{Delimiters, Hl7Generator, Hl7Kind, Hl7Options, LineEnding};

fn clean_errors(msg: &Message<'_>) -> Vec<String> {
    msg.issues()
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .map(|i| i.to_string())
        .collect()
}

fn options() -> Vec<(&'static str, Hl7Options)> {
    let mut alternate = Hl7Options::nasty();
    alternate.delimiters = Delimiters::ALTERNATE;
    let mut cr = Hl7Options::nasty();
    cr.line_ending = LineEnding::Cr;
    vec![
        ("default", Hl7Options::default()),
        ("nasty", Hl7Options::nasty()),
        ("nasty, CR only", cr),
        ("nasty, #$*@! delimiters", alternate),
    ]
}

#[test]
fn every_kind_parses_and_decodes_to_its_source() {
    for (label, opts) in options() {
        let mut generator = Hl7Generator::new(7, opts.clone());
        for round in 0..5 {
            for kind in Hl7Kind::ALL {
                let m = generator.generate(kind);
                let ctx = format!("{label}, {kind:?}, round {round}");
                let msg = Message::parse(&m.bytes).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(clean_errors(&msg), Vec::<String>::new(), "{ctx}");
                let header = msg.header();
                assert_eq!(
                    header.control_id().as_deref(),
                    Some(m.control_id.as_str()),
                    "{ctx}"
                );
                let t = header.message_type().expect("MSH-9");
                assert_eq!(
                    (t.code.as_ref(), t.trigger.as_ref()),
                    (kind.message_code(), kind.trigger_event()),
                    "{ctx}"
                );
                assert!(t.known().is_some(), "{ctx}: a type we know");
                assert!(
                    msg.version().is_some(),
                    "{ctx}: MSH-7 and MSH-10 give a version"
                );
                if let Some(p) = m.patients.first() {
                    let pid = msg.segment("PID").expect("PID");
                    let name = pid
                        .field(5)
                        .expect("PID-5")
                        .repetition(1)
                        .expect("first name");
                    assert_eq!(
                        name.component(1).expect("family").decode(),
                        p.family,
                        "{ctx}"
                    );
                    assert_eq!(name.component(2).expect("given").decode(), p.given, "{ctx}");
                    let mrns: Vec<String> = pid
                        .field(3)
                        .expect("PID-3")
                        .repetitions()
                        .map(|r| {
                            r.component(1)
                                .map(|c| c.decode().into_owned())
                                .unwrap_or_default()
                        })
                        .collect();
                    assert!(mrns.contains(&p.mrn), "{ctx}: MRN among {mrns:?}");
                }
                // Printing gives the input back, segment terminators aside.
                let normalised: Vec<u8> = {
                    let body = m.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&m.bytes);
                    let mut out = Vec::new();
                    for line in body
                        .split(|&b| b == b'\r' || b == b'\n')
                        .filter(|l| !l.is_empty())
                    {
                        out.extend_from_slice(line);
                        out.push(b'\r');
                    }
                    out
                };
                assert_eq!(msg.to_bytes(), normalised, "{ctx}");
            }
        }
    }
}

#[test]
fn batch_files_split_into_their_messages_from_a_slice_and_a_stream() {
    for (label, opts) in options() {
        let mut generator = Hl7Generator::new(11, opts);
        let file = generator.batch_file(40);
        let from_slice: Vec<String> = {
            let mut it = messages(&file);
            let ids = it
                .by_ref()
                .map(|m| {
                    let m = m.unwrap_or_else(|e| panic!("{label}: {e}"));
                    assert_eq!(clean_errors(&m), Vec::<String>::new(), "{label}");
                    m.header().control_id().expect("MSH-10").into_owned()
                })
                .collect();
            assert!(
                it.envelope_issues().is_empty(),
                "{label}: {:?}",
                it.envelope_issues()
            );
            ids
        };
        assert_eq!(from_slice.len(), 40, "{label}");
        let mut reader = MessageReader::new(std::io::BufReader::with_capacity(512, &file[..]));
        let mut from_stream = Vec::new();
        while let Some(m) = reader.next_message() {
            let m = m.unwrap_or_else(|e| panic!("{label}: {e}"));
            from_stream.push(m.header().control_id().expect("MSH-10").into_owned());
        }
        assert_eq!(from_stream, from_slice, "{label}");
        assert!(reader.envelope_issues().is_empty(), "{label}");
    }
}

#[test]
fn a_fifty_megabyte_obx_payload_parses_in_one_piece() {
    let opts = Hl7Options {
        big_payload_bytes: Some(50_000_000),
        ..Hl7Options::default()
    };
    let mut generator = Hl7Generator::new(3, opts);
    let m = generator.generate(Hl7Kind::OruR01);
    let msg = Message::parse(&m.bytes).expect("parses");
    assert_eq!(clean_errors(&msg), Vec::<String>::new());
    let largest = msg
        .segments_with_id("OBX")
        .filter_map(|s| s.field(5))
        .map(|v| v.raw().len())
        .max()
        .expect("OBX-5");
    assert!(largest >= 50_000_000, "payload of {largest} bytes");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// For any seed and kind, the generator's nasty output parses without
    /// errors and parse∘print is the identity (on `\r`-terminated output).
    #[test]
    fn parse_then_print_is_identity_on_generated_messages(seed in proptest::prelude::any::<u64>(), which in 0usize..20) {
        let mut opts = Hl7Options::nasty();
        opts.line_ending = LineEnding::Cr;
        opts.bom = false;
        let mut generator = Hl7Generator::new(seed, opts);
        let m = generator.generate(Hl7Kind::ALL[which]);
        let msg = Message::parse(&m.bytes).expect("parses");
        proptest::prop_assert!(clean_errors(&msg).is_empty(), "{:?}", clean_errors(&msg));
        proptest::prop_assert_eq!(msg.to_bytes(), m.bytes.clone());
    }
}

#[test]
fn truncated_messages_keep_what_arrived_and_say_what_is_missing() {
    let mut generator = Hl7Generator::new(5, Hl7Options::default());
    let m = generator.generate(Hl7Kind::AdtA01);
    // Cut anywhere: never a panic; past MSH-12 a message with its segments
    // so far, before it an error or a message with a header issue.
    for cut in 0..m.bytes.len() {
        let part = &m.bytes[..cut];
        match Message::parse(part) {
            Ok(msg) => {
                assert!(msg.segment_count() >= 1);
                assert!(msg.to_bytes().len() <= cut + msg.segment_count());
            }
            Err(e) => assert!(e.offset() as usize <= cut, "cut {cut}: {e}"),
        }
    }
    // Cut just before MSH-9: the header lacks its type, and says so.
    let before_type = m
        .bytes
        .windows(5)
        .position(|w| w == b"|ADT^")
        .expect("MSH-9");
    let msg = Message::parse(&m.bytes[..before_type]).expect("a header cut short still parses");
    let missing: Vec<_> = msg.issues().iter().map(|i| (i.code, i.offset)).collect();
    assert_eq!(missing, [(caresync_hl7v2::codes::MISSING_HEADER_FIELD, 0)]);
}
