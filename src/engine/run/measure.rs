//! The metrics of SPEC section 7 at a run's current logits, and the per-pair quantities the
//! charts and the GPU backend read (`h_0`, the thresholds, the margins).

use super::accumulated::RANKED_RIGHT;
use super::gradient::policy_log_ratio_normalized;
use super::{PairLogits, Run};
use crate::engine::metrics::{LearningTable, Metrics, RANKING_MAX_OUTPUTS};
use crate::engine::numerics::{log_sum_exp, row_statistics, RowStatistics};
use crate::engine::problem::Problem;

/// Pairs per chunk of [`Run::metrics`]'s pair loop, whose values are gathered first.
const GATHER: usize = 256;

impl Run {
    /// Each prompt's f32 normaliser as training computes it (`log_sum_exp`), which the
    /// length-normalised margins read so that `h_pi` is training's bit for bit; empty without
    /// length normalisation, where the margins do not need it.
    fn training_normalizers(&self, k: usize) -> Vec<f32> {
        if self.config.length_normalize {
            self.logits
                .chunks(k)
                .map(|row| log_sum_exp(row.iter().copied()))
                .collect()
        } else {
            Vec::new()
        }
    }

    /// The metrics of SPEC section 7 at the current logits, over all pairs.
    ///
    /// The whole-row reductions (each prompt's normaliser, KL and entropy) are taken once per
    /// record by [`row_statistics`], a vectorised pass with f32 `exp` and f64 sums (within a few
    /// 1e-6 of the same sums in f64 throughout, see its error bound), and shared by every metric
    /// that needs them: the rewards read `log pi = theta - normaliser` at two logits per pair, so
    /// no whole log-policy is stored. With length normalisation the margins use the f32
    /// normalisers training computes (`log_sum_exp`), so that `h_pi` is training's bit for bit.
    pub fn metrics(&self, problem: &Problem) -> Metrics {
        let k = problem.output_count();
        let p = problem.prompt_count();
        let beta = self.config.beta as f64;
        let loss_kind = self.config.loss;
        let log_reference = problem.log_reference();
        let rows = every_row_statistics(&self.logits, log_reference, k);
        let normalizers = self.training_normalizers(k);
        let mut metrics = Metrics {
            step: self.steps,
            // Also set below when a margin is not finite (a state read back from the GPU, which
            // reports divergence without stopping the run).
            diverged: self.diverged_at.is_some() || rows.iter().any(|row| !row.finite),
            diverged_at: self.diverged_at,
            ..Metrics::default()
        };
        let mut total_weight = 0.0;
        let mut unlearned = 0;
        let mut table = LearningTable::default();
        // The four values each pair reads, gathered a chunk of pairs at a time first: a loop of
        // independent loads lets the processor overlap their cache misses (a pair's logits and
        // reference values lie anywhere in arrays of megabytes), which the loop below, with its
        // f64 `exp` and `ln`, would not.
        let mut gathered = [[0.0f32; 4]; GATHER];
        for (first, chunk) in (0..).step_by(GATHER).zip(self.pairs.chunks(GATHER)) {
            for (values, pair) in gathered.iter_mut().zip(chunk) {
                let (chosen, rejected) = (pair.chosen as usize, pair.rejected as usize);
                *values = [
                    self.logits[chosen],
                    self.logits[rejected],
                    log_reference[chosen],
                    log_reference[rejected],
                ];
            }
            for (j, (pair, &values)) in chunk.iter().zip(&gathered).enumerate() {
                let i = first + j;
                let [logit_chosen, logit_rejected, reference_chosen, reference_rejected] = values;
                let (chosen, rejected) = (pair.chosen as usize, pair.rejected as usize);
                let h = self.policy_log_ratio_of(
                    logit_chosen,
                    logit_rejected,
                    chosen,
                    rejected,
                    k,
                    &normalizers,
                );
                let u = self.config.beta * h - self.thresholds[i];
                metrics.diverged |= !u.is_finite();
                let w = pair.weight as f64;
                total_weight += w;
                metrics.loss += w * loss_kind.value(u as f64, beta);
                let policy_right = h > 0.0;
                let reference_right = self.reference_log_ratios[i] > 0.0;
                if policy_right {
                    metrics.accuracy += w;
                }
                if reference_right {
                    metrics.reference_accuracy += w;
                }
                let log_policy =
                    |logit: f32, flat: usize| logit as f64 - rows[flat / k].log_normalizer;
                metrics.chosen_reward +=
                    w * beta * (log_policy(logit_chosen, chosen) - reference_chosen as f64);
                metrics.rejected_reward +=
                    w * beta * (log_policy(logit_rejected, rejected) - reference_rejected as f64);
                if !policy_right
                    && self
                        .accumulated
                        .ever
                        .get(i)
                        .is_some_and(|&b| b & RANKED_RIGHT != 0)
                {
                    unlearned += 1;
                }
                let cell = table.cell_mut(reference_right, policy_right);
                cell.pairs += 1;
                cell.weight += w;
                cell.signal += w * loss_kind.derivative_f64(u as f64, beta).abs();
            }
        }
        if total_weight > 0.0 {
            metrics.loss /= total_weight;
            metrics.accuracy /= total_weight;
            metrics.reference_accuracy /= total_weight;
            metrics.chosen_reward /= total_weight;
            metrics.rejected_reward /= total_weight;
        }
        metrics.reward_margin = metrics.chosen_reward - metrics.rejected_reward;
        table.finish();
        metrics.learning_table = table;
        metrics.accumulated_table = self.accumulated.tracked.then(|| {
            self.accumulated
                .table(self.pairs.iter().map(|pair| pair.weight))
        });
        metrics.unlearned_pairs = self.accumulated.tracked.then_some(unlearned);
        metrics.kl = rows.iter().map(|row| row.kl).sum::<f64>() / p as f64;
        metrics.entropy = rows.iter().map(|row| row.entropy).sum::<f64>() / p as f64;
        if let Some(reward) = problem.true_reward() {
            let (expected, agreement) = ground_truth_metrics(&rows, &self.logits, reward, k);
            metrics.true_reward = Some(expected);
            metrics.ranking_agreement = agreement;
        }
        metrics
    }

