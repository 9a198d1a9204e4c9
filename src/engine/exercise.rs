//! Classroom exercises: a question about which cells of each run's learning table will learn,
//! the teacher's answer, and the marking of a student's prediction against what the runs
//! measure. The scenario format's `exercise` block (read and written by `crate::scenario`)
//! holds an [`Exercise`]; a page hides the outcome until the student has predicted and trained,
//! then calls [`mark`]. [`check_answers`] holds the teacher's answer to the same measurement,
//! so a shipped exercise cannot say what the engine does not do.
//!
//! The measurement is the accumulated learning table ([`Metrics::accumulated_table`]): the
//! signal `w |phi'(u)|` summed over every step taken, in the cell each pair was in at that step.
//! A cell *learns* when its share of that sum is at least [`LEARNS_SHARE`].

use super::config::RunConfig;
use super::metrics::{LearningTable, Metrics};
use serde::Serialize;

/// The share of a run's signal, summed over training, from which a cell counts as learning: 1%.
///
/// Not "any signal at all": the logistic loss's slope `sigmoid(-u)` is never exactly 0, so a
/// pair that passes through a cell for a step or two leaves a sliver of signal there, and a
/// threshold of 0 would make every cell any pair ever visited "learn", which is not what a
/// student reading the table means by it. Not much more either: the argument's exact cases
/// (the hinge's silent cells) have a share of exactly 0, and the cells that do learn in the
/// shipped exercises carry several percent or more, so 1% separates them with room on both
/// sides. It is also where the page's table, which shows shares as whole percentages, stops
/// showing "0%".
pub const LEARNS_SHARE: f64 = 0.01;

/// The cells of the learning table by name, in the table's reading order: reference right and
/// policy right, reference right and policy wrong, reference wrong and policy right, both wrong
/// (the suffixes of the CSV columns `accumulated_share_rr` ...).
pub const CELLS: [&str; 4] = ["rr", "rw", "wr", "ww"];

/// What each cell of [`CELLS`] holds, in words.
pub const CELL_MEANINGS: [&str; 4] = [
    "reference right, policy right",
    "reference right, policy wrong",
    "reference wrong, policy right",
    "reference wrong, policy wrong",
];

/// The page's panels an exercise may hide (`exercise.hide`).
pub const PANELS: [&str; 18] = [
    "preset",
    "transport",
    "about",
    "status",
    "meta",
    "curves",
    "tables",
    "predicted",
    "claims",
    "metrics",
    "rewards",
    "truth",
    "policy",
    "margins",
    "knobs",
    "editors",
    "file",
    "sweep",
];

/// The panels that show how training turned out, or give the answer away (what the argument
/// predicts, the claims checked, and `file`, whose scenario text holds the answer): a page hides
/// them during an exercise until the student has predicted and trained, whatever
/// `exercise.hide` says (which hides panels for good, the reveal included).
pub const HIDDEN_UNTIL_REVEAL: [&str; 11] = [
    "curves",
    "tables",
    "predicted",
    "claims",
    "metrics",
    "rewards",
    "truth",
    "policy",
    "margins",
    "file",
    "sweep",
];

/// What an exercise may lock (`exercise.lock`): a run field (every run's), or `preset`, `data`,
/// `runs` (adding, removing and replacing runs), as the page's embedding `lock` option reads them.
pub const LOCKABLE: [&str; 15] = [
    "name",
    "loss",
    "beta",
    "gamma",
    "margin",
    "alpha",
    "length_normalize",
    "init",
    "optimizer",
    "batch_size",
    "seed",
    "regularizer",
    "preset",
    "data",
    "runs",
];

