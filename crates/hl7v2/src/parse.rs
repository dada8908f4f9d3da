//! The indexed message: one pass over the input records where every segment
//! and field starts; repetitions, components and sub-components are found on
//! access by scanning only the field asked for.

use crate::charset::Charset;
use crate::delim::Delimiters;
use crate::error::{Issue, ParseError, SegmentRef, Severity, codes};
use crate::value::{Ctx, Level, Value};

/// How to parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Turn the first issue into [`ParseError::Strict`] instead of returning
    /// the message with its issues.
    pub strict: bool,
}

impl ParseOptions {
    /// Lenient parsing (the default): a message plus its issues.
    pub fn lenient() -> Self {
        ParseOptions { strict: false }
    }

    /// Strict parsing: any issue is an error.
    pub fn strict() -> Self {
        ParseOptions { strict: true }
    }
}

/// The flag a field's start offset carries when the field holds the
/// escape character, so that values without one are read without looking
/// for escape sequences again.
const ESCAPED: u32 = 1 << 31;

#[derive(Clone, Copy, Debug)]
pub(crate) struct SegIdx {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) first: u32,
    pub(crate) count: u32,
}

/// A parsed HL7 v2 message that borrows its input.
///
/// Parsing records the start of every segment and field; everything else is
/// read on access from the borrowed bytes. A parse allocates two vectors of
/// offsets (4 bytes per segment boundary and per field), sized up front
/// from the input length.
#[derive(Clone)]
pub struct Message<'a> {
    input: &'a [u8],
    base: u64,
    ctx: Ctx<'a>,
    segs: Vec<SegIdx>,
    fields: Vec<u32>,
    issues: Vec<Issue>,
    suppressed: u64,
}

impl std::fmt::Debug for Message<'_> {
    /// Prints the shape of the message (segment ids, sizes, issues), never its values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("bytes", &self.input.len())
            .field(
                "segments",
                &self
                    .segments()
                    .map(|s| SegmentRef::new(s.id_bytes(), 0).id_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field("delimiters", &self.ctx.delims)
            .field("charset", &self.ctx.charset)
            .field("issues", &self.issues)
            .finish()
    }
}

/// The bytes [`Stops`] classifies at once.
const BLOCK: usize = 64;

/// Finds the bytes the indexer must look at: the field separator, the
/// escape character, and control characters (which include the segment
/// terminators). A block of 64 bytes is classified at once into a bit
/// mask (a loop the compiler turns into vector compares), and the stops
/// in it are then read off the mask, so a field costs a few instructions
/// rather than a scan that starts again after every separator.
struct Stops<'a> {
    b: &'a [u8],
    /// Where the block of `mask` starts.
    at: usize,
    /// Bit `k` set when `b[at + k]` is a stop.
    mask: u64,
    field: u8,
    escape: u8,
}

impl<'a> Stops<'a> {
    fn new(b: &'a [u8], field: u8, escape: u8) -> Self {
        let mut s = Stops {
            b,
            at: 0,
            mask: 0,
            field,
            escape,
        };
        s.mask = s.classify(b);
        s
    }

    /// The offset of the first stop at or after `i` (the input's length
    /// when there is none).
    #[inline]
    fn next(&mut self, mut i: usize) -> usize {
        loop {
            let off = i.wrapping_sub(self.at);
            if off < BLOCK {
                let m = self.mask & (u64::MAX << off);
                if m != 0 {
                    return self.at + m.trailing_zeros() as usize;
                }
                i = self.at + BLOCK;
            }
            if i >= self.b.len() {
                return self.b.len();
            }
            self.at = i;
            self.mask = self.classify(&self.b[i..]);
        }
    }

    /// The stop mask of the first 64 bytes of `b` (fewer at the end).
    #[inline]
    fn classify(&self, b: &[u8]) -> u64 {
        let (field, escape) = (self.field, self.escape);
        match b.first_chunk::<BLOCK>() {
            Some(block) => block_mask(block, field, escape),
            None => b
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c == field || c == escape || c < 0x20)
                .fold(0, |m, (k, _)| m | 1 << k),
        }
    }
}

