//! Typed claims from 837 transaction sets: professional (005010X222A1/A2),
//! institutional (005010X223A2/A3) and dental (005010X224A2), and leniently
//! their 004010 predecessors (X098A1, X096A1, X097A1).
//!
//! One pass over the segments of a transaction set resolves the loops by
//! the implementation guides' rules (HL levels 20/22/23 for 2000A/B/C, the
//! NM1 entity code within the current loop, SBR after CLM for 2320, LX for
//! 2400) and yields [`Claim`]s that borrow their values from the input
//! (no copy: a value is owned only when invalid UTF-8 had to be replaced). A problem in one claim becomes an
//! [`Issue`] of that claim and never loses the others; issues carry codes
//! and positions, never element values.
//!
//! ```
//! use caresync_x12::Document;
//! use caresync_x12::claim::{ClaimKind, read_claims};
//!
//! let input = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~\
//! GS*HC*A*B*20240101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~\
//! BHT*0019*00*1*20240101*1200*CH~NM1*41*2*SUBMITTER*****46*S1~NM1*40*2*RECEIVER*****46*R1~\
//! HL*1**20*1~NM1*85*2*CLINIC*****XX*1234567893~REF*EI*123456789~\
//! HL*2*1*22*0~SBR*P*18*******CI~NM1*IL*1*DOE*JANE****MI*M1~NM1*PR*2*PAYER*****PI*P1~\
//! CLM*C1*50.00***11:B:1*Y*A*Y*Y~HI*ABK:J020~LX*1~SV1*HC:99213:25*50.00*UN*1***1~DTP*472*D8*20240105~\
//! SE*16*0001~GE*1*1~IEA*1*000000001~";
//! let doc = Document::read(input)?;
//! let tx = doc.transactions().next().expect("one transaction set");
//! let claims = read_claims(&tx);
//! assert!(claims.issues.is_empty());
//! let claim = &claims.claims[0];
//! assert_eq!(claim.kind, ClaimKind::Professional);
//! assert_eq!(claim.id.as_deref(), Some("C1"));
//! assert_eq!(claim.total_charge.map(|a| a.to_string()).as_deref(), Some("50.00"));
//! assert_eq!(claim.billing_provider.as_ref().and_then(|p| p.npi()), Some("1234567893"));
//! assert!(claim.patient_is_subscriber());
//! let line = &claim.lines[0];
//! let procedure = line.procedure.as_ref().expect("a procedure");
//! assert_eq!((procedure.code, procedure.modifiers.as_slice()), ("99213", &["25"][..]));
//! assert!(claim.issues.is_empty());
//! # Ok::<(), caresync_x12::Error>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::envelope::{Document, Transaction};
use crate::error::{Issue, Position};
use crate::value::{Amount, Date, Inline};

mod read;

/// Stable codes raised while reading claims (`X12-0100`..`X12-0199`).
pub mod codes {
    use caresync_core::{ErrorClass, ErrorCode};

    const fn parse(code: &'static str, title: &'static str) -> ErrorCode {
        ErrorCode::new(ErrorClass::Parse, code, title)
    }

