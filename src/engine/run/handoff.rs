//! A run's training state as bytes, for handing runs from one copy of the engine to another:
//! the page's CPU module and its WebGPU module are two wasm instances with two memories, and the
//! runs cross between them as these bytes (ARCHITECTURE.md, "Two wasm modules").
//!
//! The state is what training changes: the logits, the optimiser's moments, the step count and
//! the minibatch sampler (generator, permutation, position). Everything else of a run follows
//! from its configuration and the data, which the receiving side already has (the page hands
//! over the scenario as text). Little-endian, with a version word, so that a module of another
//! build is refused rather than misread.

use super::{sampler::Sampler, Run};
use crate::engine::InputError;

/// "DPOS" and the layout's version.
const MAGIC: u32 = u32::from_le_bytes(*b"DPOS");
const VERSION: u32 = 1;

impl Run {
    /// Every run's training state, as [`Run::restore_states`] takes it.
    pub fn encode_states(runs: &[Run]) -> Vec<u8> {
        let words: usize = runs
            .iter()
            .map(|run| 8 + run.logits.len() * 4 + run.pairs.len())
            .sum();
        let mut out = Writer(Vec::with_capacity(12 + words * 4));
        out.u32(MAGIC);
        out.u32(VERSION);
        out.u32(runs.len() as u32);
        for run in runs {
            out.u64(run.steps);
            out.f32s(&run.logits);
            out.f32s(&run.first_moment);
            out.f32s(&run.second_moment);
            let (generator, order, position) = run.sampler.parts();
            out.u64(generator);
            out.u32(position as u32);
            out.u32(order.len() as u32);
            for &i in order {
                out.u32(i);
            }
        }
        out.0
    }

    /// Puts the states [`Run::encode_states`] wrote into `runs` (the same runs: the same
    /// configuration on the same data). Each run then trains on exactly as the run the state
    /// came from would have; its learning table summed over training is no longer tracked,
    /// since those steps were taken elsewhere (see [`Run::set_state`]). Nothing changes when
    /// the bytes do not fit the runs: an error names the run and what does not fit.
    pub fn restore_states(runs: &mut [Run], bytes: &[u8]) -> Result<(), InputError> {
        let mut input = Reader { bytes, at: 0 };
        if input.u32() != Some(MAGIC) || input.u32() != Some(VERSION) {
            return Err(InputError::new(
                "state",
                "is not a run state of this version of dpo-playground",
            ));
        }
        if input.u32() != Some(runs.len() as u32) {
            return Err(InputError::new(
                "state",
                format!("does not hold {} runs", runs.len()),
            ));
        }
        let mut states = Vec::with_capacity(runs.len());
        for (index, run) in runs.iter().enumerate() {
            let state = input.state(run).ok_or_else(|| {
                InputError::new(
                    format!("state.runs[{index}]"),
                    "does not fit the run's logits, optimiser or pairs",
                )
            })?;
            states.push(state);
        }
        if input.at != bytes.len() {
            return Err(InputError::new("state", "has bytes after the last run"));
        }
        for (run, state) in runs.iter_mut().zip(states) {
            run.set_state(&state.logits, &state.first, &state.second, state.steps);
            run.sampler = state.sampler;
        }
        Ok(())
    }
}

/// One run's state, read and checked against the run it is for.
struct State {
    steps: u64,
    logits: Vec<f32>,
    first: Vec<f32>,
    second: Vec<f32>,
    sampler: Sampler,
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn f32s(&mut self, values: &[f32]) {
        self.u32(values.len() as u32);
        for value in values {
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.bytes.get(self.at..self.at.checked_add(N)?)?;
        self.at += N;
        bytes.try_into().ok()
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    /// `expected` f32s behind their count.
    fn f32s(&mut self, expected: usize) -> Option<Vec<f32>> {
        if self.u32()? as usize != expected {
            return None;
        }
        (0..expected)
            .map(|_| self.take().map(f32::from_le_bytes))
            .collect()
    }
    fn state(&mut self, run: &Run) -> Option<State> {
        let steps = self.u64()?;
        let logits = self.f32s(run.logits.len())?;
        let first = self.f32s(run.first_moment.len())?;
        let second = self.f32s(run.second_moment.len())?;
        let generator = self.u64()?;
        let position = self.u32()? as usize;
        let count = self.u32()? as usize;
        if count != run.pairs.len() {
            return None;
        }
        let order = (0..count)
            .map(|_| self.u32())
            .collect::<Option<Vec<u32>>>()?;
        let sampler = Sampler::from_parts(generator, order, position, run.pairs.len())?;
        Some(State {
            steps,
            logits,
            first,
            second,
            sampler,
        })
    }
}
