//! The numerics the engine shares: a vectorisable `exp`, log-sum-exp in three precisions, the
//! logistic function, weight sums, the non-finite test and Adam's bias corrections. Each is
//! written once here; the GPU backend's shaders mirror `exp` and read the constants below (the
//! native test `tests/shader_layout.rs` checks that they agree).

/// `log2(e)`: `x log2(e)` is `x` in units of `ln 2`.
pub const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in two so that `n * LN2_HIGH` is exact for the `n` that occur (`|n| <= 127`).
pub const LN2_HIGH: f32 = 0.693_145_75;
/// The rest of `ln 2`: `LN2_HIGH + LN2_LOW` is `ln 2` to f32 precision and beyond.
pub const LN2_LOW: f32 = 1.428_606_8e-6;
/// `1.5 * 2^23`: adding and subtracting it rounds an f32 to the nearest integer without a
/// rounding instruction.
pub const ROUND_TO_INTEGER: f32 = 12_582_912.0;
/// The Taylor coefficients of `e^r`, constant term first: `1, 1, 1/2, 1/6, 1/24, 1/120, 1/720`.
pub const EXP_POLYNOMIAL: [f32; 7] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
];
/// The range `exp` clamps its input to, where `e^x` is a normal f32.
pub const EXP_DOMAIN: (f32, f32) = (-87.0, 88.0);

/// `e^x` in f32 to about 2 ulp, written so that a loop over it vectorises (the C library's
/// `expf` is an opaque call): `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6 Taylor
/// polynomial for `e^r` (truncation error below `r^7 / 7! < 1e-7`), and `2^n` built from bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let [c0, c1, c2, c3, c4, c5, c6] = EXP_POLYNOMIAL;
    let x = x.clamp(EXP_DOMAIN.0, EXP_DOMAIN.1);
    let shifted = x * LOG2_E + ROUND_TO_INTEGER;
    let n = shifted - ROUND_TO_INTEGER;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let polynomial = c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * c6)))));
    // `shifted`'s low mantissa bits hold `n` (`1.5 * 2^23 + n`, `|n| <= 126`), and its high bits
    // shift out: `2^n`'s bits without a float-to-integer conversion, which would not vectorise
    // (Rust's saturating `as i32` is one scalar conversion per value on x86).
    let scale = f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    polynomial * scale
}

/// [`exp`] of each of four lanes with wasm's 128-bit SIMD: the same IEEE operations in the same
/// order (wasm has no fused multiply-add to contract them into), so each lane is bit for bit
/// [`exp`] of it. The page's module is optimised for size, which turns LLVM's loop vectoriser
/// off; the step's loop of slopes calls this itself ([`Slope`](super::loss::Slope)).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
pub fn exp_f32x4(x: std::arch::wasm32::v128) -> std::arch::wasm32::v128 {
    use std::arch::wasm32::*;
    /// One Horner step, `c + r * inner`. (The polynomial is written out with it: the
    /// size-optimised build calls an array's `map` and a closure, and keeps a loop over the
    /// coefficients a loop through memory, for every four lanes.)
    #[inline(always)]
    fn horner(c: f32, r: v128, inner: v128) -> v128 {
        f32x4_add(f32x4_splat(c), f32x4_mul(r, inner))
    }
    let [c0, c1, c2, c3, c4, c5, c6] = EXP_POLYNOMIAL;
    // `clamp`: `pmax(x, lo)` is `x < lo ? lo : x` and `pmin(x, hi)` is `hi < x ? hi : x`, so a
    // NaN stays NaN, as `f32::clamp` leaves it.
    let x = f32x4_pmin(
        f32x4_pmax(x, f32x4_splat(EXP_DOMAIN.0)),
        f32x4_splat(EXP_DOMAIN.1),
    );
    let round = f32x4_splat(ROUND_TO_INTEGER);
    let shifted = f32x4_add(f32x4_mul(x, f32x4_splat(LOG2_E)), round);
    let n = f32x4_sub(shifted, round);
    let r = f32x4_sub(
        f32x4_sub(x, f32x4_mul(n, f32x4_splat(LN2_HIGH))),
        f32x4_mul(n, f32x4_splat(LN2_LOW)),
    );
    // `c0 + r * (c1 + r * (... + r * c6))`, innermost first.
    let polynomial = f32x4_splat(c6);
    let polynomial = horner(c5, r, polynomial);
    let polynomial = horner(c4, r, polynomial);
    let polynomial = horner(c3, r, polynomial);
    let polynomial = horner(c2, r, polynomial);
    let polynomial = horner(c1, r, polynomial);
    let polynomial = horner(c0, r, polynomial);
    let scale = i32x4_shl(i32x4_add(shifted, i32x4_splat(127)), 23);
    f32x4_mul(polynomial, scale)
}

