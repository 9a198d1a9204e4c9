//! The metrics as CSV: one row per run and recorded step. The command line streams the rows to
//! its `--csv` file as they are recorded; the page writes its history with the same columns.

use crate::engine::{History, Metrics, RunSet, SCALAR_METRICS};

/// The learning table's cells, in the order of `LearningTable::cells`, as column suffixes.
const CELLS: [&str; 4] = ["rr", "rw", "wr", "ww"];

/// The header line (with its newline): `run,step`, the scalar metrics, each learning-table
/// cell's share of the signal now (`signal_share_*`) and of the signal accumulated over the
/// steps so far (`accumulated_share_*`, empty where the backend does not accumulate it), then
/// `diverged` (0 or 1) and `diverged_at` (a step, or empty).
pub fn header() -> String {
    let mut text = String::from("run,step");
    for name in SCALAR_METRICS {
        text += ",";
        text += name;
    }
    for cell in CELLS {
        text += &format!(",signal_share_{cell}");
    }
    for cell in CELLS {
        text += &format!(",accumulated_share_{cell}");
    }
    text += ",diverged,diverged_at\n";
    text
}

/// One row (with its newline) of run `name`'s `metrics`. A metric that does not apply, or that
/// is not a finite number, is an empty field (never `NaN` or `inf`).
pub fn row(name: &str, metrics: &Metrics) -> String {
    let mut text = format!("{},{}", field(name), metrics.step);
    let cells = metrics.learning_table.cells().map(|cell| Some(cell.share));
    let accumulated = match &metrics.accumulated_table {
        Some(table) => table.cells().map(|cell| Some(cell.share)),
        None => [None; 4],
    };
    for value in metrics
        .scalars()
        .into_iter()
        .chain(cells)
        .chain(accumulated)
    {
        text += ",";
        if let Some(value) = value.filter(|v| v.is_finite()) {
            text += &value.to_string();
        }
    }
    text += &format!(",{},", u8::from(metrics.diverged));
    if let Some(step) = metrics.diverged_at {
        text += &step.to_string();
    }
    text += "\n";
    text
}

/// A recorded history as one CSV text: the header, then every run's records in run order.
pub fn history(set: &RunSet, history: &History) -> String {
    let mut text = header();
    for (run, records) in set.runs().iter().zip(&history.metrics) {
        for metrics in records {
            text += &row(&run.config().name, metrics);
        }
    }
    text
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
