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

/// Draws one chart into `dir/name.svg` and/or `dir/name.png`.
fn emit(
    dir: &Path,
    name: &str,
    size: (u32, u32),
    format: PlotFormat,
    written: &mut Vec<PathBuf>,
    draw: &dyn Fn(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
    draw_png: &dyn Fn(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    if format != PlotFormat::Png {
        let path = dir.join(format!("{name}.svg"));
        {
            let root = SVGBackend::new(&path, size).into_drawing_area();
            draw(&root)?;
            root.present()
                .map_err(|e| format!("cannot write {}: {e:?}", path.display()))?;
        }
        written.push(path);
    }
    if format != PlotFormat::Svg {
        let path = dir.join(format!("{name}.png"));
        {
            let root = BitMapBackend::new(&path, size).into_drawing_area();
            draw_png(&root)?;
            root.present()
                .map_err(|e| format!("cannot write {}: {e:?}", path.display()))?;
        }
        written.push(path);
    }
    Ok(())
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
    let names: Vec<String> = set.runs().iter().map(|r| r.config().name.clone()).collect();
    let mut written = Vec::new();
    let curves = ["loss", "accuracy", "kl"];
    emit(
        dir,
        "curves",
        (1200, 380),
        format,
        &mut written,
        &|a| plot::draw_curves(a, history, &names, &curves),
        &|a| plot::draw_curves(a, history, &names, &curves),
    )?;
    let policies: Vec<Vec<f64>> = set.runs().iter().map(|r| r.policy(problem)).collect();
    for prompt in 0..problem.prompt_count().min(8) {
        let name = if problem.prompt_count() == 1 {
            "policy".to_string()
        } else {
            format!("policy-{prompt}")
        };
        emit(
            dir,
            &name,
            (900, 420),
            format,
            &mut written,
            &|a| plot::draw_policy(a, problem, &policies, &names, prompt),
            &|a| plot::draw_policy(a, problem, &policies, &names, prompt),
        )?;
    }
    let tables: Vec<_> = set
        .runs()
        .iter()
        .map(|r| r.metrics(problem).learning_table)
        .collect();
    emit(
        dir,
        "learning-table",
        (380 * tables.len().max(1) as u32, 240),
        format,
        &mut written,
        &|a| plot::draw_learning_tables(a, &tables, &names),
        &|a| plot::draw_learning_tables(a, &tables, &names),
    )?;
    let pair_labels: Vec<String> = problem
        .pairs()
        .iter()
        .map(|p| {
            format!(
                "{} > {}",
                problem.outputs()[p.chosen].label,
                problem.outputs()[p.rejected].label
            )
        })
        .collect();
    for (r, name) in names.iter().enumerate() {
        emit(
            dir,
            &format!("margins-{r}"),
            (900, 380),
            format,
            &mut written,
            &|a| plot::draw_margins(a, history, r, name, &pair_labels),
            &|a| plot::draw_margins(a, history, r, name, &pair_labels),
        )?;
    }
    Ok(written)
}
