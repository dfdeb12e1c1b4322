//! Deterministic synthetic rows shaped like a large organization's, for the encode benchmark
//! (`aggregator bench-encode`, run by `cargo xtask bench aggregator`) and the SQL tests' dataset
//! (`aggregator sample`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use lifecycle::catalog::Packaging;
use lifecycle::verdict::{ComplianceType, FunctionSnapshot, Observed, PackageType, evaluate};

use crate::row::{AccountDetails, EvaluationRecord, FunctionDetails, Row, RunContext};

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "eu-central-1"];

/// The resource type of a published version's row.
use crate::enrich::LAMBDA_VERSION;

/// Alias names, disjoint sets: the versions of one function take consecutive sets, so no alias
/// points at two of its versions.
const ALIAS_SETS: [&[&str]; 6] = [
    &["prod"],
    &["staging"],
    &["blue"],
    &["green", "canary"],
    &["live", "stable"],
    &["beta"],
];

/// Layers that keep functions on their runtime: (name, published in the organization's shared
/// account rather than the function's own).
const LAYERS: [(&str, bool); 5] = [
    ("shared-auth", true),
    ("otel-collector", true),
    ("legacy-crypto", false),
    ("native-deps", false),
    ("pdf-render", true),
];

/// At most this many alias-referenced versions per function.
const MAX_VERSIONS: usize = 3;

/// The rows of one function: its own, then its versions'.
type FunctionRows = [Option<Row>; 1 + MAX_VERSIONS];

