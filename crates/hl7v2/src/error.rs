//! Issues found while parsing, and the errors that stop a parse.
//!
//! A lenient parse returns the message together with a list of [`Issue`]s;
//! a strict parse turns the first issue into a [`ParseError`]. Both carry a
//! stable [`ErrorCode`] and a byte offset into the input, never input bytes:
//! HL7 v2 messages carry patient data and errors end up in logs.

use std::fmt;

use caresync_core::{ErrorClass, ErrorCode};

/// Stable codes raised by the parser and printer.
pub mod codes {
    use super::{ErrorClass, ErrorCode};

    /// The input does not start with an `MSH` (or `FHS`/`BHS`) segment.
    pub const MISSING_MSH: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0001",
        "message does not start with MSH",
    );
    /// MSH-1/MSH-2 do not declare a usable set of encoding characters.
    pub const BAD_DELIMITERS: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0002",
        "encoding characters in MSH-1/MSH-2 are invalid",
    );
    /// The input is empty or holds only blank lines.
    pub const EMPTY_INPUT: ErrorCode =
        ErrorCode::new(ErrorClass::Parse, "HL7-0003", "input holds no message");
    /// The message is larger than the parser can index (2 GiB).
    pub const TOO_LARGE: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0004",
        "message exceeds the maximum indexable size",
    );
    /// A segment id is not three upper-case letters or digits.
    pub const BAD_SEGMENT_ID: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0010",
        "segment id is not three upper-case letters or digits",
    );
    /// A blank line between segments (skipped).
    pub const EMPTY_SEGMENT: ErrorCode =
        ErrorCode::new(ErrorClass::Parse, "HL7-0011", "blank line between segments");
    /// An escape sequence is not closed before the end of its value.
    pub const UNTERMINATED_ESCAPE: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0012",
        "escape sequence is not terminated",
    );
    /// Bytes that are not valid in the character set the message declares.
    pub const BAD_CHARSET: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0013",
        "bytes are not valid in the declared character set",
    );
    /// MSH-18 names a character set this crate cannot decode (raw bytes stay available).
    pub const UNSUPPORTED_CHARSET: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0014",
        "declared character set is not supported for decoding",
    );
    /// A control character (other than the segment terminators) inside a segment.
    pub const CONTROL_CHARACTER: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0015",
        "control character inside a segment",
    );
    /// MSH is missing a field every message needs (MSH-9, MSH-10 or MSH-12).
    pub const MISSING_HEADER_FIELD: ErrorCode =
        ErrorCode::new(ErrorClass::Parse, "HL7-0016", "MSH lacks a required field");
    /// A batch or file trailer's count does not match what was seen.
    pub const BATCH_COUNT: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0020",
        "batch or file trailer count does not match",
    );
    /// A batch or file envelope segment is missing or out of place.
    pub const BATCH_STRUCTURE: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0021",
        "batch or file envelope is malformed",
    );
    /// A path such as `PID-3(2).1` is malformed.
    pub const BAD_PATH: ErrorCode =
        ErrorCode::new(ErrorClass::Parse, "HL7-0030", "field path is malformed");
    /// A value given for printing cannot be encoded with the chosen delimiters.
    pub const BAD_DELIMITER_CHOICE: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "HL7-0031",
        "chosen delimiters are invalid",
    );

    /// Every code this module declares.
    pub const ALL: &[ErrorCode] = &[
        MISSING_MSH,
        BAD_DELIMITERS,
        EMPTY_INPUT,
        TOO_LARGE,
        BAD_SEGMENT_ID,
        EMPTY_SEGMENT,
        UNTERMINATED_ESCAPE,
        BAD_CHARSET,
        UNSUPPORTED_CHARSET,
        CONTROL_CHARACTER,
        MISSING_HEADER_FIELD,
        BATCH_COUNT,
        BATCH_STRUCTURE,
        BAD_PATH,
        BAD_DELIMITER_CHOICE,
    ];
}

/// How much an issue matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The input is unusual but its meaning is clear (a blank line, a mixed terminator).
    Warning,
    /// The input breaks the grammar; the parser recovered with a documented rule.
    Error,
}

