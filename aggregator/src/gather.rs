//! Gathering from Config's organization aggregator with the fewest calls (issue 13, gather v2):
//!
//! 1. **Triples** — the (rule, account, region) the named rules have results for, with each triple's
//!    compliance, from DescribeAggregateComplianceByConfigRules filtered by the rule's name as
//!    deployed ([`Gatherer::triples`]: the member names are discovered first, see there).
//! 2. **Inventory** — the functions, from one organization-wide advanced query
//!    (SelectAggregateResourceConfig) sharded by region × batches of account ids ([`plan_shards`]),
//!    the shards read concurrently.
//! 3. **Non-compliant functions** — where it takes fewer calls, one advanced query per shard over the
//!    `AWS::Config::ResourceCompliance` items of its NON_COMPLIANT functions
//!    ([`Gatherer::noncompliant_functions`], checked triple by triple against the listing's counts);
//!    otherwise, and for every triple that check fails, GetAggregateComplianceDetailsByConfigRule for
//!    the NON_COMPLIANT triples, only their NON_COMPLIANT results (ComplianceType filter). The
//!    inventory's other functions of those triples, and every function of a COMPLIANT triple, are
//!    COMPLIANT rows (see `crate::run`).
//!
//! Every attempt waits for its API family's token and is counted, inside the SDK clients
//! ([`crate::api`]); the SDK's standard retries (backoff on throttling) are held the same way. What
//! still fails becomes a [`Gap`], never a silent drop.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::bail;
use aws_sdk_config::Client as ConfigClient;
use aws_sdk_config::error::ProvideErrorMetadata as _;
use aws_sdk_config::types::{
    ComplianceType, ConfigRuleComplianceFilters, ConfigRuleComplianceSummaryGroupKey,
};
use aws_sdk_organizations::Client as OrganizationsClient;
use awsbase::{Action, error_text};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::api::Api;
use crate::row::{EvaluationRecord, FunctionDetails};

/// The largest page the aggregate compliance details and query APIs accept.
const PAGE_LIMIT: i32 = 100;
/// The largest page DescribeAggregateComplianceByConfigRules accepts ("Limit 0–1000; the default is
/// maximum", API_DescribeAggregateComplianceByConfigRules).
pub const DESCRIBE_PAGE_LIMIT: i32 = 1000;
/// SelectAggregateResourceConfig's `Expression`: "Length Constraints: Minimum length of 1. Maximum
/// length of 4096." (API_SelectAggregateResourceConfig).
pub const EXPRESSION_LIMIT: usize = 4096;

/// One (rule, account, region) the aggregator holds results for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Triple {
    pub rule_name: String,
    pub account_id: String,
    pub region: String,
}

/// A triple as DescribeAggregateComplianceByConfigRules lists it: the rule's compliance there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub triple: Triple,
    /// `COMPLIANT`, `NON_COMPLIANT`, `INSUFFICIENT_DATA` (or `NOT_APPLICABLE`).
    pub compliance: String,
    /// For NON_COMPLIANT: the non-compliant resources (ComplianceContributorCount: the count, capped
    /// at 100, and whether the cap was exceeded).
    pub noncompliant: Option<(i32, bool)>,
}

impl Listed {
    /// Whether the triple has results the aggregate APIs return (COMPLIANT or NON_COMPLIANT).
    pub fn has_results(&self) -> bool {
        matches!(self.compliance.as_str(), "COMPLIANT" | "NON_COMPLIANT")
    }
}

/// Something the run could not gather; the snapshot is published without it and the summary says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// `triple`, `functions`, `organizations`, `account`, `no_results`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub reason: String,
}

/// Whether Config's `actual` rule name is the rule the user asked for: the name itself, or an
/// organization rule's member copy `OrgConfigRule-<name>-<suffix>` (the suffix has no dash).
pub fn rule_matches(requested: &str, actual: &str) -> bool {
    if actual == requested {
        return true;
    }
    actual
        .strip_prefix("OrgConfigRule-")
        .and_then(|rest| rest.strip_prefix(requested))
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn timestamp(value: Option<&aws_smithy_types::DateTime>) -> Option<Timestamp> {
    let value = value?;
    Timestamp::from_millisecond(value.to_millis().ok()?).ok()
}

pub struct Gatherer {
    pub config: ConfigClient,
    pub organizations: OrganizationsClient,
    /// For the catalog overlay the rule reads (`catalogSsmParameter`), in this account and region.
    pub ssm: aws_sdk_ssm::Client,
    pub aggregator: String,
    /// The rate limits and call counts of the run.
    pub api: Arc<Api>,
    /// DescribeAggregateComplianceByConfigRules page size ([`DESCRIBE_PAGE_LIMIT`]; smaller only in
    /// tests, to exercise the filtered listing on a small organization).
    pub describe_limit: i32,
    /// Set once a ResourceCompliance query found nothing where the listing counts NON_COMPLIANT
    /// functions: the recorders do not record `AWS::Config::ResourceCompliance` (AWS's cost guidance
    /// suggests excluding it), so later shards read the details directly.
    pub resource_compliance_unrecorded: std::sync::atomic::AtomicBool,
    /// Versions behind aliases, layer blockers and invocations, read in the member accounts
    /// ([`crate::enrich`]; off without a member role).
    pub enricher: crate::enrich::Enricher,
}

/// Every AWS action the aggregator calls, with its reason (`cdk/contracts/iam.json`).
pub const ACTIONS: [Action; 17] = [
    Action {
        action: "ssm:GetParameter",
        why: "the catalog overlay the rule's catalogSsmParameter names, so that the lifecycle columns match the rule's verdicts",
    },
    Action {
        action: "config:DescribeAggregateComplianceByConfigRules",
        why: "the (rule, account, region) triples of the named rules and their compliance, filtered by the rule's name as deployed",
    },
    Action {
        action: "config:GetAggregateConfigRuleComplianceSummary",
        why: "the regions with rule results (grouped by region), so that no region of an organization rule's member copies is missed",
    },
    Action {
        action: "config:GetAggregateComplianceDetailsByConfigRule",
        why: "the NON_COMPLIANT results (with annotations) of the NON_COMPLIANT triples",
    },
    Action {
        action: "config:SelectAggregateResourceConfig",
        why: "runtime, package type, architectures, last modified and tags of the functions, and the NON_COMPLIANT functions' ResourceCompliance items (advanced queries by region and account batch)",
    },
    Action {
        action: "config:DescribeOrganizationConfigRules",
        why: "the organization rule's InputParameters, so the lifecycle columns use the deployed policy",
    },
    Action {
        action: "config:DescribeConfigRules",
        why: "the rule's InputParameters when it is a Config rule of this account",
    },
    Action {
        action: "organizations:ListRoots",
        why: "the root of the OU tree, for OU paths",
    },
    Action {
        action: "organizations:ListOrganizationalUnitsForParent",
        why: "the OU tree, one call per OU (cached between runs, refreshed in slices)",
    },
    Action {
        action: "organizations:ListAccountsForParent",
        why: "account names and states, one call per OU (cached between runs, refreshed in slices)",
    },
    Action {
        action: "organizations:ListTagsForResource",
        why: "account tags (ownership columns; cached between runs, refreshed in slices)",
    },
    Action {
        action: "s3:PutObject",
        why: "the snapshot (multipart upload: create, upload parts, complete), its summary, the account cache (evaluations/_cache/) and the run's checkpoints (evaluations/_staging/)",
    },
    Action {
        action: "s3:AbortMultipartUpload",
        why: "a failed run leaves no partial upload behind",
    },
    Action {
        action: "s3:GetObject",
        why: "the day's existing summary (GetObject, HeadObject): a snapshot never replaces a better one; the account cache; an interrupted run's checkpoints",
    },
    Action {
        action: "s3:DeleteObject",
        why: "a failed publish removes the summary it wrote first, when there was none before; a finished run removes its checkpoints (DeleteObjects)",
    },
    Action {
        action: "sts:AssumeRole",
        why: "the member reader role (AGGREGATOR_MEMBER_ROLE_NAME) in each account with rule results, once a run: versions behind aliases, layer blockers, invocations",
    },
    Action {
        action: "s3:ListBucket",
        why: "under the snapshots' prefix only: without it S3 answers a missing summary with 403, not 404 (GetObject API reference); the checkpoints a run resumes (ListObjectsV2 of evaluations/_staging/)",
    },
];

/// A rule's `InputParameters` as deployed, and where they were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployedParameters {
    /// `organization rule NAME` or `Config rule NAME`.
    pub source: String,
    /// The JSON as deployed (empty: every default).
    pub value: String,
    /// For an organization rule: its member copies' name in this region, as its ARN suggests
    /// (`…:organization-config-rule/<name>-<suffix>` → `OrgConfigRule-<name>-<suffix>`): a hint for
    /// the triple listing, checked there.
    #[serde(skip)]
    pub member_name: Option<String>,
}

