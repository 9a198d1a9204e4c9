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
    // ... slowly at first: after one step it has moved by about one learning rate per logit.
    let mut fresh = preset("init-at-reference");
    fresh.step(1);
    let first: f32 = fresh.runs()[dpo]
        .logits()
        .iter()
        .zip(&initial)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(first <= 0.051, "first step moves at most lr: {first}");
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
    for preset in PRESETS {
        let scenario = preset.scenario().unwrap();
        let mut set = scenario.run_set().unwrap();
        for _ in 0..scenario.steps {
            for (run, metrics) in set.runs().iter().zip(set.metrics()) {
                let predicted = predicted_table(run.config());
                let table = metrics.learning_table;
                let cells = [
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
                ];
                for (prediction, cell) in cells {
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
}
