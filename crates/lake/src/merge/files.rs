//! Data files of a merge: their key statistics, reading them, writing new
//! ones and change-data files.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use deltalake::arrow::compute::concat_batches;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::{Add, AddCDCFile, LogicalFileView};
use deltalake::logstore::ObjectStoreRef;
use deltalake::logstore::object_store::prefix::PrefixStore;
use deltalake::logstore::parquet_reader::ParquetObjectReader;
use deltalake::operations::write::WriterStatsConfig;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection,
};
use deltalake::parquet::arrow::async_reader::{
    ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::table::state::DeltaTableState;
use deltalake::{DeltaResult, DeltaTableError};
use futures::TryStreamExt as _;

use crate::CHANGE_TYPE_COLUMN;

/// The folder of change-data files under the table root.
const CHANGE_DATA: &str = "_change_data";

/// The smallest and greatest value of a file's column, from the statistics
/// Delta keeps per file, as one-row arrays of the column's type; `None` when
/// the file has no usable statistics for it (such a file is always read).
pub(crate) fn min_max(view: &LogicalFileView, column: &str, t: &DataType) -> Option<[ArrayRef; 2]> {
    let stats: serde_json::Value = serde_json::from_str(&view.stats()?).ok()?;
    let one = |side: &str| -> Option<ArrayRef> {
        let v = stats.get(side)?.get(column)?;
        Some(match t {
            DataType::Int64 => Arc::new(Int64Array::from(vec![v.as_i64()?])),
            DataType::Int32 => Arc::new(Int32Array::from(vec![i32::try_from(v.as_i64()?).ok()?])),
            // Parquet truncates long string statistics: a truncated minimum
            // is still a lower bound, a truncated maximum is not an upper
            // one, so only exact (short) bounds are used.
            DataType::Utf8 => {
                let s = v.as_str()?;
                if side == "maxValues" && s.len() >= 32 {
                    return None;
                }
                Arc::new(StringArray::from(vec![s]))
            }
            _ => return None,
        })
    };
    Some([one("minValues")?, one("maxValues")?])
}

/// Reads a data file, all columns or only `columns`.
pub(crate) async fn read(
    store: ObjectStoreRef,
    view: &LogicalFileView,
    columns: Option<&[&str]>,
) -> DeltaResult<Vec<RecordBatch>> {
    let file = DataFile::open(store, view).await?;
    Ok(file
        .builder(columns)
        .with_batch_size(64 * 1024)
        .build()?
        .try_collect()
        .await?)
}

/// A data file with its footer read: every read of it after the first
/// reuses the footer.
pub(crate) struct DataFile {
    reader: ParquetObjectReader,
    metadata: ArrowReaderMetadata,
}

impl DataFile {
    pub(crate) async fn open(store: ObjectStoreRef, view: &LogicalFileView) -> DeltaResult<Self> {
        let size = u64::try_from(view.size()).unwrap_or(0);
        let mut reader =
            ParquetObjectReader::new(store, view.object_store_path()).with_file_size(size);
        let metadata =
            ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()).await?;
        Ok(DataFile { reader, metadata })
    }

    /// A reader of every column or only `columns`.
    fn builder(
        &self,
        columns: Option<&[&str]>,
    ) -> ParquetRecordBatchStreamBuilder<ParquetObjectReader> {
        let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(
            self.reader.clone(),
            self.metadata.clone(),
        );
        match columns {
            Some(columns) => builder.with_projection(ProjectionMask::columns(
                self.metadata.parquet_schema(),
                columns.iter().copied(),
            )),
            None => builder,
        }
    }

    /// The batches of every column or only `columns`, as they are decoded
    /// (8,192 rows each, so that little is held at once).
    pub(crate) fn stream(
        &self,
        columns: Option<&[&str]>,
    ) -> DeltaResult<ParquetRecordBatchStream<ParquetObjectReader>> {
        Ok(self.builder(columns).with_batch_size(8 * 1024).build()?)
    }

    /// Rows `rows` (positions in the file, ascending, no repeats), every
    /// column or only `columns`, as one batch. The values of the other rows
    /// are skipped, not decoded.
    pub(crate) async fn rows(
        &self,
        columns: Option<&[&str]>,
        rows: &[u64],
    ) -> DeltaResult<RecordBatch> {
        let total =
            usize::try_from(self.metadata.metadata().file_metadata().num_rows()).unwrap_or(0);
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for &row in rows {
            let row = usize::try_from(row).unwrap_or(usize::MAX);
            if row >= total {
                return Err(DeltaTableError::Generic(format!(
                    "row {row} of a data file of {total} rows"
                )));
            }
            match ranges.last_mut() {
                Some(last) if last.end == row => last.end += 1,
                Some(last) if last.end > row => {
                    return Err(DeltaTableError::Generic(
                        "rows to read must be ascending, without repeats".to_owned(),
                    ));
                }
                _ => ranges.push(row..row + 1),
            }
        }
        let selection = RowSelection::from_consecutive_ranges(ranges.into_iter(), total);
        let stream = self
            .builder(columns)
            .with_batch_size(rows.len().max(1))
            .with_row_selection(selection)
            .build()?;
        // The stream's schema is the projected one (the builder's is the
        // file's).
        let schema = stream.schema().clone();
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        Ok(concat_batches(&schema, &batches)?)
    }
}