/// The member copies' name an organization rule's ARN suggests, when it has the expected shape.
pub fn member_name_from_arn(rule: &str, arn: &str) -> Option<String> {
    let (_, tail) = arn.rsplit_once('/')?;
    let suffix = tail.strip_prefix(rule)?.strip_prefix('-')?;
    let name = format!("OrgConfigRule-{rule}-{suffix}");
    rule_matches(rule, &name).then_some(name)
}

/// One shard of the inventory: the functions of these accounts in this region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub region: String,
    pub accounts: Vec<String>,
}

impl Shard {
    /// For messages: `us-east-1 × 3 accounts (111…, …)`.
    pub fn describe(&self) -> String {
        let first = self.accounts.first().map(String::as_str).unwrap_or("");
        let last = self.accounts.last().map(String::as_str).unwrap_or("");
        format!(
            "inventory shard {} × {} account(s) {first}…{last}",
            self.region,
            self.accounts.len()
        )
    }
}

/// The functions of one shard, by account and then resource id (the function name).
pub type Inventory = HashMap<String, HashMap<String, FunctionDetails>>;

/// What the triple listing learned so far: member names of the requested rules, and in which regions.
#[derive(Debug, Default)]
struct Discovery {
    /// Every name matching a requested rule, with the regions it was seen in.
    names: BTreeMap<String, BTreeSet<String>>,
    /// The first account seen with each requested rule (by index), for the account-scoped listing.
    first_account: BTreeMap<usize, String>,
}

impl Discovery {
    fn note(&mut self, rules: &[String], listed: &[Listed]) {
        for entry in listed {
            for (index, rule) in rules.iter().enumerate() {
                if rule_matches(rule, &entry.triple.rule_name) {
                    self.names
                        .entry(entry.triple.rule_name.clone())
                        .or_default()
                        .insert(entry.triple.region.clone());
                    self.first_account
                        .entry(index)
                        .or_insert_with(|| entry.triple.account_id.clone());
                }
            }
        }
    }

    /// The requested rules (by index) with no member name seen in `region`.
    fn missing_in(&self, rules: &[String], region: &str) -> Vec<usize> {
        (0..rules.len())
            .filter(|&index| {
                !self
                    .names
                    .iter()
                    .any(|(name, regions)| rule_matches(&rules[index], name) && regions.contains(region))
            })
            .collect()
    }
}

