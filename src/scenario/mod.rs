//! The scenario file of SPEC section 8: one JSON format for the engine, the command line, the
//! presets, the URL and the page. Reading validates everything and names the path of any bad
//! field; writing gives the canonical form, which reads back to the same scenario.

pub mod budget;
mod reader;
pub mod sweep;

use crate::engine::error::join_path;
use crate::engine::exercise::{
    quoted_list, Cells, Compare, CompareMetric, Exercise, PredictRun, StudentPrediction, CELLS,
    COMPARE_METRICS, LOCKABLE, PANELS,
};
use crate::engine::options::{
    expected_names, named, Kind, INITS, LOSSES, OPTIMIZERS, REGULARIZERS,
};
use crate::engine::problem::check_labels;
use crate::engine::rng::{stream, SplitMix64};
use crate::engine::sweep::{Sweep, Validation};
use crate::engine::{
    Generation, Init, InputError, LossKind, Optimizer, Output, Pair, PairSampling, Problem,
    Regularizer, RunConfig, RunSet,
};
use reader::{array, expected, integer, number, object, string, ObjectReader};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Steps trained when a scenario does not say.
pub const DEFAULT_STEPS: u64 = 200;

/// The most logits (prompts x outputs) a scenario may describe, per run. With the runs and the
/// pairs, what a scenario needs in all is estimated and checked by [`budget::Estimate`].
pub const MAX_LOGITS: usize = 1 << 24;

/// The most pairs a scenario may hold in all, explicit and generated (a step's cost and the
/// memory of every run grow with the pairs); checked before any pair is generated.
pub const MAX_PAIRS: usize = 1 << 22;

/// The most runs a scenario may have.
pub const MAX_RUNS: usize = 1 << 16;

/// The largest scenario file read, in bytes (a file's parsed form takes several times its size).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// A whole scenario: the data, the runs and how long to train.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// A short title (presets have one).
    pub title: Option<String>,
    /// A paragraph saying what to look at (presets have one).
    pub description: Option<String>,
    /// Prompt labels.
    pub prompts: Vec<String>,
    /// The output set.
    pub outputs: Vec<Output>,
    /// Positive reference weights per prompt, as given (the engine normalises them).
    pub reference: Vec<Vec<f64>>,
    /// The explicit pairs, with indices resolved.
    pub pairs: Vec<Pair>,
    /// Ground-truth reward per prompt and output.
    pub reward: Option<Vec<Vec<f64>>>,
    /// Bradley-Terry generation of further pairs from `reward`.
    pub generate: Option<Generation>,
    /// Steps to train.
    pub steps: u64,
    /// The runs.
    pub runs: Vec<RunConfig>,
    /// A classroom exercise about the runs: a question, the answer, what the page hides and locks.
    pub exercise: Option<Exercise>,
    /// A grid of settings and seeds over the runs as templates (`dpo sweep`; the page trains the
    /// templates).
    pub sweep: Option<Sweep>,
    /// Pairs held out of training and scored beside it.
    pub validation: Option<Validation>,
    /// The explicit pairs marked `"split": "validation"`, by index, ascending: held out of
    /// training as `validation` holds pairs out (the two cannot be combined).
    pub validation_pairs: Vec<usize>,
}

/// The three runs the playground compares by default: DPO (`gamma = beta`), the hinge, and
/// `gamma = 0`.
pub fn default_runs() -> Vec<RunConfig> {
    let dpo = RunConfig::default();
    vec![
        dpo.clone(),
        RunConfig {
            name: "hinge".into(),
            loss: LossKind::Hinge,
            init: Init::Uniform,
            ..dpo.clone()
        },
        RunConfig {
            name: "gamma = 0".into(),
            gamma: 0.0,
            ..dpo
        },
    ]
}

impl Scenario {
    /// Reads a scenario from JSON text. Syntax errors give the line and column; every other
    /// error names the field path.
    pub fn from_json(text: &str) -> Result<Scenario, InputError> {
        let scenario = Scenario::fields_from_json(text)?;
        scenario.check_data()?;
        Ok(scenario)
    }

    /// Reads a scenario for a command with a memory limit: every field is read and validated,
    /// then `usage(&scenario)`'s [`budget::Estimate`] is checked against `limits`, and only then
    /// is the shared data built (which allocates in proportion to the logits and the pairs), so a
    /// small file that asks for too much is refused before anything large is allocated.
    pub fn from_json_within(
        text: &str,
        usage: impl FnOnce(&Scenario) -> budget::Usage,
        limits: &budget::Limits,
    ) -> Result<Scenario, InputError> {
        let scenario = Scenario::fields_from_json(text)?;
        budget::Estimate::new(&scenario, &usage(&scenario)).check(limits)?;
        scenario.check_data()?;
        Ok(scenario)
    }

    /// The start of a scenario whose explicit pairs arrive in parts (the page imports a large
    /// file a part per task, so that no single task parses megabytes): every field of `text`
    /// is read and validated, as [`Scenario::from_json`] reads it, except that the data is not
    /// built (it may have no pairs yet). Add the pairs with [`Scenario::append_pairs_json`], then
    /// check the whole with [`Scenario::check_within`].
    pub fn header_from_json(text: &str) -> Result<Scenario, InputError> {
        Scenario::fields_from_json(text)
    }

    /// Appends the explicit pairs in `text`, a JSON array in the format's form (labels or
    /// indices, optional prompt and weight). Error paths number them from `first`
    /// (`pairs[first + i].chosen`); the cap on pairs counts those already held. On an error
    /// nothing is appended.
    pub fn append_pairs_json(&mut self, text: &str, first: usize) -> Result<(), InputError> {
        let value = reader::parse(text.strip_prefix('\u{feff}').unwrap_or(text))?;
        let items = array("pairs", &value)?;
        at_most(
            "pairs",
            self.pairs.len().saturating_add(items.len()),
            MAX_PAIRS,
        )?;
        let labels = Labels::new(&self.prompts, &self.outputs);
        let (pairs, marked) = read_pairs(items, first, &labels)?;
        if let Some(&i) = marked.first() {
            both_validations(self.validation.as_ref(), first + i)?;
        }
        let start = self.pairs.len();
        self.validation_pairs
            .extend(marked.into_iter().map(|i| start + i));
        self.pairs.extend(pairs);
        Ok(())
    }

