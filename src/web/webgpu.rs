//! WebGPU from the page's CPU module. The kernels live in the other wasm module (`dpo_gpu`,
//! [`crate::gpu::page`]), which the page loads only when WebGPU is chosen; this side keeps the
//! runs (the mirror that metrics, charts and the fallback read) and drives a `GpuTrainer` of that
//! module through JavaScript. The runs cross as the scenario's canonical text and their states'
//! bytes ([`Run::encode_states`]); a step's readback is awaited after the call that started it has
//! returned (JavaScript gets a promise and the main thread never blocks), so the trainer lives in
//! a [`Slot`] shared between the `Playground` and the futures of its steps, as one explicit
//! [`Device`] state; the state read back lands in the slot for the next call.

use super::{to_js, Playground};
use crate::engine::Run;
use crate::scenario::Scenario;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The WebGPU module's `GpuTrainer` ([`crate::gpu::page::GpuTrainer`]), as a JavaScript object.
    pub type GpuTrainer;
    #[wasm_bindgen(method, getter)]
    fn adapter(this: &GpuTrainer) -> String;
    /// `train(steps, scenario?, states?)`: a promise of the states read back (`Uint8Array`).
    #[wasm_bindgen(method)]
    fn train(
        this: &GpuTrainer,
        steps: u32,
        scenario: &JsValue,
        states: &JsValue,
    ) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    fn free(this: &GpuTrainer);
}

/// A trainer this side owns: the other module's device, buffers and runs are freed with it.
pub struct Trainer(GpuTrainer);

impl Drop for Trainer {
    fn drop(&mut self) {
        // A step in flight keeps its runs until it lands; freeing the object is safe meanwhile.
        self.0.free();
    }
}

/// Where WebGPU stands. `built_from` is the mirror generation (see [`State::generation`]) the
/// device's runs were built from or last caught up with.
#[derive(Default)]
pub enum Device {
    /// WebGPU does not train: never started, switched off, or starting (`useGpu` pending).
    #[default]
    Off,
    /// The device holds the runs, ready for a step.
    Ready { trainer: Trainer, built_from: u64 },
    /// A step is in flight; the trainer is ready again when it lands.
    InFlight { trainer: Trainer, built_from: u64 },
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
    /// The states read back by the last step ([`Run::encode_states`]), not yet taken in by the
    /// CPU mirror.
    pub landed: Option<Vec<u8>>,
}

/// Shared between the `Playground` and the futures of its steps.
#[derive(Default, Clone)]
pub struct Slot(Rc<RefCell<State>>);

impl Slot {
    /// The states the last step read back, once.
    pub fn take_landed(&self) -> Option<Vec<u8>> {
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

    /// Marks the device failed (the trainer is freed); the CPU trains on.
    pub fn fail(&self, reason: String) -> JsValue {
        let error = JsError::new(&reason).into();
        self.0.borrow_mut().device = Device::Failed { reason };
        error
    }

    /// A step has landed: its state is the mirror's next unless the mirror changed meanwhile, and
    /// the trainer is ready again unless WebGPU was switched off or restarted meanwhile.
    fn land(&self, read: Vec<u8>, generation: u64) {
        let mut state = self.0.borrow_mut();
        if state.generation == generation {
            state.landed = Some(read);
        }
        state.device = match std::mem::take(&mut state.device) {
            Device::InFlight {
                trainer,
                built_from,
            } => Device::Ready {
                trainer,
                built_from,
            },
            other => other,
        };
    }
}

/// The message of a rejection from JavaScript (an `Error`'s message, or the value as text).
fn reason_of(error: &JsValue) -> String {
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => error
            .as_string()
            .unwrap_or_else(|| "the WebGPU module failed".to_string()),
    }
}

#[derive(Serialize)]
struct GpuStart {
    ok: bool,
    adapter: String,
    reason: String,
}