impl Gatherer {
    /// The catalog overlay the rule reads (`catalogSsmParameter`): the same SSM parameter, so that the
    /// lifecycle columns are computed from the catalog the rule judged with.
    pub async fn catalog_overlay(&self, name: &str) -> Result<String, String> {
        let answer = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| format!("SSM parameter {name}: {}", error_text(&e)))?;
        answer
            .parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| format!("SSM parameter {name} has no value"))
    }

    /// The parameters of `rule` as deployed in this account and region: an organization rule
    /// (DescribeOrganizationConfigRules, answered in the management or delegated administrator
    /// account), else a Config rule of that name (DescribeConfigRules). A rule found in neither is an
    /// error — silent defaults would make Athena disagree with Config.
    pub async fn deployed_rule_parameters(&self, rule: &str) -> anyhow::Result<DeployedParameters> {
        match self
            .config
            .describe_organization_config_rules()
            .organization_config_rule_names(rule)
            .send()
            .await
        {
            Ok(answer) => {
                if let Some(found) = answer.organization_config_rules().first() {
                    let value = found
                        .organization_custom_rule_metadata()
                        .and_then(|m| m.input_parameters())
                        .or_else(|| {
                            found
                                .organization_managed_rule_metadata()
                                .and_then(|m| m.input_parameters())
                        })
                        .or_else(|| {
                            found
                                .organization_custom_policy_rule_metadata()
                                .and_then(|m| m.input_parameters())
                        })
                        .unwrap_or_default();
                    return Ok(DeployedParameters {
                        source: format!("organization rule {rule}"),
                        value: value.to_string(),
                        member_name: member_name_from_arn(rule, found.organization_config_rule_arn()),
                    });
                }
            }
            // Not an organization rule, or not the account that manages them: try a Config rule.
            Err(error)
                if matches!(
                    error.as_service_error().and_then(|e| e.code()),
                    Some(
                        "NoSuchOrganizationConfigRuleException"
                            | "OrganizationAccessDeniedException"
                            | "NoAvailableOrganizationException"
                    )
                ) => {}
            Err(error) => bail!("reading organization rule {rule}: {}", error_text(&error)),
        }
        match self
            .config
            .describe_config_rules()
            .config_rule_names(rule)
            .send()
            .await
        {
            Ok(answer) => match answer.config_rules().first() {
                Some(found) => Ok(DeployedParameters {
                    source: format!("Config rule {rule}"),
                    value: found.input_parameters().unwrap_or_default().to_string(),
                    member_name: None,
                }),
                None => bail!("Config rule {rule}: DescribeConfigRules returned no rule"),
            },
            Err(error)
                if error.as_service_error().and_then(|e| e.code()) == Some("NoSuchConfigRuleException") =>
            {
                bail!(
                    "rule {rule} is neither an organization rule nor a Config rule in this account and region, so \
                 its parameters cannot be read; run where it is deployed, or give them with --rule-parameters"
                )
            }
            Err(error) => bail!("reading Config rule {rule}: {}", error_text(&error)),
        }
    }

    /// One page of DescribeAggregateComplianceByConfigRules.
    async fn describe_page(
        &self,
        filters: Option<ConfigRuleComplianceFilters>,
        token: Option<String>,
    ) -> anyhow::Result<(Vec<Listed>, Option<String>)> {
        let page = self
            .config
            .describe_aggregate_compliance_by_config_rules()
            .configuration_aggregator_name(&self.aggregator)
            .set_filters(filters)
            .limit(self.describe_limit)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "listing the rules of configuration aggregator {}: {}",
                    self.aggregator,
                    error_text(&e)
                )
            })?;
        let listed = page
            .aggregate_compliance_by_config_rules()
            .iter()
            .filter_map(|entry| {
                let compliance = entry.compliance();
                Some(Listed {
                    triple: Triple {
                        rule_name: entry.config_rule_name()?.to_string(),
                        account_id: entry.account_id()?.to_string(),
                        region: entry.aws_region()?.to_string(),
                    },
                    compliance: compliance
                        .and_then(|c| c.compliance_type())
                        .map_or("INSUFFICIENT_DATA", |c| c.as_str())
                        .to_string(),
                    noncompliant: compliance
                        .and_then(|c| c.compliance_contributor_count())
                        .map(|count| (count.capped_count(), count.cap_exceeded())),
                })
            })
            .collect();
        Ok((listed, page.next_token().map(str::to_string)))
    }

    /// Pages of a listing until `done` says so or the listing ends; returns what was listed and
    /// whether the listing ended.
    async fn describe_until(
        &self,
        filters: Option<ConfigRuleComplianceFilters>,
        mut done: impl FnMut(&[Listed]) -> bool,
    ) -> anyhow::Result<(Vec<Listed>, bool)> {
        let mut all = Vec::new();
        let mut token = None;
        loop {
            let (page, next) = self.describe_page(filters.clone(), token).await?;
            let stop = done(&page);
            all.extend(page);
            match next {
                None => return Ok((all, true)),
                Some(_) if stop => return Ok((all, false)),
                Some(next) => token = Some(next),
            }
        }
    }

    /// The regions where the aggregator holds rule results (GetAggregateConfigRuleComplianceSummary
    /// grouped by region: one call for up to 1,000 regions).
    async fn regions_with_results(&self) -> anyhow::Result<BTreeSet<String>> {
        let mut regions = BTreeSet::new();
        let mut token = None;
        loop {
            let page = self
                .config
                .get_aggregate_config_rule_compliance_summary()
                .configuration_aggregator_name(&self.aggregator)
                .group_by_key(ConfigRuleComplianceSummaryGroupKey::AwsRegion)
                .limit(1000)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "summarising the rules of configuration aggregator {} by region: {}",
                        self.aggregator,
                        error_text(&e)
                    )
                })?;
            regions.extend(
                page.aggregate_compliance_counts()
                    .iter()
                    .filter_map(|c| c.group_name().map(str::to_string)),
            );
            match page.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(regions),
            }
        }
    }

    /// Every triple of the requested rules, sorted, with its compliance. An unknown aggregator or a
    /// denied call is an error: without the triples there is nothing to report.
    ///
    /// The filter takes a rule's exact name, and an organization rule's member copies are named
    /// `OrgConfigRule-<name>-<suffix>` with a suffix of their own in each region, so the names are
    /// discovered first, at the fewest calls:
    /// 1. one unfiltered page — when the whole listing fits (a small organization) it is the only call;
    /// 2. the member names the organization rules' ARNs suggest (`hints`, from
    ///    DescribeOrganizationConfigRules in this region): each name's own listing, which step 5 needs
    ///    anyway; then, for a rule still not seen, more unfiltered pages until it is (the listing's order
    ///    is the service's: this is the step that costs the old price when no hint applies);
    /// 3. the listing of the account each rule was first seen in (`Filters.AccountId`): its copies in
    ///    every region, ⌈rules of that account / page⌉ calls (2 for 100 rules × 17 regions);
    /// 4. the regions with results (one summary call); a region where no name was seen yet is listed
    ///    (`Filters.AwsRegion`) until one is — none in the usual case, where step 3 covered them;
    /// 5. each other name's triples (`Filters.ConfigRuleName`): ⌈its triples / 1,000⌉ calls.
    ///
    /// For 5,000 accounts × 17 regions and 100 other rules: 1 + 5 (the hinted name) + 2 + 16 × 5 = 88
    /// describe calls and one summary call, against 8,500 unfiltered pages.
    pub async fn triples(&self, rules: &[String], hints: &[String]) -> anyhow::Result<Vec<Listed>> {
        let wanted = |entry: &Listed| {
            rules
                .iter()
                .any(|rule| rule_matches(rule, &entry.triple.rule_name))
        };
        let (first, token) = self.describe_page(None, None).await?;
        let Some(mut token) = token else {
            // The whole listing was read: nothing more to ask.
            return Ok(sorted(first.into_iter().filter(wanted).collect()));
        };
        let mut discovery = Discovery::default();
        discovery.note(rules, &first);
        // Names listed in full already, with their triples.
        let mut listed_names: BTreeMap<String, Vec<Listed>> = BTreeMap::new();
        for hint in hints {
            if listed_names.contains_key(hint) || !rules.iter().any(|rule| rule_matches(rule, hint)) {
                continue;
            }
            let filters = ConfigRuleComplianceFilters::builder()
                .config_rule_name(hint)
                .build();
            let (listed, _) = self.describe_until(Some(filters), |_| false).await?;
            let listed: Vec<Listed> = listed
                .into_iter()
                .filter(|e| &e.triple.rule_name == hint)
                .collect();
            discovery.note(rules, &listed);
            listed_names.insert(hint.clone(), listed);
        }
        while discovery.first_account.len() < rules.len() {
            let (page, next) = self.describe_page(None, Some(token)).await?;
            discovery.note(rules, &page);
            match next {
                Some(next) => token = next,
                None => break,
            }
        }
        let accounts: BTreeSet<String> = discovery.first_account.values().cloned().collect();
        for account in accounts {
            let filters = ConfigRuleComplianceFilters::builder().account_id(account).build();
            let (listed, _) = self.describe_until(Some(filters), |_| false).await?;
            discovery.note(rules, &listed);
        }
        for region in self.regions_with_results().await? {
            let missing = discovery.missing_in(rules, &region);
            if missing.is_empty() {
                continue;
            }
            let filters = ConfigRuleComplianceFilters::builder().aws_region(&region).build();
            let mut found = Discovery::default();
            let (listed, _) = self
                .describe_until(Some(filters), |page| {
                    found.note(rules, page);
                    missing
                        .iter()
                        .all(|&index| found.names.keys().any(|name| rule_matches(&rules[index], name)))
                })
                .await?;
            discovery.note(rules, &listed);
        }
        let mut triples = Vec::new();
        for name in discovery.names.keys() {
            if let Some(listed) = listed_names.remove(name) {
                triples.extend(listed);
                continue;
            }
            let filters = ConfigRuleComplianceFilters::builder()
                .config_rule_name(name)
                .build();
            let (listed, _) = self.describe_until(Some(filters), |_| false).await?;
            triples.extend(listed.into_iter().filter(|e| &e.triple.rule_name == name));
        }
        Ok(sorted(triples))
    }

    /// The evaluation results of one triple: every result (COMPLIANT and NON_COMPLIANT: the aggregate
    /// API returns no others), or only those of `only` (the ComplianceType filter).
    pub async fn evaluations(
        &self,
        triple: &Triple,
        only: Option<ComplianceType>,
    ) -> Result<Vec<EvaluationRecord>, String> {
        let mut records = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .config
                .get_aggregate_compliance_details_by_config_rule()
                .configuration_aggregator_name(&self.aggregator)
                .config_rule_name(&triple.rule_name)
                .account_id(&triple.account_id)
                .aws_region(&triple.region)
                .set_compliance_type(only.clone())
                .limit(PAGE_LIMIT)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error_text(&e))?;
            for result in page.aggregate_evaluation_results() {
                let qualifier = result
                    .evaluation_result_identifier()
                    .and_then(|id| id.evaluation_result_qualifier());
                let Some(resource_id) = qualifier.and_then(|q| q.resource_id()) else {
                    return Err("an evaluation result without a resource id".into());
                };
                records.push(EvaluationRecord {
                    account_id: result.account_id().unwrap_or(&triple.account_id).to_string(),
                    region: result.aws_region().unwrap_or(&triple.region).to_string(),
                    rule_name: triple.rule_name.clone(),
                    resource_type: qualifier
                        .and_then(|q| q.resource_type())
                        .unwrap_or(lifecycle::event::LAMBDA_FUNCTION)
                        .to_string(),
                    resource_id: resource_id.to_string(),
                    compliance_type: result
                        .compliance_type()
                        .map_or("INSUFFICIENT_DATA", |c| c.as_str())
                        .to_string(),
                    annotation: result.annotation().map(str::to_string),
                    result_recorded_time: timestamp(result.result_recorded_time()),
                    config_rule_invoked_time: timestamp(result.config_rule_invoked_time()),
                });
            }
            match page.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(records),
            }
        }
    }

    /// The Lambda functions Config recorded in one shard (a region and a batch of accounts), through
    /// the aggregator's advanced query: ⌈functions / 100⌉ calls, at least one.
    pub async fn inventory(&self, shard: &Shard) -> Result<Inventory, String> {
        let expression = inventory_query(&shard.region, &shard.accounts)?;
        let mut inventory = Inventory::new();
        self.select_each(&expression, |text| {
            let function = parse_function(text)?;
            let Some(account) = function.account_id else {
                return Err("an advanced-query result without accountId".into());
            };
            inventory
                .entry(account)
                .or_default()
                .insert(function.resource_id, function.details);
            Ok(())
        })
        .await?;
        Ok(inventory)
    }

    /// Every result of one advanced query over the aggregator, page by page (100 a page, each call
    /// held to the Config rate and counted), handed to `each`; the first error stops it.
    async fn select_each(
        &self,
        expression: &str,
        mut each: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut token = None;
        loop {
            let page = self
                .config
                .select_aggregate_resource_config()
                .configuration_aggregator_name(&self.aggregator)
                .expression(expression)
                .limit(PAGE_LIMIT)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error_text(&e))?;
            for text in page.results() {
                each(text)?;
            }
            match page.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => return Ok(()),
            }
        }
    }

    /// The functions Config's ResourceCompliance items list as NON_COMPLIANT for one of `rules`, in
    /// one region and a batch of accounts ([`noncompliant_queries`]): by (account, rule), the
    /// function names. ⌈items / 100⌉ calls a query, at least one. The items carry no annotation and
    /// no result time; the caller checks the counts against the triple listing before using them.
    pub async fn noncompliant_functions(
        &self,
        region: &str,
        accounts: &[String],
        rules: &BTreeSet<String>,
    ) -> Result<NonCompliant, String> {
        let mut found = NonCompliant::new();
        for expression in noncompliant_queries(region, accounts, rules, EXPRESSION_LIMIT)? {
            self.select_each(&expression, |text| {
                for (account, rule, function) in parse_noncompliant(text, rules)? {
                    found.entry((account, rule)).or_default().insert(function);
                }
                Ok(())
            })
            .await?;
        }
        Ok(found)
    }

    /// The aliases Config recorded in one shard, by account ([`alias_query`]): ⌈aliases / 100⌉ calls,
    /// at least one.
    pub async fn aliases(&self, shard: &Shard) -> Result<HashMap<String, Vec<RecordedAlias>>, String> {
        let expression = alias_query(&shard.region, &shard.accounts)?;
        let mut aliases: HashMap<String, Vec<RecordedAlias>> = HashMap::new();
        self.select_each(&expression, |text| {
            let alias = parse_alias(text)?;
            aliases.entry(alias.account_id.clone()).or_default().push(alias);
            Ok(())
        })
        .await?;
        Ok(aliases)
    }

    /// The organizations client with the run's limits, for [`crate::organization`].
    pub fn organizations(&self) -> (&OrganizationsClient, &Api) {
        (&self.organizations, &self.api)
    }
}

