//! `cargo xtask demo`: an organization on the local AWS, the rule deployed as an organization rule
//! with its real binary behind the Lambda Runtime API, a periodic sweep, and what Config then shows
//! in each account and through the organization aggregator. Loopback only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_config::types::OrganizationConfigRuleTriggerType;
use aws_sdk_lambda::types::{Runtime, UpdateRuntimeOn};
use e2e::setup::{
    alias_on_old_version, create_function, create_function_with_layers, create_image_function,
    create_organization, organization_aggregator, publish_layer, start_recording, tag,
};
use e2e::{LambdaProcess, LocalAws, REGION};
use serde_json::json;

const RULE: &str = "lambda-runtime-lifecycle";
/// The aggregator's reader role in each member (the member stack's `<prefix>-aggregator-reader`).
const READER_ROLE: &str = "lambda-runtime-guard-aggregator-reader";

/// A team's functions: name and runtime (None: a container image).
type TeamFunctions = (&'static str, &'static [(&'static str, Option<Runtime>)]);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: demo PATH-TO-RULE-BINARY PATH-TO-AGGREGATOR-BINARY";
    let rule_binary = PathBuf::from(std::env::args().nth(1).context(usage)?);
    let aggregator_binary = PathBuf::from(std::env::args().nth(2).context(usage)?);
    println!("Starting the local AWS (moto + this project's Config/Lambda extensions) on 127.0.0.1 ...");
    let aws = LocalAws::start()?;
    println!("  {}", aws.endpoint());
    let admin = aws.sdk_config(None, 5).await;

    println!("Creating an organization with three member accounts, Config recording in each ...");
    let teams = ["payments", "search", "platform"];
    let accounts = create_organization(&admin, &teams).await;
    let members: Vec<(&str, String)> = teams.into_iter().zip(accounts).collect();
    for (team, id) in &members {
        println!("  {team}: {id}");
    }

    let functions: [TeamFunctions; 3] = [
        (
            "payments",
            &[
                ("checkout", Some(Runtime::Python38)),
                ("refunds", Some(Runtime::Python313)),
                ("ledger", Some(Runtime::Java8)),
                ("fraud-model", None),
            ],
        ),
        (
            "search",
            &[
                ("indexer", Some(Runtime::Nodejs16x)),
                ("query", Some(Runtime::Nodejs24x)),
                ("crawler", Some(Runtime::Providedal2)),
            ],
        ),
        (
            "platform",
            &[
                ("edge-router", Some(Runtime::Providedal2023)),
                ("legacy-cron", Some(Runtime::Ruby32)),
                ("pinned-api", Some(Runtime::Python313)),
            ],
        ),
    ];
    for (team, account) in &members {
        let keys = aws.assume_role(account, "OrganizationAccountAccessRole").await?;
        let config = aws.sdk_config(Some(keys), 5).await;
        start_recording(&config, account).await;
        let list = functions
            .iter()
            .find(|(t, _)| t == team)
            .map(|(_, f)| *f)
            .unwrap_or_default();
        for (name, runtime) in list {
            let arn = match runtime {
                Some(runtime) => create_function(&config, name, runtime.clone()).await,
                None => create_image_function(&config, name, account).await,
            };
            if *name == "legacy-cron" {
                tag(&config, &arn, "runtime-exempt-until", "2027-03-31").await;
            }
            if *name == "pinned-api" {
                aws_sdk_lambda::Client::new(&config)
                    .put_runtime_management_config()
                    .function_name(*name)
                    .update_runtime_on(UpdateRuntimeOn::Manual)
                    .runtime_version_arn(
                        "arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4",
                    )
                    .send()
                    .await?;
            }
        }
    }

    what_still_runs(&aws, &members).await?;

    println!("Deploying the rule: its Lambda in the admin account, an organization Config rule ...");
    let rule_arn = create_function(&admin, "runtime-rule", Runtime::Providedal2023).await;
    let _process = LambdaProcess::start(
        &aws,
        &rule_binary,
        &rule_arn,
        &[("RULE_MEMBER_ROLE_NAME", "RuntimeGuardMember")],
    )?;
    let config = aws_sdk_config::Client::new(&admin);
    let triggers = [
        OrganizationConfigRuleTriggerType::ConfigurationItemChangeNotification,
        OrganizationConfigRuleTriggerType::ScheduledNotification,
    ];
    let parameters = r#"{"failPhase":"deprecated","warnDaysBefore":"180"}"#;
    e2e::setup::organization_rule(&admin, RULE, &rule_arn, &triggers, Some(parameters)).await;

    println!("Running the periodic evaluation (a ScheduledNotification to every account) ...");
    aws.control("POST", "/_localaws/config/periodic", Some(json!({})))?;
    aws.settled(&rule_arn, 4, Duration::from_secs(60)).await?;

    organization_aggregator(&admin, "organization").await;

    println!("\nWhat each member account's Config console shows (read with that account's credentials):");
    for (team, account) in &members {
        let keys = aws.assume_role(account, "OrganizationAccountAccessRole").await?;
        let config = aws.sdk_config(Some(keys), 5).await;
        let member = aws_sdk_config::Client::new(&config);
        let rule = member.describe_config_rules().send().await?;
        let name = rule
            .config_rules()
            .first()
            .and_then(|r| r.config_rule_name())
            .context("rule")?
            .to_string();
        println!("\n  {team} ({account}) — rule {name}");
        let rows: BTreeMap<String, (String, String)> = e2e::evaluation_results(&config, &name)
            .await?
            .into_iter()
            .map(|(id, result)| (id, (result.compliance, result.annotation)))
            .collect();
        for (id, (compliance, annotation)) in rows {
            println!("    {id:<12} {compliance:<15} {annotation}");
        }
    }

    let (team, account) = &members[0];
    remediate(&aws, team, account, &rule_arn).await?;

    println!("\nThe organization aggregator in the admin account:");
    let summary = config
        .describe_aggregate_compliance_by_config_rules()
        .configuration_aggregator_name("organization")
        .send()
        .await?;
    for row in summary.aggregate_compliance_by_config_rules() {
        let compliance = row.compliance().context("compliance")?;
        println!(
            "    account {}  {:<15} non-compliant functions: {}",
            row.account_id().unwrap_or("?"),
            compliance.compliance_type().map(|c| c.as_str()).unwrap_or("?"),
            compliance
                .compliance_contributor_count()
                .map(|c| c.capped_count())
                .unwrap_or(0)
        );
    }

    println!("\nThe aggregator: the organization's evaluations into the day's Parquet snapshot on S3 ...");
    let s3 = e2e::LocalAws::s3_client(&admin);
    s3.create_bucket().bucket("runtime-reports").send().await?;
    let run = e2e::loopback_env(
        &mut std::process::Command::new(&aggregator_binary),
        aws.endpoint(),
    )
    .args(["run", "--config-aggregator", "organization", "--rule", RULE])
    .args(["--output", "s3://runtime-reports/lambda-runtime-guard"])
    .args(["--member-role-name", READER_ROLE])
    .output()
    .context("running the aggregator")?;
    if !run.status.success() {
        anyhow::bail!("the aggregator failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).context("the run summary")?;
    let regions: Vec<&str> = summary["regions"]
        .as_array()
        .map(|r| r.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    println!(
        "    {} rows from {} accounts in {} ({} NON_COMPLIANT) → {}",
        summary["rows"],
        summary["accounts"],
        regions.join(", "),
        summary["compliance"]["NON_COMPLIANT"],
        summary["location"].as_str().unwrap_or("?")
    );
    let listed = s3
        .list_objects_v2()
        .bucket("runtime-reports")
        .prefix("lambda-runtime-guard/")
        .send()
        .await?;
    for object in listed.contents() {
        println!(
            "    s3://runtime-reports/{}  {} bytes",
            object.key().unwrap_or("?"),
            object.size().unwrap_or(0)
        );
    }
    let snapshot = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with(".parquet"))
        .context("no Parquet object in the snapshot")?;
    let bytes = s3
        .get_object()
        .bucket("runtime-reports")
        .key(snapshot)
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    findings(&read_snapshot(bytes)?)?;
    println!(
        "    Athena: `aggregator ddl --location s3://runtime-reports/lambda-runtime-guard`, then aggregator/queries/*.sql"
    );
    println!("\nDone. Try `cargo run -p rule -- catalog` and `rule scan` against your own account next.");
    Ok(())
}

/// One remediation as the member account runs it: the runbooks and successor parameters a deployment
/// writes, UpgradeLambdaRuntime for `checkout` (python3.8) in DryRun and then for real, and the rule's
/// re-evaluation of the updated function.
async fn remediate(aws: &LocalAws, team: &str, account: &str, rule_arn: &str) -> anyhow::Result<()> {
    use e2e::remediation::{self, output, steps_ran};
    const FUNCTION: &str = "checkout";
    let keys = aws.assume_role(account, "OrganizationAccountAccessRole").await?;
    let config = aws.sdk_config(Some(keys), 5).await;
    let member = aws_sdk_config::Client::new(&config);
    let rules = member.describe_config_rules().send().await?;
    let rule = rules
        .config_rules()
        .first()
        .and_then(|r| r.config_rule_name())
        .context("the member rule")?
        .to_string();
    let verdict = |results: &BTreeMap<String, e2e::EvaluationResult>| {
        results
            .get(FUNCTION)
            .map(|r| format!("{} — {}", r.compliance, r.annotation))
            .unwrap_or_else(|| "no result".into())
    };
    println!(
        "\nRemediation in {team} ({account}): {FUNCTION} is {}",
        verdict(&e2e::evaluation_results(&config, &rule).await?)
    );
    println!(
        "  deploying the runbooks (cdk/runbooks/) and the successor parameters (cdk/contracts/runtime-upgrades.json) ..."
    );
    let role = remediation::deploy(&config, account).await?;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let runtime =
        |c: aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput| {
            c.runtime().map(|r| r.as_str().to_string()).unwrap_or_default()
        };
    let parameters = |dry_run: &'static str| {
        [
            ("FunctionName", FUNCTION),
            ("ConfigRuleName", rule.as_str()),
            ("DryRun", dry_run),
            ("AutomationAssumeRole", role.as_str()),
        ]
    };
    for dry_run in ["true", "false"] {
        let started = std::time::Instant::now();
        let parent = remediation::run(&config, "UpgradeLambdaRuntime", &parameters(dry_run)).await?;
        // An empty TargetRuntime: the runbook reads the successor and runs itself as a child with it.
        let child_id = output(&parent, "RunWithSuccessor.ExecutionId").context("the child execution")?;
        let child = remediation::wait(&config, child_id).await?;
        let status = child
            .automation_execution_status()
            .map(|s| s.as_str())
            .unwrap_or("?");
        let ran = steps_ran(&child);
        println!(
            "  UpgradeLambdaRuntime DryRun={dry_run}: {status} in {:.1} s — {} → {}, ended at {} after {} steps",
            started.elapsed().as_secs_f64(),
            output(&parent, "ReadFunction.Runtime").unwrap_or("?"),
            output(&parent, "ReadSuccessor.Successor").unwrap_or("?"),
            ran.last().unwrap_or(&"?"),
            ran.len()
        );
        if let Some(version) = output(&child, "PublishRollbackPoint.Version") {
            println!("    rollback point: version {version} (the function as it was)");
        }
        let now = runtime(
            lambda
                .get_function_configuration()
                .function_name(FUNCTION)
                .send()
                .await?,
        );
        println!("    {FUNCTION} runtime now: {now}");
    }
    // The update was recorded by Config; the change-triggered organization rule re-evaluates it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let results = e2e::evaluation_results(&config, &rule).await?;
        if results.get(FUNCTION).is_some_and(|r| r.compliance == "COMPLIANT") {
            println!(
                "  the rule re-evaluated {FUNCTION} after the change: {}",
                verdict(&results)
            );
            break;
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "{FUNCTION} was not re-evaluated COMPLIANT within 30 s: {}",
                verdict(&results)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    aws.settled(rule_arn, 1, Duration::from_secs(30)).await?;
    Ok(())
}

/// What still runs an old runtime (issue 12), set up before the rule is deployed (so no change
/// notification is pending): in payments, `orders-api` whose alias `live` still points at version 1 on
/// python3.8 after `$LATEST` moved to python3.12; in search, `thumbnailer` (python3.9) using a layer that
/// declares python3.8 and python3.9 only (python3.9's successor is python3.12); and 30 days of
/// CloudWatch invocations that make search's `indexer` (nodejs16.x) hot.
async fn what_still_runs(aws: &LocalAws, members: &[(&str, String)]) -> anyhow::Result<()> {
    println!(
        "Adding what still runs an old runtime: an alias on an old version, a layer blocker, invocations ..."
    );
    let account = |team: &str| {
        members
            .iter()
            .find(|(t, _)| *t == team)
            .map(|(_, id)| id.clone())
            .context("team")
    };
    let (payments, search) = (account("payments")?, account("search")?);
    let member = |id: String| async move {
        let keys = aws.assume_role(&id, "OrganizationAccountAccessRole").await?;
        anyhow::Ok(aws.sdk_config(Some(keys), 5).await)
    };
    let payments_config = member(payments.clone()).await?;
    let version = alias_on_old_version(
        &payments_config,
        "orders-api",
        Runtime::Python38,
        Runtime::Python312,
        "live",
    )
    .await;
    let search_config = member(search.clone()).await?;
    let layer = publish_layer(
        &search_config,
        "imaging-deps",
        &[Runtime::Python38, Runtime::Python39],
    )
    .await;
    create_function_with_layers(&search_config, "thumbnailer", Runtime::Python39, &[layer]).await;
    // Daily sums over the 30 days before today (the snapshot's day), as CloudWatch's AWS/Lambda
    // Invocations metric holds them.
    let today = jiff::tz::Offset::UTC.to_datetime(jiff::Timestamp::now()).date();
    let ago =
        |n: i64| -> anyhow::Result<String> { Ok(today.checked_sub(jiff::Span::new().days(n))?.to_string()) };
    let mut hot = serde_json::Map::new();
    for n in 1..=30 {
        hot.insert(ago(n)?, json!(40_000 + 250 * n));
    }
    let series = [
        (&search, json!([{"FunctionName": "indexer", "Days": hot}])),
        (
            &payments,
            json!([{"FunctionName": "orders-api", "Resource": format!("orders-api:{version}"),
                    "Days": {ago(2)?: 310, ago(9)?: 95}}]),
        ),
    ];
    for (account, series) in series {
        aws.control(
            "POST",
            "/_localaws/cloudwatch/invocations",
            Some(json!({"Account": account, "Region": REGION, "Series": series})),
        )?;
    }
    Ok(())
}

/// The snapshot columns the findings use, one entry per row.
struct SnapshotRow {
    account_name: String,
    resource_type: String,
    resource_id: String,
    qualifier: Option<String>,
    aliases: Vec<String>,
    runtime: Option<String>,
    compliance: String,
    successor: Option<String>,
    blocking_layers: Vec<String>,
    invocations_30d: Option<i64>,
    last_invoked_date: Option<jiff::civil::Date>,
}

/// The day's Parquet snapshot, read with the parquet crate (what Athena reads).
fn read_snapshot(
    bytes: impl parquet::file::reader::ChunkReader + 'static,
) -> anyhow::Result<Vec<SnapshotRow>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Int64Type};
    use arrow_array::{Array, RecordBatch};
    let column = |batch: &RecordBatch, name: &str| {
        batch
            .column_by_name(name)
            .cloned()
            .with_context(|| format!("the snapshot has no column {name}"))
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    let epoch = jiff::civil::date(1970, 1, 1);
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch?;
        let text = |name: &str| -> anyhow::Result<Vec<Option<String>>> {
            let column = column(&batch, name)?;
            let column = column.as_string::<i32>();
            Ok((0..column.len())
                .map(|i| column.is_valid(i).then(|| column.value(i).to_string()))
                .collect())
        };
        let list = |name: &str| -> anyhow::Result<Vec<Vec<String>>> {
            let column = column(&batch, name)?;
            let column = column.as_list::<i32>();
            Ok((0..column.len())
                .map(|i| {
                    if !column.is_valid(i) {
                        return Vec::new();
                    }
                    let items = column.value(i);
                    let items = items.as_string::<i32>();
                    (0..items.len()).map(|j| items.value(j).to_string()).collect()
                })
                .collect())
        };
        let (names, types, ids, qualifiers) = (
            text("account_name")?,
            text("resource_type")?,
            text("resource_id")?,
            text("qualifier")?,
        );
        let (runtimes, compliance, successors) =
            (text("runtime")?, text("compliance_type")?, text("successor")?);
        let (aliases, blocking) = (list("aliases")?, list("blocking_layers")?);
        let invocations = column(&batch, "invocations_30d")?;
        let invocations = invocations.as_primitive::<Int64Type>();
        let last = column(&batch, "last_invoked_date")?;
        let last = last.as_primitive::<Date32Type>();
        for i in 0..batch.num_rows() {
            rows.push(SnapshotRow {
                account_name: names[i].clone().unwrap_or_default(),
                resource_type: types[i].clone().unwrap_or_default(),
                resource_id: ids[i].clone().unwrap_or_default(),
                qualifier: qualifiers[i].clone(),
                aliases: aliases[i].clone(),
                runtime: runtimes[i].clone(),
                compliance: compliance[i].clone().unwrap_or_default(),
                successor: successors[i].clone(),
                blocking_layers: blocking[i].clone(),
                invocations_30d: invocations.is_valid(i).then(|| invocations.value(i)),
                last_invoked_date: match last.is_valid(i) {
                    true => Some(epoch.checked_add(jiff::Span::new().days(i64::from(last.value(i))))?),
                    false => None,
                },
            });
        }
    }
    Ok(rows)
}

/// Three findings from the snapshot, each the first row of a named query's logic
/// (aggregator/queries/): an alias on a version past support, an upgrade a layer blocks, the most
/// invoked failing function.
fn findings(rows: &[SnapshotRow]) -> anyhow::Result<()> {
    let failing = |r: &&SnapshotRow| r.compliance == "NON_COMPLIANT";
    let invoked = |r: &SnapshotRow| match (r.invocations_30d, r.last_invoked_date) {
        (Some(0), _) => "not invoked in 30 days".to_string(),
        (Some(n), Some(last)) => format!("{n} invocations in 30 days, last on {last}"),
        (Some(n), None) => format!("{n} invocations in 30 days"),
        (None, _) => "invocations not read".to_string(),
    };
    println!("\n  What still runs an old runtime, read back from the snapshot:");
    let version = rows
        .iter()
        .filter(failing)
        .find(|r| r.resource_type == "AWS::Lambda::Version")
        .context("no alias-referenced version on an old runtime in the snapshot")?;
    let latest = rows
        .iter()
        .find(|r| {
            r.resource_type == "AWS::Lambda::Function"
                && r.resource_id == version.resource_id
                && r.account_name == version.account_name
        })
        .and_then(|r| r.runtime.as_deref())
        .unwrap_or("?");
    println!(
        "    alias on an old version (aliases_on_old_versions.sql): {} {}:{} behind alias {} runs {} ({}) while $LATEST runs {latest}; {}",
        version.account_name,
        version.resource_id,
        version.qualifier.as_deref().unwrap_or("?"),
        version.aliases.join(", "),
        version.runtime.as_deref().unwrap_or("?"),
        version.compliance,
        invoked(version),
    );
    let blocked = rows
        .iter()
        .find(|r| r.resource_type == "AWS::Lambda::Function" && !r.blocking_layers.is_empty())
        .context("no upgrade blocked by a layer in the snapshot")?;
    println!(
        "    upgrade blocked by a layer (upgrades_blocked_by_layer.sql): {} {} {} → {}: {} does not list {} in CompatibleRuntimes",
        blocked.account_name,
        blocked.resource_id,
        blocked.runtime.as_deref().unwrap_or("?"),
        blocked.successor.as_deref().unwrap_or("?"),
        blocked.blocking_layers.join(", "),
        blocked.successor.as_deref().unwrap_or("?"),
    );
    let hot = rows
        .iter()
        .filter(failing)
        .filter(|r| r.invocations_30d.is_some_and(|n| n > 0))
        .max_by_key(|r| r.invocations_30d)
        .context("no invoked NON_COMPLIANT function in the snapshot")?;
    println!(
        "    fix first (fix_first.sql): {} {}{} {} NON_COMPLIANT, {}",
        hot.account_name,
        hot.resource_id,
        hot.qualifier
            .as_deref()
            .map(|q| format!(":{q}"))
            .unwrap_or_default(),
        hot.runtime.as_deref().unwrap_or("?"),
        invoked(hot),
    );
    Ok(())
}