impl Playground {
    /// The runs as the WebGPU module takes them: the scenario's text, checked to read back to
    /// exactly this scenario (the same reader runs in both modules, so the two sides then train
    /// the same runs on the same data), and the runs' states as a `Uint8Array`.
    fn handoff(&self) -> Result<(JsValue, JsValue), String> {
        let text = self.scenario.to_json_pretty();
        match Scenario::from_json(&text) {
            Ok(read) if read == self.scenario => Ok((
                text.into(),
                js_sys::Uint8Array::from(Run::encode_states(self.set.runs()).as_slice()).into(),
            )),
            _ => Err(
                "this scenario does not read back exactly from its text, so the WebGPU \
                      module could not train the same runs; the CPU trains on"
                    .to_string(),
            ),
        }
    }
}

#[wasm_bindgen]
impl Playground {
    /// Starts training on WebGPU: `open(scenario, states)` is the WebGPU module's
    /// `GpuTrainer.open` (the page loads that module first). Resolves to `{ok, adapter, reason}`.
    /// On success every run continues on the device from where it is (logits, optimiser state,
    /// step count, minibatch order); on failure nothing changes and `reason` says why.
    #[wasm_bindgen(js_name = useGpu)]
    pub fn use_gpu(&mut self, open: &js_sys::Function) -> js_sys::Promise {
        self.take_landed_runs();
        let slot = self.gpu.clone();
        let generation = slot.0.borrow().generation;
        let opened = self.handoff().and_then(|(text, states)| {
            open.call2(&JsValue::NULL, &text, &states)
                .map(|promise| JsFuture::from(js_sys::Promise::resolve(&promise)))
                .map_err(|error| reason_of(&error))
        });
        wasm_bindgen_futures::future_to_promise(async move {
            let result = match opened {
                Ok(opening) => opening.await.map_err(|error| reason_of(&error)),
                Err(reason) => Err(reason),
            };
            let start = match result {
                Ok(trainer) => {
                    let trainer = Trainer(trainer.unchecked_into());
                    let adapter = trainer.0.adapter();
                    let mut state = slot.0.borrow_mut();
                    // If the CPU trained or the user edited while the device started, the first
                    // step rebuilds from the mirror as it is then.
                    state.device = Device::Ready {
                        trainer,
                        built_from: generation,
                    };
                    state.landed = None;
                    GpuStart {
                        ok: true,
                        adapter,
                        reason: String::new(),
                    }
                }
                Err(reason) => GpuStart {
                    ok: false,
                    adapter: String::new(),
                    reason,
                },
            };
            Ok(to_js(&start))
        })
    }

    /// Trains every run `steps` steps on WebGPU and reads the state back, without blocking:
    /// resolves when the state has landed (the next `record` or `snapshot` shows it), rejects
    /// when the device fails, after which the CPU continues from the last state read back.
    #[wasm_bindgen(js_name = stepAsync)]
    pub fn step_async(&mut self, steps: u32) -> js_sys::Promise {
        self.take_landed_runs();
        let slot = self.gpu.clone();
        let mut state = slot.0.borrow_mut();
        let generation = state.generation;
        let (trainer, built_from) = match std::mem::take(&mut state.device) {
            Device::Ready {
                trainer,
                built_from,
            } => (trainer, built_from),
            other => {
                let message = match &other {
                    Device::InFlight { .. } => "a WebGPU step is already in flight",
                    _ => "WebGPU is not training",
                };
                state.device = other;
                return js_sys::Promise::reject(&JsError::new(message).into());
            }
        };
        // The mirror changed since the device's runs were built: they are rebuilt from it first.
        let (scenario, states) = if built_from == generation {
            (JsValue::UNDEFINED, JsValue::UNDEFINED)
        } else {
            match self.handoff() {
                Ok(handoff) => handoff,
                Err(reason) => {
                    drop(state);
                    return js_sys::Promise::reject(&slot.fail(reason));
                }
            }
        };
        let step = JsFuture::from(trainer.0.train(steps, &scenario, &states));
        state.device = Device::InFlight {
            trainer,
            built_from: generation,
        };
        drop(state);
        wasm_bindgen_futures::future_to_promise(async move {
            let read = step.await.map_err(|error| slot.fail(reason_of(&error)))?;
            slot.land(js_sys::Uint8Array::new(&read).to_vec(), generation);
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
