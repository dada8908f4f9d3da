//! Locations, schemas and expressions that cannot be used give typed errors.

use std::sync::Arc;

use caresync_lake::{LakeError, LakeTable, TableSpec};
use deltalake::arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

use crate::common::{batch, create, owned, read, spec, temp_table};

/// A value standing in for patient data: it must never reach an error message.
const PATIENT: &str = "Jane Q. Patient";

#[tokio::test]
async fn unusable_locations_are_typed_errors() {
    let err = LakeTable::open("ftp://example.org/table")
        .await
        .expect_err("ftp");
    assert!(
        matches!(&err, LakeError::UnsupportedScheme { scheme, .. } if scheme == "ftp"),
        "{err:?}"
    );
    let err = LakeTable::open_or_create("gs://bucket/table", &spec())
        .await
        .expect_err("gs");
    assert!(
        matches!(err, LakeError::UnsupportedScheme { .. }),
        "{err:?}"
    );

    for malformed in ["http://[::1/table", "s3://", ""] {
        let err = LakeTable::open(malformed).await.expect_err(malformed);
        assert!(
            matches!(err, LakeError::InvalidUrl { .. }),
            "{malformed}: {err:?}"
        );
    }
    // Credentials in a URL never reach the message.
    let err = LakeTable::open("s3://AKIDEXAMPLE:s3cr3t@[bad/table")
        .await
        .expect_err("bad URL with credentials");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a table").expect("write file");
    let file = file.to_str().expect("UTF-8 path");
    let err = LakeTable::open(file).await.expect_err("regular file");
    assert!(matches!(err, LakeError::InvalidUrl { .. }), "{err:?}");
    let err = LakeTable::open_or_create(file, &spec())
        .await
        .expect_err("regular file");
    assert!(matches!(err, LakeError::InvalidUrl { .. }), "{err:?}");

    let empty = dir.path().to_str().expect("UTF-8 path");
    let err = LakeTable::open(empty).await.expect_err("empty directory");
    assert!(matches!(err, LakeError::NotATable { .. }), "{err:?}");
    let missing = dir.path().join("missing");
    let err = LakeTable::open(missing.to_str().expect("UTF-8 path"))
        .await
        .expect_err("missing directory");
    assert!(matches!(err, LakeError::NotATable { .. }), "{err:?}");
    assert!(!missing.exists(), "open must not create directories");
}