/// The stop mask of a whole block. The bytes are first classified into
/// flags (0 or 1) by a plain loop the compiler vectorises; each eight flags
/// are then gathered into eight bits by one multiplication: flag `i` of
/// the word lands in bit `56 + i` of the product, no two partial products
/// overlapping, so no carry disturbs them.
#[inline]
fn block_mask(block: &[u8; BLOCK], field: u8, escape: u8) -> u64 {
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let mut flags = [0u8; BLOCK];
    for (f, &c) in flags.iter_mut().zip(block) {
        *f = u8::from(c == field) | u8::from(c == escape) | u8::from(c < 0x20);
    }
    let mut m = 0u64;
    for (k, w) in flags.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(w.try_into().expect("eight flags"));
        m |= (w.wrapping_mul(GATHER) >> 56) << (8 * k);
    }
    m
}

/// Segments whose second field holds encoding characters rather than data.
pub(crate) fn is_header_id(id: &[u8]) -> bool {
    matches!(id, b"MSH" | b"FHS" | b"BHS")
}

fn is_segment_id(id: &[u8]) -> bool {
    id.len() == 3
        && id
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the first segment starts: after a UTF-8 byte-order mark and any
/// blank lines. Returns the offset and whether blank lines were skipped.
pub(crate) fn skip_preamble(input: &[u8]) -> (usize, bool) {
    let mut i = if input.starts_with(BOM) { BOM.len() } else { 0 };
    let start = i;
    while i < input.len() && matches!(input[i], b'\r' | b'\n') {
        i += 1;
    }
    (i, i > start)
}

/// Whether everything from `i` on is blank (line ends, spaces, tabs, NULs or
/// a DOS end-of-file mark) and may be ignored.
fn rest_is_blank(input: &[u8], i: usize) -> bool {
    input[i..]
        .iter()
        .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0 | 0x1A))
}

impl<'a> Message<'a> {
    /// Parses one message leniently: the message and its issues, or an
    /// error when there is no usable MSH.
    ///
    /// ```
    /// let msg = caresync_hl7v2::Message::parse(b"MSH|^~\\&|LAB|H|||20240101||ORU^R01|1|P|2.5\rPID|1||42^^^H^MR\r")?;
    /// assert_eq!(msg.get("PID-3.1").map(|v| v.decode().into_owned()), Some("42".to_owned()));
    /// # Ok::<(), caresync_hl7v2::ParseError>(())
    /// ```
    pub fn parse(input: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_at(input, 0, &ParseOptions::default())
    }

    /// Parses one message with the given options.
    pub fn parse_with(input: &'a [u8], options: &ParseOptions) -> Result<Self, ParseError> {
        Self::parse_at(input, 0, options)
    }

    /// Parses a message that sits at byte `base` of a larger input (a batch
    /// file, an MLLP capture); issue, error and value offsets are reported in
    /// that input.
    pub fn parse_at(
        input: &'a [u8],
        base: u64,
        options: &ParseOptions,
    ) -> Result<Self, ParseError> {
        let msg = Self::index(input, base).map_err(|e| e.shifted(base))?;
        if let Some(issue) = msg.issues.first().filter(|_| options.strict) {
            return Err(ParseError::Strict(issue.clone()));
        }
        Ok(msg)
    }