fn sorted(mut listed: Vec<Listed>) -> Vec<Listed> {
    listed.sort();
    listed.dedup_by(|a, b| a.triple == b.triple);
    listed
}

fn valid_account(account: &str) -> Result<(), String> {
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{account:?} is not an AWS account id"));
    }
    Ok(())
}

fn valid_region(region: &str) -> Result<(), String> {
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("{region:?} is not an AWS region name"));
    }
    Ok(())
}

const INVENTORY_SELECT: &str = "SELECT resourceId, accountId, arn, configuration.runtime, configuration.packageType, \
     configuration.architectures, configuration.lastModified, configuration.layers, tags \
     WHERE resourceType = 'AWS::Lambda::Function'";

/// The aliases of a shard (issue 12, [`crate::enrich`]), a query of their own, run only when the
/// enrichment is on, so that a run without it pays nothing: at most one call more per shard than one
/// query of both types (⌈(functions + aliases)/100⌉ against ⌈functions/100⌉ + ⌈aliases/100⌉).
/// Properties of the Config resource schema (awslabs/aws-config-resource-schema,
/// `config/properties/resource-types/AWS::Lambda::Alias.properties.json`: `arn`, `resourceName`,
/// `configuration.aliasArn`, `configuration.functionVersion`, `configuration.name`), plus
/// `configuration.routingConfig`: the configuration item holds GetAlias's answer, whose
/// `RoutingConfig.AdditionalVersionWeights` names the second version of a weighted alias, although
/// the schema does not list it as a queryable property (see the README: where Config leaves it out, a
/// weighted alias counts for its primary version only).
const ALIAS_SELECT: &str = "SELECT resourceId, accountId, arn, resourceName, configuration.functionVersion, \
     configuration.name, configuration.routingConfig WHERE resourceType = 'AWS::Lambda::Alias'";

/// The advanced query for the aliases of a batch of accounts in one region (checked as
/// [`inventory_query`] checks its input).
pub fn alias_query(region: &str, accounts: &[String]) -> Result<String, String> {
    let functions = inventory_query(region, accounts)?;
    Ok(functions.replacen(INVENTORY_SELECT, ALIAS_SELECT, 1))
}

/// The advanced query for the functions of a batch of accounts in one region. Account ids and region
/// names are checked before they go into the expression (it is SQL).
pub fn inventory_query(region: &str, accounts: &[String]) -> Result<String, String> {
    valid_region(region)?;
    if accounts.is_empty() {
        return Err("an inventory shard without accounts".into());
    }
    for account in accounts {
        valid_account(account)?;
    }
    let list: Vec<String> = accounts.iter().map(|a| format!("'{a}'")).collect();
    Ok(format!(
        "{INVENTORY_SELECT} AND awsRegion = '{region}' AND accountId IN ({})",
        list.join(", ")
    ))
}

