//! Acknowledgements: ACK messages with MSA and ERR, in original and
//! enhanced mode.

use crate::delim::Delimiters;
use crate::error::{Issue, Severity};
use crate::escape::escape_text;
use crate::parse::Message;

/// MSA-1, the acknowledgement code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckCode {
    /// Application accept.
    AA,
    /// Application error: the message was processed and found in error.
    AE,
    /// Application reject: the message was not processed (bad type, version, structure).
    AR,
    /// Commit accept (enhanced mode): the message is safely stored.
    CA,
    /// Commit error (enhanced mode).
    CE,
    /// Commit reject (enhanced mode).
    CR,
}

impl AckCode {
    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
            AckCode::CA => "CA",
            AckCode::CE => "CE",
            AckCode::CR => "CR",
        }
    }

    /// Whether the code accepts the message (AA, CA).
    pub fn is_accept(self) -> bool {
        matches!(self, AckCode::AA | AckCode::CA)
    }
}

/// Which acknowledgement protocol the sender asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckMode {
    /// Original mode: one application acknowledgement (AA/AE/AR).
    Original,
    /// Enhanced mode (MSH-15/MSH-16 valued): an accept acknowledgement
    /// (CA/CE/CR) when the message is stored, then an application one.
    Enhanced,
}

/// When an acknowledgement of one kind is wanted (MSH-15/MSH-16 values).
fn wanted(condition: Option<&str>, ok: bool) -> bool {
    match condition {
        None | Some("AL") => true,
        Some("NE") => false,
        Some("ER") => !ok,
        Some("SU") => ok,
        // An unknown value: answer, as the safe choice.
        Some(_) => true,
    }
}

impl AckMode {
    /// The mode a message asks for: enhanced when MSH-15 or MSH-16 is valued.
    pub fn of(msg: &Message<'_>) -> AckMode {
        let h = msg.header();
        if h.accept_ack_type().is_some() || h.application_ack_type().is_some() {
            AckMode::Enhanced
        } else {
            AckMode::Original
        }
    }

    /// Whether the sender wants an accept (commit) acknowledgement for an
    /// outcome (`ok`: the message was stored). Never in original mode, where
    /// the one acknowledgement is the application acknowledgement.
    pub fn wants_accept_ack(msg: &Message<'_>, ok: bool) -> bool {
        match AckMode::of(msg) {
            AckMode::Original => false,
            AckMode::Enhanced => wanted(msg.header().accept_ack_type().as_deref(), ok),
        }
    }

    /// Whether the sender wants an application acknowledgement for an outcome.
    pub fn wants_application_ack(msg: &Message<'_>, ok: bool) -> bool {
        match AckMode::of(msg) {
            AckMode::Original => true,
            AckMode::Enhanced => wanted(msg.header().application_ack_type().as_deref(), ok),
        }
    }
}

/// ERR-2, where in the acknowledged message an error is (ERL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorLocation {
    /// The segment id.
    pub segment: [u8; 3],
    /// ERL.2: which occurrence of this segment id in the message (1 for the
    /// first OBX, 5 for the fifth), as the standard defines it.
    pub sequence: u32,
    /// Field number, if the error is in a field.
    pub field: Option<u32>,
    /// Repetition, if known.
    pub repetition: Option<u32>,
    /// Component, if known.
    pub component: Option<u32>,
    /// Sub-component, if known.
    pub subcomponent: Option<u32>,
}

impl ErrorLocation {
    /// The location of a parse issue of `msg`: its segment, when the issue
    /// has one, counted as the n-th segment with that id.
    pub fn of_issue(msg: &Message<'_>, issue: &Issue) -> Option<Self> {
        let seg = issue.segment?;
        let occurrence = msg
            .segments()
            .take(seg.position as usize)
            .filter(|s| s.id_bytes() == seg.id)
            .count();
        Some(ErrorLocation {
            segment: seg.id,
            sequence: u32::try_from(occurrence.max(1)).unwrap_or(u32::MAX),
            field: None,
            repetition: None,
            component: None,
            subcomponent: None,
        })
    }
}

/// One ERR segment.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AckError {
    location: Option<ErrorLocation>,
    hl7_code: &'static str,
    severity: &'static str,
    application_code: Option<String>,
}

