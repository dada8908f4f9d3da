//! The change data feed after inserts, an update and a delete.

use caresync_core::ChangeType;
use caresync_lake::{LakeError, LakeTable};

use crate::common::{Change, batch, changes, create, owned, read, spec, temp_table};

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
