//! The real `rule` binary behind the local AWS's Lambda Runtime API: Config invokes it, it evaluates
//! and puts evaluations back, as in AWS. Everything through the AWS SDK.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aws_sdk_config::types::{
    ConfigRule, OrganizationConfigRuleTriggerType, Owner, Scope, Source, SourceDetail,
};
use aws_sdk_config::types::{EventSource, MaximumExecutionFrequency, MessageType};
use aws_sdk_lambda::types::{Runtime, UpdateRuntimeOn};
use e2e::setup::{create_function, create_image_function, create_organization, start_recording, tag};
use e2e::{ADMIN_ACCOUNT, LambdaProcess, LocalAws, REGION};
use serde_json::{Value, json};

const RULE: &str = "lambda-runtime-lifecycle";

fn rule_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rule"))
}

/// A custom rule in the admin account, backed by the rule binary running as its Lambda.
async fn rule_in_admin(
    aws: &LocalAws,
    parameters: &str,
    change: bool,
    periodic: bool,
    env: &[(&str, &str)],
) -> (String, LambdaProcess) {
    let admin = aws.sdk_config(None, 3).await;
    let arn = create_function(&admin, "runtime-rule", Runtime::Providedal2023).await;
    let mut details = Vec::new();
    if change {
        for kind in [
            MessageType::ConfigurationItemChangeNotification,
            MessageType::OversizedConfigurationItemChangeNotification,
        ] {
            details.push(
                SourceDetail::builder()
                    .event_source(EventSource::AwsConfig)
                    .message_type(kind)
                    .build(),
            );
        }
    }
    if periodic {
        details.push(
            SourceDetail::builder()
                .event_source(EventSource::AwsConfig)
                .message_type(MessageType::ScheduledNotification)
                .maximum_execution_frequency(MaximumExecutionFrequency::TwentyFourHours)
                .build(),
        );
    }
    aws_sdk_config::Client::new(&admin)
        .put_config_rule()
        .config_rule(
            ConfigRule::builder()
                .config_rule_name(RULE)
                .scope(
                    Scope::builder()
                        .compliance_resource_types("AWS::Lambda::Function")
                        .build(),
                )
                .source(
                    Source::builder()
                        .owner(Owner::CustomLambda)
                        .source_identifier(&arn)
                        .set_source_details(Some(details))
                        .build()
                        .expect("source"),
                )
                .input_parameters(parameters)
                .build(),
        )
        .send()
        .await
        .expect("put rule");
    let process = LambdaProcess::start(aws, rule_binary(), &arn, env).expect("rule process");
    (arn, process)
}

/// resource id -> (compliance, annotation, ordering timestamp seconds) from Config's compliance reads.
async fn compliance(config: &aws_config::SdkConfig, rule: &str) -> BTreeMap<String, (String, String, i64)> {
    e2e::evaluation_results(config, rule)
        .await
        .expect("evaluation results")
        .into_iter()
        .map(|(id, r)| (id, (r.compliance, r.annotation, r.ordering_seconds)))
        .collect()
}

