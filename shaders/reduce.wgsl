// reduce.wgsl: workgroup tree reductions, shared by the metric kernels (the host prepends this
// file, after common.wgsl, to metric_rows.wgsl, metric_pairs.wgsl and metric_runs.wgsl).
// No bindings; each function is called by every thread of a workgroup in uniform control flow
// and returns the workgroup's total to every thread.

var<workgroup> sums: array<vec4<f32>, WORKGROUP>;
var<workgroup> counts: array<vec4<u32>, WORKGROUP>;

/// Sum over the workgroup of each thread's `value`.
fn reduce_sum(local: u32, value: vec4<f32>) -> vec4<f32> {
    sums[local] = value;
    for (var width = WORKGROUP / 2u; width > 0u; width = width / 2u) {
        workgroupBarrier();
        if local < width {
            sums[local] = sums[local] + sums[local + width];
        }
    }
    workgroupBarrier();
    let total = sums[0];
    // Every thread reads the total before anybody writes `sums` again.
    workgroupBarrier();
    return total;
}

/// Two 64-bit counts (low, high, low, high) added.
fn add_wide(a: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
    let low = a.xz + b.xz;
    // A carry wherever the low word wrapped around.
    let carry = vec2<u32>(low < a.xz);
    let high = a.yw + b.yw + carry;
    return vec4<u32>(low.x, high.x, low.y, high.y);
}

/// Sum over the workgroup of each thread's counts: four u32 counts (`wide` false) or two 64-bit
/// counts (`wide` true, see `add_wide`).
fn reduce_counts(local: u32, value: vec4<u32>, wide: bool) -> vec4<u32> {
    counts[local] = value;
    for (var width = WORKGROUP / 2u; width > 0u; width = width / 2u) {
        workgroupBarrier();
        if local < width {
            if wide {
                counts[local] = add_wide(counts[local], counts[local + width]);
            } else {
                counts[local] = counts[local] + counts[local + width];
            }
        }
    }
    workgroupBarrier();
    let total = counts[0];
    workgroupBarrier();
    return total;
}
