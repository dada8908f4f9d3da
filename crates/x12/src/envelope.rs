//! Envelopes: ISA/IEA interchanges, GS/GE functional groups and ST/SE
//! transaction sets, with control numbers and counts checked.

use std::ops::Range;

use crate::error::{Error, Issue, codes};
use crate::token::{Delimiters, Segment, Tokenizer};

/// A whole input read into segments and envelopes, with the issues found.
///
/// ```
/// use caresync_x12::Document;
///
/// let input = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~GS*HC*A*B*20240101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~BHT*0019*00*1*20240101*1200*CH~SE*3*0001~GE*1*1~IEA*1*000000001~";
/// let doc = Document::read(input)?;
/// assert!(doc.issues().is_empty());
/// let tx = doc.transactions().next().expect("one transaction set");
/// assert_eq!(tx.set_id(), Some("837"));
/// assert_eq!(tx.implementation(), Some("005010X222A1"));
/// assert_eq!(tx.body().len(), 1);
/// # Ok::<(), caresync_x12::Error>(())
/// ```
#[derive(Debug)]
pub struct Document<'a> {
    /// The input as text, when it is valid UTF-8 (checked once, so
    /// readers slice element texts from it instead of checking each).
    text: Option<&'a str>,
    segments: Vec<Segment<'a>>,
    interchanges: Vec<InterchangeIdx>,
    groups: Vec<GroupIdx>,
    transactions: Vec<TransactionIdx>,
    issues: Vec<Issue>,
}

#[derive(Clone, Debug)]
struct InterchangeIdx {
    isa: usize,
    iea: Option<usize>,
    groups: Range<usize>,
}

#[derive(Clone, Debug)]
struct GroupIdx {
    gs: Option<usize>,
    ge: Option<usize>,
    transactions: Range<usize>,
}

#[derive(Clone, Debug)]
struct TransactionIdx {
    st: usize,
    se: Option<usize>,
    group: usize,
    interchange: usize,
}

/// The builder's open envelopes.
#[derive(Default)]
struct Open {
    interchange: Option<usize>,
    group: Option<usize>,
    transaction: Option<usize>,
}

impl<'a> Document<'a> {
    /// Reads `input`: every interchange, group and transaction set in it.
    /// Fails only when no readable ISA is found at all; everything else is
    /// an [`Issue`].
    pub fn read(input: &'a [u8]) -> Result<Self, Error> {
        let mut tokens = Tokenizer::new(input);
        let mut doc = Document {
            text: std::str::from_utf8(input).ok(),
            // Healthcare segments average 20–30 bytes: room for 16-byte ones,
            // so the list is not copied as it grows (untouched room costs
            // address space only).
            segments: Vec::with_capacity(input.len() / 16 + 8),
            interchanges: Vec::new(),
            groups: Vec::new(),
            transactions: Vec::new(),
            issues: Vec::new(),
        };
        let mut open = Open::default();
        for seg in tokens.by_ref() {
            let i = doc.segments.len();
            doc.segments.push(seg);
            doc.on_segment(i, &mut open);
        }
        if !tokens.saw_interchange() {
            return Err(Error::NoInterchange);
        }
        doc.close_interchange(&mut open, None);
        let mut issues = tokens.take_issues();
        issues.append(&mut doc.issues);
        issues.sort_by_key(|i| (i.at.offset, i.at.segment));
        doc.issues = issues;
        Ok(doc)
    }

    fn on_segment(&mut self, i: usize, open: &mut Open) {
        let seg = self.segments[i];
        match seg.id() {
            b"ISA" => {
                self.close_interchange(open, None);
                self.require(&seg, 13);
                open.interchange = Some(self.interchanges.len());
                self.interchanges.push(InterchangeIdx {
                    isa: i,
                    iea: None,
                    groups: self.groups.len()..self.groups.len(),
                });
            }
            b"IEA" => {
                if open.interchange.is_none() {
                    self.unexpected(&seg);
                    return;
                }
                self.close_interchange(open, Some(i));
            }
            b"GS" => {
                if open.interchange.is_none() {
                    self.outside(&seg);
                    return;
                }
                self.close_group(open, None);
                self.require(&seg, 6);
                open.group = Some(self.open_group(Some(i)));
            }
            b"GE" => {
                if open.group.is_none() {
                    self.unexpected(&seg);
                    return;
                }
                self.close_group(open, Some(i));
            }
            b"ST" => {
                if open.interchange.is_none() {
                    self.outside(&seg);
                    return;
                }
                self.close_transaction(open, None);
                let group = match open.group {
                    Some(g) => g,
                    None => {
                        // A transaction set without GS: kept, in a group of its own.
                        self.outside(&seg);
                        let g = self.open_group(None);
                        open.group = Some(g);
                        g
                    }
                };
                self.require(&seg, 1);
                self.require(&seg, 2);
                open.transaction = Some(self.transactions.len());
                self.transactions.push(TransactionIdx {
                    st: i,
                    se: None,
                    group,
                    interchange: open.interchange.unwrap_or(0),
                });
                self.groups[group].transactions.end = self.transactions.len();
            }
            b"SE" => {
                if open.transaction.is_none() {
                    self.unexpected(&seg);
                    return;
                }
                self.close_transaction(open, Some(i));
            }
            b"TA1" => {
                // Interchange acknowledgements sit between ISA and GS.
                if open.interchange.is_none() || open.group.is_some() {
                    self.outside(&seg);
                }
            }
            _ => {
                if open.transaction.is_none() {
                    self.outside(&seg);
                }
            }
        }
    }