/// Something the lenient parser noticed and recovered from.
///
/// `offset` is the byte offset in the input given to the parser (for a
/// message read from a batch file, in that file).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Issue {
    /// The stable code.
    pub code: ErrorCode,
    /// How much it matters.
    pub severity: Severity,
    /// Byte offset where the problem starts.
    pub offset: u64,
    /// The segment (id and 1-based position in the message) where it was found, if any.
    pub segment: Option<SegmentRef>,
}

/// A segment named by its id and 1-based position in its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentRef {
    /// The three-character segment id; `???` when the id itself is bad.
    pub id: [u8; 3],
    /// 1-based position of the segment in the message.
    pub position: u32,
}

impl SegmentRef {
    pub(crate) fn new(id: &[u8], position: u32) -> Self {
        let mut out = *b"???";
        if id.len() == 3
            && id
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            out.copy_from_slice(id);
        }
        SegmentRef { id: out, position }
    }

    /// The segment id as text.
    pub fn id_str(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("???")
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.code, self.offset)?;
        if let Some(seg) = &self.segment {
            write!(f, " (segment {} #{})", seg.id_str(), seg.position)?;
        }
        write!(f, ": {}", self.code.title())
    }
}

impl Issue {
    pub(crate) fn new(code: ErrorCode, severity: Severity, offset: usize) -> Self {
        Issue {
            code,
            severity,
            offset: offset as u64,
            segment: None,
        }
    }

    pub(crate) fn in_segment(mut self, segment: SegmentRef) -> Self {
        self.segment = Some(segment);
        self
    }

    pub(crate) fn shifted(mut self, base: u64) -> Self {
        self.offset += base;
        self
    }
}

/// Why a message could not be parsed at all, or (in strict mode) the first issue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input has no message in it.
    #[error("{}: {}", codes::EMPTY_INPUT, codes::EMPTY_INPUT.title())]
    Empty,
    /// The first segment is not `MSH`.
    #[error("{} at byte {offset}: {}", codes::MISSING_MSH, codes::MISSING_MSH.title())]
    MissingMsh {
        /// Where the first segment starts.
        offset: u64,
    },
    /// MSH-1/MSH-2 are unusable.
    #[error("{} at byte {offset}: {reason}", codes::BAD_DELIMITERS)]
    BadDelimiters {
        /// Offset of the offending encoding character.
        offset: u64,
        /// What rule the encoding characters break.
        reason: &'static str,
    },
    /// The message is too large to index.
    #[error("{}: message of {len} bytes exceeds the 2 GiB limit", codes::TOO_LARGE)]
    TooLarge {
        /// The message length.
        len: u64,
    },
    /// Strict mode: the first issue found.
    #[error("strict mode: {0}")]
    Strict(Issue),
}

impl ParseError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::Empty => codes::EMPTY_INPUT,
            ParseError::MissingMsh { .. } => codes::MISSING_MSH,
            ParseError::BadDelimiters { .. } => codes::BAD_DELIMITERS,
            ParseError::TooLarge { .. } => codes::TOO_LARGE,
            ParseError::Strict(issue) => issue.code,
        }
    }

    /// The byte offset the error points at.
    pub fn offset(&self) -> u64 {
        match self {
            ParseError::Empty | ParseError::TooLarge { .. } => 0,
            ParseError::MissingMsh { offset } | ParseError::BadDelimiters { offset, .. } => *offset,
            ParseError::Strict(issue) => issue.offset,
        }
    }

    pub(crate) fn shifted(self, base: u64) -> Self {
        match self {
            ParseError::MissingMsh { offset } => ParseError::MissingMsh {
                offset: offset + base,
            },
            ParseError::BadDelimiters { offset, reason } => ParseError::BadDelimiters {
                offset: offset + base,
                reason,
            },
            ParseError::Strict(issue) => ParseError::Strict(issue.shifted(base)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        assert_eq!(caresync_core::check_unique(codes::ALL), Ok(()));
    }
}
