//! The Config custom-rule invocation event and the `AWS::Lambda::Function` configuration item,
//! parsed tolerantly: unknown keys are ignored, optional keys may be missing, and a value of the
//! wrong type counts as missing (what that means for the verdict is decided by the verdict).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::dates::{shorten, utc_day_of_timestamp};
use crate::verdict::{FunctionSnapshot, Observed, PackageType};

pub const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";

/// A malformed invocation: nothing can be evaluated from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("invocation event is not JSON: {0}")]
    NotJson(String),
    #[error("invocation event: {0}")]
    Malformed(String),
}

/// The invocation event, as Config sends it to a custom Lambda rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub message: Message,
    /// The raw `ruleParameters` string (validated by `Policy`).
    pub rule_parameters: Option<String>,
    pub result_token: Option<String>,
    pub event_left_scope: bool,
    pub account_id: Option<String>,
    pub execution_role_arn: Option<String>,
    pub config_rule_name: Option<String>,
    pub config_rule_arn: Option<String>,
}

impl Invocation {
    /// `TESTMODE` result tokens come from the console's/CLI's test invocations: PutEvaluations must
    /// then be called with TestMode=true.
    pub fn is_test_mode(&self) -> bool {
        self.result_token.as_deref() == Some("TESTMODE")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    ConfigurationItemChange {
        item: ConfigurationItem,
        notification_creation_time: Option<Timestamp>,
    },
    OversizedConfigurationItemChange {
        summary: ItemSummary,
        notification_creation_time: Option<Timestamp>,
    },
    Scheduled {
        aws_account_id: Option<String>,
        notification_creation_time: Option<Timestamp>,
    },
}

/// Status values of `configurationItemStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemStatus {
    Ok,
    ResourceDiscovered,
    ResourceNotRecorded,
    ResourceDeleted,
    ResourceDeletedNotRecorded,
    Other(String),
}

impl ItemStatus {
    fn parse(text: &str) -> ItemStatus {
        match text {
            "OK" => ItemStatus::Ok,
            "ResourceDiscovered" => ItemStatus::ResourceDiscovered,
            "ResourceNotRecorded" => ItemStatus::ResourceNotRecorded,
            "ResourceDeleted" => ItemStatus::ResourceDeleted,
            "ResourceDeletedNotRecorded" => ItemStatus::ResourceDeletedNotRecorded,
            other => ItemStatus::Other(other.to_string()),
        }
    }

    pub fn is_deleted(&self) -> bool {
        matches!(
            self,
            ItemStatus::ResourceDeleted | ItemStatus::ResourceDeletedNotRecorded
        )
    }
}

/// Which resource an item or an oversized item's summary is about, and its state. For an oversized
/// notification this is all there is; the rest is fetched with GetResourceConfigHistory.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSummary {
    pub resource_type: String,
    pub resource_id: String,
    pub aws_account_id: Option<String>,
    pub aws_region: Option<String>,
    pub capture_time: Option<Timestamp>,
    pub status: ItemStatus,
}

impl ItemSummary {
    fn from_value(value: &Value, what: &str) -> Result<ItemSummary, EventError> {
        let (resource_type, resource_id) = identity(value, what)?;
        Ok(ItemSummary {
            resource_type,
            resource_id,
            aws_account_id: string_at(value, "awsAccountId").map(str::to_string),
            aws_region: string_at(value, "awsRegion").map(str::to_string),
            capture_time: timestamp_at(value, "configurationItemCaptureTime"),
            status: ItemStatus::parse(string_at(value, "configurationItemStatus").unwrap_or("OK")),
        })
    }
}

/// A configuration item: its summary fields, and the raw JSON for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigurationItem {
    pub summary: ItemSummary,
    raw: Value,
}

/// What a configuration item says about the function, for the verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemContent {
    Function(FunctionSnapshot),
    Deleted,
    /// Another resource type: this rule does not judge it.
    OutOfScope,
    /// Present but without a usable `configuration`: judged NON_COMPLIANT, never passed.
    Unreadable(String),
}

