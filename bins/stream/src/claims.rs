//! X12 837 claims and 835 remittances into silver tables.
//!
//! A bronze X12 row is a whole file: one or more interchanges, read with
//! [`caresync_x12::Document`]. Every 837 transaction set is read into
//! claims ([`caresync_x12::claim::read_claims`]) and every 835 set into a
//! remittance ([`caresync_x12::remit::read_remittance`]), then flattened
//! by [`caresync_x12::flatten`] into its tables, one set at a time. Other
//! transaction sets (999, 277...) are skipped when they come with 837s or
//! 835s; a file of nothing else yields no row and is dead-lettered
//! `STREAM-0005` by [`crate::silver::route`].
//!
//! # Tables and keys
//!
//! The tables, their columns and their keys are the x12 crate's
//! ([`caresync_x12::flatten::Table`]; its docs define every column and
//! key), with the lineage columns appended:
//!
//! | table | key | one row per |
//! |---|---|---|
//! | `claim` | `claim_key` | 837 claim (CLM) |
//! | `claim_line` | `claim_key`, `line_number` | 837 service line (2400) |
//! | `claim_diagnosis` | `claim_key`, `sequence` | 837 HI diagnosis code |
//! | `remittance` | `remittance_key` | 835 claim payment (CLP) |
//! | `remittance_line` | `remittance_key`, `line_number` | 835 service line (SVC) |
//! | `adjustment` | `payment_key`, `sequence` | 835 CAS triplet or PLB amount |
//!
//! `claim_key` is submitter id (1000A NM109) `|` CLM01 `|` ISA13: it names
//! one claim *of one submission*. A re-sent file (same ISA13) maps to the
//! same keys, so it is a duplicate; a corrected or voided claim (CLM05-3
//! `7` or `8`) sent in a later interchange is a **new row** next to the
//! original, never an update of it. The current state of a claim is
//! therefore the `claim` row with the greatest `_version` among those with
//! the same `submitter_id` and `claim_id`, which the version rule below
//! makes a plain `max`. `payment_key` is TRN03 `|` TRN02 and does not use
//! the envelope, so a payer re-sending an 835 with a new ISA13 updates the
//! same `remittance` and `adjustment` rows.
//!
//! # Version
//!
//! Every row of a transaction set gets the same [`Version`]
//! ([`crate::silver::VERSION_COLUMN`]):
//!
//! - event time: the functional group's GS04 (`CCYYMMDD`) and GS05
//!   (`HHMM`, `HHMMSS`, `HHMMSSD` or `HHMMSSDD`), which carry a 4-digit
//!   year; when the GS is missing or its date or time is not valid, the
//!   interchange's ISA09 (`YYMMDD`, read as `20YY`) and ISA10 (`HHMM`).
//!   X12 times have no zone: they are read as UTC, which orders the files
//!   of one sender correctly as long as the sender keeps one clock;
//! - tiebreaker: ISA13, the interchange control number
//!   ([`Tiebreaker::from_text`], so `000000907` is the number 907).
//!
//! So a file sent again is the same version (a duplicate to the merge),
//! and a later interchange is a greater one. A set whose interchange has
//! no ISA13, or which has no valid date and time, is dead-lettered
//! `STREAM-0004` ([`codes::NO_RECORD_VERSION`]). Every row also carries the
//! bronze payload's SHA-256 ([`crate::silver::SOURCE_HASH_COLUMN`]), and
//! its origin is the bronze row.
//!
//! # What is dead-lettered
//!
//! Reading is lenient (the x12 crate returns issues with codes and
//! positions); which issues keep a record out of silver is decided here,
//! per code. The rule: **a record is withheld when its identity, its
//! place in the hierarchy or its completeness is in doubt, or when a value
//! it was sent with cannot be read** (storing a null for a garbled amount
//! would silently change the claim); business-rule findings and absent
//! optional parts are kept, with their codes in the rows' `issue_codes`
//! and `payment_issue_codes` columns.
//!
//! | issue | what is dead-lettered (one dead letter each) |
//! |---|---|
//! | the payload has no readable ISA (`X12-0003`) | the bronze row |
//! | an error-severity envelope issue inside a set's ST..SE range: no SE (`X12-0010`), the input cut short (`X12-0004`), SE01 count (`X12-0012`) or SE02 control number (`X12-0011`) wrong, ST01/ST02 missing (`X12-0015`), a malformed segment id (`X12-0005`) | the whole transaction set: segments may be lost, so no claim of it can be trusted to be whole (the crate's 999 or TA1 rejects it too) |
//! | no ISA13, or no valid GS04/GS05 nor ISA09/ISA10 | the whole set, `STREAM-0004` |
//! | 837, in a claim: `X12-0103` no CLM01, `X12-0102` claim outside a subscriber loop, `X12-0105` an unreadable amount, `X12-0106` an unreadable date | that claim, with its lines and diagnoses |
//! | 837, in a subscriber or patient loop (an unreadable DMG birth date, `X12-0106`; or `X12-0105`) | each claim between that segment and the next HL (the claims that take the value), with its lines and diagnoses |
//! | 835, in a claim payment: CLP01 missing (`X12-0202` at CLP01), `X12-0203` an unreadable amount, `X12-0204` an unreadable date | that claim payment, with its lines and its CAS adjustments |
//! | a key column that would be null | that row, `STREAM-0003` ([`codes::NO_RECORD_ID`]); the crate never makes one, this is a guard for the merge, which refuses a whole batch for one null key |
//!
//! Kept: unreadable values of the 835 header and PLB (BPR16 dates that
//! are not dates are common in real files): withholding every claim
//! payment of the check for them would cost more than it protects, and
//! their codes are on every row of the set (`payment_issue_codes`).
//! Balancing findings (`X12-0107` unbalanced claim, `X12-0210`..`X12-0213`
//! unbalanced remittance, claim or line), which are business warnings
//! (`balanced` is `false`); a claim without lines (`X12-0108`); skipped
//! unknown segments (`X12-0101`, `X12-0206`); missing or malformed
//! elements that are not identities (`X12-0104` no CLM02, `X12-0109`,
//! other `X12-0202`, `X12-0205`); a missing 835 header segment
//! (`X12-0201`; without TRN the crate's fallback `payment_key` is used);
//! and envelope issues outside every set (a wrong IEA or GE count or
//! control number, segments outside an envelope), which leave the sets
//! whole. A dead letter's location gives the set (ST02 and segment
//! number) and the issue's byte offset, segment and element; its detail
//! is the code's title. Neither ever holds an element value.
//!
//! When claims of a set are dead-lettered, the others still reach silver
//! with the keys the crate gives them in the whole set (a later duplicate
//! CLM01 keeps its `\#n` part).
//!
//! # Stale child rows
//!
//! The merge upserts by key and never deletes. When a newer version of a
//! parent comes with fewer children, the children beyond the new count
//! stay as they were: a `claim` re-sent under the same ISA13 with fewer
//! lines or diagnoses (rare: a new submission has a new ISA13 and new
//! keys), and, more likely, a re-issued 835 (same TRN) with fewer claim
//! payments, service lines or adjustments. These rows are not handled
//! here. Every row of a set carries the set's version, so a row is current
//! exactly when its `_version` equals its parent's (`claim` for
//! `claim_line` and `claim_diagnosis`, `remittance` for
//! `remittance_line`) or, for `remittance` and `adjustment`, the greatest
//! `_version` of its `payment_key`; readers that need exact children
//! filter on that.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use caresync_core::{EventTime, Tiebreaker, Version};
use caresync_x12::flatten::{ClaimFlattener, RemittanceFlattener, Table};
use caresync_x12::{Date, Document, Issue, Severity, Transaction, claim, remit};
use deltalake::arrow::array::{Array as _, AsArray as _, BooleanArray, RecordBatch};
use deltalake::arrow::compute::{concat_batches, filter_record_batch};

