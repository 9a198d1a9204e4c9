//! The page's Sweep panel: a scenario's sweep trained in slices (the page asks for a slice per
//! frame, sized by the time it measures, so the tab never freezes), its statistics, chart, CSV
//! and SVG. The same engine code as `dpo sweep`: `SweepTraining`, `csv::sweep`, `plot::sweep`.

use super::canvas::{CssCanvas, Surface};
use super::{js_error, to_js};
use crate::engine::sweep::{reported, Band, Sweep, SweepTraining, SWEEP_METRICS};
use crate::engine::{InputError, Run};
use crate::plot::sweep::{draw_frontier, draw_heatmap, draw_sweep, sweep_lines};
use crate::scenario::budget::{Limits, Usage};
use crate::scenario::sweep::{read_sweep, setting_json};
use crate::scenario::Scenario;
use plotters::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

/// The values of one sweep axis (its JSON: `{"field", "values"}` or `{"field", "from", "to",
/// "count", "scale"}`) as the engine spaces them (`Axis::points`: the ends as written, whole
/// numbers for an integer field): the Sweep panel's form shows a range axis as these. Throws an
/// `InputError` naming what is wrong, or that the axis is not numeric.
#[wasm_bindgen(js_name = sweepAxisValues)]
pub fn sweep_axis_values(axis: &str) -> Result<Vec<f64>, JsValue> {
    let axis: serde_json::Value = serde_json::from_str(axis)
        .map_err(|e| js_error(InputError::new("sweep.axes[0]", e.to_string())))?;
    let sweep = read_sweep(&serde_json::json!({ "axes": [axis] }), 1).map_err(js_error)?;
    sweep.axes[0]
        .points()
        .into_iter()
        .map(|point| {
            point.number().ok_or_else(|| {
                js_error(InputError::new(
                    "sweep.axes[0]",
                    "is not an axis of numbers",
                ))
            })
        })
        .collect()
}

/// Checkpoints per run over the sweep's steps.
const CHECKPOINTS: u64 = 50;

/// A sweep being trained in the page.
#[wasm_bindgen]
pub struct SweepSession {
    sweep: Sweep,
    training: SweepTraining,
    steps: u64,
    every: u64,
    done: u64,
    validation: bool,
}

#[wasm_bindgen]
impl SweepSession {
    /// Reads `text` (a scenario with a `sweep`), checks what the sweep would hold against the
    /// page's memory limit, and builds every run of the grid at step 0. Throws an `InputError`.
    #[wasm_bindgen(constructor)]
    pub fn new(text: &str) -> Result<SweepSession, JsValue> {
        let usage = |scenario: &Scenario| Usage {
            steps: scenario.steps,
            metric_records: CHECKPOINTS + 2,
            sweep: true,
            ..Usage::default()
        };
        let scenario = Scenario::from_json_within(text, usage, &Limits::PAGE).map_err(js_error)?;
        let sweep = scenario
            .sweep
            .clone()
            .ok_or_else(|| js_error(InputError::new("sweep", "the scenario has no sweep")))?;
        let (train, validation) = scenario.problems().map_err(js_error)?;
        let has_validation = validation.is_some();
        let mut training =
            SweepTraining::new(&sweep, &scenario.runs, train, validation).map_err(js_error)?;
        training.checkpoint();
        Ok(SweepSession {
            sweep,
            training,
            steps: scenario.steps,
            every: (scenario.steps / CHECKPOINTS).max(1),
            done: 0,
            validation: has_validation,
        })
    }

    /// Runs in the sweep.
    #[wasm_bindgen(getter)]
    pub fn runs(&self) -> usize {
        self.training.expanded.runs.len()
    }