/// NON_COMPLIANT functions by (account, rule name): [`Gatherer::noncompliant_functions`].
pub type NonCompliant = HashMap<(String, String), BTreeSet<String>>;

const NONCOMPLIANT_SELECT: &str = "SELECT accountId, configuration.targetResourceId, configuration.configRuleList \
     WHERE resourceType = 'AWS::Config::ResourceCompliance' \
     AND configuration.targetResourceType = 'AWS::Lambda::Function' \
     AND configuration.configRuleList.complianceType = 'NON_COMPLIANT'";

/// A Config rule name fit for a query: Config allows almost any character (`.*\S.*`, 1–128), so
/// only the characters of names this tool deploys and Config derives (`OrgConfigRule-<name>-<suffix>`)
/// go into SQL; another name is read through the details API instead.
fn queryable_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The advanced queries for the ResourceCompliance items of the NON_COMPLIANT functions of `rules` in
/// `region` and `accounts`: as few as fit within `limit` characters each (usually one). The array
/// conditions match element by element independently ("Multiple properties within an array",
/// querying-AWS-resources): an item NON_COMPLIANT for another rule and COMPLIANT for ours matches
/// too, so [`parse_noncompliant`] keeps only the elements that are ours and NON_COMPLIANT.
pub fn noncompliant_queries(
    region: &str,
    accounts: &[String],
    rules: &BTreeSet<String>,
    limit: usize,
) -> Result<Vec<String>, String> {
    valid_region(region)?;
    if accounts.is_empty() || rules.is_empty() {
        return Err("a ResourceCompliance query without accounts or rules".into());
    }
    for account in accounts {
        valid_account(account)?;
    }
    if let Some(name) = rules.iter().find(|name| !queryable_rule_name(name)) {
        return Err(format!(
            "the rule name {name:?} is not one this tool puts into a query"
        ));
    }
    let names: Vec<String> = rules.iter().map(|r| format!("'{r}'")).collect();
    let base = format!(
        "{NONCOMPLIANT_SELECT} AND configuration.configRuleList.configRuleName IN ({}) AND awsRegion = '{region}' \
         AND accountId IN (",
        names.join(", ")
    );
    // n ids: 14·n characters and 2·(n − 1) of separators, then the closing parenthesis.
    let most = (limit.saturating_sub(base.len() + 1) + 2) / 16;
    if most == 0 {
        return Err("the rule names leave no room for account ids in a query".into());
    }
    Ok(accounts
        .chunks(most)
        .map(|batch| {
            let ids: Vec<String> = batch.iter().map(|a| format!("'{a}'")).collect();
            format!("{base}{})", ids.join(", "))
        })
        .collect())
}

/// One result of [`noncompliant_queries`]: `{"accountId":…, "configuration":{"targetResourceId":…,
/// "configRuleList":[{"configRuleName":…, "complianceType":…}, …]}}` → (account, rule, function) for
/// each of `rules` the item lists NON_COMPLIANT.
pub fn parse_noncompliant(
    text: &str,
    rules: &BTreeSet<String>,
) -> Result<Vec<(String, String, String)>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("a ResourceCompliance item is not JSON ({e})"))?;
    let account = value
        .get("accountId")
        .and_then(Value::as_str)
        .ok_or("a ResourceCompliance item without accountId")?;
    let configuration = value.get("configuration");
    let function = configuration
        .and_then(|c| c.get("targetResourceId"))
        .and_then(Value::as_str)
        .ok_or("a ResourceCompliance item without configuration.targetResourceId")?;
    let list = configuration
        .and_then(|c| c.get("configRuleList"))
        .and_then(Value::as_array)
        .ok_or("a ResourceCompliance item without configuration.configRuleList")?;
    Ok(list
        .iter()
        .filter(|rule| rule.get("complianceType").and_then(Value::as_str) == Some("NON_COMPLIANT"))
        .filter_map(|rule| rule.get("configRuleName").and_then(Value::as_str))
        .filter(|name| rules.contains(*name))
        .map(|name| (account.to_string(), name.to_string(), function.to_string()))
        .collect())
}

/// The most accounts one shard's expression holds in `region` within `limit` characters: each id
/// adds `'123456789012'` and a `, ` separator.
pub fn accounts_per_shard(region: &str, limit: usize) -> usize {
    let base = INVENTORY_SELECT.len().max(ALIAS_SELECT.len())
        + format!(" AND awsRegion = '{region}' AND accountId IN ()").len();
    // n ids: 14·n characters and 2·(n − 1) of separators.
    (limit.saturating_sub(base) + 2) / 16
}

/// The inventory's shards: per region, its accounts in the fewest batches whose expression stays
/// within `limit` characters, the batches as even as possible (5,000 accounts: 21 of ~238).
pub fn plan_shards(accounts_by_region: &BTreeMap<String, BTreeSet<String>>, limit: usize) -> Vec<Shard> {
    let mut shards = Vec::new();
    for (region, accounts) in accounts_by_region {
        if accounts.is_empty() {
            continue;
        }
        let most = accounts_per_shard(region, limit).max(1);
        let batches = accounts.len().div_ceil(most);
        let accounts: Vec<String> = accounts.iter().cloned().collect();
        // Batch i holds accounts [i·n/b, (i+1)·n/b): sizes differ by at most one.
        for index in 0..batches {
            let (start, end) = (
                index * accounts.len() / batches,
                (index + 1) * accounts.len() / batches,
            );
            shards.push(Shard {
                region: region.clone(),
                accounts: accounts[start..end].to_vec(),
            });
        }
    }
    shards
}

/// An organization's shape, for [`planned_calls`].
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub accounts: usize,
    pub regions: usize,
    /// Rules with results in each (account, region), the requested one included.
    pub rules_per_pair: usize,
    /// Functions in each (account, region).
    pub functions_per_pair: usize,
    /// Non-compliant functions in each NON_COMPLIANT (account, region).
    pub noncompliant_per_pair: usize,
    /// (account, region) pairs whose triple is NON_COMPLIANT, spread evenly.
    pub noncompliant_pairs: usize,
    /// Whether the recorders record `AWS::Config::ResourceCompliance`.
    pub resource_compliance_recorded: bool,
}

