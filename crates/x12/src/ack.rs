//! The acknowledgements a receiver sends back for a parsed input: a TA1
//! (interchange acknowledgement) per ISA and a 999 (implementation
//! acknowledgement, `005010X231A1`) per functional group, wrapped in an
//! interchange addressed back to the sender.
//!
//! ```
//! use caresync_x12::Document;
//! use caresync_x12::ack::{self, AckOptions, GroupCode, SetCode, Ta1Code, Ta1Note};
//!
//! let input = b"ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       *240101*1200*^*00501*000000001*1*P*:~\
//! GS*HC*SUBMITTER*RECEIVER*20240101*1200*7*X*005010X222A1~\
//! ST*837*0001*005010X222A1~BHT*0019*00*1*20240101*1200*CH~SE*4*0001~\
//! GE*1*7~IEA*1*000000001~";
//! let doc = Document::read(input)?;
//! let date = caresync_x12::Date::parse_d8("20240102").expect("a date");
//! let acks = ack::acknowledge(&doc, &AckOptions::new(41, 17, date, 9, 30))?;
//! let ack = &acks.interchanges[0];
//! assert_eq!((ack.ta1.code, ack.ta1.note), (Ta1Code::Accepted, Ta1Note::NoError));
//! let group = &ack.groups[0];
//! assert_eq!(group.code, GroupCode::Rejected);
//! assert_eq!(group.sets[0].code, SetCode::Rejected); // SE01 says 4, the set has 3
//! assert!(ack.text().contains("~IK5*R*4~AK9*R*1*1*0~"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How issues become codes
//!
//! Each issue is placed by its segment number: in the transaction set
//! whose ST..SE range holds it, else in the functional group whose GS or
//! GE it names, else in the interchange whose ISA..IEA range holds it.
//! Issues outside every interchange, and issues of transaction sets sent
//! without a GS (a 999 cannot name them), are returned as
//! [`Acknowledgements::unplaced`].
//!
//! | Issue ([`codes`]) | Where | Acknowledged as |
//! |---|---|---|
//! | `BAD_ISA` | ISA | TA1 R, note 024 |
//! | `MISSING_ELEMENT` ISA13 | ISA | TA1 R, note 018 |
//! | `MISSING_TRAILER` | ISA (no IEA) | TA1 R, note 023 |
//! | `UNTERMINATED_SEGMENT` | anywhere in the interchange | TA1 note 023: E when the IEA was read, else R |
//! | `COUNT_MISMATCH` | IEA01 | TA1 R, note 021 |
//! | `CONTROL_NUMBER_MISMATCH` | IEA02 | TA1 E, note 001 (the header's value is acknowledged) |
//! | any other envelope issue outside a set or group trailer (segments outside ST/SE, stray trailers, an ST without GS) | interchange | TA1 R, note 024 |
//! | `MISSING_TRAILER` | GS (no GE) | AK905 3 |
//! | `CONTROL_NUMBER_MISMATCH` | GE02 | AK905 4 |
//! | `COUNT_MISMATCH` | GE01 | AK905 5 |
//! | `MISSING_ELEMENT` GS06 | GS | AK905 6 |
//! | `MISSING_TRAILER` | ST (no SE) | IK5 R, IK502 2 |
//! | `CONTROL_NUMBER_MISMATCH` | SE02 | IK5 R, IK502 3 |
//! | `COUNT_MISMATCH` | SE01 | IK5 R, IK502 4 |
//! | `MISSING_ELEMENT` ST01 / ST02 | ST | IK5 R, IK502 6 / 7 |
//! | `MISSING_ELEMENT` element *n* of another segment | set | IK3 (IK304 8) + IK4 *n* (IK403 1), IK502 5 |
//! | `BAD_SEGMENT_ID` | set | IK3 (IK304 1), IK502 5 |
//! | `EMPTY_SEGMENT` (a warning; the segment was skipped) | any | not acknowledged |
//! | `COMPONENT_SEPARATOR_MISMATCH` (a warning) | set | IK3 (IK304 8) + IK4 *n* (IK403 6), set E |
//!
//! The codes follow the X12 code lists: TA105 (element I18), IK304
//! (620), IK403 (621), IK501 (717), IK502 (618), AK901 (715) and AK905
//! (716). Note that in list 716 a missing GE is `3`, a GE02 mismatch `4`
//! and a GE01 count mismatch `5` (`2` is "functional group version not
//! supported").
//!
//! Issues of other readers (the 837 and 835 readers' codes) are passed as
//! `extra` to [`acknowledge_with`] with a table mapping each code to a
//! [`Mapping`]; a code missing from the table becomes, by default, IK3
//! (IK304 8) + IK4 with IK403 `I12` (implementation pattern match
//! failure) when the issue names an element, and IK3 with IK304 `2`
//! (unexpected segment) when it names a whole segment. An issue of
//! severity [`Severity::Error`] rejects its transaction set (IK501 R); one
//! of severity [`Severity::Warning`] only marks it E.
//!
//! # Acknowledgement codes
//!
//! * IK501: R when the set has a set-level error or any error-severity
//!   segment note; E when it only has warnings; A otherwise. IK502–IK506
//!   hold up to five set errors in code-list order; `5` (or `I5` when all
//!   the set's segment notes use implementation codes) is added whenever
//!   the set has IK3 loops.
//! * AK901: R when no set was accepted (or none was received while the
//!   group has errors); P when some but not all were; E when all were but
//!   some with errors, or the group has AK905 errors; A otherwise. AK902
//!   is GE01 when it reads as a number, else the number received; AK904
//!   counts the sets acknowledged A or E.
//! * TA104: R when any TA1 note rejects, E when only notes that accept
//!   (001, or 023 for a complete interchange whose IEA lacks its
//!   terminator), A otherwise. TA105 is the most severe note, in the order
//!   024 (unreadable ISA), 018, 014, 015, 023, 021, 001, 024 (content).
//!
//! The 999 is produced even when the TA1 rejects the interchange: whether
//! to send it is the caller's decision.
//!
//! **No patient data is ever copied into an acknowledgement:** only
//! envelope identifiers (sender and receiver ids, application codes,
//! control numbers, versions, ISA date and time), segment ids, positions
//! and codes. Copied identifiers are stripped of bytes that are the
//! output's delimiters or not printable ASCII.

