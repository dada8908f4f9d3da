//! `caresync inspect` on X12: one JSON line per 837 claim or 835 paid
//! claim (ids, amounts, codes, balancing issues), a summary, or with
//! `--ack 999` the acknowledgements a receiver would send back.

use std::io::Write;

use anyhow::{Context, bail};
use caresync_x12::ack::{AckOptions, acknowledge_with};
use caresync_x12::claim::{self, read_claims};
use caresync_x12::remit::{self, read_remittance};
use caresync_x12::{Amount, Date, Document, Issue, Severity};
use serde_json::{Value as Json, json};

use super::{Args, Tally};

/// Reads a whole X12 file (interchanges are read into memory; the largest
/// 837 batches are tens of megabytes) and reports it.
pub(super) fn inspect(
    bytes: &[u8],
    args: &Args,
    tally: &mut Tally,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    tally.format = "x12";
    let doc = match Document::read(bytes) {
        Ok(doc) => doc,
        Err(e) => bail!("{e}"),
    };
    let mut extra: Vec<Issue> = Vec::new();
    for tx in doc.transactions() {
        let set = tx.set_id().unwrap_or("?");
        *tally
            .types
            .entry(format!("{set} {}", tx.implementation().unwrap_or("?")))
            .or_default() += 1;
        match set {
            "837" => {
                let claims = read_claims(&tx);
                extra.extend(claims.all_issues().copied());
                tally.issues.extend(claims.issues.iter().map(issue_json));
                for c in &claims.claims {
                    tally.messages += 1;
                    tally.issues.extend(c.issues.iter().map(issue_json));
                    if args.ack.is_none() && !args.summary {
                        writeln!(out, "{}", claim_json(c, &tx)).context("cannot write")?;
                    }
                }
            }
            "835" => {
                let r = read_remittance(&tx);
                extra.extend(r.all_issues());
                tally.issues.extend(r.issues.iter().map(issue_json));
                for c in &r.claims {
                    tally.messages += 1;
                    tally.issues.extend(c.issues.iter().map(issue_json));
                    if args.ack.is_none() && !args.summary {
                        writeln!(out, "{}", paid_claim_json(c, &r)).context("cannot write")?;
                    }
                }
            }
            _ => {}
        }
    }
    tally.issues.extend(doc.issues().iter().map(issue_json));
    if args.ack.is_some() {
        let (date, hour, minute) = now();
        let options = AckOptions::new(1, 1, date, hour, minute);
        let acks = acknowledge_with(&doc, &extra, &[], &options).context("cannot acknowledge")?;
        for a in &acks.interchanges {
            writeln!(out, "{}", a.text()).context("cannot write")?;
        }
    }
    Ok(())
}

/// Today's date and the time of day in UTC, for the acknowledgement's
/// envelope.
fn now() -> (Date, u8, u8) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let date = i32::try_from(secs / 86_400)
        .ok()
        .and_then(Date::from_days_since_epoch)
        .or_else(|| Date::from_days_since_epoch(0))
        .expect("1970-01-01 is a date");
    let tod = secs % 86_400;
    (date, (tod / 3_600) as u8, ((tod % 3_600) / 60) as u8)
}

fn amount(a: Option<Amount>) -> Json {
    a.map_or(Json::Null, |a| Json::String(a.to_string()))
}

fn date(d: Option<Date>) -> Json {
    d.map_or(Json::Null, |d| Json::String(d.to_string()))
}

fn issue_json(i: &Issue) -> Json {
    json!({
        "code": i.code.code(),
        "title": i.code.title(),
        "severity": match i.severity { Severity::Warning => "warning", Severity::Error => "error" },
        "offset": i.at.offset,
        "segment": i.at.segment,
        "segment_id": i.at.id_str(),
        "element": i.at.element,
    })
}

fn claim_json(c: &claim::Claim<'_>, tx: &caresync_x12::Transaction<'_, '_>) -> Json {
    let lines: Vec<Json> = c
        .lines
        .iter()
        .map(|l| {
            json!({
                "number": l.number,
                "procedure": l.procedure.as_ref().map(|p| &p.code),
                "modifiers": l.procedure.as_ref().map(|p| p.modifiers.as_slice()),
                "revenue_code": l.revenue_code,
                "charge": amount(l.charge),
                "quantity": amount(l.quantity),
                "service_from": date(l.service_period.map(|p| p.start)),
            })
        })
        .collect();
    let dx: Vec<Json> = c
        .diagnoses
        .iter()
        .map(|d| json!({ "qualifier": d.qualifier, "code": d.code, "principal": d.principal }))
        .collect();
    json!({
        "transaction": "837",
        "interchange": tx.interchange().control_number(),
        "transaction_control_number": tx.control_number(),
        "claim_id": c.id,
        "kind": format!("{:?}", c.kind).to_lowercase(),
        "total_charge": amount(c.total_charge),
        "line_charges": amount(Some(c.line_charges())),
        "billing_npi": c.billing_provider.as_ref().and_then(|p| p.npi().map(str::to_owned)),
        "payer_id": c.payer().and_then(|p| p.id.clone()),
        "patient_is_subscriber": c.patient_is_subscriber(),
        "diagnoses": dx,
        "lines": lines,
        "issues": c.issues.iter().map(issue_json).collect::<Vec<_>>(),
    })
}

fn paid_claim_json(c: &remit::Claim, r: &remit::Remittance) -> Json {
    let adjustments = |a: &[remit::Adjustment]| -> Vec<Json> {
        a.iter()
            .map(|a| json!({ "group": a.group, "reason": a.reason, "amount": amount(a.amount) }))
            .collect()
    };
    let lines: Vec<Json> = c
        .lines
        .iter()
        .map(|l| {
            json!({
                "procedure": l.procedure.as_ref().and_then(|p| p.code.clone()),
                "charge": amount(l.charge),
                "paid": amount(l.payment),
                "adjustments": adjustments(&l.adjustments),
            })
        })
        .collect();
    json!({
        "transaction": "835",
        "trace_number": r.trace.number,
        "payer_id": r.trace.payer_id,
        "total_paid": amount(r.payment.amount),
        "claim_id": c.patient_control_number,
        "status": c.status,
        "charge": amount(c.charge),
        "paid": amount(c.payment),
        "patient_responsibility": amount(c.patient_responsibility),
        "payer_claim_control_number": c.payer_claim_control_number,
        "adjustments": adjustments(&c.adjustments),
        "lines": lines,
        "issues": c.issues.iter().map(issue_json).collect::<Vec<_>>(),
    })
}
