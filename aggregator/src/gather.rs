//! Gathering from AWS: the (rule, account, region) triples and their evaluation results from the
//! Config organization aggregator, the functions' recorded configuration through advanced queries,
//! and the accounts from Organizations. Every call goes through the SDK's paginators and its
//! standard retries (backoff on throttling); what still fails becomes a [`Gap`], never a silent drop.

use std::collections::{BTreeMap, HashMap};

use anyhow::bail;
use aws_sdk_config::Client as ConfigClient;
use aws_sdk_config::error::ProvideErrorMetadata as _;
use aws_sdk_organizations::Client as OrganizationsClient;
use aws_sdk_organizations::types::{AccountState, AccountStatus};
use awsbase::{Action, error_text};
use futures_util::StreamExt;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::row::{AccountDetails, EvaluationRecord, FunctionDetails};

/// Organizations answers a few requests a second; tags are read this many accounts at a time.
const ORGANIZATIONS_CONCURRENCY: usize = 4;
/// The largest page the aggregate compliance and query APIs accept.
const PAGE_LIMIT: i32 = 100;

/// One (rule, account, region) the aggregator holds results for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Triple {
    pub rule_name: String,
    pub account_id: String,
    pub region: String,
}

/// Something the run could not gather; the snapshot is published without it and the summary says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// `triple`, `functions`, `organizations`, `account`.
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
    pub aggregator: String,
}

/// Every AWS action the aggregator calls, with its reason (`cdk/contracts/iam.json`).
pub const ACTIONS: [Action; 14] = [
    Action {
        action: "config:DescribeAggregateComplianceByConfigRules",
        why: "the (rule, account, region) triples of the named rules in the configuration aggregator",
    },
    Action {
        action: "config:GetAggregateComplianceDetailsByConfigRule",
        why: "every evaluation result of each triple",
    },
    Action {
        action: "config:SelectAggregateResourceConfig",
        why: "runtime, package type, architectures, last modified and tags of the functions (advanced query)",
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
        why: "the OU tree, one call per OU",
    },
    Action {
        action: "organizations:ListAccountsForParent",
        why: "account names and states, one call per OU",
    },
    Action {
        action: "organizations:ListTagsForResource",
        why: "account tags (ownership columns)",
    },
    Action {
        action: "s3:PutObject",
        why: "the snapshot (multipart upload: create, upload parts, complete) and its summary",
    },
    Action {
        action: "s3:AbortMultipartUpload",
        why: "a failed run leaves no partial upload behind",
    },
    Action {
        action: "s3:GetObject",
        why: "the day's existing summary (GetObject, HeadObject): a snapshot never replaces a better one",
    },
    Action {
        action: "s3:DeleteObject",
        why: "a failed publish removes the summary it wrote first, when there was none before",
    },
    Action {
        action: "s3:ListBucket",
        why: "under the snapshots' prefix only: without it S3 answers a missing summary with 403, not 404 (GetObject API reference)",
    },
];

/// A rule's `InputParameters` as deployed, and where they were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployedParameters {
    /// `organization rule NAME` or `Config rule NAME`.
    pub source: String,
    /// The JSON as deployed (empty: every default).
    pub value: String,
}

impl Gatherer {
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

