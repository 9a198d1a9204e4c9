//! Every reported metric (`Run::metrics`, SPEC section 7, docs/math.md section 9) checked two
//! independent ways:
//!
//! 1. small hand-worked cases, with the values written here and a comment saying how they were
//!    computed (by hand from the formulas, the decimals with a float64 calculator);
//! 2. a straightforward float64 recomputation, inside this file, from the run's logits
//!    (`Run::logits`) and the problem's data: softmax, log-sum-exp, softplus, the hinge, IPO, the
//!    learning table, the ground-truth metrics and the accumulated table, written from the SPEC's
//!    definitions without calling the engine's helpers (no `numerics`, no `loss`).
//!
//! Tolerance: `|engine - expected| <= 1e-5 * max(1, |expected|)` (the project's parity
//! tolerance). The engine keeps the logits, `log pi0`, `h_0` and the margins in f32 and sums the
//! metrics in f64, with an f32 `exp` inside the row reductions (within a few 1e-6); the test's
//! values are f64 throughout from the same f32 logits and f32 `log pi0`. Counts (`pairs`, the
//! accuracies' cells) are compared exactly; states with a near-tie (|h| with the normaliser,
//! that is length normalisation and different lengths, or, under the hinge,
//! |u| below 1e-4 but not exactly 0), where f32 and f64 could sort a pair differently, are not
//! compared: a trajectory is checked up to its first one, at least 10 steps.

use dpo_playground::engine::{
    Init, LearningCell, LearningTable, LossKind, Metrics, Optimizer, Output, Pair, Problem,
    Regularizer, Run, RunConfig,
};

const TOLERANCE: f64 = 1e-5;

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOLERANCE * want.abs().max(1.0),
        "{what}: engine {got}, expected {want} (difference {:e})",
        got - want
    );
}

// ---------------------------------------------------------------------------------------------
// The independent float64 model.

/// `log sum exp` of a row, max-shifted.
fn log_sum_exp(row: &[f64]) -> f64 {
    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    max + row.iter().map(|&v| (v - max).exp()).sum::<f64>().ln()
}

/// `log(1 + exp(-u))`, stable on both sides.
fn softplus_minus(u: f64) -> f64 {
    if u > 0.0 {
        (-u).exp().ln_1p()
    } else {
        -u + u.exp().ln_1p()
    }
}

/// `phi(u)` from SPEC section 4 (IPO written in its `h` form, not through `u`).
fn phi(loss: LossKind, h: f64, h0: f64, u: f64, c: &RunConfig) -> f64 {
    let (beta, gamma, m) = (c.beta as f64, c.gamma as f64, c.margin as f64);
    match loss {
        LossKind::Logistic => softplus_minus(u),
        LossKind::Hinge => (-u).max(0.0),
        // docs/math.md section 3: (h_pi - (gamma/beta) h_0 - m/beta - 1/(2 beta))^2.
        LossKind::Ipo => (h - gamma / beta * h0 - m / beta - 0.5 / beta).powi(2),
    }
}

