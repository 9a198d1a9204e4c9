//! The `sweep` and `validation` blocks of the scenario format: read with every error naming its
//! field, written back in canonical form. The engine's side is `crate::engine::sweep`.

use super::reader::{array, closest, integer, number, object, string};
use super::MAX_RUNS;
use crate::engine::options::{expected_names, named, LOSSES};
use crate::engine::sweep::{
    Axis, Field, Scale, SettingSummary, Summary, Sweep, Validation, Value as AxisValue, Values,
    FIELDS,
};
use crate::engine::InputError;
use serde_json::{json, Map, Value};

/// The most replicates per setting.
pub const MAX_REPLICATES: u64 = 1 << 16;

/// The most points on one axis.
pub const MAX_POINTS: u64 = 1 << 16;

/// Reads the `sweep` block for `templates` runs: its axes, its replicates, and the number of
/// runs they make checked against the scenario's limit.
pub fn read_sweep(value: &Value, templates: usize) -> Result<Sweep, InputError> {
    let mut block = object("sweep", value)?;
    let axes = match block.get("axes") {
        None => Vec::new(),
        Some(value) => array("sweep.axes", value)?
            .iter()
            .enumerate()
            .map(|(i, item)| read_axis(&format!("sweep.axes[{i}]"), item))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let replicates = match block.get("replicates") {
        None => 1,
        Some(value) => {
            let n = integer("sweep.replicates", value)?;
            if n == 0 || n > MAX_REPLICATES {
                return Err(InputError::new(
                    "sweep.replicates",
                    format!("must be from 1 to {MAX_REPLICATES}, not {n}"),
                ));
            }
            n as u32
        }
    };
    block.finish()?;
    for (i, axis) in axes.iter().enumerate() {
        if let Some(j) = axes[..i].iter().position(|a| a.field == axis.field) {
            return Err(InputError::new(
                format!("sweep.axes[{i}].field"),
                format!(
                    "{:?} is already swept at sweep.axes[{j}]",
                    axis.field.name()
                ),
            ));
        }
    }
    let sets_gamma = |field| axes.iter().position(|a: &Axis| a.field == field);
    if let (Some(g), Some(r)) = (sets_gamma(Field::Gamma), sets_gamma(Field::GammaOverBeta)) {
        return Err(InputError::new(
            format!("sweep.axes[{}]", g.max(r)),
            format!(
                "\"gamma\" (sweep.axes[{g}]) and \"gamma_over_beta\" (sweep.axes[{r}]) both set \
                 gamma: keep one"
            ),
        ));
    }
    let sweep = Sweep { axes, replicates };
    let runs = sweep.run_count(templates);
    if runs > MAX_RUNS {
        let shape: Vec<String> = std::iter::once(format!("{templates} runs"))
            .chain(
                sweep
                    .axes
                    .iter()
                    .map(|axis| format!("{} {} values", axis.points().len(), axis.field.name())),
            )
            .chain(std::iter::once(format!("{replicates} replicates")))
            .collect();
        return Err(InputError::new(
            "sweep",
            format!(
                "{} make {runs} runs, more than the {MAX_RUNS} a scenario may have",
                shape.join(" x ")
            ),
        ));
    }
    Ok(sweep)
}

fn read_axis(path: &str, value: &Value) -> Result<Axis, InputError> {
    let mut item = object(path, value)?;
    let name = string(&item.path_of("field"), item.require("field")?)?;
    let names: Vec<&str> = FIELDS.iter().map(|&(n, _)| n).collect();
    let field = Field::named(name).ok_or_else(|| {
        let hint = closest(name, &names).map_or(String::new(), |n| format!("did you mean {n:?}? "));
        InputError::new(
            format!("{path}.field"),
            format!(
                "unknown field {name:?} ({hint}a sweep can vary {})",
                names
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let values = match (item.get("values"), item.get("from")) {
        (Some(_), Some(_)) => {
            return Err(InputError::new(
                path,
                "give either \"values\" or a range (\"from\", \"to\", \"count\"), not both",
            ))
        }
        (None, None) => {
            return Err(InputError::new(
                path,
                "give \"values\" (a list) or a range (\"from\", \"to\", \"count\", \"scale\")",
            ))
        }
        (Some(list), None) => {
            let items = array(&format!("{path}.values"), list)?;
            if items.is_empty() {
                return Err(InputError::new(
                    format!("{path}.values"),
                    "is empty: give at least one value",
                ));
            }
            if items.len() as u64 > MAX_POINTS {
                return Err(InputError::new(
                    format!("{path}.values"),
                    format!("has more than the {MAX_POINTS} values an axis may have"),
                ));
            }
            if field == Field::Loss {
                let losses = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let at = format!("{path}.values[{i}]");
                        let name = string(&at, v)?;
                        named(LOSSES, name).ok_or_else(|| {
                            InputError::new(
                                &at,
                                format!(
                                    "unknown loss {name:?} (expected {})",
                                    expected_names(LOSSES)
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Values::Losses(losses)
            } else {
                let numbers = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| read_value(&format!("{path}.values[{i}]"), field, v))
                    .collect::<Result<Vec<_>, _>>()?;
                Values::Numbers(numbers)
            }
        }
        (None, Some(from_value)) => {
            if field == Field::Loss {
                return Err(InputError::new(
                    path,
                    "a loss axis takes \"values\" (loss names), not a range",
                ));
            }
            let from = read_value(&format!("{path}.from"), field, from_value)?;
            let to = read_value(&item.path_of("to"), field, item.require("to")?)?;
            let count = integer(&item.path_of("count"), item.require("count")?)?;
            if count == 0 || count > MAX_POINTS {
                return Err(InputError::new(
                    format!("{path}.count"),
                    format!("must be from 1 to {MAX_POINTS}, not {count}"),
                ));
            }
            let scale = match item.get("scale") {
                None => Scale::Linear,
                Some(v) => match string(&format!("{path}.scale"), v)? {
                    "linear" => Scale::Linear,
                    "log" => Scale::Log,
                    other => {
                        return Err(InputError::new(
                            format!("{path}.scale"),
                            format!("unknown scale {other:?} (expected \"linear\" or \"log\")"),
                        ))
                    }
                },
            };
            if scale == Scale::Log && (from <= 0.0 || to <= 0.0) {
                return Err(InputError::new(
                    path,
                    format!(
                        "a log range cannot reach 0 or below (from {from} to {to}): start it \
                         above 0, or list the values"
                    ),
                ));
            }
            Values::Range {
                from,
                to,
                count: count as usize,
                scale,
            }
        }
    };
    item.finish()?;
    Ok(Axis { field, values })
}

/// One number of an axis: finite, a whole number for an integer field (a batch size of at least
/// 1), not negative where the field cannot be.
fn read_value(path: &str, field: Field, value: &Value) -> Result<f64, InputError> {
    let x = match field {
        Field::Seed => integer(path, value)? as f64,
        Field::BatchSize => {
            let n = integer(path, value)?;
            if n == 0 {
                return Err(InputError::new(path, "a batch size is at least 1"));
            }
            n as f64
        }
        _ => number(path, value)?,
    };
    if x.abs() > f32::MAX as f64 {
        return Err(InputError::new(
            path,
            format!("{x} is too large for the engine (f32)"),
        ));
    }
    Ok(x)
}

/// The `sweep` block in canonical form: every axis's field and values or range, the replicates.
pub fn sweep_to_value(sweep: &Sweep) -> Value {
    let axes: Vec<Value> = sweep
        .axes
        .iter()
        .map(|axis| {
            let mut item = Map::new();
            item.insert("field".into(), json!(axis.field.name()));
            match &axis.values {
                Values::Numbers(numbers) => {
                    let values: Vec<Value> = numbers
                        .iter()
                        .map(|&x| number_value(axis.field, x))
                        .collect();
                    item.insert("values".into(), Value::Array(values));
                }
                Values::Losses(losses) => {
                    item.insert(
                        "values".into(),
                        json!(losses.iter().map(|l| l.name()).collect::<Vec<_>>()),
                    );
                }
                &Values::Range {
                    from,
                    to,
                    count,
                    scale,
                } => {
                    item.insert("from".into(), number_value(axis.field, from));
                    item.insert("to".into(), number_value(axis.field, to));
                    item.insert("count".into(), json!(count));
                    let scale = match scale {
                        Scale::Linear => "linear",
                        Scale::Log => "log",
                    };
                    item.insert("scale".into(), json!(scale));
                }
            }
            Value::Object(item)
        })
        .collect();
    json!({ "axes": axes, "replicates": sweep.replicates })
}

/// An axis value as JSON: an integer for an integer field.
fn number_value(field: Field, x: f64) -> Value {
    if field.integer() {
        json!(x as u64)
    } else {
        json!(x)
    }
}

/// Reads the `validation` block: `fraction` in (0, 1) (a share of the pairs held out) or `fresh`
/// (held-out pairs per prompt drawn from the ground-truth reward, at least 1 and at most
/// `max_fresh`), and `seed` (0 by default).
pub fn read_validation(value: &Value, max_fresh: usize) -> Result<Validation, InputError> {
    let mut block = object("validation", value)?;
    let fraction = block.get("fraction");
    let fresh = block.get("fresh");
    let validation =
        match (fraction, fresh) {
            (Some(_), Some(_)) => return Err(InputError::new(
                "validation",
                "give \"fraction\" (a share of the pairs held out) or \"fresh\" (pairs per prompt \
                 drawn from the reward), not both",
            )),
            (None, None) => return Err(InputError::new(
                "validation",
                "give \"fraction\" (a share of the pairs held out) or \"fresh\" (pairs per prompt \
                 drawn from the reward)",
            )),
            (Some(fraction), None) => {
                let fraction = number("validation.fraction", fraction)?;
                if !(fraction > 0.0 && fraction < 1.0) {
                    return Err(InputError::new(
                        "validation.fraction",
                        format!(
                            "must be between 0 and 1 (the share of pairs held out), not {fraction}"
                        ),
                    ));
                }
                Validation::Split { fraction, seed: 0 }
            }
            (None, Some(count)) => {
                let count = integer("validation.fresh", count)?;
                if count == 0 || count > max_fresh as u64 {
                    return Err(InputError::new(
                        "validation.fresh",
                        format!("must be from 1 to {max_fresh} pairs per prompt, not {count}"),
                    ));
                }
                Validation::Fresh {
                    count: count as usize,
                    seed: 0,
                }
            }
        };
    let seed = block.integer("seed")?.unwrap_or(0);
    block.finish()?;
    Ok(match validation {
        Validation::Split { fraction, .. } => Validation::Split { fraction, seed },
        Validation::Fresh { count, .. } => Validation::Fresh { count, seed },
    })
}

/// The `validation` block in canonical form.
pub fn validation_to_value(validation: &Validation) -> Value {
    match *validation {
        Validation::Split { fraction, seed } => json!({ "fraction": fraction, "seed": seed }),
        Validation::Fresh { count, seed } => json!({ "fresh": count, "seed": seed }),
    }
}

/// A number in a report: `null` for one that is not finite (JSON has no NaN).
fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// One metric's statistics over a setting's replicates: `{count, mean, std, min, max, p10, p25,
/// median, p75, p90}`.
pub fn summary_json(summary: &Summary) -> Value {
    json!({
        "count": summary.count,
        "mean": finite(summary.mean),
        "std": finite(summary.std),
        "min": finite(summary.min),
        "max": finite(summary.max),
        "p10": finite(summary.quantiles[0]),
        "p25": finite(summary.quantiles[1]),
        "median": finite(summary.quantiles[2]),
        "p75": finite(summary.quantiles[3]),
        "p90": finite(summary.quantiles[4]),
    })
}

/// A point of the grid as `{axis field: value}` (a number, or a loss's name).
fn point_json(sweep: &Sweep, point: &[AxisValue]) -> Value {
    // Inserted one by one, as in `setting_json`.
    let mut map = Map::new();
    for (axis, value) in sweep.axes.iter().zip(point) {
        let value = match value {
            AxisValue::Number(x) => json!(x),
            AxisValue::Loss(loss) => json!(loss.name()),
        };
        map.insert(axis.field.name().to_string(), value);
    }
    Value::Object(map)
}

/// One setting of a sweep's report, the same for `dpo sweep --json` and the page's Sweep panel:
/// `{template, label, point, runs, diverged, final: {metric: summary}, best?: {...},
/// best_step?: summary}` (see [`summary_json`]; `label` is the point in words, `beta = 0.5`).
pub fn setting_json(sweep: &Sweep, summary: &SettingSummary) -> Value {
    let metrics = |list: &[(&str, Summary)]| -> Value {
        // Inserted one by one: a map collected from an iterator is sorted by the standard
        // library's stable sort, kilobytes of the page's module per key type (engine::order).
        let mut map = Map::new();
        for (name, s) in list {
            map.insert(name.to_string(), summary_json(s));
        }
        Value::Object(map)
    };
    let mut row = json!({
        "template": summary.setting.template_name,
        "label": summary.setting.label(&sweep.axes),
        "point": point_json(sweep, &summary.setting.point),
        "runs": summary.setting.runs.len(),
        "diverged": summary.diverged,
        "final": metrics(&summary.latest),
    });
    if !summary.best.is_empty() {
        row["best"] = metrics(&summary.best);
    }
    if let Some(step) = &summary.best_step {
        row["best_step"] = summary_json(step);
    }
    row
}