use crate::bronze::BronzeRow;
use crate::dlq::Reason;
use crate::ingest::codes;
use crate::silver::{Routed, SilverTable, with_lineage};

/// The silver tables X12 fills: the x12 crate's flattened tables, under
/// their names, keyed by their key columns.
static TABLES: LazyLock<Vec<(Table, SilverTable)>> = LazyLock::new(|| {
    Table::ALL
        .iter()
        .map(|t| {
            (
                *t,
                SilverTable::new(t.name(), &t.schema(), &t.key_columns()),
            )
        })
        .collect()
});

/// The silver table of a flattened table.
fn silver_table(table: Table) -> &'static SilverTable {
    TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, s)| s)
        .expect("every flattened table has a silver table")
}

/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// Routes one X12 bronze row (see the module docs).
pub(crate) fn route(seq: i64, row: &BronzeRow, routed: &mut Routed) {
    let doc = match Document::read(&row.payload) {
        Ok(doc) => doc,
        Err(e) => {
            routed.reject(
                seq,
                row,
                Reason::new(
                    e.code(),
                    "byte 0, segment 0: no readable ISA",
                    e.to_string(),
                ),
            );
            return;
        }
    };
    let mut out = Out::new(&row.content_sha256);
    for tx in doc.transactions() {
        match tx.set_id() {
            Some("837") => out.transaction(&doc, &tx, Out::claims),
            Some("835") => out.transaction(&doc, &tx, Out::remittance),
            _ => {}
        }
    }
    for reason in out.dead {
        routed.reject(seq, row, reason);
    }
    for (table, mut batches) in out.tables {
        let silver = silver_table(table);
        let batch = if batches.len() == 1 {
            batches.pop().expect("one batch")
        } else {
            // Every batch was built with the table's schema.
            concat_batches(&silver.schema, &batches).expect("batches of one table share its schema")
        };
        let n = batch.num_rows();
        routed.push(silver, batch, vec![row.row; n]);
    }
}

/// The rows and dead letters of one bronze row.
struct Out<'r> {
    /// The bronze payload's SHA-256.
    sha: &'r str,
    /// Rows with lineage, per table.
    tables: BTreeMap<Table, Vec<RecordBatch>>,
    /// Why records were withheld.
    dead: Vec<Reason>,
}

/// Where a transaction set is, for dead letters: its ST02 and the number
/// of its ST segment (control numbers, never patient data).
fn set_label(tx: &Transaction<'_, '_>) -> String {
    format!(
        "transaction set {} (ST at segment {})",
        tx.control_number().filter(|c| !c.is_empty()).unwrap_or("?"),
        tx.st().number()
    )
}

/// The first error-severity envelope issue inside the set's ST..SE range
/// (up to its last body segment when it has no SE).
fn broken_envelope<'d>(doc: &'d Document<'_>, tx: &Transaction<'_, '_>) -> Option<&'d Issue> {
    let first = tx.st().number();
    let last = tx
        .se()
        .or_else(|| tx.body().last().copied())
        .map_or(first, |s| s.number());
    doc.issues()
        .iter()
        .find(|i| i.severity == Severity::Error && (first..=last).contains(&i.at.segment))
}

