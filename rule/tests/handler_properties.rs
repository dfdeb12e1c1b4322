//! The Lambda handler on arbitrary invocation payloads: never a panic, never a success (so never a
//! COMPLIANT reported) when the payload is not a usable Config event or AWS cannot be reached.
//! AWS is an unreachable loopback port here, so every path that gets as far as a call fails fast.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::config::Credentials;
use proptest::prelude::*;
use rule::aws::Accounts;
use rule::lambda::{InvocationContext, Services, handle};
use serde_json::{Value, json};

fn services(runtime: &tokio::runtime::Runtime) -> Services {
    let config = runtime.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9") // nothing listens on the discard port
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(200))
                    .build(),
            )
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .load(),
    );
    Services::new(
        Accounts::new(
            config,
            Some("Member".into()),
            rule::lambda::lambda_limits(|_| None).expect("defaults"),
        )
        .expect("a valid role name"),
        lifecycle::Catalog::builtin().expect("catalog"),
    )
}

fn payload() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::String),
    ];
    let json = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let message = prop_oneof![
        Just("ConfigurationItemChangeNotification"),
        Just("OversizedConfigurationItemChangeNotification"),
        Just("ScheduledNotification"),
        Just("Other"),
    ];
    prop_oneof![
        json.clone(),
        (message, json.clone(), json, proptest::option::of("[0-9]{12}"), proptest::option::of(".{0,8}")).prop_map(
            |(kind, item, parameters, account, token)| {
                json!({
                    "invokingEvent": json!({"messageType": kind, "configurationItem": item,
                        "configurationItemSummary": {"resourceType": "AWS::Lambda::Function", "resourceId": "f"},
                        "notificationCreationTime": "2026-11-20T10:00:05.000Z"}).to_string(),
                    "ruleParameters": parameters.to_string(),
                    "accountId": account,
                    "resultToken": token,
                    "configRuleName": "rule",
                })
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_payloads_are_errors_never_panics(event in payload()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let services = services(&runtime);
        let context = InvocationContext { request_id: "r".into(), own_account: "123456789012".into() };
        let result = runtime.block_on(handle(event, context, &services));
        let error = result.expect_err("nothing can be delivered without AWS");
        let message = format!("{error:#}");
        prop_assert!(!message.is_empty());
    }
}
