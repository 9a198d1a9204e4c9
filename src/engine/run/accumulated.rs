//! The learning table summed over training: which cell each step's signal fell in, and which
//! pairs ever had signal where.

use super::gradient::pair_at;
use crate::engine::metrics::LearningTable;

/// The learning table accumulated over training: per cell, the signal `w |phi'(u)|` of every
/// pair of every step's batch, summed over the steps taken, and which pairs ever had signal in
/// which cell. A pair's cell is judged at the logits the step evaluated (the mixed ones under
/// mixout), as the step's own `h_pi` is.
#[derive(Clone, Debug, Default)]
pub(super) struct Accumulated {
    /// Signal per cell, in the order of [`LearningTable::cells`].
    pub(super) signal: [f64; 4],
    /// Per pair, bit `c` set when the pair had non-zero signal in cell `c` at some step, and
    /// [`RANKED_RIGHT`] when a step found the policy ranking it right.
    pub(super) ever: Vec<u8>,
    /// False when the state was replaced from a backend that does not accumulate (the GPU's):
    /// the totals then no longer describe the steps taken, and are not reported.
    pub(super) tracked: bool,
    /// This step's signal per cell, kept apart until the step is known to be finite.
    pub(super) step_signal: [f64; 4],
    /// This step's batch, in batch order: the pair's cell, plus 4 when its signal was non-zero.
    pub(super) step_cells: Vec<u8>,
}

impl Accumulated {
    pub(super) fn restart(&mut self, pairs: usize) {
        self.signal = [0.0; 4];
        self.ever.clear();
        self.ever.resize(pairs, 0);
        self.tracked = true;
    }

    /// Adds the step just taken on the full batch, or on `batch` (its pairs' indices).
    pub(super) fn commit(&mut self, full_batch: bool, batch: &[u32]) {
        for (total, step) in self.signal.iter_mut().zip(self.step_signal) {
            *total += step;
        }
        // A slice: the page's size-optimised build calls `Vec`'s `Index` per access.
        let ever: &mut [u8] = &mut self.ever;
        for (j, &code) in self.step_cells.iter().enumerate() {
            // Without branches (the codes follow no pattern a predictor learns): the cell's bit
            // when the signal was non-zero (bit 2 of the code), and RANKED_RIGHT in the
            // policy-right cells 0 and 2 (bit 0 clear).
            let bits = &mut ever[pair_at(full_batch, batch, j)];
            *bits |= ((code >> 2) & 1) << (code & 3);
            *bits |= ((code & 1) ^ 1) * RANKED_RIGHT;
        }
    }

    /// The accumulated table: each cell's summed signal and share, and the pairs (and their
    /// weight) that ever had signal there.
    pub(super) fn table(&self, weights: impl Iterator<Item = f32>) -> LearningTable {
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
pub(super) const RANKED_RIGHT: u8 = 16;

/// The index of a pair's cell in the order of [`LearningTable::cells`].
#[inline(always)]
pub(super) fn cell_index(reference_right: bool, policy_right: bool) -> usize {
    usize::from(!reference_right) * 2 + usize::from(!policy_right)
}
