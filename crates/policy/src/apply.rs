//! Applying a policy to record batches: decided once per request and
//! schema (a [`Plan`]), then run column at a time over each batch.

use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::audit::AuditRecord;
use crate::keys::{KeyError, Keyring};
use crate::mask::{self, Op, TooLarge};
use crate::model::{Condition, ConsentHolds, Literal, Method, Policy};

/// Who asks, for what, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The principal (a user or service name), for the audit record.
    pub principal: String,
    /// The purpose of use (an HL7 v3 `PurposeOfUse` code).
    pub purpose: String,
    /// The principal's role, if the policy distinguishes roles.
    pub role: Option<String>,
    /// When, in microseconds since 1970-01-01 UTC: stamped on the audit
    /// record, and the date ages are counted to.
    pub at_micros: i64,
}

impl Request {
    /// A request of `principal` for `purpose` at `at_micros`.
    pub fn new(principal: &str, purpose: &str, at_micros: i64) -> Self {
        Request {
            principal: principal.to_owned(),
            purpose: purpose.to_owned(),
            role: None,
            at_micros,
        }
    }

    /// The same request in `role`.
    pub fn with_role(mut self, role: &str) -> Self {
        self.role = Some(role.to_owned());
        self
    }

    fn as_of_days(&self) -> i32 {
        i32::try_from(self.at_micros.div_euclid(86_400_000_000)).unwrap_or(i32::MAX)
    }
}

/// A request the policy cannot serve. Names tables, columns, purposes and
/// keys, never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A key is missing or unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The policy does not cover the table: nothing is served.
    #[error("[POLICY-0004] policy {policy} does not cover table {table}")]
    NoTable {
        /// The policy.
        policy: String,
        /// The table.
        table: String,
    },
    /// A column the policy names is missing or of a type its method cannot
    /// mask, or a batch does not have the planned schema.
    #[error("[POLICY-0005] table {table}: column {column}: {reason}")]
    Column {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The policy does not serve the purpose of use.
    #[error("[POLICY-0006] policy {policy} does not serve purpose {purpose}")]
    Purpose {
        /// The policy.
        policy: String,
        /// The purpose (a code the policy file's parser accepted, or the
        /// first 40 characters of the request's).
        purpose: String,
    },
    /// The policy distinguishes roles and the request has none, or one it
    /// does not know: its rules cannot be chosen.
    #[error("[POLICY-0008] policy {policy} does not know role {role}")]
    Role {
        /// The policy.
        policy: String,
        /// The request's role (`(none)` without one; at most 40 characters).
        role: String,
    },
    /// A masked column would exceed Arrow's 2 GiB text column.
    #[error(
        "[POLICY-0007] table {table}: column {column}: masked values exceed 2 GiB; split the batch"
    )]
    TooLarge {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
}

impl ApplyError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApplyError::Key(_) => "POLICY-0003",
            ApplyError::NoTable { .. } => "POLICY-0004",
            ApplyError::Column { .. } => "POLICY-0005",
            ApplyError::Purpose { .. } => "POLICY-0006",
            ApplyError::TooLarge { .. } => "POLICY-0007",
            ApplyError::Role { .. } => "POLICY-0008",
        }
    }
}

/// The decisions for one table, request and schema: each column's method
/// and the row filters that apply. Made once, applied to many batches.
#[derive(Clone, Debug)]
pub struct Plan {
    table: String,
    policy: String,
    policy_version: String,
    request: Request,
    input: SchemaRef,
    output: SchemaRef,
    ops: Vec<Op>,
    methods: Vec<Method>,
    row_tests: Vec<RowTest>,
}

#[derive(Clone, Debug)]
enum RowTest {
    Consent { column: usize, holds: ConsentHolds },
    Drop { column: usize, condition: Condition },
}

/// One batch after the policy: the rows served, masked, and the audit
/// record of the decision.
#[derive(Debug)]
#[non_exhaustive]
pub struct Masked {
    /// The rows served, with masked columns.
    pub batch: RecordBatch,
    /// What was done.
    pub audit: AuditRecord,
}

