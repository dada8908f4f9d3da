//! HL7 v2 over MLLP/TCP, the hospital transport.
//!
//! Each connection reads frames and submits each to bronze; its
//! acknowledgement is written only once the message is durable there, in
//! the order the frames came. A sender may pipeline: up to
//! [`MllpOptions::max_in_flight`] frames per connection wait for bronze at
//! once.
//!
//! Acknowledgements:
//!
//! - stored, header readable: `AA` (original mode) or `CA` (enhanced
//!   mode, MSH-15/16 valued; `NE`/`ER` honoured: no ACK when not wanted);
//! - stored, header unreadable (not HL7 v2): a minimal `AR` with an ERR
//!   carrying the parse error's code, so the sender does not send it
//!   again; the bytes are in bronze and go to the dead-letter table;
//! - not stored (bronze failed, or shutting down): `AE` / `CE` with code
//!   `STREAM-0001`/`0002`: the sender should send it again.
//!
//! Framing errors (a frame over the maximum, cut off or truncated) are
//! logged with their code and stream offset; there is no message to answer.
//! On shutdown a connection stops reading new frames, writes the
//! acknowledgements of those in flight, and closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use caresync_core::ErrorCode;
use caresync_hl7v2::mllp::{MllpCodec, MllpDecoder, encode_frame};
use caresync_hl7v2::{Ack, AckCode, AckMode, Message, Severity};
use futures::stream::FuturesOrdered;
use futures::{FutureExt as _, StreamExt as _};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::ingest::{Format, Inbound, IngestHandle};

/// How connections are served.
#[derive(Clone, Copy, Debug)]
pub struct MllpOptions {
    /// The largest frame payload taken, in bytes.
    pub max_frame: usize,
    /// Frames of one connection waiting for bronze at once.
    pub max_in_flight: usize,
}

impl Default for MllpOptions {
    fn default() -> Self {
        MllpOptions {
            max_frame: MllpDecoder::DEFAULT_MAX_FRAME,
            max_in_flight: 256,
        }
    }
}

/// Serves MLLP on `listener` until `cancel` fires, then lets every
/// connection finish its frames in flight.
pub async fn serve(
    listener: TcpListener,
    ingest: IngestHandle,
    source: Arc<str>,
    options: MllpOptions,
    cancel: CancellationToken,
) {
    crate::net::serve_until_cancelled(listener, &cancel, "MLLP", |stream| {
        connection(
            stream,
            ingest.clone(),
            source.clone(),
            options,
            cancel.clone(),
        )
    })
    .await;
}

async fn connection(
    stream: TcpStream,
    ingest: IngestHandle,
    source: Arc<str>,
    options: MllpOptions,
    cancel: CancellationToken,
) {
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, MllpCodec::new(options.max_frame));
    let mut pending = FuturesOrdered::new();
    let mut reading = true;
    let mut out = Vec::new();
    loop {
        if !reading && pending.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            Some(ack) = pending.next(), if !pending.is_empty() => {
                // A bronze commit makes many frames durable at once: their
                // acknowledgements, in order, go out in one write.
                out.clear();
                let mut next: Option<Option<Vec<u8>>> = Some(ack);
                while let Some(ack) = next {
                    if let Some(ack) = ack {
                        encode_frame(&ack, &mut out);
                    }
                    next = pending.next().now_or_never().flatten();
                }
                if !out.is_empty() && write.write_all(&out).await.is_err() {
                    // The sender is gone: what is in flight is still
                    // written to bronze, unacknowledged.
                    reading = false;
                }
            }
            () = cancel.cancelled(), if reading => reading = false,
            frame = frames.next(), if reading && pending.len() < options.max_in_flight => match frame {
                Some(Ok(Ok(payload))) => {
                    pending.push_back(handle(payload.to_vec(), ingest.clone(), source.clone()));
                }
                Some(Ok(Err(error))) => {
                    tracing::warn!(code = %error.code(), error = %error, "MLLP framing error");
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "MLLP connection read failed");
                    reading = false;
                }
                None => reading = false,
            },
        }
    }
    let _ = write.shutdown().await;
}

