//! Telling a resource, a Bundle and NDJSON apart from the first bytes.

/// The shape of a FHIR JSON input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// One JSON resource (other than a Bundle).
    Resource,
    /// One Bundle.
    Bundle,
    /// Newline-delimited JSON: one resource per line.
    Ndjson,
}

/// Guesses the format of an input from its first bytes (`prefix`; 64 KiB is
/// plenty for Synthea-sized lines). `None` when it does not start with a JSON
/// object.
///
/// The rule: when the first line is a complete JSON object and another line
/// follows that starts with `{`, it is NDJSON. Otherwise the top-level
/// `resourceType` decides between [`Format::Bundle`] and
/// [`Format::Resource`]; when `resourceType` is not within the prefix, it is
/// a [`Format::Resource`]. A one-line NDJSON file reads the same as a single
/// resource, so calling it a resource loses nothing; an NDJSON file whose
/// first line is longer than the prefix is taken for a resource, so give a
/// prefix longer than one line.
///
/// ```
/// use caresync_fhir::read::{Format, detect};
///
/// assert_eq!(detect(b"{\"resourceType\":\"Patient\",\"id\":\"a\"}\n{\"resourceType\":\"Patient\""), Some(Format::Ndjson));
/// assert_eq!(detect(b"{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"batch\""), Some(Format::Bundle));
/// assert_eq!(detect(b"  {\"resourceType\":\"Observation\",\"id\":\"o\"}"), Some(Format::Resource));
/// assert_eq!(detect(b"MSH|^~\\&|"), None);
/// ```
pub fn detect(prefix: &[u8]) -> Option<Format> {
    let bytes = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let bytes = &bytes[start..];
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let scan = scan_object(bytes);
    if let Some(end) = scan.end {
        let rest = &bytes[end..];
        // Whitespace up to a newline, then another object.
        let same_line = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t' || b == b'\r')
            .count();
        if rest.get(same_line) == Some(&b'\n') {
            let next = rest[same_line..].iter().find(|b| !b.is_ascii_whitespace());
            if next == Some(&b'{') && !scan.newline_inside {
                return Some(Format::Ndjson);
            }
        }
    }
    match scan.resource_type {
        Some(t) if t == b"Bundle" => Some(Format::Bundle),
        _ => Some(Format::Resource),
    }
}

struct Scan<'a> {
    /// Offset just past the closing `}` of the first object, when within the prefix.
    end: Option<usize>,
    /// Whether that object spans lines (pretty-printed, hence not NDJSON).
    newline_inside: bool,
    /// The value of the top-level `resourceType`, when seen.
    resource_type: Option<&'a [u8]>,
}

/// A small JSON scanner: tracks strings, escapes and depth, enough to find the
/// end of the first object and its top-level `resourceType` value.
fn scan_object(bytes: &[u8]) -> Scan<'_> {
    let mut scan = Scan {
        end: None,
        newline_inside: false,
        resource_type: None,
    };
    let mut depth = 0usize;
    let mut i = 0;
    // The last string closed at depth 1 and whether it was a key.
    let mut last_key: Option<&[u8]> = None;
    let mut expect_type_value = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let begin = i + 1;
                let mut j = begin;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                if j >= bytes.len() {
                    return scan;
                }
                let text = &bytes[begin..j];
                if depth == 1 {
                    if expect_type_value {
                        scan.resource_type = Some(text);
                        expect_type_value = false;
                    } else {
                        last_key = Some(text);
                    }
                }
                i = j + 1;
                continue;
            }
            b':' if depth == 1 => {
                expect_type_value = last_key == Some(b"resourceType".as_slice());
                last_key = None;
            }
            b',' if depth == 1 => {
                expect_type_value = false;
                last_key = None;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    scan.end = Some(i + 1);
                    return scan;
                }
            }
            b'\n' => scan.newline_inside = true,
            _ => {}
        }
        i += 1;
    }
    scan
}
