//! Project tasks, in Rust so that a fresh machine needs nothing but cargo: `cargo xtask --help`.

mod bench;
mod codegen;
mod demo;
mod lambda;
mod localaws;
mod test;
mod util;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project tasks: test, bench, demo")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Everything CI checks: rustfmt, clippy (warnings denied), every test.
    Test,
    /// Benchmarks: `evaluate` (criterion: one event parsed and evaluated), `rule` (the release rule side
    /// by side with the same rule on rdklib, on the local AWS), `aggregator` (Parquet vs pyarrow),
    /// `localaws` (start, seeding).
    Bench {
        /// Which part to benchmark.
        #[arg(default_value = "evaluate")]
        target: BenchTarget,
        /// Extra arguments after --: criterion's for `evaluate` (`-- --measurement-time 10`), the driver's
        /// for `rule` (`-- --runs 3 --sizes 1000`), the row count for `aggregator`, gather.py's for `gather`
        /// (`-- --config-rps 10`), bench.py's for `localaws`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Lambda bootstrap zips for arm64 and x86_64 (cargo-lambda), their sizes and cold-start time.
    Lambda,
    /// The demo on a local AWS.
    Demo,
    /// Write the generated files (cdk/contracts/, README tables, golden annotations); with --check,
    /// fail when one is stale instead.
    Codegen {
        #[arg(long)]
        check: bool,
    },
    /// Run the local AWS (moto server + this project's extensions) in the foreground on 127.0.0.1.
    Localaws {
        /// Port to listen on (default: a free one, printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchTarget {
    Evaluate,
    Rule,
    Aggregator,
    /// The aggregator's API calls, peak RSS and rate-limited wall time on a synthetic organization.
    Gather,
    /// The enrichment's calls (versions, layers, invocations) against their bounds on a local organization.
    Enrich,
    Localaws,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Test => test::test(),
        Task::Bench { target, args } => bench::bench(target, &args),
        Task::Localaws { port } => localaws::localaws(port),
        Task::Lambda => lambda::lambda(),
        Task::Demo => demo::demo(),
        Task::Codegen { check } => codegen::codegen(check),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
