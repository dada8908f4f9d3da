//! `caresync contract check`: the promotion gate CI runs over a registry
//! folder of contract files.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use caresync_contract::{Contract, Mode, check_all};

/// Data contracts.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check every contract version in a registry folder against the
    /// versions before it; exit 1 on a breaking change, 2 on a bad file.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The registry: a folder of contract files (`*.toml`, any depth).
    #[arg(long)]
    registry: PathBuf,
    /// The compatibility mode: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD,
    /// FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE.
    #[arg(long, default_value = "BACKWARD", value_parser = parse_mode)]
    mode: Mode,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse().map_err(|()| {
        "one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
            .to_owned()
    })
}

pub(crate) fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Check(check) => run_check(&check),
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let Some(contracts) = load_registry(&args.registry) else {
        return ExitCode::from(2);
    };
    let breaks = check_all(&contracts, args.mode);
    let mut out = std::io::stdout().lock();
    let mut entities: Vec<&str> = contracts.iter().map(|c| c.entity.as_str()).collect();
    entities.sort_unstable();
    entities.dedup();
    let written = if breaks.is_empty() {
        writeln!(
            out,
            "{} contracts of {} entities: compatible ({:?})",
            contracts.len(),
            entities.len(),
            args.mode
        )
    } else {
        breaks.iter().try_for_each(|(entity, version, changes)| {
            changes
                .iter()
                .try_for_each(|c| writeln!(out, "{entity} {version}: {c}"))
        })
    };
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    if breaks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Every contract in the registry folder, sorted by file name; `None`
/// (after logging each problem) if a file cannot be read or parsed, or two
/// files hold the same entity and version.
pub(crate) fn load_registry(registry: &Path) -> Option<Vec<Contract>> {
    let mut files = Vec::new();
    if let Err(e) = toml_files(registry, &mut files) {
        tracing::error!(registry = %registry.display(), error = %e, "cannot read the registry");
        return None;
    }
    files.sort();
    let mut contracts: Vec<Contract> = Vec::with_capacity(files.len());
    let mut bad = false;
    for file in &files {
        let name = file.display().to_string();
        let parsed = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| Contract::from_toml(&text, &name).map_err(|e| e.to_string()));
        match parsed {
            Ok(c) => {
                if contracts
                    .iter()
                    .any(|d| d.entity == c.entity && d.version == c.version)
                {
                    tracing::error!(file = %name, entity = %c.entity, version = %c.version, "a second file for this version");
                    bad = true;
                } else {
                    contracts.push(c);
                }
            }
            Err(e) => {
                tracing::error!("{e}");
                bad = true;
            }
        }
    }
    (!bad).then_some(contracts)
}

fn toml_files(dir: &Path, into: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            toml_files(&path, into)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            into.push(path);
        }
    }
    Ok(())
}
