//! Batches and files: several messages in one input, optionally wrapped in
//! FHS/BHS ... BTS/FTS envelopes.
//!
//! [`messages`] walks a byte slice; [`MessageReader`] reads from any
//! [`std::io::BufRead`] holding only one message in memory at a time.

use std::io::BufRead;

use crate::error::{Issue, ParseError, Severity, codes};
use crate::parse::{Message, ParseOptions};

/// What starts a line of a batch file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    Msh,
    Fhs,
    Bhs,
    Bts,
    Fts,
    Other,
}

fn line_kind(line: &[u8]) -> LineKind {
    let id = line.get(..3);
    // A segment id is followed by the field separator, which is never a
    // letter or digit; `MSHX` is not an MSH.
    let sep_ok = line.get(3).is_none_or(|c| !c.is_ascii_alphanumeric());
    match (id, sep_ok) {
        (Some(b"MSH"), true) => LineKind::Msh,
        (Some(b"FHS"), true) => LineKind::Fhs,
        (Some(b"BHS"), true) => LineKind::Bhs,
        (Some(b"BTS"), true) => LineKind::Bts,
        (Some(b"FTS"), true) => LineKind::Fts,
        _ => LineKind::Other,
    }
}

/// The end of the line starting at `from`, and where the next line starts.
fn line_end(input: &[u8], from: usize) -> (usize, usize) {
    match memchr::memchr2(b'\r', b'\n', &input[from..]) {
        Some(p) => {
            let end = from + p;
            let next = if input[end] == b'\r' && input.get(end + 1) == Some(&b'\n') {
                end + 2
            } else {
                end + 1
            };
            (end, next)
        }
        None => (input.len(), input.len()),
    }
}

/// Counts from the envelope, checked against what was seen.
#[derive(Debug, Default)]
struct Envelope {
    in_batch: bool,
    batch_messages: u64,
    batches: u64,
    in_file: bool,
    issues: Vec<Issue>,
}

impl Envelope {
    fn push(&mut self, issue: Issue) {
        if self.issues.len() < crate::parse::MAX_ISSUES {
            self.issues.push(issue);
        }
    }

    fn trailer_count(line: &[u8]) -> Option<u64> {
        // BTS-1 / FTS-1: the first field after the id.
        let sep = *line.get(3)?;
        let field = line[4..].split(|&b| b == sep).next()?;
        std::str::from_utf8(field).ok()?.trim().parse().ok()
    }

    fn see(&mut self, kind: LineKind, line: &[u8], offset: usize) {
        let issue = |code| Issue::new(code, Severity::Error, offset);
        match kind {
            LineKind::Fhs => {
                if self.in_file {
                    self.push(issue(codes::BATCH_STRUCTURE));
                }
                self.in_file = true;
                self.batches = 0;
            }
            LineKind::Bhs => {
                if self.in_batch {
                    self.push(issue(codes::BATCH_STRUCTURE));
                }
                self.in_batch = true;
                self.batch_messages = 0;
                self.batches += 1;
            }
            LineKind::Bts => {
                if !self.in_batch {
                    self.push(issue(codes::BATCH_STRUCTURE));
                }
                if Self::trailer_count(line).is_some_and(|n| n != self.batch_messages) {
                    self.push(issue(codes::BATCH_COUNT));
                }
                self.in_batch = false;
            }
            LineKind::Fts => {
                if !self.in_file || self.in_batch {
                    self.push(issue(codes::BATCH_STRUCTURE));
                }
                if Self::trailer_count(line).is_some_and(|n| n != self.batches) {
                    self.push(issue(codes::BATCH_COUNT));
                }
                self.in_file = false;
                self.in_batch = false;
            }
            LineKind::Msh => self.batch_messages += 1,
            LineKind::Other => {}
        }
    }

    fn finish(&mut self, offset: usize) {
        if self.in_batch || self.in_file {
            self.push(Issue::new(codes::BATCH_STRUCTURE, Severity::Error, offset));
            self.in_batch = false;
            self.in_file = false;
        }
    }
}

/// Splits `input` into its messages, skipping FHS/BHS/BTS/FTS envelope
/// segments and checking their counts.
///
/// Each item is a message (with its own issues; offsets are in `input`) or
/// the error for a stretch of input that holds no usable message; one bad
/// message never hides the good ones around it.
///
/// ```
/// let file = b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A|B|||20240101||ADT^A01|1|P|2.5\rPID|1\rMSH|^~\\&|A|B|||20240101||ADT^A08|2|P|2.5\rPID|1\rBTS|2\rFTS|1\r";
/// let mut msgs = caresync_hl7v2::messages(file);
/// let ids: Vec<String> = msgs.by_ref()
///     .map(|m| m.expect("good").get("MSH-10").expect("control id").decode().into_owned())
///     .collect();
/// assert_eq!(ids, ["1", "2"]);
/// assert!(msgs.envelope_issues().is_empty());
/// ```
pub fn messages(input: &[u8]) -> Messages<'_> {
    messages_with(input, ParseOptions::default())
}