    /// The transaction set is not an 837 (ST01): no claims are read from it.
    pub const NOT_A_CLAIM_SET: ErrorCode = parse("X12-0100", "transaction set is not an 837 claim");
    /// A segment in an unknown loop or in a place its loop does not allow;
    /// it is skipped.
    pub const UNEXPECTED_SEGMENT: ErrorCode =
        parse("X12-0101", "unknown loop / unexpected segment");
    /// The HL hierarchy is broken: an unknown level, a parent that is not
    /// the enclosing level, or a claim outside a subscriber (2000B) loop.
    pub const BAD_HIERARCHY: ErrorCode = parse("X12-0102", "HL hierarchy is malformed");
    /// CLM01, the patient control number, is missing.
    pub const MISSING_CLAIM_ID: ErrorCode =
        parse("X12-0103", "claim identifier (CLM01) is missing");
    /// CLM02, the total claim charge, is missing.
    pub const MISSING_TOTAL_CHARGE: ErrorCode =
        parse("X12-0104", "total claim charge (CLM02) is missing");
    /// An amount or quantity element is not a decimal number.
    pub const BAD_AMOUNT: ErrorCode = parse("X12-0105", "amount or quantity is not a number");
    /// A date element does not match its format qualifier (D8, RD8) or is
    /// not a calendar date.
    pub const BAD_DATE: ErrorCode = parse("X12-0106", "date is malformed");
    /// CLM02 differs from the sum of the service line charges.
    pub const UNBALANCED_CLAIM: ErrorCode = parse(
        "X12-0107",
        "total claim charge does not equal the sum of line charges",
    );
    /// A claim without any service line (LX).
    pub const NO_SERVICE_LINES: ErrorCode = parse("X12-0108", "claim has no service lines");
    /// A required element other than CLM01/CLM02 is missing or malformed
    /// (an NM1 entity code, a procedure code, a diagnosis pointer).
    pub const BAD_ELEMENT: ErrorCode = parse("X12-0109", "element is missing or malformed");

    /// Every code this module declares.
    pub const ALL: &[ErrorCode] = &[
        NOT_A_CLAIM_SET,
        UNEXPECTED_SEGMENT,
        BAD_HIERARCHY,
        MISSING_CLAIM_ID,
        MISSING_TOTAL_CHARGE,
        BAD_AMOUNT,
        BAD_DATE,
        UNBALANCED_CLAIM,
        NO_SERVICE_LINES,
        BAD_ELEMENT,
    ];
}

/// The claims read from one or more 837 transaction sets, and the issues
/// found outside any claim (in the header or the 2000A/B/C levels).
#[derive(Default)]
pub struct Claims<'a> {
    /// The claims, in input order.
    pub claims: Vec<Claim<'a>>,
    /// Issues not tied to one claim. A claim's own issues are in
    /// [`Claim::issues`].
    pub issues: Vec<Issue>,
}

impl fmt::Debug for Claims<'_> {
    /// Counts only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("claims", &self.claims.len())
            .field("issues", &self.issues)
            .finish()
    }
}

impl Claims<'_> {
    /// Every issue: those outside claims, then each claim's, in input order.
    pub fn all_issues(&self) -> impl Iterator<Item = &Issue> + '_ {
        self.issues
            .iter()
            .chain(self.claims.iter().flat_map(|c| c.issues.iter()))
    }
}

/// Reads the claims of one transaction set. A set that is not an 837
/// yields no claims and a [`codes::NOT_A_CLAIM_SET`] issue.
pub fn read_claims<'a>(tx: &Transaction<'_, 'a>) -> Claims<'a> {
    let mut out = Claims::default();
    // One allocation for the claims, not a doubling per thousand.
    out.claims
        .reserve(tx.body().iter().filter(|s| s.is("CLM")).count());
    read::read_into(tx, &mut out);
    out
}

/// Reads the claims of every 837 transaction set of `doc`, in input order;
/// other transaction sets are skipped.
pub fn read_document_claims<'a>(doc: &Document<'a>) -> Claims<'a> {
    let mut out = Claims::default();
    out.claims
        .reserve(doc.segments().iter().filter(|s| s.is("CLM")).count());
    for tx in doc.transactions() {
        if tx.set_id() == Some("837") {
            read::read_into(&tx, &mut out);
        }
    }
    out
}

/// Which 837 a claim comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimKind {
    /// 837P (005010X222, 004010X098): SV1 lines.
    Professional,
    /// 837I (005010X223, 004010X096): SV2 lines with revenue codes.
    Institutional,
    /// 837D (005010X224, 004010X097): SV3 lines.
    Dental,
}

/// A date or a date range (a `D8` date is a range of one day).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// The first day.
    pub start: Date,
    /// The last day (equal to `start` for a single date).
    pub end: Date,
}

