//! Rule parameters (the `ruleParameters` JSON of the Config rule): defaults and strict validation.
//!
//! Validation fails closed: an invalid value is an error naming the parameter, and the caller turns
//! that into NON_COMPLIANT for every evaluation of the invocation — never a silent default.

use std::collections::BTreeSet;
use std::fmt;

use crate::catalog::{Phase, is_runtime_identifier};
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
    /// Exemptions ending later than this many days from today are not honoured; 0 = none are.
    pub max_exemption_days: u32,
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
            max_exemption_days: 365,
            catalog_ssm_parameter: None,
            catalog_max_age_days: 120,
        }
    }
}

pub const DEFAULT_EXEMPTION_TAG: &str = "runtime-exempt-until";

/// The upper bound of every day-count parameter (100 years): larger values are typos.
const MAX_DAYS: u32 = 36_500;

/// One rule parameter: the single definition from which parsing, the JSON Schema
/// (`cdk/contracts/rule-parameters.schema.json`) and the README's table are derived.
#[derive(Debug)]
pub struct Parameter {
    /// As Config users write it.
    pub name: &'static str,
    pub kind: Kind,
    /// The default, as the string a user would write.
    pub default: &'static str,
    /// One sentence for the README and the schema.
    pub meaning: &'static str,
    set: fn(&mut Policy, Value),
}

/// What a parameter's value may be.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One of these words (case-insensitive); a word's aliases are accepted too.
    Choice(&'static [(&'static str, &'static [&'static str])]),
    /// A lifecycle phase past `supported`, by [`Phase::as_str`].
    FailPhase,
    /// A whole number of days, 0 to 36,500, in decimal digits only.
    Days,
    /// A comma-separated list of runtime identifiers.
    RuntimeList,
    /// An AWS tag key that is not reserved (`aws:`), at most 128 characters.
    TagKey,
    /// An SSM parameter name or ARN.
    SsmParameter,
}

