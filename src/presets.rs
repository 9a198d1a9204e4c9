//! The scenarios the playground ships: the default comparison, the six claims of SPEC section 10,
//! the argument's central case and implicit against explicit regularisation, each with a title
//! and an explanation that `tests/claims.rs` checks sentence by sentence against the data. The
//! files live in `presets/` so that the command line can run them by path too.

use crate::engine::InputError;
use crate::scenario::Scenario;

/// A shipped scenario.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// Short identifier, used in URLs and on the command line (`dpo run preset:simpo`).
    pub id: &'static str,
    /// The scenario file's text.
    pub json: &'static str,
}

/// Every preset: the default first, then the claims in SPEC order, then the argument's central
/// case (started at the reference with gamma much larger than beta) and implicit against explicit
/// regularisation.
pub const PRESETS: [Preset; 9] = [
    Preset {
        id: "default",
        json: include_str!("../presets/default.json"),
    },
    Preset {
        id: "reference-wrong-large-gamma",
        json: include_str!("../presets/reference-wrong-large-gamma.json"),
    },
    Preset {
        id: "gamma-zero",
        json: include_str!("../presets/gamma-zero.json"),
    },
    Preset {
        id: "init-at-reference",
        json: include_str!("../presets/init-at-reference.json"),
    },
    Preset {
        id: "reference-scale",
        json: include_str!("../presets/reference-scale.json"),
    },
    Preset {
        id: "simpo",
        json: include_str!("../presets/simpo.json"),
    },
    Preset {
        id: "learning-table",
        json: include_str!("../presets/learning-table.json"),
    },
    Preset {
        id: "central-case",
        json: include_str!("../presets/central-case.json"),
    },
    Preset {
        id: "implicit-vs-explicit",
        json: include_str!("../presets/implicit-vs-explicit.json"),
    },
];

impl Preset {
    /// The preset with identifier `id`.
    pub fn find(id: &str) -> Option<Preset> {
        PRESETS.into_iter().find(|preset| preset.id == id)
    }

    /// The parsed scenario (every shipped preset is valid; a test reads each one).
    pub fn scenario(&self) -> Result<Scenario, InputError> {
        Scenario::from_json(self.json)
    }
}
