//! Classroom exercises: the shipped exercises' answers are what the engine measures (and the
//! check that says so can fail), a prediction is marked right or wrong cell by cell, a bad
//! `exercise` block gets an error naming its field, and the block survives the canonical writer.

use dpo_playground::engine::exercise::{quoted_list, CELLS, HIDDEN_UNTIL_REVEAL, LOCKABLE, PANELS};
use dpo_playground::engine::{
    check_answers, mark, measured_cells, Cells, CompareMetric, Exercise, LearningCell,
    LearningTable, Metrics, PredictRun, RunConfig, RunSet, StudentPrediction, LEARNS_SHARE,
};
use dpo_playground::presets::{Preset, PRESETS};
use dpo_playground::scenario::{run_to_value, Scenario};

/// The exercises the playground ships.
const EXERCISES: [&str; 3] = [
    "exercise-large-gamma",
    "exercise-gamma-zero",
    "exercise-reference-init",
];

fn scenario(id: &str) -> Scenario {
    Preset::find(id)
        .unwrap_or_else(|| panic!("no preset {id}"))
        .scenario()
        .unwrap()
}

/// The preset's runs after its own number of steps, on the CPU.
fn trained(scenario: &Scenario) -> RunSet {
    let mut set = scenario.run_set().unwrap();
    set.step(scenario.steps);
    set
}

fn exercise(scenario: &Scenario) -> &Exercise {
    scenario
        .exercise
        .as_ref()
        .expect("an exercise preset has an exercise")
}

/// The teacher's answer, as a student would give it.
fn teachers_prediction(exercise: &Exercise) -> StudentPrediction {
    StudentPrediction {
        runs: exercise.predict.clone(),
        higher: exercise.compare.map(|c| c.higher),
    }
}

#[test]
fn the_shipped_exercises_are_presets_with_an_exercise() {
    let with_exercise: Vec<&str> = PRESETS
        .iter()
        .filter(|preset| preset.scenario().unwrap().exercise.is_some())
        .map(|preset| preset.id)
        .collect();
    assert_eq!(with_exercise, EXERCISES);
    for id in EXERCISES {
        let scenario = scenario(id);
        let exercise = exercise(&scenario);
        assert!(
            exercise.question.ends_with('?'),
            "{id}: {}",
            exercise.question
        );
        assert!(
            exercise
                .explanation
                .as_deref()
                .is_some_and(|e| e.len() > 200),
            "{id} explains its answer"
        );
        assert_eq!(scenario.steps, 200, "{id}");
        // Every run is asked about, and the field the question is about is locked.
        assert_eq!(exercise.predict.len(), scenario.runs.len(), "{id}");
        for field in ["loss", "gamma", "data"] {
            assert!(
                exercise.lock.iter().any(|l| l == field),
                "{id} locks {field}"
            );
        }
        // What the student reads before the reveal does not give the answer away.
        let description = scenario.description.as_deref().unwrap();
        assert!(description.contains("predict, then reveal"), "{id}");
        for word in ["learns in", "only the", "ends with every"] {
            assert!(!description.contains(word), "{id}: {word:?}");
        }
    }
}

