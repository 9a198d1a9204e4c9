//! The web glue: the only module that imports `wasm-bindgen`, `js-sys` and `web-sys`. It exposes
//! a [`Playground`] per mounted component (no globals), holding one scenario, its run set and the
//! recorded history, and draws the charts of [`crate::plot`] on canvases.

use crate::engine::options;
use crate::engine::{
    check_claims, predicted_table, Applied, ClaimCheck, History, InputError, Metrics,
    PredictedTable, RunConfig, RunSet,
};
mod canvas;
mod sweep;
mod webgpu;

use crate::plot::{self, Chart, Sources};
use crate::presets::PRESET_TITLES;

/// The default preset's text: the page's fallback, the one preset this module carries.
const DEFAULT_PRESET: &str = include_str!("../../presets/default.json");
use crate::scenario::budget::{Limits, Usage};
use crate::scenario::{
    init_to_value, optimizer_to_value, regularizer_to_value, run_to_value, Scenario,
};
use canvas::{CssCanvas, Surface};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

/// Records kept per run for the plots; older ones are thinned (see [`History`]).
const HISTORY_CAPACITY: usize = 600;

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap_or(JsValue::NULL)
}

/// An input error as a JavaScript exception: an `Error` named `InputError` whose `message` is the
/// message and whose `path` is the field path (`runs[0].beta`, empty for the whole input), so
/// the page puts the message at the control that holds the field without parsing text.
fn js_error(error: InputError) -> JsValue {
    let exception = js_sys::Error::new(&error.message);
    exception.set_name("InputError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&exception, &"path".into(), &error.path.into());
    exception.into()
}

#[derive(Serialize)]
struct PresetInfo {
    id: &'static str,
    title: &'static str,
}

/// Runs when the module is instantiated: a panic (a bug: bad input is an error, never a panic)
/// is written to the console with its message and place, not only as wasm's "unreachable".
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&JsValue::from_str(&format!(
            "dpo-playground: the engine panicked: {info}"
        )));
    }));
}

/// Every shipped preset: `[{id, title}]`. Their text is not in this module (it would be 7 KB of
/// every first load, for one preset): `cargo xtask build` copies the files to `www/pkg/presets/`,
/// and the page fetches the one it loads. The default's text is here (`defaultScenario`), for a
/// page that starts without a preset or must fall back.
#[wasm_bindgen]
pub fn presets() -> JsValue {
    let list: Vec<PresetInfo> = PRESET_TITLES
        .iter()
        .map(|&(id, title)| PresetInfo { id, title })
        .collect();
    to_js(&list)
}

/// The default scenario's text.
#[wasm_bindgen(js_name = defaultScenario)]
pub fn default_scenario() -> String {
    DEFAULT_PRESET.to_string()
}

/// One kind of a run option as the page's menus show it: its name in the format, its label, and
/// its value in the format with default parameters (what a menu switches a run to).
#[derive(Serialize)]
struct KindInfo {
    name: &'static str,
    label: &'static str,
    value: serde_json::Value,
}

fn kinds<T: Copy>(
    table: &'static [options::Kind<T>],
    to_value: impl Fn(T) -> serde_json::Value,
) -> Vec<KindInfo> {
    table
        .iter()
        .map(|kind| KindInfo {
            name: kind.name,
            label: kind.label,
            value: to_value(kind.default),
        })
        .collect()
}

/// The names the page's embedding options and exercises use, declared once in
/// `engine::exercise`: `{panels, hiddenUntilReveal, lockable}` (the parts `show`/`hide` name, those
/// an exercise keeps out of the page until its reveal, and what `lock` may name).
#[wasm_bindgen(js_name = embedNames)]
pub fn embed_names() -> JsValue {
    use crate::engine::exercise::{HIDDEN_UNTIL_REVEAL, LOCKABLE, PANELS};
    to_js(&serde_json::json!({
        "panels": PANELS,
        "hiddenUntilReveal": HIDDEN_UNTIL_REVEAL,
        "lockable": LOCKABLE,
    }))
}

