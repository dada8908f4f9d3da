//! A client of PostgreSQL's streaming replication protocol, for logical
//! replication: the replication commands (`IDENTIFY_SYSTEM`,
//! `CREATE_REPLICATION_SLOT` with an exported snapshot, `DROP_REPLICATION_SLOT`,
//! `START_REPLICATION`) and the copy-both stream of WAL data and standby
//! status updates.
//!
//! `tokio-postgres` has no replication protocol, and the replication crates
//! of the field do not create a slot with an exported snapshot, which a
//! snapshot without gap or overlap needs. The frontend messages and SCRAM
//! come from `postgres-protocol`, the building blocks of `tokio-postgres`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_postgres::config::{Host, SslMode};

use crate::{CdcError, Lsn};

/// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
pub(crate) const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Settings every replication session gets, so values arrive in one text
/// form whatever the server's defaults: ISO dates, UTC times, floats that
/// read back exactly, hexadecimal `bytea`.
pub(crate) const SESSION_SETTINGS: [(&str, &str); 6] = [
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("TimeZone", "UTC"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    ("IntervalStyle", "postgres"),
];

/// The largest backend message accepted (PostgreSQL's own limit for a
/// value is 1 GiB).
const MAX_MESSAGE: usize = 1 << 30;

trait Socket: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Socket for T {}

/// What `IDENTIFY_SYSTEM` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SystemInfo {
    /// The cluster's system identifier.
    pub system_id: String,
    /// The current timeline.
    pub timeline: u32,
    /// The current WAL flush position.
    pub wal_position: Lsn,
    /// The database connected to.
    pub database: Option<String>,
}

/// A slot made by [`ReplicationConnection::create_slot`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreatedSlot {
    /// The slot's name.
    pub name: String,
    /// The position from which the slot streams: every transaction that
    /// commits after it, and no other.
    pub consistent_point: Lsn,
    /// The exported snapshot (for `SET TRANSACTION SNAPSHOT`), which sees
    /// exactly the transactions committed before the consistent point. It
    /// stays valid until the next command on the replication connection.
    pub snapshot_name: Option<String>,
}

/// One message of the replication stream.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamMessage {
    /// WAL data: one pgoutput message.
    XLogData {
        /// The WAL position the data starts at.
        wal_start: Lsn,
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// When the server sent it (microseconds since 1970).
        sent_at_unix_micros: i64,
        /// The output plugin's message.
        data: Bytes,
    },
    /// The server's heartbeat.
    Keepalive {
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// When the server sent it (microseconds since 1970).
        sent_at_unix_micros: i64,
        /// Whether the server wants a status update now (it disconnects
        /// clients that stay silent past `wal_sender_timeout`).
        reply_requested: bool,
    },
}

impl std::fmt::Debug for StreamMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamMessage::XLogData {
                wal_start,
                wal_end,
                data,
                ..
            } => f
                .debug_struct("XLogData")
                .field("wal_start", wal_start)
                .field("wal_end", wal_end)
                .field("bytes", &data.len())
                .finish_non_exhaustive(),
            StreamMessage::Keepalive {
                wal_end,
                reply_requested,
                ..
            } => f
                .debug_struct("Keepalive")
                .field("wal_end", wal_end)
                .field("reply_requested", reply_requested)
                .finish_non_exhaustive(),
        }
    }
}

/// A connection in replication mode (`replication=database`).
pub struct ReplicationConnection {
    socket: Box<dyn Socket>,
    read: BytesMut,
    write: BytesMut,
}

impl std::fmt::Debug for ReplicationConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationConnection")
            .finish_non_exhaustive()
    }
}

/// Backend messages this client reads, framed but not yet interpreted.
struct Frame {
    tag: u8,
    body: Bytes,
}