    /// Checks a scenario assembled in parts as [`Scenario::from_json_within`] checks one read
    /// whole: the pairs (generated ones counted) against the cap, the estimate against
    /// `limits`, then the data.
    pub fn check_within(
        &self,
        usage: &budget::Usage,
        limits: &budget::Limits,
    ) -> Result<(), InputError> {
        check_generated(self.generate.as_ref(), self.prompts.len(), self.pairs.len())?;
        budget::Estimate::new(self, usage).check(limits)?;
        self.check_data()
    }

    /// The runs of `text`, a JSON array of runs in the format's form, as the `runs` field of a
    /// scenario reads them (at least one, at most the cap). For edits that change only the runs.
    pub fn runs_from_json(text: &str) -> Result<Vec<RunConfig>, InputError> {
        read_runs(&reader::parse(text)?)
    }

    /// Reads and validates every field (counts and caps included), without building the data.
    fn fields_from_json(text: &str) -> Result<Scenario, InputError> {
        // A UTF-8 byte-order mark (some editors write one) is not part of the JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Scenario::fields_from_value(&reader::parse(text)?)
    }

    /// Reads a scenario from a parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Scenario, InputError> {
        let scenario = Scenario::fields_from_value(value)?;
        scenario.check_data()?;
        Ok(scenario)
    }

    /// Builds the shared data once so that every semantic error (a zero weight, no pairs at
    /// all...) is reported when the file is read, not when it is trained. The runs are not built:
    /// each configuration was validated as it was read, and their memory is the command's to
    /// check against its limit (see [`budget`]) before it builds them.
    fn check_data(&self) -> Result<(), InputError> {
        self.problem().map(drop)
    }

    fn fields_from_value(value: &Value) -> Result<Scenario, InputError> {
        let mut top = object("", value)?;
        let title = top.string("title")?.map(str::to_string);
        let description = top.string("description")?.map(str::to_string);
        let outputs = read_outputs(&mut top)?;
        let reference_value = top.get("reference");
        let prompts = read_prompts(&mut top, reference_value)?;
        check_labels(&prompts, &outputs)?;
        if prompts.len().saturating_mul(outputs.len()) > MAX_LOGITS {
            return Err(InputError::new(
                "outputs",
                format!(
                    "{} prompts x {} outputs is more than the {MAX_LOGITS} logits a scenario may have",
                    prompts.len(),
                    outputs.len()
                ),
            ));
        }
        let reference = match reference_value {
            Some(value) => read_table("reference", value, prompts.len())?,
            None => vec![vec![1.0; outputs.len()]; prompts.len()],
        };
        let (pairs, validation_pairs) = match top.get("pairs") {
            Some(value) => {
                let items = array("pairs", value)?;
                at_most("pairs", items.len(), MAX_PAIRS)?;
                read_pairs(items, 0, &Labels::new(&prompts, &outputs))?
            }
            None => (Vec::new(), Vec::new()),
        };
        let reward = top
            .get("reward")
            .map(|value| read_table("reward", value, prompts.len()))
            .transpose()?;
        let generate = top.get("generate").map(read_generation).transpose()?;
        // Counted before anything is drawn: the cap is on the whole scenario, not per prompt.
        check_generated(generate.as_ref(), prompts.len(), pairs.len())?;
        let steps = top.integer("steps")?.unwrap_or(DEFAULT_STEPS);
        let runs = match top.get("runs") {
            Some(value) => read_runs(value)?,
            None => default_runs(),
        };
        let exercise = top
            .get("exercise")
            .map(|value| read_exercise(value, &runs))
            .transpose()?;
        let sweep = top
            .get("sweep")
            .map(|value| sweep::read_sweep(value, runs.len()))
            .transpose()?;
        let validation = top
            .get("validation")
            .map(|value| sweep::read_validation(value, MAX_PAIRS))
            .transpose()?;
        if let Some(Validation::Fresh { count, .. }) = validation {
            fresh_pairs_fit(count, prompts.len(), generate.is_some())?;
        }
        if let Some(&i) = validation_pairs.first() {
            both_validations(validation.as_ref(), i)?;
        }
        top.finish()?;
        let scenario = Scenario {
            title,
            description,
            prompts,
            outputs,
            reference,
            pairs,
            reward,
            generate,
            steps,
            runs,
            exercise,
            sweep,
            validation,
            validation_pairs,
        };
        if let Some(sweep) = &scenario.sweep {
            // Every configuration the sweep makes is valid, or the file is refused now.
            sweep.check(&scenario.runs)?;
        }
        Ok(scenario)
    }

    /// Whether `other` describes the same data (prompts, outputs, reference, pairs, reward and
    /// generated pairs), so that runs on one can keep training on the other. Runs and steps may
    /// differ.
    pub fn same_data(&self, other: &Scenario) -> bool {
        self.prompts == other.prompts
            && self.outputs == other.outputs
            && self.reference == other.reference
            && self.pairs == other.pairs
            && self.reward == other.reward
            && self.generate == other.generate
            && self.validation == other.validation
            && self.validation_pairs == other.validation_pairs
    }

    /// The shared data the runs train on: the explicit pairs, the generated ones appended, less
    /// the pairs `validation` holds out.
    pub fn problem(&self) -> Result<Problem, InputError> {
        Ok(self.problems()?.0)
    }

    /// The training data, and the held-out pairs' (with `validation` or pairs marked
    /// `"split": "validation"`): the same prompts, outputs, reference and reward. Marked pairs
    /// are held out as marked (at least one pair, explicit or generated, must be left to train
    /// on). With a `fraction` the pairs are split: the held-out pairs are a seeded draw of
    /// `round(fraction * pairs)` of them (at least one, and at least one left to train on). With
    /// `fresh` every pair trains, and the held-out pairs are drawn from the reward as `generate`
    /// draws (its `tau` and `sampling`), `fresh` per prompt, with the validation's seed on a
    /// stream of their own.
    pub fn problems(&self) -> Result<(Problem, Option<Problem>), InputError> {
        let all = self.all_pairs_problem()?;
        let held_out = match self.validation {
            None if self.validation_pairs.is_empty() => return Ok((all, None)),
            None => {
                let mut held_out = vec![false; all.pairs().len()];
                for &i in &self.validation_pairs {
                    held_out[i] = true;
                }
                if held_out.iter().all(|&held| held) {
                    return Err(InputError::new(
                        "pairs",
                        "every pair is marked \"split\": \"validation\": leave at least one \
                         to train on",
                    ));
                }
                held_out
            }
            Some(Validation::Split { fraction, seed }) => {
                let n = all.pairs().len();
                if n < 2 {
                    return Err(InputError::new(
                        "validation",
                        format!("needs at least 2 pairs to hold some out, and there is {n}"),
                    ));
                }
                held_out_mask(fraction, seed, n)
            }
            Some(Validation::Fresh { count, seed }) => {
                let generation = self
                    .generate
                    .as_ref()
                    .ok_or_else(|| InputError::new("validation.fresh", NO_GENERATE_FOR_FRESH))?;
                let mut held_out = Problem::new(
                    self.prompts.clone(),
                    self.outputs.clone(),
                    &self.reference,
                    Vec::new(),
                    self.reward.clone(),
                )?;
                let fresh = Generation {
                    count,
                    seed,
                    ..generation.clone()
                };
                held_out.generate_pairs_in(&fresh, stream::FRESH_VALIDATION)?;
                return Ok((all, Some(held_out)));
            }
        };
        let pairs = all.pairs();
        let pick = |keep: bool| -> Vec<Pair> {
            pairs
                .iter()
                .zip(&held_out)
                .filter(|&(_, &h)| h == keep)
                .map(|(pair, _)| *pair)
                .collect()
        };
        let build = |pairs: Vec<Pair>| {
            Problem::new(
                self.prompts.clone(),
                self.outputs.clone(),
                &self.reference,
                pairs,
                self.reward.clone(),
            )
        };
        Ok((build(pick(false))?, Some(build(pick(true))?)))
    }

    /// The pairs held out of training (by `validation`'s `fraction` or by their
    /// `"split": "validation"` marks), by index among all the pairs (the explicit ones first,
    /// then the generated ones); none otherwise (`fresh` holds out pairs of its own).
    pub fn held_out_pairs(&self) -> Result<Vec<usize>, InputError> {
        let Some(Validation::Split { fraction, seed }) = self.validation else {
            return Ok(self.validation_pairs.clone());
        };
        let n = self.all_pairs_problem()?.pairs().len();
        if n < 2 {
            return Ok(Vec::new());
        }
        Ok(held_out_mask(fraction, seed, n)
            .iter()
            .enumerate()
            .filter(|&(_, &held)| held)
            .map(|(i, _)| i)
            .collect())
    }

    /// Every pair, explicit and generated, none held out.
    fn all_pairs_problem(&self) -> Result<Problem, InputError> {
        let mut problem = Problem::new(
            self.prompts.clone(),
            self.outputs.clone(),
            &self.reference,
            self.pairs.clone(),
            self.reward.clone(),
        )?;
        if let Some(generation) = &self.generate {
            problem.generate_pairs(generation)?;
        }
        if problem.pairs().is_empty() {
            return Err(InputError::new(
                "pairs",
                "there are no preference pairs: give \"pairs\" or \"generate\"",
            ));
        }
        Ok(problem)
    }

    /// Every run at step 0.
    pub fn run_set(&self) -> Result<RunSet, InputError> {
        RunSet::new(self.problem()?, self.runs.clone())
    }

    /// Every run of the scenario's sweep at step 0, on the training pairs: the run set a sweep
    /// trains (`engine::sweep::SweepTraining` builds the same one, and the page's WebGPU module
    /// builds it from the scenario's text to take over a sweep's training).
    pub fn sweep_run_set(&self) -> Result<RunSet, InputError> {
        let sweep = self
            .sweep
            .as_ref()
            .ok_or_else(|| InputError::new("sweep", "the scenario has no sweep"))?;
        RunSet::new(self.problem()?, sweep.expand(&self.runs)?.runs)
    }

    /// The canonical JSON form: every field explicit, outputs and pairs by label.
    pub fn to_value(&self) -> Value {
        let mut top = Map::new();
        if let Some(title) = &self.title {
            top.insert("title".into(), json!(title));
        }
        if let Some(description) = &self.description {
            top.insert("description".into(), json!(description));
        }
        top.insert("prompts".into(), json!(self.prompts));
        let outputs: Vec<Value> = self
            .outputs
            .iter()
            .map(|output| {
                if output.length == 1.0 {
                    json!(output.label)
                } else {
                    json!({"label": output.label, "length": short(output.length)})
                }
            })
            .collect();
        top.insert("outputs".into(), Value::Array(outputs));
        top.insert("reference".into(), json!(self.reference));
        let pairs: Vec<Value> = self
            .pairs
            .iter()
            .enumerate()
            .map(|(i, pair)| {
                let mut fields = Map::new();
                fields.insert("prompt".into(), json!(self.prompts[pair.prompt]));
                fields.insert("chosen".into(), json!(self.outputs[pair.chosen].label));
                fields.insert("rejected".into(), json!(self.outputs[pair.rejected].label));
                fields.insert("weight".into(), short(pair.weight));
                if self.validation_pairs.binary_search(&i).is_ok() {
                    fields.insert("split".into(), json!("validation"));
                }
                Value::Object(fields)
            })
            .collect();
        top.insert("pairs".into(), Value::Array(pairs));
        if let Some(reward) = &self.reward {
            top.insert("reward".into(), json!(reward));
        }
        if let Some(generation) = &self.generate {
            top.insert(
                "generate".into(),
                json!({
                    "count": generation.count,
                    "tau": generation.tau,
                    "seed": generation.seed,
                    "sampling": generation.sampling.name(),
                }),
            );
        }
        top.insert("steps".into(), json!(self.steps));
        top.insert(
            "runs".into(),
            Value::Array(self.runs.iter().map(run_to_value).collect()),
        );
        if let Some(exercise) = &self.exercise {
            top.insert("exercise".into(), exercise_to_value(exercise));
        }
        if let Some(sweep) = &self.sweep {
            top.insert("sweep".into(), sweep::sweep_to_value(sweep));
        }
        if let Some(validation) = &self.validation {
            top.insert("validation".into(), sweep::validation_to_value(validation));
        }
        Value::Object(top)
    }

    /// A student's prediction for this scenario's exercise, from the page:
    /// `{"runs": [{"run": 0, "learns": ["rr"]}], "higher": 1}`. Runs are named by index or name,
    /// as in the exercise, and must be among its predicted runs; a predicted run left out ticks no
    /// cell; `higher` (the run chosen for the comparison) is optional, and only for an exercise
    /// with a `compare`. Errors name the field (`runs[0].learns[1]`), or `exercise` when the
    /// scenario has none.
    pub fn prediction_from_json(&self, text: &str) -> Result<StudentPrediction, InputError> {
        let Some(exercise) = &self.exercise else {
            return Err(InputError::new("exercise", "this scenario has no exercise"));
        };
        let value = reader::parse(text)?;
        let mut top = object("", &value)?;
        let names = RunNames::new(&self.runs);
        let asked = predicted_runs(&exercise.predict, self.runs.len());
        let runs = match top.get("runs") {
            None => Vec::new(),
            Some(items) => {
                read_predict_list("runs", array("runs", items)?, &names, |path, run| {
                    check_predicted(path, run, &asked, &names)
                })?
            }
        };
        let higher = match top.get("higher") {
            None => None,
            Some(value) => {
                if exercise.compare.is_none() {
                    return Err(InputError::new("higher", "the exercise has no comparison"));
                }
                let run = names.resolve("higher", value)?;
                check_predicted("higher", run, &asked, &names)?;
                Some(run)
            }
        };
        top.finish()?;
        Ok(StudentPrediction { runs, higher })
    }

    /// The canonical form as pretty-printed JSON text.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).expect("a JSON value always serialises")
    }
}