/// A postal address (N3/N4).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Address<'a> {
    /// N301.
    pub line1: Option<Cow<'a, str>>,
    /// N302.
    pub line2: Option<Cow<'a, str>>,
    /// N401.
    pub city: Option<Cow<'a, str>>,
    /// N402.
    pub state: Option<Cow<'a, str>>,
    /// N403.
    pub postal_code: Option<Cow<'a, str>>,
    /// N404.
    pub country: Option<Cow<'a, str>>,
}

/// A person or an organisation named by an NM1 segment, with what its loop
/// adds: address (N3/N4), tax id (REF), demographics (DMG).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Party<'a> {
    /// NM101, the entity identifier code (`85` billing provider, `IL`
    /// insured, `QC` patient, `82` rendering provider...).
    pub entity: &'a str,
    /// NM102 is `1` (a person) rather than `2` (an organisation).
    pub is_person: bool,
    /// NM103: last name, or the organisation's name.
    pub name: Option<Cow<'a, str>>,
    /// NM104: first name.
    pub first_name: Option<Cow<'a, str>>,
    /// NM105: middle name.
    pub middle_name: Option<Cow<'a, str>>,
    /// NM107: name suffix.
    pub suffix: Option<Cow<'a, str>>,
    /// NM108: what `id` is (`XX` NPI, `MI` member id, `PI` payer id, `46`
    /// ETIN...).
    pub id_qualifier: Option<Cow<'a, str>>,
    /// NM109: the identifier.
    pub id: Option<Cow<'a, str>>,
    /// N3/N4 of the party's loop.
    pub address: Option<Address<'a>>,
    /// REF*EI (employer id), or REF*SY (social security number) for a
    /// provider.
    pub tax_id: Option<Cow<'a, str>>,
    /// DMG02 when DMG01 is `D8`.
    pub birth_date: Option<Date>,
    /// DMG03 (`F`, `M`, `U`).
    pub gender: Option<Cow<'a, str>>,
}

impl<'a> Party<'a> {
    /// NM109 when NM108 is `XX` (an NPI).
    pub fn npi(&self) -> Option<&str> {
        match self.id_qualifier.as_deref() {
            Some("XX") => self.id.as_deref(),
            _ => None,
        }
    }
}

/// The subscriber loop (2000B): SBR, the insured (2010BA) and the payer
/// (2010BB). Shared by every claim of the loop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Subscriber<'a> {
    /// SBR01, the payer responsibility sequence (`P` primary, `S`
    /// secondary, `T` tertiary...).
    pub responsibility: Option<Cow<'a, str>>,
    /// SBR02, the relationship of the patient to the insured (`18`: self).
    pub relationship: Option<Cow<'a, str>>,
    /// SBR03, the group or policy number.
    pub group_number: Option<Cow<'a, str>>,
    /// SBR04, the group name.
    pub group_name: Option<Cow<'a, str>>,
    /// SBR09, the claim filing indicator (`CI` commercial, `MB` Medicare
    /// part B...).
    pub claim_filing: Option<Cow<'a, str>>,
    /// 2010BA, NM1*IL: the insured; the member id is its `id`.
    pub insured: Option<Party<'a>>,
    /// 2010BB, NM1*PR: the payer.
    pub payer: Option<Party<'a>>,
}

/// The patient loop (2000C/2010CA), when the patient is not the
/// subscriber. Shared by every claim of the loop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Patient<'a> {
    /// PAT01, the relationship of the patient to the insured.
    pub relationship: Option<Cow<'a, str>>,
    /// NM1*QC with its address and demographics.
    pub party: Option<Party<'a>>,
}

/// A code of an HI segment: qualifier, code, and whether it is the
/// principal one (`ABK`, `BK`, `BBR`, `BR`, `BP`).
#[derive(Clone, PartialEq, Eq)]
pub struct HealthCode<'a> {
    /// The code list qualifier (`ABK`, `ABF`, `BK`, `BF`, `APR`, `ABJ`,
    /// `BH`, `BE`...).
    pub qualifier: &'a str,
    /// The code (dots kept as sent).
    pub code: &'a str,
    /// The principal diagnosis or procedure.
    pub principal: bool,
}