/// [`messages`] with parse options (strict mode turns each message's first
/// issue into its error).
pub fn messages_with(input: &[u8], options: ParseOptions) -> Messages<'_> {
    let (pos, _) = crate::parse::skip_preamble(input);
    Messages {
        input,
        pos,
        options,
        envelope: Envelope::default(),
    }
}

/// Iterator over the messages of a batch; see [`messages`].
pub struct Messages<'a> {
    input: &'a [u8],
    pos: usize,
    options: ParseOptions,
    envelope: Envelope,
}

impl std::fmt::Debug for Messages<'_> {
    /// Sizes and positions only: the input is patient data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages")
            .field("bytes", &self.input.len())
            .field("position", &self.pos)
            .field("envelope_issues", &self.envelope.issues.len())
            .finish()
    }
}

impl<'a> Messages<'a> {
    /// Issues with the FHS/BHS/BTS/FTS envelope (counts, structure); complete
    /// once the iterator is exhausted.
    pub fn envelope_issues(&self) -> &[Issue] {
        &self.envelope.issues
    }

    /// Finds the next chunk: either envelope lines (consumed), or a message
    /// (MSH up to the next MSH or envelope line), or a run of lines that are
    /// neither (an orphan chunk reported as an error).
    fn next_chunk(&mut self) -> Option<(usize, usize)> {
        let input = self.input;
        loop {
            if self.pos >= input.len() {
                self.envelope.finish(input.len());
                return None;
            }
            let start = self.pos;
            let (end, next) = line_end(input, start);
            let line = &input[start..end];
            let kind = line_kind(line);
            match kind {
                LineKind::Fhs | LineKind::Bhs | LineKind::Bts | LineKind::Fts => {
                    self.envelope.see(kind, line, start);
                    self.pos = next;
                }
                _ if line.iter().all(|b| matches!(b, b' ' | b'\t' | 0 | 0x1A)) => {
                    self.pos = next;
                }
                _ => {
                    if kind == LineKind::Msh {
                        self.envelope.see(kind, line, start);
                    }
                    // Extend to the next line that starts a message or envelope.
                    let mut p = next;
                    while p < input.len() && line_kind(&input[p..]) == LineKind::Other {
                        p = line_end(input, p).1;
                    }
                    self.pos = p;
                    return Some((start, p));
                }
            }
        }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (start, end) = self.next_chunk()?;
        Some(Message::parse_at(
            &self.input[start..end],
            start as u64,
            &self.options,
        ))
    }
}

/// Why [`MessageReader`] could not deliver a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading the underlying source failed.
    #[error("reading HL7 v2 input failed: {0}")]
    Io(#[from] std::io::Error),
    /// The message could not be parsed; the reader goes on with the next one.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A message is larger than the reader's limit; it was skipped.
    #[error(
        "{}: message at byte {offset} exceeds the reader's limit of {limit} bytes",
        codes::TOO_LARGE
    )]
    TooLarge {
        /// Where the message starts in the stream.
        offset: u64,
        /// The limit.
        limit: usize,
    },
}

/// Reads messages one at a time from a stream, holding at most one message
/// (and one read buffer) in memory.
///
/// It lends each message: call [`MessageReader::next_message`] in a loop.
/// Envelope segments are checked as in [`messages`].
///
/// ```
/// use caresync_hl7v2::MessageReader;
///
/// let file: &[u8] = b"MSH|^~\\&|A|B|||20240101||ADT^A01|1|P|2.5\nPID|1\nMSH|^~\\&|A|B|||20240101||ADT^A08|2|P|2.5\nPID|1\n";
/// let mut reader = MessageReader::new(file);
/// let mut ids = Vec::new();
/// while let Some(msg) = reader.next_message() {
///     ids.push(msg?.get("MSH-10").expect("control id").decode().into_owned());
/// }
/// assert_eq!(ids, ["1", "2"]);
/// # Ok::<(), caresync_hl7v2::ReadError>(())
/// ```
pub struct MessageReader<R> {
    src: R,
    buf: Vec<u8>,
    /// Bytes taken from the source so far; `buf` holds the last of them.
    stream_pos: u64,
    /// Bytes of `buf` handed out last time (dropped at the next call).
    consumed: usize,
    started: bool,
    line_oversized: bool,
    /// An over-long message whose first line was met while finishing the
    /// previous one: skip it on the next call.
    skip_from: Option<u64>,
    limit: usize,
    options: ParseOptions,
    envelope: Envelope,
}

impl<R> std::fmt::Debug for MessageReader<R> {
    /// Sizes and positions only: the buffer holds patient data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("buffered", &self.buf.len())
            .field("stream_position", &self.stream_pos)
            .field("limit", &self.limit)
            .field("envelope_issues", &self.envelope.issues.len())
            .finish()
    }
}

impl<R: BufRead> MessageReader<R> {
    /// A reader with a 64 MiB per-message limit.
    pub fn new(src: R) -> Self {
        MessageReader {
            src,
            buf: Vec::new(),
            stream_pos: 0,
            consumed: 0,
            started: false,
            line_oversized: false,
            skip_from: None,
            limit: 64 << 20,
            options: ParseOptions::default(),
            envelope: Envelope::default(),
        }
    }

