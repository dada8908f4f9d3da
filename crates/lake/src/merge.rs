//! Idempotent merges: the plans of [`caresync_merge`] applied to a Delta
//! table, exactly once per (application id, batch sequence).
//!
//! [`LakeTable::merge`] takes a batch of changes (rows with the table's
//! columns, and optionally an operation column), and:
//!
//! 1. refreshes the table and returns [`MergeOutcome::AlreadyApplied`] when
//!    the table (or its tombstones) already records the batch's `txn`
//!    (application id, sequence): a retried batch after a crash is skipped;
//! 2. checks every change before writing anything: a null key, a null or
//!    malformed version or an unknown operation is a
//!    [`LakeError::Rejected`] naming the row and column (codes
//!    `MERGE-0001`..`MERGE-0004`), a batch without the table's columns is a
//!    [`LakeError::SchemaMismatch`];
//! 3. keeps one change per key ([`caresync_merge::dedupe`]), then finds the
//!    files that may hold the batch's keys by the key column's min/max
//!    statistics, reads only their key columns to find the rows the batch
//!    meets, then the versions of those rows only;
//! 4. plans ([`caresync_merge::plan`]) against those rows and the table's
//!    tombstones: late and duplicate changes change nothing;
//! 5. on a table with deletion vectors enabled
//!    ([`TableSpec::with_deletion_vectors`]), marks the updated and deleted
//!    rows in each file's deletion vector (one new vector file per merge;
//!    the file itself is not read beyond the rows that leave it, and only
//!    for the change data feed) and writes the new versions and new keys to
//!    new files; otherwise rewrites only the files holding an updated or
//!    deleted row (the other rows copied, the new versions written beside
//!    them, so files stay clustered by key) and writes new keys to a new
//!    file;
//! 6. commits the removes, adds, change-data files (`insert`,
//!    `update_preimage`, `update_postimage`, `delete`, only the rows that
//!    changed) and the `txn` in one Delta commit, and on a conflict with a
//!    concurrent writer starts again from 1 (a bounded number of times).
//!
//! Rows a file's deletion vector marks, whoever wrote it, are not in the
//! table: merges never find them and never copy them.
//!
//! # Tombstones
//!
//! A delete removes the row and records a tombstone (key and version) in a
//! side table under the table root, `_caresync_tombstones/` (a Delta table
//! of its own: it travels with the table on any object store, and Delta
//! readers and vacuum of the main table ignore it). A tombstone makes an
//! older upsert arriving later a no-op (`late`). Tombstones older than the
//! [`MergeSpec`]'s retention (30 days by default, counted from when they
//! were recorded) are ignored, so an upsert older than such a delete brings
//! its key back: the retention must exceed the longest delay after which a
//! source may still deliver a change.
//!
//! The rows are committed before the tombstones, and the batch's `txn` goes
//! on the last of the two commits: a crash in between leaves a batch that is
//! not marked done, and its replay completes it.
//!
//! Partitioned tables are not merged into yet: [`LakeError::InvalidSpec`].

mod dv;
pub(crate) mod files;
mod index;
mod keys;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use caresync_core::{ChangeOp, EventTime, Version};
use caresync_merge::{
    Counters, FileId, FileStats, KeyedChange, MergeError, RowLocation, Stored, TombstoneRetention,
};
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray as _, BooleanArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array,
};
use deltalake::arrow::compute::{
    concat_batches, filter_record_batch, interleave_record_batch, take_record_batch,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{
    Action, Add, DeletionVectorDescriptor, LogicalFileView, Remove, Transaction,
};
use deltalake::logstore::ObjectStoreRef;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaResult, DeltaTableError};
use futures::TryStreamExt as _;
use roaring::RoaringTreemap;

use self::files::Writer;
pub(crate) use self::index::KeyIndex;
use self::keys::Codec;
use crate::error::write_error;
use crate::spec::check_batches;
use crate::{LakeError, LakeTable, TableSpec};

/// How many times [`LakeTable::merge`] plans and commits a batch when
/// concurrent writers keep winning.
const MAX_ATTEMPTS: u32 = 8;

/// Where the tombstones of a table are kept, under its root.
pub const TOMBSTONE_TABLE: &str = "_caresync_tombstones";

/// Columns the tombstone table adds to the key columns.
const TOMBSTONE_VERSION: &str = "_caresync_version";
const TOMBSTONE_RECORDED_AT: &str = "_caresync_recorded_at";

/// Change types of the change data feed.
const INSERT: &str = "insert";
const PREIMAGE: &str = "update_preimage";
const POSTIMAGE: &str = "update_postimage";
const DELETE: &str = "delete";

/// How changes map onto a table: key columns, the version column and the
/// optional operation column.
#[derive(Clone, Debug)]
pub struct MergeSpec {
    keys: Vec<String>,
    version: String,
    op: Option<String>,
    retention: TombstoneRetention,
}

impl MergeSpec {
    /// Changes keyed by `keys` (columns of the table), ordered by `version`
    /// (a column of the table: `Int64`, `Int32` and timestamps compare as
    /// numbers, `Utf8` holds `caresync_core::Version` text). Every change
    /// is an upsert unless an operation column is named.
    pub fn new(
        keys: impl IntoIterator<Item = impl Into<String>>,
        version: impl Into<String>,
    ) -> Self {
        MergeSpec {
            keys: keys.into_iter().map(Into::into).collect(),
            version: version.into(),
            op: None,
            retention: TombstoneRetention::DEFAULT,
        }
    }

    /// Names the `Utf8` column of the change batches (not a table column)
    /// holding each change's operation: `insert`, `update` or `delete`.
    #[must_use]
    pub fn with_op_column(mut self, column: impl Into<String>) -> Self {
        self.op = Some(column.into());
        self
    }

    /// How long tombstones defeat late upserts (default 30 days).
    #[must_use]
    pub fn with_tombstone_retention(mut self, retention: TombstoneRetention) -> Self {
        self.retention = retention;
        self
    }
}

/// What [`LakeTable::merge`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeOutcome {
    /// The batch was applied (possibly changing nothing, when every change
    /// was late or a duplicate) and recorded as this table version.
    Committed {
        /// The table version that records the batch.
        version: i64,
        /// What the batch did.
        report: MergeReport,
    },
    /// The table already records this batch sequence (or a later one) for
    /// the application id; nothing was written.
    AlreadyApplied {
        /// The application's last recorded sequence.
        last_txn_version: i64,
    },
}

