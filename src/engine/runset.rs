//! The set of runs: several runs trained together over the same data. This is the unit the GPU
//! backend runs in parallel and that sweeps over `gamma`, `beta` and seeds build on.

use super::config::RunConfig;
use super::error::InputError;
use super::metrics::Metrics;
use super::problem::Problem;
use super::run::Run;
use serde::Serialize;

/// Why a run restarted from step 0 when a [`RunSet::apply`] changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "setting")]
pub enum Restart {
    /// The run is new (the set had fewer runs).
    NewRun,
    /// The data changed shape (another number of prompts or outputs): every run restarts.
    NewShape,
    /// A setting the run's state cannot survive changed (its name in the format: `init`,
    /// `optimizer`, `seed`, `regularizer`, `length_normalize`).
    Setting(&'static str),
}

/// What [`RunSet::apply`] did to each run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Runs that kept their training state (their settings may have changed).
    pub kept: Vec<usize>,
    /// Runs that restarted from step 0, each with its reason, in run order.
    pub restarted: Vec<(usize, Restart)>,
    /// Runs removed from the end of the set (their former indices).
    pub removed: Vec<usize>,
    /// Whether the data changed (new pairs, reference, prompts or outputs): the runs' metrics
    /// and margins now describe other pairs, so a history of them starts over.
    pub new_data: bool,
}

impl Applied {
    /// The runs that restarted, without their reasons.
    pub fn restarted_runs(&self) -> Vec<usize> {
        self.restarted.iter().map(|&(run, _)| run).collect()
    }

    /// Whether the data changed shape, which restarts every run.
    pub fn reshaped(&self) -> bool {
        self.restarted
            .iter()
            .any(|&(_, reason)| reason == Restart::NewShape)
    }
}

/// Shared data and the runs that train on it.
#[derive(Clone, Debug)]
pub struct RunSet {
    problem: Problem,
    runs: Vec<Run>,
}

