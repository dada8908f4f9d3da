//! Delimiters read from the ISA, and the tokenizer that cuts an input into
//! segments without copying.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Issue, Position, codes};

/// The delimiters of one interchange, read from its ISA segment: never
/// assumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// Element separator (ISA's fourth byte), usually `*`.
    pub element: u8,
    /// Component (sub-element) separator (ISA16), usually `:` or `>`.
    pub component: u8,
    /// Repetition separator (ISA11 from version 00402 on), usually `^`.
    pub repetition: Option<u8>,
    /// Segment terminator (the byte after ISA16), usually `~`.
    pub segment: u8,
}

impl Default for Delimiters {
    /// `*`, `:`, `^` and `~`: what most 005010 senders use.
    fn default() -> Self {
        Delimiters {
            element: b'*',
            component: b':',
            repetition: Some(b'^'),
            segment: b'~',
        }
    }
}

/// How far into an ISA the reader looks for its sixteen element separators.
/// A standard ISA is 106 bytes; senders that do not pad its fields write
/// fewer, and padding beyond this is not an ISA any more.
const ISA_SCAN_LIMIT: usize = 256;

impl Delimiters {
    /// Reads the delimiters from an ISA segment at the start of `b`, and
    /// the length of the ISA with its terminator. The ISA's fields need not
    /// be padded to their fixed widths (a common deviation): the sixteen
    /// element separators are counted instead. `None` when `b` does not
    /// start with a readable ISA, so a name such as `ISAAC` is never taken
    /// for one.
    ///
    /// ```
    /// use caresync_x12::Delimiters;
    ///
    /// let isa = b"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*^*00501*000000001*0*P*:~";
    /// let (d, len) = Delimiters::from_isa(isa).expect("an ISA");
    /// assert_eq!((d.element, d.component, d.repetition, d.segment), (b'*', b':', Some(b'^'), b'~'));
    /// assert_eq!(len, 106);
    /// assert!(Delimiters::from_isa(b"ISAAC*NEWTON~").is_none());
    /// ```
    pub fn from_isa(b: &[u8]) -> Option<(Delimiters, usize)> {
        if !b.starts_with(b"ISA") {
            return None;
        }
        let element = *b.get(3)?;
        if !is_delimiter(element) {
            return None;
        }
        let mut seps = [0usize; 16];
        let mut found = 0;
        for (i, &c) in b.iter().enumerate().take(ISA_SCAN_LIMIT).skip(3) {
            if c == element {
                seps[found] = i;
                found += 1;
                if found == 16 {
                    break;
                }
            }
        }
        if found < 16 {
            return None;
        }
        let last = seps[15];
        let component = *b.get(last + 1)?;
        let segment = *b.get(last + 2)?;
        if !is_delimiter(component)
            || !(is_delimiter(segment) || segment == b'\n' || segment == b'\r')
            || component == element
            || segment == element
            || segment == component
        {
            return None;
        }
        // ISA11 is the repetition separator from version 00402 on; before,
        // it is the standards identifier `U`.
        let isa11 = &b[seps[10] + 1..seps[11]];
        let isa12 = &b[seps[11] + 1..seps[12]];
        let repetition = match isa11 {
            [r] if isa12 >= b"00402".as_slice()
                && is_delimiter(*r)
                && ![element, component, segment].contains(r) =>
            {
                Some(*r)
            }
            _ => None,
        };
        Some((
            Delimiters {
                element,
                component,
                repetition,
                segment,
            },
            last + 3,
        ))
    }
}

/// Whether a segment starts with a valid id (the rule of
/// [`is_segment_id`](crate::error::is_segment_id)) followed by the element
/// separator or the end, looking at its first four bytes only.
#[inline]
fn valid_id(raw: &[u8], element: u8) -> bool {
    let len = match raw {
        [_, _] => 2,
        [_, _, e, ..] if *e == element => 2,
        [_, _, _] => 3,
        [_, _, _, e, ..] if *e == element => 3,
        _ => return false,
    };
    crate::error::is_segment_id(&raw[..len])
}

/// A byte that may serve as a delimiter: printable, not a letter, digit or
/// space (X12 data uses those).
fn is_delimiter(b: u8) -> bool {
    b.is_ascii_graphic() && !b.is_ascii_alphanumeric() || matches!(b, 0x1c..=0x1f | 0x07)
}

/// One segment: its bytes without the terminator, where it is, and the
/// delimiters of its interchange.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    raw: &'a [u8],
    offset: usize,
    number: u32,
    delims: Delimiters,
}

