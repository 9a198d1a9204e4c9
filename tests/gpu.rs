//! The GPU backend against the CPU engine (the reference): every loss, option, regulariser,
//! optimiser and preset trains to the same logits and metrics, and the kernels handle the edge
//! cases (equal logits, one huge logit, 32769 outputs, a prompt without pairs, an exactly zero
//! loss). These tests need an adapter and FAIL without one: on a machine without a GPU, install
//! Mesa's llvmpipe (`apt-get install mesa-vulkan-drivers`).
#![cfg(feature = "gpu")]

use dpo_playground::engine::{
    Init, LossKind, Metrics, Optimizer, Output, Pair, Problem, Regularizer, Run, RunConfig,
};
use dpo_playground::gpu::{GpuError, GpuRunSet};
use dpo_playground::presets::{Preset, PRESETS};
use std::sync::OnceLock;

/// One device for every test (creating one per test is slow on a software adapter).
struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
}

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        device_with(|adapter| wgpu::Limits {
            max_storage_buffer_binding_size: adapter.max_storage_buffer_binding_size,
            max_buffer_size: adapter.max_buffer_size,
            ..wgpu::Limits::default()
        })
    })
}

/// A device of the first adapter with the limits `limits` picks from the adapter's; panics
/// (the test fails) without an adapter.
fn device_with(limits: impl FnOnce(&wgpu::Limits) -> wgpu::Limits) -> Gpu {
    pollster::block_on(async {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions::default())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no GPU adapter ({e}): these tests must run on one; without a GPU install \
                     Mesa's llvmpipe (apt-get install mesa-vulkan-drivers)"
                )
            });
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                required_limits: limits(&adapter.limits()),
                ..Default::default()
            })
            .await
            .expect("the adapter gives a device with these limits");
        Gpu {
            device,
            queue,
            info: adapter.get_info(),
        }
    })
}

fn gpu_set(problem: &Problem, configs: &[RunConfig]) -> GpuRunSet {
    let gpu = gpu();
    GpuRunSet::new_inner(
        gpu.device.clone(),
        gpu.queue.clone(),
        gpu.info.clone(),
        problem,
        configs,
    )
    .expect("the GPU run set builds")
}

fn output(label: &str, length: f32) -> Output {
    Output {
        label: label.into(),
        length,
    }
}

fn pair(prompt: usize, chosen: usize, rejected: usize, weight: f32) -> Pair {
    Pair {
        prompt,
        chosen,
        rejected,
        weight,
    }
}

/// Six outputs of lengths 1 to 3, one prompt, pairs the reference ranks right and wrong, weights.
fn six_outputs() -> Problem {
    let outputs = (0..6)
        .map(|y| output(&format!("y{y}"), 1.0 + (y % 3) as f32))
        .collect();
    let pairs = vec![
        pair(0, 0, 1, 1.0),
        pair(0, 2, 0, 2.0),
        pair(0, 3, 5, 1.0),
        pair(0, 4, 1, 0.5),
        pair(0, 5, 2, 1.0),
        pair(0, 1, 3, 3.0),
        pair(0, 0, 4, 1.0),
    ];
    Problem::new(
        vec!["x".into()],
        outputs,
        &[vec![0.3, 0.1, 0.25, 0.05, 0.2, 0.1]],
        pairs,
        None,
    )
    .unwrap()
}

/// Three prompts of five outputs; prompt 1 has no pairs.
fn three_prompts() -> Problem {
    let outputs = (0..5)
        .map(|y| output(&format!("y{y}"), 1.0 + y as f32))
        .collect();
    let pairs = vec![
        pair(0, 0, 1, 1.0),
        pair(0, 2, 4, 1.0),
        pair(2, 4, 0, 2.0),
        pair(2, 1, 3, 1.0),
        pair(0, 3, 2, 1.0),
        pair(2, 2, 1, 0.5),
    ];
    let reference = vec![
        vec![0.1, 0.2, 0.3, 0.25, 0.15],
        vec![0.5, 0.1, 0.1, 0.2, 0.1],
        vec![0.2, 0.2, 0.2, 0.2, 0.2],
    ];
    Problem::new(
        vec!["a".into(), "b".into(), "c".into()],
        outputs,
        &reference,
        pairs,
        None,
    )
    .unwrap()
}

/// Logits and reported values after training, GPU against CPU: both step in f32 but the kernels
/// sum the gradient terms in another order, so the trajectories drift apart by rounding, about
/// 1e-5 after a hundred steps; 1e-4 leaves room without hiding a wrong term (which is O(lr)).
const PARITY: f64 = 1e-4;
/// Metrics on the same state: the kernels reduce in f32 what the CPU sums in f64, about 1e-6
/// relative over the pairs and rows of these tests.
const F32_SUM: f64 = 1e-5;
/// Relative slack added to every comparison: f32's 2^-24 accumulated over a few hundred terms.
const RELATIVE: f64 = 1e-5;

/// Whether `a` (GPU) and `b` (CPU) agree to `tolerance` absolutely plus [`RELATIVE`] relatively.
fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance + RELATIVE * b.abs() || (a.is_nan() && b.is_nan())
}

/// Trains `configs` on `problem` for `steps` steps on both backends (the GPU in two
/// submissions' worth of calls, with a readback between) and compares every logit within
/// `tolerance` (plus [`RELATIVE`]) and the metrics. Returns the GPU's runs.
fn check(
    case: &str,
    problem: &Problem,
    configs: &[RunConfig],
    steps: u32,
    tolerance: f64,
) -> Vec<Run> {
    check_set(
        case,
        problem,
        configs,
        steps,
        tolerance,
        gpu_set(problem, configs),
    )
}

