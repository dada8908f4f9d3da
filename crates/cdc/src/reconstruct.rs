//! A table as it was at a point in time, rebuilt from its change history.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, Schema, SchemaRef};

use crate::Lsn;
use crate::history::{CHANGE_TYPE, COMMIT_TIMESTAMP, LSN, METADATA_COLUMNS, OMITTED_COLUMNS, SEQ};

/// The point in time to rebuild a table at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// After every transaction that committed at or before this LSN.
    Lsn(Lsn),
    /// After every transaction that committed at or before this time
    /// (microseconds since 1970 UTC).
    Time(i64),
}

/// Why a history could not be replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconstructError {
    /// A column the replay needs is missing or has another type.
    #[error("[CDC-0300] the change history {0}")]
    Shape(String),
    /// A key column named is not a column of the history.
    #[error("[CDC-0301] key column {0} is not a column of the change history")]
    UnknownKey(String),
    /// Arrow refused an operation.
    #[error("[CDC-0302] replaying the change history failed: {0}")]
    Arrow(#[from] ArrowError),
}

impl ReconstructError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ReconstructError::Shape(_) => "CDC-0300",
            ReconstructError::UnknownKey(_) => "CDC-0301",
            ReconstructError::Arrow(_) => "CDC-0302",
        }
    }
}

/// Where a column's current value comes from: (batch, row), or the null
/// stand-in when the history never carried one.
type Source = Option<(u32, u32)>;

/// Rebuilds the rows a table held at `as_of` from its change history
/// (batches of one schema, in any order): the snapshot rows and every change
/// up to then, applied in commit order (`_lsn`, `_seq`). Inserts and update
/// postimages set a row, taking the previous value for each column in
/// `_omitted_columns`; deletes remove it; a truncate empties the table. Rows
/// are keyed by `key` (the history's `caresync.primaryKey`; every column
/// under `REPLICA IDENTITY FULL`), and come out sorted by it.
///
/// The result has the history's data columns, without the change columns.
pub fn reconstruct(
    batches: &[RecordBatch],
    key: &[&str],
    as_of: AsOf,
) -> Result<RecordBatch, ReconstructError> {
    let Some(first) = batches.first() else {
        return Err(ReconstructError::Shape(
            "is empty: no schema to rebuild".to_owned(),
        ));
    };
    let schema = first.schema();
    let data: Vec<usize> = (0..schema.fields().len())
        .filter(|i| !METADATA_COLUMNS.contains(&schema.field(*i).name().as_str()))
        .collect();
    let out_schema: SchemaRef = Arc::new(Schema::new(
        data.iter()
            .map(|i| schema.field(*i).as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let key_index: Vec<usize> = key
        .iter()
        .map(|k| {
            schema
                .index_of(k)
                .map_err(|_| ReconstructError::UnknownKey((*k).to_owned()))
        })
        .collect::<Result<_, _>>()?;
    let name_to_data: HashMap<&str, usize> = data
        .iter()
        .enumerate()
        .map(|(d, i)| (schema.field(*i).name().as_str(), d))
        .collect();
    let converter = RowConverter::new(
        key_index
            .iter()
            .map(|i| SortField::new(schema.field(*i).data_type().clone()))
            .collect(),
    )?;

    // Every change up to the cut, in commit order.
    let mut order: Vec<(i64, i64, u8, u32, u32)> = Vec::new();
    let mut keys = Vec::with_capacity(batches.len());
    for (b, batch) in batches.iter().enumerate() {
        if batch.schema() != schema {
            return Err(ReconstructError::Shape(
                "batches have different schemas".to_owned(),
            ));
        }
        let lsn = int64(batch, LSN)?;
        let seq = int64(batch, SEQ)?;
        let kinds = strings(batch, CHANGE_TYPE)?;
        let time = batch
            .column_by_name(COMMIT_TIMESTAMP)
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| missing(COMMIT_TIMESTAMP))?;
        let key_columns: Vec<ArrayRef> =
            key_index.iter().map(|i| batch.column(*i).clone()).collect();
        keys.push(converter.convert_columns(&key_columns)?);
        for r in 0..batch.num_rows() {
            let included = match as_of {
                AsOf::Lsn(cut) => lsn.value(r) <= cut.as_i64(),
                AsOf::Time(cut) => time.value(r) <= cut,
            };
            if included {
                let rank = u8::from(kinds.value(r) != "update_preimage");
                order.push((lsn.value(r), seq.value(r), rank, to_u32(b), to_u32(r)));
            }
        }
    }
    order.sort_unstable();

    let mut rows: HashMap<Box<[u8]>, Vec<Source>> = HashMap::new();
    let mut before: Option<Vec<Source>> = None;
    for (_, _, _, b, r) in order {
        let batch = &batches[b as usize];
        let key = keys[b as usize]
            .row(r as usize)
            .as_ref()
            .to_vec()
            .into_boxed_slice();
        match strings(batch, CHANGE_TYPE)?.value(r as usize) {
            "insert" | "update_postimage" => {
                let mut sources = before
                    .take()
                    .or_else(|| rows.remove(&key))
                    .unwrap_or_else(|| vec![None; data.len()]);
                let omitted = omitted_columns(batch, r as usize, &name_to_data)?;
                for (d, source) in sources.iter_mut().enumerate() {
                    if !omitted.contains(&d) {
                        *source = Some((b, r));
                    }
                }
                rows.insert(key, sources);
            }
            "update_preimage" => before = rows.remove(&key),
            "delete" => {
                rows.remove(&key);
            }
            "truncate" => rows.clear(),
            other => {
                return Err(ReconstructError::Shape(format!(
                    "has an unknown change type {other:?}"
                )));
            }
        }
    }

    let mut present: Vec<(Box<[u8]>, Vec<Source>)> = rows.into_iter().collect();
    present.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let columns: Vec<ArrayRef> = data
        .iter()
        .map(|&i| {
            let null = new_null_array(schema.field(i).data_type(), 1);
            let mut arrays: Vec<&dyn Array> = batches
                .iter()
                .map(|batch| batch.column(i).as_ref())
                .collect();
            arrays.push(null.as_ref());
            let stand_in = batches.len();
            let d = data.iter().position(|x| *x == i).expect("a data column");
            let picks: Vec<(usize, usize)> = present
                .iter()
                .map(|(_, sources)| match sources[d] {
                    Some((b, r)) => (b as usize, r as usize),
                    None => (stand_in, 0),
                })
                .collect();
            arrow_select::interleave::interleave(&arrays, &picks)
        })
        .collect::<Result<_, _>>()?;
    Ok(RecordBatch::try_new_with_options(
        out_schema,
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(present.len())),
    )?)
}

fn omitted_columns(
    batch: &RecordBatch,
    row: usize,
    name_to_data: &HashMap<&str, usize>,
) -> Result<Vec<usize>, ReconstructError> {
    let Some(column) = batch.column_by_name(OMITTED_COLUMNS) else {
        return Err(missing(OMITTED_COLUMNS));
    };
    let names = if let Some(list) = column.as_list_opt::<i32>() {
        if list.is_null(row) {
            return Ok(Vec::new());
        }
        list.value(row)
    } else if let Some(list) = column.as_list_opt::<i64>() {
        if list.is_null(row) {
            return Ok(Vec::new());
        }
        list.value(row)
    } else {
        return Err(missing(OMITTED_COLUMNS));
    };
    let names = Text::of(names.as_ref()).ok_or_else(|| missing(OMITTED_COLUMNS))?;
    Ok((0..names.len())
        .filter(|i| !names.is_null(*i))
        .filter_map(|i| name_to_data.get(names.value(i)).copied())
        .collect())
}

fn int64<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a arrow_array::PrimitiveArray<Int64Type>, ReconstructError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| missing(name))
}