/// The Config calls gather v2 plans for one organization rule deployed everywhere in an organization of
/// `scale`, when its ARN names the member copies (the usual case: the deployed rule's parameters are
/// read) and the first account listed has the rule in every region: `(operation, calls)`.
pub fn planned_calls(scale: Scale) -> Vec<(&'static str, usize)> {
    let page = DESCRIBE_PAGE_LIMIT as usize;
    let pages = |n: usize, size: usize| n.div_ceil(size).max(1);
    let listing = scale.accounts * scale.regions * scale.rules_per_pair;
    let describe = if listing <= page {
        1
    } else {
        // The first page, the hinted name's listing, the first account's listing, every other name's.
        1 + pages(scale.accounts, page)
            + pages(scale.rules_per_pair * scale.regions, page)
            + (scale.regions - 1) * pages(scale.accounts, page)
    };
    let accounts: BTreeSet<String> = (0..scale.accounts)
        .map(|i| format!("{:012}", 100_000_000_000 + i))
        .collect();
    let by_region: BTreeMap<String, BTreeSet<String>> = (0..scale.regions)
        .map(|r| (format!("region-{r:02}"), accounts.clone()))
        .collect();
    let pairs = scale.accounts * scale.regions;
    let (mut select, mut details) = (0, 0);
    for shard in plan_shards(&by_region, EXPRESSION_LIMIT) {
        select += pages(
            shard.accounts.len() * scale.functions_per_pair,
            PAGE_LIMIT as usize,
        );
        // Per shard the cheaper of one ResourceCompliance query and a details read per NON_COMPLIANT
        // triple (the run's choice, `crate::run`).
        let noncompliant = (scale.noncompliant_pairs * shard.accounts.len()).div_ceil(pairs.max(1));
        if noncompliant == 0 {
            continue;
        }
        let by_details = noncompliant * pages(scale.noncompliant_per_pair, PAGE_LIMIT as usize);
        let by_items = pages(noncompliant * scale.noncompliant_per_pair, PAGE_LIMIT as usize);
        if scale.resource_compliance_recorded && by_items < by_details {
            select += by_items;
        } else {
            details += by_details;
        }
    }
    vec![
        ("config:DescribeOrganizationConfigRules", 1),
        ("config:DescribeAggregateComplianceByConfigRules", describe),
        (
            "config:GetAggregateConfigRuleComplianceSummary",
            usize::from(listing > page),
        ),
        ("config:SelectAggregateResourceConfig", select),
        ("config:GetAggregateComplianceDetailsByConfigRule", details),
    ]
}

/// One result of [`inventory_query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFunction {
    pub account_id: Option<String>,
    pub resource_id: String,
    pub details: FunctionDetails,
}

