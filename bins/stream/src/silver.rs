//! Silver: bronze rows parsed, checked against their data contracts and
//! routed to per-entity tables, or to the dead-letter table.
//!
//! Routing one bronze batch ([`route`]) is pure: it yields, per silver
//! table, record batches with the table's columns, and dead letters. The
//! [`worker`](crate::worker) merges them into Delta.
//!
//! - **HL7 v2** (a message, or a batch file of them): each message is
//!   mapped to a FHIR Bundle (`caresync_fhir::v2`), whose Patient,
//!   Encounter, Observation, Condition, ... entries are flattened into the
//!   table of their type. The version of every record is the message's
//!   (MSH-7 as an instant, then the control id MSH-10).
//! - **FHIR** (a resource, a Bundle, NDJSON): each resource is flattened
//!   into the table of its type; its version is `meta.lastUpdated` then
//!   `meta.versionId`, or its arrival time when `lastUpdated` is absent.
//! - **X12** (837 claims, 835 remittances): flattened into the `claim`,
//!   `claim_line`, `claim_diagnosis`, `remittance`, `remittance_line` and
//!   `adjustment` tables of `caresync_x12::flatten`, keyed as documented
//!   there; the version is the interchange's GS (or ISA) date and time,
//!   then its control number ISA13.
//!
//! Every silver row carries two lineage columns after the flattened ones:
//! [`VERSION_COLUMN`] (the record's `caresync_core::Version` as text, which
//! the merge orders by) and [`SOURCE_HASH_COLUMN`] (the SHA-256 of the
//! bronze payload it came from, which finds its raw bytes). Both are the
//! same when a message is sent again, so a re-send is a duplicate to the
//! merge, not an update. Resource types without a silver table
//! (`MessageHeader`, `Organization`...) are skipped when they come with
//! others; an input that yields no silver row at all is dead-lettered
//! (`STREAM-0005`), so every input ends in exactly one place.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use caresync_contract::{Contract, Severity};
use caresync_core::{EventTime, Rejection};
use caresync_fhir::flatten::{Flattener, ResourceTable};
use caresync_fhir::read::{Format as FhirFormat, NdjsonReader, RawResource, ReadOptions, detect};
use caresync_hl7v2::Message;
use deltalake::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::bronze::{BronzeBatch, BronzeRow};
use crate::dlq::{DeadLetter, Reason, masked_sample};
use crate::ingest::{Format, codes};

/// The record's version as `caresync_core::Version` text.
pub const VERSION_COLUMN: &str = "_version";
/// The SHA-256 of the bronze payload the record came from.
pub const SOURCE_HASH_COLUMN: &str = "_content_sha256";

/// A silver table: its name (its folder under the silver root), its
/// columns (the flattened ones, then the lineage columns) and its key.
#[derive(Clone, Debug, PartialEq)]
pub struct SilverTable {
    /// The table's name, e.g. `patient`, `medication_request`, `claim`.
    pub name: String,
    /// Its schema, lineage columns included.
    pub schema: SchemaRef,
    /// Its key columns.
    pub keys: Vec<String>,
}

impl SilverTable {
    /// A table of `columns` (without lineage) keyed by `keys`.
    pub fn new(name: impl Into<String>, columns: &Schema, keys: &[&str]) -> Self {
        let mut fields: Vec<Field> = columns
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(VERSION_COLUMN, DataType::Utf8, false));
        fields.push(Field::new(SOURCE_HASH_COLUMN, DataType::Utf8, false));
        SilverTable {
            name: name.into(),
            schema: Arc::new(Schema::new(fields)),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// The table of a FHIR resource type (`patient`, `encounter`,
    /// `medication_request`, ..., `fhir_claim`: see
    /// [`ResourceTable::table_name`]), keyed by `id`.
    pub fn fhir(table: ResourceTable) -> Self {
        SilverTable::new(table.table_name(), &table.schema(), &["id"])
    }
}

/// The rows routed to one silver table.
#[derive(Debug)]
pub struct TableRows {
    /// The table.
    pub table: SilverTable,
    /// Its rows, in batches of the table's schema.
    pub batches: Vec<RecordBatch>,
    /// For each batch, the bronze row of each of its rows.
    pub(crate) origins: Vec<Vec<u32>>,
}

/// What routing one bronze batch produced.
#[derive(Debug, Default)]
pub struct Routed {
    /// Rows per silver table, by name.
    pub tables: BTreeMap<String, TableRows>,
    /// The rejected records.
    pub dead: Vec<DeadLetter>,
    /// Records routed to silver tables.
    pub records: u64,
}

impl Routed {
    /// Adds rows (with the table's schema) for `table`, with the bronze
    /// row each came from.
    pub(crate) fn push(&mut self, table: &SilverTable, batch: RecordBatch, origins: Vec<u32>) {
        if batch.num_rows() == 0 {
            return;
        }
        self.records += batch.num_rows() as u64;
        let rows = self
            .tables
            .entry(table.name.clone())
            .or_insert_with(|| TableRows {
                table: table.clone(),
                batches: Vec::new(),
                origins: Vec::new(),
            });
        rows.batches.push(batch);
        rows.origins.push(origins);
    }

