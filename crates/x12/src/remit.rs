//! 835 health care claim payment/advice (005010X221A1; older versions are
//! read leniently): typed, owned remittances, and the balancing checks a
//! payer applies.
//!
//! ```
//! use caresync_x12::{Document, remit};
//!
//! let input = b"ISA*00*          *00*          *ZZ*PAYER          *ZZ*PROVIDER       *240101*1200*^*00501*000000001*0*P*:~\
//! GS*HP*PAYER*PROVIDER*20240101*1200*1*X*005010X221A1~ST*835*0001*005010X221A1~\
//! BPR*I*80.00*C*CHK************20240105~TRN*1*12345*1512345678~\
//! N1*PR*A PAYER~N1*PE*A CLINIC*XX*1234567893~LX*1~\
//! CLP*PCN1*1*100.00*80.00*20.00*12*PAYERCLAIM1~CAS*PR*1*20.00~NM1*QC*1*DOE*JANE~\
//! SE*10*0001~GE*1*1~IEA*1*000000001~";
//! let doc = Document::read(input)?;
//! let remittances = remit::read_remittances(&doc);
//! let r = &remittances[0];
//! assert_eq!(r.payment.amount.map(|a| a.to_string()).as_deref(), Some("80.00"));
//! assert_eq!(r.claims.len(), 1);
//! assert_eq!(r.claims[0].adjustments[0].reason.as_deref(), Some("1"));
//! assert!(r.all_issues().is_empty());
//! // Debug output shows the shape, never patient values.
//! assert!(!format!("{r:?}").contains("DOE"));
//! # Ok::<(), caresync_x12::Error>(())
//! ```
//!
//! # Balancing
//!
//! The 835 implementation guide (section 1.10.2.1) requires the amounts to
//! balance at three levels, adjustments (CAS, PLB) decreasing the payment
//! when positive and increasing it when negative:
//!
//! - **service line**: `SVC02 − Σ CAS amounts of the line = SVC03`
//!   ([`codes::LINE_UNBALANCED`] at SVC03);
//! - **claim**: `CLP03 − Σ CAS amounts of the claim and of all its lines =
//!   CLP04` ([`codes::CLAIM_UNBALANCED`] at CLP04);
//! - **transaction**: `Σ CLP04 − Σ PLB amounts = BPR02`
//!   ([`codes::REMITTANCE_UNBALANCED`] at BPR02).
//!
//! When both of the first two hold, the service line payments less the
//! claim-level adjustments equal CLP04 exactly when the lines carry the
//! whole claim charge. The guide does not make that a rule of its own (it
//! lets a payer leave out lines paid as billed), so a difference is only a
//! warning, [`codes::LINES_INCOMPLETE`].
//!
//! A check is skipped when one of its amounts is missing or unreadable:
//! that is already an issue of its own.

use std::fmt;

use crate::envelope::{Document, Transaction};
use crate::error::{Issue, Position};
use crate::token::Segment;
use crate::value::{Amount, Date};

/// Stable codes raised while reading remittances (`X12-0200`..`X12-0299`).
pub mod codes {
    use caresync_core::{ErrorClass, ErrorCode};

    const fn parse(code: &'static str, title: &'static str) -> ErrorCode {
        ErrorCode::new(ErrorClass::Parse, code, title)
    }

    /// The transaction set is not an 835 (it is read as one all the same).
    pub const NOT_A_REMITTANCE: ErrorCode =
        parse("X12-0200", "transaction set is not an 835 remittance");
    /// A segment the 835 requires (BPR, TRN, payer N1, payee N1) is missing.
    pub const MISSING_SEGMENT: ErrorCode = parse("X12-0201", "required 835 segment is missing");
    /// A required element of an 835 segment is empty or missing.
    pub const MISSING_ELEMENT: ErrorCode = parse("X12-0202", "required 835 element is missing");
    /// An amount or quantity is not a decimal number.
    pub const BAD_AMOUNT: ErrorCode = parse("X12-0203", "amount is not a decimal number");
    /// A date is not a real `CCYYMMDD` date (or range).
    pub const BAD_DATE: ErrorCode = parse("X12-0204", "date is not a valid date");
    /// A code outside its code list (CAS01 group code, BPR03 credit/debit).
    pub const BAD_CODE: ErrorCode = parse("X12-0205", "code is not in its code list");
    /// A segment out of its loop (a CAS before any CLP, an LQ outside a
    /// service line), ignored.
    pub const UNEXPECTED_SEGMENT: ErrorCode =
        parse("X12-0206", "segment is out of place in the 835, ignored");
    /// BPR02 is not the sum of the claim payments less the provider-level
    /// adjustments.
    pub const REMITTANCE_UNBALANCED: ErrorCode = parse(
        "X12-0210",
        "total payment does not equal claim payments less provider adjustments",
    );
    /// CLP03 less all the claim's adjustments (claim and service line
    /// level) is not CLP04.
    pub const CLAIM_UNBALANCED: ErrorCode = parse(
        "X12-0211",
        "claim charge less adjustments does not equal claim payment",
    );
    /// SVC02 less the line's adjustments is not SVC03.
    pub const LINE_UNBALANCED: ErrorCode = parse(
        "X12-0212",
        "service line charge less adjustments does not equal line payment",
    );
    /// The service line payments less the claim-level adjustments are not
    /// CLP04 although every line and the claim balance: the lines do not
    /// carry the whole claim (a warning; the guide allows it).
    pub const LINES_INCOMPLETE: ErrorCode = parse(
        "X12-0213",
        "service line payments less claim adjustments do not equal claim payment",
    );

