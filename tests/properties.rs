//! Property tests of everything a user can hand the engine: generated scenarios, mutated presets
//! and arbitrary text (what a URL hash decodes to). For each input: no panic; an error names the
//! field it is about; a scenario that reads is one that builds, trains and reports (`check` and
//! `run` agree); the canonical form reads back equal.
//!
//! In CI the seed is fixed (20261127) and the case count bounded; `cargo xtask fuzz` runs the same
//! properties with many more cases and a fresh seed (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`).

use dpo_playground::engine::History;
use dpo_playground::presets::PRESETS;
use dpo_playground::scenario::budget::{Estimate, Limits, Usage};
use dpo_playground::scenario::Scenario;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{json, Map, Value};

/// The fixed seed and a bounded case count, unless the environment asks for others.
fn config(cases: u32) -> Config {
    let mut config = Config::default();
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(20_261_127);
    }
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config.failure_persistence = None;
    config
}

/// Labels: mostly short and plain, sometimes empty, repeated or full of control characters.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[A-D]",
        2 => "[a-z]{0,6}",
        1 => any::<String>().prop_map(|s| s.chars().take(6).collect()),
        1 => Just("\u{1b}[2J\u{7}".to_string()),
    ]
}

/// Numbers as a file may hold them: ordinary, zero, negative, tiny, huge, integral.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (-4.0f64..4.0).prop_map(|x| json!(x)),
        2 => (0u32..5).prop_map(|n| json!(n)),
        1 => prop::sample::select(vec![
            0.0, -0.0, 1e-46, -1e-46, 1e-30, 3.4e38, 3.5e38, -1e308, 1.7e38, 1e20, 0.999_999_9
        ])
        .prop_map(|x| json!(x)),
    ]
}

/// A run's number: usually a sensible positive value, sometimes anything [`number`] gives.
fn setting() -> impl Strategy<Value = Value> {
    prop_oneof![
        30 => (0.01f64..4.0).prop_map(|x| json!(x)),
        1 => number(),
    ]
}

/// The `i`-th label of a list: usually distinct (`y0`, `y1`...), sometimes any [`label`].
fn labels(prefix: &'static str, count: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::option::weighted(0.03, label()), count).prop_map(move |labels| {
        labels
            .into_iter()
            .enumerate()
            .map(|(i, label)| label.unwrap_or_else(|| format!("{prefix}{i}")))
            .collect()
    })
}

/// Any JSON value, shallow: what a mutation puts where something else was.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        label().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((label(), inner), 0..3)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// An output, prompt or pair end: usually an index in range or its default label, sometimes
/// an index past the end or any label.
fn reference_to(count: usize, prefix: &'static str) -> impl Strategy<Value = Value> {
    prop_oneof![
        15 => (0..count.max(1)).prop_map(|i| json!(i)),
        10 => (0..count.max(1)).prop_map(move |i| json!(format!("{prefix}{i}"))),
        1 => (0..count + 2).prop_map(|i| json!(i)),
        1 => label().prop_map(Value::String),
    ]
}

/// A run with a random subset of its fields, each usually valid.
fn run() -> impl Strategy<Value = Value> {
    let loss = prop::sample::select(vec!["logistic", "hinge", "ipo", "dpo"]);
    let init = prop_oneof![
        prop::sample::select(vec!["reference", "reference_alpha", "uniform", "random"])
            .prop_map(|k| json!(k)),
        (0.0f64..2.0).prop_map(|scale| json!({"kind": "random", "scale": scale})),
    ];
    let optimizer = prop_oneof![
        (1e-4f64..1.0).prop_map(|lr| json!({"kind": "adam", "lr": lr})),
        (1e-4f64..1.0, 0.0f64..1.2)
            .prop_map(|(lr, m)| json!({"kind": "sgd", "lr": lr, "momentum": m})),
        number().prop_map(|lr| json!({"kind": "sgd", "lr": lr})),
        Just(json!("adam")),
    ];
    let regularizer = prop_oneof![
        Just(json!("none")),
        (0.0f64..1.0).prop_map(|l| json!({"kind": "l2", "lambda": l})),
        (0.0f64..1.0).prop_map(|l| json!({"kind": "kl", "lambda": l})),
        (0.0f64..1.1).prop_map(|p| json!({"kind": "mixout", "p": p})),
    ];
    (
        (
            prop::option::of(label()),
            prop::option::of(loss),
            prop::option::of(setting()),
            prop::option::of(setting()),
            prop::option::of(setting()),
            prop::option::of(setting()),
        ),
        (
            prop::option::of(any::<bool>()),
            prop::option::of(init),
            prop::option::of(optimizer),
            prop::option::of(prop_oneof![
                Just(Value::Null),
                (0u32..6).prop_map(|b| json!(b))
            ]),
            prop::option::of(0u64..4),
            prop::option::of(regularizer),
        ),
    )
        .prop_map(
            |((name, loss, beta, gamma, margin, alpha), (norm, init, opt, batch, seed, reg))| {
                let mut run = Map::new();
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        run.insert(key.to_string(), value);
                    }
                };
                put("name", name.map(Value::String));
                put("loss", loss.map(|l| json!(l)));
                put("beta", beta);
                put("gamma", gamma);
                put("margin", margin);
                put("alpha", alpha);
                put("length_normalize", norm.map(Value::Bool));
                put("init", init);
                put("optimizer", opt);
                put("batch_size", batch);
                put("seed", seed.map(|s| json!(s)));
                put("regularizer", reg);
                Value::Object(run)
            },
        )
}

