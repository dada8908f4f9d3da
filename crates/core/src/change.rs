//! Change operations and the change-feed vocabulary.

use std::fmt;
use std::str::FromStr;

use crate::{RecordKey, Version};

/// What a source did to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    /// The record was created.
    Insert,
    /// The record was changed; the row carries its new state.
    Update,
    /// The record was removed; the merge engine keeps a tombstone.
    Delete,
}

impl ChangeOp {
    /// The lower-case name used in change-log rows: `insert`, `update`, `delete`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Insert => "insert",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
        }
    }

    /// True for [`ChangeOp::Delete`].
    pub const fn is_delete(self) -> bool {
        matches!(self, ChangeOp::Delete)
    }
}

impl fmt::Display for ChangeOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row kind of a change feed, in Delta Lake's change-data-feed vocabulary
/// (the `_change_type` column).
///
/// An update appears twice: the row before (`update_preimage`) and after
/// (`update_postimage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeType {
    /// `insert`
    Insert,
    /// `update_preimage`: the row as it was before an update.
    UpdatePreimage,
    /// `update_postimage`: the row as it is after an update.
    UpdatePostimage,
    /// `delete`
    Delete,
}

impl ChangeType {
    /// Every change type, in the order a single update's rows are written.
    pub const ALL: [ChangeType; 4] = [
        ChangeType::Insert,
        ChangeType::UpdatePreimage,
        ChangeType::UpdatePostimage,
        ChangeType::Delete,
    ];

    /// The `_change_type` value as Delta writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChangeType::Insert => "insert",
            ChangeType::UpdatePreimage => "update_preimage",
            ChangeType::UpdatePostimage => "update_postimage",
            ChangeType::Delete => "delete",
        }
    }

    /// The operation a change-feed row belongs to.
    pub const fn op(self) -> ChangeOp {
        match self {
            ChangeType::Insert => ChangeOp::Insert,
            ChangeType::UpdatePreimage | ChangeType::UpdatePostimage => ChangeOp::Update,
            ChangeType::Delete => ChangeOp::Delete,
        }
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `_change_type` value that is not one of Delta's four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown change type (expected insert, update_preimage, update_postimage or delete)")]
#[non_exhaustive]
pub struct UnknownChangeType;

impl FromStr for ChangeType {
    type Err = UnknownChangeType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChangeType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownChangeType)
    }
}

/// A change to one record: `(key, version, op, row)`, the unit the merge
/// engine orders and deduplicates.
///
/// `R` is whatever carries the row's values (an Arrow row index, a parsed
/// resource). `Debug` shows key, version and op but not the row, which may
/// hold patient values.
#[derive(Clone, PartialEq, Eq)]
pub struct Change<R> {
    /// Which record changed.
    pub key: RecordKey,
    /// How new this state is.
    pub version: Version,
    /// What happened.
    pub op: ChangeOp,
    /// The record's state after the change (for a delete, whatever the source sent).
    pub row: R,
}

impl<R> fmt::Debug for Change<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("key", &self.key)
            .field("version", &self.version)
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventTime, Tiebreaker};

    #[test]
    fn change_types_round_trip_through_delta_names() {
        for t in ChangeType::ALL {
            assert_eq!(t.as_str().parse::<ChangeType>(), Ok(t));
        }
        assert_eq!("update".parse::<ChangeType>(), Err(UnknownChangeType));
        assert_eq!(ChangeType::UpdatePreimage.op(), ChangeOp::Update);
    }

    #[test]
    fn change_debug_omits_the_row() {
        let change = Change {
            key: RecordKey::new("Patient", ["p1"]),
            version: Version::new(EventTime::from_unix_seconds(1), Tiebreaker::Sequence(2)),
            op: ChangeOp::Update,
            row: "DOE^JANE",
        };
        let shown = format!("{change:?}");
        assert!(!shown.contains("DOE"), "{shown}");
        assert!(shown.contains("Update"), "{shown}");
    }
}
