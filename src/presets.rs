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
    /// The scenario's title, as its file gives it (a test holds the two together): the page's
    /// module lists the presets by title without carrying their text, which the page fetches
    /// from `www/pkg/presets/` when it loads one.
    pub title: &'static str,
    /// The scenario file's text.
    pub json: &'static str,
}

/// A shipped preset: its `id` is the name of its file in `presets/`, its title the file's.
macro_rules! preset {
    ($id:literal, $title:literal) => {
        Preset {
            id: $id,
            title: $title,
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
    preset!("default", "DPO vs hinge vs gamma = 0"),
    preset!(
        "reference-wrong-large-gamma",
        "Reference wrong, large gamma"
    ),
    preset!("gamma-zero", "gamma = 0 learns where the policy is wrong"),
    preset!(
        "init-at-reference",
        "Initialised at the reference, gamma = beta"
    ),
    preset!("reference-scale", "The scale of the reference"),
    preset!(
        "simpo",
        "SimPO: gamma = 0, a margin, and length normalisation"
    ),
    preset!("learning-table", "The learning table"),
    preset!(
        "gamma-sweep",
        "gamma sweep: where the learning signal goes as gamma grows"
    ),
    preset!(
        "luck-and-tuning",
        "Luck and tuning: one DPO setting over 32 seeds"
    ),
    preset!("frontier", "Frontier: true reward against KL, over beta"),
    preset!(
        "central-case",
        "The central case: start at the reference, gamma much larger than beta"
    ),
    preset!(
        "implicit-vs-explicit",
        "Does gamma keep the policy close to the reference?"
    ),
    preset!("unlearning", "Un-learning through shared outputs"),
    preset!("exercise-large-gamma", "Exercise: γ much larger than β"),
    preset!(
        "exercise-gamma-zero",
        "Exercise: γ = 0, the hinge against the logistic loss"
    ),
    preset!(
        "exercise-reference-init",
        "Exercise: initialised at the reference, γ = β"
    ),
];

/// Every preset's id and title, in [`PRESETS`]' order, without the texts: what the page's module
/// carries (a reference to [`PRESETS`] itself would link every preset's text into it).
pub const PRESET_TITLES: [(&str, &str); PRESETS.len()] = {
    let mut titles = [("", ""); PRESETS.len()];
    let mut i = 0;
    while i < PRESETS.len() {
        titles[i] = (PRESETS[i].id, PRESETS[i].title);
        i += 1;
    }
    titles
};

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
