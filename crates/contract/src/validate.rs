//! Validation of Arrow record batches against a contract: per row, the
//! checks it breaks and the column, with stable codes and severities — what
//! routes a record to the dead-letter table.
//!
//! Checks run column by column over the Arrow buffers: null bitmaps for
//! required-ness, value slices for ranges and orders, offsets into the
//! value bytes for strings. A value is tested first and its validity bit
//! read only when the test fails, so null slots cost nothing.

use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{
    Array, GenericStringArray, LargeStringArray, OffsetSizeTrait, RecordBatch, StringArray,
    StringViewArray,
};
use arrow_schema::{DataType, TimeUnit};
use caresync_core::{ErrorClass, ErrorCode};

use crate::model::{Contract, FieldType};
use crate::rule::{Bound, Check, Severity};

/// A required field without a value.
pub const MISSING_REQUIRED: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0100",
    "a required field has no value",
);
/// A value outside its field's code system.
pub const NOT_IN_CODE_SYSTEM: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0101",
    "a value is not a code of its field's code system",
);
/// A value that does not have its field's pattern.
pub const NOT_MATCHING_PATTERN: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0104",
    "a value does not have its field's pattern",
);
/// A null where a `not_null` rule wants a value.
pub const NULL_BY_RULE: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0105",
    "a not_null rule's column has no value",
);
/// A value outside a `range` rule's bounds.
pub const OUT_OF_RANGE: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0106",
    "a value is outside its range rule's bounds",
);
/// A value that is not one of an `allowed` rule's values.
pub const NOT_ALLOWED: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0107",
    "a value is not one of its allowed rule's values",
);
/// Two values out of an `order` rule's order.
pub const OUT_OF_ORDER: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0108",
    "a value comes before the value its order rule puts first",
);
/// A null where a `required_if` rule's condition holds.
pub const MISSING_CONDITIONAL: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0109",
    "a value its required_if rule asks for is missing",
);

/// A batch without a column its contract requires.
pub const MISSING_COLUMN: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0102",
    "the batch has no column for a required field",
);
/// A column whose type cannot hold its field's type.
pub const WRONG_COLUMN_TYPE: ErrorCode = ErrorCode::new(
    ErrorClass::Contract,
    "CONTRACT-0103",
    "a column's type does not hold its field's type",
);

/// Every code a [`Violation`] can carry, for uniqueness checks and
/// documentation. (A batch of the wrong shape is `CONTRACT-0102` or `0103`,
/// a bad contract file `CONTRACT-0001` or `0002`.)
pub const CODES: &[ErrorCode] = &[
    MISSING_REQUIRED,
    NOT_IN_CODE_SYSTEM,
    NOT_MATCHING_PATTERN,
    NULL_BY_RULE,
    OUT_OF_RANGE,
    NOT_ALLOWED,
    OUT_OF_ORDER,
    MISSING_CONDITIONAL,
];

/// One broken check of one row. It names the row, the column, the rule and
/// the code, never a value: violations end up in logs and dead-letter
/// tables.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The row within the batch.
    pub row: usize,
    /// The column (for an `order` rule, its `after` column); shared by
    /// every violation of that column.
    pub column: Arc<str>,
    /// The rule's name; `None` for a field's own checks (required, code
    /// system, pattern).
    pub rule: Option<Arc<str>>,
    /// The check's code.
    pub code: ErrorCode,
    /// The rule's severity; a field's own checks are errors.
    pub severity: Severity,
}

/// What validating one batch found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// Every broken check, by row, then column, then code, then rule.
    pub violations: Vec<Violation>,
    /// Rows in the batch.
    pub rows: usize,
}

impl Validation {
    /// Per row, whether it broke no check of severity error (the mask of
    /// rows to keep; rows with warnings only are kept).
    pub fn passed(&self) -> Vec<bool> {
        let mut keep = vec![true; self.rows];
        for v in self.errors() {
            if let Some(k) = keep.get_mut(v.row) {
                *k = false;
            }
        }
        keep
    }

    /// The violations of severity error: their rows are refused.
    pub fn errors(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Error)
    }

    /// The violations of severity warning: reported, their rows kept.
    pub fn warnings(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Warning)
    }
}

/// A batch that cannot be validated at all: a column the contract names is
/// missing, or has a type the field's type cannot be read from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// The column is missing.
    #[error("[CONTRACT-0102] the batch has no column {column}")]
    MissingColumn {
        /// The column.
        column: String,
    },
    /// The column's Arrow type does not hold the field's type.
    #[error("[CONTRACT-0103] column {column} is {found}, not {expected}")]
    WrongType {
        /// The column.
        column: String,
        /// The contract's type.
        expected: FieldType,
        /// The Arrow type found.
        found: DataType,
    },
}

impl ShapeError {
    /// The stable code: [`MISSING_COLUMN`] or [`WRONG_COLUMN_TYPE`].
    pub fn code(&self) -> ErrorCode {
        match self {
            ShapeError::MissingColumn { .. } => MISSING_COLUMN,
            ShapeError::WrongType { .. } => WRONG_COLUMN_TYPE,
        }
    }
}

