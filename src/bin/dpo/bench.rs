//! `dpo bench`: the median time of one training step (loss, gradients, optimiser update; no
//! per-step metrics), full-batch Adam, logistic loss with `gamma = beta`, on six random workloads
//! (four of the sparse step, among them the sweeps issue's 1024 runs, two of the dense one) and
//! two presets, on the CPU engine or the GPU backend (`--backend`);
//! and of one metrics record (every run's SPEC section 7 metrics: on the GPU the metric kernels
//! and their readback). With `--json`, also the machine's measured copy bandwidth and each
//! workload's memory-traffic floor, so that a dense step can be set against it.

use super::cli::{Backend, BenchArgs};
use super::Failure;
use dpo_playground::engine::rng::{stream, SplitMix64};
use dpo_playground::engine::{Optimizer, Output, Pair, Regularizer, RunConfig, RunSet};
use dpo_playground::presets::Preset;
use dpo_playground::scenario::Scenario;
use serde::Serialize;
use std::time::Instant;

/// A standard workload's shape.
pub struct Workload {
    pub name: &'static str,
    runs: usize,
    prompts: usize,
    outputs: usize,
    pairs: usize,
    /// Length normalisation on, with output `y` of length `1 + (y mod 7)` (else every length 1).
    length_normalize: bool,
    /// The regulariser toward the reference.
    regularizer: Regularizer,
    /// A preset's scenario as it is (its runs, its data), instead of random data of the shape
    /// above: what the page trains, for `cargo xtask bench --browser`.
    preset: Option<&'static str>,
}

/// The workloads of the engine issue: a classroom demo, a sweep (and the sweeps issue's 1024-run
/// one), a vocabulary-sized row (sparse steps: a pair touches two logits), and the sweep and vocabulary shapes with a dense step (every
/// logit moves): length normalisation, and the KL regulariser.
pub const WORKLOADS: [Workload; 8] = [
    Workload {
        name: "classroom",
        runs: 3,
        prompts: 1,
        outputs: 8,
        pairs: 16,
        length_normalize: false,
        regularizer: Regularizer::None,
        preset: None,
    },
    Workload {
        name: "sweep",
        runs: 256,
        prompts: 4,
        outputs: 64,
        pairs: 256,
        length_normalize: false,
        regularizer: Regularizer::None,
        preset: None,
    },
    // The sweeps issue's benchmark: 1024 runs of the `sweep` shape (its 500 steps are 500 times
    // the step measured here).
    Workload {
        name: "sweep-1024",
        runs: 1024,
        prompts: 4,
        outputs: 64,
        pairs: 256,
        length_normalize: false,
        regularizer: Regularizer::None,
        preset: None,
    },
    Workload {
        name: "vocabulary",
        runs: 1,
        prompts: 64,
        outputs: 32768,
        pairs: 4096,
        length_normalize: false,
        regularizer: Regularizer::None,
        preset: None,
    },
    Workload {
        name: "vocabulary-dense",
        runs: 1,
        prompts: 64,
        outputs: 32768,
        pairs: 4096,
        length_normalize: false,
        regularizer: Regularizer::Kl { lambda: 0.1 },
        preset: None,
    },
    Workload {
        name: "sweep-lennorm",
        runs: 256,
        prompts: 4,
        outputs: 64,
        pairs: 256,
        length_normalize: true,
        regularizer: Regularizer::None,
        preset: None,
    },
    Workload {
        name: "default",
        runs: 3,
        prompts: 1,
        outputs: 4,
        pairs: 3,
        length_normalize: false,
        regularizer: Regularizer::None,
        preset: Some("default"),
    },
    Workload {
        name: "learning-table",
        runs: 3,
        prompts: 1,
        outputs: 8,
        pairs: 8,
        length_normalize: false,
        regularizer: Regularizer::None,
        preset: Some("learning-table"),
    },
];

impl Workload {
    /// Whether every logit is updated each step (see `Run`'s sparse update).
    fn dense(&self) -> bool {
        self.length_normalize || !matches!(self.regularizer, Regularizer::None)
    }

    /// The least memory traffic of one dense step, in bytes, if every array lived in memory
    /// rather than cache: each logit, Adam moment and gradient entry read and written once,
    /// and the reference read once when the regulariser needs it (f32 each). `None` for a
    /// sparse step, whose traffic follows the pairs.
    fn bytes_per_step(&self) -> Option<u64> {
        let arrays = 2 /* logits */ + 2 * 2 /* m, v */ + 2 /* gradient */
            + u64::from(!matches!(self.regularizer, Regularizer::None));
        let logits = (self.runs * self.prompts * self.outputs) as u64;
        self.dense().then_some(arrays * 4 * logits)
    }
}

#[derive(Serialize)]
struct Row {
    name: &'static str,
    runs: usize,
    prompts: usize,
    outputs: usize,
    pairs: usize,
    backend: &'static str,
    /// The adapter of a GPU row, "(CPU-emulated)" for a software one such as llvmpipe.
    #[serde(skip_serializing_if = "Option::is_none")]
    adapter: Option<String>,
    seconds_per_step: f64,
    /// A dense step's memory-traffic floor in bytes ([`Workload::bytes_per_step`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_per_step: Option<u64>,
    /// Every run's metrics once (what a page frame or a CSV row costs), the readback included.
    seconds_per_metrics: f64,
}

