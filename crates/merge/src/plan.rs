//! Planning: the deduplicated batch against the stored state of its keys.

use std::collections::BTreeSet;
use std::fmt;

use caresync_core::Version;

use crate::change::Stamp;
use crate::{Counters, Deduped};

/// A data file of the target table, as the caller numbers them (for example
/// the file's position in the table snapshot it planned against).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64);

/// Where a stored row physically is: a data file and the row's index in it.
///
/// (Named apart from [`caresync_core::Location`], which locates a problem in
/// an input, not a row in the table.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowLocation {
    /// The data file holding the row.
    pub file: FileId,
    /// Zero-based index of the row in that file.
    pub row: u64,
}

/// The stored state of one key, as the caller's accessor reports it to
/// [`plan`].
///
/// It is the greatest of what the table holds for the key: its live row, or
/// its tombstone. `Debug` omits the fingerprint, which hashes patient values.
#[derive(Clone, PartialEq, Eq)]
pub struct Stored {
    /// Version of the stored state.
    pub version: Version,
    /// True when the state is a tombstone.
    pub deleted: bool,
    /// Fingerprint of the stored row, computed as for incoming changes
    /// (ignored for a tombstone).
    pub fingerprint: u64,
    /// Where the live row is, when the table holds one and knows where;
    /// `None` for a tombstone.
    pub location: Option<RowLocation>,
}

impl Stored {
    /// A live row.
    pub fn row(version: Version, fingerprint: u64, location: Option<RowLocation>) -> Self {
        Stored {
            version,
            deleted: false,
            fingerprint,
            location,
        }
    }

    /// A tombstone.
    pub fn tombstone(version: Version) -> Self {
        Stored {
            version,
            deleted: true,
            fingerprint: 0,
            location: None,
        }
    }

    fn stamp(&self) -> Stamp<'_> {
        Stamp::new(&self.version, self.deleted, self.fingerprint)
    }
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("version", &self.version)
            .field("deleted", &self.deleted)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A new row for a key with no live row: never seen, or deleted by an older
/// tombstone.
#[derive(Clone, PartialEq, Eq)]
pub struct Insert<K, R> {
    /// The key.
    pub key: K,
    /// Version of the new row.
    pub version: Version,
    /// Fingerprint of the new row.
    pub fingerprint: u64,
    /// The new row.
    pub row: R,
    /// The version of the older tombstone this row replaces, if any; the
    /// caller may drop that tombstone once the row is committed.
    pub replaces_tombstone: Option<Version>,
}

/// A live row replaced by a newer one.
#[derive(Clone, PartialEq, Eq)]
pub struct Update<K, R> {
    /// The key.
    pub key: K,
    /// Version of the new row.
    pub version: Version,
    /// Fingerprint of the new row.
    pub fingerprint: u64,
    /// The new row (the change feed's `update_postimage`).
    pub row: R,
    /// Where the old row is (the change feed's `update_preimage`), if known.
    pub location: Option<RowLocation>,
    /// Version of the old row.
    pub old_version: Version,
}

/// A live row removed by a newer delete (which also leaves a tombstone).
#[derive(Clone, PartialEq, Eq)]
pub struct Delete<K> {
    /// The key.
    pub key: K,
    /// Version of the delete.
    pub version: Version,
    /// Where the removed row is (the change feed's `delete` row), if known.
    pub location: Option<RowLocation>,
    /// Version of the removed row.
    pub old_version: Version,
}

/// A tombstone to record: one per winning delete, whether or not a live row
/// was removed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewTombstone<K> {
    /// The key.
    pub key: K,
    /// Version of the delete.
    pub version: Version,
    /// The version of the older tombstone it replaces, if any.
    pub replaces: Option<Version>,
}