/// Checks every row of `batch` against `contract`: each field's own checks
/// (required, code system, pattern; severity error), then each rule.
///
/// A required field's column must be in the batch; an optional field's
/// column may be missing, and then reads as all nulls. Columns the contract
/// does not name are ignored.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{RecordBatch, StringArray};
/// use caresync_contract::{Contract, Severity, validate};
///
/// let contract = Contract::from_toml(r#"
///     entity = "encounter"
///     version = "1.0.0"
///     [[field]]
///     name = "ward"
///     type = "string"
///     [[rule]]
///     name = "ward_recorded"
///     severity = "warning"
///     not_null = "ward"
/// "#, "encounter.toml")?;
/// let batch = RecordBatch::try_from_iter([(
///     "ward",
///     Arc::new(StringArray::from(vec![Some("4WEST"), None])) as _,
/// )])?;
/// let found = validate(&contract, &batch)?;
/// assert_eq!(found.violations.len(), 1);
/// let v = &found.violations[0];
/// assert_eq!((v.row, &*v.column, v.code.code()), (1, "ward", "CONTRACT-0105"));
/// assert_eq!((v.rule.as_deref(), v.severity), (Some("ward_recorded"), Severity::Warning));
/// // A warning keeps its row.
/// assert_eq!(found.passed(), [true, true]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate(contract: &Contract, batch: &RecordBatch) -> Result<Validation, ShapeError> {
    // Each field's column (None: optional and absent) and shared name.
    let mut columns: Vec<Option<&dyn Array>> = Vec::with_capacity(contract.fields.len());
    for field in &contract.fields {
        let column = batch.column_by_name(&field.name).map(|c| &**c);
        match column {
            None if field.required => {
                return Err(ShapeError::MissingColumn {
                    column: field.name.clone(),
                });
            }
            Some(column) if !holds(field.field_type, column.data_type()) => {
                return Err(ShapeError::WrongType {
                    column: field.name.clone(),
                    expected: field.field_type,
                    found: column.data_type().clone(),
                });
            }
            _ => columns.push(column),
        }
    }
    let names: Vec<Arc<str>> = contract
        .fields
        .iter()
        .map(|f| Arc::from(f.name.as_str()))
        .collect();
    let rows = batch.num_rows();
    let mut found = Vec::new();

    for ((field, column), name) in contract.fields.iter().zip(&columns).zip(&names) {
        let Some(column) = *column else { continue };
        let mut report = |row: usize, code: ErrorCode| {
            found.push(Violation {
                row,
                column: Arc::clone(name),
                rule: None,
                code,
                severity: Severity::Error,
            });
        };
        if field.required {
            null_rows(column, |row| report(row, MISSING_REQUIRED));
        }
        if let Some(system) = field.code_system {
            failing_strings(
                column,
                |code| system.accepts_bytes(code),
                |row| report(row, NOT_IN_CODE_SYSTEM),
            );
        }
        if let Some(pattern) = field.pattern {
            failing_strings(
                column,
                |value| pattern.accepts_bytes(value),
                |row| report(row, NOT_MATCHING_PATTERN),
            );
        }
    }

    // A field's index by name; rules only name fields (checked on parse).
    let index = |name: &str| contract.fields.iter().position(|f| f.name == name);
    let column_of = |name: &str| index(name).and_then(|i| columns[i]);
    for rule in &contract.rules {
        let Some(reported) = index(rule.check.column()) else {
            continue;
        };
        let reported = &names[reported];
        let rule_name = Arc::<str>::from(rule.name.as_str());
        let (code, severity) = (rule.check.code(), rule.severity);
        let report = |row: usize| {
            found.push(Violation {
                row,
                column: Arc::clone(reported),
                rule: Some(Arc::clone(&rule_name)),
                code,
                severity,
            });
        };
        match &rule.check {
            Check::NotNull { column } => match column_of(column) {
                Some(values) => null_rows(values, report),
                None => (0..rows).for_each(report),
            },
            Check::Range { column, min, max } => {
                if let Some(values) = column_of(column) {
                    out_of_range(values, *min, *max, report);
                }
            }
            Check::Allowed { column, values } => {
                if let Some(column) = column_of(column) {
                    failing_strings(
                        column,
                        |value| values.iter().any(|v| v.as_bytes() == value),
                        report,
                    );
                }
            }
            Check::Order { before, after } => {
                if let (Some(before), Some(after)) = (column_of(before), column_of(after)) {
                    out_of_order(before, after, report);
                }
            }
            Check::RequiredIf {
                column,
                when,
                equals,
            } => {
                if let Some(when) = column_of(when) {
                    required_if(column_of(column), when, equals.as_bytes(), report);
                }
            }
        }
    }

    found.sort_unstable_by(|a, b| {
        (a.row, &a.column, a.code, &a.rule).cmp(&(b.row, &b.column, b.code, &b.rule))
    });
    Ok(Validation {
        violations: found,
        rows,
    })
}

/// Calls `bad` with each null row of `column`.
fn null_rows(column: &dyn Array, mut bad: impl FnMut(usize)) {
    let Some(nulls) = column.nulls().filter(|n| n.null_count() > 0) else {
        return;
    };
    for row in 0..nulls.len() {
        if nulls.is_null(row) {
            bad(row);
        }
    }
}