impl RunSet {
    /// Every run of `configs` at step 0 on `problem`; errors carry the path `runs[i]...`.
    pub fn new(problem: Problem, configs: Vec<RunConfig>) -> Result<RunSet, InputError> {
        let runs = configs
            .into_iter()
            .enumerate()
            .map(|(i, config)| {
                Run::new(config, &problem).map_err(|e| e.within(&format!("runs[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RunSet { problem, runs })
    }

    /// The shared data.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The runs, in order.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Trains every run for `steps` steps.
    ///
    /// Natively, a set whose work is large enough is trained on every core (rayon), a run per
    /// task: runs share nothing but the read-only problem, and each run's arithmetic is the same
    /// sequence on any thread, so the result is bit for bit the same whatever the thread count
    /// (`tests/threads.rs`). In the browser there is one thread.
    pub fn step(&mut self, steps: u64) {
        let problem = &self.problem;
        let train = |run: &mut Run| {
            for _ in 0..steps {
                run.step(problem);
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        if self.worth_threads(steps) {
            use rayon::prelude::*;
            self.runs.par_iter_mut().for_each(train);
            return;
        }
        self.runs.iter_mut().for_each(train);
    }

    /// Every run's metrics at its current step (on every core natively, as [`RunSet::step`]).
    pub fn metrics(&self) -> Vec<Metrics> {
        let measure = |run: &Run| run.metrics(&self.problem);
        #[cfg(not(target_arch = "wasm32"))]
        if self.worth_threads(1) {
            use rayon::prelude::*;
            return self.runs.par_iter().map(measure).collect();
        }
        self.runs.iter().map(measure).collect()
    }

    /// Whether `steps` steps of this set are worth handing to other threads: more than one run,
    /// and enough work that a task's start (a few microseconds) is small beside it. The work is
    /// counted as each step's pairs and logits, an upper bound of what one step touches.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn worth_threads(&self, steps: u64) -> bool {
        /// About 50 µs of stepping: below that a thread pool's hand-off costs more than it saves.
        const MIN_WORK: u64 = 100_000;
        let per_step = (self.problem.pairs().len()
            + self.problem.prompt_count() * self.problem.output_count())
            as u64;
        // The work first: asking rayon for its thread count starts its pool, which a small set
        // (the page's presets, most tests) never needs.
        self.runs.len() > 1
            && per_step
                .saturating_mul(self.runs.len() as u64)
                .saturating_mul(steps)
                >= MIN_WORK
            && rayon::current_num_threads() > 1
    }

    /// Every run back to step 0.
    pub fn reset(&mut self) {
        for run in &mut self.runs {
            run.reset(&self.problem);
        }
    }

    /// Adds a run at step 0.
    pub fn push(&mut self, config: RunConfig) -> Result<(), InputError> {
        let index = self.runs.len();
        let run =
            Run::new(config, &self.problem).map_err(|e| e.within(&format!("runs[{index}]")))?;
        self.runs.push(run);
        Ok(())
    }

    /// Removes run `index` (if it exists).
    pub fn remove(&mut self, index: usize) {
        if index < self.runs.len() {
            self.runs.remove(index);
        }
    }

    /// Replaces run `index`'s configuration; returns whether the run had to reset.
    pub fn set_config(&mut self, index: usize, config: RunConfig) -> Result<bool, InputError> {
        let path = format!("runs[{index}]");
        let run = self
            .runs
            .get_mut(index)
            .ok_or_else(|| InputError::new(&path, "no such run"))?;
        run.set_config(config, &self.problem)
            .map_err(|e| e.within(&path))
    }

    /// Replaces the shared data. With the same prompts and outputs count the runs keep training
    /// from where they are; otherwise they reset. Returns whether they reset.
    pub fn set_problem(&mut self, problem: Problem) -> bool {
        let same_shape = problem.prompt_count() == self.problem.prompt_count()
            && problem.output_count() == self.problem.output_count();
        self.problem = problem;
        for run in &mut self.runs {
            run.set_problem(&self.problem, same_shape);
        }
        !same_shape
    }

    /// Applies an edited scenario's data and runs at once, keeping each run's training state
    /// where the change allows (see [`Run::restart_reason`]): `problem` is the new data, or `None`
    /// when the data did not change; `configs` are the runs, in order. Runs past the end of
    /// `configs` are removed, new ones start at step 0. Every configuration is checked first, so
    /// an error (with the path `runs[i]...`) leaves the set as it was.
    pub fn apply(
        &mut self,
        problem: Option<Problem>,
        configs: &[RunConfig],
    ) -> Result<Applied, InputError> {
        for (i, config) in configs.iter().enumerate() {
            config
                .validate()
                .map_err(|e| e.within(&format!("runs[{i}]")))?;
        }
        let mut applied = Applied {
            new_data: problem.is_some(),
            removed: (configs.len()..self.runs.len()).collect(),
            ..Applied::default()
        };
        let reshaped = match problem {
            Some(problem) => self.set_problem(problem),
            None => false,
        };
        self.runs.truncate(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let restart = match self.runs.get_mut(i) {
                Some(_) if reshaped => {
                    self.runs[i].set_config(config.clone(), &self.problem)?;
                    self.runs[i].reset(&self.problem);
                    Some(Restart::NewShape)
                }
                Some(run) if run.config() == config => None,
                Some(run) => {
                    let reason = run.restart_reason(config);
                    run.set_config(config.clone(), &self.problem)?;
                    reason.map(Restart::Setting)
                }
                None => {
                    self.runs.push(Run::new(config.clone(), &self.problem)?);
                    Some(Restart::NewRun)
                }
            };
            match restart {
                Some(reason) => applied.restarted.push((i, reason)),
                None => applied.kept.push(i),
            }
        }
        Ok(applied)
    }

    /// Mutable access to run `index`, for a backend that writes state back.
    pub fn run_mut(&mut self, index: usize) -> Option<&mut Run> {
        self.runs.get_mut(index)
    }

    /// Puts the training state another backend read back ([`Run::encode_states`] of these runs)
    /// into every run; nothing changes when it does not fit them ([`Run::restore_states`]).
    pub fn restore_states(&mut self, bytes: &[u8]) -> Result<(), InputError> {
        Run::restore_states(&mut self.runs, bytes)
    }
}
