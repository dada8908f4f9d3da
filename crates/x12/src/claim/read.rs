//! The one-pass reader: resolves 837 loops from HL levels, NM1 entity codes
//! and the segment order, and fills claims that borrow from the input.

use std::sync::Arc;

use super::{
    Address, Adjustment, Claim, ClaimDate, ClaimKind, Claims, Drug, HealthCode, LineAdjudication,
    OtherSubscriber, Party, Patient, Period, Procedure, ServiceLine, Subscriber, codes,
};
use crate::envelope::Transaction;
use crate::error::{Issue, Position};
use crate::token::Segment;
use crate::value::{Amount, Date, Inline};
use caresync_core::ErrorCode;

/// The most elements of a segment the reader looks at (CLM has 20, CAS 19).
const MAX_ELEMENTS: usize = 20;

/// The most components of a composite the reader looks at (SV101 has 8).
const MAX_COMPONENTS: usize = 8;

type Fields<'a> = crate::token::Fields<'a, MAX_ELEMENTS>;

/// Segment ids as numbers: a segment's id is read once and matched as an
/// integer, not compared as bytes against each name in turn.
mod id {
    /// The number of an id: its bytes and its length; 0 for an id longer
    /// than three bytes (never an X12 id).
    pub(super) const fn of(id: &[u8]) -> u32 {
        if id.len() > 3 {
            return 0;
        }
        let mut t = 0u32;
        let mut i = 0;
        while i < id.len() {
            t = t << 8 | id[i] as u32;
            i += 1;
        }
        t | (id.len() as u32) << 24
    }

    macro_rules! ids {
        ($($name:ident),* $(,)?) => {$(
            pub(super) const $name: u32 = of(stringify!($name).as_bytes());
        )*};
    }

    ids!(
        AMT, BHT, CAS, CL1, CLM, CN1, CR1, CR2, CR3, CR4, CR5, CR6, CR7, CR8, CRC, CTP, CUR, DMG,
        DN1, DN2, DSB, DTP, FRM, HCP, HI, HL, HSD, K3, LIN, LQ, LX, MEA, MIA, MOA, N2, N3, N4, NM1,
        NTE, OI, PAT, PER, PRV, PS1, PWK, QTY, REF, SBR, SV1, SV2, SV3, SV4, SV5, SV7, SVD, TOO,
        UR,
    );
}

/// Where the reader is in the 837 loop structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loop {
    /// Before the first HL: BHT, 1000A, 1000B.
    Header,
    /// 2000A with 2010AA/AB/AC.
    Provider,
    /// 2000B with 2010BA/BB.
    Subscriber,
    /// 2000C with 2010CA.
    Patient,
    /// An HL of an unknown level: its segments are skipped.
    Unknown,
    /// 2300.
    Claim,
    /// 2310x.
    ClaimProvider,
    /// 2320.
    OtherSubscriber,
    /// 2330x.
    OtherName,
    /// 2400.
    Line,
    /// 2410.
    Drug,
    /// 2420x.
    LineProvider,
    /// 2430.
    LineAdjudication,
}

impl Loop {
    fn in_claim(self) -> bool {
        matches!(
            self,
            Loop::Claim
                | Loop::ClaimProvider
                | Loop::OtherSubscriber
                | Loop::OtherName
                | Loop::Line
                | Loop::Drug
                | Loop::LineProvider
                | Loop::LineAdjudication
        )
    }

    fn in_line(self) -> bool {
        matches!(
            self,
            Loop::Line | Loop::Drug | Loop::LineProvider | Loop::LineAdjudication
        )
    }

    fn in_other_subscriber(self) -> bool {
        matches!(self, Loop::OtherSubscriber | Loop::OtherName)
    }

