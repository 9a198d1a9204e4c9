//! The `dpo` command line, run as a user runs it.

use std::process::{Command, Output};

fn dpo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dpo"))
        .args(args)
        .output()
        .expect("dpo runs")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dpo-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_json_follows_the_spec_contract() {
    let out = dpo(&["run", "presets/default.json", "--steps", "25", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert!(String::from_utf8_lossy(&flag.stderr).contains("unknown option --stepz"));
}

#[test]
fn csv_and_plots_are_written() {
    let dir = temp_dir("outputs");
    let csv = dir.join("metrics.csv");
    let plots = dir.join("plots");
    let out = dpo(&[
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("run,step,loss,accuracy"));
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
fn check_presets_and_help() {
    let out = dpo(&["check", "preset:simpo"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 outputs, 4 pairs, 3 runs"));
    let list = String::from_utf8_lossy(&dpo(&["presets"]).stdout).to_string();
    assert_eq!(list.lines().count(), 7);
    let help = String::from_utf8_lossy(&dpo(&["--help"]).stdout).to_string();
    for option in [
        "--steps",
        "--json",
        "--csv",
        "--every",
        "--plots",
        "--format",
        "--workload",
    ] {
        assert!(help.contains(option), "help explains {option}");
    }
}

#[test]
fn bench_reports_every_workload() {
    let out = dpo(&["bench", "--json", "--workload", "classroom"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