impl fmt::Debug for Segment<'_> {
    /// The id, number, offset and size; never element values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("id", &self.position(0).id_str())
            .field("number", &self.number)
            .field("offset", &self.offset)
            .field("bytes", &self.raw.len())
            .finish()
    }
}

impl<'a> Segment<'a> {
    /// The segment's bytes, without its terminator.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Byte offset of the segment in the input.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// 1-based number of the segment in the input.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The delimiters of the interchange the segment belongs to.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The segment with another component separator.
    pub(crate) fn with_component(mut self, component: u8) -> Self {
        self.delims.component = component;
        self
    }

    /// The segment id (`CLM`, `N1`): the bytes before the first element
    /// separator.
    pub fn id(&self) -> &'a [u8] {
        // Ids are two or three bytes: look there before searching.
        let sep = self.delims.element;
        if let Some(at) = self.raw.iter().take(4).position(|&b| b == sep) {
            return &self.raw[..at];
        }
        match memchr::memchr(sep, self.raw) {
            Some(at) => &self.raw[..at],
            None => self.raw,
        }
    }

    /// Whether the id is `id`.
    #[inline]
    pub fn is(&self, id: &str) -> bool {
        let id = id.as_bytes();
        self.raw.starts_with(id)
            && (self.raw.len() == id.len() || self.raw[id.len()] == self.delims.element)
    }

    /// Element `n` (1-based; `CLM01` is `element(1)`); `None` when the
    /// segment has fewer elements.
    pub fn element(&self, n: usize) -> Option<Element<'a>> {
        self.elements().nth(n.checked_sub(1)?)
    }

    /// The elements after the id, in order (empty ones included).
    pub fn elements(&self) -> Elements<'a> {
        let rest = memchr::memchr(self.delims.element, self.raw).map(|at| &self.raw[at + 1..]);
        Elements {
            rest,
            delims: self.delims,
        }
    }

    /// The text of element `n` when it is present, not empty, and valid
    /// UTF-8 (X12 data is ASCII).
    pub fn text(&self, n: usize) -> Option<&'a str> {
        self.element(n).and_then(|e| e.text())
    }

    /// The position of element `n` of this segment (0: the segment).
    pub fn position(&self, element: u16) -> Position {
        Position::new(self.offset, self.number, self.id(), element)
    }

    /// How many elements the segment has (trailing empty ones included).
    pub fn element_count(&self) -> usize {
        self.elements().count()
    }
}

/// The elements of a segment.
#[derive(Clone, Debug)]
pub struct Elements<'a> {
    rest: Option<&'a [u8]>,
    delims: Delimiters,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        let rest = self.rest?;
        let (raw, next) = match memchr::memchr(self.delims.element, rest) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        self.rest = next;
        Some(Element {
            raw,
            delims: self.delims,
        })
    }
}

/// One element of a segment, possibly composite or repeated.
#[derive(Clone, Copy)]
pub struct Element<'a> {
    raw: &'a [u8],
    delims: Delimiters,
}

impl fmt::Debug for Element<'_> {
    /// The size only; never the value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("bytes", &self.raw.len())
            .finish()
    }
}

impl<'a> Element<'a> {
    /// The element's bytes as sent.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the element is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The element as text when not empty and valid UTF-8.
    pub fn text(&self) -> Option<&'a str> {
        if self.raw.is_empty() {
            return None;
        }
        std::str::from_utf8(self.raw).ok()
    }

    /// The element as text, invalid bytes replaced.
    pub fn text_lossy(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.raw)
    }

    /// Component `n` (1-based) of a composite element; a simple element is
    /// its own first component.
    pub fn component(&self, n: usize) -> Option<&'a [u8]> {
        self.raw
            .split(|b| *b == self.delims.component)
            .nth(n.checked_sub(1)?)
    }

    /// The text of component `n`, when present, not empty and valid UTF-8.
    pub fn component_text(&self, n: usize) -> Option<&'a str> {
        self.component(n)
            .filter(|c| !c.is_empty())
            .and_then(|c| std::str::from_utf8(c).ok())
    }

    /// The components of a composite element.
    pub fn components(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let sep = self.delims.component;
        self.raw.split(move |b| *b == sep)
    }

    /// The repetitions of a repeated element (the element itself when the
    /// interchange declares no repetition separator).
    pub fn repetitions(&self) -> impl Iterator<Item = Element<'a>> + 'a {
        let delims = self.delims;
        let sep = delims.repetition;
        let raw = self.raw;
        let mut rest = Some(raw);
        std::iter::from_fn(move || {
            let r = rest?;
            let at = sep.and_then(|s| memchr::memchr(s, r));
            let (part, next) = match at {
                Some(at) => (&r[..at], Some(&r[at + 1..])),
                None => (r, None),
            };
            rest = next;
            Some(Element { raw: part, delims })
        })
    }
}

