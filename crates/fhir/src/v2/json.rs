//! A small JSON writer that appends to one `String`, so a Bundle is built
//! without intermediate trees. Objects and arrays opened with [`W::begin`]
//! are rolled back by [`W::end`] when nothing was written inside them: FHIR
//! forbids empty objects and arrays, and mapping code can open one before
//! it knows whether the HL7 field holds anything.

use std::fmt::Write as _;

/// Where an object or array started, to roll it back when it stays empty.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    comma: bool,
}

/// The writer.
pub(crate) struct W {
    pub(crate) buf: String,
    comma: bool,
}

impl W {
    pub(crate) fn with_capacity(n: usize) -> Self {
        W {
            buf: String::with_capacity(n),
            comma: false,
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
        let m = Mark {
            len: self.buf.len(),
            comma: self.comma,
        };
        match key {
            Some(k) => self.key(k),
            None => self.sep(),
        }
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
        match self.buf.as_bytes().last() {
            Some(b'{') | Some(b'[') if self.buf.len() == self.open_at(m) + 1 => {
                self.buf.truncate(m.len);
                self.comma = m.comma;
                false
            }
            Some(_) => {
                let open = self.buf.as_bytes()[self.open_at(m)];
                self.buf.push(if open == b'{' { '}' } else { ']' });
                self.comma = true;
                true
            }
            None => false,
        }
    }

    /// Byte index of the bracket `m` opened.
    fn open_at(&self, m: Mark) -> usize {
        // The bracket is the first `{` or `[` written after the mark: keys
        // are plain ASCII names without brackets.
        let b = self.buf.as_bytes();
        let mut i = m.len;
        while i < b.len() && b[i] != b'{' && b[i] != b'[' {
            i += 1;
        }
        i
    }

    /// Whether anything was written since `m` was opened.
    pub(crate) fn wrote_since(&self, m: Mark) -> bool {
        self.buf.len() > self.open_at(m) + 1
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
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
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

/// Writes `s` as a JSON number when it is an HL7 `NM` value (an optional
/// sign, digits, an optional decimal point and digits, surrounding spaces
/// allowed); false when it is not one. Leading zeros and a `+` sign are
/// dropped, as JSON requires; the digits are otherwise kept as sent, so
/// the precision the sender gave is kept.
pub(crate) fn decimal_into(out: &mut String, s: &str) -> bool {
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
}
