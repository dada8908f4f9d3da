//! FHIR R4/R4B for caresync: reading resources, Bundles and bulk-export
//! NDJSON as streams, resource identity for the merge engine, HL7 v2 → FHIR
//! mapping, and flattening to Arrow record batches for lake tables.
//!
//! ```
//! use caresync_fhir::read::{NdjsonReader, ReadOptions};
//!
//! // Bulk-export NDJSON, one resource at a time, with identity and version.
//! let ndjson = b"{\"resourceType\":\"Patient\",\"id\":\"p1\",\"meta\":{\"versionId\":\"3\",\"lastUpdated\":\"2024-05-01T10:30:00Z\"}}\n";
//! for resource in NdjsonReader::new(&ndjson[..], ReadOptions::default()) {
//!     let resource = resource?;
//!     assert_eq!(resource.identity().resource_type(), "Patient");
//!     let version = resource.version(None)?;
//!     assert_eq!(version.time().as_unix_micros(), 1_714_559_400_000_000);
//! }
//!
//! // An HL7 v2 message becomes a FHIR message Bundle with stable ids.
//! let adt = b"MSH|^~\\&|ADT|GHH|EHR|GHH|20240501103000-0500||ADT^A01^ADT_A01|MSG1|P|2.5.1\r\
//!             PID|1||4711^^^GHH^MR||Doe^Jane||19800101|F\rPV1|1|I\r";
//! let mapped = caresync_fhir::v2::map_bytes(adt)?;
//! assert!(mapped.bundle.contains("\"resourceType\":\"Patient\""));
//! assert_eq!(mapped.bundle, caresync_fhir::v2::map_bytes(adt)?.bundle);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Invariant:** this crate knows nothing about storage or async runtimes.
//! Errors carry JSON paths, line numbers, byte offsets and HL7 locations,
//! never resource content.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod flatten;
mod json_path;
pub mod read;
mod time;
pub mod v2;

#[cfg(feature = "validate")]
pub use read::validate;
pub use read::{
    Identity, NdjsonReader, RawResource, ReadError, ReadOptions, detect, read_bundle,
    read_bundle_slice, read_resource,
};
