//! Rule parameters (the `ruleParameters` JSON of the Config rule): defaults and strict validation.
//!
//! Validation fails closed: an invalid value is an error naming the parameter, and the caller turns
//! that into NON_COMPLIANT for every evaluation of the invocation — never a silent default.

use std::collections::BTreeSet;
use std::fmt;

use crate::catalog::Phase;
use crate::dates::shorten;

/// The runtime management mode a function must use (`runtimeUpdateMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateModeRequirement {
    /// No check.
    Any,
    /// `Auto` or `FunctionUpdate`: anything but a pinned (Manual) runtime version.
    NotManual,
    /// Only `Auto`.
    Auto,
}

/// What to do with a runtime identifier absent from the catalog (`unknownRuntime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRuntime {
    NonCompliant,
    Compliant,
}

/// The validated rule parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub fail_phase: Phase,
    pub fail_days_before: u32,
    pub warn_days_before: u32,
    pub allowed_runtimes: BTreeSet<String>,
    pub blocked_runtimes: BTreeSet<String>,
    pub unknown_runtime: UnknownRuntime,
    /// 0 = off.
    pub custom_runtime_max_age_days: u32,
    /// 0 = container images are NOT_APPLICABLE.
    pub image_max_age_days: u32,
    pub runtime_update_mode: UpdateModeRequirement,
    pub exemption_tag: String,
    pub catalog_ssm_parameter: Option<String>,
    /// 0 = never flag the catalog as old.
    pub catalog_max_age_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            fail_phase: Phase::Deprecated,
            fail_days_before: 0,
            warn_days_before: 180,
            allowed_runtimes: BTreeSet::new(),
            blocked_runtimes: BTreeSet::new(),
            unknown_runtime: UnknownRuntime::NonCompliant,
            custom_runtime_max_age_days: 0,
            image_max_age_days: 0,
            runtime_update_mode: UpdateModeRequirement::NotManual,
            exemption_tag: DEFAULT_EXEMPTION_TAG.to_string(),
            catalog_ssm_parameter: None,
            catalog_max_age_days: 120,
        }
    }
}

pub const DEFAULT_EXEMPTION_TAG: &str = "runtime-exempt-until";

/// Every parameter name, as Config users write them.
pub const PARAMETER_NAMES: [&str; 12] = [
    "failPhase",
    "failDaysBefore",
    "warnDaysBefore",
    "allowedRuntimes",
    "blockedRuntimes",
    "unknownRuntime",
    "customRuntimeMaxAgeDays",
    "imageMaxAgeDays",
    "runtimeUpdateMode",
    "exemptionTag",
    "catalogSsmParameter",
    "catalogMaxAgeDays",
];

/// The upper bound of every day-count parameter (100 years): larger values are typos.
const MAX_DAYS: u32 = 36_500;

/// A parameter that cannot be used. Display names the parameter, for the annotation and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParameterError {
    /// The parameter's name, or `ruleParameters` when the document itself is unreadable.
    pub parameter: String,
    pub problem: String,
}

impl fmt::Display for ParameterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid rule parameter {}: {}", self.parameter, self.problem)
    }
}

/// Whether `text` looks like a Lambda runtime identifier (not whether it exists).
pub fn is_runtime_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && text.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

