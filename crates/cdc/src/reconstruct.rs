//! A table as it was at a point in time, rebuilt from its change history.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, Schema, SchemaRef};

use crate::Lsn;
use crate::history::{
    CHANGE_TYPE, COMMIT_DATE, COMMIT_TIMESTAMP, LSN, METADATA_COLUMNS, OMITTED_COLUMNS, SEQ,
    SOURCE_TABLE, XID,
};

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
    let folded = fold(batches, key, Some(as_of))?;
    let present: Vec<&Entry> = folded.entries.iter().filter(|e| e.present).collect();
    let columns = folded.pick(batches, &present)?;
    Ok(RecordBatch::try_new_with_options(
        folded.out_schema.clone(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(present.len())),
    )?)
}

/// The last state of every key a run of changes touched, as the changes a
/// current-state table needs: see [`latest`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Latest {
    /// A truncate is among the changes: the table must first be emptied
    /// (then `changes` holds only upserts, the rows after it).
    pub truncated: bool,
    /// One row per key: the data columns, then `_lsn` (the commit LSN of
    /// the key's last change) and `_op` (`update`, or `delete`).
    pub changes: RecordBatch,
    /// Rows of `changes` lacking a column value that an update omitted and
    /// no earlier change in the run carried: pass the table's current rows
    /// as `base` to fill them.
    pub incomplete: usize,
}

/// The column of [`Latest::changes`] naming each row's operation.
pub const OP: &str = "_op";

/// Folds a run of change-history rows (batches of one schema, any order)
/// into the last state of each key it touches, for maintaining a
/// current-state table through a merge. `base` (the data columns of the
/// current rows, any subset) is the state before the run: it fills values
/// the changes omitted, and is not itself returned.
pub fn latest(
    batches: &[RecordBatch],
    key: &[&str],
    base: Option<&RecordBatch>,
) -> Result<Latest, ReconstructError> {
    let Some(first) = batches.first() else {
        return Err(ReconstructError::Shape(
            "is empty: no schema to fold".to_owned(),
        ));
    };
    let mut all = Vec::with_capacity(batches.len() + 1);
    if let Some(base) = base {
        all.push(base_rows(base, &first.schema())?);
    }
    all.extend(batches.iter().cloned());
    let folded = fold(&all, key, None)?;
    let touched: Vec<&Entry> = folded.entries.iter().filter(|e| e.touched).collect();
    let incomplete = touched
        .iter()
        .filter(|e| e.present && e.sources.iter().any(Option::is_none))
        .count();
    let mut columns = folded.pick(&all, &touched)?;
    let mut fields: Vec<arrow_schema::Field> = folded
        .out_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    columns.push(Arc::new(arrow_array::Int64Array::from_iter_values(
        touched.iter().map(|e| e.lsn),
    )));
    fields.push(arrow_schema::Field::new(
        LSN,
        arrow_schema::DataType::Int64,
        false,
    ));
    columns.push(Arc::new(arrow_array::StringArray::from_iter_values(
        touched
            .iter()
            .map(|e| if e.present { "update" } else { "delete" }),
    )));
    fields.push(arrow_schema::Field::new(
        OP,
        arrow_schema::DataType::Utf8,
        false,
    ));
    let changes = RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(touched.len())),
    )?;
    Ok(Latest {
        truncated: folded.truncated,
        changes,
        incomplete,
    })
}

/// The `_lsn` of base rows: before every change.
const BASE_LSN: i64 = -1;