use std::collections::HashSet;
use std::fmt;

use caresync_core::ErrorCode;

use crate::envelope::{Document, Group, Interchange, Transaction};
use crate::error::{Issue, Severity, codes};
use crate::token::Delimiters;
use crate::value::Date;

/// The implementation convention of the 999 this module writes.
pub const IMPLEMENTATION: &str = "005010X231A1";

/// The largest X12 control number (nine digits).
const MAX_CONTROL: u32 = 999_999_999;

/// The most codes IK502–IK506 and AK905–AK909 can hold.
const MAX_CODES: usize = 5;

/// The most IK4 loops under one IK3.
const MAX_IK4: usize = 99;

/// Whether the outgoing interchange carries the TA1 segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ta1Policy {
    /// Always.
    Always,
    /// When the sender asked for one (ISA14 = 1) or the TA1 is not
    /// "accepted".
    #[default]
    WhenRequestedOrErrors,
    /// When the sender asked for one (ISA14 = 1).
    WhenRequested,
    /// Never (the typed [`Ta1`] is still returned).
    Never,
}

/// What the caller supplies for the outgoing interchange: control numbers,
/// date and time (the library never reads a clock), delimiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckOptions {
    /// ISA13/IEA02 of the acknowledgement of the first interchange
    /// (1..=999999999); the n-th interchange's uses this plus n, wrapping
    /// from 999999999 to 1.
    pub interchange_control_number: u32,
    /// GS06/GE02 of the first acknowledgement (1..=999999999), counted on
    /// the same way.
    pub group_control_number: u32,
    /// ISA09 (`YYMMDD`) and GS04 (`CCYYMMDD`).
    pub date: Date,
    /// Hour of ISA10 and GS05 (0..=23).
    pub hour: u8,
    /// Minute of ISA10 and GS05 (0..=59).
    pub minute: u8,
    /// The delimiters to write with; `None`: those of the received
    /// interchange.
    pub delimiters: Option<Delimiters>,
    /// Whether the TA1 segment is written into the text.
    pub ta1: Ta1Policy,
}

impl AckOptions {
    /// Options with the received delimiters and the default TA1 policy.
    pub fn new(
        interchange_control_number: u32,
        group_control_number: u32,
        date: Date,
        hour: u8,
        minute: u8,
    ) -> Self {
        AckOptions {
            interchange_control_number,
            group_control_number,
            date,
            hour,
            minute,
            delimiters: None,
            ta1: Ta1Policy::default(),
        }
    }

    /// The same options writing with `delimiters`.
    pub fn with_delimiters(mut self, delimiters: Delimiters) -> Self {
        self.delimiters = Some(delimiters);
        self
    }

    /// The same options with another TA1 policy.
    pub fn with_ta1(mut self, ta1: Ta1Policy) -> Self {
        self.ta1 = ta1;
        self
    }

    fn check(&self) -> Result<(), AckError> {
        for n in [self.interchange_control_number, self.group_control_number] {
            if !(1..=MAX_CONTROL).contains(&n) {
                return Err(AckError::ControlNumber(n));
            }
        }
        if self.hour > 23 || self.minute > 59 {
            return Err(AckError::Time {
                hour: self.hour,
                minute: self.minute,
            });
        }
        if self.delimiters.is_some_and(|d| !usable(d)) {
            return Err(AckError::Delimiters);
        }
        Ok(())
    }
}

/// Why acknowledgements could not be written: the options are wrong (the
/// input never makes this fail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// A control number outside 1..=999999999.
    #[error("control number {0} is not between 1 and 999999999")]
    ControlNumber(u32),
    /// An hour or minute out of range.
    #[error("time {hour:02}:{minute:02} is not a time of day")]
    Time {
        /// The hour given.
        hour: u8,
        /// The minute given.
        minute: u8,
    },
    /// Delimiters that are letters, digits or blanks, or not all different.
    #[error("delimiters must be distinct and neither letters, digits nor blanks")]
    Delimiters,
}

/// TA104, the interchange acknowledgment code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ta1Code {
    /// `A`: accepted, no errors.
    Accepted,
    /// `E`: accepted, errors noted (the sender must not resend).
    AcceptedWithErrors,
    /// `R`: rejected.
    Rejected,
}

impl Ta1Code {
    /// The code as written (`A`, `E`, `R`).
    pub fn as_str(self) -> &'static str {
        match self {
            Ta1Code::Accepted => "A",
            Ta1Code::AcceptedWithErrors => "E",
            Ta1Code::Rejected => "R",
        }
    }
}

/// TA105, the interchange note code (X12 element I18), for the notes this
/// module raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Ta1Note {
    /// `000`: no error.
    NoError,
    /// `001`: the control numbers in ISA13 and IEA02 do not match (the
    /// header's is acknowledged).
    ControlNumberMismatch,
    /// `014`: invalid interchange date (ISA09).
    InvalidDate,
    /// `015`: invalid interchange time (ISA10).
    InvalidTime,
    /// `018`: invalid interchange control number (ISA13).
    InvalidControlNumber,
    /// `021`: invalid number of included groups (IEA01).
    InvalidGroupCount,
    /// `023`: improper (premature) end of file: IEA missing, or the input
    /// cut short.
    PrematureEnd,
    /// `024`: invalid interchange content: an ISA that cannot be read, or
    /// segments outside the envelopes they need.
    InvalidContent,
}