/// A small scenario, usually valid, with every part of the format in play.
fn scenario() -> impl Strategy<Value = Value> {
    let outputs = prop_oneof![20 => 2usize..7, 1 => 0usize..2];
    (outputs, 1usize..3).prop_flat_map(|(outputs, prompts)| {
        // Usually two distinct outputs by index or label; sometimes any two ends.
        let ends = prop_oneof![
            15 => (0..outputs.max(1), 1..outputs.max(2), any::<bool>()).prop_map(move |(c, d, by_label)| {
                let r = (c + d) % outputs.max(1);
                if by_label {
                    (json!(format!("y{c}")), json!(format!("y{r}")))
                } else {
                    (json!(c), json!(r))
                }
            }),
            1 => (reference_to(outputs, "y"), reference_to(outputs, "y")),
        ];
        let pair = (
            prop::option::of(reference_to(prompts, "x")),
            ends,
            prop::option::of(setting()),
        )
            .prop_map(|(prompt, (chosen, rejected), weight)| (prompt, chosen, rejected, weight))
            .prop_map(|(prompt, chosen, rejected, weight)| {
                let mut pair = Map::new();
                if let Some(prompt) = prompt {
                    pair.insert("prompt".into(), prompt);
                }
                pair.insert("chosen".into(), chosen);
                pair.insert("rejected".into(), rejected);
                if let Some(weight) = weight {
                    pair.insert("weight".into(), weight);
                }
                Value::Object(pair)
            });
        let table = move || {
            prop::collection::vec(
                prop::collection::vec(
                    prop_oneof![12 => (0.01f64..3.0).prop_map(|x| json!(x)), 1 => number()],
                    outputs,
                ),
                prompts,
            )
            .prop_map(|rows| json!(rows))
        };
        let generate = (0usize..20, prop::option::of(0.0f64..3.0), 0u64..3)
            .prop_map(|(count, tau, seed)| json!({"count": count, "tau": tau, "seed": seed}));
        (
            labels("y", outputs),
            labels("x", prompts),
            prop::option::of(table()),
            prop::collection::vec(pair, 1..6),
            prop::option::of((table(), generate)),
            prop::option::of(prop::collection::vec(run(), 1..3)),
            prop::option::of(0u64..30),
        )
            .prop_map(
                |(outputs, prompts, reference, pairs, truth, runs, steps)| {
                    let mut top = Map::new();
                    top.insert("outputs".into(), json!(outputs));
                    top.insert("prompts".into(), json!(prompts));
                    if let Some(reference) = reference {
                        top.insert("reference".into(), reference);
                    }
                    top.insert("pairs".into(), Value::Array(pairs));
                    if let Some((reward, generate)) = truth {
                        top.insert("reward".into(), reward);
                        top.insert("generate".into(), generate);
                    }
                    if let Some(runs) = runs {
                        top.insert("runs".into(), Value::Array(runs));
                    }
                    if let Some(steps) = steps {
                        top.insert("steps".into(), json!(steps));
                    }
                    Value::Object(top)
                },
            )
    })
}

/// One mutation of a JSON value at a random place: a field removed, replaced, renamed with a
/// typo, or an array element dropped. `choice` picks the place and the kind.
fn mutate(value: &mut Value, choice: &[u32], replacement: &Value) {
    let Some((&here, rest)) = choice.split_first() else {
        *value = replacement.clone();
        return;
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(here as usize % map.len()).unwrap().clone();
            match rest.first().map(|c| c % 4) {
                Some(0) => {
                    map.remove(&key);
                }
                Some(1) => {
                    let inner = map.remove(&key).unwrap();
                    map.insert(format!("{key}x"), inner);
                }
                _ => mutate(map.get_mut(&key).unwrap(), rest, replacement),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let index = here as usize % items.len();
            if rest.first() == Some(&0) {
                items.remove(index);
            } else {
                mutate(&mut items[index], rest, replacement);
            }
        }
        other => *other = replacement.clone(),
    }
}

