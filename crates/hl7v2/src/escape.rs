//! Escape sequences: decoding on access, encoding on print.

use std::borrow::Cow;

use crate::delim::Delimiters;

/// Decodes the escape sequences of a raw value (see [`crate::Value::decode`]).
pub(crate) fn decode<'r>(raw: &'r [u8], d: &Delimiters) -> Cow<'r, [u8]> {
    let Some(e) = d.escape else {
        return Cow::Borrowed(raw);
    };
    let Some(first) = crate::value::find_byte(e, raw) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        if raw[i] != e {
            let next = crate::value::find_byte(e, &raw[i..]).map_or(raw.len(), |p| i + p);
            out.extend_from_slice(&raw[i..next]);
            i = next;
            continue;
        }
        let Some(len) = crate::value::find_byte(e, &raw[i + 1..]) else {
            // Unterminated: keep the rest as written.
            out.extend_from_slice(&raw[i..]);
            break;
        };
        let body = &raw[i + 1..i + 1 + len];
        let whole = &raw[i..i + len + 2];
        match body {
            b"F" => out.push(d.field),
            b"S" => out.push(d.component),
            b"T" => out.push(d.subcomponent.unwrap_or(b'&')),
            b"R" => out.push(d.repetition),
            b"E" => out.push(e),
            b"P" => match d.truncation {
                Some(t) => out.push(t),
                None => out.extend_from_slice(whole),
            },
            b".br" => out.push(b'\n'),
            b"H" | b"N" => {}
            [b'X', hex @ ..] if !hex.is_empty() && hex.len() % 2 == 0 => match hex_bytes(hex) {
                Some(bytes) => out.extend(bytes),
                None => out.extend_from_slice(whole),
            },
            _ => out.extend_from_slice(whole),
        }
        i += len + 2;
    }
    Cow::Owned(out)
}

fn hex_bytes(hex: &[u8]) -> Option<impl Iterator<Item = u8> + '_> {
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    };
    Some(
        hex.chunks_exact(2)
            .map(move |p| digit(p[0]) << 4 | digit(p[1])),
    )
}

/// Why a value cannot be written with some delimiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The text holds a delimiter character and no escape character is declared.
    #[error(
        "{}: text holds a delimiter and no escape character is declared",
        crate::error::codes::BAD_DELIMITER_CHOICE
    )]
    NoEscapeCharacter,
}

/// Appends `text` to `out` as an HL7 v2 value: each delimiter and the escape
/// character become their escape sequence, a line break becomes `\.br\`,
/// and other control characters become `\Xhh\`.
///
/// ```
/// use caresync_hl7v2::{Delimiters, escape_text};
///
/// let mut out = Vec::new();
/// escape_text("O'Brien & Sons | A^B", &Delimiters::default(), &mut out)?;
/// assert_eq!(out, b"O'Brien \\T\\ Sons \\F\\ A\\S\\B");
/// # Ok::<(), caresync_hl7v2::EncodeError>(())
/// ```
pub fn escape_text(text: &str, d: &Delimiters, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    escape_bytes(text.as_bytes(), d, out)
}

pub(crate) fn escape_bytes(
    text: &[u8],
    d: &Delimiters,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    out.reserve(text.len());
    for &b in text {
        if let Some(name) = escape_name(b, d) {
            let e = d.escape.ok_or(EncodeError::NoEscapeCharacter)?;
            out.push(e);
            out.extend_from_slice(name);
            out.push(e);
        } else if b == b'\n' {
            let e = d.escape.ok_or(EncodeError::NoEscapeCharacter)?;
            out.push(e);
            out.extend_from_slice(b".br");
            out.push(e);
        } else if b < 0x20 && b != b'\t' || b == 0x7F {
            let e = d.escape.ok_or(EncodeError::NoEscapeCharacter)?;
            out.push(e);
            out.push(b'X');
            out.extend_from_slice(&hex_pair(b));
            out.push(e);
        } else {
            out.push(b);
        }
    }
    Ok(())
}

