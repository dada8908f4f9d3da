//! Bundles, read entry by entry.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::from_json;
use super::{RawResource, ReadError, ReadOptions, Source};

/// The parts of a Bundle entry that travel with its resource.
///
/// `Debug` shows which parts are present, not their values (URLs carry ids).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BundleEntry {
    /// `entry.fullUrl`.
    pub full_url: Option<Box<str>>,
    /// `entry.request.method` (`POST`, `PUT`, …) in transaction and batch Bundles.
    pub method: Option<Box<str>>,
    /// `entry.request.url`.
    pub url: Option<Box<str>>,
}

impl fmt::Debug for BundleEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleEntry")
            .field("full_url", &self.full_url.as_ref().map(|_| "<redacted>"))
            .field("method", &self.method)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What [`read_bundle`] saw of the Bundle itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BundleSummary {
    /// `Bundle.type` (`transaction`, `batch`, `collection`, `searchset`, …),
    /// when it is a code (lower-case letters and `-`).
    pub bundle_type: Option<Box<str>>,
    /// Number of entries seen.
    pub entries: usize,
    /// Entries without a `resource` (a DELETE in a transaction); not yielded.
    pub entries_without_resource: usize,
    /// True when the callback asked to stop before the end.
    pub stopped: bool,
}

/// Reads a Bundle from `input`, handing each `entry[i].resource` to `each`.
///
/// The Bundle is walked with a serde visitor: entries are read one at a time
/// and dropped after the callback returns, so memory is bounded by the
/// largest entry, whatever the number of entries. Other Bundle elements
/// (`link`, `signature`, …) are skipped without being kept.
///
/// A bad entry (a resource without `resourceType`, an invalid `id`, a
/// malformed `request`) is handed to `each` as an `Err` with its entry index,
/// and reading goes on. Failures of the Bundle as a whole (not JSON, not a
/// Bundle, I/O) are the `Err` of the call; entries before them have already
/// been handed over. `each` returns [`ControlFlow::Break`] to stop early.
///
/// Wrap a file in a [`std::io::BufReader`]: serde_json reads byte by byte.
/// A Bundle already in memory reads several times faster through
/// [`read_bundle_slice`].
pub fn read_bundle<R, F>(
    input: R,
    options: &ReadOptions,
    mut each: F,
) -> Result<BundleSummary, ReadError>
where
    R: Read,
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    walk(
        serde_json::Deserializer::from_reader(input),
        options,
        &mut each,
    )
}

/// [`read_bundle`] over a Bundle in memory: the same entries, summary and
/// errors, without serde_json's byte-by-byte reader. Input that is not
/// UTF-8 is refused as a whole, before any entry, with
/// [`ReadError::NotUtf8`] (the stream reader reports it as invalid JSON
/// where it meets it).
pub fn read_bundle_slice<F>(
    input: &[u8],
    options: &ReadOptions,
    mut each: F,
) -> Result<BundleSummary, ReadError>
where
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    let Ok(text) = std::str::from_utf8(input) else {
        return Err(ReadError::NotUtf8 { at: Source::WHOLE });
    };
    walk(serde_json::Deserializer::from_str(text), options, &mut each)
}

fn walk<'de, R, F>(
    mut de: serde_json::Deserializer<R>,
    options: &ReadOptions,
    each: &mut F,
) -> Result<BundleSummary, ReadError>
where
    R: serde_json::de::Read<'de>,
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    let mut state = State {
        options,
        each,
        summary: BundleSummary::default(),
        failure: None,
        resource_type_seen: false,
    };
    let result = BundleSeed(&mut state)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match result {
        Ok(()) if !state.resource_type_seen => {
            Err(ReadError::MissingResourceType { at: Source::WHOLE })
        }
        Ok(()) => Ok(state.summary),
        Err(err) => {
            if state.summary.stopped {
                return Ok(state.summary);
            }
            if let Some(failure) = state.failure {
                return Err(failure);
            }
            if err.is_io() {
                let source = std::io::Error::from(err);
                if source.kind() == std::io::ErrorKind::InvalidData {
                    return Err(ReadError::NotUtf8 { at: Source::WHOLE });
                }
                return Err(ReadError::Io {
                    at: Source::WHOLE,
                    source,
                });
            }
            Err(from_json(Source::WHOLE, ".", &err))
        }
    }
}

struct State<'a, F> {
    options: &'a ReadOptions,
    each: &'a mut F,
    summary: BundleSummary,
    /// A failure of the Bundle as a whole, reported instead of serde's error.
    failure: Option<ReadError>,
    resource_type_seen: bool,
}

impl<F> State<'_, F>
where
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    /// Handles one entry; `Break` when the callback wants no more.
    fn entry(&mut self, index: usize, raw: &RawValue) -> ControlFlow<()> {
        let at = Source::entry(index);
        let item = match parse_entry(raw.get(), at) {
            Ok(None) => {
                self.summary.entries_without_resource += 1;
                return ControlFlow::Continue(());
            }
            Ok(Some((resource, entry))) => {
                RawResource::parse(resource.to_owned(), self.options, at).map(|mut r| {
                    r.entry = Some(entry);
                    r
                })
            }
            Err(e) => Err(e),
        };
        (self.each)(item)
    }
}

#[derive(Deserialize)]
struct EntryWire<'a> {
    #[serde(rename = "fullUrl", borrow, default)]
    full_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    request: Option<RequestWire<'a>>,
    #[serde(borrow, default)]
    resource: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RequestWire<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
}

fn parse_entry(json: &str, at: Source) -> Result<Option<(&str, BundleEntry)>, ReadError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let wire: EntryWire<'_> = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = crate::json_path::safe_path(err.path(), "");
        ReadError::BadEntry {
            at,
            path: path.into(),
            reason: super::error::data_reason(&err.into_inner().to_string()).into(),
        }
    })?;
    let Some(resource) = wire.resource else {
        return Ok(None);
    };
    let (method, url) = match wire.request {
        Some(r) => (r.method, r.url),
        None => (None, None),
    };
    let entry = BundleEntry {
        full_url: wire.full_url.map(|s| (*s).into()),
        method: method.map(|s| (*s).into()),
        url: url.map(|s| (*s).into()),
    };
    Ok(Some((resource.get(), entry)))
}

struct BundleSeed<'s, 'a, F>(&'s mut State<'a, F>);

impl<'de, F> DeserializeSeed<'de> for BundleSeed<'_, '_, F>
where
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F> Visitor<'de> for BundleSeed<'_, '_, F>
where
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Bundle object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "resourceType" => {
                    let value: Cow<'de, str> = map.next_value()?;
                    state.resource_type_seen = true;
                    if value != "Bundle" {
                        state.failure = Some(ReadError::NotABundle { at: Source::WHOLE });
                        return Err(de::Error::custom("not a Bundle"));
                    }
                }
                "type" => {
                    let value: Cow<'de, str> = map.next_value()?;
                    if value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                        state.summary.bundle_type = Some((*value).into());
                    }
                }
                "entry" => map.next_value_seed(EntriesSeed(&mut *state))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct EntriesSeed<'s, 'a, F>(&'s mut State<'a, F>);

impl<'de, F> DeserializeSeed<'de> for EntriesSeed<'_, '_, F>
where
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F> Visitor<'de> for EntriesSeed<'_, '_, F>
where
    F: FnMut(Result<RawResource, ReadError>) -> ControlFlow<()>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of Bundle entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.0;
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let index = state.summary.entries;
            state.summary.entries += 1;
            if state.entry(index, &raw).is_break() {
                state.summary.stopped = true;
                return Err(de::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}