impl Ta1Note {
    /// The code as written (`000`, `001`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Ta1Note::NoError => "000",
            Ta1Note::ControlNumberMismatch => "001",
            Ta1Note::InvalidDate => "014",
            Ta1Note::InvalidTime => "015",
            Ta1Note::InvalidControlNumber => "018",
            Ta1Note::InvalidGroupCount => "021",
            Ta1Note::PrematureEnd => "023",
            Ta1Note::InvalidContent => "024",
        }
    }
}

impl fmt::Display for Ta1Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TA1: the acknowledgement of one received interchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ta1 {
    /// TA101: the received ISA13, zero-padded to nine digits
    /// (`000000000` when it is missing or not a number).
    pub control_number: String,
    /// TA102: the received ISA09 (`YYMMDD`; `000000` when not six digits).
    pub date: String,
    /// TA103: the received ISA10 (`HHMM`; `0000` when not four digits).
    pub time: String,
    /// TA104.
    pub code: Ta1Code,
    /// TA105: the most severe of `notes`, or [`Ta1Note::NoError`].
    pub note: Ta1Note,
    /// Every note found, most severe first (a TA1 can carry only one).
    pub notes: Vec<Ta1Note>,
    /// Whether the sender asked for a TA1 (ISA14 = 1).
    pub requested: bool,
}

/// IK304, the segment syntax error code (X12 element 620).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentError {
    /// `1`: unrecognized segment id.
    UnrecognizedSegmentId,
    /// `2`: unexpected segment.
    UnexpectedSegment,
    /// `3`: required segment missing.
    RequiredSegmentMissing,
    /// `4`: loop occurs over maximum times.
    LoopOverMaximum,
    /// `5`: segment exceeds maximum use.
    SegmentOverMaximumUse,
    /// `6`: segment not in defined transaction set.
    NotInTransactionSet,
    /// `7`: segment not in proper sequence.
    OutOfSequence,
    /// `8`: segment has data element errors (IK4 loops follow).
    DataElementErrors,
    /// `I4`: implementation "not used" segment present.
    ImplementationNotUsed,
    /// `I6`: implementation dependent segment missing.
    ImplementationDependentMissing,
    /// `I7`: implementation loop occurs under minimum times.
    ImplementationLoopUnderMinimum,
    /// `I8`: implementation segment below minimum use.
    ImplementationBelowMinimumUse,
    /// `I9`: implementation dependent "not used" segment present.
    ImplementationDependentNotUsed,
}

impl SegmentError {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        use SegmentError::*;
        match self {
            UnrecognizedSegmentId => "1",
            UnexpectedSegment => "2",
            RequiredSegmentMissing => "3",
            LoopOverMaximum => "4",
            SegmentOverMaximumUse => "5",
            NotInTransactionSet => "6",
            OutOfSequence => "7",
            DataElementErrors => "8",
            ImplementationNotUsed => "I4",
            ImplementationDependentMissing => "I6",
            ImplementationLoopUnderMinimum => "I7",
            ImplementationBelowMinimumUse => "I8",
            ImplementationDependentNotUsed => "I9",
        }
    }

    fn is_implementation(self) -> bool {
        self.as_str().starts_with('I')
    }
}

/// IK403, the element syntax error code (X12 element 621).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElementError {
    /// `1`: required (mandatory) data element missing.
    RequiredMissing,
    /// `2`: conditional required data element missing.
    ConditionalRequiredMissing,
    /// `3`: too many data elements.
    TooManyElements,
    /// `4`: data element too short.
    TooShort,
    /// `5`: data element too long.
    TooLong,
    /// `6`: invalid character in data element.
    InvalidCharacter,
    /// `7`: invalid code value.
    InvalidCodeValue,
    /// `8`: invalid date.
    InvalidDate,
    /// `9`: invalid time.
    InvalidTime,
    /// `10`: exclusion condition violated.
    ExclusionViolated,
    /// `12`: too many repetitions.
    TooManyRepetitions,
    /// `13`: too many components.
    TooManyComponents,
    /// `I10`: implementation "not used" data element present.
    ImplementationNotUsed,
    /// `I11`: implementation too few repetitions.
    ImplementationTooFewRepetitions,
    /// `I12`: implementation pattern match failure.
    ImplementationPatternMismatch,
    /// `I13`: implementation dependent "not used" data element present.
    ImplementationDependentNotUsed,
    /// `I6`: code value not used in implementation.
    ImplementationCodeNotUsed,
    /// `I9`: implementation dependent data element missing.
    ImplementationDependentMissing,
}

impl ElementError {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        use ElementError::*;
        match self {
            RequiredMissing => "1",
            ConditionalRequiredMissing => "2",
            TooManyElements => "3",
            TooShort => "4",
            TooLong => "5",
            InvalidCharacter => "6",
            InvalidCodeValue => "7",
            InvalidDate => "8",
            InvalidTime => "9",
            ExclusionViolated => "10",
            TooManyRepetitions => "12",
            TooManyComponents => "13",
            ImplementationNotUsed => "I10",
            ImplementationTooFewRepetitions => "I11",
            ImplementationPatternMismatch => "I12",
            ImplementationDependentNotUsed => "I13",
            ImplementationCodeNotUsed => "I6",
            ImplementationDependentMissing => "I9",
        }
    }

    fn is_implementation(self) -> bool {
        self.as_str().starts_with('I')
    }
}

/// IK501, the transaction set acknowledgment code (X12 element 717), for
/// the codes this module produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SetCode {
    /// `A`: accepted.
    Accepted,
    /// `E`: accepted, errors noted.
    AcceptedWithErrors,
    /// `R`: rejected.
    Rejected,
}

impl SetCode {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SetCode::Accepted => "A",
            SetCode::AcceptedWithErrors => "E",
            SetCode::Rejected => "R",
        }
    }

    fn accepted(self) -> bool {
        matches!(self, SetCode::Accepted | SetCode::AcceptedWithErrors)
    }
}

