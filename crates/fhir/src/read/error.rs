//! The errors of reading, identifying and validating FHIR JSON.

use std::fmt;

use caresync_core::{ErrorClass, ErrorCode, Location, Rejection};

/// Where in the input a resource (or a problem) was found.
///
/// Every field is optional because each reader knows different things: the
/// NDJSON reader knows the line and the byte offset of the line, the Bundle
/// reader knows the entry index, a single resource knows neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Source {
    /// One-based line number in an NDJSON file.
    pub line: Option<u64>,
    /// Byte offset of the start of the NDJSON line in the input.
    pub byte_offset: Option<u64>,
    /// Zero-based index of the entry in `Bundle.entry`.
    pub entry: Option<usize>,
}

impl Source {
    /// A source that points at nothing in particular (a single resource).
    pub const WHOLE: Source = Source {
        line: None,
        byte_offset: None,
        entry: None,
    };

    /// The NDJSON line `line` (one-based) starting at `byte_offset`.
    pub const fn line(line: u64, byte_offset: u64) -> Self {
        Source {
            line: Some(line),
            byte_offset: Some(byte_offset),
            entry: None,
        }
    }

    /// The Bundle entry with zero-based index `entry`.
    pub const fn entry(entry: usize) -> Self {
        Source {
            line: None,
            byte_offset: None,
            entry: Some(entry),
        }
    }

    /// The JSON path prefix of a resource at this source: `entry[3].resource`
    /// for a Bundle entry, empty otherwise.
    pub(crate) fn path_prefix(&self) -> Option<String> {
        self.entry.map(|i| format!("entry[{i}].resource"))
    }

    /// Joins `path` (relative to the resource) under this source's prefix.
    pub(crate) fn full_path(&self, path: &str) -> String {
        match (self.path_prefix(), path) {
            (Some(prefix), "" | ".") => prefix,
            (Some(prefix), p) => format!("{prefix}.{p}"),
            (None, p) => p.to_owned(),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
            sep = ", ";
        }
        if let Some(offset) = self.byte_offset {
            write!(f, "{sep}byte {offset}")?;
            sep = ", ";
        }
        if let Some(entry) = self.entry {
            write!(f, "{sep}entry {entry}")?;
            sep = ", ";
        }
        if sep.is_empty() {
            f.write_str("input")?;
        }
        Ok(())
    }
}

/// The kind of JSON failure, without the input text that serde_json may quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JsonFailure {
    /// Not JSON: a stray character, a missing comma, a bad escape.
    Syntax,
    /// The input ended in the middle of a value.
    Eof,
}

impl fmt::Display for JsonFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonFailure::Syntax => "syntax error",
            JsonFailure::Eof => "unexpected end of input",
        })
    }
}

