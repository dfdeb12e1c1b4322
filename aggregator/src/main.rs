//! `aggregator`: the scheduled Lambda when AWS_LAMBDA_RUNTIME_API is set, else the command line.
//! Thin: everything it calls lives in the library.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use aggregator::api::{Api, Family, RateLimits};
use aggregator::gather::Gatherer;
use aggregator::lambda::Settings;
use aggregator::output::Output;
use aggregator::row::RunContext;
use aggregator::run::{Request, Services, exit};
use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use lifecycle::{Catalog, Policy};

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
    /// Gather the organization's evaluations into the day's Parquet snapshot (exit 0: complete,
    /// 2: published with gaps, 3: not published, the existing snapshot is better, 1: failed, 64: usage).
    #[command(after_help = "Exit status:\n  \
        0   published, complete\n  \
        1   failed: nothing was published (the day's earlier snapshot and summary are intact)\n  \
        2   published with gaps (listed in the summary's \"gaps\")\n  \
        3   not published: the day's existing snapshot is better (more rows or fewer gaps); \
        the summary's \"publication\" says why (--replace-worse publishes anyway)\n  \
        64  usage error (unknown flag, bad value, a past --snapshot-date without --backfill): nothing was done\n\n\
        A flag marked [env: NAME] falls back to that environment variable, the scheduled Lambda's \
        (a flag given wins).")]
    Run {
        /// The Config configuration aggregator (organization-wide) to read.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        config_aggregator: Option<String>,
        /// Rule name as deployed (an organization rule's member copies match too); repeatable, or
        /// comma-separated as in the variable.
        #[arg(long = "rule", id = "rule", value_name = "RULE", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        rules: Vec<String>,
        /// s3://bucket/prefix or a local directory.
        #[arg(long)]
        output: Option<String>,
        /// The partition to write and the day the lifecycle columns are computed for (default: today,
        /// UTC). An earlier day needs --backfill.
        #[arg(long, value_parser = lifecycle::dates::parse_date)]
        snapshot_date: Option<jiff::civil::Date>,
        /// Write today's evaluations into an earlier day's partition (--snapshot-date), its lifecycle
        /// columns computed for that day; labelled in the summary ("backfill": true) and the rows'
        /// run_id (backfill-…).
        #[arg(long, requires = "snapshot_date")]
        backfill: bool,
        /// Publish even when the day's existing snapshot has more rows or fewer gaps.
        #[arg(long)]
        replace_worse: bool,
        /// The rule's parameters JSON, overriding the deployed rule's (read with
        /// DescribeOrganizationConfigRules / DescribeConfigRules); the summary records which were used.
        #[arg(long)]
        rule_parameters: Option<String>,
        /// Inventory shards (a region × a batch of up to ~240 accounts) gathered at once.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: Option<u16>,
        /// Calls per second to Config (every page of every aggregate read, and the SDK's retries of
        /// it): below the account's quota, which the console and other tools share.
        #[arg(long, value_parser = aggregator::api::parse_rate)]
        config_calls_per_second: Option<f64>,
        /// Calls per second to Organizations (account names, OU tree, tags).
        #[arg(long, value_parser = aggregator::api::parse_rate)]
        organizations_calls_per_second: Option<f64>,
        /// The reader role to assume in each member account (the member stack's) for versions behind
        /// aliases, layer blockers and invocations; without it the enrichment is off and the summary
        /// says so.
        #[arg(long)]
        member_role_name: Option<String>,
        /// Rows whose 30-day invocations are read: failing (NON_COMPLIANT or within the rule's
        /// warnDaysBefore), all, or off.
        #[arg(long)]
        invocations: Option<String>,
        /// Calls per second to Lambda in each member (account, Region) (AWS allows 15 for every caller).
        #[arg(long, value_parser = aggregator::api::parse_rate)]
        lambda_calls_per_second: Option<f64>,
        /// GetMetricData calls per second in each member (account, Region) (AWS allows 50).
        #[arg(long, value_parser = aggregator::api::parse_rate)]
        cloudwatch_calls_per_second: Option<f64>,
        /// DescribeAggregateComplianceByConfigRules page size (tests: a small page exercises the
        /// filtered listing on a small organization).
        #[arg(long, hide = true, default_value_t = aggregator::gather::DESCRIBE_PAGE_LIMIT, value_parser = clap::value_parser!(i32).range(1..=1000))]
        describe_page_size: i32,
        /// A catalog JSON to use instead of the built-in one.
        #[arg(long)]
        catalog: Option<PathBuf>,
    },
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
        #[arg(long, default_value = "2026-01-01", value_parser = lifecycle::dates::parse_date)]
        first_day: jiff::civil::Date,
    },
    /// Encode synthetic rows into a local snapshot and report rows/s and peak RSS (for `cargo xtask bench`).
    #[command(hide = true)]
    BenchEncode {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long)]
        output: PathBuf,
    },
    /// Write synthetic daily snapshots into a local directory (the SQL tests' dataset).
    #[command(hide = true)]
    Sample {
        #[arg(long, default_value_t = 5_000)]
        rows: usize,
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=366))]
        days: u16,
        /// The last day written.
        #[arg(long, value_parser = lifecycle::dates::parse_date)]
        through: jiff::civil::Date,
        #[arg(long)]
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_main();
    }
    let cli = match Cli::command()
        .mut_subcommand("run", with_variables)
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version print to stdout and succeed; everything else is a usage error.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Ddl {
            location,
            database,
            table,
            first_day,
        } => aggregator::layout::S3Location::parse(&location)
            .map_err(usage)
            .and_then(|location| {
                aggregator::ddl::create_table(&database, &table, &location, &first_day.to_string())
            })
            .map(|ddl| {
                print!("{ddl}");
                ExitCode::SUCCESS
            }),
        Command::BenchEncode { rows, output } => bench_encode(rows, &output).map(|()| ExitCode::SUCCESS),
        Command::Sample {
            rows,
            days,
            through,
            output,
        } => sample(rows, usize::from(days), through, output).map(|()| ExitCode::SUCCESS),
        Command::Run {
            config_aggregator,
            rules,
            output,
            snapshot_date,
            backfill,
            replace_worse,
            rule_parameters,
            concurrency,
            config_calls_per_second,
            organizations_calls_per_second,
            member_role_name,
            invocations,
            lambda_calls_per_second,
            cloudwatch_calls_per_second,
            describe_page_size,
            catalog,
        } => (|| {
            // The command line first, before any file or AWS call: its errors are usage errors.
            let (snapshot_date, backfill) =
                aggregator::run::snapshot_date(snapshot_date, backfill, lifecycle::dates::today_utc())
                    .map_err(|e| usage(anyhow::anyhow!("--snapshot-date: {e}")))?;
            // A flag's own value is checked under the flag's name; the environment's, under the variable's.
            if let Some(output) = &output {
                Output::parse(output).context("--output").map_err(usage)?;
            }
            if let Some(text) = &rule_parameters {
                Policy::from_rule_parameters(Some(text))
                    .context("--rule-parameters")
                    .map_err(usage)?;
            }
            let settings = run_settings([
                config_aggregator,
                (!rules.is_empty()).then(|| rules.join(",")),
                output,
                rule_parameters,
                concurrency.map(|n| n.to_string()),
                config_calls_per_second.map(|rate| rate.to_string()),
                organizations_calls_per_second.map(|rate| rate.to_string()),
                member_role_name,
                invocations,
                lambda_calls_per_second.map(|rate| rate.to_string()),
                cloudwatch_calls_per_second.map(|rate| rate.to_string()),
            ])
            .map_err(usage)?;
            let catalog = match catalog {
                Some(path) => Catalog::from_json(
                    &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
                )
                .with_context(|| format!("catalog {}", path.display()))?,
                None => Catalog::builtin()?,
            };
            let request = Request {
                rules: settings.rules,
                output: settings.output,
                snapshot_date,
                rule_parameters: settings.rule_parameters,
                backfill,
                replace_worse,
                concurrency: settings.concurrency,
                rate_limits: settings.rate_limits,
                run_id: format!(
                    "{}-{}",
                    jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
                    std::process::id()
                ),
            };
            let enrichment = Enrichment {
                member_role_name: settings.member_role_name,
                invocations: settings.invocations,
            };
            run_cli(
                &settings.config_aggregator,
                &request,
                &catalog,
                describe_page_size,
                &enrichment,
            )
        })(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("aggregator: {error:#}");
            if error.is::<Usage>() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::from(exit::FAILED)
            }
        }
    }
}

