use caresync_hl7v2::{Delimiters, Message, ParseError, ParseOptions, Severity, codes};
use expect_test::{Expect, expect};

use crate::render;

fn check(input: &[u8], expect: Expect) {
    let out = match Message::parse(input) {
        Ok(msg) => render(&msg),
        Err(e) => format!("error: {e}\n"),
    };
    expect.assert_eq(&out);
}

#[test]
fn fields_repetitions_components_subcomponents() {
    check(
        b"MSH|^~\\&|APP|FAC|||20240101||ADT^A01|1|P|2.5\rPID|1||7^^^H&1.2.3&ISO^MR~8^^^SSA^SS||Doe^Jane\r",
        expect![[r#"
            MSH #1 @0
              MSH-1: "|"
              MSH-2: "^~\\&"
              MSH-3: "APP"
              MSH-4: "FAC"
              MSH-7: "20240101"
              MSH-9: ["ADT", "A01"]
              MSH-10: "1"
              MSH-11: "P"
              MSH-12: "2.5"
            PID #2 @45
              PID-1: "1"
              PID-3: ["7", "", "", ["H", "1.2.3", "ISO"], "MR"] ~ ["8", "", "", "SSA", "SS"]
              PID-5: ["Doe", "Jane"]
        "#]],
    );
}

#[test]
fn empty_absent_and_null_are_distinct() {
    let msg = Message::parse(b"MSH|^~\\&|A||||20240101||ADT^A08|1|P|2.5\rPID|1|||\"\"||^^\r")
        .expect("parses");
    let pid = msg.segment("PID").expect("PID");
    assert_eq!(pid.field_count(), 6);
    let f3 = pid.field(3).expect("present");
    assert!(f3.is_empty() && !f3.is_null() && f3.repetition(1).is_none());
    assert!(pid.field(4).expect("present").is_null());
    assert!(pid.field(4).expect("present").text().is_none());
    assert!(pid.field(7).is_none(), "beyond the segment is absent");
    let f6 = pid.field(6).expect("present");
    assert_eq!(
        f6.components().count(),
        3,
        "^^ holds three empty components"
    );
    assert!(f6.component(3).expect("present").is_empty());
    assert!(f6.component(4).is_none());
}

#[test]
fn escapes_decode_on_access() {
    let msg = Message::parse(
        b"MSH|^~\\&|A||||20240101||ORU^R01|1|P|2.5\rOBX|1|TX|||O'Brien\\T\\Sons\\F\\x\\S\\y\\R\\z\\E\\ \\.br\\next \\H\\bold\\N\\ \\X41\\ \\Zxy\\\r",
    )
    .expect("parses");
    assert_eq!(
        msg.get("OBX-5").expect("value").decode(),
        "O'Brien&Sons|x^y~z\\ \nnext bold A \\Zxy\\"
    );
    assert!(msg.issues().is_empty(), "{:?}", msg.issues());
}

#[test]
fn any_legal_delimiters_and_truncation_character() {
    check(
        b"MSH#$*@!%#APP####20240101##ADT$A01#1#P#2.7\rPID#1##7$$$H!X*8#Doe$J@S@n\r",
        expect![[r##"
            MSH #1 @0
              MSH-1: "#"
              MSH-2: "$*@!%"
              MSH-3: "APP"
              MSH-7: "20240101"
              MSH-9: ["ADT", "A01"]
              MSH-10: "1"
              MSH-11: "P"
              MSH-12: "2.7"
            PID #2 @43
              PID-1: "1"
              PID-3: ["7", "", "", ["H", "X"]] ~ "8"
              PID-4: ["Doe", "J$n"]
        "##]],
    );
    let msg = Message::parse(b"MSH|^~\\&#|A||||20240101||ADT^A01|1|P|2.7\rNTE|1||a\\P\\b\r")
        .expect("parses");
    assert_eq!(msg.delimiters().truncation(), Some(b'#'));
    assert_eq!(msg.get("NTE-3").expect("note").decode(), "a#b");
}

#[test]
fn terminators_bom_blank_lines_and_z_segments() {
    let input = b"\xEF\xBB\xBFMSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\r\nEVN|A01\nPID|1\r\rZPI|x\rZVS|y\n\n\r\n";
    check(
        input,
        expect![[r#"
            MSH #1 @3
              MSH-1: "|"
              MSH-2: "^~\\&"
              MSH-3: "A"
              MSH-7: "20240101"
              MSH-9: ["ADT", "A01"]
              MSH-10: "1"
              MSH-11: "P"
              MSH-12: "2.5"
            EVN #2 @44
              EVN-1: "A01"
            PID #3 @52
              PID-1: "1"
            ZPI #4 @59
              ZPI-1: "x"
            ZVS #5 @65
              ZVS-1: "y"
            issue: HL7-0011 at byte 58: blank line between segments
        "#]],
    );
    let msg = Message::parse(input).expect("parses");
    let ids: Vec<_> = msg.segments().map(|s| s.id()).collect();
    assert_eq!(ids, ["MSH", "EVN", "PID", "ZPI", "ZVS"]);
    assert!(!msg.has_errors());
}

#[test]
fn paths_reach_every_level() {
    let msg = Message::parse(
        b"MSH|^~\\&|A||||20240101||ORU^R01|1|P|2.5\rOBX|1|ST|||first\rOBX|2|ST|||second\rOBX|3|CWE|||c1^text^LN~c2&sub1&sub2\r",
    )
    .expect("parses");
    let get = |p: &str| msg.get(p).map(|v| v.decode().into_owned());
    assert_eq!(get("OBX-5").as_deref(), Some("first"));
    assert_eq!(get("OBX[2]-5").as_deref(), Some("second"));
    assert_eq!(get("OBX[3]-5.2").as_deref(), Some("text"));
    assert_eq!(get("OBX[3]-5(2).1.3").as_deref(), Some("sub2"));
    assert_eq!(get("OBX[3]-5(3)"), None);
    assert_eq!(get("OBX[4]-5"), None);
    assert_eq!(get("MSH-9.2").as_deref(), Some("R01"));
    assert_eq!(get("MSH-1").as_deref(), Some("|"));
    assert_eq!(get("not a path"), None);
    let v = msg.get("OBX[3]-5(2).1.2").expect("present");
    assert_eq!(&msg.as_bytes()[v.offset() as usize..][..4], b"sub1");
}

#[test]
fn groups_follow_leaders() {
    let msg = Message::parse(
        b"MSH|^~\\&|A||||20240101||ORU^R01|1|P|2.5\rPID|1\rORC|1\rOBR|1\rOBX|1\rNTE|1\rOBX|2\rORC|2\rOBR|2\rOBX|3\r",
    )
    .expect("parses");
    let orders: Vec<Vec<&str>> = msg
        .groups("OBR", &["ORC", "PID"])
        .map(|g| g.segments().map(|s| s.id()).collect())
        .collect();
    assert_eq!(
        orders,
        [vec!["OBR", "OBX", "NTE", "OBX"], vec!["OBR", "OBX"]]
    );
    let obs: Vec<usize> = msg
        .groups("OBX", &["OBR", "ORC", "PID"])
        .map(|g| g.segments().count())
        .collect();
    assert_eq!(obs, [2, 1, 1]);
}

#[test]
fn broken_input_gives_issues_with_offsets() {
    check(
        b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rpid|1\rPID|bad \\F escape|x\x01y\rPI\r",
        expect![[r#"
            MSH #1 @0
              MSH-1: "|"
              MSH-2: "^~\\&"
              MSH-3: "A"
              MSH-7: "20240101"
              MSH-9: ["ADT", "A01"]
              MSH-10: "1"
              MSH-11: "P"
              MSH-12: "2.5"
            pid #2 @40
              pid-1: "1"
            PID #3 @46
              PID-1: "bad \\F escape"
              PID-2: "x\u{1}y"
            PI #4 @68
            issue: HL7-0010 at byte 40 (segment ??? #2): segment id is not three upper-case letters or digits
            issue: HL7-0012 at byte 54 (segment PID #3): escape sequence is not terminated
            issue: HL7-0015 at byte 65 (segment PID #3): control character inside a segment
            issue: HL7-0010 at byte 68 (segment ??? #4): segment id is not three upper-case letters or digits
        "#]],
    );
}

#[test]
fn fatal_errors_name_code_and_offset() {
    let err = |input: &[u8]| Message::parse(input).expect_err("fatal");
    assert_eq!(err(b""), ParseError::Empty);
    assert_eq!(err(b"\r\n\r\n"), ParseError::Empty);
    let e = err(b"\r\nPID|1\r");
    assert_eq!((e.code(), e.offset()), (codes::MISSING_MSH, 2));
    let e = err(b"MSH|^^\\&|A\r");
    assert_eq!((e.code(), e.offset()), (codes::BAD_DELIMITERS, 5));
    let e = err(b"MSH");
    assert_eq!(e.code(), codes::BAD_DELIMITERS);
    assert!(
        !e.to_string().contains("MSH|"),
        "errors carry no content: {e}"
    );
}

#[test]
fn strict_mode_turns_the_first_issue_into_an_error() {
    let input = b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rPID|1|\\F\r";
    assert_eq!(Message::parse(input).expect("lenient").issues().len(), 1);
    let e = Message::parse_with(input, &ParseOptions::strict()).expect_err("strict");
    assert_eq!((e.code(), e.offset()), (codes::UNTERMINATED_ESCAPE, 46));
}

#[test]
fn charsets_are_checked_and_decoded() {
    // Declared UTF-8 with a stray Latin-1 byte: an error with its offset.
    let msg = Message::parse(
        b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|1||||Mu\xF1oz\r",
    )
    .expect("parses");
    let issue = &msg.issues()[0];
    assert_eq!(
        (issue.code, issue.severity, issue.offset),
        (codes::BAD_CHARSET, Severity::Error, 70)
    );
    // Nothing declared, Latin-1 bytes: read as ISO 8859-1, with a warning.
    let msg = Message::parse(b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rPID|1||||Mu\xF1oz\r")
        .expect("parses");
    assert_eq!(msg.get("PID-5").expect("name").decode(), "Muñoz");
    assert_eq!(msg.issues()[0].severity, Severity::Warning);
    // Nothing declared, UTF-8: fine.
    let msg =
        Message::parse("MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rPID|1||||Muñoz\r".as_bytes())
            .expect("parses");
    assert!(msg.issues().is_empty());
    assert_eq!(msg.get("PID-5").expect("name").decode(), "Muñoz");
    // Declared ISO 8859-1, bytes that also read as UTF-8: Latin-1 wins.
    let msg = Message::parse(
        "MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5||||||8859/1\rPID|1||||MuÃ±oz\r".as_bytes(),
    )
    .expect("parses");
    assert_eq!(msg.get("PID-5").expect("name").decode(), "MuÃ\u{83}Â±oz");
    // A message inside a larger input (a batch): multibyte components.
    let input = "FHS|^~\\&\rMSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rPID|1||||Muñoz^José^Ñ\r";
    let at = input.find("MSH").expect("MSH");
    let msg =
        Message::parse_at(&input.as_bytes()[at..], at as u64, &Default::default()).expect("parses");
    assert_eq!(msg.get("PID-5.2").expect("given").decode(), "José");
    assert_eq!(msg.get("PID-5.3").expect("middle").decode(), "Ñ");
}

#[test]
fn debug_output_never_shows_values() {
    let msg = Message::parse(
        b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rPID|1||SECRET-MRN||Secretname\r",
    )
    .expect("parses");
    let shown = format!("{msg:?} {:?} {:?}", msg.segment("PID"), msg.get("PID-3"));
    assert!(
        !shown.contains("SECRET") && !shown.contains("Secretname"),
        "{shown}"
    );
}

#[test]
fn header_fields_are_typed() {
    let msg = Message::parse(
        b"MSH|^~\\&|LAB^1.2.3^ISO|H1|EHR|H2|20240501103000.12-0500||ORU^R01^ORU_R01|C\\F\\42|P|2.5.1|||AL|NE||8859/1\r",
    )
    .expect("parses");
    let h = msg.header();
    let app = h.sending_application().expect("MSH-3");
    assert_eq!(
        (app.namespace_id.as_ref(), app.universal_id.as_deref()),
        ("LAB", Some("1.2.3"))
    );
    assert_eq!(h.control_id().as_deref(), Some("C|42"));
    let t = h.message_type().expect("MSH-9");
    assert_eq!(t.known(), Some(caresync_hl7v2::KnownType::OruR01));
    assert_eq!(t.structure.as_deref(), Some("ORU_R01"));
    let ts = h.timestamp().expect("MSH-7").expect("valid");
    assert_eq!(ts.to_string(), "20240501103000.12-0500");
    assert_eq!(h.version().as_deref(), Some("2.5.1"));
    assert_eq!(h.accept_ack_type().as_deref(), Some("AL"));
    assert_eq!(msg.charset(), caresync_hl7v2::Charset::Latin1);
    let v = msg.version().expect("time and control id");
    assert_eq!(v.time().as_unix_micros(), 1_714_577_400_120_000);
    assert_eq!(Delimiters::default(), msg.delimiters());
}

#[test]
fn a_flood_of_bad_bytes_keeps_issues_bounded() {
    let mut input = b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rOBX|1|ED|||".to_vec();
    input.extend(std::iter::repeat_n(0x01u8, 100_000));
    input.push(b'\r');
    let msg = Message::parse(&input).expect("parses");
    assert_eq!(msg.issues().len(), caresync_hl7v2::MAX_ISSUES);
    assert_eq!(
        msg.suppressed_issues(),
        100_000 - caresync_hl7v2::MAX_ISSUES as u64
    );
    assert_eq!(msg.get("OBX-5").expect("value").raw().len(), 100_000);
}

/// Review findings, kept as regression tests.
#[test]
fn a_header_that_ends_after_msh_2_and_debug_without_content() {
    let msg = Message::parse(b"MSH|^~\\&\rPID|1\r").expect("a bare header parses");
    assert_eq!(msg.segment_count(), 2);
    let msg = Message::parse(b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rDoe, Jane has a secret\r")
        .expect("parses");
    let shown = format!("{msg:?} {:?}", msg.segment_at(1));
    assert!(!shown.contains("Doe"), "{shown}");
    let batch = caresync_hl7v2::messages(b"MSH|^~\\&|SECRET\r");
    assert!(
        !format!("{batch:?}").contains("77, 83"),
        "no bytes in Debug"
    );
    let reader = caresync_hl7v2::MessageReader::new(&b"MSH|^~\\&|SECRET\r"[..]);
    assert!(!format!("{reader:?}").contains("SECRET"));
}

#[test]
fn other_delimiters_keep_an_unknown_escape_that_holds_one_of_them() {
    let msg = Message::parse(b"MSH|^~\\&|A||||20240101||ADT^A01|1|P|2.5\rNTE|1||a\\Zx#y\\b|c\r")
        .expect("parses");
    let hash = Delimiters::new(b'#', b'$', b'*', Some(b'@'), Some(b'!'), None).expect("legal");
    let mut out = Vec::new();
    msg.write_to(
        &mut out,
        &caresync_hl7v2::PrintOptions::default().with_delimiters(hash),
    )
    .expect("prints");
    let again = Message::parse(&out).expect("parses");
    assert_eq!(
        again.get("NTE-3").expect("NTE-3").decode(),
        msg.get("NTE-3").expect("NTE-3").decode()
    );
    assert_eq!(again.get("NTE-4").expect("NTE-4").decode(), "c");
}
