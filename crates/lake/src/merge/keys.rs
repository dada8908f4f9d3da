//! Keys, versions, operations and fingerprints read from change batches and
//! table files.
//!
//! Keys are the key columns encoded by Arrow's row format: byte strings that
//! compare in the order of the key columns' values, so one `Box<[u8]>` serves
//! for hashing, sorting and pruning by file statistics, whatever the key
//! columns' types.

use deltalake::arrow::array::{Array, ArrayRef, AsArray as _, UInt32Array, new_null_array};
use deltalake::arrow::compute::take;
use deltalake::arrow::datatypes::{DataType, Int64Type, Schema, TimeUnit};
use deltalake::arrow::row::{RowConverter, Rows, SortField};

use caresync_core::{ChangeOp, EventTime, Tiebreaker, Version};
use caresync_merge::MergeError;

/// Encodes the key columns (and, for fingerprints, the other columns) of
/// batches with the table's schema.
pub(crate) struct Codec {
    keys: RowConverter,
    values: RowConverter,
    /// Positions of the key columns in the table schema.
    key_at: Vec<usize>,
    /// Positions of every other column.
    value_at: Vec<usize>,
}

impl Codec {
    /// A codec for `schema` keyed by `key_at`; `Err` names an unsupported
    /// column type.
    pub(crate) fn new(schema: &Schema, key_at: &[usize]) -> Result<Self, String> {
        let field = |i: usize| SortField::new(schema.field(i).data_type().clone());
        let value_at: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !key_at.contains(i))
            .collect();
        let keys = RowConverter::new(key_at.iter().map(|&i| field(i)).collect())
            .map_err(|e| format!("key columns cannot be encoded: {e}"))?;
        // A table of key columns only still needs a converter for values.
        let values = if value_at.is_empty() {
            RowConverter::new(vec![SortField::new(DataType::Null)])
        } else {
            RowConverter::new(value_at.iter().map(|&i| field(i)).collect())
        }
        .map_err(|e| format!("columns cannot be fingerprinted: {e}"))?;
        Ok(Codec {
            keys,
            values,
            key_at: key_at.to_vec(),
            value_at,
        })
    }

    /// The key rows of `columns` (all columns of a batch with the table's
    /// schema, or a projection given as `key_columns`).
    pub(crate) fn key_rows(&self, key_columns: &[ArrayRef]) -> Result<Rows, String> {
        self.keys
            .convert_columns(key_columns)
            .map_err(|e| format!("key columns cannot be encoded: {e}"))
    }

    /// The key columns of a batch with the table's schema.
    pub(crate) fn key_columns(&self, columns: &[ArrayRef]) -> Vec<ArrayRef> {
        self.key_at.iter().map(|&i| columns[i].clone()).collect()
    }

    /// A stable fingerprint of the non-key values of each of `rows` (in
    /// that order): FNV-1a over their row encoding, the same in every
    /// process and release of this crate. Rows past the end are an `Err`.
    pub(crate) fn fingerprints(
        &self,
        columns: &[ArrayRef],
        rows: &[u32],
    ) -> Result<Vec<u64>, String> {
        let len = columns.first().map_or(0, |c| c.len());
        if let Some(row) = rows.iter().find(|&&r| r as usize >= len) {
            return Err(format!("row {row} is past the end ({len} rows)"));
        }
        let indices = UInt32Array::from(rows.to_vec());
        let values = self
            .value_at
            .iter()
            .map(|&i| take(columns[i].as_ref(), &indices, None))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("rows cannot be fingerprinted: {e}"))?;
        self.print(values, rows.len())
    }

    /// The fingerprints of all `rows` rows of `columns` (as
    /// [`fingerprints`](Self::fingerprints), without picking rows first).
    pub(crate) fn fingerprints_of_all(
        &self,
        columns: &[ArrayRef],
        rows: usize,
    ) -> Result<Vec<u64>, String> {
        self.print(
            self.value_at.iter().map(|&i| columns[i].clone()).collect(),
            rows,
        )
    }

    /// FNV-1a over the row encoding of `values` (the non-key columns, or
    /// none), `rows` long.
    fn print(&self, values: Vec<ArrayRef>, rows: usize) -> Result<Vec<u64>, String> {
        let values = if values.is_empty() {
            vec![new_null_array(&DataType::Null, rows)]
        } else {
            values
        };
        let encoded = self
            .values
            .convert_columns(&values)
            .map_err(|e| format!("columns cannot be fingerprinted: {e}"))?;
        Ok((0..rows).map(|i| fnv1a(encoded.row(i).as_ref())).collect())
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether a column type can hold versions.
pub(crate) fn is_version_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int64 | DataType::Int32 | DataType::Timestamp(_, _) | DataType::Utf8
    )
}

