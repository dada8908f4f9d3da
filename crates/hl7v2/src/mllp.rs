//! MLLP framing: the Minimal Lower Layer Protocol that carries HL7 v2 over TCP.
//!
//! On the wire every message is one frame: a start block `0x0B`, the message
//! bytes (the *payload*), an end block `0x1C` and a carriage return `0x0D`.
//!
//! [`MllpDecoder`] is a sans-io framer: hand it the bytes received so far and
//! it says what it found at their front ([`Scan`]) and how many bytes to drop.
//! It does no I/O, so it works with blocking sockets, any async runtime, or a
//! capture file. [`encode_frame`] writes one frame. With the `tokio` feature,
//! `MllpCodec` wraps both for tokio-util's `Framed`, `FramedRead` and
//! `FramedWrite`.
//!
//! ```
//! use caresync_hl7v2::mllp::{MllpDecoder, Scan, encode_frame};
//!
//! let mut wire = Vec::new();
//! encode_frame(b"MSH|^~\\&|A\r", &mut wire);
//! wire.extend_from_slice(b"\r\n"); // junk between frames is skipped
//! encode_frame(b"MSH|^~\\&|B\r", &mut wire);
//!
//! let mut decoder = MllpDecoder::default();
//! let mut buf = Vec::new();
//! let mut messages = Vec::new();
//! let mut errors = Vec::new();
//! for chunk in wire.chunks(5) {
//!     // The bytes arrive five at a time.
//!     buf.extend_from_slice(chunk);
//!     loop {
//!         match decoder.scan(&buf) {
//!             Scan::NeedMore => break,
//!             Scan::Frame { payload, consumed } => {
//!                 messages.push(buf[payload].to_vec());
//!                 buf.drain(..consumed);
//!             }
//!             Scan::Error { error, consumed } => {
//!                 // Its message holds sizes and offsets, never payload bytes.
//!                 errors.push(error.code());
//!                 buf.drain(..consumed);
//!             }
//!             other => {
//!                 buf.drain(..other.consumed());
//!             }
//!         }
//!     }
//! }
//! // At the end of the stream, `scan_eof` reports a frame cut short.
//! assert_eq!(decoder.scan_eof(&buf), Scan::NeedMore);
//! assert_eq!(messages, [b"MSH|^~\\&|A\r".to_vec(), b"MSH|^~\\&|B\r".to_vec()]);
//! assert!(errors.is_empty());
//! ```
//!
//! # Lenient rules
//!
//! The decoder accepts what real senders do, and says what it saw:
//!
//! 1. **Junk between frames.** Bytes before a start block (a CR LF after the
//!    trailer, spaces, a stray end block, garbage) are reported as
//!    [`Scan::Junk`] and dropped.
//! 2. **The end block ends the frame, whatever follows it.** A `0x0D` right
//!    after it belongs to the trailer. Any other byte is decoded afresh: a
//!    start block begins the next frame (`0x1C 0x0B` is fine), anything else is
//!    junk (`0x1C 0x0A` gives one junk byte). When the end block is the last
//!    byte received, the frame is delivered at once, so a sender that omits the
//!    CR and waits for its acknowledgement is not stalled; a `0x0D` that arrives
//!    next is dropped as the trailer ([`Scan::Skip`]).
//! 3. **A start block inside a frame** means the sender gave up on that frame
//!    and began another: the partial frame is reported as
//!    [`FrameError::Interrupted`] and the new frame is decoded. A start block
//!    right after a start block is one byte of junk (nothing was abandoned).
//! 4. **A frame longer than the maximum** is dropped as it arrives
//!    ([`Scan::Skip`]), so the buffer never holds more than `max_frame + 1`
//!    bytes plus the last read. It is reported once, when its end block (or a
//!    new start block, or the end of the stream) is seen, as
//!    [`FrameError::TooLarge`] with its full length; decoding then goes on with
//!    the next frame.
//! 5. **At the end of the stream** ([`MllpDecoder::scan_eof`]) a partial frame
//!    is reported as [`FrameError::Truncated`] (or `TooLarge` if it was
//!    already over the maximum) instead of being silently lost.
//!
//! A server normally answers `TooLarge` with a negative acknowledgement (the
//! sender is waiting for a reply to that frame) and only logs `Interrupted`
//! (the sender abandoned the frame and expects no reply to it).
//!
//! Scanning is linear: each byte is examined once, however the stream is
//! split, so a 50 MB frame delivered in 1 KB reads costs one pass.
//!
//! Errors and their messages carry stream offsets and sizes, never payload
//! bytes: HL7 v2 messages carry patient data and errors end up in logs.

