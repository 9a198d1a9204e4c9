//! A sweep's chart: one metric against one axis, a line per group of settings (a template, and
//! the other axes' values) at the replicates' mean, in a band from their minimum to their maximum.

use super::{cartesian, display_text, failed, head, metric_title, padded_range, run_color};
use super::{Mark, PlotResult};
use crate::engine::sweep::Summary;
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
    if !(x_low < x_high) {
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
