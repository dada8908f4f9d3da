//! The command line shared by `caresync-stream` and `caresync stream`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Landing, Listen};
use crate::error::StreamError;
use crate::pipeline::{Pipeline, Settings};
use crate::worker::LakeLayout;

/// Streaming ingest into bronze, silver and dead-letter Delta tables.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Take input from the configured sources until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Re-process dead-lettered records of one error class after a fix.
    Replay(ReplayArgs),
    /// Re-process the bronze rows received in a window.
    Backfill(BackfillArgs),
}

/// Where the lake and the configuration are.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// The configuration file (TOML; see the crate docs).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The lake root (a folder or a URL), overriding the configuration's.
    #[arg(long)]
    pub lake: Option<String>,
}

/// `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Serve HL7 v2 over MLLP on this address.
    #[arg(long)]
    mllp: Option<std::net::SocketAddr>,
    /// Serve FHIR POST, /metrics, /health and /ready on this address.
    #[arg(long)]
    http: Option<std::net::SocketAddr>,
    /// Watch this landing folder.
    #[arg(long)]
    landing: Option<PathBuf>,
}

/// `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    /// Replay from the dead-letter table (the only source of replays).
    #[arg(long, required = true)]
    dlq: bool,
    /// The error class: parse, contract, policy, mapping, merge.
    #[arg(long)]
    error_class: String,
    /// Only records rejected at or after this time (RFC 3339).
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    since: Option<std::time::SystemTime>,
}

/// `backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    common: Common,
    /// The window's start (RFC 3339 or a date, UTC), inclusive.
    #[arg(long, value_parser = parse_time)]
    from: std::time::SystemTime,
    /// The window's end (RFC 3339 or a date, UTC), exclusive.
    #[arg(long, value_parser = parse_time)]
    to: std::time::SystemTime,
}

/// RFC 3339, or a date meaning its midnight UTC.
fn parse_time(text: &str) -> Result<std::time::SystemTime, String> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    humantime::parse_rfc3339_weak(&full).map_err(|e| format!("{text}: {e}"))
}

impl Common {
    fn config(&self) -> Result<Config, StreamError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(lake) = &self.lake {
            config.lake = Some(lake.clone());
        }
        Ok(config)
    }
}

fn layout(config: &Config) -> Result<LakeLayout, StreamError> {
    let lake = config
        .lake
        .clone()
        .ok_or_else(|| StreamError::Config("no lake: give --lake or `lake` in --config".into()))?;
    Ok(LakeLayout::new(lake, config.lake_options.clone()))
}

/// Runs a parsed command line; exit 0 on success, 1 on a failure, 2 on a
/// bad configuration.
pub fn run_cli(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command {
            Command::Run(a) => run(a).await,
            Command::Replay(a) => replay(a).await,
            Command::Backfill(a) => backfill(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(code = %e.code(), "{e}");
            if matches!(e, StreamError::Config(_)) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(args: RunArgs) -> Result<(), StreamError> {
    let mut config = args.common.config()?;
    if let Some(listen) = args.mllp {
        config.mllp = Some(Listen { listen });
    }
    if let Some(listen) = args.http {
        config.http = Some(Listen { listen });
    }
    if let Some(path) = args.landing {
        config.landing = Some(Landing { path, poll: None });
    }
    if config.mllp.is_none() && config.http.is_none() && config.landing.is_none() {
        return Err(StreamError::Config(
            "no source: give --mllp, --http or --landing (or their sections in --config)".into(),
        ));
    }
    let lake = layout(&config)?;
    let settings = Settings {
        lake: lake.clone(),
        batching: config.batching(),
        contracts: config.read_contracts()?,
    };
    let pipeline = Pipeline::start(settings).await?;
    let cancel = CancellationToken::new();
    let mut sources = tokio::task::JoinSet::new();
    if let Some(mllp) = &config.mllp {
        let listener = bind(mllp.listen).await?;
        tracing::info!(addr = %mllp.listen, "MLLP listening");
        sources.spawn(crate::mllp::serve(
            listener,
            pipeline.ingest(),
            Arc::from("mllp"),
            crate::mllp::MllpOptions::default(),
            cancel.clone(),
        ));
    }
    let mut watcher = None;
    if let Some(landing) = &config.landing {
        let mut options = crate::folder::FolderOptions::default();
        if let Some(poll) = landing.poll {
            options.poll = poll;
        }
        tracing::info!(folder = %landing.path.display(), "watching the landing folder");
        watcher = Some(tokio::spawn(crate::folder::watch(
            landing.path.clone(),
            lake.clone(),
            pipeline.ingest(),
            Arc::from("landing"),
            options,
            cancel.clone(),
        )));
    }
    if let Some(http) = &config.http {
        let listener = bind(http.listen).await?;
        let handle = crate::metrics::recorder()
            .and_then(|b| b.install_recorder())
            .map_err(|e| {
                StreamError::Config(format!("cannot install the metrics recorder: {e}"))
            })?;
        let upkeep = handle.clone();
        let stop_upkeep = cancel.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tokio::select! {
                    () = stop_upkeep.cancelled() => break,
                    _ = tick.tick() => upkeep.run_upkeep(),
                }
            }
        });
        tracing::info!(addr = %http.listen, "HTTP listening (FHIR, /metrics, /health, /ready)");
        sources.spawn(crate::http::serve(
            listener,
            Some(pipeline.ingest()),
            pipeline.health(),
            Some(handle),
            Arc::from("fhir-http"),
            crate::http::HttpOptions::default(),
            cancel.clone(),
        ));
    }
    stop_signal().await;
    tracing::info!("stopping: draining sources, bronze and silver");
    cancel.cancel();
    while sources.join_next().await.is_some() {}
    if let Some(watcher) = watcher
        && let Ok(Err(e)) = watcher.await
    {
        tracing::error!(code = %e.code(), "landing folder: {e}");
    }
    let stats = pipeline.shutdown().await;
    tracing::info!(
        batches = stats.batches,
        records = stats.records,
        applied = stats.applied,
        duplicate = stats.duplicate,
        late = stats.late,
        dead_letters = stats.dead_letters,
        "stopped"
    );
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, StreamError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StreamError::Io {
            what: format!("listening on {addr}"),
            source,
        })
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn replay(args: ReplayArgs) -> Result<(), StreamError> {
    let config = args.common.config()?;
    let class = crate::dlq::class_from_name(&args.error_class).ok_or_else(|| {
        StreamError::Config(format!(
            "unknown error class {}: parse, contract, policy, mapping, merge or storage",
            args.error_class
        ))
    })?;
    let since = args.since.map(crate::bronze::micros);
    let report = crate::replay::replay_dead_letters(
        &layout(&config)?,
        &config.read_contracts()?,
        class,
        since,
    )
    .await?;
    report_line("replay", &report);
    Ok(())
}

async fn backfill(args: BackfillArgs) -> Result<(), StreamError> {
    let config = args.common.config()?;
    let (from, to) = (
        crate::bronze::micros(args.from),
        crate::bronze::micros(args.to),
    );
    if from >= to {
        return Err(StreamError::Config("--from must be before --to".into()));
    }
    let report =
        crate::replay::backfill(&layout(&config)?, &config.read_contracts()?, from, to).await?;
    report_line("backfill", &report);
    Ok(())
}

fn report_line(what: &str, r: &crate::replay::ReplayReport) {
    tracing::info!(
        bronze_rows = r.bronze_rows,
        applied = r.silver.applied,
        duplicate = r.silver.duplicate,
        late = r.silver.late,
        resolved = r.resolved,
        dead_letters = r.dead_letters,
        "{what} done"
    );
}