/// The check of the teacher's answers against the measurement, on each shipped exercise, and
/// the same check failing on every wrong answer: each cell of each run flipped, and the
/// comparison pointed at another run.
#[test]
fn every_exercise_answer_is_what_the_engine_measures() {
    for id in EXERCISES {
        let scenario = scenario(id);
        let exercise = exercise(&scenario);
        let set = trained(&scenario);
        let metrics = set.metrics();
        let mismatches = check_answers(exercise, &scenario.runs, &metrics).unwrap();
        assert!(mismatches.is_empty(), "{id}: {mismatches:#?}");
        // The answer is what `measured_cells` says, run by run.
        for predict in &exercise.predict {
            assert_eq!(
                measured_cells(&metrics[predict.run]),
                Some(predict.learns),
                "{id}: run {}",
                predict.run
            );
        }
        // Each cell's share is far from the threshold: the answer does not hang on rounding.
        for predict in &exercise.predict {
            let table = metrics[predict.run].accumulated_table.unwrap();
            for cell in table.cells() {
                assert!(
                    cell.share == 0.0 || cell.share > 5.0 * LEARNS_SHARE,
                    "{id}: run {}: {cell:?}",
                    predict.run
                );
            }
        }
        // A wrong answer is caught, at its path.
        for (i, predict) in exercise.predict.iter().enumerate() {
            for cell in 0..4 {
                let mut wrong = exercise.clone();
                wrong.predict[i].learns.0[cell] = !predict.learns.0[cell];
                let mismatches = check_answers(&wrong, &scenario.runs, &metrics).unwrap();
                assert_eq!(mismatches.len(), 1, "{id}: run {i} cell {cell}");
                assert_eq!(mismatches[0].path, format!("exercise.predict[{i}].learns"));
            }
        }
        let compare = exercise.compare.expect("every shipped exercise compares");
        for other in exercise.predict.iter().filter(|p| p.run != compare.higher) {
            let mut wrong = exercise.clone();
            wrong.compare.as_mut().unwrap().higher = other.run;
            let mismatches = check_answers(&wrong, &scenario.runs, &metrics).unwrap();
            assert_eq!(mismatches.len(), 1, "{id}");
            assert_eq!(mismatches[0].path, "exercise.compare.higher");
            assert!(
                mismatches[0].message.contains("ends higher"),
                "{}",
                mismatches[0]
            );
        }
    }
}

#[test]
fn a_mismatch_says_what_the_runs_measure() {
    let scenario = scenario("exercise-large-gamma");
    let mut exercise = exercise(&scenario).clone();
    exercise.predict[0].learns = Cells([true, false, false, true]);
    let metrics = trained(&scenario).metrics();
    let mismatches = check_answers(&exercise, &scenario.runs, &metrics).unwrap();
    assert_eq!(
        mismatches[0].to_string(),
        "exercise.predict[0].learns: the answer is [\"rr\", \"ww\"], but run 0 (\"hinge, γ = 20\") \
         learns in [\"rr\"] after 200 steps (shares of its signal: rr 100.0%, rw 0.0%, wr 0.0%, \
         ww 0.0%)"
    );
}

/// What each explanation says, checked on the runs.
#[test]
fn the_explanations_are_what_the_runs_show() {
    // Large gamma: at the start every pair is on the diagonal (three rr, two ww); gamma = 20
    // never moves a pair off it and ends with three of five right; gamma = 0 ends with all right,
    // the two reference-wrong pairs now in wr.
    let scenario = scenario("exercise-large-gamma");
    let mut set = scenario.run_set().unwrap();
    for metrics in set.metrics() {
        let pairs = metrics.learning_table.cells().map(|c| c.pairs);
        assert_eq!(pairs, [3, 0, 0, 2]);
    }
    set.step(scenario.steps);
    let metrics = set.metrics();
    assert_eq!(
        metrics[0].learning_table.cells().map(|c| c.pairs),
        [3, 0, 0, 2]
    );
    assert!((metrics[0].accuracy - 0.6).abs() < 1e-12);
    assert_eq!(
        metrics[1].learning_table.cells().map(|c| c.pairs),
        [3, 0, 2, 0]
    );
    assert_eq!(metrics[1].accuracy, 1.0);

    // Gamma = 0: the random start puts one pair in rr, two in rw, one in wr and one in ww; the
    // hinge ends with every pair right, the logistic loss with one of five wrong.
    let scenario = self::scenario("exercise-gamma-zero");
    let mut set = scenario.run_set().unwrap();
    for metrics in set.metrics() {
        let pairs = metrics.learning_table.cells().map(|c| c.pairs);
        assert_eq!(pairs, [1, 2, 1, 1]);
    }
    set.step(scenario.steps);
    let metrics = set.metrics();
    assert_eq!(metrics[0].accuracy, 1.0);
    assert!((metrics[1].accuracy - 0.8).abs() < 1e-12);

    // Initialised at the reference: the hinge never moves (bit for bit) and its KL stays 0; DPO
    // ranks every pair right within 20 steps, and no pair is ever in rw. (The KL at the reference
    // is rounding: the logits are f32 `log pi0`, the reference's normaliser is taken in f64.)
    let scenario = self::scenario("exercise-reference-init");
    let mut set = scenario.run_set().unwrap();
    let initial: Vec<u32> = set.runs()[0].logits().iter().map(|l| l.to_bits()).collect();
    set.step(20);
    assert_eq!(set.metrics()[1].accuracy, 1.0);
    set.step(scenario.steps - 20);
    let after: Vec<u32> = set.runs()[0].logits().iter().map(|l| l.to_bits()).collect();
    assert_eq!(initial, after);
    let metrics = set.metrics();
    assert!(metrics[0].kl < 1e-6, "{}", metrics[0].kl);
    assert!(metrics[1].kl > 0.1);
    let dpo = metrics[1].accumulated_table.unwrap();
    assert_eq!(dpo.reference_right_policy_wrong.pairs, 0);
    let hinge = metrics[0].accumulated_table.unwrap();
    assert!(hinge.cells().iter().all(|c| c.signal == 0.0));
}

