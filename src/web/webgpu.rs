//! The WebGPU backend in the page. A step's readback is awaited after the call that started it
//! has returned (JavaScript gets a promise and the main thread never blocks), so the device's
//! runs live in a [`Slot`] shared between the `Playground` and the futures of its steps, as one
//! explicit [`Device`] state; the state read back lands in the slot for the next call.

use super::{to_js, Playground};
use crate::engine::{Problem, Run};
use crate::gpu::GpuRunSet;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Where WebGPU stands. `built_from` is the mirror generation (see [`State::generation`]) the
/// device's runs were built from or last caught up with.
#[derive(Default)]
pub enum Device {
    /// WebGPU does not train: never started, switched off, or starting (`useGpu` pending).
    #[default]
    Off,
    /// The device holds the runs, ready for a step.
    Ready {
        runs: Box<GpuRunSet>,
        built_from: u64,
    },
    /// A step is in flight: its future owns the runs and puts them back when it lands.
    InFlight { built_from: u64 },
    /// The device failed (lost, out of memory, a rebuild refused); the CPU trains on.
    Failed { reason: String },
}

/// The slot's state: the device, and what the CPU mirror knows of it.
#[derive(Default)]
pub struct State {
    pub device: Device,
    /// Counts the changes of the CPU mirror's state made outside the device (edits, resets,
    /// CPU steps); a state read back from the device does not count.
    pub generation: u64,
    /// Runs read back by the last step, not yet taken in by the CPU mirror.
    pub landed: Option<Vec<Run>>,
}

/// Shared between the `Playground` and the futures of its steps.
#[derive(Default, Clone)]
pub struct Slot(Rc<RefCell<State>>);

impl Slot {
    /// The runs the last step read back, once.
    pub fn take_landed(&self) -> Option<Vec<Run>> {
        self.0.borrow_mut().landed.take()
    }

    /// Whether WebGPU trains (a step may be in flight).
    pub fn active(&self) -> bool {
        matches!(
            self.0.borrow().device,
            Device::Ready { .. } | Device::InFlight { .. }
        )
    }

    /// After an edit, a reset or CPU steps: the CPU mirror has the new state now, and the device
    /// takes it at its next step (a step in flight is discarded when it lands; a device still
    /// starting rebuilds at its first step).
    pub fn mirror_changed(&self) {
        let mut state = self.0.borrow_mut();
        state.generation += 1;
        state.landed = None;
    }

    /// WebGPU off; the CPU continues from the last state read back.
    pub fn switch_off(&self) {
        self.0.borrow_mut().device = Device::Off;
    }

    /// Marks the device failed.
    fn fail(&self, reason: String) -> JsValue {
        let error = JsError::new(&reason).into();
        self.0.borrow_mut().device = Device::Failed { reason };
        error
    }

    /// Takes the runs for a step: the device's runs, and the mirror to rebuild them from when it
    /// changed since they were built. The slot is `InFlight` afterwards.
    fn start_step(&self, mirror: impl FnOnce() -> (Problem, Vec<Run>)) -> Result<Step, JsValue> {
        let mut state = self.0.borrow_mut();
        let generation = state.generation;
        match std::mem::replace(
            &mut state.device,
            Device::InFlight {
                built_from: generation,
            },
        ) {
            Device::Ready { runs, built_from } => Ok(Step {
                runs: *runs,
                rebuild: (built_from != generation).then(mirror),
                generation,
            }),
            other => {
                let message = match &other {
                    Device::InFlight { .. } => "a WebGPU step is already in flight",
                    _ => "WebGPU is not training",
                };
                state.device = other;
                Err(JsError::new(message).into())
            }
        }
    }