impl ReplicationConnection {
    /// Connects for logical replication with the settings of a
    /// `tokio-postgres` configuration (hosts, ports, Unix socket
    /// directories, user, password, database, application name, connect
    /// timeout). Hosts are tried in order.
    ///
    /// TLS is not supported yet: `sslmode=require` is refused with
    /// [`CdcError::Config`]; `prefer` connects without it.
    pub async fn connect(config: &tokio_postgres::Config) -> Result<Self, CdcError> {
        if config.get_ssl_mode() == SslMode::Require {
            return Err(CdcError::Config {
                reason: "sslmode=require: TLS is not supported by the replication client yet"
                    .to_owned(),
            });
        }
        let user = config.get_user().ok_or_else(|| CdcError::Config {
            reason: "no user given".to_owned(),
        })?;
        let hosts = config.get_hosts();
        if hosts.is_empty() {
            return Err(CdcError::Config {
                reason: "no host given".to_owned(),
            });
        }
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(30));
        let mut last = None;
        for (i, host) in hosts.iter().enumerate() {
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match tokio::time::timeout(timeout, open(host, port)).await {
                Ok(Ok(socket)) => {
                    let mut conn = ReplicationConnection {
                        socket,
                        read: BytesMut::with_capacity(64 * 1024),
                        write: BytesMut::with_capacity(1024),
                    };
                    conn.startup(config, user).await?;
                    return Ok(conn);
                }
                Ok(Err(source)) => last = Some(source),
                Err(_) => {
                    last = Some(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connect timed out",
                    ));
                }
            }
        }
        Err(CdcError::Io {
            context: "connecting",
            source: last.unwrap_or_else(|| std::io::Error::other("no host")),
        })
    }

    async fn startup(
        &mut self,
        config: &tokio_postgres::Config,
        user: &str,
    ) -> Result<(), CdcError> {
        let mut params: Vec<(&str, &str)> = vec![
            ("user", user),
            ("database", config.get_dbname().unwrap_or(user)),
            ("replication", "database"),
            (
                "application_name",
                config.get_application_name().unwrap_or("caresync-cdc"),
            ),
        ];
        params.extend(SESSION_SETTINGS);
        frontend::startup_message(params.iter().copied(), &mut self.write)
            .map_err(|e| io_err("sending the startup message", e))?;
        self.flush("sending the startup message").await?;
        self.authenticate(config, user).await?;
        // Parameter statuses and the cancel key, then ready.
        loop {
            let frame = self.frame("starting the session").await?;
            match frame.tag {
                b'Z' => return Ok(()),
                b'S' | b'K' | b'N' => {}
                b'E' => return Err(server_error("the connection", &frame.body)),
                tag => return Err(unexpected("starting the session", tag)),
            }
        }
    }

    async fn authenticate(
        &mut self,
        config: &tokio_postgres::Config,
        user: &str,
    ) -> Result<(), CdcError> {
        let context = "authenticating";
        let password = || {
            config.get_password().ok_or(CdcError::Auth {
                reason: "the server asks for a password and none is configured",
            })
        };
        let mut scram: Option<ScramSha256> = None;
        loop {
            let frame = self.frame(context).await?;
            match frame.tag {
                b'E' => return Err(server_error("the login", &frame.body)),
                b'R' => {}
                tag => return Err(unexpected(context, tag)),
            }
            let mut body = frame.body;
            if body.len() < 4 {
                return Err(protocol(context, "short authentication request"));
            }
            match body.get_i32() {
                0 => return Ok(()),
                3 => {
                    // `password_message` adds the terminating NUL itself.
                    frontend::password_message(password()?, &mut self.write).map_err(|_| {
                        CdcError::Auth {
                            reason: "the password cannot be sent (it holds a NUL byte)",
                        }
                    })?;
                }
                5 => {
                    if body.len() < 4 {
                        return Err(protocol(context, "short MD5 salt"));
                    }
                    let mut salt = [0; 4];
                    body.copy_to_slice(&mut salt);
                    let hashed = md5_hash(user.as_bytes(), password()?, salt);
                    frontend::password_message(hashed.as_bytes(), &mut self.write).map_err(
                        |_| CdcError::Auth {
                            reason: "the MD5 answer cannot be sent",
                        },
                    )?;
                }
                10 => {
                    let offers_scram = body
                        .split(|b| *b == 0)
                        .any(|m| m == SCRAM_SHA_256.as_bytes());
                    if !offers_scram {
                        return Err(CdcError::Auth {
                            reason: "the server offers no SASL mechanism this client has",
                        });
                    }
                    let s = ScramSha256::new(password()?, ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.write)
                        .map_err(|_| CdcError::Auth {
                            reason: "the SCRAM message cannot be sent",
                        })?;
                    scram = Some(s);
                }
                11 => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| protocol(context, "SASL out of order"))?;
                    s.update(&body).map_err(|_| CdcError::Auth {
                        reason: "the server's SCRAM challenge is invalid",
                    })?;
                    frontend::sasl_response(s.message(), &mut self.write).map_err(|_| {
                        CdcError::Auth {
                            reason: "the SCRAM message cannot be sent",
                        }
                    })?;
                }
                12 => {
                    let s = scram
                        .as_mut()
                        .ok_or_else(|| protocol(context, "SASL out of order"))?;
                    s.finish(&body).map_err(|_| CdcError::Auth {
                        reason: "the server's SCRAM proof does not verify",
                    })?;
                    continue;
                }
                _ => {
                    return Err(CdcError::Auth {
                        reason: "the server asks for an authentication method this client lacks (GSS, SSPI, Kerberos)",
                    });
                }
            }
            self.flush(context).await?;
        }
    }

    /// Runs `IDENTIFY_SYSTEM`.
    pub async fn identify_system(&mut self) -> Result<SystemInfo, CdcError> {
        let rows = self
            .simple_query("IDENTIFY_SYSTEM", "IDENTIFY_SYSTEM")
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| protocol("IDENTIFY_SYSTEM", "no row"))?;
        let field = |i: usize| row.get(i).cloned().flatten();
        let lsn = field(2)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| protocol("IDENTIFY_SYSTEM", "no WAL position"))?;
        Ok(SystemInfo {
            system_id: field(0).unwrap_or_default(),
            timeline: field(1).and_then(|t| t.parse().ok()).unwrap_or(0),
            wal_position: lsn,
            database: field(3),
        })
    }

    /// Creates a permanent logical slot for the `pgoutput` plugin and
    /// exports its snapshot. Use the snapshot (on another connection,
    /// `BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT`)
    /// before sending anything else on this one.
    pub async fn create_slot(&mut self, slot: &str) -> Result<CreatedSlot, CdcError> {
        check_slot_name(slot)?;
        let rows = self
            .simple_query(
                "CREATE_REPLICATION_SLOT",
                &format!("CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput (SNAPSHOT 'export')"),
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| protocol("CREATE_REPLICATION_SLOT", "no row"))?;
        let consistent_point = row
            .get(1)
            .cloned()
            .flatten()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| protocol("CREATE_REPLICATION_SLOT", "no consistent point"))?;
        Ok(CreatedSlot {
            name: slot.to_owned(),
            consistent_point,
            snapshot_name: row.get(2).cloned().flatten(),
        })
    }

    /// Drops a slot; with `wait`, waits for a walsender still holding it
    /// to let go instead of failing.
    pub async fn drop_slot(&mut self, slot: &str, wait: bool) -> Result<(), CdcError> {
        check_slot_name(slot)?;
        let wait = if wait { " WAIT" } else { "" };
        self.simple_query(
            "DROP_REPLICATION_SLOT",
            &format!("DROP_REPLICATION_SLOT {slot}{wait}"),
        )
        .await?;
        Ok(())
    }

    /// Starts streaming the slot's changes from `start` (the slot's own
    /// confirmed position when earlier) with pgoutput protocol version 1
    /// for the publications named.
    pub async fn start_replication(
        mut self,
        slot: &str,
        start: Lsn,
        publications: &[String],
    ) -> Result<ReplicationStream, CdcError> {
        check_slot_name(slot)?;
        if publications.is_empty() {
            return Err(CdcError::Config {
                reason: "no publication named".to_owned(),
            });
        }
        let mut names = String::new();
        for (i, p) in publications.iter().enumerate() {
            check_publication_name(p)?;
            if i > 0 {
                names.push(',');
            }
            names.push('"');
            names.push_str(&p.replace('"', "\"\"").replace('\'', "''"));
            names.push('"');
        }
        let command = format!(
            "START_REPLICATION SLOT {slot} LOGICAL {start} (proto_version '1', publication_names '{names}')"
        );
        let context = "START_REPLICATION";
        frontend::query(&command, &mut self.write).map_err(|e| io_err(context, e))?;
        self.flush(context).await?;
        loop {
            let frame = self.frame(context).await?;
            match frame.tag {
                b'W' => break,
                b'N' => {}
                b'E' => {
                    let e = server_error(context, &frame.body);
                    self.drain_to_ready(context).await.ok();
                    return Err(e);
                }
                tag => return Err(unexpected(context, tag)),
            }
        }
        Ok(ReplicationStream {
            conn: self,
            ended: false,
        })
    }

    /// Sends one command and collects its rows as text.
    async fn simple_query(
        &mut self,
        context: &'static str,
        command: &str,
    ) -> Result<Vec<Vec<Option<String>>>, CdcError> {
        frontend::query(command, &mut self.write).map_err(|e| io_err(context, e))?;
        self.flush(context).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let frame = self.frame(context).await?;
            match frame.tag {
                b'T' | b'C' | b'N' | b'S' | b'I' => {}
                b'D' => rows
                    .push(data_row(frame.body).ok_or_else(|| protocol(context, "bad data row"))?),
                b'E' => error = Some(server_error(context, &frame.body)),
                b'Z' => break,
                tag => return Err(unexpected(context, tag)),
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    async fn drain_to_ready(&mut self, context: &'static str) -> Result<(), CdcError> {
        loop {
            if self.frame(context).await?.tag == b'Z' {
                return Ok(());
            }
        }
    }

    async fn flush(&mut self, context: &'static str) -> Result<(), CdcError> {
        self.socket
            .write_all(&self.write)
            .await
            .map_err(|e| io_err(context, e))?;
        self.write.clear();
        self.socket.flush().await.map_err(|e| io_err(context, e))
    }

    /// The next complete backend message. Cancel-safe: bytes read stay in
    /// the buffer until a whole message is there.
    async fn frame(&mut self, context: &'static str) -> Result<Frame, CdcError> {
        loop {
            if self.read.len() >= 5 {
                let tag = self.read[0];
                let len =
                    u32::from_be_bytes([self.read[1], self.read[2], self.read[3], self.read[4]]);
                // PostgreSQL's messages stay below 1 GiB; a larger length is
                // a broken stream, not a reason to reserve gigabytes.
                let Some(len) = usize::try_from(len)
                    .ok()
                    .filter(|l| (4..=MAX_MESSAGE).contains(l))
                else {
                    return Err(protocol(context, "invalid message length"));
                };
                if self.read.len() > len {
                    let mut frame = self.read.split_to(len + 1);
                    frame.advance(5);
                    return Ok(Frame {
                        tag,
                        body: frame.freeze(),
                    });
                }
                self.read.reserve(len + 1 - self.read.len());
            }
            let n = self
                .socket
                .read_buf(&mut self.read)
                .await
                .map_err(|e| io_err(context, e))?;
            if n == 0 {
                return Err(CdcError::Closed { context });
            }
        }
    }
}

/// The copy-both stream started by [`ReplicationConnection::start_replication`].
pub struct ReplicationStream {
    conn: ReplicationConnection,
    ended: bool,
}

impl std::fmt::Debug for ReplicationStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationStream")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl ReplicationStream {
    /// The next message, or `None` once the server ended the stream.
    ///
    /// Cancel-safe: it can be raced against a timer in `tokio::select!`
    /// without losing data.
    pub async fn next(&mut self) -> Result<Option<StreamMessage>, CdcError> {
        let context = STREAMING;
        loop {
            if self.ended {
                return Ok(None);
            }
            let frame = self.conn.frame(context).await?;
            match frame.tag {
                b'd' => return parse_copy_data(frame.body).map(Some),
                // CopyDone, or (a walsender ending at server shutdown)
                // CommandComplete straight away.
                b'c' | b'C' | b'Z' => self.ended = true,
                b'N' => {}
                b'E' => return Err(server_error(context, &frame.body)),
                tag => return Err(unexpected(context, tag)),
            }
        }
    }

    /// Tells the server how far the client got: `flushed` is the position
    /// up to which every change is durable downstream; the slot keeps WAL
    /// from there on and a restarted stream resumes there.
    pub async fn send_status(
        &mut self,
        written: Lsn,
        flushed: Lsn,
        reply_requested: bool,
    ) -> Result<(), CdcError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let mut body = BytesMut::with_capacity(34);
        body.put_u8(b'r');
        body.put_u64(written.as_u64());
        body.put_u64(flushed.as_u64());
        body.put_u64(flushed.as_u64());
        body.put_i64(now - PG_EPOCH_UNIX_MICROS);
        body.put_u8(u8::from(reply_requested));
        frontend::CopyData::new(body.freeze())
            .map_err(|e| io_err("sending a status update", e))?
            .write(&mut self.conn.write);
        self.conn.flush("sending a status update").await
    }

    /// Ends the stream politely: sends a last status update and closes the
    /// connection.
    pub async fn close(mut self, written: Lsn, flushed: Lsn) -> Result<(), CdcError> {
        self.send_status(written, flushed, false).await?;
        frontend::terminate(&mut self.conn.write);
        self.conn.flush("closing the stream").await
    }
}

