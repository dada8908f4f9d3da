//! The dead-letter table: every rejected record, with its error class,
//! code and location, the contract version it was checked against, where
//! its raw bytes are in bronze, and a **masked** sample (the shape of the
//! input, never its values).
//!
//! | column | type | |
//! |---|---|---|
//! | `error_class` | `Utf8` | `parse`, `contract`, `policy`, `mapping`, `merge`, `storage` |
//! | `error_code` | `Utf8` | a stable code (`HL7-0001`, `CONTRACT-0104`...) |
//! | `location` | `Utf8` | where in the input (segment and field, JSON path, row and column) |
//! | `detail` | `Utf8` | the rule that failed, never a value |
//! | `table_name` | `Utf8` | the silver table the record was bound for, when known |
//! | `contract_version` | `Utf8` | the contract's version, for contract errors |
//! | `source` | `Utf8` | the source's name |
//! | `format` | `Utf8` | `hl7v2`, `fhir`, `x12` |
//! | `message_id` | `Utf8` | the sender's id for the message |
//! | `bronze_batch` | `Int64` | the bronze batch holding the raw bytes |
//! | `bronze_row` | `Int32` | the row within that batch |
//! | `content_sha256` | `Utf8` | the raw bytes' SHA-256 |
//! | `sample` | `Utf8` | the masked shape of the input (letters `X`, digits `9`) |
//! | `received_at` | `Timestamp(µs, UTC)` | when the message arrived |
//! | `dead_lettered_at` | `Timestamp(µs, UTC)` | when it was rejected |
//!
//! Replay reads the raw bytes back from bronze by (`bronze_batch`,
//! `bronze_row`).

use std::sync::{Arc, LazyLock};

use caresync_core::{ErrorClass, ErrorCode};
use deltalake::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Bytes of input a sample shows at most.
pub const SAMPLE_BYTES: usize = 512;

/// The dead-letter table's schema (see the module docs).
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        let time = |name: &str| {
            Field::new(
                name,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            )
        };
        Arc::new(Schema::new(vec![
            text("error_class", false),
            text("error_code", false),
            text("location", false),
            text("detail", false),
            text("table_name", true),
            text("contract_version", true),
            text("source", false),
            text("format", false),
            text("message_id", true),
            Field::new("bronze_batch", DataType::Int64, false),
            Field::new("bronze_row", DataType::Int32, false),
            text("content_sha256", false),
            text("sample", false),
            time("received_at"),
            time("dead_lettered_at"),
        ]))
    });
    SCHEMA.clone()
}

/// The names of an error class as stored in `error_class`.
pub fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Parse => "parse",
        ErrorClass::Contract => "contract",
        ErrorClass::Policy => "policy",
        ErrorClass::Mapping => "mapping",
        ErrorClass::Merge => "merge",
        _ => "storage",
    }
}

/// The class named `name` (as [`class_name`] writes it).
pub fn class_from_name(name: &str) -> Option<ErrorClass> {
    ErrorClass::ALL.into_iter().find(|c| class_name(*c) == name)
}

/// Why a record was rejected: its code, where, and the rule. Holds no
/// input values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// The stable code (its class is the record's error class).
    pub code: ErrorCode,
    /// Where in the input.
    pub location: String,
    /// The rule that failed.
    pub detail: String,
    /// The silver table the record was bound for.
    pub table: Option<String>,
    /// The contract version, for contract errors.
    pub contract_version: Option<String>,
}

impl Reason {
    /// A reason with `code`, `location` and `detail`, bound for no table.
    pub fn new(code: ErrorCode, location: impl Into<String>, detail: impl Into<String>) -> Self {
        Reason {
            code,
            location: location.into(),
            detail: detail.into(),
            table: None,
            contract_version: None,
        }
    }

    /// The same, bound for `table`.
    #[must_use]
    pub fn for_table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }
}

/// One dead-letter row (see the module docs for its columns); it holds a
/// masked sample, never input values.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Why.
    pub reason: Reason,
    /// The source's name.
    pub source: Arc<str>,
    /// The input's format.
    pub format: &'static str,
    /// The sender's id for the message.
    pub message_id: Option<String>,
    /// The bronze batch holding the raw bytes.
    pub bronze_batch: i64,
    /// The row in that batch.
    pub bronze_row: i32,
    /// The raw bytes' SHA-256.
    pub content_sha256: String,
    /// The masked sample.
    pub sample: String,
    /// Arrival, µs since the Unix epoch.
    pub received_at: i64,
}

/// The dead-letter rows as one batch, stamped `now` (µs since the epoch).
pub(crate) fn to_batch(rows: &[DeadLetter], now: i64) -> RecordBatch {
    let text = |f: &dyn Fn(&DeadLetter) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let times = |f: &dyn Fn(&DeadLetter) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|d| Some(class_name(d.reason.code.class()))),
        text(&|d| Some(d.reason.code.code())),
        text(&|d| Some(&d.reason.location)),
        text(&|d| Some(&d.reason.detail)),
        text(&|d| d.reason.table.as_deref()),
        text(&|d| d.reason.contract_version.as_deref()),
        text(&|d| Some(&d.source)),
        text(&|d| Some(d.format)),
        text(&|d| d.message_id.as_deref()),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|d| d.bronze_batch),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|d| d.bronze_row),
        )),
        text(&|d| Some(&d.content_sha256)),
        text(&|d| Some(&d.sample)),
        times(&|d| d.received_at),
        times(&|_| now),
    ];
    // The columns are built to the schema above: a mismatch is a bug here.
    RecordBatch::try_new(schema(), columns).expect("dead-letter columns match their schema")
}