    /// Whether a segment may appear in this loop (leniently: the order
    /// within a loop is not checked).
    fn allows(self, id: u32) -> bool {
        use id::*;
        if matches!(id, NM1 | N2 | N3 | N4 | REF | PER | PRV) {
            return self != Loop::Header || id != PRV;
        }
        match self {
            Loop::Header => id == BHT,
            Loop::Provider => matches!(id, CUR),
            Loop::Subscriber => matches!(id, SBR | PAT | DMG),
            Loop::Patient => matches!(id, PAT | DMG),
            Loop::Unknown => true,
            Loop::Claim | Loop::ClaimProvider => matches!(
                id,
                DTP | CL1
                    | DN1
                    | DN2
                    | PWK
                    | CN1
                    | DSB
                    | UR
                    | AMT
                    | K3
                    | NTE
                    | CR1
                    | CR2
                    | CR3
                    | CR4
                    | CR5
                    | CR6
                    | CR7
                    | CR8
                    | CRC
                    | HI
                    | QTY
                    | HCP
                    | SBR
                    | LX
            ),
            Loop::OtherSubscriber | Loop::OtherName => {
                matches!(id, SBR | CAS | AMT | DMG | OI | MIA | MOA | DTP | LX)
            }
            Loop::Line | Loop::Drug | Loop::LineProvider | Loop::LineAdjudication => matches!(
                id,
                LX | SV1
                    | SV2
                    | SV3
                    | SV4
                    | SV5
                    | SV7
                    | TOO
                    | DTP
                    | CN1
                    | PWK
                    | CR1
                    | CR2
                    | CR3
                    | CR4
                    | CR5
                    | CRC
                    | QTY
                    | MEA
                    | AMT
                    | K3
                    | NTE
                    | PS1
                    | HSD
                    | HCP
                    | LIN
                    | CTP
                    | SVD
                    | CAS
                    | LQ
                    | FRM
            ),
        }
    }
}

/// Which party N3, N4, REF and DMG describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    None,
    Submitter,
    Receiver,
    Billing,
    PayTo,
    Insured,
    Payer,
    Patient,
    ClaimProvider,
    OtherInsured,
    OtherPayer,
    LineProvider,
}

impl Target {
    fn is_provider(self) -> bool {
        matches!(
            self,
            Target::Billing | Target::PayTo | Target::ClaimProvider | Target::LineProvider
        )
    }
}

/// The claim kind an implementation convention names.
fn kind_of(implementation: &str) -> Option<ClaimKind> {
    if implementation.contains("X222") || implementation.contains("X098") {
        Some(ClaimKind::Professional)
    } else if implementation.contains("X223") || implementation.contains("X096") {
        Some(ClaimKind::Institutional)
    } else if implementation.contains("X224") || implementation.contains("X097") {
        Some(ClaimKind::Dental)
    } else {
        None
    }
}

struct Reader<'a, 'o> {
    out: &'o mut Claims<'a>,
    /// The kind the implementation convention names, when it does.
    kind: Option<ClaimKind>,
    lp: Loop,
    target: Target,
    submitter: Option<Arc<Party<'a>>>,
    receiver: Option<Arc<Party<'a>>>,
    billing: Option<Arc<Party<'a>>>,
    pay_to: Option<Arc<Party<'a>>>,
    subscriber: Option<Arc<Subscriber<'a>>>,
    patient: Option<Arc<Patient<'a>>>,
    /// HL01 of the open 2000A and 2000B.
    hl_provider: Option<&'a str>,
    hl_subscriber: Option<&'a str>,
    /// Whether the last claim of `out` is open (its loops still being
    /// read): claims are built in place, never moved.
    open: bool,
    /// LX segments ahead of the open claim, to size its lines once.
    lines_ahead: usize,
    /// The kind the open claim's service segments show.
    line_kind: Option<ClaimKind>,
}