/// The logistic function in f64, without overflow for either sign.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log sum exp` with the maximum subtracted first, so that it neither overflows nor underflows.
pub fn log_sum_exp_f64(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// `log sum exp` of f32 values with the maximum subtracted, summed in f64 (the training step's).
pub fn log_sum_exp(values: impl Iterator<Item = f32> + Clone) -> f32 {
    let max = values.clone().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = values.map(|v| ((v - max) as f64).exp()).sum();
    max + sum.ln() as f32
}

/// `log sum exp` of f32 values, entirely in f64 (for metrics and the reported policy).
pub fn log_sum_exp_wide(values: &[f32]) -> f64 {
    log_sum_exp_f64(values.iter().map(|&v| v as f64))
}

/// Sum of weights in f64, returned in f32 (the precision of the step).
pub fn total_weight(weights: impl Iterator<Item = f32>) -> f32 {
    weights.map(f64::from).sum::<f64>() as f32
}

/// 1 when `x` is infinite or NaN, else 0: an integer test that vectorises inside the update loops
/// (the exponent bits all set).
#[inline(always)]
pub fn non_finite(x: f32) -> u32 {
    u32::from(x.to_bits() & 0x7f80_0000 == 0x7f80_0000)
}

/// Adam's bias corrections for the step after `steps` steps, in f64 as `torch.optim.Adam`:
/// `(lr / (1 - beta1^t), 1 / sqrt(1 - beta2^t))` with `t = steps + 1`. Shared with the GPU
/// backend, which receives them as per-step parameters.
pub fn adam_corrections(lr: f32, beta1: f32, beta2: f32, steps: u64) -> (f32, f32) {
    let t = (steps + 1) as i32;
    let correction1 = 1.0 - (beta1 as f64).powi(t);
    let correction2 = 1.0 - (beta2 as f64).powi(t);
    let step_size = (lr as f64 / correction1) as f32;
    let inverse_root_correction2 = (1.0 / correction2.sqrt()) as f32;
    (step_size, inverse_root_correction2)
}

/// Lanes of the row reductions below: eight f32 partial sums, which the compiler keeps in vector
/// registers (two SSE or one AVX register per sum).
const LANES: usize = 8;
/// Elements per block of the row reductions: each lane sums `BLOCK / LANES = 8` terms in f32,
/// then the block's lanes are added in f64, so no f32 partial sum holds more than 8 terms.
const BLOCK: usize = 8 * LANES;

/// One softmax row's whole-row reductions, computed together in one pass after the maximum (see
/// [`row_statistics`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowStatistics {
    /// `log sum exp` of the logits: `log pi(y) = theta(y) - log_normalizer`.
    pub log_normalizer: f64,
    /// `KL(pi || pi0) = sum pi (log pi - log pi0)`, `log pi0` the reference row as given.
    pub kl: f64,
    /// `-sum pi log pi`.
    pub entropy: f64,
    /// The row's largest logit `m`: `log_normalizer = m + ln S`, `S = sum exp(theta - m)`.
    pub max: f32,
    /// Whether every logit is finite; when one is not, the normaliser, KL and entropy are NaN.
    pub finite: bool,
}