/// An acknowledgement being built for a received message.
///
/// Values taken from the received message (applications, facilities,
/// control id) are copied as they were encoded; text given here is escaped.
/// Error detail carries codes and positions, never message content.
///
/// ```
/// use caresync_hl7v2::{Ack, AckCode, Message};
///
/// let msg = Message::parse(b"MSH|^~\\&|LAB|H1|EHR|H2|20240101||ORU^R01|C42|P|2.5.1\rPID|1\r")?;
/// let ack = Ack::new(&msg, AckCode::AA, "ACK0001", "20240101120000").to_bytes();
/// assert_eq!(
///     ack,
///     b"MSH|^~\\&|EHR|H2|LAB|H1|20240101120000||ACK^R01^ACK|ACK0001|P|2.5.1\rMSA|AA|C42\r"
/// );
/// # Ok::<(), caresync_hl7v2::ParseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ack<'m> {
    original: &'m Message<'m>,
    code: AckCode,
    control_id: String,
    timestamp: String,
    text: Option<String>,
    errors: Vec<AckError>,
}

/// HL7 table 0357 codes used for parse issues.
const SEGMENT_SEQUENCE_ERROR: &str = "100";
const REQUIRED_FIELD_MISSING: &str = "101";
const DATA_TYPE_ERROR: &str = "102";
const APPLICATION_INTERNAL_ERROR: &str = "207";

impl<'m> Ack<'m> {
    /// Starts an acknowledgement of `original` with a new control id for the
    /// ACK itself and its creation time (`YYYYMMDDHHMMSS[+-ZZZZ]`).
    pub fn new(
        original: &'m Message<'m>,
        code: AckCode,
        control_id: impl Into<String>,
        timestamp: impl Into<String>,
    ) -> Self {
        Ack {
            original,
            code,
            control_id: control_id.into(),
            timestamp: timestamp.into(),
            text: None,
            errors: Vec::new(),
        }
    }

    /// Adds MSA-3, a short text for people. Do not put patient data in it.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Adds an ERR segment: HL7 table 0357 code (`"101"`, `"207"`, ...), severity
    /// (`E`, `W`, `I`), location, and our stable code as the application error code.
    pub fn with_error(
        mut self,
        hl7_code: &'static str,
        severity: Severity,
        location: Option<ErrorLocation>,
        application_code: Option<caresync_core::ErrorCode>,
    ) -> Self {
        self.errors.push(AckError {
            location,
            hl7_code,
            severity: match severity {
                Severity::Error => "E",
                Severity::Warning => "W",
            },
            application_code: application_code.map(|c| c.code().to_owned()),
        });
        self
    }

    /// Adds one ERR per issue of the original message (code, segment location).
    pub fn with_issues(mut self) -> Self {
        let original = self.original;
        for issue in original.issues() {
            let hl7_code = match issue.code {
                c if c == crate::codes::MISSING_HEADER_FIELD => REQUIRED_FIELD_MISSING,
                c if c == crate::codes::BAD_SEGMENT_ID || c == crate::codes::EMPTY_SEGMENT => {
                    SEGMENT_SEQUENCE_ERROR
                }
                c if c.class() == caresync_core::ErrorClass::Parse => DATA_TYPE_ERROR,
                _ => APPLICATION_INTERNAL_ERROR,
            };
            self = self.with_error(
                hl7_code,
                issue.severity,
                ErrorLocation::of_issue(original, issue),
                Some(issue.code),
            );
        }
        self
    }