/// A parsed value, handed to the parameter's setter.
#[derive(Debug)]
enum Value {
    Choice(&'static str),
    Phase(Phase),
    Days(u32),
    Runtimes(BTreeSet<String>),
    Text(String),
}

macro_rules! setter {
    ($variant:ident, |$policy:ident, $value:ident| $body:expr) => {
        |$policy: &mut Policy, value: Value| {
            if let Value::$variant($value) = value {
                $body
            }
        }
    };
}

/// Every rule parameter, in the order the README lists them.
pub const PARAMETERS: [Parameter; 13] = [
    Parameter {
        name: "failPhase",
        kind: Kind::FailPhase,
        default: "deprecated",
        meaning: "the lifecycle phase that makes a function NON_COMPLIANT: `deprecated`, `create-blocked` or `update-blocked`",
        set: setter!(Phase, |policy, phase| policy.fail_phase = phase),
    },
    Parameter {
        name: "failDaysBefore",
        kind: Kind::Days,
        default: "0",
        meaning: "NON_COMPLIANT already this many days before the date that starts `failPhase`",
        set: setter!(Days, |policy, days| policy.fail_days_before = days),
    },
    Parameter {
        name: "warnDaysBefore",
        kind: Kind::Days,
        default: "180",
        meaning: "within this many days before the failing date: COMPLIANT, the annotation warns with the date",
        set: setter!(Days, |policy, days| policy.warn_days_before = days),
    },
    Parameter {
        name: "allowedRuntimes",
        kind: Kind::RuntimeList,
        default: "",
        meaning: "comma list; when set, any other runtime is NON_COMPLIANT (compatible with Security Hub Lambda.2)",
        set: setter!(Runtimes, |policy, runtimes| policy.allowed_runtimes = runtimes),
    },
    Parameter {
        name: "blockedRuntimes",
        kind: Kind::RuntimeList,
        default: "",
        meaning: "comma list; always NON_COMPLIANT",
        set: setter!(Runtimes, |policy, runtimes| policy.blocked_runtimes = runtimes),
    },
    Parameter {
        name: "unknownRuntime",
        kind: Kind::Choice(&[
            ("noncompliant", &["non_compliant", "non-compliant"]),
            ("compliant", &[]),
        ]),
        default: "noncompliant",
        meaning: "a runtime absent from the catalog: `noncompliant` or `compliant`; a newer version of a known family is COMPLIANT with a note",
        set: setter!(
            Choice,
            |policy, choice| policy.unknown_runtime = if choice == "compliant" {
                UnknownRuntime::Compliant
            } else {
                UnknownRuntime::NonCompliant
            }
        ),
    },
    Parameter {
        name: "customRuntimeMaxAgeDays",
        kind: Kind::Days,
        default: "0",
        meaning: "OS-only runtimes (`provided*`): NON_COMPLIANT when the code was last modified more than N days ago (0: off)",
        set: setter!(Days, |policy, days| policy.custom_runtime_max_age_days = days),
    },
    Parameter {
        name: "imageMaxAgeDays",
        kind: Kind::Days,
        default: "0",
        meaning: "container images: 0 → NOT_APPLICABLE; N → NON_COMPLIANT when last modified more than N days ago",
        set: setter!(Days, |policy, days| policy.image_max_age_days = days),
    },
    Parameter {
        name: "runtimeUpdateMode",
        kind: Kind::Choice(&[("any", &[]), ("not-manual", &[]), ("auto", &[])]),
        default: "not-manual",
        meaning: "required runtime management mode: `any`, `not-manual` or `auto` (Manual pins a runtime version that gets no patches)",
        set: setter!(
            Choice,
            |policy, choice| policy.runtime_update_mode = match choice {
                "any" => UpdateModeRequirement::Any,
                "auto" => UpdateModeRequirement::Auto,
                _ => UpdateModeRequirement::NotManual,
            }
        ),
    },
    Parameter {
        name: "exemptionTag",
        kind: Kind::TagKey,
        default: DEFAULT_EXEMPTION_TAG,
        meaning: "function tag whose value `YYYY-MM-DD` exempts the function until that date; a malformed value is NON_COMPLIANT",
        set: setter!(Text, |policy, tag| policy.exemption_tag = tag),
    },
    Parameter {
        name: "maxExemptionDays",
        kind: Kind::Days,
        default: "365",
        meaning: "an exemption ending more than N days from today is not honoured (NON_COMPLIANT, with the reason): whoever can tag a function cannot exempt it forever; 0: no exemptions",
        set: setter!(Days, |policy, days| policy.max_exemption_days = days),
    },
    Parameter {
        name: "catalogSsmParameter",
        kind: Kind::SsmParameter,
        default: "",
        meaning: "SSM parameter holding a catalog overlay (same JSON schema) — new dates without a redeploy",
        set: setter!(Text, |policy, name| policy.catalog_ssm_parameter = Some(name)),
    },
    Parameter {
        name: "catalogMaxAgeDays",
        kind: Kind::Days,
        default: "120",
        meaning: "when the catalog's `updated_at` is older, annotations add \"data as of DATE\" and a warning is logged",
        set: setter!(Days, |policy, days| policy.catalog_max_age_days = days),
    },
];

/// Every parameter name, as Config users write them.
pub fn parameter_names() -> impl Iterator<Item = &'static str> {
    PARAMETERS.iter().map(|p| p.name)
}

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
            let Some(parameter) = PARAMETERS.iter().find(|p| p.name == name) else {
                return Err(unknown_parameter(name));
            };
            let error = |problem: String| ParameterError {
                parameter: parameter.name.to_string(),
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
                continue;
            }
            (parameter.set)(&mut policy, parameter.kind.parse(text).map_err(error)?);
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

/// The phases `failPhase` may name: every phase past `supported`.
fn fail_phases() -> impl Iterator<Item = Phase> {
    Phase::ALL.into_iter().filter(|phase| *phase != Phase::Supported)
}

impl Kind {
    fn parse(self, text: String) -> Result<Value, String> {
        let lower = text.to_ascii_lowercase();
        match self {
            Kind::Choice(choices) => choices
                .iter()
                .find(|(word, aliases)| *word == lower || aliases.contains(&lower.as_str()))
                .map(|(word, _)| Value::Choice(word))
                .ok_or_else(|| {
                    let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                    format!("{:?} is not one of {}", shorten(&text, 40), words.join(", "))
                }),
            Kind::FailPhase => fail_phases()
                .find(|phase| phase.as_str() == lower)
                .map(Value::Phase)
                .ok_or_else(|| {
                    let words: Vec<&str> = fail_phases().map(Phase::as_str).collect();
                    format!("{:?} is not one of {}", shorten(&text, 40), words.join(", "))
                }),
            Kind::Days => parse_days(&text).map(Value::Days),
            Kind::RuntimeList => parse_runtime_list(&text).map(Value::Runtimes),
            Kind::TagKey => {
                // AWS tag keys: 1-128 Unicode characters, not starting with the reserved aws: prefix.
                if text.chars().count() > 128 {
                    return Err("a tag key has at most 128 characters".into());
                }
                if lower.starts_with("aws:") {
                    return Err("tag keys starting with aws: are reserved by AWS".into());
                }
                Ok(Value::Text(text))
            }
            Kind::SsmParameter => {
                if !is_ssm_parameter_reference(&text) {
                    return Err(format!(
                        "{:?} is not an SSM parameter name or ARN",
                        shorten(&text, 60)
                    ));
                }
                Ok(Value::Text(text))
            }
        }
    }

