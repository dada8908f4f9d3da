//! The shared vocabulary of caresync.
//!
//! Every other crate speaks in these terms: a [`RecordKey`] names a record, a
//! [`Version`] says how new one of its states is (event time, then a source
//! tiebreaker), a [`Change`] is `(key, version, op, row)`, and a [`Rejection`]
//! says why a record was refused, with a stable [`ErrorCode`].
//!
//! ```
//! use caresync_core::{Change, ChangeOp, EventTime, RecordKey, Tiebreaker, Version};
//!
//! // Two deliveries of the same HL7 v2 update, and an older one arriving late.
//! let at = |secs, control_id| {
//!     Version::new(EventTime::from_unix_seconds(secs), Tiebreaker::from_text(control_id))
//! };
//! let key = RecordKey::new("Patient", ["pat-0001"]);
//! let changes = [
//!     Change { key: key.clone(), version: at(1_700_000_100, "MSG10"), op: ChangeOp::Update, row: () },
//!     Change { key: key.clone(), version: at(1_700_000_100, "MSG10"), op: ChangeOp::Update, row: () },
//!     Change { key: key.clone(), version: at(1_700_000_000, "MSG9"), op: ChangeOp::Insert, row: () },
//! ];
//! let winner = changes.iter().max_by(|a, b| a.version.cmp(&b.version)).expect("three changes");
//! assert_eq!(winner.version, at(1_700_000_100, "MSG10"));
//! ```
//!
//! **Invariant:** this crate does no I/O, uses no async runtime and knows
//! nothing of Arrow, Delta Lake or PostgreSQL. Its only dependency is
//! `thiserror`.
//!
//! Types that can carry patient identifiers ([`RecordKey`], [`Change`]) print
//! their values as `<redacted>` in `Debug`, so they are safe in logs.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod calendar;
mod change;
mod error_code;
mod key;
mod version;

pub use change::{Change, ChangeOp, ChangeType, UnknownChangeType};
pub use error_code::{
    DuplicateCode, ErrorClass, ErrorCode, Location, Rejection, UnknownErrorClass, check_unique,
    codes,
};
pub use key::{KeyPart, RecordKey};
pub use version::{EventTime, Tiebreaker, Version, VersionParseError};