/// A string column, as its Arrow array.
enum Strings<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(column: &'a dyn Array) -> Option<Self> {
        if let Some(s) = column.as_string_opt::<i32>() {
            Some(Strings::Utf8(s))
        } else if let Some(s) = column.as_string_opt::<i64>() {
            Some(Strings::Large(s))
        } else {
            column.as_string_view_opt().map(Strings::View)
        }
    }

    /// The bytes at `row`, when it has a value.
    fn get(&self, row: usize) -> Option<&'a [u8]> {
        let (len, nulls) = match self {
            Strings::Utf8(s) => (s.len(), s.nulls()),
            Strings::Large(s) => (s.len(), s.nulls()),
            Strings::View(s) => (s.len(), s.nulls()),
        };
        if row >= len || nulls.is_some_and(|n| n.is_null(row)) {
            return None;
        }
        Some(match self {
            Strings::Utf8(s) => s.value(row).as_bytes(),
            Strings::Large(s) => s.value(row).as_bytes(),
            Strings::View(s) => s.value(row).as_bytes(),
        })
    }
}

/// Calls `bad` with each row of a string column holding a value that fails
/// `test` (given the value's UTF-8 bytes); nulls pass.
fn failing_strings(column: &dyn Array, test: impl Fn(&[u8]) -> bool, mut bad: impl FnMut(usize)) {
    match Strings::of(column) {
        Some(Strings::Utf8(strings)) => failing_offsets(strings, test, bad),
        Some(Strings::Large(strings)) => failing_offsets(strings, test, bad),
        Some(Strings::View(strings)) => {
            let nulls = strings.nulls();
            for row in 0..strings.len() {
                if !test(strings.value(row).as_bytes()) && nulls.is_none_or(|n| n.is_valid(row)) {
                    bad(row);
                }
            }
        }
        None => {}
    }
}

fn failing_offsets<O: OffsetSizeTrait>(
    strings: &GenericStringArray<O>,
    test: impl Fn(&[u8]) -> bool,
    mut bad: impl FnMut(usize),
) {
    let (data, nulls) = (strings.value_data(), strings.nulls());
    for (row, ends) in strings.value_offsets().windows(2).enumerate() {
        let value = data
            .get(ends[0].as_usize()..ends[1].as_usize())
            .unwrap_or_default();
        if !test(value) && nulls.is_none_or(|n| n.is_valid(row)) {
            bad(row);
        }
    }
}

