//! The kernels: each one's WGSL source (its shared modules and its own file, in one table),
//! its bindings by name, the compiled pipelines, the bind groups, and the dispatches, split
//! into 2D grids past the device's workgroups per dimension.

use super::layout::WORKGROUP;
use Binding::*;

/// A buffer a kernel binds, named as the kernel's WGSL variable is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Binding {
    Sizes,
    Problem,
    Runs,
    PairConstants,
    Schedule,
    BatchMasks,
    Logits,
    Moments,
    Rows,
    PairValues,
    MetricRows,
    MetricPartials,
    Metrics,
    Margins,
}

impl Binding {
    /// The WGSL variable's name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Binding::Sizes => "sizes",
            Binding::Problem => "problem",
            Binding::Runs => "runs",
            Binding::PairConstants => "pair_constants",
            Binding::Schedule => "schedule",
            Binding::BatchMasks => "batch_masks",
            Binding::Logits => "logits",
            Binding::Moments => "moments",
            Binding::Rows => "rows",
            Binding::PairValues => "pair_values",
            Binding::MetricRows => "metric_rows",
            Binding::MetricPartials => "metric_partials",
            Binding::Metrics => "metrics",
            Binding::Margins => "margins",
        }
    }

    /// Whether the binding is a uniform buffer (the rest are storage buffers).
    fn is_uniform(self) -> bool {
        self == Binding::Sizes
    }
}

/// A kernel file from `shaders/`, as `build.rs` wrote it without its comments.
macro_rules! wgsl {
    ($file:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/shaders/", $file))
    };
}

/// Declarations every kernel shares.
const COMMON: &str = wgsl!("common.wgsl");
/// The problem buffer read by name, for the kernels that bind `sizes` and `problem`.
const PROBLEM: &str = wgsl!("problem.wgsl");
/// Workgroup reductions.
const REDUCE: &str = wgsl!("reduce.wgsl");

/// One kernel: its name, the WGSL files it is compiled from (in order, its own last) and the
/// buffers it binds, to bindings 0, 1, ... of group 0.
pub(super) struct KernelSpec {
    pub name: &'static str,
    modules: &'static [&'static str],
    pub bindings: &'static [Binding],
}

impl KernelSpec {
    /// The WGSL the device compiles: the modules, one after the other.
    pub(super) fn source(&self) -> String {
        self.modules.join("\n")
    }
}

pub(super) const ROWS: KernelSpec = KernelSpec {
    name: "rows",
    modules: &[COMMON, PROBLEM, REDUCE, wgsl!("rows.wgsl")],
    bindings: &[Sizes, Problem, Runs, Schedule, Logits, Rows],
};

pub(super) const PAIRS: KernelSpec = KernelSpec {
    name: "pairs",
    modules: &[COMMON, PROBLEM, wgsl!("pairs.wgsl")],
    bindings: &[
        Sizes,
        Problem,
        Runs,
        PairConstants,
        Schedule,
        BatchMasks,
        Logits,
        Rows,
        PairValues,
    ],
};

pub(super) const COEFFICIENTS: KernelSpec = KernelSpec {
    name: "coefficients",
    modules: &[COMMON, PROBLEM, wgsl!("coefficients.wgsl")],
    bindings: &[Sizes, Problem, Runs, PairValues, Rows],
};

pub(super) const UPDATE: KernelSpec = KernelSpec {
    name: "update",
    modules: &[COMMON, PROBLEM, wgsl!("update.wgsl")],
    bindings: &[
        Sizes, Problem, Runs, Schedule, Logits, Moments, Rows, PairValues,
    ],
};

pub(super) const ADVANCE: KernelSpec = KernelSpec {
    name: "advance",
    modules: &[COMMON, wgsl!("advance.wgsl")],
    bindings: &[Schedule],
};

pub(super) const METRIC_ROWS: KernelSpec = KernelSpec {
    name: "metric rows",
    modules: &[COMMON, PROBLEM, REDUCE, wgsl!("metric_rows.wgsl")],
    bindings: &[Sizes, Problem, Logits, MetricRows],
};

