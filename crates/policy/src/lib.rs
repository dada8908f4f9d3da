//! Policy-as-code for caresync: per table and column, by purpose of use and
//! role, how values are masked (keep, null, redact, keyed hash, keyed
//! format-preserving tokens, generalisation, per-patient date shifting,
//! substitution) and which rows are withheld (consent, predicates); applied
//! to Arrow record batches column at a time, deterministically, with an
//! audit record of each application. [`safe_harbor`] is a built-in HIPAA
//! Safe Harbor profile, and [`check`] the promotion gate against the data
//! contracts.
//!
//! Decisions are made once per request, table and schema ([`Policy::plan`]),
//! never per row: the first rule in file order matching the column, purpose
//! and role decides, and a column no rule matches takes the table's
//! default, `null` unless the policy says otherwise.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{RecordBatch, StringArray};
//! use arrow_schema::{DataType, Field, Schema};
//! use caresync_policy::{Keyring, Policy, Request};
//!
//! let policy = Policy::from_toml(r#"
//!     policy = "serving"
//!     version = "1.0.0"
//!     purposes = ["TREAT", "HRESCH"]
//!     [keys.pseudonym]
//!     env = "CARESYNC_PSEUDONYM_KEY"
//!     [[table]]
//!     name = "patient"
//!     [[table.rule]]
//!     columns = ["mrn"]
//!     purposes = ["TREAT"]
//!     method = "keep"
//!     [[table.rule]]
//!     columns = ["mrn"]
//!     method = "hash"
//!     key = "pseudonym"
//!     [[table.rule]]
//!     columns = ["zip"]
//!     method = "generalize"
//!     to = "zip3"
//! "#, "serving.toml")?;
//! let mut keys = Keyring::new();
//! keys.insert("pseudonym", b"a key of at least thirty-two bytes!")?;
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("mrn", DataType::Utf8, false),
//!     Field::new("zip", DataType::Utf8, true),
//!     Field::new("family", DataType::Utf8, true),
//! ]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![
//!     Arc::new(StringArray::from(vec!["MRN00000042"])),
//!     Arc::new(StringArray::from(vec!["02139"])),
//!     Arc::new(StringArray::from(vec!["Smith"])),
//! ])?;
//! let research = Request::new("analyst@example.org", "HRESCH", 1_700_000_000_000_000);
//! let masked = policy.plan("patient", &schema, &research, &keys)?.apply(&batch)?;
//! let text = |c: usize| masked.batch.column(c).as_any().downcast_ref::<StringArray>().map(|a| a.value(0).to_owned());
//! assert_eq!(text(0).map(|h| h.len()), Some(64)); // HMAC-SHA256, hex
//! assert_eq!(text(1).as_deref(), Some("021"));
//! assert!(masked.batch.column(2).is_null(0));     // no rule: the default, null
//! assert_eq!(masked.audit.masked_columns, ["mrn=hash", "zip=generalize to zip3", "family=null"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod apply;
pub mod audit;
mod check;
mod keys;
mod mask;
mod model;
pub mod safe_harbor;

pub use apply::{ApplyError, Masked, Plan, Request};
pub use audit::AuditRecord;
pub use check::{Finding, NO_CONTRACT, UNCOVERED_PHI, UNKNOWN_COLUMN, UNSUITABLE_METHOD, check};
pub use keys::{Key, KeyError, Keyring, MIN_KEY_BYTES};
pub use mask::RESTRICTED_ZIP3;
pub use model::{
    Condition, Consent, ConsentHolds, Generalization, KeySource, Literal, Method, PURPOSES_OF_USE,
    Policy, PolicyError, RowFilter, Rule, TablePolicy,
};
