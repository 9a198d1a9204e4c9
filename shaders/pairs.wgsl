// pairs.wgsl: each pair's margin u and loss derivative phi'(u), turned into its gradient terms.
//
// Bindings (group 0):
//   0 sizes          uniform Sizes
//   1 problem        storage read  array<u32>        pairs (chosen, rejected, prompt, weight bits), 1/n(y)
//   2 runs           storage read  array<RunParams>  one per run
//   3 pair_constants storage read  array<f32>        per (run, pair): gamma * h_0 + m, h_0 (the CPU's f32 values)
//   4 schedule       storage read  array<u32>        step counter, StepParams, minibatch masks
//   5 log_reference  storage read  array<f32>        log pi0 (mixout's swapped-in logits)
//   6 logits         storage read  array<f32>        theta, [run][prompt][output]
//   7 rows           storage read  array<vec4<f32>>  per (run, prompt): .x the log-normaliser (rows.wgsl)
//   8 pair_values    storage rw    array<f32>        per (run, pair): chosen's term, rejected's term, row coefficient
//
// One invocation handles one (run, pair): if the pair is in this step's batch it computes
// h_pi, u = beta h_pi - (gamma h_0 + m), phi'(u) and, with g = w / W phi'(u) beta,
//   chosen term g / n(y+), rejected term -g / n(y-), row coefficient g (1/n(y+) - 1/n(y-))
// with the same f32 operations, in the same order, as `engine::run::Run::accumulate`; a pair
// outside the batch writes zeros. update.wgsl gathers the terms per logit (no float atomics).

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> pair_constants: array<f32>;
@group(0) @binding(4) var<storage, read> schedule: array<u32>;
@group(0) @binding(5) var<storage, read> log_reference: array<f32>;
@group(0) @binding(6) var<storage, read> logits: array<f32>;
@group(0) @binding(7) var<storage, read> rows: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> pair_values: array<f32>;

/// The logit at `index` (within the run) as this step's loss sees it.
fn evaluated(run: RunParams, step: u32, run_base: u32, index: u32) -> f32 {
    let logit = logits[run_base + index];
    if (run.flags & MIXOUT) != 0u {
        return mixout_logit(run, mixout_mask(run, step, index), logit, log_reference[index]);
    }
    return logit;
}

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let id = flat_index(workgroup, workgroups, local);
    if id >= sizes.runs * sizes.pairs || PAIR_VALUES * id + 2u >= arrayLength(&pair_values) {
        return;
    }
    let run_index = id / sizes.pairs;
    let pair = id % sizes.pairs;
    let run = runs[run_index];
    let params = step_params_at(schedule[0], sizes.runs, run_index, 0u);
    let step = schedule[params + 2u];
    let inverse_total = bitcast<f32>(schedule[params + 3u]);
    let mask = schedule[params + 4u];
    let out = PAIR_VALUES * id;
    if mask != FULL_BATCH && ((schedule[mask + pair / 32u] >> (pair % 32u)) & 1u) == 0u {
        pair_values[out] = 0.0;
        pair_values[out + 1u] = 0.0;
        pair_values[out + 2u] = 0.0;
        return;
    }
    let chosen = problem[4u * pair];
    let rejected = problem[4u * pair + 1u];
    let prompt = problem[4u * pair + 2u];
    let weight = bitcast<f32>(problem[4u * pair + 3u]);
    let run_base = run_index * sizes.logits_per_run;
    let chosen_logit = evaluated(run, step, run_base, chosen);
    let rejected_logit = evaluated(run, step, run_base, rejected);
    let offset = pair_constants[2u * id];
    let beta = run.beta;
    if (run.flags & LENGTH_NORMALIZE) == 0u {
        // Without length normalisation the normaliser cancels: h_pi = theta[y+] - theta[y-].
        let scaled = beta * (chosen_logit - rejected_logit);
        // Where beta h_pi equals the offset, u is exactly 0 (SPEC section 3's exact zero margin at
        // the reference) even if the compiler fuses the multiply into the subtraction.
        let u = select(scaled - offset, 0.0, scaled == offset);
        let g = loss_derivative(run.loss, u, beta) * beta * inverse_total;
        pair_values[out] = weight * g;
        pair_values[out + 1u] = -(weight * g);
        pair_values[out + 2u] = 0.0;
        return;
    }
    let inverse_chosen = bitcast<f32>(problem[sizes.inverse_lengths_start + chosen % sizes.outputs]);
    let inverse_rejected = bitcast<f32>(problem[sizes.inverse_lengths_start + rejected % sizes.outputs]);
    var h: f32;
    if inverse_chosen == inverse_rejected {
        // Equal lengths: the normaliser cancels exactly, as without length normalisation.
        h = (chosen_logit - rejected_logit) * inverse_chosen;
    } else {
        let normalizer = rows[run_index * sizes.prompts + prompt].x;
        h = (chosen_logit - normalizer) * inverse_chosen - (rejected_logit - normalizer) * inverse_rejected;
    }
    let scaled = beta * h;
    let u = select(scaled - offset, 0.0, scaled == offset);
    let g = weight * inverse_total * loss_derivative(run.loss, u, beta) * beta;
    pair_values[out] = g * inverse_chosen;
    pair_values[out + 1u] = -(g * inverse_rejected);
    pair_values[out + 2u] = g * (inverse_chosen - inverse_rejected);
}
