//! The change the engine merges and the total order of record states.

use std::fmt;

use caresync_core::{Change, ChangeOp, RecordKey, Version};

/// A change to one record, `(key, version, op, row)`, plus the fingerprint of
/// its content.
///
/// This is [`caresync_core::Change`] made generic over the key, so the lake
/// layer can merge on a compact key (an integer, an interned id) instead of
/// building a [`RecordKey`] per row; [`KeyedChange::from_change`] converts.
///
/// The `fingerprint` is a caller-supplied hash of the row's content. It only
/// decides between two *different* upserts that carry the *same* version (a
/// source that reused a version): the greater fingerprint wins, so every
/// arrival order resolves the same way. It must be a pure function of the
/// content, stable across processes and releases (`std`'s `DefaultHasher`
/// promises neither), and must be computed the same way for the rows already
/// stored, which the planner compares against. A delete's fingerprint is
/// ignored: all deletes of one version are the same tombstone.
///
/// `Debug` shows version and op only: keys and rows may hold patient values.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyedChange<K, R> {
    /// Which record changed.
    pub key: K,
    /// How new this state is.
    pub version: Version,
    /// What happened. `Insert` and `Update` are both upserts to the engine.
    pub op: ChangeOp,
    /// Hash of the row's content; see the type's documentation.
    pub fingerprint: u64,
    /// The record's state after the change (ignored for a delete).
    pub row: R,
}

impl<K, R> KeyedChange<K, R> {
    /// A change from its parts.
    pub fn new(key: K, version: Version, op: ChangeOp, fingerprint: u64, row: R) -> Self {
        KeyedChange {
            key,
            version,
            op,
            fingerprint,
            row,
        }
    }

    /// True when the change is a delete (a tombstone).
    pub fn is_delete(&self) -> bool {
        self.op.is_delete()
    }

    pub(crate) fn stamp(&self) -> Stamp<'_> {
        Stamp::new(&self.version, self.op.is_delete(), self.fingerprint)
    }
}

impl<R> KeyedChange<RecordKey, R> {
    /// A core [`Change`] with the fingerprint of its row.
    pub fn from_change(change: Change<R>, fingerprint: u64) -> Self {
        let Change {
            key,
            version,
            op,
            row,
        } = change;
        KeyedChange::new(key, version, op, fingerprint, row)
    }
}

impl<K, R> fmt::Debug for KeyedChange<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedChange")
            .field("version", &self.version)
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

/// The position of a record state in the engine's total order:
/// `(version, delete?, fingerprint)`, compared left to right, with the
/// fingerprint of a delete taken as 0.
///
/// Two stamps are equal exactly when the states are interchangeable (same
/// version, same kind, same content), which is what "duplicate" means.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp<'a> {
    version: &'a Version,
    deleted: bool,
    fingerprint: u64,
}

impl<'a> Stamp<'a> {
    pub(crate) fn new(version: &'a Version, deleted: bool, fingerprint: u64) -> Self {
        Stamp {
            version,
            deleted,
            fingerprint: if deleted { 0 } else { fingerprint },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caresync_core::{EventTime, Tiebreaker};
    use std::cmp::Ordering;

    fn v(secs: i64, seq: u64) -> Version {
        Version::new(
            EventTime::from_unix_seconds(secs),
            Tiebreaker::Sequence(seq),
        )
    }

    #[test]
    fn order_is_version_then_delete_then_fingerprint() {
        let (v1, v2) = (v(1, 0), v(1, 1));
        // A newer version wins whatever the kind or content.
        assert!(Stamp::new(&v1, true, 0) < Stamp::new(&v2, false, 0));
        // Same version: a delete beats any upsert.
        assert!(Stamp::new(&v1, false, u64::MAX) < Stamp::new(&v1, true, 0));
        // Same version, both upserts: the greater fingerprint wins.
        assert!(Stamp::new(&v1, false, 1) < Stamp::new(&v1, false, 2));
        // Deletes ignore their fingerprint.
        assert_eq!(
            Stamp::new(&v1, true, 7).cmp(&Stamp::new(&v1, true, 9)),
            Ordering::Equal
        );
    }

    #[test]
    fn debug_hides_key_and_row() {
        let change = KeyedChange::new("MRN-000123", v(1, 2), ChangeOp::Update, 5, "DOE^JANE");
        let shown = format!("{change:?}");
        assert!(!shown.contains("MRN"), "{shown}");
        assert!(!shown.contains("DOE"), "{shown}");
        assert!(shown.contains("Update"), "{shown}");
    }

    #[test]
    fn a_core_change_keeps_its_parts() {
        let change = Change {
            key: RecordKey::new("Patient", ["p1"]),
            version: v(3, 4),
            op: ChangeOp::Delete,
            row: (),
        };
        let keyed = KeyedChange::from_change(change, 11);
        assert_eq!(keyed.key, RecordKey::new("Patient", ["p1"]));
        assert_eq!(keyed.version, v(3, 4));
        assert!(keyed.is_delete());
        assert_eq!(keyed.fingerprint, 11);
    }
}
