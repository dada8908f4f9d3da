//! An in-memory reference table: the oracle for the engine's laws.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::Hash;

use caresync_core::{EventTime, Version};

use crate::{
    Counters, FileId, FileStats, KeyedChange, Plan, RowLocation, Stored, TombstoneRetention,
    dedupe, plan,
};

/// The state of one key in a [`Table`].
///
/// `Debug` shows versions only, never the row or its fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub enum State<R> {
    /// The key has a row.
    Live {
        /// Version of the row.
        version: Version,
        /// Fingerprint of the row.
        fingerprint: u64,
        /// The row.
        row: R,
    },
    /// The key was deleted.
    Tombstone {
        /// Version of the delete.
        version: Version,
        /// When the tombstone was recorded (the `now` of [`Table::apply`]).
        recorded_at: EventTime,
    },
}

impl<R> State<R> {
    /// The version of the state.
    pub fn version(&self) -> &Version {
        match self {
            State::Live { version, .. } | State::Tombstone { version, .. } => version,
        }
    }

    /// The row, for a live key.
    pub fn row(&self) -> Option<&R> {
        match self {
            State::Live { row, .. } => Some(row),
            State::Tombstone { .. } => None,
        }
    }

    /// True for a tombstone.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, State::Tombstone { .. })
    }
}

impl<R> fmt::Debug for State<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Live { version, .. } => f
                .debug_struct("Live")
                .field("version", version)
                .finish_non_exhaustive(),
            State::Tombstone {
                version,
                recorded_at,
            } => f
                .debug_struct("Tombstone")
                .field("version", version)
                .field("recorded_at", recorded_at)
                .finish(),
        }
    }
}

/// A tiny in-memory table built on [`dedupe`] and [`plan`]: the reference
/// model the lake layer's tests compare a Delta table against.
///
/// Each key has one [`State`]: a live row or a tombstone. Rows also live in
/// simulated data files so plans carry real [`RowLocation`]s: every
/// [`apply`](Table::apply) that writes rows writes one new file holding the
/// inserted and updated rows plus the untouched rows of the files it
/// rewrites, and drops those files.
///
/// ```
/// use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
/// use caresync_merge::{KeyedChange, Table};
///
/// let v = |secs| Version::new(EventTime::from_unix_seconds(secs), Tiebreaker::None);
/// let now = EventTime::from_unix_seconds(1_700_100_000);
/// let mut table = Table::default();
/// table.apply([KeyedChange::new("pat-1", v(1_700_000_000), ChangeOp::Insert, 1, "A")], now);
/// // The patient is deleted, then an older update arrives late.
/// table.apply([KeyedChange::new("pat-1", v(1_700_000_200), ChangeOp::Delete, 0, "")], now);
/// let c = table.apply([KeyedChange::new("pat-1", v(1_700_000_100), ChangeOp::Update, 2, "B")], now);
/// assert_eq!(c.late, 1);
/// assert!(table.get(&"pat-1").is_some_and(|s| s.is_tombstone()));
/// ```
pub struct Table<K, R> {
    entries: BTreeMap<K, State<R>>,
    locations: BTreeMap<K, RowLocation>,
    files: BTreeMap<FileId, Vec<K>>,
    next_file: u64,
    retention: TombstoneRetention,
}

impl<K: Hash + Ord + Clone, R> Default for Table<K, R> {
    fn default() -> Self {
        Table::new(TombstoneRetention::default())
    }
}

impl<K: Hash + Ord + Clone, R> Table<K, R> {
    /// An empty table whose tombstones are kept for `retention`.
    pub fn new(retention: TombstoneRetention) -> Self {
        Table {
            entries: BTreeMap::new(),
            locations: BTreeMap::new(),
            files: BTreeMap::new(),
            next_file: 0,
            retention,
        }
    }

    /// The stored state of `key`, as [`plan`] wants it.
    pub fn stored(&self, key: &K) -> Option<Stored> {
        self.entries.get(key).map(|state| match state {
            State::Live {
                version,
                fingerprint,
                ..
            } => Stored::row(
                version.clone(),
                *fingerprint,
                self.locations.get(key).copied(),
            ),
            State::Tombstone { version, .. } => Stored::tombstone(version.clone()),
        })
    }

    /// What `batch` would change, without changing anything.
    pub fn plan(&self, batch: impl IntoIterator<Item = KeyedChange<K, R>>) -> Plan<K, R> {
        plan(dedupe(batch), |key| self.stored(key))
    }

    /// Applies `batch` (dedupe, plan, apply), recording new tombstones at
    /// `now`; returns the batch's counters.
    pub fn apply(
        &mut self,
        batch: impl IntoIterator<Item = KeyedChange<K, R>>,
        now: EventTime,
    ) -> Counters {
        let plan = self.plan(batch);
        self.apply_plan(plan, now)
    }

