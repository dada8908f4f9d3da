//! The claim tables: `claim`, `claim_line`, `claim_diagnosis`.

use std::collections::HashMap;

use super::Envelope;
use super::columns::{ColumnSpec, Key, Table, Ty, col, key};
use crate::claim::{Claim, ClaimKind, Party, Period, ServiceLine};
use crate::value::{Amount, Date};

pub(super) const CLAIM: &[ColumnSpec] = &[
    key(
        "claim_key",
        Ty::Utf8,
        "1000A NM109, CLM01, ISA13 (see Keys)",
    ),
    col("interchange_control_number", Ty::Utf8, "ISA13"),
    col("group_control_number", Ty::Utf8, "GS06"),
    col("transaction_control_number", Ty::Utf8, "ST02"),
    col("implementation", Ty::Utf8, "ST03, else GS08"),
    col(
        "kind",
        Ty::Utf8,
        "`professional`, `institutional` or `dental`: ST03/GS08, else the service segments",
    ),
    col("claim_id", Ty::Utf8, "2300 CLM01 (patient control number)"),
    col("total_charge", Ty::Amount, "2300 CLM02"),
    col(
        "facility_code",
        Ty::Utf8,
        "CLM05-1 (place of service or facility type)",
    ),
    col("facility_qualifier", Ty::Utf8, "CLM05-2"),
    col("frequency", Ty::Utf8, "CLM05-3"),
    col("submitter_id", Ty::Utf8, "1000A NM109"),
    col("receiver_id", Ty::Utf8, "1000B NM109"),
    col(
        "billing_provider_npi",
        Ty::Utf8,
        "2010AA NM109 when NM108 is `XX`",
    ),
    col("billing_provider_name", Ty::Utf8, "2010AA NM103"),
    col(
        "billing_provider_tax_id",
        Ty::Utf8,
        "2010AA REF*EI or REF*SY",
    ),
    col("payer_id", Ty::Utf8, "2010BB NM109"),
    col("payer_name", Ty::Utf8, "2010BB NM103"),
    col("responsibility", Ty::Utf8, "2000B SBR01 (`P`, `S`, `T`...)"),
    col("claim_filing_indicator", Ty::Utf8, "2000B SBR09"),
    col("group_number", Ty::Utf8, "2000B SBR03"),
    col("subscriber_member_id", Ty::Utf8, "2010BA NM109"),
    col("patient_is_subscriber", Ty::Bool, "no 2000C loop"),
    col("patient_relationship", Ty::Utf8, "2000C PAT01, else SBR02"),
    col(
        "patient_family_name",
        Ty::Utf8,
        "2010CA NM103, else 2010BA NM103",
    ),
    col(
        "patient_given_name",
        Ty::Utf8,
        "2010CA NM104, else 2010BA NM104",
    ),
    col(
        "patient_birth_date",
        Ty::Date,
        "2010CA DMG02, else 2010BA DMG02",
    ),
    col(
        "patient_gender",
        Ty::Utf8,
        "2010CA DMG03, else 2010BA DMG03",
    ),
    col(
        "rendering_provider_npi",
        Ty::Utf8,
        "2310 NM1*82 NM109 when NM108 is `XX`",
    ),
    col(
        "referring_provider_npi",
        Ty::Utf8,
        "2310 NM1*DN (else NM1*P3) NM109 when NM108 is `XX`",
    ),
    col(
        "service_facility_npi",
        Ty::Utf8,
        "2310 NM1*77 NM109 when NM108 is `XX`",
    ),
    col("statement_from", Ty::Date, "2300 DTP*434, first day"),
    col("statement_to", Ty::Date, "2300 DTP*434, last day"),
    col("onset_date", Ty::Date, "2300 DTP*431"),
    col("admission_date", Ty::Date, "2300 DTP*435"),
    col(
        "service_from",
        Ty::Date,
        "earliest day of 2300 DTP*472 and the lines' DTP*472",
    ),
    col(
        "service_to",
        Ty::Date,
        "latest day of 2300 DTP*472 and the lines' DTP*472",
    ),
    col(
        "principal_diagnosis",
        Ty::Utf8,
        "the HI code with qualifier `ABK` or `BK`",
    ),
    col("diagnosis_count", Ty::I32, "number of HI diagnosis codes"),
    col("line_count", Ty::I32, "number of 2400 loops"),
    col(
        "line_charge_total",
        Ty::Amount,
        "Σ of the lines' charges; null when no line has one",
    ),
    col(
        "balanced",
        Ty::Bool,
        "`total_charge` = Σ line charges; null when CLM02 or a line charge is missing",
    ),
    col(
        "issue_codes",
        Ty::StrList,
        "codes of the claim's issues, in order",
    ),
];

