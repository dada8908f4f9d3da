//! The HL7 v2 generator: deterministic, well delimited, escaped, and doing
//! what each option promises. The checks split and decode messages with
//! helpers written here, independently of the generator's encoder.

use std::collections::{BTreeSet, HashSet};

use caresync_testkit::hl7::{
    DelimiterError, Delimiters, Hl7Generator, Hl7Kind, Hl7Message, Hl7Options, LineEnding,
};
use expect_test::{Expect, expect};

const BOM: &[u8] = b"\xef\xbb\xbf";

fn byte(c: char) -> u8 {
    u8::try_from(c).expect("delimiters are ASCII")
}

/// The segments of a message or batch file, whatever their terminators.
fn segments(bytes: &[u8]) -> Vec<&[u8]> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\r' || b == b'\n')
        .filter(|s| !s.is_empty())
        .collect()
}

fn split(bytes: &[u8], separator: char) -> Vec<&[u8]> {
    bytes.split(|&b| b == byte(separator)).collect()
}

/// Field `n` as HL7 numbers them (in MSH, FHS and BHS field 1 is the
/// separator itself, so the split is off by one).
fn field<'a>(segment: &'a [u8], d: &Delimiters, n: usize) -> &'a [u8] {
    let header = [&b"MSH"[..], b"FHS", b"BHS"]
        .iter()
        .any(|id| segment.starts_with(id));
    let index = if header { n - 1 } else { n };
    split(segment, d.field()).get(index).copied().unwrap_or(b"")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8")
}

fn segments_named<'a>(bytes: &'a [u8], id: &str) -> Vec<&'a [u8]> {
    segments(bytes)
        .into_iter()
        .filter(|s| s.starts_with(id.as_bytes()))
        .collect()
}

/// Decodes the escape sequences of one component: the five delimiter escapes
/// and `\Xhh..\`; formatting escapes (`\.br\`, `\H\`...) are kept verbatim.
fn unescape(raw: &[u8], d: &Delimiters) -> String {
    let esc = byte(d.escape());
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != esc {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let end = raw[i + 1..]
            .iter()
            .position(|&b| b == esc)
            .map(|p| i + 1 + p)
            .expect("every escape sequence is closed");
        let sequence = &raw[i + 1..end];
        match sequence {
            b"F" => out.push(byte(d.field())),
            b"S" => out.push(byte(d.component())),
            b"T" => out.push(byte(d.subcomponent())),
            b"R" => out.push(byte(d.repetition())),
            b"E" => out.push(esc),
            [b'X', hex @ ..] => {
                assert!(hex.len() % 2 == 0 && !hex.is_empty(), "bad hex escape");
                for pair in hex.chunks(2) {
                    out.push(u8::from_str_radix(text(pair), 16).expect("hex digits"));
                }
            }
            _ => {
                out.push(esc);
                out.extend_from_slice(sequence);
                out.push(esc);
            }
        }
        i = end + 1;
    }
    String::from_utf8(out).expect("decoded text is UTF-8")
}

fn nasty_with(delimiters: Delimiters) -> Hl7Options {
    Hl7Options {
        delimiters,
        ..Hl7Options::nasty()
    }
}

/// Shows terminators and the BOM, so a snapshot pins them too.
fn visible(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut chars = text(bytes).chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{feff}' => out.push_str("<BOM>"),
            '\r' if chars.peek() == Some(&'\n') => {
                chars.next();
                out.push_str("<CRLF>\n");
            }
            '\r' => out.push_str("<CR>\n"),
            '\n' => out.push_str("<LF>\n"),
            c => out.push(c),
        }
    }
    out
}

fn check_snapshot(seed: u64, options: Hl7Options, kind: Hl7Kind, expected: Expect) {
    let bytes = Hl7Generator::new(seed, options).message(kind);
    expected.assert_eq(&visible(&bytes));
}

