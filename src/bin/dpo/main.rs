//! `dpo`: the playground's engine on the command line (SPEC section 9).

mod bench;
mod console;
mod interrupt;
mod output;

use dpo_playground::engine::{History, InputError, RunSet};
use dpo_playground::presets::{Preset, PRESETS};
use dpo_playground::scenario::budget::{self, Estimate, Limits, Usage};
use dpo_playground::scenario::{Scenario, MAX_FILE_BYTES};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const HELP: &str = "\
dpo - train DPO-style preference losses on a tabular softmax policy

USAGE:
    dpo run SCENARIO [OPTIONS]     train every run of a scenario and report
    dpo check SCENARIO [--max-memory SIZE]
                                   validate a scenario file; prints what it holds and
                                   what training it would take (memory, time)
    dpo bench [--json] [--workload NAME] [--backend B]
                                   time one training step on the standard workloads
    dpo presets                    list the shipped presets
    dpo preset NAME                print a preset's scenario file
    dpo help                       this text

SCENARIO is a path to a scenario file (SPEC section 8, at most 64 MiB), `-` for
standard input, or `preset:NAME` for a shipped preset (see `dpo presets`).

RUN OPTIONS:
    --steps N         train N steps instead of the scenario's `steps`
    --json            print one JSON object: {\"runs\": [{\"name\", \"steps\", \"metrics\",
                      \"logits\", \"policy\"}]} (SPEC section 9); without it, a table
    --csv FILE        write the metrics of every run at every recorded step as CSV,
                      row by row as they are recorded
    --every N         record metrics every N steps (N >= 1) for --csv and --plots
                      (default: about 200 records per run)
    --plots DIR       write plots to DIR: curves (loss, accuracy, KL), the policy
                      against the reference, the learning tables, each run's margins
                      (quantile bands past 256 pairs)
    --format F        plot format: svg, png or both (default svg)
    --max-memory SIZE refuse, before allocating, a scenario that would need more
                      memory than SIZE (bytes, or with K, M, G, T; default 2G)
    --quiet           no progress bar and no time estimate
    --backend B       cpu (default), gpu or auto: where to train. gpu and auto need a
                      dpo built with `--features gpu`; gpu fails without an adapter,
                      auto names the adapter it takes on stderr, or falls back to the
                      CPU with a note. The output is the same JSON either way; if the
                      GPU is lost mid-run, training continues on the CPU.

    A run diverges when a margin, a logit or an optimiser moment would stop being
    finite (a learning rate, beta, gamma or alpha far too large): on the CPU it stops
    before that step and keeps its last finite state. Its metrics say \"diverged\" and
    \"diverged_at\", stderr names it, and the exit status is 3.
    Ctrl-C stops training at the next step boundary, writes what was asked for so far
    (JSON or table, CSV, plots) and exits with status 130; a second Ctrl-C ends at once.

BENCH OPTIONS:
    --json            print {\"workloads\": [{\"name\", \"runs\", \"prompts\", \"outputs\",
                      \"pairs\", \"backend\", \"seconds_per_step\"}]} (median per step)
    --workload NAME   only classroom, sweep or vocabulary
    --backend B       cpu (default), gpu or auto; GPU rows carry an \"adapter\" field,
                      and a software adapter (llvmpipe) is marked \"(CPU-emulated)\"

EXIT STATUS:
    0    success (also when standard output is a pipe that was closed early)
    1    an output could not be written (standard output, --csv, --plots) or the GPU failed
    2    a bad scenario: unreadable, invalid (the error names the field on stderr,
         nothing is printed on stdout) or larger than --max-memory allows
    3    `dpo run`: at least one run diverged (its output is still written)
    64   a bad command line (unknown command or option, missing value)
    130  `dpo run` was interrupted (Ctrl-C); what was done so far is written

ENVIRONMENT:
    DPO_REPORT_PEAK_MEMORY=1   say on stderr, at exit, the most memory the process held
                               (Linux; what the tests hold the estimate to)";

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

fn usage(message: impl Into<String>) -> Failure {
    Failure(format!("{}\n(see `dpo help`)", message.into()), 64)
}

/// Exit status of `dpo run` when a run diverged.
const DIVERGED: u8 = 3;
/// Exit status after an interrupt (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = match dispatch(&args) {
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

/// Runs the command; `Ok` carries the exit status of a command that wrote its output.
fn dispatch(args: &[String]) -> Result<u8, Failure> {
    let Some(command) = args.first() else {
        console::println(HELP)?;
        return Ok(0);
    };
    let rest = &args[1..];
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        console::println(HELP)?;
        return Ok(0);
    }
    match command.as_str() {
        "run" => run(rest),
        "check" => check(rest).map(|()| 0),
        "bench" => bench::command(rest).map(|()| 0),
        "presets" => {
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
        "preset" => {
            let name = rest
                .first()
                .ok_or_else(|| usage("`dpo preset` needs a NAME"))?;
            let preset = Preset::find(name).ok_or_else(|| no_preset(name))?;
            console::print(preset.json)?;
            Ok(0)
        }
        "help" | "--help" | "-h" => {
            console::println(HELP)?;
            Ok(0)
        }
        // `{:?}` writes control characters as escapes itself.
        other => Err(usage(format!("unknown command {other:?}"))),
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

/// Parsed `run` options.
struct RunOptions {
    scenario: Option<String>,
    steps: Option<u64>,
    json: bool,
    csv: Option<PathBuf>,
    every: Option<u64>,
    plots: Option<PathBuf>,
    format: output::PlotFormat,
    quiet: bool,
    backend: Backend,
    limits: Limits,
}

impl RunOptions {
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

/// Where `dpo run` and `dpo bench` train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Backend {
    /// The CPU engine (the reference).
    #[default]
    Cpu,
    /// The GPU backend; an error without an adapter or without the `gpu` feature.
    Gpu,
    /// The GPU if there is an adapter, else the CPU.
    Auto,
}

impl Backend {
    /// Parses `--backend`'s value.
    fn parse(text: &str) -> Result<Backend, Failure> {
        match text {
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            "auto" => Ok(Backend::Auto),
            other => Err(usage(format!(
                "--backend must be cpu, gpu or auto, not {other:?}"
            ))),
        }
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

fn parse_run_options(args: &[String]) -> Result<RunOptions, Failure> {
    let mut options = RunOptions {
        scenario: None,
        steps: None,
        json: false,
        csv: None,
        every: None,
        plots: None,
        format: output::PlotFormat::default(),
        quiet: false,
        backend: Backend::default(),
        limits: Limits::COMMAND_LINE,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--steps" => options.steps = Some(parse_count("--steps", &value("--steps")?)?),
            "--every" => {
                let every = parse_count("--every", &value("--every")?)?;
                if every == 0 {
                    return Err(usage(
                        "--every needs a number of steps of at least 1, got 0",
                    ));
                }
                options.every = Some(every);
            }
            "--json" => options.json = true,
            "--csv" => options.csv = Some(PathBuf::from(value("--csv")?)),
            "--plots" => options.plots = Some(PathBuf::from(value("--plots")?)),
            "--format" => {
                options.format = output::PlotFormat::parse(&value("--format")?).map_err(usage)?
            }
            "--max-memory" => options.limits = parse_memory(&value("--max-memory")?)?,
            "--quiet" => options.quiet = true,
            "--backend" => options.backend = Backend::parse(&value("--backend")?)?,
            flag if flag.starts_with("--") => {
                return Err(usage(format!(
                    "unknown option {}",
                    dpo_playground::engine::escape_control(flag)
                )))
            }
            path => {
                if options.scenario.replace(path.to_string()).is_some() {
                    return Err(usage("give one SCENARIO"));
                }
            }
        }
    }
    Ok(options)
}

fn parse_count(name: &str, text: &str) -> Result<u64, Failure> {
    text.parse::<u64>()
        .map_err(|_| usage(format!("{name} needs a non-negative integer, got {text:?}")))
}

/// `--max-memory`'s value: bytes, or a number with K, M, G or T (powers of 1024).
fn parse_memory(text: &str) -> Result<Limits, Failure> {
    let trimmed = text.trim_end_matches(['B', 'b', 'i']);
    let (digits, shift) = match trimmed.char_indices().last() {
        Some((i, 'K' | 'k')) => (&trimmed[..i], 10),
        Some((i, 'M' | 'm')) => (&trimmed[..i], 20),
        Some((i, 'G' | 'g')) => (&trimmed[..i], 30),
        Some((i, 'T' | 't')) => (&trimmed[..i], 40),
        _ => (trimmed, 0),
    };
    let memory = digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| {
            usage(format!(
                "--max-memory needs a size such as 512M or 4G, got {text:?}"
            ))
        })?;
    Ok(Limits {
        memory,
        source: "--max-memory",
    })
}

/// Reads a scenario from a path, `-` (standard input) or `preset:NAME`, refusing (before its
/// data is built) one whose estimate under `usage` passes `limits`. Every failure here is a bad
/// scenario source: status 2.
fn load(
    source: &str,
    usage: impl FnOnce(&Scenario) -> Usage,
    limits: &Limits,
) -> Result<Scenario, Failure> {
    if let Some(name) = source.strip_prefix("preset:") {
        let preset = Preset::find(name).ok_or_else(|| no_preset(name))?;
        let scenario = preset.scenario()?;
        Estimate::new(&scenario, &usage(&scenario)).check(limits)?;
        return Ok(scenario);
    }
    let shown = dpo_playground::engine::escape_control(source);
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

fn check(args: &[String]) -> Result<(), Failure> {
    let mut source = None;
    let mut limits = Limits::COMMAND_LINE;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--max-memory" => {
                let value = iter
                    .next()
                    .ok_or_else(|| usage("--max-memory needs a value"))?;
                limits = parse_memory(value)?;
            }
            flag if flag.starts_with("--") => {
                return Err(usage(format!(
                    "unknown option {}",
                    dpo_playground::engine::escape_control(flag)
                )))
            }
            path => {
                if source.replace(path).is_some() {
                    return Err(usage("`dpo check` needs exactly one SCENARIO"));
                }
            }
        }
    }
    let source = source.ok_or_else(|| usage("`dpo check` needs exactly one SCENARIO"))?;
    // What `dpo run` would need with its defaults: the runs, one metrics record, no history.
    let check_usage = |scenario: &Scenario| Usage {
        steps: scenario.steps,
        metric_records: 1,
        ..Usage::default()
    };
    let scenario = load(source, check_usage, &limits)?;
    let estimate = Estimate::new(&scenario, &check_usage(&scenario));
    console::println(&format!(
        "{}: ok: {} prompt(s), {} outputs, {} pairs, {} runs, {} steps; {}",
        dpo_playground::engine::escape_control(source),
        estimate.prompts,
        estimate.outputs,
        estimate.pairs,
        estimate.runs,
        scenario.steps,
        estimate.summary()
    ))
}

/// What `dpo run` with `options` keeps and computes for `scenario`: the estimate's usage.
fn run_usage(options: &RunOptions, scenario: &Scenario) -> Usage {
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
    }
}

/// Records kept in memory per run for the plots; older ones are thinned (the CSV has them all).
const PLOT_RECORDS: usize = 4096;

/// Seconds of training between two looks at the clock, the progress bar and Ctrl-C.
const CHUNK_SECONDS: f64 = 0.1;

fn run(args: &[String]) -> Result<u8, Failure> {
    let options = parse_run_options(args)?;
    let source = options
        .scenario
        .as_deref()
        .ok_or_else(|| usage("`dpo run` needs a SCENARIO"))?;
    let scenario = load(source, |s| run_usage(&options, s), &options.limits)?;
    let (steps, every) = options.steps_and_every(&scenario);
    let wants_history = options.wants_history();
    let estimate = Estimate::new(&scenario, &run_usage(&options, &scenario));
    // Outputs are opened before training, so a bad path fails now, not after hours.
    let mut csv = match &options.csv {
        Some(path) => Some(output::CsvFile::create(path)?),
        None => None,
    };
    if let Some(dir) = &options.plots {
        output::prepare_plot_dir(dir)?;
    }
    let mut set = scenario.run_set()?;
    let mut trainer = Trainer::new(&set, options.backend)?;
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
