// metric_rows.wgsl: the whole-distribution metrics of each (run, prompt) row.
// After common.wgsl, problem.wgsl and reduce.wgsl.
//
// Bindings (group 0):
//   0 sizes        uniform Sizes
//   1 problem      storage read  array<u32>        the reference; the true reward and its rank
//   2 logits       storage read  array<f32>        theta, [run][prompt][output]
//   3 metric_rows  storage rw    array<MetricRow>  per (run, prompt)
//
// One workgroup computes one (run, prompt) row, as the CPU engine's metrics define it: the
// log-normaliser (maximum, then sum of e^(l - max), tree reductions in workgroup memory, any number
// of outputs), then with pi = e^(l - normaliser) the row's KL(pi || pi0) = sum pi (log pi - log pi0),
// its entropy -sum pi log pi, the expected true reward sum pi r*, and the non-finite logits. With
// METRIC_RANKING it also counts, over the output pairs (a, b) whose true rewards differ, those the
// logits order alike: thread t takes a = t, t + 256, ... against every b > a (O(K^2), so the host
// sets the flag only up to RANKING_MAX_OUTPUTS outputs). The metrics use the logits, never
// mixout's mixed ones.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> metric_rows: array<MetricRow>;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    // The row is the same for the whole workgroup, so this return is uniform.
    let row = workgroup_index(workgroup, workgroups);
    if row >= sizes.runs * sizes.prompts {
        return;
    }
    let outputs = sizes.outputs;
    let row_start = (row % sizes.prompts) * outputs;
    let base = (row / sizes.prompts) * sizes.logits_per_run + row_start;
    let truth = (sizes.metric_flags & METRIC_TRUTH) != 0u;

    var row_max = LOWEST_F32;
    var non_finite = 0u;
    for (var y = local; y < outputs; y += WORKGROUP) {
        let logit = logits[base + y];
        row_max = max(row_max, logit);
        non_finite += select(0u, 1u, is_non_finite(logit));
    }
    let maximum = reduce_max(local, row_max);
    var exp_sum = 0.0;
    for (var y = local; y < outputs; y += WORKGROUP) {
        exp_sum += probability_exp(logits[base + y] - maximum);
    }
    let normalizer = maximum + log(reduce_total(local, exp_sum));

    // (KL, entropy, true reward) of this thread's outputs.
    var totals = vec4<f32>(0.0);
    for (var y = local; y < outputs; y += WORKGROUP) {
        let log_policy = logits[base + y] - normalizer;
        let policy = probability_exp(log_policy);
        totals.x += policy * (log_policy - reference_logit(row_start + y));
        totals.y -= policy * log_policy;
        if truth {
            totals.z += policy * true_reward(row_start + y);
        }
    }
    let row_totals = reduce_sum(local, totals);

    // Ranking agreement: (agree, comparable) over the pairs a < b this thread owns.
    var ranking = vec4<u32>(0u, 0u, non_finite, 0u);
    if (sizes.metric_flags & METRIC_RANKING) != 0u {
        for (var a = local; a < outputs; a += WORKGROUP) {
            let rank_a = reward_rank(row_start + a);
            let logit_a = logits[base + a];
            for (var b = a + 1u; b < outputs; b++) {
                let rank_b = reward_rank(row_start + b);
                if rank_a == rank_b {
                    continue;
                }
                ranking.y += 1u;
                let logit_b = logits[base + b];
                // Equal (or NaN) logits order no pair: a disagreement, as on the CPU.
                let alike = (rank_a > rank_b && logit_a > logit_b) || (rank_a < rank_b && logit_a < logit_b);
                ranking.x += select(0u, 1u, alike);
            }
        }
    }
    let row_counts = reduce_counts(local, ranking, false);

    if local == 0u {
        var record = MetricRow();
        record.normalizer = normalizer;
        record.kl = max(row_totals.x, 0.0);
        record.entropy = row_totals.y;
        record.true_reward = row_totals.z;
        record.agree = row_counts.x;
        record.comparable = row_counts.y;
        record.non_finite = row_counts.z;
        metric_rows[row] = record;
    }
}
