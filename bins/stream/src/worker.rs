//! The silver stage: bronze batches routed ([`crate::silver::route`]) and
//! merged into silver tables exactly once, their rejects appended to the
//! dead-letter table.
//!
//! Each bronze batch `n` is applied with the `txn` (application
//! [`SILVER_APP_ID`], version `n`): every silver merge of the batch and
//! its dead-letter append carry it, so a batch applied again after a crash
//! is skipped table by table. The dead-letter table's `txn` is the
//! checkpoint: it is written last for a batch, so when it records `n`,
//! every batch up to `n` is in silver. It is written with every batch that
//! has rejects, and otherwise (as a commit without rows) at most once a
//! second and whenever the stage is idle. On start the stage reads the
//! bronze batches after the checkpoint back from the bronze table and
//! applies them; a batch whose merges were already committed changes
//! nothing.
//!
//! The batches waiting when the stage is ready are applied together, as
//! one group: routed in pieces on every core, then each silver table
//! merged once for the group (the tables at the same time) with the `txn`
//! version of the group's last batch. Groups are runs of consecutive
//! batches taken in order, so a table that records version `n` holds
//! every batch up to `n`; after a crash the groups may be cut differently,
//! and re-merging rows a table already holds changes nothing (the same
//! version and content is a duplicate to the merge).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use caresync_fhir::flatten::RESOURCE_JSON_COLUMN;
use caresync_lake::{LakeError, LakeTable, MergeOutcome, MergeSpec, TableSpec};
use deltalake::arrow::array::RecordBatch;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::SchemaRef;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::bronze::{self, BronzeBatch, BronzeRow, micros};
use crate::dlq::{self, DeadLetter};
use crate::error::StreamError;
use crate::handoff::Queued;
use crate::silver::{Contracts, Routed, SilverTable, VERSION_COLUMN, route_rows};

/// The `txn` application id of silver merges and dead-letter appends.
pub const SILVER_APP_ID: &str = "caresync-stream/silver";

/// Bronze batches the silver stage reads back from the table at once: up
/// to 8 × 5,000 messages with the default batching.
const READ_BATCHES: usize = 8;

/// Bronze messages the silver stage takes from its queue as one group, at
/// most (it takes at least one batch).
const GROUP_ROWS: usize = 20_000;

/// Rows of a group routed as one piece, at least: smaller groups are not
/// worth splitting.
const PIECE_ROWS: usize = 500;

/// How long the silver stage waits for a queued batch before it looks in
/// the bronze table for batches the full queue dropped.
const IDLE_CATCH_UP: Duration = Duration::from_millis(500);

/// How often, at most, an idle-free stage records its checkpoint.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The tables of one lake root: `ROOT/bronze`, `ROOT/dead_letter` and
/// `ROOT/silver/<table>`.
#[derive(Debug, Clone)]
pub struct LakeLayout {
    root: String,
    options: HashMap<String, String>,
}

impl LakeLayout {
    /// The layout under `root` (a path or a URL: `file://`, `s3://`...),
    /// with object-store options (credentials, endpoint).
    pub fn new(root: impl Into<String>, options: HashMap<String, String>) -> Self {
        let root: String = root.into();
        LakeLayout {
            root: root.trim_end_matches('/').to_owned(),
            options,
        }
    }

    /// The root.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The bronze table's location.
    pub fn bronze(&self) -> String {
        format!("{}/bronze", self.root)
    }

    /// The dead-letter table's location.
    pub fn dead_letter(&self) -> String {
        format!("{}/dead_letter", self.root)
    }

    /// A silver table's location.
    pub fn silver(&self, table: &str) -> String {
        format!("{}/silver/{table}", self.root)
    }

    /// Opens (creating it when missing) the bronze table.
    pub async fn open_bronze(&self) -> Result<LakeTable, StreamError> {
        let spec = bronze::spec("bronze").with_storage_options(self.options.clone());
        let table = LakeTable::open_or_create(&self.bronze(), &spec).await?;
        bronze::check_schema(&table)?;
        Ok(table)
    }

    /// Opens (creating it when missing) the dead-letter table, partitioned
    /// by error class.
    pub async fn open_dead_letter(&self) -> Result<LakeTable, StreamError> {
        let spec = TableSpec::new("dead_letter", dlq::schema())
            .with_partition_columns(["error_class"])
            .with_storage_options(self.options.clone());
        Ok(LakeTable::open_or_create(&self.dead_letter(), &spec).await?)
    }

