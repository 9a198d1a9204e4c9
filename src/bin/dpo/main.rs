//! `dpo`: the playground's engine on the command line (SPEC section 9).

mod bench;
mod cli;
mod console;
mod interrupt;
mod link;
mod output;
mod sweep;

use clap::{CommandFactory, Parser};
use cli::{Backend, Cli, Command, RunArgs};
use dpo_playground::engine::sweep::Validation;
use dpo_playground::engine::{escape_control, History, InputError, RunSet};
use dpo_playground::presets::{Preset, PRESETS};
use dpo_playground::scenario::budget::{self, Estimate, Limits, Usage};
use dpo_playground::scenario::{Scenario, MAX_FILE_BYTES};
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::time::Instant;

/// A command-line error: the message and the exit status. An empty message prints nothing.
pub struct Failure(String, u8);

impl Failure {
    /// Standard output was a pipe that its reader closed: stop quietly, with success.
    fn closed_pipe() -> Failure {
        Failure(String::new(), 0)
    }
}

impl From<InputError> for Failure {
    fn from(error: InputError) -> Self {
        Failure(error.to_string(), 2)
    }
}

/// Exit status of `dpo run` when a run diverged.
const DIVERGED: u8 = 3;
/// Exit status after an interrupt (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// Exit status of a bad command line (BSD's `EX_USAGE`).
const USAGE: u8 = 64;

fn main() -> ExitCode {
    let status = match Cli::try_parse() {
        Ok(cli) => dispatch(cli),
        Err(error) => parse_failure(&error),
    };
    let status = match status {
        Ok(status) => status,
        Err(Failure(message, code)) => {
            if !message.is_empty() {
                console::note(&format!("dpo: {message}"));
            }
            code
        }
    };
    report_peak_memory();
    ExitCode::from(status)
}

/// With `DPO_REPORT_PEAK_MEMORY` set, says on stderr how much memory this process held at most
/// (`dpo: peak memory N bytes`, Linux's VmHWM): what the tests compare with the estimate. Read
/// here rather than from `wait4` by the parent, whose figure includes the parent's own memory
/// at the moment it spawned the child.
fn report_peak_memory() {
    if std::env::var_os("DPO_REPORT_PEAK_MEMORY").is_none() {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
    match peak {
        Some(kib) => console::note(&format!("dpo: peak memory {} bytes", kib * 1024)),
        None => console::note("dpo: peak memory unknown (no /proc/self/status)"),
    }
}

/// A command line clap could not parse, or a request for help or the version: the help and
/// the version are printed like any other output (status 0, or 1 if standard output is full);
/// an error goes to stderr with clap's own words (and its suggestion for a misspelt flag),
/// status 64.
fn parse_failure(error: &clap::Error) -> Result<u8, Failure> {
    use clap::error::ErrorKind;
    let text = error.render().ansi().to_string();
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            console::print(&text)?;
            Ok(0)
        }
        // clap quotes the arguments as given: their control characters are escaped, line by
        // line, so that an argument cannot move the cursor or clear the screen.
        _ => Err(Failure(
            text.trim_end()
                .trim_start_matches("error: ")
                .lines()
                .map(escape_control)
                .collect::<Vec<_>>()
                .join("\n"),
            USAGE,
        )),
    }
}

/// Runs the command; `Ok` carries the exit status of a command that wrote its output.
fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let Some(command) = cli.command else {
        let help = Cli::command().render_long_help().to_string();
        console::print(&help)?;
        return Ok(0);
    };
    match command {
        Command::Run(args) => run(&args),
        Command::Check { scenario, memory } => check(&scenario, &memory.limits()).map(|()| 0),
        Command::Bench(args) => bench::command(&args).map(|()| 0),
        Command::Sweep(args) => sweep::command(&args),
        Command::Presets => {
            let mut text = String::new();
            for preset in PRESETS {
                let title = preset
                    .scenario()
                    .map(|s| s.title.unwrap_or_default())
                    .unwrap_or_default();
                text += &format!("{:<30} {title}\n", preset.id);
            }
            console::print(&text)?;
            Ok(0)
        }
        Command::Preset { name } => {
            let preset = Preset::find(&name).ok_or_else(|| no_preset(&name))?;
            console::print(preset.json)?;
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "dpo", &mut script);
            console::print(&String::from_utf8_lossy(&script))?;
            Ok(0)
        }
    }
}

/// A preset name that is not one: a bad scenario source, status 2 like a missing file.
fn no_preset(name: &str) -> Failure {
    let known: Vec<&str> = PRESETS.iter().map(|p| p.id).collect();
    Failure(
        format!("no preset named {name:?} (presets: {})", known.join(", ")),
        2,
    )
}