pub(super) const CLAIM_LINE: &[ColumnSpec] = &[
    key("claim_key", Ty::Utf8, "the claim's `claim_key`"),
    key(
        "line_number",
        Ty::I32,
        "1-based position of the 2400 loop in the claim",
    ),
    col("assigned_number", Ty::I64, "LX01"),
    col("procedure_qualifier", Ty::Utf8, "SV101-1, SV202-1, SV301-1"),
    col("procedure_code", Ty::Utf8, "SV101-2, SV202-2, SV301-2"),
    col(
        "modifiers",
        Ty::StrList,
        "components 3 to 6 of the procedure",
    ),
    col("revenue_code", Ty::Utf8, "SV201"),
    col("charge", Ty::Amount, "SV102, SV203, SV302"),
    col("unit_basis", Ty::Utf8, "SV103, SV204"),
    col("quantity", Ty::Amount, "SV104, SV205, SV306"),
    col("place_of_service", Ty::Utf8, "SV105, SV303"),
    col("service_from", Ty::Date, "2400 DTP*472, first day"),
    col("service_to", Ty::Date, "2400 DTP*472, last day"),
    col(
        "diagnosis_pointers",
        Ty::I32List,
        "SV107, SV311: 1-based positions in `claim_diagnosis`",
    ),
    col("ndc", Ty::Utf8, "2410 LIN03 when LIN02 is `N4`"),
    col("drug_quantity", Ty::Amount, "2410 CTP04"),
    col("drug_unit", Ty::Utf8, "2410 CTP05-1"),
    col(
        "rendering_provider_npi",
        Ty::Utf8,
        "2420 NM1*82 NM109 when NM108 is `XX`",
    ),
    col(
        "paid_amount",
        Ty::Amount,
        "Σ 2430 SVD02 (other payers' payments); null when no SVD",
    ),
];

pub(super) const CLAIM_DIAGNOSIS: &[ColumnSpec] = &[
    key("claim_key", Ty::Utf8, "the claim's `claim_key`"),
    key(
        "sequence",
        Ty::I32,
        "1-based position among the claim's HI diagnosis codes",
    ),
    col(
        "qualifier",
        Ty::Utf8,
        "HI0n-1 (`ABK`, `ABF`, `BK`, `BF`, `APR`...)",
    ),
    col("code", Ty::Utf8, "HI0n-2, as sent"),
    col(
        "principal",
        Ty::Bool,
        "qualifier `ABK`, `BK`, `BBR` or `BR`",
    ),
];

/// The builders of the three claim tables.
#[derive(Debug)]
pub(super) struct ClaimBuilders {
    pub(super) claim: Table,
    pub(super) line: Table,
    pub(super) diagnosis: Table,
    key: Key,
    /// The keys of the claims being pushed, end to end, and where each
    /// ends (reused from push to push).
    keys: String,
    key_ends: Vec<usize>,
    /// What each claim's row derives from its lines.
    derived: Vec<Derived>,
}

/// A claim's values computed from its lines and dates.
#[derive(Clone, Copy, Debug)]
struct Derived {
    service: Option<Period>,
    statement: Option<Period>,
    line_total: Option<Amount>,
    balanced: Option<bool>,
}

impl Derived {
    fn of(c: &Claim<'_>) -> Self {
        let mut service = c.date("472");
        let mut line_total: Option<Amount> = None;
        let mut all_charges = true;
        for l in &c.lines {
            if let Some(p) = l.service_period {
                service = Some(match service {
                    Some(s) => Period {
                        start: s.start.min(p.start),
                        end: s.end.max(p.end),
                    },
                    None => p,
                });
            }
            match l.charge {
                Some(ch) => line_total = Some(line_total.unwrap_or(Amount::ZERO) + ch),
                None => all_charges = false,
            }
        }
        let balanced = match c.total_charge {
            Some(total) if all_charges => Some(total == line_total.unwrap_or(Amount::ZERO)),
            _ => None,
        };
        Derived {
            service,
            statement: c.date("434"),
            line_total,
            balanced,
        }
    }
}

fn kind_name(kind: ClaimKind) -> &'static str {
    match kind {
        ClaimKind::Professional => "professional",
        ClaimKind::Institutional => "institutional",
        ClaimKind::Dental => "dental",
    }
}

fn npi<'p>(p: Option<&'p Party<'_>>) -> Option<&'p str> {
    p.and_then(Party::npi)
}

fn start(p: Option<Period>) -> Option<Date> {
    p.map(|p| p.start)
}

