// update.wgsl: each logit's gradient, gathered without float atomics, and its optimiser update.
// After common.wgsl and problem.wgsl.
//
// Bindings (group 0):
//   0 sizes        uniform Sizes
//   1 problem      storage read  array<u32>        the CSR index of each logit's (pair, side) entries,
//                                                  in pair order; the reference theta0 = log pi0
//   2 runs         storage read  array<RunParams>  one per run
//   3 schedule     storage read  Schedule          this step's StepParams (Adam's corrections, mixout's step)
//   4 logits       storage rw    array<f32>        theta, [run][prompt][output]
//   5 moments      storage rw    array<f32>        SGD's velocity or Adam's m ([run][logit]), then Adam's v
//   6 rows         storage read  array<RowTerms>   per (run, prompt): normaliser, KL, coefficient
//   7 pair_values  storage read  array<f32>        PAIR_VALUES per (run, pair) (pairs.wgsl)
//
// One invocation owns one (run, logit): it sums the terms of the pairs that touch the logit in
// pair order (the CPU engine's order), subtracts length normalisation's dense term
// coefficient(x) pi(y|x), scales by mixout's mask, adds the L2 or KL regulariser's gradient,
// and applies SGD with momentum or Adam (PyTorch's formulas, the CPU engine's operation order).

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> schedule: Schedule;
@group(0) @binding(4) var<storage, read_write> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> moments: array<f32>;
@group(0) @binding(6) var<storage, read> rows: array<RowTerms>;
@group(0) @binding(7) var<storage, read> pair_values: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let id = flat_index(workgroup, workgroups, local);
    if id >= sizes.runs * sizes.logits_per_run || id >= arrayLength(&logits) {
        return;
    }
    let run_index = id / sizes.logits_per_run;
    let index = id % sizes.logits_per_run;
    let run = runs[run_index];
    let params = schedule.params[schedule.step * sizes.runs + run_index];
    let logit = logits[id];
    let reference = reference_logit(index);

    // The loss's gradient: the pair terms, in pair order.
    var gradient = 0.0;
    let values = run_index * sizes.pairs * PAIR_VALUES;
    let entries = logit_entry_range(index);
    for (var j = entries.x; j < entries.y; j++) {
        gradient += pair_values[values + logit_entry(j)];
    }
    let row = rows[run_index * sizes.prompts + index / sizes.outputs];
    let evaluated = evaluate(run, params.step, index, logit);
    if (run.flags & LENGTH_NORMALIZE) != 0u && row.coefficient != 0.0 {
        // Length normalisation's dense term -coefficient(x) pi(y|x) (the CPU skips a zero coefficient too).
        gradient -= row.coefficient * probability_exp(evaluated.logit - row.normalizer);
    }
    if (run.flags & MIXOUT) != 0u {
        // The gradient flows through the kept logits only.
        gradient *= evaluated.mask * run.mixout_keep_scale;
    }
    if (run.flags & L2) != 0u {
        gradient += run.lambda * (logit - reference);
    }
    if (run.flags & KL) != 0u {
        // lambda dKL(pi || pi0)/dtheta = lambda pi (log pi - log pi0 - KL).
        let log_policy = logit - row.normalizer;
        gradient += run.lambda * probability_exp(log_policy) * (log_policy - reference - row.kl);
    }

    let first_moment = moments[id];
    if (run.flags & ADAM) == 0u {
        // SGD: v = momentum v + g; theta -= lr v.
        let velocity = run.momentum * first_moment + gradient;
        moments[id] = velocity;
        logits[id] = logit - run.lr * velocity;
        return;
    }
    // Adam: theta -= (lr / c1) m / (sqrt(v) / sqrt(c2) + eps), the corrections from f64 on the host.
    let second_index = sizes.runs * sizes.logits_per_run + id;
    let m = run.momentum * first_moment + run.one_minus_beta1 * gradient;
    let v = run.beta2 * moments[second_index] + run.one_minus_beta2 * gradient * gradient;
    moments[id] = m;
    moments[second_index] = v;
    logits[id] = logit - params.step_size * m / (sqrt(v) * params.inverse_root_correction2 + run.eps);
}