impl Policy {
    /// Parses the `ruleParameters` string of the invocation event. `None` or an empty string means
    /// every default. Values are strings as Config delivers them; integers written as JSON numbers
    /// (possible through CloudFormation's InputParameters) are accepted for day counts.
    pub fn from_rule_parameters(text: Option<&str>) -> Result<Policy, ParameterError> {
        let text = text.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Ok(Policy::default());
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ParameterError {
            parameter: "ruleParameters".into(),
            problem: format!("not a JSON object ({e})"),
        })?;
        match value {
            serde_json::Value::Object(map) => Policy::from_map(&map),
            serde_json::Value::Null => Ok(Policy::default()),
            _ => Err(ParameterError {
                parameter: "ruleParameters".into(),
                problem: "not a JSON object".into(),
            }),
        }
    }

    /// Validates a parameter map (keys as Config users write them).
    pub fn from_map(map: &serde_json::Map<String, serde_json::Value>) -> Result<Policy, ParameterError> {
        let mut policy = Policy::default();
        for (name, value) in map {
            let error = |problem: String| ParameterError {
                parameter: shorten(name, 64),
                problem,
            };
            let text = match value {
                serde_json::Value::String(s) => s.trim().to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Null => String::new(),
                other => {
                    return Err(error(format!("expected a string, got {}", json_kind(other))));
                }
            };
            // An empty value means "use the default": CloudFormation templates often pass "".
            if text.is_empty() {
                if !PARAMETER_NAMES.contains(&name.as_str()) {
                    return Err(unknown_parameter(name));
                }
                continue;
            }
            match name.as_str() {
                "failPhase" => {
                    policy.fail_phase = match text.to_ascii_lowercase().as_str() {
                        "deprecated" => Phase::Deprecated,
                        "create-blocked" => Phase::CreateBlocked,
                        "update-blocked" => Phase::UpdateBlocked,
                        _ => {
                            return Err(error(format!(
                                "{:?} is not one of deprecated, create-blocked, update-blocked",
                                shorten(&text, 40)
                            )));
                        }
                    }
                }
                "failDaysBefore" => policy.fail_days_before = parse_days(&text).map_err(error)?,
                "warnDaysBefore" => policy.warn_days_before = parse_days(&text).map_err(error)?,
                "allowedRuntimes" => policy.allowed_runtimes = parse_runtime_list(&text).map_err(error)?,
                "blockedRuntimes" => policy.blocked_runtimes = parse_runtime_list(&text).map_err(error)?,
                "unknownRuntime" => {
                    policy.unknown_runtime = match text.to_ascii_lowercase().as_str() {
                        "noncompliant" | "non_compliant" | "non-compliant" => UnknownRuntime::NonCompliant,
                        "compliant" => UnknownRuntime::Compliant,
                        _ => {
                            return Err(error(format!(
                                "{:?} is not one of noncompliant, compliant",
                                shorten(&text, 40)
                            )));
                        }
                    }
                }
                "customRuntimeMaxAgeDays" => {
                    policy.custom_runtime_max_age_days = parse_days(&text).map_err(error)?;
                }
                "imageMaxAgeDays" => policy.image_max_age_days = parse_days(&text).map_err(error)?,
                "runtimeUpdateMode" => {
                    policy.runtime_update_mode = match text.to_ascii_lowercase().as_str() {
                        "any" => UpdateModeRequirement::Any,
                        "not-manual" => UpdateModeRequirement::NotManual,
                        "auto" => UpdateModeRequirement::Auto,
                        _ => {
                            return Err(error(format!(
                                "{:?} is not one of any, not-manual, auto",
                                shorten(&text, 40)
                            )));
                        }
                    }
                }
                "exemptionTag" => {
                    // AWS tag keys: 1-128 Unicode characters, not starting with the reserved aws: prefix.
                    if text.chars().count() > 128 {
                        return Err(error("a tag key has at most 128 characters".into()));
                    }
                    if text.to_ascii_lowercase().starts_with("aws:") {
                        return Err(error("tag keys starting with aws: are reserved by AWS".into()));
                    }
                    policy.exemption_tag = text;
                }
                "catalogSsmParameter" => {
                    if !is_ssm_parameter_reference(&text) {
                        return Err(error(format!(
                            "{:?} is not an SSM parameter name or ARN",
                            shorten(&text, 60)
                        )));
                    }
                    policy.catalog_ssm_parameter = Some(text);
                }
                "catalogMaxAgeDays" => policy.catalog_max_age_days = parse_days(&text).map_err(error)?,
                _ => return Err(unknown_parameter(name)),
            }
        }
        if let Some(both) = policy
            .allowed_runtimes
            .intersection(&policy.blocked_runtimes)
            .next()
        {
            return Err(ParameterError {
                parameter: "blockedRuntimes".into(),
                problem: format!("{both} is also in allowedRuntimes"),
            });
        }
        Ok(policy)
    }
}

fn unknown_parameter(name: &str) -> ParameterError {
    let hint = PARAMETER_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .map(|known| format!(" (did you mean {known}?)"))
        .unwrap_or_default();
    ParameterError {
        parameter: shorten(name, 64),
        problem: format!("unknown parameter{hint}; known: {}", PARAMETER_NAMES.join(", ")),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn parse_days(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(days) if days <= MAX_DAYS => Ok(days),
        Ok(_) => Err(format!("{text} is more than {MAX_DAYS} days")),
        Err(_) => Err(format!(
            "{:?} is not a whole number of days (0 to {MAX_DAYS})",
            shorten(text, 40)
        )),
    }
}

fn parse_runtime_list(text: &str) -> Result<BTreeSet<String>, String> {
    let mut runtimes = BTreeSet::new();
    for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        if !is_runtime_identifier(item) {
            return Err(format!("{:?} is not a runtime identifier", shorten(item, 40)));
        }
        runtimes.insert(item.to_string());
    }
    Ok(runtimes)
}