/// The run options the page's editors offer, from the engine's one declaration of them
/// (`engine::options`): `{loss, init, optimizer, regularizer}`, each a list of
/// `{name, label, value}`, and `defaultRun`, the run "Add run" adds (in the format).
#[wasm_bindgen(js_name = runOptions)]
pub fn run_options() -> JsValue {
    let value = serde_json::json!({
        "loss": kinds(options::LOSSES, |loss| loss.name().into()),
        "init": kinds(options::INITS, init_to_value),
        "optimizer": kinds(options::OPTIMIZERS, optimizer_to_value),
        "regularizer": kinds(options::REGULARIZERS, regularizer_to_value),
        "defaultRun": run_to_value(&RunConfig::default()),
    });
    to_js(&value)
}

#[derive(Serialize)]
struct ErrorInfo {
    path: String,
    message: String,
}

/// Reads a scenario the page can hold: valid, and within the page's memory limit by the same
/// estimate the command line checks (`scenario::budget`), before any run is built.
fn page_scenario(text: &str) -> Result<Scenario, InputError> {
    Scenario::from_json_within(text, page_usage, &Limits::PAGE)
}

/// What the page keeps of a scenario: its history, margins included.
fn page_usage(scenario: &Scenario) -> Usage {
    Usage {
        steps: scenario.steps,
        records: HISTORY_CAPACITY as u64,
        margins: true,
        ..Usage::default()
    }
}

/// A scenario read in parts, so that no single call parses a whole large file: the page parses
/// the file's JSON itself, then hands the engine the scenario without its pairs (`new`), the
/// pairs a slice at a time (`addPairs`), yielding to the browser between slices, and the parts to
/// [`Playground::set_scenario_parts`], which checks the whole.
#[wasm_bindgen]
pub struct ScenarioParts {
    scenario: Scenario,
}

#[wasm_bindgen]
impl ScenarioParts {
    /// Reads every field of `header` (a scenario, usually with `"pairs": []`); throws an
    /// `InputError` (see [`js_error`]).
    #[wasm_bindgen(constructor)]
    pub fn new(header: &str) -> Result<ScenarioParts, JsValue> {
        Ok(ScenarioParts {
            scenario: Scenario::header_from_json(header).map_err(js_error)?,
        })
    }

    /// Appends the pairs of `text` (a JSON array); errors name them by their place in the
    /// whole list (`pairs[40012].chosen`), and leave the parts as they were.
    #[wasm_bindgen(js_name = addPairs)]
    pub fn add_pairs(&mut self, text: &str) -> Result<(), JsValue> {
        let first = self.scenario.pairs.len();
        self.scenario
            .append_pairs_json(text, first)
            .map_err(js_error)
    }

    /// The explicit pairs read so far.
    #[wasm_bindgen(getter, js_name = pairCount)]
    pub fn pair_count(&self) -> usize {
        self.scenario.pairs.len()
    }
}

/// [`page_scenario`] with the error as a JavaScript exception (see [`js_error`]).
fn read_scenario(text: &str) -> Result<Scenario, JsValue> {
    page_scenario(text).map_err(js_error)
}

/// The canonical form of scenario `text` (what `scenarioJson` would give for it); throws an
/// `InputError`. Share links use it to tell an edited preset's parts from the preset's own.
#[wasm_bindgen(js_name = canonicalScenario)]
pub fn canonical_scenario(text: &str) -> Result<String, JsValue> {
    Ok(Scenario::from_json(text)
        .map_err(js_error)?
        .to_json_pretty())
}

/// `null` when `text` is a valid scenario the page can hold, else `{path, message}`.
#[wasm_bindgen(js_name = validateScenario)]
pub fn validate_scenario(text: &str) -> JsValue {
    match page_scenario(text) {
        Ok(_) => JsValue::NULL,
        Err(error) => to_js(&ErrorInfo {
            path: error.path,
            message: error.message,
        }),
    }
}

/// One playground: a scenario, its runs and their history.
#[wasm_bindgen]
pub struct Playground {
    scenario: Scenario,
    /// The runs on the CPU: the whole training when the CPU trains, and the mirror of the last
    /// state read back when WebGPU trains (metrics, plots and the fallback all read it).
    set: RunSet,
    history: History,
    /// Every run's metrics at the current state, computed once per state: a frame's tables,
    /// charts and record all read them. Cleared whenever the runs change.
    metrics: std::cell::OnceCell<Vec<Metrics>>,
    gpu: webgpu::Slot,
}

