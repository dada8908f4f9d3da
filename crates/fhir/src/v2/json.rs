//! A small JSON writer that appends to one `String`, so a Bundle is built
//! without intermediate trees. Objects and arrays opened with [`W::begin`]
//! are rolled back by [`W::end`] when nothing was written inside them: FHIR
//! forbids empty objects and arrays, and mapping code can open one before
//! it knows whether the HL7 field holds anything.

use std::fmt::Write as _;
use std::ops::Range;

use super::EntrySpan;
use super::id::Id;

/// Where an object or array started, to roll it back when it stays empty.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    /// Byte index of the `{` or `[`.
    open: usize,
    /// The `}` or `]` that closes it.
    close: char,
    comma: bool,
}

/// An entry opened by [`W::entry`]; close it with [`W::end_entry`].
pub(crate) struct OpenEntry {
    entry: Mark,
    resource: Mark,
    resource_type: &'static str,
    id: Range<usize>,
}

/// The writer.
pub(crate) struct W {
    pub(crate) buf: String,
    comma: bool,
    /// Where each closed entry's resource is in `buf`.
    pub(crate) entries: Vec<EntrySpan>,
}

impl W {
    pub(crate) fn with_capacity(n: usize) -> Self {
        W {
            buf: String::with_capacity(n),
            comma: false,
            entries: Vec::new(),
        }
    }

    #[inline]
    fn sep(&mut self) {
        if self.comma {
            self.buf.push(',');
        }
    }

    /// Writes `"key":`.
    #[inline]
    pub(crate) fn key(&mut self, k: &str) {
        self.sep();
        self.buf.push('"');
        self.buf.push_str(k);
        self.buf.push_str("\":");
        self.comma = false;
    }

    /// Opens an object (`{`) or array (`[`) under `key` (or as an array
    /// element when `key` is `None`).
    #[inline]
    pub(crate) fn begin(&mut self, key: Option<&str>, open: char) -> Mark {
        let len = self.buf.len();
        let comma = self.comma;
        match key {
            Some(k) => self.key(k),
            None => self.sep(),
        }
        let m = Mark {
            len,
            open: self.buf.len(),
            close: if open == '{' { '}' } else { ']' },
            comma,
        };
        self.buf.push(open);
        self.comma = false;
        m
    }

    /// Opens an object under `key`.
    #[inline]
    pub(crate) fn obj(&mut self, key: &str) -> Mark {
        self.begin(Some(key), '{')
    }

    /// Opens an array under `key`.
    #[inline]
    pub(crate) fn arr(&mut self, key: &str) -> Mark {
        self.begin(Some(key), '[')
    }

    /// Opens an object as an array element.
    #[inline]
    pub(crate) fn item(&mut self) -> Mark {
        self.begin(None, '{')
    }

    /// Closes what `m` opened; returns false (and removes it, key included)
    /// when it stayed empty.
    #[inline]
    pub(crate) fn end(&mut self, m: Mark) -> bool {
        if self.buf.len() == m.open + 1 {
            self.discard(m);
            return false;
        }
        self.buf.push(m.close);
        self.comma = true;
        true
    }

    /// Drops what `m` opened, its key and contents included, as if it had
    /// never been begun.
    pub(crate) fn discard(&mut self, m: Mark) {
        self.buf.truncate(m.len);
        self.comma = m.comma;
    }

    /// A number value from HL7 `NM` text (see [`decimal_into`]); false, and
    /// nothing written, when the text is not a number.
    pub(crate) fn decimal(&mut self, s: &str) -> bool {
        let len = self.buf.len();
        self.sep();
        if decimal_into(&mut self.buf, s) {
            self.comma = true;
            true
        } else {
            self.buf.truncate(len);
            false
        }
    }

    /// Whether anything was written since `m` was opened.
    pub(crate) fn wrote_since(&self, m: Mark) -> bool {
        self.buf.len() > m.open + 1
    }

    /// A string value.
    #[inline]
    pub(crate) fn str(&mut self, s: &str) {
        self.sep();
        self.buf.push('"');
        escape_into(&mut self.buf, s);
        self.buf.push('"');
        self.comma = true;
    }

    /// A string value that needs no escaping (a literal of this crate).
    #[inline]
    pub(crate) fn str_lit(&mut self, s: &'static str) {
        debug_assert!(
            first_to_escape(s.as_bytes()).is_none(),
            "{s:?} needs escaping"
        );
        self.sep();
        self.buf.push('"');
        self.buf.push_str(s);
        self.buf.push('"');
        self.comma = true;
    }

    /// `"key":"value"` for a literal value (see [`W::str_lit`]).
    #[inline]
    pub(crate) fn kv_lit(&mut self, k: &str, v: &'static str) {
        self.key(k);
        self.str_lit(v);
    }

