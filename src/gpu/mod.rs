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

use crate::engine::run::{adam_corrections, total_weight};
use crate::engine::{
    InputError, LearningCell, LearningTable, Metrics, Optimizer, Problem, Regularizer, Run,
    RunConfig, RANKING_MAX_OUTPUTS,
};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Threads per workgroup, as `WORKGROUP` in `shaders/common.wgsl`.
const WORKGROUP: u32 = 256;
/// Words before the first step's parameters in the schedule buffer (`SCHEDULE_HEADER`).
const SCHEDULE_HEADER: usize = 4;
/// Words per (step, run) parameters (`STEP_WORDS`).
const STEP_WORDS: usize = 8;
/// Values per (run, pair) in the pair-values buffer (`PAIR_VALUES`).
const PAIR_VALUES: usize = 3;
/// A full-batch step's mask offset (`FULL_BATCH`).
const FULL_BATCH: u32 = u32::MAX;
/// At most this many steps go into one submission, so that one submission stays short enough
/// for a browser's or a driver's watchdog.
const MAX_STEPS_PER_SUBMISSION: usize = 256;
/// Logit updates per submission to aim for when choosing how many steps it holds.
const WORK_PER_SUBMISSION: usize = 1 << 26;

/// Why the GPU backend cannot train (or stopped training).
#[derive(Clone, Debug, PartialEq)]
pub enum GpuError {
    /// No adapter was found (no GPU, no driver, or a browser without WebGPU).
    NoAdapter(String),
    /// The adapter refused the device (for example limits it does not have).
    Device(String),
    /// The scenario needs more than the device offers (a buffer or a dispatch too large).
    TooLarge(String),
    /// A run's configuration is invalid (the same error the CPU engine gives).
    Input(InputError),
    /// The device was lost (a driver reset, a tab losing its device) or reported an error;
    /// train on from the last state read back, on the CPU.
    Lost(String),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter(why) => write!(f, "no GPU adapter: {why}"),
            GpuError::Device(why) => write!(f, "the GPU adapter refused a device: {why}"),
            GpuError::TooLarge(why) => write!(f, "the scenario is too large for the GPU: {why}"),
            GpuError::Input(error) => write!(f, "{error}"),
            GpuError::Lost(why) => write!(f, "the GPU device was lost: {why}"),
        }
    }
}

impl std::error::Error for GpuError {}

/// `Sizes` of `shaders/common.wgsl`: shapes and the starts of the sections of the problem buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Sizes {
    runs: u32,
    prompts: u32,
    outputs: u32,
    pairs: u32,
    logits_per_run: u32,
    inverse_lengths_start: u32,
    logit_offsets_start: u32,
    logit_entries_start: u32,
    prompt_offsets_start: u32,
    prompt_pairs_start: u32,
    true_reward_start: u32,
    reward_rank_start: u32,
    metric_flags: u32,
    metric_chunks: u32,
    _pad: [u32; 2],
}

/// `RunParams` of `shaders/common.wgsl`: one run's constants.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct RunParams {
    loss: u32,
    flags: u32,
    seed_low: u32,
    seed_high: u32,
    beta: f32,
    lambda: f32,
    mixout_p: f32,
    mixout_keep_scale: f32,
    lr: f32,
    momentum: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    _pad: [u32; 2],
}

// Run flags, as in `shaders/common.wgsl`.
const LENGTH_NORMALIZE: u32 = 1;
const MIXOUT: u32 = 2;
const ADAM: u32 = 4;
const L2: u32 = 8;
const KL: u32 = 16;

// Metric flags, as in `shaders/common.wgsl`.
const METRIC_TRUTH: u32 = 1;
const METRIC_RANKING: u32 = 2;
/// Words per (run, chunk) of the metric partial sums, per (run, prompt) of the metric rows, and
/// per run of the metrics read back (`PARTIAL_WORDS`, `MetricRow`, `METRIC_WORDS`).
const PARTIAL_WORDS: usize = 20;
const METRIC_ROW_WORDS: usize = 8;
const METRIC_WORDS: usize = 32;
/// At most this many workgroups per run reduce the pair metrics (metric_runs.wgsl's threads
/// take one chunk each).
const MAX_METRIC_CHUNKS: usize = WORKGROUP as usize;

impl RunParams {
    /// The constants of `config`, computed in f32 as the CPU engine computes them.
    fn of(config: &RunConfig) -> RunParams {
        let mut params = RunParams {
            loss: match config.loss {
                crate::engine::LossKind::Logistic => 0,
                crate::engine::LossKind::Hinge => 1,
                crate::engine::LossKind::Ipo => 2,
            },
            seed_low: config.seed as u32,
            seed_high: (config.seed >> 32) as u32,
            beta: config.beta,
            ..RunParams::default()
        };
        if config.length_normalize {
            params.flags |= LENGTH_NORMALIZE;
        }
        match config.regularizer {
            Regularizer::None => {}
            Regularizer::L2 { lambda } => {
                params.flags |= L2;
                params.lambda = lambda;
            }
            Regularizer::Kl { lambda } => {
                params.flags |= KL;
                params.lambda = lambda;
            }
            Regularizer::Mixout { p } => {
                params.flags |= MIXOUT;
                params.mixout_p = p;
                params.mixout_keep_scale = 1.0 / (1.0 - p);
            }
        }
        match config.optimizer {
            Optimizer::Sgd { lr, momentum } => {
                params.lr = lr;
                params.momentum = momentum;
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                params.flags |= ADAM;
                params.lr = lr;
                params.momentum = beta1;
                params.beta2 = beta2;
                params.eps = eps;
                params.one_minus_beta1 = 1.0 - beta1;
                params.one_minus_beta2 = 1.0 - beta2;
            }
        }
        params
    }
}

