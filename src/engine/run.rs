//! One run's state and its training step (SPEC sections 3 to 6), and its metrics (section 7).

use super::config::{Init, Optimizer, Regularizer, RunConfig};
use super::error::InputError;
use super::loss::LossKind;
use super::metrics::{LearningTable, Metrics, RANKING_MAX_OUTPUTS};
use super::problem::log_sum_exp_f64;
use super::problem::Problem;
use super::rng::{stream, uniform_at, SplitMix64};

/// The pair indices a step trains on.
#[derive(Clone, Debug)]
struct Sampler {
    generator: SplitMix64,
    order: Vec<u32>,
    position: usize,
}

impl Sampler {
    fn new(seed: u64, pair_count: usize) -> Sampler {
        Sampler {
            generator: SplitMix64::new(seed, stream::BATCH),
            order: (0..pair_count as u32).collect(),
            position: pair_count,
        }
    }

    /// The next minibatch: the next `size` pairs of a seeded permutation, reshuffled at the start
    /// of every epoch; the last batch of an epoch may be smaller (PyTorch's `drop_last = False`).
    fn next_batch(&mut self, size: usize, batch: &mut Vec<u32>) {
        if self.position >= self.order.len() {
            self.generator.shuffle(&mut self.order);
            self.position = 0;
        }
        let end = (self.position + size).min(self.order.len());
        batch.clear();
        batch.extend_from_slice(&self.order[self.position..end]);
        self.position = end;
    }
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
    /// `gamma * h_0 + m` of each pair, so that `u = beta * h_pi - offset`.
    offsets: Vec<f32>,
    /// Flat logit indices `(x K + y+, x K + y-)` and the weight of each pair.
    pair_logits: Vec<(u32, u32, f32)>,
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
    margin_scratch: Vec<f32>,
    /// Whether every margin of this step's batch was finite (set by `accumulate`).
    margins_finite: bool,
    /// The state the optimiser update overwrote (logits, first and second moment): all of it, or
    /// the active logits' in the order of `active`, so that a step whose result is not finite
    /// can be taken back exactly.
    undo: [Vec<f32>; 3],
    /// The step at which the run diverged (a margin, a gradient, a logit or a moment stopped
    /// being finite); the run stops there and keeps the state from before that step.
    diverged_at: Option<u64>,
    /// `1 / W` of the full batch.
    inverse_total_weight: f32,
    /// The learning signal accumulated over the steps taken (see [`Accumulated`]).
    accumulated: Accumulated,
}

/// The learning table accumulated over training: per cell, the signal `w |phi'(u)|` of every
/// pair of every step's batch, summed over the steps taken, and which pairs ever had signal in
/// which cell. A pair's cell is judged at the logits the step evaluated (the mixed ones under
/// mixout), as the step's own `h_pi` is.
#[derive(Clone, Debug, Default)]
struct Accumulated {
    /// Signal per cell, in the order of [`LearningTable::cells`].
    signal: [f64; 4],
    /// Per pair, bit `c` set when the pair had non-zero signal in cell `c` at some step, and
    /// [`RANKED_RIGHT`] when a step found the policy ranking it right.
    ever: Vec<u8>,
    /// False when the state was replaced from a backend that does not accumulate (the GPU's):
    /// the totals then no longer describe the steps taken, and are not reported.
    tracked: bool,
    /// This step's signal per cell, kept apart until the step is known to be finite.
    step_signal: [f64; 4],
    /// This step's batch, in batch order: the pair's cell, plus 4 when its signal was non-zero.
    step_cells: Vec<u8>,
}

impl Accumulated {
    fn restart(&mut self, pairs: usize) {
        self.signal = [0.0; 4];
        self.ever.clear();
        self.ever.resize(pairs, 0);
        self.tracked = true;
    }

    /// Adds the step just taken; `pair_at(j)` is the pair of the batch's `j`-th entry.
    fn commit(&mut self, pair_at: impl Fn(usize) -> usize) {
        for (total, step) in self.signal.iter_mut().zip(self.step_signal) {
            *total += step;
        }
        for (j, &code) in self.step_cells.iter().enumerate() {
            let bits = &mut self.ever[pair_at(j)];
            if code & 4 != 0 {
                *bits |= 1 << (code & 3);
            }
            // Cells 0 and 2 are the policy-right ones.
            if code & 1 == 0 {
                *bits |= RANKED_RIGHT;
            }
        }
    }

