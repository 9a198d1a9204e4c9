//! Sweeps: the format's `sweep` and `validation` blocks, the grid's expansion, the held-out
//! split, the statistics, and that neither a one-point sweep nor the thread count changes a bit.

use dpo_playground::engine::sweep::{
    replicate_seed, summarize, Band, Frontier, Summary, Sweep, SweepTraining, Value, CURVE_METRICS,
};
use dpo_playground::engine::{Init, LossKind, RunSet};
use dpo_playground::presets::Preset;
use dpo_playground::scenario::Scenario;

/// The default preset with `extra` fields added at its top level.
fn scenario_with(extra: &str) -> Result<Scenario, String> {
    let base = Preset::find("default").unwrap().json.trim_end();
    let text = format!("{},{extra}}}", base.strip_suffix('}').unwrap());
    Scenario::from_json(&text).map_err(|e| e.to_string())
}

#[test]
fn replicate_seeds_are_stable_and_distinct() {
    // 42 + r * 0x9E3779B97F4A7C15 mod 2^64, computed with Python's integers.
    let golden = [
        42,
        11_400_714_819_323_198_527,
        4_354_685_564_936_845_396,
        15_755_400_384_260_043_881,
    ];
    for (r, &seed) in golden.iter().enumerate() {
        assert_eq!(replicate_seed(42, r as u32), seed, "replicate {r}");
    }
    let seeds: std::collections::HashSet<u64> = (0..10_000).map(|r| replicate_seed(7, r)).collect();
    assert_eq!(seeds.len(), 10_000);
}

#[test]
fn statistics_by_hand() {
    // 1, 2, 3, 4: mean 2.5; sample variance ((1.5^2 + 0.5^2) * 2) / 3 = 5/3.
    let s = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
    assert_eq!(s.count, 4);
    assert_eq!(s.mean, 2.5);
    assert!((s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-15, "{}", s.std);
    assert_eq!((s.min, s.max), (1.0, 4.0));
    // Percentiles at position q * (n - 1) among 1, 2, 3, 4, linear between neighbours:
    // p10 at 0.3 -> 1.3; p25 at 0.75 -> 1.75; the median at 1.5 -> 2.5; p75 at 2.25 -> 3.25;
    // p90 at 2.7 -> 3.7.
    for (got, want) in s.quantiles.iter().zip([1.3, 1.75, 2.5, 3.25, 3.7]) {
        assert!((got - want).abs() < 1e-12, "{:?}", s.quantiles);
    }
    // Five values 10, 0, 40, 20, 30: p25 exactly at the second sorted value, the median at the
    // third.
    let five = summarize(&[10.0, 0.0, 40.0, 20.0, 30.0]).unwrap();
    assert_eq!(five.quantiles, [4.0, 10.0, 20.0, 30.0, 36.0]);
    // The bands read their ends from these.
    assert_eq!(Band::MinMax.bounds(&five), (0.0, 40.0));
    assert_eq!(Band::Deciles.bounds(&five), (4.0, 36.0));
    assert_eq!(Band::Quartiles.bounds(&five), (10.0, 30.0));
    assert_eq!(Band::named("iqr"), Some(Band::Quartiles));
    // Many values in a scrambled order (the summary sorts them with a heap sort of its own):
    // 0, 1, ..., 100 in the order 37 i mod 101, so the p-th percentile is p exactly.
    let scrambled: Vec<f64> = (0..101).map(|i| ((37 * i) % 101) as f64).collect();
    let spread = summarize(&scrambled).unwrap();
    assert_eq!((spread.min, spread.max), (0.0, 100.0));
    assert_eq!(spread.quantiles, [10.0, 25.0, 50.0, 75.0, 90.0]);
    // Ties and negative values: -1, -1, 0, 2, 2, 2 (p10 at 0.5 between -1 and -1).
    let ties = summarize(&[2.0, -1.0, 2.0, 0.0, -1.0, 2.0]).unwrap();
    assert_eq!(ties.quantiles, [-1.0, -0.75, 1.0, 2.0, 2.0]);
    assert_eq!(Band::named("quartiles"), None);
    // Values that are not finite (a diverged run's) are left out; one value has no spread.
    let one = summarize(&[f64::NAN, 0.25, f64::INFINITY]).unwrap();
    assert_eq!(
        one,
        Summary {
            count: 1,
            mean: 0.25,
            std: 0.0,
            min: 0.25,
            max: 0.25,
            quantiles: [0.25; 5],
        }
    );
    assert_eq!(summarize(&[f64::NAN]), None);
    assert_eq!(summarize(&[]), None);
}

#[test]
fn the_grid_expands_in_order_with_derived_gamma_last() {
    let scenario = scenario_with(
        r#""sweep": {"axes": [{"field": "gamma_over_beta", "values": [0, 2]},
                              {"field": "beta", "from": 0.1, "to": 10, "count": 3, "scale": "log"}],
                     "replicates": 2}"#,
    )
    .unwrap();
    let sweep = scenario.sweep.as_ref().unwrap();
    assert_eq!(sweep.points(), 6);
    assert_eq!(sweep.run_count(scenario.runs.len()), 3 * 6 * 2);
    let expanded = sweep.expand(&scenario.runs).unwrap();
    assert_eq!(expanded.settings.len(), 3 * 6);
    assert_eq!(expanded.runs.len(), 36);
    // The first axis slowest; a log range's ends exactly as written, its middle at 10^0 = 1.
    let betas: Vec<f32> = expanded.runs[..12]
        .iter()
        .step_by(2)
        .map(|r| r.beta)
        .collect();
    assert_eq!(betas[0], 0.1);
    assert!((betas[1] - 1.0).abs() < 1e-6);
    assert_eq!(betas[2], 10.0);
    assert_eq!(betas[3], 0.1);
    // gamma = (gamma / beta) * beta, with the setting's beta, whatever the axes' order.
    let setting = &expanded.settings[5];
    assert_eq!(setting.point, vec![Value::Number(2.0), Value::Number(10.0)]);
    let run = &expanded.runs[setting.runs.start];
    assert_eq!((run.beta, run.gamma), (10.0, 20.0));
    assert_eq!(setting.label(&sweep.axes), "gamma_over_beta = 2, beta = 10");
    // Replicates: same settings, seeds of replicate_seed.
    let (a, b) = (&expanded.runs[10], &expanded.runs[11]);
    assert_eq!((a.beta, a.gamma, a.loss), (b.beta, b.gamma, b.loss));
    assert_eq!(b.seed, replicate_seed(a.seed, 1));
    assert!(b.name.ends_with("#1"), "{}", b.name);
}

