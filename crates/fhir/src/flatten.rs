//! Flattening FHIR JSON resources into Arrow record batches, one table per
//! resource type.
//!
//! ```
//! use caresync_fhir::flatten::{Flattener, ResourceTable};
//!
//! let mut f = Flattener::new(ResourceTable::Encounter);
//! f.push(r#"{"resourceType":"Encounter","id":"e1","status":"finished",
//!            "subject":{"reference":"Patient/p1"},
//!            "period":{"start":"2020-03-01T10:00:00-04:00"}}"#)?;
//! assert!(f.push(r#"{"resourceType":"Patient","id":"p1"}"#).is_err());
//! let batch = f.finish();
//! assert_eq!(batch.num_rows(), 1);
//! assert!(batch.column_by_name("subject_id").is_some());
//! # Ok::<(), caresync_fhir::flatten::FlattenError>(())
//! ```
//!
//! # How a resource becomes a row
//!
//! Each line is deserialized into a purpose-built borrowed model of the
//! elements a table flattens; every other element is skipped without being
//! allocated, and the whole resource is kept in `resource_json`. A row is
//! staged completely (JSON parsed, dates converted) before anything is
//! appended, so a refused row leaves the batch as it was.
//!
//! Rules:
//!
//! - **Absent means null.** An element missing from the resource is a null
//!   cell; arrays that are absent are null lists.
//! - **First of a repetition.** Where a column reads one value from a
//!   repeating element (`coding`, `type`, `reasonCode`, `name`, `address`)
//!   it takes the first one, written `.first()` below.
//! - **Codes.** A CodeableConcept `x` gives `x_code`, `x_system`,
//!   `x_display` (of its first coding) and `x_text` (the table's main
//!   `code` element gives `code`, `code_system`, `code_display`,
//!   `code_text`).
//! - **References as ids.** `Type/id`, `http://base/Type/id` and
//!   `…/Type/id/_history/v` give `id`; `urn:uuid:x` and `urn:oid:x` give `x`;
//!   conditional (`Type?search`) and contained (`#x`) references give null.
//!   The referenced type is not checked.
//! - **Times.** `dateTime` and `instant` become `Timestamp(µs, UTC)`: a
//!   partial value stands for the **start** of its period (`2020` is
//!   2020-01-01T00:00:00Z, `2020-03` is 2020-03-01T00:00:00Z); an offset is
//!   applied to reach UTC; a value without offset (dates only) is UTC;
//!   digits past microseconds are dropped. `date` (`birthDate`) becomes
//!   `Date32` with the same start-of-period rule. A malformed value refuses
//!   the row (`FHIR-0103`). Choice elements (`effective[x]`, `onset[x]`,
//!   `performed[x]`) fill one `_start` column from whichever of
//!   `xDateTime`, `xInstant`, `xPeriod.start` is present.
//! - **Decimals** (`valueQuantity.value`, money amounts) are read as
//!   `Float64`; the exact text stays in `resource_json`.
//!
//! # Errors
//!
//! [`FlattenError`] names the row (the zero-based index of the `push` call
//! on its [`Flattener`]), the JSON path (`$.subject.reference`,
//! `$.identifier[2].value`) and a [`ErrorCode`] from [`CODES`]. Its
//! messages are built from the path and the rule only, never from the
//! resource's values.
//!
//! # Schemas
//!
//! Every column is nullable. Sources are FHIRPath expressions on the
//! resource.
#![doc = include_str!("flatten/schemas.md")]

mod columns;
mod json;
mod tables;

use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use caresync_core::{ErrorClass, ErrorCode, Location, Rejection};
use serde::Deserialize;

use self::columns::{Builders, ColumnSpec};
use self::tables::{BadValue, Fill, Row};