#[derive(Serialize)]
struct ApplyResult {
    /// The runs that restarted (`applied.restarted` without the reasons).
    reset: Vec<usize>,
    /// Whether the data changed shape, so that every run restarted.
    reshaped: bool,
    /// Which runs kept their state, which restarted and why.
    applied: Applied,
}

#[derive(Serialize)]
struct OutputInfo<'a> {
    label: &'a str,
    length: f32,
}

#[derive(Serialize)]
struct PairInfo {
    prompt: usize,
    chosen: usize,
    rejected: usize,
    weight: f32,
    label: String,
}

#[derive(Serialize)]
struct RunInfo<'a> {
    name: &'a str,
    color: String,
    step: u64,
    metrics: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<Vec<Vec<f64>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    margins: Option<Vec<f32>>,
    predicted: PredictedTable,
}

/// The generated pairs a snapshot lists (the editor names the first few and counts the rest).
const GENERATED_SHOWN: usize = 40;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot<'a> {
    runs: Vec<RunInfo<'a>>,
    generated: Vec<PairInfo>,
    generated_count: usize,
    /// The argument's claims that apply to these runs, checked on them (`engine::claims`).
    claims: Vec<ClaimCheck>,
}

#[derive(Serialize)]
struct Details<'a> {
    outputs: Vec<OutputInfo<'a>>,
    prompts: &'a [String],
    reference: Vec<Vec<f64>>,
    pairs: Vec<PairInfo>,
    runs: Vec<RunInfo<'a>>,
}

fn pair_info(problem: &crate::engine::Problem, pair: &crate::engine::Pair) -> PairInfo {
    PairInfo {
        prompt: pair.prompt,
        chosen: pair.chosen,
        rejected: pair.rejected,
        weight: pair.weight,
        label: plot::pair_label(problem, pair),
    }
}