use std::ops::Range;

use caresync_core::{ErrorClass, ErrorCode};

/// The start block that opens a frame (vertical tab).
pub const START_BLOCK: u8 = 0x0B;
/// The end block that closes a frame (file separator).
pub const END_BLOCK: u8 = 0x1C;
/// The carriage return that follows the end block.
pub const TRAILER: u8 = 0x0D;

/// Stable codes for MLLP framing errors.
pub mod codes {
    use super::{ErrorClass, ErrorCode};

    /// A frame's payload is longer than the configured maximum.
    pub const TOO_LARGE: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "MLLP-0001",
        "frame exceeds the maximum size",
    );
    /// A new start block arrived before the current frame's end block.
    pub const INTERRUPTED: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "MLLP-0002",
        "frame interrupted by a new start block",
    );
    /// The stream ended inside a frame.
    pub const TRUNCATED: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "MLLP-0003",
        "stream ended inside a frame",
    );
    /// A payload to send contains a start or end block byte.
    pub const RESERVED_BYTE: ErrorCode = ErrorCode::new(
        ErrorClass::Parse,
        "MLLP-0004",
        "payload contains an MLLP block byte",
    );
}

/// Every code this module declares.
pub const CODES: &[ErrorCode] = &[
    codes::TOO_LARGE,
    codes::INTERRUPTED,
    codes::TRUNCATED,
    codes::RESERVED_BYTE,
];

/// A framing problem. Offsets count bytes from the start of the stream as the
/// decoder saw it; lengths count payload bytes (without the block bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame's payload is longer than the maximum; it was discarded.
    #[error(
        "{}: frame at stream offset {offset} has {len} payload bytes, over the maximum of {max}",
        codes::TOO_LARGE
    )]
    TooLarge {
        /// Stream offset of the frame's start block.
        offset: u64,
        /// Payload bytes received and discarded (up to the end block, a new
        /// start block, or the end of the stream).
        len: u64,
        /// The maximum in force.
        max: usize,
    },
    /// A new start block arrived before the frame's end block; the partial
    /// frame was discarded.
    #[error(
        "{}: frame at stream offset {offset} was cut off by a new start block after {len} payload bytes",
        codes::INTERRUPTED
    )]
    Interrupted {
        /// Stream offset of the abandoned frame's start block.
        offset: u64,
        /// Payload bytes received before the new start block.
        len: u64,
    },
    /// The stream ended inside a frame; the partial frame was discarded.
    #[error(
        "{}: stream ended inside the frame at stream offset {offset} after {len} payload bytes",
        codes::TRUNCATED
    )]
    Truncated {
        /// Stream offset of the frame's start block.
        offset: u64,
        /// Payload bytes received before the end of the stream.
        len: u64,
    },
    /// A payload to be framed contains `0x0B` or `0x1C`, which would end or
    /// restart the frame on the receiving side.
    #[error(
        "{}: payload byte {offset} is an MLLP start or end block",
        codes::RESERVED_BYTE
    )]
    ReservedByte {
        /// Offset of the first such byte in the payload.
        offset: u64,
    },
}

impl FrameError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => codes::TOO_LARGE,
            FrameError::Interrupted { .. } => codes::INTERRUPTED,
            FrameError::Truncated { .. } => codes::TRUNCATED,
            FrameError::ReservedByte { .. } => codes::RESERVED_BYTE,
        }
    }
}

