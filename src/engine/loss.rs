//! The loss family of SPEC section 4: each loss is `phi(u)` and `phi'(u)` side by side, as
//! functions of the signed margin `u = beta * h_pi - gamma * h_0 - m`.

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
        match self {
            LossKind::Logistic => "logistic",
            LossKind::Hinge => "hinge",
            LossKind::Ipo => "ipo",
        }
    }

    /// The loss named `name` in a scenario file.
    pub fn from_name(name: &str) -> Option<LossKind> {
        LossKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// `phi(u)`, in f64 for the reported loss.
    pub fn value(self, u: f64, beta: f64) -> f64 {
        match self {
            // Stable softplus(-u): max(-u, 0) + log1p(exp(-|u|)) never overflows.
            LossKind::Logistic => (-u).max(0.0) + (-u.abs()).exp().ln_1p(),
            LossKind::Hinge => (-u).max(0.0),
            LossKind::Ipo => {
                let residual = (u - 0.5) / beta;
                residual * residual
            }
        }
    }

    /// `phi'(u)`, in f32 for training.
    #[inline(always)]
    pub fn derivative(self, u: f32, beta: f32) -> f32 {
        match self {
            // -sigmoid(-u) = -1 / (1 + exp(u)); a huge u gives -0 (to within 1e-38), the right limit.
            LossKind::Logistic => -1.0 / (1.0 + exp(u)),
            // No learning at the boundary u = 0 (SPEC section 4).
            LossKind::Hinge => {
                if u < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            // d/du (u/beta - 1/(2 beta))^2 = 2 (u - 1/2) / beta^2.
            LossKind::Ipo => 2.0 * (u - 0.5) / (beta * beta),
        }
    }

    /// `phi'(u)` in f64, for the finite-difference tests and the reported learning signal.
    pub fn derivative_f64(self, u: f64, beta: f64) -> f64 {
        match self {
            LossKind::Logistic => -1.0 / (1.0 + u.exp()),
            LossKind::Hinge => {
                if u < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            LossKind::Ipo => 2.0 * (u - 0.5) / (beta * beta),
        }
    }
}

/// `e^x` in f32 to about 2 ulp, written so that a loop over it vectorises (the C library's
/// `expf` is an opaque call): `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-6 Taylor
/// polynomial for `e^r` (truncation error below `r^7 / 7! < 1e-7`), and `2^n` built from bits.
/// Inputs are clamped to `[-87, 88]`, where `e^x` is a normal f32.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n * LN2_HIGH is exact for the n that occur.
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let polynomial = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    polynomial * scale
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
    fn hand_checked_values() {
        let ln2 = std::f64::consts::LN_2;
        let table = [
            (LossKind::Logistic, 0.0, 1.0, ln2, -0.5),
            (
                LossKind::Logistic,
                2.0,
                1.0,
                (1.0 + (-2.0f64).exp()).ln(),
                -1.0 / (1.0 + 2.0f64.exp()),
            ),
            (
                LossKind::Logistic,
                -3.0,
                0.5,
                (1.0 + 3.0f64.exp()).ln(),
                -1.0 / (1.0 + (-3.0f64).exp()),
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
