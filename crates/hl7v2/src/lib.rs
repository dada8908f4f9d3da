//! HL7 v2.x messages as they really arrive: parsing, printing, MLLP framing
//! and acknowledgements.
//!
//! ```
//! use caresync_hl7v2::{Message, Severity};
//!
//! let input = b"MSH|^~\\&|ADT|GOOD HEALTH|EHR|GHH|20240501103000-0500||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r\
//!               PID|1||4711^^^GHH^MR~123-45-6789^^^USSSA^SS||O'Brien\\T\\Sons^Mary||19800101|F\r\
//!               ZPI|custom\r";
//! let msg = Message::parse(input)?;
//!
//! // Paths as analysts write them.
//! assert_eq!(msg.get("PID-3(2).4").expect("second identifier").decode(), "USSSA");
//! assert_eq!(msg.get("PID-5.1").expect("family name").decode(), "O'Brien&Sons");
//! assert!(msg.get("PID-30").is_none()); // absent
//!
//! // The header, typed.
//! let header = msg.header();
//! assert_eq!(header.message_type().map(|t| t.to_string()).as_deref(), Some("ADT^A01"));
//! assert_eq!(header.control_id().as_deref(), Some("MSG0001"));
//!
//! // Lenient by default: issues come with byte offsets; none here.
//! assert!(msg.issues().iter().all(|i| i.severity != Severity::Error));
//!
//! // Printing gives the input back.
//! assert_eq!(msg.to_bytes(), input);
//! # Ok::<(), caresync_hl7v2::ParseError>(())
//! ```
//!
//! The parsed [`Message`] borrows its input: one pass records where each
//! segment and field starts, and repetitions, components and sub-components
//! are found when asked for. Escape sequences are decoded on access
//! ([`Value::decode`]) and written on print ([`escape_text`]).
//!
//! **Invariant:** this crate knows nothing about FHIR, storage or async
//! runtimes; the tokio MLLP codec is behind the `tokio` feature. Errors and
//! issues carry codes and byte offsets, never message content.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod ack;
mod batch;
mod charset;
mod delim;
mod error;
mod escape;
mod header;
pub mod mllp;
mod parse;
mod path;
mod print;
pub mod time;
mod value;

pub use ack::{Ack, AckCode, AckMode, ErrorLocation};
pub use batch::{MessageReader, Messages, ReadError, messages, messages_with};
pub use charset::Charset;
pub use delim::Delimiters;
pub use error::{Issue, ParseError, SegmentRef, Severity, codes};
pub use escape::{EncodeError, escape_text};
pub use header::{Header, HierarchicDesignator, KnownType, MessageType};
pub use parse::{Group, Groups, MAX_ISSUES, Message, ParseOptions, Segment, Segments};
pub use path::{Path, PathError};
pub use print::{PrintOptions, Terminator};
pub use time::Timestamp;
pub use value::{Level, Parts, Split, Value};

/// Every error code this crate can raise.
pub fn all_codes() -> Vec<caresync_core::ErrorCode> {
    let mut all = codes::ALL.to_vec();
    all.extend_from_slice(mllp::CODES);
    all.extend_from_slice(time::CODES);
    all
}
