//! Commits: appends (plain and idempotent), deletes and updates.

use deltalake::arrow::datatypes::Schema;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::delta_datafusion::{DataFusionMixins as _, create_session};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::{DeltaOperation, SaveMode};

use crate::LakeError;
use crate::error::write_error;
use crate::merge::files::Writer;
use crate::spec::{check_batches, check_batches_adding_columns};
use crate::table::LakeTable;

/// What [`LakeTable::append_idempotent`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// The rows were committed, with the application transaction, as this
    /// table version.
    Committed {
        /// The new table version.
        version: i64,
    },
    /// The table already records this transaction version (or a later one) for
    /// the application id; nothing was written.
    AlreadyApplied {
        /// The application's last committed transaction version.
        last_txn_version: i64,
    },
}

/// What a row-level operation ([`LakeTable::delete_where`],
/// [`LakeTable::update_where`]) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mutation {
    /// The table version after the operation: a new version when rows
    /// changed, the version read when none did (no commit is made then).
    pub version: i64,
    /// Rows deleted or changed. `None` only when deltalake dropped whole files
    /// whose row counts the log does not record.
    pub rows: Option<u64>,
}

/// How [`LakeTable::write_idempotent`] commits its rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    overwrite: bool,
    add_columns: bool,
}

impl WriteOptions {
    /// Appends to the rows already there (the default).
    pub fn append() -> Self {
        WriteOptions::default()
    }

    /// Replaces every row of the table, in the same commit.
    pub fn overwrite() -> Self {
        WriteOptions {
            overwrite: true,
            add_columns: false,
        }
    }

    /// Lets the batches carry new nullable columns after the table's own;
    /// the commit adds them to the table's schema (rows written before
    /// read them as null).
    #[must_use]
    pub fn add_columns(mut self, on: bool) -> Self {
        self.add_columns = on;
        self
    }
}

/// The last `txn` version a handle committed for one application, and the
/// table version that commit made: still the application's last `txn` while
/// the handle is at that version.
#[derive(Clone, Debug)]
pub(crate) struct KnownTxn {
    app_id: String,
    at: i64,
    txn_version: i64,
}

impl LakeTable {
    /// Appends `batches` as one commit and returns the new version.
    ///
    /// Every batch must have the table's columns, in table order, with Arrow
    /// types Delta stores as the table's types, and no nulls in NOT NULL
    /// columns; all batches must share one Arrow schema. An empty `batches`
    /// commits a version with no rows.
    ///
    /// # Errors
    ///
    /// [`LakeError::SchemaMismatch`] (nothing is written), [`LakeError::Conflict`]
    /// if a concurrent commit cannot be reconciled, [`LakeError::Write`].
    pub async fn append(&mut self, batches: Vec<RecordBatch>) -> Result<i64, LakeError> {
        if self.appends_directly(&batches)? {
            return self.append_directly(&batches, None, &mut |_| {}).await;
        }
        self.write(batches, CommitProperties::default(), "append")
            .await
    }

    /// Appends `batches` at most once per (`app_id`, `txn_version`).
    ///
    /// Refreshes to the newest version and reads the last Delta application
    /// transaction (`txn` action) recorded for `app_id`. If it is at least
    /// `txn_version`, nothing is written and [`CommitOutcome::AlreadyApplied`]
    /// is returned. Otherwise the rows and a `txn` action
    /// (`app_id`, `txn_version`) are committed together, atomically. A writer
    /// that crashed after the commit but before recording success can
    /// therefore retry with the same `txn_version` safely. Two writers racing
    /// with one `app_id` cannot both commit: the loser gets `AlreadyApplied`
    /// (or [`LakeError::Conflict`] when it lost the race after reading the
    /// log, and `AlreadyApplied` on retry).
    ///
    /// Transaction versions per `app_id` are expected to increase.
    ///
    /// A handle whose last commit was this application's, with no commit
    /// after it, knows the last `txn` without reading the log: it commits
    /// straight away, and a commit by another writer with the same `app_id`
    /// meanwhile makes the commit conflict, after which the log is read as
    /// above. A long-lived writer (a stream's raw log) thus pays one commit
    /// per append.
    pub async fn append_idempotent(
        &mut self,
        app_id: &str,
        txn_version: i64,
        batches: Vec<RecordBatch>,
    ) -> Result<CommitOutcome, LakeError> {
        self.write_idempotent(app_id, txn_version, batches, WriteOptions::append())
            .await
    }

