//! One run's state and its training step (SPEC sections 3 to 6), and its metrics (section 7).
//!
//! The run's state and its life cycle (new, reset, new settings, new data, a state from another
//! backend) are here; the rest of `Run`'s methods live by concern in the submodules: the gradient
//! of one step ([`gradient`]), the optimiser update ([`optimizer`]), the metrics ([`measure`]),
//! the minibatch order ([`sampler`]) and the learning table summed over training
//! ([`accumulated`]).

mod accumulated;
mod gradient;
mod handoff;
mod measure;
mod optimizer;
mod sampler;

use super::config::{Init, Optimizer, Regularizer, RunConfig};
use super::error::InputError;
use super::numerics::{log_sum_exp, log_sum_exp_wide, total_weight};
use super::problem::Problem;
use super::rng::{stream, SplitMix64};
use accumulated::Accumulated;
use sampler::Sampler;
use std::sync::Arc;

/// What a step needs only while it runs, one per thread rather than one per run: a sweep's
/// thousand runs then keep one set of these buffers warm in the cache instead of a thousand cold
/// ones (their contents never outlive the step).
#[derive(Default)]
struct StepScratch {
    /// The batch's margins, then their `phi'` (the gradient pass without length normalisation).
    margins: Vec<f32>,
    /// Logits, first and second moment besides the run's: the update of every logit writes the
    /// new state here and trades places with the run's when all of it is finite; the update of
    /// the active logits saves here what it overwrites, in the order of `active`. Either way a
    /// step whose result is not finite is taken back exactly.
    spare: [Vec<f32>; 3],
}

std::thread_local! {
    static STEP_SCRATCH: std::cell::RefCell<StepScratch> =
        std::cell::RefCell::new(StepScratch::default());
}

/// The logits of a run from which, natively, its whole-row passes (the KL update, the metrics'
/// row statistics) share the rows among the cores: about 0.2 ms of work, below which handing
/// rows to other threads costs more than it saves.
#[cfg(not(target_arch = "wasm32"))]
const SPLIT_ROWS_FROM: usize = 1 << 16;

/// A pair's two logits, as flat indices `x K + y` into the run's logits, and its weight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PairLogits {
    pub(crate) chosen: u32,
    pub(crate) rejected: u32,
    pub(crate) weight: f32,
}

/// A run: its configuration, its logits and optimiser state, and the per-pair constants derived
/// from the configuration.
#[derive(Clone, Debug)]
pub struct Run {
    config: RunConfig,
    /// `theta`, row-major `[prompt][output]`.
    logits: Vec<f32>,
    /// Gradient of the current step; kept at zero between steps.
    gradient: Vec<f32>,
    /// SGD's momentum buffer, or Adam's first moment.
    first_moment: Vec<f32>,
    /// Adam's second moment (empty for SGD).
    second_moment: Vec<f32>,
    steps: u64,
    /// `h_0` of each pair: `alpha * (log pi0(y+) - log pi0(y-))`.
    reference_log_ratios: Vec<f32>,
    /// `gamma * h_0 + m` of each pair: what `beta * h_pi` must exceed for the pair's margin
    /// `u = beta * h_pi - threshold` to be positive.
    thresholds: Vec<f32>,
    /// Each pair's logits and weight, in pair order.
    pairs: Arc<[PairLogits]>,
    /// `1 / n(y)` per output: `1 / L(y)` with length normalisation, else 1.
    inverse_lengths: Vec<f32>,
    /// Logits the optimiser updates. A logit no gradient has reached has zero optimiser state
    /// and so cannot move (for SGD, momentum SGD and Adam alike); skipping it is exact and keeps a
    /// step's cost proportional to the pairs, not to the vocabulary.
    active: Vec<u32>,
    is_active: Vec<bool>,
    /// Every logit any pair touches is active.
    pairs_active: bool,
    sampler: Sampler,
    batch: Vec<u32>,
    /// Scratch: per-prompt log-sum-exp and length-normalisation coefficient, mixout's evaluated
    /// logits and gradient scales.
    row_log_normalizers: Vec<f32>,
    row_coefficients: Vec<f32>,
    mixed_logits: Vec<f32>,
    mixout_scales: Vec<f32>,
    /// Whether every margin of this step's batch was finite (set by `accumulate`).
    margins_finite: bool,
    /// The step at which the run diverged (a margin, a gradient, a logit or a moment stopped
    /// being finite); the run stops there and keeps the state from before that step.
    diverged_at: Option<u64>,
    /// `1 / W` of the full batch.
    inverse_total_weight: f32,
    /// The learning signal accumulated over the steps taken (see [`Accumulated`]).
    accumulated: Accumulated,
}

