//! Application transactions: a retried commit is applied once.

use caresync_lake::{CommitOutcome, LakeTable};

use crate::common::{batch, create, owned, read, temp_table};

#[tokio::test]
async fn a_retried_transaction_is_applied_once() {
    let (_dir, url) = temp_table();
    let mut writer = create(&url).await;
    // A second handle opened before the first commit: stale, like a process
    // that restarts from an old view of the table.
    let stale = LakeTable::open(&url).await.expect("second handle");

    let rows = [(1, Some("a")), (2, Some("b"))];
    assert_eq!(
        writer.last_txn_version("writer-a").await.expect("txn"),
        None
    );
    assert_eq!(
        writer
            .append_idempotent("writer-a", 1, vec![batch(&rows)])
            .await
            .expect("first commit"),
        CommitOutcome::Committed { version: 1 }
    );

    // The writer "crashed" before recording success; a new process retries
    // the same transaction from a fresh handle, and from the stale one.
    let mut retry = LakeTable::open(&url).await.expect("fresh handle");
    assert_eq!(
        retry
            .append_idempotent("writer-a", 1, vec![batch(&rows)])
            .await
            .expect("retry"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 1
        }
    );
    let mut stale = stale;
    assert_eq!(stale.version(), 0);
    assert_eq!(
        stale
            .append_idempotent("writer-a", 1, vec![batch(&rows)])
            .await
            .expect("retry from stale handle"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 1
        }
    );
    assert_eq!(retry.version(), 1);
    assert_eq!(read(&retry).await, owned(&rows));

    // An older transaction version is also already applied.
    assert_eq!(
        retry
            .append_idempotent("writer-a", 0, vec![batch(&rows)])
            .await
            .expect("older txn"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 1
        }
    );

    // The next transaction commits.
    assert_eq!(
        retry
            .append_idempotent("writer-a", 2, vec![batch(&[(3, Some("c"))])])
            .await
            .expect("txn 2"),
        CommitOutcome::Committed { version: 2 }
    );

    // Another application's transactions are independent, even at version 1.
    assert_eq!(
        retry
            .append_idempotent("writer-b", 1, vec![batch(&[(4, Some("d"))])])
            .await
            .expect("writer-b txn 1"),
        CommitOutcome::Committed { version: 3 }
    );

    let reader = LakeTable::open(&url).await.expect("reader");
    assert_eq!(
        reader.last_txn_version("writer-a").await.expect("a"),
        Some(2)
    );
    assert_eq!(
        reader.last_txn_version("writer-b").await.expect("b"),
        Some(1)
    );
    assert_eq!(reader.last_txn_version("writer-c").await.expect("c"), None);
    assert_eq!(
        read(&reader).await,
        owned(&[
            (1, Some("a")),
            (2, Some("b")),
            (3, Some("c")),
            (4, Some("d"))
        ])
    );

    // Time travel shows the transaction state of that version.
    let at_v1 = LakeTable::open_at_version(&url, 1).await.expect("v1");
    assert_eq!(
        at_v1.last_txn_version("writer-a").await.expect("a"),
        Some(1)
    );
    assert_eq!(at_v1.last_txn_version("writer-b").await.expect("b"), None);
}

#[tokio::test]
async fn an_empty_transaction_still_records_progress() {
    let (_dir, url) = temp_table();
    let mut writer = create(&url).await;
    assert_eq!(
        writer
            .append_idempotent("writer-a", 5, vec![])
            .await
            .expect("empty txn"),
        CommitOutcome::Committed { version: 1 }
    );
    let reader = LakeTable::open(&url).await.expect("reader");
    assert_eq!(
        reader.last_txn_version("writer-a").await.expect("a"),
        Some(5)
    );
    assert_eq!(read(&reader).await, vec![]);
}
