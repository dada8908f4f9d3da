//! Reverse sync: PostgreSQL changes into Delta change-history tables,
//! like Lakebase's Lakehouse Sync. Shared by the `caresync-reverse-sync`
//! binary and `caresync reverse`.
//!
//! The first run creates a publication of the configured tables and a
//! logical replication slot, and copies every table within the slot's
//! exported snapshot (no gap, no overlap with the stream). Then every
//! insert, update and delete is appended to the table's change history
//! ([`caresync_cdc::history`] describes the row shape), partitioned by
//! commit date. Each lake commit carries a Delta application transaction
//! (`caresync-reverse-sync:{slot}`, the end of the last commit it holds, or
//! the slot's consistent point for the snapshot), and the slot is told a
//! position only once the commits holding it are made: after a crash at any
//! point, a restart resumes from the slot and skips what a history already
//! holds, so every change is present exactly once.
//!
//! [`rebuild`] gives a table as it was at an LSN or a time, from its
//! history alone.
//!
//! Tables served by forward sync are refused, so a two-way set-up does not
//! loop. [`metrics`] lists the Prometheus metrics served with
//! `--metrics-addr`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
mod config;
mod driver;
pub mod metrics;
mod mirror;
mod rebuild;

pub use caresync_cdc::reconstruct::AsOf;
pub use config::{Config, ConfigError};
pub use driver::{ReverseError, RunReport, StopAt, run, run_until};
pub use rebuild::{rebuild, rebuild_into};
