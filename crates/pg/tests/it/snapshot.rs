//! Snapshot loads: replacement, recorded versions, failures that leave the
//! served table untouched, and readers that never see a partial table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use caresync_pg::{
    LoadOptions, LoadProgress, PgError, PgTable, SourceVersion, ensure_indexes, load_snapshot,
    load_snapshot_with, synced_state,
};
use futures::stream;
use tokio_postgres::{Client, NoTls};

use crate::connect;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
        Field::new("note", DataType::Utf8, true),
    ]))
}

fn table() -> PgTable {
    PgTable::from_arrow("patient", &schema(), &["id"]).expect("maps")
}

/// Rows `ids` with `v` set to `v` and a short note.
fn batch(ids: std::ops::Range<i64>, v: i64) -> RecordBatch {
    let n = ids.end - ids.start;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(Int64Array::from(vec![v; n as usize])),
            Arc::new(StringArray::from(vec!["note"; n as usize])),
        ],
    )
    .expect("batch")
}

/// `rows` rows in batches of 4,096.
fn batches(rows: i64, v: i64) -> Vec<Result<RecordBatch, PgError>> {
    (0..rows)
        .step_by(4096)
        .map(|start| Ok(batch(start..(start + 4096).min(rows), v)))
        .collect()
}

fn at(version: i64) -> SourceVersion<'static> {
    SourceVersion {
        source: "file:///lake/patient",
        version,
    }
}

async fn count_and_sum(client: &Client) -> (i64, i64) {
    let row = client
        .query_one(
            "SELECT count(*), coalesce(sum(v), 0)::bigint FROM patient",
            &[],
        )
        .await
        .expect("reads");
    (row.get(0), row.get(1))
}

async fn leftover_tables(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE tablename LIKE 'patient\\_\\_%' ORDER BY 1",
            &[],
        )
        .await
        .expect("catalog")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_snapshot_replaces_the_table_and_records_the_version() {
    let (mut client, _) = connect("snap_replace").await;
    let t = table();
    let stats = load_snapshot(&mut client, &t, at(1), stream::iter(batches(10_000, 1)))
        .await
        .expect("first load");
    assert_eq!(stats.rows, 10_000);
    assert_eq!(count_and_sum(&client).await, (10_000, 10_000));

    let stats = load_snapshot(&mut client, &t, at(2), stream::iter(batches(3, 5)))
        .await
        .expect("second load");
    assert_eq!(stats.rows, 3);
    assert_eq!(count_and_sum(&client).await, (3, 15));
    let state = synced_state(&client, &t)
        .await
        .expect("state")
        .expect("recorded");
    assert_eq!(
        (state.version, state.mode.as_str(), state.rows),
        (2, "snapshot", 3)
    );
    assert_eq!(state.source, "file:///lake/patient");
    assert!(leftover_tables(&client).await.is_empty());
    // The key is the table's primary key.
    let dup = client
        .execute("INSERT INTO patient (id, v) VALUES (0, 1)", &[])
        .await;
    assert!(dup.is_err(), "id 0 exists: the primary key refuses it");
}

#[tokio::test]
async fn a_load_of_many_batches_streams_them_in_chunks() {
    let (mut client, _) = connect("snap_many").await;
    // ~2.4 MB of COPY data: several 1 MiB chunks.
    let stats = load_snapshot(
        &mut client,
        &table(),
        at(1),
        stream::iter(batches(100_000, 2)),
    )
    .await
    .expect("loads");
    assert_eq!(stats.rows, 100_000);
    assert!(stats.bytes > 2 << 20, "{} bytes", stats.bytes);
    assert_eq!(count_and_sum(&client).await, (100_000, 200_000));
}

#[tokio::test]
async fn a_load_over_several_connections_copies_every_row_once_and_reports_progress() {
    let (mut client, dsn) = connect("snap_parallel").await;
    let config: tokio_postgres::Config = dsn.parse().expect("dsn");
    let seen = std::sync::Mutex::new(Vec::<LoadProgress>::new());
    let report = |p: LoadProgress| seen.lock().expect("not poisoned").push(p);
    let options = LoadOptions::new()
        .copy_connections(config, 3)
        .progress(&report);
    // ~3 MB of COPY data in 4,096-row batches: chunks for every connection.
    let stats = load_snapshot_with(
        &mut client,
        &table(),
        at(1),
        stream::iter(batches(130_000, 3)),
        &options,
    )
    .await
    .expect("loads");
    assert_eq!(stats.rows, 130_000);
    assert_eq!(count_and_sum(&client).await, (130_000, 390_000));
    let distinct: i64 = client
        .query_one("SELECT count(DISTINCT id) FROM patient", &[])
        .await
        .expect("reads")
        .get(0);
    assert_eq!(distinct, 130_000);
    assert!(leftover_tables(&client).await.is_empty());
    let seen = seen.into_inner().expect("not poisoned");
    assert!(seen.len() >= 3, "{} reports", seen.len());
    assert!(
        seen.windows(2)
            .all(|w| w[0].rows <= w[1].rows && w[0].bytes < w[1].bytes)
    );
    assert_eq!(
        seen.last().map(|p| (p.rows, p.bytes)),
        Some((130_000, stats.bytes))
    );
    // The extra connections are closed once the load returns (their
    // backends exit a moment later).
    let mut backends: i64 = 0;
    for _ in 0..50 {
        backends = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()",
                &[],
            )
            .await
            .expect("reads")
            .get(0);
        if backends == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(backends, 1);
}

