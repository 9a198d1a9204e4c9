//! The charts, written once against `plotters`' `DrawingBackend`: the page draws them on a canvas,
//! the command line writes them as SVG and PNG.

mod chart;
pub mod sweep;

pub use chart::{render, Chart, Sources};

use crate::engine::history::MARGIN_QUANTILES;
use crate::engine::order;
use crate::engine::{History, Metrics, Pair, Problem};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// plotters' SVG and bitmap backends draw a text style of size `s` at `s / 1.24` pixels (a
/// point-size convention); the page's canvas backend follows them (see `web.rs`). [`px`] gives
/// the style size that draws at a given number of pixels.
pub const POINTS_PER_PIXEL: f64 = 1.24;

/// The text style size that draws `pixels` high on every backend.
pub const fn px(pixels: f64) -> f64 {
    pixels * POINTS_PER_PIXEL
}

/// Text sizes, drawn in the drawing's own pixels: CSS pixels on the page (its canvases are scaled
/// to the device, not the text), so the smallest text is 10.5 CSS px at any pixel ratio.
pub const TITLE_SIZE: f64 = px(13.5);
/// Legends, axis titles and the learning table's labels.
pub const LABEL_SIZE: f64 = px(11.5);
/// Tick labels and the smallest text any chart draws.
pub const TICK_SIZE: f64 = px(10.5);

/// The colour of text and axes.
const INK: RGBColor = RGBColor(29, 35, 48);

fn font(size: f64) -> TextStyle<'static> {
    // The family by its variant, not by the name "sans-serif": plotters matches a name through
    // `str::to_lowercase`, which links the Unicode case tables (about 8 KB gzipped) into the
    // page's module for nothing.
    (FontFamily::SansSerif, size).into_font().color(&INK)
}

/// A metric's name as a chart's title.
pub fn metric_title(name: &str) -> &str {
    match name {
        "loss" => "loss",
        "accuracy" => "accuracy (share of pairs ranked right)",
        "reference_accuracy" => "reference accuracy",
        "kl" => "KL(\u{3c0} \u{2016} \u{3c0}0)",
        "entropy" => "entropy of \u{3c0}",
        "chosen_reward" => "chosen reward",
        "rejected_reward" => "rejected reward",
        "reward_margin" => "reward margin",
        "learning_signal" => "learning signal",
        "true_reward" => "expected true reward",
        "ranking_agreement" => "ranking agreement with r*",
        "share_rr" => "signal share: reference right, policy right",
        "share_rw" => "signal share: reference right, policy wrong",
        "share_wr" => "signal share: reference wrong, policy right",
        "share_ww" => "signal share: reference wrong, policy wrong",
        "validation_loss" => "held-out loss",
        "validation_accuracy" => "held-out accuracy",
        "validation_reward_margin" => "held-out reward margin",
        other => other,
    }
}

/// A tick label that fits its axis: at most four significant digits, engineering notation for
/// large and small magnitudes (`12.5k`, `3.2e-5`), never `-0`.
pub fn tick_label(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    let magnitude = value.abs();
    if magnitude < 1e-12 {
        return "0".to_string();
    }
    let trim = |text: String| -> String {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    };
    if magnitude >= 1e4 {
        for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
            if magnitude >= scale {
                return trim(format!("{:.2}", value / scale)) + suffix;
            }
        }
    }
    if magnitude < 1e-3 {
        let text = format!("{value:.1e}");
        return text.replace(".0e", "e");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 4) as usize;
    trim(format!("{value:.decimals$}"))
}

/// How a legend entry marks its series.
#[derive(Clone, Copy)]
enum Mark {
    /// A line segment in the series' stroke.
    Line(ShapeStyle),
    /// A filled box.
    Fill(ShapeStyle),
}

/// The most rows a legend takes; entries past them are counted ("+3 more").
const LEGEND_ROWS: usize = 3;

