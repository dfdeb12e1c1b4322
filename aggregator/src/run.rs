//! One aggregator run: gather the triples (and, at the same time, one slice of the organization's
//! accounts), then per inventory shard (a region × a batch of accounts) the recorded functions and the
//! NON_COMPLIANT results of its NON_COMPLIANT triples, a bounded number of shards at a time, encoding
//! rows as they arrive and uploading the Parquet in parts; publish the day's snapshot and its summary
//! only when everything is written. The calls and their arithmetic: [`crate::gather`], README
//! "The aggregator".
//!
//! What cannot be gathered (a throttled-out triple, a denied query, Organizations unavailable) becomes a
//! gap in the summary and the run still publishes what it has; a failure to *write* aborts the upload
//! so nothing new appears under `evaluations/`.
//!
//! Publishing policy: a snapshot never replaces the day's existing one when that one has more rows or
//! fewer gaps (as its `_summary.json` says), unless the request forces it ([`Request::replace_worse`]);
//! the summary's `publication` says what was kept and why. The new summary is written before the
//! snapshot is published, and put back as it was if publishing fails, so a snapshot never stands
//! beside another run's summary.
//!
//! Resuming: each shard gathered without a gap is checkpointed as it completes; a run killed midway and
//! started again for the same date reads those back instead of gathering them again, and removes them
//! once it has published ([`crate::checkpoint`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client as S3Client;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use jiff::Timestamp;
use jiff::civil::Date;
use lifecycle::{Catalog, Policy};
use serde::{Deserialize, Serialize};

use crate::api::RateLimits;
use crate::checkpoint::{Checkpoints, RunKey, ShardKey};
use crate::gather::{
    DeployedParameters, EXPRESSION_LIMIT, Gap, Gatherer, Listed, NonCompliant, Shard, Triple,
    noncompliant_queries, plan_shards,
};
use crate::organization::{Cache, CacheReport, Organization};
use crate::output::{Output, PART_BYTES, Upload};
use crate::row::{EvaluationRecord, FunctionDetails, Recomputed, Row, RunContext};
use crate::sink::Encoder;

/// Inventory shards (a region × up to ~240 accounts) gathered at once: each holds its functions'
/// details in memory, so this bounds memory as much as it bounds the request rate (which the
/// per-API rate limits hold below the quotas).
pub const DEFAULT_CONCURRENCY: u16 = 8;

/// Exit status of `aggregator run` (README "The aggregator", `aggregator run --help`).
pub mod exit {
    /// Published, complete: no gaps.
    pub const COMPLETE: u8 = 0;
    /// Failed: nothing was published (the day's earlier snapshot and summary, if any, are intact).
    pub const FAILED: u8 = 1;
    /// Published with gaps, listed in the summary's `gaps`.
    pub const GAPS: u8 = 2;
    /// Not published: the day's existing snapshot is better (more rows or fewer gaps); the summary's
    /// `publication` says why. `--replace-worse` publishes anyway.
    pub const KEPT_EXISTING: u8 = 3;
    /// Usage error (bad flag or value, a past date without `--backfill`): nothing was called or written.
    /// 64 is sysexits' EX_USAGE.
    pub const USAGE: u8 = 64;
}

/// The snapshot date of a run: today (UTC) unless a backfill of an earlier day is asked for.
/// Returns the date and whether the run is a backfill; the error is a usage error.
pub fn snapshot_date(requested: Option<Date>, backfill: bool, today: Date) -> Result<(Date, bool), String> {
    let date = requested.unwrap_or(today);
    if date > today {
        return Err(format!(
            "snapshot date {date} is in the future (today is {today} UTC)"
        ));
    }
    if date < today && !backfill {
        return Err(format!(
            "snapshot date {date} is not today ({today} UTC): the evaluations are today's, so writing them \
             into an earlier day's partition is a backfill and must be asked for (--backfill, or \
             \"backfill\": true in the Lambda's event)"
        ));
    }
    Ok((date, date < today))
}

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
    /// Calls per second to each API family ([`crate::api`]).
    pub rate_limits: RateLimits,
    /// The snapshot date is an earlier day than today: labelled in the summary and in the rows'
    /// `run_id` (`backfill-…`).
    pub backfill: bool,
    /// Publish even when the day's existing snapshot has more rows or fewer gaps.
    pub replace_worse: bool,
}

