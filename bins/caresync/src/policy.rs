//! `caresync policy check`: the promotion gate CI runs over policy files
//! and the contract registry.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use caresync_contract::Contract;
use caresync_policy::{Policy, check};

/// Masking and row-filter policies.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Check policy files against the newest contract of each entity: every
    /// PHI field has a rule for every purpose (and role) a policy serves,
    /// every column named exists, every method suits its field. Exit 1 on a
    /// finding, 2 on a bad file.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// A policy file (TOML); repeat for several.
    #[arg(long = "policy", required = true)]
    policies: Vec<PathBuf>,
    /// The contract registry: a folder of contract files (`*.toml`, any depth).
    #[arg(long)]
    registry: PathBuf,
}

pub(crate) fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Check(check) => run_check(&check),
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let Some(contracts) = crate::contract::load_registry(&args.registry) else {
        return ExitCode::from(2);
    };
    let newest = newest_versions(contracts);
    let mut policies = Vec::with_capacity(args.policies.len());
    for file in &args.policies {
        let name = file.display().to_string();
        let parsed = std::fs::read_to_string(file)
            .map_err(|e| format!("{name}: {e}"))
            .and_then(|text| Policy::from_toml(&text, &name).map_err(|e| e.to_string()));
        match parsed {
            Ok(p) => policies.push(p),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for policy in &policies {
        let findings = check(policy, &newest);
        failed |= !findings.is_empty();
        let written = if findings.is_empty() {
            writeln!(
                out,
                "policy {} {}: {} tables, {} purposes: every PHI field has a rule",
                policy.name,
                policy.version,
                policy.tables.len(),
                policy.purposes.len()
            )
        } else {
            findings
                .iter()
                .try_for_each(|f| writeln!(out, "policy {} {}: {f}", policy.name, policy.version))
        };
        if written.is_err() {
            return ExitCode::FAILURE;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The newest version of each entity.
fn newest_versions(contracts: Vec<Contract>) -> Vec<Contract> {
    let mut newest: Vec<Contract> = Vec::new();
    for c in contracts {
        match newest.iter_mut().find(|n| n.entity == c.entity) {
            Some(n) if n.version < c.version => *n = c,
            Some(_) => {}
            None => newest.push(c),
        }
    }
    newest
}