/// The input is not well-formed JSON.
pub const INVALID_JSON: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "FHIR-0100",
    "resource is not well-formed JSON",
);
/// A JSON value has the wrong type for its FHIR element (or the resource is
/// not a JSON object).
pub const WRONG_JSON_TYPE: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "FHIR-0101",
    "JSON value has the wrong type for its FHIR element",
);
/// `resourceType` is missing or names another table's type.
pub const WRONG_RESOURCE_TYPE: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "FHIR-0102",
    "resourceType is missing or does not match the table",
);
/// A `date`, `dateTime` or `instant` is malformed.
pub const BAD_DATE_TIME: ErrorCode = ErrorCode::new(
    ErrorClass::Parse,
    "FHIR-0103",
    "FHIR date, dateTime or instant is malformed",
);

/// Every code this module raises.
pub const CODES: &[ErrorCode] = &[
    INVALID_JSON,
    WRONG_JSON_TYPE,
    WRONG_RESOURCE_TYPE,
    BAD_DATE_TIME,
];

/// Rows per batch unless [`Flattener::with_batch_rows`] says otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 8192;

/// The last column of every table: the whole resource's JSON, as received.
pub const RESOURCE_JSON_COLUMN: &str = "resource_json";

/// A lake table: one per FHIR resource type served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ResourceTable {
    /// `Patient`.
    Patient,
    /// `Encounter`.
    Encounter,
    /// `Observation`.
    Observation,
    /// `Condition`.
    Condition,
    /// `Procedure`.
    Procedure,
    /// `MedicationRequest`.
    MedicationRequest,
    /// `AllergyIntolerance`.
    AllergyIntolerance,
    /// `Immunization`.
    Immunization,
    /// `Coverage`.
    Coverage,
    /// `Claim`.
    Claim,
    /// `ExplanationOfBenefit`.
    ExplanationOfBenefit,
}

impl ResourceTable {
    /// Every table, in declaration order.
    pub const ALL: [ResourceTable; 11] = [
        ResourceTable::Patient,
        ResourceTable::Encounter,
        ResourceTable::Observation,
        ResourceTable::Condition,
        ResourceTable::Procedure,
        ResourceTable::MedicationRequest,
        ResourceTable::AllergyIntolerance,
        ResourceTable::Immunization,
        ResourceTable::Coverage,
        ResourceTable::Claim,
        ResourceTable::ExplanationOfBenefit,
    ];

    /// The FHIR resource type, e.g. `"MedicationRequest"`.
    pub const fn resource_type(self) -> &'static str {
        match self {
            ResourceTable::Patient => "Patient",
            ResourceTable::Encounter => "Encounter",
            ResourceTable::Observation => "Observation",
            ResourceTable::Condition => "Condition",
            ResourceTable::Procedure => "Procedure",
            ResourceTable::MedicationRequest => "MedicationRequest",
            ResourceTable::AllergyIntolerance => "AllergyIntolerance",
            ResourceTable::Immunization => "Immunization",
            ResourceTable::Coverage => "Coverage",
            ResourceTable::Claim => "Claim",
            ResourceTable::ExplanationOfBenefit => "ExplanationOfBenefit",
        }
    }

    /// The lake table's name: the resource type in snake case
    /// (`medication_request`), except `fhir_claim` for `Claim`, since
    /// `claim` is the X12 837 table.
    pub const fn table_name(self) -> &'static str {
        match self {
            ResourceTable::Patient => "patient",
            ResourceTable::Encounter => "encounter",
            ResourceTable::Observation => "observation",
            ResourceTable::Condition => "condition",
            ResourceTable::Procedure => "procedure",
            ResourceTable::MedicationRequest => "medication_request",
            ResourceTable::AllergyIntolerance => "allergy_intolerance",
            ResourceTable::Immunization => "immunization",
            ResourceTable::Coverage => "coverage",
            ResourceTable::Claim => "fhir_claim",
            ResourceTable::ExplanationOfBenefit => "explanation_of_benefit",
        }
    }

    /// The table for a FHIR `resourceType`, or `None` for a type not served.
    pub fn from_resource_type(resource_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.resource_type() == resource_type)
    }

    fn spec(self) -> Vec<ColumnSpec> {
        match self {
            ResourceTable::Patient => tables::patient_spec(),
            ResourceTable::Encounter => tables::encounter_spec(),
            ResourceTable::Observation => tables::observation_spec(),
            ResourceTable::Condition => tables::condition_spec(),
            ResourceTable::Procedure => tables::procedure_spec(),
            ResourceTable::MedicationRequest => tables::medication_request_spec(),
            ResourceTable::AllergyIntolerance => tables::allergy_intolerance_spec(),
            ResourceTable::Immunization => tables::immunization_spec(),
            ResourceTable::Coverage => tables::coverage_spec(),
            ResourceTable::Claim => tables::claim_spec(),
            ResourceTable::ExplanationOfBenefit => tables::explanation_of_benefit_spec(),
        }
    }

    /// The table's Arrow schema (documented in this module's docs).
    pub fn schema(self) -> Schema {
        schema_of(&self.spec())
    }
}