/// [`check`] with a set built on a device of the caller's.
fn check_set(
    case: &str,
    problem: &Problem,
    configs: &[RunConfig],
    steps: u32,
    tolerance: f64,
    mut gpu: GpuRunSet,
) -> Vec<Run> {
    let mut cpu: Vec<Run> = configs
        .iter()
        .map(|config| Run::new(config.clone(), problem).unwrap())
        .collect();
    let first = steps / 3;
    gpu.step(first);
    let early = pollster::block_on(gpu.read_logits()).expect("readback");
    for run in &mut cpu {
        for _ in 0..first {
            run.step(problem);
        }
    }
    for (r, run) in cpu.iter().enumerate() {
        compare(
            &format!("{case}, run {r}, step {first}"),
            &early[r],
            run.logits(),
            tolerance,
        );
    }
    gpu.step(steps - first);
    for run in &mut cpu {
        for _ in first..steps {
            run.step(problem);
        }
    }
    let runs = pollster::block_on(gpu.read_runs()).expect("readback");
    check_metric_kernels(case, problem, &mut gpu, &runs);
    for (r, (gpu_run, cpu_run)) in runs.iter().zip(&cpu).enumerate() {
        let case = format!("{case}, run {r} ({}), step {steps}", cpu_run.config().name);
        compare(&case, gpu_run.logits(), cpu_run.logits(), tolerance);
        assert_metrics_close(
            &case,
            &gpu_run.metrics(problem),
            &cpu_run.metrics(problem),
            tolerance,
        );
    }
    // The state read back trains on with the CPU engine as the CPU would have (the fallback).
    let mut fallback = runs.clone();
    for (r, (run, cpu_run)) in fallback.iter_mut().zip(&mut cpu).enumerate() {
        for _ in 0..10 {
            run.step(problem);
            cpu_run.step(problem);
        }
        compare(
            &format!("{case}, run {r}, 10 CPU steps after the readback"),
            run.logits(),
            cpu_run.logits(),
            tolerance * 2.0,
        );
    }
    runs
}

/// The metric kernels against the CPU's [`Run::metrics`] and [`Run::margins`] on the same state
/// (`runs`, read back from `gpu`): f32 reductions against f64 sums, so to [`F32_SUM`] plus
/// [`RELATIVE`]; the counts (learning-table pairs, ranking agreement) and flags exactly.
fn check_metric_kernels(case: &str, problem: &Problem, gpu: &mut GpuRunSet, runs: &[Run]) {
    let read = pollster::block_on(gpu.read_metrics(true)).expect("metrics");
    let margins = read.margins.expect("margins were asked for");
    assert_eq!(read.metrics.len(), runs.len(), "{case}: runs");
    for (r, run) in runs.iter().enumerate() {
        let case = format!("{case}, run {r} ({}), metric kernels", run.config().name);
        let (kernel, cpu) = (&read.metrics[r], run.metrics(problem));
        assert_metrics_close(&case, kernel, &cpu, F32_SUM);
        compare(
            &format!("{case}: margins"),
            &margins[r],
            &run.margins(problem),
            F32_SUM,
        );
    }
}

/// Every field of two [`Metrics`] within `tolerance` (plus [`RELATIVE`]); counts, flags and
/// which optional metrics are present, exactly.
fn assert_metrics_close(case: &str, gpu: &Metrics, cpu: &Metrics, tolerance: f64) {
    assert_eq!(gpu.step, cpu.step, "{case}: step");
    assert_eq!(gpu.diverged, cpu.diverged, "{case}: diverged");
    let scalars = gpu.scalars().into_iter().zip(cpu.scalars());
    for (name, (a, b)) in dpo_playground::engine::SCALAR_METRICS.iter().zip(scalars) {
        match (a, b) {
            (Some(a), Some(b)) => assert!(
                close(a, b, tolerance),
                "{case}: {name} {a} (GPU) vs {b} (CPU)"
            ),
            (a, b) => assert_eq!(a, b, "{case}: {name} present on one backend only"),
        }
    }
    for (g, c) in gpu
        .learning_table
        .cells()
        .iter()
        .zip(cpu.learning_table.cells())
    {
        assert_eq!(
            g.pairs, c.pairs,
            "{case}: learning table {g:?} (GPU) vs {c:?} (CPU)"
        );
        assert!(
            close(g.weight, c.weight, tolerance)
                && close(g.signal, c.signal, tolerance)
                && close(g.share, c.share, tolerance),
            "{case}: learning table {g:?} (GPU) vs {c:?} (CPU)"
        );
    }
}

fn compare(case: &str, gpu: &[f32], cpu: &[f32], tolerance: f64) {
    assert_eq!(gpu.len(), cpu.len(), "{case}: length");
    let worst = gpu
        .iter()
        .zip(cpu)
        .enumerate()
        .map(|(i, (&a, &b))| (i, a, b, (a as f64 - b as f64).abs()))
        .fold((0, 0.0, 0.0, 0.0), |w, c| {
            if c.3 > w.3 || c.3.is_nan() {
                c
            } else {
                w
            }
        });
    for (i, (&a, &b)) in gpu.iter().zip(cpu).enumerate() {
        assert!(
            close(a as f64, b as f64, tolerance),
            "{case}: logit {i}: {a} (GPU) vs {b} (CPU); worst difference {worst:?}"
        );
    }
}

fn config(name: &str) -> RunConfig {
    RunConfig {
        name: name.into(),
        ..RunConfig::default()
    }
}

/// Every loss with each optimiser, and the margin options, on one problem.
#[test]
fn losses_and_optimizers_agree() {
    let problem = six_outputs();
    let mut configs = Vec::new();
    for loss in LossKind::ALL {
        for optimizer in [
            Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.0,
            },
            Optimizer::Sgd {
                lr: 0.05,
                momentum: 0.9,
            },
            Optimizer::adam(0.02),
        ] {
            configs.push(RunConfig {
                loss,
                optimizer,
                init: Init::Random { scale: 0.5 },
                seed: 5,
                ..config(&format!("{} {}", loss.name(), optimizer.name()))
            });
        }
    }
    configs.push(RunConfig {
        gamma: 0.0,
        margin: 0.5,
        beta: 2.0,
        ..config("reference-free with margin")
    });
    configs.push(RunConfig {
        alpha: 2.5,
        gamma: 0.3,
        init: Init::ReferenceAlpha,
        ..config("alpha")
    });
    configs.push(RunConfig {
        loss: LossKind::Hinge,
        gamma: 20.0,
        init: Init::Uniform,
        optimizer: Optimizer::sgd(0.1),
        ..config("hinge large gamma")
    });
    configs.push(RunConfig {
        loss: LossKind::Ipo,
        beta: 0.5,
        gamma: 0.7,
        margin: -0.2,
        ..config("ipo margin")
    });
    check("losses", &problem, &configs, 150, PARITY);
}