#[tokio::test]
async fn a_copy_connection_that_cannot_open_is_done_without() {
    let (mut client, dsn) = connect("snap_fallback").await;
    // A database that does not exist: the extra connections fail to open.
    let mut config: tokio_postgres::Config = dsn.parse().expect("dsn");
    config.dbname("no_such_database");
    let options = LoadOptions::new().copy_connections(config, 2);
    let stats = load_snapshot_with(
        &mut client,
        &table(),
        at(1),
        stream::iter(batches(50_000, 1)),
        &options,
    )
    .await
    .expect("loads over the one connection");
    assert_eq!(stats.rows, 50_000);
    assert_eq!(count_and_sum(&client).await, (50_000, 50_000));
}

#[tokio::test]
async fn a_key_repeated_across_connections_loads_nothing() {
    let (mut client, dsn) = connect("snap_parallel_dup").await;
    let t = table();
    load_snapshot(&mut client, &t, at(1), stream::iter(batches(10, 7)))
        .await
        .expect("first load");
    // The same 40,000 keys twice: the halves go to different connections.
    let mut twice = batches(40_000, 1);
    twice.extend(batches(40_000, 1));
    let config: tokio_postgres::Config = dsn.parse().expect("dsn");
    let err = load_snapshot_with(
        &mut client,
        &t,
        at(2),
        stream::iter(twice),
        &LoadOptions::new().copy_connections(config, 2),
    )
    .await
    .expect_err("a repeated key");
    assert_eq!(err.code(), "PG-0005", "{err}");
    assert_eq!(count_and_sum(&client).await, (10, 70));
    assert_eq!(
        synced_state(&client, &t)
            .await
            .expect("state")
            .map(|s| s.version),
        Some(1)
    );
    assert!(leftover_tables(&client).await.is_empty());
}

