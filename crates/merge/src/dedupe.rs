//! Deduplication of a batch in memory: one winner per key.

use indexmap::IndexMap;
use indexmap::map::Entry;
use std::fmt;
use std::hash::Hash;

use caresync_core::{ChangeOp, Version};

use crate::{Counters, KeyedChange};

/// Keeps, for every key, the greatest change seen so far (one hash-map probe
/// per change), counting the rest as `superseded` or `duplicate`.
///
/// Feed it with [`Deduper::push`] (for example row by row from several record
/// batches) and call [`Deduper::finish`]; [`dedupe`] does both for an
/// iterator.
pub struct Deduper<K, R> {
    /// Winners in first-seen order behind a compact table of indexes, so
    /// a new key costs one probe of a small table and an append; hashed by
    /// foldhash, several times faster than SipHash on short keys and seeded
    /// per map, so keys from the data cannot be chosen to collide.
    slots: IndexMap<K, Slot<R>, foldhash::fast::RandomState>,
    received: u64,
    superseded: u64,
}

/// The current winner of a key and how many identical copies were seen.
struct Slot<R> {
    version: Version,
    op: ChangeOp,
    fingerprint: u64,
    row: R,
    copies: u64,
}

impl<R> Slot<R> {
    fn stamp(&self) -> crate::change::Stamp<'_> {
        crate::change::Stamp::new(&self.version, self.op.is_delete(), self.fingerprint)
    }
}

impl<K: Hash + Eq, R> Default for Deduper<K, R> {
    fn default() -> Self {
        Deduper::new()
    }
}

impl<K: Hash + Eq, R> Deduper<K, R> {
    /// An empty deduper.
    pub fn new() -> Self {
        Deduper::with_capacity(0)
    }

    /// An empty deduper with room for `keys` distinct keys.
    pub fn with_capacity(keys: usize) -> Self {
        Deduper {
            slots: IndexMap::with_capacity_and_hasher(keys, foldhash::fast::RandomState::default()),
            received: 0,
            superseded: 0,
        }
    }

    /// Takes one change into account.
    pub fn push(&mut self, change: KeyedChange<K, R>) {
        self.received += 1;
        let KeyedChange {
            key,
            version,
            op,
            fingerprint,
            row,
        } = change;
        let slot = Slot {
            version,
            op,
            fingerprint,
            row,
            copies: 1,
        };
        match self.slots.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(slot);
            }
            Entry::Occupied(mut occupied) => {
                let winner = occupied.get_mut();
                match slot.stamp().cmp(&winner.stamp()) {
                    std::cmp::Ordering::Less => self.superseded += 1,
                    std::cmp::Ordering::Equal => winner.copies += 1,
                    std::cmp::Ordering::Greater => {
                        // The old winner and all its copies are beaten.
                        self.superseded += winner.copies;
                        *winner = slot;
                    }
                }
            }
        }
    }

    /// The winners and the counts so far.
    pub fn finish(self) -> Deduped<K, R> {
        let mut duplicate = 0;
        let winners = self
            .slots
            .into_iter()
            .map(|(key, slot)| {
                duplicate += slot.copies - 1;
                KeyedChange::new(key, slot.version, slot.op, slot.fingerprint, slot.row)
            })
            .collect();
        Deduped {
            winners,
            counters: Counters {
                received: self.received,
                superseded: self.superseded,
                duplicate,
                ..Counters::default()
            },
        }
    }
}

impl<K, R> fmt::Debug for Deduper<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deduper")
            .field("keys", &self.slots.len())
            .field("received", &self.received)
            .finish()
    }
}

/// A batch reduced to one change per key: the greatest in the total order.
///
/// The winners are in no particular order; [`plan`](crate::plan()) sorts its
/// output by key.
pub struct Deduped<K, R> {
    winners: Vec<KeyedChange<K, R>>,
    counters: Counters,
}

impl<K, R> Deduped<K, R> {
    /// The winning change of every key, in no particular order.
    pub fn winners(&self) -> &[KeyedChange<K, R>] {
        &self.winners
    }

    /// The winners, by value.
    pub fn into_winners(self) -> Vec<KeyedChange<K, R>> {
        self.winners
    }

