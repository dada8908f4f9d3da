//! HL7 v2 datatypes to FHIR datatypes, after the V2-to-FHIR IG's datatype
//! maps (CX → Identifier, XPN → HumanName, XAD → Address, XTN →
//! ContactPoint, CWE → CodeableConcept, DTM → dateTime, XCN → Practitioner
//! content, PL → Location content).

use std::borrow::Cow;

use caresync_hl7v2::time::{Precision, Timestamp};
use caresync_hl7v2::{Split, Value};

use super::json::W;
use super::{Issue, IssueKind, Location};

/// Part `n` (1-based) of a composite value, whatever its depth: a field or
/// repetition splits into components, a component into sub-components.
#[inline]
pub(crate) fn part<'m>(v: Value<'m>, n: usize) -> Option<Value<'m>> {
    v.part(n)
}

/// The decoded text of part `n`, if not empty.
#[inline]
pub(crate) fn pt<'m>(v: Value<'m>, n: usize) -> Option<Cow<'m, str>> {
    v.part(n).and_then(|p| p.text())
}

/// The decoded text of a value that is not empty.
#[inline]
pub(crate) fn text<'m>(v: Option<Value<'m>>) -> Option<Cow<'m, str>> {
    v.and_then(|v| v.text())
}

/// The state shared while mapping one message: issues found, and the
/// sender's UTC offset (from MSH-7) for date/times sent without one.
pub(crate) struct Cx {
    pub(crate) issues: Vec<Issue>,
    pub(crate) default_offset: Option<i16>,
}

impl Cx {
    pub(crate) fn issue(&mut self, kind: IssueKind, at: Location) {
        self.issues.push(Issue { kind, location: at });
    }

    /// Parses a date/time (DTM, or the first component of TS); an
    /// unparsable value is an issue at `at` and reads as absent.
    pub(crate) fn ts(&mut self, v: Option<Value<'_>>, at: Location) -> Option<Timestamp> {
        let v = v?;
        let first = part(v, 1)?;
        if first.is_empty() || first.is_null() {
            return None;
        }
        let raw = trim_bytes(first.raw());
        match Timestamp::parse(raw) {
            Ok(t) => Some(t),
            Err(_) => {
                self.issue(IssueKind::BadDate, at);
                None
            }
        }
    }

    /// Writes `"key":"<FHIR dateTime>"` from an HL7 date/time value.
    pub(crate) fn datetime(&mut self, w: &mut W, key: &str, v: Option<Value<'_>>, at: Location) {
        if let Some(t) = self.ts(v, at) {
            w.key(key);
            write_datetime(w, &t, self.default_offset);
        }
    }

    /// Writes `"key":"<FHIR date>"` (the date part only).
    pub(crate) fn date(&mut self, w: &mut W, key: &str, v: Option<Value<'_>>, at: Location) {
        if let Some(t) = self.ts(v, at) {
            w.key(key);
            write_date(w, &t);
        }
    }