/// The largest value of `row`, the index of its first occurrence, and whether any value is
/// non-finite, in [`LANES`] lanes (a comparison and two selects per value, which vectorise,
/// unlike `f32::max`'s NaN rules). Each lane keeps its first maximum; the first of the lanes'
/// is the row's.
#[inline(always)]
fn lane_max(row: &[f32]) -> (f32, usize, bool) {
    let mut max = [f32::NEG_INFINITY; LANES];
    let mut at = [0u32; LANES];
    let mut bad = [0u32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for (chunk, c) in (&mut chunks).zip(0u32..) {
        for j in 0..LANES {
            let larger = chunk[j] > max[j];
            max[j] = if larger { chunk[j] } else { max[j] };
            at[j] = if larger { c } else { at[j] };
            bad[j] |= non_finite(chunk[j]);
        }
    }
    let last = (row.len() / LANES) as u32;
    for (j, &v) in chunks.remainder().iter().enumerate() {
        if v > max[j] {
            max[j] = v;
            at[j] = last;
        }
        bad[j] |= non_finite(v);
    }
    let (mut largest, mut first, mut any_bad) = (f32::NEG_INFINITY, usize::MAX, 0);
    for j in 0..LANES {
        largest = largest.max(max[j]);
        any_bad |= bad[j];
    }
    for j in 0..LANES {
        if max[j] == largest {
            first = first.min(at[j] as usize * LANES + j);
        }
    }
    (largest, first, any_bad != 0)
}

/// `log sum exp`, `KL(pi || pi0)` and the entropy of one softmax row, `pi = softmax(logits)`,
/// against a normalised log-reference row, in two passes: the maximum `m`, then one pass that
/// takes `w = exp(x)`, `x = theta - m`, once per logit with the vectorisable f32 [`exp`] and sums,
/// in f32 lanes of 8 terms added into f64 per block of 64, `S = sum w`, `A = sum w x` and
/// `B = sum w d` with `d = x - (log pi0 - log pi0(y*))`, `y*` the first maximum. Then
/// `log_normalizer = m + ln S`, `entropy = ln S - A / S`, `kl = B / S - ln S - log pi0(y*)`
/// (the same sums as `sum pi log pi` and `sum pi (log pi - log pi0)`, shifted so that no term is
/// large where the result is small: at `theta = log pi0 + c` every `d` is 0).
///
/// Error, against the same sums in f64 with an exact `exp` (`tests/measure_fast.rs` checks it on
/// random rows of up to 10^5 logits): each `w` is within `3e-7 + u |x|` relative (`u = 2^-24`;
/// [`exp`]'s error, the rounding of `x`), each product and difference adds `u` of its size, and
/// each f32 lane sum of 8 terms is within `7u` of its terms' absolute sum (the f64 sums of the
/// lanes add 2^-53 per addition, 3e-10 for 2^24 logits). With `H` the entropy,
/// `sum pi |x| = H - (log_normalizer - m) <= H`, and with `D = sum pi |d|`, `X2 = sum pi x^2`,
/// `XD = sum pi |x d|`, to first order in `u`:
///
/// - the normaliser is within `7.2e-7 + 6e-8 H` (absolute),
/// - the entropy within `7.2e-7 + 1.32e-6 H + 6e-8 (H^2 + X2)`,
/// - the KL within `7.2e-7 + 1.8e-7 H + 1.62e-6 D + 6e-8 (H D + XD)`.
///
/// `D` and `XD` are 0 at the reference (where the KL's error is the normaliser's) and small near
/// it. On the `vocabulary` benchmark's rows (32768 outputs, `H` about 10.3, `|x| <= 3`) that is
/// 1.3e-6 for the normaliser and 2.1e-5 (2e-6 relative) for the entropy; the errors measured on
/// random rows are a few 1e-8 at most. The metrics are compared to 1e-5 relative elsewhere (the
/// GPU's f32 kernels, `tests/independent_metrics.rs`) and printed to three digits.
///
/// On x86-64 processors with AVX2 the same code runs compiled for 256-bit vectors (about twice as
/// fast; the loops are written in 8 lanes and AVX2 without FMA performs the same IEEE
/// operations in the same order, so the result is bit for bit the portable one's, which
/// `tests/measure_fast.rs` checks).
pub fn row_statistics(logits: &[f32], log_reference: &[f32]) -> RowStatistics {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { row_statistics_avx2(logits, log_reference) };
    }
    row_statistics_portable(logits, log_reference)
}

/// [`row_statistics`] compiled for AVX2 (no FMA, so that no rounding differs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn row_statistics_avx2(logits: &[f32], log_reference: &[f32]) -> RowStatistics {
    row_statistics_body(logits, log_reference)
}

/// [`row_statistics`] for any processor: the baseline instruction set (SSE2 on x86-64, SIMD128
/// in the browser).
#[doc(hidden)]
pub fn row_statistics_portable(logits: &[f32], log_reference: &[f32]) -> RowStatistics {
    row_statistics_body(logits, log_reference)
}