/// Why `validation: {"fresh"}` cannot draw its pairs.
const NO_GENERATE_FOR_FRESH: &str =
    "draws pairs as \"generate\" does: give the scenario a \"generate\" block (and its \"reward\")";

/// `validation.fresh`'s pairs, `count` for each of `prompts` prompts, within a scenario's
/// [`MAX_PAIRS`] and with a `generate` block to draw them as.
fn fresh_pairs_fit(count: usize, prompts: usize, generate: bool) -> Result<(), InputError> {
    if !generate {
        return Err(InputError::new("validation.fresh", NO_GENERATE_FOR_FRESH));
    }
    let total = (count as u64).saturating_mul(prompts as u64);
    if total > MAX_PAIRS as u64 {
        return Err(InputError::new(
            "validation.fresh",
            format!(
                "{count} pairs per prompt x {prompts} prompts is {total} held-out pairs, more \
                 than the {MAX_PAIRS} a scenario may have"
            ),
        ));
    }
    Ok(())
}

/// Which of `n` pairs (at least 2) a `validation` `fraction` holds out: `round(fraction x n)` of
/// them, at least one and at least one left, drawn with its seed.
fn held_out_mask(fraction: f64, seed: u64, n: usize) -> Vec<bool> {
    let held = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64::new(seed, stream::VALIDATION).shuffle(&mut order);
    let mut held_out = vec![false; n];
    for &i in &order[..held] {
        held_out[i] = true;
    }
    held_out
}

