//! HL7 v2 → FHIR R4 mapping, after the HL7 V2-to-FHIR implementation
//! guide's message, segment and datatype maps.
//!
//! ```
//! use caresync_fhir::v2;
//!
//! let input = b"MSH|^~\\&|ADT|GHH^2.16.840.1.1^ISO|EHR|GHH|20240501103000-0500||ADT^A01^ADT_A01|MSG0001|P|2.5.1\r\
//!               PID|1||4711^^^GHH&2.16.840.1.1&ISO^MR||Everyman^Adam||19800101|M\r\
//!               PV1|1|I|W1^101^A||||1234^Attend^Ann|||||||||||||V42^^^GHH&2.16.840.1.1&ISO^VN|||||||||||||||||||||||||20240501093000-0500\r";
//! let mapped = v2::map_bytes(input)?;
//! let bundle: serde_json::Value = serde_json::from_str(&mapped.bundle).expect("JSON");
//! assert_eq!(bundle["type"], "message");
//! assert_eq!(bundle["entry"][0]["resource"]["resourceType"], "MessageHeader");
//! let patient = &bundle["entry"][1]["resource"];
//! assert_eq!(patient["name"][0]["family"], "Everyman");
//! assert_eq!(patient["birthDate"], "1980-01-01");
//! assert!(mapped.issues.is_empty());
//! // A resent message maps to the same ids.
//! assert_eq!(v2::map_bytes(input)?.bundle, mapped.bundle);
//! # Ok::<(), v2::Error>(())
//! ```
//!
//! # The Bundle
//!
//! One message becomes one `Bundle` of type `message`, as the IG's MSH map
//! assigns: `Bundle.identifier` is MSH-10, `Bundle.timestamp` MSH-7, the
//! first entry is the `MessageHeader` (event from MSH-9, source from
//! MSH-3, destination from MSH-5, focus on the main resources), and the
//! last is one `Provenance` whose `target` lists every other resource and
//! whose `entity` (role `source`) names the message by MSH-10 and its
//! sending application (MSH-3). Every entry has `fullUrl`
//! `urn:uuid:<id>`, and references between resources are those
//! `urn:uuid:` URLs (the only form a message Bundle resolves without a
//! server); the id after `urn:uuid:` is the resource's `id`.
//!
//! # Resource ids
//!
//! Ids are UUIDs (version 8) holding an FNV-1a 128-bit hash of the parts
//! below, each followed by the byte `0x1F`; raw HL7 bytes are hashed, so
//! the same message resent maps to the same ids. The *patient key* is
//! MSH-4 (sending facility), then CX.1 and CX.4 of the first PID-3
//! repetition with an id; when PID-3 has none, it is MSH-3, MSH-4, MSH-10
//! and the PID position (stable for resends of that message only).
//!
//! | Resource | Hashed parts |
//! |---|---|
//! | Patient | patient key, `Patient` |
//! | Patient (merged away, A40) | the patient key computed from MRG-1 |
//! | RelatedPerson | patient key, `RelatedPerson`, NK1-1 (or NK1 position) |
//! | Encounter | patient key, `Encounter`, PV1-19 CX.1 and CX.4; without PV1-19: MSH-3, MSH-4, MSH-10, PV1 position |
//! | AllergyIntolerance | patient key, `AllergyIntolerance`, AL1-3 |
//! | Condition | patient key, `Condition`, PV1-19, DG1-3, DG1-5 |
//! | Procedure | patient key, `Procedure`, PV1-19, PR1-3, PR1-5 |
//! | Coverage | patient key, `Coverage`, IN1-3 CX.1, IN1-36, IN1-2 |
//! | ServiceRequest, DiagnosticReport | MSH-4, type, filler order number (OBR-3, else ORC-3), else placer (OBR-2, else ORC-2); without both: MSH-3, MSH-4, MSH-10, OBR position |
//! | Observation | MSH-3, MSH-4, MSH-10, `Observation`, OBX position in the message |
//! | Immunization | MSH-4, `Immunization`, ORC-3 filler order number; without it: patient key, RXA-5 code, RXA-3 |
//! | Practitioner | MSH-4, XCN.1, XCN.9; without XCN.1: MSH-4 and the whole XCN |
//! | Location | MSH-4, the whole PL value |
//! | MessageHeader, Provenance, Bundle | MSH-3, MSH-4, MSH-10, type |
//!
//! # Segments and fields mapped
//!
//! - **MSH** → MessageHeader, Provenance, Bundle (see above).
//! - **PID** → Patient: identifier (PID-2, PID-3, PID-4 as CX with
//!   system from the assigning authority's OID and type from CX.5; PID-19
//!   SSN, PID-20 driver's licence), name (PID-5, XPN with use from table
//!   0200), birthDate (PID-7), gender (PID-8, administrative-gender map),
//!   address (PID-11), telecom (PID-13 home, PID-14 work), communication
//!   (PID-15), maritalStatus (PID-16, v3-MaritalStatus map), US Core race
//!   and ethnicity extensions (PID-10, PID-22), multipleBirth (PID-24/25),
//!   deceased (PID-29/30).
//! - **PD1** → Patient.generalPractitioner (PD1-4 practitioners, PD1-3
//!   organisations by name).
//! - **MRG** (A40) → a second Patient, `active: false`, linked
//!   `replaced-by` the surviving one, which links back with `replaces`.
//! - **NK1** → RelatedPerson (name, relationship, address, telecom,
//!   gender, birthDate, period, identifier).
//! - **PV1/PV2** → Encounter: class (PV1-2 via the table 0004 → v3-ActCode
//!   map), type (PV1-4), status (from the trigger event and PV1-45),
//!   location (PV1-3 active, PV1-6 completed, PV1-42 planned, as Location
//!   resources), participant (PV1-7 ATND, PV1-8 REF, PV1-9 CON, PV1-17 ADM,
//!   as Practitioner resources), serviceType (PV1-10), identifier (PV1-19,
//!   type VN), hospitalization (PV1-5 preAdmissionIdentifier, PV1-14
//!   admitSource, PV1-36 dischargeDisposition), period (PV1-44/45),
//!   reasonCode (PV2-3), length (PV2-11 days).
//! - **AL1** → AllergyIntolerance; **DG1** → Condition; **PR1** →
//!   Procedure; **IN1** → Coverage.
//! - **ORC/OBR** → ServiceRequest and DiagnosticReport (result: the OBX
//!   that follow; ED values become `presentedForm`).
//! - **OBX** → Observation: code (OBX-3), value by OBX-2 (NM quantity
//!   with OBX-6 unit, ST/TX/FT string, CWE/CE/CNE/IS/ID concept,
//!   DT/DTM/TS dateTime, SN quantity/range/ratio; repeated values become
//!   components), interpretation (OBX-8), referenceRange (OBX-7), status
//!   (OBX-11, table 0085 map), effective (OBX-14, else OBR-7), performer
//!   (OBX-16), partOf the Immunization of a preceding RXA.
//! - **RXA/RXR** → Immunization (vaccineCode, occurrence, dose, lot,
//!   expiration, manufacturer, performer, status from RXA-20/21, route,
//!   site).
//!
//! Message types: ADT A01–A08, A11, A13, A17, A28, A31, A40; ORU^R01;
//! VXU^V04. Others are [`Error::Unsupported`].