    /// `h_pi` of the pair on flat logits `chosen`, `rejected`, computed as training computes it.
    fn policy_log_ratio(
        &self,
        chosen: usize,
        rejected: usize,
        k: usize,
        normalizers: &[f32],
    ) -> f32 {
        self.policy_log_ratio_of(
            self.logits[chosen],
            self.logits[rejected],
            chosen,
            rejected,
            k,
            normalizers,
        )
    }

    /// [`Run::policy_log_ratio`] from the two logits' values, read by the caller. `normalizers`
    /// (each row's f32 `log_sum_exp`, as training's) is read only with length normalisation.
    fn policy_log_ratio_of(
        &self,
        logit_chosen: f32,
        logit_rejected: f32,
        chosen: usize,
        rejected: usize,
        k: usize,
        normalizers: &[f32],
    ) -> f32 {
        if self.config.length_normalize {
            policy_log_ratio_normalized(
                logit_chosen,
                logit_rejected,
                normalizers[chosen / k],
                self.inverse_lengths[chosen % k],
                self.inverse_lengths[rejected % k],
            )
        } else {
            logit_chosen - logit_rejected
        }
    }

    /// `h_0` of each pair, in pair order (the GPU's metrics use the CPU's values).
    pub fn reference_log_ratios(&self) -> &[f32] {
        &self.reference_log_ratios
    }

    /// `gamma * h_0 + m` of each pair, in pair order: what `beta * h_pi` must exceed.
    pub fn thresholds(&self) -> &[f32] {
        &self.thresholds
    }

    /// Each pair's margin `u = beta * h_pi - gamma * h_0 - m` at the current logits.
    pub fn margins(&self, problem: &Problem) -> Vec<f32> {
        let k = problem.output_count();
        let normalizers = self.training_normalizers(k);
        self.pairs
            .iter()
            .zip(&self.thresholds)
            .map(
                |(
                    &PairLogits {
                        chosen, rejected, ..
                    },
                    threshold,
                )| {
                    self.config.beta
                        * self.policy_log_ratio(chosen as usize, rejected as usize, k, &normalizers)
                        - threshold
                },
            )
            .collect()
    }
}

/// Expected true reward (mean over prompts) and the share of differently-rewarded output pairs
/// that the policy orders like the reward. The policy's order is the logits' order (`pi` is
/// monotone in them; comparing the f64 log-policy instead could round two distinct logits to a
/// tie), which is also what the GPU's kernel compares. The ranking is `O(K^2)` per prompt, so it
/// is skipped (`None`) past [`RANKING_MAX_OUTPUTS`] outputs. `pi` is `exp(theta - normaliser)`
/// in f64 from each row's shared normaliser.
fn ground_truth_metrics(
    rows: &[RowStatistics],
    logits: &[f32],
    reward: &[f64],
    k: usize,
) -> (f64, Option<f64>) {
    let prompts = rows.len();
    let mut expected = 0.0;
    let (mut agree, mut comparable) = (0u64, 0u64);
    for ((statistics, logit_row), reward_row) in
        rows.iter().zip(logits.chunks(k)).zip(reward.chunks(k))
    {
        expected += logit_row
            .iter()
            .zip(reward_row)
            .map(|(&l, r)| (l as f64 - statistics.log_normalizer).exp() * r)
            .sum::<f64>();
        if k <= RANKING_MAX_OUTPUTS {
            // Each unordered pair once, `b < a`.
            for a in 0..k {
                for b in 0..a {
                    let reward_order = reward_row[a].partial_cmp(&reward_row[b]);
                    if reward_order == Some(std::cmp::Ordering::Equal) {
                        continue;
                    }
                    comparable += 1;
                    if logit_row[a].partial_cmp(&logit_row[b]) == reward_order {
                        agree += 1;
                    }
                }
            }
        }
    }
    let agreement = if k > RANKING_MAX_OUTPUTS {
        None
    } else if comparable == 0 {
        Some(1.0)
    } else {
        Some(agree as f64 / comparable as f64)
    };
    (expected / prompts as f64, agreement)
}

/// [`row_statistics`] of every row of `k` logits, in row order. Natively, a run of at least
/// `SPLIT_ROWS_FROM` (`run/mod.rs`) logits shares its rows among the cores (each row's sums are
/// the same on any thread, so the result is bit for bit the same whatever the thread count).
fn every_row_statistics(logits: &[f32], log_reference: &[f32], k: usize) -> Vec<RowStatistics> {
    let k = k.max(1);
    #[cfg(not(target_arch = "wasm32"))]
    if logits.len() >= super::SPLIT_ROWS_FROM && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        return logits
            .par_chunks(k)
            .zip(log_reference.par_chunks(k))
            .map(|(row, reference_row)| row_statistics(row, reference_row))
            .collect();
    }
    logits
        .chunks(k)
        .zip(log_reference.chunks(k))
        .map(|(row, reference_row)| row_statistics(row, reference_row))
        .collect()
}
