//! Snapshot loads: every row of the source copied into a staging table with
//! binary `COPY`, the primary key built, and the staging table swapped in
//! for the served one in a single transaction that also records the synced
//! version. Readers see the old table or the new one, never a partial one:
//! the swap takes the table's exclusive lock for the instant of two
//! renames, and a query waiting on that lock resolves the name again and
//! reads the new table. The served table's grants are given to its
//! replacement in the same transaction; views that depend on the served
//! table block the swap (drop them, or serve them from the new table).

use std::pin::{Pin, pin};
use std::task::Poll;

use arrow_array::RecordBatch;
use bytes::{Bytes, BytesMut};
use futures::future::Either;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio_postgres::{Client, CopyInSink, NoTls};

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

/// How far a load has got: rows and bytes handed to PostgreSQL so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadProgress {
    /// Rows sent.
    pub rows: u64,
    /// Bytes of binary `COPY` data sent.
    pub bytes: u64,
}

/// A callback told of a load's progress after each chunk.
pub type Progress<'a> = dyn Fn(LoadProgress) + Send + Sync + 'a;

/// How [`load_snapshot_with`] runs.
///
/// ```
/// use caresync_pg::LoadOptions;
///
/// let report = |p: caresync_pg::LoadProgress| eprintln!("{} rows", p.rows);
/// let dsn: tokio_postgres::Config = "host=/run/postgresql dbname=app".parse()?;
/// let options = LoadOptions::new().copy_connections(dsn, 2).progress(&report);
/// # Ok::<(), tokio_postgres::Error>(())
/// ```
#[derive(Clone)]
pub struct LoadOptions<'a> {
    connect: Option<tokio_postgres::Config>,
    connections: usize,
    progress: Option<&'a Progress<'a>>,
    analyze: bool,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            connect: None,
            connections: 1,
            progress: None,
            analyze: true,
        }
    }
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection settings may hold a password: not printed.
        f.debug_struct("LoadOptions")
            .field("connections", &self.connections.max(1))
            .field("progress", &self.progress.is_some())
            .field("analyze", &self.analyze)
            .finish_non_exhaustive()
    }
}

impl<'a> LoadOptions<'a> {
    /// One connection (the caller's), no progress reports, `ANALYZE` once
    /// the table is served.
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies rows over `connections` connections at once (the caller's
    /// and `connections - 1` more opened with `config`, which must reach
    /// the caller's database), so that the server ingests on several cores.
    /// The extra connections are opened without TLS (use them over a Unix
    /// socket or a trusted network) and as `config`'s user, without the
    /// caller's session settings (`SET ROLE` and the like).
    /// A connection that cannot be opened (the server's `max_connections`
    /// reached, say) is done without, with a warning.
    pub fn copy_connections(mut self, config: tokio_postgres::Config, connections: usize) -> Self {
        self.connect = Some(config);
        self.connections = connections;
        self
    }

    /// Whether the load gathers planner statistics (`ANALYZE`) after the
    /// swap, before it returns (the default). A caller that serves many
    /// tables may turn this off and run [`analyze`] elsewhere: the table is
    /// served either way, and `ANALYZE` reads the whole of a table of this
    /// size (about a quarter of the load's time).
    pub fn analyze(mut self, on: bool) -> Self {
        self.analyze = on;
        self
    }

    /// Calls `report` after each chunk of rows is sent, and once at the end.
    pub fn progress(mut self, report: &'a Progress<'a>) -> Self {
        self.progress = Some(report);
        self
    }
}

/// Replaces the contents of `table` with the rows of `batches`, read at
/// `at`; creates the table if it does not exist. The old rows stay visible
/// until the new ones are complete and indexed; a failure at any point
/// leaves the served table and its recorded version as they were.
///
/// Memory is bounded by one batch and its encoding, whatever the size of
/// the source. A source error ends the load with [`PgError::Source`],
/// carrying the error's text: sources must not put row values in their
/// errors (caresync's own never do).
///
/// The same as [`load_snapshot_with`] with one connection and no progress
/// reports.
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
    load_snapshot_with(client, table, at, batches, &LoadOptions::new()).await
}

/// [`load_snapshot`], with the rows copied over several connections,
/// progress reported and statistics gathered as `options` say.
pub async fn load_snapshot_with<S, E>(
    client: &mut Client,
    table: &PgTable,
    at: SourceVersion<'_>,
    batches: S,
    options: &LoadOptions<'_>,
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

    let copied = copy_in_parallel(client, table, &staging, batches, options).await;
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

    for columns in table.indexes() {
        let index = staging_index(table, columns);
        if let Err(e) = client
            .batch_execute(&table.index_sql(&index, &staging_name, columns))
            .await
        {
            drop_quietly(client, &staging).await;
            return Err(PgError::from_client("building an index", &e));
        }
    }

    if let Err(e) = swap_in(client, table, at, &staging_name, &pkey, stats.rows).await {
        // The swap rolled back: the served table is as it was.
        drop_quietly(client, &staging).await;
        return Err(e);
    }
    if options.analyze {
        // The load is done without statistics: a failure here is a warning.
        if let Err(e) = analyze(client, table.schema(), table.name()).await {
            tracing::warn!(table = %table.qualified(), error = %e, "ANALYZE after a snapshot load failed");
        }
    }
    tracing::info!(table = %table.qualified(), rows = stats.rows, version = at.version, "snapshot loaded");
    Ok(stats)
}