impl RunArgs {
    /// Steps to train, and the steps between two records (about 200 records by default).
    fn steps_and_every(&self, scenario: &Scenario) -> (u64, u64) {
        let steps = self.steps.unwrap_or(scenario.steps);
        (steps, self.every.unwrap_or((steps / 200).max(1)))
    }

    /// Whether metrics are recorded during training (for the CSV or the plots).
    fn wants_history(&self) -> bool {
        self.csv.is_some() || self.plots.is_some()
    }
}

/// Without the `gpu` feature: `gpu` is an error, `auto` the CPU with a note.
#[cfg(not(feature = "gpu"))]
fn no_gpu_build(backend: Backend) -> Result<(), Failure> {
    match backend {
        Backend::Cpu => Ok(()),
        Backend::Gpu => Err(Failure(
            "--backend gpu: this dpo was built without the GPU backend; rebuild it with \
             `cargo build --release --features gpu`"
                .into(),
            2,
        )),
        Backend::Auto => {
            console::note("dpo: this dpo was built without the GPU backend; training on the CPU");
            Ok(())
        }
    }
}

/// The GPU run set for `set`'s runs, or `None` for the CPU (`--backend cpu`, or `auto` without
/// a usable adapter, said on stderr). `--backend gpu` without one is an error.
#[cfg(feature = "gpu")]
fn open_gpu(
    set: &RunSet,
    backend: Backend,
) -> Result<Option<dpo_playground::gpu::GpuRunSet>, Failure> {
    if backend == Backend::Cpu {
        return Ok(None);
    }
    let configs: Vec<_> = set.runs().iter().map(|run| run.config().clone()).collect();
    match pollster::block_on(dpo_playground::gpu::GpuRunSet::new(set.problem(), &configs)) {
        Ok(gpu) => {
            if backend == Backend::Auto {
                console::note(&format!("dpo: training on the GPU: {}", gpu.adapter_name()));
            }
            Ok(Some(gpu))
        }
        Err(error) if backend == Backend::Auto => {
            console::note(&format!(
                "dpo: no usable GPU ({error}); training on the CPU"
            ));
            Ok(None)
        }
        Err(error) => Err(Failure(format!("--backend gpu: {error}"), 1)),
    }
}

/// Trains a run set on the CPU engine or, when opened, on the GPU; the GPU's state is read back
/// into the run set whenever it is asked for, so output, CSV and plots never know the difference.
struct Trainer {
    #[cfg(feature = "gpu")]
    gpu: Option<dpo_playground::gpu::GpuRunSet>,
}

impl Trainer {
    fn new(set: &RunSet, backend: Backend) -> Result<Trainer, Failure> {
        #[cfg(feature = "gpu")]
        return Ok(Trainer {
            gpu: open_gpu(set, backend)?,
        });
        #[cfg(not(feature = "gpu"))]
        {
            let _ = set;
            no_gpu_build(backend)?;
            Ok(Trainer {})
        }
    }

    /// Whether the GPU trains.
    fn on_gpu(&self) -> bool {
        #[cfg(feature = "gpu")]
        return self.gpu.is_some();
        #[cfg(not(feature = "gpu"))]
        false
    }

    /// Trains `steps` more steps (submitted, not awaited, on the GPU).
    fn step(&mut self, set: &mut RunSet, steps: u64) {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &mut self.gpu {
            let mut left = steps;
            while left > 0 {
                let n = left.min(u32::MAX as u64);
                gpu.step(n as u32);
                left -= n;
            }
            return;
        }
        set.step(steps);
    }

    /// Records every run's metrics and margins in `history`. On the GPU the metric kernels compute
    /// them and only they are read back (the state stays on the device); if the device was lost,
    /// the runs continue on the CPU as in [`Trainer::sync`], from the state last read back, which
    /// is the initial one when only metrics were read (the CPU then retrains every step, with a
    /// note on stderr: slower, same result).
    fn record(&mut self, set: &mut RunSet, history: &mut History) {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &mut self.gpu {
            match pollster::block_on(gpu.read_metrics(history.record_margins)) {
                Ok(read) => {
                    let margins = read.margins.unwrap_or_default();
                    history.push(read.metrics, margins);
                    return;
                }
                Err(_) => self.sync(set),
            }
        }
        history.record(set);
    }

    /// Brings `set` up to date with the GPU's state. If the device was lost, the runs continue on
    /// the CPU from the state last read back, retraining the steps since then (with a note).
    fn sync(&mut self, set: &mut RunSet) {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = &mut self.gpu {
            match pollster::block_on(gpu.read_runs()) {
                Ok(runs) => {
                    for (i, run) in runs.into_iter().enumerate() {
                        if let Some(slot) = set.run_mut(i) {
                            *slot = run;
                        }
                    }
                }
                Err(error) => {
                    let behind = gpu.steps() - set.runs().first().map_or(0, |run| run.steps());
                    console::note(&format!(
                        "dpo: {error}; continuing on the CPU ({behind} steps to redo)"
                    ));
                    self.gpu = None;
                    set.step(behind);
                }
            }
        }
        let _ = set;
    }
}