/// Why a set has no version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoVersion {
    /// The interchange has no ISA13.
    ControlNumber,
    /// Neither GS04/GS05 nor ISA09/ISA10 is a valid date and time.
    DateTime,
}

impl NoVersion {
    /// The dead letter of the set at `label`.
    fn reason(self, label: &str) -> Reason {
        match self {
            NoVersion::ControlNumber => Reason::new(
                codes::NO_RECORD_VERSION,
                format!("{label}, ISA13"),
                "the interchange has no control number (ISA13)",
            ),
            NoVersion::DateTime => Reason::new(
                codes::NO_RECORD_VERSION,
                format!("{label}, GS04/GS05 and ISA09/ISA10"),
                "neither the group (GS04/GS05) nor the interchange (ISA09/ISA10) has a valid date and time",
            ),
        }
    }
}

/// The version of every row of `tx` (see the module docs).
fn set_version(tx: &Transaction<'_, '_>) -> Result<Version, NoVersion> {
    let ic = tx.interchange();
    let control = ic.control_number().ok_or(NoVersion::ControlNumber)?;
    let from_gs = || {
        let gs = tx.group().gs()?;
        event_micros(Date::parse_d8(gs.text(4)?)?, gs.text(5)?)
    };
    let from_isa = || {
        let (date, time) = ic.date_time();
        let date = date.filter(|d| d.len() == 6)?;
        event_micros(Date::parse_d8(&format!("20{date}"))?, time?)
    };
    let micros = from_gs().or_else(from_isa).ok_or(NoVersion::DateTime)?;
    Ok(Version::new(
        EventTime::from_unix_micros(micros),
        Tiebreaker::from_text(control),
    ))
}

/// Microseconds since the epoch of `date` at `time` (`HHMM`, `HHMMSS`,
/// `HHMMSSD`, `HHMMSSDD`), read as UTC.
fn event_micros(date: Date, time: &str) -> Option<i64> {
    let t = time.trim();
    if !matches!(t.len(), 4 | 6..=8) || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |from: usize, to: usize| t.get(from..to)?.parse::<i64>().ok();
    let (hours, minutes) = (num(0, 2)?, num(2, 4)?);
    let seconds = if t.len() >= 6 { num(4, 6)? } else { 0 };
    // Decimal seconds: one digit is tenths, two are hundredths.
    let fraction = match t.len() {
        7 => num(6, 7)? * 100_000,
        8 => num(6, 8)? * 10_000,
        _ => 0,
    };
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let day = i64::from(date.days_since_epoch()) * DAY_MICROS;
    Some(day + (hours * 3600 + minutes * 60 + seconds) * 1_000_000 + fraction)
}

/// Whether an issue of one 837 claim keeps the claim out of silver.
fn withholds_claim(issue: &Issue) -> bool {
    use caresync_x12::claim::codes as c;
    issue.severity == Severity::Error
        && [
            c::MISSING_CLAIM_ID,
            c::BAD_HIERARCHY,
            c::BAD_AMOUNT,
            c::BAD_DATE,
        ]
        .contains(&issue.code)
}

/// Whether an issue of an 837 subscriber or patient loop keeps the claims
/// of the loop out of silver (a broken HL is kept: the reader places the
/// claims all the same).
fn withholds_loop_claims(issue: &Issue) -> bool {
    use caresync_x12::claim::codes as c;
    issue.severity == Severity::Error && [c::BAD_AMOUNT, c::BAD_DATE].contains(&issue.code)
}

/// Whether an issue of one 835 claim payment keeps it out of silver.
fn withholds_payment(issue: &Issue) -> bool {
    use caresync_x12::remit::codes as r;
    issue.severity == Severity::Error
        && ([r::BAD_AMOUNT, r::BAD_DATE].contains(&issue.code)
            || (issue.code == r::MISSING_ELEMENT
                && issue.at.id_str() == "CLP"
                && issue.at.element == 1))
}

/// The mask of the rows of `batch` whose `column` is not one of `bad`
/// (a null is kept: the key check deals with it).
fn not_in(batch: &RecordBatch, column: &str, bad: &HashSet<String>) -> Vec<bool> {
    let n = batch.num_rows();
    let keys = batch
        .column_by_name(column)
        .and_then(|c| c.as_string_opt::<i32>());
    match keys {
        Some(keys) if !bad.is_empty() => (0..n)
            .map(|i| !(keys.is_valid(i) && bad.contains(keys.value(i))))
            .collect(),
        _ => vec![true; n],
    }
}

/// The rows of `batch` whose entry in `keep` is true.
fn keep_rows(batch: RecordBatch, keep: &[bool]) -> RecordBatch {
    if keep.iter().all(|k| *k) {
        return batch;
    }
    let mask = BooleanArray::from(keep.to_vec());
    // The masks are built with one entry per row of their batch.
    filter_record_batch(&batch, &mask).expect("the mask has one entry per row")
}

/// `batch` without the rows whose key columns (of `table`) hold a null,
/// each of them dead-lettered with [`codes::NO_RECORD_ID`].
fn drop_null_keys(
    table: &SilverTable,
    batch: RecordBatch,
    label: &str,
    dead: &mut Vec<Reason>,
) -> RecordBatch {
    let mut keep = vec![true; batch.num_rows()];
    for key in &table.keys {
        let Some(column) = batch.column_by_name(key) else {
            continue;
        };
        if column.null_count() == 0 {
            continue;
        }
        for (i, k) in keep.iter_mut().enumerate() {
            if *k && column.is_null(i) {
                *k = false;
                dead.push(
                    Reason::new(
                        codes::NO_RECORD_ID,
                        format!("{label}, {}.{key}, row {i} of the set", table.name),
                        format!("key column {key} is null: the row cannot be merged"),
                    )
                    .for_table(table.name.clone()),
                );
            }
        }
    }
    keep_rows(batch, &keep)
}

