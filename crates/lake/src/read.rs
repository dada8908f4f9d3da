//! Reads: the rows of a snapshot, and the change data feed between versions.

use std::sync::Arc;

use deltalake::DeltaTableError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::delta_datafusion::{DeltaCdfTableProvider, create_session};
use futures::TryStreamExt as _;

use crate::LakeError;
use crate::table::LakeTable;

/// Name of the change-type column in [`LakeTable::changes`] output; its values
/// are `insert`, `update_preimage`, `update_postimage` and `delete`
/// (see `caresync_core::ChangeType`).
pub const CHANGE_TYPE_COLUMN: &str = deltalake::delta_datafusion::cdf::CHANGE_TYPE_COL;
/// Name of the commit-version column (`UInt64`) in [`LakeTable::changes`]
/// output.
pub const COMMIT_VERSION_COLUMN: &str = deltalake::delta_datafusion::cdf::COMMIT_VERSION_COL;
/// Name of the commit-timestamp column (millisecond `Timestamp`, no time zone)
/// in [`LakeTable::changes`] output.
pub const COMMIT_TIMESTAMP_COLUMN: &str = deltalake::delta_datafusion::cdf::COMMIT_TIMESTAMP_COL;

impl LakeTable {
    /// Streams the rows of the loaded snapshot, batch by batch, without
    /// holding the table in memory. Partition columns come after the other
    /// columns. Row order is unspecified.
    pub async fn scan(&self) -> Result<SendableRecordBatchStream, LakeError> {
        const OPERATION: &str = "scan";
        let version = self.version();
        let read_error = |source: DataFusionError| self.read_error(OPERATION, version, source);
        let provider = self.table.table_provider().await.map_err(read_error)?;
        let ctx = self.session()?;
        let frame = ctx.read_table(provider).map_err(read_error)?;
        frame.execute_stream().await.map_err(read_error)
    }

    /// Streams the rows of the loaded snapshot for which `predicate` (a SQL
    /// expression over the table's columns, e.g. `batch BETWEEN 3 AND 9`)
    /// holds. Files whose statistics rule the predicate out are not read.
    ///
    /// # Errors
    ///
    /// [`LakeError::Read`] for a predicate that does not parse or names an
    /// unknown column, and the errors of [`scan`](Self::scan).
    pub async fn scan_where(
        &self,
        predicate: &str,
    ) -> Result<SendableRecordBatchStream, LakeError> {
        const OPERATION: &str = "filtered scan";
        let version = self.version();
        let read_error = |source: DataFusionError| self.read_error(OPERATION, version, source);
        let provider = self.table.table_provider().await.map_err(read_error)?;
        let ctx = self.session()?;
        let frame = ctx.read_table(provider).map_err(read_error)?;
        let filter = frame.parse_sql_expr(predicate).map_err(read_error)?;
        let frame = frame.filter(filter).map_err(read_error)?;
        frame.execute_stream().await.map_err(read_error)
    }

    /// All rows of the loaded snapshot; see [`scan`](Self::scan) for a
    /// streaming read.
    pub async fn read_all(&self) -> Result<Vec<RecordBatch>, LakeError> {
        let version = self.version();
        self.scan()
            .await?
            .try_collect()
            .await
            .map_err(|source| self.read_error("scan", version, source))
    }

    /// Streams the change data feed from `from_version` to `to_version`
    /// (inclusive; `None` means the newest version): the table's columns
    /// (partition columns last), then [`CHANGE_TYPE_COLUMN`],
    /// [`COMMIT_VERSION_COLUMN`] and [`COMMIT_TIMESTAMP_COLUMN`].
    ///
    /// # Errors
    ///
    /// [`LakeError::ChangeDataFeedDisabled`] if the table does not record
    /// one, [`LakeError::InvalidVersionRange`] unless
    /// `0 <= from_version <= to_version <= latest` (so asking for changes after
    /// the newest version is an error, not an empty feed), [`LakeError::Read`].
    pub async fn changes_stream(
        &self,
        from_version: i64,
        to_version: Option<i64>,
    ) -> Result<SendableRecordBatchStream, LakeError> {
        const OPERATION: &str = "change data feed";
        if !self.change_data_feed_enabled()? {
            return Err(LakeError::ChangeDataFeedDisabled {
                url: self.location.display.clone(),
                source: None,
            });
        }
        let latest = self
            .table
            .get_latest_version()
            .await
            .map_err(|source| LakeError::Log {
                url: self.location.display.clone(),
                source: Box::new(source),
            })?;
        let latest = crate::table::to_i64(latest);
        let end = to_version.unwrap_or(latest);
        let range_error = || LakeError::InvalidVersionRange {
            url: self.location.display.clone(),
            from: from_version,
            to: to_version,
            latest,
        };
        if from_version < 0 || from_version > end || end > latest {
            return Err(range_error());
        }
        let (Ok(start), Ok(end)) = (u64::try_from(from_version), u64::try_from(end)) else {
            return Err(range_error());
        };

        let builder = self
            .table
            .clone()
            .scan_cdf()
            .with_starting_version(start)
            .with_ending_version(end);
        let provider =
            DeltaCdfTableProvider::try_new(builder).map_err(|source| self.cdf_error(source))?;
        let version = self.version();
        let read_error = |source: DataFusionError| self.read_error(OPERATION, version, source);
        let ctx = self.session()?;
        let frame = ctx.read_table(Arc::new(provider)).map_err(read_error)?;
        frame
            .execute_stream()
            .await
            .map_err(|source| match unwrap_delta(source) {
                Ok(delta) => self.cdf_error(delta),
                Err(other) => read_error(other),
            })
    }

    /// The whole change data feed from `from_version` to `to_version`; see
    /// [`changes_stream`](Self::changes_stream).
    pub async fn changes(
        &self,
        from_version: i64,
        to_version: Option<i64>,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        let version = self.version();
        self.changes_stream(from_version, to_version)
            .await?
            .try_collect()
            .await
            .map_err(|source| self.read_error("change data feed", version, source))
    }

    fn session(&self) -> Result<SessionContext, LakeError> {
        let ctx = create_session().into_inner();
        self.table
            .update_datafusion_session(&ctx.state())
            .map_err(|source| LakeError::Log {
                url: self.location.display.clone(),
                source: Box::new(source),
            })?;
        Ok(ctx)
    }

    fn read_error(
        &self,
        operation: &'static str,
        version: i64,
        source: DataFusionError,
    ) -> LakeError {
        LakeError::Read {
            url: self.location.display.clone(),
            operation,
            version,
            source: Box::new(source),
        }
    }

    fn cdf_error(&self, source: DeltaTableError) -> LakeError {
        match source {
            DeltaTableError::ChangeDataNotEnabled { .. }
            | DeltaTableError::ChangeDataNotRecorded { .. } => LakeError::ChangeDataFeedDisabled {
                url: self.location.display.clone(),
                source: Some(Box::new(source)),
            },
            other => LakeError::Log {
                url: self.location.display.clone(),
                source: Box::new(other),
            },
        }
    }
}

/// The deltalake error inside a DataFusion error, if that is what it is.
fn unwrap_delta(error: DataFusionError) -> Result<DeltaTableError, DataFusionError> {
    match error {
        DataFusionError::External(inner) => match inner.downcast::<DeltaTableError>() {
            Ok(delta) => Ok(*delta),
            Err(inner) => Err(DataFusionError::External(inner)),
        },
        other => Err(other),
    }
}