/// A column of ordered values, as its Arrow buffer.
enum Numbers<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
    /// Unscaled, at the field's scale.
    Decimal(&'a [i128]),
    /// Days since 1970-01-01.
    Date(&'a [i32]),
    /// Units since the epoch, and nanoseconds per unit.
    Timestamp(&'a [i64], i128),
}

impl Numbers<'_> {
    /// The value at `row` exactly (timestamps in nanoseconds), for every
    /// kind but floats.
    fn exact(&self, row: usize) -> Option<i128> {
        match self {
            Numbers::I8(v) => v.get(row).map(|&x| i128::from(x)),
            Numbers::I16(v) => v.get(row).map(|&x| i128::from(x)),
            Numbers::I32(v) | Numbers::Date(v) => v.get(row).map(|&x| i128::from(x)),
            Numbers::I64(v) => v.get(row).map(|&x| i128::from(x)),
            Numbers::Decimal(v) => v.get(row).copied(),
            Numbers::Timestamp(v, per) => v.get(row).map(|&x| i128::from(x) * per),
            Numbers::F32(_) | Numbers::F64(_) => None,
        }
    }

    /// The value at `row` of a float column.
    fn float(&self, row: usize) -> Option<f64> {
        match self {
            Numbers::F32(v) => v.get(row).map(|&x| f64::from(x)),
            Numbers::F64(v) => v.get(row).copied(),
            _ => None,
        }
    }
}

fn numbers(column: &dyn Array) -> Option<Numbers<'_>> {
    Some(match column.data_type() {
        DataType::Int8 => Numbers::I8(column.as_primitive::<Int8Type>().values()),
        DataType::Int16 => Numbers::I16(column.as_primitive::<Int16Type>().values()),
        DataType::Int32 => Numbers::I32(column.as_primitive::<Int32Type>().values()),
        DataType::Int64 => Numbers::I64(column.as_primitive::<Int64Type>().values()),
        DataType::Float32 => Numbers::F32(column.as_primitive::<Float32Type>().values()),
        DataType::Float64 => Numbers::F64(column.as_primitive::<Float64Type>().values()),
        DataType::Decimal128(_, _) => {
            Numbers::Decimal(column.as_primitive::<Decimal128Type>().values())
        }
        DataType::Date32 => Numbers::Date(column.as_primitive::<Date32Type>().values()),
        DataType::Timestamp(TimeUnit::Second, _) => Numbers::Timestamp(
            column.as_primitive::<TimestampSecondType>().values(),
            1_000_000_000,
        ),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Numbers::Timestamp(
            column.as_primitive::<TimestampMillisecondType>().values(),
            1_000_000,
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Numbers::Timestamp(
            column.as_primitive::<TimestampMicrosecondType>().values(),
            1_000,
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            Numbers::Timestamp(column.as_primitive::<TimestampNanosecondType>().values(), 1)
        }
        _ => return None,
    })
}

/// Calls `bad` with each row whose value lies outside `min..=max`.
fn out_of_range(
    column: &dyn Array,
    min: Option<Bound>,
    max: Option<Bound>,
    bad: impl FnMut(usize),
) {
    let int = |b: Option<Bound>| match b {
        Some(Bound::Int(i)) => Some(i),
        _ => None,
    };
    let float = |b: Option<Bound>| match b {
        Some(Bound::Float(f)) => Some(f),
        _ => None,
    };
    let decimal = |b: Option<Bound>| match b {
        Some(Bound::Decimal(d)) => Some(d),
        _ => None,
    };
    let date = |b: Option<Bound>| match b {
        Some(Bound::Date(d)) => Some(d),
        _ => None,
    };
    let nanos = |b: Option<Bound>| match b {
        Some(Bound::Timestamp(t)) => Some(t),
        _ => None,
    };
    let valid = |row| column.nulls().is_none_or(|n| n.is_valid(row));
    let Some(values) = numbers(column) else {
        return;
    };
    match values {
        Numbers::I8(v) => outside(v, i64::from, int(min), int(max), valid, bad),
        Numbers::I16(v) => outside(v, i64::from, int(min), int(max), valid, bad),
        Numbers::I32(v) => outside(v, i64::from, int(min), int(max), valid, bad),
        Numbers::I64(v) => outside(v, |x| x, int(min), int(max), valid, bad),
        Numbers::F32(v) => outside(v, f64::from, float(min), float(max), valid, bad),
        Numbers::F64(v) => outside(v, |x| x, float(min), float(max), valid, bad),
        Numbers::Decimal(v) => outside(v, |x| x, decimal(min), decimal(max), valid, bad),
        Numbers::Date(v) => outside(v, |x| x, date(min), date(max), valid, bad),
        Numbers::Timestamp(v, per) => {
            // In the column's unit: v * per >= min exactly when v >= ceil(min / per).
            let least = nanos(min).map(|ns| -(-ns).div_euclid(per));
            let most = nanos(max).map(|ns| ns.div_euclid(per));
            outside(v, i128::from, least, most, valid, bad);
        }
    }
}

fn outside<T: Copy, K: PartialOrd + Copy>(
    values: &[T],
    key: impl Fn(T) -> K,
    min: Option<K>,
    max: Option<K>,
    valid: impl Fn(usize) -> bool,
    mut bad: impl FnMut(usize),
) {
    for (row, &v) in values.iter().enumerate() {
        let k = key(v);
        // Written so that NaN lies inside no range.
        let inside = min.is_none_or(|m| m <= k) && max.is_none_or(|m| k <= m);
        if !inside && valid(row) {
            bad(row);
        }
    }
}

/// Calls `bad` with each row where both columns have values and `before`'s
/// is greater than `after`'s (or either is NaN).
fn out_of_order(before: &dyn Array, after: &dyn Array, bad: impl FnMut(usize)) {
    let valid = |row| {
        before.nulls().is_none_or(|n| n.is_valid(row))
            && after.nulls().is_none_or(|n| n.is_valid(row))
    };
    let (Some(a), Some(b)) = (numbers(before), numbers(after)) else {
        return;
    };
    match (&a, &b) {
        (Numbers::I8(a), Numbers::I8(b)) => unordered(a, b, valid, bad),
        (Numbers::I16(a), Numbers::I16(b)) => unordered(a, b, valid, bad),
        (Numbers::I32(a), Numbers::I32(b)) | (Numbers::Date(a), Numbers::Date(b)) => {
            unordered(a, b, valid, bad);
        }
        (Numbers::I64(a), Numbers::I64(b)) => unordered(a, b, valid, bad),
        (Numbers::F32(a), Numbers::F32(b)) => unordered(a, b, valid, bad),
        (Numbers::F64(a), Numbers::F64(b)) => unordered(a, b, valid, bad),
        (Numbers::Decimal(a), Numbers::Decimal(b)) => unordered(a, b, valid, bad),
        (Numbers::Timestamp(a, p), Numbers::Timestamp(b, q)) if p == q => {
            unordered(a, b, valid, bad);
        }
        // Columns of two Arrow types (an int32 and an int64 column, two
        // timestamp units): value by value, widened.
        _ => {
            let mut bad = bad;
            for row in 0..before.len().min(after.len()) {
                let ordered = match (a.exact(row), b.exact(row)) {
                    (Some(x), Some(y)) => x <= y,
                    _ => match (a.float(row), b.float(row)) {
                        (Some(x), Some(y)) => x <= y,
                        _ => true,
                    },
                };
                if !ordered && valid(row) {
                    bad(row);
                }
            }
        }
    }
}

fn unordered<T: PartialOrd>(
    before: &[T],
    after: &[T],
    valid: impl Fn(usize) -> bool,
    mut bad: impl FnMut(usize),
) {
    for (row, (x, y)) in before.iter().zip(after).enumerate() {
        // False for NaN too.
        let ordered = x <= y;
        if !ordered && valid(row) {
            bad(row);
        }
    }
}

/// Calls `bad` with each row where `when` holds `equals` and `column` (all
/// nulls when absent) has no value.
fn required_if(
    column: Option<&dyn Array>,
    when: &dyn Array,
    equals: &[u8],
    mut bad: impl FnMut(usize),
) {
    match column {
        // No row has the value: every row meeting the condition breaks.
        None => failing_strings(when, |value| value != equals, bad),
        Some(column) => {
            let Some(when) = Strings::of(when) else {
                return;
            };
            null_rows(column, |row| {
                if when.get(row) == Some(equals) {
                    bad(row);
                }
            });
        }
    }
}

/// Whether an Arrow column of `found` holds values of `expected`.
fn holds(expected: FieldType, found: &DataType) -> bool {
    match (expected, found) {
        (FieldType::String, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
        (FieldType::Int32, DataType::Int32 | DataType::Int16 | DataType::Int8) => true,
        (
            FieldType::Int64,
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8,
        ) => true,
        (FieldType::Float32, DataType::Float32) => true,
        (FieldType::Float64, DataType::Float64 | DataType::Float32) => true,
        (FieldType::Decimal { precision, scale }, DataType::Decimal128(p, s)) => {
            i8::try_from(scale).is_ok_and(|scale| *s == scale) && *p <= precision
        }
        (FieldType::Boolean, DataType::Boolean) => true,
        (FieldType::Date, DataType::Date32) => true,
        (FieldType::Timestamp, DataType::Timestamp(_, _)) => true,
        (FieldType::Binary, DataType::Binary | DataType::LargeBinary | DataType::BinaryView) => {
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
        LargeStringArray, StringArray, StringViewArray, TimestampMicrosecondArray,
        TimestampMillisecondArray, TimestampSecondArray,
    };
    use arrow_schema::{Field, Schema};
    use caresync_core::calendar::days_from_civil;

    use super::*;
    use crate::Severity::{Error as E, Warning as W};

    /// (row, column, rule, code, severity)
    type Expected<'a> = (usize, &'a str, Option<&'a str>, &'a str, Severity);

    fn shipped(entity: &str) -> Contract {
        let path = format!(
            "{}/../../contracts/{entity}/1.0.0.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).expect("the shipped contract");
        Contract::from_toml(&text, &format!("{entity}/1.0.0.toml")).expect("valid")
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let schema = Schema::new(
            columns
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(
            Arc::new(schema),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .expect("batch")
    }

    /// Validates `batch` against `contract` and compares every violation.
    fn check_with(
        contract: &Contract,
        batch: &RecordBatch,
        expected: &[Expected<'_>],
    ) -> Validation {
        let result = validate(contract, batch).expect("validated");
        let found: Vec<Expected<'_>> = result
            .violations
            .iter()
            .map(|v| {
                (
                    v.row,
                    &*v.column,
                    v.rule.as_deref(),
                    v.code.code(),
                    v.severity,
                )
            })
            .collect();
        assert_eq!(found, expected);
        result
    }

    /// [`check_with`] for a contract of `spec` (fields and rules).
    fn check(spec: &str, columns: Vec<(&str, ArrayRef)>, expected: &[Expected<'_>]) -> Validation {
        let text = format!("entity = \"t\"\nversion = \"1.0.0\"\n{spec}");
        let contract = Contract::from_toml(&text, "t.toml").expect("valid contract");
        check_with(&contract, &batch(columns), expected)
    }

    fn text(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    /// Seconds from the epoch to `year-month-day` 00:00:00 UTC.
    fn midnight(year: i64, month: i64, day: i64) -> i64 {
        days_from_civil(year, month, day) * 86_400
    }

    #[test]
    fn the_shipped_claim_line_contract_reports_each_row() {
        let lines = batch(vec![
            ("claim_key", text(&[Some("c1"), Some("c1"), None])),
            ("line_number", Arc::new(Int32Array::from(vec![1, 2, 3]))),
            (
                "procedure_code",
                text(&[Some("99213"), Some("9921"), Some("J1885")]),
            ),
            (
                "primary_diagnosis",
                text(&[Some("E11.9"), Some("E11.9"), None]),
            ),
            (
                "allowed_amount",
                Arc::new(
                    Decimal128Array::from(vec![1000, -1, 0])
                        .with_precision_and_scale(12, 2)
                        .expect("decimal"),
                ),
            ),
            (
                "rendering_npi",
                text(&[Some("1234567893"), None, Some("1234567890")]),
            ),
        ]);
        // No service_date column: it reads as nulls, a warning on each row.
        let result = check_with(
            &shipped("claim_line"),
            &lines,
            &[
                (
                    0,
                    "service_date",
                    Some("service_date_recorded"),
                    "CONTRACT-0105",
                    W,
                ),
                (
                    1,
                    "allowed_amount",
                    Some("allowed_amount_not_negative"),
                    "CONTRACT-0106",
                    E,
                ),
                (1, "procedure_code", None, "CONTRACT-0101", E),
                (
                    1,
                    "service_date",
                    Some("service_date_recorded"),
                    "CONTRACT-0105",
                    W,
                ),
                (2, "claim_key", None, "CONTRACT-0100", E),
                (2, "primary_diagnosis", None, "CONTRACT-0100", E),
                (2, "rendering_npi", None, "CONTRACT-0101", E),
                (
                    2,
                    "service_date",
                    Some("service_date_recorded"),
                    "CONTRACT-0105",
                    W,
                ),
            ],
        );
        assert_eq!(result.passed(), [true, false, false]);
        assert_eq!((result.errors().count(), result.warnings().count()), (5, 3));
    }

    #[test]
    fn the_shipped_encounter_contract_reports_each_row() {
        let t = midnight(2024, 3, 1) * 1_000_000;
        let hour = 3_600_000_000;
        let y1900 = midnight(1900, 1, 1) * 1_000_000;
        let micros = |v: Vec<Option<i64>>| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
        };
        let encounters = batch(vec![
            (
                "encounter_id",
                text(&[
                    Some("e0"),
                    Some("e1"),
                    Some("e2"),
                    Some("e3"),
                    Some("e4"),
                    Some("e5"),
                ]),
            ),
            ("mrn", text(&[Some("m"); 6])),
            (
                "admitted_at",
                micros(vec![
                    Some(t),
                    Some(t),
                    Some(t),
                    Some(t),
                    Some(y1900 - 1),
                    Some(y1900),
                ]),
            ),
            (
                "discharged_at",
                micros(vec![
                    Some(t + hour),
                    None,
                    Some(t - 1),
                    None,
                    None,
                    Some(y1900),
                ]),
            ),
            (
                "payer_class",
                text(&[
                    Some("medicare"),
                    Some("self-pay"),
                    Some("commercial"),
                    Some("Medicare"),
                    Some("other"),
                    Some("tricare"),
                ]),
            ),
            (
                "status",
                text(&[
                    Some("finished"),
                    Some("finished"),
                    Some("finished"),
                    Some("in-progress"),
                    Some("done"),
                    Some("finished"),
                ]),
            ),
            (
                "ward",
                text(&[
                    Some("4W"),
                    None,
                    Some("4W"),
                    Some("4W"),
                    Some("4W"),
                    Some("4W"),
                ]),
            ),
        ]);
        let result = check_with(
            &shipped("encounter"),
            &encounters,
            &[
                (
                    1,
                    "discharged_at",
                    Some("discharged_when_finished"),
                    "CONTRACT-0109",
                    E,
                ),
                (1, "ward", Some("ward_recorded"), "CONTRACT-0105", W),
                (
                    2,
                    "discharged_at",
                    Some("discharged_after_admitted"),
                    "CONTRACT-0108",
                    E,
                ),
                (
                    3,
                    "payer_class",
                    Some("payer_class_known"),
                    "CONTRACT-0107",
                    E,
                ),
                (
                    4,
                    "admitted_at",
                    Some("admitted_since_1900"),
                    "CONTRACT-0106",
                    E,
                ),
                (4, "status", Some("status_known"), "CONTRACT-0107", E),
            ],
        );
        assert_eq!(result.passed(), [true, false, false, false, false, true]);
    }

    #[test]
    fn not_null_warns_and_keeps_the_row_and_an_absent_column_is_all_nulls() {
        let spec = r#"
            [[field]]
            name = "id"
            type = "int64"
            required = true
            [[field]]
            name = "ward"
            type = "string"
            [[rule]]
            name = "ward_recorded"
            severity = "warning"
            not_null = "ward"
        "#;
        let ids = || -> ArrayRef { Arc::new(Int64Array::from(vec![1, 2, 3])) };
        let result = check(
            spec,
            vec![("id", ids()), ("ward", text(&[Some("4W"), None, Some("")]))],
            &[(1, "ward", Some("ward_recorded"), "CONTRACT-0105", W)],
        );
        assert_eq!(result.passed(), [true, true, true]);
        assert_eq!((result.errors().count(), result.warnings().count()), (0, 1));
        let result = check(
            spec,
            vec![("id", ids())],
            &[
                (0, "ward", Some("ward_recorded"), "CONTRACT-0105", W),
                (1, "ward", Some("ward_recorded"), "CONTRACT-0105", W),
                (2, "ward", Some("ward_recorded"), "CONTRACT-0105", W),
            ],
        );
        assert_eq!(result.passed(), [true, true, true]);
    }

    #[test]
    fn ranges_are_inclusive_and_let_nulls_pass() {
        let rule = |column: &str, bounds: &str| {
            format!(
                "[[rule]]\nname = \"r\"\nseverity = \"error\"\nrange = {{ column = \"{column}\", {bounds} }}\n"
            )
        };
        let bad = |rows: &[usize], column: &'static str| -> Vec<Expected<'static>> {
            rows.iter()
                .map(|&row| (row, column, Some("r"), "CONTRACT-0106", E))
                .collect()
        };
        // Integers, from an int64 column and from an int32 one.
        let spec = format!(
            "[[field]]\nname = \"n\"\ntype = \"int64\"\n{}",
            rule("n", "min = 0, max = 10")
        );
        let ints = [Some(0), Some(10), Some(-1), Some(11), None];
        check(
            &spec,
            vec![(
                "n",
                Arc::new(Int64Array::from(ints.map(|v| v.map(i64::from)).to_vec())),
            )],
            &bad(&[2, 3], "n"),
        );
        check(
            &spec,
            vec![("n", Arc::new(Int32Array::from(ints.to_vec())))],
            &bad(&[2, 3], "n"),
        );
        // Floats: NaN lies in no range.
        let spec = format!(
            "[[field]]\nname = \"x\"\ntype = \"float64\"\n{}",
            rule("x", "min = 0, max = 1.0")
        );
        let floats = vec![
            Some(0.0),
            Some(1.0),
            Some(f64::NAN),
            Some(1.5),
            Some(-0.0),
            None,
        ];
        check(
            &spec,
            vec![("x", Arc::new(Float64Array::from(floats)))],
            &bad(&[2, 3], "x"),
        );
        // Decimals at the field's scale, bounds as a string and a number.
        let spec = format!(
            "[[field]]\nname = \"amount\"\ntype = \"decimal(10,2)\"\n{}",
            rule("amount", "min = \"0.00\", max = 99.99")
        );
        let amounts =
            Decimal128Array::from(vec![Some(0), Some(9_999), Some(-1), Some(10_000), None])
                .with_precision_and_scale(10, 2)
                .expect("decimal");
        check(
            &spec,
            vec![("amount", Arc::new(amounts))],
            &bad(&[2, 3], "amount"),
        );
        // Dates, bounds as a TOML date and as a string.
        let spec = format!(
            "[[field]]\nname = \"day\"\ntype = \"date\"\n{}",
            rule("day", "min = 2000-01-01, max = \"2000-12-31\"")
        );
        let day = |y, m, d| Some(i32::try_from(days_from_civil(y, m, d)).expect("days"));
        let days = vec![
            day(2000, 1, 1),
            day(2000, 12, 31),
            day(1999, 12, 31),
            day(2001, 1, 1),
            None,
        ];
        check(
            &spec,
            vec![("day", Arc::new(Date32Array::from(days)))],
            &bad(&[2, 3], "day"),
        );
        // Timestamps: bounds between two seconds round inwards; offsets count.
        let spec = format!(
            "[[field]]\nname = \"at\"\ntype = \"timestamp\"\n{}",
            rule(
                "at",
                "min = 2000-01-01T00:00:00.5Z, max = 2000-01-01T01:00:10.5+01:00"
            )
        );
        let t = midnight(2000, 1, 1);
        let seconds = vec![Some(t), Some(t + 1), Some(t + 10), Some(t + 11), None];
        check(
            &spec,
            vec![("at", Arc::new(TimestampSecondArray::from(seconds)))],
            &bad(&[0, 3], "at"),
        );
        let ms = t * 1_000;
        let millis = vec![
            Some(ms + 499),
            Some(ms + 500),
            Some(ms + 10_500),
            Some(ms + 10_501),
        ];
        check(
            &spec,
            vec![("at", Arc::new(TimestampMillisecondArray::from(millis)))],
            &bad(&[0, 3], "at"),
        );
    }

    #[test]
    fn allowed_values_are_exact_in_every_string_layout() {
        let spec = r#"
            [[field]]
            name = "payer"
            type = "string"
            [[rule]]
            name = "payer_known"
            severity = "error"
            allowed = { column = "payer", values = ["medicare", "medicaid"] }
        "#;
        let values = [
            Some("medicare"),
            Some("commercial"),
            None,
            Some("Medicare"),
            Some(""),
        ];
        let expected: Vec<Expected<'_>> = [1, 3, 4]
            .map(|row| (row, "payer", Some("payer_known"), "CONTRACT-0107", E))
            .to_vec();
        for column in [
            text(&values),
            Arc::new(LargeStringArray::from(values.to_vec())) as ArrayRef,
            Arc::new(StringViewArray::from(values.to_vec())) as ArrayRef,
        ] {
            check(spec, vec![("payer", column)], &expected);
        }
    }

    #[test]
    fn order_compares_rows_with_both_values_across_types_and_units() {
        let spec = |ty: &str| {
            format!(
                r#"
                [[field]]
                name = "start"
                type = "{ty}"
                [[field]]
                name = "end"
                type = "{ty}"
                [[rule]]
                name = "ends_after_start"
                severity = "error"
                order = {{ before = "start", after = "end" }}
                "#
            )
        };
        let bad = |rows: &[usize]| -> Vec<Expected<'static>> {
            rows.iter()
                .map(|&row| (row, "end", Some("ends_after_start"), "CONTRACT-0108", E))
                .collect()
        };
        let micros =
            |v: Vec<Option<i64>>| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(v)) };
        check(
            &spec("timestamp"),
            vec![
                (
                    "start",
                    micros(vec![Some(1), Some(2), Some(2), None, Some(1)]),
                ),
                (
                    "end",
                    micros(vec![Some(2), Some(1), Some(2), Some(1), None]),
                ),
            ],
            &bad(&[1]),
        );
        // Milliseconds before microseconds: compared in nanoseconds.
        check(
            &spec("timestamp"),
            vec![
                (
                    "start",
                    Arc::new(TimestampMillisecondArray::from(vec![1, 1])),
                ),
                ("end", micros(vec![Some(999), Some(1_000)])),
            ],
            &bad(&[0]),
        );
        // An int32 column under an int64 field, ordered against an int64 one.
        check(
            &spec("int64"),
            vec![
                ("start", Arc::new(Int32Array::from(vec![5, 4]))),
                ("end", Arc::new(Int64Array::from(vec![4, 4]))),
            ],
            &bad(&[0]),
        );
        check(
            &spec("float64"),
            vec![
                (
                    "start",
                    Arc::new(Float64Array::from(vec![0.5, f64::NAN, 0.5])),
                ),
                ("end", Arc::new(Float64Array::from(vec![0.5, 1.0, 0.25]))),
            ],
            &bad(&[1, 2]),
        );
    }

    #[test]
    fn required_if_asks_for_a_value_only_when_its_condition_holds() {
        let spec = r#"
            [[field]]
            name = "status"
            type = "string"
            [[field]]
            name = "done_at"
            type = "timestamp"
            [[rule]]
            name = "done_has_time"
            severity = "error"
            required_if = { column = "done_at", when = "status", equals = "done" }
        "#;
        let bad = |rows: &[usize]| -> Vec<Expected<'static>> {
            rows.iter()
                .map(|&row| (row, "done_at", Some("done_has_time"), "CONTRACT-0109", E))
                .collect()
        };
        let status = || text(&[Some("done"), Some("done"), Some("open"), None, Some("done")]);
        let done_at = TimestampMicrosecondArray::from(vec![Some(1), None, None, None, None]);
        let result = check(
            spec,
            vec![("status", status()), ("done_at", Arc::new(done_at))],
            &bad(&[1, 4]),
        );
        assert_eq!(result.passed(), [true, false, true, true, false]);
        // Without the column, every row meeting the condition lacks it.
        check(spec, vec![("status", status())], &bad(&[0, 1, 4]));
    }

    #[test]
    fn patterns_check_values_and_let_nulls_pass() {
        let spec = r#"
            [[field]]
            name = "born"
            type = "string"
            pattern = "hl7_date"
            [[field]]
            name = "zip"
            type = "string"
            pattern = "zip"
        "#;
        let born = [
            Some("20240229"),
            Some("20230229"),
            None,
            Some(""),
            Some("19991231"),
        ];
        let zip = [
            Some("02139"),
            Some("02139-4307"),
            Some("2139"),
            None,
            Some("02139-"),
        ];
        check(
            spec,
            vec![
                ("born", Arc::new(StringViewArray::from(born.to_vec()))),
                ("zip", Arc::new(LargeStringArray::from(zip.to_vec()))),
            ],
            &[
                (1, "born", None, "CONTRACT-0104", E),
                (2, "zip", None, "CONTRACT-0104", E),
                (3, "born", None, "CONTRACT-0104", E),
                (4, "zip", None, "CONTRACT-0104", E),
            ],
        );
    }

    #[test]
    fn a_sliced_batch_numbers_its_own_rows() {
        let spec = r#"
            [[field]]
            name = "code"
            type = "string"
            required = true
            code_system = "cpt_hcpcs"
            [[field]]
            name = "n"
            type = "int32"
            [[rule]]
            name = "positive"
            severity = "error"
            range = { column = "n", min = 1 }
        "#;
        let whole = batch(vec![
            (
                "code",
                text(&[Some("x"), None, Some("99213"), Some("bad"), Some("J1885")]),
            ),
            (
                "n",
                Arc::new(Int32Array::from(vec![
                    Some(0),
                    Some(1),
                    Some(0),
                    None,
                    Some(0),
                ])),
            ),
        ]);
        let contract = Contract::from_toml(
            &format!("entity = \"t\"\nversion = \"1.0.0\"\n{spec}"),
            "t.toml",
        )
        .expect("valid");
        check_with(
            &contract,
            &whole.slice(1, 3),
            &[
                (0, "code", None, "CONTRACT-0100", E),
                (1, "n", Some("positive"), "CONTRACT-0106", E),
                (2, "code", None, "CONTRACT-0101", E),
            ],
        );
    }

    #[test]
    fn a_batch_of_the_wrong_shape_is_refused_whole() {
        let claim_line = shipped("claim_line");
        let missing = batch(vec![("claim_key", text(&[Some("c1")]))]);
        let e = validate(&claim_line, &missing).expect_err("columns missing");
        assert!(e.to_string().starts_with("[CONTRACT-0102]"), "{e}");
        let wrong = batch(vec![
            ("claim_key", text(&[Some("c1")])),
            ("line_number", text(&[Some("1")])),
        ]);
        let e = validate(&claim_line, &wrong).expect_err("a text line number");
        assert_eq!(
            e.to_string(),
            "[CONTRACT-0103] column line_number is Utf8, not int32"
        );
    }

    #[test]
    fn codes_are_unique_contract_codes() {
        assert_eq!(caresync_core::check_unique(CODES), Ok(()));
        assert!(CODES.iter().all(|c| c.class() == ErrorClass::Contract));
    }
}
