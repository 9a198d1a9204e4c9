//! Training against hand-computed values: Adam's and momentum SGD's first steps, determinism of
//! seeds, minibatches, and state that survives edits.

use dpo_playground::engine::{
    Init, LossKind, Optimizer, Output, Pair, Problem, Regularizer, Restart, Run, RunConfig, RunSet,
};

/// Two outputs with an equal reference and the single pair A > B: `h_0 = 0`, and with `theta`
/// starting at 0 the logits stay antisymmetric, `theta_A = -theta_B = t`, so `u = 2 t`.
fn one_pair() -> Problem {
    let outputs = vec![
        Output {
            label: "A".into(),
            length: 1.0,
        },
        Output {
            label: "B".into(),
            length: 1.0,
        },
    ];
    let pairs = vec![Pair {
        prompt: 0,
        chosen: 0,
        rejected: 1,
        weight: 1.0,
    }];
    Problem::new(vec!["x".into()], outputs, &[vec![1.0, 1.0]], pairs, None).unwrap()
}

/// Steps a run of `config` on [`one_pair`] and compares `theta_A` after each step with `expected`
/// (computed by hand with the formulas in f64, see the comments at each call).
fn check_trajectory(optimizer: Optimizer, expected: &[f64]) {
    let problem = one_pair();
    let config = RunConfig {
        init: Init::Uniform,
        optimizer,
        ..RunConfig::default()
    };
    let mut run = Run::new(config, &problem).unwrap();
    for (step, &want) in expected.iter().enumerate() {
        run.step(&problem);
        let [a, b] = [run.logits()[0], run.logits()[1]];
        assert!(
            (a as f64 - want).abs() < 2e-6,
            "step {}: theta_A = {a}, expected {want}",
            step + 1
        );
        assert_eq!(a, -b, "antisymmetric");
    }
}

#[test]
fn adam_first_steps() {
    // g_A = -1/(1 + e^{2t}); m = 0.9 m + 0.1 g; v = 0.999 v + 0.001 g^2;
    // t -= (0.1 / (1 - 0.9^k)) m / (sqrt(v) / sqrt(1 - 0.999^k) + 1e-8).
    // Step 1 moves by lr (times 1 - 2e-8); step 2 from g = -1/(1 + e^0.2) = -0.45017.
    check_trajectory(
        Optimizer::adam(0.1),
        &[
            0.09999999800000003,
            0.19958968537360056,
            0.29843787264046995,
        ],
    );
}

#[test]
fn momentum_sgd_first_steps() {
    // buf = 0.9 buf + g; t -= 0.5 buf: t1 = 0.25, t2 = 0.25 + 0.5 (0.45 + 1/(1 + e^0.5)).
    check_trajectory(
        Optimizer::Sgd {
            lr: 0.5,
            momentum: 0.9,
        },
        &[0.25, 0.6637703343990727, 1.1409468645620688],
    );
}

fn scenario_set(
    batch_size: Option<usize>,
    seed: u64,
    regularizer: Regularizer,
    init: Init,
) -> RunSet {
    let outputs = (0..6)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0 + (y % 3) as f32,
        })
        .collect();
    let pairs = (0..12)
        .map(|i| Pair {
            prompt: i % 2,
            chosen: i % 6,
            rejected: (i * 5 + 1) % 6,
            weight: 1.0 + (i % 3) as f32,
        })
        .filter(|p| p.chosen != p.rejected)
        .collect();
    let reference = vec![
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        vec![6.0, 1.0, 1.0, 2.0, 2.0, 3.0],
    ];
    let problem = Problem::new(
        vec!["a".into(), "b".into()],
        outputs,
        &reference,
        pairs,
        None,
    )
    .unwrap();
    let config = RunConfig {
        loss: LossKind::Logistic,
        batch_size,
        seed,
        regularizer,
        init,
        length_normalize: true,
        ..RunConfig::default()
    };
    RunSet::new(problem, vec![config]).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let cases = [
        (Some(3), Regularizer::None, Init::Reference),
        (None, Regularizer::Mixout { p: 0.3 }, Init::Reference),
        (
            Some(4),
            Regularizer::Mixout { p: 0.2 },
            Init::Random { scale: 0.5 },
        ),
    ];
    for (batch_size, regularizer, init) in cases {
        let mut first = scenario_set(batch_size, 5, regularizer, init);
        let mut second = scenario_set(batch_size, 5, regularizer, init);
        let mut other = scenario_set(batch_size, 6, regularizer, init);
        first.step(50);
        second.step(50);
        other.step(50);
        assert_eq!(
            first.runs()[0].logits(),
            second.runs()[0].logits(),
            "{batch_size:?} {regularizer:?}"
        );
        assert_ne!(
            first.runs()[0].logits(),
            other.runs()[0].logits(),
            "the seed matters: {batch_size:?} {regularizer:?}"
        );
    }
}

