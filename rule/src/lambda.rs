//! The rule as a Lambda: one Config invocation in, evaluations delivered with PutEvaluations, one
//! summary line out. [`handle`] is a plain async function; `main` only wires it to `lambda_runtime`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::aws::{self, AccountClients, Accounts, CallCounter};
use lifecycle::catalog::Catalog;
use lifecycle::dates::today_utc;
use lifecycle::evaluation::{Context, Evaluation, SweepChanges, sweep_changes};
use lifecycle::event::{ConfigurationItem, Invocation, ItemContent, LAMBDA_FUNCTION, Message};
use lifecycle::mode_reads::{ModeRead, plan_mode_reads};
use lifecycle::policy::{ParameterError, Policy};
use lifecycle::verdict::{Observed, catalog_is_stale};

/// How long a catalog read from SSM is reused by a warm container.
const CATALOG_TTL: Duration = Duration::from_secs(300);

/// A catalog read from SSM (or the reason it could not be used) and when it was read.
type CachedCatalog = (Instant, Result<Catalog, String>);

/// What lives as long as the Lambda container: clients, the built-in catalog, the SSM catalog cache.
pub struct Services {
    pub accounts: Accounts,
    pub builtin: Catalog,
    catalogs: Mutex<BTreeMap<String, CachedCatalog>>,
}

impl Services {
    pub fn new(accounts: Accounts, builtin: Catalog) -> Services {
        Services {
            accounts,
            builtin,
            catalogs: Mutex::new(BTreeMap::new()),
        }
    }

    /// The catalog the policy asks for: the built-in one, or the built-in one with the SSM parameter's
    /// overlay (read at most once per TTL per container). An unusable overlay is reported as an error
    /// of that parameter.
    async fn catalog(&self, policy: &Policy, calls: &CallCounter) -> Result<Catalog, ParameterError> {
        let Some(name) = &policy.catalog_ssm_parameter else {
            return Ok(self.builtin.clone());
        };
        let mut cache = self.catalogs.lock().await;
        let fresh = cache
            .get(name)
            .filter(|(read, _)| read.elapsed() < CATALOG_TTL)
            .map(|(_, c)| c.clone());
        let loaded = match fresh {
            Some(cached) => cached,
            None => {
                let read = aws::catalog_parameter(self.accounts.base(), calls, name)
                    .await
                    .map_err(|e| format!("{e:#}"))
                    .and_then(|text| self.builtin.with_overlay(&text).map_err(|e| e.to_string()));
                cache.insert(name.clone(), (Instant::now(), read.clone()));
                read
            }
        };
        loaded.map_err(|problem| ParameterError {
            parameter: "catalogSsmParameter".into(),
            problem: lifecycle::dates::shorten(&problem, 160),
        })
    }
}

/// Where the invocation ran, from the Lambda context.
#[derive(Debug, Clone)]
pub struct InvocationContext {
    pub request_id: String,
    /// The account of the rule's own Lambda (from its ARN).
    pub own_account: String,
}

/// The summary line of one invocation (also the Lambda's response payload).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub request_id: String,
    pub message_type: &'static str,
    pub account: String,
    pub rule: Option<String>,
    /// Evaluations put, by compliance type.
    pub evaluations: BTreeMap<&'static str, usize>,
    /// A sweep's functions whose evaluation Config already holds unchanged (not put).
    pub unchanged: usize,
    /// A sweep's functions not judged this time: their runtime management mode is still to be read and
    /// the sweep's read budget was spent (the next sweep reads them first; Config keeps what it holds).
    pub deferred: usize,
    pub api_calls: BTreeMap<&'static str, u32>,
    pub duration_ms: u128,
    pub catalog_updated_at: String,
    pub test_mode: bool,
}

/// The evaluations one invocation produces, gathering what it needs from AWS (the full item of an
/// oversized notification, every function for a sweep, runtime management modes).
pub struct Evaluated {
    pub invocation: Invocation,
    pub clients: AccountClients,
    pub message_type: &'static str,
    pub evaluations: Vec<Evaluation>,
    /// Functions a sweep judged the same as Config already holds them (not put again).
    pub unchanged: usize,
    /// Functions a sweep left for a later one (their runtime management mode is still to be read).
    pub deferred: usize,
    pub catalog_updated_at: String,
}