    /// Dead-letters the bronze row `row` of batch `seq` for `reason`.
    pub(crate) fn reject(&mut self, seq: i64, row: &BronzeRow, reason: Reason) {
        self.dead.push(DeadLetter {
            reason,
            source: row.source.clone(),
            format: row.format.as_str(),
            message_id: row.message_id.clone(),
            bronze_batch: seq,
            bronze_row: i32::try_from(row.row).unwrap_or(i32::MAX),
            content_sha256: row.content_sha256.clone(),
            sample: masked_sample(&row.payload),
            received_at: row.received_at,
        });
    }

    /// Dead-letters a [`Rejection`] of a crate.
    pub(crate) fn reject_with(&mut self, seq: i64, row: &BronzeRow, rejection: &Rejection) {
        self.reject(
            seq,
            row,
            Reason::new(
                rejection.code(),
                rejection.location().to_string(),
                rejection.detail(),
            ),
        );
    }
}

/// Contracts by silver table name.
pub type Contracts = HashMap<String, Contract>;

/// Routes every row of `batch` (see the module docs), then checks each
/// table's rows against its contract in `contracts`: rows breaking an
/// `error` rule are dead-lettered with class `contract`.
pub fn route(batch: &BronzeBatch, contracts: &Contracts) -> Routed {
    route_rows(batch.seq, &batch.rows, contracts)
}

/// [`route`] over some of the rows of bronze batch `seq` (a batch is
/// routed in pieces, one per core, by the silver stage).
pub fn route_rows(seq: i64, rows: &[BronzeRow], contracts: &Contracts) -> Routed {
    let mut routed = Routed::default();
    let mut fhir = FhirSink::default();
    for row in rows {
        let before = (routed.dead.len(), fhir.pushed, routed.records);
        match row.format {
            Format::Hl7v2 => route_hl7(seq, row, &mut fhir, &mut routed),
            Format::Fhir => route_fhir(seq, row, &mut fhir, &mut routed),
            Format::X12 => crate::claims::route(seq, row, &mut routed),
        }
        if (routed.dead.len(), fhir.pushed, routed.records) == before {
            routed.reject(
                seq,
                row,
                Reason::new(
                    codes::UNSUPPORTED,
                    "input",
                    "the input holds no record a silver table takes",
                ),
            );
        }
    }
    fhir.finish(rows, &mut routed);
    check_contracts(seq, rows, contracts, &mut routed);
    routed
}

/// Flatteners of the FHIR tables met in one bronze batch.
#[derive(Default)]
struct FhirSink {
    tables: BTreeMap<ResourceTable, FhirTable>,
    /// Resources flattened so far.
    pushed: u64,
}

struct FhirTable {
    table: SilverTable,
    flattener: Flattener,
    versions: Vec<String>,
    rows: Vec<u32>,
    done: Vec<RecordBatch>,
}

impl FhirSink {
    /// Flattens one resource into its table, with its version as text;
    /// `Err` when it was refused.
    fn push(
        &mut self,
        table: ResourceTable,
        json: &str,
        version: &str,
        row: u32,
    ) -> Result<(), Rejection> {
        let t = self.tables.entry(table).or_insert_with(|| FhirTable {
            table: SilverTable::fhir(table),
            flattener: Flattener::new(table),
            versions: Vec::new(),
            rows: Vec::new(),
            done: Vec::new(),
        });
        t.flattener.push(json).map_err(|e| e.to_rejection())?;
        t.versions.push(version.to_owned());
        t.rows.push(row);
        self.pushed += 1;
        if t.flattener.is_full() {
            let batch = t.flattener.finish();
            t.done.push(batch);
        }
        Ok(())
    }