/// The invariants every input must satisfy.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    match Scenario::from_json(text) {
        Err(error) => {
            // Every error says where: a field path, or a line and column for bad JSON. Only a
            // document that is not an object at all is about the whole input.
            prop_assert!(
                !error.path.is_empty() || error.message.starts_with("expected an object"),
                "an error without a place: {error:?}"
            );
            let shown = error.to_string();
            prop_assert!(
                !shown.chars().any(char::is_control),
                "control characters reach the terminal: {shown:?}"
            );
        }
        Ok(scenario) => check_valid(&scenario)?,
    }
    Ok(())
}

/// A scenario that reads: it round-trips, and (within the command line's limit, as `dpo check`
/// and `dpo run` see it) it builds, trains and reports without a panic.
fn check_valid(scenario: &Scenario) -> Result<(), TestCaseError> {
    let canonical = scenario.to_json_pretty();
    let again = Scenario::from_json(&canonical);
    prop_assert_eq!(again.as_ref(), Ok(scenario), "{}", canonical);
    let usage = Usage {
        steps: 5,
        records: 8,
        margins: true,
        metric_records: 6,
        ..Usage::default()
    };
    let estimate = Estimate::new(scenario, &usage);
    if estimate.check(&Limits::COMMAND_LINE).is_err() {
        return Ok(());
    }
    let built = scenario.run_set();
    prop_assert!(built.is_ok(), "reads but does not build: {:?}", built.err());
    let mut set = built.unwrap();
    let mut history = History::new(set.runs().len(), 8);
    history.record(&set);
    for _ in 0..5 {
        set.step(1);
        history.record(&set);
    }
    for (run, metrics) in set.runs().iter().zip(set.metrics()) {
        prop_assert_eq!(metrics.step, run.steps());
        prop_assert!(run.steps() <= 5);
        // A run that stopped says so; one that trained has finite logits.
        if metrics.diverged_at.is_none() {
            prop_assert!(run.logits().iter().all(|l| l.is_finite()));
        }
        let csv = dpo_playground::csv::row(&run.config().name, &metrics);
        prop_assert!(!csv.contains("NaN") && !csv.contains("inf"), "{}", csv);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn generated_scenarios_keep_the_invariants(value in scenario()) {
        check_text(&value.to_string())?;
    }

    #[test]
    fn mutated_presets_keep_the_invariants(
        preset in 0..PRESETS.len(),
        mutations in prop::collection::vec(
            (prop::collection::vec(0u32..16, 1..5), any_json()),
            1..4,
        ),
    ) {
        let mut value: Value = serde_json::from_str(PRESETS[preset].json).unwrap();
        for (choice, replacement) in &mutations {
            mutate(&mut value, choice, replacement);
        }
        check_text(&value.to_string())?;
    }

    #[test]
    fn edited_preset_text_keeps_the_invariants(
        preset in 0..PRESETS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..4),
    ) {
        // Character-level edits: what a hand-edited file or a damaged link holds.
        let mut text: Vec<char> = PRESETS[preset].json.chars().collect();
        for (at, kind, c) in edits {
            let i = at.index(text.len() + 1);
            match kind {
                0 => text.insert(i, c),
                1 if i < text.len() => { text.remove(i); }
                _ if i < text.len() => text[i] = c,
                _ => text.push(c),
            }
        }
        check_text(&text.into_iter().collect::<String>())?;
    }

    #[test]
    fn any_url_payload_keeps_the_invariants(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        // A `#s=` hash decodes to arbitrary bytes; the page hands their UTF-8 reading over.
        check_text(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn a_repeated_key_is_always_named(value in scenario(), key in 0usize..8) {
        // Repeat the top-level field `key` (textually, so serde's map does not merge it).
        let Value::Object(map) = &value else { unreachable!() };
        let name = map.keys().nth(key % map.len()).unwrap().clone();
        let text = value.to_string();
        let doubled = format!("{{\"{name}\": 1, {}", &text[1..]);
        let error = Scenario::from_json(&doubled).unwrap_err();
        prop_assert_eq!(error.path, name);
        prop_assert_eq!(error.message, "duplicate field");
    }
}
