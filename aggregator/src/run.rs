//! One aggregator run: gather the triples, then per (account, region) the recorded functions and each
//! triple's evaluation results, a bounded number at a time, encoding rows as they arrive and uploading
//! the Parquet in parts; publish the day's snapshot and its summary only when everything is written.
//!
//! What cannot be gathered (a throttled-out triple, a denied query, Organizations unavailable) becomes a
//! gap in the summary and the run still publishes what it has; a failure to *write* aborts the upload
//! so nothing new appears under `evaluations/`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client as S3Client;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use jiff::Timestamp;
use jiff::civil::Date;
use lifecycle::{Catalog, Policy};
use serde::Serialize;

use crate::gather::{DeployedParameters, Gap, Gatherer, Organization, Triple};
use crate::output::{Output, PART_BYTES, Upload};
use crate::row::{Row, RunContext};
use crate::sink::Encoder;

/// (account, region) groups gathered at once: each holds its functions' details in memory, so this
/// bounds memory as much as it bounds the request rate.
pub const DEFAULT_CONCURRENCY: u16 = 8;

/// What to gather and where to write it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Rule names as deployed; an organization rule matches its member copies `OrgConfigRule-<name>-…`.
    pub rules: Vec<String>,
    pub output: Output,
    pub snapshot_date: Date,
    /// The rule's parameters JSON, given explicitly: overrides the deployed rule's (which are read
    /// otherwise, so `days_to_fail` counts towards the day the deployed rule fails a runtime).
    pub rule_parameters: Option<String>,
    pub concurrency: usize,
    pub run_id: String,
}

/// The clients a run uses.
pub struct Services {
    pub gatherer: Gatherer,
    pub s3: Option<S3Client>,
}

/// An account the run reports on instead of dropping silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountNote {
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    pub state: String,
}

/// Written beside the snapshot as `_summary.json`, printed by the CLI, returned by the Lambda.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    pub snapshot_date: String,
    pub collected_at: String,
    pub location: String,
    pub rows: usize,
    pub compliance: BTreeMap<String, usize>,
    pub accounts: usize,
    pub regions: Vec<String>,
    pub rules: Vec<String>,
    pub triples: usize,
    pub triples_failed: usize,
    /// Rows whose function Config's advanced query did not return (deleted since, or not recorded).
    pub rows_without_function_details: usize,
    /// Accounts of the organization that are not ACTIVE (suspended, closing): Config cannot
    /// aggregate them, so they have no rows.
    pub inactive_accounts: Vec<AccountNote>,
    /// ACTIVE accounts with no results for the rules: not deployed there, or not reachable by the
    /// aggregator (check its source status).
    pub accounts_without_results: Vec<AccountNote>,
    /// The rule parameters the lifecycle columns were computed with, and where they came from.
    pub rule_parameters: DeployedParameters,
    pub gaps: Vec<Gap>,
    /// True when nothing was missing: no gaps.
    pub complete: bool,
    pub duration_ms: u64,
}

