// coefficients.wgsl: length normalisation's row coefficient, sum over the pairs p of a prompt of
// g_p (1/n(y+) - 1/n(y-)), which update.wgsl multiplies by pi(.|x) for the dense term.
// After common.wgsl and problem.wgsl.
//
// Bindings (group 0):
//   0 sizes        uniform Sizes
//   1 problem      storage read  array<u32>        the CSR list of each prompt's pairs, in pair order
//   2 runs         storage read  array<RunParams>  one per run
//   3 pair_values  storage read  array<f32>        PAIR_VALUES per (run, pair) (pairs.wgsl)
//   4 rows         storage rw    array<RowTerms>   per (run, prompt): receives .coefficient
//
// One invocation sums one (run, prompt) row's coefficient, sequentially in pair order (the CPU
// engine's order, so the sums agree bit for bit); runs without length normalisation are skipped.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> pair_values: array<f32>;
@group(0) @binding(4) var<storage, read_write> rows: array<RowTerms>;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let row = flat_index(workgroup, workgroups, local);
    if row >= sizes.runs * sizes.prompts || row >= arrayLength(&rows) {
        return;
    }
    let run_index = row / sizes.prompts;
    if (runs[run_index].flags & LENGTH_NORMALIZE) == 0u {
        return;
    }
    let pairs = prompt_pair_range(row % sizes.prompts);
    let values = run_index * sizes.pairs * PAIR_VALUES;
    var coefficient = 0.0;
    for (var j = pairs.x; j < pairs.y; j++) {
        coefficient += pair_values[values + PAIR_VALUES * prompt_pair(j) + ROW_COEFFICIENT];
    }
    rows[row].coefficient = coefficient;
}
