//! The command line's grammar: every command and option, its help and its value's parser, declared
//! once with clap's derive. `main.rs` turns a parse error into exit status 64.

use super::bench::WORKLOADS;
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dpo_playground::engine::sweep::Band;
use dpo_playground::scenario::budget::Limits;
use std::path::PathBuf;

const SCENARIO_HELP: &str = "A scenario file (at most 64 MiB), `-` for standard input, \
`preset:NAME` for a shipped preset (see `dpo presets`), or a share link copied from the page \
(quoted: 'https://…/#from=…&z1=…')";

const AFTER_HELP: &str = "\
EXIT STATUS:
    0    success (also when standard output is a pipe that was closed early)
    1    an output could not be written (standard output, --csv, --plots) or the GPU failed
    2    a bad scenario: unreadable, invalid (the error names the field on stderr,
         nothing is printed on stdout) or larger than --max-memory allows
    3    `dpo run`: at least one run diverged (its output is still written)
    64   a bad command line (unknown command or option, missing or bad value)
    130  `dpo run` was interrupted (Ctrl-C); what was done so far is written

ENVIRONMENT:
    DPO_REPORT_PEAK_MEMORY=1   say on stderr, at exit, the most memory the process held
                               (Linux; what the tests hold the estimate to)

The scenario format is described in docs/scenario-format.md, the math in docs/math.md.";

const RUN_AFTER_HELP: &str = "\
A run diverges when a margin, a logit or an optimiser moment would stop being finite (a
learning rate, beta, gamma or alpha far too large): on the CPU it stops before that step
and keeps its last finite state. Its metrics say \"diverged\" and \"diverged_at\", stderr
names it, and the exit status is 3.

Ctrl-C stops training at the next step boundary, writes what was asked for so far (JSON or
table, CSV, plots) and exits with status 130; a second Ctrl-C ends at once.";

