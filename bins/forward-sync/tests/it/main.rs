//! Forward sync end to end: real Delta tables on disk, a private PostgreSQL
//! cluster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use caresync_forward_sync::{
    Action, Config, Mode, SnapshotReason, SyncError, TableConfig, run, sync_table,
};
use caresync_lake::{LakeTable, TableSpec};
use caresync_testkit::pg::shared_cluster;
use deltalake::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use tokio_postgres::{Client, NoTls};

mod policy;
mod schedule;

type Row = (i64, Option<String>, Option<i64>);

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Int64, true),
    ]))
}

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.clone().map(|i| format!("p{i}")),
            )),
            Arc::new(Int64Array::from_iter_values(ids.map(|i| i * 10))),
        ],
    )
    .expect("batch")
}

async fn lake(dir: &tempfile::TempDir, cdf: bool, rows: i64) -> (LakeTable, String) {
    let url = dir
        .path()
        .join("patient")
        .to_str()
        .expect("utf-8")
        .to_owned();
    let spec = TableSpec::new("patient", schema()).with_change_data_feed(cdf);
    let mut table = LakeTable::open_or_create(&url, &spec)
        .await
        .expect("lake table");
    table.append(vec![batch(0..rows)]).await.expect("append");
    (table, url)
}

async fn pg(prefix: &str) -> (Client, String) {
    let cluster = shared_cluster().expect("a private PostgreSQL cluster");
    let db = cluster.create_unique_database(prefix).expect("a database");
    let dsn = cluster.connection_string(&db);
    let (client, connection) = tokio_postgres::connect(&dsn, NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    (client, dsn)
}

/// [`run`] of a configuration in a task of its own, until stopped.
struct Runner {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<Vec<caresync_forward_sync::SyncReport>, SyncError>>,
}

impl Runner {
    fn start(config: Config) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            run(&config, None, async move {
                let _ = stopped.await;
            })
            .await
        });
        Runner { stop, task }
    }

    /// Asks the run to stop and returns its first pass's reports; it must
    /// stop within 10 s, without an error.
    async fn stop(self) -> Vec<caresync_forward_sync::SyncReport> {
        self.stop.send(()).expect("the run is alive");
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("stops")
            .expect("joins")
            .expect("no error")
    }
}

fn spec(source: &str) -> TableConfig {
    TableConfig::new(source, "patient", &["id"])
}

