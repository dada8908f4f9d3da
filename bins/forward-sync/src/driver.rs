//! One sync of one table, and the loop that repeats them.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use caresync_lake::{CHANGE_TYPE_COLUMN, COMMIT_VERSION_COLUMN, LakeError, LakeTable};
use caresync_pg::{
    ApplyOutcome, CHANGE_TYPE, COMMIT_VERSION, PgError, PgTable, SourceVersion, apply_changes,
    ensure_state_table, ident, load_snapshot, synced_state,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tokio_postgres::{Client, NoTls};

use crate::config::{Config, Mode, TableConfig};

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The Delta table could not be opened or read.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// PostgreSQL refused the work, or the connection failed.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// The table's configuration does not fit its source.
    #[error("[FWD-0001] table {table}: {detail}")]
    Config {
        /// The served table.
        table: String,
        /// What does not fit, naming columns.
        detail: String,
    },
    /// The source changed a served column in a way PostgreSQL cannot follow
    /// by adding a column: a type changed, a column disappeared, or a new
    /// column may not be null. A snapshot sync replaces the table.
    #[error(
        "[FWD-0002] table {table}: the source {detail}; run a snapshot sync to replace the table"
    )]
    IncompatibleChange {
        /// The served table.
        table: String,
        /// What changed, naming the column.
        detail: String,
    },
}

impl SyncError {
    /// The stable code of this error (`FWD-0001`, `PG-0007`, or `LAKE` for
    /// the lake's errors, which have no codes of their own yet).
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Lake(_) => "LAKE",
            SyncError::Pg(e) => e.code(),
            SyncError::Config { .. } => "FWD-0001",
            SyncError::IncompatibleChange { .. } => "FWD-0002",
        }
    }

    /// Whether retrying later may succeed (a lost connection, a server
    /// restarting).
    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::Pg(e) if e.is_transient())
    }
}

/// Why a sync copied the whole table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotReason {
    /// Snapshot mode.
    Requested,
    /// The table was never synced.
    FirstSync,
    /// The table was last synced from another source.
    SourceChanged,
    /// The source does not record a change data feed.
    ChangeFeedOff,
    /// The change data feed of the versions needed cannot be read (for
    /// example, its files were vacuumed).
    ChangeFeedUnavailable,
    /// The changes outnumber the table's `snapshot_fraction` (and
    /// `snapshot_min_changes`): copying is cheaper than applying them.
    ChangeFeedTooLarge,
}

/// What one sync did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The whole table was copied and swapped in.
    Snapshot {
        /// Why.
        reason: SnapshotReason,
        /// Rows copied.
        rows: u64,
    },
    /// The changes since the synced version were applied.
    Changes {
        /// The version the table reflected before.
        from: i64,
        /// Keys inserted or updated.
        upserted: u64,
        /// Keys deleted.
        deleted: u64,
        /// Columns added to follow the source.
        columns_added: usize,
    },
    /// The table already reflected the source's version.
    UpToDate,
}

/// The outcome of one sync of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncReport {
    /// The served table, `schema.name`.
    pub table: String,
    /// The source version the table now reflects.
    pub version: i64,
    /// What was done.
    pub action: Action,
}

