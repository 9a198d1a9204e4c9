//! Each preset's claim (SPEC section 10), checked quantitatively on the shipped scenario.

use dpo_playground::engine::{LearningTable, RunSet};
use dpo_playground::presets::{Preset, PRESETS};

fn preset(id: &str) -> RunSet {
    Preset::find(id)
        .unwrap()
        .scenario()
        .unwrap()
        .run_set()
        .unwrap()
}

fn run_index(set: &RunSet, name: &str) -> usize {
    set.runs()
        .iter()
        .position(|r| r.config().name == name)
        .unwrap_or_else(|| panic!("no run {name:?}"))
}

/// Calls `check` with every run's learning table after every step of the preset.
fn each_step(set: &mut RunSet, steps: u64, mut check: impl FnMut(usize, u64, &LearningTable)) {
    for step in 0..steps {
        for (r, metrics) in set.metrics().iter().enumerate() {
            check(r, step, &metrics.learning_table);
        }
        set.step(1);
    }
}

#[test]
fn every_preset_loads_trains_and_explains_itself() {
    for preset in PRESETS {
        let scenario = preset
            .scenario()
            .unwrap_or_else(|e| panic!("{}: {e}", preset.id));
        assert!(
            scenario.title.as_deref().is_some_and(|t| !t.is_empty()),
            "{} has no title",
            preset.id
        );
        // The page lists the presets by the title `PRESETS` holds beside the file's text.
        assert_eq!(
            scenario.title.as_deref(),
            Some(preset.title),
            "{}",
            preset.id
        );
        assert!(
            scenario
                .description
                .as_deref()
                .is_some_and(|d| d.len() > 100),
            "{} has no explanation",
            preset.id
        );
        let mut set = scenario.run_set().unwrap();
        set.step(scenario.steps);
        for metrics in set.metrics() {
            assert!(
                metrics.loss.is_finite() && metrics.kl.is_finite(),
                "{}: {metrics:?}",
                preset.id
            );
        }
    }
}

#[test]
fn reference_wrong_large_gamma_never_learns_reference_wrong_pairs() {
    let mut set = preset("reference-wrong-large-gamma");
    let hinge = run_index(&set, "hinge, gamma = 20");
    let mut learned_elsewhere = 0.0;
    each_step(&mut set, 200, |r, step, table| {
        if r == hinge {
            let wrong = table.reference_wrong_policy_right.signal
                + table.reference_wrong_policy_wrong.signal;
            assert_eq!(
                wrong, 0.0,
                "step {step}: reference-wrong pairs got signal {wrong}"
            );
            learned_elsewhere += table.reference_right_policy_right.signal
                + table.reference_right_policy_wrong.signal;
        }
    });
    assert!(
        learned_elsewhere > 0.0,
        "the hinge must learn the reference-right pairs"
    );
    // The data has reference-wrong pairs, and DPO and gamma = 0 do learn them.
    let metrics = set.metrics();
    assert!(
        metrics[hinge]
            .learning_table
            .reference_wrong_policy_wrong
            .pairs
            > 0
    );
    assert!(metrics[run_index(&set, "gamma = 0")].accuracy > metrics[hinge].accuracy);
}

#[test]
fn gamma_zero_learns_exactly_where_the_policy_is_wrong() {
    let mut set = preset("gamma-zero");
    let hinge = run_index(&set, "hinge, gamma = 0");
    let problem = set.problem().clone();
    for step in 0..200 {
        let run = &set.runs()[hinge];
        let metrics = run.metrics(&problem);
        let table = metrics.learning_table;
        assert_eq!(
            table.reference_right_policy_right.signal + table.reference_wrong_policy_right.signal,
            0.0,
            "step {step}"
        );
        // With m = 0 and gamma = 0, u = beta * h_pi: a pair learns exactly when h_pi < 0.
        for (p, u) in run.margins(&problem).iter().enumerate() {
            let wrong = *u < 0.0;
            let pair = problem.pairs()[p];
            let mut probe = run.clone();
            let gradient = probe.gradient(&problem);
            if wrong {
                assert!(
                    gradient[pair.chosen] < 0.0 || gradient[pair.rejected] > 0.0,
                    "step {step}: pair {p} should learn"
                );
            }
        }
        set.step(1);
    }
    let metrics = set.metrics();
    assert_eq!(
        metrics[hinge].accuracy, 1.0,
        "gamma = 0 gets every pair right in the end"
    );
    assert!(
        metrics[hinge]
            .learning_table
            .reference_wrong_policy_right
            .pairs
            > 0,
        "including the ones the reference gets wrong"
    );
}

#[test]
fn init_at_reference_hinge_does_not_move_at_all() {
    let mut set = preset("init-at-reference");
    let initial = set.runs()[0].logits().to_vec();
    assert_eq!(initial, set.problem().log_reference());
    set.step(200);
    let hinge = run_index(&set, "hinge, gamma = beta");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let hinge_bits: Vec<u32> = set.runs()[hinge]
        .logits()
        .iter()
        .map(|l| l.to_bits())
        .collect();
    let initial_bits: Vec<u32> = initial.iter().map(|l| l.to_bits()).collect();
    assert_eq!(
        hinge_bits, initial_bits,
        "every logit bit-for-bit unchanged"
    );
    assert!(set.runs()[hinge]
        .margins(set.problem())
        .iter()
        .all(|&u| u == 0.0));
    let moved: f32 = set.runs()[dpo]
        .logits()
        .iter()
        .zip(&initial)
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(moved > 0.1, "DPO moves (total change {moved})");
    // ... from the first step, and not slowly: Adam's first step moves every logit whose gradient
    // is not 0 by lr (0.05), whatever the gradient's scale (|g| / (|g| + eps) with |g| >> eps), as
    // the description says; the same for gamma = 0, whose gradient is larger.
    let zero = run_index(&set, "logistic, gamma = 0");
    let mut fresh = preset("init-at-reference");
    fresh.step(1);
    for run in [dpo, zero] {
        let steps: Vec<f32> = fresh.runs()[run]
            .logits()
            .iter()
            .zip(&initial)
            .map(|(after, before)| (after - before).abs())
            .collect();
        // A logit whose gradient is exactly 0 (two pairs pulling it equally both ways) stays.
        for &step in &steps {
            assert!(
                step == 0.0 || (step - 0.05).abs() < 1e-4,
                "run {run}: a first step of {step}"
            );
        }
        assert!(
            steps.iter().filter(|&&s| s > 0.0).count() >= 2,
            "run {run}: {steps:?}"
        );
    }
}

