//! The metrics of SPEC section 7, computed over all pairs (not only the batch) when asked for.

use serde::Serialize;

/// One cell of the learning table: the pairs with a given (reference right?, policy right?).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LearningCell {
    /// Number of pairs in the cell.
    pub pairs: usize,
    /// Their total weight.
    pub weight: f64,
    /// Their learning signal, `sum of w_p * |phi'(u_p)|`.
    pub signal: f64,
    /// `signal` over the signal of all four cells (0 when nothing learns at all).
    pub share: f64,
}

/// Which pairs drive learning: pairs split by whether the reference (`h_0 > 0`) and the policy
/// (`h_pi > 0`) rank them right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LearningTable {
    /// `h_0 > 0` and `h_pi > 0`.
    pub reference_right_policy_right: LearningCell,
    /// `h_0 > 0` and `h_pi <= 0`.
    pub reference_right_policy_wrong: LearningCell,
    /// `h_0 <= 0` and `h_pi > 0`.
    pub reference_wrong_policy_right: LearningCell,
    /// `h_0 <= 0` and `h_pi <= 0`.
    pub reference_wrong_policy_wrong: LearningCell,
}

impl LearningTable {
    /// The cell for a pair.
    pub fn cell_mut(&mut self, reference_right: bool, policy_right: bool) -> &mut LearningCell {
        match (reference_right, policy_right) {
            (true, true) => &mut self.reference_right_policy_right,
            (true, false) => &mut self.reference_right_policy_wrong,
            (false, true) => &mut self.reference_wrong_policy_right,
            (false, false) => &mut self.reference_wrong_policy_wrong,
        }
    }

    /// The four cells in reading order: reference right (policy right, wrong), then reference wrong.
    pub fn cells(&self) -> [&LearningCell; 4] {
        [
            &self.reference_right_policy_right,
            &self.reference_right_policy_wrong,
            &self.reference_wrong_policy_right,
            &self.reference_wrong_policy_wrong,
        ]
    }

    /// The four cells, mutable, in the order of [`LearningTable::cells`].
    pub(crate) fn cells_mut(&mut self) -> [&mut LearningCell; 4] {
        [
            &mut self.reference_right_policy_right,
            &mut self.reference_right_policy_wrong,
            &mut self.reference_wrong_policy_right,
            &mut self.reference_wrong_policy_wrong,
        ]
    }

    /// Fills in each cell's share of the total signal.
    pub(crate) fn finish(&mut self) {
        let total: f64 = self.cells().iter().map(|cell| cell.signal).sum();
        for cell in self.cells_mut() {
            cell.share = if total > 0.0 {
                cell.signal / total
            } else {
                0.0
            };
        }
    }
}

/// Everything SPEC section 7 reports for one run at one step.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Steps trained so far.
    pub step: u64,
    /// The run diverged: a margin, a logit or an optimiser moment stopped being finite (a learning
    /// rate, `beta`, `gamma` or `alpha` far too large). On the CPU the run stopped before that step
    /// and its metrics describe the last finite state; a state with a non-finite logit (from the
    /// GPU backend or set from outside) is also diverged.
    pub diverged: bool,
    /// The step at which the run diverged: on the CPU the step that was refused (the run's state
    /// is the one after `diverged_at` steps); on the GPU backend the first recorded step at which
    /// a non-finite logit or margin was seen. `None` when it has not diverged.
    pub diverged_at: Option<u64>,
    /// Weighted mean of `phi(u)` over all pairs (the regulariser is not included).
    pub loss: f64,
    /// Weighted share of pairs with `h_pi > 0`.
    pub accuracy: f64,
    /// Weighted share of pairs with `h_0 > 0`.
    pub reference_accuracy: f64,
    /// Mean over prompts of `KL(pi || pi0)`.
    pub kl: f64,
    /// Mean over prompts of the entropy of `pi`.
    pub entropy: f64,
    /// Weighted mean of `beta * (log pi(y+) - log pi0(y+))`.
    pub chosen_reward: f64,
    /// Weighted mean of `beta * (log pi(y-) - log pi0(y-))`.
    pub rejected_reward: f64,
    /// `chosen_reward - rejected_reward`.
    pub reward_margin: f64,
    /// The learning table now: each pair in the cell it is in at this state, with its current
    /// signal.
    pub learning_table: LearningTable,
    /// The learning table accumulated over the steps taken since the run (re)started: per cell,
    /// `signal` sums `w |phi'(u)|` over every step's batch pairs, in the cell each pair was in
    /// at that step; `pairs` counts the pairs that had non-zero signal there at some step (a
    /// pair may count in several cells), `weight` is their weight. `None` where the backend that
    /// trained does not accumulate it (the GPU backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accumulated_table: Option<LearningTable>,
    /// Pairs the policy ranks wrongly now although a step since the run (re)started found it
    /// ranking them right: un-learned, moved by other pairs' gradients through the outputs they
    /// share (a softmax couples every output of a prompt). `None` where the table is not
    /// accumulated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlearned_pairs: Option<usize>,
    /// Mean over prompts of the expected ground-truth reward under `pi` (with a ground truth only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub true_reward: Option<f64>,
    /// Share of the output pairs with different true rewards that `pi` orders as `r*` does
    /// (with a ground truth only; ties in `pi` count as disagreement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_agreement: Option<f64>,
}

/// `ranking_agreement` compares every pair of outputs (`O(K^2)` per prompt), so it is reported
/// only up to this many outputs.
pub const RANKING_MAX_OUTPUTS: usize = 4096;

/// The scalar metrics by name, in a fixed order: the columns of the CSV export and the page's table.
pub const SCALAR_METRICS: [&str; 11] = [
    "loss",
    "accuracy",
    "reference_accuracy",
    "kl",
    "entropy",
    "chosen_reward",
    "rejected_reward",
    "reward_margin",
    "learning_signal",
    "true_reward",
    "ranking_agreement",
];

impl Metrics {
    /// The values of [`SCALAR_METRICS`], `None` where a metric does not apply.
    pub fn scalars(&self) -> [Option<f64>; 11] {
        let signal: f64 = self
            .learning_table
            .cells()
            .iter()
            .map(|cell| cell.signal)
            .sum();
        [
            Some(self.loss),
            Some(self.accuracy),
            Some(self.reference_accuracy),
            Some(self.kl),
            Some(self.entropy),
            Some(self.chosen_reward),
            Some(self.rejected_reward),
            Some(self.reward_margin),
            Some(signal),
            self.true_reward,
            self.ranking_agreement,
        ]
    }
}