/// The sizes (in bytes) of the buffers a scenario needs, and the numbers behind them.
struct Plan {
    runs: usize,
    prompts: usize,
    outputs: usize,
    pairs: usize,
    /// Runs that draw minibatches (smaller than the pair count).
    minibatch_runs: usize,
    /// Words of one minibatch bit mask.
    mask_words: usize,
    /// Steps per submission.
    steps_per_submission: usize,
    /// Workgroups per run reducing the pair metrics.
    metric_chunks: usize,
    /// `METRIC_TRUTH` and `METRIC_RANKING`.
    metric_flags: u32,
    logits_bytes: u64,
    moments_bytes: u64,
    problem_bytes: u64,
    pair_constants_bytes: u64,
    pair_values_bytes: u64,
    schedule_bytes: u64,
    metric_rows_bytes: u64,
    metric_partials_bytes: u64,
    metrics_bytes: u64,
    margins_bytes: u64,
    /// The largest storage binding, and the largest buffer (the staging buffers included).
    largest_binding: u64,
    largest_buffer: u64,
}

impl Plan {
    /// `TooLarge` unless the largest buffer fits `limits` (of the `holder`: adapter or device).
    fn fits(&self, limits: &wgpu::Limits, holder: &str) -> Result<(), GpuError> {
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        if self.largest_binding > binding {
            return Err(GpuError::TooLarge(format!(
                "a storage buffer of {} bytes is needed; the {holder} allows {binding}",
                self.largest_binding
            )));
        }
        if self.largest_buffer > limits.max_buffer_size {
            return Err(GpuError::TooLarge(format!(
                "a readback buffer of {} bytes is needed; the {holder} allows {}",
                self.largest_buffer, limits.max_buffer_size
            )));
        }
        Ok(())
    }

    /// The plan of `configs` on `problem`, or `TooLarge` when an index would overflow 32 bits.
    fn of(problem: &Problem, configs: &[RunConfig]) -> Result<Plan, GpuError> {
        let runs = configs.len();
        let prompts = problem.prompt_count();
        let outputs = problem.output_count();
        let pairs = problem.pairs().len();
        let logits = runs * prompts * outputs;
        let minibatch_runs = configs
            .iter()
            .filter(|c| c.batch_size.is_some_and(|size| size < pairs))
            .count();
        let mask_words = pairs.div_ceil(32);
        let work_per_step = (logits + runs * pairs).max(1);
        let steps_per_submission =
            (WORK_PER_SUBMISSION / work_per_step).clamp(1, MAX_STEPS_PER_SUBMISSION);
        let words_per_step = runs * STEP_WORDS + minibatch_runs * mask_words;
        let truth = problem.true_reward().is_some();
        let mut metric_flags = 0;
        if truth {
            metric_flags |= METRIC_TRUTH;
            if outputs <= RANKING_MAX_OUTPUTS {
                metric_flags |= METRIC_RANKING;
            }
        }
        let metric_chunks = pairs
            .div_ceil(WORKGROUP as usize)
            .clamp(1, MAX_METRIC_CHUNKS);
        let problem_words = 4 * pairs
            + outputs
            + (prompts * outputs + 1)
            + 2 * pairs
            + (prompts + 1)
            + pairs
            + if truth { 2 * prompts * outputs } else { 0 };
        // Every index the kernels compute is a u32: check the largest array each kernel indexes.
        let largest_index = (2 * logits)
            .max(PAIR_VALUES * runs * pairs)
            .max(problem_words)
            .max(SCHEDULE_HEADER + steps_per_submission * words_per_step)
            .max(PARTIAL_WORDS * runs * metric_chunks)
            .max(METRIC_ROW_WORDS * runs * prompts);
        if largest_index >= u32::MAX as usize / 4 {
            return Err(GpuError::TooLarge(format!(
                "{runs} runs of {prompts} x {outputs} logits and {pairs} pairs need more than 2^30 \
                 values in one buffer"
            )));
        }
        // Buffers are never empty: a binding needs at least one element (64 bytes covers a RunParams).
        let bytes = |words: usize| (4 * words as u64).max(64);
        let plan = Plan {
            runs,
            prompts,
            outputs,
            pairs,
            minibatch_runs,
            mask_words,
            steps_per_submission,
            metric_chunks,
            metric_flags,
            logits_bytes: bytes(logits),
            moments_bytes: bytes(2 * logits),
            problem_bytes: bytes(problem_words),
            pair_constants_bytes: bytes(2 * runs * pairs),
            pair_values_bytes: bytes(PAIR_VALUES * runs * pairs),
            schedule_bytes: bytes(SCHEDULE_HEADER + steps_per_submission * words_per_step),
            metric_rows_bytes: bytes(METRIC_ROW_WORDS * runs * prompts),
            metric_partials_bytes: bytes(PARTIAL_WORDS * runs * metric_chunks),
            metrics_bytes: bytes(METRIC_WORDS * runs),
            margins_bytes: bytes(runs * pairs),
            largest_binding: 0,
            largest_buffer: 0,
        };
        let largest_binding = [
            plan.moments_bytes,
            plan.problem_bytes,
            plan.pair_constants_bytes,
            plan.pair_values_bytes,
            plan.schedule_bytes,
            plan.metric_rows_bytes,
            plan.metric_partials_bytes,
            plan.metrics_bytes,
            plan.margins_bytes,
            bytes(runs * 16),
            bytes(runs * prompts * 4),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        // The staging buffers hold logits and both moments, or metrics and margins.
        let largest_buffer = largest_binding
            .max(plan.logits_bytes + plan.moments_bytes)
            .max(plan.metrics_bytes + plan.margins_bytes);
        Ok(Plan {
            largest_binding,
            largest_buffer,
            ..plan
        })
    }

    /// The device limits this plan needs, starting from WebGPU's defaults (which every adapter
    /// has), raised to the buffer sizes; `TooLarge` when the adapter has less.
    fn limits(&self, adapter: &wgpu::Limits) -> Result<wgpu::Limits, GpuError> {
        let mut limits = wgpu::Limits::default();
        if adapter.max_storage_buffers_per_shader_stage < 8 {
            return Err(GpuError::TooLarge(format!(
                "the kernels bind 8 storage buffers; the adapter allows {}",
                adapter.max_storage_buffers_per_shader_stage
            )));
        }
        // Ask for what the scenario needs and no more, so the request succeeds wherever it can.
        limits.max_storage_buffer_binding_size = limits
            .max_storage_buffer_binding_size
            .max(self.largest_binding);
        limits.max_buffer_size = limits.max_buffer_size.max(self.largest_buffer);
        self.fits(adapter, "adapter")?;
        limits.max_compute_workgroups_per_dimension = adapter.max_compute_workgroups_per_dimension;
        Ok(limits)
    }
}

/// A compute pipeline and its one bind group.
struct Kernel {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
}

impl Kernel {
    /// Compiles `source` and binds `buffers` (see [`compile`] and [`Kernel::bind`]).
    fn new(device: &wgpu::Device, name: &str, source: &str, buffers: &[&wgpu::Buffer]) -> Kernel {
        Kernel::bind(device, name, &compile(device, name, source), buffers)
    }

