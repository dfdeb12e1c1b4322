//! The `rule` command line: `rule catalog`, `rule evaluate` (the CLI contract in the README).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use jiff::civil::Date;
use serde::Serialize;

use lifecycle::catalog::{Catalog, Phase};
use lifecycle::dates::{parse_date, today_utc};
use lifecycle::evaluation::evaluate_offline;
use lifecycle::event::Invocation;

#[derive(Debug, Parser)]
#[command(
    name = "rule",
    version,
    about = "Lambda runtime lifecycle compliance for AWS Config"
)]
pub struct Cli {
    /// Use this catalog (same JSON schema as the built-in rule/lifecycle/data/runtimes.json) instead of the built-in one.
    #[arg(long, global = true, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every runtime of the catalog with its lifecycle dates and its phase on a date.
    Catalog {
        /// The date to compute phases for (YYYY-MM-DD, default: today in UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        as_of: Option<Date>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The evaluations a Config rule invocation event produces, as a JSON array.
    Evaluate {
        /// The raw invocation event (a file, or - for standard input).
        #[arg(long, value_name = "FILE|-")]
        event: String,
        /// The evaluation date (YYYY-MM-DD, default: today in UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        as_of: Option<Date>,
        /// Make no AWS call: checks that need one are skipped and say so; oversized and scheduled
        /// notifications fail with the reason.
        #[arg(long)]
        offline: bool,
    },
    /// Evaluate every function of the current account directly through the Lambda API, without Config.
    Scan {
        /// The region to scan (default: the SDK's region chain).
        #[arg(long)]
        region: Option<String>,
        /// The evaluation date (YYYY-MM-DD, default: today in UTC).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
        as_of: Option<Date>,
        /// Rule parameters as the Config rule gets them (a JSON object of strings).
        #[arg(long, value_name = "JSON")]
        rule_parameters: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The pace of Lambda control-plane calls (AWS allows 15 a second for the whole account and
        /// Region; the default leaves room for everyone else).
        #[arg(long, value_name = "N", default_value = crate::aws::DEFAULT_LAMBDA_CALLS_PER_SECOND)]
        lambda_calls_per_second: std::num::NonZeroU32,
        /// Also judge the published versions that aliases point at (weighted aliases' versions too):
        /// one ListAliases call per function, one GetFunctionConfiguration per version an alias points at.
        #[arg(long)]
        versions: bool,
    },
}

/// One row of `rule catalog` (the CLI contract in the README).
#[derive(Debug, Serialize)]
pub struct CatalogRow<'c> {
    pub runtime: &'c str,
    pub family: &'c str,
    pub os: &'c str,
    pub deprecation_date: Option<Date>,
    pub block_create_date: Option<Date>,
    pub block_update_date: Option<Date>,
    pub phase: Phase,
    pub successor: Option<&'c str>,
    pub latest: Option<&'c str>,
}

pub fn catalog_rows(catalog: &Catalog, as_of: Date) -> Vec<CatalogRow<'_>> {
    catalog
        .runtimes()
        .map(|r| CatalogRow {
            runtime: &r.runtime,
            family: &r.family,
            os: &r.os,
            deprecation_date: r.deprecation_date,
            block_create_date: r.block_create_date,
            block_update_date: r.block_update_date,
            phase: r.phase_on(as_of),
            successor: r.successor.as_deref(),
            latest: r.latest.as_deref(),
        })
        .collect()
}

fn load_catalog(path: Option<&PathBuf>) -> anyhow::Result<Catalog> {
    match path {
        None => Catalog::builtin().context("the built-in catalog is invalid (a build defect)"),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading catalog {}", path.display()))?;
            Catalog::from_json(&text).with_context(|| format!("catalog {}", path.display()))
        }
    }
}

fn read_event(source: &str, stdin: &mut dyn Read) -> anyhow::Result<String> {
    let mut text = String::new();
    if source == "-" {
        stdin
            .read_to_string(&mut text)
            .context("reading the event from standard input")?;
    } else {
        text = std::fs::read_to_string(source).with_context(|| format!("reading event file {source}"))?;
    }
    Ok(text)
}