/// Length normalisation (SimPO and DPO forms) with every loss, several prompts, a prompt without pairs.
#[test]
fn length_normalization_agrees() {
    for problem in [six_outputs(), three_prompts()] {
        let configs: Vec<RunConfig> = LossKind::ALL
            .into_iter()
            .flat_map(|loss| {
                [
                    RunConfig {
                        loss,
                        length_normalize: true,
                        gamma: 0.0,
                        margin: 1.0,
                        beta: 2.0,
                        optimizer: Optimizer::sgd(0.05),
                        ..config("SimPO")
                    },
                    RunConfig {
                        loss,
                        length_normalize: true,
                        alpha: 3.0,
                        init: Init::Random { scale: 1.0 },
                        seed: 9,
                        optimizer: Optimizer::Sgd {
                            lr: 0.05,
                            momentum: 0.5,
                        },
                        ..config("DPO normalised")
                    },
                ]
            })
            .collect();
        check("length normalisation", &problem, &configs, 120, PARITY);
    }
}

/// Every regulariser toward the reference, with both optimisers, on several prompts.
#[test]
fn regularizers_agree() {
    let problem = three_prompts();
    let mut configs = Vec::new();
    for regularizer in [
        Regularizer::L2 { lambda: 0.3 },
        Regularizer::Kl { lambda: 0.5 },
        Regularizer::Mixout { p: 0.3 },
    ] {
        for optimizer in [
            Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
            },
            Optimizer::adam(0.02),
        ] {
            for length_normalize in [false, true] {
                configs.push(RunConfig {
                    regularizer,
                    optimizer,
                    length_normalize,
                    // Away from the reference, so the regularisers' gradients are not noise
                    // around zero (which Adam's normalisation would amplify differently).
                    init: Init::Random { scale: 1.0 },
                    seed: 11 + configs.len() as u64 * (1 << 33),
                    ..config(regularizer.name())
                });
            }
        }
    }
    check("regularizers", &problem, &configs, 120, PARITY);
}

/// Minibatches from the seeded sampler, with and without length normalisation and mixout.
#[test]
fn minibatches_agree() {
    let problem = six_outputs();
    let configs: Vec<RunConfig> = [1usize, 2, 3, 6, 7, 100]
        .into_iter()
        .enumerate()
        .map(|(i, size)| RunConfig {
            batch_size: Some(size),
            seed: 3 + i as u64,
            length_normalize: i % 2 == 1,
            regularizer: if i == 2 {
                Regularizer::Mixout { p: 0.2 }
            } else {
                Regularizer::None
            },
            optimizer: Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.5,
            },
            init: Init::Uniform,
            ..config(&format!("batch {size}"))
        })
        .collect();
    check("minibatches", &problem, &configs, 130, PARITY);
}

/// Every shipped preset, for its own number of steps.
#[test]
fn presets_agree() {
    for preset in PRESETS {
        let scenario = preset.scenario().unwrap();
        let problem = scenario.problem().unwrap();
        check(
            preset.id,
            &problem,
            &scenario.runs,
            scenario.steps as u32,
            PARITY,
        );
    }
}

/// Hinge at the reference with gamma = beta: every margin is exactly 0, so nothing moves, bit for bit.
#[test]
fn zero_loss_leaves_logits_unchanged() {
    let problem = three_prompts();
    let configs = [
        RunConfig {
            loss: LossKind::Hinge,
            beta: 0.7,
            gamma: 0.7,
            ..config("hinge adam")
        },
        RunConfig {
            loss: LossKind::Hinge,
            beta: 3.0,
            gamma: 3.0,
            optimizer: Optimizer::Sgd {
                lr: 0.5,
                momentum: 0.9,
            },
            ..config("hinge sgd")
        },
    ];
    let mut gpu = gpu_set(&problem, &configs);
    gpu.step(120);
    let runs = pollster::block_on(gpu.read_runs()).unwrap();
    for run in &runs {
        let before: Vec<u32> = problem
            .log_reference()
            .iter()
            .map(|l| l.to_bits())
            .collect();
        let after: Vec<u32> = run.logits().iter().map(|l| l.to_bits()).collect();
        assert_eq!(after, before, "{}", run.config().name);
        assert_eq!(run.metrics(&problem).loss, 0.0);
    }
    // The metric kernels find the loss exactly 0 too (every u is exactly 0).
    for metrics in pollster::block_on(gpu.metrics()).unwrap() {
        assert_eq!(metrics.loss, 0.0);
        assert_eq!(metrics.step, 120);
    }
}

