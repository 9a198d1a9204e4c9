//! Sweeps: many runs over a grid of settings and seeds, trained together and summarised with
//! their spread, so that "is it DPO, or luck and tuning?" can be asked of the data.
//!
//! A [`Sweep`] has axes (a run field and its values) and a number of replicates. It applies to
//! each of a scenario's runs as a template: every template, at every point of the grid (the axes'
//! values crossed, the first axis slowest), with every replicate, is one run. Replicate 0 keeps
//! the template's seed, so a sweep of one point and one replicate trains exactly the template;
//! replicate `r` adds `r` times a fixed odd constant to it ([`replicate_seed`]), which changes
//! the random initial policy, the minibatch order and the mixout masks.
//!
//! The statistics ([`Summary`]) are over a setting's replicates: mean, sample standard
//! deviation, minimum and maximum, of the finite values (a diverged run is counted apart).

use super::config::{Init, Optimizer, Regularizer, RunConfig};
use super::error::InputError;
use super::loss::LossKind;
use super::metrics::Metrics;
use super::problem::Problem;
use super::run::Run;
use super::runset::RunSet;

/// A run field a sweep axis can vary, by its name in the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `beta`.
    Beta,
    /// `gamma`.
    Gamma,
    /// `gamma / beta`: sets `gamma` to this times the setting's `beta` (after every other axis).
    GammaOverBeta,
    /// `alpha`, the reference's exponent.
    Alpha,
    /// The constant margin `m`.
    Margin,
    /// The optimiser's learning rate.
    Lr,
    /// The minibatch size.
    BatchSize,
    /// The run's seed.
    Seed,
    /// The random initial policy's standard deviation (`init: {"kind": "random", "scale"}`).
    InitScale,
    /// The L2 or KL regulariser's strength.
    Lambda,
    /// Mixout's probability.
    P,
    /// The loss (values are loss names).
    Loss,
}

/// Every field by name, in the order the docs list them.
pub const FIELDS: [(&str, Field); 12] = [
    ("beta", Field::Beta),
    ("gamma", Field::Gamma),
    ("gamma_over_beta", Field::GammaOverBeta),
    ("alpha", Field::Alpha),
    ("margin", Field::Margin),
    ("lr", Field::Lr),
    ("batch_size", Field::BatchSize),
    ("seed", Field::Seed),
    ("init_scale", Field::InitScale),
    ("lambda", Field::Lambda),
    ("p", Field::P),
    ("loss", Field::Loss),
];

impl Field {
    /// The field of `name` in the format.
    pub fn named(name: &str) -> Option<Field> {
        FIELDS.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }

    /// The field's name in the format.
    pub fn name(self) -> &'static str {
        FIELDS
            .iter()
            .find(|(_, f)| *f == self)
            .map(|&(n, _)| n)
            .expect("every field is listed")
    }

    /// Whether the field takes whole numbers (and no range on a log scale through 0).
    pub fn integer(self) -> bool {
        matches!(self, Field::BatchSize | Field::Seed)
    }
}

/// How a range's points are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced.
    Linear,
    /// Evenly spaced logarithms (both ends above 0).
    Log,
}

/// An axis's values as written: a list, or a range.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Numbers, in order.
    Numbers(Vec<f64>),
    /// Losses, for a `loss` axis.
    Losses(Vec<LossKind>),
    /// `count` points from `from` to `to`, both included.
    Range {
        /// The first point.
        from: f64,
        /// The last point.
        to: f64,
        /// How many points (1: `from` alone).
        count: usize,
        /// Their spacing.
        scale: Scale,
    },
}

/// One axis of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The run field it varies.
    pub field: Field,
    /// Its values.
    pub values: Values,
}

/// One value on an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A number (an integer field's is whole).
    Number(f64),
    /// A loss.
    Loss(LossKind),
}

impl Value {
    /// The value as a label: the shortest number that reads back, or the loss's name.
    pub fn text(self) -> String {
        match self {
            Value::Number(x) => short(x),
            Value::Loss(loss) => loss.name().to_string(),
        }
    }

