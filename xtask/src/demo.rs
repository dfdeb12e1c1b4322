//! `cargo xtask demo`.

use anyhow::Context;

use crate::util::{cargo, python_env, run, target_dir};

/// The demo: builds the rule, then runs tests/src/bin/demo.rs against a fresh local AWS.
pub fn demo() -> anyhow::Result<()> {
    python_env()?;
    let cargo = cargo();
    run(
        &cargo,
        &["build", "--quiet", "--locked", "-p", "rule", "-p", "aggregator"],
    )?;
    let target = target_dir();
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
