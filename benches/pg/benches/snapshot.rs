//! Snapshot loads of 1,000,000 rows × 10 columns into a private PostgreSQL
//! cluster, side by side:
//!
//! - `snapshot_1m/caresync`: `caresync_pg::load_snapshot_with` from Arrow
//!   batches of 65,536 rows as forward sync runs it: staging table, binary
//!   `COPY` over two connections, primary key, atomic swap with the state
//!   row; the table is served when it returns (forward sync runs `ANALYZE`
//!   afterwards, off the sync's path).
//! - `snapshot_1m/caresync_analyzed`: the same, `ANALYZE` included.
//! - `snapshot_1m/caresync_one_connection_analyzed`: `load_snapshot`'s
//!   defaults: one connection, `ANALYZE` included.
//! - `snapshot_1m/psql_copy_binary`: `psql`'s `\copy ... FROM FILE (FORMAT
//!   binary)` of the same rows (the file written once by caresync's encoder)
//!   into an empty table without indexes: the server's ingest speed, the
//!   physical limit.
//! - `snapshot_1m/psql_copy_binary_keyed`: the same into a table with its
//!   primary key, as a plain `\copy` load of a served table would be.
//!
//! The rows are those of `common/rows.rs`.

use std::time::Duration;

use bytes::BytesMut;
use caresync_pg::{
    CopyEncoder, LoadOptions, PgError, PgTable, SourceVersion, header, load_snapshot_with, trailer,
};
use caresync_testkit::pg::shared_cluster;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../common/rows.rs"]
mod rows;

use rows::{ROWS, batches, schema};

fn snapshot(c: &mut Criterion) {
    let cluster = shared_cluster().expect("a private PostgreSQL cluster");
    let db = cluster.create_unique_database("bench").expect("database");
    let dsn = cluster.connection_string(&db);
    let batches = batches();
    let table = PgTable::from_arrow("snap", &schema(), &["id"]).expect("maps");

    // The same rows as one binary COPY file, for psql.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rows.bin");
    let mut bytes = BytesMut::new();
    header(&mut bytes);
    let encoder = CopyEncoder::new(&table);
    for b in &batches {
        encoder.encode(b, &mut bytes).expect("encodes");
    }
    trailer(&mut bytes);
    std::fs::write(&file, &bytes).expect("writes the COPY file");
    let file = file.to_str().expect("utf-8 path").to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut client = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        client
    });

    // Tables for psql: one without indexes, one with the primary key.
    let keyed = PgTable::from_arrow("keyed", &schema(), &["id"]).expect("maps");
    let plain = keyed
        .create_sql()
        .replace("\"keyed\"", "\"plain\"")
        .replace(", PRIMARY KEY (\"id\"))", ")");
    runtime
        .block_on(client.batch_execute(&format!("{plain}; {}", keyed.create_sql())))
        .expect("tables for psql");

    let mut g = c.benchmark_group("snapshot_1m");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(40));
    g.warm_up_time(Duration::from_secs(1));
    let mut version = 0;
    let config: tokio_postgres::Config = dsn.parse().expect("a connection string");
    for (name, connections, analyze) in [
        ("caresync", 2, false),
        ("caresync_analyzed", 2, true),
        ("caresync_one_connection_analyzed", 1, true),
    ] {
        let options = LoadOptions::new()
            .copy_connections(config.clone(), connections)
            .analyze(analyze);
        g.bench_function(name, |b| {
            b.iter(|| {
                version += 1;
                let at = SourceVersion {
                    source: "bench",
                    version,
                };
                let stream = futures::stream::iter(batches.iter().cloned().map(Ok::<_, PgError>));
                runtime
                    .block_on(load_snapshot_with(
                        &mut client,
                        &table,
                        at,
                        stream,
                        &options,
                    ))
                    .expect("loads")
            })
        });
    }
    for (name, target) in [
        ("psql_copy_binary", "plain"),
        ("psql_copy_binary_keyed", "keyed"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(client.batch_execute(&format!("TRUNCATE {target}")))
                    .expect("truncates");
                cluster
                    .psql(
                        &db,
                        &format!("\\copy {target} FROM '{file}' (FORMAT binary)"),
                    )
                    .expect("psql copies")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
