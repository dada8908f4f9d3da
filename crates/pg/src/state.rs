//! The sync state table: for each synced table, the source it follows and
//! the source version its rows reflect. It is written in the same
//! transaction as the rows, so the table and its recorded version never
//! disagree, whatever crashes in between.

use tokio_postgres::{Client, GenericClient};

use crate::error::PgError;
use crate::schema::PgTable;
use crate::snapshot::SourceVersion;

/// The state table's name (in schema `public`).
pub const STATE_TABLE: &str = "caresync_sync_state";

/// What the state table records for one synced table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedState {
    /// The source the table follows (a Delta table URL, credentials
    /// stripped).
    pub source: String,
    /// The source version the table's rows reflect.
    pub version: i64,
    /// How it was last synced: `snapshot` or `triggered`.
    pub mode: String,
    /// Rows written by that sync.
    pub rows: i64,
}

/// Creates the state table if it does not exist.
pub async fn ensure_state_table(client: &Client) -> Result<(), PgError> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS public.{STATE_TABLE} (\
           table_schema text NOT NULL, \
           table_name text NOT NULL, \
           source text NOT NULL, \
           synced_version bigint NOT NULL, \
           mode text NOT NULL, \
           rows bigint NOT NULL, \
           updated_at timestamptz NOT NULL DEFAULT now(), \
           PRIMARY KEY (table_schema, table_name))"
    );
    match client.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        // Two processes creating it at once: one wins, the other sees the
        // type or relation appear under it.
        Err(e)
            if e.as_db_error()
                .is_some_and(|d| matches!(d.code().code(), "23505" | "42P07")) =>
        {
            Ok(())
        }
        Err(e) => Err(PgError::from_client("creating the sync state table", &e)),
    }
}

/// The recorded state of `table`, if it was ever synced.
pub async fn synced_state(
    client: &impl GenericClient,
    table: &PgTable,
) -> Result<Option<SyncedState>, PgError> {
    let sql = format!(
        "SELECT source, synced_version, mode, rows FROM public.{STATE_TABLE} \
         WHERE table_schema = $1 AND table_name = $2"
    );
    let row = client
        .query_opt(&sql, &[&table.schema(), &table.name()])
        .await
        .map_err(|e| PgError::from_client("reading the sync state", &e))?;
    Ok(row.map(|r| SyncedState {
        source: r.get(0),
        version: r.get(1),
        mode: r.get(2),
        rows: r.get(3),
    }))
}

/// Records that `table` now reflects `at` after a sync of `mode` that
/// wrote `rows`; meant to run inside the transaction that wrote them.
pub(crate) async fn record(
    client: &impl GenericClient,
    table: &PgTable,
    at: SourceVersion<'_>,
    mode: &str,
    rows: u64,
) -> Result<(), PgError> {
    let sql = format!(
        "INSERT INTO public.{STATE_TABLE} \
           (table_schema, table_name, source, synced_version, mode, rows, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, now()) \
         ON CONFLICT (table_schema, table_name) DO UPDATE SET \
           source = EXCLUDED.source, synced_version = EXCLUDED.synced_version, \
           mode = EXCLUDED.mode, rows = EXCLUDED.rows, updated_at = EXCLUDED.updated_at"
    );
    client
        .execute(
            &sql,
            &[
                &table.schema(),
                &table.name(),
                &at.source,
                &at.version,
                &mode,
                &i64::try_from(rows).unwrap_or(i64::MAX),
            ],
        )
        .await
        .map_err(|e| PgError::from_client("recording the sync state", &e))?;
    Ok(())
}