/// A row of equal logits and a row with one huge logit: the row reductions (max, log-sum-exp,
/// KL) stay finite and agree with the CPU.
#[test]
fn equal_and_huge_logits() {
    let problem = three_prompts();
    let k = problem.output_count();
    let mut start = vec![0.0f32; problem.prompt_count() * k];
    // Row 0: all equal (not zero); row 1: one huge logit; row 2: another huge one, negative rest.
    start[..k].fill(2.5);
    start[k + 3] = 1000.0;
    start[2 * k..].copy_from_slice(&[-30.0, 60.0, -30.0, -30.0, -30.0]);
    let configs: Vec<RunConfig> = [
        Regularizer::Kl { lambda: 0.5 },
        Regularizer::None,
        Regularizer::Mixout { p: 0.25 },
    ]
    .into_iter()
    .map(|regularizer| RunConfig {
        regularizer,
        length_normalize: true,
        optimizer: Optimizer::sgd(0.1),
        ..config(regularizer.name())
    })
    .collect();
    let mut gpu = gpu_set(&problem, &configs);
    let mut cpu: Vec<Run> = configs
        .iter()
        .map(|c| Run::new(c.clone(), &problem).unwrap())
        .collect();
    for (r, run) in cpu.iter_mut().enumerate() {
        gpu.write_logits(r, &start);
        run.set_logits(&start);
        for _ in 0..100 {
            run.step(&problem);
        }
    }
    gpu.step(100);
    let logits = pollster::block_on(gpu.read_logits()).unwrap();
    for (r, run) in cpu.iter().enumerate() {
        assert!(
            logits[r].iter().all(|l| l.is_finite()),
            "run {r}: {:?}",
            logits[r]
        );
        compare(
            &format!("huge logits, run {r}"),
            &logits[r],
            run.logits(),
            PARITY,
        );
    }
}

/// A row of 32769 outputs: the row reduction loops past 128 elements per thread, and the last
/// output (index 32768) is in a pair.
#[test]
fn vocabulary_row_of_32769_outputs() {
    let k = 32769;
    let outputs = (0..k)
        .map(|y| output(&format!("y{y}"), 1.0 + (y % 4) as f32))
        .collect();
    let reference: Vec<f64> = (0..k).map(|y| 1.0 + (y % 7) as f64).collect();
    let pairs = vec![
        pair(0, k - 1, 0, 1.0),
        pair(0, 5, k - 1, 1.0),
        pair(0, 1234, 20000, 2.0),
        pair(0, 32767, 7, 1.0),
        pair(0, 9, 30001, 1.0),
    ];
    let problem = Problem::new(vec!["x".into()], outputs, &[reference], pairs, None).unwrap();
    let configs = [
        RunConfig {
            length_normalize: true,
            optimizer: Optimizer::sgd(0.5),
            ..config("length-normalised, a dense row")
        },
        RunConfig {
            regularizer: Regularizer::Kl { lambda: 0.1 },
            optimizer: Optimizer::sgd(0.5),
            ..config("KL")
        },
        config("DPO, Adam"),
    ];
    check("32769 outputs", &problem, &configs, 100, PARITY);
}

/// A prompt without pairs keeps its logits exactly when nothing regularises it.
#[test]
fn prompt_without_pairs_stays() {
    let problem = three_prompts();
    let configs = [
        RunConfig {
            init: Init::Random { scale: 1.0 },
            seed: 2,
            ..config("DPO")
        },
        RunConfig {
            length_normalize: true,
            optimizer: Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
            },
            ..config("normalised")
        },
    ];
    let runs = check("no pairs", &problem, &configs, 100, PARITY);
    let k = problem.output_count();
    for (run, config) in runs.iter().zip(&configs) {
        let initial = Run::new(config.clone(), &problem).unwrap();
        assert_eq!(
            &run.logits()[k..2 * k],
            &initial.logits()[k..2 * k],
            "{}: prompt 1 has no pairs",
            config.name
        );
    }
}

/// Many runs (a sweep), enough to split dispatches over several workgroups per kernel.
#[test]
fn a_sweep_of_runs_agrees() {
    let problem = three_prompts();
    let configs: Vec<RunConfig> = (0..300)
        .map(|r| RunConfig {
            beta: 0.1 + 0.01 * r as f32,
            gamma: 0.05 * (r % 7) as f32,
            loss: LossKind::ALL[r % 3],
            optimizer: if r % 2 == 0 {
                Optimizer::adam(0.01)
            } else {
                Optimizer::sgd(0.1)
            },
            init: Init::Random { scale: 0.3 },
            seed: r as u64,
            ..config(&format!("run {r}"))
        })
        .collect();
    check("sweep", &problem, &configs, 60, PARITY);
}

/// The async constructor finds an adapter by itself and names it.
#[test]
fn new_finds_an_adapter() {
    let scenario = PRESETS[0].scenario().unwrap();
    let problem = scenario.problem().unwrap();
    let mut set = pollster::block_on(GpuRunSet::new(&problem, &scenario.runs)).expect("an adapter");
    assert!(!set.adapter_name().is_empty());
    set.step(3);
    let metrics = pollster::block_on(set.metrics()).unwrap();
    assert_eq!(metrics.len(), scenario.runs.len());
    assert!(metrics.iter().all(|m| m.step == 3));
}

/// An invalid configuration is the CPU engine's input error, with the run's path.
#[test]
fn invalid_config_is_an_input_error() {
    let problem = six_outputs();
    let gpu = gpu();
    let result = GpuRunSet::new_inner(
        gpu.device.clone(),
        gpu.queue.clone(),
        gpu.info.clone(),
        &problem,
        &[
            config("ok"),
            RunConfig {
                beta: -1.0,
                ..config("bad")
            },
        ],
    );
    match result {
        Err(GpuError::Input(error)) => assert!(error.to_string().contains("runs[1]"), "{error}"),
        Err(other) => panic!("expected an input error, got {other}"),
        Ok(_) => panic!("expected an input error"),
    }
}

/// A lost device surfaces as `GpuError::Lost` (never a panic), and training continues on the CPU
/// from the last state read back, exactly where the GPU left it.
#[test]
fn device_loss_falls_back_to_the_cpu() {
    let scenario = Preset::find("default").unwrap().scenario().unwrap();
    let problem = scenario.problem().unwrap();
    // Its own device, since this test destroys it.
    let mut set = pollster::block_on(GpuRunSet::new(&problem, &scenario.runs)).expect("an adapter");
    set.step(20);
    let mut runs = pollster::block_on(set.read_runs()).expect("the device is still there");
    set.lose_device();
    set.step(20);
    match pollster::block_on(set.read_runs()) {
        Err(GpuError::Lost(why)) => assert!(!why.is_empty()),
        Err(other) => panic!("expected a lost device, got {other}"),
        Ok(_) => panic!("a destroyed device still read back"),
    }
    // Nothing is rebuilt on the failed device either.
    assert!(matches!(
        set.rebuild(&problem, &runs),
        Err(GpuError::Lost(_))
    ));
    // The CPU takes over from step 20 and must end where 40 CPU steps end.
    let mut reference = scenario.run_set().unwrap();
    reference.step(40);
    for (run, expected) in runs.iter_mut().zip(reference.runs()) {
        assert_eq!(run.steps(), 20);
        for _ in 0..20 {
            run.step(&problem);
        }
        assert_eq!(run.steps(), 40);
        for (a, b) in run.logits().iter().zip(expected.logits()) {
            assert!(
                close(*a as f64, *b as f64, PARITY),
                "{}: {a} vs {b}",
                run.config().name
            );
        }
    }
}

