//! A sweep's charts: one metric against one axis, a line per group of settings (a template, and
//! the other axes' values) at the replicates' mean, in a band from their minimum to their
//! maximum; a heat map over two axes; with a ground-truth reward, the reward–KL frontier; the
//! curves over training; and final against early-stopped, a dot per replicate.

use super::{cartesian, display_text, failed, head, metric_title, padded_range, run_color};
use super::{Mark, PlotResult};
use crate::engine::order;
use crate::engine::sweep::{
    Axis, Band, Curves, Frontier, Scale, Setting, SettingSummary, Summary, Sweep, Values,
    CURVE_METRICS,
};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A setting's name on a chart: its template, and the value of every axis but `except` in
/// brackets (`DPO (beta = 0.5)`; the template's name alone when no axis is left).
fn setting_name(setting: &Setting, axes: &[Axis], except: Option<usize>) -> String {
    let others: Vec<String> = axes
        .iter()
        .zip(&setting.point)
        .enumerate()
        .filter(|&(i, _)| Some(i) != except)
        .map(|(_, (axis, v))| format!("{} = {}", axis.field.name(), v.text()))
        .collect();
    if others.is_empty() {
        setting.template_name.clone()
    } else {
        format!("{} ({})", setting.template_name, others.join(", "))
    }
}

/// One line of a sweep chart: its label and its points `(axis value, summary)`, in axis order.
pub struct SweepLine {
    /// The legend's text.
    pub label: String,
    /// The points.
    pub points: Vec<(f64, Summary)>,
}

/// `metric` against the axis `axis` (on a log scale when `log`, for an axis with no value at or
/// below 0): each line at its mean, with `band` over its replicates.
pub fn draw_sweep<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    metric: &str,
    axis: &str,
    lines: &[SweepLine],
    log: bool,
    band: Band,
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
    // The range holds the means too: a band of quantiles need not.
    let (low, high) = padded_range(lines.iter().flat_map(|l| {
        l.points.iter().flat_map(|p| {
            let (low, high) = band.bounds(&p.1);
            [low, high, p.1.mean]
        })
    }));
    let title = format!(
        "{} against {axis}: mean, {} over replicates",
        metric_title(metric),
        band.describe()
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
        let mut outline: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|p| (to_x(p.0), band.bounds(&p.1).1))
            .collect();
        outline.extend(
            line.points
                .iter()
                .rev()
                .map(|p| (to_x(p.0), band.bounds(&p.1).0)),
        );
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
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
        let label = setting_name(&summary.setting, &sweep.axes, Some(a));
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
        // By x, points of equal x in the order they came (a stable sort).
        let mut points: Vec<_> = line.points.drain(..).enumerate().collect();
        order::sort_by(&mut points, |(i, p), (j, q)| {
            p.0.total_cmp(&q.0).then(i.cmp(j)).is_lt()
        });
        line.points = points.into_iter().map(|(_, p)| p).collect();
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
            let label = setting_name(setting, &sweep.axes, Some(0));
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