#[wasm_bindgen]
impl Playground {
    /// A playground for the scenario `text`; throws an `InputError` (see [`js_error`]) when it
    /// is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(text: &str) -> Result<Playground, JsValue> {
        let scenario = read_scenario(text)?;
        let set = scenario.run_set().map_err(js_error)?;
        let mut history = History::new(set.runs().len(), HISTORY_CAPACITY);
        history.record(&set);
        Ok(Playground {
            scenario,
            set,
            history,
            metrics: Default::default(),
            gpu: Default::default(),
        })
    }

    /// Applies an edited scenario, keeping each run's training state where the edit allows.
    /// Returns `{reset: [indices of runs that restarted], reshaped}`; throws (and changes nothing)
    /// when the scenario is invalid.
    #[wasm_bindgen(js_name = setScenario)]
    pub fn set_scenario(&mut self, text: &str) -> Result<JsValue, JsValue> {
        let scenario = read_scenario(text)?;
        self.apply_scenario(scenario)
    }

    /// [`Playground::set_scenario`] for a scenario read in parts (see [`ScenarioParts`]): checked
    /// against the page's limits as a whole, then applied. The parts are used up.
    #[wasm_bindgen(js_name = setScenarioParts)]
    pub fn set_scenario_parts(&mut self, parts: ScenarioParts) -> Result<JsValue, JsValue> {
        let scenario = parts.scenario;
        scenario
            .check_within(&page_usage(&scenario), &Limits::PAGE)
            .map_err(js_error)?;
        self.apply_scenario(scenario)
    }

    /// Replaces only the runs (`text`: the scenario's `runs` array): an edit of a run's settings
    /// costs the same whatever the size of the data. Returns and throws as `setScenario`.
    #[wasm_bindgen(js_name = setRuns)]
    pub fn set_runs(&mut self, text: &str) -> Result<JsValue, JsValue> {
        let runs = Scenario::runs_from_json(text).map_err(js_error)?;
        let scenario = Scenario {
            runs,
            ..self.scenario.clone()
        };
        crate::scenario::budget::Estimate::new(&scenario, &page_usage(&scenario))
            .check(&Limits::PAGE)
            .map_err(js_error)?;
        self.apply_scenario(scenario)
    }

    /// The scenario in canonical form without its explicit pairs (`"pairs": []`); with
    /// [`Playground::pair_array`], what the page builds its editors' state from.
    #[wasm_bindgen(js_name = headerJson)]
    pub fn header_json(&self) -> String {
        Scenario {
            pairs: Vec::new(),
            ..self.scenario.clone()
        }
        .to_json_pretty()
    }

    /// The explicit pairs as numbers, four per pair: prompt, chosen and rejected output (indices),
    /// weight.
    #[wasm_bindgen(js_name = pairArray)]
    pub fn pair_array(&self) -> Vec<f64> {
        self.scenario
            .pairs
            .iter()
            .flat_map(|p| {
                [
                    p.prompt as f64,
                    p.chosen as f64,
                    p.rejected as f64,
                    p.weight as f64,
                ]
            })
            .collect()
    }

    /// The pairs the scenario's `validation` holds out of training, by index among all its pairs
    /// (the explicit ones first, then the generated ones); none without `validation`.
    #[wasm_bindgen(js_name = heldOutPairs)]
    pub fn held_out_pairs(&self) -> Vec<u32> {
        self.scenario
            .held_out_pairs()
            .unwrap_or_default()
            .into_iter()
            .map(|i| i as u32)
            .collect()
    }

    /// The scenario in canonical form.
    #[wasm_bindgen(js_name = scenarioJson)]
    pub fn scenario_json(&self) -> String {
        self.scenario.to_json_pretty()
    }

    /// Marks a student's prediction for the scenario's exercise against the runs as they are now
    /// (`engine::exercise::mark`): `prediction_json` is `{"runs": [{"run": 0, "learns": ["rr"]}],
    /// "higher": 1}` (runs by index or name; a predicted run left out ticked no cell; `higher`
    /// only for an exercise with a `compare`). Returns `{available, reason?, runs: [{run, name,
    /// step, right, cells: [{cell, meaning, predicted, measured, answer, share, right}]},
    /// compare?: {metric, values: [{run, name, value}], measured, chosen, answer, right}, score,
    /// total, explanation?}`; `available: false` with a `reason` (and nothing marked) when a
    /// predicted run has not trained or was trained on WebGPU, which does not track the table
    /// summed over training. Throws an `InputError` (see [`js_error`]) for a bad prediction or a
    /// scenario without an exercise.
    #[wasm_bindgen(js_name = markExercise)]
    pub fn mark_exercise(&mut self, prediction_json: &str) -> Result<JsValue, JsValue> {
        self.take_landed_runs();
        let prediction = self
            .scenario
            .prediction_from_json(prediction_json)
            .map_err(js_error)?;
        let Some(exercise) = &self.scenario.exercise else {
            return Err(js_error(InputError::new(
                "exercise",
                "this scenario has no exercise",
            )));
        };
        let marking = crate::engine::exercise::mark(
            exercise,
            &self.scenario.runs,
            self.current_metrics(),
            &prediction,
        );
        Ok(to_js(&marking))
    }

    /// Trains every run `steps` steps on the CPU (switching from WebGPU to the CPU if it trained).
    pub fn step(&mut self, steps: u32) {
        self.take_landed_runs();
        self.use_cpu();
        self.gpu.mirror_changed();
        self.set.step(steps as u64);
        self.metrics.take();
    }

    /// Every run back to step 0; the history starts over.
    pub fn reset(&mut self) {
        self.take_landed_runs();
        self.set.reset();
        self.metrics.take();
        self.gpu.mirror_changed();
        self.history.clear();
        self.record_now();
    }

    /// Appends every run's current metrics and margins to the history.
    pub fn record(&mut self) {
        self.take_landed_runs();
        self.record_now();
    }

    /// The engine's estimate of one training step of every run on the CPU, in milliseconds
    /// (`scenario::budget`, calibrated on the native build; the page's automatic backend choice
    /// starts from it and then goes by measured step times).
    #[wasm_bindgen(js_name = estimateStepMs)]
    pub fn estimate_step_ms(&self) -> f64 {
        let usage = Usage::default();
        crate::scenario::budget::Estimate::new(&self.scenario, &usage).seconds_per_step * 1e3
    }

    /// The backend that trains: `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        if self.gpu.active() {
            return "webgpu".to_string();
        }
        "cpu".to_string()
    }

    /// What the page shows as text each frame, and nothing that grows with the data: per run its
    /// name, colour, step, metrics and predicted learning table, and the first generated pairs
    /// (`{runs, generated, generatedCount}`). See [`Playground::details`] for the rest.
    pub fn snapshot(&mut self) -> JsValue {
        self.take_landed_runs();
        let problem = self.set.problem();
        let explicit = self.scenario.pairs.len();
        let generated: Vec<PairInfo> = problem
            .pairs()
            .iter()
            .skip(explicit)
            .take(GENERATED_SHOWN)
            .map(|p| pair_info(problem, p))
            .collect();
        let runs = self.run_infos(false);
        to_js(&Snapshot {
            runs,
            generated,
            generated_count: problem.pairs().len().saturating_sub(explicit),
            claims: check_claims(&self.set, self.current_metrics()),
        })
    }

    /// Everything, for exports and tests: outputs, prompts, reference, every pair, and per run
    /// its metrics, policy, margins and predicted table. Its size grows with the scenario.
    pub fn details(&mut self) -> JsValue {
        self.take_landed_runs();
        let problem = self.set.problem();
        let k = problem.output_count();
        let outputs = problem
            .outputs()
            .iter()
            .map(|o| OutputInfo {
                label: &o.label,
                length: o.length,
            })
            .collect();
        let reference = problem
            .log_reference()
            .chunks(k)
            .map(|row| row.iter().map(|&l| (l as f64).exp()).collect())
            .collect();
        let pairs = problem
            .pairs()
            .iter()
            .map(|p| pair_info(problem, p))
            .collect();
        to_js(&Details {
            outputs,
            prompts: problem.prompts(),
            reference,
            pairs,
            runs: self.run_infos(true),
        })
    }

    /// Draws one panel per metric name (`loss`, `accuracy`, `kl`, `chosen_reward`, ...), a line per run.
    #[wasm_bindgen(js_name = drawCurves)]
    pub fn draw_curves(
        &self,
        canvas: HtmlCanvasElement,
        metrics: Vec<String>,
    ) -> Result<(), JsError> {
        self.on_canvas(canvas, &Chart::Curves(metrics))
    }

    /// Draws the reference and every run's policy for one prompt.
    #[wasm_bindgen(js_name = drawPolicy)]
    pub fn draw_policy(&self, canvas: HtmlCanvasElement, prompt: usize) -> Result<(), JsError> {
        self.on_canvas(canvas, &Chart::Policy(prompt))
    }

    /// Draws each pair's margin over the recorded steps for one run.
    #[wasm_bindgen(js_name = drawMargins)]
    pub fn draw_margins(&self, canvas: HtmlCanvasElement, run: usize) -> Result<(), JsError> {
        self.on_canvas(canvas, &Chart::Margins(run))
    }

    /// Draws one run's learning tables: now, and summed over training.
    #[wasm_bindgen(js_name = drawLearningTable)]
    pub fn draw_learning_table(
        &self,
        canvas: HtmlCanvasElement,
        run: usize,
    ) -> Result<(), JsError> {
        self.on_canvas(canvas, &Chart::LearningTables(run..run + 1))
    }

    /// One chart as SVG text: `kind` and `arg` as [`Chart::parse`] reads them (`curves` with
    /// comma-separated metrics, `policy` with a prompt, `margins` or `tables` with a run).
    pub fn svg(&self, kind: &str, width: u32, height: u32, arg: &str) -> Result<String, JsError> {
        let chart = Chart::parse(kind, arg).map_err(|e| JsError::new(&e))?;
        let mut text = String::new();
        {
            let area = Surface::Svg(SVGBackend::with_string(
                &mut text,
                (width.max(10), height.max(10)),
            ))
            .into_drawing_area();
            self.render(&area, &chart)?;
        }
        Ok(text)
    }

    /// The recorded metrics as CSV (the same columns as `dpo run --csv`).
    #[wasm_bindgen(js_name = metricsCsv)]
    pub fn metrics_csv(&self) -> String {
        crate::csv::history(&self.set, &self.history)
    }
}

