//! The AWS side of the rule: SDK clients (per account, through an assumed role in organization mode)
//! and the calls the rule makes, each counted for the invocation summary. The verdict never sees any
//! of this: these functions only gather facts and deliver evaluations.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_config::SdkConfig;
use aws_sdk_config::types::{ComplianceType as SdkCompliance, ResourceType};
use aws_smithy_types::DateTime;
use awsbase::{AwsResultExt, error_text};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use lifecycle::evaluation::{Evaluation, StoredResult};
use lifecycle::event::LAMBDA_FUNCTION;
use lifecycle::verdict::{FunctionSnapshot, Observed, PackageType, UpdateMode};

/// How many GetRuntimeManagementConfig look-ups may be in flight at once (the rate limit paces them).
const SWEEP_CONCURRENCY: usize = 16;
/// The rule's own pace of Lambda control-plane calls per account and Region, unless
/// `RULE_LAMBDA_CALLS_PER_SECOND` says otherwise. AWS allows 15 a second for every caller of the account
/// and Region together, and does not raise it
/// (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#api-requests>): 10 leaves
/// a third to deployments, consoles and remediation running at the same time.
pub const DEFAULT_LAMBDA_CALLS_PER_SECOND: &str = "10";
/// The runtime management modes a sweep reads at most, unless `RULE_MODE_READS_PER_SWEEP` says otherwise
/// (the rest rotate through the following days, see `lifecycle::mode_reads`): with the 200 ListFunctions
/// pages of 10,000 functions, under 1,000 Lambda calls, about 95 seconds at the default pace.
pub const DEFAULT_MODE_READS_PER_SWEEP: &str = "750";

/// The rule's limits on Lambda's control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaLimits {
    pub calls_per_second: NonZeroU32,
    pub mode_reads_per_sweep: usize,
}

/// A client-side limit on Lambda control-plane calls: evenly spaced (no burst), so that no one-second
/// window ever holds more than the pace, whatever the caller's concurrency. It holds every attempt of
/// the Lambda client, the SDK's retries included ([`awsbase::pace`]).
pub type LambdaPace = awsbase::pace::Bucket;

pub fn lambda_pace(calls_per_second: NonZeroU32) -> LambdaPace {
    let quota = governor::Quota::per_second(calls_per_second).allow_burst(NonZeroU32::MIN);
    Arc::new(governor::RateLimiter::direct(quota))
}
/// PutEvaluations accepts at most 100 evaluations a call.
pub const PUT_BATCH: usize = 100;
/// Attempts for evaluations that PutEvaluations returns as FailedEvaluations.
const FAILED_EVALUATION_ATTEMPTS: u32 = 4;

/// Every AWS action the rule calls, each with its reason: the counters of the invocation summary and
/// the IAM contract (`cdk/contracts/iam.json`) use these, so a new call cannot miss its permission.
pub mod actions {
    use awsbase::Action;

    pub const GET_COMPLIANCE_DETAILS: Action = Action {
        action: "config:GetComplianceDetailsByConfigRule",
        why: "a periodic sweep reads the rule's stored results: it puts only what changed, and NOT_APPLICABLE for deleted functions",
    };
    pub const GET_RESOURCE_CONFIG_HISTORY: Action = Action {
        action: "config:GetResourceConfigHistory",
        why: "an oversized change notification carries no item: the rule fetches the latest one",
    };
    pub const PUT_EVALUATIONS: Action = Action {
        action: "config:PutEvaluations",
        why: "delivers the evaluations (the result token belongs to the evaluated account)",
    };
    pub const GET_RUNTIME_MANAGEMENT_CONFIG: Action = Action {
        action: "lambda:GetRuntimeManagementConfig",
        why: "the runtimeUpdateMode check: is the runtime version pinned (Manual)?",
    };
    pub const LIST_FUNCTIONS: Action = Action {
        action: "lambda:ListFunctions",
        why: "a periodic sweep evaluates every function of the account and region",
    };
    pub const GET_TAGGED_RESOURCES: Action = Action {
        action: "tag:GetResources",
        why: "a periodic sweep reads the exemption tag of every tagged function, 100 a call (not one Lambda ListTags per function: Lambda's control plane allows 15 requests a second per account and region)",
    };
    pub const GET_PARAMETER: Action = Action {
        action: "ssm:GetParameter",
        why: "catalogSsmParameter: the catalog overlay, in the rule's own account",
    };
    pub const ASSUME_ROLE: Action = Action {
        action: "sts:AssumeRole",
        why: "organization mode: the member role (RULE_MEMBER_ROLE_NAME) in each evaluated account",
    };

