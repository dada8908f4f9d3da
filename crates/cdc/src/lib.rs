//! PostgreSQL logical replication for caresync.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod catalog;
mod copy_text;
mod error;
pub mod history;
mod lsn;
pub mod pgoutput;
pub mod reconstruct;
mod replication;
mod value;

pub use copy_text::{CopyTextError, for_each_field};
pub use error::CdcError;
pub use lsn::{Lsn, ParseLsnError};
pub use replication::{
    CreatedSlot, ReplicationConnection, ReplicationStream, StreamMessage, SystemInfo,
};
pub use value::{ColumnBuilder, ValueError, arrow_type};
