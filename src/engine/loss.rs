//! The loss family of SPEC section 4: each loss is `phi(u)` and `phi'(u)` side by side, as
//! functions of the signed margin `u = beta * h_pi - gamma * h_0 - m`.

use super::numerics::exp;
use super::options::{kind_of, named, LOSSES};

/// Which per-pair loss a run minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// `phi(u) = log(1 + exp(-u))`: DPO, generalized DPO, SimPO.
    Logistic,
    /// `phi(u) = max(0, -u)`: the margin form of DPO, SLiC.
    Hinge,
    /// `phi(u) = (u / beta - 1 / (2 beta))^2`, which is IPO's `(h_pi - (gamma/beta) h_0 - 1/(2 beta))^2`
    /// when the margin `m` is 0 (with a margin, `m / beta` is subtracted inside the square too).
    Ipo,
}

impl LossKind {
    /// Every loss, in the order the page lists them.
    pub const ALL: [LossKind; 3] = [LossKind::Logistic, LossKind::Hinge, LossKind::Ipo];

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        kind_of(LOSSES, &self).name
    }

    /// The loss named `name` in a scenario file.
    pub fn from_name(name: &str) -> Option<LossKind> {
        named(LOSSES, name)
    }

    /// `phi(u)`, in f64 for the reported loss.
    pub fn value(self, u: f64, beta: f64) -> f64 {
        match self {
            LossKind::Logistic => logistic::phi(u),
            LossKind::Hinge => hinge::phi(u),
            LossKind::Ipo => ipo::phi(u, beta),
        }
    }

    /// `phi'(u)`, in f32 for training.
    #[inline(always)]
    pub fn derivative(self, u: f32, beta: f32) -> f32 {
        match self {
            LossKind::Logistic => logistic::slope(u),
            LossKind::Hinge => hinge::slope(u),
            LossKind::Ipo => ipo::slope(u, beta),
        }
    }

    /// `phi'(u)` in f64, for the finite-difference tests and the reported learning signal.
    pub fn derivative_f64(self, u: f64, beta: f64) -> f64 {
        match self {
            LossKind::Logistic => logistic::slope_f64(u),
            LossKind::Hinge => hinge::slope(u),
            LossKind::Ipo => ipo::slope(u, beta),
        }
    }
}

/// One loss's `phi'` in f32 as a type, for the training step's pairs loops: a loop generic over
/// it is compiled once per loss with the slope inlined. (A closure holding the slope would be
/// inlined natively, but the page's size-optimised wasm build calls a closure that holds an
/// `exp` once per pair.)
pub trait Slope {
    /// The loss.
    const KIND: LossKind;

    /// `phi'(u)`: [`LossKind::derivative`] of [`Slope::KIND`], its `match` folded away.
    #[inline(always)]
    fn slope(u: f32, beta: f32) -> f32 {
        Self::KIND.derivative(u, beta)
    }

    /// [`Slope::slope`] of each of four lanes, bit for bit (wasm's 128-bit SIMD; see
    /// `numerics::exp_f32x4`, compiled for the browser only).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn slope_f32x4(u: std::arch::wasm32::v128, beta: f32) -> std::arch::wasm32::v128;
}

/// [`LossKind::Logistic`]'s [`Slope`].
pub struct LogisticSlope;
/// [`LossKind::Hinge`]'s [`Slope`].
pub struct HingeSlope;
/// [`LossKind::Ipo`]'s [`Slope`].
pub struct IpoSlope;

impl Slope for LogisticSlope {
    const KIND: LossKind = LossKind::Logistic;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn slope_f32x4(u: std::arch::wasm32::v128, _beta: f32) -> std::arch::wasm32::v128 {
        use std::arch::wasm32::*;
        // `-1 / (1 + exp(u))`, as `logistic::slope`.
        let one_plus = f32x4_add(f32x4_splat(1.0), super::numerics::exp_f32x4(u));
        f32x4_div(f32x4_splat(-1.0), one_plus)
    }
}

impl Slope for HingeSlope {
    const KIND: LossKind = LossKind::Hinge;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn slope_f32x4(u: std::arch::wasm32::v128, _beta: f32) -> std::arch::wasm32::v128 {
        use std::arch::wasm32::*;
        // `-1` where `u < 0`, else `0` (a NaN too), as `hinge::slope`.
        let below = f32x4_lt(u, f32x4_splat(0.0));
        v128_bitselect(f32x4_splat(-1.0), f32x4_splat(0.0), below)
    }
}

impl Slope for IpoSlope {
    const KIND: LossKind = LossKind::Ipo;

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn slope_f32x4(u: std::arch::wasm32::v128, beta: f32) -> std::arch::wasm32::v128 {
        use std::arch::wasm32::*;
        // `2 (u - 1/2) / (beta beta)`, as `ipo::slope`.
        let scaled = f32x4_mul(f32x4_splat(2.0), f32x4_sub(u, f32x4_splat(0.5)));
        f32x4_div(scaled, f32x4_splat(beta * beta))
    }
}

/// `phi(u) = log(1 + e^-u)` and `phi'(u) = -sigmoid(-u)`.
mod logistic {
    use super::exp;

    /// Stable softplus(-u): `max(-u, 0) + log1p(e^-|u|)` never overflows.
    pub fn phi(u: f64) -> f64 {
        (-u).max(0.0) + (-u.abs()).exp().ln_1p()
    }

    /// `-1 / (1 + e^u)` with the engine's vectorisable `exp`; a huge `u` gives -0 (to within
    /// 1e-38), the right limit.
    #[inline(always)]
    pub fn slope(u: f32) -> f32 {
        -1.0 / (1.0 + exp(u))
    }