pub async fn evaluate(
    event: &Value,
    own_account: &str,
    services: &Services,
    calls: &CallCounter,
    today: jiff::civil::Date,
) -> anyhow::Result<Evaluated> {
    let invocation = Invocation::from_value(event).context("malformed Config invocation event")?;
    let account = invocation
        .account_id
        .clone()
        .context("invocation event without accountId")?;
    let policy = Policy::from_rule_parameters(invocation.rule_parameters.as_deref());
    let catalog = match &policy {
        Ok(valid) => services.catalog(valid, calls).await,
        Err(_) => Ok(services.builtin.clone()),
    };
    let (catalog, policy) = match catalog {
        Ok(catalog) => (catalog, policy),
        Err(error) => (services.builtin.clone(), Err(error)),
    };
    if let Err(error) = &policy {
        tracing::error!(account = %account, rule = ?invocation.config_rule_name, "{error}: every evaluation of this invocation is NON_COMPLIANT");
    }
    if let Ok(valid) = &policy
        && catalog_is_stale(&catalog, valid, today)
    {
        tracing::warn!(catalog_updated_at = %catalog.updated_at(), "the lifecycle catalog is older than catalogMaxAgeDays");
    }
    let judge = Context {
        policy,
        catalog: &catalog,
        today,
    };

    let clients = services.accounts.for_account(own_account, &account).await?;
    let ordering = invocation.message.ordering_timestamp()?;
    let mut deferred = 0;
    let (message_type, evaluations, unchanged) = match &invocation.message {
        Message::ConfigurationItemChange { item, .. } => {
            let mode = mode_for(&clients, calls, &judge, item, invocation.event_left_scope).await;
            (
                "ConfigurationItemChangeNotification",
                vec![judge.evaluate_item(item, invocation.event_left_scope, mode, ordering)],
                0,
            )
        }
        Message::OversizedConfigurationItemChange { summary, .. } => {
            let evaluation =
                match judge.evaluate_oversized_without_item(summary, invocation.event_left_scope, ordering) {
                    Some(evaluation) => evaluation,
                    None => {
                        let item = ConfigurationItem::from_value(
                            &aws::full_item(&clients, calls, &summary.resource_id).await?,
                        )?;
                        let mode = mode_for(&clients, calls, &judge, &item, false).await;
                        judge.evaluate_item(&item, false, mode, ordering)
                    }
                };
            (
                "OversizedConfigurationItemChangeNotification",
                vec![evaluation],
                0,
            )
        }
        Message::Scheduled { .. } => {
            let rule = invocation
                .config_rule_name
                .as_deref()
                .context("ScheduledNotification without configRuleName")?;
            let budget = services.accounts.mode_read_budget();
            let changes = sweep(&clients, calls, &judge, rule, ordering, budget).await?;
            deferred = changes.deferred;
            ("ScheduledNotification", changes.put, changes.unchanged)
        }
    };
    Ok(Evaluated {
        invocation,
        clients,
        message_type,
        evaluations,
        unchanged,
        deferred,
        catalog_updated_at: catalog.updated_at().to_string(),
    })
}

/// Handles one Config invocation event: evaluates, delivers with PutEvaluations, logs a summary.
pub async fn handle(
    event: Value,
    context: InvocationContext,
    services: &Services,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let calls = CallCounter::default();
    let evaluated = evaluate(&event, &context.own_account, services, &calls, today_utc()).await?;
    let invocation = &evaluated.invocation;
    let token = invocation
        .result_token
        .as_deref()
        .context("invocation event without resultToken")?;
    aws::put_evaluations(
        &evaluated.clients,
        &calls,
        token,
        invocation.is_test_mode(),
        &evaluated.evaluations,
    )
    .await?;
    let mut counts = BTreeMap::new();
    for evaluation in &evaluated.evaluations {
        *counts.entry(evaluation.compliance_type.as_str()).or_insert(0) += 1;
    }
    let summary = Summary {
        request_id: context.request_id,
        message_type: evaluated.message_type,
        account: evaluated.clients.account.clone(),
        rule: invocation.config_rule_name.clone(),
        evaluations: counts,
        unchanged: evaluated.unchanged,
        deferred: evaluated.deferred,
        api_calls: calls.snapshot(),
        duration_ms: started.elapsed().as_millis(),
        catalog_updated_at: evaluated.catalog_updated_at.clone(),
        test_mode: invocation.is_test_mode(),
    };
    // Flat fields, so that CloudWatch Logs Insights can filter and aggregate on each of them.
    let count = |kind: &str| summary.evaluations.get(kind).copied().unwrap_or(0);
    tracing::info!(
        message_type = summary.message_type,
        account = %summary.account,
        rule = summary.rule.as_deref().unwrap_or(""),
        compliant = count("COMPLIANT"),
        non_compliant = count("NON_COMPLIANT"),
        not_applicable = count("NOT_APPLICABLE"),
        unchanged = summary.unchanged,
        deferred = summary.deferred,
        api_calls = summary.api_calls.values().sum::<u32>(),
        api_calls_by_operation = %serde_json::to_string(&summary.api_calls).unwrap_or_default(),
        duration_ms = summary.duration_ms as u64,
        catalog_updated_at = %summary.catalog_updated_at,
        test_mode = summary.test_mode,
        "invocation done"
    );
    Ok(summary)
}