    /// `pipeline` with `buffers` bound to bindings 0, 1, ... of group 0.
    fn bind(
        device: &wgpu::Device,
        name: &str,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
    ) -> Kernel {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: binding as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(name),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Kernel {
            pipeline: pipeline.clone(),
            bind_group,
        }
    }
}

/// The compute pipeline of the kernel file `source`, compiled after the shared declarations of
/// `common.wgsl`.
fn compile(device: &wgpu::Device, name: &str, source: &str) -> wgpu::ComputePipeline {
    let source = format!("{}\n{source}", include_str!("../../shaders/common.wgsl"));
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    // `layout: None` derives the bind group layout from the shader, which names exactly the
    // bindings each kernel uses.
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// The training step's pipelines, compiled once per device and shared by every set built on it
/// ([`GpuRunSet::rebuild`] reuses them: compiling is the slow part of a start, in a browser most).
#[derive(Clone)]
struct Pipelines {
    rows: wgpu::ComputePipeline,
    pairs: wgpu::ComputePipeline,
    coefficients: wgpu::ComputePipeline,
    update: wgpu::ComputePipeline,
    advance: wgpu::ComputePipeline,
}

impl Pipelines {
    fn new(device: &wgpu::Device) -> Pipelines {
        Pipelines {
            rows: compile(device, "rows", include_str!("../../shaders/rows.wgsl")),
            pairs: compile(device, "pairs", include_str!("../../shaders/pairs.wgsl")),
            coefficients: compile(
                device,
                "coefficients",
                include_str!("../../shaders/coefficients.wgsl"),
            ),
            update: compile(device, "update", include_str!("../../shaders/update.wgsl")),
            advance: compile(
                device,
                "advance",
                include_str!("../../shaders/advance.wgsl"),
            ),
        }
    }
}

/// The buffers the metric kernels read besides the logits, kept to build them later.
struct SharedBuffers {
    sizes: wgpu::Buffer,
    problem: wgpu::Buffer,
    runs: wgpu::Buffer,
    pair_constants: wgpu::Buffer,
    log_reference: wgpu::Buffer,
}

/// The metric kernels and their buffers, built by the first [`GpuRunSet::read_metrics`], so
/// that a set that never asks (the page, which reads the state) never compiles them.
struct MetricKernels {
    rows: Kernel,
    pairs: Kernel,
    runs: Kernel,
    metrics: wgpu::Buffer,
    margins: wgpu::Buffer,
    staging: wgpu::Buffer,
}

impl MetricKernels {
    fn new(
        device: &wgpu::Device,
        plan: &Plan,
        shared: &SharedBuffers,
        logits: &wgpu::Buffer,
    ) -> MetricKernels {
        let empty = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            zeroed_buffer(device, label, size, usage)
        };
        let storage = wgpu::BufferUsages::STORAGE;
        // Every metric kernel uses the workgroup reductions of `reduce.wgsl`.
        let source =
            |kernel: &str| format!("{}\n{kernel}", include_str!("../../shaders/reduce.wgsl"));
        let metric_rows = empty("metric rows", plan.metric_rows_bytes, storage);
        let partials = empty("metric partials", plan.metric_partials_bytes, storage);
        let metrics = empty(
            "metrics",
            plan.metrics_bytes,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let margins = empty(
            "margins",
            plan.margins_bytes,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let staging = empty(
            "metric staging",
            plan.metrics_bytes + plan.margins_bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let rows = Kernel::new(
            device,
            "metric rows",
            &source(include_str!("../../shaders/metric_rows.wgsl")),
            &[
                &shared.sizes,
                &shared.problem,
                &shared.log_reference,
                logits,
                &metric_rows,
            ],
        );
        let pairs = Kernel::new(
            device,
            "metric pairs",
            &source(include_str!("../../shaders/metric_pairs.wgsl")),
            &[
                &shared.sizes,
                &shared.problem,
                &shared.runs,
                &shared.pair_constants,
                &shared.log_reference,
                logits,
                &metric_rows,
                &partials,
                &margins,
            ],
        );
        let runs = Kernel::new(
            device,
            "metric runs",
            &source(include_str!("../../shaders/metric_runs.wgsl")),
            &[&shared.sizes, &partials, &metric_rows, &metrics],
        );
        MetricKernels {
            rows,
            pairs,
            runs,
            metrics,
            margins,
            staging,
        }
    }
}

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
    /// Whether any run needs the row pass (length normalisation or KL), the coefficient pass.
    needs_rows: bool,
    needs_coefficients: bool,
    max_workgroups_per_dimension: u32,
    logits: wgpu::Buffer,
    moments: wgpu::Buffer,
    schedule: wgpu::Buffer,
    staging: wgpu::Buffer,
    rows: Kernel,
    pairs: Kernel,
    coefficients: Kernel,
    update: Kernel,
    advance: Kernel,
    /// The metric kernels, once asked for, and the buffers they need to be built.
    metric_kernels: Option<MetricKernels>,
    shared: SharedBuffers,
    /// The pairs' total weight, in f64 as the CPU's metrics sum it.
    total_weight: f64,
    /// The first device loss or uncaptured error, reported by the next readback.
    failure: Arc<Mutex<Option<String>>>,
    /// Host-side schedule words, reused between submissions.
    schedule_words: Vec<u32>,
}

impl GpuRunSet {
    /// Finds an adapter (high performance preferred), requests a device with the limits this
    /// scenario needs, and builds everything for `configs` on `problem`.
    pub async fn new(problem: &Problem, configs: &[RunConfig]) -> Result<GpuRunSet, GpuError> {
        let (device, queue, info) = open(&Plan::of(problem, configs)?).await?;
        GpuRunSet::new_inner(device, queue, info, problem, configs)
    }

    /// As [`GpuRunSet::new`], but every run continues from the state of a CPU [`Run`]: its
    /// logits, optimiser moments, step count and minibatch sampler (what the page does when the
    /// user switches to WebGPU mid-training).
    pub async fn from_runs(problem: &Problem, runs: &[Run]) -> Result<GpuRunSet, GpuError> {
        let configs: Vec<RunConfig> = runs.iter().map(|run| run.config().clone()).collect();
        let (device, queue, info) = open(&Plan::of(problem, &configs)?).await?;
        let pipelines = Pipelines::new(&device);
        GpuRunSet::build(device, queue, info, problem, runs.to_vec(), pipelines)
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
        for (i, config) in configs.iter().enumerate() {
            config
                .validate()
                .map_err(|e| GpuError::Input(e.within(&format!("runs[{i}]"))))?;
        }
        // Sizes are checked before anything large is allocated.
        GpuRunSet::check_size(&Plan::of(problem, configs)?, &device)?;
        let shadows = configs
            .iter()
            .enumerate()
            .map(|(i, config)| {
                Run::new(config.clone(), problem)
                    .map_err(|e| GpuError::Input(e.within(&format!("runs[{i}]"))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pipelines = Pipelines::new(&device);
        GpuRunSet::build(device, queue, adapter, problem, shadows, pipelines)
    }

    /// `TooLarge` unless `plan` fits `device`: its buffers and its largest dispatch.
    fn check_size(plan: &Plan, device: &wgpu::Device) -> Result<(), GpuError> {
        let limits = device.limits();
        plan.fits(&limits, "device")?;
        let max_workgroups_per_dimension = limits.max_compute_workgroups_per_dimension.max(1);
        // The largest dispatch: one invocation per (run, logit) or (run, pair), or one workgroup
        // per (run, prompt) row or per (run, metric chunk).
        let largest_dispatch = (plan.runs * plan.prompts * plan.outputs)
            .max(plan.runs * plan.pairs)
            .div_ceil(WORKGROUP as usize)
            .max(plan.runs * plan.prompts)
            .max(plan.runs * plan.metric_chunks);
        if largest_dispatch.div_ceil(max_workgroups_per_dimension as usize)
            > max_workgroups_per_dimension as usize
        {
            return Err(GpuError::TooLarge(format!(
                "{largest_dispatch} workgroups exceed a 2D grid of {max_workgroups_per_dimension}^2"
            )));
        }
        Ok(())
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
        GpuRunSet::check_size(&plan, &device)?;
        let max_workgroups_per_dimension =
            device.limits().max_compute_workgroups_per_dimension.max(1);
        let failure = Arc::new(Mutex::new(None::<String>));
        {
            // Without a handler wgpu panics on an uncaptured error; record it instead, and report
            // it (and a device loss) from the next readback as `GpuError::Lost`.
            let on_error = failure.clone();
            device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
                record(&on_error, error.to_string())
            }));
            let on_loss = failure.clone();
            device.set_device_lost_callback(move |reason, message| {
                record(&on_loss, format!("{reason:?}: {message}"))
            });
        }

        let data = Data::of(problem, &shadows, &plan);
        use wgpu::util::DeviceExt;
        let storage = wgpu::BufferUsages::STORAGE;
        let init = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let sizes = init(
            "sizes",
            bytemuck::bytes_of(&data.sizes),
            wgpu::BufferUsages::UNIFORM,
        );
        let problem_buffer = init(
            "problem",
            &padded(&data.problem, plan.problem_bytes),
            storage,
        );
        let runs_buffer = init("runs", &padded(&data.runs, 64), storage);
        let pair_constants = init(
            "pair constants",
            &padded(&data.pair_constants, plan.pair_constants_bytes),
            storage,
        );
        let log_reference = init(
            "log reference",
            &padded(problem.log_reference(), 64),
            storage,
        );
        // Logits and moments are copied to the staging buffer on readback; logits can be written.
        let logits = init(
            "logits",
            &padded(&data.logits, plan.logits_bytes),
            storage | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        );
        // Every run's first moments, then every run's second moments (zero for SGD).
        let moments = init(
            "moments",
            &padded(&data.moments, plan.moments_bytes),
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let empty = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            zeroed_buffer(&device, label, size, usage)
        };
        let rows_buffer = empty(
            "rows",
            (16 * (plan.runs * plan.prompts) as u64).max(64),
            storage,
        );
        let pair_values = empty("pair values", plan.pair_values_bytes, storage);
        // Written by the host before each submission, then counted by `advance.wgsl`.
        let schedule = empty(
            "schedule",
            plan.schedule_bytes,
            storage | wgpu::BufferUsages::COPY_DST,
        );
        let staging = empty(
            "staging",
            plan.logits_bytes + plan.moments_bytes,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let kernel = |name: &str, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]| {
            Kernel::bind(&device, name, pipeline, buffers)
        };
        let rows = kernel(
            "rows",
            &pipelines.rows,
            &[
                &sizes,
                &runs_buffer,
                &schedule,
                &log_reference,
                &logits,
                &rows_buffer,
            ],
        );
        let pairs = kernel(
            "pairs",
            &pipelines.pairs,
            &[
                &sizes,
                &problem_buffer,
                &runs_buffer,
                &pair_constants,
                &schedule,
                &log_reference,
                &logits,
                &rows_buffer,
                &pair_values,
            ],
        );
        let coefficients = kernel(
            "coefficients",
            &pipelines.coefficients,
            &[
                &sizes,
                &problem_buffer,
                &runs_buffer,
                &pair_values,
                &rows_buffer,
            ],
        );
        let update = kernel(
            "update",
            &pipelines.update,
            &[
                &sizes,
                &problem_buffer,
                &runs_buffer,
                &schedule,
                &log_reference,
                &logits,
                &moments,
                &rows_buffer,
                &pair_values,
            ],
        );
        let advance = kernel("advance", &pipelines.advance, &[&schedule]);
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
        let needs_rows = configs
            .iter()
            .any(|c| c.length_normalize || matches!(c.regularizer, Regularizer::Kl { .. }));
        let needs_coefficients = configs.iter().any(|c| c.length_normalize);
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
            needs_rows,
            needs_coefficients,
            max_workgroups_per_dimension,
            logits,
            moments,
            schedule,
            staging,
            rows,
            pairs,
            coefficients,
            update,
            advance,
            metric_kernels: None,
            shared: SharedBuffers {
                sizes,
                problem: problem_buffer,
                runs: runs_buffer,
                pair_constants,
                log_reference,
            },
            total_weight: problem.pairs().iter().map(|pair| pair.weight as f64).sum(),
            failure,
            schedule_words: Vec::new(),
        })
    }

    /// A set for new data or new runs on the same device (no new adapter request, the compiled
    /// pipelines reused), each run continuing from the state of `runs` (as
    /// [`GpuRunSet::from_runs`]): what the page does after an edit while training on WebGPU.
    /// `Lost` if the device already failed; `Input` if a run does not fit the problem's shape.
    pub fn rebuild(&self, problem: &Problem, runs: &[Run]) -> Result<GpuRunSet, GpuError> {
        // A device that already failed stays failed: say so now, not at the next readback.
        self.check()?;
        for (i, run) in runs.iter().enumerate() {
            // A run built for other data cannot train on this problem.
            if run.logits().len() != problem.prompt_count() * problem.output_count() {
                return Err(GpuError::Input(InputError::new(
                    format!("runs[{i}]"),
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
        let n = self.plan.prompts * self.plan.outputs;
        if run < self.plan.runs && logits.len() == n {
            self.queue.write_buffer(
                &self.logits,
                (4 * run * n) as u64,
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
        let masks_start = SCHEDULE_HEADER + plan.steps_per_submission * plan.runs * STEP_WORDS;
        let used = masks_start + count * plan.minibatch_runs * plan.mask_words;
        let mut words = std::mem::take(&mut self.schedule_words);
        words.clear();
        words.resize(used, 0);
        for s in 0..count {
            for (r, shadow) in self.shadows.iter_mut().enumerate() {
                let step = self.base_steps[r] + self.steps + s as u64;
                let at = SCHEDULE_HEADER + (s * plan.runs + r) * STEP_WORDS;
                let (step_size, inverse_root_correction2) = match shadow.config().optimizer {
                    Optimizer::Adam {
                        lr, beta1, beta2, ..
                    } => adam_corrections(lr, beta1, beta2, step),
                    Optimizer::Sgd { .. } => (0.0, 0.0),
                };
                // The shadow's sampler draws the batch, exactly as the CPU engine's step would.
                let (inverse_total, mask) = match (shadow.next_batch(), self.mask_slots[r]) {
                    (Some(batch), Some(slot)) => {
                        let mask = masks_start + (s * plan.minibatch_runs + slot) * plan.mask_words;
                        for &pair in batch {
                            words[mask + pair as usize / 32] |= 1 << (pair % 32);
                        }
                        let pairs = self.problem.pairs();
                        let weight = total_weight(batch.iter().map(|&i| pairs[i as usize].weight));
                        (1.0 / weight, mask as u32)
                    }
                    _ => (self.inverse_total_weight, FULL_BATCH),
                };
                words[at] = step_size.to_bits();
                words[at + 1] = inverse_root_correction2.to_bits();
                words[at + 2] = step as u32;
                words[at + 3] = inverse_total.to_bits();
                words[at + 4] = mask;
            }
        }
        // The counter (word 0) starts at 0; `advance.wgsl` moves it on after each step, so one
        // write serves every step of the submission.
        self.queue
            .write_buffer(&self.schedule, 0, bytemuck::cast_slice(&words));
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("steps"),
            });
        {
            // One pass for every step: dispatches in a pass run in order, each seeing the storage
            // writes of the ones before, so no pass boundaries are needed between kernels.
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("steps"),
                timestamp_writes: None,
            });
            let rows = (plan.runs * plan.prompts) as u32;
            let pairs = (plan.runs * plan.pairs) as u32;
            let logits = (plan.runs * plan.prompts * plan.outputs) as u32;
            for _ in 0..count {
                if self.needs_rows {
                    // One workgroup per row.
                    self.dispatch(&mut pass, &self.rows, rows);
                }
                self.dispatch(&mut pass, &self.pairs, pairs.div_ceil(WORKGROUP));
                if self.needs_coefficients {
                    self.dispatch(&mut pass, &self.coefficients, rows.div_ceil(WORKGROUP));
                }
                self.dispatch(&mut pass, &self.update, logits.div_ceil(WORKGROUP));
                self.dispatch(&mut pass, &self.advance, 1);
            }
        }
        self.queue.submit([encoder.finish()]);
        self.steps += count as u64;
        self.schedule_words = words;
    }

    /// Dispatches `workgroups` workgroups of `kernel` (see [`dispatch`]).
    fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, kernel: &Kernel, workgroups: u32) {
        dispatch(pass, kernel, workgroups, self.max_workgroups_per_dimension);
    }

    /// Blocks until every submitted step has run (natively only: a browser must never block, and
    /// awaits a readback instead). For timing; `Err(Lost)` once the device was lost.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Lost(e.to_string()))?;
        self.check()
    }

    /// Copies the logits (and, with `moments`, the moments after them) to the staging buffer and
    /// awaits its mapping; returns the values.
    async fn read_back(&mut self, moments: bool) -> Result<Vec<f32>, GpuError> {
        self.check()?;
        let encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("read back"),
            });
        let mut copies = vec![(&self.logits, self.plan.logits_bytes)];
        if moments {
            copies.push((&self.moments, self.plan.moments_bytes));
        }
        let words = self.map_copies(encoder, &self.staging, &copies).await?;
        Ok(words.into_iter().map(f32::from_bits).collect())
    }

    /// Appends to `encoder` copies of each `(buffer, bytes)` into `staging`, one after the other,
    /// submits it and awaits the mapping (natively by polling; in the browser the event loop
    /// runs the callback, so nothing blocks); returns the words copied.
    async fn map_copies(
        &self,
        mut encoder: wgpu::CommandEncoder,
        staging: &wgpu::Buffer,
        copies: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<u32>, GpuError> {
        let mut total = 0;
        for &(buffer, bytes) in copies {
            encoder.copy_buffer_to_buffer(buffer, 0, staging, total, bytes);
            total += bytes;
        }
        self.queue.submit([encoder.finish()]);
        let (sender, receiver) = futures_channel::oneshot::channel();
        let slice = staging.slice(..total);
        slice.map_async(wgpu::MapMode::Read, move |result| {
            // The receiver may be gone if the caller dropped the future; nothing to do then.
            let _ = sender.send(result);
        });
        // Natively the callback only runs inside `poll`; in the browser the event loop runs it and
        // `poll` does nothing, so this wait happens only off the web.
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Lost(e.to_string()))?;
        let mapped = receiver
            .await
            .map_err(|_| GpuError::Lost("the readback was cancelled".into()))?;
        if let Err(error) = mapped {
            self.check()?;
            return Err(GpuError::Lost(error.to_string()));
        }
        let words = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| GpuError::Lost(e.to_string()))?;
            bytemuck::cast_slice::<u8, u32>(&view).to_vec()
        };
        staging.unmap();
        self.check()?;
        Ok(words)
    }

    /// `Err(Lost)` once the device was lost or reported an error.
    fn check(&self) -> Result<(), GpuError> {
        match self.failure.lock().map(|f| f.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(GpuError::Lost(why)),
            Err(_) => Err(GpuError::Lost("an error handler panicked".into())),
        }
    }

    /// Every run's logits, row-major `[prompt][output]`, after the steps submitted so far.
    pub async fn read_logits(&mut self) -> Result<Vec<Vec<f32>>, GpuError> {
        let n = self.plan.prompts * self.plan.outputs;
        let values = self.read_back(false).await?;
        Ok((0..self.plan.runs)
            .map(|r| values[r * n..(r + 1) * n].to_vec())
            .collect())
    }

    /// Every run's whole state (logits, optimiser moments, step count) read back into a CPU
    /// [`Run`]: for metrics, for output, and to train on with the CPU engine if the device is lost.
    pub async fn read_runs(&mut self) -> Result<Vec<Run>, GpuError> {
        let n = self.plan.prompts * self.plan.outputs;
        let total = self.plan.runs * n;
        let values = self.read_back(true).await?;
        let logits_words = (self.plan.logits_bytes / 4) as usize;
        let (logits, moments) = values.split_at(logits_words);
        Ok(self
            .shadows
            .iter()
            .enumerate()
            .map(|(r, shadow)| {
                let mut run = shadow.clone();
                let range = r * n..(r + 1) * n;
                let second = total + r * n..total + (r + 1) * n;
                run.set_state(
                    &logits[range.clone()],
                    &moments[range],
                    &moments[second],
                    self.run_steps(r),
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
        self.check()?;
        if self.metric_kernels.is_none() {
            let kernels = MetricKernels::new(&self.device, &self.plan, &self.shared, &self.logits);
            self.metric_kernels = Some(kernels);
        }
        let Some(kernels) = &self.metric_kernels else {
            unreachable!("the metric kernels were built just above")
        };
        let plan = &self.plan;
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("metrics"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("metrics"),
                timestamp_writes: None,
            });
            // One workgroup per row, per (run, chunk) and per run.
            let limit = self.max_workgroups_per_dimension;
            dispatch(
                &mut pass,
                &kernels.rows,
                (plan.runs * plan.prompts) as u32,
                limit,
            );
            dispatch(
                &mut pass,
                &kernels.pairs,
                (plan.runs * plan.metric_chunks) as u32,
                limit,
            );
            dispatch(&mut pass, &kernels.runs, plan.runs as u32, limit);
        }
        let mut copies = vec![(&kernels.metrics, plan.metrics_bytes)];
        if with_margins {
            copies.push((&kernels.margins, plan.margins_bytes));
        }
        let words = self.map_copies(encoder, &kernels.staging, &copies).await?;
        let plan = &self.plan;
        let metrics = words
            .chunks(METRIC_WORDS)
            .take(plan.runs)
            .enumerate()
            .map(|(run, words)| self.decode_metrics(run, words))
            .collect();
        let margins = with_margins.then(|| {
            let start = (plan.metrics_bytes / 4) as usize;
            (0..plan.runs)
                .map(|r| {
                    words[start + r * plan.pairs..start + (r + 1) * plan.pairs]
                        .iter()
                        .map(|&word| f32::from_bits(word))
                        .collect()
                })
                .collect()
        });
        Ok(GpuMetrics { metrics, margins })
    }

    /// One run's [`Metrics`] from its `METRIC_WORDS` words (see `shaders/metric_runs.wgsl`): the
    /// divisions by the total weight and by the prompt count, in f64.
    fn decode_metrics(&self, run: usize, words: &[u32]) -> Metrics {
        let value = |i: usize| f32::from_bits(words[i]) as f64;
        let wide = |i: usize| words[i] as u64 | (words[i + 1] as u64) << 32;
        let weight = if self.total_weight > 0.0 {
            self.total_weight
        } else {
            1.0
        };
        let prompts = self.plan.prompts as f64;
        let mut table = LearningTable::default();
        for (c, (reference_right, policy_right)) in
            [(true, true), (true, false), (false, true), (false, false)]
                .into_iter()
                .enumerate()
        {
            *table.cell_mut(reference_right, policy_right) = LearningCell {
                pairs: words[16 + c] as usize,
                weight: value(8 + c),
                signal: value(12 + c),
                share: 0.0,
            };
        }
        table.finish();
        let chosen_reward = value(3) / weight;
        let rejected_reward = value(4) / weight;
        let truth = self.plan.metric_flags & METRIC_TRUTH != 0;
        let ranking = self.plan.metric_flags & METRIC_RANKING != 0;
        let (agree, comparable) = (wide(24), wide(26));
        // Non-finite logits (word 28), or margins (word 5, counted by metric_pairs.wgsl).
        let diverged = words[28] > 0 || value(5) != 0.0;
        Metrics {
            step: self.run_steps(run),
            diverged,
            // The kernels see a non-finite logit or margin at a record, not the step that made it.
            diverged_at: diverged.then(|| self.run_steps(run)),
            loss: value(0) / weight,
            accuracy: value(1) / weight,
            reference_accuracy: value(2) / weight,
            kl: value(20) / prompts,
            entropy: value(21) / prompts,
            chosen_reward,
            rejected_reward,
            reward_margin: chosen_reward - rejected_reward,
            learning_table: table,
            accumulated_table: None,
            unlearned_pairs: None,
            true_reward: truth.then(|| value(22) / prompts),
            ranking_agreement: ranking.then(|| {
                if comparable == 0 {
                    1.0
                } else {
                    agree as f64 / comparable as f64
                }
            }),
        }
    }
}

/// What [`GpuRunSet::read_metrics`] reads back.
#[derive(Clone, Debug)]
pub struct GpuMetrics {
    /// Every run's metrics.
    pub metrics: Vec<Metrics>,
    /// Every run's margin `u` per pair, in pair order (when asked for).
    pub margins: Option<Vec<Vec<f32>>>,
}

/// Dispatches `workgroups` workgroups of `kernel`, as a 2D grid past the per-dimension `limit`
/// (the kernels flatten the grid and ignore the excess of the last row).
fn dispatch(pass: &mut wgpu::ComputePass<'_>, kernel: &Kernel, workgroups: u32, limit: u32) {
    if workgroups == 0 {
        return;
    }
    let x = workgroups.min(limit);
    pass.set_pipeline(&kernel.pipeline);
    pass.set_bind_group(0, &kernel.bind_group, &[]);
    pass.dispatch_workgroups(x, workgroups.div_ceil(x), 1);
}

/// A fresh buffer of `size` bytes: WebGPU zeroes it (the optimiser state starts at zero).
fn zeroed_buffer(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    })
}