#[test]
fn minibatches_train_and_differ_from_the_full_batch() {
    let mut full = scenario_set(None, 1, Regularizer::None, Init::Reference);
    let mut mini = scenario_set(Some(5), 1, Regularizer::None, Init::Reference);
    let mut whole = scenario_set(Some(1000), 1, Regularizer::None, Init::Reference);
    full.step(30);
    mini.step(30);
    whole.step(30);
    assert_eq!(
        full.runs()[0].logits(),
        whole.runs()[0].logits(),
        "a batch larger than the data is the full batch"
    );
    assert_ne!(full.runs()[0].logits(), mini.runs()[0].logits());
    assert!(
        mini.metrics()[0].loss
            < scenario_set(Some(5), 1, Regularizer::None, Init::Reference).metrics()[0].loss
    );
}

#[test]
fn regularisers_pull_toward_the_reference() {
    let kl_of = |regularizer| {
        let mut set = scenario_set(None, 0, regularizer, Init::Reference);
        set.step(300);
        set.metrics()[0].kl
    };
    let free = kl_of(Regularizer::None);
    for regularizer in [
        Regularizer::L2 { lambda: 0.5 },
        Regularizer::Kl { lambda: 0.5 },
    ] {
        let kl = kl_of(regularizer);
        assert!(
            kl < 0.8 * free,
            "{regularizer:?}: KL {kl} vs {free} without"
        );
    }
}

#[test]
fn edits_keep_or_reset_state_as_documented() {
    let mut set = scenario_set(None, 0, Regularizer::None, Init::Reference);
    set.step(10);
    let mut config = set.runs()[0].config().clone();
    config.optimizer = Optimizer::adam(0.01);
    config.gamma = 0.5;
    assert!(
        !set.set_config(0, config.clone()).unwrap(),
        "learning rate and gamma apply at once"
    );
    assert_eq!(set.runs()[0].steps(), 10);
    config.init = Init::Uniform;
    assert!(
        set.set_config(0, config.clone()).unwrap(),
        "a new init resets"
    );
    assert_eq!(set.runs()[0].steps(), 0);
    config.beta = -1.0;
    let error = set.set_config(0, config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "runs[0].beta: must be positive and finite, got -1"
    );
    set.step(5);
    let same = set.problem().clone();
    assert!(!set.set_problem(same), "the same shape keeps training");
    assert_eq!(set.runs()[0].steps(), 5);
}