/// One result of [`inventory_query`]: `{"resourceId":…, "accountId":…, "arn":…, "configuration":{…},
/// "tags":[{key,value}]}`.
pub fn parse_function(text: &str) -> Result<RecordedFunction, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("an advanced-query result is not JSON ({e})"))?;
    let resource_id = value
        .get("resourceId")
        .and_then(Value::as_str)
        .ok_or("an advanced-query result without resourceId")?
        .to_string();
    let configuration = value.get("configuration");
    let text_of = |name: &str| {
        configuration
            .and_then(|c| c.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let architectures = configuration
        .and_then(|c| c.get("architectures"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let tags = match value.get("tags") {
        // Config's advanced query returns tags as [{key, value}]; an item may also carry an object.
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|tag| {
                Some((
                    tag.get("key")?.as_str()?.to_string(),
                    tag.get("value").and_then(Value::as_str).unwrap_or("").to_string(),
                ))
            })
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        _ => BTreeMap::new(),
    };
    let details = FunctionDetails {
        function_arn: value.get("arn").and_then(Value::as_str).map(str::to_string),
        runtime: text_of("runtime"),
        package_type: text_of("packageType"),
        architectures,
        code_last_modified: text_of("lastModified")
            .and_then(|t| lifecycle::dates::parse_lambda_timestamp(&t)),
        tags,
        layers: configuration
            .and_then(|c| c.get("layers"))
            .map(layer_arns)
            .unwrap_or_default(),
    };
    Ok(RecordedFunction {
        account_id: value.get("accountId").and_then(Value::as_str).map(str::to_string),
        resource_id,
        details,
    })
}

/// `configuration.layers` as Config returns it, `[{"arn", "codeSize"}]` (GetFunctionConfiguration's
/// `Layers`); also the object of arrays `{"arn": [...]}` some query engines make of a property inside an
/// array.
fn layer_arns(layers: &Value) -> Vec<String> {
    let mut arns: Vec<String> = match layers {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.get("arn").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        Value::Object(map) => map
            .get("arn")
            .and_then(Value::as_array)
            .map(|arns| {
                arns.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    arns.dedup();
    arns
}

/// One alias of Config's inventory (`AWS::Lambda::Alias`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAlias {
    pub account_id: String,
    /// The function's name (from the alias ARN `arn:aws:lambda:r:a:function:NAME:ALIAS`).
    pub function: String,
    pub name: String,
    /// The version the alias points at (`$LATEST` or a number).
    pub version: String,
    /// A weighted alias's other versions (RoutingConfig.AdditionalVersionWeights).
    pub additional_versions: Vec<String>,
}

/// One result of [`alias_query`]: `{"accountId", "arn", "resourceName", "configuration":
/// {"functionVersion", "name", "routingConfig": {"additionalVersionWeights": {"N": w}}}}`.
pub fn parse_alias(text: &str) -> Result<RecordedAlias, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("an advanced-query result is not JSON ({e})"))?;
    let arn = value
        .get("arn")
        .and_then(Value::as_str)
        .or_else(|| value.get("resourceId").and_then(Value::as_str))
        .ok_or("an alias without arn")?;
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME:ALIAS
    let parts: Vec<&str> = arn.split(':').collect();
    let (function, alias_in_arn) = match parts.as_slice() {
        [_, _, "lambda", _, _, "function", name, alias] => (*name, *alias),
        _ => return Err(format!("{arn:?} is not an alias ARN")),
    };
    let configuration = value.get("configuration");
    let name = configuration
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
        .or_else(|| value.get("resourceName").and_then(Value::as_str))
        .unwrap_or(alias_in_arn)
        .to_string();
    let version = configuration
        .and_then(|c| c.get("functionVersion"))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("alias {arn} without configuration.functionVersion"))?
        .to_string();
    let mut additional_versions: Vec<String> = configuration
        .and_then(|c| c.get("routingConfig"))
        .and_then(|r| r.get("additionalVersionWeights"))
        .and_then(Value::as_object)
        .map(|weights| weights.keys().cloned().collect())
        .unwrap_or_default();
    additional_versions.retain(|v| v != &version);
    let account_id = value
        .get("accountId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| parts.get(4).map(|a| a.to_string()))
        .ok_or("an alias without accountId")?;
    Ok(RecordedAlias {
        account_id,
        function: function.to_string(),
        name,
        version,
        additional_versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_items_name_their_function_and_versions() {
        let alias = parse_alias(
            r#"{"resourceId":"arn:aws:lambda:eu-west-1:111122223333:function:orders:live","accountId":"111122223333",
                "arn":"arn:aws:lambda:eu-west-1:111122223333:function:orders:live","resourceName":"live",
                "configuration":{"functionVersion":"3","name":"live",
                "routingConfig":{"additionalVersionWeights":{"4":0.1}}}}"#,
        )
        .expect("parsed");
        assert_eq!(
            alias,
            RecordedAlias {
                account_id: "111122223333".into(),
                function: "orders".into(),
                name: "live".into(),
                version: "3".into(),
                additional_versions: vec!["4".into()],
            }
        );
        let plain = parse_alias(
            r#"{"accountId":"111122223333","arn":"arn:aws:lambda:eu-west-1:111122223333:function:f:old",
                "configuration":{"functionVersion":"1"}}"#,
        )
        .expect("no routing");
        assert_eq!((plain.name.as_str(), plain.additional_versions.len()), ("old", 0));
        assert!(parse_alias(r#"{"arn":"arn:aws:lambda:r:a:function:f"}"#).is_err());
        assert!(parse_alias(r#"{"arn":"arn:aws:lambda:r:1:function:f:a","configuration":{}}"#).is_err());
        assert!(alias_query("eu-west-1", &["111122223333".into()]).is_ok_and(|q| q.contains(
            "WHERE resourceType = 'AWS::Lambda::Alias' AND awsRegion = 'eu-west-1' AND accountId IN ('111122223333')"
        )));
        assert!(alias_query("eu-west-1", &["1' OR '1".into()]).is_err());
    }

    #[test]
    fn organization_rule_copies_match_their_rule_only() {
        assert!(rule_matches("runtime-lifecycle", "runtime-lifecycle"));
        assert!(rule_matches(
            "runtime-lifecycle",
            "OrgConfigRule-runtime-lifecycle-a1b2c3d4"
        ));
        assert!(!rule_matches(
            "runtime-lifecycle",
            "OrgConfigRule-runtime-lifecycle-"
        ));
        assert!(!rule_matches(
            "runtime",
            "OrgConfigRule-runtime-lifecycle-a1b2c3d4"
        ));
        assert!(!rule_matches("runtime-lifecycle", "runtime-lifecycle-2"));
        assert!(!rule_matches("runtime-lifecycle", "OrgConfigRule-other-a1b2"));
    }

    #[test]
    fn an_organization_rule_arn_suggests_its_member_name() {
        let arn = "arn:aws:config:us-east-1:111122223333:organization-config-rule/runtime-lifecycle-ab12cd34";
        assert_eq!(
            member_name_from_arn("runtime-lifecycle", arn).as_deref(),
            Some("OrgConfigRule-runtime-lifecycle-ab12cd34")
        );
        assert_eq!(
            member_name_from_arn("runtime", arn),
            None,
            "the suffix has no dash"
        );
        assert_eq!(member_name_from_arn("other", arn), None);
        assert_eq!(member_name_from_arn("runtime-lifecycle", "no-slash"), None);
    }

    #[test]
    fn queries_refuse_what_is_not_an_account_or_region() {
        let one = |account: &str| vec![account.to_string()];
        assert!(inventory_query("eu-west-1", &one("111122223333")).is_ok());
        assert!(inventory_query("eu-west-1", &one("1111' OR '1'='1")).is_err());
        assert!(inventory_query("eu-west-1' --", &one("111122223333")).is_err());
        assert!(inventory_query("eu-west-1", &[]).is_err());
        assert_eq!(
            inventory_query("eu-west-1", &["111122223333".into(), "444455556666".into()]).expect("query"),
            "SELECT resourceId, accountId, arn, configuration.runtime, configuration.packageType, \
             configuration.architectures, configuration.lastModified, configuration.layers, tags WHERE resourceType = \
             'AWS::Lambda::Function' AND awsRegion = 'eu-west-1' AND accountId IN ('111122223333', '444455556666')"
        );
    }

    fn account(i: usize) -> String {
        format!("{:012}", 100_000_000_000 + i)
    }

    #[test]
    fn shards_stay_within_the_expression_limit_in_the_fewest_even_batches() {
        for region in ["us-east-1", "ap-southeast-5", "us-gov-west-1"] {
            let most = accounts_per_shard(region, EXPRESSION_LIMIT);
            let ids: Vec<String> = (0..most + 1).map(account).collect();
            let full = inventory_query(region, &ids[..most]).expect("query");
            assert!(full.len() <= EXPRESSION_LIMIT, "{region}: {}", full.len());
            let over = inventory_query(region, &ids).expect("query");
            assert!(over.len() > EXPRESSION_LIMIT, "{region}: {most} is the most");
        }
        // The research's figure: about 240 ids a shard, 21 shards for 5,000 accounts.
        assert!((235..=245).contains(&accounts_per_shard("us-east-1", EXPRESSION_LIMIT)));
        let organization: BTreeSet<String> = (0..5_000).map(account).collect();
        let regions: BTreeMap<String, BTreeSet<String>> = (0..17)
            .map(|r| (format!("region-{r}"), organization.clone()))
            .collect();
        let shards = plan_shards(&regions, EXPRESSION_LIMIT);
        assert_eq!(shards.len(), 17 * 21);
        for shard in &shards {
            assert!(
                (238..=239).contains(&shard.accounts.len()),
                "{}",
                shard.accounts.len()
            );
            assert!(
                inventory_query(&shard.region, &shard.accounts)
                    .expect("query")
                    .len()
                    <= EXPRESSION_LIMIT
            );
        }
        let covered: usize = shards.iter().map(|s| s.accounts.len()).sum();
        assert_eq!(covered, 17 * 5_000, "every (account, region) once");

        let small: BTreeMap<String, BTreeSet<String>> = BTreeMap::from([
            ("eu-west-1".to_string(), (0..3).map(account).collect()),
            ("us-east-1".to_string(), (0..2).map(account).collect()),
            ("us-west-2".to_string(), BTreeSet::new()),
        ]);
        let shards = plan_shards(&small, EXPRESSION_LIMIT);
        assert_eq!(
            shards
                .iter()
                .map(|s| (s.region.as_str(), s.accounts.len()))
                .collect::<Vec<_>>(),
            [("eu-west-1", 3), ("us-east-1", 2)]
        );
        // A limit that holds 3 ids: 7 accounts are 3 shards, as even as possible.
        let limit = inventory_query("eu-west-1", &(0..3).map(account).collect::<Vec<_>>())
            .expect("query")
            .len();
        let seven = BTreeMap::from([("eu-west-1".to_string(), (0..7).map(account).collect())]);
        let shards = plan_shards(&seven, limit);
        assert_eq!(
            shards.iter().map(|s| s.accounts.len()).collect::<Vec<_>>(),
            [2, 2, 3]
        );
    }

    #[test]
    fn the_plan_for_five_thousand_accounts_in_seventeen_regions() {
        // Issue 13's organization: 1 M functions over 85,000 pairs (~12 each), 100 other rules, 30 % of
        // the triples NON_COMPLIANT with a few non-compliant functions each.
        let r1 = Scale {
            accounts: 5_000,
            regions: 17,
            rules_per_pair: 101,
            functions_per_pair: 12,
            noncompliant_per_pair: 3,
            noncompliant_pairs: 25_500,
            resource_compliance_recorded: false,
        };
        let plan: BTreeMap<&str, usize> = planned_calls(r1).into_iter().collect();
        assert_eq!(
            plan["config:DescribeAggregateComplianceByConfigRules"],
            1 + 5 + 2 + 16 * 5
        );
        assert!(plan["config:DescribeAggregateComplianceByConfigRules"] <= 100);
        assert_eq!(plan["config:GetAggregateConfigRuleComplianceSummary"], 1);
        // 357 shards of ~238 accounts × 12 functions = 2,856 → 29 pages each.
        assert_eq!(plan["config:SelectAggregateResourceConfig"], 17 * 21 * 29);
        // ~72 NON_COMPLIANT triples a shard, one details read each.
        assert_eq!(
            plan["config:GetAggregateComplianceDetailsByConfigRule"],
            17 * 21 * 72
        );
        let total: usize = plan.values().sum();
        assert!((35_000..37_000).contains(&total), "{total}");
        // Before: 8,500 unfiltered pages, one query and one details read per pair.
        assert!(total * 4 < 8_500 + 85_000 + 85_000, "{total}");

        // With ResourceCompliance recorded: one query a shard for its 72 × 3 non-compliant functions
        // (3 pages) instead of 72 details reads.
        let recorded: BTreeMap<&str, usize> = planned_calls(Scale {
            resource_compliance_recorded: true,
            ..r1
        })
        .into_iter()
        .collect();
        assert_eq!(
            recorded["config:SelectAggregateResourceConfig"],
            17 * 21 * (29 + 3)
        );
        assert_eq!(recorded["config:GetAggregateComplianceDetailsByConfigRule"], 0);
        let total: usize = recorded.values().sum();
        assert!((11_000..12_000).contains(&total), "{total}");

        // A small organization: the whole listing in one page, one shard a region.
        let small: BTreeMap<&str, usize> = planned_calls(Scale {
            accounts: 4,
            regions: 2,
            rules_per_pair: 1,
            functions_per_pair: 40,
            noncompliant_per_pair: 14,
            noncompliant_pairs: 6,
            resource_compliance_recorded: true,
        })
        .into_iter()
        .collect();
        assert_eq!(small["config:DescribeAggregateComplianceByConfigRules"], 1);
        assert_eq!(small["config:GetAggregateConfigRuleComplianceSummary"], 0);
        // Two pages of functions and one of non-compliant ones a region, instead of three details reads.
        assert_eq!(small["config:SelectAggregateResourceConfig"], 2 * 2 + 2);
        assert_eq!(small["config:GetAggregateComplianceDetailsByConfigRule"], 0);
    }

    #[test]
    fn discovery_knows_which_rules_lack_a_name_in_a_region() {
        let rules = vec!["runtime".to_string(), "other".to_string()];
        let listed = |name: &str, account: &str, region: &str| Listed {
            triple: Triple {
                rule_name: name.into(),
                account_id: account.into(),
                region: region.into(),
            },
            compliance: "COMPLIANT".into(),
            noncompliant: None,
        };
        let mut discovery = Discovery::default();
        discovery.note(
            &rules,
            &[
                listed("OrgConfigRule-runtime-abc", "111111111111", "eu-west-1"),
                listed("OrgConfigRule-runtime-abc", "222222222222", "eu-west-1"),
                listed("unrelated", "111111111111", "us-east-1"),
                listed("other", "333333333333", "us-east-1"),
            ],
        );
        assert_eq!(
            discovery.first_account,
            BTreeMap::from([(0, "111111111111".to_string()), (1, "333333333333".to_string())])
        );
        assert_eq!(discovery.missing_in(&rules, "eu-west-1"), [1]);
        assert_eq!(discovery.missing_in(&rules, "us-east-1"), [0]);
        assert_eq!(discovery.missing_in(&rules, "ap-south-1"), [0, 1]);
        assert_eq!(discovery.names.len(), 2);
    }

    #[test]
    fn resource_compliance_queries_fit_the_limit_and_only_our_failures_count() {
        let rules: BTreeSet<String> = ["OrgConfigRule-lambda-runtime-lifecycle-ab12cd34".to_string()].into();
        let accounts: Vec<String> = (0..240).map(account).collect();
        let queries =
            noncompliant_queries("eu-west-1", &accounts, &rules, EXPRESSION_LIMIT).expect("queries");
        assert_eq!(
            queries.len(),
            2,
            "240 ids do not fit one expression beside the rule names"
        );
        assert!(queries.iter().all(|q| q.len() <= EXPRESSION_LIMIT));
        let listed: usize = queries.iter().map(|q| q.matches("'1000").count()).sum();
        assert_eq!(listed, 240, "every account once");
        assert!(queries[0].contains("configuration.configRuleList.configRuleName IN ('OrgConfigRule-lambda-runtime-lifecycle-ab12cd34')"));
        let few = noncompliant_queries("eu-west-1", &accounts[..3], &rules, EXPRESSION_LIMIT).expect("one");
        assert_eq!(few.len(), 1);
        // Names and ids that are not what they claim never reach the expression.
        let quoted: BTreeSet<String> = ["x') OR (1=1".to_string()].into();
        assert!(noncompliant_queries("eu-west-1", &accounts[..1], &quoted, EXPRESSION_LIMIT).is_err());
        assert!(noncompliant_queries("eu-west-1", &["12".to_string()], &rules, EXPRESSION_LIMIT).is_err());
        assert!(noncompliant_queries("eu-west-1", &[], &rules, EXPRESSION_LIMIT).is_err());

        // The array conditions match element by element independently: an item NON_COMPLIANT for
        // another rule and COMPLIANT for ours comes back too, and is not ours.
        let ours = rules.iter().next().expect("a rule").clone();
        let item = |list: &str| {
            format!(
                r#"{{"accountId":"111122223333","configuration":{{"targetResourceId":"orders","configRuleList":{list}}}}}"#
            )
        };
        let other_failing = item(&format!(
            r#"[{{"configRuleName":"securityhub-x","complianceType":"NON_COMPLIANT"}},{{"configRuleName":"{ours}","complianceType":"COMPLIANT"}}]"#
        ));
        assert_eq!(parse_noncompliant(&other_failing, &rules), Ok(vec![]));
        let failing = item(&format!(
            r#"[{{"configRuleName":"{ours}","complianceType":"NON_COMPLIANT","configRuleArn":"arn"}}]"#
        ));
        assert_eq!(
            parse_noncompliant(&failing, &rules),
            Ok(vec![("111122223333".into(), ours.clone(), "orders".into())])
        );
        assert!(parse_noncompliant("{}", &rules).is_err_and(|e| e.contains("accountId")));
        assert!(parse_noncompliant(r#"{"accountId":"1","configuration":{}}"#, &rules).is_err());
        assert!(parse_noncompliant("not json", &rules).is_err());
    }

    #[test]
    fn advanced_query_results_become_function_details() {
        let function = parse_function(
            r#"{"resourceId":"orders","accountId":"111122223333",
                "arn":"arn:aws:lambda:eu-west-1:111122223333:function:orders",
                "configuration":{"runtime":"python3.9","packageType":"Zip","architectures":["arm64"],
                "lastModified":"2026-11-22T10:15:00.000+0000"},
                "tags":[{"key":"team","value":"payments"}]}"#,
        )
        .expect("parsed");
        let details = &function.details;
        assert_eq!(function.resource_id, "orders");
        assert_eq!(function.account_id.as_deref(), Some("111122223333"));
        assert_eq!(details.runtime.as_deref(), Some("python3.9"));
        assert_eq!(details.architectures, vec!["arm64".to_string()]);
        assert_eq!(
            details.code_last_modified.map(|t| t.to_string()).as_deref(),
            Some("2026-11-22T10:15:00Z")
        );
        assert_eq!(details.tags.get("team").map(String::as_str), Some("payments"));

        let image = parse_function(r#"{"resourceId":"model","configuration":{"packageType":"Image"}}"#)
            .expect("image");
        assert_eq!(
            (
                image.details.runtime,
                image.details.package_type.as_deref(),
                image.account_id
            ),
            (None, Some("Image"), None)
        );
        assert!(parse_function("not json").is_err());
        assert!(parse_function(r#"{"arn":"x"}"#).is_err());
    }
}