fn assert_all_succeeded(invocations: &[Value]) {
    for invocation in invocations {
        assert_eq!(invocation["Status"], "succeeded", "{invocation:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_create_update_delete_across_runtimes() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    start_recording(&admin, ADMIN_ACCOUNT).await;
    let (rule_arn, mut process) = rule_in_admin(aws, r#"{"failPhase":"deprecated"}"#, true, false, &[]).await;

    let runtimes = [
        ("py38", Runtime::Python38),
        ("py313", Runtime::Python313),
        ("node16", Runtime::Nodejs16x),
        ("node24", Runtime::Nodejs24x),
        ("java8", Runtime::Java8),
        ("java21", Runtime::Java21),
        ("dotnet6", Runtime::Dotnet6),
        ("ruby32", Runtime::Ruby32),
        ("ruby34", Runtime::Ruby34),
        ("go1", Runtime::Go1x),
        ("al2", Runtime::Providedal2),
        ("al2023", Runtime::Providedal2023),
        ("manual", Runtime::Python313),
        ("exempt", Runtime::Python38),
        ("future", Runtime::from("python3.16")),
    ];
    let mut arns = BTreeMap::new();
    for (name, runtime) in runtimes {
        arns.insert(name, create_function(&admin, name, runtime).await);
    }
    create_image_function(&admin, "image", ADMIN_ACCOUNT).await;
    let lambda = aws_sdk_lambda::Client::new(&admin);
    lambda
        .put_runtime_management_config()
        .function_name("manual")
        .update_runtime_on(UpdateRuntimeOn::Manual)
        .runtime_version_arn("arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4")
        .send()
        .await
        .expect("manual mode");
    // The mode is not in the configuration item: a tag change makes Config notify the rule again.
    tag(&admin, &arns["manual"], "pinned", "yes").await;
    // An exemption within maxExemptionDays (365 by default) of today.
    let exempt_until = lifecycle::dates::add_days(lifecycle::dates::today_utc(), 100).to_string();
    tag(&admin, &arns["exempt"], "runtime-exempt-until", &exempt_until).await;
    // An update and a delete.
    lambda
        .update_function_configuration()
        .function_name("java8")
        .runtime(Runtime::Java21)
        .send()
        .await
        .expect("update");
    lambda
        .delete_function()
        .function_name("node16")
        .send()
        .await
        .expect("delete");

    // 15 zip creates + 1 image, 2 tags, 1 update, 1 delete (the rule's own function predates the rule).
    let invocations = aws
        .settled(&rule_arn, 20, Duration::from_secs(60))
        .await
        .expect("settled");
    assert_all_succeeded(&invocations);
    assert!(process.is_running());

    let results = compliance(&admin, RULE).await;
    let verdict = |id: &str| {
        results
            .get(id)
            .map(|(c, a, _)| (c.as_str(), a.as_str()))
            .unwrap_or(("missing", ""))
    };
    for (id, expected) in [
        ("py38", "NON_COMPLIANT"),
        ("py313", "COMPLIANT"),
        ("node24", "COMPLIANT"),
        ("java8", "COMPLIANT"), // updated to java21
        ("java21", "COMPLIANT"),
        ("dotnet6", "NON_COMPLIANT"),
        ("ruby32", "NON_COMPLIANT"),
        ("ruby34", "COMPLIANT"),
        ("go1", "NON_COMPLIANT"),
        ("al2", "NON_COMPLIANT"),
        ("al2023", "COMPLIANT"),
        ("manual", "NON_COMPLIANT"),
        ("exempt", "COMPLIANT"),
        ("future", "COMPLIANT"),
        ("image", "NOT_APPLICABLE"),
        ("node16", "NOT_APPLICABLE"), // deleted
    ] {
        assert_eq!(verdict(id).0, expected, "{id}: {:?}", verdict(id));
    }
    assert!(
        verdict("py38").1.starts_with("python3.8 deprecated 2024-10-14;"),
        "{:?}",
        verdict("py38")
    );
    assert!(
        verdict("manual").1.contains("pinned (update mode Manual)"),
        "{:?}",
        verdict("manual")
    );
    assert!(
        verdict("exempt")
            .1
            .starts_with(&format!("Exempt until {exempt_until}")),
        "{:?}",
        verdict("exempt")
    );
    assert!(
        verdict("al2").1.contains("Upgrade to provided.al2023"),
        "{:?}",
        verdict("al2")
    );
    assert!(
        verdict("future").1.contains("newer than the lifecycle data"),
        "{:?}",
        verdict("future")
    );
    assert!(verdict("node16").1.contains("deleted"), "{:?}", verdict("node16"));
    // Change-triggered evaluations carry the item's capture time: recent, not zero.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for (id, (_, _, ordering)) in &results {
        assert!(
            (now - ordering).abs() < 600,
            "{id}: ordering timestamp {ordering}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_sweep_of_a_thousand_functions_and_a_deleted_one() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    start_recording(&admin, ADMIN_ACCOUNT).await;
    aws.control(
        "POST",
        "/_localaws/seed/lambda",
        Some(
            json!({"Accounts": [ADMIN_ACCOUNT], "Region": REGION, "FunctionsPerAccount": 999,
                    "Runtimes": ["python3.8", "python3.13", "nodejs24.x", "provided.al2023", "image"]}),
        ),
    )
    .expect("seed");
    // The 1,000th function; paced fast (the quota is not this test's subject, see
    // `a_sweep_reads_modes_within_its_budget_at_a_pace_under_the_quota`).
    let (rule_arn, _process) = rule_in_admin(
        aws,
        "{}",
        false,
        true,
        &[("RULE_LAMBDA_CALLS_PER_SECOND", "1000")],
    )
    .await;
    let rule_arn = rule_arn.as_str();
    let sweep = |expected: usize| async move {
        aws.control("POST", "/_localaws/config/periodic", Some(json!({})))
            .expect("periodic");
        let invocations = aws
            .settled(rule_arn, expected, Duration::from_secs(120))
            .await
            .expect("settled");
        assert_all_succeeded(&invocations);
        invocations.last().cloned().expect("invocation")
    };
    let before =
        aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"]["config:PutEvaluations"]
            .as_u64()
            .unwrap_or(0);
    let first = sweep(1).await;
    let after =
        aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"]["config:PutEvaluations"]
            .as_u64()
            .unwrap_or(0);
    // 801 Zip functions (800 seeded and the rule's own) in 9 batches; the 199 images are NOT_APPLICABLE
    // with nothing held, which is not put (Config deletes NOT_APPLICABLE results: putting them daily
    // would be billed daily).
    assert_eq!(after - before, 9, "server-side PutEvaluations calls");
    let summary = &first["Response"];
    assert_eq!(summary["api_calls"]["config:PutEvaluations"], 9, "{summary:#}");
    assert_eq!(summary["unchanged"], 199, "{summary:#}");
    assert_eq!(summary["message_type"], "ScheduledNotification");
    // Lambda's control plane allows 15 requests a second per account and region: tags come from the
    // tagging API (one call per 100 tagged functions, none tagged here), never a ListTags per function,
    // and the runtime management mode is read only where it can change the verdict — not for the
    // deprecated python3.8 functions (already NON_COMPLIANT) nor the images.
    let calls = &summary["api_calls"];
    assert!(calls.get("lambda:ListTags").is_none(), "{calls:#}");
    assert_eq!(calls["tag:GetResources"], 1, "{calls:#}");
    assert_eq!(calls["lambda:ListFunctions"], 20, "{calls:#}");
    let python38 = (0..999).filter(|i| i % 5 == 0).count() as u64;
    let images = (0..999).filter(|i| i % 5 == 4).count() as u64;
    assert_eq!(
        calls["lambda:GetRuntimeManagementConfig"],
        1000 - python38 - images,
        "{calls:#}"
    );
    let results = compliance(&admin, RULE).await;
    assert_eq!(results.len(), 801);
    assert_eq!(results["fn-0000"].0, "NON_COMPLIANT"); // python3.8
    assert_eq!(results["fn-0001"].0, "COMPLIANT"); // python3.13
    assert!(!results.contains_key("fn-0004")); // image

    aws_sdk_lambda::Client::new(&admin)
        .delete_function()
        .function_name("fn-0000")
        .send()
        .await
        .expect("delete");
    // Only what changed is put again: the deleted function, NOT_APPLICABLE; the other 999 are unchanged.
    let second = sweep(2).await;
    let summary = &second["Response"];
    assert_eq!(
        summary["evaluations"],
        json!({"NOT_APPLICABLE": 1}),
        "{summary:#}"
    );
    assert_eq!(summary["unchanged"], 999, "{summary:#}");
    let results = compliance(&admin, RULE).await;
    assert_eq!(results["fn-0000"].0, "NOT_APPLICABLE", "{:?}", results["fn-0000"]);
    assert_eq!(results["fn-0000"].1, "Function no longer exists.");
    // Nothing changed since: one PutEvaluations with no evaluation (Config bills every evaluation
    // recorded; the call only reports that the rule ran).
    let third = sweep(3).await;
    let summary = &third["Response"];
    assert_eq!(summary["evaluations"], json!({}), "{summary:#}");
    assert_eq!(summary["unchanged"], 999, "{summary:#}");
    assert_eq!(summary["api_calls"]["config:PutEvaluations"], 1, "{summary:#}");
}

/// The sweep's summary after the `expected`-th invocation of the rule.
async fn periodic_sweep(aws: &LocalAws, rule_arn: &str, expected: usize) -> Value {
    aws.control("POST", "/_localaws/config/periodic", Some(json!({})))
        .expect("periodic");
    let invocations = aws
        .settled(rule_arn, expected, Duration::from_secs(180))
        .await
        .expect("settled");
    assert_all_succeeded(&invocations);
    invocations.last().expect("invocation")["Response"].clone()
}

fn injected_quota_refusals(aws: &LocalAws) -> u64 {
    let faults = aws.control("GET", "/_localaws/faults", None).expect("faults");
    faults["Injected"]
        .as_object()
        .map(|counts| {
            counts
                .iter()
                .filter(|(key, _)| key.starts_with("quota:lambda:"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Lambda's control plane allows 15 requests a second per account and Region for every caller together.
/// With that quota enforced by the local AWS, the rule's own pace (10 a second by default) keeps a sweep
/// from being refused at all; its runtime management mode reads stay within RULE_MODE_READS_PER_SWEEP:
/// first the functions Config holds no explained result for (the rest deferred, not judged), then a
/// slice of the others. A pinned runtime version found by a read is NON_COMPLIANT; unpinned, it is
/// COMPLIANT once a read sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_reads_modes_within_its_budget_at_a_pace_under_the_quota() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    aws.control(
        "POST",
        "/_localaws/seed/lambda",
        Some(
            json!({"Accounts": [ADMIN_ACCOUNT], "Region": REGION, "FunctionsPerAccount": 119,
                    "Runtimes": ["python3.13", "python3.8", "image"]}),
        ),
    )
    .expect("seed");
    let lambda = aws_sdk_lambda::Client::new(&admin);
    let pin = |on: UpdateRuntimeOn| {
        let lambda = lambda.clone();
        async move {
            let mut request = lambda
                .put_runtime_management_config()
                .function_name("fn-0000")
                .update_runtime_on(on.clone());
            if on == UpdateRuntimeOn::Manual {
                request = request.runtime_version_arn(
                    "arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4",
                );
            }
            request.send().await.expect("runtime management config");
        }
    };
    pin(UpdateRuntimeOn::Manual).await;
    // The mode can change the verdict of the 40 python3.13 functions and the rule's own
    // provided.al2023 function: 41; not of python3.8 (deprecated: failing anyway) nor images.
    let candidates = 41;
    let (rule_arn, process) =
        rule_in_admin(aws, "{}", false, true, &[("RULE_MODE_READS_PER_SWEEP", "30")]).await;
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"LambdaControlPlaneQuota": {"Accounts": [ADMIN_ACCOUNT]}})),
    )
    .expect("quota on");

    let first = periodic_sweep(aws, &rule_arn, 1).await;
    assert_eq!(
        first["api_calls"]["lambda:GetRuntimeManagementConfig"], 30,
        "{first:#}"
    );
    assert_eq!(first["api_calls"]["lambda:ListFunctions"], 3, "{first:#}");
    assert_eq!(first["deferred"], candidates - 30, "{first:#}");
    // 40 python3.8 and the 30 read (fn-0000 among them or not: the first reads' order moves by day); the
    // images are NOT_APPLICABLE with nothing held (not put).
    let put = |summary: &Value| -> u64 {
        summary["evaluations"]
            .as_object()
            .map(|counts| counts.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    };
    assert_eq!(put(&first), 70, "{first:#}");

    // The 11 deferred first, then the rest of the budget on the others: every function judged, only the
    // 11 new ones put.
    let second = periodic_sweep(aws, &rule_arn, 2).await;
    assert_eq!(
        second["api_calls"]["lambda:GetRuntimeManagementConfig"], 30,
        "{second:#}"
    );
    assert_eq!(second["deferred"], 0, "{second:#}");
    assert_eq!(put(&second), 11, "{second:#}");
    let results = compliance(&admin, RULE).await;
    assert_eq!(results["fn-0000"].0, "NON_COMPLIANT", "{:?}", results["fn-0000"]);
    assert!(
        results["fn-0000"].1.contains("Manual"),
        "{:?}",
        results["fn-0000"]
    );
    // Nothing new: today's slot of the 41 carried modes (about half: ⌈41 ÷ 30⌉ = 2 slots) is read again.
    let third = periodic_sweep(aws, &rule_arn, 3).await;
    assert_eq!(third["evaluations"], json!({}), "{third:#}");
    assert_eq!(third["unchanged"], 120, "{third:#}");
    let reads = third["api_calls"]["lambda:GetRuntimeManagementConfig"]
        .as_u64()
        .unwrap_or(0);
    assert!((1..=30).contains(&reads), "{third:#}");
    assert_eq!(
        injected_quota_refusals(aws),
        0,
        "the pace kept every call under the quota"
    );

    // Unpinned: a mode change is no configuration change, so only a read sees it. With a budget that
    // covers every candidate, the next sweep reads it and puts the one changed verdict — still paced.
    pin(UpdateRuntimeOn::Auto).await;
    drop(process);
    let _process = LambdaProcess::start(
        aws,
        rule_binary(),
        &rule_arn,
        &[("RULE_MODE_READS_PER_SWEEP", "41")],
    )
    .expect("rule process");
    let fourth = periodic_sweep(aws, &rule_arn, 4).await;
    assert_eq!(
        fourth["api_calls"]["lambda:GetRuntimeManagementConfig"], 41,
        "{fourth:#}"
    );
    assert_eq!(fourth["evaluations"], json!({"COMPLIANT": 1}), "{fourth:#}");
    assert_eq!(
        injected_quota_refusals(aws),
        0,
        "the pace kept every call under the quota"
    );
    // The quota is enforced: the same reads unpaced (one attempt each, no retry) are refused.
    let unpaced = aws_sdk_lambda::Client::new(&aws.sdk_config(None, 1).await);
    let burst = (0..30).map(|_| {
        unpaced
            .get_runtime_management_config()
            .function_name("fn-0003")
            .send()
    });
    let refused = futures_util::future::join_all(burst)
        .await
        .iter()
        .filter(|answer| answer.is_err())
        .count();
    aws.control("POST", "/_localaws/faults", Some(json!({})))
        .expect("faults off");
    assert!(
        refused >= 15,
        "30 calls at once, at most 15 a second: {refused} refused"
    );
    let results = compliance(&admin, RULE).await;
    assert_eq!(results["fn-0000"].0, "COMPLIANT", "{:?}", results["fn-0000"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_items_are_fetched_from_the_history() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    start_recording(&admin, ADMIN_ACCOUNT).await;
    let (rule_arn, _process) = rule_in_admin(aws, "{}", true, false, &[]).await;
    aws.control(
        "POST",
        "/_localaws/config/settings",
        Some(json!({"OversizedItemBytes": 200})),
    )
    .expect("settings");
    create_function(&admin, "big", Runtime::Ruby32).await;
    let invocations = aws
        .settled(&rule_arn, 1, Duration::from_secs(30))
        .await
        .expect("settled");
    assert_all_succeeded(&invocations);
    let big = invocations
        .iter()
        .find(|i| {
            i["Event"]["invokingEvent"]
                .as_str()
                .is_some_and(|e| e.contains("\"resourceId\": \"big\""))
        })
        .expect("the big function's invocation");
    assert!(
        big["Event"]["invokingEvent"]
            .as_str()
            .expect("str")
            .contains("OversizedConfigurationItemChangeNotification")
    );
    assert_eq!(
        big["Response"]["api_calls"]["config:GetResourceConfigHistory"], 1,
        "{big:#}"
    );
    let results = compliance(&admin, RULE).await;
    assert_eq!(results["big"].0, "NON_COMPLIANT");
    assert!(
        results["big"].1.starts_with("ruby3.2 deprecated"),
        "{:?}",
        results["big"]
    );
}

async fn organization(aws: &LocalAws, members: usize) -> Vec<String> {
    let names: Vec<String> = (0..members).map(|i| format!("team-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    create_organization(&aws.sdk_config(None, 3).await, &names).await
}

async fn organization_rule(aws: &LocalAws, member_role: &str) -> (String, LambdaProcess) {
    let admin = aws.sdk_config(None, 3).await;
    let arn = create_function(&admin, "runtime-rule", Runtime::Providedal2023).await;
    let triggers = [
        OrganizationConfigRuleTriggerType::ConfigurationItemChangeNotification,
        OrganizationConfigRuleTriggerType::ScheduledNotification,
    ];
    e2e::setup::organization_rule(&admin, RULE, &arn, &triggers, None).await;
    let process = LambdaProcess::start(
        aws,
        rule_binary(),
        &arn,
        &[("RULE_MEMBER_ROLE_NAME", member_role)],
    )
    .expect("process");
    (arn, process)
}

async fn member_config(aws: &LocalAws, account: &str, attempts: u32) -> aws_config::SdkConfig {
    let keys = aws
        .assume_role(account, "OrganizationAccountAccessRole")
        .await
        .expect("member keys");
    aws.sdk_config(Some(keys), attempts).await
}

/// The evaluations of `account`'s copy of the organization rule, read with that account's credentials.
async fn member_results(aws: &LocalAws, account: &str) -> BTreeMap<String, (String, String, i64)> {
    let config = member_config(aws, account, 3).await;
    let rules = aws_sdk_config::Client::new(&config)
        .describe_config_rules()
        .send()
        .await
        .expect("rules");
    let name = rules
        .config_rules()
        .first()
        .and_then(|r| r.config_rule_name())
        .expect("org rule")
        .to_string();
    compliance(&config, &name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_rule_puts_evaluations_into_each_member() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let members = organization(aws, 3).await;
    let (rule_arn, _process) = organization_rule(aws, "RuntimeGuardMember").await;
    for (index, member) in members.iter().enumerate() {
        let config = member_config(aws, member, 3).await;
        start_recording(&config, member).await;
        let runtime = [Runtime::Python38, Runtime::Nodejs24x, Runtime::Java8][index].clone();
        create_function(&config, &format!("app-{index}"), runtime).await;
    }
    let invocations = aws
        .settled(&rule_arn, 3, Duration::from_secs(60))
        .await
        .expect("settled");
    assert_all_succeeded(&invocations);
    let expected = ["NON_COMPLIANT", "COMPLIANT", "NON_COMPLIANT"];
    for (index, member) in members.iter().enumerate() {
        let results = member_results(aws, member).await;
        assert_eq!(results.len(), 1, "{member}: {results:?}");
        assert_eq!(results[&format!("app-{index}")].0, expected[index], "{member}");
    }
    // The admin account (in the organization too, so it has its own copy of the rule) holds none of them.
    let admin_rules = aws_sdk_config::Client::new(&aws.sdk_config(None, 3).await)
        .describe_compliance_by_config_rule()
        .send()
        .await
        .expect("admin");
    for rule in admin_rules.compliance_by_config_rules() {
        let kind = rule
            .compliance()
            .and_then(|c| c.compliance_type())
            .map(|c| c.as_str());
        assert_eq!(kind, Some("INSUFFICIENT_DATA"), "{rule:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_a_denied_member() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let members = organization(aws, 3).await;
    let (rule_arn, _process) = organization_rule(aws, "RuntimeGuardMember").await;
    for member in &members {
        let config = member_config(aws, member, 3).await;
        start_recording(&config, member).await;
    }
    aws.control(
        "POST",
        "/_localaws/seed/lambda",
        Some(
            json!({"Accounts": [&members[0], &members[1]], "Region": REGION, "FunctionsPerAccount": 120,
                    "Runtimes": ["python3.8", "python3.13", "nodejs24.x"]}),
        ),
    )
    .expect("seed");
    // 240 change notifications are queued; from now on 30% of Config and Lambda calls are throttled,
    // and the third member denies everything.
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"Seed": 5, "DenyAccounts": [&members[2]], "Rules": [
            {"Service": "config", "Throttle": 0.3}, {"Service": "lambda", "Throttle": 0.3}]})),
    )
    .expect("faults");
    aws.control("POST", "/_localaws/config/periodic", Some(json!({})))
        .expect("periodic");
    // 240 change notifications, and a sweep in each account of the organization (admin included).
    let invocations = aws
        .settled(&rule_arn, 244, Duration::from_secs(240))
        .await
        .expect("settled");
    let (failed, succeeded): (Vec<&Value>, Vec<&Value>) =
        invocations.iter().partition(|i| i["Status"] == "failed");
    assert_eq!(succeeded.len(), 243, "{failed:#?}");
    assert_eq!(failed.len(), 1, "only the denied member's sweep fails");
    let error = failed[0]["Error"].to_string();
    assert!(
        error.contains(&members[2]) && error.contains("cannot assume"),
        "{error}"
    );
    // The service's words once, and a kind a person can read (not a Rust type name).
    assert_eq!(error.matches("AccessDenied").count(), 1, "{error}");
    assert_eq!(failed[0]["Error"]["errorType"], "AwsCallFailed");
    let injected = aws.control("GET", "/_localaws/faults", None).expect("faults");
    assert!(
        injected["Injected"]["throttle:config:PutEvaluations"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{injected}"
    );

    aws.control("POST", "/_localaws/faults", Some(json!({})))
        .expect("faults off");
    let recorded =
        aws.control("GET", "/_localaws/stats", None).expect("stats")["EvaluationsRecorded"].clone();
    for member in &members[..2] {
        let results = member_results(aws, member).await;
        assert_eq!(results.len(), 120, "{member}");
        // Each function: one change-triggered evaluation, recorded once; the sweep found it unchanged and
        // put nothing (only changed evaluations are put).
        let counts: Vec<u64> = recorded
            .as_array()
            .expect("array")
            .iter()
            .filter(|r| r["AccountId"] == member.as_str())
            .map(|r| r["Count"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(counts.len(), 120);
        assert!(counts.iter().all(|&c| c == 1), "{member}: {counts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_invocations_are_errors_and_report_nothing() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    start_recording(&admin, ADMIN_ACCOUNT).await;
    let (rule_arn, mut process) = rule_in_admin(aws, "{}", true, false, &[]).await;
    let payloads = [
        json!({}),
        json!([1, 2, 3]),
        json!("just a string"),
        json!({"invokingEvent": "{not json", "accountId": ADMIN_ACCOUNT, "resultToken": "t"}),
        json!({"invokingEvent": "{\"messageType\":\"Surprise\"}", "accountId": ADMIN_ACCOUNT, "resultToken": "t"}),
        json!({"invokingEvent": "{\"messageType\":\"ConfigurationItemChangeNotification\",\"configurationItem\":{\"resourceType\":\"AWS::Lambda::Function\",\"resourceId\":\"x\",\"configurationItemCaptureTime\":\"2026-11-20T10:00:00Z\",\"configuration\":{\"runtime\":\"python3.13\"}}}",
               "accountId": ADMIN_ACCOUNT, "resultToken": "forged-token"}),
        json!({"invokingEvent": "{\"messageType\":\"ScheduledNotification\"}", "resultToken": "t"}),
    ];
    let invocations = aws
        .invoke_events(&admin, &rule_arn, &payloads, Duration::from_secs(60))
        .await
        .expect("settled");
    for invocation in &invocations {
        assert_eq!(invocation["Status"], "failed", "{invocation:#}");
        assert!(
            invocation["Error"]["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{invocation:#}"
        );
    }
    assert!(process.is_running(), "no panic took the runtime down");
    let recorded =
        aws.control("GET", "/_localaws/stats", None).expect("stats")["EvaluationsRecorded"].clone();
    assert_eq!(recorded, json!([]), "nothing was reported");
    // The process still serves well-formed events afterwards.
    create_function(&admin, "after", Runtime::Python313).await;
    let invocations = aws
        .settled(&rule_arn, payloads.len() + 1, Duration::from_secs(30))
        .await
        .expect("settled");
    assert_eq!(
        invocations.iter().filter(|i| i["Status"] == "succeeded").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_evaluates_every_function_without_config() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    aws.control(
        "POST",
        "/_localaws/seed/lambda",
        Some(
            json!({"Accounts": [ADMIN_ACCOUNT], "Region": REGION, "FunctionsPerAccount": 60,
                    "Runtimes": ["python3.8", "nodejs24.x", "image"]}),
        ),
    )
    .expect("seed");
    let admin = aws.sdk_config(None, 3).await;
    aws_sdk_lambda::Client::new(&admin)
        .put_runtime_management_config()
        .function_name("fn-0001")
        .update_runtime_on(UpdateRuntimeOn::Manual)
        .runtime_version_arn("arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4")
        .send()
        .await
        .expect("manual");
    let scan = |args: &[&str]| {
        e2e::loopback_env(
            std::process::Command::new(rule_binary()).env_clear(),
            aws.endpoint(),
        )
        .arg("scan")
        .args(args)
        .output()
        .expect("rule scan")
    };
    let output = scan(&["--json", "--as-of", "2026-11-23"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(rows.len(), 60); // all pages of ListFunctions (50 + 10)
    let by_name: BTreeMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["function"].as_str().expect("name"), r))
        .collect();
    assert_eq!(by_name["fn-0000"]["compliance"], "NON_COMPLIANT"); // python3.8
    assert_eq!(by_name["fn-0000"]["phase"], "deprecated");
    assert_eq!(by_name["fn-0001"]["compliance"], "NON_COMPLIANT"); // nodejs24.x pinned by Manual
    assert!(
        by_name["fn-0001"]["annotation"]
            .as_str()
            .expect("text")
            .contains("Manual")
    );
    assert_eq!(by_name["fn-0004"]["compliance"], "COMPLIANT"); // nodejs24.x
    assert_eq!(by_name["fn-0002"]["compliance"], "NOT_APPLICABLE"); // image
    // Rule parameters apply; the table is for people.
    let lenient = scan(&["--json", "--rule-parameters", r#"{"runtimeUpdateMode":"any"}"#]);
    let rows: Vec<Value> = serde_json::from_slice(&lenient.stdout).expect("json");
    assert!(
        rows.iter()
            .any(|r| r["function"] == "fn-0001" && r["compliance"] == "COMPLIANT")
    );
    let table = String::from_utf8(scan(&[]).stdout).expect("utf-8");
    assert!(
        table.starts_with("FUNCTION") && table.trim_end().ends_with("60 functions, 21 NON_COMPLIANT"),
        "{table}"
    );
    let invalid = scan(&["--rule-parameters", r#"{"failPhase":"soon"}"#]);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("failPhase"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_versions_judges_what_aliases_point_at() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    // 3 functions × 3 published versions: `legacy` → 1 (python3.8), `live` → 2 (python3.12) with 10 %
    // on 3 (nodejs16.x); fn-0002 is exempt (its versions too). One function without aliases.
    let seeded = aws
        .control(
            "POST",
            "/_localaws/seed/lambda",
            Some(
                json!({"Accounts": [ADMIN_ACCOUNT], "Region": REGION, "FunctionsPerAccount": 3,
                "Runtimes": ["python3.13"], "VersionsPerFunction": 3,
                "VersionRuntimes": ["python3.8", "python3.12", "nodejs16.x"],
                "Aliases": [{"Name": "legacy", "FunctionVersion": "1"},
                            {"Name": "live", "FunctionVersion": "2", "AdditionalVersionWeights": {"3": 0.1}},
                            {"Name": "edge", "FunctionVersion": "$LATEST"}]}),
            ),
        )
        .expect("seed");
    assert_eq!(seeded["Aliases"], json!(9), "{seeded:#}");
    let admin = aws.sdk_config(None, 3).await;
    create_function(&admin, "solo", Runtime::Python38).await;
    let arn = aws_sdk_lambda::Client::new(&admin)
        .get_function()
        .function_name("fn-0002")
        .send()
        .await
        .expect("fn-0002")
        .configuration()
        .and_then(|c| c.function_arn())
        .expect("arn")
        .to_string();
    e2e::setup::tag(&admin, &arn, "runtime-exempt-until", "2027-06-30").await;
    let scan = |args: &[&str]| {
        e2e::loopback_env(
            std::process::Command::new(rule_binary()).env_clear(),
            aws.endpoint(),
        )
        .arg("scan")
        .args(["--as-of", "2026-11-23"])
        .args(args)
        .output()
        .expect("rule scan")
    };
    let calls = || aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"].clone();
    let before = calls();
    let output = scan(&["--json", "--versions"]);
    let after = calls();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json");
    let by_key: BTreeMap<String, &Value> = rows
        .iter()
        .map(|r| {
            let name = r["function"].as_str().expect("name");
            match r["qualifier"].as_str() {
                Some(version) => (format!("{name}:{version}"), r),
                None => (name.to_string(), r),
            }
        })
        .collect();
    let mut expected: Vec<String> = vec!["solo".into()];
    for f in 0..3 {
        expected.push(format!("fn-000{f}"));
        for v in 1..=3 {
            expected.push(format!("fn-000{f}:{v}"));
        }
    }
    expected.sort();
    assert_eq!(
        by_key.keys().cloned().collect::<Vec<_>>(),
        expected,
        "one row per function and per version an alias points at ($LATEST's alias adds none)"
    );
    for f in 0..2 {
        let row = |v: u32| by_key[&format!("fn-000{f}:{v}")];
        assert_eq!(
            (
                row(1)["runtime"].as_str(),
                row(1)["compliance"].as_str(),
                &row(1)["aliases"]
            ),
            (Some("python3.8"), Some("NON_COMPLIANT"), &json!(["legacy"]))
        );
        assert!(
            row(1)["annotation"]
                .as_str()
                .is_some_and(|a| a.starts_with("python3.8 deprecated 2024-10-14")),
            "{:#}",
            row(1)
        );
        assert_eq!(
            (
                row(2)["runtime"].as_str(),
                row(2)["compliance"].as_str(),
                &row(2)["aliases"]
            ),
            (Some("python3.12"), Some("COMPLIANT"), &json!(["live"]))
        );
        assert_eq!(
            (
                row(3)["runtime"].as_str(),
                row(3)["compliance"].as_str(),
                &row(3)["aliases"]
            ),
            (Some("nodejs16.x"), Some("NON_COMPLIANT"), &json!(["live"])),
            "the weighted alias's second version"
        );
        let function = by_key[&format!("fn-000{f}")];
        assert_eq!(
            (
                function["qualifier"].clone(),
                function["aliases"].clone(),
                function["compliance"].as_str()
            ),
            (Value::Null, json!([]), Some("COMPLIANT"))
        );
    }
    // The exemption tag is the function's: it covers its versions.
    assert_eq!(by_key["fn-0002:1"]["compliance"], "COMPLIANT");
    assert!(
        by_key["fn-0002:1"]["annotation"]
            .as_str()
            .is_some_and(|a| a.contains("2027-06-30")),
        "{:#}",
        by_key["fn-0002:1"]
    );
    // Bounded: one ListAliases per function, one GetFunctionConfiguration per distinct version.
    let server = |op: &str| after[op].as_u64().unwrap_or(0) - before[op].as_u64().unwrap_or(0);
    assert_eq!(server("lambda:ListAliases"), 4);
    assert_eq!(server("lambda:GetFunctionConfiguration"), 9);

    // Without --versions: no alias is read, the functions only.
    let before = calls();
    let plain: Vec<Value> = serde_json::from_slice(&scan(&["--json"]).stdout).expect("json");
    let after = calls();
    let server = |op: &str| after[op].as_u64().unwrap_or(0) - before[op].as_u64().unwrap_or(0);
    assert_eq!(plain.len(), 4);
    assert_eq!(
        (
            server("lambda:ListAliases"),
            server("lambda:GetFunctionConfiguration")
        ),
        (0, 0)
    );
    // The table names versions with their aliases.
    let table = String::from_utf8(scan(&["--versions"]).stdout).expect("utf-8");
    let line = table
        .lines()
        .find(|l| l.starts_with("fn-0000:3 (alias live) "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains("nodejs16.x") && line.contains("NON_COMPLIANT"),
        "{line}"
    );
    assert!(
        table
            .trim_end()
            .ends_with("4 functions and 9 published versions behind aliases, 5 NON_COMPLIANT"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_from_ssm_and_test_mode() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    start_recording(&admin, ADMIN_ACCOUNT).await;
    // An overlay in which python3.13 is already deprecated: new dates without a redeploy. (A full
    // catalog is ~32 KB; SSM holds at most 8 KB, so the parameter carries only what changed.)
    let builtin: Value = serde_json::from_str(lifecycle::catalog::BUILTIN_JSON).expect("catalog");
    let mut python313 = builtin["runtimes"]
        .as_array()
        .expect("runtimes")
        .iter()
        .find(|r| r["runtime"] == "python3.13")
        .cloned()
        .expect("python3.13");
    python313["deprecation_date"] = json!("2026-01-01");
    let catalog = json!({"schema_version": 1, "updated_at": "2026-11-23", "runtimes": [python313]});
    let full = aws_sdk_ssm::Client::new(&admin)
        .put_parameter()
        .name("/runtime-guard/full")
        .value(lifecycle::catalog::BUILTIN_JSON)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
        .send()
        .await;
    assert!(full.is_err(), "a whole catalog does not fit in an SSM parameter");
    let ssm = aws_sdk_ssm::Client::new(&admin);
    ssm.put_parameter()
        .name("/runtime-guard/catalog")
        .value(catalog.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("parameter");
    ssm.put_parameter()
        .name("/runtime-guard/broken")
        .value("{\"schema_version\": 1}")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("parameter");
    let (rule_arn, _process) = rule_in_admin(
        aws,
        r#"{"catalogSsmParameter":"/runtime-guard/catalog"}"#,
        true,
        false,
        &[],
    )
    .await;
    create_function(&admin, "modern", Runtime::Python313).await;
    let invocations = aws
        .settled(&rule_arn, 1, Duration::from_secs(30))
        .await
        .expect("settled");
    assert_all_succeeded(&invocations);
    assert_eq!(invocations[0]["Response"]["api_calls"]["ssm:GetParameter"], 1);
    let results = compliance(&admin, RULE).await;
    assert_eq!(results["modern"].0, "NON_COMPLIANT", "{:?}", results["modern"]);
    assert!(
        results["modern"]
            .1
            .starts_with("python3.13 deprecated 2026-01-01"),
        "{:?}",
        results["modern"]
    );

    // An unusable replacement fails closed, naming the parameter.
    let event = |parameters: &str, token: &str| {
        json!({
            "invokingEvent": json!({"messageType": "ConfigurationItemChangeNotification",
                "notificationCreationTime": "2026-11-20T10:00:05.000Z",
                "configurationItem": {"resourceType": "AWS::Lambda::Function", "resourceId": "modern",
                    "configurationItemStatus": "OK", "configurationItemCaptureTime": "2026-11-20T10:00:00.000Z",
                    "awsAccountId": ADMIN_ACCOUNT, "tags": {},
                    "configuration": {"runtime": "python3.13", "packageType": "Zip",
                        "functionArn": format!("arn:aws:lambda:{REGION}:{ADMIN_ACCOUNT}:function:modern")}}}).to_string(),
            "ruleParameters": parameters, "resultToken": token, "eventLeftScope": false,
            "accountId": ADMIN_ACCOUNT, "configRuleName": RULE,
        })
    };
    // TESTMODE (the console's "test" invocation): PutEvaluations with TestMode, nothing stored.
    aws.control(
        "POST",
        "/_localaws/runtime/enqueue",
        Some(json!({"FunctionArn": rule_arn, "Event": event(r#"{"catalogSsmParameter":"/runtime-guard/broken"}"#, "TESTMODE")})),
    )
    .expect("enqueue");
    let invocations = aws
        .settled(&rule_arn, 2, Duration::from_secs(30))
        .await
        .expect("settled");
    assert_all_succeeded(&invocations);
    let summary = &invocations[1]["Response"];
    assert_eq!(summary["test_mode"], true, "{summary:#}");
    assert_eq!(summary["evaluations"]["NON_COMPLIANT"], 1, "{summary:#}");
    let after = compliance(&admin, RULE).await;
    assert_eq!(after["modern"], results["modern"], "TESTMODE stored nothing");
}

fn assume_role_calls(aws: &LocalAws) -> u64 {
    aws.control("GET", "/_localaws/stats", None).expect("stats")["Calls"]["sts:AssumeRole"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_event_names_never_reaches_sts_unchecked() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 3).await;
    // No RULE_MEMBER_ROLE_NAME: this Lambda evaluates its own account only.
    let (rule_arn, _process) = rule_in_admin(aws, "{}", true, false, &[]).await;
    let event = |account: &str| {
        json!({"invokingEvent": "{\"messageType\":\"ScheduledNotification\",\"notificationCreationTime\":\"2026-11-20T10:00:00.000Z\"}",
               "accountId": account, "configRuleName": RULE, "resultToken": "t",
               "executionRoleArn": "arn:aws:iam::222222222222:role/Admin"})
    };
    let before = assume_role_calls(aws);
    let invocations = aws
        .invoke_events(
            &admin,
            &rule_arn,
            &[event("222222222222:role/Admin#"), event("222222222222")],
            Duration::from_secs(60),
        )
        .await
        .expect("settled");
    assert_eq!(
        assume_role_calls(aws),
        before,
        "no AssumeRole for what the event names"
    );
    let messages: Vec<&str> = invocations
        .iter()
        .map(|i| i["Error"]["errorMessage"].as_str().unwrap_or_default())
        .collect();
    assert!(messages[0].contains("is not 12 digits"), "{messages:?}");
    assert_eq!(invocations[0]["Error"]["errorType"], "UntrustedAccount");
    assert!(
        messages[1].contains("RULE_MEMBER_ROLE_NAME is not set"),
        "{messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_assume_role_per_member_account_past_the_sdk_cache() {
    // The SDK's shared identity cache holds 64 entries: 70 members and two sweeps must still assume each
    // member role once.
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let members = organization(aws, 70).await;
    let (rule_arn, _process) = organization_rule(aws, "RuntimeGuardMember").await;
    let before = assume_role_calls(aws);
    for round in 1..=2 {
        aws.control("POST", "/_localaws/config/periodic", Some(json!({})))
            .expect("periodic");
        let invocations = aws
            .settled(&rule_arn, round * (members.len() + 1), Duration::from_secs(120))
            .await
            .expect("settled");
        assert_all_succeeded(&invocations);
    }
    assert_eq!(assume_role_calls(aws) - before, members.len() as u64);
}
