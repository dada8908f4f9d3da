//! What the source database says about tables, publications and slots, and
//! the initial copy of a table within a slot's exported snapshot.

use bytes::{Buf as _, Bytes, BytesMut};
use futures::StreamExt as _;
use tokio_postgres::Client;

use crate::error::sql_error;
use crate::history::{ChangeKind, HistoryBuilder, RowOrigin, SourceColumn, TableName};
use crate::replication::{check_publication_name, check_slot_name};
use crate::{CdcError, Lsn};

/// A table's replica identity: what PostgreSQL logs of a row's old values
/// on update and delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// The primary key (PostgreSQL's default).
    PrimaryKey,
    /// The columns of a chosen unique index.
    Index,
    /// Every column.
    Full,
}

/// A source table as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceTable {
    /// Schema and name.
    pub name: TableName,
    /// Its OID.
    pub oid: u32,
    /// Its replica identity.
    pub replica_identity: ReplicaIdentity,
    /// The columns replicated, in the order pgoutput sends them (the
    /// table's order, without generated columns), with the replica
    /// identity's columns marked as key.
    pub columns: Vec<SourceColumn>,
    /// The primary key's columns, in key order; empty without one.
    pub primary_key: Vec<String>,
}

impl SourceTable {
    /// The names of the identity (key) columns.
    pub fn key(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.key)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The columns that tell rows apart: the primary key when there is one
    /// (also under `REPLICA IDENTITY FULL`), else the identity's columns
    /// (under `FULL` without a primary key, every column: identical rows
    /// are then one row).
    pub fn row_key(&self) -> Vec<&str> {
        if self.primary_key.is_empty() {
            self.key()
        } else {
            self.primary_key.iter().map(String::as_str).collect()
        }
    }
}

