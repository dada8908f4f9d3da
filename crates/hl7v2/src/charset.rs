//! Character sets named in MSH-18.

use std::borrow::Cow;

/// The character set a message's values are decoded with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Charset {
    /// `ASCII` declared: bytes above 0x7F are an issue.
    Ascii,
    /// `UNICODE UTF-8` declared, or nothing declared and the bytes are UTF-8.
    Utf8,
    /// `8859/1` declared, or nothing declared and the bytes are not UTF-8.
    Latin1,
    /// Another declared set (`8859/2`, `ISO IR87`, ...): values decode as
    /// UTF-8 where they can, and the raw bytes stay available.
    Other,
}

impl Charset {
    /// Reads MSH-18 (its first repetition). Returns the set and whether this
    /// crate decodes it.
    pub(crate) fn from_msh18(declared: &[u8]) -> (Charset, bool) {
        let name = declared.trim_ascii();
        if name.is_empty() {
            return (Charset::Utf8, true);
        }
        let upper = name.to_ascii_uppercase();
        match upper.as_slice() {
            b"ASCII" => (Charset::Ascii, true),
            b"UNICODE UTF-8" | b"UTF-8" | b"UTF8" => (Charset::Utf8, true),
            b"8859/1" | b"ISO-8859-1" | b"ISO8859-1" => (Charset::Latin1, true),
            _ => (Charset::Other, false),
        }
    }

    /// The offset of the first byte that is not valid in this set.
    pub(crate) fn first_invalid(self, bytes: &[u8]) -> Option<usize> {
        match self {
            Charset::Ascii => bytes.iter().position(|b| !b.is_ascii()),
            Charset::Utf8 => std::str::from_utf8(bytes).err().map(|e| e.valid_up_to()),
            Charset::Latin1 | Charset::Other => None,
        }
    }

    /// Decodes bytes of this set to text; bytes that are invalid become U+FFFD.
    pub(crate) fn decode(self, bytes: &[u8]) -> Cow<'_, str> {
        match self {
            Charset::Latin1 => match std::str::from_utf8(bytes) {
                Ok(s) if s.is_ascii() => Cow::Borrowed(s),
                _ => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
            },
            // Validation has an ASCII fast path that the lossy decoder lacks;
            // almost every value is valid, so try it first.
            Charset::Ascii | Charset::Utf8 | Charset::Other => match std::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(bytes),
            },
        }
    }

    /// The MSH-18 name for this set (empty for `Other`).
    pub fn name(self) -> &'static str {
        match self {
            Charset::Ascii => "ASCII",
            Charset::Utf8 => "UNICODE UTF-8",
            Charset::Latin1 => "8859/1",
            Charset::Other => "",
        }
    }
}
