//! Issue 12 end to end on the local AWS: what still RUNS an old runtime. One member account with 3
//! functions × 5 published versions × 2 aliases (one weighted across two versions), a container image
//! and an exempt function with an alias each, a layer whose CompatibleRuntimes exclude the successor,
//! and seeded invocations; a second member whose reader role is denied. The real rule binary evaluates
//! them as an organization rule, then the real aggregator binary writes the snapshot with the
//! enrichment on. The snapshot is read back with the parquet crate.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use aws_sdk_config::types::OrganizationConfigRuleTriggerType;
use aws_sdk_lambda::types::Runtime;
use e2e::setup::{
    create_function, create_image_function, create_organization, organization_aggregator, organization_rule,
    start_recording, tag,
};
use e2e::{ADMIN_ACCOUNT, LambdaProcess, LocalAws, REGION};
use jiff::civil::Date;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

const RULE: &str = "lambda-runtime-lifecycle";
const AGGREGATOR: &str = "organization";
const READER_ROLE: &str = "lambda-runtime-guard-aggregator-reader";
const RULE_PARAMETERS: &str = r#"{"imageMaxAgeDays":"180"}"#;
/// fn-0000, fn-0001, fn-0002 ($LATEST).
const RUNTIMES: [&str; 3] = ["python3.9", "nodejs18.x", "python3.13"];
/// Published versions 1..5 of each.
const VERSION_RUNTIMES: [&str; 5] = [
    "python3.8",
    "python3.12",
    "nodejs16.x",
    "python3.10",
    "nodejs22.x",
];

/// One snapshot row, the columns this test checks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    resource_type: String,
    compliance: String,
    annotation: Option<String>,
    runtime: Option<String>,
    package_type: Option<String>,
    phase: Option<String>,
    function_arn: Option<String>,
    qualifier: Option<String>,
    aliases: Vec<String>,
    blocking_layers: Option<Vec<String>>,
    invocations_30d: Option<i64>,
    last_invoked_date: Option<Date>,
    exempt_until: Option<Date>,
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let column = column.as_string::<i32>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i).to_string()))
        .collect()
}

fn lists(batch: &RecordBatch, name: &str) -> Vec<Option<Vec<String>>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let column = column.as_list::<i32>();
    (0..column.len())
        .map(|i| {
            column.is_valid(i).then(|| {
                let items = column.value(i);
                let items = items.as_string::<i32>();
                (0..items.len()).map(|j| items.value(j).to_string()).collect()
            })
        })
        .collect()
}

fn dates(batch: &RecordBatch, name: &str) -> Vec<Option<Date>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let column = column.as_primitive::<Date32Type>();
    let epoch = jiff::civil::date(1970, 1, 1);
    (0..column.len())
        .map(|i| {
            column
                .is_valid(i)
                .then(|| lifecycle::dates::add_days(epoch, i64::from(column.value(i))))
        })
        .collect()
}

/// The snapshot in `dir` by (account, resource id, `:version` on a version's row).
fn snapshot(dir: &std::path::Path, day: &str) -> BTreeMap<(String, String), Got> {
    let file = dir.join(format!("evaluations/dt={day}/part-00000.parquet"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("snapshot"))
        .expect("parquet")
        .build()
        .expect("reader");
    let mut rows = BTreeMap::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let text = |name| strings(&batch, name);
        let (accounts, ids, types, compliance, annotation) = (
            text("account_id"),
            text("resource_id"),
            text("resource_type"),
            text("compliance_type"),
            text("annotation"),
        );
        let (runtimes, packages, phases, arns, qualifiers) = (
            text("runtime"),
            text("package_type"),
            text("phase"),
            text("function_arn"),
            text("qualifier"),
        );
        let (aliases, blocking) = (lists(&batch, "aliases"), lists(&batch, "blocking_layers"));
        let invocations = batch
            .column_by_name("invocations_30d")
            .expect("invocations_30d")
            .as_primitive::<Int64Type>()
            .clone();
        let (last, exempt) = (dates(&batch, "last_invoked_date"), dates(&batch, "exempt_until"));
        for i in 0..batch.num_rows() {
            // A version's row has its function's name as resource id and the version as qualifier:
            // keyed here as `name:version`.
            let id = ids[i].clone().expect("id");
            let id = match &qualifiers[i] {
                Some(version) => format!("{id}:{version}"),
                None => id,
            };
            let key = (accounts[i].clone().expect("account"), id);
            let got = Got {
                resource_type: types[i].clone().expect("type"),
                compliance: compliance[i].clone().expect("compliance"),
                annotation: annotation[i].clone(),
                runtime: runtimes[i].clone(),
                package_type: packages[i].clone(),
                phase: phases[i].clone(),
                function_arn: arns[i].clone(),
                qualifier: qualifiers[i].clone(),
                aliases: aliases[i].clone().expect("aliases is never NULL"),
                blocking_layers: blocking[i].clone(),
                invocations_30d: invocations.is_valid(i).then(|| invocations.value(i)),
                last_invoked_date: last[i],
                exempt_until: exempt[i],
            };
            assert!(rows.insert(key.clone(), got).is_none(), "{key:?} twice");
        }
    }
    rows
}

