//! `cargo xtask bench evaluate|rule|aggregator|gather|enrich|localaws`.

use std::path::Path;

use anyhow::{Context, bail};

use crate::BenchTarget;
use crate::util::{cargo, command, python_env, python_in, run, target_dir, workspace_root};

/// What the rule-vs-rdklib bench adds to the project's Python environment (rdklib, awslambdaric). Installed
/// on demand into .venv by the bench only: CI never runs it, so `cargo xtask test` does not pay for it.
const BENCH_REQUIREMENTS: &str = "tests/bench/requirements.txt";

pub fn bench(target: BenchTarget, args: &[String]) -> anyhow::Result<()> {
    match target {
        BenchTarget::Rule => bench_rule(args),
        BenchTarget::Evaluate => {
            let mut cargo_args = vec![
                "bench",
                "--locked",
                "-p",
                "lifecycle",
                "--bench",
                "evaluate",
                "--",
            ];
            cargo_args.extend(args.iter().map(String::as_str));
            run(&cargo(), &cargo_args)
        }
        BenchTarget::Localaws => {
            eprintln!("==> local AWS: start to ready, seeding (accounts x functions)");
            let status = python_in("tests/localaws")?
                .arg("bench.py")
                .args(args)
                .status()
                .context("running tests/localaws/bench.py")?;
            if !status.success() {
                bail!("bench.py failed ({status})");
            }
            Ok(())
        }
        BenchTarget::Aggregator => bench_aggregator(args),
        BenchTarget::Gather => bench_gather(args),
        BenchTarget::Enrich => bench_enrich(args),
    }
}

/// The enrichment's calls against their bounds (aggregator/tests/enrich_bench.rs, ignored by `cargo test`):
/// the real rule and aggregator binaries on a local organization; `-- ACCOUNTS FUNCTIONS` sets its size
/// (default 20 accounts × 2 Regions × 10 functions). Calls are counted, not timed.
fn bench_enrich(args: &[String]) -> anyhow::Result<()> {
    run(&cargo(), &["build", "--locked", "-p", "rule"])?;
    let status = command(cargo())
        .args([
            "test",
            "--locked",
            "-p",
            "aggregator",
            "--test",
            "enrich_bench",
            "--",
            "--ignored",
            "--nocapture",
        ])
        .current_dir(workspace_root())
        .env("ENRICH_BENCH_ACCOUNTS", args.first().map_or("20", String::as_str))
        .env("ENRICH_BENCH_FUNCTIONS", args.get(1).map_or("10", String::as_str))
        .status()
        .context("running the enrich bench")?;
    if !status.success() {
        bail!("the enrich bench failed ({status})");
    }
    Ok(())
}

/// The release aggregator against a synthetic organization on the local AWS (tests/bench/gather.py): API calls
/// against the minimum the page sizes allow, peak RSS, and wall time under an injected Config read limit.
fn bench_gather(args: &[String]) -> anyhow::Result<()> {
    run(&cargo(), &["build", "--release", "--locked", "-p", "aggregator"])?;
    let python = python_env()?;
    let binary = target_dir().join("release/aggregator");
    eprintln!("==> gather on a synthetic organization (tests/bench/gather.py)");
    let status = command(&python)
        .arg("tests/bench/gather.py")
        .arg("--aggregator-bin")
        .arg(&binary)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .context("running tests/bench/gather.py")?;
    if !status.success() {
        bail!("gather.py failed ({status})");
    }
    Ok(())
}

/// Our rule (release binary) side by side with the same rule on rdklib, both behind the local Lambda
/// Runtime API: verdicts compared first, then cold start, warm latency, periodic sweeps, peak RSS and zip
/// sizes (tests/bench/rule_vs_rdklib.py; its options after `--`, e.g. `-- --runs 3 --sizes 1000`).
fn bench_rule(args: &[String]) -> anyhow::Result<()> {
    run(&cargo(), &["build", "--release", "--locked", "-p", "rule"])?;
    let python = python_env()?;
    let root = workspace_root();
    let wanted = std::fs::read_to_string(root.join(BENCH_REQUIREMENTS))
        .with_context(|| format!("reading {BENCH_REQUIREMENTS}"))?;
    let venv = python
        .parent()
        .and_then(Path::parent)
        .context("the venv of the project's Python")?;
    let stamp = venv.join("bench-requirements.stamp");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let requirements = root.join(BENCH_REQUIREMENTS);
        run(
            python.to_str().context("python path")?,
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                requirements.to_str().context("requirements path")?,
            ],
        )?;
        std::fs::write(&stamp, &wanted).context("writing the bench requirements stamp")?;
    }
    let binary = target_dir().join("release/rule");
    eprintln!("==> rule vs rdklib (tests/bench/rule_vs_rdklib.py)");
    let status = command(&python)
        .arg("tests/bench/rule_vs_rdklib.py")
        .arg("--rule-bin")
        .arg(&binary)
        .args(args)
        .current_dir(&root)
        .status()
        .context("running tests/bench/rule_vs_rdklib.py")?;
    if !status.success() {
        bail!("rule_vs_rdklib.py failed ({status})");
    }
    Ok(())
}

/// Parquet encoding of 1 M synthetic rows by the release aggregator (streaming, bounded memory)
/// against pyarrow writing the same rows with the same codec and row groups (and its own default
/// dictionaries), in the same run. Last line: `aggregator rows_per_second=N pyarrow_ratio=R
/// pipeline_ratio=P rss_mib=X` (the caller's rate; the bound of both threads with free rows).
fn bench_aggregator(args: &[String]) -> anyhow::Result<()> {
    let rows = args.first().map_or("1000000", String::as_str);
    let python = python_env()?;
    let cargo = cargo();
    run(&cargo, &["build", "--release", "--locked", "-p", "aggregator"])?;
    let target = target_dir();
    let out = target.join("bench-aggregator");
    let binary = target.join("release/aggregator");
    let measure = |program: &Path, args: &[&str]| -> anyhow::Result<serde_json::Value> {
        let output = command(program)
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
        "rust: rows → Arrow {:.2} s on the caller's thread while another encodes Arrow → Parquet ({:.2} s, \
         {:.0} rows/s; pyarrow's write_table starts from Arrow too); with free rows the two threads bound \
         rows → Parquet at {:.0} rows/s; with making the synthetic rows: {:.0} rows/s",
        rate("to_arrow_seconds"),
        rate("to_parquet_seconds"),
        rate("to_parquet_rows_per_second"),
        rate("pipeline_rows_per_second"),
        rate("with_row_making_rows_per_second")
    );
    println!("{}", serde_json::json!({"rust": rust, "pyarrow": pyarrow}));
    let pyarrow_rate = pyarrow["rows_per_second"].as_f64().unwrap_or(f64::NAN);
    println!(
        "aggregator rows_per_second={:.0} pyarrow_ratio={:.2} pipeline_ratio={:.2} rss_mib={:.1}",
        rate("rows_per_second"),
        rate("rows_per_second") / pyarrow_rate,
        rate("pipeline_rows_per_second") / pyarrow_rate,
        rate("peak_rss_bytes") / 1_048_576.0
    );
    Ok(())
}
