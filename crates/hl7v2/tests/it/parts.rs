//! Law: the one-pass part lookups (`Value::part`, `Value::split`, and
//! `component`/`subcomponent` built on them) give exactly the parts the
//! iterators give, at every depth, for any text and delimiters.

use caresync_hl7v2::{Delimiters, Level, Message, Value};
use proptest::prelude::*;

fn delimiter_sets() -> Vec<Delimiters> {
    vec![
        Delimiters::default(),
        Delimiters::new(b'|', b'^', b'~', Some(b'\\'), None, None).expect("legal"),
        Delimiters::new(b'|', b'^', b'~', None, None, None).expect("legal"),
        Delimiters::new(b';', b':', b',', Some(b'/'), Some(b'+'), None).expect("legal"),
    ]
}

/// Part `n` as the iterators give it.
fn reference(v: Value<'_>, n: usize) -> Option<Value<'_>> {
    let i = n.checked_sub(1)?;
    match v.level() {
        Level::Field | Level::Repetition => v.components().nth(i),
        Level::Component => v.subcomponents().nth(i),
        Level::Subcomponent => (i == 0).then_some(v),
    }
}

fn same(a: Option<Value<'_>>, b: Option<Value<'_>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.raw() == b.raw()
                && a.offset() == b.offset()
                && a.level() == b.level()
                && a.decode() == b.decode()
        }
        _ => false,
    }
}

fn check(v: Value<'_>, depth: usize) -> Result<(), TestCaseError> {
    let two = v.split::<2>();
    let five = v.split::<5>();
    let none = v.split::<0>();
    for n in 0..9 {
        let want = reference(v, n);
        prop_assert!(same(v.part(n), want), "part({n}) at {:?}", v.level());
        prop_assert!(same(two.get(n), want), "split::<2>.get({n})");
        prop_assert!(same(five.get(n), want), "split::<5>.get({n})");
        prop_assert!(same(none.get(n), want), "split::<0>.get({n})");
        let comp = n.checked_sub(1).and_then(|i| v.components().nth(i));
        prop_assert!(same(v.component(n), comp), "component({n})");
        let sub = n.checked_sub(1).and_then(|i| v.subcomponents().nth(i));
        prop_assert!(same(v.subcomponent(n), sub), "subcomponent({n})");
    }
    if depth < 3 {
        for n in 1..6 {
            if let Some(p) = v.part(n) {
                check(p, depth + 1)?;
            }
        }
        if v.level() == Level::Field {
            for r in v.repetitions() {
                check(r, depth + 1)?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn one_pass_parts_equal_the_iterators(
        set in 0..4usize,
        fields in prop::collection::vec("[a-c ^~&+:,\\\\/é]{0,24}", 1..6),
    ) {
        let d = delimiter_sets()[set];
        // Write the generated text with this set's separators in place of
        // the default ones, so every set sees the same shapes.
        let map = |c: char| match c {
            '^' => d.component() as char,
            '~' => d.repetition() as char,
            '&' => d.subcomponent().map_or('a', char::from),
            '\\' => d.escape().map_or('b', char::from),
            c => c,
        };
        let f = d.field() as char;
        let mut input = b"MSH".to_vec();
        input.extend(d.msh_header());
        input.extend(format!("{f}A{f}{f}{f}{f}1{f}{f}ADT{}A01{f}1{f}P{f}2.5\r", d.component() as char).bytes());
        input.extend(b"ZZZ");
        for text in &fields {
            input.push(d.field());
            input.extend(text.chars().map(map).collect::<String>().bytes());
        }
        input.push(b'\r');
        let msg = Message::parse(&input).expect("parses");
        let seg = msg.segment("ZZZ").expect("ZZZ");
        for n in 1..=seg.field_count() {
            check(seg.field(n).expect("field"), 0)?;
        }
    }
}
