//! Bulk-export NDJSON: one resource per line.

use std::io::{BufRead, ErrorKind};

use super::{RawResource, ReadError, ReadOptions, Source};

/// An iterator over the resources of an NDJSON file, one per line.
///
/// Lines are numbered from 1 and their byte offsets kept in each item's
/// [`Source`]. Blank lines (only whitespace) are skipped. A line that is not
/// a resource becomes an `Err` item and reading goes on with the next line;
/// only an I/O error ends the stream (after being yielded once).
///
/// The reader holds one line at a time: a line longer than
/// [`ReadOptions::max_bytes`] is consumed in pieces, dropped and reported as
/// [`ReadError::TooLarge`], so memory stays bounded by that limit whatever
/// the file size.
#[derive(Debug)]
pub struct NdjsonReader<R> {
    input: R,
    options: ReadOptions,
    line: u64,
    offset: u64,
    done: bool,
}

impl<R: BufRead> NdjsonReader<R> {
    /// A reader over `input`.
    pub fn new(input: R, options: ReadOptions) -> Self {
        NdjsonReader {
            input,
            options,
            line: 0,
            offset: 0,
            done: false,
        }
    }

    /// Lines read so far (including blank and bad ones).
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    /// Reads one line into `buf` (without the newline); `Ok(None)` at the end.
    /// Returns `Ok(Some(false))` when the line was over the limit.
    fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<Option<bool>, std::io::Error> {
        let limit = self.options.limit();
        let mut fits = true;
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.done = true;
                return Ok(any.then_some(fits));
            }
            any = true;
            let (take, end) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let content = if end { take - 1 } else { take };
            if fits {
                if (buf.len() + content) as u64 > limit {
                    fits = false;
                    *buf = Vec::new();
                } else {
                    buf.extend_from_slice(&available[..content]);
                }
            }
            self.input.consume(take);
            self.offset += take as u64;
            if end {
                return Ok(Some(fits));
            }
        }
    }
}

impl<R: BufRead> Iterator for NdjsonReader<R> {
    type Item = Result<RawResource, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let at = Source::line(self.line + 1, self.offset);
            let mut buf = Vec::new();
            match self.read_line(&mut buf) {
                Ok(None) => return None,
                Ok(Some(fits)) => {
                    self.line += 1;
                    if !fits {
                        return Some(Err(ReadError::TooLarge {
                            at,
                            limit: self.options.limit(),
                        }));
                    }
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(ReadError::Io { at, source }));
                }
            }
            // Trim surrounding JSON whitespace (and the `\r` of CRLF files).
            let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
            let end = buf.iter().rposition(|b| !is_ws(b)).map_or(0, |i| i + 1);
            buf.truncate(end);
            let start = buf.iter().position(|b| !is_ws(b)).unwrap_or(buf.len());
            if start == buf.len() {
                continue;
            }
            buf.drain(..start);
            let text = match String::from_utf8(buf) {
                Ok(text) => text,
                Err(_) => return Some(Err(ReadError::NotUtf8 { at })),
            };
            return Some(RawResource::parse(text, &self.options, at));
        }
    }
}
