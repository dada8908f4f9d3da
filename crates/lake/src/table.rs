//! Opening, creating and refreshing a Delta table.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoArrow as _;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, TableProperty};

use crate::LakeError;
use crate::location::{Location, Missing};
use crate::spec::{Nullability, TableSpec, describe_differences};

/// One Delta table: a location plus the snapshot of it last loaded.
///
/// Reads see the loaded snapshot; [`refresh`](Self::refresh) moves it to the
/// newest version. Writes commit on top of the newest version (deltalake checks
/// for conflicting concurrent commits) and leave the handle at the version they
/// wrote.
#[derive(Clone)]
pub struct LakeTable {
    pub(crate) table: DeltaTable,
    pub(crate) location: Location,
    /// The last `txn` this handle committed, while nothing else was
    /// committed after it (see `LakeTable::append_idempotent`).
    pub(crate) known_txn: Option<crate::write::KnownTxn>,
    /// The keys of the data files this handle's merges have read or
    /// written.
    pub(crate) key_index: crate::merge::KeyIndex,
}

impl fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeTable")
            .field("url", &self.location.display)
            .field("version", &self.table.version())
            .finish()
    }
}

/// Which snapshot [`OpenOptions::open`] loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Latest,
    Version(i64),
    Time(SystemTime),
}

/// Options for opening an existing table: storage options and, for time
/// travel, a version or a point in time. Made by [`LakeTable::options`].
#[derive(Clone)]
pub struct OpenOptions {
    url: String,
    storage_options: HashMap<String, String>,
    at: At,
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut option_keys: Vec<&str> = self.storage_options.keys().map(String::as_str).collect();
        option_keys.sort_unstable();
        f.debug_struct("OpenOptions")
            .field("url", &self.url)
            .field("storage_option_keys", &option_keys)
            .field("at", &self.at)
            .finish()
    }
}

impl OpenOptions {
    /// Replaces the storage options.
    #[must_use]
    pub fn storage_options(mut self, options: HashMap<String, String>) -> Self {
        self.storage_options = options;
        self
    }

    /// Adds one storage option.
    #[must_use]
    pub fn storage_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.storage_options.insert(key.into(), value.into());
        self
    }

    /// Loads exactly this version.
    #[must_use]
    pub fn at_version(mut self, version: i64) -> Self {
        self.at = At::Version(version);
        self
    }

    /// Loads the newest version committed at or before `time`, going by the
    /// modification times of the log files. A time before the first commit
    /// gives the first version.
    #[must_use]
    pub fn at_time(mut self, time: SystemTime) -> Self {
        self.at = At::Time(time);
        self
    }

    /// Opens the table.
    pub async fn open(self) -> Result<LakeTable, LakeError> {
        let location = Location::parse(&self.url, Missing::Report)?;
        let url = &location.display;
        let builder = builder(&location, self.storage_options.clone())?;
        let (loaded, version) = match self.at {
            At::Latest => (builder.load().await, None),
            At::Version(version) => {
                let Ok(unsigned) = u64::try_from(version) else {
                    return Err(LakeError::VersionNotFound {
                        url: url.clone(),
                        version,
                        latest: latest_version(&location, self.storage_options).await?,
                    });
                };
                // `with_version(v).load()` loads v; `build()` then `DeltaTable::load()`
                // would silently load the newest version instead.
                (builder.with_version(unsigned).load().await, Some(version))
            }
            At::Time(time) => {
                let time = chrono::DateTime::<chrono::Utc>::from(time);
                (builder.with_timestamp(time).load().await, None)
            }
        };
        match loaded {
            Ok(table) => Ok(LakeTable {
                table,
                location,
                known_txn: None,
                key_index: crate::merge::KeyIndex::default(),
            }),
            Err(DeltaTableError::NotATable(_)) => Err(LakeError::NotATable { url: url.clone() }),
            Err(source) => {
                // A version past the end is the likeliest cause; say so if it is.
                if let Some(version) = version
                    && let Ok(latest) = latest_version(&location, self.storage_options).await
                    && version > latest
                {
                    return Err(LakeError::VersionNotFound {
                        url: url.clone(),
                        version,
                        latest,
                    });
                }
                Err(LakeError::Open {
                    url: url.clone(),
                    version,
                    source: Box::new(source),
                })
            }
        }
    }
}

fn builder(
    location: &Location,
    storage_options: HashMap<String, String>,
) -> Result<DeltaTableBuilder, LakeError> {
    Ok(DeltaTableBuilder::from_url(location.url.clone())
        .map_err(|source| open_error(location, source))?
        .with_storage_options(storage_options))
}

async fn latest_version(
    location: &Location,
    storage_options: HashMap<String, String>,
) -> Result<i64, LakeError> {
    let log_error = |source| LakeError::Log {
        url: location.display.clone(),
        source: Box::new(source),
    };
    let table = builder(location, storage_options)?
        .build()
        .map_err(log_error)?;
    table
        .get_latest_version()
        .await
        .map(to_i64)
        .map_err(log_error)
}

