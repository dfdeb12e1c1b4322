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
    /// Benchmarks (criterion): `rule` (one event parsed and evaluated).
    Bench {
        /// Which part to benchmark.
        #[arg(default_value = "rule")]
        target: BenchTarget,
        /// Extra arguments for criterion (after --), e.g. `-- --measurement-time 10`.
        #[arg(last = true)]
        criterion_args: Vec<String>,
    },
    /// The demo on a local AWS.
    Demo,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BenchTarget {
    Rule,
    Aggregator,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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

fn test() -> anyhow::Result<()> {
    let cargo = cargo();
    ensure_component("fmt", "rustfmt")?;
    ensure_component("clippy", "clippy")?;
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
    let totals = run_tests(&cargo, &["test", "--workspace", "--all-targets", "--locked"])?;
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

/// Runs `cargo test`, echoing its output, and adds up the `test result:` lines of every binary.
fn run_tests(program: &str, args: &[&str]) -> anyhow::Result<Totals> {
    use std::io::{BufRead, BufReader};
    eprintln!("==> {program} {}", args.join(" "));
    let mut child = loopback_only(&mut Command::new(program))
        .args(args)
        .current_dir(workspace_root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut totals = Totals::default();
    let stdout = child.stdout.take().context("test output")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading test output")?;
        println!("{line}");
        if let Some(summary) = line.strip_prefix("test result: ") {
            let count = |label: &str| {
                summary
                    .split(['.', ';'])
                    .map(str::trim)
                    .find_map(|part| part.strip_suffix(label)?.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            totals.passed += count("passed");
            totals.failed += count("failed");
            totals.ignored += count("ignored");
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
        BenchTarget::Aggregator => {
            bail!("the aggregator is not built yet, so it has no benchmark yet")
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Test => test(),
        Task::Bench {
            target,
            criterion_args,
        } => bench(target, &criterion_args),
        Task::Demo => Err(anyhow::anyhow!(
            "the demo needs the local AWS and the rule Lambda, which are not built yet; \
             `cargo run -p rule -- catalog` and `rule evaluate --offline` work today (see README.md)"
        )),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