/// An f32 as the JSON number with the fewest digits that reads back to the same f32 (0.05, not
/// 0.05000000074505806).
fn short(x: f32) -> Value {
    // Read back with serde_json's own number parser rather than `str::parse::<f64>`, which would
    // link the standard library's float parser and its tables (about 7 KB gzipped) into the
    // page's module only for this. Natively (`float_roundtrip`) it is correctly rounded; in the
    // page it is for an f32's at most 9 significant digits unless the exponent is beyond 22 in
    // size, where the f64 may be one ulp off (more digits in the text, the same f32 read back).
    serde_json::from_str::<f64>(&x.to_string())
        .map(|shortest| json!(shortest))
        .unwrap_or(Value::Null)
}

/// An init in the scenario format: its name, or an object with its parameters.
pub fn init_to_value(init: Init) -> Value {
    match init {
        Init::Random { scale } => json!({"kind": init.name(), "scale": short(scale)}),
        other => json!(other.name()),
    }
}

/// An optimiser in the scenario format.
pub fn optimizer_to_value(optimizer: Optimizer) -> Value {
    let kind = optimizer.name();
    match optimizer {
        Optimizer::Sgd { lr, momentum } => {
            json!({"kind": kind, "lr": short(lr), "momentum": short(momentum)})
        }
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => {
            json!({"kind": kind, "lr": short(lr), "beta1": short(beta1), "beta2": short(beta2), "eps": short(eps)})
        }
    }
}

/// A regulariser in the scenario format.
pub fn regularizer_to_value(regularizer: Regularizer) -> Value {
    let kind = regularizer.name();
    match regularizer {
        Regularizer::None => json!({ "kind": kind }),
        Regularizer::L2 { lambda } | Regularizer::Kl { lambda } => {
            json!({"kind": kind, "lambda": short(lambda)})
        }
        Regularizer::Mixout { p } => json!({"kind": kind, "p": short(p)}),
    }
}

