//! Every choice a run offers, declared once: for each kind of loss, init, optimiser and
//! regulariser, its name in the scenario format, its label on the page and its default
//! parameters. The reader, the canonical writer, the "expected one of" lists of error messages
//! and the page's editors (through `runOptions()` in the web glue) all come from these tables;
//! the default run is [`RunConfig::default`](super::RunConfig).

use super::config::{Init, Optimizer, Regularizer};
use super::loss::LossKind;
use std::mem::discriminant;

/// One kind of an option: its name in the format, its label on the page, and the value it
/// stands for, with default parameters where the kind has some.
#[derive(Clone, Copy, Debug)]
pub struct Kind<T: 'static> {
    /// The name in scenario files (`"kind"` of an object, or the value itself).
    pub name: &'static str,
    /// What the page's menus show.
    pub label: &'static str,
    /// The value this kind stands for, with its default parameters.
    pub default: T,
}

/// The per-pair losses, in the order the page lists them.
pub const LOSSES: &[Kind<LossKind>] = &[
    Kind {
        name: "logistic",
        label: "logistic (DPO)",
        default: LossKind::Logistic,
    },
    Kind {
        name: "hinge",
        label: "hinge (margin)",
        default: LossKind::Hinge,
    },
    Kind {
        name: "ipo",
        label: "IPO (squared)",
        default: LossKind::Ipo,
    },
];

/// How the logits start.
pub const INITS: &[Kind<Init>] = &[
    Kind {
        name: "reference",
        label: "at the reference (log π0)",
        default: Init::Reference,
    },
    Kind {
        name: "reference_alpha",
        label: "at the sharpened reference (log π0^α)",
        default: Init::ReferenceAlpha,
    },
    Kind {
        name: "uniform",
        label: "uniform (all logits 0)",
        default: Init::Uniform,
    },
    Kind {
        name: "random",
        label: "random (seeded normal)",
        default: Init::Random { scale: 1.0 },
    },
];

/// The optimisers, with PyTorch's defaults besides the learning rate.
pub const OPTIMIZERS: &[Kind<Optimizer>] = &[
    Kind {
        name: "sgd",
        label: "SGD",
        default: Optimizer::sgd(0.1),
    },
    Kind {
        name: "adam",
        label: "Adam",
        default: Optimizer::adam(0.05),
    },
];

/// The regularisers toward the reference.
pub const REGULARIZERS: &[Kind<Regularizer>] = &[
    Kind {
        name: "none",
        label: "none",
        default: Regularizer::None,
    },
    Kind {
        name: "l2",
        label: "L2 toward the reference logits",
        default: Regularizer::L2 { lambda: 0.1 },
    },
    Kind {
        name: "kl",
        label: "KL(π ‖ π0)",
        default: Regularizer::Kl { lambda: 0.1 },
    },
    Kind {
        name: "mixout",
        label: "mixout",
        default: Regularizer::Mixout { p: 0.1 },
    },
];

/// The entry of `table` for `value`'s kind (its parameters aside).
pub fn kind_of<T>(table: &'static [Kind<T>], value: &T) -> &'static Kind<T> {
    table
        .iter()
        .find(|kind| discriminant(&kind.default) == discriminant(value))
        .expect("every kind of an option has its entry in the option's table")
}

/// The kind named `name` in the format, with its default parameters.
pub fn named<T: Copy>(table: &'static [Kind<T>], name: &str) -> Option<T> {
    table
        .iter()
        .find(|kind| kind.name == name)
        .map(|kind| kind.default)
}

/// The names of `table` as an error message lists them: `"a", "b" or "c"`.
pub fn expected_names<T>(table: &'static [Kind<T>]) -> String {
    let names: Vec<String> = table
        .iter()
        .map(|kind| format!("{:?}", kind.name))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each table's names are distinct, each entry is found again by its name and by its value,
    /// and no two entries share a kind.
    fn check<T: Copy + PartialEq + std::fmt::Debug>(table: &'static [Kind<T>]) {
        for (i, kind) in table.iter().enumerate() {
            assert_eq!(named(table, kind.name), Some(kind.default));
            assert_eq!(kind_of(table, &kind.default).name, kind.name);
            for other in &table[i + 1..] {
                assert_ne!(kind.name, other.name);
                assert_ne!(discriminant(&kind.default), discriminant(&other.default));
            }
        }
    }

    #[test]
    fn every_table_is_consistent() {
        check(LOSSES);
        check(INITS);
        check(OPTIMIZERS);
        check(REGULARIZERS);
        assert_eq!(named(LOSSES, "dpo"), None);
        let listed: Vec<LossKind> = LOSSES.iter().map(|kind| kind.default).collect();
        assert_eq!(
            listed,
            LossKind::ALL,
            "LossKind::ALL lists the losses in the table's order"
        );
    }

    #[test]
    fn expected_lists_read_as_english() {
        assert_eq!(expected_names(OPTIMIZERS), r#""sgd" or "adam""#);
        assert_eq!(expected_names(LOSSES), r#""logistic", "hinge" or "ipo""#);
    }
}