impl Playground {
    /// Applies a valid scenario, keeping each run's training state where the change allows.
    fn apply_scenario(&mut self, scenario: Scenario) -> Result<JsValue, JsValue> {
        self.take_landed_runs();
        let same_data = scenario.same_data(&self.scenario);
        let problem = if same_data {
            None
        } else {
            Some(scenario.problem().map_err(js_error)?)
        };
        let applied = self.set.apply(problem, &scenario.runs).map_err(js_error)?;
        if applied.new_data {
            // Metrics and margins mean something else on new data: the plots start over.
            self.history.clear();
        }
        self.history.resize(self.set.runs().len());
        for &(run, _) in &applied.restarted {
            self.history.clear_run(run);
        }
        self.metrics.take();
        let changed = !same_data || scenario.runs != self.scenario.runs;
        self.scenario = scenario;
        if changed {
            self.gpu.mirror_changed();
        }
        if changed {
            self.record_now();
        }
        Ok(to_js(&ApplyResult {
            reset: applied.restarted_runs(),
            reshaped: applied.reshaped(),
            applied,
        }))
    }

    /// Takes in the state the last WebGPU step read back, if any.
    fn take_landed_runs(&mut self) {
        if let Some(states) = self.gpu.take_landed() {
            match self.set.restore_states(&states) {
                Ok(()) => {
                    self.metrics.take();
                }
                // Cannot happen while both modules come from one build; if it does, the device's
                // runs are not these runs, and the CPU trains on from its own state.
                Err(error) => {
                    self.gpu.fail(format!("the WebGPU module's state {error}"));
                }
            }
        }
    }

