//! The charts, written once against `plotters`' `DrawingBackend`: the page draws them on a canvas,
//! the command line writes them as SVG and PNG.

use crate::engine::history::MARGIN_QUANTILES;
use crate::engine::{History, LearningTable, Metrics, Pair, Problem};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Each run's colour, by index, in every chart (and, as hex, on the page).
pub const PALETTE: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (23, 190, 207),
    (140, 86, 75),
    (227, 119, 194),
];

/// Run `index`'s colour.
pub fn run_color(index: usize) -> RGBColor {
    let (r, g, b) = PALETTE[index % PALETTE.len()];
    RGBColor(r, g, b)
}

/// A drawing failure, as text.
pub type PlotResult = Result<(), String>;

/// A label, run name or title from the user, made fit to draw as one line of text on every
/// backend: control characters (tab and line breaks included, C1 and DEL too) and the two
/// characters XML cannot hold at all, U+FFFE and U+FFFF, are written as visible escapes
/// (`\u{1b}`), as error messages write them ([`crate::engine::escape_control`]). Markup such as `<`
/// and `&` is left as it is: it is text, and the SVG backend escapes it itself.
pub fn display_text(label: &str) -> String {
    crate::engine::error::escape_where(label, |c| {
        c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}')
    })
    .into_owned()
}

/// `labels[i]` as drawn (see [`display_text`]); empty when there is none.
fn label_at(labels: &[String], i: usize) -> String {
    labels
        .get(i)
        .map_or_else(String::new, |label| display_text(label))
}

fn failed<E: std::fmt::Debug>(error: E) -> String {
    format!("drawing failed: {error:?}")
}

/// The legend of a chart's labelled series, in the same style everywhere.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> PlotResult {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 11))
        .draw()
        .map_err(failed)
}

/// `[min, max]` of `values` widened so that a flat series still gets a visible range.
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        low = low.min(v);
        high = high.max(v);
    }
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((high - low) * 0.08).max(1e-3 * high.abs().max(1.0));
    (low - pad, high + pad)
}