/// What a batch changes in the table: every list sorted by key, each key in
/// at most one of `inserts`, `updates`, `deletes`.
///
/// Applying it means: write `inserts` and `updates` as rows, remove the old
/// rows of `updates` and `deletes` (those with a location are in
/// `files_to_rewrite`), record `new_tombstones`. An empty plan ([`Plan::is_empty`]) changes nothing.
pub struct Plan<K, R> {
    /// New rows.
    pub inserts: Vec<Insert<K, R>>,
    /// Rows replaced by newer ones.
    pub updates: Vec<Update<K, R>>,
    /// Rows removed.
    pub deletes: Vec<Delete<K>>,
    /// Tombstones to record (a superset of `deletes`' keys).
    pub new_tombstones: Vec<NewTombstone<K>>,
    /// The files holding a row of `updates` or `deletes`: the only files to rewrite.
    pub files_to_rewrite: BTreeSet<FileId>,
    /// The whole batch's counts, from deduplication and planning.
    pub counters: Counters,
}

impl<K, R> Plan<K, R> {
    /// True when the plan changes nothing: every change was superseded, a
    /// duplicate or late (or the batch was empty).
    pub fn is_empty(&self) -> bool {
        self.inserts.is_empty()
            && self.updates.is_empty()
            && self.deletes.is_empty()
            && self.new_tombstones.is_empty()
    }
}

/// Plans a deduplicated batch against the stored state of its keys.
///
/// `current` reports, for a key of the batch, the greatest stored state (the
/// live row or the tombstone), or `None` when the table holds neither. It is
/// called once per distinct key. Each winner `w` of the batch then meets the
/// stored state `s` in the total order:
///
/// | stored `s` | `w` vs `s` | `w` upsert | `w` delete |
/// |---|---|---|---|
/// | none | | insert | tombstone only |
/// | any | `w < s` | `late` | `late` |
/// | any | `w == s` | `duplicate` | `duplicate` |
/// | live row | `w > s` | update | delete + tombstone |
/// | tombstone | `w > s` | insert (replaces the tombstone) | tombstone (replaces the older one) |
///
/// A delete of a key never seen still records a tombstone, so an older
/// upsert arriving later is refused.
///
/// ```
/// use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
/// use caresync_merge::{FileId, KeyedChange, RowLocation, Stored, dedupe, plan};
///
/// let v = |n| Version::new(EventTime::from_unix_seconds(1_700_000_000), Tiebreaker::Sequence(n));
/// let batch = dedupe([
///     KeyedChange::new("enc-1", v(5), ChangeOp::Update, 0xE1, "arrived"),
///     KeyedChange::new("enc-2", v(5), ChangeOp::Delete, 0, ""),
///     KeyedChange::new("enc-3", v(1), ChangeOp::Update, 0xE3, "stale"),
/// ]);
/// let stored = |key: &&str| match *key {
///     "enc-1" => Some(Stored::row(v(4), 0xE0, Some(RowLocation { file: FileId(7), row: 12 }))),
///     "enc-3" => Some(Stored::row(v(2), 0xE3, Some(RowLocation { file: FileId(8), row: 0 }))),
///     _ => None,
/// };
/// let plan = plan(batch, stored);
/// assert_eq!(plan.updates[0].key, "enc-1");
/// assert_eq!(plan.updates[0].old_version, v(4));
/// assert!(plan.deletes.is_empty()); // enc-2 was never seen: tombstone only
/// assert_eq!(plan.new_tombstones[0].key, "enc-2");
/// assert_eq!(plan.files_to_rewrite.into_iter().collect::<Vec<_>>(), [FileId(7)]);
/// assert_eq!((plan.counters.applied, plan.counters.late), (2, 1));
/// ```
pub fn plan<K: Ord + Clone, R>(
    deduped: Deduped<K, R>,
    mut current: impl FnMut(&K) -> Option<Stored>,
) -> Plan<K, R> {
    let (winners, mut counters) = deduped.into_parts();
    let mut plan = Plan {
        inserts: Vec::new(),
        updates: Vec::new(),
        deletes: Vec::new(),
        new_tombstones: Vec::new(),
        files_to_rewrite: BTreeSet::new(),
        counters: Counters::default(),
    };
    for w in winners {
        let stored = current(&w.key);
        if let Some(s) = &stored {
            match w.stamp().cmp(&s.stamp()) {
                std::cmp::Ordering::Less => {
                    counters.late += 1;
                    continue;
                }
                std::cmp::Ordering::Equal => {
                    counters.duplicate += 1;
                    continue;
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        counters.applied += 1;
        let (live, tombstone) = match stored {
            None => (None, None),
            Some(s) if s.deleted => (None, Some(s.version)),
            Some(s) => (Some((s.version, s.location)), None),
        };
        if w.is_delete() {
            if let Some((old_version, location)) = live {
                plan.files_to_rewrite.extend(location.map(|l| l.file));
                plan.new_tombstones.push(NewTombstone {
                    key: w.key.clone(),
                    version: w.version.clone(),
                    replaces: None,
                });
                plan.deletes.push(Delete {
                    key: w.key,
                    version: w.version,
                    location,
                    old_version,
                });
            } else {
                plan.new_tombstones.push(NewTombstone {
                    key: w.key,
                    version: w.version,
                    replaces: tombstone,
                });
            }
        } else if let Some((old_version, location)) = live {
            plan.files_to_rewrite.extend(location.map(|l| l.file));
            plan.updates.push(Update {
                key: w.key,
                version: w.version,
                fingerprint: w.fingerprint,
                row: w.row,
                location,
                old_version,
            });
        } else {
            plan.inserts.push(Insert {
                key: w.key,
                version: w.version,
                fingerprint: w.fingerprint,
                row: w.row,
                replaces_tombstone: tombstone,
            });
        }
    }
    plan.inserts.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    plan.updates.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    plan.deletes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    plan.new_tombstones
        .sort_unstable_by(|a, b| a.key.cmp(&b.key));
    plan.counters = counters;
    plan
}

impl<K, R> fmt::Debug for Insert<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Insert")
            .field("version", &self.version)
            .field("replaces_tombstone", &self.replaces_tombstone)
            .finish_non_exhaustive()
    }
}

impl<K, R> fmt::Debug for Update<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("version", &self.version)
            .field("location", &self.location)
            .field("old_version", &self.old_version)
            .finish_non_exhaustive()
    }
}