/// The shape of `payload` without its values: letters become `X`, digits
/// `9`, other bytes above ASCII `?`; delimiters and punctuation are kept,
/// and so is a segment id (two or three capitals and digits at the start
/// of a line or after an X12 `~`, followed by `|` or `*`), so a reader sees the
/// structure that failed. At most [`SAMPLE_BYTES`] bytes of input.
pub fn masked_sample(payload: &[u8]) -> String {
    let shown = &payload[..payload.len().min(SAMPLE_BYTES)];
    let mut out = String::with_capacity(shown.len() + 3);
    let mut keep = 0usize;
    let mut at_start = true;
    // `~` ends X12 segments; in HL7 v2 it separates repetitions.
    let x12 = payload.starts_with(b"ISA");
    for (i, &b) in shown.iter().enumerate() {
        if at_start {
            keep = segment_id_len(&payload[i..]);
            at_start = false;
        }
        let c = match b {
            b'\r' | b'\n' => {
                at_start = true;
                '\u{21b5}'
            }
            b'~' => {
                at_start = x12;
                '~'
            }
            _ if keep > 0 => {
                keep -= 1;
                b as char
            }
            b'a'..=b'z' | b'A'..=b'Z' => 'X',
            b'0'..=b'9' => '9',
            b' ' => ' ',
            _ if b.is_ascii_punctuation() => b as char,
            _ => '?',
        };
        out.push(c);
    }
    if payload.len() > SAMPLE_BYTES {
        out.push('…');
    }
    out
}

/// The length of the segment id `rest` starts with (`MSH|`, `PV1|`,
/// `NM1*`, `N3*`), or 0.
fn segment_id_len(rest: &[u8]) -> usize {
    let id = rest
        .iter()
        .enumerate()
        .take_while(|&(i, b)| b.is_ascii_uppercase() || (i > 0 && b.is_ascii_digit()))
        .count();
    match rest.get(id) {
        Some(b'|' | b'*') if (2..=3).contains(&id) => id,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_segment_ids_and_delimiters_but_no_values() {
        let msg = b"MSH|^~\\&|ADT|GHH|||20240501||ADT^A01|MSG1|P|2.5\rPID|1||4711^^^GHH^MR||Doe^Jane||19800101|F\r";
        let sample = masked_sample(msg);
        assert!(sample.starts_with("MSH|^~\\&|XXX|XXX|||99999999||XXX^X99|XXX9|X|9.9\u{21b5}PID|9||9999^^^XXX^XX||XXX^XXXX||99999999|X"), "{sample}");
        for value in ["Doe", "Jane", "4711", "19800101", "GHH"] {
            assert!(!sample.contains(value), "{value} leaked");
        }
    }

    #[test]
    fn samples_are_bounded_and_mark_the_cut() {
        let long = vec![b'a'; 4000];
        let sample = masked_sample(&long);
        assert_eq!(sample.chars().count(), SAMPLE_BYTES + 1);
        assert!(sample.ends_with('…'));
        assert!(!sample.contains('a'));
    }

    #[test]
    fn x12_segment_ids_survive() {
        let sample = masked_sample(b"ISA*00*SECRET~NM1*IL*1*DOE*JOHN~");
        assert_eq!(sample, "ISA*99*XXXXXX~NM1*XX*9*XXX*XXXX~");
    }

    proptest::proptest! {
        /// Whatever the input, a sample keeps no value: every letter is an
        /// `X` or part of a kept segment id, every digit a `9` (or part of
        /// one), and a run of input letters longer than three never
        /// survives.
        #[test]
        fn samples_never_keep_values(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700)) {
            let sample = masked_sample(&input);
            let mut run = 0;
            for c in sample.chars() {
                proptest::prop_assert!(!c.is_ascii_lowercase());
                if c.is_ascii_alphanumeric() && c != 'X' && c != '9' {
                    run += 1;
                    proptest::prop_assert!(run <= 3, "{sample}");
                } else {
                    run = 0;
                }
            }
            proptest::prop_assert!(sample.chars().count() <= SAMPLE_BYTES + 1);
        }
    }

    #[test]
    fn dead_letters_make_a_batch_of_the_schema() {
        let row = DeadLetter {
            reason: Reason::new(crate::ingest::codes::UNSUPPORTED, "MSH-9", "no table"),
            source: Arc::from("mllp"),
            format: "hl7v2",
            message_id: Some("MSG1".into()),
            bronze_batch: 3,
            bronze_row: 7,
            content_sha256: "00".into(),
            sample: "MSH|".into(),
            received_at: 1,
        };
        let batch = to_batch(&[row], 2);
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema());
        assert_eq!(class_from_name("mapping"), Some(ErrorClass::Mapping));
    }
}