pub(super) const METRIC_PAIRS: KernelSpec = KernelSpec {
    name: "metric pairs",
    modules: &[COMMON, PROBLEM, REDUCE, wgsl!("metric_pairs.wgsl")],
    bindings: &[
        Sizes,
        Problem,
        Runs,
        PairConstants,
        Logits,
        MetricRows,
        MetricPartials,
        Margins,
    ],
};

pub(super) const METRIC_RUNS: KernelSpec = KernelSpec {
    name: "metric runs",
    modules: &[COMMON, REDUCE, wgsl!("metric_runs.wgsl")],
    bindings: &[Sizes, MetricPartials, MetricRows, Metrics],
};

/// Every kernel.
const KERNELS: [&KernelSpec; 8] = [
    &ROWS,
    &PAIRS,
    &COEFFICIENTS,
    &UPDATE,
    &ADVANCE,
    &METRIC_ROWS,
    &METRIC_PAIRS,
    &METRIC_RUNS,
];

/// The most storage buffers one kernel binds (the device must allow as many per stage).
pub(super) fn max_storage_bindings() -> u32 {
    KERNELS
        .iter()
        .map(|kernel| {
            kernel
                .bindings
                .iter()
                .filter(|binding| !binding.is_uniform())
                .count() as u32
        })
        .max()
        .unwrap_or(0)
}

/// A kernel as `tests/shader_layout.rs` checks it against the host.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct KernelInterface {
    /// The kernel's name (its pipeline's label).
    pub name: &'static str,
    /// The WGSL source exactly as the device compiles it.
    pub source: String,
    /// The WGSL names of the buffers the host binds to bindings 0, 1, ... of group 0.
    pub bindings: Vec<&'static str>,
}

/// Every kernel, as the device compiles and binds it.
#[doc(hidden)]
pub fn kernel_interfaces() -> Vec<KernelInterface> {
    KERNELS
        .iter()
        .map(|kernel| KernelInterface {
            name: kernel.name,
            source: kernel.source(),
            bindings: kernel
                .bindings
                .iter()
                .map(|binding| binding.name())
                .collect(),
        })
        .collect()
}

/// The compute pipeline of `kernel`.
fn compile(device: &wgpu::Device, kernel: &KernelSpec) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(kernel.name),
        source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
    });
    // `layout: None` derives the bind group layout from the shader, which names exactly the
    // bindings each kernel uses.
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.name),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// A command encoder holding one compute pass, which `encode` fills.
pub(super) fn encode_pass(
    device: &wgpu::Device,
    label: &str,
    encode: impl FnOnce(&mut wgpu::ComputePass<'_>),
) -> wgpu::CommandEncoder {
    let mut encoder =
        device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        });
        encode(&mut pass);
    }
    encoder
}

/// A compute pipeline and its one bind group.
pub(super) struct Kernel {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
}

impl Kernel {
    /// `pipeline` (compiled from `kernel`) with `kernel`'s bindings bound to the buffers that
    /// `buffer` gives for them.
    pub(super) fn bind<'a>(
        device: &wgpu::Device,
        kernel: &KernelSpec,
        pipeline: &wgpu::ComputePipeline,
        buffer: impl Fn(Binding) -> Option<&'a wgpu::Buffer>,
    ) -> Kernel {
        let entries: Vec<wgpu::BindGroupEntry> = kernel
            .bindings
            .iter()
            .enumerate()
            .map(|(index, &binding)| wgpu::BindGroupEntry {
                binding: index as u32,
                resource: buffer(binding)
                    .unwrap_or_else(|| {
                        panic!(
                            "kernel {} binds {}, which this set has no buffer for",
                            kernel.name,
                            binding.name()
                        )
                    })
                    .as_entire_binding(),
            })
            .collect();
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Kernel {
            pipeline: pipeline.clone(),
            bind_group,
        }
    }

    /// Compiles `kernel` and binds it (see [`Kernel::bind`]).
    pub(super) fn new<'a>(
        device: &wgpu::Device,
        kernel: &KernelSpec,
        buffer: impl Fn(Binding) -> Option<&'a wgpu::Buffer>,
    ) -> Kernel {
        Kernel::bind(device, kernel, &compile(device, kernel), buffer)
    }

    /// Dispatches `workgroups` workgroups, as a 2D grid past `max_per_dimension` (the kernels
    /// flatten the grid and skip the excess of the last row).
    pub(super) fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        workgroups: u32,
        max_per_dimension: u32,
    ) {
        if workgroups == 0 {
            return;
        }
        let columns = workgroups.min(max_per_dimension);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(columns, workgroups.div_ceil(columns), 1);
    }

    /// Dispatches one invocation per item of `items` (see [`Kernel::dispatch`]).
    pub(super) fn dispatch_per_item(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        items: u32,
        max_per_dimension: u32,
    ) {
        self.dispatch(pass, items.div_ceil(WORKGROUP), max_per_dimension);
    }
}

