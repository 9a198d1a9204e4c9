//! What a run set recorded while training: metrics and pair margins at the reported steps.
//! The command line writes it as CSV and plots; the page plots it live.

use super::metrics::Metrics;
use super::order;
use super::runset::RunSet;

/// Past this many pairs a record keeps the quantiles [`MARGIN_QUANTILES`] of the margins instead
/// of every pair's margin, so that a record's size (and a margins chart's lines) stay bounded.
pub const MARGIN_LINES: usize = 256;

/// The quantiles of the margins a record keeps past [`MARGIN_LINES`] pairs: minimum, deciles 1
/// and 9, quartiles, median, maximum.
pub const MARGIN_QUANTILES: [f64; 7] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0];

/// Metrics and margins of every run, at the steps that were recorded.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// `runs[r][i]`: run `r`'s metrics at its `i`-th recorded step.
    pub metrics: Vec<Vec<Metrics>>,
    /// `margins[r][i]`: run `r`'s margins `u` at its `i`-th recorded step: one per pair, or, when
    /// [`History::margin_quantiles`] is set, the [`MARGIN_QUANTILES`] of all pairs' margins;
    /// empty when margins are not recorded.
    pub margins: Vec<Vec<Vec<f32>>>,
    /// The records hold quantiles of the margins (there were more than [`MARGIN_LINES`] pairs).
    pub margin_quantiles: bool,
    /// Whether margins are recorded at all (only the plots use them).
    pub record_margins: bool,
    /// At most this many records per run; older ones are thinned to every other one.
    pub capacity: usize,
}

impl History {
    /// An empty history for `runs` runs, keeping at most `capacity` records per run, margins
    /// included.
    pub fn new(runs: usize, capacity: usize) -> History {
        History {
            metrics: vec![Vec::new(); runs],
            margins: vec![Vec::new(); runs],
            margin_quantiles: false,
            record_margins: true,
            capacity: capacity.max(2),
        }
    }

    /// The same without margins: for a command that does not plot them.
    pub fn without_margins(runs: usize, capacity: usize) -> History {
        History {
            record_margins: false,
            ..History::new(runs, capacity)
        }
    }

    /// Records every run's metrics and, if recorded, margins now.
    pub fn record(&mut self, set: &RunSet) {
        let problem = set.problem();
        let margins = if self.record_margins {
            set.runs().iter().map(|run| run.margins(problem)).collect()
        } else {
            vec![Vec::new(); set.runs().len()]
        };
        self.push(
            set.runs().iter().map(|run| run.metrics(problem)).collect(),
            margins,
        );
    }

    /// Records metrics and margins computed elsewhere (the GPU's metric kernels), one per run.
    /// Margins are dropped when not recorded, and summarised past [`MARGIN_LINES`] pairs.
    /// `margins` may be empty (nothing read back): every run then records no margins.
    pub fn push(&mut self, metrics: Vec<Metrics>, margins: Vec<Vec<f32>>) {
        self.resize(metrics.len());
        let mut margins = margins.into_iter();
        for (r, metrics) in metrics.into_iter().enumerate() {
            let margins = margins.next().unwrap_or_default();
            let margins = if !self.record_margins {
                Vec::new()
            } else if margins.len() > MARGIN_LINES {
                self.margin_quantiles = true;
                quantiles(margins)
            } else {
                self.margin_quantiles = false;
                margins
            };
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

/// The [`MARGIN_QUANTILES`] of `values` (nearest rank, in `f32::total_cmp`'s order; sorted as
/// `u32` keys, see [`order`](super::order)).
fn quantiles(values: Vec<f32>) -> Vec<f32> {
    let mut keys: Vec<u32> = values.into_iter().map(order::total_order_key).collect();
    keys.sort_unstable();
    let last = keys.len() - 1;
    MARGIN_QUANTILES
        .iter()
        .map(|q| order::from_total_order_key(keys[(q * last as f64).round() as usize]))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(step: u64) -> Vec<Metrics> {
        vec![
            Metrics {
                step,
                ..Metrics::default()
            };
            2
        ]
    }

    #[test]
    fn records_without_margins_read_back() {
        // The GPU's metric kernels return no margins when none were asked for.
        let mut history = History::without_margins(2, 8);
        history.push(metrics(0), Vec::new());
        history.push(metrics(5), vec![vec![1.0; 3]; 2]);
        assert_eq!(history.metrics[1].len(), 2);
        assert_eq!(history.metrics[1][1].step, 5);
        assert!(history.margins.iter().flatten().all(Vec::is_empty));
    }

    #[test]
    fn many_pairs_keep_quantiles() {
        let mut history = History::new(1, 8);
        // 1,000 margins 999, 998, ..., 0: nearest-rank quantiles of 0..=999.
        let margins: Vec<f32> = (0..1000).rev().map(|u| u as f32).collect();
        history.push(metrics(0)[..1].to_vec(), vec![margins]);
        assert!(history.margin_quantiles);
        assert_eq!(
            history.margins[0][0],
            [0.0, 100.0, 250.0, 500.0, 749.0, 899.0, 999.0]
        );
        // Few pairs: every margin, as given.
        let mut few = History::new(1, 8);
        few.push(metrics(0)[..1].to_vec(), vec![vec![3.0, -1.0]]);
        assert!(!few.margin_quantiles);
        assert_eq!(few.margins[0][0], [3.0, -1.0]);
    }
}
