//! `caresync contract check`: the promotion gate CI runs over a registry
//! folder of contract files; and `caresync contract export`, which writes
//! contracts in an open standard's form (ODCS YAML).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use caresync_contract::{Contract, Mode, check_all, to_odcs_yaml};

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
    /// Write contracts as Open Data Contract Standard (ODCS) YAML.
    ///
    /// ODCS v3.1.0 YAML on standard output, one document per contract,
    /// separated by `---`: the newest version of each entity of a registry
    /// (in entity order), or the files given (in the order given). Exit 2
    /// on a bad file, or an entity or version the registry does not hold.
    #[command(after_long_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
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

const EXPORT_EXAMPLES: &str = "Examples:
  caresync contract export --odcs --registry contracts
  caresync contract export --odcs --registry contracts --entity encounter --version 1.0.0
  caresync contract export --odcs contracts/encounter/1.0.0.toml";

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("format").required(true).args(["odcs"])))]
#[command(group(clap::ArgGroup::new("source").required(true).args(["registry", "files"])))]
struct ExportArgs {
    /// Write Open Data Contract Standard (ODCS) v3.1.0 YAML (the one format
    /// for now; required so that others can be added).
    #[arg(long)]
    odcs: bool,
    /// A registry: a folder of contract files (`*.toml`, any depth).
    #[arg(long, value_name = "DIR", conflicts_with = "files")]
    registry: Option<PathBuf>,
    /// Only this entity of the registry.
    #[arg(long, value_name = "NAME", requires = "registry")]
    entity: Option<String>,
    /// This version of the entity (`1.0.0`) rather than its newest.
    #[arg(long, value_name = "V", requires = "entity")]
    version: Option<String>,
    /// Contract files to export, rather than a registry.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
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
        Command::Export(export) => run_export(&export),
    }
}

fn run_export(args: &ExportArgs) -> ExitCode {
    let contracts = match &args.registry {
        Some(registry) => {
            let Some(all) = load_registry(registry) else {
                return ExitCode::from(2);
            };
            match pick(all, args.entity.as_deref(), args.version.as_deref()) {
                Some(picked) => picked,
                None => return ExitCode::from(2),
            }
        }
        None => {
            let mut contracts = Vec::with_capacity(args.files.len());
            for file in &args.files {
                match read_contract(file) {
                    Ok(c) => contracts.push(c),
                    Err(e) => {
                        tracing::error!("{e}");
                        return ExitCode::from(2);
                    }
                }
            }
            contracts
        }
    };
    // `args.odcs` is the one format, and clap requires it.
    let documents: Vec<String> = contracts.iter().map(to_odcs_yaml).collect();
    let mut out = std::io::stdout().lock();
    match out
        .write_all(documents.join("---\n").as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cannot write the export");
            ExitCode::FAILURE
        }
    }
}

/// The contracts to export from a registry: `entity` at `version`, or the
/// newest version of `entity`, or of every entity, in entity order; `None`
/// (after logging) when the registry holds no such entity or version.
fn pick(
    mut contracts: Vec<Contract>,
    entity: Option<&str>,
    version: Option<&str>,
) -> Option<Vec<Contract>> {
    if let Some(entity) = entity {
        contracts.retain(|c| c.entity == entity);
        if contracts.is_empty() {
            tracing::error!(entity, "no contract of this entity in the registry");
            return None;
        }
        if let Some(version) = version {
            contracts.retain(|c| c.version.to_string() == version);
            if contracts.is_empty() {
                tracing::error!(
                    entity,
                    version,
                    "no such version of this entity in the registry"
                );
                return None;
            }
            return Some(contracts);
        }
    }
    // Newest first within each entity; keep the first of each.
    contracts.sort_by(|a, b| {
        a.entity
            .cmp(&b.entity)
            .then_with(|| b.version.cmp(&a.version))
    });
    contracts.dedup_by(|later, first| later.entity == first.entity);
    Some(contracts)
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
        match read_contract(file) {
            Ok(c) => {
                if contracts
                    .iter()
                    .any(|d| d.entity == c.entity && d.version == c.version)
                {
                    tracing::error!(file = %file.display(), entity = %c.entity, version = %c.version, "a second file for this version");
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

/// The contract in `file`, or what is wrong with it (naming the file and,
/// for a bad contract, the line).
fn read_contract(file: &Path) -> Result<Contract, String> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: {e}"))?;
    Contract::from_toml(&text, &name).map_err(|e| e.to_string())
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