/// A procedure: SV101, SV202, SV301 or SVD03 (`HC:99213:25`).
#[derive(Clone, PartialEq, Eq)]
pub struct Procedure<'a> {
    /// The product/service id qualifier (`HC` HCPCS/CPT, `AD` ADA, `N4`...).
    pub qualifier: &'a str,
    /// The code.
    pub code: &'a str,
    /// Up to four modifiers, in order.
    pub modifiers: Inline<&'a str, 4>,
}

/// A date of a claim (DTP in 2300): `431` onset, `434` statement period,
/// `472` service, `435` admission...
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimDate<'a> {
    /// DTP01, the date/time qualifier.
    pub qualifier: &'a str,
    /// DTP03 read by DTP02 (`D8`, `RD8`, or the date part of `DT`).
    pub period: Period,
}

/// A claim or line adjustment (CAS): group, reason, amount, quantity.
#[derive(Clone, PartialEq, Eq)]
pub struct Adjustment<'a> {
    /// CAS01, the group code (`CO`, `PR`, `OA`, `PI`, `CR`).
    pub group: &'a str,
    /// The reason code.
    pub reason: &'a str,
    /// The amount.
    pub amount: Option<Amount>,
    /// The quantity.
    pub quantity: Option<Amount>,
}

/// Another payer of the claim (2320 with 2330A/2330B): coordination of
/// benefits.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OtherSubscriber<'a> {
    /// SBR01 of 2320, the other payer's responsibility sequence.
    pub responsibility: Option<Cow<'a, str>>,
    /// SBR02.
    pub relationship: Option<Cow<'a, str>>,
    /// SBR03.
    pub group_number: Option<Cow<'a, str>>,
    /// SBR09, the claim filing indicator.
    pub claim_filing: Option<Cow<'a, str>>,
    /// AMT*D: what the other payer paid.
    pub paid: Option<Amount>,
    /// CAS of 2320: claim-level adjustments by the other payer.
    pub adjustments: Vec<Adjustment<'a>>,
    /// 2330A, NM1*IL: the other insured.
    pub insured: Option<Party<'a>>,
    /// 2330B, NM1*PR: the other payer.
    pub payer: Option<Party<'a>>,
}

/// An NDC drug of a service line (2410: LIN and CTP).
#[derive(Clone, PartialEq, Eq)]
pub struct Drug<'a> {
    /// LIN02 (`N4`: NDC 5-4-2).
    pub qualifier: &'a str,
    /// LIN03, the drug code.
    pub code: &'a str,
    /// CTP04, the quantity.
    pub quantity: Option<Amount>,
    /// CTP05-1, the unit (`ML`, `UN`, `GR`, `F2`, `ME`).
    pub unit: Option<&'a str>,
}

/// Another payer's adjudication of a line (2430: SVD, CAS, DTP*573).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LineAdjudication<'a> {
    /// SVD01, the other payer's id.
    pub payer_id: Option<Cow<'a, str>>,
    /// SVD02, the amount paid.
    pub paid: Option<Amount>,
    /// SVD03, the procedure paid.
    pub procedure: Option<Procedure<'a>>,
    /// SVD05, the units paid.
    pub paid_units: Option<Amount>,
    /// CAS: the adjustments.
    pub adjustments: Vec<Adjustment<'a>>,
    /// DTP*573: the adjudication or payment date.
    pub date: Option<Date>,
}

