//! What a run set recorded while training: metrics and pair margins at the reported steps.
//! The command line writes it as CSV and plots; the page plots it live.

use super::metrics::Metrics;
use super::runset::RunSet;

/// Metrics and margins of every run, at the steps that were recorded.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// `runs[r][i]`: run `r`'s metrics at its `i`-th recorded step.
    pub metrics: Vec<Vec<Metrics>>,
    /// `margins[r][i][p]`: run `r`'s margin `u` of pair `p` at its `i`-th recorded step.
    pub margins: Vec<Vec<Vec<f32>>>,
    /// At most this many records per run; older ones are thinned to every other one.
    pub capacity: usize,
}

impl History {
    /// An empty history for `runs` runs, keeping at most `capacity` records per run.
    pub fn new(runs: usize, capacity: usize) -> History {
        History {
            metrics: vec![Vec::new(); runs],
            margins: vec![Vec::new(); runs],
            capacity: capacity.max(2),
        }
    }

    /// Records every run's metrics and margins now.
    pub fn record(&mut self, set: &RunSet) {
        let problem = set.problem();
        self.push(
            set.runs().iter().map(|run| run.metrics(problem)).collect(),
            set.runs().iter().map(|run| run.margins(problem)).collect(),
        );
    }

    /// Records metrics and margins computed elsewhere (the GPU's metric kernels), one per run.
    pub fn push(&mut self, metrics: Vec<Metrics>, margins: Vec<Vec<f32>>) {
        self.resize(metrics.len());
        for (r, (metrics, margins)) in metrics.into_iter().zip(margins).enumerate() {
            self.metrics[r].push(metrics);
            self.margins[r].push(margins);
            if self.metrics[r].len() > self.capacity {
                // Keep the first and every other record so long runs stay bounded in memory.
                thin(&mut self.metrics[r]);
                thin(&mut self.margins[r]);
            }
        }
    }

    /// Keeps records for `runs` runs: drops those of removed runs, adds empty ones for new runs.
    pub fn resize(&mut self, runs: usize) {
        self.metrics.resize(runs, Vec::new());
        self.margins.resize(runs, Vec::new());
    }

    /// Forgets run `run`'s records (it restarted).
    pub fn clear_run(&mut self, run: usize) {
        if let (Some(metrics), Some(margins)) =
            (self.metrics.get_mut(run), self.margins.get_mut(run))
        {
            metrics.clear();
            margins.clear();
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.metrics.iter_mut().for_each(Vec::clear);
        self.margins.iter_mut().for_each(Vec::clear);
    }
}

fn thin<T>(records: &mut Vec<T>) {
    let last = records.pop();
    let mut index = 0;
    records.retain(|_| {
        index += 1;
        index % 2 == 1
    });
    records.extend(last);
}