/// The metric kernels on hand-checked states, against values computed here (not by the CPU
/// engine): equal logits, an ordered row, a ground truth with tied rewards, an infinite logit.
#[test]
fn metric_kernels_on_hand_checked_states() {
    // Outputs A, B, C, D; pi0 = (0.4, 0.3, 0.2, 0.1); true rewards (1, 1, 0, 2): A and B tie.
    let outputs = ["A", "B", "C", "D"].map(|l| output(l, 1.0)).to_vec();
    let reference = [0.4, 0.3, 0.2, 0.1];
    let pairs = vec![pair(0, 0, 1, 1.0), pair(0, 2, 3, 2.0), pair(0, 3, 0, 1.0)];
    let problem = Problem::new(
        vec!["x".into()],
        outputs,
        &[reference.to_vec()],
        pairs,
        Some(vec![vec![1.0, 1.0, 0.0, 2.0]]),
    )
    .unwrap();
    let configs = [RunConfig {
        beta: 2.0,
        gamma: 0.5,
        init: Init::Uniform,
        ..config("logistic")
    }];
    let mut gpu = gpu_set(&problem, &configs);
    let softplus = |x: f64| (1.0 + x.exp()).ln();
    let log_reference = |y: usize| reference[y].ln();

    // Equal logits: pi uniform, every h_pi = 0 (nobody right), u = -gamma h_0.
    let m = &pollster::block_on(gpu.metrics()).unwrap()[0];
    let near = |name: &str, a: f64, b: f64| {
        assert!(
            (a - b).abs() <= 2e-6 * (1.0 + b.abs()),
            "{name}: {a} (GPU) vs {b} (by hand)"
        )
    };
    near("entropy", m.entropy, 4f64.ln());
    let kl: f64 = (0..4)
        .map(|y| 0.25 * (0.25f64.ln() - log_reference(y)))
        .sum();
    near("kl", m.kl, kl);
    let h0 = |c: usize, r: usize| log_reference(c) - log_reference(r);
    // Weighted mean of softplus(-u) = softplus(gamma h_0), weights 1, 2, 1.
    let loss =
        (softplus(0.5 * h0(0, 1)) + 2.0 * softplus(0.5 * h0(2, 3)) + softplus(0.5 * h0(3, 0)))
            / 4.0;
    near("loss", m.loss, loss);
    assert_eq!(m.accuracy, 0.0);
    // The reference ranks A over B and C over D right, D over A wrong: weight 3 of 4.
    near("reference accuracy", m.reference_accuracy, 0.75);
    let cells = m.learning_table.cells();
    assert_eq!(cells.map(|c| c.pairs), [0, 2, 0, 1]);
    near("right/wrong weight", cells[1].weight, 3.0);
    near("true reward", m.true_reward.unwrap(), 1.0);
    // Five output pairs have different rewards; equal logits order none of them.
    assert_eq!(m.ranking_agreement, Some(0.0));
    assert!(!m.diverged);

    // Logits (3, 2, 1, 4): the logits order D > A > B > C, as the rewards do where they differ.
    let logits = [3.0f32, 2.0, 1.0, 4.0];
    gpu.write_logits(0, &logits);
    let m = &pollster::block_on(gpu.metrics()).unwrap()[0];
    let normalizer = logits.iter().map(|&l| (l as f64).exp()).sum::<f64>().ln();
    let policy: Vec<f64> = logits
        .iter()
        .map(|&l| (l as f64 - normalizer).exp())
        .collect();
    near(
        "entropy",
        m.entropy,
        -policy.iter().map(|p| p * p.ln()).sum::<f64>(),
    );
    near(
        "true reward",
        m.true_reward.unwrap(),
        policy[0] + policy[1] + 2.0 * policy[3],
    );
    assert_eq!(m.ranking_agreement, Some(1.0));
    // A > B right, C < D wrong, D > A right: weight 2 of 4.
    near("accuracy", m.accuracy, 0.5);
    // Rewards: beta (log pi(y) - log pi0(y)), weighted by pair.
    let reward = |y: usize| 2.0 * (policy[y].ln() - log_reference(y));
    near(
        "chosen reward",
        m.chosen_reward,
        (reward(0) + 2.0 * reward(2) + reward(3)) / 4.0,
    );
    near(
        "rejected reward",
        m.rejected_reward,
        (reward(1) + 2.0 * reward(3) + reward(0)) / 4.0,
    );

    // An infinite logit: the run has diverged.
    gpu.write_logits(0, &[f32::INFINITY, 0.0, 0.0, 0.0]);
    assert!(pollster::block_on(gpu.metrics()).unwrap()[0].diverged);
}

