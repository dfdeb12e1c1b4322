//! Invocation events end to end through the library: parsing, judging, offline limits.

use jiff::civil::date;
use lifecycle::evaluation::OfflineError;
use lifecycle::{Catalog, ComplianceType, Invocation, evaluate_offline};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

fn evaluate(event: &Value) -> Result<Vec<lifecycle::Evaluation>, OfflineError> {
    let invocation = Invocation::from_value(event)?;
    evaluate_offline(
        &invocation,
        &Catalog::builtin().expect("catalog"),
        date(2026, 11, 23),
    )
}

fn single(event: &Value) -> lifecycle::Evaluation {
    let mut evaluations = evaluate(event).expect("evaluations");
    assert_eq!(evaluations.len(), 1);
    evaluations.remove(0)
}

/// Rewrites the configuration item inside `invokingEvent` (a JSON string, as Config sends it).
fn with_item(mut event: Value, edit: impl Fn(&mut Value)) -> Value {
    let mut invoking: Value =
        serde_json::from_str(event["invokingEvent"].as_str().expect("string")).expect("json");
    edit(&mut invoking["configurationItem"]);
    event["invokingEvent"] = Value::String(invoking.to_string());
    event
}

#[test]
fn change_notification_for_a_deprecated_runtime() {
    let e = single(&fixture("change-python38.json"));
    assert_eq!(e.compliance_resource_type, "AWS::Lambda::Function");
    assert_eq!(e.compliance_resource_id, "orders-api");
    assert_eq!(e.compliance_type, ComplianceType::NonCompliant);
    assert!(
        e.annotation.starts_with("python3.8 deprecated 2024-10-14;"),
        "{}",
        e.annotation
    );
    // Change-triggered evaluations are ordered by the item's capture time.
    assert_eq!(e.ordering_timestamp.to_string(), "2026-11-20T10:00:00.123Z");
    let json = serde_json::to_value(&e).expect("serialize");
    assert_eq!(json["OrderingTimestamp"], "2026-11-20T10:00:00.123Z");
    assert_eq!(json["ComplianceType"], "NON_COMPLIANT");
}

#[test]
fn deleted_items_and_left_scope_are_not_applicable() {
    for name in ["change-deleted.json", "change-left-scope.json"] {
        let e = single(&fixture(name));
        assert_eq!(e.compliance_type, ComplianceType::NotApplicable, "{name}");
        assert_eq!(e.compliance_resource_id, "orders-api");
    }
    let not_recorded = with_item(fixture("change-python38.json"), |item| {
        item["configurationItemStatus"] = "ResourceDeletedNotRecorded".into();
        item["configuration"] = Value::Null;
    });
    assert_eq!(
        single(&not_recorded).compliance_type,
        ComplianceType::NotApplicable
    );
}

#[test]
fn invalid_parameters_fail_closed_naming_the_parameter() {
    let e = single(&fixture("change-invalid-parameters.json"));
    assert_eq!(e.compliance_type, ComplianceType::NonCompliant);
    assert!(
        e.annotation.starts_with("invalid rule parameter failPhase:"),
        "{}",
        e.annotation
    );
    // Even an otherwise compliant function; but a deleted one stays NOT_APPLICABLE.
    let mut deleted = fixture("change-deleted.json");
    deleted["ruleParameters"] = json!("{not json");
    assert_eq!(single(&deleted).compliance_type, ComplianceType::NotApplicable);
}

#[test]
fn image_and_exempt_fixtures() {
    let image = single(&fixture("change-image.json"));
    assert_eq!(image.compliance_type, ComplianceType::NonCompliant); // last modified 2026-03-01, limit 180
    let exempt = single(&fixture("change-exempt.json"));
    assert_eq!(exempt.compliance_type, ComplianceType::Compliant);
    assert!(
        exempt.annotation.starts_with("Exempt until 2027-01-31"),
        "{}",
        exempt.annotation
    );
}

#[test]
fn items_without_configuration_are_never_compliant() {
    let event = with_item(fixture("change-python38.json"), |item| {
        item.as_object_mut().expect("object").remove("configuration");
    });
    let e = single(&event);
    assert_eq!(e.compliance_type, ComplianceType::NonCompliant);
    assert!(
        e.annotation.contains("carries no configuration"),
        "{}",
        e.annotation
    );
}

/// ResourceNotRecorded (the recorder excludes the type; the item has no configuration) is NON_COMPLIANT
/// "cannot judge", not NOT_APPLICABLE as rdklib's template answers: NOT_APPLICABLE would make a function
/// whose recording was turned off vanish from a security report. The periodic sweep reads Lambda directly
/// and replaces it with a real verdict (README, design notes).
#[test]
fn resource_not_recorded_is_not_hidden_as_not_applicable() {
    let event = with_item(fixture("change-python38.json"), |item| {
        item["configurationItemStatus"] = json!("ResourceNotRecorded");
        item["configuration"] = Value::Null;
    });
    let e = single(&event);
    assert_eq!(e.compliance_type, ComplianceType::NonCompliant);
    assert!(
        e.annotation.contains("carries no configuration: cannot judge it"),
        "{}",
        e.annotation
    );
    // Deleted and not recorded: gone, so NOT_APPLICABLE.
    let gone = with_item(fixture("change-python38.json"), |item| {
        item["configurationItemStatus"] = json!("ResourceDeletedNotRecorded");
        item["configuration"] = Value::Null;
    });
    assert_eq!(single(&gone).compliance_type, ComplianceType::NotApplicable);
}

