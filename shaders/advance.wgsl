// advance.wgsl: moves a submission on to its next step. After common.wgsl.
//
// Bindings (group 0):
//   0 schedule  storage rw  Schedule  .step: the step within the submission
//
// One invocation (the only one) increments the step that every other kernel reads to find its
// StepParams: the host writes every step's parameters before the submission, and the kernels of
// step s read them after s advances, so many steps go into one submission.

@group(0) @binding(0) var<storage, read_write> schedule: Schedule;

@compute @workgroup_size(1)
fn main() {
    schedule.step = schedule.step + 1u;
}
