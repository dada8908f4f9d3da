//! Resource identity: type, id, `meta.versionId`, `meta.lastUpdated`, and
//! the merge engine's key and version derived from them.

use std::borrow::Cow;

use caresync_core::{EventTime, RecordKey, Tiebreaker, Version};
use serde::Deserialize;

use super::error::{ReadError, Source, from_json};

/// A FHIR `instant` (`meta.lastUpdated`), kept to the microsecond with the
/// UTC offset it was written with.
///
/// ```
/// use caresync_fhir::read::Instant;
///
/// let i = Instant::parse("2024-03-01T10:15:30.1234567+02:00").expect("a FHIR instant");
/// assert_eq!(i.event_time().as_unix_micros(), 1_709_280_930_123_456);
/// assert_eq!(i.offset_seconds(), 7_200);
/// assert!(Instant::parse("2024-03-01").is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instant {
    time: EventTime,
    offset_seconds: i32,
}

impl Instant {
    /// Parses a FHIR `instant`: date, time with seconds, optional fraction
    /// and a mandatory zone (`Z` or `±hh:mm`). Digits beyond the microsecond
    /// are truncated toward the past. `None` when the text is not an instant.
    pub fn parse(text: &str) -> Option<Instant> {
        let (micros, offset_seconds) = crate::time::parse_instant(text)?;
        Some(Instant {
            time: EventTime::from_unix_micros(micros),
            offset_seconds,
        })
    }

    /// The instant as the merge engine's event time (UTC microseconds).
    pub fn event_time(&self) -> EventTime {
        self.time
    }

    /// The UTC offset the instant was written with, in seconds.
    pub fn offset_seconds(&self) -> i32 {
        self.offset_seconds
    }
}

/// Who a resource is and which version of it this is.
///
/// `Debug` shows the type and whether an id and a version are present, not
/// their values: ids of some resources are identifiers such as MRNs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    resource_type: Box<str>,
    id: Option<Box<str>>,
    version_id: Option<Box<str>>,
    last_updated: Option<Instant>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("resource_type", &self.resource_type)
            .field("id", &self.id.as_ref().map(|_| "<redacted>"))
            .field("version_id", &self.version_id)
            .field("last_updated", &self.last_updated)
            .finish()
    }
}

impl Identity {
    /// An identity from its parts (for callers that build resources).
    pub fn new(
        resource_type: &str,
        id: Option<&str>,
        version_id: Option<&str>,
        last_updated: Option<Instant>,
    ) -> Self {
        Identity {
            resource_type: resource_type.into(),
            id: id.map(Into::into),
            version_id: version_id.map(Into::into),
            last_updated,
        }
    }

    /// `resourceType`, e.g. `Patient`.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The logical `id`, when the resource has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// `meta.versionId`, when present.
    pub fn version_id(&self) -> Option<&str> {
        self.version_id.as_deref()
    }

    /// `meta.lastUpdated`, when present.
    pub fn last_updated(&self) -> Option<Instant> {
        self.last_updated
    }

    /// The merge key: entity = `resourceType`, one key part = `id`.
    ///
    /// A resource without an id cannot be merged: [`ReadError::MissingId`].
    pub fn record_key(&self, at: Source) -> Result<RecordKey, ReadError> {
        match &self.id {
            Some(id) => Ok(RecordKey::new(&self.resource_type, [&**id])),
            None => Err(ReadError::MissingId {
                at,
                resource_type: self.resource_type.clone(),
            }),
        }
    }

