//! `cargo xtask bench rule|aggregator|localaws`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::BenchTarget;
use crate::util::{cargo, loopback_only, python_env, python_in, run, target_dir, workspace_root};

pub fn bench(target: BenchTarget, criterion_args: &[String]) -> anyhow::Result<()> {
    match target {
        BenchTarget::Rule => {
            let mut args = vec![
                "bench",
                "--locked",
                "-p",
                "lifecycle",
                "--bench",
                "evaluate",
                "--",
            ];
            args.extend(criterion_args.iter().map(String::as_str));
            run(&cargo(), &args)
        }
        BenchTarget::Localaws => {
            eprintln!("==> local AWS: start to ready, seeding (accounts x functions)");
            let status = python_in("tests/localaws")?
                .arg("bench.py")
                .args(criterion_args)
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
    let target = target_dir();
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
