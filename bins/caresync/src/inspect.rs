//! `caresync inspect FILE...`: detect the format of each file, parse it, and
//! print one JSON object per message (or a summary per file).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use caresync_hl7v2::mllp::{MllpDecoder, Scan};
use caresync_hl7v2::{Issue, Message, MessageReader, ParseOptions, ReadError, Severity, Value};
use serde_json::{Value as Json, json};

/// Arguments of `caresync inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files to inspect (HL7 v2 messages, batch files or MLLP captures).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print counts and issues per file instead of one object per message.
    #[arg(long)]
    summary: bool,
    /// Exit non-zero when any message has any issue, listing each on stderr.
    #[arg(long)]
    strict: bool,
}

/// What a file holds, judged from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Hl7v2,
    Mllp,
}

fn detect(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if head.first() == Some(&caresync_hl7v2::mllp::START_BLOCK) {
        return Some(Format::Mllp);
    }
    ["MSH", "FHS", "BHS"]
        .iter()
        .any(|id| head.starts_with(id.as_bytes()))
        .then_some(Format::Hl7v2)
}

/// What one file produced.
#[derive(Debug, Default)]
struct Tally {
    format: &'static str,
    messages: u64,
    types: BTreeMap<String, u64>,
    issues: Vec<Json>,
    unreadable: u64,
}

pub(crate) fn run(args: Args) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut any_issue = false;
    let mut failed = false;
    for path in &args.files {
        match inspect_file(path, &args, &mut out) {
            Ok(tally) => {
                any_issue |= !tally.issues.is_empty() || tally.unreadable > 0;
                if args.summary {
                    let summary = json!({
                        "file": path.display().to_string(),
                        "format": tally.format,
                        "messages": tally.messages,
                        "unreadable": tally.unreadable,
                        "types": tally.types,
                        "issues": tally.issues,
                    });
                    if writeln!(out, "{summary}").is_err() {
                        return ExitCode::FAILURE;
                    }
                }
                if args.strict {
                    for issue in &tally.issues {
                        let _ = writeln!(
                            std::io::stderr(),
                            "{}: byte {}: {} {}",
                            path.display(),
                            issue["offset"],
                            issue["code"].as_str().unwrap_or_default(),
                            issue["title"].as_str().unwrap_or_default(),
                        );
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "{}: {e:#}", path.display());
                failed = true;
            }
        }
    }
    if failed || (args.strict && any_issue) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn inspect_file(path: &Path, args: &Args, out: &mut impl Write) -> anyhow::Result<Tally> {
    let file = File::open(path).context("cannot open")?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().context("cannot read")?;
    let Some(format) = detect(head) else {
        bail!("unrecognised format (expected HL7 v2: MSH, FHS or BHS first, or an MLLP capture)");
    };
    let mut tally = Tally::default();
    match format {
        Format::Hl7v2 => {
            tally.format = "hl7v2";
            let mut messages = MessageReader::new(reader);
            let mut index = 0u64;
            while let Some(msg) = messages.next_message() {
                report(msg, index, args, &mut tally, out)?;
                index += 1;
            }
            for issue in messages.envelope_issues() {
                tally.issues.push(issue_json(issue, None));
            }
        }
        Format::Mllp => {
            tally.format = "hl7v2-mllp";
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).context("cannot read")?;
            let mut decoder = MllpDecoder::default();
            let mut at = 0usize;
            let mut index = 0u64;
            loop {
                let found = decoder.scan_eof(&bytes[at..]);
                match &found {
                    Scan::NeedMore => break,
                    Scan::Frame { payload, .. } => {
                        let frame = &bytes[at + payload.start..at + payload.end];
                        let base = (at + payload.start) as u64;
                        let msg = Message::parse_at(frame, base, &ParseOptions::default());
                        report(msg.map_err(ReadError::from), index, args, &mut tally, out)?;
                        index += 1;
                    }
                    Scan::Error { error, .. } => {
                        tally.unreadable += 1;
                        tally.issues.push(json!({
                            "code": error.code().code(),
                            "title": error.code().title(),
                            "severity": "error",
                            "offset": at,
                        }));
                    }
                    _ => {}
                }
                at += found.consumed();
            }
        }
    }
    Ok(tally)
}

fn report(
    msg: Result<Message<'_>, ReadError>,
    index: u64,
    args: &Args,
    tally: &mut Tally,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let msg = match msg {
        Ok(msg) => msg,
        Err(ReadError::Io(e)) => return Err(e).context("cannot read"),
        Err(e) => {
            tally.unreadable += 1;
            let (code, offset) = match &e {
                ReadError::Parse(p) => (p.code(), p.offset()),
                ReadError::TooLarge { offset, .. } => (caresync_hl7v2::codes::TOO_LARGE, *offset),
                _ => (caresync_hl7v2::codes::TOO_LARGE, 0),
            };
            tally.issues.push(json!({
                "code": code.code(),
                "title": code.title(),
                "severity": "error",
                "offset": offset,
                "message": index,
            }));
            return Ok(());
        }
    };
    tally.messages += 1;
    let header = msg.header();
    let kind = header.message_type().map(|t| t.to_string());
    *tally
        .types
        .entry(kind.clone().unwrap_or_else(|| "?".to_owned()))
        .or_default() += 1;
    let issues: Vec<Json> = msg
        .issues()
        .iter()
        .map(|i| issue_json(i, Some(index)))
        .collect();
    tally.issues.extend(issues.iter().cloned());
    if args.summary {
        return Ok(());
    }
    let segments: Vec<Json> = msg
        .segments()
        .map(|seg| {
            let fields: Vec<Json> = (1..=seg.field_count())
                .map(|n| seg.field(n).map_or(Json::Null, value_json))
                .collect();
            json!({ "id": seg.id(), "fields": fields })
        })
        .collect();
    let line = json!({
        "message": index,
        "offset": msg.segment_at(0).map(|s| s.offset()),
        "type": kind,
        "structure": header.message_type().and_then(|t| t.structure.map(|s| s.into_owned())),
        "control_id": header.control_id(),
        "version": header.version(),
        "timestamp": header.timestamp().and_then(Result::ok).map(|t| t.to_string()),
        "charset": msg.charset().name(),
        "segments": segments,
        "issues": issues,
    });
    writeln!(out, "{line}").context("cannot write")?;
    Ok(())
}

fn issue_json(issue: &Issue, message: Option<u64>) -> Json {
    json!({
        "code": issue.code.code(),
        "title": issue.code.title(),
        "severity": match issue.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "offset": issue.offset,
        "segment": issue.segment.map(|s| format!("{} #{}", s.id_str(), s.position)),
        "message": message,
    })
}

/// A field as JSON, always at the same depth so the levels cannot be
/// confused: an array of repetitions, each an array of components, each a
/// string or, when it has sub-components, an array of them. An empty field
/// is `[]`.
fn value_json(v: Value<'_>) -> Json {
    let repetitions = v
        .repetitions()
        .map(|r| {
            let components = r
                .components()
                .map(|c| {
                    let mut subs: Vec<Json> = c
                        .subcomponents()
                        .map(|s| Json::String(s.decode().into_owned()))
                        .collect();
                    match subs.len() {
                        0 => Json::String(String::new()),
                        1 => subs.pop().unwrap_or_default(),
                        _ => Json::Array(subs),
                    }
                })
                .collect();
            Json::Array(components)
        })
        .collect();
    Json::Array(repetitions)
}
