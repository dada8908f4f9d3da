//! Prometheus metrics of the stream, labelled by source, format, table
//! and error class (names and codes, never values):
//!
//! - `caresync_stream_received_total{source, format}`: messages made
//!   durable in bronze;
//! - `caresync_stream_bronze_commits_total{outcome}` and
//!   `caresync_stream_bronze_commit_seconds`: bronze commits and their
//!   duration;
//! - `caresync_stream_ack_seconds{source}`: from a message's arrival to its
//!   acknowledgement (p50/p95 from the summary's quantiles);
//! - `caresync_stream_silver_rows_total{table, outcome}`: changes merged
//!   into silver, by outcome (`applied`, `duplicate`, `late`,
//!   `superseded`);
//! - `caresync_stream_dead_letters_total{class}`: dead-lettered records by
//!   error class;
//! - `caresync_stream_end_to_end_seconds`: from arrival in bronze to the
//!   silver commit that holds the record;
//! - `caresync_stream_bronze_batch` and `caresync_stream_silver_batch`: the
//!   last bronze batch written and the last one silver finished (their
//!   difference is the silver stage's lag, in batches).

use std::time::Duration;

use metrics::{counter, gauge, histogram};

pub(crate) fn bronze_commit(rows: usize, took: Duration, ok: bool) {
    let outcome = if ok { "committed" } else { "failed" };
    counter!("caresync_stream_bronze_commits_total", "outcome" => outcome).increment(1);
    histogram!("caresync_stream_bronze_commit_seconds").record(took.as_secs_f64());
    if ok {
        histogram!("caresync_stream_bronze_batch_rows").record(rows as f64);
    }
}

pub(crate) fn received(source: &str, format: &'static str, n: u64) {
    counter!("caresync_stream_received_total", "source" => source.to_owned(), "format" => format)
        .increment(n);
}

pub(crate) fn acked(source: &str, took: Duration) {
    histogram!("caresync_stream_ack_seconds", "source" => source.to_owned())
        .record(took.as_secs_f64());
}

pub(crate) fn silver_rows(table: &str, outcome: &'static str, n: u64) {
    if n > 0 {
        counter!("caresync_stream_silver_rows_total", "table" => table.to_owned(), "outcome" => outcome)
            .increment(n);
    }
}

pub(crate) fn dead_letter(class: &'static str) {
    counter!("caresync_stream_dead_letters_total", "class" => class).increment(1);
}

pub(crate) fn end_to_end(took: Duration) {
    histogram!("caresync_stream_end_to_end_seconds").record(took.as_secs_f64());
}

pub(crate) fn batches(bronze: Option<i64>, silver: Option<i64>) {
    if let Some(b) = bronze {
        gauge!("caresync_stream_bronze_batch").set(b as f64);
    }
    if let Some(s) = silver {
        gauge!("caresync_stream_silver_batch").set(s as f64);
    }
}
