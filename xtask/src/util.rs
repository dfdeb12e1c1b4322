//! What every task shares: the workspace root, the loopback-only environment, running programs,
//! the project's Python environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub fn workspace_root() -> PathBuf {
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
pub fn loopback_only(command: &mut Command) -> &mut Command {
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
}

pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
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

pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// rustfmt and clippy come with the toolchain; add them when a minimal profile left them out.
pub fn ensure_component(probe: &str, component: &str) -> anyhow::Result<()> {
    let present = Command::new(cargo())
        .args([probe, "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        run("rustup", &["component", "add", component])?;
    }
    Ok(())
}

/// Pinned Python requirements: the local AWS and its tests, the Athena queries' tests, cfn-lint.
pub const PYTHON_REQUIREMENTS: [&str; 3] = [
    "tests/localaws/requirements.txt",
    "tests/sql/requirements.txt",
    "tests/deploy/requirements.txt",
];

/// The project's Python environment (.venv at the root) with the pinned requirements. Rebuilt only
/// when the requirements change (a copy of them is kept inside the venv as a stamp).
pub fn python_env() -> anyhow::Result<PathBuf> {
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

/// The cargo target directory (CI shares one between clones through CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The project's Python, loopback-only, in `dir` (relative to the workspace root).
pub fn python_in(dir: &str) -> anyhow::Result<Command> {
    let python = python_env()?;
    let mut command = Command::new(python);
    loopback_only(&mut command).current_dir(workspace_root().join(dir));
    Ok(command)
}
