//! The configuration file: where to connect, which Delta tables to serve
//! under which names and keys, and how.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::mask::{MaskConfig, PolicyMask};
use crate::policy::Policy;

/// How a table is kept in step with its source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A full copy swapped in atomically, every time.
    Snapshot,
    /// The changes since the last synced version, once (a full copy the
    /// first time, or when changes cannot be read).
    #[default]
    Triggered,
    /// Triggered syncs repeated as new versions land, until stopped.
    Continuous,
}

/// The whole configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The PostgreSQL connection string (key=value or URL form). Never
    /// logged: it may hold a password.
    pub dsn: String,
    /// How long continuous mode waits between looks at the sources.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// Connections a snapshot copies rows over at once (the server ingests
    /// on as many cores); 1 turns parallel copies off.
    #[serde(default = "default_copy_connections")]
    pub copy_connections: usize,
    /// The tables served.
    #[serde(rename = "table", default)]
    pub tables: Vec<TableConfig>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("dsn", &"<not shown>")
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("copy_connections", &self.copy_connections)
            .field("tables", &self.tables)
            .finish()
    }
}

fn default_poll_ms() -> u64 {
    1_000
}

fn default_copy_connections() -> usize {
    2
}

fn default_schema() -> String {
    "public".to_owned()
}

/// One served table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// The Delta table: a local path, `file://` or `s3://` URL.
    pub source: String,
    /// The PostgreSQL table name.
    pub name: String,
    /// The PostgreSQL schema.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The primary key columns; when empty, the source's
    /// `caresync.primaryKey` table property (comma-separated columns).
    #[serde(default)]
    pub key: Vec<String>,
    /// How it is synced.
    #[serde(default)]
    pub mode: Mode,
    /// Secondary indexes of the served table, each a list of columns
    /// (`indexes = [["mrn"], ["ward", "admitted_at"]]`): built by every
    /// snapshot before the swap, and added to a served table that lacks
    /// them at the next change sync.
    #[serde(default)]
    pub indexes: Vec<Vec<String>>,
    /// The columns served, when not all of them (an allow-list: a column
    /// not named here never reaches PostgreSQL).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// A change sync with more change rows than this fraction of the served
    /// table's rows (and than `snapshot_min_changes`) copies the whole
    /// table instead.
    #[serde(default = "default_snapshot_fraction")]
    pub snapshot_fraction: f64,
    /// Change syncs of fewer change rows than this never switch to a copy.
    #[serde(default = "default_snapshot_min_changes")]
    pub snapshot_min_changes: u64,
    /// For snapshot and triggered tables: sync again this long after each
    /// sync starts, until stopped (`"30s"`, `"15m"`, `"1h"`, `"1d"`).
    /// Without it such a table is synced once per run.
    #[serde(default, deserialize_with = "schedule")]
    pub schedule: Option<Duration>,
    /// Masking by a policy file (`[table.mask]`): read with its keys when
    /// the configuration is, and set as [`TableConfig::policy`].
    #[serde(default)]
    pub mask: Option<MaskConfig>,
    /// Transforms rows before they are written (masking by policy): from
    /// `mask`, or set in code.
    #[serde(skip)]
    pub policy: Policy,
}

/// A schedule as text: a number and a unit (`s`, `m`, `h`, `d`), or
/// several (`"1h 30m"`).
fn schedule<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("schedule {text:?}: {e}")))
}

fn default_snapshot_fraction() -> f64 {
    0.5
}

fn default_snapshot_min_changes() -> u64 {
    10_000
}