/// dpo: train DPO-style preference losses on a tabular softmax policy.
#[derive(Parser, Debug)]
// Plain styles: the help is printed as it is written, and an error's text holds the arguments
// exactly as given, for `main.rs` to escape their control characters.
#[command(name = "dpo", version, after_long_help = AFTER_HELP, styles = clap::builder::Styles::plain())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train every run of a scenario and report
    #[command(after_long_help = RUN_AFTER_HELP)]
    Run(RunArgs),
    /// Validate a scenario; print what it holds and what training it would take (memory, time)
    Check {
        #[arg(value_name = "SCENARIO", help = SCENARIO_HELP)]
        scenario: String,
        #[command(flatten)]
        memory: MemoryArg,
    },
    /// Train a scenario's sweep (its runs over a grid of settings and seeds) and report each
    /// setting's spread over its replicates
    Sweep(SweepArgs),
    /// Time one training step (and one metrics record) on the standard workloads
    Bench(BenchArgs),
    /// List the shipped presets
    Presets,
    /// Print a preset's scenario file
    Preset {
        /// The preset's name (see `dpo presets`)
        name: String,
    },
    /// Print a shell completion script (`source <(dpo completions bash)`)
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[arg(value_name = "SCENARIO", help = SCENARIO_HELP)]
    pub scenario: String,
    /// Train N steps instead of the scenario's `steps`
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Print one JSON object, {"runs": [{"name", "steps", "metrics", "logits", "policy"}]}, instead
    /// of a table
    #[arg(long)]
    pub json: bool,
    /// Write the metrics of every run at every recorded step as CSV, row by row as they are
    /// recorded
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Record metrics every N steps (N >= 1) for --csv and --plots [default: about 200 records
    /// per run]
    #[arg(long, value_name = "N", value_parser = parse_every)]
    pub every: Option<u64>,
    /// Write plots to DIR: curves (loss, accuracy, KL), the policy against the reference, the
    /// learning tables, each run's margins (quantile bands past 256 pairs)
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Plot format
    #[arg(long, value_name = "F", value_enum, default_value_t = PlotFormat::Svg)]
    pub format: PlotFormat,
    #[command(flatten)]
    pub memory: MemoryArg,
    /// No progress bar and no time estimate
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub backend: BackendArg,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[arg(value_name = "SCENARIO", help = SCENARIO_HELP)]
    pub scenario: String,
    /// Train N steps instead of the scenario's `steps`
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Score every run every N steps (N >= 1): the checkpoints early stopping chooses from
    /// [default: about 50 per run]
    #[arg(long, value_name = "N", value_parser = parse_every)]
    pub every: Option<u64>,
    /// Print one JSON object, {"sweep", "settings": [{"template", "point", "runs", "diverged",
    /// "final", "best", "best_step"}]}, instead of a table
    #[arg(long)]
    pub json: bool,
    /// With --json, also every run's final metrics ("runs")
    #[arg(long)]
    pub runs: bool,
    /// Write the statistics as CSV: a row per setting, metric and checkpoint kind (final, best)
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write plots to DIR: each metric against the first numeric axis, a line per template with
    /// a band over the replicates (--band), and the training curves
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// The plots' band around each mean: the replicates' minimum to maximum, 10th to 90th
    /// percentile, or 25th to 75th (the interquartile range)
    #[arg(long, value_name = "BAND", default_value = "min-max",
          value_parser = PossibleValuesParser::new(Band::ALL.map(|(name, _)| name)))]
    pub band: String,
    #[command(flatten)]
    pub memory: MemoryArg,
    #[command(flatten)]
    pub backend: BackendArg,
    /// No progress bar and no time estimate
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Print {"workloads": [{"name", "runs", "prompts", "outputs", "pairs", "backend",
    /// "seconds_per_step", "seconds_per_metrics"}]} (medians); a dense workload on the CPU adds
    /// "bytes_per_step" (its memory-traffic floor) and the report "copy_bytes_per_second"
    #[arg(long)]
    pub json: bool,
    /// Only this workload
    #[arg(long, value_name = "NAME", value_parser = workload_names())]
    pub workload: Option<String>,
    /// Print the workload (--workload, default classroom) as a scenario file instead of timing
    /// it: what `cargo xtask bench --browser` trains in wasm
    #[arg(long)]
    pub scenario: bool,
    #[command(flatten)]
    pub backend: BackendArg,
}

#[derive(Args, Debug)]
pub struct MemoryArg {
    /// Refuse, before allocating, a scenario that would need more memory than SIZE (bytes, or
    /// with K, M, G, T) [default: 2G]
    #[arg(long = "max-memory", value_name = "SIZE", value_parser = parse_memory)]
    pub max_memory: Option<Limits>,
}

impl MemoryArg {
    /// The limit given, or the command line's default.
    pub fn limits(&self) -> Limits {
        self.max_memory.unwrap_or(Limits::COMMAND_LINE)
    }
}

#[derive(Args, Debug)]
pub struct BackendArg {
    /// Where to train. gpu and auto need a dpo built with `--features gpu`; gpu fails without an
    /// adapter; auto names the adapter it takes on stderr, or falls back to the CPU with a note.
    /// The output is the same either way; if the GPU is lost mid-run, training continues on the
    /// CPU. GPU rows of `dpo bench` name the adapter, a software one marked "(CPU-emulated)".
    #[arg(long, value_name = "B", value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
}

/// Where `dpo run` and `dpo bench` train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The CPU engine (the reference)
    #[default]
    Cpu,
    /// The GPU backend; an error without an adapter or without the `gpu` feature
    Gpu,
    /// The GPU if there is an adapter, else the CPU
    Auto,
}

/// Plot file formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PlotFormat {
    #[default]
    Svg,
    Png,
    Both,
}

/// `--every`'s value: a whole number of steps, at least 1.
fn parse_every(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(every) if every >= 1 => Ok(every),
        _ => Err("needs a number of steps of at least 1".into()),
    }
}

fn workload_names() -> PossibleValuesParser {
    PossibleValuesParser::new(WORKLOADS.iter().map(|workload| workload.name))
}

/// `--max-memory`'s value: bytes, or a number with K, M, G or T (powers of 1024).
fn parse_memory(text: &str) -> Result<Limits, String> {
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
        .ok_or_else(|| "needs a size such as 512M or 4G".to_string())?;
    Ok(Limits {
        memory,
        source: "--max-memory",
    })
}
