//! Seeded randomness: a sequential generator for host-side draws, and a counter-based hash for
//! per-logit masks that a GPU kernel can reproduce without carrying generator state.

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast, and good enough for sampling pairs,
/// shuffling minibatches and drawing initial logits. Every stream is fully determined by its seed.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

/// Distinct constants per purpose, so that one user-facing seed drives independent streams.
pub mod stream {
    /// Initial logits of `init = random`.
    pub const INIT: u64 = 0x1D1F_5EED_0000_0001;
    /// Minibatch order.
    pub const BATCH: u64 = 0x1D1F_5EED_0000_0002;
    /// Bradley-Terry pair generation.
    pub const GENERATE: u64 = 0x1D1F_5EED_0000_0003;
    /// The pairs a scenario's `validation` holds out.
    pub const VALIDATION: u64 = 0x1D1F_5EED_0000_0004;
    /// The pairs `validation: {"fresh"}` draws from the ground-truth reward.
    pub const FRESH_VALIDATION: u64 = 0x1D1F_5EED_0000_0005;
}

impl SplitMix64 {
    /// A generator for `seed` in the stream `stream` (one of [`stream`]).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut generator = SplitMix64 {
            state: seed ^ stream.rotate_left(17),
        };
        // Discard one output so that nearby seeds do not start from nearby states.
        generator.next_u64();
        generator
    }

    /// The generator's whole state, to hand it to another copy of the engine ([`SplitMix64::resume`]).
    pub fn state(&self) -> u64 {
        self.state
    }

    /// The generator that [`SplitMix64::state`] described: it draws what that one would have drawn.
    pub fn resume(state: u64) -> Self {
        SplitMix64 { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift; the bias is below 2^-32 for
    /// the sizes used here.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// A standard normal draw (Box-Muller).
    pub fn next_normal(&mut self) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let radius = (-2.0 * (1.0 - self.next_f64()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.next_f64()).cos()
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A 32-bit integer hash with good avalanche (the "lowbias32" constants of Chris Wellons' hash
/// prospector). Only 32-bit multiplies and shifts, so WGSL computes the same bits.
pub fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^= x >> 16;
    x
}

/// A uniform draw in `[0, 1)` for one (seed, step, index) triple: the mixout mask of a logit at a
/// step. Counter-based, so any backend can compute any mask independently.
pub fn uniform_at(seed: u64, step: u64, index: u32) -> f32 {
    let h = hash32(
        (seed as u32)
            ^ hash32((seed >> 32) as u32 ^ hash32(step as u32 ^ hash32(index ^ 0x9E37_79B9))),
    );
    // The top 24 bits are exact in an f32.
    (h >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SplitMix64::new(7, stream::INIT);
        let mut b = SplitMix64::new(7, stream::INIT);
        let mut c = SplitMix64::new(7, stream::BATCH);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn uniform_draws_cover_the_unit_interval() {
        let mut generator = SplitMix64::new(1, stream::INIT);
        let draws: Vec<f64> = (0..10_000).map(|_| generator.next_f64()).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!(draws.iter().all(|&u| (0.0..1.0).contains(&u)));
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        let masks: Vec<f32> = (0..10_000).map(|i| uniform_at(3, 5, i)).collect();
        let mask_mean = masks.iter().sum::<f32>() / masks.len() as f32;
        assert!((mask_mean - 0.5).abs() < 0.02, "mask mean {mask_mean}");
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let mut generator = SplitMix64::new(11, stream::INIT);
        let draws: Vec<f64> = (0..20_000).map(|_| generator.next_normal()).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let variance = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.05, "variance {variance}");
    }

    #[test]
    fn the_streams_are_the_published_functions() {
        // SplitMix64 from state 0: the reference implementation's first five outputs (Vigna's
        // splitmix64.c, also computed here with Python's integers).
        let mut generator = SplitMix64::resume(0);
        let outputs: Vec<u64> = (0..5).map(|_| generator.next_u64()).collect();
        assert_eq!(
            outputs,
            [
                0xE220_A839_7B1D_CDAF,
                0x6E78_9E6A_A1B9_65F4,
                0x06C4_5D18_8009_454F,
                0xF88B_B8A8_724C_81EC,
                0x1B39_896A_51A8_749B,
            ]
        );
        // lowbias32, computed with Python's integers from its definition.
        let hashes: Vec<u32> = [0, 1, 2, 0xDEAD_BEEF].into_iter().map(hash32).collect();
        assert_eq!(hashes, [0, 0x6889_90C0, 0xD113_2181, 0xE628_C683]);
    }

    #[test]
    fn shuffles_draw_every_order_equally_often() {
        // Fisher-Yates gives each of the 3! orders of three items with chance 1/6. 6,000
        // shuffles: each count is binomial(6000, 1/6), mean 1000, sd 28.9; 6 sd either way
        // bounds all six at once with chance 1 - 1e-8. (Drawing j below i instead of i + 1,
        // Sattolo's algorithm, gives only the two cyclic orders.)
        let mut generator = SplitMix64::new(4, stream::BATCH);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..6000 {
            let mut items = [0u8, 1, 2];
            generator.shuffle(&mut items);
            *counts.entry(items).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 6, "{counts:?}");
        for (order, &count) in &counts {
            assert!((827..=1173).contains(&count), "{order:?} {count} times");
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut items: Vec<u32> = (0..100).collect();
        SplitMix64::new(2, stream::BATCH).shuffle(&mut items);
        assert_ne!(items, (0..100).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..100).collect::<Vec<_>>());
    }
}
