//! The training engine: pure Rust, no web or GPU imports (see ARCHITECTURE.md's invariants).
//!
//! A [`Problem`] holds the data every run shares (prompts, outputs, the reference, the pairs); a
//! [`Run`] holds one configuration's logits and optimiser state; a [`RunSet`] trains several runs
//! over one problem.

pub mod claims;
pub mod config;
pub mod error;
pub mod exercise;
pub mod history;
pub mod loss;
pub mod metrics;
pub mod numerics;
pub mod options;
pub mod order;
pub mod predict;
pub mod problem;
pub mod rng;
pub mod run;
pub mod runset;
pub mod sweep;

pub use claims::{check_claims, ClaimCheck, Verdict};
pub use config::{Init, Optimizer, Regularizer, RunConfig};
pub use error::{escape_control, InputError};
pub use exercise::{
    check_answers, mark, measured_cells, Cells, Compare, CompareMetric, Exercise, Marking,
    Mismatch, PredictRun, StudentPrediction, LEARNS_SHARE,
};
pub use history::History;
pub use loss::LossKind;
pub use metrics::{LearningCell, LearningTable, Metrics, RANKING_MAX_OUTPUTS, SCALAR_METRICS};
pub use predict::{predicted_table, PredictedTable, Prediction};
pub use problem::{Generation, Output, Pair, PairSampling, Problem};
pub use run::Run;
pub use runset::{Applied, Restart, RunSet};
