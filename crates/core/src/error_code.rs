//! Stable error codes and the shape of a rejection.
//!
//! Every record that caresync refuses (a parse failure, a contract violation,
//! a policy denial, a mapping gap) is described by a [`Rejection`]: a stable
//! [`ErrorCode`], a [`Location`] in the input, and a detail text. Codes never
//! change meaning once published; dead-letter tables, dashboards and replay
//! filters key on them.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// The family of an error; dead-letter tables are partitioned by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The input is not well-formed for its format (HL7 v2, FHIR JSON, X12).
    Parse,
    /// The input parsed but breaks its data contract.
    Contract,
    /// A policy (consent, purpose of use) refused the record.
    Policy,
    /// The input could not be mapped to the target model (HL7 v2 to FHIR).
    Mapping,
    /// The merge engine refused a change (for example, no usable version).
    Merge,
    /// The lake or the database refused a write.
    Storage,
}

impl ErrorClass {
    /// Every class, in declaration order.
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::Parse,
        ErrorClass::Contract,
        ErrorClass::Policy,
        ErrorClass::Mapping,
        ErrorClass::Merge,
        ErrorClass::Storage,
    ];

    /// The lower-case name used as a partition value and a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Parse => "parse",
            ErrorClass::Contract => "contract",
            ErrorClass::Policy => "policy",
            ErrorClass::Mapping => "mapping",
            ErrorClass::Merge => "merge",
            ErrorClass::Storage => "storage",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`ErrorClass`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown error class (expected parse, contract, policy, mapping, merge or storage)")]
#[non_exhaustive]
pub struct UnknownErrorClass;

impl FromStr for ErrorClass {
    type Err = UnknownErrorClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownErrorClass)
    }
}

/// A stable error code such as `HL7-0003`: an upper-case prefix naming the
/// crate or format, a dash, and four digits.
///
/// Codes are constants declared by the crate that raises them; the format is
/// checked when the constant is evaluated, so a malformed code fails the
/// build rather than a run.
///
/// ```
/// use caresync_core::{ErrorClass, ErrorCode};
///
/// const BAD_MSH: ErrorCode = ErrorCode::new(ErrorClass::Parse, "HL7-0001", "MSH segment is malformed");
/// assert_eq!(BAD_MSH.to_string(), "HL7-0001");
/// assert_eq!(BAD_MSH.class().as_str(), "parse");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode {
    code: &'static str,
    class: ErrorClass,
    title: &'static str,
}

impl ErrorCode {
    /// Declares a code.
    ///
    /// # Panics
    ///
    /// When `code` is not `PREFIX-NNNN` (prefix of 1 to 8 upper-case ASCII
    /// letters or digits starting with a letter, then exactly four digits) or
    /// `title` is empty. Declare codes as `const` so this is a build error.
    pub const fn new(class: ErrorClass, code: &'static str, title: &'static str) -> Self {
        assert!(
            is_well_formed(code),
            "error code must look like PREFIX-NNNN"
        );
        assert!(!title.is_empty(), "error code needs a title");
        ErrorCode { code, class, title }
    }

    /// The code itself, e.g. `X12-0102`.
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// The family the code belongs to.
    pub const fn class(&self) -> ErrorClass {
        self.class
    }

    /// A short, fixed description of the code. It never contains input values.
    pub const fn title(&self) -> &'static str {
        self.title
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

const fn is_well_formed(code: &str) -> bool {
    let b = code.as_bytes();
    let n = b.len();
    // Prefix of 1..=8, '-', four digits.
    if n < 6 || n > 13 {
        return false;
    }
    let dash = n - 5;
    if b[dash] != b'-' || !b[0].is_ascii_uppercase() {
        return false;
    }
    let mut i = 0;
    while i < n {
        let c = b[i];
        let ok = if i < dash {
            c.is_ascii_uppercase() || c.is_ascii_digit()
        } else if i == dash {
            true
        } else {
            c.is_ascii_digit()
        };
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

/// Two declarations that share one code string.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("error code {code} is declared twice")]
#[non_exhaustive]
pub struct DuplicateCode {
    /// The repeated code.
    pub code: &'static str,
}

/// Checks that no code string appears twice in `codes`; crates run this over
/// their list of codes in a test, and the workspace over all lists together.
pub fn check_unique(codes: &[ErrorCode]) -> Result<(), DuplicateCode> {
    let mut seen: Vec<&'static str> = codes.iter().map(|c| c.code).collect();
    seen.sort_unstable();
    match seen.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(DuplicateCode { code: w[0] }),
        None => Ok(()),
    }
}

/// Where in an input a problem was found.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Location {
    /// The problem concerns the input as a whole.
    #[default]
    Whole,
    /// A byte offset into the raw input.
    Byte {
        /// Offset from the start of the input, in bytes.
        offset: u64,
    },
    /// A position in a format's own grammar: `PID-3(2).1`, `Patient.birthDate`,
    /// `2300/CLM02`, with the byte offset where known.
    Field {
        /// The path, in the format's usual notation.
        path: Box<str>,
        /// Byte offset of the field in the raw input, where known.
        offset: Option<u64>,
    },
    /// A row (and column) of a record batch or table.
    Row {
        /// Zero-based row index within its batch.
        index: u64,
        /// The column, where one column is at fault.
        column: Option<Box<str>>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Whole => f.write_str("whole input"),
            Location::Byte { offset } => write!(f, "byte {offset}"),
            Location::Field { path, offset: None } => write!(f, "{path}"),
            Location::Field {
                path,
                offset: Some(offset),
            } => write!(f, "{path} (byte {offset})"),
            Location::Row {
                index,
                column: None,
            } => write!(f, "row {index}"),
            Location::Row {
                index,
                column: Some(column),
            } => write!(f, "row {index}, column {column}"),
        }
    }
}

