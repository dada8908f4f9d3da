//! Runs over time: scheduled triggered syncs, statistics after a copy, and
//! continuous mode across a PostgreSQL restart.

use std::time::{Duration, Instant};

use caresync_forward_sync::{Config, Mode, run};
use caresync_testkit::pg::PgCluster;
use tokio_postgres::NoTls;

use super::{Runner, batch, lake, pg, spec};

/// Rows in `table`, on a new connection (one that survives nothing), or
/// -1 when the server cannot answer.
async fn count(dsn: &str, table: &str) -> i64 {
    let Ok((client, connection)) = tokio_postgres::connect(dsn, NoTls).await else {
        return -1;
    };
    tokio::spawn(connection);
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .map_or(-1, |r| r.get(0))
}

async fn wait_for(dsn: &str, table: &str, n: i64, limit: Duration) -> Duration {
    let start = Instant::now();
    while count(dsn, table).await != n {
        assert!(start.elapsed() < limit, "{table} never had {n} rows");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_triggered_table_is_synced_again_on_its_schedule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 10).await;
    let (_, dsn) = pg("fwd_schedule").await;
    let config = Config::from_toml(&format!(
        r#"
        dsn = "{dsn}"
        [[table]]
        source = "{url}"
        name = "patient"
        key = ["id"]
        mode = "triggered"
        schedule = "300ms"
        "#
    ))
    .expect("a configuration");
    assert_eq!(config.tables[0].schedule, Some(Duration::from_millis(300)));
    let runner = Runner::start(config);
    wait_for(&dsn, "patient", 10, Duration::from_secs(20)).await;
    table.append(vec![batch(10..25)]).await.expect("append");
    // Not continuous: only the schedule brings the new rows.
    wait_for(&dsn, "patient", 25, Duration::from_secs(10)).await;
    let reports = runner.stop().await;
    assert_eq!(reports.len(), 1, "the first pass is reported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_returns_after_analyzing_the_tables_it_copied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_table, url) = lake(&dir, true, 500).await;
    let (client, dsn) = pg("fwd_analyze").await;
    let config = Config {
        tables: vec![spec(&url)],
        ..Config::new(&dsn)
    };
    let reports = run(&config, None, std::future::pending())
        .await
        .expect("a one-off run");
    assert_eq!(reports.len(), 1);
    // ANALYZE ran on its own connection, and the run waited for it.
    let analyzed: bool = client
        .query_one(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'patient'",
            &[],
        )
        .await
        .expect("statistics")
        .get(0);
    assert!(analyzed);
    let stats: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'patient'",
            &[],
        )
        .await
        .expect("pg_stats")
        .get(0);
    assert_eq!(stats, 3, "one row of statistics per column");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_mode_rides_out_a_postgresql_restart() {
    // A cluster of its own: this test restarts it.
    let mut cluster = PgCluster::start().expect("a private PostgreSQL cluster");
    let db = cluster.create_database("fwd_restart").expect("a database");
    let dsn = cluster.connection_string(&db);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut table, url) = lake(&dir, true, 10).await;
    let mut s = spec(&url);
    s.mode = Mode::Continuous;
    let config = Config {
        poll_interval_ms: 100,
        tables: vec![s],
        ..Config::new(&dsn)
    };
    let runner = Runner::start(config);
    wait_for(&dsn, "patient", 10, Duration::from_secs(20)).await;

    let restart = tokio::task::spawn_blocking(move || {
        cluster.restart().expect("restarts");
        cluster
    });
    table.append(vec![batch(10..20)]).await.expect("append");
    let cluster = restart.await.expect("the restart");
    wait_for(&dsn, "patient", 20, Duration::from_secs(30)).await;
    table.delete_where("id < 5").await.expect("delete");
    wait_for(&dsn, "patient", 15, Duration::from_secs(30)).await;

    runner.stop().await;
    drop(cluster);
}
