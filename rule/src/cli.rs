//! The `rule` command line: `rule catalog`, `rule evaluate` (architecture.md's CLI contract).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use jiff::civil::Date;
use serde::Serialize;

use crate::catalog::{Catalog, Phase};
use crate::dates::{parse_date, today_utc};
use crate::evaluation::evaluate_offline;
use crate::event::Invocation;

#[derive(Debug, Parser)]
#[command(
    name = "rule",
    version,
    about = "Lambda runtime lifecycle compliance for AWS Config"
)]
pub struct Cli {
    /// Use this catalog (same JSON schema as the built-in rule/data/runtimes.json) instead of the built-in one.
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
}

/// One row of `rule catalog` (architecture.md: the CLI contract).
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
            if !offline {
                bail!(
                    "evaluation with AWS calls (oversized items, periodic sweeps, the runtime management \
                     mode) is not available in this build yet: use --offline"
                );
            }
            let evaluations = evaluate_offline(&invocation, &catalog, as_of.unwrap_or_else(today_utc))?;
            serde_json::to_writer_pretty(&mut *out, &evaluations)?;
            writeln!(out)?;
        }
    }
    Ok(())
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