/// Reads a table's columns and replica identity.
///
/// # Errors
///
/// [`CdcError::Config`] when the table does not exist, is not an ordinary
/// table, or has no usable replica identity (`REPLICA IDENTITY NOTHING`, or
/// the default without a primary key): PostgreSQL would refuse its updates
/// and deletes once published, and the history could not tell rows apart.
pub async fn describe_table(client: &Client, table: &TableName) -> Result<SourceTable, CdcError> {
    let context = "reading a table's definition";
    let row = client
        .query_opt(
            "SELECT c.oid::int8, c.relreplident::text, c.relkind::text,
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relname = $2",
            &[&table.schema, &table.name],
        )
        .await
        .map_err(|e| sql_error(context, &e))?;
    let Some(row) = row else {
        return Err(CdcError::Config {
            reason: format!("table {table} does not exist"),
        });
    };
    let oid: i64 = row.get(0);
    let identity: String = row.get(1);
    let kind: String = row.get(2);
    let has_primary_key: bool = row.get(3);
    let has_identity_index: bool = row.get(4);
    if kind == "p" {
        // Its changes would be published under its partitions' names.
        return Err(CdcError::Config {
            reason: format!(
                "{table} is partitioned: capturing partitioned tables is not supported yet"
            ),
        });
    }
    if kind != "r" {
        return Err(CdcError::Config {
            reason: format!("{table} is not a table (relkind {kind})"),
        });
    }
    let replica_identity = match identity.as_str() {
        "f" => ReplicaIdentity::Full,
        "d" if has_primary_key => ReplicaIdentity::PrimaryKey,
        "i" if has_identity_index => ReplicaIdentity::Index,
        "d" => {
            return Err(CdcError::Config {
                reason: format!(
                    "{table} has no primary key: add one, or set REPLICA IDENTITY FULL or USING INDEX"
                ),
            });
        }
        _ => {
            return Err(CdcError::Config {
                reason: format!(
                    "{table} has REPLICA IDENTITY NOTHING (or a dropped identity index): its updates and deletes cannot be captured"
                ),
            });
        }
    };
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid::int8, a.atttypmod,
                    c.relreplident = 'f' OR COALESCE(a.attnum = ANY (i.indkey::int2[]), false)
               FROM pg_class c
               JOIN pg_attribute a ON a.attrelid = c.oid
               LEFT JOIN pg_index i ON i.indrelid = c.oid
                    AND ((c.relreplident = 'd' AND i.indisprimary)
                      OR (c.relreplident = 'i' AND i.indisreplident))
              WHERE c.oid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped
                AND a.attgenerated = ''
              ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|e| sql_error(context, &e))?;
    let columns = rows
        .iter()
        .map(|r| {
            let type_oid: i64 = r.get(1);
            SourceColumn {
                name: r.get(0),
                type_oid: u32::try_from(type_oid).unwrap_or(0),
                type_modifier: r.get(2),
                key: r.get(3),
            }
        })
        .collect();
    let primary_key = client
        .query(
            "SELECT a.attname::text
               FROM pg_index i
               JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) ON true
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indrelid = $1::int8::oid AND i.indisprimary
              ORDER BY k.n",
            &[&oid],
        )
        .await
        .map_err(|e| sql_error(context, &e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(SourceTable {
        name: table.clone(),
        oid: u32::try_from(oid).unwrap_or(0),
        replica_identity,
        columns,
        primary_key,
    })
}

/// The tables a publication publishes, or `None` if it does not exist.
pub async fn publication_tables(
    client: &Client,
    publication: &str,
) -> Result<Option<Vec<TableName>>, CdcError> {
    let context = "reading a publication";
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(|e| sql_error(context, &e))?
        .is_some();
    if !exists {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables
              WHERE pubname = $1 ORDER BY 1, 2",
            &[&publication],
        )
        .await
        .map_err(|e| sql_error(context, &e))?;
    Ok(Some(
        rows.iter()
            .map(|r| TableName {
                schema: r.get(0),
                name: r.get(1),
            })
            .collect(),
    ))
}

/// Creates a publication of exactly these tables.
pub async fn create_publication(
    client: &Client,
    publication: &str,
    tables: &[TableName],
) -> Result<(), CdcError> {
    check_publication_name(publication)?;
    let list: Vec<String> = tables
        .iter()
        .map(|t| format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name)))
        .collect();
    client
        .batch_execute(&format!(
            "CREATE PUBLICATION {} FOR TABLE {}",
            quote_ident(publication),
            list.join(", ")
        ))
        .await
        .map_err(|e| sql_error("creating the publication", &e))
}

/// A replication slot as `pg_replication_slots` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotState {
    /// The output plugin.
    pub plugin: Option<String>,
    /// The database it decodes.
    pub database: Option<String>,
    /// Whether a walsender is streaming from it now.
    pub active: bool,
    /// Everything before this position is confirmed by the client.
    pub confirmed_flush: Option<Lsn>,
    /// The oldest WAL the slot keeps.
    pub restart_lsn: Option<Lsn>,
    /// WAL kept for the slot, in bytes (`pg_current_wal_lsn() - restart_lsn`).
    pub retained_wal_bytes: Option<i64>,
    /// PostgreSQL's verdict: `reserved`, `extended`, `unreserved` or `lost`.
    pub wal_status: Option<String>,
}

