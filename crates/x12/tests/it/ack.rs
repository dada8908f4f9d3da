//! 999 and TA1 acknowledgements: codes from envelope and caller issues,
//! the acknowledgement is itself a valid interchange, output is
//! deterministic.

use caresync_core::{ErrorClass, ErrorCode};
use caresync_x12::ack::{
    self, AckError, AckOptions, ElementError, GroupCode, Mapping, SetCode, SetError, Ta1Code,
    Ta1Note, Ta1Policy,
};
use caresync_x12::{Date, Delimiters, Document, Issue, Position, Severity, codes};
use expect_test::{Expect, expect};
use proptest::prelude::*;

const ISA: &str = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240101*1200*^*00501*000000042*1*P*:~";
const GS: &str = "GS*HC*SUB*RCV*20240101*1200*7*X*005010X222A1~";
const TX: &str =
    "ST*837*0001*005010X222A1~BHT*0019*00*1*20240101*1200*CH~CLM*PATIENT-ACCT-99*100~SE*4*0001~";

fn options() -> AckOptions {
    let date = Date::parse_d8("20240315").expect("a date");
    AckOptions::new(501, 77, date, 8, 5)
}

fn interchange(body: &str) -> String {
    format!("{ISA}{GS}{body}GE*1*7~IEA*1*000000042~")
}

fn acks(input: &str) -> ack::Acknowledgements {
    let doc = Document::read(input.as_bytes()).expect("reads");
    ack::acknowledge(&doc, &options()).expect("acknowledges")
}

/// The acknowledgement text, one segment a line, after checking that it
/// reads back as a clean interchange.
fn check(input: &str, expect: Expect) {
    let acks = acks(input);
    let text: String = acks
        .interchanges
        .iter()
        .map(|a| {
            assert_valid(a.text());
            a.text().replace('~', "~\n")
        })
        .collect();
    expect.assert_eq(&text);
}

/// The ack is an interchange with right counts and control numbers.
fn assert_valid(text: &str) {
    let doc = Document::read(text.as_bytes()).expect("the ack reads");
    assert!(doc.issues().is_empty(), "{:?}\n{text}", doc.issues());
    for tx in doc.transactions() {
        assert_eq!(tx.set_id(), Some("999"));
        assert_eq!(tx.implementation(), Some("005010X231A1"));
    }
}