#[test]
fn a_prediction_is_marked_cell_by_cell() {
    let scenario = scenario("exercise-large-gamma");
    let exercise = exercise(&scenario);
    let metrics = trained(&scenario).metrics();

    // The right answer: every mark right.
    let marking = mark(
        exercise,
        &scenario.runs,
        &metrics,
        &teachers_prediction(exercise),
    );
    assert!(marking.available);
    assert_eq!((marking.score, marking.total), (9, 9));
    assert!(marking.runs.iter().all(|run| run.right));
    assert_eq!(marking.runs[0].name, "hinge, γ = 20");
    assert_eq!(marking.runs[0].step, 200);
    assert_eq!(marking.explanation, exercise.explanation);
    let compare = marking.compare.as_ref().unwrap();
    assert_eq!(compare.metric, CompareMetric::Accuracy);
    assert_eq!((compare.measured, compare.chosen), (Some(1), Some(1)));
    assert!(compare.right);

    // A wrong answer: "gamma = 20 learns rr and ww", "gamma = 0 learns nothing", and the wrong
    // run for the accuracy. Each cell is marked against the measurement.
    let wrong = StudentPrediction {
        runs: vec![PredictRun {
            run: 0,
            learns: Cells([true, false, false, true]),
        }],
        higher: Some(0),
    };
    let marking = mark(exercise, &scenario.runs, &metrics, &wrong);
    assert!(marking.available);
    let marks: Vec<Vec<(bool, bool, bool)>> = marking
        .runs
        .iter()
        .map(|run| {
            run.cells
                .iter()
                .map(|c| (c.predicted, c.measured, c.right))
                .collect()
        })
        .collect();
    let (t, f) = (true, false);
    assert_eq!(
        marks,
        [
            vec![(t, t, t), (f, f, t), (f, f, t), (t, f, f)],
            vec![(f, f, t), (f, f, t), (f, f, t), (f, t, f)],
        ]
    );
    assert_eq!(
        marking.runs[1]
            .cells
            .iter()
            .map(|c| c.answer)
            .collect::<Vec<_>>(),
        [f, f, f, t]
    );
    assert!(!marking.runs[0].right && !marking.runs[1].right);
    let compare = marking.compare.as_ref().unwrap();
    assert_eq!((compare.measured, compare.chosen), (Some(1), Some(0)));
    assert!(!compare.right);
    assert_eq!((marking.score, marking.total), (6, 9));

    // Not answering the comparison is not right either.
    let unanswered = StudentPrediction {
        higher: None,
        ..teachers_prediction(exercise)
    };
    let marking = mark(exercise, &scenario.runs, &metrics, &unanswered);
    assert!(!marking.compare.unwrap().right);
    assert_eq!((marking.score, marking.total), (8, 9));

    // "Nothing learns" is an answer, and right for the hinge started at the reference.
    let scenario = self::scenario("exercise-reference-init");
    let exercise = self::exercise(&scenario);
    let metrics = trained(&scenario).metrics();
    let marking = mark(
        exercise,
        &scenario.runs,
        &metrics,
        &teachers_prediction(exercise),
    );
    assert_eq!(marking.score, marking.total);
    assert!(marking.runs[0]
        .cells
        .iter()
        .all(|c| !c.measured && c.share == 0.0));
}