/// Runs one command, writing its result to `out`.
pub fn run(cli: Cli, stdin: &mut dyn Read, out: &mut dyn Write) -> anyhow::Result<()> {
    let catalog = load_catalog(cli.catalog.as_ref())?;
    match cli.command {
        Command::Catalog { as_of, json } => {
            let rows = catalog_rows(&catalog, as_of.unwrap_or_else(today_utc));
            if json {
                serde_json::to_writer_pretty(&mut *out, &rows)?;
                writeln!(out)?;
            } else {
                write_table(out, &rows)?;
            }
        }
        Command::Evaluate {
            event,
            as_of,
            offline,
        } => {
            let text = read_event(&event, stdin)?;
            let invocation = Invocation::parse(&text).with_context(|| format!("event {event}"))?;
            let today = as_of.unwrap_or_else(today_utc);
            let evaluations = if offline {
                let evaluations = evaluate_offline(&invocation, &catalog, today)?;
                for skipped in lifecycle::evaluation::offline_skipped_checks(&invocation) {
                    eprintln!("rule: offline, not checked: {skipped}");
                }
                evaluations
            } else {
                online(async move {
                    // The current credentials are taken to be the event's account: no role is assumed.
                    let event: serde_json::Value = serde_json::from_str(&text)?;
                    let own = invocation.account_id.clone().unwrap_or_default();
                    let limits = crate::lambda::lambda_limits(|_| None)?;
                    let services = services(None, catalog, limits).await;
                    let calls = crate::aws::CallCounter::default();
                    Ok(crate::lambda::evaluate(&event, &own, &services, &calls, today)
                        .await?
                        .evaluations)
                })?
            };
            serde_json::to_writer_pretty(&mut *out, &evaluations)?;
            writeln!(out)?;
        }
        Command::Scan {
            region,
            as_of,
            rule_parameters,
            json,
            lambda_calls_per_second,
            versions,
        } => {
            let today = as_of.unwrap_or_else(today_utc);
            let policy = lifecycle::policy::Policy::from_rule_parameters(rule_parameters.as_deref())?;
            let rows = online(async move {
                let limits = crate::aws::LambdaLimits {
                    calls_per_second: lambda_calls_per_second,
                    mode_reads_per_sweep: usize::MAX,
                };
                let services = services(region, catalog.clone(), limits).await;
                scan(&services, policy, catalog, today, versions).await
            })?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &rows)?;
                writeln!(out)?;
            } else {
                write_scan_table(out, &rows)?;
            }
        }
    }
    Ok(())
}

/// Runs an async CLI command on a runtime of its own.
fn online<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(work)
}

async fn services(
    region: Option<String>,
    catalog: Catalog,
    limits: crate::aws::LambdaLimits,
) -> crate::lambda::Services {
    let mut base = awsbase::base_config().await;
    if let Some(region) = region {
        base = base.to_builder().region(aws_config::Region::new(region)).build();
    }
    crate::lambda::Services::new(crate::aws::Accounts::own_account_only(base, limits), catalog)
}

/// One function (or, with `--versions`, one published version an alias points at) in `rule scan`'s
/// output.
#[derive(Debug, Serialize)]
pub struct ScanRow {
    pub function: String,
    /// The published version (`--versions`); null on a function's own row (`$LATEST`).
    pub qualifier: Option<String>,
    /// The aliases that point at this version (weighted ones included); empty on a function's row.
    pub aliases: Vec<String>,
    pub runtime: Option<String>,
    pub package_type: &'static str,
    pub phase: Option<Phase>,
    pub compliance: &'static str,
    pub annotation: String,
}

/// Every function judged, each runtime management mode read where it can change the verdict (no budget:
/// a scan is asked for, once; it is paced like the rule). With `versions`, the published versions the
/// functions' aliases point at are judged too, each on its own runtime.
async fn scan(
    services: &crate::lambda::Services,
    policy: lifecycle::policy::Policy,
    catalog: Catalog,
    today: Date,
    versions: bool,
) -> anyhow::Result<Vec<ScanRow>> {
    let calls = crate::aws::CallCounter::default();
    let clients = services.accounts.own("current");
    let judge = lifecycle::evaluation::Context {
        policy: Ok(policy.clone()),
        catalog: &catalog,
        today,
    };
    let mut functions = crate::aws::list_functions(&clients, &calls, &policy.exemption_tag).await?;
    let needs: Vec<bool> = functions
        .iter()
        .map(|(f, _)| judge.mode_can_change_compliance(f))
        .collect();
    crate::aws::read_modes(&clients, &calls, &mut functions, |i| needs[i]).await;
    let mut snapshots: Vec<(lifecycle::verdict::FunctionSnapshot, Option<String>, Vec<String>)> = Vec::new();
    if versions {
        snapshots.extend(alias_versions(&clients, &calls, &functions).await?);
    }
    snapshots.extend(functions.into_iter().map(|(f, _arn)| (f, None, Vec::new())));
    let mut rows: Vec<ScanRow> = snapshots
        .into_iter()
        .map(|(function, qualifier, aliases)| {
            let verdict = lifecycle::verdict::evaluate(&function, &policy, &catalog, today);
            ScanRow {
                phase: function
                    .runtime
                    .as_deref()
                    .and_then(|r| catalog.get(r))
                    .map(|r| r.phase_on(today)),
                package_type: if function.package_type == lifecycle::verdict::PackageType::Image {
                    "Image"
                } else {
                    "Zip"
                },
                function: function.name,
                qualifier,
                aliases,
                runtime: function.runtime,
                compliance: verdict.compliance.as_str(),
                annotation: verdict.annotation,
            }
        })
        .collect();
    // Each function's row, then its versions in numeric order.
    let version_number = |q: &Option<String>| q.as_deref().map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
    rows.sort_by(|a, b| {
        (&a.function, version_number(&a.qualifier), &a.qualifier).cmp(&(
            &b.function,
            version_number(&b.qualifier),
            &b.qualifier,
        ))
    });
    Ok(rows)
}

