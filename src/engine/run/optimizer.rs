//! The optimiser update (SPEC section 6): SGD with momentum and Adam over the active logits, and
//! taking a non-finite update back.

use super::{PairLogits, Run, STEP_SCRATCH};
use crate::engine::config::Optimizer;
use crate::engine::numerics::{adam_corrections, non_finite};

impl Run {
    /// Marks the logits of this step's pairs as active.
    pub(super) fn activate_batch_logits(&mut self, full_batch: bool) {
        let mut mark = |index: u32| {
            if !self.is_active[index as usize] {
                self.is_active[index as usize] = true;
                self.active.push(index);
            }
        };
        if full_batch {
            for &PairLogits {
                chosen, rejected, ..
            } in self.pairs.iter()
            {
                mark(chosen);
                mark(rejected);
            }
            self.pairs_active = true;
        } else {
            for &i in &self.batch {
                let PairLogits {
                    chosen, rejected, ..
                } = self.pairs[i as usize];
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
    pub(super) fn update(&mut self) -> bool {
        STEP_SCRATCH.with_borrow_mut(|scratch| self.update_saving_in(&mut scratch.undo))
    }

    /// [`Run::update`], saving what it overwrites in `undo`.
    fn update_saving_in(&mut self, undo: &mut [Vec<f32>; 3]) -> bool {
        let all = dense_sweep_pays(self.active.len(), self.logits.len());
        let [undo_logits, undo_first, undo_second] = undo;
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
            self.restore_state(all, undo);
        }
        bad == 0
    }

    /// Puts back what [`Run::update`] saved before overwriting it: every logit and moment
    /// (`all`), or those of the active logits, in the order of `self.active`.
    fn restore_state(&mut self, all: bool, undo: &[Vec<f32>; 3]) {
        let [logits, first, second] = undo;
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
}

/// Whether the update sweeps every logit rather than the `active` ones of `logits`: once most
/// are active. A logit with zero state and zero gradient does not move under either optimiser,
/// so both paths give the same bits (a choice of speed only; `.cargo/mutants.toml` excludes its
/// mutants as equivalent).
#[inline(always)]
fn dense_sweep_pays(active: usize, logits: usize) -> bool {
    2 * active >= logits
}