async fn open(host: &Host, port: u16) -> std::io::Result<Box<dyn Socket>> {
    match host {
        Host::Tcp(name) => {
            let stream = tokio::net::TcpStream::connect((name.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream))
        }
        Host::Unix(dir) => {
            let path = socket_path(dir, port);
            Ok(Box::new(tokio::net::UnixStream::connect(path).await?))
        }
    }
}

fn socket_path(dir: &Path, port: u16) -> std::path::PathBuf {
    // As libpq: a host naming the socket file itself is used as is.
    if dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".s.PGSQL."))
    {
        dir.to_path_buf()
    } else {
        dir.join(format!(".s.PGSQL.{port}"))
    }
}

fn parse_copy_data(mut body: Bytes) -> Result<StreamMessage, CdcError> {
    let context = "streaming changes";
    if body.is_empty() {
        return Err(protocol(context, "empty copy data"));
    }
    match body.get_u8() {
        b'w' if body.len() >= 24 => {
            let wal_start = Lsn(body.get_u64());
            let wal_end = Lsn(body.get_u64());
            let sent = body.get_i64();
            Ok(StreamMessage::XLogData {
                wal_start,
                wal_end,
                sent_at_unix_micros: sent.saturating_add(PG_EPOCH_UNIX_MICROS),
                data: body,
            })
        }
        b'k' if body.len() >= 17 => {
            let wal_end = Lsn(body.get_u64());
            let sent = body.get_i64();
            Ok(StreamMessage::Keepalive {
                wal_end,
                sent_at_unix_micros: sent.saturating_add(PG_EPOCH_UNIX_MICROS),
                reply_requested: body.get_u8() == 1,
            })
        }
        b'w' | b'k' => Err(protocol(context, "short WAL message")),
        tag => Err(protocol(
            context,
            &format!("copy data of kind {:?}", char::from(tag)),
        )),
    }
}

