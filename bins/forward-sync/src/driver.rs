//! One sync of one table, and the loop that repeats them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use caresync_lake::{
    CHANGE_TYPE_COLUMN, COMMIT_VERSION_COLUMN, LakeError, LakeTable, PRIMARY_KEY_PROPERTY,
    TableSpec,
};
use caresync_pg::{
    ApplyOutcome, CHANGE_TYPE, COMMIT_VERSION, LoadOptions, LoadProgress, PgError, PgTable,
    SourceVersion, apply_changes, ensure_indexes, ensure_state_table, ident, load_snapshot_with,
    synced_state,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tokio_postgres::{Client, NoTls};

use crate::config::{Config, Mode, TableConfig};
use crate::policy::{BatchPolicy, PolicyError};
use crate::progress::LoadBar;

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
    /// The table's policy refused the served columns (it renamed, dropped
    /// or reordered one, or failed).
    #[error("[FWD-0003] table {table}: the policy {detail}")]
    Policy {
        /// The served table.
        table: String,
        /// What the policy did or said, naming columns.
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
            SyncError::Policy { .. } => "FWD-0003",
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
    /// The table's policy is not the one its rows were written under (one
    /// was added, removed or changed its [`BatchPolicy::id`]).
    PolicyChanged,
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

/// Brings one table up to its source's newest version, by `mode`; a
/// snapshot copies over `client` alone and runs `ANALYZE` before
/// returning.
pub async fn sync_table(
    client: &mut Client,
    spec: &TableConfig,
    mode: Mode,
) -> Result<SyncReport, SyncError> {
    sync_table_with(client, spec, mode, &LoadOptions::new()).await
}

/// [`sync_table`], a snapshot (if one is needed) loaded as `load` says:
/// over several connections, with progress reports, with or without
/// `ANALYZE`.
pub async fn sync_table_with(
    client: &mut Client,
    spec: &TableConfig,
    mode: Mode,
    load: &LoadOptions<'_>,
) -> Result<SyncReport, SyncError> {
    let synced = sync_once(client, spec, mode, load).await;
    // Masking happened whether or not the sync committed: its audit
    // records are written either way.
    let audited = append_audit(spec).await;
    match (synced, audited) {
        (Ok(report), Ok(())) => Ok(report),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Err(audit)) => {
            tracing::error!(table = %spec.name, error = %audit, "the policy's audit records were not written");
            Err(e)
        }
        (Err(e), Ok(())) => Err(e),
    }
}

/// Appends the audit records the table's policy kept to its audit table.
async fn append_audit(spec: &TableConfig) -> Result<(), SyncError> {
    let Some(policy) = spec.policy.get() else {
        return Ok(());
    };
    let Some(url) = policy.audit_table() else {
        return Ok(());
    };
    let batch = policy.take_audit().map_err(|e| SyncError::Policy {
        table: spec.name.clone(),
        detail: format!("kept no usable audit records: {e}"),
    })?;
    let Some(batch) = batch else {
        return Ok(());
    };
    let audit = TableSpec::new("caresync_policy_audit", batch.schema());
    let mut table = LakeTable::open_or_create(url, &audit).await?;
    table.append(vec![batch]).await?;
    Ok(())
}

async fn sync_once(
    client: &mut Client,
    spec: &TableConfig,
    mode: Mode,
    load: &LoadOptions<'_>,
) -> Result<SyncReport, SyncError> {
    let lake = LakeTable::open(&spec.source).await?;
    let version = lake.version();
    let served_columns = with_policy(served_schema(lake.schema()?, spec)?, spec)?;
    let key = primary_key(&lake, spec)?;
    let key: Vec<&str> = key.iter().map(String::as_str).collect();
    let table = PgTable::from_arrow(&spec.name, &served_columns, &key)?
        .in_schema(&spec.schema)
        .with_indexes(&spec.indexes)?;
    let name = format!("{}.{}", spec.schema, spec.name);
    ensure_state_table(client).await?;
    let state = synced_state(client, &table).await?;
    crate::metrics::seen(&name, version, state.as_ref().map(|s| s.version));
    // A policy is part of what the served rows come from: a new policy
    // (or a new version of one) copies the table again, so that no row
    // written under other rules stays.
    let recorded_source = match spec.policy.get() {
        None => lake.url().to_owned(),
        Some(p) => format!("{}#policy={}", lake.url(), p.id()),
    };
    let at = SourceVersion {
        source: &recorded_source,
        version,
    };
    // The whole table copied and swapped in, for `reason`.
    let copy_all = async |client: &mut Client, reason| {
        snapshot(client, &lake, &table, spec, at, reason, load).await
    };
    let reason = match (&mode, &state) {
        (Mode::Snapshot, _) => Some(SnapshotReason::Requested),
        (_, None) => Some(SnapshotReason::FirstSync),
        (_, Some(s)) if s.source != recorded_source => {
            if s.source.split("#policy=").next() == Some(lake.url()) {
                Some(SnapshotReason::PolicyChanged)
            } else {
                Some(SnapshotReason::SourceChanged)
            }
        }
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
        (Some(reason), _) => copy_all(client, reason).await?,
        (None, Some(state)) => {
            let columns_added = follow_schema(client, &table).await?;
            let built = ensure_indexes(client, &table).await?;
            if built > 0 {
                tracing::info!(table = %table.qualified(), indexes = built, "built configured indexes the served table lacked");
            }
            match lake.changes_stream(state.version + 1, Some(version)).await {
                Ok(feed) => {
                    let policy = spec.policy.get();
                    let stream = served(feed, &table, policy, lake.url(), version, CHANGES);
                    let limit = change_limit(client, &table, spec).await?;
                    match apply_changes(client, &table, state.version, at, stream, Some(limit))
                        .await?
                    {
                        ApplyOutcome::TooMany { rows } => {
                            tracing::info!(table = %table.qualified(), change_rows = rows, limit, "more changes than the table's snapshot fraction");
                            copy_all(client, SnapshotReason::ChangeFeedTooLarge).await?
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
                    copy_all(client, SnapshotReason::ChangeFeedUnavailable).await?
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
    spec: &TableConfig,
    at: SourceVersion<'_>,
    reason: SnapshotReason,
    load: &LoadOptions<'_>,
) -> Result<Action, SyncError> {
    if reason != SnapshotReason::Requested {
        tracing::info!(table = %table.qualified(), ?reason, "copying the whole table");
    }
    let stream = served(
        lake.scan().await?,
        table,
        spec.policy.get(),
        lake.url(),
        at.version,
        ROWS,
    );
    let stats = load_snapshot_with(client, table, at, stream, load).await?;
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

/// The primary key: the configured one, else the source's
/// [`PRIMARY_KEY_PROPERTY`] table property.
fn primary_key(lake: &LakeTable, spec: &TableConfig) -> Result<Vec<String>, SyncError> {
    if !spec.key.is_empty() {
        return Ok(spec.key.clone());
    }
    let from_metadata: Vec<String> = lake
        .property(PRIMARY_KEY_PROPERTY)?
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if from_metadata.is_empty() {
        return Err(SyncError::Config {
            table: spec.name.clone(),
            detail: format!(
                "no key is configured and the source has no {PRIMARY_KEY_PROPERTY} table property"
            ),
        });
    }
    if let Some(cols) = &spec.columns
        && let Some(k) = from_metadata.iter().find(|k| !cols.contains(k))
    {
        return Err(SyncError::Config {
            table: spec.name.clone(),
            detail: format!(
                "key column {k} (from the source's metadata) is not in its columns list"
            ),
        });
    }
    Ok(from_metadata)
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

/// The served columns after the table's policy, which must keep their
/// names and order.
fn with_policy(served: SchemaRef, spec: &TableConfig) -> Result<SchemaRef, SyncError> {
    let Some(policy) = spec.policy.get() else {
        return Ok(served);
    };
    let refused = |detail: String| SyncError::Policy {
        table: format!("{}.{}", spec.schema, spec.name),
        detail,
    };
    let out = policy
        .schema(&served)
        .map_err(|e| refused(format!("refused the served columns: {e}")))?;
    let names = |s: &SchemaRef| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    if names(&out) != names(&served) {
        return Err(refused(format!(
            "must keep the served columns' names and order ({}), but gave {}",
            names(&served).join(", "),
            names(&out).join(", ")
        )));
    }
    Ok(out)
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
/// its order, transformed by `policy`, then `extra` (see [`project`]);
/// read errors become [`read_failure`].
fn served<'a>(
    stream: SendableRecordBatchStream,
    table: &'a PgTable,
    policy: Option<&'a dyn BatchPolicy>,
    url: &'a str,
    version: i64,
    extra: &'static [(&'static str, &'static str, DataType)],
) -> impl Stream<Item = Result<RecordBatch, PgError>> + 'a {
    stream.map(move |batch| {
        // The engine's message is not logged either: it may quote data.
        let batch = batch.map_err(|_| read_failure(url, version))?;
        let names = table.columns().iter().map(|c| c.name.as_str());
        let columns = project(&batch, names, &[]).map_err(|_| read_failure(url, version))?;
        let columns = match policy {
            None => columns,
            Some(p) => {
                let rows = columns.num_rows();
                let masked = p.apply(columns).map_err(|e| policy_refused(table, &e))?;
                if masked.num_rows() != rows {
                    return Err(policy_refused(
                        table,
                        &PolicyError("it changed the number of rows".to_owned()),
                    ));
                }
                masked
            }
        };
        if extra.is_empty() {
            return Ok(columns);
        }
        let tail =
            project(&batch, std::iter::empty(), extra).map_err(|_| read_failure(url, version))?;
        let mut fields: Vec<Field> = columns
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(tail.schema().fields().iter().map(|f| f.as_ref().clone()));
        let mut arrays = columns.columns().to_vec();
        arrays.extend(tail.columns().iter().cloned());
        RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), arrays).map_err(|_| {
            policy_refused(
                table,
                &PolicyError("its batch does not fit the served columns".to_owned()),
            )
        })
    })
}

/// A batch the table's policy refused, as a load error (the policy's text
/// names columns, never values).
fn policy_refused(table: &PgTable, e: &PolicyError) -> PgError {
    PgError::Source {
        table: table.qualified(),
        reason: format!("[FWD-0003] the table's policy refused a batch: {e}"),
    }
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
    RecordBatch::try_new_with_options(
        std::sync::Arc::new(Schema::new(fields)),
        arrays,
        &deltalake::arrow::record_batch::RecordBatchOptions::new()
            .with_row_count(Some(batch.num_rows())),
    )
}

/// Transient failures (a lost connection, a server restarting) retried
/// before a sync is given up: 100 ms, doubling.
const RETRIES: u32 = 6;

/// [`run_with`] without progress bars.
pub async fn run(
    config: &Config,
    mode: Option<Mode>,
    shutdown: impl Future<Output = ()>,
) -> Result<Vec<SyncReport>, SyncError> {
    run_with(config, mode, shutdown, false).await
}

/// Runs the configured syncs: `mode` (when given) overrides each table's.
///
/// - Snapshot and triggered tables are synced once, or, with a
///   `schedule`, again each `schedule` after the last sync started.
/// - Continuous tables are synced again `poll_interval_ms` after each sync
///   ends.
/// - The run returns when no table repeats, or when `shutdown` completes
///   (checked before each table); a sync in flight finishes first.
/// - Tables sync one after another: a long snapshot delays the others'
///   syncs by its length.
///
/// A lost connection or a restarting server is retried with back-off
/// (100 ms doubling, six times) on a new connection. A repeating table
/// that still fails is tried again when it is next due while the others go
/// on; a table synced once fails the run.
///
/// Snapshots copy over `copy_connections` connections and are served as
/// soon as they are swapped in; `ANALYZE` then runs on a connection of its
/// own; the table's next sync, and the end of the run, wait for it. With
/// `progress`, each
/// snapshot draws a bar on standard error.
///
/// Returns the reports of the first pass.
pub async fn run_with(
    config: &Config,
    mode: Option<Mode>,
    shutdown: impl Future<Output = ()>,
    progress: bool,
) -> Result<Vec<SyncReport>, SyncError> {
    let mut shutdown = pin!(shutdown);
    let mode_of = |t: &TableConfig| mode.unwrap_or(t.mode);
    let poll = Duration::from_millis(config.poll_interval_ms);
    let repeats = |t: &TableConfig| mode_of(t) == Mode::Continuous || t.schedule.is_some();
    let target: tokio_postgres::Config = config
        .dsn
        .parse()
        .map_err(|e| PgError::from_client("reading the connection string", &e))?;
    let mut client: Option<Client> = None;
    let mut reports = Vec::new();
    let mut freshness = crate::metrics::Freshness::default();
    // At most one ANALYZE per table (by position), awaited before that
    // table syncs again: a swap never queues behind it.
    let mut analyses: HashMap<usize, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut due = vec![Instant::now(); config.tables.len()];
    let mut first = true;
    let outcome = loop {
        let mut failed = None;
        let mut stopping = false;
        for (i, (t, due)) in config.tables.iter().zip(due.iter_mut()).enumerate() {
            if !first && (!repeats(t) || *due > Instant::now()) {
                continue;
            }
            // A stop asked for during a pass ends it before the next table.
            if futures::FutureExt::now_or_never(shutdown.as_mut()).is_some() {
                stopping = true;
                break;
            }
            if let Some(pending) = analyses.remove(&i) {
                let _ = pending.await;
            }
            let table_mode = match mode_of(t) {
                Mode::Continuous => Mode::Triggered,
                m => m,
            };
            let name = format!("{}.{}", t.schema, t.name);
            let bar = LoadBar::new(&name);
            let report = |p: LoadProgress| bar.update(p);
            let mut load = LoadOptions::new()
                .copy_connections(target.clone(), config.copy_connections)
                .analyze(false);
            if progress {
                load = load.progress(&report);
            }
            let started = Instant::now();
            let result = sync_with_retries(&mut client, &config.dsn, t, table_mode, &load).await;
            bar.finish();
            freshness.after(&name, &result);
            *due = match (mode_of(t), t.schedule) {
                (Mode::Continuous, _) => Instant::now() + poll,
                (_, Some(every)) => started + every,
                (_, None) => started,
            };
            match result {
                Ok(report) => {
                    if report.action != Action::UpToDate {
                        tracing::info!(table = %report.table, version = report.version, action = ?report.action, "synced");
                    }
                    if matches!(report.action, Action::Snapshot { .. }) {
                        let (dsn, schema, name) =
                            (config.dsn.clone(), t.schema.clone(), t.name.clone());
                        let task =
                            tokio::spawn(async move { analyze_apart(&dsn, &schema, &name).await });
                        analyses.insert(i, task);
                    }
                    if first {
                        reports.push(report);
                    }
                }
                Err(e) if repeats(t) => {
                    tracing::warn!(table = %t.name, error = %e, "sync failed; retrying when next due");
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        first = false;
        // Finished statistics tasks are let go of as the run goes on.
        analyses.retain(|_, task| !task.is_finished());
        if let Some(e) = failed {
            break Err(e);
        }
        if stopping {
            break Ok(reports);
        }
        let next = config
            .tables
            .iter()
            .zip(&due)
            .filter(|(t, _)| repeats(t))
            .map(|(_, d)| *d)
            .min();
        let Some(next) = next else {
            break Ok(reports);
        };
        tokio::select! {
            // A stop wins over a table that is already due.
            biased;
            () = &mut shutdown => break Ok(reports),
            () = tokio::time::sleep_until(next.into()) => {}
        }
    };
    // The statistics of the snapshots just served.
    for (_, task) in analyses.drain() {
        let _ = task.await;
    }
    outcome
}

/// `ANALYZE` of a table just swapped in, on a connection of its own so
/// that syncs go on meanwhile. A failure is a warning: the table is served
/// either way, and autovacuum analyzes it later.
async fn analyze_apart(dsn: &str, schema: &str, name: &str) {
    let result = match connect(dsn).await {
        Ok(client) => caresync_pg::analyze(&client, schema, name)
            .await
            .map_err(SyncError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(table = %format!("{schema}.{name}"), error = %e, "ANALYZE after a snapshot failed");
    }
}

/// One sync of `t`, on `client` (connected first when it is not), retried
/// on transient failures with a new connection.
async fn sync_with_retries(
    client: &mut Option<Client>,
    dsn: &str,
    t: &TableConfig,
    mode: Mode,
    load: &LoadOptions<'_>,
) -> Result<SyncReport, SyncError> {
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        let result = match client {
            Some(c) if !c.is_closed() => sync_table_with(c, t, mode, load).await,
            _ => match connect(dsn).await {
                Ok(c) => sync_table_with(client.insert(c), t, mode, load).await,
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
