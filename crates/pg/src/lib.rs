//! PostgreSQL I/O for caresync: Arrow record batches into PostgreSQL
//! tables, through `tokio-postgres`.
//!
//! - [`PgTable`]: a table's columns mapped from an Arrow schema
//!   ([`PgType::of`] gives the mapping) and its primary key.
//! - [`CopyEncoder`]: batches in PostgreSQL's binary `COPY` format.
//! - [`load_snapshot`]: a full load into a staging table, swapped in
//!   atomically together with the synced source version in
//!   [`STATE_TABLE`].
//! - [`apply_changes`]: the changes since the synced version (a change
//!   data feed) applied as upserts and deletes in one transaction with the
//!   new version.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use arrow_array::{Int64Array, RecordBatch, StringArray};
//! use arrow_schema::{DataType, Field, Schema};
//! use caresync_pg::{PgTable, SourceVersion, load_snapshot, synced_state};
//!
//! # let cluster = caresync_testkit::pg::shared_cluster()?;
//! # let db = cluster.create_unique_database("doc")?;
//! # let dsn = cluster.connection_string(&db);
//! let (mut client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await?;
//! tokio::spawn(connection);
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("status", DataType::Utf8, true),
//! ]));
//! let table = PgTable::from_arrow("encounter", &schema, &["id"])?;
//! let batch = RecordBatch::try_new(
//!     schema,
//!     vec![
//!         Arc::new(Int64Array::from(vec![1, 2])),
//!         Arc::new(StringArray::from(vec![Some("open"), None])),
//!     ],
//! )?;
//! let at = SourceVersion { source: "file:///lake/encounter", version: 7 };
//! let stats = load_snapshot(&mut client, &table, at, futures::stream::iter([Ok::<_, std::convert::Infallible>(batch)])).await?;
//! assert_eq!(stats.rows, 2);
//!
//! let n: i64 = client.query_one("SELECT count(*) FROM encounter", &[]).await?.get(0);
//! assert_eq!(n, 2);
//! assert_eq!(synced_state(&client, &table).await?.map(|s| s.version), Some(7));
//! # Ok(())
//! # }
//! ```
//!
//! Errors are [`PgError`], with stable codes; they name tables, columns and
//! row numbers, never values.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod apply;
mod copy;
mod error;
mod schema;
mod snapshot;
mod state;

pub use apply::{ApplyOutcome, CHANGE_TYPE, COMMIT_VERSION, apply_changes, change_schema};
pub use copy::{CopyEncoder, encode_stream, header, trailer};
pub use error::PgError;
pub use schema::{PgColumn, PgTable, PgType, ident};
pub use snapshot::{
    LoadOptions, LoadProgress, Progress, SnapshotStats, SourceVersion, analyze, ensure_indexes,
    load_snapshot, load_snapshot_with,
};
pub use state::{STATE_TABLE, SyncedState, ensure_state_table, synced_state};
