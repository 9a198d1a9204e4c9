//! Analytic gradients against central finite differences of an independent f64 implementation of
//! the objective (SPEC sections 3 to 6), for every loss, option and regulariser.

use dpo_playground::engine::rng::{uniform_at, SplitMix64};
use dpo_playground::engine::{
    Init, LossKind, Optimizer, Output, Pair, Problem, Regularizer, Run, RunConfig,
};

/// Two prompts, five outputs of different lengths, pairs with weights, on both prompts.
fn problem() -> Problem {
    let lengths = [1.0, 2.0, 3.0, 1.0, 4.0];
    let outputs = lengths
        .iter()
        .enumerate()
        .map(|(y, &length)| Output {
            label: format!("y{y}"),
            length,
        })
        .collect();
    let reference = vec![
        vec![0.3, 0.1, 0.25, 0.2, 0.15],
        vec![0.05, 0.4, 0.1, 0.3, 0.15],
    ];
    let pair = |prompt, chosen, rejected, weight| Pair {
        prompt,
        chosen,
        rejected,
        weight,
    };
    let pairs = vec![
        pair(0, 0, 1, 1.0),
        pair(0, 2, 4, 2.0),
        pair(0, 3, 0, 1.0),
        pair(1, 1, 3, 1.5),
        pair(1, 4, 2, 1.0),
        pair(1, 0, 1, 0.5),
    ];
    Problem::new(
        vec!["p".into(), "q".into()],
        outputs,
        &reference,
        pairs,
        None,
    )
    .unwrap()
}

/// The objective at `theta` in f64, written from the SPEC's formulas and nothing of the engine's
/// but its stored `log pi0` and the mixout mask hash.
fn objective(problem: &Problem, config: &RunConfig, theta: &[f64]) -> f64 {
    let k = problem.output_count();
    let reference: Vec<f64> = problem.log_reference().iter().map(|&l| l as f64).collect();
    let evaluated: Vec<f64> = match config.regularizer {
        Regularizer::Mixout { p } => {
            let p = p as f64;
            theta
                .iter()
                .zip(&reference)
                .enumerate()
                .map(|(i, (&t, &r))| {
                    let mask = if uniform_at(config.seed, 0, i as u32) >= p as f32 {
                        1.0
                    } else {
                        0.0
                    };
                    (mask * t + (1.0 - mask) * r - p * r) / (1.0 - p)
                })
                .collect()
        }
        _ => theta.to_vec(),
    };
    let log_policy = |row: &[f64], y: usize| {
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        row[y] - max - row.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
    };
    let length = |y: usize| {
        if config.length_normalize {
            problem.outputs()[y].length as f64
        } else {
            1.0
        }
    };
    let (beta, gamma, margin, alpha) = (
        config.beta as f64,
        config.gamma as f64,
        config.margin as f64,
        config.alpha as f64,
    );
    let total: f64 = problem.pairs().iter().map(|p| p.weight as f64).sum();
    let mut loss = 0.0;
    for pair in problem.pairs() {
        let row = &evaluated[pair.prompt * k..(pair.prompt + 1) * k];
        let h_pi = log_policy(row, pair.chosen) / length(pair.chosen)
            - log_policy(row, pair.rejected) / length(pair.rejected);
        let h_0 = alpha
            * (reference[pair.prompt * k + pair.chosen]
                - reference[pair.prompt * k + pair.rejected]);
        let u = beta * h_pi - gamma * h_0 - margin;
        let phi = match config.loss {
            LossKind::Logistic => (1.0 + (-u).exp()).ln(),
            LossKind::Hinge => (-u).max(0.0),
            LossKind::Ipo => {
                (h_pi - gamma / beta * h_0 - margin / beta - 1.0 / (2.0 * beta)).powi(2)
            }
        };
        loss += pair.weight as f64 / total * phi;
    }
    match config.regularizer {
        Regularizer::L2 { lambda } => {
            loss += lambda as f64 / 2.0
                * theta
                    .iter()
                    .zip(&reference)
                    .map(|(t, r)| (t - r).powi(2))
                    .sum::<f64>();
        }
        Regularizer::Kl { lambda } => {
            for x in 0..problem.prompt_count() {
                let row = &theta[x * k..(x + 1) * k];
                let kl: f64 = (0..k)
                    .map(|y| log_policy(row, y).exp() * (log_policy(row, y) - reference[x * k + y]))
                    .sum();
                loss += lambda as f64 * kl;
            }
        }
        Regularizer::None | Regularizer::Mixout { .. } => {}
    }
    loss
}

/// Checks one configuration: the engine's gradient at random logits against central finite
/// differences, to 1e-6 of the largest gradient component (the engine computes in f32).
fn check(config: RunConfig) {
    let problem = problem();
    let mut run = Run::new(config.clone(), &problem).unwrap();
    let mut generator = SplitMix64::new(config.seed + 99, 5);
    let logits: Vec<f32> = (0..run.logits().len())
        .map(|_| generator.next_normal() as f32)
        .collect();
    run.set_logits(&logits);
    if config.loss == LossKind::Hinge {
        // Finite differences are only meaningful away from the hinge's kink.
        assert!(
            run.margins(&problem).iter().all(|u| u.abs() > 1e-3),
            "test data sits on a kink: {config:?}"
        );
    }
    let analytic = run.gradient(&problem);
    let theta: Vec<f64> = logits.iter().map(|&l| l as f64).collect();
    let h = 1e-6;
    let numeric: Vec<f64> = (0..theta.len())
        .map(|i| {
            let mut plus = theta.clone();
            let mut minus = theta.clone();
            plus[i] += h;
            minus[i] -= h;
            (objective(&problem, &config, &plus) - objective(&problem, &config, &minus)) / (2.0 * h)
        })
        .collect();
    let largest = numeric.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    // A zero gradient would pass the comparison below whatever the engine computed.
    assert!(
        largest > 1e-3,
        "a gradient of zero checks nothing: largest component {largest} for {config:?}"
    );
    for (i, (&a, &n)) in analytic.iter().zip(&numeric).enumerate() {
        assert!(
            (a as f64 - n).abs() <= 1e-6 * largest,
            "logit {i}: analytic {a} vs numeric {n} (largest {largest}) for {config:?}"
        );
    }
}

#[test]
fn every_loss_option_and_regulariser() {
    let regularizers = [
        Regularizer::None,
        Regularizer::L2 { lambda: 0.3 },
        Regularizer::Kl { lambda: 0.4 },
        Regularizer::Mixout { p: 0.3 },
    ];
    for loss in LossKind::ALL {
        for length_normalize in [false, true] {
            for regularizer in regularizers {
                for (beta, gamma, margin, alpha) in [
                    (1.0, 1.0, 0.0, 1.0),
                    (0.5, 0.0, 0.7, 1.0),
                    (2.0, 0.7, 0.3, 1.7),
                ] {
                    check(RunConfig {
                        name: "check".into(),
                        loss,
                        beta,
                        gamma,
                        margin,
                        alpha,
                        length_normalize,
                        init: Init::Uniform,
                        optimizer: Optimizer::sgd(0.1),
                        batch_size: None,
                        seed: 7,
                        regularizer,
                    });
                }
            }
        }
    }
}
