//! Every file of the shared HL7 v2 corpus parses without errors and prints
//! back identically (after line-ending normalisation).

use std::path::PathBuf;

use caresync_hl7v2::{Message, Severity, messages};

fn corpus_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpora/hl7v2/fhir-converter-samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {} must exist: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "hl7"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 100,
        "expected the whole corpus, found {}",
        files.len()
    );
    files
}

/// Segments joined by `\r`, without a byte-order mark or blank lines.
fn normalise(input: &[u8]) -> Vec<u8> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut out = Vec::with_capacity(input.len() + 1);
    for line in input.split(|&b| b == b'\r' || b == b'\n') {
        if !line.is_empty() {
            out.extend_from_slice(line);
            out.push(b'\r');
        }
    }
    out
}

#[test]
fn every_corpus_file_parses_without_errors_and_prints_back() {
    let mut count = 0;
    for path in corpus_files() {
        let input = std::fs::read(&path).expect("readable");
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let mut printed = Vec::new();
        for msg in messages(&input) {
            let msg = msg.unwrap_or_else(|e| panic!("{name}: {e}"));
            let errors: Vec<_> = msg
                .issues()
                .iter()
                .filter(|i| i.severity == Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            assert!(msg.header().message_type().is_some(), "{name}: MSH-9");
            printed.extend(msg.to_bytes());
            count += 1;
        }
        assert_eq!(
            String::from_utf8_lossy(&printed),
            String::from_utf8_lossy(&normalise(&input)),
            "{name} prints back"
        );
        // And as one message per file, as they are meant.
        let msg = Message::parse(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg.to_bytes(), normalise(&input), "{name}");
    }
    assert!(count >= 100);
}
