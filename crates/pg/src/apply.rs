//! Triggered syncs: the changes a source made since the synced version
//! (Delta's change data feed: inserts, update pre- and post-images,
//! deletes, each with its commit version) applied as upserts and deletes in
//! one transaction that also records the new version. A crash at any point
//! leaves either none or all of it; applying the same changes again is a
//! no-op.

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use futures::Stream;
use tokio_postgres::Client;

use crate::error::PgError;
use crate::schema::{PgColumn, PgTable, PgType, ident};
use crate::snapshot::{SourceVersion, copy_batches};
use crate::state::{STATE_TABLE, ensure_state_table, record};

/// The change type column of a change batch (Delta's `_change_type`).
pub const CHANGE_TYPE: &str = "_change_type";
/// The commit version column of a change batch (Delta's `_commit_version`).
pub const COMMIT_VERSION: &str = "_commit_version";

/// What applying changes did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The changes were applied and `version` recorded.
    Applied {
        /// Keys inserted or updated.
        upserted: u64,
        /// Keys deleted.
        deleted: u64,
    },
    /// The table already reflects this version or a later one: nothing was
    /// written.
    AlreadyApplied {
        /// The version the table reflects.
        synced: i64,
    },
    /// More change rows than the caller's limit: nothing was written (a
    /// snapshot is the cheaper way to catch up).
    TooMany {
        /// Change rows read (pre-images included) before giving up.
        rows: u64,
    },
}

/// The Arrow schema of change batches for `table`: its columns, then
/// `_change_type` (`insert`, `update_preimage`, `update_postimage`,
/// `delete`) and `_commit_version`.
pub fn change_schema(source: &Schema) -> Schema {
    let mut fields: Vec<Field> = source
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new(CHANGE_TYPE, DataType::Utf8, false));
    fields.push(Field::new(COMMIT_VERSION, DataType::Int64, false));
    Schema::new(fields)
}

/// Applies the changes a source made after `since` (the version the table
/// reflects now) up to `at.version`, in one transaction with the new
/// version. For each key the change of the greatest commit version wins;
/// pre-images are ignored. When the recorded version is already
/// `at.version` or later, nothing is written. When it is neither that nor
/// `since` (another process synced in between, or the table was never
/// loaded), the call fails and nothing is written.
///
/// `changes` yields batches of [`change_schema`]. Two changes of one key in
/// one commit version are refused ([`PgError::DuplicateKey`]). With
/// `max_rows`, more change rows than that end the call with
/// [`ApplyOutcome::TooMany`] and nothing written.
pub async fn apply_changes<S, E>(
    client: &mut Client,
    table: &PgTable,
    since: i64,
    at: SourceVersion<'_>,
    changes: S,
    max_rows: Option<u64>,
) -> Result<ApplyOutcome, PgError>
where
    S: Stream<Item = Result<RecordBatch, E>>,
    E: std::fmt::Display,
{
    ensure_state_table(client).await?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgError::from_client("starting the change transaction", &e))?;
    // The state row is locked until commit: a concurrent sync of the same
    // table waits, then sees the new version.
    let sql = format!(
        "SELECT synced_version FROM public.{STATE_TABLE} \
         WHERE table_schema = $1 AND table_name = $2 FOR UPDATE"
    );
    let synced: Option<i64> = tx
        .query_opt(&sql, &[&table.schema(), &table.name()])
        .await
        .map_err(|e| PgError::from_client("reading the sync state", &e))?
        .map(|r| r.get(0));
    match synced {
        Some(v) if v >= at.version => return Ok(ApplyOutcome::AlreadyApplied { synced: v }),
        Some(v) if v == since => {}
        other => {
            return Err(PgError::InvalidTable {
                table: table.qualified(),
                detail: match other {
                    None => "it was never loaded: a snapshot comes first".to_owned(),
                    Some(v) => {
                        format!("it reflects version {v}, not {since} as the changes assume")
                    }
                },
            });
        }
    }

    let stage_table = stage_table(table);
    let stage = ident(stage_table.name());
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE {stage} ({}) ON COMMIT DROP",
        stage_table.column_defs()
    ))
    .await
    .map_err(|e| PgError::from_client("creating the change staging table", &e))?;
    let copied = copy_batches(&[tx.client()], table, &stage_table, &stage, changes, None).await?;
    if max_rows.is_some_and(|max| copied.rows > max) {
        // Dropping the transaction rolls it back.
        return Ok(ApplyOutcome::TooMany { rows: copied.rows });
    }

    let key = table.key_list();
    let on_key = table
        .key()
        .iter()
        .map(|k| format!("t.{0} = l.{0}", ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let repeated = tx
        .query_opt(
            &format!(
                "SELECT 1 FROM {stage} WHERE {CHANGE_TYPE} <> 'update_preimage' \
                 GROUP BY {key}, {COMMIT_VERSION} HAVING count(*) > 1 LIMIT 1"
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::from_client("checking keys within a version", &e))?;
    if repeated.is_some() {
        return Err(PgError::DuplicateKey {
            table: table.qualified(),
            constraint: format!("one change per key and version in {}", at.source),
        });
    }
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE caresync_last ON COMMIT DROP AS \
         SELECT DISTINCT ON ({key}) * FROM {stage} \
         WHERE {CHANGE_TYPE} <> 'update_preimage' \
         ORDER BY {key}, {COMMIT_VERSION} DESC"
    ))
    .await
    .map_err(|e| PgError::from_client("choosing the last change of each key", &e))?;
    let deleted = tx
        .execute(
            &format!(
                "DELETE FROM {} t USING caresync_last l WHERE {on_key} \
                 AND l.{CHANGE_TYPE} = 'delete'",
                table.qualified()
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::from_client("deleting rows", &e))?;
    let columns = table.column_list();
    let updates = table
        .columns()
        .iter()
        .filter(|c| !table.key().contains(&c.name))
        .map(|c| format!("{0} = EXCLUDED.{0}", ident(&c.name)))
        .collect::<Vec<_>>();
    let on_conflict = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    let upserted = tx
        .execute(
            &format!(
                "INSERT INTO {} ({columns}) SELECT {columns} FROM caresync_last \
                 WHERE {CHANGE_TYPE} IN ('insert', 'update_postimage') \
                 ON CONFLICT ({key}) {on_conflict}",
                table.qualified()
            ),
            &[],
        )
        .await
        .map_err(|e| PgError::from_client("upserting rows", &e))?;
    record(&tx, table, at, "triggered", upserted + deleted).await?;
    tx.commit()
        .await
        .map_err(|e| PgError::from_client("committing the changes", &e))?;
    tracing::info!(table = %table.qualified(), upserted, deleted, version = at.version, "changes applied");
    Ok(ApplyOutcome::Applied { upserted, deleted })
}

/// The staging table of changes: the table's columns, all nullable (a
/// delete carries only its key), then the change type and version.
fn stage_table(table: &PgTable) -> PgTable {
    let columns = table
        .columns()
        .iter()
        .map(|c| PgColumn {
            name: c.name.clone(),
            ty: c.ty,
            nullable: true,
        })
        .chain([
            PgColumn {
                name: CHANGE_TYPE.to_owned(),
                ty: PgType::Text,
                nullable: false,
            },
            PgColumn {
                name: COMMIT_VERSION.to_owned(),
                ty: PgType::BigInt,
                nullable: false,
            },
        ])
        .collect();
    PgTable::unkeyed("caresync_changes", columns)
}
