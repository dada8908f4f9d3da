//! The error type of the replication client and the change capture.

use crate::Lsn;

/// Everything that can go wrong talking to PostgreSQL's replication
/// protocol or turning its changes into rows.
///
/// Messages name slots, publications, tables, columns and positions, never
/// a row value. Server errors keep their SQLSTATE and message: on a
/// replication connection only replication commands run, whose messages
/// name slots, publications and settings, not rows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CdcError {
    /// The connection settings cannot be used for replication.
    #[error("[CDC-0002] cannot connect for replication: {reason}")]
    Config {
        /// What is missing or unsupported.
        reason: String,
    },

    /// The socket could not be opened, read or written.
    #[error("[CDC-0003] replication connection failed while {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The server asked for an authentication method this client lacks, or
    /// authentication failed on the client side.
    #[error("[CDC-0004] authentication failed: {reason}")]
    Auth {
        /// Why.
        reason: &'static str,
    },

    /// The server refused a command.
    #[error("[CDC-0005] PostgreSQL refused {context} (SQLSTATE {sqlstate}): {message}")]
    Server {
        /// What was being done (`"START_REPLICATION"`).
        context: &'static str,
        /// The SQLSTATE code.
        sqlstate: String,
        /// The server's message.
        message: String,
    },

    /// The server sent something the protocol does not allow here.
    #[error("[CDC-0006] unexpected replication protocol message while {context}: {detail}")]
    Protocol {
        /// What was being done.
        context: &'static str,
        /// What arrived.
        detail: String,
    },

    /// The server closed the connection.
    #[error("[CDC-0007] the server closed the replication connection while {context}")]
    Closed {
        /// What was being done.
        context: &'static str,
    },

    /// A slot or publication name that this client does not send.
    #[error("[CDC-0008] invalid {what} name {name:?}: {reason}")]
    InvalidName {
        /// `"slot"` or `"publication"`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },

    /// A change refers to a relation the stream never described.
    #[error("[CDC-0009] change at {lsn} refers to relation {relation_id}, which was not described")]
    UnknownRelation {
        /// The relation's OID.
        relation_id: u32,
        /// Where in the WAL.
        lsn: Lsn,
    },

    /// A change's row does not have the relation's columns.
    #[error("[CDC-0010] change at {lsn} to {table} has {found} values for {expected} columns")]
    ColumnCount {
        /// The table.
        table: String,
        /// Where in the WAL.
        lsn: Lsn,
        /// Columns described.
        expected: usize,
        /// Values received.
        found: usize,
    },

    /// A pgoutput message could not be decoded.
    #[error(transparent)]
    Decode(#[from] crate::pgoutput::DecodeError),

    /// A value could not be read as its column's type.
    #[error("column {column} of {table}: {source}")]
    Value {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Why, without the value.
        #[source]
        source: crate::value::ValueError,
    },

    /// A line of a snapshot copy could not be split into fields.
    #[error(transparent)]
    CopyText(#[from] crate::copy_text::CopyTextError),

    /// A regular (non-replication) statement failed.
    #[error("[CDC-0011] PostgreSQL failed while {context}: {summary}")]
    Sql {
        /// What was being done.
        context: &'static str,
        /// SQLSTATE and the objects the server named.
        summary: String,
    },
}

impl CdcError {
    /// The stable code of this error (`CDC-0002`...).
    pub fn code(&self) -> &'static str {
        match self {
            CdcError::Config { .. } => "CDC-0002",
            CdcError::Io { .. } => "CDC-0003",
            CdcError::Auth { .. } => "CDC-0004",
            CdcError::Server { .. } => "CDC-0005",
            CdcError::Protocol { .. } => "CDC-0006",
            CdcError::Closed { .. } => "CDC-0007",
            CdcError::InvalidName { .. } => "CDC-0008",
            CdcError::UnknownRelation { .. } => "CDC-0009",
            CdcError::ColumnCount { .. } => "CDC-0010",
            CdcError::Sql { .. } => "CDC-0011",
            CdcError::Decode(e) => e.code(),
            CdcError::CopyText(e) => e.code(),
            CdcError::Value { source, .. } => source.code(),
        }
    }

    /// Whether the connection broke (or the server went away) rather than
    /// the data or the configuration being wrong: reconnecting later and
    /// resuming from the slot may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CdcError::Io { .. } | CdcError::Closed { .. } => true,
            // 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
            // connect now, 55006 object in use (the slot is still held by a
            // walsender that has not noticed its client left), 08xxx
            // connection exceptions.
            CdcError::Server { sqlstate, .. }
            | CdcError::Sql {
                summary: sqlstate, ..
            } => {
                sqlstate.starts_with("57P")
                    || sqlstate.starts_with("08")
                    || sqlstate.starts_with("55006")
            }
            _ => false,
        }
    }
}

/// Reduces a `tokio-postgres` error to its SQLSTATE and the objects the
/// server named: the server's message may quote a value.
pub(crate) fn sql_error(context: &'static str, error: &tokio_postgres::Error) -> CdcError {
    let summary = match error.as_db_error() {
        Some(db) => {
            let mut s = db.code().code().to_owned();
            for (what, name) in [
                ("schema", db.schema()),
                ("table", db.table()),
                ("column", db.column()),
                ("constraint", db.constraint()),
            ] {
                if let Some(name) = name {
                    s.push_str(&format!(", {what} {name}"));
                }
            }
            s
        }
        None if error.is_closed() => "08006, connection closed".to_owned(),
        None => format!("08000, {}", error_kind(error)),
    };
    CdcError::Sql { context, summary }
}

fn error_kind(error: &tokio_postgres::Error) -> String {
    // The client's own errors (I/O, protocol) carry no row values; keep the
    // first line only.
    error
        .to_string()
        .lines()
        .next()
        .unwrap_or("client error")
        .to_owned()
}
