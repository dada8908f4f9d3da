//! Typed 837 claims: corpus files read to the values their examples show,
//! balancing, and bad input that yields issues without losing claims.

use std::fmt::Write as _;

use caresync_x12::Document;
use caresync_x12::claim::{
    Claim, ClaimKind, Claims, Party, codes, read_claims, read_document_claims,
};
use expect_test::{Expect, expect};

use crate::corpus::{corpus_dir, corpus_files};

/// The bytes of a corpus file (claims borrow from them).
fn corpus_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(rel)).expect("corpus file is readable")
}

fn read_input(bytes: &[u8]) -> Claims<'_> {
    let doc = Document::read(bytes).expect("an interchange");
    read_document_claims(&doc)
}

fn read_bytes(input: &str) -> Claims<'_> {
    read_input(input.as_bytes())
}

fn opt<S: AsRef<str>>(v: &Option<S>) -> &str {
    v.as_ref().map_or("-", AsRef::as_ref)
}

fn party(out: &mut String, role: &str, p: Option<&Party<'_>>) {
    let Some(p) = p else {
        return;
    };
    let name = [&p.name, &p.first_name, &p.middle_name]
        .iter()
        .filter_map(|n| n.as_deref())
        .collect::<Vec<_>>()
        .join(" ");
    let _ = write!(
        out,
        "  {role} {} {name:?} {}:{}",
        p.entity,
        opt(&p.id_qualifier),
        opt(&p.id)
    );
    if let Some(t) = &p.tax_id {
        let _ = write!(out, " tax={t}");
    }
    if let Some(a) = &p.address {
        let _ = write!(
            out,
            " addr={:?}/{}/{}",
            opt(&a.line1),
            opt(&a.city),
            opt(&a.postal_code)
        );
    }
    if let Some(d) = p.birth_date {
        let _ = write!(out, " dob={d}");
    }
    if let Some(g) = &p.gender {
        let _ = write!(out, " {g}");
    }
    out.push('\n');
}

/// A readable rendering of claims with their values (tests only: the
/// library never prints values).
fn render(claims: &Claims<'_>) -> String {
    let mut out = String::new();
    for i in &claims.issues {
        let _ = writeln!(
            out,
            "issue {} seg {} el {}",
            i.code.code(),
            i.at.segment,
            i.at.element
        );
    }
    for c in &claims.claims {
        render_claim(&mut out, c);
    }
    out
}

