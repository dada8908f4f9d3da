//! Reading FHIR JSON as streams of resources, one at a time.
//!
//! Three inputs, three readers, one item type ([`RawResource`]: the
//! resource's JSON text, its [`Identity`] and its [`Source`]):
//!
//! - a single resource: [`read_resource`] / [`RawResource::parse`];
//! - a Bundle of any type (transaction, batch, collection, searchset,
//!   history, …): [`read_bundle`] hands each `entry[].resource` to a callback
//!   together with the entry's `fullUrl` and `request.method`/`request.url`;
//! - bulk-export NDJSON: [`NdjsonReader`], an iterator over a `BufRead`.
//!
//! [`detect`] tells the three apart from the first bytes of a file.
//!
//! ```
//! use caresync_fhir::read::{NdjsonReader, ReadOptions};
//!
//! let ndjson = "{\"resourceType\":\"Patient\",\"id\":\"a\",\"meta\":{\"versionId\":\"2\",\"lastUpdated\":\"2024-01-01T00:00:00Z\"}}\n\
//!               {not json}\n\
//!               {\"resourceType\":\"Patient\",\"id\":\"b\"}\n";
//! let items: Vec<_> = NdjsonReader::new(ndjson.as_bytes(), ReadOptions::default()).collect();
//! assert_eq!(items.len(), 3);
//! let first = items[0].as_ref().expect("line 1 is a resource");
//! assert_eq!(first.identity().id(), Some("a"));
//! assert_eq!(first.source().line, Some(1));
//! let bad = items[1].as_ref().expect_err("line 2 is not JSON");
//! assert_eq!(bad.code().code(), "FHIR-0001");
//! assert_eq!(bad.source_location().line, Some(2));
//! assert!(items[2].is_ok(), "the stream goes on after a bad line");
//! ```
//!
//! # Memory
//!
//! Every reader holds at most one item at a time: the NDJSON reader one line
//! (lines longer than [`ReadOptions::max_bytes`] are skipped, not buffered,
//! and reported as [`ReadError::TooLarge`]); the Bundle reader one entry (it
//! walks `Bundle.entry` with a serde visitor and never builds the array); a
//! single resource is read whole, up to [`ReadOptions::max_bytes`].
//!
//! # Identity, key and version
//!
//! See [`Identity::record_key`] and [`Identity::version`]: key = (resourceType,
//! id); version = (`meta.lastUpdated`, `meta.versionId` in natural order),
//! with a caller-supplied fallback instant for resources without
//! `lastUpdated`. A resource without `id` is an error item unless
//! [`ReadOptions::require_id`] is turned off (then it is yielded, and only
//! [`Identity::record_key`] fails).
//!
//! # Validation
//!
//! Reading checks JSON syntax and identity only. `validate` (or
//! `RawResource::validate`) deserializes a resource into fhir-sdk's R4B
//! model and reports the JSON path of the first violation. Both come with
//! the `validate` feature, on by default: it is the only part of the crate
//! that needs fhir-sdk, and its typed model dominates build time (a release
//! build of this crate takes minutes without it, over twenty with it), so
//! benchmarks and fuzz targets of reading, flattening and mapping leave it
//! out.

mod bundle;
mod detect;
mod error;
mod identity;
mod ndjson;
mod validate;

use std::io::Read;

use caresync_core::{EventTime, RecordKey, Version};

pub use bundle::{BundleEntry, BundleSummary, read_bundle, read_bundle_slice};
pub use detect::{Format, detect};
pub use error::{CODES, JsonFailure, ReadError, Source, codes};
pub use identity::{Identity, Instant, identify};
pub use ndjson::NdjsonReader;
pub use validate::is_r4b_resource_type;
#[cfg(feature = "validate")]
pub use validate::validate;

/// What the readers check and how much they hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    require_id: bool,
    max_bytes: u64,
}

impl Default for ReadOptions {
    /// Ids required; at most 64 MiB per line, entry or document.
    fn default() -> Self {
        ReadOptions {
            require_id: true,
            max_bytes: 64 << 20,
        }
    }
}

impl ReadOptions {
    /// Whether a resource without `id` is an error item (the default, since
    /// such a resource cannot be merged) or is yielded with `id` absent (for
    /// `inspect`, or transaction Bundles whose POST entries have no id yet).
    #[must_use]
    pub fn require_id(mut self, require: bool) -> Self {
        self.require_id = require;
        self
    }

    /// The largest NDJSON line or single document, in bytes.
    #[must_use]
    pub fn max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }

    /// The limit set by [`ReadOptions::max_bytes`].
    pub fn limit(&self) -> u64 {
        self.max_bytes
    }
}

/// One resource as read: its JSON text, identity and where it came from.
///
/// `Debug` shows the identity (redacted) and source, never the JSON text.
#[derive(Clone)]
pub struct RawResource {
    json: String,
    identity: Identity,
    source: Source,
    entry: Option<BundleEntry>,
}

impl std::fmt::Debug for RawResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResource")
            .field("identity", &self.identity)
            .field("source", &self.source)
            .field("json_bytes", &self.json.len())
            .finish_non_exhaustive()
    }
}

impl RawResource {
    /// Reads the identity of the resource in `json` (one JSON object) found at
    /// `at`, keeping the text as it is.
    pub fn parse(json: String, options: &ReadOptions, at: Source) -> Result<Self, ReadError> {
        let identity = identify(&json, options.require_id, at)?;
        Ok(RawResource {
            json,
            identity,
            source: at,
            entry: None,
        })
    }

    /// The resource's JSON text, exactly as it was in the input (without the
    /// line's surrounding whitespace).
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The JSON text, owned.
    pub fn into_json(self) -> String {
        self.json
    }

    /// Type, id, versionId and lastUpdated.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Where the resource was: NDJSON line and byte offset, or Bundle entry.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The Bundle entry's `fullUrl` and `request`, for resources read from a Bundle.
    pub fn entry(&self) -> Option<&BundleEntry> {
        self.entry.as_ref()
    }

    /// The merge key; see [`Identity::record_key`].
    pub fn record_key(&self) -> Result<RecordKey, ReadError> {
        self.identity.record_key(self.source)
    }

    /// The merge version; see [`Identity::version`] for the rule when
    /// `meta.lastUpdated` is absent.
    pub fn version(&self, fallback: Option<EventTime>) -> Result<Version, ReadError> {
        self.identity.version(fallback, self.source)
    }

    /// Validates the resource against the R4B model; paths of errors in a
    /// Bundle entry start with `entry[i].resource`.
    #[cfg(feature = "validate")]
    pub fn validate(&self) -> Result<(), ReadError> {
        validate::validate_at(&self.json, self.source)
    }
}

/// Reads one JSON resource from `input` (up to [`ReadOptions::max_bytes`]).
pub fn read_resource<R: Read>(input: R, options: &ReadOptions) -> Result<RawResource, ReadError> {
    let at = Source::WHOLE;
    let mut json = String::new();
    let limit = options.max_bytes;
    match input
        .take(limit.saturating_add(1))
        .read_to_string(&mut json)
    {
        Ok(n) if n as u64 > limit => Err(ReadError::TooLarge { at, limit }),
        Ok(_) => RawResource::parse(json, options, at),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(ReadError::NotUtf8 { at }),
        Err(source) => Err(ReadError::Io { at, source }),
    }
}