/// Reads a scenario from a path, `-` (standard input) or `preset:NAME`, refusing (before its
/// data is built) one whose estimate under `usage` passes `limits`. Every failure here is a bad
/// scenario source: status 2.
pub(crate) fn load(
    source: &str,
    usage: impl FnOnce(&Scenario) -> Usage,
    limits: &Limits,
) -> Result<Scenario, Failure> {
    let shown = escape_control(source);
    let preset = if let Some(name) = source.strip_prefix("preset:") {
        Some(Preset::find(name).ok_or_else(|| no_preset(name))?)
    } else if link::is_link(source) {
        match link::read(source) {
            Ok(link::Linked::Preset(preset)) => Some(preset),
            Ok(link::Linked::Text(text)) => {
                return Scenario::from_json_within(&text, usage, limits)
                    .map_err(|e| Failure(format!("{shown}: {e}"), 2))
            }
            Err(reason) => {
                return Err(Failure(
                    format!("{shown}: the link could not be read: {reason}"),
                    2,
                ))
            }
        }
    } else {
        None
    };
    if let Some(preset) = preset {
        let scenario = preset.scenario()?;
        Estimate::new(&scenario, &usage(&scenario)).check(limits)?;
        return Ok(scenario);
    }
    let too_large = || {
        Failure(
            format!(
                "{shown}: the file is larger than the {} a scenario may have",
                budget::bytes(MAX_FILE_BYTES)
            ),
            2,
        )
    };
    let mut bytes = Vec::new();
    if source == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure(format!("cannot read standard input: {e}"), 2))?;
    } else {
        let file = std::fs::File::open(source)
            .map_err(|e| Failure(format!("cannot read {shown}: {e}"), 2))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(Failure(format!("cannot read {shown}: it is a folder"), 2));
        }
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure(format!("cannot read {shown}: {e}"), 2))?;
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Failure(
            format!(
                "{shown}: not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            2,
        )
    })?;
    Scenario::from_json_within(&text, usage, limits)
        .map_err(|e| Failure(format!("{shown}: {e}"), 2))
}

/// What `dpo check` says of the held-out pairs: how many, chosen how, and how many pairs train.
fn held_out_summary(scenario: &Scenario) -> Result<Option<String>, InputError> {
    let (train, held) = scenario.problems()?;
    let Some(held) = held else {
        return Ok(None);
    };
    let how = match scenario.validation {
        Some(Validation::Split { fraction, seed }) => {
            format!("a share of {fraction} of the pairs, drawn with seed {seed}")
        }
        Some(Validation::Fresh { count, seed }) => {
            format!("{count} per prompt drawn fresh from the reward, seed {seed}")
        }
        None => "marked \"split\": \"validation\"".to_string(),
    };
    let pairs = |n: usize| format!("{n} pair{}", if n == 1 { "" } else { "s" });
    Ok(Some(format!(
        "validation: {} held out ({how}); {} train",
        pairs(held.pairs().len()),
        pairs(train.pairs().len())
    )))
}

fn check(source: &str, limits: &Limits) -> Result<(), Failure> {
    // What `dpo run` would need with its defaults: the runs, one metrics record, no history.
    let check_usage = |scenario: &Scenario| Usage {
        steps: scenario.steps,
        metric_records: 1,
        ..Usage::default()
    };
    let scenario = load(source, check_usage, limits)?;
    let estimate = Estimate::new(&scenario, &check_usage(&scenario));
    console::println(&format!(
        "{}: ok: {} prompt(s), {} outputs, {} pairs, {} runs, {} steps; {}",
        escape_control(source),
        estimate.prompts,
        estimate.outputs,
        estimate.pairs,
        estimate.runs,
        scenario.steps,
        estimate.summary()
    ))?;
    if let Some(line) = held_out_summary(&scenario).map_err(|e| Failure(e.to_string(), 2))? {
        console::println(&line)?;
    }
    if let Some(sweep) = &scenario.sweep {
        // What `dpo sweep` would need: every run of the grid, a checkpoint every few steps.
        let sweep_usage = Usage {
            sweep: true,
            metric_records: 52,
            ..check_usage(&scenario)
        };
        let estimate = Estimate::new(&scenario, &sweep_usage);
        console::println(&format!(
            "sweep: {} runs x {} points x {} replicates = {} runs; {}",
            scenario.runs.len(),
            sweep.points(),
            sweep.replicates,
            estimate.runs,
            estimate.summary()
        ))?;
        estimate.check(limits)?;
    }
    Ok(())
}

