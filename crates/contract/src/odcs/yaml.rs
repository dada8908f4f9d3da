//! The YAML the export writes: block mappings and block sequences indented
//! by two spaces, every string double-quoted with JSON's escapes (a JSON
//! string literal is a YAML double-quoted scalar), numbers and booleans
//! plain. Keys are the writer's own identifiers, never data.
//!
//! Quoting every string keeps data out of YAML's plain-scalar rules: a
//! value such as `no`, `1.0`, `- x`, `a: b`, `#x` or `2024-01-01` stays the
//! string it is.

use std::fmt::Write as _;

/// A value to write.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    /// A string, written double-quoted.
    Str(String),
    /// A number or boolean, written as it is (`0`, `-12`, `1.5`, `true`).
    Plain(String),
    /// A mapping, in order, with the writer's own keys.
    Map(Vec<(&'static str, Node)>),
    /// A sequence.
    Seq(Vec<Node>),
}

impl Node {
    pub(super) fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }

    pub(super) fn int(i: impl Into<i128>) -> Node {
        Node::Plain(i.into().to_string())
    }

    pub(super) fn bool(b: bool) -> Node {
        Node::Plain(b.to_string())
    }
}

/// `node` as a YAML document (a mapping at the top, as every export is).
pub(super) fn to_string(node: &Node) -> String {
    let mut out = String::new();
    match node {
        Node::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0),
        other => {
            // Only mappings are exported; anything else is one scalar line.
            out.push_str("---");
            write_value(&mut out, other, 0);
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn write_map(out: &mut String, entries: &[(&'static str, Node)], indent: usize) {
    for (key, value) in entries {
        pad(out, indent);
        out.push_str(key);
        out.push(':');
        write_value(out, value, indent);
    }
}

/// Whatever follows `key:` or `-` at `indent`: a scalar on the same line,
/// or a nested block on the lines after it.
fn write_value(out: &mut String, value: &Node, indent: usize) {
    match value {
        Node::Str(s) => {
            out.push(' ');
            quote(out, s);
            out.push('\n');
        }
        Node::Plain(p) => {
            out.push(' ');
            out.push_str(p);
            out.push('\n');
        }
        Node::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Node::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Node::Seq(items) => {
            out.push('\n');
            write_seq(out, items, indent + 2);
        }
        Node::Map(entries) => {
            out.push('\n');
            write_map(out, entries, indent + 2);
        }
    }
}

fn write_seq(out: &mut String, items: &[Node], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            // A mapping's first entry shares the dash's line; the others
            // line up under it.
            Node::Map(entries) if !entries.is_empty() => {
                let (key, value) = &entries[0];
                out.push(' ');
                out.push_str(key);
                out.push(':');
                write_value(out, value, indent + 2);
                write_map(out, &entries[1..], indent + 2);
            }
            other => write_value(out, other, indent),
        }
    }
}

/// Writes `s` double-quoted: `"` and `\` escaped, line breaks and tabs as
/// `\n`, `\r`, `\t`, and every other character YAML does not print as
/// itself (controls, DEL, the C1 block, the Unicode line and paragraph
/// separators, the byte-order mark, the two noncharacters) as `\uXXXX`.
pub(super) fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\u{1F}'
            | '\u{7F}'..='\u{9F}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FEFF}'
            | '\u{FFFE}'
            | '\u{FFFF}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Reads back the YAML [`to_string`] writes, strictly: two-space
    /// indentation, plain identifier keys, double-quoted strings with JSON
    /// escapes, plain numbers and booleans. Panics on anything else, so a
    /// document it reads is one whose structure the writer meant.
    pub(in crate::odcs) fn read(text: &str) -> Node {
        let mut lines: Vec<(usize, String)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let content = line.trim_start_matches(' ');
            let indent = line.len() - content.len();
            assert!(indent % 2 == 0, "line {}: odd indentation: {line:?}", n + 1);
            assert!(!content.is_empty(), "line {}: blank", n + 1);
            assert!(
                !content.starts_with('\t') && !content.ends_with(' '),
                "line {}: stray whitespace: {line:?}",
                n + 1
            );
            lines.push((indent, content.to_owned()));
        }
        assert!(text.ends_with('\n'), "the document ends with a newline");
        let mut at = 0;
        let node = block(&mut lines, &mut at, 0);
        assert_eq!(at, lines.len(), "line {}: left over", at + 1);
        node
    }

    fn block(lines: &mut [(usize, String)], at: &mut usize, indent: usize) -> Node {
        let (first, content) = &lines[*at];
        assert_eq!(*first, indent, "line {}: indentation", *at + 1);
        if content == "-" || content.starts_with("- ") {
            seq(lines, at, indent)
        } else {
            map(lines, at, indent)
        }
    }

    fn map(lines: &mut [(usize, String)], at: &mut usize, indent: usize) -> Node {
        let mut entries = Vec::new();
        while *at < lines.len() && lines[*at].0 == indent && !lines[*at].1.starts_with('-') {
            let line = *at + 1;
            let (key, rest) = lines[*at]
                .1
                .split_once(':')
                .map(|(k, r)| (k.to_owned(), r.to_owned()))
                .expect("a key");
            assert!(
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "line {line}: key {key:?}"
            );
            *at += 1;
            let value = value(lines, at, indent, &rest, line);
            // Keys are the writer's identifiers; leak them for the test.
            entries.push((&*key.leak(), value));
        }
        assert!(
            *at == lines.len() || lines[*at].0 < indent,
            "line {}: indentation",
            *at + 1
        );
        Node::Map(entries)
    }

    fn seq(lines: &mut [(usize, String)], at: &mut usize, indent: usize) -> Node {
        let mut items = Vec::new();
        while *at < lines.len() && lines[*at].0 == indent && lines[*at].1.starts_with('-') {
            let line = *at + 1;
            let content = lines[*at].1.clone();
            let rest = &content[1..];
            if rest.is_empty() {
                *at += 1;
                items.push(block(lines, at, indent + 2));
            } else if !rest.starts_with(" \"") && rest.contains(':') {
                // `- key: ...`: a mapping whose first line starts after the dash.
                lines[*at] = (indent + 2, rest[1..].to_owned());
                items.push(map(lines, at, indent + 2));
            } else {
                *at += 1;
                items.push(value(lines, at, indent, rest, line));
            }
        }
        Node::Seq(items)
    }

    fn value(
        lines: &mut [(usize, String)],
        at: &mut usize,
        indent: usize,
        rest: &str,
        line: usize,
    ) -> Node {
        if rest.is_empty() {
            return block(lines, at, indent + 2);
        }
        let scalar = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("line {line}: no space after the colon"));
        match scalar {
            "[]" => Node::Seq(Vec::new()),
            "{}" => Node::Map(Vec::new()),
            s if s.starts_with('"') => Node::Str(unquote(s, line)),
            s => {
                let number = s.parse::<f64>().is_ok() || matches!(s, ".inf" | "-.inf");
                assert!(
                    number || matches!(s, "true" | "false"),
                    "line {line}: plain scalar {s:?}"
                );
                Node::Plain(s.to_owned())
            }
        }
    }

    /// The string a double-quoted scalar stands for, which must be all of `s`.
    pub(in crate::odcs) fn unquote(s: &str, line: usize) -> String {
        let mut chars = s.chars();
        assert_eq!(chars.next(), Some('"'), "line {line}: an opening quote");
        let mut out = String::new();
        loop {
            match chars
                .next()
                .unwrap_or_else(|| panic!("line {line}: unclosed"))
            {
                '"' => break,
                '\\' => match chars.next() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        let code = u32::from_str_radix(&hex, 16).expect("four hex digits");
                        out.push(char::from_u32(code).expect("a character"));
                    }
                    other => panic!("line {line}: escape {other:?}"),
                },
                c => {
                    assert!(
                        !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}'),
                        "line {line}: raw {c:?}"
                    );
                    out.push(c);
                }
            }
        }
        assert_eq!(chars.as_str(), "", "line {line}: text after the string");
        out
    }

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        quote(&mut out, s);
        out
    }

    #[test]
    fn strings_are_quoted_with_json_escapes() {
        for (s, expected) in [
            ("plain", r#""plain""#),
            ("", r#""""#),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r"C:\path", r#""C:\\path""#),
            ("two\nlines\r\n", r#""two\nlines\r\n""#),
            ("a\tb", r#""a\tb""#),
            ("key: value", r#""key: value""#),
            ("- item", r#""- item""#),
            ("#comment", r##""#comment""##),
            ("a # b", r#""a # b""#),
            ("no", r#""no""#),
            ("1.0", r#""1.0""#),
            ("2024-01-01", r#""2024-01-01""#),
            (
                "&anchor *alias !tag |> {[,]} %@`'",
                r#""&anchor *alias !tag |> {[,]} %@`'""#,
            ),
            ("\u{0}\u{7}\u{1B}\u{7F}", r#""\u0000\u0007\u001B\u007F""#),
            (
                "\u{85}\u{2028}\u{2029}\u{FEFF}",
                r#""\u0085\u2028\u2029\uFEFF""#,
            ),
            ("é 日本 🩺", "\"é 日本 🩺\""),
        ] {
            assert_eq!(quoted(s), expected, "{s:?}");
            assert_eq!(unquote(expected, 1), s);
        }
    }

    #[test]
    fn every_character_reads_back() {
        let all: String = (0..=0x3_0000u32).filter_map(char::from_u32).collect();
        assert_eq!(unquote(&quoted(&all), 1), all);
    }

    #[test]
    fn nested_blocks_are_indented_by_two() {
        let node = Node::Map(vec![
            ("a", Node::str("x")),
            ("empty", Node::Seq(Vec::new())),
            ("none", Node::Map(Vec::new())),
            (
                "items",
                Node::Seq(vec![
                    Node::Map(vec![
                        ("name", Node::str("one")),
                        ("n", Node::int(1)),
                        (
                            "inner",
                            Node::Map(vec![(
                                "list",
                                Node::Seq(vec![Node::str("p"), Node::bool(false)]),
                            )]),
                        ),
                    ]),
                    Node::str("two"),
                    Node::Seq(vec![Node::int(-3)]),
                ]),
            ),
        ]);
        let text = to_string(&node);
        assert_eq!(
            text,
            r#"a: "x"
empty: []
none: {}
items:
  - name: "one"
    n: 1
    inner:
      list:
        - "p"
        - false
  - "two"
  -
    - -3
"#
        );
        assert_eq!(read(&text), node);
    }
}