/// Everything that can go wrong reading, identifying or validating FHIR JSON.
///
/// Errors carry the [`Source`] (NDJSON line and byte offset, Bundle entry),
/// JSON paths and line/column positions, and texts written from the FHIR
/// grammar ("expected a sequence, found map"). They never carry resource
/// values: the messages of serde_json, which may quote input, are reduced to
/// their category and position. The only input text an error keeps is a
/// `resourceType` that has the shape of a type name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The input is not well-formed JSON.
    #[error("{at}: invalid JSON ({failure}: {reason}) at line {line} column {column}")]
    Json {
        /// Where the resource or line started.
        at: Source,
        /// Syntax error or premature end.
        failure: JsonFailure,
        /// serde_json's description of the syntax error (a fixed text).
        reason: Box<str>,
        /// One-based line within the resource text (or document).
        line: usize,
        /// One-based column within that line.
        column: usize,
    },
    /// A line, entry or document is larger than the configured limit.
    #[error("{at}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// Where it started.
        at: Source,
        /// The limit in bytes.
        limit: u64,
    },
    /// An NDJSON line is not UTF-8.
    #[error("{at}: not UTF-8")]
    NotUtf8 {
        /// The line.
        at: Source,
    },
    /// The JSON value is not an object, or `resourceType` is missing.
    #[error("{at}: not a FHIR resource (no resourceType)")]
    MissingResourceType {
        /// Where the resource is.
        at: Source,
    },
    /// `resourceType` does not have the shape of a type name.
    #[error("{at}: resourceType is not a type name")]
    BadResourceType {
        /// Where the resource is.
        at: Source,
    },
    /// `resourceType` names no R4B resource type.
    #[error("{at}: unknown resourceType {resource_type}")]
    UnknownResourceType {
        /// Where the resource is.
        at: Source,
        /// The type name (checked to be ASCII letters, at most 64).
        resource_type: Box<str>,
    },
    /// The resource has no `id` and the reader requires one.
    #[error("{at}: {resource_type} has no id")]
    MissingId {
        /// Where the resource is.
        at: Source,
        /// The resource type.
        resource_type: Box<str>,
    },
    /// `id` is not a FHIR id (`[A-Za-z0-9\-\.]{1,64}`).
    #[error("{at}: id is not a FHIR id")]
    BadId {
        /// Where the resource is.
        at: Source,
    },
    /// `meta.lastUpdated` is not a FHIR instant.
    #[error("{at}: meta.lastUpdated is not a FHIR instant")]
    BadLastUpdated {
        /// Where the resource is.
        at: Source,
    },
    /// The resource has no `meta.lastUpdated` and the caller gave no fallback instant.
    #[error("{at}: no meta.lastUpdated and no fallback instant")]
    NoEventTime {
        /// Where the resource is.
        at: Source,
    },
    /// The resource does not conform to the R4B model: wrong cardinality, a
    /// missing required element, a wrong type or an unknown code.
    #[error("{at}: does not conform to FHIR R4B at {path}: {reason}")]
    Invalid {
        /// Where the resource is.
        at: Source,
        /// JSON path of the offending element from the document root, e.g.
        /// `name` or, in a Bundle, `entry[3].resource.status`; `.` is the
        /// resource itself.
        path: Box<str>,
        /// What was expected, in terms of the model.
        reason: Box<str>,
    },
    /// The document is a resource but not a Bundle.
    #[error("{at}: not a Bundle")]
    NotABundle {
        /// The document.
        at: Source,
    },
    /// A Bundle entry is not an object or its `fullUrl`/`request` are malformed.
    #[error("{at}: malformed Bundle entry at {path}: {reason}")]
    BadEntry {
        /// The entry.
        at: Source,
        /// JSON path within the entry.
        path: Box<str>,
        /// What was expected.
        reason: Box<str>,
    },
    /// Reading the input failed.
    #[error("{at}: I/O error")]
    Io {
        /// How far the reader had got.
        at: Source,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

macro_rules! codes {
    ($($name:ident = ($class:ident, $code:literal, $title:literal);)*) => {
        $(
            #[doc = $title]
            pub const $name: ErrorCode = ErrorCode::new(ErrorClass::$class, $code, $title);
        )*
        /// Every code of this module, for uniqueness checks and documentation.
        pub const CODES: &[ErrorCode] = &[$($name),*];
    };
}

/// The stable codes of [`ReadError`].
pub mod codes {
    use super::{ErrorClass, ErrorCode};
    codes! {
        JSON = (Parse, "FHIR-0001", "input is not valid JSON");
        TOO_LARGE = (Parse, "FHIR-0002", "line, entry or document is larger than the limit");
        NOT_UTF8 = (Parse, "FHIR-0003", "input is not UTF-8");
        MISSING_RESOURCE_TYPE = (Parse, "FHIR-0004", "not a FHIR resource: no resourceType");
        BAD_RESOURCE_TYPE = (Parse, "FHIR-0005", "resourceType is not a type name");
        UNKNOWN_RESOURCE_TYPE = (Parse, "FHIR-0006", "resourceType is not an R4B resource type");
        MISSING_ID = (Merge, "FHIR-0007", "resource has no id");
        BAD_ID = (Parse, "FHIR-0008", "id is not a FHIR id");
        BAD_LAST_UPDATED = (Parse, "FHIR-0009", "meta.lastUpdated is not a FHIR instant");
        NO_EVENT_TIME = (Merge, "FHIR-0010", "no meta.lastUpdated and no fallback instant");
        INVALID = (Parse, "FHIR-0011", "resource does not conform to the FHIR R4B model");
        NOT_A_BUNDLE = (Parse, "FHIR-0012", "document is not a Bundle");
        BAD_ENTRY = (Parse, "FHIR-0013", "malformed Bundle entry");
        IO = (Storage, "FHIR-0014", "reading the input failed");
    }
}

pub use codes::CODES;

impl ReadError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ReadError::Json { .. } => codes::JSON,
            ReadError::TooLarge { .. } => codes::TOO_LARGE,
            ReadError::NotUtf8 { .. } => codes::NOT_UTF8,
            ReadError::MissingResourceType { .. } => codes::MISSING_RESOURCE_TYPE,
            ReadError::BadResourceType { .. } => codes::BAD_RESOURCE_TYPE,
            ReadError::UnknownResourceType { .. } => codes::UNKNOWN_RESOURCE_TYPE,
            ReadError::MissingId { .. } => codes::MISSING_ID,
            ReadError::BadId { .. } => codes::BAD_ID,
            ReadError::BadLastUpdated { .. } => codes::BAD_LAST_UPDATED,
            ReadError::NoEventTime { .. } => codes::NO_EVENT_TIME,
            ReadError::Invalid { .. } => codes::INVALID,
            ReadError::NotABundle { .. } => codes::NOT_A_BUNDLE,
            ReadError::BadEntry { .. } => codes::BAD_ENTRY,
            ReadError::Io { .. } => codes::IO,
        }
    }

    /// Where the resource (or line, or entry) that failed is.
    pub fn source_location(&self) -> Source {
        match self {
            ReadError::Json { at, .. }
            | ReadError::TooLarge { at, .. }
            | ReadError::NotUtf8 { at }
            | ReadError::MissingResourceType { at }
            | ReadError::BadResourceType { at }
            | ReadError::UnknownResourceType { at, .. }
            | ReadError::MissingId { at, .. }
            | ReadError::BadId { at }
            | ReadError::BadLastUpdated { at }
            | ReadError::NoEventTime { at }
            | ReadError::Invalid { at, .. }
            | ReadError::NotABundle { at }
            | ReadError::BadEntry { at, .. }
            | ReadError::Io { at, .. } => *at,
        }
    }

    /// The JSON path of the failing element, where the error has one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ReadError::Invalid { path, .. } | ReadError::BadEntry { path, .. } => Some(path),
            _ => None,
        }
    }

    /// This error as a dead-letter [`Rejection`]: the code, a
    /// [`Location::Field`] (JSON path and byte offset) or
    /// [`Location::Byte`], and the message, which holds no resource values.
    pub fn to_rejection(&self) -> Rejection {
        let at = self.source_location();
        let path = match self {
            ReadError::Invalid { path, .. } => Some(path.to_string()),
            ReadError::BadEntry { path, .. } => Some(match at.entry {
                Some(i) => format!("entry[{i}].{path}"),
                None => path.to_string(),
            }),
            ReadError::MissingId { .. } | ReadError::BadId { .. } => Some(at.full_path("id")),
            ReadError::BadLastUpdated { .. } | ReadError::NoEventTime { .. } => {
                Some(at.full_path("meta.lastUpdated"))
            }
            ReadError::MissingResourceType { .. }
            | ReadError::BadResourceType { .. }
            | ReadError::UnknownResourceType { .. } => Some(at.full_path("resourceType")),
            _ => at.path_prefix(),
        };
        let location = match (path, at.byte_offset) {
            (Some(path), offset) => Location::Field {
                path: path.into(),
                offset,
            },
            (None, Some(offset)) => Location::Byte { offset },
            (None, None) => Location::Whole,
        };
        Rejection::new(self.code(), location, self.to_string())
    }
}

