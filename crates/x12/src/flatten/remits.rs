//! The remittance tables: `remittance`, `remittance_line`, `adjustment`.

use std::collections::HashMap;

use super::Envelope;
use super::columns::{ColumnSpec, Key, Table, Ty, col, key, required};
use crate::remit::{Adjustment, Claim, Name, Remittance, ServiceLine};
use crate::value::Amount;

pub(super) const REMITTANCE: &[ColumnSpec] = &[
    key(
        "remittance_key",
        Ty::Utf8,
        "`payment_key`, CLP01, CLP07 (see Keys)",
    ),
    required("payment_key", Ty::Utf8, "TRN03, TRN02 (see Keys)"),
    col("interchange_control_number", Ty::Utf8, "ISA13"),
    col("group_control_number", Ty::Utf8, "GS06"),
    col("transaction_control_number", Ty::Utf8, "ST02"),
    col("implementation", Ty::Utf8, "ST03, else GS08"),
    col(
        "trace_number",
        Ty::Utf8,
        "TRN02 (check or EFT trace number)",
    ),
    col("payer_id", Ty::Utf8, "TRN03 (payer identifier)"),
    col("payer_name", Ty::Utf8, "1000A N102"),
    col(
        "payee_id_qualifier",
        Ty::Utf8,
        "1000B N103 (`XX` NPI, `FI` tax id)",
    ),
    col("payee_id", Ty::Utf8, "1000B N104"),
    col("payee_name", Ty::Utf8, "1000B N102"),
    col("payment_method", Ty::Utf8, "BPR04 (`ACH`, `CHK`, `NON`...)"),
    col(
        "total_paid",
        Ty::Amount,
        "BPR02, the whole transaction's payment",
    ),
    col("payment_date", Ty::Date, "BPR16"),
    col("production_date", Ty::Date, "DTM*405"),
    col("claim_id", Ty::Utf8, "CLP01 (patient control number)"),
    col("status", Ty::Utf8, "CLP02"),
    col("charge", Ty::Amount, "CLP03"),
    col("paid", Ty::Amount, "CLP04"),
    col("patient_responsibility", Ty::Amount, "CLP05"),
    col("filing_indicator", Ty::Utf8, "CLP06"),
    col("payer_claim_control_number", Ty::Utf8, "CLP07"),
    col("facility_code", Ty::Utf8, "CLP08"),
    col("frequency", Ty::Utf8, "CLP09"),
    col("patient_family_name", Ty::Utf8, "2100 NM1*QC NM103"),
    col("patient_given_name", Ty::Utf8, "2100 NM1*QC NM104"),
    col("patient_id", Ty::Utf8, "2100 NM1*QC NM109"),
    col("insured_id", Ty::Utf8, "2100 NM1*IL NM109"),
    col(
        "rendering_provider_npi",
        Ty::Utf8,
        "2100 NM1*82 NM109 when NM108 is `XX`",
    ),
    col("statement_from", Ty::Date, "DTM*232"),
    col("statement_to", Ty::Date, "DTM*233"),
    col("received_date", Ty::Date, "DTM*050"),
    col("line_count", Ty::I32, "number of 2110 loops"),
    col(
        "balanced",
        Ty::Bool,
        "CLP03 − Σ claim and line CAS amounts = CLP04; null when one is missing",
    ),
    col(
        "issue_codes",
        Ty::StrList,
        "codes of the claim's issues, in order",
    ),
    col(
        "payment_issue_codes",
        Ty::StrList,
        "codes of the transaction set's issues outside any claim (header, PLB, BPR02 balance)",
    ),
];

pub(super) const REMITTANCE_LINE: &[ColumnSpec] = &[
    key("remittance_key", Ty::Utf8, "the claim's `remittance_key`"),
    key(
        "line_number",
        Ty::I32,
        "1-based position of the 2110 loop in the claim",
    ),
    col("procedure_qualifier", Ty::Utf8, "SVC01-1"),
    col("procedure_code", Ty::Utf8, "SVC01-2"),
    col("modifiers", Ty::StrList, "SVC01-3 to SVC01-6"),
    col("revenue_code", Ty::Utf8, "SVC04"),
    col("charge", Ty::Amount, "SVC02"),
    col("paid", Ty::Amount, "SVC03"),
    col("units", Ty::Amount, "SVC05"),
    col("submitted_procedure_code", Ty::Utf8, "SVC06-2"),
    col("service_from", Ty::Date, "DTM*472 or DTM*150"),
    col("service_to", Ty::Date, "DTM*472 or DTM*151"),
    col("allowed", Ty::Amount, "AMT*B6"),
    col("line_control_number", Ty::Utf8, "REF*6R"),
    col("remark_codes", Ty::StrList, "LQ02 of every LQ, in order"),
    col(
        "balanced",
        Ty::Bool,
        "SVC02 − Σ line CAS amounts = SVC03; null when one is missing",
    ),
];

