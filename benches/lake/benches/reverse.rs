//! Reverse sync's throughput and lag: PostgreSQL changes into a Delta
//! change history, under a steady load.
//!
//! A table of 100,000 rows × 10 columns in the testkit's private cluster is
//! captured by `caresync_reverse_sync::run`. Two connections then write
//! transactions of 1,000 changes (400 inserts, 400 updates, 200 deletes) at
//! `CARESYNC_REVERSE_RATE` changes per second in all (default 60,000) for
//! `CARESYNC_REVERSE_SECONDS` (default 30). The bench waits until the slot
//! has confirmed the last change, then prints:
//!
//! - the changes written to the history, the time from the first write to
//!   the last confirmation, and so the sustained rate;
//! - the lag of each transaction, from its commit in PostgreSQL to its
//!   commit in the lake (p50, p95, max).
//!
//! `CARESYNC_REVERSE_FLUSH_MS` sets the flush interval (default: reverse
//! sync's own, 500); `CARESYNC_REVERSE_MIRROR=1` also keeps the
//! current-state mirror.
//!
//! ```sh
//! CARGO_TARGET_DIR=/tmp/t-bench-lake cargo bench -p caresync-bench-lake --bench reverse
//! ```

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use caresync_reverse_sync::{Config, run};
use caresync_testkit::pg::shared_cluster;
use tokio::sync::oneshot;
use tokio_postgres::{Client, NoTls};

const SEED: i64 = 100_000;
const INSERTS: i64 = 400;
const UPDATES: i64 = 400;
const DELETES: i64 = 200;
const PER_TXN: u64 = 1_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn connect(dsn: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(dsn, NoTls).await.expect("connects");
    tokio::spawn(connection);
    client
}

/// One transaction of the load: number `n` of the whole run.
async fn transaction(client: &Client, n: i64) {
    let first_new = SEED + n * INSERTS;
    let updated = (n * UPDATES) % SEED;
    let mut sql = format!(
        "BEGIN;
         INSERT INTO encounter
           SELECT g, 0, 'patient ' || g, 'ward ' || (g % 40), 'arrived', 0, (g % 9000)::numeric / 3,
                  (g % 100)::float8 / 7, 'payer ' || (g % 12), now()
             FROM generate_series({first_new}, {last_new}) g;
         UPDATE encounter SET version = version + 1, status = 'seen', los_days = los_days + 1,
                updated_at = now()
          WHERE id BETWEEN {updated} AND {last_updated};",
        last_new = first_new + INSERTS - 1,
        last_updated = updated + UPDATES - 1,
    );
    if n >= 50 {
        let gone = SEED + (n - 50) * INSERTS;
        sql.push_str(&format!(
            "DELETE FROM encounter WHERE id BETWEEN {gone} AND {};",
            gone + DELETES - 1
        ));
    } else {
        // Before there is anything old enough to delete, delete nothing
        // but still make 1,000 changes: more updates.
        sql.push_str(&format!(
            "UPDATE encounter SET version = version + 1 WHERE id BETWEEN {} AND {};",
            SEED - 1 - n * DELETES - DELETES + 1,
            SEED - 1 - n * DELETES
        ));
    }
    sql.push_str("COMMIT;");
    client
        .batch_execute(&sql)
        .await
        .expect("a load transaction");
}