    /// Every code this module declares.
    pub const ALL: &[ErrorCode] = &[
        NOT_A_REMITTANCE,
        MISSING_SEGMENT,
        MISSING_ELEMENT,
        BAD_AMOUNT,
        BAD_DATE,
        BAD_CODE,
        UNEXPECTED_SEGMENT,
        REMITTANCE_UNBALANCED,
        CLAIM_UNBALANCED,
        LINE_UNBALANCED,
        LINES_INCOMPLETE,
    ];
}

/// One 835 transaction set: the payment, the payer and payee, the claims
/// paid and the provider-level adjustments.
///
/// Its `Debug` output shows only its shape (counts and segment numbers):
/// remittances hold patient data.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Remittance {
    /// ST02, the transaction set control number.
    pub control_number: Option<String>,
    /// 1-based number of the ST segment in the document.
    pub segment: u32,
    /// BPR, the financial information.
    pub payment: Payment,
    /// TRN, the reassociation trace number.
    pub trace: Trace,
    /// DTM*405, the production date.
    pub production_date: Option<Date>,
    /// Header REF segments (`EV` receiver id, `F2` version).
    pub refs: Vec<Qualified<String>>,
    /// Loop 1000A, the payer (N1*PR).
    pub payer: Party,
    /// Loop 1000B, the payee (N1*PE).
    pub payee: Party,
    /// Loop 2000 header numbers (LX), in order; claims point into it.
    pub headers: Vec<Header>,
    /// Loop 2100 claims, in order.
    pub claims: Vec<Claim>,
    /// PLB provider-level adjustments, one per reason/amount pair.
    pub provider_adjustments: Vec<ProviderAdjustment>,
    /// Issues outside any claim (header, PLB, transaction balancing).
    /// Each claim holds its own.
    pub issues: Vec<Issue>,
}

impl Remittance {
    /// Every issue, the remittance's and its claims', in input order.
    pub fn all_issues(&self) -> Vec<Issue> {
        let mut all: Vec<Issue> = self
            .issues
            .iter()
            .chain(self.claims.iter().flat_map(|c| c.issues.iter()))
            .copied()
            .collect();
        all.sort_by_key(|i| (i.at.segment, i.at.element));
        all
    }
}

impl fmt::Debug for Remittance {
    /// Counts and segment numbers only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remittance")
            .field("segment", &self.segment)
            .field("headers", &self.headers.len())
            .field("claims", &self.claims)
            .field("provider_adjustments", &self.provider_adjustments.len())
            .field("issues", &self.issues)
            .finish_non_exhaustive()
    }
}

/// BPR, the financial information.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Payment {
    /// BPR01, the transaction handling code (`C` payment accompanies the
    /// remittance, `I` remittance only, `H` notification only...).
    pub handling: Option<String>,
    /// BPR02, the total actual provider payment.
    pub amount: Option<Amount>,
    /// BPR03, `C` credit or `D` debit.
    pub credit_debit: Option<String>,
    /// BPR04, the payment method (`ACH`, `CHK`, `NON`...).
    pub method: Option<String>,
    /// BPR16, the check issue or EFT effective date.
    pub date: Option<Date>,
}

/// TRN, the reassociation trace number.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trace {
    /// TRN01, the trace type code (`1` current transaction).
    pub kind: Option<String>,
    /// TRN02, the check or EFT trace number.
    pub number: Option<String>,
    /// TRN03, the payer identifier.
    pub payer_id: Option<String>,
}

/// A payer (1000A) or payee (1000B): N1, N3, N4, REF and PER.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Party {
    /// N102, the name.
    pub name: Option<String>,
    /// N103, the identification code qualifier (`XX` NPI, `FI` tax id).
    pub id_qualifier: Option<String>,
    /// N104, the identification code.
    pub id: Option<String>,
    /// N3/N4, the address.
    pub address: Option<Address>,
    /// REF segments (`2U` payer id, `TJ` tax id, `PQ` payee id).
    pub refs: Vec<Qualified<String>>,
    /// PER contacts.
    pub contacts: Vec<Contact>,
}

impl Party {
    /// The value of the first REF with qualifier `qualifier` (`"2U"`).
    pub fn reference(&self, qualifier: &str) -> Option<&str> {
        self.refs
            .iter()
            .find(|r| r.qualifier == qualifier)
            .and_then(|r| r.value.as_deref())
    }
}

/// N3/N4, an address.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Address {
    /// N301 and N302, the street lines.
    pub lines: Vec<String>,
    /// N401, the city.
    pub city: Option<String>,
    /// N402, the state or province.
    pub state: Option<String>,
    /// N403, the postal code.
    pub postal_code: Option<String>,
    /// N404, the country.
    pub country: Option<String>,
}

/// PER, a contact.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Contact {
    /// PER01, the contact function (`CX` claims, `BL` technical, `IC`
    /// information).
    pub function: Option<String>,
    /// PER02, the name.
    pub name: Option<String>,
    /// PER03..PER08, communication numbers (`TE` phone, `EM` e-mail, `UR`
    /// web site).
    pub numbers: Vec<Qualified<String>>,
}

/// A value and the qualifier that says what it is: a REF identifier, an LQ
/// remark code, a PER number (`Qualified<String>`), an AMT amount or a QTY
/// quantity (`Qualified<Amount>`).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Qualified<T> {
    /// The qualifier (`6R`, `B6`, `HE`...).
    pub qualifier: String,
    /// The value; `None` when missing or unreadable (an issue says which).
    pub value: Option<T>,
}

impl<T> fmt::Debug for Qualified<T> {
    /// Nothing but the type: the value may be patient data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Qualified").finish_non_exhaustive()
    }
}

