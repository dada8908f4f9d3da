//! The change-history row shape, and the capture that turns a pgoutput
//! stream into change-history Arrow batches, one table at a time.
//!
//! A change-history row is the source row's columns (all nullable) and:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `_change_type` | utf8 | `insert`, `update_preimage`, `update_postimage`, `delete` (Delta's change-feed vocabulary), or `truncate` (a marker row, data columns null) |
//! | `_lsn` | int64 | the commit LSN of the transaction (or the slot's consistent point for snapshot rows) |
//! | `_seq` | int64 | the change's position within its transaction (within the snapshot for snapshot rows) |
//! | `_commit_timestamp` | timestamp(µs, UTC) | when the transaction committed (when the snapshot was taken) |
//! | `_xid` | int64, nullable | the transaction id; null for snapshot rows |
//! | `_source_table` | utf8 | `schema.table` |
//! | `_omitted_columns` | list of utf8, nullable | columns whose value PostgreSQL did not send: TOASTed values an update left unchanged, the non-key columns of a preimage or delete under `REPLICA IDENTITY DEFAULT`/`INDEX`. Their value is the row's previous one. |
//! | `_commit_date` | date32 | the UTC date of `_commit_timestamp`, the partition column |
//!
//! Rows sort in commit order by (`_lsn`, `_seq`), snapshot rows first at
//! the consistent point (a transaction still running when the snapshot was
//! taken can commit exactly there).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::pgoutput::{self, Message, OldTuple, Tuple, Value};
use crate::value::ColumnBuilder;
use crate::{CdcError, Lsn};

/// The change-history metadata columns, in the order they follow the data
/// columns.
pub const METADATA_COLUMNS: [&str; 8] = [
    CHANGE_TYPE,
    LSN,
    SEQ,
    COMMIT_TIMESTAMP,
    XID,
    SOURCE_TABLE,
    OMITTED_COLUMNS,
    COMMIT_DATE,
];
/// `_change_type`.
pub const CHANGE_TYPE: &str = "_change_type";
/// `_lsn`.
pub const LSN: &str = "_lsn";
/// `_seq`.
pub const SEQ: &str = "_seq";
/// `_commit_timestamp`.
pub const COMMIT_TIMESTAMP: &str = "_commit_timestamp";
/// `_xid`.
pub const XID: &str = "_xid";
/// `_source_table`.
pub const SOURCE_TABLE: &str = "_source_table";
/// `_omitted_columns`.
pub const OMITTED_COLUMNS: &str = "_omitted_columns";
/// `_commit_date`, the partition column.
pub const COMMIT_DATE: &str = "_commit_date";

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A source table as the stream describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema (namespace).
    pub schema: String,
    /// The table.
    pub name: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A source column: name, PostgreSQL type and whether it is part of the
/// replica identity (the primary key, by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceColumn {
    /// The column's name.
    pub name: String,
    /// The type's OID.
    pub type_oid: u32,
    /// The type modifier (`-1` for none).
    pub type_modifier: i32,
    /// Part of the replica identity.
    pub key: bool,
}

