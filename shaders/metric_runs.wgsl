// metric_runs.wgsl: each run's metric sums, from its chunks' PairSums and its rows.
// After common.wgsl and reduce.wgsl.
//
// Bindings (group 0):
//   0 sizes            uniform Sizes
//   1 metric_partials  storage read  array<PairSums>    per (run, chunk) (metric_pairs.wgsl)
//   2 metric_rows      storage read  array<MetricRow>   per (run, prompt) (metric_rows.wgsl)
//   3 metrics          storage rw    array<RunMetrics>  per run, read back by the host
//
// One workgroup sums one run: thread t takes chunks t, t + 256, ... and prompts t, t + 256, ...,
// then tree reductions. The host divides (by the total weight, by the prompt count) in f64.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> metric_partials: array<PairSums>;
@group(0) @binding(2) var<storage, read> metric_rows: array<MetricRow>;
@group(0) @binding(3) var<storage, read_write> metrics: array<RunMetrics>;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let run_index = workgroup_index(workgroup, workgroups);
    if run_index >= sizes.runs {
        return;
    }
    var pair_sums = PairSums();
    for (var chunk = local; chunk < sizes.metric_chunks; chunk += WORKGROUP) {
        pair_sums = add_pair_sums(pair_sums, metric_partials[run_index * sizes.metric_chunks + chunk]);
    }
    // (KL, entropy, true reward, 0) and the (agree, comparable) counts of this thread's rows.
    var row_sums = vec4<f32>(0.0);
    var ranking = vec4<u32>(0u);
    var non_finite = 0u;
    for (var prompt = local; prompt < sizes.prompts; prompt += WORKGROUP) {
        let row = metric_rows[run_index * sizes.prompts + prompt];
        row_sums += vec4<f32>(row.kl, row.entropy, row.true_reward, 0.0);
        ranking = add_wide(ranking, vec4<u32>(row.agree, 0u, row.comparable, 0u));
        non_finite += row.non_finite;
    }
    var record = RunMetrics();
    record.pairs = reduce_pair_sums(local, pair_sums);
    let row_totals = reduce_sum(local, row_sums);
    record.kl = row_totals.x;
    record.entropy = row_totals.y;
    record.true_reward = row_totals.z;
    let ranking_totals = reduce_counts(local, ranking, true);
    record.agree = ranking_totals.xy;
    record.comparable = ranking_totals.zw;
    record.non_finite_logits = reduce_counts(local, vec4<u32>(non_finite, 0u, 0u, 0u), false).x;
    if local == 0u {
        metrics[run_index] = record;
    }
}