    /// The accumulated table: each cell's summed signal and share, and the pairs (and their
    /// weight) that ever had signal there.
    fn table(&self, weights: impl Iterator<Item = f32>) -> LearningTable {
        let mut table = LearningTable::default();
        for (&bits, weight) in self.ever.iter().zip(weights) {
            for (c, cell) in table.cells_mut().into_iter().enumerate() {
                if bits & (1 << c) != 0 {
                    cell.pairs += 1;
                    cell.weight += weight as f64;
                }
            }
        }
        for (cell, &signal) in table.cells_mut().into_iter().zip(&self.signal) {
            cell.signal = signal;
        }
        table.finish();
        table
    }
}

/// The bit of [`Accumulated::ever`] that says a step found the policy ranking the pair right.
const RANKED_RIGHT: u8 = 16;

/// The index of a pair's cell in the order of [`LearningTable::cells`].
#[inline(always)]
fn cell_index(reference_right: bool, policy_right: bool) -> usize {
    usize::from(!reference_right) * 2 + usize::from(!policy_right)
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
            offsets: Vec::new(),
            pair_logits: Vec::new(),
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
            margin_scratch: Vec::new(),
            margins_finite: true,
            undo: [Vec::new(), Vec::new(), Vec::new()],
            diverged_at: None,
            inverse_total_weight: 0.0,
            accumulated: Accumulated::default(),
        };
        run.derive(problem);
        run.reset(problem);
        Ok(run)
    }

    /// Recomputes what depends on the configuration and the data but not on the state.
    fn derive(&mut self, problem: &Problem) {
        let config = &self.config;
        let k = problem.output_count();
        let log_reference = problem.log_reference();
        self.pair_logits.clear();
        self.reference_log_ratios.clear();
        self.offsets.clear();
        for pair in problem.pairs() {
            let chosen = pair.prompt * k + pair.chosen;
            let rejected = pair.prompt * k + pair.rejected;
            // SPEC section 3: h_0 from the normalised log-reference, so that theta = log pi0,
            // alpha = 1 and gamma = beta give a margin of exactly 0.
            let reference_log_ratio =
                config.alpha * (log_reference[chosen] - log_reference[rejected]);
            self.pair_logits
                .push((chosen as u32, rejected as u32, pair.weight));
            self.reference_log_ratios.push(reference_log_ratio);
            self.offsets
                .push(config.gamma * reference_log_ratio + config.margin);
        }
        self.inverse_total_weight = 1.0 / total_weight(self.pair_logits.iter().map(|p| p.2));
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
        self.accumulated.restart(self.pair_logits.len());
        self.is_active.clear();
        self.is_active.resize(n, self.dense());
        self.active = if self.dense() {
            (0..n as u32).collect()
        } else {
            Vec::new()
        };
        self.pairs_active = self.dense();
        self.sampler = Sampler::new(self.config.seed, self.pair_logits.len());
        self.mixed_logits.clear();
        self.mixout_scales.clear();
        if let Regularizer::Mixout { .. } = self.config.regularizer {
            self.mixed_logits.resize(n, 0.0);
            self.mixout_scales.resize(n, 0.0);
        }
    }

    /// Changes the configuration. The state is kept where the change allows it (learning rate,
    /// `beta`, `gamma`, margin, `alpha`, loss, batch size); a new init, optimiser kind, seed or
    /// regulariser kind resets the run. Returns whether it reset.
    pub fn set_config(&mut self, config: RunConfig, problem: &Problem) -> Result<bool, InputError> {
        config.validate()?;
        let needs_reset = config.init != self.config.init
            || config.optimizer.name() != self.config.optimizer.name()
            || config.seed != self.config.seed
            || config.regularizer.name() != self.config.regularizer.name()
            || config.length_normalize != self.config.length_normalize;
        self.config = config;
        self.derive(problem);
        // The new settings may train where the old ones diverged (the state is still finite).
        self.diverged_at = None;
        if needs_reset {
            self.reset(problem);
        }
        Ok(needs_reset)
    }

    /// Follows a change of the shared data: same shape keeps the logits and optimiser state,
    /// another shape resets.
    pub(crate) fn set_problem(&mut self, problem: &Problem, same_shape: bool) {
        self.derive(problem);
        self.diverged_at = None;
        if same_shape {
            // The pairs may be new: the active set grows again from the current one, and the
            // minibatch order is redrawn for the new pair count.
            self.pairs_active = self.dense();
            self.sampler = Sampler::new(self.config.seed, self.pair_logits.len());
            // The pairs mean something else now: the accumulated table starts over.
            self.accumulated.restart(self.pair_logits.len());
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
        if !self.update() {
            self.diverged_at = Some(self.steps);
            return;
        }
        self.steps += 1;
        let batch = &self.batch;
        self.accumulated
            .commit(|j| if full_batch { j } else { batch[j] as usize });
    }

    /// The gradient of the objective (loss on the next batch, plus the regulariser) at the
    /// current logits, without stepping. Draws the next minibatch, so it is meant for tests and
    /// inspection of full-batch runs.
    pub fn gradient(&mut self, problem: &Problem) -> Vec<f32> {
        self.accumulate_gradient(problem);
        let gradient = self.gradient.clone();
        self.gradient.fill(0.0);
        gradient
    }

    /// Draws this step's batch into `self.batch`; returns whether it is the full batch.
    fn draw_batch(&mut self) -> bool {
        match self.config.batch_size {
            Some(size) if size < self.pair_logits.len() => {
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

    /// Fills `self.gradient` for this step; returns whether the batch is the full batch.
    fn accumulate_gradient(&mut self, problem: &Problem) -> bool {
        let full_batch = self.draw_batch();
        let mixout = match self.config.regularizer {
            Regularizer::Mixout { p } => {
                self.draw_mixout(problem, p);
                true
            }
            _ => false,
        };
        if self.config.length_normalize {
            let k = problem.output_count();
            let evaluated = if mixout {
                &self.mixed_logits
            } else {
                &self.logits
            };
            for (normalizer, row) in self.row_log_normalizers.iter_mut().zip(evaluated.chunks(k)) {
                *normalizer = log_sum_exp(row.iter().copied());
            }
            self.row_coefficients.fill(0.0);
        }
        // One monomorphised pass per loss: each closure calls `LossKind::derivative` with a
        // constant kind, so the match inside folds away and the loop vectorises.
        match self.config.loss {
            LossKind::Logistic => self.accumulate(problem, full_batch, mixout, |u, beta| {
                LossKind::Logistic.derivative(u, beta)
            }),
            LossKind::Hinge => self.accumulate(problem, full_batch, mixout, |u, beta| {
                LossKind::Hinge.derivative(u, beta)
            }),
            LossKind::Ipo => self.accumulate(problem, full_batch, mixout, |u, beta| {
                LossKind::Ipo.derivative(u, beta)
            }),
        }
        if self.config.length_normalize {
            self.add_length_normalization_terms(problem, mixout);
        }
        if mixout {
            for (gradient, scale) in self.gradient.iter_mut().zip(&self.mixout_scales) {
                *gradient *= scale;
            }
        }
        match self.config.regularizer {
            Regularizer::L2 { lambda } => {
                for ((gradient, &logit), &reference) in self
                    .gradient
                    .iter_mut()
                    .zip(&self.logits)
                    .zip(problem.log_reference())
                {
                    *gradient += lambda * (logit - reference);
                }
            }
            Regularizer::Kl { lambda } => self.add_kl_gradient(problem, lambda),
            Regularizer::None | Regularizer::Mixout { .. } => {}
        }
        full_batch
    }

    /// Mixout: draws this step's mask and fills the evaluated logits and the gradient scales.
    fn draw_mixout(&mut self, problem: &Problem, p: f32) {
        let keep_scale = 1.0 / (1.0 - p);
        for (i, ((mixed, scale), (&logit, &reference))) in self
            .mixed_logits
            .iter_mut()
            .zip(self.mixout_scales.iter_mut())
            .zip(self.logits.iter().zip(problem.log_reference()))
            .enumerate()
        {
            // M = 1 with probability 1 - p: keep the logit.
            let keep = uniform_at(self.config.seed, self.steps, i as u32) >= p;
            let mask = if keep { 1.0 } else { 0.0 };
            *mixed = (mask * logit + (1.0 - mask) * reference - p * reference) * keep_scale;
            *scale = mask * keep_scale;
        }
    }

    /// Adds every batch pair's `g_p * beta * (e_{y+} / n(y+) - e_{y-} / n(y-))` to the gradient,
    /// and, with length normalisation, its `pi` coefficient to its prompt's row coefficient.
    #[inline(always)]
    fn accumulate(
        &mut self,
        problem: &Problem,
        full_batch: bool,
        mixout: bool,
        derivative: impl Fn(f32, f32) -> f32,
    ) {
        let beta = self.config.beta;
        let k = problem.output_count() as u32;
        let logits: &[f32] = if mixout {
            &self.mixed_logits
        } else {
            &self.logits
        };
        let gradient = &mut self.gradient;
        let offsets = &self.offsets;
        let pair_logits = &self.pair_logits;
        let reference_log_ratios = &self.reference_log_ratios;
        if !self.config.length_normalize {
            // Each pair touches exactly two logits (SPEC section 5). Three passes: gather the
            // margins, map them through phi' (a loop without indexing, which vectorises), scatter.
            let margins = &mut self.margin_scratch;
            margins.clear();
            let batch: &[u32] = if full_batch { &[] } else { &self.batch };
            let pair_at = |j: usize| if full_batch { j } else { batch[j] as usize };
            let count = if full_batch {
                pair_logits.len()
            } else {
                batch.len()
            };
            let inverse_total = if full_batch {
                self.inverse_total_weight
            } else {
                1.0 / total_weight(batch.iter().map(|&i| pair_logits[i as usize].2))
            };
            margins.extend((0..count).map(|j| {
                let i = pair_at(j);
                let (chosen, rejected, _) = pair_logits[i];
                beta * (logits[chosen as usize] - logits[rejected as usize]) - offsets[i]
            }));
            self.margins_finite = margins.iter().fold(0, |bad, &u| bad | non_finite(u)) == 0;
            for u in margins.iter_mut() {
                *u = derivative(*u, beta) * beta * inverse_total;
            }
            let accumulated = &mut self.accumulated;
            accumulated.step_cells.clear();
            let mut signal = [0.0f64; 4];
            for (j, &g) in margins.iter().enumerate() {
                let i = pair_at(j);
                let (chosen, rejected, weight) = pair_logits[i];
                let (chosen, rejected) = (chosen as usize, rejected as usize);
                gradient[chosen] += weight * g;
                gradient[rejected] -= weight * g;
                // h_pi > 0 exactly when theta+ > theta- (a difference of finite floats is 0
                // only when they are equal).
                let cell = cell_index(
                    reference_log_ratios[i] > 0.0,
                    logits[chosen] > logits[rejected],
                );
                signal[cell] += (weight * g.abs()) as f64;
                accumulated
                    .step_cells
                    .push(cell as u8 | (u8::from(g != 0.0) << 2));
            }
            // g is phi' times beta / W: back to w |phi'|.
            let scale = 1.0 / (beta as f64 * inverse_total as f64);
            accumulated.step_signal = signal.map(|s| s * scale);
            return;
        }
        let inverse_lengths = &self.inverse_lengths;
        let normalizers = &self.row_log_normalizers;
        let coefficients = &mut self.row_coefficients;
        let mut bad = 0;
        let accumulated = &mut self.accumulated;
        accumulated.step_cells.clear();
        let mut signal = [0.0f64; 4];
        let mut step_pair = |i: usize, inverse_total: f32| {
            let (chosen, rejected, weight) = pair_logits[i];
            let prompt = (chosen / k) as usize;
            let inverse_chosen = inverse_lengths[(chosen % k) as usize];
            let inverse_rejected = inverse_lengths[(rejected % k) as usize];
            let (chosen, rejected) = (chosen as usize, rejected as usize);
            let h = policy_log_ratio_normalized(
                logits[chosen],
                logits[rejected],
                normalizers[prompt],
                inverse_chosen,
                inverse_rejected,
            );
            let u = beta * h - offsets[i];
            bad |= non_finite(u);
            let slope = derivative(u, beta);
            let cell = cell_index(reference_log_ratios[i] > 0.0, h > 0.0);
            signal[cell] += (weight * slope.abs()) as f64;
            accumulated
                .step_cells
                .push(cell as u8 | (u8::from(slope != 0.0) << 2));
            let g = weight * inverse_total * slope * beta;
            gradient[chosen] += g * inverse_chosen;
            gradient[rejected] -= g * inverse_rejected;
            coefficients[prompt] += g * (inverse_chosen - inverse_rejected);
        };
        if full_batch {
            let inverse_total = self.inverse_total_weight;
            for i in 0..pair_logits.len() {
                step_pair(i, inverse_total);
            }
        } else {
            let inverse_total =
                1.0 / total_weight(self.batch.iter().map(|&i| pair_logits[i as usize].2));
            for &i in &self.batch {
                step_pair(i as usize, inverse_total);
            }
        }
        accumulated.step_signal = signal;
        self.margins_finite = bad == 0;
    }

    /// Length normalisation's dense term: `-coefficient(x) * pi(.|x)` on each prompt's row.
    fn add_length_normalization_terms(&mut self, problem: &Problem, mixout: bool) {
        let k = problem.output_count();
        let logits = if mixout {
            &self.mixed_logits
        } else {
            &self.logits
        };
        for (x, (&coefficient, &normalizer)) in self
            .row_coefficients
            .iter()
            .zip(&self.row_log_normalizers)
            .enumerate()
        {
            if coefficient == 0.0 {
                continue;
            }
            let row = x * k..(x + 1) * k;
            for (gradient, &logit) in self.gradient[row.clone()].iter_mut().zip(&logits[row]) {
                *gradient -= coefficient * (logit - normalizer).exp();
            }
        }
    }

    /// `lambda * dKL(pi || pi0)/dtheta = lambda * pi * (log pi - log pi0 - KL)`, per prompt.
    fn add_kl_gradient(&mut self, problem: &Problem, lambda: f32) {
        let k = problem.output_count();
        for ((gradient_row, row), reference_row) in self
            .gradient
            .chunks_mut(k)
            .zip(self.logits.chunks(k))
            .zip(problem.log_reference().chunks(k))
        {
            let normalizer = log_sum_exp_wide(row);
            let kl: f64 = row
                .iter()
                .zip(reference_row)
                .map(|(&l, &r)| {
                    let log_policy = l as f64 - normalizer;
                    log_policy.exp() * (log_policy - r as f64)
                })
                .sum();
            for ((gradient, &l), &r) in gradient_row.iter_mut().zip(row).zip(reference_row) {
                let log_policy = l as f64 - normalizer;
                *gradient +=
                    (lambda as f64 * log_policy.exp() * (log_policy - r as f64 - kl)) as f32;
            }
        }
    }

    /// Marks the logits of this step's pairs as active.
    fn activate_batch_logits(&mut self, full_batch: bool) {
        let mut mark = |index: u32| {
            if !self.is_active[index as usize] {
                self.is_active[index as usize] = true;
                self.active.push(index);
            }
        };
        if full_batch {
            for &(chosen, rejected, _) in &self.pair_logits {
                mark(chosen);
                mark(rejected);
            }
            self.pairs_active = true;
        } else {
            for &i in &self.batch {
                let (chosen, rejected, _) = self.pair_logits[i as usize];
                mark(chosen);
                mark(rejected);
            }
        }
        // Memory order makes the update loop a forward sweep.
        self.active.sort_unstable();
    }

    /// The optimiser update of every active logit; leaves the gradient at zero. Returns whether
    /// every new logit and moment is finite; when one is not, the update is taken back, so the
    /// state is bit for bit what it was before.
    fn update(&mut self) -> bool {
        // A logit with zero state and zero gradient does not move under either optimiser, so the
        // contiguous (vectorisable) sweep over all logits is exact too; take it once most are active.
        let all = 2 * self.active.len() >= self.logits.len();
        let [undo_logits, undo_first, undo_second] = &mut self.undo;
        if all {
            // A contiguous copy first, so that the update loop stays a vectorisable sweep.
            for (saved, values) in [
                (&mut *undo_logits, &self.logits),
                (&mut *undo_first, &self.first_moment),
                (&mut *undo_second, &self.second_moment),
            ] {
                saved.clear();
                saved.extend_from_slice(values);
            }
        } else {
            // The sparse loops save each logit's old values as they overwrite them (one pass).
            let n = self.active.len();
            undo_logits.resize(n, 0.0);
            undo_first.resize(n, 0.0);
            undo_second.resize(if self.second_moment.is_empty() { 0 } else { n }, 0.0);
        }
        let mut bad = 0;
        match self.config.optimizer {
            Optimizer::Sgd { lr, momentum } => {
                let body = |theta: &mut f32, gradient: &mut f32, velocity: &mut f32| {
                    *velocity = momentum * *velocity + *gradient;
                    *theta -= lr * *velocity;
                    *gradient = 0.0;
                    // A non-finite velocity makes theta non-finite too (lr > 0).
                    non_finite(*theta)
                };
                if all {
                    for ((theta, gradient), velocity) in self
                        .logits
                        .iter_mut()
                        .zip(&mut self.gradient)
                        .zip(&mut self.first_moment)
                    {
                        bad |= body(theta, gradient, velocity);
                    }
                } else {
                    let saved = undo_logits.iter_mut().zip(undo_first.iter_mut());
                    for (&i, (saved_logit, saved_first)) in self.active.iter().zip(saved) {
                        let i = i as usize;
                        *saved_logit = self.logits[i];
                        *saved_first = self.first_moment[i];
                        bad |= body(
                            &mut self.logits[i],
                            &mut self.gradient[i],
                            &mut self.first_moment[i],
                        );
                    }
                }
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                // As torch.optim.Adam: the bias corrections in double precision, then
                // theta -= (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps).
                let (step_size, inverse_root_correction2) =
                    adam_corrections(lr, beta1, beta2, self.steps);
                let body = |theta: &mut f32, gradient: &mut f32, m: &mut f32, v: &mut f32| {
                    let g = *gradient;
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *theta -= step_size * *m / (v.sqrt() * inverse_root_correction2 + eps);
                    *gradient = 0.0;
                    // A non-finite m makes theta non-finite too; a non-finite v may not.
                    non_finite(*theta) | non_finite(*v)
                };
                if all {
                    for (((theta, gradient), m), v) in self
                        .logits
                        .iter_mut()
                        .zip(&mut self.gradient)
                        .zip(&mut self.first_moment)
                        .zip(&mut self.second_moment)
                    {
                        bad |= body(theta, gradient, m, v);
                    }
                } else {
                    let saved = undo_logits
                        .iter_mut()
                        .zip(undo_first.iter_mut())
                        .zip(undo_second.iter_mut());
                    for (&i, ((saved_logit, saved_first), saved_second)) in
                        self.active.iter().zip(saved)
                    {
                        let i = i as usize;
                        *saved_logit = self.logits[i];
                        *saved_first = self.first_moment[i];
                        *saved_second = self.second_moment[i];
                        bad |= body(
                            &mut self.logits[i],
                            &mut self.gradient[i],
                            &mut self.first_moment[i],
                            &mut self.second_moment[i],
                        );
                    }
                }
            }
        }
        if bad != 0 {
            self.restore_state(all);
        }
        bad == 0
    }

    /// Puts back what [`Run::update`] saved before overwriting it: every logit and moment
    /// (`all`), or those of the active logits, in the order of `self.active`.
    fn restore_state(&mut self, all: bool) {
        let [logits, first, second] = &self.undo;
        if all {
            self.logits.copy_from_slice(logits);
            self.first_moment.copy_from_slice(first);
            self.second_moment.copy_from_slice(second);
        } else {
            for (j, &i) in self.active.iter().enumerate() {
                let i = i as usize;
                self.logits[i] = logits[j];
                self.first_moment[i] = first[j];
                if let Some(&saved) = second.get(j) {
                    self.second_moment[i] = saved;
                }
            }
        }
    }

    /// The metrics of SPEC section 7 at the current logits, over all pairs.
    pub fn metrics(&self, problem: &Problem) -> Metrics {
        let k = problem.output_count();
        let p = problem.prompt_count();
        let beta = self.config.beta as f64;
        let loss_kind = self.config.loss;
        // Log-policy per row in f64 (from the f32 logits), and the f32 normalisers training uses.
        let mut log_policy = Vec::with_capacity(self.logits.len());
        let mut normalizers = Vec::with_capacity(p);
        for row in self.logits.chunks(k) {
            let normalizer = log_sum_exp_wide(row);
            log_policy.extend(row.iter().map(|&l| l as f64 - normalizer));
            normalizers.push(log_sum_exp(row.iter().copied()));
        }
        let log_reference = problem.log_reference();
        let mut metrics = Metrics {
            step: self.steps,
            // Also set below when a margin is not finite (a state read back from the GPU, which
            // reports divergence without stopping the run).
            diverged: self.diverged_at.is_some() || self.logits.iter().any(|l| !l.is_finite()),
            diverged_at: self.diverged_at,
            ..Metrics::default()
        };
        let mut total_weight = 0.0;
        let mut unlearned = 0;
        let mut table = LearningTable::default();
        for (i, &(chosen, rejected, weight)) in self.pair_logits.iter().enumerate() {
            let (chosen, rejected) = (chosen as usize, rejected as usize);
            let h = self.policy_log_ratio(chosen, rejected, k, &normalizers);
            let u = self.config.beta * h - self.offsets[i];
            metrics.diverged |= !u.is_finite();
            let w = weight as f64;
            total_weight += w;
            metrics.loss += w * loss_kind.value(u as f64, beta);
            let policy_right = h > 0.0;
            let reference_right = self.reference_log_ratios[i] > 0.0;
            if policy_right {
                metrics.accuracy += w;
            }
            if reference_right {
                metrics.reference_accuracy += w;
            }
            metrics.chosen_reward += w * beta * (log_policy[chosen] - log_reference[chosen] as f64);
            metrics.rejected_reward +=
                w * beta * (log_policy[rejected] - log_reference[rejected] as f64);
            if !policy_right
                && self
                    .accumulated
                    .ever
                    .get(i)
                    .is_some_and(|&b| b & RANKED_RIGHT != 0)
            {
                unlearned += 1;
            }
            let cell = table.cell_mut(reference_right, policy_right);
            cell.pairs += 1;
            cell.weight += w;
            cell.signal += w * loss_kind.derivative_f64(u as f64, beta).abs();
        }
        if total_weight > 0.0 {
            metrics.loss /= total_weight;
            metrics.accuracy /= total_weight;
            metrics.reference_accuracy /= total_weight;
            metrics.chosen_reward /= total_weight;
            metrics.rejected_reward /= total_weight;
        }
        metrics.reward_margin = metrics.chosen_reward - metrics.rejected_reward;
        table.finish();
        metrics.learning_table = table;
        metrics.accumulated_table = self
            .accumulated
            .tracked
            .then(|| self.accumulated.table(self.pair_logits.iter().map(|p| p.2)));
        metrics.unlearned_pairs = self.accumulated.tracked.then_some(unlearned);
        for (row, reference_row) in log_policy.chunks(k).zip(log_reference.chunks(k)) {
            for (&l, &r) in row.iter().zip(reference_row) {
                let probability = l.exp();
                metrics.kl += probability * (l - r as f64);
                metrics.entropy -= probability * l;
            }
        }
        metrics.kl /= p as f64;
        metrics.entropy /= p as f64;
        if let Some(reward) = problem.true_reward() {
            let (expected, agreement) = ground_truth_metrics(&log_policy, &self.logits, reward, k);
            metrics.true_reward = Some(expected);
            metrics.ranking_agreement = agreement;
        }
        metrics
    }

    /// `h_pi` of the pair on flat logits `chosen`, `rejected`, computed as training computes it.
    fn policy_log_ratio(
        &self,
        chosen: usize,
        rejected: usize,
        k: usize,
        normalizers: &[f32],
    ) -> f32 {
        if self.config.length_normalize {
            policy_log_ratio_normalized(
                self.logits[chosen],
                self.logits[rejected],
                normalizers[chosen / k],
                self.inverse_lengths[chosen % k],
                self.inverse_lengths[rejected % k],
            )
        } else {
            self.logits[chosen] - self.logits[rejected]
        }
    }

    /// `h_0` of each pair, in pair order (the GPU's metrics use the CPU's values).
    pub fn reference_log_ratios(&self) -> &[f32] {
        &self.reference_log_ratios
    }

    /// `gamma * h_0 + m` of each pair, in pair order.
    pub fn offsets(&self) -> &[f32] {
        &self.offsets
    }

    /// Each pair's margin `u = beta * h_pi - gamma * h_0 - m` at the current logits.
    pub fn margins(&self, problem: &Problem) -> Vec<f32> {
        let k = problem.output_count();
        let normalizers: Vec<f32> = self
            .logits
            .chunks(k)
            .map(|row| log_sum_exp(row.iter().copied()))
            .collect();
        self.pair_logits
            .iter()
            .zip(&self.offsets)
            .map(|(&(chosen, rejected, _), offset)| {
                self.config.beta
                    * self.policy_log_ratio(chosen as usize, rejected as usize, k, &normalizers)
                    - offset
            })
            .collect()
    }
}

/// 1 when `x` is infinite or NaN, else 0: an integer test that vectorises inside the update loops
/// (the exponent bits all set).
#[inline(always)]
fn non_finite(x: f32) -> u32 {
    u32::from(x.to_bits() & 0x7f80_0000 == 0x7f80_0000)
}

/// `log pi(y+)/n(y+) - log pi(y-)/n(y-)` from the logits and the row's log-normaliser.
#[inline(always)]
fn policy_log_ratio_normalized(
    chosen: f32,
    rejected: f32,
    normalizer: f32,
    inverse_chosen: f32,
    inverse_rejected: f32,
) -> f32 {
    if inverse_chosen == inverse_rejected {
        // Equal lengths: the normaliser cancels exactly, as without length normalisation.
        (chosen - rejected) * inverse_chosen
    } else {
        (chosen - normalizer) * inverse_chosen - (rejected - normalizer) * inverse_rejected
    }
}

/// Adam's bias corrections for the step after `steps` steps, in f64 as `torch.optim.Adam`:
/// `(lr / (1 - beta1^t), 1 / sqrt(1 - beta2^t))` with `t = steps + 1`. Shared with the GPU
/// backend, which receives them as per-step parameters.
pub(crate) fn adam_corrections(lr: f32, beta1: f32, beta2: f32, steps: u64) -> (f32, f32) {
    let t = (steps + 1) as i32;
    let correction1 = 1.0 - (beta1 as f64).powi(t);
    let correction2 = 1.0 - (beta2 as f64).powi(t);
    let step_size = (lr as f64 / correction1) as f32;
    let inverse_root_correction2 = (1.0 / correction2.sqrt()) as f32;
    (step_size, inverse_root_correction2)
}

/// Sum of weights in f64, returned in f32 (the precision of the step).
pub(crate) fn total_weight(weights: impl Iterator<Item = f32>) -> f32 {
    weights.map(f64::from).sum::<f64>() as f32
}

/// `log sum exp` of f32 values with the maximum subtracted, summed in f64.
pub fn log_sum_exp(values: impl Iterator<Item = f32> + Clone) -> f32 {
    let max = values.clone().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = values.map(|v| ((v - max) as f64).exp()).sum();
    max + sum.ln() as f32
}

/// `log sum exp` of f32 values, entirely in f64 (for metrics and the policy).
fn log_sum_exp_wide(values: &[f32]) -> f64 {
    log_sum_exp_f64(values.iter().map(|&v| v as f64))
}

/// Expected true reward (mean over prompts) and the share of differently-rewarded output pairs
/// that the policy orders like the reward. The policy's order is the logits' order (`pi` is
/// monotone in them; comparing the f64 log-policy instead could round two distinct logits to a
/// tie), which is also what the GPU's kernel compares. The ranking is `O(K^2)` per prompt, so it
/// is skipped (`None`) past [`RANKING_MAX_OUTPUTS`] outputs.
fn ground_truth_metrics(
    log_policy: &[f64],
    logits: &[f32],
    reward: &[f64],
    k: usize,
) -> (f64, Option<f64>) {
    let prompts = log_policy.len() / k;
    let mut expected = 0.0;
    let (mut agree, mut comparable) = (0u64, 0u64);
    for ((row, logit_row), reward_row) in log_policy
        .chunks(k)
        .zip(logits.chunks(k))
        .zip(reward.chunks(k))
    {
        expected += row
            .iter()
            .zip(reward_row)
            .map(|(l, r)| l.exp() * r)
            .sum::<f64>();
        if k <= RANKING_MAX_OUTPUTS {
            for a in 0..k {
                for b in a + 1..k {
                    let reward_order = reward_row[a].partial_cmp(&reward_row[b]);
                    if reward_order == Some(std::cmp::Ordering::Equal) {
                        continue;
                    }
                    comparable += 1;
                    if logit_row[a].partial_cmp(&logit_row[b]) == reward_order {
                        agree += 1;
                    }
                }
            }
        }
    }
    let agreement = if k > RANKING_MAX_OUTPUTS {
        None
    } else if comparable == 0 {
        Some(1.0)
    } else {
        Some(agree as f64 / comparable as f64)
    };
    (expected / prompts as f64, agreement)
}