/// `RunSet::apply`, change by change: which runs keep their state, which restart and why.
#[test]
fn applying_an_edit_keeps_or_restarts_each_run_with_its_reason() {
    type Edit = fn(&mut Vec<RunConfig>);
    // What changes, the edit, the runs kept, the runs restarted with their reasons.
    type Row = (
        &'static str,
        Edit,
        &'static [usize],
        &'static [(usize, Restart)],
    );
    let base = scenario_set(None, 0, Regularizer::None, Init::Reference);
    let first = base.runs()[0].config().clone();
    let two = vec![
        first.clone(),
        RunConfig {
            name: "second".into(),
            ..first.clone()
        },
    ];
    let table: [Row; 9] = [
        ("nothing", |_| {}, &[0, 1], &[]),
        (
            "the learning rate",
            |r| r[0].optimizer = Optimizer::adam(0.3),
            &[0, 1],
            &[],
        ),
        (
            "beta, gamma, margin, loss",
            |r| {
                r[1].beta = 0.5;
                r[1].gamma = 0.0;
                r[1].margin = 0.2;
                r[1].loss = LossKind::Hinge;
            },
            &[0, 1],
            &[],
        ),
        (
            "the batch size",
            |r| r[0].batch_size = Some(3),
            &[0, 1],
            &[],
        ),
        (
            "the seed",
            |r| r[1].seed = 5,
            &[0],
            &[(1, Restart::Setting("seed"))],
        ),
        (
            "the init",
            |r| r[0].init = Init::Uniform,
            &[1],
            &[(0, Restart::Setting("init"))],
        ),
        (
            "the optimiser's kind",
            |r| r[0].optimizer = Optimizer::sgd(0.01),
            &[1],
            &[(0, Restart::Setting("optimizer"))],
        ),
        (
            "a new run",
            |r| {
                r.push(RunConfig {
                    name: "third".into(),
                    ..r[0].clone()
                })
            },
            &[0, 1],
            &[(2, Restart::NewRun)],
        ),
        (
            "one run fewer",
            |r| {
                r.pop();
            },
            &[0],
            &[],
        ),
    ];
    for (change, edit, kept, restarted) in table {
        let mut set = base.clone();
        set.apply(None, &two).unwrap();
        set.step(7);
        let mut configs = two.clone();
        edit(&mut configs);
        let applied = set.apply(None, &configs).unwrap();
        assert_eq!(applied.kept, kept, "{change}: kept");
        assert_eq!(applied.restarted, restarted, "{change}: restarted");
        let restarted_runs: Vec<usize> = restarted.iter().map(|&(run, _)| run).collect();
        assert_eq!(applied.restarted_runs(), restarted_runs, "{change}");
        assert!(!applied.new_data, "{change}");
        assert_eq!(set.runs().len(), configs.len(), "{change}");
        for &run in kept {
            assert_eq!(
                set.runs()[run].steps(),
                7,
                "{change}: run {run} kept its steps"
            );
            assert_eq!(
                set.runs()[run].config(),
                &configs[run],
                "{change}: run {run}'s settings"
            );
        }
        for &(run, _) in restarted {
            assert_eq!(set.runs()[run].steps(), 0, "{change}: run {run} restarted");
        }
        assert_eq!(
            applied.removed,
            (configs.len()..2).collect::<Vec<_>>(),
            "{change}"
        );
    }

    // A diverged run stays diverged when its settings come back unchanged (the page applies every
    // run's settings at each edit): only a change of its own settings gives it another chance.
    let ipo = RunConfig {
        loss: LossKind::Ipo,
        optimizer: Optimizer::sgd(1e30),
        ..RunConfig::default()
    };
    let mut set = RunSet::new(one_pair(), vec![ipo.clone(), RunConfig::default()]).unwrap();
    set.step(8);
    let at = set.runs()[0]
        .diverged_at()
        .expect("IPO with lr 1e30 diverges");
    assert_eq!(set.runs()[1].diverged_at(), None);
    let applied = set
        .apply(None, &[ipo.clone(), RunConfig::default()])
        .unwrap();
    assert_eq!(applied.kept, [0, 1]);
    assert_eq!(set.runs()[0].diverged_at(), Some(at), "unchanged settings");
    let calmer = RunConfig {
        optimizer: Optimizer::sgd(0.1),
        ..ipo
    };
    set.apply(None, &[calmer, RunConfig::default()]).unwrap();
    assert_eq!(set.runs()[0].diverged_at(), None, "new settings");

    // New data of the same shape keeps every run's state; another shape restarts them all.
    let mut set = base.clone();
    set.apply(None, &two).unwrap();
    set.step(4);
    let applied = set.apply(Some(base.problem().clone()), &two).unwrap();
    assert!(applied.new_data && !applied.reshaped());
    assert_eq!(applied.kept, [0, 1]);
    assert_eq!(set.runs()[1].steps(), 4);
    let smaller = Problem::new(
        vec!["a".into()],
        base.problem().outputs().to_vec(),
        &[vec![1.0; 6]],
        vec![Pair {
            prompt: 0,
            chosen: 0,
            rejected: 1,
            weight: 1.0,
        }],
        None,
    )
    .unwrap();
    let applied = set.apply(Some(smaller), &two).unwrap();
    assert!(applied.reshaped() && applied.kept.is_empty());
    assert_eq!(
        applied.restarted,
        [(0, Restart::NewShape), (1, Restart::NewShape)]
    );
    assert!(set.runs().iter().all(|run| run.steps() == 0));

    // An invalid run anywhere is an error naming it, and nothing changes.
    let mut set = base.clone();
    set.apply(None, &two).unwrap();
    set.step(3);
    let mut bad = two.clone();
    bad[0].optimizer = Optimizer::adam(0.2);
    bad[1].beta = f32::NAN;
    let error = set.apply(None, &bad).unwrap_err();
    assert!(error.to_string().starts_with("runs[1].beta:"), "{error}");
    assert_eq!(set.runs()[0].config(), &two[0], "run 0 was not changed");
    assert!(set.runs().iter().all(|run| run.steps() == 3));
}

