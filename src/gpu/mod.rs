//! The GPU backend (feature `gpu`): the CPU engine's training step as WGSL compute kernels
//! through `wgpu`, natively (Vulkan, Metal, DX12) and in the browser (WebGPU).
//!
//! A [`GpuRunSet`] trains every run of a set at once. It is built once: device, pipelines, bind
//! groups, buffers and the index of the pairs touching each logit. Each call to
//! [`GpuRunSet::step`] then only writes the per-step parameters and encodes many steps into one
//! submission; [`GpuRunSet::read_logits`] and [`GpuRunSet::read_runs`] read back, awaiting
//! `map_async` (never a blocking wait in the browser).
//!
//! The CPU engine is the reference: each kernel repeats [`crate::engine::Run`]'s f32 operations
//! in the same order, the host computes what the CPU computes in f64 (Adam's bias corrections,
//! batch weights) and uploads it, and the minibatches come from a host-side shadow [`Run`] per
//! run, so a seed gives the same batches on both backends.
//!
//! Per step, one compute pass runs: `rows.wgsl` (row log-normalisers and KL, only when a run uses
//! length normalisation or KL), `pairs.wgsl` (margins, `phi'`, per-pair gradient terms),
//! `coefficients.wgsl` (length normalisation's row coefficients), `update.wgsl` (gradient gather
//! and optimiser update) and `advance.wgsl` (the step counter).
//!
//! Metrics (SPEC section 7) are reduced on the device when asked for ([`GpuRunSet::read_metrics`]):
//! `metric_rows.wgsl` (per row: normaliser, KL, entropy, expected true reward, ranking counts),
//! `metric_pairs.wgsl` (per pair: margin, loss, accuracies, rewards, learning-table cell; partial
//! sums per chunk of pairs) and `metric_runs.wgsl` (per run), so that a frame reads back 128 bytes
//! per run rather than the state. [`GpuRunSet::read_runs`] reads the whole state when it is
//! needed (the policy, the final output, the fallback to the CPU).
//!
//! The modules: `plan` (buffer sizes, limits, `TooLarge`), `layout` (every struct and constant
//! the shaders share with the host), `buffers` (the device buffers and what the host writes),
//! `kernel` (sources, pipelines, bind groups, dispatches), `readback` (staging, `map_async`,
//! device loss), `metrics` (the metric kernels and their decoding), `error` ([`GpuError`]).

mod buffers;
mod error;
mod kernel;
mod layout;
mod metrics;
#[cfg(target_arch = "wasm32")]
pub mod page;
mod plan;
mod readback;

pub use error::GpuError;
#[doc(hidden)]
pub use kernel::{kernel_interfaces, KernelInterface};
#[doc(hidden)]
pub use layout::{host_constants, host_structs, HostMember, HostStruct};
pub use metrics::GpuMetrics;

use self::buffers::{Buffers, ScheduleWriter};
use self::kernel::{encode_pass, Pipelines, StepKernels, StepShape};
use self::layout::{StepParams, FULL_BATCH};
use self::metrics::{MetricKernels, MetricScale};
use self::plan::{open, Plan};
use self::readback::{DeviceFailure, Staging};
use crate::engine::numerics::{adam_corrections, total_weight};
use crate::engine::{InputError, Metrics, Optimizer, Problem, Regularizer, Run, RunConfig};

/// Every run of a set, trained on the GPU.
///
/// Built once from a problem and the runs' configurations; [`GpuRunSet::step`] encodes and
/// submits without waiting, the `read_*` methods await the readback.
pub struct GpuRunSet {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: wgpu::AdapterInfo,
    problem: Problem,
    /// One CPU run per configuration: the initial state, the minibatch sampler, the metrics, and
    /// the state to fall back to.
    shadows: Vec<Run>,
    plan: Plan,
    /// Per run, its slot among the minibatch masks of a step (None: full batch).
    mask_slots: Vec<Option<usize>>,
    /// `1 / W` of the full batch.
    inverse_total_weight: f32,
    /// Steps trained on the device since it was built (every run the same number).
    steps: u64,
    /// Each run's step count when the set was built (the steps it had trained elsewhere).
    base_steps: Vec<u64>,
    pipelines: Pipelines,
    buffers: Buffers,
    kernels: StepKernels,
    /// Which passes a step runs, and their sizes.
    shape: StepShape,
    /// The logits and moments are read back through this.
    staging: Staging,
    /// The metric kernels, once asked for.
    metric_kernels: Option<MetricKernels>,
    /// The pairs' total weight, in f64 as the CPU's metrics sum it.
    total_weight: f64,
    /// The first device loss or uncaptured error, reported by the next readback.
    failure: DeviceFailure,
    /// The host side of each submission's schedule, reused between submissions.
    schedule: ScheduleWriter,
}

