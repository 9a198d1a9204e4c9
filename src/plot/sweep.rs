//! A sweep's charts: one metric against one axis, a line per group of settings (a template, and
//! the other axes' values) at the replicates' mean, in a band from their minimum to their
//! maximum; and, with a ground-truth reward, the reward–KL frontier.

use super::{cartesian, display_text, failed, head, metric_title, padded_range, run_color};
use super::{Mark, PlotResult};
use crate::engine::sweep::{Frontier, Scale, Setting, SettingSummary, Summary, Sweep, Values};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One line of a sweep chart: its label and its points `(axis value, summary)`, in axis order.
pub struct SweepLine {
    /// The legend's text.
    pub label: String,
    /// The points.
    pub points: Vec<(f64, Summary)>,
}

/// `metric` against the axis `axis` (on a log scale when `log`, for an axis with no value at or
/// below 0): each line at its mean, with a band over the min-max range.
pub fn draw_sweep<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    metric: &str,
    axis: &str,
    lines: &[SweepLine],
    log: bool,
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let legend: Vec<(String, Mark)> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| (line.label.clone(), Mark::Line(run_color(i).stroke_width(2))))
        .collect();
    let to_x = |x: f64| if log { x.log10() } else { x };
    let xs = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| to_x(p.0)));
    let (mut x_low, mut x_high) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    // One point (or none): a unit-wide axis around it.
    if x_low.partial_cmp(&x_high) != Some(std::cmp::Ordering::Less) {
        x_low -= 0.5;
        x_high += 0.5;
    }
    let (low, high) = padded_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().flat_map(|p| [p.1.min, p.1.max])),
    );
    let title = format!(
        "{} against {axis}: mean, band min-max over replicates",
        metric_title(metric)
    );
    let plot = head(area, &display_text(&title), &legend)?;
    let x_title = if log {
        format!("log10 {axis}")
    } else {
        axis.to_string()
    };
    let mut chart = cartesian(&plot, (x_low, x_high), (low, high), 6, &x_title, "")?;
    for (i, line) in lines.iter().enumerate() {
        let color = run_color(i);
        let mut band: Vec<(f64, f64)> = line.points.iter().map(|p| (to_x(p.0), p.1.max)).collect();
        band.extend(line.points.iter().rev().map(|p| (to_x(p.0), p.1.min)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                color.mix(0.18).filled(),
            )))
            .map_err(failed)?;
        let mean: Vec<(f64, f64)> = line.points.iter().map(|p| (to_x(p.0), p.1.mean)).collect();
        chart
            .draw_series(LineSeries::new(mean.clone(), color.stroke_width(2)))
            .map_err(failed)?;
        chart
            .draw_series(mean.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(failed)?;
    }
    Ok(())
}

/// The lines of `metric` (at the end, or at the best checkpoints with `best`) against the sweep's
/// first numeric axis: the settings grouped by template and the other axes' values, each line's
/// points in axis order. `None` when no axis is numeric; with it, the axis's index and whether it
/// is a log range.
pub fn sweep_lines(
    sweep: &Sweep,
    summaries: &[SettingSummary],
    metric: &str,
    best: bool,
) -> Option<(usize, bool, Vec<SweepLine>)> {
    let a = sweep
        .axes
        .iter()
        .position(|axis| axis.points().iter().all(|v| v.number().is_some()))?;
    let log = matches!(
        sweep.axes[a].values,
        Values::Range {
            scale: Scale::Log,
            ..
        }
    );
    let mut lines: Vec<SweepLine> = Vec::new();
    for summary in summaries {
        let list = if best { &summary.best } else { &summary.latest };
        let Some(&(_, s)) = list.iter().find(|(n, _)| *n == metric) else {
            continue;
        };
        let others: Vec<String> = sweep
            .axes
            .iter()
            .zip(&summary.setting.point)
            .enumerate()
            .filter(|&(i, _)| i != a)
            .map(|(_, (axis, v))| format!("{} = {}", axis.field.name(), v.text()))
            .collect();
        let label = if others.is_empty() {
            summary.setting.template_name.clone()
        } else {
            format!("{} ({})", summary.setting.template_name, others.join(", "))
        };
        let x = summary.setting.point[a].number()?;
        match lines.iter_mut().find(|line| line.label == label) {
            Some(line) => line.points.push((x, s)),
            None => lines.push(SweepLine {
                label,
                points: vec![(x, s)],
            }),
        }
    }
    for line in &mut lines {
        line.points.sort_by(|p, q| p.0.total_cmp(&q.0));
    }
    Some((a, log, lines))
}

/// The reward–KL frontier (as in the DPO paper's figure 2, left): each setting's replicates at
/// their mean KL to the reference (x) and mean expected true reward (y), at every checkpoint
/// recorded, joined in step order by a thin line and ended by a larger dot at the last
/// checkpoint. The settings are coloured by group: their template and every axis but the first
/// (the frontier is traced over the first axis, e.g. `beta`), one legend entry per group.
pub fn draw_frontier<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frontier: &Frontier,
    sweep: &Sweep,
    settings: &[Setting],
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let mut groups: Vec<String> = Vec::new();
    let group_of: Vec<usize> = settings
        .iter()
        .map(|setting| {
            let others: Vec<String> = sweep
                .axes
                .iter()
                .zip(&setting.point)
                .skip(1)
                .map(|(axis, v)| format!("{} = {}", axis.field.name(), v.text()))
                .collect();
            let label = if others.is_empty() {
                setting.template_name.clone()
            } else {
                format!("{} ({})", setting.template_name, others.join(", "))
            };
            groups.iter().position(|g| *g == label).unwrap_or_else(|| {
                groups.push(label);
                groups.len() - 1
            })
        })
        .collect();
    let legend: Vec<(String, Mark)> = groups
        .iter()
        .enumerate()
        .map(|(i, name)| (display_text(name), Mark::Line(run_color(i).stroke_width(2))))
        .collect();
    let points = || {
        frontier
            .checkpoints
            .iter()
            .flat_map(|(_, points)| points.iter().flatten())
    };
    let (x_low, x_high) = padded_range(points().map(|p| p.0));
    let (y_low, y_high) = padded_range(points().map(|p| p.1));
    let over = sweep
        .axes
        .first()
        .map_or(String::new(), |axis| format!(" over {}", axis.field.name()));
    let title = format!("reward–KL frontier{over}: each setting's mean at each checkpoint");
    let plot = head(area, &title, &legend)?;
    let mut chart = cartesian(
        &plot,
        (x_low, x_high),
        (y_low, y_high),
        6,
        "KL to the reference",
        "expected true reward",
    )?;
    for (s, &group) in group_of.iter().enumerate() {
        let color = run_color(group);
        let path: Vec<(f64, f64)> = frontier
            .checkpoints
            .iter()
            .filter_map(|(_, points)| points.get(s).copied().flatten())
            .collect();
        chart
            .draw_series(LineSeries::new(
                path.clone(),
                color.mix(0.5).stroke_width(1),
            ))
            .map_err(failed)?;
        chart
            .draw_series(
                path.iter()
                    .map(|&p| Circle::new(p, 2, color.mix(0.6).filled())),
            )
            .map_err(failed)?;
        if let Some(&last) = path.last() {
            chart
                .draw_series(std::iter::once(Circle::new(last, 4, color.filled())))
                .map_err(failed)?;
        }
    }
    Ok(())
}