#[test]
fn extreme_logits_stay_finite() {
    let problem = one_pair();
    let config = RunConfig {
        optimizer: Optimizer::sgd(1e6),
        ..RunConfig::default()
    };
    let mut run = Run::new(config, &problem).unwrap();
    for _ in 0..50 {
        run.step(&problem);
    }
    let metrics = run.metrics(&problem);
    assert!(
        run.logits().iter().all(|l| l.is_finite()),
        "{:?}",
        run.logits()
    );
    assert!(
        metrics.loss.is_finite() && metrics.kl.is_finite() && metrics.entropy.is_finite(),
        "{metrics:?}"
    );
}

/// One prompt, 1000 outputs of lengths `1 + y mod lengths`, a reference of weights
/// `1 + y mod 7`, and three pairs naming five of the logits (3, 700, 999, 10, 11).
fn few_pairs(lengths: usize) -> Problem {
    let outputs: Vec<Output> = (0..1000)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0 + (y % lengths) as f32,
        })
        .collect();
    let pair = |chosen, rejected, weight| Pair {
        prompt: 0,
        chosen,
        rejected,
        weight,
    };
    let pairs = vec![pair(3, 700, 1.0), pair(999, 3, 2.0), pair(10, 11, 1.0)];
    let reference = vec![(0..1000).map(|y| 1.0 + (y % 7) as f64).collect::<Vec<_>>()];
    Problem::new(vec!["x".into()], outputs, &reference, pairs, None).unwrap()
}

/// Trains `config` (Adam, lr 0.05) for 40 steps on `problem`, and replays the same gradients
/// (`Run::gradient` at each step's logits) through a dense Adam over every logit, written here.
/// Returns the initial logits, the engine's and the replay's.
fn train_beside_dense_adam(problem: &Problem, config: RunConfig) -> [Vec<f32>; 3] {
    let mut run = Run::new(config.clone(), problem).unwrap();
    let mut probe = Run::new(config, problem).unwrap();
    let initial = run.logits().to_vec();
    let n = initial.len();
    let mut theta = initial.clone();
    let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
    for t in 1..=40 {
        probe.set_logits(&theta);
        let gradient = probe.gradient(problem);
        let correction1 = 1.0 - 0.9f64.powi(t);
        let correction2 = 1.0 - 0.999f64.powi(t);
        for i in 0..n {
            m[i] = 0.9 * m[i] + 0.1 * gradient[i];
            v[i] = 0.999 * v[i] + 0.001 * gradient[i] * gradient[i];
            theta[i] -= (0.05 / correction1) as f32 * m[i]
                / (v[i].sqrt() * (1.0 / correction2.sqrt()) as f32 + 1e-8);
        }
        run.step(problem);
    }
    [initial, run.logits().to_vec(), theta]
}

#[test]
fn updating_only_touched_logits_equals_the_full_adam_update() {
    // Many outputs, few pairs: the engine updates only the logits the pairs touch. Replay the same
    // gradients through a dense Adam over every logit and compare.
    let config = RunConfig {
        init: Init::Random { scale: 1.0 },
        optimizer: Optimizer::adam(0.05),
        ..RunConfig::default()
    };
    let [initial, sparse, theta] = train_beside_dense_adam(&few_pairs(1), config);
    let touched = [3, 700, 999, 10, 11];
    for i in 0..1000 {
        if touched.contains(&i) {
            assert!(
                (sparse[i] - theta[i]).abs() < 1e-6,
                "logit {i}: {} vs {}",
                sparse[i],
                theta[i]
            );
            assert_ne!(sparse[i], initial[i], "logit {i} trained");
        } else {
            assert_eq!(
                theta[i].to_bits(),
                initial[i].to_bits(),
                "dense Adam leaves untouched logit {i} exactly"
            );
            assert_eq!(sparse[i].to_bits(), initial[i].to_bits());
        }
    }
}

