//! Reading the table as of an older version or time.

use std::path::Path;
use std::time::SystemTime;

use caresync_lake::{LakeError, LakeTable};

use crate::common::{batch, create, owned, read, temp_table};

/// Version 0 is the empty table, 1 holds ids 1-2, 2 holds ids 1-4.
async fn three_versions(url: &str) {
    let mut table = create(url).await;
    table
        .append(vec![batch(&[(1, Some("a")), (2, Some("b"))])])
        .await
        .expect("append 1");
    table
        .append(vec![batch(&[(3, Some("c")), (4, Some("d"))])])
        .await
        .expect("append 2");
}

#[tokio::test]
async fn each_version_shows_exactly_its_rows() {
    let (_dir, url) = temp_table();
    three_versions(&url).await;

    let v0 = LakeTable::open_at_version(&url, 0)
        .await
        .expect("version 0");
    assert_eq!(v0.version(), 0);
    assert_eq!(read(&v0).await, vec![]);

    let v1 = LakeTable::open_at_version(&url, 1)
        .await
        .expect("version 1");
    assert_eq!(v1.version(), 1);
    assert_eq!(read(&v1).await, owned(&[(1, Some("a")), (2, Some("b"))]));

    let latest = LakeTable::open(&url).await.expect("latest");
    assert_eq!(latest.version(), 2);
    assert_eq!(
        read(&latest).await,
        owned(&[
            (1, Some("a")),
            (2, Some("b")),
            (3, Some("c")),
            (4, Some("d"))
        ])
    );

    // Refreshing a time-travel handle moves it to the newest version.
    let mut v0 = v0;
    assert_eq!(v0.refresh().await.expect("refresh"), 2);
    assert_eq!(read(&v0).await.len(), 4);
}

#[tokio::test]
async fn versions_the_table_does_not_have_are_typed_errors() {
    let (_dir, url) = temp_table();
    three_versions(&url).await;

    for version in [3, 99, -1] {
        let err = LakeTable::open_at_version(&url, version)
            .await
            .expect_err("no such version");
        assert!(
            matches!(err, LakeError::VersionNotFound { version: v, latest: 2, .. } if v == version),
            "{err:?}"
        );
    }
}

fn commit_time(url: &str, version: u64) -> SystemTime {
    let file = Path::new(url)
        .join("_delta_log")
        .join(format!("{version:020}.json"));
    std::fs::metadata(file)
        .and_then(|m| m.modified())
        .expect("commit file mtime")
}

#[tokio::test]
async fn time_travel_by_time_picks_the_version_committed_then() {
    let (_dir, url) = temp_table();
    three_versions(&url).await;

    let at_v1 = LakeTable::open_at_time(&url, commit_time(&url, 1))
        .await
        .expect("open at time of version 1");
    assert_eq!(at_v1.version(), 1);
    assert_eq!(read(&at_v1).await, owned(&[(1, Some("a")), (2, Some("b"))]));

    let now = LakeTable::open_at_time(&url, SystemTime::now())
        .await
        .expect("open at now");
    assert_eq!(now.version(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_rolls_the_rows_back_as_a_new_version_and_keeps_history() {
    let (_dir, url) = temp_table();
    let mut table = create(&url).await;
    table
        .append(vec![batch(&[(1, Some("a")), (2, Some("b"))])])
        .await
        .expect("append");
    let good = table.version();
    table.delete_where("id = 1").await.expect("delete");
    table
        .append(vec![batch(&[(3, Some("bad"))])])
        .await
        .expect("append");
    let bad = table.version();

    let restored = table.restore(good).await.expect("restore");
    assert_eq!(restored, bad + 1);
    assert_eq!(read(&table).await, owned(&[(1, Some("a")), (2, Some("b"))]));
    // History stays: the bad version is still readable.
    let then = LakeTable::open_at_version(&url, bad).await.expect("open");
    assert_eq!(
        read(&then).await,
        owned(&[(2, Some("b")), (3, Some("bad"))])
    );
    // The current version restores to itself; the future does not exist.
    assert_eq!(table.restore(restored).await.expect("no-op"), restored);
    let e = table
        .restore(restored + 5)
        .await
        .expect_err("no such version");
    assert!(matches!(e, LakeError::VersionNotFound { .. }), "{e:?}");
    let e = table.restore(-1).await.expect_err("no such version");
    assert!(matches!(e, LakeError::VersionNotFound { .. }), "{e:?}");
}
