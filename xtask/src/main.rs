//! `cargo xtask <task>`: building the wasm bundle, serving the page, writing the static site and
//! running every test, with nothing installed globally but Rust (and Node.js for the browser tests).

mod minify;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const HELP: &str = "\
cargo xtask <task>

TASKS:
    setup            install what the tests need and this machine lacks: Debian packages (when
                     root), the wasm target, the npm lock file's packages (`test` runs it first)
    build            build the wasm crate twice (profile `web`: release, optimised for size), the
                     page's module and its WebGPU module, and their JS bindings into www/pkg/
    serve [--port N] [--dist]
                     build, then serve the playground on http://127.0.0.1:N/ (default 8000):
                     the sources as written, or with --dist the site as dist/ ships it
    dist             build, then write a self-contained static site to dist/ (its JavaScript
                     minified, its wasm shaped for gzip by binaryen: needs Node.js with npm)
    test             setup, then every test: cargo tests, the GPU parity tests on whatever
                     adapter there is, then the browser tests in headless Chromium
    bench            dpo bench on the CPU (and the GPU when built with it)
    bench --browser  the CPU engine's step in wasm (headless Chromium) beside the same step
                     natively, per workload, with their ratio (bench/browser.mjs)
    mutants [ARGS]   cargo mutants over src/engine and src/scenario (.cargo/mutants.toml; ARGS
                     go to cargo mutants, e.g. --file src/engine/predict.rs or --shard 1/4),
                     then the score: caught / (caught + missed + timeouts)
    fuzz [--cases N] [--seed S]
                     the property tests (tests/properties.rs, tests/estimate.rs) with many
                     cases (default 20000) and a fresh seed (printed, to replay a failure)
    soak [--minutes M] [--steps N]
                     soak benchmark: `dpo run` for N steps (default 10^7) with --csv, then the
                     page training for M minutes (default 10) on each backend; prints memory

ENVIRONMENT:
    DPO_SKIP_BROWSER=1   `test` runs only the cargo tests (for machines without Chromium)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(true),
        Some("build") => build().map(|_| ()),
        Some("serve") => serve_command(&args[1..]),
        Some("dist") => dist().map(|_| ()),
        Some("test") => test(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("mutants") => mutants(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "--browser") => bench_browser(),
        Some("bench") => {
            run(Command::new(cargo()).args(["run", "--release", "--bin", "dpo", "--", "bench"]))
        }
        Some("help" | "--help" | "-h") | None => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of xtask/).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs a command in the workspace root; an error unless it succeeds.
fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

/// Adds the wasm target when rustup has not installed it yet (rust-toolchain.toml names it, but
/// rustup only installs it when a command installs the toolchain, and auto-install may be off).
fn ensure_wasm_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(output)
            if String::from_utf8_lossy(&output.stdout).contains("wasm32-unknown-unknown") =>
        {
            Ok(())
        }
        Ok(_) => run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"])),
        // Without rustup the toolchain is managed some other way; let cargo say if it lacks the target.
        Err(_) => Ok(()),
    }
}