fn run_aggregator(aws: &LocalAws, output: &str, extra: &[&str]) -> (i32, Value, String) {
    let out = e2e::loopback_env(
        Command::new(env!("CARGO_BIN_EXE_aggregator"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // the SDK's retries, quick on loopback
            .env("AWS_MAX_ATTEMPTS", "3"),
        aws.endpoint(),
    )
    .args([
        "run",
        "--config-aggregator",
        AGGREGATOR,
        "--rule",
        RULE,
        "--output",
        output,
    ])
    .args(["--rule-parameters", RULE_PARAMETERS])
    .args([
        "--config-calls-per-second",
        "200",
        "--organizations-calls-per-second",
        "100",
    ])
    .args(extra)
    .output()
    .expect("aggregator runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("summary ({e}): {stdout}\n{stderr}"));
    (out.status.code().unwrap_or(-1), summary, stderr)
}

async fn member_config(aws: &LocalAws, account: &str) -> aws_config::SdkConfig {
    let keys = aws
        .assume_role(account, "OrganizationAccountAccessRole")
        .await
        .expect("keys");
    aws.sdk_config(Some(keys), 3).await
}

/// A published version of `name` and an alias `alias` on it.
async fn publish_with_alias(config: &aws_config::SdkConfig, name: &str, alias: &str) {
    let lambda = aws_sdk_lambda::Client::new(config);
    let version = lambda
        .publish_version()
        .function_name(name)
        .send()
        .await
        .expect("publish");
    lambda
        .create_alias()
        .function_name(name)
        .name(alias)
        .function_version(version.version().expect("version"))
        .send()
        .await
        .expect("alias");
}

/// The rule's periodic sweep, to the end of every invocation.
async fn sweep(aws: &LocalAws, arn: &str) {
    let sent = aws
        .control("POST", "/_localaws/config/periodic", Some(json!({})))
        .expect("periodic")["Sent"]
        .as_u64()
        .expect("sent") as usize;
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let invocations = aws.invocations(arn).expect("invocations");
        let failed: Vec<&Value> = invocations.iter().filter(|i| i["Status"] == "failed").collect();
        assert!(failed.is_empty(), "rule invocations failed: {failed:#?}");
        if invocations.len() >= sent && invocations.iter().all(|i| i["Status"] == "succeeded") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the sweep did not finish");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn day(date: Date) -> String {
    date.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_layers_and_invocations_of_what_still_runs() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    let members = create_organization(&admin, &["workloads", "denied"]).await;
    let (member, denied) = (members[0].clone(), members[1].clone());
    let today = lifecycle::dates::today_utc();

    for account in [&member, &denied] {
        start_recording(&member_config(aws, account).await, account).await;
    }
    // 3 functions × 5 versions × 2 aliases: `legacy` → 1, `live` → 2 with 10 % on 4. fn-0000 uses a layer
    // that declares python3.8 and python3.9 only (its successor is python3.12).
    let seeded = aws
        .control(
            "POST",
            "/_localaws/seed/lambda",
            Some(json!({"Accounts": [&member], "Region": REGION, "FunctionsPerAccount": 3,
                "Runtimes": RUNTIMES, "VersionsPerFunction": 5, "VersionRuntimes": VERSION_RUNTIMES,
                "Aliases": [{"Name": "legacy", "FunctionVersion": "1"},
                            {"Name": "live", "FunctionVersion": "2", "AdditionalVersionWeights": {"4": 0.1}}],
                "Layers": [{"LayerName": "old-deps", "CompatibleRuntimes": ["python3.8", "python3.9"], "EveryNth": 3}]})),
        )
        .expect("seed");
    assert_eq!(
        (
            seeded["Created"].clone(),
            seeded["Versions"].clone(),
            seeded["Aliases"].clone()
        ),
        (json!(3), json!(15), json!(6))
    );
    let layer = seeded["LayerVersions"][0]
        .as_str()
        .expect("layer arn")
        .to_string();
    aws.control(
        "POST",
        "/_localaws/seed/lambda",
        Some(json!({"Accounts": [&denied], "Region": REGION, "FunctionsPerAccount": 1, "Runtimes": ["python3.9"],
            "VersionsPerFunction": 2, "AliasesPerFunction": 1})),
    )
    .expect("seed the denied account");
    // A container image and an exempt function, each with one published version behind an alias.
    let config = member_config(aws, &member).await;
    create_image_function(&config, "model", &member).await;
    publish_with_alias(&config, "model", "live").await;
    let exempt_arn = create_function(&config, "exempt", Runtime::Python38).await;
    let exempt_until = lifecycle::dates::add_days(today, 100);
    tag(&config, &exempt_arn, "runtime-exempt-until", &day(exempt_until)).await;
    publish_with_alias(&config, "exempt", "live").await;

    // Invocations: fn-0000 is hot (its version 1 too), fn-0001 never invoked; a day outside the 30 and
    // today itself are not counted.
    let ago = |n: i64| day(lifecycle::dates::add_days(today, -n));
    aws.control(
        "POST",
        "/_localaws/cloudwatch/invocations",
        Some(json!({"Account": &member, "Region": REGION, "Series": [
            {"FunctionName": "fn-0000", "Days": {ago(3): 100, ago(10): 50, ago(40): 1000, day(today): 9}},
            {"FunctionName": "fn-0000", "Resource": "fn-0000:1", "Days": {ago(5): 7}},
            {"FunctionName": "exempt", "Days": {ago(29): 2}},
        ]})),
    )
    .expect("seed invocations");

    // The rule as an organization rule, swept once.
    let admin_recording = admin.clone();
    start_recording(&admin_recording, ADMIN_ACCOUNT).await;
    let rule_arn = create_function(&admin, "runtime-rule", Runtime::Providedal2023).await;
    organization_rule(
        &admin,
        RULE,
        &rule_arn,
        &[OrganizationConfigRuleTriggerType::ScheduledNotification],
        Some(RULE_PARAMETERS),
    )
    .await;
    let _rule = LambdaProcess::start(
        aws,
        &e2e::workspace_binary("rule").expect("rule binary"),
        &rule_arn,
        &[
            ("AWS_REGION", REGION),
            ("RULE_MEMBER_ROLE_NAME", "OrganizationAccountAccessRole"),
        ],
    )
    .expect("rule process");
    sweep(aws, &rule_arn).await;
    organization_aggregator(&admin, AGGREGATOR).await;
    // The second member's reader role is refused from now on (every AssumeRole into it).
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"DenyAccounts": [&denied]})),
    )
    .expect("deny");

    let dir = std::env::temp_dir().join(format!("aggregator-enrich-{}", std::process::id()));
    let output = dir.display().to_string();
    let before = aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"].clone();
    let (code, summary, stderr) = run_aggregator(aws, &output, &["--member-role-name", READER_ROLE]);
    let after = aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"].clone();
    assert_eq!(
        code, 2,
        "published with the denied account's gap: {stderr}\n{summary:#}"
    );
    let rows = snapshot(&dir, &day(today));

    // -- Every function the member has is one function row (COUNT(*) of function rows = functions), the
    // image and the exempt function included, whatever its compliance.
    let listed: BTreeSet<String> = aws_sdk_lambda::Client::new(&member_config(aws, &member).await)
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("functions")
        .iter()
        .filter_map(|f| f.function_name().map(str::to_string))
        .collect();
    let function_rows: Vec<&String> = rows
        .iter()
        .filter(|((account, _), got)| *account == member && got.resource_type == "AWS::Lambda::Function")
        .map(|((_, id), _)| id)
        .collect();
    assert_eq!(function_rows.len(), listed.len(), "one row per function");
    assert_eq!(
        function_rows.into_iter().cloned().collect::<BTreeSet<_>>(),
        listed,
        "every function has a row"
    );

    // -- Exactly the alias-referenced versions, each judged on its own runtime.
    let versions: BTreeMap<&str, &Got> = rows
        .iter()
        .filter(|((account, _), got)| *account == member && got.resource_type == "AWS::Lambda::Version")
        .map(|((_, id), got)| (id.as_str(), got))
        .collect();
    let mut expected = BTreeSet::new();
    for f in 0..3 {
        for v in [1, 2, 4] {
            expected.insert(format!("fn-000{f}:{v}"));
        }
    }
    expected.insert("model:1".to_string());
    expected.insert("exempt:1".to_string());
    assert_eq!(
        versions.keys().map(|k| k.to_string()).collect::<BTreeSet<_>>(),
        expected,
        "{versions:#?}"
    );
    for f in 0..3 {
        let id = |v: u32| format!("fn-000{f}:{v}");
        let (v1, v2, v4) = (
            versions[id(1).as_str()],
            versions[id(2).as_str()],
            versions[id(4).as_str()],
        );
        assert_eq!(
            (v1.runtime.as_deref(), v1.phase.as_deref(), v1.compliance.as_str()),
            (Some("python3.8"), Some("deprecated"), "NON_COMPLIANT")
        );
        assert_eq!(
            (v2.runtime.as_deref(), v2.phase.as_deref(), v2.compliance.as_str()),
            (Some("python3.12"), Some("supported"), "COMPLIANT")
        );
        assert_eq!(
            (v4.runtime.as_deref(), v4.phase.as_deref(), v4.compliance.as_str()),
            (Some("python3.10"), Some("deprecated"), "NON_COMPLIANT")
        );
        assert_eq!(v1.aliases, ["legacy"]);
        assert_eq!(v2.aliases, ["live"]);
        assert_eq!(
            v4.aliases,
            ["live"],
            "a weighted alias counts for both its versions"
        );
        assert_eq!(v1.qualifier.as_deref(), Some("1"));
        assert!(
            v1.function_arn
                .as_deref()
                .is_some_and(|a| a.ends_with(&format!(":function:fn-000{f}:1"))),
            "{v1:?}"
        );
        assert!(
            v1.annotation.as_deref().is_some_and(|a| a.contains("python3.8")),
            "{v1:?}"
        );
    }
    let model = versions["model:1"];
    assert_eq!(
        (
            model.package_type.as_deref(),
            model.runtime.as_deref(),
            model.compliance.as_str()
        ),
        (Some("Image"), None, "COMPLIANT")
    );
    let exempt = versions["exempt:1"];
    assert_eq!(
        (exempt.runtime.as_deref(), exempt.compliance.as_str()),
        (Some("python3.8"), "COMPLIANT")
    );
    assert_eq!(exempt.exempt_until, Some(exempt_until));
    assert!(
        !rows
            .keys()
            .any(|(account, id)| *account == denied && id.contains(':')),
        "no versions read there"
    );

    // -- Layer blockers: fn-0000 and its versions on runtimes with a successor the layer does not list.
    let function = |id: &str| rows[&(member.clone(), id.to_string())].clone();
    assert_eq!(function("fn-0000").blocking_layers, Some(vec![layer.clone()]));
    assert_eq!(versions["fn-0000:1"].blocking_layers, Some(vec![layer.clone()]));
    assert_eq!(versions["fn-0000:4"].blocking_layers, Some(vec![layer.clone()]));
    assert_eq!(
        versions["fn-0000:2"].blocking_layers,
        Some(vec![]),
        "python3.12 has no successor"
    );
    assert_eq!(function("fn-0001").blocking_layers, Some(vec![]), "no layers");
    assert_eq!(versions["fn-0001:1"].blocking_layers, Some(vec![]));

    // -- Invocations of failing and warned rows: read (0 when none), others NULL.
    let hot = function("fn-0000");
    assert_eq!(
        (hot.compliance.as_str(), hot.invocations_30d),
        ("NON_COMPLIANT", Some(157))
    );
    assert_eq!(hot.last_invoked_date, Some(lifecycle::dates::add_days(today, -3)));
    assert_eq!(
        (
            versions["fn-0000:1"].invocations_30d,
            versions["fn-0000:1"].last_invoked_date
        ),
        (Some(7), Some(lifecycle::dates::add_days(today, -5)))
    );
    let cold = function("fn-0001");
    assert_eq!(
        (cold.invocations_30d, cold.last_invoked_date),
        (Some(0), None),
        "no invocation in 30 days is 0"
    );
    assert_eq!(versions["fn-0001:4"].invocations_30d, Some(0));
    assert_eq!(
        function("exempt").invocations_30d,
        Some(2),
        "exempt but past its failing day: warned"
    );
    assert_eq!(
        function("fn-0002").invocations_30d,
        None,
        "COMPLIANT, far from failing: not read"
    );
    assert_eq!(versions["fn-0000:2"].invocations_30d, None);
    assert_eq!(function("model").invocations_30d, None);

    // -- The denied member: a gap, its columns NULL.
    let gaps = summary["gaps"].as_array().expect("gaps");
    assert!(
        gaps.iter().any(|g| g["kind"] == "member_role"
            && g["account_id"] == denied.as_str()
            && g["region"] == REGION),
        "{gaps:#?}"
    );
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    let refused = rows[&(denied.clone(), "fn-0000".to_string())].clone();
    assert_eq!((refused.blocking_layers, refused.invocations_30d), (None, None));

    // -- Calls: within the bounds, counted by the aggregator and by the local AWS alike.
    let calls = &summary["api_calls_by_operation"];
    let bounds = &summary["enrichment"]["call_bounds"];
    // 3 functions with versions {1, 2, 4}: one page each (5 versions); model and exempt {1}: one get each.
    assert_eq!(calls["lambda:ListVersionsByFunction"], 3, "{calls:#}");
    assert_eq!(calls["lambda:GetFunctionConfiguration"], 2, "{calls:#}");
    assert_eq!(bounds["lambda:versions"], 5);
    assert_eq!(
        calls["lambda:GetLayerVersionByArn"], 1,
        "one distinct layer version"
    );
    assert_eq!(calls["cloudwatch:GetMetricData"], 1, "10 series in one pair");
    let accounts: BTreeSet<&String> = rows.keys().map(|(account, _)| account).collect();
    assert_eq!(
        calls["sts:AssumeRole"],
        accounts.len() as u64,
        "once per account with rows: {accounts:?}"
    );
    let server = |op: &str| after[op].as_u64().unwrap_or(0) - before[op].as_u64().unwrap_or(0);
    assert_eq!(server("lambda:ListVersionsByFunction"), 3);
    assert_eq!(server("lambda:GetFunctionConfiguration"), 2);
    assert_eq!(server("lambda:GetLayerVersionByArn"), 1);
    assert_eq!(
        server("monitoring:GetMetricData") + server("cloudwatch:GetMetricData"),
        1
    );
    assert_eq!(summary["versions"], 11);
    assert_eq!(summary["enrichment"]["enabled"], true);

    // -- Without a member role: no enrichment, and the summary says so.
    let (code, summary, stderr) = run_aggregator(aws, &output, &["--replace-worse"]);
    assert_eq!(code, 0, "{stderr}\n{summary:#}");
    assert_eq!(summary["enrichment"]["enabled"], false);
    assert!(
        summary["enrichment"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("enrichment off")),
        "{summary:#}"
    );
    let rows = snapshot(&dir, &day(today));
    assert!(rows.values().all(|r| r.resource_type == "AWS::Lambda::Function"
        && r.blocking_layers.is_none()
        && r.invocations_30d.is_none()));

    // -- GetMetricData throttled past the SDK's retries: a gap, the column NULL.
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"DenyAccounts": [&denied], "Rules": [{"Service": "monitoring", "Operation": "GetMetricData", "Throttle": 1.0}]})),
    )
    .expect("throttle");
    let (code, summary, stderr) = run_aggregator(
        aws,
        &output,
        &["--member-role-name", READER_ROLE, "--replace-worse"],
    );
    assert_eq!(code, 2, "{stderr}\n{summary:#}");
    let gaps = summary["gaps"].as_array().expect("gaps");
    assert!(
        gaps.iter()
            .any(|g| g["kind"] == "invocations" && g["account_id"] == member.as_str()),
        "{gaps:#?}"
    );
    let rows = snapshot(&dir, &day(today));
    assert_eq!(
        rows[&(member.clone(), "fn-0000".to_string())].invocations_30d,
        None
    );
    assert_eq!(
        rows[&(member.clone(), "fn-0000".to_string())].blocking_layers,
        Some(vec![layer])
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}