mod dt;
mod id;
mod json;
mod map;

use std::fmt;

use caresync_core::{ErrorClass, ErrorCode};
use caresync_hl7v2::{KnownType, Message, ParseError};

/// The message's type is not one this mapping supports.
pub const UNSUPPORTED: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0200",
    "message type is not supported by the HL7 v2 to FHIR mapping",
);
/// The message has no MSH segment or no MSH-9 message type.
pub const NO_MESSAGE_TYPE: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0201",
    "message has no MSH-9 message type",
);
/// A segment the message type needs (PID) is missing.
pub const MISSING_SEGMENT: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0202",
    "message lacks a segment its mapping needs",
);
/// A date/time in a mapped field could not be parsed; the field is left out.
pub const BAD_DATE: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0203",
    "date/time in a mapped field could not be parsed",
);
/// A number in a mapped field could not be parsed; the value is left out.
pub const BAD_NUMBER: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0204",
    "number in a mapped field could not be parsed",
);
/// A code in a mapped field is not in the HL7 table its concept map reads.
pub const UNKNOWN_CODE: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0205",
    "code in a mapped field is not in its concept map",
);
/// A segment lacks a field its FHIR resource requires; the resource is left out.
pub const MISSING_REQUIRED: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0206",
    "segment lacks a field its FHIR resource requires",
);
/// The message could not be parsed as HL7 v2.
pub const UNPARSABLE: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0207",
    "message could not be parsed as HL7 v2",
);
/// The OBX-2 value type is not mapped; the Observation has no value.
pub const UNMAPPED_VALUE_TYPE: ErrorCode = ErrorCode::new(
    ErrorClass::Mapping,
    "FHIR-0208",
    "OBX-2 value type is not mapped to an Observation value",
);

/// Every code this module raises.
pub const CODES: &[ErrorCode] = &[
    UNSUPPORTED,
    NO_MESSAGE_TYPE,
    MISSING_SEGMENT,
    BAD_DATE,
    BAD_NUMBER,
    UNKNOWN_CODE,
    MISSING_REQUIRED,
    UNPARSABLE,
    UNMAPPED_VALUE_TYPE,
];