    /// The merge version: event time = `meta.lastUpdated`, tiebreaker =
    /// `meta.versionId` in natural order ([`Tiebreaker::from_text`], so `"2"`
    /// sorts before `"10"`), or [`Tiebreaker::None`] without a versionId.
    ///
    /// **Resources without `meta.lastUpdated`** take `fallback` as their
    /// event time. The caller must say what that instant is: for a bulk
    /// export, its `transactionTime` (the export guarantees every resource in
    /// it was last changed at or before that instant, so the export as a whole
    /// is ordered correctly against earlier and later exports); for a message
    /// or an API payload, the time it arrived. Without `fallback` the result
    /// is [`ReadError::NoEventTime`]: the reader never invents "now", so
    /// replaying the same file gives the same versions.
    pub fn version(&self, fallback: Option<EventTime>, at: Source) -> Result<Version, ReadError> {
        let time = match (self.last_updated, fallback) {
            (Some(instant), _) => instant.event_time(),
            (None, Some(fallback)) => fallback,
            (None, None) => return Err(ReadError::NoEventTime { at }),
        };
        let tiebreaker = self
            .version_id
            .as_deref()
            .map_or(Tiebreaker::None, Tiebreaker::from_text);
        Ok(Version::new(time, tiebreaker))
    }
}

#[derive(Deserialize)]
struct IdentityWire<'a> {
    #[serde(rename = "resourceType", borrow, default)]
    resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    meta: Option<MetaWire<'a>>,
}

#[derive(Deserialize)]
struct MetaWire<'a> {
    #[serde(rename = "versionId", borrow, default)]
    version_id: Option<Cow<'a, str>>,
    #[serde(rename = "lastUpdated", borrow, default)]
    last_updated: Option<Cow<'a, str>>,
}

/// True when `s` has the shape of a FHIR type name: an upper-case ASCII
/// letter followed by ASCII letters, at most 64 in all.
pub(crate) fn is_type_name(s: &str) -> bool {
    s.len() <= 64
        && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// True when `s` is a FHIR `id`: 1 to 64 of `A-Z a-z 0-9 - .`.
pub(crate) fn is_fhir_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Reads the identity of the resource in `json` (the whole text must be one
/// JSON object), checking the shape of its type, id and lastUpdated.
///
/// With `require_id`, a resource without an id is [`ReadError::MissingId`].
pub fn identify(json: &str, require_id: bool, at: Source) -> Result<Identity, ReadError> {
    if !json.trim_start().starts_with('{') {
        // Not an object: a syntax error if it is not JSON at all.
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(json) {
            Err(err) if !err.is_data() => from_json(at, ".", &err),
            _ => ReadError::MissingResourceType { at },
        });
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let wire: IdentityWire<'_> = match serde_path_to_error::deserialize(&mut de) {
        Ok(wire) => wire,
        Err(err) => {
            let path = crate::json_path::safe_path(err.path(), "");
            let inner = err.into_inner();
            if inner.classify() == serde_json::error::Category::Data && path == "." {
                return Err(ReadError::MissingResourceType { at });
            }
            return Err(from_json(at, &path, &inner));
        }
    };
    if let Err(err) = de.end() {
        return Err(from_json(at, ".", &err));
    }
    let resource_type = match wire.resource_type {
        None => return Err(ReadError::MissingResourceType { at }),
        Some(t) if !is_type_name(&t) => return Err(ReadError::BadResourceType { at }),
        Some(t) => t,
    };
    let id = match wire.id {
        Some(id) if !is_fhir_id(&id) => return Err(ReadError::BadId { at }),
        Some(id) => Some(id),
        None if require_id => {
            return Err(ReadError::MissingId {
                at,
                resource_type: (*resource_type).into(),
            });
        }
        None => None,
    };
    let (version_id, last_updated) = match wire.meta {
        Some(meta) => {
            let last_updated = match meta.last_updated {
                Some(text) => match Instant::parse(&text) {
                    Some(i) => Some(i),
                    None => return Err(ReadError::BadLastUpdated { at }),
                },
                None => None,
            };
            (meta.version_id, last_updated)
        }
        None => (None, None),
    };
    Ok(Identity {
        resource_type: (*resource_type).into(),
        id: id.map(|s| (*s).into()),
        version_id: version_id.map(|s| (*s).into()),
        last_updated,
    })
}