/// The Arrow schema of a change-history table for these source columns.
pub fn history_schema(columns: &[SourceColumn]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| {
            Field::new(
                &c.name,
                crate::value::arrow_type(c.type_oid, c.type_modifier),
                true,
            )
        })
        .collect();
    fields.extend([
        Field::new(CHANGE_TYPE, DataType::Utf8, false),
        Field::new(LSN, DataType::Int64, false),
        Field::new(SEQ, DataType::Int64, false),
        Field::new(
            COMMIT_TIMESTAMP,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(XID, DataType::Int64, true),
        Field::new(SOURCE_TABLE, DataType::Utf8, false),
        Field::new(
            OMITTED_COLUMNS,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new(COMMIT_DATE, DataType::Date32, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// The kind of a change-history row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new row (also every row of the initial snapshot).
    Insert,
    /// A row's values before an update (when PostgreSQL sent them).
    UpdatePreimage,
    /// A row's values after an update.
    UpdatePostimage,
    /// A deleted row (its key, or all its values under `REPLICA IDENTITY FULL`).
    Delete,
    /// The table was truncated.
    Truncate,
}

impl ChangeKind {
    /// The `_change_type` text.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Insert => "insert",
            ChangeKind::UpdatePreimage => "update_preimage",
            ChangeKind::UpdatePostimage => "update_postimage",
            ChangeKind::Delete => "delete",
            ChangeKind::Truncate => "truncate",
        }
    }
}

/// Where a row comes from: a transaction, or the initial snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowOrigin {
    /// The commit LSN (the consistent point for the snapshot).
    pub lsn: Lsn,
    /// The commit time, microseconds since 1970 UTC.
    pub commit_unix_micros: i64,
    /// The transaction id; `None` for the snapshot.
    pub xid: Option<u32>,
}

/// Builds the change-history batches of one source table. Its `Debug`
/// shows the table, columns and row counts, never a value.
pub struct HistoryBuilder {
    table: TableName,
    source_table: String,
    columns: Vec<SourceColumn>,
    schema: SchemaRef,
    data: Vec<ColumnBuilder>,
    change_type: StringBuilder,
    lsn: Int64Builder,
    seq: Int64Builder,
    commit_timestamp: TimestampMicrosecondBuilder,
    xid: Int64Builder,
    source: StringBuilder,
    omitted: ListBuilder<StringBuilder>,
    commit_date: Date32Builder,
    /// Batches finished under an earlier column list (before a schema change).
    finished: Vec<RecordBatch>,
    rows: usize,
    omitted_now: Vec<usize>,
}

impl HistoryBuilder {
    /// A builder for `table` with these columns.
    pub fn new(table: TableName, columns: Vec<SourceColumn>) -> Result<Self, CdcError> {
        for c in &columns {
            if METADATA_COLUMNS.contains(&c.name.as_str()) {
                return Err(CdcError::Config {
                    reason: format!(
                        "{table} has a column named {}, which the change history uses itself",
                        c.name
                    ),
                });
            }
        }
        let schema = history_schema(&columns);
        let data = columns
            .iter()
            .map(|c| ColumnBuilder::new(c.type_oid, c.type_modifier, 0))
            .collect();
        Ok(HistoryBuilder {
            source_table: table.to_string(),
            table,
            columns,
            schema,
            data,
            change_type: StringBuilder::new(),
            lsn: Int64Builder::new(),
            seq: Int64Builder::new(),
            commit_timestamp: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            xid: Int64Builder::new(),
            source: StringBuilder::new(),
            omitted: ListBuilder::new(StringBuilder::new()),
            commit_date: Date32Builder::new(),
            finished: Vec::new(),
            rows: 0,
            omitted_now: Vec::new(),
        })
    }

    /// The source table.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The source columns, as last described.
    pub fn columns(&self) -> &[SourceColumn] {
        &self.columns
    }

    /// The schema of the batches built from now on.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows buffered, in every schema.
    pub fn len(&self) -> usize {
        self.rows
            + self
                .finished
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>()
    }

    /// Whether no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes the column list (a schema change in the source). Rows
    /// buffered so far keep the old schema in their own batch.
    pub fn redescribe(&mut self, columns: Vec<SourceColumn>) -> Result<(), CdcError> {
        if columns == self.columns {
            return Ok(());
        }
        if self.rows > 0 {
            let batch = self.finish_current()?;
            self.finished.push(batch);
        }
        let finished = std::mem::take(&mut self.finished);
        *self = HistoryBuilder::new(self.table.clone(), columns)?;
        self.finished = finished;
        Ok(())
    }

    /// Appends one row from text values (`None` = SQL null), as read from
    /// a snapshot `COPY`.
    ///
    /// A value that cannot be read fails the row, which is taken back
    /// whole: no partial row is ever buffered.
    pub fn push_text_row<'a>(
        &mut self,
        kind: ChangeKind,
        origin: RowOrigin,
        seq: i64,
        values: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
    ) -> Result<(), CdcError> {
        if values.len() != self.columns.len() {
            return Err(self.column_count(origin.lsn, values.len()));
        }
        self.omitted_now.clear();
        for (i, value) in values.enumerate() {
            if let Err(e) = self.append_value(i, value) {
                self.take_back_row();
                return Err(e);
            }
        }
        self.push_metadata(kind, origin, seq);
        Ok(())
    }

    /// Appends one row from a pgoutput tuple. With `key_only`, values of
    /// columns outside the replica identity are absent (an old key tuple)
    /// and recorded as omitted.
    ///
    /// A value PostgreSQL did not send (`Unchanged`) is taken from
    /// `before` (the full old row of the same update) when that has it.
    fn push_tuple(
        &mut self,
        kind: ChangeKind,
        origin: RowOrigin,
        seq: i64,
        tuple: &Tuple<'_>,
        key_only: bool,
        before: Option<&Tuple<'_>>,
    ) -> Result<(), CdcError> {
        let values = tuple.values();
        if values.len() != self.columns.len() {
            return Err(self.column_count(origin.lsn, values.len()));
        }
        self.omitted_now.clear();
        for (i, value) in values.iter().enumerate() {
            let value = match (value, before.and_then(|b| b.get(i))) {
                (Value::Unchanged, Some(old @ (Value::Text(_) | Value::Null))) => old,
                (value, _) => value,
            };
            let result = match value {
                Value::Null if key_only && !self.columns[i].key => {
                    self.omitted_now.push(i);
                    self.data[i].append_null();
                    Ok(())
                }
                Value::Null => {
                    self.data[i].append_null();
                    Ok(())
                }
                Value::Unchanged => {
                    self.omitted_now.push(i);
                    self.data[i].append_null();
                    Ok(())
                }
                Value::Text(text) => self.append_value(i, Some(text)),
                Value::Binary(_) => Err(CdcError::Protocol {
                    context: "reading a change",
                    detail: "a binary value, which this client does not ask for".to_owned(),
                }),
            };
            if let Err(e) = result {
                self.take_back_row();
                return Err(e);
            }
        }
        self.push_metadata(kind, origin, seq);
        Ok(())
    }

    fn push_truncate(&mut self, origin: RowOrigin, seq: i64) {
        self.omitted_now.clear();
        for b in &mut self.data {
            b.append_null();
        }
        self.push_metadata(ChangeKind::Truncate, origin, seq);
    }

    fn append_value(&mut self, i: usize, value: Option<&[u8]>) -> Result<(), CdcError> {
        match value {
            None => {
                self.data[i].append_null();
                Ok(())
            }
            Some(text) => self.data[i]
                .append_text(text)
                .map_err(|source| CdcError::Value {
                    table: self.source_table.clone(),
                    column: self.columns[i].name.clone(),
                    source,
                }),
        }
    }

    /// Drops the values a failed row appended.
    fn take_back_row(&mut self) {
        for b in &mut self.data {
            b.truncate(self.rows);
        }
    }

    fn push_metadata(&mut self, kind: ChangeKind, origin: RowOrigin, seq: i64) {
        self.change_type.append_value(kind.as_str());
        self.lsn.append_value(origin.lsn.as_i64());
        self.seq.append_value(seq);
        self.commit_timestamp
            .append_value(origin.commit_unix_micros);
        self.xid.append_option(origin.xid.map(i64::from));
        self.source.append_value(&self.source_table);
        if self.omitted_now.is_empty() {
            self.omitted.append_null();
        } else {
            for &i in &self.omitted_now {
                self.omitted.values().append_value(&self.columns[i].name);
            }
            self.omitted.append(true);
        }
        let day = origin.commit_unix_micros.div_euclid(MICROS_PER_DAY);
        self.commit_date
            .append_value(i32::try_from(day).unwrap_or(i32::MAX));
        self.rows += 1;
    }

    fn column_count(&self, lsn: Lsn, found: usize) -> CdcError {
        CdcError::ColumnCount {
            table: self.source_table.clone(),
            lsn,
            expected: self.columns.len(),
            found,
        }
    }

    fn finish_current(&mut self) -> Result<RecordBatch, CdcError> {
        let mut arrays: Vec<ArrayRef> = self.data.iter_mut().map(ColumnBuilder::finish).collect();
        arrays.push(Arc::new(self.change_type.finish()));
        arrays.push(Arc::new(self.lsn.finish()));
        arrays.push(Arc::new(self.seq.finish()));
        arrays.push(Arc::new(self.commit_timestamp.finish()));
        arrays.push(Arc::new(self.xid.finish()));
        arrays.push(Arc::new(self.source.finish()));
        arrays.push(Arc::new(self.omitted.finish()));
        arrays.push(Arc::new(self.commit_date.finish()));
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| CdcError::Protocol {
            context: "building a change-history batch",
            detail: e.to_string(),
        })
    }

    /// Takes the buffered rows: one batch per schema they were built under,
    /// oldest first.
    pub fn take(&mut self) -> Result<Vec<RecordBatch>, CdcError> {
        let mut batches = std::mem::take(&mut self.finished);
        if self.rows > 0 {
            batches.push(self.finish_current()?);
        }
        Ok(batches)
    }
}