impl<'r> Out<'r> {
    fn new(sha: &'r str) -> Self {
        Out {
            sha,
            tables: BTreeMap::new(),
            dead: Vec::new(),
        }
    }

    /// Checks the set's envelope and version, then reads it with `read`.
    fn transaction(
        &mut self,
        doc: &Document<'_>,
        tx: &Transaction<'_, '_>,
        read: fn(&mut Self, &Transaction<'_, '_>, &str, &str),
    ) {
        let label = set_label(tx);
        if let Some(issue) = broken_envelope(doc, tx) {
            self.dead.push(Reason::new(
                issue.code,
                format!("{label}, {}", issue.at),
                format!(
                    "{}: the transaction set may be incomplete, none of its records is routed",
                    issue.code.title()
                ),
            ));
            return;
        }
        match set_version(tx) {
            Ok(version) => read(self, tx, &version.to_string(), &label),
            Err(why) => self.dead.push(why.reason(&label)),
        }
    }

    /// Adds the rows of one set to `table`, after the key check, with
    /// lineage.
    fn add(&mut self, table: Table, batch: RecordBatch, version: &str, label: &str) {
        let silver = silver_table(table);
        let batch = drop_null_keys(silver, batch, label, &mut self.dead);
        let n = batch.num_rows();
        if n == 0 {
            return;
        }
        let versions = vec![version.to_owned(); n];
        let shas = vec![self.sha; n];
        let batch = with_lineage(silver, batch, &versions, &shas);
        self.tables.entry(table).or_default().push(batch);
    }

    /// The claims of one 837 set.
    fn claims(&mut self, tx: &Transaction<'_, '_>, version: &str, label: &str) {
        let read = claim::read_claims(tx);
        if read.claims.is_empty() {
            return;
        }
        // The whole set is flattened, so every claim keeps the key the
        // crate gives it among all the set's claims.
        let mut flattener = ClaimFlattener::with_capacity(read.claims.len());
        flattener.push_transaction(tx, &read.claims);
        let tables = flattener.finish();
        let mut keep = vec![true; tables.claim.num_rows()];
        let keys = tables
            .claim
            .column_by_name("claim_key")
            .and_then(|c| c.as_string_opt::<i32>());
        let mut bad = HashSet::new();
        // An issue outside any claim reaches the claims after it up to the
        // next HL: those of the loop whose value it is.
        let hl: Vec<u32> = tx
            .body()
            .iter()
            .filter(|s| s.is("HL"))
            .map(|s| s.number())
            .collect();
        let inherited: Vec<(u32, u32, &Issue)> = read
            .issues
            .iter()
            .filter(|i| withholds_loop_claims(i))
            .map(|i| {
                let next = hl.iter().copied().find(|h| *h > i.at.segment);
                (i.at.segment, next.unwrap_or(u32::MAX), i)
            })
            .collect();
        for (i, c) in read.claims.iter().enumerate() {
            let own = c.issues.iter().find(|i| withholds_claim(i));
            let Some(issue) = own.or_else(|| {
                inherited
                    .iter()
                    .find(|(from, to, _)| (*from..*to).contains(&c.at.segment))
                    .map(|(_, _, i)| *i)
            }) else {
                continue;
            };
            self.dead.push(
                Reason::new(
                    issue.code,
                    format!("{label}, claim at segment {}: {}", c.at.segment, issue.at),
                    format!("{}: the claim is not routed", issue.code.title()),
                )
                .for_table(Table::Claim.name()),
            );
            // One claim row per claim, in order.
            if let Some(k) = keep.get_mut(i) {
                *k = false;
            }
            if let Some(keys) = keys.filter(|k| i < k.len() && k.is_valid(i)) {
                bad.insert(keys.value(i).to_owned());
            }
        }
        let claims = keep_rows(tables.claim, &keep);
        let lines = {
            let keep = not_in(&tables.claim_line, "claim_key", &bad);
            keep_rows(tables.claim_line, &keep)
        };
        let diagnoses = {
            let keep = not_in(&tables.claim_diagnosis, "claim_key", &bad);
            keep_rows(tables.claim_diagnosis, &keep)
        };
        self.add(Table::Claim, claims, version, label);
        self.add(Table::ClaimLine, lines, version, label);
        self.add(Table::ClaimDiagnosis, diagnoses, version, label);
    }