/// `base` (data columns) as history rows: inserts before any change.
fn base_rows(base: &RecordBatch, history: &SchemaRef) -> Result<RecordBatch, ReconstructError> {
    let n = base.num_rows();
    let columns: Vec<ArrayRef> = history
        .fields()
        .iter()
        .map(|field| {
            let name = field.name().as_str();
            let constant: ArrayRef = match name {
                CHANGE_TYPE => Arc::new(arrow_array::StringArray::from_iter_values(
                    std::iter::repeat_n("insert", n),
                )),
                SOURCE_TABLE => Arc::new(arrow_array::StringArray::from_iter_values(
                    std::iter::repeat_n("", n),
                )),
                LSN => Arc::new(arrow_array::Int64Array::from_iter_values(
                    std::iter::repeat_n(BASE_LSN, n),
                )),
                SEQ => Arc::new(arrow_array::Int64Array::from_iter_values(
                    (0..n).map(|i| i64::try_from(i).unwrap_or(i64::MAX)),
                )),
                COMMIT_TIMESTAMP => Arc::new(arrow_array::Int64Array::from_iter_values(
                    std::iter::repeat_n(0, n),
                )),
                COMMIT_DATE => Arc::new(arrow_array::Int32Array::from_iter_values(
                    std::iter::repeat_n(0, n),
                )),
                _ if METADATA_COLUMNS.contains(&name) => new_null_array(field.data_type(), n),
                _ => match base.column_by_name(name) {
                    Some(column) => column.clone(),
                    None => new_null_array(field.data_type(), n),
                },
            };
            // Not the safe cast: a value that does not fit is an error,
            // never a silent null. Arrow's message may quote the value.
            let options = arrow_cast::CastOptions {
                safe: false,
                ..Default::default()
            };
            arrow_cast::cast_with_options(&constant, field.data_type(), &options).map_err(|_| {
                ReconstructError::Shape(format!(
                    "has column {name} of another type than the current rows'"
                ))
            })
        })
        .collect::<Result<_, ReconstructError>>()?;
    Ok(RecordBatch::try_new_with_options(
        history.clone(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(n)),
    )?)
}

/// The state of one key after a fold.
#[derive(Debug)]
struct Entry {
    key: Box<[u8]>,
    /// Where each data column's value comes from.
    sources: Vec<Source>,
    /// The row holds the key (its last change set it).
    present: bool,
    /// A change (not a base row) touched it.
    touched: bool,
    /// The commit LSN of its last change.
    lsn: i64,
    /// The row of its last change, for the key values of a delete.
    last: (u32, u32),
}

/// The folded state of every key, sorted by key.
#[derive(Debug)]
struct Folded {
    entries: Vec<Entry>,
    truncated: bool,
    data: Vec<usize>,
    out_schema: SchemaRef,
}

impl Folded {
    /// The data columns of `rows`: each value from its source, the key
    /// columns of a deleted row from its last change.
    fn pick(
        &self,
        batches: &[RecordBatch],
        rows: &[&Entry],
    ) -> Result<Vec<ArrayRef>, ReconstructError> {
        let stand_in = batches.len();
        self.data
            .iter()
            .enumerate()
            .map(|(d, &i)| {
                let data_type = self.out_schema.field(d).data_type();
                let null = new_null_array(data_type, 1);
                let mut arrays: Vec<&dyn Array> = batches
                    .iter()
                    .map(|batch| batch.column(i).as_ref())
                    .collect();
                arrays.push(null.as_ref());
                let picks: Vec<(usize, usize)> = rows
                    .iter()
                    .map(|e| {
                        let source = if e.present {
                            e.sources[d]
                        } else {
                            Some(e.last)
                        };
                        match source {
                            Some((b, r)) => (b as usize, r as usize),
                            None => (stand_in, 0),
                        }
                    })
                    .collect();
                Ok(arrow_select::interleave::interleave(&arrays, &picks)?)
            })
            .collect()
    }
}

