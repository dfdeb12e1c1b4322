//! What still RUNS an old runtime (issue 12): read in the member accounts through the reader role
//! ([`crate::members`]) and added to the rows the gather built, one inventory shard at a time.
//!
//! - **Versions behind aliases.** Config records `$LATEST` and the aliases (`AWS::Lambda::Alias`), not
//!   published versions, yet Lambda keeps invoking a version on its old runtime after every block
//!   date. For each function with aliases, the versions they point at (a weighted alias's
//!   `AdditionalVersionWeights` count too) are read — per function the cheaper of
//!   ListVersionsByFunction pages (50 versions a page, `$LATEST` first, then by number: ⌈(highest
//!   referenced + 1) / 50⌉ pages at most) and one GetFunctionConfiguration per referenced version —
//!   and each becomes an `AWS::Lambda::Version` row judged by the rule's own verdict
//!   ([`lifecycle::verdict::evaluate`]) with the same lifecycle columns ([`RunContext::row`]).
//!   Calls per (account, Region) ≤ Σ over functions with aliases of min(⌈(highest referenced + 1)/50⌉,
//!   referenced versions) ([`version_read_plan`]).
//! - **Layer blockers.** A layer version whose CompatibleRuntimes is listed and lacks the row's
//!   successor runtime blocks a configuration-only upgrade (`blocking_layers`). Read with
//!   GetLayerVersionByArn once per distinct layer version for the whole run (a cache shared by every
//!   shard), through the member role of an account that uses it.
//! - **Invocations.** `invocations_30d` and `last_invoked_date` from CloudWatch GetMetricData
//!   (AWS/Lambda `Invocations` by `FunctionName`, and `Resource` `name:version` for versions; Sum per
//!   day over the 30 days before the snapshot date), 500 series a call: ⌈series/500⌉ calls per
//!   (account, Region), for the rows `--invocations` selects. A series read with no datapoint is 0.
//!
//! Whatever cannot be read (the role cannot be assumed, access denied, throttled after the SDK's
//! retries) is a [`Gap`] naming the kind (`member_role`, `aliases`, `versions`, `layers`,
//! `invocations`), the account and Region; the affected columns stay NULL. Never a panic, never a
//! silently empty column: NULL means "not read", `[]` / 0 mean "read, none".

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use awsbase::error_text;
use futures_util::StreamExt as _;
use jiff::Timestamp;
use jiff::civil::Date;
use lifecycle::verdict::{ComplianceType, FunctionSnapshot, Observed, PackageType, evaluate};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::gather::{Gap, Gatherer, Inventory, RecordedAlias, Shard};
use crate::members::{Members, PairClients};
use crate::row::{AccountDetails, EvaluationRecord, FunctionDetails, Row, RunContext};

/// The resource type of a published version's row.
pub const LAMBDA_VERSION: &str = "AWS::Lambda::Version";
/// ListVersionsByFunction returns at most 50 versions a page ("MaxItems … returns up to 50", the
/// API reference of ListVersionsByFunction).
pub const VERSIONS_PAGE: usize = 50;
/// GetMetricData takes at most 500 MetricDataQuery structures a call (API_GetMetricData).
pub const METRICS_PER_CALL: usize = 500;
/// The days of invocations read.
pub const INVOCATION_DAYS: i64 = 30;
/// (account, Region) pairs of one shard enriched at once (each held to its own rate limits).
const PAIR_CONCURRENCY: usize = 8;

/// What the aggregator calls through the member reader role (`cdk/contracts/iam.json`
/// `aggregator_member`).
pub const MEMBER_ACTIONS: [awsbase::Action; 4] = [
    awsbase::Action {
        action: "lambda:ListVersionsByFunction",
        why: "the versions aliases point at, 50 a page, for a function whose referenced versions are cheaper to list than to read one by one",
    },
    awsbase::Action {
        action: "lambda:GetFunctionConfiguration",
        why: "one version an alias points at (Qualifier), when that is cheaper than listing",
    },
    awsbase::Action {
        action: "lambda:GetLayerVersion",
        why: "GetLayerVersionByArn (authorized as lambda:GetLayerVersion): a layer version's CompatibleRuntimes, once per distinct layer version a run",
    },
    awsbase::Action {
        action: "cloudwatch:GetMetricData",
        why: "30 days of AWS/Lambda Invocations per function or version, 500 series a call",
    },
];

/// Which rows get `invocations_30d` (`--invocations`, `AGGREGATOR_INVOCATIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Invocations {
    /// NON_COMPLIANT rows and rows within the policy's warning window (`days_to_fail` ≤ warnDaysBefore).
    #[default]
    Failing,
    All,
    Off,
}