impl Summary {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Rows of one (account, region) group, and what could not be gathered for it.
struct Group {
    rows: Vec<Row>,
    gaps: Vec<Gap>,
    triples_failed: usize,
}

/// The policy the lifecycle columns use: the explicit override, else the deployed rule's parameters
/// (every named rule must agree, or the user must choose with an override).
async fn rule_policy(gatherer: &Gatherer, request: &Request) -> anyhow::Result<(Policy, DeployedParameters)> {
    let parameters = match &request.rule_parameters {
        Some(value) => DeployedParameters {
            source: "--rule-parameters (override)".into(),
            value: value.clone(),
        },
        None => {
            let mut found: Option<DeployedParameters> = None;
            for rule in &request.rules {
                let deployed = gatherer.deployed_rule_parameters(rule).await?;
                if let Some(first) = &found
                    && Policy::from_rule_parameters(Some(&first.value))
                        != Policy::from_rule_parameters(Some(&deployed.value))
                {
                    bail!(
                        "{} and {} have different parameters; choose the ones for the report with --rule-parameters",
                        first.source,
                        deployed.source
                    );
                }
                found.get_or_insert(deployed);
            }
            found.context("no rule names given")?
        }
    };
    let policy = Policy::from_rule_parameters(Some(&parameters.value))
        .with_context(|| format!("the parameters of {}", parameters.source))?;
    Ok((policy, parameters))
}

/// Runs once; returns the summary of the published snapshot. An error means nothing was published.
pub async fn run(
    services: &Services,
    request: &Request,
    catalog: &Catalog,
    progress: &ProgressBar,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    if request.rules.is_empty() {
        bail!("no rule names given");
    }
    let collected_at = Timestamp::now();
    let gatherer = &services.gatherer;
    let (policy, rule_parameters) = rule_policy(gatherer, request).await?;
    let triples = gatherer.triples(&request.rules).await?;
    if triples.is_empty() {
        bail!(
            "configuration aggregator {} has no results for rule(s) {} (organization rules appear as \
             OrgConfigRule-<name>-<suffix>; give the name used when deploying)",
            gatherer.aggregator,
            request.rules.join(", ")
        );
    }
    let organization = gatherer.accounts().await.unwrap_or_else(|error| {
        tracing::warn!(error = %format!("{error:#}"), "account details unavailable");
        Organization {
            gaps: vec![Gap {
                kind: "organizations",
                rule_name: None,
                account_id: None,
                region: None,
                reason: format!("{error:#}"),
            }],
            ..Organization::default()
        }
    });
    let context = RunContext {
        collected_at,
        ..RunContext::new(catalog, &policy, request.snapshot_date, &request.run_id)
    };

    let mut groups: BTreeMap<(String, String), Vec<Triple>> = BTreeMap::new();
    for triple in &triples {
        groups
            .entry((triple.account_id.clone(), triple.region.clone()))
            .or_default()
            .push(triple.clone());
    }
    progress.set_length(triples.len() as u64);

    let mut upload = request
        .output
        .begin(services.s3.as_ref(), request.snapshot_date, &request.run_id)
        .await?;
    let written = write_groups(
        &mut upload,
        groups,
        gatherer,
        &organization,
        &context,
        request.concurrency.max(1),
        progress,
    )
    .await;
    let tally = match written {
        Ok(tally) if tally.triples_failed == triples.len() => {
            // Publishing an empty snapshot would replace the day's good one with nothing.
            upload.abort().await;
            let first = tally
                .gaps
                .iter()
                .find(|g| g.kind == "triple")
                .map_or("", |g| g.reason.as_str());
            bail!(
                "no evaluation results could be read for any of the {} (rule, account, region) triples \
                 (first error: {first}); nothing was published",
                triples.len()
            );
        }
        Ok(tally) => tally,
        Err(error) => {
            upload.abort().await;
            return Err(error.context("nothing was published"));
        }
    };
    upload
        .commit()
        .await
        .context("publishing the snapshot (nothing was published)")?;

    let mut gaps = organization.gaps.clone();
    gaps.extend(tally.gaps);
    let mut summary = Summary {
        run_id: request.run_id.clone(),
        snapshot_date: request.snapshot_date.to_string(),
        collected_at: collected_at.to_string(),
        location: request.output.snapshot_location(request.snapshot_date),
        rows: tally.rows,
        compliance: tally.compliance,
        accounts: tally.accounts.len(),
        regions: tally.regions.into_iter().collect(),
        rules: triples
            .iter()
            .map(|t| t.rule_name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        triples: triples.len(),
        triples_failed: tally.triples_failed,
        rows_without_function_details: tally.without_details,
        inactive_accounts: Vec::new(),
        accounts_without_results: Vec::new(),
        complete: false,
        rule_parameters,
        gaps,
        duration_ms: 0,
    };
    let with_results: BTreeSet<&str> = triples.iter().map(|t| t.account_id.as_str()).collect();
    for account in organization.accounts.values() {
        let note = AccountNote {
            account_id: account.id.clone(),
            account_name: account.details.name.clone(),
            state: account.state.clone(),
        };
        if account.state != "ACTIVE" {
            summary.inactive_accounts.push(note);
        } else if !with_results.contains(account.id.as_str()) {
            summary.accounts_without_results.push(note);
        }
    }
    summary.complete = summary.gaps.is_empty();
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    request
        .output
        .put_summary(services.s3.as_ref(), request.snapshot_date, &summary.to_json())
        .await
        .context("the snapshot is published, but its summary could not be written")?;
    Ok(summary)
}

#[derive(Default)]
struct Tally {
    rows: usize,
    compliance: BTreeMap<String, usize>,
    accounts: BTreeSet<String>,
    regions: BTreeSet<String>,
    without_details: usize,
    triples_failed: usize,
    gaps: Vec<Gap>,
}

/// Gathers the groups a bounded number at a time and streams their rows into the upload.
async fn write_groups(
    upload: &mut Upload,
    groups: BTreeMap<(String, String), Vec<Triple>>,
    gatherer: &Gatherer,
    organization: &Organization,
    context: &RunContext<'_>,
    concurrency: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Tally> {
    let mut encoder = Encoder::new()?;
    let mut tally = Tally::default();
    let mut gathered = futures_util::stream::iter(groups.into_iter().map(|((account, region), triples)| {
        gather_group(
            gatherer,
            organization,
            context,
            (account, region),
            triples,
            progress,
        )
    }))
    .buffer_unordered(concurrency);
    while let Some(group) = gathered.next().await {
        tally.triples_failed += group.triples_failed;
        tally.gaps.extend(group.gaps);
        for row in group.rows {
            tally.rows += 1;
            *tally.compliance.entry(row.compliance_type.clone()).or_default() += 1;
            tally.accounts.insert(row.account_id.clone());
            tally.regions.insert(row.region.clone());
            tally.without_details += usize::from(row.function_arn.is_none() && row.runtime.is_none());
            encoder.push(row)?;
        }
        progress.set_message(format!("{} rows", tally.rows));
        if let Some(part) = encoder.take(PART_BYTES) {
            upload.write(part).await?;
        }
    }
    let (last, rows) = encoder.finish()?;
    debug_assert_eq!(rows, tally.rows);
    upload.write(last).await?;
    progress.finish_with_message(format!("{} rows", tally.rows));
    Ok(tally)
}

async fn gather_group(
    gatherer: &Gatherer,
    organization: &Organization,
    context: &RunContext<'_>,
    (account, region): (String, String),
    triples: Vec<Triple>,
    progress: &ProgressBar,
) -> Group {
    let mut group = Group {
        rows: Vec::new(),
        gaps: Vec::new(),
        triples_failed: 0,
    };
    let functions = gatherer
        .functions(&account, &region)
        .await
        .unwrap_or_else(|reason| {
            group.gaps.push(Gap {
                kind: "functions",
                rule_name: None,
                account_id: Some(account.clone()),
                region: Some(region.clone()),
                reason,
            });
            Default::default()
        });
    let account_details = organization.accounts.get(&account).map(|a| &a.details);
    for triple in triples {
        let evaluations = gatherer.evaluations(&triple).await;
        progress.inc(1);
        match evaluations {
            Ok(records) => group.rows.extend(
                records
                    .iter()
                    .map(|record| context.row(record, functions.get(&record.resource_id), account_details)),
            ),
            Err(reason) => {
                tracing::warn!(rule = %triple.rule_name, account = %account, region = %region, %reason, "triple failed");
                group.triples_failed += 1;
                group.gaps.push(Gap {
                    kind: "triple",
                    rule_name: Some(triple.rule_name),
                    account_id: Some(account.clone()),
                    region: Some(region.clone()),
                    reason,
                });
            }
        }
    }
    group
}