/// Draws `title` on a line of its own at the top of `area` and `legend` in rows below it, both
/// outside the plot, and returns the area left for the plot: a legend never covers a line.
fn head<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    legend: &[(String, Mark)],
) -> Result<DrawingArea<DB, Shift>, String> {
    let (width, _) = area.dim_in_pixel();
    let width = width as i32;
    let title_font = font(TITLE_SIZE);
    let (title_area, rest) = area.split_vertically(22);
    // A title wider than the chart (a phone's width) loses words from its end, marked "…",
    // rather than running off both sides.
    // Measured word by word: in the page a whole line is measured in a span that wraps at the
    // viewport's width, so a long title would seem to fit; a quick bound first, so that most
    // titles are not measured at all.
    let title_px = TITLE_SIZE / POINTS_PER_PIXEL;
    let room = (width - 16) as f64;
    let fits = |text: &str| {
        if text.chars().count() as f64 * title_px * 0.6 <= room {
            return true;
        }
        let words: Vec<&str> = text.split(' ').collect();
        let measured: f64 = words
            .iter()
            .map(|word| {
                area.estimate_text_size(word, &title_font)
                    .map_or(0.0, |size| size.0 as f64)
            })
            .sum();
        measured + (words.len() - 1) as f64 * title_px * 0.28 <= room
    };
    let mut title = title.to_string();
    while !fits(&title) {
        let words = title.trim_end_matches('…').trim_end();
        match words.rfind(' ') {
            Some(cut) => title = format!("{}…", words[..cut].trim_end_matches([',', ':', ';'])),
            None => break,
        }
    }
    title_area
        .draw(&Text::new(
            title,
            (width / 2, 12),
            title_font.pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(failed)?;
    if legend.is_empty() {
        return Ok(rest);
    }
    let label_font = font(LABEL_SIZE);
    let text_width = |text: &str| {
        area.estimate_text_size(text, &label_font)
            .map_or(0, |size| size.0 as i32)
    };
    // Lay the entries out in rows; past LEGEND_ROWS the rest are counted instead.
    let mut placed: Vec<(i32, usize, usize)> = Vec::new();
    let (mut x, mut row) = (8, 0);
    for (i, (label, _)) in legend.iter().enumerate() {
        let entry = 22 + text_width(label);
        if x > 8 && x + entry > width - 8 {
            row += 1;
            x = 8;
        }
        if row == LEGEND_ROWS {
            break;
        }
        placed.push((x, row, i));
        x += entry + 14;
    }
    let mut more = String::new();
    if placed.len() < legend.len() {
        // Room for "+N more" at the end of the last row, dropping entries until it fits.
        loop {
            more = format!("+{} more", legend.len() - placed.len());
            let end = placed
                .last()
                .map_or(8, |&(x, _, i)| x + 22 + text_width(&legend[i].0) + 14);
            if end + text_width(&more) <= width - 8 || placed.len() <= 1 {
                break;
            }
            placed.pop();
        }
    }
    let rows = placed.last().map_or(1, |p| p.1 + 1);
    let row_height = 18;
    let (band, plot) = rest.split_vertically(rows as i32 * row_height + 4);
    let middle = |row: usize| row as i32 * row_height + row_height / 2;
    for &(x, row, i) in &placed {
        let (label, mark) = &legend[i];
        let y = middle(row);
        match *mark {
            Mark::Line(style) => band
                .draw(&PathElement::new(vec![(x, y), (x + 18, y)], style))
                .map_err(failed)?,
            Mark::Fill(style) => band
                .draw(&Rectangle::new([(x + 3, y - 5), (x + 15, y + 5)], style))
                .map_err(failed)?,
        }
        band.draw(&Text::new(
            label.clone(),
            (x + 22, y),
            label_font.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(failed)?;
    }
    if !more.is_empty() {
        let &(x, row, i) = placed.last().expect("at least one entry is placed");
        let x = x + 22 + text_width(&legend[i].0) + 14;
        band.draw(&Text::new(
            more,
            (x, middle(row)),
            label_font.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(failed)?;
    }
    Ok(plot)
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

/// The steps the x axis spans: from the first recorded step (a run that restarted starts again
/// at its restart) to the last.
fn step_range<'a>(steps: impl Iterator<Item = &'a Metrics>) -> (f64, f64) {
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for m in steps {
        first = first.min(m.step as f64);
        last = last.max(m.step as f64);
    }
    if !first.is_finite() {
        return (0.0, 1.0);
    }
    (first, last.max(first + 1.0))
}

/// Builds a cartesian chart with the shared look: tick and axis-title sizes, room for the
/// labels so that the x axis's title never meets a tick label, ticks that fit.
fn cartesian<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    x: (f64, f64),
    y: (f64, f64),
    x_ticks: usize,
    x_title: &str,
    y_title: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin_left(6)
        .margin_right(14)
        .margin_top(4)
        .margin_bottom(4)
        .x_label_area_size(if x_title.is_empty() { 22 } else { 38 })
        .y_label_area_size(if y_title.is_empty() { 46 } else { 62 })
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(failed)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(x_ticks)
        .y_labels(5)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .label_style(font(TICK_SIZE))
        .axis_desc_style(font(LABEL_SIZE))
        .axis_style(INK.mix(0.6))
        .bold_line_style(INK.mix(0.08))
        .light_line_style(WHITE.mix(0.0));
    if x_ticks == 0 {
        mesh.disable_x_mesh();
    }
    if !x_title.is_empty() {
        mesh.x_desc(x_title);
    }
    if !y_title.is_empty() {
        mesh.y_desc(y_title);
    }
    mesh.draw().map_err(failed)?;
    Ok(chart)
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
    let legend: Vec<(String, Mark)> = (0..history.metrics.len())
        .map(|r| (label_at(names, r), Mark::Line(run_color(r).stroke_width(2))))
        .collect();
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
        let steps = step_range(history.metrics.iter().flatten());
        let (low, high) = padded_range(series.iter().flatten().map(|p| p.1));
        let plot = head(panel, &display_text(metric_title(metric)), &legend)?;
        let mut chart = cartesian(&plot, steps, (low, high), 5, "step", "")?;
        for (r, points) in series.into_iter().enumerate() {
            chart
                .draw_series(LineSeries::new(points, run_color(r).stroke_width(2)))
                .map_err(failed)?;
        }
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
        // The most likely first, ties in the outputs' order; then the chosen in their order.
        order::sort_by(&mut shown, |&a, &b| {
            most_likely[b]
                .total_cmp(&most_likely[a])
                .then(a.cmp(&b))
                .is_lt()
        });
        shown.truncate(POLICY_BARS);
        order::sort_by(&mut shown, |a, b| a < b);
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
    let grey = RGBColor(150, 150, 150);
    let mut legend = vec![("reference \u{3c0}0".to_string(), Mark::Fill(grey.filled()))];
    legend.extend((0..rows.len()).map(|r| (label_at(names, r), Mark::Fill(run_color(r).filled()))));
    let plot = head(area, &title, &legend)?;
    let k = shown.len();
    let mut chart = cartesian(&plot, (0.0, k as f64), (0.0, top), 0, "", "probability")?;
    // Output labels go under the centre of each group of bars, drawn by hand because the mesh
    // puts its labels at round numbers; every n-th one, so that the widest fit side by side.
    let label_font = font(TICK_SIZE);
    let widths: Vec<u32> = labels
        .iter()
        .map(|label| {
            plot.estimate_text_size(label, &label_font)
                .map_or(0, |size| size.0)
        })
        .collect();
    let widest = widths.iter().copied().max().unwrap_or(0) as f64 + 8.0;
    // The chart maps to the whole drawing's pixels; `plot` draws relative to its own corner.
    let (base_x, base_y) = plot.get_base_pixel();
    let at = |x: f64| {
        let (px, py) = chart.backend_coord(&(x, 0.0));
        (px - base_x, py - base_y)
    };
    let (plot_left, _) = at(0.0);
    let (plot_right, _) = at(k as f64);
    let room = (plot_right - plot_left).max(1) as f64;
    let every = ((k as f64 * widest / room).ceil() as usize).max(1);
    for y in (0..k).step_by(every) {
        let (x_pixel, y_pixel) = at(y as f64 + 0.5);
        plot.draw(&Text::new(
            labels[y].clone(),
            (x_pixel, y_pixel + 5),
            label_font.pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(failed)?;
    }
    let groups = rows.len() + 1;
    let width = 0.8 / groups as f64;
    let bar = |y: usize, slot: usize, height: f64, color: RGBColor| {
        let left = y as f64 + 0.1 + slot as f64 * width;
        Rectangle::new([(left, 0.0), (left + width * 0.92, height)], color.filled())
    };
    chart
        .draw_series(
            shown
                .iter()
                .enumerate()
                .map(|(x, &y)| bar(x, 0, reference[y], grey)),
        )
        .map_err(failed)?;
    for (r, row) in rows.iter().enumerate() {
        let color = run_color(r);
        chart
            .draw_series(
                shown
                    .iter()
                    .enumerate()
                    .map(|(x, &y)| bar(x, r + 1, row[y], color)),
            )
            .map_err(failed)?;
    }
    Ok(())
}

/// The most pairs the margins chart names in its legend (the rest are counted).
const MARGIN_LEGEND: usize = 12;

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
    let steps = step_range(records.iter());
    let (low, high) = padded_range(margins.iter().flatten().map(|&u| u as f64).chain([0.0]));
    let title = format!("pair margins u, {}", display_text(name));
    let color = run_color(run);
    let last = MARGIN_QUANTILES.len() - 1;
    // Past MARGIN_LINES pairs a record holds quantiles: nested bands (min-max, deciles 1-9,
    // quartiles) around the median, so the chart's size does not grow with the pairs.
    let bands = [
        (0, last, "min to max"),
        (1, last - 1, "10% to 90%"),
        (2, last - 2, "25% to 75%"),
    ];
    let band_fill = |band: usize| color.mix(0.15 + 0.15 * band as f64);
    let legend: Vec<(String, Mark)> = if history.margin_quantiles {
        bands
            .iter()
            .enumerate()
            .map(|(band, &(_, _, label))| (label.to_string(), Mark::Fill(band_fill(band).filled())))
            .chain(std::iter::once((
                format!("median of {} pairs", pair_labels.len()),
                Mark::Line(color.stroke_width(2)),
            )))
            .collect()
    } else {
        let pairs = margins.first().map_or(0, Vec::len);
        (0..pairs)
            .map(|p| {
                (
                    label_at(pair_labels, p),
                    Mark::Line(run_color(p).stroke_width(2)),
                )
            })
            .collect()
    };
    let plot = head(area, &title, &legend[..legend.len().min(MARGIN_LEGEND + 1)])?;
    let mut chart = cartesian(&plot, steps, (low, high), 5, "step", "")?;
    chart
        .draw_series(LineSeries::new(
            [(steps.0, 0.0), (steps.1, 0.0)],
            INK.mix(0.45),
        ))
        .map_err(failed)?;
    if history.margin_quantiles {
        let at = |q: usize| {
            records
                .iter()
                .zip(margins)
                .filter_map(move |(m, u)| u.get(q).map(|&v| (m.step as f64, v as f64)))
        };
        for (band, &(low, high, _)) in bands.iter().enumerate() {
            let outline: Vec<(f64, f64)> = at(high)
                .chain(at(low).collect::<Vec<_>>().into_iter().rev())
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    band_fill(band).filled(),
                )))
                .map_err(failed)?;
        }
        chart
            .draw_series(LineSeries::new(at(last / 2), color.stroke_width(2)))
            .map_err(failed)?;
        return Ok(());
    }
    let pairs = margins.first().map_or(0, Vec::len);
    for p in 0..pairs {
        let points = records
            .iter()
            .zip(margins)
            .filter_map(|(m, u)| u.get(p).map(|&v| (m.step as f64, v as f64)));
        chart
            .draw_series(LineSeries::new(points, run_color(p).stroke_width(2)))
            .map_err(failed)?;
    }
    Ok(())
}

/// The row and column names of a learning table, and the cells in reading order.
const TABLE_ROWS: [&str; 2] = ["ref right", "ref wrong"];
const TABLE_COLUMNS: [&str; 2] = ["policy right", "policy wrong"];

/// One run's learning tables: the table now (each pair in the cell it is in, with its current
/// signal, and a strip of the cell's share of the pairs at each recorded step: pairs moving
/// between cells) beside the table summed over training (each cell's share of all the signal so
/// far, the pairs that ever had signal there, and a strip of the cell's share of the signal at
/// each recorded step). `latest` is the run's current metrics, `records` its history.
pub fn draw_learning_table<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    latest: &Metrics,
    records: &[Metrics],
    name: &str,
    color: RGBColor,
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let plot = head(area, &display_text(name), &[])?;
    let (width, height) = plot.dim_in_pixel();
    let (width, height) = (width as i32, height as i32);
    let left = 62;
    let gap = 12;
    let grid_width = ((width - left - gap - 4) / 2).max(20);
    let cell_width = grid_width / 2;
    // Narrow cells take their column names on two lines ("policy" over "right").
    let two_lines = cell_width < 74;
    let top = if two_lines { 46 } else { 36 };
    let cell_height = ((height - top - 4) / 2).max(20);
    let label = font(LABEL_SIZE);
    let small = font(TICK_SIZE);
    for (row, text) in TABLE_ROWS.iter().enumerate() {
        plot.draw(&Text::new(
            *text,
            (2, top + row as i32 * cell_height + cell_height / 2),
            label.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(failed)?;
    }
    let steps = step_range(records.iter());
    for grid in 0..2 {
        let x0 = left + grid * (grid_width + gap);
        let (title, table) = if grid == 0 {
            (
                format!("now (step {})", latest.step),
                Some(&latest.learning_table),
            )
        } else {
            (
                "summed over training".to_string(),
                latest.accumulated_table.as_ref(),
            )
        };
        plot.draw(&Text::new(
            title,
            (x0 + grid_width / 2, 8),
            label.pos(Pos::new(HPos::Center, VPos::Center)),
        ))
        .map_err(failed)?;
        for (column, text) in TABLE_COLUMNS.iter().enumerate() {
            let x = x0 + column as i32 * cell_width + cell_width / 2;
            let lines: Vec<&str> = if two_lines {
                text.split(' ').collect()
            } else {
                vec![*text]
            };
            for (line, text) in lines.into_iter().enumerate() {
                plot.draw(&Text::new(
                    text,
                    (x, 26 + 12 * line as i32),
                    small.pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(failed)?;
            }
        }
        for (index, _) in TABLE_ROWS.iter().flat_map(|_| TABLE_COLUMNS).enumerate() {
            let (row, column) = (index / 2, index % 2);
            let x = x0 + column as i32 * cell_width;
            let y = top + row as i32 * cell_height;
            let corners = [(x, y), (x + cell_width - 2, y + cell_height - 2)];
            let Some(table) = table else {
                plot.draw(&Rectangle::new(corners, INK.mix(0.25)))
                    .map_err(failed)?;
                continue;
            };
            let cell = table.cells()[index];
            // Light enough at full share that the text stays readable on it.
            plot.draw(&Rectangle::new(
                corners,
                color.mix(0.06 + 0.44 * cell.share).filled(),
            ))
            .map_err(failed)?;
            plot.draw(&Rectangle::new(corners, INK.mix(0.25)))
                .map_err(failed)?;
            plot.draw(&Text::new(
                format!("{:.0}%", 100.0 * cell.share),
                (x + 5, y + 4),
                font(TITLE_SIZE).pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(failed)?;
            let noun = if cell.pairs == 1 { "pair" } else { "pairs" };
            plot.draw(&Text::new(
                format!("{} {noun}", cell.pairs),
                (x + 5, y + 22),
                small.pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(failed)?;
            if records.len() > 1 && cell_height > 56 {
                // Over the recorded steps, 0 to 1: in the table now, the cell's share of the
                // pairs (pairs moving between cells); in the summed table, its share of each
                // step's signal (when the cell learned).
                let strip_top = y + cell_height - 20;
                let strip_height = 14.0;
                let (first, last) = steps;
                let span = (last - first).max(1.0);
                let points: Vec<(i32, i32)> = records
                    .iter()
                    .map(|m| {
                        let cells = m.learning_table.cells();
                        let share = if grid == 0 {
                            let pairs: usize = cells.iter().map(|c| c.pairs).sum();
                            cells[index].pairs as f64 / pairs.max(1) as f64
                        } else {
                            cells[index].share
                        };
                        let px = x
                            + 4
                            + ((m.step as f64 - first) / span * (cell_width - 10) as f64) as i32;
                        let py = strip_top + ((1.0 - share) * strip_height) as i32;
                        (px, py)
                    })
                    .collect();
                plot.draw(&PathElement::new(
                    vec![
                        (x + 4, strip_top + 14),
                        (x + cell_width - 6, strip_top + 14),
                    ],
                    INK.mix(0.25),
                ))
                .map_err(failed)?;
                plot.draw(&PathElement::new(points, color.stroke_width(2)))
                    .map_err(failed)?;
            }
        }
        if table.is_none() {
            plot.draw(&Text::new(
                "not tracked (trained on WebGPU)",
                (x0 + grid_width / 2, top + cell_height),
                small.pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(failed)?;
        }
    }
    Ok(())
}

/// Several runs' learning tables (see [`draw_learning_table`]) in a grid of panels, as many
/// side by side as fit at about 360 pixels each. `latest[i]` is run `runs[i]`'s current
/// metrics; the strips come from `history`.
pub fn draw_learning_tables<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    history: &History,
    runs: std::ops::Range<usize>,
    latest: &[Metrics],
    names: &[String],
) -> PlotResult {
    area.fill(&WHITE).map_err(failed)?;
    let count = runs.len().max(1);
    let (width, _) = area.dim_in_pixel();
    let columns = ((width / 360) as usize).clamp(1, count);
    let rows = count.div_ceil(columns);
    let panels = area.split_evenly((rows, columns));
    for ((panel, run), metrics) in panels.iter().zip(runs).zip(latest) {
        let records = history.metrics.get(run).map_or(&[][..], Vec::as_slice);
        draw_learning_table(
            panel,
            metrics,
            records,
            &label_at(names, run),
            run_color(run),
        )?;
    }
    Ok(())
}