/// IK502–IK506, the transaction set syntax error codes (X12 element 618),
/// for the codes this module produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SetError {
    /// `2`: transaction set trailer (SE) missing.
    TrailerMissing,
    /// `3`: control numbers in ST02 and SE02 do not match.
    ControlNumberMismatch,
    /// `4`: SE01 does not match the number of segments.
    CountMismatch,
    /// `5`: one or more segments in error.
    SegmentsInError,
    /// `6`: missing or invalid transaction set identifier (ST01).
    BadSetId,
    /// `7`: missing or invalid transaction set control number (ST02).
    BadControlNumber,
    /// `I5`: implementation: one or more segments in error.
    ImplementationSegmentsInError,
}

impl SetError {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SetError::TrailerMissing => "2",
            SetError::ControlNumberMismatch => "3",
            SetError::CountMismatch => "4",
            SetError::SegmentsInError => "5",
            SetError::BadSetId => "6",
            SetError::BadControlNumber => "7",
            SetError::ImplementationSegmentsInError => "I5",
        }
    }
}

/// AK901, the functional group acknowledge code (X12 element 715), for the
/// codes this module produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum GroupCode {
    /// `A`: accepted.
    Accepted,
    /// `E`: accepted, errors noted.
    AcceptedWithErrors,
    /// `P`: partially accepted, at least one set rejected.
    PartiallyAccepted,
    /// `R`: rejected.
    Rejected,
}

impl GroupCode {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupCode::Accepted => "A",
            GroupCode::AcceptedWithErrors => "E",
            GroupCode::PartiallyAccepted => "P",
            GroupCode::Rejected => "R",
        }
    }
}

/// AK905–AK909, the functional group syntax error codes (X12 element 716),
/// for the codes this module produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum GroupError {
    /// `3`: functional group trailer (GE) missing.
    TrailerMissing,
    /// `4`: GS06 and GE02 do not agree.
    ControlNumberMismatch,
    /// `5`: GE01 does not match the number of transaction sets.
    CountMismatch,
    /// `6`: group control number (GS06) violates syntax (missing).
    BadControlNumber,
}

impl GroupError {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupError::TrailerMissing => "3",
            GroupError::ControlNumberMismatch => "4",
            GroupError::CountMismatch => "5",
            GroupError::BadControlNumber => "6",
        }
    }
}

/// How an issue of another reader is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mapping {
    /// An IK4 with this IK403 under an IK3 with IK304 8 (for an issue that
    /// names an element; one that names a whole segment gets the IK3
    /// alone).
    Element(ElementError),
    /// An IK3 with this IK304.
    Segment(SegmentError),
    /// Not acknowledged.
    Ignore,
}

/// The default for a code missing from the caller's table (see the
/// module docs).
fn default_mapping(issue: &Issue) -> Mapping {
    if issue.at.element > 0 {
        Mapping::Element(ElementError::ImplementationPatternMismatch)
    } else {
        Mapping::Segment(SegmentError::UnexpectedSegment)
    }
}

/// An IK4: one element in error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ElementNote {
    /// IK401: the element's position in its segment (1-based).
    pub position: u16,
    /// IK403.
    pub error: ElementError,
}

/// An IK3 loop: one segment in error, with its IK4s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentNote {
    /// IK301: the segment id (`???` when it was not a valid id).
    pub id: String,
    /// IK302: the segment's position in its set, ST being 1.
    pub position: u32,
    /// The segment's 1-based number in the received input.
    pub segment: u32,
    /// IK304.
    pub error: SegmentError,
    /// The IK4 loops (with [`SegmentError::DataElementErrors`]), at most 99.
    pub elements: Vec<ElementNote>,
}

/// The AK2 loop of one received transaction set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAck {
    /// AK201: ST01.
    pub set_id: String,
    /// AK202: ST02.
    pub control_number: String,
    /// AK203: ST03, when present.
    pub implementation: Option<String>,
    /// IK501.
    pub code: SetCode,
    /// IK502–IK506 (at most five are written).
    pub errors: Vec<SetError>,
    /// The IK3 loops, in segment order.
    pub segments: Vec<SegmentNote>,
}

/// The 999 of one received functional group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionalAck {
    /// AK101: GS01.
    pub functional_id: String,
    /// AK102: GS06.
    pub control_number: String,
    /// AK103: GS08.
    pub version: String,
    /// One per received transaction set.
    pub sets: Vec<SetAck>,
    /// AK901.
    pub code: GroupCode,
    /// AK902: number of sets GE01 says were included.
    pub included: u32,
    /// AK903: number of sets received.
    pub received: u32,
    /// AK904: number of sets accepted (A or E).
    pub accepted: u32,
    /// AK905–AK909 (at most five are written).
    pub errors: Vec<GroupError>,
}

/// The acknowledgement of one received interchange: its TA1, a 999 per
/// functional group, and their text in one interchange addressed back to
/// the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The TA1.
    pub ta1: Ta1,
    /// One per received functional group that has a GS.
    pub groups: Vec<FunctionalAck>,
    /// ISA13 of the acknowledgement.
    pub interchange_control_number: u32,
    /// GS06 of the acknowledgement's group (written only when `groups` is
    /// not empty).
    pub group_control_number: u32,
    text: String,
}

impl Acknowledgement {
    /// The acknowledgement as X12: ISA, TA1 (per [`Ta1Policy`]), GS*FA
    /// with one ST*999 per received group, GE, IEA.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The acknowledgements of a whole input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgements {
    /// One per received interchange, in input order.
    pub interchanges: Vec<Acknowledgement>,
    /// Issues no acknowledgement can carry: outside every interchange, in
    /// a transaction set without GS, or another reader's issue on an
    /// envelope segment.
    pub unplaced: Vec<Issue>,
}

/// Acknowledges every interchange of `doc` from its envelope issues.
pub fn acknowledge(doc: &Document<'_>, options: &AckOptions) -> Result<Acknowledgements, AckError> {
    acknowledge_with(doc, &[], &[], options)
}

