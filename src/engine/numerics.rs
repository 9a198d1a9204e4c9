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
    let n = (x * LOG2_E + ROUND_TO_INTEGER) - ROUND_TO_INTEGER;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let polynomial = c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * c6)))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    polynomial * scale
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
}
