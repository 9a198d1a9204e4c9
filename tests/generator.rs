//! The Bradley-Terry pair generator (`generate` in the scenario format, `Problem::generate_pairs`)
//! checked against its distribution, not only for determinism; and `Problem::new`'s checks of
//! the reward table it draws from.
//!
//! Statistical bounds. Every check below is a test at overall significance 1e-6 with a fixed seed,
//! so it is deterministic (it passes or fails the same way on every machine) and a correct
//! generator fails it with probability at most 1e-6 over the choice of seed:
//!
//! - win rates: per unordered output pair `{a, b}`, the number of pairs in which `a` is chosen is
//!   Binomial(n_ab, sigmoid((r*(a) - r*(b)) / tau)); the z score `(k - n p) / sqrt(n p (1 - p))`
//!   is bounded by the two-sided normal quantile at 1e-6 / m (Bonferroni over the m pairs tested):
//!   m = 6 gives |z| < 5.233, m = 12 gives |z| < 5.360 (computed with erfc and bisection);
//!   with thousands of draws per pair the normal approximation is far inside these margins.
//! - how often each unordered pair is drawn: Pearson's chi-square over the C(K, 2) pairs against
//!   the expected probabilities, with C(K, 2) - 1 degrees of freedom; critical values at 1e-6
//!   (the upper tail of chi-square, computed from the regularised incomplete gamma function):
//!   5 dof: 35.888, 2 dof: 27.631, 11 dof: 48.866.
//!
//! The probabilities are written here from the format's description (docs/scenario-format.md,
//! "reward and generate"): draw `a`, then `b` until `b != a` (uniformly, or both from the
//! normalised `pi0`), so `P(a then b) = pi0(a) pi0(b) / (1 - pi0(a))`; `a` beats `b` with
//! probability `sigmoid((r*(a) - r*(b)) / tau)`, so whichever order they were drawn in, `a` is
//! chosen over `b` with that probability.

use dpo_playground::engine::rng::{stream, SplitMix64};
use dpo_playground::engine::{Generation, Output, Pair, PairSampling, Problem};
use dpo_playground::scenario::Scenario;

/// Two-sided normal quantile at 1e-6 / 6 (six output pairs).
const Z_6: f64 = 5.233;
/// Two-sided normal quantile at 1e-6 / 12.
const Z_12: f64 = 5.360;
/// Chi-square critical values at 1e-6 by degrees of freedom.
const CHI2_5DOF: f64 = 35.888;

/// The logistic function, written here from its definition (not the engine's).
fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn outputs(k: usize) -> Vec<Output> {
    (0..k)
        .map(|y| Output {
            label: format!("o{y}"),
            length: 1.0,
        })
        .collect()
}

fn problem(
    reference: Vec<Vec<f64>>,
    reward: Vec<Vec<f64>>,
    explicit: Vec<Pair>,
    generation: &Generation,
) -> Problem {
    let k = reference[0].len();
    let prompts = (0..reference.len()).map(|x| format!("x{x}")).collect();
    let mut problem =
        Problem::new(prompts, outputs(k), &reference, explicit, Some(reward)).unwrap();
    problem.generate_pairs(generation).unwrap();
    problem
}

/// Per unordered pair `(a, b)`, `a < b`, on prompt `x`: (times drawn, times `a` chosen).
fn tally(pairs: &[Pair], x: usize, k: usize) -> Vec<Vec<(u64, u64)>> {
    let mut counts = vec![vec![(0u64, 0u64); k]; k];
    for pair in pairs.iter().filter(|p| p.prompt == x) {
        assert_ne!(pair.chosen, pair.rejected);
        assert_eq!(pair.weight, 1.0, "generated pairs have weight 1");
        let (a, b) = (
            pair.chosen.min(pair.rejected),
            pair.chosen.max(pair.rejected),
        );
        counts[a][b].0 += 1;
        if pair.chosen == a {
            counts[a][b].1 += 1;
        }
    }
    counts
}

