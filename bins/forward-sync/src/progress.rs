//! A progress bar for snapshot loads on a terminal: rows copied so far and
//! rows per second, drawn on standard error, cleared when the load ends
//! (the log line that follows gives the totals).

use std::sync::OnceLock;

use caresync_pg::LoadProgress;
use indicatif::{ProgressBar, ProgressStyle};

/// One table's bar, drawn from the first chunk a snapshot sends; a sync
/// that copies nothing draws nothing.
pub(crate) struct LoadBar {
    table: String,
    bar: OnceLock<ProgressBar>,
}

impl LoadBar {
    pub(crate) fn new(table: &str) -> Self {
        LoadBar {
            table: table.to_owned(),
            bar: OnceLock::new(),
        }
    }

    pub(crate) fn update(&self, p: LoadProgress) {
        let bar = self.bar.get_or_init(|| {
            let style = ProgressStyle::with_template(
                "{spinner} {prefix}: {human_pos} rows copied, {msg}, {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            ProgressBar::new_spinner()
                .with_style(style)
                .with_prefix(self.table.clone())
        });
        // Whole rows per second (indicatif's own rate prints fractions).
        let seconds = bar.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            p.rows as f64 / seconds
        } else {
            0.0
        };
        bar.set_message(format!("{rate:.0} rows/s, {} MiB", p.bytes >> 20));
        bar.set_position(p.rows);
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
