//! The metric kernels (`metric_rows.wgsl`, `metric_pairs.wgsl`, `metric_runs.wgsl`) and their
//! buffers, and the decoding of each run's [`RunMetrics`] record, by field, into [`Metrics`].

use super::buffers::{zeroed_buffer, Buffers};
use super::kernel::{Binding, Kernel, METRIC_PAIRS, METRIC_ROWS, METRIC_RUNS};
use super::layout::{metric_flags, RunMetrics};
use super::plan::Plan;
use super::readback::Staging;
use crate::engine::{LearningCell, LearningTable, Metrics};
use std::mem::size_of;

/// What [`super::GpuRunSet::read_metrics`] reads back.
#[derive(Clone, Debug)]
pub struct GpuMetrics {
    /// Every run's metrics.
    pub metrics: Vec<Metrics>,
    /// Every run's margin `u` per pair, in pair order (when asked for).
    pub margins: Option<Vec<Vec<f32>>>,
}

/// The metric kernels and their buffers, built by the first `read_metrics`, so that a set that
/// never asks (the page, which reads the state) never compiles them.
pub(super) struct MetricKernels {
    rows: Kernel,
    pairs: Kernel,
    runs: Kernel,
    metrics: wgpu::Buffer,
    margins: wgpu::Buffer,
    staging: Staging,
}

impl MetricKernels {
    pub(super) fn new(device: &wgpu::Device, plan: &Plan, buffers: &Buffers) -> MetricKernels {
        let storage = wgpu::BufferUsages::STORAGE;
        let read_back = storage | wgpu::BufferUsages::COPY_SRC;
        let metric_rows = zeroed_buffer(device, "metric rows", plan.metric_rows_bytes, storage);
        let metric_partials = zeroed_buffer(
            device,
            "metric partials",
            plan.metric_partials_bytes,
            storage,
        );
        let metrics = zeroed_buffer(device, "metrics", plan.metrics_bytes, read_back);
        let margins = zeroed_buffer(device, "margins", plan.margins_bytes, read_back);
        let buffer = |binding: Binding| match binding {
            Binding::MetricRows => Some(&metric_rows),
            Binding::MetricPartials => Some(&metric_partials),
            Binding::Metrics => Some(&metrics),
            Binding::Margins => Some(&margins),
            other => buffers.get(other),
        };
        MetricKernels {
            rows: Kernel::new(device, &METRIC_ROWS, buffer),
            pairs: Kernel::new(device, &METRIC_PAIRS, buffer),
            runs: Kernel::new(device, &METRIC_RUNS, buffer),
            staging: Staging::new(
                device,
                "metric staging",
                plan.metrics_bytes + plan.margins_bytes,
            ),
            metrics,
            margins,
        }
    }

    /// Encodes the three kernels: one workgroup per (run, prompt) row, per (run, chunk) and per run.
    pub(super) fn encode(&self, pass: &mut wgpu::ComputePass<'_>, plan: &Plan, limit: u32) {
        self.rows
            .dispatch(pass, (plan.runs * plan.prompts) as u32, limit);
        self.pairs
            .dispatch(pass, (plan.runs * plan.metric_chunks) as u32, limit);
        self.runs.dispatch(pass, plan.runs as u32, limit);
    }

    /// The buffers to read back, with their sizes: the metric records and, with `margins`, the
    /// margins after them.
    pub(super) fn copies(&self, plan: &Plan, margins: bool) -> Vec<(&wgpu::Buffer, u64)> {
        let mut copies = vec![(&self.metrics, plan.metrics_bytes)];
        if margins {
            copies.push((&self.margins, plan.margins_bytes));
        }
        copies
    }

    pub(super) fn staging(&self) -> &Staging {
        &self.staging
    }
}

/// Every run's [`RunMetrics`] record, from the words read back after [`MetricKernels::copies`].
pub(super) fn records(words: &[u32], plan: &Plan) -> Vec<RunMetrics> {
    words
        .chunks_exact(size_of::<RunMetrics>() / 4)
        .take(plan.runs)
        .map(|record| bytemuck::pod_read_unaligned(bytemuck::cast_slice(record)))
        .collect()
}

/// Every run's margins, per pair, from the words read back after [`MetricKernels::copies`]
/// with the margins.
pub(super) fn margins(words: &[u32], plan: &Plan) -> Vec<Vec<f32>> {
    let start = (plan.metrics_bytes / 4) as usize;
    (0..plan.runs)
        .map(|run| {
            let first = start + run * plan.pairs;
            words[first..first + plan.pairs]
                .iter()
                .map(|&word| f32::from_bits(word))
                .collect()
        })
        .collect()
}

/// What the host adds to a record to make a run's [`Metrics`].
pub(super) struct MetricScale {
    /// The pairs' total weight (in f64, as the CPU's metrics sum it), the prompt count.
    pub total_weight: f64,
    pub prompts: usize,
    /// `metric_flags::TRUTH` and `metric_flags::RANKING`.
    pub metric_flags: u32,
}

/// One run's [`Metrics`] at `step` from its record: the divisions by the total weight and by
/// the prompt count, in f64.
pub(super) fn decode(record: &RunMetrics, step: u64, scale: &MetricScale) -> Metrics {
    let pairs = &record.pairs;
    let weight = if scale.total_weight > 0.0 {
        scale.total_weight
    } else {
        1.0
    };
    let prompts = scale.prompts as f64;
    let mut table = LearningTable::default();
    for (index, cell) in table.cells_mut().into_iter().enumerate() {
        *cell = LearningCell {
            pairs: pairs.cell_pairs[index] as usize,
            weight: pairs.cell_weights[index] as f64,
            signal: pairs.cell_signals[index] as f64,
            share: 0.0,
        };
    }
    table.finish();
    let chosen_reward = pairs.chosen_reward as f64 / weight;
    let rejected_reward = pairs.rejected_reward as f64 / weight;
    let truth = scale.metric_flags & metric_flags::TRUTH != 0;
    let ranking = scale.metric_flags & metric_flags::RANKING != 0;
    let agree = RunMetrics::wide(record.agree);
    let comparable = RunMetrics::wide(record.comparable);
    let diverged = record.non_finite_logits > 0 || pairs.non_finite_margins != 0.0;
    Metrics {
        step,
        diverged,
        // The kernels see a non-finite logit or margin at a record, not the step that made it.
        diverged_at: diverged.then_some(step),
        loss: pairs.loss as f64 / weight,
        accuracy: pairs.accuracy as f64 / weight,
        reference_accuracy: pairs.reference_accuracy as f64 / weight,
        kl: record.kl as f64 / prompts,
        entropy: record.entropy as f64 / prompts,
        chosen_reward,
        rejected_reward,
        reward_margin: chosen_reward - rejected_reward,
        learning_table: table,
        accumulated_table: None,
        unlearned_pairs: None,
        true_reward: truth.then(|| record.true_reward as f64 / prompts),
        ranking_agreement: ranking.then(|| {
            if comparable == 0 {
                1.0
            } else {
                agree as f64 / comparable as f64
            }
        }),
    }
}
