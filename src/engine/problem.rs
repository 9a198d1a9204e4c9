//! The data every run of a set shares: prompts, outputs, the reference distribution and the
//! preference pairs (SPEC sections 1 and 2).

use super::error::InputError;
use super::numerics::{log_sum_exp_f64, sigmoid};
use super::rng::{stream, SplitMix64};
use super::run::PairLogits;
use std::sync::Arc;

/// One element of the discrete output set.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// What the page and the plots call it.
    pub label: String,
    /// `L(y) >= 1`, the normaliser of length normalisation.
    pub length: f32,
}

/// A preference: on `prompt`, output `chosen` is preferred to output `rejected`, `weight` times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    /// Index of the prompt.
    pub prompt: usize,
    /// Index of the preferred output `y+`.
    pub chosen: usize,
    /// Index of the dispreferred output `y-`.
    pub rejected: usize,
    /// `w > 0`, a count.
    pub weight: f32,
}

/// How Bradley-Terry pair generation draws the two outputs it compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairSampling {
    /// Both outputs uniformly (distinct).
    Uniform,
    /// Both outputs from the reference distribution (distinct).
    Reference,
}

impl PairSampling {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            PairSampling::Uniform => "uniform",
            PairSampling::Reference => "reference",
        }
    }
}

/// Settings of Bradley-Terry pair generation from a ground-truth reward (SPEC section 2).
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Pairs drawn per prompt.
    pub count: usize,
    /// Temperature `tau` of `P(y > y') = sigmoid((r*(y) - r*(y')) / tau)`; 0 labels by the sign.
    pub tau: f64,
    /// Seed of the draws.
    pub seed: u64,
    /// How the compared outputs are drawn.
    pub sampling: PairSampling,
}

/// Prompts, outputs, reference and pairs, validated and ready to train on.
#[derive(Clone, Debug)]
pub struct Problem {
    prompts: Vec<String>,
    outputs: Vec<Output>,
    /// `log pi0(y|x)`, normalised per prompt, row-major `[prompt][output]`. Stored in f32, the
    /// precision of the logits, so that `theta = log pi0` makes every reference margin exact.
    log_reference: Vec<f32>,
    pairs: Vec<Pair>,
    /// The pairs as the runs read them (flat logit indices and weights): built once and shared
    /// by every run on this data, so that a sweep's thousand runs read one copy, warm in the
    /// cache, rather than a thousand.
    flat_pairs: Arc<[PairLogits]>,
    /// Ground-truth reward `r*(y|x)`, row-major, when the scenario gives one.
    true_reward: Option<Vec<f64>>,
}

/// Checks that `rows` is `prompts` rows of `outputs` finite numbers; `field` names it in errors.
fn check_table(
    field: &str,
    rows: &[Vec<f64>],
    prompts: usize,
    outputs: usize,
) -> Result<(), InputError> {
    if rows.len() != prompts {
        return Err(InputError::new(
            field,
            format!("has {} rows, but there are {prompts} prompts", rows.len()),
        ));
    }
    for (x, row) in rows.iter().enumerate() {
        if row.len() != outputs {
            return Err(InputError::new(
                format!("{field}[{x}]"),
                format!("has {} values, but there are {outputs} outputs", row.len()),
            ));
        }
        for (y, value) in row.iter().enumerate() {
            if !value.is_finite() {
                return Err(InputError::new(
                    format!("{field}[{x}][{y}]"),
                    "must be finite",
                ));
            }
        }
    }
    Ok(())
}

/// Checks the prompt and output sets on their own: at least one prompt and two outputs, unique
/// labels, lengths of at least 1. The scenario reader calls it before resolving pairs by label.
pub fn check_labels(prompts: &[String], outputs: &[Output]) -> Result<(), InputError> {
    if prompts.is_empty() {
        return Err(InputError::new("prompts", "needs at least one prompt"));
    }
    if outputs.len() < 2 {
        return Err(InputError::new("outputs", "needs at least two outputs"));
    }
    for (y, output) in outputs.iter().enumerate() {
        if !(output.length.is_finite() && output.length >= 1.0) {
            return Err(InputError::new(
                format!("outputs[{y}].length"),
                "must be a number >= 1",
            ));
        }
    }
    first_duplicate(
        outputs.iter().map(|output| output.label.as_str()),
        "outputs",
    )?;
    first_duplicate(prompts.iter().map(String::as_str), "prompts")
}