impl Invocations {
    pub fn parse(text: &str) -> Result<Invocations, String> {
        match text.trim() {
            "failing" => Ok(Invocations::Failing),
            "all" => Ok(Invocations::All),
            "off" => Ok(Invocations::Off),
            other => Err(format!("{other:?} is not failing, all or off")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Invocations::Failing => "failing",
            Invocations::All => "all",
            Invocations::Off => "off",
        }
    }

    /// Whether `row` is read under this setting (`warn_days`: the policy's warnDaysBefore).
    pub fn selects(self, row: &Row, warn_days: u32) -> bool {
        match self {
            Invocations::Off => false,
            Invocations::All => true,
            Invocations::Failing => {
                row.compliance_type == ComplianceType::NonCompliant.as_str()
                    || row
                        .days_to_fail
                        .is_some_and(|days| i64::from(days) <= i64::from(warn_days))
            }
        }
    }
}

/// How the versions of one function are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRead {
    /// ListVersionsByFunction, at most this many pages (stopping once every referenced version is seen).
    List { pages: usize },
    /// GetFunctionConfiguration with each referenced version as qualifier.
    Get { calls: usize },
}

impl VersionRead {
    pub fn calls(self) -> usize {
        match self {
            VersionRead::List { pages } => pages,
            VersionRead::Get { calls } => calls,
        }
    }
}

/// The cheaper read of `referenced` published versions (their numbers): the list pages that reach the
/// highest (`$LATEST` comes first, then versions by number, so version n is at most at position n + 1)
/// against one call per version; a tie reads each (smaller answers).
pub fn version_read_plan(referenced: &BTreeSet<u64>) -> VersionRead {
    let Some(&highest) = referenced.last() else {
        return VersionRead::Get { calls: 0 };
    };
    let pages = usize::try_from(highest)
        .unwrap_or(usize::MAX)
        .saturating_add(1)
        .div_ceil(VERSIONS_PAGE);
    if pages < referenced.len() {
        VersionRead::List { pages }
    } else {
        VersionRead::Get {
            calls: referenced.len(),
        }
    }
}

/// The layer versions of `layers` that block an upgrade to `successor`: those whose CompatibleRuntimes
/// is listed (an empty list declares nothing, as Lambda enforces nothing) and lacks the successor.
/// `compatible` answers a layer's list, or None when it could not be read (then the answer is None:
/// unknown, not "nothing blocks").
pub fn blocking_layers(
    layers: &[String],
    successor: Option<&str>,
    mut compatible: impl FnMut(&str) -> Option<Vec<String>>,
) -> Option<Vec<String>> {
    let Some(successor) = successor else {
        // Nothing to upgrade to: nothing blocks.
        return Some(Vec::new());
    };
    let mut blocking = Vec::new();
    for layer in layers {
        let runtimes = compatible(layer)?;
        if !runtimes.is_empty() && !runtimes.iter().any(|r| r == successor) {
            blocking.push(layer.clone());
        }
    }
    Some(blocking)
}

/// One CloudWatch series: the function's `FunctionName`, and for a version its `Resource`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    pub function: String,
    pub resource: Option<String>,
}

/// What one series said: the 30 days' sum and the last day with an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Invoked {
    pub total: i64,
    pub last: Option<Date>,
}

/// Daily sums → the total and the last day with a non-zero sum.
pub fn summarize(days: &[(Date, f64)]) -> Invoked {
    let total = days.iter().map(|(_, v)| *v).sum::<f64>().round();
    Invoked {
        total: if total.is_finite() && total > 0.0 {
            total.min(i64::MAX as f64) as i64
        } else {
            0
        },
        last: days.iter().filter(|(_, v)| *v > 0.0).map(|(d, _)| *d).max(),
    }
}

/// The GetMetricData query of one series, `Id` `m<index>` (ids start with a lowercase letter and hold
/// letters, digits and underscores: API_MetricDataQuery).
fn metric_query(index: usize, series: &Series) -> MetricDataQuery {
    let mut metric = Metric::builder()
        .namespace("AWS/Lambda")
        .metric_name("Invocations")
        .dimensions(
            Dimension::builder()
                .name("FunctionName")
                .value(&series.function)
                .build(),
        );
    if let Some(resource) = &series.resource {
        metric = metric.dimensions(Dimension::builder().name("Resource").value(resource).build());
    }
    MetricDataQuery::builder()
        .id(format!("m{index}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric.build())
                .period(86_400)
                .stat("Sum")
                .build(),
        )
        .return_data(true)
        .build()
}

/// The published version's configuration that a row needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionConfig {
    pub version: String,
    pub arn: Option<String>,
    pub runtime: Option<String>,
    pub package_type: Option<String>,
    pub architectures: Vec<String>,
    pub last_modified: Option<Timestamp>,
    pub layers: Vec<String>,
}