#[test]
fn reference_scale_is_undone_by_gamma_over_alpha() {
    let mut set = preset("reference-scale");
    let base = run_index(&set, "alpha = 1, gamma = 1");
    let sharp = run_index(&set, "alpha = 2, gamma = 1");
    let rescaled = run_index(&set, "alpha = 2, gamma = 0.5");
    for step in 0..200 {
        let metrics = set.metrics();
        assert_eq!(
            set.runs()[base].logits(),
            set.runs()[rescaled].logits(),
            "step {step}: same trajectory"
        );
        assert_eq!(metrics[base].loss, metrics[rescaled].loss);
        set.step(1);
    }
    let difference: f32 = set.runs()[base]
        .logits()
        .iter()
        .zip(set.runs()[sharp].logits())
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(
        difference > 0.05,
        "sharpening alone changes the curves ({difference})"
    );
}

#[test]
fn simpo_ignores_the_reference_scale_and_clears_its_margin() {
    let mut set = preset("simpo");
    let simpo = run_index(&set, "SimPO (m = 1)");
    let sharpened = run_index(&set, "SimPO, alpha = 3");
    set.step(300);
    assert_eq!(
        set.runs()[simpo].logits(),
        set.runs()[sharpened].logits(),
        "gamma = 0: the reference's scale does not matter"
    );
    let margins = set.runs()[simpo].margins(set.problem());
    assert!(
        margins.iter().all(|&u| u > 0.0),
        "every pair clears the margin m: {margins:?}"
    );
    assert_eq!(set.metrics()[simpo].accuracy, 1.0);
    // Length normalisation really enters: the per-token ratios are not the plain logit gaps.
    let config = set.runs()[simpo].config();
    assert!(config.length_normalize && config.gamma == 0.0 && config.margin > 0.0);
}

#[test]
fn learning_table_matches_the_predicted_tables() {
    let mut set = preset("learning-table");
    let large = run_index(&set, "hinge, gamma = 20");
    let zero = run_index(&set, "hinge, gamma = 0");
    let initial = set.metrics();
    let populated = initial[zero]
        .learning_table
        .cells()
        .iter()
        .filter(|c| c.pairs > 0)
        .count();
    assert_eq!(
        populated, 4,
        "the random start puts pairs in all four cells"
    );
    let (mut large_signal, mut zero_signal) = (0.0, 0.0);
    each_step(&mut set, 300, |r, step, table| {
        if r == large {
            assert_eq!(
                table.reference_wrong_policy_right.signal
                    + table.reference_wrong_policy_wrong.signal,
                0.0,
                "step {step}"
            );
            large_signal += table.reference_right_policy_wrong.signal
                + table.reference_right_policy_right.signal;
        }
        if r == zero {
            assert_eq!(
                table.reference_right_policy_right.signal
                    + table.reference_wrong_policy_right.signal,
                0.0,
                "step {step}"
            );
            zero_signal += table.reference_right_policy_wrong.signal
                + table.reference_wrong_policy_wrong.signal;
        }
    });
    assert!(large_signal > 0.0 && zero_signal > 0.0);
}

#[test]
fn silent_cells_of_the_predicted_tables_get_no_signal() {
    use dpo_playground::engine::{predicted_table, LossKind, Prediction};
    let mut checked = 0;
    let mut learns_checked = 0;
    for preset in PRESETS {
        let scenario = preset.scenario().unwrap();
        let mut set = scenario.run_set().unwrap();
        for _ in 0..scenario.steps {
            for (run, metrics) in set.runs().iter().zip(set.metrics()) {
                let predicted = predicted_table(run.config());
                let table = metrics.learning_table;
                for (prediction, cell) in paired_cells(&predicted, &table) {
                    // `Learns` is exact: every pair in the cell gets signal, so under the hinge
                    // (slope 1 while u < 0) the cell's signal is its whole weight.
                    if prediction == Prediction::Learns && cell.pairs > 0 {
                        if run.config().loss == LossKind::Hinge {
                            assert_eq!(
                                cell.signal,
                                cell.weight,
                                "{}: {}",
                                preset.id,
                                run.config().name
                            );
                        } else {
                            assert!(cell.signal > 0.0, "{}: {}", preset.id, run.config().name);
                        }
                        learns_checked += 1;
                    }
                    if prediction == Prediction::Silent {
                        assert_eq!(
                            run.config().loss,
                            LossKind::Hinge,
                            "only the hinge is predicted silent"
                        );
                        assert_eq!(
                            cell.signal,
                            0.0,
                            "{}: {}: {}",
                            preset.id,
                            run.config().name,
                            predicted.note
                        );
                        checked += 1;
                    }
                }
            }
            set.step(1);
        }
    }
    assert!(
        checked > 1000,
        "the presets exercise silent cells ({checked} checks)"
    );
    assert!(
        learns_checked > 1000,
        "the presets exercise learning cells ({learns_checked} checks)"
    );
}