    fn index(input: &'a [u8], base: u64) -> Result<Self, ParseError> {
        if input.len() >= ESCAPED as usize {
            return Err(ParseError::TooLarge {
                len: input.len() as u64,
            });
        }
        let mut issues = Vec::new();
        let mut suppressed = 0u64;
        let (pos, blank_lead) = skip_preamble(input);
        if pos >= input.len() || rest_is_blank(input, pos) {
            return Err(ParseError::Empty);
        }
        if !input[pos..].starts_with(b"MSH") {
            return Err(ParseError::MissingMsh { offset: pos as u64 });
        }
        if blank_lead {
            let after_bom = if input.starts_with(BOM) { BOM.len() } else { 0 };
            note(
                &mut issues,
                &mut suppressed,
                Issue::new(codes::EMPTY_SEGMENT, Severity::Warning, after_bom),
            );
        }
        let (delims, header_len) = Delimiters::from_header(&input[pos..], pos)?;

        let b = input;
        let n = b.len();
        let field = delims.field;
        let escape = delims.escape;
        let mut segs: Vec<SegIdx> = Vec::with_capacity(n / 80 + 4);
        let mut fields: Vec<u32> = Vec::with_capacity(n / 12 + 16);

        // The MSH segment: field 0 is the id, field 1 is MSH-2 (MSH-1 is the
        // separator itself and is synthesised on access).
        let mut seg_start = pos;
        let mut seg_first = 0usize;
        fields.push(pos as u32);
        fields.push((pos + 4) as u32);
        let mut i = pos + header_len;

        let mut stops = Stops::new(b, field, escape.unwrap_or(field));
        loop {
            i = stops.next(i);
            if i >= n {
                segs.push(SegIdx {
                    start: seg_start as u32,
                    end: n as u32,
                    first: seg_first as u32,
                    count: (fields.len() - seg_first) as u32,
                });
                break;
            }
            let c = b[i];
            if c == field {
                fields.push((i + 1) as u32);
                i += 1;
                continue;
            }
            if Some(c) == escape {
                if let Some(last) = fields.last_mut() {
                    *last |= ESCAPED;
                }
                // An escape sequence must close before any separator or
                // the end of the segment.
                let mut j = i + 1;
                while let Some(&d) = b.get(j) {
                    if d == c || d < 0x20 || d == field || delims.is_separator(d) {
                        break;
                    }
                    j += 1;
                }
                if b.get(j) == Some(&c) {
                    i = j + 1;
                } else {
                    note(
                        &mut issues,
                        &mut suppressed,
                        seg_issue(
                            b,
                            &segs,
                            seg_start,
                            codes::UNTERMINATED_ESCAPE,
                            Severity::Error,
                            i,
                        ),
                    );
                    i = j;
                }
                continue;
            }
            if c == b'\t' {
                i += 1;
                continue;
            }
            if c != b'\r' && c != b'\n' {
                note(
                    &mut issues,
                    &mut suppressed,
                    seg_issue(
                        b,
                        &segs,
                        seg_start,
                        codes::CONTROL_CHARACTER,
                        Severity::Warning,
                        i,
                    ),
                );
                i += 1;
                continue;
            }
            // The segment ends here.
            segs.push(SegIdx {
                start: seg_start as u32,
                end: i as u32,
                first: seg_first as u32,
                count: (fields.len() - seg_first) as u32,
            });
            i += if c == b'\r' && b.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            let blank_at = i;
            while i < n && matches!(b[i], b'\r' | b'\n') {
                i += 1;
            }
            if i >= n || rest_is_blank(b, i) {
                break;
            }
            if i > blank_at {
                note(
                    &mut issues,
                    &mut suppressed,
                    Issue::new(codes::EMPTY_SEGMENT, Severity::Warning, blank_at),
                );
            }
            // A new segment.
            seg_start = i;
            seg_first = fields.len();
            fields.push(i as u32);
            let id_end = (i + 3).min(n);
            let id = &b[i..id_end];
            let after = b.get(id_end).copied();
            let id_ok = is_segment_id(id)
                && (matches!(after, None | Some(b'\r' | b'\n')) || after == Some(field));
            if !id_ok {
                note(
                    &mut issues,
                    &mut suppressed,
                    Issue::new(codes::BAD_SEGMENT_ID, Severity::Error, i)
                        .in_segment(SegmentRef::new(id, segs.len() as u32 + 1)),
                );
            } else if is_header_id(id) && after == Some(field) {
                // A second header segment (a batch fed to the single
                // message parser): index its MSH-2 as a field without
                // reading escapes in it.
                note(
                    &mut issues,
                    &mut suppressed,
                    Issue::new(codes::BATCH_STRUCTURE, Severity::Error, i)
                        .in_segment(SegmentRef::new(id, segs.len() as u32 + 1)),
                );
                fields.push((i + 4) as u32 | ESCAPED);
                i += 4;
                while i < n && !matches!(b[i], b'\r' | b'\n') && b[i] != field {
                    i += 1;
                }
            }
        }

        let mut msg = Message {
            input,
            base,
            ctx: Ctx {
                delims,
                charset: Charset::Utf8,
                text: None,
                base,
            },
            segs,
            fields,
            issues,
            suppressed,
        };
        msg.check_header();
        msg.check_charset();
        if base != 0 {
            for issue in &mut msg.issues {
                issue.offset += base;
            }
        }
        Ok(msg)
    }

