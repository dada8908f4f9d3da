//! The run: set-up (tables, publication, histories, slot), the initial
//! snapshot, then the stream, committed to the lake before it is confirmed.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use caresync_cdc::catalog::{self, SourceTable};
use caresync_cdc::history::{
    Capture, Event, HistoryBuilder, METADATA_COLUMNS, RowOrigin, TableName, history_schema,
};
use caresync_cdc::{CdcError, Lsn, ReplicationConnection, ReplicationStream, StreamMessage};
use caresync_lake::{CommitOutcome, LakeError, LakeTable, TableSpec, WriteOptions};
use deltalake::arrow::array::{ArrayRef, RecordBatch, new_null_array};
use deltalake::arrow::datatypes::{Field, Schema, SchemaRef};
use tokio_postgres::{Client, NoTls};

use crate::config::Config;
use crate::metrics;
use crate::mirror::Mirror;

/// Why reverse sync stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReverseError {
    /// The replication client or the source database failed.
    #[error(transparent)]
    Cdc(#[from] CdcError),
    /// A change-history table could not be opened or written.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The configuration does not fit the database.
    #[error("[REV-0001] {0}")]
    Config(String),
    /// The slot is gone while the histories record progress: changes after
    /// the last recorded position may have been lost.
    #[error(
        "[REV-0002] replication slot {slot} does not exist, but the change histories hold changes up to {lsn}: changes after it may be lost; capture into a new lake location to start over"
    )]
    SlotLost {
        /// The slot.
        slot: String,
        /// The newest position the histories hold.
        lsn: Lsn,
    },
    /// A table was added to a capture that has already streamed.
    #[error(
        "[REV-0003] table {table} has no initial copy, but slot {slot} has already streamed; adding a table to a running capture is not supported: use a new slot and lake location"
    )]
    TableAdded {
        /// The table.
        table: TableName,
        /// The slot.
        slot: String,
    },
    /// The publication exists and does not publish exactly the tables.
    #[error("[REV-0004] publication {publication}: {detail}")]
    Publication {
        /// The publication.
        publication: String,
        /// What differs.
        detail: String,
    },
    /// The table is written by forward sync: capturing it would send its
    /// rows back to the lake they came from.
    #[error(
        "[REV-0005] table {table} is served by forward sync (it is in caresync_sync_state); capturing it would loop"
    )]
    Echo {
        /// The table.
        table: TableName,
    },
    /// The run stopped abruptly as [`StopAt::abandon_after_commits`] asked.
    #[error("[REV-0007] abandoned after a lake commit, before confirming it (as asked)")]
    Abandoned,
    /// A captured column changed type.
    #[error("[REV-0006] table {table}: {detail}")]
    SchemaChange {
        /// The table.
        table: TableName,
        /// What changed.
        detail: String,
    },
}

impl ReverseError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ReverseError::Cdc(e) => e.code(),
            ReverseError::Lake(_) => "LAKE",
            ReverseError::Config(_) => "REV-0001",
            ReverseError::SlotLost { .. } => "REV-0002",
            ReverseError::TableAdded { .. } => "REV-0003",
            ReverseError::Publication { .. } => "REV-0004",
            ReverseError::Echo { .. } => "REV-0005",
            ReverseError::SchemaChange { .. } => "REV-0006",
            ReverseError::Abandoned => "REV-0007",
        }
    }

    /// Whether reconnecting and resuming from the slot may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ReverseError::Cdc(e) if e.is_transient())
    }
}

/// What a run did, for the log and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// Rows copied by the initial snapshot, when this run took it.
    pub snapshot_rows: u64,
    /// Changes written to the histories.
    pub changes: u64,
    /// Lake commits made for streamed changes.
    pub commits: u64,
    /// The position confirmed to the slot when the run ended.
    pub confirmed: Lsn,
    /// Connections lost and resumed.
    pub reconnects: u64,
    /// Per streamed transaction: milliseconds from its commit in PostgreSQL
    /// to its lake commit.
    lags_ms: Vec<u32>,
}

