//! A long-lived writer's idempotent appends, one commit each, without
//! loading a snapshot after every commit.
//!
//! [`LakeTable::append_idempotent`] leaves its handle at the version it
//! wrote: deltalake loads the snapshot that follows each commit, and that
//! load replays the table's whole file list. On a table that gets a file
//! per commit (a stream's raw log), each commit therefore costs more than
//! the one before: in a release build, ~4 ms after 25 commits and ~45 ms
//! after 400 (`docs/performance.md`).
//!
//! An [`Appender`] is for the one writer of an application id that appends
//! and does not read. After its first commit it knows the version it made
//! and the `txn` it recorded. Each next commit is then written straight to
//! the next log version with put-if-absent, as deltalake's commit does, and
//! nothing is loaded:
//!
//! - If that version already exists, another writer committed in between.
//!   The appender loads the table and takes the ordinary path
//!   ([`LakeTable::append_idempotent_notifying`]), which reads the `txn` the
//!   other writer may have recorded and checks for conflicts. The data files
//!   written for the lost attempt are left unreferenced, as after any lost
//!   Delta commit (`VACUUM` removes them).
//! - Every `delta.checkpointInterval` versions (as deltalake's own commit
//!   hook does), a background task brings a copy of the table's snapshot up
//!   to that version, writes the checkpoint and cleans up expired log files.
//!   Appends go on meanwhile; the appender keeps the copy once it is done.
//!
//! Appends that deltalake alone can write (partitioned tables, constraints,
//! generated columns and the rest that [`LakeTable::append_idempotent`]
//! hands to a DataFusion write), empty appends and stores whose commits need
//! a lock (a `TmpCommit` log store) always take the ordinary path.