/// Loop 2000, a header number (LX) with its provider summary (TS3) and
/// supplemental information (TS2).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// LX01, the assigned number.
    pub number: Option<String>,
    /// TS3, the provider summary.
    pub summary: Option<ProviderSummary>,
    /// TS2, the provider supplemental summary: its elements in order
    /// (TS201 total DRG amount...), `None` where empty or unreadable.
    pub supplemental: Option<Vec<Option<Amount>>>,
}

/// TS3, a provider summary.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderSummary {
    /// TS301, the provider identifier.
    pub provider_id: Option<String>,
    /// TS302, the facility type code.
    pub facility_code: Option<String>,
    /// TS303, the fiscal period end date.
    pub fiscal_period_end: Option<Date>,
    /// TS304, the number of claims.
    pub claim_count: Option<Amount>,
    /// TS305, the total claim charge amount.
    pub total_charge: Option<Amount>,
    /// TS306 and after, in order, `None` where empty or unreadable.
    pub more: Vec<Option<Amount>>,
}

/// Loop 2100, one claim payment.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claim {
    /// 1-based number of the CLP segment in the document.
    pub segment: u32,
    /// Index in [`Remittance::headers`] of the LX the claim follows.
    pub header: Option<usize>,
    /// CLP01, the patient control number (the provider's claim id).
    pub patient_control_number: Option<String>,
    /// CLP02, the claim status code (`1` processed as primary, `4` denied,
    /// `22` reversal...).
    pub status: Option<String>,
    /// CLP03, the total claim charge.
    pub charge: Option<Amount>,
    /// CLP04, the claim payment.
    pub payment: Option<Amount>,
    /// CLP05, the patient responsibility.
    pub patient_responsibility: Option<Amount>,
    /// CLP06, the claim filing indicator (`12` PPO, `MA` Medicare Part A...).
    pub filing_indicator: Option<String>,
    /// CLP07, the payer claim control number.
    pub payer_claim_control_number: Option<String>,
    /// CLP08, the facility type code.
    pub facility_code: Option<String>,
    /// CLP09, the claim frequency code.
    pub frequency: Option<String>,
    /// Claim-level CAS adjustments, one per reason/amount/quantity triplet.
    pub adjustments: Vec<Adjustment>,
    /// NM1*QC, the patient.
    pub patient: Option<Name>,
    /// NM1*IL, the insured or subscriber.
    pub insured: Option<Name>,
    /// NM1*74, the corrected patient or insured name.
    pub corrected: Option<Name>,
    /// NM1*82, the rendering provider.
    pub rendering: Option<Name>,
    /// NM1*TT, the crossover carrier.
    pub crossover: Option<Name>,
    /// DTM*232, the statement period start.
    pub statement_from: Option<Date>,
    /// DTM*233, the statement period end.
    pub statement_to: Option<Date>,
    /// DTM*050, the date the payer received the claim.
    pub received: Option<Date>,
    /// Claim REF segments (`1K` payer claim id, `EA` medical record...).
    pub refs: Vec<Qualified<String>>,
    /// Claim AMT segments (`AU` coverage amount, `F5` patient paid...).
    pub amounts: Vec<Qualified<Amount>>,
    /// Claim QTY segments (`CA` covered days...).
    pub quantities: Vec<Qualified<Amount>>,
    /// Loop 2110 service lines.
    pub lines: Vec<ServiceLine>,
    /// Issues in the claim's loops, its balancing included.
    pub issues: Vec<Issue>,
}

impl fmt::Debug for Claim {
    /// Counts and segment numbers only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("segment", &self.segment)
            .field("adjustments", &self.adjustments.len())
            .field("lines", &self.lines)
            .field("issues", &self.issues)
            .finish_non_exhaustive()
    }
}

/// CAS, one adjustment: a group code and one reason/amount/quantity triplet.
/// The amount decreases the payment when positive.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Adjustment {
    /// CAS01, the group code (`CO` contractual obligation, `PR` patient
    /// responsibility, `OA` other, `PI` payer initiated, `CR` correction).
    pub group: Option<String>,
    /// CAS02 (05, 08...), the claim adjustment reason code.
    pub reason: Option<String>,
    /// CAS03 (06, 09...), the amount.
    pub amount: Option<Amount>,
    /// CAS04 (07, 10...), the quantity.
    pub quantity: Option<Amount>,
}

/// NM1, a person or organisation named in a claim.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Name {
    /// NM102, `1` person or `2` non-person entity.
    pub entity_type: Option<String>,
    /// NM103, the last or organisation name.
    pub last: Option<String>,
    /// NM104, the first name.
    pub first: Option<String>,
    /// NM105, the middle name or initial.
    pub middle: Option<String>,
    /// NM107, the suffix.
    pub suffix: Option<String>,
    /// NM108, the identification code qualifier (`MI` member id, `XX` NPI).
    pub id_qualifier: Option<String>,
    /// NM109, the identification code.
    pub id: Option<String>,
}