/// `phi'(u)`.
fn phi_prime(loss: LossKind, u: f64, beta: f64) -> f64 {
    match loss {
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

/// The per-pair quantities at some logits.
struct PairTerms {
    h: f64,
    h0: f64,
    u: f64,
}

/// `log pi` per logit (row-major) from f32 logits, in f64.
fn log_policy(logits: &[f32], k: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(k) {
        let row: Vec<f64> = row.iter().map(|&l| l as f64).collect();
        let z = log_sum_exp(&row);
        out.extend(row.iter().map(|l| l - z));
    }
    out
}

fn pair_terms(problem: &Problem, config: &RunConfig, logits: &[f32]) -> Vec<PairTerms> {
    let k = problem.output_count();
    let log_pi = log_policy(logits, k);
    let log_pi0 = problem.log_reference();
    let n = |y: usize| {
        if config.length_normalize {
            problem.outputs()[y].length as f64
        } else {
            1.0
        }
    };
    problem
        .pairs()
        .iter()
        .map(|pair| {
            let (c, r) = (
                pair.prompt * k + pair.chosen,
                pair.prompt * k + pair.rejected,
            );
            let h = if n(pair.chosen) == n(pair.rejected) {
                // The normaliser cancels (SPEC section 3): a difference of the logits.
                (logits[c] as f64 - logits[r] as f64) / n(pair.chosen)
            } else {
                log_pi[c] / n(pair.chosen) - log_pi[r] / n(pair.rejected)
            };
            let h0 = config.alpha as f64 * (log_pi0[c] as f64 - log_pi0[r] as f64);
            let u = config.beta as f64 * h - config.gamma as f64 * h0 - config.margin as f64;
            PairTerms { h, h0, u }
        })
        .collect()
}

/// The index of a cell in the order of `LearningTable::cells`.
fn cell_of(reference_right: bool, policy_right: bool) -> usize {
    match (reference_right, policy_right) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}

#[derive(Debug, Default, Clone)]
struct Expected {
    loss: f64,
    accuracy: f64,
    reference_accuracy: f64,
    kl: f64,
    entropy: f64,
    chosen_reward: f64,
    rejected_reward: f64,
    reward_margin: f64,
    /// (pairs, weight, signal) per cell; shares computed at comparison.
    cells: [(usize, f64, f64); 4],
    true_reward: Option<f64>,
    ranking_agreement: Option<f64>,
}

fn expected_metrics(problem: &Problem, config: &RunConfig, logits: &[f32]) -> Expected {
    let k = problem.output_count();
    let p = problem.prompt_count();
    let beta = config.beta as f64;
    let log_pi = log_policy(logits, k);
    let log_pi0 = problem.log_reference();
    let terms = pair_terms(problem, config, logits);
    let mut e = Expected::default();
    let mut total = 0.0;
    for (pair, t) in problem.pairs().iter().zip(&terms) {
        let w = pair.weight as f64;
        let (c, r) = (
            pair.prompt * k + pair.chosen,
            pair.prompt * k + pair.rejected,
        );
        total += w;
        e.loss += w * phi(config.loss, t.h, t.h0, t.u, config);
        if t.h > 0.0 {
            e.accuracy += w;
        }
        if t.h0 > 0.0 {
            e.reference_accuracy += w;
        }
        e.chosen_reward += w * beta * (log_pi[c] - log_pi0[c] as f64);
        e.rejected_reward += w * beta * (log_pi[r] - log_pi0[r] as f64);
        let cell = &mut e.cells[cell_of(t.h0 > 0.0, t.h > 0.0)];
        cell.0 += 1;
        cell.1 += w;
        cell.2 += w * phi_prime(config.loss, t.u, beta).abs();
    }
    e.loss /= total;
    e.accuracy /= total;
    e.reference_accuracy /= total;
    e.chosen_reward /= total;
    e.rejected_reward /= total;
    e.reward_margin = e.chosen_reward - e.rejected_reward;
    for x in 0..p {
        for y in 0..k {
            let i = x * k + y;
            let pi = log_pi[i].exp();
            e.kl += pi * (log_pi[i] - log_pi0[i] as f64);
            e.entropy -= pi * log_pi[i];
        }
    }
    e.kl /= p as f64;
    e.entropy /= p as f64;
    if let Some(reward) = problem.true_reward() {
        let mut expected = 0.0;
        let (mut agree, mut comparable) = (0usize, 0usize);
        for x in 0..p {
            for y in 0..k {
                expected += log_pi[x * k + y].exp() * reward[x * k + y];
            }
            for a in 0..k {
                for b in a + 1..k {
                    let (ra, rb) = (reward[x * k + a], reward[x * k + b]);
                    if ra == rb {
                        continue;
                    }
                    comparable += 1;
                    let (la, lb) = (logits[x * k + a], logits[x * k + b]);
                    if (ra > rb && la > lb) || (ra < rb && la < lb) {
                        agree += 1;
                    }
                }
            }
        }
        e.true_reward = Some(expected / p as f64);
        e.ranking_agreement = Some(if comparable == 0 {
            1.0
        } else {
            agree as f64 / comparable as f64
        });
    }
    e
}

/// Where the data sits within 1e-4 of a tie without being one (f32 and f64 could then put the
/// pair in different cells, or on different sides of the hinge), the reason; else `None`.
fn near_tie(problem: &Problem, config: &RunConfig, logits: &[f32]) -> Option<String> {
    let lengths = problem.outputs();
    for (i, (t, pair)) in pair_terms(problem, config, logits)
        .iter()
        .zip(problem.pairs())
        .enumerate()
    {
        // Without the normaliser (no length normalisation, or equal lengths) h_pi's sign is that
        // of an exact difference of f32 logits in both the engine and here: no tie risk.
        let normalised =
            config.length_normalize && lengths[pair.chosen].length != lengths[pair.rejected].length;
        if normalised && t.h != 0.0 && t.h.abs() < 1e-4 {
            return Some(format!("pair {i} has h_pi = {:e}", t.h));
        }
        if config.loss == LossKind::Hinge && t.u != 0.0 && t.u.abs() < 1e-4 {
            return Some(format!("pair {i} has u = {:e} under the hinge", t.u));
        }
    }
    None
}

/// Training stops being checkable at a near-tie (a hinge run can settle on its boundary); the
/// trajectories below are checked up to the first one, and must reach `MIN_CHECKED_STEPS`.
const MIN_CHECKED_STEPS: u64 = 10;

fn check_table(what: &str, got: &LearningTable, cells: &[(usize, f64, f64); 4]) {
    let total: f64 = cells.iter().map(|c| c.2).sum();
    for (c, (cell, &(pairs, weight, signal))) in got.cells().iter().zip(cells).enumerate() {
        assert_eq!(cell.pairs, pairs, "{what}: cell {c} pairs");
        close(&format!("{what}: cell {c} weight"), cell.weight, weight);
        close(&format!("{what}: cell {c} signal"), cell.signal, signal);
        let share = if total > 0.0 { signal / total } else { 0.0 };
        close(&format!("{what}: cell {c} share"), cell.share, share);
    }
}

fn check_metrics(what: &str, m: &Metrics, e: &Expected) {
    close(&format!("{what}: loss"), m.loss, e.loss);
    close(&format!("{what}: accuracy"), m.accuracy, e.accuracy);
    close(
        &format!("{what}: reference_accuracy"),
        m.reference_accuracy,
        e.reference_accuracy,
    );
    close(&format!("{what}: kl"), m.kl, e.kl);
    close(&format!("{what}: entropy"), m.entropy, e.entropy);
    close(
        &format!("{what}: chosen_reward"),
        m.chosen_reward,
        e.chosen_reward,
    );
    close(
        &format!("{what}: rejected_reward"),
        m.rejected_reward,
        e.rejected_reward,
    );
    close(
        &format!("{what}: reward_margin"),
        m.reward_margin,
        e.reward_margin,
    );
    check_table(
        &format!("{what}: learning table"),
        &m.learning_table,
        &e.cells,
    );
    // `scalars()`: the CSV's columns, learning_signal the four cells' total.
    let s = m.scalars();
    let total_signal: f64 = e.cells.iter().map(|c| c.2).sum();
    let want = [
        Some(e.loss),
        Some(e.accuracy),
        Some(e.reference_accuracy),
        Some(e.kl),
        Some(e.entropy),
        Some(e.chosen_reward),
        Some(e.rejected_reward),
        Some(e.reward_margin),
        Some(total_signal),
        e.true_reward,
        e.ranking_agreement,
    ];
    for (i, (got, want)) in s.iter().zip(want).enumerate() {
        match (got, want) {
            (Some(g), Some(w)) => close(&format!("{what}: scalars()[{i}]"), *g, w),
            (None, None) => {}
            _ => panic!("{what}: scalars()[{i}] is {got:?}, expected {want:?}"),
        }
    }
    match (m.true_reward, e.true_reward) {
        (Some(g), Some(w)) => close(&format!("{what}: true_reward"), g, w),
        (None, None) => {}
        (g, w) => panic!("{what}: true_reward {g:?}, expected {w:?}"),
    }
    match (m.ranking_agreement, e.ranking_agreement) {
        (Some(g), Some(w)) => close(&format!("{what}: ranking_agreement"), g, w),
        (None, None) => {}
        (g, w) => panic!("{what}: ranking_agreement {g:?}, expected {w:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-worked cases.

fn labelled(labels: &[&str]) -> Vec<Output> {
    labels
        .iter()
        .map(|l| Output {
            label: l.to_string(),
            length: 1.0,
        })
        .collect()
}

/// One prompt, outputs A, B, C; reference weights (2, 1, 1), so pi0 = (1/2, 1/4, 1/4); pairs
/// A > B (weight 1) and C > A (weight 3); ground truth r* = (1, 0, -1).
fn hand_problem() -> Problem {
    Problem::new(
        vec!["x".into()],
        labelled(&["A", "B", "C"]),
        &[vec![2.0, 1.0, 1.0]],
        vec![
            Pair {
                prompt: 0,
                chosen: 0,
                rejected: 1,
                weight: 1.0,
            },
            Pair {
                prompt: 0,
                chosen: 2,
                rejected: 0,
                weight: 3.0,
            },
        ],
        Some(vec![vec![1.0, 0.0, -1.0]]),
    )
    .unwrap()
}

fn cell(pairs: usize, weight: f64, signal: f64, share: f64) -> LearningCell {
    LearningCell {
        pairs,
        weight,
        signal,
        share,
    }
}

fn check_cells(what: &str, got: &LearningTable, want: [LearningCell; 4]) {
    for (c, (g, w)) in got.cells().iter().zip(want).enumerate() {
        assert_eq!(g.pairs, w.pairs, "{what}: cell {c} pairs");
        close(&format!("{what}: cell {c} weight"), g.weight, w.weight);
        close(&format!("{what}: cell {c} signal"), g.signal, w.signal);
        close(&format!("{what}: cell {c} share"), g.share, w.share);
    }
}

#[test]
fn hand_worked_dpo_at_the_uniform_policy() {
    // theta = 0: pi = (1/3, 1/3, 1/3), h_pi = 0 for both pairs (ties: policy wrong).
    // h_0(A>B) = log(1/2) - log(1/4) = ln 2; h_0(C>A) = -ln 2. DPO (beta = gamma = 1, m = 0):
    // u1 = -ln 2, u2 = ln 2. phi(u1) = ln(1 + 2) = ln 3 = 1.0986123, phi(u2) = ln(3/2) = 0.4054651.
    // loss = (ln 3 + 3 ln 1.5) / 4 = 0.578751903248151. accuracy 0; reference_accuracy 1/4.
    // KL = (1/3)(ln(2/3) + 2 ln(4/3)) = 0.0566330122651323; entropy ln 3.
    // chosen reward = (ln(2/3) + 3 ln(4/3)) / 4 = 0.114395277311794;
    // rejected reward = (ln(4/3) + 3 ln(2/3)) / 4 = -0.232178312968178; margin ln(2)/2.
    // Table: A>B is (ref right, policy wrong), signal sigmoid(ln 2) = 2/3; C>A is (ref wrong,
    // policy wrong), weight 3, signal 3 sigmoid(-ln 2) = 1; shares 0.4 and 0.6.
    // true reward (1 + 0 - 1)/3 = 0; ranking agreement: all logits tie, 0 of 3 pairs agree.
    let problem = hand_problem();
    let config = RunConfig {
        init: Init::Uniform,
        ..RunConfig::default()
    };
    let run = Run::new(config, &problem).unwrap();
    let m = run.metrics(&problem);
    assert_eq!(m.step, 0);
    assert!(!m.diverged);
    assert_eq!(m.diverged_at, None);
    close("loss", m.loss, 0.578751903248151);
    close("accuracy", m.accuracy, 0.0);
    close("reference_accuracy", m.reference_accuracy, 0.25);
    close("kl", m.kl, 0.0566330122651323);
    close("entropy", m.entropy, 3f64.ln());
    close("chosen_reward", m.chosen_reward, 0.114395277311794);
    close("rejected_reward", m.rejected_reward, -0.232178312968178);
    close("reward_margin", m.reward_margin, 2f64.ln() / 2.0);
    check_cells(
        "table",
        &m.learning_table,
        [
            cell(0, 0.0, 0.0, 0.0),
            cell(1, 1.0, 2.0 / 3.0, 0.4),
            cell(0, 0.0, 0.0, 0.0),
            cell(1, 3.0, 1.0, 0.6),
        ],
    );
    close("true_reward", m.true_reward.unwrap(), 0.0);
    assert_eq!(m.ranking_agreement, Some(0.0));
    // Nothing trained yet: the accumulated table is all zero, nobody un-learned.
    check_cells(
        "accumulated",
        &m.accumulated_table.unwrap(),
        [cell(0, 0.0, 0.0, 0.0); 4],
    );
    assert_eq!(m.unlearned_pairs, Some(0));
}

/// theta = (ln 4, 0, ln 2): pi = (4, 1, 2)/7.
fn hand_state() -> (Problem, Vec<f32>) {
    (
        hand_problem(),
        vec![4f64.ln() as f32, 0.0, 2f64.ln() as f32],
    )
}

#[test]
fn hand_worked_each_loss_at_a_trained_state() {
    // At pi = (4, 1, 2)/7: h_pi(A>B) = ln 4 = 1.3862944 (right), h_pi(C>A) = -ln 2 (wrong).
    // KL = sum pi ln(pi/pi0) = 0.0345103668302447, entropy 0.955699891112534 (any loss).
    // true reward = (4 - 2)/7 = 0.285714285714286; ranking: A>B and A>C agree with r*, B<C
    // does not: 2/3.
    let (problem, logits) = hand_state();
    struct Case {
        config: RunConfig,
        loss: f64,
        chosen: f64,
        rejected: f64,
        table: [LearningCell; 4],
    }
    let cases = [
        // DPO: u1 = ln 4 - ln 2 = ln 2, u2 = -ln 2 + ln 2 = 0 (up to f32 rounding).
        // loss = (ln 1.5 + 3 ln 2)/4 = 0.621226662447; signals 1/3 and 3/2.
        // chosen = (ln(8/7) + 3 ln(8/7))/4 = 0.133531392624523 (A: ln(4/7) - ln(1/2); C: ln(2/7) -
        // ln(1/4)); rejected = (ln(4/7) + 3 ln(8/7))/4 = -0.0397554025154637.
        Case {
            config: RunConfig::default(),
            loss: 0.621226662447,
            chosen: 0.133531392624523,
            rejected: -0.0397554025154637,
            table: [
                cell(1, 1.0, 1.0 / 3.0, 0.181818181818182),
                cell(0, 0.0, 0.0, 0.0),
                cell(0, 0.0, 0.0, 0.0),
                cell(1, 3.0, 1.5, 0.818181818181818),
            ],
        },
        // Hinge, beta = 0.5, gamma = 2, m = 0.25: u1 = 0.5 ln 4 - 2 ln 2 - 0.25 = -0.9431472
        // (learns, signal 1), u2 = -0.5 ln 2 + 2 ln 2 - 0.25 = 0.7897208 (silent).
        // loss = 0.9431472 / 4 = 0.235786795139986; rewards scale with beta = 0.5:
        // chosen 0.0667656963122613, rejected -0.0198777012577318.
        Case {
            config: RunConfig {
                loss: LossKind::Hinge,
                beta: 0.5,
                gamma: 2.0,
                margin: 0.25,
                ..RunConfig::default()
            },
            loss: 0.235786795139986,
            chosen: 0.0667656963122613,
            rejected: -0.0198777012577318,
            table: [
                cell(1, 1.0, 1.0, 1.0),
                cell(0, 0.0, 0.0, 0.0),
                cell(0, 0.0, 0.0, 0.0),
                cell(1, 3.0, 0.0, 0.0),
            ],
        },
        // IPO, beta = 0.5, gamma = 1, m = 0.25: u1 = 0.5 ln 4 - ln 2 - 0.25 = -0.25,
        // phi = (h - 2 h_0 - 0.5 - 1)^2 = ((u - 0.5)/0.5)^2 = 2.25, phi' = 2 (u - 0.5)/0.25 = -6;
        // u2 = -0.5 ln 2 + ln 2 - 0.25 = 0.0965736, phi = 0.6510114722383658,
        // phi' = -3.2274112777602193. loss = (2.25 + 3 * 0.65101147)/4 = 1.05075860417877.
        Case {
            config: RunConfig {
                loss: LossKind::Ipo,
                beta: 0.5,
                gamma: 1.0,
                margin: 0.25,
                ..RunConfig::default()
            },
            loss: 1.05075860417877,
            chosen: 0.0667656963122613,
            rejected: -0.0198777012577318,
            table: [
                cell(1, 1.0, 6.0, 0.382598554758626),
                cell(0, 0.0, 0.0, 0.0),
                cell(0, 0.0, 0.0, 0.0),
                cell(1, 3.0, 9.682233833280659, 0.617401445241375),
            ],
        },
        // Logistic, beta = 2, gamma = 0.5, m = -0.5, alpha = 3: h_0 = 3 ln 2 and -3 ln 2;
        // u1 = 2 ln 4 - 1.5 ln 2 + 0.5 = 2.2328680, u2 = -2 ln 2 + 1.5 ln 2 + 0.5 = 0.1534264.
        // loss = (softplus(-u1) + 3 softplus(-u2))/4 = 0.489993366049995; signals
        // sigmoid(-u1) = 0.0968375197 and 3 sigmoid(-u2) = 1.3851553880. Rewards with beta = 2
        // (alpha does not enter them): 0.267062785249045 and -0.0795108050309274.
        Case {
            config: RunConfig {
                beta: 2.0,
                gamma: 0.5,
                margin: -0.5,
                alpha: 3.0,
                ..RunConfig::default()
            },
            loss: 0.489993366049995,
            chosen: 0.267062785249045,
            rejected: -0.0795108050309274,
            table: [
                cell(1, 1.0, 0.09683751972854848, 0.0653427686621506),
                cell(0, 0.0, 0.0, 0.0),
                cell(0, 0.0, 0.0, 0.0),
                cell(1, 3.0, 1.3851553879983776, 0.934657231337849),
            ],
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let what = format!("case {i} ({:?})", case.config.loss);
        let mut run = Run::new(case.config, &problem).unwrap();
        run.set_logits(&logits);
        let m = run.metrics(&problem);
        close(&format!("{what}: loss"), m.loss, case.loss);
        close(&format!("{what}: accuracy"), m.accuracy, 0.25);
        close(
            &format!("{what}: reference_accuracy"),
            m.reference_accuracy,
            0.25,
        );
        close(&format!("{what}: kl"), m.kl, 0.0345103668302447);
        close(&format!("{what}: entropy"), m.entropy, 0.955699891112534);
        close(&format!("{what}: chosen"), m.chosen_reward, case.chosen);
        close(
            &format!("{what}: rejected"),
            m.rejected_reward,
            case.rejected,
        );
        close(
            &format!("{what}: margin"),
            m.reward_margin,
            case.chosen - case.rejected,
        );
        check_cells(&what, &m.learning_table, case.table);
        close(&format!("{what}: true"), m.true_reward.unwrap(), 2.0 / 7.0);
        close(
            &format!("{what}: ranking"),
            m.ranking_agreement.unwrap(),
            2.0 / 3.0,
        );
    }
}

#[test]
fn hand_worked_hinge_at_the_reference_has_no_signal_anywhere() {
    // theta = log pi0, gamma = beta, alpha = 1, m = 0: u = 0 exactly for every pair (SPEC
    // section 3), so the hinge's loss and every signal are 0 and the shares are 0 (nothing
    // learns). h_pi = h_0: A>B right in both, C>A wrong in both. pi = pi0: KL 0, entropy
    // H(1/2, 1/4, 1/4) = 1.5 ln 2 = 1.0397208; rewards 0.
    let problem = hand_problem();
    let config = RunConfig {
        loss: LossKind::Hinge,
        ..RunConfig::default()
    };
    let mut run = Run::new(config, &problem).unwrap();
    for step in 0..3 {
        let m = run.metrics(&problem);
        assert_eq!(m.step, step);
        assert_eq!(m.loss, 0.0);
        close("accuracy", m.accuracy, 0.25);
        close("reference_accuracy", m.reference_accuracy, 0.25);
        close("kl", m.kl, 0.0);
        close("entropy", m.entropy, 1.5 * 2f64.ln());
        close("chosen", m.chosen_reward, 0.0);
        close("rejected", m.rejected_reward, 0.0);
        check_cells(
            "table",
            &m.learning_table,
            [
                cell(1, 1.0, 0.0, 0.0),
                cell(0, 0.0, 0.0, 0.0),
                cell(0, 0.0, 0.0, 0.0),
                cell(1, 3.0, 0.0, 0.0),
            ],
        );
        // pi0 orders A > B = C against r* = (1, 0, -1): A>B, A>C agree, B = C ties: 2/3.
        close("ranking", m.ranking_agreement.unwrap(), 2.0 / 3.0);
        run.step(&problem);
    }
}

#[test]
fn hand_worked_length_normalisation() {
    // Outputs A (length 1), B (length 2), C (length 2); reference (1, 1, 1); one pair B > A,
    // and one pair B > C (equal lengths: the normaliser cancels, h = (theta_B - theta_C)/2).
    // theta = (0, ln 3, ln 2): Z = ln 6, log pi = (-ln 6, -ln 2, -ln 3).
    // With length normalisation: h(B>A) = -ln 2 / 2 + ln 6 = 1.4451858789480825;
    // h(B>C) = (ln 3 - ln 2)/2 = 0.2027325540540822. h_0 = 0 for both (uniform reference).
    // Logistic with gamma = 0, m = 1, beta = 1 (SimPO-like): u = h - 1:
    // u1 = 0.4451858789480825, u2 = -0.7972674459459178.
    // loss = (softplus(-u1) + softplus(-u2))/2 = (0.4951261 + 1.1692161)/2 = 0.8321711021154947.
    // accuracy 1 (both h > 0); reference accuracy 0 (ties). Cells: both (ref wrong, policy right):
    // signal sigmoid(-u1) + sigmoid(-u2) = 1.0798956323185578.
    // Rewards ignore lengths: chosen = mean(log pi(B) - log(1/3)) = -ln 2 + ln 3 = 0.4054651;
    // rejected = (-ln 6 + ln 3 - ln 3 + ln 3)/2 = (-ln 2 + 0)/2 = -0.3465736.
    let outputs = vec![
        Output {
            label: "A".into(),
            length: 1.0,
        },
        Output {
            label: "B".into(),
            length: 2.0,
        },
        Output {
            label: "C".into(),
            length: 2.0,
        },
    ];
    let problem = Problem::new(
        vec!["x".into()],
        outputs,
        &[vec![1.0, 1.0, 1.0]],
        vec![
            Pair {
                prompt: 0,
                chosen: 1,
                rejected: 0,
                weight: 1.0,
            },
            Pair {
                prompt: 0,
                chosen: 1,
                rejected: 2,
                weight: 1.0,
            },
        ],
        None,
    )
    .unwrap();
    let config = RunConfig {
        gamma: 0.0,
        margin: 1.0,
        length_normalize: true,
        ..RunConfig::default()
    };
    let mut run = Run::new(config.clone(), &problem).unwrap();
    run.set_logits(&[0.0, 3f64.ln() as f32, 2f64.ln() as f32]);
    let m = run.metrics(&problem);
    let (u1, u2) = (0.4451858789480825f64, -0.7972674459459178f64);
    let sp = |u: f64| (1.0 + (-u).exp()).ln();
    let sg = |u: f64| 1.0 / (1.0 + (-u).exp());
    close("u1 from the hand value", sp(u1), 0.4951261319566024);
    close("loss", m.loss, 0.8321711021154947);
    close("loss (formula)", m.loss, (sp(u1) + sp(u2)) / 2.0);
    close("accuracy", m.accuracy, 1.0);
    close("reference_accuracy", m.reference_accuracy, 0.0);
    close("chosen", m.chosen_reward, 0.4054651081081644);
    close("rejected", m.rejected_reward, -0.34657359027997264);
    let signal = sg(-u1) + sg(-u2);
    close("signal", signal, 1.0798956323185578);
    check_cells(
        "table",
        &m.learning_table,
        [
            cell(0, 0.0, 0.0, 0.0),
            cell(0, 0.0, 0.0, 0.0),
            cell(2, 2.0, signal, 1.0),
            cell(0, 0.0, 0.0, 0.0),
        ],
    );
    assert_eq!(m.true_reward, None);
    assert_eq!(m.ranking_agreement, None);
    // The same state without length normalisation: h(B>A) = ln 3, u = ln 3 - 1.
    let mut plain = Run::new(
        RunConfig {
            length_normalize: false,
            ..config
        },
        &problem,
    )
    .unwrap();
    plain.set_logits(&[0.0, 3f64.ln() as f32, 2f64.ln() as f32]);
    let m = plain.metrics(&problem);
    close(
        "loss without normalisation",
        m.loss,
        (sp(3f64.ln() - 1.0) + sp((1.5f64).ln() - 1.0)) / 2.0,
    );
}

#[test]
fn ranking_agreement_edge_cases() {
    // No comparable pair (all rewards equal): 1 by definition.
    let problem = Problem::new(
        vec!["x".into(), "y".into()],
        labelled(&["A", "B", "C"]),
        &[vec![1.0, 2.0, 3.0], vec![1.0, 1.0, 1.0]],
        vec![Pair {
            prompt: 1,
            chosen: 0,
            rejected: 2,
            weight: 1.0,
        }],
        Some(vec![vec![5.0, 5.0, 5.0], vec![5.0, 5.0, 5.0]]),
    )
    .unwrap();
    let run = Run::new(RunConfig::default(), &problem).unwrap();
    let m = run.metrics(&problem);
    assert_eq!(m.ranking_agreement, Some(1.0));
    // The true reward: 5 under any policy.
    close("true_reward", m.true_reward.unwrap(), 5.0);
    // Pooled over prompts: prompt x's pi0 = (1, 2, 3)/6 orders C > B > A; prompt y's is uniform
    // (every logit ties). r*(x) = (0, 1, 2): 3 of 3 agree; r*(y) = (2, 1, 0): 0 of 3 (ties) and
    // its reward r*(y) tie on nothing. 3 of 6 = 1/2. Expected reward: prompt x
    // (0 + 2 + 6)/6 = 4/3, prompt y (2 + 1 + 0)/3 = 1; mean 7/6.
    let problem = Problem::new(
        vec!["x".into(), "y".into()],
        labelled(&["A", "B", "C"]),
        &[vec![1.0, 2.0, 3.0], vec![1.0, 1.0, 1.0]],
        vec![Pair {
            prompt: 1,
            chosen: 0,
            rejected: 2,
            weight: 1.0,
        }],
        Some(vec![vec![0.0, 1.0, 2.0], vec![2.0, 1.0, 0.0]]),
    )
    .unwrap();
    let run = Run::new(RunConfig::default(), &problem).unwrap();
    let m = run.metrics(&problem);
    close("ranking", m.ranking_agreement.unwrap(), 0.5);
    close("true_reward", m.true_reward.unwrap(), 7.0 / 6.0);
    // A reversed order everywhere: 0 agree; a reward that disagrees only with ties counted
    // excluded: r*(x) = (0, 0, 2): comparable A-C and B-C (both agree), A-B excluded.
    let problem = Problem::new(
        vec!["x".into()],
        labelled(&["A", "B", "C"]),
        &[vec![1.0, 2.0, 3.0]],
        vec![Pair {
            prompt: 0,
            chosen: 0,
            rejected: 2,
            weight: 1.0,
        }],
        Some(vec![vec![0.0, 0.0, 2.0]]),
    )
    .unwrap();
    let m = Run::new(RunConfig::default(), &problem)
        .unwrap()
        .metrics(&problem);
    assert_eq!(m.ranking_agreement, Some(1.0));
    let problem = Problem::new(
        vec!["x".into()],
        labelled(&["A", "B", "C"]),
        &[vec![1.0, 2.0, 3.0]],
        vec![Pair {
            prompt: 0,
            chosen: 0,
            rejected: 2,
            weight: 1.0,
        }],
        Some(vec![vec![3.0, 2.0, 1.0]]),
    )
    .unwrap();
    let m = Run::new(RunConfig::default(), &problem)
        .unwrap()
        .metrics(&problem);
    assert_eq!(m.ranking_agreement, Some(0.0));
}

#[test]
fn ranking_agreement_is_skipped_past_4096_outputs() {
    for (k, reported) in [(4096usize, true), (4097, false)] {
        let outputs = (0..k)
            .map(|y| Output {
                label: format!("o{y}"),
                length: 1.0,
            })
            .collect();
        let reward: Vec<f64> = (0..k).map(|y| y as f64).collect();
        let reference: Vec<f64> = (0..k).map(|y| 1.0 + y as f64).collect();
        let problem = Problem::new(
            vec!["x".into()],
            outputs,
            &[reference],
            vec![Pair {
                prompt: 0,
                chosen: 1,
                rejected: 0,
                weight: 1.0,
            }],
            Some(vec![reward]),
        )
        .unwrap();
        let m = Run::new(RunConfig::default(), &problem)
            .unwrap()
            .metrics(&problem);
        // pi0 increases with y, as r* does: every pair agrees.
        assert_eq!(m.ranking_agreement.is_some(), reported, "K = {k}");
        if reported {
            assert_eq!(m.ranking_agreement, Some(1.0));
        }
        assert!(m.true_reward.is_some());
    }
}

#[test]
fn reference_is_normalised_in_f64() {
    // log pi0 = log w - log sum w, per prompt, stored in f32: within one f32 rounding of the
    // f64 value (relative 2^-24 plus the rounding of the sum).
    let weights = vec![vec![1e-30, 2e-30, 7e-30], vec![3.0, 1.0, 1e6]];
    let problem = Problem::new(
        vec!["x".into(), "y".into()],
        labelled(&["A", "B", "C"]),
        &weights,
        vec![Pair {
            prompt: 0,
            chosen: 0,
            rejected: 1,
            weight: 1.0,
        }],
        None,
    )
    .unwrap();
    for (x, row) in weights.iter().enumerate() {
        let total: f64 = row.iter().sum();
        for (y, w) in row.iter().enumerate() {
            let want = (w / total).ln();
            let got = problem.reference_row(x)[y] as f64;
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "log pi0[{x}][{y}] = {got}, expected {want}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The recomputation on trained runs.

/// Two prompts, five outputs of lengths (1, 2, 3, 1, 2), a reference with ties (outputs 3 and 4
/// on prompt 0; 0 and 1 on prompt 1, so those pairs have h_0 = 0), weighted pairs, some the
/// reference ranks wrongly, and a ground-truth reward with a tie on prompt 1.
fn rich_problem() -> Problem {
    let lengths = [1.0, 2.0, 3.0, 1.0, 2.0];
    let outputs = lengths
        .iter()
        .enumerate()
        .map(|(y, &length)| Output {
            label: format!("o{y}"),
            length,
        })
        .collect();
    let pair = |prompt, chosen, rejected, weight| Pair {
        prompt,
        chosen,
        rejected,
        weight,
    };
    let pairs = vec![
        pair(0, 0, 1, 1.0),
        pair(0, 2, 0, 2.0),
        pair(0, 1, 3, 0.5),
        pair(0, 3, 4, 3.0),
        pair(0, 4, 2, 1.5),
        pair(0, 1, 2, 1.0),
        pair(1, 3, 2, 1.0),
        pair(1, 0, 1, 2.5),
        pair(1, 4, 3, 1.0),
        pair(1, 1, 4, 0.25),
        pair(1, 2, 0, 2.0),
        pair(0, 2, 0, 1.0),
    ];
    Problem::new(
        vec!["p".into(), "q".into()],
        outputs,
        &[vec![5.0, 3.0, 1.0, 0.5, 0.5], vec![1.0, 1.0, 2.0, 4.0, 2.0]],
        pairs,
        Some(vec![
            vec![1.0, 0.5, 0.0, -1.0, 2.0],
            vec![0.0, 0.0, 1.0, 2.0, -0.5],
        ]),
    )
    .unwrap()
}

fn rich_configs() -> Vec<RunConfig> {
    vec![
        // DPO as given.
        RunConfig::default(),
        // Generalised logistic: gamma != beta, a margin, alpha, length normalisation, momentum.
        RunConfig {
            name: "logistic-ln".into(),
            beta: 0.7,
            gamma: 0.3,
            margin: 0.4,
            alpha: 2.0,
            length_normalize: true,
            init: Init::Uniform,
            optimizer: Optimizer::Sgd {
                lr: 0.3,
                momentum: 0.5,
            },
            ..RunConfig::default()
        },
        // Hinge with a negative margin and a small alpha, random init.
        RunConfig {
            name: "hinge".into(),
            loss: LossKind::Hinge,
            beta: 0.5,
            gamma: 2.0,
            margin: -0.3,
            alpha: 0.5,
            init: Init::Random { scale: 1.0 },
            seed: 3,
            optimizer: Optimizer::adam(0.1),
            ..RunConfig::default()
        },
        // Hinge, gamma = 0, m = 1, length-normalised (SLiC-like), uniform init.
        RunConfig {
            name: "hinge-ln".into(),
            loss: LossKind::Hinge,
            gamma: 0.0,
            margin: 1.0,
            length_normalize: true,
            init: Init::Uniform,
            optimizer: Optimizer::sgd(0.2),
            ..RunConfig::default()
        },
        // IPO with length normalisation, a margin, alpha != 1 and the reference_alpha init.
        RunConfig {
            name: "ipo".into(),
            loss: LossKind::Ipo,
            beta: 0.5,
            gamma: 1.5,
            margin: 0.2,
            alpha: 1.5,
            length_normalize: true,
            init: Init::ReferenceAlpha,
            optimizer: Optimizer::adam(0.02),
            ..RunConfig::default()
        },
        // alpha = 0: every h_0 is 0 (reference accuracy 0, every pair in the reference-wrong row);
        // an L2 regulariser, which the reported loss leaves out.
        RunConfig {
            name: "alpha0".into(),
            alpha: 0.0,
            gamma: 3.0,
            init: Init::ReferenceAlpha,
            regularizer: Regularizer::L2 { lambda: 0.3 },
            optimizer: Optimizer::adam(0.05),
            ..RunConfig::default()
        },
        // IPO with gamma = beta (TRL's ipo) and a KL regulariser.
        RunConfig {
            name: "ipo-kl".into(),
            loss: LossKind::Ipo,
            beta: 2.0,
            gamma: 2.0,
            regularizer: Regularizer::Kl { lambda: 0.2 },
            optimizer: Optimizer::sgd(0.05),
            ..RunConfig::default()
        },
    ]
}

/// Trains each config on the rich problem, full batch, and after every step checks every metric
/// against the recomputation, including the accumulated table (the sum of the snapshot tables of
/// the states before each step, docs/math.md section 9) and the un-learned pairs.
#[test]
fn every_metric_matches_an_independent_recomputation_while_training() {
    let problem = rich_problem();
    let pairs = problem.pairs().len();
    for config in rich_configs() {
        let name = config.name.clone();
        let mut run = Run::new(config.clone(), &problem).unwrap();
        let mut accumulated = [(0usize, 0.0f64, 0.0f64); 4];
        let mut ever_signal = vec![[false; 4]; pairs];
        let mut ever_right = vec![false; pairs];
        let mut seen_cells = [false; 4];
        for step in 0..=30u64 {
            let what = format!("{name} step {step}");
            let logits = run.logits().to_vec();
            if let Some(reason) = near_tie(&problem, &config, &logits) {
                assert!(
                    step >= MIN_CHECKED_STEPS,
                    "{what}: {reason}: change the test data"
                );
                break;
            }
            let e = expected_metrics(&problem, &config, &logits);
            let m = run.metrics(&problem);
            assert_eq!(m.step, step, "{what}");
            assert!(!m.diverged, "{what}");
            check_metrics(&what, &m, &e);
            // The accumulated table of the steps taken so far.
            let mut want = accumulated;
            for (c, cell) in want.iter_mut().enumerate() {
                cell.0 = ever_signal.iter().filter(|s| s[c]).count();
                cell.1 = ever_signal
                    .iter()
                    .zip(problem.pairs())
                    .filter(|(s, _)| s[c])
                    .map(|(_, p)| p.weight as f64)
                    .sum();
            }
            check_table(
                &format!("{what}: accumulated"),
                m.accumulated_table.as_ref().unwrap(),
                &want,
            );
            let terms = pair_terms(&problem, &config, &logits);
            let unlearned = terms
                .iter()
                .zip(&ever_right)
                .filter(|(t, &right)| right && t.h <= 0.0)
                .count();
            assert_eq!(
                m.unlearned_pairs,
                Some(unlearned),
                "{what}: unlearned pairs"
            );
            // This state's snapshot is what the next step adds.
            for (i, (t, pair)) in terms.iter().zip(problem.pairs()).enumerate() {
                let c = cell_of(t.h0 > 0.0, t.h > 0.0);
                seen_cells[c] = true;
                let signal =
                    pair.weight as f64 * phi_prime(config.loss, t.u, config.beta as f64).abs();
                accumulated[c].2 += signal;
                if signal != 0.0 {
                    ever_signal[i][c] = true;
                }
                ever_right[i] |= t.h > 0.0;
            }
            run.step(&problem);
        }
        // The data exercises more than one cell for every run (so the cells' bookkeeping matters).
        assert!(
            seen_cells.iter().filter(|&&s| s).count() >= 2,
            "{name}: cells seen {seen_cells:?}"
        );
    }
}

/// Metrics over all pairs, not the batch: a minibatch run and a mixout run still report the
/// recomputation at their logits (the accumulated table is not checked for them here: it follows
/// the batches and the mixed logits).
#[test]
fn minibatch_and_mixout_runs_report_metrics_over_all_pairs_at_theta() {
    let problem = rich_problem();
    let configs = [
        RunConfig {
            name: "minibatch".into(),
            loss: LossKind::Ipo,
            beta: 0.8,
            gamma: 0.4,
            batch_size: Some(3),
            seed: 2,
            optimizer: Optimizer::adam(0.05),
            ..RunConfig::default()
        },
        RunConfig {
            name: "mixout".into(),
            loss: LossKind::Logistic,
            gamma: 0.5,
            margin: 0.3,
            regularizer: Regularizer::Mixout { p: 0.3 },
            optimizer: Optimizer::sgd(0.5),
            init: Init::Uniform,
            seed: 5,
            ..RunConfig::default()
        },
    ];
    for config in configs {
        let mut run = Run::new(config.clone(), &problem).unwrap();
        for step in 0..=20u64 {
            let what = format!("{} step {step}", config.name);
            let logits = run.logits().to_vec();
            if let Some(reason) = near_tie(&problem, &config, &logits) {
                assert!(
                    step >= MIN_CHECKED_STEPS,
                    "{what}: {reason}: change the test data"
                );
                break;
            }
            check_metrics(
                &what,
                &run.metrics(&problem),
                &expected_metrics(&problem, &config, &logits),
            );
            run.step(&problem);
        }
    }
}

/// Random logits set from outside (a state from another backend), for each loss, with the
/// hinge's u well away from 0: checks the metrics at states training would not reach.
#[test]
fn metrics_at_arbitrary_logits() {
    let problem = rich_problem();
    // A small deterministic generator (an LCG), so the states do not depend on the engine's rng.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 6.0 - 3.0
    };
    let mut checked = 0;
    for trial in 0..60 {
        let logits: Vec<f32> = (0..10).map(|_| next() as f32).collect();
        for config in rich_configs() {
            let terms = pair_terms(&problem, &config, &logits);
            if terms
                .iter()
                .any(|t| (t.h != 0.0 && t.h.abs() < 1e-3) || (t.u != 0.0 && t.u.abs() < 1e-3))
            {
                continue;
            }
            let mut run = Run::new(config.clone(), &problem).unwrap();
            run.set_logits(&logits);
            let what = format!("trial {trial} {}", config.name);
            check_metrics(
                &what,
                &run.metrics(&problem),
                &expected_metrics(&problem, &config, &logits),
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} states checked");
}

/// With no pairs (an engine caller may build such a problem; the scenario reader refuses it),
/// the pair metrics are 0, not the 0/0 of an average over no weight, and the row metrics are
/// still reported: at the uniform init over a uniform reference, KL 0 and entropy ln 3.
#[test]
fn no_pairs_give_zero_pair_metrics_not_nan() {
    let outputs = (0..3)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0,
        })
        .collect();
    let problem = Problem::new(vec!["x".into()], outputs, &[vec![1.0; 3]], vec![], None).unwrap();
    let config = RunConfig {
        init: Init::Uniform,
        ..RunConfig::default()
    };
    let run = Run::new(config, &problem).unwrap();
    let metrics = run.metrics(&problem);
    for (name, value) in [
        ("loss", metrics.loss),
        ("accuracy", metrics.accuracy),
        ("reference_accuracy", metrics.reference_accuracy),
        ("chosen_reward", metrics.chosen_reward),
        ("rejected_reward", metrics.rejected_reward),
        ("reward_margin", metrics.reward_margin),
    ] {
        assert_eq!(value, 0.0, "{name}");
    }
    close("kl", metrics.kl, 0.0);
    close("entropy", metrics.entropy, 3f64.ln());
}