pub(super) const ADJUSTMENT: &[ColumnSpec] = &[
    key(
        "payment_key",
        Ty::Utf8,
        "the transaction set's `payment_key`",
    ),
    key(
        "sequence",
        Ty::I32,
        "1-based position among the transaction set's adjustments (see Keys)",
    ),
    col(
        "remittance_key",
        Ty::Utf8,
        "the claim's `remittance_key`; null for `provider`",
    ),
    col(
        "line_number",
        Ty::I32,
        "the line's `line_number`; null for `claim` and `provider`",
    ),
    required(
        "level",
        Ty::Utf8,
        "`claim` (2100 CAS), `line` (2110 CAS) or `provider` (PLB)",
    ),
    col("group_code", Ty::Utf8, "CAS01; null for PLB"),
    col("reason_code", Ty::Utf8, "CAS02, 05...; PLB03-1, 05-1..."),
    col(
        "amount",
        Ty::Amount,
        "CAS03, 06...; PLB04, 06... (positive decreases the payment)",
    ),
    col("quantity", Ty::Amount, "CAS04, 07...; null for PLB"),
    col("reference", Ty::Utf8, "PLB03-2, 05-2...; null for CAS"),
    col("provider_id", Ty::Utf8, "PLB01; null for CAS"),
    col("fiscal_period_end", Ty::Date, "PLB02; null for CAS"),
];

/// The builders of the three remittance tables.
#[derive(Debug)]
pub(super) struct RemittanceBuilders {
    pub(super) remittance: Table,
    pub(super) line: Table,
    pub(super) adjustment: Table,
    payment_key: Key,
    key: Key,
}

fn count(n: usize) -> Option<i32> {
    Some(i32::try_from(n).unwrap_or(i32::MAX))
}

fn npi(n: Option<&Name>) -> Option<&str> {
    let n = n?;
    match n.id_qualifier.as_deref() {
        Some("XX") => n.id.as_deref(),
        _ => None,
    }
}

/// Σ of the amounts; `None` when one is missing.
fn adjusted(adjustments: &[Adjustment]) -> Option<Amount> {
    adjustments.iter().map(|a| a.amount).sum()
}

impl RemittanceBuilders {
    pub(super) fn new(claims: usize) -> Self {
        RemittanceBuilders {
            remittance: Table::new(REMITTANCE, claims),
            line: Table::new(REMITTANCE_LINE, claims * 2),
            adjustment: Table::new(ADJUSTMENT, claims * 2),
            payment_key: Key::default(),
            key: Key::default(),
        }
    }

    /// Appends one remittance (transaction set).
    pub(super) fn push(&mut self, env: &Envelope<'_>, r: &Remittance) {
        let trace = r.trace.number.as_deref();
        self.payment_key.clear().text(r.trace.payer_id.as_deref());
        match trace {
            Some(t) => self.payment_key.text(Some(t)),
            None => self
                .payment_key
                .marked_texts(&[env.interchange, env.transaction]),
        };
        let payment_issues: Vec<&str> = r.issues.iter().map(|i| i.code.code()).collect();
        let mut seen: HashMap<(Option<&str>, Option<&str>), u32> = HashMap::new();
        let mut sequence = 0usize;
        for claim in &r.claims {
            let id = claim.patient_control_number.as_deref();
            let payer_id = claim.payer_claim_control_number.as_deref();
            // The n-th claim (n ≥ 2) of the payment with the same CLP01 and
            // CLP07 (a reversal and its correction) gets an ordinal part.
            let ordinal = if r.claims.len() > 1 {
                let n = seen.entry((id, payer_id)).or_insert(0);
                *n += 1;
                *n
            } else {
                1
            };
            self.key
                .clear()
                .prefix(self.payment_key.as_str())
                .text(id)
                .text(payer_id);
            if ordinal > 1 {
                self.key.marker(ordinal);
            }
            self.claim_row(env, r, claim, &payment_issues);
            for a in &claim.adjustments {
                sequence += 1;
                self.cas_row(sequence, None, a);
            }
            for (i, line) in claim.lines.iter().enumerate() {
                self.line_row(i, line);
                for a in &line.adjustments {
                    sequence += 1;
                    self.cas_row(sequence, Some(i), a);
                }
            }
        }
        for p in &r.provider_adjustments {
            sequence += 1;
            self.adjustment
                .row()
                .str(Some(self.payment_key.as_str()))
                .i32(count(sequence))
                .str(None)
                .i32(None)
                .str(Some("provider"))
                .str(None)
                .str(p.reason.as_deref())
                .amount(p.amount)
                .amount(None)
                .str(p.reference.as_deref())
                .str(p.provider_id.as_deref())
                .date(p.fiscal_period_end)
                .end();
        }
    }

