//! `dpo`: the playground's engine on the command line (SPEC section 9).

mod bench;
mod output;

use dpo_playground::engine::{History, InputError, RunSet};
use dpo_playground::presets::{Preset, PRESETS};
use dpo_playground::scenario::Scenario;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
dpo - train DPO-style preference losses on a tabular softmax policy

USAGE:
    dpo run SCENARIO [OPTIONS]     train every run of a scenario and report
    dpo check SCENARIO             validate a scenario file; prints what it holds
    dpo bench [--json] [--workload NAME] [--backend B]
                                   time one training step on the standard workloads
    dpo presets                    list the shipped presets
    dpo preset NAME                print a preset's scenario file
    dpo help                       this text

SCENARIO is a path to a scenario file (SPEC section 8), `-` for standard input,
or `preset:NAME` for a shipped preset (see `dpo presets`).

RUN OPTIONS:
    --steps N         train N steps instead of the scenario's `steps`
    --json            print one JSON object: {\"runs\": [{\"name\", \"steps\", \"metrics\",
                      \"logits\", \"policy\"}]} (SPEC section 9); without it, a table
    --csv FILE        write the metrics of every run at every recorded step as CSV
    --every N         record metrics every N steps for --csv and --plots
                      (default: about 200 records per run)
    --plots DIR       write plots to DIR: curves (loss, accuracy, KL), the policy
                      against the reference, the learning tables, each run's margins
    --format F        plot format: svg, png or both (default svg)
    --quiet           no progress bar
    --backend B       cpu (default), gpu or auto: where to train. gpu and auto need a
                      dpo built with `--features gpu`; gpu fails without an adapter,
                      auto names the adapter it takes on stderr, or falls back to the
                      CPU with a note. The output is the same JSON either way; if the
                      GPU is lost mid-run, training continues on the CPU.

BENCH OPTIONS:
    --json            print {\"workloads\": [{\"name\", \"runs\", \"prompts\", \"outputs\",
                      \"pairs\", \"backend\", \"seconds_per_step\"}]} (median per step)
    --workload NAME   only classroom, sweep or vocabulary
    --backend B       cpu (default), gpu or auto; GPU rows carry an \"adapter\" field,
                      and a software adapter (llvmpipe) is marked \"(CPU-emulated)\"

A bad scenario exits with status 2 and an error naming the field on stderr;
nothing is printed on stdout.";

/// A command-line error: the message and the exit status.
struct Failure(String, u8);

impl From<InputError> for Failure {
    fn from(error: InputError) -> Self {
        Failure(error.to_string(), 2)
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure(format!("{}\n(see `dpo help`)", message.into()), 64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("dpo: {message}");
            ExitCode::from(code)
        }
    }
}

fn dispatch(args: &[String]) -> Result<(), Failure> {
    let Some(command) = args.first() else {
        println!("{HELP}");
        return Ok(());
    };
    let rest = &args[1..];
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return Ok(());
    }
    match command.as_str() {
        "run" => run(rest),
        "check" => check(rest),
        "bench" => bench::command(rest),
        "presets" => {
            for preset in PRESETS {
                let title = preset
                    .scenario()
                    .map(|s| s.title.unwrap_or_default())
                    .unwrap_or_default();
                println!("{:<30} {title}", preset.id);
            }
            Ok(())
        }
        "preset" => {
            let name = rest
                .first()
                .ok_or_else(|| usage("`dpo preset` needs a NAME"))?;
            let preset =
                Preset::find(name).ok_or_else(|| usage(format!("no preset named {name:?}")))?;
            print!("{}", preset.json);
            Ok(())
        }
        "help" | "--help" | "-h" => {
            println!("{HELP}");
            Ok(())
        }
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

/// Parsed `run` options.
#[derive(Default)]
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
            eprintln!("dpo: this dpo was built without the GPU backend; training on the CPU");
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
                eprintln!("dpo: training on the GPU: {}", gpu.adapter_name());
            }
            Ok(Some(gpu))
        }
        Err(error) if backend == Backend::Auto => {
            eprintln!("dpo: no usable GPU ({error}); training on the CPU");
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
            match pollster::block_on(gpu.read_metrics(true)) {
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
                    eprintln!("dpo: {error}; continuing on the CPU ({behind} steps to redo)");
                    self.gpu = None;
                    set.step(behind);
                }
            }
        }
        let _ = set;
    }
}