#[test]
fn marking_needs_the_table_summed_over_training() {
    let scenario = self::scenario("exercise-gamma-zero");
    let exercise = exercise(&scenario);
    let prediction = teachers_prediction(exercise);
    // Before any step there is nothing to mark.
    let fresh = scenario.run_set().unwrap().metrics();
    let marking = mark(exercise, &scenario.runs, &fresh, &prediction);
    assert!(!marking.available);
    assert_eq!(
        marking.reason.as_deref(),
        Some("run 0 (\"hinge, γ = 0\") has not trained yet: train, then mark")
    );
    assert!(marking.runs.is_empty() && marking.compare.is_none());
    // A state trained elsewhere (the GPU backend) has no accumulated table: no guess is made.
    let mut metrics = trained(&scenario).metrics();
    metrics[1].accumulated_table = None;
    assert_eq!(measured_cells(&metrics[1]), None);
    let marking = mark(exercise, &scenario.runs, &metrics, &prediction);
    assert!(!marking.available);
    assert!(
        marking.reason.as_deref().unwrap().starts_with(
            "run 1 (\"logistic, γ = 0\") was trained where the learning table summed over \
             training is not tracked"
        ),
        "{:?}",
        marking.reason
    );
    assert!(check_answers(exercise, &scenario.runs, &metrics).is_err());
    // Fewer runs than the exercise names (the runs were edited): not available, no panic.
    let marking = mark(exercise, &scenario.runs[..1], &metrics[..1], &prediction);
    assert_eq!(
        marking.reason.as_deref(),
        Some("the exercise asks about run 1, but there is 1 run")
    );
}

#[test]
fn a_cell_learns_from_one_percent_of_the_signal() {
    let table = |shares: [f64; 4]| {
        let mut table = LearningTable::default();
        for (cell, share) in [
            &mut table.reference_right_policy_right,
            &mut table.reference_right_policy_wrong,
            &mut table.reference_wrong_policy_right,
            &mut table.reference_wrong_policy_wrong,
        ]
        .into_iter()
        .zip(shares)
        {
            *cell = LearningCell {
                pairs: 1,
                weight: 1.0,
                signal: share,
                share,
            };
        }
        Metrics {
            step: 1,
            accumulated_table: Some(table),
            ..Metrics::default()
        }
    };
    assert_eq!(LEARNS_SHARE, 0.01);
    assert_eq!(
        measured_cells(&table([0.98, 0.01, 0.0099, 0.0001])),
        Some(Cells([true, true, false, false]))
    );
    // No signal at all: nothing learns.
    assert_eq!(measured_cells(&table([0.0; 4])), Some(Cells::default()));
}

