//! Encoding characters (MSH-1 and MSH-2).

use std::fmt;

use crate::error::ParseError;

/// The encoding characters a message declares in MSH-1 and MSH-2.
///
/// HL7 v2 lets a sender choose any printable characters; `|^~\&` is only the
/// usual choice. Since v2.7, MSH-2 may carry a fifth, truncation character
/// (usually `#`). A sender may also declare fewer than four: the missing
/// ones are simply unavailable (`None`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delimiters {
    pub(crate) field: u8,
    pub(crate) component: u8,
    pub(crate) repetition: u8,
    pub(crate) escape: Option<u8>,
    pub(crate) subcomponent: Option<u8>,
    pub(crate) truncation: Option<u8>,
}

impl Default for Delimiters {
    /// `|^~\&`, the usual choice.
    fn default() -> Self {
        Delimiters {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: Some(b'\\'),
            subcomponent: Some(b'&'),
            truncation: None,
        }
    }
}

impl fmt::Debug for Delimiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Delimiters({:?})",
            String::from_utf8_lossy(&self.msh_header())
        )
    }
}

impl Delimiters {
    /// Builds and checks a set of delimiters: all distinct, printable ASCII,
    /// and none a letter, digit or space.
    pub fn new(
        field: u8,
        component: u8,
        repetition: u8,
        escape: Option<u8>,
        subcomponent: Option<u8>,
        truncation: Option<u8>,
    ) -> Result<Self, &'static str> {
        let all = [
            Some(field),
            Some(component),
            Some(repetition),
            escape,
            subcomponent,
            truncation,
        ];
        if escape.is_none() && subcomponent.is_some()
            || subcomponent.is_none() && truncation.is_some()
        {
            return Err("a later encoding character needs the earlier ones declared");
        }
        for (i, c) in all.iter().enumerate() {
            let Some(c) = *c else { continue };
            if !is_legal_delimiter(c) {
                return Err("encoding characters must be printable ASCII punctuation");
            }
            if all[..i].contains(&Some(c)) {
                return Err("encoding characters must be distinct");
            }
        }
        Ok(Delimiters {
            field,
            component,
            repetition,
            escape,
            subcomponent,
            truncation,
        })
    }

    /// Reads the delimiters from the start of an `MSH` (or `FHS`/`BHS`) segment.
    ///
    /// Returns them with the length of the header prefix (`MSH|^~\&`), so the
    /// caller knows where MSH-3 starts.
    pub(crate) fn from_header(segment: &[u8], base: usize) -> Result<(Self, usize), ParseError> {
        let bad = |at: usize, reason| ParseError::BadDelimiters {
            offset: (base + at) as u64,
            reason,
        };
        let Some(&field) = segment.get(3) else {
            return Err(bad(segment.len(), "segment ends before MSH-1"));
        };
        if !is_legal_delimiter(field) {
            return Err(bad(3, "MSH-1 is not a printable punctuation character"));
        }
        // MSH-2 runs to the next field separator or the end of the segment.
        let rest = &segment[4..];
        let len = rest
            .iter()
            .position(|&b| b == field || b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        let enc = &rest[..len];
        if enc.len() < 2 {
            return Err(bad(4, "MSH-2 declares fewer than two encoding characters"));
        }
        if enc.len() > 5 {
            return Err(bad(
                4 + 5,
                "MSH-2 declares more than five encoding characters",
            ));
        }
        let delims = Delimiters::new(
            field,
            enc[0],
            enc[1],
            enc.get(2).copied(),
            enc.get(3).copied(),
            enc.get(4).copied(),
        )
        .map_err(|reason| {
            // Point at the first offending character.
            let at = enc
                .iter()
                .enumerate()
                .position(|(i, &c)| !is_legal_delimiter(c) || c == field || enc[..i].contains(&c))
                .unwrap_or(0);
            bad(4 + at, reason)
        })?;
        Ok((delims, 4 + len))
    }

    /// The field separator (MSH-1).
    pub fn field(&self) -> u8 {
        self.field
    }
    /// The component separator.
    pub fn component(&self) -> u8 {
        self.component
    }
    /// The repetition separator.
    pub fn repetition(&self) -> u8 {
        self.repetition
    }
    /// The escape character, if declared.
    pub fn escape(&self) -> Option<u8> {
        self.escape
    }
    /// The sub-component separator, if declared.
    pub fn subcomponent(&self) -> Option<u8> {
        self.subcomponent
    }
    /// The truncation character (v2.7+), if declared.
    pub fn truncation(&self) -> Option<u8> {
        self.truncation
    }

    /// Returns a copy with the truncation character set (or removed).
    pub fn with_truncation(mut self, truncation: Option<u8>) -> Result<Self, &'static str> {
        self.truncation = None;
        Delimiters::new(
            self.field,
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
            truncation,
        )
    }

    /// MSH-1 followed by MSH-2, e.g. `|^~\&`.
    pub fn msh_header(&self) -> Vec<u8> {
        let mut out = vec![self.field, self.component, self.repetition];
        // A later character can only be declared if the earlier ones are.
        if let Some(e) = self.escape {
            out.push(e);
            if let Some(s) = self.subcomponent {
                out.push(s);
                if let Some(t) = self.truncation {
                    out.push(t);
                }
            }
        }
        out
    }

    /// MSH-2 alone, e.g. `^~\&`.
    pub fn encoding_characters(&self) -> Vec<u8> {
        let mut out = self.msh_header();
        out.remove(0);
        out
    }

    /// Whether `b` is the component, repetition or sub-component separator.
    pub(crate) fn is_separator(&self, b: u8) -> bool {
        b == self.component || b == self.repetition || Some(b) == self.subcomponent
    }

    /// Whether `b` is one of the structural separators or the escape character.
    pub(crate) fn is_special(&self, b: u8) -> bool {
        b == self.field
            || b == self.component
            || b == self.repetition
            || Some(b) == self.escape
            || Some(b) == self.subcomponent
    }
}

fn is_legal_delimiter(c: u8) -> bool {
    c.is_ascii_graphic() && !c.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usual_and_unusual_headers() {
        let (d, n) = Delimiters::from_header(b"MSH|^~\\&|APP", 0).expect("usual");
        assert_eq!(d, Delimiters::default());
        assert_eq!(n, 8);
        let (d, n) = Delimiters::from_header(b"MSH#$*@!#APP", 0).expect("unusual");
        assert_eq!(d.msh_header(), b"#$*@!");
        assert_eq!(n, 8);
        let (d, _) = Delimiters::from_header(b"MSH|^~\\&#|APP", 0).expect("truncation");
        assert_eq!(d.truncation(), Some(b'#'));
        let (d, n) = Delimiters::from_header(b"MSH|^~", 0).expect("two characters");
        assert_eq!((d.escape(), d.subcomponent(), n), (None, None, 6));
    }

    #[test]
    fn rejects_bad_headers_with_the_offset() {
        let err = |h: &[u8]| Delimiters::from_header(h, 100).expect_err("bad header");
        assert_eq!(err(b"MSH").offset(), 103);
        assert_eq!(err(b"MSHA^~\\&").offset(), 103);
        assert_eq!(err(b"MSH|^^\\&|").offset(), 105);
        assert_eq!(err(b"MSH|^|").offset(), 104);
        assert_eq!(err(b"MSH|^~\\&#!|").offset(), 109);
        assert_eq!(err(b"MSH|^~ &|").offset(), 106);
    }
}