    /// Writes the ACK message, each segment ending in `\r`, with the
    /// delimiters of the original.
    pub fn to_bytes(&self) -> Vec<u8> {
        let d = self.original.delimiters();
        let h = self.original.header();
        let raw = |n: usize| {
            h.segment()
                .and_then(|s| s.field(n))
                .map_or(&b""[..], |v| v.raw())
        };
        let version = h.version();
        let old_err = version.as_deref().is_some_and(is_before_2_5);
        let f = d.field();
        let mut out = Vec::with_capacity(256);

        // MSH: sender and receiver swapped.
        out.extend_from_slice(b"MSH");
        out.extend_from_slice(&d.msh_header());
        for n in [5, 6, 3, 4] {
            out.push(f);
            out.extend_from_slice(raw(n));
        }
        out.push(f);
        text_into(&self.timestamp, &d, &mut out);
        out.push(f); // MSH-8
        out.push(f);
        out.extend_from_slice(b"ACK");
        if let Some(t) = h.message_type() {
            out.push(d.component());
            text_into(&t.trigger, &d, &mut out);
            out.push(d.component());
            out.extend_from_slice(b"ACK");
        }
        out.push(f);
        text_into(&self.control_id, &d, &mut out);
        out.push(f);
        out.extend_from_slice(raw(11));
        out.push(f);
        out.extend_from_slice(raw(12));
        let enhanced = AckMode::of(self.original) == AckMode::Enhanced;
        let charset = raw(18);
        if enhanced || !charset.is_empty() {
            // MSH-13, MSH-14.
            out.extend_from_slice(&[f, f]);
            out.push(f);
            if enhanced {
                // An acknowledgement is never itself acknowledged.
                out.extend_from_slice(b"NE");
            }
            out.push(f);
            if enhanced {
                out.extend_from_slice(b"NE");
            }
            if !charset.is_empty() {
                // MSH-17, then MSH-18 as the original declared it: copied
                // values are in that character set.
                out.extend_from_slice(&[f, f]);
                out.extend_from_slice(charset);
            }
        }
        out.push(b'\r');

        // MSA
        out.extend_from_slice(b"MSA");
        out.push(f);
        out.extend_from_slice(self.code.as_str().as_bytes());
        out.push(f);
        out.extend_from_slice(raw(10));
        if let Some(text) = &self.text {
            out.push(f);
            text_into(text, &d, &mut out);
        }
        out.push(b'\r');

        for e in &self.errors {
            out.extend_from_slice(b"ERR");
            out.push(f);
            if old_err {
                // v2.3-2.4: ERR-1 (ELD) = segment^sequence^field^code.
                if let Some(l) = &e.location {
                    out.extend_from_slice(&l.segment);
                    out.push(d.component());
                    out.extend_from_slice(l.sequence.to_string().as_bytes());
                    out.push(d.component());
                    if let Some(fld) = l.field {
                        out.extend_from_slice(fld.to_string().as_bytes());
                    }
                } else {
                    out.extend_from_slice(&[d.component(), d.component()]);
                }
                out.push(d.component());
                out.extend_from_slice(e.hl7_code.as_bytes());
                out.push(b'\r');
                continue;
            }
            // v2.5+: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-5 application code.
            out.push(f);
            if let Some(l) = &e.location {
                out.extend_from_slice(&l.segment);
                out.push(d.component());
                out.extend_from_slice(l.sequence.to_string().as_bytes());
                for part in [l.field, l.repetition, l.component, l.subcomponent] {
                    out.push(d.component());
                    if let Some(n) = part {
                        out.extend_from_slice(n.to_string().as_bytes());
                    }
                }
                trim_trailing(&mut out, d.component());
            }
            out.push(f);
            out.extend_from_slice(e.hl7_code.as_bytes());
            out.push(d.component());
            out.extend_from_slice(hl7_error_text(e.hl7_code).as_bytes());
            out.push(d.component());
            out.extend_from_slice(b"HL70357");
            out.push(f);
            out.extend_from_slice(e.severity.as_bytes());
            if let Some(code) = &e.application_code {
                out.push(f);
                text_into(code, &d, &mut out);
            }
            out.push(b'\r');
        }
        out
    }
}

fn text_into(text: &str, d: &Delimiters, out: &mut Vec<u8>) {
    // Without an escape character (MSH-2 of two characters), what cannot be
    // written is left out.
    let mut escaped = Vec::with_capacity(text.len());
    if escape_text(text, d, &mut escaped).is_ok() {
        out.extend_from_slice(&escaped);
    } else {
        out.extend(text.bytes().filter(|&b| !d.is_special(b) && b >= 0x20));
    }
}

fn trim_trailing(out: &mut Vec<u8>, sep: u8) {
    while out.last() == Some(&sep) {
        out.pop();
    }
}

fn is_before_2_5(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) < (2, 5)
}

fn hl7_error_text(code: &str) -> &'static str {
    match code {
        "0" => "Message accepted",
        "100" => "Segment sequence error",
        "101" => "Required field missing",
        "102" => "Data type error",
        "103" => "Table value not found",
        "104" => "Value too long",
        "200" => "Unsupported message type",
        "201" => "Unsupported event code",
        "202" => "Unsupported processing id",
        "203" => "Unsupported version id",
        "204" => "Unknown key identifier",
        "205" => "Duplicate key identifier",
        "206" => "Application record locked",
        "207" => "Application internal error",
        _ => "Error",
    }
}