    fn check_header(&mut self) {
        let Some(msh) = self.segment_at(0) else {
            return;
        };
        let start = msh.offset();
        for (n, _) in [(9, "MSH-9"), (10, "MSH-10"), (12, "MSH-12")] {
            let missing = msh.field(n).is_none_or(|v| v.raw().is_empty());
            if missing {
                note(
                    &mut self.issues,
                    &mut self.suppressed,
                    Issue::new(
                        codes::MISSING_HEADER_FIELD,
                        Severity::Error,
                        (start - self.base) as usize,
                    )
                    .in_segment(SegmentRef::new(b"MSH", 1)),
                );
                break;
            }
        }
    }

    fn check_charset(&mut self) {
        let declared = self
            .segment_at(0)
            .and_then(|msh| msh.field(18))
            .and_then(|f| f.repetition(1))
            .map(|v| v.raw().to_vec());
        let declared = declared.as_deref().unwrap_or(b"");
        let (charset, supported) = Charset::from_msh18(declared);
        if !supported {
            note(
                &mut self.issues,
                &mut self.suppressed,
                Issue::new(codes::UNSUPPORTED_CHARSET, Severity::Warning, 0)
                    .in_segment(SegmentRef::new(b"MSH", 1)),
            );
        }
        // One validation serves both the check and the text view.
        let utf8 = std::str::from_utf8(self.input);
        let bad = match (charset, &utf8) {
            (Charset::Utf8, Ok(_)) => None,
            (Charset::Utf8, Err(e)) => Some(e.valid_up_to()),
            _ => charset.first_invalid(self.input),
        };
        self.ctx.charset = match (bad, declared.is_empty()) {
            // Nothing declared and not UTF-8: read it as ISO 8859-1, the
            // usual reality of undeclared feeds, and say so.
            (Some(at), true) => {
                note(
                    &mut self.issues,
                    &mut self.suppressed,
                    Issue::new(codes::BAD_CHARSET, Severity::Warning, at),
                );
                Charset::Latin1
            }
            (Some(at), false) => {
                note(
                    &mut self.issues,
                    &mut self.suppressed,
                    Issue::new(codes::BAD_CHARSET, Severity::Error, at),
                );
                charset
            }
            (None, _) => charset,
        };
        self.ctx.text = utf8
            .ok()
            .filter(|t| self.ctx.charset != Charset::Latin1 || t.is_ascii());
    }