impl GpuRunSet {
    /// Finds an adapter (high performance preferred), requests a device with the limits this
    /// scenario needs, and builds everything for `configs` on `problem`.
    pub async fn new(problem: &Problem, configs: &[RunConfig]) -> Result<GpuRunSet, GpuError> {
        let opened = open(&Plan::of(problem, configs)?).await?;
        GpuRunSet::new_inner(
            opened.device,
            opened.queue,
            opened.adapter,
            problem,
            configs,
        )
    }

    /// As [`GpuRunSet::new`], but every run continues from the state of a CPU [`Run`]: its
    /// logits, optimiser moments, step count and minibatch sampler (what the page does when the
    /// user switches to WebGPU mid-training).
    pub async fn from_runs(problem: &Problem, runs: &[Run]) -> Result<GpuRunSet, GpuError> {
        let configs: Vec<RunConfig> = runs.iter().map(|run| run.config().clone()).collect();
        let opened = open(&Plan::of(problem, &configs)?).await?;
        let pipelines = Pipelines::new(&opened.device);
        GpuRunSet::build(
            opened.device,
            opened.queue,
            opened.adapter,
            problem,
            runs.to_vec(),
            pipelines,
        )
    }

    /// Builds everything on a device the caller already has (tests share one device this way).
    /// Installs the device's lost and uncaptured-error handlers, replacing earlier ones.
    pub fn new_inner(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: wgpu::AdapterInfo,
        problem: &Problem,
        configs: &[RunConfig],
    ) -> Result<GpuRunSet, GpuError> {
        let within_run = |index: usize| {
            move |error: InputError| GpuError::Input(error.within(&format!("runs[{index}]")))
        };
        for (index, config) in configs.iter().enumerate() {
            config.validate().map_err(within_run(index))?;
        }
        // Sizes are checked before anything large is allocated.
        Plan::of(problem, configs)?.fits_device(&device)?;
        let shadows = configs
            .iter()
            .enumerate()
            .map(|(index, config)| Run::new(config.clone(), problem).map_err(within_run(index)))
            .collect::<Result<Vec<_>, _>>()?;
        let pipelines = Pipelines::new(&device);
        GpuRunSet::build(device, queue, adapter, problem, shadows, pipelines)
    }

