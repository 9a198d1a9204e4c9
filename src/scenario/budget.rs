//! One estimate of what a scenario will cost (memory and time), computed from the parsed file
//! and the command's options before anything large is allocated, and checked against a stated
//! limit. The command line (`dpo check`, `dpo run`) and the page use the same estimate with their
//! own limits, so a small file cannot ask for gigabytes, and a refusal names the fields to change.
//!
//! The figures are upper bounds of what the engine allocates for the scenario (the structures of
//! `engine::run`, `engine::problem` and `engine::history`, with their element sizes), plus the
//! parsed scenario itself. Time is a rough figure from the engine's measured costs per pair and
//! per logit on the development machine (see the README's benchmarks); it is printed as "about".

use super::Scenario;
use crate::engine::{InputError, Optimizer, Regularizer};

/// Bytes per logit per run: logits, gradient, first and second moment (f32 each), the active
/// flag and index (1 + 4), mixout's evaluated logits and scales (f32 each, only with mixout), and
/// the second set of state buffers that lets a diverging step be refused (3 x f32: the update's
/// new state, or what it overwrote; one set per thread, counted per run as an upper bound).
const RUN_BYTES_PER_LOGIT: u64 = 4 * 4 + 5 + 3 * 4;
/// Mixout's two extra arrays.
const MIXOUT_BYTES_PER_LOGIT: u64 = 2 * 4;
/// Bytes per pair per run: flat logit indices and weight (12), `h_0`, offset, margin scratch,
/// minibatch order and batch (4 each), and a record's margins before they are summarised (4).
const RUN_BYTES_PER_PAIR: u64 = 12 + 6 * 4;
/// Bytes per logit of the shared data: `log pi0` (f32), the scenario's reference weights (f64),
/// the ground-truth reward twice (f64, scenario and problem, only when given), and a metrics
/// record's f64 log-policy (transient).
const PROBLEM_BYTES_PER_LOGIT: u64 = 4 + 8 + 8;
const REWARD_BYTES_PER_LOGIT: u64 = 2 * 8;
/// A pair (`Pair`: three indices and a weight, 32 bytes) in the scenario and in the problem, and
/// twice more while generated pairs are drawn and appended (the drawn list and the grown one).
const PROBLEM_BYTES_PER_PAIR: u64 = 4 * 32;
/// One recorded `Metrics` (its fields and learning table), per run and record.
const RECORD_BYTES: u64 = 256;
/// What does not grow with the data: a run's struct, its vectors' headers, the small scratch of
/// a step and of a metrics record; and the run set's, the problem's and the history's own.
const RUN_OVERHEAD_BYTES: u64 = 2048;
const FIXED_BYTES: u64 = 16 << 10;
/// The thread pool a native run set trains large sets on (`RunSet::step`): its registry and each
/// worker's queues, and what a parallel call holds while it runs (about 9 KB and 7 KB measured
/// with two threads), allowed for up to 16 threads. Counted in the page too, which has none: an
/// estimate is an upper bound.
const THREAD_POOL_BYTES: u64 = 128 << 10;

/// Seconds per run and step whatever its size (drawing the batch, the calls, the bookkeeping).
const SECONDS_PER_RUN_STEP: f64 = 2.0e-7;
/// Seconds per pair per run and step (margin, `phi'`, two gradient entries, two updates).
const SECONDS_PER_PAIR: f64 = 2.0e-8;
/// Seconds per logit per run and step when every logit moves (length normalisation, KL, L2,
/// mixout: an `exp` or two and the optimiser update).
const SECONDS_PER_DENSE_LOGIT: f64 = 1.5e-8;
/// Seconds per logit and per pair of one metrics record (an f64 `exp` per logit).
const SECONDS_PER_METRIC_LOGIT: f64 = 2.5e-8;
const SECONDS_PER_METRIC_PAIR: f64 = 3.0e-8;

/// The most margins a history keeps per run and record: past this many pairs it keeps quantiles
/// (see `engine::History`), so a record's size does not grow with the pairs.
pub use crate::engine::history::MARGIN_LINES;

/// What may be used; checked by [`Estimate::check`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Bytes of memory the estimate may reach.
    pub memory: u64,
    /// Where the limit comes from, for the message (`--max-memory`, `the page`).
    pub source: &'static str,
}