    /// The bytes this message was parsed from.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.input
    }

    /// The encoding characters the message declares.
    pub fn delimiters(&self) -> Delimiters {
        self.ctx.delims
    }

    /// The character set values are decoded with (from MSH-18; UTF-8 when
    /// none is declared and the bytes are UTF-8, ISO 8859-1 when they are not).
    pub fn charset(&self) -> Charset {
        self.ctx.charset
    }

    /// What the lenient parser noticed, in input order per kind.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// How many issues were found beyond the first [`MAX_ISSUES`] and not
    /// kept (a message of a million stray control characters does not take a
    /// million issues of memory).
    pub fn suppressed_issues(&self) -> u64 {
        self.suppressed
    }

    /// Whether any kept issue is an error (rather than a warning).
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }

    /// The number of segments.
    #[inline]
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }

    /// All segments in order.
    pub fn segments(&self) -> Segments<'_> {
        Segments {
            msg: self,
            range: 0..self.segs.len(),
        }
    }

    /// The segment at a 0-based position.
    #[inline]
    pub fn segment_at(&self, index: usize) -> Option<Segment<'_>> {
        let idx = *self.segs.get(index)?;
        let fields = &self.fields[idx.first as usize..(idx.first + idx.count) as usize];
        let mut seg = Segment {
            input: self.input,
            ctx: &self.ctx,
            fields,
            start: idx.start,
            end: idx.end,
            index: index as u32,
            header: false,
            base: self.base,
        };
        seg.header = is_header_id(seg.id_bytes()) && fields.len() >= 2;
        Some(seg)
    }

    /// The first segment with this id.
    pub fn segment(&self, id: &str) -> Option<Segment<'_>> {
        self.segments().find(|s| s.id_bytes() == id.as_bytes())
    }

    /// The segments with this id, in order.
    pub fn segments_with_id<'m>(&'m self, id: &'m str) -> impl Iterator<Item = Segment<'m>> + 'm {
        self.segments()
            .filter(move |s| s.id_bytes() == id.as_bytes())
    }

    /// Groups of segments, each starting at a `leader` segment and running
    /// up to (not including) the next `leader` or any segment in `stop`.
    /// Segments before the first leader belong to no group.
    ///
    /// In ORU^R01, `groups("OBR", &["ORC", "PID"])` yields each order with its
    /// observations and notes; `groups("OBX", &["OBR", "ORC", "PID"])` each
    /// observation with its NTEs.
    pub fn groups<'m>(&'m self, leader: &'m str, stop: &'m [&'m str]) -> Groups<'m> {
        Groups {
            msg: self,
            leader,
            stop,
            next: 0,
        }
    }

    /// Looks a value up by path: `PID-3`, `PID-3(2).1`, `OBX[3]-5.1.2`,
    /// `MSH-9.2`. Returns `None` when the path is malformed or names
    /// something the message does not have; see [`crate::Path`] for the
    /// checked form.
    pub fn get(&self, path: &str) -> Option<Value<'_>> {
        let path: crate::Path = path.parse().ok()?;
        self.get_path(&path)
    }

    /// Looks a value up by a parsed path.
    pub fn get_path(&self, path: &crate::Path) -> Option<Value<'_>> {
        let seg = self
            .segments()
            .filter(|s| s.id_bytes() == path.segment_id())
            .nth(path.occurrence() as usize - 1)?;
        let mut v = seg.field(path.field() as usize)?;
        if let Some(r) = path.repetition() {
            v = v.repetition(r as usize)?;
        }
        if let Some(c) = path.component() {
            v = v.component(c as usize)?;
        }
        if let Some(s) = path.subcomponent() {
            v = v.subcomponent(s as usize)?;
        }
        Some(v)
    }
}

/// The most issues kept per message; see [`Message::suppressed_issues`].
pub const MAX_ISSUES: usize = 1000;

fn note(issues: &mut Vec<Issue>, suppressed: &mut u64, issue: Issue) {
    if issues.len() < MAX_ISSUES {
        issues.push(issue);
    } else {
        *suppressed += 1;
    }
}

fn seg_issue(
    b: &[u8],
    segs: &[SegIdx],
    seg_start: usize,
    code: caresync_core::ErrorCode,
    severity: Severity,
    at: usize,
) -> Issue {
    let id = &b[seg_start..(seg_start + 3).min(b.len())];
    Issue::new(code, severity, at).in_segment(SegmentRef::new(id, segs.len() as u32 + 1))
}