/// A `DataRow` as text columns.
fn data_row(mut body: Bytes) -> Option<Vec<Option<String>>> {
    if body.len() < 2 {
        return None;
    }
    let n = usize::try_from(body.get_i16()).ok()?;
    let mut row = Vec::with_capacity(n.min(body.len()));
    for _ in 0..n {
        if body.len() < 4 {
            return None;
        }
        let len = body.get_i32();
        if len < 0 {
            row.push(None);
            continue;
        }
        let len = usize::try_from(len).ok()?;
        if body.len() < len {
            return None;
        }
        let value = body.split_to(len);
        row.push(Some(String::from_utf8_lossy(&value).into_owned()));
    }
    Some(row)
}

/// An `ErrorResponse` reduced to its SQLSTATE and message.
///
/// While streaming, the message is not kept: errors raised while decoding
/// (an output function, an encoding conversion) can quote a value.
fn server_error(context: &'static str, body: &[u8]) -> CdcError {
    let mut sqlstate = String::from("XX000");
    let mut message = String::new();
    for field in body.split(|b| *b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value);
        match kind {
            b'C' => sqlstate = value.into_owned(),
            b'M' => message = value.into_owned(),
            _ => {}
        }
    }
    if context == STREAMING {
        message = "(not kept: it may quote a value)".to_owned();
    }
    CdcError::Server {
        context,
        sqlstate,
        message,
    }
}

