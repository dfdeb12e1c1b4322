//! Project tasks, in Rust so that a fresh machine needs nothing but cargo: `cargo xtask --help`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project tasks: test, bench, demo")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Everything CI checks: rustfmt, clippy (warnings denied), every test.
    Test,
    /// Benchmarks: `rule` (criterion: one event parsed and evaluated), `localaws` (start, seeding).
    Bench {
        /// Which part to benchmark.
        #[arg(default_value = "rule")]
        target: BenchTarget,
        /// Extra arguments for criterion (after --), e.g. `-- --measurement-time 10`.
        #[arg(last = true)]
        criterion_args: Vec<String>,
    },
    /// Lambda bootstrap zips for arm64 and x86_64 (cargo-lambda), their sizes and cold-start time.
    Lambda,
    /// The demo on a local AWS.
    Demo,
    /// Run the local AWS (moto server + this project's extensions) in the foreground on 127.0.0.1.
    Localaws {
        /// Port to listen on (default: a free one, printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BenchTarget {
    Rule,
    Aggregator,
    Localaws,
}

fn workspace_root() -> PathBuf {
    // `cargo xtask` sets CARGO_MANIFEST_DIR when it runs us: prefer it to the compile-time value, which
    // names another checkout when a target directory is shared between clones and the binary reused.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Every command we start talks to loopback only: no instance-metadata look-ups, dummy
/// credentials and a region, so that no AWS SDK default chain reaches off this machine.
fn loopback_only(command: &mut Command) -> &mut Command {
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("==> {program} {}", args.join(" "));
    let status = loopback_only(&mut Command::new(program))
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// rustfmt and clippy come with the toolchain; add them when a minimal profile left them out.
fn ensure_component(probe: &str, component: &str) -> anyhow::Result<()> {
    let present = Command::new(cargo())
        .args([probe, "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        run("rustup", &["component", "add", component])?;
    }
    Ok(())
}

/// Pinned Python requirements: the local AWS and its tests, then the Athena queries' tests.
const PYTHON_REQUIREMENTS: [&str; 2] = ["tests/localaws/requirements.txt", "tests/sql/requirements.txt"];

/// The project's Python environment (.venv at the root) with the pinned requirements. Rebuilt only
/// when the requirements change (a copy of them is kept inside the venv as a stamp).
fn python_env() -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let mut wanted = String::new();
    for file in PYTHON_REQUIREMENTS {
        wanted += &std::fs::read_to_string(root.join(file)).with_context(|| format!("reading {file}"))?;
    }
    let stamp = venv.join("requirements.stamp");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let system_python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        &system_python,
        &["-m", "venv", venv.to_str().context("venv path")?],
    )?;
    let python_str = python.to_str().context("python path")?;
    let mut pip = vec!["-m", "pip", "install", "--quiet", "--disable-pip-version-check"];
    let paths: Vec<PathBuf> = PYTHON_REQUIREMENTS.iter().map(|file| root.join(file)).collect();
    for path in &paths {
        pip.extend(["-r", path.to_str().context("requirements path")?]);
    }
    run(python_str, &pip)?;
    std::fs::write(&stamp, wanted).context("writing the venv stamp")?;
    Ok(python)
}

/// cargo-lambda (PyPI; brings zig for cross-linking), pinned, in the project's own environment.
const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";

fn lambda() -> anyhow::Result<()> {
    let python = python_env()?;
    let bin = python.parent().context("venv bin")?.to_path_buf();
    let cargo_lambda = bin.join("cargo-lambda");
    if !cargo_lambda.exists() {
        run(
            python.to_str().context("python path")?,
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                CARGO_LAMBDA,
            ],
        )?;
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let root = workspace_root();
    let mut report = Vec::new();
    for (arch_flag, arch) in [("--arm64", "arm64"), ("--x86-64", "x86_64")] {
        let out_dir = root.join("target/lambda").join(arch);
        eprintln!("==> cargo lambda build --release {arch_flag} --output-format zip -p rule -p aggregator");
        let status = loopback_only(&mut Command::new(&cargo_lambda))
            .args([
                "lambda",
                "build",
                "--release",
                arch_flag,
                "--output-format",
                "zip",
                "-p",
                "rule",
                "-p",
                "aggregator",
                "--lambda-dir",
            ])
            .arg(&out_dir)
            .env("PATH", &path)
            .current_dir(&root)
            .status()
            .context("running cargo-lambda")?;
        if !status.success() {
            bail!("cargo lambda build {arch_flag} failed ({status})");
        }
        for function in ["rule", "aggregator"] {
            let zip = out_dir.join(function).join("bootstrap.zip");
            let size = std::fs::metadata(&zip)
                .with_context(|| format!("{}", zip.display()))?
                .len();
            report.push(format!(
                "{arch}: {} ({:.2} MiB)",
                zip.display(),
                size as f64 / 1_048_576.0
            ));
        }
    }
    // Cold start on the local Runtime API, with the binary this machine can run.
    let bootstrap = root.join("target/lambda/x86_64/rule/bootstrap");
    if !bootstrap.exists() {
        // Python's zipfile module: no unzip binary needed on a fresh machine.
        let zip = root.join("target/lambda/x86_64/rule/bootstrap.zip");
        let dir = root.join("target/lambda/x86_64/rule");
        let python = python.to_str().context("python path")?;
        run(
            python,
            &[
                "-m",
                "zipfile",
                "-e",
                zip.to_str().context("zip path")?,
                dir.to_str().context("dir")?,
            ],
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755))?;
    }
    let output = loopback_only(&mut Command::new(&python))
        .args([
            "coldstart.py",
            bootstrap.to_str().context("bootstrap path")?,
            "--runs",
            "7",
        ])
        .current_dir(root.join("tests/localaws"))
        .output()
        .context("running coldstart.py")?;
    if !output.status.success() {
        bail!("coldstart.py failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    for line in &report {
        println!("{line}");
    }
    print!("cold start (x86_64): {}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}

/// The demo: builds the rule, then runs tests/src/bin/demo.rs against a fresh local AWS.
fn demo() -> anyhow::Result<()> {
    python_env()?;
    let cargo = cargo();
    run(
        &cargo,
        &["build", "--quiet", "--locked", "-p", "rule", "-p", "aggregator"],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let rule = target.join("debug/rule");
    let aggregator = target.join("debug/aggregator");
    run(
        &cargo,
        &[
            "run",
            "--quiet",
            "--locked",
            "-p",
            "e2e",
            "--bin",
            "demo",
            "--",
            rule.to_str().context("rule path")?,
            aggregator.to_str().context("aggregator path")?,
        ],
    )
}

fn localaws(port: u16) -> anyhow::Result<()> {
    let python = python_env()?;
    let status = loopback_only(&mut Command::new(&python))
        .args(["-m", "localaws", "--port", &port.to_string()])
        .current_dir(workspace_root().join("tests/localaws"))
        .status()
        .context("starting the local AWS")?;
    if !status.success() {
        bail!("the local AWS exited with {status}");
    }
    Ok(())
}

fn test() -> anyhow::Result<()> {
    let cargo = cargo();
    ensure_component("fmt", "rustfmt")?;
    ensure_component("clippy", "clippy")?;
    let python = python_env()?;
    run(&cargo, &["fmt", "--all", "--check"])?;
    run(
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let python = python.to_str().context("python path")?;
    // Everything `cargo test` builds, built once up front with the same features (a narrower build
    // would resolve other features and make the next one rebuild).
    run(&cargo, &["build", "--workspace", "--all-targets", "--locked"])?;
    let mut totals = run_tests_in(
        python,
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        &workspace_root().join("tests/localaws"),
        &[],
    )?;
    // The Athena queries over snapshots the aggregator binary writes.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let aggregator = target.join("debug/aggregator");
    let queries = run_tests_in(
        python,
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/sql"],
        &workspace_root(),
        &[("AGGREGATOR_BIN", aggregator.to_str().context("aggregator path")?)],
    )?;
    totals.passed += queries.passed;
    totals.failed += queries.failed;
    totals.ignored += queries.ignored;
    let rust = run_tests_in(
        &cargo,
        &["test", "--workspace", "--all-targets", "--locked"],
        &workspace_root(),
        &[],
    )?;
    totals.passed += rust.passed;
    totals.failed += rust.failed;
    totals.ignored += rust.ignored;
    eprintln!("==> all checks passed");
    // A plain closing line, so the totals are not lost among the per-binary summaries.
    println!(
        "{} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    Ok(())
}

#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

/// The counts part of a runner's closing line: cargo's `test result: ok. 3 passed; 0 failed; ...`
/// or pytest's `17 passed, 1 skipped in 14.89s`.
fn summary_line(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix("test result: ") {
        return Some(rest);
    }
    let trimmed = line.trim().trim_matches('=').trim();
    let (counts, _duration) = trimmed.rsplit_once(" in ")?;
    let looks_like_counts = counts.split(", ").all(|part| {
        part.split_once(' ')
            .is_some_and(|(n, _)| n.parse::<u64>().is_ok())
    });
    (looks_like_counts && (counts.contains(" passed") || counts.contains(" failed"))).then_some(counts)
}

/// Runs `cargo test`, echoing its output, and adds up the `test result:` lines of every binary.
/// Runs a test runner (cargo test or pytest), echoing its output, and adds up its summary lines:
/// cargo's `test result: ok. N passed; M failed; K ignored` and pytest's `N passed, M failed, K skipped in 1.2s`.
fn run_tests_in(program: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Totals> {
    use std::io::{BufRead, BufReader};
    eprintln!("==> {program} {}", args.join(" "));
    let mut child = loopback_only(&mut Command::new(program))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut totals = Totals::default();
    let stdout = child.stdout.take().context("test output")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading test output")?;
        println!("{line}");
        let summary = summary_line(&line);
        if let Some(summary) = summary {
            let count = |label: &str| {
                summary
                    .split(['.', ';', ','])
                    .map(str::trim)
                    .find_map(|part| part.strip_suffix(label)?.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            totals.passed += count("passed");
            totals.failed += count("failed");
            totals.ignored += count("ignored") + count("skipped");
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() || totals.failed > 0 {
        bail!(
            "tests failed: {} passed, {} failed ({status})",
            totals.passed,
            totals.failed
        );
    }
    if totals.passed == 0 {
        bail!("no test ran");
    }
    Ok(totals)
}

fn bench(target: BenchTarget, criterion_args: &[String]) -> anyhow::Result<()> {
    match target {
        BenchTarget::Rule => {
            let mut args = vec!["bench", "--locked", "-p", "rule", "--bench", "evaluate", "--"];
            args.extend(criterion_args.iter().map(String::as_str));
            run(&cargo(), &args)
        }
        BenchTarget::Localaws => {
            let python = python_env()?;
            let mut args = vec!["bench.py"];
            args.extend(criterion_args.iter().map(String::as_str));
            eprintln!("==> local AWS: start to ready, seeding (accounts x functions)");
            let status = loopback_only(&mut Command::new(&python))
                .args(&args)
                .current_dir(workspace_root().join("tests/localaws"))
                .status()
                .context("running tests/localaws/bench.py")?;
            if !status.success() {
                bail!("bench.py failed ({status})");
            }
            Ok(())
        }
        BenchTarget::Aggregator => bench_aggregator(criterion_args),
    }
}

/// Parquet encoding of 1 M synthetic rows by the release aggregator (streaming, bounded memory)
/// against pyarrow writing the same rows with the same codec and row groups, in the same run.
fn bench_aggregator(args: &[String]) -> anyhow::Result<()> {
    let rows = args.first().map_or("1000000", String::as_str);
    let python = python_env()?;
    let cargo = cargo();
    run(&cargo, &["build", "--release", "--locked", "-p", "aggregator"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let out = target.join("bench-aggregator");
    let binary = target.join("release/aggregator");
    let measure = |program: &Path, args: &[&str]| -> anyhow::Result<serde_json::Value> {
        let output = loopback_only(&mut Command::new(program))
            .args(args)
            .current_dir(workspace_root())
            .output()
            .with_context(|| format!("running {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "{} failed: {}",
                program.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        serde_json::from_slice(&output.stdout).context("reading the benchmark's JSON")
    };
    let out_str = out.to_str().context("output path")?;
    let rust = measure(&binary, &["bench-encode", "--rows", rows, "--output", out_str])?;
    let rust_file = out.join("rust.parquet");
    let pyarrow = measure(
        &python,
        &[
            "tests/sql/bench_encode.py",
            rust_file.to_str().context("file path")?,
        ],
    )?;
    let line = |name: &str, v: &serde_json::Value| {
        println!(
            "{name:8} {:>9} rows  {:>10.0} rows/s  peak RSS {:>7.1} MiB  file {:>6.1} MiB",
            v["rows"],
            v["rows_per_second"].as_f64().unwrap_or(0.0),
            v["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
            v["file_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0,
        )
    };
    line("rust", &rust);
    line("pyarrow", &pyarrow);
    let rate = |key: &str| rust[key].as_f64().unwrap_or(0.0);
    println!(
        "rust: Arrow → Parquet alone {:.0} rows/s (pyarrow's write_table starts from Arrow too); \
         rows → Arrow {:.2} s of {:.2} s; with making the synthetic rows: {:.0} rows/s",
        rate("to_parquet_rows_per_second"),
        rate("to_arrow_seconds"),
        rate("seconds"),
        rate("with_row_making_rows_per_second")
    );
    println!("{}", serde_json::json!({"rust": rust, "pyarrow": pyarrow}));
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Test => test(),
        Task::Bench {
            target,
            criterion_args,
        } => bench(target, &criterion_args),
        Task::Localaws { port } => localaws(port),
        Task::Lambda => lambda(),
        Task::Demo => demo(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
