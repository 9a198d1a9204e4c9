//! `dpo sweep`: a scenario's runs over its sweep's grid of settings and seeds, trained together
//! (on every core), scored every `--every` steps on the training and the held-out pairs, and
//! summarised per setting over its replicates: at the end, and at each replicate's best
//! checkpoint by held-out loss (early stopping).

use super::cli::SweepArgs;
use super::{console, load, output, Failure};
use dpo_playground::engine::escape_control;
use dpo_playground::engine::sweep::{
    reported, Band, SettingSummary, Summary, Sweep, SweepTraining, CURVE_METRICS, SWEEP_METRICS,
};
use dpo_playground::plot::sweep::{
    draw_final_vs_best, draw_frontier, draw_heatmap, draw_sweep, draw_sweep_curves, sweep_lines,
};
use dpo_playground::scenario::budget::{Estimate, Usage};
use dpo_playground::scenario::sweep::setting_json;
use dpo_playground::scenario::Scenario;
use serde_json::{json, Map, Value};
use std::io::IsTerminal;
use std::time::Instant;

/// Checkpoints per run when `--every` is not given.
const CHECKPOINTS: u64 = 50;

fn usage(args: &SweepArgs, scenario: &Scenario) -> Usage {
    let (steps, every) = steps_and_every(args, scenario);
    Usage {
        steps,
        metric_records: steps / every + 2,
        sweep: true,
        ..Usage::default()
    }
}

fn steps_and_every(args: &SweepArgs, scenario: &Scenario) -> (u64, u64) {
    let steps = args.steps.unwrap_or(scenario.steps);
    let every = args.every.unwrap_or((steps / CHECKPOINTS).max(1));
    (steps, every)
}

pub fn command(args: &SweepArgs) -> Result<u8, Failure> {
    let limits = args.memory.limits();
    let scenario = load(&args.scenario, |s| usage(args, s), &limits)?;
    let (steps, every) = steps_and_every(args, &scenario);
    let estimate = Estimate::new(&scenario, &usage(args, &scenario));
    // Without a `sweep` block: each run once, which is what `dpo run` trains.
    let sweep = scenario.sweep.clone().unwrap_or(Sweep {
        axes: Vec::new(),
        replicates: 1,
    });
    if let Some(dir) = &args.plots {
        output::prepare_plot_dir(dir)?;
    }
    let (train, validation) = scenario.problems()?;
    let mut training = SweepTraining::new(&sweep, &scenario.runs, train, validation)?;
    let runs = training.expanded.runs.len();
    let terminal = !args.quiet && std::io::stderr().is_terminal();
    if !args.quiet && estimate.seconds > 10.0 {
        console::note(&format!(
            "dpo: {runs} runs ({} settings); {}",
            training.expanded.settings.len(),
            estimate.summary()
        ));
    }
    // On the GPU the whole grid trains as one run set, and the state is read back at each
    // checkpoint (the CPU scores it, as it scores the held-out pairs).
    let mut trainer = super::Trainer::new(&training.set, args.backend.backend)?;
    let started = Instant::now();
    training.checkpoint();
    let mut done = 0;
    while done < steps {
        let n = every.min(steps - done);
        trainer.step(&mut training.set, n);
        trainer.sync(&mut training.set);
        done += n;
        training.checkpoint();
        if terminal && started.elapsed().as_secs_f64() > 2.0 {
            let elapsed = started.elapsed().as_secs_f64();
            let left = elapsed / done as f64 * (steps - done) as f64;
            let filled = (40 * done / steps.max(1)) as usize;
            console::progress(&format!(
                "\r[{}{}] {done}/{steps} steps, {runs} runs, about {:.0} s left ",
                "#".repeat(filled),
                " ".repeat(40 - filled),
                left
            ));
        }
    }
    if terminal && started.elapsed().as_secs_f64() > 2.0 {
        console::progress("\n");
    }
    if trainer.on_gpu() && !args.quiet {
        console::note(
            "dpo: trained on the GPU, which does not track the learning table summed over \
             training: the signal shares are left out",
        );
    }
    let summaries = training.summaries();
    if let Some(path) = &args.csv {
        let text = dpo_playground::csv::sweep(&sweep, &summaries);
        std::fs::write(path, text).map_err(|e| {
            console::write_failure(&escape_control(&path.display().to_string()), &e)
        })?;
    }
    if let Some(dir) = &args.plots {
        let band = Band::named(&args.band).unwrap_or_default();
        plots(dir, &sweep, &summaries, band)?;
        frontier_plot(dir, &training, &sweep)?;
        curve_plots(dir, &training, &sweep, band)?;
        compare_plots(dir, &training, &sweep, &summaries)?;
    }
    if args.json {
        let mut report = json!({
            "sweep": {
                "templates": scenario.runs.len(),
                "points": sweep.points(),
                "replicates": sweep.replicates,
                "runs": runs,
                "steps": steps,
                "every": every,
                "validation_pairs": scenario.validation.is_some()
                    || !scenario.validation_pairs.is_empty(),
            },
            "settings": summaries.iter().map(|s| setting_json(&sweep, s)).collect::<Vec<_>>(),
        });
        if args.runs {
            let rows: Vec<Value> = training
                .latest()
                .iter()
                .zip(&training.expanded.runs)
                .map(|(checkpoint, config)| {
                    let metrics: Map<String, Value> = SWEEP_METRICS
                        .iter()
                        .filter_map(|&name| {
                            let value = checkpoint.as_ref()?.value(name)?;
                            Some((name.to_string(), json!(finite(value))))
                        })
                        .collect();
                    json!({"name": config.name, "seed": config.seed, "metrics": metrics})
                })
                .collect();
            report["runs"] = Value::Array(rows);
        }
        console::println(&serde_json::to_string_pretty(&report).expect("JSON"))?;
    } else {
        console::print(&table(&sweep, &summaries))?;
    }
    Ok(0)
}