/// The `run` flags that fall back to the scheduled Lambda's environment variables (a flag given wins),
/// in the order of `run_settings`' values: each flag's clap id and its variable, named once in
/// `aggregator::lambda::ENVIRONMENT` (cdk/contracts/environment.json is generated from it, and the CDK
/// app gives the container task the Lambda's environment).
fn run_variables() -> [(&'static str, awsbase::EnvVar); 11] {
    let [
        config_aggregator,
        rules,
        output,
        rule_parameters,
        concurrency,
        config_rate,
        organizations_rate,
        member_role,
        invocations,
        lambda_rate,
        cloudwatch_rate,
        _log_level,
    ] = aggregator::lambda::ENVIRONMENT;
    [
        ("config_aggregator", config_aggregator),
        ("rule", rules),
        ("output", output),
        ("rule_parameters", rule_parameters),
        ("concurrency", concurrency),
        ("config_calls_per_second", config_rate),
        ("organizations_calls_per_second", organizations_rate),
        ("member_role_name", member_role),
        ("invocations", invocations),
        ("lambda_calls_per_second", lambda_rate),
        ("cloudwatch_calls_per_second", cloudwatch_rate),
    ]
}

/// `run --help` names each flag's variable and default, as clap's own `env` would.
fn with_variables(run: clap::Command) -> clap::Command {
    run_variables().into_iter().fold(run, |run, (id, variable)| {
        run.mut_arg(id, |arg| {
            let note = match variable.default {
                Some(default) => format!(" [env: {}] [default: {default}]", variable.name),
                None => format!(" [env: {}]", variable.name),
            };
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help}{note}"))
        })
    })
}