#[test]
fn the_exercise_survives_the_canonical_writer() {
    for id in EXERCISES {
        let scenario = scenario(id);
        let text = scenario.to_json_pretty();
        assert_eq!(Scenario::from_json(&text).unwrap(), scenario, "{text}");
        // Runs by index, cells in table order, every list explicit.
        let value = scenario.to_value();
        let block = &value["exercise"];
        assert_eq!(block["predict"][0]["run"], 0, "{id}");
        assert!(block["hide"].is_array() && block["lock"].is_array());
        // The page's header (the scenario without its pairs) carries it too.
        let header = Scenario {
            pairs: Vec::new(),
            ..scenario.clone()
        }
        .to_value();
        assert_eq!(&header["exercise"], block);
    }
    // Names read back as the same runs, in any order of cells; a scenario without an exercise
    // writes none.
    let text = BASE.replace(r#"["rr", "ww"]"#, r#"["ww", "rr"]"#);
    let scenario = Scenario::from_json(&text).unwrap();
    let exercise = scenario.exercise.as_ref().unwrap();
    assert_eq!(
        exercise.predict[1],
        PredictRun {
            run: 1,
            learns: Cells([true, false, false, true])
        }
    );
    let canonical = scenario.to_value();
    assert_eq!(
        canonical["exercise"],
        serde_json::json!({
            "question": "Which cells learn?",
            "predict": [{"run": 0, "learns": ["rr"]}, {"run": 1, "learns": ["rr", "ww"]}],
            "compare": {"metric": "kl", "higher": 1},
            "explanation": "Because.",
            "hide": ["claims"],
            "lock": ["gamma"]
        })
    );
    assert_eq!(Scenario::from_value(&canonical).unwrap(), scenario);
    let without = Scenario {
        exercise: None,
        ..scenario
    };
    assert!(without.to_value().get("exercise").is_none());
}

/// A scenario with an exercise, for the error table: four runs, two of them with the same name.
const BASE: &str = r#"{
  "outputs": ["A", "B", "C"],
  "pairs": [{"chosen": "A", "rejected": "B"}, {"chosen": "C", "rejected": "B"}],
  "runs": [{"name": "hinge", "loss": "hinge"}, {"name": "DPO"}, {"name": "twin"}, {"name": "twin"}],
  "exercise": {
    "question": "Which cells learn?",
    "predict": [{"run": 0, "learns": ["rr"]}, {"run": "DPO", "learns": ["rr", "ww"]}],
    "compare": {"metric": "kl", "higher": "DPO"},
    "explanation": "Because.",
    "hide": ["claims"],
    "lock": ["gamma"]
  }
}"#;