    /// Builds everything for the runs `shadows`, from their current states, on `device`.
    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: wgpu::AdapterInfo,
        problem: &Problem,
        shadows: Vec<Run>,
        pipelines: Pipelines,
    ) -> Result<GpuRunSet, GpuError> {
        let configs: Vec<RunConfig> = shadows.iter().map(|run| run.config().clone()).collect();
        let plan = Plan::of(problem, &configs)?;
        plan.fits_device(&device)?;
        let failure = DeviceFailure::watch(&device);
        let buffers = Buffers::new(&device, problem, &shadows, &plan);
        let kernels = StepKernels::new(&device, &pipelines, |binding| buffers.get(binding));
        let staging = Staging::new(&device, "staging", plan.logits_bytes + plan.moments_bytes);
        let mut next_slot = 0;
        let mask_slots = configs
            .iter()
            .map(|config| {
                config
                    .batch_size
                    .filter(|&size| size < plan.pairs)
                    .map(|_| {
                        next_slot += 1;
                        next_slot - 1
                    })
            })
            .collect();
        let shape = StepShape {
            rows: (plan.runs * plan.prompts) as u32,
            pairs: (plan.runs * plan.pairs) as u32,
            logits: (plan.runs * plan.prompts * plan.outputs) as u32,
            needs_rows: configs.iter().any(|config| {
                config.length_normalize || matches!(config.regularizer, Regularizer::Kl { .. })
            }),
            needs_coefficients: configs.iter().any(|config| config.length_normalize),
            max_workgroups_per_dimension: device
                .limits()
                .max_compute_workgroups_per_dimension
                .max(1),
        };
        Ok(GpuRunSet {
            device,
            queue,
            adapter,
            problem: problem.clone(),
            inverse_total_weight: 1.0
                / total_weight(problem.pairs().iter().map(|pair| pair.weight)),
            base_steps: shadows.iter().map(Run::steps).collect(),
            shadows,
            plan,
            mask_slots,
            steps: 0,
            pipelines,
            buffers,
            kernels,
            shape,
            staging,
            metric_kernels: None,
            total_weight: problem.pairs().iter().map(|pair| pair.weight as f64).sum(),
            failure,
            schedule: ScheduleWriter::default(),
        })
    }

    /// A set for new data or new runs on the same device (no new adapter request, the compiled
    /// pipelines reused), each run continuing from the state of `runs` (as
    /// [`GpuRunSet::from_runs`]): what the page does after an edit while training on WebGPU.
    /// `Lost` if the device already failed; `Input` if a run does not fit the problem's shape.
    pub fn rebuild(&self, problem: &Problem, runs: &[Run]) -> Result<GpuRunSet, GpuError> {
        // A device that already failed stays failed: say so now, not at the next readback.
        self.failure.check()?;
        for (index, run) in runs.iter().enumerate() {
            // A run built for other data cannot train on this problem.
            if run.logits().len() != problem.prompt_count() * problem.output_count() {
                return Err(GpuError::Input(InputError::new(
                    format!("runs[{index}]"),
                    "the run's logits do not match the problem's prompts and outputs",
                )));
            }
        }
        GpuRunSet::build(
            self.device.clone(),
            self.queue.clone(),
            self.adapter.clone(),
            problem,
            runs.to_vec(),
            self.pipelines.clone(),
        )
    }

    /// Destroys the device, as a driver reset or a tab losing its GPU would: the next readback
    /// reports [`GpuError::Lost`]. For testing the fallback to the CPU.
    #[doc(hidden)]
    pub fn lose_device(&self) {
        self.device.destroy();
    }

    /// The adapter's name; a software adapter (llvmpipe, SwiftShader, WARP) is marked
    /// "(CPU-emulated)", so that its timings are never mistaken for a GPU's.
    pub fn adapter_name(&self) -> String {
        // Browsers may hide the adapter's name; then say what kind of adapter it is.
        let name = if self.adapter.name.trim().is_empty() {
            format!("unnamed {:?} adapter", self.adapter.backend)
        } else {
            self.adapter.name.clone()
        };
        if self.adapter.device_type == wgpu::DeviceType::Cpu {
            format!("{name} (CPU-emulated)")
        } else {
            name
        }
    }

    /// What wgpu reports about the adapter (backend, driver, device type).
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.adapter
    }

    /// Steps trained on the device since the set was built (every run the same number).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Run `run`'s step count: the steps it had when the set was built plus [`GpuRunSet::steps`].
    pub fn run_steps(&self, run: usize) -> u64 {
        self.base_steps.get(run).copied().unwrap_or(0) + self.steps
    }

    /// The shared data.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// Replaces run `run`'s logits (row-major `[prompt][output]`) before the next step, as
    /// [`Run::set_logits`] does on the CPU; the optimiser state stays. Does nothing for a run
    /// index or a length that does not fit.
    pub fn write_logits(&mut self, run: usize, logits: &[f32]) {
        let logits_per_run = self.plan.prompts * self.plan.outputs;
        if run < self.plan.runs && logits.len() == logits_per_run {
            self.queue.write_buffer(
                &self.buffers.logits,
                (4 * run * logits_per_run) as u64,
                bytemuck::cast_slice(logits),
            );
        }
    }

    /// Trains every run for `steps` steps: writes each step's parameters and minibatch masks,
    /// encodes the kernels of many steps into each submission and submits, without waiting.
    pub fn step(&mut self, steps: u32) {
        let mut remaining = steps as usize;
        while remaining > 0 {
            let count = remaining.min(self.plan.steps_per_submission);
            self.submit(count);
            remaining -= count;
        }
    }

    /// One submission of `count` steps.
    fn submit(&mut self, count: usize) {
        let plan = &self.plan;
        self.schedule.start(plan, count);
        for step_in_submission in 0..count {
            for (run, shadow) in self.shadows.iter_mut().enumerate() {
                let step = self.base_steps[run] + self.steps + step_in_submission as u64;
                let (step_size, inverse_root_correction2) = match shadow.config().optimizer {
                    Optimizer::Adam {
                        lr, beta1, beta2, ..
                    } => adam_corrections(lr, beta1, beta2, step),
                    Optimizer::Sgd { .. } => (0.0, 0.0),
                };
                // The shadow's sampler draws the batch, exactly as the CPU engine's step would.
                let (inverse_total_weight, batch_mask) =
                    match (shadow.next_batch(), self.mask_slots[run]) {
                        (Some(batch), Some(slot)) => {
                            let pairs = self.problem.pairs();
                            let weight =
                                total_weight(batch.iter().map(|&pair| pairs[pair as usize].weight));
                            let mask =
                                self.schedule
                                    .add_batch(plan, step_in_submission, slot, batch);
                            (1.0 / weight, mask)
                        }
                        _ => (self.inverse_total_weight, FULL_BATCH),
                    };
                self.schedule.push(StepParams {
                    step_size,
                    inverse_root_correction2,
                    step: step as u32,
                    inverse_total_weight,
                    batch_mask,
                    _pad: [0; 3],
                });
            }
        }
        self.schedule.write(&self.queue, &self.buffers);
        // One pass for every step (see `StepKernels::encode_step`).
        let encoder = encode_pass(&self.device, "steps", |pass| {
            for _ in 0..count {
                self.kernels.encode_step(pass, &self.shape);
            }
        });
        self.queue.submit([encoder.finish()]);
        self.steps += count as u64;
    }

    /// Blocks until every submitted step has run (natively only: a browser must never block, and
    /// awaits a readback instead). For timing; `Err(Lost)` once the device was lost.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Lost(e.to_string()))?;
        self.failure.check()
    }

    /// Copies the logits (and, with `moments`, the moments after them) to the staging buffer and
    /// awaits its mapping; returns the values.
    async fn read_back(&mut self, moments: bool) -> Result<Vec<f32>, GpuError> {
        self.failure.check()?;
        let encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("read back"),
            });
        let mut copies = vec![(&self.buffers.logits, self.plan.logits_bytes)];
        if moments {
            copies.push((&self.buffers.moments, self.plan.moments_bytes));
        }
        let words = self
            .staging
            .read(&self.device, &self.queue, &self.failure, encoder, &copies)
            .await?;
        Ok(words.into_iter().map(f32::from_bits).collect())
    }

    /// Every run's logits, row-major `[prompt][output]`, after the steps submitted so far.
    pub async fn read_logits(&mut self) -> Result<Vec<Vec<f32>>, GpuError> {
        let logits_per_run = self.plan.prompts * self.plan.outputs;
        let values = self.read_back(false).await?;
        Ok((0..self.plan.runs)
            .map(|run| values[run * logits_per_run..(run + 1) * logits_per_run].to_vec())
            .collect())
    }

    /// Every run's whole state (logits, optimiser moments, step count) read back into a CPU
    /// [`Run`]: for metrics, for output, and to train on with the CPU engine if the device is lost.
    pub async fn read_runs(&mut self) -> Result<Vec<Run>, GpuError> {
        let logits_per_run = self.plan.prompts * self.plan.outputs;
        let all_logits = self.plan.runs * logits_per_run;
        let values = self.read_back(true).await?;
        let logits_words = (self.plan.logits_bytes / 4) as usize;
        let (logits, moments) = values.split_at(logits_words);
        Ok(self
            .shadows
            .iter()
            .enumerate()
            .map(|(index, shadow)| {
                let mut run = shadow.clone();
                let own = index * logits_per_run..(index + 1) * logits_per_run;
                let second = all_logits + own.start..all_logits + own.end;
                run.set_state(
                    &logits[own.clone()],
                    &moments[own],
                    &moments[second],
                    self.run_steps(index),
                );
                run
            })
            .collect())
    }

    /// Every run's metrics (SPEC section 7) at the current step, computed on the GPU; reads back
    /// a few words per run. See [`GpuRunSet::read_metrics`].
    pub async fn metrics(&mut self) -> Result<Vec<Metrics>, GpuError> {
        Ok(self.read_metrics(false).await?.metrics)
    }

    /// Every run's metrics at the current step and, with `with_margins`, every pair's margin `u`,
    /// computed by the metric kernels (`metric_rows.wgsl`, `metric_pairs.wgsl`,
    /// `metric_runs.wgsl`) after the steps submitted so far. Only 128 bytes per run (plus 4 per
    /// pair for the margins) come back; the state stays on the device.
    ///
    /// The definitions are [`Run::metrics`]'s, evaluated in f32 with tree reductions where the
    /// CPU sums in f64: on the same state the values agree with the CPU's to 1e-5 absolute plus
    /// 1e-5 relative (`tests/gpu.rs` holds them to it), the counts (learning-table pairs, ranking
    /// agreement) exactly, except that a pair whose length-normalised `h_pi` is within f32
    /// rounding of 0 may land in the other cell (the normaliser is summed in f32 here, in f64 on
    /// the CPU); the final divisions are done in f64.
    pub async fn read_metrics(&mut self, with_margins: bool) -> Result<GpuMetrics, GpuError> {
        self.failure.check()?;
        let kernels = self
            .metric_kernels
            .get_or_insert_with(|| MetricKernels::new(&self.device, &self.plan, &self.buffers));
        let encoder = encode_pass(&self.device, "metrics", |pass| {
            kernels.encode(pass, &self.plan, self.shape.max_workgroups_per_dimension)
        });
        let copies = kernels.copies(&self.plan, with_margins);
        let words = kernels
            .staging()
            .read(&self.device, &self.queue, &self.failure, encoder, &copies)
            .await?;
        let scale = MetricScale {
            total_weight: self.total_weight,
            prompts: self.plan.prompts,
            metric_flags: self.plan.metric_flags,
        };
        let metrics = metrics::records(&words, &self.plan)
            .iter()
            .enumerate()
            .map(|(run, record)| metrics::decode(record, self.run_steps(run), &scale))
            .collect();
        let margins = with_margins.then(|| metrics::margins(&words, &self.plan));
        Ok(GpuMetrics { metrics, margins })
    }
}
