//! Prometheus metrics of the stream, labelled by source, format, table
//! and error class (names and codes, never values):
//!
//! - `caresync_stream_received_total{source, format}`: messages made
//!   durable in bronze;
//! - `caresync_stream_bronze_commits_total{outcome}` and
//!   `caresync_stream_bronze_commit_seconds`: bronze commits and their
//!   duration;
//! - `caresync_stream_ack_seconds{source}`: from a message's arrival to its
//!   acknowledgement (a histogram with [`LATENCY_BUCKETS`] when recorded
//!   through [`recorder`]: p50/p95 by `histogram_quantile`);
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
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder};

/// Bucket bounds (seconds) of the stream's latency and duration histograms,
/// from 1 ms to a minute.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
    1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
];

/// A Prometheus recorder whose timings are histograms with
/// [`LATENCY_BUCKETS`] (the exporter's default summaries keep only recent
/// samples in their quantiles).
///
/// # Errors
///
/// The buckets are refused (never for these constants).
pub fn recorder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS)
}

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
