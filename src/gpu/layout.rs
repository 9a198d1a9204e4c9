//! Every struct and constant the shaders share with the host, written once here as the host's
//! `#[repr(C)]` twin of the WGSL declaration in `shaders/common.wgsl` (or `problem.wgsl`).
//!
//! The host writes and reads these with `bytemuck`, never by word offsets. `tests/shader_layout.rs`
//! parses the kernels as the device compiles them and checks, through [`host_structs`] and
//! [`host_constants`], that every struct has the same member offsets and sizes on both sides and
//! every constant the same value.

use crate::engine::{LossKind, Optimizer, Regularizer, RunConfig};
use std::mem::{offset_of, size_of};

/// Threads per workgroup (`WORKGROUP`).
pub(super) const WORKGROUP: u32 = 256;
/// `StepParams::batch_mask` of a full-batch step (`FULL_BATCH`).
pub(super) const FULL_BATCH: u32 = u32::MAX;
/// Values per (run, pair) in the pair-values buffer, and which is which (`PAIR_VALUES`,
/// `CHOSEN_TERM`, `REJECTED_TERM`, `ROW_COEFFICIENT`).
pub(super) const PAIR_VALUES: usize = 3;
pub(super) const CHOSEN_TERM: usize = 0;
pub(super) const REJECTED_TERM: usize = 1;
pub(super) const ROW_COEFFICIENT: usize = 2;

/// `RunParams::flags` bits (`LENGTH_NORMALIZE`, `MIXOUT`, `ADAM`, `L2`, `KL`).
pub(super) mod run_flags {
    pub const LENGTH_NORMALIZE: u32 = 1;
    pub const MIXOUT: u32 = 2;
    pub const ADAM: u32 = 4;
    pub const L2: u32 = 8;
    pub const KL: u32 = 16;
}

/// `Sizes::metric_flags` bits: a ground truth exists (`METRIC_TRUTH`), and its ranking agreement
/// is computed (`METRIC_RANKING`).
pub(super) mod metric_flags {
    pub const TRUTH: u32 = 1;
    pub const RANKING: u32 = 2;
}

/// `RunParams::loss` of each loss (`LOGISTIC`, `HINGE`, `IPO`).
pub(super) fn loss_code(loss: LossKind) -> u32 {
    match loss {
        LossKind::Logistic => 0,
        LossKind::Hinge => 1,
        LossKind::Ipo => 2,
    }
}

/// `Sizes`: shapes and the word offsets of the problem buffer's sections (a uniform).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Sizes {
    pub runs: u32,
    pub prompts: u32,
    pub outputs: u32,
    pub pairs: u32,
    pub logits_per_run: u32,
    pub inverse_lengths_start: u32,
    pub logit_offsets_start: u32,
    pub logit_entries_start: u32,
    pub prompt_offsets_start: u32,
    pub prompt_pairs_start: u32,
    pub log_reference_start: u32,
    pub true_reward_start: u32,
    pub reward_rank_start: u32,
    pub metric_flags: u32,
    pub metric_chunks: u32,
    pub _pad: u32,
}

/// `RunParams`: one run's constants.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct RunParams {
    pub loss: u32,
    pub flags: u32,
    pub seed_low: u32,
    pub seed_high: u32,
    pub beta: f32,
    pub lambda: f32,
    pub mixout_p: f32,
    pub mixout_keep_scale: f32,
    pub lr: f32,
    pub momentum: f32,
    pub beta2: f32,
    pub eps: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}