/// Column `name` of `batch` as `data_type` (cast when the file or scan
/// gave another type, such as string views).
pub(crate) fn column_as(
    batch: &RecordBatch,
    name: &str,
    data_type: &DataType,
) -> DeltaResult<ArrayRef> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| DeltaTableError::Generic(format!("a data file has no column {name:?}")))?;
    Ok(if c.data_type() == data_type {
        c.clone()
    } else {
        deltalake::arrow::compute::cast(c, data_type)?
    })
}

/// `batch`'s columns under `schema` (the writer's exact schema: names,
/// nullability and metadata must match what it expects), cast where a type
/// differs only in what Delta does not store, such as the name of a list's
/// element field (`item` in Arrow builders, `element` in Delta).
pub(crate) fn conform(schema: &SchemaRef, batch: &RecordBatch) -> DeltaResult<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, c)| {
            if c.data_type() == field.data_type() {
                Ok(c.clone())
            } else {
                deltalake::arrow::compute::cast(c, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Writes data files, one or more per call, for the table with `schema`
/// (not partitioned), with its Delta statistics settings.
///
/// Files are Snappy-compressed; the columns the table property
/// [`crate::PLAIN_COLUMNS_PROPERTY`] names are not dictionary-encoded.
/// Parquet statistics are kept for the columns
/// whose Delta statistics the table collects (they are computed from them)
/// and for nested columns; the other top-level columns get none: min/max of
/// a resource's JSON or a raw payload serve no reader, and comparing and
/// copying such values was a measurable part of writing them.
#[derive(Clone)]
pub(crate) struct Writer {
    store: ObjectStoreRef,
    schema: SchemaRef,
    stats: WriterStatsConfig,
    properties: WriterProperties,
}

impl Writer {
    /// A writer for the table with `schema` whose loaded state is
    /// `snapshot` (its statistics settings and table properties).
    pub(crate) fn new(
        store: ObjectStoreRef,
        schema: SchemaRef,
        snapshot: &DeltaTableState,
    ) -> Self {
        let properties = parquet_properties(&schema, snapshot.metadata().configuration());
        Writer {
            store,
            schema,
            stats: WriterStatsConfig::from_config(snapshot.snapshot().table_configuration()),
            properties,
        }
    }

    fn config(&self, schema: SchemaRef) -> WriterConfig {
        WriterConfig::new(
            schema,
            Vec::new(),
            Some(self.properties.clone()),
            None,
            None,
            self.stats.num_indexed_cols,
            self.stats.stats_columns.clone(),
        )
    }

    /// Writes `batches` (with [`Writer::schema`]) as one data file.
    pub(crate) async fn data(&self, batches: &[RecordBatch]) -> DeltaResult<Vec<Add>> {
        let mut w = DeltaWriter::new(self.store.clone(), self.config(self.schema.clone()));
        // A plain loop: an iterator adapter held across the await would
        // make the future `Send` for one lifetime only.
        for b in batches {
            if b.num_rows() > 0 {
                w.write(&conform(&self.schema, b)?).await?;
            }
        }
        w.close().await
    }

    /// The schema of change-data files: the table's columns and
    /// `_change_type`.
    pub(crate) fn change_schema(&self) -> SchemaRef {
        let mut fields: Vec<Arc<Field>> = self.schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(
            CHANGE_TYPE_COLUMN,
            DataType::Utf8,
            true,
        )));
        Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ))
    }

    /// Writes change rows (`batches`, each with its `_change_type`) under
    /// `_change_data/`, as the `cdc` actions of a commit.
    pub(crate) async fn changes(&self, batches: &[RecordBatch]) -> DeltaResult<Vec<AddCDCFile>> {
        let schema = self.change_schema();
        let store: ObjectStoreRef = Arc::new(PrefixStore::new(self.store.clone(), CHANGE_DATA));
        let mut w = DeltaWriter::new(store, self.config(schema.clone()));
        for b in batches {
            if b.num_rows() > 0 {
                w.write(&conform(&schema, b)?).await?;
            }
        }
        Ok(w.close()
            .await?
            .into_iter()
            .map(|add| AddCDCFile {
                path: format!("{CHANGE_DATA}/{}", add.path),
                size: add.size,
                partition_values: HashMap::new(),
                data_change: false,
                tags: None,
            })
            .collect())
    }
}

