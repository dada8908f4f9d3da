//! The segment maps: walks a message's segments in order and writes one
//! Bundle entry per resource.

use std::borrow::Cow;

use caresync_hl7v2::{KnownType, Message, Segment, Split, Value};

use super::dt::{self, Cx, part, pt, text};
use super::id::{Id, Key};
use super::json::{Mark, W};
use super::{Error, IssueKind, Location, Mapped, is_supported};

const EMPTY: &[u8] = b"";

/// A resource to write after the current one (entries cannot nest).
#[derive(Clone, Copy)]
enum Pending<'m> {
    Practitioner(Id, Split<'m, 21>, Location),
    Location(Id, Value<'m>),
}

struct Ctx<'m> {
    msg: &'m Message<'m>,
    cx: Cx,
    w: W,
    trigger: KnownType,
    facility: &'m [u8],
    msg_key: Key,
    emitted: Vec<(&'static str, Id)>,
    focus: Vec<(&'static str, Id)>,
    pending: Vec<Pending<'m>>,
}

fn raw(v: Option<Value<'_>>) -> &[u8] {
    v.map_or(EMPTY, |v| v.raw())
}

fn loc(seg: &Segment<'_>, segment: &'static str, field: usize) -> Location {
    Location {
        segment,
        position: seg.position(),
        field,
    }
}

fn f<'m>(seg: &Segment<'m>, n: usize) -> Option<Value<'m>> {
    seg.field(n).filter(|v| !v.is_empty() && !v.is_null())
}

fn reps<'m>(seg: &Segment<'m>, n: usize) -> impl Iterator<Item = Value<'m>> {
    f(seg, n)
        .into_iter()
        .flat_map(|v| v.repetitions())
        .filter(|r| !r.is_empty() && !r.is_null())
}

/// `code` (from the CWE, or its text alone), `subject` and `encounter` of a
/// Condition or Procedure.
fn code_subject_encounter(
    w: &mut W,
    code: Option<Value<'_>>,
    desc: Option<&str>,
    patient: Id,
    encounter: Option<Id>,
) {
    if !dt::cwe(w, Some("code"), code, None) {
        let m = w.obj("code");
        w.kv_opt("text", desc);
        w.end(m);
    }
    w.reference(Some("subject"), &patient);
    if let Some(e) = encounter {
        w.reference(Some("encounter"), &e);
    }
}

pub(crate) fn map(msg: &Message<'_>) -> Result<Mapped, Error> {
    let header = msg.header();
    let msh = header.segment().ok_or(Error::NoMessageType)?;
    let mt = header.message_type().ok_or(Error::NoMessageType)?;
    let trigger = match mt.known() {
        Some(k) if is_supported(k) => k,
        _ => {
            return Err(Error::Unsupported {
                message_type: mt
                    .to_string()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '^' || *c == '_')
                    .take(16)
                    .collect(),
            });
        }
    };
    if msg.segment("PID").is_none() {
        return Err(Error::MissingSegment { segment: "PID" });
    }
    let mut cx = Cx {
        issues: Vec::new(),
        default_offset: None,
    };
    let sent = cx.ts(msh.field(7), loc(&msh, "MSH", 7));
    cx.default_offset = sent.and_then(|t| t.offset_minutes());
    let msg_key = Key::new("message")
        .part(raw(msh.field(3)))
        .part(raw(msh.field(4)))
        .part(raw(msh.field(10)));
    let mut c = Ctx {
        msg,
        cx,
        // Bundles run to about six times the message: one allocation.
        w: W::with_capacity(msg.as_bytes().len() * 8 + 4096),
        trigger,
        facility: raw(msh.field(4)),
        msg_key,
        emitted: Vec::with_capacity(16),
        focus: Vec::with_capacity(4),
        pending: Vec::new(),
    };
    let focus = c.focus_ids();
    let open = c.header(&msh, sent.as_ref(), &focus);
    c.walk();
    debug_assert!(
        c.focus.iter().map(|(_, id)| *id).eq(focus.iter().copied()),
        "the focus computed before the walk is the walk's"
    );
    Ok(c.finish(&msh, sent, open))
}

#[derive(Clone, Copy)]
struct Pat {
    key: Key,
    id: Id,
}

#[derive(Clone, Copy)]
struct Order<'m> {
    obr: Option<Segment<'m>>,
    sr: Option<Id>,
}

