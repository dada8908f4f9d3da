//! The running pipeline: the bronze writer and the silver stage, and the
//! handle sources submit through.
//!
//! The silver stage runs on its own runtime, whose threads (on Linux) have
//! a lower CPU priority (nice 10) than the caller's: sources and
//! the bronze writer acknowledge messages, and an acknowledgement must not
//! wait behind a merge. When the machine is busy, silver lags and catches
//! up when it is not; nothing is lost, since silver reads what it misses
//! back from bronze.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bronze::{self, Batching};
use crate::error::StreamError;
use crate::handoff::Handoff;
use crate::ingest::IngestHandle;
use crate::silver::Contracts;
use crate::worker::{self, LakeLayout, Silver, SilverStats};

/// How long [`Pipeline::shutdown`] lets the silver stage drain.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The nice value of the silver stage's threads (Linux): a weight of about
/// a tenth of a default thread's when both want the CPU.
const SILVER_NICE: i32 = 10;

/// The silver stage's runtime; dropped without blocking, so a pipeline can
/// be dropped inside another runtime.
#[derive(Debug)]
struct SilverRuntime(Option<tokio::runtime::Runtime>);

impl SilverRuntime {
    fn start() -> Result<SilverRuntime, StreamError> {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("caresync-silver")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .map_err(|source| StreamError::Io {
                what: "starting the silver stage's threads".to_owned(),
                source,
            })?;
        Ok(SilverRuntime(Some(runtime)))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the silver runtime lives until the pipeline is dropped")
            .handle()
    }
}

impl Drop for SilverRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's CPU priority to [`SILVER_NICE`]; on Linux a
/// nice value is per thread. Best effort: a failure leaves the default.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), SILVER_NICE) {
            tracing::debug!(error = %e, "the silver thread keeps the default priority");
        }
    }
}

/// What the pipeline needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the tables are.
    pub lake: LakeLayout,
    /// How bronze commits are grouped.
    pub batching: Batching,
    /// Contracts by silver table name.
    pub contracts: Contracts,
}

/// Whether the pipeline takes input (`/ready`) and is alive (`/health`).
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    stopping: AtomicBool,
}

impl Health {
    /// The pipeline takes input.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.stopping.load(Ordering::Relaxed)
    }

    /// The pipeline is draining.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// A started pipeline.
#[derive(Debug)]
pub struct Pipeline {
    ingest: Option<IngestHandle>,
    health: Arc<Health>,
    progress: watch::Receiver<i64>,
    stats: watch::Receiver<SilverStats>,
    writer: JoinHandle<()>,
    silver: JoinHandle<()>,
    cancel: CancellationToken,
    // Last: dropped after the handles above.
    _runtime: SilverRuntime,
}

impl Pipeline {
    /// Opens (creating them when missing) the bronze and dead-letter
    /// tables, starts the bronze writer and the silver stage, which first
    /// applies bronze batches left from an earlier run.
    ///
    /// # Errors
    ///
    /// The tables cannot be opened or created, or bronze is not a bronze
    /// table.
    pub async fn start(settings: Settings) -> Result<Pipeline, StreamError> {
        let bronze_table = settings.lake.open_bronze().await?;
        let (progress_tx, progress) = watch::channel(0);
        let (stats_tx, stats) = watch::channel(SilverStats::default());
        let silver = Silver::open(
            settings.lake.clone(),
            settings.contracts.clone(),
            progress_tx,
            stats_tx,
        )
        .await?;
        let (tx, rx) = mpsc::channel(settings.batching.max_rows.max(1) * 4);
        // Batches waiting for silver, bounded in memory: when silver lags
        // further, it reads the batches back from the bronze table.
        let (committed_tx, committed_rx) = Handoff::bounded(settings.batching.queued_bytes);
        let cancel = CancellationToken::new();
        let writer = tokio::spawn(bronze::run_writer(
            bronze_table,
            rx,
            committed_tx,
            settings.batching,
        ));
        let runtime = SilverRuntime::start()?;
        let silver = runtime
            .handle()
            .spawn(worker::run(silver, committed_rx, cancel.clone()));
        let health = Arc::new(Health::default());
        health.ready.store(true, Ordering::Relaxed);
        Ok(Pipeline {
            ingest: Some(IngestHandle::new(tx)),
            health,
            progress,
            stats,
            writer,
            silver,
            cancel,
            _runtime: runtime,
        })
    }

    /// A handle to submit messages through.
    ///
    /// # Panics
    ///
    /// Never: the handle is only taken by [`Pipeline::shutdown`], which
    /// consumes the pipeline.
    pub fn ingest(&self) -> IngestHandle {
        self.ingest
            .clone()
            .expect("the ingest handle lives until shutdown")
    }

    /// Readiness and liveness.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// The last bronze batch the silver stage finished.
    pub fn silver_batch(&self) -> i64 {
        *self.progress.borrow()
    }

    /// What the silver stage did since start.
    pub fn stats(&self) -> SilverStats {
        *self.stats.borrow()
    }

    /// Waits until the silver stage finished bronze batch `batch`.
    pub async fn wait_silver(&self, batch: i64) {
        let mut progress = self.progress.clone();
        // An error means the stage ended: nothing more will come.
        let _ = progress.wait_for(|done| *done >= batch).await;
    }

    /// Stops taking input, lets the bronze writer commit what it holds and
    /// the silver stage apply every bronze batch, then returns what silver
    /// did. Sources must be stopped first (their handles dropped). A silver
    /// stage still failing after [`DRAIN_TIMEOUT`] is stopped: the batches
    /// it did not apply are applied by the next start.
    pub async fn shutdown(mut self) -> SilverStats {
        self.health.stopping.store(true, Ordering::Relaxed);
        self.ingest = None;
        let _ = (&mut self.writer).await;
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut self.silver)
            .await
            .is_err()
        {
            tracing::warn!("silver stage did not finish draining; the next start applies the rest");
            self.cancel.cancel();
            let _ = (&mut self.silver).await;
        }
        *self.stats.borrow()
    }

    /// Stops at once, without draining: what is not in silver yet is
    /// applied by the next start.
    pub async fn abort(self) {
        self.cancel.cancel();
        self.writer.abort();
        let _ = self.silver.await;
    }
}