/// A number for JSON (`null` when it is not finite, which JSON cannot hold).
fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// The metrics the table shows, where they apply.
const TABLE_METRICS: [&str; 4] = ["accuracy", "kl", "validation_accuracy", "true_reward"];

fn table(sweep: &Sweep, summaries: &[SettingSummary]) -> String {
    let shown = reported(&TABLE_METRICS, summaries);
    let mut rows = vec![{
        let mut head = vec!["setting".to_string(), "runs".to_string()];
        head.extend(shown.iter().map(|m| format!("{m} (mean ± sd)")));
        if summaries.iter().any(|s| s.best_step.is_some()) {
            head.push("best validation accuracy".into());
            head.push("best step".into());
        }
        head
    }];
    for summary in summaries {
        let label = summary.setting.label(&sweep.axes);
        let name = if label.is_empty() {
            summary.setting.template_name.clone()
        } else {
            format!("{} ({label})", summary.setting.template_name)
        };
        let mut row = vec![
            escape_control(&name).into_owned(),
            if summary.diverged > 0 {
                format!(
                    "{} ({} diverged)",
                    summary.setting.runs.len(),
                    summary.diverged
                )
            } else {
                summary.setting.runs.len().to_string()
            },
        ];
        let pick = |list: &[(&str, Summary)], metric: &str| {
            list.iter()
                .find(|(n, _)| *n == metric)
                .map_or("-".to_string(), |(_, s)| {
                    format!("{:.4} ± {:.4}", s.mean, s.std)
                })
        };
        row.extend(shown.iter().map(|m| pick(&summary.latest, m)));
        if let Some(step) = &summary.best_step {
            row.push(pick(&summary.best, "validation_accuracy"));
            row.push(format!("{:.0} ± {:.0}", step.mean, step.std));
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |t| t.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            row.iter()
                .zip(&widths)
                .map(|(t, w)| format!("{t:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
                + "\n"
        })
        .collect()
}

/// `curve-METRIC.svg` for each metric recorded over training that applies: a line per setting
/// at the replicates' mean, with `band` over them.
fn curve_plots(
    dir: &std::path::Path,
    training: &SweepTraining,
    sweep: &Sweep,
    band: Band,
) -> Result<(), Failure> {
    let curves = training.curves();
    for (m, metric) in CURVE_METRICS.iter().enumerate() {
        // A metric that does not apply (no reward, no held-out pairs) gets no file.
        let applies = curves
            .checkpoints
            .iter()
            .any(|(_, statistics)| statistics.iter().any(|s| s[m].is_some()));
        if !applies {
            continue;
        }
        output::write_svg(
            &dir.join(format!("curve-{metric}.svg")),
            (900, 420),
            |root| {
                draw_sweep_curves(
                    root,
                    metric,
                    curves,
                    sweep,
                    &training.expanded.settings,
                    band,
                )
            },
        )?;
    }
    Ok(())
}

/// With held-out pairs, `compare-METRIC.svg` for each metric reported at the best checkpoints:
/// every setting's replicates at the end beside the same replicates early-stopped.
fn compare_plots(
    dir: &std::path::Path,
    training: &SweepTraining,
    sweep: &Sweep,
    summaries: &[SettingSummary],
) -> Result<(), Failure> {
    let settings = &training.expanded.settings;
    let values = |checkpoints: &[Option<dpo_playground::engine::sweep::Checkpoint>],
                  metric: &str| {
        settings
            .iter()
            .map(|setting| {
                checkpoints[setting.runs.clone()]
                    .iter()
                    .flatten()
                    .filter_map(|c| c.value(metric))
                    .collect::<Vec<f64>>()
            })
            .collect::<Vec<_>>()
    };
    for metric in reported(&SWEEP_METRICS, summaries) {
        if summaries
            .iter()
            .all(|s| s.best.iter().all(|(n, _)| *n != metric))
        {
            continue;
        }
        let width = (420 + 90 * settings.len() as u32).clamp(640, 1800);
        output::write_svg(
            &dir.join(format!("compare-{metric}.svg")),
            (width, 420),
            |root| {
                draw_final_vs_best(
                    root,
                    metric,
                    sweep,
                    settings,
                    &values(training.latest(), metric),
                    &values(training.best(), metric),
                )
            },
        )?;
    }
    Ok(())
}

/// `frontier.svg`, the reward–KL frontier, when the scenario has a ground-truth reward.
fn frontier_plot(
    dir: &std::path::Path,
    training: &SweepTraining,
    sweep: &Sweep,
) -> Result<(), Failure> {
    let frontier = training.frontier();
    if frontier.checkpoints.is_empty() {
        return Ok(());
    }
    output::write_svg(&dir.join("frontier.svg"), (900, 520), |root| {
        draw_frontier(root, frontier, sweep, &training.expanded.settings)
    })
}

/// One SVG per metric against the first numeric axis: a line per template and point of the
/// other axes; `final-METRIC.svg` and, with held-out pairs, `best-METRIC.svg`; with exactly two
/// axes also a heat map per metric, `heat-final-METRIC.svg` (and `heat-best-METRIC.svg`).
fn plots(
    dir: &std::path::Path,
    sweep: &Sweep,
    summaries: &[SettingSummary],
    band: Band,
) -> Result<(), Failure> {
    let metrics = reported(&SWEEP_METRICS, summaries);
    // Two axes: a heat map per metric as well, one panel per template.
    if sweep.axes.len() == 2 {
        for (kind, best) in [("final", false), ("best", true)] {
            for metric in &metrics {
                let list = |s: &SettingSummary| if best { s.best.len() } else { s.latest.len() };
                if summaries.iter().all(|s| list(s) == 0) {
                    continue;
                }
                let width = 360 + 300 * (summaries.len() / sweep.points().max(1)) as u32;
                let path = dir.join(format!("heat-{kind}-{metric}.svg"));
                output::write_svg(&path, (width.min(1800), 440), |root| {
                    draw_heatmap(root, metric, sweep, summaries, best)
                })?;
            }
        }
    }
    for (kind, best) in [("final", false), ("best", true)] {
        for metric in &metrics {
            let Some((a, log, lines)) = sweep_lines(sweep, summaries, metric, best) else {
                console::note(
                    "dpo: no numeric axis to plot against: no charts against a setting (the others are written)",
                );
                return Ok(());
            };
            if lines.is_empty() {
                continue;
            }
            output::write_svg(
                &dir.join(format!("{kind}-{metric}.svg")),
                (900, 420),
                |root| draw_sweep(root, metric, sweep.axes[a].field.name(), &lines, log, band),
            )?;
        }
    }
    Ok(())
}