impl Run {
    /// A run of `config` on `problem`, at step 0.
    pub fn new(config: RunConfig, problem: &Problem) -> Result<Run, InputError> {
        config.validate()?;
        let n = problem.prompt_count() * problem.output_count();
        let mut run = Run {
            config,
            logits: vec![0.0; n],
            gradient: vec![0.0; n],
            first_moment: Vec::new(),
            second_moment: Vec::new(),
            steps: 0,
            reference_log_ratios: Vec::new(),
            thresholds: Vec::new(),
            pairs: Arc::from([]),
            inverse_lengths: Vec::new(),
            active: Vec::new(),
            is_active: Vec::new(),
            pairs_active: false,
            sampler: Sampler::new(0, 0),
            batch: Vec::new(),
            row_log_normalizers: vec![0.0; problem.prompt_count()],
            row_coefficients: vec![0.0; problem.prompt_count()],
            mixed_logits: Vec::new(),
            mixout_scales: Vec::new(),
            margins_finite: true,
            diverged_at: None,
            inverse_total_weight: 0.0,
            accumulated: Accumulated::default(),
        };
        run.precompute(problem);
        run.reset(problem);
        Ok(run)
    }

    /// Recomputes what depends on the configuration and the data but not on the state.
    fn precompute(&mut self, problem: &Problem) {
        let config = &self.config;
        let k = problem.output_count();
        let log_reference = problem.log_reference();
        self.pairs = Arc::clone(problem.flat_pairs());
        self.reference_log_ratios.clear();
        self.thresholds.clear();
        for pair in problem.pairs() {
            let chosen = pair.prompt * k + pair.chosen;
            let rejected = pair.prompt * k + pair.rejected;
            // SPEC section 3: h_0 from the normalised log-reference, so that theta = log pi0,
            // alpha = 1 and gamma = beta give a margin of exactly 0.
            let reference_log_ratio =
                config.alpha * (log_reference[chosen] - log_reference[rejected]);
            self.reference_log_ratios.push(reference_log_ratio);
            self.thresholds
                .push(config.gamma * reference_log_ratio + config.margin);
        }
        self.inverse_total_weight = 1.0 / total_weight(self.pairs.iter().map(|pair| pair.weight));
        self.inverse_lengths = problem
            .outputs()
            .iter()
            .map(|output| {
                if config.length_normalize {
                    1.0 / output.length
                } else {
                    1.0
                }
            })
            .collect();
    }

    /// Whether every logit must be updated every step: the gradient is dense with length
    /// normalisation (the `pi` terms), the KL and L2 regularisers, and mixout.
    fn dense(&self) -> bool {
        self.config.length_normalize || !matches!(self.config.regularizer, Regularizer::None)
    }

    /// Back to step 0: initial logits, zero optimiser state, a fresh minibatch order.
    pub fn reset(&mut self, problem: &Problem) {
        let n = self.logits.len();
        let log_reference = problem.log_reference();
        let k = problem.output_count();
        match self.config.init {
            Init::Reference => self.logits.copy_from_slice(log_reference),
            Init::ReferenceAlpha => {
                for (row, reference_row) in self.logits.chunks_mut(k).zip(log_reference.chunks(k)) {
                    let alpha = self.config.alpha;
                    let normalizer = log_sum_exp(reference_row.iter().map(|&l| alpha * l));
                    for (logit, &l) in row.iter_mut().zip(reference_row) {
                        *logit = alpha * l - normalizer;
                    }
                }
            }
            Init::Uniform => self.logits.fill(0.0),
            Init::Random { scale } => {
                let mut generator = SplitMix64::new(self.config.seed, stream::INIT);
                for logit in &mut self.logits {
                    *logit = (generator.next_normal() * scale as f64) as f32;
                }
            }
        }
        self.gradient.clear();
        self.gradient.resize(n, 0.0);
        self.first_moment.clear();
        self.first_moment.resize(n, 0.0);
        self.second_moment.clear();
        if matches!(self.config.optimizer, Optimizer::Adam { .. }) {
            self.second_moment.resize(n, 0.0);
        }
        self.steps = 0;
        self.diverged_at = None;
        self.accumulated.restart(self.pairs.len());
        self.is_active.clear();
        self.is_active.resize(n, self.dense());
        self.active = if self.dense() {
            (0..n as u32).collect()
        } else {
            Vec::new()
        };
        self.pairs_active = self.dense();
        self.sampler = Sampler::new(self.config.seed, self.pairs.len());
        self.mixed_logits.clear();
        self.mixout_scales.clear();
        if let Regularizer::Mixout { .. } = self.config.regularizer {
            self.mixed_logits.resize(n, 0.0);
            self.mixout_scales.resize(n, 0.0);
        }
    }