/// The hinge's predictions are exact for every setting, not only the presets': over random
/// states and settings (gamma from 0 to 40 beta, margins of either sign, ties in h_0 from a
/// uniform reference or alpha = 0), a `Silent` cell gets no signal and a `Learns` cell all of it.
#[test]
fn hinge_predictions_hold_for_any_setting_and_state() {
    use dpo_playground::engine::rng::{stream, SplitMix64};
    use dpo_playground::engine::{predicted_table, Init, LossKind, Prediction};
    use dpo_playground::scenario::Scenario;
    let mut generator = SplitMix64::new(7, stream::GENERATE);
    let mut checked = [0usize; 2];
    for case in 0..400 {
        let gamma = [0.0, 0.5, 1.0, 5.0, 40.0][case % 5];
        let margin = [0.0, 0.5, -0.5][case / 5 % 3];
        let alpha = [1.0, 0.0][case / 15 % 2];
        let uniform = case / 30 % 2 == 0;
        let reference: Vec<f64> = (0..5)
            .map(|_| {
                if uniform {
                    1.0
                } else {
                    0.1 + generator.next_f64()
                }
            })
            .collect();
        let pairs: Vec<_> = (0..8)
            .map(|_| {
                let chosen = generator.below(5);
                let rejected = (chosen + 1 + generator.below(4)) % 5;
                serde_json::json!({"chosen": chosen, "rejected": rejected})
            })
            .collect();
        let scenario = Scenario::from_json(
            &serde_json::json!({
                "outputs": ["a", "b", "c", "d", "e"], "reference": reference, "pairs": pairs,
                "runs": [{"loss": "hinge", "beta": 1.0, "gamma": gamma, "margin": margin,
                          "alpha": alpha, "init": {"kind": "random", "scale": 2.0},
                          "seed": case, "optimizer": {"kind": "sgd", "lr": 0.05}}]
            })
            .to_string(),
        )
        .unwrap();
        let mut set = scenario.run_set().unwrap();
        assert!(matches!(set.runs()[0].config().init, Init::Random { .. }));
        let predicted = predicted_table(set.runs()[0].config());
        for _ in 0..20 {
            let table = set.metrics()[0].learning_table;
            for (prediction, cell) in paired_cells(&predicted, &table) {
                let case =
                    format!("gamma {gamma}, m {margin}, alpha {alpha}: {prediction:?} {cell:?}");
                match prediction {
                    Prediction::Silent => {
                        assert_eq!(cell.signal, 0.0, "{case}");
                        checked[0] += usize::from(cell.pairs > 0);
                    }
                    Prediction::Learns => {
                        assert_eq!(cell.signal, cell.weight, "{case}");
                        checked[1] += usize::from(cell.pairs > 0);
                    }
                    Prediction::Some | Prediction::Fades => {}
                }
            }
            set.step(1);
        }
        assert_eq!(set.runs()[0].config().loss, LossKind::Hinge);
    }
    assert!(checked[0] > 500 && checked[1] > 500, "{checked:?}");
}

/// Each cell's prediction beside its measurement, in reading order.
fn paired_cells(
    predicted: &dpo_playground::engine::PredictedTable,
    table: &LearningTable,
) -> [(
    dpo_playground::engine::Prediction,
    dpo_playground::engine::LearningCell,
); 4] {
    [
        (
            predicted.reference_right_policy_right,
            table.reference_right_policy_right,
        ),
        (
            predicted.reference_right_policy_wrong,
            table.reference_right_policy_wrong,
        ),
        (
            predicted.reference_wrong_policy_right,
            table.reference_wrong_policy_right,
        ),
        (
            predicted.reference_wrong_policy_wrong,
            table.reference_wrong_policy_wrong,
        ),
    ]
}

/// Each run's metrics after every step `0..=steps` (index = step).
fn trajectory(set: &mut RunSet, steps: u64) -> Vec<Vec<dpo_playground::engine::Metrics>> {
    let mut records = vec![Vec::new(); set.runs().len()];
    for step in 0..=steps {
        for (r, metrics) in set.metrics().into_iter().enumerate() {
            records[r].push(metrics);
        }
        if step < steps {
            set.step(1);
        }
    }
    records
}

/// The share of a table's signal in the "policy wrong" column.
fn wrong_column_share(table: &LearningTable) -> f64 {
    table.reference_right_policy_wrong.share + table.reference_wrong_policy_wrong.share
}

#[test]
fn gamma_zero_description_is_what_its_data_shows() {
    let mut set = preset("gamma-zero");
    let hinge = run_index(&set, "hinge, gamma = 0");
    let logistic = run_index(&set, "logistic, gamma = 0");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let problem = set.problem().clone();
    // Weight for weight, under the logistic loss with gamma = 0 (and m = 0) a pair the policy
    // ranks wrongly (u <= 0) gets sigmoid(-u) >= 1/2, one it ranks rightly less: checked per pair.
    for _ in 0..=200 {
        let run = &set.runs()[logistic];
        let slopes: Vec<(bool, f64)> = run
            .margins(&problem)
            .iter()
            .map(|&u| (u > 0.0, 1.0 / (1.0 + (u as f64).exp())))
            .collect();
        let least_wrong = slopes
            .iter()
            .filter(|s| !s.0)
            .map(|s| s.1)
            .fold(f64::INFINITY, f64::min);
        let most_right = slopes
            .iter()
            .filter(|s| s.0)
            .map(|s| s.1)
            .fold(0.0, f64::max);
        assert!(least_wrong > most_right, "{slopes:?}");
        set.step(1);
    }
    let mut set = preset("gamma-zero");
    let records = trajectory(&mut set, 200);
    // Starting at the reference, the pairs sit on the diagonal: "reference right, policy wrong"
    // holds no pair at any step, in any run.
    for (r, run) in records.iter().enumerate() {
        for m in run {
            assert_eq!(
                m.learning_table.reference_right_policy_wrong.pairs, 0,
                "run {r} step {}",
                m.step
            );
        }
    }
    // The hinge: all its signal in "reference wrong, policy wrong" until it ranks every pair
    // right, at step 65; then no signal at all.
    for m in &records[hinge] {
        if m.step < 65 {
            assert_eq!(
                m.learning_table.reference_wrong_policy_wrong.share, 1.0,
                "step {}",
                m.step
            );
            assert!(m.accuracy < 1.0);
        } else {
            assert_eq!(m.accuracy, 1.0, "step {}", m.step);
            let signal: f64 = m.learning_table.cells().iter().map(|c| c.signal).sum();
            assert_eq!(signal, 0.0, "step {}", m.step);
        }
    }
    // The logistic loss with gamma = 0: the wrong column holds most of the signal for about the
    // first 50 steps only, and one pair is still wrong after 200 steps.
    for m in &records[logistic] {
        let share = wrong_column_share(&m.learning_table);
        if m.step <= 45 {
            assert!(share > 0.5, "step {}: {share}", m.step);
        } else if m.step >= 55 {
            assert!(share < 0.5, "step {}: {share}", m.step);
        }
    }
    assert!(records[logistic][200].accuracy < 1.0);
    // DPO starts with most of its signal on pairs the policy already ranks right.
    assert!(
        records[dpo][0]
            .learning_table
            .reference_right_policy_right
            .share
            > 0.5
    );
}

