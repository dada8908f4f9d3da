//! The one error type of this crate.

use tokio_postgres::error::DbError;

/// Everything that can go wrong in `caresync-pg`.
///
/// Messages name tables, columns, row numbers within a batch and SQLSTATE
/// codes, never a row value. Server errors are reduced to their SQLSTATE and
/// the objects they name (schema, table, column, constraint): the server's
/// own message and detail may quote the value that failed (a duplicate key,
/// say), so they are not kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// An Arrow column type with no PostgreSQL counterpart here.
    #[error("[PG-0001] column {column} has type {arrow_type}, which has no PostgreSQL mapping")]
    UnsupportedType {
        /// The column.
        column: String,
        /// The Arrow type, as Arrow prints it.
        arrow_type: String,
    },

    /// The table definition is unusable on its own: no key, a key column
    /// that is not a column, a nullable key column, an empty name.
    #[error("[PG-0002] invalid definition of table {table}: {detail}")]
    InvalidTable {
        /// The table.
        table: String,
        /// What is wrong, naming columns.
        detail: String,
    },

    /// A batch does not have the table's columns (names, order, types).
    #[error("[PG-0003] batch does not match table {table}: {detail}")]
    SchemaMismatch {
        /// The table.
        table: String,
        /// What differs, naming columns.
        detail: String,
    },

    /// A value PostgreSQL cannot store: a text holding a NUL byte, a date or
    /// time outside PostgreSQL's range, a null in a key column.
    #[error(
        "[PG-0004] value in column {column}, row {row} of the batch, cannot be stored: {reason}"
    )]
    BadValue {
        /// The column.
        column: String,
        /// The row within its batch (0-based).
        row: usize,
        /// Why, without the value.
        reason: &'static str,
    },

    /// The source holds two rows with the same key.
    #[error("[PG-0005] the rows loaded into {table} repeat a key (constraint {constraint})")]
    DuplicateKey {
        /// The table.
        table: String,
        /// The unique constraint that refused them.
        constraint: String,
    },

    /// The batches could not be read from their source.
    #[error("[PG-0006] reading the source batches of {table} failed: {reason}")]
    Source {
        /// The table being loaded.
        table: String,
        /// What the source reported.
        reason: String,
    },

    /// The server refused a statement, or the connection failed.
    #[error("[PG-0007] PostgreSQL failed while {context}: {summary}")]
    Database {
        /// What was being done (`"copying rows into the staging table"`).
        context: &'static str,
        /// SQLSTATE and the objects named by the server, or the client's
        /// description of a connection failure.
        summary: String,
        /// The SQLSTATE, when the server sent one.
        sqlstate: Option<String>,
    },
}

impl PgError {
    /// The stable code of this error (`PG-0001`...).
    pub fn code(&self) -> &'static str {
        match self {
            PgError::UnsupportedType { .. } => "PG-0001",
            PgError::InvalidTable { .. } => "PG-0002",
            PgError::SchemaMismatch { .. } => "PG-0003",
            PgError::BadValue { .. } => "PG-0004",
            PgError::DuplicateKey { .. } => "PG-0005",
            PgError::Source { .. } => "PG-0006",
            PgError::Database { .. } => "PG-0007",
        }
    }

    /// Whether retrying the same work later may succeed: the connection
    /// broke, the server is starting or shutting down, or a transaction
    /// lost a serialization conflict or a deadlock.
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Database { sqlstate: None, .. } => true,
            PgError::Database {
                sqlstate: Some(s), ..
            } => {
                // Class 08 connection exception, 40 transaction rollback,
                // 57P01..57P03 admin shutdown / crash shutdown / cannot connect now.
                s.starts_with("08")
                    || s.starts_with("40")
                    || matches!(s.as_str(), "57P01" | "57P02" | "57P03")
            }
            _ => false,
        }
    }

    /// A [`PgError::Database`] from a client error, keeping only what names
    /// no value.
    pub fn from_client(context: &'static str, e: &tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => PgError::Database {
                context,
                summary: summarize(db),
                sqlstate: Some(db.code().code().to_owned()),
            },
            None => PgError::Database {
                context,
                // Client-side failures (I/O, closed connection, protocol)
                // describe the connection, not the data.
                summary: e.to_string(),
                sqlstate: None,
            },
        }
    }
}

/// SQLSTATE plus the schema, table, column and constraint the server named.
fn summarize(db: &DbError) -> String {
    let mut s = format!("SQLSTATE {}", db.code().code());
    for (what, name) in [
        ("schema", db.schema()),
        ("table", db.table()),
        ("column", db.column()),
        ("constraint", db.constraint()),
    ] {
        if let Some(n) = name {
            s.push_str(&format!(", {what} {n}"));
        }
    }
    s
}