/// A run's configuration in the scenario format.
pub fn run_to_value(run: &RunConfig) -> Value {
    json!({
        "name": run.name,
        "loss": run.loss.name(),
        "beta": short(run.beta),
        "gamma": short(run.gamma),
        "margin": short(run.margin),
        "alpha": short(run.alpha),
        "length_normalize": run.length_normalize,
        "init": init_to_value(run.init),
        "optimizer": optimizer_to_value(run.optimizer),
        "batch_size": run.batch_size,
        "seed": run.seed,
        "regularizer": regularizer_to_value(run.regularizer),
    })
}

fn read_outputs(top: &mut ObjectReader) -> Result<Vec<Output>, InputError> {
    let items = array("outputs", top.require("outputs")?)?;
    items
        .iter()
        .enumerate()
        .map(|(y, item)| {
            let path = format!("outputs[{y}]");
            match item {
                Value::String(label) => Ok(Output {
                    label: label.clone(),
                    length: 1.0,
                }),
                Value::Object(_) => {
                    let mut output = object(&path, item)?;
                    let label =
                        string(&output.path_of("label"), output.require("label")?)?.to_string();
                    let length = output.f32("length")?.unwrap_or(1.0);
                    output.finish()?;
                    Ok(Output { label, length })
                }
                other => Err(expected(&path, "a label or {\"label\", \"length\"}", other)),
            }
        })
        .collect()
}

fn read_prompts(
    top: &mut ObjectReader,
    reference: Option<&Value>,
) -> Result<Vec<String>, InputError> {
    if let Some(value) = top.get("prompts") {
        return array("prompts", value)?
            .iter()
            .enumerate()
            .map(|(x, item)| string(&format!("prompts[{x}]"), item).map(str::to_string))
            .collect();
    }
    // Without labels, the reference's rows say how many prompts there are (one by default).
    let count = match reference {
        Some(Value::Array(rows)) if rows.iter().all(Value::is_array) && !rows.is_empty() => {
            rows.len()
        }
        _ => 1,
    };
    Ok((0..count).map(|x| format!("x{x}")).collect())
}

/// A table of numbers per prompt; one prompt's row may also be given as a flat array.
fn read_table(field: &str, value: &Value, prompts: usize) -> Result<Vec<Vec<f64>>, InputError> {
    let rows = array(field, value)?;
    if prompts == 1 && rows.iter().all(Value::is_number) && !rows.is_empty() {
        let row = rows
            .iter()
            .enumerate()
            .map(|(y, item)| number(&format!("{field}[{y}]"), item))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(vec![row]);
    }
    rows.iter()
        .enumerate()
        .map(|(x, row)| {
            array(&format!("{field}[{x}]"), row)?
                .iter()
                .enumerate()
                .map(|(y, item)| number(&format!("{field}[{x}][{y}]"), item))
                .collect()
        })
        .collect()
}

/// The `runs` array: at least one run, at most [`MAX_RUNS`].
fn read_runs(value: &Value) -> Result<Vec<RunConfig>, InputError> {
    let items = array("runs", value)?;
    if items.is_empty() {
        return Err(InputError::new("runs", "needs at least one run"));
    }
    at_most("runs", items.len(), MAX_RUNS)?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| read_run(&format!("runs[{i}]"), item, i))
        .collect()
}

/// The pairs `generate` would draw and the explicit ones together stay under [`MAX_PAIRS`].
fn check_generated(
    generate: Option<&Generation>,
    prompts: usize,
    explicit: usize,
) -> Result<(), InputError> {
    let Some(generation) = generate else {
        return Ok(());
    };
    let total = (generation.count as u64)
        .saturating_mul(prompts as u64)
        .saturating_add(explicit as u64);
    if total > MAX_PAIRS as u64 {
        return Err(InputError::new(
            "generate.count",
            format!(
                "{} pairs per prompt x {prompts} prompts (with {explicit} explicit pairs) is \
                 {total} pairs, more than the {MAX_PAIRS} a scenario may have",
                generation.count,
            ),
        ));
    }
    Ok(())
}

/// `Err` at `field` when it holds more than `max` items (`pairs`, `runs`).
fn at_most(field: &str, count: usize, max: usize) -> Result<(), InputError> {
    if count > max {
        return Err(InputError::new(
            field,
            format!("{count} {field} is more than the {max} a scenario may have"),
        ));
    }
    Ok(())
}

/// The prompts' and outputs' indices by label, built once per scenario so that resolving a pair is
/// a lookup, not a search (100k outputs x 100k pairs stays linear).
struct Labels<'a> {
    prompts: HashMap<&'a str, usize>,
    outputs: HashMap<&'a str, usize>,
}

impl<'a> Labels<'a> {
    fn new(prompts: &'a [String], outputs: &'a [Output]) -> Labels<'a> {
        // Labels are unique (checked before), so each maps to its one index and a map's length
        // is the count.
        Labels {
            prompts: prompts
                .iter()
                .enumerate()
                .map(|(i, p)| (p.as_str(), i))
                .collect(),
            outputs: outputs
                .iter()
                .enumerate()
                .map(|(i, o)| (o.label.as_str(), i))
                .collect(),
        }
    }
}

/// An index (an integer below `count`) naming one of `count` things (`what`: output, prompt, run).
fn index_below(path: &str, value: &Value, count: usize, what: &str) -> Result<usize, InputError> {
    let index = integer(path, value)?;
    if index < count as u64 {
        Ok(index as usize)
    } else {
        Err(InputError::new(
            path,
            format!("no {what} {index} (there are {count})"),
        ))
    }
}

/// Resolves a prompt or output named by label (a string) or index (an integer).
fn resolve(
    path: &str,
    value: &Value,
    labels: &HashMap<&str, usize>,
    what: &str,
) -> Result<usize, InputError> {
    let count = labels.len();
    match value {
        Value::String(label) => labels
            .get(label.as_str())
            .copied()
            .ok_or_else(|| InputError::new(path, format!("no {what} named {label:?}"))),
        Value::Number(_) => index_below(path, value, count, what),
        other => Err(expected(path, &format!("an {what} label or index"), other)),
    }
}

