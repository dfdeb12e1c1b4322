//! The aggregator as a scheduled Lambda: settings from the environment, an event that may override
//! the rule names and the snapshot date, and a plain async handler the tests call directly.

use anyhow::{Context as _, bail};
use jiff::civil::Date;
use lifecycle::{Catalog, Policy};
use serde_json::Value;

use crate::api::{RateLimits, parse_rate};
use crate::output::Output;
use crate::run::{DEFAULT_CONCURRENCY, Request, Services, run};

/// Set by the deployment (CDK): `AGGREGATOR_CONFIG_AGGREGATOR`, `AGGREGATOR_RULES` (comma-separated),
/// `AGGREGATOR_OUTPUT` (s3://bucket/prefix), optional `AGGREGATOR_RULE_PARAMETERS` (overrides the
/// deployed rule's parameters), `AGGREGATOR_CONCURRENCY` and the rate limits
/// `AGGREGATOR_CONFIG_CALLS_PER_SECOND` / `AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND`, and the
/// enrichment's `AGGREGATOR_MEMBER_ROLE_NAME`, `AGGREGATOR_INVOCATIONS` and member-side rates.
/// [`ENVIRONMENT`] lists them for the contract.
pub const ENVIRONMENT: [awsbase::EnvVar; 12] = [
    awsbase::EnvVar {
        name: "AGGREGATOR_CONFIG_AGGREGATOR",
        required: true,
        default: None,
        meaning: "the organization's Config configuration aggregator to read",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_RULES",
        required: true,
        default: None,
        meaning: "comma-separated rule names as deployed (organization rules match their member copies)",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_OUTPUT",
        required: true,
        default: None,
        meaning: "s3://bucket/prefix the snapshots go under (evaluations/dt=YYYY-MM-DD/)",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_RULE_PARAMETERS",
        required: false,
        default: None,
        meaning: "the rule parameters JSON, overriding the deployed rule's (read from Config otherwise)",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_CONCURRENCY",
        required: false,
        default: Some("8"),
        meaning: "inventory shards (a region × a batch of up to ~240 accounts) gathered at once, 1 to 64",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_CONFIG_CALLS_PER_SECOND",
        required: false,
        default: Some("10"),
        meaning: "calls per second to Config, the SDK's retries included (token bucket; AWS publishes no quota for the aggregate reads)",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND",
        required: false,
        default: Some("2"),
        meaning: "calls per second to Organizations (token bucket; Organizations allows about 1-2 a second)",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_MEMBER_ROLE_NAME",
        required: false,
        default: None,
        meaning: "the reader role assumed in each member account for versions behind aliases, layer blockers and invocations; unset: no enrichment (the summary's enrichment note says so)",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_INVOCATIONS",
        required: false,
        default: Some("failing"),
        meaning: "rows whose 30-day invocations are read (CloudWatch GetMetricData): failing (NON_COMPLIANT or within warnDaysBefore), all, or off",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_LAMBDA_CALLS_PER_SECOND",
        required: false,
        default: Some("10"),
        meaning: "calls per second to Lambda in each member (account, Region): AWS allows 15 for every caller together",
    },
    awsbase::EnvVar {
        name: "AGGREGATOR_CLOUDWATCH_CALLS_PER_SECOND",
        required: false,
        default: Some("20"),
        meaning: "GetMetricData calls per second in each member (account, Region): AWS allows 50",
    },
    awsbase::EnvVar {
        name: "RUST_LOG",
        required: false,
        default: Some("info"),
        meaning: "log level of the JSON logs",
    },
];

/// The settings, read from [`ENVIRONMENT`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub config_aggregator: String,
    pub rules: Vec<String>,
    pub output: Output,
    /// An explicit override of the deployed rule's parameters.
    pub rule_parameters: Option<String>,
    pub concurrency: usize,
    pub rate_limits: RateLimits,
    /// The member reader role (None: no enrichment).
    pub member_role_name: Option<String>,
    pub invocations: crate::enrich::Invocations,
}