impl Policy {
    /// Decides, for `request` on `table` with `schema`, each column's
    /// method and the row filters; checks every key is in `keys`. Errors
    /// name what is missing; nothing is ever served unmasked instead.
    pub fn plan(
        &self,
        table: &str,
        schema: &SchemaRef,
        request: &Request,
        keys: &Keyring,
    ) -> Result<Plan, ApplyError> {
        if !self.purposes.contains(&request.purpose) {
            return Err(ApplyError::Purpose {
                policy: self.name.clone(),
                purpose: request.purpose.chars().take(40).collect(),
            });
        }
        if !self.roles.is_empty()
            && !request
                .role
                .as_ref()
                .is_some_and(|r| self.roles.contains(r))
        {
            return Err(ApplyError::Role {
                policy: self.name.clone(),
                role: request
                    .role
                    .as_deref()
                    .map_or_else(|| "(none)".to_owned(), |r| r.chars().take(40).collect()),
            });
        }
        let spec = self.table(table).ok_or_else(|| ApplyError::NoTable {
            policy: self.name.clone(),
            table: table.to_owned(),
        })?;
        let column_error = |column: &str, reason: String| ApplyError::Column {
            table: table.to_owned(),
            column: column.to_owned(),
            reason,
        };
        let index_of = |column: &str| {
            schema
                .index_of(column)
                .map_err(|_| column_error(column, "not in the batch".to_owned()))
        };
        // Every column a rule names must exist, even where another rule
        // decides it: a typo is an error, never a silently unmasked column.
        for rule in &spec.rules {
            for column in &rule.columns {
                index_of(column)?;
            }
        }
        let role = request.role.as_deref();
        let mut ops = Vec::with_capacity(schema.fields().len());
        let mut methods = Vec::with_capacity(schema.fields().len());
        let mut fields = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let method = spec.decide(field.name(), &request.purpose, role);
            mask::suits(method, field.data_type())
                .map_err(|why| column_error(field.name(), format!("{method}: {why}")))?;
            let key = |name: &str| {
                keys.get(name)
                    .cloned()
                    .ok_or_else(|| KeyError::Unavailable {
                        name: name.to_owned(),
                        origin: self
                            .keys
                            .get(name)
                            .map_or_else(|| "the policy".to_owned(), ToString::to_string),
                        reason: "not in the keyring".to_owned(),
                    })
            };
            let op = match method {
                Method::Keep => Op::Keep,
                Method::Null => Op::Null,
                Method::Redact { with } => Op::Redact(with.clone()),
                Method::Hash { key: k } => Op::Hash(key(k)?),
                Method::Tokenize { key: k } => Op::Tokenize(key(k)?),
                Method::Generalize(g) => Op::Generalize(*g),
                Method::DateShift {
                    key: k,
                    by,
                    max_days,
                } => {
                    let by_index = index_of(by)?;
                    if !mask::is_identifier(schema.field(by_index).data_type()) {
                        return Err(column_error(
                            by,
                            "date_shift's patient column must be text, binary or integer"
                                .to_owned(),
                        ));
                    }
                    Op::DateShift {
                        key: key(k)?,
                        by: by_index,
                        max_days: *max_days,
                    }
                }
                Method::Substitute { values, key: k } => Op::Substitute {
                    values: values.clone(),
                    key: k.as_deref().map(key).transpose()?,
                },
            };
            let output = Field::new(
                field.name(),
                mask::output_type(method, field.data_type()),
                field.is_nullable() || !matches!(method, Method::Keep),
            )
            .with_metadata(field.metadata().clone());
            fields.push(output);
            ops.push(op);
            methods.push(method.clone());
        }
        let mut row_tests = Vec::new();
        if let Some(consent) = &spec.consent {
            let column = index_of(&consent.column)?;
            let ok = match schema.field(column).data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
                DataType::List(item) | DataType::LargeList(item) => {
                    matches!(item.data_type(), DataType::Utf8)
                }
                _ => false,
            };
            if !ok {
                return Err(column_error(
                    &consent.column,
                    "a consent column is text or a list of text".to_owned(),
                ));
            }
            row_tests.push(RowTest::Consent {
                column,
                holds: consent.holds,
            });
        }
        for filter in spec
            .filters
            .iter()
            .filter(|f| f.applies(&request.purpose, role))
        {
            let column = index_of(&filter.column)?;
            let data_type = schema.field(column).data_type();
            let literal_fits = |l: &Literal| match l {
                Literal::String(_) => matches!(
                    data_type,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ),
                Literal::Bool(_) => *data_type == DataType::Boolean,
                Literal::Int(_) => matches!(data_type, DataType::Int32 | DataType::Int64),
            };
            let fits = match &filter.condition {
                Condition::Equals(l) => literal_fits(l),
                Condition::In(ls) => ls.iter().all(literal_fits),
                Condition::IsNull => true,
            };
            if !fits {
                return Err(column_error(
                    &filter.column,
                    format!("the filter's literal does not fit a {data_type} column"),
                ));
            }
            row_tests.push(RowTest::Drop {
                column,
                condition: filter.condition.clone(),
            });
        }
        Ok(Plan {
            table: table.to_owned(),
            policy: self.name.clone(),
            policy_version: self.version.to_string(),
            request: request.clone(),
            input: schema.clone(),
            output: Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
            ops,
            methods,
            row_tests,
        })
    }
}