/// What `dpo run` with `options` keeps and computes for `scenario`: the estimate's usage.
fn run_usage(options: &RunArgs, scenario: &Scenario) -> Usage {
    let (steps, every) = options.steps_and_every(scenario);
    let records = if options.wants_history() {
        steps / every + 2
    } else {
        1
    };
    let plots = options.plots.is_some();
    Usage {
        steps,
        // The CSV is streamed; only the plots keep records (thinned past PLOT_RECORDS).
        records: if plots {
            records.min(PLOT_RECORDS as u64)
        } else {
            0
        },
        margins: plots,
        plots,
        metric_records: records,
        sweep: false,
    }
}

/// Records kept in memory per run for the plots; older ones are thinned (the CSV has them all).
const PLOT_RECORDS: usize = 4096;

/// Seconds of training between two looks at the clock, the progress bar and Ctrl-C.
const CHUNK_SECONDS: f64 = 0.1;

fn run(options: &RunArgs) -> Result<u8, Failure> {
    let limits = options.memory.limits();
    let scenario = load(&options.scenario, |s| run_usage(options, s), &limits)?;
    let (steps, every) = options.steps_and_every(&scenario);
    let wants_history = options.wants_history();
    let estimate = Estimate::new(&scenario, &run_usage(options, &scenario));
    // Outputs are opened before training, so a bad path fails now, not after hours.
    let mut csv = match &options.csv {
        Some(path) => Some(output::CsvFile::create(path)?),
        None => None,
    };
    if let Some(dir) = &options.plots {
        output::prepare_plot_dir(dir)?;
    }
    let mut set = scenario.run_set()?;
    let mut trainer = Trainer::new(&set, options.backend.backend)?;
    // Only the plots read the history back; for the CSV (streamed) it holds the latest record.
    let mut history = if options.plots.is_some() {
        History::new(set.runs().len(), PLOT_RECORDS)
    } else {
        History::without_margins(set.runs().len(), 2)
    };
    let terminal = !options.quiet && std::io::stderr().is_terminal();
    if !options.quiet && estimate.seconds > 10.0 {
        console::note(&format!(
            "dpo: {}; Ctrl-C stops early and writes what is done",
            estimate.summary()
        ));
    }
    interrupt::install();
    let started = Instant::now();
    // Steps per chunk: about CHUNK_SECONDS each, so that Ctrl-C and the progress bar respond.
    let chunk = ((CHUNK_SECONDS / estimate.seconds_per_step.max(1e-9)) as u64).clamp(1, 1 << 30);
    let mut record = |set: &mut RunSet, trainer: &mut Trainer, history: &mut History| {
        if !wants_history {
            return Ok(());
        }
        trainer.record(set, history);
        match &mut csv {
            Some(file) => file.rows(set, history),
            None => Ok(()),
        }
    };
    record(&mut set, &mut trainer, &mut history)?;
    let mut done = 0;
    let mut interrupted = false;
    while done < steps {
        let next_record = if wants_history {
            (done / every + 1) * every
        } else {
            steps
        };
        let n = chunk.min(next_record - done).min(steps - done);
        trainer.step(&mut set, n);
        done += n;
        if wants_history && (done % every == 0 || done == steps) {
            record(&mut set, &mut trainer, &mut history)?;
        }
        if terminal && started.elapsed().as_secs_f64() > 2.0 {
            let filled = (40 * done / steps.max(1)) as usize;
            console::progress(&format!(
                "\r[{}{}] {done}/{steps} steps",
                "#".repeat(filled),
                " ".repeat(40 - filled)
            ));
        }
        if interrupt::requested() {
            interrupted = true;
            if wants_history && done % every != 0 {
                record(&mut set, &mut trainer, &mut history)?;
            }
            break;
        }
    }
    trainer.sync(&mut set);
    if terminal && started.elapsed().as_secs_f64() > 2.0 {
        console::progress("\n");
    }
    if interrupted {
        console::note(&format!(
            "dpo: interrupted at step {done} of {steps}; writing what was asked for"
        ));
    }
    if let Some(file) = csv.take() {
        file.finish()?;
    }
    if let Some(dir) = &options.plots {
        let written = output::write_plots(dir, options.format, &set, &history)?;
        if !options.json {
            for path in written {
                console::note(&format!("wrote {}", path.display()));
            }
        }
    }
    let text = if options.json {
        serde_json::to_string(&output::report(&set))
            .map_err(|e| Failure(format!("cannot write the report: {e}"), 1))?
    } else {
        output::table(&set)
    };
    console::println(&text)?;
    let diverged = output::diverged_runs(&set);
    for line in &diverged {
        console::note(&format!("dpo: {line}"));
    }
    Ok(if interrupted {
        INTERRUPTED
    } else if !diverged.is_empty() {
        DIVERGED
    } else {
        0
    })
}
