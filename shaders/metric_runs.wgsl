// metric_runs.wgsl: each run's metric sums, from its chunks' partials and its rows.
//
// Bindings (group 0):
//   0 sizes            uniform Sizes
//   1 metric_partials  storage read  array<u32>        PARTIAL_WORDS per (run, chunk) (metric_pairs.wgsl)
//   2 metric_rows      storage read  array<MetricRow>  per (run, prompt) (metric_rows.wgsl)
//   3 metrics          storage rw    array<u32>        METRIC_WORDS per run, read back by the host
//
// One workgroup sums one run: thread t takes chunks t, t + 256, ... and prompts t, t + 256, ...,
// then tree reductions. A run's words:
//   [0..20)  the chunks' partials added (same layout, see metric_pairs.wgsl; word 5 counts the
//            non-finite margins)
//   [20..24) sums over prompts of KL, entropy, expected true reward (f32 bits), 0
//   [24..28) agreeing and comparable output pairs, each as 64 bits (low word first)
//   [28]     non-finite logits; [29..32) 0
// The host divides (by the total weight, by the prompt count) in f64.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> metric_partials: array<u32>;
@group(0) @binding(2) var<storage, read> metric_rows: array<MetricRow>;
@group(0) @binding(3) var<storage, read_write> metrics: array<u32>;

fn partial(at: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(metric_partials[at], metric_partials[at + 1u], metric_partials[at + 2u], metric_partials[at + 3u]));
}

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let run_index = workgroup.y * workgroups.x + workgroup.x;
    if run_index >= sizes.runs {
        return;
    }
    var first = vec4<f32>(0.0);
    var second = vec4<f32>(0.0);
    var cell_weights = vec4<f32>(0.0);
    var cell_signals = vec4<f32>(0.0);
    var cell_counts = vec4<u32>(0u);
    for (var chunk = local; chunk < sizes.metric_chunks; chunk += WORKGROUP) {
        let at = (run_index * sizes.metric_chunks + chunk) * PARTIAL_WORDS;
        first += partial(at);
        second += partial(at + 4u);
        cell_weights += partial(at + 8u);
        cell_signals += partial(at + 12u);
        cell_counts += vec4<u32>(metric_partials[at + 16u], metric_partials[at + 17u], metric_partials[at + 18u], metric_partials[at + 19u]);
    }
    var rows = vec4<f32>(0.0);
    var ranking = vec4<u32>(0u);
    var non_finite = 0u;
    for (var prompt = local; prompt < sizes.prompts; prompt += WORKGROUP) {
        let row = metric_rows[run_index * sizes.prompts + prompt];
        rows += vec4<f32>(row.kl, row.entropy, row.true_reward, 0.0);
        ranking = add_wide(ranking, vec4<u32>(row.agree, 0u, row.comparable, 0u));
        non_finite += row.non_finite;
    }
    var totals = array<vec4<f32>, 5>(
        reduce_sum(local, first),
        reduce_sum(local, second),
        reduce_sum(local, cell_weights),
        reduce_sum(local, cell_signals),
        reduce_sum(local, rows),
    );
    let total_counts = reduce_counts(local, cell_counts, false);
    let total_ranking = reduce_counts(local, ranking, true);
    let total_non_finite = reduce_counts(local, vec4<u32>(non_finite, 0u, 0u, 0u), false).x;
    if local == 0u {
        let out = run_index * METRIC_WORDS;
        for (var i = 0u; i < 4u; i++) {
            metrics[out + i] = bitcast<u32>(totals[0][i]);
            metrics[out + 4u + i] = bitcast<u32>(totals[1][i]);
            metrics[out + 8u + i] = bitcast<u32>(totals[2][i]);
            metrics[out + 12u + i] = bitcast<u32>(totals[3][i]);
            metrics[out + 16u + i] = total_counts[i];
            metrics[out + 20u + i] = bitcast<u32>(totals[4][i]);
            metrics[out + 24u + i] = total_ranking[i];
        }
        metrics[out + 28u] = total_non_finite;
        metrics[out + 29u] = 0u;
        metrics[out + 30u] = 0u;
        metrics[out + 31u] = 0u;
    }
}