    /// Opens (creating it when missing) a silver table, with its change
    /// data feed on. A FHIR table collects Delta statistics for its
    /// columns that are not nested, except `resource_json`: every value of
    /// it starts with the same `{"resourceType":...,"id":"`, so its
    /// truncated bounds would skip nothing, and its files are written
    /// without Parquet statistics for it. Its key and `resource_json`,
    /// distinct in every row, are written without dictionary encoding.
    pub async fn open_silver(&self, table: &SilverTable) -> Result<LakeTable, StreamError> {
        let mut spec = TableSpec::new(&table.name, table.schema.clone())
            .with_change_data_feed(true)
            .with_storage_options(self.options.clone());
        let fields = table.schema.fields();
        if fields.iter().any(|f| f.name() == RESOURCE_JSON_COLUMN) {
            let indexed: Vec<&str> = fields
                .iter()
                .filter(|f| !f.data_type().is_nested() && f.name() != RESOURCE_JSON_COLUMN)
                .map(|f| f.name().as_str())
                .collect();
            spec = spec
                .with_property("delta.dataSkippingStatsColumns", indexed.join(","))
                .with_property(
                    caresync_lake::PLAIN_COLUMNS_PROPERTY,
                    format!("{},{RESOURCE_JSON_COLUMN}", table.keys.join(",")),
                );
        }
        Ok(LakeTable::open_or_create(&self.silver(&table.name), &spec).await?)
    }
}

/// What the silver stage has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SilverStats {
    /// Bronze batches applied.
    pub batches: u64,
    /// Records routed to silver tables.
    pub records: u64,
    /// Changes that changed a silver row.
    pub applied: u64,
    /// Re-sends of a stored or batch-winning change.
    pub duplicate: u64,
    /// Changes older than the stored state.
    pub late: u64,
    /// Records dead-lettered.
    pub dead_letters: u64,
}

/// The silver stage's state.
pub(crate) struct Silver {
    bronze: LakeTable,
    dead_letter: LakeTable,
    tables: SilverTables,
    contracts: Arc<Contracts>,
    /// The next bronze batch to apply.
    next: i64,
    last_checkpoint: Instant,
    progress: watch::Sender<i64>,
    stats: watch::Sender<SilverStats>,
}

impl Silver {
    /// Opens the stage's tables and reads its checkpoint.
    pub(crate) async fn open(
        layout: LakeLayout,
        contracts: Contracts,
        progress: watch::Sender<i64>,
        stats: watch::Sender<SilverStats>,
    ) -> Result<Silver, StreamError> {
        let bronze = layout.open_bronze().await?;
        let dead_letter = layout.open_dead_letter().await?;
        let done = dead_letter
            .last_txn_version(SILVER_APP_ID)
            .await?
            .unwrap_or(0);
        progress.send_replace(done);
        Ok(Silver {
            tables: SilverTables::new(layout),
            bronze,
            dead_letter,
            contracts: Arc::new(contracts),
            next: done + 1,
            last_checkpoint: Instant::now(),
            progress,
            stats,
        })
    }

    /// Applies every bronze batch up to `to` that is not applied yet,
    /// reading them from the bronze table.
    async fn catch_up(&mut self, to: i64) -> Result<(), StreamError> {
        while self.next <= to {
            // A bounded number of batches in memory at once.
            let upto = to.min(self.next + READ_BATCHES as i64 - 1);
            let mut batches = bronze::read_batches(&mut self.bronze, self.next, upto).await?;
            batches.retain(|b| b.seq >= self.next);
            let n = batches.len();
            if n > 0 {
                self.apply(&Arc::new(batches), 0..n, true).await?;
            }
            // Numbers the bronze writer skipped hold no batch.
            self.next = self.next.max(upto + 1);
        }
        Ok(())
    }

    /// Applies every bronze batch the table holds that is not applied yet.
    pub(crate) async fn catch_up_with_table(&mut self) -> Result<(), StreamError> {
        self.bronze.refresh().await?;
        let last = self
            .bronze
            .last_txn_version(bronze::APP_ID)
            .await?
            .unwrap_or(0);
        self.catch_up(last).await?;
        self.checkpoint().await
    }