/// The generator's output is part of its contract: tests and benchmarks pin
/// values derived from seeds. A change here must be deliberate.
#[test]
fn seed_fixes_the_output() {
    check_snapshot(
        2026,
        Hl7Options::default(),
        Hl7Kind::AdtA01,
        expect![[r#"
            MSH|^~\&|ADT1|UC|CARESYNC|CARESYNC|20240409221554+0000||ADT^A01^ADT_A01|5201FB0000000001|T|2.5.1|||||USA<CR>
            EVN||20240409171512|||OP8370^Hernandez^Jamie|20240409171507-0500|UC<CR>
            PID|1||MRN96345062^^^UC^MR^UC~pat-d90f424b71cd^^^CARESYNC^PI||Harris^Robert^Morgan^^^^L~Harris^Bob^^^^^A||19591002|M||2076-8^Native Hawaiian or Other Pacific Islander^CDCREC|9153 Oak Way^^Columbus^OH^43252^USA^H||(614) 555-0124^PRN^PH^^1^614^5550124||en^English^ISO639|S^Single^HL70002||176903337^^^UC^AN||||2135-2^Hispanic or Latino^CDCREC|||||||||||20240810153721|UC<CR>
            NK1|1|Harris^Olivia^Quinn^^^^L|SPO^Spouse^HL70063|4706 Main Ave^^Columbus^OH^43273^USA^H|(614) 555-0173^PRN^PH^^1^614^5550173||EC^Emergency Contact^HL70131<CR>
            NK1|2|Gonzalez^Mark^Avery^^^^L|FTH^Father^HL70063|2564 Lake Ln^^Keene^NH^03635^USA^H|(603) 555-0102^PRN^PH^^1^603^5550102||N^Next-of-Kin^HL70131<CR>
            PV1|1|I|L\T\D^469^A^UC^^N^MAIN|EL|||1280389119^Chen^Olga^D^^^NP|1564430159^Sato^Grace^K^^^DO|1184605248^Turner^Grace^B^^^NP|OBS||||1|||1280389119^Chen^Olga^D^^^NP||enc-603985f624a9^^^UC^VN|SP|||||||||||||||||||UC|||||202404091715<CR>
            PV2|||^Gastro-esophageal reflux disease without esophagitis<CR>
            OBX|1|NM|8302-2^Body height^LN||162|cm^centimeter^UCUM|||||F|||20240409171507-0500<CR>
            OBX|2|NM|29463-7^Body weight^LN||100.0|kg^kilogram^UCUM|||||F|||20240409171507-0500<CR>
            AL1|1|DA^Drug allergy^HL70127|10180^Sulfamethoxazole^RXNORM|SV^Severe^HL70128|Shortness of breath|20160101<CR>
            DG1|1||K21.9^Gastro-esophageal reflux disease without esophagitis^I10C||20240409171507-0500|A|||||||||1<CR>
            DG1|2||I48.91^Unspecified atrial fibrillation^I10C||20240409171507-0500|W|||||||||2|1280389119^Chen^Olga^D^^^NP<CR>
            ZPI|1|he/him|Robert|N||AD^Advance directive on file^L|ACTIVE|Call patient with results<CR>
            ZVS|1|Gastro-esophageal reflux disease without esophagitis|Walk-in|5|Patient prefers morning appointments<CR>
        "#]],
    );
    check_snapshot(
        2026,
        nasty_with(Delimiters::ALTERNATE),
        Hl7Kind::VxuV04,
        expect![[r##"
            <BOM>MSH#$*@!#EHR#UC#IIS#CARESYNC#20240409174443##VXU$V04$VXU_V04#5201FB0000000001#P#2.5.1######UNICODE UTF-8###Z22$CDCPHINVS<CRLF>
            PID#1##MRN96345062$$$UC$MR$UC*584273575$$$USSSA$SS*pat-d90f424b71cd$$$CARESYNC$PI*10653595$$$CHC$MR$CHC*38846671$$$CHC$MR$CHC*13709786$$$CHC$MR$CHC*04632729$$$LRMC$MR$LRMC*S70445792$$$OH$DL*XYZ467958898$$$PAYER$MB##Harris$Robert$Morgan$$$$L*Harris$Bob$$$$$A##19591002#M##2054-5$Black or African American$CDCREC#9153 Oak Way$$Columbus$OH$43252$USA$H*PO Box 3898$$Columbus$OH$43252$USA$M##(614) 555-0124$PRN$PH$$1$614$5550124*$NET$Internet$robert.harris@E@example.com*$PRN$CP$$1$614$5550132##vi$Vietnamese$ISO639#W$Widowed$HL70002##176903337$$$UC$AN####2135-2$Hispanic or Latino$CDCREC###########202408101537-0500#UC<CR>
            PD1###University Clinic$L$$$$UC$XX$$$UC#1564430159$Sato$Grace$K$$$DO########""#<CR>
            ORC#RE#ORD889388$EHR#IZORD889388$EHR#########1280389119$Chen$Olga$D$$$NP<LF>
            RXA#0#1#20240409174407-0500#202404091744-0500#03$MMR$CVX#0.5#mL$milliliter$UCUM##00$New immunization record$NIP001#2543579348$O'Connor$Priya$A$$$DO#$$$UC####TB52174#20250224#MSK$Merck and Co., Inc.$MVX###CP#A###<CR>
            RXR#C28161$Intramuscular$NCIT#LD$Left Deltoid$HL70163<CRLF>
            OBX#1#CWE#64994-7$Vaccine funding program eligibility category$LN#1#V01$Not VFC eligible$HL70064######F###20240409174407-0500###VXC40$Eligibility captured at the immunization level$CDCPHINVS##20240409174407-0500#<LF>
        "##]],
    );
}

#[test]
fn same_seed_gives_the_same_bytes_and_another_seed_other_bytes() {
    for options in [Hl7Options::default(), nasty_with(Delimiters::ALTERNATE)] {
        let run = |seed| {
            let mut g = Hl7Generator::new(seed, options.clone());
            let mut out: Vec<Vec<u8>> = (0..60).map(|_| g.any_message()).collect();
            out.push(g.batch_file(5));
            out.push(g.adt_a01_2kb());
            out
        };
        let a = run(11);
        assert_eq!(a, run(11));
        let b = run(12);
        assert!(
            a.iter().zip(&b).all(|(x, y)| x != y),
            "every message differs between seeds"
        );
    }
}

#[test]
fn every_kind_starts_with_msh_and_the_chosen_delimiters() {
    let hash_standard = Delimiters::new('#', '^', '~', '\\', '&').expect("legal delimiters");
    for delimiters in [Delimiters::STANDARD, Delimiters::ALTERNATE, hash_standard] {
        for bom in [false, true] {
            let options = Hl7Options {
                delimiters,
                bom,
                ..Hl7Options::default()
            };
            let mut g = Hl7Generator::new(5, options);
            for kind in Hl7Kind::ALL {
                let bytes = g.message(kind);
                assert_eq!(bytes.starts_with(BOM), bom, "{kind:?}");
                let body = bytes.strip_prefix(BOM).unwrap_or(&bytes);
                let header = format!(
                    "MSH{f}{}{f}",
                    delimiters.encoding_characters(),
                    f = delimiters.field()
                );
                assert!(body.starts_with(header.as_bytes()), "{kind:?}");
                let msh = segments(&bytes)[0];
                let msh9 = split(field(msh, &delimiters, 9), delimiters.component());
                assert_eq!(text(msh9[0]), kind.message_code());
                assert_eq!(text(msh9[1]), kind.trigger_event());
                if let Some(structure) = msh9.get(2) {
                    assert_eq!(text(structure), kind.structure());
                }
                assert_eq!(field(msh, &delimiters, 12), b"2.5.1");
            }
        }
    }
}

#[test]
fn every_segment_is_well_formed_under_every_option() {
    for delimiters in [Delimiters::STANDARD, Delimiters::ALTERNATE] {
        let mut g = Hl7Generator::new(21, nasty_with(delimiters));
        let mut ids = BTreeSet::new();
        for _ in 0..300 {
            let bytes = g.any_message();
            assert!(std::str::from_utf8(&bytes).is_ok(), "valid UTF-8");
            for segment in segments(&bytes) {
                // Three upper-case letters or digits, then a field separator
                // or nothing: a raw CR or LF inside a value would break this.
                let id = &segment[..3.min(segment.len())];
                assert!(
                    id.len() == 3
                        && id
                            .iter()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                    "bad segment {:?}",
                    text(segment)
                );
                assert!(
                    segment.len() == 3 || segment[3] == byte(delimiters.field()),
                    "bad segment {:?}",
                    text(segment)
                );
                ids.insert(text(id).to_owned());
            }
        }
        for expected in [
            "MSH", "EVN", "PID", "PD1", "NK1", "PV1", "PV2", "MRG", "AL1", "DG1", "PR1", "GT1",
            "IN1", "ORC", "OBR", "OBX", "NTE", "TQ1", "SPM", "SCH", "RGS", "AIS", "AIL", "AIP",
            "TXA", "RXA", "RXR", "ZPI", "ZVS",
        ] {
            assert!(ids.contains(expected), "{expected} never generated");
        }
    }
}

#[test]
fn kinds_carry_their_segments() {
    let d = Delimiters::STANDARD;
    let mut g = Hl7Generator::new(8, Hl7Options::default());
    let required: &[(Hl7Kind, &[&str])] = &[
        (Hl7Kind::AdtA01, &["MSH", "EVN", "PID", "PV1", "DG1"]),
        (Hl7Kind::AdtA02, &["EVN", "PID", "PV1"]),
        (Hl7Kind::AdtA03, &["EVN", "PID", "PV1", "DG1"]),
        (Hl7Kind::AdtA06, &["EVN", "PID", "MRG", "PV1"]),
        (Hl7Kind::AdtA07, &["EVN", "PID", "MRG", "PV1"]),
        (Hl7Kind::AdtA40, &["EVN", "PID", "MRG"]),
        (Hl7Kind::OruR01, &["PID", "OBR", "OBX"]),
        (Hl7Kind::OrmO01, &["PID", "ORC", "OBR"]),
        (Hl7Kind::OmlO21, &["PID", "ORC", "TQ1", "OBR", "SPM"]),
        (Hl7Kind::SiuS12, &["SCH", "PID", "RGS", "AIS", "AIL", "AIP"]),
        (Hl7Kind::MdmT02, &["EVN", "PID", "PV1", "TXA", "OBX"]),
        (Hl7Kind::VxuV04, &["PID", "ORC", "RXA", "RXR"]),
    ];
    for _ in 0..20 {
        for (kind, ids) in required {
            let bytes = g.message(*kind);
            for id in *ids {
                assert!(
                    !segments_named(&bytes, id).is_empty(),
                    "{kind:?} lacks {id}"
                );
            }
        }

        let swap = g.message(Hl7Kind::AdtA17);
        assert_eq!(segments_named(&swap, "PID").len(), 2);
        assert_eq!(segments_named(&swap, "PV1").len(), 2);

        let oru = g.message(Hl7Kind::OruR01);
        let types: BTreeSet<&str> = segments_named(&oru, "OBX")
            .iter()
            .map(|obx| text(field(obx, &d, 2)))
            .collect();
        assert_eq!(
            types,
            BTreeSet::from(["CWE", "ED", "NM", "ST", "TX"]),
            "ORU^R01 value types"
        );

        let mdm = g.message(Hl7Kind::MdmT02);
        assert!(
            segments_named(&mdm, "OBX").iter().all(
                |obx| field(obx, &d, 2) == b"TX" && text(field(obx, &d, 5)).contains("\\.br\\")
            ),
            "MDM^T02 sends TX with line breaks"
        );

        for kind in [Hl7Kind::AdtA28, Hl7Kind::AdtA31] {
            let person = g.message(kind);
            let pv1 = segments_named(&person, "PV1");
            assert_eq!(field(pv1[0], &d, 2), b"N", "{kind:?} is person-level");
        }
    }
}

#[test]
fn messages_carry_the_facts_they_hold() {
    let d = Delimiters::STANDARD;
    let mut g = Hl7Generator::new(13, Hl7Options::default());
    for kind in Hl7Kind::ALL {
        let message: Hl7Message = g.generate(kind);
        assert_eq!(message.kind, kind);
        let msh = segments(&message.bytes)[0];
        assert_eq!(text(field(msh, &d, 10)), message.control_id);
        let pids = segments_named(&message.bytes, "PID");
        let shown = if kind == Hl7Kind::AdtA40 {
            1
        } else {
            message.patients.len()
        };
        assert_eq!(pids.len(), shown, "{kind:?}");
        for (pid, patient) in pids.iter().zip(&message.patients) {
            let first_id = split(field(pid, &d, 3), d.repetition())[0];
            assert_eq!(text(split(first_id, d.component())[0]), patient.mrn);
        }
        if kind == Hl7Kind::AdtA40 {
            let mrg = segments_named(&message.bytes, "MRG")[0];
            let prior = split(field(mrg, &d, 1), d.component())[0];
            assert_eq!(text(prior), message.patients[1].mrn);
        }
        let visits: Vec<&str> = segments_named(&message.bytes, "PV1")
            .iter()
            .filter_map(|pv1| {
                let visit = split(field(pv1, &d, 19), d.component())[0];
                (!visit.is_empty()).then(|| text(visit))
            })
            .collect();
        let encounters: Vec<&str> = message.encounters.iter().map(|e| e.id.as_str()).collect();
        if !visits.is_empty() {
            assert_eq!(visits, encounters, "{kind:?}");
        }
    }
}

#[test]
fn control_ids_are_unique_across_a_thousand_messages() {
    let d = Delimiters::STANDARD;
    let mut g = Hl7Generator::new(99, nasty_with(d));
    let ids: HashSet<Vec<u8>> = (0..1_000)
        .map(|_| {
            let bytes = g.any_message();
            field(segments(&bytes)[0], &d, 10).to_vec()
        })
        .collect();
    assert_eq!(ids.len(), 1_000);
}

/// Checks FHS ... BTS/FTS structure; returns (batches, messages).
fn check_batch(file: &[u8], d: &Delimiters) -> (usize, usize) {
    let segs = segments(file);
    let header = format!("FHS{}{}", d.field(), d.encoding_characters());
    assert!(segs[0].starts_with(header.as_bytes()), "starts with FHS");
    let last = segs.last().expect("segments");
    assert!(last.starts_with(b"FTS"), "ends with FTS");
    let (mut batches, mut total, mut in_batch) = (0, 0, None);
    for seg in &segs[1..segs.len() - 1] {
        match &seg[..3] {
            b"BHS" => {
                assert!(in_batch.is_none(), "batches do not nest");
                in_batch = Some(0usize);
                batches += 1;
            }
            b"MSH" => {
                *in_batch.as_mut().expect("messages are inside a batch") += 1;
                total += 1;
            }
            b"BTS" => {
                let count = in_batch.take().expect("BTS closes a batch");
                assert_eq!(text(field(seg, d, 1)), count.to_string(), "BTS-1");
            }
            _ => assert!(in_batch.is_some(), "segments are inside a batch"),
        }
    }
    assert!(in_batch.is_none(), "every batch is closed");
    assert_eq!(text(field(last, d, 1)), batches.to_string(), "FTS-1");
    (batches, total)
}

#[test]
fn batch_files_count_their_messages_and_batches() {
    for options in [Hl7Options::default(), nasty_with(Delimiters::ALTERNATE)] {
        let d = options.delimiters;
        let bom = options.bom;
        let mut g = Hl7Generator::new(4, options);
        let mut batch_counts = BTreeSet::new();
        for n in [0, 1, 2, 7, 60, 61, 62] {
            let file = g.batch_file(n);
            let boms = file.windows(3).filter(|w| *w == BOM).count();
            assert_eq!(boms, usize::from(bom), "a BOM starts the file only");
            let (batches, messages) = check_batch(&file, &d);
            assert_eq!(messages, n);
            batch_counts.insert(batches);
        }
        assert!(batch_counts.len() > 1, "files hold one or several batches");
    }
}

/// OBX-5 of the ED observation: the fifth component holds the base64 data.
fn ed_payload<'a>(bytes: &'a [u8], d: &Delimiters) -> &'a [u8] {
    let obx = segments_named(bytes, "OBX")
        .into_iter()
        .find(|obx| field(obx, d, 2) == b"ED")
        .expect("an ED observation");
    let value = split(field(obx, d, 5), d.component());
    assert_eq!(value[3], b"Base64");
    value[4]
}

#[test]
fn big_payload_option_gives_at_least_the_size_asked_for() {
    for (delimiters, size) in [
        (Delimiters::STANDARD, 5_000_000),
        (Delimiters::ALTERNATE, 100_001),
    ] {
        let options = Hl7Options {
            delimiters,
            big_payload_bytes: Some(size),
            ..Hl7Options::default()
        };
        let bytes = Hl7Generator::new(3, options).message(Hl7Kind::OruR01);
        let payload = ed_payload(&bytes, &delimiters);
        assert!(payload.len() >= size, "{} < {size}", payload.len());
        assert!(payload.len() < size + 64, "not much more than asked");
        assert_eq!(payload.len() % 4, 0);
        assert!(
            payload
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
        assert!(payload.starts_with(b"JVBERi0x"), "base64 of %PDF-1");
    }
    let small = Hl7Generator::new(3, Hl7Options::default()).message(Hl7Kind::OruR01);
    let payload = ed_payload(&small, &Delimiters::STANDARD);
    assert!((200..1_000).contains(&payload.len()));
}

#[test]
fn names_with_delimiters_are_escaped() {
    let hash_standard = Delimiters::new('#', '^', '~', '\\', '&').expect("legal delimiters");
    for delimiters in [Delimiters::STANDARD, Delimiters::ALTERNATE, hash_standard] {
        let options = Hl7Options {
            delimiters,
            nasty_name_rate: 1.0,
            escapes_everywhere: true,
            unicode: true,
            ..Hl7Options::default()
        };
        let d = delimiters;
        let raw: Vec<char> = vec![
            d.field(),
            d.component(),
            d.repetition(),
            d.escape(),
            d.subcomponent(),
        ];
        let mut g = Hl7Generator::new(17, options);
        let mut delimiters_seen = BTreeSet::new();
        for i in 0..400 {
            let kind = [Hl7Kind::AdtA01, Hl7Kind::AdtA17, Hl7Kind::OruR01][i % 3];
            let message = g.generate(kind);
            let pids = segments_named(&message.bytes, "PID");
            assert_eq!(pids.len(), message.patients.len());
            for (pid, patient) in pids.iter().zip(&message.patients) {
                let legal = split(field(pid, &d, 5), d.repetition())[0];
                let parts = split(legal, d.component());
                // A raw delimiter in a name would shift or split these.
                assert_eq!(parts.len(), 7, "XPN {:?}", text(legal));
                assert_eq!(split(parts[0], d.subcomponent()).len(), 1);
                assert_eq!(unescape(parts[0], &d), patient.family);
                assert_eq!(unescape(parts[1], &d), patient.given);
                assert_eq!(
                    unescape(parts[2], &d),
                    patient.middle.clone().unwrap_or_default()
                );
                assert_eq!(text(parts[6]), "L");
                for name in [&patient.family, &patient.given] {
                    delimiters_seen.extend(name.chars().filter(|c| raw.contains(c)));
                }
            }
        }
        assert_eq!(
            delimiters_seen.len(),
            5,
            "names held every delimiter of {d:?}: saw {delimiters_seen:?}"
        );
    }
}

#[test]
fn line_endings_are_the_ones_asked_for() {
    let count = |bytes: &[u8]| {
        let crlf = bytes.windows(2).filter(|w| *w == b"\r\n").count();
        let cr = bytes.iter().filter(|&&b| b == b'\r').count() - crlf;
        let lf = bytes.iter().filter(|&&b| b == b'\n').count() - crlf;
        (cr, crlf, lf)
    };
    for (ending, wanted) in [
        (LineEnding::Cr, (true, false, false)),
        (LineEnding::CrLf, (false, true, false)),
        (LineEnding::Lf, (false, false, true)),
        (LineEnding::Mixed, (true, true, true)),
    ] {
        let options = Hl7Options {
            line_ending: ending,
            ..nasty_with(Delimiters::STANDARD)
        };
        let mut g = Hl7Generator::new(6, options);
        let mut total = (0, 0, 0);
        for _ in 0..30 {
            let bytes = g.any_message();
            let (cr, crlf, lf) = count(&bytes);
            total = (total.0 + cr, total.1 + crlf, total.2 + lf);
            assert_eq!(
                cr + crlf + lf,
                segments(&bytes).len(),
                "one terminator per segment"
            );
        }
        let seen = (total.0 > 0, total.1 > 0, total.2 > 0);
        assert_eq!(seen, wanted, "{ending:?}");
    }
}

#[test]
fn default_messages_are_plain_and_nasty_ones_are_not() {
    let d = Delimiters::STANDARD;
    let is_null = |f: &[u8]| f == b"\"\"";
    let mut plain = Hl7Generator::new(31, Hl7Options::default());
    for _ in 0..200 {
        let bytes = plain.any_message();
        assert!(bytes.is_ascii(), "ASCII without the unicode option");
        assert!(!bytes.starts_with(BOM));
        let msh = segments(&bytes)[0];
        assert_eq!(field(msh, &d, 18), b"");
        for segment in segments(&bytes) {
            assert!(!split(segment, '|').into_iter().any(is_null), "no nulls");
            assert!(!segment.ends_with(b"|"), "no trailing separators");
        }
        assert!(!text(&bytes).contains("\\X"), "no hex escapes");
    }

    let mut nasty = Hl7Generator::new(31, nasty_with(d));
    let (mut nulls, mut trailing, mut non_ascii) = (0, 0, 0);
    let mut escapes = BTreeSet::new();
    for _ in 0..200 {
        let bytes = nasty.any_message();
        assert!(bytes.starts_with(BOM));
        let msh = segments(&bytes)[0];
        assert_eq!(field(msh, &d, 18), b"UNICODE UTF-8");
        non_ascii += usize::from(!bytes[3..].is_ascii());
        for segment in segments(&bytes) {
            nulls += split(segment, '|')
                .into_iter()
                .filter(|f| is_null(f))
                .count();
            trailing += usize::from(segment.ends_with(b"|"));
        }
        let body = text(&bytes);
        for escape in [
            "\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\", "\\X", "\\H\\", "\\.br\\",
        ] {
            if body.contains(escape) {
                escapes.insert(escape);
            }
        }
    }
    assert!(nulls > 0 && trailing > 0 && non_ascii > 0);

    for kind in [Hl7Kind::AdtA08, Hl7Kind::AdtA31] {
        let update = nasty.message(kind);
        let pid = segments_named(&update, "PID")[0];
        assert_eq!(field(pid, &d, 12), b"\"\"", "{kind:?} deletes PID-12");
        assert_eq!(field(pid, &d, 14), b"\"\"", "{kind:?} deletes PID-14");
    }
    assert_eq!(escapes.len(), 8, "escapes seen: {escapes:?}");
}

#[test]
fn repeated_identifiers_repeat() {
    let d = Delimiters::STANDARD;
    let options = Hl7Options {
        repeated_identifiers: true,
        ..Hl7Options::default()
    };
    let mut g = Hl7Generator::new(12, options);
    for _ in 0..50 {
        let bytes = g.message(Hl7Kind::AdtA08);
        let pid = segments_named(&bytes, "PID")[0];
        let ids = split(field(pid, &d, 3), d.repetition());
        assert!(ids.len() >= 6, "PID-3 has {} identifiers", ids.len());
        let types: BTreeSet<&str> = ids
            .iter()
            .map(|id| text(split(id, d.component())[4]))
            .collect();
        assert!(types.is_superset(&BTreeSet::from(["DL", "MB", "MR", "PI", "SS"])));
        assert!(split(field(pid, &d, 5), d.repetition()).len() >= 2);
        assert!(split(field(pid, &d, 13), d.repetition()).len() >= 3);
    }
}

#[test]
fn the_benchmark_adt_a01_is_two_kilobytes() {
    let d = Delimiters::STANDARD;
    for seed in 0..100 {
        let bytes = Hl7Generator::new(seed, Hl7Options::default()).adt_a01_2kb();
        assert_eq!(bytes.len(), 2_048, "seed {seed}");
        let segs = segments(&bytes);
        assert_eq!(segs.len(), 18);
        let msh9 = field(segs[0], &d, 9);
        assert!(msh9.starts_with(b"ADT^A01"));
        assert!(segs.last().expect("segments").starts_with(b"ZPI"));
        let pid = segments_named(&bytes, "PID")[0];
        assert!(split(field(pid, &d, 3), '~').len() >= 3, "repetitions");
        assert!(text(&bytes).contains("\\T\\"), "escapes");
    }
    // Other options still give a complete message of about that size.
    let options = nasty_with(Delimiters::ALTERNATE);
    let bytes = Hl7Generator::new(1, options).adt_a01_2kb();
    assert!(bytes.starts_with("\u{feff}MSH#$*@!#".as_bytes()));
    assert_eq!(segments(&bytes).len(), 18);
}

#[test]
fn delimiters_are_checked() {
    assert_eq!(
        Delimiters::new('#', '$', '*', '@', '!'),
        Ok(Delimiters::ALTERNATE)
    );
    assert_eq!(
        Delimiters::new('|', '^', '~', '\\', '&'),
        Ok(Delimiters::STANDARD)
    );
    assert_eq!(Delimiters::ALTERNATE.encoding_characters(), "$*@!");
    for bad in ['A', '7', ' ', '"', '.', '\r', 'é'] {
        assert_eq!(
            Delimiters::new(bad, '^', '~', '\\', '&'),
            Err(DelimiterError::NotAllowed(bad))
        );
    }
    assert_eq!(
        Delimiters::new('|', '^', '~', '\\', '^'),
        Err(DelimiterError::Repeated('^'))
    );
}