#[test]
fn init_at_reference_description_is_what_its_data_shows() {
    let mut set = preset("init-at-reference");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let zero = run_index(&set, "logistic, gamma = 0");
    let records = trajectory(&mut set, 200);
    // The logistic loss does not start near zero: log 2 at u = 0.
    assert!((records[dpo][0].loss - std::f64::consts::LN_2).abs() < 1e-12);
    // Both rank every pair right by step 12 (and not before step 5); DPO ends further from the
    // reference.
    let first_all_right = |run: usize| records[run].iter().position(|m| m.accuracy == 1.0).unwrap();
    for run in [dpo, zero] {
        assert!(
            (5..=12).contains(&first_all_right(run)),
            "{}",
            first_all_right(run)
        );
    }
    assert!(records[dpo][200].kl > records[zero][200].kl);
}

#[test]
fn reference_wrong_large_gamma_description_is_what_its_data_shows() {
    let mut set = preset("reference-wrong-large-gamma");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let zero = run_index(&set, "gamma = 0");
    let records = trajectory(&mut set, 200);
    // gamma = 0 ranks every pair right from step 2 on; DPO still ranks one wrongly at step 200.
    assert!(records[zero][2..].iter().all(|m| m.accuracy == 1.0));
    assert!(records[zero][1].accuracy < 1.0);
    let last = &records[dpo][200];
    assert!(
        (last.accuracy - 6.0 / 7.0).abs() < 1e-12,
        "{}",
        last.accuracy
    );
}

#[test]
fn learning_table_description_is_what_its_data_shows() {
    let mut set = preset("learning-table");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let problem = set.problem().clone();
    // DPO has no silent cell: at every step every cell that holds a pair carries signal.
    for _ in 0..=200 {
        let m = set.runs()[dpo].metrics(&problem);
        for cell in m.learning_table.cells() {
            assert!(
                cell.pairs == 0 || cell.signal > 0.0,
                "step {}: {cell:?}",
                m.step
            );
        }
        set.step(1);
    }
    // Most of its signal is on pairs behind the reference (u < 0), but at the start about a
    // third is on pairs already ahead of it (u > 0).
    let set = preset("learning-table");
    let run = &set.runs()[dpo];
    let pairs = problem.pairs();
    let (mut ahead, mut total) = (0.0, 0.0);
    for (pair, &u) in pairs.iter().zip(&run.margins(&problem)) {
        let signal = pair.weight as f64 / (1.0 + (u as f64).exp());
        total += signal;
        if u > 0.0 {
            ahead += signal;
        }
    }
    let share = ahead / total;
    assert!((0.25..0.4).contains(&share), "{share}");
}

#[test]
fn simpo_description_is_what_its_data_shows() {
    let mut set = preset("simpo");
    let dpo = run_index(&set, "DPO");
    let simpo = run_index(&set, "SimPO (m = 1)");
    let problem = set.problem().clone();
    let mut cleared_at = None;
    let mut previous_loss = f64::INFINITY;
    for step in 0..=200u64 {
        // DPO's margins do not depend on the outputs' lengths here: every pair has the same u.
        let margins = set.runs()[dpo].margins(&problem);
        assert!(
            margins
                .iter()
                .all(|&u| (u - margins[0]).abs() <= 1e-6 * (1.0 + margins[0].abs())),
            "step {step}: {margins:?}"
        );
        let simpo_margins = set.runs()[simpo].margins(&problem);
        if cleared_at.is_none() && simpo_margins.iter().all(|&u| u > 0.0) {
            cleared_at = Some(step);
        }
        // SimPO's loss is logistic: it keeps falling after every pair clears its margin.
        let loss = set.runs()[simpo].metrics(&problem).loss;
        if cleared_at.is_some() {
            assert!(
                loss < previous_loss,
                "step {step}: {loss} after {previous_loss}"
            );
        }
        previous_loss = loss;
        set.step(1);
    }
    let cleared_at = cleared_at.expect("every pair clears the margin");
    assert!((20..=35).contains(&cleared_at), "{cleared_at}");
    // What the predicted table's note says of length normalisation: at pi = pi0 SimPO's pairs
    // sit off the diagonal (its 'policy right' is per token, its 'reference right' is not), DPO's
    // do not.
    let start = preset("simpo").metrics();
    let off_diagonal = |t: &LearningTable| {
        t.reference_right_policy_wrong.pairs + t.reference_wrong_policy_right.pairs
    };
    assert!(off_diagonal(&start[simpo].learning_table) > 0);
    assert_eq!(off_diagonal(&start[dpo].learning_table), 0);
    let note = dpo_playground::engine::predicted_table(set.runs()[simpo].config()).note;
    assert!(note.contains("off the diagonal"), "{note}");
}

