//! `cargo xtask lambda`: bootstrap zips (cargo-lambda) for arm64 and x86_64, sizes, cold start.

use anyhow::{Context, bail};

use crate::util::{command, python_env, run, workspace_root};

/// cargo-lambda (PyPI; brings zig for cross-linking), pinned, in the project's own environment.
const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";

pub fn lambda() -> anyhow::Result<()> {
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
        let status = command(&cargo_lambda)
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
    let output = crate::util::python_in("tests/localaws")?
        .args([
            "coldstart.py",
            bootstrap.to_str().context("bootstrap path")?,
            "--runs",
            "7",
        ])
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
