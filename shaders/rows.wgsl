// rows.wgsl: the log-normaliser of each (run, prompt) row, and the row's KL(pi || pi0).
// After common.wgsl, problem.wgsl and reduce.wgsl.
//
// Bindings (group 0):
//   0 sizes     uniform Sizes
//   1 problem   storage read  array<u32>        the reference (mixout's swapped-in logits, KL)
//   2 runs      storage read  array<RunParams>  one per run
//   3 schedule  storage read  Schedule          this step's StepParams (mixout's step)
//   4 logits    storage read  array<f32>        theta, [run][prompt][output]
//   5 rows      storage rw    array<RowTerms>   per (run, prompt): receives .normalizer and .kl
//
// One workgroup computes one (run, prompt) row: a strided loop over the outputs (any number of
// them, 32768 and more) and a tree reduction in workgroup memory, first of the maximum, then of
// sum exp(l - max), then (KL runs only) of pi * (log pi - log pi0). The logits are the evaluated
// ones (mixout's mixed logits for a mixout run). Rows of runs that need neither length
// normalisation nor KL are skipped. The coefficient is left to coefficients.wgsl.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> schedule: Schedule;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> rows: array<RowTerms>;

var<workgroup> row_needed: u32;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let row = workgroup_index(workgroup, workgroups);
    if row >= sizes.runs * sizes.prompts {
        return;
    }
    let run_index = row / sizes.prompts;
    let prompt = row % sizes.prompts;
    let run = runs[run_index];
    if local == 0u {
        row_needed = select(0u, 1u, (run.flags & (LENGTH_NORMALIZE | KL)) != 0u);
    }
    // Read through workgroup memory so that the early return is uniform and the barriers below are valid.
    if workgroupUniformLoad(&row_needed) == 0u {
        return;
    }
    let step = schedule.params[schedule.step * sizes.runs + run_index].step;
    let outputs = sizes.outputs;
    let run_base = run_index * sizes.logits_per_run;
    let row_start = prompt * outputs;
    var largest = LOWEST_F32;
    for (var y = local; y < outputs; y += WORKGROUP) {
        let index = row_start + y;
        largest = max(largest, evaluate(run, step, index, logits[run_base + index]).logit);
    }
    let maximum = reduce_max(local, largest);
    var exp_sum = 0.0;
    for (var y = local; y < outputs; y += WORKGROUP) {
        let index = row_start + y;
        exp_sum += probability_exp(evaluate(run, step, index, logits[run_base + index]).logit - maximum);
    }
    let normalizer = maximum + log(reduce_total(local, exp_sum));
    var kl = 0.0;
    if (run.flags & KL) != 0u {
        // KL excludes mixout (one regulariser per run), so the evaluated logits are the logits.
        var local_kl = 0.0;
        for (var y = local; y < outputs; y += WORKGROUP) {
            let index = row_start + y;
            let log_policy = logits[run_base + index] - normalizer;
            local_kl += probability_exp(log_policy) * (log_policy - reference_logit(index));
        }
        kl = reduce_total(local, local_kl);
    }
    if local == 0u {
        rows[row] = RowTerms(normalizer, kl, 0.0, 0.0);
    }
}