/// `P({a, b})` when both outputs are drawn from `probabilities` (redrawing the second until it
/// differs): `p_a p_b / (1 - p_a) + p_b p_a / (1 - p_b)`.
fn pair_probability(probabilities: &[f64], a: usize, b: usize) -> f64 {
    let (pa, pb) = (probabilities[a], probabilities[b]);
    pa * pb / (1.0 - pa) + pb * pa / (1.0 - pb)
}

/// Pearson's chi-square of the unordered pairs' counts against `probabilities` of the outputs.
// The unordered pairs a < b of a square table read best as indices.
#[allow(clippy::needless_range_loop)]
fn chi_square_of_draws(counts: &[Vec<(u64, u64)>], probabilities: &[f64]) -> f64 {
    let k = probabilities.len();
    let n: u64 = (0..k)
        .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
        .map(|(a, b)| counts[a][b].0)
        .sum();
    let mut chi2 = 0.0;
    let mut total_probability = 0.0;
    for a in 0..k {
        for b in a + 1..k {
            let expected = n as f64 * pair_probability(probabilities, a, b);
            total_probability += pair_probability(probabilities, a, b);
            let observed = counts[a][b].0 as f64;
            chi2 += (observed - expected).powi(2) / expected;
        }
    }
    assert!(
        (total_probability - 1.0).abs() < 1e-12,
        "the pair probabilities sum to 1"
    );
    chi2
}

/// Checks each unordered pair's win rate against Bradley-Terry; returns the largest |z|.
fn check_win_rates(counts: &[Vec<(u64, u64)>], reward: &[f64], tau: f64, bound: f64) -> f64 {
    let k = reward.len();
    let mut worst: f64 = 0.0;
    for a in 0..k {
        for b in a + 1..k {
            let (n, wins) = counts[a][b];
            assert!(
                n > 1000,
                "pair ({a}, {b}) drawn only {n} times: too few to test"
            );
            let p = sigmoid((reward[a] - reward[b]) / tau);
            let z = (wins as f64 - n as f64 * p) / (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                z.abs() < bound,
                "pair ({a}, {b}): {a} chosen {wins} of {n} times, expected rate {p:.4} \
                 (z = {z:.2}, bound {bound})"
            );
            worst = worst.max(z.abs());
        }
    }
    worst
}

#[test]
fn uniform_sampling_matches_bradley_terry_and_draws_pairs_uniformly() {
    // K = 4: six unordered pairs; 60,000 draws, about 10,000 per pair. Rewards chosen so that the
    // reward differences take both signs and several sizes, and tau != 1 (a mutant dividing by
    // tau differently, or comparing the wrong way, moves the win rates by far more than the bound).
    let reward = vec![0.0, 0.5, 1.5, -1.0];
    let tau = 0.8;
    let generation = Generation {
        count: 60_000,
        tau,
        seed: 11,
        sampling: PairSampling::Uniform,
    };
    // A reference far from uniform: uniform sampling must ignore it.
    let problem = problem(
        vec![vec![0.7, 0.1, 0.1, 0.1]],
        vec![reward.clone()],
        vec![],
        &generation,
    );
    assert_eq!(problem.pairs().len(), 60_000);
    let counts = tally(problem.pairs(), 0, 4);
    check_win_rates(&counts, &reward, tau, Z_6);
    // Uniform draws: each unordered pair with probability 1/6; chi-square with 5 dof.
    let uniform = vec![0.25; 4];
    let chi2 = chi_square_of_draws(&counts, &uniform);
    assert!(
        chi2 < CHI2_5DOF,
        "chi-square {chi2} >= {CHI2_5DOF} (5 dof, 1e-6)"
    );
    // And the draw really is not the reference's: against pi0 the chi-square is enormous.
    let reference = vec![0.7, 0.1, 0.1, 0.1];
    assert!(chi_square_of_draws(&counts, &reference) > 100.0 * CHI2_5DOF);
}