/// Loop 2110, one service line payment.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceLine {
    /// 1-based number of the SVC segment in the document.
    pub segment: u32,
    /// SVC01, the adjudicated procedure.
    pub procedure: Option<Procedure>,
    /// SVC02, the line charge.
    pub charge: Option<Amount>,
    /// SVC03, the line payment.
    pub payment: Option<Amount>,
    /// SVC04, the revenue code.
    pub revenue_code: Option<String>,
    /// SVC05, the units paid.
    pub units: Option<Amount>,
    /// SVC06, the submitted procedure when the payer changed it.
    pub original_procedure: Option<Procedure>,
    /// SVC07, the units submitted.
    pub original_units: Option<Amount>,
    /// DTM*472 or DTM*150, the first date of service.
    pub service_from: Option<Date>,
    /// DTM*472 or DTM*151, the last date of service.
    pub service_to: Option<Date>,
    /// Line-level CAS adjustments, one per triplet.
    pub adjustments: Vec<Adjustment>,
    /// REF*6R, the provider's line item control number.
    pub control_number: Option<String>,
    /// Every REF of the line (`6R` included).
    pub refs: Vec<Qualified<String>>,
    /// AMT*B6, the allowed amount.
    pub allowed: Option<Amount>,
    /// Every AMT of the line (`B6` included).
    pub amounts: Vec<Qualified<Amount>>,
    /// QTY segments of the line.
    pub quantities: Vec<Qualified<Amount>>,
    /// LQ remark codes (`HE` claim payment remark codes, `RX` NCPDP).
    pub remarks: Vec<Qualified<String>>,
}

impl fmt::Debug for ServiceLine {
    /// Counts and segment numbers only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceLine")
            .field("segment", &self.segment)
            .field("adjustments", &self.adjustments.len())
            .finish_non_exhaustive()
    }
}

/// A composite procedure identifier (SVC01, SVC06).
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Procedure {
    /// Component 1, the qualifier (`HC` HCPCS/CPT, `NU` revenue code, `N4`
    /// NDC, `AD` ADA).
    pub qualifier: Option<String>,
    /// Component 2, the code.
    pub code: Option<String>,
    /// Components 3 to 6, the modifiers present.
    pub modifiers: Vec<String>,
    /// Component 7, the description.
    pub description: Option<String>,
}

/// PLB, one provider-level adjustment: a reason/amount pair with the
/// provider and fiscal period of its segment. The amount decreases the
/// payment when positive.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderAdjustment {
    /// 1-based number of the PLB segment in the document.
    pub segment: u32,
    /// PLB01, the provider identifier.
    pub provider_id: Option<String>,
    /// PLB02, the last day of the provider's fiscal year.
    pub fiscal_period_end: Option<Date>,
    /// PLB03-1 (05-1...), the adjustment reason code (`WO` overpayment
    /// recovery, `L6` interest, `CV` capital pass-through...).
    pub reason: Option<String>,
    /// PLB03-2 (05-2...), the reference identification.
    pub reference: Option<String>,
    /// PLB04 (06...), the amount.
    pub amount: Option<Amount>,
}