/// A service line (2400).
#[derive(Clone)]
pub struct ServiceLine<'a> {
    /// LX01, the line number.
    pub number: Option<u32>,
    /// SV201, the revenue code (837I).
    pub revenue_code: Option<Cow<'a, str>>,
    /// SV101, SV202 or SV301.
    pub procedure: Option<Procedure<'a>>,
    /// SV102, SV203 or SV302, the line charge.
    pub charge: Option<Amount>,
    /// SV103 or SV204, the unit basis (`UN` units, `MJ` minutes, `DA` days).
    pub unit_basis: Option<Cow<'a, str>>,
    /// SV104, SV205 or SV306, the units.
    pub quantity: Option<Amount>,
    /// SV105 or SV303, the place of service when it differs from the
    /// claim's.
    pub place_of_service: Option<Cow<'a, str>>,
    /// SV107 or SV311: 1-based pointers into the claim's diagnoses (the
    /// guides allow four; up to eight are kept).
    pub diagnosis_pointers: Inline<u8, 8>,
    /// DTP*472, the service date or period.
    pub service_period: Option<Period>,
    /// 2410, the NDC drug.
    pub drug: Option<Drug<'a>>,
    /// 2420: line-level providers (rendering, ordering, purchased
    /// service...), each with its entity code.
    pub providers: Vec<Party<'a>>,
    /// 2430: other payers' adjudications of the line.
    pub adjudications: Vec<LineAdjudication<'a>>,
    /// Where the LX segment is.
    pub at: Position,
}

/// One claim (CLM and its loops) with the levels above it.
#[derive(Clone)]
pub struct Claim<'a> {
    /// Which 837.
    pub kind: ClaimKind,
    /// 1000A, NM1*41.
    pub submitter: Option<Arc<Party<'a>>>,
    /// 1000B, NM1*40.
    pub receiver: Option<Arc<Party<'a>>>,
    /// 2010AA, NM1*85.
    pub billing_provider: Option<Arc<Party<'a>>>,
    /// 2010AB, NM1*87.
    pub pay_to: Option<Arc<Party<'a>>>,
    /// 2000B with 2010BA/2010BB.
    pub subscriber: Option<Arc<Subscriber<'a>>>,
    /// 2000C with 2010CA; `None` when the subscriber is the patient.
    pub patient: Option<Arc<Patient<'a>>>,
    /// CLM01, the patient control number.
    pub id: Option<Cow<'a, str>>,
    /// CLM02, the total claim charge.
    pub total_charge: Option<Amount>,
    /// CLM05-1: place of service (837P/D) or facility type (837I).
    pub facility_code: Option<&'a str>,
    /// CLM05-2: `B` place of service, `A` UB facility type.
    pub facility_qualifier: Option<&'a str>,
    /// CLM05-3: the claim frequency (`1` original, `7` replacement, `8`
    /// void).
    pub frequency: Option<&'a str>,
    /// DTP of 2300, in order.
    pub dates: Vec<ClaimDate<'a>>,
    /// HI diagnosis codes, in order (the principal first when sent so).
    pub diagnoses: Vec<HealthCode<'a>>,
    /// HI codes that are not diagnoses (procedures, condition, occurrence
    /// and value codes, DRG), in order.
    pub other_codes: Vec<HealthCode<'a>>,
    /// 2310: claim-level providers (referring `DN`, rendering `82`, service
    /// facility `77`, attending `71`...), each with its entity code.
    pub providers: Vec<Party<'a>>,
    /// 2320/2330: other payers.
    pub other_subscribers: Vec<OtherSubscriber<'a>>,
    /// 2400: the service lines.
    pub lines: Vec<ServiceLine<'a>>,
    /// The issues of this claim.
    pub issues: Vec<Issue>,
    /// Where the CLM segment is.
    pub at: Position,
}