/// Brings one table up to its source's newest version, by `mode`.
pub async fn sync_table(
    client: &mut Client,
    spec: &TableConfig,
    mode: Mode,
) -> Result<SyncReport, SyncError> {
    let lake = LakeTable::open(&spec.source).await?;
    let version = lake.version();
    let served_columns = served_schema(lake.schema()?, spec)?;
    let key: Vec<&str> = spec.key.iter().map(String::as_str).collect();
    let table = PgTable::from_arrow(&spec.name, &served_columns, &key)?.in_schema(&spec.schema);
    let name = format!("{}.{}", spec.schema, spec.name);
    ensure_state_table(client).await?;
    let state = synced_state(client, &table).await?;
    crate::metrics::seen(&name, version, state.as_ref().map(|s| s.version));
    let at = SourceVersion {
        source: lake.url(),
        version,
    };
    let reason = match (&mode, &state) {
        (Mode::Snapshot, _) => Some(SnapshotReason::Requested),
        (_, None) => Some(SnapshotReason::FirstSync),
        (_, Some(s)) if s.source != lake.url() => Some(SnapshotReason::SourceChanged),
        (_, Some(s)) if s.version >= version => {
            return Ok(SyncReport {
                table: name,
                version: s.version,
                action: Action::UpToDate,
            });
        }
        (_, Some(_)) if !lake.change_data_feed_enabled()? => Some(SnapshotReason::ChangeFeedOff),
        _ => None,
    };
    let action = match (reason, state) {
        (Some(reason), _) => snapshot(client, &lake, &table, at, reason).await?,
        (None, Some(state)) => {
            let columns_added = follow_schema(client, &table).await?;
            match lake.changes_stream(state.version + 1, Some(version)).await {
                Ok(feed) => {
                    let stream = served(feed, &table, lake.url(), version, CHANGES);
                    let limit = change_limit(client, &table, spec).await?;
                    match apply_changes(client, &table, state.version, at, stream, Some(limit))
                        .await?
                    {
                        ApplyOutcome::TooMany { rows } => {
                            tracing::info!(table = %table.qualified(), change_rows = rows, limit, "more changes than the table's snapshot fraction");
                            snapshot(
                                client,
                                &lake,
                                &table,
                                at,
                                SnapshotReason::ChangeFeedTooLarge,
                            )
                            .await?
                        }
                        ApplyOutcome::Applied { upserted, deleted } => Action::Changes {
                            from: state.version,
                            upserted,
                            deleted,
                            columns_added,
                        },
                        ApplyOutcome::AlreadyApplied { .. } => Action::UpToDate,
                    }
                }
                Err(e @ LakeError::ChangeDataFeedDisabled { .. }) => {
                    tracing::warn!(table = %table.qualified(), error = %e, "the change data feed cannot be read; copying the whole table instead");
                    snapshot(
                        client,
                        &lake,
                        &table,
                        at,
                        SnapshotReason::ChangeFeedUnavailable,
                    )
                    .await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        (None, None) => unreachable!("no state means a first sync"),
    };
    Ok(SyncReport {
        table: name,
        version,
        action,
    })
}

/// Copies the whole source into the served table.
async fn snapshot(
    client: &mut Client,
    lake: &LakeTable,
    table: &PgTable,
    at: SourceVersion<'_>,
    reason: SnapshotReason,
) -> Result<Action, SyncError> {
    if reason != SnapshotReason::Requested {
        tracing::info!(table = %table.qualified(), ?reason, "copying the whole table");
    }
    let stream = served(lake.scan().await?, table, lake.url(), at.version, ROWS);
    let stats = load_snapshot(client, table, at, stream).await?;
    Ok(Action::Snapshot {
        reason,
        rows: stats.rows,
    })
}

/// The most change rows a change sync applies before copying the table
/// instead: `snapshot_fraction` of the served table's estimated rows, and
/// at least `snapshot_min_changes`.
async fn change_limit(
    client: &Client,
    table: &PgTable,
    spec: &TableConfig,
) -> Result<u64, SyncError> {
    let estimate: f32 = client
        .query_one(
            "SELECT coalesce(max(reltuples), 0)::real FROM pg_class WHERE oid = to_regclass($1)",
            &[&table.qualified()],
        )
        .await
        .map_err(|e| PgError::from_client("estimating the served table's rows", &e))?
        .get(0);
    let by_fraction = (f64::from(estimate.max(0.0)) * spec.snapshot_fraction) as u64;
    Ok(by_fraction.max(spec.snapshot_min_changes))
}

/// The source's columns that are served: all, or the allow-list in its
/// order.
fn served_schema(source: SchemaRef, spec: &TableConfig) -> Result<SchemaRef, SyncError> {
    let Some(allowed) = &spec.columns else {
        return Ok(source);
    };
    let fields = allowed
        .iter()
        .map(|c| {
            source
                .field_with_name(c)
                .cloned()
                .map_err(|_| SyncError::Config {
                    table: spec.name.clone(),
                    detail: format!("column {c} is not a column of the source"),
                })
        })
        .collect::<Result<Vec<Field>, _>>()?;
    Ok(std::sync::Arc::new(Schema::new(fields)))
}

/// Adds the source's new nullable columns to the served table; any other
/// difference is an [`SyncError::IncompatibleChange`]. Returns how many
/// columns were added.
async fn follow_schema(client: &Client, table: &PgTable) -> Result<usize, SyncError> {
    let existing: Vec<(String, String)> = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table.schema(), &table.name()],
        )
        .await
        .map_err(|e| PgError::from_client("reading the served table's columns", &e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let incompatible = |detail: String| SyncError::IncompatibleChange {
        table: table.qualified(),
        detail,
    };
    for (name, ty) in &existing {
        match table.columns().iter().find(|c| &c.name == name) {
            None => return Err(incompatible(format!("no longer has column {name}"))),
            Some(c) if !same_type(&c.ty.sql(), ty) => {
                return Err(incompatible(format!(
                    "changed column {name} from {ty} to {}",
                    c.ty.sql()
                )));
            }
            Some(_) => {}
        }
    }
    let mut added = 0;
    for c in table.columns() {
        if existing.iter().any(|(n, _)| n == &c.name) {
            continue;
        }
        if !c.nullable {
            return Err(incompatible(format!(
                "added column {} that may not be null",
                c.name
            )));
        }
        client
            .batch_execute(&format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                table.qualified(),
                ident(&c.name),
                c.ty.sql()
            ))
            .await
            .map_err(|e| PgError::from_client("adding a column", &e))?;
        tracing::info!(table = %table.qualified(), column = %c.name, "added a column the source added");
        added += 1;
    }
    Ok(added)
}

/// Whether the type this crate would create and the one the catalog shows
/// are the same (`format_type` spells some differently).
fn same_type(ours: &str, catalog: &str) -> bool {
    let normal = |t: &str| match t {
        "timestamp" => "timestamp without time zone".to_owned(),
        "timestamptz" => "timestamp with time zone".to_owned(),
        "time" => "time without time zone".to_owned(),
        other => other.replace(", ", ","),
    };
    normal(ours) == normal(catalog)
}

/// The error a failed read of the source becomes: the table and version,
/// without the engine's message (which may quote data).
fn read_failure(url: &str, version: i64) -> PgError {
    PgError::Source {
        table: url.to_owned(),
        reason: format!("reading version {version} of the Delta table failed"),
    }
}

/// A snapshot's batches with the served columns, in the served order.
const ROWS: &[(&str, &str, DataType)] = &[];
/// A change feed's batches: the served columns, the change type and the
/// commit version as a signed integer.
const CHANGES: &[(&str, &str, DataType)] = &[
    (CHANGE_TYPE_COLUMN, CHANGE_TYPE, DataType::Utf8),
    (COMMIT_VERSION_COLUMN, COMMIT_VERSION, DataType::Int64),
];

/// The source's batches as the served table takes them: its columns in
/// its order, then `extra` (see [`project`]); read errors become
/// [`read_failure`].
fn served<'a>(
    stream: SendableRecordBatchStream,
    table: &'a PgTable,
    url: &'a str,
    version: i64,
    extra: &'static [(&'static str, &'static str, DataType)],
) -> impl Stream<Item = Result<RecordBatch, PgError>> + 'a {
    stream.map(move |batch| {
        // The engine's message is not logged either: it may quote data.
        let batch = batch.map_err(|_| read_failure(url, version))?;
        project(
            &batch,
            table.columns().iter().map(|c| c.name.as_str()),
            extra,
        )
        .map_err(|_| read_failure(url, version))
    })
}