    fn open_group(&mut self, gs: Option<usize>) -> usize {
        let g = self.groups.len();
        let t = self.transactions.len();
        self.groups.push(GroupIdx {
            gs,
            ge: None,
            transactions: t..t,
        });
        if let Some(ic) = self.interchanges.last_mut() {
            ic.groups.end = self.groups.len();
        }
        g
    }

    fn require(&mut self, seg: &Segment<'a>, n: u16) {
        if seg.text(usize::from(n)).is_none_or(|t| t.trim().is_empty()) {
            self.issues
                .push(Issue::error(codes::MISSING_ELEMENT, seg.position(n)));
        }
    }

    fn outside(&mut self, seg: &Segment<'a>) {
        self.issues
            .push(Issue::error(codes::OUTSIDE_ENVELOPE, seg.position(0)));
    }

    fn unexpected(&mut self, seg: &Segment<'a>) {
        self.issues
            .push(Issue::error(codes::UNEXPECTED_TRAILER, seg.position(0)));
    }

    /// Reports a missing trailer at the segment that forced the close (or
    /// the last segment, at the end of the input).
    fn missing_trailer(&mut self, header: usize) {
        let at = self.segments[header].position(0);
        self.issues.push(Issue::error(codes::MISSING_TRAILER, at));
    }

    fn close_transaction(&mut self, open: &mut Open, se: Option<usize>) {
        let Some(t) = open.transaction.take() else {
            return;
        };
        let st = self.transactions[t].st;
        let Some(se_i) = se else {
            self.missing_trailer(st);
            return;
        };
        self.transactions[t].se = Some(se_i);
        let (st_seg, se_seg) = (self.segments[st], self.segments[se_i]);
        let count = se_i - st + 1;
        self.check_count(&se_seg, 1, count);
        self.check_control(&st_seg, 2, &se_seg, 2);
    }

    fn close_group(&mut self, open: &mut Open, ge: Option<usize>) {
        self.close_transaction(open, None);
        let Some(g) = open.group.take() else {
            return;
        };
        let Some(gs) = self.groups[g].gs else {
            // A group opened for a stray ST has no GS to check against.
            return;
        };
        let Some(ge_i) = ge else {
            self.missing_trailer(gs);
            return;
        };
        self.groups[g].ge = Some(ge_i);
        let (gs_seg, ge_seg) = (self.segments[gs], self.segments[ge_i]);
        let count = self.groups[g].transactions.len();
        self.check_count(&ge_seg, 1, count);
        self.check_control(&gs_seg, 6, &ge_seg, 2);
    }

    fn close_interchange(&mut self, open: &mut Open, iea: Option<usize>) {
        self.close_group(open, None);
        let Some(ic) = open.interchange.take() else {
            return;
        };
        let isa = self.interchanges[ic].isa;
        let end = iea.map_or(self.segments.len(), |i| i + 1);
        self.check_component_separator(isa, end);
        let Some(iea_i) = iea else {
            self.missing_trailer(isa);
            return;
        };
        self.interchanges[ic].iea = Some(iea_i);
        let (isa_seg, iea_seg) = (self.segments[isa], self.segments[iea_i]);
        let count = self.interchanges[ic].groups.len();
        self.check_count(&iea_seg, 1, count);
        self.check_control(&isa_seg, 13, &iea_seg, 2);
    }

    /// Some senders declare one component separator in ISA16 and use
    /// another. When the declared one appears nowhere after the ISA, and a
    /// composite the healthcare guides always send (`HI01`, `SV101`,
    /// `SV202`, `SV301`, `SVC01`, `CLM05`) is plainly cut by another
    /// delimiter character (`BK>7215`), that character is taken for the
    /// interchange, with a warning at the segment that showed it.
    fn check_component_separator(&mut self, isa: usize, end: usize) {
        let declared = self.segments[isa].delimiters();
        let body = &self.segments[isa + 1..end];
        if body
            .iter()
            .any(|s| memchr::memchr(declared.component, s.raw()).is_some())
        {
            return;
        }
        let found = body.iter().find_map(|s| {
            let n = match s.id() {
                b"HI" | b"SV1" | b"SV3" | b"SVC" => 1,
                b"SV2" => 2,
                b"CLM" => 5,
                _ => return None,
            };
            let raw = s.element(n)?.raw();
            let sep = observed_separator(raw, declared)?;
            Some((s.position(n as u16), sep))
        });
        let Some((at, sep)) = found else {
            return;
        };
        for s in &mut self.segments[isa..end] {
            *s = s.with_component(sep);
        }
        self.issues
            .push(Issue::warning(codes::COMPONENT_SEPARATOR_MISMATCH, at));
    }

