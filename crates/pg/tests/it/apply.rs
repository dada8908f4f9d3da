//! Triggered syncs: changes since the synced version applied in one
//! transaction with the new version.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use caresync_pg::{
    ApplyOutcome, PgError, PgTable, SourceVersion, apply_changes, change_schema, load_snapshot,
    synced_state,
};
use futures::{StreamExt, stream};
use tokio_postgres::{Client, NoTls};

use crate::connect;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

fn table() -> PgTable {
    PgTable::from_arrow("encounter", &schema(), &["id"]).expect("maps")
}

fn at(version: i64) -> SourceVersion<'static> {
    SourceVersion {
        source: "file:///lake/encounter",
        version,
    }
}

/// Change rows: (id, v, change type, commit version).
fn changes(rows: &[(i64, Option<i64>, &str, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(change_schema(&schema())),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        ],
    )
    .expect("change batch")
}

async fn rows(client: &Client) -> Vec<(i64, Option<i64>)> {
    client
        .query("SELECT id, v FROM encounter ORDER BY id", &[])
        .await
        .expect("reads")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn loaded(prefix: &str) -> (Client, String) {
    let (mut client, dsn) = connect(prefix).await;
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..5)),
            Arc::new(Int64Array::from_iter_values(0..5)),
        ],
    )
    .expect("batch");
    load_snapshot(
        &mut client,
        &table(),
        at(1),
        stream::iter([Ok::<_, PgError>(batch)]),
    )
    .await
    .expect("snapshot");
    (client, dsn)
}

fn two_versions() -> RecordBatch {
    changes(&[
        // Version 2: update 1, delete 2, insert 100.
        (1, Some(1), "update_preimage", 2),
        (1, Some(20), "update_postimage", 2),
        (2, Some(2), "delete", 2),
        (100, Some(100), "insert", 2),
        // Version 3: update 1 again, delete 100.
        (1, Some(20), "update_preimage", 3),
        (1, Some(30), "update_postimage", 3),
        (100, Some(100), "delete", 3),
    ])
}

#[tokio::test]
async fn the_last_change_of_each_key_is_applied_once() {
    let (mut client, _) = loaded("apply_last").await;
    let t = table();
    let outcome = apply_changes(
        &mut client,
        &t,
        1,
        at(3),
        stream::iter([Ok::<_, PgError>(two_versions())]),
        None,
    )
    .await
    .expect("applies");
    assert_eq!(
        outcome,
        ApplyOutcome::Applied {
            upserted: 1,
            deleted: 1
        }
    );
    let want = vec![(0, Some(0)), (1, Some(30)), (3, Some(3)), (4, Some(4))];
    assert_eq!(rows(&client).await, want);
    let state = synced_state(&client, &t)
        .await
        .expect("state")
        .expect("recorded");
    assert_eq!((state.version, state.mode.as_str()), (3, "triggered"));

    // The same changes again: nothing happens.
    let again = apply_changes(
        &mut client,
        &t,
        1,
        at(3),
        stream::iter([Ok::<_, PgError>(two_versions())]),
        None,
    )
    .await
    .expect("no-op");
    assert_eq!(again, ApplyOutcome::AlreadyApplied { synced: 3 });
    assert_eq!(rows(&client).await, want);
}

#[tokio::test]
async fn changes_that_do_not_follow_the_synced_version_are_refused() {
    let (mut client, _) = loaded("apply_gap").await;
    let t = table();
    let batch = changes(&[(7, Some(7), "insert", 5)]);
    let err = apply_changes(
        &mut client,
        &t,
        3,
        at(5),
        stream::iter([Ok::<_, PgError>(batch)]),
        None,
    )
    .await
    .expect_err("a gap");
    assert_eq!(err.code(), "PG-0002", "{err}");
    assert_eq!(rows(&client).await.len(), 5);

    let (mut fresh, _) = connect("apply_never").await;
    let batch = changes(&[(7, Some(7), "insert", 1)]);
    let err = apply_changes(
        &mut fresh,
        &t,
        0,
        at(1),
        stream::iter([Ok::<_, PgError>(batch)]),
        None,
    )
    .await
    .expect_err("never loaded");
    assert!(err.to_string().contains("snapshot"), "{err}");
}

