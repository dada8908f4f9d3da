//! `caresync-stream`: streaming ingest into bronze, silver and dead-letter
//! Delta tables (see [`caresync_stream`]).

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

// jemalloc: the stream allocates per message, and spends fewer CPU cycles
// with it than with glibc's malloc (docs/performance.md, "stream").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "caresync-stream",
    version,
    about = "Streaming ingest into bronze, silver and dead-letter Delta tables"
)]
struct Cli {
    #[command(flatten)]
    args: caresync_stream::cli::Args,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(
                "info,buoyant_kernel=warn,deltalake=warn,deltalake_core::writer::stats=error",
            )
        }))
        .with_writer(std::io::stderr)
        .init();
    caresync_stream::cli::run_cli(Cli::parse().args)
}
