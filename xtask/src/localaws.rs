//! `cargo xtask localaws`: the local AWS in the foreground.

use anyhow::{Context, bail};

use crate::util::python_in;

pub fn localaws(port: u16) -> anyhow::Result<()> {
    let status = python_in("tests/localaws")?
        .args(["-m", "localaws", "--port", &port.to_string()])
        .status()
        .context("starting the local AWS")?;
    if !status.success() {
        bail!("the local AWS exited with {status}");
    }
    Ok(())
}
