//! `rule`: the Lambda when AWS_LAMBDA_RUNTIME_API is set, else the command line (`rule --help`).

use std::process::ExitCode;

use clap::Parser;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

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
    rule::cli::init_json_logs();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rule: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), lambda_runtime::Error> = runtime.block_on(async {
        let builtin = rule::Catalog::builtin()?;
        let accounts = rule::aws::Accounts::new(
            rule::aws::base_config().await,
            std::env::var("RULE_MEMBER_ROLE_NAME")
                .ok()
                .filter(|name| !name.is_empty()),
        );
        let services = rule::lambda::Services::new(accounts, builtin);
        let services = &services;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            let context = rule::lambda::InvocationContext {
                own_account: rule::lambda::account_of_arn(&event.context.invoked_function_arn)
                    .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))?,
                request_id: event.context.request_id,
            };
            rule::lambda::handle(event.payload, context, services)
                .await
                .map_err(|error| {
                    tracing::error!(error = %format!("{error:#}"), "invocation failed");
                    lambda_runtime::Error::from(format!("{error:#}"))
                })
        }))
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
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