/// The explicit pairs of `items` (numbered from `first` in error paths), and which of them, by
/// index in `items`, are marked `"split": "validation"`.
fn read_pairs(
    items: &[Value],
    first: usize,
    labels: &Labels,
) -> Result<(Vec<Pair>, Vec<usize>), InputError> {
    let mut pairs = Vec::with_capacity(items.len());
    let mut marked = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (pair, held_out) = read_pair(&format!("pairs[{}]", first + i), item, labels)?;
        if held_out {
            marked.push(i);
        }
        pairs.push(pair);
    }
    Ok((pairs, marked))
}

/// Pairs marked `"split": "validation"` (the first at `pairs[first_marked]`) beside a
/// `validation` block: two ways of choosing the held-out pairs, refused together.
fn both_validations(
    validation: Option<&Validation>,
    first_marked: usize,
) -> Result<(), InputError> {
    match validation {
        None => Ok(()),
        Some(_) => Err(InputError::new(
            format!("pairs[{first_marked}].split"),
            "marks a pair held out, and the scenario's \"validation\" block chooses the held-out \
             pairs too: keep one of the two",
        )),
    }
}

/// One explicit pair, and whether it is marked `"split": "validation"` (held out of training).
fn read_pair(path: &str, value: &Value, labels: &Labels) -> Result<(Pair, bool), InputError> {
    let mut pair = object(path, value)?;
    let prompt = match pair.get("prompt") {
        Some(value) => resolve(&pair.path_of("prompt"), value, &labels.prompts, "prompt")?,
        None => 0,
    };
    let chosen = resolve(
        &pair.path_of("chosen"),
        pair.require("chosen")?,
        &labels.outputs,
        "output",
    )?;
    let rejected = resolve(
        &pair.path_of("rejected"),
        pair.require("rejected")?,
        &labels.outputs,
        "output",
    )?;
    let weight = pair.f32("weight")?.unwrap_or(1.0);
    let held_out = match pair.string("split")? {
        None | Some("train") => false,
        Some("validation") => true,
        Some(other) => {
            return Err(InputError::new(
                pair.path_of("split"),
                format!("unknown split {other:?} (expected \"train\" or \"validation\")"),
            ))
        }
    };
    pair.finish()?;
    Ok((
        Pair {
            prompt,
            chosen,
            rejected,
            weight,
        },
        held_out,
    ))
}

fn read_generation(value: &Value) -> Result<Generation, InputError> {
    let mut generation = object("generate", value)?;
    let count = generation.integer("count")?.unwrap_or(16);
    if count > MAX_PAIRS as u64 {
        return Err(InputError::new(
            "generate.count",
            format!("{count} is more than the {MAX_PAIRS} pairs a scenario may have"),
        ));
    }
    let count = count as usize;
    let tau = generation.f64("tau")?.unwrap_or(1.0);
    let seed = generation.integer("seed")?.unwrap_or(0);
    let sampling = match generation.string("sampling")? {
        None | Some("uniform") => PairSampling::Uniform,
        Some("reference") => PairSampling::Reference,
        Some(other) => {
            return Err(InputError::new(
                "generate.sampling",
                format!("unknown sampling {other:?} (expected \"uniform\" or \"reference\")"),
            ))
        }
    };
    generation.finish()?;
    Ok(Generation {
        count,
        tau,
        seed,
        sampling,
    })
}

/// A `"kind"` given either as a bare string or inside an object; returns the kind and the
/// object reader (if any) for the other fields.
fn kind_of_value<'a>(
    path: &str,
    value: &'a Value,
) -> Result<(String, Option<ObjectReader<'a>>), InputError> {
    match value {
        Value::String(kind) => Ok((kind.clone(), None)),
        Value::Object(_) => {
            let mut reader = object(path, value)?;
            let kind = string(&reader.path_of("kind"), reader.require("kind")?)?.to_string();
            Ok((kind, Some(reader)))
        }
        other => Err(expected(path, "a name or an object with \"kind\"", other)),
    }
}

fn read_run(path: &str, value: &Value, index: usize) -> Result<RunConfig, InputError> {
    let mut run = object(path, value)?;
    let name = run
        .string("name")?
        .map(str::to_string)
        .unwrap_or_else(|| format!("run {index}"));
    // A field left out takes the default run's value (`gamma` defaults to the run's `beta`).
    let defaults = RunConfig::default();
    let loss = match run.string("loss")? {
        None => defaults.loss,
        Some(name) => named(LOSSES, name).ok_or_else(|| {
            InputError::new(
                run.path_of("loss"),
                format!(
                    "unknown loss {name:?} (expected {})",
                    expected_names(LOSSES)
                ),
            )
        })?,
    };
    let beta = run.f32("beta")?.unwrap_or(defaults.beta);
    let gamma = run.f32("gamma")?.unwrap_or(beta);
    let margin = run.f32("margin")?.unwrap_or(defaults.margin);
    let alpha = run.f32("alpha")?.unwrap_or(defaults.alpha);
    let length_normalize = run
        .bool("length_normalize")?
        .unwrap_or(defaults.length_normalize);
    let init = match run.get("init") {
        None => defaults.init,
        Some(value) => read_init(&run.path_of("init"), value)?,
    };
    let optimizer = match run.get("optimizer") {
        None => defaults.optimizer,
        Some(value) => read_optimizer(&run.path_of("optimizer"), value)?,
    };
    // A batch larger than the pairs is the full batch, so a size past `usize` (on wasm32) saturates.
    let batch_size = run
        .integer("batch_size")?
        .map(|size| usize::try_from(size).unwrap_or(usize::MAX));
    let seed = run.integer("seed")?.unwrap_or(defaults.seed);
    let regularizer = match run.get("regularizer") {
        None => defaults.regularizer,
        Some(value) => read_regularizer(&run.path_of("regularizer"), value)?,
    };
    run.finish()?;
    let config = RunConfig {
        name,
        loss,
        beta,
        gamma,
        margin,
        alpha,
        length_normalize,
        init,
        optimizer,
        batch_size,
        seed,
        regularizer,
    };
    config.validate().map_err(|e| e.within(path))?;
    Ok(config)
}

