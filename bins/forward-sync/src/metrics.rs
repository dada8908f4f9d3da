//! Prometheus metrics of forward sync, labelled by served table (a name,
//! never a value):
//!
//! - `caresync_forward_rows_total{table, op}`: rows copied by snapshots
//!   (`op="snapshot"`) and keys upserted or deleted by change syncs;
//! - `caresync_forward_synced_version{table}`: the source version the table
//!   reflects;
//! - `caresync_forward_source_version{table}`: the newest source version
//!   seen;
//! - `caresync_forward_lag_versions{table}`: source versions not yet
//!   applied, as seen at the start of the last sync (0 after a success);
//! - `caresync_forward_lag_seconds{table}`: seconds since the table was
//!   last known up to date, updated after each sync (0 after a success);
//! - `caresync_forward_errors_total{table, code}`: failed syncs by error
//!   code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use metrics::{counter, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::driver::{Action, SyncError, SyncReport};

/// Serves the metrics on `addr` (`GET /metrics`), from the current tokio
/// runtime.
pub fn serve(addr: SocketAddr) -> Result<(), String> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))
}

/// The versions seen at the start of a sync.
pub(crate) fn seen(table: &str, source: i64, synced: Option<i64>) {
    gauge!("caresync_forward_source_version", "table" => table.to_owned()).set(source as f64);
    if let Some(synced) = synced {
        gauge!("caresync_forward_lag_versions", "table" => table.to_owned())
            .set((source - synced).max(0) as f64);
    }
}

/// When each table was last known up to date.
#[derive(Debug, Default)]
pub(crate) struct Freshness {
    up_to_date: HashMap<String, Instant>,
}

impl Freshness {
    /// Records the outcome of one sync of `table`.
    pub(crate) fn after(&mut self, table: &str, result: &Result<SyncReport, SyncError>) {
        let label = table.to_owned();
        match result {
            Ok(report) => {
                self.up_to_date.insert(label.clone(), Instant::now());
                gauge!("caresync_forward_synced_version", "table" => label.clone())
                    .set(report.version as f64);
                gauge!("caresync_forward_lag_versions", "table" => label.clone()).set(0.0);
                gauge!("caresync_forward_lag_seconds", "table" => label.clone()).set(0.0);
                let rows = |op: &'static str, n: u64| {
                    counter!("caresync_forward_rows_total", "table" => label.clone(), "op" => op)
                        .increment(n);
                };
                match report.action {
                    Action::Snapshot { rows: n, .. } => rows("snapshot", n),
                    Action::Changes {
                        upserted, deleted, ..
                    } => {
                        rows("upsert", upserted);
                        rows("delete", deleted);
                    }
                    Action::UpToDate => {}
                }
            }
            Err(e) => {
                counter!("caresync_forward_errors_total", "table" => label.clone(), "code" => e.code())
                    .increment(1);
                if let Some(t) = self.up_to_date.get(table) {
                    gauge!("caresync_forward_lag_seconds", "table" => label)
                        .set(t.elapsed().as_secs_f64());
                }
            }
        }
    }
}