/// One line chart per metric (`loss`, `accuracy`, `kl`, ...), side by side, a line per run.
pub fn draw_curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    history: &History,
    names: &[String],
    metrics: &[&str],
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let panels = area.split_evenly((1, metrics.len().max(1)));
    for (panel, &metric) in panels.iter().zip(metrics) {
        let series: Vec<Vec<(f64, f64)>> = history
            .metrics
            .iter()
            .map(|records| {
                records
                    .iter()
                    .filter_map(|m| metric_value(m, metric).map(|v| (m.step as f64, v)))
                    .collect()
            })
            .collect();
        let last_step = series.iter().flatten().map(|p| p.0).fold(1.0, f64::max);
        let (low, high) = padded_range(series.iter().flatten().map(|p| p.1));
        let mut chart = ChartBuilder::on(panel)
            .caption(display_text(metric), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..last_step, low..high)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_labels(5)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_labels(5)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(failed)?;
        for (r, points) in series.into_iter().enumerate() {
            let color = run_color(r);
            let label = label_at(names, r);
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(failed)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// A scalar metric by name (see [`crate::engine::SCALAR_METRICS`]).
pub fn metric_value(metrics: &Metrics, name: &str) -> Option<f64> {
    crate::engine::SCALAR_METRICS
        .iter()
        .position(|&known| known == name)
        .and_then(|i| metrics.scalars()[i])
}

/// A pair as the legends and the page name it: `A > B`, with its prompt in front (`x1: A > B`)
/// when there are several prompts.
pub fn pair_label(problem: &Problem, pair: &Pair) -> String {
    let outputs = problem.outputs();
    let text = format!(
        "{} > {}",
        outputs[pair.chosen].label, outputs[pair.rejected].label
    );
    if problem.prompt_count() > 1 {
        format!("{}: {text}", problem.prompts()[pair.prompt])
    } else {
        text
    }
}

/// The most outputs the policy chart draws bars for; past this it shows the most likely ones.
pub const POLICY_BARS: usize = 128;

/// Grouped bars for one prompt: the reference `pi0` (grey) and each run's policy. Past
/// [`POLICY_BARS`] outputs only the outputs most likely under the reference or any policy are
/// drawn (in their order), and the title says so: the chart's size does not grow with `K`.
pub fn draw_policy<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    problem: &Problem,
    policies: &[Vec<f64>],
    names: &[String],
    prompt: usize,
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let k = problem.output_count();
    let reference: Vec<f64> = problem
        .reference_row(prompt)
        .iter()
        .map(|&l| (l as f64).exp())
        .collect();
    let rows: Vec<&[f64]> = policies
        .iter()
        .map(|policy| &policy[prompt * k..(prompt + 1) * k])
        .collect();
    let top = rows
        .iter()
        .flat_map(|row| row.iter())
        .chain(&reference)
        .fold(0.0f64, |a, &b| a.max(b))
        .max(1e-6)
        * 1.1;
    let mut shown: Vec<usize> = (0..k).collect();
    if k > POLICY_BARS {
        // Each output's largest probability under the reference or any policy, computed once.
        let most_likely: Vec<f64> = (0..k)
            .map(|y| rows.iter().map(|row| row[y]).fold(reference[y], f64::max))
            .collect();
        shown.sort_by(|&a, &b| most_likely[b].total_cmp(&most_likely[a]));
        shown.truncate(POLICY_BARS);
        shown.sort_unstable();
    }
    let labels: Vec<String> = shown
        .iter()
        .map(|&y| display_text(&problem.outputs()[y].label))
        .collect();
    let mut title = if problem.prompt_count() > 1 {
        format!(
            "policy vs reference, prompt {}",
            display_text(&problem.prompts()[prompt])
        )
    } else {
        "policy vs reference".to_string()
    };
    if shown.len() < k {
        title += &format!(" (the {} most likely of {k} outputs)", shown.len());
    }
    let k = shown.len();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..k as f64, 0.0..top)
        .map_err(failed)?;
    // Output labels go under the centre of each group of bars, drawn by hand because the mesh
    // puts its labels at round numbers; every n-th one, so that the widest fit side by side.
    let font: TextStyle = ("sans-serif", 12).into_font().into();
    let widths: Vec<u32> = labels
        .iter()
        .map(|label| {
            area.estimate_text_size(label, &font)
                .map_or(0, |size| size.0)
        })
        .collect();
    let widest = widths.iter().copied().max().unwrap_or(0) as f64 + 8.0;
    let (plot_left, _) = chart.backend_coord(&(0.0, 0.0));
    let (plot_right, _) = chart.backend_coord(&(k as f64, 0.0));
    let room = (plot_right - plot_left).max(1) as f64;
    let every = ((k as f64 * widest / room).ceil() as usize).max(1);
    for y in (0..k).step_by(every) {
        let (x_pixel, y_pixel) = chart.backend_coord(&(y as f64 + 0.5, 0.0));
        let label = &labels[y];
        let width = widths[y];
        area.draw(&Text::new(
            label.clone(),
            (x_pixel - width as i32 / 2, y_pixel + 6),
            font.clone(),
        ))
        .map_err(failed)?;
    }
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("probability")
        .draw()
        .map_err(failed)?;
    let groups = rows.len() + 1;
    let width = 0.8 / groups as f64;
    let bar = |y: usize, slot: usize, height: f64, color: RGBColor| {
        let left = y as f64 + 0.1 + slot as f64 * width;
        Rectangle::new([(left, 0.0), (left + width * 0.92, height)], color.filled())
    };
    let grey = RGBColor(150, 150, 150);
    chart
        .draw_series(
            shown
                .iter()
                .enumerate()
                .map(|(x, &y)| bar(x, 0, reference[y], grey)),
        )
        .map_err(failed)?
        .label("reference")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], grey.filled()));
    for (r, row) in rows.iter().enumerate() {
        let color = run_color(r);
        chart
            .draw_series(
                shown
                    .iter()
                    .enumerate()
                    .map(|(x, &y)| bar(x, r + 1, row[y], color)),
            )
            .map_err(failed)?
            .label(label_at(names, r))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    draw_legend(&mut chart)?;
    Ok(())
}

