//! The local AWS through the Rust AWS SDK: an organization rule's invocation reaches a runtime
//! process through the Lambda Runtime API, its evaluation comes back through the organization
//! aggregator, PutEvaluations is refused as AWS refuses it, and injected throttling is retried.

use aws_sdk_config::types::{
    ComplianceType, Evaluation, OrganizationConfigRuleTriggerType, OrganizationCustomRuleMetadata,
};
use aws_sdk_lambda::types::Runtime;
use aws_sdk_sts::config::Credentials;
use aws_smithy_types::DateTime;
use e2e::setup::{create_function, create_organization, organization_aggregator, start_recording};
use e2e::{LocalAws, REGION, RuntimeClient};
use serde_json::{Value, json};

const RULE_FUNCTION: &str = "runtime-rule";

fn evaluation(resource_id: &str, compliance: ComplianceType) -> Evaluation {
    Evaluation::builder()
        .compliance_resource_type("AWS::Lambda::Function")
        .compliance_resource_id(resource_id)
        .compliance_type(compliance)
        .annotation("python3.8 deprecated 2024-10-14")
        .ordering_timestamp(DateTime::from_secs(1_763_632_800))
        .build()
        .expect("evaluation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_rule_round_trip_and_put_evaluations_contract() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    let admin = aws.sdk_config(None, 1).await;

    // An organization with member account A; Config recording in A.
    let member = create_organization(&admin, &["team-a"]).await.remove(0);
    let member_credentials: Credentials = aws
        .assume_role(&member, "OrganizationAccountAccessRole")
        .await
        .expect("member credentials");
    let member_config = aws.sdk_config(Some(member_credentials), 1).await;
    start_recording(&member_config, &member).await;

    // The organization rule, its Lambda in the admin account, bound to this test as its runtime.
    let rule_arn = create_function(&admin, RULE_FUNCTION, Runtime::Providedal2023).await;
    let runtime_api = aws.bind_runtime(&rule_arn).expect("bind");
    let config_admin = aws_sdk_config::Client::new(&admin);
    config_admin
        .put_organization_config_rule()
        .organization_config_rule_name("lambda-runtimes")
        .organization_custom_rule_metadata(
            OrganizationCustomRuleMetadata::builder()
                .lambda_function_arn(&rule_arn)
                .organization_config_rule_trigger_types(
                    OrganizationConfigRuleTriggerType::ConfigurationItemChangeNotification,
                )
                .resource_types_scope("AWS::Lambda::Function")
                .build()
                .expect("metadata"),
        )
        .send()
        .await
        .expect("organization rule");

    // A python3.8 function created in member account A...
    let waiter = tokio::task::spawn_blocking(move || {
        let runtime = RuntimeClient::new(&runtime_api);
        let invocation = runtime.next().expect("an invocation");
        (runtime, invocation)
    });
    create_function(&member_config, "legacy-orders", Runtime::Python38).await;
    let (runtime, invocation) = waiter.await.expect("runtime thread");

    // ...arrives as Config sends it, for A, through the Runtime API.
    let event = &invocation.event;
    assert_eq!(event["accountId"], member.as_str());
    let invoking: Value =
        serde_json::from_str(event["invokingEvent"].as_str().expect("string")).expect("json");
    assert_eq!(invoking["messageType"], "ConfigurationItemChangeNotification");
    assert_eq!(
        invoking["configurationItem"]["configuration"]["runtime"],
        "python3.8"
    );
    assert_eq!(invoking["configurationItem"]["awsAccountId"], member.as_str());
    let rule_name = event["configRuleName"].as_str().expect("rule name").to_string();
    assert!(
        rule_name.starts_with("OrgConfigRule-lambda-runtimes-"),
        "{rule_name}"
    );
    let token = event["resultToken"].as_str().expect("token").to_string();

    // PutEvaluations is refused as AWS refuses it...
    let member_rules = aws_sdk_config::Client::new(&member_config);
    let too_many: Vec<Evaluation> = (0..101)
        .map(|i| evaluation(&format!("fn-{i}"), ComplianceType::NonCompliant))
        .collect();
    let refused = member_rules
        .put_evaluations()
        .result_token(&token)
        .set_evaluations(Some(too_many))
        .send()
        .await
        .expect_err("101 evaluations");
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("ValidationException")
    );
    let refused = member_rules
        .put_evaluations()
        .result_token(&token)
        .evaluations(evaluation("legacy-orders", ComplianceType::InsufficientData))
        .send()
        .await
        .expect_err("INSUFFICIENT_DATA");
    assert!(
        refused
            .into_service_error()
            .is_invalid_parameter_value_exception()
    );
    // ...and the admin account cannot use the member's token.
    let wrong_account = config_admin
        .put_evaluations()
        .result_token(&token)
        .evaluations(evaluation("legacy-orders", ComplianceType::NonCompliant))
        .send()
        .await
        .expect_err("token of another account");
    assert!(
        wrong_account
            .into_service_error()
            .is_invalid_result_token_exception()
    );

    // The evaluation goes in with A's credentials...
    let put = member_rules
        .put_evaluations()
        .result_token(&token)
        .evaluations(evaluation("legacy-orders", ComplianceType::NonCompliant))
        .send()
        .await
        .expect("put evaluations");
    assert!(put.failed_evaluations().is_empty());
    runtime
        .respond(&invocation.request_id, json!({}))
        .expect("respond");

    // ...and is read back from the admin account through the organization aggregator.
    organization_aggregator(&admin, "organization").await;
    let details = config_admin
        .get_aggregate_compliance_details_by_config_rule()
        .configuration_aggregator_name("organization")
        .config_rule_name(&rule_name)
        .account_id(&member)
        .aws_region(REGION)
        .send()
        .await
        .expect("aggregate details");
    let results = details.aggregate_evaluation_results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].compliance_type(), Some(&ComplianceType::NonCompliant));
    assert_eq!(results[0].annotation(), Some("python3.8 deprecated 2024-10-14"));
    assert_eq!(results[0].account_id(), Some(member.as_str()));
    let qualifier = results[0]
        .evaluation_result_identifier()
        .and_then(|i| i.evaluation_result_qualifier())
        .expect("qualifier");
    assert_eq!(qualifier.resource_id(), Some("legacy-orders"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_throttling_is_retried_by_the_sdk() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(
            json!({"Seed": 11, "Rules": [{"Service": "config", "Throttle": 0.3},
                                          {"Service": "lambda", "Throttle": 0.3}]}),
        ),
    )
    .expect("faults");
    let patient = aws.sdk_config(None, 10).await;
    let config = aws_sdk_config::Client::new(&patient);
    let lambda = aws_sdk_lambda::Client::new(&patient);
    for _ in 0..20 {
        config
            .describe_config_rules()
            .send()
            .await
            .expect("retried until it succeeds");
        lambda
            .list_functions()
            .send()
            .await
            .expect("retried until it succeeds");
    }
    let injected = aws
        .control("GET", "/_localaws/faults", None)
        .expect("fault counters");
    let throttled = |key: &str| injected["Injected"][key].as_u64().unwrap_or(0);
    // 40 calls all succeeded, yet the server throttled some attempts: the SDK retried them.
    assert!(throttled("throttle:config:DescribeConfigRules") > 0, "{injected}");
    assert!(throttled("throttle:lambda:ListFunctions") > 0, "{injected}");

    // With a single attempt, the same throttling reaches the caller with AWS's error code.
    aws.control(
        "POST",
        "/_localaws/faults",
        Some(json!({"Rules": [{"Service": "config", "Throttle": 1.0}]})),
    )
    .expect("faults");
    let impatient = aws_sdk_config::Client::new(&aws.sdk_config(None, 1).await);
    let error = impatient
        .describe_config_rules()
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(
        error.as_service_error().and_then(|e| e.meta().code()),
        Some("ThrottlingException")
    );
}
