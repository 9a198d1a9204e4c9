//! The scenarios the playground ships: the default comparison, the six claims of SPEC section 10,
//! the argument's central case and implicit against explicit regularisation, each with a title
//! and an explanation that `tests/claims.rs` checks sentence by sentence against the data, and
//! three classroom exercises (`exercise-*`, checked by `tests/exercises.rs`). The files live in
//! `presets/` so that the command line can run them by path too.

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

/// A shipped preset: its `id` is the name of its file in `presets/`.
macro_rules! preset {
    ($id:literal) => {
        Preset {
            id: $id,
            json: include_str!(concat!("../presets/", $id, ".json")),
        }
    };
}

/// Every preset: the default first, then the claims in SPEC order (and the sweeps: gamma, luck and
/// tuning, the reward–KL frontier), then the argument's central
/// case (started at the reference with gamma much larger than beta), implicit against explicit
/// regularisation, and un-learning through shared outputs; last the classroom exercises (each
/// with an `exercise` block whose answer `tests/exercises.rs` holds to what the engine measures):
/// gamma much larger than beta, gamma = 0, and initialised at the reference.
pub const PRESETS: [Preset; 16] = [
    preset!("default"),
    preset!("reference-wrong-large-gamma"),
    preset!("gamma-zero"),
    preset!("init-at-reference"),
    preset!("reference-scale"),
    preset!("simpo"),
    preset!("learning-table"),
    preset!("gamma-sweep"),
    preset!("luck-and-tuning"),
    preset!("frontier"),
    preset!("central-case"),
    preset!("implicit-vs-explicit"),
    preset!("unlearning"),
    preset!("exercise-large-gamma"),
    preset!("exercise-gamma-zero"),
    preset!("exercise-reference-init"),
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
