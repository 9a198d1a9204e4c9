//! The scenario format: every bad input gets an error naming its field, never a panic; the
//! canonical form reads back to the same scenario.

use dpo_playground::engine::{Init, LossKind, Optimizer, Regularizer};
use dpo_playground::presets::PRESETS;
use dpo_playground::scenario::Scenario;

const MINIMAL: &str = r#"{
  "outputs": ["A", "B", "C", "D"],
  "reference": [[0.4, 0.3, 0.2, 0.1]],
  "pairs": [{"prompt": 0, "chosen": "A", "rejected": "C"}, {"prompt": 0, "chosen": "D", "rejected": "B", "weight": 2}],
  "steps": 200,
  "runs": [
    {"name": "DPO", "loss": "logistic", "beta": 1.0, "gamma": 1.0,
     "optimizer": {"kind": "adam", "lr": 0.05}, "init": "reference"},
    {"name": "hinge", "loss": "hinge", "beta": 1.0, "gamma": 1.0,
     "optimizer": {"kind": "sgd", "lr": 0.1}, "init": "uniform"},
    {"name": "gamma=0", "loss": "logistic", "beta": 1.0, "gamma": 0.0,
     "optimizer": {"kind": "sgd", "lr": 0.1}, "init": "reference", "alpha": 2.0, "margin": 0.0,
     "length_normalize": false, "seed": 7}
  ]
}"#;

/// Replaces the text `from` in the minimal scenario by `to` and expects the error `expected`.
fn check_error(from: &str, to: &str, expected: &str) {
    assert!(
        MINIMAL.contains(from),
        "the test's anchor {from:?} is not in the scenario"
    );
    let text = MINIMAL.replacen(from, to, 1);
    match Scenario::from_json(&text) {
        Ok(_) => panic!("accepted a bad scenario ({from:?} -> {to:?})"),
        Err(error) => assert_eq!(error.to_string(), expected, "for {from:?} -> {to:?}"),
    }
}

/// The error `text` is refused with, as the reader words it.
fn refusal(text: &str) -> String {
    Scenario::from_json(text).unwrap_err().to_string()
}