#[test]
fn reference_sampling_draws_pairs_from_pi0_and_matches_bradley_terry() {
    // pi0 = (0.4, 0.3, 0.2, 0.1) after normalising the weights (4, 3, 2, 1).
    // P({a, b}) = p_a p_b (1/(1 - p_a) + 1/(1 - p_b)), e.g. P({0, 1}) = 0.12 (1/0.6 + 1/0.7)
    // = 0.37143; P({2, 3}) = 0.02 (1/0.8 + 1/0.9) = 0.04722.
    let weights = vec![4.0, 3.0, 2.0, 1.0];
    let probabilities = vec![0.4, 0.3, 0.2, 0.1];
    assert!((pair_probability(&probabilities, 0, 1) - 0.371_428_571_428_571_4).abs() < 1e-12);
    assert!((pair_probability(&probabilities, 2, 3) - 0.047_222_222_222_222_22).abs() < 1e-12);
    let reward = vec![1.0, -0.5, 0.25, 2.0];
    let tau = 1.5;
    let generation = Generation {
        count: 80_000,
        tau,
        seed: 3,
        sampling: PairSampling::Reference,
    };
    let problem = problem(vec![weights], vec![reward.clone()], vec![], &generation);
    let counts = tally(problem.pairs(), 0, 4);
    let chi2 = chi_square_of_draws(&counts, &probabilities);
    assert!(
        chi2 < CHI2_5DOF,
        "chi-square {chi2} >= {CHI2_5DOF} (5 dof, 1e-6)"
    );
    // Not uniform: the uniform hypothesis is rejected by far.
    assert!(chi_square_of_draws(&counts, &[0.25; 4]) > 100.0 * CHI2_5DOF);
    // The rarest pair {2, 3} is drawn ~3,800 times: enough for the win-rate test.
    check_win_rates(&counts, &reward, tau, Z_6);
}

#[test]
fn several_prompts_use_their_own_reward_and_reference() {
    // Two prompts, one explicit pair first. Each prompt's pairs follow that prompt's reward (the
    // two rewards are reversed, so reading the wrong row flips every win rate) and, with
    // reference sampling, that prompt's pi0 (reversed as well).
    let explicit = vec![Pair {
        prompt: 1,
        chosen: 2,
        rejected: 0,
        weight: 2.5,
    }];
    let rewards = vec![vec![0.0, 1.0, 2.0], vec![2.0, 1.0, 0.0]];
    let references = vec![vec![0.5, 0.3, 0.2], vec![0.2, 0.3, 0.5]];
    let count = 30_000;
    let tau = 1.0;
    let generation = Generation {
        count,
        tau,
        seed: 5,
        sampling: PairSampling::Reference,
    };
    let problem = problem(
        references.clone(),
        rewards.clone(),
        explicit.clone(),
        &generation,
    );
    let pairs = problem.pairs();
    assert_eq!(
        pairs.len(),
        1 + 2 * count,
        "explicit pairs plus count per prompt"
    );
    assert_eq!(
        pairs[0], explicit[0],
        "explicit pairs come first, unchanged"
    );
    // Prompt 0's pairs, then prompt 1's.
    assert!(pairs[1..1 + count].iter().all(|p| p.prompt == 0));
    assert!(pairs[1 + count..].iter().all(|p| p.prompt == 1));
    // Three outputs: 3 pairs per prompt, 6 tests: Bonferroni over 6 for the win rates and a
    // chi-square with 2 dof per prompt (critical 27.631 at 1e-6; two prompts tested, so at
    // 2e-6 overall).
    let generated = &pairs[1..];
    for x in 0..2 {
        let counts = tally(generated, x, 3);
        check_win_rates(&counts, &rewards[x], tau, Z_6);
        let chi2 = chi_square_of_draws(&counts, &references[x]);
        assert!(chi2 < 27.631, "prompt {x}: chi-square {chi2} (2 dof)");
    }
}

