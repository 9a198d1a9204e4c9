//! The learning table the argument predicts for a run's settings (SPEC section 10, claim 6), to
//! stand beside the measured one.

use super::config::RunConfig;
use super::loss::LossKind;
use serde::Serialize;

/// What a cell of the learning table is predicted to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// Pairs in the cell drive learning.
    Learns,
    /// Some pairs in the cell learn, depending on how far the policy is from the target.
    Some,
    /// Pairs in the cell get no gradient (the hinge) or only a vanishing one.
    Silent,
}

/// The predicted table and the one-sentence reason.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PredictedTable {
    /// `h_0 > 0`, `h_pi > 0`.
    pub reference_right_policy_right: Prediction,
    /// `h_0 > 0`, `h_pi <= 0`.
    pub reference_right_policy_wrong: Prediction,
    /// `h_0 <= 0`, `h_pi > 0`.
    pub reference_wrong_policy_right: Prediction,
    /// `h_0 <= 0`, `h_pi <= 0`.
    pub reference_wrong_policy_wrong: Prediction,
    /// Why, in one sentence.
    pub note: &'static str,
}

/// "gamma much larger than beta" starts here: with `gamma / beta >= 5` a reference-wrong pair
/// would need `h_pi < -5 |h_0|` to learn under the hinge.
pub const LARGE_GAMMA_RATIO: f32 = 5.0;

/// The table the argument predicts for `config`. For the hinge a pair learns exactly while
/// `beta h_pi < gamma h_0 + m`; the logistic loss is its smooth version (small but non-zero
/// signal where the hinge is silent); IPO regresses to a target and is never silent.
pub fn predicted_table(config: &RunConfig) -> PredictedTable {
    use Prediction::*;
    let quiet = if config.loss == LossKind::Hinge {
        Silent
    } else {
        Some
    };
    if config.loss == LossKind::Ipo {
        return PredictedTable {
            reference_right_policy_right: Learns,
            reference_right_policy_wrong: Learns,
            reference_wrong_policy_right: Learns,
            reference_wrong_policy_wrong: Learns,
            note: "IPO regresses every pair's margin to a fixed target, so every cell keeps learning (in either direction).",
        };
    }
    if config.gamma == 0.0 {
        let right = if config.margin > 0.0 { Some } else { quiet };
        return PredictedTable {
            reference_right_policy_right: right,
            reference_right_policy_wrong: Learns,
            reference_wrong_policy_right: right,
            reference_wrong_policy_wrong: Learns,
            note: "gamma = 0: a pair learns while the policy ranks it wrongly (beta h_pi < m), whatever the reference says.",
        };
    }
    if config.gamma >= LARGE_GAMMA_RATIO * config.beta {
        return PredictedTable {
            reference_right_policy_right: Learns,
            reference_right_policy_wrong: Learns,
            reference_wrong_policy_right: quiet,
            reference_wrong_policy_wrong: quiet,
            note: "gamma >> beta: a pair learns while beta h_pi < gamma h_0, which only pairs the reference ranks right (h_0 > 0) can satisfy.",
        };
    }
    PredictedTable {
        reference_right_policy_right: Some,
        reference_right_policy_wrong: Learns,
        reference_wrong_policy_right: if config.margin > 0.0 { Some } else { quiet },
        reference_wrong_policy_wrong: Some,
        note: "gamma close to beta (DPO): a pair learns while the policy is behind the scaled reference, beta h_pi < gamma h_0 + m.",
    }
}
