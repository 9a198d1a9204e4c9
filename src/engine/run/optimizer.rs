//! The optimiser update (SPEC section 6): SGD with momentum and Adam over the active logits, and
//! taking a non-finite update back.

use super::{PairLogits, Run, STEP_SCRATCH};
use crate::engine::config::{Optimizer, Regularizer};
use crate::engine::numerics::{adam_corrections, non_finite, row_statistics, KlTerm};
use crate::engine::problem::Problem;

impl Run {
    /// Marks the logits of this step's pairs as active.
    pub(super) fn activate_batch_logits(&mut self, full_batch: bool) {
        // Slices and a function, not the `Vec`s and a closure: the page's size-optimised build
        // calls `Vec`'s `Index` and a closure once per use.
        #[inline(always)]
        fn mark(is_active: &mut [bool], active: &mut Vec<u32>, index: u32) {
            if !is_active[index as usize] {
                is_active[index as usize] = true;
                active.push(index);
            }
        }
        let is_active: &mut [bool] = &mut self.is_active;
        let active = &mut self.active;
        let pairs: &[PairLogits] = &self.pairs;
        if full_batch {
            for &PairLogits {
                chosen, rejected, ..
            } in pairs
            {
                mark(is_active, active, chosen);
                mark(is_active, active, rejected);
            }
            self.pairs_active = true;
        } else {
            for &i in &self.batch {
                let PairLogits {
                    chosen, rejected, ..
                } = pairs[i as usize];
                mark(is_active, active, chosen);
                mark(is_active, active, rejected);
            }
        }
        // Memory order makes the update loop a forward sweep.
        self.active.sort_unstable();
    }

    /// The optimiser update of every active logit; leaves the gradient at zero. With the KL
    /// regulariser the gradient holds everything but the KL term, which the update adds itself
    /// (see [`Run::update_every_logit_with_kl`]). Returns whether every new logit and moment is
    /// finite; when one is not, the update is taken back, so the state is bit for bit what it
    /// was before.
    pub(super) fn update(&mut self, problem: &Problem) -> bool {
        let rule = Rule::for_step(self.config.optimizer, self.steps);
        if let Regularizer::Kl { lambda } = self.config.regularizer {
            // Every logit is active with a regulariser (`Run::dense`). The spare buffers leave
            // the thread's scratch while the rows may be handed to other threads: a thread that
            // waits for them may run another run's step meanwhile, which then finds the scratch
            // free (and empty) rather than borrowed.
            let mut spare =
                STEP_SCRATCH.with_borrow_mut(|scratch| std::mem::take(&mut scratch.spare));
            let finite = self.update_every_logit_with_kl(rule, problem, lambda, &mut spare);
            STEP_SCRATCH.with_borrow_mut(|scratch| scratch.spare = spare);
            return finite;
        }
        STEP_SCRATCH.with_borrow_mut(|scratch| {
            if dense_sweep_pays(self.active.len(), self.logits.len()) {
                self.update_every_logit(rule, &mut scratch.spare)
            } else {
                self.update_active_logits(rule, &mut scratch.spare)
            }
        })
    }

    /// The update of every logit, written into `next` (logits, first and second moment), which
    /// then trades places with the run's state when every new value is finite: the old state is
    /// read once and the new one written once, with no copy set aside (a refused step leaves the
    /// run's buffers untouched). One vectorisable sweep per optimiser.
    fn update_every_logit(&mut self, rule: Rule, next: &mut [Vec<f32>; 3]) -> bool {
        self.size_next_state(next);
        let [next_logits, next_first, next_second] = next;
        let state = StepState {
            logits: &self.logits,
            first: &self.first_moment,
            second: &self.second_moment,
            gradient: &mut self.gradient,
            next_logits,
            next_first,
            next_second,
        };
        // Four at a time with wasm's SIMD in the browser, where the module is optimised for
        // size and LLVM vectorises no loop; natively the loops that LLVM vectorises.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let bad = dense_update_f32x4(rule, state);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let bad = dense_update(rule, state);
        if bad == 0 {
            self.adopt_next_state(next);
        }
        bad == 0
    }