#[test]
fn tau_zero_labels_by_the_sign_and_tosses_a_coin_on_ties() {
    // tau = 0: the higher reward always wins; outputs 1 and 2 tie, so each wins half the time.
    let reward = vec![0.0, 1.0, 1.0, -3.0];
    let generation = Generation {
        count: 40_000,
        tau: 0.0,
        seed: 9,
        sampling: PairSampling::Uniform,
    };
    let problem = problem(
        vec![vec![1.0; 4]],
        vec![reward.clone()],
        vec![],
        &generation,
    );
    let counts = tally(problem.pairs(), 0, 4);
    for a in 0..4 {
        for b in a + 1..4 {
            let (n, wins) = counts[a][b];
            assert!(n > 5000);
            if reward[a] > reward[b] {
                assert_eq!(wins, n, "({a}, {b}): {a} has the higher reward");
            } else if reward[a] < reward[b] {
                assert_eq!(wins, 0, "({a}, {b}): {b} has the higher reward");
            } else {
                // A fair coin: |z| < 4.892 (two-sided 1e-6, one test).
                let z = (wins as f64 - n as f64 / 2.0) / (n as f64 / 4.0).sqrt();
                assert!(z.abs() < 4.892, "tie ({a}, {b}): {wins} of {n}, z = {z:.2}");
            }
        }
    }
    assert!(chi_square_of_draws(&counts, &[0.25; 4]) < CHI2_5DOF);
    // Draw for draw, from the engine's public random stream: a `below(4)` per output drawn
    // (redrawn while equal), then the coin, `next_f64() < 0.5`, for a tie alone.
    let mut replay = SplitMix64::new(generation.seed, stream::GENERATE);
    for (i, pair) in problem.pairs().iter().enumerate() {
        let first = replay.below(4);
        let mut second = replay.below(4);
        while second == first {
            second = replay.below(4);
        }
        let first_wins = reward[first] > reward[second]
            || (reward[first] == reward[second] && replay.next_f64() < 0.5);
        let expected = if first_wins {
            (first, second)
        } else {
            (second, first)
        };
        assert_eq!((pair.chosen, pair.rejected), expected, "pair {i}");
    }
}

#[test]
fn a_large_tau_is_nearly_a_coin_and_a_small_one_nearly_the_sign() {
    // Same data, tau = 100 and tau = 0.05: the win rate of the pair with reward gap 1 is
    // sigmoid(0.01) = 0.5025 and sigmoid(20) = 1 - 2.1e-9. Six pairs each: Bonferroni over 12.
    let reward = vec![0.0, 1.0, 0.5, -0.5];
    for tau in [100.0, 0.05] {
        let generation = Generation {
            count: 40_000,
            tau,
            seed: 21,
            sampling: PairSampling::Uniform,
        };
        let problem = problem(
            vec![vec![1.0; 4]],
            vec![reward.clone()],
            vec![],
            &generation,
        );
        let counts = tally(problem.pairs(), 0, 4);
        // With tau = 0.05 the smallest gap, 0.5, gives sigmoid(10) = 0.99995: p (1 - p) n is tiny,
        // so check the extreme case directly instead of by z.
        if tau < 1.0 {
            for a in 0..4 {
                for b in a + 1..4 {
                    let (n, wins) = counts[a][b];
                    let p = sigmoid((reward[a] - reward[b]) / tau);
                    // Expected losers of the favourite: n min(p, 1 - p) <= 0.5 for every pair here;
                    // allow 10 (Poisson(0.5) exceeds 10 with probability ~1e-11).
                    let upsets = if p > 0.5 { n - wins } else { wins };
                    assert!(
                        upsets <= 10,
                        "({a}, {b}): {upsets} upsets of {n} at tau {tau}"
                    );
                }
            }
        } else {
            check_win_rates(&counts, &reward, tau, Z_12);
        }
    }
}

