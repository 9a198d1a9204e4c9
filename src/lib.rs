//! dpo-playground: see how DPO-style preference losses learn.
//!
//! The [`engine`] trains tabular softmax policies on preference pairs against a reference
//! distribution; [`scenario`] reads and writes the one JSON format that the command line, the
//! presets, the URL and the page share; [`presets`] holds the claims the playground ships.
//! [`plot`] draws the charts with `plotters` on any backend (SVG and PNG natively); [`csv`]
//! writes the recorded metrics.
#![warn(missing_docs)]

pub mod csv;
pub mod engine;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod plot;
pub mod presets;
pub mod scenario;

/// The page's module. Built with feature `gpu`, the wasm32 crate is the page's WebGPU module
/// instead, which exports only [`gpu::page::GpuTrainer`] (ARCHITECTURE.md, "Two wasm modules").
#[cfg(all(target_arch = "wasm32", not(feature = "gpu")))]
pub mod web;