    /// The value as a number (a loss has none).
    pub fn number(self) -> Option<f64> {
        match self {
            Value::Number(x) => Some(x),
            Value::Loss(_) => None,
        }
    }
}

/// The shortest decimal text of `x` (as f32 where that is exact, so `0.1` is not `0.100000001`).
fn short(x: f64) -> String {
    let single = x as f32;
    if single as f64 == x {
        format!("{single}")
    } else {
        format!("{x}")
    }
}

impl Axis {
    /// The axis's points, in order.
    pub fn points(&self) -> Vec<Value> {
        match &self.values {
            Values::Numbers(numbers) => numbers.iter().map(|&x| Value::Number(x)).collect(),
            Values::Losses(losses) => losses.iter().map(|&l| Value::Loss(l)).collect(),
            &Values::Range {
                from,
                to,
                count,
                scale,
            } => (0..count)
                .map(|i| {
                    let t = if count == 1 {
                        0.0
                    } else {
                        i as f64 / (count - 1) as f64
                    };
                    let x = match scale {
                        Scale::Linear => from + (to - from) * t,
                        Scale::Log => (from.ln() + (to.ln() - from.ln()) * t).exp(),
                    };
                    // The ends exactly as written; whole numbers for an integer field.
                    let x = if i == 0 {
                        from
                    } else if i + 1 == count {
                        to
                    } else {
                        x
                    };
                    Value::Number(if self.field.integer() { x.round() } else { x })
                })
                .collect(),
        }
    }
}

/// Pairs held out of training, scored beside it: early stopping's data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Validation {
    /// A seeded share of the scenario's pairs (explicit and generated), left out of training.
    Split {
        /// The share of the pairs held out, in (0, 1).
        fraction: f64,
        /// Seeds the choice of the held-out pairs.
        seed: u64,
    },
    /// Pairs drawn fresh from the ground-truth reward, as the scenario's `generate` draws its
    /// pairs (its temperature and sampling) but `count` per prompt, with a seed and a random
    /// stream of their own; every pair of the scenario trains.
    Fresh {
        /// Held-out pairs per prompt.
        count: usize,
        /// Seeds the draws.
        seed: u64,
    },
}

/// The `sweep` block: the grid's axes and the replicates per setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The grid's axes, the first varying slowest.
    pub axes: Vec<Axis>,
    /// Runs per setting, each with its own seed (at least 1).
    pub replicates: u32,
}

/// A point of the grid for one template: a setting, whose replicates are summarised together.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The template run (an index into the scenario's runs).
    pub template: usize,
    /// The template's name.
    pub template_name: String,
    /// Each axis's value at this point, in the axes' order.
    pub point: Vec<Value>,
    /// The runs of this setting's replicates (indices into [`Expanded::runs`]).
    pub runs: std::ops::Range<usize>,
}

impl Setting {
    /// `beta = 0.5, gamma = 1`: the point in words (empty with no axes).
    pub fn label(&self, axes: &[Axis]) -> String {
        point_label(axes, &self.point)
    }
}