/// `run`'s settings: each flag given (in [`run_variables`]' order), else its environment variable,
/// read and checked by the Lambda's own [`Settings::from_env`], so both read the same names alike.
fn run_settings(flags: [Option<String>; 11]) -> anyhow::Result<Settings> {
    let variables = run_variables();
    let value = |name: &str| {
        let flag = variables.iter().position(|(_, variable)| variable.name == name);
        flag.and_then(|index| flags[index].clone())
            .or_else(|| std::env::var(name).ok())
    };
    for (id, variable) in variables.iter().filter(|(_, variable)| variable.required) {
        if value(variable.name).is_none_or(|text| text.trim().is_empty()) {
            anyhow::bail!(
                "--{} (or the environment variable {}) is required",
                id.replace('_', "-"),
                variable.name
            );
        }
    }
    Settings::from_env(value)
}

/// A command-line mistake found after parsing: exits [`exit::USAGE`].
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(error: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Usage(format!("{error:#}")))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The enrichment's settings (flags or environment).
struct Enrichment {
    member_role_name: Option<String>,
    invocations: aggregator::enrich::Invocations,
}

async fn services(
    config_aggregator: &str,
    rate_limits: RateLimits,
    describe_limit: i32,
    enrichment: &Enrichment,
) -> anyhow::Result<Services> {
    let sdk = awsbase::base_config().await;
    let api = std::sync::Arc::new(Api::new(rate_limits));
    let enricher = match &enrichment.member_role_name {
        None => aggregator::enrich::Enricher::off(
            "no member role (--member-role-name / AGGREGATOR_MEMBER_ROLE_NAME) is set",
        ),
        Some(name) => aggregator::enrich::Enricher::new(
            aggregator::members::Members::new(sdk.clone(), name, api.clone()).map_err(anyhow::Error::msg)?,
            enrichment.invocations,
        ),
    };
    // Every client counts its calls and Config's and Organizations' hold them to the rate, retries
    // included ([`aggregator::api`]); a local endpoint (tests, the demo) serves buckets by path, not by
    // host name.
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .interceptor(api.counter(Family::S3))
        .force_path_style(awsbase::endpoint_overridden("AWS_ENDPOINT_URL_S3"))
        .build();
    let config = aws_sdk_config::config::Builder::from(&sdk)
        .identity_cache(api.pace(&sdk, Family::Config))
        .interceptor(api.counter(Family::Config))
        .build();
    let organizations = aws_sdk_organizations::config::Builder::from(&sdk)
        .identity_cache(api.pace(&sdk, Family::Organizations))
        .interceptor(api.counter(Family::Organizations))
        .build();
    let ssm = aws_sdk_ssm::config::Builder::from(&sdk)
        .interceptor(api.counter(Family::Ssm))
        .build();
    Ok(Services {
        gatherer: Gatherer {
            config: aws_sdk_config::Client::from_conf(config),
            organizations: aws_sdk_organizations::Client::from_conf(organizations),
            ssm: aws_sdk_ssm::Client::from_conf(ssm),
            aggregator: config_aggregator.to_string(),
            api,
            describe_limit,
            resource_compliance_unrecorded: Default::default(),
            enricher,
        },
        s3: Some(aws_sdk_s3::Client::from_conf(s3)),
    })
}

/// A progress bar on a terminal, JSON logs otherwise; the summary on standard output.
fn run_cli(
    config_aggregator: &str,
    request: &Request,
    catalog: &Catalog,
    describe_limit: i32,
    enrichment: &Enrichment,
) -> anyhow::Result<ExitCode> {
    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} (rule, account, region) with results · {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        awsbase::init_json_logs();
        indicatif::ProgressBar::hidden()
    };
    let summary = runtime()?.block_on(async {
        let services = services(config_aggregator, request.rate_limits, describe_limit, enrichment).await?;
        aggregator::run::run(&services, request, catalog, &progress).await
    })?;
    println!("{}", summary.to_json());
    let code = summary.exit_code();
    if code == exit::KEPT_EXISTING {
        eprintln!(
            "aggregator: not published: {} (see \"publication\" in the summary)",
            summary.publication.reason
        );
    } else if code == exit::GAPS {
        eprintln!(
            "aggregator: published {} with {} gap(s): see \"gaps\" in the summary",
            summary.location,
            summary.gaps.len()
        );
    }
    Ok(ExitCode::from(code))
}

