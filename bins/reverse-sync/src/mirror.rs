//! The optional current-state mirror of a captured table: its rows as they
//! are now, kept by the merge engine from the change history.

use std::sync::Arc;

use caresync_cdc::Lsn;
use caresync_cdc::catalog::SourceTable;
use caresync_cdc::history::{LSN, history_schema};
use caresync_cdc::reconstruct::{AsOf, OP, latest, reconstruct};
use caresync_lake::{CommitOutcome, LakeTable, MergeSpec, TableSpec, WriteOptions};
use deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::compute::{concat_batches, filter_record_batch};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::config::Config;
use crate::driver::ReverseError;

/// The mirror's definition: `_lsn` first (columns a schema change adds go
/// at the end), then the data columns; keyed like the source.
pub(crate) fn mirror_spec(
    config: &Config,
    source: &SourceTable,
) -> (TableSpec, String, Vec<String>) {
    let history = history_schema(&source.columns);
    let mut fields = vec![Field::new(LSN, DataType::Int64, false)];
    for field in history.fields().iter().take(source.columns.len()) {
        fields.push(field.as_ref().clone());
    }
    let key: Vec<String> = source.row_key().into_iter().map(str::to_owned).collect();
    let spec = TableSpec::new(
        format!("{}__current", source.name),
        Arc::new(Schema::new(fields)),
    )
    .with_property(caresync_lake::PRIMARY_KEY_PROPERTY, key.join(","))
    .with_storage_options(config.storage_options.clone());
    (spec, config.mirror_url(&source.name), key)
}

fn rebuild_rows(
    batches: &[RecordBatch],
    key: &[String],
    at: Lsn,
) -> Result<RecordBatch, ReverseError> {
    let key: Vec<&str> = key.iter().map(String::as_str).collect();
    reconstruct(batches, &key, AsOf::Lsn(at)).map_err(|e| ReverseError::Config(e.to_string()))
}

fn fold(
    batches: &[RecordBatch],
    key: &[String],
    base: Option<&RecordBatch>,
) -> Result<caresync_cdc::reconstruct::Latest, ReverseError> {
    let key: Vec<&str> = key.iter().map(String::as_str).collect();
    latest(batches, &key, base).map_err(|e| ReverseError::Config(e.to_string()))
}

/// A table's current rows at `{lake}/{schema}.{table}__current`: `_lsn`,
/// the commit LSN of each row's last change (the merge engine's version),
/// then its data columns.
pub(crate) struct Mirror {
    table: LakeTable,
    key: Vec<String>,
    /// Every change committed at or before this is in the mirror.
    pub(crate) applied: Option<Lsn>,
}

impl Mirror {
    pub(crate) async fn open(
        spec: TableSpec,
        url: String,
        key: Vec<String>,
        app_id: String,
    ) -> Result<Self, ReverseError> {
        let table = LakeTable::open_or_create(&url, &spec).await?;
        let applied = table
            .last_txn_version(&app_id)
            .await?
            .and_then(Lsn::from_i64);
        Ok(Mirror {
            table,
            key,
            applied,
        })
    }

