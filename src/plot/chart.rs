//! The charts, listed once: what the page draws on its canvases and exports as SVG, and what
//! `dpo run --plots` writes, each drawn by [`render`] from the same [`Sources`].

use super::{draw_curves, draw_learning_tables, draw_margins, draw_policy, pair_label, PlotResult};
use crate::engine::{History, Metrics, RunSet};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::cell::OnceCell;
use std::ops::Range;

/// One chart.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    /// One panel per metric (`loss`, `accuracy`, `kl`, ...; see `plot::metric_value`), a line
    /// per run, over the recorded steps.
    Curves(Vec<String>),
    /// The reference and every run's policy for one prompt.
    Policy(usize),
    /// These runs' learning tables: now, and summed over training.
    LearningTables(Range<usize>),
    /// Each pair's margin over the recorded steps, for one run.
    Margins(usize),
}

impl Chart {
    /// The metrics the command line's curves show.
    pub fn default_curves() -> Chart {
        Chart::Curves(["loss", "accuracy", "kl"].map(String::from).to_vec())
    }

    /// A chart by the page's names: `kind` is `curves` (`arg`: comma-separated metrics),
    /// `policy` (`arg`: the prompt), `margins` or `tables` (`arg`: the run).
    pub fn parse(kind: &str, arg: &str) -> Result<Chart, String> {
        let index = || {
            arg.trim()
                .parse::<usize>()
                .map_err(|_| format!("{kind}: {arg:?} is not an index"))
        };
        Ok(match kind {
            "curves" => Chart::Curves(
                arg.split(',')
                    .map(str::trim)
                    .filter(|metric| !metric.is_empty())
                    .map(String::from)
                    .collect(),
            ),
            "policy" => Chart::Policy(index()?),
            "margins" => Chart::Margins(index()?),
            "tables" => {
                let run = index()?;
                Chart::LearningTables(run..run + 1)
            }
            other => {
                return Err(format!(
                    "unknown chart {other:?} (curves, policy, margins or tables)"
                ))
            }
        })
    }
}

/// What the charts draw from: the runs, their recorded history, their metrics now and the names
/// the legends give them. The policies and the pairs' labels are computed once, when a chart
/// first needs them.
pub struct Sources<'a> {
    set: &'a RunSet,
    history: &'a History,
    latest: &'a [Metrics],
    names: &'a [String],
    policies: OnceCell<Vec<Vec<f64>>>,
    pair_labels: OnceCell<Vec<String>>,
}

impl<'a> Sources<'a> {
    /// `latest` holds every run's current metrics, `names` every run's legend name.
    pub fn new(
        set: &'a RunSet,
        history: &'a History,
        latest: &'a [Metrics],
        names: &'a [String],
    ) -> Sources<'a> {
        Sources {
            set,
            history,
            latest,
            names,
            policies: OnceCell::new(),
            pair_labels: OnceCell::new(),
        }
    }

    fn policies(&self) -> &[Vec<f64>] {
        self.policies.get_or_init(|| {
            let problem = self.set.problem();
            self.set
                .runs()
                .iter()
                .map(|run| run.policy(problem))
                .collect()
        })
    }

    fn pair_labels(&self) -> &[String] {
        self.pair_labels.get_or_init(|| {
            let problem = self.set.problem();
            problem
                .pairs()
                .iter()
                .map(|pair| pair_label(problem, pair))
                .collect()
        })
    }
}

/// Draws `chart` on any backend. A prompt past the last is the last; a run that does not exist
/// draws nothing.
pub fn render<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sources: &Sources,
    chart: &Chart,
) -> PlotResult {
    let problem = sources.set.problem();
    let runs = sources.set.runs().len();
    match chart {
        Chart::Curves(metrics) => {
            let metrics: Vec<&str> = metrics.iter().map(String::as_str).collect();
            draw_curves(area, sources.history, sources.names, &metrics)
        }
        Chart::Policy(prompt) => draw_policy(
            area,
            problem,
            sources.policies(),
            sources.names,
            (*prompt).min(problem.prompt_count() - 1),
        ),
        Chart::LearningTables(shown) => {
            let shown = shown.start.min(runs)..shown.end.min(runs);
            if shown.is_empty() {
                return Ok(());
            }
            draw_learning_tables(
                area,
                sources.history,
                shown.clone(),
                &sources.latest[shown],
                sources.names,
            )
        }
        Chart::Margins(run) if *run < runs => draw_margins(
            area,
            sources.history,
            *run,
            &sources.names[*run],
            sources.pair_labels(),
        ),
        Chart::Margins(_) => Ok(()),
    }
}