#[test]
fn central_case_description_is_what_its_data_shows() {
    let mut set = preset("central-case");
    let large = run_index(&set, "hinge, gamma = 20");
    let zero = run_index(&set, "hinge, gamma = 0");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let records = trajectory(&mut set, 200);
    // At the start every pair is on the diagonal; three pairs are ranked wrongly by the reference.
    for run in &records {
        let table = &run[0].learning_table;
        assert_eq!(table.reference_right_policy_wrong.pairs, 0);
        assert_eq!(table.reference_wrong_policy_right.pairs, 0);
        assert_eq!(table.reference_wrong_policy_wrong.pairs, 3);
    }
    // gamma = 20: every step's signal is on 'reference right, policy right'; none on the
    // reference-wrong row; and yet one reference-wrong pair ends ranked right.
    for m in &records[large] {
        let table = &m.learning_table;
        assert_eq!(
            table.reference_wrong_policy_right.signal + table.reference_wrong_policy_wrong.signal,
            0.0
        );
        assert_eq!(
            table.reference_right_policy_right.share, 1.0,
            "step {}",
            m.step
        );
    }
    let end = &records[large][200].learning_table;
    assert_eq!(
        (
            end.reference_wrong_policy_right.pairs,
            end.reference_wrong_policy_wrong.pairs
        ),
        (1, 2)
    );
    // gamma = 0: all signal on the pairs the policy gets wrong at the start; every pair right at
    // the end, closer to the reference than gamma = 20.
    assert_eq!(
        records[zero][0]
            .learning_table
            .reference_wrong_policy_wrong
            .share,
        1.0
    );
    assert_eq!(records[zero][200].accuracy, 1.0);
    assert!(records[zero][200].kl < 0.5 * records[large][200].kl);
    // DPO: signal split between the two diagonal cells at the start; every pair right at the end.
    let start = &records[dpo][0].learning_table;
    assert!(
        start.reference_right_policy_right.share > 0.3
            && start.reference_wrong_policy_wrong.share > 0.3
    );
    assert_eq!(records[dpo][200].accuracy, 1.0);
}

#[test]
fn implicit_vs_explicit_description_is_what_its_data_shows() {
    let mut set = preset("implicit-vs-explicit");
    let zero = run_index(&set, "logistic, gamma = 0");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let five = run_index(&set, "logistic, gamma = 5");
    let explicit = [
        run_index(&set, "gamma = 0 + KL (0.5)"),
        run_index(&set, "gamma = 0 + mixout (0.5)"),
        run_index(&set, "gamma = 0 + L2 (0.1)"),
    ];
    set.step(200);
    let m = set.metrics();
    let near = |value: f64, stated: f64| (value - stated).abs() < 0.02;
    // KL lowest at gamma = beta (about 0.16), higher at gamma = 0 (0.28) and at gamma = 5 (0.39).
    assert!(near(m[dpo].kl, 0.16) && near(m[zero].kl, 0.28) && near(m[five].kl, 0.39));
    assert!(m[dpo].kl < m[zero].kl && m[zero].kl < m[five].kl);
    // gamma = 5 ends with fewer pairs ranked right; DPO with six of seven.
    assert!(m[five].accuracy < m[dpo].accuracy);
    assert!((m[dpo].accuracy - 6.0 / 7.0).abs() < 1e-12);
    // The explicit regularisers: KL between 0.13 and 0.18, six of seven right.
    for run in explicit {
        assert!(
            (0.12..=0.185).contains(&m[run].kl),
            "{}: {}",
            set.runs()[run].config().name,
            m[run].kl
        );
        assert!((m[run].accuracy - 6.0 / 7.0).abs() < 1e-12);
    }
    // Every run starts at the reference.
    for run in set.runs() {
        assert_eq!(run.config().init, dpo_playground::engine::Init::Reference);
    }
    // With Adam instead of SGD the order changes: the KL falls as gamma grows.
    let mut scenario = Preset::find("implicit-vs-explicit")
        .unwrap()
        .scenario()
        .unwrap();
    scenario.runs.truncate(3);
    for run in &mut scenario.runs {
        run.optimizer = dpo_playground::engine::Optimizer::adam(0.05);
    }
    let mut adam = scenario.run_set().unwrap();
    adam.step(200);
    let kl: Vec<f64> = adam.metrics().iter().map(|m| m.kl).collect();
    assert!(
        kl[0] > kl[1] && kl[1] > kl[2],
        "gamma 0, 1, 5 under Adam: {kl:?}"
    );
}

/// The accumulated learning table (the signal summed over every step so far) of a run after
/// `steps` steps of a preset.
fn accumulated(id: &str, run: &str, steps: u64) -> LearningTable {
    let mut set = preset(id);
    let r = run_index(&set, run);
    set.step(steps);
    set.metrics()[r]
        .accumulated_table
        .expect("the CPU accumulates the table")
}

