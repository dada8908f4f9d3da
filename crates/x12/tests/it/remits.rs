//! 835 remittances: every corpus file reads, exact values for the corpus
//! examples, the three balancing levels, damaged inputs.

use std::fmt::Write as _;

use caresync_x12::remit::{self, Adjustment, Name, Procedure, Qualified, Remittance, codes};
use caresync_x12::{Amount, Date, Document, Issue, Severity};
use expect_test::{Expect, expect};
use proptest::prelude::*;

use crate::corpus::{corpus_dir, corpus_files};

// ---------------------------------------------------------------------------
// Rendering a remittance for snapshots (test code may print patient data).

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn date(d: &Option<Date>) -> String {
    opt(d)
}

fn qualified<T: ToString>(items: &[Qualified<T>]) -> String {
    items
        .iter()
        .map(|q| format!("{}={}", q.qualifier, opt(&q.value)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn adjustments(out: &mut String, indent: &str, adj: &[Adjustment]) {
    for a in adj {
        let _ = writeln!(
            out,
            "{indent}CAS {} {} {}{}",
            opt(&a.group),
            opt(&a.reason),
            opt(&a.amount),
            a.quantity.map(|q| format!(" qty {q}")).unwrap_or_default()
        );
    }
}

fn name(n: &Name) -> String {
    format!(
        "{} {} {} {}",
        opt(&n.last),
        opt(&n.first),
        opt(&n.id_qualifier),
        opt(&n.id)
    )
}

fn procedure(p: &Procedure) -> String {
    let mut s = format!("{}:{}", opt(&p.qualifier), opt(&p.code));
    for m in &p.modifiers {
        s.push(':');
        s.push_str(m);
    }
    s
}

fn issues(out: &mut String, indent: &str, list: &[Issue]) {
    for i in list {
        let sev = match i.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{indent}{sev} {i}");
    }
}

fn render(r: &Remittance) -> String {
    let mut out = String::new();
    let o = &mut out;
    let p = &r.payment;
    let _ = writeln!(
        o,
        "ST#{} {}\nBPR {} {} {} {} {}",
        r.segment,
        opt(&r.control_number),
        opt(&p.handling),
        opt(&p.amount),
        opt(&p.credit_debit),
        opt(&p.method),
        date(&p.date)
    );
    let t = &r.trace;
    let _ = writeln!(
        o,
        "TRN {} {} {}\nproduced {}",
        opt(&t.kind),
        opt(&t.number),
        opt(&t.payer_id),
        date(&r.production_date)
    );
    for (role, party) in [("payer", &r.payer), ("payee", &r.payee)] {
        let _ = writeln!(
            o,
            "{role} {} {} {} refs [{}]",
            opt(&party.name),
            opt(&party.id_qualifier),
            opt(&party.id),
            qualified(&party.refs)
        );
        if let Some(a) = &party.address {
            let _ = writeln!(
                o,
                "  address {} / {} {} {}",
                a.lines.join(", "),
                opt(&a.city),
                opt(&a.state),
                opt(&a.postal_code)
            );
        }
        for c in &party.contacts {
            let _ = writeln!(
                o,
                "  contact {} {} [{}]",
                opt(&c.function),
                opt(&c.name),
                qualified(&c.numbers)
            );
        }
    }
    for (i, h) in r.headers.iter().enumerate() {
        let _ = writeln!(o, "LX[{i}] {}", opt(&h.number));
        if let Some(s) = &h.summary {
            let _ = writeln!(
                o,
                "  TS3 {} {} {} count {} charge {} more [{}]",
                opt(&s.provider_id),
                opt(&s.facility_code),
                date(&s.fiscal_period_end),
                opt(&s.claim_count),
                opt(&s.total_charge),
                s.more.iter().map(opt).collect::<Vec<_>>().join(" ")
            );
        }
        if let Some(ts2) = &h.supplemental {
            let _ = writeln!(
                o,
                "  TS2 [{}]",
                ts2.iter().map(opt).collect::<Vec<_>>().join(" ")
            );
        }
    }
    for c in &r.claims {
        let _ = writeln!(
            o,
            "CLP#{} in LX[{}] {} status {} charge {} paid {} patient {} filing {} icn {} facility {} freq {}",
            c.segment,
            opt(&c.header),
            opt(&c.patient_control_number),
            opt(&c.status),
            opt(&c.charge),
            opt(&c.payment),
            opt(&c.patient_responsibility),
            opt(&c.filing_indicator),
            opt(&c.payer_claim_control_number),
            opt(&c.facility_code),
            opt(&c.frequency)
        );
        adjustments(o, "  ", &c.adjustments);
        for (role, n) in [
            ("patient", &c.patient),
            ("insured", &c.insured),
            ("corrected", &c.corrected),
            ("rendering", &c.rendering),
            ("crossover", &c.crossover),
        ] {
            if let Some(n) = n {
                let _ = writeln!(o, "  {role} {}", name(n));
            }
        }
        let _ = writeln!(
            o,
            "  statement {}..{} received {}",
            date(&c.statement_from),
            date(&c.statement_to),
            date(&c.received)
        );
        if !(c.refs.is_empty() && c.amounts.is_empty() && c.quantities.is_empty()) {
            let _ = writeln!(
                o,
                "  REF [{}] AMT [{}] QTY [{}]",
                qualified(&c.refs),
                qualified(&c.amounts),
                qualified(&c.quantities)
            );
        }
        for l in &c.lines {
            let _ = writeln!(
                o,
                "  SVC#{} {} charge {} paid {} rev {} units {} orig {} dates {}..{} allowed {} 6R {}",
                l.segment,
                l.procedure.as_ref().map_or("-".into(), procedure),
                opt(&l.charge),
                opt(&l.payment),
                opt(&l.revenue_code),
                opt(&l.units),
                l.original_procedure.as_ref().map_or("-".into(), procedure),
                date(&l.service_from),
                date(&l.service_to),
                opt(&l.allowed),
                opt(&l.control_number)
            );
            adjustments(o, "    ", &l.adjustments);
            if !(l.refs.is_empty() && l.remarks.is_empty()) {
                let _ = writeln!(
                    o,
                    "    REF [{}] LQ [{}]",
                    qualified(&l.refs),
                    qualified(&l.remarks)
                );
            }
        }
        issues(o, "  ", &c.issues);
    }
    for a in &r.provider_adjustments {
        let _ = writeln!(
            o,
            "PLB#{} {} {} {}:{} {}",
            a.segment,
            opt(&a.provider_id),
            date(&a.fiscal_period_end),
            opt(&a.reason),
            opt(&a.reference),
            opt(&a.amount)
        );
    }
    issues(o, "", &r.issues);
    out
}

fn read_one(input: &[u8]) -> Remittance {
    let doc = Document::read(input).expect("an interchange");
    let mut all = remit::read_remittances(&doc);
    assert_eq!(all.len(), 1);
    all.pop().expect("one remittance")
}

fn check_file(rel: &str, expect: Expect) {
    let bytes = std::fs::read(corpus_dir().join(rel)).expect("corpus file");
    expect.assert_eq(&render(&read_one(&bytes)));
}

/// An interchange around one 835 whose body is `body` (segments each
/// ending in `~`), with a correct SE count.
fn wrap(body: &str) -> String {
    let count = body.matches('~').count() + 2;
    format!(
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*PROVIDER       *240101*1200*^*00501*000000001*0*P*:~\
         GS*HP*PAYER*PROVIDER*20240101*1200*1*X*005010X221A1~\
         ST*835*0001*005010X221A1~{body}SE*{count}*0001~GE*1*1~IEA*1*000000001~"
    )
}

/// Every issue as `code severity element #segment`.
fn issue_list(r: &Remittance) -> Vec<String> {
    r.all_issues()
        .iter()
        .map(|i| {
            let sev = match i.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let el = match i.at.element {
                0 => String::new(),
                n => format!("{n:02}"),
            };
            format!(
                "{} {sev} {}{el} #{}",
                i.code.code(),
                i.at.id_str(),
                i.at.segment
            )
        })
        .collect()
}

fn amount(s: &str) -> Amount {
    s.parse().expect("an amount")
}

const HEAD: &str = "BPR*I*100.00*C*CHK************20240105~TRN*1*CHECK1*1512345678~\
    N1*PR*A PAYER~N1*PE*A CLINIC*XX*1234567893~LX*1~";

// ---------------------------------------------------------------------------
// The corpus.

#[test]
fn every_835_of_the_corpus_reads_with_exactly_these_issues() {
    let mut summary = String::new();
    let mut seen = 0;
    for path in corpus_files() {
        let bytes = std::fs::read(&path).expect("readable");
        let doc = Document::read(&bytes).expect("an interchange");
        let remittances = remit::read_remittances(&doc);
        if remittances.is_empty() {
            continue;
        }
        seen += 1;
        let rel = path.strip_prefix(corpus_dir()).expect("in the corpus");
        let _ = writeln!(summary, "{}", rel.display());
        issues(&mut summary, "  document: ", doc.issues());
        for r in &remittances {
            let lines: usize = r.claims.iter().map(|c| c.lines.len()).sum();
            let _ = writeln!(
                summary,
                "  {} claims, {} lines, {} PLB",
                r.claims.len(),
                lines,
                r.provider_adjustments.len()
            );
            issues(&mut summary, "    ", &r.all_issues());
        }
    }
    assert_eq!(seen, 6, "the six 835 files of the corpus");
    // All six balance at every level except the tertiary example, whose SVC
    // lost its procedure code (elements shifted left). The three check
    // examples put the payment date in BPR15, not BPR16; managed-care's
    // BPR16 has month 23.
    expect![[r#"
        linuxforhealth/835_005010X221A1/cob-contractural-adjustment.835
          document: warning X12-0007 at byte 630, segment 21 (SVC), element SVC01: component separator in use differs from ISA16
          1 claims, 1 lines, 0 PLB
            error X12-0202 at byte 174, segment 4 (BPR), element BPR16: required 835 element is missing
        linuxforhealth/835_005010X221A1/managed-care.835
          2 claims, 2 lines, 0 PLB
            error X12-0204 at byte 176, segment 4 (BPR), element BPR16: date is not a valid date
        linuxforhealth/835_005010X221A1/medicare-part-a.835
          2 claims, 0 lines, 1 PLB
        linuxforhealth/835_005010X221A1/secondary-payment.835
          document: warning X12-0007 at byte 846, segment 29 (SVC), element SVC01: component separator in use differs from ISA16
          2 claims, 2 lines, 0 PLB
            error X12-0202 at byte 174, segment 4 (BPR), element BPR16: required 835 element is missing
        linuxforhealth/835_005010X221A1/tertiary-payment.835
          1 claims, 1 lines, 0 PLB
            error X12-0202 at byte 174, segment 4 (BPR), element BPR16: required 835 element is missing
            error X12-0202 at byte 614, segment 20 (SVC), element SVC01: required 835 element is missing
            error X12-0212 at byte 614, segment 20 (SVC), element SVC03: service line charge less adjustments does not equal line payment
        pyx12/835_mult_loops.txt
          1 claims, 3 lines, 0 PLB
    "#]]
    .assert_eq(&summary);
}

#[test]
fn managed_care() {
    // BPR02 945.00 = 450.00 + 495.00. Claim 1: 800.00 − 450.00 = 350.00 =
    // CO A2 50.00 (claim) + PR 1 300.00 (line); line 800.00 − 500.00 =
    // 300.00; lines paid 500.00 − 50.00 = 450.00. Claim 2: 1200.00 − 495.00
    // = 705.00 = 55.00 + 600.00 + 50.00; line 1200.00 − 550.00 = 650.00;
    // 550.00 − 55.00 = 495.00. Everything balances; only BPR16 (month 23)
    // is not a date.
    check_file(
        "linuxforhealth/835_005010X221A1/managed-care.835",
        expect![[r#"
            ST#3 112233
            BPR I 945.00 C ACH -
            TRN 1 7170066655 1935665544
            produced 2002-03-14
            payer RUSHMORE LIFE - - refs []
              address 10 SOUTH AVENUE / RAPID CITY SD 55111
            payee ACME MEDICAL CENTER XX 5544667733 refs [TJ=777667755]
            LX[0] 1
            CLP#13 in LX[0] 5554555444 status 1 charge 800.00 paid 450.00 patient 300.00 filing 12 icn 94060555410000 facility - freq -
              CAS CO A2 50.00
              patient BUDD WILLIAM MI 33344555510
              statement -..- received -
              SVC#16 HC:99211 charge 800.00 paid 500.00 rev - units - orig - dates 2002-03-01..2002-03-04 allowed - 6R -
                CAS PR 1 300.00
            CLP#20 in LX[0] 8765432112 status 1 charge 1200.00 paid 495.00 patient 600.00 filing 12 icn 94077799230000 facility - freq -
              CAS CO A2 55.00
              patient SETTLE SUSAN MI 44455666610
              statement -..- received -
              SVC#23 HC:93555 charge 1200.00 paid 550.00 rev - units - orig - dates 2002-03-10..2002-03-12 allowed - 6R -
                CAS PR 1 600.00
                CAS CO 45 50.00
            error X12-0204 at byte 176, segment 4 (BPR), element BPR16: date is not a valid date
        "#]],
    );
}

#[test]
fn pyx12_multiple_loops() {
    // 915.39 − 0 = 500.04 + 127.8 + 287.55; each line is denied in full;
    // BPR02 0 = Σ CLP04.
    check_file(
        "pyx12/835_mult_loops.txt",
        expect![[r#"
            ST#3 0001
            BPR H 0.00 C NON 2004-10-28
            TRN 1 000000000 1386000134
            produced 2013-09-01
            payer PAYER - - refs []
              address P.O. BOX 30479 / LANSING MI 48909
              contact BL JOHN WAYNE [TE=9995551212]
            payee UNKNOWN FI 444313000 refs []
            LX[0] 1
              TS3 653423424 12 2004-12-31 count 1.00 charge 915.39 more []
            CLP#15 in LX[0] 2005555A status 4 charge 915.39 paid 0.00 patient - filing MC icn 4276512332 facility - freq -
              patient BACH JOHANN MR 00001612
              rendering PAYEE - MC 44452736
              statement -..- received -
              SVC#18 HC:T1005 charge 500.04 paid 0.00 rev - units 68.00 orig - dates 2003-11-29..2003-11-29 allowed - 6R -
                CAS CO 16 500.04
                REF [] LQ [HE=N14]
              SVC#23 HC:T1005 charge 127.80 paid 0.00 rev - units 16.00 orig - dates 2003-10-30..2003-10-30 allowed - 6R -
                CAS OA A7 127.80
                REF [] LQ [HE=N14]
              SVC#28 HC:T1005 charge 287.55 paid 0.00 rev - units 36.00 orig - dates 2003-10-31..2003-10-31 allowed - 6R -
                CAS OA A7 287.55
                REF [] LQ [HE=N14]
        "#]],
    );
}

#[test]
fn medicare_part_a_balances_through_its_plb() {
    // Σ CLP04 = 138018.40 + 11980.33 = 149998.73; the PLB amount −1.27
    // increases the payment: 149998.73 + 1.27 = 150000.00 = BPR02.
    check_file(
        "linuxforhealth/835_005010X221A1/medicare-part-a.835",
        expect![[r#"
            ST#3 1234
            BPR C 150000.00 C ACH 2002-09-13
            TRN 1 12345 1512345678
            produced 2002-09-16
            payer INSURANCE COMPANY OF TIMBUCKTU - - refs [2U=999]
              address 1 MAIN STREET / TIMBUCKTU AK 89111
            payee REGIONAL HOPE HOSPITAL XX 6543210903 refs []
            LX[0] 110212
              TS3 6543210903 11 2002-12-31 count 1.00 charge 211366.97 more [- - - 138018.40 - 73348.57]
              TS2 [2178.45 1919.71 - 56.82 197.69 4.23]
            LX[1] 130212
              TS3 6543210909 13 1996-12-31 count 1.00 charge 15000.00 more [- - - 11980.33 - 3019.67]
            CLP#15 in LX[0] 666123 status 1 charge 211366.97 paid 138018.40 patient - filing MA icn 1999999444444 facility 11 freq 1
              CAS CO 45 73348.57
              patient JONES SAM HN 666666666A
              statement 2002-08-16..2002-08-24 received -
              REF [] AMT [] QTY [CA=8.00]
            CLP#24 in LX[1] 777777 status 1 charge 15000.00 paid 11980.33 patient - filing MB icn 1999999444445 facility 13 freq 1
              CAS CO 45 3019.67
              patient BORDER LIZ HN 996669999B
              statement 2002-05-12..- received -
            PLB#29 6543210903 2002-12-31 CV:CP -1.27
        "#]],
    );
    let bytes =
        std::fs::read(corpus_dir().join("linuxforhealth/835_005010X221A1/medicare-part-a.835"))
            .expect("corpus file");
    let r = read_one(&bytes);
    assert_eq!(r.payer.reference("2U"), Some("999"));
    assert_eq!(r.claims[1].header, Some(1));
}

#[test]
fn secondary_and_tertiary_payments() {
    check_file(
        "linuxforhealth/835_005010X221A1/secondary-payment.835",
        expect![[r#"
            ST#3 1234
            BPR I 1222.00 C CHK -
            TRN 1 0012524965 1559123456
            produced 2005-04-12
            payer YOUR TAX DOLLARS AT WORK - - refs []
              address 481A00 DEAR RUN ROAD / WEST PALM BCH FL 11114
            payee ACME MEDICAL CENTER FI 599944521 refs [PQ=10488]
              address PO BOX 863382 / ORLANDO FL 55115
            LX[0] 1
            LX[1] 2
            CLP#16 in LX[0] L0004828311 status 2 charge 10323.64 paid 912.00 patient - filing 12 icn 05090256390 facility 11 freq 1
              CAS OA 23 9411.64
              patient TOWNSEND WILLIAM MI XXX123456789
              rendering ACME MEDICAL CENTER - BD 987
              statement 2005-03-03..2005-03-04 received -
              REF [] AMT [AU=912.00] QTY []
            CLP#24 in LX[1] 0001000053 status 2 charge 751.50 paid 310.00 patient 220.00 filing 12 icn 05630626430 facility - freq -
              patient BAKI ANGI MI 456789123
              rendering SMITH JONES PA - BS 34426
              statement 2005-01-06..2005-01-06 received -
              SVC#29 HC:12345:26 charge 166.50 paid 30.00 rev - units 1.00 orig - dates 2005-01-06..2005-01-06 allowed 150.00 6R -
                CAS OA 23 136.50
                REF [1B=43285] LQ []
              SVC#34 HC:66543:26 charge 585.00 paid 280.00 rev 220 units 1.00 orig - dates 2005-01-06..2005-01-06 allowed 500.00 6R -
                CAS PR 1 150.00
                CAS PR 2 70.00
                CAS CO 42 85.00
                REF [1B=43285] LQ []
            error X12-0202 at byte 174, segment 4 (BPR), element BPR16: required 835 element is missing
        "#]],
    );
    // The tertiary example's SVC lost its procedure code and every element
    // after SVC01 shifted left by one: SVC02 reads 24599.00 (the code),
    // SVC03 1766.50 (the charge). The line cannot balance; the claim does
    // (1766.50 − 187.50 = 1579.00), and so does the transaction.
    check_file(
        "linuxforhealth/835_005010X221A1/tertiary-payment.835",
        expect![[r#"
            ST#3 0001
            BPR I 187.50 C CHK -
            TRN 1 0012524879 1559123456
            produced 2005-04-12
            payer YOUR TAX DOLLARS AT WORK - - refs []
              address 481A00 DEAR RUN ROAD / WEST PALM BCH FL 11114
            payee ACME MEDICAL CENTER FI 599944521 refs [PQ=10488]
              address PO BOX 863382 / ORLANDO FL 55115
            LX[0] 1
            CLP#16 in LX[0] 0001000054 status 3 charge 1766.50 paid 187.50 patient - filing 12 icn 50580155533 facility - freq -
              patient ISLAND ELLIS MI 789123456
              rendering JONES JONES ASSOCIATES - BS AB34U
              statement 2005-01-20..- received -
              SVC#20 HC:- charge 24599.00 paid 1766.50 rev 187.50 units - orig 1:- dates 2005-01-20..2005-01-20 allowed 1700.00 6R -
                CAS OA 23 1579.00
                REF [1B=44280] LQ []
              error X12-0202 at byte 614, segment 20 (SVC), element SVC01: required 835 element is missing
              error X12-0212 at byte 614, segment 20 (SVC), element SVC03: service line charge less adjustments does not equal line payment
            error X12-0202 at byte 174, segment 4 (BPR), element BPR16: required 835 element is missing
        "#]],
    );
}

#[test]
fn cob_contractual_adjustment_balances_with_a_negative_adjustment() {
    // 541.00 − 34.00 = 507.00 = OA 23 516.00 + OA 94 −9.00.
    let bytes = std::fs::read(
        corpus_dir().join("linuxforhealth/835_005010X221A1/cob-contractural-adjustment.835"),
    )
    .expect("corpus file");
    let r = read_one(&bytes);
    let line = &r.claims[0].lines[0];
    assert_eq!(
        line.adjustments
            .iter()
            .map(|a| a.amount.map(|v| v.to_string()))
            .collect::<Vec<_>>(),
        [Some("516.00".to_owned()), Some("-9.00".to_owned())]
    );
    assert_eq!(
        line.procedure.as_ref().and_then(|p| p.code.as_deref()),
        Some("55669")
    );
    assert_eq!(line.allowed, Some(amount("550.00")));
    assert_eq!(
        issue_list(&r),
        [
            // The date sits in BPR15 in this example.
            "X12-0202 error BPR16 #4",
        ]
    );
}

// ---------------------------------------------------------------------------
// Balancing and damaged inputs.

#[test]
fn a_balanced_remittance_has_no_issues() {
    let body = format!(
        "{HEAD}CLP*PCN1*1*150.00*100.00*20.00*12*ICN1~CAS*CO*45*30.00~CAS*PR*1*20.00~\
         NM1*QC*1*DOE*JANE****MI*M1~"
    );
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(issue_list(&r), Vec::<String>::new());
    assert_eq!(r.claims[0].adjustments.len(), 2);
}

#[test]
fn a_total_that_does_not_match_names_bpr02() {
    let body = format!("{HEAD}CLP*PCN1*1*150.00*90.00**12*ICN1~CAS*CO*45*60.00~");
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(issue_list(&r), ["X12-0210 error BPR02 #4"]);
    assert!(r.claims[0].issues.is_empty(), "the claim itself balances");
}

#[test]
fn a_plb_makes_the_total_balance() {
    // 120.00 paid on the claim, 20.00 recovered (WO, positive) → 100.00.
    let unbalanced = format!("{HEAD}CLP*PCN1*1*150.00*120.00**12*ICN1~CAS*CO*45*30.00~");
    let r = read_one(wrap(&unbalanced).as_bytes());
    assert_eq!(issue_list(&r), ["X12-0210 error BPR02 #4"]);
    let balanced = format!("{unbalanced}PLB*1234567893*20241231*WO:REF1*20.00~");
    let r = read_one(wrap(&balanced).as_bytes());
    assert_eq!(issue_list(&r), Vec::<String>::new());
    let plb = &r.provider_adjustments[0];
    assert_eq!(
        (plb.reason.as_deref(), plb.reference.as_deref(), plb.amount),
        (Some("WO"), Some("REF1"), Some(amount("20.00")))
    );
    // Two pairs in one PLB: 30.00 recovered, 10.00 interest paid.
    let pairs = format!("{unbalanced}PLB*1234567893*20241231*WO*30.00*L6*-10.00~");
    let r = read_one(wrap(&pairs).as_bytes());
    assert_eq!(issue_list(&r), Vec::<String>::new());
    assert_eq!(r.provider_adjustments.len(), 2);
}

#[test]
fn a_claim_whose_adjustments_do_not_explain_it_is_named() {
    // Claim 1 (segment 9): 150.00 − 100.00 = 50.00 but CAS say 40.00.
    // Claim 2 balances and is kept untouched.
    let body = format!(
        "{HEAD}CLP*PCN1*1*150.00*100.00**12*ICN1~CAS*CO*45*40.00~\
         CLP*PCN2*1*10.00*0.00**12*ICN2~CAS*PR*1*10.00~"
    );
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(issue_list(&r), ["X12-0211 error CLP04 #9"]);
    assert_eq!(r.claims[0].issues.len(), 1);
    assert!(r.claims[1].issues.is_empty());
    assert_eq!(r.claims[1].patient_control_number.as_deref(), Some("PCN2"));
}

#[test]
fn line_level_adjustments_count_toward_the_claim() {
    // Claim: 150.00 − 100.00 = 50.00 = CO 45 10.00 (claim) + PR 1 40.00
    // (line). Line: 150.00 − 110.00 = 40.00. Lines paid 110.00 − 10.00 =
    // 100.00 = CLP04.
    let good = format!(
        "{HEAD}CLP*PCN1*1*150.00*100.00*40.00*12*ICN1~CAS*CO*45*10.00~\
         SVC*HC:99213:25*150.00*110.00**1~DTM*472*20240102~CAS*PR*1*40.00~REF*6R*LINE1~AMT*B6*110.00~"
    );
    let r = read_one(wrap(&good).as_bytes());
    assert_eq!(issue_list(&r), Vec::<String>::new());
    let line = &r.claims[0].lines[0];
    assert_eq!(line.control_number.as_deref(), Some("LINE1"));
    assert_eq!(line.allowed, Some(amount("110.00")));
    assert_eq!(
        line.procedure.as_ref().map(|p| p.modifiers.clone()),
        Some(vec!["25".to_owned()])
    );
    assert_eq!(line.service_from, Date::parse_d8("20240102"));
    assert_eq!(line.service_to, line.service_from);

    // The line's CAS says 30.00 instead of 40.00: the line and the claim
    // are both off.
    let bad_line = good.replace("CAS*PR*1*40.00", "CAS*PR*1*30.00");
    let r = read_one(wrap(&bad_line).as_bytes());
    assert_eq!(
        issue_list(&r),
        ["X12-0211 error CLP04 #9", "X12-0212 error SVC03 #11",]
    );
}

#[test]
fn lines_that_do_not_carry_the_whole_claim_are_a_warning() {
    // Claim 150.00 − 100.00 = 50.00 = CO 45 50.00 at claim level; the one
    // line reported (100.00 billed, 100.00 paid) balances, but lines paid
    // 100.00 − 50.00 ≠ 100.00: a line was left out.
    let body = format!(
        "{HEAD}CLP*PCN1*1*150.00*100.00**12*ICN1~CAS*CO*45*50.00~SVC*HC:99213*100.00*100.00~"
    );
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(issue_list(&r), ["X12-0213 warning CLP04 #9"]);
}

#[test]
fn a_bad_date_is_an_issue_and_the_claim_is_kept() {
    let body = format!(
        "{HEAD}CLP*PCN1*1*150.00*100.00**12*ICN1~CAS*CO*45*50.00~DTM*232*20240230~DTM*233*20240305~"
    );
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(issue_list(&r), ["X12-0204 error DTM02 #11"]);
    let claim = &r.claims[0];
    assert_eq!(claim.statement_from, None);
    assert_eq!(claim.statement_to, Date::parse_d8("20240305"));
    assert_eq!(claim.payment, Some(amount("100.00")));
}

#[test]
fn a_bad_amount_skips_the_balance_it_breaks_and_nothing_else() {
    // Claim 1's CAS amount is unreadable: a BAD_AMOUNT, no CLAIM_UNBALANCED
    // on top. Claim 2 does not balance and says so. The total (100.00 =
    // 100.00 + 0.00) still balances.
    let body = format!(
        "{HEAD}CLP*PCN1*1*150.00*100.00**12*ICN1~CAS*CO*45*5O.00~\
         CLP*PCN2*1*10.00*0.00**12*ICN2~CAS*PR*1*9.00~"
    );
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(
        issue_list(&r),
        ["X12-0203 error CAS03 #10", "X12-0211 error CLP04 #11",]
    );
    assert_eq!(r.claims[0].adjustments[0].amount, None);
    assert_eq!(r.claims[0].adjustments[0].reason.as_deref(), Some("45"));
}

#[test]
fn cas_triplets_are_one_adjustment_each() {
    let body = format!(
        "{HEAD}CLP*PCN1*1*150.00*100.00**12*ICN1~CAS*CO*45*10.00**253*2.00*1*A1*8.00~\
         CAS*PR*1*20.00~CAS*OA*23*10.00~"
    );
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(issue_list(&r), Vec::<String>::new());
    let adj: Vec<(String, String, String, String)> = r.claims[0]
        .adjustments
        .iter()
        .map(|a| {
            (
                opt(&a.group),
                opt(&a.reason),
                opt(&a.amount),
                opt(&a.quantity),
            )
        })
        .collect();
    let s = |t: &str| t.to_owned();
    assert_eq!(
        adj,
        [
            (s("CO"), s("45"), s("10.00"), s("-")),
            (s("CO"), s("253"), s("2.00"), s("1.00")),
            (s("CO"), s("A1"), s("8.00"), s("-")),
            (s("PR"), s("1"), s("20.00"), s("-")),
            (s("OA"), s("23"), s("10.00"), s("-")),
        ]
    );
}

#[test]
fn missing_segments_and_misplaced_ones_are_reported() {
    let body = "CAS*CO*45*1.00~CLP*PCN1*1*1.00*0.00**12*ICN1~CAS*XX*45*1.00~LQ*HE*N14~";
    let r = read_one(wrap(body).as_bytes());
    assert_eq!(
        issue_list(&r),
        [
            "X12-0201 error BPR #3",
            "X12-0201 error TRN #3",
            "X12-0201 error N1 #3",
            "X12-0201 error N1 #3",
            "X12-0206 warning CAS #4",
            "X12-0205 error CAS01 #6",
            "X12-0206 warning LQ #7",
        ]
    );
    assert_eq!(r.claims.len(), 1);
}

#[test]
fn other_transaction_sets_are_not_remittances() {
    let input = wrap(HEAD).replace("ST*835", "ST*837");
    let doc = Document::read(input.as_bytes()).expect("reads");
    assert!(remit::read_remittances(&doc).is_empty());
    let tx = doc.transactions().next().expect("a set");
    let r = remit::read_remittance(&tx);
    assert_eq!(
        issue_list(&r),
        [
            "X12-0200 error ST01 #3",
            // No claim pays the 100.00 of BPR02.
            "X12-0210 error BPR02 #4",
        ]
    );
}

#[test]
fn debug_output_never_shows_patient_data() {
    let body = format!(
        "{HEAD}CLP*PCN-SECRET*1*150.00*100.00*20.00*12*ICN1~\
         NM1*QC*1*ZEBEDIAH*QUENTIN****MI*MEMBER987~SVC*HC:99213*150.00*100.00~CAS*CO*45*30.00~CAS*PR*1*20.00~\
         DTM*472*20240102~"
    );
    let r = read_one(wrap(&body).as_bytes());
    assert_eq!(
        r.claims[0].patient.as_ref().and_then(|p| p.last.as_deref()),
        Some("ZEBEDIAH"),
        "the name was read"
    );
    let debug = format!("{r:?} {:?} {:?}", r.claims[0], r.claims[0].patient);
    for secret in [
        "ZEBEDIAH",
        "QUENTIN",
        "MEMBER987",
        "PCN-SECRET",
        "150",
        "99213",
        "2024",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    expect!["Remittance { segment: 3, headers: 1, claims: [Claim { segment: 9, adjustments: 0, lines: [ServiceLine { segment: 11, adjustments: 2, .. }], issues: [], .. }], provider_adjustments: 0, issues: [], .. }"]
        .assert_eq(&format!("{r:?}"));
}

#[test]
fn codes_are_unique_and_in_range() {
    caresync_core::check_unique(codes::ALL).expect("unique");
    for c in codes::ALL {
        let n: u32 = c.code()["X12-".len()..].parse().expect("numeric");
        assert!((200..300).contains(&n), "{}", c.code());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of 835-looking segments reads without panicking, and
    /// every claim segment becomes a claim.
    #[test]
    fn arbitrary_segments_never_panic(
        segs in proptest::collection::vec(
            (
                prop::sample::select(vec![
                    "BPR", "TRN", "DTM", "N1", "N3", "N4", "REF", "PER", "LX", "TS3", "TS2",
                    "CLP", "CAS", "NM1", "AMT", "QTY", "SVC", "LQ", "PLB", "MIA", "XYZ",
                ]),
                proptest::collection::vec("[0-9A-Z.:>^ -]{0,6}", 0..24),
            ),
            0..40,
        )
    ) {
        let body: String = segs
            .iter()
            .map(|(id, els)| {
                let mut s = (*id).to_owned();
                for e in els {
                    s.push('*');
                    s.push_str(e);
                }
                s.push('~');
                s
            })
            .collect();
        let input = wrap(&body);
        let doc = Document::read(input.as_bytes()).expect("an interchange");
        let all = remit::read_remittances(&doc);
        prop_assert_eq!(all.len(), 1);
        let clps = segs.iter().filter(|(id, _)| *id == "CLP").count();
        prop_assert_eq!(all[0].claims.len(), clps);
        let _ = all[0].all_issues();
    }
}
