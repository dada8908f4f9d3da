//! Point-in-time reconstruction: a table as it was, rebuilt from its change
//! history, optionally written to a Delta table of its own.

use caresync_cdc::history::TableName;
use caresync_cdc::reconstruct::{AsOf, reconstruct};
use caresync_lake::{LakeTable, TableSpec, WriteOptions};
use deltalake::arrow::array::RecordBatch;

use crate::config::Config;
use crate::driver::ReverseError;

/// The rows `table` held at `as_of`, from its change history under
/// `config.lake`, sorted by key.
///
/// # Errors
///
/// [`ReverseError::Lake`] when the history cannot be read,
/// [`ReverseError::Config`] when it lacks its key property or cannot be
/// replayed.
pub async fn rebuild(
    config: &Config,
    table: &TableName,
    as_of: AsOf,
) -> Result<RecordBatch, ReverseError> {
    let url = config.history_url(table);
    let history = LakeTable::options(&url)
        .storage_options(config.storage_options.clone())
        .open()
        .await?;
    let key = history
        .property(caresync_lake::PRIMARY_KEY_PROPERTY)?
        .ok_or_else(|| {
            ReverseError::Config(format!(
                "the history of {table} has no {} property",
                caresync_lake::PRIMARY_KEY_PROPERTY
            ))
        })?;
    let key: Vec<&str> = key.split(',').collect();
    let batches = history.read_all().await?;
    if batches.is_empty() {
        // No row was ever written: the table was empty all along.
        let schema = history.schema()?;
        let empty = RecordBatch::new_empty(schema);
        return reconstruct(&[empty], &key, as_of).map_err(|e| ReverseError::Config(e.to_string()));
    }
    reconstruct(&batches, &key, as_of).map_err(|e| ReverseError::Config(e.to_string()))
}

/// Rebuilds `table` at `as_of` and writes the rows to the Delta table at
/// `into` (created, or replaced), keyed like the source. Returns the rows
/// written.
pub async fn rebuild_into(
    config: &Config,
    table: &TableName,
    as_of: AsOf,
    into: &str,
) -> Result<usize, ReverseError> {
    let rows = rebuild(config, table, as_of).await?;
    let url = config.history_url(table);
    let history = LakeTable::options(&url)
        .storage_options(config.storage_options.clone())
        .open()
        .await?;
    let mut spec = TableSpec::new(table.to_string(), rows.schema())
        .with_storage_options(config.storage_options.clone());
    if let Some(key) = history.property(caresync_lake::PRIMARY_KEY_PROPERTY)? {
        spec = spec.with_property(caresync_lake::PRIMARY_KEY_PROPERTY, key);
    }
    let mut target = LakeTable::open_or_create(into, &spec).await?;
    let count = rows.num_rows();
    let version = target.version();
    target
        .write_idempotent(
            "caresync-reverse-sync:rebuild",
            version + 1,
            vec![rows],
            WriteOptions::overwrite(),
        )
        .await?;
    Ok(count)
}