/// Submits one frame and returns its acknowledgement (none when the sender
/// asked for none).
async fn handle(payload: Vec<u8>, ingest: IngestHandle, source: Arc<str>) -> Option<Vec<u8>> {
    let arrived = Instant::now();
    // The acknowledgement and the message id need the header only: keep
    // the MSH segment, not a copy of the whole message.
    let end = memchr::memchr2(b'\r', b'\n', &payload).unwrap_or(payload.len());
    let msh = payload[..end].to_vec();
    let message_id = Message::parse(&msh)
        .ok()
        .and_then(|m| m.header().control_id().map(|c| c.into_owned()));
    let inbound = Inbound {
        source: source.clone(),
        format: Format::Hl7v2,
        message_id,
        received_at: SystemTime::now(),
        payload,
    };
    let stored = ingest.submit(inbound).await;
    let ack = acknowledge(&msh, stored.as_ref().err().map(|e| e.code()));
    crate::metrics::acked(&source, arrived.elapsed());
    ack
}

/// The acknowledgement of `payload`: stored when `failure` is `None`.
pub(crate) fn acknowledge(payload: &[u8], failure: Option<ErrorCode>) -> Option<Vec<u8>> {
    let (id, time) = ack_id_and_time();
    let msg = match Message::parse(payload) {
        Ok(msg) => msg,
        Err(e) => {
            let code = failure.unwrap_or(e.code());
            let ack_code = if failure.is_some() { "AE" } else { "AR" };
            return Some(minimal_nak(ack_code, code, &id, &time));
        }
    };
    let ok = failure.is_none();
    let enhanced = AckMode::of(&msg) == AckMode::Enhanced;
    if enhanced && !AckMode::wants_accept_ack(&msg, ok) {
        return None;
    }
    let code = match (enhanced, ok) {
        (false, true) => AckCode::AA,
        (false, false) => AckCode::AE,
        (true, true) => AckCode::CA,
        (true, false) => AckCode::CE,
    };
    let mut ack = Ack::new(&msg, code, id, time);
    if let Some(failure) = failure {
        ack = ack.with_text("not stored; send again").with_error(
            "207",
            Severity::Error,
            None,
            Some(failure),
        );
    }
    Some(ack.to_bytes())
}

/// A NAK for bytes without a readable MSH.
fn minimal_nak(ack_code: &str, code: ErrorCode, id: &str, time: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|CARESYNC||||{time}||ACK|{id}|P|2.5.1\rMSA|{ack_code}|\rERR|||100^Segment sequence error^HL70357|E|{}^^CARESYNC\r",
        code.code()
    )
    .into_bytes()
}

/// A fresh acknowledgement control id and the current time as HL7 `DTM`.
fn ack_id_and_time() -> (String, String) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let now = chrono::Utc::now();
    (
        format!("CS{n}"),
        now.format("%Y%m%d%H%M%S+0000").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ack: Option<Vec<u8>>) -> String {
        String::from_utf8(ack.expect("an acknowledgement")).expect("ASCII")
    }

    #[test]
    fn a_stored_message_gets_aa_with_its_control_id() {
        let msg =
            b"MSH|^~\\&|ADT|GHH|EHR|GHH|20240501103000||ADT^A01|MSG00042|P|2.5.1\rPID|1||4711\r";
        let ack = text(acknowledge(msg, None));
        assert!(ack.contains("\rMSA|AA|MSG00042"), "{ack}");
        assert!(!ack.contains("4711"));
    }

    #[test]
    fn a_message_not_stored_gets_ae_with_the_code() {
        let msg = b"MSH|^~\\&|ADT|GHH|EHR|GHH|20240501103000||ADT^A01|MSG7|P|2.5.1\r";
        let ack = text(acknowledge(msg, Some(crate::ingest::codes::BRONZE_WRITE)));
        assert!(ack.contains("\rMSA|AE|MSG7"), "{ack}");
        assert!(ack.contains("STREAM-0001"), "{ack}");
    }

    #[test]
    fn enhanced_mode_gets_ca_or_nothing() {
        let al = b"MSH|^~\\&|A|B|C|D|20240501103000||ADT^A01|M1|P|2.5.1|||AL|NE\r";
        assert!(text(acknowledge(al, None)).contains("\rMSA|CA|M1"));
        let er = b"MSH|^~\\&|A|B|C|D|20240501103000||ADT^A01|M2|P|2.5.1|||ER|NE\r";
        assert_eq!(acknowledge(er, None), None);
    }

    #[test]
    fn garbage_gets_a_minimal_ar_with_the_parse_code() {
        let ack = text(acknowledge(b"hello, not hl7", None));
        assert!(ack.starts_with("MSH|^~\\&|CARESYNC"), "{ack}");
        assert!(ack.contains("\rMSA|AR|\r"), "{ack}");
        assert!(ack.contains("|E|HL7-"), "{ack}");
    }
}
