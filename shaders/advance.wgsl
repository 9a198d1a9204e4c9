// advance.wgsl: moves a submission on to its next step.
//
// Bindings (group 0):
//   0 schedule  storage rw  array<u32>  word 0: the step within the submission
//
// One invocation (the only one) increments the step counter that every other kernel reads to
// find its StepParams: the host writes every step's parameters before the submission, and the
// kernels of step s read them after s advances, so many steps go into one submission.

@group(0) @binding(0) var<storage, read_write> schedule: array<u32>;

@compute @workgroup_size(1)
fn main() {
    schedule[0] = schedule[0] + 1u;
}