/// A place in an HL7 v2 message: segment id, its 1-based position in the
/// message, and field number. Never holds the value found there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The segment id, e.g. `PID`.
    pub segment: &'static str,
    /// The 1-based position of the segment in the message.
    pub position: usize,
    /// The field number, e.g. 7 for `PID-7`.
    pub field: usize,
}

impl fmt::Display for Location {
    /// `PID-7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.segment, self.field)
    }
}

/// What went wrong in a mapped field; the mapping went on without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssueKind {
    /// An unparsable date/time ([`BAD_DATE`]).
    BadDate,
    /// An unparsable number ([`BAD_NUMBER`]).
    BadNumber,
    /// A code outside its concept map ([`UNKNOWN_CODE`]).
    UnknownCode,
    /// A field a resource requires is empty; the resource was left out ([`MISSING_REQUIRED`]).
    MissingRequired,
    /// An OBX-2 value type that is not mapped ([`UNMAPPED_VALUE_TYPE`]).
    UnmappedValueType,
}

/// A problem in one field, found while mapping; the rest was mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Issue {
    /// What went wrong.
    pub kind: IssueKind,
    /// Where.
    pub location: Location,
}

impl Issue {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            IssueKind::BadDate => BAD_DATE,
            IssueKind::BadNumber => BAD_NUMBER,
            IssueKind::UnknownCode => UNKNOWN_CODE,
            IssueKind::MissingRequired => MISSING_REQUIRED,
            IssueKind::UnmappedValueType => UNMAPPED_VALUE_TYPE,
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}: {}",
            self.code(),
            self.location,
            self.code().title()
        )
    }
}

/// Why a message could not be mapped at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not an HL7 v2 message.
    #[error("message could not be parsed as HL7 v2")]
    Parse(#[source] ParseError),
    /// No MSH segment or no MSH-9.
    #[error("message has no MSH-9 message type")]
    NoMessageType,
    /// A message type this mapping does not support.
    #[error("message type {message_type} is not supported by the HL7 v2 to FHIR mapping")]
    Unsupported {
        /// MSH-9.1 and MSH-9.2 as `CODE^TRIGGER` (a structural value, not patient data).
        message_type: String,
    },
    /// A segment the message type needs is missing.
    #[error("message lacks segment {segment}, which its mapping needs")]
    MissingSegment {
        /// The segment id, e.g. `PID`.
        segment: &'static str,
    },
}

impl Error {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Parse(_) => UNPARSABLE,
            Error::NoMessageType => NO_MESSAGE_TYPE,
            Error::Unsupported { .. } => UNSUPPORTED,
            Error::MissingSegment { .. } => MISSING_SEGMENT,
        }
    }
}

/// A mapped message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped {
    /// The FHIR `Bundle` (type `message`) as compact JSON.
    pub bundle: String,
    /// Problems in single fields; those fields were left out.
    pub issues: Vec<Issue>,
    /// Where each entry's resource is in `bundle`, in entry order.
    entries: Vec<EntrySpan>,
}

impl Mapped {
    /// The Bundle's resources in entry order, each as a slice of
    /// [`Mapped::bundle`] with its type and id: what reading the Bundle back
    /// would yield, without parsing it again.
    pub fn resources(&self) -> impl ExactSizeIterator<Item = MappedResource<'_>> {
        self.entries.iter().map(|e| MappedResource {
            resource_type: e.resource_type,
            id: &self.bundle[e.id.clone()],
            json: &self.bundle[e.resource.clone()],
        })
    }
}

/// One resource of a [`Mapped`] Bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedResource<'a> {
    /// Its `resourceType`.
    pub resource_type: &'static str,
    /// Its `id`.
    pub id: &'a str,
    /// The resource object as compact JSON.
    pub json: &'a str,
}

/// Where one entry is in a Bundle's text (byte ranges).
#[derive(Clone, Debug, PartialEq, Eq)]
struct EntrySpan {
    resource_type: &'static str,
    id: std::ops::Range<usize>,
    resource: std::ops::Range<usize>,
}

/// Whether messages of this type are mapped.
pub fn is_supported(t: KnownType) -> bool {
    t.is_adt() || matches!(t, KnownType::OruR01 | KnownType::VxuV04)
}

/// Maps a parsed message to a FHIR Bundle.
///
/// # Errors
///
/// [`Error::NoMessageType`], [`Error::Unsupported`], and
/// [`Error::MissingSegment`] when there is no PID.
pub fn to_bundle(msg: &Message<'_>) -> Result<Mapped, Error> {
    map::map(msg)
}

/// Parses (leniently) and maps one message.
///
/// # Errors
///
/// [`Error::Parse`] when the bytes are not an HL7 v2 message, and the
/// errors of [`to_bundle`].
pub fn map_bytes(input: &[u8]) -> Result<Mapped, Error> {
    let msg = Message::parse(input).map_err(Error::Parse)?;
    to_bundle(&msg)
}
