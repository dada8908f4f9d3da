//! What sources hand the pipeline, and the handle they hand it through.
//!
//! A source (MLLP, HTTP, a landing folder) turns what it received into an
//! [`Inbound`] and calls [`IngestHandle::submit`]. The call returns once the
//! message is durable in the bronze table (a [`Receipt`]), and only then may
//! the source acknowledge it to its sender.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use caresync_core::{ErrorClass, ErrorCode};
use tokio::sync::{mpsc, oneshot};

/// The format of a bronze row's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// One HL7 v2 message, or a batch file of them (FHS/BHS or several MSH).
    Hl7v2,
    /// A FHIR resource, a Bundle, or bulk-export NDJSON.
    Fhir,
    /// An X12 interchange (837 claims, 835 remittances).
    X12,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Hl7v2, Format::Fhir, Format::X12];

    /// The name stored in bronze and dead-letter rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Hl7v2 => "hl7v2",
            Format::Fhir => "fhir",
            Format::X12 => "x12",
        }
    }

    /// The format named `name` (as [`Format::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message as a source received it.
#[derive(Clone)]
pub struct Inbound {
    /// The source's configured name (`mllp`, `fhir-http`, `landing`...).
    pub source: Arc<str>,
    /// What the payload is.
    pub format: Format,
    /// The bytes exactly as received (an MLLP frame's content, an HTTP
    /// body, a file).
    pub payload: Vec<u8>,
    /// An identifier the sender gave it (MSH-10, a resource id, a file
    /// name, ISA13), when known. Never a patient value.
    pub message_id: Option<String>,
    /// When it arrived.
    pub received_at: SystemTime,
}

impl fmt::Debug for Inbound {
    /// Never the payload.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound")
            .field("source", &self.source)
            .field("format", &self.format)
            .field("bytes", &self.payload.len())
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

/// Where a submitted message is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The bronze batch (the `txn` version of its bronze commit).
    pub batch: i64,
    /// The row within the batch.
    pub row: u32,
}

/// Why a message could not be made durable. The sender should send it
/// again (MLLP: an `AE` acknowledgement; HTTP: 503).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The bronze table refused the write.
    #[error("STREAM-0001: the bronze table could not be written ({reason})")]
    Bronze {
        /// The storage error, without payload values.
        reason: Arc<str>,
    },
    /// The pipeline is shutting down and takes no more messages.
    #[error("STREAM-0002: the pipeline is shutting down")]
    ShuttingDown,
}

/// Codes of the pipeline itself (`STREAM-0001`..).
pub mod codes {
    use super::{ErrorClass, ErrorCode};

    /// The bronze table could not be written: the message is not durable.
    pub const BRONZE_WRITE: ErrorCode =
        ErrorCode::new(ErrorClass::Storage, "STREAM-0001", "bronze write failed");
    /// The pipeline is shutting down.
    pub const SHUTTING_DOWN: ErrorCode =
        ErrorCode::new(ErrorClass::Storage, "STREAM-0002", "pipeline shutting down");
    /// A record without an identifier cannot be merged into silver.
    pub const NO_RECORD_ID: ErrorCode =
        ErrorCode::new(ErrorClass::Merge, "STREAM-0003", "record has no identifier");
    /// A record without a usable version (event time) cannot be merged.
    pub const NO_RECORD_VERSION: ErrorCode = ErrorCode::new(
        ErrorClass::Merge,
        "STREAM-0004",
        "record has no usable version",
    );
    /// A payload of a format or type no silver table takes.
    pub const UNSUPPORTED: ErrorCode = ErrorCode::new(
        ErrorClass::Mapping,
        "STREAM-0005",
        "no silver table takes this input",
    );

    /// A bronze table without the bronze columns.
    pub const NOT_BRONZE: ErrorCode =
        ErrorCode::new(ErrorClass::Storage, "STREAM-0006", "not a bronze table");
    /// Bronze batch numbers kept being taken by another writer.
    pub const BRONZE_CONTENDED: ErrorCode = ErrorCode::new(
        ErrorClass::Storage,
        "STREAM-0007",
        "bronze batch numbers contended",
    );
    /// The configuration is invalid.
    pub const CONFIG: ErrorCode =
        ErrorCode::new(ErrorClass::Storage, "STREAM-0008", "invalid configuration");
    /// A socket or file could not be used.
    pub const IO: ErrorCode = ErrorCode::new(ErrorClass::Storage, "STREAM-0009", "I/O failed");
    /// A task of the silver stage panicked.
    pub const TASK: ErrorCode = ErrorCode::new(
        ErrorClass::Storage,
        "STREAM-0010",
        "silver stage task failed",
    );

    /// Every code this crate declares.
    pub const ALL: &[ErrorCode] = &[
        BRONZE_WRITE,
        SHUTTING_DOWN,
        NO_RECORD_ID,
        NO_RECORD_VERSION,
        UNSUPPORTED,
        NOT_BRONZE,
        BRONZE_CONTENDED,
        CONFIG,
        IO,
        TASK,
    ];
}

impl IngestError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            IngestError::Bronze { .. } => codes::BRONZE_WRITE,
            IngestError::ShuttingDown => codes::SHUTTING_DOWN,
        }
    }
}

/// A submitted message waiting for its bronze commit.
pub(crate) struct Pending {
    pub(crate) inbound: Inbound,
    pub(crate) reply: oneshot::Sender<Result<Receipt, IngestError>>,
}

/// How sources submit messages; cheap to clone, one per connection is fine.
#[derive(Clone, Debug)]
pub struct IngestHandle {
    tx: mpsc::Sender<Pending>,
}

impl IngestHandle {
    pub(crate) fn new(tx: mpsc::Sender<Pending>) -> Self {
        IngestHandle { tx }
    }

    /// Writes `inbound` to bronze and returns once it is durable there.
    ///
    /// # Errors
    ///
    /// [`IngestError::Bronze`] when the commit failed (send it again),
    /// [`IngestError::ShuttingDown`] once the pipeline stops taking input.
    pub async fn submit(&self, inbound: Inbound) -> Result<Receipt, IngestError> {
        let (reply, receipt) = oneshot::channel();
        self.tx
            .send(Pending { inbound, reply })
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        receipt.await.map_err(|_| IngestError::ShuttingDown)?
    }
}
