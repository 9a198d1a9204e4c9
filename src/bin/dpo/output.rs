//! What `dpo run` writes: the JSON report, the table, the CSV and the plot files.

use super::console::write_failure;
use super::Failure;
use dpo_playground::engine::{escape_control, History, Metrics, RunSet};
use dpo_playground::plot::{self, Chart, Sources};
use dpo_playground::scenario::budget::TABLE_RUNS_PER_IMAGE;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One run in the JSON report (SPEC section 9).
#[derive(Serialize)]
pub struct RunReport {
    name: String,
    steps: u64,
    metrics: Metrics,
    logits: Vec<Vec<f32>>,
    policy: Vec<Vec<f64>>,
}

/// The JSON report of SPEC section 9.
#[derive(Serialize)]
pub struct Report {
    runs: Vec<RunReport>,
}

/// The report of every run at its current step.
pub fn report(set: &RunSet) -> Report {
    let problem = set.problem();
    let k = problem.output_count();
    let runs = set
        .runs()
        .iter()
        .map(|run| RunReport {
            name: run.config().name.clone(),
            steps: run.steps(),
            metrics: run.metrics(problem),
            logits: run.logits().chunks(k).map(<[f32]>::to_vec).collect(),
            policy: run.policy(problem).chunks(k).map(<[f64]>::to_vec).collect(),
        })
        .collect();
    Report { runs }
}

/// A plain-text table of every run's final metrics; names are shown with control characters
/// escaped, and a diverged run says so in the last column.
pub fn table(set: &RunSet) -> String {
    let columns = [
        "loss",
        "accuracy",
        "reference_accuracy",
        "kl",
        "entropy",
        "reward_margin",
    ];
    let names: Vec<String> = set
        .runs()
        .iter()
        .map(|r| escape_control(&r.config().name).into_owned())
        .collect();
    let width = names
        .iter()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut text = format!("{:<width$}  {:>6}", "run", "step");
    for column in columns {
        text += &format!("  {column:>18}");
    }
    for (run, name) in set.runs().iter().zip(&names) {
        let metrics = run.metrics(set.problem());
        text += &format!("\n{name:<width$}  {:>6}", metrics.step);
        for column in columns {
            match plot::metric_value(&metrics, column).filter(|v| v.is_finite()) {
                Some(value) => text += &format!("  {value:>18.6}"),
                None => text += &format!("  {:>18}", "-"),
            }
        }
        if metrics.diverged {
            text += &match metrics.diverged_at {
                Some(step) => format!("  diverged at step {step}"),
                None => "  diverged".to_string(),
            };
        }
    }
    text
}

/// One line per diverged run, for stderr: which run, and when.
pub fn diverged_runs(set: &RunSet) -> Vec<String> {
    set.runs()
        .iter()
        .filter(|run| run.diverged(set.problem()))
        .map(|run| {
            let name = escape_control(&run.config().name);
            match run.diverged_at() {
                Some(step) => format!(
                    "run {name:?} diverged at step {step} (a margin, logit or optimiser moment \
                     stopped being finite; its state is the one after {step} steps)"
                ),
                None => format!("run {name:?} diverged (a logit is not finite)"),
            }
        })
        .collect()
}

/// The `--csv` file, written row by row as the metrics are recorded (nothing is kept in memory).
pub struct CsvFile {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl CsvFile {
    /// Creates the file and writes the header.
    pub fn create(path: &Path) -> Result<CsvFile, Failure> {
        let file = std::fs::File::create(path)
            .map_err(|e| Failure(format!("cannot write {}: {e}", path.display()), 1))?;
        let mut csv = CsvFile {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        };
        csv.write(&dpo_playground::csv::header())?;
        Ok(csv)
    }

    /// Writes the record just added to `history`: each run's newest (always its last, however
    /// the history thins the older ones). Called once after every record.
    pub fn rows(&mut self, set: &RunSet, history: &History) -> Result<(), Failure> {
        let mut text = String::new();
        for (run, records) in set.runs().iter().zip(&history.metrics) {
            if let Some(metrics) = records.last() {
                text += &dpo_playground::csv::row(&run.config().name, metrics);
            }
        }
        self.write(&text)
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), Failure> {
        self.file
            .flush()
            .map_err(|e| write_failure(&self.path.display().to_string(), &e))
    }

    fn write(&mut self, text: &str) -> Result<(), Failure> {
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| write_failure(&self.path.display().to_string(), &e))
    }
}

