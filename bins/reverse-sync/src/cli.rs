//! The command line shared by `caresync-reverse-sync` and `caresync reverse`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::driver::run;

/// Capture PostgreSQL changes into Delta change-history tables.
///
/// Either `--config FILE` (TOML: `dsn`, `lake`, `tables`, optional `slot`,
/// `publication`, `flush_interval_ms`, `max_batch_changes`,
/// `retained_wal_warning_bytes`, `[storage_options]`), or the same from
/// flags.
#[derive(Debug, clap::Args)]
pub struct Args {
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

impl Args {
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

/// Runs the capture the arguments describe on a new runtime until SIGINT or
/// SIGTERM; the transactions received by then are written and confirmed
/// first.
pub fn run_cli(args: Args) -> ExitCode {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid arguments");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
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