fn string_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn timestamp_at(value: &Value, key: &str) -> Option<Timestamp> {
    string_at(value, key).and_then(|text| text.trim().parse::<Timestamp>().ok())
}

/// Config puts JSON documents in strings (`invokingEvent`, `ruleParameters`); accept an object too,
/// as test tools and hand-written events often inline it.
fn embedded_json(event: &Value, key: &str) -> Result<Option<Value>, EventError> {
    match event.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| EventError::Malformed(format!("{key} is not a JSON document: {e}"))),
        Some(other @ Value::Object(_)) => Ok(Some(other.clone())),
        Some(_) => Err(EventError::Malformed(format!("{key} must be a JSON string"))),
    }
}

impl Invocation {
    pub fn parse(text: &str) -> Result<Invocation, EventError> {
        let event: Value = serde_json::from_str(text).map_err(|e| EventError::NotJson(e.to_string()))?;
        Invocation::from_value(&event)
    }

    pub fn from_value(event: &Value) -> Result<Invocation, EventError> {
        if !event.is_object() {
            return Err(EventError::Malformed("expected a JSON object".into()));
        }
        let invoking = embedded_json(event, "invokingEvent")?
            .ok_or_else(|| EventError::Malformed("invokingEvent is missing".into()))?;
        let rule_parameters = match event.get("ruleParameters") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        };
        let message = Message::from_invoking_event(&invoking)?;
        Ok(Invocation {
            message,
            rule_parameters,
            result_token: string_at(event, "resultToken").map(str::to_string),
            // Absent means false; a non-boolean is malformed rather than silently in scope.
            event_left_scope: match event.get("eventLeftScope") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
                Some(_) => {
                    return Err(EventError::Malformed("eventLeftScope must be a boolean".into()));
                }
            },
            account_id: string_at(event, "accountId").map(str::to_string),
            execution_role_arn: string_at(event, "executionRoleArn").map(str::to_string),
            config_rule_name: string_at(event, "configRuleName").map(str::to_string),
            config_rule_arn: string_at(event, "configRuleArn").map(str::to_string),
        })
    }
}

impl Message {
    /// What orders this message's evaluations (PutEvaluations' OrderingTimestamp): the item's capture
    /// time for a change, else the notification's creation time (periodic evaluations).
    pub fn ordering_timestamp(&self) -> Result<Timestamp, EventError> {
        let (capture, notification) = match self {
            Message::ConfigurationItemChange {
                item,
                notification_creation_time,
            } => (item.summary.capture_time, *notification_creation_time),
            Message::OversizedConfigurationItemChange {
                summary,
                notification_creation_time,
            } => (summary.capture_time, *notification_creation_time),
            Message::Scheduled {
                notification_creation_time,
                ..
            } => (None, *notification_creation_time),
        };
        capture.or(notification).ok_or_else(|| {
            EventError::Malformed(
                "no configurationItemCaptureTime or notificationCreationTime to order the evaluation by"
                    .into(),
            )
        })
    }