#[test]
fn other_resource_types_are_not_applicable() {
    let event = with_item(fixture("change-python38.json"), |item| {
        item["resourceType"] = "AWS::S3::Bucket".into();
    });
    assert_eq!(single(&event).compliance_type, ComplianceType::NotApplicable);
}

#[test]
fn tolerant_parsing_of_items() {
    // Unknown keys are ignored; wrong types count as missing; an inlined invokingEvent object works.
    let event = with_item(fixture("change-python38.json"), |item| {
        item["unexpected"] = json!({"a": [1, 2]});
        item["tags"] = json!({"team": 5, "runtime-exempt-until": "2027-06-01"});
        item["configuration"]["lastModified"] = json!(12345);
    });
    let e = single(&event);
    assert_eq!(e.compliance_type, ComplianceType::Compliant, "{}", e.annotation);
    let mut inline = fixture("change-python38.json");
    inline["invokingEvent"] =
        serde_json::from_str(inline["invokingEvent"].as_str().expect("str")).expect("json");
    assert_eq!(single(&inline).compliance_type, ComplianceType::NonCompliant);
    // Without capture time, the notification time orders the evaluation.
    let no_capture = with_item(fixture("change-python38.json"), |item| {
        item.as_object_mut()
            .expect("object")
            .remove("configurationItemCaptureTime");
    });
    assert_eq!(
        single(&no_capture).ordering_timestamp.to_string(),
        "2026-11-20T10:00:05Z"
    );
}

#[test]
fn offline_refuses_what_needs_aws_and_says_why() {
    let oversized = evaluate(&fixture("oversized.json")).expect_err("needs the full item");
    assert!(
        oversized.to_string().contains("GetResourceConfigHistory"),
        "{oversized}"
    );
    let scheduled = evaluate(&fixture("scheduled.json")).expect_err("needs ListFunctions");
    assert!(scheduled.to_string().contains("ListFunctions"), "{scheduled}");
    assert!(scheduled.to_string().contains("111122223333"), "{scheduled}");
    // An oversized notification for a deleted function needs nothing more.
    let mut deleted = fixture("oversized.json");
    let mut invoking: Value =
        serde_json::from_str(deleted["invokingEvent"].as_str().expect("str")).expect("json");
    invoking["configurationItemSummary"]["configurationItemStatus"] = "ResourceDeleted".into();
    deleted["invokingEvent"] = Value::String(invoking.to_string());
    assert_eq!(single(&deleted).compliance_type, ComplianceType::NotApplicable);
    let mut left = fixture("oversized.json");
    left["eventLeftScope"] = true.into();
    assert_eq!(single(&left).compliance_type, ComplianceType::NotApplicable);
}

#[test]
fn malformed_events_are_errors_with_a_reason() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "expected a JSON object"),
        (json!({}), "invokingEvent is missing"),
        (
            json!({"invokingEvent": "{"}),
            "invokingEvent is not a JSON document",
        ),
        (json!({"invokingEvent": 7}), "invokingEvent must be a JSON string"),
        (json!({"invokingEvent": "{}"}), "no messageType"),
        (
            json!({"invokingEvent": "{\"messageType\":\"Surprise\"}"}),
            "\"Surprise\" is not one this rule handles",
        ),
        (
            json!({"invokingEvent": "{\"messageType\":\"ConfigurationItemChangeNotification\"}"}),
            "without a configurationItem",
        ),
        (
            json!({"invokingEvent": "{\"messageType\":\"ConfigurationItemChangeNotification\",\"configurationItem\":{\"resourceType\":\"AWS::Lambda::Function\"}}"}),
            "no resourceId",
        ),
        (
            json!({"invokingEvent": "{\"messageType\":\"OversizedConfigurationItemChangeNotification\"}"}),
            "without a configurationItemSummary",
        ),
        (
            json!({"invokingEvent": "{\"messageType\":\"ConfigurationItemChangeNotification\",\"configurationItem\":{\"resourceType\":\"AWS::Lambda::Function\",\"resourceId\":\"f\"}}"}),
            "no configurationItemCaptureTime or notificationCreationTime",
        ),
        (
            json!({"eventLeftScope": "maybe", "invokingEvent": "{\"messageType\":\"ScheduledNotification\"}"}),
            "eventLeftScope must be a boolean",
        ),
    ];
    for (event, expected) in cases {
        let error = evaluate(&event).expect_err("malformed");
        assert!(error.to_string().contains(expected), "{event}: {error}");
    }
    assert!(Invocation::parse("not json").is_err());
}
