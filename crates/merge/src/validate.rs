//! Checks for callers building changes from source rows.
//!
//! A [`KeyedChange`](crate::KeyedChange) cannot lack a key or a version, but
//! the rows it is built from can: a null key column, a null or malformed
//! version, an unknown operation. Each helper takes the row index and the
//! column name and turns such a value into a [`MergeError`] that names them
//! and nothing else. Validate the whole batch before writing anything:
//!
//! ```
//! use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
//! use caresync_merge::{KeyedChange, MergeError, validate};
//!
//! // (mrn, version, op) as read from a batch, with nulls.
//! let rows = [
//!     (Some("MRN-1"), Some("1700000000000000:s1"), Some("update")),
//!     (None, Some("1700000000000000:s2"), Some("update")),
//! ];
//! let changes: Result<Vec<KeyedChange<&str, ()>>, MergeError> = (0_u64..)
//!     .zip(rows)
//!     .map(|(i, (mrn, version, op))| {
//!         let key = validate::key(i, "mrn", mrn)?;
//!         let version = validate::version_text(i, "version", version)?;
//!         let op = validate::op(i, "op", op)?;
//!         Ok(KeyedChange::new(key, version, op, 0, ()))
//!     })
//!     .collect();
//! let error = changes.expect_err("row 1 has no key");
//! assert_eq!(error.to_string(), "MERGE-0001 at row 1, column mrn: key column is null");
//! ```

use caresync_core::{ChangeOp, Version};

use crate::MergeError;

/// The key part in `column` of row `row`, or [`MergeError::MissingKey`] when
/// it is null.
pub fn key<T>(row: u64, column: &str, value: Option<T>) -> Result<T, MergeError> {
    value.ok_or_else(|| MergeError::MissingKey {
        row,
        column: column.into(),
    })
}

/// The version in `column` of row `row`, or [`MergeError::MissingVersion`]
/// when it is null.
pub fn version(row: u64, column: &str, value: Option<Version>) -> Result<Version, MergeError> {
    value.ok_or_else(|| MergeError::MissingVersion {
        row,
        column: column.into(),
    })
}

/// The version in `column` of row `row`, stored as its canonical text
/// (`Version`'s `Display`): [`MergeError::MissingVersion`] when null,
/// [`MergeError::BadVersion`] when not canonical.
pub fn version_text(row: u64, column: &str, text: Option<&str>) -> Result<Version, MergeError> {
    let text = text.ok_or_else(|| MergeError::MissingVersion {
        row,
        column: column.into(),
    })?;
    text.parse().map_err(|_| MergeError::BadVersion {
        row,
        column: column.into(),
    })
}

/// The operation in `column` of row `row`: `insert`, `update` or `delete`
/// (as [`ChangeOp::as_str`] writes them); [`MergeError::BadOp`] otherwise or
/// when null.
pub fn op(row: u64, column: &str, text: Option<&str>) -> Result<ChangeOp, MergeError> {
    match text {
        Some("insert") => Ok(ChangeOp::Insert),
        Some("update") => Ok(ChangeOp::Update),
        Some("delete") => Ok(ChangeOp::Delete),
        _ => Err(MergeError::BadOp {
            row,
            column: column.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caresync_core::{EventTime, Tiebreaker};

    #[test]
    fn present_values_pass_through() {
        assert_eq!(key(0, "id", Some(7)), Ok(7));
        let v = Version::new(EventTime::from_unix_micros(5), Tiebreaker::Sequence(2));
        assert_eq!(version(0, "v", Some(v.clone())), Ok(v.clone()));
        assert_eq!(version_text(0, "v", Some("5:s2")), Ok(v));
        for op_ in [ChangeOp::Insert, ChangeOp::Update, ChangeOp::Delete] {
            assert_eq!(op(0, "op", Some(op_.as_str())), Ok(op_));
        }
    }

    #[test]
    fn errors_name_row_and_column_but_not_the_value() {
        let e = version_text(12, "msh7", Some("20240101-DOE^JANE")).expect_err("malformed");
        assert_eq!(
            e,
            MergeError::BadVersion {
                row: 12,
                column: "msh7".into()
            }
        );
        assert!(!e.to_string().contains("DOE"), "{e}");
        let e = op(3, "op", Some("UPSERT DOE")).expect_err("unknown");
        assert!(!e.to_string().contains("DOE"), "{e}");
        assert!(!format!("{e:?}").contains("DOE"), "{e:?}");
        assert_eq!(
            op(3, "op", None).map_err(|e| e.code()),
            Err(crate::codes::BAD_OP)
        );
        assert_eq!(
            version_text(4, "v", None).map_err(|e| e.code()),
            Err(crate::codes::MISSING_VERSION)
        );
        assert_eq!(
            version(4, "v", None).map_err(|e| e.code()),
            Err(crate::codes::MISSING_VERSION)
        );
    }
}