impl LakeTable {
    /// Options for opening the table at `url`, for storage options or time
    /// travel.
    pub fn options(url: impl Into<String>) -> OpenOptions {
        OpenOptions {
            url: url.into(),
            storage_options: HashMap::new(),
            at: At::Latest,
        }
    }

    /// Opens the newest version of the existing table at `url` (a local path,
    /// `file://`, or `s3://bucket/prefix`).
    ///
    /// # Errors
    ///
    /// [`LakeError::NotATable`] if there is no Delta table there,
    /// [`LakeError::UnsupportedScheme`] / [`LakeError::InvalidUrl`] for a
    /// location this crate cannot use, [`LakeError::Open`] if the log cannot be
    /// read.
    pub async fn open(url: &str) -> Result<Self, LakeError> {
        Self::options(url).open().await
    }

    /// Opens the newest version of the table at `url` with storage options
    /// (for S3: `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, credentials, and
    /// object_store's `max_retries`, `retry_timeout`, `timeout`, ...).
    pub async fn open_with_options(
        url: &str,
        storage_options: HashMap<String, String>,
    ) -> Result<Self, LakeError> {
        Self::options(url)
            .storage_options(storage_options)
            .open()
            .await
    }

    /// Opens the table at `url` as of exactly `version` (time travel).
    ///
    /// # Errors
    ///
    /// [`LakeError::VersionNotFound`] if the table has no such version, and
    /// the errors of [`open`](Self::open).
    pub async fn open_at_version(url: &str, version: i64) -> Result<Self, LakeError> {
        Self::options(url).at_version(version).open().await
    }

    /// Opens the table at `url` as of the newest version committed at or
    /// before `time` (see [`OpenOptions::at_time`]).
    pub async fn open_at_time(url: &str, time: SystemTime) -> Result<Self, LakeError> {
        Self::options(url).at_time(time).open().await
    }

    /// Opens the table at `url`, creating it from `spec` if there is none.
    ///
    /// A local directory is created if missing. A new table gets the spec's
    /// columns, partitioning, name and (unless turned off)
    /// `delta.enableChangeDataFeed=true`, as version 0 with no rows. An
    /// existing table must have the spec's columns, in order, with the same
    /// Delta types; a spec may call a column nullable that the table has as
    /// NOT NULL, not the reverse; partition columns must agree.
    ///
    /// # Errors
    ///
    /// [`LakeError::SchemaMismatch`] naming the differing columns,
    /// [`LakeError::InvalidSpec`] for a spec that cannot make a table, and the
    /// errors of [`open`](Self::open) and [`LakeError::Write`].
    pub async fn open_or_create(url: &str, spec: &TableSpec) -> Result<Self, LakeError> {
        let delta_schema = spec.delta_schema()?;
        let location = Location::parse(url, Missing::Create)?;
        let mut table = builder(&location, spec.storage_options().clone())?
            .build()
            .map_err(|source| open_error(&location, source))?;

        match table.load().await {
            Ok(()) => {}
            Err(DeltaTableError::NotATable(_)) => {
                let mut create = table
                    .create()
                    .with_table_name(spec.name())
                    .with_columns(delta_schema.fields().cloned())
                    .with_partition_columns(spec.partition_columns().iter().cloned())
                    .with_save_mode(SaveMode::ErrorIfExists);
                if spec.change_data_feed() {
                    create = create.with_configuration_property(
                        TableProperty::EnableChangeDataFeed,
                        Some("true"),
                    );
                }
                if spec.deletion_vectors() {
                    // Table features (reader 3, writer 7) named first, so
                    // the change data feed is listed as a writer feature
                    // beside deletion vectors, not dropped for them.
                    create = create
                        .with_configuration_property(TableProperty::MinReaderVersion, Some("3"))
                        .with_configuration_property(TableProperty::MinWriterVersion, Some("7"))
                        .with_configuration_property(
                            TableProperty::EnableDeletionVectors,
                            Some("true"),
                        );
                }
                if !spec.properties().is_empty() {
                    // The application's own keys are not Delta properties:
                    // deltalake refuses keys it does not know unless told.
                    create = create
                        .with_configuration(
                            spec.properties()
                                .iter()
                                .map(|(k, v)| (k.clone(), Some(v.clone()))),
                        )
                        .with_raise_if_key_not_exists(false);
                }
                match create.await {
                    Ok(created) => {
                        tracing::info!(url = %location.display, "created Delta table");
                        return Ok(Self {
                            table: created,
                            location,
                            known_txn: None,
                            key_index: crate::merge::KeyIndex::default(),
                        });
                    }
                    Err(create_error) => {
                        // Another process may have created it in between: if a
                        // table is there now, check it like any existing one.
                        if table.load().await.is_err() {
                            return Err(crate::error::write_error(
                                &location.display,
                                "create",
                                None,
                                create_error,
                            ));
                        }
                    }
                }
            }
            Err(source) => return Err(open_error(&location, source)),
        }

        let this = Self {
            table,
            location,
            known_txn: None,
            key_index: crate::merge::KeyIndex::default(),
        };
        this.check_against(spec, &delta_schema)?;
        Ok(this)
    }