    /// A step has landed: its state is the mirror's next unless the mirror changed meanwhile, and
    /// the runs go back to the slot unless WebGPU was switched off or restarted meanwhile.
    fn land(&self, runs: GpuRunSet, read: Vec<Run>, generation: u64) {
        let mut state = self.0.borrow_mut();
        if state.generation == generation {
            state.landed = Some(read);
        }
        if let Device::InFlight { built_from } = state.device {
            state.device = Device::Ready {
                runs: Box::new(runs),
                built_from,
            };
        }
    }
}

/// What a step takes out of the slot.
struct Step {
    runs: GpuRunSet,
    rebuild: Option<(Problem, Vec<Run>)>,
    generation: u64,
}

#[derive(Serialize)]
struct GpuStart {
    ok: bool,
    adapter: String,
    reason: String,
}

#[wasm_bindgen]
impl Playground {
    /// Starts training on WebGPU: resolves to `{ok, adapter, reason}`. On success every run
    /// continues on the device from where it is (logits, optimiser state, step count, minibatch
    /// order); on failure nothing changes and `reason` says why.
    #[wasm_bindgen(js_name = useGpu)]
    pub fn use_gpu(&mut self) -> js_sys::Promise {
        self.take_landed_runs();
        let problem = self.set.problem().clone();
        let runs = self.set.runs().to_vec();
        let slot = self.gpu.clone();
        let generation = slot.0.borrow().generation;
        wasm_bindgen_futures::future_to_promise(async move {
            let result = match GpuRunSet::from_runs(&problem, &runs).await {
                Ok(runs) => {
                    let adapter = runs.adapter_name();
                    let mut state = slot.0.borrow_mut();
                    // If the CPU trained or the user edited while the device started, the first
                    // step rebuilds from the mirror as it is then.
                    state.device = Device::Ready {
                        runs: Box::new(runs),
                        built_from: generation,
                    };
                    state.landed = None;
                    GpuStart {
                        ok: true,
                        adapter,
                        reason: String::new(),
                    }
                }
                Err(error) => GpuStart {
                    ok: false,
                    adapter: String::new(),
                    reason: error.to_string(),
                },
            };
            Ok(to_js(&result))
        })
    }

    /// Trains every run `steps` steps on WebGPU and reads the state back, without blocking:
    /// resolves when the state has landed (the next `record` or `snapshot` shows it), rejects
    /// when the device fails, after which the CPU continues from the last state read back.
    #[wasm_bindgen(js_name = stepAsync)]
    pub fn step_async(&mut self, steps: u32) -> js_sys::Promise {
        self.take_landed_runs();
        let slot = self.gpu.clone();
        // Everything is taken now, synchronously: the future owns what it works on.
        let step = match slot.start_step(|| (self.set.problem().clone(), self.set.runs().to_vec()))
        {
            Ok(step) => step,
            Err(error) => return js_sys::Promise::reject(&error),
        };
        wasm_bindgen_futures::future_to_promise(async move {
            let Step {
                mut runs,
                rebuild,
                generation,
            } = step;
            if let Some((problem, mirror)) = rebuild {
                runs = runs
                    .rebuild(&problem, &mirror)
                    .map_err(|error| slot.fail(error.to_string()))?;
            }
            runs.step(steps);
            let read = runs
                .read_runs()
                .await
                .map_err(|error| slot.fail(error.to_string()))?;
            slot.land(runs, read, generation);
            Ok(JsValue::TRUE)
        })
    }

    /// Why WebGPU stopped training, when the device failed (`undefined` otherwise); the step's
    /// promise was rejected with the same reason.
    #[wasm_bindgen(getter, js_name = gpuFailure)]
    pub fn gpu_failure(&self) -> Option<String> {
        match &self.gpu.0.borrow().device {
            Device::Failed { reason } => Some(reason.clone()),
            _ => None,
        }
    }

    /// Stops training on WebGPU; the CPU continues from the last state read back.
    #[wasm_bindgen(js_name = useCpu)]
    pub fn use_cpu(&mut self) {
        self.take_landed_runs();
        self.gpu.switch_off();
    }
}
