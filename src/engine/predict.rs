//! The learning table the argument predicts for a run's settings, to stand beside the measured
//! one. Every `Learns` and `Silent` here is exact for the settings shown, whatever the state:
//! `Learns` means every pair in the cell gets signal, `Silent` that none does. Where the answer
//! depends on how far the policy is from its target the cell says `Some`, and where the argument
//! speaks of a limit (`gamma >> beta`) rather than an exact rule it says `Fades`.
//!
//! Under the hinge a pair gets gradient exactly while `u < 0`, that is while
//! `h_pi < (gamma h_0 + m) / beta`; the cell fixes the signs of `h_0` and `h_pi` (ties, `= 0`,
//! count as wrong), and so, for each cell, whether that threshold is always met, never met, or
//! met for some pairs. The logistic loss's slope `sigmoid(-u)` is never 0 and IPO's `phi'` is 0
//! only at one margin, so under those every pair learns (weighted by how far it is from its
//! target), in every cell.

use super::config::RunConfig;
use super::loss::LossKind;
use serde::Serialize;

/// What a cell of the learning table is predicted to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// Every pair in the cell gets signal.
    Learns,
    /// A pair in the cell learns or not depending on how far the policy is from its target.
    Some,
    /// Silent only in the limit `gamma >> beta`: a pair here learns only while
    /// `h_pi < (gamma / beta) h_0 + m / beta`, which fewer pairs meet as `gamma` grows.
    Fades,
    /// No pair in the cell gets any signal.
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
    /// Why, in a sentence or two (and, with length normalisation, what the rows and columns
    /// compare).
    pub note: String,
}

/// From this `gamma / beta` on, a reference-wrong pair under the hinge would need
/// `h_pi < -5 |h_0|` (plus the margin) to learn: the table calls that cell `Fades`.
pub const LARGE_GAMMA_RATIO: f32 = 5.0;

/// The table the argument predicts for `config` (see the module's documentation for the rules).
pub fn predicted_table(config: &RunConfig) -> PredictedTable {
    let mut table = predicted_cells(config);
    if config.length_normalize {
        table.note += " With length normalisation, 'policy right' compares the length-normalised log-probabilities that training uses (h_pi / L), while 'reference right' compares the raw reference log-ratio h_0: so even at pi = pi0 a pair can sit off the diagonal.";
    }
    table
}

/// The cells and the note, before the note on length normalisation.
fn predicted_cells(config: &RunConfig) -> PredictedTable {
    use Prediction::*;
    match config.loss {
        LossKind::Logistic => {
            return PredictedTable {
                reference_right_policy_right: Learns,
                reference_right_policy_wrong: Learns,
                reference_wrong_policy_right: Learns,
                reference_wrong_policy_wrong: Learns,
                note: "The logistic loss never goes silent: every pair learns, weighted by sigmoid(-u), most where the policy is furthest behind its target (u < 0).".into(),
            };
        }
        LossKind::Ipo => {
            return PredictedTable {
                reference_right_policy_right: Learns,
                reference_right_policy_wrong: Learns,
                reference_wrong_policy_right: Learns,
                reference_wrong_policy_wrong: Learns,
                note: "IPO regresses every pair's margin to a fixed target, so every cell keeps learning (in either direction).".into(),
            };
        }
        LossKind::Hinge => {}
    }
    let (gamma, margin) = (config.gamma, config.margin);
    // A pair learns while h_pi < (gamma h_0 + m) / beta. Per cell, over the cell's h_0 and h_pi:
    // reference right (h_0 > 0): the threshold is above m / beta and grows with h_0 when gamma > 0.
    let right_row_right = if gamma > 0.0 || margin > 0.0 {
        Some
    } else {
        Silent // threshold <= 0 < h_pi
    };
    let right_row_wrong = if (gamma > 0.0 && margin >= 0.0) || (gamma == 0.0 && margin > 0.0) {
        Learns // threshold > 0 >= h_pi
    } else {
        Some // gamma = 0 and m <= 0: only pairs with h_pi < m / beta (a tie at 0 does not learn)
    };
    // Reference wrong (h_0 <= 0): the threshold is at most m / beta, and falls with h_0 when
    // gamma > 0.
    let wrong_row_right = if margin > 0.0 { Some } else { Silent };
    let wrong_row_wrong = if gamma == 0.0 && margin > 0.0 {
        Learns // threshold = m / beta > 0 >= h_pi
    } else if gamma >= LARGE_GAMMA_RATIO * config.beta {
        Fades
    } else {
        Some
    };
    let note = if gamma == 0.0 {
        "gamma = 0: a pair learns exactly while beta h_pi < m, the policy ranking it wrongly (a tie, h_pi = 0, learns only with m > 0), whatever the reference says."
    } else if gamma >= LARGE_GAMMA_RATIO * config.beta {
        "gamma >> beta: a pair learns while beta h_pi < gamma h_0 + m. A pair the reference ranks right and the policy wrongly always does; one the reference ranks wrongly learns only while h_pi < (gamma/beta) h_0 + m/beta, ever rarer as gamma grows (silent in the limit, not exactly: a tie h_0 = 0 still learns while beta h_pi < m)."
    } else {
        "gamma > 0: a pair learns while beta h_pi < gamma h_0 + m, that is while the policy is behind the reference scaled by gamma/beta; how many do depends on the state, except in the cells marked learns or silent."
    };
    PredictedTable {
        reference_right_policy_right: right_row_right,
        reference_right_policy_wrong: right_row_wrong,
        reference_wrong_policy_right: wrong_row_right,
        reference_wrong_policy_wrong: wrong_row_wrong,
        note: note.into(),
    }
}
