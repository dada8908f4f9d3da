//! `caresync inspect FILE...`: detect the format of each file (HL7 v2
//! messages, batches or MLLP captures; FHIR JSON resources, Bundles or
//! NDJSON; X12 837 claims and 835 remittances), parse it, and print one
//! JSON object per message, resource or claim (or a summary per file).
//! `--to-fhir` prints the FHIR Bundle each HL7 v2 message maps to; `--ack
//! 999` prints the TA1/999 acknowledgements an X12 file would get.

mod x12;

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
    /// Files to inspect (HL7 v2 messages, batch files, MLLP captures, FHIR
    /// JSON resources, Bundles or NDJSON, X12 837/835 interchanges).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// For HL7 v2 input, print the FHIR Bundle each message maps to (one per line).
    #[arg(long)]
    to_fhir: bool,
    /// For X12 input, print the acknowledgements a receiver would send
    /// (TA1 when asked for or when the interchange is not accepted, and a
    /// 999 per functional group).
    #[arg(long, value_parser = ["999"])]
    ack: Option<String>,
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
    Fhir(caresync_fhir::read::Format),
    X12,
}

fn detect(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if head.first() == Some(&caresync_hl7v2::mllp::START_BLOCK) {
        return Some(Format::Mllp);
    }
    if ["MSH", "FHS", "BHS"]
        .iter()
        .any(|id| head.starts_with(id.as_bytes()))
    {
        return Some(Format::Hl7v2);
    }
    if caresync_x12::Delimiters::from_isa(head).is_some() {
        return Some(Format::X12);
    }
    caresync_fhir::read::detect(head).map(Format::Fhir)
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
        bail!(
            "unrecognised format (expected HL7 v2: MSH, FHS or BHS first; an MLLP capture; FHIR JSON or NDJSON; or X12 starting with ISA)"
        );
    };
    if args.to_fhir && matches!(format, Format::Fhir(_) | Format::X12) {
        bail!("--to-fhir maps HL7 v2 input; this file is not HL7 v2");
    }
    if args.ack.is_some() && format != Format::X12 {
        bail!("--ack acknowledges X12 input; this file is not X12");
    }
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
        Format::X12 => {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).context("cannot read")?;
            x12::inspect(&bytes, args, &mut tally, out)?;
        }
        Format::Fhir(kind) => {
            tally.format = match kind {
                caresync_fhir::read::Format::Ndjson => "fhir-ndjson",
                caresync_fhir::read::Format::Bundle => "fhir-bundle",
                _ => "fhir-resource",
            };
            inspect_fhir(reader, kind, args, &mut tally, out)?;
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
    if args.to_fhir {
        return map_to_fhir(&msg, index, args, tally, out);
    }
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

/// Maps one HL7 v2 message to FHIR and prints the Bundle (unless summarising).
fn map_to_fhir(
    msg: &Message<'_>,
    index: u64,
    args: &Args,
    tally: &mut Tally,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let offset = msg.segment_at(0).map_or(0, |s| s.offset());
    match caresync_fhir::v2::to_bundle(msg) {
        Ok(mapped) => {
            for issue in &mapped.issues {
                tally.issues.push(json!({
                    "code": issue.code().code(),
                    "title": issue.code().title(),
                    "severity": "warning",
                    "offset": offset,
                    "location": issue.location.to_string(),
                    "message": index,
                }));
            }
            if !args.summary {
                writeln!(out, "{}", mapped.bundle).context("cannot write")?;
            }
        }
        Err(e) => {
            tally.unreadable += 1;
            tally.issues.push(json!({
                "code": e.code().code(),
                "title": e.code().title(),
                "severity": "error",
                "offset": offset,
                "message": index,
            }));
            if !args.summary && !args.strict {
                // The Bundle is missing from stdout; say why (strict and
                // summary runs list it with the file's other issues).
                let _ = writeln!(
                    std::io::stderr(),
                    "message {index} at byte {offset}: {} not mapped: {e}",
                    e.code().code()
                );
            }
        }
    }
    Ok(())
}

/// Reads FHIR input one resource at a time: identity, and validation
/// against the R4B model.
fn inspect_fhir(
    reader: BufReader<File>,
    kind: caresync_fhir::read::Format,
    args: &Args,
    tally: &mut Tally,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use caresync_fhir::read::{
        self as fhir, NdjsonReader, RawResource, ReadError as FhirError, ReadOptions,
    };

    let options = ReadOptions::default();
    let mut index = 0u64;
    let mut write_error: Option<std::io::Error> = None;
    let mut each = |item: Result<RawResource, FhirError>, tally: &mut Tally| {
        let i = index;
        index += 1;
        let (line, issues) = match item {
            Ok(r) => {
                let id = r.identity();
                let mut issues = Vec::new();
                if let Err(e) = r.validate() {
                    issues.push(fhir_issue_json(&e, i));
                }
                *tally
                    .types
                    .entry(id.resource_type().to_owned())
                    .or_default() += 1;
                tally.messages += 1;
                let source = r.source();
                let line = json!({
                    "resource": i,
                    "line": source.line,
                    "entry": source.entry,
                    "type": id.resource_type(),
                    "id": id.id(),
                    "version_id": id.version_id(),
                    "last_updated": r.identity().last_updated().map(|t| t.event_time().as_unix_micros()),
                    "issues": issues,
                });
                (Some(line), issues)
            }
            Err(e) => {
                tally.unreadable += 1;
                (None, vec![fhir_issue_json(&e, i)])
            }
        };
        tally.issues.extend(issues);
        if let (Some(line), false) = (line, args.summary)
            && let Err(e) = writeln!(out, "{line}")
        {
            write_error.get_or_insert(e);
        }
    };
    match kind {
        fhir::Format::Ndjson => {
            for item in NdjsonReader::new(reader, options) {
                each(item, tally);
            }
        }
        fhir::Format::Bundle => {
            let result = fhir::read_bundle(reader, &options, |item| {
                each(item, tally);
                std::ops::ControlFlow::Continue(())
            });
            if let Err(e) = result {
                tally.unreadable += 1;
                tally.issues.push(fhir_issue_json(&e, index));
            }
        }
        _ => {
            let item = fhir::read_resource(reader, &options);
            each(item, tally);
        }
    }
    match write_error {
        Some(e) => Err(e).context("cannot write"),
        None => Ok(()),
    }
}

fn fhir_issue_json(e: &caresync_fhir::read::ReadError, index: u64) -> Json {
    let at = e.source_location();
    json!({
        "code": e.code().code(),
        "title": e.code().title(),
        "severity": "error",
        "offset": at.byte_offset,
        "line": at.line,
        "entry": at.entry,
        "path": e.path(),
        "resource": index,
    })
}