/// One segment of a message.
#[derive(Clone, Copy)]
pub struct Segment<'m> {
    input: &'m [u8],
    ctx: &'m Ctx<'m>,
    fields: &'m [u32],
    start: u32,
    end: u32,
    index: u32,
    /// MSH, BHS or FHS with its encoding characters (fields numbered
    /// from the separator).
    header: bool,
    base: u64,
}

impl std::fmt::Debug for Segment<'_> {
    /// Prints the id, position and size, never values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("id", &SegmentRef::new(self.id_bytes(), 0).id_str())
            .field("position", &(self.index + 1))
            .field("fields", &self.field_count())
            .field("bytes", &(self.end - self.start))
            .finish()
    }
}

impl<'m> Segment<'m> {
    /// The segment id as bytes (`b"PID"`), as sent: cheaper than
    /// [`Segment::id`] for matching, and exact even when it is not text.
    #[inline]
    pub fn id_bytes(&self) -> &'m [u8] {
        let end = (self.start as usize + 3).min(self.end as usize);
        let first_field_end = self.field_end(0);
        &self.input[self.start as usize..end.min(first_field_end)]
    }

    /// The bytes before the first field separator (the id, when it is well formed).
    pub(crate) fn head(&self) -> &'m [u8] {
        &self.input[self.start as usize..self.field_end(0)]
    }

    /// The segment id (`PID`, `ZPI`); `???` if it is not text.
    pub fn id(&self) -> &'m str {
        std::str::from_utf8(self.id_bytes()).unwrap_or("???")
    }

    /// The 1-based position of the segment in its message.
    #[inline]
    pub fn position(&self) -> usize {
        self.index as usize + 1
    }

    /// Byte offset of the segment in the parsed input.
    pub fn offset(&self) -> u64 {
        self.base + u64::from(self.start)
    }

    /// The raw bytes of the segment, without its terminator.
    pub fn as_bytes(&self) -> &'m [u8] {
        &self.input[self.start as usize..self.end as usize]
    }

    /// The number of fields present (the highest field number).
    pub fn field_count(&self) -> usize {
        if self.header {
            self.fields.len()
        } else {
            self.fields.len() - 1
        }
    }

    #[inline]
    fn field_end(&self, k: usize) -> usize {
        match self.fields.get(k + 1) {
            Some(&next) => (next & !ESCAPED) as usize - 1,
            None => self.end as usize,
        }
    }

    /// Field `n` (1-based, as in `PID-3`), or `None` when the segment has
    /// fewer fields. For MSH, FHS and BHS, field 1 is the field separator
    /// and field 2 the encoding characters, as the standard numbers them.
    #[inline]
    pub fn field(&self, n: usize) -> Option<Value<'m>> {
        if n == 0 {
            return None;
        }
        let k = if self.header {
            if n == 1 {
                let at = self.start as usize + 3;
                return Some(self.value(at, at + 1, Level::Subcomponent, true));
            }
            if n == 2 {
                // The encoding characters hold the escape character: read
                // them as any other value that does.
                let at = (self.fields[1] & !ESCAPED) as usize;
                return Some(self.value(at, self.field_end(1), Level::Subcomponent, false));
            }
            n - 1
        } else {
            n
        };
        let start = *self.fields.get(k)?;
        let plain = start & ESCAPED == 0;
        let start = (start & !ESCAPED) as usize;
        Some(self.value(start, self.field_end(k), Level::Field, plain))
    }

    /// All fields from 1 to [`Self::field_count`].
    pub fn fields(&self) -> impl Iterator<Item = Value<'m>> + '_ {
        (1..=self.field_count()).filter_map(|n| self.field(n))
    }

    /// `plain`: the value holds no escape character.
    fn value(&self, start: usize, end: usize, level: Level, plain: bool) -> Value<'m> {
        Value::new(
            &self.input[start..end],
            self.base + start as u64,
            self.ctx,
            level,
            plain,
        )
    }
}