    /// [`Run::update_every_logit`] with the KL regulariser's gradient added to each logit's as
    /// it is read, row by row: the row's statistics ([`row_statistics`]: one pass over its
    /// logits and reference), then one pass that adds the KL term ([`KlTerm`]) and takes the
    /// optimiser's step. The row's logits and reference are still in the cache for the second
    /// pass, and the KL term is never written to the gradient and read back: a step of
    /// `vocabulary-dense` moves about a quarter fewer bytes than a KL pass followed by the
    /// update. The same operations in the same order as `add_kl_gradient_row` then
    /// `update_every_logit`, so the same bits (`tests/hand_steps.rs` checks it against
    /// [`Run::gradient`]).
    fn update_every_logit_with_kl(
        &mut self,
        rule: Rule,
        problem: &Problem,
        lambda: f32,
        next: &mut [Vec<f32>; 3],
    ) -> bool {
        let n = self.logits.len();
        let k = problem.output_count();
        let second_moment = !self.second_moment.is_empty();
        self.size_next_state(next);
        let [next_logits, next_first, next_second] = next;
        let reference = problem.log_reference();
        let k = k.max(1);
        // SGD has no second moment: its rows get empty slices.
        let second_k = if second_moment { k } else { 0 };
        let (mut gradient, mut new_logits, mut new_first, mut new_second) = (
            &mut self.gradient[..],
            &mut next_logits[..],
            &mut next_first[..],
            &mut next_second[..],
        );
        // Without length normalisation only the pairs' logits carry a gradient besides the KL
        // term (which is never stored): zeroing those alone after the update leaves the other
        // lines of the gradient unwritten, so they need not go back to memory.
        let sparse = !self.config.length_normalize && zero_pairs_only(self.pairs.len(), n);
        let clear_gradient = !sparse;
        let update = |state: RowState| {
            let statistics = row_statistics(state.step.logits, state.reference);
            update_row_with_kl(rule, KlTerm::new(&statistics, lambda), state)
        };
        // Rows to hand to other threads are gathered first; otherwise each is updated as it is
        // cut (no allocation in a small run's step).
        let gather = split_rows(n);
        let mut rows = Vec::new();
        let mut bad = 0;
        for (row, start) in (0..n).step_by(k).enumerate() {
            let span = start..start + k;
            let state = RowState {
                step: StepState {
                    logits: &self.logits[span.clone()],
                    first: &self.first_moment[span.clone()],
                    second: &self.second_moment[row * second_k..(row + 1) * second_k],
                    gradient: take_front(&mut gradient, k),
                    next_logits: take_front(&mut new_logits, k),
                    next_first: take_front(&mut new_first, k),
                    next_second: take_front(&mut new_second, second_k),
                },
                reference: &reference[span],
                clear_gradient,
            };
            if gather {
                rows.push(state);
            } else {
                bad |= update(state);
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        if gather {
            bad |= update_split_rows(rows, update);
        }
        if sparse {
            // A slice: the page's size-optimised build calls `Vec`'s `Index` per access.
            let gradient: &mut [f32] = &mut self.gradient;
            for pair in self.pairs.iter() {
                gradient[pair.chosen as usize] = 0.0;
                gradient[pair.rejected as usize] = 0.0;
            }
        }
        if bad == 0 {
            self.adopt_next_state(next);
        }
        bad == 0
    }

    /// Sizes `next` (logits, first and second moment; no second moment for SGD) for an update of
    /// every logit to write the new state into.
    fn size_next_state(&self, next: &mut [Vec<f32>; 3]) {
        let n = self.logits.len();
        let [logits, first, second] = next;
        logits.resize(n, 0.0);
        first.resize(n, 0.0);
        second.resize(self.second_moment.len(), 0.0);
    }

    /// Trades the run's state for `next`, the new state an update of every logit wrote (when
    /// all of it is finite).
    fn adopt_next_state(&mut self, next: &mut [Vec<f32>; 3]) {
        let [logits, first, second] = next;
        std::mem::swap(&mut self.logits, logits);
        std::mem::swap(&mut self.first_moment, first);
        if !self.second_moment.is_empty() {
            std::mem::swap(&mut self.second_moment, second);
        }
    }

    /// The update of the active logits only, in place, saving each one's old values in `undo`
    /// (in the order of `self.active`) as it overwrites them, and putting them back when a new
    /// value is not finite.
    fn update_active_logits(&mut self, rule: Rule, undo: &mut [Vec<f32>; 3]) -> bool {
        let n = self.active.len();
        let [undo_logits, undo_first, undo_second] = undo;
        undo_logits.resize(n, 0.0);
        undo_first.resize(n, 0.0);
        undo_second.resize(if self.second_moment.is_empty() { 0 } else { n }, 0.0);
        // Slices, not the `Vec`s: the page's size-optimised build calls `Vec`'s `Index` once per
        // access, seven times per logit here, where a slice's indexing is inline.
        let active: &[u32] = &self.active;
        let logits: &mut [f32] = &mut self.logits;
        let first_moment: &mut [f32] = &mut self.first_moment;
        let second_moment: &mut [f32] = &mut self.second_moment;
        let gradient: &mut [f32] = &mut self.gradient;
        let mut bad = 0;
        match rule {
            Rule::Sgd { lr, momentum } => {
                let saved = undo_logits.iter_mut().zip(undo_first.iter_mut());
                for (&i, (saved_logit, saved_first)) in active.iter().zip(saved) {
                    let i = i as usize;
                    *saved_logit = logits[i];
                    *saved_first = first_moment[i];
                    (logits[i], first_moment[i]) =
                        sgd(lr, momentum, logits[i], gradient[i], first_moment[i]);
                    gradient[i] = 0.0;
                    bad |= non_finite(logits[i]);
                }
            }
            Rule::Adam(adam) => {
                let saved = undo_logits
                    .iter_mut()
                    .zip(undo_first.iter_mut())
                    .zip(undo_second.iter_mut());
                for (&i, ((saved_logit, saved_first), saved_second)) in active.iter().zip(saved) {
                    let i = i as usize;
                    *saved_logit = logits[i];
                    *saved_first = first_moment[i];
                    *saved_second = second_moment[i];
                    (logits[i], first_moment[i], second_moment[i]) =
                        adam.step(logits[i], gradient[i], first_moment[i], second_moment[i]);
                    gradient[i] = 0.0;
                    bad |= non_finite(logits[i]) | non_finite(second_moment[i]);
                }
            }
        }
        if bad != 0 {
            for (j, &i) in active.iter().enumerate() {
                let i = i as usize;
                logits[i] = undo_logits[j];
                first_moment[i] = undo_first[j];
                if let Some(&saved) = undo_second.get(j) {
                    second_moment[i] = saved;
                }
            }
        }
        bad == 0
    }
}

/// Whether a run of `logits` logits shares its rows among the cores ([`update_split_rows`]):
/// natively, from `SPLIT_ROWS_FROM` logits on and when there is more than one thread; never in
/// the browser. A choice of speed only (`.cargo/mutants.toml` excludes its mutants as
/// equivalent): each row's arithmetic is the same on any thread.
fn split_rows(logits: usize) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    return logits >= super::SPLIT_ROWS_FROM && rayon::current_num_threads() > 1;
    #[cfg(target_arch = "wasm32")]
    {
        let _ = logits;
        false
    }
}

/// Runs `update` on every row of `rows` on every core (rayon) and ORs the flags it returns,
/// which the step of one large run (`vocabulary-dense`: 64 rows of 32768 logits) could not
/// otherwise do: each row's arithmetic is the same on any thread and the flags' OR does not
/// depend on the order, so the result is bit for bit the same whatever the thread count
/// (`tests/threads.rs`). Native only: the browser has one thread.
#[cfg(not(target_arch = "wasm32"))]
fn update_split_rows<'a>(
    rows: Vec<RowState<'a>>,
    update: impl Fn(RowState<'a>) -> u32 + Send + Sync,
) -> u32 {
    use rayon::prelude::*;
    rows.into_par_iter().map(update).reduce(|| 0, |a, b| a | b)
}

/// The first `len` values of `rest`, which keeps the others.
fn take_front<'a>(rest: &mut &'a mut [f32], len: usize) -> &'a mut [f32] {
    let (front, back) = std::mem::take(rest).split_at_mut(len);
    *rest = back;
    front
}