/// `count` rows over 1,000 accounts and four regions, cycling through the catalog's runtimes (and
/// images), generated one function at a time so memory does not grow with `count`. `day` shifts the
/// runtimes and verdicts so that consecutive snapshots differ (for trend queries); some functions
/// carry an exemption tag ending within the next two months.
///
/// The enrichment columns: one Zip function in eight has 1–3 published versions that aliases point
/// at (`AWS::Lambda::Version` rows: `resource_id` the function's name, `qualifier` the version, on a
/// runtime older than `$LATEST`'s two times in three, judged by the rule's own verdict); one function
/// in seven whose runtime has a successor uses 1–2 layer versions that exclude it (`blocking_layers`,
/// also on its versions); invocations are read for NON_COMPLIANT and warned rows (`days_to_fail`
/// within `warnDaysBefore`) — 0, hundreds or millions — and NULL for the rest and in one account in
/// fifty (metrics not readable there), with `last_invoked_date` within the 30 days before the
/// snapshot, NULL when there was none.
pub fn rows<'c>(context: &'c RunContext<'c>, count: usize, day: usize) -> impl Iterator<Item = Row> + 'c {
    let entries: Vec<&lifecycle::catalog::Runtime> = context.catalog.runtimes().collect();
    let runtimes: Vec<String> = entries.iter().map(|r| r.runtime.clone()).collect();
    // For each runtime, the released Zip runtimes of its family released before it.
    let older: Vec<Vec<usize>> = entries
        .iter()
        .map(|r| {
            entries
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    o.family == r.family
                        && o.packaging == Packaging::Zip
                        && matches!((o.released, r.released), (Some(a), Some(b)) if a < b)
                })
                .map(|(index, _)| index)
                .collect()
        })
        .collect();
    let has_successor: Vec<bool> = entries.iter().map(|r| r.successor.is_some()).collect();
    let accounts: Vec<AccountDetails> = (0..1000)
        .map(|i| AccountDetails {
            name: Some(format!("workload-{i:04}").into()),
            ou_path: Some(format!("Root/Workloads/Unit-{}", i % 12).into()),
            tags: BTreeMap::from([
                ("cost-center".to_string(), format!("cc-{}", i % 40)),
                ("owner".to_string(), format!("team-{}@example.com", i % 90)),
            ])
            .into(),
        })
        .collect();
    // The organization's shared-services account, which publishes the shared layers.
    let shared_account = format!("{:012}", 100_000_000_000u64);
    let base = Timestamp::from_second(1_763_800_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let warn_days = i32::try_from(context.policy.warn_days_before).unwrap_or(i32::MAX);
    (0usize..)
        .map(move |i| -> FunctionRows {
            let account_index = i % accounts.len();
            let account = &accounts[account_index];
            // One account in fifty whose metrics the enrichment could not read.
            let readable = account_index % 50 != 49;
            let account_id = format!("{:012}", 100_000_000_000u64 + account_index as u64);
            let region = REGIONS[(i / accounts.len()) % REGIONS.len()];
            let name = format!("service-{i:07}");
            let image = i % 23 == 0;
            let runtime_index = (i + day * 7) % runtimes.len();
            let runtime = (!image).then(|| runtimes[runtime_index].clone());
            // Every function has a row: some images the rule does not judge (NOT_APPLICABLE) and some
            // functions it has not judged yet (INSUFFICIENT_DATA), besides its verdicts.
            let compliance = if image && i % 2 == 0 {
                "NOT_APPLICABLE"
            } else if i % 97 == 5 {
                "INSUFFICIENT_DATA"
            } else if (i + day).is_multiple_of(3) {
                "NON_COMPLIANT"
            } else {
                "COMPLIANT"
            };
            let recorded = base
                .checked_add(jiff::SignedDuration::from_secs((i % 86_400) as i64))
                .unwrap_or(base);
            // Code ages spread over about two years.
            let modified = base
                .checked_sub(jiff::SignedDuration::from_hours(((i * 37) % 17_520) as i64))
                .unwrap_or(base);
            let mut tags = BTreeMap::from([
                ("service".to_string(), format!("svc-{}", i % 500)),
                ("team".to_string(), format!("team-{}", i % 90)),
            ]);
            if i % 41 == 0 {
                let until = lifecycle::dates::add_days(context.snapshot_date, (i % 61) as i64 - 5);
                tags.insert(
                    lifecycle::policy::DEFAULT_EXEMPTION_TAG.to_string(),
                    until.to_string(),
                );
            }
            let record = EvaluationRecord {
                account_id,
                region: region.to_string(),
                rule_name: "OrgConfigRule-lambda-runtime-lifecycle-k3x9q2".into(),
                resource_type: lifecycle::event::LAMBDA_FUNCTION.into(),
                resource_id: name,
                compliance_type: compliance.into(),
                annotation: match compliance {
                    "NON_COMPLIANT" => Some(format!(
                        "{} is deprecated; upgrade to its successor",
                        runtime.as_deref().unwrap_or("image")
                    )),
                    "NOT_APPLICABLE" => Some("Container image: not checked (imageMaxAgeDays 0).".into()),
                    "INSUFFICIENT_DATA" => Some(crate::row::NOT_EVALUATED.into()),
                    _ => None,
                },
                // Derived rows (not read from Config) carry no result time.
                result_recorded_time: matches!(compliance, "COMPLIANT" | "NON_COMPLIANT").then_some(recorded),
                config_rule_invoked_time: matches!(compliance, "COMPLIANT" | "NON_COMPLIANT")
                    .then_some(recorded),
            };
            let mut function = FunctionDetails {
                function_arn: Some(format!(
                    "arn:aws:lambda:{region}:{}:function:{}",
                    record.account_id, record.resource_id
                )),
                runtime,
                package_type: Some(if image { "Image" } else { "Zip" }.into()),
                architectures: vec![if i % 2 == 0 { "arm64" } else { "x86_64" }.into()],
                code_last_modified: Some(modified),
                tags,
                layers: Vec::new(),
            };
            let mut out: FunctionRows = Default::default();
            let mut row = context.row(&record, Some(&function), Some(account));
            // Layers read (enrichment on): an empty list where none blocks.
            row.blocking_layers = Some(Vec::new());
            if !image && has_successor[runtime_index] && i % 7 == 3 {
                row.blocking_layers = Some(
                    (0..1 + (i / 7) % 2)
                        .map(|n| {
                            let (layer, shared) = LAYERS[(i / 14 + n * 2) % LAYERS.len()];
                            let owner = if shared {
                                &shared_account
                            } else {
                                &record.account_id
                            };
                            format!(
                                "arn:aws:lambda:{region}:{owner}:layer:{layer}:{}",
                                1 + (i + n) % 4
                            )
                        })
                        .collect(),
                );
            }
            invocations(context, &mut row, hash(i, 7), warn_days, readable);
            let versions = if image || i % 8 != 1 {
                0
            } else {
                1 + (i / 8) % MAX_VERSIONS
            };
            let blocking_layers = if versions > 0 {
                row.blocking_layers.clone()
            } else {
                Some(Vec::new())
            };
            out[0] = Some(row);
            // Versions published before $LATEST's code, numbered upwards, aliases on each.
            let first_version = 1 + i % 17;
            let step = 1 + i % 3;
            for k in 0..versions {
                let mix = hash(i, k + 1);
                let older = &older[runtime_index];
                let version_runtime = if older.is_empty() || mix.is_multiple_of(3) {
                    runtime_index
                } else {
                    older[(mix as usize / 3) % older.len()]
                };
                let qualifier = (first_version + k * step).to_string();
                function.runtime = Some(runtimes[version_runtime].clone());
                function.function_arn = Some(format!(
                    "arn:aws:lambda:{region}:{}:function:{}:{qualifier}",
                    record.account_id, record.resource_id
                ));
                function.code_last_modified = modified
                    .checked_sub(jiff::SignedDuration::from_hours(
                        ((versions - k) * (200 + (mix as usize % 2_000))) as i64,
                    ))
                    .ok();
                let verdict = evaluate(
                    &FunctionSnapshot {
                        name: record.resource_id.clone(),
                        package_type: PackageType::Zip,
                        runtime: function.runtime.clone(),
                        last_modified: function
                            .code_last_modified
                            .map(|t| jiff::tz::Offset::UTC.to_datetime(t).date()),
                        tags: function.tags.clone(),
                        runtime_update_mode: Observed::NotNeeded,
                    },
                    context.policy,
                    context.catalog,
                    context.snapshot_date,
                );
                if verdict.compliance == ComplianceType::NotApplicable {
                    continue; // no result, no row
                }
                let version_record = EvaluationRecord {
                    resource_type: LAMBDA_VERSION.into(),
                    compliance_type: verdict.compliance.as_str().into(),
                    annotation: Some(verdict.annotation),
                    ..record.clone()
                };
                let mut version = context.row(&version_record, Some(&function), Some(account));
                version.qualifier = Some(qualifier);
                version.aliases = ALIAS_SETS[(i + k) % ALIAS_SETS.len()]
                    .iter()
                    .map(|alias| alias.to_string())
                    .collect();
                version.blocking_layers.clone_from(&blocking_layers);
                invocations(context, &mut version, hash(i, 8 + k), warn_days, readable);
                out[1 + k] = Some(version);
            }
            out
        })
        .flat_map(|rows| rows.into_iter().flatten())
        .take(count)
}

