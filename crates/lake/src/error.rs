//! The one error type of this crate.

use deltalake::DeltaTableError;
use deltalake::datafusion::error::DataFusionError;
use deltalake::kernel::transaction::TransactionError;

/// Everything that can go wrong in `caresync-lake`.
///
/// Messages name table URLs (with any credentials stripped), versions, column
/// names and counts, never a row value. deltalake and DataFusion errors are kept
/// as [`source`](std::error::Error::source)s: their own messages may echo
/// literals from a predicate, so they are not part of this type's `Display`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakeError {
    /// The location could not be parsed, or is a local path that is not a
    /// directory.
    #[error("invalid table location {url}: {reason}")]
    InvalidUrl {
        /// The location as given, credentials stripped.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The URL names a storage scheme this crate does not handle (only local
    /// paths, `file://`, `s3://` and `s3a://` are).
    #[error("unsupported scheme {scheme:?} in table location {url}")]
    UnsupportedScheme {
        /// The location, credentials stripped.
        url: String,
        /// The scheme found.
        scheme: String,
    },

    /// There is no Delta table at the location.
    #[error("no Delta table at {url}")]
    NotATable {
        /// The table location.
        url: String,
    },

    /// The table could not be opened or its log could not be read.
    #[error("cannot open Delta table at {url}{}", fmt_version(*.version))]
    Open {
        /// The table location.
        url: String,
        /// The version asked for, if any.
        version: Option<i64>,
        /// What deltalake reported.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// A version that the table does not have was asked for.
    #[error("table {url} has no version {version} (latest is {latest})")]
    VersionNotFound {
        /// The table location.
        url: String,
        /// The version asked for.
        version: i64,
        /// The newest version of the table.
        latest: i64,
    },

    /// A [`TableSpec`](crate::TableSpec) is unusable on its own, before any
    /// table is touched (no columns, unknown partition column, a type Delta
    /// cannot store).
    #[error("invalid spec for table {table}: {detail}")]
    InvalidSpec {
        /// The table name in the spec.
        table: String,
        /// What is wrong, naming columns.
        detail: String,
    },

    /// The table's schema and the expected one (a spec, or a batch to append)
    /// differ.
    #[error("schema mismatch for table {table}: {detail}")]
    SchemaMismatch {
        /// The table location.
        table: String,
        /// The differing columns, by name and type.
        detail: String,
    },

    /// A column named in an operation is not in the table.
    #[error("table {url} has no column {column:?}")]
    UnknownColumn {
        /// The table location.
        url: String,
        /// The column asked for.
        column: String,
    },

    /// A SQL predicate or expression did not parse or does not type-check
    /// against the table. The source may quote the expression.
    #[error("invalid {what} for {operation} on table {url}")]
    InvalidExpression {
        /// The table location.
        url: String,
        /// `"delete"` or `"update"`.
        operation: &'static str,
        /// `"predicate"` or `"assignment to column <name>"`.
        what: String,
        /// What the parser reported.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// The table does not record a change data feed
    /// (`delta.enableChangeDataFeed` is not `true`), or did not at a version
    /// in the range asked for.
    #[error("change data feed is not enabled on table {url}")]
    ChangeDataFeedDisabled {
        /// The table location.
        url: String,
        /// What deltalake reported, when it was deltalake that noticed.
        #[source]
        source: Option<Box<DeltaTableError>>,
    },

    /// A change-data-feed range is empty or outside the table's versions.
    #[error(
        "invalid version range {from}..={} for table {url} (latest is {latest})",
        fmt_end(*.to)
    )]
    InvalidVersionRange {
        /// The table location.
        url: String,
        /// First version asked for.
        from: i64,
        /// Last version asked for, `None` meaning the latest.
        to: Option<i64>,
        /// The newest version of the table.
        latest: i64,
    },

    /// A change of a merge cannot be applied (a null key, a null or
    /// malformed version, an unknown operation); nothing was written. The
    /// rejection names the row and column, never the value.
    #[error("change rejected by table {url}: {rejection}")]
    Rejected {
        /// The table.
        url: String,
        /// The code and location of the bad change.
        rejection: caresync_core::Rejection,
    },

    /// Another writer committed first and the commit could not be reconciled
    /// with it, or the same application id committed concurrently. Refresh and
    /// retry (for [`append_idempotent`](crate::LakeTable::append_idempotent),
    /// the retry will report `AlreadyApplied` if the other writer applied it).
    #[error("commit conflict during {operation} on table {url} (read version {read_version})")]
    Conflict {
        /// The table location.
        url: String,
        /// The operation that lost the race.
        operation: &'static str,
        /// The version the operation started from.
        read_version: i64,
        /// What deltalake reported.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// A write (create, append, delete, update) failed.
    #[error("{operation} failed on table {url}{}", fmt_read_version(*.read_version))]
    Write {
        /// The table location.
        url: String,
        /// The operation.
        operation: &'static str,
        /// The version the operation started from, if the table existed.
        read_version: Option<i64>,
        /// What deltalake reported.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// Reading the table's state (its log) failed.
    #[error("reading the log of table {url} failed")]
    Log {
        /// The table location.
        url: String,
        /// What deltalake reported.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// Planning or running a read (scan or change data feed) failed.
    #[error("{operation} on table {url} at version {version} failed")]
    Read {
        /// The table location.
        url: String,
        /// `"scan"`, `"filtered scan"` or `"change data feed"`.
        operation: &'static str,
        /// The table version read.
        version: i64,
        /// What DataFusion reported.
        #[source]
        source: Box<DataFusionError>,
    },
}

fn fmt_version(version: Option<i64>) -> String {
    version
        .map(|v| format!(" at version {v}"))
        .unwrap_or_default()
}

fn fmt_read_version(version: Option<i64>) -> String {
    version
        .map(|v| format!(" (read version {v})"))
        .unwrap_or_default()
}

fn fmt_end(to: Option<i64>) -> String {
    to.map_or_else(|| "latest".to_owned(), |v| v.to_string())
}

/// Classify a deltalake error from a commit-producing operation.
pub(crate) fn write_error(
    url: &str,
    operation: &'static str,
    read_version: Option<i64>,
    source: DeltaTableError,
) -> LakeError {
    let conflict = matches!(
        &source,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
            }
    );
    match (conflict, read_version) {
        (true, Some(read_version)) => LakeError::Conflict {
            url: url.to_owned(),
            operation,
            read_version,
            source: Box::new(source),
        },
        _ => LakeError::Write {
            url: url.to_owned(),
            operation,
            read_version,
            source: Box::new(source),
        },
    }
}
