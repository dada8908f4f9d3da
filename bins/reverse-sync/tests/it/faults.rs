//! Crashes, restarts, lost slots and tables that cannot be captured.

use std::time::Duration;

use caresync_reverse_sync::{StopAt, run_until};
use caresync_testkit::pg::PgCluster;

use crate::capture::wait_for_slot;
use crate::{history, setup, setup_on, start, wait_confirmed, wal_position};

const TABLE: &str = "CREATE TABLE visit (id int PRIMARY KEY, note text);
                     INSERT INTO visit SELECT g, 'seed' FROM generate_series(1, 10) g;";

/// Every (change type, id, note) of the history, in commit order, after
/// checking that no change is in it twice.
async fn visits(config: &caresync_reverse_sync::Config) -> Vec<Vec<String>> {
    let rows = history(
        config,
        "public.visit",
        &["_change_type", "id", "note", "_lsn", "_seq"],
    )
    .await;
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        assert!(seen.insert(row.clone()), "a change twice: {row:?}");
    }
    rows.into_iter().map(|r| r[..3].to_vec()).collect()
}

async fn write_changes(client: &tokio_postgres::Client, from: i32, to: i32) {
    for id in from..=to {
        client
            .execute("INSERT INTO visit VALUES ($1, 'new')", &[&id])
            .await
            .expect("insert");
        client
            .execute("UPDATE visit SET note = 'seen' WHERE id = $1", &[&(id - 5)])
            .await
            .expect("update");
    }
}

fn expected(to: i32) -> usize {
    // 10 snapshot rows, then per id one insert and one update.
    10 + 2 * usize::try_from(to - 10).expect("positive")
}

#[tokio::test]
async fn a_crash_before_the_lake_commit_loses_nothing() {
    let mut s = setup("rev_crash_before", &["visit"], TABLE).await;
    // Changes are held in memory for a minute: the abort below always
    // finds them unwritten.
    s.config.flush_interval_ms = 60_000;
    let running = start(&s.config);
    wait_for_slot(&s).await;
    write_changes(&s.client, 11, 40).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.abort().await;
    assert_eq!(
        visits(&s.config).await.len(),
        10,
        "only the snapshot was written"
    );

    s.config.flush_interval_ms = 100;
    let running = start(&s.config);
    let target = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &target).await;
    running.stop().await;
    let history = visits(&s.config).await;
    assert_eq!(history.len(), expected(40), "every change exactly once");
}

#[tokio::test]
async fn a_crash_between_the_lake_commit_and_the_confirmation_duplicates_nothing() {
    let s = setup("rev_crash_after", &["visit"], TABLE).await;
    let running = start(&s.config);
    wait_for_slot(&s).await;
    running.stop().await;

    // The end of the first transaction of the changes: the commit below
    // holds it, so the slot must stay before it. (Keepalives may still move
    // the slot over other databases' WAL written before it.)
    write_changes(&s.client, 11, 11).await;
    let first_end = wal_position(&s.client).await;
    write_changes(&s.client, 12, 40).await;
    // One commit of the changes, then a "crash" before the slot hears of it.
    let stopped = run_until(
        &s.config,
        std::future::pending::<()>(),
        StopAt {
            abandon_after_commits: Some(1),
            ..StopAt::default()
        },
    )
    .await
    .expect_err("abandoned");
    assert_eq!(stopped.code(), "REV-0007");
    let unconfirmed: bool = s
        .client
        .query_one(
            "SELECT confirmed_flush_lsn < $2::text::pg_lsn FROM pg_replication_slots
              WHERE slot_name = $1",
            &[&s.config.slot, &first_end],
        )
        .await
        .expect("slot")
        .get(0);
    assert!(unconfirmed, "the written transactions were not confirmed");
    let written = visits(&s.config).await.len();
    assert!(written > 10, "the commit holds changes");

    // The restart receives the same transactions again and skips them.
    write_changes(&s.client, 41, 45).await;
    let running = start(&s.config);
    let target = wal_position(&s.client).await;
    wait_confirmed(&s.client, &s.config.slot, &target).await;
    running.stop().await;
    let history = visits(&s.config).await;
    assert_eq!(history.len(), expected(45), "no change twice, none lost");
}

#[tokio::test]
async fn a_postgresql_restart_is_ridden_out() {
    let mut cluster = PgCluster::start().expect("a cluster of its own");
    let s = setup_on(&cluster, "rev_restart", &["visit"], TABLE).await;
    let running = start(&s.config);
    wait_for_slot(&s).await;
    write_changes(&s.client, 11, 20).await;
    // Off the runtime's thread: the run must go on answering the server,
    // whose fast shutdown waits for the walsender to be told everything was
    // received.
    let _cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().expect("restart");
        cluster
    })
    .await
    .expect("restart task");
    let (client, connection) = tokio_postgres::connect(&s.config.dsn, tokio_postgres::NoTls)
        .await
        .expect("reconnects");
    tokio::spawn(connection);

    write_changes(&client, 21, 30).await;
    let target = wal_position(&client).await;
    wait_confirmed(&client, &s.config.slot, &target).await;
    let report = running.stop().await;
    assert!(report.reconnects >= 1, "{report:?}");
    assert_eq!(visits(&s.config).await.len(), expected(30));
}

#[tokio::test]
async fn a_slot_dropped_underneath_is_reported_not_papered_over() {
    let s = setup("rev_lost_slot", &["visit"], TABLE).await;
    let running = start(&s.config);
    wait_for_slot(&s).await;
    running.stop().await;
    // The walsender lets go of the slot a moment after the client leaves.
    let mut dropped = false;
    for _ in 0..100 {
        if s.client
            .execute("SELECT pg_drop_replication_slot($1)", &[&s.config.slot])
            .await
            .is_ok()
        {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped, "the slot could not be dropped");
    let e = run_until(&s.config, std::future::ready(()), StopAt::default())
        .await
        .expect_err("a lost slot");
    assert_eq!(e.code(), "REV-0002", "{e}");
    assert!(e.to_string().contains("may be lost"), "{e}");
}

#[tokio::test]
async fn tables_that_cannot_be_captured_are_refused_with_a_reason() {
    let s = setup(
        "rev_refused",
        &["no_key"],
        "CREATE TABLE no_key (v text);
         CREATE TABLE served (id int PRIMARY KEY);
         CREATE TABLE caresync_sync_state (table_schema text, table_name text);
         INSERT INTO caresync_sync_state VALUES ('public', 'served');",
    )
    .await;
    let e = run_until(&s.config, std::future::ready(()), StopAt::default())
        .await
        .expect_err("no key");
    assert_eq!(e.code(), "CDC-0002");
    assert!(e.to_string().contains("no primary key"), "{e}");

    let mut served = s.config.clone();
    served.tables = vec!["served".to_owned()];
    let e = run_until(&served, std::future::ready(()), StopAt::default())
        .await
        .expect_err("served by forward sync");
    assert_eq!(e.code(), "REV-0005", "{e}");
    // Nothing was set up on the way.
    let slots: i64 = s
        .client
        .query_one(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1",
            &[&s.config.slot],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(slots, 0);
}