/// Acknowledges every interchange of `doc` from its envelope issues and
/// `extra` issues of another reader (placed by segment number), mapping
/// their codes through `table` (codes missing from it take the default
/// described in the module docs). Issues of this crate's [`codes`] found
/// in `extra` are treated as envelope issues, and exact duplicates of the
/// document's issues are ignored.
pub fn acknowledge_with(
    doc: &Document<'_>,
    extra: &[Issue],
    table: &[(ErrorCode, Mapping)],
    options: &AckOptions,
) -> Result<Acknowledgements, AckError> {
    options.check()?;
    let mut seen = HashSet::new();
    let issues: Vec<Issue> = doc
        .issues()
        .iter()
        .chain(extra)
        .copied()
        .filter(|i| seen.insert(*i))
        .collect();

    let last_segment = doc.segments().last().map_or(0, |s| s.number());
    let ics: Vec<Interchange<'_, '_>> = doc.interchanges().collect();
    let mut builders: Vec<IcBuilder<'_, '_>> = Vec::with_capacity(ics.len());
    for (k, ic) in ics.iter().enumerate() {
        let start = ic.isa().number();
        let end = match (ic.iea(), ics.get(k + 1)) {
            (Some(iea), _) => iea.number(),
            (None, Some(next)) => next.isa().number().saturating_sub(1),
            (None, None) => last_segment,
        };
        builders.push(IcBuilder::new(*ic, start, end));
    }

    let mut unplaced = Vec::new();
    for issue in issues {
        let s = issue.at.segment;
        let k = builders.partition_point(|b| b.end < s);
        match builders.get_mut(k).filter(|b| b.start <= s && s <= b.end) {
            Some(b) => {
                if !b.place(issue, table) {
                    unplaced.push(issue);
                }
            }
            None => {
                if issue.code != codes::EMPTY_SEGMENT {
                    unplaced.push(issue);
                }
            }
        }
    }

    let mut interchanges = Vec::with_capacity(builders.len());
    let (mut icn, mut gcn) = (
        options.interchange_control_number,
        options.group_control_number,
    );
    for b in builders {
        interchanges.push(b.finish(options, icn, gcn));
        icn = next_control(icn);
        gcn = next_control(gcn);
    }
    Ok(Acknowledgements {
        interchanges,
        unplaced,
    })
}

fn next_control(n: u32) -> u32 {
    if n >= MAX_CONTROL { 1 } else { n + 1 }
}

/// Delimiters an acknowledgement can be written with.
fn usable(d: Delimiters) -> bool {
    let ok = |b: u8| {
        (b.is_ascii_graphic() && !b.is_ascii_alphanumeric()) || matches!(b, 0x1c..=0x1f | 0x07)
    };
    let seg_ok = ok(d.segment) || d.segment == b'\n' || d.segment == b'\r';
    let rep = d.repetition.unwrap_or(0);
    ok(d.element)
        && ok(d.component)
        && seg_ok
        && d.repetition.is_none_or(ok)
        && d.element != d.component
        && d.element != d.segment
        && d.component != d.segment
        && ![d.element, d.component, d.segment].contains(&rep)
}

/// The delimiters to write with: a 005010 ISA needs a repetition
/// separator, so one is chosen when the received interchange had none.
fn output_delimiters(d: Delimiters) -> Delimiters {
    if d.repetition.is_some() {
        return d;
    }
    let used = [d.element, d.component, d.segment];
    let repetition = [b'^', b'{', b'}', b'!', b'|', b'\\', b'`']
        .into_iter()
        .find(|c| !used.contains(c));
    Delimiters { repetition, ..d }
}

/// One received transaction set being acknowledged.
struct SetBuilder {
    start: u32,
    end: u32,
    ack: SetAck,
    rejected: bool,
    warned: bool,
}

/// One received functional group being acknowledged.
struct GroupBuilder<'d, 'a> {
    group: Group<'d, 'a>,
    gs: u32,
    ge: Option<u32>,
    sets: Vec<SetBuilder>,
    errors: Vec<GroupError>,
}

/// One received interchange being acknowledged.
struct IcBuilder<'d, 'a> {
    ic: Interchange<'d, 'a>,
    start: u32,
    end: u32,
    groups: Vec<GroupBuilder<'d, 'a>>,
    /// (note, rejects) pairs.
    notes: Vec<(Ta1Note, bool)>,
    /// Whether the interchange's ISA could not be read (`BAD_ISA`).
    bad_isa: bool,
}

impl<'d, 'a> IcBuilder<'d, 'a> {
    fn new(ic: Interchange<'d, 'a>, start: u32, end: u32) -> Self {
        let groups = ic
            .groups()
            .filter_map(|group| {
                let gs = group.gs()?.number();
                let sets: Vec<SetBuilder> = group.transactions().map(set_builder).collect();
                Some(GroupBuilder {
                    group,
                    gs,
                    ge: group.ge().map(|s| s.number()),
                    sets,
                    errors: Vec::new(),
                })
            })
            .collect();
        IcBuilder {
            ic,
            start,
            end,
            groups,
            notes: Vec::new(),
            bad_isa: false,
        }
    }

    fn set_at(&mut self, s: u32) -> Option<&mut SetBuilder> {
        self.groups
            .iter_mut()
            .flat_map(|g| g.sets.iter_mut())
            .find(|t| t.start <= s && s <= t.end)
    }