    /// Every run's metrics at the current state (computed once per state).
    fn current_metrics(&self) -> &[Metrics] {
        self.metrics.get_or_init(|| self.set.metrics())
    }

    /// Records the current metrics (and margins, for the charts) in the history.
    fn record_now(&mut self) {
        let metrics = self.current_metrics().to_vec();
        let margins = if self.history.record_margins {
            let problem = self.set.problem();
            self.set
                .runs()
                .iter()
                .map(|run| run.margins(problem))
                .collect()
        } else {
            Vec::new()
        };
        self.history.push(metrics, margins);
    }

    /// Per run: name, colour, step, metrics, predicted table; with `full`, policy and margins.
    fn run_infos(&self, full: bool) -> Vec<RunInfo<'_>> {
        let problem = self.set.problem();
        let k = problem.output_count();
        self.set
            .runs()
            .iter()
            .zip(self.current_metrics())
            .enumerate()
            .map(|(i, (run, metrics))| {
                let (r, g, b) = plot::PALETTE[i % plot::PALETTE.len()];
                RunInfo {
                    name: &run.config().name,
                    color: format!("#{r:02x}{g:02x}{b:02x}"),
                    step: run.steps(),
                    metrics: metrics.clone(),
                    policy: full
                        .then(|| run.policy(problem).chunks(k).map(<[f64]>::to_vec).collect()),
                    margins: full.then(|| run.margins(problem)),
                    predicted: predicted_table(run.config()),
                }
            })
            .collect()
    }

    /// The runs' names as the charts show them: a diverged run says so in every legend.
    fn names(&self) -> Vec<String> {
        self.set
            .runs()
            .iter()
            .zip(self.current_metrics())
            .map(|(run, metrics)| {
                let name = &run.config().name;
                match run.diverged_at() {
                    Some(step) => format!("{name} (diverged at step {step})"),
                    None if metrics.diverged => format!("{name} (diverged)"),
                    None => name.clone(),
                }
            })
            .collect()
    }

    /// Draws `chart` on `area` (the names in the legends say which runs diverged) and presents it.
    fn render(&self, area: &DrawingArea<Surface<'_>, Shift>, chart: &Chart) -> Result<(), JsError> {
        let names = self.names();
        let sources = Sources::new(&self.set, &self.history, self.current_metrics(), &names);
        plot::render(area, &sources, chart).map_err(|e| JsError::new(&e))?;
        area.present().map_err(|e| JsError::new(&format!("{e:?}")))
    }

    /// Draws `chart` on `canvas` in CSS pixels (see [`CssCanvas`]).
    fn on_canvas(&self, canvas: HtmlCanvasElement, chart: &Chart) -> Result<(), JsError> {
        let canvas =
            CssCanvas::new(canvas).ok_or_else(|| JsError::new("the canvas has no 2D context"))?;
        let area = Surface::Canvas(canvas).into_drawing_area();
        self.render(&area, chart)
    }
}
