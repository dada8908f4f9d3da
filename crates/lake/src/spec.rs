//! What a table should look like, and comparing that with what it does look like.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use deltalake::arrow::datatypes::{Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::{DataType, StructType};

use crate::LakeError;

/// The shape of a Delta table: name, columns, partitioning, change data feed,
/// and the storage options used to reach it.
///
/// ```
/// use std::sync::Arc;
/// use caresync_lake::TableSpec;
/// use deltalake::arrow::datatypes::{DataType, Field, Schema};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("patient_id", DataType::Utf8, false),
///     Field::new("ward", DataType::Utf8, true),
/// ]));
/// let spec = TableSpec::new("admissions", schema)
///     .with_partition_columns(["ward"])
///     .with_storage_option("AWS_REGION", "eu-west-1");
/// assert!(spec.change_data_feed());
/// ```
#[derive(Clone)]
pub struct TableSpec {
    name: String,
    schema: SchemaRef,
    partition_columns: Vec<String>,
    change_data_feed: bool,
    deletion_vectors: bool,
    storage_options: HashMap<String, String>,
    properties: BTreeMap<String, String>,
}

impl TableSpec {
    /// A spec for table `name` with `schema`, no partitioning, the change data
    /// feed on and no storage options.
    pub fn new(name: impl Into<String>, schema: SchemaRef) -> Self {
        Self {
            name: name.into(),
            schema,
            partition_columns: Vec::new(),
            change_data_feed: true,
            deletion_vectors: false,
            storage_options: HashMap::new(),
            properties: BTreeMap::new(),
        }
    }

    /// Partitions the table by these columns, in this order.
    #[must_use]
    pub fn with_partition_columns(
        mut self,
        columns: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.partition_columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Turns the change data feed (`delta.enableChangeDataFeed`) on or off for
    /// a table created from this spec. It is on by default.
    #[must_use]
    pub fn with_change_data_feed(mut self, enabled: bool) -> Self {
        self.change_data_feed = enabled;
        self
    }

    /// Turns deletion vectors (`delta.enableDeletionVectors`) on or off for a
    /// table created from this spec. They are off by default.
    ///
    /// With them on, [`crate::LakeTable::merge`] marks the rows it replaces
    /// or deletes in a deletion vector instead of rewriting their files,
    /// and writes only the new rows. The table then needs readers of Delta
    /// reader version 3 with the `deletionVectors` feature (deltalake ≥
    /// 0.19's kernel-based scans, Spark with Delta ≥ 2.3, Databricks,
    /// Trino, DuckDB's delta extension).
    #[must_use]
    pub fn with_deletion_vectors(mut self, enabled: bool) -> Self {
        self.deletion_vectors = enabled;
        self
    }

    /// Sets a table property of the application's own (not a `delta.`
    /// property) recorded in the table's metadata when the table is
    /// created, such as [`crate::PRIMARY_KEY_PROPERTY`].
    #[must_use]
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// The application's table properties.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    /// Replaces the storage options (object_store and deltalake settings such
    /// as `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, `max_retries`).
    #[must_use]
    pub fn with_storage_options(mut self, options: HashMap<String, String>) -> Self {
        self.storage_options = options;
        self
    }

    /// Adds one storage option.
    #[must_use]
    pub fn with_storage_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.storage_options.insert(key.into(), value.into());
        self
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The partition columns.
    pub fn partition_columns(&self) -> &[String] {
        &self.partition_columns
    }

    /// Whether a table created from this spec records a change data feed.
    pub fn change_data_feed(&self) -> bool {
        self.change_data_feed
    }

    /// Whether a table created from this spec uses deletion vectors.
    pub fn deletion_vectors(&self) -> bool {
        self.deletion_vectors
    }

    /// The storage options.
    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.storage_options
    }

    /// The spec's schema as Delta sees it, after checking the spec is usable.
    pub(crate) fn delta_schema(&self) -> Result<StructType, LakeError> {
        let invalid = |detail: String| LakeError::InvalidSpec {
            table: self.name.clone(),
            detail,
        };
        if self.schema.fields().is_empty() {
            return Err(invalid("the schema has no columns".to_owned()));
        }
        let mut seen = BTreeSet::new();
        for field in self.schema.fields() {
            if !seen.insert(field.name().as_str()) {
                return Err(invalid(format!("column {:?} appears twice", field.name())));
            }
        }
        let mut partitions = BTreeSet::new();
        for column in &self.partition_columns {
            if !seen.contains(column.as_str()) {
                return Err(invalid(format!(
                    "partition column {column:?} is not in the schema"
                )));
            }
            if !partitions.insert(column.as_str()) {
                return Err(invalid(format!(
                    "partition column {column:?} appears twice"
                )));
            }
        }
        if partitions.len() == seen.len() {
            return Err(invalid("every column is a partition column".to_owned()));
        }
        to_delta(&self.schema).map_err(invalid)
    }
}

impl fmt::Debug for TableSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Option values may be credentials: show keys only.
        let mut option_keys: Vec<&str> = self.storage_options.keys().map(String::as_str).collect();
        option_keys.sort_unstable();
        f.debug_struct("TableSpec")
            .field("name", &self.name)
            .field("schema", &self.schema)
            .field("partition_columns", &self.partition_columns)
            .field("change_data_feed", &self.change_data_feed)
            .field("deletion_vectors", &self.deletion_vectors)
            .field("storage_option_keys", &option_keys)
            .finish()
    }
}