/// `batch`'s columns `names`, then `extra` (source name, new name, type)
/// cast to their types.
fn project<'n>(
    batch: &RecordBatch,
    names: impl Iterator<Item = &'n str>,
    extra: &[(&str, &str, DataType)],
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let schema = batch.schema();
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for name in names {
        let i = schema.index_of(name)?;
        fields.push(schema.field(i).clone());
        arrays.push(batch.column(i).clone());
    }
    for (from, to, ty) in extra {
        let i = schema.index_of(from)?;
        fields.push(Field::new(*to, ty.clone(), false));
        arrays.push(cast(batch.column(i), ty)?);
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), arrays)
}

/// Transient failures (a lost connection, a server restarting) retried
/// before a sync is given up: 100 ms, doubling.
const RETRIES: u32 = 6;

/// Runs the configured syncs: once each for snapshot and triggered tables
/// (or all of them when `mode` overrides), or, in continuous mode, again
/// every poll interval until `shutdown` completes. A sync in flight when
/// `shutdown` completes finishes first. A lost connection or a restarting
/// server is retried with back-off (100 ms doubling, six times) on a new
/// connection; in continuous mode a table that still fails is retried at
/// the next poll while the others go on. Returns the reports of the first
/// pass.
pub async fn run(
    config: &Config,
    mode: Option<Mode>,
    shutdown: impl Future<Output = ()>,
) -> Result<Vec<SyncReport>, SyncError> {
    let mut shutdown = pin!(shutdown);
    let continuous = |t: &TableConfig| mode.unwrap_or(t.mode) == Mode::Continuous;
    let mut client: Option<Client> = None;
    let mut reports = Vec::new();
    let mut freshness = crate::metrics::Freshness::default();
    let mut first = true;
    loop {
        for t in &config.tables {
            if !first && !continuous(t) {
                continue;
            }
            let table_mode = match mode.unwrap_or(t.mode) {
                Mode::Continuous => Mode::Triggered,
                m => m,
            };
            let result = sync_with_retries(&mut client, &config.dsn, t, table_mode).await;
            freshness.after(&format!("{}.{}", t.schema, t.name), &result);
            match result {
                Ok(report) => {
                    if report.action != Action::UpToDate {
                        tracing::info!(table = %report.table, version = report.version, action = ?report.action, "synced");
                    }
                    if first {
                        reports.push(report);
                    }
                }
                Err(e) if continuous(t) => {
                    tracing::warn!(table = %t.name, error = %e, "sync failed; retrying at the next poll");
                }
                Err(e) => return Err(e),
            }
        }
        first = false;
        if !config.tables.iter().any(continuous) {
            return Ok(reports);
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(config.poll_interval_ms)) => {}
            () = &mut shutdown => return Ok(reports),
        }
    }
}

/// One sync of `t`, on `client` (connected first when it is not), retried
/// on transient failures with a new connection.
async fn sync_with_retries(
    client: &mut Option<Client>,
    dsn: &str,
    t: &TableConfig,
    mode: Mode,
) -> Result<SyncReport, SyncError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        let result = match client {
            Some(c) if !c.is_closed() => sync_table(c, t, mode).await,
            _ => match connect(dsn).await {
                Ok(c) => sync_table(client.insert(c), t, mode).await,
                Err(e) => Err(e),
            },
        };
        match result {
            Err(e) if e.is_transient() && attempt < RETRIES => {
                tracing::warn!(table = %t.name, error = %e, retry_in_ms = backoff.as_millis() as u64, "transient failure; retrying");
                *client = None;
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(e) => {
                if e.is_transient() {
                    *client = None;
                }
                return Err(e);
            }
            ok => return ok,
        }
    }
}

async fn connect(dsn: &str) -> Result<Client, SyncError> {
    let (client, connection) = tokio_postgres::connect(dsn, NoTls)
        .await
        .map_err(|e| PgError::from_client("connecting", &e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %PgError::from_client("serving the connection", &e), "PostgreSQL connection ended");
        }
    });
    Ok(client)
}
