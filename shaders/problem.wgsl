// problem.wgsl: the problem buffer read by name, and the logits as a step's loss sees them. The
// host puts it after common.wgsl in the kernels that bind `sizes` (uniform Sizes) and `problem`
// (storage array<u32>): every kernel but advance.wgsl and metric_runs.wgsl.
//
// `problem` holds, from word 0, a ProblemPair per pair, then the sections whose word offsets
// `Sizes` gives (written by src/gpu/buffers.rs):
//   inverse_lengths  1/n(y) per output (f32 bits; with length normalisation 1/L(y), else unused)
//   logit_offsets    the CSR offsets of the (pair, side) entries touching each logit, per logit + 1
//   logit_entries    those entries in pair order, each the offset of its value in a run's pair_values
//   prompt_offsets   the CSR offsets of each prompt's pairs, per prompt + 1
//   prompt_pairs     those pairs in pair order
//   log_reference    log pi0 = theta0 per (prompt, output) (f32 bits)
//   true_reward      the ground truth's reward per (prompt, output) (f32 bits; with METRIC_TRUTH)
//   reward_rank      its dense rank within the prompt (with METRIC_TRUTH)

/// A preference pair, as the host writes it (`ProblemPair` in src/gpu/layout.rs).
struct ProblemPair {
    /// The chosen and the rejected output's logit within a run (prompt * outputs + output).
    chosen: u32,
    rejected: u32,
    prompt: u32,
    weight: f32,
}

/// Words per ProblemPair.
const PAIR_WORDS: u32 = 4u;

/// Pair `pair`.
fn problem_pair(pair: u32) -> ProblemPair {
    let at = PAIR_WORDS * pair;
    return ProblemPair(problem[at], problem[at + 1u], problem[at + 2u], bitcast<f32>(problem[at + 3u]));
}

/// 1/n(y) of the output of the logit `logit` (within a run).
fn inverse_length(logit: u32) -> f32 {
    return bitcast<f32>(problem[sizes.inverse_lengths_start + logit % sizes.outputs]);
}

/// log pi0 = theta0 of the logit `logit` (within a run).
fn reference_logit(logit: u32) -> f32 {
    return bitcast<f32>(problem[sizes.log_reference_start + logit]);
}

/// The ground truth's reward of the logit `logit` (within a run), and its dense rank in its row.
fn true_reward(logit: u32) -> f32 {
    return bitcast<f32>(problem[sizes.true_reward_start + logit]);
}

fn reward_rank(logit: u32) -> u32 {
    return problem[sizes.reward_rank_start + logit];
}

/// Entries first..last (as x, y) of row `row` of the CSR index whose offsets start at `offsets_start`.
fn csr_range(offsets_start: u32, row: u32) -> vec2<u32> {
    return vec2<u32>(problem[offsets_start + row], problem[offsets_start + row + 1u]);
}

/// The range in `logit_entries` of the entries touching the logit `logit` (within a run), and entry `j`.
fn logit_entry_range(logit: u32) -> vec2<u32> {
    return csr_range(sizes.logit_offsets_start, logit);
}

fn logit_entry(j: u32) -> u32 {
    return problem[sizes.logit_entries_start + j];
}

/// The range in `prompt_pairs` of the pairs of prompt `prompt`, and pair `j` of that list.
fn prompt_pair_range(prompt: u32) -> vec2<u32> {
    return csr_range(sizes.prompt_offsets_start, prompt);
}

fn prompt_pair(j: u32) -> u32 {
    return problem[sizes.prompt_pairs_start + j];
}

/// A logit as this step's loss sees it ("evaluated"), and the mixout mask M that drew it.
struct Evaluated {
    logit: f32,
    /// 1 keeps the logit, 0 swaps in the reference; 1 for a run without mixout.
    mask: f32,
}

/// The logit `logit` at `index` (within its run) at `step` as the loss sees it: for a mixout run
/// (M theta + (1 - M) theta0 - p theta0) / (1 - p), as the CPU engine computes it; for any other
/// run the logit itself (and only a mixout run reads the reference).
fn evaluate(run: RunParams, step: u32, index: u32, logit: f32) -> Evaluated {
    if (run.flags & MIXOUT) == 0u {
        return Evaluated(logit, 1.0);
    }
    let mask = mixout_mask(run, step, index);
    let reference = reference_logit(index);
    return Evaluated((mask * logit + (1.0 - mask) * reference - run.mixout_p * reference) * run.mixout_keep_scale, mask);
}