    /// Writes `"period":{start,end}` from two date/time values.
    pub(crate) fn period(
        &mut self,
        w: &mut W,
        key: &str,
        start: (Option<Value<'_>>, Location),
        end: (Option<Value<'_>>, Location),
    ) {
        let m = w.obj(key);
        self.datetime(w, "start", start.0, start.1);
        self.datetime(w, "end", end.0, end.1);
        w.end(m);
    }
}

fn trim_bytes(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| *c != b' ').unwrap_or(b.len());
    let end = b.iter().rposition(|c| *c != b' ').map_or(start, |e| e + 1);
    &b[start..end]
}

fn push2(out: &mut String, n: u8) {
    out.push(char::from(b'0' + n / 10));
    out.push(char::from(b'0' + n % 10));
}

fn push_date(out: &mut String, t: &Timestamp) {
    let y = t.year();
    for d in [y / 1000, (y / 100) % 10, (y / 10) % 10, y % 10] {
        out.push(char::from(b'0' + d as u8));
    }
    if t.precision() >= Precision::Month {
        out.push('-');
        push2(out, t.month());
    }
    if t.precision() >= Precision::Day {
        out.push('-');
        push2(out, t.day());
    }
}

fn push_offset(out: &mut String, off: i16) {
    if off == 0 {
        out.push('Z');
        return;
    }
    out.push(if off < 0 { '-' } else { '+' });
    let a = off.unsigned_abs();
    push2(out, (a / 60) as u8);
    out.push(':');
    push2(out, (a % 60) as u8);
}

fn push_time(out: &mut String, t: &Timestamp) {
    out.push('T');
    push2(out, t.hour());
    out.push(':');
    push2(out, t.minute());
    out.push(':');
    push2(out, t.second());
    if let Precision::Fraction(n) = t.precision() {
        out.push('.');
        let mut micros = t.micros();
        let mut digits = [0u8; 6];
        for d in digits.iter_mut().rev() {
            *d = (micros % 10) as u8;
            micros /= 10;
        }
        for d in &digits[..usize::from(n.min(6))] {
            out.push(char::from(b'0' + d));
        }
    }
}

/// A FHIR `dateTime`: as precise as the sender was; a time is padded to
/// seconds (FHIR needs them) and carries the sender's offset, or the
/// message's (MSH-7) when the value has none; with neither, the value is
/// cut to its date, as FHIR forbids a time without a zone.
pub(crate) fn write_datetime(w: &mut W, t: &Timestamp, default_offset: Option<i16>) {
    w.str_open();
    push_date(&mut w.buf, t);
    if t.precision() >= Precision::Hour
        && let Some(off) = t.offset_minutes().or(default_offset)
    {
        push_time(&mut w.buf, t);
        push_offset(&mut w.buf, off);
    }
    w.str_close();
}

/// A FHIR `date`.
pub(crate) fn write_date(w: &mut W, t: &Timestamp) {
    w.str_open();
    push_date(&mut w.buf, t);
    w.str_close();
}

/// A FHIR `instant` (seconds and zone required): missing parts are the
/// start of the period, and a value without an offset is read as UTC.
pub(crate) fn write_instant(w: &mut W, t: &Timestamp) {
    w.str_open();
    let y = t.year();
    for d in [y / 1000, (y / 100) % 10, (y / 10) % 10, y % 10] {
        w.buf.push(char::from(b'0' + d as u8));
    }
    w.buf.push('-');
    push2(&mut w.buf, t.month());
    w.buf.push('-');
    push2(&mut w.buf, t.day());
    push_time(&mut w.buf, t);
    push_offset(&mut w.buf, t.offset_minutes().unwrap_or(0));
    w.str_close();
}

/// The FHIR system URI for an HL7 coding system name (CWE.3), when it is
/// one FHIR names; `HL7nnnn` tables become their THO code systems.
pub(crate) fn system_uri(name: &str) -> Option<SystemUri<'_>> {
    let fixed = match name {
        "LN" | "LOINC" => "http://loinc.org",
        "SCT" | "SNM" | "SNOMED" | "SNOMEDCT" | "SNOMED-CT" => "http://snomed.info/sct",
        "I10" | "ICD10" => "http://hl7.org/fhir/sid/icd-10",
        "I10C" | "ICD10CM" | "ICD-10-CM" => "http://hl7.org/fhir/sid/icd-10-cm",
        "I9" | "I9C" | "ICD9" | "ICD9CM" => "http://hl7.org/fhir/sid/icd-9-cm",
        "CVX" => "http://hl7.org/fhir/sid/cvx",
        "MVX" => "http://hl7.org/fhir/sid/mvx",
        "NDC" => "http://hl7.org/fhir/sid/ndc",
        "UCUM" => "http://unitsofmeasure.org",
        "RXNORM" | "RXN" => "http://www.nlm.nih.gov/research/umls/rxnorm",
        "C4" | "CPT" | "CPT4" => "http://www.ama-assn.org/go/cpt",
        "NCIT" => "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
        "CDCREC" => "urn:oid:2.16.840.1.113883.6.238",
        _ => {
            let b = name.as_bytes();
            // Bytes, not `str` slices: the name may hold any UTF-8.
            if b.len() == 7
                && b[..3].eq_ignore_ascii_case(b"HL7")
                && b[3..].iter().all(u8::is_ascii_digit)
            {
                return Some(SystemUri::Table(&name[3..]));
            }
            return None;
        }
    };
    Some(SystemUri::Fixed(fixed))
}

