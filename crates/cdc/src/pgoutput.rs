//! Decoding of PostgreSQL's `pgoutput` logical replication messages, protocol
//! versions 1 and 2, as PostgreSQL 15 sends them.
//!
//! Each XLogData payload holds one message, starting with its type byte. A
//! [`Decoder`] reads the messages of one replication connection in order: it
//! has to, because inside a streamed transaction (protocol version 2, between
//! Stream Start and Stream Stop) the data messages carry an extra
//! transaction id that nothing in the message itself announces.
//!
//! Decoded messages borrow names and column values from the input; decoding
//! allocates one `Vec` per tuple, column list or relation list and nothing per
//! value. Tuple values never appear in `Debug` output or in errors, only
//! their kinds and lengths: they are patient data.
//!
//! ```
//! use caresync_cdc::pgoutput::{Decoder, Message, Value};
//!
//! // An Insert into relation 16384 of the row ('42', NULL).
//! let wire = b"I\x00\x00\x40\x00N\x00\x02t\x00\x00\x00\x0242n";
//! let mut decoder = Decoder::new();
//! let Message::Insert(insert) = decoder.decode(wire)? else {
//!     panic!("an insert");
//! };
//! assert_eq!(insert.relation_id, 16384);
//! assert_eq!(insert.xid, None);
//! assert_eq!(insert.new.values(), [Value::Text(b"42"), Value::Null]);
//! assert_eq!(format!("{:?}", insert.new), "Tuple[Text(2 bytes), Null]");
//! # Ok::<(), caresync_cdc::pgoutput::DecodeError>(())
//! ```

use std::fmt;

use crate::Lsn;

/// Each column of a Relation message takes at least this many bytes: flags,
/// an empty name's NUL, the type OID and the type modifier.
const MIN_COLUMN_LEN: usize = 1 + 1 + 4 + 4;

/// Decodes `pgoutput` messages one at a time, in the order the server sent
/// them.
///
/// It remembers whether a streamed transaction is open (between Stream Start
/// and Stream Stop): there, Relation, Type, Insert, Update, Delete, Truncate
/// and logical decoding Message carry the id of the (sub)transaction they
/// belong to, and outside they do not. Begin and Commit do not touch this
/// state, and a message that fails to decode leaves it as it was.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    in_stream: bool,
}

impl Decoder {
    /// A decoder at the start of a replication stream, outside any streamed
    /// transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a streamed transaction's segment is open: a Stream Start was
    /// decoded and its Stream Stop not yet.
    pub fn in_stream(&self) -> bool {
        self.in_stream
    }

    /// Decodes one message: the payload of one XLogData message, starting
    /// with the `pgoutput` message type byte.
    ///
    /// The whole payload must be one message; bytes left over after it are
    /// an error ([`DecodeErrorKind::TrailingBytes`]).
    pub fn decode<'a>(&mut self, data: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        let Some((&message_type, _)) = data.split_first() else {
            return Err(DecodeError {
                kind: DecodeErrorKind::Empty,
                offset: 0,
                message_type: None,
            });
        };
        let mut r = Reader {
            data,
            pos: 1,
            message_type,
        };
        let in_stream = self.in_stream;
        let message = match message_type {
            b'B' => Message::Begin(Begin {
                final_lsn: r.lsn()?,
                commit_time: r.timestamp()?,
                xid: r.u32()?,
            }),
            b'C' => Message::Commit(Commit {
                flags: r.u8()?,
                commit_lsn: r.lsn()?,
                end_lsn: r.lsn()?,
                commit_time: r.timestamp()?,
            }),
            b'O' => Message::Origin(Origin {
                commit_lsn: r.lsn()?,
                name: r.string()?,
            }),
            b'R' => Message::Relation(r.relation(in_stream)?),
            b'Y' => Message::Type(TypeInfo {
                xid: r.xid(in_stream)?,
                oid: r.u32()?,
                namespace: r.string()?,
                name: r.string()?,
            }),
            b'I' => Message::Insert(r.insert(in_stream)?),
            b'U' => Message::Update(r.update(in_stream)?),
            b'D' => Message::Delete(r.delete(in_stream)?),
            b'T' => Message::Truncate(r.truncate(in_stream)?),
            b'M' => Message::LogicalMessage(r.logical_message(in_stream)?),
            b'S' => Message::StreamStart(StreamStart {
                xid: r.u32()?,
                first_segment: r.u8()? != 0,
            }),
            b'E' => Message::StreamStop,
            b'c' => Message::StreamCommit(StreamCommit {
                xid: r.u32()?,
                flags: r.u8()?,
                commit_lsn: r.lsn()?,
                end_lsn: r.lsn()?,
                commit_time: r.timestamp()?,
            }),
            b'A' => Message::StreamAbort(StreamAbort {
                xid: r.u32()?,
                subtransaction_xid: r.u32()?,
            }),
            _ => return Err(r.error(DecodeErrorKind::UnknownMessageType, 0)),
        };
        if r.pos < data.len() {
            return Err(r.error(DecodeErrorKind::TrailingBytes, r.pos));
        }
        match message {
            Message::StreamStart(_) => self.in_stream = true,
            Message::StreamStop => self.in_stream = false,
            _ => {}
        }
        Ok(message)
    }
}

/// One decoded `pgoutput` message. Names and values borrow from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// `B`: a transaction begins.
    Begin(Begin),
    /// `C`: the transaction commits.
    Commit(Commit),
    /// `O`: the transaction came from another node through replication.
    Origin(Origin<'a>),
    /// `R`: a relation's columns, sent before its first change and after it
    /// changes.
    Relation(Relation<'a>),
    /// `Y`: a data type's name, sent before a change to a column of a
    /// non-builtin type.
    Type(TypeInfo<'a>),
    /// `I`: a row was inserted.
    Insert(Insert<'a>),
    /// `U`: a row was updated.
    Update(Update<'a>),
    /// `D`: a row was deleted.
    Delete(Delete<'a>),
    /// `T`: tables were truncated.
    Truncate(Truncate),
    /// `M`: a logical decoding message (`pg_logical_emit_message`).
    LogicalMessage(LogicalMessage<'a>),
    /// `S`: a segment of a streamed transaction begins (protocol 2).
    StreamStart(StreamStart),
    /// `E`: the segment of a streamed transaction ends (protocol 2).
    StreamStop,
    /// `c`: a streamed transaction commits (protocol 2).
    StreamCommit(StreamCommit),
    /// `A`: a streamed (sub)transaction aborts (protocol 2).
    StreamAbort(StreamAbort),
}

/// A transaction begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Begin {
    /// The LSN of the transaction's commit record.
    pub final_lsn: Lsn,
    /// When the transaction committed.
    pub commit_time: Timestamp,
    /// The transaction's id.
    pub xid: u32,
}

/// A transaction commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Flags; PostgreSQL 15 sends 0.
    pub flags: u8,
    /// The LSN of the commit record.
    pub commit_lsn: Lsn,
    /// The LSN just after the commit record: where to resume after it.
    pub end_lsn: Lsn,
    /// When the transaction committed.
    pub commit_time: Timestamp,
}

/// The transaction came from another node through replication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The LSN of the commit on the origin node.
    pub commit_lsn: Lsn,
    /// The replication origin's name.
    pub name: &'a str,
}

/// A relation's shape: the columns that changes to it send, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation<'a> {
    /// The streamed transaction this belongs to, inside a stream only.
    pub xid: Option<u32>,
    /// The relation's OID, which data messages name it by.
    pub id: u32,
    /// The schema; empty for `pg_catalog`.
    pub namespace: &'a str,
    /// The relation's name.
    pub name: &'a str,
    /// Which old values updates and deletes send.
    pub replica_identity: ReplicaIdentity,
    /// The published columns (generated columns are never sent).
    pub columns: Vec<Column<'a>>,
}

/// A relation's `REPLICA IDENTITY` (`relreplident` in `pg_class`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplicaIdentity {
    /// `d`: the primary key's columns.
    Default,
    /// `n`: no old values at all.
    Nothing,
    /// `f`: every column of the old row.
    Full,
    /// `i`: the columns of a chosen unique index.
    Index,
}

/// One column of a [`Relation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column<'a> {
    /// Whether the column is part of the replica identity (flag bit 1).
    pub part_of_key: bool,
    /// The column's name.
    pub name: &'a str,
    /// The OID of the column's data type.
    pub type_oid: u32,
    /// The column's type modifier (`atttypmod`), -1 when it has none.
    pub type_modifier: i32,
}