/// Turns a serde_json error into a [`ReadError`] without keeping its text
/// when that text may quote the input.
pub(crate) fn from_json(at: Source, path: &str, err: &serde_json::Error) -> ReadError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => ReadError::Json {
            at,
            failure: if err.is_eof() {
                JsonFailure::Eof
            } else {
                JsonFailure::Syntax
            },
            reason: syntax_reason(err).into(),
            line: err.line(),
            column: err.column(),
        },
        Category::Data => ReadError::Invalid {
            at,
            path: at.full_path(path).into(),
            reason: data_reason(&err.to_string()).into(),
        },
    }
}

/// serde_json's syntax messages are fixed texts ("expected value", "trailing
/// characters") followed by " at line L column C"; keep the fixed part.
fn syntax_reason(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let fixed = text.find(" at line ").map_or(text.as_str(), |i| &text[..i]);
    // Only texts made of words; anything else is replaced.
    if fixed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
    {
        fixed.to_owned()
    } else {
        "malformed JSON".to_owned()
    }
}

/// Reduces a serde data-error message to a text that holds no input value.
///
/// serde phrases data errors as `invalid type: string "Smith", expected a
/// sequence`, `missing field `status``, `unknown variant `x`, expected one
/// of ...`. The kind of the value seen and what was expected come from the
/// model; the value itself is dropped.
pub(crate) fn data_reason(message: &str) -> String {
    let msg = message.find(" at line ").map_or(message, |i| &message[..i]);
    let expected = |m: &str| {
        m.rfind(", expected ")
            .map(|i| m[i + ", expected ".len()..].to_owned())
    };
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let kind = value_kind(rest);
        return match expected(rest) {
            Some(e) => format!("expected {e}, found {kind}"),
            None => format!("wrong type, found {kind}"),
        };
    }
    for prefix in ["missing field `", "duplicate field `"] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some(name) = rest.strip_suffix('`')
            && is_name(name)
        {
            return format!("{}{name}`", prefix);
        }
    }
    if let Some(rest) = msg.strip_prefix("invalid length ") {
        return match expected(rest) {
            Some(e) => format!("wrong number of elements, expected {e}"),
            None => "wrong number of elements".to_owned(),
        };
    }
    if msg.starts_with("unknown variant") {
        return "code is not in the required value set".to_owned();
    }
    if msg.starts_with("invalid value") {
        return match expected(msg) {
            Some(e) => format!("invalid value, expected {e}"),
            None => "invalid value".to_owned(),
        };
    }
    "invalid value".to_owned()
}

/// The kind word of serde's `Unexpected` display: `string "x"` → `string`.
fn value_kind(rest: &str) -> &'static str {
    const KINDS: &[&str] = &[
        "boolean",
        "integer",
        "floating point",
        "character",
        "string",
        "byte array",
        "unit variant",
        "newtype variant",
        "tuple variant",
        "struct variant",
        "null",
        "unit value",
        "Option value",
        "newtype struct",
        "sequence",
        "map",
        "enum",
    ];
    KINDS
        .iter()
        .find(|k| rest.starts_with(*k))
        .copied()
        .unwrap_or("value")
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