/// The runtime management mode of the item's function, when it exists and can change the verdict.
async fn mode_for(
    clients: &AccountClients,
    calls: &CallCounter,
    judge: &Context<'_>,
    item: &ConfigurationItem,
    left_scope: bool,
) -> Observed<lifecycle::verdict::UpdateMode> {
    let matters = match item.content(Observed::NotNeeded) {
        ItemContent::Function(ref snapshot) => !left_scope && judge.mode_can_change_compliance(snapshot),
        _ => false,
    };
    if !matters {
        return Observed::NotNeeded;
    }
    let function = item
        .raw()
        .pointer("/configuration/functionArn")
        .and_then(Value::as_str)
        .unwrap_or(&item.summary.resource_id)
        .to_string();
    let observed = aws::runtime_update_mode(clients, calls, &function).await;
    if let Observed::Failed(error) = &observed {
        tracing::warn!(account = %clients.account, function = %function, "runtime management mode unknown: {error}");
    }
    observed
}

/// A periodic sweep: every function of the account and region judged, and of those evaluations only
/// what differs from what Config holds (plus NOT_APPLICABLE for functions gone) — see
/// [`lifecycle::evaluation::sweep_changes`]. Runtime management modes are read within `mode_budget`
/// ([`lifecycle::mode_reads`]): first where nothing Config holds explains the function, then a daily slice
/// of the rest. When the stored results cannot be read, every evaluation is put: a dearer run, never a
/// lost verdict.
async fn sweep(
    clients: &AccountClients,
    calls: &CallCounter,
    judge: &Context<'_>,
    rule: &str,
    ordering: Timestamp,
    mode_budget: usize,
) -> anyhow::Result<SweepChanges> {
    let tag_key = match &judge.policy {
        Ok(policy) => policy.exemption_tag.as_str(),
        Err(_) => lifecycle::policy::DEFAULT_EXEMPTION_TAG,
    };
    let mut functions = aws::list_functions(clients, calls, tag_key).await?;
    let stored = match aws::stored_results(clients, calls, rule).await {
        Ok(stored) => Some(stored),
        Err(error) => {
            tracing::warn!(account = %clients.account, rule, "{error:#}: putting every evaluation, and no NOT_APPLICABLE for deleted functions this time");
            None
        }
    };
    let empty = BTreeMap::new();
    let snapshots: Vec<_> = functions.iter().map(|(snapshot, _)| snapshot).collect();
    let plan = plan_mode_reads(judge, &snapshots, stored.as_ref().unwrap_or(&empty), mode_budget);
    aws::read_modes(clients, calls, &mut functions, |i| plan[i] == ModeRead::Read).await;
    let mut evaluations = Vec::with_capacity(functions.len());
    let mut deferred = Vec::new();
    for ((mut snapshot, arn), decision) in functions.into_iter().zip(plan) {
        match decision {
            ModeRead::Deferred => {
                deferred.push(snapshot.name);
                continue;
            }
            ModeRead::Carried(mode) => snapshot.runtime_update_mode = Observed::Known(mode),
            ModeRead::Read | ModeRead::NotNeeded => {}
        }
        if let Observed::Failed(error) = &snapshot.runtime_update_mode {
            tracing::warn!(account = %clients.account, function = %arn, "runtime management mode unknown: {error}");
        }
        let (compliance, annotation) = judge.judge(&ItemContent::Function(snapshot.clone()));
        evaluations.push(Evaluation {
            compliance_resource_type: LAMBDA_FUNCTION.into(),
            compliance_resource_id: snapshot.name,
            compliance_type: compliance,
            annotation,
            ordering_timestamp: ordering,
        });
    }
    if !deferred.is_empty() {
        tracing::info!(account = %clients.account, deferred = deferred.len(), mode_budget, "functions whose runtime management mode is still to be read are judged by a later sweep (first in line)");
    }
    Ok(match stored {
        Some(stored) => sweep_changes(evaluations, &deferred, &stored, ordering),
        None => SweepChanges {
            put: evaluations,
            unchanged: 0,
            gone: 0,
            deferred: deferred.len(),
        },
    })
}

/// The account of a Lambda function ARN (arn:aws:lambda:region:ACCOUNT:function:name).
pub fn account_of_arn(arn: &str) -> anyhow::Result<String> {
    match arn.split(':').nth(4) {
        Some(account) if account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) => {
            Ok(account.to_string())
        }
        _ => bail!("cannot tell the account of function ARN {arn:?}"),
    }
}