/// One block's (at most [`BLOCK`] logits) `sum w`, `sum w x` and `sum w d` of
/// [`row_statistics`], in f32 lanes of at most 8 terms, each lane then added in f64. (Plain
/// functions and loops, no closures: a closure is compiled apart from the AVX2 function it is
/// written in, without AVX2.)
#[inline(always)]
fn block_sums(block: &[f32], reference: &[f32], max: f32, anchor: f32) -> [f64; 3] {
    let mut sums = [[0.0f32; LANES]; 3];
    let full = block.len() / LANES * LANES;
    for (l, r) in block[..full]
        .chunks_exact(LANES)
        .zip(reference[..full].chunks_exact(LANES))
    {
        for j in 0..LANES {
            add_term(&mut sums, j, l[j], r[j], max, anchor);
        }
    }
    for (j, (&l, &r)) in block[full..].iter().zip(&reference[full..]).enumerate() {
        add_term(&mut sums, j, l, r, max, anchor);
    }
    let mut wide = [0.0f64; 3];
    for (total, lanes) in wide.iter_mut().zip(sums) {
        for lane in lanes {
            *total += lane as f64;
        }
    }
    wide
}

/// Adds one logit's `w`, `w x` and `w d` to lane `j` of [`block_sums`]'s sums.
#[inline(always)]
fn add_term(sums: &mut [[f32; LANES]; 3], j: usize, l: f32, r: f32, max: f32, anchor: f32) {
    // Clamped to `exp`'s domain, as `exp` clamps it: a logit more than 87 below the maximum
    // weighs `e^-87 < 1.7e-38` of it instead of less, and its terms `w x` and `w d` stay that
    // small however far below it lies. (A select, not a branch around `exp`, which would not
    // vectorise.)
    let x = l - max;
    let x = if x < EXP_DOMAIN.0 { EXP_DOMAIN.0 } else { x };
    let w = exp(x);
    sums[0][j] += w;
    sums[1][j] += w * x;
    sums[2][j] += w * (x - (r - anchor));
}

/// The body of [`row_statistics`], inlined into each of its compilations.
#[inline(always)]
fn row_statistics_body(logits: &[f32], log_reference: &[f32]) -> RowStatistics {
    debug_assert_eq!(logits.len(), log_reference.len());
    let (max, argmax, bad) = lane_max(logits);
    if bad || logits.is_empty() {
        return RowStatistics {
            log_normalizer: f64::NAN,
            kl: f64::NAN,
            entropy: f64::NAN,
            max,
            finite: !bad,
        };
    }
    let anchor = log_reference[argmax];
    let (mut sum, mut weighted_x, mut weighted_d) = (0.0f64, 0.0f64, 0.0f64);
    for (block, reference) in logits.chunks(BLOCK).zip(log_reference.chunks(BLOCK)) {
        let [s, a, b] = block_sums(block, reference, max, anchor);
        sum += s;
        weighted_x += a;
        weighted_d += b;
    }
    let log_sum = sum.ln();
    RowStatistics {
        log_normalizer: max as f64 + log_sum,
        kl: weighted_d / sum - log_sum - anchor as f64,
        entropy: log_sum - weighted_x / sum,
        max,
        finite: true,
    }
}

/// Adds the KL regulariser's gradient on one softmax row,
/// `lambda * pi (log pi - log pi0 - KL)`, to `gradient`, from the row's [`row_statistics`]
/// (its `max`, `log_normalizer` and `kl`): one vectorised pass of the f32 [`exp`], `log pi` and
/// the bracket in f32.
///
/// Error, against the same expression in f64 with an exact `exp` from exact statistics: with
/// `e_N` and `e_KL` the statistics' errors ([`row_statistics`]) and `u = 2^-24`, to first order,
/// `pi` is within `3e-7 + e_N + 2u |log pi|` relative (`exp`'s error, then `log pi`'s: `u` for
/// each of its two parts, whose sizes add up to `|log pi|`, and `u |log pi|` for their
/// difference), the bracket within `e_N + e_KL + 4u (|log pi| + |log pi0| + KL)` absolute, the two
/// products add `2u` relative, and the sum into the gradient `u` of the result; on the
/// `vocabulary` rows that is a few 1e-6 of `lambda pi` (the step is f32, and the GPU's kernels
/// compute the same term in f32 from f32 sums). `tests/measure_fast.rs` checks it on random
/// rows. Like [`row_statistics`], compiled for AVX2 where the processor has it, bit for bit the
/// portable result. A row whose statistics are not finite gets a NaN gradient, which the step's
/// divergence check refuses.
pub fn add_kl_gradient_row(
    gradient: &mut [f32],
    logits: &[f32],
    log_reference: &[f32],
    statistics: &RowStatistics,
    lambda: f32,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe {
            add_kl_gradient_row_avx2(gradient, logits, log_reference, statistics, lambda)
        };
    }
    add_kl_gradient_row_portable(gradient, logits, log_reference, statistics, lambda)
}

