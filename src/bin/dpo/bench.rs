//! `dpo bench`: the median time of one training step (loss, gradients, optimiser update; no
//! per-step metrics), full-batch Adam, logistic loss with `gamma = beta`, on three workloads,
//! on the CPU engine or the GPU backend (`--backend`); and of one metrics record (every run's
//! SPEC section 7 metrics: on the GPU the metric kernels and their readback).

use super::cli::{Backend, BenchArgs};
use super::Failure;
use dpo_playground::engine::rng::{stream, SplitMix64};
use dpo_playground::engine::{Optimizer, Output, Pair, Problem, RunConfig, RunSet};
use serde::Serialize;
use std::time::Instant;

/// A standard workload's shape.
pub struct Workload {
    pub name: &'static str,
    runs: usize,
    prompts: usize,
    outputs: usize,
    pairs: usize,
}

/// The three workloads of the engine issue: a classroom demo, a sweep, a vocabulary-sized row.
pub const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "classroom",
        runs: 3,
        prompts: 1,
        outputs: 8,
        pairs: 16,
    },
    Workload {
        name: "sweep",
        runs: 256,
        prompts: 4,
        outputs: 64,
        pairs: 256,
    },
    Workload {
        name: "vocabulary",
        runs: 1,
        prompts: 64,
        outputs: 32768,
        pairs: 4096,
    },
];

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
    /// Every run's metrics once (what a page frame or a CSV row costs), the readback included.
    seconds_per_metrics: f64,
}

/// A random problem of the workload's shape: a random positive reference and random distinct
/// pairs, both seeded (the JAX script in bench/ draws the same kind of data).
pub fn build(workload: &Workload) -> RunSet {
    let mut generator = SplitMix64::new(42, stream::GENERATE);
    let outputs = (0..workload.outputs)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0,
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
    let problem =
        Problem::new(prompts, outputs, &reference, pairs, None).expect("bench data is valid");
    // Every run is DPO with its own beta, as in a sweep; the cost does not depend on the values.
    let configs = (0..workload.runs)
        .map(|r| {
            let beta = 0.1 + r as f32 * 0.01;
            RunConfig {
                name: format!("run {r}"),
                beta,
                gamma: beta,
                optimizer: Optimizer::adam(1e-3),
                ..RunConfig::default()
            }
        })
        .collect();
    RunSet::new(problem, configs).expect("bench runs are valid")
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

pub fn command(args: &BenchArgs) -> Result<(), Failure> {
    let (json, backend, only) = (args.json, args.backend.backend, &args.workload);
    let mut rows = Vec::new();
    for workload in WORKLOADS
        .iter()
        .filter(|w| only.as_deref().is_none_or(|name| name == w.name))
    {
        let mut set = build(workload);
        let (name, adapter, seconds, metrics_seconds) = time_on(&mut set, backend)?;
        if !json {
            super::console::println(&format!(
                "{:<11} {:>4} runs {:>3} prompts {:>6} outputs {:>5} pairs  {name}  {:>10.3} us/step  {:>10.3} us/metrics{}",
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
            seconds_per_metrics: metrics_seconds,
        });
    }
    if json {
        super::console::println(&serde_json::json!({ "workloads": rows }).to_string())?;
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
