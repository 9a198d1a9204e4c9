//! The minibatch order: a seeded permutation of the pairs, reshuffled every epoch.

use crate::engine::rng::{stream, SplitMix64};

/// The pair indices a step trains on.
#[derive(Clone, Debug)]
pub(super) struct Sampler {
    generator: SplitMix64,
    order: Vec<u32>,
    position: usize,
}

impl Sampler {
    pub(super) fn new(seed: u64, pair_count: usize) -> Sampler {
        Sampler {
            generator: SplitMix64::new(seed, stream::BATCH),
            order: (0..pair_count as u32).collect(),
            position: pair_count,
        }
    }

    /// The next minibatch: the next `size` pairs of a seeded permutation, reshuffled at the start
    /// of every epoch; the last batch of an epoch may be smaller (PyTorch's `drop_last = False`).
    pub(super) fn next_batch(&mut self, size: usize, batch: &mut Vec<u32>) {
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