/// The workload's runs at step 0, built from [`scenario`] as `dpo run` builds a scenario's.
pub fn build(workload: &Workload) -> RunSet {
    scenario(workload)
        .run_set()
        .expect("bench scenarios are valid")
}

/// The workload as a scenario: a preset's, or a random problem of the workload's shape (a random
/// positive reference and random distinct pairs, both seeded; the JAX script in bench/ draws the
/// same kind of data) with a DPO run per `beta`. `dpo bench --scenario` prints it, so that the
/// browser benchmark trains exactly these runs in wasm.
pub fn scenario(workload: &Workload) -> Scenario {
    if let Some(id) = workload.preset {
        return Preset::find(id)
            .and_then(|preset| preset.scenario().ok())
            .expect("bench presets exist");
    }
    let mut generator = SplitMix64::new(42, stream::GENERATE);
    let outputs = (0..workload.outputs)
        .map(|y| Output {
            label: format!("y{y}"),
            length: if workload.length_normalize {
                1.0 + (y % 7) as f32
            } else {
                1.0
            },
        })
        .collect();
    let prompts = (0..workload.prompts).map(|x| format!("x{x}")).collect();
    let reference: Vec<Vec<f64>> = (0..workload.prompts)
        .map(|_| {
            (0..workload.outputs)
                .map(|_| 0.05 + generator.next_f64())
                .collect()
        })
        .collect();
    let pairs = (0..workload.pairs)
        .map(|_| {
            let prompt = generator.below(workload.prompts);
            let chosen = generator.below(workload.outputs);
            let rejected = (chosen + 1 + generator.below(workload.outputs - 1)) % workload.outputs;
            Pair {
                prompt,
                chosen,
                rejected,
                weight: 1.0,
            }
        })
        .collect();
    // Every run is DPO with its own beta, as in a sweep; the cost does not depend on the values.
    let runs = (0..workload.runs)
        .map(|r| {
            let beta = 0.1 + r as f32 * 0.01;
            RunConfig {
                name: format!("run {r}"),
                beta,
                gamma: beta,
                optimizer: Optimizer::adam(1e-3),
                length_normalize: workload.length_normalize,
                regularizer: workload.regularizer,
                ..RunConfig::default()
            }
        })
        .collect();
    Scenario {
        title: None,
        description: None,
        prompts,
        outputs,
        reference,
        pairs,
        reward: None,
        generate: None,
        steps: 200,
        runs,
        exercise: None,
        sweep: None,
        validation: None,
        validation_pairs: Vec::new(),
    }
}

