//! One step's gradient (SPEC section 5): the pairs' terms through each loss's `phi'`, length
//! normalisation's dense term, mixout's mask and the regularisers.

use super::accumulated::cell_index;
use super::{PairLogits, Run, STEP_SCRATCH};
use crate::engine::config::Regularizer;
use crate::engine::loss::{HingeSlope, IpoSlope, LogisticSlope, LossKind, Slope};
use crate::engine::numerics::{
    add_kl_gradient_row, log_sum_exp, non_finite, row_statistics, total_weight,
};
use crate::engine::problem::Problem;
use crate::engine::rng::uniform_at;

/// Per cell, the bit masks that keep a value in that cell's lane and make it +0.0 in the others
/// (a table, so that the compiler makes no branch of it).
const CELL_MASKS: [[u64; 4]; 4] = {
    let mut masks = [[0; 4]; 4];
    let mut cell = 0;
    while cell < 4 {
        masks[cell][cell] = u64::MAX;
        cell += 1;
    }
    masks
};

/// The `j`th pair of the step: `j` itself in a full batch, else the batch's `j`th. (Functions
/// here, not closures: the page's size-optimised build calls a closure once per pair.)
#[inline(always)]
pub(super) fn pair_at(full_batch: bool, batch: &[u32], j: usize) -> usize {
    if full_batch {
        j
    } else {
        batch[j] as usize
    }
}

/// Each margin `u` to `phi'(u) * beta * inverse_total`. In the browser four at a time with
/// wasm's SIMD (bit for bit the same: `Slope::slope_f32x4`); natively LLVM vectorises the loop.
#[inline(always)]
fn slopes<S: Slope>(margins: &mut [f32], beta: f32, inverse_total: f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let margins = {
        use std::arch::wasm32::*;
        // An index, not `chunks_exact_mut`, whose `next` this build calls for every four lanes.
        let quads = margins.len() / 4 * 4;
        let mut i = 0;
        while i < quads {
            // SAFETY: `i + 4 <= margins.len()`: 16 bytes inside the slice, which `v128_load` and
            // `v128_store` read and write at any alignment.
            unsafe {
                let quad = margins.as_mut_ptr().add(i);
                let u = v128_load(quad.cast());
                let slope = S::slope_f32x4(u, beta);
                let g = f32x4_mul(
                    f32x4_mul(slope, f32x4_splat(beta)),
                    f32x4_splat(inverse_total),
                );
                v128_store(quad.cast(), g);
            }
            i += 4;
        }
        &mut margins[quads..]
    };
    for u in margins.iter_mut() {
        *u = S::slope(*u, beta) * beta * inverse_total;
    }
}

/// The four cells' sums of one step's signal, each pair's share added to its own cell's and +0.0
/// to the others': the same sums, bit for bit, as adding to the one indexed by the cell (adding
/// +0.0 to a sum of magnitudes changes no bit), with neither a store and a reload per pair on
/// the same few bytes nor a branch on the cell, which no predictor guesses.
#[derive(Clone, Copy)]
struct CellSums {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    sums: [std::arch::wasm32::v128; 2],
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    sums: [f64; 4],
}

impl CellSums {
    #[inline(always)]
    fn new() -> CellSums {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let sums = [std::arch::wasm32::f64x2_splat(0.0); 2];
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let sums = [0.0; 4];
        CellSums { sums }
    }

    /// Adds the pair's `share` (an f64's bits) to its cell's sum and +0.0 to the others. In the
    /// browser two lanes at a time with wasm's SIMD (each lane's addition is the scalar one);
    /// natively a loop over the four lanes, which the optimiser unrolls.
    #[inline(always)]
    fn add(&mut self, share: u64, cell: usize) {
        let masks = &CELL_MASKS[cell];
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            use std::arch::wasm32::*;
            let share = u64x2_splat(share);
            let [low, high] = &mut self.sums;
            *low = f64x2_add(*low, v128_and(share, u64x2(masks[0], masks[1])));
            *high = f64x2_add(*high, v128_and(share, u64x2(masks[2], masks[3])));
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        for (sum, mask) in self.sums.iter_mut().zip(masks) {
            *sum += f64::from_bits(share & mask);
        }
    }

