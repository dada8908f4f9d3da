//! Forward sync: Delta tables served as PostgreSQL tables, like Lakebase
//! synced tables. Shared by the `caresync-forward-sync` binary and
//! `caresync forward`.
//!
//! Each configured table follows one Delta table ([`caresync_lake`]) and is
//! written through [`caresync_pg`]:
//!
//! - **snapshot**: every row copied into a staging table with binary
//!   `COPY` and swapped in atomically, with the source version recorded in
//!   the same transaction;
//! - **triggered**: the change data feed since the recorded version applied
//!   as upserts and deletes in one transaction with the new version (a full
//!   copy the first time, when the table was synced from another source, or
//!   when the feed is off or cannot be read, each logged with its reason);
//!   a new nullable source column is added to the served table first;
//! - **continuous**: triggered syncs repeated every poll interval until
//!   SIGINT or SIGTERM, the sync in flight finishing first.
//!
//! - **scheduled**: a snapshot or triggered table with a `schedule` is
//!   synced again each `schedule` until stopped.
//!
//! Snapshots copy over several connections at once (`copy_connections`),
//! show a progress bar on a terminal, and are served once swapped in; their
//! `ANALYZE` follows on a connection of its own.
//!
//! A column allow-list (`columns` in the configuration) keeps every other
//! column out of PostgreSQL; a [`BatchPolicy`] set on a table transforms
//! the served values (masking) before they are written. [`metrics`] lists the Prometheus metrics served
//! with `--metrics-addr`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
mod config;
mod driver;
mod mask;
pub mod metrics;
mod policy;
mod progress;

pub use config::{Config, ConfigError, Mode, TableConfig};
pub use driver::{
    Action, SnapshotReason, SyncError, SyncReport, run, run_with, sync_table, sync_table_with,
};
pub use mask::MaskConfig;
pub use policy::{BatchPolicy, Policy, PolicyError};