    /// What the rule calls in each account it evaluates (through the member role in organization mode).
    pub const IN_EVALUATED_ACCOUNT: [Action; 6] = [
        PUT_EVALUATIONS,
        GET_RESOURCE_CONFIG_HISTORY,
        GET_COMPLIANCE_DETAILS,
        LIST_FUNCTIONS,
        GET_TAGGED_RESOURCES,
        GET_RUNTIME_MANAGEMENT_CONFIG,
    ];
    /// What the rule's own role calls besides (it also evaluates its own account's functions).
    pub const OWN_ACCOUNT_ONLY: [Action; 2] = [GET_PARAMETER, ASSUME_ROLE];

    pub const LIST_ALIASES: Action = Action {
        action: "lambda:ListAliases",
        why: "`rule scan --versions`: the published versions each function's aliases point at",
    };
    pub const GET_FUNCTION_CONFIGURATION: Action = Action {
        action: "lambda:GetFunctionConfiguration",
        why: "`rule scan --versions`: the runtime of each published version an alias points at",
    };
    /// Called only by `rule scan --versions`, with the caller's own credentials: neither the rule's
    /// role nor the member role needs them (they are in no IAM contract).
    pub const SCAN_VERSIONS_ONLY: [Action; 2] = [LIST_ALIASES, GET_FUNCTION_CONFIGURATION];
}

/// Calls made during one invocation, by operation, for the summary line.
#[derive(Debug, Default)]
pub struct CallCounter {
    counts: std::sync::Mutex<BTreeMap<&'static str, u32>>,
    total: AtomicU32,
}

