//! `aggregator run` configured by the scheduled Lambda's environment (the variables of
//! `aggregator::lambda::ENVIRONMENT`, cdk/contracts/environment.json), as the container task runs it:
//! `aggregator run` and no flags. Each flag falls back to its variable; a flag given wins.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::LocalAws;
use serde_json::{Value, json};

const AGGREGATOR: &str = "organization";
const RULE: &str = "lambda-runtime-lifecycle";

/// The variable's name as the Lambda reads it (the one spelling).
fn variable(name: &str) -> &'static str {
    aggregator::lambda::ENVIRONMENT
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.name)
        .unwrap_or_else(|| panic!("the aggregator's environment has no {name}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aggregator-env-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// `aggregator run ARGS` with exactly `env` (and PATH); (exit code, stdout, stderr).
fn run(env: &[(&str, String)], args: &[&str], endpoint: Option<&str>) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aggregator"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Never the instance metadata, even in the runs that stop before any call.
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if let Some(endpoint) = endpoint {
        e2e::loopback_env(&mut command, endpoint);
    }
    let output = command
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("run")
        .args(args)
        .output()
        .expect("aggregator runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A complete, valid environment writing into `output`.
fn environment(output: &Path) -> Vec<(&'static str, String)> {
    vec![
        (variable("AGGREGATOR_CONFIG_AGGREGATOR"), AGGREGATOR.to_string()),
        (variable("AGGREGATOR_RULES"), RULE.to_string()),
        (variable("AGGREGATOR_OUTPUT"), output.display().to_string()),
        (
            variable("AGGREGATOR_RULE_PARAMETERS"),
            r#"{"failPhase":"create-blocked"}"#.to_string(),
        ),
        (variable("AGGREGATOR_CONCURRENCY"), "3".to_string()),
        (variable("AGGREGATOR_CONFIG_CALLS_PER_SECOND"), "150".to_string()),
        (
            variable("AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND"),
            "90".to_string(),
        ),
        (variable("RUST_LOG"), "warn".to_string()),
    ]
}

fn with(
    mut env: Vec<(&'static str, String)>,
    name: &str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    env.retain(|(k, _)| *k != name);
    if let Some(value) = value {
        env.push((variable(name), value.to_string()));
    }
    env
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("output directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// A bad or missing value in the environment alone is a usage error (64) naming the variable, before
/// any AWS call (there is no endpoint here) or write.
#[test]
fn a_bad_variable_is_a_usage_error_naming_it() {
    let dir = scratch("usage");
    let good = environment(&dir);
    let cases: [(&str, Option<&str>, &[&str]); 9] = [
        ("AGGREGATOR_CONCURRENCY", Some("0"), &["AGGREGATOR_CONCURRENCY"]),
        (
            "AGGREGATOR_CONCURRENCY",
            Some("many"),
            &["AGGREGATOR_CONCURRENCY"],
        ),
        (
            "AGGREGATOR_CONFIG_CALLS_PER_SECOND",
            Some("0"),
            &["AGGREGATOR_CONFIG_CALLS_PER_SECOND"],
        ),
        (
            "AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND",
            Some("fast"),
            &["AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND"],
        ),
        (
            "AGGREGATOR_OUTPUT",
            Some("ftp://somewhere"),
            &["AGGREGATOR_OUTPUT"],
        ),
        (
            "AGGREGATOR_RULE_PARAMETERS",
            Some("{not json"),
            &["AGGREGATOR_RULE_PARAMETERS"],
        ),
        (
            "AGGREGATOR_CONFIG_AGGREGATOR",
            None,
            &["--config-aggregator", "AGGREGATOR_CONFIG_AGGREGATOR"],
        ),
        ("AGGREGATOR_RULES", Some(" "), &["--rule", "AGGREGATOR_RULES"]),
        ("AGGREGATOR_OUTPUT", None, &["--output", "AGGREGATOR_OUTPUT"]),
    ];
    for (name, value, wanted) in cases {
        let (code, stdout, stderr) = run(&with(good.clone(), name, value), &[], None);
        assert_eq!(code, 64, "{name}={value:?}: {stderr}{stdout}");
        for text in wanted {
            assert!(stderr.contains(text), "{name}={value:?}: {text} in {stderr}");
        }
        assert_eq!(stdout, "", "{name}={value:?}: no summary");
    }
    // A bad flag is still named as the flag, not as the variable behind it.
    let (code, _, stderr) = run(&good, &["--concurrency", "0"], None);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("--concurrency") && !stderr.contains("AGGREGATOR_CONCURRENCY"),
        "{stderr}"
    );
    assert_eq!(entries(&dir), Vec::<String>::new(), "nothing was written");
    // The help names each flag's variable.
    let (code, help, _) = run(&[], &["--help"], None);
    assert_eq!(code, 0);
    for name in [
        "AGGREGATOR_CONFIG_AGGREGATOR",
        "AGGREGATOR_RULES",
        "AGGREGATOR_OUTPUT",
        "AGGREGATOR_RULE_PARAMETERS",
        "AGGREGATOR_CONCURRENCY",
        "AGGREGATOR_CONFIG_CALLS_PER_SECOND",
        "AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND",
    ] {
        assert!(help.contains(&format!("[env: {name}]")), "{name}: {help}");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("summary JSON: {e}: {stdout}"))
}

/// What the summary says about the settings a run used: the rules as found (an organization rule's
/// member copies, `OrgConfigRule-<name>-<suffix>`, under the name given), the parameters, the rates.
fn settings_of(summary: &Value) -> Value {
    let rules: Vec<&str> = summary["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|rule| {
            let member = rule.as_str().expect("a rule name");
            member
                .strip_prefix("OrgConfigRule-")
                .and_then(|rest| rest.rsplit_once('-'))
                .map_or(member, |(name, _suffix)| name)
        })
        .collect();
    json!({
        "rules": rules,
        "rule_parameters": summary["rule_parameters"],
        "rate_limits": summary["rate_limits"],
    })
}

/// On the local AWS: `aggregator run` with the environment only runs to the end with the
/// environment's settings (the container task's case); then every variable bad and every flag given:
/// the flags' settings, nothing of the environment's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_alone_runs_it_and_flags_win() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    // A small organization with the rule's results, served through the Config aggregator APIs
    // (tests/localaws/localaws/synthetic_org.py): 6 accounts × 2 regions, 60 functions. (It stays
    // on until this test binary's server exits; no other test here calls AWS.)
    aws.control(
        "POST",
        "/_localaws/synthetic-org",
        Some(
            json!({"Accounts": 6, "Regions": 2, "Functions": 60, "OtherRules": 2,
                    "OrganizationalUnits": 2, "Rule": RULE, "AggregatorName": AGGREGATOR}),
        ),
    )
    .expect("synthetic organization");
    let today = lifecycle::dates::today_utc();

    let from_env = scratch("from-env");
    let (code, stdout, stderr) = run(&environment(&from_env), &[], Some(aws.endpoint()));
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let used = summary(&stdout);
    assert_eq!(
        settings_of(&used),
        json!({
            "rules": [RULE],
            "rule_parameters": {"source": "--rule-parameters (override)", "value": r#"{"failPhase":"create-blocked"}"#},
            "rate_limits": {"config_per_second": 150.0, "organizations_per_second": 90.0},
        }),
        "{used:#}"
    );
    assert!(
        from_env
            .join(format!("evaluations/dt={today}/part-00000.parquet"))
            .is_file(),
        "the snapshot under AGGREGATOR_OUTPUT: {used:#}"
    );
    assert!(
        used["location"]
            .as_str()
            .is_some_and(|l| l.starts_with(&from_env.display().to_string())),
        "{used:#}"
    );

    // Every variable bad (a missing aggregator, a rule that is not deployed, values that do not
    // parse); every flag given: the run is the flags'.
    let from_flags = scratch("from-flags");
    let bad = [
        ("AGGREGATOR_CONFIG_AGGREGATOR", "no-such-aggregator"),
        ("AGGREGATOR_RULES", "another-rule"),
        ("AGGREGATOR_OUTPUT", "ftp://somewhere"),
        ("AGGREGATOR_RULE_PARAMETERS", "{not json"),
        ("AGGREGATOR_CONCURRENCY", "0"),
        ("AGGREGATOR_CONFIG_CALLS_PER_SECOND", "0"),
        ("AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND", "fast"),
    ]
    .into_iter()
    .fold(environment(&from_env), |env, (name, value)| {
        with(env, name, Some(value))
    });
    let output = from_flags.display().to_string();
    let (code, stdout, stderr) = run(
        &bad,
        &[
            "--config-aggregator",
            AGGREGATOR,
            "--rule",
            RULE,
            "--output",
            &output,
            "--rule-parameters",
            r#"{"failPhase":"deprecated"}"#,
            "--concurrency",
            "2",
            "--config-calls-per-second",
            "120.5",
            "--organizations-calls-per-second",
            "60",
        ],
        Some(aws.endpoint()),
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let used = summary(&stdout);
    assert_eq!(
        settings_of(&used),
        json!({
            "rules": [RULE],
            "rule_parameters": {"source": "--rule-parameters (override)", "value": r#"{"failPhase":"deprecated"}"#},
            "rate_limits": {"config_per_second": 120.5, "organizations_per_second": 60.0},
        }),
        "{used:#}"
    );
    assert!(
        from_flags
            .join(format!("evaluations/dt={today}/part-00000.parquet"))
            .is_file(),
        "the snapshot under --output: {used:#}"
    );
    for dir in [from_env, from_flags] {
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