/// `Err` at `field[i]` for the first label that an earlier one already uses; one pass with a
/// hash map (label to first index), so that 100k labels are checked in milliseconds.
fn first_duplicate<'a>(
    labels: impl Iterator<Item = &'a str>,
    field: &str,
) -> Result<(), InputError> {
    let mut seen = std::collections::HashMap::new();
    for (i, label) in labels.enumerate() {
        if let Some(first) = seen.insert(label, i) {
            return Err(InputError::new(
                format!("{field}[{i}]"),
                format!("label {label:?} is already used by {field}[{first}]"),
            ));
        }
    }
    Ok(())
}

impl Problem {
    /// Validates and builds a problem. `reference` holds positive weights per prompt (normalised
    /// here); `true_reward`, when given, enables pair generation and the ground-truth metrics.
    /// Errors name the offending field with the paths of the scenario format.
    pub fn new(
        prompts: Vec<String>,
        outputs: Vec<Output>,
        reference: &[Vec<f64>],
        pairs: Vec<Pair>,
        true_reward: Option<Vec<Vec<f64>>>,
    ) -> Result<Problem, InputError> {
        check_labels(&prompts, &outputs)?;
        let (p, k) = (prompts.len(), outputs.len());
        if reference.len() != p {
            return Err(InputError::new(
                "reference",
                format!("has {} rows, but there are {p} prompts", reference.len()),
            ));
        }
        let mut log_reference = Vec::with_capacity(p * k);
        for (x, row) in reference.iter().enumerate() {
            if row.len() != k {
                return Err(InputError::new(
                    format!("reference[{x}]"),
                    format!("has {} weights, but there are {k} outputs", row.len()),
                ));
            }
            for (y, &weight) in row.iter().enumerate() {
                if !(weight.is_finite() && weight > 0.0) {
                    return Err(InputError::new(
                        format!("reference[{x}][{y}]"),
                        format!(
                            "must be positive and finite (prompt {:?}, output {:?})",
                            prompts[x], outputs[y].label
                        ),
                    ));
                }
            }
            // Normalise in f64 through logarithms, so tiny and huge weights both work.
            let log_total = log_sum_exp_f64(row.iter().map(|w| w.ln()));
            log_reference.extend(row.iter().map(|w| (w.ln() - log_total) as f32));
        }
        for (i, pair) in pairs.iter().enumerate() {
            if pair.prompt >= p {
                return Err(InputError::new(
                    format!("pairs[{i}].prompt"),
                    format!("no prompt {} (there are {p})", pair.prompt),
                ));
            }
            for (field, index) in [("chosen", pair.chosen), ("rejected", pair.rejected)] {
                if index >= k {
                    return Err(InputError::new(
                        format!("pairs[{i}].{field}"),
                        format!("no output {index} (there are {k})"),
                    ));
                }
            }
            if pair.chosen == pair.rejected {
                return Err(InputError::new(
                    format!("pairs[{i}]"),
                    format!(
                        "chosen and rejected are the same output ({:?})",
                        outputs[pair.chosen].label
                    ),
                ));
            }
            if !(pair.weight.is_finite() && pair.weight > 0.0) {
                return Err(InputError::new(
                    format!("pairs[{i}].weight"),
                    "must be positive and finite",
                ));
            }
        }
        let true_reward = match true_reward {
            Some(rows) => {
                check_table("reward", &rows, p, k)?;
                Some(rows.concat())
            }
            None => None,
        };
        let flat_pairs = flatten(&pairs, k);
        Ok(Problem {
            prompts,
            outputs,
            log_reference,
            pairs,
            flat_pairs,
            true_reward,
        })
    }

    /// Appends pairs drawn under Bradley-Terry from the ground-truth reward (SPEC section 2).
    pub fn generate_pairs(&mut self, generation: &Generation) -> Result<(), InputError> {
        self.generate_pairs_in(generation, stream::GENERATE)
    }