/// Cuts an input into segments, interchange after interchange, each with
/// the delimiters of its own ISA.
///
/// Tolerated: CR/LF (and blanks) after a terminator, several interchanges
/// in one input, unpadded ISA fields. Reported as issues: data before the
/// first ISA (skipped up to a readable ISA), an unterminated last segment
/// (kept), empty segments (skipped), malformed segment ids (kept).
///
/// ```
/// use caresync_x12::Tokenizer;
///
/// let input = b"ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*^*00501*000000001*0*P*:~\r\nGS*HC*A*B*20240101*1200*1*X*005010X222A1~\r\nGE*0*1~IEA*1*000000001~";
/// let ids: Vec<_> = Tokenizer::new(input).map(|s| s.id()).collect();
/// assert_eq!(ids, [&b"ISA"[..], b"GS", b"GE", b"IEA"]);
/// ```
#[derive(Debug)]
pub struct Tokenizer<'a> {
    input: &'a [u8],
    pos: usize,
    delims: Option<Delimiters>,
    number: u32,
    issues: Vec<Issue>,
}

impl<'a> Tokenizer<'a> {
    /// A tokenizer over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Tokenizer {
            input,
            pos: 0,
            delims: None,
            number: 0,
            issues: Vec::new(),
        }
    }

    /// The issues found so far.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// The issues found, taking them.
    pub fn take_issues(&mut self) -> Vec<Issue> {
        std::mem::take(&mut self.issues)
    }

    /// Whether a readable ISA has been seen.
    pub fn saw_interchange(&self) -> bool {
        self.delims.is_some()
    }

    #[inline]
    fn skip_blanks(&mut self) {
        while let Some(&c) = self.input.get(self.pos) {
            if matches!(c, b'\r' | b'\n' | b' ' | b'\t' | 0) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn here(&self) -> Position {
        Position::new(self.pos, self.number, b"", 0)
    }

    /// Finds the next readable ISA at or after `from`, skipping anything
    /// else.
    fn find_isa(&self, from: usize) -> Option<usize> {
        let finder = memchr::memmem::find_iter(&self.input[from..], b"ISA");
        finder
            .map(|at| from + at)
            .find(|&at| Delimiters::from_isa(&self.input[at..]).is_some())
    }

    fn segment(&mut self, start: usize, end: usize, delims: Delimiters) -> Segment<'a> {
        self.number = self.number.saturating_add(1);
        Segment {
            raw: &self.input[start..end],
            offset: start,
            number: self.number,
            delims,
        }
    }
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        loop {
            self.skip_blanks();
            let start = self.pos;
            let rest = self.input.get(start..).filter(|r| !r.is_empty())?;
            if rest.starts_with(b"ISA") {
                if let Some((d, len)) = Delimiters::from_isa(rest) {
                    self.delims = Some(d);
                    self.pos = start + len;
                    return Some(self.segment(start, start + len - 1, d));
                }
                if self.delims.is_some_and(|d| rest.get(3) == Some(&d.element)) {
                    let mut at = self.here();
                    at.id = *b"ISA";
                    at.segment = self.number + 1;
                    self.issues.push(Issue::error(codes::BAD_ISA, at));
                }
            }
            let Some(d) = self.delims else {
                // Nothing readable yet: skip to the first ISA that is.
                self.issues
                    .push(Issue::error(codes::MISSING_ISA, self.here()));
                match self.find_isa(start + 1) {
                    Some(at) => {
                        self.pos = at;
                        continue;
                    }
                    None => {
                        self.pos = self.input.len();
                        return None;
                    }
                }
            };
            let (end, next) = match memchr::memchr(d.segment, rest) {
                Some(at) => (start + at, start + at + 1),
                None => {
                    let mut end = self.input.len();
                    while end > start && matches!(self.input[end - 1], b'\r' | b'\n') {
                        end -= 1;
                    }
                    let seg = self.segment(start, end, d);
                    self.issues
                        .push(Issue::error(codes::UNTERMINATED_SEGMENT, seg.position(0)));
                    self.pos = self.input.len();
                    return Some(seg);
                }
            };
            self.pos = next;
            if end == start {
                let mut at = self.here();
                at.offset = start as u64;
                self.issues.push(Issue::warning(codes::EMPTY_SEGMENT, at));
                continue;
            }
            let seg = self.segment(start, end, d);
            if !valid_id(seg.raw, d.element) {
                self.issues
                    .push(Issue::error(codes::BAD_SEGMENT_ID, seg.position(0)));
            }
            return Some(seg);
        }
    }
}