/// Finds an adapter (high performance preferred) and requests a device with the limits `plan`
/// needs.
async fn open(plan: &Plan) -> Result<(wgpu::Device, wgpu::Queue, wgpu::AdapterInfo), GpuError> {
    // From the environment, so that WGPU_BACKEND and WGPU_ADAPTER_NAME can pick an adapter.
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
    let limits = plan.limits(&adapter.limits())?;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("dpo-playground"),
            required_limits: limits,
            ..Default::default()
        })
        .await
        .map_err(|e| GpuError::Device(e.to_string()))?;
    Ok((device, queue, adapter.get_info()))
}

/// Keeps the first failure (later ones are usually its consequences).
fn record(failure: &Mutex<Option<String>>, message: String) {
    if let Ok(mut failure) = failure.lock() {
        failure.get_or_insert(message);
    }
}

/// The bytes of `values`, zero-padded to at least `bytes`.
fn padded<T: bytemuck::Pod>(values: &[T], bytes: u64) -> Vec<u8> {
    let mut data = bytemuck::cast_slice::<T, u8>(values).to_vec();
    if (data.len() as u64) < bytes {
        data.resize(bytes as usize, 0);
    }
    data
}

/// The initial contents of the buffers, built on the host.
struct Data {
    sizes: Sizes,
    problem: Vec<u32>,
    runs: Vec<RunParams>,
    pair_constants: Vec<f32>,
    logits: Vec<f32>,
    /// Every run's first moments, then every run's second moments.
    moments: Vec<f32>,
}

