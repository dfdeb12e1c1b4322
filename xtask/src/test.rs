//! `cargo xtask test`: every check CI runs.

use std::path::Path;

use anyhow::{Context, bail};

use crate::util::{cargo, command, ensure_component, python_env, run, target_dir, workspace_root};

pub fn test() -> anyhow::Result<()> {
    let cargo = cargo();
    let root = workspace_root();
    // Generated files first: a stale contract would make every later check test the wrong thing.
    crate::codegen::codegen(true)?;
    ensure_component("fmt", "rustfmt")?;
    ensure_component("clippy", "clippy")?;
    let python = python_env()?;
    let python = python.to_str().context("python path")?;
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
    // Everything `cargo test` builds, built once up front with the same features (a narrower build
    // would resolve other features and make the next one rebuild).
    run(&cargo, &["build", "--workspace", "--all-targets", "--locked"])?;
    let target = target_dir();
    let binary = |name: &str| target.join("debug").join(name).display().to_string();
    let (rule, aggregator) = (binary("rule"), binary("aggregator"));
    let pytest =
        |dir: &str| [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", dir].map(str::to_string);
    let mut totals = Totals::default();
    // The local AWS's own suite, then the runbooks (linter and scenarios) on it.
    totals.add(run_tests_in(
        python,
        &pytest("tests")[1..],
        &root.join("tests/localaws"),
        &[],
    )?);
    totals.add(run_tests_in(
        python,
        &pytest("tests/runbooks")[1..],
        &root,
        &[("RULE_BIN", &rule)],
    )?);
    // The Athena queries over snapshots the aggregator binary writes.
    totals.add(run_tests_in(
        python,
        &pytest("tests/sql")[1..],
        &root,
        &[("AGGREGATOR_BIN", &aggregator)],
    )?);
    // The CDK app: its own tests (tsc, Template assertions, cdk-nag), then its templates linted
    // and deployed on the local AWS.
    let cdk = root.join("cdk");
    run_in(
        "npm",
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
        &cdk,
    )?;
    totals.add(run_tests_in("npm", &["test".to_string()], &cdk, &[])?);
    totals.add(run_tests_in(
        python,
        &pytest("tests/deploy")[1..],
        &root,
        &[("AGGREGATOR_BIN", &aggregator), ("RULE_BIN", &rule)],
    )?);
    totals.add(run_tests_in(
        &cargo,
        &["test", "--workspace", "--all-targets", "--locked"].map(str::to_string),
        &root,
        &[],
    )?);
    eprintln!("==> all checks passed");
    // A plain closing line, so the totals are not lost among the per-binary summaries.
    println!(
        "{} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    Ok(())
}

fn run_in(program: &str, args: &[&str], dir: &Path) -> anyhow::Result<()> {
    eprintln!("==> {program} {} (in {})", args.join(" "), dir.display());
    let status = command(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
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

/// Runs a test runner (cargo test or pytest), echoing its output, and adds up its summary lines:
/// cargo's `test result: ok. N passed; M failed; K ignored` and pytest's `N passed, M failed, K skipped in 1.2s`.
fn run_tests_in(program: &str, args: &[String], dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Totals> {
    use std::io::{BufRead, BufReader};
    eprintln!("==> {program} {}", args.join(" "));
    let mut child = command(program)
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
        // node's test runner: `ℹ pass 23`, `ℹ fail 0`, `ℹ skipped 1` (spec reporter) or `# pass 23` (TAP).
        let node = line
            .trim_start_matches(['ℹ', '#', ' '])
            .split_once(' ')
            .and_then(|(label, n)| Some((label, n.trim().parse::<u64>().ok()?)));
        match node {
            Some(("pass", n)) if line.starts_with(['ℹ', '#']) => totals.passed += n,
            Some(("fail", n)) if line.starts_with(['ℹ', '#']) => totals.failed += n,
            Some(("skipped", n)) if line.starts_with(['ℹ', '#']) => totals.ignored += n,
            _ => {}
        }
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