/// What the descriptions say of the whole of training, checked on the accumulated table at
/// every step a reader sees (each 10 steps up to the preset's length).
#[test]
fn accumulated_tables_show_what_the_descriptions_say() {
    for steps in (10..=200).step_by(10) {
        // gamma-zero: the hinge's signal is all in 'reference wrong, policy wrong'; the
        // 'reference right, policy wrong' cell never gets any, in any run.
        let hinge = accumulated("gamma-zero", "hinge, gamma = 0", steps);
        assert_eq!(
            hinge.reference_wrong_policy_wrong.share, 1.0,
            "step {steps}"
        );
        for run in ["logistic, gamma = 0", "DPO (gamma = beta)"] {
            let table = accumulated("gamma-zero", run, steps);
            assert_eq!(
                table.reference_right_policy_wrong.pairs, 0,
                "{run} step {steps}"
            );
        }
        // central-case: gamma = 20 learns only on 'reference right, policy right'; gamma = 0
        // only in the 'policy wrong' column.
        let large = accumulated("central-case", "hinge, gamma = 20", steps);
        assert_eq!(
            large.reference_right_policy_right.share, 1.0,
            "step {steps}"
        );
        let zero = accumulated("central-case", "hinge, gamma = 0", steps);
        assert!(
            (wrong_column_share(&zero) - 1.0).abs() < 1e-12,
            "step {steps}"
        );
        // learning-table: the large-gamma hinge learns only in the 'reference right' row, the
        // gamma = 0 hinge only in the 'policy wrong' column; DPO in every cell.
        let large = accumulated("learning-table", "hinge, gamma = 20", steps);
        assert_eq!(
            large.reference_wrong_policy_right.signal + large.reference_wrong_policy_wrong.signal,
            0.0
        );
        let zero = accumulated("learning-table", "hinge, gamma = 0", steps);
        assert!(
            (wrong_column_share(&zero) - 1.0).abs() < 1e-12,
            "step {steps}"
        );
        // reference-wrong-large-gamma: the reference-wrong row never gets any signal.
        let large = accumulated("reference-wrong-large-gamma", "hinge, gamma = 20", steps);
        assert_eq!(
            large.reference_wrong_policy_right.signal + large.reference_wrong_policy_wrong.signal,
            0.0
        );
        // unlearning: the gamma = 0 hinge never has any signal.
        let still = accumulated("unlearning", "hinge, gamma = 0", steps);
        assert!(still
            .cells()
            .iter()
            .all(|c| c.signal == 0.0 && c.pairs == 0));
        let dpo = accumulated("learning-table", "DPO (gamma = beta)", steps);
        assert!(dpo.cells().iter().all(|c| c.signal > 0.0), "step {steps}");
    }
    // gamma-zero, over all 200 steps: the logistic loss with gamma = 0 puts most of its signal
    // in the 'policy right' column (the pairs it has already learned keep getting some).
    let logistic = accumulated("gamma-zero", "logistic, gamma = 0", 200);
    assert!(wrong_column_share(&logistic) < 0.5, "{logistic:?}");
    let logistic = accumulated("gamma-zero", "logistic, gamma = 0", 50);
    assert!(wrong_column_share(&logistic) > 0.5, "{logistic:?}");
}

/// The claims panel's verdicts on each preset after its steps, as `docs/claims.md` states them.
#[test]
fn the_claims_panel_says_what_docs_claims_says() {
    use dpo_playground::engine::{check_claims, Verdict};
    let verdicts = |id: &str| {
        let scenario = Preset::find(id).unwrap().scenario().unwrap();
        let mut set = scenario.run_set().unwrap();
        let before: Vec<(&str, Verdict)> = check_claims(&set, &set.metrics())
            .into_iter()
            .map(|c| (c.id, c.verdict))
            .collect();
        // Before any step every dynamic claim is too early to judge.
        for (claim, verdict) in &before {
            if *claim != "logistic-at-the-reference" && *claim != "reference-scale" {
                assert_eq!(*verdict, Verdict::TooEarly, "{id} {claim} at step 0");
            }
        }
        set.step(scenario.steps);
        check_claims(&set, &set.metrics())
            .into_iter()
            .map(|c| (c.id, c.verdict))
            .collect::<Vec<_>>()
    };
    let has = |list: &[(&str, Verdict)], claim: &str, verdict: Verdict| {
        assert!(
            list.contains(&(claim, verdict)),
            "{claim} should be {verdict:?}: {list:?}"
        );
    };
    let gamma_zero = verdicts("gamma-zero");
    has(&gamma_zero, "gamma-zero", Verdict::Holds);
    has(&gamma_zero, "implicit-regularisation", Verdict::Holds);
    has(
        &gamma_zero,
        "logistic-at-the-reference",
        Verdict::DoesNotHold,
    );
    let central = verdicts("central-case");
    has(&central, "large-gamma", Verdict::Holds);
    has(&central, "gamma-zero", Verdict::Holds);
    has(&central, "right-pairs-stay-put", Verdict::Holds);
    has(
        &verdicts("reference-wrong-large-gamma"),
        "large-gamma",
        Verdict::Holds,
    );
    has(
        &verdicts("reference-scale"),
        "reference-scale",
        Verdict::Holds,
    );
    has(
        &verdicts("learning-table"),
        "right-pairs-stay-put",
        Verdict::DoesNotHold,
    );
    let unlearning = verdicts("unlearning");
    has(&unlearning, "right-pairs-stay-put", Verdict::DoesNotHold);
    has(&unlearning, "large-gamma", Verdict::Holds);
    // Its gamma = 0 hinge never has any signal (every pair is right from the start): after
    // steps, that is consistent with the claim, not "too early".
    has(&unlearning, "gamma-zero", Verdict::Holds);
    has(
        &verdicts("init-at-reference"),
        "implicit-regularisation",
        Verdict::DoesNotHold,
    );
    has(
        &verdicts("implicit-vs-explicit"),
        "implicit-regularisation",
        Verdict::Holds,
    );
    // A claim that does not apply is not shown: no hinge run, no hinge claim.
    let implicit = verdicts("implicit-vs-explicit");
    assert!(
        !implicit.iter().any(|(claim, _)| claim.contains("gamma")),
        "{implicit:?}"
    );
}