#[tokio::test]
async fn a_key_changed_twice_in_one_version_is_refused_and_nothing_written() {
    let (mut client, _) = loaded("apply_dup").await;
    let t = table();
    let batch = changes(&[
        (1, Some(10), "update_postimage", 2),
        (1, Some(11), "update_postimage", 2),
    ]);
    let err = apply_changes(
        &mut client,
        &t,
        1,
        at(2),
        stream::iter([Ok::<_, PgError>(batch)]),
        None,
    )
    .await
    .expect_err("duplicate");
    assert_eq!(err.code(), "PG-0005");
    assert_eq!(rows(&client).await[1], (1, Some(1)));
    let state = synced_state(&client, &t)
        .await
        .expect("state")
        .expect("recorded");
    assert_eq!(state.version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_sync_loses_nothing_and_the_retry_applies_once() {
    let (mut client, dsn) = loaded("apply_kill").await;
    let t = table();
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    // The changes arrive in two batches; the connection is killed between them.
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let first = changes(&[(1, Some(99), "update_postimage", 2)]);
    let second = changes(&[(2, Some(2), "delete", 2)]);
    let source = stream::iter([Ok::<_, PgError>(first)]).chain(stream::once(async move {
        let _ = wait.await;
        Ok(second)
    }));
    let killer = tokio::spawn(async move {
        let (admin, connection) = tokio_postgres::connect(&dsn, NoTls).await.expect("admin");
        tokio::spawn(connection);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminates");
        let _ = go.send(());
        admin
    });
    let err = apply_changes(&mut client, &t, 1, at(2), source, None)
        .await
        .expect_err("the connection died");
    assert_eq!(err.code(), "PG-0007");
    assert!(err.is_transient(), "{err}");
    let admin = killer.await.expect("killer");
    // Nothing of the half-applied version is visible.
    let v1: Option<i64> = admin
        .query_one("SELECT v FROM encounter WHERE id = 1", &[])
        .await
        .expect("reads")
        .get(0);
    assert_eq!(v1, Some(1));
    assert_eq!(
        synced_state(&admin, &t)
            .await
            .expect("state")
            .map(|s| s.version),
        Some(1)
    );

    // A new connection retries the whole version.
    let (mut retry, connection) = tokio_postgres::connect(&admin_dsn(&admin).await, NoTls)
        .await
        .expect("retry");
    tokio::spawn(connection);
    let batch = changes(&[
        (1, Some(99), "update_postimage", 2),
        (2, Some(2), "delete", 2),
    ]);
    let outcome = apply_changes(
        &mut retry,
        &t,
        1,
        at(2),
        stream::iter([Ok::<_, PgError>(batch)]),
        None,
    )
    .await
    .expect("retry applies");
    assert_eq!(
        outcome,
        ApplyOutcome::Applied {
            upserted: 1,
            deleted: 1
        }
    );
    assert_eq!(
        rows(&retry).await,
        vec![(0, Some(0)), (1, Some(99)), (3, Some(3)), (4, Some(4))]
    );
}

/// The connection string of the database `client` is connected to.
async fn admin_dsn(client: &Client) -> String {
    let db: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .expect("db")
        .get(0);
    caresync_testkit::pg::shared_cluster()
        .expect("cluster")
        .connection_string(&db)
}

#[tokio::test]
async fn more_changes_than_the_limit_write_nothing() {
    let (mut client, _) = loaded("apply_limit").await;
    let t = table();
    let outcome = apply_changes(
        &mut client,
        &t,
        1,
        at(3),
        stream::iter([Ok::<_, PgError>(two_versions())]),
        Some(6),
    )
    .await
    .expect("reads the changes");
    assert_eq!(outcome, ApplyOutcome::TooMany { rows: 7 });
    assert_eq!(rows(&client).await.len(), 5);
    let state = synced_state(&client, &t)
        .await
        .expect("state")
        .expect("recorded");
    assert_eq!(state.version, 1);
}
