//! Which keys each data file holds, kept by a table handle between its
//! merges, so that a merge does not read the files that hold none of its
//! keys.
//!
//! Key statistics cannot rule out a file when keys are spread over the
//! whole key space (hashed ids, UUIDs): every file's bounds then cover
//! every batch. The index holds, per data file, the 64-bit hashes of the
//! keys of all its rows (marked rows included), learnt when a merge reads
//! the file or writes it. Data files never change once written, so an
//! entry stays true for as long as its file is in the table; a file another
//! writer added is simply not in the index, and is read. A hash shared by
//! two keys can only make a file read that need not be, never the reverse.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher as _;

use deltalake::arrow::datatypes::Field;
use deltalake::kernel::Add;

/// Key hashes held at most, over all files (64 MiB).
const HELD_MAX: usize = 8 << 20;

/// See the module docs.
#[derive(Clone, Default)]
pub(crate) struct KeyIndex {
    /// Hashes are compared within one handle only.
    hasher: foldhash::fast::RandomState,
    /// The key columns (names, types) the hashes are of.
    keys: Vec<Field>,
    /// Per data file path (as in its `add` action): its key hashes, sorted
    /// and unique.
    files: HashMap<String, Box<[u64]>>,
    /// Hashes held over all files.
    held: usize,
}

impl KeyIndex {
    /// The hash of an encoded key.
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The hasher, for a file's keys hashed elsewhere (see [`Self::hash`]).
    pub(crate) fn hasher(&self) -> foldhash::fast::RandomState {
        self.hasher.clone()
    }

    /// Readies the index for a merge on the key columns `keys` of a table
    /// whose data files are `live`: forgets everything when the key columns
    /// (or their types, which their encoding follows) changed, and the
    /// files no longer in the table.
    pub(crate) fn prepare<'a>(&mut self, keys: &[Field], live: impl Iterator<Item = &'a str>) {
        if self.keys != keys {
            self.files.clear();
            self.held = 0;
            self.keys = keys.to_vec();
        }
        if self.files.is_empty() {
            return;
        }
        let live: HashSet<&str> = live.collect();
        let held = &mut self.held;
        self.files.retain(|path, hashes| {
            let keep = live.contains(path.as_str());
            if !keep {
                *held -= hashes.len();
            }
            keep
        });
    }

    /// Whether file `path` may hold a key of `wanted` (sorted hashes):
    /// `None` when the index does not know the file.
    pub(crate) fn may_hold(&self, path: &str, wanted: &[u64]) -> Option<bool> {
        let held = self.files.get(path)?;
        // Both sorted: walk the shorter, search the longer.
        let (small, large) = if held.len() < wanted.len() {
            (&held[..], wanted)
        } else {
            (wanted, &held[..])
        };
        Some(small.iter().any(|h| large.binary_search(h).is_ok()))
    }

    /// How many more hashes fit.
    pub(crate) fn room(&self) -> usize {
        HELD_MAX.saturating_sub(self.held)
    }

    /// Records that file `path` holds the keys of `hashes` (and no other),
    /// when they fit.
    pub(crate) fn insert(&mut self, path: String, hashes: Vec<u64>) {
        self.insert_sorted(path, sorted_unique(hashes));
    }

    /// [`Self::insert`] with `hashes` already sorted and unique.
    fn insert_sorted(&mut self, path: String, hashes: Box<[u64]>) {
        if hashes.len() > self.room() {
            return;
        }
        self.held += hashes.len();
        if let Some(old) = self.files.insert(path, hashes) {
            self.held -= old.len();
        }
    }

    /// Records that the files of `adds`, written together, hold rows with
    /// the keys of `keys` only (each file some of them).
    pub(crate) fn insert_written<'a>(
        &mut self,
        adds: &[Add],
        keys: impl Iterator<Item = &'a [u8]>,
    ) {
        if adds.is_empty() {
            return;
        }
        let hashes = sorted_unique(keys.map(|k| self.hash(k)).collect());
        for add in adds {
            self.insert_sorted(add.path.clone(), hashes.clone());
        }
    }

    /// Files known.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }
}

/// `hashes` sorted, without repeats, as the index holds a file's hashes.
fn sorted_unique(mut hashes: Vec<u64>) -> Box<[u64]> {
    hashes.sort_unstable();
    hashes.dedup();
    hashes.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_ruled_out_only_when_it_holds_none_of_the_keys() {
        let id = Field::new("id", deltalake::arrow::datatypes::DataType::Utf8, false);
        let mut index = KeyIndex::default();
        index.prepare(std::slice::from_ref(&id), std::iter::empty());
        let h = |k: &str| index.hash(k.as_bytes());
        let (a, b, c) = (h("a"), h("b"), h("c"));
        index.insert("f1".into(), vec![a, b, a]);
        let mut wanted = vec![c];
        assert_eq!(index.may_hold("f1", &wanted), Some(false));
        wanted.push(b);
        wanted.sort_unstable();
        assert_eq!(index.may_hold("f1", &wanted), Some(true));
        assert_eq!(index.may_hold("f2", &wanted), None);

        // Files gone from the table, and everything when the key columns
        // change, are forgotten.
        index.insert("f2".into(), vec![c]);
        index.prepare(std::slice::from_ref(&id), ["f2"].into_iter());
        assert_eq!((index.len(), index.held), (1, 1));
        let wider = Field::new(
            "id",
            deltalake::arrow::datatypes::DataType::LargeUtf8,
            false,
        );
        index.prepare(&[wider], ["f2"].into_iter());
        assert_eq!((index.len(), index.held), (0, 0));
        assert_eq!(index.may_hold("f2", &wanted), None);
    }
}