    fn finish(self, bronze: &[BronzeRow], routed: &mut Routed) {
        let hashes: HashMap<u32, &str> = bronze
            .iter()
            .map(|r| (r.row, r.content_sha256.as_str()))
            .collect();
        for (_, mut t) in self.tables {
            if !t.flattener.is_empty() {
                let batch = t.flattener.finish();
                t.done.push(batch);
            }
            let mut offset = 0;
            for batch in t.done {
                let n = batch.num_rows();
                let versions = &t.versions[offset..offset + n];
                let rows = &t.rows[offset..offset + n];
                offset += n;
                let shas: Vec<&str> = rows
                    .iter()
                    .map(|r| hashes.get(r).copied().unwrap_or(""))
                    .collect();
                let batch = with_lineage(&t.table, batch, versions, &shas);
                routed.push(&t.table, batch, rows.to_vec());
            }
        }
    }
}

/// `batch` with the lineage columns appended.
pub(crate) fn with_lineage(
    table: &SilverTable,
    batch: RecordBatch,
    versions: &[String],
    content_sha256: &[&str],
) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(
        versions
            .iter()
            .map(|v| Some(v.as_str()))
            .collect::<StringArray>(),
    ));
    columns.push(Arc::new(
        content_sha256
            .iter()
            .map(|v| Some(*v))
            .collect::<StringArray>(),
    ));
    // The flattened columns are the table's by construction.
    RecordBatch::try_new(table.schema.clone(), columns).expect("silver columns match their table")
}

fn route_hl7(seq: i64, row: &BronzeRow, fhir: &mut FhirSink, routed: &mut Routed) {
    let payload = &row.payload;
    let batch_file =
        payload.starts_with(b"FHS") || payload.starts_with(b"BHS") || memchr_msh_count(payload) > 1;
    if batch_file {
        for (i, message) in caresync_hl7v2::messages(payload).enumerate() {
            match message {
                Ok(msg) => route_message(seq, row, &msg, Some(i), fhir, routed),
                Err(e) => routed.reject(
                    seq,
                    row,
                    Reason::new(
                        e.code(),
                        format!("message {i} at byte {}", e.offset()),
                        e.to_string(),
                    ),
                ),
            }
        }
        return;
    }
    match Message::parse(payload) {
        Ok(msg) => route_message(seq, row, &msg, None, fhir, routed),
        Err(e) => routed.reject(
            seq,
            row,
            Reason::new(e.code(), format!("byte {}", e.offset()), e.to_string()),
        ),
    }
}

/// How many lines start with `MSH` (a batch file without FHS/BHS has
/// more than one).
fn memchr_msh_count(payload: &[u8]) -> usize {
    let mut count = usize::from(payload.starts_with(b"MSH"));
    for i in memchr::memchr2_iter(b'\r', b'\n', payload) {
        if payload[i + 1..].starts_with(b"MSH") {
            count += 1;
            if count > 1 {
                break;
            }
        }
    }
    count
}

fn route_message(
    seq: i64,
    row: &BronzeRow,
    msg: &Message<'_>,
    index: Option<usize>,
    fhir: &mut FhirSink,
    routed: &mut Routed,
) {
    let at = |what: String| match index {
        Some(i) => format!("message {i}, {what}"),
        None => what,
    };
    let Some(version) = msg.version() else {
        routed.reject(
            seq,
            row,
            Reason::new(
                codes::NO_RECORD_VERSION,
                at("MSH-7/MSH-10".into()),
                "the message has no valid MSH-7 timestamp or no MSH-10 control id",
            ),
        );
        return;
    };
    let mapped = match caresync_fhir::v2::to_bundle(msg) {
        Ok(m) => m,
        Err(e) => {
            routed.reject(
                seq,
                row,
                Reason::new(e.code(), at("MSH-9".into()), e.to_string()),
            );
            return;
        }
    };
    // Every resource of the message has its version.
    let version = version.to_string();
    // The mapping says where each resource is in its Bundle: no need to
    // read the Bundle back.
    for resource in mapped.resources() {
        let pushed = push_resource(
            fhir,
            resource.resource_type,
            Some(resource.id),
            resource.json,
            &version,
            row.row,
        );
        if let Err(rejection) = pushed {
            routed.reject_with(seq, row, &rejection);
            return;
        }
    }
}

/// Flattens `resource` into its table (`version` is its version as text);
/// types without a table are skipped.
fn push_resource(
    fhir: &mut FhirSink,
    resource_type: &str,
    id: Option<&str>,
    json: &str,
    version: &str,
    row: u32,
) -> Result<(), Rejection> {
    let Some(table) = ResourceTable::from_resource_type(resource_type) else {
        return Ok(());
    };
    if id.is_none_or(str::is_empty) {
        return Err(Rejection::new(
            codes::NO_RECORD_ID,
            caresync_core::Location::Field {
                path: format!("{}.id", table.resource_type()).into(),
                offset: None,
            },
            "a resource bound for silver has no id",
        ));
    }
    fhir.push(table, json, version, row)
}