fn end(p: Option<Period>) -> Option<Date> {
    p.map(|p| p.end)
}

fn count(n: usize) -> Option<i32> {
    Some(i32::try_from(n).unwrap_or(i32::MAX))
}

impl ClaimBuilders {
    pub(super) fn new(claims: usize) -> Self {
        ClaimBuilders {
            claim: Table::new(CLAIM, claims),
            line: Table::new(CLAIM_LINE, claims * 4),
            diagnosis: Table::new(CLAIM_DIAGNOSIS, claims * 3),
            key: Key::default(),
            keys: String::new(),
            key_ends: Vec::new(),
            derived: Vec::new(),
        }
    }

    /// Builds the keys of `claims` into `keys`/`key_ends`.
    fn keys(&mut self, env: &Envelope<'_>, claims: &[Claim<'_>]) {
        self.keys.clear();
        self.key_ends.clear();
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for claim in claims {
            // The n-th claim (n ≥ 2) of the set with the same CLM01 gets an
            // ordinal part: duplicates never share a key.
            let ordinal = match claim.id.as_deref() {
                Some(id) if claims.len() > 1 => {
                    let n = seen.entry(id).or_insert(0);
                    *n += 1;
                    *n
                }
                _ => 1,
            };
            self.key
                .clear()
                .text(claim.submitter.as_ref().and_then(|s| s.id.as_deref()));
            match claim.id.as_deref() {
                Some(id) => self.key.text(Some(id)),
                None => self.key.marker(claim.at.segment),
            };
            self.key.text(env.interchange);
            if ordinal > 1 {
                self.key.marker(ordinal);
            }
            self.keys.push_str(self.key.as_str());
            self.key_ends.push(self.keys.len());
        }
    }

    /// Appends the claims of one transaction set, column by column.
    pub(super) fn push(&mut self, env: &Envelope<'_>, claims: &[Claim<'_>]) {
        self.keys(env, claims);
        self.derived.clear();
        self.derived.extend(claims.iter().map(Derived::of));
        let ClaimBuilders {
            claim: claim_table,
            line: line_table,
            diagnosis: diagnosis_table,
            keys,
            key_ends,
            derived,
            ..
        } = self;
        let key = |i: usize| -> &str {
            let from = i.checked_sub(1).map_or(0, |p| key_ends[p]);
            &keys[from..key_ends[i]]
        };
        claim_rows(claim_table, env, claims, derived, &key);

        // Lines and diagnoses: (claim index, position in the claim, item).
        let lines = || {
            claims
                .iter()
                .enumerate()
                .flat_map(|(ci, c)| c.lines.iter().enumerate().map(move |(i, l)| (ci, i, l)))
        };
        line_rows(line_table, lines().count(), lines, &key);
        let dxs = || {
            claims
                .iter()
                .enumerate()
                .flat_map(|(ci, c)| c.diagnoses.iter().enumerate().map(move |(i, d)| (ci, i, d)))
        };
        diagnosis_table
            .columns(dxs().count())
            .str(dxs().map(|(ci, _, _)| Some(key(ci))))
            .i32(dxs().map(|(_, i, _)| count(i + 1)))
            .str(dxs().map(|(_, _, d)| Some(d.qualifier)))
            .str(dxs().map(|(_, _, d)| Some(d.code)))
            .bool(dxs().map(|(_, _, d)| Some(d.principal)))
            .end();
    }
}