impl<'m> Ctx<'m> {
    fn walk(&mut self) {
        let msg = self.msg;
        let n = msg.segment_count();
        let mut pat: Option<Pat> = None;
        let mut enc: Option<(Id, Option<Value<'m>>)> = None;
        let mut orc: Option<Segment<'m>> = None;
        let mut order: Option<Order<'m>> = None;
        let mut imm: Option<Id> = None;
        for i in 0..n {
            let Some(seg) = msg.segment_at(i) else {
                continue;
            };
            match seg.id_bytes() {
                b"PID" => {
                    let p = self.patient(i, &seg);
                    pat = Some(p);
                    enc = None;
                    orc = None;
                    order = None;
                    imm = None;
                }
                b"NK1" => {
                    if let Some(p) = pat {
                        self.related_person(&seg, p);
                    }
                }
                b"PV1" => {
                    if let Some(p) = pat {
                        enc = self.encounter(i, &seg, p);
                    }
                }
                b"AL1" => {
                    if let Some(p) = pat {
                        self.allergy(&seg, p);
                    }
                }
                b"DG1" => {
                    if let Some(p) = pat {
                        self.condition(&seg, p, enc);
                    }
                }
                b"PR1" => {
                    if let Some(p) = pat {
                        self.procedure(&seg, p, enc);
                    }
                }
                b"IN1" => {
                    if let Some(p) = pat {
                        self.coverage(&seg, p);
                    }
                }
                b"ORC" => {
                    orc = Some(seg);
                    order = None;
                    imm = None;
                }
                b"OBR" => {
                    if let Some(p) = pat {
                        order = Some(self.order(i, &seg, orc.as_ref(), p, enc.map(|e| e.0)));
                        imm = None;
                    }
                }
                b"RXA" => {
                    if let Some(p) = pat {
                        imm = self.immunization(i, &seg, orc.as_ref(), p, enc.map(|e| e.0));
                    }
                }
                b"OBX" => {
                    if let Some(p) = pat {
                        self.observation(&seg, p, enc.map(|e| e.0), order, imm);
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes one entry; false (and nothing written) when `id` was already
    /// written in this Bundle.
    fn entry(&mut self, ty: &'static str, id: Id, body: impl FnOnce(&mut Self)) -> bool {
        if self.emitted.iter().any(|(_, e)| *e == id) {
            return false;
        }
        let open = self.w.entry(ty, &id);
        body(self);
        self.w.end_entry(open);
        self.emitted.push((ty, id));
        self.flush_pending();
        true
    }

    fn flush_pending(&mut self) {
        while let Some(p) = self.pending.pop() {
            match p {
                Pending::Practitioner(id, xcn, at) => {
                    self.entry("Practitioner", id, |c| {
                        let ids = c.w.arr("identifier");
                        if let Some(v) = xcn.text(1) {
                            let m = c.w.item();
                            if let Some(t) = xcn.text(13) {
                                dt::concept(
                                    &mut c.w,
                                    Some("type"),
                                    "http://terminology.hl7.org/CodeSystem/v2-0203",
                                    &t,
                                    None,
                                );
                            }
                            if let Some((prefix, uid)) = xcn.get(9).and_then(dt::hd_uri) {
                                c.w.key("system");
                                c.w.str2(prefix, &uid);
                            }
                            c.w.kv("value", &v);
                            c.w.end(m);
                        }
                        c.w.end(ids);
                        let names = c.w.arr("name");
                        dt::human_name(&mut c.cx, &mut c.w, &xcn, true, at);
                        c.w.end(names);
                    });
                }
                Pending::Location(id, pl) => {
                    self.entry("Location", id, |c| {
                        // PL: 1 point of care, 2 room, 3 bed, 4 facility (HD), 9 description.
                        let hd1 = |n: usize| part(pl, n).and_then(|p| pt(p, 1));
                        let (name, kind) = if let Some(b) = hd1(3) {
                            (Some(b), Some(("bd", "Bed")))
                        } else if let Some(r) = hd1(2) {
                            (Some(r), Some(("ro", "Room")))
                        } else if let Some(p) = hd1(1) {
                            (Some(p), Some(("wa", "Ward")))
                        } else {
                            (hd1(4), None)
                        };
                        c.w.kv_opt("name", name.as_deref());
                        c.w.kv_opt("description", pt(pl, 9).as_deref());
                        c.w.kv_lit("mode", "instance");
                        if let Some((code, display)) = kind {
                            dt::concept(
                                &mut c.w,
                                Some("physicalType"),
                                "http://terminology.hl7.org/CodeSystem/location-physical-type",
                                code,
                                Some(display),
                            );
                        }
                    });
                }
            }
        }
    }

    fn practitioner(&mut self, xcn: Value<'m>, at: Location) -> Option<Id> {
        let xcn = xcn.split::<21>();
        let id_part = xcn.get(1).filter(|v| !v.is_empty());
        let key = Key::new("Practitioner").part(self.facility);
        let key = match id_part {
            Some(v) => key.part(v.raw()).part(raw(xcn.get(9))),
            None => {
                xcn.text(2)?;
                key.part(b"").part(xcn.value().raw())
            }
        };
        let id = key.id();
        self.pending.push(Pending::Practitioner(id, xcn, at));
        Some(id)
    }

    fn location(&mut self, pl: Value<'m>) -> Id {
        let id = Key::new("Location").part(self.facility).part(pl.raw()).id();
        self.pending.push(Pending::Location(id, pl));
        id
    }

    fn patient_key(&self, cx: Option<Value<'_>>, seg: &Segment<'_>) -> Key {
        match cx.filter(|v| part(*v, 1).is_some_and(|p| !p.is_empty())) {
            Some(v) => Key::new("patient")
                .part(self.facility)
                .part(raw(part(v, 1)))
                .part(raw(part(v, 4))),
            None => self.msg_key.part(b"patient").num(seg.position()),
        }
    }

    /// The patient key and Patient id of a PID.
    fn patient_ids(&self, seg: &Segment<'_>) -> Pat {
        let first = reps(seg, 3).find(|r| part(*r, 1).is_some_and(|p| !p.is_empty()));
        let key = self.patient_key(first, seg);
        Pat {
            key,
            id: key.part(b"Patient").id(),
        }
    }

    fn patient(&mut self, i: usize, seg: &Segment<'m>) -> Pat {
        let Pat { key, id } = self.patient_ids(seg);
        let msg = self.msg;
        // PD1 and MRG belong to this PID when they come before the next PID.
        let mut pd1 = None;
        let mut mrg = None;
        for j in i + 1..msg.segment_count() {
            let Some(s) = msg.segment_at(j) else { break };
            match s.id_bytes() {
                b"PID" => break,
                b"PD1" if pd1.is_none() => pd1 = Some(s),
                b"MRG" if mrg.is_none() => mrg = Some(s),
                _ => {}
            }
        }
        let old = mrg.and_then(|m| {
            let cx = reps(&m, 1).next()?;
            let k = self.patient_key(Some(cx), &m);
            Some((k.part(b"Patient").id(), m))
        });
        if self.trigger != KnownType::OruR01 && self.trigger != KnownType::VxuV04 {
            self.focus.push(("Patient", id));
        }
        let seg = *seg;
        self.entry("Patient", id, |c| {
            c.patient_body(&seg, pd1.as_ref());
            if let Some((old_id, _)) = old {
                let l = c.w.arr("link");
                let m = c.w.item();
                c.w.reference(Some("other"), &old_id);
                c.w.kv_lit("type", "replaces");
                c.w.end(m);
                c.w.end(l);
            }
        });
        if let Some((old_id, m)) = old {
            self.entry("Patient", old_id, |c| {
                let ids = c.w.arr("identifier");
                for r in reps(&m, 1) {
                    dt::cx(&mut c.cx, &mut c.w, None, r, None, loc(&m, "MRG", 1));
                }
                c.w.end(ids);
                c.w.key("active");
                c.w.raw("false");
                let l = c.w.arr("link");
                let lm = c.w.item();
                c.w.reference(Some("other"), &id);
                c.w.kv_lit("type", "replaced-by");
                c.w.end(lm);
                c.w.end(l);
            });
        }
        Pat { key, id }
    }

    fn patient_body(&mut self, seg: &Segment<'m>, pd1: Option<&Segment<'m>>) {
        let at = |n| loc(seg, "PID", n);
        let w = &mut self.w;
        let cx = &mut self.cx;
        // Race (PID-10) and ethnicity (PID-22): US Core extensions.
        let ext = w.arr("extension");
        for (field, url) in [
            (
                10,
                "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
            ),
            (
                22,
                "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
            ),
        ] {
            let m = w.item();
            w.kv("url", url);
            let inner = w.arr("extension");
            let mut label: Option<String> = None;
            for r in reps(seg, field) {
                let Some(code) = pt(r, 1) else { continue };
                let e = w.item();
                w.kv_lit("url", "ombCategory");
                let vc = w.obj("valueCoding");
                w.kv_lit("system", "urn:oid:2.16.840.1.113883.6.238");
                w.kv("code", &code);
                let display = pt(r, 2);
                w.kv_opt("display", display.as_deref());
                w.end(vc);
                w.end(e);
                if label.is_none() {
                    label = Some(display.unwrap_or(code).into_owned());
                }
            }
            if let Some(l) = &label {
                let e = w.item();
                w.kv_lit("url", "text");
                w.kv("valueString", l);
                w.end(e);
            }
            if label.is_some() {
                w.end(inner);
                w.end(m);
            } else {
                // Nothing coded: no extension at all, not a url alone.
                w.discard(m);
            }
        }
        w.end(ext);
        let ids = w.arr("identifier");
        for n in [2, 3, 4] {
            for r in reps(seg, n) {
                dt::cx(cx, w, None, r, None, at(n));
            }
        }
        if let Some(ssn) = text(f(seg, 19)) {
            let m = w.item();
            dt::concept(
                w,
                Some("type"),
                "http://terminology.hl7.org/CodeSystem/v2-0203",
                "SB",
                None,
            );
            w.kv_lit("system", "http://hl7.org/fhir/sid/us-ssn");
            w.kv("value", &ssn);
            w.end(m);
        }
        if let Some(dl) = f(seg, 20)
            && let Some(num) = pt(dl, 1)
        {
            let m = w.item();
            dt::concept(
                w,
                Some("type"),
                "http://terminology.hl7.org/CodeSystem/v2-0203",
                "DL",
                None,
            );
            w.kv("value", &num);
            let p = w.obj("period");
            cx.datetime(w, "end", part(dl, 3), at(20));
            w.end(p);
            w.end(m);
        }
        w.end(ids);
        let names = w.arr("name");
        for r in reps(seg, 5) {
            dt::human_name(cx, w, &r.split(), false, at(5));
        }
        w.end(names);
        let tel = w.arr("telecom");
        for r in reps(seg, 13) {
            dt::contact_point(cx, w, r, Some("home"), at(13));
        }
        for r in reps(seg, 14) {
            dt::contact_point(cx, w, r, Some("work"), at(14));
        }
        w.end(tel);
        if let Some(g) = text(f(seg, 8)) {
            match gender(&g) {
                Some(g) => w.kv("gender", g),
                None => cx.issue(IssueKind::UnknownCode, at(8)),
            }
        }
        cx.date(w, "birthDate", f(seg, 7), at(7));
        if f(seg, 29).is_some() {
            cx.datetime(w, "deceasedDateTime", f(seg, 29), at(29));
        } else if let Some(d) = text(f(seg, 30)) {
            match d.as_ref() {
                "Y" => {
                    w.key("deceasedBoolean");
                    w.raw("true");
                }
                "N" => {
                    w.key("deceasedBoolean");
                    w.raw("false");
                }
                _ => cx.issue(IssueKind::UnknownCode, at(30)),
            }
        }
        let addr = w.arr("address");
        for r in reps(seg, 11) {
            dt::address(cx, w, r, at(11));
        }
        w.end(addr);
        if let Some(ms) = f(seg, 16) {
            let code = pt(ms, 1);
            match code.as_deref().and_then(marital) {
                Some((sys, c)) => {
                    dt::concept(w, Some("maritalStatus"), sys, c, pt(ms, 2).as_deref())
                }
                None => {
                    dt::cwe(w, Some("maritalStatus"), Some(ms), Some("0002"));
                }
            }
        }
        if let Some(order) = text(f(seg, 25)) {
            match order.trim().parse::<u32>() {
                Ok(n) => {
                    w.key("multipleBirthInteger");
                    w.uint(u64::from(n));
                }
                Err(_) => cx.issue(IssueKind::BadNumber, at(25)),
            }
        } else if let Some(m) = text(f(seg, 24))
            && (m == "Y" || m == "N")
        {
            w.key("multipleBirthBoolean");
            w.raw(if m == "Y" { "true" } else { "false" });
        }
        if let Some(lang) = f(seg, 15) {
            let a = w.arr("communication");
            let m = w.item();
            if dt::cwe(w, Some("language"), Some(lang), None) {
                w.key("preferred");
                w.raw("true");
            }
            w.end(m);
            w.end(a);
        }
        if let Some(pd1) = pd1 {
            let pd1 = *pd1;
            let mut gps: Vec<Id> = Vec::new();
            for r in reps(&pd1, 4) {
                if let Some(id) = self.practitioner(r, loc(&pd1, "PD1", 4)) {
                    gps.push(id);
                }
            }
            let w = &mut self.w;
            let a = w.arr("generalPractitioner");
            for id in gps {
                w.reference(None, &id);
            }
            for r in reps(&pd1, 3) {
                if let Some(name) = pt(r, 1) {
                    let m = w.item();
                    w.kv_lit("type", "Organization");
                    w.kv("display", &name);
                    w.end(m);
                }
            }
            w.end(a);
        }
    }

    fn related_person(&mut self, seg: &Segment<'m>, p: Pat) {
        let n = text(f(seg, 1));
        let key = p.key.part(b"RelatedPerson");
        let id = match &n {
            Some(n) => key.part(n.as_bytes()).id(),
            None => key.part(b"").num(seg.position()).id(),
        };
        let seg = *seg;
        self.entry("RelatedPerson", id, |c| {
            let at = |n| loc(&seg, "NK1", n);
            let w = &mut c.w;
            let cx = &mut c.cx;
            let ids = w.arr("identifier");
            for r in reps(&seg, 33) {
                dt::cx(cx, w, None, r, None, at(33));
            }
            w.end(ids);
            w.reference(Some("patient"), &p.id);
            let rel = w.arr("relationship");
            dt::cwe(w, None, f(&seg, 3), Some("0063"));
            dt::cwe(w, None, f(&seg, 7), Some("0131"));
            w.end(rel);
            let names = w.arr("name");
            for r in reps(&seg, 2) {
                dt::human_name(cx, w, &r.split(), false, at(2));
            }
            w.end(names);
            let tel = w.arr("telecom");
            for r in reps(&seg, 5) {
                dt::contact_point(cx, w, r, Some("home"), at(5));
            }
            for r in reps(&seg, 6) {
                dt::contact_point(cx, w, r, Some("work"), at(6));
            }
            w.end(tel);
            if let Some(g) = text(f(&seg, 15)) {
                match gender(&g) {
                    Some(g) => w.kv("gender", g),
                    None => cx.issue(IssueKind::UnknownCode, at(15)),
                }
            }
            cx.date(w, "birthDate", f(&seg, 16), at(16));
            let addr = w.arr("address");
            for r in reps(&seg, 4) {
                dt::address(cx, w, r, at(4));
            }
            w.end(addr);
            cx.period(w, "period", (f(&seg, 8), at(8)), (f(&seg, 9), at(9)));
        });
    }

    /// The Encounter id of a PV1.
    fn encounter_id(&self, seg: &Segment<'_>, p: Pat) -> Id {
        match f(seg, 19).filter(|v| part(*v, 1).is_some_and(|x| !x.is_empty())) {
            Some(v) => p
                .key
                .part(b"Encounter")
                .part(raw(part(v, 1)))
                .part(raw(part(v, 4)))
                .id(),
            None => self.msg_key.part(b"Encounter").num(seg.position()).id(),
        }
    }

    fn encounter(
        &mut self,
        i: usize,
        seg: &Segment<'m>,
        p: Pat,
    ) -> Option<(Id, Option<Value<'m>>)> {
        let visit = f(seg, 19);
        let id = self.encounter_id(seg, p);
        let msg = self.msg;
        let pv2 = msg.segment_at(i + 1).filter(|s| s.id_bytes() == b"PV2");
        // Practitioners and Locations first (their entries follow the Encounter).
        let mut parts: Vec<(&'static str, &'static str, Id)> = Vec::new();
        for (n, code, display) in [
            (7, "ATND", "attender"),
            (8, "REF", "referrer"),
            (9, "CON", "consultant"),
            (17, "ADM", "admitter"),
        ] {
            for r in reps(seg, n) {
                if let Some(pid) = self.practitioner(r, loc(seg, "PV1", n)) {
                    parts.push((code, display, pid));
                }
            }
        }
        let mut locs: Vec<(&'static str, Id)> = Vec::new();
        for (n, status) in [(3, "active"), (6, "completed"), (42, "planned")] {
            if let Some(pl) = f(seg, n) {
                locs.push((status, self.location(pl)));
            }
        }
        if self.trigger.is_adt() {
            self.focus.push(("Encounter", id));
        }
        let trigger = self.trigger;
        let seg = *seg;
        self.entry("Encounter", id, |c| {
            let at = |n| loc(&seg, "PV1", n);
            let w = &mut c.w;
            let cx = &mut c.cx;
            let ids = w.arr("identifier");
            if let Some(v) = visit {
                dt::cx(cx, w, None, v, Some("VN"), at(19));
            }
            w.end(ids);
            let discharged = f(&seg, 45).is_some() && trigger != KnownType::AdtA13;
            let status = match trigger {
                KnownType::AdtA11 => "cancelled",
                _ if discharged => "finished",
                KnownType::AdtA03 => "finished",
                KnownType::AdtA05 => "planned",
                KnownType::AdtA01
                | KnownType::AdtA02
                | KnownType::AdtA04
                | KnownType::AdtA06
                | KnownType::AdtA07
                | KnownType::AdtA13
                | KnownType::AdtA17 => "in-progress",
                _ if f(&seg, 44).is_some() => "in-progress",
                _ => "unknown",
            };
            w.kv("status", status);
            let class = text(f(&seg, 2));
            let cm = w.obj("class");
            match class.as_deref().and_then(patient_class) {
                Some((sys, code, display)) => {
                    w.kv("system", sys);
                    w.kv("code", code);
                    w.kv("display", display);
                }
                None => {
                    if class.is_some() {
                        cx.issue(IssueKind::UnknownCode, at(2));
                    }
                    w.kv(
                        "system",
                        "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                    );
                    w.kv_lit("code", "UNK");
                    w.kv_lit("display", "unknown");
                }
            }
            w.end(cm);
            let ty = w.arr("type");
            dt::cwe(w, None, f(&seg, 4), Some("0007"));
            w.end(ty);
            dt::cwe(w, Some("serviceType"), f(&seg, 10), Some("0069"));
            w.reference(Some("subject"), &p.id);
            let pa = w.arr("participant");
            for (code, display, pid) in &parts {
                let m = w.item();
                let t = w.arr("type");
                dt::concept(
                    w,
                    None,
                    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    code,
                    Some(display),
                );
                w.end(t);
                w.reference(Some("individual"), pid);
                w.end(m);
            }
            w.end(pa);
            // A13 cancels the discharge: PV1-45 no longer holds.
            let end = if trigger == KnownType::AdtA13 {
                None
            } else {
                f(&seg, 45)
            };
            cx.period(w, "period", (f(&seg, 44), at(44)), (end, at(45)));
            if let Some(pv2) = pv2 {
                if let Some(days) = text(f(&pv2, 11)) {
                    let m = w.obj("length");
                    w.key("value");
                    if w.decimal(&days) {
                        w.kv_lit("unit", "d");
                        w.kv_lit("system", "http://unitsofmeasure.org");
                        w.kv_lit("code", "d");
                        w.end(m);
                    } else {
                        w.discard(m);
                        cx.issue(IssueKind::BadNumber, loc(&pv2, "PV2", 11));
                    }
                }
                let rc = w.arr("reasonCode");
                dt::cwe(w, None, f(&pv2, 3), None);
                w.end(rc);
            }
            let h = w.obj("hospitalization");
            if let Some(pre) = f(&seg, 5) {
                dt::cx(cx, w, Some("preAdmissionIdentifier"), pre, None, at(5));
            }
            dt::cwe(w, Some("admitSource"), f(&seg, 14), Some("0023"));
            dt::cwe(w, Some("dischargeDisposition"), f(&seg, 36), Some("0112"));
            w.end(h);
            let l = w.arr("location");
            for (status, lid) in &locs {
                let m = w.item();
                w.reference(Some("location"), lid);
                w.kv("status", status);
                w.end(m);
            }
            w.end(l);
        });
        Some((id, visit))
    }

    fn allergy(&mut self, seg: &Segment<'m>, p: Pat) {
        let code = f(seg, 3);
        let Some(code) = code else {
            self.cx
                .issue(IssueKind::MissingRequired, loc(seg, "AL1", 3));
            return;
        };
        let id = p.key.part(b"AllergyIntolerance").part(code.raw()).id();
        let seg = *seg;
        self.entry("AllergyIntolerance", id, |c| {
            let w = &mut c.w;
            dt::concept(
                w,
                Some("clinicalStatus"),
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "active",
                None,
            );
            if let Some(cat) = text(f(&seg, 2)) {
                let v = match cat.as_ref() {
                    "DA" | "MA" => Some("medication"),
                    "FA" => Some("food"),
                    "EA" | "AA" | "PA" | "LA" => Some("environment"),
                    _ => None,
                };
                if let Some(v) = v {
                    let a = w.arr("category");
                    w.str(v);
                    w.end(a);
                }
            }
            if let Some(sev) = f(&seg, 4).and_then(|v| pt(v, 1)) {
                let v = match sev.as_ref() {
                    "SV" => Some("high"),
                    "MO" | "MI" => Some("low"),
                    "U" => Some("unable-to-assess"),
                    _ => None,
                };
                match v {
                    Some(v) => w.kv("criticality", v),
                    None => c.cx.issue(IssueKind::UnknownCode, loc(&seg, "AL1", 4)),
                }
            }
            dt::cwe(w, Some("code"), Some(code), None);
            w.reference(Some("patient"), &p.id);
            c.cx.datetime(w, "onsetDateTime", f(&seg, 6), loc(&seg, "AL1", 6));
            let reactions: Vec<_> = reps(&seg, 5).collect();
            if !reactions.is_empty() {
                let a = w.arr("reaction");
                let m = w.item();
                let man = w.arr("manifestation");
                for r in reactions {
                    let cm = w.item();
                    w.kv("text", &r.decode());
                    w.end(cm);
                }
                w.end(man);
                w.end(m);
                w.end(a);
            }
        });
    }

    /// DG1 and PR1 share their start: code (field 3) or description (field
    /// 4), one of which is required, and an id from the patient, the visit,
    /// the code and the time (field 5).
    fn coded_event(
        &mut self,
        seg: &Segment<'m>,
        segment: &'static str,
        resource: &'static str,
        p: Pat,
        enc: Option<(Id, Option<Value<'m>>)>,
    ) -> Option<(Id, Option<Value<'m>>, Option<Cow<'m, str>>)> {
        let code = f(seg, 3);
        let desc = text(f(seg, 4));
        if code.is_none() && desc.is_none() {
            self.cx
                .issue(IssueKind::MissingRequired, loc(seg, segment, 3));
            return None;
        }
        let id = p
            .key
            .part(resource.as_bytes())
            .part(raw(enc.and_then(|e| e.1)))
            .part(raw(code))
            .part(raw(f(seg, 5)))
            .id();
        Some((id, code, desc))
    }

    fn condition(&mut self, seg: &Segment<'m>, p: Pat, enc: Option<(Id, Option<Value<'m>>)>) {
        let Some((id, code, desc)) = self.coded_event(seg, "DG1", "Condition", p, enc) else {
            return;
        };
        let seg = *seg;
        self.entry("Condition", id, |c| {
            let w = &mut c.w;
            let cat = w.arr("category");
            dt::concept(
                w,
                None,
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "encounter-diagnosis",
                Some("Encounter Diagnosis"),
            );
            w.end(cat);
            code_subject_encounter(w, code, desc.as_deref(), p.id, enc.map(|e| e.0));
            c.cx.datetime(w, "onsetDateTime", f(&seg, 5), loc(&seg, "DG1", 5));
            c.cx.datetime(w, "recordedDate", f(&seg, 19), loc(&seg, "DG1", 19));
        });
    }

    fn procedure(&mut self, seg: &Segment<'m>, p: Pat, enc: Option<(Id, Option<Value<'m>>)>) {
        let Some((id, code, desc)) = self.coded_event(seg, "PR1", "Procedure", p, enc) else {
            return;
        };
        let mut performers = Vec::new();
        for n in [11, 12] {
            for r in reps(seg, n) {
                if let Some(pid) = self.practitioner(r, loc(seg, "PR1", n)) {
                    performers.push(pid);
                }
            }
        }
        let seg = *seg;
        self.entry("Procedure", id, |c| {
            let w = &mut c.w;
            w.kv_lit("status", "completed");
            code_subject_encounter(w, code, desc.as_deref(), p.id, enc.map(|e| e.0));
            c.cx.datetime(w, "performedDateTime", f(&seg, 5), loc(&seg, "PR1", 5));
            let a = w.arr("performer");
            for pid in performers {
                let m = w.item();
                w.reference(Some("actor"), &pid);
                w.end(m);
            }
            w.end(a);
        });
    }

    fn coverage(&mut self, seg: &Segment<'m>, p: Pat) {
        let company_id = f(seg, 3);
        let company_name = f(seg, 4).and_then(|v| pt(v, 1));
        if company_id.is_none() && company_name.is_none() {
            self.cx
                .issue(IssueKind::MissingRequired, loc(seg, "IN1", 3));
            return;
        }
        let id = p
            .key
            .part(b"Coverage")
            .part(raw(company_id.and_then(|v| part(v, 1))))
            .part(raw(f(seg, 36)))
            .part(raw(f(seg, 2)))
            .id();
        let seg = *seg;
        self.entry("Coverage", id, |c| {
            let at = |n| loc(&seg, "IN1", n);
            let w = &mut c.w;
            let cx = &mut c.cx;
            let ids = w.arr("identifier");
            if let Some(policy) = text(f(&seg, 36)) {
                let m = w.item();
                dt::concept(
                    w,
                    Some("type"),
                    "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "MB",
                    None,
                );
                w.kv("value", &policy);
                w.end(m);
            }
            w.end(ids);
            w.kv_lit("status", "active");
            dt::cwe(w, Some("type"), f(&seg, 15), Some("0086"));
            w.kv_opt("subscriberId", text(f(&seg, 36)).as_deref());
            w.reference(Some("beneficiary"), &p.id);
            if let Some(rel) = f(&seg, 17).and_then(|v| pt(v, 1)) {
                let code = match rel.as_ref() {
                    "SEL" => Some("self"),
                    "SPO" => Some("spouse"),
                    "CHD" => Some("child"),
                    "DOM" => Some("common"),
                    "EME" | "EMR" => Some("injured"),
                    _ => Some("other"),
                };
                if let Some(code) = code {
                    dt::concept(
                        w,
                        Some("relationship"),
                        "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                        code,
                        None,
                    );
                    if code == "self" {
                        w.reference(Some("subscriber"), &p.id);
                    }
                }
            }
            cx.period(w, "period", (f(&seg, 12), at(12)), (f(&seg, 13), at(13)));
            let pay = w.arr("payor");
            let m = w.item();
            if let Some(cid) = company_id {
                dt::cx(cx, w, Some("identifier"), cid, None, at(3));
            }
            w.kv_opt("display", company_name.as_deref());
            w.end(m);
            w.end(pay);
            let cls = w.arr("class");
            for (n, code) in [(8, "group"), (2, "plan")] {
                if let Some(v) = f(&seg, n).and_then(|v| pt(v, 1)) {
                    let m = w.item();
                    dt::concept(
                        w,
                        Some("type"),
                        "http://terminology.hl7.org/CodeSystem/coverage-class",
                        code,
                        None,
                    );
                    w.kv("value", &v);
                    let name = if n == 8 {
                        text(f(&seg, 9))
                    } else {
                        f(&seg, 2).and_then(|v| pt(v, 2))
                    };
                    w.kv_opt("name", name.as_deref());
                    w.end(m);
                }
            }
            w.end(cls);
        });
    }

    fn order_key(&self, seg: &Segment<'m>, orc: Option<&Segment<'m>>, kind: &[u8]) -> Id {
        let filler = f(seg, 3).or_else(|| orc.and_then(|o| f(o, 3)));
        let placer = f(seg, 2).or_else(|| orc.and_then(|o| f(o, 2)));
        match filler.or(placer) {
            Some(v) => Key::new("order")
                .part(self.facility)
                .part(kind)
                .part(if filler.is_some() { b"F" } else { b"P" })
                .part(raw(part(v, 1)))
                .part(raw(part(v, 2)))
                .id(),
            None => self.msg_key.part(kind).num(seg.position()).id(),
        }
    }

    fn obx_id(&self, obx: &Segment<'_>) -> Id {
        self.msg_key.part(b"Observation").num(obx.position()).id()
    }

    fn order(
        &mut self,
        i: usize,
        seg: &Segment<'m>,
        orc: Option<&Segment<'m>>,
        p: Pat,
        enc: Option<Id>,
    ) -> Order<'m> {
        let sr = self.order_key(seg, orc, b"ServiceRequest");
        let dr = self.order_key(seg, orc, b"DiagnosticReport");
        let msg = self.msg;
        let mut results: Vec<Segment<'m>> = Vec::new();
        for j in i + 1..msg.segment_count() {
            let Some(s) = msg.segment_at(j) else { break };
            match s.id_bytes() {
                b"OBX" => results.push(s),
                b"OBR" | b"ORC" | b"PID" | b"RXA" => break,
                _ => {}
            }
        }
        let mut requester = None;
        for r in reps(seg, 16).take(1) {
            requester = self.practitioner(r, loc(seg, "OBR", 16));
        }
        let code = f(seg, 4);
        let seg = *seg;
        let orc = orc.copied();
        let idents = |c: &mut Ctx<'m>| {
            let w = &mut c.w;
            let ids = w.arr("identifier");
            for (n, orc_n, ty) in [(2, 2, "PLAC"), (3, 3, "FILL")] {
                let v = f(&seg, n).or_else(|| orc.as_ref().and_then(|o| f(o, orc_n)));
                if let Some(v) = v
                    && let Some(value) = pt(v, 1)
                {
                    let m = w.item();
                    dt::concept(
                        w,
                        Some("type"),
                        "http://terminology.hl7.org/CodeSystem/v2-0203",
                        ty,
                        None,
                    );
                    if let Some(ns) = pt(v, 3)
                        && pt(v, 4).as_deref() == Some("ISO")
                    {
                        w.key("system");
                        w.str2("urn:oid:", &ns);
                    }
                    w.kv("value", &value);
                    w.end(m);
                }
            }
            w.end(ids);
        };
        self.entry("ServiceRequest", sr, |c| {
            idents(c);
            let status = orc
                .as_ref()
                .and_then(|o| text(f(o, 5)))
                .map_or("unknown", |s| match s.as_ref() {
                    "A" | "IP" | "SC" => "active",
                    "CM" => "completed",
                    "CA" | "DC" | "RP" => "revoked",
                    "ER" => "entered-in-error",
                    "HD" => "on-hold",
                    _ => "unknown",
                });
            let w = &mut c.w;
            w.kv("status", status);
            w.kv_lit("intent", "order");
            dt::cwe(w, Some("code"), code, None);
            w.reference(Some("subject"), &p.id);
            if let Some(e) = enc {
                w.reference(Some("encounter"), &e);
            }
            if let Some(o) = orc {
                c.cx.datetime(w, "authoredOn", f(&o, 9), loc(&o, "ORC", 9));
            }
            if let Some(r) = requester {
                w.reference(Some("requester"), &r);
            }
        });
        if code.is_none() {
            self.cx
                .issue(IssueKind::MissingRequired, loc(&seg, "OBR", 4));
        } else {
            if self.trigger == KnownType::OruR01 {
                self.focus.push(("DiagnosticReport", dr));
            }
            let result_ids: Vec<Id> = results.iter().map(|o| self.obx_id(o)).collect();
            self.entry("DiagnosticReport", dr, |c| {
                idents(c);
                let status = text(f(&seg, 25)).map_or("unknown", |s| match s.as_ref() {
                    "O" | "I" | "S" => "registered",
                    "A" => "partial",
                    "P" | "R" => "preliminary",
                    "C" => "corrected",
                    "F" => "final",
                    "X" => "cancelled",
                    _ => "unknown",
                });
                let w = &mut c.w;
                let b = w.arr("basedOn");
                w.reference(None, &sr);
                w.end(b);
                w.kv("status", status);
                dt::cwe(w, Some("code"), code, None);
                w.reference(Some("subject"), &p.id);
                if let Some(e) = enc {
                    w.reference(Some("encounter"), &e);
                }
                if f(&seg, 8).is_some() {
                    c.cx.period(
                        w,
                        "effectivePeriod",
                        (f(&seg, 7), loc(&seg, "OBR", 7)),
                        (f(&seg, 8), loc(&seg, "OBR", 8)),
                    );
                } else {
                    c.cx.datetime(w, "effectiveDateTime", f(&seg, 7), loc(&seg, "OBR", 7));
                }
                let r = w.arr("result");
                for id in &result_ids {
                    w.reference(None, id);
                }
                w.end(r);
                let pf = w.arr("presentedForm");
                for obx in &results {
                    if text(f(obx, 2)).as_deref() != Some("ED") {
                        continue;
                    }
                    for ed in reps(obx, 5) {
                        attachment(w, ed);
                    }
                }
                w.end(pf);
            });
        }
        Order {
            obr: Some(seg),
            sr: Some(sr),
        }
    }

    /// The Immunization id of an RXA; `None` when it lacks the vaccine
    /// (RXA-5) or the date (RXA-3) the resource requires.
    fn immunization_id(&self, seg: &Segment<'_>, orc: Option<&Segment<'_>>, p: Pat) -> Option<Id> {
        let (Some(vaccine), Some(when)) = (f(seg, 5), f(seg, 3)) else {
            return None;
        };
        let filler = orc
            .and_then(|o| f(o, 3))
            .and_then(|v| part(v, 1))
            .filter(|v| !v.is_empty());
        Some(match filler {
            Some(v) => Key::new("Immunization")
                .part(self.facility)
                .part(v.raw())
                .id(),
            None => p
                .key
                .part(b"Immunization")
                .part(raw(part(vaccine, 1)))
                .part(when.raw())
                .id(),
        })
    }

    fn immunization(
        &mut self,
        _i: usize,
        seg: &Segment<'m>,
        orc: Option<&Segment<'m>>,
        p: Pat,
        enc: Option<Id>,
    ) -> Option<Id> {
        let vaccine = f(seg, 5);
        let when = f(seg, 3);
        let (Some(vaccine), Some(id)) = (vaccine, self.immunization_id(seg, orc, p)) else {
            let n = if vaccine.is_none() { 5 } else { 3 };
            self.cx
                .issue(IssueKind::MissingRequired, loc(seg, "RXA", n));
            return None;
        };
        let mut performers = Vec::new();
        for r in reps(seg, 10) {
            if let Some(pid) = self.practitioner(r, loc(seg, "RXA", 10)) {
                performers.push(pid);
            }
        }
        if self.trigger == KnownType::VxuV04 {
            self.focus.push(("Immunization", id));
        }
        let msg = self.msg;
        let rxr = msg
            .segment_at(seg.position())
            .filter(|s| s.id_bytes() == b"RXR");
        let seg = *seg;
        let wrote = self.entry("Immunization", id, |c| {
            let at = |n| loc(&seg, "RXA", n);
            let w = &mut c.w;
            let cx = &mut c.cx;
            let status = if text(f(&seg, 21)).as_deref() == Some("D") {
                "entered-in-error"
            } else {
                match text(f(&seg, 20)).as_deref() {
                    Some("RE") | Some("NA") => "not-done",
                    _ => "completed",
                }
            };
            w.kv("status", status);
            if status == "not-done" {
                dt::cwe(w, Some("statusReason"), f(&seg, 18), None);
            }
            dt::cwe(w, Some("vaccineCode"), Some(vaccine), None);
            w.reference(Some("patient"), &p.id);
            if let Some(e) = enc {
                w.reference(Some("encounter"), &e);
            }
            cx.datetime(w, "occurrenceDateTime", when, at(3));
            if let Some(src) = f(&seg, 9).and_then(|v| pt(v, 1))
                && (src == "00" || src == "01")
            {
                w.key("primarySource");
                w.raw(if src == "00" { "true" } else { "false" });
            }
            if let Some(m) = f(&seg, 17)
                && let Some(name) = pt(m, 2).or_else(|| pt(m, 1))
            {
                let r = w.obj("manufacturer");
                w.kv("display", &name);
                w.end(r);
            }
            w.kv_opt(
                "lotNumber",
                reps(&seg, 15).next().and_then(|v| v.text()).as_deref(),
            );
            cx.date(w, "expirationDate", f(&seg, 16), at(16));
            if let Some(rxr) = rxr {
                dt::cwe(w, Some("site"), f(&rxr, 2), Some("0163"));
                dt::cwe(w, Some("route"), f(&rxr, 1), Some("0162"));
            }
            if let Some(amount) = text(f(&seg, 6)).filter(|a| a.trim() != "999") {
                let m = w.obj("doseQuantity");
                w.key("value");
                if w.decimal(&amount) {
                    if let Some(u) = f(&seg, 7) {
                        unit(w, u);
                    }
                    w.end(m);
                } else {
                    w.discard(m);
                    cx.issue(IssueKind::BadNumber, at(6));
                }
            }
            let a = w.arr("performer");
            for pid in performers {
                let m = w.item();
                dt::concept(
                    w,
                    Some("function"),
                    "http://terminology.hl7.org/CodeSystem/v2-0443",
                    "AP",
                    Some("Administering Provider"),
                );
                w.reference(Some("actor"), &pid);
                w.end(m);
            }
            w.end(a);
        });
        let _ = wrote;
        Some(id)
    }

    fn observation(
        &mut self,
        seg: &Segment<'m>,
        p: Pat,
        enc: Option<Id>,
        order: Option<Order<'m>>,
        imm: Option<Id>,
    ) {
        let Some(code) = f(seg, 3) else {
            self.cx
                .issue(IssueKind::MissingRequired, loc(seg, "OBX", 3));
            return;
        };
        let id = self.obx_id(seg);
        let mut performers = Vec::new();
        for r in reps(seg, 16) {
            if let Some(pid) = self.practitioner(r, loc(seg, "OBX", 16)) {
                performers.push(pid);
            }
        }
        let seg = *seg;
        self.entry("Observation", id, |c| {
            let at = |n| loc(&seg, "OBX", n);
            let w = &mut c.w;
            let cx = &mut c.cx;
            if let Some(sr) = order.and_then(|o| o.sr) {
                let b = w.arr("basedOn");
                w.reference(None, &sr);
                w.end(b);
            }
            if let Some(i) = imm {
                let b = w.arr("partOf");
                w.reference(None, &i);
                w.end(b);
            }
            let status = text(f(&seg, 11)).map_or("unknown", |s| match s.as_ref() {
                "C" => "corrected",
                "D" | "W" => "entered-in-error",
                "F" | "U" => "final",
                "I" | "O" => "registered",
                "P" | "R" | "S" => "preliminary",
                "A" => "amended",
                "X" | "N" => "cancelled",
                _ => "unknown",
            });
            w.kv("status", status);
            dt::cwe(w, Some("code"), Some(code), None);
            w.reference(Some("subject"), &p.id);
            if let Some(e) = enc {
                w.reference(Some("encounter"), &e);
            }
            if f(&seg, 14).is_some() {
                cx.datetime(w, "effectiveDateTime", f(&seg, 14), at(14));
            } else if let Some(obr) = order.and_then(|o| o.obr) {
                cx.datetime(w, "effectiveDateTime", f(&obr, 7), loc(&obr, "OBR", 7));
            }
            let a = w.arr("performer");
            for pid in &performers {
                w.reference(None, pid);
            }
            w.end(a);
            let ty = text(f(&seg, 2));
            let values: Vec<Value<'m>> = reps(&seg, 5).collect();
            let units = f(&seg, 6);
            if let Some(ty) = ty.as_deref() {
                if values.len() == 1 {
                    obs_value(cx, w, ty, values[0], units, at(5));
                } else if values.len() > 1 {
                    let comps = w.arr("component");
                    for v in &values {
                        let m = w.item();
                        dt::cwe(w, Some("code"), Some(code), None);
                        obs_value(cx, w, ty, *v, units, at(5));
                        w.end(m);
                    }
                    w.end(comps);
                }
            }
            let interp = w.arr("interpretation");
            for r in reps(&seg, 8) {
                let (c1, sys) = (pt(r, 1), pt(r, 3));
                if let (Some(c1), true) = (&c1, sys.as_deref().is_none_or(|s| s == "HL70078")) {
                    dt::concept(
                        w,
                        None,
                        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        c1,
                        pt(r, 2).as_deref(),
                    );
                } else {
                    dt::cwe(w, None, Some(r), None);
                }
            }
            w.end(interp);
            if let Some(range) = text(f(&seg, 7)) {
                let rr = w.arr("referenceRange");
                let m = w.item();
                w.kv("text", &range);
                w.end(m);
                w.end(rr);
            }
        });
    }

    /// Writes the start of the Bundle and its first entry, the
    /// MessageHeader (its `focus` computed beforehand by
    /// [`Ctx::focus_ids`]), so the resources follow in the same buffer.
    /// Returns the open Bundle and `entry` array.
    fn header(
        &mut self,
        msh: &Segment<'m>,
        sent: Option<&caresync_hl7v2::Timestamp>,
        focus: &[Id],
    ) -> (Mark, Mark) {
        let mut w = std::mem::replace(&mut self.w, W::with_capacity(0));
        let bundle_id = self.msg_key.part(b"Bundle").id();
        let mh_id = self.msg_key.part(b"MessageHeader").id();
        let top = w.item();
        w.kv_lit("resourceType", "Bundle");
        w.kv_id("id", &bundle_id);
        let control = text(msh.field(10));
        if let Some(cid) = &control {
            let m = w.obj("identifier");
            if let Some((prefix, uid)) = msh.field(3).and_then(dt::hd_uri) {
                w.key("system");
                w.str2(prefix, &uid);
            }
            w.kv("value", cid);
            w.end(m);
        }
        w.kv_lit("type", "message");
        if let Some(t) = sent {
            w.key("timestamp");
            dt::write_instant(&mut w, t);
        }
        let entries = w.arr("entry");
        // MessageHeader.
        let open = w.entry("MessageHeader", &mh_id);
        let mt = msh.field(9);
        let ec = w.obj("eventCoding");
        w.kv_lit("system", "http://terminology.hl7.org/CodeSystem/v2-0003");
        w.kv_opt("code", mt.and_then(|v| pt(v, 2)).as_deref());
        w.end(ec);
        if let Some(dest) = f(msh, 5) {
            let d = w.arr("destination");
            let m = w.item();
            w.kv_opt("name", pt(dest, 1).as_deref());
            w.key("endpoint");
            match dt::hd_uri(dest) {
                Some((prefix, uid)) => w.str2(prefix, &uid),
                None => w.str(&dest.decode()),
            }
            w.end(m);
            w.end(d);
        }
        if let Some(fac) = f(msh, 4).and_then(|v| pt(v, 1)) {
            let m = w.obj("sender");
            w.kv_lit("type", "Organization");
            w.kv("display", &fac);
            w.end(m);
        }
        let src = w.obj("source");
        let app = f(msh, 3);
        w.kv_opt("name", app.and_then(|v| pt(v, 1)).as_deref());
        w.key("endpoint");
        match app.and_then(dt::hd_uri) {
            Some((prefix, uid)) => w.str2(prefix, &uid),
            None => match app.and_then(|v| pt(v, 1)) {
                Some(n) => w.str(&n),
                None => w.str("unknown"),
            },
        }
        w.end(src);
        let fo = w.arr("focus");
        for id in focus {
            w.reference(None, id);
        }
        w.end(fo);
        w.end_entry(open);
        self.w = w;
        (top, entries)
    }

    /// The ids the MessageHeader's `focus` lists, in the order the walk
    /// meets them: each Patient (not for ORU^R01 or VXU^V04), each
    /// Encounter of an ADT message, each DiagnosticReport with a code
    /// (ORU^R01) and each Immunization (VXU^V04). Computed before the
    /// walk, with the walk's own id functions, so that the Bundle is
    /// written front to back in one buffer.
    fn focus_ids(&self) -> Vec<Id> {
        let msg = self.msg;
        let mut out = Vec::with_capacity(4);
        let mut pat: Option<Pat> = None;
        let mut orc: Option<Segment<'m>> = None;
        for seg in msg.segments() {
            match seg.id_bytes() {
                b"PID" => {
                    let p = self.patient_ids(&seg);
                    if self.trigger != KnownType::OruR01 && self.trigger != KnownType::VxuV04 {
                        out.push(p.id);
                    }
                    pat = Some(p);
                    orc = None;
                }
                b"PV1" if pat.is_some() && self.trigger.is_adt() => {
                    if let Some(p) = pat {
                        out.push(self.encounter_id(&seg, p));
                    }
                }
                b"ORC" => orc = Some(seg),
                b"OBR"
                    if pat.is_some()
                        && self.trigger == KnownType::OruR01
                        && f(&seg, 4).is_some() =>
                {
                    out.push(self.order_key(&seg, orc.as_ref(), b"DiagnosticReport"));
                }
                b"RXA" if self.trigger == KnownType::VxuV04 => {
                    if let Some(id) = pat.and_then(|p| self.immunization_id(&seg, orc.as_ref(), p))
                    {
                        out.push(id);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Writes the Provenance and closes the Bundle opened by [`Ctx::header`].
    fn finish(
        mut self,
        msh: &Segment<'m>,
        sent: Option<caresync_hl7v2::Timestamp>,
        (top, entries): (Mark, Mark),
    ) -> Mapped {
        let mut w = std::mem::replace(&mut self.w, W::with_capacity(0));
        let mh_id = self.msg_key.part(b"MessageHeader").id();
        let prov_id = self.msg_key.part(b"Provenance").id();
        let control = text(msh.field(10));
        let mt = msh.field(9);
        let app = f(msh, 3);
        // Provenance.
        match &sent {
            Some(t) => {
                let open = w.entry("Provenance", &prov_id);
                let tg = w.arr("target");
                w.reference(None, &mh_id);
                for (_, id) in &self.emitted {
                    w.reference(None, id);
                }
                w.end(tg);
                w.key("recorded");
                dt::write_instant(&mut w, t);
                let ag = w.arr("agent");
                let m = w.item();
                dt::concept(
                    &mut w,
                    Some("type"),
                    "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                    "author",
                    Some("Author"),
                );
                let who = w.obj("who");
                w.kv_lit("type", "Device");
                w.kv(
                    "display",
                    app.and_then(|v| pt(v, 1))
                        .as_deref()
                        .unwrap_or("unknown sending application"),
                );
                w.end(who);
                w.end(m);
                w.end(ag);
                let en = w.arr("entity");
                let m = w.item();
                w.kv_lit("role", "source");
                let what = w.obj("what");
                if let Some(cid) = &control {
                    let im = w.obj("identifier");
                    if let Some((prefix, uid)) = app.and_then(dt::hd_uri) {
                        w.key("system");
                        w.str2(prefix, &uid);
                    }
                    w.kv("value", cid);
                    w.end(im);
                }
                w.key("display");
                w.str_open();
                w.str_piece("HL7 v2 message ");
                if let Some(mt) = mt {
                    w.str_piece(pt(mt, 1).as_deref().unwrap_or(""));
                    w.str_piece("^");
                    w.str_piece(pt(mt, 2).as_deref().unwrap_or(""));
                }
                w.str_piece(" from ");
                w.str_piece(
                    app.and_then(|v| pt(v, 1))
                        .as_deref()
                        .unwrap_or("unknown sending application"),
                );
                w.str_close();
                w.end(what);
                w.end(m);
                w.end(en);
                w.end_entry(open);
            }
            None => {
                if f(msh, 7).is_none() {
                    self.cx
                        .issue(IssueKind::MissingRequired, loc(msh, "MSH", 7));
                }
            }
        }
        w.end(entries);
        w.end(top);
        Mapped {
            bundle: w.buf,
            issues: self.cx.issues,
            entries: w.entries,
        }
    }
}

/// Writes the unit of a Quantity from a CWE (OBX-6, RXA-7).
fn unit(w: &mut W, u: Value<'_>) {
    let code = pt(u, 1);
    let name = pt(u, 2).or_else(|| code.clone());
    w.kv_opt("unit", name.as_deref());
    let sys = pt(u, 3);
    if let (Some(code), Some("UCUM")) = (code, sys.as_deref()) {
        w.kv_lit("system", "http://unitsofmeasure.org");
        w.kv("code", &code);
    }
}

/// Writes an Attachment from an ED value (ED.2 type, ED.3 subtype, ED.4
/// encoding, ED.5 data); only Base64 data is kept.
fn attachment(w: &mut W, ed: Value<'_>) {
    let data = pt(ed, 5);
    let Some(data) = data.filter(|_| {
        pt(ed, 4)
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("Base64"))
    }) else {
        return;
    };
    let m = w.item();
    let sub = pt(ed, 3).map(|s| s.to_ascii_lowercase());
    let main = match pt(ed, 2).as_deref() {
        Some("TEXT") | Some("TX") => "text",
        Some("IM") => "image",
        Some("AU") => "audio",
        Some("AP") | Some("Application") => "application",
        _ => "application",
    };
    if let Some(sub) = sub {
        w.key("contentType");
        w.str_joined([main, sub.as_str()], "/");
    }
    w.kv("data", &data);
    w.end(m);
}

/// Writes `value[x]` of an Observation (or component) from one OBX-5
/// value of type `ty`.
fn obs_value(
    cx: &mut Cx,
    w: &mut W,
    ty: &str,
    v: Value<'_>,
    units: Option<Value<'_>>,
    at: Location,
) {
    match ty {
        "NM" => {
            let Some(t) = v.text() else { return };
            quantity(cx, w, "valueQuantity", &t, None, units, at);
        }
        "ST" | "TX" | "FT" => {
            if let Some(t) = v.text() {
                w.kv("valueString", &t);
            }
        }
        "CWE" | "CE" | "CNE" | "CF" => {
            dt::cwe(w, Some("valueCodeableConcept"), Some(v), None);
        }
        "IS" | "ID" => {
            if let Some(t) = v.text() {
                let m = w.obj("valueCodeableConcept");
                let a = w.arr("coding");
                let c = w.item();
                w.kv("code", &t);
                w.end(c);
                w.end(a);
                w.end(m);
            }
        }
        "DT" | "DTM" | "TS" => {
            cx.datetime(w, "valueDateTime", Some(v), at);
        }
        "SN" => {
            let comparator = pt(v, 1);
            let n1 = pt(v, 2);
            let sep = pt(v, 3);
            let n2 = pt(v, 4);
            match (n1, sep.as_deref(), n2) {
                (Some(a), Some(":") | Some("/"), Some(b)) => {
                    let m = w.obj("valueRatio");
                    quantity(cx, w, "numerator", &a, None, None, at);
                    quantity(cx, w, "denominator", &b, None, None, at);
                    w.end(m);
                }
                (Some(a), Some("-"), Some(b)) => {
                    let m = w.obj("valueRange");
                    quantity(cx, w, "low", &a, None, units, at);
                    quantity(cx, w, "high", &b, None, units, at);
                    w.end(m);
                }
                (Some(a), _, _) => {
                    let cmp = comparator
                        .as_deref()
                        .filter(|c| matches!(*c, "<" | "<=" | ">" | ">="));
                    quantity(cx, w, "valueQuantity", &a, cmp, units, at);
                }
                _ => {}
            }
        }
        "ED" | "RP" => {}
        _ => cx.issue(IssueKind::UnmappedValueType, Location { field: 2, ..at }),
    }
}

fn quantity(
    cx: &mut Cx,
    w: &mut W,
    key: &str,
    num: &str,
    comparator: Option<&str>,
    units: Option<Value<'_>>,
    at: Location,
) {
    let m = w.obj(key);
    w.key("value");
    if w.decimal(num) {
        w.kv_opt("comparator", comparator);
        if let Some(u) = units {
            unit(w, u);
        }
        w.end(m);
    } else {
        w.discard(m);
        cx.issue(IssueKind::BadNumber, at);
    }
}

fn gender(code: &str) -> Option<&'static str> {
    Some(match code {
        "F" => "female",
        "M" => "male",
        "O" | "A" | "N" => "other",
        "U" => "unknown",
        _ => return None,
    })
}

fn marital(code: &str) -> Option<(&'static str, &'static str)> {
    const V3: &str = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus";
    const NF: &str = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor";
    Some(match code {
        "A" | "E" => (V3, "L"),
        "D" => (V3, "D"),
        "M" => (V3, "M"),
        "S" => (V3, "S"),
        "W" => (V3, "W"),
        "C" => (V3, "C"),
        "G" | "P" | "R" => (V3, "T"),
        "N" => (V3, "A"),
        "I" => (V3, "I"),
        "B" => (V3, "U"),
        "U" | "T" => (NF, "UNK"),
        "O" => (NF, "OTH"),
        _ => return None,
    })
}

/// PV1-2 through the IG's table 0004 → v3-ActCode map.
fn patient_class(code: &str) -> Option<(&'static str, &'static str, &'static str)> {
    const ACT: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
    const T4: &str = "http://terminology.hl7.org/CodeSystem/v2-0004";
    Some(match code {
        "E" => (ACT, "EMER", "emergency"),
        "I" => (ACT, "IMP", "inpatient encounter"),
        "O" => (ACT, "AMB", "ambulatory"),
        "P" => (ACT, "PRENC", "pre-admission"),
        "R" => (T4, "R", "Recurring patient"),
        "B" => (T4, "B", "Obstetrics"),
        "C" => (T4, "C", "Commercial Account"),
        "N" => (T4, "N", "Not Applicable"),
        "U" => (T4, "U", "Unknown"),
        _ => return None,
    })
}