impl fmt::Display for ResourceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.resource_type())
    }
}

fn schema_of(spec: &[ColumnSpec]) -> Schema {
    Schema::new(
        spec.iter()
            .map(|c| Field::new(c.name.as_str(), c.kind.data_type(), true))
            .collect::<Vec<_>>(),
    )
}

/// Why one resource was not flattened. Messages hold paths and rules, never
/// resource values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlattenError {
    /// The row is not well-formed JSON (`FHIR-0100`).
    #[error("FHIR-0100 at row {row}, {path}: not well-formed JSON (line {line}, column {column})")]
    InvalidJson {
        /// Zero-based index of the `push` call.
        row: u64,
        /// JSON path of the element being read, `$` for the top.
        path: String,
        /// Line within the row's text (1-based).
        line: usize,
        /// Column within that line (1-based, in bytes).
        column: usize,
    },
    /// A JSON value has the wrong type, e.g. a number where FHIR has a
    /// string (`FHIR-0101`).
    #[error("FHIR-0101 at row {row}, {path}: JSON value has the wrong type for this element")]
    WrongJsonType {
        /// Zero-based index of the `push` call.
        row: u64,
        /// JSON path of the offending value.
        path: String,
    },
    /// `resourceType` is missing or is not the table's (`FHIR-0102`).
    #[error("FHIR-0102 at row {row}, $.resourceType: expected {expected}")]
    WrongResourceType {
        /// Zero-based index of the `push` call.
        row: u64,
        /// The table's resource type.
        expected: &'static str,
    },
    /// A date or time is malformed (`FHIR-0103`).
    #[error("FHIR-0103 at row {row}, {path}: expected {expected}")]
    BadDateTime {
        /// Zero-based index of the `push` call.
        row: u64,
        /// JSON path of the value.
        path: &'static str,
        /// What the element must hold.
        expected: &'static str,
    },
}

impl FlattenError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            FlattenError::InvalidJson { .. } => INVALID_JSON,
            FlattenError::WrongJsonType { .. } => WRONG_JSON_TYPE,
            FlattenError::WrongResourceType { .. } => WRONG_RESOURCE_TYPE,
            FlattenError::BadDateTime { .. } => BAD_DATE_TIME,
        }
    }

    /// Zero-based index of the `push` call that failed.
    pub fn row(&self) -> u64 {
        match self {
            FlattenError::InvalidJson { row, .. }
            | FlattenError::WrongJsonType { row, .. }
            | FlattenError::WrongResourceType { row, .. }
            | FlattenError::BadDateTime { row, .. } => *row,
        }
    }

    /// The JSON path at fault, e.g. `$.period.start`.
    pub fn path(&self) -> &str {
        match self {
            FlattenError::InvalidJson { path, .. } | FlattenError::WrongJsonType { path, .. } => {
                path
            }
            FlattenError::WrongResourceType { .. } => "$.resourceType",
            FlattenError::BadDateTime { path, .. } => path,
        }
    }

    /// The error as a dead-letter [`Rejection`] located at the JSON path.
    pub fn to_rejection(&self) -> Rejection {
        let detail = match self {
            FlattenError::InvalidJson { .. } => "not well-formed JSON".to_owned(),
            FlattenError::WrongJsonType { .. } => "wrong JSON type for this element".to_owned(),
            FlattenError::WrongResourceType { expected, .. } => format!("expected {expected}"),
            FlattenError::BadDateTime { expected, .. } => format!("expected {expected}"),
        };
        Rejection::new(
            self.code(),
            Location::Field {
                path: self.path().into(),
                offset: None,
            },
            detail,
        )
    }
}

