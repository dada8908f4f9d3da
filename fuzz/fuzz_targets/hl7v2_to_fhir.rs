//! HL7 v2 → FHIR mapping never panics, always writes well-formed JSON, and
//! maps the same bytes to the same Bundle.
#![no_main]

use caresync_fhir::v2::map_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mapped) = map_bytes(data) {
        let value: serde_json::Value =
            serde_json::from_str(&mapped.bundle).expect("the Bundle is well-formed JSON");
        assert_eq!(value["resourceType"], "Bundle");
        let again = map_bytes(data).expect("mapping is deterministic");
        assert_eq!(again.bundle, mapped.bundle, "same message, same Bundle");
    }
});
