//! The argument's claims, checked on the runs at hand. For each claim that applies to some run of
//! the current scenario: what those runs measure now, and whether the claim holds there, holds
//! only in its limit, or does not hold (and why). The page shows them beside the charts; the
//! wording of each claim and its source are in `docs/claims.md`.

use super::config::{Init, RunConfig};
use super::loss::LossKind;
use super::metrics::{LearningTable, Metrics};
use super::runset::RunSet;
use serde::Serialize;

/// What the runs say of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every run it applies to measures what the claim says.
    Holds,
    /// The claim is the limit of what the runs measure (e.g. `gamma` far beyond `beta`): close,
    /// not exact.
    HoldsInTheLimit,
    /// Some run it applies to measures otherwise.
    DoesNotHold,
    /// Nothing to measure yet (no step taken).
    TooEarly,
}

/// One claim, checked.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimCheck {
    /// A stable name (`docs/claims.md` has a section per id).
    pub id: &'static str,
    /// The claim, briefly.
    pub claim: &'static str,
    /// Where it is made.
    pub source: &'static str,
    /// What the runs it applies to measure now, one clause per run.
    pub measured: String,
    /// Whether it holds here.
    pub verdict: Verdict,
    /// Why the verdict is what it is.
    pub why: String,
}

const ARGUMENT: &str = "Cho (2024), Continued musing on DPO";

/// Shares within this of 1 count as all of the signal (f64 sums of f32 slopes).
const ALL: f64 = 1.0 - 1e-9;
/// The large-`gamma` claim holds "in the limit" when at least this share goes where it says.
const MOSTLY: f64 = 0.9;
/// `gamma` counts as large from this many times `beta`.
const LARGE_GAMMA: f32 = 5.0;

