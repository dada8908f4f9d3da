//! Why a source row cannot become a change, with stable codes.

use caresync_core::{ErrorClass, ErrorCode, Location, Rejection};

/// Stable codes of the merge engine (`MERGE-NNNN`).
pub mod codes {
    use super::{ErrorClass, ErrorCode};

    const fn merge(code: &'static str, title: &'static str) -> ErrorCode {
        ErrorCode::new(ErrorClass::Merge, code, title)
    }

    /// A key column of a row is null or absent: the row names no record.
    pub const MISSING_KEY: ErrorCode = merge("MERGE-0001", "row has no key");
    /// The version column of a row is null or absent: the row cannot be ordered.
    pub const MISSING_VERSION: ErrorCode = merge("MERGE-0002", "row has no version");
    /// The version column holds text that is not a canonical version
    /// (`<micros>:-`, `<micros>:s<n>`, `<micros>:t<text>`).
    pub const BAD_VERSION: ErrorCode = merge("MERGE-0003", "row version is malformed");
    /// The operation column is null or not `insert`, `update` or `delete`.
    pub const BAD_OP: ErrorCode = merge("MERGE-0004", "row operation is missing or unknown");

    /// Every code this crate declares.
    pub const ALL: &[ErrorCode] = &[MISSING_KEY, MISSING_VERSION, BAD_VERSION, BAD_OP];
}

/// A source row that cannot become a change. Each variant names the row (its
/// zero-based index in its batch) and the column at fault, never a value.
///
/// A [`KeyedChange`](crate::KeyedChange) always has a key and a version; these
/// errors come from the [`validate`](crate::validate) helpers that callers use
/// while building changes from rows, so a batch with a bad row can be refused
/// before anything is written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A key column is null or absent ([`codes::MISSING_KEY`]).
    #[error("MERGE-0001 at row {row}, column {column}: key column is null")]
    MissingKey {
        /// Zero-based row index in the batch.
        row: u64,
        /// The key column.
        column: Box<str>,
    },
    /// The version column is null or absent ([`codes::MISSING_VERSION`]).
    #[error("MERGE-0002 at row {row}, column {column}: version column is null")]
    MissingVersion {
        /// Zero-based row index in the batch.
        row: u64,
        /// The version column.
        column: Box<str>,
    },
    /// The version text is not canonical ([`codes::BAD_VERSION`]).
    #[error("MERGE-0003 at row {row}, column {column}: version is not in the canonical form")]
    BadVersion {
        /// Zero-based row index in the batch.
        row: u64,
        /// The version column.
        column: Box<str>,
    },
    /// The operation is null or unknown ([`codes::BAD_OP`]).
    #[error(
        "MERGE-0004 at row {row}, column {column}: operation is null or not insert, update or delete"
    )]
    BadOp {
        /// Zero-based row index in the batch.
        row: u64,
        /// The operation column.
        column: Box<str>,
    },
}

impl MergeError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            MergeError::MissingKey { .. } => codes::MISSING_KEY,
            MergeError::MissingVersion { .. } => codes::MISSING_VERSION,
            MergeError::BadVersion { .. } => codes::BAD_VERSION,
            MergeError::BadOp { .. } => codes::BAD_OP,
        }
    }

    /// The row index and column at fault.
    pub fn location(&self) -> Location {
        let (MergeError::MissingKey { row, column }
        | MergeError::MissingVersion { row, column }
        | MergeError::BadVersion { row, column }
        | MergeError::BadOp { row, column }) = self;
        Location::Row {
            index: *row,
            column: Some(column.clone()),
        }
    }

    /// The error as a dead-letter [`Rejection`].
    pub fn rejection(&self) -> Rejection {
        Rejection::new(self.code(), self.location(), self.code().title())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_their_code() {
        let errors = [
            MergeError::MissingKey {
                row: 1,
                column: "mrn".into(),
            },
            MergeError::MissingVersion {
                row: 2,
                column: "updated_at".into(),
            },
            MergeError::BadVersion {
                row: 3,
                column: "version".into(),
            },
            MergeError::BadOp {
                row: 4,
                column: "op".into(),
            },
        ];
        for (error, code) in errors.iter().zip(codes::ALL) {
            assert_eq!(error.code(), *code);
            assert!(error.to_string().starts_with(code.code()), "{error}");
            assert_eq!(error.code().class(), ErrorClass::Merge);
        }
    }
}