/// A coding system URI: a fixed one or an HL7 table number.
#[derive(Clone, Copy)]
pub(crate) enum SystemUri<'a> {
    Fixed(&'static str),
    Table(&'a str),
}

pub(crate) const V2_CS: &str = "http://terminology.hl7.org/CodeSystem/v2-";

impl SystemUri<'_> {
    pub(crate) fn write(self, w: &mut W) {
        w.key("system");
        match self {
            SystemUri::Fixed(s) => w.str_lit(s),
            SystemUri::Table(t) => w.str2(V2_CS, t),
        }
    }
}

/// Writes one Coding from a code, display and coding-system name;
/// `default_table` (e.g. `"0203"`) names the HL7 table when the sender
/// gave no system.
fn coding(
    w: &mut W,
    code: Option<&str>,
    display: Option<&str>,
    sys: Option<&str>,
    default_table: Option<&str>,
) {
    if code.is_none() && display.is_none() {
        return;
    }
    let m = w.item();
    match sys {
        Some(s) => match system_uri(s) {
            Some(u) => u.write(w),
            None => {
                if let Some(t) = default_table.filter(|_| s.eq_ignore_ascii_case("HL7")) {
                    SystemUri::Table(t).write(w);
                }
            }
        },
        None => {
            if let (Some(t), Some(_)) = (default_table, code) {
                SystemUri::Table(t).write(w);
            }
        }
    }
    w.kv_opt("code", code);
    w.kv_opt("display", display);
    w.end(m);
}

/// Writes `"key":CodeableConcept` from a CWE/CE/CNE value (codings from
/// components 1–3 and 4–6, text from component 9, or the display when
/// there is no code).
pub(crate) fn cwe(
    w: &mut W,
    key: Option<&str>,
    v: Option<Value<'_>>,
    default_table: Option<&str>,
) -> bool {
    let Some(v) = v else { return false };
    if v.is_empty() || v.is_null() {
        return false;
    }
    let s = v.split::<9>();
    let m = w.begin(key, '{');
    let code = s.text(1);
    let display = s.text(2);
    let alt = s.text(4);
    let codings = w.arr("coding");
    if code.is_some() {
        coding(
            w,
            code.as_deref(),
            display.as_deref(),
            s.text(3).as_deref(),
            default_table,
        );
    }
    if alt.is_some() {
        coding(
            w,
            alt.as_deref(),
            s.text(5).as_deref(),
            s.text(6).as_deref(),
            default_table,
        );
    }
    w.end(codings);
    match s.text(9) {
        Some(t) => w.kv("text", &t),
        None if code.is_none() && alt.is_none() => w.kv_opt("text", display.as_deref()),
        None => {}
    }
    w.end(m)
}

/// Writes a CodeableConcept with one coding from a fixed system.
pub(crate) fn concept(
    w: &mut W,
    key: Option<&str>,
    system: &'static str,
    code: &str,
    display: Option<&str>,
) {
    let m = w.begin(key, '{');
    let a = w.arr("coding");
    let c = w.item();
    w.kv_lit("system", system);
    w.kv("code", code);
    w.kv_opt("display", display);
    w.end(c);
    w.end(a);
    w.end(m);
}

/// The URI form of an HD's universal id (HD.2 typed by HD.3): ISO →
/// `urn:oid:`, UUID → `urn:uuid:`, URI/URL/DNS... as written.
pub(crate) fn hd_uri<'m>(hd: Value<'m>) -> Option<(&'static str, Cow<'m, str>)> {
    let uid = pt(hd, 2)?;
    let kind = pt(hd, 3);
    match kind.as_deref() {
        Some("ISO") => Some(("urn:oid:", uid)),
        Some("UUID") => Some(("urn:uuid:", uid)),
        Some("URI") | Some("URL") => Some(("", uid)),
        _ => None,
    }
}

