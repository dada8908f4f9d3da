//! caresync-cdc against a real PostgreSQL: one private cluster for this
//! test binary, one database (and slot) per test.

mod replication;

use caresync_testkit::pg::shared_cluster;
use tokio_postgres::{Client, NoTls};

/// A client connected to a new, empty database, and its configuration.
pub async fn connect(prefix: &str) -> (Client, tokio_postgres::Config) {
    let cluster = shared_cluster().expect("a private PostgreSQL cluster");
    let db = cluster.create_unique_database(prefix).expect("a database");
    let dsn = cluster.connection_string(&db);
    let (client, connection) = tokio_postgres::connect(&dsn, NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    (client, dsn.parse().expect("a valid connection string"))
}

/// A slot name unique in the cluster (slots are cluster-wide).
pub fn slot_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