/// A point in words: `beta = 0.5, gamma = 1` (empty with no axes).
fn point_label(axes: &[Axis], point: &[Value]) -> String {
    axes.iter()
        .zip(point)
        .map(|(axis, value)| format!("{} = {}", axis.field.name(), value.text()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A sweep applied to its templates: one configuration per run, grouped by setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Expanded {
    /// Every setting, template by template, each point in grid order.
    pub settings: Vec<Setting>,
    /// Every run: each setting's replicates in a row.
    pub runs: Vec<RunConfig>,
}

/// The constant replicate seeds step by (odd, so the replicates of one template never share a
/// seed: `r * K` differs for every `r` below 2^64). The fractional bits of the golden ratio.
pub const REPLICATE_STRIDE: u64 = 0x9E37_79B9_7F4A_7C15;

/// Replicate `replicate`'s seed for a run seeded `seed`: `seed` itself for replicate 0.
pub fn replicate_seed(seed: u64, replicate: u32) -> u64 {
    seed.wrapping_add(REPLICATE_STRIDE.wrapping_mul(replicate as u64))
}

impl Sweep {
    /// The number of points of the grid (1 without axes).
    pub fn points(&self) -> usize {
        self.axes
            .iter()
            .map(|axis| axis.points().len())
            .fold(1usize, usize::saturating_mul)
    }

    /// How many runs the sweep makes of `templates` runs.
    pub fn run_count(&self, templates: usize) -> usize {
        templates
            .saturating_mul(self.points())
            .saturating_mul(self.replicates as usize)
    }

    /// Checks every setting the sweep makes of `templates` (each template at each point of the
    /// grid) without building its runs: what reading a scenario does. The replicates differ
    /// only in their seed and name, which a configuration's check does not read.
    pub fn check(&self, templates: &[RunConfig]) -> Result<(), InputError> {
        let axes: Vec<Vec<Value>> = self.axes.iter().map(Axis::points).collect();
        for (t, template) in templates.iter().enumerate() {
            for index in 0..self.points() {
                self.setting(&axes, t, template, index)?;
            }
        }
        Ok(())
    }

    /// Every template at every point with every replicate; each setting checked, an error
    /// naming the axis and the template that a value does not fit.
    pub fn expand(&self, templates: &[RunConfig]) -> Result<Expanded, InputError> {
        let axes: Vec<Vec<Value>> = self.axes.iter().map(Axis::points).collect();
        let points = self.points();
        let mut settings = Vec::with_capacity(templates.len() * points);
        let mut runs = Vec::with_capacity(self.run_count(templates.len()));
        for (t, template) in templates.iter().enumerate() {
            for index in 0..points {
                let (point, config) = self.setting(&axes, t, template, index)?;
                let label = point_label(&self.axes, &point);
                let first = runs.len();
                for replicate in 0..self.replicates {
                    let mut run = config.clone();
                    run.seed = replicate_seed(config.seed, replicate);
                    run.name = match (label.is_empty(), self.replicates > 1) {
                        (true, false) => template.name.clone(),
                        (true, true) => format!("{} #{replicate}", template.name),
                        (false, false) => format!("{} ({label})", template.name),
                        (false, true) => format!("{} ({label}) #{replicate}", template.name),
                    };
                    runs.push(run);
                }
                settings.push(Setting {
                    template: t,
                    template_name: template.name.clone(),
                    point,
                    runs: first..runs.len(),
                });
            }
        }
        Ok(Expanded { settings, runs })
    }

    /// Template `t` at point `index` of the grid (`axes`: each axis's points; the first axis
    /// varies slowest): the point's values and the configuration, checked.
    fn setting(
        &self,
        axes: &[Vec<Value>],
        t: usize,
        template: &RunConfig,
        index: usize,
    ) -> Result<(Vec<Value>, RunConfig), InputError> {
        let mut rest = index;
        let mut point = vec![Value::Number(0.0); axes.len()];
        for (a, values) in axes.iter().enumerate().rev() {
            point[a] = values[rest % values.len()];
            rest /= values.len();
        }
        let mut config = template.clone();
        // `gamma_over_beta` last: it reads the setting's beta.
        let order = (0..axes.len())
            .filter(|&a| self.axes[a].field != Field::GammaOverBeta)
            .chain((0..axes.len()).filter(|&a| self.axes[a].field == Field::GammaOverBeta));
        for a in order {
            apply(&mut config, self.axes[a].field, point[a]).map_err(|message| {
                InputError::new(
                    format!("sweep.axes[{a}]"),
                    format!("run {t} ({:?}): {message}", template.name),
                )
            })?;
        }
        config.validate().map_err(|error| {
            InputError::new(
                "sweep",
                format!(
                    "run {t} ({:?}) at {}: {}",
                    template.name,
                    point_label(&self.axes, &point),
                    error.message
                ),
            )
        })?;
        Ok((point, config))
    }
}

/// Sets `field` of `config` to `value`; a message when the run has no such setting.
fn apply(config: &mut RunConfig, field: Field, value: Value) -> Result<(), String> {
    let number = |value: Value| {
        value
            .number()
            .ok_or_else(|| "expected a number".to_string())
    };
    match field {
        Field::Loss => match value {
            Value::Loss(loss) => config.loss = loss,
            Value::Number(_) => return Err("expected a loss name".into()),
        },
        Field::Beta => config.beta = number(value)? as f32,
        Field::Gamma => config.gamma = number(value)? as f32,
        Field::GammaOverBeta => config.gamma = (number(value)? * config.beta as f64) as f32,
        Field::Alpha => config.alpha = number(value)? as f32,
        Field::Margin => config.margin = number(value)? as f32,
        Field::Lr => {
            let x = number(value)? as f32;
            match &mut config.optimizer {
                Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => *lr = x,
            }
        }
        Field::BatchSize => {
            let x = number(value)?;
            config.batch_size = Some(x as usize);
        }
        Field::Seed => config.seed = number(value)? as u64,
        Field::InitScale => match &mut config.init {
            Init::Random { scale } => *scale = number(value)? as f32,
            _ => {
                return Err(
                    "init_scale needs a random initial policy (init kind \"random\")".into(),
                )
            }
        },
        Field::Lambda => match &mut config.regularizer {
            Regularizer::L2 { lambda } | Regularizer::Kl { lambda } => {
                *lambda = number(value)? as f32
            }
            _ => return Err("lambda needs an \"l2\" or \"kl\" regularizer".into()),
        },
        Field::P => match &mut config.regularizer {
            Regularizer::Mixout { p } => *p = number(value)? as f32,
            _ => return Err("p needs a \"mixout\" regularizer".into()),
        },
    }
    Ok(())
}

/// A metric's spread over a setting's replicates.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Finite values summarised.
    pub count: usize,
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation (`n - 1` in the denominator; 0 for one value).
    pub std: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The 10th, 25th, 50th (median), 75th and 90th percentiles, each interpolated linearly
    /// between the two sorted values around position `q (n - 1)` (numpy's default).
    pub quantiles: [f64; 5],
}

/// The percentiles [`Summary::quantiles`] holds, in order.
pub const QUANTILES: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

/// The band drawn around a mean over replicates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Band {
    /// From the smallest to the largest value.
    #[default]
    MinMax,
    /// From the 10th to the 90th percentile.
    Deciles,
    /// From the 25th to the 75th percentile.
    Quartiles,
}

impl Band {
    /// Every band, by the name `dpo sweep --band` and the page take.
    pub const ALL: [(&'static str, Band); 3] = [
        ("min-max", Band::MinMax),
        ("p10-p90", Band::Deciles),
        ("iqr", Band::Quartiles),
    ];

    /// The band named `name` (one of [`Band::ALL`]).
    pub fn named(name: &str) -> Option<Band> {
        Band::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, band)| band)
    }

    /// Its low and high ends for `summary`.
    pub fn bounds(self, summary: &Summary) -> (f64, f64) {
        match self {
            Band::MinMax => (summary.min, summary.max),
            Band::Deciles => (summary.quantiles[0], summary.quantiles[4]),
            Band::Quartiles => (summary.quantiles[1], summary.quantiles[3]),
        }
    }

    /// How a chart's title says it.
    pub fn describe(self) -> &'static str {
        match self {
            Band::MinMax => "band min-max",
            Band::Deciles => "band 10th-90th percentile",
            Band::Quartiles => "band interquartile",
        }
    }
}

