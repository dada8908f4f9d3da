//! Integration tests of caresync-hl7v2.

mod ack;
mod batch;
mod corpus;
mod generated;
mod mllp;
mod parse;
mod parts;
mod roundtrip;

use caresync_hl7v2::{Level, Message, Value};

/// Renders a message's structure and issues for snapshot tests. Test data
/// is synthetic, so values are shown.
pub(crate) fn render(msg: &Message<'_>) -> String {
    let mut out = String::new();
    for seg in msg.segments() {
        out.push_str(&format!(
            "{} #{} @{}\n",
            seg.id(),
            seg.position(),
            seg.offset()
        ));
        for n in 1..=seg.field_count() {
            let Some(f) = seg.field(n) else { continue };
            if f.is_empty() {
                continue;
            }
            out.push_str(&format!("  {}-{n}: {}\n", seg.id(), render_value(f)));
        }
    }
    for issue in msg.issues() {
        out.push_str(&format!("issue: {issue}\n"));
    }
    out
}

fn render_value(v: Value<'_>) -> String {
    if v.is_null() {
        return "NULL".to_owned();
    }
    if v.is_empty() {
        return "\"\"".to_owned();
    }
    match v.level() {
        Level::Field => v
            .repetitions()
            .map(render_value)
            .collect::<Vec<_>>()
            .join(" ~ "),
        Level::Repetition | Level::Component => {
            let parts: Vec<_> = if v.level() == Level::Repetition {
                v.components().map(render_value).collect()
            } else {
                v.subcomponents().map(render_value).collect()
            };
            if parts.len() == 1 {
                parts.into_iter().next().unwrap_or_default()
            } else {
                format!("[{}]", parts.join(", "))
            }
        }
        Level::Subcomponent => format!("{:?}", v.decode()),
    }
}