#[test]
fn the_spec_example_reads_with_its_defaults() {
    let scenario = Scenario::from_json(MINIMAL).unwrap();
    assert_eq!(scenario.prompts.len(), 1);
    assert_eq!(scenario.pairs[1].chosen, 3);
    assert_eq!(scenario.pairs[1].weight, 2.0);
    assert_eq!(scenario.runs.len(), 3);
    let dpo = &scenario.runs[0];
    assert_eq!(
        (dpo.loss, dpo.beta, dpo.gamma, dpo.margin, dpo.alpha),
        (LossKind::Logistic, 1.0, 1.0, 0.0, 1.0)
    );
    assert_eq!(dpo.optimizer, Optimizer::adam(0.05));
    assert_eq!(dpo.seed, 0);
    assert_eq!(dpo.batch_size, None);
    assert_eq!(scenario.runs[1].init, Init::Uniform);
    assert_eq!(scenario.runs[2].alpha, 2.0);
    assert_eq!(scenario.runs[2].seed, 7);
    // gamma defaults to beta.
    let text = MINIMAL.replacen(
        r#""beta": 1.0, "gamma": 1.0,
     "optimizer": {"kind": "adam""#,
        r#""beta": 0.3,
     "optimizer": {"kind": "adam""#,
        1,
    );
    let scenario = Scenario::from_json(&text).unwrap();
    assert_eq!(scenario.runs[0].gamma, 0.3);
}

#[test]
fn bad_inputs_name_their_field() {
    let cases = [
        (r#""beta": 1.0, "gamma": 1.0,
     "optimizer": {"kind": "adam""#, r#""betta": 1.0, "gamma": 1.0,
     "optimizer": {"kind": "adam""#, "runs[0].betta: unknown field (did you mean \"beta\"?)"),
        ("[0.4, 0.3, 0.2, 0.1]", "[0.4, 0.0, 0.2, 0.1]", "reference[0][1]: must be positive and finite (prompt \"x0\", output \"B\")"),
        ("[0.4, 0.3, 0.2, 0.1]", "[0.4, -3, 0.2, 0.1]", "reference[0][1]: must be positive and finite (prompt \"x0\", output \"B\")"),
        ("[0.4, 0.3, 0.2, 0.1]", "[0.4, 0.3, 0.2]", "reference[0]: has 3 weights, but there are 4 outputs"),
        ("[0.4, 0.3, 0.2, 0.1]", "[0.4, \"x\", 0.2, 0.1]", "reference[0][1]: expected a number, found a string"),
        (r#""rejected": "B""#, r#""rejected": "Q""#, "pairs[1].rejected: no output named \"Q\""),
        (r#""rejected": "B""#, r#""rejected": 9"#, "pairs[1].rejected: no output 9 (there are 4)"),
        (r#""rejected": "B""#, r#""rejected": "D""#, "pairs[1]: chosen and rejected are the same output (\"D\")"),
        (r#""weight": 2"#, r#""weight": 0"#, "pairs[1].weight: must be positive and finite"),
        (r#""weight": 2"#, r#""weight": -1"#, "pairs[1].weight: must be positive and finite"),
        // Numbers in messages are short, whatever their size.
        (r#""margin": 0.0"#, r#""margin": -1e308"#, "runs[2].margin: -1e308 is too large for the engine (f32, at most about 3.4e38 in magnitude)"),
        (r#""weight": 2"#, r#""weight": 3.5e38"#, "pairs[1].weight: 3.5e38 is too large for the engine (f32, at most about 3.4e38 in magnitude)"),
        (r#""weight": 2"#, r#""weight": 1000000000000000000000000000000000000000"#, "pairs[1].weight: 1e39 is too large for the engine (f32, at most about 3.4e38 in magnitude)"),
        // A number that is not 0 but would become 0 in the engine's f32, in any f32 field.
        (r#""weight": 2"#, r#""weight": 1e-46"#, "pairs[1].weight: 1e-46 is below the smallest positive value the engine can hold (f32, about 1.4e-45)"),
        (r#""margin": 0.0"#, r#""margin": -1e-300"#, "runs[2].margin: -1e-300 is above the largest negative value the engine can hold (f32, about -1.4e-45)"),
        (r#""lr": 0.05"#, r#""lr": 0.0000000000000000000000000000000000000000000001"#, "runs[0].optimizer.lr: 1e-46 is below the smallest positive value the engine can hold (f32, about 1.4e-45)"),
        // A field given twice is an error at its path, not a silent choice of the last.
        (r#""beta": 1.0, "gamma": 0.0"#, r#""beta": 1.0, "beta": 2.0, "gamma": 0.0"#, "runs[2].beta: duplicate field"),
        (r#""weight": 2"#, r#""weight": 2, "weight": 2"#, "pairs[1].weight: duplicate field"),
        (r#""kind": "sgd", "lr": 0.1}, "init": "uniform""#, r#""kind": "sgd", "lr": 0.1, "lr": 0.2}, "init": "uniform""#, "runs[1].optimizer.lr: duplicate field"),
        (r#""steps": 200"#, r#""steps": 200, "steps": 300"#, "steps: duplicate field"),
        (r#""outputs": ["A", "B", "C", "D"]"#, r#""outputs": ["A", "B", "C", {"label": "D", "label": "E"}]"#, "outputs[3].label: duplicate field"),
        (r#""steps": 200"#, r#""steps": 200, "x": [[{"a": 1}, {"a": 1, "a": 1}]]"#, "x[0][1].a: duplicate field"),
        // Control characters in field names and labels never reach the terminal raw.
        (r#""steps": 200"#, r#""steps\u001b": 200"#, "steps\\u{1b}: unknown field (did you mean \"steps\"?)"),
        (r#""rejected": "B""#, r#""rejected": "\u009b2J""#, "pairs[1].rejected: no output named \"\\u{9b}2J\""),
        (r#"{"prompt": 0, "chosen": "A""#, r#"{"prompt": 3, "chosen": "A""#, "pairs[0].prompt: no prompt 3 (there are 1)"),
        (r#"{"prompt": 0, "chosen": "A""#, r#"{"prompt": "x9", "chosen": "A""#, "pairs[0].prompt: no prompt named \"x9\""),
        (r#""loss": "hinge""#, r#""loss": "hing""#, "runs[1].loss: unknown loss \"hing\" (expected \"logistic\", \"hinge\" or \"ipo\")"),
        (r#""gamma": 0.0"#, r#""gamma": -1"#, "runs[2].gamma: must be >= 0 and finite, got -1"),
        (r#""beta": 1.0, "gamma": 0.0"#, r#""beta": 0, "gamma": 0.0"#, "runs[2].beta: must be positive and finite, got 0"),
        (r#""lr": 0.1}, "init": "uniform""#, r#""lr": -0.1}, "init": "uniform""#, "runs[1].optimizer.lr: must be positive and finite, got -0.1"),
        (r#""kind": "sgd", "lr": 0.1}, "init": "uniform""#, r#""kind": "sgd", "lr": 0.1, "momentum": 1}, "init": "uniform""#, "runs[1].optimizer.momentum: must be in [0, 1), got 1"),
        (r#""kind": "adam""#, r#""kind": "rmsprop""#, "runs[0].optimizer: unknown optimizer \"rmsprop\" (expected \"sgd\" or \"adam\")"),
        (r#""init": "uniform""#, r#""init": "zeros""#, "runs[1].init: unknown init \"zeros\" (expected \"reference\", \"reference_alpha\", \"uniform\" or \"random\")"),
        (r#""seed": 7"#, r#""seed": -7"#, "runs[2].seed: expected a non-negative integer, found -7"),
        (r#""seed": 7"#, r#""seed": 7, "batch_size": 0"#, "runs[2].batch_size: must be at least 1 (or null for the full batch)"),
        (r#""seed": 7"#, r#""seed": 7, "regularizer": {"kind": "mixout", "p": 1}"#, "runs[2].regularizer.p: must be in [0, 1), got 1"),
        (r#""seed": 7"#, r#""seed": 7, "regularizer": {"kind": "l2", "lamda": 1}"#, "runs[2].regularizer.lamda: unknown field (did you mean \"lambda\"?)"),
        (r#""length_normalize": false"#, r#""length_normalize": "no""#, "runs[2].length_normalize: expected true or false, found a string"),
        (r#""steps": 200"#, r#""steps": 2.5"#, "steps: expected a non-negative integer, found 2.5"),
        (r#""steps": 200"#, r#""steps": 100.0"#, "steps: expected a non-negative integer, found 100.0"),
        (r#""steps": 200"#, r#""steps": -3"#, "steps: expected a non-negative integer, found -3"),
        (r#""steps": 200"#, r#""steps": 1e20"#, "steps: expected a non-negative integer, found 1e20"),
        (r#""steps": 200"#, r#""steps": "200""#, "steps: expected a non-negative integer, found a string"),
        (r#""steps": 200"#, r#""steps": 200, "step": 3"#, "step: unknown field (did you mean \"steps\"?)"),
        (r#""outputs": ["A", "B", "C", "D"]"#, r#""outputs": ["A", "B", "C", "A"]"#, "outputs[3]: label \"A\" is already used by outputs[0]"),
        (r#""outputs": ["A", "B", "C", "D"]"#, r#""outputs": ["A", "B", "C", {"label": "D", "length": 0.5}]"#, "outputs[3].length: must be a number >= 1"),
        (r#""outputs": ["A", "B", "C", "D"]"#, r#""outputs": ["A"]"#, "outputs: needs at least two outputs"),
        (r#""outputs": ["A", "B", "C", "D"]"#, r#""outputs": "ABCD""#, "outputs: expected an array, found a string"),
        (r#""runs": ["#, r#""runs": [], "unused": ["#, "runs: needs at least one run"),
        ("\"steps\": 200,", "\"steps\": 200,,", "line 5, column 16: invalid JSON: key must be a string"),
    ];
    for (from, to, expected) in cases {
        check_error(from, to, expected);
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let expected = Scenario::from_json(MINIMAL).unwrap();
    assert_eq!(
        Scenario::from_json(&format!("\u{feff}{MINIMAL}")).unwrap(),
        expected
    );
    // Syntax errors after the mark are located as in the text without it.
    let error = Scenario::from_json("\u{feff}{,}").unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 1, column 2: invalid JSON: key must be a string"
    );
    // Anywhere else, a mark is not JSON whitespace.
    let error = Scenario::from_json(&format!("{MINIMAL}\u{feff}")).unwrap_err();
    assert!(error.path.starts_with("line "), "{error}");
    assert!(Scenario::from_json(&format!("\u{feff}\u{feff}{MINIMAL}")).is_err());
}

#[test]
fn a_key_may_repeat_in_different_objects() {
    // Every run has its own "name", "beta"...: only a repeat within one object is an error.
    let text = r#"{"outputs": [{"label": "A"}, {"label": "B"}],
        "pairs": [{"chosen": "A", "rejected": "B"}, {"chosen": "B", "rejected": "A"}],
        "runs": [{"name": "one", "beta": 1}, {"name": "two", "beta": 2}]}"#;
    let scenario = Scenario::from_json(text).unwrap();
    assert_eq!(scenario.runs[1].beta, 2.0);
    // Within one object, it is.
    let error = Scenario::from_json(&text.replacen("\"beta\": 2", "\"beta\": 2, \"beta\": 3", 1))
        .unwrap_err();
    assert_eq!(error.to_string(), "runs[1].beta: duplicate field");
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "", "null", "[]", "42", "\"text\"", "{", "{}", "{\"outputs\": []}", "{\"outputs\": [1, 2]}",
        "{\"outputs\": [\"A\", \"B\"]}", "{\"outputs\": [\"A\", \"B\"], \"pairs\": [1]}",
        "{\"outputs\": [\"A\", \"B\"], \"pairs\": [{\"chosen\": \"A\", \"rejected\": \"B\"}], \"runs\": {}}",
        "{\"outputs\": [\"A\", \"B\"], \"reference\": [[1e400, 1]]}",
        "{\"outputs\": [\"A\", \"B\"], \"pairs\": [{\"chosen\": \"A\", \"rejected\": \"B\"}], \"runs\": [{\"beta\": 1e39}]}",
        "{\"outputs\": [\"A\", \"B\"], \"generate\": {\"count\": 4}}",
        "{\"outputs\": [\"A\", \"B\"], \"reward\": [[1, 0]], \"generate\": {\"count\": 99999999}}",
        "{\"outputs\": [\"A\", \"B\"], \"prompts\": [], \"pairs\": []}",
    ];
    for input in inputs {
        let error = Scenario::from_json(input).expect_err(input);
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn the_canonical_form_round_trips() {
    let mut scenarios: Vec<Scenario> = PRESETS.iter().map(|p| p.scenario().unwrap()).collect();
    let mut custom = Scenario::from_json(MINIMAL).unwrap();
    custom.runs[1].regularizer = Regularizer::Mixout { p: 0.25 };
    custom.runs[2].init = Init::Random { scale: 0.5 };
    custom.runs[2].batch_size = Some(1);
    scenarios.push(custom);
    for scenario in scenarios {
        let text = scenario.to_json_pretty();
        let again = Scenario::from_json(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again, scenario);
    }
}

#[test]
fn generated_pairs_follow_the_ground_truth() {
    let text = r#"{
      "outputs": ["A", "B", "C", "D"],
      "reward": [[3, 2, 1, 0]],
      "generate": {"count": 400, "tau": 0.5, "seed": 1},
      "runs": [{"name": "DPO"}]
    }"#;
    let scenario = Scenario::from_json(text).unwrap();
    let problem = scenario.problem().unwrap();
    assert_eq!(problem.pairs().len(), 400);
    // P(correct label) = sigmoid(|r - r'| / tau) >= sigmoid(2) = 0.88 for every draw.
    let correct = problem
        .pairs()
        .iter()
        .filter(|p| p.chosen < p.rejected)
        .count();
    assert!(
        correct as f64 / 400.0 > 0.85,
        "{correct} of 400 labelled as the reward says"
    );
    let again = Scenario::from_json(text).unwrap().problem().unwrap();
    assert_eq!(again.pairs(), problem.pairs(), "the seed fixes the draws");
    let mut set = scenario.run_set().unwrap();
    set.step(300);
    let metrics = &set.metrics()[0];
    assert_eq!(
        metrics.ranking_agreement,
        Some(1.0),
        "DPO recovers the reward's order"
    );
    assert!(
        metrics.true_reward.unwrap() > 1.5,
        "and puts mass on the best outputs"
    );
}

#[test]
fn thousands_of_mutated_files_never_panic() {
    use dpo_playground::engine::rng::SplitMix64;
    let base: Vec<char> = MINIMAL.chars().collect();
    let alphabet: Vec<char> = "{}[]\":,.-0123456789eE truefalsnl\\ABCQ".chars().collect();
    let mut generator = SplitMix64::new(2024, 9);
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..3000 {
        let mut text = base.clone();
        for _ in 0..1 + generator.below(4) {
            let at = generator.below(text.len());
            match generator.below(3) {
                0 => {
                    text.remove(at);
                }
                1 => text.insert(at, alphabet[generator.below(alphabet.len())]),
                _ => text[at] = alphabet[generator.below(alphabet.len())],
            }
        }
        let text: String = text.into_iter().collect();
        match Scenario::from_json(&text) {
            Ok(scenario) => {
                accepted += 1;
                // Whatever was accepted trains without producing NaN.
                let mut set = scenario.run_set().unwrap();
                set.step(5);
                assert!(set.metrics().iter().all(|m| !m.loss.is_nan()), "{text}");
            }
            Err(error) => {
                rejected += 1;
                assert!(!error.message.is_empty());
            }
        }
    }
    assert!(
        accepted > 0 && rejected > 0,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn the_canonical_form_writes_short_numbers() {
    let text = Scenario::from_json(MINIMAL).unwrap().to_json_pretty();
    assert!(text.contains("\"lr\": 0.05"), "{text}");
    assert!(!text.contains("0.0500000"), "{text}");
}

/// A scenario read in parts (the page's import of large files) is the scenario read whole, and
/// its errors name each pair by its place in the whole list.
#[test]
fn a_scenario_read_in_parts_is_the_scenario_read_whole() {
    use dpo_playground::scenario::budget::{Limits, Usage};
    let whole = Scenario::from_json(MINIMAL).unwrap();
    let header = MINIMAL.replace(
        r#""pairs": [{"prompt": 0, "chosen": "A", "rejected": "C"}, {"prompt": 0, "chosen": "D", "rejected": "B", "weight": 2}]"#,
        r#""pairs": []"#,
    );
    assert_ne!(header, MINIMAL, "the test's anchor is in the scenario");
    let mut parts = Scenario::header_from_json(&header).unwrap();
    // A header with no pairs is not a scenario yet.
    assert!(parts
        .check_within(&Usage::default(), &Limits::PAGE)
        .is_err());
    parts
        .append_pairs_json(r#"[{"prompt": 0, "chosen": "A", "rejected": "C"}]"#, 0)
        .unwrap();
    // A bad pair in the second part: named by its place in the whole list; nothing appended.
    let error = parts
        .append_pairs_json(
            r#"[{"chosen": "D", "rejected": "B"}, {"chosen": "Z", "rejected": "B"}]"#,
            1,
        )
        .unwrap_err();
    assert_eq!(error.path, "pairs[2].chosen", "{error}");
    assert_eq!(parts.pairs.len(), 1);
    parts
        .append_pairs_json(
            r#"[{"prompt": 0, "chosen": "D", "rejected": "B", "weight": 2}]"#,
            1,
        )
        .unwrap();
    parts
        .check_within(&Usage::default(), &Limits::PAGE)
        .unwrap();
    assert_eq!(parts, whole);
    // The page's limit holds for parts as for a whole file.
    let tight = Limits {
        memory: 1024,
        source: "a test",
    };
    assert!(parts.check_within(&Usage::default(), &tight).is_err());
}

#[test]
fn runs_alone_read_as_a_scenario_reads_them() {
    let whole = Scenario::from_json(MINIMAL).unwrap();
    let runs_text = serde_json::to_string(&whole.to_value()["runs"]).unwrap();
    assert_eq!(Scenario::runs_from_json(&runs_text).unwrap(), whole.runs);
    assert_eq!(Scenario::runs_from_json("[]").unwrap_err().path, "runs");
    let error = Scenario::runs_from_json(r#"[{"name": "x", "betta": 1}]"#).unwrap_err();
    assert_eq!(error.path, "runs[0].betta", "{error}");
}

/// A scenario without `runs` compares the three runs the argument is about: DPO (gamma = beta),
/// the hinge from the uniform policy, and gamma = 0, otherwise the defaults.
#[test]
fn a_scenario_without_runs_gets_the_three_default_runs() {
    use dpo_playground::engine::RunConfig;
    let scenario = Scenario::from_json(
        r#"{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "B"}]}"#,
    )
    .unwrap();
    let dpo = RunConfig::default();
    assert_eq!(dpo.gamma, dpo.beta);
    assert_eq!(dpo.loss, LossKind::Logistic);
    let expected = vec![
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
    ];
    assert_eq!(scenario.runs, expected);
}

/// The shape's limit, `MAX_LOGITS` logits, holds at its boundary: 4096 prompts x 4096 outputs
/// is exactly the limit and passes that check (the file is then refused for its pairs, before
/// anything of that size is allocated); one prompt more is refused for its shape.
#[test]
fn the_logit_limit_holds_at_its_boundary() {
    use dpo_playground::scenario::MAX_LOGITS;
    assert_eq!(MAX_LOGITS, 4096 * 4096);
    let text = |prompts: usize| {
        let labels = |prefix: &str, n: usize| {
            (0..n)
                .map(|i| format!("\"{prefix}{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            r#"{{"prompts": [{}], "outputs": [{}], "pairs": "none"}}"#,
            labels("p", prompts),
            labels("o", 4096)
        )
    };
    let at_limit = refusal(&text(4096));
    assert!(at_limit.starts_with("pairs"), "{at_limit}");
    let over = refusal(&text(4097));
    assert!(
        over.contains("4097 prompts x 4096 outputs is more than the 16777216 logits"),
        "{over}"
    );
}

/// Whether two scenarios hold the same data: runs, steps, title and description may differ;
/// any change to the prompts, outputs, reference, pairs, reward, generator or held-out pairs
/// makes it other data.
#[test]
fn same_data_looks_at_the_data_only() {
    let base = r#"{"outputs": ["A", "B", "C"], "prompts": ["p", "q"],
        "reference": [[1, 2, 3], [1, 1, 1]],
        "pairs": [{"prompt": "p", "chosen": "A", "rejected": "B"},
                  {"prompt": "q", "chosen": "B", "rejected": "C"},
                  {"prompt": "q", "chosen": "A", "rejected": "C"}],
        "reward": [[3, 2, 1], [3, 2, 1]],
        "generate": {"count": 4, "seed": 1},
        "validation": {"fraction": 0.2, "seed": 3}"#;
    let read = |text: String| Scenario::from_json(&text).unwrap();
    let scenario = read(format!("{base}}}"));
    let same = read(format!(
        r#"{base}, "title": "t", "description": "d", "steps": 7, "runs": [{{"name": "r"}}]}}"#
    ));
    assert!(scenario.same_data(&same) && same.same_data(&scenario));
    let changes = [
        (
            "prompts",
            base.replace(r#"["p", "q"]"#, r#"["p", "r"]"#)
                .replace(r#""prompt": "q""#, r#""prompt": "r""#),
        ),
        (
            "outputs",
            base.replace(
                r#"["A", "B", "C"]"#,
                r#"[{"label": "A", "length": 2}, "B", "C"]"#,
            ),
        ),
        ("reference", base.replace("[1, 1, 1]", "[1, 1, 2]")),
        (
            "pairs",
            base.replace(
                r#""chosen": "A", "rejected": "C""#,
                r#""chosen": "C", "rejected": "A""#,
            ),
        ),
        ("reward", base.replace("[3, 2, 1]]", "[3, 1, 2]]")),
        ("generate", base.replace(r#""seed": 1"#, r#""seed": 2"#)),
        ("validation", base.replace(r#""seed": 3"#, r#""seed": 4"#)),
    ];
    for (field, changed) in changes {
        assert_ne!(changed, base, "{field}");
        let other = read(format!("{changed}}}"));
        assert!(!scenario.same_data(&other), "{field}");
    }
    // Held-out pairs marked one by one instead of a validation block.
    let marked = |at: &str| {
        read(format!(
            r#"{{"outputs": ["A", "B", "C"],
                "pairs": [{{"chosen": "A", "rejected": "B"{}}}, {{"chosen": "B", "rejected": "C"{}}}]}}"#,
            if at == "first" {
                r#", "split": "validation""#
            } else {
                ""
            },
            if at == "second" {
                r#", "split": "validation""#
            } else {
                ""
            },
        ))
    };
    assert!(marked("first").same_data(&marked("first")));
    assert!(!marked("first").same_data(&marked("second")));
}

/// Held-out pairs at the boundaries of their rules: none without validation, a fraction of two
/// pairs holds one out, of one pair it cannot, and a scenario cut down to one pair in code holds
/// none out (no panic).
#[test]
fn held_out_pairs_at_their_boundaries() {
    let pair = |chosen: &str, rejected: &str| {
        format!(r#"{{"chosen": "{chosen}", "rejected": "{rejected}"}}"#)
    };
    let pairs = [pair("A", "B"), pair("B", "C"), pair("A", "C")];
    let read = |n: usize, validation: &str| {
        Scenario::from_json(&format!(
            r#"{{"outputs": ["A", "B", "C"], "pairs": [{}]{validation}}}"#,
            pairs[..n].join(",")
        ))
    };
    let plain = read(2, "").unwrap();
    assert!(plain.problems().unwrap().1.is_none());
    assert!(plain.held_out_pairs().unwrap().is_empty());
    let half = r#", "validation": {"fraction": 0.5, "seed": 1}"#;
    let two = read(2, half).unwrap();
    let (train, held) = two.problems().unwrap();
    assert_eq!((train.pairs().len(), held.unwrap().pairs().len()), (1, 1));
    assert_eq!(two.held_out_pairs().unwrap().len(), 1);
    // round(0.5 x 3) = 2 of three.
    let three = read(3, half).unwrap();
    assert_eq!(three.held_out_pairs().unwrap().len(), 2);
    assert_eq!(three.problems().unwrap().0.pairs().len(), 1);
    // round(0.9 x 3) = 3, but one pair is always left to train on.
    let most = read(3, r#", "validation": {"fraction": 0.9, "seed": 1}"#).unwrap();
    assert_eq!(most.held_out_pairs().unwrap().len(), 2);
    assert_eq!(most.problems().unwrap().0.pairs().len(), 1);
    let one = read(1, half).unwrap_err().to_string();
    assert!(
        one.contains("needs at least 2 pairs to hold some out, and there is 1"),
        "{one}"
    );
    let mut cut = two.clone();
    cut.pairs.truncate(1);
    assert!(cut.held_out_pairs().unwrap().is_empty());
}

/// `validation.fresh` draws `fresh` pairs per prompt: in all within the scenario's pair limit.
#[test]
fn fresh_held_out_pairs_count_every_prompt() {
    use dpo_playground::scenario::MAX_PAIRS;
    let read = |fresh: usize| {
        Scenario::from_json(&format!(
            r#"{{"outputs": ["A", "B", "C"], "prompts": ["p", "q"],
                "reward": [[3, 2, 1], [1, 2, 3]], "generate": {{"count": 4, "seed": 1}},
                "validation": {{"fresh": {fresh}, "seed": 2}}}}"#
        ))
    };
    let (train, held) = read(5).unwrap().problems().unwrap();
    assert_eq!((train.pairs().len(), held.unwrap().pairs().len()), (8, 10));
    let over = read(MAX_PAIRS / 2 + 1).unwrap_err().to_string();
    assert!(
        over.starts_with(
            "validation.fresh: 2097153 pairs per prompt x 2 prompts is 4194306 held-out pairs"
        ),
        "{over}"
    );
}

/// Without `prompts`, the reference's rows say how many prompts there are; one prompt's
/// reference and reward may be a flat row, several prompts' may not.
#[test]
fn prompts_come_from_the_reference_rows_and_one_row_may_be_flat() {
    let read = |fields: &str| {
        Scenario::from_json(&format!(
            r#"{{"outputs": ["A", "B", "C"], "pairs": [{{"chosen": "A", "rejected": "B"}}], {fields}}}"#
        ))
    };
    let nested = read(r#""reference": [[1, 2, 3], [3, 2, 1]]"#).unwrap();
    assert_eq!(nested.prompts, ["x0", "x1"]);
    assert_eq!(nested.reference, [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]);
    let flat = read(r#""reference": [1, 2, 3], "reward": [3, 2, 1]"#).unwrap();
    assert_eq!(flat.prompts, ["x0"]);
    assert_eq!(flat.reference, [[1.0, 2.0, 3.0]]);
    assert_eq!(flat.reward, Some(vec![vec![3.0, 2.0, 1.0]]));
    let one_row = read(r#""reference": [[1, 2, 3]]"#).unwrap();
    assert_eq!(one_row.reference, flat.reference);
    let two_prompts = r#""prompts": ["p", "q"], "reference": [1, 2, 3]"#;
    let error = read(two_prompts).unwrap_err().to_string();
    assert!(error.starts_with("reference[0]"), "{error}");
    let error = read(r#""reference": []"#).unwrap_err().to_string();
    assert!(error.starts_with("reference"), "{error}");
}

/// `generate`'s pairs and the explicit ones together at most MAX_PAIRS, at the boundary: exactly
/// the limit passes that check (the file is then refused for its `steps`, before any pair is
/// drawn), more is refused.
#[test]
fn generated_pairs_count_against_the_limit_at_its_boundary() {
    use dpo_playground::scenario::MAX_PAIRS;
    let read = |count: usize| {
        refusal(&format!(
            r#"{{"outputs": ["A", "B", "C"], "prompts": ["p", "q"],
                "pairs": [{{"prompt": "p", "chosen": "A", "rejected": "B"}},
                          {{"prompt": "q", "chosen": "C", "rejected": "B"}}],
                "reward": [[3, 2, 1], [1, 2, 3]], "generate": {{"count": {count}}},
                "steps": "many"}}"#
        ))
    };
    // 2 prompts x (MAX_PAIRS / 2 - 1) + 2 explicit = MAX_PAIRS; one more per prompt is over.
    let at_limit = read(MAX_PAIRS / 2 - 1);
    assert!(at_limit.starts_with("steps"), "{at_limit}");
    let over = read(MAX_PAIRS / 2);
    assert!(
        over.starts_with("generate.count: 2097152 pairs per prompt x 2 prompts (with 2 explicit pairs) is 4194306 pairs"),
        "{over}"
    );
}

/// Indices name one of the things there are: the last one reads, one past it is refused; a
/// `generate.count` of exactly MAX_PAIRS reads, one more is refused.
#[test]
fn indices_and_generated_counts_at_their_boundaries() {
    use dpo_playground::scenario::MAX_PAIRS;
    let pair = |chosen: usize| {
        Scenario::from_json(&format!(
            r#"{{"outputs": ["A", "B", "C"], "pairs": [{{"chosen": {chosen}, "rejected": 0}}]}}"#
        ))
    };
    assert_eq!(pair(2).unwrap().pairs[0].chosen, 2);
    let error = pair(3).unwrap_err().to_string();
    assert_eq!(error, "pairs[0].chosen: no output 3 (there are 3)");
    let generate = |count: usize| {
        refusal(&format!(
            r#"{{"outputs": ["A", "B"], "reward": [2, 1], "generate": {{"count": {count}}},
                "steps": "many"}}"#
        ))
    };
    // Exactly the limit reads (then `steps` is refused, before any pair is drawn).
    let at_limit = generate(MAX_PAIRS);
    assert!(at_limit.starts_with("steps"), "{at_limit}");
    let over = generate(MAX_PAIRS + 1);
    assert!(
        over.starts_with("generate.count: 4194305 is more than the 4194304 pairs"),
        "{over}"
    );
}

/// At most MAX_RUNS runs, at the boundary: exactly the limit reads (then `exercise` is
/// refused, before the runs are trained or checked further), one more is refused.
#[test]
fn the_run_limit_holds_at_its_boundary() {
    use dpo_playground::scenario::MAX_RUNS;
    let read = |runs: usize| {
        let runs = vec![r#"{"name": "r"}"#; runs].join(",");
        refusal(&format!(
            r#"{{"outputs": ["A", "B"], "pairs": [{{"chosen": "A", "rejected": "B"}}],
                "runs": [{runs}], "exercise": 5}}"#
        ))
    };
    let at_limit = read(MAX_RUNS);
    assert!(at_limit.starts_with("exercise"), "{at_limit}");
    let over = read(MAX_RUNS + 1);
    assert_eq!(
        over,
        "runs: 65537 runs is more than the 65536 a scenario may have"
    );
}

/// A number for the engine's f32 reads up to f32's largest value exactly; beyond it is refused.
#[test]
fn the_largest_f32_reads_and_no_more() {
    let read = |beta: &str| {
        Scenario::from_json(&format!(
            r#"{{"outputs": ["A", "B"], "pairs": [{{"chosen": "A", "rejected": "B"}}],
                "runs": [{{"beta": {beta}}}]}}"#
        ))
    };
    assert_eq!(
        read(&format!("{}", f32::MAX as f64)).unwrap().runs[0].beta,
        f32::MAX
    );
    let error = read("3.4028236e38").unwrap_err().to_string();
    assert!(error.contains("is too large for the engine"), "{error}");
}