/// The large-gamma verdict follows the measured share: a reference-wrong pair that is far enough
/// behind still learns under gamma = 5 beta when the policy starts far from the reference.
#[test]
fn the_large_gamma_claim_can_fail() {
    use dpo_playground::engine::{check_claims, Init, LossKind, RunConfig, Verdict};
    let mut scenario = Preset::find("learning-table").unwrap().scenario().unwrap();
    scenario.runs = vec![RunConfig {
        name: "hinge, gamma = 5".into(),
        loss: LossKind::Hinge,
        gamma: 5.0,
        init: Init::Random { scale: 8.0 },
        seed: 3,
        ..RunConfig::default()
    }];
    let mut set = scenario.run_set().unwrap();
    set.step(50);
    let claim = check_claims(&set, &set.metrics())
        .into_iter()
        .find(|c| c.id == "large-gamma")
        .unwrap();
    let table = set.metrics()[0].accumulated_table.unwrap();
    let wrong_row =
        table.reference_wrong_policy_right.share + table.reference_wrong_policy_wrong.share;
    assert!(
        wrong_row > 0.0,
        "the reference-wrong row learned: {table:?}"
    );
    let expected = if wrong_row <= 0.1 {
        Verdict::HoldsInTheLimit
    } else {
        Verdict::DoesNotHold
    };
    assert_eq!(claim.verdict, expected, "{}", claim.measured);
}

#[test]
fn unlearning_description_is_what_its_data_shows() {
    let mut set = preset("unlearning");
    let large = run_index(&set, "hinge, gamma = 20");
    let zero = run_index(&set, "hinge, gamma = 0");
    let dpo = run_index(&set, "DPO (gamma = beta)");
    let start_zero = set.runs()[zero].logits().to_vec();
    let problem = set.problem().clone();
    // The pair C > B: the reference ranks it wrongly.
    let c_over_b = problem
        .pairs()
        .iter()
        .position(|p| p.chosen == 2 && p.rejected == 1)
        .unwrap();
    let records = trajectory(&mut set, 200);
    // Every run starts with all four pairs ranked right.
    for run in &records {
        assert_eq!(run[0].accuracy, 1.0);
    }
    // gamma = 0: no slope anywhere, at any step; the logits never move; every pair stays right.
    for m in &records[zero] {
        let signal: f64 = m.learning_table.cells().iter().map(|c| c.signal).sum();
        assert_eq!(signal, 0.0, "step {}", m.step);
        assert_eq!(m.accuracy, 1.0);
    }
    assert_eq!(set.runs()[zero].logits(), &start_zero[..]);
    // gamma = 20: all of its signal on the two pairs the reference ranks right, at every step
    // and summed; C > B never has any, and is pushed from right to wrong once, for good.
    let mut unlearned_at = None;
    for m in &records[large] {
        let table = &m.learning_table;
        assert_eq!(
            table.reference_wrong_policy_right.signal + table.reference_wrong_policy_wrong.signal,
            0.0,
            "step {}",
            m.step
        );
        if unlearned_at.is_none() && m.unlearned_pairs == Some(1) {
            unlearned_at = Some(m.step);
        }
        if unlearned_at.is_some() {
            assert_eq!(m.unlearned_pairs, Some(1), "step {}", m.step);
            assert_eq!(m.accuracy, 0.75, "step {}", m.step);
        } else {
            assert_eq!(m.accuracy, 1.0, "step {}", m.step);
        }
    }
    let at = unlearned_at.expect("a pair is un-learned");
    assert_eq!(at, 151, "un-learned at step {at}");
    let end = &records[large][200];
    assert_eq!(
        end.accumulated_table
            .unwrap()
            .reference_right_policy_right
            .share,
        1.0
    );
    let run = &set.runs()[large];
    let logits = run.logits();
    let pair = problem.pairs()[c_over_b];
    assert!(
        logits[pair.chosen] < logits[pair.rejected],
        "C > B ends ranked wrongly"
    );
    // DPO gives every pair signal and keeps all four right.
    for m in &records[dpo] {
        assert_eq!(m.accuracy, 1.0, "step {}", m.step);
        assert!(m
            .learning_table
            .cells()
            .iter()
            .all(|c| c.pairs == 0 || c.signal > 0.0));
    }
}

#[test]
fn default_description_is_what_its_data_shows() {
    let mut set = preset("default");
    let hinge = run_index(&set, "hinge");
    let problem = set.problem().clone();
    let d_over_b = problem
        .pairs()
        .iter()
        .position(|p| p.chosen == 3 && p.rejected == 1)
        .unwrap();
    // D over B: u > 0 at every step from the uniform start (no signal), and ranked wrongly.
    for step in 0..=200 {
        let run = &set.runs()[hinge];
        let u = run.margins(&problem)[d_over_b];
        assert!(u > 0.0, "step {step}: u = {u}");
        let logits = run.logits();
        assert!(logits[3] <= logits[1], "step {step}: D over B ranked right");
        if step < 200 {
            set.step(1);
        }
    }
    let metrics = set.metrics();
    assert_eq!(metrics[hinge].accuracy, 0.5);
    let signal: f64 = metrics[hinge]
        .learning_table
        .cells()
        .iter()
        .map(|c| c.signal)
        .sum();
    assert_eq!(signal, 0.0, "nothing left to learn");
    // It got further wrong: h_pi below its start of 0.
    let logits = set.runs()[hinge].logits();
    assert!(logits[3] - logits[1] < -0.5);
    for name in ["DPO", "gamma = 0"] {
        assert_eq!(metrics[run_index(&set, name)].accuracy, 1.0, "{name}");
    }
}