impl Request {
    /// The run id the rows and the summary carry: `backfill-<id>` for a backfill.
    pub fn labelled_run_id(&self) -> String {
        if self.backfill {
            format!("backfill-{}", self.run_id)
        } else {
            self.run_id.clone()
        }
    }
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
    /// Functions of the inventory, in an (account, region) with the rule's results, that the catalog fails
    /// today and Config holds no result for (not evaluated yet, e.g. created since the rule last ran):
    /// INSUFFICIENT_DATA rows, since Config has not decided them.
    pub functions_not_evaluated: usize,
    /// NON_COMPLIANT triples whose non-compliant functions came from Config's ResourceCompliance items
    /// (one query per shard) rather than a details read per triple; their rows carry the rule's
    /// recomputed annotation and no result time.
    pub triples_from_resource_compliance: usize,
    /// Whether that path was taken: `not needed` (no shard reads fewer calls that way), `recorded`, or
    /// `not recorded` when a probe found no item where the listing counts NON_COMPLIANT functions (the
    /// recorders exclude AWS::Config::ResourceCompliance) — every NON_COMPLIANT triple was then read
    /// through the details API.
    pub resource_compliance: &'static str,
    /// Accounts of the organization that are not ACTIVE (suspended, closing): Config cannot
    /// aggregate them, so they have no rows.
    pub inactive_accounts: Vec<AccountNote>,
    /// ACTIVE accounts with no results for the rules: not deployed there, or not reachable by the
    /// aggregator (check its source status).
    pub accounts_without_results: Vec<AccountNote>,
    /// The rule parameters the lifecycle columns were computed with, and where they came from.
    pub rule_parameters: DeployedParameters,
    /// The catalog the lifecycle columns come from: its `updated_at`, and the SSM overlay applied (the
    /// rule's catalogSsmParameter), if any.
    pub catalog_updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_overlay: Option<String>,
    pub gaps: Vec<Gap>,
    /// True when nothing was missing: no gaps.
    pub complete: bool,
    /// The snapshot date is an earlier day than the run's: today's evaluations with lifecycle
    /// columns computed for that date.
    pub backfill: bool,
    /// Whether this run's snapshot was published, and why (what was kept).
    pub publication: Publication,
    /// Inventory shards (SelectAggregateResourceConfig chains: a region × a batch of accounts).
    pub inventory_shards: usize,
    /// `AWS::Lambda::Version` rows: published versions behind aliases ([`crate::enrich`]).
    pub versions: usize,
    /// What the enrichment read (or why it is off), and its call bounds.
    pub enrichment: crate::enrich::Report,
    /// Of them, read from the checkpoints of an interrupted run of the same date this run resumed
    /// ([`crate::checkpoint`]) instead of gathered again.
    pub shards_resumed: usize,
    /// Every call of the run by `service:Operation`, as the services received them: each attempt, the
    /// SDK's retries included ([`crate::api`]). S3 calls up to the summary's own PutObject (the
    /// snapshot's CompleteMultipartUpload and the account cache's PutObject come after it).
    pub api_calls_by_operation: BTreeMap<String, u64>,
    pub api_calls: u64,
    /// Calls per second the run was held to.
    pub rate_limits: RateLimitsSummary,
    /// The organization's accounts: what the cache held and what this run refreshed.
    pub organization_cache: CacheReport,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimitsSummary {
    pub config_per_second: f64,
    pub organizations_per_second: f64,
}

/// What a run did with the day's partition.
#[derive(Debug, Clone, Serialize)]
pub struct Publication {
    pub published: bool,
    /// `new` (this run's snapshot is in place) or `existing` (the day's earlier snapshot was kept).
    pub kept: &'static str,
    pub reason: String,
    /// The day's snapshot before this run, as its summary described it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<Quality>,
}

/// How good a snapshot is, as the publishing policy compares them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quality {
    pub run_id: Option<String>,
    pub rows: usize,
    pub gaps: usize,
}

impl Quality {
    /// From a `_summary.json`; None when it cannot be read as one.
    pub fn from_summary(json: &str) -> Option<Quality> {
        #[derive(Deserialize)]
        struct Stored {
            run_id: Option<String>,
            rows: usize,
            gaps: Vec<serde_json::Value>,
        }
        let stored: Stored = serde_json::from_str(json).ok()?;
        Some(Quality {
            run_id: stored.run_id,
            rows: stored.rows,
            gaps: stored.gaps.len(),
        })
    }

    /// Why `self` (the new snapshot) must not replace `existing`, or None when it may.
    pub fn worse_than(&self, existing: &Quality) -> Option<String> {
        let mut why = Vec::new();
        if self.rows < existing.rows {
            why.push(format!("fewer rows ({} < {})", self.rows, existing.rows));
        }
        if self.gaps > existing.gaps {
            why.push(format!("more gaps ({} > {})", self.gaps, existing.gaps));
        }
        (!why.is_empty()).then(|| why.join(" and "))
    }
}

impl Summary {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The CLI's exit status for this run ([`exit`]).
    pub fn exit_code(&self) -> u8 {
        if !self.publication.published {
            exit::KEPT_EXISTING
        } else if self.complete {
            exit::COMPLETE
        } else {
            exit::GAPS
        }
    }
}

/// Rows of one shard, and what could not be gathered for it.
struct Group {
    rows: Vec<Row>,
    gaps: Vec<Gap>,
    triples_failed: usize,
    /// Functions in a triple with results that Config holds no result for (not evaluated yet).
    not_evaluated: usize,
    /// NON_COMPLIANT triples read from ResourceCompliance items.
    from_resource_compliance: usize,
}

