//! End to end on the local AWS: an organization of 20 active accounts in 3 OUs (and one suspended),
//! 50 functions in each of 2 regions, the real rule binary as an organization rule putting its
//! evaluations, then the real aggregator binary writing the day's snapshot to S3. The snapshot is read
//! back with the parquet crate and compared with what the Config aggregator itself returns.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, MapArray, RecordBatch};
use aws_sdk_config::types::OrganizationConfigRuleTriggerType;
use aws_sdk_lambda::types::Runtime;
use e2e::setup::{
    create_function, create_organization, organization_aggregator, organization_rule, start_recording_except,
};
use e2e::{ADMIN_ACCOUNT, LambdaProcess, LocalAws, REGION};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

const RULE: &str = "lambda-runtime-lifecycle";
const AGGREGATOR: &str = "organization";
const BUCKET: &str = "runtime-reports";
const PREFIX: &str = "guard";
const REGIONS: [&str; 2] = [REGION, "eu-west-1"];
const OUS: [&str; 3] = ["Payments", "Platform", "Data"];
const MEMBERS: usize = 20;
/// Container images are evaluated (by age) only when the rule is given a maximum age.
const RULE_PARAMETERS: &str = r#"{"imageMaxAgeDays":"180"}"#;
const FUNCTIONS: usize = 50;
/// The seed cycles through these by function index (`fn-NNNN`).
const RUNTIMES: [&str; 6] = [
    "python3.8",
    "python3.13",
    "nodejs24.x",
    "nodejs18.x",
    "provided.al2023",
    "image",
];

/// One snapshot row as the test compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SnapshotRow {
    compliance_type: String,
    annotation: Option<String>,
    account_name: Option<String>,
    ou_path: Option<String>,
    account_tags: BTreeMap<String, String>,
    rule_name: String,
    function_arn: Option<String>,
    runtime: Option<String>,
    package_type: Option<String>,
    function_tags: BTreeMap<String, String>,
    phase: Option<String>,
    successor: Option<String>,
    days_to_fail: Option<i32>,
}

type Key = (String, String, String);

struct Organization {
    members: Vec<String>,
    suspended: String,
}

