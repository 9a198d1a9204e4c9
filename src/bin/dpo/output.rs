//! What `dpo run` writes: the JSON report, the table, the CSV and the plot files.

use dpo_playground::engine::{History, Metrics, RunSet};
use dpo_playground::plot;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;
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

/// A plain-text table of every run's final metrics.
pub fn table(set: &RunSet) -> String {
    let columns = [
        "loss",
        "accuracy",
        "reference_accuracy",
        "kl",
        "entropy",
        "reward_margin",
    ];
    let width = set
        .runs()
        .iter()
        .map(|r| r.config().name.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut text = format!("{:<width$}  {:>6}", "run", "step");
    for column in columns {
        text += &format!("  {column:>18}");
    }
    for run in set.runs() {
        let metrics = run.metrics(set.problem());
        text += &format!("\n{:<width$}  {:>6}", run.config().name, metrics.step);
        for column in columns {
            let value = plot::metric_value(&metrics, column).unwrap_or(f64::NAN);
            text += &format!("  {value:>18.6}");
        }
    }
    text
}

/// Writes the CSV to `path`.
pub fn write_csv(path: &Path, set: &RunSet, history: &History) -> Result<(), String> {
    std::fs::write(path, plot::metrics_csv(set, history))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Plot file formats.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum PlotFormat {
    #[default]
    Svg,
    Png,
    Both,
}

impl PlotFormat {
    pub fn parse(text: &str) -> Result<PlotFormat, String> {
        match text {
            "svg" => Ok(PlotFormat::Svg),
            "png" => Ok(PlotFormat::Png),
            "both" => Ok(PlotFormat::Both),
            other => Err(format!("--format must be svg, png or both, not {other:?}")),
        }
    }
}

static FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// One of the charts `write_plots` writes.
enum Chart {
    Curves,
    Policy(usize),
    LearningTables,
    Margins(usize),
}

/// What every chart draws from.
struct Sources<'a> {
    set: &'a RunSet,
    history: &'a History,
    names: Vec<String>,
    policies: Vec<Vec<f64>>,
    pair_labels: Vec<String>,
}

/// Draws `chart` on any backend.
fn render<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sources: &Sources,
    chart: &Chart,
) -> Result<(), String> {
    let problem = sources.set.problem();
    match *chart {
        Chart::Curves => plot::draw_curves(
            area,
            sources.history,
            &sources.names,
            &["loss", "accuracy", "kl"],
        ),
        Chart::Policy(prompt) => {
            plot::draw_policy(area, problem, &sources.policies, &sources.names, prompt)
        }
        Chart::LearningTables => {
            let tables: Vec<_> = sources
                .set
                .runs()
                .iter()
                .map(|r| r.metrics(problem).learning_table)
                .collect();
            plot::draw_learning_tables(area, &tables, &sources.names)
        }
        Chart::Margins(run) => plot::draw_margins(
            area,
            sources.history,
            run,
            &sources.names[run],
            &sources.pair_labels,
        ),
    }
}

/// Draws one chart into `dir/name.svg` and/or `dir/name.png`; returns the files written.
fn emit(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    format: PlotFormat,
    sources: &Sources,
    chart: Chart,
) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let cannot_write =
        |path: &Path, e: &dyn std::fmt::Debug| format!("cannot write {}: {e:?}", path.display());
    if format != PlotFormat::Png {
        let path = dir.join(format!("{name}.svg"));
        let root = SVGBackend::new(&path, size).into_drawing_area();
        render(&root, sources, &chart)?;
        root.present().map_err(|e| cannot_write(&path, &e))?;
        drop(root);
        written.push(path);
    }
    if format != PlotFormat::Svg {
        let path = dir.join(format!("{name}.png"));
        let root = BitMapBackend::new(&path, size).into_drawing_area();
        render(&root, sources, &chart)?;
        root.present().map_err(|e| cannot_write(&path, &e))?;
        drop(root);
        written.push(path);
    }
    Ok(written)
}

/// Writes every plot into `dir`; returns the files written.
pub fn write_plots(
    dir: &Path,
    format: PlotFormat,
    set: &RunSet,
    history: &History,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // The bundled font serves both SVG layout and PNG rasterisation; registering twice is harmless.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    let problem = set.problem();
    let sources = Sources {
        set,
        history,
        names: set.runs().iter().map(|r| r.config().name.clone()).collect(),
        policies: set.runs().iter().map(|r| r.policy(problem)).collect(),
        pair_labels: problem
            .pairs()
            .iter()
            .map(|p| {
                format!(
                    "{} > {}",
                    problem.outputs()[p.chosen].label,
                    problem.outputs()[p.rejected].label
                )
            })
            .collect(),
    };
    let mut written = emit(dir, "curves", (1200, 380), format, &sources, Chart::Curves)?;
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
    let width = 380 * set.runs().len().max(1) as u32;
    written.extend(emit(
        dir,
        "learning-table",
        (width, 240),
        format,
        &sources,
        Chart::LearningTables,
    )?);
    for run in 0..set.runs().len() {
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