#[test]
fn clean_corpus_claim_is_accepted() {
    let path =
        crate::corpus::corpus_dir().join("linuxforhealth/837_005010X222A2/demo.example1.837");
    let bytes = std::fs::read(path).expect("readable");
    let doc = Document::read(&bytes).expect("reads");
    let acks = ack::acknowledge(&doc, &options()).expect("acknowledges");
    let a = &acks.interchanges[0];
    assert_eq!(
        (a.ta1.code, a.ta1.note),
        (Ta1Code::Accepted, Ta1Note::NoError)
    );
    let g = &a.groups[0];
    assert_eq!(g.sets[0].code, SetCode::Accepted);
    assert_eq!(
        (g.code, g.included, g.received, g.accepted),
        (GroupCode::Accepted, 1, 1, 1)
    );
    assert!(acks.unplaced.is_empty());
    assert_valid(a.text());
    // Sender and receiver swapped, received ISA13/date/time in the TA1
    // (ISA14 asked for one), the 999 names group 1 and set 0021.
    expect![[r#"
        ISA*00*          *00*          *30*12345          *30*000000005      *240315*0805*^*00501*000000501*0*T*:~
        TA1*000000907*131031*1147*A*000~
        GS*FA*54321*000000005*20240315*0805*77*X*005010X231A1~
        ST*999*0001*005010X231A1~
        AK1*HC*1*005010X222A2~
        AK2*837*0021*005010X222A2~
        IK5*A~
        AK9*A*1*1*1~
        SE*6*0001~
        GE*1*77~
        IEA*1*000000501~
    "#]]
    .assert_eq(&a.text().replace('~', "~\n"));
    // Nothing of the claim is copied: no names, no amounts.
    for value in ["SMITH", "KILDARE", "100.00", "26463774", "9876543210"] {
        assert!(!a.text().contains(value), "{value} leaked");
    }
}

#[test]
fn every_corpus_file_is_accepted_and_its_ack_reads_back() {
    for path in crate::corpus::corpus_files() {
        let bytes = std::fs::read(&path).expect("readable");
        let doc = Document::read(&bytes).expect("reads");
        let acks = ack::acknowledge(&doc, &options()).expect("acknowledges");
        assert_eq!(acks.interchanges.len(), doc.interchanges().count());
        // Files whose composites use another separator than ISA16's are
        // accepted with an invalid-character note on that element.
        let (group_code, marker) = if crate::corpus::uses_another_separator(&path) {
            (GroupCode::AcceptedWithErrors, "**6~")
        } else {
            (GroupCode::Accepted, "~AK9*A*")
        };
        for a in &acks.interchanges {
            assert_eq!(a.ta1.code, Ta1Code::Accepted, "{}", path.display());
            for g in &a.groups {
                assert_eq!(g.code, group_code, "{}", path.display());
                assert_eq!(g.accepted, g.received, "{}", path.display());
            }
            assert!(a.text().contains(marker), "{}", path.display());
            assert_valid(a.text());
        }
    }
}

#[test]
fn wrong_se_count_rejects_the_set() {
    let body = TX.replace("SE*4*", "SE*9*");
    let a = &acks(&interchange(&body)).interchanges[0];
    assert_eq!(a.ta1.code, Ta1Code::Accepted);
    let g = &a.groups[0];
    assert_eq!(g.sets[0].code, SetCode::Rejected);
    assert_eq!(g.sets[0].errors, [SetError::CountMismatch]);
    assert_eq!((g.code, g.accepted), (GroupCode::Rejected, 0));
    check(
        &interchange(&body),
        expect![[r#"
            ISA*00*          *00*          *ZZ*RECEIVER       *ZZ*SUBMITTER      *240315*0805*^*00501*000000501*0*P*:~
            TA1*000000042*240101*1200*A*000~
            GS*FA*RCV*SUB*20240315*0805*77*X*005010X231A1~
            ST*999*0001*005010X231A1~
            AK1*HC*7*005010X222A1~
            AK2*837*0001*005010X222A1~
            IK5*R*4~
            AK9*R*1*1*0~
            SE*6*0001~
            GE*1*77~
            IEA*1*000000501~
        "#]],
    );
}

#[test]
fn se_control_number_mismatch_and_partial_acceptance() {
    let bad = TX.replace("SE*4*0001", "SE*4*0002");
    let good = TX.replace("0001", "0003");
    let input = format!("{ISA}{GS}{bad}{good}GE*2*7~IEA*1*000000042~");
    let a = &acks(&input).interchanges[0];
    let g = &a.groups[0];
    assert_eq!(g.sets[0].errors, [SetError::ControlNumberMismatch]);
    assert_eq!(g.sets[1].code, SetCode::Accepted);
    assert_eq!(
        (g.code, g.included, g.received, g.accepted),
        (GroupCode::PartiallyAccepted, 2, 2, 1)
    );
    assert!(
        a.text()
            .contains("~IK5*R*3~AK2*837*0003*005010X222A1~IK5*A~AK9*P*2*2*1~")
    );
}

#[test]
fn wrong_iea_control_number_is_note_001() {
    let input = interchange(TX).replace("IEA*1*000000042", "IEA*1*000000043");
    let a = &acks(&input).interchanges[0];
    assert_eq!(
        (a.ta1.code, a.ta1.note),
        (Ta1Code::AcceptedWithErrors, Ta1Note::ControlNumberMismatch)
    );
    // The header's control number is the one acknowledged.
    assert!(a.text().contains("~TA1*000000042*240101*1200*E*001~"));
    assert_eq!(a.groups[0].code, GroupCode::Accepted);
    assert_valid(a.text());
}

#[test]
fn wrong_iea_group_count_is_note_021() {
    let input = interchange(TX).replace("IEA*1*", "IEA*2*");
    let a = &acks(&input).interchanges[0];
    assert_eq!(
        (a.ta1.code, a.ta1.note),
        (Ta1Code::Rejected, Ta1Note::InvalidGroupCount)
    );
}

#[test]
fn truncated_file_lacks_every_trailer() {
    let input =
        format!("{ISA}{GS}ST*837*0001*005010X222A1~BHT*0019*00*1*20240101*1200*CH~CLM*PATIENT");
    let a = &acks(&input).interchanges[0];
    assert_eq!(
        (a.ta1.code, a.ta1.note),
        (Ta1Code::Rejected, Ta1Note::PrematureEnd)
    );
    let g = &a.groups[0];
    assert_eq!(g.sets[0].errors, [SetError::TrailerMissing]);
    assert_eq!(g.errors, [ack::GroupError::TrailerMissing]);
    // AK905 3 is "functional group trailer missing" in code list 716.
    check(
        &input,
        expect![[r#"
            ISA*00*          *00*          *ZZ*RECEIVER       *ZZ*SUBMITTER      *240315*0805*^*00501*000000501*0*P*:~
            TA1*000000042*240101*1200*R*023~
            GS*FA*RCV*SUB*20240315*0805*77*X*005010X231A1~
            ST*999*0001*005010X231A1~
            AK1*HC*7*005010X222A1~
            AK2*837*0001*005010X222A1~
            IK5*R*2~
            AK9*R*1*1*0*3~
            SE*6*0001~
            GE*1*77~
            IEA*1*000000501~
        "#]],
    );
}

#[test]
fn group_trailer_errors_go_to_ak9() {
    let input = interchange(TX).replace("GE*1*7", "GE*3*8");
    let g = &acks(&input).interchanges[0].groups[0];
    assert_eq!(
        g.errors,
        [
            ack::GroupError::ControlNumberMismatch,
            ack::GroupError::CountMismatch
        ]
    );
    // The set itself was fine: accepted, the group accepted with errors.
    assert_eq!(
        (g.code, g.included, g.received, g.accepted),
        (GroupCode::AcceptedWithErrors, 3, 1, 1)
    );
}

#[test]
fn missing_st02_and_gs06_are_set_and_group_errors() {
    let input = interchange(&TX.replace("ST*837*0001*", "ST*837**")).replace("*7*X*", "**X*");
    let a = &acks(&input).interchanges[0];
    let g = &a.groups[0];
    assert!(
        g.errors.contains(&ack::GroupError::BadControlNumber),
        "{:?}",
        g.errors
    );
    assert!(
        g.sets[0].errors.contains(&SetError::BadControlNumber),
        "{:?}",
        g.sets[0].errors
    );
    assert_eq!(g.sets[0].code, SetCode::Rejected);
}

fn issue(code: ErrorCode, severity: Severity, segment: u32, id: &[u8; 3], element: u16) -> Issue {
    Issue {
        code,
        severity,
        at: Position {
            offset: 0,
            segment,
            id: *id,
            element,
        },
    }
}

const BAD_AMOUNT: ErrorCode = ErrorCode::new(ErrorClass::Parse, "X12-0901", "test: bad amount");
const BAD_DATE: ErrorCode = ErrorCode::new(ErrorClass::Parse, "X12-0902", "test: bad date");
const NOISE: ErrorCode = ErrorCode::new(ErrorClass::Parse, "X12-0903", "test: noise");

#[test]
fn missing_required_element_is_ik3_and_ik4() {
    // CLM is segment 5 of the file, 3 of the set; CLM05 is missing.
    let input = interchange(TX);
    let doc = Document::read(input.as_bytes()).expect("reads");
    let extra = [issue(codes::MISSING_ELEMENT, Severity::Error, 5, b"CLM", 5)];
    let acks = ack::acknowledge_with(&doc, &extra, &[], &options()).expect("acknowledges");
    let a = &acks.interchanges[0];
    let set = &a.groups[0].sets[0];
    assert_eq!(set.code, SetCode::Rejected);
    assert_eq!(set.segments[0].position, 3);
    assert_eq!(
        set.segments[0].elements[0].error,
        ElementError::RequiredMissing
    );
    assert!(
        a.text()
            .contains("~IK3*CLM*3**8~IK4*5**1~IK5*R*5~AK9*R*1*1*0~"),
        "{}",
        a.text()
    );
    assert_valid(a.text());
}

#[test]
fn caller_codes_map_through_the_table_with_a_default() {
    let input = interchange(TX);
    let doc = Document::read(input.as_bytes()).expect("reads");
    let extra = [
        issue(BAD_DATE, Severity::Warning, 4, b"BHT", 4),
        issue(BAD_AMOUNT, Severity::Warning, 5, b"CLM", 2),
        issue(BAD_AMOUNT, Severity::Warning, 5, b"CLM", 2),
        issue(NOISE, Severity::Error, 5, b"CLM", 1),
        // Outside any set: no 999 can carry it.
        issue(BAD_DATE, Severity::Error, 2, b"GS\0", 4),
    ];
    let table = [
        (BAD_DATE, Mapping::Element(ElementError::InvalidDate)),
        (NOISE, Mapping::Ignore),
    ];
    let acks = ack::acknowledge_with(&doc, &extra, &table, &options()).expect("acknowledges");
    let a = &acks.interchanges[0];
    assert!(
        a.text().contains(
            "~AK2*837*0001*005010X222A1~IK3*BHT*2**8~IK4*4**8~IK3*CLM*3**8~IK4*2**I12~IK5*E*5~AK9*E*1*1*1~"
        ),
        "{}",
        a.text()
    );
    assert_eq!(acks.unplaced, [extra[4]]);
}

#[test]
fn only_implementation_errors_give_i5() {
    let input = interchange(TX);
    let doc = Document::read(input.as_bytes()).expect("reads");
    let extra = [issue(BAD_AMOUNT, Severity::Error, 5, b"CLM", 2)];
    let acks = ack::acknowledge_with(&doc, &extra, &[], &options()).expect("acknowledges");
    let set = &acks.interchanges[0].groups[0].sets[0];
    assert_eq!(set.errors, [SetError::ImplementationSegmentsInError]);
    assert!(acks.interchanges[0].text().contains("~IK5*R*I5~"));
}

#[test]
fn stray_segments_are_invalid_content() {
    let input = interchange(TX).replace("GE*1*7~", "NM1*IL*1*DOE~GE*1*7~");
    let a = &acks(&input).interchanges[0];
    assert_eq!(
        (a.ta1.code, a.ta1.note),
        (Ta1Code::Rejected, Ta1Note::InvalidContent)
    );
    assert!(!a.text().contains("DOE"));
    // Data after the last IEA belongs to no interchange.
    let acks = acks(&format!("{}NM1*IL*1*DOE~", interchange(TX)));
    assert_eq!(acks.unplaced.len(), 1);
    assert_eq!(acks.unplaced[0].code, codes::OUTSIDE_ENVELOPE);
    assert_eq!(acks.interchanges[0].ta1.code, Ta1Code::Accepted);
}

#[test]
fn acks_are_deterministic_and_numbered_per_interchange() {
    let two = format!("{}\n{}", interchange(TX), interchange(TX));
    let first = acks(&two);
    assert_eq!(first, acks(&two), "same input and options, same bytes");
    let numbers: Vec<(u32, u32)> = first
        .interchanges
        .iter()
        .map(|a| (a.interchange_control_number, a.group_control_number))
        .collect();
    assert_eq!(numbers, [(501, 77), (502, 78)]);
    assert!(
        first.interchanges[1]
            .text()
            .ends_with("~GE*1*78~IEA*1*000000502~")
    );
    let doc = Document::read(two.as_bytes()).expect("reads");
    let wrap = AckOptions::new(
        999_999_999,
        5,
        Date::parse_d8("20240315").expect("date"),
        0,
        0,
    );
    let acks = ack::acknowledge(&doc, &wrap).expect("acknowledges");
    assert_eq!(acks.interchanges[1].interchange_control_number, 1);
}

#[test]
fn delimiters_are_the_received_ones_or_the_callers() {
    let pipes = interchange(TX)
        .replace('*', "|")
        .replace('~', "\n")
        .replace("|:\n", "|>\n");
    let a = &acks(&pipes).interchanges[0];
    assert!(a.text().starts_with("ISA|00|"), "{}", a.text());
    assert!(a.text().contains("\nIK5|A\n"));
    assert_valid(a.text());
    let doc = Document::read(pipes.as_bytes()).expect("reads");
    let o = options().with_delimiters(Delimiters::default());
    let acks = ack::acknowledge(&doc, &o).expect("acknowledges");
    assert!(acks.interchanges[0].text().contains("~IK5*A~"));
    // A 004010 interchange has no repetition separator: the 00501 ack
    // picks one.
    let old = "ISA*00**00**ZZ*S*ZZ*R*240101*1200*U*00401*1*0*T*>~GS*HC*S*R*20240101*1200*1*X*004010X098A1~ST*837*1~BHT*0019~SE*3*1~GE*1*1~IEA*1*1~";
    let a = &self::acks(old).interchanges[0];
    assert!(
        a.text().contains("*240315*0805*^*00501*000000501*0*T*>~"),
        "{}",
        a.text()
    );
    assert!(
        !a.text().contains("TA1*"),
        "not requested, accepted: no TA1"
    );
    assert_valid(a.text());
}

#[test]
fn ta1_policy_decides_whether_the_segment_is_written() {
    let quiet = interchange(TX).replace("*1*P*:~", "*0*P*:~");
    let doc = Document::read(quiet.as_bytes()).expect("reads");
    let text = |p: Ta1Policy| {
        ack::acknowledge(&doc, &options().with_ta1(p))
            .expect("acknowledges")
            .interchanges[0]
            .text()
            .to_owned()
    };
    assert!(!text(Ta1Policy::WhenRequestedOrErrors).contains("TA1*"));
    assert!(text(Ta1Policy::Always).contains("~TA1*000000042*240101*1200*A*000~"));
    assert!(!text(Ta1Policy::Never).contains("TA1*"));
}

#[test]
fn bad_options_are_refused() {
    let input = interchange(TX);
    let doc = Document::read(input.as_bytes()).expect("reads");
    let date = Date::parse_d8("20240315").expect("date");
    let refused = |o: AckOptions| ack::acknowledge(&doc, &o).err();
    assert_eq!(
        refused(AckOptions::new(0, 1, date, 0, 0)),
        Some(AckError::ControlNumber(0))
    );
    assert_eq!(
        refused(AckOptions::new(1, 1_000_000_000, date, 0, 0)),
        Some(AckError::ControlNumber(1_000_000_000))
    );
    assert_eq!(
        refused(AckOptions::new(1, 1, date, 24, 0)),
        Some(AckError::Time {
            hour: 24,
            minute: 0
        })
    );
    let same = Delimiters {
        element: b'*',
        component: b'*',
        repetition: None,
        segment: b'~',
    };
    assert_eq!(
        refused(AckOptions::new(1, 1, date, 0, 0).with_delimiters(same)),
        Some(AckError::Delimiters)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever is cut from or broken in the input, the ack is a clean
    /// interchange and never panics.
    #[test]
    fn any_damage_gives_a_valid_ack(cut in 0usize..400, at in 0usize..400, byte in any::<u8>()) {
        let mut input = format!("{}{}", interchange(&format!("{TX}{}", TX.replace("0001", "0002"))), interchange(TX)).into_bytes();
        let at = at % input.len();
        input[at] = byte;
        input.truncate(input.len().saturating_sub(cut));
        if let Ok(doc) = Document::read(&input) {
            let acks = ack::acknowledge(&doc, &options()).expect("options are fine");
            for a in &acks.interchanges {
                assert_valid(a.text());
            }
        }
    }
}