impl Limits {
    /// The command line's default: 2 GiB (`--max-memory` changes it).
    pub const COMMAND_LINE: Limits = Limits {
        memory: 2 << 30,
        source: "--max-memory, default 2 GiB",
    };
    /// The page's: 256 MiB, well inside a 32-bit wasm memory and kind to a phone (a scenario
    /// near it already takes seconds per frame on a laptop).
    pub const PAGE: Limits = Limits {
        memory: 256 << 20,
        source: "the page's limit",
    };
}

/// What a command keeps while it trains, besides the runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Steps to train.
    pub steps: u64,
    /// Metric records kept per run in memory (0 when nothing is kept: the CSV is streamed).
    pub records: u64,
    /// Whether the records keep the pairs' margins (or their quantiles).
    pub margins: bool,
    /// Whether plots are drawn (their images are held one at a time).
    pub plots: bool,
    /// Metric records computed over the whole run (CSV rows, plot points, page frames).
    pub metric_records: u64,
    /// Whether the scenario's `sweep` is expanded (`dpo sweep`): each run is a template for
    /// every point of the grid and every replicate.
    pub sweep: bool,
}

/// What a scenario will cost under a [`Usage`].
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Runs.
    pub runs: u64,
    /// Prompts.
    pub prompts: u64,
    /// Outputs.
    pub outputs: u64,
    /// Pairs, explicit and generated.
    pub pairs: u64,
    /// Bytes of the shared data and the parsed scenario.
    pub data_bytes: u64,
    /// Bytes of every run's state.
    pub run_bytes: u64,
    /// Bytes of the recorded history.
    pub history_bytes: u64,
    /// Bytes of the largest plot held in memory at once.
    pub plot_bytes: u64,
    /// Seconds of one training step of every run (rough).
    pub seconds_per_step: f64,
    /// Seconds for the whole usage: steps and metric records (rough).
    pub seconds: f64,
}

/// The largest plot image: the PNG learning tables are paged at this many runs per image.
pub const TABLE_RUNS_PER_IMAGE: usize = 8;