/// The version of each row of `column`: integers and timestamps are event
/// times (integers taken as microseconds, which keeps their order), text is
/// `caresync_core::Version`'s canonical form. `first_row` numbers rows in
/// errors.
pub(crate) fn versions(
    column: &ArrayRef,
    name: &str,
    first_row: u64,
) -> Result<Vec<Version>, MergeError> {
    let at = |i: usize| first_row + i as u64;
    let time = |micros: i64| Version::new(EventTime::from_unix_micros(micros), Tiebreaker::None);
    let mut out = Vec::with_capacity(column.len());
    let micros_per = |unit: &TimeUnit| -> (i64, i64) {
        match unit {
            TimeUnit::Second => (1_000_000, 1),
            TimeUnit::Millisecond => (1_000, 1),
            TimeUnit::Microsecond => (1, 1),
            TimeUnit::Nanosecond => (1, 1_000),
        }
    };
    match column.data_type() {
        DataType::Int64 | DataType::Int32 | DataType::Timestamp(_, _) => {
            let (mul, div) = match column.data_type() {
                DataType::Timestamp(unit, _) => micros_per(unit),
                _ => (1, 1),
            };
            let as_i64 =
                deltalake::arrow::compute::cast(column, &DataType::Int64).map_err(|_| {
                    MergeError::BadVersion {
                        row: first_row,
                        column: name.into(),
                    }
                })?;
            let values = as_i64.as_primitive::<Int64Type>();
            for i in 0..values.len() {
                if values.is_null(i) {
                    return Err(MergeError::MissingVersion {
                        row: at(i),
                        column: name.into(),
                    });
                }
                out.push(time(values.value(i).saturating_mul(mul) / div));
            }
        }
        DataType::Utf8 => {
            let values = column.as_string::<i32>();
            for i in 0..values.len() {
                let text = (!values.is_null(i)).then(|| values.value(i));
                out.push(caresync_merge::validate::version_text(at(i), name, text)?);
            }
        }
        _ => {
            return Err(MergeError::BadVersion {
                row: first_row,
                column: name.into(),
            });
        }
    }
    Ok(out)
}

/// The operation of each row: the op column's `insert`, `update` or
/// `delete`, or an upsert for every row when there is no op column.
pub(crate) fn ops(
    column: Option<&ArrayRef>,
    name: &str,
    rows: usize,
) -> Result<Vec<ChangeOp>, MergeError> {
    let Some(column) = column else {
        return Ok(vec![ChangeOp::Update; rows]);
    };
    let Some(values) = column.as_string_opt::<i32>() else {
        return Err(MergeError::BadOp {
            row: 0,
            column: name.into(),
        });
    };
    (0..values.len())
        .map(|i| {
            let text = (!values.is_null(i)).then(|| values.value(i));
            caresync_merge::validate::op(i as u64, name, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::Field;

    use super::*;

    #[test]
    fn key_bytes_sort_like_the_keys_and_fingerprints_see_values_only() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        let codec = Codec::new(&schema, &[0]).expect("supported");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![-5, 3, 3, 1_000])),
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("b"),
                None,
            ])),
        ];
        let rows = codec.key_rows(&codec.key_columns(&columns)).expect("keys");
        let keys: Vec<&[u8]> = (0..4).map(|i| rows.row(i).data()).collect();
        assert!(keys[0] < keys[1] && keys[1] == keys[2] && keys[2] < keys[3]);
        let fp = codec
            .fingerprints(&columns, &[0, 1, 2, 3])
            .expect("fingerprints");
        assert_eq!(fp[1], fp[2]);
        assert_ne!(fp[0], fp[1]);
        assert_ne!(fp[2], fp[3]);
        // Some rows, in the order asked, print as they do among all.
        let some = codec.fingerprints(&columns, &[3, 0]).expect("some");
        assert_eq!(some, vec![fp[3], fp[0]]);
        assert!(codec.fingerprints(&columns, &[4]).is_err(), "past the end");
        // Stable across runs: a fixed value.
        assert_eq!(fnv1a(b"caresync"), fnv1a(b"caresync"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn versions_keep_the_order_of_their_column_and_refuse_nulls() {
        let column: ArrayRef = Arc::new(Int64Array::from(vec![Some(2), Some(10), None]));
        let e = versions(&column, "version", 100).expect_err("a null");
        assert_eq!(
            e.to_string(),
            "MERGE-0002 at row 102, column version: version column is null"
        );
        let column: ArrayRef = Arc::new(Int64Array::from(vec![2, 10, -1]));
        let v = versions(&column, "version", 0).expect("versions");
        assert!(v[2] < v[0] && v[0] < v[1]);
    }
}