/// The same fields of ListVersionsByFunction's items and GetFunctionConfiguration's answer.
macro_rules! version_config {
    ($c:expr) => {{
        let c = $c;
        VersionConfig {
            version: c.version().unwrap_or_default().to_string(),
            arn: c.function_arn().map(str::to_string),
            runtime: c.runtime().map(|r| r.as_str().to_string()),
            package_type: c.package_type().map(|p| p.as_str().to_string()),
            architectures: c.architectures().iter().map(|a| a.as_str().to_string()).collect(),
            last_modified: c
                .last_modified()
                .and_then(lifecycle::dates::parse_lambda_timestamp),
            layers: c
                .layers()
                .iter()
                .filter_map(|l| l.arn())
                .map(str::to_string)
                .collect(),
        }
    }};
}

/// The enrichment part of the run summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub enabled: bool,
    /// What the enrichment did, or why it is off.
    pub note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_role_name: Option<String>,
    /// The `--invocations` setting.
    pub invocations: &'static str,
    /// (account, Region) pairs enriched, and those whose member role could not be assumed.
    pub pairs: usize,
    pub pairs_without_member_role: usize,
    /// Aliases in the inventory, and the functions they belong to.
    pub aliases: usize,
    pub functions_with_aliases: usize,
    /// `AWS::Lambda::Version` rows added.
    pub version_rows: usize,
    /// Distinct layer versions looked up (the run's cache).
    pub layer_versions: usize,
    /// CloudWatch series read.
    pub metric_series: usize,
    /// The most calls the plan allows, by operation: the versions reads (ListVersionsByFunction and
    /// GetFunctionConfiguration together, as `lambda:versions`), GetLayerVersionByArn (one per distinct
    /// layer version) and GetMetricData (⌈series / 500⌉ per pair). `api_calls_by_operation` holds what
    /// was made.
    pub call_bounds: BTreeMap<&'static str, u64>,
}

type LayerCell = Arc<OnceCell<Result<Vec<String>, String>>>;

/// The enrichment of a run: off without a member role.
pub struct Enricher {
    members: Option<Members>,
    invocations: Invocations,
    layers: Mutex<HashMap<String, LayerCell>>,
    report: Mutex<Report>,
}

fn gap(kind: &'static str, account: &str, region: &str, reason: String) -> Gap {
    Gap {
        kind,
        rule_name: None,
        account_id: Some(account.to_string()),
        region: Some(region.to_string()),
        reason,
    }
}

impl Enricher {
    /// No enrichment; the summary says why.
    pub fn off(reason: &str) -> Enricher {
        Enricher {
            members: None,
            invocations: Invocations::Off,
            layers: Mutex::new(HashMap::new()),
            report: Mutex::new(Report {
                enabled: false,
                note: format!(
                    "enrichment off: {reason}; qualifier, aliases, blocking_layers, invocations_30d and \
                     last_invoked_date are NULL and no AWS::Lambda::Version rows are written"
                ),
                invocations: Invocations::Off.as_str(),
                ..Report::default()
            }),
        }
    }

    pub fn new(members: Members, invocations: Invocations) -> Enricher {
        let role = members.role_name().to_string();
        Enricher {
            invocations,
            layers: Mutex::new(HashMap::new()),
            report: Mutex::new(Report {
                enabled: true,
                note: format!(
                    "versions behind aliases, layer blockers and invocations ({}) read through the member \
                     role {role}",
                    invocations.as_str()
                ),
                member_role_name: Some(role),
                invocations: invocations.as_str(),
                ..Report::default()
            }),
            members: Some(members),
        }
    }

