//! Every X12 file of the shared corpora reads, with its envelopes intact.

use std::path::{Path, PathBuf};

use caresync_x12::{Document, Severity, codes};

/// Corpus files whose ISA16 is `:` but whose composites use `>`: read with
/// the separator in use and one warning.
pub(crate) const WRONG_COMPONENT_SEPARATOR: &[&str] = &[
    "cob-contractural-adjustment.835",
    "demo.cob.2ndary.example4.837",
    "demo.example11.837",
    "demo.example12.837",
    "demo.example6.837",
    "demo.example9.837",
    "out-of-network-repriced-claim.837i",
    "ppo-repriced-claim.837i",
    "secondary-payment.835",
];

/// Whether `path` is one of [`WRONG_COMPONENT_SEPARATOR`].
pub(crate) fn uses_another_separator(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| WRONG_COMPONENT_SEPARATOR.contains(&n.to_string_lossy().as_ref()))
}

pub(crate) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora/x12")
}

/// Every X12 file of the corpus (not the licences), sorted.
pub(crate) fn corpus_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![corpus_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus dir is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("LICENSE"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_corpus_file_reads_without_envelope_issues() {
    let files = corpus_files();
    assert!(files.len() >= 40, "{} files", files.len());
    for path in files {
        let bytes = std::fs::read(&path).expect("readable");
        let doc = Document::read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if uses_another_separator(&path) {
            let found: Vec<_> = doc.issues().iter().map(|i| (i.code, i.severity)).collect();
            assert_eq!(
                found,
                [(codes::COMPONENT_SEPARATOR_MISMATCH, Severity::Warning)],
                "{}",
                path.display()
            );
            let tx = doc.transactions().next().expect("a transaction set");
            assert_eq!(tx.st().delimiters().component, b'>');
        } else {
            assert!(
                doc.issues().is_empty(),
                "{}: {:?}",
                path.display(),
                doc.issues()
            );
        }
        assert!(doc.transactions().count() >= 1, "{}", path.display());
        for tx in doc.transactions() {
            assert!(tx.se().is_some(), "{}", path.display());
        }
    }
}