/// The published versions the functions' aliases point at, each read once (one ListAliases per
/// function, one GetFunctionConfiguration per distinct version, paced, a few in flight), with the
/// aliases that point at it.
async fn alias_versions(
    clients: &crate::aws::AccountClients,
    calls: &crate::aws::CallCounter,
    functions: &[(lifecycle::verdict::FunctionSnapshot, String)],
) -> anyhow::Result<Vec<(lifecycle::verdict::FunctionSnapshot, Option<String>, Vec<String>)>> {
    use futures_util::{StreamExt as _, TryStreamExt as _};
    const IN_FLIGHT: usize = 8;
    let targets: Vec<(usize, std::collections::BTreeMap<String, Vec<String>>)> =
        futures_util::stream::iter(functions.iter().enumerate())
            .map(|(i, (function, _))| async move {
                crate::aws::alias_targets(clients, calls, &function.name)
                    .await
                    .map(|t| (i, t))
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await?;
    let wanted = targets
        .into_iter()
        .flat_map(|(i, t)| t.into_iter().map(move |(version, aliases)| (i, version, aliases)));
    futures_util::stream::iter(wanted)
        .map(|(i, version, aliases)| async move {
            let snapshot = crate::aws::version_snapshot(clients, calls, &functions[i].0, &version).await?;
            anyhow::Ok((snapshot, Some(version), aliases))
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await
}

/// A row's name in the table: `orders`, or `orders:3 (aliases live, beta)` for a version.
fn scan_name(row: &ScanRow) -> String {
    match &row.qualifier {
        None => row.function.clone(),
        Some(version) => {
            let label = if row.aliases.len() == 1 {
                "alias"
            } else {
                "aliases"
            };
            format!("{}:{version} ({label} {})", row.function, row.aliases.join(", "))
        }
    }
}

fn write_scan_table(out: &mut dyn Write, rows: &[ScanRow]) -> std::io::Result<()> {
    let names: Vec<String> = rows.iter().map(scan_name).collect();
    let width = names.iter().map(String::len).max().unwrap_or(8).max(8);
    writeln!(
        out,
        "{:<width$}  {:<16}  {:<14}  {:<14}  ANNOTATION",
        "FUNCTION", "RUNTIME", "PHASE", "COMPLIANCE"
    )?;
    for (row, name) in rows.iter().zip(&names) {
        writeln!(
            out,
            "{:<width$}  {:<16}  {:<14}  {:<14}  {}",
            name,
            row.runtime.as_deref().unwrap_or(row.package_type),
            row.phase.map_or("-", Phase::as_str),
            row.compliance,
            row.annotation
        )?;
    }
    let failing = rows.iter().filter(|r| r.compliance == "NON_COMPLIANT").count();
    let versions = rows.iter().filter(|r| r.qualifier.is_some()).count();
    let functions = rows.len() - versions;
    if versions == 0 {
        writeln!(out, "{functions} functions, {failing} NON_COMPLIANT")
    } else {
        writeln!(
            out,
            "{functions} functions and {versions} published versions behind aliases, {failing} NON_COMPLIANT"
        )
    }
}

fn write_table(out: &mut dyn Write, rows: &[CatalogRow<'_>]) -> std::io::Result<()> {
    let headers = [
        "RUNTIME",
        "FAMILY",
        "OS",
        "DEPRECATED",
        "CREATE BLOCKED",
        "UPDATE BLOCKED",
        "PHASE",
        "SUCCESSOR",
        "LATEST",
    ];
    let date = |d: Option<Date>| d.map_or_else(|| "-".to_string(), |d| d.to_string());
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.runtime.to_string(),
                r.family.to_string(),
                r.os.to_string(),
                date(r.deprecation_date),
                date(r.block_create_date),
                date(r.block_update_date),
                r.phase.to_string(),
                r.successor.unwrap_or("-").to_string(),
                r.latest.unwrap_or("-").to_string(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    line(out, &headers)?;
    for row in &cells {
        line(out, &row.each_ref().map(String::as_str))?;
    }
    Ok(())
}
