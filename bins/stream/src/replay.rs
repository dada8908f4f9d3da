//! Re-processing after a fix: dead letters replayed, bronze backfilled.
//!
//! Both read raw bytes back from bronze, route them with the contracts of
//! today, and merge them into silver under their own `txn` application ids
//! ([`REPLAY_APP_ID`], [`BACKFILL_APP_ID`]) with a fresh sequence number.
//! Merges are guarded by version, so a record already in silver is a
//! duplicate and changes nothing: both are idempotent.
//!
//! - **Replay** ([`replay_dead_letters`]) takes the dead letters of one
//!   error class (and, optionally, rejected since a time), re-processes
//!   their bronze rows, removes the dead letters of the rows that now pass,
//!   and appends new dead letters for those that still fail (with today's
//!   codes and contract versions). The dead-letter table then holds what is
//!   still outstanding.
//! - **Backfill** ([`backfill`]) re-processes every bronze row received in a
//!   window; it adds a dead letter only where the table does not already
//!   hold one for that bronze row and code.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::SystemTime;

use caresync_core::ErrorClass;
use deltalake::arrow::array::{Array as _, AsArray as _, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int32Type, Int64Type};

use crate::bronze::{self, BronzeBatch, micros};
use crate::dlq::{self, DeadLetter, class_name};
use crate::error::StreamError;
use crate::silver::{Contracts, route};
use crate::worker::{LakeLayout, SilverStats, SilverTables};

/// The `txn` application id of replays.
pub const REPLAY_APP_ID: &str = "caresync-stream/replay";
/// The `txn` application id of backfills.
pub const BACKFILL_APP_ID: &str = "caresync-stream/backfill";

/// What a replay or backfill did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Bronze rows re-processed.
    pub bronze_rows: u64,
    /// What the silver merges did.
    pub silver: SilverStats,
    /// Dead letters removed because their rows now pass (replay only).
    pub resolved: u64,
    /// Dead letters written (rows that still fail).
    pub dead_letters: u64,
}

/// A dead letter's place: bronze batch, row, code.
type Place = (i64, i32, String);

/// Reads the dead-letter table's (batch, row, code, class, rejected at).
async fn dead_letters(layout: &LakeLayout) -> Result<Vec<(Place, String, i64)>, StreamError> {
    let table = layout.open_dead_letter().await?;
    let mut out = Vec::new();
    for b in table.read_all().await? {
        let text = |name: &str| -> Result<Vec<String>, StreamError> {
            let c = column(&b, name)?;
            let c = cast(&c, &DataType::Utf8).map_err(|e| bad(name, e))?;
            let c = c.as_string::<i32>();
            Ok((0..c.len()).map(|i| c.value(i).to_owned()).collect())
        };
        let batch_col = column(&b, "bronze_batch")?;
        let row_col = column(&b, "bronze_row")?;
        let at_col = column(&b, "dead_lettered_at")?;
        let (Some(batches), Some(rows)) = (
            batch_col.as_primitive_opt::<Int64Type>(),
            row_col.as_primitive_opt::<Int32Type>(),
        ) else {
            return Err(bad("bronze_batch", "not integers"));
        };
        let at = cast(&at_col, &DataType::Int64).map_err(|e| bad("dead_lettered_at", e))?;
        let at = at.as_primitive::<Int64Type>();
        let (codes, classes) = (text("error_code")?, text("error_class")?);
        for i in 0..b.num_rows() {
            out.push((
                (batches.value(i), rows.value(i), codes[i].clone()),
                classes[i].clone(),
                at.value(i),
            ));
        }
    }
    Ok(out)
}

fn column(b: &RecordBatch, name: &str) -> Result<deltalake::arrow::array::ArrayRef, StreamError> {
    b.column_by_name(name)
        .cloned()
        .ok_or_else(|| bad(name, "missing"))
}

fn bad(column: &str, e: impl std::fmt::Display) -> StreamError {
    StreamError::Config(format!("dead-letter column {column}: {e}"))
}