    /// The remittance of one 835 set.
    fn remittance(&mut self, tx: &Transaction<'_, '_>, version: &str, label: &str) {
        let read = remit::read_remittance(tx);
        let mut flattener = RemittanceFlattener::with_capacity(read.claims.len());
        flattener.push_transaction(tx, &read);
        let tables = flattener.finish();
        let mut keep = vec![true; tables.remittance.num_rows()];
        let keys = tables
            .remittance
            .column_by_name("remittance_key")
            .and_then(|c| c.as_string_opt::<i32>());
        let mut bad = HashSet::new();
        for (i, c) in read.claims.iter().enumerate() {
            let Some(issue) = c.issues.iter().find(|i| withholds_payment(i)) else {
                continue;
            };
            self.dead.push(
                Reason::new(
                    issue.code,
                    format!(
                        "{label}, claim payment at segment {}: {}",
                        c.segment, issue.at
                    ),
                    format!("{}: the claim payment is not routed", issue.code.title()),
                )
                .for_table(Table::Remittance.name()),
            );
            // One remittance row per claim payment, in order.
            if let Some(k) = keep.get_mut(i) {
                *k = false;
            }
            if let Some(keys) = keys.filter(|k| i < k.len() && k.is_valid(i)) {
                bad.insert(keys.value(i).to_owned());
            }
        }
        let payments = keep_rows(tables.remittance, &keep);
        let lines = {
            let keep = not_in(&tables.remittance_line, "remittance_key", &bad);
            keep_rows(tables.remittance_line, &keep)
        };
        // Provider-level adjustments have no remittance_key and are kept.
        let adjustments = {
            let keep = not_in(&tables.adjustment, "remittance_key", &bad);
            keep_rows(tables.adjustment, &keep)
        };
        self.add(Table::Remittance, payments, version, label);
        self.add(Table::RemittanceLine, lines, version, label);
        self.add(Table::Adjustment, adjustments, version, label);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use caresync_core::calendar::days_from_civil;
    use caresync_testkit::x12::{
        ClaimsFile, Mutation, RemitFile, X12Generator, X12Kind, X12Options, mutate,
    };
    use deltalake::arrow::array::{ArrayRef, Int32Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::bronze::sha256_hex;
    use crate::ingest::Format;
    use crate::silver::{SOURCE_HASH_COLUMN, VERSION_COLUMN};

    /// The bronze row number every test row has.
    const ROW: u32 = 4;

    fn bronze(payload: &[u8]) -> BronzeRow {
        BronzeRow {
            row: ROW,
            source: Arc::from("landing"),
            format: Format::X12,
            received_at: 1_700_000_000_000_000,
            message_id: Some("file.837".into()),
            content_sha256: sha256_hex(payload),
            payload: payload.to_vec(),
        }
    }

    fn run(payload: &[u8]) -> Routed {
        let mut routed = Routed::default();
        route(9, &bronze(payload), &mut routed);
        routed
    }

    fn names(r: &Routed) -> Vec<&str> {
        r.tables.keys().map(String::as_str).collect()
    }

    fn rows(r: &Routed, table: &str) -> usize {
        r.tables
            .get(table)
            .map_or(0, |t| t.batches.iter().map(RecordBatch::num_rows).sum())
    }

    /// The values of a text column of `table`, in order.
    fn texts(r: &Routed, table: &str, column: &str) -> Vec<Option<String>> {
        let Some(t) = r.tables.get(table) else {
            return Vec::new();
        };
        t.batches
            .iter()
            .flat_map(|b| {
                let c = b
                    .column_by_name(column)
                    .and_then(|c| c.as_string_opt::<i32>())
                    .expect("a text column");
                (0..c.len())
                    .map(|i| c.is_valid(i).then(|| c.value(i).to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn dead_codes(r: &Routed) -> Vec<&'static str> {
        r.dead.iter().map(|d| d.reason.code.code()).collect()
    }

    /// The distinct versions of every row routed.
    fn versions(r: &Routed) -> BTreeSet<Version> {
        r.tables
            .keys()
            .flat_map(|t| texts(r, t, VERSION_COLUMN))
            .map(|v| {
                v.expect("a version")
                    .parse::<Version>()
                    .expect("version text")
            })
            .collect()
    }

    /// Checks what every routed row must satisfy: the table's schema,
    /// non-null keys, lineage, origins.
    fn check_rows(r: &Routed, payload: &[u8]) {
        let sha = sha256_hex(payload);
        for (name, t) in &r.tables {
            assert_eq!(&t.table, silver_table(table_named(name)), "{name}");
            for (b, origins) in t.batches.iter().zip(&t.origins) {
                assert_eq!(b.schema(), t.table.schema, "{name}");
                assert_eq!(origins, &vec![ROW; b.num_rows()], "{name}");
                for key in &t.table.keys {
                    let c = b.column_by_name(key).expect("a key column");
                    assert_eq!(c.null_count(), 0, "{name}.{key}");
                }
            }
            assert!(
                texts(r, name, SOURCE_HASH_COLUMN)
                    .iter()
                    .all(|s| s.as_deref() == Some(sha.as_str())),
                "{name}"
            );
        }
    }

    fn table_named(name: &str) -> Table {
        Table::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .expect("a flattened table")
    }

    /// Dead letters say where and which rule, never a value of `values`.
    fn check_no_values(r: &Routed, values: &[&str]) {
        for d in &r.dead {
            for v in values {
                assert!(
                    !d.reason.location.contains(v) && !d.reason.detail.contains(v),
                    "a value in a dead letter: {} / {}",
                    d.reason.location,
                    d.reason.detail
                );
            }
        }
    }

    fn claims_file(seed: u64, kind: X12Kind, n: usize, per_set: usize) -> ClaimsFile {
        let options = X12Options {
            claims_per_transaction: per_set,
            ..X12Options::default()
        };
        X12Generator::new(seed, options).claims_file(kind, n)
    }

    fn remit_file(seed: u64, sets: usize, claims: usize) -> RemitFile {
        X12Generator::new(seed, X12Options::default()).remittance_file(sets, claims)
    }

    fn claim_values(file: &ClaimsFile) -> Vec<&str> {
        file.claims
            .iter()
            .flat_map(|c| {
                [
                    c.claim_id.as_str(),
                    c.patient_family.as_str(),
                    c.patient_given.as_str(),
                    c.member_id.as_str(),
                ]
            })
            .collect()
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).expect("generated files are ASCII")
    }

    /// The version of 2025-03-01 12:00 UTC (the generator's GS04/GS05)
    /// with ISA13 `control`.
    fn generated_version(control: u32) -> String {
        let micros = days_from_civil(2025, 3, 1) * DAY_MICROS + 12 * 3_600_000_000;
        format!("{micros}:s{control}")
    }

    #[test]
    fn generated_claims_fill_the_claim_tables() {
        for kind in [X12Kind::Professional, X12Kind::Institutional] {
            let file = claims_file(11, kind, 20, 7);
            let r = run(&file.text);
            assert!(r.dead.is_empty(), "{kind:?}: {:?}", dead_codes(&r));
            assert_eq!(names(&r), ["claim", "claim_diagnosis", "claim_line"]);
            assert_eq!(rows(&r, "claim"), 20);
            let lines: usize = file.claims.iter().map(|c| c.lines.len()).sum();
            let diagnoses: usize = file.claims.iter().map(|c| c.diagnoses.len()).sum();
            assert_eq!(rows(&r, "claim_line"), lines, "{kind:?}");
            assert_eq!(rows(&r, "claim_diagnosis"), diagnoses, "{kind:?}");
            assert_eq!(r.records, (20 + lines + diagnoses) as u64);
            let ids: Vec<String> = texts(&r, "claim", "claim_id")
                .into_iter()
                .flatten()
                .collect();
            let truth: Vec<&str> = file.claims.iter().map(|c| c.claim_id.as_str()).collect();
            assert_eq!(ids, truth);
            check_rows(&r, &file.text);
            let version = generated_version(file.interchange_control_number);
            assert_eq!(
                versions(&r),
                BTreeSet::from([version.parse::<Version>().expect("a version")])
            );
        }
    }

    #[test]
    fn generated_remittances_fill_the_remittance_tables() {
        let file = remit_file(3, 3, 4);
        let r = run(&file.text);
        assert!(r.dead.is_empty(), "{:?}", dead_codes(&r));
        assert_eq!(names(&r), ["adjustment", "remittance", "remittance_line"]);
        let claims: Vec<_> = file.remittances.iter().flat_map(|m| &m.claims).collect();
        let lines: usize = claims.iter().map(|c| c.lines.len()).sum();
        let adjustments: usize = claims
            .iter()
            .flat_map(|c| &c.lines)
            .map(|l| l.adjustments.len())
            .sum::<usize>()
            + file
                .remittances
                .iter()
                .map(|m| m.provider_adjustments_cents.len())
                .sum::<usize>();
        assert_eq!(rows(&r, "remittance"), 12);
        assert_eq!(rows(&r, "remittance_line"), lines);
        assert_eq!(rows(&r, "adjustment"), adjustments);
        check_rows(&r, &file.text);
        assert_eq!(versions(&r).len(), 1);
    }

    #[test]
    fn a_file_routed_again_gives_the_same_rows_and_versions() {
        let file = claims_file(5, X12Kind::Professional, 9, 4);
        let (a, b) = (run(&file.text), run(&file.text));
        assert_eq!(names(&a), names(&b));
        for (name, t) in &a.tables {
            assert_eq!(t.batches, b.tables[name].batches, "{name}");
        }
        assert_eq!(
            texts(&a, "claim_line", VERSION_COLUMN),
            texts(&b, "claim_line", VERSION_COLUMN)
        );
    }

    #[test]
    fn a_later_interchange_has_a_greater_version() {
        let mut generator = X12Generator::new(8, X12Options::default());
        let first = generator.claims_file(X12Kind::Professional, 3);
        let second = generator.claims_file(X12Kind::Professional, 3);
        assert!(second.interchange_control_number > first.interchange_control_number);
        let (v1, v2) = (versions(&run(&first.text)), versions(&run(&second.text)));
        assert_eq!((v1.len(), v2.len()), (1, 1));
        assert!(v2.first() > v1.first());
        // A later GS04/GS05 wins over a greater ISA13.
        let later_day = text(&first.text).replace("*20250301*1200*", "*20250302*0800*");
        let v3 = versions(&run(later_day.as_bytes()));
        assert!(v3.first() > v2.first());
    }

    #[test]
    fn the_version_reads_gs_seconds_and_falls_back_to_isa() {
        let file = claims_file(2, X12Kind::Professional, 2, 100);
        let base = text(&file.text);
        let gs = "*20250301*1200*";
        let at = |gs_date_time: &str| {
            let r = run(base.replacen(gs, gs_date_time, 1).as_bytes());
            let v = versions(&r);
            assert_eq!(v.len(), 1, "{gs_date_time}: {:?}", dead_codes(&r));
            v.first().expect("a version").time().as_unix_micros()
        };
        let noon = at(gs);
        assert_eq!(
            Version::new(
                EventTime::from_unix_micros(noon),
                Tiebreaker::from_text("1")
            )
            .to_string(),
            generated_version(1)
        );
        assert_eq!(at("*20250301*120030*") - noon, 30_000_000);
        assert_eq!(at("*20250301*1200305*") - noon, 30_500_000);
        assert_eq!(at("*20250301*12003055*") - noon, 30_550_000);
        // An invalid GS date or time: ISA09/ISA10 (250301, 1200).
        assert_eq!(at("*20251345*1200*"), noon);
        assert_eq!(at("*20250301*2500*"), noon);
        // Neither is valid: the set is dead-lettered, nothing is routed.
        let neither =
            base.replacen(gs, "*20250301*2500*", 1)
                .replacen("*250301*1200*", "*250301*9900*", 1);
        let r = run(neither.as_bytes());
        assert_eq!(dead_codes(&r), ["STREAM-0004"]);
        assert!(r.tables.is_empty());
    }

    #[test]
    fn what_is_not_x12_is_dead_lettered_once() {
        let payloads: [&[u8]; 5] = [
            b"",
            b"hello, world",
            b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|1|P|2.5\r",
            b"ISA*00*  ",
            &[0xff, 0x00, 0x7e, 0x2a, 0x49, 0x53, 0x41],
        ];
        for p in payloads {
            let r = run(p);
            assert_eq!(dead_codes(&r), ["X12-0003"], "{p:?}");
            assert!(r.dead[0].reason.location.contains("byte 0"));
            assert!(r.tables.is_empty());
        }
    }

    #[test]
    fn one_claim_without_an_id_does_not_stop_the_others() {
        let file = claims_file(21, X12Kind::Professional, 5, 100);
        let bad = &file.claims[2];
        let broken = text(&file.text).replacen(&format!("CLM*{}*", bad.claim_id), "CLM**", 1);
        let r = run(broken.as_bytes());
        assert_eq!(dead_codes(&r), ["X12-0103"]);
        let dead = &r.dead[0].reason;
        assert_eq!(dead.table.as_deref(), Some("claim"));
        assert!(dead.location.contains("CLM01"), "{}", dead.location);
        check_no_values(&r, &claim_values(&file));
        assert_eq!(rows(&r, "claim"), 4);
        let others = file.claims.iter().filter(|c| c.claim_id != bad.claim_id);
        let (lines, diagnoses) = others.fold((0, 0), |(l, d), c| {
            (l + c.lines.len(), d + c.diagnoses.len())
        });
        assert_eq!(rows(&r, "claim_line"), lines);
        assert_eq!(rows(&r, "claim_diagnosis"), diagnoses);
        let ids: Vec<String> = texts(&r, "claim", "claim_id")
            .into_iter()
            .flatten()
            .collect();
        assert!(!ids.contains(&bad.claim_id));
        check_rows(&r, broken.as_bytes());
    }

    #[test]
    fn an_unreadable_birth_date_withholds_the_claims_that_take_it() {
        let file = claims_file(23, X12Kind::Professional, 5, 100);
        let base = text(&file.text);
        let at = base.find("DMG*D8*").expect("a DMG segment") + "DMG*D8*".len();
        let mut broken = base.clone();
        broken.replace_range(at..at + 8, "20251345");
        let r = run(broken.as_bytes());
        assert_eq!(dead_codes(&r), ["X12-0106"]);
        assert!(
            r.dead[0].reason.location.contains("DMG02"),
            "{}",
            r.dead[0].reason.location
        );
        check_no_values(&r, &claim_values(&file));
        // The generator gives every claim its own subscriber loop.
        assert_eq!(rows(&r, "claim"), 4);
        let ids: Vec<String> = texts(&r, "claim", "claim_id")
            .into_iter()
            .flatten()
            .collect();
        assert!(!ids.contains(&file.claims[0].claim_id));
        check_rows(&r, broken.as_bytes());
    }

    #[test]
    fn mutations_dead_letter_the_records_they_break() {
        let file = claims_file(31, X12Kind::Professional, 10, 5);
        let lines: usize = file.claims.iter().map(|c| c.lines.len()).sum();
        let values = claim_values(&file);
        let mutated = |m: Mutation| {
            let broken = mutate(&file.text, m, 4).expect("a place to break");
            let r = run(&broken);
            check_rows(&r, &broken);
            check_no_values(&r, &values);
            r
        };
        // A garbled amount or date: that claim only.
        for (m, code) in [
            (Mutation::BadAmount, "X12-0105"),
            (Mutation::BadDate, "X12-0106"),
        ] {
            let r = mutated(m);
            assert_eq!(dead_codes(&r), [code], "{m:?}");
            assert_eq!(rows(&r, "claim"), 9, "{m:?}");
            let ids: BTreeSet<String> = texts(&r, "claim", "claim_id")
                .into_iter()
                .flatten()
                .collect();
            let lost: usize = file
                .claims
                .iter()
                .filter(|c| !ids.contains(&c.claim_id))
                .map(|c| c.lines.len())
                .sum();
            assert_eq!(rows(&r, "claim_line"), lines - lost, "{m:?}");
        }
        // Unbalanced: kept, flagged.
        let r = mutated(Mutation::Unbalanced);
        assert!(r.dead.is_empty(), "{:?}", dead_codes(&r));
        assert_eq!(rows(&r, "claim"), 10);
        let balanced = r.tables["claim"].batches[0]
            .column_by_name("balanced")
            .and_then(|c| c.as_boolean_opt().cloned())
            .expect("a boolean column");
        assert_eq!(balanced.false_count(), 1);
        // A wrong IEA02 leaves the sets whole.
        let r = mutated(Mutation::WrongControlNumber);
        assert!(r.dead.is_empty(), "{:?}", dead_codes(&r));
        assert_eq!(rows(&r, "claim"), 10);
        // A wrong SE01 (or a lost segment, which SE01 shows): the set.
        for m in [Mutation::WrongSegmentCount, Mutation::DroppedSegment] {
            let r = mutated(m);
            assert_eq!(dead_codes(&r), ["X12-0012"], "{m:?}");
            assert_eq!(rows(&r, "claim"), 5, "{m:?}");
        }
        // Cut short: the set that was cut, at least.
        let r = mutated(Mutation::Truncated);
        assert!(!r.dead.is_empty());
        assert!(
            dead_codes(&r)
                .iter()
                .all(|c| ["X12-0010", "X12-0004"].contains(c)),
            "{:?}",
            dead_codes(&r)
        );
        assert!(rows(&r, "claim") < 10);
    }

    #[test]
    fn a_garbled_claim_payment_is_dead_lettered_with_its_adjustments() {
        let file = remit_file(12, 1, 5);
        let total = rows(&run(&file.text), "adjustment");
        let broken = mutate(&file.text, Mutation::BadAmount, 1).expect("a CLP");
        let r = run(&broken);
        assert_eq!(dead_codes(&r), ["X12-0203"]);
        assert_eq!(r.dead[0].reason.table.as_deref(), Some("remittance"));
        assert_eq!(rows(&r, "remittance"), 4);
        let kept: BTreeSet<String> = texts(&r, "remittance", "claim_id")
            .into_iter()
            .flatten()
            .collect();
        let claims = &file.remittances[0].claims;
        let lost = claims
            .iter()
            .find(|c| !kept.contains(&c.claim_id))
            .expect("one claim lost");
        let lost_adjustments: usize = lost.lines.iter().map(|l| l.adjustments.len()).sum();
        assert_eq!(rows(&r, "adjustment"), total - lost_adjustments);
        assert_eq!(
            rows(&r, "remittance_line"),
            claims.iter().map(|c| c.lines.len()).sum::<usize>() - lost.lines.len()
        );
        check_rows(&r, &broken);
    }

    #[test]
    fn no_mutation_panics_or_routes_a_null_key() {
        let claims = claims_file(41, X12Kind::Institutional, 12, 5);
        let remits = remit_file(42, 2, 3);
        let values = claim_values(&claims);
        for m in Mutation::ALL {
            for seed in 0..6 {
                for input in [&claims.text, &remits.text] {
                    let Some(broken) = mutate(input, m, seed) else {
                        continue;
                    };
                    let r = run(&broken);
                    assert!(!r.tables.is_empty() || !r.dead.is_empty(), "{m:?} {seed}");
                    check_rows(&r, &broken);
                    check_no_values(&r, &values);
                }
            }
        }
    }

    #[test]
    fn rows_with_a_null_key_are_dead_lettered() {
        let schema = Schema::new(vec![
            Field::new("claim_key", DataType::Utf8, true),
            Field::new("line_number", DataType::Int32, true),
        ]);
        let table = SilverTable::new("claim_line", &schema, &["claim_key", "line_number"]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("c"),
                Some("d"),
            ])),
            Arc::new(Int32Array::from(vec![Some(1), Some(2), None, Some(4)])),
        ];
        let batch = RecordBatch::try_new(Arc::new(schema), columns).expect("a batch");
        let mut dead = Vec::new();
        let kept = drop_null_keys(&table, batch, "set", &mut dead);
        assert_eq!(kept.num_rows(), 2);
        let codes: Vec<&str> = dead.iter().map(|d| d.code.code()).collect();
        assert_eq!(codes, ["STREAM-0003", "STREAM-0003"]);
        assert!(
            dead[0].location.contains("claim_key, row 1"),
            "{}",
            dead[0].location
        );
        assert!(
            dead[1].location.contains("line_number, row 2"),
            "{}",
            dead[1].location
        );
    }

    /// A file of the shared public corpora (LinuxForHealth X12 samples,
    /// Apache-2.0: example data of the implementation guides), read-only.
    fn corpus(path: &str) -> Vec<u8> {
        let at = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpora/x12/linuxforhealth")
            .join(path);
        std::fs::read(&at).expect("the shared X12 corpus is readable")
    }

    #[test]
    fn real_files_route() {
        // 2013-10-31 11:47 UTC (GS04/GS05), ISA13 907.
        let micros = days_from_civil(2013, 10, 31) * DAY_MICROS + (11 * 60 + 47) * 60_000_000;
        let version = format!("{micros}:s907")
            .parse::<Version>()
            .expect("a version");

        let r = run(&corpus("837_005010X223A3/two-claims-single-provider.837i"));
        assert!(r.dead.is_empty(), "{:?}", dead_codes(&r));
        assert_eq!(
            (
                rows(&r, "claim"),
                rows(&r, "claim_line"),
                rows(&r, "claim_diagnosis")
            ),
            (2, 3, 4)
        );
        assert_eq!(
            texts(&r, "claim", "claim_key"),
            [
                Some("12345|756048Q|000000907".into()),
                Some("12345|756049Q|000000907".into())
            ]
        );
        assert_eq!(versions(&r), BTreeSet::from([version.clone()]));
        check_rows(
            &r,
            &corpus("837_005010X223A3/two-claims-single-provider.837i"),
        );

        let r = run(&corpus("835_005010X221A1/managed-care.835"));
        assert!(r.dead.is_empty(), "{:?}", dead_codes(&r));
        assert_eq!(
            (
                rows(&r, "remittance"),
                rows(&r, "remittance_line"),
                rows(&r, "adjustment")
            ),
            (2, 2, 5)
        );
        assert_eq!(versions(&r), BTreeSet::from([version]));
        check_rows(&r, &corpus("835_005010X221A1/managed-care.835"));
        // BPR16 `20002316` is not a date: kept, with its code on the rows.
        let codes = r.tables["remittance"].batches[0]
            .column_by_name("payment_issue_codes")
            .and_then(|c| c.as_list_opt::<i32>().cloned())
            .expect("a list column");
        for i in 0..codes.len() {
            let row = codes.value(i);
            let row = row.as_string::<i32>();
            assert_eq!(row.iter().collect::<Vec<_>>(), [Some("X12-0204")]);
        }
    }
}