/// Wires the handler to the Lambda Runtime API; everything else lives in `aggregator::lambda`.
fn lambda_main() -> ExitCode {
    awsbase::serve_lambda(
        "aggregator",
        || async {
            let settings = Settings::from_env(|name| std::env::var(name).ok())?;
            let catalog = Catalog::builtin()?;
            let enrichment = Enrichment {
                member_role_name: settings.member_role_name.clone(),
                invocations: settings.invocations,
            };
            let services = services(
                &settings.config_aggregator,
                settings.rate_limits,
                aggregator::gather::DESCRIBE_PAGE_LIMIT,
                &enrichment,
            )
            .await?;
            Ok((settings, services, catalog))
        },
        |payload, context, (settings, services, catalog)| async move {
            aggregator::lambda::handle(payload, &context.request_id, settings, services, catalog).await
        },
        |_| None,
    )
}

/// Synthetic rows → Parquet in a local directory; prints rows/s and peak RSS as JSON.
fn bench_encode(rows: usize, output: &std::path::Path) -> anyhow::Result<()> {
    let catalog = Catalog::builtin()?;
    let policy = Policy::default();
    let context = RunContext::new(&catalog, &policy, jiff::civil::date(2026, 11, 23), "bench");
    std::fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let path = output.join("rust.parquet");
    let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let started = Instant::now();
    // Encoding (rows → Arrow → Parquet bytes → file) is timed apart from making the synthetic rows,
    // which stands in for gathering and joining: that is what pyarrow's write_table is compared with.
    let mut encoding = std::time::Duration::ZERO;
    let mut encoder = aggregator::sink::Encoder::new()?;
    for row in aggregator::synthetic::rows(&context, rows, 0) {
        let step = Instant::now();
        encoder.push(row)?;
        if let Some(part) = encoder.take(aggregator::output::PART_BYTES) {
            std::io::Write::write_all(&mut file, &part)?;
        }
        encoding += step.elapsed();
    }
    let step = Instant::now();
    let (last, written, timings) = encoder.finish_timed()?;
    std::io::Write::write_all(&mut file, &last)?;
    file.sync_all()?;
    encoding += step.elapsed();
    let total = started.elapsed().as_secs_f64();
    let seconds = encoding.as_secs_f64();
    let report = serde_json::json!({
        "rows": written,
        "seconds": seconds,
        "rows_per_second": written as f64 / seconds,
        // Rows go into Arrow builders as they arrive while a writer thread encodes the previous
        // batch: rows → Arrow is the caller's encoding time not spent waiting for that thread.
        "to_arrow_seconds": encoding.saturating_sub(timings.waiting).as_secs_f64(),
        "waiting_for_writer_seconds": timings.waiting.as_secs_f64(),
        "to_parquet_seconds": timings.to_parquet.as_secs_f64(),
        "to_parquet_rows_per_second": written as f64 / timings.to_parquet.as_secs_f64(),
        // Were the rows free to make, each thread would have a core of its own (the aggregator's
        // gathering waits on the network): the slower of the two bounds rows → Parquet.
        "pipeline_rows_per_second": written as f64
            / encoding.saturating_sub(timings.waiting).max(timings.to_parquet).as_secs_f64(),
        "with_row_making_seconds": total,
        "with_row_making_rows_per_second": written as f64 / total,
        "peak_rss_bytes": peak_rss_bytes(),
        "file": path.display().to_string(),
        "file_bytes": std::fs::metadata(&path).map(|m| m.len()).ok(),
    });
    println!("{report}");
    Ok(())
}

/// `days` synthetic snapshots ending with `through`, each a complete day's partition.
fn sample(rows: usize, days: usize, through: jiff::civil::Date, root: PathBuf) -> anyhow::Result<()> {
    let catalog = Catalog::builtin()?;
    let policy = Policy::default();
    let output = Output::Local(root);
    runtime()?.block_on(async {
        for day in 0..days {
            let date = lifecycle::dates::add_days(through, day as i64 - days as i64 + 1);
            let context = RunContext::new(&catalog, &policy, date, &format!("sample-{date}"));
            let mut upload = output.begin(None, date, &context.run_id).await?;
            let mut encoder = aggregator::sink::Encoder::new()?;
            // Later days have fewer rows: functions get deleted as well as upgraded.
            for row in aggregator::synthetic::rows(&context, rows - rows * day / (days * 10), day) {
                encoder.push(row)?;
            }
            upload.write(encoder.finish()?.0).await?;
            upload.commit().await?;
        }
        anyhow::Ok(())
    })
}

/// VmHWM from /proc (Linux): the process's peak resident set.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