/// Enough pairs that the pair metrics are split over the most chunks (256 workgroups per run)
/// and each thread sums several pairs; a ground truth with more than 4096 outputs has no
/// ranking agreement on either backend.
#[test]
fn metric_kernels_on_many_pairs_and_outputs() {
    let k = 5000;
    let outputs = (0..k)
        .map(|y| output(&format!("y{y}"), 1.0 + (y % 5) as f32))
        .collect();
    let reference: Vec<Vec<f64>> = (0..2)
        .map(|x| (0..k).map(|y| 1.0 + ((y * 7 + x) % 11) as f64).collect())
        .collect();
    let truth: Vec<Vec<f64>> = (0..2)
        .map(|x| {
            (0..k)
                .map(|y| ((y * 13 + x * 3) % 17) as f64 / 4.0)
                .collect()
        })
        .collect();
    // 140000 pairs over the first 300 outputs of each prompt, from a fixed-seed generator.
    let mut state = 12345u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    };
    let pairs: Vec<Pair> = (0..140_000)
        .map(|i| {
            let chosen = next(300);
            let rejected = (chosen + 1 + next(299)) % 300;
            pair(i % 2, chosen, rejected, 0.5 + (i % 3) as f32 * 0.25)
        })
        .collect();
    let problem = Problem::new(
        vec!["a".into(), "b".into()],
        outputs,
        &reference,
        pairs,
        Some(truth),
    )
    .unwrap();
    let configs = [
        RunConfig {
            init: Init::Random { scale: 1.0 },
            seed: 4,
            ..config("DPO")
        },
        RunConfig {
            loss: LossKind::Hinge,
            length_normalize: true,
            gamma: 0.0,
            margin: 0.5,
            init: Init::Random { scale: 1.0 },
            seed: 5,
            ..config("SimPO hinge")
        },
        RunConfig {
            loss: LossKind::Ipo,
            init: Init::Random { scale: 1.0 },
            seed: 6,
            ..config("IPO")
        },
    ];
    let mut gpu = gpu_set(&problem, &configs);
    gpu.step(3);
    let runs = pollster::block_on(gpu.read_runs()).unwrap();
    assert!(runs[0].metrics(&problem).ranking_agreement.is_none());
    check_metric_kernels("140000 pairs, 5000 outputs", &problem, &mut gpu, &runs);
}

