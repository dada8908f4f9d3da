//! Issues found while reading X12, and the error that stops a read.
//!
//! Reading is lenient: a document comes back with a list of [`Issue`]s,
//! each with a stable code, the byte offset, the 1-based segment number in
//! the document and, where it applies, the element position. Issues never
//! carry element values: claims carry patient data and issues end up in
//! logs.

use std::fmt;

use caresync_core::{ErrorClass, ErrorCode};

/// Stable codes raised by this crate.
pub mod codes {
    use super::{ErrorClass, ErrorCode};

    const fn parse(code: &'static str, title: &'static str) -> ErrorCode {
        ErrorCode::new(ErrorClass::Parse, code, title)
    }

    /// The input does not start with an ISA segment (data before it is skipped).
    pub const MISSING_ISA: ErrorCode = parse("X12-0001", "input does not start with ISA");
    /// An ISA segment whose delimiters cannot be read.
    pub const BAD_ISA: ErrorCode = parse("X12-0002", "ISA segment is malformed");
    /// The input holds no interchange at all.
    pub const EMPTY_INPUT: ErrorCode = parse("X12-0003", "input holds no interchange");
    /// The last segment has no terminator (the file was cut short).
    pub const UNTERMINATED_SEGMENT: ErrorCode =
        parse("X12-0004", "segment is not terminated (truncated input)");
    /// A segment id is not two or three upper-case letters or digits.
    pub const BAD_SEGMENT_ID: ErrorCode = parse("X12-0005", "segment id is malformed");
    /// An empty segment (two terminators in a row), skipped.
    pub const EMPTY_SEGMENT: ErrorCode = parse("X12-0006", "empty segment");
    /// The data never uses the component separator ISA16 declares but
    /// plainly uses another one; the one in use was taken.
    pub const COMPONENT_SEPARATOR_MISMATCH: ErrorCode =
        parse("X12-0007", "component separator in use differs from ISA16");

    /// A trailer (IEA, GE, SE) is missing: the envelope was closed at the
    /// next header or at the end of the input.
    pub const MISSING_TRAILER: ErrorCode = parse("X12-0010", "envelope trailer is missing");
    /// A trailer's control number differs from its header's.
    pub const CONTROL_NUMBER_MISMATCH: ErrorCode = parse(
        "X12-0011",
        "trailer control number does not match its header",
    );
    /// A trailer's count (groups, transactions, segments) is wrong.
    pub const COUNT_MISMATCH: ErrorCode = parse("X12-0012", "trailer count does not match");
    /// A segment outside the envelope it needs (data outside ST/SE, GS outside ISA...).
    pub const OUTSIDE_ENVELOPE: ErrorCode = parse("X12-0013", "segment outside its envelope");
    /// A trailer without an open header (an extra SE, GE or IEA), ignored.
    pub const UNEXPECTED_TRAILER: ErrorCode =
        parse("X12-0014", "trailer without a matching header");
    /// A required element of an envelope segment is empty or missing.
    pub const MISSING_ELEMENT: ErrorCode = parse("X12-0015", "required element is missing");

    /// Every code this module declares.
    pub const ALL: &[ErrorCode] = &[
        MISSING_ISA,
        BAD_ISA,
        EMPTY_INPUT,
        UNTERMINATED_SEGMENT,
        BAD_SEGMENT_ID,
        EMPTY_SEGMENT,
        COMPONENT_SEPARATOR_MISMATCH,
        MISSING_TRAILER,
        CONTROL_NUMBER_MISMATCH,
        COUNT_MISMATCH,
        OUTSIDE_ENVELOPE,
        UNEXPECTED_TRAILER,
        MISSING_ELEMENT,
    ];
}

/// How much an issue matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Unusual but clear (a blank segment, a missing trailer at end of input
    /// whose content is complete).
    Warning,
    /// The input breaks the standard; the reader recovered with a
    /// documented rule.
    Error,
}

/// Where in the input an issue is: byte offset, 1-based segment number in
/// the document, segment id and element position when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// Byte offset in the input where the segment (or element) starts.
    pub offset: u64,
    /// 1-based number of the segment in the input (0 when before any segment).
    pub segment: u32,
    /// The segment id (`???` when it is not a valid id).
    pub id: [u8; 3],
    /// 1-based element position (`CLM02` is 2); 0 for the whole segment.
    pub element: u16,
}

impl Position {
    pub(crate) fn new(offset: usize, segment: u32, id: &[u8], element: u16) -> Self {
        Position {
            offset: offset as u64,
            segment,
            id: id_bytes(id),
            element,
        }
    }

    /// The segment id as text (`???` for an invalid id, `""`-free).
    pub fn id_str(&self) -> &str {
        let end = self.id.iter().position(|b| *b == 0).unwrap_or(3);
        std::str::from_utf8(&self.id[..end]).unwrap_or("???")
    }
}

/// Whether `id` is a segment id: two or three upper-case letters or digits.
#[inline]
pub(crate) fn is_segment_id(id: &[u8]) -> bool {
    (2..=3).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A segment id as stored in a [`Position`]: two or three upper-case
/// letters or digits, NUL-padded, or `???`.
pub(crate) fn id_bytes(id: &[u8]) -> [u8; 3] {
    let mut out = [0u8; 3];
    if is_segment_id(id) {
        out[..id.len()].copy_from_slice(id);
    } else {
        out = *b"???";
    }
    out
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte {}, segment {} ({})",
            self.offset,
            self.segment,
            self.id_str()
        )?;
        if self.element > 0 {
            write!(f, ", element {}{:02}", self.id_str(), self.element)?;
        }
        Ok(())
    }
}

/// Something the reader noticed and recovered from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Issue {
    /// The stable code.
    pub code: ErrorCode,
    /// How much it matters.
    pub severity: Severity,
    /// Where.
    pub at: Position,
}

impl Issue {
    pub(crate) fn error(code: ErrorCode, at: Position) -> Self {
        Issue {
            code,
            severity: Severity::Error,
            at,
        }
    }

    pub(crate) fn warning(code: ErrorCode, at: Position) -> Self {
        Issue {
            code,
            severity: Severity::Warning,
            at,
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.code, self.at, self.code.title())
    }
}

/// Why an input could not be read at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No interchange could be found: no ISA whose delimiters can be read.
    #[error("{code}: no readable ISA segment in the input", code = codes::EMPTY_INPUT)]
    NoInterchange,
}

impl Error {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NoInterchange => codes::EMPTY_INPUT,
        }
    }
}