/// Builds the wasm crate twice and writes `www/pkg/`; returns that folder. The page loads
/// `dpo_playground` (the engine, the charts and the page's bindings, CPU only) at once, and
/// `dpo_gpu` (the WebGPU backend: `wgpu` and the kernels, feature `gpu`) only when WebGPU is
/// chosen, so a page that trains on the CPU never fetches the GPU code (ARCHITECTURE.md,
/// "Two wasm modules").
fn build() -> Result<PathBuf, String> {
    ensure_wasm_target()?;
    let root = root();
    let out = root.join("www/pkg");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut sizes = Vec::new();
    for (name, features) in [("dpo_playground", None), ("dpo_gpu", Some("gpu"))] {
        let mut command = Command::new(cargo());
        command.args([
            "build",
            "--profile",
            "web",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--package",
            "dpo-playground",
        ]);
        if let Some(features) = features {
            command.args(["--features", features]);
        }
        run(&mut command)?;
        // Each build replaces the same artifact: bind it before the next build.
        let wasm = root.join("target/wasm32-unknown-unknown/web/dpo_playground.wasm");
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&wasm)
            .out_name(name)
            .web(true)
            .map_err(|e| format!("wasm-bindgen: {e}"))?
            .typescript(false)
            .generate(&out)
            .map_err(|e| format!("wasm-bindgen: {e}"))?;
        // The module keeps its name section (profile `web` does not strip it): the served
        // sources give readable stack traces, wasm-bindgen reads the target features, and
        // `dist` orders the functions by name before it strips them ([`shrink_wasm`]).
        let generated = out.join(format!("{name}_bg.wasm"));
        let size = std::fs::metadata(&generated).map(|m| m.len()).unwrap_or(0);
        // With the name section, which `dist` strips (`shrink_wasm`).
        sizes.push(format!("{name} {} KB with its names", size / 1024));
    }
    // The presets' files, which the page fetches one at a time as it loads them (the engine's
    // module lists them by id and title, and holds only the default's text).
    copy_dir(&root.join("presets"), &out.join("presets"))?;
    eprintln!("xtask: wrote {} ({})", out.display(), sizes.join(", "));
    Ok(out)
}

/// Builds and writes the static site to `dist/`.
fn dist() -> Result<PathBuf, String> {
    // binaryen's wasm-opt (an npm package of the lock file) shrinks the shipped modules.
    install_npm_packages()?;
    build()?;
    let root = root();
    let dist = root.join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).map_err(|e| e.to_string())?;
    // The full page and the iframe route (embed.html); `www/` holds everything they load.
    for page in ["index.html", "embed.html"] {
        std::fs::copy(root.join(page), dist.join(page)).map_err(|e| format!("{page}: {e}"))?;
    }
    copy_dir(&root.join("www"), &dist.join("www"))?;
    eprintln!("xtask: wrote {}", dist.display());
    Ok(dist)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if entry.path().extension().is_some_and(|e| e == "wasm") {
            shrink_wasm(&entry.path(), &target)?;
        } else if let Some(minified) = minify::shipped(&entry.path())? {
            // The shipped JavaScript and CSS are minified (xtask/src/minify.rs).
            std::fs::write(&target, minified).map_err(|e| format!("{}: {e}", target.display()))?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The wasm module at `from` as the site ships it, written to `to`: binaryen's `wasm-opt` with
/// the passes that make it smallest gzipped, then without its name section. Measured on the
/// page's module (README, "Size"): its functions ordered by name put the many copies of one
/// generic function (iterator adapters, `Vec` code monomorphised per type) side by side, where
/// gzip's window finds their likeness, 3.4 KB of about 208 less; `-O1` and the dead argument,
/// code folding and redundant set passes take 2.6 KB more. Not `-Oz`: it makes the module 10%
/// smaller but gzip 5% larger (its inlining and function reordering undo the likeness).
fn shrink_wasm(from: &Path, to: &Path) -> Result<(), String> {
    let wasm_opt = root().join("node_modules/binaryen/bin/wasm-opt");
    run(Command::new("node")
        .arg(&wasm_opt)
        .arg(from)
        .arg("-o")
        .arg(to)
        // The features the module is built with (.cargo/config.toml, and the target's defaults).
        .args([
            "--enable-simd",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-multivalue",
            "--enable-reference-types",
        ])
        .args(["-O1", "--dae-optimizing", "--code-folding", "--rse"])
        .args([
            "--reorder-functions-by-name",
            "--strip-debug",
            "--strip-producers",
        ]))
}

fn serve_command(args: &[String]) -> Result<(), String> {
    let mut port = 8000u16;
    let mut shipped = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--port" => {
                port = iter
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port needs a number")?
            }
            "--dist" => shipped = true,
            other => return Err(format!("unknown serve option {other:?}")),
        }
    }
    // The sources as written, or with `--dist` the site as `dist` ships it (minified).
    let served = if shipped {
        dist()?
    } else {
        build().map(|_| root())?
    };
    let server = serve::Server::bind(served, port)?;
    // 127.0.0.1 is a secure context, which WebGPU needs.
    println!("dpo-playground: http://127.0.0.1:{}/", server.port());
    server.run_forever();
    Ok(())
}

