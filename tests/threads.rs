//! A run set trained on several threads gives bit for bit what one thread gives: the runs share
//! nothing but the read-only problem, so the thread count may change the speed and nothing else.

use dpo_playground::engine::{
    Init, LossKind, Optimizer, Output, Pair, Problem, Regularizer, RunConfig, RunSet,
};

/// Three prompts, 30 outputs of different lengths, 40 pairs with uneven weights, all drawn from a
/// fixed little generator so that the test needs no preset.
fn problem() -> Problem {
    let outputs: Vec<Output> = (0..30)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0 + (y % 5) as f32,
        })
        .collect();
    let reference: Vec<Vec<f64>> = (0..3)
        .map(|x| {
            (0..30)
                .map(|y| 0.05 + ((x * 31 + y * 17) % 23) as f64 / 23.0)
                .collect()
        })
        .collect();
    let pairs = (0..40)
        .map(|i| {
            let chosen = (i * 7) % 30;
            Pair {
                prompt: i % 3,
                chosen,
                rejected: (chosen + 1 + (i * 11) % 29) % 30,
                weight: 0.5 + (i % 4) as f32,
            }
        })
        .collect();
    let prompts = (0..3).map(|x| format!("x{x}")).collect();
    Problem::new(prompts, outputs, &reference, pairs, None).unwrap()
}

/// 24 runs that exercise every per-run random and stateful path: random inits, minibatches,
/// mixout masks, length normalisation, the regularisers, Adam and SGD with and without momentum.
fn configs() -> Vec<RunConfig> {
    (0..24u64)
        .map(|i| RunConfig {
            name: format!("run {i}"),
            loss: [LossKind::Logistic, LossKind::Hinge, LossKind::Ipo][i as usize % 3],
            beta: 0.5 + i as f32 * 0.1,
            gamma: (i % 4) as f32 * 0.5,
            margin: (i % 2) as f32 * 0.3,
            length_normalize: i % 5 == 0,
            init: if i % 2 == 0 {
                Init::Random { scale: 0.3 }
            } else {
                Init::Reference
            },
            optimizer: match i % 3 {
                0 => Optimizer::adam(0.05),
                1 => Optimizer::sgd(0.5),
                _ => Optimizer::Sgd {
                    lr: 0.2,
                    momentum: 0.9,
                },
            },
            batch_size: (i % 3 == 1).then_some(7),
            seed: 1000 + i,
            regularizer: match i % 4 {
                0 => Regularizer::None,
                1 => Regularizer::L2 { lambda: 0.01 },
                2 => Regularizer::Kl { lambda: 0.05 },
                _ => Regularizer::Mixout { p: 0.2 },
            },
            ..RunConfig::default()
        })
        .collect()
}

/// Trains the set for 300 steps in a pool of `threads` threads; every run's logits as bits, and
/// its metrics as JSON (which spells out every field).
fn train(threads: usize) -> (Vec<Vec<u32>>, String) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut set = RunSet::new(problem(), configs()).unwrap();
        // 24 runs x (40 pairs + 90 logits) x 100 steps: above the set's threshold for threads.
        for _ in 0..3 {
            set.step(100);
        }
        let logits = set
            .runs()
            .iter()
            .map(|run| run.logits().iter().map(|l| l.to_bits()).collect())
            .collect();
        (logits, serde_json::to_string(&set.metrics()).unwrap())
    })
}

#[test]
fn thread_count_changes_no_bit() {
    let (one_logits, one_metrics) = train(1);
    // The runs moved (so equality below is not that of untouched starting points).
    let start = RunSet::new(problem(), configs()).unwrap();
    let moved = start
        .runs()
        .iter()
        .zip(&one_logits)
        .filter(|(run, bits)| {
            run.logits()
                .iter()
                .zip(bits.iter())
                .any(|(l, &b)| l.to_bits() != b)
        })
        .count();
    assert!(moved >= 20, "only {moved} of 24 runs moved in 300 steps");
    for threads in [2, 3, 8] {
        let (logits, metrics) = train(threads);
        for (run, (a, b)) in one_logits.iter().zip(&logits).enumerate() {
            assert_eq!(a, b, "run {run}'s logits differ with {threads} threads");
        }
        assert_eq!(
            one_metrics, metrics,
            "metrics differ with {threads} threads"
        );
    }
}