/// Applies every change (up to `cut`) in commit order, keeping for each key
/// where its values come from.
fn fold(
    batches: &[RecordBatch],
    key: &[&str],
    cut: Option<AsOf>,
) -> Result<Folded, ReconstructError> {
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
    let mut order: Vec<(i64, u8, i64, u8, u32, u32)> = Vec::new();
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
        let xid = batch.column_by_name(XID).ok_or_else(|| missing(XID))?;
        for r in 0..batch.num_rows() {
            let included = match cut {
                None => true,
                Some(AsOf::Lsn(cut)) => lsn.value(r) <= cut.as_i64(),
                Some(AsOf::Time(cut)) => time.value(r) <= cut,
            };
            if included {
                // Snapshot rows (no transaction) come before a transaction
                // committing at the same position: the consistent point.
                let streamed = u8::from(!xid.is_null(r));
                let rank = u8::from(kinds.value(r) != "update_preimage");
                order.push((
                    lsn.value(r),
                    streamed,
                    seq.value(r),
                    rank,
                    to_u32(b),
                    to_u32(r),
                ));
            }
        }
    }
    order.sort_unstable();

    let mut rows: HashMap<Box<[u8]>, Entry> = HashMap::new();
    // An update's old row, between its preimage and its postimage, with
    // the preimage's (`_lsn`, `_seq`): the postimage must be the next row.
    let mut before: Option<((i64, i64), Option<Entry>)> = None;
    let unpaired =
        || ReconstructError::Shape("has an update preimage without its postimage".to_owned());
    let mut truncated = false;
    for (lsn, _, seq, _, b, r) in order {
        let batch = &batches[b as usize];
        let key: Box<[u8]> = keys[b as usize].row(r as usize).as_ref().into();
        let touched = lsn != BASE_LSN;
        let kind = strings(batch, CHANGE_TYPE)?.value(r as usize);
        let stashed = match before.take() {
            Some((at, entry)) if kind == "update_postimage" && at == (lsn, seq) => entry,
            Some(_) => return Err(unpaired()),
            None => None,
        };
        match kind {
            "insert" | "update_postimage" => {
                let mut entry = stashed
                    .or_else(|| rows.remove(&key))
                    .filter(|e| e.present)
                    .unwrap_or_else(|| Entry {
                        key: key.clone(),
                        sources: vec![None; data.len()],
                        present: true,
                        touched: false,
                        lsn,
                        last: (b, r),
                    });
                let omitted = omitted_columns(batch, r as usize, &name_to_data)?;
                for (d, source) in entry.sources.iter_mut().enumerate() {
                    if !omitted.contains(&d) {
                        *source = Some((b, r));
                    }
                }
                entry.key = key.clone();
                entry.present = true;
                entry.touched |= touched;
                entry.lsn = lsn;
                entry.last = (b, r);
                rows.insert(key, entry);
            }
            "update_preimage" | "delete" => {
                let kind_is_delete = kind == "delete";
                let old = rows.remove(&key);
                // The key's row is gone (a delete, or an update that may
                // move it to another key); remember the removal.
                let removed = Entry {
                    key: key.clone(),
                    sources: vec![None; data.len()],
                    present: false,
                    touched,
                    lsn,
                    last: (b, r),
                };
                if kind_is_delete {
                    rows.insert(key, removed);
                } else {
                    // The postimage that follows starts from the old row's
                    // values; if it lands on another key, this one stays
                    // removed.
                    rows.insert(key, removed);
                    let old = old.map(|mut e| {
                        e.touched |= touched;
                        e
                    });
                    before = Some(((lsn, seq), old));
                }
            }
            "truncate" => {
                rows.clear();
                truncated = truncated || touched;
            }
            other => {
                return Err(ReconstructError::Shape(format!(
                    "has an unknown change type {other:?}"
                )));
            }
        }
    }
    if before.is_some() {
        return Err(unpaired());
    }
    let mut entries: Vec<Entry> = rows.into_values().collect();
    entries.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(Folded {
        entries,
        truncated,
        data,
        out_schema,
    })
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

#[cfg(test)]
mod tests {
    use arrow_array::builder::{
        Date32Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
        TimestampMicrosecondBuilder,
    };

    use super::*;
    use crate::history::{SourceColumn, history_schema};

    /// (change type, lsn, seq, id, value): a history of `t (id int4 key, v text)`.
    type Row<'a> = (&'a str, i64, i64, i32, Option<&'a str>);

