//! The masking hook: a policy that transforms a table's rows before they
//! are written to PostgreSQL.
//!
//! The allow-list (`columns`) decides which columns leave the lake; a
//! [`BatchPolicy`] then decides what their values become (masked,
//! generalised, pseudonymised), for snapshot copies and change syncs alike.
//! The policy sees the served columns only: never the change feed's own
//! columns, never the columns the allow-list keeps out.

use std::fmt;
use std::sync::Arc;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;

/// Why a policy refused a schema or a batch. The text is logged and
/// returned to callers: it must name columns and rules, never a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

/// Transforms a served table's batches before they are written.
///
/// A policy keeps the columns (names and order: dropping a column is the
/// allow-list's work) and the rows (count and order: change rows are
/// matched to their change types by position); it may change values and
/// column types. Key columns it changes must stay unique and stable (a
/// keyed hash, say), or updates and deletes will not find their rows.
///
/// ```
/// use std::sync::Arc;
///
/// use caresync_forward_sync::{BatchPolicy, Policy, PolicyError, TableConfig};
/// use deltalake::arrow::array::{Array, StringArray};
/// use deltalake::arrow::datatypes::SchemaRef;
/// use deltalake::arrow::record_batch::RecordBatch;
///
/// /// Replaces every `name` with "***".
/// struct HideNames;
///
/// impl BatchPolicy for HideNames {
///     fn id(&self) -> String {
///         "hide-names/1".to_owned()
///     }
///     fn schema(&self, served: &SchemaRef) -> Result<SchemaRef, PolicyError> {
///         Ok(served.clone())
///     }
///     fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, PolicyError> {
///         let i = batch.schema().index_of("name").map_err(|_| PolicyError("no column name".into()))?;
///         let names = batch.column(i);
///         let hidden = StringArray::from_iter((0..names.len()).map(|r| names.is_valid(r).then_some("***")));
///         let mut columns = batch.columns().to_vec();
///         columns[i] = Arc::new(hidden);
///         RecordBatch::try_new(batch.schema(), columns).map_err(|_| PolicyError("name".into()))
///     }
/// }
///
/// let table = TableConfig {
///     policy: Policy::new(HideNames),
///     ..TableConfig::new("/lake/patient", "patient", &["id"])
/// };
/// assert!(table.policy.is_set());
/// ```
pub trait BatchPolicy: Send + Sync {
    /// The policy's name and the version of its rules (`"phi-mask/3"`).
    /// It is recorded with the synced version: when it changes, the next
    /// sync copies the whole table again, so that no row written under
    /// other rules stays served.
    fn id(&self) -> String;

    /// The schema of the batches [`BatchPolicy::apply`] returns, given the
    /// served columns' schema. Called at every sync, before anything is
    /// written: an error stops the sync.
    fn schema(&self, served: &SchemaRef) -> Result<SchemaRef, PolicyError>;

    /// `batch` (the served columns) transformed.
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, PolicyError>;

    /// The Delta table (a path or URL) this policy's audit records are
    /// appended to after each sync, if it keeps any.
    fn audit_table(&self) -> Option<&str> {
        None
    }

    /// The audit records of the batches applied since the last call, as
    /// one batch (`None` when there are none).
    fn take_audit(&self) -> Result<Option<RecordBatch>, PolicyError> {
        Ok(None)
    }
}

/// A table's policy, or none (values written as read).
#[derive(Clone, Default)]
pub struct Policy(Option<Arc<dyn BatchPolicy>>);

impl Policy {
    /// `policy` applied to the table's batches.
    pub fn new(policy: impl BatchPolicy + 'static) -> Self {
        Policy(Some(Arc::new(policy)))
    }

    /// Whether a policy is set.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn get(&self) -> Option<&dyn BatchPolicy> {
        self.0.as_deref()
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "Policy(set)"
        } else {
            "Policy(none)"
        })
    }
}

impl PartialEq for Policy {
    /// The same policy object, or none on both sides.
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}