    /// Places one issue; `false` when no acknowledgement can carry it.
    fn place(&mut self, issue: Issue, table: &[(ErrorCode, Mapping)]) -> bool {
        let at = issue.at;
        let envelope = codes::ALL.contains(&issue.code);
        if issue.code == codes::EMPTY_SEGMENT {
            return true;
        }
        if issue.code == codes::UNTERMINATED_SEGMENT {
            let complete = self.ic.iea().is_some();
            self.notes.push((Ta1Note::PrematureEnd, !complete));
            return true;
        }
        if let Some(set) = self.set_at(at.segment) {
            set.place(issue, envelope, table);
            return true;
        }
        let id = at.id_str();
        if let Some(g) = self
            .groups
            .iter_mut()
            .find(|g| g.gs == at.segment || g.ge == Some(at.segment))
        {
            let error = match (id, issue.code) {
                ("GS", c) if c == codes::MISSING_TRAILER => Some(GroupError::TrailerMissing),
                ("GS", c) if c == codes::MISSING_ELEMENT && at.element == 6 => {
                    Some(GroupError::BadControlNumber)
                }
                ("GE", c) if c == codes::CONTROL_NUMBER_MISMATCH => {
                    Some(GroupError::ControlNumberMismatch)
                }
                ("GE", c) if c == codes::COUNT_MISMATCH => Some(GroupError::CountMismatch),
                _ => None,
            };
            if let Some(e) = error {
                g.errors.push(e);
                return true;
            }
        }
        if !envelope {
            return false;
        }
        let c = issue.code;
        let note = if c == codes::BAD_ISA {
            self.bad_isa = true;
            (Ta1Note::InvalidContent, true)
        } else if id == "ISA" && c == codes::MISSING_ELEMENT && at.element == 13 {
            (Ta1Note::InvalidControlNumber, true)
        } else if id == "ISA" && c == codes::MISSING_TRAILER {
            (Ta1Note::PrematureEnd, true)
        } else if id == "IEA" && c == codes::COUNT_MISMATCH {
            (Ta1Note::InvalidGroupCount, true)
        } else if id == "IEA" && c == codes::CONTROL_NUMBER_MISMATCH {
            (Ta1Note::ControlNumberMismatch, false)
        } else {
            (Ta1Note::InvalidContent, true)
        };
        self.notes.push(note);
        // Issues of a set sent without GS reach the TA1 (as 024) but the
        // caller still learns which they were.
        !self.in_stray_set(at.segment) || issue.code == codes::OUTSIDE_ENVELOPE
    }

    fn in_stray_set(&self, s: u32) -> bool {
        self.ic
            .groups()
            .filter(|g| g.gs().is_none())
            .flat_map(|g| g.transactions().collect::<Vec<_>>())
            .any(|t| {
                let (a, b) = set_range(&t);
                a <= s && s <= b
            })
    }

    fn ta1(&mut self) -> Ta1 {
        let ic = self.ic;
        let control_number = match ic.control_number() {
            Some(c) if c.len() <= 9 && c.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{c:0>9}")
            }
            _ => {
                self.notes.push((Ta1Note::InvalidControlNumber, true));
                "000000000".to_owned()
            }
        };
        let (date, time) = ic.date_time();
        let digits = |t: Option<&str>, n: usize| {
            t.filter(|t| t.len() == n && t.bytes().all(|b| b.is_ascii_digit()))
                .map(str::to_owned)
        };
        let date = digits(date, 6).unwrap_or_else(|| {
            self.notes.push((Ta1Note::InvalidDate, true));
            "000000".to_owned()
        });
        let time = digits(time, 4).unwrap_or_else(|| {
            self.notes.push((Ta1Note::InvalidTime, true));
            "0000".to_owned()
        });
        let rank = |n: &(Ta1Note, bool)| match n {
            (Ta1Note::InvalidContent, _) if self.bad_isa => 0,
            (Ta1Note::InvalidControlNumber, _) => 1,
            (Ta1Note::InvalidDate, _) => 2,
            (Ta1Note::InvalidTime, _) => 3,
            (Ta1Note::PrematureEnd, true) => 4,
            (Ta1Note::PrematureEnd, false) => 5,
            (Ta1Note::InvalidGroupCount, _) => 6,
            (Ta1Note::ControlNumberMismatch, _) => 7,
            _ => 8,
        };
        let mut notes = self.notes.clone();
        notes.sort_by_key(rank);
        let code = if notes.iter().any(|(_, rejects)| *rejects) {
            Ta1Code::Rejected
        } else if notes.is_empty() {
            Ta1Code::Accepted
        } else {
            Ta1Code::AcceptedWithErrors
        };
        let mut unique: Vec<Ta1Note> = Vec::new();
        for (n, _) in notes {
            if !unique.contains(&n) {
                unique.push(n);
            }
        }
        Ta1 {
            control_number,
            date,
            time,
            code,
            note: unique.first().copied().unwrap_or(Ta1Note::NoError),
            notes: unique,
            requested: ic.ack_requested(),
        }
    }

    fn finish(mut self, options: &AckOptions, icn: u32, gcn: u32) -> Acknowledgement {
        let ta1 = self.ta1();
        let groups: Vec<FunctionalAck> = std::mem::take(&mut self.groups)
            .into_iter()
            .map(GroupBuilder::finish)
            .collect();
        let received = self.ic.delimiters();
        let d = output_delimiters(options.delimiters.unwrap_or(received));
        let mut w = Writer::new(d);
        write_isa(&mut w, &self.ic, options, icn);
        let with_ta1 = match options.ta1 {
            Ta1Policy::Always => true,
            Ta1Policy::WhenRequestedOrErrors => ta1.requested || ta1.code != Ta1Code::Accepted,
            Ta1Policy::WhenRequested => ta1.requested,
            Ta1Policy::Never => false,
        };
        if with_ta1 {
            w.segment(&[
                "TA1",
                &ta1.control_number,
                &ta1.date,
                &ta1.time,
                ta1.code.as_str(),
                ta1.note.as_str(),
            ]);
        }
        let first_gs = self.ic.groups().find_map(|g| g.gs());
        let with_group = !groups.is_empty() && first_gs.is_some();
        if let (Some(gs), true) = (first_gs, with_group) {
            let (sender, receiver) = (w.clean(gs.text(3)), w.clean(gs.text(2)));
            let date = format!(
                "{:04}{:02}{:02}",
                options.date.year(),
                options.date.month(),
                options.date.day()
            );
            let time = format!("{:02}{:02}", options.hour, options.minute);
            let gcn_text = gcn.to_string();
            w.segment(&[
                "GS",
                "FA",
                &sender,
                &receiver,
                &date,
                &time,
                &gcn_text,
                "X",
                IMPLEMENTATION,
            ]);
            for (k, g) in groups.iter().enumerate() {
                write_999(&mut w, g, k + 1);
            }
            w.segment(&["GE", &groups.len().to_string(), &gcn_text]);
        }
        let group_count = if with_group { "1" } else { "0" };
        w.segment(&["IEA", group_count, &format!("{icn:09}")]);
        Acknowledgement {
            ta1,
            groups,
            interchange_control_number: icn,
            group_control_number: gcn,
            text: w.out,
        }
    }
}

