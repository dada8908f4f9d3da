//! Tokenizer and envelopes: delimiters from the ISA, several interchanges,
//! counts and control numbers, damaged inputs.

use caresync_x12::{Delimiters, Document, Error, Severity, Tokenizer, codes};

const ISA: &str = "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240101*1200*^*00501*000000042*0*P*:~";

fn interchange(body: &str) -> String {
    format!("{ISA}GS*HC*S*R*20240101*1200*7*X*005010X222A1~{body}GE*1*7~IEA*1*000000042~")
}

const TX: &str = "ST*837*0001*005010X222A1~BHT*0019*00*1*20240101*1200*CH~SE*3*0001~";

fn codes_of(doc: &Document<'_>) -> Vec<(&'static str, u32, u16)> {
    doc.issues()
        .iter()
        .map(|i| (i.code.code(), i.at.segment, i.at.element))
        .collect()
}

#[test]
fn delimiters_come_from_each_isa() {
    let a = interchange(TX);
    let b = a
        .replace('*', "|")
        .replace('~', "\n")
        .replace("|:\n", "|>\n")
        .replace("|^|", "|}|");
    let both = format!("{a}\r\n{b}");
    let doc = Document::read(both.as_bytes()).expect("reads");
    assert!(doc.issues().is_empty(), "{:?}", doc.issues());
    let delims: Vec<Delimiters> = doc.interchanges().map(|i| i.delimiters()).collect();
    assert_eq!(delims[0], Delimiters::default());
    assert_eq!(
        delims[1],
        Delimiters {
            element: b'|',
            component: b'>',
            repetition: Some(b'}'),
            segment: b'\n'
        }
    );
    assert_eq!(doc.transactions().count(), 2);
    for tx in doc.transactions() {
        assert_eq!(
            tx.body()[0].text(3),
            Some("1"),
            "BHT03 read with its own delimiters"
        );
    }
}

#[test]
fn a_name_like_isaac_is_not_an_interchange() {
    let body = "ST*837*0001*005010X222A1~NM1*IL*1*ISAAC*NEWTON~REF*EA*ISA*00~SE*4*0001~";
    let input = interchange(body);
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert!(doc.issues().is_empty(), "{:?}", doc.issues());
    assert_eq!(doc.interchanges().count(), 1);
    assert_eq!(doc.transactions().next().expect("tx").body().len(), 2);
}

#[test]
fn unpadded_isa_and_version_4010_without_repetition() {
    let isa = "ISA*00**00**ZZ*S*ZZ*R*240101*1200*U*00401*1*0*T*>~";
    let input = format!(
        "{isa}GS*HC*S*R*20240101*1200*1*X*004010X098A1~ST*837*1~BHT*0019~SE*3*1~GE*1*1~IEA*1*1~"
    );
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert!(doc.issues().is_empty(), "{:?}", doc.issues());
    let ic = doc.interchanges().next().expect("interchange");
    assert_eq!(ic.delimiters().repetition, None);
    assert_eq!(ic.delimiters().component, b'>');
    assert_eq!(ic.usage(), Some("T"));
    let tx = doc.transactions().next().expect("tx");
    assert_eq!(
        tx.implementation(),
        Some("004010X098A1"),
        "GS08 when ST03 is empty"
    );
}

#[test]
fn wrong_counts_and_control_numbers_are_issues_with_positions() {
    let input = format!(
        "{ISA}GS*HC*S*R*20240101*1200*7*X*005010X222A1~ST*837*0001*005010X222A1~BHT*0019~SE*9*0002~GE*2*8~IEA*3*000000041~"
    );
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert_eq!(
        codes_of(&doc),
        [
            (codes::COUNT_MISMATCH.code(), 5, 1),
            (codes::CONTROL_NUMBER_MISMATCH.code(), 5, 2),
            (codes::COUNT_MISMATCH.code(), 6, 1),
            (codes::CONTROL_NUMBER_MISMATCH.code(), 6, 2),
            (codes::COUNT_MISMATCH.code(), 7, 1),
            (codes::CONTROL_NUMBER_MISMATCH.code(), 7, 2),
        ]
    );
    // Still read: the transaction set and its body.
    assert_eq!(doc.transactions().next().expect("tx").body().len(), 1);
}