/// [`add_kl_gradient_row`] compiled for AVX2 (no FMA, so that no rounding differs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn add_kl_gradient_row_avx2(
    gradient: &mut [f32],
    logits: &[f32],
    log_reference: &[f32],
    statistics: &RowStatistics,
    lambda: f32,
) {
    add_kl_gradient_row_body(gradient, logits, log_reference, statistics, lambda)
}

/// [`add_kl_gradient_row`] for any processor (the baseline instruction set).
#[doc(hidden)]
pub fn add_kl_gradient_row_portable(
    gradient: &mut [f32],
    logits: &[f32],
    log_reference: &[f32],
    statistics: &RowStatistics,
    lambda: f32,
) {
    add_kl_gradient_row_body(gradient, logits, log_reference, statistics, lambda)
}

/// The body of [`add_kl_gradient_row`], inlined into each of its compilations.
#[inline(always)]
fn add_kl_gradient_row_body(
    gradient: &mut [f32],
    logits: &[f32],
    log_reference: &[f32],
    statistics: &RowStatistics,
    lambda: f32,
) {
    debug_assert!(gradient.len() == logits.len() && logits.len() == log_reference.len());
    let term = KlTerm::new(statistics, lambda);
    for ((g, &l), &r) in gradient.iter_mut().zip(logits).zip(log_reference) {
        *g += term.at(l, r);
    }
}

/// The KL regulariser's gradient on one row, `lambda pi (log pi - log pi0 - KL)`, one logit at a
/// time from the row's [`RowStatistics`]: what [`add_kl_gradient_row`] adds, and what the
/// optimiser's update of a KL-regularised run adds to each logit's gradient as it goes (the same
/// operations, so the same bits).
#[derive(Clone, Copy)]
pub struct KlTerm {
    lambda: f32,
    max: f32,
    log_sum: f32,
    kl: f32,
}

impl KlTerm {
    /// The term's constants for a row of statistics `statistics` and a weight `lambda`.
    pub fn new(statistics: &RowStatistics, lambda: f32) -> KlTerm {
        // `log pi = (theta - m) - ln S`: both parts are at most 0, so neither rounding is larger
        // than `u |log pi|`, however large the logits (`theta - N` in f32 would round `N`).
        KlTerm {
            lambda,
            max: statistics.max,
            log_sum: (statistics.log_normalizer - statistics.max as f64) as f32,
            kl: statistics.kl as f32,
        }
    }