    /// As [`Problem::generate_pairs`], drawing from the random stream `stream` (one of
    /// [`stream`]): the held-out pairs of `validation: {"fresh"}` are drawn as the scenario's
    /// own, from another stream, so that no seed makes them the same draws.
    pub fn generate_pairs_in(
        &mut self,
        generation: &Generation,
        stream: u64,
    ) -> Result<(), InputError> {
        let Some(reward) = &self.true_reward else {
            return Err(InputError::new(
                "generate",
                "needs a ground-truth \"reward\" to draw pairs from",
            ));
        };
        if !(generation.tau.is_finite() && generation.tau >= 0.0) {
            return Err(InputError::new("generate.tau", "must be >= 0 and finite"));
        }
        let k = self.outputs.len();
        let mut generator = SplitMix64::new(generation.seed, stream);
        let mut drawn = Vec::with_capacity(self.prompts.len() * generation.count);
        for x in 0..self.prompts.len() {
            let reference: Vec<f64> = self
                .reference_row(x)
                .iter()
                .map(|&l| (l as f64).exp())
                .collect();
            let draw = |generator: &mut SplitMix64| match generation.sampling {
                PairSampling::Uniform => generator.below(k),
                PairSampling::Reference => sample_categorical(&reference, generator.next_f64()),
            };
            for _ in 0..generation.count {
                let first = draw(&mut generator);
                // Redraw until distinct; the reference is positive everywhere, so this ends, but a
                // very peaked reference could take long, hence the uniform fallback after 64 tries.
                let mut second = draw(&mut generator);
                let mut tries = 0;
                while second == first {
                    tries += 1;
                    second = if tries < 64 {
                        draw(&mut generator)
                    } else {
                        (first + 1 + generator.below(k - 1)) % k
                    };
                }
                let difference = reward[x * k + first] - reward[x * k + second];
                let first_wins = if generation.tau == 0.0 {
                    // By the sign; a tie by a fair coin, drawn only for a tie: the top bit of
                    // the next draw (`next_f64() < 0.5` exactly, without its boundary).
                    difference > 0.0 || (difference == 0.0 && generator.next_u64() >> 63 == 0)
                } else {
                    bernoulli(&mut generator, sigmoid(difference / generation.tau))
                };
                let (chosen, rejected) = if first_wins {
                    (first, second)
                } else {
                    (second, first)
                };
                drawn.push(Pair {
                    prompt: x,
                    chosen,
                    rejected,
                    weight: 1.0,
                });
            }
        }
        self.pairs.extend(drawn);
        self.flat_pairs = flatten(&self.pairs, k);
        Ok(())
    }

    /// Prompt labels.
    pub fn prompts(&self) -> &[String] {
        &self.prompts
    }

    /// The output set.
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// The preference pairs, explicit ones first, then generated ones.
    pub fn pairs(&self) -> &[Pair] {
        &self.pairs
    }

    /// The pairs as flat logit indices `x K + y` and weights, in the order of [`Problem::pairs`],
    /// shared by every run on this data.
    pub(crate) fn flat_pairs(&self) -> &Arc<[PairLogits]> {
        &self.flat_pairs
    }

    /// Number of prompts `P`.
    pub fn prompt_count(&self) -> usize {
        self.prompts.len()
    }

    /// Number of outputs `K`.
    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// `log pi0(.|x)`, normalised.
    pub fn reference_row(&self, x: usize) -> &[f32] {
        let k = self.outputs.len();
        &self.log_reference[x * k..(x + 1) * k]
    }

    /// `log pi0`, row-major `[prompt][output]`.
    pub fn log_reference(&self) -> &[f32] {
        &self.log_reference
    }

    /// The ground-truth reward, row-major, if any.
    pub fn true_reward(&self) -> Option<&[f64]> {
        self.true_reward.as_deref()
    }
}

/// `true` with probability `p`: one uniform draw in `[0, 1)` below `p`. (`<=` would differ only
/// when the draw is `p` exactly, a chance of 2^-53: `.cargo/mutants.toml` excludes that mutant
/// as equivalent.)
#[inline]
fn bernoulli(generator: &mut SplitMix64, p: f64) -> bool {
    generator.next_f64() < p
}

/// The index `i` with `sum_{j<i} p_j <= u < sum_{j<=i} p_j`; the last one takes whatever the
/// others leave, so that rounding cannot leave `u` past the end. (`u <= sum` would differ only
/// when `u` is a partial sum exactly, a chance of 2^-53 per boundary: `.cargo/mutants.toml`
/// excludes that mutant as equivalent.)
fn sample_categorical(probabilities: &[f64], u: f64) -> usize {
    let all_but_last = &probabilities[..probabilities.len().saturating_sub(1)];
    let mut cumulative = 0.0;
    for (i, p) in all_but_last.iter().enumerate() {
        cumulative += p;
        if u < cumulative {
            return i;
        }
    }
    all_but_last.len()
}

/// `pairs` as flat logit indices into `[prompt][output]` logits of `k` outputs per prompt.
fn flatten(pairs: &[Pair], k: usize) -> Arc<[PairLogits]> {
    pairs
        .iter()
        .map(|pair| PairLogits {
            chosen: (pair.prompt * k + pair.chosen) as u32,
            rejected: (pair.prompt * k + pair.rejected) as u32,
            weight: pair.weight,
        })
        .collect()
}