/// What [`Capture::push`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A transaction began.
    Begin {
        /// Its commit LSN.
        commit_lsn: Lsn,
    },
    /// A change was buffered (or skipped as already applied).
    Change,
    /// A transaction's changes are complete; buffered batches may be
    /// written and the stream confirmed up to `end_lsn` once they are.
    Commit {
        /// The commit record's LSN.
        commit_lsn: Lsn,
        /// The position just past the commit record.
        end_lsn: Lsn,
        /// The commit time, microseconds since 1970 UTC.
        commit_unix_micros: i64,
    },
    /// Anything else (relation and type descriptions, origins, messages).
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Transaction {
    origin: RowOrigin,
    seq: i64,
}

/// Turns pgoutput messages into change-history rows, buffered per table
/// until taken. Its `Debug` shows tables and counts, never a value.
#[derive(Default)]
pub struct Capture {
    decoder: pgoutput::Decoder,
    relations: HashMap<u32, TableName>,
    tables: HashMap<TableName, HistoryBuilder>,
    applied: HashMap<TableName, Lsn>,
    transaction: Option<Transaction>,
    changes: u64,
}

impl std::fmt::Debug for HistoryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryBuilder")
            .field("table", &self.source_table)
            .field("columns", &self.columns.len())
            .field("rows", &self.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("tables", &self.tables)
            .field("applied", &self.applied)
            .field("in_transaction", &self.transaction.is_some())
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// A capture with no table known yet.
    pub fn new() -> Self {
        Capture::default()
    }

    /// Declares that `table` already holds every transaction whose commit
    /// record starts before `lsn` (the end of the last commit written, or a
    /// snapshot's consistent point, read back from the history after a
    /// restart): its rows of those transactions are skipped. A transaction
    /// whose commit starts exactly at a consistent point was still running
    /// when the snapshot was taken, so it is not skipped.
    pub fn set_applied(&mut self, table: TableName, lsn: Lsn) {
        self.applied.insert(table, lsn);
    }

    /// Changes buffered since the capture began (skipped ones excluded).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Whether a transaction has begun and not yet committed.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// The tables that have buffered rows.
    pub fn pending_tables(&self) -> impl Iterator<Item = &TableName> {
        self.tables
            .iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(t, _)| t)
    }

    /// The builder of a table seen in the stream.
    pub fn table(&self, table: &TableName) -> Option<&HistoryBuilder> {
        self.tables.get(table)
    }

    /// Takes every buffered batch, by table. Call between transactions
    /// (after a [`Event::Commit`]), never inside one.
    pub fn take(&mut self) -> Result<Vec<(TableName, Vec<RecordBatch>)>, CdcError> {
        let mut out = Vec::new();
        for (table, builder) in &mut self.tables {
            if !builder.is_empty() {
                out.push((table.clone(), builder.take()?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Reads one pgoutput message (the data of an XLogData message).
    pub fn push(&mut self, data: &[u8]) -> Result<Event, CdcError> {
        match self.decoder.decode(data)? {
            Message::Begin(begin) => {
                self.transaction = Some(Transaction {
                    origin: RowOrigin {
                        lsn: begin.final_lsn,
                        commit_unix_micros: begin.commit_time.unix_micros(),
                        xid: Some(begin.xid),
                    },
                    seq: 0,
                });
                Ok(Event::Begin {
                    commit_lsn: begin.final_lsn,
                })
            }
            Message::Commit(commit) => {
                self.transaction = None;
                Ok(Event::Commit {
                    commit_lsn: commit.commit_lsn,
                    end_lsn: commit.end_lsn,
                    commit_unix_micros: commit.commit_time.unix_micros(),
                })
            }
            Message::Relation(relation) => {
                let table = TableName {
                    schema: relation.namespace.to_owned(),
                    name: relation.name.to_owned(),
                };
                let columns: Vec<SourceColumn> = relation
                    .columns
                    .iter()
                    .map(|c| SourceColumn {
                        name: c.name.to_owned(),
                        type_oid: c.type_oid,
                        type_modifier: c.type_modifier,
                        key: c.part_of_key,
                    })
                    .collect();
                match self.tables.get_mut(&table) {
                    Some(builder) => builder.redescribe(columns)?,
                    None => {
                        let builder = HistoryBuilder::new(table.clone(), columns)?;
                        self.tables.insert(table.clone(), builder);
                    }
                }
                self.relations.insert(relation.id, table);
                Ok(Event::Other)
            }
            Message::Insert(insert) => self.change(insert.relation_id, |b, origin, seq| {
                b.push_tuple(ChangeKind::Insert, origin, seq, &insert.new, false, None)
            }),
            Message::Update(update) => self.change(update.relation_id, |b, origin, seq| {
                let mut before = None;
                match &update.old {
                    Some(OldTuple::Full(old)) => {
                        b.push_tuple(ChangeKind::UpdatePreimage, origin, seq, old, false, None)?;
                        before = Some(old);
                    }
                    Some(OldTuple::Key(old)) => {
                        b.push_tuple(ChangeKind::UpdatePreimage, origin, seq, old, true, None)?;
                    }
                    None => {}
                }
                b.push_tuple(
                    ChangeKind::UpdatePostimage,
                    origin,
                    seq,
                    &update.new,
                    false,
                    before,
                )
            }),
            Message::Delete(delete) => {
                self.change(delete.relation_id, |b, origin, seq| match &delete.old {
                    OldTuple::Full(old) => {
                        b.push_tuple(ChangeKind::Delete, origin, seq, old, false, None)
                    }
                    OldTuple::Key(old) => {
                        b.push_tuple(ChangeKind::Delete, origin, seq, old, true, None)
                    }
                })
            }
            Message::Truncate(truncate) => {
                for id in &truncate.relation_ids {
                    self.change(*id, |b, origin, seq| {
                        b.push_truncate(origin, seq);
                        Ok(())
                    })?;
                }
                Ok(Event::Change)
            }
            _ => Ok(Event::Other),
        }
    }

    fn change(
        &mut self,
        relation_id: u32,
        f: impl FnOnce(&mut HistoryBuilder, RowOrigin, i64) -> Result<(), CdcError>,
    ) -> Result<Event, CdcError> {
        let Some(transaction) = self.transaction.as_mut() else {
            return Err(CdcError::Protocol {
                context: "reading a change",
                detail: "a change outside a transaction".to_owned(),
            });
        };
        let origin = transaction.origin;
        let seq = transaction.seq;
        transaction.seq += 1;
        let table = self
            .relations
            .get(&relation_id)
            .ok_or(CdcError::UnknownRelation {
                relation_id,
                lsn: origin.lsn,
            })?;
        if self
            .applied
            .get(table)
            .is_some_and(|applied| origin.lsn < *applied)
        {
            return Ok(Event::Change);
        }
        let builder = self
            .tables
            .get_mut(table)
            .ok_or(CdcError::UnknownRelation {
                relation_id,
                lsn: origin.lsn,
            })?;
        f(builder, origin, seq)?;
        self.changes += 1;
        Ok(Event::Change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation() -> Vec<u8> {
        let mut m = vec![b'R'];
        m.extend(7u32.to_be_bytes());
        m.extend(b"public\0visit\0d");
        m.extend(2i16.to_be_bytes());
        for (key, name, oid) in [(1u8, &b"id\0"[..], 23u32), (0, b"note\0", 25)] {
            m.push(key);
            m.extend(name);
            m.extend(oid.to_be_bytes());
            m.extend((-1i32).to_be_bytes());
        }
        m
    }

    fn begin(final_lsn: u64) -> Vec<u8> {
        let mut m = vec![b'B'];
        m.extend(final_lsn.to_be_bytes());
        m.extend(0i64.to_be_bytes());
        m.extend(42u32.to_be_bytes());
        m
    }

    fn insert(id: &str, note: &str) -> Vec<u8> {
        let mut m = vec![b'I'];
        m.extend(7u32.to_be_bytes());
        m.push(b'N');
        m.extend(2i16.to_be_bytes());
        for v in [id, note] {
            m.push(b't');
            m.extend(u32::try_from(v.len()).expect("short").to_be_bytes());
            m.extend(v.as_bytes());
        }
        m
    }

    fn commit(commit_lsn: u64) -> Vec<u8> {
        let mut m = vec![b'C', 0];
        m.extend(commit_lsn.to_be_bytes());
        m.extend((commit_lsn + 48).to_be_bytes());
        m.extend(0i64.to_be_bytes());
        m
    }

    fn table() -> TableName {
        TableName {
            schema: "public".to_owned(),
            name: "visit".to_owned(),
        }
    }

    #[test]
    fn a_transaction_committing_at_the_consistent_point_is_kept() {
        let mut capture = Capture::new();
        // The snapshot was taken at 0/100: transactions whose commit starts
        // before it are in the snapshot; one starting at it is not.
        capture.set_applied(table(), Lsn(0x100));
        capture.push(&relation()).expect("relation");
        for (lsn, id) in [(0xF0, "1"), (0x100, "2"), (0x180, "3")] {
            capture.push(&begin(lsn)).expect("begin");
            capture.push(&insert(id, "Ada Lovelace")).expect("insert");
            let event = capture.push(&commit(lsn)).expect("commit");
            assert_eq!(
                event,
                Event::Commit {
                    commit_lsn: Lsn(lsn),
                    end_lsn: Lsn(lsn + 48),
                    commit_unix_micros: crate::replication::PG_EPOCH_UNIX_MICROS,
                }
            );
        }
        assert_eq!(capture.changes(), 2, "the transaction at 0/F0 is skipped");
        let debug = format!("{capture:?}");
        assert!(!debug.contains("Lovelace"), "{debug}");
        let batches = capture.take().expect("rows");
        let (name, batches) = &batches[0];
        assert_eq!(name, &table());
        let ids: Vec<i32> = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<arrow_array::Int32Array>()
                    .expect("int4 is Int32")
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, [2, 3]);
    }
}