pub use super::cli::PlotFormat;

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// Checks `dir` before training: it must be a folder, or not exist yet (it is created).
pub fn prepare_plot_dir(dir: &Path) -> Result<(), Failure> {
    // The bundled font serves both SVG layout (the legends' widths) and PNG rasterisation, for
    // `dpo run` and `dpo sweep` alike; registering twice is harmless.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    if dir.exists() && !dir.is_dir() {
        return Err(Failure(
            format!("--plots {}: is a file, not a folder", dir.display()),
            1,
        ));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure(format!("cannot create {}: {e}", dir.display()), 1))
}

/// What went wrong presenting a chart, in words: the I/O error's own message when there is one
/// (plotters wraps it in two layers of "backend error").
fn present_error(path: &Path, error: &dyn std::fmt::Display) -> Failure {
    let text = error.to_string();
    let reason = text
        .trim_start_matches("backend error: ")
        .trim_start_matches("Drawing backend error: ");
    Failure(format!("cannot write {}: {reason}", path.display()), 1)
}

/// Draws one SVG chart into `path` with `draw` (the sweep's charts); a failure to draw or to
/// write names the file.
pub fn write_svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<(), Failure> {
    let root = SVGBackend::new(path, size).into_drawing_area();
    draw(&root).map_err(|e| Failure(format!("cannot draw {}: {e}", path.display()), 1))?;
    root.present().map_err(|e| present_error(path, &e))
}

/// Draws one chart into `dir/name.svg` and/or `dir/name.png`; returns the files written.
fn emit(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    format: PlotFormat,
    sources: &Sources,
    chart: Chart,
) -> Result<Vec<PathBuf>, Failure> {
    let mut written = Vec::new();
    let drawing =
        |path: &Path, e: String| Failure(format!("cannot draw {}: {e}", path.display()), 1);
    if format != PlotFormat::Png {
        let path = dir.join(format!("{name}.svg"));
        let root = SVGBackend::new(&path, size).into_drawing_area();
        plot::render(&root, sources, &chart).map_err(|e| drawing(&path, e))?;
        root.present().map_err(|e| present_error(&path, &e))?;
        drop(root);
        written.push(path);
    }
    if format != PlotFormat::Svg {
        let path = dir.join(format!("{name}.png"));
        let root = BitMapBackend::new(&path, size).into_drawing_area();
        plot::render(&root, sources, &chart).map_err(|e| drawing(&path, e))?;
        root.present().map_err(|e| present_error(&path, &e))?;
        drop(root);
        written.push(path);
    }
    Ok(written)
}

/// Writes every plot into `dir`; returns the files written. The learning tables are paged at
/// [`TABLE_RUNS_PER_IMAGE`] runs per image (`learning-table.svg`, then `learning-table-2.svg`...),
/// so an image's size does not grow with the runs.
pub fn write_plots(
    dir: &Path,
    format: PlotFormat,
    set: &RunSet,
    history: &History,
) -> Result<Vec<PathBuf>, Failure> {
    prepare_plot_dir(dir)?;
    let problem = set.problem();
    let names: Vec<String> = set.runs().iter().map(|r| r.config().name.clone()).collect();
    let latest = set.metrics();
    let sources = Sources::new(set, history, &latest, &names);
    let mut written = emit(
        dir,
        "curves",
        (1200, 380),
        format,
        &sources,
        Chart::default_curves(),
    )?;
    for prompt in 0..problem.prompt_count().min(8) {
        let name = if problem.prompt_count() == 1 {
            "policy".to_string()
        } else {
            format!("policy-{prompt}")
        };
        written.extend(emit(
            dir,
            &name,
            (900, 420),
            format,
            &sources,
            Chart::Policy(prompt),
        )?);
    }
    let runs = set.runs().len();
    for (page, first) in (0..runs.max(1)).step_by(TABLE_RUNS_PER_IMAGE).enumerate() {
        let shown = (runs - first.min(runs)).min(TABLE_RUNS_PER_IMAGE);
        let name = if page == 0 {
            "learning-table".to_string()
        } else {
            format!("learning-table-{}", page + 1)
        };
        written.extend(emit(
            dir,
            &name,
            (
                380 * shown.clamp(1, 2) as u32,
                230 * shown.max(1).div_ceil(2) as u32,
            ),
            format,
            &sources,
            Chart::LearningTables(first..first + shown),
        )?);
    }
    for run in 0..runs {
        written.extend(emit(
            dir,
            &format!("margins-{run}"),
            (900, 380),
            format,
            &sources,
            Chart::Margins(run),
        )?);
    }
    Ok(written)
}