    /// What in `config` would make this run restart from step 0 rather than keep its state: the
    /// name of the first setting whose change the state cannot survive (the init, the optimiser's
    /// kind, the seed, the regulariser's kind, length normalisation), or `None` when the state
    /// carries over (learning rate, `beta`, `gamma`, margin, `alpha`, loss, batch size).
    pub fn restart_reason(&self, config: &RunConfig) -> Option<&'static str> {
        let old = &self.config;
        [
            (config.init != old.init, "init"),
            (config.optimizer.name() != old.optimizer.name(), "optimizer"),
            (config.seed != old.seed, "seed"),
            (
                config.regularizer.name() != old.regularizer.name(),
                "regularizer",
            ),
            (
                config.length_normalize != old.length_normalize,
                "length_normalize",
            ),
        ]
        .into_iter()
        .find_map(|(changed, name)| changed.then_some(name))
    }

    /// Changes the configuration, keeping the state unless [`Run::restart_reason`] names a
    /// reason to restart. Returns whether it restarted.
    pub fn set_config(&mut self, config: RunConfig, problem: &Problem) -> Result<bool, InputError> {
        config.validate()?;
        let restart = self.restart_reason(&config).is_some();
        self.config = config;
        self.precompute(problem);
        // The new settings may train where the old ones diverged (the state is still finite).
        self.diverged_at = None;
        if restart {
            self.reset(problem);
        }
        Ok(restart)
    }

    /// Follows a change of the shared data: same shape keeps the logits and optimiser state,
    /// another shape resets.
    pub(crate) fn set_problem(&mut self, problem: &Problem, same_shape: bool) {
        self.precompute(problem);
        self.diverged_at = None;
        if same_shape {
            // The pairs may be new: the active set grows again from the current one, and the
            // minibatch order is redrawn for the new pair count.
            self.pairs_active = self.dense();
            self.sampler = Sampler::new(self.config.seed, self.pairs.len());
            // The pairs mean something else now: the accumulated table starts over.
            self.accumulated.restart(self.pairs.len());
        } else {
            let n = problem.prompt_count() * problem.output_count();
            self.logits = vec![0.0; n];
            self.row_log_normalizers = vec![0.0; problem.prompt_count()];
            self.row_coefficients = vec![0.0; problem.prompt_count()];
            self.reset(problem);
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Steps trained since the last reset.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The step at which the run diverged, if it did: at that step a margin, the gradient, a
    /// logit or an optimiser moment would have stopped being finite. The step was not taken;
    /// the run keeps the state it had after `diverged_at` steps and no longer trains (until a
    /// reset, a new configuration or new data).
    pub fn diverged_at(&self) -> Option<u64> {
        self.diverged_at
    }

    /// Whether the run is diverged as [`Metrics::diverged`] says, without computing the other
    /// metrics: it stopped ([`Run::diverged_at`]), or its state (read back from a backend that
    /// does not stop runs) holds a non-finite logit or gives a non-finite margin.
    pub fn diverged(&self, problem: &Problem) -> bool {
        self.diverged_at.is_some()
            || self.logits.iter().any(|l| !l.is_finite())
            || self.margins(problem).iter().any(|u| !u.is_finite())
    }

    /// `theta`, row-major `[prompt][output]`.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Replaces the logits (a state read back from another backend); the optimiser state stays.
    pub fn set_logits(&mut self, logits: &[f32]) {
        self.logits.copy_from_slice(logits);
    }

    /// The policy `pi(.|x)` per prompt, row-major.
    pub fn policy(&self, problem: &Problem) -> Vec<f64> {
        let k = problem.output_count();
        let mut policy = Vec::with_capacity(self.logits.len());
        for row in self.logits.chunks(k) {
            let normalizer = log_sum_exp_wide(row);
            policy.extend(row.iter().map(|&l| (l as f64 - normalizer).exp()));
        }
        policy
    }

    /// One optimiser step on the next batch. A step that would make a margin, a logit or an
    /// optimiser moment non-finite is not taken: the run is marked diverged at its current step
    /// (see [`Run::diverged_at`]) and keeps its state. A diverged run does not step.
    pub fn step(&mut self, problem: &Problem) {
        if self.diverged_at.is_some() {
            return;
        }
        let full_batch = self.accumulate_gradient(problem);
        if !self.margins_finite {
            // phi' of an infinite margin can be finite (the logistic's is -1 or 0), so the margins
            // are checked themselves, before anything moves.
            self.gradient.fill(0.0);
            self.diverged_at = Some(self.steps);
            return;
        }
        if !self.pairs_active {
            self.activate_batch_logits(full_batch);
        }
        if !self.update(problem) {
            self.diverged_at = Some(self.steps);
            return;
        }
        self.steps += 1;
        self.accumulated.commit(full_batch, &self.batch);
    }

    /// The gradient of the objective (loss on the next batch, plus the regulariser) at the
    /// current logits, without stepping. Draws the next minibatch, so it is meant for tests and
    /// inspection of full-batch runs.
    pub fn gradient(&mut self, problem: &Problem) -> Vec<f32> {
        self.accumulate_gradient(problem);
        if let Regularizer::Kl { lambda } = self.config.regularizer {
            self.add_kl_gradient(problem, lambda);
        }
        let gradient = self.gradient.clone();
        self.gradient.fill(0.0);
        gradient
    }

    /// Draws this step's batch into `self.batch`; returns whether it is the full batch.
    fn draw_batch(&mut self) -> bool {
        match self.config.batch_size {
            Some(size) if size < self.pairs.len() => {
                let mut batch = std::mem::take(&mut self.batch);
                self.sampler.next_batch(size, &mut batch);
                self.batch = batch;
                false
            }
            _ => true,
        }
    }

    /// Draws the next step's batch without training: the pair indices of the minibatch, or `None`
    /// for the full batch. For a backend that trains this run's state elsewhere (the GPU backend
    /// keeps one `Run` per run as its host shadow), so that a seed gives the same batches there.
    pub fn next_batch(&mut self) -> Option<&[u32]> {
        if self.draw_batch() {
            None
        } else {
            Some(&self.batch)
        }
    }

    /// The optimiser's state: SGD's momentum buffer or Adam's first moment, and Adam's second
    /// moment (empty for SGD), as [`Run::set_state`] takes them.
    pub fn moments(&self) -> (&[f32], &[f32]) {
        (&self.first_moment, &self.second_moment)
    }

    /// Replaces the whole training state with one read back from another backend: the logits, the
    /// optimiser's moments (SGD's momentum or Adam's first moment, then Adam's second moment,
    /// ignored for SGD) and the step count. Training continues from it exactly as if this run
    /// had taken those steps; the minibatch order is whatever this run's sampler has drawn.
    pub fn set_state(
        &mut self,
        logits: &[f32],
        first_moment: &[f32],
        second_moment: &[f32],
        steps: u64,
    ) {
        self.logits.copy_from_slice(logits);
        self.first_moment.copy_from_slice(first_moment);
        if !self.second_moment.is_empty() {
            self.second_moment.copy_from_slice(second_moment);
        }
        self.gradient.fill(0.0);
        self.steps = steps;
        self.diverged_at = None;
        // The steps were taken elsewhere: the accumulated table no longer describes them.
        self.accumulated.tracked = false;
        // A logit with zero optimiser state and no gradient cannot move, so the active set is the
        // logits with state, and the batch logits join it again from the next step on.
        let dense = self.dense();
        self.active.clear();
        for i in 0..self.logits.len() {
            let has_state =
                self.first_moment[i] != 0.0 || self.second_moment.get(i).is_some_and(|&v| v != 0.0);
            self.is_active[i] = dense || has_state;
            if self.is_active[i] {
                self.active.push(i as u32);
            }
        }
        self.pairs_active = dense;
    }
}