/// The spread of the finite values among `values` (`None` when there is none).
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return None;
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        (finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let mut sorted = finite;
    // In `total_cmp`'s order: -0 before +0, so that which zero is the minimum or a quantile
    // does not depend on the sort (`<` leaves them unordered).
    super::order::sort_by(&mut sorted, |a, b| a.total_cmp(b).is_lt());
    let quantile = |q: f64| {
        let at = q * (n - 1) as f64;
        let (below, above) = (at.floor() as usize, at.ceil() as usize);
        sorted[below] + (sorted[above] - sorted[below]) * (at - below as f64)
    };
    Some(Summary {
        count: n,
        mean,
        std,
        min: sorted[0],
        max: sorted[n - 1],
        quantiles: QUANTILES.map(quantile),
    })
}

/// What a sweep reports of each run, by name: the training metrics, the shares of the learning
/// signal summed over training in each cell of the learning table, and the held-out pairs'
/// loss and accuracy (with `validation`). A metric that does not apply (no ground truth, no
/// held-out pairs) is left out of the report.
pub const SWEEP_METRICS: [&str; 14] = [
    "loss",
    "accuracy",
    "kl",
    "entropy",
    "reward_margin",
    "true_reward",
    "ranking_agreement",
    "share_rr",
    "share_rw",
    "share_wr",
    "share_ww",
    "validation_loss",
    "validation_accuracy",
    "validation_reward_margin",
];