/// One row of [`Run::update_every_logit_with_kl`]: its [`StepState`], each buffer the row's
/// slice, and the row's reference.
struct RowState<'a> {
    step: StepState<'a>,
    reference: &'a [f32],
    /// Whether to set the row's gradient to zero after the update; when not, the caller zeroes
    /// the only entries that can be non-zero (the pairs' logits).
    clear_gradient: bool,
}

/// One row's KL term and optimiser step; returns a non-zero flag when a new logit or second
/// moment is not finite. On x86-64 processors with AVX2 the same code compiled for 256-bit
/// vectors: `exp`, Adam's square root and division are the same IEEE operations in the same
/// order without FMA, so the bits are the portable code's.
fn update_row_with_kl(rule: Rule, term: KlTerm, state: RowState) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { update_row_with_kl_avx2(rule, term, state) };
    }
    update_row_with_kl_body(rule, term, state)
}

/// [`update_row_with_kl`] compiled for AVX2 (no FMA, so that no rounding differs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn update_row_with_kl_avx2(rule: Rule, term: KlTerm, state: RowState) -> u32 {
    update_row_with_kl_body(rule, term, state)
}

/// The body of [`update_row_with_kl`], inlined into each of its compilations: one loop per
/// optimiser, each `gradient + KL term`, then the step of [`Run::update_every_logit`]; the
/// loops only read the gradient, which is zeroed after them (the row here, or the pairs'
/// logits by the caller).
#[inline(always)]
fn update_row_with_kl_body(rule: Rule, term: KlTerm, state: RowState) -> u32 {
    let RowState {
        step:
            StepState {
                logits,
                first,
                second,
                gradient,
                next_logits,
                next_first,
                next_second,
            },
        reference,
        clear_gradient,
    } = state;
    let mut bad = 0;
    match rule {
        Rule::Sgd { lr, momentum } => {
            for (((new_theta, new_velocity), g), ((&theta, &velocity), &r)) in next_logits
                .iter_mut()
                .zip(next_first.iter_mut())
                .zip(gradient.iter())
                .zip(logits.iter().zip(first).zip(reference))
            {
                let total = *g + term.at(theta, r);
                (*new_theta, *new_velocity) = sgd(lr, momentum, theta, total, velocity);
                bad |= non_finite(*new_theta);
            }
        }
        Rule::Adam(adam) => {
            for ((((new_theta, new_m), new_v), g), (((&theta, &m), &v), &r)) in next_logits
                .iter_mut()
                .zip(next_first.iter_mut())
                .zip(next_second.iter_mut())
                .zip(gradient.iter())
                .zip(logits.iter().zip(first).zip(second).zip(reference))
            {
                let total = *g + term.at(theta, r);
                (*new_theta, *new_m, *new_v) = adam.step(theta, total, m, v);
                bad |= non_finite(*new_theta) | non_finite(*new_v);
            }
        }
    }
    if clear_gradient {
        gradient.fill(0.0);
    }
    bad
}

