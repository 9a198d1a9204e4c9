// reduce.wgsl: workgroup tree reductions, for the kernels that reduce over a workgroup (rows.wgsl
// and the metric kernels); the host puts it after common.wgsl. No bindings. Each function is
// called by every thread of a workgroup in uniform control flow and returns the workgroup's total
// to every thread. Every reduction is the same tree (pairs `width` apart, `width` halving from
// WORKGROUP / 2), so a sum does not depend on which function computes it.

var<workgroup> scalar_tree: array<f32, WORKGROUP>;
var<workgroup> sum_tree: array<vec4<f32>, WORKGROUP>;
var<workgroup> count_tree: array<vec4<u32>, WORKGROUP>;

/// The sum (or, with `maximum`, the maximum) over the workgroup of each thread's `value`.
fn reduce_scalar(local: u32, value: f32, maximum: bool) -> f32 {
    scalar_tree[local] = value;
    for (var width = WORKGROUP / 2u; width > 0u; width = width / 2u) {
        workgroupBarrier();
        if local < width {
            if maximum {
                scalar_tree[local] = max(scalar_tree[local], scalar_tree[local + width]);
            } else {
                scalar_tree[local] = scalar_tree[local] + scalar_tree[local + width];
            }
        }
    }
    // The uniform load is a barrier too, and tells the uniformity analysis that all threads agree.
    return workgroupUniformLoad(&scalar_tree[0]);
}

/// The maximum over the workgroup of each thread's `value`.
fn reduce_max(local: u32, value: f32) -> f32 {
    return reduce_scalar(local, value, true);
}

/// The sum over the workgroup of each thread's `value`.
fn reduce_total(local: u32, value: f32) -> f32 {
    return reduce_scalar(local, value, false);
}

/// The sum over the workgroup of each thread's `value`, per component.
fn reduce_sum(local: u32, value: vec4<f32>) -> vec4<f32> {
    sum_tree[local] = value;
    for (var width = WORKGROUP / 2u; width > 0u; width = width / 2u) {
        workgroupBarrier();
        if local < width {
            sum_tree[local] = sum_tree[local] + sum_tree[local + width];
        }
    }
    workgroupBarrier();
    let total = sum_tree[0];
    // Every thread reads the total before anybody writes `sum_tree` again.
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
    count_tree[local] = value;
    for (var width = WORKGROUP / 2u; width > 0u; width = width / 2u) {
        workgroupBarrier();
        if local < width {
            if wide {
                count_tree[local] = add_wide(count_tree[local], count_tree[local + width]);
            } else {
                count_tree[local] = count_tree[local] + count_tree[local + width];
            }
        }
    }
    workgroupBarrier();
    let total = count_tree[0];
    workgroupBarrier();
    return total;
}

/// Two PairSums added, field by field.
fn add_pair_sums(a: PairSums, b: PairSums) -> PairSums {
    var total = a;
    total.loss += b.loss;
    total.accuracy += b.accuracy;
    total.reference_accuracy += b.reference_accuracy;
    total.chosen_reward += b.chosen_reward;
    total.rejected_reward += b.rejected_reward;
    total.non_finite_margins += b.non_finite_margins;
    total.cell_weights += b.cell_weights;
    total.cell_signals += b.cell_signals;
    total.cell_pairs += b.cell_pairs;
    return total;
}

/// The sum over the workgroup of each thread's PairSums.
fn reduce_pair_sums(local: u32, value: PairSums) -> PairSums {
    let first = reduce_sum(local, vec4<f32>(value.loss, value.accuracy, value.reference_accuracy, value.chosen_reward));
    let second = reduce_sum(local, vec4<f32>(value.rejected_reward, value.non_finite_margins, 0.0, 0.0));
    var total = PairSums();
    total.loss = first.x;
    total.accuracy = first.y;
    total.reference_accuracy = first.z;
    total.chosen_reward = first.w;
    total.rejected_reward = second.x;
    total.non_finite_margins = second.y;
    total.cell_weights = reduce_sum(local, value.cell_weights);
    total.cell_signals = reduce_sum(local, value.cell_signals);
    total.cell_pairs = reduce_counts(local, value.cell_pairs, false);
    return total;
}
