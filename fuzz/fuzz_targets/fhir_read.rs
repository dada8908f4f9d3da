//! FHIR reading never panics: NDJSON, Bundles and single resources, then
//! identity, version, flattening and (with `--features validate`)
//! validation of what was read. A line the
//! NDJSON reader yields reads the same way as a single resource.
#![no_main]

use std::ops::ControlFlow;

use caresync_fhir::flatten::{Flattener, ResourceTable};
use caresync_fhir::read::{
    NdjsonReader, RawResource, ReadOptions, Source, read_bundle, read_resource,
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
    let mut entries = 0;
    let _ = read_bundle(data, &options, |entry| {
        if let Ok(resource) = entry {
            exercise(&resource);
        }
        entries += 1;
        if entries < 64 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    });
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
