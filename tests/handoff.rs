//! Runs handed from one copy of the engine to another as bytes (`Run::encode_states` and
//! `Run::restore_states`): what the page's CPU module and its WebGPU module exchange. A run
//! rebuilt from its scenario and given the state of a run that trained must train on exactly as
//! that run does: the same logits, bit for bit, under every optimiser, minibatches (the sampler's
//! position and permutation cross too), the dense regularisers and mixout.

use dpo_playground::engine::{Optimizer, Regularizer, Run, RunConfig, RunSet};
use dpo_playground::presets::Preset;

/// Runs of every kind that carries state: Adam and SGD with momentum, minibatches that end
/// mid-epoch, the KL regulariser (dense), mixout (its masks follow the step count) and length
/// normalisation.
fn configs() -> Vec<RunConfig> {
    let base = RunConfig::default();
    vec![
        RunConfig {
            name: "adam, minibatches of 3".into(),
            batch_size: Some(3),
            seed: 7,
            ..base.clone()
        },
        RunConfig {
            name: "sgd with momentum".into(),
            optimizer: Optimizer::Sgd {
                lr: 0.2,
                momentum: 0.9,
            },
            batch_size: Some(2),
            ..base.clone()
        },
        RunConfig {
            name: "kl".into(),
            regularizer: Regularizer::Kl { lambda: 0.1 },
            length_normalize: true,
            ..base.clone()
        },
        RunConfig {
            name: "mixout".into(),
            regularizer: Regularizer::Mixout { p: 0.3 },
            batch_size: Some(4),
            seed: 3,
            ..base
        },
    ]
}

fn set() -> RunSet {
    let scenario = Preset::find("learning-table").unwrap().scenario().unwrap();
    RunSet::new(scenario.problem().unwrap(), configs()).unwrap()
}

fn logits(set: &RunSet) -> Vec<Vec<u32>> {
    set.runs()
        .iter()
        .map(|run| run.logits().iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn a_restored_run_trains_on_exactly_as_the_original() {
    let mut original = set();
    // 5 steps: the minibatch samplers stop mid-epoch (the preset has more pairs than 5 batches'
    // worth of the smallest batch would cover evenly).
    original.step(5);
    let bytes = Run::encode_states(original.runs());

    let mut restored = set();
    restored.restore_states(&bytes).unwrap();
    assert_eq!(logits(&restored), logits(&original));
    for (a, b) in restored.runs().iter().zip(original.runs()) {
        assert_eq!(a.steps(), b.steps());
        assert_eq!(a.moments(), b.moments());
    }

    original.step(37);
    restored.step(37);
    assert_eq!(
        logits(&restored),
        logits(&original),
        "the restored runs drifted from the originals"
    );
    // The sampler's crossing matters: the same logits, moments and step count without it (the
    // minibatch order restarted) train on differently, so the check above can fail.
    let mut without_sampler = set();
    let mut at_five = set();
    at_five.step(5);
    for (index, run) in at_five.runs().iter().enumerate() {
        let (first, second) = run.moments();
        without_sampler
            .run_mut(index)
            .unwrap()
            .set_state(run.logits(), first, second, run.steps());
    }
    without_sampler.step(37);
    assert_ne!(logits(&without_sampler)[0], logits(&original)[0]);
}

#[test]
fn the_bytes_round_trip() {
    let mut original = set();
    original.step(9);
    let bytes = Run::encode_states(original.runs());
    let mut restored = set();
    restored.restore_states(&bytes).unwrap();
    assert_eq!(Run::encode_states(restored.runs()), bytes);
}

#[test]
fn bytes_that_do_not_fit_are_refused_and_change_nothing() {
    let mut trained = set();
    trained.step(3);
    let bytes = Run::encode_states(trained.runs());
    let mut target = set();
    let before = Run::encode_states(target.runs());

    let mut refuse = |bytes: &[u8], path: &str| {
        let error = target.restore_states(bytes).unwrap_err();
        assert_eq!(error.path, path, "{}", error.message);
        assert_eq!(
            Run::encode_states(target.runs()),
            before,
            "a refused state changed the runs"
        );
    };
    refuse(&bytes[..bytes.len() - 1], "state.runs[3]");
    refuse(&[bytes.as_slice(), &[0]].concat(), "state");
    refuse(b"DPOS", "state");
    refuse(&[], "state");
    let mut other_version = bytes.clone();
    other_version[4] = 2;
    refuse(&other_version, "state");
    let mut fewer_runs = bytes.clone();
    fewer_runs[8] = 3;
    refuse(&fewer_runs, "state");
    // The first run's permutation made not a permutation: its last index repeated.
    let first = &trained.runs()[0];
    let n = first.logits().len() * 4;
    let moments = first.moments().0.len() * 4 + first.moments().1.len() * 4;
    let order = 12 + 8 + 4 + n + 4 + moments + 4 + 8 + 4 + 4;
    let mut repeated = bytes.clone();
    let (a, b) = (order, order + 4);
    let value: [u8; 4] = repeated[a..b].try_into().unwrap();
    repeated[b..b + 4].copy_from_slice(&value);
    refuse(&repeated, "state.runs[0]");
    // An index one past the last pair (the first out of range).
    let pairs = trained.problem().pairs().len() as u32;
    let mut out_of_range = bytes.clone();
    out_of_range[a..b].copy_from_slice(&pairs.to_le_bytes());
    refuse(&out_of_range, "state.runs[0]");

    // A state for other data (another preset's runs and shape) does not fit.
    let other = Preset::find("default")
        .unwrap()
        .scenario()
        .unwrap()
        .run_set()
        .unwrap();
    assert!(target
        .restore_states(&Run::encode_states(other.runs()))
        .is_err());
    assert_eq!(Run::encode_states(target.runs()), before);
}