impl Settings {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
        let [
            config_aggregator,
            rules,
            output,
            rule_parameters,
            concurrency,
            config_rate,
            organizations_rate,
            member_role,
            invocations,
            lambda_rate,
            cloudwatch_rate,
            _,
        ] = ENVIRONMENT.map(|v| v.name);
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .with_context(|| format!("environment variable {name} is not set"))
        };
        let concurrency = match get(concurrency) {
            None => usize::from(DEFAULT_CONCURRENCY),
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n @ 1..=64) => n,
                _ => bail!("{concurrency} must be a whole number from 1 to 64, not {text:?}"),
            },
        };
        let rate = |name: &str, default: f64| match get(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(text) => parse_rate(&text).map_err(|e| anyhow::anyhow!("{name}: {e}")),
        };
        let rate_limits = RateLimits {
            config: rate(config_rate, crate::api::DEFAULT_CONFIG_PER_SECOND)?,
            organizations: rate(organizations_rate, crate::api::DEFAULT_ORGANIZATIONS_PER_SECOND)?,
            lambda: rate(lambda_rate, crate::api::DEFAULT_LAMBDA_PER_SECOND)?,
            cloudwatch: rate(cloudwatch_rate, crate::api::DEFAULT_CLOUDWATCH_PER_SECOND)?,
        };
        let member_role_name = match get(member_role).filter(|v| !v.trim().is_empty()) {
            Some(name) if awsbase::member::is_role_name(name.trim()) => Some(name.trim().to_string()),
            Some(name) => {
                bail!("{member_role}={name:?} is not an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)")
            }
            None => None,
        };
        let invocations = match get(invocations).filter(|v| !v.trim().is_empty()) {
            Some(text) => {
                crate::enrich::Invocations::parse(&text).map_err(|e| anyhow::anyhow!("{invocations}: {e}"))?
            }
            None => crate::enrich::Invocations::default(),
        };
        Ok(Settings {
            config_aggregator: required(config_aggregator)?,
            rules: rule_list(&required(rules)?),
            output: Output::parse(&required(output)?).context(output)?,
            rule_parameters: match get(rule_parameters).filter(|v| !v.trim().is_empty()) {
                Some(text) => {
                    Policy::from_rule_parameters(Some(&text)).context(rule_parameters)?;
                    Some(text)
                }
                None => None,
            },
            concurrency,
            rate_limits,
            member_role_name,
            invocations,
        })
    }
}

fn rule_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// What an event may change for one run: `{"rules": ["name", …], "snapshotDate": "YYYY-MM-DD",
/// "backfill": true, "replaceWorse": true}` (a snapshotDate before today needs `backfill`, as the CLI's
/// `--backfill`; `replaceWorse` is `--replace-worse`). Other fields (EventBridge's scheduled-event
/// envelope) are ignored; wrong types are errors.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub rules: Option<Vec<String>>,
    pub snapshot_date: Option<Date>,
    pub backfill: bool,
    pub replace_worse: bool,
}

fn flag(object: &serde_json::Map<String, Value>, name: &str) -> anyhow::Result<bool> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(other) => bail!(
            "event field {name} must be true or false, not {}",
            lifecycle::policy::json_kind(other)
        ),
    }
}

pub fn overrides(event: &Value) -> anyhow::Result<Overrides> {
    let object = match event {
        Value::Null => return Ok(Overrides::default()),
        Value::Object(object) => object,
        other => bail!(
            "the event must be a JSON object, not {}",
            lifecycle::policy::json_kind(other)
        ),
    };
    let rules = match object.get("rules") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let names = items
                .iter()
                .map(|item| match item.as_str().map(str::trim) {
                    Some(name) if !name.is_empty() => Ok(name.to_string()),
                    _ => bail!("event field rules must hold rule names (non-empty strings), found {item}"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            if names.is_empty() {
                bail!("event field rules is empty");
            }
            Some(names)
        }
        Some(other) => bail!(
            "event field rules must be an array of rule names, not {}",
            lifecycle::policy::json_kind(other)
        ),
    };
    let snapshot_date = match object.get("snapshotDate") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            lifecycle::dates::parse_date(text)
                .map_err(|e| anyhow::anyhow!("event field snapshotDate: {e}"))?,
        ),
        Some(other) => bail!(
            "event field snapshotDate must be a date string, not {}",
            lifecycle::policy::json_kind(other)
        ),
    };
    Ok(Overrides {
        rules,
        snapshot_date,
        backfill: flag(object, "backfill")?,
        replace_worse: flag(object, "replaceWorse")?,
    })
}