fn is_ssm_parameter_reference(text: &str) -> bool {
    // A name (up to 2048 characters of a-zA-Z0-9_.-/) or the parameter's ARN.
    let name = match text.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [_partition, "ssm", _region, _account, resource] => {
                    match resource.strip_prefix("parameter") {
                        Some(name) if name.starts_with('/') => name,
                        _ => return false,
                    }
                }
                _ => return false,
            }
        }
        None => text,
    };
    !name.is_empty()
        && name.len() <= 2048
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Policy, ParameterError> {
        Policy::from_rule_parameters(Some(json))
    }

    fn parameter_of(json: &str) -> String {
        parse(json).expect_err("should be invalid").parameter
    }

    #[test]
    fn absent_or_empty_parameters_are_the_defaults() {
        let defaults = Policy::default();
        assert_eq!(Policy::from_rule_parameters(None), Ok(defaults.clone()));
        assert_eq!(parse(""), Ok(defaults.clone()));
        assert_eq!(parse("  "), Ok(defaults.clone()));
        assert_eq!(parse("{}"), Ok(defaults.clone()));
        assert_eq!(parse("null"), Ok(defaults.clone()));
        assert_eq!(
            parse(r#"{"failPhase": "", "warnDaysBefore": " "}"#),
            Ok(defaults.clone())
        );
        assert_eq!(defaults.fail_phase, Phase::Deprecated);
        assert_eq!(defaults.fail_days_before, 0);
        assert_eq!(defaults.warn_days_before, 180);
        assert!(defaults.allowed_runtimes.is_empty() && defaults.blocked_runtimes.is_empty());
        assert_eq!(defaults.unknown_runtime, UnknownRuntime::NonCompliant);
        assert_eq!(defaults.custom_runtime_max_age_days, 0);
        assert_eq!(defaults.image_max_age_days, 0);
        assert_eq!(defaults.runtime_update_mode, UpdateModeRequirement::NotManual);
        assert_eq!(defaults.exemption_tag, "runtime-exempt-until");
        assert_eq!(defaults.catalog_ssm_parameter, None);
        assert_eq!(defaults.catalog_max_age_days, 120);
    }

    #[test]
    fn every_parameter_is_read() {
        let policy = parse(
            r#"{"failPhase":"update-blocked","failDaysBefore":"30","warnDaysBefore":"90",
                "allowedRuntimes":"python3.12, python3.13,,nodejs22.x","blockedRuntimes":"python3.8",
                "unknownRuntime":"compliant","customRuntimeMaxAgeDays":"365","imageMaxAgeDays":"180",
                "runtimeUpdateMode":"auto","exemptionTag":"lifecycle:exempt-until",
                "catalogSsmParameter":"/runtime-guard/catalog","catalogMaxAgeDays":"60"}"#,
        )
        .expect("valid");
        assert_eq!(policy.fail_phase, Phase::UpdateBlocked);
        assert_eq!(policy.fail_days_before, 30);
        assert_eq!(policy.warn_days_before, 90);
        assert_eq!(
            policy
                .allowed_runtimes
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["nodejs22.x", "python3.12", "python3.13"]
        );
        assert_eq!(policy.blocked_runtimes.len(), 1);
        assert_eq!(policy.unknown_runtime, UnknownRuntime::Compliant);
        assert_eq!(policy.custom_runtime_max_age_days, 365);
        assert_eq!(policy.image_max_age_days, 180);
        assert_eq!(policy.runtime_update_mode, UpdateModeRequirement::Auto);
        assert_eq!(policy.exemption_tag, "lifecycle:exempt-until");
        assert_eq!(
            policy.catalog_ssm_parameter.as_deref(),
            Some("/runtime-guard/catalog")
        );
        assert_eq!(policy.catalog_max_age_days, 60);
    }

    #[test]
    fn enumerations_accept_each_value() {
        for (text, phase) in [
            ("deprecated", Phase::Deprecated),
            ("create-blocked", Phase::CreateBlocked),
            ("Update-Blocked", Phase::UpdateBlocked),
        ] {
            assert_eq!(
                parse(&format!(r#"{{"failPhase":"{text}"}}"#)).map(|p| p.fail_phase),
                Ok(phase)
            );
        }
        for (text, mode) in [
            ("any", UpdateModeRequirement::Any),
            ("not-manual", UpdateModeRequirement::NotManual),
            ("AUTO", UpdateModeRequirement::Auto),
        ] {
            assert_eq!(
                parse(&format!(r#"{{"runtimeUpdateMode":"{text}"}}"#)).map(|p| p.runtime_update_mode),
                Ok(mode)
            );
        }
        assert_eq!(
            parse(r#"{"unknownRuntime":"NON_COMPLIANT"}"#).map(|p| p.unknown_runtime),
            Ok(UnknownRuntime::NonCompliant)
        );
        assert_eq!(
            parse(r#"{"catalogSsmParameter":"arn:aws:ssm:eu-west-1:111122223333:parameter/guard/catalog"}"#)
                .map(|p| p.catalog_ssm_parameter.is_some()),
            Ok(true)
        );
        assert_eq!(
            parse(r#"{"failDaysBefore": 14}"#).map(|p| p.fail_days_before),
            Ok(14)
        );
    }

    #[test]
    fn invalid_values_name_their_parameter() {
        let cases = [
            (r#"{"failPhase":"retired"}"#, "failPhase"),
            (r#"{"failDaysBefore":"-1"}"#, "failDaysBefore"),
            (r#"{"failDaysBefore":"3.5"}"#, "failDaysBefore"),
            (r#"{"warnDaysBefore":"a lot"}"#, "warnDaysBefore"),
            (r#"{"warnDaysBefore":"36501"}"#, "warnDaysBefore"),
            (r#"{"warnDaysBefore":"99999999999999999999"}"#, "warnDaysBefore"),
            (
                r#"{"allowedRuntimes":"python3.12;python3.13"}"#,
                "allowedRuntimes",
            ),
            (r#"{"blockedRuntimes":"Python3.8"}"#, "blockedRuntimes"),
            (
                r#"{"allowedRuntimes":"python3.8","blockedRuntimes":"python3.8"}"#,
                "blockedRuntimes",
            ),
            (r#"{"unknownRuntime":"ignore"}"#, "unknownRuntime"),
            (r#"{"customRuntimeMaxAgeDays":"1y"}"#, "customRuntimeMaxAgeDays"),
            (r#"{"imageMaxAgeDays":"-30"}"#, "imageMaxAgeDays"),
            (r#"{"runtimeUpdateMode":"manual"}"#, "runtimeUpdateMode"),
            (r#"{"exemptionTag":"aws:exempt"}"#, "exemptionTag"),
            (r#"{"catalogSsmParameter":"not a name!"}"#, "catalogSsmParameter"),
            (
                r#"{"catalogSsmParameter":"arn:aws:s3:::bucket/key"}"#,
                "catalogSsmParameter",
            ),
            (r#"{"catalogMaxAgeDays":"soon"}"#, "catalogMaxAgeDays"),
            (r#"{"failphase":"deprecated"}"#, "failphase"),
            (r#"{"failDaysBefore":true}"#, "failDaysBefore"),
            (r#"{"allowedRuntimes":["python3.12"]}"#, "allowedRuntimes"),
            (r#"["failPhase"]"#, "ruleParameters"),
            (r#"{"failPhase":"#, "ruleParameters"),
            ("\"deprecated\"", "ruleParameters"),
        ];
        for (json, parameter) in cases {
            assert_eq!(parameter_of(json), parameter, "{json}");
        }
        let exemption_too_long = format!(r#"{{"exemptionTag":"{}"}}"#, "k".repeat(129));
        assert_eq!(parameter_of(&exemption_too_long), "exemptionTag");
    }

    #[test]
    fn messages_are_helpful() {
        let typo = parse(r#"{"failphase":"deprecated"}"#).expect_err("typo");
        assert!(typo.to_string().contains("did you mean failPhase?"), "{typo}");
        let phase = parse(r#"{"failPhase":"retired"}"#).expect_err("bad phase");
        assert_eq!(
            phase.to_string(),
            r#"invalid rule parameter failPhase: "retired" is not one of deprecated, create-blocked, update-blocked"#
        );
    }

    #[test]
    fn runtime_identifiers() {
        for ok in [
            "python3.12",
            "nodejs4.3-edge",
            "provided.al2023",
            "java8.al2",
            "go1.x",
            "nodejs",
        ] {
            assert!(is_runtime_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "3.12",
            "Python3.12",
            "python 3.12",
            "python3.12;",
            &"a".repeat(65),
        ] {
            assert!(!is_runtime_identifier(bad), "{bad}");
        }
    }
}