/// Which runs each claim applies to, and the figures it reports, on runs whose metrics are set by
/// hand (the claims read only the runs' settings and metrics).
#[test]
fn each_claim_applies_to_its_runs_and_reports_their_figures() {
    use dpo_playground::engine::{
        check_claims, ClaimCheck, Init, LossKind, Metrics, RunConfig, Verdict,
    };
    let scenario = Preset::find("learning-table").unwrap().scenario().unwrap();
    let claims = |runs: Vec<RunConfig>, metrics: &[Metrics]| -> Vec<ClaimCheck> {
        let mut scenario = scenario.clone();
        scenario.runs = runs;
        check_claims(&scenario.run_set().unwrap(), metrics)
    };
    let find = |claims: &[ClaimCheck], id: &str| claims.iter().find(|c| c.id == id).cloned();
    let at = |step: u64, loss: f64| Metrics {
        step,
        loss,
        ..Metrics::default()
    };

    // DPO started at the reference: the logistic loss with gamma = beta, no margin, alpha 1, no
    // length normalisation. Each run below differs from it in one setting and is not concerned.
    let dpo = RunConfig {
        name: "dpo".into(),
        init: Init::Reference,
        ..RunConfig::default()
    };
    let found = claims(vec![dpo.clone()], &[at(3, 0.25)]);
    let logistic = find(&found, "logistic-at-the-reference").expect("DPO at the reference");
    assert_eq!(logistic.measured, "dpo: loss 0.250 at step 3");
    let one_off = [
        RunConfig {
            loss: LossKind::Hinge,
            ..dpo.clone()
        },
        RunConfig {
            gamma: 0.5,
            ..dpo.clone()
        },
        RunConfig {
            margin: 0.1,
            ..dpo.clone()
        },
        RunConfig {
            alpha: 2.0,
            ..dpo.clone()
        },
        RunConfig {
            length_normalize: true,
            ..dpo.clone()
        },
        RunConfig {
            init: Init::Uniform,
            ..dpo.clone()
        },
    ];
    for run in one_off {
        let found = claims(vec![run.clone()], &[at(3, 0.25)]);
        assert!(
            find(&found, "logistic-at-the-reference").is_none(),
            "{run:?}"
        );
    }

    // Large gamma: from 5 beta. With beta = 0.5, gamma = 3 is large (5 / beta would be 10).
    let hinge = |gamma: f32| RunConfig {
        name: format!("gamma {gamma}"),
        loss: LossKind::Hinge,
        beta: 0.5,
        gamma,
        ..RunConfig::default()
    };
    assert!(find(&claims(vec![hinge(3.0)], &[at(0, 0.0)]), "large-gamma").is_some());
    assert!(find(&claims(vec![hinge(2.0)], &[at(0, 0.0)]), "large-gamma").is_none());

    // The reference's scale: alpha 1 with gamma 1000 against alpha 2 with gamma 500.00003 (the
    // products 1000 and 1000.00006 agree within 1e-6 relative), each pair of runs once.
    let scaled = |name: &str, alpha: f32, gamma: f32| RunConfig {
        name: name.into(),
        alpha,
        gamma,
        ..RunConfig::default()
    };
    let pair = vec![scaled("a", 1.0, 1000.0), scaled("b", 2.0, 500.00003)];
    let claim = find(
        &claims(pair.clone(), &[at(4, 0.5), at(4, 0.4)]),
        "reference-scale",
    )
    .expect("the same run but for alpha and gamma");
    assert_eq!(claim.measured, "a and b: losses 0.5000 and 0.4000");
    assert_eq!(claim.verdict, Verdict::DoesNotHold);
    // |0.5 - 0.4| / (1 + 0.5), relative to the first run's loss.
    assert_eq!(claim.why, "their losses differ by 6.7e-2 (relative)");
    let claim = find(&claims(pair, &[at(4, 0.5), at(4, 0.5)]), "reference-scale").unwrap();
    assert_eq!(claim.verdict, Verdict::Holds);

    // Pairs un-learned: one pair, or several.
    let unlearned = |pairs: usize| Metrics {
        unlearned_pairs: Some(pairs),
        ..at(5, 0.0)
    };
    let claim = find(
        &claims(vec![hinge(0.0)], &[unlearned(1)]),
        "right-pairs-stay-put",
    )
    .unwrap();
    assert_eq!(
        claim.measured,
        "gamma 0: 1 pair ranked right at some step and wrongly now"
    );
    let claim = find(
        &claims(vec![hinge(0.0)], &[unlearned(2)]),
        "right-pairs-stay-put",
    )
    .unwrap();
    assert_eq!(
        claim.measured,
        "gamma 0: 2 pairs ranked right at some step and wrongly now"
    );

    // Implicit regularisation compares runs alike but for gamma, whatever their seeds.
    let kl = |kl: f64| Metrics { kl, ..at(6, 0.0) };
    let runs = vec![
        RunConfig {
            name: "dpo".into(),
            ..RunConfig::default()
        },
        RunConfig {
            name: "gamma 0".into(),
            gamma: 0.0,
            seed: 9,
            ..RunConfig::default()
        },
    ];
    let claim = find(
        &claims(runs, &[kl(0.1), kl(0.3)]),
        "implicit-regularisation",
    )
    .expect("runs alike but for gamma and the seed");
    assert_eq!(claim.measured, "KL(pi || pi0) of dpo 0.100; gamma 0 0.300");
    assert_eq!(claim.verdict, Verdict::Holds);

    // A share claim's figure: gamma = 0 puts all of its signal on pairs the policy ranks wrongly.
    let mut scenario = scenario.clone();
    scenario.runs = vec![hinge(0.0)];
    let mut set = scenario.run_set().unwrap();
    set.step(5);
    let claim = find(&check_claims(&set, &set.metrics()), "gamma-zero").unwrap();
    assert_eq!(
        claim.measured,
        "gamma 0: 100% of its signal so far on pairs the policy ranked wrongly"
    );
}