#[tokio::test]
async fn reopening_with_a_different_schema_names_the_columns() {
    let (_dir, url) = temp_table();
    create(&url).await;

    let retyped = TableSpec::new(
        "people",
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Int32, true),
        ])),
    );
    let err = LakeTable::open_or_create(&url, &retyped)
        .await
        .expect_err("retyped column");
    match &err {
        LakeError::SchemaMismatch { detail, .. } => {
            assert!(detail.contains("\"name\""), "{detail}");
            assert!(!detail.contains("\"id\""), "{detail}");
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }

    let extra = TableSpec::new(
        "people",
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("ward", DataType::Utf8, true),
        ])),
    );
    let err = LakeTable::open_or_create(&url, &extra)
        .await
        .expect_err("extra column");
    assert!(
        matches!(&err, LakeError::SchemaMismatch { detail, .. } if detail.contains("\"ward\"")),
        "{err:?}"
    );

    // The spec may not promise NOT NULL where the table allows nulls...
    let stricter = TableSpec::new(
        "people",
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ])),
    );
    let err = LakeTable::open_or_create(&url, &stricter)
        .await
        .expect_err("stricter nullability");
    assert!(
        matches!(&err, LakeError::SchemaMismatch { detail, .. } if detail.contains("\"name\"")),
        "{err:?}"
    );
    // ...but may call nullable what the table has as NOT NULL.
    let looser = TableSpec::new(
        "people",
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ])),
    );
    LakeTable::open_or_create(&url, &looser)
        .await
        .expect("looser nullability is compatible");

    let partitioned = spec().with_partition_columns(["name"]);
    let err = LakeTable::open_or_create(&url, &partitioned)
        .await
        .expect_err("different partitioning");
    assert!(matches!(err, LakeError::SchemaMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn specs_that_cannot_make_a_table_are_rejected_before_touching_storage() {
    let (_dir, url) = temp_table();
    let err = LakeTable::open_or_create(&url, &spec().with_partition_columns(["ward"]))
        .await
        .expect_err("unknown partition column");
    assert!(
        matches!(&err, LakeError::InvalidSpec { detail, .. } if detail.contains("\"ward\"")),
        "{err:?}"
    );
    let empty = TableSpec::new("nothing", Arc::new(Schema::empty()));
    let err = LakeTable::open_or_create(&url, &empty)
        .await
        .expect_err("no columns");
    assert!(matches!(err, LakeError::InvalidSpec { .. }), "{err:?}");
    assert!(
        !std::path::Path::new(&url).exists(),
        "no directory is created for an invalid spec"
    );
}

#[tokio::test]
async fn appending_the_wrong_schema_writes_nothing() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table
        .append(vec![batch(&[(1, Some("a"))])])
        .await
        .expect("good append");

    let wrong_schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let wrong = RecordBatch::try_new(
        wrong_schema,
        vec![
            Arc::new(Int32Array::from(vec![2])),
            Arc::new(StringArray::from(vec![PATIENT])),
        ],
    )
    .expect("batch");
    let err = table.append(vec![wrong]).await.expect_err("wrong type");
    match &err {
        LakeError::SchemaMismatch { detail, .. } => assert!(detail.contains("\"id\""), "{detail}"),
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    assert!(!err.to_string().contains(PATIENT), "{err}");

    let missing_column = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![2]))],
    )
    .expect("batch");
    let err = table
        .append(vec![missing_column])
        .await
        .expect_err("missing column");
    assert!(
        matches!(&err, LakeError::SchemaMismatch { detail, .. } if detail.contains("\"name\"")),
        "{err:?}"
    );

    // A null in the NOT NULL column, declared nullable by the batch.
    let nullable_ids = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![Some(2), None])),
            Arc::new(StringArray::from(vec![PATIENT, PATIENT])),
        ],
    )
    .expect("batch");
    let err = table
        .append(vec![nullable_ids.clone()])
        .await
        .expect_err("null id");
    assert!(
        matches!(&err, LakeError::SchemaMismatch { detail, .. } if detail.contains("\"id\"")),
        "{err:?}"
    );
    assert!(!err.to_string().contains(PATIENT), "{err}");

    // Mixed schemas in one append: the good batch is not written either.
    let err = table
        .append(vec![batch(&[(3, Some("c"))]), nullable_ids])
        .await
        .expect_err("mixed batches");
    assert!(matches!(err, LakeError::SchemaMismatch { .. }), "{err:?}");

    assert_eq!(table.version(), 1);
    let reopened = LakeTable::open(&url).await.expect("reopen");
    assert_eq!(reopened.version(), 1);
    assert_eq!(read(&reopened).await, owned(&[(1, Some("a"))]));

    // The same batch, nullable-declared but without nulls, is accepted.
    let nullable_without_nulls = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![Some(2)])),
            Arc::new(StringArray::from(vec!["b"])),
        ],
    )
    .expect("batch");
    assert_eq!(
        table
            .append(vec![nullable_without_nulls])
            .await
            .expect("nullable-declared batch"),
        2
    );
}

#[tokio::test]
async fn bad_predicates_and_columns_are_typed_errors_without_values() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table
        .append(vec![batch(&[(1, Some("a"))])])
        .await
        .expect("append");

    let predicate = format!("name = '{PATIENT}' AND no_such_column = 1");
    let err = table
        .delete_where(&predicate)
        .await
        .expect_err("bad predicate");
    assert!(
        matches!(
            err,
            LakeError::InvalidExpression {
                operation: "delete",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains(PATIENT), "{err}");

    let err = table
        .update_where("id = 1", &[("no_such_column", "1")])
        .await
        .expect_err("unknown column");
    assert!(
        matches!(&err, LakeError::UnknownColumn { column, .. } if column == "no_such_column"),
        "{err:?}"
    );
    let err = table
        .update_where("id = 1", &[("name", "'unterminated")])
        .await
        .expect_err("bad expression");
    assert!(
        matches!(
            err,
            LakeError::InvalidExpression {
                operation: "update",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(LakeTable::open(&url).await.expect("reopen").version(), 1);
}