    /// Steps each run trains in all.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> f64 {
        self.steps as f64
    }

    /// Steps between two checkpoints (the last interval may be shorter).
    #[wasm_bindgen(getter)]
    pub fn every(&self) -> f64 {
        self.every as f64
    }

    /// Steps trained so far.
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> f64 {
        self.done as f64
    }

    /// Trains every run up to `steps` more steps (never past the end), scoring them at each
    /// checkpoint it passes.
    pub fn advance(&mut self, steps: u32) {
        let target = (self.done + steps as u64).min(self.steps);
        while self.done < target {
            let n = self.slice(u32::MAX).min((target - self.done) as u32);
            self.training.step(n as u64);
            self.passed(n);
        }
    }

    /// How many steps the next slice trained elsewhere (on WebGPU) may take: up to `max`, never
    /// past the next checkpoint nor the end (0 when the sweep is done).
    pub fn slice(&self, max: u32) -> u32 {
        let next = ((self.done / self.every + 1) * self.every).min(self.steps);
        (next - self.done).min(max as u64) as u32
    }

    /// Every run's training state now, as bytes (`Run::encode_states`), for the WebGPU module.
    pub fn states(&self) -> Vec<u8> {
        Run::encode_states(self.training.set.runs())
    }

    /// Takes `steps` steps trained elsewhere (a slice no longer than [`SweepSession::slice`]
    /// allows): every run's state after them, read back from WebGPU, scored when they end at a
    /// checkpoint. Runs whose steps were taken elsewhere no longer track the learning table summed
    /// over training, so the signal shares drop out of [`SweepSession::metrics`]. Throws, changing
    /// nothing, when the state does not fit the runs or the slice is too long.
    pub fn land(&mut self, states: &[u8], steps: u32) -> Result<(), JsValue> {
        if steps == 0 || steps > self.slice(steps) {
            return Err(js_error(InputError::new(
                "steps",
                format!("a slice of {steps} steps does not end at or before the next checkpoint"),
            )));
        }
        self.training.set.restore_states(states).map_err(js_error)?;
        self.passed(steps);
        Ok(())
    }

    /// The metrics the statistics hold (those that apply to this scenario), and `"frontier"`
    /// (the reward–KL frontier, a chart of its own) when the scenario has a ground-truth reward.
    pub fn metrics(&self) -> Vec<String> {
        let mut names: Vec<String> = reported(&SWEEP_METRICS, &self.training.summaries())
            .into_iter()
            .map(String::from)
            .collect();
        if !self.training.frontier().checkpoints.is_empty() {
            names.push("frontier".to_string());
        }
        names
    }

    /// Whether pairs are held out (and so a best checkpoint is chosen).
    #[wasm_bindgen(getter)]
    pub fn validation(&self) -> bool {
        self.validation
    }

    /// Every setting's statistics now, as `dpo sweep --json` reports them (its `settings`):
    /// `[{template, label, point, runs, diverged, final: {metric: {count, mean, std, min,
    /// max}}, best?: {...}, best_step?: {...}}]` (`crate::scenario::sweep::setting_json`).
    pub fn summaries(&self) -> JsValue {
        let rows: Vec<serde_json::Value> = self
            .training
            .summaries()
            .iter()
            .map(|summary| setting_json(&self.sweep, summary))
            .collect();
        to_js(&rows)
    }

    /// The statistics as CSV (the columns of `dpo sweep --csv`).
    pub fn csv(&self) -> String {
        crate::csv::sweep(&self.sweep, &self.training.summaries())
    }

    /// `metric` against the first numeric axis on `canvas` (in CSS pixels), with `band`
    /// (`min-max`, `p10-p90` or `iqr`) over the replicates, or with `heat` as a
    /// heat map over a sweep's two axes; `"frontier"`: the reward–KL frontier.
    #[wasm_bindgen(js_name = drawChart)]
    pub fn draw_chart(
        &self,
        canvas: HtmlCanvasElement,
        metric: &str,
        best: bool,
        heat: bool,
        band: &str,
    ) -> Result<(), JsError> {
        let canvas =
            CssCanvas::new(canvas).ok_or_else(|| JsError::new("the canvas has no 2D context"))?;
        let area = Surface::Canvas(canvas).into_drawing_area();
        self.draw(&area, metric, best, heat, band)
    }

    /// The same chart as SVG text.
    pub fn svg(
        &self,
        metric: &str,
        best: bool,
        heat: bool,
        band: &str,
        width: u32,
        height: u32,
    ) -> Result<String, JsError> {
        let mut text = String::new();
        {
            let area = Surface::Svg(SVGBackend::with_string(
                &mut text,
                (width.max(10), height.max(10)),
            ))
            .into_drawing_area();
            self.draw(&area, metric, best, heat, band)?;
        }
        Ok(text)
    }
}

impl SweepSession {
    /// Counts `steps` trained, and scores every run when they end at a checkpoint.
    fn passed(&mut self, steps: u32) {
        self.done += steps as u64;
        if self.done.is_multiple_of(self.every) || self.done == self.steps {
            self.training.checkpoint();
        }
    }

    fn draw(
        &self,
        area: &DrawingArea<Surface<'_>, plotters::coord::Shift>,
        metric: &str,
        best: bool,
        heat: bool,
        band: &str,
    ) -> Result<(), JsError> {
        let band = Band::named(band).ok_or_else(|| {
            JsError::new(&format!(
                "unknown band \"{band}\" (min-max, p10-p90 or iqr)"
            ))
        })?;
        if heat && metric != "frontier" {
            draw_heatmap(area, metric, &self.sweep, &self.training.summaries(), best)
                .map_err(|e| JsError::new(&e))?;
            return area.present().map_err(|e| JsError::new(&format!("{e:?}")));
        }
        if metric == "frontier" {
            draw_frontier(
                area,
                self.training.frontier(),
                &self.sweep,
                &self.training.expanded.settings,
            )
            .map_err(|e| JsError::new(&e))?;
            return area.present().map_err(|e| JsError::new(&format!("{e:?}")));
        }
        let summaries = self.training.summaries();
        let (a, log, lines) = sweep_lines(&self.sweep, &summaries, metric, best)
            .ok_or_else(|| JsError::new("the sweep has no numeric axis to draw against"))?;
        draw_sweep(
            area,
            metric,
            self.sweep.axes[a].field.name(),
            &lines,
            log,
            band,
        )
        .map_err(|e| JsError::new(&e))?;
        area.present().map_err(|e| JsError::new(&format!("{e:?}")))
    }
}