#[test]
fn a_peaked_reference_falls_back_to_the_other_outputs_uniformly() {
    // pi0 = (1 - 2e-9, 1e-9, 1e-9): the first draw is output 0 and so are 64 redraws (probability
    // (1 - 2e-9)^65, about 1 - 1.3e-7, per pair), so the second output comes from the uniform
    // fallback over outputs 1 and 2: pairs {0, 1} and {0, 2} equally often, {1, 2} never (its
    // probability is about 4e-9 per draw). Reward 0 > 1 = 2 with tau = 1.
    let reward = vec![1.0, 0.0, 0.0];
    let generation = Generation {
        count: 20_000,
        tau: 1.0,
        seed: 4,
        sampling: PairSampling::Reference,
    };
    let problem = problem(
        vec![vec![1e9, 1.0, 1.0]],
        vec![reward.clone()],
        vec![],
        &generation,
    );
    let counts = tally(problem.pairs(), 0, 3);
    assert_eq!(counts[1][2].0, 0);
    let (n01, n02) = (counts[0][1].0, counts[0][2].0);
    assert_eq!(n01 + n02, 20_000);
    let z = (n01 as f64 - 10_000.0) / (20_000.0f64 / 4.0).sqrt();
    assert!(
        z.abs() < 4.892,
        "{{0,1}} drawn {n01} times of 20,000 (z = {z:.2})"
    );
    // Win rate of 0 over 1 and over 2: sigmoid(1) = 0.7311 (two tests: Bonferroni over 2,
    // two-sided 5e-7: |z| < 5.02).
    for b in [1, 2] {
        let (n, wins) = counts[0][b];
        let p = sigmoid(1.0);
        let z = (wins as f64 - n as f64 * p) / (n as f64 * p * (1.0 - p)).sqrt();
        assert!(z.abs() < 5.02, "0 over {b}: {wins} of {n}, z = {z:.2}");
    }
}

#[test]
fn the_same_seed_gives_the_same_pairs_and_another_seed_other_pairs() {
    let make = |seed: u64, sampling: PairSampling| {
        problem(
            vec![vec![1.0, 2.0, 3.0, 4.0, 5.0], vec![5.0, 1.0, 1.0, 1.0, 1.0]],
            vec![
                vec![0.0, 0.3, -0.2, 1.0, 0.5],
                vec![1.0, 0.0, 0.0, 2.0, -1.0],
            ],
            vec![],
            &Generation {
                count: 500,
                tau: 0.7,
                seed,
                sampling,
            },
        )
        .pairs()
        .to_vec()
    };
    for sampling in [PairSampling::Uniform, PairSampling::Reference] {
        let a = make(7, sampling);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, make(7, sampling), "same seed, same pairs ({sampling:?})");
        let b = make(8, sampling);
        let differing = a.iter().zip(&b).filter(|(p, q)| p != q).count();
        // Two independent draws agree on a pair with probability well under 1/2 here.
        assert!(
            differing > 300,
            "seeds 7 and 8 differ on only {differing} pairs"
        );
    }
    // The sampling mode changes the pairs too.
    let u = make(7, PairSampling::Uniform);
    let r = make(7, PairSampling::Reference);
    assert_ne!(u, r);
}

