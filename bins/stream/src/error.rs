//! Errors of the pipeline's own steps.

use caresync_core::ErrorCode;
use caresync_lake::LakeError;

use crate::ingest::codes;

/// Why a pipeline step failed. Messages hold table locations, sequence
/// numbers and codes, never payload values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// A lake table could not be opened, read or written.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A bronze table that does not have the bronze columns and types.
    #[error("STREAM-0006: {url} is not a bronze table: {detail}")]
    NotBronze {
        /// The table.
        url: String,
        /// What is missing or differs.
        detail: String,
    },
    /// A bronze sequence number kept being taken by another writer.
    #[error("STREAM-0007: another writer keeps taking bronze batch numbers of {url}")]
    BronzeContended {
        /// The table.
        url: String,
    },
    /// The configuration is invalid.
    #[error("STREAM-0008: {0}")]
    Config(String),
    /// A task of the silver stage died (a defect: it panicked).
    #[error("STREAM-0010: the silver stage's {what} task failed: {detail}")]
    Task {
        /// The step: routing, a merge.
        what: &'static str,
        /// The runtime's account.
        detail: String,
    },
    /// A socket or file could not be used.
    #[error("STREAM-0009: {what}: {source}")]
    Io {
        /// What was being done (an address, a folder).
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl StreamError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            StreamError::Lake(_) => codes::BRONZE_WRITE,
            StreamError::NotBronze { .. } => codes::NOT_BRONZE,
            StreamError::BronzeContended { .. } => codes::BRONZE_CONTENDED,
            StreamError::Config(_) => codes::CONFIG,
            StreamError::Io { .. } => codes::IO,
            StreamError::Task { .. } => codes::TASK,
        }
    }
}
