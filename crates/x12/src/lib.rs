//! ASC X12 005010 healthcare transactions for caresync: a zero-copy
//! tokenizer that reads its delimiters from each ISA, envelopes with
//! control numbers and counts checked, and (in later modules) typed claims
//! and remittances.
//!
//! ```
//! use caresync_x12::Document;
//!
//! let input = b"ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240101*1200*^*00501*000000001*0*P*:~\
//! GS*HC*SUBMITTER*RECEIVER*20240101*1200*7*X*005010X222A1~\
//! ST*837*0001*005010X222A1~BHT*0019*00*1*20240101*1200*CH~SE*3*0001~\
//! GE*1*7~IEA*1*000000001~";
//! let doc = Document::read(input)?;
//! let ic = doc.interchanges().next().expect("an interchange");
//! assert_eq!(ic.control_number(), Some("000000001"));
//! assert_eq!(doc.transactions().count(), 1);
//! assert!(doc.issues().is_empty());
//! # Ok::<(), caresync_x12::Error>(())
//! ```
//!
//! **Invariant:** this crate knows nothing about storage or async runtimes.
//! Issues carry codes, byte offsets, segment numbers and element
//! positions, never element values.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod ack;
pub mod claim;
mod envelope;
mod error;
pub mod flatten;
pub mod remit;
mod token;
mod value;

pub use envelope::{Document, Group, Interchange, Transaction};
pub use error::{Error, Issue, Position, Severity, codes};
pub use token::{Delimiters, Element, Elements, Segment, Tokenizer};
pub use value::{Amount, AmountError, Date, Inline};
