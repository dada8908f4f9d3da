//! FHIR reading never panics: NDJSON, Bundles and single resources, then
//! identity, version, flattening and (with `--features validate`)
//! validation of what was read. A line the
//! NDJSON reader yields reads the same way as a single resource, and a
//! Bundle read from a slice yields what it yields read as a stream.
#![no_main]

use std::ops::ControlFlow;

use caresync_fhir::flatten::{Flattener, ResourceTable};
use caresync_fhir::read::{
    NdjsonReader, RawResource, ReadOptions, Source, read_bundle, read_bundle_slice, read_resource,
};
use libfuzzer_sys::fuzz_target;

fn exercise(resource: &RawResource) {
    let _ = resource.record_key();
    let _ = resource.version(None);
    #[cfg(feature = "validate")]
    let _ = resource.validate();
    if let Some(table) = ResourceTable::from_resource_type(resource.identity().resource_type()) {
        let mut f = Flattener::new(table);
        let pushed = f.push(resource.json()).is_ok();
        assert_eq!(f.finish().num_rows(), usize::from(pushed), "one row per accepted push");
    }
}

fuzz_target!(|data: &[u8]| {
    let options = ReadOptions::default().max_bytes(1 << 16);
    for item in NdjsonReader::new(data, options).take(64) {
        if let Ok(resource) = item {
            exercise(&resource);
            let again = RawResource::parse(resource.json().to_owned(), &options, Source::WHOLE)
                .expect("a yielded line reads alone");
            assert_eq!(again.identity(), resource.identity(), "same identity alone");
        }
    }
    let mut streamed = Vec::new();
    let from_stream = read_bundle(data, &options, |entry| {
        if let Ok(resource) = &entry {
            exercise(resource);
        }
        streamed.push(entry.map(|r| r.json().to_owned()).map_err(|e| e.code()));
        if streamed.len() < 64 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    });
    // The slice reader hands over the same entries from UTF-8 input.
    if std::str::from_utf8(data).is_ok() {
        let mut sliced = Vec::new();
        let from_slice = read_bundle_slice(data, &options, |entry| {
            sliced.push(entry.map(|r| r.json().to_owned()).map_err(|e| e.code()));
            if sliced.len() < 64 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
        });
        assert_eq!(sliced, streamed, "same entries from a slice");
        assert_eq!(from_slice.is_ok(), from_stream.is_ok(), "same outcome from a slice");
    }
    if let Ok(resource) = read_resource(data, &options) {
        exercise(&resource);
    }
    // Every table refuses or takes arbitrary text without panicking.
    if let Ok(text) = std::str::from_utf8(data) {
        let mut f = Flattener::new(ResourceTable::Observation);
        let _ = f.push(text);
        let _ = f.finish();
    }
});