impl Estimate {
    /// The estimate for `scenario` used as `usage`. Pure arithmetic on the parsed file: nothing is
    /// allocated, and generated pairs are counted, not drawn.
    pub fn new(scenario: &Scenario, usage: &Usage) -> Estimate {
        let prompts = scenario.prompts.len() as u64;
        let outputs = scenario.outputs.len() as u64;
        let logits = prompts.saturating_mul(outputs);
        let generated = scenario
            .generate
            .as_ref()
            .map_or(0, |g| (g.count as u64).saturating_mul(prompts));
        // Held-out pairs drawn fresh are scored beside the training pairs (each run's shadow).
        let fresh = match scenario.validation {
            Some(crate::engine::sweep::Validation::Fresh { count, .. }) => {
                (count as u64).saturating_mul(prompts)
            }
            _ => 0,
        };
        let pairs = (scenario.pairs.len() as u64)
            .saturating_add(generated)
            .saturating_add(fresh);
        // A swept scenario trains each template once per point and replicate.
        let copies = match (&scenario.sweep, usage.sweep) {
            (Some(sweep), true) => sweep.run_count(1) as u64,
            _ => 1,
        };
        let runs = (scenario.runs.len() as u64).saturating_mul(copies);

        let label_bytes: u64 = scenario
            .outputs
            .iter()
            .map(|o| o.label.len() as u64 + 32)
            .chain(scenario.prompts.iter().map(|p| p.len() as u64 + 24))
            .sum();
        let reward = if scenario.reward.is_some() {
            REWARD_BYTES_PER_LOGIT
        } else {
            0
        };
        let data_bytes = logits
            .saturating_mul(PROBLEM_BYTES_PER_LOGIT + reward)
            .saturating_add(pairs.saturating_mul(PROBLEM_BYTES_PER_PAIR))
            .saturating_add(label_bytes.saturating_mul(2))
            .saturating_add(FIXED_BYTES)
            .saturating_add(THREAD_POOL_BYTES);

        let mut run_bytes = 0u64;
        let mut seconds_per_step = 0.0;
        for run in &scenario.runs {
            let mut per_logit = RUN_BYTES_PER_LOGIT;
            if matches!(run.regularizer, Regularizer::Mixout { .. }) {
                per_logit += MIXOUT_BYTES_PER_LOGIT;
            }
            if matches!(run.optimizer, Optimizer::Sgd { .. }) {
                per_logit -= 4;
            }
            run_bytes = run_bytes
                .saturating_add(RUN_OVERHEAD_BYTES)
                .saturating_add(logits.saturating_mul(per_logit))
                .saturating_add(pairs.saturating_mul(RUN_BYTES_PER_PAIR))
                .saturating_add(prompts.saturating_mul(8));
            let batch = run.batch_size.map_or(pairs, |b| (b as u64).min(pairs));
            let dense = run.length_normalize || !matches!(run.regularizer, Regularizer::None);
            seconds_per_step += SECONDS_PER_RUN_STEP + batch as f64 * SECONDS_PER_PAIR;
            if dense {
                seconds_per_step += logits as f64 * SECONDS_PER_DENSE_LOGIT;
            }
        }
        run_bytes = run_bytes.saturating_mul(copies);
        seconds_per_step *= copies as f64;

        let margins_per_record = if usage.margins {
            pairs.min(MARGIN_LINES as u64)
        } else {
            0
        };
        let history_bytes = usage
            .records
            .saturating_mul(runs)
            .saturating_mul(RECORD_BYTES + 4 * margins_per_record);

        let plot_bytes = if usage.plots {
            // The largest image: a PNG learning-table page (380 x 240 px per run, 3 bytes a
            // pixel) or a curves chart (1200 x 380); SVG text grows with the points drawn.
            let table = 380 * 240 * 3 * runs.min(TABLE_RUNS_PER_IMAGE as u64);
            let curves = 1200 * 380 * 3;
            let svg = usage.records.saturating_mul(runs.max(margins_per_record)) * 48;
            table.max(curves).max(svg)
        } else {
            0
        };

        let metric_seconds = runs as f64
            * (logits as f64 * SECONDS_PER_METRIC_LOGIT + pairs as f64 * SECONDS_PER_METRIC_PAIR);
        let seconds =
            usage.steps as f64 * seconds_per_step + usage.metric_records as f64 * metric_seconds;
        Estimate {
            runs,
            prompts,
            outputs,
            pairs,
            data_bytes,
            run_bytes,
            history_bytes,
            plot_bytes,
            seconds_per_step,
            seconds,
        }
    }

    /// Every part together.
    pub fn memory(&self) -> u64 {
        self.data_bytes
            .saturating_add(self.run_bytes)
            .saturating_add(self.history_bytes)
            .saturating_add(self.plot_bytes)
    }

    /// `Err` naming the fields that make the estimate larger than `limits`.
    pub fn check(&self, limits: &Limits) -> Result<(), InputError> {
        let total = self.memory();
        if total <= limits.memory {
            return Ok(());
        }
        // Name the largest part, with the fields that set its size.
        let parts = [
            (
                self.run_bytes,
                "runs",
                format!(
                    "{} runs x {} prompts x {} outputs and {} pairs",
                    self.runs, self.prompts, self.outputs, self.pairs
                ),
            ),
            (
                self.data_bytes,
                if self.pairs > self.prompts.saturating_mul(self.outputs) {
                    "pairs"
                } else {
                    "outputs"
                },
                format!(
                    "{} prompts x {} outputs and {} pairs (explicit and generated)",
                    self.prompts, self.outputs, self.pairs
                ),
            ),
            (
                self.history_bytes,
                "steps",
                "the recorded history (fewer records: a larger --every)".to_string(),
            ),
            (
                self.plot_bytes,
                "runs",
                "the plots (fewer runs, or no --plots)".to_string(),
            ),
        ];
        let (_, field, what) = parts
            .into_iter()
            .max_by_key(|part| part.0)
            .expect("four parts");
        Err(InputError::new(
            field,
            format!(
                "this needs about {} of memory for {what}, more than the limit of {} ({})",
                bytes(total),
                bytes(limits.memory),
                limits.source
            ),
        ))
    }

