//! Laws: parse∘print is the identity, and printing with other delimiters
//! keeps every decoded value.

use caresync_hl7v2::{Delimiters, Message, PrintOptions, escape_text};
use proptest::prelude::*;

/// segments → fields → repetitions → components → sub-components → text.
type Tree = Vec<Vec<Vec<Vec<Vec<String>>>>>;

fn delimiter_sets() -> Vec<Delimiters> {
    vec![
        Delimiters::default(),
        Delimiters::new(b'#', b'$', b'*', Some(b'@'), Some(b'!'), None).expect("legal"),
        Delimiters::new(b'|', b'^', b'~', Some(b'\\'), Some(b'&'), Some(b'%')).expect("legal"),
        Delimiters::new(b';', b':', b',', Some(b'/'), Some(b'+'), None).expect("legal"),
    ]
}

fn tree() -> impl Strategy<Value = (Vec<String>, Tree)> {
    let leaf = "[ -~é\n]{1,10}";
    let subs = prop::collection::vec(leaf, 1..3);
    let comps = prop::collection::vec(subs, 1..4);
    let reps = prop::collection::vec(comps, 1..3);
    let fields = prop::collection::vec(reps, 1..8);
    let ids = prop::collection::vec("Z[A-Z0-9]{2}|PID|OBX|NTE|PV1", 1..8);
    ids.prop_flat_map(move |ids| {
        let n = ids.len();
        (Just(ids), prop::collection::vec(fields.clone(), n))
    })
}

fn build(d: &Delimiters, ids: &[String], tree: &Tree) -> Vec<u8> {
    let mut out = b"MSH".to_vec();
    out.extend(d.msh_header());
    let f = d.field() as char;
    let c = d.component() as char;
    out.extend(format!("{f}APP{f}{f}{f}{f}20240101{f}{f}ADT{c}A01{f}1{f}P{f}2.5").bytes());
    out.push(b'\r');
    for (id, fields) in ids.iter().zip(tree) {
        out.extend_from_slice(id.as_bytes());
        for reps in fields {
            out.push(d.field());
            for (r, comps) in reps.iter().enumerate() {
                if r > 0 {
                    out.push(d.repetition());
                }
                for (c, subs) in comps.iter().enumerate() {
                    if c > 0 {
                        out.push(d.component());
                    }
                    for (s, text) in subs.iter().enumerate() {
                        if s > 0 {
                            out.push(d.subcomponent().expect("declared"));
                        }
                        escape_text(text, d, &mut out).expect("escape");
                    }
                }
            }
        }
        out.push(b'\r');
    }
    out
}

fn extract(msg: &Message<'_>) -> Tree {
    msg.segments()
        .skip(1)
        .map(|seg| {
            seg.fields()
                .map(|f| {
                    f.repetitions()
                        .map(|r| {
                            r.components()
                                .map(|c| {
                                    c.subcomponents().map(|s| s.decode().into_owned()).collect()
                                })
                                .collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

proptest! {
    #[test]
    fn parse_then_print_is_identity_and_values_survive((ids, tree) in tree(), which in 0usize..4, to in 0usize..4) {
        let sets = delimiter_sets();
        let d = sets[which];
        let input = build(&d, &ids, &tree);
        let msg = Message::parse(&input).expect("generated messages parse");
        prop_assert!(msg.issues().is_empty(), "{:?}", msg.issues());
        prop_assert_eq!(msg.to_bytes(), input.clone());
        prop_assert_eq!(&extract(&msg), &tree);

        // Printed with other delimiters, every value decodes the same.
        let mut other = Vec::new();
        msg.write_to(&mut other, &PrintOptions::default().with_delimiters(sets[to])).expect("print");
        let again = Message::parse(&other).expect("reprinted message parses");
        prop_assert!(again.issues().is_empty(), "{:?}", again.issues());
        prop_assert_eq!(again.delimiters(), sets[to]);
        prop_assert_eq!(&extract(&again), &tree);
        prop_assert_eq!(again.get("MSH-9.2").map(|v| v.decode().into_owned()), Some("A01".to_owned()));
    }

    #[test]
    fn parsing_never_panics_and_stays_in_bounds(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut input = b"MSH|^~\\&|".to_vec();
        input.extend(bytes);
        if let Ok(msg) = Message::parse(&input) {
            for seg in msg.segments() {
                for f in seg.fields() {
                    let _ = f.decode();
                    for r in f.repetitions() {
                        for c in r.components() {
                            prop_assert!(c.offset() as usize + c.raw().len() <= input.len());
                        }
                    }
                }
            }
            for issue in msg.issues() {
                prop_assert!(issue.offset as usize <= input.len());
            }
            let _ = msg.to_bytes();
        }
    }
}