fn read_init(path: &str, value: &Value) -> Result<Init, InputError> {
    let (kind, reader) = kind_of_value(path, value)?;
    let init = named(INITS, &kind).ok_or_else(|| unknown(path, "init", &kind, INITS))?;
    let Some(mut reader) = reader else {
        return Ok(init);
    };
    let init = match init {
        Init::Random { scale } => Init::Random {
            scale: reader.f32("scale")?.unwrap_or(scale),
        },
        other => other,
    };
    reader.finish()?;
    Ok(init)
}

/// The error for a kind that `table` does not have.
fn unknown<T>(path: &str, option: &str, kind: &str, table: &'static [Kind<T>]) -> InputError {
    InputError::new(
        path,
        format!(
            "unknown {option} {kind:?} (expected {})",
            expected_names(table)
        ),
    )
}

fn read_optimizer(path: &str, value: &Value) -> Result<Optimizer, InputError> {
    let (kind, reader) = kind_of_value(path, value)?;
    let optimizer =
        named(OPTIMIZERS, &kind).ok_or_else(|| unknown(path, "optimizer", &kind, OPTIMIZERS))?;
    let Some(mut reader) = reader else {
        return Ok(optimizer);
    };
    let optimizer = match optimizer {
        Optimizer::Sgd { lr, momentum } => Optimizer::Sgd {
            lr: reader.f32("lr")?.unwrap_or(lr),
            momentum: reader.f32("momentum")?.unwrap_or(momentum),
        },
        Optimizer::Adam {
            lr,
            beta1,
            beta2,
            eps,
        } => Optimizer::Adam {
            lr: reader.f32("lr")?.unwrap_or(lr),
            beta1: reader.f32("beta1")?.unwrap_or(beta1),
            beta2: reader.f32("beta2")?.unwrap_or(beta2),
            eps: reader.f32("eps")?.unwrap_or(eps),
        },
    };
    reader.finish()?;
    Ok(optimizer)
}

fn read_regularizer(path: &str, value: &Value) -> Result<Regularizer, InputError> {
    let (kind, reader) = kind_of_value(path, value)?;
    let regularizer = named(REGULARIZERS, &kind)
        .ok_or_else(|| unknown(path, "regularizer", &kind, REGULARIZERS))?;
    let Some(mut reader) = reader else {
        return Ok(regularizer);
    };
    let regularizer = match regularizer {
        Regularizer::None => Regularizer::None,
        Regularizer::L2 { lambda } => Regularizer::L2 {
            lambda: reader.f32("lambda")?.unwrap_or(lambda),
        },
        Regularizer::Kl { lambda } => Regularizer::Kl {
            lambda: reader.f32("lambda")?.unwrap_or(lambda),
        },
        Regularizer::Mixout { p } => Regularizer::Mixout {
            p: reader.f32("p")?.unwrap_or(p),
        },
    };
    reader.finish()?;
    Ok(regularizer)
}

/// The runs by name, built once per exercise: a name given to several runs is ambiguous (run names
/// need not be unique), and such a run is named by its index instead.
struct RunNames<'a> {
    runs: &'a [RunConfig],
    by_name: HashMap<&'a str, Vec<usize>>,
}

impl<'a> RunNames<'a> {
    fn new(runs: &'a [RunConfig]) -> RunNames<'a> {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, run) in runs.iter().enumerate() {
            by_name.entry(run.name.as_str()).or_default().push(i);
        }
        RunNames { runs, by_name }
    }

    /// How many runs there are.
    fn len(&self) -> usize {
        self.runs.len()
    }

    /// `run 2 ("DPO")`, as messages name a run.
    fn describe(&self, run: usize) -> String {
        match self.runs.get(run) {
            Some(config) => format!("run {run} ({:?})", config.name),
            None => format!("run {run}"),
        }
    }

    /// A run named by its name (a string) or its index (an integer).
    fn resolve(&self, path: &str, value: &Value) -> Result<usize, InputError> {
        let count = self.runs.len();
        match value {
            Value::String(name) => match self.by_name.get(name.as_str()).map(Vec::as_slice) {
                Some([run]) => Ok(*run),
                Some([first, second, ..]) => Err(InputError::new(
                    path,
                    format!(
                        "runs {first} and {second} are both named {name:?}: name the run by its index"
                    ),
                )),
                _ => Err(InputError::new(path, format!("no run named {name:?}"))),
            },
            Value::Number(_) => index_below(path, value, count, "run"),
            other => Err(expected(path, "a run name or index", other)),
        }
    }
}

/// Per run (of `count`), whether `predict` asks about it.
fn predicted_runs(predict: &[PredictRun], count: usize) -> Vec<bool> {
    let mut asked = vec![false; count];
    for p in predict {
        if let Some(slot) = asked.get_mut(p.run) {
            *slot = true;
        }
    }
    asked
}

/// `Err` at `path` unless `run` is one of the exercise's predicted runs (`asked`, from
/// [`predicted_runs`]).
fn check_predicted(
    path: &str,
    run: usize,
    asked: &[bool],
    names: &RunNames,
) -> Result<(), InputError> {
    if asked.get(run).copied().unwrap_or(false) {
        Ok(())
    } else {
        Err(InputError::new(
            path,
            format!("{} is not among the predicted runs", names.describe(run)),
        ))
    }
}

/// A set of learning-table cells by name ([`CELLS`]), each at most once.
fn read_cells(path: &str, value: &Value) -> Result<Cells, InputError> {
    let mut cells = Cells::default();
    let mut at = [0usize; 4];
    for (i, item) in array(path, value)?.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let name = string(&item_path, item)?;
        let Some(cell) = Cells::index_of(name) else {
            return Err(InputError::new(
                item_path,
                format!("unknown cell {name:?} (expected {})", quoted_list(&CELLS)),
            ));
        };
        if cells.0[cell] {
            return Err(InputError::new(
                item_path,
                format!("cell {name:?} is already listed at {path}[{}]", at[cell]),
            ));
        }
        cells.0[cell] = true;
        at[cell] = i;
    }
    Ok(cells)
}