/// The Parquet properties of a table's files: see [`Writer`].
fn parquet_properties(schema: &Schema, config: &HashMap<String, String>) -> WriterProperties {
    let mut properties = WriterProperties::builder().set_compression(Compression::SNAPPY);
    if let Some(plain) = config.get(crate::PLAIN_COLUMNS_PROPERTY) {
        for name in plain.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            properties = properties.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
    }
    let covered = delta_stats_columns(schema, config);
    for (field, covered) in schema.fields().iter().zip(covered) {
        if !covered && !field.data_type().is_nested() {
            properties = properties.set_column_statistics_enabled(
                ColumnPath::from(field.name().as_str()),
                EnabledStatistics::None,
            );
        }
    }
    properties.build()
}

/// Whether Delta collects statistics for each top-level column of
/// `schema`, by the table properties `delta.dataSkippingStatsColumns` (the
/// columns named) or `delta.dataSkippingNumIndexedCols` (the first n, -1
/// for all; 32 when unset). A named nested field covers its column.
fn delta_stats_columns(schema: &Schema, config: &HashMap<String, String>) -> Vec<bool> {
    if let Some(list) = config.get("delta.dataSkippingStatsColumns") {
        let named: Vec<String> = list.split(',').map(|c| c.trim().replace('`', "")).collect();
        return schema
            .fields()
            .iter()
            .map(|f| {
                named.iter().any(|n| {
                    n == f.name()
                        || n.strip_prefix(f.name().as_str())
                            .is_some_and(|rest| rest.starts_with('.'))
                })
            })
            .collect();
    }
    let first = match config
        .get("delta.dataSkippingNumIndexedCols")
        .and_then(|n| n.trim().parse::<i64>().ok())
    {
        Some(n) if n < 0 => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => 32,
    };
    (0..schema.fields().len()).map(|i| i < first).collect()
}

/// `batch` with a `_change_type` column of `kind` appended.
pub(crate) fn with_change_type(
    schema: &SchemaRef,
    batch: &RecordBatch,
    kind: &str,
) -> DeltaResult<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![kind; batch.num_rows()])));
    RecordBatch::try_new(schema.clone(), columns).map_err(DeltaTableError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_statistics_cover_the_named_or_first_columns() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new(
                "period",
                DataType::Struct(vec![Field::new("start", DataType::Utf8, true)].into()),
                true,
            ),
            Field::new("resource_json", DataType::Utf8, true),
        ]);
        let config = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            delta_stats_columns(&schema, &config(&[])),
            [true, true, true, true]
        );
        assert_eq!(
            delta_stats_columns(
                &schema,
                &config(&[("delta.dataSkippingNumIndexedCols", "2")])
            ),
            [true, true, false, false]
        );
        assert_eq!(
            delta_stats_columns(
                &schema,
                &config(&[("delta.dataSkippingNumIndexedCols", "-1")])
            ),
            [true, true, true, true]
        );
        assert_eq!(
            delta_stats_columns(
                &schema,
                &config(&[("delta.dataSkippingStatsColumns", "id, `period`.start,names")])
            ),
            [true, false, true, false]
        );
    }
}