async fn pg_rows(client: &Client) -> Vec<Row> {
    client
        .query("SELECT id, name, score FROM patient ORDER BY id", &[])
        .await
        .expect("reads")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn lake_rows(url: &str) -> Vec<Row> {
    let table = LakeTable::open(url).await.expect("opens");
    let mut rows = Vec::new();
    for b in table.read_all().await.expect("reads") {
        let b = deltalake::arrow::compute::cast(
            &(Arc::new(deltalake::arrow::array::StructArray::from(b))
                as deltalake::arrow::array::ArrayRef),
            &DataType::Struct(schema().fields().clone()),
        )
        .expect("cast");
        let s = b
            .as_any()
            .downcast_ref::<deltalake::arrow::array::StructArray>()
            .expect("struct");
        let ids = s
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("ids");
        let names = s
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("names");
        let scores = s
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("scores");
        for i in 0..s.len() {
            rows.push((
                ids.value(i),
                names.is_valid(i).then(|| names.value(i).to_owned()),
                scores.is_valid(i).then(|| scores.value(i)),
            ));
        }
    }
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggered_syncs_follow_inserts_updates_and_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 100).await;
    let (mut client, _) = pg("fwd_triggered").await;
    let s = spec(&url);

    let first = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("first sync");
    assert_eq!(
        first.action,
        Action::Snapshot {
            reason: SnapshotReason::FirstSync,
            rows: 100
        }
    );
    assert_eq!(pg_rows(&client).await, lake_rows(&url).await);

    table
        .update_where("id = 5", &[("name", "'renamed'"), ("score", "NULL")])
        .await
        .expect("update");
    table.delete_where("id < 3").await.expect("delete");
    table.append(vec![batch(100..110)]).await.expect("append");
    let second = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("second sync");
    assert_eq!(second.version, table.version());
    assert_eq!(
        second.action,
        Action::Changes {
            from: first.version,
            upserted: 11,
            deleted: 3,
            columns_added: 0
        }
    );
    let rows = pg_rows(&client).await;
    assert_eq!(rows, lake_rows(&url).await);
    assert_eq!(rows.len(), 107);
    assert!(rows.contains(&(5, Some("renamed".to_owned()), None)));

    let third = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("third sync");
    assert_eq!(third.action, Action::UpToDate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_keeps_other_columns_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_table, url) = lake(&dir, true, 10).await;
    let (mut client, _) = pg("fwd_allow").await;
    let mut s = spec(&url);
    s.columns = Some(vec!["id".to_owned(), "score".to_owned()]);
    sync_table(&mut client, &s, Mode::Snapshot)
        .await
        .expect("sync");
    let columns: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_name = 'patient' ORDER BY ordinal_position",
            &[],
        )
        .await
        .expect("catalog")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(columns, ["id", "score"]);

    s.columns = Some(vec!["id".to_owned(), "ssn".to_owned()]);
    let err = sync_table(&mut client, &s, Mode::Snapshot)
        .await
        .expect_err("unknown column");
    assert!(matches!(err, SyncError::Config { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_indexes_are_built_by_snapshots_and_added_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 10).await;
    let (mut client, _) = pg("fwd_indexes").await;
    let index_defs = async |client: &Client| -> Vec<String> {
        client
            .query(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'patient' ORDER BY 1",
                &[],
            )
            .await
            .expect("catalog")
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let mut s = spec(&url);
    s.indexes = vec![vec!["name".to_owned()]];
    sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("first sync");
    let defs = index_defs(&client).await;
    assert_eq!(defs.len(), 2, "{defs:?}");
    assert!(defs.iter().any(|d| d.contains("(name)")), "{defs:?}");

    s.indexes.push(vec!["score".to_owned(), "id".to_owned()]);
    table.append(vec![batch(10..12)]).await.expect("append");
    let second = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("a change sync");
    assert!(
        matches!(second.action, Action::Changes { .. }),
        "{second:?}"
    );
    let defs = index_defs(&client).await;
    assert_eq!(defs.len(), 3, "{defs:?}");
    assert!(defs.iter().any(|d| d.contains("(score, id)")), "{defs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_key_the_sources_metadata_gives_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("keyed").display().to_string();
    let spec_with_key =
        TableSpec::new("keyed", schema()).with_property(caresync_lake::PRIMARY_KEY_PROPERTY, "id");
    let mut lake_table = LakeTable::open_or_create(&url, &spec_with_key)
        .await
        .expect("lake table");
    lake_table.append(vec![batch(0..5)]).await.expect("append");
    assert_eq!(
        lake_table
            .property(caresync_lake::PRIMARY_KEY_PROPERTY)
            .expect("metadata")
            .as_deref(),
        Some("id")
    );
    let (mut client, _) = pg("fwd_key_metadata").await;
    let s = TableConfig::new(&url, "patient", &[]);
    sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("a sync keyed by the metadata");
    let key: String = client
        .query_one(
            "SELECT string_agg(a.attname, ',') FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = 'patient'::regclass AND i.indisprimary",
            &[],
        )
        .await
        .expect("catalog")
        .get(0);
    assert_eq!(key, "id");

    // Neither configured nor recorded: refused before anything is written.
    let other = tempfile::tempdir().expect("tempdir");
    let (_plain, plain_url) = lake(&other, true, 3).await;
    let mut unkeyed = TableConfig::new(&plain_url, "unkeyed", &[]);
    unkeyed.schema = "public".to_owned();
    let err = sync_table(&mut client, &unkeyed, Mode::Triggered)
        .await
        .expect_err("no key anywhere");
    assert_eq!(err.code(), "FWD-0001", "{err}");
    assert!(err.to_string().contains("caresync.primaryKey"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_change_feed_every_sync_is_a_snapshot_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, false, 10).await;
    let (mut client, _) = pg("fwd_nocdf").await;
    let s = spec(&url);
    sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("first sync");
    table.append(vec![batch(10..15)]).await.expect("append");
    let report = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("second sync");
    assert_eq!(
        report.action,
        Action::Snapshot {
            reason: SnapshotReason::ChangeFeedOff,
            rows: 15
        }
    );
    assert_eq!(pg_rows(&client).await, lake_rows(&url).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_source_lacks_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_table, url) = lake(&dir, true, 10).await;
    let (mut client, _) = pg("fwd_nokey").await;
    let mut s = spec(&url);
    s.key = vec!["patient_id".to_owned()];
    let err = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect_err("no such key");
    match &err {
        SyncError::Pg(e) => assert_eq!(e.code(), "PG-0002", "{err}"),
        other => panic!("unexpected error {other}"),
    }
    let exists: bool = client
        .query_one("SELECT to_regclass('public.patient') IS NOT NULL", &[])
        .await
        .expect("catalog")
        .get(0);
    assert!(!exists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_mode_applies_new_commits_within_seconds_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 10).await;
    let (client, dsn) = pg("fwd_continuous").await;
    let mut s = spec(&url);
    s.mode = Mode::Continuous;
    let config = Config {
        poll_interval_ms: 100,
        tables: vec![s],
        ..Config::new(&dsn)
    };
    let runner = Runner::start(config);
    let wait_for = |n: usize| {
        let client = &client;
        async move {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if pg_rows(client).await.len() == n {
                    return start.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("{n} rows never appeared");
        }
    };
    // The first sync copies the table (the served table may not exist yet).
    let start = Instant::now();
    loop {
        let exists: bool = client
            .query_one("SELECT to_regclass('public.patient') IS NOT NULL", &[])
            .await
            .expect("catalog")
            .get(0);
        if exists {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no first sync");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for(10).await;
    table.append(vec![batch(10..20)]).await.expect("append");
    let lag = wait_for(20).await;
    assert!(lag < Duration::from_secs(5), "took {lag:?}");
    table.delete_where("id >= 15").await.expect("delete");
    wait_for(15).await;
    assert_eq!(pg_rows(&client).await, lake_rows(&url).await);

    let reports = runner.stop().await;
    assert_eq!(reports.len(), 1);
}

/// Appends a batch with an extra nullable `phone` column, letting Delta
/// evolve the schema.
async fn append_with_phone(url: &str, ids: std::ops::Range<i64>) {
    let table = deltalake::open_table(deltalake::ensure_table_uri(url).expect("table uri"))
        .await
        .expect("opens");
    let base = batch(ids.clone());
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("phone", DataType::Utf8, true));
    let mut columns = base.columns().to_vec();
    columns.push(Arc::new(StringArray::from_iter_values(
        ids.map(|i| format!("555-{i:04}")),
    )));
    let wide = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("wide batch");
    table
        .write(vec![wide])
        .with_schema_mode(deltalake::operations::write::SchemaMode::Merge)
        .await
        .expect("writes with a new column");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_nullable_source_column_is_added_and_a_type_change_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_table, url) = lake(&dir, true, 5).await;
    let (mut client, _) = pg("fwd_schema").await;
    let s = spec(&url);
    sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("first sync");

    append_with_phone(&url, 5..8).await;
    let report = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("sync with a new column");
    assert_eq!(
        report.action,
        Action::Changes {
            from: 1,
            upserted: 3,
            deleted: 0,
            columns_added: 1
        }
    );
    let phones: Vec<(i64, Option<String>)> = client
        .query("SELECT id, phone FROM patient ORDER BY id", &[])
        .await
        .expect("reads")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(phones[0], (0, None));
    assert_eq!(phones[7], (7, Some("555-0007".to_owned())));

    // The source's `score` becomes text: the served table cannot follow.
    let table = deltalake::open_table(deltalake::ensure_table_uri(&url).expect("uri"))
        .await
        .expect("opens");
    let retyped = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Utf8, true),
        Field::new("phone", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        retyped,
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["n"])),
            Arc::new(StringArray::from(vec!["high"])),
            Arc::new(StringArray::from(vec![None::<&str>])),
        ],
    )
    .expect("batch");
    table
        .write(vec![batch])
        .with_save_mode(deltalake::protocol::SaveMode::Overwrite)
        .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
        .await
        .expect("overwrites with a new type");
    let err = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect_err("a type change");
    assert!(matches!(err, SyncError::IncompatibleChange { .. }), "{err}");
    assert!(err.to_string().contains("score"), "{err}");
    // A snapshot sync replaces the table with the new shape.
    let report = sync_table(&mut client, &s, Mode::Snapshot)
        .await
        .expect("snapshot");
    assert!(
        matches!(report.action, Action::Snapshot { rows: 1, .. }),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_mode_reconnects_after_losing_its_connection_and_serves_several_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut first, url) = lake(&dir, true, 3).await;
    let other_dir = tempfile::tempdir().expect("tempdir");
    let (_second, other_url) = lake(&other_dir, true, 4).await;
    let (client, dsn) = pg("fwd_reconnect").await;
    let mut a = spec(&url);
    a.mode = Mode::Continuous;
    let mut b = spec(&other_url);
    b.name = "patient_copy".to_owned();
    b.mode = Mode::Continuous;
    let config = Config {
        poll_interval_ms: 50,
        tables: vec![a, b],
        ..Config::new(&dsn)
    };
    let runner = Runner::start(config);
    let count = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .map(|r| r.get::<_, i64>(0))
                .unwrap_or(-1)
        }
    };
    let wait = |table: &'static str, n: i64| async move {
        let start = Instant::now();
        while count(table).await != n {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{table} never had {n} rows"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    wait("patient", 3).await;
    wait("patient_copy", 4).await;
    // Cut every other connection to this database: the runner's.
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("terminates");
    first.append(vec![batch(3..9)]).await.expect("append");
    wait("patient", 9).await;
    runner.stop().await;
}