#[test]
fn a_dense_term_moves_the_logits_no_pair_names() {
    // The KL and L2 regularisers and length normalisation's `pi` terms have a gradient on every
    // logit: the engine must update all of them every step, although its pairs name 5 of 1000
    // (too few for the update to sweep every logit on its own account).
    for (lengths, regularizer) in [
        (1, Regularizer::Kl { lambda: 0.5 }),
        (1, Regularizer::L2 { lambda: 0.5 }),
        (3, Regularizer::None),
    ] {
        let config = RunConfig {
            init: Init::Random { scale: 1.0 },
            optimizer: Optimizer::adam(0.05),
            length_normalize: lengths > 1,
            regularizer,
            ..RunConfig::default()
        };
        let case = format!("{regularizer:?}, length_normalize {}", lengths > 1);
        let [initial, engine, dense] = train_beside_dense_adam(&few_pairs(lengths), config);
        for i in 0..1000 {
            assert_ne!(engine[i], initial[i], "{case}: logit {i} did not move");
            assert!(
                (engine[i] - dense[i]).abs() < 1e-5,
                "{case}: logit {i}: {} vs {} by a dense Adam",
                engine[i],
                dense[i]
            );
        }
    }
}

/// A problem with `outputs` outputs, a uniform reference and the pairs `(0 > 1)`, `(1 > 2)`.
fn chain(outputs: usize, reference: Vec<f64>) -> Problem {
    let labels = (0..outputs)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0,
        })
        .collect();
    let pairs = (0..2)
        .map(|i| Pair {
            prompt: 0,
            chosen: i,
            rejected: i + 1,
            weight: 1.0,
        })
        .collect();
    Problem::new(vec!["x".into()], labels, &[reference], pairs, None).unwrap()
}

/// Trains `config` on `problem` until it diverges (within `limit` steps); checks that it stopped
/// with the exact state of a fresh run trained `diverged_at` steps, finite, and that it no longer
/// moves. Returns the step at which it diverged.
fn check_divergence(config: RunConfig, problem: &Problem, limit: usize) -> u64 {
    let mut run = Run::new(config.clone(), problem).unwrap();
    assert_eq!(run.diverged_at(), None);
    for _ in 0..limit {
        run.step(problem);
    }
    let at = run
        .diverged_at()
        .unwrap_or_else(|| panic!("{config:?} did not diverge: {:?}", run.logits()));
    let metrics = run.metrics(problem);
    assert!(metrics.diverged);
    assert_eq!(metrics.diverged_at, Some(at));
    // Stopped, its state finite: `diverged` says so from `diverged_at` alone.
    assert!(run.diverged(problem));
    assert_eq!(run.steps(), at, "the refused step is not counted");
    assert!(
        run.logits().iter().all(|l| l.is_finite()),
        "{:?}",
        run.logits()
    );
    // The state is bit for bit the one a run stopped by hand after `at` steps has.
    let mut reference = Run::new(config, problem).unwrap();
    for _ in 0..at {
        reference.step(problem);
    }
    assert_eq!(reference.diverged_at(), None);
    let bits = |run: &Run| {
        let (first, second) = run.moments();
        let all: Vec<u32> = run
            .logits()
            .iter()
            .chain(first)
            .chain(second)
            .map(|x| x.to_bits())
            .collect();
        all
    };
    assert_eq!(bits(&run), bits(&reference));
    // A diverged run stays where it is.
    let before = bits(&run);
    run.step(problem);
    assert_eq!(bits(&run), before);
    assert_eq!(run.diverged_at(), Some(at));
    // A reset trains again.
    run.reset(problem);
    assert_eq!(run.diverged_at(), None);
    at
}