    fn check_against(&self, spec: &TableSpec, delta_schema: &StructType) -> Result<(), LakeError> {
        let snapshot = self.snapshot()?;
        let mismatch = |detail: String| LakeError::SchemaMismatch {
            table: self.location.display.clone(),
            detail,
        };
        let table_schema = snapshot.schema();
        if let Some(detail) = describe_differences(
            delta_schema,
            &table_schema,
            Nullability::SpecAgainstTable,
            "spec",
            "table",
        ) {
            return Err(mismatch(detail));
        }
        let table_partitions = snapshot.metadata().partition_columns();
        if table_partitions != spec.partition_columns() {
            return Err(mismatch(format!(
                "partition columns differ: spec has {:?}, table has {:?}",
                spec.partition_columns(),
                table_partitions
            )));
        }
        Ok(())
    }

    /// The table location, without credentials.
    pub fn url(&self) -> &str {
        &self.location.display
    }

    /// The loaded version.
    pub fn version(&self) -> i64 {
        self.table
            .version()
            .map(to_i64)
            .expect("a LakeTable always holds a loaded snapshot")
    }

    /// The table's columns as Arrow types, in table order. Delta types map to
    /// one Arrow type each (strings are `Utf8`, timestamps microsecond `UTC`).
    pub fn schema(&self) -> Result<SchemaRef, LakeError> {
        let schema = self.snapshot()?.schema();
        let arrow: deltalake::arrow::datatypes::Schema =
            schema
                .as_ref()
                .try_into_arrow()
                .map_err(|source| LakeError::Log {
                    url: self.location.display.clone(),
                    source: Box::new(DeltaTableError::from(source)),
                })?;
        Ok(Arc::new(arrow))
    }

    /// The partition columns.
    pub fn partition_columns(&self) -> Result<Vec<String>, LakeError> {
        Ok(self.snapshot()?.metadata().partition_columns().to_vec())
    }

    /// The value of table property `key` in the table's metadata, if set.
    pub fn property(&self, key: &str) -> Result<Option<String>, LakeError> {
        Ok(self
            .snapshot()?
            .metadata()
            .configuration()
            .get(key)
            .cloned())
    }

    /// Whether the table records a change data feed.
    pub fn change_data_feed_enabled(&self) -> Result<bool, LakeError> {
        use deltalake::table::config::TablePropertiesExt as _;
        Ok(self.snapshot()?.table_config().enable_change_data_feed())
    }

    /// Whether merges may mark replaced rows in deletion vectors: the
    /// protocol has the `deletionVectors` writer feature and
    /// `delta.enableDeletionVectors` is `true`.
    pub fn deletion_vectors_enabled(&self) -> Result<bool, LakeError> {
        let snapshot = self.snapshot()?;
        let supported = snapshot
            .protocol()
            .writer_features()
            .is_some_and(|features| {
                features
                    .iter()
                    .any(|f| f.to_string() == DELETION_VECTORS_FEATURE)
            });
        let enabled = self
            .property(DELETION_VECTORS_PROPERTY)?
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(supported && enabled)
    }

    /// Moves to the newest version and returns it. On a handle opened at an
    /// older version this leaves time travel.
    pub async fn refresh(&mut self) -> Result<i64, LakeError> {
        self.table
            .update_state()
            .await
            .map_err(|source| LakeError::Log {
                url: self.location.display.clone(),
                source: Box::new(source),
            })?;
        Ok(self.version())
    }

    pub(crate) fn snapshot(&self) -> Result<&deltalake::table::state::DeltaTableState, LakeError> {
        self.table.snapshot().map_err(|source| LakeError::Log {
            url: self.location.display.clone(),
            source: Box::new(source),
        })
    }
}

/// The protocol's name of the deletion vector table feature.
const DELETION_VECTORS_FEATURE: &str = "deletionVectors";
/// The table property that lets writers use deletion vectors.
const DELETION_VECTORS_PROPERTY: &str = "delta.enableDeletionVectors";

fn open_error(location: &Location, source: DeltaTableError) -> LakeError {
    LakeError::Open {
        url: location.display.clone(),
        version: None,
        source: Box::new(source),
    }
}

/// Delta versions are `u64`; ours are `i64` like the `txn` versions and
/// PostgreSQL's `bigint`. No table reaches 2^63 commits.
pub(crate) fn to_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}