/// What [`MllpDecoder::scan`] found at the front of the buffer.
///
/// Every variant but [`NeedMore`](Scan::NeedMore) asks the caller to drop
/// [`consumed()`](Scan::consumed) bytes from the front of the buffer before
/// scanning again.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scan {
    /// Nothing complete yet: append more bytes and scan again. From
    /// [`scan_eof`](MllpDecoder::scan_eof): nothing is left.
    NeedMore,
    /// A complete frame.
    Frame {
        /// Where the payload lies in the buffer that was scanned.
        payload: Range<usize>,
        /// Bytes to drop: the whole frame, with its trailer when present.
        consumed: usize,
    },
    /// Bytes outside any frame, before a start block (or all the bytes given,
    /// if none holds a start block). Drop them.
    Junk {
        /// Number of junk bytes.
        len: usize,
    },
    /// Bytes to drop that need no report: the part received so far of a frame
    /// that is over the maximum (reported as [`FrameError::TooLarge`] when it
    /// ends), or a trailer CR that arrived after its frame was delivered.
    Skip {
        /// Number of bytes.
        len: usize,
    },
    /// A frame that could not be delivered.
    Error {
        /// What went wrong.
        error: FrameError,
        /// Bytes to drop: what is left of the bad frame in the buffer.
        consumed: usize,
    },
}

impl Scan {
    /// How many bytes to drop from the front of the buffer.
    pub fn consumed(&self) -> usize {
        match self {
            Scan::NeedMore => 0,
            Scan::Frame { consumed, .. } | Scan::Error { consumed, .. } => *consumed,
            Scan::Junk { len } | Scan::Skip { len } => *len,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Between frames. `trailer`: the last frame's end block was the last
    /// byte seen, so a CR first in the next bytes is its trailer.
    Between { trailer: bool },
    /// The buffer starts with a start block and `buf[1..scanned]` holds no
    /// block byte.
    InFrame { scanned: usize },
    /// Dropping a frame that is over the maximum; it started at stream
    /// offset `start` and `len` payload bytes have been dropped.
    Discarding { start: u64, len: u64 },
}

/// A sans-io MLLP frame decoder.
///
/// The caller owns the buffer. It appends received bytes at the end, calls
/// [`scan`](Self::scan) with the whole unconsumed buffer, and after each
/// answer drops [`Scan::consumed`] bytes from the front, until the answer is
/// [`Scan::NeedMore`]. Between calls the buffer must keep its unconsumed bytes
/// unchanged: the decoder remembers how far it has looked, so no byte is
/// examined twice. At the end of the stream, call
/// [`scan_eof`](Self::scan_eof) the same way.
///
/// See the [module documentation](self) for an example and the rules applied
/// to malformed input.
#[derive(Clone, Debug)]
pub struct MllpDecoder {
    max_frame: usize,
    /// Stream offset of the first byte of the buffer.
    offset: u64,
    state: State,
}

impl Default for MllpDecoder {
    /// A decoder with [`DEFAULT_MAX_FRAME`](Self::DEFAULT_MAX_FRAME).
    fn default() -> Self {
        MllpDecoder::new(MllpDecoder::DEFAULT_MAX_FRAME)
    }
}

impl MllpDecoder {
    /// The default maximum payload size, 64 MiB: room for messages that
    /// embed documents or images, while bounding memory per connection.
    pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

    /// A decoder that accepts payloads of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        MllpDecoder {
            max_frame,
            offset: 0,
            state: State::Between { trailer: false },
        }
    }