/// The counts of one applied batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MergeReport {
    /// One label per received change (applied, superseded, duplicate, late).
    pub counters: Counters,
    /// Rows written for keys without a live row.
    pub inserted: u64,
    /// Rows replaced by newer versions.
    pub updated: u64,
    /// Rows removed by deletes.
    pub deleted: u64,
    /// Tombstones recorded.
    pub tombstones: u64,
    /// Data files whose key columns were read.
    pub files_read: u64,
    /// Data files rewritten (or removed, when none of their rows is left).
    pub files_rewritten: u64,
    /// Data files whose replaced rows were marked in a deletion vector
    /// instead of rewriting them.
    pub files_marked: u64,
    /// Plans made (more than one when concurrent writers won).
    pub attempts: u32,
}

/// A planned batch whose files are written but not committed: committing
/// makes it visible; dropping it leaves only unreferenced files (what a
/// crash between write and commit leaves).
pub struct StagedMerge {
    app_id: String,
    seq: i64,
    read_version: i64,
    actions: Vec<Action>,
    tombstones: Option<RecordBatch>,
    report: MergeReport,
}

impl fmt::Debug for StagedMerge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedMerge")
            .field("app_id", &self.app_id)
            .field("seq", &self.seq)
            .field("read_version", &self.read_version)
            .field("actions", &self.actions.len())
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// What staging found.
#[derive(Debug)]
pub enum Stage {
    /// The batch is already recorded.
    AlreadyApplied {
        /// The application's last recorded sequence.
        last_txn_version: i64,
    },
    /// The batch is planned and its files written.
    Staged(StagedMerge),
}

/// The changes of a batch, checked.
struct Changes {
    /// The rows, with the table's columns (all nullable), in the batches
    /// they came in: numbered across them in order.
    batches: Vec<RecordBatch>,
    /// The number of the first row of each batch.
    starts: Vec<u32>,
    keys: Vec<Box<[u8]>>,
    versions: Vec<Version>,
    ops: Vec<ChangeOp>,
    /// Fingerprints settle ties only: 0 but for the rows of `tied`.
    fingerprints: Vec<u64>,
    /// The upserts (ascending) sharing key and version with another
    /// change of the batch.
    tied: Vec<u32>,
}

impl Changes {
    /// The batch and the row within it of change `row`.
    fn locate(&self, row: u32) -> (usize, usize) {
        let batch = self.starts.partition_point(|&s| s <= row) - 1;
        (batch, (row - self.starts[batch]) as usize)
    }

    /// Changes `rows`, in that order, as one batch.
    fn take(&self, rows: &[u32]) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
        if let [only] = self.batches.as_slice() {
            return take_record_batch(only, &UInt32Array::from(rows.to_vec()));
        }
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        let at: Vec<(usize, usize)> = rows.iter().map(|&r| self.locate(r)).collect();
        interleave_record_batch(&batches, &at)
    }

    /// Changes `rows` (each at most once) to write: the batches as they
    /// came when `rows` is every change (the usual batch of new records),
    /// without gathering them first; else those rows, in that order.
    fn rows(&self, rows: &[u32]) -> Result<Vec<RecordBatch>, deltalake::arrow::error::ArrowError> {
        if rows.len() == self.keys.len() {
            Ok(self.batches.clone())
        } else {
            Ok(vec![self.take(rows)?])
        }
    }

    /// The fingerprints of changes `rows`, in that order.
    fn fingerprints_of(&self, codec: &Codec, rows: &[u32]) -> Result<Vec<u64>, String> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let taken = self.take(rows).map_err(|e| e.to_string())?;
        codec.fingerprints_of_all(taken.columns(), taken.num_rows())
    }
}

/// Keys in their row encoding, hashed by foldhash: a merge looks up every
/// row of its candidate files, and SipHash made that lookup most of the
/// search.
type KeySet = std::collections::HashSet<Box<[u8]>, foldhash::fast::RandomState>;

/// A row of the table the batch meets.
#[derive(Clone)]
struct Hit {
    version: Version,
    at: RowLocation,
}