impl TableConfig {
    /// A table served from `source` under `name` with primary key `key`,
    /// triggered, all columns, in schema `public`.
    pub fn new(source: &str, name: &str, key: &[&str]) -> Self {
        TableConfig {
            source: source.to_owned(),
            name: name.to_owned(),
            schema: default_schema(),
            key: key.iter().map(|k| (*k).to_owned()).collect(),
            mode: Mode::default(),
            indexes: Vec::new(),
            columns: None,
            snapshot_fraction: default_snapshot_fraction(),
            snapshot_min_changes: default_snapshot_min_changes(),
            schedule: None,
            mask: None,
            policy: Policy::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("[FWD-0101] cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not a valid configuration.
    #[error("[FWD-0102] invalid configuration: {0}")]
    Parse(String),
    /// The configuration parses but says something impossible.
    #[error("[FWD-0103] invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// A configuration connecting with `dsn`, with the default poll
    /// interval and copy connections, and no tables yet.
    pub fn new(dsn: &str) -> Self {
        Config {
            dsn: dsn.to_owned(),
            poll_interval_ms: default_poll_ms(),
            copy_connections: default_copy_connections(),
            tables: Vec::new(),
        }
    }

    /// Parses a TOML configuration.
    ///
    /// ```
    /// let config = caresync_forward_sync::Config::from_toml(r#"
    ///     dsn = "host=/tmp user=postgres dbname=app"
    ///     [[table]]
    ///     source = "/lake/silver/patient"
    ///     name = "patient"
    ///     key = ["patient_id"]
    ///     columns = ["patient_id", "birth_year", "state"]
    /// "#)?;
    /// assert_eq!(config.tables[0].mode, caresync_forward_sync::Mode::Triggered);
    /// # Ok::<(), caresync_forward_sync::ConfigError>(())
    /// ```
    ///
    /// A table's `[table.mask]` policy file is read, with its keys, now: a
    /// relative path from the current directory. A policy or key that
    /// cannot be read is an error, never an unmasked table.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_toml_in(text, Path::new("."))
    }

    fn from_toml_in(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_owned()))?;
        for table in &mut config.tables {
            if let Some(mask) = &table.mask {
                let policy = PolicyMask::load(mask, &table.name, &table.key, base)
                    .map_err(ConfigError::Invalid)?;
                table.policy = Policy::new(policy);
            }
        }
        config.check()?;
        Ok(config)
    }

    /// Reads and parses a TOML file; `[table.mask]` policy paths are
    /// taken from the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_in(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Checks what parsing cannot: at least one table, names unique, keys
    /// and indexes inside the allow-list, schedules and counts that make
    /// sense. (A table without a key takes its source's; that is checked
    /// when it syncs.)
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.tables.is_empty() {
            return Err(ConfigError::Invalid(
                "no [[table]] is configured".to_owned(),
            ));
        }
        for (i, t) in self.tables.iter().enumerate() {
            if t.mask.is_some() && !t.policy.is_set() {
                return Err(ConfigError::Invalid(format!(
                    "table {}: [table.mask] names a policy that was not loaded \
                     (read configurations with Config::load or Config::from_toml)",
                    t.name
                )));
            }
            if let Some(cols) = &t.columns
                && let Some(k) = t.key.iter().find(|k| !cols.contains(k))
            {
                return Err(ConfigError::Invalid(format!(
                    "table {}: key column {k} is not in its columns list",
                    t.name
                )));
            }
            if let Some(cols) = &t.columns
                && let Some(c) = t.indexes.iter().flatten().find(|c| !cols.contains(c))
            {
                return Err(ConfigError::Invalid(format!(
                    "table {}: index column {c} is not in its columns list",
                    t.name
                )));
            }
            if t.indexes.iter().any(Vec::is_empty) {
                return Err(ConfigError::Invalid(format!(
                    "table {}: an index names no column",
                    t.name
                )));
            }
            if self.tables[..i]
                .iter()
                .any(|o| o.name == t.name && o.schema == t.schema)
            {
                return Err(ConfigError::Invalid(format!(
                    "table {}.{} is configured twice",
                    t.schema, t.name
                )));
            }
        }
        if let Some(t) = self
            .tables
            .iter()
            .find(|t| !(0.0..=1e9).contains(&t.snapshot_fraction))
        {
            return Err(ConfigError::Invalid(format!(
                "table {}: snapshot_fraction must be 0 or more",
                t.name
            )));
        }
        if let Some(t) = self.tables.iter().find(|t| match t.schedule {
            Some(every) => t.mode == Mode::Continuous || every.is_zero(),
            None => false,
        }) {
            return Err(ConfigError::Invalid(format!(
                "table {}: a schedule must be longer than zero, and continuous tables follow poll_interval_ms instead",
                t.name
            )));
        }
        if self.copy_connections == 0 {
            return Err(ConfigError::Invalid(
                "copy_connections must be at least 1".to_owned(),
            ));
        }
        if self.poll_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "poll_interval_ms must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}