/// The training step's pipelines, compiled once per device and shared by every set built on it
/// (`GpuRunSet::rebuild` reuses them: compiling is the slow part of a start, in a browser most).
#[derive(Clone)]
pub(super) struct Pipelines {
    rows: wgpu::ComputePipeline,
    pairs: wgpu::ComputePipeline,
    coefficients: wgpu::ComputePipeline,
    update: wgpu::ComputePipeline,
    advance: wgpu::ComputePipeline,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Pipelines {
        Pipelines {
            rows: compile(device, &ROWS),
            pairs: compile(device, &PAIRS),
            coefficients: compile(device, &COEFFICIENTS),
            update: compile(device, &UPDATE),
            advance: compile(device, &ADVANCE),
        }
    }
}

/// Which passes a step runs, and how large each dispatch is.
pub(super) struct StepShape {
    /// (run, prompt) rows, (run, pair) pairs and (run, logit) logits of the whole set.
    pub rows: u32,
    pub pairs: u32,
    pub logits: u32,
    /// Whether any run needs the row pass (length normalisation or KL), the coefficient pass
    /// (length normalisation).
    pub needs_rows: bool,
    pub needs_coefficients: bool,
    pub max_workgroups_per_dimension: u32,
}

/// The training step's kernels, bound to one set's buffers.
pub(super) struct StepKernels {
    rows: Kernel,
    pairs: Kernel,
    coefficients: Kernel,
    update: Kernel,
    advance: Kernel,
}

impl StepKernels {
    /// `pipelines` bound to the buffers `buffer` gives.
    pub(super) fn new<'a>(
        device: &wgpu::Device,
        pipelines: &Pipelines,
        buffer: impl Fn(Binding) -> Option<&'a wgpu::Buffer> + Copy,
    ) -> StepKernels {
        StepKernels {
            rows: Kernel::bind(device, &ROWS, &pipelines.rows, buffer),
            pairs: Kernel::bind(device, &PAIRS, &pipelines.pairs, buffer),
            coefficients: Kernel::bind(device, &COEFFICIENTS, &pipelines.coefficients, buffer),
            update: Kernel::bind(device, &UPDATE, &pipelines.update, buffer),
            advance: Kernel::bind(device, &ADVANCE, &pipelines.advance, buffer),
        }
    }

    /// Encodes one training step: rows (one workgroup per row), pairs, coefficients, update
    /// (one invocation per item), and the step counter. Dispatches in a pass run in order, each
    /// seeing the storage writes of the ones before, so no pass boundaries are needed.
    pub(super) fn encode_step(&self, pass: &mut wgpu::ComputePass<'_>, shape: &StepShape) {
        let limit = shape.max_workgroups_per_dimension;
        if shape.needs_rows {
            self.rows.dispatch(pass, shape.rows, limit);
        }
        self.pairs.dispatch_per_item(pass, shape.pairs, limit);
        if shape.needs_coefficients {
            self.coefficients.dispatch_per_item(pass, shape.rows, limit);
        }
        self.update.dispatch_per_item(pass, shape.logits, limit);
        self.advance.dispatch(pass, 1, limit);
    }
}