/// Gathers the planner's statistics for table `name` in `schema`
/// (`ANALYZE`). A snapshot load does this itself unless told not to
/// ([`LoadOptions::analyze`]); a caller that defers it runs this once the
/// table is served, for example on another connection.
pub async fn analyze(client: &Client, schema: &str, name: &str) -> Result<(), PgError> {
    client
        .batch_execute(&format!("ANALYZE {}.{}", ident(schema), ident(name)))
        .await
        .map_err(|e| PgError::from_client("analyzing the served table", &e))
}

/// Creates the secondary indexes of `table` that the served table lacks
/// (configured after it was loaded); returns how many were built. A
/// snapshot load builds them all itself. Each is a plain `CREATE INDEX`,
/// which holds off writers to the table while it builds.
pub async fn ensure_indexes(client: &Client, table: &PgTable) -> Result<usize, PgError> {
    let mut built = 0;
    for columns in table.indexes() {
        let index = PgTable::index_name(table.name(), columns);
        let exists: bool = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&table.qualified_as(&index)],
            )
            .await
            .map_err(|e| PgError::from_client("looking for an index", &e))?
            .get(0);
        if !exists {
            client
                .batch_execute(&table.index_sql(&index, table.name(), columns))
                .await
                .map_err(|e| PgError::from_client("building an index", &e))?;
            built += 1;
        }
    }
    Ok(built)
}