    /// The maximum payload size.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Reports what lies at the front of `buf`, the bytes received and not
    /// yet consumed.
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        self.scan_inner(buf, false)
    }

    /// Like [`scan`](Self::scan), once the stream has ended: a partial frame
    /// is reported as an error, and [`Scan::NeedMore`] means nothing is left.
    pub fn scan_eof(&mut self, buf: &[u8]) -> Scan {
        self.scan_inner(buf, true)
    }

    fn scan_inner(&mut self, buf: &[u8], eof: bool) -> Scan {
        let found = self.step(buf, eof);
        self.offset += found.consumed() as u64;
        found
    }

    fn step(&mut self, buf: &[u8], eof: bool) -> Scan {
        loop {
            match self.state {
                State::Between { trailer } => {
                    let Some(&first) = buf.first() else {
                        return Scan::NeedMore;
                    };
                    if trailer {
                        self.state = State::Between { trailer: false };
                        if first == TRAILER {
                            return Scan::Skip { len: 1 };
                        }
                    }
                    return match memchr::memchr(START_BLOCK, buf) {
                        Some(0) => {
                            self.state = State::InFrame { scanned: 1 };
                            continue;
                        }
                        Some(len) => Scan::Junk { len },
                        None => Scan::Junk { len: buf.len() },
                    };
                }
                State::InFrame { scanned } => {
                    if buf.first() != Some(&START_BLOCK) || scanned > buf.len() {
                        // The caller changed the buffer; start afresh on what it gave.
                        self.state = State::Between { trailer: false };
                        continue;
                    }
                    return self.in_frame(buf, scanned, eof);
                }
                State::Discarding { start, len } => return self.discarding(buf, start, len, eof),
            }
        }
    }

    /// `buf[0]` is a start block and `buf[1..scanned]` holds no block byte.
    fn in_frame(&mut self, buf: &[u8], scanned: usize, eof: bool) -> Scan {
        let start = self.offset;
        let Some(at) = find_block(&buf[scanned..]).map(|i| scanned + i) else {
            let len = buf.len() - 1;
            if len > self.max_frame {
                self.state = State::Discarding {
                    start,
                    len: len as u64,
                };
                return Scan::Skip { len: buf.len() };
            }
            if eof {
                self.state = State::Between { trailer: false };
                return Scan::Error {
                    error: FrameError::Truncated {
                        offset: start,
                        len: len as u64,
                    },
                    consumed: buf.len(),
                };
            }
            self.state = State::InFrame { scanned: buf.len() };
            return Scan::NeedMore;
        };
        let len = at - 1;
        let too_large = FrameError::TooLarge {
            offset: start,
            len: len as u64,
            max: self.max_frame,
        };
        if buf[at] == START_BLOCK {
            self.state = State::Between { trailer: false };
            if len == 0 {
                // A doubled start block: nothing was abandoned.
                return Scan::Junk { len: 1 };
            }
            let error = if len > self.max_frame {
                too_large
            } else {
                FrameError::Interrupted {
                    offset: start,
                    len: len as u64,
                }
            };
            return Scan::Error {
                error,
                consumed: at,
            };
        }
        let consumed = self.end_frame(buf, at);
        if len > self.max_frame {
            Scan::Error {
                error: too_large,
                consumed,
            }
        } else {
            Scan::Frame {
                payload: 1..at,
                consumed,
            }
        }
    }

    fn discarding(&mut self, buf: &[u8], start: u64, len: u64, eof: bool) -> Scan {
        let (dropped, consumed) = match find_block(buf) {
            Some(at) if buf[at] == START_BLOCK => {
                self.state = State::Between { trailer: false };
                (at, at)
            }
            Some(at) => (at, self.end_frame(buf, at)),
            None if eof => {
                self.state = State::Between { trailer: false };
                (buf.len(), buf.len())
            }
            None if buf.is_empty() => return Scan::NeedMore,
            None => {
                self.state = State::Discarding {
                    start,
                    len: len + buf.len() as u64,
                };
                return Scan::Skip { len: buf.len() };
            }
        };
        Scan::Error {
            error: FrameError::TooLarge {
                offset: start,
                len: len + dropped as u64,
                max: self.max_frame,
            },
            consumed,
        }
    }

    /// `buf[at]` is an end block: moves between frames and returns how many
    /// bytes the frame takes up to and including its trailer.
    fn end_frame(&mut self, buf: &[u8], at: usize) -> usize {
        match buf.get(at + 1) {
            Some(&TRAILER) => {
                self.state = State::Between { trailer: false };
                at + 2
            }
            Some(_) => {
                self.state = State::Between { trailer: false };
                at + 1
            }
            None => {
                self.state = State::Between { trailer: true };
                at + 1
            }
        }
    }
}

/// The index of the first start or end block in `bytes`.
fn find_block(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(START_BLOCK, END_BLOCK, bytes)
}

/// Appends one frame holding `payload` to `out`.
///
/// The payload is written as it is. It must not contain `0x0B` or `0x1C`,
/// which the receiver would take for block bytes; check untrusted payloads
/// with [`check_payload`] first. (The tokio codec checks for you.)
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 3);
    out.push(START_BLOCK);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[END_BLOCK, TRAILER]);
}

/// Checks that `payload` can be framed: it holds no start or end block byte.
pub fn check_payload(payload: &[u8]) -> Result<(), FrameError> {
    match find_block(payload) {
        Some(at) => Err(FrameError::ReservedByte { offset: at as u64 }),
        None => Ok(()),
    }
}