/// A heat map of `metric` (at the end, or at the best checkpoints with `best`) over a sweep of
/// exactly two axes: the first across, the second up, one panel per template side by side, each
/// cell coloured by the replicates' mean on one scale for every panel and labelled with it.
/// An error when the sweep does not have two axes.
pub fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    metric: &str,
    sweep: &Sweep,
    summaries: &[SettingSummary],
    best: bool,
) -> PlotResult {
    let [across, up] = sweep.axes.as_slice() else {
        return Err("a heat map needs a sweep of exactly two axes".to_string());
    };
    let (xs, ys) = (across.points(), up.points());
    let cells = xs.len() * ys.len();
    if cells == 0 || summaries.is_empty() || !summaries.len().is_multiple_of(cells) {
        return Err("the statistics do not cover the sweep's grid".to_string());
    }
    area.fill(&WHITE).map_err(failed)?;
    let mean = |s: &SettingSummary| {
        let list = if best { &s.best } else { &s.latest };
        list.iter()
            .find(|(n, _)| *n == metric)
            .map(|(_, summary)| summary.mean)
            .filter(|m| m.is_finite())
    };
    let (low, high) = summaries
        .iter()
        .filter_map(mean)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let which = if best { "best checkpoint" } else { "end" };
    let title = format!(
        "{} over {} and {}: mean over replicates at the {which}",
        metric_title(metric),
        across.field.name(),
        up.field.name()
    );
    let plot = head(area, &display_text(&title), &[])?;
    let templates = summaries.len() / cells;
    let panels = plot.split_evenly((1, templates));
    for (t, panel) in panels.iter().enumerate() {
        let grid = &summaries[t * cells..(t + 1) * cells];
        let (caption, body) = panel.split_vertically(18);
        caption
            .draw(&Text::new(
                display_text(&grid[0].setting.template_name),
                (panel.dim_in_pixel().0 as i32 / 2, 9),
                super::font(super::LABEL_SIZE).pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(failed)?;
        // A narrow panel (a phone) labels every other column and leaves the cells' numbers to
        // the table, rather than printing them over each other.
        let cell_width = (body.dim_in_pixel().0 as f64 - 68.0) / xs.len() as f64;
        let every = if cell_width < 36.0 { 2 } else { 1 };
        let x_text = |v: &f64| {
            let column = v.round();
            if column >= 0.0 && (column as usize).is_multiple_of(every) {
                index_label(&xs, *v)
            } else {
                String::new()
            }
        };
        let y_text = |v: &f64| index_label(&ys, *v);
        let mut chart = ChartBuilder::on(&body)
            .margin(6)
            .x_label_area_size(38)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..xs.len() as f64 - 0.5, -0.5..ys.len() as f64 - 0.5)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(xs.len())
            .y_labels(ys.len())
            .x_label_formatter(&x_text)
            .y_label_formatter(&y_text)
            .label_style(super::font(super::TICK_SIZE))
            .axis_desc_style(super::font(super::LABEL_SIZE))
            .x_desc(across.field.name())
            .y_desc(up.field.name())
            .draw()
            .map_err(failed)?;
        for (cell, summary) in grid.iter().enumerate() {
            let (i, j) = ((cell / ys.len()) as f64, (cell % ys.len()) as f64);
            let value = mean(summary);
            let shade = value.map(|v| {
                if high > low {
                    (v - low) / (high - low)
                } else {
                    0.5
                }
            });
            let fill = match shade {
                Some(s) => blues(s).filled(),
                None => RGBColor(230, 230, 230).filled(),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(i - 0.5, j - 0.5), (i + 0.5, j + 0.5)],
                    fill,
                )))
                .map_err(failed)?;
            let text = value.map_or("–".to_string(), super::tick_label);
            // About 6.5 px a character at the tick size: a number that does not fit is left out.
            if text.chars().count() as f64 * 6.5 + 4.0 > cell_width {
                continue;
            }
            let ink = if shade.unwrap_or(0.0) > 0.55 {
                WHITE
            } else {
                super::INK
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (i, j),
                    super::font(super::TICK_SIZE)
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )))
                .map_err(failed)?;
        }
    }
    Ok(())
}

/// The axis value at a whole-number position of a heat map's axis; nothing between cells.
fn index_label(points: &[crate::engine::sweep::Value], position: f64) -> String {
    let index = position.round();
    if (position - index).abs() > 1e-6 || index < 0.0 {
        return String::new();
    }
    match points.get(index as usize) {
        Some(&crate::engine::sweep::Value::Number(x)) => super::tick_label(x),
        Some(other) => other.text(),
        None => String::new(),
    }
}

/// A sequential blue scale: `s = 0` nearly white, `s = 1` dark blue.
fn blues(s: f64) -> RGBColor {
    let s = s.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * s).round() as u8;
    RGBColor(mix(239.0, 8.0), mix(246.0, 48.0), mix(255.0, 107.0))
}