/// `{"run": run name or index, "learns": [cells]}`.
/// A list of predicted runs at `list` (`exercise.predict`, or a student's `runs`): each read by
/// [`read_predict_run`] and passed to `check` (with its `run` field's path), none listed twice.
fn read_predict_list(
    list: &str,
    items: &[Value],
    names: &RunNames,
    check: impl Fn(&str, usize) -> Result<(), InputError>,
) -> Result<Vec<PredictRun>, InputError> {
    let mut predict: Vec<PredictRun> = Vec::with_capacity(items.len().min(names.len()));
    // Where each run is listed, so that a run listed twice is found in one pass.
    let mut listed: Vec<Option<usize>> = vec![None; names.len()];
    for (i, item) in items.iter().enumerate() {
        let path = format!("{list}[{i}]");
        let entry = read_predict_run(&path, item, names)?;
        check(&join_path(&path, "run"), entry.run)?;
        if let Some(first) = listed[entry.run] {
            return Err(InputError::new(
                join_path(&path, "run"),
                format!(
                    "{} is already listed at {list}[{first}]",
                    names.describe(entry.run)
                ),
            ));
        }
        listed[entry.run] = Some(i);
        predict.push(entry);
    }
    Ok(predict)
}

fn read_predict_run(path: &str, value: &Value, names: &RunNames) -> Result<PredictRun, InputError> {
    let mut item = object(path, value)?;
    let run = names.resolve(&item.path_of("run"), item.require("run")?)?;
    let learns = read_cells(&item.path_of("learns"), item.require("learns")?)?;
    item.finish()?;
    Ok(PredictRun { run, learns })
}

/// A list of names from `known` (`what`: "panel", ...), each at most once; a name not known gets
/// a "did you mean" hint when it is close to one, else the list.
fn read_names(
    path: &str,
    value: &Value,
    known: &[&'static str],
    what: &str,
) -> Result<Vec<String>, InputError> {
    let mut names: Vec<String> = Vec::new();
    for (i, item) in array(path, value)?.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let name = string(&item_path, item)?;
        if !known.contains(&name) {
            let hint = match reader::closest(name, known) {
                Some(close) => format!("did you mean {close:?}?"),
                None => format!("expected {}", quoted_list(known)),
            };
            return Err(InputError::new(
                item_path,
                format!("unknown {what} {name:?} ({hint})"),
            ));
        }
        if let Some(first) = names.iter().position(|n| n == name) {
            return Err(InputError::new(
                item_path,
                format!("{what} {name:?} is already listed at {path}[{first}]"),
            ));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// The `exercise` block: a question, the runs to predict with the answer, an optional
/// comparison and explanation, and what the page hides and locks.
fn read_exercise(value: &Value, runs: &[RunConfig]) -> Result<Exercise, InputError> {
    let mut block = object("exercise", value)?;
    let question = string(&block.path_of("question"), block.require("question")?)?;
    if question.trim().is_empty() {
        return Err(InputError::new(
            "exercise.question",
            "must not be empty: say what the student predicts",
        ));
    }
    let names = RunNames::new(runs);
    let items = array("exercise.predict", block.require("predict")?)?;
    if items.is_empty() {
        return Err(InputError::new(
            "exercise.predict",
            "needs at least one run to predict",
        ));
    }
    let predict = read_predict_list("exercise.predict", items, &names, |_, _| Ok(()))?;
    let compare = match block.get("compare") {
        None => None,
        Some(value) => {
            let mut compare = object("exercise.compare", value)?;
            let metric_name = string(&compare.path_of("metric"), compare.require("metric")?)?;
            let metric = CompareMetric::named(metric_name).ok_or_else(|| {
                InputError::new(
                    "exercise.compare.metric",
                    format!(
                        "unknown metric {metric_name:?} (expected {})",
                        quoted_list(&COMPARE_METRICS)
                    ),
                )
            })?;
            let higher = names.resolve(&compare.path_of("higher"), compare.require("higher")?)?;
            compare.finish()?;
            if predict.len() < 2 {
                return Err(InputError::new(
                    "exercise.compare",
                    "needs at least two predicted runs to compare",
                ));
            }
            let asked = predicted_runs(&predict, runs.len());
            check_predicted("exercise.compare.higher", higher, &asked, &names)?;
            Some(Compare { metric, higher })
        }
    };
    let explanation = block.string("explanation")?.map(str::to_string);
    let hide = match block.get("hide") {
        Some(value) => read_names("exercise.hide", value, &PANELS, "panel")?,
        None => Vec::new(),
    };
    let lock = match block.get("lock") {
        Some(value) => read_names("exercise.lock", value, &LOCKABLE, "lock")?,
        None => Vec::new(),
    };
    block.finish()?;
    Ok(Exercise {
        question: question.to_string(),
        predict,
        compare,
        explanation,
        hide,
        lock,
    })
}

/// An exercise in the scenario format: runs by index, cells in table order, every list explicit.
pub fn exercise_to_value(exercise: &Exercise) -> Value {
    let mut block = Map::new();
    block.insert("question".into(), json!(exercise.question));
    let predict: Vec<Value> = exercise
        .predict
        .iter()
        .map(|p| json!({"run": p.run, "learns": p.learns.names()}))
        .collect();
    block.insert("predict".into(), Value::Array(predict));
    if let Some(compare) = exercise.compare {
        block.insert(
            "compare".into(),
            json!({"metric": compare.metric.name(), "higher": compare.higher}),
        );
    }
    if let Some(explanation) = &exercise.explanation {
        block.insert("explanation".into(), json!(explanation));
    }
    block.insert("hide".into(), json!(exercise.hide));
    block.insert("lock".into(), json!(exercise.lock));
    Value::Object(block)
}
