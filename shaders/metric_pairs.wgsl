// metric_pairs.wgsl: the pair metrics (loss, accuracies, rewards, the learning table), reduced to
// one partial sum per (run, chunk), and every pair's margin.
//
// Bindings (group 0):
//   0 sizes            uniform Sizes
//   1 problem          storage read  array<u32>        pairs (chosen, rejected, prompt, weight bits), 1/L(y)
//   2 runs             storage read  array<RunParams>  one per run
//   3 pair_constants   storage read  array<f32>        per (run, pair): gamma h_0 + m, then h_0 (the CPU's f32 values)
//   4 log_reference    storage read  array<f32>        log pi0 (the rewards)
//   5 logits           storage read  array<f32>        theta, [run][prompt][output]
//   6 metric_rows      storage read  array<MetricRow>  per (run, prompt): .normalizer (metric_rows.wgsl)
//   7 metric_partials  storage rw    array<u32>        PARTIAL_WORDS per (run, chunk): f32 bits and counts
//   8 margins          storage rw    array<f32>        u per (run, pair)
//
// Workgroup (run, chunk) of the sizes.metric_chunks per run takes the pairs chunk * 256 + t,
// stepping by metric_chunks * 256 (thread t). Per pair it computes h_pi and
// u = beta h_pi - (gamma h_0 + m) as `engine::Run::metrics` does (the logits, not mixout's mixed
// ones), writes u to `margins`, and adds with the pair's weight w: w phi(u), w [h_pi > 0],
// w [h_0 > 0], w beta (log pi(y+) - log pi0(y+)), the same for y-, and to the pair's learning-table
// cell (reference right?, policy right?) its weight, its signal w |phi'(u)| and a count. The
// workgroup's sums (tree reductions) go to the chunk's partial:
//   [0..4)   loss, accuracy, reference accuracy, chosen reward      (weighted sums, not yet divided)
//   [4..8)   rejected reward, the count of non-finite margins (a diverged run; as f32), 0, 0
//   [8..12)  cell weights    (cells in reading order: ref right & policy right, right & wrong,
//   [12..16) cell signals     wrong & right, wrong & wrong)
//   [16..20) cell pair counts
// (the sums as f32 bits, so that no count is ever stored as a float, where it would be a denormal).
// metric_runs.wgsl adds the chunks of a run.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> pair_constants: array<f32>;
@group(0) @binding(4) var<storage, read> log_reference: array<f32>;
@group(0) @binding(5) var<storage, read> logits: array<f32>;
@group(0) @binding(6) var<storage, read> metric_rows: array<MetricRow>;
@group(0) @binding(7) var<storage, read_write> metric_partials: array<u32>;
@group(0) @binding(8) var<storage, read_write> margins: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    // The same for the whole workgroup, so this return is uniform.
    let group = workgroup.y * workgroups.x + workgroup.x;
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

    var first = vec4<f32>(0.0);
    var second = vec4<f32>(0.0);
    var cell_weights = vec4<f32>(0.0);
    var cell_signals = vec4<f32>(0.0);
    var cell_counts = vec4<u32>(0u);
    for (var pair = chunk * WORKGROUP + local; pair < sizes.pairs; pair += sizes.metric_chunks * WORKGROUP) {
        let chosen = problem[4u * pair];
        let rejected = problem[4u * pair + 1u];
        let prompt = problem[4u * pair + 2u];
        let weight = bitcast<f32>(problem[4u * pair + 3u]);
        let chosen_logit = logits[run_base + chosen];
        let rejected_logit = logits[run_base + rejected];
        let normalizer = metric_rows[row_base + prompt].normalizer;
        var h = chosen_logit - rejected_logit;
        if normalized {
            let inverse_chosen = bitcast<f32>(problem[sizes.inverse_lengths_start + chosen % sizes.outputs]);
            let inverse_rejected = bitcast<f32>(problem[sizes.inverse_lengths_start + rejected % sizes.outputs]);
            if inverse_chosen == inverse_rejected {
                h = h * inverse_chosen;
            } else {
                h = (chosen_logit - normalizer) * inverse_chosen - (rejected_logit - normalizer) * inverse_rejected;
            }
        }
        let id = run_index * sizes.pairs + pair;
        let offset = pair_constants[2u * id];
        let reference_log_ratio = pair_constants[2u * id + 1u];
        let scaled = beta * h;
        // Exactly 0 where beta h_pi equals the offset, even if the compiler fuses the subtraction.
        let u = select(scaled - offset, 0.0, scaled == offset);
        margins[id] = u;
        let policy_right = h > 0.0;
        let reference_right = reference_log_ratio > 0.0;
        first += weight * vec4<f32>(
            loss_value(run.loss, u, beta),
            select(0.0, 1.0, policy_right),
            select(0.0, 1.0, reference_right),
            beta * ((chosen_logit - normalizer) - log_reference[chosen]),
        );
        second.x += weight * beta * ((rejected_logit - normalizer) - log_reference[rejected]);
        second.y += select(0.0, 1.0, is_non_finite(u));
        let cell = select(2u, 0u, reference_right) + select(1u, 0u, policy_right);
        let one_hot = vec4<f32>(vec4<u32>(0u, 1u, 2u, 3u) == vec4<u32>(cell));
        cell_weights += weight * one_hot;
        cell_signals += (weight * abs(loss_derivative(run.loss, u, beta))) * one_hot;
        cell_counts += vec4<u32>(one_hot);
    }
    let total_first = reduce_sum(local, first);
    let total_second = reduce_sum(local, second);
    let total_weights = reduce_sum(local, cell_weights);
    let total_signals = reduce_sum(local, cell_signals);
    let total_counts = reduce_counts(local, cell_counts, false);
    if local == 0u {
        let out = group * PARTIAL_WORDS;
        for (var i = 0u; i < 4u; i++) {
            metric_partials[out + i] = bitcast<u32>(total_first[i]);
            metric_partials[out + 4u + i] = bitcast<u32>(total_second[i]);
            metric_partials[out + 8u + i] = bitcast<u32>(total_weights[i]);
            metric_partials[out + 12u + i] = bitcast<u32>(total_signals[i]);
            metric_partials[out + 16u + i] = total_counts[i];
        }
    }
}