    pub fn slope_f64(u: f64) -> f64 {
        -1.0 / (1.0 + u.exp())
    }
}

/// `phi(u) = max(0, -u)` and `phi'(u) = -1` below 0, else 0: no learning at the boundary `u = 0`
/// (SPEC section 4).
mod hinge {
    use super::Float;

    pub fn phi(u: f64) -> f64 {
        (-u).max(0.0)
    }

    #[inline(always)]
    pub fn slope<F: Float>(u: F) -> F {
        if u < F::ZERO {
            -F::ONE
        } else {
            F::ZERO
        }
    }
}

/// `phi(u) = ((u - 1/2) / beta)^2` and `phi'(u) = 2 (u - 1/2) / beta^2`.
mod ipo {
    use super::Float;

    pub fn phi(u: f64, beta: f64) -> f64 {
        let residual = (u - 0.5) / beta;
        residual * residual
    }

    #[inline(always)]
    pub fn slope<F: Float>(u: F, beta: F) -> F {
        F::TWO * (u - F::HALF) / (beta * beta)
    }
}

/// The arithmetic the hinge's and IPO's slopes need, so that each is written once for the f32
/// training step and the f64 reports.
trait Float:
    Copy
    + PartialOrd
    + std::ops::Neg<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    const ZERO: Self;
    const HALF: Self;
    const ONE: Self;
    const TWO: Self;
}

impl Float for f32 {
    const ZERO: f32 = 0.0;
    const HALF: f32 = 0.5;
    const ONE: f32 = 1.0;
    const TWO: f32 = 2.0;
}

impl Float for f64 {
    const ZERO: f64 = 0.0;
    const HALF: f64 = 0.5;
    const ONE: f64 = 1.0;
    const TWO: f64 = 2.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One hand-checked row: loss, u, beta, phi(u), phi'(u).
    fn check(kind: LossKind, u: f64, beta: f64, value: f64, derivative: f64) {
        let got_value = kind.value(u, beta);
        let got_derivative = kind.derivative_f64(u, beta);
        let got_derivative_f32 = kind.derivative(u as f32, beta as f32) as f64;
        assert!(
            (got_value - value).abs() <= 1e-12 * value.abs().max(1.0),
            "{kind:?} phi({u}) = {got_value}, expected {value}"
        );
        assert!(
            (got_derivative - derivative).abs() <= 1e-12,
            "{kind:?} phi'({u}) = {got_derivative}, expected {derivative}"
        );
        assert!(
            (got_derivative_f32 - derivative).abs() <= 1e-6,
            "{kind:?} f32 phi'({u}) = {got_derivative_f32}, expected {derivative}"
        );
    }

    #[test]
    // The digits are the reference's, not rounded to what an f64 holds; ln 2 is one of them.
    #[allow(clippy::approx_constant, clippy::excessive_precision)]
    fn hand_checked_values() {
        // The logistic rows' values were computed independently of this code, with Python's
        // `decimal` module at 40 significant digits (`(1 + (-u).exp()).ln()` and
        // `-1 / (1 + u.exp())` on `Decimal`s), and are written here to 17 digits.
        let table = [
            (LossKind::Logistic, 0.0, 1.0, 0.693_147_180_559_945_3, -0.5),
            (
                LossKind::Logistic,
                2.0,
                1.0,
                0.126_928_011_042_972_50,
                -0.119_202_922_022_117_56,
            ),
            (
                LossKind::Logistic,
                -3.0,
                0.5,
                3.048_587_351_573_742_1,
                -0.952_574_126_822_433_22,
            ),
            (
                LossKind::Logistic,
                0.5,
                2.0,
                0.474_076_984_180_106_68,
                -0.377_540_668_798_145_44,
            ),
            (
                LossKind::Logistic,
                -0.75,
                1.0,
                1.136_871_006_114_899_9,
                -0.679_178_699_175_392_97,
            ),
            // Far tails: no overflow, the right asymptotes.
            (LossKind::Logistic, 800.0, 1.0, 0.0, 0.0),
            (LossKind::Logistic, -800.0, 1.0, 800.0, -1.0),
            (LossKind::Hinge, -0.25, 1.0, 0.25, -1.0),
            (LossKind::Hinge, 0.0, 1.0, 0.0, 0.0),
            (LossKind::Hinge, 0.1, 1.0, 0.0, 0.0),
            // IPO at u = 0, beta = 1: (0 - 1/2)^2 = 1/4, derivative 2 * (-1/2) = -1.
            (LossKind::Ipo, 0.0, 1.0, 0.25, -1.0),
            // beta = 2, u = 1.5: ((1.5 - 0.5) / 2)^2 = 1/4; derivative 2 * 1 / 4 = 1/2.
            (LossKind::Ipo, 1.5, 2.0, 0.25, 0.5),
        ];
        for (kind, u, beta, value, derivative) in table {
            check(kind, u, beta, value, derivative);
        }
    }

    #[test]
    fn derivative_matches_finite_differences() {
        for kind in LossKind::ALL {
            for &u in &[-2.5, -0.3, 0.4, 1.7] {
                for &beta in &[0.3, 1.0, 2.5] {
                    let h = 1e-6;
                    let numeric = (kind.value(u + h, beta) - kind.value(u - h, beta)) / (2.0 * h);
                    let analytic = kind.derivative_f64(u, beta);
                    assert!(
                        (numeric - analytic).abs() <= 1e-6 * analytic.abs().max(1.0),
                        "{kind:?} u={u} beta={beta}: {numeric} vs {analytic}"
                    );
                }
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in LossKind::ALL {
            assert_eq!(LossKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(LossKind::from_name("dpo"), None);
    }
}