impl LakeTable {
    /// Applies a batch of changes exactly once (see the module docs): the
    /// batch is recorded under (`app_id`, `seq`), and a batch with a
    /// sequence the table already records for `app_id` is skipped.
    ///
    /// # Errors
    ///
    /// [`LakeError::Rejected`] for a bad change (nothing is written),
    /// [`LakeError::SchemaMismatch`], [`LakeError::InvalidSpec`] for a spec
    /// the table cannot take, [`LakeError::Conflict`] when concurrent
    /// writers won [`MAX_ATTEMPTS`] times, [`LakeError::Write`].
    pub async fn merge(
        &mut self,
        app_id: &str,
        seq: i64,
        changes: &[RecordBatch],
        spec: &MergeSpec,
    ) -> Result<MergeOutcome, LakeError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let staged = match self.stage_merge(app_id, seq, changes, spec).await? {
                Stage::AlreadyApplied { last_txn_version } => {
                    return Ok(MergeOutcome::AlreadyApplied { last_txn_version });
                }
                Stage::Staged(mut staged) => {
                    staged.report.attempts = attempts;
                    staged
                }
            };
            match staged.commit(self).await {
                Err(LakeError::Conflict { .. }) if attempts < MAX_ATTEMPTS => {
                    tracing::debug!(url = %self.location.display, app_id, seq, attempts, "merge conflict, planning again");
                }
                other => return other,
            }
        }
    }

    /// Plans a batch against the newest version and writes its files,
    /// without committing (see [`StagedMerge`]); [`LakeTable::merge`] is
    /// this followed by [`StagedMerge::commit`].
    pub async fn stage_merge(
        &mut self,
        app_id: &str,
        seq: i64,
        changes: &[RecordBatch],
        spec: &MergeSpec,
    ) -> Result<Stage, LakeError> {
        self.refresh().await?;
        let url = self.location.display.clone();
        let mut sidecar = self.tombstone_table().await?;
        for recorded in [
            self.last_txn_version(app_id).await?,
            match &sidecar {
                Some(t) => t.last_txn_version(app_id).await?,
                None => None,
            },
        ]
        .into_iter()
        .flatten()
        {
            if recorded >= seq {
                return Ok(Stage::AlreadyApplied {
                    last_txn_version: recorded,
                });
            }
        }

        let schema = self.schema()?;
        let (key_at, version_at) = self.check_spec(&schema, spec)?;
        let codec = Codec::new(&schema, &key_at).map_err(|detail| LakeError::InvalidSpec {
            table: url.clone(),
            detail,
        })?;
        let changes = self.read_changes(&schema, changes, spec, &codec, &key_at, version_at)?;
        let now = EventTime::from_unix_micros(now_micros());

        let mut deduper = caresync_merge::Deduper::with_capacity(changes.keys.len());
        for i in 0..changes.keys.len() {
            deduper.push(KeyedChange::new(
                changes.keys[i].clone(),
                changes.versions[i].clone(),
                changes.ops[i],
                changes.fingerprints[i],
                u32::try_from(i).unwrap_or(u32::MAX),
            ));
        }
        let mut deduped = deduper.finish();
        let sorted_keys = deduped.sorted_keys();

        let tombstones = match &mut sidecar {
            Some(t) => load_tombstones(t, &schema, &key_at, &codec, spec.retention, now).await?,
            None => HashMap::new(),
        };

        // The handle's key index, out of the handle while its snapshot is
        // borrowed; put back when the merge is staged (a merge that fails
        // leaves an empty index, which costs reads only).
        let mut index = std::mem::take(&mut self.key_index);
        // Files that may hold the batch's keys, then the rows they hold.
        let snapshot = self.snapshot()?;
        let views: Vec<LogicalFileView> = snapshot.log_data().iter().collect();
        let candidates = candidates(&views, &schema, &key_at, &codec, &sorted_keys);
        // Of those, the files the key index knows to hold none of the
        // batch's keys are not read.
        let mut wanted_hashes: Vec<u64> = deduped
            .winners()
            .iter()
            .map(|w| index.hash(&w.key))
            .collect();
        wanted_hashes.sort_unstable();
        wanted_hashes.dedup();
        let paths: Vec<String> = views.iter().map(|v| v.path().into_owned()).collect();
        let key_fields: Vec<Field> = key_at.iter().map(|&i| schema.field(i).clone()).collect();
        index.prepare(&key_fields, paths.iter().map(String::as_str));
        let candidates: Vec<usize> = candidates
            .into_iter()
            .filter(|&f| index.may_hold(&paths[f], &wanted_hashes) != Some(false))
            .collect();
        let store = self.table.object_store();
        // The change row of each winning delete: its key columns become the
        // tombstone.
        let delete_rows: HashMap<Box<[u8]>, u32> = deduped
            .winners()
            .iter()
            .filter(|w| w.is_delete())
            .map(|w| (w.key.clone(), w.row))
            .collect();
        let mut hits: HashMap<Box<[u8]>, Hit> = HashMap::new();
        let mut report = MergeReport::default();
        // Candidate files are searched in parallel, one per core at a time.
        let wanted: Arc<KeySet> =
            Arc::new(deduped.winners().iter().map(|w| w.key.clone()).collect());
        report.files_read = candidates.len() as u64;
        // Collected before awaiting, as for the rewrites below.
        // Each file read is learnt by the index while it has room (a file
        // without a row count is not).
        let mut room = index.room();
        let reads: Vec<_> = candidates
            .iter()
            .map(|&file| {
                let rows = views[file].num_records().unwrap_or(usize::MAX);
                let learn = (rows <= room).then(|| {
                    room -= rows;
                    index.hasher()
                });
                find_hits(
                    store.clone(),
                    views[file].clone(),
                    FileId(file as u64),
                    schema.clone(),
                    key_at.clone(),
                    spec.version.clone(),
                    wanted.clone(),
                    learn,
                )
            })
            .collect();
        let found = in_parallel(reads).await.map_err(|e| {
            write_error(&url, "merge (reading a data file)", Some(self.version()), e)
        })?;
        // The rows each candidate's deletion vector already marks.
        let mut deleted: HashMap<u64, RoaringTreemap> = HashMap::new();
        let mut found_hits = Vec::new();
        for f in found {
            if let Some(d) = f.deleted {
                deleted.insert(f.file.0, d);
            }
            if let Some(keys) = f.keys {
                index.insert(paths[f.file.0 as usize].clone(), keys);
            }
            found_hits.extend(f.hits);
        }
        for (key, hit) in found_hits {
            // A key held twice (written by another tool) keeps its
            // newest row; the plan replaces that one.
            match hits.get(&key) {
                Some(old) if old.version >= hit.version => {}
                _ => {
                    hits.insert(key, hit);
                }
            }
        }
        // A winner with the version of its stored row, and the stored row,
        // need their fingerprints to settle the tie.
        let mismatch = |detail| LakeError::SchemaMismatch {
            table: url.clone(),
            detail,
        };
        let mut fingerprints: HashMap<RowLocation, u64> = HashMap::new();
        let mut tie_files: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        let mut unprinted: Vec<(usize, u32)> = Vec::new();
        for (i, w) in deduped.winners().iter().enumerate() {
            if let Some(h) = hits.get(&w.key)
                && h.version == w.version
            {
                tie_files
                    .entry(h.at.file.0 as usize)
                    .or_default()
                    .push(h.at.row);
                if !w.is_delete() && changes.tied.binary_search(&w.row).is_err() {
                    unprinted.push((i, w.row));
                }
            }
        }
        if !unprinted.is_empty() {
            let rows: Vec<u32> = unprinted.iter().map(|&(_, row)| row).collect();
            let printed = changes.fingerprints_of(&codec, &rows).map_err(mismatch)?;
            let winners = deduped.winners_mut();
            for (&(i, _), fp) in unprinted.iter().zip(printed) {
                winners[i].fingerprint = fp;
            }
        }
        for (file, rows) in tie_files {
            let batch = whole_file(store.clone(), &views[file], &schema)
                .await
                .map_err(|e| {
                    write_error(&url, "merge (reading a data file)", Some(self.version()), e)
                })?;
            let wanted: Vec<u32> = rows
                .iter()
                .filter_map(|&row| u32::try_from(row).ok())
                .filter(|&row| (row as usize) < batch.num_rows())
                .collect();
            let printed = codec
                .fingerprints(batch.columns(), &wanted)
                .map_err(mismatch)?;
            for (row, fp) in wanted.into_iter().zip(printed) {
                fingerprints.insert(
                    RowLocation {
                        file: FileId(file as u64),
                        row: u64::from(row),
                    },
                    fp,
                );
            }
        }

        let plan = caresync_merge::plan(deduped, |key| {
            let row = hits.get(key).map(|h| {
                let fp = fingerprints.get(&h.at).copied().unwrap_or(0);
                Stored::row(h.version.clone(), fp, Some(h.at))
            });
            let tomb = tombstones.get(key).map(|v| Stored::tombstone(v.clone()));
            match (row, tomb) {
                (Some(r), Some(t)) => Some(if t.version > r.version { t } else { r }),
                (r, t) => r.or(t),
            }
        });
        report.counters = plan.counters;
        report.inserted = plan.inserts.len() as u64;
        report.updated = plan.updates.len() as u64;
        report.deleted = plan.deletes.len() as u64;
        report.tombstones = plan.new_tombstones.len() as u64;

        // Rewrite the files holding replaced rows; new keys to a new file.
        let writer = Writer::new(store.clone(), schema.clone(), snapshot);
        let change_schema = writer.change_schema();
        let cdf = self.change_data_feed_enabled()?;
        let mut actions: Vec<Action> = Vec::new();
        let mut change_rows: Vec<RecordBatch> = Vec::new();
        let take = |rows: &[u32]| -> Result<RecordBatch, LakeError> {
            changes
                .take(rows)
                .map_err(|e| write_error(&url, "merge", None, e.into()))
        };
        // Per rewritten file: rows leaving it (preimages and deletes) and
        // the new versions written into it.
        let mut leaving: BTreeMap<u64, Vec<(u64, &'static str)>> = BTreeMap::new();
        let mut arriving: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        let mut homeless: Vec<u32> = Vec::new();
        for u in &plan.updates {
            match u.location {
                Some(at) => {
                    leaving
                        .entry(at.file.0)
                        .or_default()
                        .push((at.row, PREIMAGE));
                    arriving.entry(at.file.0).or_default().push(u.row);
                }
                None => homeless.push(u.row),
            }
        }
        for d in &plan.deletes {
            if let Some(at) = d.location {
                leaving.entry(at.file.0).or_default().push((at.row, DELETE));
            }
        }
        let postimages: Vec<u32> = plan.updates.iter().map(|u| u.row).collect();
        if self.deletion_vectors_enabled()? {
            // Replaced rows marked, not rewritten; every new version goes to
            // new files with the new keys, written while the marks are made.
            let mut written = postimages.clone();
            written.extend(plan.inserts.iter().map(|i| i.row));
            written.sort_unstable();
            let rows = changes
                .rows(&written)
                .map_err(|e| write_error(&url, "merge", None, e.into()))?;
            let data = tokio::spawn({
                let writer = writer.clone();
                async move { writer.data(&rows).await }
            });
            let tasks: Vec<_> = leaving
                .into_iter()
                .map(|(file, gone)| {
                    mark(
                        store.clone(),
                        views[file as usize].clone(),
                        schema.clone(),
                        change_schema.clone(),
                        deleted.remove(&file),
                        gone,
                        cdf,
                    )
                })
                .collect();
            let marked = in_parallel(tasks).await.map_err(|e| {
                write_error(&url, "merge (reading a data file)", Some(self.version()), e)
            })?;
            let (emptied, marked): (Vec<Marked>, Vec<Marked>) =
                marked.into_iter().partition(|m| m.emptied);
            let vectors: Vec<&RoaringTreemap> = marked.iter().map(|m| &m.deleted).collect();
            let descriptors = dv::write(&store, &vectors).await.map_err(|e| {
                write_error(
                    &url,
                    "merge (writing deletion vectors)",
                    Some(self.version()),
                    e,
                )
            })?;
            for m in emptied {
                actions.push(Action::Remove(m.view.remove_action(true)));
                change_rows.extend(m.changes);
                report.files_rewritten += 1;
            }
            for (m, descriptor) in marked.into_iter().zip(descriptors) {
                actions.push(Action::Remove(m.view.remove_action(true)));
                actions.push(Action::Add(with_vector(&m.view, descriptor)));
                change_rows.extend(m.changes);
                report.files_marked += 1;
            }
            let adds = data
                .await
                .map_err(|e| DeltaTableError::Generic(e.to_string()))
                .and_then(|result| result)
                .map_err(|e| {
                    write_error(&url, "merge (writing a data file)", Some(self.version()), e)
                })?;
            index.insert_written(&adds, written.iter().map(|&r| &*changes.keys[r as usize]));
            actions.extend(adds.into_iter().map(Action::Add));
        } else {
            // Files are rewritten in parallel, one per core at a time.
            let jobs = leaving
                .into_iter()
                .map(|(file, gone)| {
                    let rows = take(arriving.get(&file).map_or(&[][..], Vec::as_slice))?;
                    Ok((file, gone, rows))
                })
                .collect::<Result<Vec<_>, LakeError>>()?;
            // Made before awaiting: a mapping closure held across the await
            // would make the merge's future `Send` for one lifetime only, and
            // callers could not spawn it.
            let tasks: Vec<_> = jobs
                .into_iter()
                .map(|(file, gone, rows)| {
                    rewrite(
                        store.clone(),
                        views[file as usize].clone(),
                        schema.clone(),
                        writer.clone(),
                        deleted.remove(&file),
                        gone,
                        rows,
                        cdf,
                    )
                })
                .collect();
            let done = in_parallel(tasks).await.map_err(|e| {
                write_error(
                    &url,
                    "merge (rewriting a data file)",
                    Some(self.version()),
                    e,
                )
            })?;
            for r in done {
                actions.extend(r.adds.into_iter().map(Action::Add));
                actions.push(Action::Remove(r.remove));
                change_rows.extend(r.changes);
                report.files_rewritten += 1;
            }
            let mut new_keys: Vec<u32> = plan.inserts.iter().map(|i| i.row).collect();
            new_keys.append(&mut homeless);
            if !new_keys.is_empty() {
                let rows = changes
                    .rows(&new_keys)
                    .map_err(|e| write_error(&url, "merge", None, e.into()))?;
                let adds = writer.data(&rows).await.map_err(|e| {
                    write_error(&url, "merge (writing a data file)", Some(self.version()), e)
                })?;
                index.insert_written(&adds, new_keys.iter().map(|&r| &*changes.keys[r as usize]));
                actions.extend(adds.into_iter().map(Action::Add));
            }
        }
        // With removes in the commit, readers take its change rows from the
        // change-data files only: every change goes there, inserts too.
        let removes = actions.iter().any(|a| matches!(a, Action::Remove(_)));
        if cdf && removes {
            let inserted = take(&plan.inserts.iter().map(|i| i.row).collect::<Vec<_>>())?;
            change_rows.push(
                files::with_change_type(&change_schema, &inserted, INSERT)
                    .map_err(|e| write_error(&url, "merge", None, e))?,
            );
            change_rows.push(
                files::with_change_type(&change_schema, &take(&postimages)?, POSTIMAGE)
                    .map_err(|e| write_error(&url, "merge", None, e))?,
            );
            let cdc = writer.changes(&change_rows).await.map_err(|e| {
                write_error(&url, "merge (writing change data)", Some(self.version()), e)
            })?;
            actions.extend(cdc.into_iter().map(Action::Cdc));
        }

        // Tombstones: the key columns of each winning delete.
        let tombstones = if plan.new_tombstones.is_empty() {
            None
        } else {
            let rows: Vec<u32> = plan
                .new_tombstones
                .iter()
                .filter_map(|t| delete_rows.get(&t.key).copied())
                .collect();
            let keys = take(&rows)?;
            let mut columns: Vec<ArrayRef> =
                key_at.iter().map(|&i| keys.column(i).clone()).collect();
            columns.push(Arc::new(StringArray::from_iter_values(
                plan.new_tombstones.iter().map(|t| t.version.to_string()),
            )));
            columns.push(Arc::new(
                TimestampMicrosecondArray::from(vec![now.as_unix_micros(); rows.len()])
                    .with_timezone("UTC"),
            ));
            let batch = RecordBatch::try_new(tombstone_schema(&schema, &key_at), columns)
                .map_err(|e| write_error(&url, "merge", None, e.into()))?;
            Some(batch)
        };

        self.key_index = index;
        Ok(Stage::Staged(StagedMerge {
            app_id: app_id.to_owned(),
            seq,
            read_version: self.version(),
            actions,
            tombstones,
            report,
        }))
    }

    /// Checks `spec` against the table: the positions of the key and
    /// version columns.
    fn check_spec(
        &self,
        schema: &Schema,
        spec: &MergeSpec,
    ) -> Result<(Vec<usize>, usize), LakeError> {
        let invalid = |detail: String| LakeError::InvalidSpec {
            table: self.location.display.clone(),
            detail,
        };
        if !self.partition_columns()?.is_empty() {
            return Err(invalid(
                "merges into partitioned tables are not supported yet".to_owned(),
            ));
        }
        if spec.keys.is_empty() {
            return Err(invalid("a merge needs at least one key column".to_owned()));
        }
        let position = |name: &str| {
            schema.index_of(name).map_err(|_| LakeError::UnknownColumn {
                url: self.location.display.clone(),
                column: name.to_owned(),
            })
        };
        let key_at = spec
            .keys
            .iter()
            .map(|k| position(k))
            .collect::<Result<Vec<_>, _>>()?;
        let version_at = position(&spec.version)?;
        if key_at.contains(&version_at) {
            return Err(invalid(format!(
                "column {:?} is both key and version",
                spec.version
            )));
        }
        if !keys::is_version_type(schema.field(version_at).data_type()) {
            return Err(invalid(format!(
                "version column {:?} is {}, not Int64, Int32, a timestamp or Utf8",
                spec.version,
                schema.field(version_at).data_type()
            )));
        }
        Ok((key_at, version_at))
    }

    /// Checks and reads the change batches.
    fn read_changes(
        &self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        spec: &MergeSpec,
        codec: &Codec,
        key_at: &[usize],
        version_at: usize,
    ) -> Result<Changes, LakeError> {
        let url = &self.location.display;
        let mismatch = |detail: String| LakeError::SchemaMismatch {
            table: url.clone(),
            detail,
        };
        // The table's columns, by name, and the operation column.
        let mut table_rows = Vec::with_capacity(batches.len());
        let mut op_columns = Vec::with_capacity(batches.len());
        for b in batches {
            let mut columns = Vec::with_capacity(schema.fields().len());
            for f in schema.fields() {
                let c = b.column_by_name(f.name()).ok_or_else(|| {
                    mismatch(format!("the changes have no column {:?}", f.name()))
                })?;
                columns.push(c.clone());
            }
            let expected = schema.fields().len() + usize::from(spec.op.is_some());
            if b.num_columns() != expected {
                return Err(mismatch(format!(
                    "the changes have {} columns; the table has {}{}",
                    b.num_columns(),
                    schema.fields().len(),
                    if spec.op.is_some() {
                        " and the operation column"
                    } else {
                        ""
                    }
                )));
            }
            let fields: Vec<Arc<Field>> = schema
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, c)| Arc::new(Field::new(f.name(), c.data_type().clone(), true)))
                .collect();
            table_rows.push(
                RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
                    .map_err(|e| mismatch(e.to_string()))?,
            );
            if let Some(op) = &spec.op {
                let c = b.column_by_name(op).ok_or_else(|| {
                    mismatch(format!("the changes have no operation column {op:?}"))
                })?;
                op_columns.push(c.clone());
            }
        }
        let rejected = |e: MergeError| LakeError::Rejected {
            url: url.clone(),
            rejection: e.rejection(),
        };
        // Null keys and versions are bad changes, named by row, before the
        // batch is held against the table's NOT NULL columns.
        let mut first_row = 0_u64;
        let mut versions = Vec::new();
        for b in &table_rows {
            for (i, &at) in key_at.iter().enumerate() {
                let column = b.column(at);
                if let Some(row) = (0..b.num_rows()).find(|&r| column.is_null(r)) {
                    return Err(rejected(MergeError::MissingKey {
                        row: first_row + row as u64,
                        column: spec.keys[i].as_str().into(),
                    }));
                }
            }
            versions.extend(
                keys::versions(b.column(version_at), &spec.version, first_row).map_err(rejected)?,
            );
            first_row += b.num_rows() as u64;
        }
        // The changes with every column nullable: a delete needs only its
        // key and version, so its other columns may be null even where the
        // table's are NOT NULL. They stay in the batches they came in:
        // rows are copied once, into the files written.
        let loose = loose(schema);
        let batches = table_rows
            .iter()
            .map(|b| RecordBatch::try_new(loose.clone(), b.columns().to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| mismatch(e.to_string()))?;
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if u32::try_from(n).is_err() {
            return Err(mismatch(format!(
                "{n} changes in one merge; at most {} are taken",
                u32::MAX
            )));
        }
        // Every start is at most `n`, which fits in a u32.
        let starts: Vec<u32> = batches
            .iter()
            .scan(0_usize, |at, b| {
                let start = *at;
                *at += b.num_rows();
                Some(start as u32)
            })
            .collect();
        let op_column = if op_columns.is_empty() {
            None
        } else {
            Some(
                deltalake::arrow::compute::concat(
                    &op_columns.iter().map(|c| c.as_ref()).collect::<Vec<_>>(),
                )
                .map_err(|e| mismatch(e.to_string()))?,
            )
        };
        let ops =
            keys::ops(op_column.as_ref(), spec.op.as_deref().unwrap_or(""), n).map_err(rejected)?;
        // Column types, and NOT NULL columns of the rows to be written
        // (upserts; the same schema as every change).
        let table_schema = self.snapshot()?.schema();
        let mut written = Vec::with_capacity(batches.len());
        let mut keys: Vec<Box<[u8]>> = Vec::with_capacity(n);
        for (b, &start) in batches.iter().zip(&starts) {
            let start = start as usize;
            let upserts: Vec<bool> = ops[start..start + b.num_rows()]
                .iter()
                .map(|op| !op.is_delete())
                .collect();
            written.push(
                filter_record_batch(b, &upserts.into()).map_err(|e| mismatch(e.to_string()))?,
            );
            let key_rows = codec
                .key_rows(&codec.key_columns(b.columns()))
                .map_err(&mismatch)?;
            keys.extend((0..b.num_rows()).map(|i| Box::<[u8]>::from(key_rows.row(i).data())));
        }
        check_batches(&table_schema, &written, url)?;
        // Fingerprinting every row would cost more than the rest of reading
        // the changes; only changes that tie need one.
        let tied = in_batch_ties(&keys, &versions, &ops);
        let mut changes = Changes {
            batches,
            starts,
            keys,
            versions,
            ops,
            fingerprints: vec![0; n],
            tied: Vec::new(),
        };
        let printed = changes.fingerprints_of(codec, &tied).map_err(mismatch)?;
        for (&row, fp) in tied.iter().zip(printed) {
            changes.fingerprints[row as usize] = fp;
        }
        changes.tied = tied;
        Ok(changes)
    }

    /// The table's tombstone table, when it has one.
    async fn tombstone_table(&self) -> Result<Option<LakeTable>, LakeError> {
        let url = tombstone_url(&self.location.display);
        match LakeTable::open(&url).await {
            Ok(t) => Ok(Some(t)),
            Err(LakeError::NotATable { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl StagedMerge {
    /// What the batch does.
    pub fn report(&self) -> MergeReport {
        self.report
    }

    /// Commits the staged batch to `table` (the handle it was staged on,
    /// still at the version it was planned against): the rows, change data
    /// and (without deletes) the `txn` in one commit, then the tombstones
    /// with the `txn`.
    ///
    /// # Errors
    ///
    /// [`LakeError::Conflict`] when another writer committed a conflicting
    /// change since the batch was planned (plan it again), and
    /// [`LakeError::Write`].
    pub async fn commit(self, table: &mut LakeTable) -> Result<MergeOutcome, LakeError> {
        let url = table.location.display.clone();
        if table.version() != self.read_version {
            return Err(LakeError::InvalidSpec {
                table: url,
                detail: format!(
                    "the merge was planned at version {} but the handle is at {}",
                    self.read_version,
                    table.version()
                ),
            });
        }
        let txn_here = self.tombstones.is_none();
        if !self.actions.is_empty() || txn_here {
            let mut properties = CommitProperties::default();
            if txn_here {
                properties = properties
                    .with_application_transaction(Transaction::new(&self.app_id, self.seq));
            }
            let operation = DeltaOperation::Merge {
                predicate: None,
                merge_predicate: None,
                matched_predicates: Vec::new(),
                not_matched_predicates: Vec::new(),
                not_matched_by_source_predicates: Vec::new(),
            };
            let snapshot = table.snapshot()?;
            let done = CommitBuilder::from(properties)
                .with_actions(self.actions)
                .build(Some(snapshot), table.table.log_store(), operation)
                .await
                .map_err(|e| write_error(&url, "merge", Some(self.read_version), e))?;
            table.table.state = Some(done.snapshot());
        }
        if let Some(tombstones) = self.tombstones {
            let schema = tombstones.schema();
            let spec = TableSpec::new("caresync_tombstones", schema).with_change_data_feed(false);
            let mut sidecar = LakeTable::open_or_create(&tombstone_url(&url), &spec).await?;
            sidecar
                .append_idempotent(&self.app_id, self.seq, vec![tombstones])
                .await?;
        }
        Ok(MergeOutcome::Committed {
            version: table.version(),
            report: self.report,
        })
    }
}

/// Every row of a data file, with the table's columns (cast to the
/// table's types where the file's differ).
async fn whole_file(
    store: ObjectStoreRef,
    view: &LogicalFileView,
    schema: &SchemaRef,
) -> DeltaResult<RecordBatch> {
    let batches = files::read(store, view, None).await?;
    conformed(schema, &batches)
}

/// Rows read from a data file as one batch with the table's columns (cast
/// to the table's types where the file's differ), all nullable.
fn conformed(schema: &SchemaRef, batches: &[RecordBatch]) -> DeltaResult<RecordBatch> {
    let loose = loose(schema);
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let columns = schema
            .fields()
            .iter()
            .map(|f| files::column_as(b, f.name(), f.data_type()))
            .collect::<DeltaResult<Vec<_>>>()?;
        out.push(RecordBatch::try_new(loose.clone(), columns)?);
    }
    Ok(concat_batches(&loose, &out)?)
}

/// What searching one candidate file found.
struct Found {
    file: FileId,
    /// The hashes of the keys of all its rows, when asked for.
    keys: Option<Vec<u64>>,
    /// The rows its deletion vector marks, if it has one.
    deleted: Option<RoaringTreemap>,
    /// Its live rows whose key is wanted, with their version and place.
    hits: Vec<(Box<[u8]>, Hit)>,
}

/// The live rows of one candidate file whose key is `wanted`, with their
/// version and place; with `learn`, also the hashes of all its keys.
#[allow(clippy::too_many_arguments)]
async fn find_hits(
    store: ObjectStoreRef,
    view: LogicalFileView,
    file: FileId,
    schema: SchemaRef,
    key_at: Vec<usize>,
    version: String,
    wanted: Arc<KeySet>,
    learn: Option<foldhash::fast::RandomState>,
) -> DeltaResult<Found> {
    let bad = |detail: String| DeltaTableError::Generic(detail);
    let deleted = match view.deletion_vector_descriptor() {
        Some(descriptor) => Some(dv::read(&store, &descriptor).await?),
        None => None,
    };
    let codec = Codec::new(&schema, &key_at).map_err(bad)?;
    let columns: Vec<&str> = key_at
        .iter()
        .map(|&i| schema.field(i).name().as_str())
        .collect();
    let data = files::DataFile::open(store, &view).await?;
    let mut batches = data.stream(Some(&columns))?;
    // The live rows whose key is wanted, then the versions of those rows
    // only.
    let mut met: Vec<u64> = Vec::new();
    let mut met_keys: Vec<Box<[u8]>> = Vec::new();
    let mut keys: Option<Vec<u64>> = learn.as_ref().map(|_| Vec::new());
    let mut row = 0_u64;
    while let Some(b) = batches.try_next().await? {
        let key_columns: Vec<ArrayRef> = key_at
            .iter()
            .map(|&i| files::column_as(&b, schema.field(i).name(), schema.field(i).data_type()))
            .collect::<DeltaResult<_>>()?;
        let rows = codec.key_rows(&key_columns).map_err(bad)?;
        for i in 0..b.num_rows() {
            let key = rows.row(i).data();
            let at = row + i as u64;
            if wanted.contains(key) && !deleted.as_ref().is_some_and(|d| d.contains(at)) {
                met.push(at);
                met_keys.push(key.into());
            }
            if let (Some(keys), Some(hasher)) = (&mut keys, &learn) {
                keys.push(std::hash::BuildHasher::hash_one(hasher, key));
            }
        }
        row += b.num_rows() as u64;
    }
    let mut out = Vec::with_capacity(met.len());
    if !met.is_empty() {
        let stored = data.rows(Some(&[version.as_str()]), &met).await?;
        let version_column = stored
            .column_by_name(&version)
            .ok_or_else(|| bad(format!("a data file has no column {version:?}")))?;
        let versions = keys::versions(version_column, &version, 0)
            .map_err(|e| bad(format!("a stored row has no usable version ({})", e.code())))?;
        for ((key, at), version) in met_keys.into_iter().zip(met).zip(versions) {
            out.push((
                key,
                Hit {
                    version,
                    at: RowLocation { file, row: at },
                },
            ));
        }
    }
    Ok(Found {
        file,
        keys,
        deleted,
        hits: out,
    })
}

/// What rewriting one file produced.
struct Rewritten {
    adds: Vec<Add>,
    remove: Remove,
    /// Pre-images and deleted rows, with their `_change_type`.
    changes: Vec<RecordBatch>,
}

/// Rewrites one data file: every row but those in `gone` (row index and
/// change type) and those `deleted` already marks, then `arriving` (the
/// new versions of its replaced rows).
#[allow(clippy::too_many_arguments)]
async fn rewrite(
    store: ObjectStoreRef,
    view: LogicalFileView,
    schema: SchemaRef,
    writer: Writer,
    deleted: Option<RoaringTreemap>,
    gone: Vec<(u64, &'static str)>,
    arriving: RecordBatch,
    change_data: bool,
) -> DeltaResult<Rewritten> {
    let old = whole_file(store, &view, &schema).await?;
    let mut keep = vec![true; old.num_rows()];
    for row in deleted.iter().flat_map(|d| d.iter()) {
        if let Some(k) = keep.get_mut(row as usize) {
            *k = false;
        }
    }
    let mut pre = Vec::new();
    let mut del = Vec::new();
    for (row, kind) in gone {
        if let Some(k) = keep.get_mut(row as usize) {
            *k = false;
            if kind == DELETE {
                del.push(row as u32);
            } else {
                pre.push(row as u32);
            }
        }
    }
    let kept = filter_record_batch(&old, &keep.into())?;
    let adds = writer.data(&[kept, arriving]).await?;
    let mut changes = Vec::new();
    if change_data {
        let change_schema = writer.change_schema();
        for (rows, kind) in [(pre, PREIMAGE), (del, DELETE)] {
            let rows = take_record_batch(&old, &UInt32Array::from(rows))?;
            changes.push(files::with_change_type(&change_schema, &rows, kind)?);
        }
    }
    Ok(Rewritten {
        adds,
        remove: view.remove_action(true),
        changes,
    })
}

/// What marking one data file's replaced rows produced.
struct Marked {
    view: LogicalFileView,
    /// Every row of the file no longer in the table.
    deleted: RoaringTreemap,
    /// Whether that is every row of the file (it is removed, not marked).
    emptied: bool,
    /// Pre-images and deleted rows, with their `_change_type`.
    changes: Vec<RecordBatch>,
}

/// Marks the rows of `gone` (row index and change type) in a data file's
/// deletion vector (`deleted`, the rows it marks already), reading those
/// rows only when the change data feed needs them.
async fn mark(
    store: ObjectStoreRef,
    view: LogicalFileView,
    schema: SchemaRef,
    change_schema: SchemaRef,
    deleted: Option<RoaringTreemap>,
    mut gone: Vec<(u64, &'static str)>,
    change_data: bool,
) -> DeltaResult<Marked> {
    gone.sort_unstable_by_key(|&(row, _)| row);
    gone.dedup_by_key(|&mut (row, _)| row);
    let mut bitmap = deleted.unwrap_or_default();
    bitmap.extend(gone.iter().map(|&(row, _)| row));
    let mut changes = Vec::new();
    if change_data && !gone.is_empty() {
        let rows: Vec<u64> = gone.iter().map(|&(row, _)| row).collect();
        let old = conformed(
            &schema,
            &[files::DataFile::open(store, &view)
                .await?
                .rows(None, &rows)
                .await?],
        )?;
        let updated: BooleanArray = gone.iter().map(|&(_, kind)| Some(kind != DELETE)).collect();
        let removed: BooleanArray = gone.iter().map(|&(_, kind)| Some(kind == DELETE)).collect();
        for (mask, kind) in [(updated, PREIMAGE), (removed, DELETE)] {
            let rows = filter_record_batch(&old, &mask)?;
            changes.push(files::with_change_type(&change_schema, &rows, kind)?);
        }
    }
    let emptied = view.num_records().is_some_and(|n| bitmap.len() >= n as u64);
    Ok(Marked {
        view,
        deleted: bitmap,
        emptied,
        changes,
    })
}

/// The add action of a data file already in the table, now with
/// `deletion_vector`. Its statistics stay true bounds of the rows left, but
/// no longer tight ones, and say so.
fn with_vector(view: &LogicalFileView, deletion_vector: DeletionVectorDescriptor) -> Add {
    let stats = view.stats().map(
        |stats| match serde_json::from_str::<serde_json::Value>(&stats) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.insert("tightBounds".to_owned(), serde_json::Value::Bool(false));
                serde_json::Value::Object(fields).to_string()
            }
            _ => stats,
        },
    );
    Add {
        path: view.path().to_string(),
        partition_values: view.partition_values_map(),
        size: view.size(),
        modification_time: view.modification_time(),
        data_change: true,
        stats,
        deletion_vector: Some(deletion_vector),
        ..Add::default()
    }
}

/// How many files are read or rewritten at once: one per core.
fn parallelism() -> usize {
    // Asked once: the answer reads the cgroup files each time.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, usize::from))
}

/// Runs `tasks` on the runtime's threads, [`parallelism`] at a time, and
/// returns their results (in completion order) or the first error.
async fn in_parallel<T, F>(tasks: impl IntoIterator<Item = F>) -> DeltaResult<Vec<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = DeltaResult<T>> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut pending = tasks.into_iter();
    let mut out = Vec::new();
    loop {
        while running.len() < parallelism() {
            let Some(task) = pending.next() else {
                break;
            };
            running.spawn(task);
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        out.push(joined.map_err(|e| DeltaTableError::Generic(e.to_string()))??);
    }
    Ok(out)
}

/// The candidate files (indexes into `views`) for `sorted_keys`: by the key
/// column's statistics when the key is one column of a type statistics
/// bound, else every file.
fn candidates(
    views: &[LogicalFileView],
    schema: &Schema,
    key_at: &[usize],
    codec: &Codec,
    sorted_keys: &[Box<[u8]>],
) -> Vec<usize> {
    if sorted_keys.is_empty() {
        return Vec::new();
    }
    let all = || (0..views.len()).collect();
    let [at] = key_at else {
        return all();
    };
    let field = schema.field(*at);
    let mut with_stats = Vec::with_capacity(views.len());
    let mut without = Vec::new();
    for (i, view) in views.iter().enumerate() {
        let bounds =
            files::min_max(view, field.name(), field.data_type()).and_then(|[min, max]| {
                let lo = codec.key_rows(&[min]).ok()?;
                let hi = codec.key_rows(&[max]).ok()?;
                Some((lo.row(0).data().into(), hi.row(0).data().into()))
            });
        match bounds {
            Some((min, max)) => with_stats.push(FileStats {
                id: FileId(i as u64),
                min,
                max,
            }),
            None => without.push(i),
        }
    }
    let mut out: Vec<usize> = caresync_merge::candidate_files(&with_stats, sorted_keys)
        .into_iter()
        .map(|id| id.0 as usize)
        .collect();
    out.extend(without);
    out.sort_unstable();
    out
}

/// The tombstones still in force: key → greatest version.
async fn load_tombstones(
    sidecar: &mut LakeTable,
    schema: &Schema,
    key_at: &[usize],
    codec: &Codec,
    retention: TombstoneRetention,
    now: EventTime,
) -> Result<HashMap<Box<[u8]>, Version>, LakeError> {
    let url = sidecar.location.display.clone();
    let mut out: HashMap<Box<[u8]>, Version> = HashMap::new();
    // The scan may hand strings out as views: every column is cast to the
    // type it was written with.
    let column = |b: &RecordBatch, name: &str, t: &DataType| {
        files::column_as(b, name, t).map_err(|_| missing_column(&url, name))
    };
    for b in sidecar.read_all().await? {
        let key_columns: Vec<ArrayRef> = key_at
            .iter()
            .map(|&i| column(&b, schema.field(i).name(), schema.field(i).data_type()))
            .collect::<Result<_, _>>()?;
        let rows = codec
            .key_rows(&key_columns)
            .map_err(|detail| LakeError::SchemaMismatch {
                table: url.clone(),
                detail,
            })?;
        let versions = column(&b, TOMBSTONE_VERSION, &DataType::Utf8)?;
        let versions = versions.as_string::<i32>();
        let recorded = column(&b, TOMBSTONE_RECORDED_AT, &DataType::Int64)?;
        let recorded = recorded.as_primitive::<deltalake::arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            if retention.is_expired(EventTime::from_unix_micros(recorded.value(i)), now) {
                continue;
            }
            let Ok(version) = versions.value(i).parse::<Version>() else {
                continue;
            };
            let key: Box<[u8]> = rows.row(i).data().into();
            match out.get(&key) {
                Some(v) if *v >= version => {}
                _ => {
                    out.insert(key, version);
                }
            }
        }
    }
    Ok(out)
}

/// The schema of the tombstone table: the key columns, the version text
/// and when the tombstone was recorded.
fn tombstone_schema(schema: &Schema, key_at: &[usize]) -> SchemaRef {
    let mut fields: Vec<Field> = key_at
        .iter()
        .map(|&i| schema.field(i).as_ref().clone().with_nullable(false))
        .collect();
    fields.push(Field::new(TOMBSTONE_VERSION, DataType::Utf8, false));
    fields.push(Field::new(
        TOMBSTONE_RECORDED_AT,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    Arc::new(Schema::new(fields))
}

fn tombstone_url(table_url: &str) -> String {
    format!("{}/{TOMBSTONE_TABLE}", table_url.trim_end_matches('/'))
}

/// `schema` with every column nullable (rows read back from files).
fn loose(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

fn missing_column(url: &str, column: &str) -> LakeError {
    LakeError::SchemaMismatch {
        table: url.to_owned(),
        detail: format!("a data file has no column {column:?}"),
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros()
        .try_into()
        .unwrap_or(i64::MAX)
}

/// The upserts of a batch that share their key and version with another
/// upsert of it, ascending: the changes whose fingerprints settle which
/// wins. (A delete's fingerprint is always 0.)
fn in_batch_ties(keys: &[Box<[u8]>], versions: &[Version], ops: &[ChangeOp]) -> Vec<u32> {
    let mut first: HashMap<(&[u8], &Version), u32> = HashMap::with_capacity(keys.len());
    let mut tied = Vec::new();
    for (i, ((key, version), op)) in keys.iter().zip(versions).zip(ops).enumerate() {
        if op.is_delete() {
            continue;
        }
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        match first.entry((key, version)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                tied.push(*o.get());
                tied.push(i);
            }
        }
    }
    tied.sort_unstable();
    tied.dedup();
    tied
}
