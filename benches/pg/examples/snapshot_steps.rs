//! Times snapshot loads of the bench's rows (`common/rows.rs`) against a
//! server of your choosing, step by step, for studying where a load spends
//! its time: encoding alone, then full loads over one, two and three
//! connections. Pair it with the server's `log_min_duration_statement = 0`
//! to see the copy, the key and `ANALYZE` apart.
//!
//! ```sh
//! cargo build --release -p caresync-bench-pg --example snapshot_steps
//! SNAPSHOT_DSN="host=/tmp/pg port=5499 user=postgres dbname=postgres" \
//!     target/release/examples/snapshot_steps
//! ```

use std::io::Write;
use std::time::Instant;

use bytes::BytesMut;
use caresync_pg::{CopyEncoder, LoadOptions, PgError, PgTable, SourceVersion, load_snapshot_with};

#[path = "../common/rows.rs"]
mod rows;

#[tokio::main]
async fn main() {
    let dsn = std::env::var("SNAPSHOT_DSN").expect("SNAPSHOT_DSN: a connection string");
    let batches = rows::batches();
    let table = PgTable::from_arrow("snap", &rows::schema(), &["id"]).expect("maps");
    let mut out = std::io::stdout().lock();
    let encoder = CopyEncoder::new(&table);
    let t = Instant::now();
    let mut buf = BytesMut::new();
    for b in &batches {
        encoder.encode(b, &mut buf).expect("encodes");
        buf.clear();
    }
    writeln!(out, "encoding alone: {:?}", t.elapsed()).expect("stdout");
    let (mut client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let config: tokio_postgres::Config = dsn.parse().expect("a connection string");
    for round in 0..3 {
        for n in [1, 2, 3] {
            let options = LoadOptions::new().copy_connections(config.clone(), n);
            let t = Instant::now();
            let stream = futures::stream::iter(batches.iter().cloned().map(Ok::<_, PgError>));
            let at = SourceVersion {
                source: "steps",
                version: round * 10 + n as i64,
            };
            load_snapshot_with(&mut client, &table, at, stream, &options)
                .await
                .expect("loads");
            writeln!(out, "round {round}, {n} connection(s): {:?}", t.elapsed()).expect("stdout");
        }
    }
}