    /// `{"reference":"urn:uuid:<id>"}` under `key` (or as an array
    /// element when `key` is `None`), in one piece.
    #[inline]
    pub(crate) fn reference(&mut self, key: Option<&str>, id: &Id) {
        self.sep();
        if let Some(k) = key {
            self.buf.push('"');
            self.buf.push_str(k);
            self.buf.push_str("\":");
        }
        self.buf.push_str("{\"reference\":\"urn:uuid:");
        self.buf.push_str(id.as_str());
        self.buf.push_str("\"}");
        self.comma = true;
    }

    /// Opens a Bundle entry and its resource, `{"fullUrl":"urn:uuid:<id>",
    /// "resource":{"resourceType":"<ty>","id":"<id>"`, as an array element;
    /// close both with [`W::end_entry`].
    pub(crate) fn entry(&mut self, ty: &'static str, id: &Id) -> OpenEntry {
        let entry = self.item();
        self.buf.push_str("\"fullUrl\":\"urn:uuid:");
        self.buf.push_str(id.as_str());
        self.buf.push('"');
        self.comma = true;
        let resource = self.obj("resource");
        self.kv_lit("resourceType", ty);
        self.kv_id("id", id);
        // The id's text is the last thing written, before its closing quote.
        let id_end = self.buf.len() - 1;
        OpenEntry {
            entry,
            resource,
            resource_type: ty,
            id: id_end - id.as_str().len()..id_end,
        }
    }

    /// Closes the resource and the entry [`W::entry`] opened, and records
    /// where the resource is.
    pub(crate) fn end_entry(&mut self, open: OpenEntry) {
        // Never empty: the resource holds its type and id.
        self.end(open.resource);
        let resource = open.resource.open..self.buf.len();
        self.end(open.entry);
        self.entries.push(EntrySpan {
            resource_type: open.resource_type,
            id: open.id,
            resource,
        });
    }

    /// `"key":"<id>"`.
    #[inline]
    pub(crate) fn kv_id(&mut self, k: &str, id: &Id) {
        self.key(k);
        self.buf.push('"');
        self.buf.push_str(id.as_str());
        self.buf.push('"');
        self.comma = true;
    }

    /// A string value made of two pieces (a prefix and a value).
    pub(crate) fn str2(&mut self, a: &str, b: &str) {
        self.sep();
        self.buf.push('"');
        escape_into(&mut self.buf, a);
        escape_into(&mut self.buf, b);
        self.buf.push('"');
        self.comma = true;
    }

    /// A string value made of pieces joined by `sep`.
    pub(crate) fn str_joined<'a>(&mut self, parts: impl IntoIterator<Item = &'a str>, sep: &str) {
        self.sep();
        self.buf.push('"');
        let mut first = true;
        for p in parts {
            if !first {
                escape_into(&mut self.buf, sep);
            }
            first = false;
            escape_into(&mut self.buf, p);
        }
        self.buf.push('"');
        self.comma = true;
    }

    /// A value written as is (numbers, `true`, `false`).
    #[inline]
    pub(crate) fn raw(&mut self, s: &str) {
        self.sep();
        self.buf.push_str(s);
        self.comma = true;
    }

    /// An unsigned integer value.
    pub(crate) fn uint(&mut self, n: u64) {
        self.sep();
        let _ = write!(self.buf, "{n}");
        self.comma = true;
    }

    /// `"key":"value"`.
    #[inline]
    pub(crate) fn kv(&mut self, k: &str, v: &str) {
        self.key(k);
        self.str(v);
    }

    /// `"key":"value"` when `v` is present and not empty.
    #[inline]
    pub(crate) fn kv_opt(&mut self, k: &str, v: Option<&str>) {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            self.kv(k, v);
        }
    }

    /// Starts a string value written in pieces with [`W::str_piece`].
    pub(crate) fn str_open(&mut self) {
        self.sep();
        self.buf.push('"');
    }

    /// A piece of an open string value.
    pub(crate) fn str_piece(&mut self, s: &str) {
        escape_into(&mut self.buf, s);
    }

    /// Closes a string value opened with [`W::str_open`].
    pub(crate) fn str_close(&mut self) {
        self.buf.push('"');
        self.comma = true;
    }
}

/// Appends `s` escaped for a JSON string.
#[inline]
pub(crate) fn escape_into(out: &mut String, s: &str) {
    // Most values need no escaping: find the first byte that does, if any.
    match first_to_escape(s.as_bytes()) {
        None => out.push_str(s),
        Some(first) => escape_from(out, s, first),
    }
}

