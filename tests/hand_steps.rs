//! The optimiser, reset, set_state (a state from another backend), set_config, validation and
//! mixout, each checked against steps computed by hand (values written here, with where they
//! came from), and `predicted_table` checked cell by cell for each loss and each sign of gamma
//! and the margin, so that each of its comparisons matters.
//!
//! Hand values: a float64 transcription (a few lines of Python, not kept) of docs/math.md sections 4 to 7 (the
//! gradient `g_p = w_p / W * phi'(u_p) * beta` on `e_{y+}/n(y+) - e_{y-}/n(y-) - pi (1/n(y+) -
//! 1/n(y-))`, the regularisers, PyTorch's SGD and Adam) run for one or two steps; the first SGD
//! step is also worked in closed form below. Tolerance: 2e-6 absolute on logits of size <= 2.5
//! (the engine steps in f32: a few ulps of the logits and of the f32 `exp`, relative 3e-7).

use dpo_playground::engine::numerics::adam_corrections;
use dpo_playground::engine::rng::uniform_at;
use dpo_playground::engine::{
    predicted_table, Init, LossKind, Optimizer, Output, Pair, Prediction, Problem, Regularizer,
    Run, RunConfig,
};

const TOLERANCE: f64 = 2e-6;

fn assert_logits(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= TOLERANCE,
            "{what}: logit {i} is {g}, expected {w}\n  got  {got:?}\n  want {want:?}"
        );
    }
}

/// Two prompts, outputs A, B, C, D of lengths (1, 2, 1, 3). Reference weights x0: (2, 1, 1, 4),
/// x1: uniform. Pairs: x0 A > B (weight 1), x0 C > A (weight 3), x1 D > B (weight 2); W = 6.
/// h_0: ln 2, -ln 2 and 0.
fn problem() -> Problem {
    let outputs = [("A", 1.0), ("B", 2.0), ("C", 1.0), ("D", 3.0)]
        .iter()
        .map(|&(label, length)| Output {
            label: label.into(),
            length,
        })
        .collect();
    let pair = |prompt, chosen, rejected, weight| Pair {
        prompt,
        chosen,
        rejected,
        weight,
    };
    Problem::new(
        vec!["x0".into(), "x1".into()],
        outputs,
        &[vec![2.0, 1.0, 1.0, 4.0], vec![1.0; 4]],
        vec![pair(0, 0, 1, 1.0), pair(0, 2, 0, 3.0), pair(1, 3, 1, 2.0)],
        None,
    )
    .unwrap()
}

/// beta = 2, gamma = 0.5, logistic, uniform init.
fn base(optimizer: Optimizer) -> RunConfig {
    RunConfig {
        beta: 2.0,
        gamma: 0.5,
        init: Init::Uniform,
        optimizer,
        ..RunConfig::default()
    }
}