impl RunReport {
    /// Streamed transactions written to the lake.
    pub fn transactions(&self) -> usize {
        self.lags_ms.len()
    }

    /// The `q`-quantile (0.0 to 1.0) of the time from a transaction's commit
    /// in PostgreSQL to its commit in the lake, over the run; `None` before
    /// any transaction was written. Measured with the two clocks of one
    /// machine when the server is local; across machines, clock skew adds in.
    pub fn lag_quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted = self.lags_ms.clone();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        let index = ((last as f64) * q.clamp(0.0, 1.0)).round() as usize;
        sorted
            .get(index)
            .map(|ms| Duration::from_millis(u64::from(*ms)))
    }
}

/// Where the run stops, besides a stop signal: tests and benchmarks stop
/// once a position is committed and confirmed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopAt {
    /// Stop once everything up to this position is confirmed.
    pub confirmed: Option<Lsn>,
    /// Stop abruptly right after this many lake commits of streamed
    /// changes, before the slot is told of the last one: what a crash at
    /// that point leaves behind. For tests of recovery.
    pub abandon_after_commits: Option<u64>,
}

type Shutdown<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// Captures the configured tables until `shutdown` completes: the initial
/// snapshot on the first run, then every change, committed to the
/// change-history tables before the slot is told.
///
/// A lost connection (or a server restart) is ridden out: the run
/// reconnects with back-off and resumes from the slot's confirmed position,
/// skipping changes a history already holds.
pub async fn run(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<RunReport, ReverseError> {
    run_until(config, shutdown, StopAt::default()).await
}

/// As [`run`], also stopping at `stop`.
pub async fn run_until(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send,
    stop: StopAt,
) -> Result<RunReport, ReverseError> {
    config
        .check()
        .map_err(|e| ReverseError::Config(e.to_string()))?;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut report = RunReport::default();
    let mut backoff = Duration::from_millis(100);
    loop {
        let before = report.changes;
        match run_once(config, shutdown.as_mut(), stop, &mut report).await {
            Ok(()) => return Ok(report),
            Err(e) if e.is_transient() => {
                if report.changes > before {
                    backoff = Duration::from_millis(100);
                }
                tracing::warn!(code = e.code(), error = %e, retry_in = ?backoff, "replication interrupted; resuming");
                metrics::error(e.code());
                report.reconnects += 1;
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => return Ok(report),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => {
                tracing::debug!(code = e.code(), error = %e, "run failed");
                metrics::error(e.code());
                return Err(e);
            }
        }
    }
}

struct Target {
    source: SourceTable,
    history: LakeTable,
    applied: Option<Lsn>,
    mirror: Option<Mirror>,
}

async fn run_once(
    config: &Config,
    mut shutdown: Shutdown<'_>,
    stop: StopAt,
    report: &mut RunReport,
) -> Result<(), ReverseError> {
    let pg_config: tokio_postgres::Config = config
        .dsn
        .parse()
        .map_err(|_| ReverseError::Config("the dsn is not a valid connection string".to_owned()))?;
    let client = connect(&pg_config).await?;
    let names = config
        .table_names()
        .map_err(|e| ReverseError::Config(e.to_string()))?;
    refuse_forward_synced(&client, &names).await?;
    let mut sources = Vec::with_capacity(names.len());
    for name in &names {
        sources.push(catalog::describe_table(&client, name).await?);
    }
    let slot = catalog::slot_state(&client, &config.slot).await?;
    ensure_publication(&client, config, &names, slot.is_some()).await?;

    let app_id = config.app_id();
    let mut targets: Vec<Target> = Vec::with_capacity(sources.len());
    for source in sources {
        let history = open_history(config, &source).await?;
        let applied = history
            .last_txn_version(&app_id)
            .await?
            .and_then(Lsn::from_i64);
        if config.mirror
            && source.primary_key.is_empty()
            && source.replica_identity == catalog::ReplicaIdentity::Full
        {
            return Err(ReverseError::Config(format!(
                "{}: the mirror needs a primary key (under REPLICA IDENTITY FULL without one, identical rows cannot be told apart)",
                source.name
            )));
        }
        let spec = if config.mirror {
            Some(crate::mirror::mirror_spec(config, &source))
        } else {
            None
        };
        let mirror = match spec {
            Some((spec, url, key)) => Some(Mirror::open(spec, url, key, app_id.clone()).await?),
            None => None,
        };
        targets.push(Target {
            source,
            history,
            applied,
            mirror,
        });
    }

    let mut repl = ReplicationConnection::connect(&pg_config).await?;
    let start = match slot {
        Some(state) if targets.iter().all(|t| t.applied.is_some()) => {
            if state.active {
                // Another walsender still holds it (ours, from a connection
                // that has not been noticed gone yet, or another process).
                return Err(CdcError::Server {
                    context: "START_REPLICATION",
                    sqlstate: "55006".to_owned(),
                    message: format!("replication slot {} is active", config.slot),
                }
                .into());
            }
            state.confirmed_flush.unwrap_or(Lsn::INVALID)
        }
        Some(state) => {
            // Some table lacks its initial copy. If nothing was streamed
            // yet (every copy made is at the slot's untouched start), the
            // first run stopped during its snapshot: take it again.
            let copies: HashSet<Lsn> = targets.iter().filter_map(|t| t.applied).collect();
            let untouched =
                copies.len() <= 1 && copies.iter().all(|lsn| Some(*lsn) == state.confirmed_flush);
            if !untouched {
                let table = targets
                    .iter()
                    .find(|t| t.applied.is_none())
                    .map(|t| t.source.name.clone())
                    .expect("some table lacks its copy in this branch");
                return Err(ReverseError::TableAdded {
                    table,
                    slot: config.slot.clone(),
                });
            }
            tracing::info!(slot = %config.slot, "the first snapshot did not finish; taking it again");
            repl.drop_slot(&config.slot, true).await?;
            snapshot(config, &pg_config, &mut repl, &mut targets, report).await?
        }
        None => {
            if let Some(lsn) = targets.iter().filter_map(|t| t.applied).max() {
                return Err(ReverseError::SlotLost {
                    slot: config.slot.clone(),
                    lsn,
                });
            }
            snapshot(config, &pg_config, &mut repl, &mut targets, report).await?
        }
    };
    drop(client);
    // A mirror behind its history (new, or left behind by a crash between
    // the two commits) is rebuilt from the history first.
    for target in &mut targets {
        let (Some(applied), Some(mirror)) = (target.applied, target.mirror.as_mut()) else {
            continue;
        };
        if mirror.applied != Some(applied) {
            mirror.rebuild(&target.history, applied, &app_id).await?;
        }
    }
    let stream = repl
        .start_replication(
            &config.slot,
            start,
            std::slice::from_ref(&config.publication),
        )
        .await
        .map_err(|e| match e {
            CdcError::Server { ref sqlstate, .. } if sqlstate == "42704" => {
                let lsn = targets.iter().filter_map(|t| t.applied).max();
                ReverseError::SlotLost {
                    slot: config.slot.clone(),
                    lsn: lsn.unwrap_or(start),
                }
            }
            e => e.into(),
        })?;
    tracing::info!(slot = %config.slot, from = %start, tables = targets.len(), "streaming");
    let mut streamer = Streamer::new(config, stream, targets, start);
    streamer.abandon_after = stop.abandon_after_commits;
    streamer.run(shutdown.as_mut(), stop, report).await
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, ReverseError> {
    let (client, connection) = config.connect(NoTls).await.map_err(|e| CdcError::Sql {
        context: "connecting",
        summary: if e.is_closed() {
            "08006, connection closed".to_owned()
        } else {
            "08001, cannot connect".to_owned()
        },
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(closed = e.is_closed(), "control connection ended");
        }
    });
    Ok(client)
}

async fn refuse_forward_synced(client: &Client, names: &[TableName]) -> Result<(), ReverseError> {
    let context = "reading forward sync's state table";
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('public.caresync_sync_state') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|_| CdcError::Sql {
            context,
            summary: "08000, query failed".to_owned(),
        })?
        .get(0);
    if !exists {
        return Ok(());
    }
    let rows = client
        .query(
            "SELECT table_schema, table_name FROM public.caresync_sync_state",
            &[],
        )
        .await
        .map_err(|e| CdcError::Sql {
            context,
            summary: e.as_db_error().map_or_else(
                || "08000, query failed".to_owned(),
                |db| db.code().code().to_owned(),
            ),
        })?;
    let served: HashSet<TableName> = rows
        .iter()
        .map(|r| TableName {
            schema: r.get(0),
            name: r.get(1),
        })
        .collect();
    match names.iter().find(|n| served.contains(*n)) {
        Some(table) => Err(ReverseError::Echo {
            table: table.clone(),
        }),
        None => Ok(()),
    }
}

async fn ensure_publication(
    client: &Client,
    config: &Config,
    names: &[TableName],
    slot_exists: bool,
) -> Result<(), ReverseError> {
    let publication = &config.publication;
    match catalog::publication_tables(client, publication).await? {
        None => {
            if slot_exists {
                return Err(ReverseError::Publication {
                    publication: publication.clone(),
                    detail: format!(
                        "it does not exist, but slot {} does: changes since it was dropped cannot be decoded",
                        config.slot
                    ),
                });
            }
            catalog::create_publication(client, publication, names).await?;
            tracing::info!(publication, tables = names.len(), "publication created");
            Ok(())
        }
        Some(published) => {
            let published: HashSet<&TableName> = published.iter().collect();
            let wanted: HashSet<&TableName> = names.iter().collect();
            let mut missing: Vec<String> = wanted
                .difference(&published)
                .map(ToString::to_string)
                .collect();
            let mut extra: Vec<String> = published
                .difference(&wanted)
                .map(ToString::to_string)
                .collect();
            missing.sort();
            extra.sort();
            if missing.is_empty() && extra.is_empty() {
                return Ok(());
            }
            let mut detail = Vec::new();
            if !missing.is_empty() {
                detail.push(format!("does not publish {}", missing.join(", ")));
            }
            if !extra.is_empty() {
                detail.push(format!(
                    "also publishes {}, which is not configured",
                    extra.join(", ")
                ));
            }
            Err(ReverseError::Publication {
                publication: publication.clone(),
                detail: detail.join("; "),
            })
        }
    }
}

async fn open_history(config: &Config, source: &SourceTable) -> Result<LakeTable, ReverseError> {
    let schema = history_schema(&source.columns);
    let key = source.row_key().join(",");
    let spec = TableSpec::new(source.name.to_string(), schema)
        .with_partition_columns([caresync_cdc::history::COMMIT_DATE])
        .with_property(caresync_lake::PRIMARY_KEY_PROPERTY, key)
        .with_storage_options(config.storage_options.clone());
    Ok(LakeTable::open_or_create(&config.history_url(&source.name), &spec).await?)
}

/// Creates the slot, copies every table within its exported snapshot, and
/// writes each copy as one commit replacing whatever an earlier, unfinished
/// first run left. Returns the slot's consistent point.
async fn snapshot(
    config: &Config,
    pg_config: &tokio_postgres::Config,
    repl: &mut ReplicationConnection,
    targets: &mut [Target],
    report: &mut RunReport,
) -> Result<Lsn, ReverseError> {
    let reader = connect(pg_config).await?;
    // Snapshot rows carry the time before the slot existed: a point-in-time
    // rebuild at any later time then starts from them.
    let taken = catalog::server_time(&reader).await?;
    let created = repl.create_slot(&config.slot).await?;
    let snapshot_name = created
        .snapshot_name
        .clone()
        .ok_or_else(|| CdcError::Protocol {
            context: "CREATE_REPLICATION_SLOT",
            detail: "no snapshot was exported".to_owned(),
        })?;
    catalog::begin_snapshot(&reader, &snapshot_name).await?;
    let origin = RowOrigin {
        lsn: created.consistent_point,
        commit_unix_micros: taken,
        xid: None,
    };
    // Each table is copied and written in turn, so one table's rows at a
    // time are in memory; the snapshot transaction stays open throughout.
    let app_id = config.app_id();
    for target in targets.iter_mut() {
        let mut builder =
            HistoryBuilder::new(target.source.name.clone(), target.source.columns.clone())?;
        let rows = catalog::copy_table(&reader, &mut builder, origin).await?;
        tracing::info!(table = %target.source.name, rows, "copied");
        report.snapshot_rows += rows;
        target
            .history
            .write_idempotent(
                &app_id,
                created.consistent_point.as_i64(),
                builder.take()?,
                WriteOptions::overwrite(),
            )
            .await?;
        target.applied = Some(created.consistent_point);
    }
    reader
        .batch_execute("COMMIT")
        .await
        .map_err(|_| CdcError::Sql {
            context: "ending the snapshot",
            summary: "08000, commit failed".to_owned(),
        })?;
    tracing::info!(slot = %config.slot, at = %created.consistent_point, rows = report.snapshot_rows, "initial snapshot written");
    Ok(created.consistent_point)
}

/// The stream loop's state.
struct Streamer<'c> {
    config: &'c Config,
    stream: ReplicationStream,
    capture: Capture,
    histories: HashMap<TableName, LakeTable>,
    mirrors: HashMap<TableName, Mirror>,
    /// Everything before this is in the lake and confirmed.
    confirmed: Lsn,
    /// The end of the last transaction buffered (not yet written).
    buffered_end: Option<Lsn>,
    /// Commit times of the buffered transactions, for the lag.
    buffered_commit_times: Vec<i64>,
    buffered_changes: u64,
    server_wal_end: Lsn,
    last_status: Instant,
    last_slot_check: Instant,
    abandon_after: Option<u64>,
}

