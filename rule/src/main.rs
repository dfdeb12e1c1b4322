//! `rule`: the Lambda when AWS_LAMBDA_RUNTIME_API is set, else the command line (`rule --help`).

use std::process::ExitCode;

use clap::Parser;
use lifecycle::Catalog;

fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return lambda_main();
    }
    let cli = rule::cli::Cli::parse();
    let stdout = std::io::stdout();
    match rule::cli::run(cli, &mut std::io::stdin(), &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // `rule catalog | head`: the reader has gone, which is not our failure.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rule: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Wires the handler to the Lambda Runtime API; everything else lives in `rule::lambda`.
fn lambda_main() -> ExitCode {
    awsbase::serve_lambda(
        "rule",
        || async {
            let limits = rule::lambda::lambda_limits(|name| std::env::var(name).ok())?;
            let accounts = rule::aws::Accounts::new(
                awsbase::base_config().await,
                std::env::var(rule::lambda::MEMBER_ROLE_VARIABLE)
                    .ok()
                    .filter(|name| !name.is_empty()),
                limits,
            )?;
            Ok(rule::lambda::Services::new(accounts, Catalog::builtin()?))
        },
        |payload, context, services| async move {
            let context = rule::lambda::InvocationContext {
                own_account: rule::lambda::account_of_arn(&context.invoked_function_arn)?,
                request_id: context.request_id,
            };
            rule::lambda::handle(payload, context, services).await
        },
        rule::lambda::error_kind,
    )
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}
