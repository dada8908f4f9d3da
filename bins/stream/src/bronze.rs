//! The bronze table: every message exactly as received, appended in
//! batches, each batch one Delta commit carrying a `txn` (application
//! [`APP_ID`], the batch's sequence number).
//!
//! | column | type | |
//! |---|---|---|
//! | `batch` | `Int64` | the batch's sequence number (its `txn` version) |
//! | `row` | `Int32` | the message's place in its batch |
//! | `source` | `Utf8` | the source's name |
//! | `format` | `Utf8` | `hl7v2`, `fhir`, `x12` |
//! | `received_at` | `Timestamp(µs, UTC)` | arrival time |
//! | `message_id` | `Utf8` | the sender's id (MSH-10, file name...), when known |
//! | `content_sha256` | `Utf8` | SHA-256 of `payload`, hex |
//! | `payload` | `Binary` | the bytes as received |
//!
//! A sender's message is acknowledged only after its batch committed. A
//! re-sent message is a new bronze row (bronze is the raw log); silver
//! merges make its second arrival a no-op.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use caresync_lake::{Appender, CommitOutcome, LakeTable, TableSpec};
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray as _, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{
    DataType, Field, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use futures::TryStreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::error::StreamError;
use crate::handoff::{Handoff, Offered};
use crate::ingest::{Format, IngestError, Pending, Receipt};

/// The `txn` application id of bronze commits.
pub const APP_ID: &str = "caresync-stream/bronze";

/// The bronze table's schema (see the module docs).
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("batch", DataType::Int64, false),
            Field::new("row", DataType::Int32, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("format", DataType::Utf8, false),
            Field::new(
                "received_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("message_id", DataType::Utf8, true),
            Field::new("content_sha256", DataType::Utf8, false),
            Field::new("payload", DataType::Binary, false),
        ]))
    });
    SCHEMA.clone()
}

/// The bronze table's spec, named `name`. File statistics are kept for
/// the columns reads filter on (`batch`, `received_at`) only: the payload's
/// would be large, and every commit's snapshot reload parses every file's.
pub fn spec(name: &str) -> TableSpec {
    TableSpec::new(name, schema())
        .with_property("delta.dataSkippingStatsColumns", "batch,received_at")
}