/// The `claim` rows of `claims`.
fn claim_rows<'k>(
    t: &mut Table,
    env: &Envelope<'_>,
    claims: &[Claim<'_>],
    derived: &[Derived],
    key: &impl Fn(usize) -> &'k str,
) {
    let n = claims.len();
    let each = || claims.iter();
    t.columns(n)
        .str((0..n).map(|i| Some(key(i))))
        .str(std::iter::repeat_n(env.interchange, n))
        .str(std::iter::repeat_n(env.group, n))
        .str(std::iter::repeat_n(env.transaction, n))
        .str(std::iter::repeat_n(env.implementation, n))
        .str(each().map(|c| Some(kind_name(c.kind))))
        .str(each().map(|c| c.id.as_deref()))
        .amount(each().map(|c| c.total_charge))
        .str(each().map(|c| c.facility_code))
        .str(each().map(|c| c.facility_qualifier))
        .str(each().map(|c| c.frequency))
        .str(each().map(|c| c.submitter.as_ref().and_then(|p| p.id.as_deref())))
        .str(each().map(|c| c.receiver.as_ref().and_then(|p| p.id.as_deref())))
        .str(each().map(|c| npi(c.billing_provider.as_deref())))
        .str(each().map(|c| c.billing_provider.as_ref().and_then(|p| p.name.as_deref())))
        .str(each().map(|c| {
            c.billing_provider
                .as_ref()
                .and_then(|p| p.tax_id.as_deref())
        }))
        .str(each().map(|c| c.payer().and_then(|p| p.id.as_deref())))
        .str(each().map(|c| c.payer().and_then(|p| p.name.as_deref())))
        .str(each().map(|c| c.responsibility()))
        .str(each().map(|c| {
            c.subscriber
                .as_ref()
                .and_then(|s| s.claim_filing.as_deref())
        }))
        .str(each().map(|c| {
            c.subscriber
                .as_ref()
                .and_then(|s| s.group_number.as_deref())
        }))
        .str(each().map(|c| c.insured().and_then(|p| p.id.as_deref())))
        .bool(each().map(|c| Some(c.patient_is_subscriber())))
        .str(each().map(|c| {
            match &c.patient {
                Some(p) => p.relationship.as_deref(),
                None => c
                    .subscriber
                    .as_ref()
                    .and_then(|s| s.relationship.as_deref()),
            }
        }))
        .str(each().map(|c| c.patient().and_then(|p| p.name.as_deref())))
        .str(each().map(|c| c.patient().and_then(|p| p.first_name.as_deref())))
        .date(each().map(|c| c.patient().and_then(|p| p.birth_date)))
        .str(each().map(|c| c.patient().and_then(|p| p.gender.as_deref())))
        .str(each().map(|c| npi(c.rendering_provider())))
        .str(each().map(|c| npi(c.referring_provider())))
        .str(each().map(|c| npi(c.service_facility())))
        .date(derived.iter().map(|d| start(d.statement)))
        .date(derived.iter().map(|d| end(d.statement)))
        .date(each().map(|c| start(c.date("431"))))
        .date(each().map(|c| start(c.date("435"))))
        .date(derived.iter().map(|d| start(d.service)))
        .date(derived.iter().map(|d| end(d.service)))
        .str(each().map(|c| c.principal_diagnosis().map(|d| d.code)))
        .i32(each().map(|c| count(c.diagnoses.len())))
        .i32(each().map(|c| count(c.lines.len())))
        .amount(derived.iter().map(|d| d.line_total))
        .bool(derived.iter().map(|d| d.balanced))
        .strs(each().map(|c| c.issues.iter().map(|i| i.code.code())))
        .end();
}

/// The `claim_line` rows: `lines` yields (claim index, position, line).
fn line_rows<'c, 'a: 'c, 'k, I>(
    t: &mut Table,
    n: usize,
    lines: impl Fn() -> I,
    key: &impl Fn(usize) -> &'k str,
) where
    I: Iterator<Item = (usize, usize, &'c ServiceLine<'a>)>,
{
    let each = || lines().map(|(_, _, l)| l);
    t.columns(n)
        .str(lines().map(|(ci, _, _)| Some(key(ci))))
        .i32(lines().map(|(_, i, _)| count(i + 1)))
        .i64(each().map(|l| l.number.map(i64::from)))
        .str(each().map(|l| {
            l.procedure
                .as_ref()
                .map(|p| p.qualifier)
                .filter(|q| !q.is_empty())
        }))
        .str(each().map(|l| l.procedure.as_ref().map(|p| p.code)))
        .strs(each().map(|l| {
            l.procedure
                .as_ref()
                .into_iter()
                .flat_map(|p| p.modifiers.iter().copied())
        }))
        .str(each().map(|l| l.revenue_code.as_deref()))
        .amount(each().map(|l| l.charge))
        .str(each().map(|l| l.unit_basis.as_deref()))
        .amount(each().map(|l| l.quantity))
        .str(each().map(|l| l.place_of_service.as_deref()))
        .date(each().map(|l| start(l.service_period)))
        .date(each().map(|l| end(l.service_period)))
        .i32s(each().map(|l| l.diagnosis_pointers.iter().map(|p| i32::from(*p))))
        .str(each().map(|l| {
            l.drug
                .as_ref()
                .filter(|d| d.qualifier == "N4")
                .map(|d| d.code)
        }))
        .amount(each().map(|l| l.drug.as_ref().and_then(|d| d.quantity)))
        .str(each().map(|l| l.drug.as_ref().and_then(|d| d.unit)))
        .str(each().map(|l| npi(l.providers.iter().find(|p| p.entity == "82"))))
        .amount(each().map(|l| {
            l.adjudications
                .iter()
                .filter_map(|a| a.paid)
                .reduce(|a, b| a + b)
        }))
        .end();
}
