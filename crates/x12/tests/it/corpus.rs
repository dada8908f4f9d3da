//! Every X12 file of the shared corpora reads, with its envelopes intact.

use std::path::{Path, PathBuf};

use caresync_x12::Document;

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
        assert!(
            doc.issues().is_empty(),
            "{}: {:?}",
            path.display(),
            doc.issues()
        );
        assert!(doc.transactions().count() >= 1, "{}", path.display());
        for tx in doc.transactions() {
            assert!(tx.se().is_some(), "{}", path.display());
        }
    }
}