/// Iterator over a message's segments.
#[derive(Clone, Debug)]
pub struct Segments<'m> {
    msg: &'m Message<'m>,
    range: std::ops::Range<usize>,
}

impl<'m> Iterator for Segments<'m> {
    type Item = Segment<'m>;

    fn next(&mut self) -> Option<Segment<'m>> {
        let i = self.range.next()?;
        self.msg.segment_at(i)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Segments<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = self.range.next_back()?;
        self.msg.segment_at(i)
    }
}

impl ExactSizeIterator for Segments<'_> {}

/// A run of segments led by one segment id; see [`Message::groups`].
#[derive(Clone, Debug)]
pub struct Group<'m> {
    msg: &'m Message<'m>,
    range: std::ops::Range<usize>,
}

impl<'m> Group<'m> {
    /// The leading segment.
    pub fn leader(&self) -> Segment<'m> {
        self.msg
            .segment_at(self.range.start)
            .expect("a group always holds its leader")
    }

    /// The segments of the group, leader first.
    pub fn segments(&self) -> Segments<'m> {
        Segments {
            msg: self.msg,
            range: self.range.clone(),
        }
    }

    /// The segments of the group with this id.
    pub fn segments_with_id(&self, id: &'m str) -> impl Iterator<Item = Segment<'m>> + 'm {
        self.segments()
            .filter(move |s| s.id_bytes() == id.as_bytes())
    }
}

/// Iterator over groups; see [`Message::groups`].
#[derive(Clone, Debug)]
pub struct Groups<'m> {
    msg: &'m Message<'m>,
    leader: &'m str,
    stop: &'m [&'m str],
    next: usize,
}

impl<'m> Iterator for Groups<'m> {
    type Item = Group<'m>;

    fn next(&mut self) -> Option<Group<'m>> {
        let n = self.msg.segs.len();
        let is = |i: usize, id: &str| {
            self.msg
                .segment_at(i)
                .is_some_and(|s| s.id_bytes() == id.as_bytes())
        };
        let start = (self.next..n).find(|&i| is(i, self.leader))?;
        let end = (start + 1..n)
            .find(|&i| is(i, self.leader) || self.stop.iter().any(|s| is(i, s)))
            .unwrap_or(n);
        self.next = end;
        Some(Group {
            msg: self.msg,
            range: start..end,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Stops;

    fn next_special(b: &[u8], i: usize, field: u8, escape: u8) -> usize {
        Stops::new(b, field, escape).next(i)
    }

    /// Every stop from `i` on, read from one scanner as the indexer does.
    fn all_stops(b: &[u8], mut i: usize, field: u8, escape: u8) -> Vec<usize> {
        let mut s = Stops::new(b, field, escape);
        let mut out = Vec::new();
        loop {
            i = s.next(i);
            if i >= b.len() {
                return out;
            }
            out.push(i);
            i += 1;
        }
    }

    fn naive(b: &[u8], i: usize, field: u8, escape: u8) -> usize {
        (i..b.len())
            .find(|&j| b[j] == field || b[j] == escape || b[j] < 0x20)
            .unwrap_or(b.len())
    }

    proptest! {
        #[test]
        fn block_scan_finds_what_a_byte_scan_finds(
            b in prop::collection::vec(prop_oneof![Just(b'|'), Just(b'\\'), Just(b'\r'), 0x00u8..0x30, any::<u8>()], 0..200),
            i in 0usize..200,
        ) {
            let i = i.min(b.len());
            prop_assert_eq!(next_special(&b, i, b'|', b'\\'), naive(&b, i, b'|', b'\\'));
            prop_assert_eq!(next_special(&b, i, b'#', b'#'), naive(&b, i, b'#', b'#'));
            let want: Vec<usize> = (i..b.len()).filter(|&j| naive(&b, j, b'|', b'\\') == j).collect();
            prop_assert_eq!(all_stops(&b, i, b'|', b'\\'), want);
        }
    }
}