    pub fn report(&self) -> Report {
        self.report.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn tally(&self, change: impl FnOnce(&mut Report)) {
        if let Ok(mut report) = self.report.lock() {
            change(&mut report);
        }
    }

    /// Adds to `rows` (the shard's, as the gather built them) the version rows and fills the enrichment
    /// columns; returns what could not be read. `inventory` is the shard's (None: it could not be read,
    /// a `functions` gap already, and nothing is enriched there).
    pub async fn enrich_shard(
        &self,
        gatherer: &Gatherer,
        context: &RunContext<'_>,
        shard: &Shard,
        inventory: Option<&Inventory>,
        rows: &mut Vec<Row>,
    ) -> Vec<Gap> {
        let (Some(members), Some(inventory)) = (&self.members, inventory) else {
            return Vec::new();
        };
        let mut gaps = Vec::new();
        let region = shard.region.as_str();
        // The rows by pair, in their order (a pair's rows are appended together).
        let mut pairs: Vec<(String, Vec<Row>)> = Vec::new();
        for row in std::mem::take(rows) {
            match pairs.last_mut() {
                Some((account, list)) if *account == row.account_id => list.push(row),
                _ => match pairs.iter_mut().find(|(account, _)| *account == row.account_id) {
                    Some((_, list)) => list.push(row),
                    None => pairs.push((row.account_id.clone(), vec![row])),
                },
            }
        }
        let mut aliases: HashMap<String, Vec<RecordedAlias>> = match gatherer.aliases(shard).await {
            Ok(aliases) => aliases,
            Err(reason) => {
                gaps.push(Gap {
                    kind: "aliases",
                    rule_name: None,
                    account_id: None,
                    region: Some(region.to_string()),
                    reason: format!(
                        "{}: the aliases could not be read, so no version rows: {reason}",
                        shard.describe()
                    ),
                });
                HashMap::new()
            }
        };
        let empty = HashMap::new();
        let work: Vec<_> = pairs
            .into_iter()
            .map(|(account, pair_rows)| {
                let functions = inventory.get(&account).unwrap_or(&empty);
                let pair_aliases = aliases.remove(&account).unwrap_or_default();
                async move {
                    self.enrich_pair(
                        members,
                        context,
                        &account,
                        region,
                        pair_rows,
                        functions,
                        pair_aliases,
                    )
                    .await
                }
            })
            .collect();
        let mut done = futures_util::stream::iter(work).buffered(PAIR_CONCURRENCY);
        while let Some((pair_rows, pair_gaps)) = done.next().await {
            rows.extend(pair_rows);
            gaps.extend(pair_gaps);
        }
        gaps
    }

    /// One (account, Region): its rows with the enrichment, and the gaps.
    #[allow(clippy::too_many_arguments)]
    async fn enrich_pair(
        &self,
        members: &Members,
        context: &RunContext<'_>,
        account: &str,
        region: &str,
        mut rows: Vec<Row>,
        functions: &HashMap<String, FunctionDetails>,
        aliases: Vec<RecordedAlias>,
    ) -> (Vec<Row>, Vec<Gap>) {
        let mut gaps = Vec::new();
        self.tally(|r| r.pairs += 1);
        let clients = match members.clients(account, region).await {
            Ok(clients) => clients,
            Err(reason) => {
                self.tally(|r| r.pairs_without_member_role += 1);
                gaps.push(gap(
                    "member_role",
                    account,
                    region,
                    format!("no versions, layer blockers or invocations read: {reason}"),
                ));
                return (rows, gaps);
            }
        };

        // Versions behind aliases: function → version → alias names.
        let mut referenced: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        for alias in &aliases {
            for version in std::iter::once(&alias.version).chain(&alias.additional_versions) {
                if version != "$LATEST" {
                    referenced
                        .entry(alias.function.as_str())
                        .or_default()
                        .entry(version.clone())
                        .or_default()
                        .insert(alias.name.clone());
                }
            }
        }
        let aliased: BTreeSet<&str> = aliases.iter().map(|a| a.function.as_str()).collect();
        self.tally(|r| {
            r.aliases += aliases.len();
            r.functions_with_aliases += aliased.len();
        });
        let rules: BTreeSet<String> = rows.iter().map(|r| r.rule_name.clone()).collect();
        let account_details = rows.first().map(|r| AccountDetails {
            name: r.account_name.clone(),
            ou_path: r.ou_path.clone(),
            tags: r.account_tags.clone(),
        });
        // Layers of each row: by resource id for functions, by version row index for versions.
        let mut version_layers: HashMap<usize, Vec<String>> = HashMap::new();
        let mut versions_bound = 0u64;
        for (function, versions) in &referenced {
            let Some(details) = functions.get(*function) else {
                // Config holds the alias, not (any more) the function: nothing to judge.
                continue;
            };
            let numbers: BTreeSet<u64> = versions.keys().filter_map(|v| v.parse().ok()).collect();
            if numbers.len() != versions.len() {
                gaps.push(gap(
                    "versions",
                    account,
                    region,
                    format!(
                        "function {function}: an alias names a version that is not a number: {versions:?}"
                    ),
                ));
            }
            let plan = version_read_plan(&numbers);
            versions_bound += plan.calls() as u64;
            let read = match plan {
                VersionRead::List { pages } => list_versions(&clients, function, &numbers, pages).await,
                VersionRead::Get { .. } => get_versions(&clients, function, &numbers).await,
            };
            let configs = match read {
                Ok(configs) => configs,
                Err(reason) => {
                    gaps.push(gap(
                        "versions",
                        account,
                        region,
                        format!("function {function}: its aliases' versions could not be read: {reason}"),
                    ));
                    continue;
                }
            };
            for number in &numbers {
                let key = number.to_string();
                let Some(config) = configs.get(number) else {
                    gaps.push(gap(
                        "versions",
                        account,
                        region,
                        format!("function {function}: version {key}, named by an alias, was not found"),
                    ));
                    continue;
                };
                let names: Vec<String> = versions
                    .get(&key)
                    .map(|n| n.iter().cloned().collect())
                    .unwrap_or_default();
                for rule in &rules {
                    if let Some(row) = version_row(
                        context,
                        (account, region, rule),
                        function,
                        details,
                        config,
                        &names,
                        account_details.as_ref(),
                    ) {
                        version_layers.insert(rows.len(), config.layers.clone());
                        rows.push(row);
                        self.tally(|r| r.version_rows += 1);
                    }
                }
            }
        }

        // Layer blockers: distinct layer versions, looked up once a run.
        let mut layer_gaps: BTreeMap<String, String> = BTreeMap::new();
        let mut known: HashMap<String, Option<Vec<String>>> = HashMap::new();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for (index, row) in rows.iter().enumerate() {
            if row.successor.is_none() {
                continue;
            }
            let layers = match version_layers.get(&index) {
                Some(layers) => layers.as_slice(),
                None => functions
                    .get(&row.resource_id)
                    .map_or(&[][..], |f| f.layers.as_slice()),
            };
            wanted.extend(layers.iter().cloned());
        }
        for layer in wanted {
            let (answer, looked_up) = self.layer(&clients, &layer).await;
            if looked_up {
                self.tally(|r| {
                    r.layer_versions += 1;
                    *r.call_bounds.entry("lambda:GetLayerVersionByArn").or_default() += 1;
                });
            }
            match answer {
                Ok(runtimes) => {
                    known.insert(layer, Some(runtimes));
                }
                Err(reason) => {
                    if looked_up {
                        layer_gaps.insert(layer.clone(), reason);
                    }
                    known.insert(layer, None);
                }
            }
        }
        for (layer, reason) in layer_gaps {
            gaps.push(gap(
                "layers",
                account,
                region,
                format!("layer version {layer}: {reason}; blocking_layers is NULL on the rows that use it"),
            ));
        }
        for (index, row) in rows.iter_mut().enumerate() {
            if row.function_arn.is_none() && row.runtime.is_none() {
                continue; // no function details: nothing known of its layers
            }
            let layers = match version_layers.get(&index) {
                Some(layers) => layers.clone(),
                None => functions
                    .get(&row.resource_id)
                    .map(|f| f.layers.clone())
                    .unwrap_or_default(),
            };
            row.blocking_layers = blocking_layers(&layers, row.successor.as_deref(), |arn| {
                known.get(arn).cloned().flatten()
            });
        }

        // Invocations of the selected rows, 500 series a call.
        let warn_days = context.policy.warn_days_before;
        let mut selected: BTreeMap<Series, Vec<usize>> = BTreeMap::new();
        for (index, row) in rows.iter().enumerate() {
            if row.function_arn.is_none() && row.runtime.is_none() {
                continue;
            }
            if !self.invocations.selects(row, warn_days) {
                continue;
            }
            let series = match &row.qualifier {
                // The Resource dimension of a version's metrics is `name:version`.
                Some(qualifier) if row.resource_type == LAMBDA_VERSION => Series {
                    function: row.resource_id.clone(),
                    resource: Some(format!("{}:{qualifier}", row.resource_id)),
                },
                _ => Series {
                    function: row.resource_id.clone(),
                    resource: None,
                },
            };
            selected.entry(series).or_default().push(index);
        }
        let series: Vec<(Series, Vec<usize>)> = selected.into_iter().collect();
        let calls = series.len().div_ceil(METRICS_PER_CALL) as u64;
        self.tally(|r| {
            r.metric_series += series.len();
            *r.call_bounds.entry("cloudwatch:GetMetricData").or_default() += calls;
            *r.call_bounds.entry("lambda:versions").or_default() += versions_bound;
        });
        for batch in series.chunks(METRICS_PER_CALL) {
            let names: Vec<&Series> = batch.iter().map(|(s, _)| s).collect();
            match invocations(&clients, context.snapshot_date, &names).await {
                Ok(found) => {
                    for (position, (_, indexes)) in batch.iter().enumerate() {
                        let invoked = found.get(&position).copied().unwrap_or_default();
                        for &index in indexes {
                            rows[index].invocations_30d = Some(invoked.total);
                            rows[index].last_invoked_date = invoked.last;
                        }
                    }
                }
                Err(reason) => gaps.push(gap(
                    "invocations",
                    account,
                    region,
                    format!(
                        "{} series not read (invocations_30d is NULL on their rows): {reason}",
                        batch.len()
                    ),
                )),
            }
        }
        (rows, gaps)
    }

    /// A layer version's CompatibleRuntimes from the run's cache, read on first use; also whether this
    /// call read it (the reader reports a failure, once).
    async fn layer(&self, clients: &PairClients, arn: &str) -> (Result<Vec<String>, String>, bool) {
        let cell = match self.layers.lock() {
            Ok(mut layers) => layers.entry(arn.to_string()).or_default().clone(),
            Err(_) => return (Err("the layer cache is poisoned".into()), false),
        };
        let mut looked_up = false;
        let answer = cell
            .get_or_init(|| {
                looked_up = true;
                async {
                    clients
                        .lambda
                        .get_layer_version_by_arn()
                        .arn(arn)
                        .send()
                        .await
                        .map(|answer| {
                            answer
                                .compatible_runtimes()
                                .iter()
                                .map(|r| r.as_str().to_string())
                                .collect()
                        })
                        .map_err(|e| error_text(&e))
                }
            })
            .await
            .clone();
        (answer, looked_up)
    }
}

/// The referenced versions from ListVersionsByFunction pages (at most `pages`; stops once all are seen).
async fn list_versions(
    clients: &PairClients,
    function: &str,
    numbers: &BTreeSet<u64>,
    pages: usize,
) -> Result<BTreeMap<u64, VersionConfig>, String> {
    let mut found = BTreeMap::new();
    let mut marker = None;
    for _ in 0..pages {
        let page = clients
            .lambda
            .list_versions_by_function()
            .function_name(function)
            .max_items(VERSIONS_PAGE as i32)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        for version in page.versions() {
            if let Some(number) = version.version().and_then(|v| v.parse::<u64>().ok())
                && numbers.contains(&number)
            {
                found.insert(number, version_config!(version));
            }
        }
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() || found.len() == numbers.len() {
            break;
        }
    }
    Ok(found)
}

/// The referenced versions, one GetFunctionConfiguration each.
async fn get_versions(
    clients: &PairClients,
    function: &str,
    numbers: &BTreeSet<u64>,
) -> Result<BTreeMap<u64, VersionConfig>, String> {
    let mut found = BTreeMap::new();
    for number in numbers {
        let answer = clients
            .lambda
            .get_function_configuration()
            .function_name(function)
            .qualifier(number.to_string())
            .send()
            .await
            .map_err(|e| format!("version {number}: {}", error_text(&e)))?;
        found.insert(*number, version_config!(&answer));
    }
    Ok(found)
}

/// Sums per day of `series` over the 30 days before `snapshot_date`, by position in `series`.
async fn invocations(
    clients: &PairClients,
    snapshot_date: Date,
    series: &[&Series],
) -> Result<HashMap<usize, Invoked>, String> {
    let end = day_start(snapshot_date)?;
    let start = day_start(lifecycle::dates::add_days(snapshot_date, -INVOCATION_DAYS))?;
    let mut days: HashMap<usize, Vec<(Date, f64)>> = HashMap::new();
    let mut token = None;
    loop {
        let answer = clients
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(
                series
                    .iter()
                    .enumerate()
                    .map(|(i, s)| metric_query(i, s))
                    .collect(),
            ))
            .start_time(aws_smithy_types::DateTime::from_secs(start))
            .end_time(aws_smithy_types::DateTime::from_secs(end))
            .scan_by(ScanBy::TimestampDescending)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        for result in answer.metric_data_results() {
            let Some(index) = result
                .id()
                .and_then(|id| id.strip_prefix('m'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n < series.len())
            else {
                return Err(format!("GetMetricData answered an unknown id {:?}", result.id()));
            };
            if result
                .status_code()
                .is_some_and(|s| s.as_str() == "Forbidden" || s.as_str() == "InternalError")
            {
                return Err(format!(
                    "GetMetricData answered {} for {:?}",
                    result.status_code().map_or("", |s| s.as_str()),
                    series[index]
                ));
            }
            let entry = days.entry(index).or_default();
            for (stamp, value) in result.timestamps().iter().zip(result.values()) {
                if let Ok(time) = Timestamp::from_second(stamp.secs()) {
                    entry.push((jiff::tz::Offset::UTC.to_datetime(time).date(), *value));
                }
            }
        }
        match answer.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    Ok(days.into_iter().map(|(i, d)| (i, summarize(&d))).collect())
}

fn day_start(date: Date) -> Result<i64, String> {
    jiff::tz::Offset::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .map(|t| t.as_second())
        .map_err(|e| format!("day {date}: {e}"))
}

/// The row of a published version under `rule`, judged by the rule's verdict on the version's runtime
/// (the function's tags: an exemption covers its versions); None when the rule does not judge it
/// (NOT_APPLICABLE, which the dataset holds no rows for).
fn version_row(
    context: &RunContext<'_>,
    (account, region, rule): (&str, &str, &str),
    function: &str,
    details: &FunctionDetails,
    config: &VersionConfig,
    aliases: &[String],
    account_details: Option<&AccountDetails>,
) -> Option<Row> {
    let package_type = config
        .package_type
        .clone()
        .or_else(|| details.package_type.clone());
    let snapshot = FunctionSnapshot {
        name: function.to_string(),
        package_type: match package_type.as_deref() {
            Some("Image") => PackageType::Image,
            _ => PackageType::Zip,
        },
        runtime: config.runtime.clone(),
        last_modified: config
            .last_modified
            .map(|t| jiff::tz::Offset::UTC.to_datetime(t).date()),
        tags: details.tags.clone(),
        runtime_update_mode: Observed::NotNeeded,
    };
    let verdict = evaluate(&snapshot, context.policy, context.catalog, context.snapshot_date);
    if verdict.compliance == ComplianceType::NotApplicable {
        return None;
    }
    let record = EvaluationRecord {
        account_id: account.to_string(),
        region: region.to_string(),
        rule_name: rule.to_string(),
        resource_type: LAMBDA_VERSION.to_string(),
        // The function's name, as on its own row (joined on it); the version is the qualifier.
        resource_id: function.to_string(),
        compliance_type: verdict.compliance.as_str().to_string(),
        annotation: Some(verdict.annotation),
        result_recorded_time: None,
        config_rule_invoked_time: None,
    };
    let version = FunctionDetails {
        function_arn: config.arn.clone().or_else(|| {
            details
                .function_arn
                .as_ref()
                .map(|a| format!("{a}:{}", config.version))
        }),
        runtime: config.runtime.clone(),
        package_type,
        architectures: config.architectures.clone(),
        code_last_modified: config.last_modified,
        tags: details.tags.clone(),
        layers: config.layers.clone(),
    };
    let mut row = context.row(&record, Some(&version), account_details);
    row.qualifier = Some(config.version.clone());
    row.aliases = aliases.to_vec();
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use lifecycle::{Catalog, Policy};

    #[test]
    fn versions_are_read_by_the_cheaper_of_list_and_get() {
        let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
        // 2 versions near the start: one list page (1 call) beats 2 gets.
        assert_eq!(version_read_plan(&set(&[2, 4])), VersionRead::List { pages: 1 });
        // One version: a get (a tie with one page goes to get).
        assert_eq!(version_read_plan(&set(&[3])), VersionRead::Get { calls: 1 });
        // $LATEST takes the first slot: version 49 is on page 1, version 50 on page 2.
        assert_eq!(
            version_read_plan(&set(&[1, 2, 49])),
            VersionRead::List { pages: 1 }
        );
        assert_eq!(version_read_plan(&set(&[1, 50])), VersionRead::Get { calls: 2 });
        assert_eq!(
            version_read_plan(&set(&[1, 2, 50])),
            VersionRead::List { pages: 2 }
        );
        // Far versions: gets.
        assert_eq!(version_read_plan(&set(&[7, 900])), VersionRead::Get { calls: 2 });
        assert_eq!(version_read_plan(&set(&[])), VersionRead::Get { calls: 0 });
        // The bound: never more than either way.
        for referenced in [set(&[1, 2, 3]), set(&[10, 120, 250, 251]), set(&[5000])] {
            let highest = *referenced.last().expect("one") as usize;
            let calls = version_read_plan(&referenced).calls();
            assert!(
                calls <= referenced.len() && calls <= (highest + 1).div_ceil(50),
                "{referenced:?}"
            );
        }
    }

    #[test]
    fn a_layer_blocks_when_it_lists_runtimes_without_the_successor() {
        let layers = vec![
            "arn:l:old:1".to_string(),
            "arn:l:any:1".to_string(),
            "arn:l:new:2".to_string(),
        ];
        let lists = |arn: &str| -> Option<Vec<String>> {
            Some(match arn {
                "arn:l:old:1" => vec!["python3.8".into(), "python3.9".into()],
                "arn:l:any:1" => vec![],
                _ => vec!["python3.12".into()],
            })
        };
        assert_eq!(
            blocking_layers(&layers, Some("python3.12"), lists),
            Some(vec!["arn:l:old:1".to_string()])
        );
        assert_eq!(
            blocking_layers(&layers, None, lists),
            Some(vec![]),
            "nothing to upgrade to"
        );
        assert_eq!(blocking_layers(&[], Some("python3.12"), lists), Some(vec![]));
        // One layer unreadable: unknown, not "nothing blocks".
        let unreadable = |arn: &str| (arn != "arn:l:any:1").then(|| vec!["python3.12".to_string()]);
        assert_eq!(blocking_layers(&layers, Some("python3.12"), unreadable), None);
    }

    #[test]
    fn metric_queries_go_500_a_call_with_valid_ids() {
        let series: Vec<Series> = (0..1_201)
            .map(|i| Series {
                function: format!("fn-{i}"),
                resource: (i % 2 == 0).then(|| format!("fn-{i}:3")),
            })
            .collect();
        let batches: Vec<usize> = series.chunks(METRICS_PER_CALL).map(<[Series]>::len).collect();
        assert_eq!(batches, [500, 500, 201]);
        assert_eq!(series.len().div_ceil(METRICS_PER_CALL), 3);
        let query = metric_query(499, &series[2]);
        assert_eq!(query.id(), Some("m499"));
        let stat = query.metric_stat().expect("stat");
        assert_eq!((stat.period(), stat.stat()), (Some(86_400), Some("Sum")));
        let metric = stat.metric().expect("metric");
        assert_eq!(
            (
                metric.namespace(),
                metric.metric_name(),
                metric.dimensions().len()
            ),
            (Some("AWS/Lambda"), Some("Invocations"), 2)
        );
        assert_eq!(
            metric_query(0, &series[1])
                .metric_stat()
                .and_then(|s| s.metric())
                .map(|m| m.dimensions().len()),
            Some(1)
        );
    }

    #[test]
    fn invocations_sum_and_the_last_day_with_one() {
        let days = [
            (date(2026, 11, 1), 3.0),
            (date(2026, 11, 20), 0.0),
            (date(2026, 11, 10), 4.0),
        ];
        assert_eq!(
            summarize(&days),
            Invoked {
                total: 7,
                last: Some(date(2026, 11, 10))
            }
        );
        assert_eq!(
            summarize(&[]),
            Invoked { total: 0, last: None },
            "read, none: 0, not NULL"
        );
    }

    #[test]
    fn the_setting_selects_failing_and_warned_rows() {
        let catalog = Catalog::builtin().expect("catalog");
        let policy = Policy::default();
        let context = RunContext::new(&catalog, &policy, date(2026, 11, 23), "run");
        let record = |compliance: &str| EvaluationRecord {
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            rule_name: "r".into(),
            resource_type: "AWS::Lambda::Function".into(),
            resource_id: "f".into(),
            compliance_type: compliance.into(),
            annotation: None,
            result_recorded_time: None,
            config_rule_invoked_time: None,
        };
        let details = |runtime: &str| FunctionDetails {
            runtime: Some(runtime.into()),
            ..FunctionDetails::default()
        };
        let failing = context.row(&record("NON_COMPLIANT"), Some(&details("python3.8")), None);
        let fine = context.row(&record("COMPLIANT"), Some(&details("nodejs24.x")), None);
        let mut warned = fine.clone();
        warned.days_to_fail = Some(90);
        for (setting, expected) in [
            (Invocations::Failing, [true, false, true]),
            (Invocations::All, [true, true, true]),
            (Invocations::Off, [false, false, false]),
        ] {
            let got = [&failing, &fine, &warned].map(|row| setting.selects(row, policy.warn_days_before));
            assert_eq!(got, expected, "{setting:?}");
        }
        assert_eq!(Invocations::parse("all"), Ok(Invocations::All));
        assert!(Invocations::parse("some").is_err());
    }

    #[test]
    fn version_rows_take_the_verdict_on_their_own_runtime() {
        let catalog = Catalog::builtin().expect("catalog");
        let policy = Policy::default();
        let context = RunContext::new(&catalog, &policy, date(2026, 11, 23), "run");
        let details = FunctionDetails {
            function_arn: Some("arn:aws:lambda:eu-west-1:111122223333:function:orders".into()),
            runtime: Some("python3.13".into()),
            package_type: Some("Zip".into()),
            ..FunctionDetails::default()
        };
        let old = VersionConfig {
            version: "2".into(),
            runtime: Some("python3.8".into()),
            ..VersionConfig::default()
        };
        let row = version_row(
            &context,
            ("111122223333", "eu-west-1", "r"),
            "orders",
            &details,
            &old,
            &["live".to_string()],
            None,
        )
        .expect("judged");
        assert_eq!(
            (
                row.resource_type.as_str(),
                row.resource_id.as_str(),
                row.compliance_type.as_str(),
                row.qualifier.as_deref(),
                row.function_arn.as_deref()
            ),
            (
                LAMBDA_VERSION,
                "orders",
                "NON_COMPLIANT",
                Some("2"),
                Some("arn:aws:lambda:eu-west-1:111122223333:function:orders:2")
            )
        );
        assert_eq!(row.phase, Some(lifecycle::Phase::Deprecated));
        assert_eq!(row.aliases, ["live"]);
        assert!(row.annotation.as_deref().is_some_and(|a| a.contains("python3.8")));
        let image = VersionConfig {
            version: "1".into(),
            package_type: Some("Image".into()),
            ..VersionConfig::default()
        };
        assert!(
            version_row(
                &context,
                ("111122223333", "eu-west-1", "r"),
                "m",
                &details,
                &image,
                &[],
                None
            )
            .is_none(),
            "an image is NOT_APPLICABLE without imageMaxAgeDays"
        );
    }
}