/// The policy the lifecycle columns use: the explicit override, else the deployed rule's parameters
/// (every named rule must agree, or the user must choose with an override). Also returns the member
/// names the organization rules' ARNs suggest (hints for the triple listing).
async fn rule_policy(
    gatherer: &Gatherer,
    request: &Request,
) -> anyhow::Result<(Policy, DeployedParameters, Vec<String>)> {
    let mut hints = Vec::new();
    let parameters = match &request.rule_parameters {
        Some(value) => DeployedParameters {
            source: "--rule-parameters (override)".into(),
            value: value.clone(),
            member_name: None,
        },
        None => {
            let mut found: Option<DeployedParameters> = None;
            for rule in &request.rules {
                let deployed = gatherer.deployed_rule_parameters(rule).await?;
                hints.extend(deployed.member_name.clone());
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
    Ok((policy, parameters, hints))
}

/// Runs once; returns the summary of the run (published, or the day's better snapshot kept: see
/// [`Summary::publication`]). An error means nothing was published.
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
    let run_id = request.labelled_run_id();
    let gatherer = &services.gatherer;
    let (policy, rule_parameters, hints) = rule_policy(gatherer, request).await?;
    // The catalog the rule judged with: this one with the overlay its catalogSsmParameter names, read as
    // the rule reads it, so that Athena's lifecycle columns and Config's verdicts agree. Unreadable or
    // invalid: a `catalog` gap (the columns then come from the catalog without the overlay).
    let overlaid;
    let mut catalog_gap = None;
    let catalog = match &policy.catalog_ssm_parameter {
        None => catalog,
        Some(name) => match gatherer.catalog_overlay(name).await.and_then(|text| {
            catalog
                .with_overlay(&text)
                .map_err(|e| format!("SSM parameter {name}: {e}"))
        }) {
            Ok(merged) => {
                overlaid = merged;
                &overlaid
            }
            Err(reason) => {
                catalog_gap = Some(Gap {
                    kind: "catalog",
                    rule_name: None,
                    account_id: None,
                    region: None,
                    reason,
                });
                catalog
            }
        },
    };
    // What makes this run the same as an interrupted one (whose finished shards it then reads back).
    let run_key = RunKey::new(
        request.snapshot_date,
        &gatherer.aggregator,
        &request.rules,
        &rule_parameters.value,
        catalog,
    );
    let mut checkpoints = Checkpoints::open(
        &request.output,
        services.s3.as_ref(),
        request.snapshot_date,
        run_key,
    )
    .await;
    let resumed = checkpoints.organization().await;
    // The triples and one slice of the accounts at the same time: they use different quotas. A resumed
    // run takes the accounts as the interrupted run refreshed them.
    let accounts = async {
        if let Some(resumed) = resumed {
            return (
                resumed.organization,
                resumed.cache,
                resumed.keep_stored_cache,
                true,
            );
        }
        // A cache that could not be read (S3 unreachable, denied) is not replaced by this run's mostly
        // empty one: a week of slices would be lost. One that is not this version's is read afresh.
        let mut keep_stored_cache = false;
        let loaded = match request.output.get_cache(services.s3.as_ref()).await {
            Ok(None) => Ok(None),
            Ok(Some(text)) => match Cache::parse(&text) {
                Some(cache) => Ok(Some(cache)),
                None => Err("the account cache is not one this version reads: read afresh".to_string()),
            },
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "account cache unavailable: read afresh");
                keep_stored_cache = true;
                Err(format!(
                    "the account cache could not be read ({error:#}): read afresh"
                ))
            }
        };
        let (organization, cache) = crate::organization::refresh(&gatherer.organizations, loaded).await;
        (organization, cache, keep_stored_cache, false)
    };
    let (listed, (organization, cache, keep_stored_cache, organization_resumed)) =
        tokio::join!(gatherer.triples(&request.rules, &hints), accounts);
    let listed = listed?;
    if listed.is_empty() {
        bail!(
            "configuration aggregator {} has no results for rule(s) {} (organization rules appear as \
             OrgConfigRule-<name>-<suffix>; give the name used when deploying)",
            gatherer.aggregator,
            request.rules.join(", ")
        );
    }
    let context =
        RunContext::new(catalog, &policy, request.snapshot_date, &run_id).collected_at(collected_at);

    // Every listed triple's functions get rows; only triples with results are read (the others,
    // INSUFFICIENT_DATA, have nothing to read: their functions are INSUFFICIENT_DATA or NOT_APPLICABLE).
    let mut by_pair: BTreeMap<(String, String), Vec<Listed>> = BTreeMap::new();
    let mut accounts_by_region: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in &listed {
        let (account, region) = (&entry.triple.account_id, &entry.triple.region);
        by_pair
            .entry((account.clone(), region.clone()))
            .or_default()
            .push(entry.clone());
        accounts_by_region
            .entry(region.clone())
            .or_default()
            .insert(account.clone());
    }
    let with_results = listed.iter().filter(|l| l.has_results()).count();
    let shards = plan_shards(&accounts_by_region, EXPRESSION_LIMIT);
    // Only the shards this run gathers (not those an interrupted run's checkpoints hold) may need it.
    let to_gather: Vec<Shard> = shards
        .iter()
        .filter(|shard| !checkpoints.has(&ShardKey::new(shard, &by_pair)))
        .cloned()
        .collect();
    let resource_compliance = probe_resource_compliance(gatherer, &to_gather, &by_pair).await;
    progress.set_length(with_results as u64);
    if !organization_resumed {
        checkpoints
            .save_organization(&organization, &cache, keep_stored_cache)
            .await;
    }

    let mut upload = request
        .output
        .begin(services.s3.as_ref(), request.snapshot_date, &run_id)
        .await?;
    let shard_count = shards.len();
    let written = write_shards(
        services,
        &mut upload,
        shards,
        &by_pair,
        &organization,
        &context,
        &checkpoints,
        request.concurrency.max(1),
        progress,
    )
    .await;
    let tally = match written {
        Ok(tally) if tally.triples_failed > 0 && tally.triples_failed == with_results => {
            // Publishing an empty snapshot would replace the day's good one with nothing.
            upload.abort().await;
            let first = tally
                .gaps
                .iter()
                .find(|g| g.kind == "triple")
                .map_or("", |g| g.reason.as_str());
            bail!(
                "no evaluation results could be read for any of the {with_results} (rule, account, region) \
                 triples with results (first error: {first}); nothing was published"
            );
        }
        Ok(tally) => tally,
        Err(error) => {
            upload.abort().await;
            return Err(error.context("nothing was published"));
        }
    };

    let triples: Vec<&Triple> = listed.iter().map(|l| &l.triple).collect();
    let mut gaps = organization.gaps.clone();
    let catalog_gap_absent = catalog_gap.is_none();
    gaps.extend(catalog_gap);
    gaps.extend(tally.gaps);
    let decided = ["COMPLIANT", "NON_COMPLIANT"]
        .iter()
        .filter_map(|c| tally.compliance.get(*c))
        .sum::<usize>();
    if decided == 0 {
        // The rule is deployed (there are triples) but no verdict came back (rows, if any, are
        // INSUFFICIENT_DATA or NOT_APPLICABLE): not a complete picture of an organization without
        // functions, but a gap (results not yet delivered, or not readable).
        gaps.push(Gap {
            kind: "no_results",
            rule_name: None,
            account_id: None,
            region: None,
            reason: format!(
                "no evaluation results in any of the {} (rule, account, region) triples read",
                triples.len() - tally.triples_failed
            ),
        });
    }
    let limits = gatherer.api.limits();
    let mut summary = Summary {
        run_id: run_id.clone(),
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
        functions_not_evaluated: tally.not_evaluated,
        triples_from_resource_compliance: tally.from_resource_compliance,
        resource_compliance,
        inactive_accounts: Vec::new(),
        accounts_without_results: Vec::new(),
        complete: false,
        rule_parameters,
        catalog_updated_at: catalog.updated_at().to_string(),
        catalog_overlay: policy
            .catalog_ssm_parameter
            .clone()
            .filter(|_| catalog_gap_absent),
        gaps,
        backfill: request.backfill,
        publication: Publication {
            published: false,
            kept: "existing",
            reason: String::new(),
            existing: None,
        },
        inventory_shards: shard_count,
        versions: tally.versions,
        enrichment: gatherer.enricher.report(),
        shards_resumed: tally.resumed,
        api_calls_by_operation: BTreeMap::new(),
        api_calls: 0,
        rate_limits: RateLimitsSummary {
            config_per_second: limits.config,
            organizations_per_second: limits.organizations,
        },
        organization_cache: organization.report.clone(),
        duration_ms: 0,
    };
    let with_results: BTreeSet<&str> = triples.iter().map(|t| t.account_id.as_str()).collect();
    for account in organization.accounts.values() {
        let note = AccountNote {
            account_id: account.id.clone(),
            account_name: account.details.name.as_deref().map(str::to_string),
            state: account.state.clone(),
        };
        if account.state != "ACTIVE" {
            summary.inactive_accounts.push(note);
        } else if !with_results.contains(account.id.as_str()) {
            summary.accounts_without_results.push(note);
        }
    }
    summary.complete = summary.gaps.is_empty();
    // An error from here on keeps the checkpoints: a retry of the date resumes them.
    publish(services, request, upload, &mut summary, started).await?;
    if summary.publication.published
        && !keep_stored_cache
        && let Err(error) = request
            .output
            .put_cache(services.s3.as_ref(), &cache.to_json())
            .await
    {
        // The snapshot stands; the next run reads the accounts again from where this one started.
        tracing::warn!(error = %format!("{error:#}"), "could not write the account cache");
    }
    // Published, or the day's better snapshot kept: a deliberate end, nothing to resume.
    checkpoints.remove().await;
    Ok(summary)
}