async fn build_organization(aws: &LocalAws) -> Organization {
    let admin = aws.sdk_config(None, 3).await;
    let names: Vec<String> = (0..=MEMBERS).map(|i| format!("member-{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut members = create_organization(&admin, &names).await;
    let suspended = members.pop().expect("the extra account");
    let org = aws_sdk_organizations::Client::new(&admin);
    let root = org.list_roots().send().await.expect("roots").roots()[0]
        .id()
        .expect("root id")
        .to_string();
    let mut units = Vec::new();
    for name in OUS {
        let unit = org
            .create_organizational_unit()
            .parent_id(&root)
            .name(name)
            .send()
            .await
            .expect("OU");
        units.push(
            unit.organizational_unit()
                .and_then(|u| u.id())
                .expect("OU id")
                .to_string(),
        );
    }
    for (index, member) in members.iter().enumerate() {
        org.move_account()
            .account_id(member)
            .source_parent_id(&root)
            .destination_parent_id(&units[index % OUS.len()])
            .send()
            .await
            .expect("move");
        org.tag_resource()
            .resource_id(member)
            .tags(
                aws_sdk_organizations::types::Tag::builder()
                    .key("cost-center")
                    .value(format!("cc-{}", index % 4))
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .expect("tag account");
    }
    org.close_account()
        .account_id(&suspended)
        .send()
        .await
        .expect("close");
    Organization { members, suspended }
}

/// Functions in every member and region, recorded by Config; then the rule as an organization rule
/// in each region, swept once. Returns the rule processes (kept alive for the test).
async fn evaluations_in_place(aws: &LocalAws, organization: &Organization) -> Vec<LambdaProcess> {
    // The recorders leave out AWS::Config::ResourceCompliance: the NON_COMPLIANT results are read per
    // triple, the path whose failures this organization's test injects.
    let (processes, arns) = deploy_rule(
        aws,
        &organization.members,
        &organization.members,
        &REGIONS,
        FUNCTIONS,
        false,
    )
    .await;
    sweep(aws, &arns, MEMBERS * REGIONS.len()).await;
    processes
}

/// Config recording in `members` (and the admin account) in `regions`, `functions` seeded functions
/// in each of `seeded`, the rule as an organization rule in each region behind the real rule binary.
/// Returns the rule processes (kept alive for the test) and the rule functions' ARNs.
async fn deploy_rule(
    aws: &LocalAws,
    members: &[String],
    seeded: &[String],
    regions: &[&str],
    functions: usize,
    record_resource_compliance: bool,
) -> (Vec<LambdaProcess>, Vec<String>) {
    let excluded: &[&str] = if record_resource_compliance {
        &[]
    } else {
        &["AWS::Config::ResourceCompliance"]
    };
    let rule_binary = e2e::workspace_binary("rule").expect("rule binary");
    for member in members {
        let keys = aws
            .assume_role(member, "OrganizationAccountAccessRole")
            .await
            .expect("keys");
        for region in regions {
            start_recording_except(
                &LocalAws::in_region(aws.sdk_config(Some(keys.clone()), 3).await, region),
                member,
                excluded,
            )
            .await;
        }
    }
    for region in regions {
        aws.control(
            "POST",
            "/_localaws/seed/lambda",
            Some(json!({"Accounts": seeded, "Region": region,
                        "FunctionsPerAccount": functions, "Runtimes": RUNTIMES})),
        )
        .expect("seed");
    }
    let mut processes = Vec::new();
    let mut arns = Vec::new();
    for &region in regions {
        let admin = LocalAws::in_region(aws.sdk_config(None, 3).await, region);
        start_recording_except(&admin, ADMIN_ACCOUNT, excluded).await;
        let arn = create_function(&admin, "runtime-rule", Runtime::Providedal2023).await;
        let periodic = [OrganizationConfigRuleTriggerType::ScheduledNotification];
        organization_rule(&admin, RULE, &arn, &periodic, Some(RULE_PARAMETERS)).await;
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
    (processes, arns)
}

/// The rule's periodic sweep everywhere, to the end of every invocation.
async fn sweep(aws: &LocalAws, arns: &[String], at_least: usize) {
    let sent = aws
        .control("POST", "/_localaws/config/periodic", Some(json!({})))
        .expect("periodic")["Sent"]
        .as_u64()
        .expect("sent") as usize;
    assert!(sent >= at_least, "{sent} scheduled notifications");
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let invocations: Vec<Value> = arns
            .iter()
            .flat_map(|arn| aws.invocations(arn).expect("invocations"))
            .collect();
        let failed: Vec<&Value> = invocations.iter().filter(|i| i["Status"] == "failed").collect();
        assert!(failed.is_empty(), "rule invocations failed: {failed:#?}");
        if invocations.len() >= sent && invocations.iter().all(|i| i["Status"] == "succeeded") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeps did not finish: {invocations:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the Config aggregator says, read independently of the aggregator's code.
async fn aggregator_results(aws: &LocalAws) -> BTreeMap<Key, (String, Option<String>)> {
    let config = aws_sdk_config::Client::new(&aws.sdk_config(None, 3).await);
    let mut triples = Vec::new();
    let mut token = None;
    loop {
        let page = config
            .describe_aggregate_compliance_by_config_rules()
            .configuration_aggregator_name(AGGREGATOR)
            .set_next_token(token)
            .send()
            .await
            .expect("describe");
        for entry in page.aggregate_compliance_by_config_rules() {
            let name = entry.config_rule_name().expect("name");
            if name.starts_with(&format!("OrgConfigRule-{RULE}-")) {
                triples.push((
                    name.to_string(),
                    entry.account_id().expect("account").to_string(),
                    entry.aws_region().expect("region").to_string(),
                ));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let mut results = BTreeMap::new();
    for (name, account, region) in triples {
        let mut token = None;
        loop {
            let page = config
                .get_aggregate_compliance_details_by_config_rule()
                .configuration_aggregator_name(AGGREGATOR)
                .config_rule_name(&name)
                .account_id(&account)
                .aws_region(&region)
                .set_next_token(token)
                .send()
                .await
                .expect("details");
            for result in page.aggregate_evaluation_results() {
                let id = result
                    .evaluation_result_identifier()
                    .and_then(|i| i.evaluation_result_qualifier())
                    .and_then(|q| q.resource_id())
                    .expect("resource id");
                results.insert(
                    (account.clone(), region.clone(), id.to_string()),
                    (
                        result.compliance_type().expect("compliance").as_str().to_string(),
                        result.annotation().map(str::to_string),
                    ),
                );
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    results
}

/// The aggregator binary: AGGREGATOR_BIN as for the Python suites (`cargo xtask test`), for a build's
/// own binary where a target directory is shared between checkouts; else Cargo's.
fn aggregator_bin() -> std::ffi::OsString {
    std::env::var_os("AGGREGATOR_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_aggregator").into())
}

/// Runs the aggregator binary as a user would; returns (exit code, stdout, stderr).
fn run_aggregator(aws: &LocalAws) -> (i32, String, String) {
    run_aggregator_with(aws, &[])
}

fn run_aggregator_with(aws: &LocalAws, env: &[(&str, &str)]) -> (i32, String, String) {
    run_aggregator_args(aws, env, &["--output", &format!("s3://{BUCKET}/{PREFIX}")])
}

/// The aggregator with `args` after the organization's (which include the output).
fn run_aggregator_args(aws: &LocalAws, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--rule-parameters", RULE_PARAMETERS];
    all.extend_from_slice(args);
    run_aggregator_deployed(aws, env, &all)
}

/// The aggregator with the deployed rule's parameters (read from Config) unless `args` give them.
fn run_aggregator_deployed(aws: &LocalAws, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let output = e2e::loopback_env(
        Command::new(aggregator_bin())
            .env_clear()
            .envs(env.iter().copied())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default()),
        aws.endpoint(),
    )
    .args(["run", "--config-aggregator", AGGREGATOR, "--rule", RULE])
    // Loopback: no quota to spare, and tens of runs (unless `args` set a rate; the Lambda run keeps
    // the Config default).
    .args(
        [
            ("--organizations-calls-per-second", "100"),
            ("--config-calls-per-second", "200"),
        ]
        .into_iter()
        .filter(|(flag, _)| !args.contains(flag))
        .flat_map(|(flag, rate)| [flag, rate]),
    )
    .args(args)
    .output()
    .expect("aggregator runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every object under `evaluations/` with its ETag, but the account cache (`_cache/`, written when a
/// run publishes) and the checkpoints (`_staging/`, kept after a failure for the retry: see
/// [`staging_objects`]).
async fn evaluation_objects(s3: &aws_sdk_s3::Client) -> BTreeMap<String, String> {
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{PREFIX}/evaluations/"))
        .send()
        .await
        .expect("list");
    listed
        .contents()
        .iter()
        .filter(|o| {
            let key = o.key().unwrap_or_default();
            !key.contains("/_cache/") && !key.contains("/_staging/")
        })
        .map(|o| {
            (
                o.key().expect("key").to_string(),
                o.e_tag().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The keys of the runs' checkpoints (`evaluations/_staging/`).
async fn staging_objects(s3: &aws_sdk_s3::Client) -> Vec<String> {
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{PREFIX}/evaluations/_staging/"))
        .send()
        .await
        .expect("list");
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
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

fn maps(batch: &RecordBatch, name: &str) -> Vec<BTreeMap<String, String>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    let column: &MapArray = column.as_map();
    (0..column.len())
        .map(|i| {
            let entries = column.value(i);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_string::<i32>();
            (0..keys.len())
                .map(|j| (keys.value(j).to_string(), values.value(j).to_string()))
                .collect()
        })
        .collect()
}

/// The day's snapshot from S3, read with the parquet crate, by (account, region, resource id).
async fn snapshot(s3: &aws_sdk_s3::Client, key: &str) -> (BTreeMap<Key, SnapshotRow>, BTreeSet<String>) {
    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("get snapshot");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut rows = BTreeMap::new();
    let mut run_ids = BTreeSet::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let text = |name| strings(&batch, name);
        let (accounts, regions, ids) = (text("account_id"), text("region"), text("resource_id"));
        let (compliance, annotation, names, ous) = (
            text("compliance_type"),
            text("annotation"),
            text("account_name"),
            text("ou_path"),
        );
        let (rules, arns, runtimes, packages) = (
            text("rule_name"),
            text("function_arn"),
            text("runtime"),
            text("package_type"),
        );
        let (phases, successors) = (text("phase"), text("successor"));
        let (account_tags, function_tags) = (maps(&batch, "account_tags"), maps(&batch, "function_tags"));
        let days = batch
            .column_by_name("days_to_fail")
            .expect("days_to_fail")
            .as_primitive::<Int32Type>()
            .clone();
        for (i, run_id) in text("run_id").into_iter().enumerate() {
            run_ids.insert(run_id.expect("run_id"));
            let key = (
                accounts[i].clone().expect("account"),
                regions[i].clone().expect("region"),
                ids[i].clone().expect("id"),
            );
            let row = SnapshotRow {
                compliance_type: compliance[i].clone().expect("compliance"),
                annotation: annotation[i].clone(),
                account_name: names[i].clone(),
                ou_path: ous[i].clone(),
                account_tags: account_tags[i].clone(),
                rule_name: rules[i].clone().expect("rule"),
                function_arn: arns[i].clone(),
                runtime: runtimes[i].clone(),
                package_type: packages[i].clone(),
                function_tags: function_tags[i].clone(),
                phase: phases[i].clone(),
                successor: successors[i].clone(),
                days_to_fail: days.is_valid(i).then(|| days.value(i)),
            };
            assert!(rows.insert(key.clone(), row).is_none(), "{key:?} twice");
        }
    }
    (rows, run_ids)
}

fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("summary on stdout ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_snapshot_equals_the_aggregator_and_survives_reruns_failures_and_throttling() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let organization = build_organization(aws).await;
    let _rules = evaluations_in_place(aws, &organization).await;
    let admin = aws.sdk_config(None, 3).await;
    organization_aggregator(&admin, AGGREGATOR).await;
    let s3 = LocalAws::s3_client(&admin);
    s3.create_bucket().bucket(BUCKET).send().await.expect("bucket");

    let expected = aggregator_results(aws).await;
    // Every member function, plus the rule's own function in the admin account (also a member).
    let of_members = expected
        .keys()
        .filter(|(account, _, _)| account != ADMIN_ACCOUNT)
        .count();
    assert_eq!(
        of_members,
        MEMBERS * REGIONS.len() * FUNCTIONS,
        "the rule's evaluations are in place"
    );

    // One run → one snapshot whose rows are the aggregator's results, with account and lifecycle columns.
    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let first = summary(&stdout);
    let date = first["snapshot_date"].as_str().expect("date").to_string();
    let part = format!("{PREFIX}/evaluations/dt={date}/part-00000.parquet");
    let summary_key = format!("{PREFIX}/evaluations/dt={date}/_summary.json");
    let objects = evaluation_objects(&s3).await;
    assert_eq!(
        objects.keys().cloned().collect::<Vec<_>>(),
        [summary_key.clone(), part.clone()]
    );
    let (rows, run_ids) = snapshot(&s3, &part).await;
    assert_eq!(
        run_ids,
        BTreeSet::from([first["run_id"].as_str().expect("run id").to_string()])
    );
    let seen: BTreeMap<Key, (String, Option<String>)> = rows
        .iter()
        .map(|(k, r)| (k.clone(), (r.compliance_type.clone(), r.annotation.clone())))
        .collect();
    assert_eq!(
        seen, expected,
        "snapshot rows differ from the aggregator's results"
    );
    assert_eq!(first["rows"], expected.len());
    assert_eq!(first["accounts"], MEMBERS + 1); // and the admin account's own copy of the rule
    assert_eq!(first["regions"], json!(["eu-west-1", "us-east-1"]));
    assert_eq!(first["complete"], true, "{first:#}");
    assert_eq!(first["rows_without_function_details"], 0);
    let inactive = first["inactive_accounts"].as_array().expect("inactive");
    assert_eq!(inactive.len(), 1, "{first:#}");
    assert_eq!(inactive[0]["account_id"], organization.suspended.as_str());
    assert_eq!(inactive[0]["state"], "SUSPENDED");

    for (index, member) in organization.members.iter().enumerate() {
        for region in REGIONS {
            for function in 0..FUNCTIONS {
                let name = format!("fn-{function:04}");
                let row = &rows[&(member.clone(), region.to_string(), name.clone())];
                let context = format!("{member} {region} {name}: {row:?}");
                assert_eq!(
                    row.account_name.as_deref(),
                    Some(format!("member-{index:02}").as_str()),
                    "{context}"
                );
                assert_eq!(
                    row.ou_path.as_deref(),
                    Some(format!("Root/{}", OUS[index % 3]).as_str()),
                    "{context}"
                );
                assert_eq!(
                    row.account_tags.get("cost-center").cloned(),
                    Some(format!("cc-{}", index % 4)),
                    "{context}"
                );
                assert!(
                    row.rule_name.starts_with(&format!("OrgConfigRule-{RULE}-")),
                    "{context}"
                );
                assert_eq!(
                    row.function_arn.as_deref(),
                    Some(format!("arn:aws:lambda:{region}:{member}:function:{name}").as_str()),
                    "{context}"
                );
                assert_eq!(
                    row.function_tags.get("team").cloned(),
                    Some(format!("team-{}", function % 5)),
                    "{context}"
                );
                let seeded = RUNTIMES[function % RUNTIMES.len()];
                match seeded {
                    "image" => {
                        assert_eq!(
                            (row.runtime.as_deref(), row.package_type.as_deref()),
                            (None, Some("Image")),
                            "{context}"
                        );
                        assert_eq!(row.phase, None, "{context}");
                    }
                    runtime => {
                        assert_eq!(row.runtime.as_deref(), Some(runtime), "{context}");
                        assert_eq!(row.package_type.as_deref(), Some("Zip"), "{context}");
                        assert!(row.phase.is_some(), "{context}");
                    }
                }
                if seeded == "python3.8" {
                    assert_eq!(row.compliance_type, "NON_COMPLIANT", "{context}");
                    assert_eq!(row.phase.as_deref(), Some("deprecated"), "{context}");
                    assert_eq!(row.successor.as_deref(), Some("python3.12"), "{context}");
                    assert!(row.days_to_fail.is_some_and(|d| d < 0), "{context}");
                }
                if seeded == "nodejs24.x" {
                    assert_eq!(row.compliance_type, "COMPLIANT", "{context}");
                    assert_eq!(row.phase.as_deref(), Some("supported"), "{context}");
                }
            }
        }
    }

    // A rerun of the day leaves one snapshot (replaced) and its summary.
    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 0, "{stderr}");
    let second = summary(&stdout);
    let objects = evaluation_objects(&s3).await;
    assert_eq!(
        objects.keys().cloned().collect::<Vec<_>>(),
        [summary_key.clone(), part.clone()]
    );
    let (rerun_rows, run_ids) = snapshot(&s3, &part).await;
    assert_eq!(
        run_ids,
        BTreeSet::from([second["run_id"].as_str().expect("run id").to_string()])
    );
    assert_eq!(rerun_rows, rows);

    // S3 failing mid-upload (a part, then the completion): a clear error, nothing new, no upload left.
    for operation in ["UploadPart", "CompleteMultipartUpload"] {
        aws.control(
            "POST",
            "/_localaws/faults",
            Some(json!({"Rules": [{"Service": "s3", "Operation": operation, "ServerError": 1.0}]})),
        )
        .expect("faults");
        let (code, stdout, stderr) = run_aggregator(aws);
        aws.control("POST", "/_localaws/faults", Some(json!({})))
            .expect("faults off");
        assert_eq!(code, 1, "{operation}: {stdout}\n{stderr}");
        let wanted = if operation == "UploadPart" {
            "uploading part 1"
        } else {
            "completing"
        };
        assert!(
            stderr.contains(wanted) && stderr.contains("nothing was published"),
            "{operation}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("s3://{BUCKET}/{part}")),
            "{operation}: {stderr}"
        );
        assert_eq!(
            evaluation_objects(&s3).await,
            objects,
            "{operation}: objects under evaluations/ changed"
        );
        let uploads = s3
            .list_multipart_uploads()
            .bucket(BUCKET)
            .send()
            .await
            .expect("uploads");
        assert!(
            uploads.uploads().is_empty(),
            "{operation}: an upload was left open: {uploads:?}"
        );
    }
    let (still, _) = snapshot(&s3, &part).await;
    assert_eq!(still, rows, "the previous snapshot is intact");
    // Those runs failed after gathering: their checkpoints stay (beside the dataset's partitions, which
    // are untouched) so that the retry resumes them; the retry removes them once it has published.
    let staged = staging_objects(&s3).await;
    assert!(
        staged.iter().any(|k| k.contains("/shard-"))
            && staged.iter().any(|k| k.ends_with("/organization.json.zst")),
        "{staged:?}"
    );
    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 0, "{stderr}");
    let retry = summary(&stdout);
    assert_eq!(retry["shards_resumed"], retry["inventory_shards"], "{retry:#}");
    assert_eq!(
        retry["api_calls_by_operation"].get("config:SelectAggregateResourceConfig"),
        None,
        "no inventory read again: {retry:#}"
    );
    assert_eq!(staging_objects(&s3).await, Vec::<String>::new());
    assert_eq!(snapshot(&s3, &part).await.0, rows, "the retry's rows");

    // 25% throttling on every service the aggregator calls: the same rows.
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"Seed": 25, "Rules": [
            {"Service": "config", "Throttle": 0.25},
            {"Service": "organizations", "Throttle": 0.25},
            {"Service": "s3", "Throttle": 0.25}]})),
    )
    .expect("faults");
    let served = || aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"].clone();
    let before = served();
    let (code, stdout, stderr) = run_aggregator(aws);
    let after = served();
    let injected = aws.control("GET", "/_localaws/faults", None).expect("faults")["Injected"].clone();
    aws.control("POST", "/_localaws/faults", Some(json!({})))
        .expect("faults off");
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let throttled: u64 = injected
        .as_object()
        .expect("counters")
        .iter()
        .filter(|(k, _)| k.starts_with("throttle:"))
        .map(|(_, v)| v.as_u64().unwrap_or(0))
        .sum();
    assert!(throttled >= 10, "throttling was injected: {injected}");
    for service in ["config", "organizations"] {
        assert!(
            injected
                .as_object()
                .expect("counters")
                .keys()
                .any(|k| k.starts_with(&format!("throttle:{service}:"))),
            "{service} throttled: {injected}"
        );
    }
    let throttled_run = summary(&stdout);
    assert_eq!(throttled_run["complete"], true, "{stdout}");
    let (throttled_rows, _) = snapshot(&s3, &part).await;
    assert_eq!(throttled_rows, rows, "throttling changed the rows");
    // The summary counts what the services received, throttled attempts and the SDK's retries included.
    let counted = throttled_run["api_calls_by_operation"]
        .as_object()
        .expect("counts");
    let mut compared = 0;
    for (operation, count) in counted {
        if operation.starts_with("config:") || operation.starts_with("organizations:") {
            let received = after[operation].as_u64().unwrap_or(0) - before[operation].as_u64().unwrap_or(0);
            assert_eq!(count.as_u64(), Some(received), "{operation}: {counted:?}");
            compared += 1;
        }
    }
    assert!(compared >= 4, "{counted:?}");

    // A query that keeps failing (two attempts, through the SDK's own setting): rows without runtime
    // and lifecycle columns do not replace the complete snapshot (exit 3, the pair untouched) ...
    let complete_pair = evaluation_objects(&s3).await;
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"Rules": [{"Service": "config", "Operation": "SelectAggregateResourceConfig", "ServerError": 1.0}]})),
    )
    .expect("faults");
    let (code, stdout, stderr) = run_aggregator_with(aws, &[("AWS_MAX_ATTEMPTS", "2")]);
    assert_eq!(code, 3, "{stderr}\n{stdout}");
    let kept = summary(&stdout);
    assert_eq!(kept["publication"]["published"], false, "{kept:#}");
    assert_eq!(kept["publication"]["kept"], "existing", "{kept:#}");
    assert_eq!(kept["publication"]["existing"]["gaps"], 0, "{kept:#}");
    assert!(
        kept["publication"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("more gaps")),
        "{kept:#}"
    );
    assert!(stderr.contains("not published"), "{stderr}");
    assert_eq!(evaluation_objects(&s3).await, complete_pair);
    assert_eq!(
        snapshot(&s3, &part).await.0,
        rows,
        "the complete snapshot is kept"
    );
    // ... unless forced: then it publishes every evaluation, names each (account, region) whose
    // function details are missing, exits 2.
    let (code, stdout, stderr) = run_aggregator_args(
        aws,
        &[("AWS_MAX_ATTEMPTS", "2")],
        &["--output", &format!("s3://{BUCKET}/{PREFIX}"), "--replace-worse"],
    );
    aws.control("POST", "/_localaws/faults", Some(json!({})))
        .expect("faults off");
    assert_eq!(code, 2, "{stderr}\n{stdout}");
    assert!(stderr.contains("gap"), "{stderr}");
    let partial = summary(&stdout);
    assert_eq!(partial["complete"], false);
    assert_eq!(partial["publication"]["published"], true, "{partial:#}");
    assert!(
        partial["publication"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("--replace-worse")),
        "{partial:#}"
    );
    let gaps = partial["gaps"].as_array().expect("gaps");
    assert_eq!(
        gaps.len(),
        (MEMBERS + 1) * REGIONS.len(),
        "one gap per (account, region): {partial:#}"
    );
    for gap in gaps {
        assert_eq!(gap["kind"], "functions", "{gap}");
        assert!(
            gap["reason"]
                .as_str()
                .is_some_and(|r| r.contains("ServiceUnavailable")),
            "{gap}"
        );
    }
    assert_eq!(partial["rows_without_function_details"], expected.len());
    let (degraded, _) = snapshot(&s3, &part).await;
    assert_eq!(degraded.len(), rows.len());
    assert!(
        degraded
            .values()
            .all(|r| r.runtime.is_none() && r.account_name.is_some())
    );

    // Every read of results failing: the NON_COMPLIANT triples are gaps, and what is left (the COMPLIANT
    // triples, which need no read) does not replace the day's good snapshot (exit 3).
    let before = evaluation_objects(&s3).await;
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(
            json!({"Rules": [{"Service": "config", "Operation": "GetAggregateComplianceDetailsByConfigRule",
                               "ServerError": 1.0}]}),
        ),
    )
    .expect("faults");
    let (code, stdout, stderr) = run_aggregator_with(aws, &[("AWS_MAX_ATTEMPTS", "1")]);
    aws.control("POST", "/_localaws/faults", Some(json!({})))
        .expect("faults off");
    assert_eq!(code, 3, "{stderr}\n{stdout}");
    let kept = summary(&stdout);
    assert_eq!(
        kept["triples_failed"],
        MEMBERS * REGIONS.len(),
        "every member triple has a NON_COMPLIANT result to read: {kept:#}"
    );
    assert!(
        kept["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .all(|g| g["kind"] == "triple"
                && g["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("ServiceUnavailable"))),
        "{kept:#}"
    );
    assert_eq!(kept["publication"]["published"], false, "{kept:#}");
    assert_eq!(evaluation_objects(&s3).await, before);

    // The same binary as the scheduled Lambda behind the Runtime API: EventBridge's envelope is
    // ignored, snapshotDate overrides the day with backfill (and only with it), a malformed override is
    // an error and writes nothing.
    let yesterday =
        lifecycle::dates::add_days(lifecycle::dates::parse_date(&date).expect("date"), -1).to_string();
    let function = create_function(&admin, "runtime-aggregator", Runtime::Providedal2023).await;
    let output = format!("s3://{BUCKET}/{PREFIX}");
    let _lambda = LambdaProcess::start(
        aws,
        std::path::Path::new(&aggregator_bin()),
        &function,
        &[
            ("AGGREGATOR_CONFIG_AGGREGATOR", AGGREGATOR),
            ("AGGREGATOR_RULES", RULE),
            ("AGGREGATOR_OUTPUT", &output),
            ("AGGREGATOR_RULE_PARAMETERS", RULE_PARAMETERS),
            ("AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND", "100"),
        ],
    )
    .expect("aggregator Lambda");
    let payloads = [
        json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
               "detail": {}, "snapshotDate": yesterday, "backfill": true}),
        json!({"snapshotDate": "someday"}),
        json!({"snapshotDate": yesterday}),
    ];
    let invocations = aws
        .invoke_events(&admin, &function, &payloads, Duration::from_secs(120))
        .await
        .expect("settled");
    let scheduled = invocations
        .iter()
        .find(|i| i["Status"] == "succeeded")
        .expect("a succeeded run");
    let response = &scheduled["Response"];
    assert_eq!(response["snapshot_date"], yesterday.as_str(), "{scheduled:#}");
    // And the aggregator's own function, just created: in the inventory and in a COMPLIANT triple, not
    // evaluated by the (periodic-only) rule yet — COMPLIANT until the rule says otherwise.
    assert_eq!(response["rows"], expected.len() + 1, "{scheduled:#}");
    assert_eq!(
        response["rate_limits"]["organizations_per_second"], 100.0,
        "{scheduled:#}"
    );
    assert_eq!(
        response["rate_limits"]["config_per_second"], 10.0,
        "{scheduled:#}"
    );
    assert_eq!(response["backfill"], true, "{scheduled:#}");
    assert!(
        response["run_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("backfill-")),
        "{scheduled:#}"
    );
    let refused: Vec<String> = invocations
        .iter()
        .filter(|i| i["Status"] == "failed")
        .map(|i| {
            i["Error"]["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(refused.len(), 2, "{invocations:#?}");
    assert!(refused.iter().all(|m| m.contains("snapshotDate")), "{refused:#?}");
    assert!(
        refused.iter().any(|m| m.contains("backfill")),
        "a past date without backfill is refused: {refused:#?}"
    );
    let keys: Vec<String> = evaluation_objects(&s3).await.into_keys().collect();
    assert_eq!(
        keys,
        [
            format!("{PREFIX}/evaluations/dt={yesterday}/_summary.json"),
            format!("{PREFIX}/evaluations/dt={yesterday}/part-00000.parquet"),
            summary_key,
            part.clone(),
        ]
    );
    let (yesterdays, backfill_ids) = snapshot(
        &s3,
        &format!("{PREFIX}/evaluations/dt={yesterday}/part-00000.parquet"),
    )
    .await;
    assert!(
        backfill_ids.iter().all(|id| id.starts_with("backfill-")),
        "the rows are labelled: {backfill_ids:?}"
    );
    let verdicts = |rows: &BTreeMap<Key, SnapshotRow>| -> BTreeMap<Key, String> {
        rows.iter()
            .map(|(k, r)| (k.clone(), r.compliance_type.clone()))
            .collect()
    };
    let mut with_new = verdicts(&rows);
    with_new.insert(
        (
            ADMIN_ACCOUNT.to_string(),
            REGION.to_string(),
            "runtime-aggregator".to_string(),
        ),
        "COMPLIANT".to_string(),
    );
    assert_eq!(verdicts(&yesterdays), with_new);

    // A function the catalog fails today that the rule has not evaluated yet (created after the last
    // sweep; the rule is periodic): Config has not decided it, so its row says INSUFFICIENT_DATA, and the
    // summary counts it — never a COMPLIANT nobody decided.
    let member = &organization.members[0];
    let keys = aws
        .assume_role(member, "OrganizationAccountAccessRole")
        .await
        .expect("keys");
    let in_member = LocalAws::in_region(aws.sdk_config(Some(keys), 3).await, REGION);
    create_function(&in_member, "not-yet-judged", Runtime::Python38).await;
    let (code, stdout, stderr) = run_aggregator_args(
        aws,
        &[],
        &["--output", &format!("s3://{BUCKET}/{PREFIX}"), "--replace-worse"],
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let latest = summary(&stdout);
    assert_eq!(latest["functions_not_evaluated"], 1, "{latest:#}");
    let (rows, _) = snapshot(&s3, &part).await;
    let undecided = &rows[&(member.clone(), REGION.to_string(), "not-yet-judged".to_string())];
    assert_eq!(
        undecided.compliance_type, "INSUFFICIENT_DATA",
        "a function Config has not decided"
    );
    assert_eq!(undecided.runtime.as_deref(), Some("python3.8"));

    // The rule's catalog overlay (catalogSsmParameter: python3.13 deprecated early) is applied to the
    // lifecycle columns as the rule would apply it; an overlay that cannot be read is a `catalog` gap.
    let python313 = (member.clone(), REGION.to_string(), "fn-0001".to_string());
    assert_eq!(rows[&python313].phase.as_deref(), Some("supported"));
    aws_sdk_ssm::Client::new(&admin)
        .put_parameter()
        .name("/runtime-guard/catalog")
        .value(
            r#"{"schema_version":1,"updated_at":"2026-11-20","runtimes":[{"runtime":"python3.13","family":"python","os":"AL2023","packaging":"zip","deprecation_date":"2026-01-01","block_create_date":"2029-07-31","block_update_date":"2029-08-31","successor":"python3.14","latest":"python3.14"}]}"#,
        )
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("parameter");
    let with_overlay = |name: &str| {
        let mut parameters: serde_json::Map<String, Value> =
            serde_json::from_str(RULE_PARAMETERS).expect("parameters");
        parameters.insert("catalogSsmParameter".into(), json!(name));
        Value::Object(parameters).to_string()
    };
    let output = format!("s3://{BUCKET}/{PREFIX}");
    let overlaid = with_overlay("/runtime-guard/catalog");
    let (code, stdout, stderr) = run_aggregator_deployed(
        aws,
        &[],
        &[
            "--rule-parameters",
            &overlaid,
            "--output",
            &output,
            "--replace-worse",
        ],
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let overlay_run = summary(&stdout);
    assert_eq!(
        overlay_run["catalog_overlay"], "/runtime-guard/catalog",
        "{overlay_run:#}"
    );
    assert_eq!(overlay_run["catalog_updated_at"], "2026-11-20", "{overlay_run:#}");
    assert_eq!(
        overlay_run["api_calls_by_operation"]["ssm:GetParameter"], 1,
        "{overlay_run:#}"
    );
    let (rows, _) = snapshot(&s3, &part).await;
    assert_eq!(
        rows[&python313].phase.as_deref(),
        Some("deprecated"),
        "{:?}",
        rows[&python313]
    );
    let missing = with_overlay("/runtime-guard/missing");
    let (code, stdout, stderr) =
        run_aggregator_deployed(aws, &[], &["--rule-parameters", &missing, "--output", &output]);
    assert_eq!(
        code, 3,
        "a snapshot with a gap does not replace one without: {stderr}\n{stdout}"
    );
    let unreadable = summary(&stdout);
    let gaps = unreadable["gaps"].as_array().expect("gaps");
    assert!(
        gaps.iter().any(|g| g["kind"] == "catalog"
            && g["reason"]
                .as_str()
                .is_some_and(|r| r.contains("/runtime-guard/missing"))),
        "{unreadable:#}"
    );
    assert!(unreadable.get("catalog_overlay").is_none(), "{unreadable:#}");
}

/// The NON_COMPLIANT triples of the rule — the only ones whose results a run reads — as (account,
/// region), in the order a `--concurrency 1` run reads them: by region, then account.
async fn noncompliant_triples_in_order(aws: &LocalAws) -> Vec<(String, String)> {
    let config = aws_sdk_config::Client::new(&aws.sdk_config(None, 3).await);
    let page = config
        .describe_aggregate_compliance_by_config_rules()
        .configuration_aggregator_name(AGGREGATOR)
        .send()
        .await
        .expect("describe");
    assert!(page.next_token().is_none(), "one page");
    let mut pairs: Vec<(String, String)> = page
        .aggregate_compliance_by_config_rules()
        .iter()
        .filter(|e| {
            e.config_rule_name()
                .is_some_and(|n| n.starts_with(&format!("OrgConfigRule-{RULE}-")))
                && e.compliance().and_then(|c| c.compliance_type())
                    == Some(&aws_sdk_config::types::ComplianceType::NonCompliant)
        })
        .map(|e| {
            (
                e.aws_region().expect("region").to_string(),
                e.account_id().expect("account").to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

/// The local AWS draws one number per matching call from `random.Random(Seed)` and throttles below
/// the odds: the seed that throttles exactly the calls marked `F` in `pattern` (one call per triple,
/// in order, when a run reads one triple at a time with one attempt each).
fn seed_throttling(pattern: &str, odds: f64) -> u64 {
    let script = "import random, sys\n\
        p, pattern = float(sys.argv[1]), sys.argv[2]\n\
        print(next(s for s in range(1_000_000) if all((r.random() < p) == (c == 'F') \
        for r in [random.Random(s)] for c in pattern)))\n";
    let output = Command::new("python3")
        .args(["-c", script, &odds.to_string(), pattern])
        .output()
        .expect("python3");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a seed")
}

/// Usage errors exit 64 (not 2, which is "published with gaps"), before any AWS call or file write.
#[test]
fn usage_errors_exit_64_and_touch_nothing() {
    let dir = std::env::temp_dir().join(format!("aggregator-usage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let output = dir.display().to_string();
    let base = [
        "run",
        "--config-aggregator",
        AGGREGATOR,
        "--rule",
        RULE,
        "--output",
        &output,
    ];
    let today = lifecycle::dates::today_utc();
    let tomorrow = lifecycle::dates::add_days(today, 1).to_string();
    let cases: [(&[&str], &str); 10] = [
        (&["--config-calls-per-second", "0"], "--config-calls-per-second"),
        (
            &["--organizations-calls-per-second", "fast"],
            "--organizations-calls-per-second",
        ),
        (&["--snapshot-date", "2026-02-30"], "--snapshot-date"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--frobnicate"], "--frobnicate"),
        (&["--snapshot-date", "1999-01-01"], "--backfill"),
        (&["--backfill"], "--snapshot-date"),
        (&["--snapshot-date", &tomorrow], "future"),
        (&["--rule-parameters", "{not json"], "--rule-parameters"),
        (&["--output", "ftp://somewhere"], "--output"),
    ];
    for (extra, wanted) in cases {
        let run = Command::new(aggregator_bin())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(base)
            .args(extra)
            .output()
            .expect("aggregator runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(64), "{extra:?}: {stderr}");
        assert!(stderr.contains(wanted), "{extra:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).expect("dir").count(),
        0,
        "nothing was written"
    );
    let help = Command::new(aggregator_bin())
        .args(["run", "--help"])
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(help.status.code(), Some(0), "{text}");
    for line in [
        "0   published, complete",
        "1   failed",
        "2   published with gaps",
        "3   not published",
        "64  usage error",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// Issue 13's "trust in the snapshot" on a small organization: two members with two functions each
/// and one without functions (the rule deployed, no results there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worse_snapshot_never_replaces_a_better_one_and_failures_leave_the_pair_intact() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    let members = create_organization(&admin, &["member-a", "member-b", "member-c"]).await;
    let (_rules, arns) = deploy_rule(aws, &members, &members[..2], &[REGION], 2, false).await;
    organization_aggregator(&admin, AGGREGATOR).await;
    let s3 = LocalAws::s3_client(&admin);
    s3.create_bucket().bucket(BUCKET).send().await.expect("bucket");
    let output = format!("s3://{BUCKET}/{PREFIX}");
    let today = lifecycle::dates::today_utc().to_string();
    let part = format!("{PREFIX}/evaluations/dt={today}/part-00000.parquet");
    let gap_kinds = |summary: &Value| -> BTreeSet<String> {
        summary["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .map(|g| g["kind"].as_str().expect("kind").to_string())
            .collect()
    };

    // The rule deployed, nothing evaluated yet: no results at all is a gap (exit 2), not "complete"; its
    // functions are there, each INSUFFICIENT_DATA.
    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 2, "{stderr}\n{stdout}");
    let empty = summary(&stdout);
    let undecided = empty["rows"].as_u64().expect("rows");
    assert_eq!(
        (empty["compliance"].clone(), empty["complete"].clone()),
        (json!({"INSUFFICIENT_DATA": undecided}), json!(false)),
        "{empty:#}"
    );
    assert!(undecided > 0, "{empty:#}");
    assert_eq!(
        gap_kinds(&empty),
        BTreeSet::from(["no_results".to_string()]),
        "{empty:#}"
    );
    assert_eq!(empty["publication"]["published"], true, "{empty:#}");

    // The rule's sweep, then the day's good snapshot: it replaces the empty one (more rows, fewer gaps).
    sweep(aws, &arns, members.len()).await;
    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let good = summary(&stdout);
    let good_rows = good["rows"].as_u64().expect("rows");
    assert!(good_rows >= 4, "{good:#}");
    // Two NON_COMPLIANT triples of one function each: one ResourceCompliance query would do, but these
    // recorders leave the type out, so the run finds none and reads each triple's results.
    assert_eq!(good["resource_compliance"], "not recorded", "{good:#}");
    assert_eq!(good["triples_from_resource_compliance"], 0, "{good:#}");
    assert_eq!(good["publication"]["kept"], "new", "{good:#}");
    assert_eq!(good["publication"]["existing"]["rows"], undecided, "{good:#}");
    assert!(
        good["publication"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no more gaps")),
        "{good:#}"
    );
    let good_pair = evaluation_objects(&s3).await;
    assert_eq!(good_pair.len(), 2, "{good_pair:?}");
    let (good_snapshot, _) = snapshot(&s3, &part).await;
    assert_eq!(good_snapshot.len() as u64, good_rows);

    // The reads of results throttled out (all of them, then one): fewer rows, kept out (exit 3). (The
    // account without results and the COMPLIANT triples need no read: their rows do not depend on one.)
    let order = noncompliant_triples_in_order(aws).await;
    assert_eq!(
        order.len(),
        2,
        "members a and b each have a python3.8 function: {order:?}"
    );
    let everything_throttled = "F".repeat(order.len());
    let one_throttled = format!("F{}", "P".repeat(order.len() - 1));
    for (pattern, rows_below) in [(everything_throttled, good_rows), (one_throttled, good_rows)] {
        let seed = seed_throttling(&pattern, 0.5);
        aws.control(
            "POST",
            "/_localaws/faults",
            Some(json!({"Seed": seed, "Rules": [{"Service": "config",
                "Operation": "GetAggregateComplianceDetailsByConfigRule", "Throttle": 0.5}]})),
        )
        .expect("faults");
        let (code, stdout, stderr) = run_aggregator_args(
            aws,
            &[("AWS_MAX_ATTEMPTS", "1")],
            &["--output", &output, "--concurrency", "1"],
        );
        aws.control("POST", "/_localaws/faults", Some(json!({})))
            .expect("faults off");
        assert_eq!(code, 3, "{pattern}: {stderr}\n{stdout}");
        let kept = summary(&stdout);
        let failed = pattern.matches('F').count();
        assert_eq!(kept["triples_failed"], failed, "{pattern}: {kept:#}");
        assert!(kept["rows"].as_u64().expect("rows") < rows_below, "{kept:#}");
        assert!(gap_kinds(&kept).contains("triple"), "{kept:#}");
        assert_eq!(kept["publication"]["published"], false, "{kept:#}");
        assert_eq!(kept["publication"]["kept"], "existing", "{kept:#}");
        assert_eq!(kept["publication"]["existing"]["rows"], good_rows, "{kept:#}");
        assert!(stderr.contains("not published"), "{stderr}");
        assert_eq!(evaluation_objects(&s3).await, good_pair, "{pattern}");
        assert_eq!(snapshot(&s3, &part).await.0, good_snapshot, "{pattern}");
    }

    // The summary cannot be written: nothing is published, the old pair stays as it was (exit 1).
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"Rules": [{"Service": "s3", "Operation": "PutObject", "ServerError": 1.0}]})),
    )
    .expect("faults");
    let (code, stdout, stderr) = run_aggregator_with(aws, &[("AWS_MAX_ATTEMPTS", "1")]);
    aws.control("POST", "/_localaws/faults", Some(json!({})))
        .expect("faults off");
    assert_eq!(code, 1, "{stderr}\n{stdout}");
    assert!(
        stderr.contains("writing the summary") && stderr.contains("nothing was published"),
        "{stderr}"
    );
    assert_eq!(evaluation_objects(&s3).await, good_pair);
    let uploads = s3
        .list_multipart_uploads()
        .bucket(BUCKET)
        .send()
        .await
        .expect("uploads");
    assert!(uploads.uploads().is_empty(), "{uploads:?}");

    // A snapshot whose summary is gone is of unknown quality: replaced, and the summary says so.
    s3.delete_object()
        .bucket(BUCKET)
        .key(format!("{PREFIX}/evaluations/dt={today}/_summary.json"))
        .send()
        .await
        .expect("delete the summary");
    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let orphan = summary(&stdout);
    assert!(
        orphan["publication"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("had no summary")),
        "{orphan:#}"
    );
    let good_pair = evaluation_objects(&s3).await;
    assert_eq!(good_pair.len(), 2, "{good_pair:?}");

    // A past date is a backfill only when asked for; then it is labelled in the summary and the rows.
    let (code, _, stderr) =
        run_aggregator_args(aws, &[], &["--output", &output, "--snapshot-date", "1999-01-01"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("--backfill"), "{stderr}");
    assert_eq!(
        evaluation_objects(&s3).await,
        good_pair,
        "nothing written for 1999"
    );
    let (code, stdout, stderr) = run_aggregator_args(
        aws,
        &[],
        &["--output", &output, "--snapshot-date", "1999-01-01", "--backfill"],
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let backfill = summary(&stdout);
    assert_eq!(backfill["backfill"], true, "{backfill:#}");
    assert_eq!(backfill["snapshot_date"], "1999-01-01", "{backfill:#}");
    let (old_rows, run_ids) = snapshot(
        &s3,
        &format!("{PREFIX}/evaluations/dt=1999-01-01/part-00000.parquet"),
    )
    .await;
    assert_eq!(old_rows.len() as u64, good_rows);
    assert!(
        run_ids.iter().all(|id| id.starts_with("backfill-")),
        "{run_ids:?}"
    );
    assert_eq!(
        run_ids,
        BTreeSet::from([backfill["run_id"].as_str().expect("run id").to_string()])
    );

    // A local publication that fails (a directory where the snapshot goes) leaves no staging
    // directory and no summary behind.
    let dir = std::env::temp_dir().join(format!("aggregator-publish-{}", std::process::id()));
    let blocker = dir.join(format!("evaluations/dt={today}/part-00000.parquet/in-the-way"));
    std::fs::create_dir_all(&blocker).expect("blocker");
    let (code, stdout, stderr) = run_aggregator_args(aws, &[], &["--output", &dir.display().to_string()]);
    assert_eq!(code, 1, "{stderr}\n{stdout}");
    assert!(stderr.contains("publishing"), "{stderr}");
    let top: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, ["evaluations"], "nothing staged is left");
    let partition: Vec<String> = std::fs::read_dir(dir.join(format!("evaluations/dt={today}")))
        .expect("partition")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        partition,
        ["part-00000.parquet"],
        "no summary without its snapshot"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// DescribeAggregateComplianceByConfigRules calls of the triple listing with pages of `limit`, as
/// `Gatherer::triples` plans them, over the unfiltered listing in the service's order (the local
/// AWS's: by account, region, rule name): the first pages until the rule is seen, the account it was
/// first seen in, the regions not covered yet, then each member name's own listing. Returns the
/// describe calls and the summary calls (by region) planned.
fn planned_describe_calls(listing: &[(String, String, String)], limit: usize) -> (usize, usize) {
    let pages = |n: usize| n.div_ceil(limit).max(1);
    let ours = |name: &str| aggregator::gather::rule_matches(RULE, name);
    if listing.len() <= limit {
        return (1, 0); // the whole listing in one page
    }
    let Some(first) = listing.iter().position(|(name, _, _)| ours(name)) else {
        return (pages(listing.len()), 0);
    };
    // (No hints: the run is given --rule-parameters, so no organization rule ARN is read.)
    let mut calls = first / limit + 1;
    let mut seen: BTreeSet<(String, String)> = listing[..(calls * limit)]
        .iter()
        .filter(|(name, _, _)| ours(name))
        .map(|(name, _, region)| (name.clone(), region.clone()))
        .collect();
    let account = &listing[first].1;
    let of_account: Vec<_> = listing.iter().filter(|(_, a, _)| a == account).collect();
    calls += pages(of_account.len());
    seen.extend(
        of_account
            .iter()
            .filter(|(name, _, _)| ours(name))
            .map(|(name, _, region)| (name.clone(), region.clone())),
    );
    let regions: BTreeSet<&String> = listing.iter().map(|(_, _, region)| region).collect();
    for region in regions {
        if seen.iter().any(|(_, r)| r == region) {
            continue;
        }
        let of_region: Vec<_> = listing.iter().filter(|(_, _, r)| r == region).collect();
        calls += match of_region.iter().position(|(name, _, _)| ours(name)) {
            Some(index) => index / limit + 1,
            None => pages(of_region.len()),
        };
        seen.extend(
            of_region
                .iter()
                .filter(|(name, _, _)| ours(name))
                .map(|(name, _, r)| (name.clone(), r.clone())),
        );
    }
    let names: BTreeSet<&String> = seen.iter().map(|(name, _)| name).collect();
    for name in names {
        calls += pages(listing.iter().filter(|(n, _, _)| n == name).count());
    }
    (calls, 1)
}

/// Gather v2's call plan on a small organization (3 members and the management account × 2 regions,
/// 40 functions in each member and region): `api_calls_by_operation` equals what the plan predicts
/// from the triples and the inventory, run after run (the account cache read back), and the filtered
/// listing (small pages) gives the same snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_by_operation_are_what_the_plan_predicts() {
    const PER_PAIR: usize = 40;
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    let members = create_organization(&admin, &["member-a", "member-b", "member-c"]).await;
    let (_rules, arns) = deploy_rule(aws, &members, &members, &REGIONS, PER_PAIR, true).await;
    sweep(aws, &arns, members.len() * REGIONS.len()).await;
    organization_aggregator(&admin, AGGREGATOR).await;
    let s3 = LocalAws::s3_client(&admin);
    s3.create_bucket().bucket(BUCKET).send().await.expect("bucket");

    // The plan, from what the aggregator holds, read independently.
    let config = aws_sdk_config::Client::new(&admin);
    let page = config
        .describe_aggregate_compliance_by_config_rules()
        .configuration_aggregator_name(AGGREGATOR)
        .send()
        .await
        .expect("describe");
    assert!(page.next_token().is_none(), "one page");
    let entries = page.aggregate_compliance_by_config_rules();
    let listing: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e.config_rule_name().expect("name").to_string(),
                e.account_id().expect("account").to_string(),
                e.aws_region().expect("region").to_string(),
            )
        })
        .collect();
    let ours: Vec<_> = entries
        .iter()
        .filter(|e| aggregator::gather::rule_matches(RULE, e.config_rule_name().unwrap_or_default()))
        .collect();
    assert_eq!(ours.len(), (members.len() + 1) * REGIONS.len(), "{listing:?}");
    let details: usize = ours
        .iter()
        .filter_map(|e| e.compliance())
        .filter(|c| c.compliance_type() == Some(&aws_sdk_config::types::ComplianceType::NonCompliant))
        .map(|c| {
            let count = c.compliance_contributor_count().expect("contributors");
            assert!(!count.cap_exceeded());
            usize::try_from(count.capped_count())
                .expect("count")
                .div_ceil(100)
                .max(1)
        })
        .sum();
    assert_eq!(
        details,
        members.len() * REGIONS.len(),
        "one page for each member triple"
    );
    // One shard a region (4 accounts): the members' functions and the rule's own.
    let inventory = REGIONS.len() * (members.len() * PER_PAIR + 1).div_ceil(100);
    // A region whose NON_COMPLIANT functions fit fewer ResourceCompliance pages than its details reads
    // makes the run ask once whether the recorders record that type (these do), then read that region's
    // NON_COMPLIANT functions with one query instead of a details read per triple.
    let by_region = |region: &str| -> (usize, usize) {
        ours.iter()
            .filter(|e| e.aws_region() == Some(region))
            .filter_map(|e| e.compliance())
            .filter_map(|c| c.compliance_contributor_count())
            .map(|count| usize::try_from(count.capped_count()).expect("count"))
            .fold((0, 0), |(reads, functions), count| {
                (reads + count.div_ceil(100).max(1), functions + count)
            })
    };
    let (mut items, mut details_read) = (0, 0);
    for region in REGIONS {
        let (reads, functions) = by_region(region);
        if functions.div_ceil(100).max(1) < reads {
            items += functions.div_ceil(100).max(1);
        } else {
            details_read += reads;
        }
    }
    let probe = usize::from(items > 0);
    assert_eq!(
        (probe, items, details_read),
        (1, REGIONS.len(), 0),
        "3 NON_COMPLIANT triples a region, one page of functions"
    );
    let accounts = aws_sdk_organizations::Client::new(&admin)
        .list_accounts()
        .send()
        .await
        .expect("accounts")
        .accounts()
        .len();
    let planned = |describe: usize, summary: usize, first_publication: bool| -> BTreeMap<String, u64> {
        let mut calls = BTreeMap::from([
            ("config:DescribeAggregateComplianceByConfigRules", describe),
            ("config:SelectAggregateResourceConfig", inventory + probe + items),
            ("organizations:ListRoots", 1),
            // The root, the only OU: one page of each.
            ("organizations:ListOrganizationalUnitsForParent", 1),
            ("organizations:ListAccountsForParent", 1),
            ("organizations:ListTagsForResource", accounts),
            // The account cache and the day's summary; the summary; the snapshot in one part.
            ("s3:GetObject", 2),
            // The summary; the checkpoints: the organization and each shard.
            ("s3:PutObject", 1 + 1 + REGIONS.len()),
            ("s3:ListObjectsV2", 1),
            ("s3:CreateMultipartUpload", 1),
            ("s3:UploadPart", 1),
        ]);
        if summary > 0 {
            calls.insert("config:GetAggregateConfigRuleComplianceSummary", summary);
        }
        if details_read > 0 {
            calls.insert("config:GetAggregateComplianceDetailsByConfigRule", details_read);
        }
        if first_publication {
            calls.insert("s3:HeadObject", 1); // no summary yet: is there a snapshot without one?
        }
        calls
            .into_iter()
            .map(|(k, v)| (k.to_string(), v as u64))
            .collect()
    };
    let calls_of = |summary: &Value| -> BTreeMap<String, u64> {
        serde_json::from_value(summary["api_calls_by_operation"].clone()).expect("api_calls_by_operation")
    };

    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let first = summary(&stdout);
    eprintln!(
        "first run: {} calls {} in {} ms",
        first["api_calls"], first["api_calls_by_operation"], first["duration_ms"]
    );
    assert_eq!(calls_of(&first), planned(1, 0, true), "{first:#}");
    assert_eq!(
        first["api_calls"],
        calls_of(&first).values().sum::<u64>(),
        "{first:#}"
    );
    assert_eq!(first["inventory_shards"], REGIONS.len());
    assert_eq!(first["resource_compliance"], "recorded", "{first:#}");
    assert_eq!(
        first["triples_from_resource_compliance"], details,
        "every NON_COMPLIANT triple: {first:#}"
    );
    assert_eq!(first["organization_cache"]["loaded"], "none", "{first:#}");
    assert_eq!(first["organization_cache"]["accounts"], accounts, "{first:#}");
    assert_eq!(
        first["organization_cache"]["accounts_without_tags"], 0,
        "{first:#}"
    );
    let rows = first["rows"].as_u64().expect("rows");
    // Every member function is judged (images too, imageMaxAgeDays is set), and the rule's own.
    assert_eq!(
        rows as usize,
        (members.len() * PER_PAIR + 1) * REGIONS.len(),
        "{first:#}"
    );
    let today = first["snapshot_date"].as_str().expect("date").to_string();
    let part = format!("{PREFIX}/evaluations/dt={today}/part-00000.parquet");
    let (first_rows, _) = snapshot(&s3, &part).await;
    // Read from ResourceCompliance items, the NON_COMPLIANT rows carry the rule's own annotation: the
    // recomputed verdict's text equals what the rule put, function by function.
    let held = aggregator_results(aws).await;
    let noncompliant: Vec<_> = held.iter().filter(|(_, (c, _))| c == "NON_COMPLIANT").collect();
    assert_eq!(
        noncompliant.len(),
        first["compliance"]["NON_COMPLIANT"].as_u64().expect("n") as usize
    );
    for (key, (_, annotation)) in noncompliant {
        let row = &first_rows[key];
        assert_eq!(
            (row.compliance_type.as_str(), &row.annotation),
            ("NON_COMPLIANT", annotation),
            "{key:?}"
        );
    }
    let cache = s3
        .get_object()
        .bucket(BUCKET)
        .key(format!("{PREFIX}/evaluations/_cache/organization.json"))
        .send()
        .await
        .expect("the account cache, written with the snapshot");
    let cache: Value =
        serde_json::from_slice(&cache.body.collect().await.expect("body").into_bytes()).expect("cache JSON");
    assert_eq!(cache["accounts"].as_object().expect("accounts").len(), accounts);

    // Again: the cache is read back (a small organization is still refreshed whole), the summary exists.
    let (code, stdout, stderr) = run_aggregator(aws);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let second = summary(&stdout);
    assert_eq!(calls_of(&second), planned(1, 0, false), "{second:#}");
    assert_eq!(second["organization_cache"]["loaded"], "read", "{second:#}");

    // Pages of 3 triples: the filtered listing, by the member names (one per region).
    let (describe, summaries) = planned_describe_calls(&listing, 3);
    assert!(describe > 1 && summaries == 1, "the filtered path: {describe}");
    let (code, stdout, stderr) = run_aggregator_args(
        aws,
        &[],
        &[
            "--output",
            &format!("s3://{BUCKET}/{PREFIX}"),
            "--describe-page-size",
            "3",
        ],
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let filtered = summary(&stdout);
    eprintln!(
        "filtered listing: {} calls {} in {} ms",
        filtered["api_calls"], filtered["api_calls_by_operation"], filtered["duration_ms"]
    );
    assert_eq!(
        calls_of(&filtered),
        planned(describe, summaries, false),
        "{filtered:#}"
    );
    let (filtered_rows, _) = snapshot(&s3, &part).await;
    assert_eq!(filtered_rows, first_rows, "the same snapshot either way");

    // The deployed rule's parameters read from Config: its ARN names the member copies in this region,
    // whose listing is then read once (discovery and triples at the same time).
    let (code, stdout, stderr) = run_aggregator_deployed(
        aws,
        &[],
        &[
            "--output",
            &format!("s3://{BUCKET}/{PREFIX}"),
            "--describe-page-size",
            "3",
        ],
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let hinted = summary(&stdout);
    assert_eq!(
        hinted["rule_parameters"]["source"],
        format!("organization rule {RULE}"),
        "{hinted:#}"
    );
    let mut expected = planned(describe, summaries, false);
    expected.insert("config:DescribeOrganizationConfigRules".into(), 1);
    assert_eq!(calls_of(&hinted), expected, "{hinted:#}");
    assert_eq!(snapshot(&s3, &part).await.0, first_rows);

    // Held to 2 Config calls a second (no burst): the second run's 8 Config calls take at least 3.5 s.
    let config_calls: u64 = calls_of(&second)
        .iter()
        .filter(|(k, _)| k.starts_with("config:"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(config_calls, 8);
    let (code, stdout, stderr) = run_aggregator_args(
        aws,
        &[],
        &[
            "--output",
            &format!("s3://{BUCKET}/{PREFIX}"),
            "--config-calls-per-second",
            "2",
        ],
    );
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let limited = summary(&stdout);
    eprintln!(
        "at 2 Config calls/s: {} calls in {} ms",
        limited["api_calls"], limited["duration_ms"]
    );
    assert_eq!(limited["rate_limits"]["config_per_second"], 2.0, "{limited:#}");
    assert!(
        limited["duration_ms"].as_u64().expect("ms") >= 3_500,
        "{limited:#}"
    );
    assert_eq!(
        calls_of(&limited),
        calls_of(&second),
        "the same calls, only slower"
    );
}

/// The account cache on an organization larger than one slice (71 accounts and the root: 72 items, a
/// slice of 64): the first run reads the tree and the tags of 63 accounts, the next run the 8 left
/// first, and each run's rows carry every account's name and OU path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_cache_is_refreshed_in_slices() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    let names: Vec<String> = (0..70).map(|i| format!("account-{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let members = create_organization(&admin, &names).await;
    let (_rules, arns) = deploy_rule(aws, &members[..1], &members[..1], &[REGION], 2, true).await;
    sweep(aws, &arns, 1).await;
    organization_aggregator(&admin, AGGREGATOR).await;
    let dir = std::env::temp_dir().join(format!("aggregator-cache-{}", std::process::id()));
    let output = dir.display().to_string();

    let cache_of = |summary: &Value| summary["organization_cache"].clone();
    let (code, stdout, stderr) = run_aggregator_args(aws, &[], &["--output", &output]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let first = summary(&stdout);
    let cache = cache_of(&first);
    assert_eq!(
        (
            cache["loaded"].clone(),
            cache["accounts"].clone(),
            cache["units"].clone()
        ),
        (json!("none"), json!(71), json!(1)),
        "{first:#}"
    );
    assert_eq!(
        (
            cache["units_refreshed"].clone(),
            cache["accounts_refreshed"].clone(),
            cache["accounts_without_tags"].clone()
        ),
        (json!(1), json!(63), json!(8)),
        "{first:#}"
    );
    assert_eq!(
        first["api_calls_by_operation"]["organizations:ListTagsForResource"],
        63
    );
    assert!(
        dir.join("evaluations/_cache/organization.json").exists(),
        "written with the snapshot"
    );

    let (code, stdout, stderr) = run_aggregator_args(aws, &[], &["--output", &output]);
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let second = summary(&stdout);
    let cache = cache_of(&second);
    assert_eq!(cache["loaded"], "read", "{second:#}");
    // The 8 never read first, then the stalest: the root (read first last time), then 55 accounts.
    assert_eq!(
        (
            cache["units_refreshed"].clone(),
            cache["accounts_refreshed"].clone(),
            cache["accounts_without_tags"].clone()
        ),
        (json!(1), json!(63), json!(0)),
        "{second:#}"
    );
    let today = second["snapshot_date"].as_str().expect("date").to_string();
    let file = dir.join(format!("evaluations/dt={today}/part-00000.parquet"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("snapshot"))
        .expect("parquet")
        .build()
        .expect("reader");
    for batch in reader {
        let batch = batch.expect("batch");
        for (name, ou) in strings(&batch, "account_name")
            .into_iter()
            .zip(strings(&batch, "ou_path"))
        {
            assert!(name.is_some() && ou.as_deref() == Some("Root"), "{name:?} {ou:?}");
        }
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