    /// Replaces the mirror's rows with the table as of `at`, rebuilt from
    /// its whole history: the first time, after a schema change, or when a
    /// crash left the mirror behind its history.
    pub(crate) async fn rebuild(
        &mut self,
        history: &LakeTable,
        at: Lsn,
        app_id: &str,
    ) -> Result<(), ReverseError> {
        let batches = history.read_all().await?;
        let rows = if batches.is_empty() {
            None
        } else {
            Some(rebuild_rows(&batches, &self.key, at)?)
        };
        let batch = match rows {
            Some(rows) => {
                // Below every later change's commit LSN (which may equal
                // `at`, the end of the last commit held), and at or above
                // those of the rows rebuilt.
                let version = at.as_i64().saturating_sub(1);
                let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
                    std::iter::repeat_n(version, rows.num_rows()),
                ))];
                columns.extend(rows.columns().iter().cloned());
                let mut fields = vec![Field::new(LSN, DataType::Int64, false)];
                fields.extend(rows.schema().fields().iter().map(|f| f.as_ref().clone()));
                vec![
                    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| {
                        ReverseError::Config(format!("cannot build the mirror's rows: {e}"))
                    })?,
                ]
            }
            None => Vec::new(),
        };
        let outcome = self
            .table
            .write_idempotent(
                app_id,
                at.as_i64(),
                batch,
                WriteOptions::overwrite().add_columns(true),
            )
            .await?;
        if let CommitOutcome::AlreadyApplied { last_txn_version } = outcome
            && last_txn_version > at.as_i64()
        {
            // The mirror records a later position than its history holds
            // (the history was restored or replaced): it cannot be trusted.
            return Err(ReverseError::Config(format!(
                "the mirror {} records position {} beyond its history's {at}; remove it to rebuild it",
                self.table.url(),
                Lsn::from_i64(last_txn_version).unwrap_or_default()
            )));
        }
        self.applied = Some(at);
        tracing::info!(url = self.table.url(), at = %at, "mirror rebuilt from the history");
        Ok(())
    }

    /// Applies one flush's change-history batches (already in the history,
    /// up to `version`) through the merge engine.
    pub(crate) async fn apply(
        &mut self,
        batches: &[RecordBatch],
        version: Lsn,
        app_id: &str,
        history: &LakeTable,
    ) -> Result<(), ReverseError> {
        if self.applied.is_some_and(|a| a >= version) {
            return Ok(());
        }
        let mut folded = fold(batches, &self.key, None)?;
        if folded.incomplete > 0 {
            // An update omitted a value no earlier change of this flush
            // carried: take it from the mirror's current rows.
            let current = self.table.read_all().await?;
            if let Some(first) = current.first() {
                // The reader's schema (its string layout may differ from
                // the table's declared one).
                let base = concat_batches(&first.schema(), &current)
                    .map_err(|e| ReverseError::Config(format!("cannot read the mirror: {e}")))?;
                folded = fold(batches, &self.key, Some(&base))?;
            }
            if folded.incomplete > 0 {
                // The mirror lacks the row too (it should not): rather than
                // write the omitted values as null, take them from the
                // history.
                return self.rebuild(history, version, app_id).await;
            }
        }
        let mirror_schema: SchemaRef = self.table.schema()?;
        let new_column = folded
            .changes
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() != OP && mirror_schema.field_with_name(f.name()).is_err());
        if new_column {
            return self.rebuild(history, version, app_id).await;
        }
        if folded.truncated {
            // Everything before the truncate is gone: the rows after it
            // are the whole table.
            let ops = folded
                .changes
                .column_by_name(OP)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| ReverseError::Config("the fold lost its _op column".to_owned()))?;
            let keep = deltalake::arrow::compute::kernels::cmp::eq(
                ops,
                &StringArray::new_scalar("update"),
            )
            .map_err(|e| ReverseError::Config(e.to_string()))?;
            let rows = filter_record_batch(&folded.changes, &keep)
                .map_err(|e| ReverseError::Config(e.to_string()))?;
            // [data…, _lsn, _op] → [_lsn, data…].
            let lsn_at = rows.num_columns() - 2;
            let order: Vec<usize> = std::iter::once(lsn_at).chain(0..lsn_at).collect();
            let rows = rows
                .project(&order)
                .map_err(|e| ReverseError::Config(e.to_string()))?;
            self.table
                .write_idempotent(
                    app_id,
                    version.as_i64(),
                    vec![rows],
                    WriteOptions::overwrite(),
                )
                .await?;
        } else {
            let spec = MergeSpec::new(self.key.iter().cloned(), LSN).with_op_column(OP);
            self.table
                .merge(app_id, version.as_i64(), &[folded.changes], &spec)
                .await?;
        }
        self.applied = Some(version);
        Ok(())
    }
}
