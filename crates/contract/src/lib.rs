//! Data contracts for caresync: what an entity's table holds (fields, types,
//! required-ness, primary key, PHI class, code systems and patterns of
//! values), its quality rules with their severities, versioned; whether a
//! new version is compatible with the ones before it in the modes schema
//! registries use; [`validate`], which checks an Arrow batch row by row;
//! and [`to_odcs_yaml`], the export to the Open Data Contract Standard (ODCS).
//!
//! ```
//! use caresync_contract::{Contract, Mode, check};
//!
//! let v1 = Contract::from_toml(r#"
//!     entity = "encounter"
//!     version = "1.0.0"
//!     [[field]]
//!     name = "id"
//!     type = "string"
//!     required = true
//!     primary_key = true
//! "#, "encounter-1.0.0.toml")?;
//! let v2 = Contract::from_toml(r#"
//!     entity = "encounter"
//!     version = "1.1.0"
//!     [[field]]
//!     name = "id"
//!     type = "string"
//!     required = true
//!     primary_key = true
//!     [[field]]
//!     name = "mrn"
//!     type = "string"
//!     required = true
//!     phi = "identifier"
//! "#, "encounter-1.1.0.toml")?;
//! // Readers on 1.1.0 cannot read 1.0.0 rows, which lack the required MRN.
//! let breaks = check(&[v1], &v2, Mode::Backward);
//! assert_eq!(breaks.len(), 1);
//! assert_eq!(breaks[0].to_string(), "field mrn is new and required (against 1.0.0)");
//! # Ok::<(), caresync_contract::ContractError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod codes;
mod compat;
mod model;
mod odcs;
mod pattern;
mod rule;
mod validate;

pub use codes::CodeSystem;
pub use compat::{BreakingChange, Change, Mode, check, check_all};
pub use model::{Contract, ContractError, Field, FieldType, Phi};
pub use odcs::to_odcs_yaml;
pub use pattern::Pattern;
pub use rule::{Bound, Check, Rule, Severity};
pub use validate::{
    CODES, MISSING_COLUMN, MISSING_CONDITIONAL, MISSING_REQUIRED, NOT_ALLOWED, NOT_IN_CODE_SYSTEM,
    NOT_MATCHING_PATTERN, NULL_BY_RULE, OUT_OF_ORDER, OUT_OF_RANGE, ShapeError, Validation,
    Violation, WRONG_COLUMN_TYPE, validate,
};