/// The publishing policy: compare with the day's existing snapshot, then write the summary and
/// publish the snapshot, or keep the existing pair untouched.
async fn publish(
    services: &Services,
    request: &Request,
    upload: Upload,
    summary: &mut Summary,
    started: Instant,
) -> anyhow::Result<()> {
    let (output, s3, date) = (&request.output, services.s3.as_ref(), request.snapshot_date);
    let previous = match output.get_summary(s3, date).await {
        Ok(previous) => previous,
        Err(error) => {
            upload.abort().await;
            return Err(error.context("reading the day's existing summary (nothing was published)"));
        }
    };
    let existing = previous.as_deref().map(Quality::from_summary);
    // A snapshot without a summary (removed by hand, or a run killed between the two writes before
    // this policy) is of unknown quality: it is replaced, and the reason says so.
    let orphan = match previous {
        Some(_) => false,
        None => match output.snapshot_exists(s3, date).await {
            Ok(exists) => exists,
            Err(error) => {
                upload.abort().await;
                return Err(error.context("looking for the day's snapshot (nothing was published)"));
            }
        },
    };
    let new = Quality {
        run_id: Some(summary.run_id.clone()),
        rows: summary.rows,
        gaps: summary.gaps.len(),
    };
    let worse = existing
        .as_ref()
        .and_then(Option::as_ref)
        .and_then(|existing| new.worse_than(existing));
    summary.publication = match (&existing, worse) {
        (_, Some(why)) if !request.replace_worse => Publication {
            published: false,
            kept: "existing",
            reason: format!(
                "the day's existing snapshot is better: this run has {why}; it was kept (--replace-worse \
                 publishes anyway)"
            ),
            existing: existing.flatten(),
        },
        (_, Some(why)) => Publication {
            published: true,
            kept: "new",
            reason: format!("replaced a better snapshot as forced (--replace-worse): this run has {why}"),
            existing: existing.flatten(),
        },
        (None, None) if orphan => Publication {
            published: true,
            kept: "new",
            reason: "the day's existing snapshot had no summary (its quality is unknown); replaced".into(),
            existing: None,
        },
        (None, None) => Publication {
            published: true,
            kept: "new",
            reason: "no snapshot of that day before".into(),
            existing: None,
        },
        (Some(None), None) => Publication {
            published: true,
            kept: "new",
            reason: "the day's existing summary could not be read as one; replaced".into(),
            existing: None,
        },
        (Some(Some(_)), None) => Publication {
            published: true,
            kept: "new",
            reason: "at least as many rows and no more gaps than the day's existing snapshot".into(),
            existing: existing.flatten(),
        },
    };
    summary.api_calls_by_operation = services.gatherer.api.calls();
    if summary.publication.published && matches!(output, Output::S3(_)) {
        // The summary's own PutObject, sent after these counts are taken.
        *summary
            .api_calls_by_operation
            .entry("s3:PutObject".to_string())
            .or_default() += 1;
    }
    summary.api_calls = summary.api_calls_by_operation.values().sum();
    summary.duration_ms = elapsed_ms(started);
    if !summary.publication.published {
        upload.abort().await;
        return Ok(());
    }
    // The summary first: if it cannot be written, the snapshot is not published either.
    if let Err(error) = output.put_summary(s3, date, &summary.to_json()).await {
        upload.abort().await;
        return Err(error.context("writing the summary (nothing was published)"));
    }
    if let Err(error) = upload.commit().await {
        // Put the day's summary back as it was, so that it still describes the snapshot in place.
        let restored = match &previous {
            Some(text) => output.put_summary(s3, date, text).await,
            None => output.delete_summary(s3, date).await,
        };
        if let Err(restore) = restored {
            tracing::error!(error = %format!("{restore:#}"), "could not restore the day's previous summary");
        }
        return Err(error.context("publishing the snapshot (nothing was published)"));
    }
    Ok(())
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[derive(Default)]
struct Tally {
    rows: usize,
    compliance: BTreeMap<String, usize>,
    accounts: BTreeSet<String>,
    regions: BTreeSet<String>,
    without_details: usize,
    triples_failed: usize,
    not_evaluated: usize,
    from_resource_compliance: usize,
    gaps: Vec<Gap>,
    /// Shards read back from an interrupted run's checkpoints.
    resumed: usize,
    /// `AWS::Lambda::Version` rows (resumed shards' too).
    versions: usize,
}

/// Gathers the shards a bounded number at a time and streams their rows into the upload. A shard an
/// interrupted run of the same date finished is read from its checkpoint instead; a shard gathered
/// without a gap is checkpointed as it completes ([`crate::checkpoint`]).
#[allow(clippy::too_many_arguments)]
async fn write_shards(
    services: &Services,
    upload: &mut Upload,
    shards: Vec<Shard>,
    by_pair: &BTreeMap<(String, String), Vec<Listed>>,
    organization: &Organization,
    context: &RunContext<'_>,
    checkpoints: &Checkpoints<'_>,
    concurrency: usize,
    progress: &ProgressBar,
) -> anyhow::Result<Tally> {
    let mut encoder = Encoder::new()?;
    let mut tally = Tally::default();
    let gatherer = &services.gatherer;
    let mut gathered = futures_util::stream::iter(shards.into_iter().map(|shard| async move {
        let key = ShardKey::new(&shard, by_pair);
        if checkpoints.has(&key)
            && let Some(finished) = checkpoints.load_shard(&key).await
        {
            let triples = shard
                .accounts
                .iter()
                .filter_map(|account| by_pair.get(&(account.clone(), shard.region.clone())))
                .map(Vec::len)
                .sum::<usize>();
            progress.inc(triples as u64);
            let mut rows = finished.rows;
            for row in &mut rows {
                // One run's rows: the publishing run's id (they keep the time they were collected).
                row.run_id.clone_from(&context.run_id);
            }
            let group = Group {
                rows,
                gaps: Vec::new(),
                triples_failed: 0,
                not_evaluated: finished.not_evaluated,
                // Not kept in a checkpoint: the summary counts this run's reads.
                from_resource_compliance: 0,
            };
            return (group, true);
        }
        let group = gather_shard(gatherer, organization, context, shard, by_pair, progress).await;
        if group.gaps.is_empty() && group.triples_failed == 0 {
            checkpoints
                .save_shard(&key, &group.rows, group.not_evaluated)
                .await;
        }
        (group, false)
    }))
    .buffer_unordered(concurrency);
    while let Some((group, resumed)) = gathered.next().await {
        tally.resumed += usize::from(resumed);
        tally.triples_failed += group.triples_failed;
        tally.not_evaluated += group.not_evaluated;
        tally.from_resource_compliance += group.from_resource_compliance;
        tally.gaps.extend(group.gaps);
        for row in group.rows {
            tally.rows += 1;
            *tally.compliance.entry(row.compliance_type.clone()).or_default() += 1;
            tally.accounts.insert(row.account_id.clone());
            tally.regions.insert(row.region.clone());
            tally.versions += usize::from(row.resource_type == crate::enrich::LAMBDA_VERSION);
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

/// One shard: its inventory (one advanced-query chain), then per (account, region) of it the
/// NON_COMPLIANT functions of its NON_COMPLIANT triples — from the shard's ResourceCompliance items
/// where that takes fewer calls ([`noncompliant_from_items`]), else (and for every triple whose
/// items do not match the listing) from the triple's NON_COMPLIANT results; every other function the
/// inventory has in a triple with results is a COMPLIANT row ([`RunContext::compliant_row`]). When
/// the inventory cannot be read, each of its (account, region) is a `functions` gap and its triples
/// are read whole, as rows without function details.
async fn gather_shard(
    gatherer: &Gatherer,
    organization: &Organization,
    context: &RunContext<'_>,
    shard: Shard,
    by_pair: &BTreeMap<(String, String), Vec<Listed>>,
    progress: &ProgressBar,
) -> Group {
    let mut group = Group {
        rows: Vec::new(),
        gaps: Vec::new(),
        triples_failed: 0,
        not_evaluated: 0,
        from_resource_compliance: 0,
    };
    let inventory = gatherer.inventory(&shard).await;
    let items = match &inventory {
        Ok(_) => resource_compliance_items(gatherer, &shard, by_pair).await,
        Err(_) => None,
    };
    let region = &shard.region;
    for account in &shard.accounts {
        let Some(listed) = by_pair.get(&(account.clone(), region.clone())) else {
            continue;
        };
        let account_details = organization.accounts.get(account).map(|a| &a.details);
        let functions = match &inventory {
            Ok(inventory) => Some(inventory.get(account)),
            Err(reason) => {
                group.gaps.push(Gap {
                    kind: "functions",
                    rule_name: None,
                    account_id: Some(account.clone()),
                    region: Some(region.clone()),
                    reason: format!("{}: {reason}", shard.describe()),
                });
                None
            }
        };
        for entry in listed {
            let triple = &entry.triple;
            let read = match functions {
                // Nothing to read: the rule has no results there.
                None if !entry.has_results() => continue,
                // Only what is not COMPLIANT needs reading, and only in NON_COMPLIANT triples.
                Some(_) if entry.compliance != "NON_COMPLIANT" => Ok(Vec::new()),
                Some(recorded) => match items
                    .as_ref()
                    .and_then(|items| noncompliant_from_items(items, entry, recorded, context))
                {
                    Some(records) => {
                        group.from_resource_compliance += 1;
                        Ok(records)
                    }
                    None => {
                        gatherer
                            .evaluations(triple, Some(aws_sdk_config::types::ComplianceType::NonCompliant))
                            .await
                    }
                },
                None => gatherer.evaluations(triple, None).await,
            };
            if entry.has_results() {
                progress.inc(1);
            }
            let records = match read {
                Ok(records) => records,
                Err(reason) => {
                    tracing::warn!(rule = %triple.rule_name, account = %account, region = %region, %reason, "triple failed");
                    group.triples_failed += 1;
                    group.gaps.push(Gap {
                        kind: "triple",
                        rule_name: Some(triple.rule_name.clone()),
                        account_id: Some(account.clone()),
                        region: Some(region.clone()),
                        reason,
                    });
                    continue;
                }
            };
            let empty = std::collections::HashMap::new();
            let recorded = functions.map(|f| f.unwrap_or(&empty));
            let read: BTreeSet<&str> = records.iter().map(|r| r.resource_id.as_str()).collect();
            group.rows.extend(records.iter().map(|record| {
                context.row(
                    record,
                    recorded.and_then(|f| f.get(&record.resource_id)),
                    account_details,
                )
            }));
            let Some(recorded) = recorded else { continue };
            let mut ids: Vec<&String> = recorded.keys().filter(|id| !read.contains(id.as_str())).collect();
            ids.sort();
            let mut disagreeing = Vec::new();
            for id in ids {
                match context.compliant_row(
                    (account, region, &triple.rule_name),
                    id,
                    &recorded[id],
                    account_details,
                    entry.has_results(),
                ) {
                    Recomputed::Row(row) => group.rows.push(*row),
                    Recomputed::Fails => disagreeing.push(id),
                }
            }
            if disagreeing.is_empty() {
                continue;
            }
            // Config listed no NON_COMPLIANT result for these, yet the rule's verdict today fails them:
            // ask Config what it holds (this triple's COMPLIANT results, once) rather than guess. Held
            // COMPLIANT (a catalog overlay, or a date passed since the rule's last run): Config's row,
            // with its annotation. Held nothing (not evaluated yet): INSUFFICIENT_DATA, counted in the
            // summary — never a COMPLIANT nobody decided.
            match gatherer
                .evaluations(triple, Some(aws_sdk_config::types::ComplianceType::Compliant))
                .await
            {
                Ok(compliant) => {
                    let held: HashMap<&str, &EvaluationRecord> =
                        compliant.iter().map(|r| (r.resource_id.as_str(), r)).collect();
                    for id in disagreeing {
                        match held.get(id.as_str()) {
                            Some(record) => {
                                group
                                    .rows
                                    .push(context.row(record, Some(&recorded[id]), account_details))
                            }
                            None => {
                                group.not_evaluated += 1;
                                group.rows.push(context.unevaluated_row(
                                    (account, region, &triple.rule_name),
                                    id,
                                    &recorded[id],
                                    account_details,
                                ));
                            }
                        }
                    }
                }
                // A gap, not a failed triple: the triple's NON_COMPLIANT rows were read (a run whose
                // every triple failed is abandoned, and this one has rows).
                Err(reason) => group.gaps.push(Gap {
                    kind: "triple",
                    rule_name: Some(triple.rule_name.clone()),
                    account_id: Some(account.clone()),
                    region: Some(region.clone()),
                    reason: format!(
                        "the COMPLIANT results of {} function(s) the catalog fails today: {reason}",
                        disagreeing.len()
                    ),
                }),
            }
        }
    }
    // Issue 12: versions behind aliases, layer blockers, invocations (off without a member role).
    let enriched = gatherer.enricher.enrich_shard(
        gatherer,
        context,
        &shard,
        inventory.as_ref().ok(),
        &mut group.rows,
    );
    group.gaps.extend(enriched.await);
    group
}

/// Whether one ResourceCompliance query chain reads a shard's NON_COMPLIANT functions in fewer calls
/// than a details read per NON_COMPLIANT triple (several NON_COMPLIANT triples with few functions
/// each: the usual case in a large organization): the accounts and rule names to query, or None.
fn resource_compliance_plan(
    shard: &Shard,
    by_pair: &BTreeMap<(String, String), Vec<Listed>>,
) -> Option<(Vec<String>, BTreeSet<String>)> {
    let (mut accounts, mut rules) = (Vec::new(), BTreeSet::new());
    let (mut details_calls, mut listed_functions) = (0usize, 0usize);
    for account in &shard.accounts {
        let Some(listed) = by_pair.get(&(account.clone(), shard.region.clone())) else {
            continue;
        };
        let mut any = false;
        for entry in listed.iter().filter(|e| e.compliance == "NON_COMPLIANT") {
            let (count, exceeded) = entry.noncompliant.unwrap_or((1, false));
            let count = usize::try_from(count).unwrap_or(0).max(1);
            // A details read pages 100 results a call; past the cap, at least two pages.
            details_calls += if exceeded { 2 } else { count.div_ceil(100) };
            listed_functions += count;
            rules.insert(entry.triple.rule_name.clone());
            any = true;
        }
        if any {
            accounts.push(account.clone());
        }
    }
    if accounts.is_empty() {
        return None;
    }
    let queries = noncompliant_queries(&shard.region, &accounts, &rules, EXPRESSION_LIMIT).ok()?;
    (queries.len().max(listed_functions.div_ceil(100)) < details_calls).then_some((accounts, rules))
}

/// Before the shards, when some shard would read ResourceCompliance items: whether the recorders record
/// `AWS::Config::ResourceCompliance` (AWS's cost guidance suggests excluding it), asked once — the
/// items of one NON_COMPLIANT triple, whose listing counts at least one. Found none: the run reads
/// every NON_COMPLIANT triple's results instead ([`Gatherer::resource_compliance_unrecorded`]).
/// Returns what the summary says of it (`resource_compliance`).
async fn probe_resource_compliance(
    gatherer: &Gatherer,
    shards: &[Shard],
    by_pair: &BTreeMap<(String, String), Vec<Listed>>,
) -> &'static str {
    const NOT_NEEDED: &str = "not needed";
    if !shards
        .iter()
        .any(|shard| resource_compliance_plan(shard, by_pair).is_some())
    {
        return NOT_NEEDED;
    }
    let Some(entry) = by_pair
        .values()
        .flatten()
        .find(|e| e.compliance == "NON_COMPLIANT")
    else {
        return NOT_NEEDED;
    };
    let triple = &entry.triple;
    let recorded = match gatherer
        .noncompliant_functions(
            &triple.region,
            std::slice::from_ref(&triple.account_id),
            &BTreeSet::from([triple.rule_name.clone()]),
        )
        .await
    {
        Ok(found) => !found.is_empty(),
        Err(reason) => {
            tracing::warn!(%reason, "ResourceCompliance query failed: reading NON_COMPLIANT results per triple");
            false
        }
    };
    if recorded {
        return "recorded";
    }
    tracing::info!(
        "no AWS::Config::ResourceCompliance item where Config lists NON_COMPLIANT functions: the \
         recorders do not record the type; reading NON_COMPLIANT results per triple"
    );
    gatherer
        .resource_compliance_unrecorded
        .store(true, std::sync::atomic::Ordering::Relaxed);
    "not recorded"
}

/// The shard's NON_COMPLIANT functions from Config's ResourceCompliance items, when
/// [`resource_compliance_plan`] says so and the recorders record them. None otherwise, or when the
/// query fails: the details are read instead, so nothing is lost either way.
async fn resource_compliance_items(
    gatherer: &Gatherer,
    shard: &Shard,
    by_pair: &BTreeMap<(String, String), Vec<Listed>>,
) -> Option<NonCompliant> {
    if gatherer
        .resource_compliance_unrecorded
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return None;
    }
    let (accounts, rules) = resource_compliance_plan(shard, by_pair)?;
    match gatherer
        .noncompliant_functions(&shard.region, &accounts, &rules)
        .await
    {
        Ok(found) => Some(found),
        Err(reason) => {
            tracing::warn!(shard = %shard.describe(), %reason, "ResourceCompliance query failed: reading details");
            None
        }
    }
}

/// A NON_COMPLIANT triple's records from the shard's ResourceCompliance items, when they can stand in
/// for Config's results: as many functions as the listing counts (over its cap of 100 when the cap
/// was exceeded), each in the inventory and failed by the rule's recomputed verdict too (whose
/// annotation is then the rule's). Otherwise None, and the caller reads the triple's results: the
/// items may lag Config's results (they change only on a compliance transition), a failure may come
/// from what a configuration item does not hold (the runtime update mode), or the listing gave no
/// count to check against.
fn noncompliant_from_items(
    items: &NonCompliant,
    entry: &Listed,
    recorded: Option<&HashMap<String, FunctionDetails>>,
    context: &RunContext<'_>,
) -> Option<Vec<EvaluationRecord>> {
    let triple = &entry.triple;
    let (count, exceeded) = entry.noncompliant?;
    let ids = items.get(&(triple.account_id.clone(), triple.rule_name.clone()))?;
    let agrees = if exceeded {
        ids.len() > 100
    } else {
        usize::try_from(count).is_ok_and(|count| count == ids.len())
    };
    if !agrees {
        return None;
    }
    let recorded = recorded?;
    let key = (
        triple.account_id.as_str(),
        triple.region.as_str(),
        triple.rule_name.as_str(),
    );
    ids.iter()
        .map(|id| context.noncompliant_record(key, id, recorded.get(id)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_with_fewer_rows_or_more_gaps_is_worse() {
        let existing =
            Quality::from_summary(r#"{"run_id":"a","rows":4,"gaps":[],"complete":true}"#).expect("a summary");
        assert_eq!(
            existing,
            Quality {
                run_id: Some("a".into()),
                rows: 4,
                gaps: 0
            }
        );
        let new = |rows, gaps| Quality {
            run_id: None,
            rows,
            gaps,
        };
        assert_eq!(new(4, 0).worse_than(&existing), None);
        assert_eq!(new(5, 0).worse_than(&existing), None);
        assert_eq!(
            new(0, 1).worse_than(&existing).as_deref(),
            Some("fewer rows (0 < 4) and more gaps (1 > 0)")
        );
        assert!(new(4, 2).worse_than(&existing).is_some());
        assert!(new(3, 0).worse_than(&existing).is_some());
        assert_eq!(Quality::from_summary("not json"), None);
    }

    #[test]
    fn the_snapshot_date_is_today_unless_a_backfill_says_otherwise() {
        let today = jiff::civil::date(2026, 11, 23);
        assert_eq!(snapshot_date(None, false, today), Ok((today, false)));
        assert_eq!(snapshot_date(Some(today), true, today), Ok((today, false)));
        let past = jiff::civil::date(1999, 1, 1);
        assert!(snapshot_date(Some(past), false, today).is_err_and(|e| e.contains("backfill")));
        assert_eq!(snapshot_date(Some(past), true, today), Ok((past, true)));
        let future = jiff::civil::date(2026, 11, 24);
        assert!(snapshot_date(Some(future), true, today).is_err_and(|e| e.contains("future")));
    }
}