fn escape_name(b: u8, d: &Delimiters) -> Option<&'static [u8]> {
    if b == d.field {
        Some(b"F")
    } else if b == d.component {
        Some(b"S")
    } else if b == d.repetition {
        Some(b"R")
    } else if Some(b) == d.escape {
        Some(b"E")
    } else if Some(b) == d.subcomponent {
        Some(b"T")
    } else if Some(b) == d.truncation {
        Some(b"P")
    } else {
        None
    }
}

fn hex_pair(b: u8) -> [u8; 2] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]
}

/// Rewrites a raw value from one set of delimiters to another: structural
/// separators are mapped, escape sequences keep their meaning (with the new
/// escape character), and data characters that are delimiters in the new
/// set are escaped.
pub(crate) fn transcode(
    raw: &[u8],
    from: &Delimiters,
    to: &Delimiters,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if Some(b) == from.escape {
            if let Some(len) = raw[i + 1..].iter().position(|&c| Some(c) == from.escape) {
                let body = &raw[i + 1..i + 1 + len];
                // Delimiter escapes name a character of the *source* set:
                // write that character as the target set needs it.
                let literal = match body {
                    b"F" => Some(from.field),
                    b"S" => Some(from.component),
                    b"R" => Some(from.repetition),
                    b"T" => from.subcomponent,
                    b"E" => from.escape,
                    b"P" => from.truncation,
                    _ => None,
                };
                if let Some(c) = literal {
                    escape_bytes(&[c], to, out)?;
                    i += len + 2;
                    continue;
                }
                if body
                    .iter()
                    .any(|&c| to.is_special(c) || Some(c) == to.truncation)
                {
                    // Kept verbatim, it would break the new structure: write
                    // the sequence as the text it decodes to (unknown
                    // sequences decode to themselves).
                    escape_bytes(&raw[i..i + len + 2], to, out)?;
                    i += len + 2;
                    continue;
                }
                let e = to.escape.ok_or(EncodeError::NoEscapeCharacter)?;
                out.push(e);
                out.extend_from_slice(body);
                out.push(e);
                i += len + 2;
                continue;
            }
            // An unterminated escape: the rest is data.
            escape_bytes(&raw[i..], to, out)?;
            return Ok(());
        }
        let mapped = if b == from.component {
            Some(to.component)
        } else if b == from.repetition {
            Some(to.repetition)
        } else if Some(b) == from.subcomponent {
            to.subcomponent
        } else {
            None
        };
        match mapped {
            Some(m) => out.push(m),
            None => escape_bytes(&[b], to, out)?,
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(raw: &str) -> String {
        String::from_utf8(decode(raw.as_bytes(), &Delimiters::default()).into_owned())
            .expect("utf8")
    }

    #[test]
    fn decodes_every_kind_of_sequence() {
        assert_eq!(dec(r"a\F\b\S\c\T\d\R\e\E\f"), r"a|b^c&d~e\f");
        assert_eq!(dec(r"line1\.br\line2"), "line1\nline2");
        assert_eq!(dec(r"\H\bold\N\"), "bold");
        assert_eq!(dec(r"\X0D0A\"), "\r\n");
        assert_eq!(dec(r"\XC3A9\"), "é");
        assert_eq!(
            dec(r"keep \Zcustom\ and \.sp2\ and \X0\"),
            r"keep \Zcustom\ and \.sp2\ and \X0\"
        );
        assert_eq!(dec(r"broken \F"), r"broken \F");
        assert_eq!(dec("plain"), "plain");
    }

    #[test]
    fn escapes_and_transcodes() {
        let d = Delimiters::default();
        let mut out = Vec::new();
        escape_text("a|b^c&d~e\\f\ng\u{1}", &d, &mut out).expect("escape");
        assert_eq!(out, br"a\F\b\S\c\T\d\R\e\E\f\.br\g\X01\");
        assert_eq!(
            dec(std::str::from_utf8(&out).expect("ascii")),
            "a|b^c&d~e\\f\ng\u{1}"
        );

        let to = Delimiters::new(b'#', b'$', b'*', Some(b'@'), Some(b'!'), None).expect("legal");
        let mut out = Vec::new();
        transcode(br"x^y~z&w\F\ #1", &d, &to, &mut out).expect("transcode");
        assert_eq!(out, b"x$y*z!w| @F@1");
    }
}