fn trajectory(config: RunConfig, steps: &[&[f64]]) {
    let problem = problem();
    let mut run = Run::new(config.clone(), &problem).unwrap();
    for (t, want) in steps.iter().enumerate() {
        run.step(&problem);
        assert_eq!(run.steps(), t as u64 + 1);
        assert_logits(
            &format!("{} step {}", config.name, t + 1),
            run.logits(),
            want,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Optimiser steps.

#[test]
fn sgd_first_step_by_hand() {
    // theta = 0, so h_pi = 0 and u = -gamma h_0 = -0.5 h_0: u1 = -ln2/2, u2 = ln2/2, u3 = 0.
    // phi'(u) = -1/(1 + e^u): phi'(u1) = -1/(1 + 1/sqrt 2) = -(2 - sqrt 2) = -0.5857864,
    // phi'(u2) = -(sqrt 2 - 1) = -0.4142136, phi'(u3) = -1/2.
    // g_p = w/W phi' beta: g1 = -0.1952621, g2 = -0.4142136, g3 = -1/3.
    // dJ/dA = g1 - g2 = 0.2189515, dJ/dB = -g1, dJ/dC = g2; x1: dJ/dD = g3, dJ/dB = -g3.
    // SGD lr 0.5: theta = -0.5 dJ.
    trajectory(
        base(Optimizer::sgd(0.5)),
        &[&[
            -0.109475708249,
            -0.097631072938,
            0.207106781187,
            0.0,
            0.0,
            -1.0 / 6.0,
            0.0,
            1.0 / 6.0,
        ]],
    );
}

#[test]
fn a_minibatch_step_is_the_mean_over_its_own_weights() {
    // As sgd_first_step_by_hand, with two of the three pairs a step: the batch's gradient is
    // sum_p w_p phi'(u_p) beta / W_batch, W_batch the weights of the pairs drawn (1 + 3, 1 + 2
    // or 3 + 2), not of all pairs. Which two are drawn is the sampler's (its own tests); the
    // step must be exactly one of the three.
    let phi = [
        -(2.0 - 2f64.sqrt()), // u1 = -ln2/2
        -(2f64.sqrt() - 1.0), // u2 = ln2/2
        -0.5,                 // u3 = 0
    ];
    // (chosen, rejected) as flat logits (x1's outputs from 4), and weights.
    let pairs = [(0, 1, 1.0), (2, 0, 3.0), (7, 5, 2.0)];
    let (beta, lr) = (2.0, 0.5);
    let step_on = |batch: [usize; 2]| -> Vec<f64> {
        let total: f64 = batch.iter().map(|&p| pairs[p].2).sum();
        let mut theta = vec![0.0; 8];
        for &p in &batch {
            let (chosen, rejected, weight) = pairs[p];
            let g = weight * phi[p] * beta / total;
            theta[chosen] -= lr * g;
            theta[rejected] += lr * g;
        }
        theta
    };
    let problem = problem();
    let config = RunConfig {
        batch_size: Some(2),
        ..base(Optimizer::sgd(lr as f32))
    };
    for seed in 0..6 {
        let mut run = Run::new(
            RunConfig {
                seed,
                ..config.clone()
            },
            &problem,
        )
        .unwrap();
        run.step(&problem);
        let got = run.logits();
        let matches = |want: &[f64]| {
            got.iter()
                .zip(want)
                .all(|(&g, &w)| (g as f64 - w).abs() <= TOLERANCE)
        };
        let batches = [[0, 1], [0, 2], [1, 2]];
        assert!(
            batches.iter().any(|&batch| matches(&step_on(batch))),
            "seed {seed}: {got:?} is no two-pair batch's step: {:?}",
            batches.map(step_on)
        );
    }
}

#[test]
fn a_minibatch_step_is_the_full_batch_step_of_its_pairs() {
    // With and without length normalisation: a step on a batch of two of the three pairs is the
    // full-batch step (checked by hand above and below) of a problem holding only those two,
    // weights and all: the batch's mean is over its own weights. Under SGD a wrong scale shows.
    let all = problem();
    let sub = |batch: [usize; 2]| {
        Problem::new(
            all.prompts().to_vec(),
            all.outputs().to_vec(),
            &[vec![2.0, 1.0, 1.0, 4.0], vec![1.0; 4]],
            batch.iter().map(|&p| all.pairs()[p]).collect(),
            None,
        )
        .unwrap()
    };
    for length_normalize in [false, true] {
        let full = RunConfig {
            margin: 0.4,
            length_normalize,
            ..base(Optimizer::sgd(0.5))
        };
        let steps: Vec<Vec<f32>> = [[0, 1], [0, 2], [1, 2]]
            .iter()
            .map(|&batch| {
                let problem = sub(batch);
                let mut run = Run::new(full.clone(), &problem).unwrap();
                run.step(&problem);
                run.logits().to_vec()
            })
            .collect();
        for seed in 0..6 {
            let config = RunConfig {
                seed,
                batch_size: Some(2),
                ..full.clone()
            };
            let mut run = Run::new(config, &all).unwrap();
            run.step(&all);
            let got = run.logits();
            let close = |want: &Vec<f32>| {
                got.iter()
                    .zip(want)
                    .all(|(&g, &w)| (g as f64 - w as f64).abs() <= TOLERANCE)
            };
            assert!(
                steps.iter().any(close),
                "length_normalize {length_normalize}, seed {seed}: {got:?} is none of {steps:?}"
            );
        }
    }
}

#[test]
fn momentum_sgd_two_steps() {
    // v = 0.9 v + g; theta -= 0.5 v (step 1 as above; step 2 from the f64 transcription).
    trajectory(
        base(Optimizer::Sgd {
            lr: 0.5,
            momentum: 0.9,
        }),
        &[
            &[
                -0.109475708249,
                -0.097631072938,
                0.207106781187,
                0.0,
                0.0,
                -0.166666666667,
                0.0,
                0.166666666667,
            ],
            &[
                -0.245888593612,
                -0.284086120810,
                0.529974714421,
                0.0,
                0.0,
                -0.429747877078,
                0.0,
                0.429747877078,
            ],
        ],
    );
}

#[test]
fn adam_two_steps_with_non_default_constants() {
    // beta1 = 0.8, beta2 = 0.9, eps = 0.1 (large, so where eps enters matters), lr = 0.1:
    // m = 0.8 m + 0.2 g; v = 0.9 v + 0.1 g^2; theta -= lr (m / (1 - 0.8^t)) /
    // (sqrt(v / (1 - 0.9^t)) + eps). Step 1: theta = -0.1 g / (|g| + 0.1), e.g. x1's D:
    // g = -1/3: 0.1 (1/3) / (1/3 + 0.1) = 0.0769231.
    trajectory(
        base(Optimizer::Adam {
            lr: 0.1,
            beta1: 0.8,
            beta2: 0.9,
            eps: 0.1,
        }),
        &[
            &[
                -0.068647262615,
                -0.066131791225,
                0.080552827207,
                0.0,
                0.0,
                -0.076923076923,
                0.0,
                0.076923076923,
            ],
            &[
                -0.131680841660,
                -0.132292120617,
                0.158907485511,
                0.0,
                0.0,
                -0.151766671460,
                0.0,
                0.151766671460,
            ],
        ],
    );
}

#[test]
fn hinge_steps_learn_only_below_the_margin() {
    // Hinge, m = 0.3: u = 2 h - 0.5 h_0 - 0.3. Step 1 at theta = 0: u1 = -0.647 (learns),
    // u2 = +0.047 (silent), u3 = -0.3 (learns): g1 = 1/6 * (-1) * 2 = -1/3, g3 = 2/6 * (-1) * 2
    // = -2/3; SGD 0.5 moves A, B of x0 by 1/6 and D, B of x1 by 1/3. Step 2: u1 = 2/3 - ln2/2 -
    // 0.3 = 0.020 (silent), u2 = -1/3 + ln2/2 - 0.3 = -0.287 (learns: A -1/2, C +1/2),
    // u3 = 4/3 - 0.3 > 0 (silent).
    trajectory(
        RunConfig {
            loss: LossKind::Hinge,
            margin: 0.3,
            ..base(Optimizer::sgd(0.5))
        },
        &[
            &[
                1.0 / 6.0,
                -1.0 / 6.0,
                0.0,
                0.0,
                0.0,
                -1.0 / 3.0,
                0.0,
                1.0 / 3.0,
            ],
            &[
                -1.0 / 3.0,
                -1.0 / 6.0,
                0.5,
                0.0,
                0.0,
                -1.0 / 3.0,
                0.0,
                1.0 / 3.0,
            ],
        ],
    );
}

#[test]
fn ipo_steps() {
    // IPO, beta = 2, gamma = 1, m = 0.2, alpha = 2: h_0 = 2 ln 2, -2 ln 2, 0;
    // phi'(u) = 2 (u - 1/2) / beta^2. Step 1 at theta = 0: u1 = -2 ln 2 - 0.2, phi' = -1.0431472;
    // u2 = 2 ln 2 - 0.2 = 1.1862944, phi' = 0.3431472 (pushes back); u3 = -0.2, phi' = -0.35.
    trajectory(
        RunConfig {
            loss: LossKind::Ipo,
            gamma: 1.0,
            margin: 0.2,
            alpha: 2.0,
            ..base(Optimizer::sgd(0.1))
        },
        &[
            &[
                0.069086290741,
                -0.034771572685,
                -0.034314718056,
                0.0,
                0.0,
                -0.023333333333,
                0.0,
                0.023333333333,
            ],
            &[
                0.124370551822,
                -0.066081216590,
                -0.058289335232,
                0.0,
                0.0,
                -0.043555555556,
                0.0,
                0.043555555556,
            ],
        ],
    );
}

#[test]
fn length_normalised_steps_move_every_logit_of_a_row() {
    // Length normalisation, m = 0.4: lengths (1, 2, 1, 3). A > B and D > B have different
    // lengths, so the row coefficient c(x) = sum g_p (1/n(y+) - 1/n(y-)) is non-zero and every
    // logit of the row gets -c(x) pi(y|x): D on x0 and A, C on x1 move although no pair names
    // them there (0.0186262, -0.0067289, -0.0067289 in step 1's dJ terms times lr).
    trajectory(
        RunConfig {
            margin: 0.4,
            length_normalize: true,
            ..base(Optimizer::sgd(0.5))
        },
        &[
            &[
                -0.126293405696,
                -0.093130933884,
                0.238050526357,
                -0.018626186777,
                0.006728895233,
                -0.074017847561,
                0.006728895233,
                0.060560057095,
            ],
            &[
                -0.159949417878,
                -0.185964356264,
                0.382933890837,
                -0.037020116695,
                0.013096242579,
                -0.144127268771,
                0.013096242579,
                0.117934783612,
            ],
        ],
    );
}

#[test]
fn l2_and_kl_regularised_steps() {
    // Init at the reference: both regularisers' gradients are 0 at step 1 (theta = theta0), so
    // step 1 is the loss's alone; at step 2 the L2 pull is lambda (theta - theta0) and the KL's
    // lambda pi (log pi - log pi0 - KL) per row (which also moves the logits no pair names).
    // log pi0: x0 = ln(2/8, 1/8, 1/8, 4/8) = (-1.3862944, -2.0794415, -2.0794415, -0.6931472),
    // x1 = ln(1/4) = -1.3862944.
    let step1 = [
        -1.712158444477,
        -2.122975520840,
        -1.710043479162,
        -std::f64::consts::LN_2,
        -1.386294361120,
        -1.552961027787,
        -1.386294361120,
        -1.219627694453,
    ];
    let reference = |regularizer| RunConfig {
        init: Init::Reference,
        regularizer,
        ..base(Optimizer::sgd(0.5))
    };
    trajectory(
        reference(Regularizer::L2 { lambda: 0.3 }),
        &[
            &step1,
            &[
                -1.805969427124,
                -2.180348620279,
                -1.558859397076,
                -std::f64::consts::LN_2,
                -1.386294361120,
                -1.641042238198,
                -1.386294361120,
                -1.131546484042,
            ],
        ],
    );
    trajectory(
        reference(Regularizer::Kl { lambda: 0.4 }),
        &[
            &step1,
            &[
                -1.842754650984,
                -2.185747218939,
                -1.516965278778,
                -0.692857476339,
                -1.385606308944,
                -1.658454560543,
                -1.385606308944,
                -1.115510266049,
            ],
        ],
    );
}

#[test]
fn a_kl_step_is_the_optimiser_step_on_its_gradient_bit_for_bit() {
    // With the KL regulariser the update adds the KL term to each logit's gradient as it reads it
    // (optimizer.rs), while `Run::gradient` adds it in a pass of its own: a step must be, bit for
    // bit, the optimiser's step (PyTorch's formulas, in f32 as the engine writes them) on that
    // gradient. Uniform init against a non-uniform reference, so the KL term is never 0. Two
    // problems: `problem()` (8 logits, 3 pairs), whose rows the update zeroes whole, and one of
    // 2 x 100 logits and 3 pairs, where it zeroes only the pairs' logits (the rest of the
    // gradient holds nothing but the KL term, which is never stored); after each step the
    // gradient must then be exactly that of a fresh run set to the same state (nothing left
    // behind).
    let wide = {
        let outputs = (0..100)
            .map(|y| Output {
                label: format!("o{y}"),
                length: 1.0 + (y % 3) as f32,
            })
            .collect();
        let reference: Vec<Vec<f64>> = (0..2)
            .map(|x| (0..100).map(|y| 1.0 + ((x + 2 * y) % 7) as f64).collect())
            .collect();
        let pair = |prompt, chosen, rejected| Pair {
            prompt,
            chosen,
            rejected,
            weight: 1.0,
        };
        let pairs = vec![pair(0, 3, 40), pair(0, 40, 77), pair(1, 5, 6)];
        Problem::new(
            vec!["x0".into(), "x1".into()],
            outputs,
            &reference,
            pairs,
            None,
        )
        .unwrap()
    };
    for problem in [problem(), wide] {
        kl_steps_against_their_gradients(&problem);
    }
}

fn kl_steps_against_their_gradients(problem: &Problem) {
    let optimizers = [
        Optimizer::Sgd {
            lr: 0.5,
            momentum: 0.9,
        },
        Optimizer::Adam {
            lr: 0.1,
            beta1: 0.8,
            beta2: 0.9,
            eps: 1e-3,
        },
    ];
    for optimizer in optimizers {
        for length_normalize in [false, true] {
            let config = RunConfig {
                regularizer: Regularizer::Kl { lambda: 0.4 },
                length_normalize,
                ..base(optimizer)
            };
            let mut run = Run::new(config.clone(), problem).unwrap();
            for t in 0..4u64 {
                let gradient = run.gradient(problem);
                let mut fresh = Run::new(config.clone(), problem).unwrap();
                let (first, second) = run.moments();
                fresh.set_state(run.logits(), first, second, t);
                let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let what = format!("{optimizer:?}, length_normalize {length_normalize}, step {t}");
                assert_eq!(
                    bits(&gradient),
                    bits(&fresh.gradient(problem)),
                    "{what}: a gradient left behind"
                );
                let (first, second) = run.moments();
                let mut want = run.logits().to_vec();
                let (mut want_first, mut want_second) = (first.to_vec(), second.to_vec());
                for (i, &g) in gradient.iter().enumerate() {
                    match optimizer {
                        Optimizer::Sgd { lr, momentum } => {
                            want_first[i] = momentum * want_first[i] + g;
                            want[i] -= lr * want_first[i];
                        }
                        Optimizer::Adam {
                            lr,
                            beta1,
                            beta2,
                            eps,
                        } => {
                            let (step_size, inverse_root) = adam_corrections(lr, beta1, beta2, t);
                            want_first[i] = beta1 * want_first[i] + (1.0 - beta1) * g;
                            want_second[i] = beta2 * want_second[i] + (1.0 - beta2) * g * g;
                            want[i] -= step_size * want_first[i]
                                / (want_second[i].sqrt() * inverse_root + eps);
                        }
                    }
                }
                assert!(gradient.iter().all(|g| *g != 0.0), "{gradient:?}");
                run.step(problem);
                assert_eq!(bits(run.logits()), bits(&want), "{what}: logits");
                assert_eq!(
                    bits(run.moments().0),
                    bits(&want_first),
                    "{what}: first moment"
                );
                assert_eq!(
                    bits(run.moments().1),
                    bits(&want_second),
                    "{what}: second moment"
                );
            }
        }
    }
}

#[test]
fn a_kl_step_that_overflows_on_both_rows_is_refused() {
    // As `reset_clears_divergence`: beta = 1000 and SGD at lr 1e37 make a logit of each prompt's
    // row overflow at the first step; for Adam, beta = 1e30 makes gradients of order 1e29 whose
    // squares overflow the second moment (theta stays finite), and IPO with a margin of 3e38
    // (every margin -3e38, finite) a slope `2 (u - 1/2) / beta^2` that overflows itself, so that
    // the gradient, both moments and theta are all non-finite at once. With the KL regulariser
    // the update checks its rows one by one, and a bad row anywhere (here both) refuses the
    // whole step, moments included.
    let problem = problem();
    let kl = |optimizer, beta| RunConfig {
        beta,
        regularizer: Regularizer::Kl { lambda: 0.1 },
        ..base(optimizer)
    };
    let configs = [
        kl(Optimizer::sgd(1e37), 1000.0),
        kl(Optimizer::adam(0.1), 1e30),
        RunConfig {
            loss: LossKind::Ipo,
            margin: 3e38,
            ..kl(Optimizer::adam(0.1), 0.01)
        },
    ];
    for config in configs {
        let optimizer = config.optimizer;
        let mut run = Run::new(config, &problem).unwrap();
        let before = run.logits().to_vec();
        run.step(&problem);
        assert_eq!(run.diverged_at(), Some(0), "{optimizer:?}");
        assert_eq!(
            run.logits(),
            &before[..],
            "{optimizer:?}: the refused step changed nothing"
        );
        let (first, second) = run.moments();
        assert!(
            first.iter().chain(second).all(|&m| m == 0.0),
            "{optimizer:?}"
        );
        run.step(&problem);
        assert_eq!(run.steps(), 0, "a diverged run does not step");
    }
}

// ---------------------------------------------------------------------------------------------
// Mixout.

/// The mixout mask's uniform draw, transcribed from docs/math.md section 5 and rng.rs's
/// definition (lowbias32 hash of seed, step and index), to check the engine's draw against.
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^= x >> 16;
    x
}

fn uniform(seed: u64, step: u64, index: u32) -> f32 {
    let h = hash32(
        (seed as u32)
            ^ hash32((seed >> 32) as u32 ^ hash32(step as u32 ^ hash32(index ^ 0x9E37_79B9))),
    );
    (h >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// The f64 gradient of the (non-normalised) loss part at `theta` for `config` on [`problem`].
fn loss_gradient(theta: &[f64], config: &RunConfig, problem: &Problem) -> Vec<f64> {
    let k = problem.output_count();
    let log_pi0 = problem.log_reference();
    let total: f64 = problem.pairs().iter().map(|p| p.weight as f64).sum();
    let mut g = vec![0.0; theta.len()];
    for pair in problem.pairs() {
        let (c, r) = (
            pair.prompt * k + pair.chosen,
            pair.prompt * k + pair.rejected,
        );
        let h = theta[c] - theta[r];
        let h0 = config.alpha as f64 * (log_pi0[c] as f64 - log_pi0[r] as f64);
        let u = config.beta as f64 * h - config.gamma as f64 * h0 - config.margin as f64;
        let slope = -1.0 / (1.0 + u.exp()); // logistic
        let gp = pair.weight as f64 / total * slope * config.beta as f64;
        g[c] += gp;
        g[r] -= gp;
    }
    g
}

#[test]
fn mixout_steps_at_the_mixed_logits_with_the_hashed_mask() {
    // The engine's mask draw is the documented hash.
    for (seed, step, index) in [(0u64, 0u64, 0u32), (7, 3, 5), (u64::MAX, 1 << 40, 1234)] {
        assert_eq!(uniform_at(seed, step, index), uniform(seed, step, index));
    }
    let problem = problem();
    let p = 0.5f32;
    // Pick the first seed whose step-0 mask over the five logits the pairs touch keeps some and
    // drops some, so both branches of the mixing matter.
    let touched = [0usize, 1, 2, 5, 7];
    let seed = (0u64..)
        .find(|&s| {
            let kept = touched
                .iter()
                .filter(|&&i| uniform(s, 0, i as u32) >= p)
                .count();
            (2..=3).contains(&kept)
        })
        .unwrap();
    let config = RunConfig {
        regularizer: Regularizer::Mixout { p },
        seed,
        margin: 0.1,
        ..base(Optimizer::sgd(0.5))
    };
    let mut run = Run::new(config.clone(), &problem).unwrap();
    // Start from a state away from the reference so that mixing changes the margins.
    let start: Vec<f32> = vec![0.3, -0.2, 0.1, 0.0, -0.4, 0.25, 0.05, -0.1];
    run.set_logits(&start);
    let log_pi0: Vec<f64> = problem.log_reference().iter().map(|&l| l as f64).collect();
    let mut theta: Vec<f64> = start.iter().map(|&l| l as f64).collect();
    let pp = p as f64;
    for step in 0..3u64 {
        // theta~ = (M theta + (1 - M) theta0 - p theta0) / (1 - p); gradient M / (1 - p) times
        // the loss gradient at theta~ (docs/math.md section 5); SGD lr 0.5 on theta.
        let mask: Vec<f64> = (0..theta.len())
            .map(|i| f64::from(u8::from(uniform(seed, step, i as u32) >= p)))
            .collect();
        let mixed: Vec<f64> = theta
            .iter()
            .zip(&log_pi0)
            .zip(&mask)
            .map(|((&t, &t0), &m)| (m * t + (1.0 - m) * t0 - pp * t0) / (1.0 - pp))
            .collect();
        let g = loss_gradient(&mixed, &config, &problem);
        for i in 0..theta.len() {
            theta[i] -= 0.5 * g[i] * mask[i] / (1.0 - pp);
        }
        run.step(&problem);
        assert_logits(&format!("mixout step {}", step + 1), run.logits(), &theta);
    }
    // A dropped touched logit did not move at step 1 (its mask was 0 at step 0).
    let dropped = touched
        .iter()
        .copied()
        .find(|&i| uniform(seed, 0, i as u32) < p)
        .unwrap();
    let mut once = Run::new(config, &problem).unwrap();
    once.set_logits(&start);
    once.step(&problem);
    assert_eq!(
        once.logits()[dropped],
        start[dropped],
        "a dropped logit gets no gradient"
    );
}

// ---------------------------------------------------------------------------------------------
// Reset, set_state, set_config.

#[test]
fn reset_returns_to_each_init_and_replays_the_same_trajectory() {
    let problem = problem();
    let log_pi0: Vec<f64> = problem.log_reference().iter().map(|&l| l as f64).collect();
    // reference_alpha with alpha = 2 on x0: pi0^2 = (4, 1, 1, 16)/64 -> (4, 1, 1, 16)/22:
    // ln(4/22) = -1.7047481, ln(1/22) = -3.0910425, ln(16/22) = -0.3184537; x1 stays uniform,
    // ln(1/4).
    let alpha2 = [
        (4.0f64 / 22.0).ln(),
        (1.0f64 / 22.0).ln(),
        (1.0f64 / 22.0).ln(),
        (16.0f64 / 22.0).ln(),
        0.25f64.ln(),
        0.25f64.ln(),
        0.25f64.ln(),
        0.25f64.ln(),
    ];
    // alpha = 0: uniform written as -ln K.
    let alpha0 = [-(4.0f64.ln()); 8];
    let cases: Vec<(RunConfig, Option<Vec<f64>>)> = vec![
        (
            RunConfig {
                init: Init::Reference,
                ..base(Optimizer::adam(0.1))
            },
            Some(log_pi0.clone()),
        ),
        (
            RunConfig {
                init: Init::ReferenceAlpha,
                alpha: 2.0,
                ..base(Optimizer::adam(0.1))
            },
            Some(alpha2.to_vec()),
        ),
        (
            RunConfig {
                init: Init::ReferenceAlpha,
                alpha: 0.0,
                ..base(Optimizer::sgd(0.3))
            },
            Some(alpha0.to_vec()),
        ),
        (
            base(Optimizer::Sgd {
                lr: 0.3,
                momentum: 0.5,
            }),
            Some(vec![0.0; 8]),
        ),
        (
            RunConfig {
                init: Init::Random { scale: 0.0 },
                ..base(Optimizer::adam(0.1))
            },
            Some(vec![0.0; 8]),
        ),
        (
            RunConfig {
                init: Init::Random { scale: 2.0 },
                seed: 9,
                batch_size: Some(2),
                ..base(Optimizer::adam(0.1))
            },
            None,
        ),
        (
            RunConfig {
                init: Init::Reference,
                seed: 4,
                regularizer: Regularizer::Mixout { p: 0.3 },
                length_normalize: true,
                ..base(Optimizer::Sgd {
                    lr: 0.3,
                    momentum: 0.9,
                })
            },
            Some(log_pi0.clone()),
        ),
    ];
    for (config, init) in cases {
        let what = format!("{:?} {:?}", config.init, config.optimizer);
        let fresh = Run::new(config.clone(), &problem).unwrap();
        if let Some(init) = &init {
            assert_logits(&format!("{what}: initial logits"), fresh.logits(), init);
        }
        let mut run = fresh.clone();
        let mut reference_trajectory = Vec::new();
        let mut first_metrics = Vec::new();
        for _ in 0..6 {
            first_metrics.push(run.metrics(&problem));
            run.step(&problem);
            reference_trajectory.push(run.logits().to_vec());
        }
        assert_ne!(run.logits(), fresh.logits(), "{what}: the run moved");
        run.reset(&problem);
        assert_eq!(run.steps(), 0, "{what}");
        assert_eq!(run.logits(), fresh.logits(), "{what}: reset logits");
        let (first, second) = run.moments();
        assert!(
            first.iter().all(|&v| v == 0.0),
            "{what}: first moment reset"
        );
        assert!(
            second.iter().all(|&v| v == 0.0),
            "{what}: second moment reset"
        );
        assert_eq!(
            second.len(),
            if matches!(config.optimizer, Optimizer::Adam { .. }) {
                8
            } else {
                0
            },
            "{what}: second moment only for Adam"
        );
        // The same metrics (accumulated table back to zero), the same trajectory bit for bit
        // (the minibatch order and mixout masks replay).
        for (t, want) in reference_trajectory.iter().enumerate() {
            assert_eq!(
                run.metrics(&problem),
                first_metrics[t],
                "{what}: metrics at {t}"
            );
            run.step(&problem);
            assert_eq!(
                run.logits(),
                &want[..],
                "{what}: step {} after reset",
                t + 1
            );
        }
    }
    // Random init: seeded normal draws with the given scale: the same seed, the same logits;
    // another seed, others; scale 2 has spread about 2 (8 draws: loose bounds).
    let random = |seed| {
        Run::new(
            RunConfig {
                init: Init::Random { scale: 2.0 },
                seed,
                ..RunConfig::default()
            },
            &problem,
        )
        .unwrap()
        .logits()
        .to_vec()
    };
    assert_eq!(random(1), random(1));
    assert_ne!(random(1), random(2));
    let spread: f64 = (0..20u64)
        .flat_map(random)
        .map(|l| (l as f64).powi(2))
        .sum::<f64>()
        / 160.0;
    // E[l^2] = 4; 160 draws: the sample mean of chi-square(1)*4 has sd 4 sqrt(2/160) = 0.45.
    assert!((spread - 4.0).abs() < 2.0, "mean square {spread}");
}

#[test]
fn reset_clears_divergence() {
    // beta = 1000, SGD at lr 1e37: the gradient is of order 100 (x1's D: 2/6 * 1/2 * 1000), so the
    // first update makes a logit overflow f32 (1e39), and step 0 is refused.
    let problem = problem();
    let config = RunConfig {
        beta: 1000.0,
        ..base(Optimizer::sgd(1e37))
    };
    let mut run = Run::new(config, &problem).unwrap();
    let before = run.logits().to_vec();
    run.step(&problem);
    assert_eq!(run.diverged_at(), Some(0));
    assert_eq!(
        run.logits(),
        &before[..],
        "the refused step changed nothing"
    );
    assert!(run.metrics(&problem).diverged);
    run.step(&problem);
    assert_eq!(run.steps(), 0, "a diverged run does not step");
    run.reset(&problem);
    assert_eq!(run.diverged_at(), None);
    assert!(!run.metrics(&problem).diverged);
}

/// Ten outputs, one prompt, one pair (0 > 1): two logits active out of ten, so the optimiser
/// takes its sparse path.
fn sparse_problem() -> Problem {
    let outputs = (0..10)
        .map(|y| Output {
            label: format!("o{y}"),
            length: 1.0,
        })
        .collect();
    Problem::new(
        vec!["x".into()],
        outputs,
        &[vec![1.0; 10]],
        vec![Pair {
            prompt: 0,
            chosen: 0,
            rejected: 1,
            weight: 1.0,
        }],
        None,
    )
    .unwrap()
}

#[test]
fn set_state_continues_exactly_as_the_original() {
    let problem = problem();
    for optimizer in [
        Optimizer::adam(0.1),
        Optimizer::Sgd {
            lr: 0.3,
            momentum: 0.9,
        },
    ] {
        let config = base(optimizer);
        let mut original = Run::new(config.clone(), &problem).unwrap();
        for _ in 0..3 {
            original.step(&problem);
        }
        let (first, second) = original.moments();
        let (first, second) = (first.to_vec(), second.to_vec());
        let mut copy = Run::new(config.clone(), &problem).unwrap();
        copy.set_state(original.logits(), &first, &second, 3);
        assert_eq!(copy.steps(), 3);
        assert_eq!(copy.logits(), original.logits());
        let m = copy.metrics(&problem);
        assert_eq!(m.step, 3);
        // The steps were taken elsewhere: no accumulated table.
        assert_eq!(m.accumulated_table, None);
        assert_eq!(m.unlearned_pairs, None);
        for t in 0..4 {
            original.step(&problem);
            copy.step(&problem);
            assert_eq!(copy.logits(), original.logits(), "{optimizer:?} step {t}");
            assert_eq!(copy.moments(), original.moments(), "{optimizer:?} step {t}");
        }
        // The step count matters to Adam (its bias corrections): the same state at step 0 gives
        // another next step.
        if matches!(optimizer, Optimizer::Adam { .. }) {
            let mut at_zero = Run::new(config.clone(), &problem).unwrap();
            let mut at_three = Run::new(config.clone(), &problem).unwrap();
            let logits = original.logits().to_vec();
            let (f, s) = original.moments();
            let (f, s) = (f.to_vec(), s.to_vec());
            at_zero.set_state(&logits, &f, &s, 0);
            at_three.set_state(&logits, &f, &s, 7);
            at_zero.step(&problem);
            at_three.step(&problem);
            assert_ne!(at_zero.logits(), at_three.logits());
        }
    }
}

#[test]
fn set_state_activates_logits_that_carry_optimiser_state() {
    let problem = sparse_problem();
    // Logits with state and no pair: one (the update then touches the active logits only), or
    // eight of ten (it then sweeps every logit, so a logit left out of the active set, or one
    // wrongly put in it, would show only here).
    for stateful in [vec![5], (2..10).collect::<Vec<usize>>()] {
        // Momentum SGD, lr 0.1, momentum 0.5: a logit with velocity 0.4 and no pair moves by
        // -0.1 * (0.5 * 0.4) = -0.02 in one step. The pair's logits: theta = 0, g = -1/2 on logit
        // 0 and +1/2 on 1 (u = 0, phi' = -1/2, beta = 1): v0 = -0.5, v1 = 0.5: logit 0 -> 0.05,
        // 1 -> -0.05.
        let config = RunConfig {
            init: Init::Uniform,
            gamma: 1.0,
            optimizer: Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.5,
            },
            ..RunConfig::default()
        };
        let mut run = Run::new(config, &problem).unwrap();
        let mut velocity = vec![0.0f32; 10];
        let mut want = vec![0.0f64; 10];
        for &i in &stateful {
            velocity[i] = 0.4;
            want[i] = -0.02;
        }
        run.set_state(&[0.0; 10], &velocity, &[], 2);
        run.step(&problem);
        want[0] = 0.05;
        want[1] = -0.05;
        assert_logits("momentum carried by set_state", run.logits(), &want);
        for &i in &stateful {
            assert!((run.moments().0[i] as f64 - 0.2).abs() < 1e-7);
        }
        // Adam: a logit with only a second moment (v = 0.5, m = 0) does not move, but its v
        // decays to beta2 v = 0.4995 (only if it is active).
        let config = RunConfig {
            init: Init::Uniform,
            optimizer: Optimizer::adam(0.1),
            ..RunConfig::default()
        };
        let mut run = Run::new(config, &problem).unwrap();
        let mut second = vec![0.0f32; 10];
        for &i in &stateful {
            second[i] = 0.5;
        }
        run.set_state(&[0.0; 10], &[0.0; 10], &second, 4);
        run.step(&problem);
        for &i in &stateful {
            assert_eq!(run.logits()[i], 0.0);
            assert!(
                (run.moments().1[i] as f64 - 0.4995).abs() < 1e-7,
                "v[{i}] = {}",
                run.moments().1[i]
            );
        }
    }
}

#[test]
fn set_state_clears_divergence() {
    let problem = problem();
    let config = RunConfig {
        beta: 1000.0,
        ..base(Optimizer::sgd(1e37))
    };
    let mut run = Run::new(config, &problem).unwrap();
    run.step(&problem);
    assert_eq!(run.diverged_at(), Some(0));
    run.set_state(&[0.0; 8], &[0.0; 8], &[], 5);
    assert_eq!(run.diverged_at(), None);
    assert!(!run.metrics(&problem).diverged);
    assert_eq!(run.metrics(&problem).diverged_at, None);
}

#[test]
fn set_config_keeps_or_restarts_as_documented() {
    let problem = problem();
    let config = base(Optimizer::adam(0.1));
    let trained = |config: &RunConfig| {
        let mut run = Run::new(config.clone(), &problem).unwrap();
        for _ in 0..3 {
            run.step(&problem);
        }
        run
    };
    // Changes the state survives: the logits, moments and step count stay, and the new settings
    // take effect (the metrics follow the new gamma, margin, beta, alpha, loss).
    let keeps: Vec<(&str, RunConfig)> = vec![
        (
            "lr",
            RunConfig {
                optimizer: Optimizer::adam(0.01),
                ..config.clone()
            },
        ),
        (
            "beta",
            RunConfig {
                beta: 1.0,
                ..config.clone()
            },
        ),
        (
            "gamma",
            RunConfig {
                gamma: 3.0,
                ..config.clone()
            },
        ),
        (
            "margin",
            RunConfig {
                margin: 0.7,
                ..config.clone()
            },
        ),
        (
            "alpha",
            RunConfig {
                alpha: 0.5,
                ..config.clone()
            },
        ),
        (
            "loss",
            RunConfig {
                loss: LossKind::Ipo,
                ..config.clone()
            },
        ),
        (
            "batch",
            RunConfig {
                batch_size: Some(1),
                ..config.clone()
            },
        ),
    ];
    for (what, new) in keeps {
        let mut run = trained(&config);
        let logits = run.logits().to_vec();
        let (f, s) = run.moments();
        let (f, s) = (f.to_vec(), s.to_vec());
        assert_eq!(run.restart_reason(&new), None, "{what}");
        assert_eq!(run.set_config(new.clone(), &problem), Ok(false), "{what}");
        assert_eq!(run.logits(), &logits[..], "{what}");
        assert_eq!(run.moments(), (&f[..], &s[..]), "{what}");
        assert_eq!(run.steps(), 3, "{what}");
        // The same state under the new settings, built fresh: the same metrics (so the per-pair
        // constants were recomputed), apart from the accumulated table.
        let mut fresh = Run::new(new, &problem).unwrap();
        fresh.set_state(&logits, &f, &s, 3);
        let (mut a, mut b) = (run.metrics(&problem), fresh.metrics(&problem));
        a.accumulated_table = None;
        a.unlearned_pairs = None;
        b.accumulated_table = None;
        b.unlearned_pairs = None;
        assert_eq!(a, b, "{what}");
    }
    // Changes it does not: the run restarts from its (new) init.
    let restarts: Vec<(&str, RunConfig)> = vec![
        (
            "init",
            RunConfig {
                init: Init::Reference,
                ..config.clone()
            },
        ),
        (
            "optimizer",
            RunConfig {
                optimizer: Optimizer::sgd(0.1),
                ..config.clone()
            },
        ),
        (
            "seed",
            RunConfig {
                seed: 1,
                ..config.clone()
            },
        ),
        (
            "regularizer",
            RunConfig {
                regularizer: Regularizer::L2 { lambda: 0.1 },
                ..config.clone()
            },
        ),
        (
            "length_normalize",
            RunConfig {
                length_normalize: true,
                ..config.clone()
            },
        ),
    ];
    for (what, new) in restarts {
        let mut run = trained(&config);
        assert_eq!(run.restart_reason(&new), Some(what));
        assert_eq!(run.set_config(new.clone(), &problem), Ok(true), "{what}");
        assert_eq!(run.steps(), 0, "{what}");
        let fresh = Run::new(new, &problem).unwrap();
        assert_eq!(run.logits(), fresh.logits(), "{what}");
        assert_eq!(run.moments(), fresh.moments(), "{what}");
    }
    // An invalid configuration is refused and changes nothing.
    let mut run = trained(&config);
    let logits = run.logits().to_vec();
    let error = run
        .set_config(
            RunConfig {
                beta: 0.0,
                ..config.clone()
            },
            &problem,
        )
        .unwrap_err();
    assert_eq!(error.path, "beta");
    assert_eq!(run.config(), &config);
    assert_eq!(run.logits(), &logits[..]);
    // New settings clear a divergence and the run trains again.
    let diverging = RunConfig {
        beta: 1000.0,
        ..base(Optimizer::sgd(1e37))
    };
    let mut run = Run::new(diverging.clone(), &problem).unwrap();
    run.step(&problem);
    assert_eq!(run.diverged_at(), Some(0));
    assert_eq!(
        run.set_config(
            RunConfig {
                optimizer: Optimizer::sgd(0.5),
                ..diverging
            },
            &problem
        ),
        Ok(false)
    );
    assert_eq!(run.diverged_at(), None);
    run.step(&problem);
    assert_eq!(run.steps(), 1);
}

#[test]
fn validate_accepts_the_boundaries_and_names_what_it_refuses() {
    let ok = RunConfig::default();
    let accepted = [
        RunConfig {
            gamma: 0.0,
            ..ok.clone()
        },
        RunConfig {
            alpha: 0.0,
            ..ok.clone()
        },
        RunConfig {
            margin: -5.0,
            ..ok.clone()
        },
        RunConfig {
            beta: 1e-30,
            ..ok.clone()
        },
        RunConfig {
            init: Init::Random { scale: 0.0 },
            ..ok.clone()
        },
        RunConfig {
            optimizer: Optimizer::Sgd {
                lr: 1e-9,
                momentum: 0.0,
            },
            ..ok.clone()
        },
        RunConfig {
            optimizer: Optimizer::Sgd {
                lr: 1.0,
                momentum: 0.999,
            },
            ..ok.clone()
        },
        RunConfig {
            optimizer: Optimizer::Adam {
                lr: 1.0,
                beta1: 0.0,
                beta2: 0.0,
                eps: 1e-30,
            },
            ..ok.clone()
        },
        RunConfig {
            batch_size: Some(1),
            ..ok.clone()
        },
        RunConfig {
            regularizer: Regularizer::L2 { lambda: 0.0 },
            ..ok.clone()
        },
        RunConfig {
            regularizer: Regularizer::Kl { lambda: 0.0 },
            ..ok.clone()
        },
        RunConfig {
            regularizer: Regularizer::Mixout { p: 0.0 },
            ..ok.clone()
        },
        RunConfig {
            regularizer: Regularizer::Mixout { p: 0.99 },
            ..ok.clone()
        },
    ];
    for config in accepted {
        assert_eq!(config.validate(), Ok(()), "{config:?}");
    }
    let adam = |lr, beta1, beta2, eps| Optimizer::Adam {
        lr,
        beta1,
        beta2,
        eps,
    };
    let refused: Vec<(&str, RunConfig)> = vec![
        (
            "beta",
            RunConfig {
                beta: 0.0,
                ..ok.clone()
            },
        ),
        (
            "beta",
            RunConfig {
                beta: -1.0,
                ..ok.clone()
            },
        ),
        (
            "beta",
            RunConfig {
                beta: f32::INFINITY,
                ..ok.clone()
            },
        ),
        (
            "gamma",
            RunConfig {
                gamma: -1e-9,
                ..ok.clone()
            },
        ),
        (
            "gamma",
            RunConfig {
                gamma: f32::NAN,
                ..ok.clone()
            },
        ),
        (
            "margin",
            RunConfig {
                margin: f32::INFINITY,
                ..ok.clone()
            },
        ),
        (
            "margin",
            RunConfig {
                margin: f32::NAN,
                ..ok.clone()
            },
        ),
        (
            "alpha",
            RunConfig {
                alpha: -0.5,
                ..ok.clone()
            },
        ),
        (
            "alpha",
            RunConfig {
                alpha: f32::INFINITY,
                ..ok.clone()
            },
        ),
        (
            "init.scale",
            RunConfig {
                init: Init::Random { scale: -1.0 },
                ..ok.clone()
            },
        ),
        (
            "init.scale",
            RunConfig {
                init: Init::Random { scale: f32::NAN },
                ..ok.clone()
            },
        ),
        (
            "optimizer.lr",
            RunConfig {
                optimizer: Optimizer::sgd(0.0),
                ..ok.clone()
            },
        ),
        (
            "optimizer.lr",
            RunConfig {
                optimizer: Optimizer::adam(-1.0),
                ..ok.clone()
            },
        ),
        (
            "optimizer.lr",
            RunConfig {
                optimizer: Optimizer::adam(0.0),
                ..ok.clone()
            },
        ),
        (
            "optimizer.lr",
            RunConfig {
                optimizer: Optimizer::adam(f32::INFINITY),
                ..ok.clone()
            },
        ),
        (
            "optimizer.momentum",
            RunConfig {
                optimizer: Optimizer::Sgd {
                    lr: 0.1,
                    momentum: 1.0,
                },
                ..ok.clone()
            },
        ),
        (
            "optimizer.momentum",
            RunConfig {
                optimizer: Optimizer::Sgd {
                    lr: 0.1,
                    momentum: -0.1,
                },
                ..ok.clone()
            },
        ),
        (
            "optimizer.beta1",
            RunConfig {
                optimizer: adam(0.1, 1.0, 0.9, 1e-8),
                ..ok.clone()
            },
        ),
        (
            "optimizer.beta1",
            RunConfig {
                optimizer: adam(0.1, -0.1, 0.9, 1e-8),
                ..ok.clone()
            },
        ),
        (
            "optimizer.beta2",
            RunConfig {
                optimizer: adam(0.1, 0.9, 1.0, 1e-8),
                ..ok.clone()
            },
        ),
        (
            "optimizer.beta2",
            RunConfig {
                optimizer: adam(0.1, 0.9, -0.1, 1e-8),
                ..ok.clone()
            },
        ),
        (
            "optimizer.eps",
            RunConfig {
                optimizer: adam(0.1, 0.9, 0.99, 0.0),
                ..ok.clone()
            },
        ),
        (
            "optimizer.eps",
            RunConfig {
                optimizer: adam(0.1, 0.9, 0.99, f32::NAN),
                ..ok.clone()
            },
        ),
        (
            "batch_size",
            RunConfig {
                batch_size: Some(0),
                ..ok.clone()
            },
        ),
        (
            "regularizer.lambda",
            RunConfig {
                regularizer: Regularizer::L2 { lambda: -0.1 },
                ..ok.clone()
            },
        ),
        (
            "regularizer.lambda",
            RunConfig {
                regularizer: Regularizer::Kl {
                    lambda: f32::INFINITY,
                },
                ..ok.clone()
            },
        ),
        (
            "regularizer.p",
            RunConfig {
                regularizer: Regularizer::Mixout { p: 1.0 },
                ..ok.clone()
            },
        ),
        (
            "regularizer.p",
            RunConfig {
                regularizer: Regularizer::Mixout { p: -0.1 },
                ..ok.clone()
            },
        ),
    ];
    for (path, config) in refused {
        let error = config.validate().unwrap_err();
        assert_eq!(error.path, path, "{config:?}: {}", error.message);
        // And Run::new refuses it the same way.
        assert_eq!(Run::new(config, &problem()).unwrap_err().path, path);
    }
}

// ---------------------------------------------------------------------------------------------
// The predicted table.

#[test]
fn predicted_table_for_each_loss_and_sign() {
    use Prediction::*;
    // The logistic loss and IPO: every cell learns, whatever gamma and m.
    for loss in [LossKind::Logistic, LossKind::Ipo] {
        for (gamma, margin) in [(0.0, 0.0), (0.0, 1.0), (10.0, -1.0), (1.0, 0.5)] {
            let t = predicted_table(&RunConfig {
                loss,
                gamma,
                margin,
                ..RunConfig::default()
            });
            assert_eq!(
                [
                    t.reference_right_policy_right,
                    t.reference_right_policy_wrong,
                    t.reference_wrong_policy_right,
                    t.reference_wrong_policy_wrong
                ],
                [Learns; 4],
                "{loss:?} gamma {gamma} m {margin}"
            );
        }
    }
    // The hinge, docs/math.md section 10's table, cell by cell (rr, rw, wr, ww), with beta = 2
    // so that the large-gamma threshold is gamma >= 5 beta = 10 (not 5):
    //   rr: silent iff gamma = 0 and m <= 0, else some;
    //   rw: learns iff (gamma > 0 and m >= 0) or (gamma = 0 and m > 0), else some;
    //   wr: silent iff m <= 0, else some;
    //   ww: learns iff gamma = 0 and m > 0; else fades iff gamma >= 5 beta; else some.
    let cases: [(f32, f32, [Prediction; 4]); 15] = [
        (0.0, -1.0, [Silent, Some, Silent, Some]),
        (0.0, 0.0, [Silent, Some, Silent, Some]),
        (0.0, 1.0, [Some, Learns, Some, Learns]),
        (1.0, -1.0, [Some, Some, Silent, Some]),
        (1.0, 0.0, [Some, Learns, Silent, Some]),
        (1.0, 1.0, [Some, Learns, Some, Some]),
        (6.0, 0.0, [Some, Learns, Silent, Some]), // 6 >= 5 but < 5 beta = 10
        (9.99, 0.5, [Some, Learns, Some, Some]),
        (10.0, 0.0, [Some, Learns, Silent, Fades]), // exactly 5 beta
        (10.0, -1.0, [Some, Some, Silent, Fades]),
        (10.0, 1.0, [Some, Learns, Some, Fades]),
        (40.0, 0.0, [Some, Learns, Silent, Fades]),
        (1e-6, 0.0, [Some, Learns, Silent, Some]), // any gamma > 0
        (0.0, 1e-6, [Some, Learns, Some, Learns]), // any m > 0
        (0.0, -1e-6, [Silent, Some, Silent, Some]),
    ];
    for (gamma, margin, want) in cases {
        let t = predicted_table(&RunConfig {
            loss: LossKind::Hinge,
            beta: 2.0,
            gamma,
            margin,
            ..RunConfig::default()
        });
        assert_eq!(
            [
                t.reference_right_policy_right,
                t.reference_right_policy_wrong,
                t.reference_wrong_policy_right,
                t.reference_wrong_policy_wrong
            ],
            want,
            "hinge beta 2 gamma {gamma} m {margin}"
        );
    }
    // The note: the large-gamma note from 5 beta on, the gamma = 0 note at 0, and the length
    // normalisation sentence only with length normalisation.
    let note = |gamma: f32, length_normalize: bool| {
        predicted_table(&RunConfig {
            loss: LossKind::Hinge,
            beta: 2.0,
            gamma,
            length_normalize,
            ..RunConfig::default()
        })
        .note
    };
    assert!(note(0.0, false).starts_with("gamma = 0"));
    assert!(note(10.0, false).starts_with("gamma >> beta"));
    assert!(note(9.0, false).starts_with("gamma > 0"));
    assert!(!note(9.0, false).contains("length normalisation"));
    assert!(note(9.0, true).contains("length normalisation"));
    assert!(note(9.0, true).starts_with(&note(9.0, false)));
}

#[test]
fn predicted_learns_and_silent_cells_hold_on_measured_tables() {
    // Each hinge setting of the table above, trained on the rich two-prompt problem from random
    // inits: a `Learns` cell has signal equal to its weight (every pair's |phi'| = 1), a `Silent`
    // cell has none.
    let problem = problem();
    for (gamma, margin) in [
        (0.0, -1.0),
        (0.0, 0.0),
        (0.0, 1.0),
        (1.0, -1.0),
        (1.0, 0.0),
        (1.0, 1.0),
        (10.0, 0.0),
        (10.0, 1.0),
    ] {
        for seed in 0..4 {
            let config = RunConfig {
                loss: LossKind::Hinge,
                beta: 2.0,
                gamma,
                margin,
                init: Init::Random { scale: 1.5 },
                seed,
                optimizer: Optimizer::sgd(0.2),
                ..RunConfig::default()
            };
            let table = predicted_table(&config);
            let predictions = [
                table.reference_right_policy_right,
                table.reference_right_policy_wrong,
                table.reference_wrong_policy_right,
                table.reference_wrong_policy_wrong,
            ];
            let mut run = Run::new(config, &problem).unwrap();
            for _ in 0..10 {
                let m = run.metrics(&problem);
                for (cell, prediction) in m.learning_table.cells().iter().zip(predictions) {
                    match prediction {
                        Prediction::Learns => assert_eq!(cell.signal, cell.weight),
                        Prediction::Silent => assert_eq!(cell.signal, 0.0),
                        _ => {}
                    }
                }
                run.step(&problem);
            }
        }
    }
}