#[test]
fn a_one_point_sweep_is_the_template_bit_for_bit() {
    let scenario = Preset::find("learning-table").unwrap().scenario().unwrap();
    let one = Sweep {
        axes: Vec::new(),
        replicates: 1,
    };
    let mut training =
        SweepTraining::new(&one, &scenario.runs, scenario.problem().unwrap(), None).unwrap();
    let mut set: RunSet = scenario.run_set().unwrap();
    training.step(150);
    set.step(150);
    for (a, b) in training.set.runs().iter().zip(set.runs()) {
        let bits = |run: &dpo_playground::engine::Run| -> Vec<u32> {
            run.logits().iter().map(|l| l.to_bits()).collect()
        };
        assert_eq!(bits(a), bits(b), "{}", a.config().name);
        assert_eq!(a.config(), b.config());
    }
}

#[test]
fn the_sweep_run_set_built_from_text_takes_over_a_sweep_bit_for_bit() {
    // What the page's WebGPU module does with a sweep: build its runs from the scenario's text
    // (`Scenario::sweep_run_set`), take the state of the CPU's runs, and train on. With held-out
    // pairs, random inits and minibatches, the runs must be the same runs on the same pairs.
    let scenario = Preset::find("luck-and-tuning").unwrap().scenario().unwrap();
    let (train, validation) = scenario.problems().unwrap();
    assert!(validation.is_some(), "the preset holds pairs out");
    let sweep = scenario.sweep.clone().unwrap();
    let mut training = SweepTraining::new(&sweep, &scenario.runs, train, validation).unwrap();
    training.step(25);
    let mut other = scenario.sweep_run_set().unwrap();
    assert_eq!(other.problem().pairs(), training.set.problem().pairs());
    assert_eq!(other.runs().len(), training.set.runs().len());
    other
        .restore_states(&dpo_playground::engine::Run::encode_states(
            training.set.runs(),
        ))
        .unwrap();
    training.step(40);
    other.step(40);
    for (a, b) in training.set.runs().iter().zip(other.runs()) {
        assert_eq!(a.config(), b.config());
        let bits = |run: &dpo_playground::engine::Run| -> Vec<u32> {
            run.logits().iter().map(|l| l.to_bits()).collect()
        };
        assert_eq!(
            bits(a),
            bits(b),
            "{} (seed {})",
            a.config().name,
            a.config().seed
        );
    }
    // A scenario without a sweep has no sweep run set, and says so.
    let plain = Preset::find("default").unwrap().scenario().unwrap();
    let error = plain.sweep_run_set().expect_err("no sweep").to_string();
    assert!(
        error.contains("sweep") && error.contains("no sweep"),
        "{error}"
    );
}

/// A sweep with random inits, minibatches and held-out pairs, trained in a pool of `threads`.
fn train_in_pool(threads: usize) -> Vec<dpo_playground::engine::sweep::SettingSummary> {
    let mut scenario = scenario_with(
        r#""sweep": {"axes": [{"field": "gamma", "values": [0, 1, 4]}], "replicates": 5},
           "validation": {"fraction": 0.34, "seed": 9}"#,
    )
    .unwrap();
    for run in &mut scenario.runs {
        run.init = Init::Random { scale: 0.5 };
    }
    let (train, validation) = scenario.problems().unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let sweep = scenario.sweep.as_ref().unwrap();
        let mut training = SweepTraining::new(sweep, &scenario.runs, train, validation).unwrap();
        training.checkpoint();
        for _ in 0..10 {
            training.step(20);
            training.checkpoint();
        }
        training.summaries()
    })
}

#[test]
fn the_thread_count_changes_no_bit_of_a_sweep() {
    let one = train_in_pool(1);
    assert_eq!(one.len(), 9);
    // The replicates differ (random inits), so the spread is not zero, and there is a best step.
    let kl = one[0].latest.iter().find(|(n, _)| *n == "kl").unwrap().1;
    assert!(kl.std > 0.0 && kl.count == 5, "{kl:?}");
    assert!(one[0].best_step.is_some());
    assert!(one[0].best.iter().any(|(n, _)| *n == "validation_accuracy"));
    for threads in [2, 4] {
        assert_eq!(one, train_in_pool(threads), "{threads} threads");
    }
}

/// The `luck-and-tuning` preset with its `validation` block replaced by `validation`.
fn luck_with_validation(validation: &str) -> Scenario {
    let mut value: serde_json::Value =
        serde_json::from_str(Preset::find("luck-and-tuning").unwrap().json).unwrap();
    value["validation"] = serde_json::from_str(validation).unwrap();
    Scenario::from_json(&value.to_string()).unwrap()
}

