//! Corpus inputs with random edits: the readers, the flattener and the
//! HL7 v2 mapping never panic, the mapping writes well-formed JSON, and
//! every NDJSON line still comes out as a resource or a typed error.

use std::fs;
use std::path::{Path, PathBuf};

use caresync_fhir::flatten::{Flattener, ResourceTable};
use caresync_fhir::read::{NdjsonReader, ReadOptions};
use caresync_fhir::v2;
use proptest::prelude::*;

fn root(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

/// Supported HL7 samples, plus the benchmark message.
fn hl7_inputs() -> Vec<Vec<u8>> {
    let dir = root("../../../shared/corpora/hl7v2/fhir-converter-samples");
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("samples are readable")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("ADT-") || n.starts_with("ORU-") || n.starts_with("VXU-")
            })
        })
        .collect();
    names.sort();
    names.push(root("../../benches/parsers/data/adt_a01_2kb.hl7"));
    names
        .iter()
        .map(|p| fs::read(p).expect("sample is readable"))
        .collect()
}

/// The first lines of each served bulk file, as one NDJSON text.
fn ndjson_input() -> Vec<u8> {
    let dir = root("../../../shared/corpora/fhir/bulk-10-patients");
    let mut out = Vec::new();
    for t in [
        "Patient",
        "Encounter",
        "Condition",
        "Immunization",
        "Procedure",
    ] {
        let text = fs::read_to_string(dir.join(format!("{t}.000.ndjson"))).expect("bulk file");
        for line in text.lines().take(3) {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// Bytes that matter to the formats, and any byte.
fn edit_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"|^~\\&\r\n\"{}[]:,0-+.TZ ".to_vec()),
        any::<u8>(),
    ]
}

#[derive(Clone, Debug)]
enum Edit {
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Delete(prop::sample::Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<prop::sample::Index>(), edit_byte()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<prop::sample::Index>(), edit_byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Delete),
    ];
    prop::collection::vec(edit, 1..12)
}

fn apply(mut input: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        if input.is_empty() {
            break;
        }
        match e {
            Edit::Set(i, b) => {
                let at = i.index(input.len());
                input[at] = *b;
            }
            Edit::Insert(i, b) => {
                let at = i.index(input.len() + 1);
                input.insert(at, *b);
            }
            Edit::Delete(i) => {
                let at = i.index(input.len());
                input.remove(at);
            }
        }
    }
    input
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn edited_hl7_maps_to_well_formed_json_or_a_typed_error(
        which in any::<prop::sample::Index>(),
        edits in edits(),
    ) {
        let inputs = hl7_inputs();
        let input = apply(which.get(&inputs).clone(), &edits);
        match v2::map_bytes(&input) {
            Ok(mapped) => {
                let bundle: serde_json::Value = serde_json::from_str(&mapped.bundle)
                    .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
                prop_assert_eq!(&bundle["resourceType"], "Bundle");
                prop_assert_eq!(&bundle["entry"][0]["resource"]["resourceType"], "MessageHeader");
                let again = v2::map_bytes(&input).expect("maps again");
                prop_assert_eq!(again.bundle, mapped.bundle);
            }
            Err(e) => prop_assert!(e.code().code().starts_with("FHIR-02")),
        }
    }

    #[test]
    fn edited_ndjson_reads_line_by_line_and_flattens_or_refuses(edits in edits()) {
        let input = apply(ndjson_input(), &edits);
        let lines = input
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .count();
        let mut items = 0;
        for item in NdjsonReader::new(&input[..], ReadOptions::default()) {
            items += 1;
            let Ok(resource) = item else { continue };
            let _ = resource.validate();
            let _ = resource.version(None);
            if let Some(t) = ResourceTable::from_resource_type(resource.identity().resource_type()) {
                let mut f = Flattener::new(t);
                let ok = f.push(resource.json()).is_ok();
                prop_assert_eq!(f.finish().num_rows(), usize::from(ok));
            }
        }
        prop_assert_eq!(items, lines, "one item per non-blank line");
    }
}