/// Installs what the tests need and this machine lacks, in one place (`.ci/run` runs `test`,
/// which starts here): the Debian packages (see [`install_debian_packages`]), the wasm target,
/// and, for the browser tests, the npm lock file's packages.
fn setup(browser: bool) -> Result<(), String> {
    install_debian_packages(browser)?;
    ensure_wasm_target()?;
    if browser {
        install_npm_packages()?;
    }
    Ok(())
}

/// Debian packages the tests need: Mesa's Vulkan driver (llvmpipe, a GPU adapter on the CPU for
/// the GPU backend's parity tests), Chromium (with SwiftShader's WebGPU), the Liberation fonts
/// (the page's layout was measured with them) and Node.js with npm. Installed with apt-get,
/// without recommended packages, when missing and this is root on Debian; otherwise a clear
/// error naming them.
fn install_debian_packages(browser: bool) -> Result<(), String> {
    let installed = |package: &str| {
        Command::new("dpkg")
            .args(["-s", package])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let mut missing = Vec::new();
    if !installed("mesa-vulkan-drivers")
        && !Path::new("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json").exists()
    {
        missing.push("mesa-vulkan-drivers");
    }
    if browser && !Path::new("/usr/bin/chromium").exists() {
        missing.push("chromium");
    }
    if browser && !installed("fonts-liberation") {
        missing.push("fonts-liberation");
    }
    if browser && Command::new("node").arg("--version").output().is_err() {
        missing.push("nodejs");
    }
    if browser && Command::new("npm").arg("--version").output().is_err() {
        missing.push("npm");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if !is_root || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!(
            "the tests need {} (on Debian: apt-get install --no-install-recommends {})",
            missing.join(", "),
            missing.join(" ")
        ));
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// The npm lock file's packages (playwright-core drives Chromium, axe-core audits the page's
/// accessibility, binaryen shrinks the shipped wasm), installed with `npm ci` unless every one
/// is already there.
fn install_npm_packages() -> Result<(), String> {
    let installed = ["playwright-core", "axe-core", "binaryen"]
        .iter()
        .all(|package| root().join("node_modules").join(package).exists());
    if installed {
        return Ok(());
    }
    if Command::new("npm").arg("--version").output().is_err() {
        return Err(
            "the site's build and the browser tests need Node.js with npm (on Debian: \
                    apt-get install --no-install-recommends nodejs npm)"
                .to_string(),
        );
    }
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]))
}

fn test() -> Result<(), String> {
    let browser = std::env::var_os("DPO_SKIP_BROWSER").is_none();
    setup(browser)?;
    run(Command::new(cargo()).args(["test", "--release", "--workspace"]))?;
    // The GPU backend against the CPU engine, on whatever adapter there is (llvmpipe in CI). These
    // tests fail, not skip, without an adapter.
    // With them, the naga check of every kernel's structs, bindings and constants.
    run(Command::new(cargo()).args([
        "test",
        "--release",
        "--features",
        "gpu",
        "--test",
        "gpu",
        "--test",
        "shader_layout",
    ]))?;
    if !browser {
        eprintln!("xtask: DPO_SKIP_BROWSER is set: the browser tests did not run");
        return Ok(());
    }
    let base = serve_site_for_node()?;
    run(Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/e2e/"])
        .env("DPO_BASE_URL", &base))
}

