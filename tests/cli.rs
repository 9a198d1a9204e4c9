//! The `dpo` command line, run as a user runs it.

use std::process::{Command, Output};

fn dpo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpo"))
        .args(args)
        .output()
        .expect("dpo runs")
}

/// `dpo` with `args`, which must succeed (its stderr is the failure's message).
fn dpo_ok(args: &[&str]) -> Output {
    let out = dpo(args);
    assert!(
        out.status.success(),
        "dpo {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every text of an SVG chart, in document order: its `x` and its words.
fn svg_texts(svg: &str) -> Vec<(f64, String)> {
    roxmltree::Document::parse(svg)
        .unwrap()
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .map(|node| {
            let x = node.attribute("x").unwrap().parse().unwrap();
            (x, node.text().unwrap_or("").trim().to_string())
        })
        .collect()
}

/// A fresh directory of the test's own, removed with everything in it when the test ends,
/// passed or failed: the suite runs on every CI and development build, and what it leaves in
/// the system's temporary directory (the stream test alone writes about 200 MB) would pile up.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("dpo-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

#[test]
fn run_json_follows_the_spec_contract() {
    let out = dpo_ok(&["run", "presets/default.json", "--steps", "25", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        assert_eq!(run["steps"], 25);
        assert!(run["name"].is_string());
        for key in [
            "loss",
            "accuracy",
            "reference_accuracy",
            "kl",
            "entropy",
            "chosen_reward",
            "rejected_reward",
            "reward_margin",
        ] {
            assert!(run["metrics"][key].is_number(), "metrics.{key} missing");
        }
        assert!(
            run["metrics"]["learning_table"]["reference_wrong_policy_wrong"]["share"].is_number()
        );
        let logits = run["logits"].as_array().unwrap();
        let policy = run["policy"].as_array().unwrap();
        assert_eq!((logits.len(), logits[0].as_array().unwrap().len()), (1, 4));
        let total: f64 = policy[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-9, "policy sums to {total}");
    }
}

#[test]
fn bad_files_fail_with_the_field_on_stderr_and_nothing_on_stdout() {
    let dir = temp_dir("bad");
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "Q"}]}"#,
    )
    .unwrap();
    for command in ["run", "check"] {
        let out =
            dpo(&[command, path.to_str().unwrap(), "--json"]
                [..if command == "run" { 3 } else { 2 }]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(out.stdout.is_empty(), "{command} printed on stdout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("pairs[0].rejected: no output named \"Q\""),
            "{stderr}"
        );
    }
    let missing = dpo(&["run", "no/such/file.json", "--json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty());
    let flag = dpo(&["run", "presets/default.json", "--stepz", "3"]);
    assert_eq!(flag.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&flag.stderr);
    assert!(stderr.contains("unexpected argument '--stepz'"), "{stderr}");
    assert!(
        stderr.contains("a similar argument exists: '--steps'"),
        "{stderr}"
    );
}

#[test]
fn csv_and_plots_are_written() {
    let dir = temp_dir("outputs");
    let csv = dir.join("metrics.csv");
    let plots = dir.join("plots");
    dpo_ok(&[
        "run",
        "preset:learning-table",
        "--steps",
        "40",
        "--every",
        "10",
        "--csv",
        csv.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
        "--format",
        "both",
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("run,step,loss,accuracy"));
    assert!(lines[0].ends_with(",diverged,diverged_at"));
    assert_eq!(lines.len(), 1 + 3 * 5, "3 runs x steps 0, 10, 20, 30, 40");
    assert!(
        lines[1].starts_with("\"hinge, gamma = 20\",0,"),
        "names with commas are quoted: {}",
        lines[1]
    );
    for name in [
        "curves",
        "policy",
        "learning-table",
        "margins-0",
        "margins-2",
    ] {
        let svg = std::fs::read_to_string(plots.join(format!("{name}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.len() > 1000, "{name}.svg");
        let png = std::fs::read(plots.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{name}.png");
    }
}

#[test]
fn check_says_which_pairs_are_held_out() {
    let stdout = |args: &[&str]| String::from_utf8_lossy(&dpo_ok(args).stdout).to_string();
    // Without held-out pairs, no line about them.
    assert!(!stdout(&["check", "preset:default"]).contains("validation:"));
    let luck = stdout(&["check", "preset:luck-and-tuning"]);
    assert!(
        luck.contains(
            "validation: 24 pairs held out (a share of 0.3 of the pairs, drawn with seed 2); 56 \
             pairs train"
        ),
        "{luck}"
    );
    // A pair marked by hand: the default preset's second pair.
    let mut scenario: serde_json::Value = serde_json::from_str(
        dpo_playground::presets::Preset::find("default")
            .unwrap()
            .json,
    )
    .unwrap();
    scenario["pairs"][1]["split"] = "validation".into();
    let dir = temp_dir("marked");
    let file = dir.join("marked.json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    let marked = stdout(&["check", file.to_str().unwrap()]);
    assert!(
        marked.contains(
            "validation: 1 pair held out (marked \"split\": \"validation\"); 2 pairs train"
        ),
        "{marked}"
    );
}

#[test]
fn check_presets_and_help() {
    let out = dpo(&["check", "preset:simpo"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 outputs, 4 pairs, 3 runs"));
    let list = String::from_utf8_lossy(&dpo(&["presets"]).stdout).to_string();
    assert_eq!(list.lines().count(), dpo_playground::presets::PRESETS.len());
    assert!(list.contains("unlearning"), "{list}");
    let help = String::from_utf8_lossy(&dpo(&["--help"]).stdout).to_string();
    for command in [
        "run",
        "check",
        "bench",
        "presets",
        "preset",
        "completions",
        "EXIT STATUS",
    ] {
        assert!(help.contains(command), "help lists {command}");
    }
    let run_help = String::from_utf8_lossy(&dpo(&["run", "--help"]).stdout).to_string();
    for option in [
        "--steps",
        "--json",
        "--csv",
        "--every",
        "--plots",
        "--format",
        "--max-memory",
        "--quiet",
        "--backend",
    ] {
        assert!(
            run_help.contains(option),
            "`dpo run --help` explains {option}"
        );
    }
    let bench_help = String::from_utf8_lossy(&dpo(&["bench", "--help"]).stdout).to_string();
    assert!(bench_help.contains("--workload"), "{bench_help}");
    let version = dpo(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("dpo {}", env!("CARGO_PKG_VERSION"))
    );
    // `--steps=N` is the same as `--steps N`; completions are a script for the shell named.
    let equals = dpo(&["run", "preset:default", "--steps=2", "--json"]);
    assert!(equals.status.success());
    let report: serde_json::Value = serde_json::from_slice(&equals.stdout).unwrap();
    assert_eq!(report["runs"][0]["steps"], 2);
    let completions = dpo(&["completions", "bash"]);
    assert!(completions.status.success());
    assert!(String::from_utf8_lossy(&completions.stdout).contains("--max-memory"));
}

#[test]
fn bench_reports_every_workload() {
    let out = dpo_ok(&["bench", "--json", "--workload", "classroom"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &report["workloads"][0];
    assert_eq!(row["name"], "classroom");
    assert_eq!(
        (
            row["runs"].as_u64(),
            row["outputs"].as_u64(),
            row["pairs"].as_u64()
        ),
        (Some(3), Some(8), Some(16))
    );
    assert_eq!(row["backend"], "cpu");
    assert!(row["seconds_per_step"].as_f64().unwrap() > 0.0);
    assert!(row["seconds_per_metrics"].as_f64().unwrap() > 0.0);
}

/// `dpo` with `args`, its standard output sent to `stdout`; the status and standard error.
fn dpo_to(args: &[&str], stdout: std::process::Stdio) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpo"))
        .args(args)
        .stdout(stdout)
        .output()
        .expect("dpo runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

const PRINTING_COMMANDS: [&[&str]; 6] = [
    &["check", "preset:default"],
    &["presets"],
    &["preset", "learning-table"],
    &["help"],
    &["run", "preset:default", "--steps", "3", "--json"],
    &["bench", "--workload", "classroom", "--json"],
];

#[test]
fn a_full_standard_output_is_one_line_and_status_1() {
    for args in PRINTING_COMMANDS {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (status, stderr) = dpo_to(args, full.into());
        assert_eq!(status, Some(1), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            "dpo: cannot write standard output: No space left on device (os error 28)",
            "{args:?}"
        );
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    for args in PRINTING_COMMANDS {
        // The reading end is closed before dpo starts, so its first write meets a closed pipe.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let (status, stderr) = dpo_to(args, writer.into());
        assert_eq!(status, Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

#[test]
fn a_full_standard_error_does_not_panic() {
    for args in [
        &["check", "/nonexistent"][..],
        &["run", "preset:nope"],
        &["frobnicate"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_dpo"))
            .args(args)
            .stderr(full)
            .output()
            .unwrap();
        let expected = if args[0] == "frobnicate" { 64 } else { 2 };
        assert_eq!(out.status.code(), Some(expected), "{args:?}");
    }
}

/// A two-output scenario whose margin overflows f32 (`gamma h_0` is about -3.5e38) beside a
/// sane run.
const OVERFLOWING: &str = r#"{"outputs": ["a", "b"], "reference": [1, 8],
    "pairs": [{"chosen": "a", "rejected": "b"}],
    "runs": [{"name": "huge gamma", "gamma": 1.7e38}, {"name": "sane"}]}"#;

#[test]
fn a_diverged_run_is_named_and_exits_3() {
    let dir = temp_dir("diverged");
    let path = dir.join("overflow.json");
    std::fs::write(&path, OVERFLOWING).unwrap();
    let csv = dir.join("metrics.csv");
    let out = dpo(&[
        "run",
        path.to_str().unwrap(),
        "--steps",
        "20",
        "--json",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("run \"huge gamma\" diverged at step 0"),
        "{stderr}"
    );
    assert!(!stderr.contains("\"sane\""), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs[0]["metrics"]["diverged"], true);
    assert_eq!(runs[0]["metrics"]["diverged_at"], 0);
    assert_eq!(runs[0]["steps"], 0);
    assert_eq!(runs[1]["metrics"]["diverged"], false);
    assert!(runs[1]["metrics"]["diverged_at"].is_null());
    assert_eq!(runs[1]["steps"], 20);
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let last: Vec<&str> = text.lines().last().unwrap().split(',').collect();
    let first_run_last = text
        .lines()
        .rfind(|line| line.starts_with("huge gamma,"))
        .unwrap()
        .split(',')
        .collect::<Vec<_>>();
    assert_eq!(first_run_last[column("diverged")], "1");
    assert_eq!(first_run_last[column("diverged_at")], "0");
    assert_eq!((last[0], last[column("diverged")]), ("sane", "0"));
    // The table says so too.
    let table = dpo(&["run", path.to_str().unwrap(), "--steps", "20"]);
    assert_eq!(table.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&table.stdout).contains("diverged at step 0"));
}

/// Runs `dpo` to completion and returns its status, stderr and peak resident memory in bytes,
/// which `dpo` reports itself when `DPO_REPORT_PEAK_MEMORY` is set (its VmHWM; `wait4`'s figure
/// would include this test process's memory at the moment it spawned the child).
fn dpo_with_peak_memory(args: &[&str]) -> (Option<i32>, String, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpo"))
        .args(args)
        .env("DPO_REPORT_PEAK_MEMORY", "1")
        .stdout(std::process::Stdio::null())
        .output()
        .expect("dpo runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let peak = stderr
        .lines()
        .find_map(|line| line.strip_prefix("dpo: peak memory "))
        .and_then(|rest| rest.trim_end_matches(" bytes").parse().ok())
        .unwrap_or_else(|| panic!("no peak memory reported: {stderr}"));
    (out.status.code(), stderr, peak)
}

/// The estimate `dpo check` prints, in bytes (`about 1.3 MiB of memory`).
fn estimated_memory(check_stdout: &str) -> u64 {
    let after = check_stdout.split("about ").nth(1).unwrap();
    let mut words = after.split_whitespace();
    let value: f64 = words.next().unwrap().parse().unwrap();
    let unit = match words.next().unwrap() {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other}"),
    };
    (value * unit) as u64
}

#[test]
fn resource_bombs_are_refused_before_allocating() {
    let dir = temp_dir("bombs");
    let write = |name: &str, value: serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let prompts: Vec<String> = (0..1000).map(|x| format!("p{x}")).collect();
    // 1,000 prompts x 2^20 generated pairs: capped over the whole scenario, not per prompt.
    let generated = write(
        "generated.json",
        serde_json::json!({"prompts": prompts, "outputs": ["a", "b", "c"],
            "reward": vec![vec![1, 2, 3]; 1000], "generate": {"count": 1 << 20}}),
    );
    // 4096 x 4096 logits x 100 runs: each run is within the per-run cap, together 50 GiB.
    let labels: Vec<String> = (0..4096).map(|y| format!("o{y}")).collect();
    let prompts: Vec<String> = (0..4096).map(|x| format!("p{x}")).collect();
    let logits = write(
        "logits.json",
        serde_json::json!({"prompts": prompts, "outputs": labels,
            "pairs": [{"chosen": 0, "rejected": 1}], "runs": vec![serde_json::json!({}); 100]}),
    );
    for (path, field) in [(&generated, "generate.count"), (&logits, "runs")] {
        for command in ["check", "run"] {
            let (status, stderr, peak) = dpo_with_peak_memory(&[command, path]);
            assert_eq!(status, Some(2), "{command} {path}: {stderr}");
            assert!(stderr.contains(&format!(": {field}: ")), "{stderr}");
            assert!(
                peak < 1 << 30,
                "{command} {path} used {peak} bytes before refusing"
            );
        }
    }
    let logits_check = dpo(&["check", &logits]);
    let stderr = String::from_utf8_lossy(&logits_check.stderr);
    assert!(
        stderr.contains("more than the limit of 2.0 GiB (--max-memory, default 2 GiB)"),
        "{stderr}"
    );
    // A larger limit accepts it (check only estimates; it builds no run).
    let accepted = dpo(&["check", &logits, "--max-memory", "64G"]);
    assert!(accepted.status.success());
    // A file larger than 64 MiB is not read.
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let out = dpo(&["check", huge.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than the 64.0 MiB"));
}

#[test]
fn the_estimate_is_an_upper_bound_of_the_memory_used() {
    let dir = temp_dir("estimate");
    let write = |name: &str, value: serde_json::Value| {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let cases = [
        // Many generated pairs over few outputs, three runs (Adam, the default).
        write(
            "pairs.json",
            serde_json::json!({"prompts": ["p0", "p1"], "outputs": ["a", "b", "c", "d"],
                "reward": [[1, 2, 3, 4], [4, 3, 2, 1]], "generate": {"count": 400_000}}),
        ),
        // A wide vocabulary with a KL regulariser (every logit moves) and mixout.
        write(
            "vocabulary.json",
            serde_json::json!({"prompts": (0..16).map(|x| format!("p{x}")).collect::<Vec<_>>(),
                "outputs": (0..65536).map(|y| format!("o{y}")).collect::<Vec<_>>(),
                "pairs": [{"chosen": 0, "rejected": 1}, {"prompt": 3, "chosen": 5, "rejected": 9}],
                "runs": [{"regularizer": {"kind": "kl"}}, {"regularizer": {"kind": "mixout"}}]}),
        ),
    ];
    for path in &cases {
        let check = dpo(&["check", path]);
        assert!(check.status.success());
        let estimate = estimated_memory(&String::from_utf8_lossy(&check.stdout));
        let (status, stderr, peak) = dpo_with_peak_memory(&["run", path, "--steps", "3"]);
        assert_eq!(status, Some(0), "{stderr}");
        // The process's own baseline (binary, allocator, stack) is not in the estimate: 16 MiB.
        assert!(
            peak <= estimate + (16 << 20),
            "{path}: used {peak} bytes, estimated {estimate}"
        );
    }
}

#[test]
fn a_long_csv_is_streamed_in_bounded_memory() {
    let dir = temp_dir("stream");
    let csv = dir.join("metrics.csv");
    let (status, stderr, peak) = dpo_with_peak_memory(&[
        "run",
        "preset:default",
        "--steps",
        "300000",
        "--every",
        "1",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(status, Some(0), "{stderr}");
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count();
    assert_eq!(rows, 1 + 3 * 300_001);
    // 900,000 rows of metrics held in memory would be over 200 MiB.
    assert!(peak < 64 << 20, "peak {peak} bytes");
}

#[test]
fn bad_options_and_sources_have_their_own_statuses() {
    let every = dpo(&["run", "preset:default", "--every", "0"]);
    assert_eq!(every.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&every.stderr)
        .contains("invalid value '0' for '--every <N>': needs a number of steps of at least 1"));
    // A preset that does not exist is a bad scenario source, like a missing file.
    for source in ["preset:nonexistent", "no/such/file.json"] {
        let out = dpo(&["run", source]);
        assert_eq!(out.status.code(), Some(2), "{source}");
    }
    // --plots onto an existing file: said before training, status 1.
    let dir = temp_dir("plots-file");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = dpo(&["run", "preset:default", "--plots", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a file, not a folder"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn ctrl_c_stops_at_a_step_boundary_and_writes_what_was_asked_for() {
    let dir = temp_dir("interrupt");
    let csv = dir.join("metrics.csv");
    let child = Command::new(env!("CARGO_BIN_EXE_dpo"))
        .args([
            "run",
            "preset:default",
            "--steps",
            "1000000000000000",
            "--every",
            "1000",
            "--json",
            "--csv",
            csv.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training has recorded a few rows, then interrupt it.
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&csv).map_or(0, |t| t.lines().count()) < 10 {
        assert!(started.elapsed().as_secs() < 60, "no rows after a minute");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // SAFETY: sending a signal to our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted at step"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = report["runs"][0]["steps"].as_u64().unwrap();
    assert!(steps > 0 && steps < 1_000_000_000_000_000);
    // The CSV ends with the step the runs stopped at.
    let text = std::fs::read_to_string(&csv).unwrap();
    let last_step: u64 = text
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(last_step, steps);
}

#[test]
fn check_prints_the_estimate() {
    let out = dpo(&["check", "preset:default"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("of memory") && text.contains("to train"),
        "{text}"
    );
    let long = dpo(&["check", "-"]);
    assert_eq!(
        long.status.code(),
        Some(2),
        "empty standard input is not a scenario"
    );
}

#[test]
fn plots_stay_bounded_with_many_pairs_outputs_and_runs() {
    let dir = temp_dir("bounded-plots");
    let path = dir.join("many.json");
    // 600 outputs, 2,000 generated pairs, 10 runs.
    let runs: Vec<serde_json::Value> = (0..10)
        .map(|r| serde_json::json!({"name": format!("run {r}"), "beta": 0.1 * (r + 1) as f64}))
        .collect();
    let scenario = serde_json::json!({
        "outputs": (0..600).map(|y| format!("o{y}")).collect::<Vec<_>>(),
        "reward": [(0..600).collect::<Vec<_>>()],
        "generate": {"count": 2000}, "steps": 20, "runs": runs});
    std::fs::write(&path, scenario.to_string()).unwrap();
    let plots = dir.join("plots");
    dpo_ok(&[
        "run",
        path.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
    ]);
    // The margins chart shows quantile bands, not 2,000 lines.
    let margins = std::fs::read_to_string(plots.join("margins-0.svg")).unwrap();
    assert!(margins.contains("median of 2000 pairs"));
    assert!(
        margins.len() < 100_000,
        "margins-0.svg is {} bytes",
        margins.len()
    );
    // The policy chart draws the most likely outputs only, and says so.
    let policy = std::fs::read_to_string(plots.join("policy.svg")).unwrap();
    assert!(policy.contains("the 128 most likely of 600 outputs"));
    assert!(policy.matches("<rect").count() < 11 * 129 + 50);
    // The learning tables are paged at 8 runs per image.
    let first = std::fs::read_to_string(plots.join("learning-table.svg")).unwrap();
    let second = std::fs::read_to_string(plots.join("learning-table-2.svg")).unwrap();
    assert!(first.contains("run 7") && !first.contains("run 8"));
    assert!(second.contains("run 8") && second.contains("run 9"));
}

#[test]
fn a_plot_that_cannot_be_written_says_what_and_why() {
    let dir = temp_dir("plot-failure");
    // A folder where the first chart's file should go: writing it fails.
    std::fs::create_dir_all(dir.join("curves.svg")).unwrap();
    let out = dpo(&[
        "run",
        "preset:default",
        "--steps",
        "2",
        "--plots",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot write ") && stderr.contains("curves.svg: "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("BackendError") && !stderr.contains("Os {"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_hundred_thousand_labels_are_checked() {
    // Label uniqueness and pair resolution are hash lookups: 100k outputs and 100k pairs by label
    // check without a quadratic pass (the figure is in the README; this only checks the result).
    let dir = temp_dir("labels");
    let outputs: Vec<String> = (0..100_000).map(|y| format!("output {y}")).collect();
    let pairs: Vec<serde_json::Value> = (0..100_000)
        .map(|i| serde_json::json!({"chosen": outputs[i], "rejected": outputs[(i + 1) % 100_000]}))
        .collect();
    let path = dir.join("labels.json");
    std::fs::write(
        &path,
        serde_json::json!({"outputs": outputs, "pairs": pairs, "runs": [{}]}).to_string(),
    )
    .unwrap();
    let out = dpo_ok(&["check", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("100000 outputs, 100000 pairs, 1 runs"));
    // A repeated label far down the list is found and named.
    let mut repeated = outputs.clone();
    repeated[99_999] = "output 17".into();
    std::fs::write(
        &path,
        serde_json::json!({"outputs": repeated, "pairs": [{"chosen": 0, "rejected": 1}]})
            .to_string(),
    )
    .unwrap();
    let out = dpo(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("outputs[99999]: label \"output 17\" is already used by outputs[17]"));
}

#[test]
fn echoed_arguments_carry_no_control_characters() {
    for args in [
        &["\u{1b}[2Jrun"][..],
        &["run", "preset:\u{1b}]0;x\u{7}"],
        &["run", "preset:default", "--\u{1b}[31m"],
        &["run", "preset:default", "--steps", "\u{1b}"],
    ] {
        let out = dpo(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
            "{args:?}: {stderr:?}"
        );
        // Escaped once, as `\u{1b}`, not twice.
        assert!(
            stderr.contains("\\u{1b}") && !stderr.contains("\\\\u"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn sweep_reports_settings_as_json_csv_and_plots() {
    let dir = temp_dir("sweep");
    let csv = dir.join("stats.csv");
    let plots = dir.join("plots");
    let out = dpo_ok(&[
        "sweep",
        "preset:gamma-sweep",
        "--steps",
        "40",
        "--every",
        "10",
        "--json",
        "--runs",
        "--csv",
        csv.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sweep"]["runs"], 2 * 7 * 8);
    assert_eq!(report["sweep"]["steps"], 40);
    let settings = report["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 14);
    assert_eq!(settings[3]["template"], "hinge");
    assert_eq!(settings[3]["point"]["gamma_over_beta"], 2.0);
    assert_eq!(settings[3]["runs"], 8);
    let accuracy = &settings[3]["final"]["accuracy"];
    assert_eq!(accuracy["count"], 8);
    let (min, mean, max) = (
        accuracy["min"].as_f64().unwrap(),
        accuracy["mean"].as_f64().unwrap(),
        accuracy["max"].as_f64().unwrap(),
    );
    assert!(min <= mean && mean <= max && (0.0..=1.0).contains(&min));
    let quartiles = ["p25", "median", "p75"].map(|q| accuracy[q].as_f64().unwrap());
    assert!(min <= quartiles[0] && quartiles[0] <= quartiles[1] && quartiles[1] <= quartiles[2]);
    assert!(quartiles[2] <= max, "{accuracy}");
    // No held-out pairs: no best checkpoint.
    assert!(settings[3].get("best").is_none());
    assert_eq!(report["runs"].as_array().unwrap().len(), 112);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with(
        "template,gamma_over_beta,checkpoint,metric,count,mean,std,min,max,p10,p25,median,p75,p90\n"
    ));
    assert!(text.contains("\nhinge,2,final,accuracy,8,"), "{text}");
    let title = |svg: &std::path::Path| {
        svg_texts(&std::fs::read_to_string(svg).unwrap())
            .into_iter()
            .map(|(_, text)| text)
            .find(|text| text.contains("over replicates"))
            .unwrap_or_default()
    };
    assert!(
        title(&plots.join("final-accuracy.svg")).ends_with("mean, band min-max over replicates")
    );
    // --band draws the interquartile range instead (and says so); an unknown band is refused.
    let iqr = dir.join("iqr");
    dpo_ok(&[
        "sweep",
        "preset:gamma-sweep",
        "--steps",
        "20",
        "--quiet",
        "--band",
        "iqr",
        "--plots",
        iqr.to_str().unwrap(),
    ]);
    assert!(title(&iqr.join("final-accuracy.svg")).ends_with("band interquartile over replicates"));
    assert!(title(&iqr.join("curve-loss.svg")).ends_with("band interquartile over replicates"));
    let bad_band = dpo(&["sweep", "preset:gamma-sweep", "--band", "quartiles"]);
    assert_eq!(bad_band.status.code(), Some(64), "a usage error");
    assert!(String::from_utf8_lossy(&bad_band.stderr).contains("min-max"));
    // No ground-truth reward in gamma-sweep: no frontier; one axis: no heat map.
    assert!(!plots.join("frontier.svg").exists());
    assert!(!plots.join("heat-final-accuracy.svg").exists());
    // Curves over training: the metrics that apply, and no file for those that do not.
    assert!(plots.join("curve-loss.svg").exists() && plots.join("curve-kl.svg").exists());
    assert!(!plots.join("curve-true_reward.svg").exists());
    assert!(!plots.join("curve-validation_loss.svg").exists());
    assert!(!plots.join("compare-accuracy.svg").exists());
    // The same sweep prints a table without --json.
    let table = dpo(&["sweep", "preset:gamma-sweep", "--steps", "5"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("setting"), "{table}");
    assert!(table.contains("DPO (gamma_over_beta = 20)"), "{table}");
    // A bad sweep is a bad scenario: status 2, the field named.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "B"}],
            "sweep": {"axes": [{"field": "bta", "values": [1]}]}}"#,
    )
    .unwrap();
    let out = dpo(&["sweep", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("sweep.axes[0].field: unknown field \"bta\" (did you mean \"beta\"?"));
}

/// With a ground-truth reward `dpo sweep --plots` draws the reward–KL frontier (its legend laid
/// out with the bundled font's widths: one entry per template and value of the other axes, side
/// by side, not drawn over each other), and with two axes a heat map per metric.
#[test]
fn sweep_draws_the_frontier_and_heat_maps() {
    let dir = temp_dir("frontier");
    let plots = dir.join("plots");
    dpo_ok(&[
        "sweep",
        "preset:frontier",
        "--steps",
        "30",
        "--plots",
        plots.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(plots.join("frontier.svg")).unwrap();
    let texts = svg_texts(&svg);
    let x_of = |words: &str| {
        texts
            .iter()
            .find(|(_, text)| text == words)
            .unwrap_or_else(|| panic!("no text {words:?} in {texts:?}"))
            .0
    };
    assert!(
        texts[0].1.starts_with("reward–KL frontier over beta"),
        "{texts:?}"
    );
    x_of("expected true reward");
    x_of("KL to the reference");
    let first = x_of("logistic, m = 0 (gamma_over_beta = 0)");
    let second = x_of("logistic, m = 0 (gamma_over_beta = 1)");
    assert!(
        second > first + 150.0,
        "legend entries at {first} and {second}"
    );

    // Two axes (beta, gamma / beta): a heat map per metric, a panel per template, a cell per
    // setting labelled with its mean, which is the JSON report's mean.
    let svg = std::fs::read_to_string(plots.join("heat-final-kl.svg")).unwrap();
    let texts: Vec<String> = svg_texts(&svg).into_iter().map(|(_, text)| text).collect();
    assert!(
        texts[0].starts_with("KL(π ‖ π0) over beta and gamma_over_beta"),
        "{texts:?}"
    );
    assert!(texts.contains(&"logistic, m = 1".to_string()), "{texts:?}");
    let report = dpo(&["sweep", "preset:frontier", "--steps", "30", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let settings = report["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 20);
    for setting in settings {
        let mean = setting["final"]["kl"]["mean"].as_f64().unwrap();
        let label = dpo_playground::plot::tick_label(mean);
        assert!(texts.contains(&label), "no cell {label} in {texts:?}");
    }
}

/// With held-out pairs `dpo sweep --plots` sets each setting's replicates at the end beside the
/// same replicates early-stopped (a dot each), and draws their course over training; without
/// them (gamma-sweep, tested above) there is no such chart.
#[test]
fn sweep_compares_final_and_early_stopped_replicates() {
    let dir = temp_dir("compare");
    let plots = dir.join("plots");
    let out = dpo_ok(&[
        "sweep",
        "preset:luck-and-tuning",
        "--steps",
        "40",
        "--every",
        "8",
        "--plots",
        plots.to_str().unwrap(),
    ]);
    let svg = std::fs::read_to_string(plots.join("compare-validation_accuracy.svg")).unwrap();
    let document = roxmltree::Document::parse(&svg).unwrap();
    let dots = document
        .descendants()
        .filter(|node| node.has_tag_name("circle"))
        .count();
    assert_eq!(
        dots,
        2 * 32,
        "a dot per replicate, at the end and early-stopped"
    );
    assert!(svg.contains("early-stopped"));
    assert!(plots.join("curve-validation_accuracy.svg").exists());
    assert!(plots.join("curve-true_reward.svg").exists());
    // One setting, no axis: no chart against a setting, and a note that says so.
    assert!(!plots.join("final-accuracy.svg").exists());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no numeric axis to plot against"));
}