/// Builds one table's record batches from resources pushed one at a time.
#[derive(Debug)]
pub struct Flattener {
    table: ResourceTable,
    schema: SchemaRef,
    width: usize,
    builders: Builders,
    batch_rows: usize,
    pushed: u64,
}

impl Flattener {
    /// A flattener for `table` with [`DEFAULT_BATCH_ROWS`].
    pub fn new(table: ResourceTable) -> Self {
        let spec = table.spec();
        Flattener {
            table,
            schema: Arc::new(schema_of(&spec)),
            width: spec.len(),
            builders: Builders::new(&spec),
            batch_rows: DEFAULT_BATCH_ROWS,
            pushed: 0,
        }
    }

    /// Sets the row count at which [`Flattener::is_full`] turns true (at least 1).
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// The table this flattener builds.
    pub fn table(&self) -> ResourceTable {
        self.table
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Rows held since the last [`Flattener::finish`].
    pub fn len(&self) -> usize {
        self.builders.len()
    }

    /// Whether no rows are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the held rows reach the batch size; call [`Flattener::finish`].
    pub fn is_full(&self) -> bool {
        self.len() >= self.batch_rows
    }

    /// `push` calls so far, refused ones included (the next row index).
    pub fn rows_seen(&self) -> u64 {
        self.pushed
    }

    /// Flattens one resource's JSON text into a new row. On error nothing is
    /// appended.
    pub fn push(&mut self, json: &str) -> Result<(), FlattenError> {
        let row = self.pushed;
        self.pushed += 1;
        match self.table {
            ResourceTable::Patient => self.push_as::<json::Patient<'_>>(row, json),
            ResourceTable::Encounter => self.push_as::<json::Encounter<'_>>(row, json),
            ResourceTable::Observation => self.push_as::<json::Observation<'_>>(row, json),
            ResourceTable::Condition => self.push_as::<json::Condition<'_>>(row, json),
            ResourceTable::Procedure => self.push_as::<json::Procedure<'_>>(row, json),
            ResourceTable::MedicationRequest => {
                self.push_as::<json::MedicationRequest<'_>>(row, json)
            }
            ResourceTable::AllergyIntolerance => {
                self.push_as::<json::AllergyIntolerance<'_>>(row, json)
            }
            ResourceTable::Immunization => self.push_as::<json::Immunization<'_>>(row, json),
            ResourceTable::Coverage => self.push_as::<json::Coverage<'_>>(row, json),
            ResourceTable::Claim => self.push_as::<json::Claim<'_>>(row, json),
            ResourceTable::ExplanationOfBenefit => {
                self.push_as::<json::ExplanationOfBenefit<'_>>(row, json)
            }
        }
    }

    fn push_as<'a, T>(&mut self, row: u64, json: &'a str) -> Result<(), FlattenError>
    where
        T: Deserialize<'a> + Fill<'a>,
    {
        if !json.trim_start().starts_with('{') {
            return Err(not_an_object(row, json));
        }
        let resource: T = match serde_json::from_str(json) {
            Ok(r) => r,
            Err(e) => return Err(json_error::<T>(row, json, &e)),
        };
        let base = resource.base();
        if json::s(base.resource_type) != Some(self.table.resource_type()) {
            return Err(FlattenError::WrongResourceType {
                row,
                expected: self.table.resource_type(),
            });
        }
        let mut cells = Row::with_capacity(self.width);
        let staged = tables::fill_base(&base, &mut cells).and_then(|()| resource.fill(&mut cells));
        if let Err(BadValue { path, expected }) = staged {
            return Err(FlattenError::BadDateTime {
                row,
                path,
                expected,
            });
        }
        cells.str(Some(json));
        self.builders.append_row(cells.cells);
        Ok(())
    }

