//! Snapshot loads: every row of the source copied into a staging table with
//! binary `COPY`, the primary key built, and the staging table swapped in
//! for the served one in a single transaction that also records the synced
//! version. Readers see the old table or the new one, never a partial one:
//! the swap takes the table's exclusive lock for the instant of two
//! renames, and a query waiting on that lock resolves the name again and
//! reads the new table. The served table's grants are given to its
//! replacement in the same transaction; views that depend on the served
//! table block the swap (drop them, or serve them from the new table).

use std::pin::pin;

use arrow_array::RecordBatch;
use bytes::BytesMut;
use futures::{SinkExt, Stream, StreamExt};
use tokio_postgres::Client;

use crate::copy::{CopyEncoder, header, trailer};
use crate::error::PgError;
use crate::schema::{PgTable, ident};
use crate::state::{ensure_state_table, record};

/// Bytes gathered before a chunk is handed to the connection.
const CHUNK: usize = 1 << 20;

/// Where the loaded rows come from, recorded in the state table.
#[derive(Clone, Copy, Debug)]
pub struct SourceVersion<'a> {
    /// The source (a Delta table URL, credentials stripped).
    pub source: &'a str,
    /// The source version the rows are read at.
    pub version: i64,
}

/// What a snapshot load did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Rows copied.
    pub rows: u64,
    /// Bytes of binary `COPY` data sent.
    pub bytes: u64,
}

/// Replaces the contents of `table` with the rows of `batches`, read at
/// `at`; creates the table if it does not exist. The old rows stay visible
/// until the new ones are complete and indexed; a failure at any point
/// leaves the served table and its recorded version as they were.
///
/// Memory is bounded by one batch and one 1 MiB chunk, whatever the size
/// of the source. A source error ends the load with
/// [`PgError::Source`], carrying the error's text: sources must not put
/// row values in their errors (caresync's own never do).
pub async fn load_snapshot<S, E>(
    client: &mut Client,
    table: &PgTable,
    at: SourceVersion<'_>,
    batches: S,
) -> Result<SnapshotStats, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>>,
    E: std::fmt::Display,
{
    ensure_state_table(client).await?;
    let staging_name = format!("{}__caresync_load", table.name());
    let staging = table.qualified_as(&staging_name);
    // A staging table left by a load that died is dropped first.
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {staging}; CREATE TABLE {staging} ({})",
            table.column_defs()
        ))
        .await
        .map_err(|e| PgError::from_client("creating the staging table", &e))?;

    let copied = copy_batches(client, table, table, &staging, batches).await;
    let stats = match copied {
        Ok(stats) => stats,
        Err(e) => {
            drop_quietly(client, &staging).await;
            return Err(e);
        }
    };

    let pkey = format!("{staging_name}_pkey");
    if let Err(e) = client
        .batch_execute(&format!(
            "ALTER TABLE {staging} ADD CONSTRAINT {} PRIMARY KEY ({})",
            ident(&pkey),
            table.key_list()
        ))
        .await
    {
        drop_quietly(client, &staging).await;
        return Err(match e.as_db_error() {
            Some(d) if d.code().code() == "23505" => PgError::DuplicateKey {
                table: table.qualified(),
                constraint: pkey,
            },
            _ => PgError::from_client("building the primary key", &e),
        });
    }

    if let Err(e) = swap_in(client, table, at, &staging_name, &pkey, stats.rows).await {
        // The swap rolled back: the served table is as it was.
        drop_quietly(client, &staging).await;
        return Err(e);
    }
    // Planner statistics for the new table; the load is done without them.
    if let Err(e) = client
        .batch_execute(&format!("ANALYZE {}", table.qualified()))
        .await
    {
        tracing::warn!(table = %table.qualified(), error = %PgError::from_client("analyzing", &e), "ANALYZE after a snapshot load failed");
    }
    tracing::info!(table = %table.qualified(), rows = stats.rows, version = at.version, "snapshot loaded");
    Ok(stats)
}

