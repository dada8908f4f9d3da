//! Stable codes and the errors of rows that cannot become changes.

use caresync_core::{ErrorClass, Location, check_unique};
use caresync_merge::{MergeError, codes, validate};

#[test]
fn codes_are_unique_here_and_beside_core() {
    assert_eq!(check_unique(codes::ALL), Ok(()));
    let all: Vec<_> = caresync_core::codes::ALL
        .iter()
        .chain(codes::ALL)
        .copied()
        .collect();
    assert_eq!(check_unique(&all), Ok(()));
    let names: Vec<&str> = codes::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(
        names,
        ["MERGE-0001", "MERGE-0002", "MERGE-0003", "MERGE-0004"]
    );
    assert!(codes::ALL.iter().all(|c| c.class() == ErrorClass::Merge));
}

#[test]
fn a_bad_row_becomes_a_rejection_naming_row_and_column() {
    let error = validate::key::<&str>(17, "mrn", None).expect_err("null key");
    assert_eq!(
        error,
        MergeError::MissingKey {
            row: 17,
            column: "mrn".into()
        }
    );
    let rejection = error.rejection();
    assert_eq!(rejection.code(), codes::MISSING_KEY);
    assert_eq!(
        rejection.location(),
        &Location::Row {
            index: 17,
            column: Some("mrn".into())
        }
    );
    assert_eq!(
        rejection.to_string(),
        "MERGE-0001 at row 17, column mrn: row has no key"
    );
}

#[test]
fn a_batch_with_one_bad_row_is_refused_whole() {
    // (id, version text, op) with a malformed version in row 2.
    let rows = [
        (Some(1_i64), Some("100:s1"), Some("insert")),
        (Some(2), Some("100:s1"), Some("update")),
        (Some(3), Some("SMITH^JOHN"), Some("update")),
        (None, None, None),
    ];
    let errors: Vec<MergeError> = (0_u64..)
        .zip(rows)
        .filter_map(|(i, (id, version, op))| {
            let check = || -> Result<(), MergeError> {
                validate::key(i, "id", id)?;
                validate::version_text(i, "version", version)?;
                validate::op(i, "op", op)?;
                Ok(())
            };
            check().err()
        })
        .collect();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "MERGE-0003 at row 2, column version: version is not in the canonical form",
            "MERGE-0001 at row 3, column id: key column is null",
        ]
    );
    assert!(!shown.concat().contains("SMITH"));
}
