//! Validation of Arrow record batches against a contract: per row, the
//! rules it breaks and the column, with stable codes — what routes a record
//! to the dead-letter table.

use arrow_array::cast::AsArray as _;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use caresync_core::{ErrorClass, ErrorCode};

use crate::model::{Contract, FieldType};

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

/// One broken rule of one row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The row within the batch.
    pub row: usize,
    /// The column.
    pub column: String,
    /// The rule's code.
    pub code: ErrorCode,
}

/// What validating one batch found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// Every broken rule, by row then column.
    pub violations: Vec<Violation>,
    /// Rows in the batch.
    pub rows: usize,
}

impl Validation {
    /// Per row, whether it passed every rule (the mask of rows to keep).
    pub fn passed(&self) -> Vec<bool> {
        let mut keep = vec![true; self.rows];
        for v in &self.violations {
            if let Some(k) = keep.get_mut(v.row) {
                *k = false;
            }
        }
        keep
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

/// Checks every row of `batch` against `contract`: required fields have a
/// value, coded fields hold codes of their system. Column by column, over
/// the Arrow arrays (null bitmaps for required-ness).
pub fn validate(contract: &Contract, batch: &RecordBatch) -> Result<Validation, ShapeError> {
    let mut violations = Vec::new();
    for field in &contract.fields {
        let Some(column) = batch.column_by_name(&field.name) else {
            if field.required {
                return Err(ShapeError::MissingColumn {
                    column: field.name.clone(),
                });
            }
            continue;
        };
        if !holds(field.field_type, column.data_type()) {
            return Err(ShapeError::WrongType {
                column: field.name.clone(),
                expected: field.field_type,
                found: column.data_type().clone(),
            });
        }
        if field.required && column.null_count() > 0 {
            for row in (0..column.len()).filter(|r| column.is_null(*r)) {
                violations.push(Violation {
                    row,
                    column: field.name.clone(),
                    code: MISSING_REQUIRED,
                });
            }
        }
        if let Some(system) = field.code_system {
            let mut check = |row: usize, code: &str| {
                if !system.accepts(code) {
                    violations.push(Violation {
                        row,
                        column: field.name.clone(),
                        code: NOT_IN_CODE_SYSTEM,
                    });
                }
            };
            if let Some(strings) = column.as_string_opt::<i32>() {
                for (row, code) in strings.iter().enumerate() {
                    if let Some(code) = code {
                        check(row, code);
                    }
                }
            } else if let Some(strings) = column.as_string_view_opt() {
                for (row, code) in strings.iter().enumerate() {
                    if let Some(code) = code {
                        check(row, code);
                    }
                }
            }
        }
    }
    violations.sort_by(|a, b| (a.row, &a.column).cmp(&(b.row, &b.column)));
    Ok(Validation {
        violations,
        rows: batch.num_rows(),
    })
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

    use arrow_array::{ArrayRef, Int32Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    fn claim_line() -> Contract {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contracts/claim_line/1.0.0.toml"
        ))
        .expect("the shipped contract");
        Contract::from_toml(&text, "claim_line/1.0.0.toml").expect("valid")
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

    #[test]
    fn rows_breaking_rules_are_named_with_column_and_code() {
        let lines = batch(vec![
            (
                "claim_key",
                Arc::new(StringArray::from(vec![Some("c1"), Some("c1"), None])),
            ),
            ("line_number", Arc::new(Int32Array::from(vec![1, 2, 3]))),
            (
                "procedure_code",
                Arc::new(StringArray::from(vec!["99213", "9921", "J1885"])),
            ),
            (
                "primary_diagnosis",
                Arc::new(StringArray::from(vec![Some("E11.9"), Some("E11.9"), None])),
            ),
            (
                "allowed_amount",
                Arc::new(
                    arrow_array::Decimal128Array::from(vec![1000, 2000, 3000])
                        .with_precision_and_scale(12, 2)
                        .expect("decimal"),
                ),
            ),
            (
                "rendering_npi",
                Arc::new(StringArray::from(vec![
                    Some("1234567893"),
                    None,
                    Some("1234567890"),
                ])),
            ),
        ]);
        let result = validate(&claim_line(), &lines).expect("validated");
        let found: Vec<(usize, &str, &str)> = result
            .violations
            .iter()
            .map(|v| (v.row, v.column.as_str(), v.code.code()))
            .collect();
        assert_eq!(
            found,
            [
                (1, "procedure_code", "CONTRACT-0101"),
                (2, "claim_key", "CONTRACT-0100"),
                (2, "primary_diagnosis", "CONTRACT-0100"),
                (2, "rendering_npi", "CONTRACT-0101"),
            ]
        );
        assert_eq!(result.passed(), [true, false, false]);
        assert_eq!(MISSING_REQUIRED.class(), ErrorClass::Contract);
    }

    #[test]
    fn a_batch_of_the_wrong_shape_is_refused_whole() {
        let missing = batch(vec![("claim_key", Arc::new(StringArray::from(vec!["c1"])))]);
        let e = validate(&claim_line(), &missing).expect_err("columns missing");
        assert!(e.to_string().starts_with("[CONTRACT-0102]"), "{e}");
        let wrong = batch(vec![
            ("claim_key", Arc::new(StringArray::from(vec!["c1"]))),
            ("line_number", Arc::new(StringArray::from(vec!["1"]))),
        ]);
        let e = validate(&claim_line(), &wrong).expect_err("a text line number");
        assert_eq!(
            e.to_string(),
            "[CONTRACT-0103] column line_number is Utf8, not int32"
        );
    }
}