impl<'a> Claim<'a> {
    /// The insured (2010BA).
    pub fn insured(&self) -> Option<&Party<'a>> {
        self.subscriber.as_ref()?.insured.as_ref()
    }

    /// The payer (2010BB).
    pub fn payer(&self) -> Option<&Party<'a>> {
        self.subscriber.as_ref()?.payer.as_ref()
    }

    /// Whether the patient is the subscriber: there is no 2000C loop.
    pub fn patient_is_subscriber(&self) -> bool {
        self.patient.is_none()
    }

    /// The patient: 2010CA, or the insured when the subscriber is the
    /// patient.
    pub fn patient(&self) -> Option<&Party<'a>> {
        match &self.patient {
            Some(p) => p.party.as_ref(),
            None => self.insured(),
        }
    }

    /// The payer responsibility of this claim's payer (SBR01 of 2000B).
    pub fn responsibility(&self) -> Option<&str> {
        self.subscriber.as_ref()?.responsibility.as_deref()
    }

    /// The first claim-level provider with entity code `entity`.
    pub fn provider(&self, entity: &str) -> Option<&Party<'a>> {
        self.providers.iter().find(|p| p.entity == entity)
    }

    /// The rendering provider (2310B in 837P, NM1*82).
    pub fn rendering_provider(&self) -> Option<&Party<'a>> {
        self.provider("82")
    }

    /// The referring provider (2310A, NM1*DN, or the primary care
    /// provider NM1*P3).
    pub fn referring_provider(&self) -> Option<&Party<'a>> {
        self.provider("DN").or_else(|| self.provider("P3"))
    }

    /// The service facility (2310C in 837P, NM1*77).
    pub fn service_facility(&self) -> Option<&Party<'a>> {
        self.provider("77")
    }

    /// The first date with qualifier `qualifier` (`431` onset, `434`
    /// statement period, `472` service).
    pub fn date(&self, qualifier: &str) -> Option<Period> {
        self.dates
            .iter()
            .find(|d| d.qualifier == qualifier)
            .map(|d| d.period)
    }

    /// The principal diagnosis, when flagged.
    pub fn principal_diagnosis(&self) -> Option<&HealthCode<'a>> {
        self.diagnoses.iter().find(|d| d.principal)
    }

    /// The sum of the line charges.
    pub fn line_charges(&self) -> Amount {
        self.lines.iter().filter_map(|l| l.charge).sum()
    }
}

// Debug output never shows element values: claims hold patient data.

/// Debug that names the type only.
macro_rules! opaque_debug {
    ($($t:ident$(<$l:lifetime>)?),*) => {$(
        impl fmt::Debug for $t$(<$l>)? {
            /// The type only; never values.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($t), " { .. }"))
            }
        }
    )*};
}

opaque_debug!(
    Period,
    Address<'_>,
    HealthCode<'_>,
    Procedure<'_>,
    ClaimDate<'_>,
    Adjustment<'_>,
    Drug<'_>,
    Patient<'_>
);

impl fmt::Debug for Party<'_> {
    /// The entity code and which parts are present; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Party")
            .field("entity", &self.entity)
            .field("is_person", &self.is_person)
            .field("has_id", &self.id.is_some())
            .field("has_address", &self.address.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Subscriber<'_> {
    /// Which parts are present; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("has_insured", &self.insured.is_some())
            .field("has_payer", &self.payer.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OtherSubscriber<'_> {
    /// Which parts are present and counts; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtherSubscriber")
            .field("has_insured", &self.insured.is_some())
            .field("has_payer", &self.payer.is_some())
            .field("adjustments", &self.adjustments.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LineAdjudication<'_> {
    /// Counts only; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineAdjudication")
            .field("adjustments", &self.adjustments.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServiceLine<'_> {
    /// Shape and position only; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceLine")
            .field("segment", &self.at.segment)
            .field("has_procedure", &self.procedure.is_some())
            .field("has_drug", &self.drug.is_some())
            .field("providers", &self.providers.len())
            .field("adjudications", &self.adjudications.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Claim<'_> {
    /// Kind, counts, position and issues; never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("kind", &self.kind)
            .field("segment", &self.at.segment)
            .field("patient_is_subscriber", &self.patient_is_subscriber())
            .field("diagnoses", &self.diagnoses.len())
            .field("providers", &self.providers.len())
            .field("other_subscribers", &self.other_subscribers.len())
            .field("lines", &self.lines.len())
            .field("issues", &self.issues)
            .finish_non_exhaustive()
    }
}
