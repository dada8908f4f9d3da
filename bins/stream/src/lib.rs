//! Streaming ingest: HL7 v2 over MLLP, FHIR over HTTP and landing folders
//! into bronze, silver and dead-letter Delta tables. Shared by the
//! `caresync-stream` binary, `caresync stream` and `caresync demo`.
//!
//! ```text
//!  MLLP ─┐                     ┌─▶ silver/<table>  (merged by key and version)
//!  HTTP ─┼─▶ bronze (raw, txn) ─┤
//!  folder┘    ▲ ack after commit └─▶ dead_letter     (code, location, masked sample)
//! ```
//!
//! - Sources ([`mllp`], [`http`], [`folder`]) hand what they receive to an
//!   [`IngestHandle`]; [`IngestHandle::submit`] returns once the message
//!   is durable in [`bronze`], and only then is the sender acknowledged.
//! - The bronze writer groups messages into one Delta commit per batch
//!   ([`bronze::Batching`]), each carrying a `txn` with the batch number.
//! - The silver stage ([`worker`]) routes each batch ([`silver::route`]):
//!   parse, map (HL7 v2 → FHIR), flatten, check contracts; then merges each
//!   silver table exactly once per batch (`txn`), ordered by the records'
//!   versions, and appends the rejects to the dead-letter table ([`dlq`]).
//!   A crash anywhere is followed by a start that applies the bronze
//!   batches after the checkpoint, and converges to the same silver state.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bronze;
mod claims;
pub mod cli;
mod config;
pub mod dlq;
mod error;
pub mod folder;
mod handoff;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod mllp;
mod net;
mod pipeline;
pub mod replay;
pub mod silver;
pub mod worker;

pub use config::Config;
pub use error::StreamError;
pub use ingest::{Format, Inbound, IngestError, IngestHandle, Receipt};
pub use pipeline::{DRAIN_TIMEOUT, Health, Pipeline, Settings};
pub use worker::{LakeLayout, SilverStats};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every stable code of this crate is declared once.
    #[test]
    fn codes_are_unique() {
        let all: Vec<&str> = crate::ingest::codes::ALL
            .iter()
            .chain(crate::folder::codes::ALL)
            .map(|c| c.code())
            .collect();
        let unique: BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "{all:?}");
        assert!(all.iter().all(|c| c.starts_with("STREAM-")));
    }
}
