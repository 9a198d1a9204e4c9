//! The set of runs: several runs trained together over the same data. This is the unit the GPU
//! backend runs in parallel and that sweeps over `gamma`, `beta` and seeds build on.

use super::config::RunConfig;
use super::error::InputError;
use super::metrics::Metrics;
use super::problem::Problem;
use super::run::Run;

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
    pub fn step(&mut self, steps: u64) {
        for run in &mut self.runs {
            for _ in 0..steps {
                run.step(&self.problem);
            }
        }
    }

    /// Every run's metrics at its current step.
    pub fn metrics(&self) -> Vec<Metrics> {
        self.runs
            .iter()
            .map(|run| run.metrics(&self.problem))
            .collect()
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

    /// Mutable access to run `index`, for a backend that writes state back.
    pub fn run_mut(&mut self, index: usize) -> Option<&mut Run> {
        self.runs.get_mut(index)
    }
}