    /// The term at a logit `l` whose normalised log-reference is `r`.
    #[inline(always)]
    pub fn at(self, l: f32, r: f32) -> f32 {
        let log_policy = (l - self.max) - self.log_sum;
        self.lambda * exp(log_policy) * (log_policy - r - self.kl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate_over_the_whole_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let exact = (x as f64).exp();
            let relative = ((exp(x) as f64 - exact) / exact).abs();
            worst = worst.max(relative);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) > 0.0 && exp(1000.0).is_finite());
    }

    #[test]
    fn exp_builds_its_scale_as_a_float_to_integer_conversion_would() {
        // The scale from `shifted`'s bits is `2^n` with `n = shifted - 1.5 * 2^23`, exactly, for
        // every `n` the clamped domain gives (the conversion it replaced:
        // `(n as i32 + 127) << 23`).
        let reference = |x: f32| {
            let [c0, c1, c2, c3, c4, c5, c6] = EXP_POLYNOMIAL;
            let x = x.clamp(EXP_DOMAIN.0, EXP_DOMAIN.1);
            let n = (x * LOG2_E + ROUND_TO_INTEGER) - ROUND_TO_INTEGER;
            let r = (x - n * LN2_HIGH) - n * LN2_LOW;
            let polynomial = c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * c6)))));
            polynomial * f32::from_bits(((n as i32 + 127) as u32) << 23)
        };
        let mut x = -100.0f32;
        while x <= 100.0 {
            assert_eq!(exp(x).to_bits(), reference(x).to_bits(), "{x}");
            x += 0.000_37;
        }
        for x in [
            EXP_DOMAIN.0,
            EXP_DOMAIN.1,
            -0.0,
            f32::MIN,
            f32::MAX,
            1e-30,
            -1e-30,
        ] {
            assert_eq!(exp(x).to_bits(), reference(x).to_bits(), "{x}");
        }
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn ln2_split_is_ln2() {
        let sum = LN2_HIGH as f64 + LN2_LOW as f64;
        assert!((sum - std::f64::consts::LN_2).abs() < 1e-12, "{sum}");
        // n * LN2_HIGH is exact: LN2_HIGH has at most 16 significant bits.
        assert_eq!(LN2_HIGH.to_bits() & 0xff, 0);
    }

    #[test]
    fn log_sum_exp_agrees_in_every_precision() {
        let values = [-3.5f32, 0.25, 2.0, 1e-3];
        let exact = values.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
        assert!((log_sum_exp_wide(&values) - exact).abs() < 1e-12);
        assert!((log_sum_exp(values.iter().copied()) as f64 - exact).abs() < 1e-6);
        assert_eq!(log_sum_exp_f64(std::iter::empty()), f64::NEG_INFINITY);
        // No overflow with the maximum subtracted.
        assert!(
            (log_sum_exp_f64([1000.0, 1000.0].into_iter()) - (1000.0 + 2f64.ln())).abs() < 1e-9
        );
    }

    #[test]
    fn sigmoid_is_stable_at_both_ends() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert!((sigmoid(2.0) + sigmoid(-2.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn non_finite_flags_only_infinities_and_nan() {
        assert_eq!(non_finite(f32::NAN), 1);
        assert_eq!(non_finite(f32::INFINITY), 1);
        assert_eq!(non_finite(f32::NEG_INFINITY), 1);
        assert_eq!(non_finite(f32::MAX), 0);
        assert_eq!(non_finite(0.0), 0);
    }

    #[test]
    fn lane_max_finds_the_first_maximum_and_any_non_finite_value() {
        // 8 lanes over 2 full chunks and a remainder of 3 (indices 16, 17, 18).
        let mut row = vec![0.0f32; 19];
        // Ties in one lane (indices 3 and 11, lane 3): the first. The row's first maximum is the
        // smallest index among the lanes', not lane 0's.
        row[3] = 5.0;
        row[11] = 5.0;
        assert_eq!(lane_max(&row), (5.0, 3, false));
        row[2] = 5.0;
        assert_eq!(lane_max(&row), (5.0, 2, false));
        // A maximum in the remainder, then tied by an earlier chunk in the same lane.
        let mut tail = vec![0.0f32; 19];
        tail[17] = 4.0;
        assert_eq!(lane_max(&tail), (4.0, 17, false));
        tail[9] = 4.0;
        assert_eq!(lane_max(&tail), (4.0, 9, false));
        // Indices past the first chunk: chunk * 8 + lane.
        let mut late = vec![0.0f32; 19];
        late[13] = 1.0;
        assert_eq!(lane_max(&late), (1.0, 13, false));
        // A non-finite value anywhere, the remainder included, after finite ones in its lane.
        for at in [0, 8, 16, 18] {
            let mut bad = vec![1.0f32; 19];
            bad[at] = f32::NAN;
            assert!(lane_max(&bad).2, "NaN at {at}");
            bad[at] = f32::NEG_INFINITY;
            assert!(lane_max(&bad).2, "-inf at {at}");
        }
    }

    #[test]
    fn logits_far_below_the_maximum_weigh_nothing_in_the_entropy() {
        // exp clamps its argument at EXP_DOMAIN.0; the sums' `w x` must use the clamped x too,
        // or a logit 1e38 below the maximum adds e^-87 * -1e38 = -1.6 to the entropy's sum.
        let stats = row_statistics(&[0.0, -1e38], &[(0.5f32).ln(); 2]);
        assert!(stats.finite);
        assert!(stats.entropy.abs() < 1e-30, "{stats:?}");
        assert!(stats.log_normalizer.abs() < 1e-30, "{stats:?}");
        assert!((stats.kl - 2f64.ln()).abs() < 1e-6, "{stats:?}");
    }
}