/// The high bit of every byte of `word` equal to `b`, exactly (no
/// borrow between bytes: the low seven bits are added, not subtracted).
#[inline]
fn byte_mask(word: u64, b: u8) -> u64 {
    const LOW7: u64 = u64::from_le_bytes([0x7f; 8]);
    let y = word ^ (u64::from_le_bytes([0x01; 8]) * u64::from(b));
    // A byte's high bit ends up set when any of its bits is set.
    let t = ((y & LOW7) + LOW7) | y;
    !t & !LOW7
}

/// The elements of one segment split once, so each is reached in O(1) by
/// the transaction readers; the first `N` are kept, later ones ignored.
///
/// When the segment's text is known to be valid UTF-8 (the whole input was
/// checked once, see [`Fields::in_text`]), element texts are sliced from
/// it instead of being checked one by one.
pub(crate) struct Fields<'a, const N: usize> {
    pub(crate) seg: Segment<'a>,
    text: Option<&'a str>,
    /// Byte ranges of elements 1..=`count` in the segment.
    cuts: [(u32, u32); N],
    count: u8,
}

impl<'a, const N: usize> Fields<'a, N> {
    /// The segment's elements, each checked as UTF-8 when read.
    pub(crate) fn new(seg: Segment<'a>) -> Self {
        Self::in_text(seg, None)
    }

