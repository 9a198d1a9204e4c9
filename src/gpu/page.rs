//! The page's WebGPU module (`www/pkg/dpo_gpu.js`): this crate built for wasm32 with feature
//! `gpu` exports only [`GpuTrainer`], and the page loads it only when WebGPU trains, so a page
//! that trains on the CPU never downloads `wgpu` and the kernels (ARCHITECTURE.md, "Two wasm
//! modules"). The CPU module (`dpo_playground.js`) keeps the runs, their history and the charts;
//! it hands the runs here as the scenario's canonical text and their training state as bytes
//! ([`Run::encode_states`]), and takes the state read back after each call to
//! [`GpuTrainer::train`] in the same bytes.

use crate::engine::{InputError, Problem, Run};
use crate::gpu::GpuRunSet;
use crate::scenario::Scenario;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated: a panic (a bug) is written to the console with its
/// message and place, not only as wasm's "unreachable".
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&JsValue::from_str(&format!(
            "dpo-playground (WebGPU module): the engine panicked: {info}"
        )));
    }));
}

/// The problem and the runs of `scenario` (canonical text), each continuing from its state in
/// `states`: the scenario's runs, or with `sweep` every run of its sweep
/// ([`Scenario::sweep_run_set`]).
fn runs_of(scenario: &str, states: &[u8], sweep: bool) -> Result<(Problem, Vec<Run>), InputError> {
    let scenario = Scenario::from_json(scenario)?;
    let set = if sweep {
        scenario.sweep_run_set()?
    } else {
        scenario.run_set()?
    };
    let problem = set.problem().clone();
    let mut runs = set.runs().to_vec();
    Run::restore_states(&mut runs, states)?;
    Ok((problem, runs))
}

/// Every run of a playground on the WebGPU device. The device's runs are shared with the future
/// of the step in flight, which takes them out and puts them back when its readback lands.
#[wasm_bindgen]
pub struct GpuTrainer {
    runs: Rc<RefCell<Option<GpuRunSet>>>,
    adapter: String,
    /// Whether the runs are a sweep's ([`GpuTrainer::open_sweep`]).
    sweep: bool,
}

impl GpuTrainer {
    async fn start(scenario: &str, states: &[u8], sweep: bool) -> Result<GpuTrainer, JsError> {
        let (problem, runs) =
            runs_of(scenario, states, sweep).map_err(|error| JsError::new(&error.to_string()))?;
        let runs = GpuRunSet::from_runs(&problem, &runs)
            .await
            .map_err(|error| JsError::new(&error.to_string()))?;
        Ok(GpuTrainer {
            adapter: runs.adapter_name(),
            runs: Rc::new(RefCell::new(Some(runs))),
            sweep,
        })
    }
}

#[wasm_bindgen]
impl GpuTrainer {
    /// Opens the device and uploads the runs of `scenario` (canonical scenario text) from their
    /// `states`; rejects with the reason when there is no adapter, the runs do not fit the
    /// device, or the state does not fit the scenario.
    pub async fn open(scenario: String, states: Vec<u8>) -> Result<GpuTrainer, JsError> {
        GpuTrainer::start(&scenario, &states, false).await
    }

    /// As [`GpuTrainer::open`], for every run of the sweep of `scenario` (a scenario with a
    /// `sweep`), on its training pairs: the page's Sweep panel, whose runs are those of
    /// `SweepSession` (the CPU module scores them at each checkpoint from the state read back).
    #[wasm_bindgen(js_name = openSweep)]
    pub async fn open_sweep(scenario: String, states: Vec<u8>) -> Result<GpuTrainer, JsError> {
        GpuTrainer::start(&scenario, &states, true).await
    }

    /// The adapter's name (or its kind, where the browser hides the name).
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> String {
        self.adapter.clone()
    }

    /// Trains every run `steps` steps and resolves to their state read back (the bytes of
    /// [`Run::encode_states`]). With `scenario` and `states`, first rebuilds the runs from them on
    /// the same device (after an edit, a reset or CPU steps). Rejects when the device failed or
    /// a step is already in flight.
    pub fn train(
        &self,
        steps: u32,
        scenario: Option<String>,
        states: Option<Vec<u8>>,
    ) -> js_sys::Promise {
        let shared = self.runs.clone();
        let sweep = self.sweep;
        let Some(mut runs) = shared.borrow_mut().take() else {
            return js_sys::Promise::reject(
                &JsError::new("a WebGPU step is already in flight").into(),
            );
        };
        wasm_bindgen_futures::future_to_promise(async move {
            let failed = |message: String| JsValue::from(JsError::new(&message));
            if let (Some(scenario), Some(states)) = (scenario, states) {
                let (problem, mirror) = runs_of(&scenario, &states, sweep)
                    .map_err(|error| failed(error.to_string()))?;
                runs = runs
                    .rebuild(&problem, &mirror)
                    .map_err(|error| failed(error.to_string()))?;
            }
            runs.step(steps);
            let read = runs
                .read_runs()
                .await
                .map_err(|error| failed(error.to_string()))?;
            *shared.borrow_mut() = Some(runs);
            Ok(js_sys::Uint8Array::from(Run::encode_states(&read).as_slice()).into())
        })
    }
}