/// One bronze row, owned.
#[derive(Clone)]
pub struct BronzeRow {
    /// The row within its batch.
    pub row: u32,
    /// The source's name.
    pub source: Arc<str>,
    /// The payload's format.
    pub format: Format,
    /// Arrival, µs since the Unix epoch.
    pub received_at: i64,
    /// The sender's id, when known.
    pub message_id: Option<String>,
    /// SHA-256 of the payload, hex.
    pub content_sha256: String,
    /// The bytes as received.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for BronzeRow {
    /// Never the payload.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BronzeRow")
            .field("row", &self.row)
            .field("source", &self.source)
            .field("format", &self.format)
            .field("message_id", &self.message_id)
            .field("bytes", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// The rows of one bronze commit.
#[derive(Clone, Debug)]
pub struct BronzeBatch {
    /// The batch's sequence number (its `txn` version).
    pub seq: i64,
    /// Its rows, in order.
    pub rows: Vec<BronzeRow>,
}

/// Microseconds since the Unix epoch.
pub(crate) fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

impl BronzeBatch {
    /// The batch as an Arrow batch of [`schema`].
    pub fn to_record_batch(&self) -> RecordBatch {
        let rows = &self.rows;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| self.seq))),
            Arc::new(Int32Array::from_iter_values(
                rows.iter()
                    .map(|r| i32::try_from(r.row).unwrap_or(i32::MAX)),
            )),
            Arc::new(
                rows.iter()
                    .map(|r| Some(&*r.source))
                    .collect::<StringArray>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.format.as_str()))
                    .collect::<StringArray>(),
            ),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.received_at))
                    .with_timezone("UTC"),
            ),
            Arc::new(
                rows.iter()
                    .map(|r| r.message_id.as_deref())
                    .collect::<StringArray>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.content_sha256.as_str()))
                    .collect::<StringArray>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.payload.as_slice()))
                    .collect::<BinaryArray>(),
            ),
        ];
        // Built to the schema above: a mismatch is a bug here.
        RecordBatch::try_new(schema(), columns).expect("bronze columns match their schema")
    }

    /// The bronze rows of `batch` (read back from the table), grouped by
    /// batch sequence in ascending order. Rows of an unknown format are
    /// skipped.
    pub fn from_record_batches(batches: &[RecordBatch]) -> Result<Vec<BronzeBatch>, StreamError> {
        let bad = |detail: String| StreamError::NotBronze {
            url: String::from("bronze"),
            detail,
        };
        let mut by_seq: std::collections::BTreeMap<i64, Vec<BronzeRow>> = Default::default();
        for batch in batches {
            // Scans may read text and bytes as views: cast to the schema's types.
            let mut cast_columns = std::collections::HashMap::new();
            for field in schema().fields() {
                let Some(c) = batch.column_by_name(field.name()) else {
                    continue;
                };
                let c = if c.data_type() == field.data_type() {
                    c.clone()
                } else {
                    cast(c, field.data_type())
                        .map_err(|e| bad(format!("column {}: {e}", field.name())))?
                };
                cast_columns.insert(field.name().clone(), c);
            }
            let col = |name: &str| {
                cast_columns
                    .get(name)
                    .ok_or_else(|| bad(format!("no column {name}")))
            };
            let seqs = col("batch")?.as_primitive_opt::<Int64Type>().cloned();
            let rows = col("row")?.as_primitive_opt::<Int32Type>().cloned();
            let received = col("received_at")?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .cloned();
            let (Some(seqs), Some(rows), Some(received)) = (seqs, rows, received) else {
                return Err(bad("columns of unexpected types".into()));
            };
            let text = |name: &str| -> Result<StringArray, StreamError> {
                col(name)?
                    .as_string_opt::<i32>()
                    .cloned()
                    .ok_or_else(|| bad(format!("column {name} is not text")))
            };
            let (source, format, message_id, sha) = (
                text("source")?,
                text("format")?,
                text("message_id")?,
                text("content_sha256")?,
            );
            let payload = col("payload")?
                .as_binary_opt::<i32>()
                .cloned()
                .ok_or_else(|| bad("payload is not binary".into()))?;
            for i in 0..batch.num_rows() {
                let Some(fmt) = Format::from_name(format.value(i)) else {
                    continue;
                };
                by_seq.entry(seqs.value(i)).or_default().push(BronzeRow {
                    row: u32::try_from(rows.value(i)).unwrap_or(0),
                    source: Arc::from(source.value(i)),
                    format: fmt,
                    received_at: received.value(i),
                    message_id: message_id
                        .is_valid(i)
                        .then(|| message_id.value(i).to_owned()),
                    content_sha256: sha.value(i).to_owned(),
                    payload: payload.value(i).to_vec(),
                });
            }
        }
        Ok(by_seq
            .into_iter()
            .map(|(seq, mut rows)| {
                rows.sort_by_key(|r| r.row);
                BronzeBatch { seq, rows }
            })
            .collect())
    }
}

/// Reads the bronze batches with sequence numbers in `from..=to` back from
/// the table (at its newest version), in order.
pub async fn read_batches(
    table: &mut LakeTable,
    from: i64,
    to: i64,
) -> Result<Vec<BronzeBatch>, StreamError> {
    table.refresh().await?;
    // Each bronze commit is a file whose `batch` statistics rule it in or
    // out: only the files of the wanted batches are read.
    let mut stream = table
        .scan_where(&format!("batch BETWEEN {from} AND {to}"))
        .await?;
    let mut kept = Vec::new();
    let url = table.url().to_owned();
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| StreamError::NotBronze {
            url: url.clone(),
            detail: format!("scan failed: {e}"),
        })?
    {
        if batch.num_rows() > 0 {
            kept.push(batch);
        }
    }
    BronzeBatch::from_record_batches(&kept)
}

/// How the writer groups messages into commits.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    /// Most messages in one commit.
    pub max_rows: usize,
    /// How long the first message of a batch waits for company.
    pub linger: Duration,
    /// Bytes of committed batches held in memory for the silver stage, at
    /// most; a batch beyond them is read back from the table by silver.
    pub queued_bytes: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_rows: 5_000,
            linger: Duration::from_millis(5),
            // A burst of ~100,000 HL7 ADT messages.
            queued_bytes: 256 << 20,
        }
    }
}