impl Data {
    fn of(problem: &Problem, shadows: &[Run], plan: &Plan) -> Data {
        let k = plan.outputs;
        let n = plan.prompts * k;
        let pairs = problem.pairs();
        let mut words = Vec::new();
        for pair in pairs {
            words.extend([
                (pair.prompt * k + pair.chosen) as u32,
                (pair.prompt * k + pair.rejected) as u32,
                pair.prompt as u32,
                pair.weight.to_bits(),
            ]);
        }
        let inverse_lengths_start = words.len();
        for output in problem.outputs() {
            // With length normalisation 1 / L(y), as `Run` computes it; the flag decides its use.
            words.push((1.0 / output.length).to_bits());
        }
        // The CSR index of the (pair, side) entries touching each logit, in pair order, each entry
        // the offset of its value in a run's pair values: built once, it replaces float atomics.
        let mut counts = vec![0u32; n + 1];
        for pair in pairs {
            counts[pair.prompt * k + pair.chosen + 1] += 1;
            counts[pair.prompt * k + pair.rejected + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut entries = vec![0u32; 2 * pairs.len()];
        let mut next = counts.clone();
        for (p, pair) in pairs.iter().enumerate() {
            for (side, y) in [(0, pair.chosen), (1, pair.rejected)] {
                let logit = pair.prompt * k + y;
                entries[next[logit] as usize] = (PAIR_VALUES * p + side) as u32;
                next[logit] += 1;
            }
        }
        let logit_offsets_start = words.len();
        words.extend(&counts);
        let logit_entries_start = words.len();
        words.extend(&entries);
        // The pairs of each prompt, in pair order, for the row coefficients.
        let mut prompt_offsets = vec![0u32; plan.prompts + 1];
        for pair in pairs {
            prompt_offsets[pair.prompt + 1] += 1;
        }
        for x in 0..plan.prompts {
            prompt_offsets[x + 1] += prompt_offsets[x];
        }
        let mut prompt_pairs = vec![0u32; pairs.len()];
        let mut next = prompt_offsets.clone();
        for (p, pair) in pairs.iter().enumerate() {
            prompt_pairs[next[pair.prompt] as usize] = p as u32;
            next[pair.prompt] += 1;
        }
        let prompt_offsets_start = words.len();
        words.extend(&prompt_offsets);
        let prompt_pairs_start = words.len();
        words.extend(&prompt_pairs);

        // The ground truth's reward and its dense rank within the prompt (ranks compare exactly what
        // the f64 rewards compare, where f32 values might tie).
        let (mut true_reward_start, mut reward_rank_start) = (0, 0);
        if let Some(reward) = problem.true_reward() {
            true_reward_start = words.len();
            words.extend(reward.iter().map(|&r| (r as f32).to_bits()));
            reward_rank_start = words.len();
            for row in reward.chunks(k) {
                let mut sorted = row.to_vec();
                sorted.sort_by(f64::total_cmp);
                sorted.dedup();
                words.extend(row.iter().map(|r| sorted.partition_point(|s| s < r) as u32));
            }
        }

        // Per (run, pair): gamma h_0 + m and h_0, the CPU engine's own f32 values.
        let mut pair_constants = Vec::with_capacity(2 * shadows.len() * pairs.len());
        let mut logits = Vec::with_capacity(shadows.len() * n);
        for shadow in shadows {
            for (offset, reference_log_ratio) in
                shadow.offsets().iter().zip(shadow.reference_log_ratios())
            {
                pair_constants.extend([*offset, *reference_log_ratio]);
            }
            logits.extend_from_slice(shadow.logits());
        }
        let mut moments = Vec::with_capacity(2 * logits.len());
        for shadow in shadows {
            moments.extend_from_slice(shadow.moments().0);
        }
        for shadow in shadows {
            let second = shadow.moments().1;
            if second.is_empty() {
                // SGD keeps no second moment.
                moments.resize(moments.len() + n, 0.0);
            } else {
                moments.extend_from_slice(second);
            }
        }
        Data {
            sizes: Sizes {
                runs: plan.runs as u32,
                prompts: plan.prompts as u32,
                outputs: plan.outputs as u32,
                pairs: plan.pairs as u32,
                logits_per_run: n as u32,
                inverse_lengths_start: inverse_lengths_start as u32,
                logit_offsets_start: logit_offsets_start as u32,
                logit_entries_start: logit_entries_start as u32,
                prompt_offsets_start: prompt_offsets_start as u32,
                prompt_pairs_start: prompt_pairs_start as u32,
                true_reward_start: true_reward_start as u32,
                reward_rank_start: reward_rank_start as u32,
                metric_flags: plan.metric_flags,
                metric_chunks: plan.metric_chunks as u32,
                _pad: [0; 2],
            },
            problem: words,
            runs: shadows.iter().map(|s| RunParams::of(s.config())).collect(),
            pair_constants,
            logits,
            moments,
        }
    }
}