/// The first and last segment numbers of a set (the last body segment
/// when SE is missing).
fn set_range(t: &Transaction<'_, '_>) -> (u32, u32) {
    let start = t.st().number();
    let end = match t.se() {
        Some(se) => se.number(),
        None => t.body().last().map_or(start, |s| s.number()),
    };
    (start, end)
}

fn set_builder(t: Transaction<'_, '_>) -> SetBuilder {
    let (start, end) = set_range(&t);
    let st = t.st();
    let text = |n: usize| st.text(n).map(str::trim).unwrap_or("").to_owned();
    let implementation = Some(text(3)).filter(|t| !t.is_empty());
    SetBuilder {
        start,
        end,
        ack: SetAck {
            set_id: text(1),
            control_number: text(2),
            implementation,
            code: SetCode::Accepted,
            errors: Vec::new(),
            segments: Vec::new(),
        },
        rejected: false,
        warned: false,
    }
}

impl SetBuilder {
    fn place(&mut self, issue: Issue, envelope: bool, table: &[(ErrorCode, Mapping)]) {
        let at = issue.at;
        let id = at.id_str();
        let c = issue.code;
        let set_error = if !envelope {
            None
        } else if id == "ST" && c == codes::MISSING_TRAILER {
            Some(SetError::TrailerMissing)
        } else if id == "SE" && c == codes::CONTROL_NUMBER_MISMATCH {
            Some(SetError::ControlNumberMismatch)
        } else if id == "SE" && c == codes::COUNT_MISMATCH {
            Some(SetError::CountMismatch)
        } else if id == "ST" && c == codes::MISSING_ELEMENT && at.element == 1 {
            Some(SetError::BadSetId)
        } else if id == "ST" && c == codes::MISSING_ELEMENT && at.element == 2 {
            Some(SetError::BadControlNumber)
        } else {
            None
        };
        if let Some(e) = set_error {
            self.ack.errors.push(e);
            self.mark(issue.severity);
            return;
        }
        let mapping = if envelope {
            if c == codes::MISSING_ELEMENT && at.element > 0 {
                Mapping::Element(ElementError::RequiredMissing)
            } else if c == codes::BAD_SEGMENT_ID {
                Mapping::Segment(SegmentError::UnrecognizedSegmentId)
            } else if c == codes::COMPONENT_SEPARATOR_MISMATCH {
                // The composite holds a character that is not the declared
                // component separator.
                Mapping::Element(ElementError::InvalidCharacter)
            } else {
                Mapping::Segment(SegmentError::UnexpectedSegment)
            }
        } else {
            table
                .iter()
                .find(|(code, _)| *code == c)
                .map_or_else(|| default_mapping(&issue), |(_, m)| *m)
        };
        let (error, element) = match mapping {
            Mapping::Ignore => return,
            Mapping::Segment(e) => (e, None),
            Mapping::Element(e) => (
                SegmentError::DataElementErrors,
                (at.element > 0).then_some(ElementNote {
                    position: at.element,
                    error: e,
                }),
            ),
        };
        self.mark(issue.severity);
        let position = at.segment.saturating_sub(self.start).saturating_add(1);
        let note = match self
            .ack
            .segments
            .iter_mut()
            .find(|n| n.segment == at.segment && n.error == error)
        {
            Some(n) => n,
            None => {
                self.ack.segments.push(SegmentNote {
                    id: id.to_owned(),
                    position,
                    segment: at.segment,
                    error,
                    elements: Vec::new(),
                });
                let last = self.ack.segments.len() - 1;
                &mut self.ack.segments[last]
            }
        };
        if let Some(e) = element
            && !note.elements.contains(&e)
            && note.elements.len() < MAX_IK4
        {
            note.elements.push(e);
        }
    }

    fn mark(&mut self, severity: Severity) {
        match severity {
            Severity::Error => self.rejected = true,
            Severity::Warning => self.warned = true,
        }
    }

    fn finish(mut self) -> SetAck {
        let a = &mut self.ack;
        a.segments.sort_by_key(|n| (n.segment, n.error));
        for n in &mut a.segments {
            n.elements.sort_by_key(|e| e.position);
        }
        if !a.segments.is_empty() {
            let implementation = a.segments.iter().all(|n| {
                n.error.is_implementation()
                    || (n.error == SegmentError::DataElementErrors
                        && !n.elements.is_empty()
                        && n.elements.iter().all(|e| e.error.is_implementation()))
            });
            a.errors.push(if implementation {
                SetError::ImplementationSegmentsInError
            } else {
                SetError::SegmentsInError
            });
        }
        a.errors.sort();
        a.errors.dedup();
        a.code = if self.rejected {
            SetCode::Rejected
        } else if self.warned {
            SetCode::AcceptedWithErrors
        } else {
            SetCode::Accepted
        };
        self.ack
    }
}