impl RunParams {
    /// The constants of `config`, computed in f32 as the CPU engine computes them.
    pub(super) fn of(config: &RunConfig) -> RunParams {
        let mut params = RunParams {
            loss: loss_code(config.loss),
            seed_low: config.seed as u32,
            seed_high: (config.seed >> 32) as u32,
            beta: config.beta,
            ..RunParams::default()
        };
        if config.length_normalize {
            params.flags |= run_flags::LENGTH_NORMALIZE;
        }
        match config.regularizer {
            Regularizer::None => {}
            Regularizer::L2 { lambda } => {
                params.flags |= run_flags::L2;
                params.lambda = lambda;
            }
            Regularizer::Kl { lambda } => {
                params.flags |= run_flags::KL;
                params.lambda = lambda;
            }
            Regularizer::Mixout { p } => {
                params.flags |= run_flags::MIXOUT;
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
                params.flags |= run_flags::ADAM;
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

/// `StepParams`: what changes from step to step of one run.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct StepParams {
    pub step_size: f32,
    pub inverse_root_correction2: f32,
    pub step: u32,
    pub inverse_total_weight: f32,
    pub batch_mask: u32,
    pub _pad: [u32; 3],
}

/// The members of `Schedule` before its `params: array<StepParams>`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct ScheduleHeader {
    pub step: u32,
    pub _pad: [u32; 3],
}

/// `PairConstants`: per (run, pair), the CPU engine's own f32 values.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct PairConstants {
    pub threshold: f32,
    pub reference_log_ratio: f32,
}

/// `ProblemPair` (`shaders/problem.wgsl`): a pair as the first section of the problem buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct ProblemPair {
    pub chosen: u32,
    pub rejected: u32,
    pub prompt: u32,
    pub weight: f32,
}

/// `RowTerms`: per (run, prompt), what the step needs of a whole row.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct RowTerms {
    pub normalizer: f32,
    pub kl: f32,
    pub coefficient: f32,
    pub _pad: f32,
}

/// `MetricRow`: what `metric_rows.wgsl` finds in one (run, prompt) row.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct MetricRow {
    pub normalizer: f32,
    pub kl: f32,
    pub entropy: f32,
    pub true_reward: f32,
    pub agree: u32,
    pub comparable: u32,
    pub non_finite: u32,
    pub _pad: u32,
}

/// `PairSums`: weighted sums over pairs, per (run, chunk) and per run.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct PairSums {
    pub loss: f32,
    pub accuracy: f32,
    pub reference_accuracy: f32,
    pub chosen_reward: f32,
    pub rejected_reward: f32,
    pub non_finite_margins: f32,
    pub _pad: [f32; 2],
    /// Per learning-table cell, in the order of `LearningTable::cells`.
    pub cell_weights: [f32; 4],
    pub cell_signals: [f32; 4],
    pub cell_pairs: [u32; 4],
}

/// `RunMetrics`: one run's metric sums, read back.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct RunMetrics {
    pub pairs: PairSums,
    pub kl: f32,
    pub entropy: f32,
    pub true_reward: f32,
    pub _pad0: f32,
    /// 64-bit counts, low word first.
    pub agree: [u32; 2],
    pub comparable: [u32; 2],
    pub non_finite_logits: u32,
    pub _pad1: [u32; 3],
}

impl RunMetrics {
    /// A 64-bit count from its (low, high) words.
    pub(super) fn wide(words: [u32; 2]) -> u64 {
        u64::from(words[0]) | u64::from(words[1]) << 32
    }
}

/// A struct as the host lays it out, for `tests/shader_layout.rs` to hold against the WGSL.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct HostStruct {
    /// The WGSL struct's name.
    pub name: &'static str,
    /// Bytes, as WGSL counts them (a runtime-sized array counts one element).
    pub size: usize,
    pub members: Vec<HostMember>,
}