fn parse_run_options(args: &[String]) -> Result<RunOptions, Failure> {
    let mut options = RunOptions::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--steps" => options.steps = Some(parse_count("--steps", &value("--steps")?)?),
            "--every" => options.every = Some(parse_count("--every", &value("--every")?)?.max(1)),
            "--json" => options.json = true,
            "--csv" => options.csv = Some(PathBuf::from(value("--csv")?)),
            "--plots" => options.plots = Some(PathBuf::from(value("--plots")?)),
            "--format" => {
                options.format = output::PlotFormat::parse(&value("--format")?).map_err(usage)?
            }
            "--quiet" => options.quiet = true,
            "--backend" => options.backend = Backend::parse(&value("--backend")?)?,
            flag if flag.starts_with("--") => return Err(usage(format!("unknown option {flag}"))),
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

/// Reads a scenario from a path, `-` (standard input) or `preset:NAME`.
fn load(source: &str) -> Result<Scenario, Failure> {
    if let Some(name) = source.strip_prefix("preset:") {
        let preset =
            Preset::find(name).ok_or_else(|| usage(format!("no preset named {name:?}")))?;
        return Ok(preset.scenario()?);
    }
    let text = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("cannot read standard input: {e}"), 2))?;
        text
    } else {
        std::fs::read_to_string(source)
            .map_err(|e| Failure(format!("cannot read {source}: {e}"), 2))?
    };
    Scenario::from_json(&text).map_err(|e| Failure(format!("{source}: {e}"), 2))
}

fn check(args: &[String]) -> Result<(), Failure> {
    let [source] = args else {
        return Err(usage("`dpo check` needs exactly one SCENARIO"));
    };
    let scenario = load(source)?;
    let set = scenario.run_set()?;
    let problem = set.problem();
    println!(
        "{source}: ok: {} prompt(s), {} outputs, {} pairs, {} runs, {} steps",
        problem.prompt_count(),
        problem.output_count(),
        problem.pairs().len(),
        set.runs().len(),
        scenario.steps
    );
    Ok(())
}

fn run(args: &[String]) -> Result<(), Failure> {
    let options = parse_run_options(args)?;
    let source = options
        .scenario
        .as_deref()
        .ok_or_else(|| usage("`dpo run` needs a SCENARIO"))?;
    let scenario = load(source)?;
    let steps = options.steps.unwrap_or(scenario.steps);
    let mut set = scenario.run_set()?;
    let mut trainer = Trainer::new(&set, options.backend)?;
    let wants_history = options.csv.is_some() || options.plots.is_some();
    let every = options.every.unwrap_or((steps / 200).max(1));
    let mut history = History::new(set.runs().len(), usize::MAX);
    // Large runs on a terminal get a progress bar on stderr; pipes and small runs stay quiet.
    let work = steps as f64 * set.runs().len() as f64 * (set.problem().pairs().len() + 64) as f64;
    let progress = !options.quiet && std::io::stderr().is_terminal() && work > 2e8;
    if wants_history {
        trainer.record(&mut set, &mut history);
    }
    let chunk = if wants_history {
        every
    } else {
        steps.div_ceil(100).max(1)
    };
    let mut done = 0;
    while done < steps {
        let n = chunk.min(steps - done);
        trainer.step(&mut set, n);
        done += n;
        if wants_history {
            trainer.record(&mut set, &mut history);
        }
        if progress {
            let filled = (40 * done / steps.max(1)) as usize;
            eprint!(
                "\r[{}{}] {done}/{steps} steps",
                "#".repeat(filled),
                " ".repeat(40 - filled)
            );
        }
    }
    trainer.sync(&mut set);
    if progress {
        eprintln!();
    }
    if let Some(path) = &options.csv {
        output::write_csv(path, &set, &history).map_err(|e| Failure(e, 1))?;
    }
    if let Some(dir) = &options.plots {
        let written =
            output::write_plots(dir, options.format, &set, &history).map_err(|e| Failure(e, 1))?;
        if !options.json {
            for path in written {
                eprintln!("wrote {}", path.display());
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    let text = if options.json {
        serde_json::to_string(&output::report(&set)).expect("the report serialises")
    } else {
        output::table(&set)
    };
    writeln!(stdout, "{text}").map_err(|e| Failure(format!("cannot write: {e}"), 1))?;
    Ok(())
}
