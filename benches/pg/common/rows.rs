//! The rows both the snapshot bench and the `snapshot_steps` example load:
//! `id` (bigint key), three more bigints, two doubles, three short texts
//! (8–24 bytes) and a timestamp with time zone.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub(crate) const ROWS: i64 = 1_000_000;
const BATCH: i64 = 65_536;

/// The 1,000,000 rows, in batches of 65,536.
pub(crate) fn batches() -> Vec<RecordBatch> {
    (0..ROWS)
        .step_by(BATCH as usize)
        .map(|s| batch(s, BATCH.min(ROWS - s)))
        .collect()
}

pub(crate) fn schema() -> SchemaRef {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    for i in 1..=3 {
        fields.push(Field::new(format!("n{i}"), DataType::Int64, true));
    }
    for i in 1..=2 {
        fields.push(Field::new(format!("f{i}"), DataType::Float64, true));
    }
    for i in 1..=3 {
        fields.push(Field::new(format!("s{i}"), DataType::Utf8, true));
    }
    fields.push(Field::new(
        "at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    Arc::new(Schema::new(fields))
}

pub(crate) fn batch(start: i64, len: i64) -> RecordBatch {
    let ids = start..start + len;
    let ints = |k: i64| {
        Arc::new(Int64Array::from_iter_values(
            ids.clone().map(move |i| i * k % 1_000_003),
        ))
    };
    let floats = |k: f64| {
        Arc::new(Float64Array::from_iter_values(
            ids.clone().map(move |i| i as f64 * k),
        ))
    };
    let texts = |prefix: &'static str| {
        Arc::new(StringArray::from_iter_values(ids.clone().map(move |i| {
            format!("{prefix}{:0w$}", i, w = (8 + i % 16) as usize)
        })))
    };
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            ints(7),
            ints(13),
            ints(31),
            floats(0.5),
            floats(1.25),
            texts("a"),
            texts("bb"),
            texts("ccc"),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    ids.clone().map(|i| 1_700_000_000_000_000 + i * 1_000),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .expect("batch")
}