#[test]
fn a_state_read_back_with_a_non_finite_logit_or_margin_counts_as_diverged() {
    // A backend that does not stop runs (the GPU's) hands back whatever it computed: `diverged`
    // looks at the logits and the margins themselves, with `diverged_at` still `None`.
    let problem = chain(4, vec![1.0; 4]);
    let mut run = Run::new(RunConfig::default(), &problem).unwrap();
    run.step(&problem);
    assert!(!run.diverged(&problem));
    let finite = run.logits().to_vec();
    // A non-finite logit that no pair names: the margins stay finite.
    let mut logits = finite.clone();
    logits[3] = f32::NAN;
    run.set_logits(&logits);
    assert!(run.diverged(&problem));
    // Finite logits whose margin is not: beta (theta_0 - theta_1) overflows f32.
    let mut logits = finite.clone();
    logits[0] = f32::MAX;
    logits[1] = -f32::MAX;
    run.set_logits(&logits);
    assert!(logits.iter().all(|l| l.is_finite()));
    assert!(run.diverged(&problem));
    run.set_logits(&finite);
    assert!(!run.diverged(&problem));
    assert_eq!(run.diverged_at(), None);
}

#[test]
fn next_batch_draws_the_batches_a_step_would_train_on() {
    // The GPU backend draws each step's minibatch from the run's host copy with `next_batch`:
    // it must advance the order as `step` does, give `None` for the full batch (also when the
    // batch size is the number of pairs or more), and cover every pair once per epoch.
    let problem = few_pairs(1);
    let pairs = problem.pairs().len();
    for size in [pairs, pairs + 1] {
        let config = RunConfig {
            batch_size: Some(size),
            ..RunConfig::default()
        };
        let mut run = Run::new(config, &problem).unwrap();
        assert_eq!(run.next_batch(), None, "batch size {size} of {pairs} pairs");
    }
    let config = RunConfig {
        batch_size: Some(1),
        ..RunConfig::default()
    };
    let mut drawn = Run::new(config.clone(), &problem).unwrap();
    let mut stepped = Run::new(config, &problem).unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        for _ in 0..pairs {
            let batch = drawn.next_batch().expect("a minibatch").to_vec();
            assert_eq!(batch.len(), 1);
            seen.extend(batch);
            stepped.step(&problem);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..pairs as u32).collect::<Vec<_>>(), "one epoch");
        seen.clear();
    }
    // After the same number of draws, the same next batch.
    assert_eq!(drawn.next_batch(), stepped.next_batch());
}

#[test]
fn divergence_stops_the_run_before_the_step_that_overflows() {
    // IPO pulls the margin to a target, so a huge SGD step overshoots further each time until a
    // margin overflows: the run stops before the step whose margins are not finite.
    let ipo = RunConfig {
        loss: LossKind::Ipo,
        optimizer: Optimizer::sgd(1e30),
        ..RunConfig::default()
    };
    let at = check_divergence(ipo.clone(), &one_pair(), 8);
    assert!(at >= 1, "the first steps are finite, got {at}");
    // The same on SGD's sparse update (3 active logits among 100): the overflow is caught there
    // too, and taken back.
    let at = check_divergence(ipo, &chain(100, vec![1.0; 100]), 8);
    assert!(at >= 1, "the first steps are finite, got {at}");
    // Adam's first step with lr 3e38 is lr / (1 - beta1) = 3e39: the update itself overflows, on
    // the contiguous sweep (2 outputs, every logit active)...
    let adam = RunConfig {
        loss: LossKind::Hinge,
        init: Init::Uniform,
        optimizer: Optimizer::adam(3e38),
        ..RunConfig::default()
    };
    assert_eq!(check_divergence(adam.clone(), &one_pair(), 3), 0);
    // With beta = 1e22 the second moment overflows too ((1 - beta2) * g * g with g = beta / 2):
    // the logit (inf * m / inf) and the moment stop being finite in the same step, and the step
    // is still refused.
    let both = RunConfig {
        loss: LossKind::Logistic,
        beta: 1e22,
        gamma: 1e22,
        ..adam.clone()
    };
    assert_eq!(check_divergence(both.clone(), &one_pair(), 3), 0);
    // ...and on the sparse update of a few active logits among many, both cases. The second
    // with gamma = 0, so that every margin is 0 and every active logit gets a gradient of size
    // beta / 8 or more: each one's logit and moment overflow together (a logit with no gradient
    // would go to NaN alone, inf * 0, and make the step refused on its own account).
    assert_eq!(check_divergence(adam, &chain(100, vec![1.0; 100]), 3), 0);
    let both_sparse = RunConfig { gamma: 0.0, ..both };
    assert_eq!(check_divergence(both_sparse, &few_pairs(1), 3), 0);
    // gamma * h_0 overflows f32 while the logits are finite: the margins are not finite at step 0.
    let mut reference = vec![1.0; 3];
    reference[0] = 1.0;
    reference[1] = 8.0;
    let gamma = RunConfig {
        gamma: 1.7e38,
        ..RunConfig::default()
    };
    assert_eq!(
        check_divergence(gamma.clone(), &chain(3, reference.clone()), 2),
        0
    );
    // With length normalisation the margins are checked in the other loop.
    let normalized = RunConfig {
        length_normalize: true,
        ..gamma
    };
    assert_eq!(
        check_divergence(normalized, &chain(3, reference.clone()), 2),
        0
    );
    // Its metrics say so before any step: a margin is not finite at the initial state.
    let problem = chain(3, reference);
    let run = Run::new(gamma_run(), &problem).unwrap();
    assert!(run.metrics(&problem).diverged && run.diverged(&problem));
    assert_eq!(run.metrics(&problem).diverged_at, None);
}