/// `names` as an error message lists them: `"a", "b" or "c"`.
pub fn quoted_list(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A set of cells of the learning table, in the order of [`CELLS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cells(pub [bool; 4]);

impl Cells {
    /// The cell named `name` ([`CELLS`]), by its index.
    pub fn index_of(name: &str) -> Option<usize> {
        CELLS.iter().position(|&cell| cell == name)
    }

    /// The names of the cells in the set, in table order.
    pub fn names(&self) -> Vec<&'static str> {
        CELLS
            .iter()
            .zip(self.0)
            .filter(|(_, inside)| *inside)
            .map(|(&name, _)| name)
            .collect()
    }

    /// The cells of `table` holding at least [`LEARNS_SHARE`] of its signal (none when it has
    /// no signal at all).
    pub fn learning(table: &LearningTable) -> Cells {
        Cells(table.cells().map(|cell| cell.share >= LEARNS_SHARE))
    }
}

impl Serialize for Cells {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

/// What an exercise asks about one run, with the teacher's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PredictRun {
    /// The run, by index.
    pub run: usize,
    /// The cells that learn over training (the teacher's answer; in a student's prediction, the
    /// cells they ticked).
    pub learns: Cells,
}

/// A metric at the end of training that an exercise may ask to compare across its runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompareMetric {
    /// The weighted share of pairs the policy ranks right.
    Accuracy,
    /// The mean over prompts of `KL(pi || pi0)`.
    Kl,
    /// The weighted mean of the per-pair loss.
    Loss,
}

impl CompareMetric {
    /// Every metric, in the order of [`COMPARE_METRICS`].
    pub const ALL: [CompareMetric; 3] = [
        CompareMetric::Accuracy,
        CompareMetric::Kl,
        CompareMetric::Loss,
    ];

    /// Its name in the format.
    pub fn name(self) -> &'static str {
        match self {
            CompareMetric::Accuracy => "accuracy",
            CompareMetric::Kl => "kl",
            CompareMetric::Loss => "loss",
        }
    }

    /// The metric named `name`.
    pub fn named(name: &str) -> Option<CompareMetric> {
        CompareMetric::ALL
            .into_iter()
            .find(|metric| metric.name() == name)
    }

    /// Its value in `metrics`.
    pub fn value(self, metrics: &Metrics) -> f64 {
        match self {
            CompareMetric::Accuracy => metrics.accuracy,
            CompareMetric::Kl => metrics.kl,
            CompareMetric::Loss => metrics.loss,
        }
    }
}

/// The names of the metrics `exercise.compare.metric` takes.
pub const COMPARE_METRICS: [&str; 3] = ["accuracy", "kl", "loss"];

/// Which predicted run ends with the higher value of a metric (the teacher's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compare {
    /// The metric, at the end of training.
    pub metric: CompareMetric,
    /// The run that ends higher than every other predicted run, by index.
    pub higher: usize,
}

/// A classroom exercise: the scenario format's `exercise` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Exercise {
    /// What the student is asked.
    pub question: String,
    /// The runs the student predicts, each with the teacher's answer (at least one, each run once).
    pub predict: Vec<PredictRun>,
    /// Optionally, which of the predicted runs ends with the higher accuracy, KL or loss.
    pub compare: Option<Compare>,
    /// Shown after the reveal.
    pub explanation: Option<String>,
    /// Panels hidden throughout ([`PANELS`]), besides [`HIDDEN_UNTIL_REVEAL`] until the reveal.
    pub hide: Vec<String>,
    /// What the student may not change ([`LOCKABLE`]).
    pub lock: Vec<String>,
}

/// A student's prediction: the cells they ticked per predicted run (a run left out ticked
/// none), and for a comparison the run they chose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StudentPrediction {
    /// Per run, the ticked cells.
    pub runs: Vec<PredictRun>,
    /// The run they say ends higher (`None`: not answered).
    pub higher: Option<usize>,
}

/// The cells of a run's learning table that learn over the training it has had: those with at
/// least [`LEARNS_SHARE`] of the signal summed over the steps taken. `None` when the table summed
/// over training is not tracked (a state trained by the GPU backend or set from outside): then
/// there is nothing to mark against, and no guess is made.
pub fn measured_cells(metrics: &Metrics) -> Option<Cells> {
    metrics.accumulated_table.as_ref().map(Cells::learning)
}

/// Why a prediction cannot be marked against the runs at hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unavailable {
    /// A sentence for the student (or the teacher).
    pub reason: String,
}

/// What one predicted run measures.
#[derive(Clone, Debug, PartialEq)]
struct MeasuredRun {
    run: usize,
    step: u64,
    cells: Cells,
    shares: [f64; 4],
}

/// The winner of a comparison: the predicted run whose value is above every other's.
#[derive(Clone, Debug, PartialEq)]
struct MeasuredCompare {
    values: Vec<(usize, f64)>,
    winner: Option<usize>,
}

/// Values within this (relative) of each other tie: nobody ends higher.
const TIE: f64 = 1e-9;

fn run_name(runs: &[RunConfig], run: usize) -> String {
    match runs.get(run) {
        Some(config) => format!("run {run} ({:?})", config.name),
        None => format!("run {run}"),
    }
}

/// What the predicted runs measure, or why that cannot be told.
fn measure(
    exercise: &Exercise,
    runs: &[RunConfig],
    metrics: &[Metrics],
) -> Result<(Vec<MeasuredRun>, Option<MeasuredCompare>), Unavailable> {
    let mut measured = Vec::new();
    for predict in &exercise.predict {
        let Some(run_metrics) = metrics.get(predict.run) else {
            return Err(Unavailable {
                reason: match metrics.len() {
                    1 => format!(
                        "the exercise asks about run {}, but there is 1 run",
                        predict.run
                    ),
                    count => format!(
                        "the exercise asks about run {}, but there are {count} runs",
                        predict.run
                    ),
                },
            });
        };
        if run_metrics.step == 0 {
            return Err(Unavailable {
                reason: format!(
                    "{} has not trained yet: train, then mark",
                    run_name(runs, predict.run)
                ),
            });
        }
        let Some(table) = &run_metrics.accumulated_table else {
            return Err(Unavailable {
                reason: format!(
                    "{} was trained where the learning table summed over training is not \
                     tracked (the GPU backend): train it on the CPU to mark the prediction",
                    run_name(runs, predict.run)
                ),
            });
        };
        measured.push(MeasuredRun {
            run: predict.run,
            step: run_metrics.step,
            cells: Cells::learning(table),
            shares: table.cells().map(|cell| cell.share),
        });
    }
    let compare = exercise.compare.map(|compare| {
        let values: Vec<(usize, f64)> = exercise
            .predict
            .iter()
            .map(|p| (p.run, compare.metric.value(&metrics[p.run])))
            .collect();
        MeasuredCompare {
            winner: winner(&values),
            values,
        }
    });
    Ok((measured, compare))
}

/// The run whose value is above every other's by more than [`TIE`]; `None` on a tie at the top
/// (or a value that is not finite).
fn winner(values: &[(usize, f64)]) -> Option<usize> {
    let &(best, top) = values.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let clear = values.iter().all(|&(run, value)| {
        run == best || (value.is_finite() && top - value > TIE * top.abs().max(1.0))
    });
    (top.is_finite() && clear).then_some(best)
}

/// One cell of a predicted run, marked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellMark {
    /// Its name ([`CELLS`]).
    pub cell: &'static str,
    /// What it holds, in words ([`CELL_MEANINGS`]).
    pub meaning: &'static str,
    /// The student ticked it: "this cell learns".
    pub predicted: bool,
    /// It learns over the training the run has had (its share is at least [`LEARNS_SHARE`]).
    pub measured: bool,
    /// The teacher's answer says it learns.
    pub answer: bool,
    /// Its share of the run's signal summed over training.
    pub share: f64,
    /// `predicted == measured`.
    pub right: bool,
}

/// One predicted run, marked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunMark {
    /// The run, by index.
    pub run: usize,
    /// Its name.
    pub name: String,
    /// The steps it has trained.
    pub step: u64,
    /// The four cells, in the order of [`CELLS`].
    pub cells: Vec<CellMark>,
    /// Every cell right.
    pub right: bool,
}

/// One run's value of the compared metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareValue {
    /// The run, by index.
    pub run: usize,
    /// Its name.
    pub name: String,
    /// The metric at its last step.
    pub value: f64,
}

/// The comparison, marked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareMark {
    /// The metric compared.
    pub metric: CompareMetric,
    /// Every predicted run's value.
    pub values: Vec<CompareValue>,
    /// The run that ends higher than every other predicted run (`None`: a tie at the top).
    pub measured: Option<usize>,
    /// The run the student chose (`None`: not answered).
    pub chosen: Option<usize>,
    /// The run the teacher's answer names.
    pub answer: usize,
    /// The student chose the run that measures highest.
    pub right: bool,
}

/// A student's prediction, marked against what the runs measure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Marking {
    /// Whether the runs could be measured; when not, `reason` says why and nothing is marked.
    pub available: bool,
    /// Why the marking is not available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Per predicted run, in the exercise's order.
    pub runs: Vec<RunMark>,
    /// The comparison, when the exercise has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareMark>,
    /// Marks right (cells, and the comparison when there is one).
    pub score: usize,
    /// Marks in all.
    pub total: usize,
    /// The teacher's explanation, to show with the marks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// Marks `prediction` for `exercise` against `metrics` (every run's metrics now, in run order;
/// `runs` their configurations, for the names): per predicted run and cell, whether the student
/// ticked it, whether it learns, and whether they agree; for the comparison, which run ends
/// higher and whether the student chose it. A cell is right when the prediction matches the
/// measurement (the teacher's answer is reported beside it, and [`check_answers`] holds the
/// shipped answers to the same measurement). Not available, with the reason, when a predicted run
/// has not trained, does not exist, or was trained where the accumulated table is not tracked.
pub fn mark(
    exercise: &Exercise,
    runs: &[RunConfig],
    metrics: &[Metrics],
    prediction: &StudentPrediction,
) -> Marking {
    let explanation = exercise.explanation.clone();
    let (measured, compare) = match measure(exercise, runs, metrics) {
        Ok(measured) => measured,
        Err(unavailable) => {
            return Marking {
                available: false,
                reason: Some(unavailable.reason),
                runs: Vec::new(),
                compare: None,
                score: 0,
                total: 0,
                explanation,
            }
        }
    };
    let name = |run: usize| runs.get(run).map_or_else(String::new, |c| c.name.clone());
    // The student's ticks by run (every predicted run is below `metrics.len()`, as measured).
    let mut ticks = vec![Cells::default(); metrics.len()];
    for p in &prediction.runs {
        if let Some(slot) = ticks.get_mut(p.run) {
            *slot = p.learns;
        }
    }
    let mut score = 0;
    let mut total = 0;
    let run_marks: Vec<RunMark> = exercise
        .predict
        .iter()
        .zip(&measured)
        .map(|(answer, measured)| {
            let ticked = ticks[answer.run];
            let cells: Vec<CellMark> = (0..4)
                .map(|c| CellMark {
                    cell: CELLS[c],
                    meaning: CELL_MEANINGS[c],
                    predicted: ticked.0[c],
                    measured: measured.cells.0[c],
                    answer: answer.learns.0[c],
                    share: measured.shares[c],
                    right: ticked.0[c] == measured.cells.0[c],
                })
                .collect();
            score += cells.iter().filter(|c| c.right).count();
            total += cells.len();
            RunMark {
                run: answer.run,
                name: name(answer.run),
                step: measured.step,
                right: cells.iter().all(|c| c.right),
                cells,
            }
        })
        .collect();
    let compare = exercise.compare.zip(compare).map(|(teacher, measured)| {
        let right = prediction.higher.is_some() && prediction.higher == measured.winner;
        score += usize::from(right);
        total += 1;
        CompareMark {
            metric: teacher.metric,
            values: measured
                .values
                .iter()
                .map(|&(run, value)| CompareValue {
                    run,
                    name: name(run),
                    value,
                })
                .collect(),
            measured: measured.winner,
            chosen: prediction.higher,
            answer: teacher.higher,
            right,
        }
    });
    Marking {
        available: true,
        reason: None,
        runs: run_marks,
        compare,
        score,
        total,
        explanation,
    }
}

/// A place where the teacher's answer is not what the runs measure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// The field of the answer: `exercise.predict[1].learns` or `exercise.compare.higher`.
    pub path: String,
    /// What the answer says and what the runs measure.
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn cell_list(cells: Cells) -> String {
    format!("[{}]", quoted_list_all(&cells.names()))
}

/// `"a", "b", "c"` (every name, comma-separated; empty for none).
fn quoted_list_all(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the teacher's answers (`learns` of every predicted run, and `compare.higher`) differ
/// from what the runs measure now (`metrics`: every run's metrics, in run order, after the
/// exercise's training). Empty when they agree; `Err` when the runs cannot be measured (see
/// [`mark`]).
pub fn check_answers(
    exercise: &Exercise,
    runs: &[RunConfig],
    metrics: &[Metrics],
) -> Result<Vec<Mismatch>, Unavailable> {
    let (measured, compare) = measure(exercise, runs, metrics)?;
    let mut mismatches = Vec::new();
    for (i, (answer, measured)) in exercise.predict.iter().zip(&measured).enumerate() {
        if answer.learns != measured.cells {
            let shares: Vec<String> = CELLS
                .iter()
                .zip(measured.shares)
                .map(|(cell, share)| format!("{cell} {:.1}%", 100.0 * share))
                .collect();
            mismatches.push(Mismatch {
                path: format!("exercise.predict[{i}].learns"),
                message: format!(
                    "the answer is {}, but {} learns in {} after {} steps (shares of its signal: {})",
                    cell_list(answer.learns),
                    run_name(runs, answer.run),
                    cell_list(measured.cells),
                    measured.step,
                    shares.join(", ")
                ),
            });
        }
    }
    if let (Some(teacher), Some(measured)) = (exercise.compare, compare) {
        if measured.winner != Some(teacher.higher) {
            let values: Vec<String> = measured
                .values
                .iter()
                .map(|&(run, value)| format!("{} {value:.4}", run_name(runs, run)))
                .collect();
            let what = match measured.winner {
                Some(run) => format!("{} ends higher", run_name(runs, run)),
                None => "no run ends higher than every other".to_string(),
            };
            mismatches.push(Mismatch {
                path: "exercise.compare.higher".to_string(),
                message: format!(
                    "the answer is {}, but {what} ({}: {})",
                    run_name(runs, teacher.higher),
                    teacher.metric.name(),
                    values.join(", ")
                ),
            });
        }
    }
    Ok(mismatches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_cells_read_as_declared() {
        assert_eq!(quoted_list(&CELLS), r#""rr", "rw", "wr" or "ww""#);
        assert_eq!(Cells::index_of("wr"), Some(2));
        assert_eq!(Cells([true, false, false, true]).names(), ["rr", "ww"]);
        let names: Vec<&str> = CompareMetric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names, COMPARE_METRICS);
        for panel in HIDDEN_UNTIL_REVEAL {
            assert!(PANELS.contains(&panel), "{panel}");
        }
    }

    #[test]
    fn a_tie_at_the_top_has_no_winner() {
        assert_eq!(winner(&[(0, 1.0), (1, 0.5)]), Some(0));
        assert_eq!(winner(&[(0, 1.0), (1, 1.0)]), None);
        assert_eq!(winner(&[(0, 0.2), (1, 0.7), (2, 0.7 - 1e-12)]), None);
        assert_eq!(winner(&[(3, 2.0)]), Some(3));
        assert_eq!(winner(&[(0, f64::NAN), (1, 0.5)]), None);
        // "More than TIE" apart: exactly TIE below the top (0 - (-TIE), no rounding) still ties,
        // and the tolerance is relative above 1.
        assert_eq!(winner(&[(0, 0.0), (1, -TIE)]), None);
        assert_eq!(winner(&[(0, 0.0), (1, -2.0 * TIE)]), Some(0));
        assert_eq!(winner(&[(0, 1e6), (1, 1e6 - 1e-4)]), None);
        assert_eq!(winner(&[(0, 1e6), (1, 1e6 - 1e-2)]), Some(0));
    }
}
