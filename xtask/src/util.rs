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

/// A command as every task starts one: loopback only (no instance-metadata look-ups, dummy
/// credentials and a region, so that no AWS SDK default chain reaches off this machine), and without
/// the package variables `cargo run` set for xtask itself. Build scripts (ring's) ask cargo to rebuild
/// them when `CARGO_PKG_NAME` or `CARGO_MANIFEST_DIR` change, and cargo compares its own environment:
/// with xtask's values inherited, every cargo build started here rebuilt from ring up (≈ 3.5 min in
/// release) after any build started from a shell, and the other way round.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if is_cargo_package_variable(&name.to_string_lossy()) {
            command.env_remove(&name);
        }
    }
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
    command
}

/// What cargo sets for the crate it runs (doc.rust-lang.org/cargo/reference/environment-variables.html,
/// "Environment variables Cargo sets for crates"), except `CARGO`, the path of cargo itself.
fn is_cargo_package_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE" | "OUT_DIR"
        )
}

pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("==> {program} {}", args.join(" "));
    let status = command(program)
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
    let mut python = command(python);
    python.current_dir(workspace_root().join(dir));
    Ok(python)
}