/// An Arrow schema as Delta types it, or a message naming the column Delta
/// cannot store.
pub(crate) fn to_delta(schema: &Schema) -> Result<StructType, String> {
    // Convert column by column so the message can name the offending one.
    for field in schema.fields() {
        let converted: Result<deltalake::kernel::StructField, _> = field.as_ref().try_into_kernel();
        if converted.is_err() {
            return Err(format!(
                "column {:?} has Arrow type {} which Delta cannot store",
                field.name(),
                field.data_type()
            ));
        }
    }
    schema
        .try_into_kernel()
        .map_err(|_| "the schema cannot be written as a Delta schema".to_owned())
}

/// Which side's nullability must give way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nullability {
    /// `expected` (a spec) is compared with `actual` (an existing table): a
    /// spec may say nullable where the table says NOT NULL, not the reverse.
    SpecAgainstTable,
    /// `expected` (the table) is compared with `actual` (a batch): checked on
    /// the data instead, by [`check_batch`].
    Ignore,
}

/// Compares two Delta schemas and describes every difference, by column name
/// and type. `None` when they agree.
pub(crate) fn describe_differences(
    expected: &StructType,
    actual: &StructType,
    nullability: Nullability,
    expected_side: &str,
    actual_side: &str,
) -> Option<String> {
    let mut problems = Vec::new();
    for field in expected.fields() {
        match actual.field(field.name()) {
            None => problems.push(format!(
                "column {:?} is in the {expected_side} but not in the {actual_side}",
                field.name()
            )),
            Some(other) => {
                if !same_type(field.data_type(), other.data_type()) {
                    problems.push(format!(
                        "column {:?} is {} in the {expected_side} but {} in the {actual_side}",
                        field.name(),
                        field.data_type(),
                        other.data_type()
                    ));
                }
                if nullability == Nullability::SpecAgainstTable
                    && !field.is_nullable()
                    && other.is_nullable()
                {
                    problems.push(format!(
                        "column {:?} is NOT NULL in the {expected_side} but nullable in the {actual_side}",
                        field.name()
                    ));
                }
            }
        }
    }
    for field in actual.fields() {
        if expected.field(field.name()).is_none() {
            problems.push(format!(
                "column {:?} is in the {actual_side} but not in the {expected_side}",
                field.name()
            ));
        }
    }
    if problems.is_empty() {
        let expected_order: Vec<&String> = expected.fields().map(|f| f.name()).collect();
        let actual_order: Vec<&String> = actual.fields().map(|f| f.name()).collect();
        if expected_order != actual_order {
            problems.push(format!(
                "columns are in a different order: {expected_side} has {expected_order:?}, {actual_side} has {actual_order:?}"
            ));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Types equal up to nullability of nested fields and metadata.
fn same_type(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::Struct(a), DataType::Struct(b)) => {
            a.fields().len() == b.fields().len()
                && a.fields()
                    .zip(b.fields())
                    .all(|(x, y)| x.name() == y.name() && same_type(x.data_type(), y.data_type()))
        }
        (DataType::Array(a), DataType::Array(b)) => same_type(a.element_type(), b.element_type()),
        (DataType::Map(a), DataType::Map(b)) => {
            same_type(a.key_type(), b.key_type()) && same_type(a.value_type(), b.value_type())
        }
        _ => a == b,
    }
}

/// Checks that `batches` can be appended to a table whose schema is `table`:
/// same columns, same Delta types, no nulls in NOT NULL columns, and one Arrow
/// schema across the batches.
/// As [`check_batches`], but the batches may end with columns the table
/// lacks, which must be nullable: the table's columns come first, in order.
pub(crate) fn check_batches_adding_columns(
    table: &StructType,
    batches: &[RecordBatch],
    table_url: &str,
) -> Result<(), LakeError> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let known = table.fields().count();
    let schema = first.schema();
    let mismatch = |detail: String| LakeError::SchemaMismatch {
        table: table_url.to_owned(),
        detail,
    };
    if schema.fields().len() < known {
        return Err(mismatch(format!(
            "the batches have {} columns, fewer than the table's {known}",
            schema.fields().len()
        )));
    }
    if let Some(field) = schema.fields()[known..].iter().find(|f| !f.is_nullable()) {
        return Err(mismatch(format!(
            "new column {:?} must be nullable",
            field.name()
        )));
    }
    let projected: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            b.project(&(0..known).collect::<Vec<_>>())
                .map_err(|e| mismatch(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    check_batches(table, &projected, table_url)
}

pub(crate) fn check_batches(
    table: &StructType,
    batches: &[RecordBatch],
    table_url: &str,
) -> Result<(), LakeError> {
    let mismatch = |detail: String| LakeError::SchemaMismatch {
        table: table_url.to_owned(),
        detail,
    };
    let Some(first) = batches.first() else {
        return Ok(());
    };
    for (index, batch) in batches.iter().enumerate().skip(1) {
        if !first.schema().contains(&batch.schema()) {
            return Err(mismatch(format!(
                "batch {index} has a different Arrow schema from batch 0"
            )));
        }
    }
    let batch_schema = to_delta(&first.schema()).map_err(mismatch)?;
    if let Some(detail) =
        describe_differences(table, &batch_schema, Nullability::Ignore, "table", "batch")
    {
        return Err(mismatch(detail));
    }
    for field in table.fields().filter(|f| !f.is_nullable()) {
        let nulls: usize = batches
            .iter()
            .filter_map(|b| b.column_by_name(field.name()))
            .map(|column| column.null_count())
            .sum();
        if nulls > 0 {
            return Err(mismatch(format!(
                "column {:?} is NOT NULL but the batches hold {nulls} null(s) in it",
                field.name()
            )));
        }
    }
    Ok(())
}