/// What an update reads (the run's logits, first and second moment, and the gradient) and
/// writes (the next state, `next_*`, and the gradient, which it leaves at zero); SGD's second
/// moments are empty. Every logit's ([`dense_update`]) or one row's ([`RowState`]).
struct StepState<'a> {
    logits: &'a [f32],
    first: &'a [f32],
    second: &'a [f32],
    gradient: &'a mut [f32],
    next_logits: &'a mut [f32],
    next_first: &'a mut [f32],
    next_second: &'a mut [f32],
}

/// The update of every logit: one loop per optimiser, which LLVM vectorises natively. Returns 1
/// if a new logit (or Adam's second moment) is not finite, else 0.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
#[inline(always)]
fn dense_update(rule: Rule, state: StepState) -> u32 {
    let StepState {
        logits,
        first,
        second,
        gradient,
        next_logits,
        next_first,
        next_second,
    } = state;
    let mut bad = 0;
    match rule {
        Rule::Sgd { lr, momentum } => {
            for (((new_theta, new_velocity), gradient), (&theta, &velocity)) in next_logits
                .iter_mut()
                .zip(next_first.iter_mut())
                .zip(gradient)
                .zip(logits.iter().zip(first))
            {
                (*new_theta, *new_velocity) = sgd(lr, momentum, theta, *gradient, velocity);
                *gradient = 0.0;
                // A non-finite velocity makes theta non-finite too (lr > 0).
                bad |= non_finite(*new_theta);
            }
        }
        Rule::Adam(adam) => {
            for ((((new_theta, new_m), new_v), gradient), ((&theta, &m), &v)) in next_logits
                .iter_mut()
                .zip(next_first.iter_mut())
                .zip(next_second.iter_mut())
                .zip(gradient)
                .zip(logits.iter().zip(first).zip(second))
            {
                (*new_theta, *new_m, *new_v) = adam.step(theta, *gradient, m, v);
                *gradient = 0.0;
                // A non-finite m makes theta non-finite too; a non-finite v may not.
                bad |= non_finite(*new_theta) | non_finite(*new_v);
            }
        }
    }
    bad
}

