//! Snapshot loads of 1,000,000 rows × 10 columns into a private PostgreSQL
//! cluster, side by side:
//!
//! - `snapshot_1m/caresync`: `caresync_pg::load_snapshot` from Arrow batches
//!   of 65,536 rows: staging table, binary `COPY`, primary key, atomic swap
//!   with the state row, `ANALYZE`.
//! - `snapshot_1m/psql_copy_binary`: `psql`'s `\copy ... FROM FILE (FORMAT
//!   binary)` of the same rows (the file written once by caresync's encoder)
//!   into an empty table without indexes: the server's ingest speed, the
//!   physical limit.
//! - `snapshot_1m/psql_copy_binary_keyed`: the same into a table with its
//!   primary key, as a plain `\copy` load of a served table would be.
//!
//! Columns: `id` (bigint key), three more bigints, two doubles, three short
//! texts (8–24 bytes) and a timestamp with time zone.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::BytesMut;
use caresync_pg::{CopyEncoder, PgError, PgTable, SourceVersion, header, load_snapshot, trailer};
use caresync_testkit::pg::shared_cluster;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: i64 = 1_000_000;
const BATCH: i64 = 65_536;

fn schema() -> SchemaRef {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    for i in 1..=3 {
        fields.push(Field::new(format!("n{i}"), DataType::Int64, true));
    }
    for i in 1..=2 {
        fields.push(Field::new(format!("f{i}"), DataType::Float64, true));
    }
    for i in 1..=3 {
        fields.push(Field::new(format!("s{i}"), DataType::Utf8, true));
    }
    fields.push(Field::new(
        "at",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        true,
    ));
    Arc::new(Schema::new(fields))
}

fn batch(start: i64, len: i64) -> RecordBatch {
    let ids = start..start + len;
    let ints = |k: i64| {
        Arc::new(Int64Array::from_iter_values(
            ids.clone().map(move |i| i * k % 1_000_003),
        ))
    };
    let floats = |k: f64| {
        Arc::new(Float64Array::from_iter_values(
            ids.clone().map(move |i| i as f64 * k),
        ))
    };
    let texts = |prefix: &'static str| {
        Arc::new(StringArray::from_iter_values(ids.clone().map(move |i| {
            format!("{prefix}{:0w$}", i, w = (8 + i % 16) as usize)
        })))
    };
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            ints(7),
            ints(13),
            ints(31),
            floats(0.5),
            floats(1.25),
            texts("a"),
            texts("bb"),
            texts("ccc"),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    ids.clone().map(|i| 1_700_000_000_000_000 + i * 1_000),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .expect("batch")
}

fn snapshot(c: &mut Criterion) {
    let cluster = shared_cluster().expect("a private PostgreSQL cluster");
    let db = cluster.create_unique_database("bench").expect("database");
    let dsn = cluster.connection_string(&db);
    let batches: Vec<RecordBatch> = (0..ROWS)
        .step_by(BATCH as usize)
        .map(|s| batch(s, BATCH.min(ROWS - s)))
        .collect();
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
    g.bench_function("caresync", |b| {
        b.iter(|| {
            version += 1;
            let at = SourceVersion {
                source: "bench",
                version,
            };
            let stream = futures::stream::iter(batches.iter().cloned().map(Ok::<_, PgError>));
            runtime
                .block_on(load_snapshot(&mut client, &table, at, stream))
                .expect("loads")
        })
    });
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
