// metric_rows.wgsl: the whole-distribution metrics of each (run, prompt) row.
//
// Bindings (group 0):
//   0 sizes          uniform Sizes
//   1 problem        storage read  array<u32>        true reward (f32 bits) and its rank per (prompt, output)
//   2 log_reference  storage read  array<f32>        log pi0, [prompt][output]
//   3 logits         storage read  array<f32>        theta, [run][prompt][output]
//   4 metric_rows    storage rw    array<MetricRow>  per (run, prompt)
//
// One workgroup computes one (run, prompt) row, as `engine::Run::metrics` defines it: the
// log-normaliser (maximum, then sum of e^(l - max), tree reductions in workgroup memory, any number
// of outputs), then with pi = e^(l - normaliser) the row's KL(pi || pi0) = sum pi (log pi - log pi0),
// its entropy -sum pi log pi, the expected true reward sum pi r*, and the non-finite logits. With
// METRIC_RANKING it also counts, over the output pairs (a, b) whose true rewards differ, those the
// logits order alike: thread t takes a = t, t + 256, ... against every b > a (O(K^2), so the host
// sets the flag only up to 4096 outputs). The metrics use the logits, never mixout's mixed ones.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> log_reference: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> metric_rows: array<MetricRow>;

var<workgroup> largest: array<f32, WORKGROUP>;

/// Max over the workgroup of each thread's `value`; every thread gets the result.
fn reduce_max(local: u32, value: f32) -> f32 {
    largest[local] = value;
    for (var width = WORKGROUP / 2u; width > 0u; width = width / 2u) {
        workgroupBarrier();
        if local < width {
            largest[local] = max(largest[local], largest[local + width]);
        }
    }
    return workgroupUniformLoad(&largest[0]);
}

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    // The row is the same for the whole workgroup, so this return is uniform.
    let row = workgroup.y * workgroups.x + workgroup.x;
    if row >= sizes.runs * sizes.prompts {
        return;
    }
    let k = sizes.outputs;
    let prompt = row % sizes.prompts;
    let row_start = prompt * k;
    let base = (row / sizes.prompts) * sizes.logits_per_run + row_start;
    let truth = (sizes.metric_flags & METRIC_TRUTH) != 0u;

    // The lowest finite f32 as the identity of max (hex: Chromium's Tint rejects the decimal).
    var row_max = -0x1.fffffep+127f;
    var non_finite = 0u;
    for (var y = local; y < k; y += WORKGROUP) {
        let logit = logits[base + y];
        row_max = max(row_max, logit);
        non_finite += select(0u, 1u, is_non_finite(logit));
    }
    let maximum = reduce_max(local, row_max);
    var exp_sum = 0.0;
    for (var y = local; y < k; y += WORKGROUP) {
        exp_sum += probability_exp(logits[base + y] - maximum);
    }
    let normalizer = maximum + log(reduce_sum(local, vec4<f32>(exp_sum, 0.0, 0.0, 0.0)).x);

    // (KL, entropy, true reward) of this thread's outputs.
    var totals = vec4<f32>(0.0);
    for (var y = local; y < k; y += WORKGROUP) {
        let log_policy = logits[base + y] - normalizer;
        let policy = probability_exp(log_policy);
        totals.x += policy * (log_policy - log_reference[row_start + y]);
        totals.y -= policy * log_policy;
        if truth {
            totals.z += policy * bitcast<f32>(problem[sizes.true_reward_start + row_start + y]);
        }
    }
    let row_totals = reduce_sum(local, totals);

    // Ranking agreement: (agree, comparable) over the pairs a < b this thread owns.
    var ranking = vec4<u32>(0u, 0u, non_finite, 0u);
    if (sizes.metric_flags & METRIC_RANKING) != 0u {
        let ranks = sizes.reward_rank_start + row_start;
        for (var a = local; a < k; a += WORKGROUP) {
            let rank_a = problem[ranks + a];
            let logit_a = logits[base + a];
            for (var b = a + 1u; b < k; b++) {
                let rank_b = problem[ranks + b];
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
        metric_rows[row] = MetricRow(
            normalizer,
            max(row_totals.x, 0.0),
            row_totals.y,
            row_totals.z,
            row_counts.x,
            row_counts.y,
            row_counts.z,
            0u,
        );
    }
}