fn route_fhir(seq: i64, row: &BronzeRow, fhir: &mut FhirSink, routed: &mut Routed) {
    let options = ReadOptions::default();
    let arrived = EventTime::from_unix_micros(row.received_at);
    let mut one = |routed: &mut Routed, resource: Result<RawResource, caresync_fhir::ReadError>| {
        let outcome = resource.map_err(|e| e.to_rejection()).and_then(|r| {
            let version = r.version(Some(arrived)).map_err(|e| e.to_rejection())?;
            let identity = r.identity();
            push_resource(
                fhir,
                identity.resource_type(),
                identity.id(),
                r.json(),
                &version.to_string(),
                row.row,
            )
        });
        if let Err(rejection) = outcome {
            routed.reject_with(seq, row, &rejection);
        }
    };
    match detect(&row.payload[..row.payload.len().min(64 * 1024)]) {
        Some(FhirFormat::Ndjson) => {
            for resource in NdjsonReader::new(&row.payload[..], options) {
                one(routed, resource);
            }
        }
        Some(FhirFormat::Bundle) => {
            let mut entries = Vec::new();
            let summary = caresync_fhir::read_bundle_slice(&row.payload, &options, |entry| {
                entries.push(entry);
                ControlFlow::Continue(())
            });
            for entry in entries {
                one(routed, entry);
            }
            if let Err(e) = summary {
                routed.reject_with(seq, row, &e.to_rejection());
            }
        }
        _ => {
            let resource = caresync_fhir::read_resource(&row.payload[..], &options);
            one(routed, resource);
        }
    }
}

/// Checks each table's rows against its contract, dead-lettering the rows
/// that break an error rule (once per bronze row and table).
fn check_contracts(seq: i64, rows: &[BronzeRow], contracts: &Contracts, routed: &mut Routed) {
    if contracts.is_empty() {
        return;
    }
    let by_row: HashMap<u32, &BronzeRow> = rows.iter().map(|r| (r.row, r)).collect();
    let mut dead = Vec::new();
    for (name, rows) in &mut routed.tables {
        let Some(contract) = contracts.get(name) else {
            continue;
        };
        for (b, origins) in rows.batches.iter_mut().zip(rows.origins.iter_mut()) {
            let found = match caresync_contract::validate(contract, b) {
                Ok(found) => found,
                Err(shape) => {
                    // The contract does not fit the table: every row fails.
                    let reason = Reason {
                        code: shape.code(),
                        location: format!("table {name}"),
                        detail: shape.to_string(),
                        table: Some(name.clone()),
                        contract_version: Some(contract.version.to_string()),
                    };
                    for r in origins.iter() {
                        dead.push((*r, reason.clone()));
                    }
                    *b = b.slice(0, 0);
                    origins.clear();
                    continue;
                }
            };
            let passed = found.passed();
            if passed.iter().all(|p| *p) {
                continue;
            }
            for v in found.errors() {
                if v.severity != Severity::Error {
                    continue;
                }
                let reason = Reason {
                    code: v.code,
                    location: format!("{name}.{}", v.column),
                    detail: match &v.rule {
                        Some(rule) => format!("rule {rule}"),
                        None => format!("field {}", v.column),
                    },
                    table: Some(name.clone()),
                    contract_version: Some(contract.version.to_string()),
                };
                dead.push((origins[v.row], reason));
            }
            let mut keep = passed.iter();
            origins.retain(|_| keep.next().copied().unwrap_or(false));
            let mask = BooleanArray::from(passed);
            // The mask has one entry per row of `b`.
            *b = filter_record_batch(b, &mask).expect("mask matches the batch");
        }
    }
    // One dead letter per bronze row, table and code.
    dead.sort_by(|a, b| {
        (a.0, &a.1.table, a.1.code.code()).cmp(&(b.0, &b.1.table, b.1.code.code()))
    });
    dead.dedup_by(|a, b| a.0 == b.0 && a.1.table == b.1.table && a.1.code == b.1.code);
    for (r, reason) in dead {
        if let Some(row) = by_row.get(&r) {
            routed.reject(seq, row, reason);
        }
    }
    routed.records = routed
        .tables
        .values()
        .map(|t| t.batches.iter().map(|b| b.num_rows() as u64).sum::<u64>())
        .sum();
}
