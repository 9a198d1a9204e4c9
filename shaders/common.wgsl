// common.wgsl: what every kernel shares. The host puts it first in each kernel's source (see
// `KernelSpec` in src/gpu/kernel.rs). No bindings here, so its functions take values and never
// read a buffer: problem.wgsl reads the problem buffer, reduce.wgsl reduces over a workgroup.
//
// Every struct below has a `#[repr(C)]` twin in src/gpu/layout.rs, and every constant a twin
// there or in the CPU engine (src/engine/numerics.rs, src/engine/rng.rs); tests/shader_layout.rs
// parses the kernels as the device compiles them and checks offsets, sizes and values.
//
// The buffers (all runs of a set side by side, each run's logits row-major [prompt][output]):
//   sizes           Sizes                  shapes and the starts of the problem's sections
//   problem         array<u32>             the problem, in sections (see problem.wgsl)
//   runs            array<RunParams>       per run
//   pair_constants  array<PairConstants>   per (run, pair)
//   schedule        Schedule               the step within this submission, StepParams per (step, run)
//   batch_masks     array<u32>             the minibatch bit masks StepParams.batch_mask points at
//   logits          array<f32>             theta per (run, logit)
//   moments         array<f32>             the first moments per (run, logit), then the second
//   rows            array<RowTerms>        per (run, prompt), for the step
//   pair_values     array<f32>             PAIR_VALUES per (run, pair): the pairs' gradient terms
//   metric_rows     array<MetricRow>       per (run, prompt), for the metrics
//   metric_partials array<PairSums>        per (run, metric chunk)
//   metrics         array<RunMetrics>      per run, read back by the host
//   margins         array<f32>             u per (run, pair), read back by the host

// ---- Dispatch

/// Threads per workgroup of every kernel (the WebGPU default limit, so every adapter has it).
const WORKGROUP: u32 = 256u;

/// The flat index of a workgroup in a dispatch that the host split into a 2D grid (past
/// maxComputeWorkgroupsPerDimension); the kernels skip the excess of the last row.
fn workgroup_index(workgroup: vec3<u32>, workgroups: vec3<u32>) -> u32 {
    return workgroup.y * workgroups.x + workgroup.x;
}

/// The flat invocation index of such a dispatch.
fn flat_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32) -> u32 {
    return workgroup_index(workgroup, workgroups) * WORKGROUP + local;
}

// ---- Per-run and per-step parameters

// RunParams.flags.
const LENGTH_NORMALIZE: u32 = 1u;
const MIXOUT: u32 = 2u;
const ADAM: u32 = 4u;
const L2: u32 = 8u;
const KL: u32 = 16u;

// RunParams.loss.
const LOGISTIC: u32 = 0u;
const HINGE: u32 = 1u;
const IPO: u32 = 2u;

// Sizes.metric_flags: a ground truth exists; and its ranking agreement is computed (the host
// sets it only up to RANKING_MAX_OUTPUTS outputs).
const METRIC_TRUTH: u32 = 1u;
const METRIC_RANKING: u32 = 2u;

/// Shapes and section starts, the same for every kernel and every step.
struct Sizes {
    runs: u32,
    prompts: u32,
    outputs: u32,
    pairs: u32,
    /// prompts * outputs.
    logits_per_run: u32,
    /// Word offsets of the problem's sections (see problem.wgsl).
    inverse_lengths_start: u32,
    logit_offsets_start: u32,
    logit_entries_start: u32,
    prompt_offsets_start: u32,
    prompt_pairs_start: u32,
    log_reference_start: u32,
    /// The ground truth's reward and its dense rank within the prompt (only with METRIC_TRUTH).
    true_reward_start: u32,
    reward_rank_start: u32,
    /// METRIC_TRUTH, METRIC_RANKING.
    metric_flags: u32,
    /// Workgroups per run of metric_pairs.wgsl (each reduces a strided share of the pairs).
    metric_chunks: u32,
    _pad: u32,
}