#[test]
fn configurations_are_checked() {
    let ok = Config::from_toml(
        r#"
        dsn = "host=/tmp dbname=app"
        poll_interval_ms = 250
        [[table]]
        source = "/lake/patient"
        name = "patient"
        key = ["id"]
        mode = "continuous"
        columns = ["id", "name"]
        "#,
    )
    .expect("valid");
    assert_eq!(ok.tables[0].mode, Mode::Continuous);
    assert!(
        !format!("{ok:?}").contains("dbname=app"),
        "the DSN is never printed"
    );
    for bad in [
        "dsn = \"x\"",
        "dsn = \"x\"\n[[table]]\nsource = \"s\"\nname = \"t\"\nkey = [\"id\"]\ncolumns = [\"name\"]",
        "dsn = \"x\"\n[[table]]\nsource = \"s\"\nname = \"t\"\nkey = [\"id\"]\nmode = \"sometimes\"",
        "dsn = \"x\"\nunknown = 1",
        "dsn = \"x\"\n[[table]]\nsource = \"s\"\nname = \"t\"\nkey = [\"id\"]\ncolumns = [\"id\"]\nindexes = [[\"name\"]]",
        "dsn = \"x\"\n[[table]]\nsource = \"s\"\nname = \"t\"\nkey = [\"id\"]\nindexes = [[]]",
        "dsn = \"x\"\n[[table]]\nsource = \"s\"\nname = \"t\"\nkey = [\"id\"]\nschedule = \"soon\"",
        "dsn = \"x\"\n[[table]]\nsource = \"s\"\nname = \"t\"\nkey = [\"id\"]\nmode = \"continuous\"\nschedule = \"5m\"",
        "dsn = \"x\"\ncopy_connections = 0\n[[table]]\nsource = \"s\"\nname = \"t\"\nkey = [\"id\"]",
    ] {
        assert!(Config::from_toml(bad).is_err(), "{bad}");
    }
}