/// The served table's indexes: (name, definition), by name.
async fn indexes(client: &Client) -> Vec<(String, String)> {
    client
        .query(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'patient' ORDER BY 1",
            &[],
        )
        .await
        .expect("catalog")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn secondary_indexes_are_built_before_the_swap_and_keep_their_names() {
    let (mut client, _) = connect("snap_indexes").await;
    let plain = table();
    load_snapshot(&mut client, &plain, at(1), stream::iter(batches(100, 1)))
        .await
        .expect("a load without indexes");
    assert_eq!(indexes(&client).await.len(), 1, "the primary key only");

    // Indexes configured later: added to the served table once.
    let indexed = table()
        .with_indexes(&[
            vec!["note".to_owned()],
            vec!["v".to_owned(), "id".to_owned()],
        ])
        .expect("columns exist");
    assert_eq!(ensure_indexes(&client, &indexed).await.expect("built"), 2);
    assert_eq!(ensure_indexes(&client, &indexed).await.expect("checked"), 0);
    let before = indexes(&client).await;
    assert_eq!(before.len(), 3);

    // A snapshot builds them on the staging table; after the swap they
    // have the same names and definitions, and no staging index is left.
    load_snapshot(&mut client, &indexed, at(2), stream::iter(batches(200, 2)))
        .await
        .expect("a load with indexes");
    let after = indexes(&client).await;
    assert_eq!(after, before);
    assert!(
        after.iter().any(|(_, def)| def.contains("(v, id)")),
        "{after:?}"
    );
    assert!(
        after.iter().any(|(_, def)| def.contains("(note)")),
        "{after:?}"
    );
    assert!(
        after.iter().all(|(name, _)| !name.contains("caresync")),
        "{after:?}"
    );
    assert_eq!(ensure_indexes(&client, &indexed).await.expect("checked"), 0);

    let err = table()
        .with_indexes(&[vec!["missing".to_owned()]])
        .expect_err("no such column");
    assert_eq!(err.code(), "PG-0002");
}

#[tokio::test]
async fn a_failed_load_leaves_the_served_table_and_its_version_as_they_were() {
    let (mut client, _) = connect("snap_fail").await;
    let t = table();
    load_snapshot(&mut client, &t, at(1), stream::iter(batches(100, 1)))
        .await
        .expect("first load");

    // A repeated key.
    let err = load_snapshot(
        &mut client,
        &t,
        at(2),
        stream::iter([Ok::<_, PgError>(batch(0..10, 2)), Ok(batch(5..6, 2))]),
    )
    .await
    .expect_err("duplicate key");
    assert_eq!(err.code(), "PG-0005", "{err}");

    // A text PostgreSQL cannot store; the message names column and row only.
    let bad = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int64Array::from(vec![2, 2])),
            Arc::new(StringArray::from(vec!["fine", "SECRET\0NAME"])),
        ],
    )
    .expect("batch");
    let err = load_snapshot(
        &mut client,
        &t,
        at(3),
        stream::iter([Ok::<_, PgError>(bad)]),
    )
    .await
    .expect_err("NUL byte");
    assert_eq!(err.code(), "PG-0004");
    let text = err.to_string();
    assert!(text.contains("note") && text.contains("row 1"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");

    // The source failing halfway.
    let failing = stream::iter([
        Ok(batch(0..50, 2)),
        Err(PgError::Source {
            table: "lake".to_owned(),
            reason: "object store went away".to_owned(),
        }),
    ]);
    let err = load_snapshot(&mut client, &t, at(4), failing)
        .await
        .expect_err("source error");
    assert_eq!(err.code(), "PG-0006");

    // A batch of another shape.
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![1]))],
    )
    .expect("batch");
    let err = load_snapshot(
        &mut client,
        &t,
        at(5),
        stream::iter([Ok::<_, PgError>(other)]),
    )
    .await
    .expect_err("schema mismatch");
    assert_eq!(err.code(), "PG-0003");

    assert_eq!(count_and_sum(&client).await, (100, 100));
    let state = synced_state(&client, &t)
        .await
        .expect("state")
        .expect("recorded");
    assert_eq!(state.version, 1);
    assert!(leftover_tables(&client).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_partial_table() {
    let (mut client, dsn) = connect("snap_swap").await;
    let t = table();
    load_snapshot(&mut client, &t, at(0), stream::iter(batches(10_000, 1)))
        .await
        .expect("first load");

    let (reader, connection) = tokio_postgres::connect(&dsn, NoTls).await.expect("reader");
    tokio::spawn(connection);
    let done = Arc::new(AtomicBool::new(false));
    let watch = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::Relaxed) {
                seen.push(count_and_sum(&reader).await);
            }
            seen
        })
    };
    // Complete states: 10,000 rows of 1, 20,000 of 2, 30,000 of 3.
    for version in 1..=6 {
        let (rows, v) = if version % 2 == 1 {
            (20_000, 2)
        } else {
            (30_000, 3)
        };
        load_snapshot(&mut client, &t, at(version), stream::iter(batches(rows, v)))
            .await
            .expect("load");
    }
    done.store(true, Ordering::Relaxed);
    let seen = watch.await.expect("reader task");
    assert!(seen.len() > 10, "the reader ran {} queries", seen.len());
    let complete = [(10_000, 10_000), (20_000, 40_000), (30_000, 90_000)];
    for s in &seen {
        assert!(complete.contains(s), "a reader saw {s:?}");
    }
    assert!(seen.contains(&(20_000, 40_000)) || seen.contains(&(30_000, 90_000)));
}

#[tokio::test]
async fn grants_on_the_served_table_survive_a_snapshot() {
    let (mut client, _) = connect("snap_grants").await;
    let t = table();
    load_snapshot(&mut client, &t, at(1), stream::iter(batches(10, 1)))
        .await
        .expect("first load");
    let role = format!("reader_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$; \
             GRANT SELECT ON patient TO {role}"
        ))
        .await
        .expect("grants");
    load_snapshot(&mut client, &t, at(2), stream::iter(batches(20, 2)))
        .await
        .expect("second load");
    let can: bool = client
        .query_one(
            &format!("SELECT has_table_privilege('{role}', 'patient', 'SELECT')"),
            &[],
        )
        .await
        .expect("privilege")
        .get(0);
    assert!(can, "the reader keeps SELECT on the new table");
    assert_eq!(count_and_sum(&client).await, (20, 40));
}

#[tokio::test]
async fn a_view_on_the_served_table_blocks_the_swap_and_the_load_cleans_up() {
    let (mut client, _) = connect("snap_view").await;
    let t = table();
    load_snapshot(&mut client, &t, at(1), stream::iter(batches(10, 1)))
        .await
        .expect("first load");
    client
        .batch_execute("CREATE VIEW patient_ids AS SELECT id FROM patient")
        .await
        .expect("view");
    let err = load_snapshot(&mut client, &t, at(2), stream::iter(batches(20, 2)))
        .await
        .expect_err("the view depends on the served table");
    assert_eq!(err.code(), "PG-0007", "{err}");
    assert!(err.to_string().contains("2BP01"), "{err}");
    assert_eq!(count_and_sum(&client).await, (10, 10));
    assert!(leftover_tables(&client).await.is_empty());
    let state = synced_state(&client, &t)
        .await
        .expect("state")
        .expect("recorded");
    assert_eq!(state.version, 1);
}
