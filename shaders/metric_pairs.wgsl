// metric_pairs.wgsl: the pair metrics (loss, accuracies, rewards, the learning table), reduced to
// one PairSums per (run, chunk), and every pair's margin. After common.wgsl, problem.wgsl and
// reduce.wgsl.
//
// Bindings (group 0):
//   0 sizes            uniform Sizes
//   1 problem          storage read  array<u32>            pairs, 1/L(y), the reference (the rewards)
//   2 runs             storage read  array<RunParams>      one per run
//   3 pair_constants   storage read  array<PairConstants>  per (run, pair): gamma h_0 + m, h_0
//   4 logits           storage read  array<f32>            theta, [run][prompt][output]
//   5 metric_rows      storage read  array<MetricRow>      per (run, prompt): .normalizer (metric_rows.wgsl)
//   6 metric_partials  storage rw    array<PairSums>       per (run, chunk)
//   7 margins          storage rw    array<f32>            u per (run, pair)
//
// Workgroup (run, chunk) of the sizes.metric_chunks per run takes the pairs chunk * 256 + t,
// stepping by metric_chunks * 256 (thread t). Per pair it computes h_pi and
// u = beta h_pi - (gamma h_0 + m) as the CPU engine's metrics do (the logits, not mixout's mixed
// ones), writes u to `margins`, and adds with the pair's weight w to the thread's PairSums; the
// workgroup's sums (tree reductions) are the chunk's. metric_runs.wgsl adds the chunks of a run.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> pair_constants: array<PairConstants>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read> metric_rows: array<MetricRow>;
@group(0) @binding(6) var<storage, read_write> metric_partials: array<PairSums>;
@group(0) @binding(7) var<storage, read_write> margins: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    // The same for the whole workgroup, so this return is uniform.
    let group = workgroup_index(workgroup, workgroups);
    if group >= sizes.runs * sizes.metric_chunks {
        return;
    }
    let run_index = group / sizes.metric_chunks;
    let chunk = group % sizes.metric_chunks;
    let run = runs[run_index];
    let beta = run.beta;
    let normalized = (run.flags & LENGTH_NORMALIZE) != 0u;
    let run_base = run_index * sizes.logits_per_run;
    let row_base = run_index * sizes.prompts;

    var pair_sums = PairSums();
    for (var pair_index = chunk * WORKGROUP + local; pair_index < sizes.pairs; pair_index += sizes.metric_chunks * WORKGROUP) {
        let pair = problem_pair(pair_index);
        let weight = pair.weight;
        let chosen_logit = logits[run_base + pair.chosen];
        let rejected_logit = logits[run_base + pair.rejected];
        let normalizer = metric_rows[row_base + pair.prompt].normalizer;
        var h = chosen_logit - rejected_logit;
        if normalized {
            h = normalized_log_ratio(chosen_logit, rejected_logit, normalizer, inverse_length(pair.chosen), inverse_length(pair.rejected));
        }
        let id = run_index * sizes.pairs + pair_index;
        let constants = pair_constants[id];
        let u = margin(beta * h, constants.threshold);
        margins[id] = u;
        let policy_right = h > 0.0;
        let reference_right = constants.reference_log_ratio > 0.0;
        pair_sums.loss += weight * loss_value(run.loss, u, beta);
        pair_sums.accuracy += weight * select(0.0, 1.0, policy_right);
        pair_sums.reference_accuracy += weight * select(0.0, 1.0, reference_right);
        pair_sums.chosen_reward += weight * (beta * ((chosen_logit - normalizer) - reference_logit(pair.chosen)));
        pair_sums.rejected_reward += weight * beta * ((rejected_logit - normalizer) - reference_logit(pair.rejected));
        pair_sums.non_finite_margins += select(0.0, 1.0, is_non_finite(u));
        // The learning-table cell, in reading order.
        let cell = select(2u, 0u, reference_right) + select(1u, 0u, policy_right);
        let one_hot = vec4<f32>(vec4<u32>(0u, 1u, 2u, 3u) == vec4<u32>(cell));
        pair_sums.cell_weights += weight * one_hot;
        pair_sums.cell_signals += (weight * abs(loss_derivative(run.loss, u, beta))) * one_hot;
        pair_sums.cell_pairs += vec4<u32>(one_hot);
    }
    let total = reduce_pair_sums(local, pair_sums);
    if local == 0u {
        metric_partials[group] = total;
    }
}