    /// Every triple of the requested rules, sorted. An unknown aggregator or a denied call is an
    /// error: without the triples there is nothing to report.
    pub async fn triples(&self, rules: &[String]) -> anyhow::Result<Vec<Triple>> {
        let mut pages = self
            .config
            .describe_aggregate_compliance_by_config_rules()
            .configuration_aggregator_name(&self.aggregator)
            .limit(1000)
            .into_paginator()
            .send();
        let mut triples = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                anyhow::anyhow!(
                    "listing the rules of configuration aggregator {}: {}",
                    self.aggregator,
                    error_text(&e)
                )
            })?;
            for entry in page.aggregate_compliance_by_config_rules() {
                let (Some(name), Some(account), Some(region)) =
                    (entry.config_rule_name(), entry.account_id(), entry.aws_region())
                else {
                    continue;
                };
                if rules.iter().any(|wanted| rule_matches(wanted, name)) {
                    triples.push(Triple {
                        rule_name: name.to_string(),
                        account_id: account.to_string(),
                        region: region.to_string(),
                    });
                }
            }
        }
        triples.sort();
        triples.dedup();
        Ok(triples)
    }

    /// Every evaluation result of one triple (COMPLIANT and NON_COMPLIANT: the aggregate API
    /// returns no others).
    pub async fn evaluations(&self, triple: &Triple) -> Result<Vec<EvaluationRecord>, String> {
        let mut pages = self
            .config
            .get_aggregate_compliance_details_by_config_rule()
            .configuration_aggregator_name(&self.aggregator)
            .config_rule_name(&triple.rule_name)
            .account_id(&triple.account_id)
            .aws_region(&triple.region)
            .limit(PAGE_LIMIT)
            .into_paginator()
            .send();
        let mut records = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error_text(&e))?;
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
        }
        Ok(records)
    }

    /// The Lambda functions Config recorded in one account and region, by resource id (the
    /// function name), through the aggregator's advanced query.
    pub async fn functions(
        &self,
        account: &str,
        region: &str,
    ) -> Result<HashMap<String, FunctionDetails>, String> {
        let expression = function_query(account, region)?;
        let mut pages = self
            .config
            .select_aggregate_resource_config()
            .configuration_aggregator_name(&self.aggregator)
            .expression(expression)
            .limit(PAGE_LIMIT)
            .into_paginator()
            .send();
        let mut functions = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error_text(&e))?;
            for text in page.results() {
                let (resource_id, details) = parse_function(text)?;
                functions.insert(resource_id, details);
            }
        }
        Ok(functions)
    }

    /// The organization's accounts with their OU path and tags. Walks the tree from the root (one
    /// call per OU, not per account), then reads tags a few accounts at a time.
    pub async fn accounts(&self) -> anyhow::Result<Organization> {
        let pages = self
            .organizations
            .list_roots()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| anyhow::anyhow!("listing the organization's roots: {}", error_text(&e)))?;
        let mut pending: Vec<(String, String)> = pages
            .iter()
            .flat_map(|page| page.roots())
            .filter_map(|root| Some((root.id()?.to_string(), root.name().unwrap_or("Root").to_string())))
            .collect();
        let mut accounts = Vec::new();
        while let Some((parent, path)) = pending.pop() {
            let pages = self
                .organizations
                .list_organizational_units_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| anyhow::anyhow!("listing the OUs under {path}: {}", error_text(&e)))?;
            for unit in pages.iter().flat_map(|page| page.organizational_units()) {
                if let Some(id) = unit.id() {
                    pending.push((id.to_string(), format!("{path}/{}", unit.name().unwrap_or(id))));
                }
            }
            let pages = self
                .organizations
                .list_accounts_for_parent()
                .parent_id(&parent)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| anyhow::anyhow!("listing the accounts in {path}: {}", error_text(&e)))?;
            for account in pages.iter().flat_map(|page| page.accounts()) {
                let Some(id) = account.id() else { continue };
                accounts.push(OrganizationAccount {
                    id: id.to_string(),
                    state: account_state(account),
                    details: AccountDetails {
                        name: account.name().map(str::to_string),
                        ou_path: Some(path.clone()),
                        tags: BTreeMap::new(),
                    },
                });
            }
        }
        let tagged: Vec<(OrganizationAccount, Option<String>)> =
            futures_util::stream::iter(accounts.into_iter().map(|mut account| async move {
                match self.account_tags(&account.id).await {
                    Ok(tags) => {
                        account.details.tags = tags;
                        (account, None)
                    }
                    Err(reason) => (account, Some(reason)),
                }
            }))
            .buffer_unordered(ORGANIZATIONS_CONCURRENCY)
            .collect()
            .await;
        let mut organization = Organization::default();
        for (account, failure) in tagged {
            if let Some(reason) = failure {
                organization.gaps.push(Gap {
                    kind: "account",
                    rule_name: None,
                    account_id: Some(account.id.clone()),
                    region: None,
                    reason: format!("account tags: {reason}"),
                });
            }
            organization.accounts.insert(account.id.clone(), account);
        }
        Ok(organization)
    }

    async fn account_tags(&self, account: &str) -> Result<BTreeMap<String, String>, String> {
        let pages = self
            .organizations
            .list_tags_for_resource()
            .resource_id(account)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| error_text(&e))?;
        Ok(pages
            .iter()
            .flat_map(|page| page.tags())
            .map(|tag| (tag.key.clone(), tag.value.clone()))
            .collect())
    }
}