    /// `received`, `superseded` and `duplicate` (copies of a winner) for the
    /// batch; `applied` and `late` are decided by [`plan`](crate::plan()).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The distinct keys of the batch, sorted: the input of
    /// [`candidate_files`](crate::candidate_files).
    pub fn sorted_keys(&self) -> Vec<K>
    where
        K: Ord + Clone,
    {
        let mut keys: Vec<K> = self.winners.iter().map(|c| c.key.clone()).collect();
        keys.sort_unstable();
        keys
    }

    pub(crate) fn into_parts(self) -> (Vec<KeyedChange<K, R>>, Counters) {
        (self.winners, self.counters)
    }
}

impl<K, R> fmt::Debug for Deduped<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deduped")
            .field("keys", &self.winners.len())
            .field("counters", &self.counters)
            .finish()
    }
}

/// Reduces a batch to its winner per key in one pass (see [`Deduper`]).
///
/// ```
/// use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
/// use caresync_merge::{KeyedChange, dedupe};
///
/// let v = |n| Version::new(EventTime::from_unix_seconds(1_700_000_000), Tiebreaker::Sequence(n));
/// let batch = [
///     KeyedChange::new(7_u64, v(1), ChangeOp::Insert, 0x11, "v1"),
///     KeyedChange::new(7, v(2), ChangeOp::Update, 0x22, "v2"),
///     KeyedChange::new(7, v(2), ChangeOp::Update, 0x22, "v2"), // re-sent
/// ];
/// let deduped = dedupe(batch);
/// assert_eq!(deduped.winners().len(), 1);
/// assert_eq!(deduped.winners()[0].row, "v2");
/// let c = deduped.counters();
/// assert_eq!((c.received, c.superseded, c.duplicate), (3, 1, 1));
/// ```
pub fn dedupe<K: Hash + Eq, R>(
    batch: impl IntoIterator<Item = KeyedChange<K, R>>,
) -> Deduped<K, R> {
    let batch = batch.into_iter();
    let mut deduper = Deduper::with_capacity(batch.size_hint().0);
    for change in batch {
        deduper.push(change);
    }
    deduper.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use caresync_core::{EventTime, Tiebreaker};

    fn c(key: u8, seq: u64, op: ChangeOp, fp: u64) -> KeyedChange<u8, u64> {
        let version = Version::new(EventTime::from_unix_micros(0), Tiebreaker::Sequence(seq));
        KeyedChange::new(key, version, op, fp, fp)
    }

    fn counts(d: &Deduped<u8, u64>) -> (u64, u64, u64) {
        let c = d.counters();
        (c.received, c.superseded, c.duplicate)
    }

    #[test]
    fn copies_of_a_beaten_change_are_superseded_in_any_order() {
        use ChangeOp::Update;
        let a = || c(1, 1, Update, 10);
        let b = || c(1, 2, Update, 20);
        for batch in [
            vec![a(), a(), b()],
            vec![a(), b(), a()],
            vec![b(), a(), a()],
        ] {
            let d = dedupe(batch);
            assert_eq!(counts(&d), (3, 2, 0));
            assert_eq!(d.winners()[0].row, 20);
        }
    }

    #[test]
    fn copies_of_the_winner_are_duplicates_in_any_order() {
        use ChangeOp::Update;
        let a = || c(1, 1, Update, 10);
        let b = || c(1, 2, Update, 20);
        for batch in [
            vec![a(), b(), b()],
            vec![b(), a(), b()],
            vec![b(), b(), a()],
        ] {
            assert_eq!(counts(&dedupe(batch)), (3, 1, 1));
        }
    }

    #[test]
    fn keys_are_kept_apart_and_sorted_on_request() {
        let d = dedupe([
            c(3, 1, ChangeOp::Insert, 1),
            c(1, 1, ChangeOp::Insert, 1),
            c(2, 1, ChangeOp::Delete, 1),
        ]);
        assert_eq!(counts(&d), (3, 0, 0));
        assert_eq!(d.sorted_keys(), vec![1, 2, 3]);
    }

    #[test]
    fn a_delete_and_an_insert_of_one_version_are_not_duplicates() {
        let d = dedupe([c(1, 5, ChangeOp::Insert, 1), c(1, 5, ChangeOp::Delete, 1)]);
        assert_eq!(counts(&d), (2, 1, 0));
        assert!(d.winners()[0].is_delete());
    }

    #[test]
    fn insert_and_update_with_the_same_content_are_duplicates() {
        let d = dedupe([c(1, 5, ChangeOp::Insert, 9), c(1, 5, ChangeOp::Update, 9)]);
        assert_eq!(counts(&d), (2, 0, 1));
    }
}