    /// Returns the held rows as a batch (possibly empty) and starts a new one.
    pub fn finish(&mut self) -> RecordBatch {
        let columns = self.builders.finish();
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .expect("builders are made from the same column list as the schema")
    }
}

/// Turns a serde error into a typed error with a JSON path, re-reading the
/// row with path tracking (only failed rows pay for it).
fn json_error<'a, T: Deserialize<'a>>(
    row: u64,
    json: &'a str,
    e: &serde_json::Error,
) -> FlattenError {
    let mut de = serde_json::Deserializer::from_str(json);
    let path = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => "$".to_owned(),
        Err(e) => crate::json_path::safe_path(e.path(), "$"),
    };
    match e.classify() {
        serde_json::error::Category::Data => FlattenError::WrongJsonType { row, path },
        _ => FlattenError::InvalidJson {
            row,
            path,
            line: e.line(),
            column: e.column(),
        },
    }
}

/// A row that does not start with `{`: malformed JSON, or JSON of another
/// shape (serde would otherwise read a struct from an array).
fn not_an_object(row: u64, json: &str) -> FlattenError {
    match serde_json::from_str::<serde::de::IgnoredAny>(json) {
        Ok(_) => FlattenError::WrongJsonType {
            row,
            path: "$".to_owned(),
        },
        Err(e) => FlattenError::InvalidJson {
            row,
            path: "$".to_owned(),
            line: e.line(),
            column: e.column(),
        },
    }
}

/// The result of [`flatten_ndjson`].
#[derive(Debug, Default)]
pub struct NdjsonBatches {
    /// The batches, each of at most the requested rows.
    pub batches: Vec<RecordBatch>,
    /// Refused lines: 1-based line number and the error (whose `row` counts
    /// non-blank lines from 0).
    pub errors: Vec<(usize, FlattenError)>,
}

/// Flattens every non-blank line of an NDJSON text (`\n` or `\r\n`) into
/// `table`, in batches of `batch_rows`; refused lines are reported and skipped.
pub fn flatten_ndjson(table: ResourceTable, ndjson: &str, batch_rows: usize) -> NdjsonBatches {
    let mut f = Flattener::new(table).with_batch_rows(batch_rows);
    let mut out = NdjsonBatches::default();
    for (i, line) in ndjson.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = f.push(line) {
            out.errors.push((i + 1, e));
        }
        if f.is_full() {
            out.batches.push(f.finish());
        }
    }
    if !f.is_empty() {
        out.batches.push(f.finish());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{CODES, Flattener, ResourceTable};

    fn render_docs() -> String {
        let mut out = String::new();
        for t in ResourceTable::ALL {
            out.push_str(&format!(
                "\n## {t}\n\n| column | type | source |\n|---|---|---|\n"
            ));
            for c in t.spec() {
                out.push_str(&format!(
                    "| `{}` | `{}` | `{}` |\n",
                    c.name,
                    c.kind.doc_name(),
                    c.source
                ));
            }
        }
        out
    }

    #[test]
    fn schema_docs_match_the_schemas() {
        expect_test::expect_file!["flatten/schemas.md"].assert_eq(&render_docs());
    }

    #[test]
    fn codes_are_unique_and_in_range() {
        assert!(caresync_core::check_unique(CODES).is_ok());
        for c in CODES {
            let n: u32 = c.code()["FHIR-".len()..].parse().expect("digits");
            assert!((100..=139).contains(&n), "{c}");
        }
    }

    #[test]
    fn every_table_takes_a_bare_resource() {
        for t in ResourceTable::ALL {
            let mut f = Flattener::new(t);
            let json = format!(r#"{{"resourceType":"{t}","id":"x"}}"#);
            f.push(&json).expect("bare resource flattens");
            let batch = f.finish();
            assert_eq!(batch.num_rows(), 1);
            assert_eq!(batch.schema().as_ref(), &t.schema());
        }
    }
}