fn gamma_run() -> RunConfig {
    RunConfig {
        gamma: 1.7e38,
        ..RunConfig::default()
    }
}

#[test]
fn a_new_configuration_lets_a_diverged_run_train_again() {
    let problem = one_pair();
    let mut run = Run::new(
        RunConfig {
            init: Init::Uniform,
            optimizer: Optimizer::adam(3e38),
            ..RunConfig::default()
        },
        &problem,
    )
    .unwrap();
    run.step(&problem);
    assert_eq!(run.diverged_at(), Some(0));
    // A sane learning rate keeps the (finite) state and trains on.
    run.set_config(
        RunConfig {
            init: Init::Uniform,
            optimizer: Optimizer::adam(0.1),
            ..RunConfig::default()
        },
        &problem,
    )
    .unwrap();
    assert_eq!(run.diverged_at(), None);
    run.step(&problem);
    assert_eq!((run.steps(), run.diverged_at()), (1, None));
    assert!(run.logits()[0] > 0.0, "{:?}", run.logits());
}

/// The accumulated learning table of a full-batch run is the sum of the tables of the states it
/// stepped from: checked for every loss, with and without length normalisation, from a random
/// start (so every cell holds pairs), against the per-step tables `Run::metrics` computes in f64.
#[test]
fn the_accumulated_table_sums_the_signal_of_every_step() {
    for loss in [LossKind::Logistic, LossKind::Hinge, LossKind::Ipo] {
        for length_normalize in [false, true] {
            let mut set = scenario_set(None, 3, Regularizer::None, Init::Random { scale: 1.0 });
            let problem = set.problem().clone();
            let config = RunConfig {
                loss,
                length_normalize,
                gamma: 2.0,
                ..set.runs()[0].config().clone()
            };
            set.set_config(0, config).unwrap();
            let mut expected = [0.0f64; 4];
            let mut ever = [
                std::collections::BTreeSet::new(),
                Default::default(),
                Default::default(),
                Default::default(),
            ];
            for _ in 0..40 {
                let run = &set.runs()[0];
                let now = run.metrics(&problem).learning_table;
                for (c, cell) in now.cells().iter().enumerate() {
                    expected[c] += cell.signal;
                }
                // Which pairs have signal in which cell, from their margins.
                let margins = run.margins(&problem);
                for (p, &u) in margins.iter().enumerate() {
                    let slope = loss.derivative_f64(u as f64, run.config().beta as f64);
                    if slope != 0.0 {
                        let reference_right = run.reference_log_ratios()[p] > 0.0;
                        let policy_right = u + run.thresholds()[p] > 0.0;
                        ever[usize::from(!reference_right) * 2 + usize::from(!policy_right)]
                            .insert(p);
                    }
                }
                set.step(1);
            }
            let accumulated = set.runs()[0].metrics(&problem).accumulated_table.unwrap();
            let total: f64 = expected.iter().sum();
            assert!(total > 0.0);
            for (c, cell) in accumulated.cells().iter().enumerate() {
                assert!(
                    (cell.signal - expected[c]).abs() <= 1e-5 * total,
                    "{loss:?}, normalised {length_normalize}, cell {c}: {} vs {}",
                    cell.signal,
                    expected[c]
                );
                assert!((cell.share - expected[c] / total).abs() < 1e-5);
                if length_normalize {
                    // u + offset rounds; the counts are checked exactly below without it.
                    continue;
                }
                assert_eq!(cell.pairs, ever[c].len(), "{loss:?} cell {c}");
            }
        }
    }
}