#[test]
fn a_truncated_file_keeps_what_it_has() {
    let full = interchange(TX);
    let cut = &full[..full.find("SE*3").expect("SE") + 2];
    let doc = Document::read(cut.as_bytes()).expect("reads");
    let found = codes_of(&doc);
    assert!(
        found.contains(&(codes::UNTERMINATED_SEGMENT.code(), 5, 0)),
        "{found:?}"
    );
    assert_eq!(
        found
            .iter()
            .filter(|c| c.0 == codes::MISSING_TRAILER.code())
            .count(),
        2,
        "GE and IEA are missing ({found:?})"
    );
    let tx = doc.transactions().next().expect("tx");
    assert_eq!(tx.body().len(), 1, "BHT kept");
    assert!(doc.issues().iter().all(|i| i.severity >= Severity::Warning));
}

#[test]
fn data_before_the_isa_is_skipped_and_reported() {
    let input = format!(
        "garbage that mentions ISA but is not one\n{}",
        interchange(TX)
    );
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert_eq!(codes_of(&doc), [(codes::MISSING_ISA.code(), 0, 0)]);
    assert_eq!(doc.transactions().count(), 1);
    assert_eq!(
        Document::read(b"no interchange here").err(),
        Some(Error::NoInterchange)
    );
    assert_eq!(Document::read(b"").err(), Some(Error::NoInterchange));
}

#[test]
fn segments_outside_envelopes_and_stray_trailers() {
    let input = format!(
        "{ISA}BHT*0019~GS*HC*S*R*20240101*1200*7*X*005010X222A1~{TX}SE*1*1~GE*1*7~GE*1*7~IEA*1*000000042~"
    );
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert_eq!(
        codes_of(&doc),
        [
            (codes::OUTSIDE_ENVELOPE.code(), 2, 0),
            (codes::UNEXPECTED_TRAILER.code(), 7, 0),
            (codes::UNEXPECTED_TRAILER.code(), 9, 0),
        ]
    );
}

#[test]
fn blank_lines_and_empty_segments() {
    let input = interchange(TX).replace('~', "~\r\n").replace("BHT", "~BHT");
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert_eq!(
        doc.issues()
            .iter()
            .map(|i| i.code.code())
            .collect::<Vec<_>>(),
        [codes::EMPTY_SEGMENT.code()]
    );
    assert_eq!(doc.transactions().next().expect("tx").body().len(), 1);
}

#[test]
fn tokenizing_never_panics_and_never_loses_bytes() {
    let input = interchange(TX);
    for cut in 0..input.len() {
        let part = &input.as_bytes()[..cut];
        let mut t = Tokenizer::new(part);
        let total: usize = t.by_ref().map(|s| s.raw().len()).sum();
        assert!(total <= cut);
        let _ = Document::read(part);
    }
}

#[test]
fn issues_never_hold_values() {
    let input = interchange("ST*837*0001*005010X222A1~NM1*IL*1*SECRETNAME~SE*9*0001~");
    let doc = Document::read(input.as_bytes()).expect("reads");
    let shown = format!("{:?} {:?}", doc.issues(), doc.segments());
    let text: Vec<String> = doc.issues().iter().map(ToString::to_string).collect();
    assert!(!shown.contains("SECRETNAME"));
    assert!(!text.concat().contains("SECRETNAME"));
    assert!(!text.is_empty());
}

#[test]
fn a_component_separator_used_instead_of_the_declared_one_is_taken_with_a_warning() {
    let body = "ST*837*0001*005010X222A1~HI*BK>7215*BF>V7389~SV1*HC>98940>25*145.5*UN*1~SE*4*0001~";
    let input = interchange(body);
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert_eq!(
        codes_of(&doc),
        [(codes::COMPONENT_SEPARATOR_MISMATCH.code(), 4, 1)]
    );
    let body = doc.transactions().next().expect("tx").body();
    let hi = body[0].element(1).expect("HI01");
    assert_eq!(hi.component_text(2), Some("7215"));
    let sv1 = body[1].element(1).expect("SV101");
    assert_eq!(sv1.component_text(3), Some("25"));
    // Declared and used: nothing changes.
    let input = interchange("ST*837*0001*005010X222A1~HI*BK:7215~SV1*HC:98940*1*UN*1~SE*4*0001~");
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert!(doc.issues().is_empty());
    assert_eq!(doc.segments()[3].delimiters().component, b':');
}