impl<'c> Streamer<'c> {
    fn new(
        config: &'c Config,
        stream: ReplicationStream,
        targets: Vec<Target>,
        start: Lsn,
    ) -> Self {
        let mut capture = Capture::new();
        let mut histories = HashMap::with_capacity(targets.len());
        let mut mirrors = HashMap::new();
        for target in targets {
            if let Some(applied) = target.applied {
                capture.set_applied(target.source.name.clone(), applied);
            }
            if let Some(mirror) = target.mirror {
                mirrors.insert(target.source.name.clone(), mirror);
            }
            histories.insert(target.source.name, target.history);
        }
        Streamer {
            config,
            stream,
            capture,
            histories,
            mirrors,
            confirmed: start,
            buffered_end: None,
            buffered_commit_times: Vec::new(),
            buffered_changes: 0,
            server_wal_end: start,
            last_status: Instant::now(),
            last_slot_check: Instant::now(),
            abandon_after: None,
        }
    }

    async fn run(
        mut self,
        mut shutdown: Shutdown<'_>,
        stop: StopAt,
        report: &mut RunReport,
    ) -> Result<(), ReverseError> {
        let flush_every = Duration::from_millis(self.config.flush_interval_ms);
        let mut tick = tokio::time::interval(flush_every.min(Duration::from_millis(250)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut oldest_buffered: Option<Instant> = None;
        loop {
            if let Some(target) = stop.confirmed
                && self.confirmed >= target
            {
                return self.finish(report).await;
            }
            tokio::select! {
                biased;
                () = shutdown.as_mut() => {
                    if !self.capture.in_transaction() {
                        self.flush(report).await?;
                    }
                    return self.finish(report).await;
                }
                _ = tick.tick() => {
                    let due = oldest_buffered.is_some_and(|t| t.elapsed() >= flush_every);
                    if due && !self.capture.in_transaction() {
                        self.flush(report).await?;
                        oldest_buffered = None;
                    }
                    if self.last_status.elapsed() >= Duration::from_secs(10) {
                        self.status(false).await?;
                    }
                }
                message = self.stream.next() => {
                    match message? {
                        None => {
                            return Err(CdcError::Closed { context: "streaming changes" }.into());
                        }
                        Some(StreamMessage::XLogData { data, wal_end, .. }) => {
                            self.server_wal_end = self.server_wal_end.max(wal_end);
                            match self.capture.push(&data)? {
                                Event::Commit { commit_lsn, end_lsn, commit_unix_micros } => {
                                    tracing::trace!(%commit_lsn, %end_lsn, "commit received");
                                    self.buffered_end = Some(end_lsn);
                                    self.buffered_commit_times.push(commit_unix_micros);
                                    oldest_buffered.get_or_insert_with(Instant::now);
                                    if self.buffered_changes >= self.config.max_batch_changes {
                                        self.flush(report).await?;
                                        oldest_buffered = None;
                                    }
                                }
                                Event::Change => self.buffered_changes += 1,
                                _ => {}
                            }
                        }
                        Some(StreamMessage::Keepalive { wal_end, reply_requested, .. }) => {
                            tracing::trace!(%wal_end, reply_requested, "keepalive");
                            self.server_wal_end = self.server_wal_end.max(wal_end);
                            // Between transactions with nothing buffered, every
                            // change before the server's position is written.
                            if self.buffered_end.is_none() && !self.capture.in_transaction() {
                                self.confirmed = self.confirmed.max(wal_end);
                            }
                            if reply_requested {
                                self.status(false).await?;
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }

    /// Writes the buffered transactions to the histories, then confirms
    /// them to the slot.
    async fn flush(&mut self, report: &mut RunReport) -> Result<(), ReverseError> {
        let Some(end) = self.buffered_end else {
            return Ok(());
        };
        let started = Instant::now();
        let app_id = self.config.app_id();
        // The version a history records is the end of the last commit it
        // holds: every transaction whose commit starts before it is in.
        let version = end.as_i64();
        for (table, batches) in self.capture.take()? {
            let Some(history) = self.histories.get_mut(&table) else {
                // The publication is checked to hold exactly the configured
                // tables; a table renamed since would land here.
                return Err(ReverseError::SchemaChange {
                    detail: "changes arrived for a table that is not configured (renamed?)"
                        .to_owned(),
                    table,
                });
            };
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let aligned = align(&table, &history.schema()?, batches)?;
            let outcome = history
                .write_idempotent(
                    &app_id,
                    version,
                    aligned.clone(),
                    WriteOptions::append().add_columns(true),
                )
                .await?;
            if let Some(mirror) = self.mirrors.get_mut(&table) {
                mirror.apply(&aligned, end, &app_id, history).await?;
            }
            if let CommitOutcome::Committed { .. } = outcome {
                report.commits += 1;
                metrics::rows_written(&table, rows);
            }
            if self.abandon_after.is_some_and(|n| report.commits >= n) {
                return Err(ReverseError::Abandoned);
            }
            self.capture.set_applied(table, end);
        }
        report.changes += self.buffered_changes;
        metrics::changes(self.buffered_changes);
        let now = unix_micros_now();
        for commit in self.buffered_commit_times.drain(..) {
            let lag_us = (now - commit).max(0);
            metrics::lag_seconds(lag_us as f64 / 1e6);
            report
                .lags_ms
                .push(u32::try_from(lag_us / 1000).unwrap_or(u32::MAX));
        }
        self.buffered_changes = 0;
        self.buffered_end = None;
        self.confirmed = self.confirmed.max(end);
        self.status(false).await?;
        tracing::debug!(confirmed = %self.confirmed, took = ?started.elapsed(), "flushed");
        Ok(())
    }

    async fn status(&mut self, reply: bool) -> Result<(), ReverseError> {
        self.stream
            .send_status(
                self.server_wal_end.max(self.confirmed),
                self.confirmed,
                reply,
            )
            .await?;
        self.last_status = Instant::now();
        metrics::lag_bytes(
            self.server_wal_end
                .as_u64()
                .saturating_sub(self.confirmed.as_u64()),
        );
        if self.last_slot_check.elapsed() >= Duration::from_secs(30) {
            self.last_slot_check = Instant::now();
            // Bounded: the stream must not wait on a slow second connection.
            let _ = tokio::time::timeout(Duration::from_secs(5), self.check_slot()).await;
        }
        Ok(())
    }

    /// Reports the WAL the slot keeps, warning past the threshold. Errors
    /// here are logged, never fatal: the stream itself is what matters.
    async fn check_slot(&self) {
        let Ok(config) = self.config.dsn.parse::<tokio_postgres::Config>() else {
            return;
        };
        let Ok(client) = connect(&config).await else {
            return;
        };
        if let Ok(Some(state)) = catalog::slot_state(&client, &self.config.slot).await
            && let Some(bytes) = state.retained_wal_bytes
        {
            metrics::retained_wal(bytes);
            if bytes > self.config.retained_wal_warning_bytes {
                tracing::warn!(
                    slot = %self.config.slot,
                    retained_wal_bytes = bytes,
                    threshold = self.config.retained_wal_warning_bytes,
                    "the replication slot keeps more WAL than the threshold"
                );
            }
        }
    }

    async fn finish(mut self, report: &mut RunReport) -> Result<(), ReverseError> {
        report.confirmed = self.confirmed;
        self.status(false).await?;
        self.stream.close(self.confirmed, self.confirmed).await?;
        Ok(())
    }
}

/// Puts a table's batches (possibly built under several column lists, after
/// a schema change) into the history's schema, with new columns appended:
/// a column a batch lacks is null in it.
fn align(
    table: &TableName,
    history: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, ReverseError> {
    if batches.iter().all(|b| b.schema() == *history) {
        return Ok(batches);
    }
    // The history's fields (with the batches' Arrow types, which the lake
    // checks against its own), then new columns in order of appearance.
    let mut fields: Vec<Field> = Vec::new();
    for field in history.fields() {
        let from_batch = batches
            .iter()
            .find_map(|b| b.schema().field_with_name(field.name()).ok().cloned());
        fields.push(from_batch.unwrap_or_else(|| field.as_ref().clone()));
    }
    for batch in &batches {
        for field in batch.schema().fields() {
            if !fields.iter().any(|f| f.name() == field.name()) {
                if METADATA_COLUMNS.contains(&field.name().as_str()) {
                    continue;
                }
                fields.push(field.as_ref().clone().with_nullable(true));
            }
        }
    }
    let target: SchemaRef = Arc::new(Schema::new(fields));
    batches
        .into_iter()
        .map(|batch| {
            let columns: Vec<ArrayRef> = target
                .fields()
                .iter()
                .map(|field| match batch.column_by_name(field.name()) {
                    Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
                    Some(column) => Err(ReverseError::SchemaChange {
                        table: table.clone(),
                        detail: format!(
                            "column {} changed type from {} to {}; type changes are not followed: capture into a new lake location",
                            field.name(),
                            field.data_type(),
                            column.data_type()
                        ),
                    }),
                    None => Ok(new_null_array(field.data_type(), batch.num_rows())),
                })
                .collect::<Result<_, _>>()?;
            RecordBatch::try_new(target.clone(), columns).map_err(|e| ReverseError::SchemaChange {
                table: table.clone(),
                detail: format!("cannot align the change rows to the history: {e}"),
            })
        })
        .collect()
}

fn unix_micros_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
