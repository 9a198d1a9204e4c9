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

    /// The sampler's state: the generator's, the current permutation and the position in it.
    pub(super) fn parts(&self) -> (u64, &[u32], usize) {
        (self.generator.state(), &self.order, self.position)
    }

    /// The sampler [`Sampler::parts`] described; `None` when the permutation is not one of
    /// `0..pair_count` or the position is past its end.
    pub(super) fn from_parts(
        generator: u64,
        order: Vec<u32>,
        position: usize,
        pair_count: usize,
    ) -> Option<Sampler> {
        let mut seen = vec![false; pair_count];
        let is_permutation = order.len() == pair_count
            && order.iter().all(|&i| {
                (i as usize) < pair_count && !std::mem::replace(&mut seen[i as usize], true)
            });
        (is_permutation && position <= pair_count).then(|| Sampler {
            generator: SplitMix64::resume(generator),
            order,
            position,
        })
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