#[cfg(feature = "tokio")]
pub use codec::MllpCodec;

#[cfg(feature = "tokio")]
mod codec {
    use std::io;

    use bytes::{Buf, BufMut, Bytes, BytesMut};
    use tokio_util::codec::{Decoder, Encoder};

    use super::{END_BLOCK, FrameError, MllpDecoder, START_BLOCK, Scan, TRAILER, check_payload};

    /// An MLLP codec for tokio-util's `Framed`, `FramedRead` and `FramedWrite`.
    ///
    /// Decoding yields one item per frame: `Ok(payload)`, or `Err` for a frame
    /// that could not be delivered (too large, interrupted, or cut off by the
    /// end of the stream), so a server can answer it and keep reading. The
    /// outer `io::Error` is only ever an I/O failure of the underlying stream.
    /// Junk between frames is dropped and counted in
    /// [`junk_bytes`](Self::junk_bytes).
    ///
    /// Encoding writes one frame per payload and refuses a payload that holds
    /// a block byte with an [`io::ErrorKind::InvalidInput`] error wrapping
    /// [`FrameError::ReservedByte`].
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use caresync_hl7v2::mllp::MllpCodec;
    /// use tokio_util::codec::{Decoder, Encoder};
    ///
    /// let mut codec = MllpCodec::default();
    /// let mut wire = BytesMut::new();
    /// codec.encode(&b"MSH|^~\\&|A\r"[..], &mut wire)?;
    /// let frame = codec.decode(&mut wire)?.expect("one whole frame");
    /// assert_eq!(frame, Ok(Bytes::from_static(b"MSH|^~\\&|A\r")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[derive(Clone, Debug, Default)]
    pub struct MllpCodec {
        decoder: MllpDecoder,
        junk: u64,
    }

    impl MllpCodec {
        /// A codec that accepts payloads of at most `max_frame` bytes.
        pub fn new(max_frame: usize) -> Self {
            MllpCodec {
                decoder: MllpDecoder::new(max_frame),
                junk: 0,
            }
        }

        /// The maximum payload size.
        pub fn max_frame(&self) -> usize {
            self.decoder.max_frame()
        }

        /// How many junk bytes (outside any frame) have been dropped so far.
        pub fn junk_bytes(&self) -> u64 {
            self.junk
        }

        fn next(&mut self, src: &mut BytesMut, eof: bool) -> Option<Result<Bytes, FrameError>> {
            loop {
                let found = if eof {
                    self.decoder.scan_eof(src)
                } else {
                    self.decoder.scan(src)
                };
                match found {
                    Scan::NeedMore => return None,
                    Scan::Frame { payload, consumed } => {
                        let mut frame = src.split_to(consumed);
                        frame.truncate(payload.end);
                        frame.advance(payload.start);
                        return Some(Ok(frame.freeze()));
                    }
                    Scan::Error { error, consumed } => {
                        src.advance(consumed);
                        return Some(Err(error));
                    }
                    Scan::Junk { len } => {
                        self.junk += len as u64;
                        src.advance(len);
                    }
                    other => src.advance(other.consumed()),
                }
            }
        }
    }

    impl Decoder for MllpCodec {
        type Item = Result<Bytes, FrameError>;
        type Error = io::Error;

        fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
            Ok(self.next(src, false))
        }

        /// Like `decode`, then reports a partial frame left at the end of the
        /// stream as [`FrameError::Truncated`] rather than dropping it.
        fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Self::Item>> {
            Ok(self.next(src, true))
        }
    }

    impl Encoder<&[u8]> for MllpCodec {
        type Error = io::Error;

        fn encode(&mut self, payload: &[u8], dst: &mut BytesMut) -> io::Result<()> {
            check_payload(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            dst.reserve(payload.len() + 3);
            dst.put_u8(START_BLOCK);
            dst.put_slice(payload);
            dst.put_slice(&[END_BLOCK, TRAILER]);
            Ok(())
        }
    }

    impl Encoder<Bytes> for MllpCodec {
        type Error = io::Error;

        fn encode(&mut self, payload: Bytes, dst: &mut BytesMut) -> io::Result<()> {
            self.encode(&payload[..], dst)
        }
    }
}