/// The request for one run from settings and overrides. `today` (UTC) is the default snapshot date
/// and the latest accepted: a snapshot of a future day would put rows where reports read facts, and
/// an earlier day is a backfill only when the event says so ([`crate::run::snapshot_date`]).
pub fn request(
    settings: &Settings,
    overrides: Overrides,
    run_id: &str,
    today: Date,
) -> anyhow::Result<Request> {
    let (snapshot_date, backfill) =
        crate::run::snapshot_date(overrides.snapshot_date, overrides.backfill, today)
            .map_err(|e| anyhow::anyhow!("event field snapshotDate: {e}"))?;
    Ok(Request {
        backfill,
        replace_worse: overrides.replace_worse,
        rules: overrides.rules.unwrap_or_else(|| settings.rules.clone()),
        output: settings.output.clone(),
        snapshot_date,
        rule_parameters: settings.rule_parameters.clone(),
        concurrency: settings.concurrency,
        rate_limits: settings.rate_limits,
        run_id: run_id.to_string(),
    })
}

/// One scheduled invocation: returns the run summary as the response.
pub async fn handle(
    event: Value,
    request_id: &str,
    settings: &Settings,
    services: &Services,
    catalog: &Catalog,
) -> anyhow::Result<Value> {
    let request = request(
        settings,
        overrides(&event)?,
        request_id,
        lifecycle::dates::today_utc(),
    )?;
    let summary = run(services, &request, catalog, &indicatif::ProgressBar::hidden()).await?;
    if !summary.publication.published {
        tracing::warn!(rows = summary.rows, gaps = summary.gaps.len(), reason = %summary.publication.reason,
            location = %summary.location, "not published: the day's existing snapshot is better");
    } else if summary.complete {
        tracing::info!(rows = summary.rows, accounts = summary.accounts, triples = summary.triples,
            location = %summary.location, duration_ms = summary.duration_ms, "snapshot published");
    } else {
        tracing::warn!(rows = summary.rows, accounts = summary.accounts, triples = summary.triples,
            gaps = summary.gaps.len(), location = %summary.location, "snapshot published with gaps");
    }
    serde_json::to_value(&summary).context("encoding the summary")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings_env(name: &str) -> Option<String> {
        let value = match name {
            "AGGREGATOR_CONFIG_AGGREGATOR" => "org",
            "AGGREGATOR_RULES" => "lambda-runtime-lifecycle, other ,",
            "AGGREGATOR_OUTPUT" => "s3://reports/lambda",
            _ => return None,
        };
        Some(value.to_string())
    }

    fn settings() -> Settings {
        Settings::from_env(settings_env).expect("settings")
    }

    #[test]
    fn settings_come_from_the_environment_and_refuse_nonsense() {
        let settings = settings();
        assert_eq!(settings.rules, vec!["lambda-runtime-lifecycle", "other"]);
        assert_eq!(settings.concurrency, usize::from(DEFAULT_CONCURRENCY));
        assert_eq!(settings.rate_limits, RateLimits::default());
        let limited = Settings::from_env(|name| match name {
            "AGGREGATOR_CONFIG_CALLS_PER_SECOND" => Some("2.5".into()),
            "AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND" => Some("1".into()),
            other => settings_env(other),
        })
        .expect("limited");
        assert_eq!(
            limited.rate_limits,
            RateLimits {
                config: 2.5,
                organizations: 1.0,
                ..RateLimits::default()
            }
        );
        let bad_rate = Settings::from_env(|name| match name {
            "AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND" => Some("0".into()),
            other => settings_env(other),
        })
        .expect_err("a zero rate");
        assert!(
            format!("{bad_rate:#}").contains("AGGREGATOR_ORGANIZATIONS_CALLS_PER_SECOND"),
            "{bad_rate:#}"
        );
        assert_eq!(
            (settings.member_role_name.clone(), settings.invocations),
            (None, crate::enrich::Invocations::Failing)
        );
        let enriched = Settings::from_env(|name| match name {
            "AGGREGATOR_MEMBER_ROLE_NAME" => Some("runtime-guard-reader".into()),
            "AGGREGATOR_INVOCATIONS" => Some("all".into()),
            "AGGREGATOR_LAMBDA_CALLS_PER_SECOND" => Some("5".into()),
            other => settings_env(other),
        })
        .expect("enriched");
        assert_eq!(
            (
                enriched.member_role_name.as_deref(),
                enriched.invocations,
                enriched.rate_limits.lambda
            ),
            (Some("runtime-guard-reader"), crate::enrich::Invocations::All, 5.0)
        );
        for (name, value) in [
            ("AGGREGATOR_MEMBER_ROLE_NAME", "arn:aws:iam::1:role/x"),
            ("AGGREGATOR_INVOCATIONS", "sometimes"),
            ("AGGREGATOR_CLOUDWATCH_CALLS_PER_SECOND", "0"),
        ] {
            let error = Settings::from_env(|n| {
                if n == name {
                    Some(value.into())
                } else {
                    settings_env(n)
                }
            })
            .expect_err("refused");
            assert!(format!("{error:#}").contains(name), "{error:#}");
        }
        let missing = Settings::from_env(|_| None).expect_err("missing");
        assert!(
            format!("{missing:#}").contains("AGGREGATOR_CONFIG_AGGREGATOR"),
            "{missing:#}"
        );
        let bad = Settings::from_env(|name| {
            Some(
                if name == "AGGREGATOR_CONCURRENCY" {
                    "0"
                } else {
                    "s3://x"
                }
                .to_string(),
            )
        })
        .expect_err("bad concurrency");
        assert!(format!("{bad:#}").contains("1 to 64"), "{bad:#}");
    }

    #[test]
    fn events_override_rules_and_date_or_say_what_is_wrong() {
        let today = jiff::civil::date(2026, 11, 23);
        let scheduled =
            json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        let plain =
            request(&settings(), overrides(&scheduled).expect("scheduled"), "r", today).expect("request");
        assert_eq!((plain.snapshot_date, plain.rules.len()), (today, 2));
        assert!(!plain.backfill && !plain.replace_worse);
        let past = overrides(&json!({"snapshotDate": "2026-11-01"})).expect("parsed");
        let error = request(&settings(), past, "r", today).expect_err("a past date without backfill");
        assert!(format!("{error:#}").contains("backfill"), "{error:#}");
        let custom = overrides(
            &json!({"rules": ["a"], "snapshotDate": "2026-11-01", "backfill": true, "replaceWorse": true}),
        )
        .expect("custom");
        let custom = request(&settings(), custom, "r", today).expect("request");
        assert_eq!(
            (custom.snapshot_date.to_string(), custom.rules.clone()),
            ("2026-11-01".to_string(), vec!["a".to_string()])
        );
        assert!(custom.backfill && custom.replace_worse);
        assert_eq!(custom.labelled_run_id(), "backfill-r");
        for (event, message) in [
            (json!([]), "JSON object"),
            (json!({"rules": "a"}), "array of rule names"),
            (json!({"rules": []}), "empty"),
            (json!({"rules": [""]}), "non-empty strings"),
            (json!({"snapshotDate": 20261123}), "date string"),
            (json!({"snapshotDate": "2026-02-30"}), "snapshotDate"),
            (json!({"backfill": "yes"}), "true or false"),
            (json!({"replaceWorse": 1}), "true or false"),
        ] {
            let error = overrides(&event).expect_err("refused");
            assert!(format!("{error:#}").contains(message), "{event}: {error:#}");
        }
        let future = overrides(&json!({"snapshotDate": "2026-11-24"})).expect("parsed");
        let error = request(&settings(), future, "r", today).expect_err("future");
        assert!(error.to_string().contains("future"), "{error}");
    }
}