#[test]
fn the_scenario_format_generates_the_same_pairs() {
    // `generate` in a scenario: the format's names ("uniform", "reference") map to the sampling
    // modes, the pairs are appended after the explicit ones, `count` is per prompt.
    for (name, sampling) in [
        ("uniform", PairSampling::Uniform),
        ("reference", PairSampling::Reference),
    ] {
        let text = format!(
            r#"{{"outputs": ["A", "B", "C"], "prompts": ["p", "q"],
                "reference": [[1, 2, 3], [3, 2, 1]],
                "reward": [[0, 1, 2], [1, 0, -1]],
                "pairs": [{{"prompt": "q", "chosen": "A", "rejected": "B", "weight": 2}}],
                "generate": {{"count": 300, "tau": 0.5, "seed": 12, "sampling": "{name}"}}}}"#
        );
        let scenario = Scenario::from_json(&text).unwrap();
        let from_scenario = scenario.problem().unwrap();
        let direct = problem(
            vec![vec![1.0, 2.0, 3.0], vec![3.0, 2.0, 1.0]],
            vec![vec![0.0, 1.0, 2.0], vec![1.0, 0.0, -1.0]],
            vec![Pair {
                prompt: 1,
                chosen: 0,
                rejected: 1,
                weight: 2.0,
            }],
            &Generation {
                count: 300,
                tau: 0.5,
                seed: 12,
                sampling,
            },
        );
        assert_eq!(from_scenario.pairs().len(), 601);
        assert_eq!(from_scenario.pairs(), direct.pairs(), "sampling {name}");
    }
    // The defaults: count 16, tau 1, seed 0, uniform.
    let scenario = Scenario::from_json(
        r#"{"outputs": ["A", "B", "C"], "reward": [[0, 1, 2]], "generate": {}}"#,
    )
    .unwrap();
    let generation = scenario.generate.clone().unwrap();
    assert_eq!(
        generation,
        Generation {
            count: 16,
            tau: 1.0,
            seed: 0,
            sampling: PairSampling::Uniform
        }
    );
    assert_eq!(scenario.problem().unwrap().pairs().len(), 16);
}

#[test]
fn generation_errors_and_caps() {
    // No reward to draw from.
    let mut no_reward = Problem::new(
        vec!["x".into()],
        outputs(2),
        &[vec![1.0, 1.0]],
        vec![],
        None,
    )
    .unwrap();
    let error = no_reward
        .generate_pairs(&Generation {
            count: 4,
            tau: 1.0,
            seed: 0,
            sampling: PairSampling::Uniform,
        })
        .unwrap_err();
    assert_eq!(error.path, "generate");
    // tau must be finite and >= 0; 0 itself is allowed (checked above).
    for tau in [-1e-9, -1.0, f64::NAN, f64::INFINITY] {
        let mut with_reward = Problem::new(
            vec!["x".into()],
            outputs(2),
            &[vec![1.0, 1.0]],
            vec![],
            Some(vec![vec![0.0, 1.0]]),
        )
        .unwrap();
        let error = with_reward
            .generate_pairs(&Generation {
                count: 4,
                tau,
                seed: 0,
                sampling: PairSampling::Uniform,
            })
            .unwrap_err();
        assert_eq!(error.path, "generate.tau", "tau {tau}");
        assert!(with_reward.pairs().is_empty(), "nothing drawn on an error");
    }
    // count 0 draws nothing.
    let mut zero = Problem::new(
        vec!["x".into()],
        outputs(2),
        &[vec![1.0, 1.0]],
        vec![],
        Some(vec![vec![0.0, 1.0]]),
    )
    .unwrap();
    zero.generate_pairs(&Generation {
        count: 0,
        tau: 1.0,
        seed: 0,
        sampling: PairSampling::Uniform,
    })
    .unwrap();
    assert!(zero.pairs().is_empty());
    // The cap: count x prompts + explicit pairs <= 2^22 = 4,194,304, checked before drawing.
    // Two prompts x 2,097,152 = 2^22 exactly is allowed by the cap (not drawn here); one more
    // explicit pair or one more per prompt is refused at generate.count.
    let scenario = |count: u64, explicit: &str| {
        format!(
            r#"{{"outputs": ["A", "B"], "prompts": ["p", "q"], "reward": [[0, 1], [1, 0]],
                "pairs": [{explicit}], "generate": {{"count": {count}}}}}"#
        )
    };
    let error = Scenario::from_json(&scenario(2_097_153, "")).unwrap_err();
    assert_eq!(error.path, "generate.count", "{}", error.message);
    let error = Scenario::from_json(&scenario(2_097_152, r#"{"chosen": "A", "rejected": "B"}"#))
        .unwrap_err();
    assert_eq!(error.path, "generate.count", "{}", error.message);
}

#[test]
fn the_cap_allows_exactly_max_pairs() {
    // 2 prompts x 2^21 = 2^22 pairs: allowed, and all drawn (about 4 million pairs; a second or
    // two in release).
    let text = r#"{"outputs": ["A", "B"], "prompts": ["p", "q"], "reward": [[0, 1], [1, 0]],
        "generate": {"count": 2097152, "tau": 0}}"#;
    let scenario = Scenario::from_json(text).unwrap();
    let problem = scenario.problem().unwrap();
    assert_eq!(problem.pairs().len(), 1 << 22);
    // tau = 0 and K = 2: every pair is (B over A) on p and (A over B) on q.
    assert!(problem.pairs()[..1 << 21]
        .iter()
        .all(|p| p.prompt == 0 && p.chosen == 1 && p.rejected == 0));
    assert!(problem.pairs()[1 << 21..]
        .iter()
        .all(|p| p.prompt == 1 && p.chosen == 0 && p.rejected == 1));
}