/// A data type's name, sent before its OID is first used in a relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeInfo<'a> {
    /// The streamed transaction this belongs to, inside a stream only.
    pub xid: Option<u32>,
    /// The type's OID.
    pub oid: u32,
    /// The type's schema; empty for `pg_catalog`.
    pub namespace: &'a str,
    /// The type's name.
    pub name: &'a str,
}

/// A row was inserted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insert<'a> {
    /// The streamed (sub)transaction this belongs to, inside a stream only.
    pub xid: Option<u32>,
    /// The OID of the relation, as in its [`Relation`] message.
    pub relation_id: u32,
    /// The new row.
    pub new: Tuple<'a>,
}

/// A row was updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<'a> {
    /// The streamed (sub)transaction this belongs to, inside a stream only.
    pub xid: Option<u32>,
    /// The OID of the relation, as in its [`Relation`] message.
    pub relation_id: u32,
    /// The old row or its key: with `REPLICA IDENTITY FULL` always, else only
    /// when the update changed a key column.
    pub old: Option<OldTuple<'a>>,
    /// The new row; TOASTed values the update did not touch are
    /// [`Value::Unchanged`].
    pub new: Tuple<'a>,
}

/// A row was deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete<'a> {
    /// The streamed (sub)transaction this belongs to, inside a stream only.
    pub xid: Option<u32>,
    /// The OID of the relation, as in its [`Relation`] message.
    pub relation_id: u32,
    /// The deleted row's key, or the whole row with `REPLICA IDENTITY FULL`.
    pub old: OldTuple<'a>,
}

/// The old side of an update or delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OldTuple<'a> {
    /// `K`: only the replica identity's columns; the others are
    /// [`Value::Null`].
    Key(Tuple<'a>),
    /// `O`: the whole old row (`REPLICA IDENTITY FULL`).
    Full(Tuple<'a>),
}

impl<'a> OldTuple<'a> {
    /// The values, whichever kind this is.
    pub fn tuple(&self) -> &Tuple<'a> {
        match self {
            OldTuple::Key(t) | OldTuple::Full(t) => t,
        }
    }
}

/// Tables were truncated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncate {
    /// The streamed (sub)transaction this belongs to, inside a stream only.
    pub xid: Option<u32>,
    /// `TRUNCATE ... CASCADE` (option bit 1).
    pub cascade: bool,
    /// `TRUNCATE ... RESTART IDENTITY` (option bit 2).
    pub restart_identity: bool,
    /// The OIDs of the truncated relations.
    pub relation_ids: Vec<u32>,
}

/// A logical decoding message written with `pg_logical_emit_message`.
///
/// PostgreSQL puts the transaction id on the wire whenever the message is
/// sent inside a streamed transaction; only transactional messages are, so
/// `xid` is `Some` only for those. Its `Debug` shows the content's length,
/// not the content.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LogicalMessage<'a> {
    /// The streamed (sub)transaction this belongs to, inside a stream only.
    pub xid: Option<u32>,
    /// Whether the message belongs to its transaction (flag bit 1) rather
    /// than being sent at once.
    pub transactional: bool,
    /// The LSN of the message.
    pub lsn: Lsn,
    /// The prefix the writer chose.
    pub prefix: &'a str,
    /// The content, as written.
    pub content: &'a [u8],
}

impl fmt::Debug for LogicalMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogicalMessage")
            .field("xid", &self.xid)
            .field("transactional", &self.transactional)
            .field("lsn", &self.lsn)
            .field("prefix", &self.prefix)
            .field("content", &format_args!("{} bytes", self.content.len()))
            .finish()
    }
}

/// A segment of a streamed transaction begins; the data messages up to the
/// next Stream Stop carry a transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamStart {
    /// The top-level transaction being streamed.
    pub xid: u32,
    /// Whether this is the transaction's first segment.
    pub first_segment: bool,
}

/// A streamed transaction commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamCommit {
    /// The top-level transaction.
    pub xid: u32,
    /// Flags; PostgreSQL 15 sends 0.
    pub flags: u8,
    /// The LSN of the commit record.
    pub commit_lsn: Lsn,
    /// The LSN just after the commit record.
    pub end_lsn: Lsn,
    /// When the transaction committed.
    pub commit_time: Timestamp,
}

/// A streamed transaction, or one of its subtransactions, aborts: its
/// streamed changes are to be discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamAbort {
    /// The top-level transaction.
    pub xid: u32,
    /// The aborted subtransaction; equal to `xid` when the whole transaction
    /// aborts.
    pub subtransaction_xid: u32,
}

/// The column values of one row, in the order of the relation's columns.
///
/// Its `Debug` shows each value's kind and length, never its bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tuple<'a> {
    values: Vec<Value<'a>>,
}

