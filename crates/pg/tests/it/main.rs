//! caresync-pg against a real PostgreSQL: one private cluster for this test
//! binary, one database per test.

mod apply;
mod snapshot;
mod types;

use caresync_testkit::pg::shared_cluster;
use tokio_postgres::{Client, NoTls};

/// A client connected to a new, empty database.
pub async fn connect(prefix: &str) -> (Client, String) {
    let cluster = shared_cluster().expect("a private PostgreSQL cluster");
    let db = cluster.create_unique_database(prefix).expect("a database");
    let dsn = cluster.connection_string(&db);
    let (client, connection) = tokio_postgres::connect(&dsn, NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    (client, dsn)
}