/// Builds the static site and serves it on a free port in the background; returns its base URL
/// (for the browser scripts).
fn serve_site_for_node() -> Result<String, String> {
    let dist = dist()?;
    let server = serve::Server::bind(dist, 0)?;
    let base = format!("http://127.0.0.1:{}/", server.port());
    std::thread::spawn(move || server.run_forever());
    Ok(base)
}

/// The wasm step against the native one (bench/browser.mjs), on the release `dpo` and the site.
fn bench_browser() -> Result<(), String> {
    setup(true)?;
    run(Command::new(cargo()).args(["build", "--release", "--bin", "dpo"]))?;
    let base = serve_site_for_node()?;
    run(Command::new("node")
        .arg("bench/browser.mjs")
        .env("DPO_BASE_URL", &base)
        .env("DPO_BIN", root().join("target/release/dpo")))
}

/// The value after `flag` in `args`, parsed; `default` without it.
fn option<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

/// `cargo mutants` with the project's configuration, then the score from its outcome lists.
fn mutants(args: &[String]) -> Result<(), String> {
    let installed = Command::new(cargo())
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        return Err("cargo-mutants is not installed: cargo install cargo-mutants --locked".into());
    }
    // cargo mutants exits non-zero when a mutant is missed: the score says how many.
    let named_files = args.iter().any(|a| a == "-f" || a.starts_with("--file"));
    let files: &[&str] = if named_files {
        &[]
    } else {
        &[
            "--file",
            "src/engine/**/*.rs",
            "--file",
            "src/scenario/**/*.rs",
        ]
    };
    let _ = Command::new(cargo())
        .args(["mutants", "--no-shuffle"])
        .args(files)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start cargo mutants: {e}"))?;
    let count = |name: &str| {
        std::fs::read_to_string(root().join("mutants.out").join(name)).map_or(0, |text| {
            text.lines().filter(|l| !l.trim().is_empty()).count()
        })
    };
    let (caught, missed, timeout, unviable) = (
        count("caught.txt"),
        count("missed.txt"),
        count("timeout.txt"),
        count("unviable.txt"),
    );
    let viable = caught + missed + timeout;
    if viable == 0 {
        return Err("no viable mutant was tested (see mutants.out/)".into());
    }
    println!(
        "mutants: {caught} caught, {missed} missed, {timeout} timed out, {unviable} unviable; \
         score {:.1}% of {viable} viable (missed ones: mutants.out/missed.txt)",
        100.0 * caught as f64 / viable as f64
    );
    Ok(())
}

/// The property tests with many cases and a fresh seed. cargo-fuzz needs a nightly toolchain,
/// which this project does not assume; proptest's generators and mutations run on stable.
fn fuzz(args: &[String]) -> Result<(), String> {
    let fresh = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let cases: u64 = option(args, "--cases", 20_000)?;
    let seed: u64 = option(args, "--seed", fresh)?;
    eprintln!("xtask: property tests, {cases} cases each, seed {seed} (replay with --seed {seed})");
    run(Command::new(cargo())
        .args([
            "test",
            "--release",
            "--test",
            "properties",
            "--test",
            "estimate",
        ])
        .env("PROPTEST_CASES", cases.to_string())
        .env("PROPTEST_RNG_SEED", seed.to_string()))
}

/// The soak benchmark: builds the release `dpo` and the static site, serves it, and runs
/// `bench/soak.mjs`, which prints the figures.
fn soak(args: &[String]) -> Result<(), String> {
    let minutes: f64 = option(args, "--minutes", 10.0)?;
    let steps: u64 = option(args, "--steps", 10_000_000)?;
    setup(true)?;
    run(Command::new(cargo()).args(["build", "--release", "--bin", "dpo"]))?;
    let base = serve_site_for_node()?;
    run(Command::new("node")
        .arg("bench/soak.mjs")
        .env("DPO_BASE_URL", &base)
        .env("DPO_BIN", root().join("target/release/dpo"))
        .env("DPO_SOAK_MINUTES", minutes.to_string())
        .env("DPO_SOAK_STEPS", steps.to_string()))
}