/// One run's constants.
struct RunParams {
    /// LOGISTIC, HINGE or IPO.
    loss: u32,
    /// LENGTH_NORMALIZE, MIXOUT, ADAM, L2, KL.
    flags: u32,
    /// The run's seed (mixout's masks), low and high words.
    seed_low: u32,
    seed_high: u32,
    beta: f32,
    /// L2's or KL's strength.
    lambda: f32,
    /// Mixout's p and 1 / (1 - p) (computed on the host, as the CPU engine does).
    mixout_p: f32,
    mixout_keep_scale: f32,
    lr: f32,
    /// SGD's momentum, or Adam's beta1.
    momentum: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    _pad0: u32,
    _pad1: u32,
}

/// StepParams.batch_mask of a full-batch step.
const FULL_BATCH: u32 = 0xffffffffu;

/// What changes from step to step of one run (written by the host for every step of a submission).
struct StepParams {
    /// Adam's lr / (1 - beta1^t), from f64 on the host.
    step_size: f32,
    /// Adam's 1 / sqrt(1 - beta2^t), from f64 on the host.
    inverse_root_correction2: f32,
    /// The run's step count before this step (mixout's mask counter).
    step: u32,
    /// 1 / W of this step's batch.
    inverse_total_weight: f32,
    /// The first word of this step's batch mask in `batch_masks`, or FULL_BATCH.
    batch_mask: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

/// The schedule of one submission: the host writes every step's parameters before it, and
/// advance.wgsl moves `step` on after each step, so that many steps go into one submission.
struct Schedule {
    /// The step within this submission (0 when the submission starts).
    step: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    /// Per (step within the submission, run).
    params: array<StepParams>,
}

/// Per (run, pair): what the CPU engine computes once, in its own f32.
struct PairConstants {
    /// gamma h_0 + m: what beta h_pi must exceed; u = beta h_pi - threshold.
    threshold: f32,
    /// h_0, the reference's log ratio.
    reference_log_ratio: f32,
}

/// Values per (run, pair) in `pair_values`, and which is which: chosen's and rejected's gradient
/// terms (gathered per logit by update.wgsl) and the pair's share of its row coefficient.
const PAIR_VALUES: u32 = 3u;
const CHOSEN_TERM: u32 = 0u;
const REJECTED_TERM: u32 = 1u;
const ROW_COEFFICIENT: u32 = 2u;

/// Per (run, prompt): what the step needs of a whole row.
struct RowTerms {
    /// log sum exp of the row's evaluated logits (rows.wgsl).
    normalizer: f32,
    /// KL(pi || pi0) of the row, for KL runs (rows.wgsl).
    kl: f32,
    /// Length normalisation's row coefficient (coefficients.wgsl).
    coefficient: f32,
    _pad: f32,
}

// ---- Metric records

/// What metric_rows.wgsl finds in one (run, prompt) row.
struct MetricRow {
    /// log sum exp of the row, as training computes it (rows.wgsl).
    normalizer: f32,
    /// KL(pi || pi0) of the row (clamped at 0: f32 rounding can make it slightly negative).
    kl: f32,
    entropy: f32,
    /// Expected ground-truth reward under pi (0 without METRIC_TRUTH).
    true_reward: f32,
    /// Output pairs with different true rewards that the logits order alike, and all such pairs.
    agree: u32,
    comparable: u32,
    /// Logits that are infinite or NaN.
    non_finite: u32,
    _pad: u32,
}

/// Weighted sums over pairs (not yet divided by the total weight): one chunk's in
/// `metric_partials`, one run's in `RunMetrics`.
struct PairSums {
    /// Sum of w phi(u).
    loss: f32,
    /// Sums of w [h_pi > 0] and w [h_0 > 0].
    accuracy: f32,
    reference_accuracy: f32,
    /// Sums of w beta (log pi(y) - log pi0(y)) for y+ and y-.
    chosen_reward: f32,
    rejected_reward: f32,
    /// Pairs whose margin is infinite or NaN (a diverged run).
    non_finite_margins: f32,
    _pad0: f32,
    _pad1: f32,
    /// Per learning-table cell, in reading order (reference right: policy right, wrong; then
    /// reference wrong: policy right, wrong): the weight, the signal sum of w |phi'(u)|, the pairs.
    cell_weights: vec4<f32>,
    cell_signals: vec4<f32>,
    cell_pairs: vec4<u32>,
}

/// One run's metric sums, read back by the host, which divides them in f64 (by the total weight,
/// by the prompt count).
struct RunMetrics {
    pairs: PairSums,
    /// Sums over prompts of KL(pi || pi0), the entropy and the expected true reward.
    kl: f32,
    entropy: f32,
    true_reward: f32,
    _pad0: f32,
    /// Agreeing and comparable output pairs of the ranking agreement, each 64 bits (low word first).
    agree: vec2<u32>,
    comparable: vec2<u32>,
    /// Logits that are infinite or NaN.
    non_finite_logits: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

// ---- The CPU engine's numerics, bit for bit

/// `engine::numerics`: e^x = 2^n e^r with n = round(x log2(e)) and r = x - n ln 2, ln 2 in two
/// parts so that n LN2_HIGH is exact; e^r by its Taylor polynomial (constant term first); x
/// clamped to where e^x is a normal f32.
const LOG2_E: f32 = 0x1.715476p+0f;
const LN2_HIGH: f32 = 0x1.62e4p-1f;
const LN2_LOW: f32 = 0x1.7f7d1cp-20f;
const EXP_POLYNOMIAL: array<f32, 7> = array<f32, 7>(
    1.0f, 1.0f, 0.5f, 0x1.555556p-3f, 0x1.555556p-5f, 0x1.111112p-7f, 0x1.6c16c2p-10f,
);
const EXP_DOMAIN_LOW: f32 = -87.0f;
const EXP_DOMAIN_HIGH: f32 = 88.0f;

/// `engine::numerics::exp`, the CPU engine's f32 e^x, operation for operation: the GPU's own
/// `exp` differs by a few ulp from adapter to adapter, and Adam's normalised steps amplify such
/// differences where pair gradients nearly cancel. Used for every e^x here.
fn engine_exp(value: f32) -> f32 {
    let x = clamp(value, EXP_DOMAIN_LOW, EXP_DOMAIN_HIGH);
    // The CPU rounds with (x log2(e) + 1.5 2^23) - 1.5 2^23, which is round-half-to-even like `round`.
    let n = round(x * LOG2_E);
    let r = (x - n * LN2_HIGH) - n * LN2_LOW;
    let c = EXP_POLYNOMIAL;
    let polynomial = c[0] + r * (c[1] + r * (c[2] + r * (c[3] + r * (c[4] + r * (c[5] + r * c[6])))));
    let scale = bitcast<f32>(u32(i32(n) + 127) << 23u);
    return polynomial * scale;
}

/// e^x for probabilities (row sums, pi in the dense and KL terms): `engine_exp`, but 0 below the
/// domain, where the CPU's e^x is (nearly) 0 too, so that a vanishing probability gives an
/// exactly zero gradient rather than e^-87, which Adam would turn into a full step.
fn probability_exp(x: f32) -> f32 {
    return select(engine_exp(x), 0.0, x < EXP_DOMAIN_LOW);
}

/// `engine::rng::hash32`'s multipliers, and the salt and the scale of `engine::rng::uniform_at`.
const HASH_MULTIPLIER_FIRST: u32 = 0x7feb352du;
const HASH_MULTIPLIER_SECOND: u32 = 0x846ca68bu;
const UNIFORM_INDEX_SALT: u32 = 0x9e3779b9u;
/// 2^-24: the top 24 bits of a hash are exact in an f32.
const UNIFORM_SCALE: f32 = 0x1p-24f;

/// `engine::rng::hash32`, bit for bit.
fn hash32(value: u32) -> u32 {
    var x = value;
    x ^= x >> 16u;
    x *= HASH_MULTIPLIER_FIRST;
    x ^= x >> 15u;
    x *= HASH_MULTIPLIER_SECOND;
    x ^= x >> 16u;
    return x;
}

/// `engine::rng::uniform_at(seed, step, index)`, bit for bit (only the low 32 bits of the step count).
fn uniform_at(seed_low: u32, seed_high: u32, step: u32, index: u32) -> f32 {
    let h = hash32(seed_low ^ hash32(seed_high ^ hash32(step ^ hash32(index ^ UNIFORM_INDEX_SALT))));
    return f32(h >> 8u) * UNIFORM_SCALE;
}

/// Whether the f32 is infinite or NaN, from its bits (compilers may assume finite arithmetic,
/// so `x != x` is not a reliable test).
fn is_non_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

/// The lowest finite f32, the identity of a maximum (WGSL cannot write -inf). Written as a hex
/// float: Chromium's WGSL compiler rejects the decimal -3.4028235e38 as not representable (it
/// rounds the decimal first), where naga accepts it.
const LOWEST_F32: f32 = -0x1.fffffep+127f;

// ---- The step's and the metrics' formulas

/// Mixout's mask of logit `index` (within its run) at `step`: 1 keeps the logit (u >= p), 0 swaps it.
fn mixout_mask(run: RunParams, step: u32, index: u32) -> f32 {
    return select(0.0, 1.0, uniform_at(run.seed_low, run.seed_high, step, index) >= run.mixout_p);
}

/// h_pi of a pair under length normalisation, log pi(y+) / n(y+) - log pi(y-) / n(y-) with
/// log pi(y) = theta_y - normaliser; with equal lengths the normaliser cancels exactly, as on the CPU.
fn normalized_log_ratio(chosen_logit: f32, rejected_logit: f32, normalizer: f32, inverse_chosen: f32, inverse_rejected: f32) -> f32 {
    if inverse_chosen == inverse_rejected {
        return (chosen_logit - rejected_logit) * inverse_chosen;
    }
    return (chosen_logit - normalizer) * inverse_chosen - (rejected_logit - normalizer) * inverse_rejected;
}

/// The margin u = beta h_pi - threshold, exactly 0 where beta h_pi equals the threshold (SPEC section 3's
/// exact zero margin at the reference) even if the compiler fuses the multiply into the subtraction.
fn margin(scaled: f32, threshold: f32) -> f32 {
    return select(scaled - threshold, 0.0, scaled == threshold);
}

/// log(1 + x) for x in [0, 1], accurate where x is tiny too (WGSL has no log1p): with
/// y = 1 + x rounded, log(y) * x / (y - 1) corrects the rounding of y.
fn log_one_plus(x: f32) -> f32 {
    let y = 1.0 + x;
    if y == 1.0 {
        return x;
    }
    return log(y) * (x / (y - 1.0));
}

/// phi(u) of SPEC section 4 (the metrics' loss), in f32: the logistic loss as the stable
/// softplus(-u) = max(-u, 0) + log(1 + e^-|u|).
fn loss_value(loss: u32, u: f32, beta: f32) -> f32 {
    if loss == HINGE {
        return max(-u, 0.0);
    }
    if loss == IPO {
        let residual = (u - 0.5) / beta;
        return residual * residual;
    }
    return max(-u, 0.0) + log_one_plus(engine_exp(-abs(u)));
}

/// phi'(u) of SPEC section 4, in f32 as the CPU engine computes it.
fn loss_derivative(loss: u32, u: f32, beta: f32) -> f32 {
    if loss == HINGE {
        // No learning at the boundary u = 0.
        return select(0.0, -1.0, u < 0.0);
    }
    if loss == IPO {
        return 2.0 * (u - 0.5) / (beta * beta);
    }
    // -sigmoid(-u) = -1 / (1 + exp(u)).
    return -1.0 / (1.0 + engine_exp(u));
}