/// Appends `s` escaped, knowing that `first` is the first byte to escape.
#[cold]
#[inline(never)]
fn escape_from(out: &mut String, s: &str, first: usize) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// The index of the first byte of `bytes` that JSON escapes.
#[inline]
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    // Most values are short and need nothing: answer that with whole
    // words (the last one overlapping the one before) before looking
    // for the byte.
    let clean = if bytes.len() >= 8 {
        let word =
            |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
        let mut at = 0;
        let mut hit = false;
        while at + 8 <= bytes.len() && !hit {
            hit = needs_escape(word(at));
            at += 8;
        }
        !hit && !needs_escape(word(bytes.len() - 8))
    } else {
        !bytes.iter().any(|&b| ESCAPED[usize::from(b)])
    };
    if clean {
        return None;
    }
    bytes.iter().position(|&b| ESCAPED[usize::from(b)])
}

/// The bytes JSON escapes: control characters, `"` and `\`.
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any of the eight bytes of `word` is a control character, `"` or
/// `\` (the bytes JSON escapes). Bytes of 0x80 and above never match.
#[inline]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` borrows into its high bit when `n` is subtracted
    // (bytes with the high bit already set are masked out by `!x`).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let zero = |x: u64| below(x, 1);
    (below(word, 0x20)
        | zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// Writes `s` as a JSON number when it is an HL7 `NM` value (an optional
/// sign, digits, an optional decimal point and digits, surrounding spaces
/// allowed); false when it is not one. Leading zeros and a `+` sign are
/// dropped, as JSON requires; the digits are otherwise kept as sent, so
/// the precision the sender gave is kept.
fn decimal_into(out: &mut String, s: &str) -> bool {
    let s = s.trim();
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int)
        || !frac.is_none_or(digits)
        || (int.is_empty() && frac.is_none_or(str::is_empty))
    {
        return false;
    }
    let int = int.trim_start_matches('0');
    if neg {
        out.push('-');
    }
    if int.is_empty() {
        out.push('0');
    } else {
        out.push_str(int);
    }
    if let Some(f) = frac.filter(|f| !f.is_empty()) {
        out.push('.');
        out.push_str(f);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_objects_roll_back() {
        let mut w = W::with_capacity(64);
        let top = w.item();
        w.kv("a", "x");
        let m = w.obj("empty");
        let n = w.arr("list");
        w.end(n);
        w.end(m);
        w.kv("b", "q\"\n");
        w.end(top);
        assert_eq!(w.buf, r#"{"a":"x","b":"q\"\n"}"#);
    }

    #[test]
    fn discarded_objects_leave_no_separator_behind() {
        let mut w = W::with_capacity(64);
        let list = w.arr("list");
        let first = w.item();
        w.kv("url", "u1");
        w.discard(first);
        let second = w.item();
        w.kv("url", "u2");
        let q = w.obj("q");
        w.key("value");
        assert!(!w.decimal("1e3"));
        w.discard(q);
        let r = w.obj("r");
        w.key("value");
        assert!(w.decimal("007.5"));
        w.kv("unit", "d");
        w.end(r);
        w.end(second);
        w.end(list);
        assert_eq!(
            w.buf,
            r#""list":[{"url":"u2","r":{"value":7.5,"unit":"d"}}]"#
        );
    }

    #[test]
    fn decimals() {
        let f = |s: &str| {
            let mut o = String::new();
            decimal_into(&mut o, s).then_some(o)
        };
        assert_eq!(f("007.50").as_deref(), Some("7.50"));
        assert_eq!(f("+.5").as_deref(), Some("0.5"));
        assert_eq!(f("-12").as_deref(), Some("-12"));
        assert_eq!(f("1e3"), None);
        assert_eq!(f("."), None);
        assert_eq!(f(""), None);
    }

    proptest::proptest! {
        #[test]
        fn any_string_reads_back(case in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let mut out = String::new();
            escape_into(&mut out, &case);
            let back: String = serde_json::from_str(&format!("\"{out}\"")).expect("a JSON string");
            proptest::prop_assert_eq!(back, case);
        }
    }

    #[test]
    fn escapes_match_serde_json() {
        let cases = [
            "plain ascii text, longer than eight bytes",
            "q\"uote",
            "back\\slash in the middle of a long string",
            "tab\tnew\nline\rcr\u{1}\u{1f}",
            "\u{7f}é日本語 \u{1F600} \"",
            "",
            "12345678\"",
        ];
        for case in cases {
            let mut out = String::new();
            escape_into(&mut out, case);
            let expected = serde_json::to_string(case).expect("serializes");
            assert_eq!(format!("\"{out}\""), expected, "{case:?}");
        }
    }
}
