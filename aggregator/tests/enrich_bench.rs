//! `cargo xtask bench enrich` (ignored by `cargo test`): the enrichment's calls against their bounds on a
//! local organization — by default 20 accounts × 2 Regions × 10 functions, each function with 5 published
//! versions and 2 aliases (one weighted across two versions), every other zip function on its account's
//! layer (CompatibleRuntimes without the successor), and invocations seeded for every function. The real
//! rule binary evaluates them (an organization rule per Region), the real aggregator binary runs with the
//! member reader role, and the calls it made (its summary, and the local AWS's own count) are printed
//! against the bounds computed here from the seed, not from the aggregator:
//! - versions: per function with aliases min(⌈(highest referenced + 1)/50⌉, referenced versions), and the
//!   issue's ⌈versions/50⌉ + aliases per (account, Region);
//! - layers: one GetLayerVersionByArn per distinct layer version used by a row with a successor;
//! - invocations: ⌈series/500⌉ GetMetricData per (account, Region).
//!
//! Scale: ENRICH_BENCH_ACCOUNTS, ENRICH_BENCH_FUNCTIONS. The last line, for scripts:
//! `enrich calls=N bound=M ratio=R`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_config::types::OrganizationConfigRuleTriggerType;
use aws_sdk_lambda::types::Runtime;
use e2e::setup::{
    create_function, create_organization, organization_aggregator, organization_rule, start_recording,
};
use e2e::{ADMIN_ACCOUNT, LambdaProcess, LocalAws, REGION};
use serde_json::{Value, json};

