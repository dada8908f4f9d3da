//! Delta Lake tables for caresync, through [`deltalake`] on object_store.
//!
//! A [`LakeTable`] is one Delta table on a local path, a `file://` URL or an
//! `s3://bucket/prefix` URL. It is created from a [`TableSpec`] (with the change
//! data feed on by default), appended to — plainly or at most once per
//! application transaction — changed with SQL `DELETE`/`UPDATE` predicates,
//! read as a stream, read as of an older version, and read as a change data
//! feed.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use caresync_lake::{CommitOutcome, LakeTable, TableSpec};
//! use deltalake::arrow::array::{Int64Array, StringArray};
//! use deltalake::arrow::datatypes::{DataType, Field, Schema};
//! use deltalake::arrow::record_batch::RecordBatch;
//!
//! let dir = tempfile::tempdir()?;
//! let url = dir.path().join("encounters");
//! let url = url.to_str().ok_or("non-UTF-8 temp path")?;
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("status", DataType::Utf8, true),
//! ]));
//! let mut table = LakeTable::open_or_create(url, &TableSpec::new("encounters", schema.clone())).await?;
//! assert_eq!(table.version(), 0);
//!
//! let batch = RecordBatch::try_new(
//!     schema,
//!     vec![
//!         Arc::new(Int64Array::from(vec![1, 2])),
//!         Arc::new(StringArray::from(vec!["open", "open"])),
//!     ],
//! )?;
//! // Committed once; a retry with the same transaction version is a no-op.
//! let outcome = table.append_idempotent("loader", 7, vec![batch.clone()]).await?;
//! assert_eq!(outcome, CommitOutcome::Committed { version: 1 });
//! let retry = table.append_idempotent("loader", 7, vec![batch]).await?;
//! assert_eq!(retry, CommitOutcome::AlreadyApplied { last_txn_version: 7 });
//!
//! table.update_where("id = 2", &[("status", "'closed'")]).await?;
//!
//! let rows: usize = table.read_all().await?.iter().map(|b| b.num_rows()).sum();
//! assert_eq!(rows, 2);
//! // insert, insert, update_preimage, update_postimage
//! let changes: usize = table.changes(1, None).await?.iter().map(|b| b.num_rows()).sum();
//! assert_eq!(changes, 4);
//!
//! let first = LakeTable::open_at_version(url, 0).await?;
//! assert!(first.read_all().await?.iter().all(|b| b.num_rows() == 0));
//! # Ok(())
//! # }
//! ```
//!
//! Arrow and DataFusion types come from `deltalake`'s re-exports
//! (`deltalake::arrow`, `deltalake::datafusion`), so there is one copy of each.
//!
//! Errors are [`LakeError`]: they carry table URLs (credentials stripped),
//! versions and column names, never row values.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod append;
mod error;
mod location;
mod merge;
mod read;
mod spec;
mod table;
mod write;

pub use append::Appender;
pub use error::LakeError;

/// The table property naming a table's primary key columns, comma-separated
/// (`"encounter_id"`, `"tenant,mrn"`): forward sync serves the table with
/// this key when its configuration names none.
pub const PRIMARY_KEY_PROPERTY: &str = "caresync.primaryKey";
/// The table property naming columns, comma-separated, whose values are
/// (nearly) all distinct, such as a key or a whole record's JSON: the
/// table's data files write them without dictionary encoding, which would
/// only hash and copy every value before falling back to plain pages.
pub const PLAIN_COLUMNS_PROPERTY: &str = "caresync.plainColumns";
pub use merge::{MergeOutcome, MergeReport, MergeSpec, Stage, StagedMerge, TOMBSTONE_TABLE};
pub use read::{CHANGE_TYPE_COLUMN, COMMIT_TIMESTAMP_COLUMN, COMMIT_VERSION_COLUMN};
pub use spec::TableSpec;
pub use table::{LakeTable, OpenOptions};
pub use write::{CommitOutcome, Mutation, WriteOptions};