/// `GET /metrics` over a plain socket.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("writes");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("reads");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_rows_versions_and_errors_by_table() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    caresync_forward_sync::metrics::serve(port).expect("serves metrics");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 4).await;
    let (_client, dsn) = pg("fwd_metrics").await;
    let mut missing = spec(&format!("{url}_missing"));
    // Names no other test in this process uses: the recorder is global.
    missing.name = "metrics_nowhere".to_owned();
    missing.mode = Mode::Continuous;
    let mut good = spec(&url);
    good.name = "metrics_patient".to_owned();
    good.mode = Mode::Continuous;
    let config = Config {
        poll_interval_ms: 50,
        tables: vec![good, missing],
        ..Config::new(&dsn)
    };
    let runner = Runner::start(config);
    let until = |line: &'static str| async move {
        let start = Instant::now();
        loop {
            let body = scrape(port).await;
            if body.contains(line) {
                return body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no {line} in:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // The first sync copies the table; then a delete arrives as a change.
    until(r#"caresync_forward_rows_total{table="public.metrics_patient",op="snapshot"} 4"#).await;
    table.delete_where("id = 0").await.expect("delete");
    let body =
        until(r#"caresync_forward_rows_total{table="public.metrics_patient",op="delete"} 1"#).await;
    runner.stop().await;
    for line in [
        r#"caresync_forward_rows_total{table="public.metrics_patient",op="snapshot"} 4"#,
        r#"caresync_forward_synced_version{table="public.metrics_patient"} 2"#,
        r#"caresync_forward_lag_versions{table="public.metrics_patient"} 0"#,
        r#"caresync_forward_errors_total{table="public.metrics_nowhere",code="LAKE"}"#,
    ] {
        assert!(body.contains(line), "missing {line} in:\n{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_larger_than_the_tables_fraction_are_copied_instead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 10).await;
    let (mut client, _) = pg("fwd_large").await;
    let mut s = spec(&url);
    s.snapshot_fraction = 0.5;
    s.snapshot_min_changes = 0;
    sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("first sync");
    // 3 new rows: fewer than half of 10, applied as changes.
    table.append(vec![batch(10..13)]).await.expect("append");
    let small = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("small change");
    assert!(
        matches!(small.action, Action::Changes { upserted: 3, .. }),
        "{small:?}"
    );
    // 20 new rows: more than half the table, so it is copied.
    table.append(vec![batch(13..33)]).await.expect("append");
    let large = sync_table(&mut client, &s, Mode::Triggered)
        .await
        .expect("large change");
    assert_eq!(
        large.action,
        Action::Snapshot {
            reason: SnapshotReason::ChangeFeedTooLarge,
            rows: 33
        }
    );
    assert_eq!(pg_rows(&client).await, lake_rows(&url).await);
}