    fn apply_plan(&mut self, plan: Plan<K, R>, now: EventTime) -> Counters {
        let Plan {
            inserts,
            updates,
            deletes,
            new_tombstones,
            files_to_rewrite,
            counters,
        } = plan;
        // Rows of rewritten files that this plan leaves alone move to the new file.
        let mut written: BTreeSet<K> = BTreeSet::new();
        for file in &files_to_rewrite {
            written.extend(self.files.remove(file).into_iter().flatten());
        }
        for delete in deletes {
            written.remove(&delete.key);
            self.locations.remove(&delete.key);
        }
        for tombstone in new_tombstones {
            self.entries.insert(
                tombstone.key,
                State::Tombstone {
                    version: tombstone.version,
                    recorded_at: now,
                },
            );
        }
        let rows = updates
            .into_iter()
            .map(|u| (u.key, u.version, u.fingerprint, u.row))
            .chain(
                inserts
                    .into_iter()
                    .map(|i| (i.key, i.version, i.fingerprint, i.row)),
            );
        for (key, version, fingerprint, row) in rows {
            written.insert(key.clone());
            let state = State::Live {
                version,
                fingerprint,
                row,
            };
            self.entries.insert(key, state);
        }
        if !written.is_empty() {
            let file = FileId(self.next_file);
            self.next_file += 1;
            for (row, key) in (0_u64..).zip(&written) {
                self.locations
                    .insert(key.clone(), RowLocation { file, row });
            }
            self.files.insert(file, written.into_iter().collect());
        }
        counters
    }

    /// Drops the tombstones whose retention has passed at `now`; returns how
    /// many. From then on an upsert older than a dropped tombstone is taken as
    /// new and resurrects its key (see [`TombstoneRetention`]).
    pub fn prune(&mut self, now: EventTime) -> usize {
        let before = self.entries.len();
        let retention = self.retention;
        self.entries.retain(|_, state| match state {
            State::Tombstone { recorded_at, .. } => !retention.is_expired(*recorded_at, now),
            State::Live { .. } => true,
        });
        before - self.entries.len()
    }

    /// The state of `key`: a row, a tombstone, or `None` when never seen (or
    /// its tombstone was pruned).
    pub fn get(&self, key: &K) -> Option<&State<R>> {
        self.entries.get(key)
    }

    /// Every key's state, rows and tombstones, by key.
    pub fn entries(&self) -> &BTreeMap<K, State<R>> {
        &self.entries
    }

    /// The live rows, by key.
    pub fn rows(&self) -> impl Iterator<Item = (&K, &R)> {
        self.entries
            .iter()
            .filter_map(|(key, state)| state.row().map(|row| (key, row)))
    }

    /// Where the row of `key` is in the simulated files.
    pub fn location(&self, key: &K) -> Option<RowLocation> {
        self.locations.get(key).copied()
    }

    /// The key range of every simulated data file, as [`candidate_files`]
    /// wants it.
    ///
    /// [`candidate_files`]: crate::candidate_files
    pub fn file_stats(&self) -> Vec<FileStats<K>> {
        self.files
            .iter()
            .filter_map(|(id, keys)| {
                Some(FileStats {
                    id: *id,
                    min: keys.first()?.clone(),
                    max: keys.last()?.clone(),
                })
            })
            .collect()
    }

    /// The tombstone retention.
    pub fn retention(&self) -> TombstoneRetention {
        self.retention
    }
}

/// Counts only: a table holds keys and rows.
impl<K, R> fmt::Debug for Table<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tombstones = self.entries.values().filter(|s| s.is_tombstone()).count();
        f.debug_struct("Table")
            .field("rows", &(self.entries.len() - tombstones))
            .field("tombstones", &tombstones)
            .field("files", &self.files.len())
            .field("retention", &self.retention)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caresync_core::{ChangeOp, Tiebreaker};

    fn c(key: u8, seq: u64, op: ChangeOp, fp: u64) -> KeyedChange<u8, u64> {
        let version = Version::new(EventTime::from_unix_micros(0), Tiebreaker::Sequence(seq));
        KeyedChange::new(key, version, op, fp, fp)
    }

    #[test]
    fn rewritten_files_carry_their_untouched_rows() {
        let now = EventTime::from_unix_micros(0);
        let mut t = Table::default();
        t.apply((1..=3).map(|k| c(k, 1, ChangeOp::Insert, 1)), now);
        assert_eq!(t.file_stats().len(), 1);
        // Update key 2: file 0 is rewritten, keys 1 and 3 move with it.
        let plan = t.plan([c(2, 2, ChangeOp::Update, 2)]);
        assert_eq!(
            plan.files_to_rewrite.iter().copied().collect::<Vec<_>>(),
            [FileId(0)]
        );
        t.apply([c(2, 2, ChangeOp::Update, 2)], now);
        let stats = t.file_stats();
        assert_eq!(stats.len(), 1);
        assert_eq!((stats[0].id, stats[0].min, stats[0].max), (FileId(1), 1, 3));
        // Insert key 9 only: no file is rewritten, a new file holds it.
        t.apply([c(9, 1, ChangeOp::Insert, 1)], now);
        assert_eq!(t.file_stats().len(), 2);
        assert_eq!(
            t.location(&9),
            Some(RowLocation {
                file: FileId(2),
                row: 0
            })
        );
        // Delete key 1: its file is rewritten without it.
        t.apply([c(1, 5, ChangeOp::Delete, 0)], now);
        assert_eq!(t.location(&1), None);
        assert_eq!(t.location(&3).map(|l| l.row), Some(1));
        assert_eq!(t.rows().map(|(k, _)| *k).collect::<Vec<_>>(), [2, 3, 9]);
        assert_eq!(
            format!("{t:?}"),
            format!(
                "Table {{ rows: 3, tombstones: 1, files: 2, retention: {:?} }}",
                t.retention()
            )
        );
    }
}