/// One run's metrics at one step: on its training pairs, and on the held-out ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Steps trained.
    pub step: u64,
    /// On the training pairs.
    pub train: Metrics,
    /// On the held-out pairs (with `validation`).
    pub validation: Option<Metrics>,
}

impl Checkpoint {
    /// The value of a metric of [`SWEEP_METRICS`], `None` where it does not apply.
    pub fn value(&self, name: &str) -> Option<f64> {
        let share = |cell: usize| {
            self.train
                .accumulated_table
                .as_ref()
                .map(|table| table.cells()[cell].share)
        };
        let validation = self.validation.as_ref();
        match name {
            "loss" => Some(self.train.loss),
            "accuracy" => Some(self.train.accuracy),
            "kl" => Some(self.train.kl),
            "entropy" => Some(self.train.entropy),
            "reward_margin" => Some(self.train.reward_margin),
            "true_reward" => self.train.true_reward,
            "ranking_agreement" => self.train.ranking_agreement,
            "share_rr" => share(0),
            "share_rw" => share(1),
            "share_wr" => share(2),
            "share_ww" => share(3),
            "validation_loss" => validation.map(|m| m.loss),
            "validation_accuracy" => validation.map(|m| m.accuracy),
            "validation_reward_margin" => validation.map(|m| m.reward_margin),
            _ => None,
        }
    }
}

/// A record taken at every checkpoint, bounded: past [`Checkpoints::CAPACITY`] checkpoints every
/// other one is dropped (the first and the newest always stay), so a long sweep with frequent
/// checkpoints keeps a fixed amount per setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoints<T> {
    /// Per checkpoint kept: its step and what was recorded, in step order.
    pub checkpoints: Vec<(u64, T)>,
}

impl<T> Default for Checkpoints<T> {
    fn default() -> Self {
        Checkpoints {
            checkpoints: Vec::new(),
        }
    }
}

impl<T> Checkpoints<T> {
    /// The most checkpoints kept.
    pub const CAPACITY: usize = 64;

    fn record(&mut self, step: u64, value: T) {
        if self.checkpoints.len() >= Self::CAPACITY {
            // Keep the even-numbered ones (the first included); the new one goes last.
            let mut index = 0;
            self.checkpoints.retain(|_| {
                index += 1;
                index % 2 == 1
            });
        }
        self.checkpoints.push((step, value));
    }
}

/// The reward–KL frontier's record: at each checkpoint, every setting's replicates at their
/// mean KL to the reference and mean expected true reward (the points of the DPO paper's
/// frontier figure, Rafailov et al. 2023, figure 2 left). Kept for scenarios with a ground-truth
/// reward.
pub type Frontier = Checkpoints<Vec<FrontierPoint>>;

/// A setting's point on the frontier at one checkpoint: `(mean KL, mean true reward)`, `None`
/// when no replicate's metrics are finite.
pub type FrontierPoint = Option<(f64, f64)>;

/// The metrics whose course over training a sweep records ([`Curves`]).
pub const CURVE_METRICS: [&str; 6] = [
    "loss",
    "accuracy",
    "kl",
    "true_reward",
    "validation_loss",
    "validation_accuracy",
];

/// The training curves' record: at each checkpoint, every setting's statistics over its
/// replicates for each metric of [`CURVE_METRICS`] (`None` where it does not apply), indexed
/// `[setting][metric]`.
pub type Curves = Checkpoints<Vec<Vec<Option<Summary>>>>;