    /// Applies a group of bronze batches, `group` of `all` (ascending,
    /// none applied yet): routes them, merges every silver table once under
    /// the last batch's number, then appends the dead letters (the
    /// checkpoint).
    async fn apply(
        &mut self,
        all: &Arc<Vec<BronzeBatch>>,
        group: Range<usize>,
        checkpoint: bool,
    ) -> Result<(), StreamError> {
        let batches = &all[group.clone()];
        let Some(last) = batches.last().map(|b| b.seq) else {
            return Ok(());
        };
        let routed = route_group(all, group, &self.contracts).await?;
        let mut stats = *self.stats.borrow();
        let dead = self
            .tables
            .merge(SILVER_APP_ID, last, batches, routed, &mut stats)
            .await?;
        let now = SystemTime::now();
        if !dead.is_empty() || checkpoint || self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            let rows = dlq::to_batch(&dead, micros(now));
            self.dead_letter
                .append_idempotent(SILVER_APP_ID, last, vec![rows])
                .await?;
            self.last_checkpoint = Instant::now();
        }
        for d in &dead {
            crate::metrics::dead_letter(dlq::class_name(d.reason.code.class()));
        }
        let now_micros = micros(now);
        for row in batches.iter().flat_map(|b| &b.rows) {
            let waited = u64::try_from(now_micros.saturating_sub(row.received_at)).unwrap_or(0);
            crate::metrics::end_to_end(Duration::from_micros(waited));
        }
        stats.batches += batches.len() as u64;
        stats.dead_letters += dead.len() as u64;
        self.stats.send_replace(stats);
        self.next = last + 1;
        self.progress.send_replace(last);
        crate::metrics::batches(None, Some(last));
        Ok(())
    }

    /// Records the checkpoint (an empty dead-letter append) when batches
    /// were applied since the last one.
    async fn checkpoint(&mut self) -> Result<(), StreamError> {
        let done = self.next - 1;
        if done <= 0 {
            return Ok(());
        }
        let recorded = self
            .dead_letter
            .last_txn_version(SILVER_APP_ID)
            .await?
            .unwrap_or(0);
        if recorded < done {
            let rows = dlq::to_batch(&[], micros(SystemTime::now()));
            self.dead_letter
                .append_idempotent(SILVER_APP_ID, done, vec![rows])
                .await?;
        }
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Applies `group` (batches in the order the writer committed them),
    /// first catching up with the batches before each run of consecutive
    /// ones (those the full queue dropped).
    async fn take(&mut self, group: &Arc<Vec<BronzeBatch>>, idle: bool) -> Result<(), StreamError> {
        let mut run = 0..0;
        let mut expected = self.next;
        for (i, batch) in group.iter().enumerate() {
            if batch.seq < expected {
                continue;
            }
            if batch.seq > expected {
                // The batches between are in the bronze table only.
                if !run.is_empty() {
                    self.apply(group, run.clone(), false).await?;
                }
                self.catch_up(batch.seq - 1).await?;
                run = i..i;
            }
            if run.is_empty() {
                run = i..i;
            }
            run.end = i + 1;
            expected = batch.seq + 1;
        }
        if !run.is_empty() {
            self.apply(group, run, idle).await?;
        }
        Ok(())
    }
}

/// Routes the rows of `batches` on the blocking pool, in as many pieces of
/// about the same size as there are cores; the pieces' results in order,
/// each with its bronze batch.
async fn route_group(
    batches: &Arc<Vec<BronzeBatch>>,
    group: Range<usize>,
    contracts: &Arc<Contracts>,
) -> Result<Vec<(i64, Routed)>, StreamError> {
    let total: usize = batches[group.clone()].iter().map(|b| b.rows.len()).sum();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let piece = total.div_ceil(cores).max(PIECE_ROWS);
    let mut tasks = Vec::new();
    for i in group {
        let batch = &batches[i];
        let mut start = 0;
        while start < batch.rows.len() {
            let end = (start + piece).min(batch.rows.len());
            let (batches, contracts) = (batches.clone(), contracts.clone());
            tasks.push(tokio::task::spawn_blocking(move || {
                let b = &batches[i];
                (b.seq, route_rows(b.seq, &b.rows[start..end], &contracts))
            }));
            start = end;
        }
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.map_err(|e| StreamError::Task {
            what: "routing",
            detail: e.to_string(),
        })?);
    }
    Ok(out)
}

