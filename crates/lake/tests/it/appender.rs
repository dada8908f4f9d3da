//! A long-lived writer's appends: committed once each, read by others as
//! ordinary Delta commits, checkpointed, and safe against other writers.

use caresync_lake::{CommitOutcome, LakeTable};

use crate::common::{batch, owned, read, spec, temp_table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_commits_each_batch_once_and_writes_checkpoints() {
    let (_dir, url) = temp_table();
    let table =
        LakeTable::open_or_create(&url, &spec().with_property("delta.checkpointInterval", "5"))
            .await
            .expect("create");
    let log = std::path::Path::new(&url).join("_delta_log");
    let mut appender = table.appender("loader");
    assert_eq!(appender.last_txn_version().await.expect("txn"), None);

    let names: Vec<String> = (1..=23).map(|i| format!("n{i}")).collect();
    let mut expected = Vec::new();
    for (txn, name) in (1..=23).zip(&names) {
        let mut told = Vec::new();
        let outcome = appender
            .append_notifying(txn, vec![batch(&[(txn, Some(name))])], |v| {
                told.push((v, log.join(format!("{v:020}.json")).is_file()));
            })
            .await
            .expect("append");
        assert_eq!(outcome, CommitOutcome::Committed { version: txn });
        assert_eq!(
            told,
            vec![(txn, true)],
            "told once, with the commit in the log"
        );
        assert_eq!(appender.version(), txn);
        expected.push((txn, Some(name.as_str())));
    }

    // Retries of recorded transactions write nothing and tell nothing.
    for txn in [23, 10] {
        let outcome = appender
            .append_notifying(txn, vec![batch(&[(txn, Some("again"))])], |_| {
                panic!("nothing was committed")
            })
            .await
            .expect("retry");
        assert_eq!(
            outcome,
            CommitOutcome::AlreadyApplied {
                last_txn_version: 23
            }
        );
    }
    assert_eq!(appender.last_txn_version().await.expect("txn"), Some(23));

    let table = appender.into_table().await.expect("table");
    assert_eq!(table.version(), 23);
    assert_eq!(read(&table).await, owned(&expected));
    assert!(
        log.join("_last_checkpoint").is_file(),
        "a checkpoint was written"
    );

    // Another process reads the commits as any Delta reader does, through
    // the checkpoint, with the transaction and the change data feed.
    let mut other = LakeTable::open(&url).await.expect("open");
    assert_eq!(other.version(), 23);
    assert_eq!(read(&other).await, owned(&expected));
    assert_eq!(
        other.last_txn_version("loader").await.expect("txn"),
        Some(23)
    );
    let inserts: usize = other
        .changes(1, None)
        .await
        .expect("changes")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(inserts, 23);
    assert_eq!(
        other
            .append_idempotent("loader", 23, vec![batch(&[(23, Some("again"))])])
            .await
            .expect("retry elsewhere"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 23
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_that_loses_a_version_to_another_writer_reads_the_log() {
    let (_dir, url) = temp_table();
    let table = LakeTable::open_or_create(&url, &spec())
        .await
        .expect("create");
    let mut appender = table.appender("loader");
    for txn in 1..=2 {
        assert_eq!(
            appender
                .append_notifying(txn, vec![batch(&[(txn, Some("a"))])], |_| {})
                .await
                .expect("append"),
            CommitOutcome::Committed { version: txn }
        );
    }

    // Another application commits version 3: the appender's next commit
    // goes on top of it.
    let mut other = LakeTable::open(&url).await.expect("other");
    other
        .append_idempotent("other-app", 1, vec![batch(&[(100, Some("o"))])])
        .await
        .expect("other app");
    assert_eq!(
        appender
            .append_notifying(3, vec![batch(&[(3, Some("a"))])], |_| {})
            .await
            .expect("append after another writer"),
        CommitOutcome::Committed { version: 4 }
    );

    // A second process with the same application id records txn 4: the
    // appender, retrying it, finds it recorded and writes nothing.
    let mut twin = LakeTable::open(&url).await.expect("twin");
    assert_eq!(
        twin.append_idempotent("loader", 4, vec![batch(&[(4, Some("a"))])])
            .await
            .expect("twin"),
        CommitOutcome::Committed { version: 5 }
    );
    assert_eq!(
        appender
            .append_notifying(4, vec![batch(&[(4, Some("a"))])], |_| {
                panic!("txn 4 is recorded")
            })
            .await
            .expect("retry of txn 4"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 4
        }
    );
    assert_eq!(
        appender
            .append_notifying(5, vec![batch(&[(5, Some("a"))])], |_| {})
            .await
            .expect("txn 5"),
        CommitOutcome::Committed { version: 6 }
    );
    assert_eq!(
        appender
            .append_notifying(6, vec![batch(&[(6, Some("a"))])], |_| {})
            .await
            .expect("txn 6"),
        CommitOutcome::Committed { version: 7 }
    );

    let table = appender.into_table().await.expect("table");
    let mut expected: Vec<(i64, Option<&str>)> = (1..=6).map(|i| (i, Some("a"))).collect();
    expected.push((100, Some("o")));
    assert_eq!(read(&table).await, owned(&expected));
    assert_eq!(
        table.last_txn_version("loader").await.expect("txn"),
        Some(6)
    );
}
