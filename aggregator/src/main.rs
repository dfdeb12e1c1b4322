//! `aggregator`: thin CLI over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "aggregator",
    version,
    about = "Lambda runtime compliance of an AWS Organization, for Athena"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the Athena CREATE EXTERNAL TABLE (partition projection on dt) for the dataset under LOCATION.
    Ddl {
        /// s3://bucket/prefix — the same prefix the aggregator writes `evaluations/dt=…/` under.
        #[arg(long)]
        location: String,
        #[arg(long, default_value = "lambda_runtime_guard")]
        database: String,
        #[arg(long, default_value = "evaluations")]
        table: String,
        /// The first day of the partition projection range.
        #[arg(long, default_value = "2026-01-01", value_parser = rule::dates::parse_date)]
        first_day: jiff::civil::Date,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Ddl {
            location,
            database,
            table,
            first_day,
        } => aggregator::ddl::TableLocation::parse(&location)
            .and_then(|location| {
                aggregator::ddl::create_table(&database, &table, &location, &first_day.to_string())
            })
            .map(|ddl| print!("{ddl}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("aggregator: {error:#}");
            ExitCode::FAILURE
        }
    }
}