    /// The segment's elements; `text` is the segment as text, when known.
    pub(crate) fn in_text(seg: Segment<'a>, text: Option<&'a str>) -> Self {
        debug_assert!(text.is_none_or(|t| t.as_bytes() == seg.raw));
        let mut f = Fields {
            seg,
            text,
            cuts: [(0, 0); N],
            count: 0,
        };
        let raw = seg.raw;
        let sep = seg.delims.element;
        // Ranges are u32: a longer segment (a file without terminators)
        // keeps the elements that start within the first 4 GiB.
        let limit = raw.len().min(u32::MAX as usize);
        let raw = &raw[..limit];
        // One pass, eight bytes at a time, the id's end included: elements
        // are short, so a word scan beats a memchr call per element. The
        // same cuts as [`Segment::elements`]. `from` is where the element
        // being cut starts; `NO_ID` until the id's separator is found.
        const NO_ID: usize = usize::MAX;
        let mut from = NO_ID;
        let mut n = 0;
        let mut base = 0;
        'scan: while base < limit {
            let (mut hits, width) = if let Some(word) = raw[base..].first_chunk::<8>() {
                (byte_mask(u64::from_le_bytes(*word), sep), 8)
            } else if let Some(word) = raw.last_chunk::<8>() {
                // The last 1..=7 bytes: the segment's last word, with the
                // bytes already scanned shifted out.
                let tail = limit - base;
                let seen = 8 * (8 - tail);
                (byte_mask(u64::from_le_bytes(*word), sep) >> seen, tail)
            } else {
                // A segment shorter than a word (`LX*1`).
                let m = raw
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == sep)
                    .fold(0u64, |m, (k, _)| m | 0x80 << (8 * k));
                (m, limit)
            };
            while hits != 0 {
                let at = base + (hits.trailing_zeros() / 8) as usize;
                hits &= hits - 1;
                if from != NO_ID {
                    if n == N {
                        break 'scan;
                    }
                    f.cuts[n] = (from as u32, at as u32);
                    n += 1;
                }
                from = at + 1;
            }
            base += width;
        }
        if from == NO_ID {
            return f;
        }
        if n < N {
            f.cuts[n] = (from.min(limit) as u32, limit as u32);
            n += 1;
        }
        f.count = n as u8;
        f
    }

    /// The byte range of element `n` (1-based).
    #[inline]
    fn range(&self, n: u16) -> Option<std::ops::Range<usize>> {
        let i = usize::from(n).checked_sub(1)?;
        if i >= usize::from(self.count) {
            return None;
        }
        let (a, b) = self.cuts[i];
        Some(a as usize..b as usize)
    }

    /// Element `n` (1-based).
    pub(crate) fn el(&self, n: u16) -> Option<Element<'a>> {
        let raw = self.seg.raw.get(self.range(n)?)?;
        Some(Element {
            raw,
            delims: self.seg.delims,
        })
    }

    /// The element's bytes, blanks trimmed; `None` when blank.
    pub(crate) fn raw(&self, n: u16) -> Option<&'a [u8]> {
        let raw = self.seg.raw.get(self.range(n)?)?.trim_ascii();
        (!raw.is_empty()).then_some(raw)
    }

    /// The element as trimmed text, when not blank and valid UTF-8.
    #[inline]
    pub(crate) fn text(&self, n: u16) -> Option<&'a str> {
        match self.text {
            // Cuts are at ASCII delimiters, so always at char boundaries.
            Some(t) => {
                let v = t.get(self.range(n)?)?.trim_ascii();
                (!v.is_empty()).then_some(v)
            }
            None => self.raw(n).and_then(|r| std::str::from_utf8(r).ok()),
        }
    }

    /// The components of element `n` as trimmed text (blank or invalid
    /// ones `None`); the first `M` are kept.
    pub(crate) fn parts<const M: usize>(&self, n: u16) -> [Option<&'a str>; M] {
        let mut out = [None; M];
        let sep = self.seg.delims.component;
        match (self.text, self.range(n)) {
            (Some(t), Some(r)) => {
                let Some(v) = t.get(r) else {
                    return out;
                };
                // Components are a few bytes: each found by a byte loop and
                // cut at the (ASCII) separator, so at char boundaries.
                let bytes = v.as_bytes();
                let mut from = 0;
                for slot in out.iter_mut() {
                    let end = bytes[from..]
                        .iter()
                        .position(|&b| b == sep)
                        .map_or(bytes.len(), |p| from + p);
                    let c = v.get(from..end).unwrap_or("").trim_ascii();
                    *slot = (!c.is_empty()).then_some(c);
                    if end == bytes.len() {
                        break;
                    }
                    from = end + 1;
                }
            }
            _ => {
                if let Some(e) = self.el(n) {
                    for (slot, c) in out.iter_mut().zip(e.components()) {
                        *slot = std::str::from_utf8(c.trim_ascii())
                            .ok()
                            .filter(|c| !c.is_empty());
                    }
                }
            }
        }
        out
    }

    /// The element as owned trimmed text when not blank (invalid bytes
    /// replaced).
    pub(crate) fn string(&self, n: u16) -> Option<String> {
        self.raw(n).map(|r| String::from_utf8_lossy(r).into_owned())
    }

    /// The element as trimmed text when not blank, borrowed from the input
    /// unless invalid bytes had to be replaced.
    pub(crate) fn lossy(&self, n: u16) -> Option<Cow<'a, str>> {
        if self.text.is_some() {
            return self.text(n).map(Cow::Borrowed);
        }
        // X12 data is almost always ASCII: the plain check is faster than
        // the lossy decoder's.
        self.raw(n).map(|r| match std::str::from_utf8(r) {
            Ok(t) => Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(r),
        })
    }

    /// The position of element `n`.
    pub(crate) fn pos(&self, n: u16) -> Position {
        self.seg.position(n)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Delimiters, Fields, Segment};

    fn segment(raw: &[u8]) -> Segment<'_> {
        Segment {
            raw,
            offset: 0,
            number: 1,
            delims: Delimiters::default(),
        }
    }

    proptest! {
        /// The word scan of `Fields` cuts the elements `Segment::elements`
        /// cuts, and `parts` the components a split gives.
        #[test]
        fn fields_cut_what_the_plain_split_cuts(
            body in prop::collection::vec(prop_oneof![Just(b'*'), Just(b':'), Just(b' '), Just(0xaa), b'A'..b'D'], 0..90),
        ) {
            let mut raw = b"SV1".to_vec();
            raw.extend(&body);
            let seg = segment(&raw);
            let f: Fields<'_, 8> = Fields::new(seg);
            let want: Vec<&[u8]> = seg.elements().take(8).map(|e| e.raw).collect();
            let got: Vec<&[u8]> = (1..=8u16).map_while(|n| f.el(n)).map(|e| e.raw).collect();
            prop_assert_eq!(&got, &want);
            let text = std::str::from_utf8(&raw).ok();
            let ft: Fields<'_, 8> = Fields::in_text(seg, text);
            for n in 1..=got.len() as u16 {
                let parts = ft.parts::<3>(n);
                let comps: Vec<Option<&str>> = seg
                    .element(usize::from(n))
                    .map(|e| e.components().take(3).map(|c| std::str::from_utf8(c.trim_ascii()).ok().filter(|c| !c.is_empty())).collect())
                    .unwrap_or_default();
                for (i, p) in parts.iter().enumerate() {
                    prop_assert_eq!(*p, comps.get(i).copied().flatten());
                }
            }
        }
    }
}
