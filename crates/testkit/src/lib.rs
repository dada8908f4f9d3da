//! Test infrastructure for caresync: private PostgreSQL clusters and seeded
//! synthetic data (records, HL7 v2 messages in [`hl7`], FHIR resources and
//! NDJSON files in [`fhir`]).
//!
//! ```no_run
//! use caresync_testkit::generate::{patients_batch, Generator};
//! use caresync_testkit::pg::PgCluster;
//!
//! // A real PostgreSQL server in a temporary directory, with wal_level=logical.
//! let cluster = PgCluster::start()?;
//! assert_eq!(cluster.psql("postgres", "SHOW wal_level")?, "logical");
//!
//! // The same 100 invented patients on every run.
//! let batch = patients_batch(&Generator::new(42).patients(100));
//! assert_eq!(batch.num_rows(), 100);
//! # Ok::<(), caresync_testkit::pg::PgError>(())
//! ```
//!
//! **Invariant:** production code never depends on this crate (only tests,
//! benchmarks and the `caresync demo`/`doctor` commands do). It runs programs
//! and touches the file system, but uses no async runtime.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod fhir;
pub mod generate;
pub mod hl7;
pub mod pg;
pub mod x12;