    /// As [`append_idempotent`](Self::append_idempotent), calling `durable`
    /// with the new table version as soon as the commit is durable, before
    /// the handle loads the snapshot that follows it. Loading it re-reads
    /// the log and takes longer than the commit on a table with a long log:
    /// a writer that answers its senders in `durable` answers them sooner.
    /// `durable` is not called when nothing was written (`AlreadyApplied`),
    /// and may have been called when the load then fails.
    ///
    /// # Errors
    ///
    /// As [`append_idempotent`](Self::append_idempotent).
    pub async fn append_idempotent_notifying(
        &mut self,
        app_id: &str,
        txn_version: i64,
        batches: Vec<RecordBatch>,
        mut durable: impl FnMut(i64),
    ) -> Result<CommitOutcome, LakeError> {
        if self.appends_directly(&batches)? {
            return self
                .append_idempotent_directly(app_id, txn_version, &batches, &mut durable)
                .await;
        }
        let outcome = self
            .write_idempotent(app_id, txn_version, batches, WriteOptions::append())
            .await?;
        if let CommitOutcome::Committed { version } = outcome {
            durable(version);
        }
        Ok(outcome)
    }

    /// As [`append_idempotent`](Self::append_idempotent), with the choice
    /// to replace the table's rows or to add the batches' new columns.
    pub async fn write_idempotent(
        &mut self,
        app_id: &str,
        txn_version: i64,
        batches: Vec<RecordBatch>,
        options: WriteOptions,
    ) -> Result<CommitOutcome, LakeError> {
        if options == WriteOptions::append() && self.appends_directly(&batches)? {
            return self
                .append_idempotent_directly(app_id, txn_version, &batches, &mut |_| {})
                .await;
        }
        self.known_txn = None;
        self.refresh().await?;
        if let Some(last_txn_version) = self.last_txn_version(app_id).await?
            && last_txn_version >= txn_version
        {
            tracing::debug!(
                url = %self.location.display,
                app_id,
                txn_version,
                last_txn_version,
                "append already applied"
            );
            return Ok(CommitOutcome::AlreadyApplied { last_txn_version });
        }
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new(app_id, txn_version));
        let version = self
            .write_with(batches, properties, "idempotent write", options)
            .await?;
        Ok(CommitOutcome::Committed { version })
    }

    async fn append_idempotent_directly(
        &mut self,
        app_id: &str,
        txn_version: i64,
        batches: &[RecordBatch],
        durable: &mut impl FnMut(i64),
    ) -> Result<CommitOutcome, LakeError> {
        let known = self
            .known_txn
            .take()
            .filter(|k| k.app_id == app_id && k.at == self.version());
        let mut fresh = known.is_none();
        let mut last = match known {
            Some(k) => Some(k.txn_version),
            None => {
                self.refresh().await?;
                self.last_txn_version(app_id).await?
            }
        };
        loop {
            if let Some(last_txn_version) = last
                && last_txn_version >= txn_version
            {
                return Ok(CommitOutcome::AlreadyApplied { last_txn_version });
            }
            let txn = Transaction::new(app_id, txn_version);
            match self.append_directly(batches, Some(txn), durable).await {
                Ok(version) => {
                    self.known_txn = Some(KnownTxn {
                        app_id: app_id.to_owned(),
                        at: version,
                        txn_version,
                    });
                    return Ok(CommitOutcome::Committed { version });
                }
                // Another writer committed for this application since the
                // handle last looked: read what it recorded.
                Err(LakeError::Conflict { .. }) if !fresh => {
                    fresh = true;
                    self.refresh().await?;
                    last = self.last_txn_version(app_id).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether [`append_directly`](Self::append_directly) can write
    /// `batches`: rows to write, and a table with nothing an append must
    /// compute or enforce beyond its column types (no partitioning, CHECK
    /// constraints, invariants, generated or identity columns, column
    /// mapping).
    pub(crate) fn appends_directly(&self, batches: &[RecordBatch]) -> Result<bool, LakeError> {
        if batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(false);
        }
        let snapshot = self.snapshot()?;
        let metadata = snapshot.metadata();
        if !metadata.partition_columns().is_empty() {
            return Ok(false);
        }
        let config = metadata.configuration();
        if config.keys().any(|k| k.starts_with("delta.constraints."))
            || config
                .get("delta.columnMapping.mode")
                .is_some_and(|m| m != "none")
        {
            return Ok(false);
        }
        let schema = snapshot.schema();
        Ok(!schema.fields().any(|f| {
            f.metadata().keys().any(|k| {
                k.starts_with("delta.generationExpression")
                    || k.starts_with("delta.invariants")
                    || k.starts_with("delta.identity")
            })
        }))
    }

    /// Appends `batches` (and `txn`) as one commit of the data files this
    /// crate writes, without planning a DataFusion write; calls `durable`
    /// once the commit is, then loads the new snapshot and returns its
    /// version. Only for tables [`appends_directly`](Self::appends_directly)
    /// accepts.
    async fn append_directly(
        &mut self,
        batches: &[RecordBatch],
        txn: Option<Transaction>,
        durable: &mut impl FnMut(i64),
    ) -> Result<i64, LakeError> {
        let adds = self.write_files(batches).await?;
        self.commit_adds(adds, txn, durable).await
    }

    /// Checks `batches` against the loaded schema and writes them as data
    /// files, not yet in any commit.
    pub(crate) async fn write_files(&self, batches: &[RecordBatch]) -> Result<Vec<Add>, LakeError> {
        let snapshot = self.snapshot()?;
        check_batches(&snapshot.schema(), batches, &self.location.display)?;
        let writer = Writer::new(self.table.object_store(), self.schema()?, snapshot);
        writer
            .data(batches)
            .await
            .map_err(|e| write_error(&self.location.display, "append", Some(self.version()), e))
    }

    /// Commits `adds` (and `txn`) on top of the loaded snapshot as an
    /// append, with deltalake's conflict checks; calls `durable` once the
    /// commit is, then loads the new snapshot and returns its version.
    async fn commit_adds(
        &mut self,
        adds: Vec<Add>,
        txn: Option<Transaction>,
        durable: &mut impl FnMut(i64),
    ) -> Result<i64, LakeError> {
        let url = self.location.display.clone();
        let read_version = self.version();
        let snapshot = self.snapshot()?;
        let failed = |e| write_error(&url, "append", Some(read_version), e);
        // Expired log files are cleaned up with checkpoints (every
        // `delta.checkpointInterval` commits), not by listing the log after
        // every append.
        let checkpoint = checkpoint_due(snapshot, read_version + 1);
        let mut properties =
            CommitProperties::default().with_cleanup_expired_logs((!checkpoint).then_some(false));
        if let Some(txn) = txn {
            properties = properties.with_application_transaction(txn);
        }
        let post = CommitBuilder::from(properties)
            .with_actions(adds.into_iter().map(Action::Add).collect())
            .build(Some(snapshot), self.table.log_store(), append_operation())
            .into_prepared_commit_future()
            .await
            .map_err(failed)?
            .await
            .map_err(failed)?;
        durable(i64::try_from(post.version).unwrap_or(i64::MAX));
        let done = post.await.map_err(failed)?;
        self.table.state = Some(done.snapshot());
        Ok(self.version())
    }

    /// The last transaction version committed for `app_id` as of the loaded
    /// snapshot (call [`refresh`](Self::refresh) first for the newest), or
    /// `None` if the application never committed.
    pub async fn last_txn_version(&self, app_id: &str) -> Result<Option<i64>, LakeError> {
        let log_store = self.table.log_store();
        self.snapshot()?
            .transaction_version(log_store.as_ref(), app_id)
            .await
            .map_err(|source| LakeError::Log {
                url: self.location.display.clone(),
                source: Box::new(source),
            })
    }

    async fn write(
        &mut self,
        batches: Vec<RecordBatch>,
        properties: CommitProperties,
        operation: &'static str,
    ) -> Result<i64, LakeError> {
        self.write_with(batches, properties, operation, WriteOptions::append())
            .await
    }

    async fn write_with(
        &mut self,
        batches: Vec<RecordBatch>,
        properties: CommitProperties,
        operation: &'static str,
        options: WriteOptions,
    ) -> Result<i64, LakeError> {
        let read_version = self.version();
        let table_schema = self.snapshot()?.schema();
        if options.add_columns {
            check_batches_adding_columns(&table_schema, &batches, &self.location.display)?;
        } else {
            check_batches(&table_schema, &batches, &self.location.display)?;
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let batches = if batches.is_empty() {
            // deltalake needs at least one batch to plan the write.
            vec![RecordBatch::new_empty(self.schema()?)]
        } else {
            batches
        };
        let mut builder = self
            .table
            .clone()
            .write(batches)
            .with_save_mode(if options.overwrite {
                SaveMode::Overwrite
            } else {
                SaveMode::Append
            })
            .with_commit_properties(properties);
        if options.add_columns {
            builder = builder.with_schema_mode(SchemaMode::Merge);
        }
        let table = builder.await.map_err(|source| {
            write_error(
                &self.location.display,
                operation,
                Some(read_version),
                source,
            )
        })?;
        self.table = table;
        let version = self.version();
        tracing::debug!(url = %self.location.display, operation, rows, version, "committed");
        Ok(version)
    }

    /// Rolls the table back to the rows of an earlier `version`, as a new
    /// commit (history is kept: the versions in between stay readable by
    /// time travel), and returns the new version. Restoring the current
    /// version changes nothing and returns it.
    ///
    /// What is not rolled back: application transactions (`txn`) recorded
    /// after `version` stay recorded, so a replay of a batch applied after
    /// it is still skipped (re-apply under a new sequence); tombstones of
    /// merges stay in force. The change data feed shows the restore as the
    /// rows of the removed files deleted and those of the restored files
    /// inserted.
    ///
    /// # Errors
    ///
    /// [`LakeError::VersionNotFound`] for a version the table does not
    /// have, [`LakeError::Conflict`] if another writer committed meanwhile,
    /// [`LakeError::Write`] (for example when the files of `version` were
    /// vacuumed).
    pub async fn restore(&mut self, version: i64) -> Result<i64, LakeError> {
        const OPERATION: &str = "restore";
        let current = self.refresh().await?;
        if version == current {
            return Ok(current);
        }
        let target = u64::try_from(version)
            .ok()
            .filter(|_| version < current)
            .ok_or_else(|| LakeError::VersionNotFound {
                url: self.location.display.clone(),
                version,
                latest: current,
            })?;
        let (table, metrics) = self
            .table
            .clone()
            .restore()
            .with_version_to_restore(target)
            .await
            .map_err(|source| {
                write_error(&self.location.display, OPERATION, Some(current), source)
            })?;
        self.table = table;
        tracing::info!(
            url = %self.location.display,
            restored = version,
            version = self.version(),
            files_removed = metrics.num_removed_file,
            files_restored = metrics.num_restored_file,
            "restored"
        );
        Ok(self.version())
    }

    /// Deletes the rows matching the SQL `predicate` (e.g. `"id = 3"`) as one
    /// commit. With the change data feed on, the deleted rows appear in
    /// [`changes`](Self::changes) as `delete`.
    ///
    /// # Errors
    ///
    /// [`LakeError::InvalidExpression`] if the predicate does not parse against
    /// the table, [`LakeError::Conflict`], [`LakeError::Write`].
    pub async fn delete_where(&mut self, predicate: &str) -> Result<Mutation, LakeError> {
        const OPERATION: &str = "delete";
        self.check_expression(OPERATION, "predicate".to_owned(), predicate)?;
        let read_version = self.version();
        let (table, metrics) = self
            .table
            .clone()
            .delete()
            .with_predicate(predicate)
            .await
            .map_err(|source| {
                write_error(
                    &self.location.display,
                    OPERATION,
                    Some(read_version),
                    source,
                )
            })?;
        self.table = table;
        let rows = metrics.num_deleted_rows.map(|n| n as u64);
        Ok(Mutation {
            version: self.version(),
            rows,
        })
    }

    /// Sets columns on the rows matching the SQL `predicate`, as one commit.
    /// `assignments` pairs a column name with a SQL expression over the row
    /// (`("status", "'closed'")`, `("visits", "visits + 1")`). With the change
    /// data feed on, each updated row appears in [`changes`](Self::changes)
    /// as an `update_preimage` and an `update_postimage`.
    ///
    /// Only rows the assignments would change are updated: a matching row
    /// whose every assigned column already holds its new value (the value
    /// cast to the column's type, compared with `IS DISTINCT FROM`, so NULL
    /// equals NULL) is left alone and not counted in [`Mutation::rows`]. When
    /// no row changes, nothing is committed.
    /// (deltalake 1.1.3 would otherwise rewrite the files of such rows and,
    /// having no change to record, write no change-data file, so the change
    /// feed would show every row of those files as `delete` + `insert`.)
    ///
    /// # Errors
    ///
    /// [`LakeError::UnknownColumn`] for an assignment to a column the table
    /// lacks, [`LakeError::InvalidExpression`], [`LakeError::Conflict`],
    /// [`LakeError::Write`].
    pub async fn update_where(
        &mut self,
        predicate: &str,
        assignments: &[(&str, &str)],
    ) -> Result<Mutation, LakeError> {
        const OPERATION: &str = "update";
        self.check_expression(OPERATION, "predicate".to_owned(), predicate)?;
        let schema = self.snapshot()?.schema();
        for (column, expression) in assignments {
            if schema.field(column).is_none() {
                return Err(LakeError::UnknownColumn {
                    url: self.location.display.clone(),
                    column: (*column).to_owned(),
                });
            }
            self.check_expression(
                OPERATION,
                format!("assignment to column {column:?}"),
                expression,
            )?;
        }
        let read_version = self.version();
        if assignments.is_empty() {
            return Ok(Mutation {
                version: read_version,
                rows: Some(0),
            });
        }
        let predicate = only_changing_rows(predicate, assignments, self.schema()?.as_ref())
            .map_err(|column| LakeError::UnknownColumn {
                url: self.location.display.clone(),
                column,
            })?;
        let mut builder = self.table.clone().update().with_predicate(predicate);
        for (column, expression) in assignments {
            builder = builder.with_update(*column, *expression);
        }
        let (table, metrics) = builder.await.map_err(|source| {
            write_error(
                &self.location.display,
                OPERATION,
                Some(read_version),
                source,
            )
        })?;
        self.table = table;
        Ok(Mutation {
            version: self.version(),
            rows: Some(metrics.num_updated_rows as u64),
        })
    }

    /// Parses `expression` against the table's columns, so that a bad
    /// predicate is reported as such and not as a failed write.
    fn check_expression(
        &self,
        operation: &'static str,
        what: String,
        expression: &str,
    ) -> Result<(), LakeError> {
        let session = create_session().state();
        self.snapshot()?
            .snapshot()
            .parse_predicate_expression(expression, &session)
            .map(|_| ())
            .map_err(|source| LakeError::InvalidExpression {
                url: self.location.display.clone(),
                operation,
                what,
                source: Box::new(source),
            })
    }
}

/// `predicate` narrowed to the rows that `assignments` change:
/// `(predicate) AND (("c1" IS DISTINCT FROM arrow_cast((e1), 'type of c1')) OR ...)`.
///
/// deltalake derives an UPDATE's change data as (rows read) EXCEPT ALL (rows
/// written). If every matched row keeps its values, that difference is empty,
/// no change-data file is written, and readers of the change feed fall back
/// to the commit's add and remove actions: every row of each rewritten file
/// would show as deleted and inserted.
///
/// Each new value is cast to its column's type, as deltalake does before
/// writing it, so the comparison is between values of one type (deltalake's
/// file skipping does not coerce). Every term is parenthesized: the SQL parser
/// reads the right-hand side of `IS DISTINCT FROM` as a whole expression,
/// `OR` included.
fn only_changing_rows(
    predicate: &str,
    assignments: &[(&str, &str)],
    schema: &Schema,
) -> Result<String, String> {
    let mut changes = Vec::with_capacity(assignments.len());
    for (column, expression) in assignments {
        let field = schema
            .field_with_name(column)
            .map_err(|_| (*column).to_owned())?;
        changes.push(format!(
            "(\"{}\" IS DISTINCT FROM arrow_cast(({expression}), '{}'))",
            column.replace('"', "\"\""),
            field.data_type().to_string().replace('\'', "''"),
        ));
    }
    Ok(format!("({predicate}) AND ({})", changes.join(" OR ")))
}

/// The operation an append records in its commit.
pub(crate) fn append_operation() -> DeltaOperation {
    DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: None,
        predicate: None,
    }
}

/// Whether deltalake writes a checkpoint after committing `version` of
/// the table `snapshot` belongs to: every `delta.checkpointInterval`
/// versions, counting version 0 as the first.
pub(crate) fn checkpoint_due(
    snapshot: &deltalake::table::state::DeltaTableState,
    version: i64,
) -> bool {
    use deltalake::table::config::TablePropertiesExt as _;
    let interval = snapshot.table_config().checkpoint_interval().get();
    (version + 1).unsigned_abs().is_multiple_of(interval)
}
