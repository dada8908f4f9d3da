//! Deduplication of a batch in memory: one winner per key.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::fmt;
use std::hash::{BuildHasher as _, Hash};

use crate::{Counters, KeyedChange};

/// Keeps, for every key, the greatest change seen so far (one hash-table
/// probe per change), counting the rest as `superseded` or `duplicate`.
///
/// Feed it with [`Deduper::push`] (for example row by row from several record
/// batches) and call [`Deduper::finish`]; [`dedupe`] does both for an
/// iterator.
///
/// The changes are kept in arrival order and the table holds only, per
/// distinct key, the index of its winner and the number of identical copies
/// (16 bytes): probing a small table is what dedupe costs, and
/// [`Deduper::finish`] compacts the changes in place to the winners, in
/// arrival order, without copying them elsewhere. Keys are hashed by
/// foldhash (several times faster than SipHash on short keys, and seeded
/// per table, so keys from the data cannot be chosen to collide).
pub struct Deduper<K, R> {
    changes: Vec<KeyedChange<K, R>>,
    /// Per distinct key: (index of its winner in `changes`, copies of it).
    table: HashTable<(usize, u64)>,
    hasher: foldhash::fast::RandomState,
    superseded: u64,
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

    /// An empty deduper with room for `changes` changes.
    pub fn with_capacity(changes: usize) -> Self {
        Deduper {
            changes: Vec::with_capacity(changes),
            table: HashTable::with_capacity(changes),
            hasher: foldhash::fast::RandomState::default(),
            superseded: 0,
        }
    }

    /// Takes one change into account.
    pub fn push(&mut self, change: KeyedChange<K, R>) {
        self.changes.push(change);
        self.probe(self.changes.len() - 1);
    }

    /// Meets change `i` with the winner of its key.
    fn probe(&mut self, i: usize) {
        let Deduper {
            changes,
            table,
            hasher,
            superseded,
        } = self;
        let changes = &*changes;
        let entry = table.entry(
            hasher.hash_one(&changes[i].key),
            |&(j, _)| changes[j].key == changes[i].key,
            |&(j, _)| hasher.hash_one(&changes[j].key),
        );
        match entry {
            Entry::Vacant(vacant) => {
                vacant.insert((i, 1));
            }
            Entry::Occupied(mut occupied) => {
                let (winner, copies) = occupied.get_mut();
                match changes[i].stamp().cmp(&changes[*winner].stamp()) {
                    std::cmp::Ordering::Less => *superseded += 1,
                    std::cmp::Ordering::Equal => *copies += 1,
                    std::cmp::Ordering::Greater => {
                        // The old winner and all its copies are beaten.
                        *superseded += *copies;
                        *winner = i;
                        *copies = 1;
                    }
                }
            }
        }
    }

    /// The winners (in the order they arrived) and the counts so far.
    pub fn finish(self) -> Deduped<K, R> {
        let Deduper {
            mut changes,
            table,
            superseded,
            ..
        } = self;
        let received = changes.len() as u64;
        let mut wins = vec![false; changes.len()];
        let mut duplicate = 0;
        for &(winner, copies) in &table {
            wins[winner] = true;
            duplicate += copies - 1;
        }
        let mut at = 0;
        changes.retain(|_| {
            at += 1;
            wins[at - 1]
        });
        Deduped {
            winners: changes,
            counters: Counters {
                received,
                superseded,
                duplicate,
                ..Counters::default()
            },
        }
    }
}

impl<K, R> fmt::Debug for Deduper<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deduper")
            .field("keys", &self.table.len())
            .field("received", &self.changes.len())
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
    /// The winning change of every key, in the order the winners arrived.
    pub fn winners(&self) -> &[KeyedChange<K, R>] {
        &self.winners
    }

    /// The winners, to fill in what the deduplication did not need: the
    /// fingerprints of winners that no other change of the batch tied
    /// with, once the stored rows show which tie with those. Changing a
    /// winner's key, version or operation breaks the deduplication.
    pub fn winners_mut(&mut self) -> &mut [KeyedChange<K, R>] {
        &mut self.winners
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
    // A `Vec` given by value is kept, not copied: the winners are
    // compacted in it.
    let changes: Vec<KeyedChange<K, R>> = batch.into_iter().collect();
    let mut deduper = Deduper {
        table: HashTable::with_capacity(changes.len()),
        changes,
        hasher: foldhash::fast::RandomState::default(),
        superseded: 0,
    };
    for i in 0..deduper.changes.len() {
        deduper.probe(i);
    }
    deduper.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};

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