#[test]
fn fresh_validation_pairs_are_drawn_from_the_reward_and_every_pair_trains() {
    let scenario = luck_with_validation(r#"{"fresh": 12, "seed": 5}"#);
    let prompts = scenario.prompts.len();
    let (train, held_out) = scenario.problems().unwrap();
    let held_out = held_out.expect("fresh validation holds pairs out");
    // Every pair of the scenario trains: the same pairs as with no validation at all.
    let mut plain = scenario.clone();
    plain.validation = None;
    assert_eq!(train.pairs(), plain.problem().unwrap().pairs());
    assert_eq!(train.pairs().len(), 80 * prompts);
    assert!(scenario.held_out_pairs().unwrap().is_empty());
    // `fresh` per prompt, drawn as `generate` draws but on a stream of their own: the seed of
    // the preset's own `generate` (5) does not give its first 12 draws again.
    assert_eq!(held_out.pairs().len(), 12 * prompts);
    assert_ne!(held_out.pairs(), &train.pairs()[..12 * prompts]);
    // Stable for a seed, another draw for another seed.
    let again = scenario.problems().unwrap().1.unwrap();
    assert_eq!(held_out.pairs(), again.pairs());
    let other = luck_with_validation(r#"{"fresh": 12, "seed": 6}"#);
    assert_ne!(
        held_out.pairs(),
        other.problems().unwrap().1.unwrap().pairs()
    );
    // The canonical form keeps it.
    let back = Scenario::from_json(&scenario.to_json_pretty()).unwrap();
    assert_eq!(back.validation, scenario.validation);
    assert!(scenario.to_json_pretty().contains(r#""fresh": 12"#));
    // A sweep scores its checkpoints on them: a best step and held-out accuracy per setting.
    let sweep = scenario.sweep.clone().unwrap();
    let mut training = SweepTraining::new(&sweep, &scenario.runs, train, Some(held_out)).unwrap();
    training.checkpoint();
    training.step(40);
    training.checkpoint();
    let summaries = training.summaries();
    assert!(summaries[0].best_step.is_some());
    let accuracy = summaries[0]
        .latest
        .iter()
        .find(|(name, _)| *name == "validation_accuracy")
        .expect("held-out accuracy")
        .1;
    assert_eq!(accuracy.count, 32);
    assert!(accuracy.mean > 0.0 && accuracy.mean <= 1.0, "{accuracy:?}");
}

#[test]
fn validation_holds_out_a_seeded_share_of_the_pairs() {
    let text = |seed: u64| {
        let pairs: Vec<String> = (0..20)
            .map(|i| {
                let (a, b) = [("A", "B"), ("B", "C"), ("A", "C"), ("C", "D")][i % 4];
                format!(
                    r#"{{"chosen": "{a}", "rejected": "{b}", "weight": {}}}"#,
                    1 + i
                )
            })
            .collect();
        format!(
            r#"{{"outputs": ["A", "B", "C", "D"], "pairs": [{}],
                "validation": {{"fraction": 0.25, "seed": {seed}}}}}"#,
            pairs.join(",")
        )
    };
    let scenario = Scenario::from_json(&text(1)).unwrap();
    let (train, held) = scenario.problems().unwrap();
    let held = held.unwrap();
    assert_eq!((train.pairs().len(), held.pairs().len()), (15, 5));
    // Disjoint, and together every pair (the weights 1..=20 tell them apart).
    let mut weights: Vec<f32> = train
        .pairs()
        .iter()
        .chain(held.pairs())
        .map(|p| p.weight)
        .collect();
    weights.sort_by(f32::total_cmp);
    assert_eq!(weights, (1..=20).map(|w| w as f32).collect::<Vec<_>>());
    // Training sees only the training pairs; the same seed holds out the same pairs.
    assert_eq!(scenario.problem().unwrap().pairs(), train.pairs());
    let again = Scenario::from_json(&text(1)).unwrap().problems().unwrap();
    assert_eq!(again.1.unwrap().pairs(), held.pairs());
    let other = Scenario::from_json(&text(2)).unwrap().problems().unwrap();
    assert_ne!(other.1.unwrap().pairs(), held.pairs());
}

/// Twenty explicit pairs over four outputs with weights 1 to 20 (which tell them apart), the
/// pairs at `marked` carrying `"split": "validation"`, then `extra` top-level fields.
fn marked_pairs(marked: &[usize], extra: &str) -> String {
    let pairs: Vec<String> = (0..20)
        .map(|i| {
            let (a, b) = [("A", "B"), ("B", "C"), ("A", "C"), ("C", "D")][i % 4];
            let split = match (marked.contains(&i), i % 3) {
                (true, _) => r#", "split": "validation""#,
                // "train" is the default, accepted when written.
                (false, 0) => r#", "split": "train""#,
                (false, _) => "",
            };
            format!(
                r#"{{"chosen": "{a}", "rejected": "{b}", "weight": {}{split}}}"#,
                1 + i
            )
        })
        .collect();
    format!(
        r#"{{"outputs": ["A", "B", "C", "D"], "pairs": [{}]{extra}}}"#,
        pairs.join(",")
    )
}

#[test]
fn pairs_marked_for_validation_are_held_out_as_marked() {
    let marked = [2, 3, 11, 19];
    let scenario = Scenario::from_json(&marked_pairs(&marked, "")).unwrap();
    assert_eq!(scenario.validation_pairs, marked);
    assert_eq!(scenario.held_out_pairs().unwrap(), marked);
    let (train, held) = scenario.problems().unwrap();
    let held = held.expect("marked pairs are held out");
    let weights = |pairs: &[dpo_playground::engine::Pair]| -> Vec<f32> {
        pairs.iter().map(|p| p.weight).collect()
    };
    // Exactly the marked pairs, in order, and training on the rest (the runs see only them).
    assert_eq!(weights(held.pairs()), [3.0, 4.0, 12.0, 20.0]);
    let trained = weights(train.pairs());
    assert_eq!(trained.len(), 16);
    assert!(trained.iter().all(|w| !weights(held.pairs()).contains(w)));
    assert_eq!(scenario.problem().unwrap().pairs(), train.pairs());
    // The canonical form writes the marks (and only them) and reads back the same scenario.
    let canonical = scenario.to_json_pretty();
    assert_eq!(canonical.matches(r#""split": "validation""#).count(), 4);
    assert!(!canonical.contains(r#""split": "train""#));
    assert_eq!(Scenario::from_json(&canonical).unwrap(), scenario);
    // Another set of marks is other data (runs cannot carry over between them).
    let other = Scenario::from_json(&marked_pairs(&[2, 3, 11], "")).unwrap();
    assert!(!scenario.same_data(&other));
    // Generated pairs train beside the unmarked explicit ones.
    let generated = Scenario::from_json(&marked_pairs(
        &marked,
        r#", "reward": [[3, 2, 1, 0]], "generate": {"count": 7, "seed": 1}"#,
    ))
    .unwrap();
    let (train, held) = generated.problems().unwrap();
    assert_eq!((train.pairs().len(), held.unwrap().pairs().len()), (23, 4));
    // A sweep scores its checkpoints on the marked pairs as on a seeded share: held-out
    // accuracy per setting, and a best step.
    let swept = Scenario::from_json(&marked_pairs(
        &marked,
        r#", "sweep": {"axes": [{"field": "beta", "values": [0.1, 1]}], "replicates": 2}"#,
    ))
    .unwrap();
    let (train, held) = swept.problems().unwrap();
    let sweep = swept.sweep.clone().unwrap();
    let mut training = SweepTraining::new(&sweep, &swept.runs, train, held).unwrap();
    training.checkpoint();
    training.step(20);
    training.checkpoint();
    let summaries = training.summaries();
    assert!(summaries[0].best_step.is_some());
    assert!(summaries[0]
        .latest
        .iter()
        .any(|(name, _)| *name == "validation_accuracy"));
}

#[test]
fn marked_pairs_are_refused_with_a_validation_block_or_when_none_would_train() {
    let error = |text: &str| Scenario::from_json(text).unwrap_err().to_string();
    for block in [
        r#", "validation": {"fraction": 0.25, "seed": 1}"#,
        r#", "reward": [[3, 2, 1, 0]], "generate": {"count": 2}, "validation": {"fresh": 3, "seed": 1}"#,
    ] {
        let message = error(&marked_pairs(&[5, 7], block));
        assert!(
            message.starts_with("pairs[5].split: marks a pair held out")
                && message.contains("\"validation\" block"),
            "{message}"
        );
    }
    let message = error(&marked_pairs(&(0..20).collect::<Vec<_>>(), ""));
    assert!(
        message.starts_with("pairs: every pair is marked"),
        "{message}"
    );
    // With generated pairs to train on, every explicit pair may be held out.
    let all_marked = marked_pairs(
        &(0..20).collect::<Vec<_>>(),
        r#", "reward": [[3, 2, 1, 0]], "generate": {"count": 1}"#,
    );
    let (train, held) = Scenario::from_json(&all_marked)
        .unwrap()
        .problems()
        .unwrap();
    assert_eq!((train.pairs().len(), held.unwrap().pairs().len()), (1, 20));
    let message = error(
        &marked_pairs(&[], "").replace(r#""weight": 2}"#, r#""weight": 2, "split": "test"}"#),
    );
    assert_eq!(
        message,
        "pairs[1].split: unknown split \"test\" (expected \"train\" or \"validation\")"
    );
}

#[test]
fn marked_pairs_arriving_in_parts_keep_their_indices() {
    // The page reads a large file's pairs in parts: marks keep their place among all pairs.
    let header = r#"{"outputs": ["A", "B", "C"], "pairs": []}"#;
    let mut scenario = Scenario::header_from_json(header).unwrap();
    let part = |split: &str| {
        format!(
            r#"[{{"chosen": "A", "rejected": "B"}}, {{"chosen": "B", "rejected": "C"{split}}}]"#
        )
    };
    scenario
        .append_pairs_json(&part(r#", "split": "validation""#), 0)
        .unwrap();
    scenario.append_pairs_json(&part(""), 2).unwrap();
    scenario
        .append_pairs_json(&part(r#", "split": "validation""#), 4)
        .unwrap();
    assert_eq!(scenario.validation_pairs, [1, 5]);
    assert_eq!(scenario.held_out_pairs().unwrap(), [1, 5]);
    // The same scenario read whole.
    let whole = Scenario::from_json(&scenario.to_json_pretty()).unwrap();
    assert_eq!(whole, scenario);
    // A part with a mark, after a header with a validation block: refused, nothing appended.
    let mut blocked = Scenario::header_from_json(
        r#"{"outputs": ["A", "B", "C"], "pairs": [], "validation": {"fraction": 0.5, "seed": 0}}"#,
    )
    .unwrap();
    let message = blocked
        .append_pairs_json(&part(r#", "split": "validation""#), 8)
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("pairs[9].split:"), "{message}");
    assert!(blocked.pairs.is_empty() && blocked.validation_pairs.is_empty());
}

#[test]
fn sweeps_round_trip_through_the_canonical_form() {
    let scenario = scenario_with(
        r#""sweep": {"axes": [{"field": "loss", "values": ["hinge", "ipo"]},
                              {"field": "seed", "values": [1, 2]},
                              {"field": "lr", "from": 0.01, "to": 0.1, "count": 4}],
                     "replicates": 3},
           "validation": {"fraction": 0.5, "seed": 4}"#,
    )
    .unwrap();
    let again = Scenario::from_json(&scenario.to_json_pretty()).unwrap();
    assert_eq!(again, scenario);
    let expanded = scenario
        .sweep
        .as_ref()
        .unwrap()
        .expand(&scenario.runs)
        .unwrap();
    assert_eq!(expanded.runs[0].loss, LossKind::Hinge);
    assert_eq!(expanded.runs.len(), 3 * 2 * 2 * 4 * 3);
}

#[test]
fn bad_sweeps_are_named() {
    let cases = [
        (
            r#""sweep": {"axes": [{"field": "gama", "values": [1]}]}"#,
            r#"sweep.axes[0].field: unknown field "gama" (did you mean "gamma"?"#,
        ),
        (
            r#""sweep": {"axes": [{"field": "beta", "values": []}]}"#,
            "sweep.axes[0].values: is empty: give at least one value",
        ),
        (
            r#""sweep": {"axes": [{"field": "beta", "from": 0, "to": 1, "count": 3, "scale": "log"}]}"#,
            "sweep.axes[0]: a log range cannot reach 0 or below (from 0 to 1)",
        ),
        (
            r#""sweep": {"axes": [{"field": "gamma", "values": [1]}, {"field": "gamma_over_beta", "values": [1]}]}"#,
            r#"sweep.axes[1]: "gamma" (sweep.axes[0]) and "gamma_over_beta" (sweep.axes[1]) both set gamma"#,
        ),
        (
            r#""sweep": {"axes": [{"field": "beta", "values": [1], "from": 1}]}"#,
            r#"sweep.axes[0]: give either "values" or a range"#,
        ),
        (
            r#""sweep": {"axes": [{"field": "beta", "from": 1, "to": 2, "count": 0}]}"#,
            "sweep.axes[0].count: must be from 1 to 65536, not 0",
        ),
        (
            r#""sweep": {"axes": [{"field": "init_scale", "values": [1]}]}"#,
            r#"sweep.axes[0]: run 0 ("DPO"): init_scale needs a random initial policy"#,
        ),
        (
            r#""sweep": {"axes": [{"field": "beta", "values": [-1]}]}"#,
            r#"sweep: run 0 ("DPO") at beta = -1: "#,
        ),
        (
            r#""sweep": {"axes": [{"field": "beta", "values": [1]}, {"field": "beta", "values": [2]}]}"#,
            r#"sweep.axes[1].field: "beta" is already swept at sweep.axes[0]"#,
        ),
        (
            r#""sweep": {"axes": [{"field": "seed", "from": 0, "to": 99, "count": 100}], "replicates": 300}"#,
            "sweep: 3 runs x 100 seed values x 300 replicates make 90000 runs, more than the 65536",
        ),
        (
            r#""sweep": {"axes": [{"field": "loss", "values": ["dpo"]}]}"#,
            r#"sweep.axes[0].values[0]: unknown loss "dpo""#,
        ),
        (
            r#""validation": {"fraction": 1}"#,
            "validation.fraction: must be between 0 and 1",
        ),
        (
            r#""validation": {"fraction": 0.5, "fresh": 4}"#,
            r#"validation: give "fraction" (a share of the pairs held out) or "fresh" (pairs per prompt drawn from the reward), not both"#,
        ),
        (
            r#""validation": {"seed": 3}"#,
            r#"validation: give "fraction""#,
        ),
        (
            r#""validation": {"fresh": 0}"#,
            "validation.fresh: must be from 1 to",
        ),
        (
            // The default preset has no reward and no generate block to draw from.
            r#""validation": {"fresh": 8}"#,
            r#"validation.fresh: draws pairs as "generate" does: give the scenario a "generate" block"#,
        ),
    ];
    for (extra, expected) in cases {
        let error = scenario_with(extra).unwrap_err();
        assert!(
            error.starts_with(expected),
            "{extra}\n  gave: {error}\n  expected: {expected}"
        );
    }
    // lambda on a run without an l2 or kl regulariser.
    let scenario = scenario_with(r#""sweep": {"axes": [{"field": "lambda", "values": [0.1]}]}"#);
    assert!(scenario
        .unwrap_err()
        .contains("lambda needs an \"l2\" or \"kl\" regularizer"));
}

/// The `gamma-sweep` preset says what its sweep measures: the share of the learning signal on
/// pairs the reference ranks wrongly falls as gamma / beta grows, to exactly 0 for the hinge
/// from 10 on (only the reference-right row learns) but not for DPO; at gamma = 0 the hinge
/// learns only in the policy-wrong column; accuracy falls with gamma.
#[test]
fn the_gamma_sweep_preset_says_what_it_measures() {
    let scenario = Preset::find("gamma-sweep").unwrap().scenario().unwrap();
    let sweep = scenario.sweep.as_ref().unwrap();
    let mut training =
        SweepTraining::new(sweep, &scenario.runs, scenario.problem().unwrap(), None).unwrap();
    training.step(scenario.steps);
    training.checkpoint();
    let summaries = training.summaries();
    let mean = |setting: usize, metric: &str| {
        let s = &summaries[setting];
        s.latest.iter().find(|(n, _)| *n == metric).unwrap().1
    };
    let wrong_reference = |s: usize| mean(s, "share_wr").mean + mean(s, "share_ww").mean;
    let ratios: Vec<f64> = summaries[..7]
        .iter()
        .map(|s| s.setting.point[0].number().unwrap())
        .collect();
    assert_eq!(ratios, [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
    for template in [0, 7] {
        let shares: Vec<f64> = (template..template + 7).map(wrong_reference).collect();
        assert!(shares.windows(2).all(|w| w[1] <= w[0]), "{shares:?}");
        assert!(shares[0] > 0.35, "{shares:?}");
        let accuracy = |s| mean(s, "accuracy").mean;
        assert!(accuracy(template) > accuracy(template + 6) + 0.3);
    }
    // The hinge: at gamma = 0 only the policy-wrong column (rr and wr never learn, in any
    // replicate); from gamma = 10 beta no reference-wrong cell does.
    assert_eq!(mean(0, "share_rr").max + mean(0, "share_wr").max, 0.0);
    for s in [5, 6] {
        assert_eq!(mean(s, "share_wr").max + mean(s, "share_ww").max, 0.0);
    }
    // DPO: falling, never zero, under 1% at gamma = 20 beta.
    let dpo_end = wrong_reference(13);
    assert!(dpo_end > 0.0 && dpo_end < 0.01, "{dpo_end}");
    assert_eq!(summaries[0].setting.template_name, "hinge");
    assert_eq!(summaries[7].setting.template_name, "DPO");
}

/// The `luck-and-tuning` preset says what 32 seeds of one DPO setting measure: the final
/// held-out accuracy spreads over more than ten points; early stopping by held-out loss picks
/// steps far apart, finds a higher held-out accuracy than any final one, and still has a lower
/// true reward on average than training to the end.
#[test]
fn the_luck_and_tuning_preset_says_what_it_measures() {
    let scenario = Preset::find("luck-and-tuning").unwrap().scenario().unwrap();
    let (train, held_out) = scenario.problems().unwrap();
    assert_eq!(
        (
            train.pairs().len(),
            held_out.as_ref().unwrap().pairs().len()
        ),
        (56, 24)
    );
    let sweep = scenario.sweep.as_ref().unwrap();
    let mut training = SweepTraining::new(sweep, &scenario.runs, train, held_out).unwrap();
    // Checkpoints every 8 steps, as `dpo sweep` takes them by default (400 / 50).
    training.checkpoint();
    for _ in 0..50 {
        training.step(8);
        training.checkpoint();
    }
    let summary = &training.summaries()[0];
    let get =
        |list: &[(&str, Summary)], name: &str| list.iter().find(|(n, _)| *n == name).unwrap().1;
    let last = get(&summary.latest, "validation_accuracy");
    assert_eq!(last.count, 32);
    assert!(last.max - last.min > 0.1, "{last:?}");
    assert!(last.min < 0.63 && last.max > 0.74, "{last:?}");
    let step = summary.best_step.unwrap();
    assert!(step.min < 50.0 && step.max > 200.0, "{step:?}");
    let best = get(&summary.best, "validation_accuracy");
    assert!(best.max > last.max && best.max > 0.78, "{best:?} {last:?}");
    let (true_best, true_last) = (
        get(&summary.best, "true_reward"),
        get(&summary.latest, "true_reward"),
    );
    assert!(
        true_best.mean < true_last.mean,
        "{true_best:?} {true_last:?}"
    );
}

/// The `frontier` preset says what its reward–KL frontier shows: a larger beta ends every
/// variant closer to the reference; DPO's final points lie above gamma = 0's frontier (its final
/// points joined by straight lines, held flat past its ends) at every beta, and at beta = 5
/// DPO reaches more true reward (0.47) at less KL (0.011) than gamma = 0 (0.38 at 0.058); the
/// margin m = 1 ends every setting farther from the reference than m = 0.
#[test]
fn the_frontier_preset_says_what_it_measures() {
    let scenario = Preset::find("frontier").unwrap().scenario().unwrap();
    let sweep = scenario.sweep.as_ref().unwrap();
    let mut training =
        SweepTraining::new(sweep, &scenario.runs, scenario.problem().unwrap(), None).unwrap();
    training.checkpoint();
    // Checkpoints every 6 steps, as `dpo sweep` takes them by default (300 / 50).
    for _ in 0..50 {
        training.step(6);
        training.checkpoint();
    }
    let summaries = training.summaries();
    // Settings: template (m = 0, m = 1), then beta (5 values), then gamma / beta (0, 1).
    let setting = |m: usize, beta: usize, ratio: usize| m * 10 + beta * 2 + ratio;
    let point = |s: usize| {
        let get = |name: &str| {
            summaries[s]
                .latest
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
                .mean
        };
        (get("kl"), get("true_reward"))
    };
    assert_eq!(
        summaries[setting(1, 4, 1)].setting.template_name,
        "logistic, m = 1"
    );
    let betas: Vec<f64> = (0..5)
        .map(|b| {
            summaries[setting(0, b, 0)].setting.point[0]
                .number()
                .unwrap()
        })
        .collect();
    assert!((betas[0] - 0.05).abs() < 1e-12 && (betas[4] - 5.0).abs() < 1e-12);
    for m in 0..2 {
        for ratio in 0..2 {
            let kl: Vec<f64> = (0..5).map(|b| point(setting(m, b, ratio)).0).collect();
            assert!(kl.windows(2).all(|w| w[1] < w[0]), "{kl:?}");
        }
    }
    // gamma = 0's frontier, from its final points.
    let mut gamma_zero: Vec<(f64, f64)> = (0..5).map(|b| point(setting(0, b, 0))).collect();
    gamma_zero.sort_by(|p, q| p.0.total_cmp(&q.0));
    let frontier_at = |kl: f64| {
        let (first, last) = (gamma_zero[0], gamma_zero[4]);
        if kl <= first.0 {
            return first.1;
        }
        if kl >= last.0 {
            return last.1;
        }
        let i = gamma_zero.iter().position(|p| p.0 >= kl).unwrap();
        let (a, b) = (gamma_zero[i - 1], gamma_zero[i]);
        a.1 + (b.1 - a.1) * (kl - a.0) / (b.0 - a.0)
    };
    for (b, beta) in betas.iter().enumerate() {
        let (kl, reward) = point(setting(0, b, 1));
        assert!(
            reward > frontier_at(kl),
            "DPO at beta = {beta}: {reward} at KL {kl}, gamma = 0's frontier {}",
            frontier_at(kl)
        );
    }
    let (dpo, zero) = (point(setting(0, 4, 1)), point(setting(0, 4, 0)));
    assert!(dpo.0 < 0.02 && dpo.1 > 0.45, "{dpo:?}");
    assert!(zero.0 > 0.05 && zero.1 < 0.40, "{zero:?}");
    for b in 0..5 {
        for ratio in 0..2 {
            assert!(point(setting(1, b, ratio)).0 > point(setting(0, b, ratio)).0);
        }
    }
    // The frontier's record: every checkpoint (51, under the capacity), every setting.
    let frontier = training.frontier();
    assert_eq!(frontier.checkpoints.len(), 51);
    assert!(frontier
        .checkpoints
        .iter()
        .all(|(_, points)| points.len() == 20));
    let (step, last) = frontier.checkpoints.last().unwrap();
    assert_eq!(*step, 300);
    let dpo_point = last[setting(0, 4, 1)].unwrap();
    assert!((dpo_point.0 - dpo.0).abs() < 1e-12 && (dpo_point.1 - dpo.1).abs() < 1e-12);
}

/// The frontier's record stays bounded however many checkpoints are taken: past its capacity
/// every other checkpoint goes, the first and the newest stay, the steps stay in order; and a
/// scenario without a ground-truth reward records none.
#[test]
fn the_frontier_record_is_bounded() {
    let scenario = Preset::find("frontier").unwrap().scenario().unwrap();
    let sweep = Sweep {
        axes: Vec::new(),
        replicates: 1,
    };
    let mut training =
        SweepTraining::new(&sweep, &scenario.runs, scenario.problem().unwrap(), None).unwrap();
    training.checkpoint();
    for _ in 0..200 {
        training.step(1);
        training.checkpoint();
    }
    let steps: Vec<u64> = training
        .frontier()
        .checkpoints
        .iter()
        .map(|c| c.0)
        .collect();
    assert!(steps.len() <= Frontier::CAPACITY, "{}", steps.len());
    assert!(steps.len() >= Frontier::CAPACITY / 2);
    assert_eq!((steps[0], *steps.last().unwrap()), (0, 200));
    assert!(steps.windows(2).all(|w| w[0] < w[1]));

    let plain = Preset::find("default").unwrap().scenario().unwrap();
    let mut training =
        SweepTraining::new(&sweep, &plain.runs, plain.problem().unwrap(), None).unwrap();
    training.step(3);
    training.checkpoint();
    assert!(training.frontier().checkpoints.is_empty());
}

/// The training curves: at every checkpoint each setting's statistics over its replicates; the
/// last checkpoint's are the summaries' own, the band holds the mean, and a metric that does not
/// apply (no held-out pairs, no reward) is absent rather than zero.
#[test]
fn the_training_curves_are_the_statistics_at_each_checkpoint() {
    let scenario = Preset::find("luck-and-tuning").unwrap().scenario().unwrap();
    let (train, held_out) = scenario.problems().unwrap();
    let sweep = scenario.sweep.as_ref().unwrap();
    let mut training = SweepTraining::new(sweep, &scenario.runs, train, held_out).unwrap();
    training.checkpoint();
    for _ in 0..10 {
        training.step(8);
        training.checkpoint();
    }
    let curves = training.curves();
    let steps: Vec<u64> = curves.checkpoints.iter().map(|c| c.0).collect();
    assert_eq!(steps, (0..=10).map(|i| i * 8).collect::<Vec<u64>>());
    let summary = &training.summaries()[0];
    let (_, last) = curves.checkpoints.last().unwrap();
    for (m, name) in CURVE_METRICS.iter().enumerate() {
        let expected = summary.latest.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(last[0][m], Some(expected), "{name}");
    }
    for (_, statistics) in &curves.checkpoints {
        for s in statistics[0].iter().flatten() {
            assert!(s.min <= s.mean && s.mean <= s.max && s.count == 32, "{s:?}");
        }
    }
    // The held-out accuracy moves over training (the curve is not one value repeated).
    let accuracy = CURVE_METRICS
        .iter()
        .position(|&n| n == "validation_accuracy")
        .unwrap();
    let first = curves.checkpoints[0].1[0][accuracy].unwrap().mean;
    assert!((last[0][accuracy].unwrap().mean - first).abs() > 0.05);

    let plain = Preset::find("gamma-sweep").unwrap().scenario().unwrap();
    let mut training = SweepTraining::new(
        plain.sweep.as_ref().unwrap(),
        &plain.runs,
        plain.problem().unwrap(),
        None,
    )
    .unwrap();
    training.step(2);
    training.checkpoint();
    let (_, statistics) = &training.curves().checkpoints[0];
    for name in ["true_reward", "validation_loss", "validation_accuracy"] {
        let m = CURVE_METRICS.iter().position(|&n| n == name).unwrap();
        assert!(statistics.iter().all(|s| s[m].is_none()), "{name}");
    }
    assert!(statistics.iter().all(|s| s[0].is_some()));
}

/// The default preset cut to its first run, with `extra` fields added at its top level.
fn one_run_with(extra: &str) -> Result<Scenario, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(Preset::find("default").unwrap().json).unwrap();
    value["runs"] = serde_json::json!([value["runs"][0].clone()]);
    let extra: serde_json::Value = serde_json::from_str(&format!("{{{extra}}}")).unwrap();
    for (key, item) in extra.as_object().unwrap() {
        value[key] = item.clone();
    }
    Scenario::from_json(&value.to_string()).map_err(|e| e.to_string())
}

#[test]
fn the_format_limits_hold_at_their_boundaries() {
    use dpo_playground::scenario::sweep::{MAX_POINTS, MAX_REPLICATES};
    let refused = |extra: &str, expected: &str| {
        let error = one_run_with(extra).expect_err(extra);
        assert!(
            error.starts_with(expected),
            "{extra}\n  gave: {error}\n  expected: {expected}"
        );
    };
    // Replicates: from 1 to the limit, which one run may reach (65,536 runs, the run limit too).
    let at_limit = format!(r#""sweep": {{"replicates": {MAX_REPLICATES}}}"#);
    assert_eq!(
        one_run_with(&at_limit).unwrap().sweep.unwrap().run_count(1),
        MAX_REPLICATES as usize
    );
    refused(
        &format!(r#""sweep": {{"replicates": {}}}"#, MAX_REPLICATES + 1),
        "sweep.replicates: must be from 1 to",
    );
    refused(
        r#""sweep": {"replicates": 0}"#,
        "sweep.replicates: must be from 1 to",
    );
    // An axis of values or a range: at most MAX_POINTS points.
    let list = |n: u64| {
        let values: Vec<String> = (0..n)
            .map(|i| format!("{}", 0.5 + i as f64 * 1e-6))
            .collect();
        format!(
            r#""sweep": {{"axes": [{{"field": "beta", "values": [{}]}}]}}"#,
            values.join(",")
        )
    };
    assert!(one_run_with(&list(MAX_POINTS)).is_ok());
    refused(
        &list(MAX_POINTS + 1),
        "sweep.axes[0].values: has more than the",
    );
    let range = |n: u64| {
        format!(r#""sweep": {{"axes": [{{"field": "beta", "from": 0.5, "to": 2, "count": {n}}}]}}"#)
    };
    assert!(one_run_with(&range(MAX_POINTS)).is_ok());
    refused(
        &range(MAX_POINTS + 1),
        "sweep.axes[0].count: must be from 1 to",
    );
    // Whole-number fields take whole numbers only; a batch size is at least 1.
    refused(
        r#""sweep": {"axes": [{"field": "seed", "values": [1.5]}]}"#,
        "sweep.axes[0].values[0]",
    );
    refused(
        r#""sweep": {"axes": [{"field": "batch_size", "values": [1.5]}]}"#,
        "sweep.axes[0].values[0]",
    );
    refused(
        r#""sweep": {"axes": [{"field": "batch_size", "values": [0]}]}"#,
        "sweep.axes[0].values[0]: a batch size is at least 1",
    );
    assert!(
        one_run_with(r#""sweep": {"axes": [{"field": "batch_size", "values": [1, 2]}]}"#).is_ok()
    );
    // Numbers up to f32's largest; past it, refused.
    let margin =
        |x: f64| format!(r#""sweep": {{"axes": [{{"field": "margin", "values": [{x:e}]}}]}}"#);
    assert!(
        one_run_with(&margin(f32::MAX as f64)).is_ok(),
        "{:?}",
        one_run_with(&margin(f32::MAX as f64))
    );
    refused(
        &margin(1e39),
        "sweep.axes[0].values[0]: 1000000000000000000000000000000000000000 is too large",
    );
    // validation: a fraction strictly between 0 and 1.
    refused(
        r#""validation": {"fraction": 0}"#,
        "validation.fraction: must be between 0 and 1",
    );
}

#[test]
fn fresh_validation_counts_up_to_the_pair_limit() {
    use dpo_playground::scenario::MAX_PAIRS;
    let max = MAX_PAIRS as u64;
    // luck-and-tuning has one prompt and a generate block.
    let accepted = luck_with_validation(&format!(r#"{{"fresh": {max}}}"#));
    assert!(
        matches!(accepted.validation, Some(dpo_playground::engine::sweep::Validation::Fresh { count, .. }) if count as u64 == max)
    );
    let mut value: serde_json::Value =
        serde_json::from_str(Preset::find("luck-and-tuning").unwrap().json).unwrap();
    for (count, expected) in [
        (0, "validation.fresh: must be from 1 to"),
        (max + 1, "validation.fresh: must be from 1 to"),
    ] {
        value["validation"] = serde_json::json!({ "fresh": count });
        let error = Scenario::from_json(&value.to_string())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(expected), "{count}: {error}");
    }
}

/// Every field a sweep can set reaches its run, a linear range's inner points included, and the
/// points' texts are the shortest that read back.
#[test]
fn each_swept_field_reaches_its_runs() {
    use dpo_playground::engine::{Optimizer, Regularizer};
    let scenario = |runs: &str, axes: &str| {
        Scenario::from_json(&format!(
            r#"{{"outputs": ["A", "B"], "pairs": [{{"chosen": "A", "rejected": "B"}}],
                "runs": [{runs}], "sweep": {{"axes": [{axes}]}}}}"#
        ))
        .unwrap()
    };
    let expanded = |scenario: &Scenario| {
        let sweep = scenario.sweep.as_ref().unwrap();
        sweep.expand(&scenario.runs).unwrap().runs
    };
    // init_scale, lambda (kl and l2) and a linear range of learning rates: 1 to 3 in 5 points.
    for kind in ["kl", "l2"] {
        let s = scenario(
            &format!(
                r#"{{"name": "r", "init": {{"kind": "random", "scale": 1.0}},
                     "regularizer": {{"kind": "{kind}", "lambda": 0.1}}}}"#
            ),
            r#"{"field": "init_scale", "values": [3]}, {"field": "lambda", "values": [0.25]},
               {"field": "lr", "from": 1, "to": 3, "count": 5}"#,
        );
        let runs = expanded(&s);
        assert_eq!(runs.len(), 5);
        let lrs: Vec<f32> = runs
            .iter()
            .map(|run| match run.optimizer {
                Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
            })
            .collect();
        assert_eq!(lrs, [1.0, 1.5, 2.0, 2.5, 3.0]);
        for run in &runs {
            assert_eq!(run.init, Init::Random { scale: 3.0 });
            let lambda = match run.regularizer {
                Regularizer::Kl { lambda } | Regularizer::L2 { lambda } => lambda,
                _ => panic!("{kind}: {:?}", run.regularizer),
            };
            assert_eq!(lambda, 0.25, "{kind}");
        }
    }
    // Mixout's p.
    let s = scenario(
        r#"{"name": "r", "regularizer": {"kind": "mixout", "p": 0.5}}"#,
        r#"{"field": "p", "values": [0.2]}"#,
    );
    assert_eq!(expanded(&s)[0].regularizer, Regularizer::Mixout { p: 0.2 });
    // Texts: an f32 value as the f32 reads (0.1 stored in f64 from an f32 is not
    // 0.10000000149011612), any other as the f64 reads (1/3 is no f32: 0.33333334 as one).
    assert_eq!(Value::Number(0.1f32 as f64).text(), "0.1");
    assert_eq!(Value::Number(0.1).text(), "0.1");
    assert_eq!(Value::Number(1.0 / 3.0).text(), "0.3333333333333333");
    assert_eq!(Value::Number(2.5).text(), "2.5");
    // The bands as the charts' titles name them.
    assert_eq!(Band::MinMax.describe(), "band min-max");
    assert_eq!(Band::Deciles.describe(), "band 10th-90th percentile");
    assert_eq!(Band::Quartiles.describe(), "band interquartile");
}

/// The sample standard deviation two-pass, about the mean: accurate for a small spread around a
/// large mean (where the sum of `v^2 - mean^2` loses every digit to cancellation).
#[test]
fn the_spread_is_accurate_far_from_zero() {
    // 1e6 + 0, 0.1, ..., 0.4: the spread of 0, 0.1, ..., 0.4, sqrt(0.025); each value is
    // within 1.2e-10 of its decimal, which bounds the error.
    let values: Vec<f64> = (0..5).map(|k| 1e6 + 0.1 * k as f64).collect();
    let s = summarize(&values).unwrap();
    assert!(
        (s.std - 0.025f64.sqrt()).abs() < 1e-9,
        "{} against {}",
        s.std,
        0.025f64.sqrt()
    );
}

/// A checkpoint reports each metric of SWEEP_METRICS from its own field.
#[test]
fn a_checkpoint_reads_each_metric_from_its_field() {
    use dpo_playground::engine::sweep::{Checkpoint, SWEEP_METRICS};
    use dpo_playground::engine::{LearningCell, LearningTable, Metrics};
    let cell = |share: f64| LearningCell {
        share,
        ..LearningCell::default()
    };
    let train = Metrics {
        loss: 1.0,
        accuracy: 2.0,
        kl: 3.0,
        entropy: 4.0,
        reward_margin: 5.0,
        true_reward: Some(6.0),
        ranking_agreement: Some(7.0),
        accumulated_table: Some(LearningTable {
            reference_right_policy_right: cell(8.0),
            reference_right_policy_wrong: cell(9.0),
            reference_wrong_policy_right: cell(10.0),
            reference_wrong_policy_wrong: cell(11.0),
        }),
        ..Metrics::default()
    };
    let validation = Metrics {
        loss: 12.0,
        accuracy: 13.0,
        reward_margin: 14.0,
        ..Metrics::default()
    };
    let checkpoint = Checkpoint {
        step: 3,
        train: train.clone(),
        validation: Some(validation),
    };
    let values: Vec<Option<f64>> = SWEEP_METRICS
        .iter()
        .map(|name| checkpoint.value(name))
        .collect();
    let expected: Vec<Option<f64>> = (1..=14).map(|v| Some(v as f64)).collect();
    assert_eq!(values, expected);
    assert_eq!(checkpoint.value("no such metric"), None);
    // Without ground truth, an accumulated table or held-out pairs, those metrics do not apply.
    let bare = Checkpoint {
        step: 3,
        train: Metrics::default(),
        validation: None,
    };
    let applies: Vec<&str> = SWEEP_METRICS
        .iter()
        .copied()
        .filter(|name| bare.value(name).is_some())
        .collect();
    assert_eq!(
        applies,
        ["loss", "accuracy", "kl", "entropy", "reward_margin"]
    );
}

/// The best checkpoint by held-out loss: the first of equal ones, never a diverged run's; the
/// latest checkpoint of each run; and which metrics a sweep reports.
#[test]
fn best_and_latest_checkpoints_and_the_reported_metrics() {
    use dpo_playground::engine::sweep::{reported, SWEEP_METRICS};
    // The held-out pair is on prompt q, which no training pair touches: with no regulariser its
    // logits never move, so every checkpoint's held-out loss is the same.
    let text = |runs: &str| {
        format!(
            r#"{{"outputs": ["A", "B", "C"], "prompts": ["p", "q"],
                "pairs": [{{"prompt": "p", "chosen": "A", "rejected": "B"}},
                          {{"prompt": "p", "chosen": "B", "rejected": "C"}},
                          {{"prompt": "q", "chosen": "A", "rejected": "C", "split": "validation"}}],
                "runs": [{runs}],
                "sweep": {{"axes": [{{"field": "beta", "values": [1, 2]}}]}}}}"#
        )
    };
    let scenario = Scenario::from_json(&text(r#"{"name": "r"}"#)).unwrap();
    let (train, held_out) = scenario.problems().unwrap();
    let sweep = scenario.sweep.clone().unwrap();
    let mut training =
        SweepTraining::new(&sweep, &scenario.runs, train.clone(), held_out.clone()).unwrap();
    assert!(training.latest().iter().all(Option::is_none));
    training.checkpoint();
    training.step(5);
    training.checkpoint();
    let steps = |checkpoints: &[Option<dpo_playground::engine::sweep::Checkpoint>]| {
        checkpoints
            .iter()
            .map(|c| c.as_ref().map(|c| c.step))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(training.latest()), [Some(5), Some(5)]);
    // The held-out loss tied: the first checkpoint stays the best.
    assert_eq!(steps(training.best()), [Some(0), Some(0)]);
    let best = training.best()[0].as_ref().unwrap();
    let latest = training.latest()[0].as_ref().unwrap();
    assert_eq!(
        best.validation.as_ref().unwrap().loss,
        latest.validation.as_ref().unwrap().loss
    );
    // Reported: the training metrics, the shares and the held-out ones; no ground truth here.
    let summaries = training.summaries();
    let metrics = reported(&SWEEP_METRICS, &summaries);
    assert_eq!(
        metrics,
        [
            "loss",
            "accuracy",
            "kl",
            "entropy",
            "reward_margin",
            "share_rr",
            "share_rw",
            "share_wr",
            "share_ww",
            "validation_loss",
            "validation_accuracy",
            "validation_reward_margin",
        ]
    );
    assert_eq!(reported(&["kl", "true_reward"], &summaries), ["kl"]);

    // A run that diverged before its first checkpoint has no best one, whatever its held-out
    // loss (the state it stopped in is finite).
    let diverging = r#"{"name": "r", "loss": "ipo", "optimizer": {"kind": "sgd", "lr": 1e30}}"#;
    let scenario = Scenario::from_json(&text(diverging)).unwrap();
    let sweep = scenario.sweep.clone().unwrap();
    let mut training = SweepTraining::new(&sweep, &scenario.runs, train, held_out).unwrap();
    training.step(8);
    training.checkpoint();
    let latest = training.latest()[0].as_ref().unwrap();
    assert!(latest.train.diverged, "IPO with lr 1e30 diverges");
    assert!(latest.validation.as_ref().unwrap().loss.is_finite());
    assert_eq!(steps(training.best()), [None, None]);
}