fn render_claim(out: &mut String, c: &Claim<'_>) {
    let _ = writeln!(
        out,
        "claim {} {:?} total={} facility={}:{} freq={} seg={}",
        opt(&c.id),
        c.kind,
        c.total_charge.map(|a| a.to_string()).unwrap_or("-".into()),
        opt(&c.facility_code),
        opt(&c.facility_qualifier),
        opt(&c.frequency),
        c.at.segment
    );
    party(out, "submitter", c.submitter.as_deref());
    party(out, "receiver", c.receiver.as_deref());
    party(out, "billing", c.billing_provider.as_deref());
    party(out, "pay-to", c.pay_to.as_deref());
    if let Some(s) = &c.subscriber {
        let _ = writeln!(
            out,
            "  sbr {} rel={} group={} filing={}",
            opt(&s.responsibility),
            opt(&s.relationship),
            opt(&s.group_number),
            opt(&s.claim_filing)
        );
    }
    party(out, "insured", c.insured());
    party(out, "payer", c.payer());
    match &c.patient {
        Some(p) => {
            let _ = writeln!(out, "  patient rel={}", opt(&p.relationship));
            party(out, "patient", p.party.as_ref());
        }
        None => out.push_str("  patient is subscriber\n"),
    }
    for d in &c.dates {
        let _ = writeln!(
            out,
            "  date {} {}..{}",
            d.qualifier, d.period.start, d.period.end
        );
    }
    let codes = |v: &[caresync_x12::claim::HealthCode<'_>]| {
        v.iter()
            .map(|d| {
                format!(
                    "{}:{}{}",
                    d.qualifier,
                    d.code,
                    if d.principal { "*" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !c.diagnoses.is_empty() {
        let _ = writeln!(out, "  dx {}", codes(&c.diagnoses));
    }
    if !c.other_codes.is_empty() {
        let _ = writeln!(out, "  codes {}", codes(&c.other_codes));
    }
    for p in &c.providers {
        party(out, "provider", Some(p));
    }
    for o in &c.other_subscribers {
        let _ = writeln!(
            out,
            "  other sbr {} rel={} filing={} paid={} cas={}",
            opt(&o.responsibility),
            opt(&o.relationship),
            opt(&o.claim_filing),
            o.paid.map(|a| a.to_string()).unwrap_or("-".into()),
            o.adjustments.len()
        );
        party(out, "  other insured", o.insured.as_ref());
        party(out, "  other payer", o.payer.as_ref());
    }
    for l in &c.lines {
        let procedure = l
            .procedure
            .as_ref()
            .map(|p| {
                let mut s = format!("{}:{}", p.qualifier, p.code);
                for m in p.modifiers.iter() {
                    s.push('+');
                    s.push_str(m);
                }
                s
            })
            .unwrap_or("-".into());
        let _ = write!(
            out,
            "  line {} {}{} {} {} {} ptr={:?}",
            l.number.map(|n| n.to_string()).unwrap_or("-".into()),
            l.revenue_code
                .as_ref()
                .map(|r| format!("rev={r} "))
                .unwrap_or_default(),
            procedure,
            l.charge.map(|a| a.to_string()).unwrap_or("-".into()),
            opt(&l.unit_basis),
            l.quantity.map(|a| a.to_string()).unwrap_or("-".into()),
            l.diagnosis_pointers.as_slice()
        );
        if let Some(p) = &l.place_of_service {
            let _ = write!(out, " pos={p}");
        }
        if let Some(d) = l.service_period {
            let _ = write!(out, " on={}", d.start);
            if d.end != d.start {
                let _ = write!(out, "..{}", d.end);
            }
        }
        out.push('\n');
        if let Some(d) = &l.drug {
            let _ = writeln!(
                out,
                "    drug {}:{} qty={} {}",
                d.qualifier,
                d.code,
                d.quantity.map(|a| a.to_string()).unwrap_or("-".into()),
                opt(&d.unit)
            );
        }
        for p in &l.providers {
            party(out, "  line provider", Some(p));
        }
        for a in &l.adjudications {
            let _ = writeln!(
                out,
                "    svd {} paid={} units={} date={}",
                opt(&a.payer_id),
                a.paid.map(|a| a.to_string()).unwrap_or("-".into()),
                a.paid_units.map(|a| a.to_string()).unwrap_or("-".into()),
                a.date.map(|d| d.to_string()).unwrap_or("-".into())
            );
            for j in &a.adjustments {
                let _ = writeln!(
                    out,
                    "      cas {} {} {}",
                    j.group,
                    j.reason,
                    j.amount.map(|a| a.to_string()).unwrap_or("-".into())
                );
            }
        }
    }
    for i in &c.issues {
        let _ = writeln!(
            out,
            "  issue {} seg {} el {}",
            i.code.code(),
            i.at.segment,
            i.at.element
        );
    }
}

fn check_file(rel: &str, expect: Expect) {
    expect.assert_eq(&render(&read_input(&corpus_bytes(rel))));
}

fn check(input: &str, expect: Expect) {
    expect.assert_eq(&render(&read_bytes(input)));
}

const P: &str = "linuxforhealth/837_005010X222A2";

#[test]
fn every_corpus_837_yields_balanced_claims_without_issues() {
    let mut files = 0;
    let mut claims = 0;
    let mut unexpected = Vec::new();
    for path in corpus_files() {
        let bytes = std::fs::read(&path).expect("readable");
        let doc = Document::read(&bytes).expect("an interchange");
        if !doc.transactions().any(|t| t.set_id() == Some("837")) {
            continue;
        }
        files += 1;
        let read = read_document_claims(&doc);
        assert!(!read.claims.is_empty(), "{}", path.display());
        let issues: Vec<_> = read
            .all_issues()
            .map(|i| format!("{}@{}:{}", i.code.code(), i.at.segment, i.at.element))
            .collect();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // demo.example9 sends `1.00` as its SV107 diagnosis pointer.
        let known: &[&str] = match name.as_str() {
            "demo.example9.837" => &["X12-0109@29:7"],
            _ => &[],
        };
        if issues != known {
            unexpected.push(format!("{name} {issues:?}"));
        }
        for c in &read.claims {
            assert!(
                c.id.is_some() && c.total_charge.is_some(),
                "{}",
                path.display()
            );
            assert_eq!(c.total_charge, Some(c.line_charges()), "{}", path.display());
            assert!(!c.lines.is_empty());
            assert!(c.billing_provider.is_some() && c.subscriber.is_some());
        }
        claims += read.claims.len();
    }
    assert_eq!(unexpected, Vec::<String>::new());
    assert_eq!((files, claims), (33, 34));
}

#[test]
fn professional_claim_with_patient_under_hl_23() {
    check_file(
        &format!("{P}/demo.example1.837"),
        expect![[r#"
        claim 26463774 Professional total=100.00 facility=11:B freq=1 seg=27
          submitter 41 "PREMIER BILLING SERVICE" 46:TGJ23
          receiver 40 "KEY INSURANCE COMPANY" 46:66783JJT
          billing 85 "BEN KILDARE SERVICE" XX:1912301953 tax=587654321 addr="234 SEAWAY ST"/MIAMI/331110000
          pay-to 87 "" -:- addr="2345 OCEAN BLVD"/MIAMI/33111
          sbr P rel=- group=2222-SJ filing=CI
          insured IL "SMITH JANE" MI:JS00111223333
          payer PR "KEY INSURANCE COMPANY" PI:999996666
          patient rel=19
          patient QC "SMITH TED" -:- addr="236 N MAIN ST"/MIAMI/33413 dob=1973-05-01 M
          dx BK:0340* BF:V7389
          line 1 HC:99213 40.00 UN 1.00 ptr=[1] on=2006-10-03
          line 2 HC:87070 15.00 UN 1.00 ptr=[1] on=2006-10-03
          line 3 HC:99214 35.00 UN 1.00 ptr=[2] on=2006-10-10
          line 4 HC:86663 10.00 UN 1.00 ptr=[2] on=2006-10-10
    "#]],
    );
}

#[test]
fn professional_cob_with_other_subscriber() {
    check_file(
        &format!("{P}/demo.cob.example3.A.837"),
        expect![[r#"
        claim 26407789 Professional total=79.04 facility=11:B freq=1 seg=31
          submitter 41 "PREMIER BILLING SERVICE" 46:TGJ23
          receiver 40 "XYZ REPRICER" 46:66783JJT
          billing 85 "KILDARE BEN" XX:1999996666 tax=123456789 addr="1234 SEAWAY ST"/MIAMI/33111
          pay-to 87 "" -:- addr="2345 OCEAN BLVD"/MIAMI/33111
          sbr P rel=- group=- filing=CI
          insured IL "SMITH JANE" MI:111223333 dob=1943-05-01 F
          payer PR "KEY INSURANCE COMPANY" PI:999996666 addr="3333 OCEAN ST"/SOUTH MIAMI/33000
          patient rel=19
          patient QC "SMITH TED" -:- addr="236 N MAIN ST"/MIAMI/33413 dob=1973-05-01 M
          dx BK:4779* BF:2724 BF:2780 BF:53081
          provider 82 "KILDARE BEN" XX:1999996666
          provider 77 "KILDARE ASSOCIATES" XX:1581234567 addr="2345 OCEAN BLVD"/MIAMI/33111
          other sbr S rel=01 filing=12 paid=- cas=0
            other insured IL "SMITH JACK" MI:T55TY666 addr="236 N MAIN ST"/MIAMI/33111
          line 1 HC:99213 43.00 UN 1.00 ptr=[1, 2, 3, 4] on=2005-10-03
          line 2 HC:90782 15.00 UN 1.00 ptr=[1, 2] on=2005-10-03
          line 3 HC:J3301 21.04 UN 1.00 ptr=[1, 2] on=2005-10-03
    "#]],
    );
}

#[test]
fn professional_cob_with_line_adjudication() {
    check_file(
        &format!("{P}/demo.cob.example4.837"),
        expect![[r#"
        claim 101KEN6055 Professional total=120.00 facility=11:B freq=1 seg=22
          submitter 41 "SPECIALISTS" 46:1111111
          receiver 40 "MEDICARE PENNSYLVANIA" 46:10234
          billing 85 "SPECIALISTS" XX:0100000009 tax=890123456 addr="5 MAP COURT"/MAYNE/21236
          sbr S rel=18 group=- filing=MB
          insured IL "MEDYUM WAYNE M" MI:102200221B1 addr="1010 THOUSAND OAK LANE"/MAYN/17089 dob=1956-01-10 M
          payer PR "MEDICARE" PI:10234 addr="5232 MAYNE AVENUE"/LYGHT/17009
          patient is subscriber
          dx BK:71516* BF:71906
          provider DN "BRYHT LEE T" -:-
          provider 82 "HENZES JACK" XX:9090909090
          other sbr P rel=01 filing=12 paid=80.00 cas=0
            other insured IL "MEDYUM CAROL" MI:COM188-404777 addr="PO BOX 45"/MAYN/17089
            other payer PR "COMMERCE" PI:59999
          line 1 HC:99203+25 120.00 UN 1.00 ptr=[1, 2] on=2005-01-19
            svd 59999 paid=80.00 units=1.00 date=2005-01-28
              cas CO 42 25.00
              cas PR 2 15.00
    "#]],
    );
}

#[test]
fn ambulance_claim_with_modifiers() {
    check_file(
        &format!("{P}/demo.ambulance.example5.837"),
        expect![[r#"
        claim 051068 Professional total=766.50 facility=41:- freq=1 seg=23
          submitter 41 "AAA AMBULANCE SERVICE" 46:376985369
          receiver 40 "MEDICARE B" 46:123245
          billing 85 "AAA AMBULANCE SERVICE" XX:2366554859 tax=376985369 addr="12202 AIRPORT WAY"/BROOMFIELD/800210021
          sbr P rel=18 group=- filing=MB
          insured IL "JONES SARAH A" MI:012345678A addr="1129 REINDEER ROAD"/CARR/80612 dob=1963-07-29 F
          payer PR "MEDICARE PART B" PI:123245 addr="PO BOX 3543"/BALTIMORE/666013543
          patient is subscriber
          date 439 2005-02-08..2005-02-08
          dx BK:8628* BF:E8888 BF:9592 BF:8540
          provider PW "" -:- addr="1129 REINDEER ROAD"/CARR/80612
          provider 45 "" -:- addr="10005 BANNOCK ST"/CHEYENNE/82009
          line 1 HC:A0427+RH 700.00 UN 1.00 ptr=[1, 2, 3, 4] on=2005-02-08
          line 2 HC:A0425+RH 8.20 UN 21.00 ptr=[1, 2, 3, 4] on=2005-02-08
          line 3 HC:A0422+RH 46.00 UN 1.00 ptr=[1, 2, 3, 4] on=2005-02-08
          line 4 HC:A0382+RH 12.30 UN 1.00 ptr=[1, 2, 3, 4] on=2005-02-08
    "#]],
    );
}

#[test]
fn drug_claim_with_ndc() {
    check_file(
        &format!("{P}/demo.drug.example10.1.837"),
        expect![[r#"
        claim CLMNO12345 Professional total=103.37 facility=11:B freq=1 seg=20
          submitter 41 "Associates in Medicine" 46:587654321
          receiver 40 "XYZ Receiver" 46:369852758
          billing 85 "Associates in Medicine" XX:1234567893 tax=587654321 addr="1313 Las Vegas Boulevard"/Las Vegas/89109
          sbr P rel=18 group=GRP01020102 filing=CI
          insured IL "Vaughn Steve R" MI:MBRID12345 addr="236 Diamond ST"/Las Vegas/89109 dob=1943-05-01 M
          payer PR "R&R Health Plan" XV:PLANID12345
          patient is subscriber
          dx BK:03591*
          provider 82 "Hendrix Jim" XX:1122333341
          line 1 HC:90782 50.00 UN 1.00 ptr=[1] pos=11 on=2004-07-11
          line 2 HC:J1550 53.37 UN 1.00 ptr=[1] pos=11 on=2004-07-11
            drug N4:00026063512 qty=10.00 ML
    "#]],
    );
}

#[test]
fn institutional_two_claims_with_revenue_codes() {
    check_file(
        "linuxforhealth/837_005010X223A3/two-claims-single-provider.837i",
        expect![[r#"
            claim 756048Q Institutional total=89.95 facility=13:A freq=1 seg=21
              submitter 41 "JONES HOSPITAL" 46:12345
              receiver 40 "TRICARE" 46:99999
              billing 85 "JONES HOSPITAL" XX:1234567890 tax=123456789 addr="225 MAIN STREET"/ANYWHERE/17111
              sbr P rel=18 group=- filing=CH
              insured IL "DOE JON T" MI:030005074 addr="125 CITY AVENUE"/CENTERVILLE/17111 dob=1968-11-11 M
              payer PR "TRICARE" PI:99999
              patient is subscriber
              date 434 2005-03-15..2005-03-15
              dx BK:3669* BF:4019 BF:79431
              provider 71 "JONES JOHN J" XX:1122334455
              line 1 rev=0305 HC:85025 13.39 UN 1.00 ptr=[] on=2005-03-15
              line 2 rev=0730 HC:93005 76.56 UN 3.00 ptr=[] on=2005-03-15
            claim 756049Q Institutional total=50.00 facility=13:A freq=1 seg=41
              submitter 41 "JONES HOSPITAL" 46:12345
              receiver 40 "TRICARE" 46:99999
              billing 85 "JONES HOSPITAL" XX:1234567890 tax=123456789 addr="225 MAIN STREET"/ANYWHERE/17111
              sbr P rel=18 group=- filing=CH
              insured IL "SMITH JOE" MI:123405074 addr="5 MAIN STREET"/ANYWHERE/17111 dob=1962-12-10 M
              payer PR "TRICARE" PI:99999
              patient is subscriber
              date 434 2005-04-01..2005-04-01
              dx BK:30000*
              provider 71 "JONES JUDY J" XX:9999999999
              line 1 rev=0300 HC:85087 50.00 UN 1.00 ptr=[] on=2005-04-01
        "#]],
    );
}

#[test]
fn version_4010_professional_cob() {
    check_file(
        "linuxforhealth/837_004010X098A1/coordination-of-benefits.837",
        expect![[r#"
            claim 26407789 Professional total=79.04 facility=11:- freq=1 seg=34
              submitter 41 "PREMIER BILLING SERVICE" 46:567890
              receiver 40 "XYZ REPRICER" 46:66783JJT
              billing 85 "PREMIER BILLING SERVICE" 24:587654321 addr="1234 SEAWAY ST"/MIAMI/33111
              pay-to 87 "KILDARE ASSOC" 24:581234567 addr="2345 OCEAN BLVD"/MIAMI/33111
              sbr P rel=- group=- filing=CI
              insured IL "SMITH JANE" MI:111223333 dob=1943-05-01 F
              payer PR "KEY INSURANCE COMPANY" PI:999996666 addr="3333OCEAN ST"/SOUTH MIAMI/33000
              patient rel=19
              patient QC "SMITH TED" MI:JS01111223333 addr="236N MAIN ST"/MIAMI/33413 dob=1973-05-01 M
              dx BK:4779* BF:2724 BF:2780 BF:53081
              provider 82 "KILDARE BEN" 24:999996666
              provider 77 "KILDARE ASSOCIATES" 24:581234567 addr="2345 OCEAN BLVD"/MIAMI/33111
              line 1 HC:99213 43.00 UN 1.00 ptr=[1, 2, 3, 4] on=1997-10-03
              line 2 HC:90782 15.00 UN 1.00 ptr=[1, 2] on=1997-10-03
              line 3 HC:J3301 21.04 UN 1.00 ptr=[1, 2] on=1997-10-03
        "#]],
    );
}

#[test]
fn version_4010_institutional_codes() {
    check_file(
        "linuxforhealth/837_004010X096A1/institutional.837",
        expect![[r#"
            claim 756048Q Institutional total=89.93 facility=14:A freq=1 seg=22
              submitter 41 "MEDICARE" 46:00120
              receiver 40 "JONES HOSPITAL" 46:12345
              billing 85 "JONES HOSPITAL" XX:330127 addr="225 MAIN STREET BARKLEY BUILDING"/CENTERVILLE/17111
              sbr P rel=18 group=- filing=MB
              insured IL "DOE JOHN T" MI:030005074A addr="125 CITY AVENUE"/CENTERVILLE/17111 dob=1926-11-11 M
              payer PR "MEDICARE B" PI:00435
              patient is subscriber
              date 434 1996-09-11..1996-09-11
              dx BK:366.9* BF:401.9 BF:794.31
              codes BQ:15.3 BH:A1 BH:A2 BH:B1 BH:B2 BE:A2 BG:09
              provider 71 "JONES JOHN J" XX:B99937
              other sbr S rel=01 filing=CI paid=- cas=0
                other insured IL "DOE JANE S" MI:222004433 addr="125 CITY AVENUE"/CENTERVILLE/17111
                other payer PR "STATE TEACHERS" PI:1135
              line 1 rev=305 HC:85025 13.39 UN 1.00 ptr=[] on=1996-09-11
              line 2 rev=730 HC:93005 76.54 UN 3.00 ptr=[] on=1996-09-11
        "#]],
    );
}

/// An 837P interchange around `body` (segments between ST and SE, `~`
/// terminated), with a correct SE count.
fn x837(body: &str) -> String {
    let count = body.matches('~').count() + 2;
    format!(
        "ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~\
         GS*HC*A*B*20240101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~{body}SE*{count}*0001~GE*1*1~IEA*1*000000001~"
    )
}

const HEAD: &str = "BHT*0019*00*1*20240101*1200*CH~NM1*41*2*SUBMITTER*****46*S1~NM1*40*2*RECEIVER*****46*R1~\
HL*1**20*1~NM1*85*2*CLINIC*****XX*1234567893~REF*EI*123456789~\
HL*2*1*22*0~SBR*P*18*******CI~NM1*IL*1*DOE*JANE****MI*M1~DMG*D8*19800101*F~NM1*PR*2*PAYER*****PI*P1~";

#[test]
fn unbalanced_claim_points_at_clm02() {
    check(
        &x837(&format!(
            "{HEAD}CLM*C1*60.00***11:B:1*Y*A*Y*Y~HI*ABK:J020~\
             LX*1~SV1*HC:99213*40.00*UN*1***1~LX*2~SV1*HC:87070*15.00*UN*1***1~"
        )),
        expect![[r#"
            claim C1 Professional total=60.00 facility=11:B freq=1 seg=15
              submitter 41 "SUBMITTER" 46:S1
              receiver 40 "RECEIVER" 46:R1
              billing 85 "CLINIC" XX:1234567893 tax=123456789
              sbr P rel=18 group=- filing=CI
              insured IL "DOE JANE" MI:M1 dob=1980-01-01 F
              payer PR "PAYER" PI:P1
              patient is subscriber
              dx ABK:J020*
              line 1 HC:99213 40.00 UN 1.00 ptr=[1]
              line 2 HC:87070 15.00 UN 1.00 ptr=[1]
              issue X12-0107 seg 15 el 2
        "#]],
    );
}

#[test]
fn bad_service_date_is_an_issue_and_the_claim_is_kept() {
    check(
        &x837(&format!(
            "{HEAD}CLM*C1*40.00***11:B:1*Y*A*Y*Y~DTP*431*D8*2024013~HI*ABK:J020~\
             LX*1~SV1*HC:99213*40.00*UN*1***1~DTP*472*D8*20240230~"
        )),
        expect![[r#"
            claim C1 Professional total=40.00 facility=11:B freq=1 seg=15
              submitter 41 "SUBMITTER" 46:S1
              receiver 40 "RECEIVER" 46:R1
              billing 85 "CLINIC" XX:1234567893 tax=123456789
              sbr P rel=18 group=- filing=CI
              insured IL "DOE JANE" MI:M1 dob=1980-01-01 F
              payer PR "PAYER" PI:P1
              patient is subscriber
              dx ABK:J020*
              line 1 HC:99213 40.00 UN 1.00 ptr=[1]
              issue X12-0106 seg 16 el 3
              issue X12-0106 seg 20 el 3
        "#]],
    );
}

#[test]
fn segment_in_an_unknown_place_spoils_only_its_claim() {
    check(
        &x837(&format!(
            "{HEAD}CLM*C1*40.00***11:B:1*Y*A*Y*Y~HI*ABK:J020~\
             LX*1~SV1*HC:99213*40.00*UN*1***1~HI*ABF:R05~BHT*0019~\
             CLM*C2*15.00***11:B:1*Y*A*Y*Y~HI*ABK:R05~LX*1~SV1*HC:87070*15.00*UN*1***1~"
        )),
        expect![[r#"
            claim C1 Professional total=40.00 facility=11:B freq=1 seg=15
              submitter 41 "SUBMITTER" 46:S1
              receiver 40 "RECEIVER" 46:R1
              billing 85 "CLINIC" XX:1234567893 tax=123456789
              sbr P rel=18 group=- filing=CI
              insured IL "DOE JANE" MI:M1 dob=1980-01-01 F
              payer PR "PAYER" PI:P1
              patient is subscriber
              dx ABK:J020*
              line 1 HC:99213 40.00 UN 1.00 ptr=[1]
              issue X12-0101 seg 19 el 0
              issue X12-0101 seg 20 el 0
            claim C2 Professional total=15.00 facility=11:B freq=1 seg=21
              submitter 41 "SUBMITTER" 46:S1
              receiver 40 "RECEIVER" 46:R1
              billing 85 "CLINIC" XX:1234567893 tax=123456789
              sbr P rel=18 group=- filing=CI
              insured IL "DOE JANE" MI:M1 dob=1980-01-01 F
              payer PR "PAYER" PI:P1
              patient is subscriber
              dx ABK:R05*
              line 1 HC:87070 15.00 UN 1.00 ptr=[1]
        "#]],
    );
}

#[test]
fn missing_claim_id_and_bad_amounts() {
    check(
        &x837(&format!(
            "{HEAD}CLM**40.00***11:B:1*Y*A*Y*Y~LX*1~SV1*HC:99213*4O.00*UN*1***1:X~\
             CLM*C3~LX*1~SV1*HC:99213*1.00~"
        )),
        expect![[r#"
            claim - Professional total=40.00 facility=11:B freq=1 seg=15
              submitter 41 "SUBMITTER" 46:S1
              receiver 40 "RECEIVER" 46:R1
              billing 85 "CLINIC" XX:1234567893 tax=123456789
              sbr P rel=18 group=- filing=CI
              insured IL "DOE JANE" MI:M1 dob=1980-01-01 F
              payer PR "PAYER" PI:P1
              patient is subscriber
              line 1 HC:99213 - UN 1.00 ptr=[1]
              issue X12-0103 seg 15 el 1
              issue X12-0105 seg 17 el 2
              issue X12-0109 seg 17 el 7
            claim C3 Professional total=- facility=-:- freq=- seg=18
              submitter 41 "SUBMITTER" 46:S1
              receiver 40 "RECEIVER" 46:R1
              billing 85 "CLINIC" XX:1234567893 tax=123456789
              sbr P rel=18 group=- filing=CI
              insured IL "DOE JANE" MI:M1 dob=1980-01-01 F
              payer PR "PAYER" PI:P1
              patient is subscriber
              line 1 HC:99213 1.00 - - ptr=[]
              issue X12-0104 seg 18 el 2
        "#]],
    );
}

#[test]
fn broken_hierarchy_and_claim_outside_a_subscriber() {
    check(
        &x837(
            "BHT*0019*00*1*20240101*1200*CH~CLM*C0*1.00~LX*1~SV1*HC:1*1.00~\
             HL*1**20*1~HL*2*9*22*0~SBR*P*18~HL*3*2*99*0~NM1*QC*1*X~HL*4*2*23*0~\
             CLM*C1*1.00~SV1*HC:1*1.00~",
        ),
        expect![[r#"
            issue X12-0102 seg 9 el 2
            issue X12-0102 seg 11 el 3
            claim C0 Professional total=1.00 facility=-:- freq=- seg=5
              patient is subscriber
              line 1 HC:1 1.00 - - ptr=[]
              issue X12-0102 seg 5 el 0
            claim C1 Professional total=1.00 facility=-:- freq=- seg=14
              sbr P rel=18 group=- filing=-
              patient rel=-
              issue X12-0101 seg 15 el 0
              issue X12-0108 seg 14 el 0
        "#]],
    );
}

#[test]
fn a_set_that_is_not_837_yields_an_issue() {
    let input = "ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~\
        GS*HP*A*B*20240101*1200*1*X*005010X221A1~ST*835*0001*005010X221A1~BPR*I~SE*3*0001~GE*1*1~IEA*1*000000001~";
    let doc = Document::read(input.as_bytes()).expect("an interchange");
    let tx = doc.transactions().next().expect("a set");
    let read = read_claims(&tx);
    assert!(read.claims.is_empty());
    assert_eq!(read.issues.len(), 1);
    assert_eq!(read.issues[0].code, codes::NOT_A_CLAIM_SET);
    // The document-wide reader skips it.
    let all = read_document_claims(&doc);
    assert!(all.claims.is_empty() && all.issues.is_empty());
}

#[test]
fn debug_output_holds_no_patient_values() {
    let bytes = corpus_bytes(&format!("{P}/demo.example1.837"));
    let read = read_input(&bytes);
    let claim = &read.claims[0];
    assert_eq!(
        claim.patient().and_then(|p| p.first_name.as_deref()),
        Some("TED")
    );
    for shown in [
        format!("{read:?}"),
        format!("{claim:?}"),
        format!("{claim:#?}"),
    ] {
        for value in [
            "SMITH",
            "TED",
            "JANE",
            "26463774",
            "100",
            "0340",
            "99213",
            "1912301953",
            "1973",
        ] {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
    }
    expect!["Claim { kind: Professional, segment: 27, patient_is_subscriber: false, diagnoses: 2, providers: 0, other_subscribers: 0, lines: 4, issues: [], .. }"].assert_eq(&format!("{claim:?}"));
}

#[test]
fn codes_are_in_range_and_unique() {
    let mut seen = std::collections::HashSet::new();
    for c in codes::ALL {
        let n: u32 = c
            .code()
            .trim_start_matches("X12-")
            .parse()
            .expect("a number");
        assert!((100..200).contains(&n), "{}", c.code());
        assert!(seen.insert(c.code()), "{}", c.code());
    }
}

#[test]
fn kind_follows_the_implementation_or_the_lines() {
    let bytes = corpus_bytes("linuxforhealth/837_005010X223A3/institutional-claim.837i");
    let read = read_input(&bytes);
    assert!(
        read.claims
            .iter()
            .all(|c| c.kind == ClaimKind::Institutional)
    );
    // Without ST03/GS08 naming a guide, SV2 lines make it institutional.
    let input = x837(&format!(
        "{HEAD}CLM*C1*5.00***13:A:1~LX*1~SV2*0300*HC:85087*5.00*UN*1~"
    ))
    .replace("005010X222A1", "005010");
    let read = read_bytes(&input);
    assert_eq!(read.claims[0].kind, ClaimKind::Institutional);
    assert_eq!(
        read.claims[0].lines[0].revenue_code.as_deref(),
        Some("0300")
    );
}

proptest::proptest! {
    #[test]
    fn any_segment_soup_reads_without_panicking(
        picks in proptest::collection::vec(0usize..26, 0..60)
    ) {
        const SOUP: &[&str] = &[
            "HL*1**20*1~", "HL*2*1*22*0~", "HL*3*2*23*0~", "HL*4*3*22~", "HL***~",
            "NM1*85*2*X*****XX*1~", "NM1*IL*1*A*B~", "NM1*PR*2*P~", "NM1*QC*1*Q~", "NM1*82*1*R~", "NM1~",
            "SBR*P*18~", "SBR~", "CLM*C*1.00***11:B:1~", "CLM~", "CLM*C*x~",
            "LX*1~", "LX~", "SV1*HC:1:2:3:4:5:6:7:8:9*1.00*UN*1***1:2:x:0~", "SV2*1*HC*1~", "SV3~",
            "DTP*472*RD8*20240102-20240101~", "HI*ABK~", "CAS*CO*1*1*1*2*2~", "SVD*1*1~", "LIN**N4~",
        ];
        let body: String = picks.iter().map(|&i| SOUP[i]).collect();
        let input = x837(&body);
        let read = read_bytes(&input);
        let clm = picks.iter().filter(|&&i| i == 13 || i == 14 || i == 15).count();
        proptest::prop_assert_eq!(read.claims.len(), clm);
    }
}

#[test]
fn dental_claim_with_sv3_lines() {
    let input = x837(&format!(
        "{HEAD}CLM*D1*125.00***11:B:1*Y*A*Y*Y~HI*ABK:K021~\
         LX*1~SV3*AD:D0120*45.00*11***1*****1~DTP*472*D8*20240105~\
         LX*2~SV3*AD:D2391:XX*80.00****2*****1:2~"
    ))
    .replace("005010X222A1", "005010X224A2");
    check(
        &input,
        expect![[r#"
        claim D1 Dental total=125.00 facility=11:B freq=1 seg=15
          submitter 41 "SUBMITTER" 46:S1
          receiver 40 "RECEIVER" 46:R1
          billing 85 "CLINIC" XX:1234567893 tax=123456789
          sbr P rel=18 group=- filing=CI
          insured IL "DOE JANE" MI:M1 dob=1980-01-01 F
          payer PR "PAYER" PI:P1
          patient is subscriber
          dx ABK:K021*
          line 1 AD:D0120 45.00 - 1.00 ptr=[1] pos=11 on=2024-01-05
          line 2 AD:D2391+XX 80.00 - 2.00 ptr=[1, 2]
    "#]],
    );
}