/// A text column in any of Arrow's string layouts (Delta readers hand back
/// `Utf8View` as well as `Utf8`).
#[derive(Clone, Copy)]
enum Text<'a> {
    Utf8(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
}

impl<'a> Text<'a> {
    fn of(array: &'a dyn Array) -> Option<Self> {
        if let Some(a) = array.as_string_opt::<i32>() {
            Some(Text::Utf8(a))
        } else if let Some(a) = array.as_string_opt::<i64>() {
            Some(Text::Large(a))
        } else {
            array.as_string_view_opt().map(Text::View)
        }
    }

    fn value(self, row: usize) -> &'a str {
        match self {
            Text::Utf8(a) => a.value(row),
            Text::Large(a) => a.value(row),
            Text::View(a) => a.value(row),
        }
    }

    fn is_null(self, row: usize) -> bool {
        match self {
            Text::Utf8(a) => a.is_null(row),
            Text::Large(a) => a.is_null(row),
            Text::View(a) => a.is_null(row),
        }
    }

    fn len(self) -> usize {
        match self {
            Text::Utf8(a) => a.len(),
            Text::Large(a) => a.len(),
            Text::View(a) => a.len(),
        }
    }
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<Text<'a>, ReconstructError> {
    batch
        .column_by_name(name)
        .and_then(|c| Text::of(c.as_ref()))
        .ok_or_else(|| missing(name))
}

fn missing(name: &str) -> ReconstructError {
    ReconstructError::Shape(format!("lacks column {name}, or it has another type"))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 batches and rows per batch")
}
