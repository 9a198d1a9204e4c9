//! `History`, the records a run set keeps while it trains (the command line's CSV and plots, the
//! page's live charts): thinning at its capacity, margins summarised past `MARGIN_LINES` pairs,
//! and forgetting runs. The page's calls (`resize`, `clear_run`) are otherwise exercised only by
//! the browser tests, which `cargo mutants` does not run.

use dpo_playground::engine::history::{History, MARGIN_LINES};
use dpo_playground::engine::Metrics;

fn at(step: u64) -> Metrics {
    Metrics {
        step,
        ..Metrics::default()
    }
}

fn steps(history: &History, run: usize) -> Vec<u64> {
    history.metrics[run].iter().map(|m| m.step).collect()
}

#[test]
fn records_are_thinned_only_past_the_capacity() {
    let mut history = History::new(2, 4);
    for step in 0..4 {
        history.push(vec![at(step), at(step)], vec![vec![step as f32]; 2]);
    }
    // At the capacity, not past it: every record kept.
    assert_eq!(steps(&history, 0), [0, 1, 2, 3]);
    // One more: the first and every other one, and the newest.
    history.push(vec![at(4), at(4)], vec![vec![4.0]; 2]);
    for run in 0..2 {
        assert_eq!(steps(&history, run), [0, 2, 4]);
        assert_eq!(history.margins[run], [vec![0.0], vec![2.0], vec![4.0]]);
    }
}

#[test]
fn margins_are_kept_up_to_margin_lines_then_summarised() {
    let mut history = History::new(1, 10);
    let lines: Vec<f32> = (0..MARGIN_LINES).map(|i| i as f32).collect();
    history.push(vec![at(0)], vec![lines.clone()]);
    assert!(!history.margin_quantiles);
    assert_eq!(history.margins[0][0], lines);
    // One pair more, in reverse order: the quantiles 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1 of
    // 0..=256 by nearest rank (rank q * 256, rounded).
    let more: Vec<f32> = (0..=MARGIN_LINES).rev().map(|i| i as f32).collect();
    history.push(vec![at(1)], vec![more]);
    assert!(history.margin_quantiles);
    assert_eq!(
        history.margins[0][1],
        [0.0, 26.0, 64.0, 128.0, 192.0, 230.0, 256.0]
    );
    // A history without margins records none, whatever it is given, and keeps its capacity.
    let mut without = History::without_margins(1, 10);
    without.push(vec![at(0)], vec![vec![1.0, 2.0]]);
    assert!(!without.record_margins);
    assert_eq!(without.capacity, 10);
    assert_eq!(without.margins[0], [Vec::<f32>::new()]);
    assert_eq!(steps(&without, 0), [0]);
}

#[test]
fn runs_are_added_and_forgotten() {
    let mut history = History::new(2, 10);
    // No margins read back: every run records none.
    history.push(vec![at(0), at(0)], vec![]);
    assert_eq!(history.margins[1], [Vec::<f32>::new()]);
    history.resize(3);
    assert_eq!((history.metrics.len(), history.margins.len()), (3, 3));
    assert!(history.metrics[2].is_empty());
    assert_eq!(steps(&history, 1), [0]);
    history.clear_run(0);
    assert!(history.metrics[0].is_empty() && history.margins[0].is_empty());
    assert_eq!(steps(&history, 1), [0]);
    // No such run: nothing changes.
    history.clear_run(7);
    assert_eq!(steps(&history, 1), [0]);
    history.clear();
    assert_eq!(history.metrics.len(), 3);
    assert!(history.metrics.iter().all(Vec::is_empty));
    assert!(history.margins.iter().all(Vec::is_empty));
    history.resize(1);
    assert_eq!((history.metrics.len(), history.margins.len()), (1, 1));
}

#[test]
fn a_record_of_a_run_set_is_its_metrics_and_margins_now() {
    use dpo_playground::engine::{Init, Output, Pair, Problem, RunConfig, RunSet};
    let outputs = ["A", "B", "C"].map(|label| Output {
        label: label.into(),
        length: 1.0,
    });
    let pairs = [(0, 1), (1, 2)].map(|(chosen, rejected)| Pair {
        prompt: 0,
        chosen,
        rejected,
        weight: 1.0,
    });
    let problem = Problem::new(
        vec!["x".into()],
        outputs.to_vec(),
        &[vec![1.0, 2.0, 3.0]],
        pairs.to_vec(),
        None,
    )
    .unwrap();
    let uniform = RunConfig {
        init: Init::Uniform,
        ..RunConfig::default()
    };
    let mut set = RunSet::new(problem, vec![RunConfig::default(), uniform]).unwrap();
    set.step(3);
    let mut history = History::new(2, 10);
    history.record(&set);
    let mut without = History::without_margins(2, 10);
    without.record(&set);
    for (r, run) in set.runs().iter().enumerate() {
        assert_eq!(history.metrics[r], [run.metrics(set.problem())]);
        assert_eq!(history.margins[r], [run.margins(set.problem())]);
        assert_eq!(history.margins[r][0].len(), 2);
        assert_eq!(without.metrics[r], history.metrics[r]);
        assert_eq!(without.margins[r], [Vec::<f32>::new()]);
    }
    assert_eq!(history.metrics[0][0].step, 3);
}