/// The accumulated table starts over with the run, counts only steps taken (not one refused as
/// divergent), follows a minibatch's pairs, and is not reported for a state set from outside.
#[test]
fn the_accumulated_table_follows_the_steps_taken() {
    let mut set = scenario_set(Some(1), 5, Regularizer::None, Init::Uniform);
    let problem = set.problem().clone();
    let pairs = problem.pairs().len();
    let at_start = set.runs()[0].metrics(&problem).accumulated_table.unwrap();
    assert!(at_start
        .cells()
        .iter()
        .all(|c| c.signal == 0.0 && c.pairs == 0));
    // One pair per step: after one step exactly one pair has had signal.
    set.step(1);
    let one = set.runs()[0].metrics(&problem).accumulated_table.unwrap();
    assert_eq!(one.cells().iter().map(|c| c.pairs).sum::<usize>(), 1);
    // After a whole epoch every pair has (the logistic loss gives every pair signal).
    set.step(pairs as u64 - 1);
    let epoch = set.runs()[0].metrics(&problem).accumulated_table.unwrap();
    assert!(epoch.cells().iter().map(|c| c.pairs).sum::<usize>() >= pairs);
    set.reset();
    let reset = set.runs()[0].metrics(&problem).accumulated_table.unwrap();
    assert!(reset
        .cells()
        .iter()
        .all(|c| c.signal == 0.0 && c.pairs == 0));
    // A state from another backend: the steps it stands for were not seen here.
    let mut run = set.runs()[0].clone();
    let logits = run.logits().to_vec();
    let (first, second) = (run.moments().0.to_vec(), run.moments().1.to_vec());
    run.set_state(&logits, &first, &second, 7);
    assert!(run.metrics(&problem).accumulated_table.is_none());
    run.reset(&problem);
    assert!(run.metrics(&problem).accumulated_table.is_some());
    // A refused step adds nothing.
    // (Adam's first update with lr 3e38 overflows after the margins and their signal were
    // computed.)
    let config = RunConfig {
        loss: LossKind::Hinge,
        init: Init::Uniform,
        optimizer: Optimizer::adam(3e38),
        ..RunConfig::default()
    };
    let problem = one_pair();
    let mut run = Run::new(config, &problem).unwrap();
    run.step(&problem);
    assert_eq!(run.diverged_at(), Some(0));
    let table = run.metrics(&problem).accumulated_table.unwrap();
    assert!(
        table
            .cells()
            .iter()
            .all(|c| c.signal == 0.0 && c.pairs == 0),
        "{table:?}"
    );
}

/// The page's other run-set edits: a run added at step 0 (a bad one refused with its path), and
/// one removed by index (an index past the end changes nothing).
#[test]
fn runs_are_pushed_and_removed_from_a_set() {
    let config = |lr| RunConfig {
        optimizer: Optimizer::sgd(lr),
        ..RunConfig::default()
    };
    let mut set = RunSet::new(one_pair(), vec![config(0.1), config(0.2)]).unwrap();
    set.step(3);
    set.push(config(0.3)).unwrap();
    let lrs = |set: &RunSet| -> Vec<String> {
        set.runs()
            .iter()
            .map(|run| format!("{:?}", run.config().optimizer))
            .collect()
    };
    assert_eq!(set.runs().len(), 3);
    assert_eq!(set.runs()[2].steps(), 0);
    let error = set.push(config(-1.0)).unwrap_err();
    assert_eq!(error.path, "runs[3].optimizer.lr");
    assert_eq!(set.runs().len(), 3);
    let before = lrs(&set);
    set.remove(3);
    assert_eq!(lrs(&set), before, "no run 3: nothing removed");
    set.remove(0);
    assert_eq!(lrs(&set), before[1..]);
    assert_eq!(set.runs()[0].steps(), 3);
}