impl GroupBuilder<'_, '_> {
    fn finish(self) -> FunctionalAck {
        let g = self.group;
        let sets: Vec<SetAck> = self.sets.into_iter().map(SetBuilder::finish).collect();
        let received = u32::try_from(sets.len()).unwrap_or(u32::MAX);
        let accepted =
            u32::try_from(sets.iter().filter(|s| s.code.accepted()).count()).unwrap_or(u32::MAX);
        let included = g
            .ge()
            .and_then(|ge| ge.text(1))
            .and_then(|t| t.trim().parse::<u32>().ok())
            .unwrap_or(received);
        let mut errors = self.errors;
        errors.sort();
        errors.dedup();
        let all_clean = sets.iter().all(|s| s.code == SetCode::Accepted);
        let code = if accepted == 0 && (received > 0 || !errors.is_empty()) {
            GroupCode::Rejected
        } else if accepted < received {
            GroupCode::PartiallyAccepted
        } else if !all_clean || !errors.is_empty() {
            GroupCode::AcceptedWithErrors
        } else {
            GroupCode::Accepted
        };
        FunctionalAck {
            functional_id: g.functional_id().unwrap_or("").to_owned(),
            control_number: g.control_number().unwrap_or("").to_owned(),
            version: g.version().unwrap_or("").to_owned(),
            sets,
            code,
            included,
            received,
            accepted,
            errors,
        }
    }
}

/// Writes segments with the output delimiters, counting them.
struct Writer {
    d: Delimiters,
    out: String,
    /// Segments written since the last ST.
    in_set: usize,
}

impl Writer {
    fn new(d: Delimiters) -> Self {
        Writer {
            d,
            out: String::with_capacity(512),
            in_set: 0,
        }
    }

    /// Writes one segment, dropping trailing empty elements.
    fn segment(&mut self, parts: &[&str]) {
        let used = parts
            .iter()
            .rposition(|p| !p.is_empty())
            .map_or(0, |i| i + 1);
        for (i, p) in parts[..used].iter().enumerate() {
            if i > 0 {
                self.out.push(char::from(self.d.element));
            }
            self.out.push_str(p);
        }
        self.out.push(char::from(self.d.segment));
        self.in_set += 1;
    }

    /// A received identifier made safe to write: printable ASCII (and
    /// blanks) other than the output delimiters.
    fn clean(&self, t: Option<&str>) -> String {
        let d = self.d;
        t.unwrap_or("")
            .trim()
            .chars()
            .filter(|c| {
                (c.is_ascii_graphic() || *c == ' ')
                    && u8::try_from(*c).is_ok_and(|b| {
                        b != d.element
                            && b != d.component
                            && b != d.segment
                            && Some(b) != d.repetition
                    })
            })
            .collect()
    }
}

/// A fixed-width ISA field: cleaned, cut and padded to `n`.
fn fixed(w: &Writer, t: Option<&str>, n: usize) -> String {
    let mut s = w.clean(t);
    s.truncate(n);
    format!("{s:<n$}")
}

fn write_isa(w: &mut Writer, ic: &Interchange<'_, '_>, o: &AckOptions, icn: u32) {
    let (sq, sid) = ic.sender();
    let (rq, rid) = ic.receiver();
    let date = format!(
        "{:02}{:02}{:02}",
        o.date.year() % 100,
        o.date.month(),
        o.date.day()
    );
    let time = format!("{:02}{:02}", o.hour, o.minute);
    let rep = w.d.repetition.map(char::from).unwrap_or('^').to_string();
    let usage = match ic.usage() {
        Some("P") => "P",
        _ => "T",
    };
    let comp = char::from(w.d.component).to_string();
    let fields = [
        "ISA".to_owned(),
        "00".to_owned(),
        " ".repeat(10),
        "00".to_owned(),
        " ".repeat(10),
        fixed(w, rq, 2),
        fixed(w, rid, 15),
        fixed(w, sq, 2),
        fixed(w, sid, 15),
        date,
        time,
        rep,
        "00501".to_owned(),
        format!("{icn:09}"),
        "0".to_owned(),
        usage.to_owned(),
        comp,
    ];
    let parts: Vec<&str> = fields.iter().map(String::as_str).collect();
    // The ISA is fixed width: every element is written, none trimmed.
    let mut line = parts.join(&char::from(w.d.element).to_string());
    line.push(char::from(w.d.segment));
    w.out.push_str(&line);
}

fn write_999(w: &mut Writer, g: &FunctionalAck, n: usize) {
    let control = format!("{n:04}");
    w.in_set = 0;
    w.segment(&["ST", "999", &control, IMPLEMENTATION]);
    let (fid, gcn, ver) = (
        w.clean(Some(&g.functional_id)),
        w.clean(Some(&g.control_number)),
        w.clean(Some(&g.version)),
    );
    w.segment(&["AK1", &fid, &gcn, &ver]);
    for s in &g.sets {
        let (id, cn, imp) = (
            w.clean(Some(&s.set_id)),
            w.clean(Some(&s.control_number)),
            w.clean(s.implementation.as_deref()),
        );
        w.segment(&["AK2", &id, &cn, &imp]);
        for note in &s.segments {
            let sid = w.clean(Some(&note.id));
            w.segment(&[
                "IK3",
                &sid,
                &note.position.to_string(),
                "",
                note.error.as_str(),
            ]);
            for e in &note.elements {
                w.segment(&["IK4", &e.position.to_string(), "", e.error.as_str()]);
            }
        }
        let mut ik5 = vec![s.code.as_str()];
        ik5.extend(s.errors.iter().take(MAX_CODES).map(|e| e.as_str()));
        let mut parts = vec!["IK5"];
        parts.extend(ik5);
        w.segment(&parts);
    }
    let (inc, rec, acc) = (
        g.included.to_string(),
        g.received.to_string(),
        g.accepted.to_string(),
    );
    let mut parts = vec!["AK9", g.code.as_str(), &inc, &rec, &acc];
    parts.extend(g.errors.iter().take(MAX_CODES).map(|e| e.as_str()));
    w.segment(&parts);
    let count = (w.in_set + 1).to_string();
    w.segment(&["SE", &count, &control]);
}