/// Mean KL and mean true reward over `checkpoints` (their finite values), `None` when no run has
/// both.
fn frontier_point(checkpoints: &[Option<Checkpoint>]) -> FrontierPoint {
    let pairs: Vec<(f64, f64)> = checkpoints
        .iter()
        .flatten()
        .filter_map(|c| Some((c.train.kl, c.train.true_reward?)))
        .filter(|(kl, reward)| kl.is_finite() && reward.is_finite())
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let (kl, reward) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (kl, reward)| (a + kl, b + reward));
    Some((kl / n, reward / n))
}

/// A sweep being trained: every run of the grid in one [`RunSet`], the held-out pairs scored
/// beside them, each run's latest and best checkpoint kept (best: the lowest held-out loss, the
/// earliest on a tie; without held-out pairs there is no best).
pub struct SweepTraining {
    /// The settings and their runs' configurations.
    pub expanded: Expanded,
    /// The runs, on the training pairs.
    pub set: RunSet,
    validation: Option<(Problem, Vec<Run>)>,
    latest: Vec<Option<Checkpoint>>,
    best: Vec<Option<Checkpoint>>,
    frontier: Frontier,
    curves: Curves,
}

impl SweepTraining {
    /// The sweep of `templates` over `train`, scored on `validation` too when given.
    pub fn new(
        sweep: &Sweep,
        templates: &[RunConfig],
        train: Problem,
        validation: Option<Problem>,
    ) -> Result<SweepTraining, InputError> {
        let expanded = sweep.expand(templates)?;
        let set = RunSet::new(train, expanded.runs.clone())?;
        let validation = match validation {
            Some(problem) => {
                let shadows = expanded
                    .runs
                    .iter()
                    .map(|config| Run::new(config.clone(), &problem))
                    .collect::<Result<Vec<_>, _>>()?;
                Some((problem, shadows))
            }
            None => None,
        };
        let n = expanded.runs.len();
        Ok(SweepTraining {
            expanded,
            set,
            validation,
            latest: vec![None; n],
            best: vec![None; n],
            frontier: Frontier::default(),
            curves: Curves::default(),
        })
    }

    /// Trains every run `steps` steps.
    pub fn step(&mut self, steps: u64) {
        self.set.step(steps);
    }

    /// Records every run's metrics now, on both sets of pairs.
    pub fn checkpoint(&mut self) {
        let train = self.set.metrics();
        let validation: Option<Vec<Metrics>> =
            self.validation.as_mut().map(|(problem, shadows)| {
                let runs = self.set.runs();
                let score = |(shadow, run): (&mut Run, &Run)| {
                    shadow.set_logits(run.logits());
                    shadow.metrics(problem)
                };
                // On every core when the run set's own metrics would be (the same work).
                #[cfg(not(target_arch = "wasm32"))]
                if self.set.worth_threads(1) {
                    use rayon::prelude::*;
                    return shadows
                        .par_iter_mut()
                        .zip(runs.par_iter())
                        .map(score)
                        .collect();
                }
                shadows.iter_mut().zip(runs.iter()).map(score).collect()
            });
        for (i, train) in train.into_iter().enumerate() {
            let checkpoint = Checkpoint {
                step: train.step,
                validation: validation.as_ref().map(|v| v[i].clone()),
                train,
            };
            let better = match (&checkpoint.validation, &self.best[i]) {
                (
                    Some(now),
                    Some(Checkpoint {
                        validation: Some(best),
                        ..
                    }),
                ) => now.loss.is_finite() && !checkpoint.train.diverged && now.loss < best.loss,
                (Some(now), None) => now.loss.is_finite() && !checkpoint.train.diverged,
                _ => false,
            };
            if better {
                self.best[i] = Some(checkpoint.clone());
            }
            self.latest[i] = Some(checkpoint);
        }
        let step = self.set.runs().first().map_or(0, Run::steps);
        if self.set.problem().true_reward().is_some() {
            let points = self
                .expanded
                .settings
                .iter()
                .map(|setting| frontier_point(&self.latest[setting.runs.clone()]))
                .collect();
            self.frontier.record(step, points);
        }
        let statistics = self
            .expanded
            .settings
            .iter()
            .map(|setting| {
                let latest = &self.latest[setting.runs.clone()];
                CURVE_METRICS
                    .iter()
                    .map(|&name| {
                        let values: Vec<f64> = latest
                            .iter()
                            .flatten()
                            .filter_map(|c| c.value(name))
                            .collect();
                        summarize(&values)
                    })
                    .collect()
            })
            .collect();
        self.curves.record(step, statistics);
    }

