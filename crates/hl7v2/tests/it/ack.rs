use caresync_hl7v2::{Ack, AckCode, AckMode, ErrorLocation, Message, Severity, codes};

#[test]
fn original_mode_error_ack_locates_the_issue() {
    let msg = Message::parse(
        b"MSH|^~\\&|LAB|H1|EHR|H2|20240101||ORU^R01|C42|P|2.5.1\rOBX|1|ST|||bad \\F\r",
    )
    .expect("lenient parse");
    assert_eq!(AckMode::of(&msg), AckMode::Original);
    let ack = Ack::new(&msg, AckCode::AE, "A1", "20240101120000")
        .with_issues()
        .to_bytes();
    assert_eq!(
        String::from_utf8(ack.clone()).expect("ascii"),
        "MSH|^~\\&|EHR|H2|LAB|H1|20240101120000||ACK^R01^ACK|A1|P|2.5.1\r\
         MSA|AE|C42\r\
         ERR||OBX^1|102^Data type error^HL70357|E|HL7-0012\r"
    );
    // The ACK is itself a well-formed message.
    let parsed = Message::parse(&ack).expect("ack parses");
    assert!(parsed.issues().is_empty());
    assert_eq!(parsed.get("MSA-2").expect("MSA-2").decode(), "C42");
    assert_eq!(parsed.get("ERR-3.1").expect("ERR-3").decode(), "102");
}

#[test]
fn enhanced_mode_acks_follow_msh_15_and_16() {
    let msg =
        Message::parse(b"MSH|^~\\&|LAB|H1|EHR|H2|20240101||ADT^A01|C1|P|2.5|||ER|AL\rPID|1\r")
            .expect("parses");
    assert_eq!(AckMode::of(&msg), AckMode::Enhanced);
    assert!(!AckMode::wants_accept_ack(&msg, true), "ER: only on error");
    assert!(AckMode::wants_accept_ack(&msg, false));
    assert!(AckMode::wants_application_ack(&msg, true));
    let ack = Ack::new(&msg, AckCode::CA, "A2", "20240101120000").to_bytes();
    let parsed = Message::parse(&ack).expect("parses");
    assert_eq!(parsed.get("MSA-1").expect("code").decode(), "CA");
    assert_eq!(parsed.header().accept_ack_type().as_deref(), Some("NE"));
    assert_eq!(
        parsed.header().application_ack_type().as_deref(),
        Some("NE")
    );
}

#[test]
fn older_versions_get_err_1_and_text_is_escaped() {
    let msg =
        Message::parse(b"MSH#$*@!#A#F#R#G#20240101##ADT$A04#9#P#2.3\rPID#1\r").expect("parses");
    let ack = Ack::new(&msg, AckCode::AR, "A3", "20240101")
        .with_text("rejected: unsupported # type")
        .with_error(
            "200",
            Severity::Error,
            Some(ErrorLocation {
                segment: *b"MSH",
                sequence: 1,
                field: Some(9),
                repetition: None,
                component: None,
                subcomponent: None,
            }),
            Some(codes::MISSING_HEADER_FIELD),
        )
        .to_bytes();
    assert_eq!(
        String::from_utf8(ack).expect("ascii"),
        "MSH#$*@!#R#G#A#F#20240101##ACK$A04$ACK#A3#P#2.3\r\
         MSA#AR#9#rejected: unsupported @F@ type\r\
         ERR#MSH$1$9$200\r"
    );
}

/// Review findings, kept as regression tests.
#[test]
fn err_locations_count_occurrences_and_old_err_puts_the_code_in_eld_4() {
    let msg = Message::parse(
        b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rEVN|A01\rPID|1\rPV1|1\rOBX|1\rOBX|2\\F\r",
    )
    .expect("parses");
    let ack = Ack::new(&msg, AckCode::AE, "A9", "20240101")
        .with_issues()
        .to_bytes();
    let ack = String::from_utf8(ack).expect("ascii");
    assert!(
        ack.contains("ERR||OBX^2|102^"),
        "the second OBX, not the sixth segment: {ack}"
    );

    let old =
        Message::parse(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4\rPID|1\r").expect("parses");
    let ack = Ack::new(&old, AckCode::AE, "A9", "20240101")
        .with_error("207", Severity::Error, None, None)
        .to_bytes();
    assert!(
        String::from_utf8(ack)
            .expect("ascii")
            .ends_with("ERR|^^^207\r")
    );
}

#[test]
fn ack_text_without_an_escape_character_is_written_once() {
    let msg = Message::parse(b"MSH|^~|A|B|C|D|20240101||ADT^A01|1|P|2.5\r").expect("parses");
    let ack = Ack::new(&msg, AckCode::AE, "ID|9", "20240101")
        .with_text("bad|x")
        .to_bytes();
    let ack = String::from_utf8(ack).expect("ascii");
    assert!(ack.contains("|ID9|P|2.5\r"), "{ack}");
    assert!(ack.contains("MSA|AE|1|badx\r"), "{ack}");
}

#[test]
fn ack_declares_the_original_character_set_and_original_mode_wants_no_accept_ack() {
    let msg = Message::parse(b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5||||||8859/1\rPID|1\r")
        .expect("parses");
    assert!(!AckMode::wants_accept_ack(&msg, true));
    assert!(AckMode::wants_application_ack(&msg, true));
    let ack = Ack::new(&msg, AckCode::AA, "A1", "20240101").to_bytes();
    let parsed = Message::parse(&ack).expect("parses");
    assert_eq!(
        parsed
            .get("MSH-18")
            .map(|v| v.decode().into_owned())
            .as_deref(),
        Some("8859/1")
    );
    assert!(
        parsed.get("MSH-15").is_none_or(|v| v.is_empty()),
        "original mode: no MSH-15"
    );
}