async fn wait_streaming(client: &Client, slot: &str) {
    for _ in 0..1200 {
        let row = client
            .query_opt(
                "SELECT r.state FROM pg_replication_slots s
                   JOIN pg_stat_replication r ON r.pid = s.active_pid
                  WHERE s.slot_name = $1",
                &[&slot],
            )
            .await
            .expect("slot query");
        if row.is_some_and(|r| {
            matches!(
                r.get::<_, Option<String>>(0).as_deref(),
                Some("streaming" | "catchup")
            )
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("reverse sync did not start streaming");
}

async fn wait_confirmed(client: &Client, slot: &str, lsn: &str) {
    loop {
        let done: Option<bool> = client
            .query_one(
                "SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_replication_slots
                  WHERE slot_name = $1",
                &[&slot, &lsn],
            )
            .await
            .expect("slot query")
            .get(0);
        if done == Some(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn main() {
    let rate = env("CARESYNC_REVERSE_RATE", 60_000);
    let seconds = env("CARESYNC_REVERSE_SECONDS", 30);
    let flush_ms = env("CARESYNC_REVERSE_FLUSH_MS", 500);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async move {
        let cluster = shared_cluster().expect("a private PostgreSQL cluster");
        let db = cluster.create_unique_database("reverse").expect("a database");
        let dsn = cluster.connection_string(&db);
        let client = connect(&dsn).await;
        client
            .batch_execute(&format!(
                "CREATE TABLE encounter (
                    id bigint PRIMARY KEY, version int NOT NULL, patient text, ward text,
                    status text, los_days int, charges numeric(12,2), acuity float8,
                    payer text, updated_at timestamptz);
                 INSERT INTO encounter
                   SELECT g, 0, 'patient ' || g, 'ward ' || (g % 40), 'planned', 0,
                          (g % 9000)::numeric / 3, (g % 100)::float8 / 7, 'payer ' || (g % 12), now()
                     FROM generate_series(0, {}) g;",
                SEED - 1
            ))
            .await
            .expect("seed");
        let lake = tempfile::tempdir().expect("a lake folder");
        let mut config = Config::new(&dsn, &lake.path().display().to_string(), &["encounter"]);
        config.slot = db.clone();
        config.flush_interval_ms = flush_ms;
        config.mirror = env("CARESYNC_REVERSE_MIRROR", 0) == 1;
        let (stop, stopped) = oneshot::channel::<()>();
        let sync = tokio::spawn(async move {
            run(&config, async {
                let _ = stopped.await;
            })
            .await
        });
        wait_streaming(&client, &db).await;

        // Two writers, each at half the rate, numbering transactions from
        // one counter.
        let next = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let until = started + Duration::from_secs(seconds);
        let per_writer = Duration::from_secs_f64(2.0 * PER_TXN as f64 / rate as f64);
        let mut writers = Vec::new();
        for _ in 0..2 {
            let dsn = dsn.clone();
            let next = next.clone();
            writers.push(tokio::spawn(async move {
                let client = connect(&dsn).await;
                let mut tick = tokio::time::interval(per_writer);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                while Instant::now() < until {
                    tick.tick().await;
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    transaction(&client, i64::try_from(n).expect("fits")).await;
                }
            }));
        }
        for w in writers {
            w.await.expect("writer");
        }
        let written = Instant::now();
        let end: String = client
            .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
            .await
            .expect("lsn")
            .get(0);
        wait_confirmed(&client, &db, &end).await;
        let confirmed = Instant::now();
        let _ = stop.send(());
        let report = sync.await.expect("sync task").expect("reverse sync");

        let changes = next.load(Ordering::Relaxed) * PER_TXN;
        let elapsed = confirmed - started;
        let pct = |q: f64| {
            report
                .lag_quantile(q)
                .map_or("-".to_owned(), |d| format!("{} ms", d.as_millis()))
        };
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "reverse sync{}, offered {rate} changes/s for {seconds} s, flush every {flush_ms} ms:\n\
             \x20 changes written {} (offered {changes}), load {:.1} s, drained {:.2} s after it\n\
             \x20 sustained {:.0} changes/s (changes / first write to last confirmation)\n\
             \x20 lag per transaction (commit in PostgreSQL -> commit in the lake), {} transactions: \
             p50 {}, p95 {}, max {}\n\
             \x20 lake commits {}",
            if env("CARESYNC_REVERSE_MIRROR", 0) == 1 { " with the mirror" } else { "" },
            report.changes,
            (written - started).as_secs_f64(),
            (confirmed - written).as_secs_f64(),
            report.changes as f64 / elapsed.as_secs_f64(),
            report.transactions(),
            pct(0.5),
            pct(0.95),
            pct(1.0),
            report.commits,
        )
        .expect("stdout");
    });
}
