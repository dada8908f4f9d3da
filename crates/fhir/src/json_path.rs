//! JSON paths for error messages, built so that input text never reaches
//! them: a key that is not a plain element name is written `?`.

use serde_path_to_error::{Path, Segment};

/// The longest key written as is.
const MAX_KEY: usize = 64;

/// `path` under `root`: `root.a[0].b` (with `root` empty: `a[0].b`, and `.`
/// for the document itself). Keys other than ASCII letters, digits and `_`
/// (at most 64 bytes) are written `?`; trailing unknown segments (a key
/// not read yet) are dropped.
pub(crate) fn safe_path(path: &Path, root: &str) -> String {
    let mut segments: Vec<&Segment> = path.iter().collect();
    while matches!(segments.last(), Some(Segment::Unknown)) {
        segments.pop();
    }
    let mut out = String::from(root);
    for seg in segments {
        if let Segment::Seq { index } = seg {
            out.push_str(&format!("[{index}]"));
            continue;
        }
        if !out.is_empty() {
            out.push('.');
        }
        match seg {
            Segment::Map { key } if is_plain(key) => out.push_str(key),
            _ => out.push('?'),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY
        && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::safe_path;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        name: Vec<Name>,
        #[serde(default)]
        tags: std::collections::BTreeMap<String, u8>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Name {
        family: String,
    }

    fn path_of(json: &str, root: &str) -> String {
        let mut de = serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Doc>(&mut de)
            .err()
            .expect("the document is refused");
        safe_path(err.path(), root)
    }

    #[test]
    fn element_names_and_indexes_are_kept() {
        let json = r#"{"name":[{"family":"A"},{"family":5}]}"#;
        assert_eq!(path_of(json, ""), "name[1].family");
        assert_eq!(path_of(json, "$"), "$.name[1].family");
    }

    #[test]
    fn free_text_keys_are_hidden() {
        let json = r#"{"name":[],"tags":{"Jane Doe 1970-01-01":"x"}}"#;
        let path = path_of(json, "");
        assert_eq!(path, "tags.?");
        assert!(!path.contains("Jane"));
    }

    #[test]
    fn the_document_itself_is_a_dot() {
        assert_eq!(path_of(r#"{"tags":{}}"#, ""), ".");
    }
}
