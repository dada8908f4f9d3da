//! The canonical version text (`<micros>:-`, `:s<n>`, `:t<text>`) is read
//! from Delta columns and DLQ rows: parsing must never panic, and whatever
//! parses must print back to a text that parses to the same version.
#![no_main]

use caresync_core::Version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(version) = text.parse::<Version>() {
        let printed = version.to_string();
        assert_eq!(printed.parse::<Version>().ok(), Some(version));
    }
});