/// Every claim that applies to some run of `set`, checked on `metrics` (the runs' current
/// metrics, in run order).
pub fn check_claims(set: &RunSet, metrics: &[Metrics]) -> Vec<ClaimCheck> {
    let runs: Vec<(&RunConfig, &Metrics)> = set
        .runs()
        .iter()
        .map(|run| run.config())
        .zip(metrics)
        .collect();
    [
        gamma_zero(&runs),
        large_gamma(&runs),
        reference_scale(&runs),
        right_pairs_stay_put(&runs),
        logistic_at_the_reference(&runs),
        implicit_regularisation(&runs),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The table summed over training where the backend accumulates it, else the table now.
fn table_of(metrics: &Metrics) -> (&LearningTable, &'static str) {
    match &metrics.accumulated_table {
        Some(table) => (table, "so far"),
        None => (&metrics.learning_table, "now"),
    }
}

fn total_signal(table: &LearningTable) -> f64 {
    table.cells().iter().map(|cell| cell.signal).sum()
}

fn percent(share: f64) -> String {
    format!("{:.0}%", 100.0 * share)
}

/// A claim about the share of the signal each applicable run puts somewhere.
fn share_claim(
    runs: &[(&RunConfig, &Metrics)],
    applies: impl Fn(&RunConfig) -> bool,
    share: impl Fn(&LearningTable) -> f64,
    place: &str,
) -> Option<(String, Vec<f64>, u64)> {
    let mut measured = Vec::new();
    let mut shares = Vec::new();
    let mut steps = 0;
    for (config, metrics) in runs.iter().filter(|(config, _)| applies(config)) {
        steps = steps.max(metrics.step);
        let (table, when) = table_of(metrics);
        if total_signal(table) == 0.0 {
            measured.push(format!("{}: no signal {when}", config.name));
            continue;
        }
        let value = share(table);
        shares.push(value);
        measured.push(format!(
            "{}: {} of its signal {when} {place}",
            config.name,
            percent(value)
        ));
    }
    (!measured.is_empty()).then(|| (measured.join("; "), shares, steps))
}

/// The verdict when no run the claim applies to has had any signal: too early before the first
/// step; after it, nothing was learned anywhere, which no share claim contradicts.
fn without_signal(steps: u64) -> (Verdict, String) {
    if steps == 0 {
        (Verdict::TooEarly, "no step taken yet".to_string())
    } else {
        (
            Verdict::Holds,
            "no pair has had any signal: nothing was learned anywhere, as the claim allows"
                .to_string(),
        )
    }
}

fn gamma_zero(runs: &[(&RunConfig, &Metrics)]) -> Option<ClaimCheck> {
    let (measured, shares, steps) = share_claim(
        runs,
        |c| c.loss == LossKind::Hinge && c.gamma == 0.0 && c.margin == 0.0,
        |t| t.reference_right_policy_wrong.share + t.reference_wrong_policy_wrong.share,
        "on pairs the policy ranked wrongly",
    )?;
    let (verdict, why) = if shares.is_empty() {
        without_signal(steps)
    } else if shares.iter().all(|&s| s >= ALL) {
        (
            Verdict::Holds,
            "with gamma = 0 and m = 0 the hinge's margin is beta * h_pi, so a pair has slope exactly while the policy ranks it wrongly".to_string(),
        )
    } else {
        (
            Verdict::DoesNotHold,
            "part of the signal went to pairs the policy ranked right".to_string(),
        )
    };
    Some(ClaimCheck {
        id: "gamma-zero",
        claim: "With gamma = 0, learning happens wherever the policy is wrong (and only there).",
        source: ARGUMENT,
        measured,
        verdict,
        why,
    })
}

fn large_gamma(runs: &[(&RunConfig, &Metrics)]) -> Option<ClaimCheck> {
    let (measured, shares, steps) = share_claim(
        runs,
        |c| c.loss == LossKind::Hinge && c.gamma >= LARGE_GAMMA * c.beta,
        |t| t.reference_right_policy_right.share + t.reference_right_policy_wrong.share,
        "on pairs the reference ranks right",
    )?;
    let (verdict, why) = if shares.is_empty() {
        without_signal(steps)
    } else if shares.iter().all(|&s| s >= ALL) {
        (
            Verdict::Holds,
            "the pairs the reference ranks wrongly never had slope: beta * h_pi stayed above gamma * h_0 + m for them".to_string(),
        )
    } else if shares.iter().all(|&s| s >= MOSTLY) {
        (
            Verdict::HoldsInTheLimit,
            "a pair learns while beta * h_pi < gamma * h_0 + m; with h_0 <= 0 that still happens while h_pi is below (gamma/beta) h_0 + m/beta, so 'only' is the limit gamma >> beta".to_string(),
        )
    } else {
        (
            Verdict::DoesNotHold,
            "reference-wrong pairs still learn while beta * h_pi < gamma * h_0 + m (a policy far enough behind them, or ties h_0 = 0 with a margin)".to_string(),
        )
    };
    Some(ClaimCheck {
        id: "large-gamma",
        claim: "With a large gamma, only the pairs the reference already ranks right are learned.",
        source: ARGUMENT,
        measured,
        verdict,
        why,
    })
}

/// Two runs alike but for `alpha` and `gamma`, with the same `gamma * alpha`.
fn same_but_scale(a: &RunConfig, b: &RunConfig) -> bool {
    let strip = |c: &RunConfig| RunConfig {
        name: String::new(),
        alpha: 1.0,
        gamma: 0.0,
        ..c.clone()
    };
    let product = |c: &RunConfig| c.gamma as f64 * c.alpha as f64;
    a.alpha != b.alpha
        && strip(a) == strip(b)
        && !matches!(a.init, Init::ReferenceAlpha)
        && (product(a) - product(b)).abs() <= 1e-6 * product(a).abs().max(1e-12)
}

fn reference_scale(runs: &[(&RunConfig, &Metrics)]) -> Option<ClaimCheck> {
    let mut measured = Vec::new();
    let mut worst = 0.0f64;
    let mut steps = 0;
    // Each pair of runs once: every run against the runs after it.
    let mut rest = runs;
    while let Some(((a, ma), later)) = rest.split_first() {
        rest = later;
        for (b, mb) in later {
            if same_but_scale(a, b) {
                let difference = (ma.loss - mb.loss).abs() / (1.0 + ma.loss.abs());
                worst = worst.max(difference);
                steps = steps.max(ma.step.min(mb.step));
                measured.push(format!(
                    "{} and {}: losses {:.4} and {:.4}",
                    a.name, b.name, ma.loss, mb.loss
                ));
            }
        }
    }
    if measured.is_empty() {
        return None;
    }
    let (verdict, why) = if steps == 0 {
        (Verdict::TooEarly, "no step taken yet".to_string())
    } else if worst <= 1e-5 {
        (
            Verdict::Holds,
            "h_0 scales with alpha, so gamma * alpha fixes the margin: the runs are the same run (to f32 rounding)".to_string(),
        )
    } else {
        (
            Verdict::DoesNotHold,
            format!("their losses differ by {worst:.1e} (relative)"),
        )
    };
    Some(ClaimCheck {
        id: "reference-scale",
        claim: "With its own weight gamma, the reference's scale stops mattering: sharpening pi0 by alpha is undone by gamma / alpha.",
        source: ARGUMENT,
        measured: measured.join("; "),
        verdict,
        why,
    })
}

fn right_pairs_stay_put(runs: &[(&RunConfig, &Metrics)]) -> Option<ClaimCheck> {
    let mut measured = Vec::new();
    let mut moved = 0;
    let mut steps = 0;
    for (config, metrics) in runs.iter().filter(|(c, _)| c.loss == LossKind::Hinge) {
        let Some(unlearned) = metrics.unlearned_pairs else {
            continue;
        };
        steps = steps.max(metrics.step);
        moved += unlearned;
        let noun = if unlearned == 1 { "pair" } else { "pairs" };
        measured.push(format!(
            "{}: {unlearned} {noun} ranked right at some step and wrongly now",
            config.name
        ));
    }
    if measured.is_empty() {
        return None;
    }
    let (verdict, why) = if steps == 0 {
        (Verdict::TooEarly, "no step taken yet".to_string())
    } else if moved == 0 {
        (
            Verdict::Holds,
            "so far no pair ranked right has been pushed wrong".to_string(),
        )
    } else {
        (
            Verdict::DoesNotHold,
            "a pair's own hinge gradient only raises its h_pi, yet it moves: in a softmax, the other pairs' gradients move the outputs it shares with them".to_string(),
        )
    };
    Some(ClaimCheck {
        id: "right-pairs-stay-put",
        claim: "If the policy already ranks a pair right, nothing happens to it (the hinge).",
        source: ARGUMENT,
        measured: measured.join("; "),
        verdict,
        why,
    })
}

fn logistic_at_the_reference(runs: &[(&RunConfig, &Metrics)]) -> Option<ClaimCheck> {
    let applies = |c: &RunConfig| {
        c.loss == LossKind::Logistic
            && c.gamma == c.beta
            && c.margin == 0.0
            && c.alpha == 1.0
            && !c.length_normalize
            && matches!(c.init, Init::Reference | Init::ReferenceAlpha)
    };
    let measured: Vec<String> = runs
        .iter()
        .filter(|(c, _)| applies(c))
        .map(|(c, m)| format!("{}: loss {:.3} at step {}", c.name, m.loss, m.step))
        .collect();
    if measured.is_empty() {
        return None;
    }
    Some(ClaimCheck {
        id: "logistic-at-the-reference",
        claim: "Started at the reference with gamma = beta, the logistic loss (DPO) is close to zero and learns slowly at first.",
        source: ARGUMENT,
        measured: measured.join("; "),
        verdict: Verdict::DoesNotHold,
        why: "at pi = pi0 every margin is 0: the loss is log 2 = 0.693 and every pair's slope is 1/2, the most it has while u >= 0; how fast it then moves is the optimiser's doing (with Adam as fast as gamma = 0)".to_string(),
    })
}

fn implicit_regularisation(runs: &[(&RunConfig, &Metrics)]) -> Option<ClaimCheck> {
    // Runs alike but for gamma (and name and seed), one of them with gamma = beta.
    let key = |c: &RunConfig| RunConfig {
        name: String::new(),
        gamma: 0.0,
        seed: 0,
        ..c.clone()
    };
    let mut measured = Vec::new();
    let mut held = Vec::new();
    let mut steps = 0;
    for (config, metrics) in runs.iter().filter(|(c, _)| {
        c.gamma == c.beta && matches!(c.regularizer, super::config::Regularizer::None)
    }) {
        let others: Vec<&(&RunConfig, &Metrics)> = runs
            .iter()
            .filter(|(other, _)| other.gamma != other.beta && key(other) == key(config))
            .collect();
        if others.is_empty() {
            continue;
        }
        steps = steps.max(metrics.step);
        let lowest = others.iter().all(|(_, m)| metrics.kl <= m.kl);
        held.push(lowest);
        let rest: Vec<String> = others
            .iter()
            .map(|(c, m)| format!("{} {:.3}", c.name, m.kl))
            .collect();
        measured.push(format!(
            "KL(pi || pi0) of {} {:.3}; {}",
            config.name,
            metrics.kl,
            rest.join(", ")
        ));
    }
    if measured.is_empty() {
        return None;
    }
    let (verdict, why) = if steps == 0 {
        (Verdict::TooEarly, "no step taken yet".to_string())
    } else if held.iter().all(|&h| h) {
        (
            Verdict::Holds,
            "here gamma = beta ends closest to the reference of the runs alike but for gamma"
                .to_string(),
        )
    } else {
        (
            Verdict::DoesNotHold,
            "a run with another gamma is closer to the reference: whether gamma = beta keeps the policy close depends on the data and the optimiser".to_string(),
        )
    };
    Some(ClaimCheck {
        id: "implicit-regularisation",
        claim: "The reference term of DPO (gamma = beta) keeps the policy close to the reference.",
        source: ARGUMENT,
        measured: measured.join("; "),
        verdict,
        why,
    })
}
