//! The device buffers of a set, what the host writes into them (the problem buffer's sections,
//! the runs' constants and state, each submission's schedule and minibatch masks), and which
//! buffer each kernel binding names.

use super::kernel::Binding;
use super::layout::{
    PairConstants, ProblemPair, RunParams, ScheduleHeader, Sizes, StepParams, CHOSEN_TERM,
    PAIR_VALUES, REJECTED_TERM,
};
use super::plan::Plan;
use crate::engine::{Problem, Run};
use std::mem::size_of;
use wgpu::util::DeviceExt;

/// The bytes of `values`, zero-padded to at least `bytes`.
fn padded<T: bytemuck::Pod>(values: &[T], bytes: u64) -> Vec<u8> {
    let mut data = bytemuck::cast_slice::<T, u8>(values).to_vec();
    if (data.len() as u64) < bytes {
        data.resize(bytes as usize, 0);
    }
    data
}

/// A fresh buffer of `size` bytes: WebGPU zeroes it (the optimiser state starts at zero).
pub(super) fn zeroed_buffer(
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

/// The problem buffer's words (`shaders/problem.wgsl`) and the `Sizes` that locate its sections.
struct ProblemBuffer {
    words: Vec<u32>,
    sizes: Sizes,
}

fn problem_buffer(problem: &Problem, plan: &Plan) -> ProblemBuffer {
    let outputs = plan.outputs;
    let logits_per_run = plan.prompts * outputs;
    let pairs = problem.pairs();
    let mut words = Vec::with_capacity(plan.problem_words);
    for pair in pairs {
        words.extend_from_slice(bytemuck::cast_slice(&[ProblemPair {
            chosen: (pair.prompt * outputs + pair.chosen) as u32,
            rejected: (pair.prompt * outputs + pair.rejected) as u32,
            prompt: pair.prompt as u32,
            weight: pair.weight,
        }]));
    }
    let inverse_lengths_start = words.len();
    for output in problem.outputs() {
        // With length normalisation 1 / L(y), as `Run` computes it; the flag decides its use.
        words.push((1.0 / output.length).to_bits());
    }
    // The CSR index of the (pair, side) entries touching each logit, in pair order, each entry
    // the offset of its value in a run's pair values: built once, it replaces float atomics.
    let mut logit_offsets = vec![0u32; logits_per_run + 1];
    for pair in pairs {
        logit_offsets[pair.prompt * outputs + pair.chosen + 1] += 1;
        logit_offsets[pair.prompt * outputs + pair.rejected + 1] += 1;
    }
    for logit in 0..logits_per_run {
        logit_offsets[logit + 1] += logit_offsets[logit];
    }
    let mut logit_entries = vec![0u32; 2 * pairs.len()];
    let mut next = logit_offsets.clone();
    for (index, pair) in pairs.iter().enumerate() {
        for (term, output) in [(CHOSEN_TERM, pair.chosen), (REJECTED_TERM, pair.rejected)] {
            let logit = pair.prompt * outputs + output;
            logit_entries[next[logit] as usize] = (PAIR_VALUES * index + term) as u32;
            next[logit] += 1;
        }
    }
    let logit_offsets_start = words.len();
    words.extend(&logit_offsets);
    let logit_entries_start = words.len();
    words.extend(&logit_entries);
    // The pairs of each prompt, in pair order, for the row coefficients.
    let mut prompt_offsets = vec![0u32; plan.prompts + 1];
    for pair in pairs {
        prompt_offsets[pair.prompt + 1] += 1;
    }
    for prompt in 0..plan.prompts {
        prompt_offsets[prompt + 1] += prompt_offsets[prompt];
    }
    let mut prompt_pairs = vec![0u32; pairs.len()];
    let mut next = prompt_offsets.clone();
    for (index, pair) in pairs.iter().enumerate() {
        prompt_pairs[next[pair.prompt] as usize] = index as u32;
        next[pair.prompt] += 1;
    }
    let prompt_offsets_start = words.len();
    words.extend(&prompt_offsets);
    let prompt_pairs_start = words.len();
    words.extend(&prompt_pairs);
    let log_reference_start = words.len();
    words.extend(problem.log_reference().iter().map(|value| value.to_bits()));

    // The ground truth's reward and its dense rank within the prompt (ranks compare exactly what
    // the f64 rewards compare, where f32 values might tie).
    let (mut true_reward_start, mut reward_rank_start) = (0, 0);
    if let Some(reward) = problem.true_reward() {
        true_reward_start = words.len();
        words.extend(reward.iter().map(|&reward| (reward as f32).to_bits()));
        reward_rank_start = words.len();
        for row in reward.chunks(outputs) {
            let mut sorted = row.to_vec();
            sorted.sort_by(f64::total_cmp);
            sorted.dedup();
            words.extend(
                row.iter()
                    .map(|reward| sorted.partition_point(|lower| lower < reward) as u32),
            );
        }
    }
    let sizes = Sizes {
        runs: plan.runs as u32,
        prompts: plan.prompts as u32,
        outputs: plan.outputs as u32,
        pairs: plan.pairs as u32,
        logits_per_run: logits_per_run as u32,
        inverse_lengths_start: inverse_lengths_start as u32,
        logit_offsets_start: logit_offsets_start as u32,
        logit_entries_start: logit_entries_start as u32,
        prompt_offsets_start: prompt_offsets_start as u32,
        prompt_pairs_start: prompt_pairs_start as u32,
        log_reference_start: log_reference_start as u32,
        true_reward_start: true_reward_start as u32,
        reward_rank_start: reward_rank_start as u32,
        metric_flags: plan.metric_flags,
        metric_chunks: plan.metric_chunks as u32,
        _pad: 0,
    };
    ProblemBuffer { words, sizes }
}

/// The buffers of a set's training step (the metric kernels add their own).
pub(super) struct Buffers {
    pub sizes: wgpu::Buffer,
    pub problem: wgpu::Buffer,
    pub runs: wgpu::Buffer,
    pub pair_constants: wgpu::Buffer,
    /// Every run's logits; copied out on readback, written by `GpuRunSet::write_logits`.
    pub logits: wgpu::Buffer,
    /// Every run's first moments, then every run's second moments (zero for SGD).
    pub moments: wgpu::Buffer,
    pub rows: wgpu::Buffer,
    pub pair_values: wgpu::Buffer,
    /// Written by the host before each submission, its step counted by `advance.wgsl`.
    pub schedule: wgpu::Buffer,
    pub batch_masks: wgpu::Buffer,
}

impl Buffers {
    /// The buffers of `plan`, holding `problem` and the current state of the runs `shadows`.
    pub(super) fn new(
        device: &wgpu::Device,
        problem: &Problem,
        shadows: &[Run],
        plan: &Plan,
    ) -> Buffers {
        let storage = wgpu::BufferUsages::STORAGE;
        let init = |label: &str, contents: &[u8], usage: wgpu::BufferUsages| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let problem_buffer = problem_buffer(problem, plan);
        let logits_per_run = plan.prompts * plan.outputs;
        let runs: Vec<RunParams> = shadows
            .iter()
            .map(|shadow| RunParams::of(shadow.config()))
            .collect();
        // Per (run, pair): gamma h_0 + m and h_0, the CPU engine's own f32 values.
        let pair_constants: Vec<PairConstants> = shadows
            .iter()
            .flat_map(|shadow| {
                shadow
                    .thresholds()
                    .iter()
                    .zip(shadow.reference_log_ratios())
                    .map(|(&threshold, &reference_log_ratio)| PairConstants {
                        threshold,
                        reference_log_ratio,
                    })
            })
            .collect();
        let logits: Vec<f32> = shadows
            .iter()
            .flat_map(|shadow| shadow.logits().iter().copied())
            .collect();
        let mut moments = Vec::with_capacity(2 * logits.len());
        for shadow in shadows {
            moments.extend_from_slice(shadow.moments().0);
        }
        for shadow in shadows {
            let second = shadow.moments().1;
            if second.is_empty() {
                // SGD keeps no second moment.
                moments.resize(moments.len() + logits_per_run, 0.0);
            } else {
                moments.extend_from_slice(second);
            }
        }
        Buffers {
            sizes: init(
                "sizes",
                bytemuck::bytes_of(&problem_buffer.sizes),
                wgpu::BufferUsages::UNIFORM,
            ),
            problem: init(
                "problem",
                &padded(&problem_buffer.words, plan.problem_bytes),
                storage,
            ),
            runs: init("runs", &padded(&runs, plan.runs_bytes), storage),
            pair_constants: init(
                "pair constants",
                &padded(&pair_constants, plan.pair_constants_bytes),
                storage,
            ),
            logits: init(
                "logits",
                &padded(&logits, plan.logits_bytes),
                storage | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            ),
            moments: init(
                "moments",
                &padded(&moments, plan.moments_bytes),
                storage | wgpu::BufferUsages::COPY_SRC,
            ),
            rows: zeroed_buffer(device, "rows", plan.rows_bytes, storage),
            pair_values: zeroed_buffer(device, "pair values", plan.pair_values_bytes, storage),
            schedule: zeroed_buffer(
                device,
                "schedule",
                plan.schedule_bytes,
                storage | wgpu::BufferUsages::COPY_DST,
            ),
            batch_masks: zeroed_buffer(
                device,
                "batch masks",
                plan.batch_masks_bytes,
                storage | wgpu::BufferUsages::COPY_DST,
            ),
        }
    }

    /// The buffer a kernel binding names, if it is one of these.
    pub(super) fn get(&self, binding: Binding) -> Option<&wgpu::Buffer> {
        match binding {
            Binding::Sizes => Some(&self.sizes),
            Binding::Problem => Some(&self.problem),
            Binding::Runs => Some(&self.runs),
            Binding::PairConstants => Some(&self.pair_constants),
            Binding::Logits => Some(&self.logits),
            Binding::Moments => Some(&self.moments),
            Binding::Rows => Some(&self.rows),
            Binding::PairValues => Some(&self.pair_values),
            Binding::Schedule => Some(&self.schedule),
            Binding::BatchMasks => Some(&self.batch_masks),
            Binding::MetricRows | Binding::MetricPartials | Binding::Metrics | Binding::Margins => {
                None
            }
        }
    }
}

/// One submission's schedule as the host writes it: the `StepParams` of every (step, run) and
/// the minibatch masks they point at; kept between submissions to reuse the allocations.
#[derive(Default)]
pub(super) struct ScheduleWriter {
    params: Vec<StepParams>,
    batch_masks: Vec<u32>,
}

impl ScheduleWriter {
    /// Starts a submission of `steps` steps of `plan`: every mask cleared.
    pub(super) fn start(&mut self, plan: &Plan, steps: usize) {
        self.params.clear();
        self.params.reserve(steps * plan.runs);
        self.batch_masks.clear();
        self.batch_masks
            .resize(steps * plan.minibatch_runs * plan.mask_words, 0);
    }

    /// Adds the next (step, run)'s parameters, in step-major order.
    pub(super) fn push(&mut self, params: StepParams) {
        self.params.push(params);
    }

    /// Marks the pairs `batch` in the mask of `slot` (among the minibatch runs) at step `step`
    /// of the submission; returns that mask's first word, for `StepParams::batch_mask`.
    pub(super) fn add_batch(
        &mut self,
        plan: &Plan,
        step: usize,
        slot: usize,
        batch: &[u32],
    ) -> u32 {
        let first = (step * plan.minibatch_runs + slot) * plan.mask_words;
        for &pair in batch {
            self.batch_masks[first + pair as usize / 32] |= 1 << (pair % 32);
        }
        first as u32
    }

    /// Writes the schedule (its step back to 0, so one write serves every step of the
    /// submission) and the masks into `buffers`.
    pub(super) fn write(&self, queue: &wgpu::Queue, buffers: &Buffers) {
        queue.write_buffer(
            &buffers.schedule,
            0,
            bytemuck::bytes_of(&ScheduleHeader::default()),
        );
        if !self.params.is_empty() {
            queue.write_buffer(
                &buffers.schedule,
                size_of::<ScheduleHeader>() as u64,
                bytemuck::cast_slice(&self.params),
            );
        }
        if !self.batch_masks.is_empty() {
            queue.write_buffer(
                &buffers.batch_masks,
                0,
                bytemuck::cast_slice(&self.batch_masks),
            );
        }
    }
}