#[test]
fn bad_exercises_name_their_field() {
    assert!(Scenario::from_json(BASE).is_ok());
    let panels = quoted_list(&PANELS);
    let unknown_panel =
        format!("exercise.hide[0]: unknown panel \"everything\" (expected {panels})");
    let cases: Vec<(&str, &str, &str)> = vec![
        (r#"["rr"]"#, r#"["rx"]"#, r#"exercise.predict[0].learns[0]: unknown cell "rx" (expected "rr", "rw", "wr" or "ww")"#),
        (r#"["rr", "ww"]"#, r#"["rr", "ww", "rr"]"#, r#"exercise.predict[1].learns[2]: cell "rr" is already listed at exercise.predict[1].learns[0]"#),
        (r#"["rr"]"#, r#"[1]"#, r#"exercise.predict[0].learns[0]: expected a string, found a number"#),
        (r#"["rr"]"#, r#""rr""#, r#"exercise.predict[0].learns: expected an array, found a string"#),
        (r#"{"run": 0, "learns": ["rr"]}"#, r#"{"run": 0}"#, r#"exercise.predict[0].learns: missing field"#),
        (r#"{"run": 0, "learns": ["rr"]}"#, r#"{"learns": ["rr"]}"#, r#"exercise.predict[0].run: missing field"#),
        (r#""learns": ["rr"]"#, r#""learns": ["rr"], "learn": []"#, r#"exercise.predict[0].learn: unknown field (did you mean "learns"?)"#),
        (r#""run": "DPO""#, r#""run": "dpo""#, r#"exercise.predict[1].run: no run named "dpo""#),
        (r#""run": 0"#, r#""run": 7"#, r#"exercise.predict[0].run: no run 7 (there are 4)"#),
        (r#""run": 0"#, r#""run": 4"#, r#"exercise.predict[0].run: no run 4 (there are 4)"#),
        (r#""run": 0"#, r#""run": -1"#, r#"exercise.predict[0].run: expected a non-negative integer, found -1"#),
        (r#""run": 0"#, r#""run": true"#, r#"exercise.predict[0].run: expected a run name or index, found a boolean"#),
        (r#""run": "DPO""#, r#""run": 0"#, r#"exercise.predict[1].run: run 0 ("hinge") is already listed at exercise.predict[0]"#),
        (r#""run": "DPO""#, r#""run": "hinge""#, r#"exercise.predict[1].run: run 0 ("hinge") is already listed at exercise.predict[0]"#),
        (r#""run": "DPO""#, r#""run": "twin""#, r#"exercise.predict[1].run: runs 2 and 3 are both named "twin": name the run by its index"#),
        (r#""question": "Which cells learn?""#, r#""question": "  ""#, "exercise.question: must not be empty: say what the student predicts"),
        (r#""question": "Which cells learn?","#, "", "exercise.question: missing field"),
        (r#""question": "Which cells learn?""#, r#""question": 3"#, "exercise.question: expected a string, found a number"),
        (r#"[{"run": 0, "learns": ["rr"]}, {"run": "DPO", "learns": ["rr", "ww"]}]"#, "[]", "exercise.predict: needs at least one run to predict"),
        (r#"[{"run": 0, "learns": ["rr"]}, {"run": "DPO", "learns": ["rr", "ww"]}]"#, "{}", "exercise.predict: expected an array, found an object"),
        (r#""metric": "kl""#, r#""metric": "KL""#, r#"exercise.compare.metric: unknown metric "KL" (expected "accuracy", "kl" or "loss")"#),
        (r#""metric": "kl", "#, "", "exercise.compare.metric: missing field"),
        (r#""higher": "DPO""#, r#""higher": 2"#, r#"exercise.compare.higher: run 2 ("twin") is not among the predicted runs"#),
        (r#""higher": "DPO""#, r#""higher": "nobody""#, r#"exercise.compare.higher: no run named "nobody""#),
        (r#""higher": "DPO""#, r#""higher": "DPO", "lower": 0"#, "exercise.compare.lower: unknown field (known fields: metric, higher)"),
        (r#", {"run": "DPO", "learns": ["rr", "ww"]}"#, "", "exercise.compare: needs at least two predicted runs to compare"),
        (r#"{"metric": "kl", "higher": "DPO"}"#, r#""kl""#, "exercise.compare: expected an object, found a string"),
        (r#""explanation": "Because.""#, r#""explanation": 3"#, "exercise.explanation: expected a string, found a number"),
        (r#"["claims"]"#, r#"["claim"]"#, r#"exercise.hide[0]: unknown panel "claim" (did you mean "claims"?)"#),
        (r#"["claims"]"#, r#"["everything"]"#, &unknown_panel),
        (r#"["claims"]"#, r#"["claims", "claims"]"#, r#"exercise.hide[1]: panel "claims" is already listed at exercise.hide[0]"#),
        (r#"["claims"]"#, r#""claims""#, "exercise.hide: expected an array, found a string"),
        (r#"["gamma"]"#, r#"["gama"]"#, r#"exercise.lock[0]: unknown lock "gama" (did you mean "gamma"?)"#),
        (r#"["gamma"]"#, r#"["gamma", "data", "gamma"]"#, r#"exercise.lock[2]: lock "gamma" is already listed at exercise.lock[0]"#),
        (r#""lock": ["gamma"]"#, r#""lock": ["gamma"], "hints": []"#, "exercise.hints: unknown field (known fields: question, predict, compare, explanation, hide, lock)"),
        (r#""lock": ["gamma"]"#, r#""lock": ["gamma"], "lock": []"#, "exercise.lock: duplicate field"),
        (r#""exercise": {"#, r#""exercise": 3, "unused": {"#, "exercise: expected an object, found a number"),
        (r#""exercise": {"#, r#""exercize": {"#, r#"exercize: unknown field (did you mean "exercise"?)"#),
    ];
    for (from, to, expected) in cases {
        assert!(
            BASE.contains(from),
            "the anchor {from:?} is not in the scenario"
        );
        let text = BASE.replacen(from, to, 1);
        match Scenario::from_json(&text) {
            Ok(_) => panic!("accepted a bad exercise ({from:?} -> {to:?})"),
            Err(error) => assert_eq!(error.to_string(), expected, "for {from:?} -> {to:?}"),
        }
    }
    // A run field's error comes before the exercise's (the runs are read first).
    let text = BASE
        .replacen(r#""run": "DPO""#, r#""run": "dpo""#, 1)
        .replacen(r#"{"name": "DPO"}"#, r#"{"name": "DPO", "beta": 0}"#, 1);
    assert_eq!(
        Scenario::from_json(&text).unwrap_err().to_string(),
        "runs[1].beta: must be positive and finite, got 0"
    );
}

#[test]
fn a_students_prediction_reads_like_the_exercise() {
    let scenario = Scenario::from_json(BASE).unwrap();
    let prediction = scenario
        .prediction_from_json(r#"{"runs": [{"run": "DPO", "learns": ["ww", "wr"]}], "higher": 0}"#)
        .unwrap();
    assert_eq!(
        prediction,
        StudentPrediction {
            runs: vec![PredictRun {
                run: 1,
                learns: Cells([false, false, true, true])
            }],
            higher: Some(0),
        }
    );
    assert_eq!(
        scenario.prediction_from_json("{}").unwrap(),
        StudentPrediction::default()
    );
    let cases = [
        (
            r#"{"runs": [{"run": 0, "learns": ["rx"]}]}"#,
            r#"runs[0].learns[0]: unknown cell "rx" (expected "rr", "rw", "wr" or "ww")"#,
        ),
        (
            r#"{"runs": [{"run": 2, "learns": []}]}"#,
            r#"runs[0].run: run 2 ("twin") is not among the predicted runs"#,
        ),
        (
            r#"{"runs": [{"run": 0, "learns": []}, {"run": "hinge", "learns": []}]}"#,
            r#"runs[1].run: run 0 ("hinge") is already listed at runs[0]"#,
        ),
        (
            r#"{"runs": [{"run": 9, "learns": []}]}"#,
            "runs[0].run: no run 9 (there are 4)",
        ),
        (
            r#"{"runs": {}}"#,
            "runs: expected an array, found an object",
        ),
        (
            r#"{"higher": 3}"#,
            r#"higher: run 3 ("twin") is not among the predicted runs"#,
        ),
        (
            r#"{"higher": "DPO", "higherr": 1}"#,
            r#"higherr: unknown field (did you mean "higher"?)"#,
        ),
        ("[]", "expected an object, found an array"),
        (
            "{",
            "line 1, column 1: invalid JSON: EOF while parsing an object",
        ),
    ];
    for (text, expected) in cases {
        let error = scenario.prediction_from_json(text).unwrap_err();
        assert_eq!(error.to_string(), expected, "for {text}");
    }
    // `higher` only where the exercise compares; a scenario without an exercise has nothing to
    // predict.
    let no_compare =
        Scenario::from_json(&BASE.replace(r#""compare": {"metric": "kl", "higher": "DPO"},"#, ""))
            .unwrap();
    assert_eq!(
        no_compare
            .prediction_from_json(r#"{"higher": 1}"#)
            .unwrap_err()
            .to_string(),
        "higher: the exercise has no comparison"
    );
    let none = Scenario {
        exercise: None,
        ..scenario
    };
    assert_eq!(
        none.prediction_from_json("{}").unwrap_err().to_string(),
        "exercise: this scenario has no exercise"
    );
}

/// The names an exercise uses are declared once, and agree with the format and the page's
/// panels: the lockable run fields are the canonical run's fields.
#[test]
fn the_declared_names_agree_with_the_format() {
    let fields = run_to_value(&RunConfig::default());
    let mut run_fields: Vec<&str> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    run_fields.sort();
    let mut lockable: Vec<&str> = LOCKABLE[..12].to_vec();
    lockable.sort();
    assert_eq!(lockable, run_fields);
    assert_eq!(&LOCKABLE[12..], ["preset", "data", "runs"]);
    assert_eq!(CELLS, ["rr", "rw", "wr", "ww"]);
    for panel in HIDDEN_UNTIL_REVEAL {
        assert!(PANELS.contains(&panel));
    }
    // The cell names are the CSV's column suffixes.
    let header = dpo_playground::csv::header();
    for cell in CELLS {
        assert!(
            header.contains(&format!("accumulated_share_{cell}")),
            "{header}"
        );
    }
}
