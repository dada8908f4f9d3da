//! The command line shared by `caresync-reverse-sync` and `caresync reverse`.

use std::path::PathBuf;
use std::process::ExitCode;

use caresync_cdc::Lsn;
use caresync_cdc::history::TableName;

use crate::AsOf;
use crate::config::Config;
use crate::driver::run;
use crate::rebuild::rebuild_into;

/// Capture PostgreSQL changes into Delta change-history tables, or rebuild
/// a table as it was from its history (`rebuild`).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// `rebuild`; without one, capture.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to capture.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Rebuild a table as it was at an LSN or a time, from its change
    /// history, into a Delta table of its own.
    Rebuild(RebuildArgs),
}

/// What to rebuild, as of when, and where to.
#[derive(Debug, clap::Args)]
pub struct RebuildArgs {
    /// The configuration file (for `lake` and `[storage_options]`).
    #[arg(long, conflicts_with = "lake")]
    pub config: Option<PathBuf>,
    /// Where the change histories are (folder, `file://` or `s3://` URL).
    #[arg(long)]
    pub lake: Option<String>,
    /// The table (`schema.name` or `name`).
    #[arg(long)]
    pub table: String,
    /// After every transaction committed at or before this LSN (`16/B374D848`).
    #[arg(long, conflicts_with = "time", required_unless_present = "time")]
    pub lsn: Option<Lsn>,
    /// After every transaction committed at or before this time (RFC 3339,
    /// `2026-12-03T14:00:00Z`).
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub time: Option<std::time::SystemTime>,
    /// The Delta table to write the rows to (created, or replaced).
    #[arg(long)]
    pub into: String,
}

/// Capture PostgreSQL changes into Delta change-history tables.
///
/// Either `--config FILE` (TOML: `dsn`, `lake`, `tables`, optional `slot`,
/// `publication`, `flush_interval_ms`, `max_batch_changes`,
/// `retained_wal_warning_bytes`, `[storage_options]`), or the same from
/// flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, conflicts_with_all = ["lake", "tables"])]
    pub config: Option<PathBuf>,
    /// PostgreSQL connection string (overrides the configuration's).
    #[arg(long)]
    pub dsn: Option<String>,
    /// Where the change histories go (folder, `file://` or `s3://` URL).
    #[arg(long, requires = "tables")]
    pub lake: Option<String>,
    /// Tables to capture, comma-separated (`schema.name` or `name`).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// The replication slot (overrides the configuration's).
    #[arg(long)]
    pub slot: Option<String>,
    /// The publication (overrides the configuration's).
    #[arg(long)]
    pub publication: Option<String>,
    /// Longest wait, in milliseconds, before changes are committed to the
    /// lake.
    #[arg(long)]
    pub flush_interval_ms: Option<u64>,
    /// Serve Prometheus metrics on this address (`GET /metrics`), e.g.
    /// `127.0.0.1:9465`.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl RunArgs {
    /// The configuration these arguments describe.
    pub fn config(&self) -> Result<Config, String> {
        let mut config = match (&self.config, &self.lake) {
            (Some(path), _) => Config::load(path).map_err(|e| e.to_string())?,
            (None, Some(lake)) => {
                let tables: Vec<&str> = self.tables.iter().map(String::as_str).collect();
                Config::new("", lake, &tables)
            }
            (None, None) => return Err("give --config FILE, or --lake and --tables".to_owned()),
        };
        if let Some(dsn) = &self.dsn {
            config.dsn = dsn.clone();
        }
        if config.dsn.is_empty() {
            return Err("no PostgreSQL connection: give --dsn".to_owned());
        }
        if let Some(slot) = &self.slot {
            config.slot = slot.clone();
        }
        if let Some(publication) = &self.publication {
            config.publication = publication.clone();
        }
        if let Some(ms) = self.flush_interval_ms {
            config.flush_interval_ms = ms;
        }
        config.check().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Runs what the arguments describe on a new runtime: a rebuild, or the
/// capture until SIGINT or SIGTERM (the transactions received by then are
/// written and confirmed first).
pub fn run_cli(args: Args) -> ExitCode {
    match args.command {
        Some(Command::Rebuild(rebuild)) => run_rebuild(rebuild),
        None => run_capture(args.run),
    }
}

fn run_rebuild(args: RebuildArgs) -> ExitCode {
    let config = match (&args.config, &args.lake) {
        (Some(path), _) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "invalid arguments");
                return ExitCode::from(2);
            }
        },
        (None, Some(lake)) => Config::new("", lake, &[]),
        (None, None) => {
            tracing::error!("give --config FILE or --lake");
            return ExitCode::from(2);
        }
    };
    let (schema, name) = args
        .table
        .split_once('.')
        .unwrap_or(("public", &args.table));
    let table = TableName {
        schema: schema.to_owned(),
        name: name.to_owned(),
    };
    let as_of = match (args.lsn, args.time) {
        (Some(lsn), _) => AsOf::Lsn(lsn),
        (None, Some(time)) => {
            let micros = time
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            AsOf::Time(micros)
        }
        (None, None) => {
            tracing::error!("give --lsn or --time");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(rebuild_into(&config, &table, as_of, &args.into)) {
        Ok(rows) => {
            tracing::info!(table = %table, ?as_of, rows, into = %args.into, "rebuilt");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(code = e.code(), error = %e, "rebuild failed");
            ExitCode::FAILURE
        }
    }
}

fn run_capture(args: RunArgs) -> ExitCode {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid arguments");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        if let Some(addr) = args.metrics_addr
            && let Err(e) = crate::metrics::serve(addr)
        {
            tracing::error!(error = %e, "metrics");
            return ExitCode::FAILURE;
        }
        match run(&config, stop_signal()).await {
            Ok(report) => {
                tracing::info!(
                    snapshot_rows = report.snapshot_rows,
                    changes = report.changes,
                    confirmed = %report.confirmed,
                    "reverse sync stopped"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(code = e.code(), error = %e, "reverse sync failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// A multi-threaded runtime, or `None` (logged) when none can start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new()
        .map_err(|e| tracing::error!(error = %e, "cannot start the async runtime"))
        .ok()
}

/// Completes on SIGINT or SIGTERM; the handlers are installed when this is
/// called. Must be called within the runtime.
fn stop_signal() -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT: stopping after writing what was received"),
            _ = term.recv() => tracing::info!("SIGTERM: stopping after writing what was received"),
        }
    }
}