/// The name a secondary index of `table` has on the staging table, until
/// the swap renames it to [`PgTable::index_name`] of the table.
fn staging_index(table: &PgTable, columns: &[String]) -> String {
    PgTable::index_name(&format!("{}__caresync", table.name()), columns)
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
    for columns in table.indexes() {
        swap.push_str(&format!(
            "; ALTER INDEX {} RENAME TO {}",
            table.qualified_as(&staging_index(table, columns)),
            ident(&PgTable::index_name(table.name(), columns))
        ));
    }
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

/// [`copy_batches`] into the staging table over the caller's connection
/// and the extra ones `options` asks for. The extra connections are driven
/// by this future (no task is spawned) and closed before it returns.
async fn copy_in_parallel<S, E>(
    client: &Client,
    table: &PgTable,
    staging: &str,
    batches: S,
    options: &LoadOptions<'_>,
) -> Result<SnapshotStats, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>>,
    E: std::fmt::Display,
{
    let mut helpers = Vec::new();
    let mut connections = Vec::new();
    if let Some(config) = &options.connect {
        for _ in 1..options.connections {
            match config.connect(NoTls).await {
                Ok((helper, connection)) => {
                    helpers.push(helper);
                    connections.push(connection);
                }
                Err(e) => {
                    tracing::warn!(table = %table.qualified(), error = %PgError::from_client("opening a copy connection", &e), connections = helpers.len() + 1, "copying over fewer connections");
                    break;
                }
            }
        }
    }
    // The connections end only when they fail; the copy then fails too.
    let mut serve = pin!(futures::future::join_all(connections));
    let (copied, served) = {
        let mut clients = vec![client];
        clients.extend(helpers.iter());
        // Each connection's rows in a transaction of its own, committed
        // explicitly so that a failed commit fails the load.
        let copy = pin!(async {
            for c in &clients {
                c.batch_execute("BEGIN")
                    .await
                    .map_err(|e| PgError::from_client("starting the copy", &e))?;
            }
            let stats =
                copy_batches(&clients, table, table, staging, batches, options.progress).await?;
            for c in &clients {
                c.batch_execute("COMMIT")
                    .await
                    .map_err(|e| PgError::from_client("committing the copied rows", &e))?;
            }
            Ok(stats)
        });
        match futures::future::select(copy, serve.as_mut()).await {
            Either::Left((copied, _)) => (copied, None),
            Either::Right((ended, copy)) => (copy.await, Some(ended)),
        }
    };
    // Dropping the clients asks their connections to close.
    drop(helpers);
    let ended = match served {
        Some(ended) => ended,
        None => serve.await,
    };
    for closed in ended {
        if let Err(e) = closed {
            tracing::warn!(error = %PgError::from_client("serving a copy connection", &e), "a copy connection ended with an error");
        }
    }
    if copied.is_err() {
        // The caller's connection leaves the failed transaction (the
        // staging table is then dropped outside it).
        if let Err(e) = client.batch_execute("ROLLBACK").await {
            tracing::warn!(error = %PgError::from_client("rolling the copy back", &e), "the copy's transaction could not be rolled back");
        }
    }
    copied
}

/// Streams `batches` into `target` (a table of `layout`'s columns) with
/// binary `COPY`, one `COPY` per client in `clients`, each chunk of about
/// [`CHUNK`] bytes going to whichever connection is ready first; `table`
/// names the served table in errors. Each `COPY` runs inside whatever
/// transaction its client has open.
pub(crate) async fn copy_batches<S, E>(
    clients: &[&Client],
    table: &PgTable,
    layout: &PgTable,
    target: &str,
    batches: S,
    progress: Option<&Progress<'_>>,
) -> Result<SnapshotStats, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>>,
    E: std::fmt::Display,
{
    let statement = format!(
        "COPY {target} ({}) FROM STDIN (FORMAT binary)",
        layout.column_list()
    );
    let mut sinks = Vec::with_capacity(clients.len());
    for client in clients {
        let sink = client
            .copy_in::<_, Bytes>(&statement)
            .await
            .map_err(|e| PgError::from_client("starting the copy", &e))?;
        sinks.push(Box::pin(sink));
    }
    let encoder = CopyEncoder::new(layout);
    let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
    let mut sent = LoadProgress { rows: 0, bytes: 0 };
    let mut pending_rows = 0u64;
    // Every stream opens with the header.
    let mut opened = vec![false; sinks.len()];
    let mut next = 0;
    let mut batches = pin!(batches);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| PgError::Source {
            table: table.qualified(),
            reason: e.to_string(),
        })?;
        encoder.encode(&batch, &mut buf)?;
        pending_rows += batch.num_rows() as u64;
        if buf.len() >= CHUNK {
            let i = first_ready(&mut sinks, next).await?;
            next = (i + 1) % sinks.len();
            let chunk = take_chunk(&mut buf, &mut opened[i]);
            sent.bytes += chunk.len() as u64;
            sinks[i]
                .as_mut()
                .start_send(chunk)
                .map_err(|e| PgError::from_client("copying rows", &e))?;
            sent.rows += std::mem::take(&mut pending_rows);
            if let Some(report) = progress {
                report(sent);
            }
        }
    }
    // The rest goes to the first stream; every stream gets its trailer.
    let mut finishing = Vec::with_capacity(sinks.len());
    for (i, mut sink) in sinks.into_iter().enumerate() {
        if i == 0 {
            let mut chunk = take_chunk(&mut buf, &mut opened[0]);
            if !chunk.is_empty() {
                sent.bytes += chunk.len() as u64;
                sink.send(std::mem::take(&mut chunk))
                    .await
                    .map_err(|e| PgError::from_client("copying rows", &e))?;
            }
        }
        let mut end = BytesMut::with_capacity(32);
        if !opened[i] {
            header(&mut end);
        }
        trailer(&mut end);
        sent.bytes += end.len() as u64;
        sink.send(end.freeze())
            .await
            .map_err(|e| PgError::from_client("copying rows", &e))?;
        finishing.push(async move { sink.as_mut().finish().await });
    }
    let mut rows = 0;
    for done in futures::future::join_all(finishing).await {
        rows += done.map_err(|e| PgError::from_client("finishing the copy", &e))?;
    }
    sent.rows += pending_rows;
    if let Some(report) = progress {
        report(sent);
    }
    Ok(SnapshotStats {
        rows,
        bytes: sent.bytes,
    })
}

/// What `buf` holds, as the next chunk of a stream: with the header in
/// front when the stream has not had it yet.
fn take_chunk(buf: &mut BytesMut, opened: &mut bool) -> Bytes {
    if *opened {
        return buf.split().freeze();
    }
    *opened = true;
    let mut chunk = BytesMut::with_capacity(32 + buf.len());
    header(&mut chunk);
    chunk.extend_from_slice(buf);
    buf.clear();
    chunk.freeze()
}

/// The index of a sink ready to take a chunk, trying `from` first: the
/// connection whose server has caught up gets the next chunk.
async fn first_ready(
    sinks: &mut [Pin<Box<CopyInSink<Bytes>>>],
    from: usize,
) -> Result<usize, PgError> {
    let n = sinks.len();
    futures::future::poll_fn(|cx| {
        for k in 0..n {
            let i = (from + k) % n;
            match sinks[i].as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(i)),
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(PgError::from_client("copying rows", &e)));
                }
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

async fn drop_quietly(client: &Client, staging: &str) {
    if let Err(e) = client
        .batch_execute(&format!("DROP TABLE IF EXISTS {staging}"))
        .await
    {
        tracing::warn!(error = %PgError::from_client("dropping the staging table", &e), "staging table left behind; the next load drops it");
    }
}