/// `dpo run --backend gpu` (this build has the feature) prints the JSON the CPU prints, to the
/// backends' agreement, for every preset; its CSV, recorded through the metric kernels, agrees
/// with the CPU's CSV row by row; `auto` names the adapter on stderr.
#[test]
fn the_command_line_agrees_across_backends() {
    let dpo = env!("CARGO_BIN_EXE_dpo");
    let dir = std::env::temp_dir().join(format!("dpo-gpu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for preset in PRESETS {
        let run = |backend: &str| {
            let csv = dir.join(format!("{}-{backend}.csv", preset.id));
            let out = std::process::Command::new(dpo)
                .args([
                    "run",
                    &format!("preset:{}", preset.id),
                    "--json",
                    "--every",
                    "7",
                ])
                .args(["--backend", backend, "--csv"])
                .arg(&csv)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{} on {backend}: {}",
                preset.id,
                String::from_utf8_lossy(&out.stderr)
            );
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let csv = std::fs::read_to_string(&csv).unwrap();
            (
                report,
                csv,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (cpu, cpu_csv, _) = run("cpu");
        let (gpu, gpu_csv, _) = run("gpu");
        let (cpu_runs, gpu_runs) = (
            cpu["runs"].as_array().unwrap(),
            gpu["runs"].as_array().unwrap(),
        );
        assert_eq!(cpu_runs.len(), gpu_runs.len());
        for (c, g) in cpu_runs.iter().zip(gpu_runs) {
            let case = format!("{} {}", preset.id, c["name"]);
            assert_eq!(c["name"], g["name"]);
            assert_eq!(c["steps"], g["steps"], "{case}");
            // The GPU's kernels compute the learning table of the current step only: a run
            // trained there reports no accumulated table and no un-learned pairs (not zeros).
            let mut c_metrics = c["metrics"].clone();
            for key in ["accumulated_table", "unlearned_pairs"] {
                assert!(
                    c_metrics.as_object_mut().unwrap().remove(key).is_some(),
                    "{case}: CPU {key}"
                );
                assert!(g["metrics"].get(key).is_none(), "{case}: GPU {key}");
            }
            assert_json_close(&case, &c_metrics, &g["metrics"]);
            assert_json_close(&case, &c["logits"], &g["logits"]);
            assert_json_close(&case, &c["policy"], &g["policy"]);
        }
        let (cpu_lines, gpu_lines): (Vec<&str>, Vec<&str>) =
            (cpu_csv.lines().collect(), gpu_csv.lines().collect());
        assert_eq!(cpu_lines.len(), gpu_lines.len(), "{}: CSV rows", preset.id);
        assert_eq!(cpu_lines[0], gpu_lines[0], "{}: CSV header", preset.id);
        let accumulated: Vec<usize> = cpu_lines[0]
            .split(',')
            .enumerate()
            .filter(|(_, name)| name.starts_with("accumulated_share_"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(accumulated.len(), 4);
        for (c, g) in cpu_lines.iter().zip(&gpu_lines).skip(1) {
            for (column, (a, b)) in csv_fields(c).iter().zip(csv_fields(g)).enumerate() {
                let (a, b) = (a.as_str(), b.as_str());
                if accumulated.contains(&column) {
                    // Filled on the CPU, empty on the GPU (see above).
                    assert!(
                        a.parse::<f64>().is_ok() && b.is_empty(),
                        "{}: {a:?} vs {b:?}",
                        preset.id
                    );
                    continue;
                }
                match (a.parse::<f64>(), b.parse::<f64>()) {
                    (Ok(a), Ok(b)) => assert!(
                        close(a, b, PARITY),
                        "{}: CSV column {column}: {a} (CPU) vs {b} (GPU)\n{c}\n{g}",
                        preset.id
                    ),
                    _ => assert_eq!(a, b, "{}: CSV column {column}", preset.id),
                }
            }
        }
    }
    let out = std::process::Command::new(dpo)
        .args(["run", "preset:default", "--steps", "3", "--backend", "auto"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("training on the GPU: "), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The fields of one CSV line (RFC 4180 quoting: a run name may hold a comma).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// Numbers anywhere inside two JSON values agree to [`PARITY`] (plus [`RELATIVE`]); everything else
/// is equal.
fn assert_json_close(case: &str, cpu: &serde_json::Value, gpu: &serde_json::Value) {
    use serde_json::Value;
    match (cpu, gpu) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(close(a, b, PARITY), "{case}: {a} (CPU) vs {b} (GPU)");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{case}");
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                assert_json_close(&format!("{case}[{i}]"), a, b);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{case}"
            );
            for (key, value) in a {
                assert_json_close(&format!("{case}.{key}"), value, &b[key]);
            }
        }
        (a, b) => assert_eq!(a, b, "{case}"),
    }
}

/// A scenario too large for the device is a clear `TooLarge` error, found before anything large
/// is allocated: an index past 32 bits, and a buffer past the device's binding size.
#[test]
fn too_large_scenarios_are_clear_errors() {
    // 4096 prompts x 4096 outputs: 2^24 logits per run, the scenario format's maximum.
    let (p, k) = (4096, 4096);
    let problem = Problem::new(
        (0..p).map(|x| format!("x{x}")).collect(),
        (0..k).map(|y| output(&format!("y{y}"), 1.0)).collect(),
        &vec![vec![1.0; k]; p],
        vec![pair(0, 0, 1, 1.0)],
        None,
    )
    .unwrap();
    let gpu = gpu();
    let build = |device: &wgpu::Device, queue: &wgpu::Queue, runs: usize| {
        let configs: Vec<RunConfig> = (0..runs).map(|r| config(&format!("run {r}"))).collect();
        GpuRunSet::new_inner(
            device.clone(),
            queue.clone(),
            gpu.info.clone(),
            &problem,
            &configs,
        )
    };
    // 33 runs: Adam's two moments hold 2 x 33 x 2^24 > 2^30 values, past what a u32 index
    // addresses in bytes.
    match build(&gpu.device, &gpu.queue, 33) {
        Err(GpuError::TooLarge(why)) => {
            assert!(why.contains("33 runs of 4096 x 4096 logits"), "{why}");
            assert!(why.contains("2^30"), "{why}");
        }
        Err(other) => panic!("expected TooLarge, got {other}"),
        Ok(_) => panic!("33 runs of 2^24 logits were accepted"),
    }
    // Two runs on a device with WebGPU's default limits (128 MiB per storage binding): the
    // moments need 256 MiB.
    let Gpu { device, queue, .. } = device_with(|_| wgpu::Limits::default());
    let allowed = device.limits().max_storage_buffer_binding_size;
    assert!(
        allowed < 1 << 28,
        "this test expects the default limits, not {allowed}"
    );
    match build(&device, &queue, 2) {
        Err(GpuError::TooLarge(why)) => {
            assert!(
                why.contains(&format!(
                    "a storage buffer of {} bytes",
                    2u64 * 2 * (1 << 24) * 4
                )),
                "{why}"
            );
            assert!(
                why.contains(&format!("the device allows {allowed}")),
                "{why}"
            );
        }
        Err(other) => panic!("expected TooLarge, got {other}"),
        Ok(_) => panic!("a 256 MiB binding was accepted on a 128 MiB device"),
    }
    // A smaller scenario builds on the same device: the error is about size, not the device.
    let small = Problem::new(
        (0..64).map(|x| format!("x{x}")).collect(),
        (0..k).map(|y| output(&format!("y{y}"), 1.0)).collect(),
        &vec![vec![1.0; k]; 64],
        vec![pair(0, 0, 1, 1.0)],
        None,
    )
    .unwrap();
    let configs = [config("fits")];
    assert!(
        GpuRunSet::new_inner(
            device.clone(),
            queue.clone(),
            gpu.info.clone(),
            &small,
            &configs
        )
        .is_ok(),
        "64 x 4096 logits fit the default limits"
    );
}

/// A set built from CPU runs continues each from its own state (logits, moments, step count,
/// minibatch sampler, mixout's step): runs at different steps, then 40 steps on the GPU, end where
/// the CPU ends; `rebuild` from the read-back runs continues again.
#[test]
fn continues_from_cpu_runs() {
    let problem = six_outputs();
    let configs = [
        RunConfig {
            batch_size: Some(3),
            seed: 8,
            ..config("Adam, minibatches")
        },
        RunConfig {
            regularizer: Regularizer::Mixout { p: 0.2 },
            optimizer: Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
            },
            ..config("mixout, momentum")
        },
        RunConfig {
            length_normalize: true,
            loss: LossKind::Ipo,
            ..config("IPO, length-normalised")
        },
    ];
    let mut cpu: Vec<Run> = configs
        .iter()
        .map(|c| Run::new(c.clone(), &problem).unwrap())
        .collect();
    for (r, run) in cpu.iter_mut().enumerate() {
        for _ in 0..10 * (r + 1) {
            run.step(&problem);
        }
    }
    let fresh = gpu_set(&problem, &configs);
    let mut gpu = fresh
        .rebuild(&problem, &cpu)
        .expect("rebuilt from the CPU runs");
    gpu.step(40);
    for run in &mut cpu {
        for _ in 0..40 {
            run.step(&problem);
        }
    }
    let runs = pollster::block_on(gpu.read_runs()).unwrap();
    let metrics = pollster::block_on(gpu.metrics()).unwrap();
    for (r, (gpu_run, cpu_run)) in runs.iter().zip(&cpu).enumerate() {
        let case = format!("continued run {r} ({})", cpu_run.config().name);
        assert_eq!(gpu_run.steps(), (10 * (r + 1) + 40) as u64, "{case}");
        assert_eq!(metrics[r].step, gpu_run.steps(), "{case}");
        compare(&case, gpu_run.logits(), cpu_run.logits(), PARITY);
    }
    // Again from what was read back.
    let mut again = gpu.rebuild(&problem, &runs).unwrap();
    again.step(10);
    for run in &mut cpu {
        for _ in 0..10 {
            run.step(&problem);
        }
    }
    let runs = pollster::block_on(again.read_runs()).unwrap();
    for (r, (gpu_run, cpu_run)) in runs.iter().zip(&cpu).enumerate() {
        compare(
            &format!("run {r}, rebuilt twice"),
            gpu_run.logits(),
            cpu_run.logits(),
            PARITY,
        );
    }
    // A run of another shape is an input error, not a crash.
    let other = Run::new(config("other"), &three_prompts()).unwrap();
    assert!(matches!(
        again.rebuild(&problem, &[other]),
        Err(GpuError::Input(_))
    ));
}

/// A device that allows only 64 workgroups per dimension: every kernel's dispatch past that is
/// split into a 2D grid (the kernels flatten it and skip the excess), and the training and the
/// metrics still agree with the CPU; past 64 x 64 workgroups the set is `TooLarge`.
#[test]
fn dispatches_split_into_2d_grids() {
    let Gpu {
        device,
        queue,
        info,
    } = device_with(|_| wgpu::Limits {
        max_compute_workgroups_per_dimension: 64,
        ..wgpu::Limits::default()
    });
    assert_eq!(device.limits().max_compute_workgroups_per_dimension, 64);
    let build = |problem: &Problem, configs: &[RunConfig]| {
        GpuRunSet::new_inner(
            device.clone(),
            queue.clone(),
            info.clone(),
            problem,
            configs,
        )
    };
    // 300 runs of three prompts: 900 row workgroups (15 x 64), and per (run, logit) and per
    // (run, pair) dispatches of 18 and 9 workgroups; with KL and length normalisation so that
    // every kernel runs.
    let problem = three_prompts();
    let configs: Vec<RunConfig> = (0..300)
        .map(|r| RunConfig {
            beta: 0.2 + 0.01 * r as f32,
            loss: LossKind::ALL[r % 3],
            length_normalize: r % 2 == 0,
            regularizer: if r % 5 == 0 {
                Regularizer::Kl { lambda: 0.2 }
            } else {
                Regularizer::None
            },
            optimizer: Optimizer::sgd(0.1),
            init: Init::Random { scale: 0.3 },
            seed: r as u64,
            ..config(&format!("run {r}"))
        })
        .collect();
    let set = build(&problem, &configs).expect("fits a 64 x 64 grid");
    check_set("2D grids", &problem, &configs, 30, PARITY, set);
    // 5000 runs x 3 prompts = 15000 row workgroups > 64 x 64.
    let many: Vec<RunConfig> = (0..5000).map(|r| config(&format!("run {r}"))).collect();
    match build(&problem, &many) {
        Err(GpuError::TooLarge(why)) => assert!(why.contains("exceed a 2D grid of 64^2"), "{why}"),
        Err(other) => panic!("expected TooLarge, got {other}"),
        Ok(_) => panic!("15000 workgroups were accepted on a 64 x 64 grid"),
    }
}

/// A run whose margin overflows f32 (`gamma h_0` about -3.5e38) beside a sane one: the GPU does
/// not stop the run (the CPU refuses the step), but its metric kernels and the CPU's metrics of
/// the state it reads back both say the run diverged; the sane run does not.
#[test]
fn divergence_is_reported_on_the_gpu() {
    let scenario = dpo_playground::scenario::Scenario::from_json(
        r#"{"outputs": ["a", "b"], "reference": [1, 8],
            "pairs": [{"chosen": "a", "rejected": "b"}],
            "runs": [{"name": "huge gamma", "gamma": 1.7e38}, {"name": "sane"}]}"#,
    )
    .unwrap();
    let problem = scenario.problem().unwrap();
    let mut gpu = gpu_set(&problem, &scenario.runs);
    gpu.step(3);
    let metrics = pollster::block_on(gpu.metrics()).unwrap();
    assert!(metrics[0].diverged && metrics[0].diverged_at == Some(3));
    assert!(!metrics[1].diverged && metrics[1].diverged_at.is_none());
    let runs = pollster::block_on(gpu.read_runs()).unwrap();
    assert!(runs[0].metrics(&problem).diverged && runs[0].diverged(&problem));
    assert!(!runs[1].metrics(&problem).diverged && !runs[1].diverged(&problem));
}

/// `dpo sweep --backend gpu` trains the whole grid as one GPU run set and reports what the CPU
/// reports, to the backends' agreement: every setting's statistics at the end, except the
/// signal shares, which need the learning table summed over training (not tracked on the GPU),
/// and which it says it leaves out.
#[test]
fn a_sweep_on_the_gpu_agrees_with_the_cpu() {
    let dpo = env!("CARGO_BIN_EXE_dpo");
    let sweep = |backend: &str| {
        let out = std::process::Command::new(dpo)
            .args([
                "sweep",
                "preset:gamma-sweep",
                "--steps",
                "30",
                "--every",
                "10",
            ])
            .args(["--json", "--backend", backend])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (report, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (cpu, _) = sweep("cpu");
    let (gpu, note) = sweep("gpu");
    assert!(note.contains("the signal shares are left out"), "{note}");
    let (cpu, gpu) = (
        cpu["settings"].as_array().unwrap(),
        gpu["settings"].as_array().unwrap(),
    );
    assert_eq!(cpu.len(), 14);
    assert_eq!(cpu.len(), gpu.len());
    for (c, g) in cpu.iter().zip(gpu) {
        assert_eq!(c["point"], g["point"]);
        let (c, g) = (
            c["final"].as_object().unwrap(),
            g["final"].as_object().unwrap(),
        );
        for share in ["share_rr", "share_rw", "share_wr", "share_ww"] {
            assert!(c.contains_key(share) && !g.contains_key(share), "{share}");
        }
        for metric in ["loss", "accuracy", "kl", "entropy", "reward_margin"] {
            for field in ["mean", "min", "max"] {
                let (a, b) = (
                    c[metric][field].as_f64().unwrap(),
                    g[metric][field].as_f64().unwrap(),
                );
                assert!(
                    close(a, b, PARITY),
                    "{metric} {field}: {a} (CPU) vs {b} (GPU)"
                );
            }
            assert_eq!(c[metric]["count"], g[metric]["count"]);
        }
    }
}