impl CallCounter {
    pub fn count(&self, operation: &'static str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(operation).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u32> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The clients for one account.
#[derive(Clone)]
pub struct AccountClients {
    pub account: String,
    pub config: aws_sdk_config::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
}

impl AccountClients {
    /// Every attempt of `lambda` waits for a token of `lambda_pace` (the quota is per account and
    /// Region, and one AccountClients serves one account in the Lambda's Region).
    pub fn new(account: &str, sdk: &SdkConfig, lambda_pace: LambdaPace) -> AccountClients {
        let lambda = aws_sdk_lambda::config::Builder::from(sdk)
            .identity_cache(awsbase::pace::identity_cache(sdk, lambda_pace))
            .build();
        AccountClients {
            account: account.to_string(),
            config: aws_sdk_config::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::from_conf(lambda),
            tagging: aws_sdk_resourcegroupstagging::Client::new(sdk),
        }
    }
}

/// Clients per account: the Lambda's own account directly, member accounts through the member role
/// (assumed once per account and container; the SDK refreshes the session before it expires).
pub struct Accounts {
    base: SdkConfig,
    member_role_name: Option<String>,
    limits: LambdaLimits,
    /// The Lambda's own account: one pace for the container's life, like the members' clients.
    own_pace: LambdaPace,
    members: Mutex<HashMap<String, AccountClients>>,
}

pub use awsbase::member::{is_account_id, is_role_name};

/// An event naming an account id that is not one: refused before anything reaches STS.
#[derive(Debug, thiserror::Error)]
#[error("the event's account id {0:?} is not 12 digits: no role is assumed for it")]
pub struct UntrustedAccount(String);

impl Accounts {
    /// `member_role_name` must be a valid IAM role name: a bad one is a startup error, not a string
    /// that reaches STS with every invocation.
    pub fn new(
        base: SdkConfig,
        member_role_name: Option<String>,
        limits: LambdaLimits,
    ) -> anyhow::Result<Accounts> {
        if let Some(name) = &member_role_name
            && !is_role_name(name)
        {
            bail!(
                "{}={name:?} is not an IAM role name (1 to 64 of A-Z a-z 0-9 + = , . @ _ -)",
                crate::lambda::MEMBER_ROLE_VARIABLE
            );
        }
        Ok(Accounts {
            base,
            member_role_name,
            limits,
            own_pace: lambda_pace(limits.calls_per_second),
            members: Mutex::new(HashMap::new()),
        })
    }

    /// Clients for the caller's own account only (the command line).
    pub fn own_account_only(base: SdkConfig, limits: LambdaLimits) -> Accounts {
        Accounts {
            base,
            member_role_name: None,
            limits,
            own_pace: lambda_pace(limits.calls_per_second),
            members: Mutex::new(HashMap::new()),
        }
    }

    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// The runtime management modes a sweep may read.
    pub fn mode_read_budget(&self) -> usize {
        self.limits.mode_reads_per_sweep
    }

    /// Clients for the caller's own account (the command line, or the Lambda's account).
    pub fn own(&self, account: &str) -> AccountClients {
        AccountClients::new(account, &self.base, self.own_pace.clone())
    }

    /// The role to assume in `account`: always the configured member role, whose trust policy pins
    /// the rule's role and the organization. The event's executionRoleArn is never used: the event
    /// is input, and for organization rules it names Config's service-linked role, which a Lambda
    /// cannot assume.
    pub fn role_for(&self, account: &str) -> anyhow::Result<String> {
        if !is_account_id(account) {
            return Err(UntrustedAccount(lifecycle::dates::shorten(account, 40)).into());
        }
        match &self.member_role_name {
            Some(name) => Ok(format!("arn:aws:iam::{account}:role/{name}")),
            None => bail!(
                "account {account}: {} is not set, so this Lambda evaluates only its own account \
                 (organization rules and per-account rules in other accounts need the member role)",
                crate::lambda::MEMBER_ROLE_VARIABLE
            ),
        }
    }

    /// Clients for the account an invocation belongs to.
    pub async fn for_account(&self, own_account: &str, account: &str) -> anyhow::Result<AccountClients> {
        if account == own_account {
            return Ok(self.own(account));
        }
        let role = self.role_for(account)?;
        if let Some(clients) = self.members.lock().await.get(account) {
            return Ok(clients.clone());
        }
        // One AssumeRole per account and container, its first credentials used, and an identity cache
        // per member (awsbase::member, shared with the aggregator's member reads).
        let config = awsbase::member::assume_role(
            &self.base,
            &role,
            "lambda-runtime-rule",
            format!("account {account}: cannot assume {role}"),
        )
        .await?;
        let clients = AccountClients::new(account, &config, lambda_pace(self.limits.calls_per_second));
        self.members
            .lock()
            .await
            .insert(account.to_string(), clients.clone());
        Ok(clients)
    }
}

/// The full configuration item of an oversized notification, as the JSON an event would carry.
pub async fn full_item(
    clients: &AccountClients,
    calls: &CallCounter,
    resource_id: &str,
) -> anyhow::Result<Value> {
    calls.count(actions::GET_RESOURCE_CONFIG_HISTORY.action);
    let history = clients
        .config
        .get_resource_config_history()
        .resource_type(ResourceType::from(LAMBDA_FUNCTION))
        .resource_id(resource_id)
        .limit(1)
        .send()
        .await
        .aws_context(|| {
            format!(
                "account {}: GetResourceConfigHistory for {resource_id}",
                clients.account
            )
        })?;
    let item = history.configuration_items().first().with_context(|| {
        format!(
            "account {}: no configuration item for {resource_id}",
            clients.account
        )
    })?;
    let configuration = match item.configuration() {
        Some(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        None => Value::Null,
    };
    Ok(json!({
        "resourceType": item.resource_type().map(|t| t.as_str()),
        "resourceId": item.resource_id(),
        "resourceName": item.resource_name(),
        "awsAccountId": item.account_id(),
        "awsRegion": item.aws_region(),
        "ARN": item.arn(),
        "configurationItemStatus": item.configuration_item_status().map(|s| s.as_str()),
        "configurationItemCaptureTime": item.configuration_item_capture_time().and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        "tags": item.tags(),
        "configuration": configuration,
    }))
}

/// `GetRuntimeManagementConfig`, as an observed fact: a failure is kept as a failure (never a pass).
pub async fn runtime_update_mode(
    clients: &AccountClients,
    calls: &CallCounter,
    function: &str,
) -> Observed<UpdateMode> {
    calls.count(actions::GET_RUNTIME_MANAGEMENT_CONFIG.action);
    match clients
        .lambda
        .get_runtime_management_config()
        .function_name(function)
        .send()
        .await
    {
        Ok(answer) => match answer.update_runtime_on() {
            Some(mode) => Observed::Known(UpdateMode::parse(mode.as_str())),
            None => Observed::Failed("GetRuntimeManagementConfig returned no UpdateRuntimeOn".into()),
        },
        Err(error) => Observed::Failed(error_text(&error)),
    }
}

/// Every function of the account and region: all ListFunctions pages (paced), with the tags of the
/// functions that carry `tag_key` (one GetResources call per 100 of them, through the Resource Groups
/// Tagging API, so that tags cost no Lambda control-plane call per function). The runtime management
/// mode is left `NotNeeded`: [`read_modes`] fills it where wanted. Each page becomes snapshots at once:
/// the SDK's FunctionConfiguration (every field Lambda returns) is not kept, which keeps a
/// 10,000-function sweep's memory small.
pub async fn list_functions(
    clients: &AccountClients,
    calls: &CallCounter,
    tag_key: &str,
) -> anyhow::Result<Vec<(FunctionSnapshot, String)>> {
    let tags = tagged_functions(clients, calls, tag_key).await?;
    let mut snapshots: Vec<(FunctionSnapshot, String)> = Vec::new();
    let mut pages = clients.lambda.list_functions().into_paginator().send();
    loop {
        let Some(page) = pages.next().await else { break };
        calls.count(actions::LIST_FUNCTIONS.action);
        let page = page.aws_context(|| format!("account {}: ListFunctions", clients.account))?;
        snapshots.extend(page.functions().iter().map(|function| {
            let arn = function.function_arn().unwrap_or_default().to_string();
            let package_type = match function.package_type() {
                Some(aws_sdk_lambda::types::PackageType::Image) => PackageType::Image,
                _ => PackageType::Zip,
            };
            let snapshot = FunctionSnapshot {
                name: function.function_name().unwrap_or_default().to_string(),
                package_type,
                runtime: function.runtime().map(|r| r.as_str().to_string()),
                last_modified: function
                    .last_modified()
                    .and_then(lifecycle::dates::utc_day_of_timestamp),
                tags: tags.get(&arn).cloned().unwrap_or_default(),
                runtime_update_mode: Observed::NotNeeded,
            };
            (snapshot, arn)
        }));
    }
    Ok(snapshots)
}

/// Reads the runtime management mode of the functions `read` selects (by index), paced, a few in flight.
pub async fn read_modes(
    clients: &AccountClients,
    calls: &CallCounter,
    functions: &mut [(FunctionSnapshot, String)],
    read: impl Fn(usize) -> bool,
) {
    let wanted: Vec<(usize, String)> = functions
        .iter()
        .enumerate()
        .filter(|(i, _)| read(*i))
        .map(|(i, (_, arn))| (i, arn.clone()))
        .collect();
    let modes: Vec<(usize, Observed<UpdateMode>)> = futures_util::stream::iter(wanted)
        .map(|(i, arn)| async move { (i, runtime_update_mode(clients, calls, &arn).await) })
        .buffer_unordered(SWEEP_CONCURRENCY)
        .collect()
        .await;
    for (i, mode) in modes {
        functions[i].0.runtime_update_mode = mode;
    }
}

/// The published versions a function's aliases route to: version → the aliases that point at it
/// (an alias's FunctionVersion and the versions of its AdditionalVersionWeights), all ListAliases pages,
/// paced. Aliases on `$LATEST` are left out: the function's own row judges it.
pub async fn alias_targets(
    clients: &AccountClients,
    calls: &CallCounter,
    function: &str,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pages = clients
        .lambda
        .list_aliases()
        .function_name(function)
        .into_paginator()
        .send();
    loop {
        let Some(page) = pages.next().await else { break };
        calls.count(actions::LIST_ALIASES.action);
        let page = page.aws_context(|| format!("account {}: ListAliases {function}", clients.account))?;
        for alias in page.aliases() {
            let Some(name) = alias.name() else { continue };
            let weighted = alias
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .into_iter()
                .flat_map(|weights| weights.keys());
            for version in alias
                .function_version()
                .into_iter()
                .chain(weighted.map(String::as_str))
            {
                if version == "$LATEST" {
                    continue;
                }
                let aliases = targets.entry(version.to_string()).or_default();
                if !aliases.iter().any(|a| a == name) {
                    aliases.push(name.to_string());
                }
            }
        }
    }
    for aliases in targets.values_mut() {
        aliases.sort();
    }
    Ok(targets)
}

/// One published version of `function` as the verdict sees it (GetFunctionConfiguration with the
/// version as Qualifier, paced): the version's own runtime and package type, the function's tags (an
/// exemption covers its versions). The runtime management mode is left `NotNeeded`, as for the
/// aggregator's version rows.
pub async fn version_snapshot(
    clients: &AccountClients,
    calls: &CallCounter,
    function: &FunctionSnapshot,
    version: &str,
) -> anyhow::Result<FunctionSnapshot> {
    calls.count(actions::GET_FUNCTION_CONFIGURATION.action);
    let config = clients
        .lambda
        .get_function_configuration()
        .function_name(&function.name)
        .qualifier(version)
        .send()
        .await
        .aws_context(|| {
            format!(
                "account {}: GetFunctionConfiguration {}:{version}",
                clients.account, function.name
            )
        })?;
    Ok(FunctionSnapshot {
        name: function.name.clone(),
        package_type: match config.package_type() {
            Some(aws_sdk_lambda::types::PackageType::Image) => PackageType::Image,
            Some(_) => PackageType::Zip,
            None => function.package_type,
        },
        runtime: config.runtime().map(|r| r.as_str().to_string()),
        last_modified: config
            .last_modified()
            .and_then(lifecycle::dates::utc_day_of_timestamp),
        tags: function.tags.clone(),
        runtime_update_mode: Observed::NotNeeded,
    })
}

/// Function ARN → tags, for the functions that carry `tag_key` (GetResources, 100 a page).
async fn tagged_functions(
    clients: &AccountClients,
    calls: &CallCounter,
    tag_key: &str,
) -> anyhow::Result<HashMap<String, BTreeMap<String, String>>> {
    let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
        .key(tag_key)
        .build();
    let mut pages = clients
        .tagging
        .get_resources()
        .resource_type_filters("lambda:function")
        .tag_filters(filter)
        .resources_per_page(100)
        .into_paginator()
        .send();
    let mut tagged = HashMap::new();
    while let Some(page) = pages.next().await {
        calls.count(actions::GET_TAGGED_RESOURCES.action);
        let page =
            page.aws_context(|| format!("account {}: GetResources (tag {tag_key})", clients.account))?;
        for mapping in page.resource_tag_mapping_list() {
            let Some(arn) = mapping.resource_arn() else {
                continue;
            };
            let tags = mapping
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            tagged.insert(arn.to_string(), tags);
        }
    }
    Ok(tagged)
}

/// What Config holds for this rule's Lambda functions in the account and region (every compliance
/// type, 100 a page), by resource id.
pub async fn stored_results(
    clients: &AccountClients,
    calls: &CallCounter,
    rule_name: &str,
) -> anyhow::Result<BTreeMap<String, StoredResult>> {
    let mut stored = BTreeMap::new();
    let mut pages = clients
        .config
        .get_compliance_details_by_config_rule()
        .config_rule_name(rule_name)
        .compliance_types(SdkCompliance::Compliant)
        .compliance_types(SdkCompliance::NonCompliant)
        .compliance_types(SdkCompliance::NotApplicable)
        .limit(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        calls.count(actions::GET_COMPLIANCE_DETAILS.action);
        let page =
            page.aws_context(|| format!("account {}: GetComplianceDetailsByConfigRule", clients.account))?;
        for result in page.evaluation_results() {
            let qualifier = result
                .evaluation_result_identifier()
                .and_then(|i| i.evaluation_result_qualifier());
            if let Some(q) = qualifier.filter(|q| q.resource_type() == Some(LAMBDA_FUNCTION))
                && let Some(id) = q.resource_id()
            {
                stored.insert(
                    id.to_string(),
                    StoredResult {
                        compliance: result
                            .compliance_type()
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                        annotation: result.annotation().unwrap_or_default().to_string(),
                    },
                );
            }
        }
    }
    Ok(stored)
}

/// Delivers evaluations in batches of 100. Evaluations returned as FailedEvaluations are sent again
/// (with a short backoff); any still failing make this an error naming them — never dropped in silence.
pub async fn put_evaluations(
    clients: &AccountClients,
    calls: &CallCounter,
    result_token: &str,
    test_mode: bool,
    evaluations: &[Evaluation],
) -> anyhow::Result<()> {
    // A sweep with nothing new still reports once, with no evaluation (the API takes 0 to 100, and
    // nothing is billed): the invocation's result token is used, and Config hears from the rule.
    let batches: Vec<&[Evaluation]> = if evaluations.is_empty() {
        vec![evaluations]
    } else {
        evaluations.chunks(PUT_BATCH).collect()
    };
    for batch in batches {
        let mut pending: Vec<aws_sdk_config::types::Evaluation> =
            batch.iter().map(to_sdk).collect::<Result<_, _>>()?;
        for attempt in 1..=FAILED_EVALUATION_ATTEMPTS {
            calls.count(actions::PUT_EVALUATIONS.action);
            let answer = clients
                .config
                .put_evaluations()
                .result_token(result_token)
                .test_mode(test_mode)
                .set_evaluations(Some(pending.clone()))
                .send()
                .await
                .aws_context(|| format!("account {}: PutEvaluations", clients.account))?;
            let failed = answer.failed_evaluations().to_vec();
            if failed.is_empty() {
                break;
            }
            if attempt == FAILED_EVALUATION_ATTEMPTS {
                let ids: Vec<&str> = failed.iter().map(|e| e.compliance_resource_id()).collect();
                bail!(
                    "account {}: PutEvaluations did not record {} evaluation(s) after {attempt} attempts: {}",
                    clients.account,
                    ids.len(),
                    ids.join(", ")
                );
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            pending = failed;
        }
    }
    Ok(())
}

fn to_sdk(evaluation: &Evaluation) -> anyhow::Result<aws_sdk_config::types::Evaluation> {
    Ok(aws_sdk_config::types::Evaluation::builder()
        .compliance_resource_type(&evaluation.compliance_resource_type)
        .compliance_resource_id(&evaluation.compliance_resource_id)
        .compliance_type(SdkCompliance::from(evaluation.compliance_type.as_str()))
        .annotation(&evaluation.annotation)
        .ordering_timestamp(DateTime::from_millis(
            evaluation.ordering_timestamp.as_millisecond(),
        ))
        .build()?)
}

/// Reads a replacement catalog from SSM Parameter Store.
pub async fn catalog_parameter(base: &SdkConfig, calls: &CallCounter, name: &str) -> anyhow::Result<String> {
    calls.count(actions::GET_PARAMETER.action);
    let answer = aws_sdk_ssm::Client::new(base)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .aws_context(|| format!("SSM parameter {name}"))?;
    answer
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .with_context(|| format!("SSM parameter {name} has no value"))
}