    fn claim_row(&mut self, env: &Envelope<'_>, r: &Remittance, c: &Claim, issues: &[&str]) {
        let patient = c.patient.as_ref();
        let mut adjustment_sum = adjusted(&c.adjustments);
        for l in &c.lines {
            adjustment_sum = match (adjustment_sum, adjusted(&l.adjustments)) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        let balanced = match (c.charge, c.payment, adjustment_sum) {
            (Some(charge), Some(paid), Some(adj)) => Some(charge - adj == paid),
            _ => None,
        };
        self.remittance
            .row()
            .str(Some(self.key.as_str()))
            .str(Some(self.payment_key.as_str()))
            .str(env.interchange)
            .str(env.group)
            .str(env.transaction)
            .str(env.implementation)
            .str(r.trace.number.as_deref())
            .str(r.trace.payer_id.as_deref())
            .str(r.payer.name.as_deref())
            .str(r.payee.id_qualifier.as_deref())
            .str(r.payee.id.as_deref())
            .str(r.payee.name.as_deref())
            .str(r.payment.method.as_deref())
            .amount(r.payment.amount)
            .date(r.payment.date)
            .date(r.production_date)
            .str(c.patient_control_number.as_deref())
            .str(c.status.as_deref())
            .amount(c.charge)
            .amount(c.payment)
            .amount(c.patient_responsibility)
            .str(c.filing_indicator.as_deref())
            .str(c.payer_claim_control_number.as_deref())
            .str(c.facility_code.as_deref())
            .str(c.frequency.as_deref())
            .str(patient.and_then(|n| n.last.as_deref()))
            .str(patient.and_then(|n| n.first.as_deref()))
            .str(patient.and_then(|n| n.id.as_deref()))
            .str(c.insured.as_ref().and_then(|n| n.id.as_deref()))
            .str(npi(c.rendering.as_ref()))
            .date(c.statement_from)
            .date(c.statement_to)
            .date(c.received)
            .i32(count(c.lines.len()))
            .bool(balanced)
            .strs(c.issues.iter().map(|i| i.code.code()))
            .strs(issues.iter().copied())
            .end();
    }

    fn line_row(&mut self, i: usize, l: &ServiceLine) {
        let procedure = l.procedure.as_ref();
        let balanced = match (l.charge, l.payment, adjusted(&l.adjustments)) {
            (Some(charge), Some(paid), Some(adj)) => Some(charge - adj == paid),
            _ => None,
        };
        self.line
            .row()
            .str(Some(self.key.as_str()))
            .i32(count(i + 1))
            .str(procedure.and_then(|p| p.qualifier.as_deref()))
            .str(procedure.and_then(|p| p.code.as_deref()))
            .strs(
                procedure
                    .into_iter()
                    .flat_map(|p| p.modifiers.iter().map(String::as_str)),
            )
            .str(l.revenue_code.as_deref())
            .amount(l.charge)
            .amount(l.payment)
            .amount(l.units)
            .str(
                l.original_procedure
                    .as_ref()
                    .and_then(|p| p.code.as_deref()),
            )
            .date(l.service_from)
            .date(l.service_to)
            .amount(l.allowed)
            .str(l.control_number.as_deref())
            .strs(l.remarks.iter().filter_map(|q| q.value.as_deref()))
            .bool(balanced)
            .end();
    }

    fn cas_row(&mut self, sequence: usize, line: Option<usize>, a: &Adjustment) {
        self.adjustment
            .row()
            .str(Some(self.payment_key.as_str()))
            .i32(count(sequence))
            .str(Some(self.key.as_str()))
            .i32(line.and_then(|i| count(i + 1)))
            .str(Some(if line.is_some() { "line" } else { "claim" }))
            .str(a.group.as_deref())
            .str(a.reason.as_deref())
            .amount(a.amount)
            .amount(a.quantity)
            .str(None)
            .str(None)
            .date(None)
            .end();
    }
}
