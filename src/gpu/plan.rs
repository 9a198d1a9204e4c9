//! What a scenario needs of a device: the buffer sizes, the submission size, the limits to
//! request, and [`GpuError::TooLarge`] where a scenario exceeds what a device offers or what a
//! 32-bit index addresses. Checked before anything large is allocated.

use super::error::GpuError;
use super::kernel::max_storage_bindings;
use super::layout::{
    metric_flags, MetricRow, PairConstants, PairSums, ProblemPair, RowTerms, RunMetrics, RunParams,
    ScheduleHeader, StepParams, PAIR_VALUES, WORKGROUP,
};
use crate::engine::{Problem, RunConfig, RANKING_MAX_OUTPUTS};
use std::mem::size_of;

/// At most this many steps go into one submission, so that one submission stays short enough
/// for a browser's or a driver's watchdog.
const MAX_STEPS_PER_SUBMISSION: usize = 256;
/// Logit updates per submission to aim for when choosing how many steps it holds.
const WORK_PER_SUBMISSION: usize = 1 << 26;
/// At most this many workgroups per run reduce the pair metrics (metric_runs.wgsl's threads take
/// one chunk each).
const MAX_METRIC_CHUNKS: usize = WORKGROUP as usize;
/// The smallest buffer: a binding needs at least one element (64 bytes covers every struct but
/// the metric records, whose buffers are never smaller than one record).
const MIN_BUFFER_BYTES: u64 = 64;

/// The bytes of `count` elements of `element_bytes` each, at least [`MIN_BUFFER_BYTES`].
fn buffer_bytes(count: usize, element_bytes: usize) -> u64 {
    (count as u64 * element_bytes as u64).max(MIN_BUFFER_BYTES)
}

/// The sizes (in bytes) of the buffers a scenario needs, and the numbers behind them.
pub(super) struct Plan {
    pub runs: usize,
    pub prompts: usize,
    pub outputs: usize,
    pub pairs: usize,
    /// Runs that draw minibatches (smaller than the pair count).
    pub minibatch_runs: usize,
    /// Words of one minibatch bit mask.
    pub mask_words: usize,
    /// Steps per submission.
    pub steps_per_submission: usize,
    /// Workgroups per run reducing the pair metrics.
    pub metric_chunks: usize,
    /// `metric_flags::TRUTH` and `metric_flags::RANKING`.
    pub metric_flags: u32,
    /// Words of the problem buffer (see `shaders/problem.wgsl`).
    pub problem_words: usize,
    pub logits_bytes: u64,
    pub moments_bytes: u64,
    pub problem_bytes: u64,
    pub runs_bytes: u64,
    pub pair_constants_bytes: u64,
    pub pair_values_bytes: u64,
    pub rows_bytes: u64,
    pub schedule_bytes: u64,
    pub batch_masks_bytes: u64,
    pub metric_rows_bytes: u64,
    pub metric_partials_bytes: u64,
    pub metrics_bytes: u64,
    pub margins_bytes: u64,
    /// The largest storage binding, and the largest buffer (the staging buffers included).
    pub largest_binding: u64,
    pub largest_buffer: u64,
}

