//! The configuration file: where to connect, which tables to capture, and
//! where their change histories go.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use caresync_cdc::history::TableName;
use serde::Deserialize;

/// The whole configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The PostgreSQL connection string (key=value or URL form). Never
    /// logged: it may hold a password.
    pub dsn: String,
    /// Where the change-history tables go: a folder, `file://` or `s3://`
    /// URL; table `schema.name` is written to `{lake}/{schema}.{name}`.
    pub lake: String,
    /// Storage options for the lake (`AWS_REGION`, ...).
    #[serde(default)]
    pub storage_options: HashMap<String, String>,
    /// The replication slot (created on the first run).
    #[serde(default = "default_slot")]
    pub slot: String,
    /// The publication (created on the first run with exactly `tables`).
    #[serde(default = "default_publication")]
    pub publication: String,
    /// The tables captured: `schema.name`, or `name` for `public.name`.
    pub tables: Vec<String>,
    /// How long changes may wait in memory before they are committed to
    /// the lake and confirmed to the slot.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Changes buffered before a commit is made sooner than the interval.
    #[serde(default = "default_max_batch_changes")]
    pub max_batch_changes: u64,
    /// Warn when the slot keeps more WAL than this (bytes).
    #[serde(default = "default_retained_wal_warning")]
    pub retained_wal_warning_bytes: i64,
    /// Also keep each table's current rows at `{lake}/{schema}.{name}__current`,
    /// through the merge engine.
    #[serde(default)]
    pub mirror: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut option_keys: Vec<&str> = self.storage_options.keys().map(String::as_str).collect();
        option_keys.sort_unstable();
        f.debug_struct("Config")
            .field("dsn", &"<not shown>")
            .field("lake", &self.lake)
            .field("storage_option_keys", &option_keys)
            .field("slot", &self.slot)
            .field("publication", &self.publication)
            .field("tables", &self.tables)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("max_batch_changes", &self.max_batch_changes)
            .field(
                "retained_wal_warning_bytes",
                &self.retained_wal_warning_bytes,
            )
            .finish()
    }
}

fn default_slot() -> String {
    "caresync_reverse".to_owned()
}

fn default_publication() -> String {
    "caresync_reverse".to_owned()
}

/// Two lake commits a second per table under load: p95 lag near 1 s at
/// 60,000 changes/s here (`docs/performance.md`); longer intervals make
/// fewer, larger files.
fn default_flush_interval_ms() -> u64 {
    500
}

fn default_max_batch_changes() -> u64 {
    200_000
}

fn default_retained_wal_warning() -> i64 {
    1 << 30
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("[REV-0101] cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not a valid configuration.
    #[error("[REV-0102] invalid configuration: {0}")]
    Parse(String),
    /// The configuration parses but says something impossible.
    #[error("[REV-0103] invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// A configuration capturing `tables` from `dsn` into `lake`, with the
    /// default slot, publication and intervals.
    pub fn new(dsn: &str, lake: &str, tables: &[&str]) -> Self {
        Config {
            dsn: dsn.to_owned(),
            lake: lake.to_owned(),
            storage_options: HashMap::new(),
            slot: default_slot(),
            publication: default_publication(),
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            flush_interval_ms: default_flush_interval_ms(),
            max_batch_changes: default_max_batch_changes(),
            retained_wal_warning_bytes: default_retained_wal_warning(),
            mirror: false,
        }
    }

    /// Parses a TOML configuration and checks it.
    ///
    /// ```
    /// let config = caresync_reverse_sync::Config::from_toml(r#"
    ///     dsn = "host=/tmp dbname=care"
    ///     lake = "/data/history"
    ///     tables = ["public.encounter", "note"]
    /// "#)?;
    /// assert_eq!(config.slot, "caresync_reverse");
    /// assert_eq!(config.table_names()?[1].to_string(), "public.note");
    /// # Ok::<(), caresync_reverse_sync::ConfigError>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_owned()))?;
        config.check()?;
        Ok(config)
    }

    /// Reads and checks a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text)
    }

    /// Checks what parsing cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.dsn.is_empty() {
            return invalid("dsn is empty".to_owned());
        }
        if self.lake.is_empty() {
            return invalid("lake is empty".to_owned());
        }
        if self.tables.is_empty() {
            return invalid("no table to capture".to_owned());
        }
        if self.flush_interval_ms == 0 {
            return invalid("flush_interval_ms must be at least 1".to_owned());
        }
        if self.max_batch_changes == 0 {
            return invalid("max_batch_changes must be at least 1".to_owned());
        }
        let slot_ok = !self.slot.is_empty()
            && self.slot.len() <= 63
            && self
                .slot
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !slot_ok {
            return invalid(format!(
                "slot {:?}: use 1 to 63 lower-case letters, digits and underscores",
                self.slot
            ));
        }
        if self.publication.is_empty() || self.publication.contains(['\0', ',']) {
            return invalid(format!("publication {:?} is not usable", self.publication));
        }
        let names = self.table_names()?;
        let mut seen = std::collections::HashSet::new();
        for name in &names {
            if !seen.insert(name) {
                return invalid(format!("table {name} is listed twice"));
            }
        }
        Ok(())
    }

    /// The configured tables, `public` filled in.
    pub fn table_names(&self) -> Result<Vec<TableName>, ConfigError> {
        self.tables
            .iter()
            .map(|t| {
                let (schema, name) = t.split_once('.').unwrap_or(("public", t));
                if schema.is_empty() || name.is_empty() || name.contains('.') {
                    return Err(ConfigError::Invalid(format!(
                        "table {t:?}: write schema.name or name"
                    )));
                }
                Ok(TableName {
                    schema: schema.to_owned(),
                    name: name.to_owned(),
                })
            })
            .collect()
    }

    /// The URL of a table's change history.
    pub fn history_url(&self, table: &TableName) -> String {
        format!(
            "{}/{}.{}",
            self.lake.trim_end_matches('/'),
            table.schema,
            table.name
        )
    }

    /// The URL of a table's current-state mirror.
    pub fn mirror_url(&self, table: &TableName) -> String {
        format!("{}__current", self.history_url(table))
    }

    /// The Delta application id under which the histories record the
    /// positions they hold.
    pub fn app_id(&self) -> String {
        format!("caresync-reverse-sync:{}", self.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configurations_are_refused_with_a_reason() {
        let base = "dsn = \"host=/tmp\"\nlake = \"/l\"\n";
        for (extra, needle) in [
            ("tables = []", "no table"),
            ("tables = [\"a\", \"public.a\"]", "listed twice"),
            ("tables = [\"a.b.c\"]", "schema.name"),
            ("tables = [\"a\"]\nslot = \"Bad-Slot\"", "slot"),
            (
                "tables = [\"a\"]\nflush_interval_ms = 0",
                "flush_interval_ms",
            ),
            ("tables = [\"a\"]\nunknown = 1", "unknown field"),
        ] {
            let e = Config::from_toml(&format!("{base}{extra}")).expect_err(extra);
            assert!(e.to_string().contains(needle), "{extra}: {e}");
        }
    }

    #[test]
    fn history_urls_join_the_lake_and_the_table() {
        let c = Config::new("x", "s3://bucket/history/", &["care.note"]);
        let t = &c.table_names().expect("names")[0];
        assert_eq!(c.history_url(t), "s3://bucket/history/care.note");
        assert!(!format!("{c:?}").contains("host"));
    }
}