/// Why one record was refused: the stable code, where, and a detail text.
///
/// The detail must be written from the grammar or rule (what was expected,
/// what kind of thing was seen), never from the input's values: rejections
/// end up in logs and dead-letter tables.
///
/// ```
/// use caresync_core::{codes, Location, Rejection};
///
/// let r = Rejection::new(
///     codes::MISSING_KEY,
///     Location::Row { index: 3, column: Some("mrn".into()) },
///     "key column is null",
/// );
/// assert_eq!(r.to_string(), "CORE-0001 at row 3, column mrn: key column is null");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rejection {
    code: ErrorCode,
    location: Location,
    detail: Cow<'static, str>,
}

impl Rejection {
    /// A rejection with `code` at `location`; `detail` must not contain input values.
    pub fn new(code: ErrorCode, location: Location, detail: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            code,
            location,
            detail: detail.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Where the problem was found.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What was wrong, in terms of the rule or grammar.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.code, self.location, self.detail)
    }
}

/// The codes that `caresync-core` itself defines, for failures every crate can meet.
pub mod codes {
    use super::{ErrorClass, ErrorCode};

    /// A key column of a record is null or absent.
    pub const MISSING_KEY: ErrorCode =
        ErrorCode::new(ErrorClass::Contract, "CORE-0001", "record has no key");
    /// A record has no event time or version.
    pub const MISSING_VERSION: ErrorCode =
        ErrorCode::new(ErrorClass::Contract, "CORE-0002", "record has no version");
    /// A batch's schema differs from the target table's.
    pub const SCHEMA_MISMATCH: ErrorCode = ErrorCode::new(
        ErrorClass::Contract,
        "CORE-0003",
        "schema differs from the table's",
    );
    /// A version text is not in the canonical form.
    pub const BAD_VERSION: ErrorCode =
        ErrorCode::new(ErrorClass::Parse, "CORE-0004", "version text is malformed");
    /// A change-feed row has an unknown `_change_type`.
    pub const UNKNOWN_CHANGE_TYPE: ErrorCode =
        ErrorCode::new(ErrorClass::Parse, "CORE-0005", "unknown change type");

    /// Every code above, for uniqueness checks and documentation.
    pub const ALL: &[ErrorCode] = &[
        MISSING_KEY,
        MISSING_VERSION,
        SCHEMA_MISMATCH,
        BAD_VERSION,
        UNKNOWN_CHANGE_TYPE,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_format_is_checked() {
        for good in [
            "A-0000",
            "HL7-0001",
            "X12-9999",
            "FHIR-0100",
            "ABCDEFGH-0001",
        ] {
            assert!(is_well_formed(good), "{good}");
        }
        for bad in [
            "",
            "HL7",
            "HL7-001",
            "HL7-00001",
            "hl7-0001",
            "7HL-0001",
            "HL7_0001",
            "ABCDEFGHI-0001",
            "HL7-00a1",
            "-0001",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn core_codes_are_unique_and_duplicates_are_found() {
        assert_eq!(check_unique(codes::ALL), Ok(()));
        let twice = [codes::MISSING_KEY, codes::BAD_VERSION, codes::MISSING_KEY];
        assert_eq!(
            check_unique(&twice),
            Err(DuplicateCode { code: "CORE-0001" })
        );
    }

    #[test]
    fn classes_round_trip_through_their_names() {
        for c in ErrorClass::ALL {
            assert_eq!(c.as_str().parse::<ErrorClass>(), Ok(c));
        }
        assert_eq!("Parse".parse::<ErrorClass>(), Err(UnknownErrorClass));
    }

    #[test]
    fn locations_display_for_people() {
        let shown = [
            Location::Whole,
            Location::Byte { offset: 17 },
            Location::Field {
                path: "PID-3(2).1".into(),
                offset: Some(120),
            },
            Location::Field {
                path: "2300/CLM02".into(),
                offset: None,
            },
            Location::Row {
                index: 0,
                column: None,
            },
        ]
        .map(|l| l.to_string());
        assert_eq!(
            shown,
            [
                "whole input",
                "byte 17",
                "PID-3(2).1 (byte 120)",
                "2300/CLM02",
                "row 0"
            ]
        );
    }
}