/// Writes `"key":Identifier` from a CX value (CX.1 value, CX.4 assigning
/// authority as system and assigner, CX.5 type in table 0203, CX.7/CX.8
/// period). `default_type` is used when CX.5 is empty. Nothing is written
/// when CX.1 is empty.
pub(crate) fn cx(
    cxs: &mut Cx,
    w: &mut W,
    key: Option<&str>,
    v: Value<'_>,
    default_type: Option<&str>,
    at: Location,
) -> bool {
    let s = v.split::<8>();
    let Some(value) = s.text(1) else { return false };
    let m = w.begin(key, '{');
    let ty = s.text(5);
    if let Some(t) = ty.as_deref().or(default_type) {
        let tm = w.obj("type");
        let a = w.arr("coding");
        let c = w.item();
        SystemUri::Table("0203").write(w);
        w.kv("code", t);
        w.end(c);
        w.end(a);
        w.end(tm);
    }
    let auth = s.get(4);
    if let Some(auth) = auth
        && let Some((prefix, uid)) = hd_uri(auth)
    {
        w.key("system");
        w.str2(prefix, &uid);
    }
    w.kv("value", &value);
    cxs.period(w, "period", (s.get(7), at), (s.get(8), at));
    if let Some(name) = auth.and_then(|a| pt(a, 1)) {
        let am = w.obj("assigner");
        w.kv("display", &name);
        w.end(am);
    }
    w.end(m)
}

/// Name use from table 0200 (name type), per the IG's concept map.
fn name_use(code: &str) -> Option<&'static str> {
    Some(match code {
        "A" | "D" | "T" => "usual",
        "L" | "R" | "C" => "official",
        "M" => "maiden",
        "N" => "nickname",
        "S" | "I" => "anonymous",
        "B" | "BAD" | "NOUSE" | "F" => "old",
        "TEMP" | "NB" => "temp",
        _ => return None,
    })
}

/// Writes a HumanName from an XPN value (or the name part of an XCN,
/// whose components start at `base`: 1 for XPN, 2 for XCN).
pub(crate) fn human_name(
    cxs: &mut Cx,
    w: &mut W,
    s: &Split<'_, 21>,
    xcn: bool,
    at: Location,
) -> bool {
    // XPN: 1 family (FN), 2 given, 3 further given, 4 suffix, 5 prefix,
    // 6 degree, 7 type, 10 validity (DR), 12/13 effective/expiration,
    // 14 professional suffix, 15 called by.
    // XCN: 2 family, 3 given, 4 further given, 5 suffix, 6 prefix, 7 degree,
    // 10 name type, 17 validity, 19/20 effective/expiration, 21 prof. suffix.
    let (f, g, mg, sfx, pfx, deg, ty, range, eff, exp, prof, called) = if xcn {
        (2, 3, 4, 5, 6, 7, 10, 17, 19, 20, 21, 0)
    } else {
        (1, 2, 3, 4, 5, 6, 7, 10, 12, 13, 14, 15)
    };
    let m = w.item();
    if let Some(u) = s.text(ty).as_deref().and_then(name_use) {
        w.kv("use", u);
    }
    if let Some(fam) = s.get(f).and_then(|p| pt(p, 1)) {
        w.kv("family", &fam);
    }
    let given = w.arr("given");
    for n in [g, mg] {
        if let Some(t) = s.text(n) {
            w.str(&t);
        }
    }
    if called > 0
        && let Some(t) = s.text(called)
    {
        w.str(&t);
    }
    w.end(given);
    let pm = w.arr("prefix");
    if let Some(t) = s.text(pfx) {
        w.str(&t);
    }
    w.end(pm);
    let sm = w.arr("suffix");
    for n in [sfx, deg, prof] {
        if let Some(t) = s.text(n) {
            w.str(&t);
        }
    }
    w.end(sm);
    if !w.wrote_since(m) {
        w.end(m);
        return false;
    }
    let r = s.get(range);
    let start = s
        .get(eff)
        .filter(|p| !p.is_empty())
        .or_else(|| r.and_then(|r| part(r, 1)));
    let end = s
        .get(exp)
        .filter(|p| !p.is_empty())
        .or_else(|| r.and_then(|r| part(r, 2)));
    cxs.period(w, "period", (start, at), (end, at));
    w.end(m)
}