/// The slot named `slot`, or `None` if there is none.
pub async fn slot_state(client: &Client, slot: &str) -> Result<Option<SlotState>, CdcError> {
    check_slot_name(slot)?;
    let row = client
        .query_opt(
            "SELECT plugin::text, database::text, active, confirmed_flush_lsn::text,
                    restart_lsn::text,
                    (pg_current_wal_lsn() - restart_lsn)::int8, wal_status
               FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(|e| sql_error("reading the replication slot", &e))?;
    Ok(row.map(|r| {
        let lsn = |i: usize| r.get::<_, Option<String>>(i).and_then(|t| t.parse().ok());
        SlotState {
            plugin: r.get(0),
            database: r.get(1),
            active: r.get(2),
            confirmed_flush: lsn(3),
            restart_lsn: lsn(4),
            retained_wal_bytes: r.get(5),
            wal_status: r.get(6),
        }
    }))
}

/// Drops a slot from a regular connection (`pg_drop_replication_slot`).
pub async fn drop_slot(client: &Client, slot: &str) -> Result<(), CdcError> {
    check_slot_name(slot)?;
    client
        .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .map_err(|e| sql_error("dropping the replication slot", &e))?;
    Ok(())
}

/// The server's clock, microseconds since 1970 UTC.
pub async fn server_time(client: &Client) -> Result<i64, CdcError> {
    let row = client
        .query_one(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8",
            &[],
        )
        .await
        .map_err(|e| sql_error("reading the server's clock", &e))?;
    Ok(row.get(0))
}

/// Starts a read-only repeatable-read transaction on `client` that sees the
/// exported snapshot `snapshot`, in the session settings of the replication
/// stream (ISO dates, UTC, exact floats, hex `bytea`), so copied values have
/// the text form streamed ones have.
pub async fn begin_snapshot(client: &Client, snapshot: &str) -> Result<(), CdcError> {
    if !snapshot
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(CdcError::Protocol {
            context: "importing the snapshot",
            detail: "a snapshot name with unexpected characters".to_owned(),
        });
    }
    let mut sql = String::new();
    for (name, value) in crate::replication::SESSION_SETTINGS {
        sql.push_str(&format!("SET {name} = '{value}'; "));
    }
    sql.push_str(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
    ));
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| sql_error("importing the slot's snapshot", &e))
}

/// Copies every row of `builder`'s table, as the transaction on `client`
/// sees it, into `builder` as `insert` rows from `origin`. Returns the rows
/// copied.
///
/// The rows come through `COPY ... TO STDOUT` in text form, the form
/// pgoutput sends, so a snapshot row and a streamed row of the same values
/// are equal.
pub async fn copy_table(
    client: &Client,
    builder: &mut HistoryBuilder,
    origin: RowOrigin,
) -> Result<u64, CdcError> {
    let context = "copying a table's rows";
    let columns: Vec<String> = builder
        .columns()
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect();
    let table = builder.table().clone();
    let sql = format!(
        "COPY (SELECT {} FROM {}.{}) TO STDOUT",
        columns.join(", "),
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let stream = client
        .copy_out(&sql)
        .await
        .map_err(|e| sql_error(context, &e))?;
    futures::pin_mut!(stream);
    let mut pending = BytesMut::new();
    let mut scratch = Vec::new();
    let mut fields: Vec<Option<(usize, usize)>> = Vec::with_capacity(columns.len());
    let mut values: Vec<u8> = Vec::new();
    let mut rows: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes = chunk.map_err(|e| sql_error(context, &e))?;
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = memchr_newline(&pending[start..]) {
            let line = &pending[start..start + end];
            read_line(line, &mut scratch, &mut fields, &mut values)?;
            let seq = i64::try_from(rows).unwrap_or(i64::MAX);
            builder.push_text_row(
                ChangeKind::Insert,
                origin,
                seq,
                fields.iter().map(|f| f.map(|(from, to)| &values[from..to])),
            )?;
            rows += 1;
            start += end + 1;
        }
        pending.advance(start);
    }
    if !pending.is_empty() {
        return Err(CdcError::Protocol {
            context,
            detail: "the copy ended inside a row".to_owned(),
        });
    }
    Ok(rows)
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// Splits one COPY line into `values`, remembering each field's range.
fn read_line(
    line: &[u8],
    scratch: &mut Vec<u8>,
    fields: &mut Vec<Option<(usize, usize)>>,
    values: &mut Vec<u8>,
) -> Result<(), CdcError> {
    fields.clear();
    values.clear();
    crate::copy_text::for_each_field(line, scratch, |_, value| {
        fields.push(value.map(|v| {
            let from = values.len();
            values.extend_from_slice(v);
            (from, values.len())
        }));
        Ok::<(), CdcError>(())
    })?;
    Ok(())
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
