// coefficients.wgsl: length normalisation's row coefficient, sum over the pairs p of a prompt of
// g_p (1/n(y+) - 1/n(y-)), which update.wgsl multiplies by pi(.|x) for the dense term.
//
// Bindings (group 0):
//   0 sizes        uniform Sizes
//   1 problem      storage read  array<u32>        the CSR list of each prompt's pairs, in pair order
//   2 runs         storage read  array<RunParams>  one per run
//   3 pair_values  storage read  array<f32>        per (run, pair): .., .., row coefficient (pairs.wgsl)
//   4 rows         storage rw    array<vec4<f32>>  per (run, prompt): .z receives the coefficient
//
// One invocation sums one (run, prompt) row's coefficient, sequentially in pair order (the CPU
// engine's order, so the sums agree bit for bit); runs without length normalisation are skipped.

@group(0) @binding(0) var<uniform> sizes: Sizes;
@group(0) @binding(1) var<storage, read> problem: array<u32>;
@group(0) @binding(2) var<storage, read> runs: array<RunParams>;
@group(0) @binding(3) var<storage, read> pair_values: array<f32>;
@group(0) @binding(4) var<storage, read_write> rows: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP)
fn main(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let id = flat_index(workgroup, workgroups, local);
    if id >= sizes.runs * sizes.prompts || id >= arrayLength(&rows) {
        return;
    }
    let run_index = id / sizes.prompts;
    let prompt = id % sizes.prompts;
    if (runs[run_index].flags & LENGTH_NORMALIZE) == 0u {
        return;
    }
    let first = problem[sizes.prompt_offsets_start + prompt];
    let last = problem[sizes.prompt_offsets_start + prompt + 1u];
    let values = run_index * sizes.pairs * PAIR_VALUES;
    var coefficient = 0.0;
    for (var j = first; j < last; j++) {
        let pair = problem[sizes.prompt_pairs_start + j];
        coefficient += pair_values[values + PAIR_VALUES * pair + 2u];
    }
    rows[id].z = coefficient;
}
