//! `cargo xtask codegen [--check]`: the files derived from one definition in the Rust code, written
//! (or, with --check, compared: `cargo xtask test` fails on a stale one). rust-analyzer's sourcegen
//! is the model: generated files are committed, so reviews see what changed.
//!
//! - `cdk/contracts/*.json`: rule parameters (JSON Schema), the dataset, IAM actions, environment
//!   variables, config-only runtime upgrades — what the CDK app, the runbooks' tests and the README use;
//! - the README's tables between `<!-- generated:NAME -->` and `<!-- end generated -->`;
//! - `rule/lifecycle/tests/golden/*.txt`: what `rule evaluate --offline` says for each fixture event
//!   (cfn-lint-style snapshots, so wording changes are reviewed).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::util::workspace_root;

/// The day the golden annotations are computed for: fixed, so they change only when the catalog or
/// the wording does.
const GOLDEN_DATE: (i16, i8, i8) = (2026, 11, 22);
const EVENTS_DIR: &str = "rule/lifecycle/tests/events";
const GOLDEN_DIR: &str = "rule/lifecycle/tests/golden";

pub fn codegen(check: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    let files = expected_files(&root)?;
    if check {
        let stale = stale_files(&files);
        if !stale.is_empty() {
            let names: Vec<String> = stale.iter().map(|p| relative(&root, p)).collect();
            bail!(
                "generated files are stale: {} — run `cargo xtask codegen` and commit the result",
                names.join(", ")
            );
        }
        eprintln!("==> {} generated files are up to date", files.len());
        return Ok(());
    }
    for (path, content) in &files {
        if std::fs::read_to_string(path).ok().as_deref() != Some(content.as_str()) {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", relative(&root, path));
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// The files whose content differs from what codegen writes.
fn stale_files(files: &[(PathBuf, String)]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(path, content)| std::fs::read_to_string(path).ok().as_deref() != Some(content.as_str()))
        .map(|(path, _)| path.clone())
        .collect()
}

fn pretty(value: &Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// Every generated file under `root` with the content it must have.
fn expected_files(root: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let contracts = root.join("cdk/contracts");
    let catalog = lifecycle::Catalog::builtin()?;
    let iam = iam_contract();
    let environment = json!({
        "rule": rule::lambda::ENVIRONMENT,
        "aggregator": aggregator::lambda::ENVIRONMENT,
    });
    let mut files = vec![
        (
            contracts.join("rule-parameters.schema.json"),
            pretty(&lifecycle::policy::json_schema())?,
        ),
        (
            contracts.join("dataset.json"),
            pretty(&aggregator::ddl::dataset_contract()?)?,
        ),
        (contracts.join("iam.json"), pretty(&iam)?),
        (contracts.join("environment.json"), pretty(&environment)?),
        (
            contracts.join("runtime-upgrades.json"),
            pretty(&serde_json::to_value(catalog.upgrades())?)?,
        ),
    ];
    let readme = root.join("README.md");
    let text = std::fs::read_to_string(&readme).context("reading README.md")?;
    let text = replace_section(&text, "rule-parameters", &lifecycle::policy::markdown_table())?;
    let text = replace_section(&text, "iam", &iam_table(&iam))?;
    let text = replace_section(&text, "environment", &environment_table(&environment))?;
    files.push((readme, text));
    files.extend(golden_files(root, &catalog)?);
    Ok(files)
}

fn iam_contract() -> Value {
    use rule::aws::actions::{IN_EVALUATED_ACCOUNT, OWN_ACCOUNT_ONLY};
    let own: Vec<_> = IN_EVALUATED_ACCOUNT.iter().chain(&OWN_ACCOUNT_ONLY).collect();
    json!({
        "rule": {
            "description": "the rule Lambda's own role (Config delegated administrator account): it evaluates its own account's functions and assumes the member role elsewhere",
            "actions": own,
        },
        "rule_member": {
            "description": "the role the rule assumes in each member account (RULE_MEMBER_ROLE_NAME)",
            "actions": IN_EVALUATED_ACCOUNT,
        },
        "aggregator": {
            "description": "the aggregator's role (delegated administrator, home region)",
            "actions": aggregator::gather::ACTIONS,
        },
        "aggregator_member": {
            "description": "the reader role the aggregator assumes in each member account (AGGREGATOR_MEMBER_ROLE_NAME): versions behind aliases, layer blockers, invocations",
            "actions": aggregator::enrich::MEMBER_ACTIONS,
        },
    })
}

fn iam_table(iam: &Value) -> String {
    let mut table = String::from("| role | action | why |\n|---|---|---|\n");
    for part in ["rule", "rule_member", "aggregator", "aggregator_member"] {
        for action in iam[part]["actions"].as_array().into_iter().flatten() {
            table += &format!(
                "| {part} | `{}` | {} |\n",
                action["action"].as_str().unwrap_or_default(),
                action["why"].as_str().unwrap_or_default()
            );
        }
    }
    table
}

fn environment_table(environment: &Value) -> String {
    let mut table =
        String::from("| Lambda | variable | required | default | meaning |\n|---|---|---|---|---|\n");
    for lambda in ["rule", "aggregator"] {
        for variable in environment[lambda].as_array().into_iter().flatten() {
            table += &format!(
                "| {lambda} | `{}` | {} | {} | {} |\n",
                variable["name"].as_str().unwrap_or_default(),
                if variable["required"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                variable["default"]
                    .as_str()
                    .map_or("-".to_string(), |d| format!("`{d}`")),
                variable["meaning"].as_str().unwrap_or_default()
            );
        }
    }
    table
}

/// `text` with the lines between `<!-- generated:NAME -->` and the next `<!-- end generated -->`
/// replaced by `content`.
fn replace_section(text: &str, name: &str, content: &str) -> anyhow::Result<String> {
    let start_marker = format!("<!-- generated:{name} -->\n");
    let end_marker = "<!-- end generated -->";
    let start = text
        .find(&start_marker)
        .with_context(|| format!("README.md has no {start_marker:?} marker"))?
        + start_marker.len();
    let end = start
        + text[start..]
            .find(end_marker)
            .with_context(|| format!("README.md: no {end_marker:?} after {start_marker:?}"))?;
    Ok(format!("{}{content}{}", &text[..start], &text[end..]))
}

/// One golden file per fixture event: the offline evaluations, or the reason there are none.
fn golden_files(root: &Path, catalog: &lifecycle::Catalog) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let (year, month, day) = GOLDEN_DATE;
    let date = jiff::civil::date(year, month, day);
    let mut files = Vec::new();
    let mut events: Vec<PathBuf> = std::fs::read_dir(root.join(EVENTS_DIR))
        .with_context(|| format!("reading {EVENTS_DIR}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    events.sort();
    for event in events {
        let text = std::fs::read_to_string(&event).with_context(|| format!("reading {}", event.display()))?;
        let outcome = match lifecycle::Invocation::parse(&text) {
            Err(error) => format!("invalid event: {error}\n"),
            Ok(invocation) => match lifecycle::evaluate_offline(&invocation, catalog, date) {
                Ok(evaluations) => pretty(&serde_json::to_value(evaluations)?)?,
                Err(error) => format!("needs AWS: {error}\n"),
            },
        };
        let stem = event
            .file_stem()
            .and_then(|s| s.to_str())
            .context("event file name")?;
        files.push((
            root.join(GOLDEN_DIR).join(format!("{stem}.txt")),
            format!("# {EVENTS_DIR}/{stem}.json, evaluated offline on {date}\n{outcome}"),
        ));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check sees an edited generated file (and only that one).
    #[test]
    fn an_edited_generated_file_is_stale() {
        let real = workspace_root();
        let scratch = std::env::temp_dir().join(format!("xtask-codegen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(scratch.join(EVENTS_DIR)).expect("scratch");
        std::fs::copy(real.join("README.md"), scratch.join("README.md")).expect("readme");
        std::fs::copy(
            real.join(EVENTS_DIR).join("change-python38.json"),
            scratch.join(EVENTS_DIR).join("change-python38.json"),
        )
        .expect("event");
        let files = expected_files(&scratch).expect("expected files");
        for (path, content) in &files {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, content).expect("write");
        }
        assert!(stale_files(&files).is_empty());
        let schema = scratch.join("cdk/contracts/rule-parameters.schema.json");
        std::fs::write(&schema, "{}\n").expect("edit");
        assert_eq!(stale_files(&files), vec![schema]);
        let _ = std::fs::remove_dir_all(&scratch);
    }

    #[test]
    fn sections_are_replaced_between_their_markers() {
        let text = "a\n<!-- generated:x -->\nold\n<!-- end generated -->\nb\n";
        assert_eq!(
            replace_section(text, "x", "new\n").expect("replaced"),
            "a\n<!-- generated:x -->\nnew\n<!-- end generated -->\nb\n"
        );
        assert!(replace_section(text, "y", "new\n").is_err());
    }
}