    /// The training curves recorded so far: each setting's statistics over its replicates at
    /// every checkpoint kept.
    pub fn curves(&self) -> &Curves {
        &self.curves
    }

    /// The reward–KL frontier recorded so far (empty without a ground-truth reward).
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Each run's latest checkpoint (`None` before the first).
    pub fn latest(&self) -> &[Option<Checkpoint>] {
        &self.latest
    }

    /// Each run's best checkpoint by held-out loss (`None` without held-out pairs).
    pub fn best(&self) -> &[Option<Checkpoint>] {
        &self.best
    }

    /// Every setting's statistics over its replicates, at the latest checkpoint and at each
    /// run's best one.
    pub fn summaries(&self) -> Vec<SettingSummary> {
        self.expanded
            .settings
            .iter()
            .map(|setting| {
                let runs = setting.runs.clone();
                let latest: Vec<&Checkpoint> = self.latest[runs.clone()].iter().flatten().collect();
                let best: Vec<&Checkpoint> = self.best[runs.clone()].iter().flatten().collect();
                let diverged = self.set.runs()[runs.clone()]
                    .iter()
                    .filter(|run| run.diverged_at().is_some())
                    .count();
                SettingSummary {
                    setting: setting.clone(),
                    diverged,
                    latest: summarize_metrics(&latest),
                    best: summarize_metrics(&best),
                    best_step: summarize(&best.iter().map(|c| c.step as f64).collect::<Vec<_>>()),
                }
            })
            .collect()
    }
}

/// The metrics among `names` that at least one setting reports (a metric that applies to the
/// scenario: the ground truth's need a reward, the held-out ones held-out pairs).
pub fn reported(names: &[&'static str], summaries: &[SettingSummary]) -> Vec<&'static str> {
    names
        .iter()
        .copied()
        .filter(|&m| {
            summaries
                .iter()
                .any(|s| s.latest.iter().any(|&(n, _)| n == m))
        })
        .collect()
}

/// Each metric of [`SWEEP_METRICS`] that applies, summarised over `checkpoints`.
fn summarize_metrics(checkpoints: &[&Checkpoint]) -> Vec<(&'static str, Summary)> {
    SWEEP_METRICS
        .iter()
        .filter_map(|&name| {
            let values: Vec<f64> = checkpoints.iter().filter_map(|c| c.value(name)).collect();
            summarize(&values).map(|summary| (name, summary))
        })
        .collect()
}

/// One setting's statistics over its replicates.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingSummary {
    /// The setting.
    pub setting: Setting,
    /// Replicates that diverged (their last finite state is counted).
    pub diverged: usize,
    /// At the latest checkpoint.
    pub latest: Vec<(&'static str, Summary)>,
    /// At each replicate's best checkpoint by held-out loss (empty without held-out pairs).
    pub best: Vec<(&'static str, Summary)>,
    /// The step of each replicate's best checkpoint.
    pub best_step: Option<Summary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_averages_only_runs_with_a_finite_kl_and_reward() {
        let at = |kl: f64, reward: Option<f64>| {
            Some(Checkpoint {
                step: 1,
                train: Metrics {
                    kl,
                    true_reward: reward,
                    ..Metrics::default()
                },
                validation: None,
            })
        };
        let checkpoints = [
            at(1.0, Some(2.0)),
            at(f64::NAN, Some(5.0)),
            at(4.0, Some(f64::INFINITY)),
            at(2.0, None),
            None,
            at(3.0, Some(4.0)),
        ];
        assert_eq!(frontier_point(&checkpoints), Some((2.0, 3.0)));
        assert_eq!(frontier_point(&checkpoints[1..5]), None);
    }
}