/// An account as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationAccount {
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`, …
    pub state: String,
    pub details: AccountDetails,
}

#[derive(Debug, Default)]
pub struct Organization {
    pub accounts: BTreeMap<String, OrganizationAccount>,
    pub gaps: Vec<Gap>,
}

/// The account's state: `State` where Organizations sends it (`Status` was retired on 2026-09-09),
/// else the older `Status`.
#[allow(deprecated)]
fn account_state(account: &aws_sdk_organizations::types::Account) -> String {
    if let Some(state) = account.state() {
        return match state {
            AccountState::Active => "ACTIVE".into(),
            other => other.as_str().to_string(),
        };
    }
    match account.status() {
        Some(AccountStatus::Active) => "ACTIVE".into(),
        Some(other) => other.as_str().to_string(),
        None => "UNKNOWN".into(),
    }
}

/// The advanced query for one account's and region's functions. Account ids and region names are
/// checked before they go into the expression (it is SQL).
pub fn function_query(account: &str, region: &str) -> Result<String, String> {
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{account:?} is not an AWS account id"));
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("{region:?} is not an AWS region name"));
    }
    Ok(format!(
        "SELECT resourceId, arn, configuration.runtime, configuration.packageType, \
         configuration.architectures, configuration.lastModified, tags \
         WHERE resourceType = 'AWS::Lambda::Function' AND accountId = '{account}' AND awsRegion = '{region}'"
    ))
}

/// One result of [`function_query`]: `{"resourceId":…, "arn":…, "configuration":{…}, "tags":[{key,value}]}`.
pub fn parse_function(text: &str) -> Result<(String, FunctionDetails), String> {
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
    };
    Ok((resource_id, details))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn queries_refuse_what_is_not_an_account_or_region() {
        assert!(function_query("111122223333", "eu-west-1").is_ok());
        assert!(function_query("1111' OR '1'='1", "eu-west-1").is_err());
        assert!(function_query("111122223333", "eu-west-1' --").is_err());
    }

    #[test]
    fn advanced_query_results_become_function_details() {
        let (id, details) = parse_function(
            r#"{"resourceId":"orders","arn":"arn:aws:lambda:eu-west-1:111122223333:function:orders",
                "configuration":{"runtime":"python3.9","packageType":"Zip","architectures":["arm64"],
                "lastModified":"2026-11-22T10:15:00.000+0000"},
                "tags":[{"key":"team","value":"payments"}]}"#,
        )
        .expect("parsed");
        assert_eq!(id, "orders");
        assert_eq!(details.runtime.as_deref(), Some("python3.9"));
        assert_eq!(details.architectures, vec!["arm64".to_string()]);
        assert_eq!(
            details.code_last_modified.map(|t| t.to_string()).as_deref(),
            Some("2026-11-22T10:15:00Z")
        );
        assert_eq!(details.tags.get("team").map(String::as_str), Some("payments"));

        let (_, image) = parse_function(r#"{"resourceId":"model","configuration":{"packageType":"Image"}}"#)
            .expect("image");
        assert_eq!(
            (image.runtime, image.package_type.as_deref()),
            (None, Some("Image"))
        );
        assert!(parse_function("not json").is_err());
        assert!(parse_function(r#"{"arn":"x"}"#).is_err());
    }
}