/// `metric`'s course over training (one of [`CURVE_METRICS`]): each setting's replicates at
/// their mean at every checkpoint recorded, in a band from their minimum to their maximum, a
/// line per setting. An error when the metric is not recorded or does not apply.
pub fn draw_sweep_curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    metric: &str,
    curves: &Curves,
    sweep: &Sweep,
    settings: &[Setting],
    band: Band,
) -> PlotResult {
    let m = CURVE_METRICS
        .iter()
        .position(|&name| name == metric)
        .ok_or_else(|| format!("{metric} is not recorded over training"))?;
    let line = |s: usize| -> Vec<(f64, Summary)> {
        curves
            .checkpoints
            .iter()
            .filter_map(|(step, statistics)| {
                let summary = statistics.get(s)?.get(m).copied().flatten()?;
                Some((*step as f64, summary))
            })
            .collect()
    };
    let lines: Vec<Vec<(f64, Summary)>> = (0..settings.len()).map(line).collect();
    if lines.iter().all(Vec::is_empty) {
        return Err(format!("{metric} does not apply to this sweep"));
    }
    area.fill(&WHITE).map_err(failed)?;
    let legend: Vec<(String, Mark)> = settings
        .iter()
        .enumerate()
        .map(|(s, setting)| {
            let label = setting_name(setting, &sweep.axes, None);
            (
                display_text(&label),
                Mark::Line(run_color(s).stroke_width(2)),
            )
        })
        .collect();
    let steps = lines.iter().flatten().map(|p| p.0);
    let (first, last) = steps.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (low, high) = padded_range(lines.iter().flatten().flat_map(|p| {
        let (low, high) = band.bounds(&p.1);
        [low, high, p.1.mean]
    }));
    let title = format!(
        "{} over training: mean, {} over replicates",
        metric_title(metric),
        band.describe()
    );
    let plot = head(area, &display_text(&title), &legend)?;
    let mut chart = cartesian(
        &plot,
        (first, last.max(first + 1.0)),
        (low, high),
        6,
        "step",
        "",
    )?;
    for (s, points) in lines.iter().enumerate() {
        let color = run_color(s);
        let mut outline: Vec<(f64, f64)> =
            points.iter().map(|p| (p.0, band.bounds(&p.1).1)).collect();
        outline.extend(points.iter().rev().map(|p| (p.0, band.bounds(&p.1).0)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                color.mix(0.15).filled(),
            )))
            .map_err(failed)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1.mean)),
                color.stroke_width(2),
            ))
            .map_err(failed)?;
    }
    Ok(())
}

/// Final against early-stopped, side by side: for each setting two columns, its replicates'
/// `metric` at the end and at their best checkpoint by held-out loss, a dot per replicate and a
/// bar at the mean. `final_values[s]` and `best_values[s]` hold setting `s`'s replicates. An
/// error when no setting has both.
pub fn draw_final_vs_best<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    metric: &str,
    sweep: &Sweep,
    settings: &[Setting],
    final_values: &[Vec<f64>],
    best_values: &[Vec<f64>],
) -> PlotResult {
    if final_values.iter().chain(best_values).all(Vec::is_empty) {
        return Err(format!("no {metric} at the end or at a best checkpoint"));
    }
    area.fill(&WHITE).map_err(failed)?;
    let finite = |values: &[f64]| {
        values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect::<Vec<_>>()
    };
    let (low, high) = padded_range(final_values.iter().chain(best_values).flatten().copied());
    let title = format!(
        "{}: at the end and early-stopped (best held-out loss), a dot per replicate",
        metric_title(metric)
    );
    let legend = [
        (
            "at the end".to_string(),
            Mark::Line(run_color(0).stroke_width(2)),
        ),
        (
            "early-stopped".to_string(),
            Mark::Line(run_color(1).stroke_width(2)),
        ),
    ];
    let plot = head(area, &display_text(&title), &legend)?;
    let columns = settings.len() * 2;
    let labels: Vec<String> = settings
        .iter()
        .map(|setting| display_text(&setting_name(setting, &sweep.axes, None)))
        .collect();
    let x_text = |v: &f64| {
        let column = v.round();
        if (v - column).abs() > 1e-6 || column < 0.0 || column as usize >= columns {
            return String::new();
        }
        let column = column as usize;
        // The setting's name under its first column only.
        if column.is_multiple_of(2) {
            labels[column / 2].clone()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(&plot)
        .margin_left(6)
        .margin_right(14)
        .margin_top(4)
        .x_label_area_size(24)
        .y_label_area_size(52)
        .build_cartesian_2d(-0.5..columns as f64 - 0.5, low..high)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(columns.min(40))
        .y_labels(5)
        .x_label_formatter(&x_text)
        .y_label_formatter(&|v| super::tick_label(*v))
        .label_style(super::font(super::TICK_SIZE))
        .axis_style(super::INK.mix(0.6))
        .bold_line_style(super::INK.mix(0.08))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(failed)?;
    for s in 0..settings.len() {
        for (k, values) in [&final_values[s], &best_values[s]].into_iter().enumerate() {
            let values = finite(values);
            if values.is_empty() {
                continue;
            }
            let x = (2 * s + k) as f64;
            let color = run_color(k);
            // Spread the dots across the column so that equal values stay countable.
            let n = values.len();
            chart
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    let offset = if n > 1 {
                        (i as f64 / (n - 1) as f64 - 0.5) * 0.5
                    } else {
                        0.0
                    };
                    Circle::new((x + offset, v), 3, color.mix(0.7).filled())
                }))
                .map_err(failed)?;
            let mean = values.iter().sum::<f64>() / n as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x - 0.35, mean), (x + 0.35, mean)],
                    color.stroke_width(3),
                )))
                .map_err(failed)?;
        }
    }
    Ok(())
}