/// [`dense_update`] in the browser: four at a time with wasm's SIMD, then the last
/// `n % 4` one by one. The page's module is optimised for size, where LLVM vectorises no loop,
/// and this update was half of a `sweep` step there. The same IEEE operations in the same order
/// as [`sgd`] and [`Adam::step`] (wasm has no fused multiply-add to contract them into; its
/// square root and division are correctly rounded), so every lane has the scalar update's bits.
/// Returns 1 if a new logit (or Adam's second moment) is not finite, else 0.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dense_update_f32x4(rule: Rule, s: StepState) -> u32 {
    use std::arch::wasm32::*;
    /// `non_finite` of four lanes: all-ones where the exponent bits are all set. (A function,
    /// not a closure, which this build would call.)
    #[inline(always)]
    fn non_finite4(x: v128) -> v128 {
        let exponent = u32x4_splat(0x7f80_0000);
        u32x4_eq(v128_and(x, exponent), exponent)
    }
    let n = s.logits.len();
    // Every slice the loops read or write through pointers holds `n` values (Adam's second
    // moments too): checked here once, so that the accesses below stay inside them.
    assert!(s.first.len() == n && s.gradient.len() == n);
    assert!(s.next_logits.len() == n && s.next_first.len() == n);
    let quads = n / 4 * 4;
    let mut bad = u32x4_splat(0);
    let mut tail_bad = 0;
    let zero = f32x4_splat(0.0);
    match rule {
        Rule::Sgd { lr, momentum } => {
            let (lr4, momentum4) = (f32x4_splat(lr), f32x4_splat(momentum));
            let mut i = 0;
            while i < quads {
                // SAFETY: `i + 4 <= n` and each slice holds `n` f32s (asserted above), so each
                // access is 16 bytes inside its slice; `v128_load` and `v128_store` take any
                // alignment.
                unsafe {
                    let theta = v128_load(s.logits.as_ptr().add(i).cast());
                    let velocity = v128_load(s.first.as_ptr().add(i).cast());
                    let g = v128_load(s.gradient.as_ptr().add(i).cast());
                    // As `sgd`: `momentum velocity + g`, then `theta - lr velocity'`.
                    let velocity = f32x4_add(f32x4_mul(momentum4, velocity), g);
                    let theta = f32x4_sub(theta, f32x4_mul(lr4, velocity));
                    v128_store(s.next_logits.as_mut_ptr().add(i).cast(), theta);
                    v128_store(s.next_first.as_mut_ptr().add(i).cast(), velocity);
                    v128_store(s.gradient.as_mut_ptr().add(i).cast(), zero);
                    bad = v128_or(bad, non_finite4(theta));
                }
                i += 4;
            }
            for i in quads..n {
                (s.next_logits[i], s.next_first[i]) =
                    sgd(lr, momentum, s.logits[i], s.gradient[i], s.first[i]);
                s.gradient[i] = 0.0;
                tail_bad |= non_finite(s.next_logits[i]);
            }
        }
        Rule::Adam(adam) => {
            assert!(s.second.len() == n && s.next_second.len() == n);
            let beta1 = f32x4_splat(adam.beta1);
            let one_minus_beta1 = f32x4_splat(1.0 - adam.beta1);
            let beta2 = f32x4_splat(adam.beta2);
            let one_minus_beta2 = f32x4_splat(1.0 - adam.beta2);
            let step_size = f32x4_splat(adam.step_size);
            let inverse_root_correction2 = f32x4_splat(adam.inverse_root_correction2);
            let eps = f32x4_splat(adam.eps);
            let mut i = 0;
            while i < quads {
                // SAFETY: as SGD's loop; the second moments hold `n` f32s too (asserted above).
                unsafe {
                    let theta = v128_load(s.logits.as_ptr().add(i).cast());
                    let m = v128_load(s.first.as_ptr().add(i).cast());
                    let v = v128_load(s.second.as_ptr().add(i).cast());
                    let g = v128_load(s.gradient.as_ptr().add(i).cast());
                    // As `Adam::step`, operation for operation.
                    let m = f32x4_add(f32x4_mul(beta1, m), f32x4_mul(one_minus_beta1, g));
                    let v = f32x4_add(
                        f32x4_mul(beta2, v),
                        f32x4_mul(f32x4_mul(one_minus_beta2, g), g),
                    );
                    let denominator =
                        f32x4_add(f32x4_mul(f32x4_sqrt(v), inverse_root_correction2), eps);
                    let theta = f32x4_sub(theta, f32x4_div(f32x4_mul(step_size, m), denominator));
                    v128_store(s.next_logits.as_mut_ptr().add(i).cast(), theta);
                    v128_store(s.next_first.as_mut_ptr().add(i).cast(), m);
                    v128_store(s.next_second.as_mut_ptr().add(i).cast(), v);
                    v128_store(s.gradient.as_mut_ptr().add(i).cast(), zero);
                    bad = v128_or(bad, v128_or(non_finite4(theta), non_finite4(v)));
                }
                i += 4;
            }
            for i in quads..n {
                (s.next_logits[i], s.next_first[i], s.next_second[i]) =
                    adam.step(s.logits[i], s.gradient[i], s.first[i], s.second[i]);
                s.gradient[i] = 0.0;
                tail_bad |= non_finite(s.next_logits[i]) | non_finite(s.next_second[i]);
            }
        }
    }
    u32::from(v128_any_true(bad)) | tail_bad
}