    fn check_count(&mut self, trailer: &Segment<'a>, n: u16, actual: usize) {
        let stated = trailer
            .text(usize::from(n))
            .and_then(|t| t.trim().parse::<usize>().ok());
        if stated != Some(actual) {
            self.issues
                .push(Issue::error(codes::COUNT_MISMATCH, trailer.position(n)));
        }
    }

    fn check_control(&mut self, header: &Segment<'a>, hn: u16, trailer: &Segment<'a>, tn: u16) {
        let h = header.text(usize::from(hn)).map(control_number);
        let t = trailer.text(usize::from(tn)).map(control_number);
        if h.is_none() || h != t {
            self.issues.push(Issue::error(
                codes::CONTROL_NUMBER_MISMATCH,
                trailer.position(tn),
            ));
        }
    }

    /// Every segment of the input, in order.
    pub fn segments(&self) -> &[Segment<'a>] {
        &self.segments
    }

    /// The text of `seg` (a segment of this document) when the input is
    /// valid UTF-8.
    pub(crate) fn text_of(&self, seg: &Segment<'a>) -> Option<&'a str> {
        let at = seg.offset();
        self.text?.get(at..at + seg.raw().len())
    }

    /// The issues found while reading, in input order.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// The interchanges, in input order.
    pub fn interchanges(&self) -> impl Iterator<Item = Interchange<'_, 'a>> + '_ {
        self.interchanges
            .iter()
            .map(move |idx| Interchange { doc: self, idx })
    }

    /// Every transaction set of every group and interchange, in input order.
    pub fn transactions(&self) -> impl Iterator<Item = Transaction<'_, 'a>> + '_ {
        self.transactions
            .iter()
            .map(move |idx| Transaction { doc: self, idx })
    }
}

/// The separator a composite such as `BK>7215` or `HC>98940` is cut with:
/// one to three letters or digits, then a delimiter character that is not
/// one of the interchange's other delimiters, then more data.
fn observed_separator(raw: &[u8], d: Delimiters) -> Option<u8> {
    let at = raw.iter().position(|b| !b.is_ascii_alphanumeric())?;
    let sep = raw[at];
    let usable = (1..=3).contains(&at)
        && at + 1 < raw.len()
        && sep.is_ascii_punctuation()
        && ![Some(d.element), Some(d.segment), d.repetition].contains(&Some(sep));
    usable.then_some(sep)
}

/// A control number compared by value when numeric (`000000001` = `1`),
/// as text otherwise.
fn control_number(t: &str) -> Result<u64, &str> {
    let t = t.trim();
    t.parse::<u64>().map_err(|_| t)
}

/// One ISA/IEA interchange.
#[derive(Clone, Copy, Debug)]
pub struct Interchange<'d, 'a> {
    doc: &'d Document<'a>,
    idx: &'d InterchangeIdx,
}

impl<'d, 'a> Interchange<'d, 'a> {
    /// The ISA segment.
    pub fn isa(&self) -> Segment<'a> {
        self.doc.segments[self.idx.isa]
    }

    /// The IEA segment, when present.
    pub fn iea(&self) -> Option<Segment<'a>> {
        self.idx.iea.map(|i| self.doc.segments[i])
    }

    /// The delimiters the ISA declares.
    pub fn delimiters(&self) -> Delimiters {
        self.isa().delimiters()
    }

    fn isa_text(&self, n: usize) -> Option<&'a str> {
        self.isa().text(n).map(str::trim).filter(|t| !t.is_empty())
    }

    /// ISA13, the interchange control number.
    pub fn control_number(&self) -> Option<&'a str> {
        self.isa_text(13)
    }

    /// ISA05/ISA06: sender id qualifier and id.
    pub fn sender(&self) -> (Option<&'a str>, Option<&'a str>) {
        (self.isa_text(5), self.isa_text(6))
    }

    /// ISA07/ISA08: receiver id qualifier and id.
    pub fn receiver(&self) -> (Option<&'a str>, Option<&'a str>) {
        (self.isa_text(7), self.isa_text(8))
    }

    /// ISA09/ISA10: date (YYMMDD) and time (HHMM).
    pub fn date_time(&self) -> (Option<&'a str>, Option<&'a str>) {
        (self.isa_text(9), self.isa_text(10))
    }

    /// ISA12, the interchange control version (`00501`).
    pub fn version(&self) -> Option<&'a str> {
        self.isa_text(12)
    }

    /// ISA14: whether the sender asked for a TA1.
    pub fn ack_requested(&self) -> bool {
        self.isa_text(14) == Some("1")
    }

    /// ISA15: `P` production, `T` test.
    pub fn usage(&self) -> Option<&'a str> {
        self.isa_text(15)
    }

    /// The functional groups of the interchange.
    pub fn groups(&self) -> impl Iterator<Item = Group<'d, 'a>> + use<'d, 'a> {
        let doc = self.doc;
        doc.groups[self.idx.groups.clone()]
            .iter()
            .map(move |idx| Group { doc, idx })
    }
}

