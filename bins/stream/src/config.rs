//! The stream's configuration file (TOML), with every field optional:
//!
//! ```toml
//! lake = "./lake"               # a folder or a URL (s3://bucket/prefix)
//!
//! [lake_options]                # object-store options (endpoint, region...)
//!
//! [batching]
//! max_rows = 5000               # most messages in one bronze commit
//! linger = "5ms"                # how long a batch waits for company
//! queued_mib = 256              # committed batches held for silver (MiB)
//!
//! [mllp]
//! listen = "127.0.0.1:2575"     # HL7 v2 over MLLP
//!
//! [http]
//! listen = "127.0.0.1:8080"     # FHIR POST, /metrics, /health, /ready
//!
//! [landing]
//! path = "./landing"            # HL7 batch, FHIR NDJSON and X12 files
//! poll = "1s"
//!
//! [contracts]                   # silver table = contract file
//! encounter = "contracts/silver/encounter.toml"
//! ```
//!
//! Relative paths are read from the configuration file's folder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::bronze::Batching;
use crate::error::StreamError;
use crate::silver::Contracts;

/// The configuration (see the module docs).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The lake root.
    pub lake: Option<String>,
    /// Object-store options.
    #[serde(default)]
    pub lake_options: HashMap<String, String>,
    /// Bronze batching.
    #[serde(default)]
    pub batching: BatchingConfig,
    /// The MLLP listener.
    pub mllp: Option<Listen>,
    /// The HTTP listener.
    pub http: Option<Listen>,
    /// The landing folder.
    pub landing: Option<Landing>,
    /// Contract files by silver table.
    #[serde(default)]
    pub contracts: HashMap<String, PathBuf>,
}

/// `[batching]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchingConfig {
    /// Most messages in one bronze commit.
    pub max_rows: Option<usize>,
    /// How long a batch waits for company (`5ms`).
    #[serde(default, with = "humantime_serde_opt")]
    pub linger: Option<Duration>,
    /// MiB of committed batches held in memory for the silver stage.
    pub queued_mib: Option<usize>,
}

/// A listener's address.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// `host:port`.
    pub listen: SocketAddr,
}

/// `[landing]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Landing {
    /// The folder.
    pub path: PathBuf,
    /// How often it is looked at (`1s`).
    #[serde(default, with = "humantime_serde_opt")]
    pub poll: Option<Duration>,
}

/// Durations as humantime text.
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl Config {
    /// Reads `path`; relative paths in it become relative to its folder.
    ///
    /// # Errors
    ///
    /// [`StreamError::Config`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Config, StreamError> {
        let text = std::fs::read_to_string(path).map_err(|source| StreamError::Io {
            what: format!("reading {}", path.display()),
            source,
        })?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|e| StreamError::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(lake) = &config.lake
            && !lake.contains("://")
            && Path::new(lake).is_relative()
        {
            config.lake = Some(base.join(lake).display().to_string());
        }
        if let Some(landing) = &mut config.landing
            && landing.path.is_relative()
        {
            landing.path = base.join(&landing.path);
        }
        for file in config.contracts.values_mut() {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        Ok(config)
    }

    /// The bronze batching, defaults filled in.
    pub fn batching(&self) -> Batching {
        let d = Batching::default();
        Batching {
            max_rows: self.batching.max_rows.unwrap_or(d.max_rows).max(1),
            linger: self.batching.linger.unwrap_or(d.linger),
            queued_bytes: self
                .batching
                .queued_mib
                .map_or(d.queued_bytes, |mib| mib.saturating_mul(1 << 20)),
        }
    }

    /// The contracts, read.
    ///
    /// # Errors
    ///
    /// [`StreamError::Config`] for a file that cannot be read or is not a
    /// contract.
    pub fn read_contracts(&self) -> Result<Contracts, StreamError> {
        let mut out = Contracts::new();
        for (table, file) in &self.contracts {
            let text = std::fs::read_to_string(file).map_err(|source| StreamError::Io {
                what: format!("reading {}", file.display()),
                source,
            })?;
            let contract =
                caresync_contract::Contract::from_toml(&text, &file.display().to_string())
                    .map_err(|e| StreamError::Config(e.to_string()))?;
            out.insert(table.clone(), contract);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_reads_with_paths_beside_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("stream.toml");
        std::fs::write(
            &path,
            "lake = \"lake\"\n[batching]\nmax_rows = 10\nlinger = \"20ms\"\nqueued_mib = 64\n[mllp]\nlisten = \"127.0.0.1:2575\"\n[landing]\npath = \"in\"\npoll = \"2s\"\n",
        )
        .expect("write");
        let c = Config::load(&path).expect("a configuration");
        assert_eq!(
            c.lake.as_deref(),
            Some(dir.path().join("lake").display().to_string().as_str())
        );
        assert_eq!(c.batching().max_rows, 10);
        assert_eq!(c.batching().linger, Duration::from_millis(20));
        assert_eq!(c.batching().queued_bytes, 64 << 20);
        assert_eq!(c.mllp.map(|m| m.listen.port()), Some(2575));
        let landing = c.landing.expect("landing");
        assert_eq!(landing.path, dir.path().join("in"));
        assert_eq!(landing.poll, Some(Duration::from_secs(2)));
    }

    #[test]
    fn unknown_fields_and_bad_durations_are_refused_with_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "lake = \"x\"\nlaek = 1\n").expect("write");
        let e = Config::load(&path).expect_err("an unknown field");
        assert!(
            e.to_string().contains("s.toml") && e.to_string().contains("laek"),
            "{e}"
        );
        std::fs::write(&path, "[batching]\nlinger = \"soon\"\n").expect("write");
        assert!(Config::load(&path).is_err());
    }
}
