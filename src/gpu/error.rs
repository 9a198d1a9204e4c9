//! [`GpuError`]: why the GPU backend cannot train, or stopped training.

use crate::engine::InputError;
use std::fmt;

/// Why the GPU backend cannot train (or stopped training).
#[derive(Clone, Debug, PartialEq)]
pub enum GpuError {
    /// No adapter was found (no GPU, no driver, or a browser without WebGPU).
    NoAdapter(String),
    /// The adapter refused the device (for example limits it does not have).
    Device(String),
    /// The scenario needs more than the device offers (a buffer or a dispatch too large).
    TooLarge(String),
    /// A run's configuration is invalid (the same error the CPU engine gives).
    Input(InputError),
    /// The device was lost (a driver reset, a tab losing its device) or reported an error;
    /// train on from the last state read back, on the CPU.
    Lost(String),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter(why) => write!(f, "no GPU adapter: {why}"),
            GpuError::Device(why) => write!(f, "the GPU adapter refused a device: {why}"),
            GpuError::TooLarge(why) => write!(f, "the scenario is too large for the GPU: {why}"),
            GpuError::Input(error) => write!(f, "{error}"),
            GpuError::Lost(why) => write!(f, "the GPU device was lost: {why}"),
        }
    }
}

impl std::error::Error for GpuError {}
