//! Sorting, small. The standard library's sorts are fast and large: each element type and
//! comparator they are used with compiles a few kilobytes of pattern-defeating quicksort,
//! driftsort and sorting networks into the page's wasm module. Outside the step's hot path the
//! engine, the scenario writer and the charts sort rarely (a chart at most once per drawing:
//! the policy's outputs by probability, 32768 of them on `vocabulary` in no measurable time of
//! `dpo run --plots`), so they share [`sort_by`], a heap sort of a few hundred bytes per use
//! (`O(n log n)` comparisons, as the standard sorts). The step's active logits
//! (`Vec<u32>`, every step) keep `sort_unstable`, and the margins' quantiles sort their f32
//! values as `u32` keys ([`total_order_key`]) through that same compiled sort.

/// Sorts `items` in place so that no item is `less` than the one before it; `less` must be a
/// strict weak order. Not stable: give `less` a tie-break (an index) where equal items must keep
/// their order. `O(n log n)` comparisons whatever the input, no allocation.
pub fn sort_by<T>(items: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    let mut sift_down = |items: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && less(&items[child], &items[child + 1]) {
            child += 1;
        }
        if !less(&items[root], &items[child]) {
            return;
        }
        items.swap(root, child);
        root = child;
    };
    let n = items.len();
    for start in (0..n / 2).rev() {
        sift_down(items, start, n);
    }
    for end in (1..n).rev() {
        items.swap(0, end);
        sift_down(items, 0, end);
    }
}

/// A `u32` whose order is `f32::total_cmp`'s order of `x`: negative NaNs, -inf, the negative
/// numbers, -0, +0, the positive numbers, +inf, positive NaNs. (A non-negative float's bits
/// already grow with it: flip the sign bit to put them above every negative. A negative one's
/// bits grow as it falls: flip them all. The sign bit, spread over the word by an arithmetic
/// shift, picks the mask.)
pub fn total_order_key(x: f32) -> u32 {
    let bits = x.to_bits();
    let sign = ((bits as i32) >> 31) as u32;
    bits ^ (sign | 0x8000_0000)
}

/// The `f32` whose [`total_order_key`] is `key`.
pub fn from_total_order_key(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 {
        key & 0x7FFF_FFFF
    } else {
        !key
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{stream, SplitMix64};

    #[test]
    fn sorts_every_length_and_order_as_the_standard_sort_does() {
        let mut generator = SplitMix64::new(7, stream::BATCH);
        for n in 0..70 {
            for _ in 0..20 {
                // Few distinct values, so that ties are common.
                let items: Vec<(u32, usize)> = (0..n)
                    .map(|i| ((generator.next_u64() % 5) as u32, i))
                    .collect();
                let mut ours = items.clone();
                sort_by(&mut ours, |a, b| (a.0, a.1) < (b.0, b.1));
                let mut theirs = items.clone();
                theirs.sort();
                assert_eq!(ours, theirs, "{items:?}");
                // Without a tie-break the keys still come out in order.
                let mut keys: Vec<u32> = items.iter().map(|p| p.0).collect();
                sort_by(&mut keys, |a, b| a > b);
                assert!(keys.windows(2).all(|w| w[0] >= w[1]), "{keys:?}");
            }
        }
    }

    #[test]
    fn total_order_keys_order_floats_as_total_cmp_does() {
        let values = [
            f32::from_bits(0xFFC0_0001), // a negative NaN
            f32::NEG_INFINITY,
            -f32::MAX,
            -1.5,
            -f32::from_bits(1), // the negative subnormal closest to zero
            -0.0,
            0.0,
            f32::from_bits(1),
            2.0e-30,
            1.0,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
        ];
        for (i, &a) in values.iter().enumerate() {
            assert_eq!(
                from_total_order_key(total_order_key(a)).to_bits(),
                a.to_bits()
            );
            for &b in &values[i + 1..] {
                assert_eq!(a.total_cmp(&b), std::cmp::Ordering::Less, "{a} {b}");
                assert!(total_order_key(a) < total_order_key(b), "{a} {b}");
            }
        }
    }
}