/// Reads the claims of `tx` into `out`.
pub(super) fn read_into<'a>(tx: &Transaction<'_, 'a>, out: &mut Claims<'a>) {
    if tx.set_id() != Some("837") {
        out.issues
            .push(Issue::error(codes::NOT_A_CLAIM_SET, tx.st().position(1)));
        return;
    }
    let mut r = Reader {
        out,
        kind: tx.implementation().and_then(kind_of),
        lp: Loop::Header,
        target: Target::None,
        submitter: None,
        receiver: None,
        billing: None,
        pay_to: None,
        subscriber: None,
        patient: None,
        hl_provider: None,
        hl_subscriber: None,
        open: false,
        lines_ahead: 0,
        line_kind: None,
    };
    let body = tx.body();
    for (i, seg) in body.iter().enumerate() {
        if seg.is("CLM") {
            r.lines_ahead = body[i + 1..]
                .iter()
                .take_while(|s| !s.is("CLM") && !s.is("HL"))
                .filter(|s| s.is("LX"))
                .count();
        }
        r.segment(*seg, tx.text_of(seg));
    }
    r.close_claim();
}

impl<'a> Reader<'a, '_> {
    fn issue(&mut self, code: ErrorCode, at: Position) {
        let issue = Issue::error(code, at);
        match self.claim_mut() {
            Some(c) => c.issues.push(issue),
            None => self.out.issues.push(issue),
        }
    }

    fn amount(&mut self, f: &Fields<'a>, n: u16) -> Option<Amount> {
        let t = f.text(n)?;
        match t.parse::<Amount>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.issue(codes::BAD_AMOUNT, f.pos(n));
                None
            }
        }
    }

    /// A required amount: missing or malformed is an issue.
    fn required_amount(&mut self, f: &Fields<'a>, n: u16) -> Option<Amount> {
        if f.text(n).is_none() {
            self.issue(codes::BAD_ELEMENT, f.pos(n));
            return None;
        }
        self.amount(f, n)
    }

    fn segment(&mut self, seg: Segment<'a>, text: Option<&'a str>) {
        let id = id::of(seg.id());
        match id {
            id::HL => return self.hl(&Fields::in_text(seg, text)),
            id::CLM => return self.clm(&Fields::in_text(seg, text)),
            _ => {}
        }
        if !self.lp.allows(id) {
            self.issue(codes::UNEXPECTED_SEGMENT, seg.position(0));
            return;
        }
        match id {
            id::NM1 => self.nm1(&Fields::in_text(seg, text)),
            id::N3 | id::N4 | id::REF | id::DMG => {
                self.party_detail(id, &Fields::in_text(seg, text))
            }
            id::SBR => self.sbr(&Fields::in_text(seg, text)),
            id::PAT if self.lp == Loop::Patient => {
                let rel = Fields::in_text(seg, text).lossy(1);
                if let Some(p) = &mut self.patient {
                    Arc::make_mut(p).relationship = rel;
                }
            }
            id::DTP => self.dtp(&Fields::in_text(seg, text)),
            id::HI if self.lp.in_claim() => self.hi(&Fields::in_text(seg, text)),
            id::AMT if self.lp.in_other_subscriber() => {
                let f = Fields::in_text(seg, text);
                if f.text(1) == Some("D") {
                    let paid = self.amount(&f, 2);
                    if let Some(o) = self.other_mut() {
                        o.paid = paid;
                    }
                }
            }
            id::CAS => self.cas(&Fields::in_text(seg, text)),
            id::LX => self.lx(&Fields::in_text(seg, text)),
            id::SV1 => self.service(&Fields::in_text(seg, text), ClaimKind::Professional),
            id::SV2 => self.service(&Fields::in_text(seg, text), ClaimKind::Institutional),
            id::SV3 => self.service(&Fields::in_text(seg, text), ClaimKind::Dental),
            id::LIN => self.lin(&Fields::in_text(seg, text)),
            id::CTP if self.lp == Loop::Drug => {
                let f = Fields::in_text(seg, text);
                let quantity = self.amount(&f, 4);
                let unit = f.parts::<1>(5)[0];
                if let Some(d) = self.line_mut().and_then(|l| l.drug.as_mut()) {
                    d.quantity = quantity;
                    d.unit = unit;
                }
            }
            id::SVD => self.svd(&Fields::in_text(seg, text)),
            _ => {}
        }
    }

    fn hl(&mut self, f: &Fields<'a>) {
        self.close_claim();
        self.target = Target::None;
        let (id, parent) = (f.text(1), f.text(2));
        if id.is_none() {
            self.issue(codes::BAD_ELEMENT, f.pos(1));
        }
        match f.text(3) {
            Some("20") => {
                self.billing = None;
                self.pay_to = None;
                self.subscriber = None;
                self.patient = None;
                self.hl_provider = id;
                self.hl_subscriber = None;
                self.lp = Loop::Provider;
            }
            Some("22") => {
                if self.hl_provider.is_none() || parent != self.hl_provider {
                    self.issue(codes::BAD_HIERARCHY, f.pos(2));
                }
                self.subscriber = Some(Arc::default());
                self.patient = None;
                self.hl_subscriber = id;
                self.lp = Loop::Subscriber;
            }
            Some("23") => {
                if self.hl_subscriber.is_none() || parent != self.hl_subscriber {
                    self.issue(codes::BAD_HIERARCHY, f.pos(2));
                }
                self.patient = Some(Arc::default());
                self.lp = Loop::Patient;
            }
            _ => {
                self.issue(codes::BAD_HIERARCHY, f.pos(3));
                self.lp = Loop::Unknown;
            }
        }
    }

    fn clm(&mut self, f: &Fields<'a>) {
        self.close_claim();
        let ok_place = matches!(self.lp, Loop::Subscriber | Loop::Patient) || self.lp.in_claim();
        let mut claim = Claim {
            kind: self.kind.unwrap_or(ClaimKind::Professional),
            submitter: self.submitter.clone(),
            receiver: self.receiver.clone(),
            billing_provider: self.billing.clone(),
            pay_to: self.pay_to.clone(),
            subscriber: self.subscriber.clone(),
            patient: self.patient.clone(),
            id: f.lossy(1),
            total_charge: None,
            facility_code: None,
            facility_qualifier: None,
            frequency: None,
            dates: Vec::new(),
            diagnoses: Vec::new(),
            other_codes: Vec::new(),
            providers: Vec::new(),
            other_subscribers: Vec::new(),
            lines: Vec::with_capacity(self.lines_ahead),
            issues: Vec::new(),
            at: f.pos(0),
        };
        if f.el(5).is_some() {
            let c = f.parts::<3>(5);
            claim.facility_code = c[0];
            claim.facility_qualifier = c[1];
            claim.frequency = c[2];
        }
        if !ok_place || self.subscriber.is_none() {
            claim
                .issues
                .push(Issue::error(codes::BAD_HIERARCHY, f.pos(0)));
        }
        if claim.id.is_none() {
            claim
                .issues
                .push(Issue::error(codes::MISSING_CLAIM_ID, f.pos(1)));
        }
        self.out.claims.push(claim);
        self.open = true;
        self.line_kind = None;
        self.lp = Loop::Claim;
        self.target = Target::None;
        match f.text(2) {
            Some(_) => {
                let total = self.amount(f, 2);
                if let Some(c) = self.claim_mut() {
                    c.total_charge = total;
                }
            }
            None => self.issue(codes::MISSING_TOTAL_CHARGE, f.pos(2)),
        }
    }

    fn close_claim(&mut self) {
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        let kind = self.kind;
        let line_kind = self.line_kind;
        let Some(c) = self.out.claims.last_mut() else {
            return;
        };
        if kind.is_none() {
            c.kind = match (line_kind, c.facility_qualifier) {
                (Some(k), _) => k,
                (None, Some("A")) => ClaimKind::Institutional,
                _ => ClaimKind::Professional,
            };
        }
        if c.lines.is_empty() {
            c.issues.push(Issue::warning(codes::NO_SERVICE_LINES, c.at));
        } else if let Some(total) = c.total_charge {
            let mut sum = Some(Amount::ZERO);
            for l in &c.lines {
                sum = match (sum, l.charge) {
                    (Some(s), Some(ch)) => s.checked_add(ch),
                    _ => None,
                };
            }
            if sum.is_some_and(|s| s != total) {
                let mut at = c.at;
                at.element = 2;
                c.issues.push(Issue::error(codes::UNBALANCED_CLAIM, at));
            }
        }
    }

    /// The open claim.
    fn claim_mut(&mut self) -> Option<&mut Claim<'a>> {
        if self.open {
            self.out.claims.last_mut()
        } else {
            None
        }
    }

    fn nm1(&mut self, f: &Fields<'a>) {
        let Some(entity) = f.text(1) else {
            self.issue(codes::BAD_ELEMENT, f.pos(1));
            self.target = Target::None;
            return;
        };
        let party = Party {
            entity,
            is_person: f.text(2) == Some("1"),
            name: f.lossy(3),
            first_name: f.lossy(4),
            middle_name: f.lossy(5),
            suffix: f.lossy(7),
            id_qualifier: f.lossy(8),
            id: f.lossy(9),
            ..Party::default()
        };
        self.target = match (self.lp, entity) {
            (Loop::Header, "41") => {
                self.submitter = Some(Arc::new(party));
                Target::Submitter
            }
            (Loop::Header, "40") => {
                self.receiver = Some(Arc::new(party));
                Target::Receiver
            }
            (Loop::Header, _) => {
                self.issue(codes::UNEXPECTED_SEGMENT, f.pos(1));
                Target::None
            }
            (Loop::Provider, "85") => {
                self.billing = Some(Arc::new(party));
                Target::Billing
            }
            (Loop::Provider, "87") => {
                self.pay_to = Some(Arc::new(party));
                Target::PayTo
            }
            (Loop::Subscriber, "IL") => {
                if let Some(s) = &mut self.subscriber {
                    Arc::make_mut(s).insured = Some(party);
                }
                Target::Insured
            }
            (Loop::Subscriber, "PR") => {
                if let Some(s) = &mut self.subscriber {
                    Arc::make_mut(s).payer = Some(party);
                }
                Target::Payer
            }
            (Loop::Patient, "QC") => {
                if let Some(p) = &mut self.patient {
                    Arc::make_mut(p).party = Some(party);
                }
                Target::Patient
            }
            (Loop::Claim | Loop::ClaimProvider, _) => {
                self.lp = Loop::ClaimProvider;
                match self.claim_mut() {
                    Some(c) => {
                        c.providers.push(party);
                        Target::ClaimProvider
                    }
                    None => Target::None,
                }
            }
            (Loop::OtherSubscriber | Loop::OtherName, e) => {
                self.lp = Loop::OtherName;
                match (e, self.other_mut()) {
                    ("IL", Some(o)) => {
                        o.insured = Some(party);
                        Target::OtherInsured
                    }
                    ("PR", Some(o)) => {
                        o.payer = Some(party);
                        Target::OtherPayer
                    }
                    // 2330C-I: other payers' provider ids, not kept.
                    _ => Target::None,
                }
            }
            (lp, _) if lp.in_line() => {
                self.lp = Loop::LineProvider;
                match self.line_mut() {
                    Some(l) => {
                        l.providers.push(party);
                        Target::LineProvider
                    }
                    None => Target::None,
                }
            }
            // Other entities of the 2000 levels (2010AC pay-to plan...).
            _ => Target::None,
        };
    }

    fn party_mut(&mut self) -> Option<&mut Party<'a>> {
        match self.target {
            Target::None => None,
            Target::Submitter => self.submitter.as_mut().map(Arc::make_mut),
            Target::Receiver => self.receiver.as_mut().map(Arc::make_mut),
            Target::Billing => self.billing.as_mut().map(Arc::make_mut),
            Target::PayTo => self.pay_to.as_mut().map(Arc::make_mut),
            Target::Insured => Arc::make_mut(self.subscriber.as_mut()?).insured.as_mut(),
            Target::Payer => Arc::make_mut(self.subscriber.as_mut()?).payer.as_mut(),
            Target::Patient => Arc::make_mut(self.patient.as_mut()?).party.as_mut(),
            Target::ClaimProvider => self.claim_mut()?.providers.last_mut(),
            Target::OtherInsured => self.other_mut()?.insured.as_mut(),
            Target::OtherPayer => self.other_mut()?.payer.as_mut(),
            Target::LineProvider => self.line_mut()?.providers.last_mut(),
        }
    }

    fn other_mut(&mut self) -> Option<&mut OtherSubscriber<'a>> {
        self.claim_mut()?.other_subscribers.last_mut()
    }

    fn line_mut(&mut self) -> Option<&mut ServiceLine<'a>> {
        self.claim_mut()?.lines.last_mut()
    }

    /// N3, N4, REF and DMG of the current party.
    fn party_detail(&mut self, id: u32, f: &Fields<'a>) {
        match id {
            id::N3 => {
                let (l1, l2) = (f.lossy(1), f.lossy(2));
                if let Some(p) = self.party_mut() {
                    let a = p.address.get_or_insert_with(Address::default);
                    a.line1 = l1;
                    a.line2 = l2;
                }
            }
            id::N4 => {
                let (city, state, zip, country) = (f.lossy(1), f.lossy(2), f.lossy(3), f.lossy(4));
                if let Some(p) = self.party_mut() {
                    let a = p.address.get_or_insert_with(Address::default);
                    a.city = city;
                    a.state = state;
                    a.postal_code = zip;
                    a.country = country;
                }
            }
            id::REF => {
                let is_provider = self.target.is_provider();
                let tax = match f.text(1) {
                    Some("EI") => true,
                    Some("SY") => is_provider,
                    _ => false,
                };
                if tax {
                    let v = f.lossy(2);
                    if let Some(p) = self.party_mut() {
                        p.tax_id = v;
                    }
                }
            }
            id::DMG => {
                let birth = match (f.text(1), f.text(2)) {
                    (Some("D8"), Some(t)) => {
                        let d = Date::parse_d8(t);
                        if d.is_none() {
                            self.issue(codes::BAD_DATE, f.pos(2));
                        }
                        d
                    }
                    _ => None,
                };
                let gender = f.lossy(3);
                if let Some(p) = self.party_mut() {
                    p.birth_date = birth;
                    p.gender = gender;
                }
            }
            _ => {}
        }
    }

    fn sbr(&mut self, f: &Fields<'a>) {
        self.target = Target::None;
        if self.lp == Loop::Subscriber {
            if let Some(s) = &mut self.subscriber {
                let s = Arc::make_mut(s);
                s.responsibility = f.lossy(1);
                s.relationship = f.lossy(2);
                s.group_number = f.lossy(3);
                s.group_name = f.lossy(4);
                s.claim_filing = f.lossy(9);
            }
            return;
        }
        // SBR after CLM starts 2320.
        let other = OtherSubscriber {
            responsibility: f.lossy(1),
            relationship: f.lossy(2),
            group_number: f.lossy(3),
            claim_filing: f.lossy(9),
            ..OtherSubscriber::default()
        };
        if let Some(c) = self.claim_mut() {
            c.other_subscribers.push(other);
        }
        self.lp = Loop::OtherSubscriber;
    }

    /// A DTP date: `D8`, `RD8`, or the date part of `DT`; other formats
    /// (`TM`) are not dates and are skipped.
    fn period(&mut self, f: &Fields<'a>) -> Option<Period> {
        let format = f.text(2)?;
        if !matches!(format, "D8" | "RD8" | "DT") {
            return None;
        }
        let value = f.text(3).unwrap_or("");
        let parsed = match format {
            "DT" => value
                .get(..8)
                .and_then(|d| Date::parse_period("D8", d))
                .filter(|_| value.len() == 12 && value.is_ascii()),
            _ => Date::parse_period(format, value),
        };
        match parsed {
            Some((start, end)) => Some(Period { start, end }),
            None => {
                self.issue(codes::BAD_DATE, f.pos(3));
                None
            }
        }
    }

    fn dtp(&mut self, f: &Fields<'a>) {
        if self.lp.in_other_subscriber() {
            return;
        }
        let Some(qualifier) = f.text(1) else {
            self.issue(codes::BAD_ELEMENT, f.pos(1));
            return;
        };
        let Some(period) = self.period(f) else {
            return;
        };
        match self.lp {
            Loop::Claim | Loop::ClaimProvider => {
                if let Some(c) = self.claim_mut() {
                    c.dates.push(ClaimDate { qualifier, period });
                }
            }
            Loop::LineAdjudication if qualifier == "573" => {
                if let Some(a) = self.line_mut().and_then(|l| l.adjudications.last_mut()) {
                    a.date = Some(period.start);
                }
            }
            Loop::Line | Loop::Drug | Loop::LineProvider if qualifier == "472" => {
                if let Some(l) = self.line_mut() {
                    l.service_period = Some(period);
                }
            }
            _ => {}
        }
    }

    fn hi(&mut self, f: &Fields<'a>) {
        // One allocation for the segment's codes (most are diagnoses).
        let sent = (1..=MAX_ELEMENTS as u16)
            .map_while(|n| f.el(n))
            .filter(|e| !e.is_empty())
            .count();
        if let Some(c) = self.claim_mut() {
            c.diagnoses.reserve(sent);
        }
        for n in 1..=MAX_ELEMENTS as u16 {
            let Some(e) = f.el(n) else {
                break;
            };
            if e.is_empty() {
                continue;
            }
            let c = f.parts::<2>(n);
            let (Some(qualifier), Some(code)) = (c[0], c[1]) else {
                self.issue(codes::BAD_ELEMENT, f.pos(n));
                continue;
            };
            let diagnosis = matches!(
                qualifier,
                "ABK" | "ABF" | "ABJ" | "ABN" | "APR" | "BK" | "BF" | "BJ" | "BN" | "PR"
            );
            let hc = HealthCode {
                qualifier,
                code,
                principal: matches!(qualifier, "ABK" | "BK" | "BBR" | "BR"),
            };
            if let Some(claim) = self.claim_mut() {
                if diagnosis {
                    claim.diagnoses.push(hc);
                } else {
                    claim.other_codes.push(hc);
                }
            }
        }
    }

    fn cas(&mut self, f: &Fields<'a>) {
        let Some(group) = f.text(1) else {
            self.issue(codes::BAD_ELEMENT, f.pos(1));
            return;
        };
        let mut adjustments = Vec::new();
        for k in 0..6u16 {
            let r = 2 + 3 * k;
            let Some(reason) = f.text(r) else {
                continue;
            };
            let amount = self.amount(f, r + 1);
            let quantity = self.amount(f, r + 2);
            adjustments.push(Adjustment {
                group,
                reason,
                amount,
                quantity,
            });
        }
        match self.lp {
            Loop::OtherSubscriber | Loop::OtherName => {
                if let Some(o) = self.other_mut() {
                    o.adjustments.append(&mut adjustments);
                }
            }
            Loop::LineAdjudication => {
                if let Some(a) = self.line_mut().and_then(|l| l.adjudications.last_mut()) {
                    a.adjustments.append(&mut adjustments);
                }
            }
            _ => self.issue(codes::UNEXPECTED_SEGMENT, f.pos(0)),
        }
    }

    fn lx(&mut self, f: &Fields<'a>) {
        let number = match f.text(1).map(str::parse::<u32>) {
            Some(Ok(n)) => Some(n),
            _ => {
                self.issue(codes::BAD_ELEMENT, f.pos(1));
                None
            }
        };
        self.lp = Loop::Line;
        self.target = Target::None;
        if let Some(c) = self.claim_mut() {
            c.lines.push(ServiceLine {
                number,
                revenue_code: None,
                procedure: None,
                charge: None,
                unit_basis: None,
                quantity: None,
                place_of_service: None,
                diagnosis_pointers: Inline::default(),
                service_period: None,
                drug: None,
                providers: Vec::new(),
                adjudications: Vec::new(),
                at: f.pos(0),
            });
        }
    }

    /// A procedure composite (`HC:99213:25`); `None` without a code.
    fn procedure(f: &Fields<'a>, n: u16) -> Option<Procedure<'a>> {
        let c = f.parts::<6>(n);
        let code = c[1]?;
        Some(Procedure {
            qualifier: c[0].unwrap_or(""),
            code,
            modifiers: {
                let mut m = Inline::default();
                for &modifier in c[2..6].iter().flatten() {
                    // Four slots for four components: never full.
                    let _ = m.push(modifier);
                }
                m
            },
        })
    }

    /// SV1, SV2 or SV3 of the current line.
    fn service(&mut self, f: &Fields<'a>, kind: ClaimKind) {
        if self.lp != Loop::Line || self.line_mut().is_none() {
            self.issue(codes::UNEXPECTED_SEGMENT, f.pos(0));
            return;
        }
        if self.kind.is_some_and(|k| k != kind) {
            self.issue(codes::UNEXPECTED_SEGMENT, f.pos(0));
        }
        self.line_kind.get_or_insert(kind);
        // Element positions: procedure, charge, unit basis, quantity, place
        // of service, diagnosis pointers.
        let (proc_at, charge_at, basis_at, qty_at, pos_at, ptr_at) = match kind {
            ClaimKind::Professional => (1, 2, Some(3), 4, Some(5), Some(7)),
            ClaimKind::Institutional => (2, 3, Some(4), 5, None, None),
            ClaimKind::Dental => (1, 2, None, 6, Some(3), Some(11)),
        };
        let procedure = match f.el(proc_at).filter(|e| !e.is_empty()) {
            Some(_) => {
                let p = Self::procedure(f, proc_at);
                if p.is_none() {
                    self.issue(codes::BAD_ELEMENT, f.pos(proc_at));
                }
                p
            }
            None => {
                if kind != ClaimKind::Institutional {
                    self.issue(codes::BAD_ELEMENT, f.pos(proc_at));
                }
                None
            }
        };
        let charge = self.required_amount(f, charge_at);
        let quantity = self.amount(f, qty_at);
        let mut pointers = Inline::default();
        if let Some(n) = ptr_at {
            for c in f.parts::<MAX_COMPONENTS>(n).into_iter().flatten() {
                match c.parse::<u8>() {
                    // As many slots as components read: never full.
                    Ok(p) if p > 0 => {
                        let _ = pointers.push(p);
                    }
                    _ => {
                        self.issue(codes::BAD_ELEMENT, f.pos(ptr_at.unwrap_or(0)));
                        break;
                    }
                }
            }
        }
        let revenue_code = match kind {
            ClaimKind::Institutional => {
                let r = f.lossy(1);
                if r.is_none() {
                    self.issue(codes::BAD_ELEMENT, f.pos(1));
                }
                r
            }
            _ => None,
        };
        let Some(line) = self.line_mut() else {
            return;
        };
        line.revenue_code = revenue_code;
        line.procedure = procedure;
        line.charge = charge;
        line.unit_basis = basis_at.and_then(|n| f.lossy(n));
        line.quantity = quantity;
        line.place_of_service = pos_at.and_then(|n| f.lossy(n));
        line.diagnosis_pointers = pointers;
    }

    fn lin(&mut self, f: &Fields<'a>) {
        let (Some(qualifier), Some(code)) = (f.text(2), f.text(3)) else {
            self.issue(codes::BAD_ELEMENT, f.pos(3));
            return;
        };
        self.lp = Loop::Drug;
        self.target = Target::None;
        if let Some(l) = self.line_mut() {
            l.drug = Some(Drug {
                qualifier,
                code,
                quantity: None,
                unit: None,
            });
        }
    }

    fn svd(&mut self, f: &Fields<'a>) {
        let paid = self.required_amount(f, 2);
        let paid_units = self.amount(f, 5);
        let adjudication = LineAdjudication {
            payer_id: f.lossy(1),
            paid,
            procedure: Self::procedure(f, 3),
            paid_units,
            adjustments: Vec::new(),
            date: None,
        };
        self.lp = Loop::LineAdjudication;
        self.target = Target::None;
        if let Some(l) = self.line_mut() {
            l.adjudications.push(adjudication);
        }
    }
}