/// With `reference` sampling from a reference that puts all but 1e-300 of its mass on one output,
/// every draw is that output, so the second output is redrawn until the fallback: 63 redraws,
/// then one uniform draw among the other outputs (the generator's documented "uniform fallback
/// after 64 tries"). The draws are replayed here from the engine's public random stream: one
/// `next_f64` per categorical draw, then `below(k - 1)`, then the win draw.
#[test]
fn a_peaked_reference_falls_back_to_a_uniform_second_output_after_64_draws() {
    let k = 1000;
    let mut reference = vec![1e-300; k];
    reference[0] = 1.0;
    let reward: Vec<f64> = (0..k).map(|y| y as f64 / k as f64).collect();
    for seed in [1, 2, 3] {
        let generation = Generation {
            count: 1,
            tau: 1.0,
            seed,
            sampling: PairSampling::Reference,
        };
        let drawn = problem(
            vec![reference.clone()],
            vec![reward.clone()],
            vec![],
            &generation,
        );
        let mut replay = SplitMix64::new(seed, stream::GENERATE);
        // The first output, the second, and 63 redraws: all output 0.
        for _ in 0..65 {
            replay.next_f64();
        }
        let second = 1 + replay.below(k - 1);
        let wins = replay.next_f64() < sigmoid(reward[0] - reward[second]);
        let pair = drawn.pairs()[0];
        let (chosen, rejected) = if wins { (0, second) } else { (second, 0) };
        assert_eq!(
            (pair.chosen, pair.rejected),
            (chosen, rejected),
            "seed {seed}"
        );
    }
}

/// `Problem::new` on two prompts of three outputs, uniform reference, one pair, and `reward`.
fn with_reward(reward: Vec<Vec<f64>>) -> Result<Problem, String> {
    Problem::new(
        vec!["x0".into(), "x1".into()],
        outputs(3),
        &[vec![1.0; 3], vec![1.0; 3]],
        vec![Pair {
            prompt: 1,
            chosen: 2,
            rejected: 0,
            weight: 1.0,
        }],
        Some(reward),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_reward_table_of_the_wrong_shape_or_with_a_non_finite_value_is_refused_by_name() {
    let good = vec![vec![0.0, 1.0, 2.0], vec![-1.0, 0.5, 3.0]];
    let problem = with_reward(good.clone()).unwrap();
    assert_eq!(
        problem.true_reward(),
        Some(&[0.0, 1.0, 2.0, -1.0, 0.5, 3.0][..])
    );
    for (reward, error) in [
        (
            vec![good[0].clone()],
            "reward: has 1 rows, but there are 2 prompts",
        ),
        (
            vec![good[0].clone(), vec![1.0, 2.0]],
            "reward[1]: has 2 values, but there are 3 outputs",
        ),
        (
            vec![good[0].clone(), vec![1.0, f64::NAN, 2.0]],
            "reward[1][1]: must be finite",
        ),
        (
            vec![vec![f64::INFINITY, 0.0, 0.0], good[1].clone()],
            "reward[0][0]: must be finite",
        ),
    ] {
        assert_eq!(with_reward(reward).unwrap_err(), error);
    }
}