/// One GS/GE functional group.
#[derive(Clone, Copy, Debug)]
pub struct Group<'d, 'a> {
    doc: &'d Document<'a>,
    idx: &'d GroupIdx,
}

impl<'d, 'a> Group<'d, 'a> {
    /// The GS segment; `None` for transaction sets sent without one.
    pub fn gs(&self) -> Option<Segment<'a>> {
        self.idx.gs.map(|i| self.doc.segments[i])
    }

    /// The GE segment, when present.
    pub fn ge(&self) -> Option<Segment<'a>> {
        self.idx.ge.map(|i| self.doc.segments[i])
    }

    fn gs_text(&self, n: usize) -> Option<&'a str> {
        self.gs()?.text(n).map(str::trim).filter(|t| !t.is_empty())
    }

    /// GS01, the functional identifier (`HC` claims, `HP` remittances).
    pub fn functional_id(&self) -> Option<&'a str> {
        self.gs_text(1)
    }

    /// GS06, the group control number.
    pub fn control_number(&self) -> Option<&'a str> {
        self.gs_text(6)
    }

    /// GS08, the version / implementation convention (`005010X222A1`).
    pub fn version(&self) -> Option<&'a str> {
        self.gs_text(8)
    }

    /// The transaction sets of the group.
    pub fn transactions(&self) -> impl Iterator<Item = Transaction<'d, 'a>> + use<'d, 'a> {
        let doc = self.doc;
        doc.transactions[self.idx.transactions.clone()]
            .iter()
            .map(move |idx| Transaction { doc, idx })
    }
}

/// One ST/SE transaction set.
#[derive(Clone, Copy, Debug)]
pub struct Transaction<'d, 'a> {
    doc: &'d Document<'a>,
    idx: &'d TransactionIdx,
}

impl<'d, 'a> Transaction<'d, 'a> {
    /// The ST segment.
    pub fn st(&self) -> Segment<'a> {
        self.doc.segments[self.idx.st]
    }

    /// The text of `seg`, a segment of this transaction's document, when
    /// the input is valid UTF-8.
    pub(crate) fn text_of(&self, seg: &Segment<'a>) -> Option<&'a str> {
        self.doc.text_of(seg)
    }

    /// The SE segment, when present.
    pub fn se(&self) -> Option<Segment<'a>> {
        self.idx.se.map(|i| self.doc.segments[i])
    }

    /// ST01, the transaction set id (`837`, `835`, `999`).
    pub fn set_id(&self) -> Option<&'a str> {
        self.st().text(1).map(str::trim)
    }

    /// ST02, the transaction set control number.
    pub fn control_number(&self) -> Option<&'a str> {
        self.st().text(2).map(str::trim)
    }

    /// The implementation convention: ST03, or the group's GS08 when ST03
    /// is empty (as in 004010).
    pub fn implementation(&self) -> Option<&'a str> {
        self.st()
            .text(3)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .or_else(|| self.group().version())
    }

    /// The functional group the set belongs to.
    pub fn group(&self) -> Group<'d, 'a> {
        Group {
            doc: self.doc,
            idx: &self.doc.groups[self.idx.group],
        }
    }

    /// The interchange the set belongs to.
    pub fn interchange(&self) -> Interchange<'d, 'a> {
        Interchange {
            doc: self.doc,
            idx: &self.doc.interchanges[self.idx.interchange],
        }
    }

    /// The segments between ST and SE (or up to the next envelope segment
    /// when SE is missing).
    pub fn body(&self) -> &'d [Segment<'a>] {
        let start = self.idx.st + 1;
        let end = match self.idx.se {
            Some(se) => se,
            None => {
                let rest = &self.doc.segments[start..];
                start
                    + rest
                        .iter()
                        .position(|s| matches!(s.id(), b"ST" | b"GE" | b"GS" | b"IEA" | b"ISA"))
                        .unwrap_or(rest.len())
            }
        };
        &self.doc.segments[start..end]
    }
}
