//! Reverse sync end to end: a private PostgreSQL cluster, real Delta
//! change-history tables in a temporary folder.

mod capture;
mod cli;
mod faults;
mod mirror;
mod rebuild;

use std::time::Duration;

use caresync_lake::LakeTable;
use caresync_reverse_sync::{Config, ReverseError, RunReport};
use caresync_testkit::pg::{PgCluster, shared_cluster};
use deltalake::arrow::array::{Array, RecordBatch};
use deltalake::arrow::util::display::array_value_to_string;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

#[allow(missing_debug_implementations)]
/// A database of its own, a lake folder and a configuration with a slot
/// unique in the cluster.
pub struct Setup {
    pub client: Client,
    pub config: Config,
    pub lake: TempDir,
}

pub async fn setup(prefix: &str, tables: &[&str], sql: &str) -> Setup {
    setup_on(
        shared_cluster().expect("a private PostgreSQL cluster"),
        prefix,
        tables,
        sql,
    )
    .await
}

pub async fn setup_on(cluster: &PgCluster, prefix: &str, tables: &[&str], sql: &str) -> Setup {
    let db = cluster.create_unique_database(prefix).expect("a database");
    let dsn = cluster.connection_string(&db);
    let (client, connection) = tokio_postgres::connect(&dsn, NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client.batch_execute(sql).await.expect("set-up SQL");
    let lake = tempfile::tempdir().expect("a lake folder");
    let mut config = Config::new(&dsn, &lake.path().display().to_string(), tables);
    // Slots are cluster-wide; databases are unique per test.
    config.slot = db.clone();
    config.flush_interval_ms = 100;
    Setup {
        client,
        config,
        lake,
    }
}

#[allow(missing_debug_implementations)]
/// A run in the background, stopped by [`Running::stop`].
pub struct Running {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<RunReport, ReverseError>>,
}

pub fn start(config: &Config) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let config = config.clone();
    let handle = tokio::spawn(async move {
        caresync_reverse_sync::run(&config, async {
            let _ = stopped.await;
        })
        .await
    });
    Running { stop, handle }
}

impl Running {
    /// Ends the run abruptly, as a crash would: nothing buffered is written.
    pub async fn abort(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }

    pub async fn stop(self) -> RunReport {
        let _ = self.stop.send(());
        self.handle
            .await
            .expect("the run does not panic")
            .expect("the run succeeds")
    }
}

/// The WAL position after everything written so far (the insert position:
/// with asynchronous commits the write position may lag a commit).
pub async fn wal_position(client: &Client) -> String {
    client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await
        .expect("lsn")
        .get(0)
}

/// Waits until the slot has confirmed `lsn` (the history holds everything
/// before it), for at most 60 s.
pub async fn wait_confirmed(client: &Client, slot: &str, lsn: &str) {
    for _ in 0..600 {
        let row = client
            .query_opt(
                "SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_replication_slots
                  WHERE slot_name = $1",
                &[&slot, &lsn],
            )
            .await
            .expect("slot query");
        if row.is_some_and(|r| r.get::<_, Option<bool>>(0) == Some(true)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("slot {slot} did not confirm {lsn} within 60 s");
}

/// The history of `table` as rows of the named columns (as text, `∅` for
/// null), in commit order (`_lsn`, `_seq`, preimage before postimage).
pub async fn history(config: &Config, table: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let url = format!("{}/{}", config.lake.trim_end_matches('/'), table);
    let lake = LakeTable::open(&url).await.expect("the history exists");
    let batches = lake.read_all().await.expect("history rows");
    let mut rows: Vec<(i64, i64, u8, Vec<String>)> = Vec::new();
    for batch in &batches {
        let lsn = int64(batch, "_lsn");
        let seq = int64(batch, "_seq");
        let kinds = column_text(batch, "_change_type");
        for i in 0..batch.num_rows() {
            let rank = u8::from(kinds[i] == "update_postimage");
            let values = columns
                .iter()
                .map(|c| column_text(batch, c)[i].clone())
                .collect();
            rows.push((lsn[i], seq[i], rank, values));
        }
    }
    rows.sort_by_key(|r| (r.0, r.1, r.2));
    rows.into_iter().map(|r| r.3).collect()
}

fn int64(batch: &RecordBatch, name: &str) -> Vec<i64> {
    column_text(batch, name)
        .iter()
        .map(|t| t.parse().expect("an integer"))
        .collect()
}

fn column_text(batch: &RecordBatch, name: &str) -> Vec<String> {
    let Some(column) = batch.column_by_name(name) else {
        // A column added after this batch was written reads as null.
        return vec!["∅".to_owned(); batch.num_rows()];
    };
    (0..column.len())
        .map(|i| {
            if column.is_null(i) {
                "∅".to_owned()
            } else {
                array_value_to_string(column, i).expect("printable")
            }
        })
        .collect()
}

/// Rows as `Vec<String>` from string literals, for comparisons.
pub fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|v| (*v).to_owned()).collect())
        .collect()
}

/// A `chart (id, note, body)` table's rows: id, note, and the body's first
/// character and length (bodies are long), `∅` for null, sorted by id.
pub type ChartState = Vec<Vec<String>>;

/// The chart table in PostgreSQL now.
pub async fn chart_in_postgres(client: &Client) -> ChartState {
    client
        .query(
            "SELECT id::text, coalesce(note, '∅'),
                    coalesce(left(body, 1) || length(body)::text, '∅')
               FROM chart ORDER BY chart.id",
            &[],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| vec![r.get(0), r.get(1), r.get(2)])
        .collect()
}

/// Chart rows from Arrow batches (a rebuilt table, a mirror).
pub fn chart_in_batches(batches: &[RecordBatch]) -> ChartState {
    let mut rows: ChartState = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            rows.push(
                ["id", "note", "body"]
                    .iter()
                    .map(|c| {
                        let column = batch.column_by_name(c).expect("a column");
                        if column.is_null(i) {
                            return "∅".to_owned();
                        }
                        let text = array_value_to_string(column, i).expect("printable");
                        if *c == "body" {
                            format!("{}{}", &text[..1], text.chars().count())
                        } else {
                            text
                        }
                    })
                    .collect(),
            );
        }
    }
    rows.sort_by_key(|r| r[0].parse::<i64>().expect("an id"));
    rows
}