/// Each pair's margin `u` over the recorded steps, for one run.
pub fn draw_margins<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    history: &History,
    run: usize,
    name: &str,
    pair_labels: &[String],
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let (Some(records), Some(margins)) = (history.metrics.get(run), history.margins.get(run))
    else {
        return Ok(());
    };
    let last_step = records.iter().map(|m| m.step as f64).fold(1.0, f64::max);
    let (low, high) = padded_range(margins.iter().flatten().map(|&u| u as f64).chain([0.0]));
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("pair margins u, {}", display_text(name)),
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..last_step, low..high)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .x_labels(5)
        .y_labels(5)
        .draw()
        .map_err(failed)?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (last_step, 0.0)],
            BLACK.mix(0.4),
        ))
        .map_err(failed)?;
    if history.margin_quantiles {
        // Past MARGIN_LINES pairs a record holds quantiles: nested bands (min-max, deciles 1-9,
        // quartiles) around the median, so the chart's size does not grow with the pairs.
        let color = run_color(run);
        let at = |q: usize| {
            records
                .iter()
                .zip(margins)
                .filter_map(move |(m, u)| u.get(q).map(|&v| (m.step as f64, v as f64)))
        };
        let last = MARGIN_QUANTILES.len() - 1;
        for (band, (low, high)) in [(0, last), (1, last - 1), (2, last - 2)]
            .into_iter()
            .enumerate()
        {
            let outline: Vec<(f64, f64)> = at(high)
                .chain(at(low).collect::<Vec<_>>().into_iter().rev())
                .collect();
            let label = match band {
                0 => "min to max",
                1 => "10% to 90%",
                _ => "25% to 75%",
            };
            let fill = color.mix(0.15 + 0.15 * band as f64);
            chart
                .draw_series(std::iter::once(Polygon::new(outline, fill.filled())))
                .map_err(failed)?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], fill.filled()));
        }
        chart
            .draw_series(LineSeries::new(at(last / 2), color.stroke_width(2)))
            .map_err(failed)?
            .label(format!("median of {} pairs", pair_labels.len()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        draw_legend(&mut chart)?;
        return Ok(());
    }
    let pairs = margins.first().map_or(0, Vec::len);
    for p in 0..pairs {
        let color = run_color(p);
        let points = records
            .iter()
            .zip(margins)
            .map(|(m, u)| (m.step as f64, u[p] as f64));
        let series = chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(failed)?;
        if p < 12 {
            series
                .label(label_at(pair_labels, p))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
    }
    draw_legend(&mut chart)?;
    Ok(())
}

/// Every run's learning table as a 2 x 2 grid shaded by each cell's share of the learning
/// signal, with the pair count and the share written in.
pub fn draw_learning_tables<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    tables: &[LearningTable],
    names: &[String],
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let panels = area.split_evenly((1, tables.len().max(1)));
    for (r, (panel, table)) in panels.iter().zip(tables).enumerate() {
        let name = label_at(names, r);
        let titled = panel.titled(&name, ("sans-serif", 14)).map_err(failed)?;
        let (width, height) = titled.dim_in_pixel();
        let (left, top) = (60i32, 20i32);
        let cell_w = ((width as i32 - left - 8) / 2).max(10);
        let cell_h = ((height as i32 - top - 8) / 2).max(10);
        let color = run_color(r);
        let font = ("sans-serif", 12).into_font();
        titled
            .draw(&Text::new("policy right", (left + 4, 4), font.clone()))
            .map_err(failed)?;
        titled
            .draw(&Text::new("wrong", (left + cell_w + 4, 4), font.clone()))
            .map_err(failed)?;
        for (row, row_label) in ["ref right", "ref wrong"].iter().enumerate() {
            titled
                .draw(&Text::new(
                    *row_label,
                    (2, top + row as i32 * cell_h + cell_h / 2 - 6),
                    font.clone(),
                ))
                .map_err(failed)?;
            for column in 0..2 {
                let cell = table.cells()[row * 2 + column];
                let x = left + column as i32 * cell_w;
                let y = top + row as i32 * cell_h;
                titled
                    .draw(&Rectangle::new(
                        [(x, y), (x + cell_w - 2, y + cell_h - 2)],
                        color.mix(0.08 + 0.85 * cell.share).filled(),
                    ))
                    .map_err(failed)?;
                titled
                    .draw(&Rectangle::new(
                        [(x, y), (x + cell_w - 2, y + cell_h - 2)],
                        BLACK.mix(0.3),
                    ))
                    .map_err(failed)?;
                let noun = if cell.pairs == 1 { "pair" } else { "pairs" };
                let text = format!("{} {noun}, {:.0}%", cell.pairs, 100.0 * cell.share);
                titled
                    .draw(&Text::new(text, (x + 4, y + cell_h / 2 - 6), font.clone()))
                    .map_err(failed)?;
            }
        }
    }
    Ok(())
}
