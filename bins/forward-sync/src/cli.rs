//! The command line shared by `caresync-forward-sync` and `caresync forward`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, Mode, TableConfig};
use crate::driver::run_with;

/// Serve Delta tables as PostgreSQL tables.
///
/// Either `--config FILE` (TOML: `dsn`, `poll_interval_ms`,
/// `copy_connections`, and one `[[table]]` per table with `source`, `name`,
/// `key`, optional `schema`, `mode`, `columns` and `schedule`), or one
/// table from flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file.
    #[arg(long, conflicts_with_all = ["source", "table"])]
    pub config: Option<PathBuf>,
    /// PostgreSQL connection string (overrides the configuration's).
    #[arg(long)]
    pub dsn: Option<String>,
    /// The Delta table to serve (path, `file://` or `s3://` URL).
    #[arg(long, requires = "table")]
    pub source: Option<String>,
    /// The PostgreSQL table name.
    #[arg(long)]
    pub table: Option<String>,
    /// Primary key columns, comma-separated (default: the source's
    /// `caresync.primaryKey` table property).
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Columns served (an allow-list), comma-separated; all when absent.
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// The mode, for every table (overrides the configuration).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Milliseconds between looks at the sources in continuous mode.
    #[arg(long)]
    pub poll_interval_ms: Option<u64>,
    /// Sync the table again this long after each sync starts (`15m`,
    /// `1h`), in snapshot or triggered mode, until stopped.
    #[arg(long, value_parser = humantime::parse_duration, requires = "source")]
    pub schedule: Option<std::time::Duration>,
    /// Connections a snapshot copies rows over at once (overrides the
    /// configuration's; default 2).
    #[arg(long)]
    pub copy_connections: Option<usize>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Serve Prometheus metrics on this address (`GET /metrics`), e.g.
    /// `127.0.0.1:9464`.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Args {
    /// The configuration these arguments describe.
    pub fn config(&self) -> Result<Config, String> {
        let mut config = match (&self.config, &self.source) {
            (Some(path), _) => Config::load(path).map_err(|e| e.to_string())?,
            (None, Some(source)) => Config {
                tables: vec![TableConfig {
                    key: self.key.clone(),
                    mode: self.mode.unwrap_or_default(),
                    columns: self.columns.clone(),
                    schedule: self.schedule,
                    ..TableConfig::new(source, self.table.as_deref().unwrap_or_default(), &[])
                }],
                ..Config::new("")
            },
            (None, None) => {
                return Err("give --config FILE, or --source, --table and --key".to_owned());
            }
        };
        if let Some(dsn) = &self.dsn {
            config.dsn = dsn.clone();
        }
        if config.dsn.is_empty() {
            return Err("no PostgreSQL connection: give --dsn".to_owned());
        }
        if let Some(ms) = self.poll_interval_ms {
            config.poll_interval_ms = ms;
        }
        if let Some(n) = self.copy_connections {
            config.copy_connections = n;
        }
        config.check().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// Runs the syncs the arguments describe on a new runtime; stops on SIGINT
/// or SIGTERM (continuous or scheduled tables) once the sync in flight is
/// done. Prints one line per table synced to standard error through the
/// log, and a progress bar for snapshot loads when standard error is a
/// terminal.
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
        let progress = !args.no_progress && std::io::stderr().is_terminal();
        match run_with(&config, args.mode, stop_signal(), progress).await {
            Ok(reports) => {
                for r in reports {
                    tracing::info!(table = %r.table, version = r.version, action = ?r.action, "done");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "forward sync failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is
/// called (not when first awaited), so a signal during the first sync is
/// caught too. Must be called within the runtime.
fn stop_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            // Without signal handlers the process stops the default way.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT: stopping after the sync in flight"),
            _ = term.recv() => tracing::info!("SIGTERM: stopping after the sync in flight"),
        }
    }
}