/// Writes an Address from an XAD value.
pub(crate) fn address(cxs: &mut Cx, w: &mut W, v: Value<'_>, at: Location) -> bool {
    let s = v.split::<14>();
    let m = w.item();
    let ty = s.text(7);
    match ty.as_deref() {
        Some("H") => w.kv_lit("use", "home"),
        Some("B") | Some("O") => w.kv_lit("use", "work"),
        Some("C") => w.kv_lit("use", "temp"),
        Some("BA") => w.kv_lit("use", "old"),
        Some("M") => w.kv_lit("type", "postal"),
        Some("SH") => w.kv_lit("type", "physical"),
        _ => {}
    }
    let lines = w.arr("line");
    if let Some(street) = s.get(1) {
        // SAD: 1 street or mailing address, 2 street name, 3 dwelling number.
        for n in 1..=3 {
            if let Some(t) = pt(street, n) {
                w.str(&t);
            }
        }
    }
    if let Some(t) = s.text(2) {
        w.str(&t);
    }
    w.end(lines);
    w.kv_opt("city", s.text(3).as_deref());
    if let Some(county) = s.get(9) {
        w.kv_opt(
            "district",
            pt(county, 2).or_else(|| pt(county, 1)).as_deref(),
        );
    }
    w.kv_opt("state", s.text(4).as_deref());
    w.kv_opt("postalCode", s.text(5).as_deref());
    w.kv_opt("country", s.text(6).as_deref());
    if !w.wrote_since(m) {
        w.end(m);
        return false;
    }
    let r = s.get(12);
    let start = s
        .get(13)
        .filter(|p| !p.is_empty())
        .or_else(|| r.and_then(|r| part(r, 1)));
    let end = s
        .get(14)
        .filter(|p| !p.is_empty())
        .or_else(|| r.and_then(|r| part(r, 2)));
    cxs.period(w, "period", (start, at), (end, at));
    w.end(m)
}

/// Writes a ContactPoint from an XTN value; `default_use` applies when
/// XTN.2 is empty (PID-13 home, PID-14 work).
pub(crate) fn contact_point(
    cxs: &mut Cx,
    w: &mut W,
    v: Value<'_>,
    default_use: Option<&str>,
    at: Location,
) -> bool {
    let s = v.split::<18>();
    let equip = s.text(3);
    let email = s.text(4);
    let system = match equip.as_deref() {
        Some("Internet") | Some("X.400") => "email",
        Some("FX") => "fax",
        Some("BP") => "pager",
        Some("PH") | Some("CP") | Some("SAT") => "phone",
        Some("MD") | Some("TDD") | Some("TTY") => "other",
        _ if email.is_some() && s.text(7).is_none() => "email",
        _ => "phone",
    };
    let has_value = if system == "email" {
        email.is_some() || s.text(1).is_some()
    } else {
        s.text(12).is_some() || s.text(7).is_some() || s.text(1).is_some()
    };
    if !has_value {
        return false;
    }
    let m = w.item();
    w.kv("system", system);
    if system == "email" {
        if let Some(e) = email.as_deref().or(s.text(1).as_deref()) {
            w.kv("value", e)
        }
    } else if let Some(u) = s.text(12) {
        w.kv("value", &u);
    } else if let Some(local) = s.text(7) {
        w.key("value");
        w.str_open();
        if let Some(cc) = s.text(5) {
            w.str_piece("+");
            w.str_piece(&cc);
            w.str_piece(" ");
        }
        if let Some(area) = s.text(6) {
            w.str_piece("(");
            w.str_piece(&area);
            w.str_piece(") ");
        }
        w.str_piece(&local);
        if let Some(ext) = s.text(8) {
            w.str_piece(" X");
            w.str_piece(&ext);
        }
        w.str_close();
    } else if let Some(t) = s.text(1) {
        w.kv("value", &t);
    }
    let code = s.text(2);
    let use_ = match code.as_deref() {
        Some("PRN") | Some("ORN") | Some("VHN") => Some("home"),
        Some("WPN") => Some("work"),
        Some("PRS") => Some("mobile"),
        Some(_) => None,
        None => default_use,
    }
    .or(if equip.as_deref() == Some("CP") {
        Some("mobile")
    } else {
        None
    });
    if let Some(u) = use_ {
        w.kv("use", u);
    }
    if let Some(rank) = s
        .text(18)
        .and_then(|r| r.trim().parse::<u32>().ok())
        .filter(|r| *r > 0)
    {
        w.key("rank");
        w.uint(u64::from(rank));
    }
    cxs.period(w, "period", (s.get(13), at), (s.get(14), at));
    w.end(m)
}