impl Plan {
    /// The schema of the masked batches.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    /// Whether consent or a row filter may withhold rows of this plan's
    /// batches (callers that must keep every row, such as change feeds
    /// matched by position, refuse such plans).
    pub fn withholds_rows(&self) -> bool {
        !self.row_tests.is_empty()
    }

    /// Each column's method, in schema order.
    pub fn methods(&self) -> impl Iterator<Item = (&str, &Method)> {
        self.input
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .zip(&self.methods)
    }

    /// Whether batches of `schema` can be masked by this plan: the same
    /// column names and Arrow types, in order. Nullability and metadata may
    /// differ between readers of one table.
    pub fn check_schema(&self, schema: &Schema) -> Result<(), ApplyError> {
        if schema.fields().len() != self.input.fields().len() {
            return Err(ApplyError::Column {
                table: self.table.clone(),
                column: "*".to_owned(),
                reason: format!(
                    "the batch has {} columns, the plan {}",
                    schema.fields().len(),
                    self.input.fields().len()
                ),
            });
        }
        for (found, planned) in schema.fields().iter().zip(self.input.fields()) {
            if found.name() != planned.name() || found.data_type() != planned.data_type() {
                return Err(ApplyError::Column {
                    table: self.table.clone(),
                    column: planned.name().clone(),
                    reason: format!(
                        "planned as {}, the batch has {} {}",
                        planned.data_type(),
                        found.name(),
                        found.data_type()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Withholds the rows consent or a filter excludes, then masks every
    /// column. Deterministic: the same batch, keys and plan give the same
    /// output.
    pub fn apply(&self, batch: &RecordBatch) -> Result<Masked, ApplyError> {
        self.check_schema(&batch.schema())?;
        let rows_in = batch.num_rows();
        let mut keep = vec![true; rows_in];
        let mut dropped_by_consent = 0;
        let mut dropped_by_filter = 0;
        for test in &self.row_tests {
            match test {
                RowTest::Consent { column, holds } => {
                    dropped_by_consent += consent_test(
                        batch.column(*column),
                        *holds,
                        &self.request.purpose,
                        &mut keep,
                    );
                }
                RowTest::Drop { column, condition } => {
                    dropped_by_filter += drop_test(batch.column(*column), condition, &mut keep);
                }
            }
        }
        let served = if keep.iter().all(|k| *k) {
            batch.clone()
        } else {
            arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep)).map_err(
                |e| ApplyError::Column {
                    table: self.table.clone(),
                    column: "*".to_owned(),
                    reason: format!("filtering rows failed: {e}"),
                },
            )?
        };
        let as_of = self.request.as_of_days();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter().enumerate() {
            let masked =
                mask::apply(op, served.column(i), served.columns(), as_of).map_err(|TooLarge| {
                    ApplyError::TooLarge {
                        table: self.table.clone(),
                        column: self.input.field(i).name().clone(),
                    }
                })?;
            columns.push(masked);
        }
        let rows_out = served.num_rows();
        // A column the plan kept as non-nullable may hold nulls in this
        // batch (readers differ on nullability): the output says so.
        let output = if columns
            .iter()
            .zip(self.output.fields())
            .any(|(c, f)| !f.is_nullable() && c.null_count() > 0)
        {
            let fields: Vec<Field> = columns
                .iter()
                .zip(self.output.fields())
                .map(|(c, f)| {
                    f.as_ref()
                        .clone()
                        .with_nullable(f.is_nullable() || c.null_count() > 0)
                })
                .collect();
            Arc::new(Schema::new_with_metadata(
                fields,
                self.output.metadata().clone(),
            ))
        } else {
            self.output.clone()
        };
        let batch = RecordBatch::try_new(output, columns).map_err(|e| ApplyError::Column {
            table: self.table.clone(),
            column: "*".to_owned(),
            reason: format!("the masked batch is inconsistent: {e}"),
        })?;
        let masked_columns = self
            .methods()
            .filter(|(_, m)| !matches!(m, Method::Keep))
            .map(|(c, m)| format!("{c}={m}"))
            .collect();
        Ok(Masked {
            batch,
            audit: AuditRecord {
                at_micros: self.request.at_micros,
                principal: self.request.principal.clone(),
                role: self.request.role.clone(),
                purpose: self.request.purpose.clone(),
                table: self.table.clone(),
                policy: self.policy.clone(),
                policy_version: self.policy_version.clone(),
                masked_columns,
                rows_in: rows_in as u64,
                rows_dropped_by_consent: dropped_by_consent,
                rows_dropped_by_filter: dropped_by_filter,
                rows_out: rows_out as u64,
            },
        })
    }
}

/// Clears `keep` where the row's consent excludes `purpose`; returns how
/// many rows it newly withheld.
fn consent_test(column: &ArrayRef, holds: ConsentHolds, purpose: &str, keep: &mut [bool]) -> u64 {
    let nulls = column.logical_nulls();
    let lists = |i: usize| -> Option<bool> {
        if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            return None;
        }
        // Codes are separated by anything but letters and digits, and
        // compared without regard to case: an exclusion is never missed
        // for its spelling.
        let listed = |text: &str| {
            text.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|code| code.eq_ignore_ascii_case(purpose))
        };
        Some(match column.data_type() {
            DataType::Utf8 => listed(column.as_string::<i32>().value(i)),
            DataType::LargeUtf8 => listed(column.as_string::<i64>().value(i)),
            DataType::Utf8View => listed(column.as_string_view().value(i)),
            DataType::List(_) => {
                let item = column.as_list::<i32>().value(i);
                let item = item.as_string::<i32>();
                item.iter()
                    .any(|c| c.is_some_and(|c| c.trim().eq_ignore_ascii_case(purpose)))
            }
            _ => {
                let item = column.as_list::<i64>().value(i);
                let item = item.as_string::<i32>();
                item.iter()
                    .any(|c| c.is_some_and(|c| c.trim().eq_ignore_ascii_case(purpose)))
            }
        })
    };
    let mut dropped = 0;
    for (i, k) in keep.iter_mut().enumerate() {
        let served = match (holds, lists(i)) {
            (ConsentHolds::Excluded, listed) => listed != Some(true),
            (ConsentHolds::Permitted, listed) => listed == Some(true),
        };
        if *k && !served {
            *k = false;
            dropped += 1;
        }
    }
    dropped
}

/// Clears `keep` where `condition` holds; returns how many rows it newly
/// withheld.
fn drop_test(column: &ArrayRef, condition: &Condition, keep: &mut [bool]) -> u64 {
    let nulls = column.logical_nulls();
    let is_null = |i: usize| nulls.as_ref().is_some_and(|n| n.is_null(i));
    let equals = |i: usize, literal: &Literal| -> bool {
        if is_null(i) {
            return false;
        }
        match (literal, column.data_type()) {
            (Literal::String(s), DataType::Utf8) => column.as_string::<i32>().value(i) == s,
            (Literal::String(s), DataType::LargeUtf8) => column.as_string::<i64>().value(i) == s,
            (Literal::String(s), DataType::Utf8View) => column.as_string_view().value(i) == s,
            (Literal::Bool(b), DataType::Boolean) => column.as_boolean().value(i) == *b,
            (Literal::Int(n), DataType::Int32) => {
                i64::from(column.as_primitive::<Int32Type>().value(i)) == *n
            }
            (Literal::Int(n), DataType::Int64) => column.as_primitive::<Int64Type>().value(i) == *n,
            _ => false,
        }
    };
    let mut dropped = 0;
    for (i, k) in keep.iter_mut().enumerate() {
        let drop = match condition {
            Condition::Equals(l) => equals(i, l),
            Condition::In(ls) => ls.iter().any(|l| equals(i, l)),
            Condition::IsNull => is_null(i),
        };
        if *k && drop {
            *k = false;
            dropped += 1;
        }
    }
    dropped
}
