//! `caresync-reverse-sync`: capture PostgreSQL changes into Delta
//! change-history tables.

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
    name = "caresync-reverse-sync",
    version,
    about = "Capture PostgreSQL changes into Delta change-history tables"
)]
struct Cli {
    #[command(flatten)]
    args: caresync_reverse_sync::cli::Args,
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
    caresync_reverse_sync::cli::run_cli(Cli::parse().args)
}
