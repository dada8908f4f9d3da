//! Printing a parsed message back to bytes.

use crate::delim::Delimiters;
use crate::escape::{EncodeError, transcode};
use crate::parse::{Message, is_header_id};

/// How to print a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrintOptions {
    /// The delimiters to print with; `None` keeps the message's own.
    pub delimiters: Option<Delimiters>,
    /// The segment terminator; the standard's is `\r`.
    pub terminator: Terminator,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions {
            delimiters: None,
            terminator: Terminator::Cr,
        }
    }
}

/// A segment terminator for printing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Terminator {
    /// `\r`, as the standard says.
    Cr,
    /// `\n`, for files meant for people.
    Lf,
    /// `\r\n`.
    CrLf,
}

impl Terminator {
    fn bytes(self) -> &'static [u8] {
        match self {
            Terminator::Cr => b"\r",
            Terminator::Lf => b"\n",
            Terminator::CrLf => b"\r\n",
        }
    }
}

impl PrintOptions {
    /// Prints with other delimiters.
    pub fn with_delimiters(mut self, delimiters: Delimiters) -> Self {
        self.delimiters = Some(delimiters);
        self
    }

    /// Prints with another segment terminator.
    pub fn with_terminator(mut self, terminator: Terminator) -> Self {
        self.terminator = terminator;
        self
    }
}

impl Message<'_> {
    /// Prints the message with `\r` after every segment. For a well-formed
    /// input terminated by `\r`, the output is byte-identical to the input.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.as_bytes().len() + 1);
        // Printing with the message's own delimiters cannot fail.
        self.write_to(&mut out, &PrintOptions::default())
            .expect("printing with the message's own delimiters never needs new escapes");
        out
    }

    /// Appends the message to `out` as `options` ask. With other delimiters,
    /// separators are mapped, escape sequences are kept (with the new escape
    /// character), and data characters that are delimiters in the new set are
    /// escaped.
    ///
    /// ```
    /// use caresync_hl7v2::{Delimiters, Message, PrintOptions};
    ///
    /// let msg = Message::parse(b"MSH|^~\\&|A|B|||20240101||ADT^A01|1|P|2.5\rPID|1||7^^^H~8#9\r")?;
    /// let hash = Delimiters::new(b'#', b'$', b'*', Some(b'@'), Some(b'!'), None).expect("legal");
    /// let mut out = Vec::new();
    /// msg.write_to(&mut out, &PrintOptions::default().with_delimiters(hash))?;
    /// assert_eq!(out, b"MSH#$*@!#A#B###20240101##ADT$A01#1#P#2.5\rPID#1##7$$$H*8@F@9\r");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_to(&self, out: &mut Vec<u8>, options: &PrintOptions) -> Result<(), EncodeError> {
        let from = self.delimiters();
        let to = options.delimiters.unwrap_or(from);
        let term = options.terminator.bytes();
        for seg in self.segments() {
            if to == from {
                out.extend_from_slice(seg.as_bytes());
                out.extend_from_slice(term);
                continue;
            }
            let id = seg.head();
            let header = is_header_id(id) && seg.field(2).is_some();
            transcode(id, &from, &to, out)?;
            let first = if header {
                out.push(to.field());
                out.extend_from_slice(&to.encoding_characters());
                3
            } else {
                1
            };
            for n in first..=seg.field_count() {
                out.push(to.field());
                if let Some(v) = seg.field(n) {
                    transcode(v.raw(), &from, &to, out)?;
                }
            }
            out.extend_from_slice(term);
        }
        Ok(())
    }
}
