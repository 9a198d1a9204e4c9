// Declarations every kernel shares; the host prepends this file to each kernel file.
// No bindings here (each kernel file lists its own); one invocation of nothing.
//
// Layout of the buffers (all runs of a set side by side, each run's logits row-major [prompt][output]):
//   problem  : array<u32>  pairs (chosen, rejected, prompt, weight bits) at 0, then the sections whose
//              starts `Sizes` gives: 1/n(y) per output (f32 bits), the CSR index of the (pair, side)
//              entries touching each logit, and the CSR list of the pairs of each prompt.
//   schedule : array<u32>  word 0 the step within this submission (the `advance` kernel counts it),
//              then a `StepParams` per (step, run) at SCHEDULE_HEADER, then the minibatch bit masks.

/// Threads per workgroup of every kernel (the WebGPU default limit, so every adapter has it).
const WORKGROUP: u32 = 256u;
/// Words before the first `StepParams` in `schedule`.
const SCHEDULE_HEADER: u32 = 4u;
/// Words per `StepParams`.
const STEP_WORDS: u32 = 8u;
/// `StepParams.batch_mask` of a full-batch step.
const FULL_BATCH: u32 = 0xffffffffu;
/// Values per (run, pair) in `pair_values`: chosen's and rejected's gradient terms, the row coefficient.
const PAIR_VALUES: u32 = 3u;

// Metric flags: a ground truth exists; and its ranking agreement is computed (K <= 4096).
const METRIC_TRUTH: u32 = 1u;
const METRIC_RANKING: u32 = 2u;
/// Words per (run, chunk) in `metric_partials` and per run in `metrics`.
const PARTIAL_WORDS: u32 = 20u;
const METRIC_WORDS: u32 = 32u;

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

/// Whether the f32 is infinite or NaN, from its bits (compilers may assume finite arithmetic,
/// so `x != x` is not a reliable test).
fn is_non_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}

// Run flags.
const LENGTH_NORMALIZE: u32 = 1u;
const MIXOUT: u32 = 2u;
const ADAM: u32 = 4u;
const L2: u32 = 8u;
const KL: u32 = 16u;

// Losses.
const LOGISTIC: u32 = 0u;
const HINGE: u32 = 1u;
const IPO: u32 = 2u;

/// Shapes and section starts, the same for every kernel and every step.
struct Sizes {
    runs: u32,
    prompts: u32,
    outputs: u32,
    pairs: u32,
    /// prompts * outputs.
    logits_per_run: u32,
    inverse_lengths_start: u32,
    logit_offsets_start: u32,
    logit_entries_start: u32,
    prompt_offsets_start: u32,
    prompt_pairs_start: u32,
    /// The ground truth's reward (f32 bits) and its dense rank within the prompt, per
    /// (prompt, output), for the metrics (only with METRIC_TRUTH).
    true_reward_start: u32,
    reward_rank_start: u32,
    /// METRIC_TRUTH, METRIC_RANKING.
    metric_flags: u32,
    /// Workgroups per run of metric_pairs.wgsl (each reduces a strided share of the pairs).
    metric_chunks: u32,
    _pad0: u32,
    _pad1: u32,
}

/// One run's constants.
struct RunParams {
    loss: u32,
    flags: u32,
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
    /// Word offset of this step's batch mask in `schedule`, or FULL_BATCH.
    batch_mask: u32,
}

/// The StepParams of run `run` at the current step of the submission.
fn step_params_at(schedule_step: u32, runs: u32, run: u32, word: u32) -> u32 {
    return SCHEDULE_HEADER + (schedule_step * runs + run) * STEP_WORDS + word;
}

/// The flat invocation index of a dispatch that the host split into a 2D grid of workgroups
/// (past maxComputeWorkgroupsPerDimension).
fn flat_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32) -> u32 {
    return (workgroup.y * workgroups.x + workgroup.x) * WORKGROUP + local;
}

/// The 32-bit hash of `engine::rng::hash32`, bit for bit.
fn hash32(value: u32) -> u32 {
    var x = value;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

/// `engine::rng::uniform_at(seed, step, index)`, bit for bit (only the low 32 bits of the step count).
fn uniform_at(seed_low: u32, seed_high: u32, step: u32, index: u32) -> f32 {
    let h = hash32(seed_low ^ hash32(seed_high ^ hash32(step ^ hash32(index ^ 0x9e3779b9u))));
    // The top 24 bits are exact in an f32.
    return f32(h >> 8u) * (1.0 / 16777216.0);
}

/// Mixout's mask of logit `index` (within its run) at `step`: 1 keeps the logit (u >= p), 0 swaps it.
fn mixout_mask(run: RunParams, step: u32, index: u32) -> f32 {
    return select(0.0, 1.0, uniform_at(run.seed_low, run.seed_high, step, index) >= run.mixout_p);
}

/// Mixout's evaluated logit `(M theta + (1 - M) theta0 - p theta0) / (1 - p)`, as the CPU engine computes it.
fn mixout_logit(run: RunParams, mask: f32, logit: f32, reference: f32) -> f32 {
    return (mask * logit + (1.0 - mask) * reference - run.mixout_p * reference) * run.mixout_keep_scale;
}

/// `engine::loss::exp`, the CPU engine's f32 e^x, operation for operation (its constants by their
/// bits): the GPU's own `exp` differs by a few ulp from adapter to adapter, and Adam's normalised
/// steps amplify such differences where pair gradients nearly cancel. Used for every e^x here.
fn engine_exp(value: f32) -> f32 {
    let log2_e = bitcast<f32>(0x3fb8aa3bu);
    let ln2_high = bitcast<f32>(0x3f317200u);
    let ln2_low = bitcast<f32>(0x35bfbe8eu);
    let x = clamp(value, -87.0, 88.0);
    // The CPU rounds with (x log2(e) + 1.5 2^23) - 1.5 2^23, which is round-half-to-even like `round`.
    let n = round(x * log2_e);
    let r = (x - n * ln2_high) - n * ln2_low;
    let polynomial = 1.0 + r * (1.0 + r * (0.5 + r * (bitcast<f32>(0x3e2aaaabu) + r * (bitcast<f32>(0x3d2aaaabu)
        + r * (bitcast<f32>(0x3c088889u) + r * bitcast<f32>(0x3ab60b61u))))));
    let scale = bitcast<f32>(u32(i32(n) + 127) << 23u);
    return polynomial * scale;
}

/// e^x for probabilities (row sums, pi in the dense and KL terms): `engine_exp`, but 0 below
/// -87 where the CPU's e^x is (nearly) 0 too, so that a vanishing probability gives an exactly
/// zero gradient rather than e^-87, which Adam would turn into a full step.
fn probability_exp(x: f32) -> f32 {
    return select(engine_exp(x), 0.0, x < -87.0);
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