/// One member of a [`HostStruct`]: its WGSL name, byte offset and byte size (a runtime-sized
/// array's size is its element's).
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct HostMember {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// The size of the field that `field` picks, without a value of `T`.
fn field_size<T, F>(_field: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

/// The [`HostStruct`] of a `#[repr(C)]` struct, listing every field (a field left out is a
/// compile error, so a field added on one side cannot be forgotten here).
macro_rules! host_struct {
    ($name:ident { $($field:ident),* $(,)? }) => {{
        let _every_field = |value: &$name| {
            let $name { $($field: _),* } = value;
        };
        HostStruct {
            name: stringify!($name),
            size: size_of::<$name>(),
            members: vec![$(HostMember {
                name: stringify!($field),
                offset: offset_of!($name, $field),
                size: field_size(|value: &$name| &value.$field),
            }),*],
        }
    }};
}

/// Every struct the shaders share with the host, as the host lays it out.
#[doc(hidden)]
pub fn host_structs() -> Vec<HostStruct> {
    vec![
        host_struct!(Sizes {
            runs,
            prompts,
            outputs,
            pairs,
            logits_per_run,
            inverse_lengths_start,
            logit_offsets_start,
            logit_entries_start,
            prompt_offsets_start,
            prompt_pairs_start,
            log_reference_start,
            true_reward_start,
            reward_rank_start,
            metric_flags,
            metric_chunks,
            _pad,
        }),
        host_struct!(RunParams {
            loss,
            flags,
            seed_low,
            seed_high,
            beta,
            lambda,
            mixout_p,
            mixout_keep_scale,
            lr,
            momentum,
            beta2,
            eps,
            one_minus_beta1,
            one_minus_beta2,
            _pad0,
            _pad1,
        }),
        host_struct!(StepParams {
            step_size,
            inverse_root_correction2,
            step,
            inverse_total_weight,
            batch_mask,
            _pad,
        }),
        {
            // `Schedule` is the header followed by the runtime-sized `params`.
            let mut schedule = host_struct!(ScheduleHeader { step, _pad });
            schedule.name = "Schedule";
            schedule.members.push(HostMember {
                name: "params",
                offset: size_of::<ScheduleHeader>(),
                size: size_of::<StepParams>(),
            });
            schedule.size = size_of::<ScheduleHeader>() + size_of::<StepParams>();
            schedule
        },
        host_struct!(PairConstants {
            threshold,
            reference_log_ratio,
        }),
        host_struct!(ProblemPair {
            chosen,
            rejected,
            prompt,
            weight,
        }),
        host_struct!(RowTerms {
            normalizer,
            kl,
            coefficient,
            _pad,
        }),
        host_struct!(MetricRow {
            normalizer,
            kl,
            entropy,
            true_reward,
            agree,
            comparable,
            non_finite,
            _pad,
        }),
        host_struct!(PairSums {
            loss,
            accuracy,
            reference_accuracy,
            chosen_reward,
            rejected_reward,
            non_finite_margins,
            _pad,
            cell_weights,
            cell_signals,
            cell_pairs,
        }),
        host_struct!(RunMetrics {
            pairs,
            kl,
            entropy,
            true_reward,
            _pad0,
            agree,
            comparable,
            non_finite_logits,
            _pad1,
        }),
    ]
}

/// Every `u32` constant the shaders share with the host, by its WGSL name. (The CPU engine's
/// numerics, which the shaders mirror too, are checked against `crate::engine` directly.)
#[doc(hidden)]
pub fn host_constants() -> Vec<(&'static str, u32)> {
    vec![
        ("WORKGROUP", WORKGROUP),
        ("FULL_BATCH", FULL_BATCH),
        ("PAIR_VALUES", PAIR_VALUES as u32),
        ("CHOSEN_TERM", CHOSEN_TERM as u32),
        ("REJECTED_TERM", REJECTED_TERM as u32),
        ("ROW_COEFFICIENT", ROW_COEFFICIENT as u32),
        ("PAIR_WORDS", (size_of::<ProblemPair>() / 4) as u32),
        ("LENGTH_NORMALIZE", run_flags::LENGTH_NORMALIZE),
        ("MIXOUT", run_flags::MIXOUT),
        ("ADAM", run_flags::ADAM),
        ("L2", run_flags::L2),
        ("KL", run_flags::KL),
        ("LOGISTIC", loss_code(LossKind::Logistic)),
        ("HINGE", loss_code(LossKind::Hinge)),
        ("IPO", loss_code(LossKind::Ipo)),
        ("METRIC_TRUTH", metric_flags::TRUTH),
        ("METRIC_RANKING", metric_flags::RANKING),
    ]
}
