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
        pollster::block_on(async {
            let instance = wgpu::Instance::new(
                wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
            );
            let adapter = instance
                .request_adapter(&wgpu::RequestAdapterOptions::default())
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "no GPU adapter ({e}): these tests must run on one; without a GPU install \
                         Mesa's llvmpipe (apt-get install mesa-vulkan-drivers)"
                    )
                });
            let mut limits = wgpu::Limits::default();
            limits.max_storage_buffer_binding_size =
                adapter.limits().max_storage_buffer_binding_size;
            limits.max_buffer_size = adapter.limits().max_buffer_size;
            let (device, queue) = adapter
                .request_device(&wgpu::DeviceDescriptor {
                    required_limits: limits,
                    ..Default::default()
                })
                .await
                .expect("the adapter gives a device");
            Gpu {
                device,
                queue,
                info: adapter.get_info(),
            }
        })
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

/// Whether `a` (GPU) and `b` (CPU) agree to `tolerance` absolutely plus 1e-5 relatively.
fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance + 1e-5 * b.abs() || (a.is_nan() && b.is_nan())
}

/// Compares the metrics the GPU state gives with the CPU's.
fn check_metrics(case: &str, gpu: &Metrics, cpu: &Metrics, tolerance: f64) {
    assert_eq!(gpu.step, cpu.step, "{case}: step");
    for (name, a, b) in [
        ("loss", gpu.loss, cpu.loss),
        ("accuracy", gpu.accuracy, cpu.accuracy),
        ("kl", gpu.kl, cpu.kl),
        ("entropy", gpu.entropy, cpu.entropy),
        ("chosen_reward", gpu.chosen_reward, cpu.chosen_reward),
        ("rejected_reward", gpu.rejected_reward, cpu.rejected_reward),
        ("reward_margin", gpu.reward_margin, cpu.reward_margin),
    ] {
        assert!(
            close(a, b, tolerance),
            "{case}: {name} {a} (GPU) vs {b} (CPU)"
        );
    }
    for (g, c) in gpu
        .learning_table
        .cells()
        .iter()
        .zip(cpu.learning_table.cells())
    {
        assert!(
            close(g.weight, c.weight, tolerance) && close(g.signal, c.signal, tolerance),
            "{case}: learning table {g:?} (GPU) vs {c:?} (CPU)"
        );
    }
}

/// Trains `configs` on `problem` for `steps` steps on both backends (the GPU in two
/// submissions' worth of calls, with a readback between) and compares every logit within
/// `tolerance` (plus 1e-5 relative) and the metrics. Returns the GPU's runs.
fn check(
    case: &str,
    problem: &Problem,
    configs: &[RunConfig],
    steps: u32,
    tolerance: f64,
) -> Vec<Run> {
    let mut cpu: Vec<Run> = configs
        .iter()
        .map(|config| Run::new(config.clone(), problem).unwrap())
        .collect();
    let mut gpu = gpu_set(problem, configs);
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
    for (r, (gpu_run, cpu_run)) in runs.iter().zip(&cpu).enumerate() {
        let case = format!("{case}, run {r} ({}), step {steps}", cpu_run.config().name);
        compare(&case, gpu_run.logits(), cpu_run.logits(), tolerance);
        check_metrics(
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
    check("losses", &problem, &configs, 150, 1e-4);
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
        check("length normalisation", &problem, &configs, 120, 1e-4);
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
    check("regularizers", &problem, &configs, 120, 1e-4);
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
    check("minibatches", &problem, &configs, 130, 1e-4);
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
            1e-4,
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
            1e-4,
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
    check("32769 outputs", &problem, &configs, 100, 1e-4);
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
    let runs = check("no pairs", &problem, &configs, 100, 1e-4);
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
    check("sweep", &problem, &configs, 60, 1e-4);
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
                (a - b).abs() <= 1e-4 + 1e-5 * b.abs(),
                "{}: {a} vs {b}",
                run.config().name
            );
        }
    }
}