impl Plan {
    /// The plan of `configs` on `problem`, or `TooLarge` when an index would overflow 32 bits.
    pub(super) fn of(problem: &Problem, configs: &[RunConfig]) -> Result<Plan, GpuError> {
        let runs = configs.len();
        let prompts = problem.prompt_count();
        let outputs = problem.output_count();
        let pairs = problem.pairs().len();
        let logits = runs * prompts * outputs;
        let minibatch_runs = configs
            .iter()
            .filter(|config| config.batch_size.is_some_and(|size| size < pairs))
            .count();
        let mask_words = pairs.div_ceil(32);
        let work_per_step = (logits + runs * pairs).max(1);
        let steps_per_submission =
            (WORK_PER_SUBMISSION / work_per_step).clamp(1, MAX_STEPS_PER_SUBMISSION);
        let truth = problem.true_reward().is_some();
        let mut metric_flags = 0;
        if truth {
            metric_flags |= metric_flags::TRUTH;
            if outputs <= RANKING_MAX_OUTPUTS {
                metric_flags |= metric_flags::RANKING;
            }
        }
        let metric_chunks = pairs
            .div_ceil(WORKGROUP as usize)
            .clamp(1, MAX_METRIC_CHUNKS);
        let problem_words = size_of::<ProblemPair>() / 4 * pairs
            + outputs
            + (prompts * outputs + 1)
            + 2 * pairs
            + (prompts + 1)
            + pairs
            + prompts * outputs
            + if truth { 2 * prompts * outputs } else { 0 };
        let step_params = steps_per_submission * runs;
        let mask_words_per_submission = steps_per_submission * minibatch_runs * mask_words;
        let words = |count: usize, element: usize| count * (element / 4);
        // Every index the kernels compute is a u32: check the largest array each kernel indexes,
        // in 4-byte values.
        let largest_index = (2 * logits)
            .max(PAIR_VALUES * runs * pairs)
            .max(problem_words)
            .max(
                words(1, size_of::<ScheduleHeader>()) + words(step_params, size_of::<StepParams>()),
            )
            .max(mask_words_per_submission)
            .max(words(runs * metric_chunks, size_of::<PairSums>()))
            .max(words(runs * prompts, size_of::<MetricRow>()));
        if largest_index >= u32::MAX as usize / 4 {
            return Err(GpuError::TooLarge(format!(
                "{runs} runs of {prompts} x {outputs} logits and {pairs} pairs need more than 2^30 \
                 values in one buffer"
            )));
        }
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
            problem_words,
            logits_bytes: buffer_bytes(logits, 4),
            moments_bytes: buffer_bytes(2 * logits, 4),
            problem_bytes: buffer_bytes(problem_words, 4),
            runs_bytes: buffer_bytes(runs, size_of::<RunParams>()),
            pair_constants_bytes: buffer_bytes(runs * pairs, size_of::<PairConstants>()),
            pair_values_bytes: buffer_bytes(PAIR_VALUES * runs * pairs, 4),
            rows_bytes: buffer_bytes(runs * prompts, size_of::<RowTerms>()),
            schedule_bytes: size_of::<ScheduleHeader>() as u64
                + buffer_bytes(step_params, size_of::<StepParams>()),
            batch_masks_bytes: buffer_bytes(mask_words_per_submission, 4),
            metric_rows_bytes: buffer_bytes(runs * prompts, size_of::<MetricRow>()),
            metric_partials_bytes: buffer_bytes(runs * metric_chunks, size_of::<PairSums>()),
            metrics_bytes: buffer_bytes(runs, size_of::<RunMetrics>()),
            margins_bytes: buffer_bytes(runs * pairs, 4),
            largest_binding: 0,
            largest_buffer: 0,
        };
        let largest_binding = [
            plan.moments_bytes,
            plan.problem_bytes,
            plan.runs_bytes,
            plan.pair_constants_bytes,
            plan.pair_values_bytes,
            plan.rows_bytes,
            plan.schedule_bytes,
            plan.batch_masks_bytes,
            plan.metric_rows_bytes,
            plan.metric_partials_bytes,
            plan.metrics_bytes,
            plan.margins_bytes,
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

    /// `TooLarge` unless the largest buffer fits `limits` (of the `holder`: adapter or device).
    pub(super) fn fits(&self, limits: &wgpu::Limits, holder: &str) -> Result<(), GpuError> {
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

    /// `TooLarge` unless this plan fits `device`: its buffers and its largest dispatch, as a 2D
    /// grid of at most the device's workgroups per dimension.
    pub(super) fn fits_device(&self, device: &wgpu::Device) -> Result<(), GpuError> {
        let limits = device.limits();
        self.fits(&limits, "device")?;
        let max_workgroups_per_dimension = limits.max_compute_workgroups_per_dimension.max(1);
        // The largest dispatch: one invocation per (run, logit) or (run, pair), or one workgroup
        // per (run, prompt) row or per (run, metric chunk).
        let largest_dispatch = (self.runs * self.prompts * self.outputs)
            .max(self.runs * self.pairs)
            .div_ceil(WORKGROUP as usize)
            .max(self.runs * self.prompts)
            .max(self.runs * self.metric_chunks);
        if largest_dispatch.div_ceil(max_workgroups_per_dimension as usize)
            > max_workgroups_per_dimension as usize
        {
            return Err(GpuError::TooLarge(format!(
                "{largest_dispatch} workgroups exceed a 2D grid of {max_workgroups_per_dimension}^2"
            )));
        }
        Ok(())
    }

    /// The device limits this plan needs, starting from WebGPU's defaults (which every adapter
    /// has), raised to the buffer sizes; `TooLarge` when the adapter has less.
    pub(super) fn limits(&self, adapter: &wgpu::Limits) -> Result<wgpu::Limits, GpuError> {
        let mut limits = wgpu::Limits::default();
        let storage_bindings = max_storage_bindings();
        if adapter.max_storage_buffers_per_shader_stage < storage_bindings {
            return Err(GpuError::TooLarge(format!(
                "the kernels bind {storage_bindings} storage buffers; the adapter allows {}",
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

/// A device opened for a plan, its queue, and what the adapter reports about itself.
pub(super) struct OpenDevice {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: wgpu::AdapterInfo,
}

/// Finds an adapter (high performance preferred) and requests a device with the limits `plan`
/// needs.
pub(super) async fn open(plan: &Plan) -> Result<OpenDevice, GpuError> {
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
    Ok(OpenDevice {
        device,
        queue,
        adapter: adapter.get_info(),
    })
}