/// A well-mixed deterministic number from a function's index and a salt.
fn hash(i: usize, salt: usize) -> u64 {
    let mut x = (i as u64) ^ ((salt as u64) << 40);
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// Invocations in the 30 days before the snapshot, read (as the enrichment does by default) for
/// NON_COMPLIANT rows and for warned ones (failing within `warnDaysBefore`): three in ten not invoked
/// (0), four in ten a few hundred times at most, the rest thousands to millions of times; NULL where
/// not read. The last invocation falls within those 30 days (within the last two for busy ones),
/// NULL when there was none. Nothing is read in an account that is not `readable` (as when the
/// enrichment cannot read an account's metrics).
fn invocations(context: &RunContext<'_>, row: &mut Row, mix: u64, warn_days: i32, readable: bool) {
    let warned = row.days_to_fail.is_some_and(|d| d > 0 && d <= warn_days);
    if !readable || (row.compliance_type != "NON_COMPLIANT" && !warned) {
        return;
    }
    let (count, days_ago) = match mix % 10 {
        0..=2 => (0, 0),
        3..=6 => (1 + (mix >> 8) % 500, 1 + (mix >> 20) % 30),
        _ => (10_000 + (mix >> 8) % 50_000_000, 1 + (mix >> 20) % 2),
    };
    row.invocations_30d = Some(count as i64);
    row.last_invoked_date =
        (count > 0).then(|| lifecycle::dates::add_days(context.snapshot_date, -(days_ago as i64)));
}
