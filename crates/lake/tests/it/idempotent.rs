//! Application transactions: a retried commit is applied once.

use caresync_lake::{CommitOutcome, LakeTable, WriteOptions};

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

#[tokio::test]
async fn an_overwrite_replaces_the_rows_with_its_transaction() {
    let (_dir, url) = temp_table();
    let mut writer = create(&url).await;
    writer
        .append_idempotent("snap", 1, vec![batch(&[(1, Some("a")), (2, Some("b"))])])
        .await
        .expect("first copy");
    let outcome = writer
        .write_idempotent(
            "snap",
            2,
            vec![batch(&[(3, Some("c"))])],
            WriteOptions::overwrite(),
        )
        .await
        .expect("second copy");
    assert_eq!(outcome, CommitOutcome::Committed { version: 2 });
    assert_eq!(read(&writer).await, owned(&[(3, Some("c"))]));
    // Replayed, it is skipped like any application transaction.
    let again = writer
        .write_idempotent(
            "snap",
            2,
            vec![batch(&[(4, None)])],
            WriteOptions::overwrite(),
        )
        .await
        .expect("replay");
    assert_eq!(
        again,
        CommitOutcome::AlreadyApplied {
            last_txn_version: 2
        }
    );
    assert_eq!(read(&writer).await, owned(&[(3, Some("c"))]));
}

#[tokio::test]
async fn new_nullable_columns_are_added_by_a_write_that_allows_it() {
    use std::sync::Arc;

    use deltalake::arrow::array::{Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::arrow::record_batch::RecordBatch;

    let (_dir, url) = temp_table();
    let mut writer = create(&url).await;
    writer
        .append(vec![batch(&[(1, Some("a"))])])
        .await
        .expect("old rows");
    let wider = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("ward", DataType::Utf8, true),
    ]));
    let rows = RecordBatch::try_new(
        wider.clone(),
        vec![
            Arc::new(Int64Array::from(vec![2])),
            Arc::new(StringArray::from(vec![Some("b")])),
            Arc::new(StringArray::from(vec![Some("east")])),
        ],
    )
    .expect("batch");

    // Without the option the new column is refused and nothing is written.
    let refused = writer
        .write_idempotent("w", 1, vec![rows.clone()], WriteOptions::append())
        .await
        .expect_err("an unknown column");
    assert!(refused.to_string().contains("ward"), "{refused}");

    writer
        .write_idempotent("w", 1, vec![rows], WriteOptions::append().add_columns(true))
        .await
        .expect("schema evolves");
    let fields: Vec<String> = writer
        .schema()
        .expect("schema")
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(fields, ["id", "name", "ward"]);
    let batches = writer.read_all().await.expect("read");
    let mut wards: Vec<(i64, Option<String>)> = Vec::new();
    for b in &batches {
        let ids = b.column_by_name("id").expect("id");
        let ids = ids.as_any().downcast_ref::<Int64Array>().expect("int64");
        let ward = crate::common::strings(b, "ward");
        wards.extend(ids.values().iter().copied().zip(ward));
    }
    wards.sort();
    assert_eq!(wards, [(1, None), (2, Some("east".to_owned()))]);

    // A new column that is NOT NULL cannot be added to rows that lack it.
    let strict = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("ward", DataType::Utf8, true),
        Field::new("bed", DataType::Int64, false),
    ]));
    let strict_rows = RecordBatch::try_new(
        strict,
        vec![
            Arc::new(Int64Array::from(vec![3])),
            Arc::new(StringArray::from(vec![Some("c")])),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(Int64Array::from(vec![7])),
        ],
    )
    .expect("batch");
    let refused = writer
        .write_idempotent(
            "w",
            2,
            vec![strict_rows],
            WriteOptions::append().add_columns(true),
        )
        .await
        .expect_err("a NOT NULL new column");
    assert!(refused.to_string().contains("bed"), "{refused}");
}