/// `count` outputs `y0, y1, ...` of length 1, for the large runs below.
fn unit_length_outputs(count: usize) -> Vec<Output> {
    (0..count)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0,
        })
        .collect()
}

/// Runs large enough that one run's KL update shares its rows among the threads (at least 2^16
/// logits: 4 prompts of 20000 outputs), trained in a pool of `threads` threads: one run alone,
/// then two (the rows handed out from inside the set's own tasks), SGD and Adam. Each run's
/// logits as bits, and after each set its metrics as JSON (as bytes).
fn train_large(threads: usize) -> Vec<Vec<u32>> {
    const OUTPUTS: usize = 20_000;
    let outputs = unit_length_outputs(OUTPUTS);
    let reference: Vec<Vec<f64>> = (0..4)
        .map(|x| {
            (0..OUTPUTS)
                .map(|y| 0.1 + ((x * 7 + y * 13) % 101) as f64 / 101.0)
                .collect()
        })
        .collect();
    let pairs = (0..300)
        .map(|i| Pair {
            prompt: i % 4,
            chosen: (i * 37) % OUTPUTS,
            rejected: (i * 53 + 11) % OUTPUTS,
            weight: 1.0 + (i % 3) as f32,
        })
        .collect();
    let prompts = (0..4).map(|x| format!("x{x}")).collect();
    let problem = Problem::new(prompts, outputs, &reference, pairs, None).unwrap();
    let config = |i: u64, optimizer| RunConfig {
        name: format!("run {i}"),
        init: Init::Random { scale: 0.5 },
        seed: 7 + i,
        optimizer,
        regularizer: Regularizer::Kl { lambda: 0.3 },
        ..RunConfig::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let sets = [
            vec![config(0, Optimizer::adam(0.05))],
            vec![
                config(1, Optimizer::adam(0.05)),
                config(
                    2,
                    Optimizer::Sgd {
                        lr: 0.5,
                        momentum: 0.9,
                    },
                ),
            ],
        ];
        let mut logits = Vec::new();
        for configs in sets {
            let mut set = RunSet::new(problem.clone(), configs).unwrap();
            set.step(20);
            for run in set.runs() {
                assert_eq!(run.steps(), 20, "{}", run.config().name);
                logits.push(run.logits().iter().map(|l| l.to_bits()).collect());
            }
            // The metrics' row statistics are shared among the threads too.
            let metrics = serde_json::to_string(&set.metrics()).unwrap();
            logits.push(metrics.bytes().map(u32::from).collect());
        }
        logits
    })
}

#[test]
fn a_large_runs_rows_on_several_threads_change_no_bit() {
    // Logits and metrics with one thread, then with two and three.
    let one = train_large(1);
    for threads in [2, 3] {
        assert_eq!(
            one,
            train_large(threads),
            "logits differ with {threads} threads"
        );
    }
}

/// A large KL-regularised run whose first step overflows on the rows of prompts 0 and 1 only
/// (one pair each, beta = 1000, SGD at lr 1e37) and not on prompts 2 and 3: on any number of
/// threads the step is refused and the state kept, so that no row's flag is lost however the
/// rows' flags are combined.
#[test]
fn a_large_run_diverging_on_some_rows_is_stopped_on_any_thread_count() {
    const OUTPUTS: usize = 20_000;
    let outputs = unit_length_outputs(OUTPUTS);
    let reference: Vec<Vec<f64>> = (0..4)
        .map(|x| (0..OUTPUTS).map(|y| 1.0 + ((x + y) % 3) as f64).collect())
        .collect();
    let pairs = (0..2)
        .map(|prompt| Pair {
            prompt,
            chosen: 0,
            rejected: 1,
            weight: 1.0,
        })
        .collect();
    let prompts = (0..4).map(|x| format!("x{x}")).collect();
    let problem = Problem::new(prompts, outputs, &reference, pairs, None).unwrap();
    let config = RunConfig {
        beta: 1000.0,
        optimizer: Optimizer::sgd(1e37),
        regularizer: Regularizer::Kl { lambda: 0.1 },
        ..RunConfig::default()
    };
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut set = RunSet::new(problem.clone(), vec![config.clone()]).unwrap();
            let before = set.runs()[0].logits().to_vec();
            set.step(1);
            let run = &set.runs()[0];
            assert_eq!(run.diverged_at(), Some(0), "{threads} threads");
            assert_eq!(run.logits(), &before[..], "{threads} threads");
        });
    }
}