/// Replays the dead letters of `class` rejected at or after `since` (µs
/// since the epoch), see the module docs.
///
/// # Errors
///
/// The tables cannot be read or written.
pub async fn replay_dead_letters(
    layout: &LakeLayout,
    contracts: &Contracts,
    class: ErrorClass,
    since: Option<i64>,
) -> Result<ReplayReport, StreamError> {
    let class = class_name(class);
    let chosen: BTreeSet<(i64, i32)> = dead_letters(layout)
        .await?
        .into_iter()
        .filter(|(_, c, at)| c == class && since.is_none_or(|s| *at >= s))
        .map(|((b, r, _), _, _)| (b, r))
        .collect();
    let mut report = ReplayReport::default();
    let (Some(first), Some(last)) = (chosen.first(), chosen.last()) else {
        return Ok(report);
    };
    let mut bronze_table = layout.open_bronze().await?;
    let mut batches = bronze::read_batches(&mut bronze_table, first.0, last.0).await?;
    for b in &mut batches {
        b.rows
            .retain(|r| chosen.contains(&(b.seq, i32::try_from(r.row).unwrap_or(i32::MAX))));
    }
    let dead = reprocess(layout, contracts, &batches, REPLAY_APP_ID, &mut report).await?;
    let mut dead_letter = layout.open_dead_letter().await?;
    // The replayed rows' old dead letters of this class go; what still
    // fails is written again.
    let mut predicate = Vec::new();
    for (b, r) in &chosen {
        predicate.push(format!("(bronze_batch = {b} AND bronze_row = {r})"));
    }
    for chunk in predicate.chunks(500) {
        dead_letter
            .delete_where(&format!(
                "error_class = '{class}' AND ({})",
                chunk.join(" OR ")
            ))
            .await?;
    }
    if !dead.is_empty() {
        report.dead_letters = dead.len() as u64;
        dead_letter
            .append(vec![dlq::to_batch(&dead, micros(SystemTime::now()))])
            .await?;
    }
    let still: BTreeSet<(i64, i32)> = dead
        .iter()
        .filter(|d| class_name(d.reason.code.class()) == class)
        .map(|d| (d.bronze_batch, d.bronze_row))
        .collect();
    report.resolved = chosen.difference(&still).count() as u64;
    Ok(report)
}

/// Re-processes every bronze row received in `from..to` (µs since the
/// epoch), see the module docs.
///
/// # Errors
///
/// The tables cannot be read or written.
pub async fn backfill(
    layout: &LakeLayout,
    contracts: &Contracts,
    from: i64,
    to: i64,
) -> Result<ReplayReport, StreamError> {
    let mut bronze_table = layout.open_bronze().await?;
    let last = bronze_table
        .last_txn_version(bronze::APP_ID)
        .await?
        .unwrap_or(0);
    let mut report = ReplayReport::default();
    if last == 0 {
        return Ok(report);
    }
    let mut batches = bronze::read_batches(&mut bronze_table, 1, last).await?;
    for b in &mut batches {
        b.rows.retain(|r| (from..to).contains(&r.received_at));
    }
    batches.retain(|b| !b.rows.is_empty());
    let dead = reprocess(layout, contracts, &batches, BACKFILL_APP_ID, &mut report).await?;
    let known: HashSet<Place> = dead_letters(layout)
        .await?
        .into_iter()
        .map(|(place, _, _)| place)
        .collect();
    let fresh: Vec<DeadLetter> = dead
        .into_iter()
        .filter(|d| {
            !known.contains(&(
                d.bronze_batch,
                d.bronze_row,
                d.reason.code.code().to_owned(),
            ))
        })
        .collect();
    if !fresh.is_empty() {
        report.dead_letters = fresh.len() as u64;
        let mut dead_letter = layout.open_dead_letter().await?;
        dead_letter
            .append(vec![dlq::to_batch(&fresh, micros(SystemTime::now()))])
            .await?;
    }
    Ok(report)
}

/// Routes and merges `batches` under `app`, one fresh sequence number per
/// batch; returns their dead letters.
async fn reprocess(
    layout: &LakeLayout,
    contracts: &Contracts,
    batches: &[BronzeBatch],
    app: &str,
    report: &mut ReplayReport,
) -> Result<Vec<DeadLetter>, StreamError> {
    let mut tables = SilverTables::new(layout.clone());
    let mut dead = Vec::new();
    // Sequence numbers that grow across runs: microseconds, one per batch.
    let base = micros(SystemTime::now());
    let mut by_seq: BTreeMap<i64, &BronzeBatch> = BTreeMap::new();
    for b in batches {
        by_seq.insert(b.seq, b);
    }
    for (i, b) in by_seq.values().enumerate() {
        report.bronze_rows += b.rows.len() as u64;
        let routed = route(b, contracts);
        // The merge is recorded under a fresh number; rows keep pointing at
        // their bronze batch.
        let mut refused = tables
            .merge(
                app,
                base + i as i64,
                std::slice::from_ref(*b),
                vec![(b.seq, routed)],
                &mut report.silver,
            )
            .await?;
        dead.append(&mut refused);
    }
    Ok(dead)
}