/// Writes submitted messages to bronze until every [`IngestHandle`]
/// (`crate::IngestHandle`) is dropped, replying to each once its batch
/// committed, and hands each committed batch to `committed`.
pub(crate) async fn run_writer(
    table: LakeTable,
    mut rx: mpsc::Receiver<Pending>,
    committed: Handoff,
    batching: Batching,
) {
    // The writer is bronze's only appender: it commits without reloading
    // the table after each commit (see `caresync_lake::Appender`).
    let mut table = table.appender(APP_ID);
    let mut seq = match table.last_txn_version().await {
        Ok(v) => v.unwrap_or(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the bronze table's last batch");
            0
        }
    };
    let mut pending: Vec<Pending> = Vec::with_capacity(batching.max_rows);
    loop {
        let Some(first) = rx.recv().await else { break };
        pending.push(first);
        let deadline = tokio::time::Instant::now() + batching.linger;
        while pending.len() < batching.max_rows {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(p)) => pending.push(p),
                Ok(None) | Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut batch = BronzeBatch {
            seq: seq + 1,
            rows: pending
                .iter_mut()
                .enumerate()
                .map(|(i, p)| {
                    let payload = std::mem::take(&mut p.inbound.payload);
                    BronzeRow {
                        row: u32::try_from(i).unwrap_or(u32::MAX),
                        source: p.inbound.source.clone(),
                        format: p.inbound.format,
                        received_at: micros(p.inbound.received_at),
                        message_id: p.inbound.message_id.take(),
                        content_sha256: sha256_hex(&payload),
                        payload,
                    }
                })
                .collect(),
        };
        // Senders are answered as soon as the commit is durable (before
        // the table is loaded again when another writer intervened).
        let answer = |seq: i64| {
            for (i, p) in pending.drain(..).enumerate() {
                crate::metrics::received(&p.inbound.source, p.inbound.format.as_str(), 1);
                let _ = p.reply.send(Ok(Receipt {
                    batch: seq,
                    row: u32::try_from(i).unwrap_or(u32::MAX),
                }));
            }
        };
        let result = commit(&mut table, &mut seq, &mut batch, answer).await;
        crate::metrics::bronze_commit(batch.rows.len(), started.elapsed(), result.is_ok());
        if let Ok(seq) = result {
            crate::metrics::batches(Some(seq), None);
        }
        match result {
            Ok(_) => {
                // A full queue means silver lags: it reads the batch back
                // from the table when it catches up.
                if committed.offer(batch) == Offered::Closed {
                    tracing::debug!("silver stage stopped; bronze keeps writing");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, rows = batch.rows.len(), "bronze commit failed; senders not yet answered are told to send again");
                let reason: Arc<str> = Arc::from(e.to_string());
                for p in pending.drain(..) {
                    let _ = p.reply.send(Err(IngestError::Bronze {
                        reason: reason.clone(),
                    }));
                }
            }
        }
    }
    table.wait_for_checkpoint().await;
}

/// Commits `rows` as the next batch, returning its sequence number and
/// calling `durable` with it as soon as the commit is durable. A sequence
/// number already recorded (by another writer, or by a commit whose success
/// was not seen) is skipped.
async fn commit(
    table: &mut Appender,
    seq: &mut i64,
    batch: &mut BronzeBatch,
    mut durable: impl FnMut(i64),
) -> Result<i64, StreamError> {
    for _ in 0..8 {
        batch.seq = *seq + 1;
        let next = batch.seq;
        match table
            .append_notifying(next, vec![batch.to_record_batch()], |_| {
                durable(next);
            })
            .await?
        {
            CommitOutcome::AlreadyApplied { last_txn_version } => *seq = last_txn_version,
            _ => {
                *seq = batch.seq;
                return Ok(batch.seq);
            }
        }
    }
    Err(StreamError::BronzeContended {
        url: table.url().to_owned(),
    })
}

/// Checks that `table` has the bronze columns and types.
pub(crate) fn check_schema(table: &LakeTable) -> Result<(), StreamError> {
    let found = table.schema()?;
    for field in schema().fields() {
        match found.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            _ => {
                return Err(StreamError::NotBronze {
                    url: table.url().to_owned(),
                    detail: format!("column {} is missing or of another type", field.name()),
                });
            }
        }
    }
    Ok(())
}