    /// One line for `dpo check`: the memory and, when there are steps, the time.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "about {} of memory (data {}, runs {}",
            bytes(self.memory()),
            bytes(self.data_bytes),
            bytes(self.run_bytes)
        );
        if self.history_bytes > 0 {
            text += &format!(", history {}", bytes(self.history_bytes));
        }
        if self.plot_bytes > 0 {
            text += &format!(", plots {}", bytes(self.plot_bytes));
        }
        let time = duration(self.seconds);
        if self.seconds < 1.0 {
            text += &format!("), {time} to train");
        } else {
            text += &format!("), about {time} to train");
        }
        text
    }
}

/// A byte count for people: `512 B`, `3.4 MiB`, `2.0 GiB`.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration for people: `under a second`, `12 s`, `4 min`, `3.2 h`, `5.1 days`, `2.0e9 years`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "forever".into();
    }
    if seconds < 1.0 {
        "under a second".into()
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 172_800.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds < 3.15e8 {
        format!("{:.1} days", seconds / 86_400.0)
    } else {
        format!("{:.1e} years", seconds / 3.156e7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_in_the_largest_unit_below_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes((1 << 20) - 1), "1024.0 KiB");
        assert_eq!(bytes(1 << 20), "1.0 MiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(bytes(3 << 40), "3.0 TiB");
        // Past the last unit the number grows instead.
        assert_eq!(bytes(2048 << 50), "2048.0 PiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn durations_read_in_a_unit_that_suits_them() {
        let cases = [
            (f64::INFINITY, "forever"),
            (f64::NAN, "forever"),
            (0.0, "under a second"),
            (0.999, "under a second"),
            (1.0, "1 s"),
            (119.0, "119 s"),
            (120.0, "2 min"),
            (7199.0, "120 min"),
            (7200.0, "2.0 h"),
            (172_799.0, "48.0 h"),
            (172_800.0, "2.0 days"),
            (3.1e8, "3588.0 days"),
            (3.15e8, "1.0e1 years"),
            (3.156e16, "1.0e9 years"),
        ];
        for (seconds, text) in cases {
            assert_eq!(duration(seconds), text, "{seconds}");
        }
    }

    fn estimate(pairs: u64, data: u64, runs: u64, history: u64, plots: u64) -> Estimate {
        Estimate {
            runs: 2,
            prompts: 3,
            outputs: 4,
            pairs,
            data_bytes: data,
            run_bytes: runs,
            history_bytes: history,
            plot_bytes: plots,
            seconds_per_step: 0.0,
            seconds: 0.5,
        }
    }

    #[test]
    fn a_summary_names_each_part_and_the_time() {
        assert_eq!(
            estimate(5, 2048, 1024, 0, 0).summary(),
            "about 3.0 KiB of memory (data 2.0 KiB, runs 1.0 KiB), under a second to train"
        );
        let mut long = estimate(5, 2048, 1024, 512, 100);
        long.seconds = 300.0;
        assert_eq!(
            long.summary(),
            "about 3.6 KiB of memory (data 2.0 KiB, runs 1.0 KiB, history 512 B, plots 100 B), \
             about 5 min to train"
        );
        long.seconds = 1.0;
        assert!(long.summary().ends_with("), about 1 s to train"));
    }

    #[test]
    fn a_refusal_names_the_largest_part_and_its_fields() {
        let limits = Limits {
            memory: 1000,
            source: "a test",
        };
        // At the limit: accepted; one byte over: refused.
        assert!(estimate(5, 600, 400, 0, 0).check(&limits).is_ok());
        let field = |e: Estimate| e.check(&limits).unwrap_err().path;
        // The data is largest: "pairs" when there are more pairs than prompts x outputs (12),
        // else "outputs".
        assert_eq!(field(estimate(13, 601, 400, 0, 0)), "pairs");
        assert_eq!(field(estimate(12, 601, 400, 0, 0)), "outputs");
        assert_eq!(field(estimate(11, 601, 400, 0, 0)), "outputs");
        assert_eq!(field(estimate(5, 400, 601, 0, 0)), "runs");
        assert_eq!(field(estimate(5, 100, 100, 801, 0)), "steps");
        assert_eq!(field(estimate(5, 100, 100, 0, 801)), "runs");
        let error = estimate(5, 100, 100, 801, 0).check(&limits).unwrap_err();
        assert_eq!(
            error.message,
            "this needs about 1001 B of memory for the recorded history (fewer records: a larger \
             --every), more than the limit of 1000 B (a test)"
        );
    }
}