/// The environment variable naming the role the rule assumes in member accounts.
pub const MEMBER_ROLE_VARIABLE: &str = "RULE_MEMBER_ROLE_NAME";

/// The environment variable setting the rule's pace of Lambda control-plane calls.
pub const LAMBDA_PACE_VARIABLE: &str = "RULE_LAMBDA_CALLS_PER_SECOND";
/// The environment variable setting how many runtime management modes a sweep reads at most.
pub const MODE_READS_VARIABLE: &str = "RULE_MODE_READS_PER_SWEEP";

/// The Lambda's limits on Lambda's control plane from its environment (unset or empty: the defaults).
/// Anything but a whole number is an init error naming the variable.
pub fn lambda_limits(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<aws::LambdaLimits> {
    let whole = |name: &str, default: &str| -> anyhow::Result<u32> {
        let value = get(name);
        let text = value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(default);
        text.parse::<u32>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .with_context(|| format!("{name}={text:?} is not a whole number"))
    };
    let calls_per_second =
        std::num::NonZeroU32::new(whole(LAMBDA_PACE_VARIABLE, aws::DEFAULT_LAMBDA_CALLS_PER_SECOND)?)
            .with_context(|| format!("{LAMBDA_PACE_VARIABLE} must be 1 or more"))?;
    let mode_reads_per_sweep = whole(MODE_READS_VARIABLE, aws::DEFAULT_MODE_READS_PER_SWEEP)?;
    Ok(aws::LambdaLimits {
        calls_per_second,
        mode_reads_per_sweep: usize::try_from(mode_reads_per_sweep)?,
    })
}

/// What the rule's Lambda reads from its environment (`cdk/contracts/environment.json`), besides
/// what Lambda itself sets.
pub const ENVIRONMENT: [awsbase::EnvVar; 4] = [
    awsbase::EnvVar {
        name: MEMBER_ROLE_VARIABLE,
        required: false,
        default: None,
        meaning: "the role name assumed in member accounts (arn:aws:iam::<account>:role/<name>); set it in organization mode",
    },
    awsbase::EnvVar {
        name: LAMBDA_PACE_VARIABLE,
        required: false,
        default: Some(aws::DEFAULT_LAMBDA_CALLS_PER_SECOND),
        meaning: "the rule's own limit on Lambda control-plane calls a second in each account and Region (AWS allows 15 for all callers together)",
    },
    awsbase::EnvVar {
        name: MODE_READS_VARIABLE,
        required: false,
        default: Some(aws::DEFAULT_MODE_READS_PER_SWEEP),
        meaning: "runtime management modes (GetRuntimeManagementConfig) a periodic sweep reads at most: functions Config holds no explained result for first, then a daily slice of the rest; 0 reads none and defers what needs a read",
    },
    awsbase::EnvVar {
        name: "RUST_LOG",
        required: false,
        default: Some("info"),
        meaning: "log level of the JSON logs",
    },
];

/// The rule's own kinds of failed invocation (see `awsbase::serve_lambda`): an event that is not a
/// Config invocation, or one whose account id is refused before it reaches STS.
pub fn error_kind(error: &anyhow::Error) -> Option<&'static str> {
    if error
        .chain()
        .any(|cause| cause.is::<lifecycle::event::EventError>())
    {
        return Some("InvalidEvent");
    }
    if error
        .chain()
        .any(|cause| cause.is::<crate::aws::UntrustedAccount>())
    {
        return Some("UntrustedAccount");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_limits_from_the_environment() {
        let limits = lambda_limits(|_| None).expect("defaults");
        assert_eq!(
            (limits.calls_per_second.get(), limits.mode_reads_per_sweep),
            (10, 750)
        );
        let set = |pace: &'static str, reads: &'static str| {
            lambda_limits(move |name| match name {
                LAMBDA_PACE_VARIABLE => Some(pace.to_string()),
                MODE_READS_VARIABLE => Some(reads.to_string()),
                _ => None,
            })
        };
        let limits = set(" 3 ", "0").expect("valid");
        assert_eq!(
            (limits.calls_per_second.get(), limits.mode_reads_per_sweep),
            (3, 0)
        );
        assert_eq!(
            set("", "").expect("empty is the default"),
            lambda_limits(|_| None).expect("defaults")
        );
        for (pace, reads, named) in [
            ("0", "1", LAMBDA_PACE_VARIABLE),
            ("+5", "1", LAMBDA_PACE_VARIABLE),
            ("1.5", "1", LAMBDA_PACE_VARIABLE),
            ("1", "-1", MODE_READS_VARIABLE),
            ("1", "lots", MODE_READS_VARIABLE),
        ] {
            let error = set(pace, reads).expect_err("refused").to_string();
            assert!(error.contains(named), "{pace} {reads}: {error}");
        }
    }
}