/// One logit's SGD-with-momentum step: `(theta', velocity')` with
/// `velocity' = momentum velocity + g` and `theta' = theta - lr velocity'`.
#[inline(always)]
fn sgd(lr: f32, momentum: f32, theta: f32, gradient: f32, velocity: f32) -> (f32, f32) {
    let velocity = momentum * velocity + gradient;
    (theta - lr * velocity, velocity)
}

/// The update rule of one step, resolved from the configuration once per step.
#[derive(Clone, Copy)]
enum Rule {
    Sgd { lr: f32, momentum: f32 },
    Adam(Adam),
}

impl Rule {
    fn for_step(optimizer: Optimizer, steps: u64) -> Rule {
        match optimizer {
            Optimizer::Sgd { lr, momentum } => Rule::Sgd { lr, momentum },
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let (step_size, inverse_root_correction2) =
                    adam_corrections(lr, beta1, beta2, steps);
                Rule::Adam(Adam {
                    beta1,
                    beta2,
                    eps,
                    step_size,
                    inverse_root_correction2,
                })
            }
        }
    }
}

/// Adam's constants for one step: as torch.optim.Adam, the bias corrections in double precision
/// ([`adam_corrections`]), then `theta -= (lr / c1) m / (sqrt(v) / sqrt(c2) + eps)`.
#[derive(Clone, Copy)]
struct Adam {
    beta1: f32,
    beta2: f32,
    eps: f32,
    step_size: f32,
    inverse_root_correction2: f32,
}

impl Adam {
    /// One logit's step: `(theta', m', v')`.
    #[inline(always)]
    fn step(self, theta: f32, gradient: f32, m: f32, v: f32) -> (f32, f32, f32) {
        let m = self.beta1 * m + (1.0 - self.beta1) * gradient;
        let v = self.beta2 * v + (1.0 - self.beta2) * gradient * gradient;
        let theta =
            theta - self.step_size * m / (v.sqrt() * self.inverse_root_correction2 + self.eps);
        (theta, m, v)
    }
}

/// Whether the KL update zeroes only the pairs' logits of a gradient without length
/// normalisation (rather than every row whole): when two writes per pair touch far fewer cache
/// lines than the gradient has. Either way the gradient ends at zero, so this is a choice of
/// speed only (`.cargo/mutants.toml` excludes its mutants as equivalent).
#[inline(always)]
fn zero_pairs_only(pairs: usize, logits: usize) -> bool {
    32 * pairs < logits
}

/// Whether the update sweeps every logit rather than the `active` ones of `logits`: once most
/// are active. A logit with zero state and zero gradient does not move under either optimiser,
/// so both paths give the same bits (a choice of speed only; `.cargo/mutants.toml` excludes its
/// mutants as equivalent).
#[inline(always)]
fn dense_sweep_pays(active: usize, logits: usize) -> bool {
    2 * active >= logits
}
