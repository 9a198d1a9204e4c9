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

/// A sweep's statistics (`dpo sweep --csv`, the page's Sweep panel): a row per setting, metric
/// and checkpoint kind (`final`, or `best` by held-out loss, with the best `step`): the template,
/// each axis's value, then count, mean, standard deviation, minimum and maximum.
pub fn sweep(
    sweep: &crate::engine::sweep::Sweep,
    summaries: &[crate::engine::sweep::SettingSummary],
) -> String {
    let mut header = vec!["template".to_string()];
    header.extend(sweep.axes.iter().map(|a| a.field.name().to_string()));
    header.extend(
        [
            "checkpoint",
            "metric",
            "count",
            "mean",
            "std",
            "min",
            "max",
            "p10",
            "p25",
            "median",
            "p75",
            "p90",
        ]
        .map(String::from),
    );
    let mut text = header.join(",") + "\n";
    let number = |x: f64| {
        if x.is_finite() {
            x.to_string()
        } else {
            String::new()
        }
    };
    for summary in summaries {
        let mut key = vec![field(&summary.setting.template_name)];
        key.extend(summary.setting.point.iter().map(|v| field(&v.text())));
        let key = key.join(",");
        let step = summary.best_step.as_ref().map(|s| ("step", *s));
        let rows = summary
            .latest
            .iter()
            .map(|&(name, s)| ("final", name, s))
            .chain(summary.best.iter().map(|&(name, s)| ("best", name, s)))
            .chain(step.map(|(name, s)| ("best", name, s)));
        for (kind, name, s) in rows {
            text += &format!(
                "{key},{kind},{name},{},{},{},{},{}",
                s.count,
                number(s.mean),
                number(s.std),
                number(s.min),
                number(s.max)
            );
            for q in s.quantiles {
                text += ",";
                text += &number(q);
            }
            text += "\n";
        }
    }
    text
}
