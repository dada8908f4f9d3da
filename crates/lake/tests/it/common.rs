//! Shared fixtures: one small schema, batches of it, and readers that turn
//! batches back into sorted rows.

use std::sync::Arc;

use caresync_lake::{LakeTable, TableSpec};
use deltalake::arrow::array::{Array, AsArray as _, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, UInt64Type};
use tempfile::TempDir;

/// A row of the test table: `id` (NOT NULL) and `name`.
pub(crate) type Row = (i64, Option<String>);

/// `id BIGINT NOT NULL, name STRING`.
pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]))
}

pub(crate) fn spec() -> TableSpec {
    TableSpec::new("people", schema())
}

pub(crate) fn batch(rows: &[(i64, Option<&str>)]) -> RecordBatch {
    let ids = Int64Array::from_iter_values(rows.iter().map(|(id, _)| *id));
    let names: StringArray = rows.iter().map(|(_, name)| *name).collect();
    RecordBatch::try_new(schema(), vec![Arc::new(ids), Arc::new(names)]).expect("valid batch")
}

pub(crate) fn owned(rows: &[(i64, Option<&str>)]) -> Vec<Row> {
    let mut rows: Vec<Row> = rows
        .iter()
        .map(|(id, name)| (*id, name.map(str::to_owned)))
        .collect();
    rows.sort();
    rows
}

/// A fresh directory and the location of a table inside it (not yet created).
pub(crate) fn temp_table() -> (TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = dir
        .path()
        .join("table")
        .to_str()
        .expect("UTF-8 temp path")
        .to_owned();
    (dir, url)
}

pub(crate) async fn create(url: &str) -> LakeTable {
    LakeTable::open_or_create(url, &spec())
        .await
        .expect("create table")
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a Arc<dyn Array> {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name} in output"))
}

fn ids(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let ids = cast(column(batch, name), &DataType::Int64).expect("cast to Int64");
    ids.as_primitive::<Int64Type>().values().to_vec()
}

pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let strings = cast(column(batch, name), &DataType::Utf8).expect("cast to Utf8");
    strings
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

/// The (id, name) rows of `batches`, sorted.
pub(crate) fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut rows: Vec<Row> = batches
        .iter()
        .flat_map(|b| ids(b, "id").into_iter().zip(strings(b, "name")))
        .collect();
    rows.sort();
    rows
}

pub(crate) async fn read(table: &LakeTable) -> Vec<Row> {
    rows(&table.read_all().await.expect("read table"))
}

/// One change-feed row: change type, id, name, commit version.
pub(crate) type Change = (String, i64, Option<String>, u64);

/// The change-feed rows of `batches`, sorted by version, id, change type.
pub(crate) fn changes(batches: &[RecordBatch]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for b in batches {
        let types = strings(b, caresync_lake::CHANGE_TYPE_COLUMN);
        let versions = cast(
            column(b, caresync_lake::COMMIT_VERSION_COLUMN),
            &DataType::UInt64,
        )
        .expect("cast to UInt64");
        let versions = versions.as_primitive::<UInt64Type>();
        for (i, (id, name)) in ids(b, "id").into_iter().zip(strings(b, "name")).enumerate() {
            out.push((
                types[i].clone().expect("change type is set"),
                id,
                name,
                versions.value(i),
            ));
        }
    }
    out.sort_by(|a, b| (a.3, a.1, &a.0).cmp(&(b.3, b.1, &b.0)));
    out
}