/// Renames the loaded staging table over the served one, gives it the
/// served table's grants and records the version, in one transaction.
async fn swap_in(
    client: &mut Client,
    table: &PgTable,
    at: SourceVersion<'_>,
    staging_name: &str,
    pkey: &str,
    rows: u64,
) -> Result<(), PgError> {
    let old_name = format!("{}__caresync_old", table.name());
    let staging = table.qualified_as(staging_name);
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::from_client("starting the swap", &e))?;
    let mut swap = format!(
        "DROP TABLE IF EXISTS {old}; \
         ALTER TABLE IF EXISTS {target} RENAME TO {old_ident}; \
         ALTER TABLE {staging} RENAME TO {name}; \
         DROP TABLE IF EXISTS {old}; \
         ALTER INDEX {pkey_q} RENAME TO {final_pkey}",
        old = table.qualified_as(&old_name),
        target = table.qualified(),
        old_ident = ident(&old_name),
        name = ident(table.name()),
        pkey_q = table.qualified_as(pkey),
        final_pkey = ident(&format!("{}_pkey", table.name())),
    );
    // The served table's grants carry over to its replacement.
    let grants = tx
        .query(
            "SELECT coalesce(quote_ident(r.rolname), 'PUBLIC'), a.privilege_type, a.is_grantable \
             FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a \
             LEFT JOIN pg_roles r ON r.oid = a.grantee \
             WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner",
            &[&table.qualified()],
        )
        .await
        .map_err(|e| PgError::from_client("reading the served table's grants", &e))?;
    for g in grants {
        let (grantee, privilege, grantable): (String, String, bool) =
            (g.get(0), g.get(1), g.get(2));
        swap.push_str(&format!(
            "; GRANT {privilege} ON {} TO {grantee}{}",
            table.qualified(),
            if grantable { " WITH GRANT OPTION" } else { "" }
        ));
    }
    tx.batch_execute(&swap)
        .await
        .map_err(|e| PgError::from_client("swapping the loaded table in", &e))?;
    record(&tx, table, at, "snapshot", rows).await?;
    tx.commit()
        .await
        .map_err(|e| PgError::from_client("committing the swap", &e))
}

/// Streams `batches` into `target` (a table of `layout`'s columns) with
/// binary `COPY`, in chunks of [`CHUNK`] bytes; `table` names the served
/// table in errors. Runs inside whatever transaction `client` has open.
pub(crate) async fn copy_batches<S, E>(
    client: &Client,
    table: &PgTable,
    layout: &PgTable,
    target: &str,
    batches: S,
) -> Result<SnapshotStats, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>>,
    E: std::fmt::Display,
{
    let columns = layout.column_list();
    let sink = client
        .copy_in::<_, bytes::Bytes>(&format!(
            "COPY {target} ({columns}) FROM STDIN (FORMAT binary)"
        ))
        .await
        .map_err(|e| PgError::from_client("starting the copy", &e))?;
    let mut sink = pin!(sink);
    let encoder = CopyEncoder::new(layout);
    let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
    header(&mut buf);
    let mut bytes = 0u64;
    let mut batches = pin!(batches);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| PgError::Source {
            table: table.qualified(),
            reason: e.to_string(),
        })?;
        encoder.encode(&batch, &mut buf)?;
        if buf.len() >= CHUNK {
            bytes += buf.len() as u64;
            sink.send(buf.split().freeze())
                .await
                .map_err(|e| PgError::from_client("copying rows", &e))?;
        }
    }
    trailer(&mut buf);
    bytes += buf.len() as u64;
    sink.send(buf.split().freeze())
        .await
        .map_err(|e| PgError::from_client("copying rows", &e))?;
    let rows = sink
        .as_mut()
        .finish()
        .await
        .map_err(|e| PgError::from_client("finishing the copy", &e))?;
    Ok(SnapshotStats { rows, bytes })
}

async fn drop_quietly(client: &Client, staging: &str) {
    if let Err(e) = client
        .batch_execute(&format!("DROP TABLE IF EXISTS {staging}"))
        .await
    {
        tracing::warn!(error = %PgError::from_client("dropping the staging table", &e), "staging table left behind; the next load drops it");
    }
}