impl<'a> Tuple<'a> {
    /// The values, one per column.
    pub fn values(&self) -> &[Value<'a>] {
        &self.values
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the tuple has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of column `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&Value<'a>> {
        self.values.get(index)
    }
}

impl<'a> From<Vec<Value<'a>>> for Tuple<'a> {
    fn from(values: Vec<Value<'a>>) -> Self {
        Self { values }
    }
}

impl fmt::Debug for Tuple<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tuple")?;
        f.debug_list().entries(&self.values).finish()
    }
}

/// One column value of a [`Tuple`].
///
/// Its `Debug` shows the kind and length, never the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `n`: SQL NULL (also every non-key column of an [`OldTuple::Key`]).
    Null,
    /// `u`: a TOASTed value the change did not touch, so it was not sent.
    Unchanged,
    /// `t`: the value in the type's text output format.
    Text(&'a [u8]),
    /// `b`: the value in the type's binary format (the `binary` option).
    Binary(&'a [u8]),
}

impl<'a> Value<'a> {
    /// The bytes of a text or binary value.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Text(b) | Value::Binary(b) => Some(b),
            Value::Null | Value::Unchanged => None,
        }
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Unchanged => f.write_str("Unchanged"),
            Value::Text(b) => write!(f, "Text({} bytes)", b.len()),
            Value::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

/// A point in time as PostgreSQL sends it: microseconds since
/// 2000-01-01 00:00:00 UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
    pub const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

    /// Microseconds since 1970-01-01 00:00:00 UTC, saturating at the ends of
    /// `i64` (PostgreSQL's `infinity` stays the largest value).
    pub const fn unix_micros(self) -> i64 {
        self.0.saturating_add(Self::POSTGRES_EPOCH_UNIX_MICROS)
    }
}

/// A message that is not a well-formed `pgoutput` message of protocol
/// version 1 or 2.
///
/// It says which message type and which byte offset (counting the type byte
/// as 0), never the message's content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[{code}] {detail}", code = self.code(), detail = Detail(self))]
#[non_exhaustive]
pub struct DecodeError {
    kind: DecodeErrorKind,
    offset: usize,
    message_type: Option<u8>,
}

/// What is wrong with a message; each kind has its own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// `CDC-0100`: the payload is empty.
    Empty,
    /// `CDC-0101`: the message ends inside a field; the offset is where that
    /// field starts.
    Truncated,
    /// `CDC-0102`: the type byte is not one of protocol version 1 or 2 (the
    /// two-phase messages of version 3 are not supported).
    UnknownMessageType,
    /// `CDC-0103`: a tuple value's kind is not `n`, `u`, `t` or `b`.
    BadValueKind,
    /// `CDC-0104`: a name is not NUL-terminated or not UTF-8.
    BadString,
    /// `CDC-0105`: a relation's replica identity is not `d`, `n`, `f` or `i`.
    UnknownReplicaIdentity,
    /// `CDC-0106`: an Insert, Update or Delete has a tuple tag other than
    /// the ones it may have (`N`; `K`, `O` then `N`; `K` or `O`).
    UnexpectedTupleTag,
    /// `CDC-0107`: bytes follow the end of the message.
    TrailingBytes,
    /// `CDC-0108`: a column count, value length or relation count is
    /// negative.
    NegativeLength,
}

impl DecodeError {
    /// What is wrong.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }

    /// The byte offset in the message (the type byte is 0) where the
    /// problem is: for a truncated message, where the field that does not
    /// fit starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The message's type byte; `None` for an empty message.
    pub fn message_type(&self) -> Option<u8> {
        self.message_type
    }

    /// The stable code of the kind, such as `CDC-0101`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            DecodeErrorKind::Empty => "CDC-0100",
            DecodeErrorKind::Truncated => "CDC-0101",
            DecodeErrorKind::UnknownMessageType => "CDC-0102",
            DecodeErrorKind::BadValueKind => "CDC-0103",
            DecodeErrorKind::BadString => "CDC-0104",
            DecodeErrorKind::UnknownReplicaIdentity => "CDC-0105",
            DecodeErrorKind::UnexpectedTupleTag => "CDC-0106",
            DecodeErrorKind::TrailingBytes => "CDC-0107",
            DecodeErrorKind::NegativeLength => "CDC-0108",
        }
    }
}

/// The text of a [`DecodeError`] after its code.
struct Detail<'e>(&'e DecodeError);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DecodeError {
            kind,
            offset,
            message_type,
        } = *self.0;
        let Some(ty) = message_type else {
            return f.write_str("empty pgoutput message");
        };
        let ty = TypeByte(ty);
        let what = match kind {
            DecodeErrorKind::Empty => return f.write_str("empty pgoutput message"),
            DecodeErrorKind::UnknownMessageType => {
                return write!(
                    f,
                    "unknown pgoutput message type {ty} (protocol versions 1 and 2 are supported)"
                );
            }
            DecodeErrorKind::Truncated => "truncated",
            DecodeErrorKind::BadValueKind => "has a tuple value kind other than n, u, t or b",
            DecodeErrorKind::BadString => "has a name that is not NUL-terminated UTF-8",
            DecodeErrorKind::UnknownReplicaIdentity => {
                "has a replica identity other than d, n, f or i"
            }
            DecodeErrorKind::UnexpectedTupleTag => "has an unexpected tuple tag",
            DecodeErrorKind::TrailingBytes => "has trailing bytes",
            DecodeErrorKind::NegativeLength => "has a negative count or length",
        };
        write!(f, "pgoutput message {ty} {what} at byte {offset}")
    }
}

/// A message type byte as `'I'`, or `0x00` when it is not printable.
struct TypeByte(u8);

impl fmt::Display for TypeByte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            write!(f, "'{}'", char::from(self.0))
        } else {
            write!(f, "{:#04x}", self.0)
        }
    }
}

/// A cursor over one message.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    message_type: u8,
}

impl<'a> Reader<'a> {
    fn error(&self, kind: DecodeErrorKind, offset: usize) -> DecodeError {
        DecodeError {
            kind,
            offset,
            message_type: Some(self.message_type),
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        match self.rest().get(..n) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(self.error(DecodeErrorKind::Truncated, self.pos)),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.rest().first_chunk::<N>() {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(self.error(DecodeErrorKind::Truncated, self.pos)),
        }
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array().map(|[b]| b)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.array().map(i32::from_be_bytes)
    }

    fn lsn(&mut self) -> Result<Lsn, DecodeError> {
        self.array().map(|b| Lsn(u64::from_be_bytes(b)))
    }

    fn timestamp(&mut self) -> Result<Timestamp, DecodeError> {
        self.array().map(|b| Timestamp(i64::from_be_bytes(b)))
    }

    /// The transaction id that data messages carry inside a stream.
    fn xid(&mut self, present: bool) -> Result<Option<u32>, DecodeError> {
        if present {
            self.u32().map(Some)
        } else {
            Ok(None)
        }
    }

    /// An Int16 count; negative is an error.
    fn count16(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = i16::from_be_bytes(self.array()?);
        usize::try_from(n).map_err(|_| self.error(DecodeErrorKind::NegativeLength, at))
    }

    /// An Int32 count or length; negative is an error.
    fn count32(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.i32()?;
        usize::try_from(n).map_err(|_| self.error(DecodeErrorKind::NegativeLength, at))
    }

    /// A NUL-terminated UTF-8 string.
    fn string(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let rest = self.rest();
        let text = rest
            .iter()
            .position(|&b| b == 0)
            .and_then(|nul| rest.get(..nul))
            .and_then(|name| std::str::from_utf8(name).ok())
            .ok_or_else(|| self.error(DecodeErrorKind::BadString, at))?;
        self.pos += text.len() + 1;
        Ok(text)
    }

    fn relation(&mut self, in_stream: bool) -> Result<Relation<'a>, DecodeError> {
        let xid = self.xid(in_stream)?;
        let id = self.u32()?;
        let namespace = self.string()?;
        let name = self.string()?;
        let at = self.pos;
        let replica_identity = match self.u8()? {
            b'd' => ReplicaIdentity::Default,
            b'n' => ReplicaIdentity::Nothing,
            b'f' => ReplicaIdentity::Full,
            b'i' => ReplicaIdentity::Index,
            _ => return Err(self.error(DecodeErrorKind::UnknownReplicaIdentity, at)),
        };
        let n = self.count16()?;
        let mut columns = Vec::with_capacity(n.min(self.rest().len() / MIN_COLUMN_LEN));
        for _ in 0..n {
            columns.push(Column {
                part_of_key: self.u8()? & 1 != 0,
                name: self.string()?,
                type_oid: self.u32()?,
                type_modifier: self.i32()?,
            });
        }
        Ok(Relation {
            xid,
            id,
            namespace,
            name,
            replica_identity,
            columns,
        })
    }

    fn tuple(&mut self) -> Result<Tuple<'a>, DecodeError> {
        let n = self.count16()?;
        // Every value takes at least its kind byte.
        let mut values = Vec::with_capacity(n.min(self.rest().len()));
        for _ in 0..n {
            let at = self.pos;
            let value = match self.u8()? {
                b'n' => Value::Null,
                b'u' => Value::Unchanged,
                b't' => {
                    let len = self.count32()?;
                    Value::Text(self.bytes(len)?)
                }
                b'b' => {
                    let len = self.count32()?;
                    Value::Binary(self.bytes(len)?)
                }
                _ => return Err(self.error(DecodeErrorKind::BadValueKind, at)),
            };
            values.push(value);
        }
        Ok(Tuple { values })
    }

    /// A tuple tag that must be `N`, then the new tuple.
    fn new_tuple(&mut self) -> Result<Tuple<'a>, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            b'N' => self.tuple(),
            _ => Err(self.error(DecodeErrorKind::UnexpectedTupleTag, at)),
        }
    }

    fn insert(&mut self, in_stream: bool) -> Result<Insert<'a>, DecodeError> {
        Ok(Insert {
            xid: self.xid(in_stream)?,
            relation_id: self.u32()?,
            new: self.new_tuple()?,
        })
    }

    fn update(&mut self, in_stream: bool) -> Result<Update<'a>, DecodeError> {
        let xid = self.xid(in_stream)?;
        let relation_id = self.u32()?;
        let at = self.pos;
        let (old, new) = match self.u8()? {
            b'K' => (Some(OldTuple::Key(self.tuple()?)), self.new_tuple()?),
            b'O' => (Some(OldTuple::Full(self.tuple()?)), self.new_tuple()?),
            b'N' => (None, self.tuple()?),
            _ => return Err(self.error(DecodeErrorKind::UnexpectedTupleTag, at)),
        };
        Ok(Update {
            xid,
            relation_id,
            old,
            new,
        })
    }

    fn delete(&mut self, in_stream: bool) -> Result<Delete<'a>, DecodeError> {
        let xid = self.xid(in_stream)?;
        let relation_id = self.u32()?;
        let at = self.pos;
        let old = match self.u8()? {
            b'K' => OldTuple::Key(self.tuple()?),
            b'O' => OldTuple::Full(self.tuple()?),
            _ => return Err(self.error(DecodeErrorKind::UnexpectedTupleTag, at)),
        };
        Ok(Delete {
            xid,
            relation_id,
            old,
        })
    }

    fn truncate(&mut self, in_stream: bool) -> Result<Truncate, DecodeError> {
        let xid = self.xid(in_stream)?;
        let n = self.count32()?;
        let options = self.u8()?;
        let mut relation_ids = Vec::with_capacity(n.min(self.rest().len() / 4));
        for _ in 0..n {
            relation_ids.push(self.u32()?);
        }
        Ok(Truncate {
            xid,
            cascade: options & 1 != 0,
            restart_identity: options & 2 != 0,
            relation_ids,
        })
    }

    /// The xid comes before the flags, so its presence cannot depend on
    /// them: PostgreSQL (`pgoutput_message`) writes it whenever a stream is
    /// open, and sends non-transactional messages only outside streams.
    fn logical_message(&mut self, in_stream: bool) -> Result<LogicalMessage<'a>, DecodeError> {
        let xid = self.xid(in_stream)?;
        let flags = self.u8()?;
        let lsn = self.lsn()?;
        let prefix = self.string()?;
        let len = self.count32()?;
        let content = self.bytes(len)?;
        Ok(LogicalMessage {
            xid,
            transactional: flags & 1 != 0,
            lsn,
            prefix,
            content,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Writes messages in the wire form PostgreSQL sends, so tests can build
    /// them from values. An `xid` of `Some` is written, `None` is not.
    #[derive(Default)]
    struct Writer(Vec<u8>);

    impl Writer {
        fn u8(&mut self, v: u8) -> &mut Self {
            self.0.push(v);
            self
        }
        fn i16(&mut self, v: i16) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn i32(&mut self, v: i32) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn u64(&mut self, v: u64) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn i64(&mut self, v: i64) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn raw(&mut self, v: &[u8]) -> &mut Self {
            self.0.extend_from_slice(v);
            self
        }
        fn str(&mut self, v: &str) -> &mut Self {
            self.raw(v.as_bytes()).u8(0)
        }
        fn counted(&mut self, v: &[u8]) -> &mut Self {
            self.i32(i32::try_from(v.len()).expect("small")).raw(v)
        }
        fn xid(&mut self, xid: Option<u32>) -> &mut Self {
            if let Some(x) = xid {
                self.u32(x);
            }
            self
        }
        fn tuple(&mut self, t: &Tuple<'_>) -> &mut Self {
            self.i16(i16::try_from(t.len()).expect("small"));
            for v in t.values() {
                match v {
                    Value::Null => self.u8(b'n'),
                    Value::Unchanged => self.u8(b'u'),
                    Value::Text(b) => self.u8(b't').counted(b),
                    Value::Binary(b) => self.u8(b'b').counted(b),
                };
            }
            self
        }
        fn old(&mut self, old: &OldTuple<'_>) -> &mut Self {
            match old {
                OldTuple::Key(t) => self.u8(b'K').tuple(t),
                OldTuple::Full(t) => self.u8(b'O').tuple(t),
            }
        }
    }

    fn encode(message: &Message<'_>) -> Vec<u8> {
        let mut w = Writer::default();
        match message {
            Message::Begin(m) => {
                w.u8(b'B')
                    .u64(m.final_lsn.0)
                    .i64(m.commit_time.0)
                    .u32(m.xid);
            }
            Message::Commit(m) => {
                w.u8(b'C')
                    .u8(m.flags)
                    .u64(m.commit_lsn.0)
                    .u64(m.end_lsn.0)
                    .i64(m.commit_time.0);
            }
            Message::Origin(m) => {
                w.u8(b'O').u64(m.commit_lsn.0).str(m.name);
            }
            Message::Relation(m) => {
                let identity = match m.replica_identity {
                    ReplicaIdentity::Default => b'd',
                    ReplicaIdentity::Nothing => b'n',
                    ReplicaIdentity::Full => b'f',
                    ReplicaIdentity::Index => b'i',
                };
                w.u8(b'R')
                    .xid(m.xid)
                    .u32(m.id)
                    .str(m.namespace)
                    .str(m.name)
                    .u8(identity);
                w.i16(i16::try_from(m.columns.len()).expect("small"));
                for c in &m.columns {
                    w.u8(u8::from(c.part_of_key))
                        .str(c.name)
                        .u32(c.type_oid)
                        .i32(c.type_modifier);
                }
            }
            Message::Type(m) => {
                w.u8(b'Y')
                    .xid(m.xid)
                    .u32(m.oid)
                    .str(m.namespace)
                    .str(m.name);
            }
            Message::Insert(m) => {
                w.u8(b'I')
                    .xid(m.xid)
                    .u32(m.relation_id)
                    .u8(b'N')
                    .tuple(&m.new);
            }
            Message::Update(m) => {
                w.u8(b'U').xid(m.xid).u32(m.relation_id);
                if let Some(old) = &m.old {
                    w.old(old);
                }
                w.u8(b'N').tuple(&m.new);
            }
            Message::Delete(m) => {
                w.u8(b'D').xid(m.xid).u32(m.relation_id).old(&m.old);
            }
            Message::Truncate(m) => {
                let options = u8::from(m.cascade) | (u8::from(m.restart_identity) << 1);
                w.u8(b'T')
                    .xid(m.xid)
                    .i32(i32::try_from(m.relation_ids.len()).expect("small"));
                w.u8(options);
                for id in &m.relation_ids {
                    w.u32(*id);
                }
            }
            Message::LogicalMessage(m) => {
                w.u8(b'M')
                    .xid(m.xid)
                    .u8(u8::from(m.transactional))
                    .u64(m.lsn.0);
                w.str(m.prefix).counted(m.content);
            }
            Message::StreamStart(m) => {
                w.u8(b'S').u32(m.xid).u8(u8::from(m.first_segment));
            }
            Message::StreamStop => {
                w.u8(b'E');
            }
            Message::StreamCommit(m) => {
                w.u8(b'c')
                    .u32(m.xid)
                    .u8(m.flags)
                    .u64(m.commit_lsn.0)
                    .u64(m.end_lsn.0);
                w.i64(m.commit_time.0);
            }
            Message::StreamAbort(m) => {
                w.u8(b'A').u32(m.xid).u32(m.subtransaction_xid);
            }
        }
        w.0
    }

    /// Whether the message can only be decoded inside (`Some(true)`) or
    /// outside (`Some(false)`) a stream.
    fn needs_stream(message: &Message<'_>) -> Option<bool> {
        let xid = match message {
            Message::Relation(m) => m.xid,
            Message::Type(m) => m.xid,
            Message::Insert(m) => m.xid,
            Message::Update(m) => m.xid,
            Message::Delete(m) => m.xid,
            Message::Truncate(m) => m.xid,
            Message::LogicalMessage(m) => m.xid,
            _ => return None,
        };
        Some(xid.is_some())
    }

    fn decoder(in_stream: bool) -> Decoder {
        Decoder { in_stream }
    }

    fn decode_err(in_stream: bool, data: &[u8]) -> DecodeError {
        match decoder(in_stream).decode(data) {
            Ok(m) => panic!("decoded {m:?}, expected an error"),
            Err(e) => e,
        }
    }

    #[track_caller]
    fn assert_err(in_stream: bool, data: &[u8], code: &str, offset: usize) {
        let e = decode_err(in_stream, data);
        assert_eq!((e.code(), e.offset()), (code, offset), "{e}");
        assert!(e.to_string().starts_with(&format!("[{code}] ")), "{e}");
    }

    /// The relation `public.patients (id int4 key, name text)` and an insert
    /// into it, byte for byte as PostgreSQL 15 sends them.
    fn relation_bytes() -> Vec<u8> {
        let mut b = b"R\x00\x00\x40\x00public\0patients\0d\x00\x02".to_vec();
        b.extend_from_slice(b"\x01id\0\x00\x00\x00\x17\xff\xff\xff\xff");
        b.extend_from_slice(b"\x00name\0\x00\x00\x00\x19\xff\xff\xff\xff");
        b
    }

    const INSERT_BYTES: &[u8] =
        b"I\x00\x00\x40\x00N\x00\x02t\x00\x00\x00\x017t\x00\x00\x00\x08Jane Doe";

    #[test]
    fn decodes_a_relation_and_an_insert_as_postgresql_sends_them() {
        let mut d = Decoder::new();
        let relation = relation_bytes();
        let Ok(Message::Relation(r)) = d.decode(&relation) else {
            panic!("a relation")
        };
        assert_eq!(
            r,
            Relation {
                xid: None,
                id: 16384,
                namespace: "public",
                name: "patients",
                replica_identity: ReplicaIdentity::Default,
                columns: vec![
                    Column {
                        part_of_key: true,
                        name: "id",
                        type_oid: 23,
                        type_modifier: -1
                    },
                    Column {
                        part_of_key: false,
                        name: "name",
                        type_oid: 25,
                        type_modifier: -1
                    },
                ],
            }
        );
        let Ok(Message::Insert(i)) = d.decode(INSERT_BYTES) else {
            panic!("an insert")
        };
        assert_eq!((i.xid, i.relation_id), (None, 16384));
        assert_eq!(
            i.new.values(),
            [Value::Text(b"7"), Value::Text(b"Jane Doe")]
        );
        assert_eq!(i.new.get(1).and_then(Value::bytes), Some(&b"Jane Doe"[..]));
    }

    #[test]
    fn decodes_begin_and_commit() {
        let begin =
            b"B\x00\x00\x00\x01\x00\x00\x00\x28\x00\x02\xc8\x7e\x1f\x2a\x14\x00\x00\x00\x02\xff";
        assert_eq!(
            Decoder::new().decode(begin),
            Ok(Message::Begin(Begin {
                final_lsn: Lsn(0x1_0000_0028),
                commit_time: Timestamp(0x0002_c87e_1f2a_1400),
                xid: 0x2ff,
            }))
        );
        let commit = Writer::default()
            .u8(b'C')
            .u8(0)
            .u64(0x1_0000_0028)
            .u64(0x1_0000_0058)
            .i64(7)
            .0
            .clone();
        assert_eq!(
            Decoder::new().decode(&commit),
            Ok(Message::Commit(Commit {
                flags: 0,
                commit_lsn: Lsn(0x1_0000_0028),
                end_lsn: Lsn(0x1_0000_0058),
                commit_time: Timestamp(7),
            }))
        );
    }

    #[test]
    fn data_messages_carry_an_xid_only_inside_a_stream() {
        let mut d = Decoder::new();
        let start = b"S\x00\x00\x03\x00\x01";
        assert_eq!(
            d.decode(start),
            Ok(Message::StreamStart(StreamStart {
                xid: 0x300,
                first_segment: true
            }))
        );
        assert!(d.in_stream());
        let streamed = b"I\x00\x00\x03\x01\x00\x00\x40\x00N\x00\x01n";
        let Ok(Message::Insert(i)) = d.decode(streamed) else {
            panic!("an insert")
        };
        assert_eq!(
            (i.xid, i.relation_id, i.new.values()),
            (Some(0x301), 16384, &[Value::Null][..])
        );
        // Begin and Commit do not end the stream; only Stream Stop does.
        let commit = encode(&Message::Commit(Commit {
            flags: 0,
            commit_lsn: Lsn(1),
            end_lsn: Lsn(2),
            commit_time: Timestamp(3),
        }));
        assert!(d.decode(&commit).is_ok());
        assert!(d.in_stream());
        assert_eq!(d.decode(b"E"), Ok(Message::StreamStop));
        assert!(!d.in_stream());
        // Outside the stream, the same bytes read the xid as the relation id
        // and then find no 'N'.
        let e = d.decode(streamed).expect_err("no xid outside a stream");
        assert_eq!((e.code(), e.offset()), ("CDC-0106", 5));
        let Ok(Message::Insert(i)) = d.decode(INSERT_BYTES) else {
            panic!("an insert")
        };
        assert_eq!(i.xid, None);
    }

    #[test]
    fn logical_messages_carry_an_xid_only_inside_a_stream() {
        let body = b"\x01\x00\x00\x00\x00\x00\x00\x00\x10caresync\0\x00\x00\x00\x05hello";
        let outside = [&b"M"[..], body].concat();
        let inside = [&b"M\x00\x00\x03\x00"[..], body].concat();
        let expected = |xid| {
            Message::LogicalMessage(LogicalMessage {
                xid,
                transactional: true,
                lsn: Lsn(16),
                prefix: "caresync",
                content: b"hello",
            })
        };
        assert_eq!(decoder(false).decode(&outside), Ok(expected(None)));
        assert_eq!(decoder(true).decode(&inside), Ok(expected(Some(0x300))));
        // Read in the wrong state, the xid shifts every field after it.
        let Ok(Message::LogicalMessage(shifted)) = decoder(true).decode(&outside) else {
            panic!()
        };
        assert_eq!((shifted.xid, shifted.prefix), (Some(0x0100_0000), "sync"));
        let shown = format!("{:?}", expected(None));
        assert!(
            shown.contains("content: 5 bytes") && !shown.contains("hello"),
            "{shown}"
        );
        // A non-transactional message, as PostgreSQL sends it outside streams.
        let flags_at = 1;
        let mut plain = outside.clone();
        plain[flags_at] = 0;
        let Ok(Message::LogicalMessage(m)) = decoder(false).decode(&plain) else {
            panic!()
        };
        assert!(!m.transactional && m.xid.is_none());
    }

    #[test]
    fn decodes_update_delete_truncate_and_stream_ends() {
        let key = Tuple::from(vec![Value::Text(b"7"), Value::Null]);
        let full = Tuple::from(vec![Value::Binary(b"\x00\x07"), Value::Unchanged]);
        let new = Tuple::from(vec![Value::Text(b"8"), Value::Unchanged]);
        let update = b"U\x00\x00\x40\x00K\x00\x02t\x00\x00\x00\x017nN\x00\x02t\x00\x00\x00\x018u";
        assert_eq!(
            decoder(false).decode(update),
            Ok(Message::Update(Update {
                xid: None,
                relation_id: 16384,
                old: Some(OldTuple::Key(key.clone())),
                new: new.clone(),
            }))
        );
        let update =
            b"U\x00\x00\x40\x00O\x00\x02b\x00\x00\x00\x02\x00\x07uN\x00\x02t\x00\x00\x00\x018u";
        let Ok(Message::Update(u)) = decoder(false).decode(update) else {
            panic!("an update")
        };
        assert_eq!(u.old, Some(OldTuple::Full(full.clone())));
        let update = b"U\x00\x00\x40\x00N\x00\x02t\x00\x00\x00\x018u";
        let Ok(Message::Update(u)) = decoder(false).decode(update) else {
            panic!("an update")
        };
        assert_eq!((u.old, u.new), (None, new));
        let delete = b"D\x00\x00\x00\x09\x00\x00\x40\x00K\x00\x02t\x00\x00\x00\x017n";
        assert_eq!(
            decoder(true).decode(delete),
            Ok(Message::Delete(Delete {
                xid: Some(9),
                relation_id: 16384,
                old: OldTuple::Key(key.clone()),
            }))
        );
        let truncate = b"T\x00\x00\x00\x02\x03\x00\x00\x40\x00\x00\x00\x40\x01";
        assert_eq!(
            decoder(false).decode(truncate),
            Ok(Message::Truncate(Truncate {
                xid: None,
                cascade: true,
                restart_identity: true,
                relation_ids: vec![16384, 16385],
            }))
        );
        assert_eq!(
            decoder(false).decode(b"A\x00\x00\x03\x00\x00\x00\x03\x05"),
            Ok(Message::StreamAbort(StreamAbort {
                xid: 0x300,
                subtransaction_xid: 0x305
            }))
        );
        let Ok(Message::StreamCommit(c)) =
            decoder(false).decode(&encode(&Message::StreamCommit(StreamCommit {
                xid: 0x300,
                flags: 0,
                commit_lsn: Lsn(5),
                end_lsn: Lsn(6),
                commit_time: Timestamp(-1),
            })))
        else {
            panic!("a stream commit")
        };
        assert_eq!(
            (c.xid, c.end_lsn, c.commit_time),
            (0x300, Lsn(6), Timestamp(-1))
        );
        let Ok(Message::Type(t)) = decoder(false).decode(b"Y\x00\x00\x50\x00public\0mood\0") else {
            panic!("a type")
        };
        assert_eq!(
            (t.xid, t.oid, t.namespace, t.name),
            (None, 0x5000, "public", "mood")
        );
        let Ok(Message::Origin(o)) =
            decoder(false).decode(b"O\x00\x00\x00\x00\x00\x00\x00\x09node_a\0")
        else {
            panic!("an origin")
        };
        assert_eq!((o.commit_lsn, o.name), (Lsn(9), "node_a"));
    }

    #[test]
    fn truncated_messages_say_where_the_missing_field_starts() {
        let begin = encode(&Message::Begin(Begin {
            final_lsn: Lsn(1),
            commit_time: Timestamp(2),
            xid: 3,
        }));
        // final_lsn is bytes 1..9, commit_time 9..17, xid 17..21.
        assert_err(false, &begin[..10], "CDC-0101", 9);
        assert_err(false, &begin[..20], "CDC-0101", 17);
        assert_err(false, &begin[..1], "CDC-0101", 1);
        // The second value's 8 bytes start at byte 19; 3 of them are here.
        assert_err(false, &INSERT_BYTES[..22], "CDC-0101", 19);
        // Its length field starts at byte 15.
        assert_err(false, &INSERT_BYTES[..17], "CDC-0101", 15);
        assert_eq!(
            decode_err(false, &INSERT_BYTES[..22]).to_string(),
            "[CDC-0101] pgoutput message 'I' truncated at byte 19"
        );
        // A name cut before its NUL.
        assert_err(false, &relation_bytes()[..9], "CDC-0104", 5);
    }

    #[test]
    fn a_failed_message_leaves_the_stream_state_alone() {
        let mut d = Decoder::new();
        assert!(d.decode(b"S\x00\x00\x03").is_err());
        assert!(!d.in_stream());
        assert!(d.decode(b"S\x00\x00\x03\x00\x00").is_ok());
        assert!(d.decode(b"E\x00").is_err());
        assert!(d.in_stream());
    }

    #[test]
    fn malformed_messages_get_their_codes() {
        assert_err(false, b"", "CDC-0100", 0);
        assert_eq!(
            decode_err(false, b"").to_string(),
            "[CDC-0100] empty pgoutput message"
        );
        assert_eq!(decode_err(false, b"").message_type(), None);
        // Two-phase messages (protocol version 3) are not supported.
        assert_err(false, b"P\x00", "CDC-0102", 0);
        assert_eq!(
            decode_err(false, b"\x00").to_string(),
            "[CDC-0102] unknown pgoutput message type 0x00 (protocol versions 1 and 2 are supported)"
        );
        assert_err(false, b"I\x00\x00\x40\x00N\x00\x01x", "CDC-0103", 8);
        assert_err(false, b"Y\x00\x00\x50\x00pub\xfflic\0mood\0", "CDC-0104", 5);
        assert_err(false, b"Y\x00\x00\x50\x00public\0mood", "CDC-0104", 12);
        let mut relation = relation_bytes();
        relation[21] = b'x';
        assert_err(false, &relation, "CDC-0105", 21);
        assert_eq!(
            decode_err(false, &relation).to_string(),
            "[CDC-0105] pgoutput message 'R' has a replica identity other than d, n, f or i at byte 21"
        );
        assert_err(false, b"I\x00\x00\x40\x00K\x00\x00", "CDC-0106", 5);
        assert_err(false, b"D\x00\x00\x40\x00N\x00\x00", "CDC-0106", 5);
        assert_err(false, b"U\x00\x00\x40\x00K\x00\x00K\x00\x00", "CDC-0106", 8);
        assert_err(false, b"U\x00\x00\x40\x00X\x00\x00", "CDC-0106", 5);
        assert_err(false, b"E\x00", "CDC-0107", 1);
        assert_err(
            false,
            &[INSERT_BYTES, b"n"].concat(),
            "CDC-0107",
            INSERT_BYTES.len(),
        );
        assert_err(false, b"I\x00\x00\x40\x00N\xff\xff", "CDC-0108", 6);
        assert_err(
            false,
            b"I\x00\x00\x40\x00N\x00\x01t\xff\xff\xff\xff",
            "CDC-0108",
            9,
        );
        assert_err(false, b"T\x80\x00\x00\x00\x00", "CDC-0108", 1);
        assert_err(
            false,
            b"M\x01\x00\x00\x00\x00\x00\x00\x00\x10p\0\xff\xff\xff\xfe",
            "CDC-0108",
            12,
        );
    }

    #[test]
    fn errors_never_show_values() {
        // A value cut short, and a bad kind right after a value.
        let cut = &INSERT_BYTES[..INSERT_BYTES.len() - 1];
        let bad = [&INSERT_BYTES[..14], b"x"].concat();
        for data in [cut, &bad[..]] {
            let e = decode_err(false, data);
            let text = format!("{e} {e:?}");
            assert!(!text.contains("Jane") && !text.contains("Doe"), "{text}");
        }
    }

    #[test]
    fn claimed_counts_beyond_the_bytes_fail_without_reserving_them() {
        // 32767 columns claimed, none there.
        let mut relation = relation_bytes();
        relation.truncate(22);
        relation.extend_from_slice(b"\x7f\xff");
        assert_err(false, &relation, "CDC-0101", 24);
        // 2^31 - 1 relations claimed, two there.
        assert_err(
            false,
            b"T\x7f\xff\xff\xff\x00\x00\x00\x00\x01\x00\x00\x00\x02",
            "CDC-0101",
            14,
        );
        // A value of 2 GiB claimed.
        assert_err(
            false,
            b"I\x00\x00\x40\x00N\x00\x01t\x7f\xff\xff\xff",
            "CDC-0101",
            13,
        );
        assert_err(false, b"I\x00\x00\x40\x00N\x7f\xffn", "CDC-0101", 9);
    }

    #[test]
    fn debug_shows_kinds_and_lengths_never_values() {
        let Ok(message) = Decoder::new().decode(INSERT_BYTES) else {
            panic!("an insert")
        };
        let shown = format!("{message:?} {message:#?}");
        assert!(!shown.contains("Jane") && !shown.contains("Doe"), "{shown}");
        assert!(
            shown.contains("Tuple[Text(1 bytes), Text(8 bytes)]"),
            "{shown}"
        );
        let tuple = Tuple::from(vec![
            Value::Binary(b"secret"),
            Value::Unchanged,
            Value::Null,
        ]);
        assert_eq!(
            format!("{tuple:?}"),
            "Tuple[Binary(6 bytes), Unchanged, Null]"
        );
    }

    #[test]
    fn timestamps_convert_to_unix_micros() {
        assert_eq!(Timestamp(0).unix_micros(), 946_684_800_000_000);
        assert_eq!(Timestamp(-946_684_800_000_000).unix_micros(), 0);
        assert_eq!(Timestamp(i64::MAX).unix_micros(), i64::MAX);
        assert_eq!(
            Timestamp(i64::MIN).unix_micros(),
            i64::MIN + 946_684_800_000_000
        );
    }

    /// Strings and bytes for generated messages. Messages borrow, so the
    /// strategies leak their (small) buffers to give them a `'static` home.
    fn any_name() -> impl Strategy<Value = &'static str> {
        "[^\u{0}]{0,10}".prop_map(|s| &*Box::leak(s.into_boxed_str()))
    }

