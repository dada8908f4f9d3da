//! The audit record of each application of a policy, and its Arrow form,
//! which callers append to a Delta audit table.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

/// Who asked for which table, for what purpose, under which policy, and
/// what was withheld or masked. Holds names and counts, never a value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When (microseconds since 1970-01-01 UTC).
    pub at_micros: i64,
    /// The principal.
    pub principal: String,
    /// The principal's role.
    pub role: Option<String>,
    /// The purpose of use.
    pub purpose: String,
    /// The table.
    pub table: String,
    /// The policy's name.
    pub policy: String,
    /// The policy's version.
    pub policy_version: String,
    /// Each column not served as stored, as `column=method`.
    pub masked_columns: Vec<String>,
    /// Rows in the batch.
    pub rows_in: u64,
    /// Rows withheld because consent excludes the purpose.
    pub rows_dropped_by_consent: u64,
    /// Rows withheld by a row filter.
    pub rows_dropped_by_filter: u64,
    /// Rows served.
    pub rows_out: u64,
}

/// The schema of [`to_batch`]: `at` (timestamp, UTC), `principal`, `role`,
/// `purpose`, `table`, `policy`, `policy_version`, `masked_columns`
/// (list of text), `rows_in`, `rows_dropped_by_consent`,
/// `rows_dropped_by_filter`, `rows_out` (64-bit integers: Delta Lake has
/// no unsigned types).
pub fn schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let count = |name: &str| Field::new(name, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("principal", false),
        text("role", true),
        text("purpose", false),
        text("table", false),
        text("policy", false),
        text("policy_version", false),
        Field::new(
            "masked_columns",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        count("rows_in"),
        count("rows_dropped_by_consent"),
        count("rows_dropped_by_filter"),
        count("rows_out"),
    ]))
}

/// Audit records as one batch with [`schema`].
pub fn to_batch(records: &[AuditRecord]) -> Result<RecordBatch, ArrowError> {
    let text = |f: fn(&AuditRecord) -> Option<&str>| -> ArrayRef {
        Arc::new(records.iter().map(f).collect::<StringArray>())
    };
    let count = |f: fn(&AuditRecord) -> u64| -> ArrayRef {
        Arc::new(
            records
                .iter()
                .map(|r| i64::try_from(f(r)).unwrap_or(i64::MAX))
                .collect::<Int64Array>(),
        )
    };
    let mut masked = ListBuilder::new(StringBuilder::new());
    for r in records {
        for c in &r.masked_columns {
            masked.values().append_value(c);
        }
        masked.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(records.iter().map(|r| r.at_micros))
                .with_timezone("UTC"),
        ),
        text(|r| Some(&r.principal)),
        text(|r| r.role.as_deref()),
        text(|r| Some(&r.purpose)),
        text(|r| Some(&r.table)),
        text(|r| Some(&r.policy)),
        text(|r| Some(&r.policy_version)),
        Arc::new(masked.finish()),
        count(|r| r.rows_in),
        count(|r| r.rows_dropped_by_consent),
        count(|r| r.rows_dropped_by_filter),
        count(|r| r.rows_out),
    ];
    RecordBatch::try_new(schema(), columns)
}