    /// Sets the largest message accepted, in bytes.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the parse options.
    pub fn with_options(mut self, options: ParseOptions) -> Self {
        self.options = options;
        self
    }

    /// Envelope issues seen so far (complete at the end of the stream), with
    /// stream offsets.
    pub fn envelope_issues(&self) -> &[Issue] {
        &self.envelope.issues
    }

    /// Stream offset of `buf[0]` (the buffer only ever holds whole lines
    /// that follow each other in the stream).
    fn buf_offset(&self) -> u64 {
        self.stream_pos - self.buf.len() as u64
    }

    /// Appends one line (with its terminator) to the buffer, keeping at most
    /// `budget` bytes of it. Returns false at the end of the stream.
    fn read_line(&mut self, budget: usize) -> std::io::Result<bool> {
        self.line_oversized = false;
        let start = self.buf.len();
        let mut got_any = false;
        loop {
            let chunk = self.src.fill_buf()?;
            if chunk.is_empty() {
                return Ok(got_any);
            }
            got_any = true;
            let (take, done, ends_cr) = match memchr::memchr2(b'\r', b'\n', chunk) {
                Some(p) if chunk[p] == b'\r' && chunk.get(p + 1) == Some(&b'\n') => {
                    (p + 2, true, false)
                }
                Some(p) => (p + 1, true, chunk[p] == b'\r' && p + 1 == chunk.len()),
                None => (chunk.len(), false, false),
            };
            let room = budget.saturating_sub(self.buf.len() - start);
            if take <= room && !self.line_oversized {
                self.buf.extend_from_slice(&chunk[..take]);
            } else {
                // Keep the prefix that fits, so the caller can still see
                // what kind of line it was.
                if !self.line_oversized {
                    self.buf.extend_from_slice(&chunk[..room.min(take)]);
                }
                self.line_oversized = true;
            }
            self.src.consume(take);
            self.stream_pos += take as u64;
            if done {
                // A CR LF pair split between two reads stays one terminator.
                if ends_cr && self.src.fill_buf()?.first() == Some(&b'\n') {
                    self.src.consume(1);
                    self.stream_pos += 1;
                    if !self.line_oversized {
                        self.buf.push(b'\n');
                    }
                }
                return Ok(true);
            }
        }
    }

    /// The next message, or `None` at the end of the stream.
    pub fn next_message(&mut self) -> Option<Result<Message<'_>, ReadError>> {
        // Forget the message handed out last time.
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        // `buf` may already hold the first line of this chunk (read ahead
        // last time). Until a message starts, lines are dropped as they are
        // read, so a message always starts at `buf[0]`.
        let mut pos = 0;
        let mut msg_start: Option<u64> = self.skip_from.take();
        let mut too_large = msg_start.is_some();
        loop {
            if pos >= self.buf.len() {
                let line_at = self.stream_pos;
                match self.read_line(self.limit) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => return Some(Err(e.into())),
                }
                if self.line_oversized {
                    let kind = line_kind(&self.buf[pos..]);
                    self.buf.truncate(pos);
                    if msg_start.is_some() && kind != LineKind::Other {
                        // The over-long line starts the next message.
                        self.skip_from = Some(line_at);
                        break;
                    }
                    // Keep memory bounded: drop what we have of this message.
                    msg_start.get_or_insert(line_at);
                    too_large = true;
                    self.buf.clear();
                    pos = 0;
                    continue;
                }
            }
            if !self.started {
                // A byte-order mark before the first line.
                self.started = true;
                if self.buf.starts_with(b"\xEF\xBB\xBF") {
                    self.buf.drain(..3);
                    continue;
                }
            }
            let line = &self.buf[pos..];
            let body_len = line
                .iter()
                .position(|b| matches!(b, b'\r' | b'\n'))
                .unwrap_or(line.len());
            let body = &line[..body_len];
            let line_len = line.len();
            let kind = line_kind(body);
            let at = (self.buf_offset() + pos as u64) as usize;
            if msg_start.is_some() && kind != LineKind::Other {
                break;
            }
            let blank = body.iter().all(|b| matches!(b, b' ' | b'\t' | 0 | 0x1A));
            if msg_start.is_none() && (kind != LineKind::Msh && kind != LineKind::Other || blank) {
                self.envelope.see(kind, body, at);
                self.buf.drain(..line_len);
                continue;
            }
            if msg_start.is_none() {
                msg_start = Some(at as u64);
                self.envelope.see(kind, body, at);
            }
            pos += line_len;
            if too_large || pos > self.limit {
                too_large = true;
                self.buf.clear();
                pos = 0;
            }
        }
        let Some(start) = msg_start else {
            self.envelope.finish(self.stream_pos as usize);
            return None;
        };
        self.consumed = pos;
        if too_large {
            return Some(Err(ReadError::TooLarge {
                offset: start,
                limit: self.limit,
            }));
        }
        Some(Message::parse_at(&self.buf[..pos], start, &self.options).map_err(ReadError::from))
    }
}
