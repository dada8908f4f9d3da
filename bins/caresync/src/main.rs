//! `caresync`: the front door to caresync's jobs.
//!
//! Today it has `caresync doctor`, which proves that this machine can run
//! caresync: it writes, time-travels and reads the change feed of a real Delta
//! table, and starts (or connects to) a real PostgreSQL server with logical
//! replication; and `caresync inspect`, which parses HL7 v2 files and prints
//! what they hold as JSON lines; and `caresync forward`, which serves Delta
//! tables as PostgreSQL tables (the `caresync-forward-sync` binary's
//! command line); and `caresync reverse`, which captures PostgreSQL changes
//! into Delta change histories and rebuilds past states (the
//! `caresync-reverse-sync` binary's); and `caresync contract check` and
//! `caresync policy check`, the promotion gates CI runs over contracts and
//! policies; and `caresync stream`, streaming ingest into bronze, silver
//! and dead-letter Delta tables (the `caresync-stream` binary's command
//! line); and `caresync demo`, which runs all three jobs end to end on
//! invented data with a private PostgreSQL cluster and prints what they did.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod contract;
mod demo;
mod doctor;
mod inspect;
mod policy;

// jemalloc: the stream allocates per message, and spends fewer CPU cycles
// with it than with glibc's malloc (docs/performance.md, "stream").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "caresync",
    version,
    about = "Keep a healthcare lakehouse and PostgreSQL in sync"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that Delta Lake and PostgreSQL work here, end to end.
    Doctor(doctor::Args),
    /// Parse files (HL7 v2 messages, batches, MLLP captures) and print what they hold as JSON.
    Inspect(inspect::Args),
    /// Serve Delta tables as PostgreSQL tables (snapshot, triggered, continuous).
    Forward(caresync_forward_sync::cli::Args),
    /// Capture PostgreSQL changes into Delta change-history tables, or
    /// rebuild a table as it was (`reverse rebuild`).
    Reverse(caresync_reverse_sync::cli::Args),
    /// Data contracts: `contract check`, the compatibility gate, and
    /// `contract export --odcs`, the Open Data Contract Standard form.
    Contract(contract::Args),
    /// Masking and row-filter policies: `policy check`, the PHI gate.
    Policy(policy::Args),
    /// Streaming ingest (MLLP, FHIR over HTTP, landing folders) into
    /// bronze, silver and dead-letter Delta tables; `stream replay` and
    /// `stream backfill` re-process after a fix.
    Stream(caresync_stream::cli::Args),
    /// Run every job end to end on invented data: a feed streamed into the
    /// lake, served into a private PostgreSQL, updated there and captured
    /// back, with a report.
    Demo(demo::Args),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(
                "warn,buoyant_kernel::snapshot::builder=off,deltalake_core::writer::stats=error",
            )
        }))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Doctor(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(doctor::run(args)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the async runtime");
                ExitCode::FAILURE
            }
        },
        Command::Inspect(args) => inspect::run(args),
        Command::Forward(args) => caresync_forward_sync::cli::run_cli(args),
        Command::Reverse(args) => caresync_reverse_sync::cli::run_cli(args),
        Command::Contract(args) => contract::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Stream(args) => caresync_stream::cli::run_cli(args),
        Command::Demo(args) => demo::run(args),
    }
}