#[tokio::test]
async fn a_writer_that_knows_its_last_transaction_still_sees_another_writers() {
    let (_dir, url) = temp_table();
    let mut a = create(&url).await;
    assert_eq!(
        a.append_idempotent("loader", 1, vec![batch(&[(1, Some("a"))])])
            .await
            .expect("a: txn 1"),
        CommitOutcome::Committed { version: 1 }
    );
    // A second process with the same application id commits txn 2, and
    // another application commits too; `a` has not looked since its commit.
    let mut b = LakeTable::open(&url).await.expect("b");
    assert_eq!(
        b.append_idempotent("loader", 2, vec![batch(&[(2, Some("b"))])])
            .await
            .expect("b: txn 2"),
        CommitOutcome::Committed { version: 2 }
    );
    let mut other = LakeTable::open(&url).await.expect("other");
    other
        .append_idempotent("other-app", 1, vec![batch(&[(3, Some("c"))])])
        .await
        .expect("other app");
    assert_eq!(a.version(), 1);

    // `a` retrying txn 2 finds it recorded by `b`: nothing is written twice.
    assert_eq!(
        a.append_idempotent("loader", 2, vec![batch(&[(2, Some("b"))])])
            .await
            .expect("a: txn 2 again"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 2
        }
    );
    // Its next transaction commits on top of both.
    assert_eq!(
        a.append_idempotent("loader", 3, vec![batch(&[(4, Some("d"))])])
            .await
            .expect("a: txn 3"),
        CommitOutcome::Committed { version: 4 }
    );
    // `b`, now the stale one, cannot commit txn 3 again.
    assert_eq!(
        b.append_idempotent("loader", 3, vec![batch(&[(4, Some("d"))])])
            .await
            .expect("b: txn 3"),
        CommitOutcome::AlreadyApplied {
            last_txn_version: 3
        }
    );
    // An append of another application between two of `a`'s does not
    // conflict with `a`'s next one.
    other
        .append_idempotent("other-app", 2, vec![batch(&[(5, Some("e"))])])
        .await
        .expect("other app again");
    assert_eq!(
        a.append_idempotent("loader", 4, vec![batch(&[(6, Some("f"))])])
            .await
            .expect("a: txn 4"),
        CommitOutcome::Committed { version: 6 }
    );

    let reader = LakeTable::open(&url).await.expect("reader");
    assert_eq!(
        reader.last_txn_version("loader").await.expect("txn"),
        Some(4)
    );
    assert_eq!(
        read(&reader).await,
        owned(&[
            (1, Some("a")),
            (2, Some("b")),
            (3, Some("c")),
            (4, Some("d")),
            (5, Some("e")),
            (6, Some("f"))
        ])
    );
}

#[tokio::test]
async fn the_writer_is_told_once_the_commit_is_in_the_log() {
    let (_dir, url) = temp_table();
    let mut writer = create(&url).await;
    let log = std::path::Path::new(&url).join("_delta_log");
    let mut told = Vec::new();
    let outcome = writer
        .append_idempotent_notifying("loader", 1, vec![batch(&[(1, Some("a"))])], |v| {
            // Called before the handle moves on: the commit file is there.
            let file = log.join(format!("{v:020}.json"));
            told.push((v, file.is_file()));
        })
        .await
        .expect("commit");
    assert_eq!(outcome, CommitOutcome::Committed { version: 1 });
    assert_eq!(told, vec![(1, true)]);
    assert_eq!(writer.version(), 1);

    // Nothing written, nothing told.
    let outcome = writer
        .append_idempotent_notifying("loader", 1, vec![batch(&[(1, Some("a"))])], |v| {
            told.push((v, false));
        })
        .await
        .expect("retry");
    assert_eq!(
        outcome,
        CommitOutcome::AlreadyApplied {
            last_txn_version: 1
        }
    );
    assert_eq!(told.len(), 1);
    assert_eq!(read(&writer).await, owned(&[(1, Some("a"))]));
}