    /// The JSON Schema keywords that constrain a value of this kind (besides `type: string`). The
    /// empty string is always allowed: it means the default.
    fn schema(self) -> serde_json::Map<String, serde_json::Value> {
        let mut keywords = serde_json::Map::new();
        let words: Option<Vec<&str>> = match self {
            Kind::Choice(choices) => Some(choices.iter().map(|(word, _)| *word).collect()),
            Kind::FailPhase => Some(fail_phases().map(Phase::as_str).collect()),
            _ => None,
        };
        let pattern = match self {
            Kind::Choice(_) | Kind::FailPhase => None,
            Kind::Days => Some(r"^[0-9]{0,5}$"),
            Kind::RuntimeList => Some(r"^\s*([a-z][a-z0-9.-]{0,63}\s*)?(,\s*([a-z][a-z0-9.-]{0,63}\s*)?)*$"),
            Kind::TagKey => Some(r"^(?![aA][wW][sS]:).{0,128}$"),
            Kind::SsmParameter => {
                Some(r"^((arn:[a-z-]+:ssm:[a-z0-9-]*:[0-9]*:parameter)?/?[a-zA-Z0-9_./-]{1,2048})?$")
            }
        };
        if let Some(words) = words {
            let mut values: Vec<serde_json::Value> = vec!["".into()];
            values.extend(words.into_iter().map(serde_json::Value::from));
            keywords.insert("enum".into(), values.into());
        }
        if let Some(pattern) = pattern {
            keywords.insert("pattern".into(), pattern.into());
        }
        if matches!(self, Kind::Days) {
            keywords.insert("maxLength".into(), 5.into());
        }
        keywords
    }
}

/// The JSON Schema of the rule's `InputParameters` (`cdk/contracts/rule-parameters.schema.json`).
pub fn json_schema() -> serde_json::Value {
    let properties: serde_json::Map<String, serde_json::Value> = PARAMETERS
        .iter()
        .map(|parameter| {
            let mut property = serde_json::Map::new();
            property.insert("type".into(), "string".into());
            property.insert("default".into(), parameter.default.into());
            property.insert("description".into(), parameter.meaning.into());
            property.extend(parameter.kind.schema());
            (parameter.name.to_string(), property.into())
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Rule parameters (InputParameters) of the Lambda runtime lifecycle rule",
        "description": "Generated by `cargo xtask codegen` from rule/lifecycle/src/policy.rs. Every value is a string; an empty string means the default. Day counts are at most 36500.",
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    })
}

/// The README's parameter table (Markdown), from the same definitions.
pub fn markdown_table() -> String {
    let mut table = String::from("| parameter | default | meaning |\n|---|---|---|\n");
    for parameter in &PARAMETERS {
        let default = if parameter.default.is_empty() {
            "empty".to_string()
        } else {
            format!("`{}`", parameter.default)
        };
        table += &format!("| `{}` | {default} | {} |\n", parameter.name, parameter.meaning);
    }
    table
}

fn unknown_parameter(name: &str) -> ParameterError {
    let hint = parameter_names()
        .find(|known| known.eq_ignore_ascii_case(name))
        .map(|known| format!(" (did you mean {known}?)"))
        .unwrap_or_default();
    ParameterError {
        parameter: shorten(name, 64),
        problem: format!(
            "unknown parameter{hint}; known: {}",
            parameter_names().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The JSON type of a value, in words, for messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Decimal digits only (no sign, no spaces inside), 0 to [`MAX_DAYS`].
fn parse_days(text: &str) -> Result<u32, String> {
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u32>() {
        Ok(days) if digits_only && days <= MAX_DAYS => Ok(days),
        Ok(_) if digits_only => Err(format!("{text} is more than {MAX_DAYS} days")),
        _ => Err(format!(
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