use std::collections::HashMap;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::transaction::{CommitData, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::logstore::CommitOrBytes;
use deltalake::table::config::TablePropertiesExt as _;
use deltalake::{DeltaTable, DeltaTableError};
use futures::FutureExt;
use tokio::task::JoinHandle;

use crate::LakeError;
use crate::error::write_error;
use crate::table::{LakeTable, to_i64};
use crate::write::{CommitOutcome, append_operation, checkpoint_due};

/// The log stores whose commits are a put-if-absent of the commit's bytes
/// (deltalake commits through a temporary file and a lock elsewhere).
const PUT_IF_ABSENT_STORES: &[&str] = &["DefaultLogStore"];

/// One application's appends to one table, each committed at most once per
/// `txn` version. Made by [`LakeTable::appender`]; see the module docs.
pub struct Appender {
    table: LakeTable,
    app_id: String,
    /// The version this appender last committed and the `txn` version it
    /// recorded, while it has seen no other writer commit after it.
    head: Option<Head>,
    /// The checkpoint being written, yielding the snapshot it loaded.
    checkpoint: Option<JoinHandle<Result<DeltaTable, DeltaTableError>>>,
}

#[derive(Clone, Copy, Debug)]
struct Head {
    version: i64,
    txn_version: i64,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("url", &self.table.url())
            .field("app_id", &self.app_id)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl LakeTable {
    /// This handle as the appender of application `app_id` (see
    /// [`Appender`]).
    pub fn appender(self, app_id: impl Into<String>) -> Appender {
        Appender {
            table: self,
            app_id: app_id.into(),
            head: None,
            checkpoint: None,
        }
    }
}

impl Appender {
    /// The table location, without credentials.
    pub fn url(&self) -> &str {
        self.table.url()
    }

    /// The newest version this appender knows of: the one it last
    /// committed, or the one it last loaded.
    pub fn version(&self) -> i64 {
        self.head
            .map_or_else(|| self.table.version(), |h| h.version)
    }

    /// The last `txn` version committed for the application: the one this
    /// appender last committed, or else the newest version's (read from the
    /// log).
    pub async fn last_txn_version(&mut self) -> Result<Option<i64>, LakeError> {
        if let Some(head) = self.head {
            return Ok(Some(head.txn_version));
        }
        self.table.refresh().await?;
        self.table.last_txn_version(&self.app_id).await
    }

    /// Appends `batches` with `txn` version `txn_version` unless the
    /// application already recorded it (or a later one), as
    /// [`LakeTable::append_idempotent_notifying`]: `durable` is called with
    /// the new version as soon as the commit is durable.
    ///
    /// # Errors
    ///
    /// As [`LakeTable::append_idempotent`]. After an error the appender
    /// reads the log again before its next commit.
    pub async fn append_notifying(
        &mut self,
        txn_version: i64,
        batches: Vec<RecordBatch>,
        mut durable: impl FnMut(i64),
    ) -> Result<CommitOutcome, LakeError> {
        self.take_finished_checkpoint();
        let head = self.head.take();
        let result = match head {
            Some(head) if head.txn_version >= txn_version => {
                self.head = Some(head);
                return Ok(CommitOutcome::AlreadyApplied {
                    last_txn_version: head.txn_version,
                });
            }
            Some(head) if self.commits_directly(&batches)? => {
                self.append_after(head, txn_version, batches, &mut durable)
                    .await
            }
            _ => {
                self.append_reading_log(txn_version, batches, &mut durable)
                    .await
            }
        };
        if let Ok(CommitOutcome::Committed { version }) = result {
            self.head = Some(Head {
                version,
                txn_version,
            });
        }
        result
    }

    /// Waits for the checkpoint being written in the background, if one is.
    /// A writer that stops calls this before its runtime shuts down:
    /// deltalake's log reads fail (and report a panic) when their runtime
    /// goes away under them.
    pub async fn wait_for_checkpoint(&mut self) {
        if let Some(task) = self.checkpoint.take() {
            self.keep_checkpointed(task.await);
        }
    }

    /// Waits for the checkpoint being written, then loads the newest version
    /// and returns the table handle.
    ///
    /// # Errors
    ///
    /// [`LakeError::Log`] if the log cannot be read.
    pub async fn into_table(mut self) -> Result<LakeTable, LakeError> {
        self.wait_for_checkpoint().await;
        self.table.refresh().await?;
        Ok(self.table)
    }

    /// Whether the next commit can be written straight to the log (see the
    /// module docs).
    fn commits_directly(&self, batches: &[RecordBatch]) -> Result<bool, LakeError> {
        let store = self.table.table.log_store().name();
        Ok(PUT_IF_ABSENT_STORES.contains(&store.as_str())
            && self.table.appends_directly(batches)?)
    }

    /// Commits `batches` as the version after `head`, which this appender
    /// made; falls back to reading the log if another writer took it.
    async fn append_after(
        &mut self,
        head: Head,
        txn_version: i64,
        batches: Vec<RecordBatch>,
        durable: &mut impl FnMut(i64),
    ) -> Result<CommitOutcome, LakeError> {
        let adds = self.table.write_files(&batches).await?;
        let version = head.version + 1;
        let commit = CommitData::new(
            adds.into_iter().map(Action::Add).collect(),
            append_operation(),
            HashMap::new(),
            vec![Transaction::new(&self.app_id, txn_version)],
        );
        let failed = |e: TransactionError| {
            write_error(
                self.table.url(),
                "append",
                Some(head.version),
                DeltaTableError::from(e),
            )
        };
        let bytes = commit.get_bytes().map_err(failed)?;
        let written = self
            .table
            .table
            .log_store()
            .write_commit_entry(
                version.unsigned_abs(),
                CommitOrBytes::LogBytes(bytes),
                uuid::Uuid::new_v4(),
            )
            .await;
        match written {
            Ok(()) => {
                durable(version);
                // The handle's own record of its last `txn` is as old as its
                // snapshot now.
                self.table.known_txn = None;
                self.start_checkpoint(version);
                Ok(CommitOutcome::Committed { version })
            }
            Err(TransactionError::VersionAlreadyExists(_)) => {
                tracing::debug!(
                    url = %self.table.url(),
                    version,
                    "another writer committed; reading the log"
                );
                self.append_reading_log(txn_version, batches, durable).await
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// The ordinary path: loads the newest version, reads the application's
    /// last `txn` and commits with deltalake's conflict checks.
    async fn append_reading_log(
        &mut self,
        txn_version: i64,
        batches: Vec<RecordBatch>,
        durable: &mut impl FnMut(i64),
    ) -> Result<CommitOutcome, LakeError> {
        self.table
            .append_idempotent_notifying(&self.app_id, txn_version, batches, durable)
            .await
    }

    /// Starts writing a checkpoint of `version` in the background when one
    /// is due and none is being written.
    fn start_checkpoint(&mut self, version: i64) {
        let Ok(snapshot) = self.table.snapshot() else {
            return;
        };
        if self.checkpoint.is_some() || !checkpoint_due(snapshot, version) {
            return;
        }
        let mut table = self.table.table.clone();
        self.checkpoint = Some(tokio::spawn(async move {
            table
                .update_incremental(Some(version.unsigned_abs()))
                .await?;
            deltalake::checkpoints::create_checkpoint(&table, None).await?;
            if table
                .snapshot()?
                .table_config()
                .enable_expired_log_cleanup()
            {
                let removed = deltalake::checkpoints::cleanup_metadata(&table, None).await?;
                if removed > 0 {
                    // The loaded snapshot lists log files that are gone.
                    table.state = None;
                    table
                        .update_incremental(Some(version.unsigned_abs()))
                        .await?;
                }
            }
            Ok(table)
        }));
    }

    /// Keeps the snapshot of a checkpoint written in the background, if one
    /// has finished.
    fn take_finished_checkpoint(&mut self) {
        if !self
            .checkpoint
            .as_ref()
            .is_some_and(JoinHandle::is_finished)
        {
            return;
        }
        if let Some(done) = self.checkpoint.take().and_then(FutureExt::now_or_never) {
            self.keep_checkpointed(done);
        }
    }

    fn keep_checkpointed(
        &mut self,
        done: Result<Result<DeltaTable, DeltaTableError>, tokio::task::JoinError>,
    ) {
        match done {
            Ok(Ok(table)) => {
                let newer = table.version().map(to_i64) > self.table.table.version().map(to_i64);
                if newer {
                    self.table.table = table;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(url = %self.table.url(), error = %e, "checkpoint failed; the next one due covers it");
            }
            Err(e) => {
                tracing::warn!(url = %self.table.url(), error = %e, "checkpoint task failed");
            }
        }
    }
}