    fn from_invoking_event(invoking: &Value) -> Result<Message, EventError> {
        let notification_creation_time = timestamp_at(invoking, "notificationCreationTime");
        match string_at(invoking, "messageType") {
            Some("ConfigurationItemChangeNotification") => {
                let item = invoking
                    .get("configurationItem")
                    .filter(|item| item.is_object())
                    .ok_or_else(|| {
                        EventError::Malformed(
                            "ConfigurationItemChangeNotification without a configurationItem object".into(),
                        )
                    })?;
                Ok(Message::ConfigurationItemChange {
                    item: ConfigurationItem::from_value(item)?,
                    notification_creation_time,
                })
            }
            Some("OversizedConfigurationItemChangeNotification") => {
                let summary = invoking
                    .get("configurationItemSummary")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| {
                        EventError::Malformed(
                            "OversizedConfigurationItemChangeNotification without a configurationItemSummary"
                                .into(),
                        )
                    })?;
                Ok(Message::OversizedConfigurationItemChange {
                    summary: ItemSummary::from_value(summary, "configurationItemSummary")?,
                    notification_creation_time,
                })
            }
            Some("ScheduledNotification") => Ok(Message::Scheduled {
                aws_account_id: string_at(invoking, "awsAccountId").map(str::to_string),
                notification_creation_time,
            }),
            Some(other) => Err(EventError::Malformed(format!(
                "messageType {:?} is not one this rule handles",
                shorten(other, 60)
            ))),
            None => Err(EventError::Malformed("invokingEvent has no messageType".into())),
        }
    }
}

fn identity(value: &Value, what: &str) -> Result<(String, String), EventError> {
    let resource_type = string_at(value, "resourceType")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EventError::Malformed(format!("{what} has no resourceType")))?;
    let resource_id = string_at(value, "resourceId")
        .or_else(|| string_at(value, "resourceName"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EventError::Malformed(format!("{what} has no resourceId")))?;
    Ok((resource_type.to_string(), resource_id.to_string()))
}

impl ConfigurationItem {
    /// Reads a configuration item as delivered in an event or returned by GetResourceConfigHistory
    /// (whose items the caller converts to this JSON shape).
    pub fn from_value(item: &Value) -> Result<ConfigurationItem, EventError> {
        Ok(ConfigurationItem {
            summary: ItemSummary::from_value(item, "configurationItem")?,
            raw: item.clone(),
        })
    }

    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The facts for the verdict. `runtime_update_mode` is not in the item; the caller supplies it.
    pub fn content(&self, runtime_update_mode: Observed<crate::verdict::UpdateMode>) -> ItemContent {
        let summary = &self.summary;
        if summary.resource_type != LAMBDA_FUNCTION {
            return ItemContent::OutOfScope;
        }
        if summary.status.is_deleted() {
            return ItemContent::Deleted;
        }
        let Some(configuration) = self.raw.get("configuration").filter(|c| c.is_object()) else {
            return ItemContent::Unreadable(format!(
                "Configuration item of {} (status {:?}) carries no configuration: cannot judge it.",
                shorten(&summary.resource_id, 64),
                summary.status
            ));
        };
        let package_type = match string_at(configuration, "packageType") {
            Some("Image") => PackageType::Image,
            _ => PackageType::Zip,
        };
        ItemContent::Function(FunctionSnapshot {
            name: summary.resource_id.clone(),
            package_type,
            runtime: string_at(configuration, "runtime").map(str::to_string),
            last_modified: string_at(configuration, "lastModified").and_then(utc_day_of_timestamp),
            tags: tags_of(&self.raw),
            runtime_update_mode,
        })
    }
}

/// Tags as `{key: value}` at the top level of the item (Lambda's shape), or the
/// `supplementaryConfiguration.Tags` list/map some items carry. Non-string values are skipped.
fn tags_of(item: &Value) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let mut read = |value: &Value| match value {
        Value::Object(map) => {
            for (key, value) in map {
                if let Some(value) = value.as_str() {
                    tags.insert(key.clone(), value.to_string());
                }
            }
        }
        Value::Array(list) => {
            for pair in list {
                let key = string_at(pair, "key").or_else(|| string_at(pair, "Key"));
                let value = string_at(pair, "value").or_else(|| string_at(pair, "Value"));
                if let (Some(key), Some(value)) = (key, value) {
                    tags.insert(key.to_string(), value.to_string());
                }
            }
        }
        _ => {}
    };
    if let Some(supplementary) = item.pointer("/supplementaryConfiguration/Tags") {
        read(supplementary);
    }
    if let Some(top) = item.get("tags") {
        read(top);
    }
    tags
}