const RULE: &str = "lambda-runtime-lifecycle";
const AGGREGATOR: &str = "organization";
const READER_ROLE: &str = "lambda-runtime-guard-aggregator-reader";
const REGIONS: [&str; 2] = [REGION, "eu-west-1"];
const RULE_PARAMETERS: &str = r#"{"imageMaxAgeDays":"180"}"#;
/// $LATEST runtimes by function index; python3.9 and python3.8 have a successor (python3.12).
const RUNTIMES: [&str; 5] = ["python3.9", "nodejs18.x", "python3.13", "python3.8", "image"];
const VERSIONS: u64 = 5;
/// The versions the aliases reference: `legacy` → 1, `live` → 2 with weight on 4.
const REFERENCED: [u64; 3] = [1, 2, 4];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: cargo xtask bench enrich"]
async fn enrich_calls_against_their_bounds() {
    let accounts = env_number("ENRICH_BENCH_ACCOUNTS", 20);
    let functions = env_number("ENRICH_BENCH_FUNCTIONS", 10);
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let started = Instant::now();
    let admin = aws.sdk_config(None, 3).await;
    let names: Vec<String> = (0..accounts).map(|i| format!("member-{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let members = create_organization(&admin, &names).await;
    for member in &members {
        let keys = aws
            .assume_role(member, "OrganizationAccountAccessRole")
            .await
            .expect("keys");
        for region in REGIONS {
            start_recording(
                &LocalAws::in_region(aws.sdk_config(Some(keys.clone()), 3).await, region),
                member,
            )
            .await;
        }
    }
    let today = lifecycle::dates::today_utc();
    let ago = |n: i64| lifecycle::dates::add_days(today, -n).to_string();
    for region in REGIONS {
        aws.control(
            "POST",
            "/_localaws/seed/lambda",
            Some(json!({"Accounts": members, "Region": region, "FunctionsPerAccount": functions,
                "Runtimes": RUNTIMES, "VersionsPerFunction": VERSIONS,
                "VersionRuntimes": ["python3.8", "python3.12", "nodejs16.x", "python3.10", "nodejs22.x"],
                "Aliases": [{"Name": "legacy", "FunctionVersion": "1"},
                            {"Name": "live", "FunctionVersion": "2", "AdditionalVersionWeights": {"4": 0.1}}],
                "Layers": [{"LayerName": "deps", "CompatibleRuntimes": ["python3.8", "python3.9"], "EveryNth": 2}]})),
        )
        .expect("seed");
        for member in &members {
            let series: Vec<Value> = (0..functions)
                .map(|i| json!({"FunctionName": format!("fn-{i:04}"), "Days": {ago(1 + (i as i64 % 20)): 10 * i + 1}}))
                .collect();
            aws.control(
                "POST",
                "/_localaws/cloudwatch/invocations",
                Some(json!({"Account": member, "Region": region, "Series": series})),
            )
            .expect("invocations");
        }
    }
    let rule_binary = e2e::workspace_binary("rule").expect("rule binary");
    let mut processes = Vec::new();
    let mut arns = Vec::new();
    for region in REGIONS {
        let config = LocalAws::in_region(admin.clone(), region);
        start_recording(&config, ADMIN_ACCOUNT).await;
        let arn = create_function(&config, "runtime-rule", Runtime::Providedal2023).await;
        organization_rule(
            &config,
            RULE,
            &arn,
            &[OrganizationConfigRuleTriggerType::ScheduledNotification],
            Some(RULE_PARAMETERS),
        )
        .await;
        processes.push(
            LambdaProcess::start(
                aws,
                &rule_binary,
                &arn,
                &[
                    ("AWS_REGION", region),
                    ("RULE_MEMBER_ROLE_NAME", "OrganizationAccountAccessRole"),
                ],
            )
            .expect("rule process"),
        );
        arns.push(arn);
    }
    let sent = aws
        .control("POST", "/_localaws/config/periodic", Some(json!({})))
        .expect("periodic")["Sent"]
        .as_u64()
        .expect("sent") as usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let invocations: Vec<Value> = arns
            .iter()
            .flat_map(|arn| aws.invocations(arn).expect("invocations"))
            .collect();
        assert!(
            invocations.iter().all(|i| i["Status"] != "failed"),
            "a rule invocation failed"
        );
        if invocations.len() >= sent && invocations.iter().all(|i| i["Status"] == "succeeded") {
            break;
        }
        assert!(Instant::now() < deadline, "the sweeps did not finish");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    organization_aggregator(&admin, AGGREGATOR).await;
    let set_up = started.elapsed();

    let dir = std::env::temp_dir().join(format!("aggregator-enrich-bench-{}", std::process::id()));
    let before = aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"].clone();
    let run_started = Instant::now();
    let output = e2e::loopback_env(
        Command::new(env!("CARGO_BIN_EXE_aggregator"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn"),
        aws.endpoint(),
    )
    .args([
        "run",
        "--config-aggregator",
        AGGREGATOR,
        "--rule",
        RULE,
        "--output",
    ])
    .arg(&dir)
    .args([
        "--rule-parameters",
        RULE_PARAMETERS,
        "--member-role-name",
        READER_ROLE,
    ])
    .args([
        "--config-calls-per-second",
        "200",
        "--organizations-calls-per-second",
        "100",
    ])
    .output()
    .expect("aggregator runs");
    let run_time = run_started.elapsed();
    let after = aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"].clone();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "summary ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(output.status.code(), Some(0), "{summary:#}");
    drop(processes);
    let _ = std::fs::remove_dir_all(&dir);

    // The bounds, from the seed alone.
    let pairs = (accounts * REGIONS.len()) as u64;
    let per_function = (REFERENCED.iter().max().copied().unwrap_or(0) as usize + 1)
        .div_ceil(50)
        .min(REFERENCED.len()) as u64;
    let versions_bound = pairs * functions as u64 * per_function;
    let issue_versions_bound = pairs * ((functions as u64 * VERSIONS).div_ceil(50) + functions as u64 * 2);
    // One layer version per (account, Region); read when one of its functions has a successor (fn-0000 is
    // python3.9 and on the layer).
    let layers_bound = pairs;
    // Failing and warned rows of a pair: far fewer than 500 series.
    let metrics_bound = pairs;
    let calls = &summary["api_calls_by_operation"];
    let count = |op: &str| calls[op].as_u64().unwrap_or(0);
    let server = |op: &str| {
        after[op]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(before[op].as_u64().unwrap_or(0))
    };
    let versions = count("lambda:ListVersionsByFunction") + count("lambda:GetFunctionConfiguration");
    let layers = count("lambda:GetLayerVersionByArn");
    let metrics = count("cloudwatch:GetMetricData");
    let assume = count("sts:AssumeRole");
    let rows: BTreeMap<String, Value> = summary["compliance"]
        .as_object()
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    println!(
        "organization: {accounts} accounts x {} Regions x {functions} functions, {VERSIONS} versions and 2 aliases each; \
         set up in {:.1} s; aggregator run {:.1} s; rows {} {rows:?}, version rows {}",
        REGIONS.len(),
        set_up.as_secs_f64(),
        run_time.as_secs_f64(),
        summary["rows"],
        summary["versions"]
    );
    let line = |what: &str, made: u64, seen: u64, bound: u64| {
        println!(
            "{what:<42} calls {made:>5} (local AWS counted {seen:>5})  bound {bound:>5}  ratio {:.3}",
            made as f64 / bound.max(1) as f64
        )
    };
    line(
        "versions (ListVersionsByFunction + Get…)",
        versions,
        server("lambda:ListVersionsByFunction") + server("lambda:GetFunctionConfiguration"),
        versions_bound,
    );
    println!(
        "{:<42} issue's bound ⌈versions/50⌉ + aliases per pair: {issue_versions_bound} (ratio {:.3})",
        "",
        versions as f64 / issue_versions_bound as f64
    );
    line(
        "layers (GetLayerVersionByArn)",
        layers,
        server("lambda:GetLayerVersionByArn"),
        layers_bound,
    );
    line(
        "invocations (GetMetricData)",
        metrics,
        server("monitoring:GetMetricData") + server("cloudwatch:GetMetricData"),
        metrics_bound,
    );
    line(
        "member role (AssumeRole, once per account)",
        assume,
        server("sts:AssumeRole"),
        accounts as u64 + 1,
    );
    println!(
        "the aggregator's own bounds (summary): {}",
        summary["enrichment"]["call_bounds"]
    );
    let total = versions + layers + metrics;
    let bound = versions_bound + layers_bound + metrics_bound;
    assert!(
        versions <= versions_bound && layers <= layers_bound && metrics <= metrics_bound,
        "over a bound"
    );
    assert_eq!(summary["gaps"].as_array().map(Vec::len), Some(0), "{summary:#}");
    println!(
        "enrich calls={total} bound={bound} ratio={:.3}",
        total as f64 / bound as f64
    );
}