/// The silver tables of a lake, opened (or created) when first met.
pub(crate) struct SilverTables {
    layout: LakeLayout,
    open: HashMap<String, LakeTable>,
}

impl SilverTables {
    pub(crate) fn new(layout: LakeLayout) -> Self {
        SilverTables {
            layout,
            open: HashMap::new(),
        }
    }

    /// Merges the rows of `routed` (routed from `batches`) into their
    /// tables under (`app`, `seq`), every table at once, counting into
    /// `stats`; returns the dead letters of `routed` and those of the rows
    /// the merge refused (a table's rows of the group, when it refuses one).
    pub(crate) async fn merge(
        &mut self,
        app: &str,
        seq: i64,
        batches: &[BronzeBatch],
        routed: Vec<(i64, Routed)>,
        stats: &mut SilverStats,
    ) -> Result<Vec<DeadLetter>, StreamError> {
        let mut dead = Vec::new();
        let mut tables: BTreeMap<String, GroupRows> = BTreeMap::new();
        for (from, r) in routed {
            stats.records += r.records;
            dead.extend(r.dead);
            for (name, rows) in r.tables {
                let group = tables.entry(name).or_insert_with(|| GroupRows {
                    table: rows.table.clone(),
                    batches: Vec::new(),
                    origins: Vec::new(),
                });
                group.batches.extend(rows.batches);
                group
                    .origins
                    .extend(rows.origins.into_iter().flatten().map(|row| (from, row)));
            }
        }
        let app: Arc<str> = Arc::from(app);
        let mut running = Vec::with_capacity(tables.len());
        for (name, rows) in tables {
            let table = match self.open.remove(&name) {
                Some(t) => t,
                None => self.layout.open_silver(&rows.table).await?,
            };
            let app = app.clone();
            running.push(tokio::spawn(async move {
                let mut table = table;
                let merged = merge_table(&mut table, &app, seq, &rows).await;
                (name, table, rows, merged)
            }));
        }
        let mut failed = None;
        for task in running {
            let (name, table, rows, merged) = task.await.map_err(|e| StreamError::Task {
                what: "silver merge",
                detail: e.to_string(),
            })?;
            self.open.insert(name.clone(), table);
            match merged {
                Ok(MergeOutcome::Committed { report, .. }) => {
                    tracing::debug!(
                        table = %name,
                        inserted = report.inserted,
                        updated = report.updated,
                        files_read = report.files_read,
                        files_rewritten = report.files_rewritten,
                        files_marked = report.files_marked,
                        "silver merge"
                    );
                    let c = report.counters;
                    crate::metrics::silver_rows(&name, "applied", c.applied);
                    crate::metrics::silver_rows(&name, "duplicate", c.duplicate);
                    crate::metrics::silver_rows(&name, "late", c.late);
                    crate::metrics::silver_rows(&name, "superseded", c.superseded);
                    stats.applied += c.applied;
                    stats.duplicate += c.duplicate;
                    stats.late += c.late;
                }
                Ok(_) => {}
                Err(LakeError::Rejected { rejection, .. }) => {
                    // A change the merge refuses: the table's rows of this
                    // group go to the dead-letter table instead.
                    let reason = dlq::Reason::new(
                        rejection.code(),
                        rejection.location().to_string(),
                        rejection.detail(),
                    )
                    .for_table(name.clone());
                    let by_row: HashMap<(i64, u32), &BronzeRow> = batches
                        .iter()
                        .flat_map(|b| b.rows.iter().map(move |r| ((b.seq, r.row), r)))
                        .collect();
                    let mut origins = rows.origins;
                    origins.sort_unstable();
                    origins.dedup();
                    let mut refused = Routed::default();
                    for origin in origins {
                        if let Some(row) = by_row.get(&origin) {
                            refused.reject(origin.0, row, reason.clone());
                        }
                    }
                    dead.append(&mut refused.dead);
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(dead),
        }
    }
}

/// The rows of one silver table in a group, with the bronze batch and row
/// each came from.
struct GroupRows {
    table: SilverTable,
    batches: Vec<RecordBatch>,
    origins: Vec<(i64, u32)>,
}

/// Merges `rows` into `table` under (`app`, `seq`).
async fn merge_table(
    table: &mut LakeTable,
    app: &str,
    seq: i64,
    rows: &GroupRows,
) -> Result<MergeOutcome, LakeError> {
    let spec = MergeSpec::new(rows.table.keys.iter().cloned(), VERSION_COLUMN);
    let changes =
        conform(&rows.batches, &table.schema()?).map_err(|e| LakeError::SchemaMismatch {
            table: table.url().to_owned(),
            detail: format!("silver table {} cannot take its rows: {e}", rows.table.name),
        })?;
    table.merge(app, seq, &changes, &spec).await
}

/// `batches` cast to the Arrow types a Delta table reads back (list items
/// are named `element` there, `item` in Arrow's builders).
fn conform(
    batches: &[RecordBatch],
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>, deltalake::arrow::error::ArrowError> {
    batches
        .iter()
        .map(|b| {
            if b.schema()
                .fields()
                .iter()
                .zip(schema.fields())
                .all(|(a, t)| a.data_type() == t.data_type())
            {
                return Ok(b.clone());
            }
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    if c.data_type() == f.data_type() {
                        Ok(c.clone())
                    } else {
                        cast(c, f.data_type())
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect()
}

/// Runs the silver stage until the bronze writer stops (then catches up
/// with the table and records the checkpoint) or `cancel` fires. A failed
/// batch is tried again, waiting longer each time (up to 30 s).
pub(crate) async fn run(
    mut silver: Silver,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new();
    // Batches written before this start.
    if !backoff.persist(&cancel, &mut silver, &Step::CatchUp).await {
        return;
    }
    loop {
        let batch = tokio::select! {
            () = cancel.cancelled() => return,
            b = tokio::time::timeout(IDLE_CATCH_UP, rx.recv()) => b,
        };
        let queued = match batch {
            Ok(Some(queued)) => queued,
            Ok(None) => break,
            // Idle: batches the full queue could not take are in the table.
            Err(_) => {
                if !backoff.persist(&cancel, &mut silver, &Step::CatchUp).await {
                    return;
                }
                continue;
            }
        };
        // Whatever else waits joins the group. The batches' room in the
        // queue is held until the group is applied.
        let mut rows = queued.batch.rows.len();
        let mut group = vec![queued.batch];
        let mut held = vec![queued.held];
        while rows < GROUP_ROWS {
            match rx.try_recv() {
                Ok(q) => {
                    rows += q.batch.rows.len();
                    group.push(q.batch);
                    held.push(q.held);
                }
                Err(_) => break,
            }
        }
        let step = Step::Take(Arc::new(group), rx.is_empty());
        if !backoff.persist(&cancel, &mut silver, &step).await {
            return;
        }
        drop(held);
    }
    // The writer stopped: apply what the queue dropped, then checkpoint.
    backoff.persist(&cancel, &mut silver, &Step::CatchUp).await;
}

/// What the silver stage does next.
enum Step {
    /// Apply what bronze holds beyond the checkpoint.
    CatchUp,
    /// Apply batches the writer handed over (and whether the queue is
    /// empty behind them).
    Take(Arc<Vec<BronzeBatch>>, bool),
}

/// Waits that grow from 200 ms to 30 s between attempts of a failing step,
/// and shrink back once one succeeds.
struct Backoff {
    wait: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);

    fn new() -> Self {
        Backoff { wait: Self::FIRST }
    }

    /// Runs `step` until it succeeds (true) or `cancel` fires (false).
    async fn persist(
        &mut self,
        cancel: &CancellationToken,
        silver: &mut Silver,
        step: &Step,
    ) -> bool {
        loop {
            let done = match step {
                Step::CatchUp => silver.catch_up_with_table().await,
                Step::Take(group, idle) => silver.take(group, *idle).await,
            };
            match done {
                Ok(()) => {
                    self.wait = Self::FIRST;
                    return true;
                }
                Err(e) => {
                    tracing::error!(error = %e, code = %e.code(), "silver stage failed; trying again");
                    let wait = self.wait;
                    self.wait = (self.wait * 2).min(Duration::from_secs(30));
                    tokio::select! {
                        () = cancel.cancelled() => return false,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}
