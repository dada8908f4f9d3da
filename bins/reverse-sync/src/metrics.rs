//! Prometheus metrics of reverse sync, labelled by table name or error
//! code (never a value):
//!
//! - `caresync_reverse_changes_total`: changes written to the histories;
//! - `caresync_reverse_rows_total{table}`: change-history rows written
//!   (an update with its before image is two rows);
//! - `caresync_reverse_lag_seconds`: a histogram, per transaction, of the
//!   time from its commit in PostgreSQL to its commit in the lake;
//! - `caresync_reverse_lag_bytes`: WAL the server has sent past the
//!   confirmed position, at the last status update;
//! - `caresync_reverse_slot_retained_wal_bytes`: WAL the slot keeps on the
//!   server (checked every 30 s);
//! - `caresync_reverse_errors_total{code}`: interruptions and failures by
//!   error code.

use std::net::SocketAddr;

use caresync_cdc::history::TableName;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;

/// Serves the metrics on `addr` (`GET /metrics`), from the current tokio
/// runtime.
pub fn serve(addr: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))
}

pub(crate) fn changes(n: u64) {
    counter!("caresync_reverse_changes_total").increment(n);
}

pub(crate) fn rows_written(table: &TableName, rows: usize) {
    counter!("caresync_reverse_rows_total", "table" => table.to_string())
        .increment(u64::try_from(rows).unwrap_or(u64::MAX));
}

pub(crate) fn lag_seconds(seconds: f64) {
    histogram!("caresync_reverse_lag_seconds").record(seconds);
}

pub(crate) fn lag_bytes(bytes: u64) {
    gauge!("caresync_reverse_lag_bytes").set(bytes as f64);
}

pub(crate) fn retained_wal(bytes: i64) {
    gauge!("caresync_reverse_slot_retained_wal_bytes").set(bytes as f64);
}

pub(crate) fn error(code: &'static str) {
    counter!("caresync_reverse_errors_total", "code" => code).increment(1);
}