/// Median seconds per step over `samples` timed batches of steps, after a warm-up.
fn time(set: &mut RunSet) -> f64 {
    // Size a batch of steps to take about 20 ms, so the clock's resolution does not matter.
    let start = Instant::now();
    set.step(1);
    let one = start.elapsed().as_secs_f64().max(1e-9);
    let steps = ((0.02 / one) as u64).clamp(1, 100_000);
    set.step(steps);
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            set.step(steps);
            start.elapsed().as_secs_f64() / steps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median seconds to compute every run's metrics on the CPU.
fn time_metrics(set: &RunSet) -> f64 {
    let record = || {
        let start = Instant::now();
        for run in set.runs() {
            std::hint::black_box(run.metrics(set.problem()));
        }
        start.elapsed().as_secs_f64()
    };
    let mut samples: Vec<f64> = (0..7).map(|_| record()).collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median seconds per step of the GPU backend, timed like [`time`]; each timed batch of steps
/// ends with a wait for the device, so the figure is the GPU's throughput, not submission speed.
#[cfg(feature = "gpu")]
fn time_gpu(gpu: &mut dpo_playground::gpu::GpuRunSet) -> Result<f64, Failure> {
    let mut timed = |steps: u32| -> Result<f64, Failure> {
        let start = Instant::now();
        gpu.step(steps);
        gpu.wait_idle()
            .map_err(|e| Failure(format!("--backend gpu: {e}"), 1))?;
        Ok(start.elapsed().as_secs_f64())
    };
    // The first submission compiles the pipelines on some drivers: not timed.
    timed(1)?;
    let one = timed(1)?.max(1e-9);
    // Batches of about 50 ms, so that the wait's latency is spread over many steps.
    let steps = ((0.05 / one) as u32).clamp(1, 10_000);
    let mut samples = (0..7)
        .map(|_| Ok(timed(steps)? / steps as f64))
        .collect::<Result<Vec<f64>, Failure>>()?;
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Median seconds of one [`dpo_playground::gpu::GpuRunSet::read_metrics`] round trip (kernels
/// and readback); the first, which compiles the kernels, is not timed.
#[cfg(feature = "gpu")]
fn time_gpu_metrics(gpu: &mut dpo_playground::gpu::GpuRunSet) -> Result<f64, Failure> {
    let mut timed = || -> Result<f64, Failure> {
        let start = Instant::now();
        pollster::block_on(gpu.read_metrics(false))
            .map_err(|e| Failure(format!("--backend gpu: {e}"), 1))?;
        Ok(start.elapsed().as_secs_f64())
    };
    timed()?;
    let mut samples = (0..7)
        .map(|_| timed())
        .collect::<Result<Vec<f64>, Failure>>()?;
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// The machine's memory copy bandwidth in bytes per second (read plus written): the median of 7
/// copies of a 64 MiB buffer into another, twice the last-level cache of the development machine,
/// so that the figure is memory's, not the cache's. The copy is shared among as many threads as
/// the step uses (rayon's), in contiguous parts: one core alone does not reach the memory's
/// bandwidth, and a dense step shares its rows among the cores.
fn copy_bandwidth() -> f64 {
    use rayon::prelude::*;
    const FLOATS: usize = 16 << 20;
    let source: Vec<f32> = (0..FLOATS).map(|i| i as f32).collect();
    let mut target = vec![0.0f32; FLOATS];
    let part = FLOATS.div_ceil(rayon::current_num_threads());
    let copy = |target: &mut [f32], source: &[f32]| {
        target
            .par_chunks_mut(part)
            .zip(source.par_chunks(part))
            .for_each(|(to, from)| to.copy_from_slice(std::hint::black_box(from)));
    };
    // The first copy faults the target's pages in: not timed.
    copy(&mut target, &source);
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            copy(&mut target, &source);
            std::hint::black_box(&mut target);
            start.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (2 * 4 * FLOATS) as f64 / samples[samples.len() / 2]
}

pub fn command(args: &BenchArgs) -> Result<(), Failure> {
    let (json, backend, only) = (args.json, args.backend.backend, &args.workload);
    if args.scenario {
        let name = only.as_deref().unwrap_or("classroom");
        let workload = WORKLOADS
            .iter()
            .find(|w| w.name == name)
            .expect("clap checks the name");
        return super::console::print(&scenario(workload).to_json_pretty());
    }
    let mut rows = Vec::new();
    let mut bandwidth = None;
    for workload in WORKLOADS
        .iter()
        .filter(|w| only.as_deref().is_none_or(|name| name == w.name))
    {
        let mut set = build(workload);
        let (name, adapter, seconds, metrics_seconds) = time_on(&mut set, backend)?;
        // The floor only means something for the CPU engine, against the CPU's memory.
        let bytes = workload.bytes_per_step().filter(|_| name == "cpu");
        if bytes.is_some() && bandwidth.is_none() {
            bandwidth = Some(copy_bandwidth());
        }
        if !json {
            let floor = bytes
                .zip(bandwidth)
                .map(|(bytes, bandwidth)| {
                    let floor = bytes as f64 / bandwidth;
                    format!(
                        "  floor {:.3} us ({:.1} MB at {:.1} GB/s copy): {:.1}x",
                        floor * 1e6,
                        bytes as f64 / 1e6,
                        bandwidth / 1e9,
                        seconds / floor
                    )
                })
                .unwrap_or_default();
            super::console::println(&format!(
                "{:<16} {:>4} runs {:>3} prompts {:>6} outputs {:>5} pairs  {name}  {:>10.3} us/step  {:>10.3} us/metrics{}{floor}",
                workload.name,
                workload.runs,
                workload.prompts,
                workload.outputs,
                workload.pairs,
                seconds * 1e6,
                metrics_seconds * 1e6,
                adapter.as_ref().map(|a| format!("  ({a})")).unwrap_or_default()
            ))?;
        }
        rows.push(Row {
            name: workload.name,
            runs: workload.runs,
            prompts: workload.prompts,
            outputs: workload.outputs,
            pairs: workload.pairs,
            backend: name,
            adapter,
            seconds_per_step: seconds,
            bytes_per_step: bytes,
            seconds_per_metrics: metrics_seconds,
        });
    }
    if json {
        let mut report = serde_json::json!({ "workloads": rows });
        if let Some(bandwidth) = bandwidth {
            report["copy_bytes_per_second"] = bandwidth.into();
        }
        super::console::println(&report.to_string())?;
    }
    Ok(())
}

/// Times `set` on `backend`: the backend's name, the adapter (GPU only), seconds per step and
/// seconds per metrics record.
fn time_on(
    set: &mut RunSet,
    backend: Backend,
) -> Result<(&'static str, Option<String>, f64, f64), Failure> {
    #[cfg(feature = "gpu")]
    if let Some(mut gpu) = super::open_gpu(set, backend)? {
        let seconds = time_gpu(&mut gpu)?;
        let metrics = time_gpu_metrics(&mut gpu)?;
        return Ok(("gpu", Some(gpu.adapter_name()), seconds, metrics));
    }
    #[cfg(not(feature = "gpu"))]
    super::no_gpu_build(backend)?;
    let seconds = time(set);
    Ok(("cpu", None, seconds, time_metrics(set)))
}