    fn history(rows: &[Row<'_>]) -> RecordBatch {
        let schema = history_schema(&[
            SourceColumn {
                name: "id".to_owned(),
                type_oid: 23,
                type_modifier: -1,
                key: true,
            },
            SourceColumn {
                name: "v".to_owned(),
                type_oid: 25,
                type_modifier: -1,
                key: false,
            },
        ]);
        let mut id = Int32Builder::new();
        let mut v = StringBuilder::new();
        let mut kind = StringBuilder::new();
        let mut lsn = Int64Builder::new();
        let mut seq = Int64Builder::new();
        let mut time = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let mut xid = Int64Builder::new();
        let mut source = StringBuilder::new();
        let mut omitted = ListBuilder::new(StringBuilder::new());
        let mut date = Date32Builder::new();
        for &(k, l, s, i, value) in rows {
            id.append_value(i);
            v.append_option(value);
            kind.append_value(k);
            lsn.append_value(l);
            seq.append_value(s);
            time.append_value(l);
            xid.append_value(7);
            source.append_value("public.t");
            omitted.append_null();
            date.append_value(0);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(v.finish()),
            Arc::new(kind.finish()),
            Arc::new(lsn.finish()),
            Arc::new(seq.finish()),
            Arc::new(time.finish()),
            Arc::new(xid.finish()),
            Arc::new(source.finish()),
            Arc::new(omitted.finish()),
            Arc::new(date.finish()),
        ];
        RecordBatch::try_new(schema, columns).expect("a history batch")
    }

    fn ids_and_values(batch: &RecordBatch) -> Vec<(i32, Option<String>)> {
        let ids = batch
            .column(0)
            .as_primitive::<arrow_array::types::Int32Type>();
        let values = batch.column(1).as_string::<i32>();
        (0..batch.num_rows())
            .map(|i| {
                (
                    ids.value(i),
                    values.is_valid(i).then(|| values.value(i).to_owned()),
                )
            })
            .collect()
    }

    const CHANGES: [Row<'static>; 8] = [
        ("insert", 10, 0, 1, Some("a")),
        ("insert", 10, 1, 2, Some("b")),
        ("update_preimage", 20, 0, 1, Some("a")),
        ("update_postimage", 20, 0, 1, Some("a2")),
        ("delete", 30, 0, 2, None),
        // A key change: 1 becomes 3.
        ("update_preimage", 40, 0, 1, None),
        ("update_postimage", 40, 0, 3, Some("a3")),
        ("insert", 50, 0, 4, Some("d")),
    ];

    #[test]
    fn a_table_is_rebuilt_as_of_each_position() {
        let batch = history(&CHANGES);
        let at = |lsn: u64| {
            ids_and_values(
                &reconstruct(std::slice::from_ref(&batch), &["id"], AsOf::Lsn(Lsn(lsn)))
                    .expect("rebuilt"),
            )
        };
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(at(5), []);
        assert_eq!(at(10), [(1, s("a")), (2, s("b"))]);
        assert_eq!(at(25), [(1, s("a2")), (2, s("b"))]);
        assert_eq!(at(30), [(1, s("a2"))]);
        assert_eq!(at(40), [(3, s("a3"))]);
        assert_eq!(at(99), [(3, s("a3")), (4, s("d"))]);
        // By time: the test stamps each row with its LSN as the time.
        let by_time =
            reconstruct(std::slice::from_ref(&batch), &["id"], AsOf::Time(30)).expect("rebuilt");
        assert_eq!(ids_and_values(&by_time), at(30));
    }

    #[test]
    fn latest_gives_one_change_per_touched_key() {
        let batch = history(&CHANGES[4..]);
        let base = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                arrow_schema::Field::new("id", arrow_schema::DataType::Int32, true),
                arrow_schema::Field::new("v", arrow_schema::DataType::Utf8, true),
            ])),
            vec![
                Arc::new(arrow_array::Int32Array::from(vec![1, 2, 9])),
                Arc::new(arrow_array::StringArray::from(vec!["a2", "b", "untouched"])),
            ],
        )
        .expect("base rows");
        let latest = latest(&[batch], &["id"], Some(&base)).expect("folded");
        assert!(!latest.truncated);
        assert_eq!(latest.incomplete, 0);
        let ops = latest
            .changes
            .column_by_name(OP)
            .expect("_op")
            .as_string::<i32>();
        let ops: Vec<&str> = (0..ops.len()).map(|i| ops.value(i)).collect();
        let ids: Vec<i32> = ids_and_values(&latest.changes)
            .iter()
            .map(|r| r.0)
            .collect();
        // Key 9 only came from the base rows: not a change.
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(ops, ["delete", "delete", "update", "update"]);
    }

    #[test]
    fn a_preimage_without_its_postimage_is_refused() {
        let batch = history(&[
            ("insert", 10, 0, 1, Some("a")),
            ("update_preimage", 20, 0, 1, Some("a")),
            ("insert", 30, 0, 2, Some("b")),
        ]);
        let e = reconstruct(&[batch], &["id"], AsOf::Lsn(Lsn(99))).expect_err("unpaired");
        assert_eq!(e.code(), "CDC-0300", "{e}");
        let missing = reconstruct(&[history(&CHANGES)], &["nope"], AsOf::Lsn(Lsn(1)))
            .expect_err("an unknown key");
        assert_eq!(missing.code(), "CDC-0301");
    }
}