    /// The four sums, in the order of [`LearningTable::cells`](crate::engine::LearningTable).
    #[inline(always)]
    fn sums(self) -> [f64; 4] {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            use std::arch::wasm32::*;
            let [low, high] = self.sums;
            [
                f64x2_extract_lane::<0>(low),
                f64x2_extract_lane::<1>(low),
                f64x2_extract_lane::<0>(high),
                f64x2_extract_lane::<1>(high),
            ]
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        self.sums
    }
}

impl Run {
    /// Fills `self.gradient` for this step, all but the KL regulariser's term (which the update
    /// adds as it goes, [`Run::update`]); returns whether the batch is the full batch.
    pub(super) fn accumulate_gradient(&mut self, problem: &Problem) -> bool {
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
        // One monomorphised pass per loss, its slope inlined (`Slope`), so that the loop of
        // slopes vectorises.
        match self.config.loss {
            LossKind::Logistic => self.accumulate::<LogisticSlope>(problem, full_batch, mixout),
            LossKind::Hinge => self.accumulate::<HingeSlope>(problem, full_batch, mixout),
            LossKind::Ipo => self.accumulate::<IpoSlope>(problem, full_batch, mixout),
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
            // Added by the update as it reads each logit (`Run::update`), or by `Run::gradient`.
            Regularizer::Kl { .. } | Regularizer::None | Regularizer::Mixout { .. } => {}
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
    fn accumulate<S: Slope>(&mut self, problem: &Problem, full_batch: bool, mixout: bool) {
        let beta = self.config.beta;
        let k = problem.output_count() as u32;
        let logits: &[f32] = if mixout {
            &self.mixed_logits
        } else {
            &self.logits
        };
        // Slices, not `&Vec`s: their pointers and lengths stay in registers, where a `Vec`'s
        // would be read from memory again after every store in the loops below.
        let gradient: &mut [f32] = &mut self.gradient;
        let thresholds: &[f32] = &self.thresholds;
        let pairs: &[PairLogits] = &self.pairs;
        let reference_log_ratios: &[f32] = &self.reference_log_ratios;
        if !self.config.length_normalize {
            // Each pair touches exactly two logits (SPEC section 5). Three passes: gather the
            // margins, map them through phi' (a loop without indexing, which vectorises), scatter.
            STEP_SCRATCH.with_borrow_mut(|scratch| {
                let batch: &[u32] = if full_batch { &[] } else { &self.batch };
                let count = if full_batch { pairs.len() } else { batch.len() };
                let inverse_total = if full_batch {
                    self.inverse_total_weight
                } else {
                    1.0 / total_weight(batch.iter().map(|&i| pairs[i as usize].weight))
                };
                // Sized, then every element written by index: no `extend` of a mapped iterator,
                // which the page's size-optimised build makes two calls and a closure per step.
                // A resize to the length the buffer already has (every step after the first of
                // a full batch) writes nothing.
                scratch.margins.resize(count, 0.0);
                let margins: &mut [f32] = &mut scratch.margins;
                for (j, margin) in margins.iter_mut().enumerate() {
                    let i = pair_at(full_batch, batch, j);
                    let PairLogits {
                        chosen, rejected, ..
                    } = pairs[i];
                    *margin = beta * (logits[chosen as usize] - logits[rejected as usize])
                        - thresholds[i];
                }
                self.margins_finite = margins.iter().fold(0, |bad, &u| bad | non_finite(u)) == 0;
                slopes::<S>(margins, beta, inverse_total);
                // The cells' codes go into a slice sized beforehand (and every code written
                // below): a byte pushed onto a `Vec` may alias anything, and would make every
                // field of the run be read again per pair.
                let accumulated = &mut self.accumulated;
                accumulated.step_cells.resize(count, 0);
                let codes: &mut [u8] = &mut accumulated.step_cells;
                // Each pair's share goes to its cell's sum, without a branch ([`CellSums`]).
                let mut signal = CellSums::new();
                for (j, (&g, code)) in margins.iter().zip(codes.iter_mut()).enumerate() {
                    let i = pair_at(full_batch, batch, j);
                    let PairLogits {
                        chosen,
                        rejected,
                        weight,
                    } = pairs[i];
                    let (chosen, rejected) = (chosen as usize, rejected as usize);
                    gradient[chosen] += weight * g;
                    gradient[rejected] -= weight * g;
                    // h_pi > 0 exactly when theta+ > theta- (a difference of finite floats is 0
                    // only when they are equal).
                    let cell = cell_index(
                        reference_log_ratios[i] > 0.0,
                        logits[chosen] > logits[rejected],
                    );
                    let share = ((weight * g.abs()) as f64).to_bits();
                    signal.add(share, cell);
                    *code = cell as u8 + 4 * u8::from(g != 0.0);
                }
                // g is phi' times beta / W: back to w |phi'|.
                let scale = 1.0 / (beta as f64 * inverse_total as f64);
                // Written out: an array's `map` is a call per step in the page's build.
                let signal = signal.sums();
                accumulated.step_signal = [
                    signal[0] * scale,
                    signal[1] * scale,
                    signal[2] * scale,
                    signal[3] * scale,
                ];
            });
            return;
        }
        let inverse_lengths: &[f32] = &self.inverse_lengths;
        let normalizers: &[f32] = &self.row_log_normalizers;
        let coefficients: &mut [f32] = &mut self.row_coefficients;
        let mut bad = 0;
        let accumulated = &mut self.accumulated;
        let count = if full_batch {
            pairs.len()
        } else {
            self.batch.len()
        };
        // As without length normalisation: the codes into a slice sized beforehand (each one
        // written below), the cells' sums masked rather than indexed.
        accumulated.step_cells.resize(count, 0);
        let codes: &mut [u8] = &mut accumulated.step_cells;
        let mut signal = CellSums::new();
        let mut step_pair = |i: usize, inverse_total: f32, code: &mut u8| {
            let PairLogits {
                chosen,
                rejected,
                weight,
            } = pairs[i];
            // Both outputs are on the same prompt's row: one division finds it.
            let prompt = chosen / k;
            let inverse_chosen = inverse_lengths[(chosen - prompt * k) as usize];
            let inverse_rejected = inverse_lengths[(rejected - prompt * k) as usize];
            let prompt = prompt as usize;
            let (chosen, rejected) = (chosen as usize, rejected as usize);
            let h = policy_log_ratio_normalized(
                logits[chosen],
                logits[rejected],
                normalizers[prompt],
                inverse_chosen,
                inverse_rejected,
            );
            let u = beta * h - thresholds[i];
            bad |= non_finite(u);
            let slope = S::slope(u, beta);
            let cell = cell_index(reference_log_ratios[i] > 0.0, h > 0.0);
            let share = ((weight * slope.abs()) as f64).to_bits();
            signal.add(share, cell);
            *code = cell as u8 + 4 * u8::from(slope != 0.0);
            let g = weight * inverse_total * slope * beta;
            gradient[chosen] += g * inverse_chosen;
            gradient[rejected] -= g * inverse_rejected;
            coefficients[prompt] += g * (inverse_chosen - inverse_rejected);
        };
        if full_batch {
            let inverse_total = self.inverse_total_weight;
            for (i, code) in codes.iter_mut().enumerate() {
                step_pair(i, inverse_total, code);
            }
        } else {
            let inverse_total =
                1.0 / total_weight(self.batch.iter().map(|&i| pairs[i as usize].weight));
            for (&i, code) in self.batch.iter().zip(codes.iter_mut()) {
                step_pair(i as usize, inverse_total, code);
            }
        }
        accumulated.step_signal = signal.sums();
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

    /// `lambda * dKL(pi || pi0)/dtheta = lambda * pi * (log pi - log pi0 - KL)`, per prompt: the
    /// row's normaliser and KL in one vectorised pass, then the gradient in another
    /// ([`row_statistics`] and [`add_kl_gradient_row`], with their error bounds).
    pub(super) fn add_kl_gradient(&mut self, problem: &Problem, lambda: f32) {
        let k = problem.output_count();
        for ((gradient_row, row), reference_row) in self
            .gradient
            .chunks_mut(k)
            .zip(self.logits.chunks(k))
            .zip(problem.log_reference().chunks(k))
        {
            let statistics = row_statistics(row, reference_row);
            add_kl_gradient_row(gradient_row, row, reference_row, &statistics, lambda);
        }
    }
}

/// `log pi(y+)/n(y+) - log pi(y-)/n(y-)` from the logits and the row's log-normaliser.
#[inline(always)]
pub(super) fn policy_log_ratio_normalized(
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
