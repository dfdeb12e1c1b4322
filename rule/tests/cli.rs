//! The `rule` binary as users run it (the CLI contract in the README).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn rule(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rule"))
        .args(args)
        .output()
        .expect("run rule")
}

fn fixture(name: &str) -> String {
    format!("{}/lifecycle/tests/events/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn catalog_json_phases_match_the_merged_table() {
    let rows = stdout_json(&rule(&["catalog", "--as-of", "2026-11-22", "--json"]));
    let rows = rows.as_array().expect("array");
    let by_runtime: BTreeMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["runtime"].as_str().expect("runtime"), r))
        .collect();
    let merged = std::fs::read_to_string(format!(
        "{}/lifecycle/data/reference/runtimes-merged.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("merged table");
    let mut reader = csv::Reader::from_reader(merged.as_bytes());
    let mut count = 0;
    for row in reader.deserialize::<BTreeMap<String, String>>() {
        let row = row.expect("row");
        let id = row["identifier"].as_str();
        let expected = match row["phase_2026_11_22"].as_str() {
            "DEPRECATION_WITHIN_180D" | "SUPPORTED_NO_DATE" | "SUPPORTED" => "supported",
            "DEPRECATED" => "deprecated",
            "CREATE_BLOCKED" => "create-blocked",
            "UPDATE_BLOCKED" => "update-blocked",
            other => panic!("{other}"),
        };
        let got = by_runtime
            .get(id)
            .unwrap_or_else(|| panic!("{id} missing from rule catalog"));
        assert_eq!(got["phase"], expected, "{id}");
        count += 1;
    }
    assert_eq!(count, rows.len());
    // Every contract column is present; dates are YYYY-MM-DD or null.
    let python38 = by_runtime["python3.8"];
    for key in [
        "runtime",
        "family",
        "os",
        "deprecation_date",
        "block_create_date",
        "block_update_date",
        "phase",
        "successor",
        "latest",
    ] {
        assert!(python38.get(key).is_some(), "column {key}");
    }
    assert_eq!(python38["deprecation_date"], "2024-10-14");
    assert_eq!(python38["successor"], "python3.12");
    assert_eq!(by_runtime["nodejs26.x"]["deprecation_date"], Value::Null);
}

#[test]
fn catalog_table_for_people() {
    let output = rule(&["catalog", "--as-of", "2027-03-03"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let header = text.lines().next().expect("header");
    assert!(header.starts_with("RUNTIME"), "{header}");
    let python38 = text
        .lines()
        .find(|l| l.starts_with("python3.8 "))
        .expect("python3.8 row");
    assert!(
        python38.contains("update-blocked") && python38.contains("python3.12"),
        "{python38}"
    );
}

#[test]
fn evaluate_offline_prints_put_evaluations_shape() {
    let output = rule(&[
        "evaluate",
        "--event",
        &fixture("change-python38.json"),
        "--offline",
        "--as-of",
        "2026-11-23",
    ]);
    let evaluations = stdout_json(&output);
    assert_eq!(evaluations.as_array().map(Vec::len), Some(1));
    let e = &evaluations[0];
    assert_eq!(e["ComplianceResourceType"], "AWS::Lambda::Function");
    assert_eq!(e["ComplianceResourceId"], "orders-api");
    assert_eq!(e["ComplianceType"], "NON_COMPLIANT");
    assert_eq!(e["OrderingTimestamp"], "2026-11-20T10:00:00.123Z");
    assert!(
        e["Annotation"]
            .as_str()
            .expect("annotation")
            .starts_with("python3.8 deprecated 2024-10-14")
    );
}

#[test]
fn evaluate_offline_says_which_checks_it_skipped() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("change-python38.json")).expect("fixture"))
            .expect("json");
    event["ruleParameters"] =
        json!(r#"{"catalogSsmParameter":"/lambda-runtime-guard/catalog","runtimeUpdateMode":"auto"}"#);
    let path = std::env::temp_dir().join(format!("offline-skips-{}.json", std::process::id()));
    std::fs::write(&path, event.to_string()).expect("write");
    let output = rule(&["evaluate", "--event", path.to_str().expect("path"), "--offline"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "catalogSsmParameter /lambda-runtime-guard/catalog: the catalog overlay was not applied"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("runtime management mode was not checked"),
        "{stderr}"
    );
    // No overlay and no mode check: nothing was skipped, nothing is said.
    event["ruleParameters"] = json!(r#"{"runtimeUpdateMode":"any"}"#);
    std::fs::write(&path, event.to_string()).expect("write");
    let quiet = rule(&["evaluate", "--event", path.to_str().expect("path"), "--offline"]);
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn evaluate_reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rule"))
        .args(["evaluate", "--event", "-", "--offline", "--as-of", "2026-11-23"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let event = std::fs::read(fixture("change-deleted.json")).expect("fixture");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&event)
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(stdout_json(&output)[0]["ComplianceType"], "NOT_APPLICABLE");
}

#[test]
fn offline_oversized_and_scheduled_exit_non_zero_with_the_reason() {
    for (name, needs) in [
        ("oversized.json", "GetResourceConfigHistory"),
        ("scheduled.json", "ListFunctions"),
    ] {
        let output = rule(&["evaluate", "--event", &fixture(name), "--offline"]);
        assert!(!output.status.success(), "{name} should fail offline");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(needs) && stderr.contains("--offline"),
            "{name}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{name}: nothing is printed as a result");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let cases: [(&[&str], &str); 5] = [
        (&["catalog", "--as-of", "2026-02-30"], "is not a calendar date"),
        (&["catalog", "--as-of", "next week"], "is not a YYYY-MM-DD date"),
        (
            &["evaluate", "--event", "/nonexistent/event.json", "--offline"],
            "reading event file",
        ),
        (
            &["--catalog", "/nonexistent/catalog.json", "catalog"],
            "reading catalog",
        ),
        (
            &["evaluate", "--event", "Cargo.toml", "--offline"],
            "invocation event is not JSON",
        ),
    ];
    for (args, expected) in cases {
        let output = rule(args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_replacement_catalog_is_used() {
    // Move python3.13's deprecation into the past in a copy: the verdict follows the new data.
    let mut doc: Value = serde_json::from_str(lifecycle::catalog::BUILTIN_JSON).expect("json");
    for r in doc["runtimes"].as_array_mut().expect("runtimes") {
        if r["runtime"] == "python3.13" {
            r["deprecation_date"] = "2026-01-01".into();
        }
    }
    let dir = std::env::temp_dir().join(format!("rule-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("catalog.json");
    std::fs::write(&path, doc.to_string()).expect("write");
    let rows = stdout_json(&rule(&[
        "--catalog",
        path.to_str().expect("path"),
        "catalog",
        "--as-of",
        "2026-11-22",
        "--json",
    ]));
    let python313 = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["runtime"] == "python3.13")
        .expect("row");
    assert_eq!(python313["phase"], "deprecated");
    std::fs::write(&path, "{\"schema_version\": 9}").expect("write");
    let output = rule(&["--catalog", path.to_str().expect("path"), "catalog"]);
    assert!(!output.status.success());
    std::fs::remove_dir_all(&dir).ok();
}