/// Debug that names the type and nothing else: these hold patient data.
macro_rules! opaque_debug {
    ($($t:ty),* $(,)?) => {$(
        impl fmt::Debug for $t {
            /// Nothing but the type: the fields may be patient data.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}

opaque_debug!(
    Payment,
    Trace,
    Party,
    Address,
    Contact,
    Header,
    ProviderSummary,
    Adjustment,
    Name,
    Procedure,
    ProviderAdjustment,
);

/// Reads one transaction set as a remittance. Never fails: what cannot be
/// read is an issue of the remittance or of the claim it belongs to, and a
/// broken claim never hides the others.
pub fn read_remittance(tx: &Transaction<'_, '_>) -> Remittance {
    let st = tx.st();
    let mut b = Builder::new(st);
    if tx.set_id() != Some("835") {
        b.r.issues
            .push(Issue::error(codes::NOT_A_REMITTANCE, st.position(1)));
    }
    for seg in tx.body() {
        b.segment(*seg);
    }
    b.finish()
}

/// Reads every 835 transaction set of a document (other sets are skipped),
/// in input order.
pub fn read_remittances(doc: &Document<'_>) -> Vec<Remittance> {
    doc.transactions()
        .filter(|tx| tx.set_id() == Some("835"))
        .map(|tx| read_remittance(&tx))
        .collect()
}

/// The most elements an 835 segment has (TS3 has 24); more are ignored.
const MAX_ELEMENTS: usize = 32;

/// An amount or date that could not be read; the issue is already pushed.
struct Bad;

type Fields<'a> = crate::token::Fields<'a, MAX_ELEMENTS>;

impl<'a> Fields<'a> {
    fn missing(&self, n: u16, sink: &mut Vec<Issue>) {
        sink.push(Issue::error(codes::MISSING_ELEMENT, self.pos(n)));
    }

    /// A required text element; a missing one is an issue.
    fn need_string(&self, n: u16, sink: &mut Vec<Issue>) -> Option<String> {
        let s = self.string(n);
        if s.is_none() {
            self.missing(n, sink);
        }
        s
    }

    fn amount(&self, n: u16, sink: &mut Vec<Issue>) -> Result<Option<Amount>, Bad> {
        let Some(raw) = self.raw(n) else {
            return Ok(None);
        };
        match std::str::from_utf8(raw)
            .ok()
            .and_then(|t| t.parse::<Amount>().ok())
        {
            Some(a) => Ok(Some(a)),
            None => {
                sink.push(Issue::error(codes::BAD_AMOUNT, self.pos(n)));
                Err(Bad)
            }
        }
    }

    fn need_amount(&self, n: u16, sink: &mut Vec<Issue>) -> Result<Amount, Bad> {
        match self.amount(n, sink)? {
            Some(a) => Ok(a),
            None => {
                self.missing(n, sink);
                Err(Bad)
            }
        }
    }

    /// An optional amount whose unreadability only matters as an issue.
    fn opt_amount(&self, n: u16, sink: &mut Vec<Issue>) -> Option<Amount> {
        self.amount(n, sink).ok().flatten()
    }

    fn date(&self, n: u16, sink: &mut Vec<Issue>) -> Option<Date> {
        let raw = self.raw(n)?;
        let d = std::str::from_utf8(raw).ok().and_then(Date::parse_d8);
        if d.is_none() {
            sink.push(Issue::error(codes::BAD_DATE, self.pos(n)));
        }
        d
    }

    fn need_date(&self, n: u16, sink: &mut Vec<Issue>) -> Option<Date> {
        if self.raw(n).is_none() {
            self.missing(n, sink);
            return None;
        }
        self.date(n, sink)
    }

    /// A DTM's date or period: DTM02, or DTM05 (format qualifier) with
    /// DTM06 as some senders write.
    fn dtm_period(&self, sink: &mut Vec<Issue>) -> Option<(Date, Date)> {
        if self.raw(2).is_some() {
            return self.date(2, sink).map(|d| (d, d));
        }
        match (self.text(5), self.raw(6)) {
            (Some(q), Some(raw)) => {
                let p = std::str::from_utf8(raw)
                    .ok()
                    .and_then(|t| Date::parse_period(q, t));
                if p.is_none() {
                    sink.push(Issue::error(codes::BAD_DATE, self.pos(6)));
                }
                p
            }
            _ => {
                self.missing(2, sink);
                None
            }
        }
    }

    /// The components of composite element `n` (the document has already
    /// settled which component separator the interchange really uses).
    fn components(&self, n: u16) -> Option<Components<'a>> {
        let raw = self.raw(n)?;
        Some(Components {
            rest: Some(raw),
            sep: self.seg.delimiters().component,
        })
    }

    fn qualified_string(&self, sink: &mut Vec<Issue>) -> Option<Qualified<String>> {
        let qualifier = self.need_string(1, sink)?;
        Some(Qualified {
            qualifier,
            value: self.string(2),
        })
    }

    fn qualified_amount(&self, sink: &mut Vec<Issue>) -> Option<Qualified<Amount>> {
        let qualifier = self.need_string(1, sink)?;
        let value = match self.amount(2, sink) {
            Ok(None) => {
                self.missing(2, sink);
                None
            }
            v => v.ok().flatten(),
        };
        Some(Qualified { qualifier, value })
    }
}

/// The components of one composite element, as owned text (`None` where
/// empty).
struct Components<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

impl Iterator for Components<'_> {
    type Item = Option<String>;

    fn next(&mut self) -> Option<Option<String>> {
        let rest = self.rest?;
        let (part, next) = match memchr::memchr(self.sep, rest) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        self.rest = next;
        let part = part.trim_ascii();
        Some(if part.is_empty() {
            None
        } else {
            std::str::from_utf8(part).ok().map(str::to_owned)
        })
    }
}

/// Which loop the reader is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loop {
    Header,
    Payer,
    Payee,
    /// An N1 loop other than PR and PE (older versions), skipped.
    OtherParty,
    Lx,
    Claim,
    Line,
    Summary,
}

/// A claim being read.
struct OpenClaim {
    claim: Claim,
    /// Where CLP04 is, for the claim's balancing issues.
    at: Position,
    /// An amount the claim balance needs is missing or unreadable.
    bad: bool,
    /// A line amount (SVC02, SVC03 or a line CAS) is missing or unreadable.
    lines_bad: bool,
    /// A line did not balance.
    line_unbalanced: bool,
    line: Option<OpenLine>,
}

/// A service line being read.
struct OpenLine {
    line: ServiceLine,
    /// Where SVC03 is.
    at: Position,
    /// An amount the line balance needs is missing or unreadable.
    bad: bool,
}

/// The one-pass reader of a transaction set's body.
struct Builder {
    r: Remittance,
    at: Loop,
    st: Position,
    /// Where BPR02 is, once a BPR has been read.
    bpr02: Option<Position>,
    saw_trn: bool,
    saw_payer: bool,
    saw_payee: bool,
    claim: Option<OpenClaim>,
    /// Σ CLP04.
    paid: Amount,
    /// Σ PLB amounts.
    provider_adjusted: Amount,
    /// A CLP04 or PLB amount is missing or unreadable: no transaction
    /// balancing.
    sums_bad: bool,
}

fn sum(adjustments: &[Adjustment]) -> Amount {
    adjustments.iter().filter_map(|a| a.amount).sum()
}

impl Builder {
    fn new(st: Segment<'_>) -> Self {
        Builder {
            r: Remittance {
                control_number: st.text(2).map(|t| t.trim().to_owned()),
                segment: st.number(),
                ..Remittance::default()
            },
            at: Loop::Header,
            st: st.position(0),
            bpr02: None,
            saw_trn: false,
            saw_payer: false,
            saw_payee: false,
            claim: None,
            paid: Amount::ZERO,
            provider_adjusted: Amount::ZERO,
            sums_bad: false,
        }
    }

    fn unexpected(sink: &mut Vec<Issue>, seg: &Segment<'_>) {
        sink.push(Issue::warning(codes::UNEXPECTED_SEGMENT, seg.position(0)));
    }

    fn segment(&mut self, seg: Segment<'_>) {
        let f = Fields::new(seg);
        match seg.id() {
            b"BPR" => self.bpr(&f),
            b"TRN" => self.trn(&f),
            b"N1" => self.n1(&f),
            b"LX" => {
                self.close_claim();
                self.r.headers.push(Header {
                    number: f.string(1),
                    ..Header::default()
                });
                self.at = Loop::Lx;
            }
            b"TS3" => self.ts3(&f),
            b"TS2" => self.ts2(&f),
            b"CLP" => self.clp(&f),
            b"SVC" => self.svc(&f),
            b"PLB" => self.plb(&f),
            _ => self.in_loop(&f),
        }
    }

    /// Segments whose meaning depends on the loop.
    fn in_loop(&mut self, f: &Fields<'_>) {
        let seg = &f.seg;
        let id = seg.id();
        match self.at {
            Loop::Header => {
                let sink = &mut self.r.issues;
                match id {
                    b"REF" => self.r.refs.extend(f.qualified_string(sink)),
                    b"DTM" if f.text(1) == Some("405") => {
                        self.r.production_date = f.dtm_period(sink).map(|p| p.0);
                    }
                    b"CAS" | b"NM1" | b"LQ" | b"N3" | b"N4" | b"PER" => Self::unexpected(sink, seg),
                    _ => {}
                }
            }
            Loop::Payer | Loop::Payee => {
                let sink = &mut self.r.issues;
                let party = if self.at == Loop::Payer {
                    &mut self.r.payer
                } else {
                    &mut self.r.payee
                };
                match id {
                    b"N3" => {
                        let a = party.address.get_or_insert_with(Address::default);
                        a.lines
                            .extend([f.string(1), f.string(2)].into_iter().flatten());
                    }
                    b"N4" => {
                        let a = party.address.get_or_insert_with(Address::default);
                        a.city = f.string(1);
                        a.state = f.string(2);
                        a.postal_code = f.string(3);
                        a.country = f.string(4);
                    }
                    b"REF" => party.refs.extend(f.qualified_string(sink)),
                    b"PER" => party.contacts.push(Contact {
                        function: f.string(1),
                        name: f.string(2),
                        numbers: [(3, 4), (5, 6), (7, 8)]
                            .into_iter()
                            .filter_map(|(q, v)| {
                                Some(Qualified {
                                    qualifier: f.string(q)?,
                                    value: f.string(v),
                                })
                            })
                            .collect(),
                    }),
                    b"CAS" | b"NM1" | b"LQ" => Self::unexpected(sink, seg),
                    _ => {}
                }
            }
            Loop::Claim | Loop::Line => self.in_claim(f),
            Loop::OtherParty | Loop::Lx | Loop::Summary => {
                if matches!(id, b"CAS" | b"NM1" | b"LQ" | b"AMT" | b"QTY") {
                    Self::unexpected(&mut self.r.issues, seg);
                }
            }
        }
    }

    fn bpr(&mut self, f: &Fields<'_>) {
        let sink = &mut self.r.issues;
        if self.bpr02.is_some() || self.at != Loop::Header {
            Self::unexpected(sink, &f.seg);
            return;
        }
        // Even an unreadable BPR02 marks the BPR as read.
        self.bpr02 = Some(f.pos(2));
        let p = &mut self.r.payment;
        p.handling = f.need_string(1, sink);
        match f.need_amount(2, sink) {
            Ok(a) => p.amount = Some(a),
            Err(Bad) => self.sums_bad = true,
        }
        p.credit_debit = f.need_string(3, sink);
        if p.credit_debit
            .as_deref()
            .is_some_and(|c| c != "C" && c != "D")
        {
            sink.push(Issue::error(codes::BAD_CODE, f.pos(3)));
        }
        p.method = f.need_string(4, sink);
        p.date = f.need_date(16, sink);
    }

    fn trn(&mut self, f: &Fields<'_>) {
        let sink = &mut self.r.issues;
        if self.saw_trn || self.at != Loop::Header {
            Self::unexpected(sink, &f.seg);
            return;
        }
        self.saw_trn = true;
        self.r.trace = Trace {
            kind: f.need_string(1, sink),
            number: f.need_string(2, sink),
            payer_id: f.need_string(3, sink),
        };
    }

    fn n1(&mut self, f: &Fields<'_>) {
        let sink = &mut self.r.issues;
        if !matches!(
            self.at,
            Loop::Header | Loop::Payer | Loop::Payee | Loop::OtherParty
        ) {
            Self::unexpected(sink, &f.seg);
            return;
        }
        let (party, next) = match f.text(1) {
            Some("PR") if !self.saw_payer => {
                self.saw_payer = true;
                (&mut self.r.payer, Loop::Payer)
            }
            Some("PE") if !self.saw_payee => {
                self.saw_payee = true;
                (&mut self.r.payee, Loop::Payee)
            }
            _ => {
                self.at = Loop::OtherParty;
                return;
            }
        };
        party.name = f.need_string(2, sink);
        party.id_qualifier = f.string(3);
        party.id = f.string(4);
        self.at = next;
    }

    fn ts3(&mut self, f: &Fields<'_>) {
        let sink = &mut self.r.issues;
        let header = match (self.at, self.r.headers.last_mut()) {
            (Loop::Lx, Some(h)) if h.summary.is_none() => h,
            _ => return Self::unexpected(sink, &f.seg),
        };
        let count = f.seg.element_count().min(MAX_ELEMENTS);
        header.summary = Some(ProviderSummary {
            provider_id: f.need_string(1, sink),
            facility_code: f.need_string(2, sink),
            fiscal_period_end: f.need_date(3, sink),
            claim_count: f.opt_amount(4, sink),
            total_charge: f.opt_amount(5, sink),
            more: (6..=count)
                .filter_map(|n| u16::try_from(n).ok())
                .map(|n| f.opt_amount(n, sink))
                .collect(),
        });
    }

    fn ts2(&mut self, f: &Fields<'_>) {
        let sink = &mut self.r.issues;
        let header = match (self.at, self.r.headers.last_mut()) {
            (Loop::Lx, Some(h)) if h.supplemental.is_none() => h,
            _ => return Self::unexpected(sink, &f.seg),
        };
        let count = f.seg.element_count().min(MAX_ELEMENTS);
        header.supplemental = Some(
            (1..=count)
                .filter_map(|n| u16::try_from(n).ok())
                .map(|n| f.opt_amount(n, sink))
                .collect(),
        );
    }

    fn clp(&mut self, f: &Fields<'_>) {
        self.close_claim();
        if matches!(self.at, Loop::Summary) {
            // A claim after the PLB: kept, but out of place.
            Self::unexpected(&mut self.r.issues, &f.seg);
        }
        let mut issues = Vec::new();
        let sink = &mut issues;
        let mut bad = false;
        let patient_control_number = f.need_string(1, sink);
        let status = f.need_string(2, sink);
        let charge = f.need_amount(3, sink).map_err(|_| bad = true).ok();
        let payment = match f.need_amount(4, sink) {
            Ok(a) => {
                self.paid = self.paid + a;
                Some(a)
            }
            Err(Bad) => {
                bad = true;
                self.sums_bad = true;
                None
            }
        };
        let claim = Claim {
            segment: f.seg.number(),
            header: self.r.headers.len().checked_sub(1),
            patient_control_number,
            status,
            charge,
            payment,
            patient_responsibility: f.opt_amount(5, sink),
            filing_indicator: f.string(6),
            payer_claim_control_number: f.string(7),
            facility_code: f.string(8),
            frequency: f.string(9),
            issues,
            ..Claim::default()
        };
        self.claim = Some(OpenClaim {
            claim,
            at: f.pos(4),
            bad,
            lines_bad: false,
            line_unbalanced: false,
            line: None,
        });
        self.at = Loop::Claim;
    }

    fn svc(&mut self, f: &Fields<'_>) {
        let Some(open) = self.claim.as_mut().filter(|_| self.at != Loop::Summary) else {
            Self::unexpected(&mut self.r.issues, &f.seg);
            return;
        };
        close_line(open);
        let sink = &mut open.claim.issues;
        let adjudicated = procedure(f, 1);
        if adjudicated.as_ref().is_none_or(|p| p.code.is_none()) {
            f.missing(1, sink);
        }
        let charge = f.need_amount(2, sink);
        let payment = f.need_amount(3, sink);
        let bad = charge.is_err() || payment.is_err();
        let line = ServiceLine {
            segment: f.seg.number(),
            procedure: adjudicated,
            charge: charge.ok(),
            payment: payment.ok(),
            revenue_code: f.string(4),
            units: f.opt_amount(5, sink),
            original_procedure: procedure(f, 6),
            original_units: f.opt_amount(7, sink),
            ..ServiceLine::default()
        };
        open.line = Some(OpenLine {
            line,
            at: f.pos(3),
            bad,
        });
        self.at = Loop::Line;
    }

    /// Segments inside loop 2100 or 2110.
    fn in_claim(&mut self, f: &Fields<'_>) {
        let Some(open) = self.claim.as_mut() else {
            return;
        };
        let sink = &mut open.claim.issues;
        let seg = &f.seg;
        if let Some(l) = open.line.as_mut() {
            let line = &mut l.line;
            match seg.id() {
                b"CAS" => {
                    let bad = cas(f, &mut line.adjustments, sink);
                    l.bad |= bad;
                    open.bad |= bad;
                }
                b"DTM" => match f.text(1) {
                    Some("472") => {
                        if let Some((a, b)) = f.dtm_period(sink) {
                            (line.service_from, line.service_to) = (Some(a), Some(b));
                        }
                    }
                    Some("150") => line.service_from = f.dtm_period(sink).map(|p| p.0),
                    Some("151") => line.service_to = f.dtm_period(sink).map(|p| p.1),
                    _ => {}
                },
                b"REF" => {
                    if let Some(r) = f.qualified_string(sink) {
                        if r.qualifier == "6R" {
                            line.control_number.clone_from(&r.value);
                        }
                        line.refs.push(r);
                    }
                }
                b"AMT" => {
                    if let Some(a) = f.qualified_amount(sink) {
                        if a.qualifier == "B6" {
                            line.allowed = a.value;
                        }
                        line.amounts.push(a);
                    }
                }
                b"QTY" => line.quantities.extend(f.qualified_amount(sink)),
                b"LQ" => line.remarks.extend(f.qualified_string(sink)),
                b"NM1" | b"MIA" | b"MOA" => Self::unexpected(sink, seg),
                _ => {}
            }
            return;
        }
        let claim = &mut open.claim;
        let sink = &mut claim.issues;
        match seg.id() {
            b"CAS" => open.bad |= cas(f, &mut claim.adjustments, sink),
            b"NM1" => {
                let slot = match f.text(1) {
                    Some("QC") => &mut claim.patient,
                    Some("IL") => &mut claim.insured,
                    Some("74") => &mut claim.corrected,
                    Some("82") => &mut claim.rendering,
                    Some("TT") => &mut claim.crossover,
                    _ => return,
                };
                *slot = Some(Name {
                    entity_type: f.string(2),
                    last: f.string(3),
                    first: f.string(4),
                    middle: f.string(5),
                    suffix: f.string(7),
                    id_qualifier: f.string(8),
                    id: f.string(9),
                });
            }
            b"DTM" => match f.text(1) {
                Some("232") => claim.statement_from = f.dtm_period(sink).map(|p| p.0),
                Some("233") => claim.statement_to = f.dtm_period(sink).map(|p| p.1),
                Some("050") => claim.received = f.dtm_period(sink).map(|p| p.0),
                _ => {}
            },
            b"REF" => claim.refs.extend(f.qualified_string(sink)),
            b"AMT" => claim.amounts.extend(f.qualified_amount(sink)),
            b"QTY" => claim.quantities.extend(f.qualified_amount(sink)),
            b"LQ" => Self::unexpected(sink, seg),
            _ => {}
        }
    }

    fn plb(&mut self, f: &Fields<'_>) {
        self.close_claim();
        self.at = Loop::Summary;
        let sink = &mut self.r.issues;
        let provider_id = f.need_string(1, sink);
        let fiscal_period_end = f.need_date(2, sink);
        let mut any = false;
        for k in 0..6u16 {
            let (r, a) = (3 + 2 * k, 4 + 2 * k);
            if f.raw(r).is_none() && f.raw(a).is_none() {
                continue;
            }
            any = true;
            let mut parts = f.components(r);
            let mut next = || parts.as_mut().and_then(Iterator::next).flatten();
            let reason = next();
            let reference = next();
            if reason.is_none() {
                f.missing(r, sink);
            }
            let amount = match f.need_amount(a, sink) {
                Ok(v) => {
                    self.provider_adjusted = self.provider_adjusted + v;
                    Some(v)
                }
                Err(Bad) => {
                    self.sums_bad = true;
                    None
                }
            };
            self.r.provider_adjustments.push(ProviderAdjustment {
                segment: f.seg.number(),
                provider_id: provider_id.clone(),
                fiscal_period_end,
                reason,
                reference,
                amount,
            });
        }
        if !any {
            f.missing(3, sink);
        }
    }

    fn close_claim(&mut self) {
        let Some(mut open) = self.claim.take() else {
            return;
        };
        close_line(&mut open);
        let claim = &mut open.claim;
        if let (false, Some(charge), Some(paid)) = (open.bad, claim.charge, claim.payment) {
            let claim_adjusted = sum(&claim.adjustments);
            let lines_adjusted: Amount = claim.lines.iter().map(|l| sum(&l.adjustments)).sum();
            if charge - paid != claim_adjusted + lines_adjusted {
                claim
                    .issues
                    .push(Issue::error(codes::CLAIM_UNBALANCED, open.at));
            } else if !claim.lines.is_empty() && !open.lines_bad && !open.line_unbalanced {
                let lines_paid: Amount = claim.lines.iter().filter_map(|l| l.payment).sum();
                if lines_paid - claim_adjusted != paid {
                    claim
                        .issues
                        .push(Issue::warning(codes::LINES_INCOMPLETE, open.at));
                }
            }
        }
        claim.issues.sort_by_key(|i| (i.at.segment, i.at.element));
        self.r.claims.push(open.claim);
    }

    fn finish(mut self) -> Remittance {
        self.close_claim();
        let sink = &mut self.r.issues;
        for (seen, id) in [
            (self.bpr02.is_some(), "BPR"),
            (self.saw_trn, "TRN"),
            (self.saw_payer, "N1"),
            (self.saw_payee, "N1"),
        ] {
            if !seen {
                let mut at = self.st;
                at.id = crate::error::id_bytes(id.as_bytes());
                sink.push(Issue::error(codes::MISSING_SEGMENT, at));
            }
        }
        if let (Some(at), Some(total), false) = (self.bpr02, self.r.payment.amount, self.sums_bad)
            && self.paid - self.provider_adjusted != total
        {
            sink.push(Issue::error(codes::REMITTANCE_UNBALANCED, at));
        }
        sink.sort_by_key(|i| (i.at.segment, i.at.element));
        self.r
    }
}

/// Closes the open service line of a claim: its balance, then into the
/// claim.
fn close_line(open: &mut OpenClaim) {
    let Some(l) = open.line.take() else {
        return;
    };
    let line = l.line;
    if l.bad {
        open.lines_bad = true;
    } else if let (Some(charge), Some(paid)) = (line.charge, line.payment)
        && charge - paid != sum(&line.adjustments)
    {
        open.line_unbalanced = true;
        open.claim
            .issues
            .push(Issue::error(codes::LINE_UNBALANCED, l.at));
    }
    open.claim.lines.push(line);
}

/// Reads a CAS into one adjustment per triplet; `true` when an amount is
/// missing or unreadable (the balance cannot be checked).
fn cas(f: &Fields<'_>, out: &mut Vec<Adjustment>, sink: &mut Vec<Issue>) -> bool {
    let group = f.need_string(1, sink);
    if group
        .as_deref()
        .is_some_and(|g| !matches!(g, "CO" | "PR" | "OA" | "PI" | "CR"))
    {
        sink.push(Issue::error(codes::BAD_CODE, f.pos(1)));
    }
    let mut bad = false;
    let mut any = false;
    for k in 0..6u16 {
        let (r, a, q) = (2 + 3 * k, 3 + 3 * k, 4 + 3 * k);
        if f.raw(r).is_none() && f.raw(a).is_none() && f.raw(q).is_none() {
            continue;
        }
        any = true;
        let reason = f.need_string(r, sink);
        let amount = f.need_amount(a, sink).map_err(|_| bad = true).ok();
        out.push(Adjustment {
            group: group.clone(),
            reason,
            amount,
            quantity: f.opt_amount(q, sink),
        });
    }
    if !any {
        f.missing(2, sink);
    }
    bad
}

/// A composite procedure identifier (SVC01, SVC06).
fn procedure(f: &Fields<'_>, n: u16) -> Option<Procedure> {
    let mut parts = f.components(n)?;
    let mut p = Procedure {
        qualifier: parts.next().flatten(),
        code: parts.next().flatten(),
        ..Procedure::default()
    };
    for (i, part) in parts.enumerate() {
        match (i, part) {
            (0..=3, Some(m)) => p.modifiers.push(m),
            (4, d) => p.description = d,
            _ => {}
        }
    }
    Some(p)
}
