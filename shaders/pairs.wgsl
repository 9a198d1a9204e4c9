// pairs.wgsl: each pair's margin u and loss derivative phi'(u), turned into its gradient terms.
// After common.wgsl and problem.wgsl.
//
// Bindings (group 0):
//   0 sizes           uniform Sizes
//   1 problem         storage read  array<u32>            pairs, 1/n(y), the reference (mixout)
//   2 runs            storage read  array<RunParams>      one per run
//   3 pair_constants  storage read  array<PairConstants>  per (run, pair): .threshold = gamma h_0 + m
//   4 schedule        storage read  Schedule              this step's StepParams
//   5 batch_masks     storage read  array<u32>            the minibatch bit masks
//   6 logits          storage read  array<f32>            theta, [run][prompt][output]
//   7 rows            storage read  array<RowTerms>       per (run, prompt): .normalizer (rows.wgsl)
//   8 pair_values     storage rw    array<f32>            PAIR_VALUES per (run, pair)
//
// One invocation handles one (run, pair): if the pair is in this step's batch it computes
// h_pi, u = beta h_pi - (gamma h_0 + m), phi'(u) and, with g = w / W phi'(u) beta,
//   chosen term g / n(y+), rejected term -g / n(y-), row coefficient g (1/n(y+) - 1/n(y-))
// with the same f32 operations, in the same order, as the CPU engine's gradient; a pair outside
// the batch writes zeros. update.wgsl gathers the terms per logit (no float atomics).

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> pair_constants: array<PairConstants>;
@group(0) @binding(4) var<storage, read> schedule: Schedule;
@group(0) @binding(5) var<storage, read> batch_masks: array<u32>;
@group(0) @binding(6) var<storage, read> logits: array<f32>;
@group(0) @binding(7) var<storage, read> rows: array<RowTerms>;
@group(0) @binding(8) var<storage, read_write> pair_values: array<f32>;

/// Writes the pair values at `out`.
fn write_terms(out: u32, chosen: f32, rejected: f32, coefficient: f32) {
    pair_values[out + CHOSEN_TERM] = chosen;
    pair_values[out + REJECTED_TERM] = rejected;
    pair_values[out + ROW_COEFFICIENT] = coefficient;
}

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let id = flat_index(workgroup, workgroups, local);
    let out = PAIR_VALUES * id;
    if id >= sizes.runs * sizes.pairs || out + PAIR_VALUES > arrayLength(&pair_values) {
        return;
    }
    let run_index = id / sizes.pairs;
    let pair_index = id % sizes.pairs;
    let run = runs[run_index];
    let params = schedule.params[schedule.step * sizes.runs + run_index];
    let mask = params.batch_mask;
    if mask != FULL_BATCH && ((batch_masks[mask + pair_index / 32u] >> (pair_index % 32u)) & 1u) == 0u {
        write_terms(out, 0.0, 0.0, 0.0);
        return;
    }
    let pair = problem_pair(pair_index);
    let run_base = run_index * sizes.logits_per_run;
    let chosen_logit = evaluate(run, params.step, pair.chosen, logits[run_base + pair.chosen]).logit;
    let rejected_logit = evaluate(run, params.step, pair.rejected, logits[run_base + pair.rejected]).logit;
    let threshold = pair_constants[id].threshold;
    let beta = run.beta;
    if (run.flags & LENGTH_NORMALIZE) == 0u {
        // Without length normalisation the normaliser cancels: h_pi = theta[y+] - theta[y-].
        let u = margin(beta * (chosen_logit - rejected_logit), threshold);
        let g = loss_derivative(run.loss, u, beta) * beta * params.inverse_total_weight;
        write_terms(out, pair.weight * g, -(pair.weight * g), 0.0);
        return;
    }
    let inverse_chosen = inverse_length(pair.chosen);
    let inverse_rejected = inverse_length(pair.rejected);
    let normalizer = rows[run_index * sizes.prompts + pair.prompt].normalizer;
    let h = normalized_log_ratio(chosen_logit, rejected_logit, normalizer, inverse_chosen, inverse_rejected);
    let u = margin(beta * h, threshold);
    let g = pair.weight * params.inverse_total_weight * loss_derivative(run.loss, u, beta) * beta;
    write_terms(out, g * inverse_chosen, -(g * inverse_rejected), g * (inverse_chosen - inverse_rejected));
}