impl<K> fmt::Debug for Delete<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delete")
            .field("version", &self.version)
            .field("location", &self.location)
            .field("old_version", &self.old_version)
            .finish_non_exhaustive()
    }
}

impl<K> fmt::Debug for NewTombstone<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewTombstone")
            .field("version", &self.version)
            .field("replaces", &self.replaces)
            .finish_non_exhaustive()
    }
}

/// Counts only: a plan holds keys and rows.
impl<K, R> fmt::Debug for Plan<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("inserts", &self.inserts.len())
            .field("updates", &self.updates.len())
            .field("deletes", &self.deletes.len())
            .field("new_tombstones", &self.new_tombstones.len())
            .field("files_to_rewrite", &self.files_to_rewrite)
            .field("counters", &self.counters)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyedChange, dedupe};
    use caresync_core::{ChangeOp, EventTime, Tiebreaker};

    fn v(seq: u64) -> Version {
        Version::new(EventTime::from_unix_micros(0), Tiebreaker::Sequence(seq))
    }

    fn at(file: u64, row: u64) -> Option<RowLocation> {
        Some(RowLocation {
            file: FileId(file),
            row,
        })
    }

    fn change(key: u8, seq: u64, op: ChangeOp, fp: u64) -> KeyedChange<u8, &'static str> {
        KeyedChange::new(key, v(seq), op, fp, "row")
    }

    /// Key 1: live at v2 in file 3; key 2: tombstone at v5; key 3: live at v4 in file 9.
    fn stored(key: &u8) -> Option<Stored> {
        match key {
            1 => Some(Stored::row(v(2), 20, at(3, 0))),
            2 => Some(Stored::tombstone(v(5))),
            3 => Some(Stored::row(v(4), 40, at(9, 7))),
            _ => None,
        }
    }

    #[test]
    fn every_row_of_the_table_of_outcomes() {
        use ChangeOp::{Delete as Del, Update as Up};
        let p = plan(
            dedupe([
                change(1, 3, Up, 30), // live, newer upsert -> update
                change(2, 6, Up, 60), // tombstone, newer upsert -> insert over tombstone
                change(3, 5, Del, 0), // live, newer delete -> delete + tombstone
                change(4, 1, Del, 0), // never seen, delete -> tombstone only
                change(5, 1, Up, 10), // never seen, upsert -> insert
                change(6, 1, Up, 10), // never seen, upsert -> insert
            ]),
            stored,
        );
        assert_eq!(
            p.inserts.iter().map(|i| i.key).collect::<Vec<_>>(),
            [2, 5, 6]
        );
        assert_eq!(p.inserts[0].replaces_tombstone, Some(v(5)));
        assert_eq!(p.inserts[1].replaces_tombstone, None);
        assert_eq!(p.updates.len(), 1);
        assert_eq!(
            (
                p.updates[0].key,
                p.updates[0].location,
                &p.updates[0].old_version
            ),
            (1, at(3, 0), &v(2))
        );
        assert_eq!(p.deletes.len(), 1);
        assert_eq!(
            (
                p.deletes[0].key,
                p.deletes[0].location,
                &p.deletes[0].old_version
            ),
            (3, at(9, 7), &v(4))
        );
        assert_eq!(
            p.new_tombstones.iter().map(|t| t.key).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(
            p.files_to_rewrite.iter().copied().collect::<Vec<_>>(),
            [FileId(3), FileId(9)]
        );
        assert_eq!(
            p.counters,
            Counters {
                received: 6,
                applied: 6,
                ..Counters::default()
            }
        );
    }

    #[test]
    fn older_or_equal_winners_change_nothing() {
        use ChangeOp::{Delete as Del, Update as Up};
        let p = plan(
            dedupe([
                change(1, 2, Up, 20), // same as stored: duplicate
                change(1, 2, Up, 20), // and its copy: duplicate
                change(1, 1, Up, 99), // beaten in the batch: superseded
                change(2, 4, Up, 1),  // older than the tombstone: late
                change(2, 5, Del, 3), // the same tombstone: duplicate
                change(3, 4, Up, 39), // same version, smaller fingerprint: late
            ]),
            stored,
        );
        assert!(p.is_empty(), "{p:?}");
        assert!(p.files_to_rewrite.is_empty());
        assert_eq!(
            p.counters,
            Counters {
                received: 6,
                applied: 0,
                superseded: 2,
                duplicate: 3,
                late: 1,
            }
        );
        assert!(p.counters.is_balanced());
    }

    #[test]
    fn a_tie_at_equal_version_goes_to_the_greater_fingerprint_then_to_delete() {
        let p = plan(dedupe([change(3, 4, ChangeOp::Update, 41)]), stored);
        assert_eq!(p.updates.len(), 1, "{p:?}");
        let p = plan(dedupe([change(3, 4, ChangeOp::Delete, 0)]), stored);
        assert_eq!(p.deletes.len(), 1, "{p:?}");
    }

    #[test]
    fn debug_shows_counts_not_keys_or_rows() {
        let p = plan(
            dedupe([KeyedChange::new(
                "MRN-1234",
                v(1),
                ChangeOp::Insert,
                1,
                "DOE^JANE",
            )]),
            |_| None,
        );
        let shown = format!("{p:?} {:?}", p.inserts);
        assert!(!shown.contains("MRN") && !shown.contains("DOE"), "{shown}");
        assert!(shown.contains("inserts: 1"), "{shown}");
    }
}
