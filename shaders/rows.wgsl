// rows.wgsl: the log-normaliser of each (run, prompt) row, and the row's KL(pi || pi0).
//
// Bindings (group 0):
//   0 sizes          uniform Sizes
//   1 runs           storage read  array<RunParams>        one per run
//   2 schedule       storage read  array<u32>              step counter and StepParams (mixout's step)
//   3 log_reference  storage read  array<f32>              log pi0, [prompt][output]
//   4 logits         storage read  array<f32>              theta, [run][prompt][output]
//   5 rows           storage rw    array<vec4<f32>>        per (run, prompt): (log-normaliser, KL, coefficient, unused)
//
// One workgroup computes one (run, prompt) row: a strided loop over the outputs (any number of
// them, 32768 and more) and a tree reduction in workgroup memory, first of the maximum, then of
// sum exp(l - max), then (KL runs only) of pi * (log pi - log pi0). The logits are the evaluated
// ones (mixout's mixed logits for a mixout run). Rows of runs that need neither length
// normalisation nor KL are skipped. Coefficient (.z) is left to coefficients.wgsl.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> runs: array<RunParams>;
@group(0) @binding(2) var<storage, read> schedule: array<u32>;
@group(0) @binding(3) var<storage, read> log_reference: array<f32>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> rows: array<vec4<f32>>;

var<workgroup> partial: array<f32, WORKGROUP>;
var<workgroup> row_needed: u32;

/// The logit at `index` (within the run, [prompt][output]) as this step's loss sees it.
fn evaluated(run: RunParams, step: u32, run_base: u32, index: u32) -> f32 {
    let logit = logits[run_base + index];
    if (run.flags & MIXOUT) != 0u {
        return mixout_logit(run, mixout_mask(run, step, index), logit, log_reference[index]);
    }
    return logit;
}

/// Sum (or, with `maximum`, max) of `partial` over the workgroup; every thread gets the result.
fn reduce(local: u32, maximum: bool) -> f32 {
    var width = WORKGROUP / 2u;
    loop {
        workgroupBarrier();
        if local < width {
            if maximum {
                partial[local] = max(partial[local], partial[local + width]);
            } else {
                partial[local] = partial[local] + partial[local + width];
            }
        }
        if width == 1u {
            break;
        }
        width = width / 2u;
    }
    // The uniform load is a barrier too, and tells the uniformity analysis that all threads agree.
    return workgroupUniformLoad(&partial[0]);
}

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let row = workgroup.y * workgroups.x + workgroup.x;
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
    let step = schedule[step_params_at(schedule[0], sizes.runs, run_index, 2u)];
    let k = sizes.outputs;
    let run_base = run_index * sizes.logits_per_run;
    let row_start = prompt * k;
    // f32 has no identity for max except -inf, which WGSL cannot write; the lowest finite f32 is the
    // next best. Written as a hex float: Chromium's WGSL compiler rejects the decimal -3.4028235e38
    // as not representable (it rounds the decimal first), where naga accepts it.
    var largest = -0x1.fffffep+127f;
    for (var y = local; y < k; y += WORKGROUP) {
        largest = max(largest, evaluated(run, step, run_base, row_start + y));
    }
    partial[local] = largest;
    let maximum = reduce(local, true);
    var sum = 0.0;
    for (var y = local; y < k; y += WORKGROUP) {
        sum += probability_exp(evaluated(run, step, run_base, row_start + y) - maximum);
    }
    partial[local] = sum;
    let normalizer = maximum + log(reduce(local, false));
    var kl = 0.0;
    if (run.flags & KL) != 0u {
        // KL excludes mixout (one regulariser per run), so the evaluated logits are the logits.
        var local_kl = 0.0;
        for (var y = local; y < k; y += WORKGROUP) {
            let log_policy = logits[run_base + row_start + y] - normalizer;
            local_kl += probability_exp(log_policy) * (log_policy - log_reference[row_start + y]);
        }
        partial[local] = local_kl;
        kl = reduce(local, false);
    }
    if local == 0u {
        rows[row] = vec4<f32>(normalizer, kl, 0.0, 0.0);
    }
}
