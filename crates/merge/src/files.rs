//! Candidate files: which data files may hold a batch's keys, by key statistics.

use std::fmt;
use std::ops::Range;

use crate::FileId;

/// The key range of one data file, from its statistics (Delta's per-file
/// `minValues` / `maxValues` of the key column).
///
/// A file without usable statistics cannot be pruned: the caller must treat
/// it as a candidate itself, or give it the widest range its key type has.
/// `Debug` shows the id only: the bounds are keys, which may be identifiers.
#[derive(Clone, PartialEq, Eq)]
pub struct FileStats<K> {
    /// The file.
    pub id: FileId,
    /// The smallest key in the file (inclusive).
    pub min: K,
    /// The greatest key in the file (inclusive).
    pub max: K,
}

impl<K> fmt::Debug for FileStats<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStats")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The files whose `[min, max]` range holds at least one of `sorted_keys`,
/// in the order of `files`: the only files that can hold a row the batch
/// updates or deletes. A candidate may still hold none of the keys (the
/// range only bounds them); the caller reads its key column to find out.
///
/// `sorted_keys` must be sorted ascending (as [`Deduped::sorted_keys`]
/// returns them). One binary search per file: O(files · log keys). A file
/// whose `min` is greater than its `max` has broken statistics and is always
/// a candidate.
///
/// [`Deduped::sorted_keys`]: crate::Deduped::sorted_keys
///
/// ```
/// use caresync_merge::{FileId, FileStats, candidate_files};
///
/// let files = [
///     FileStats { id: FileId(0), min: 0, max: 99 },
///     FileStats { id: FileId(1), min: 100, max: 199 },
///     FileStats { id: FileId(2), min: 200, max: 299 },
/// ];
/// assert_eq!(candidate_files(&files, &[5, 250, 400]), [FileId(0), FileId(2)]);
/// ```
pub fn candidate_files<K: Ord>(files: &[FileStats<K>], sorted_keys: &[K]) -> Vec<FileId> {
    candidate_key_ranges(files, sorted_keys)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// Like [`candidate_files`], with, for each candidate, the range of
/// `sorted_keys` that falls inside its `[min, max]`: the keys to probe in that
/// file. (For a file with broken statistics, all keys.)
///
/// ```
/// use caresync_merge::{FileId, FileStats, candidate_key_ranges};
///
/// let files = [FileStats { id: FileId(4), min: "b", max: "d" }];
/// assert_eq!(candidate_key_ranges(&files, &["a", "b", "c", "e"]), [(FileId(4), 1..3)]);
/// ```
pub fn candidate_key_ranges<K: Ord>(
    files: &[FileStats<K>],
    sorted_keys: &[K],
) -> Vec<(FileId, Range<usize>)> {
    debug_assert!(sorted_keys.is_sorted(), "keys must be sorted");
    files
        .iter()
        .filter_map(|file| {
            if file.min > file.max {
                return Some((file.id, 0..sorted_keys.len()));
            }
            let start = sorted_keys.partition_point(|k| *k < file.min);
            let end = start + sorted_keys[start..].partition_point(|k| *k <= file.max);
            (start < end).then_some((file.id, start..end))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: u64, min: i32, max: i32) -> FileStats<i32> {
        FileStats {
            id: FileId(id),
            min,
            max,
        }
    }

    #[test]
    fn bounds_are_inclusive() {
        let files = [file(0, 10, 20)];
        assert_eq!(candidate_files(&files, &[10]), [FileId(0)]);
        assert_eq!(candidate_files(&files, &[20]), [FileId(0)]);
        assert!(candidate_files(&files, &[9, 21]).is_empty());
        assert!(candidate_files(&files, &[]).is_empty());
    }

    #[test]
    fn overlapping_files_are_all_candidates() {
        let files = [file(0, 0, 50), file(1, 40, 60), file(2, 70, 80)];
        assert_eq!(
            candidate_key_ranges(&files, &[45, 55, 90]),
            [(FileId(0), 0..1), (FileId(1), 0..2)]
        );
    }

    #[test]
    fn broken_statistics_never_prune() {
        assert_eq!(candidate_files(&[file(3, 9, 1)], &[100]), [FileId(3)]);
    }
}
