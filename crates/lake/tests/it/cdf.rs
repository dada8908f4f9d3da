//! The change data feed after inserts, an update and a delete.

use std::sync::Arc;

use caresync_core::ChangeType;
use caresync_lake::{LakeError, LakeTable, TableSpec};
use deltalake::arrow::array::{RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};

use crate::common::{Change, batch, changes, create, owned, read, spec, strings, temp_table};

fn change(kind: ChangeType, id: i64, name: &str, version: u64) -> Change {
    (kind.as_str().to_owned(), id, Some(name.to_owned()), version)
}

#[tokio::test]
async fn inserts_updates_and_deletes_appear_with_their_versions() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table
        .append(vec![batch(&[
            (1, Some("a")),
            (2, Some("b")),
            (3, Some("c")),
            (4, Some("d")),
        ])])
        .await
        .expect("insert");

    let updated = table
        .update_where("id = 2", &[("name", "'b2'")])
        .await
        .expect("update");
    assert_eq!((updated.version, updated.rows), (2, Some(1)));

    let deleted = table.delete_where("id = 3").await.expect("delete");
    assert_eq!((deleted.version, deleted.rows), (3, Some(1)));

    assert_eq!(
        read(&table).await,
        owned(&[(1, Some("a")), (2, Some("b2")), (4, Some("d"))])
    );

    use ChangeType::*;
    let all = changes(&table.changes(0, None).await.expect("changes"));
    assert_eq!(
        all,
        vec![
            change(Insert, 1, "a", 1),
            change(Insert, 2, "b", 1),
            change(Insert, 3, "c", 1),
            change(Insert, 4, "d", 1),
            change(UpdatePostimage, 2, "b2", 2),
            change(UpdatePreimage, 2, "b", 2),
            change(Delete, 3, "c", 3),
        ]
    );
    // Every change type parses as the shared vocabulary.
    for (kind, ..) in &all {
        kind.parse::<ChangeType>().expect("known change type");
    }

    // A sub-range holds only its versions, from a freshly opened handle too.
    let reopened = LakeTable::open(&url).await.expect("reopen");
    assert_eq!(
        changes(&reopened.changes(2, Some(2)).await.expect("changes of v2")),
        vec![
            change(UpdatePostimage, 2, "b2", 2),
            change(UpdatePreimage, 2, "b", 2),
        ]
    );
    assert_eq!(
        changes(&reopened.changes(3, Some(3)).await.expect("changes of v3")),
        vec![change(Delete, 3, "c", 3)]
    );
}

#[tokio::test]
async fn a_predicate_matching_nothing_commits_nothing() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table
        .append(vec![batch(&[(1, Some("a"))])])
        .await
        .expect("insert");
    let deleted = table.delete_where("id = 42").await.expect("delete");
    assert_eq!((deleted.version, deleted.rows), (1, Some(0)));
    let updated = table
        .update_where("id = 42", &[("name", "'z'")])
        .await
        .expect("update");
    assert_eq!((updated.version, updated.rows), (1, Some(0)));
    assert_eq!(LakeTable::open(&url).await.expect("reopen").version(), 1);
}

#[tokio::test]
async fn invalid_ranges_are_typed_errors() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table
        .append(vec![batch(&[(1, Some("a"))])])
        .await
        .expect("insert");

    for (from, to) in [(2, None), (1, Some(0)), (-1, None), (0, Some(5))] {
        let err = table.changes(from, to).await.expect_err("invalid range");
        assert!(
            matches!(err, LakeError::InvalidVersionRange { latest: 1, .. }),
            "{from}..{to:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_table_without_change_data_feed_says_so() {
    let (_dir, url) = temp_table();
    let mut table = LakeTable::open_or_create(&url, &spec().with_change_data_feed(false))
        .await
        .expect("create without CDF");
    table
        .append(vec![batch(&[(1, Some("a"))])])
        .await
        .expect("insert");
    assert!(!table.change_data_feed_enabled().expect("config"));
    let err = table.changes(0, None).await.expect_err("CDF is off");
    assert!(
        matches!(err, LakeError::ChangeDataFeedDisabled { .. }),
        "{err:?}"
    );
}

/// One change-feed row of a string-keyed table: change type, id, city, version.
type KeyedChange = (String, String, Option<String>, u64);

/// The change-feed rows of a `(id STRING, city STRING)` table, sorted by
/// version, id, change type.
fn keyed_changes(batches: &[RecordBatch]) -> Vec<KeyedChange> {
    let mut out = Vec::new();
    for b in batches {
        let types = strings(b, caresync_lake::CHANGE_TYPE_COLUMN);
        let ids = strings(b, "id");
        let cities = strings(b, "city");
        let versions = strings(b, caresync_lake::COMMIT_VERSION_COLUMN);
        for i in 0..b.num_rows() {
            out.push((
                types[i].clone().expect("change type is set"),
                ids[i].clone().expect("id is NOT NULL"),
                cities[i].clone(),
                versions[i]
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .expect("commit version is a number"),
            ));
        }
    }
    out.sort_by(|a, b| (a.3, &a.1, &a.0).cmp(&(b.3, &b.1, &b.0)));
    out
}

fn keyed(kind: ChangeType, id: &str, city: Option<&str>, version: u64) -> KeyedChange {
    (
        kind.as_str().to_owned(),
        id.to_owned(),
        city.map(str::to_owned),
        version,
    )
}

#[tokio::test]
async fn an_update_by_string_key_records_only_the_rows_it_changes() {
    let (_dir, url) = temp_table();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, true),
    ]));
    let mut table = LakeTable::open_or_create(&url, &TableSpec::new("patients", schema.clone()))
        .await
        .expect("create");
    let rows = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["pat-1", "pat-2", "pat-3"])),
            Arc::new(StringArray::from(vec![
                Some("Shelbyville"),
                Some("Springfield"),
                None,
            ])),
        ],
    )
    .expect("valid batch");
    assert_eq!(table.append(vec![rows]).await.expect("insert"), 1);

    let moved = table
        .update_where("id = 'pat-1'", &[("city", "'Springfield'")])
        .await
        .expect("update pat-1");
    assert_eq!((moved.version, moved.rows), (2, Some(1)));

    // pat-2 already lives in Springfield: nothing changes, nothing is
    // committed (deltalake alone would log its file as deleted + inserted).
    let unchanged = table
        .update_where("id = 'pat-2'", &[("city", "'Springfield'")])
        .await
        .expect("no-op update");
    assert_eq!((unchanged.version, unchanged.rows), (2, Some(0)));

    // Of two matching rows, only the one that changes is updated.
    let partly = table
        .update_where("id IN ('pat-2', 'pat-3')", &[("city", "'Springfield'")])
        .await
        .expect("update pat-2 and pat-3");
    assert_eq!((partly.version, partly.rows), (3, Some(1)));

    use ChangeType::*;
    assert_eq!(
        keyed_changes(&table.changes(0, None).await.expect("changes")),
        vec![
            keyed(Insert, "pat-1", Some("Shelbyville"), 1),
            keyed(Insert, "pat-2", Some("Springfield"), 1),
            keyed(Insert, "pat-3", None, 1),
            keyed(UpdatePostimage, "pat-1", Some("Springfield"), 2),
            keyed(UpdatePreimage, "pat-1", Some("Shelbyville"), 2),
            keyed(UpdatePostimage, "pat-3", Some("Springfield"), 3),
            keyed(UpdatePreimage, "pat-3", None, 3),
        ]
    );
}