    fn any_bytes() -> impl Strategy<Value = &'static [u8]> {
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| &*Box::leak(b.into_boxed_slice()))
    }

    fn any_tuple() -> impl Strategy<Value = Tuple<'static>> {
        let value = prop_oneof![
            Just(Value::Null),
            Just(Value::Unchanged),
            any_bytes().prop_map(Value::Text),
            any_bytes().prop_map(Value::Binary),
        ];
        prop::collection::vec(value, 0..6).prop_map(Tuple::from)
    }

    fn any_old() -> impl Strategy<Value = OldTuple<'static>> {
        prop_oneof![
            any_tuple().prop_map(OldTuple::Key),
            any_tuple().prop_map(OldTuple::Full)
        ]
    }

    fn any_message() -> impl Strategy<Value = Message<'static>> {
        let xid = || proptest::option::of(any::<u32>());
        let lsn = || any::<u64>().prop_map(Lsn);
        let ts = || any::<i64>().prop_map(Timestamp);
        let identity = prop_oneof![
            Just(ReplicaIdentity::Default),
            Just(ReplicaIdentity::Nothing),
            Just(ReplicaIdentity::Full),
            Just(ReplicaIdentity::Index),
        ];
        let column = (any::<bool>(), any_name(), any::<u32>(), any::<i32>()).prop_map(
            |(part_of_key, name, type_oid, type_modifier)| Column {
                part_of_key,
                name,
                type_oid,
                type_modifier,
            },
        );
        prop_oneof![
            (lsn(), ts(), any::<u32>()).prop_map(|(final_lsn, commit_time, xid)| {
                Message::Begin(Begin {
                    final_lsn,
                    commit_time,
                    xid,
                })
            }),
            (any::<u8>(), lsn(), lsn(), ts()).prop_map(
                |(flags, commit_lsn, end_lsn, commit_time)| {
                    Message::Commit(Commit {
                        flags,
                        commit_lsn,
                        end_lsn,
                        commit_time,
                    })
                }
            ),
            (lsn(), any_name())
                .prop_map(|(commit_lsn, name)| Message::Origin(Origin { commit_lsn, name })),
            (
                xid(),
                any::<u32>(),
                any_name(),
                any_name(),
                identity,
                prop::collection::vec(column, 0..5)
            )
                .prop_map(|(xid, id, namespace, name, replica_identity, columns)| {
                    Message::Relation(Relation {
                        xid,
                        id,
                        namespace,
                        name,
                        replica_identity,
                        columns,
                    })
                }),
            (xid(), any::<u32>(), any_name(), any_name()).prop_map(
                |(xid, oid, namespace, name)| {
                    Message::Type(TypeInfo {
                        xid,
                        oid,
                        namespace,
                        name,
                    })
                }
            ),
            (xid(), any::<u32>(), any_tuple()).prop_map(|(xid, relation_id, new)| {
                Message::Insert(Insert {
                    xid,
                    relation_id,
                    new,
                })
            }),
            (
                xid(),
                any::<u32>(),
                proptest::option::of(any_old()),
                any_tuple()
            )
                .prop_map(|(xid, relation_id, old, new)| Message::Update(Update {
                    xid,
                    relation_id,
                    old,
                    new
                })),
            (xid(), any::<u32>(), any_old()).prop_map(|(xid, relation_id, old)| {
                Message::Delete(Delete {
                    xid,
                    relation_id,
                    old,
                })
            }),
            (
                xid(),
                any::<bool>(),
                any::<bool>(),
                prop::collection::vec(any::<u32>(), 0..5)
            )
                .prop_map(|(xid, cascade, restart_identity, relation_ids)| {
                    Message::Truncate(Truncate {
                        xid,
                        cascade,
                        restart_identity,
                        relation_ids,
                    })
                }),
            (xid(), any::<bool>(), lsn(), any_name(), any_bytes()).prop_map(
                |(xid, transactional, lsn, prefix, content)| {
                    Message::LogicalMessage(LogicalMessage {
                        xid,
                        transactional,
                        lsn,
                        prefix,
                        content,
                    })
                }
            ),
            (any::<u32>(), any::<bool>()).prop_map(|(xid, first_segment)| {
                Message::StreamStart(StreamStart { xid, first_segment })
            }),
            Just(Message::StreamStop),
            (any::<u32>(), any::<u8>(), lsn(), lsn(), ts()).prop_map(
                |(xid, flags, commit_lsn, end_lsn, commit_time)| {
                    Message::StreamCommit(StreamCommit {
                        xid,
                        flags,
                        commit_lsn,
                        end_lsn,
                        commit_time,
                    })
                }
            ),
            (any::<u32>(), any::<u32>()).prop_map(|(xid, subtransaction_xid)| {
                Message::StreamAbort(StreamAbort {
                    xid,
                    subtransaction_xid,
                })
            }),
        ]
    }

    const MESSAGE_TYPES: &[u8] = b"BCORYIUDTMSEcA";

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(messages in prop::collection::vec(any_message(), 1..12)) {
            let mut d = Decoder::new();
            for message in messages {
                // Open or close a stream as the message's xid requires.
                if let Some(want) = needs_stream(&message)
                    && d.in_stream() != want
                {
                    let switch = if want {
                        Message::StreamStart(StreamStart { xid: 1, first_segment: false })
                    } else {
                        Message::StreamStop
                    };
                    let bytes = encode(&switch);
                    prop_assert_eq!(d.decode(&bytes), Ok(switch.clone()));
                }
                let bytes = encode(&message);
                prop_assert_eq!(d.decode(&bytes), Ok(message.clone()));
                match message {
                    Message::StreamStart(_) => prop_assert!(d.in_stream()),
                    Message::StreamStop => prop_assert!(!d.in_stream()),
                    _ => {}
                }
            }
        }

        #[test]
        fn every_cut_of_a_message_is_refused_where_it_ends(message in any_message()) {
            let in_stream = needs_stream(&message).unwrap_or(false);
            let bytes = encode(&message);
            for cut in 1..bytes.len() {
                let mut d = decoder(in_stream);
                let e = d.decode(&bytes[..cut]).expect_err("a cut message is refused");
                prop_assert!(
                    matches!(e.kind(), DecodeErrorKind::Truncated | DecodeErrorKind::BadString),
                    "{}", e
                );
                prop_assert!(e.offset() <= cut, "{} for a cut at {}", e, cut);
                prop_assert_eq!(d.in_stream(), in_stream);
            }
        }

        #[test]
        fn a_changed_byte_never_panics(
            message in any_message(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            in_stream in any::<bool>(),
        ) {
            let mut bytes = encode(&message);
            let i = at.index(bytes.len());
            bytes[i] = byte;
            if let Err(e) = decoder(in_stream).decode(&bytes) {
                prop_assert!(e.offset() <= bytes.len());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            ty in prop::sample::select(MESSAGE_TYPES),
            rest in prop::collection::vec(any::<u8>(), 0..64),
            in_stream in any::<bool>(),
        ) {
            let data = [&[ty][..], &rest].concat();
            match decoder(in_stream).decode(&data) {
                Ok(message) => {
                    let _ = format!("{message:?}");
                }
                Err(e) => {
                    prop_assert!(e.offset() <= data.len());
                    prop_assert!(e.to_string().starts_with("[CDC-01"), "{}", e);
                }
            }
        }
    }
}