const STREAMING: &str = "streaming changes";

fn unexpected(context: &'static str, tag: u8) -> CdcError {
    protocol(context, &format!("message {:?}", char::from(tag)))
}

fn protocol(context: &'static str, detail: &str) -> CdcError {
    CdcError::Protocol {
        context,
        detail: detail.to_owned(),
    }
}

fn io_err(context: &'static str, source: std::io::Error) -> CdcError {
    CdcError::Io { context, source }
}

/// Slot names are what PostgreSQL allows: lower-case letters, digits and
/// underscores, at most 63 bytes.
pub(crate) fn check_slot_name(name: &str) -> Result<(), CdcError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > 63 {
        Some("longer than 63 bytes")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("only lower-case letters, digits and underscores are allowed")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(CdcError::InvalidName {
            what: "slot",
            name: name.to_owned(),
            reason,
        }),
    }
}

pub(crate) fn check_publication_name(name: &str) -> Result<(), CdcError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > 63 {
        Some("longer than 63 bytes")
    } else if name.bytes().any(|b| b == 0 || b == b',') {
        Some("contains a NUL or a comma")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(CdcError::InvalidName {
            what: "publication",
            name: name.to_owned(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_are_checked() {
        assert!(check_slot_name("caresync_1").is_ok());
        for bad in ["", "Upper", "a-b", "a b", &"x".repeat(64)] {
            let e = check_slot_name(bad).expect_err(bad);
            assert_eq!(e.code(), "CDC-0008");
        }
    }

    #[test]
    fn keepalive_and_xlogdata_are_read() {
        let mut k = BytesMut::new();
        k.put_u8(b'k');
        k.put_u64(0x1_0000_0010);
        k.put_i64(0);
        k.put_u8(1);
        let m = parse_copy_data(k.freeze()).expect("keepalive");
        assert_eq!(
            m,
            StreamMessage::Keepalive {
                wal_end: Lsn(0x1_0000_0010),
                sent_at_unix_micros: PG_EPOCH_UNIX_MICROS,
                reply_requested: true,
            }
        );
        let mut w = BytesMut::new();
        w.put_u8(b'w');
        w.put_u64(5);
        w.put_u64(9);
        w.put_i64(1);
        w.put_slice(b"Bxyz");
        match parse_copy_data(w.freeze()).expect("xlogdata") {
            StreamMessage::XLogData {
                wal_start, data, ..
            } => {
                assert_eq!(wal_start, Lsn(5));
                assert_eq!(&data[..], b"Bxyz");
            }
            other => panic!("{other:?}"),
        }
        let short = Bytes::from_static(b"w\0\0");
        assert_eq!(
            parse_copy_data(short).expect_err("short").code(),
            "CDC-0006"
        );
    }

    #[test]
    fn server_errors_keep_sqlstate_and_message() {
        let body = b"SERROR\0C42704\0Mreplication slot \"x\" does not exist\0\0";
        match server_error("START_REPLICATION", body) {
            CdcError::Server {
                sqlstate, message, ..
            } => {
                assert_eq!(sqlstate, "42704");
                assert_eq!(message, "replication slot \"x\" does not exist");
            }
            other => panic!("{other:?}"),
        }
    }
}
