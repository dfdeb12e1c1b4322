//! AWS plumbing the `rule` and `aggregator` binaries share, so that each is written once: the SDK
//! configuration ([`base_config`]), an SDK error as one line ([`error_text`]), JSON logs
//! ([`init_json_logs`]), serving a handler on the Lambda Runtime API ([`serve_lambda`]) and a rate limit
//! that holds the SDK's retries too ([`pace`]).

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

pub mod member;
pub mod pace;

/// The retry settings operators use to override ours (the SDK reads them itself).
const OPERATOR_RETRY_VARIABLES: [&str; 2] = ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"];

/// The SDK configuration both binaries start from: the default credential chain and region, a rustls
/// HTTP client, and standard retries with more patience than the default (Config throttles) unless
/// the environment sets the retry mode or attempts.
pub async fn base_config() -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(
        aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https(),
    );
    let operator_set = OPERATOR_RETRY_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    let loader = if operator_set {
        loader
    } else {
        loader.retry_config(
            RetryConfig::standard()
                .with_max_attempts(10)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(5)),
        )
    };
    loader.load().await
}

/// Whether an endpoint override is set (tests, the demo): such endpoints serve S3 buckets by path,
/// not by host name.
pub fn endpoint_overridden(service_variable: &str) -> bool {
    [service_variable, "AWS_ENDPOINT_URL"]
        .iter()
        .any(|name| std::env::var_os(name).is_some())
}

/// An SDK error as one line: the service's code and message when there is one.
pub fn error_text<E, R>(error: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => format!("{}", aws_smithy_types::error::display::DisplayErrorContext(error)),
    }
}

/// A failed AWS call as one line: what was being done, then the service's code and message, once.
/// (anyhow's `{:#}` over an SDK error's own chain — "service error", the operation error, its
/// metadata — repeats the service's message.)
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {text}")]
pub struct AwsCallError {
    pub doing: String,
    /// The service's error code (`AccessDeniedException`, `ThrottlingException`, …), when it answered.
    pub code: Option<String>,
    text: String,
}

/// `.aws_context(|| "what was being done")` on an SDK call's result: an [`AwsCallError`].
pub trait AwsResultExt<T> {
    fn aws_context<D: std::fmt::Display>(self, doing: impl FnOnce() -> D) -> Result<T, AwsCallError>;
}

impl<T, E, R> AwsResultExt<T> for Result<T, SdkError<E, R>>
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    fn aws_context<D: std::fmt::Display>(self, doing: impl FnOnce() -> D) -> Result<T, AwsCallError> {
        self.map_err(|error| AwsCallError::new(doing().to_string(), &error))
    }
}

impl AwsCallError {
    pub fn new<E, R>(doing: String, error: &SdkError<E, R>) -> AwsCallError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        AwsCallError {
            doing,
            code: error
                .as_service_error()
                .and_then(|service| service.code())
                .map(str::to_string),
            text: error_text(error),
        }
    }
}

/// The `errorType` a failed invocation reports to Lambda (and so to Config's evaluation status): a
/// readable kind rather than a Rust type name. `classify` names the binary's own kinds; a failed AWS
/// call is `AwsCallFailed`; anything else `InvocationFailed`.
fn error_kind(error: &anyhow::Error, classify: fn(&anyhow::Error) -> Option<&'static str>) -> String {
    if let Some(kind) = classify(error) {
        return kind.to_string();
    }
    if error.chain().any(|cause| cause.is::<AwsCallError>()) {
        return "AwsCallFailed".into();
    }
    "InvocationFailed".into()
}

/// JSON logs on standard error (CloudWatch reads them as structured), level from RUST_LOG (default info).
pub fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serves `handler` on the Lambda Runtime API until the runtime stops: JSON logs, a multi-threaded
/// tokio runtime, the state built once per container by `init`, every failed invocation logged and
/// answered with its message (with causes) and a readable kind ([`error_kind`]) as the error response.
pub fn serve_lambda<S, R, Init, InitFut, H, HFut>(
    name: &str,
    init: Init,
    handler: H,
    classify: fn(&anyhow::Error) -> Option<&'static str>,
) -> ExitCode
where
    S: 'static,
    R: serde::Serialize,
    Init: FnOnce() -> InitFut,
    InitFut: Future<Output = anyhow::Result<S>>,
    H: Fn(Value, lambda_runtime::Context, &'static S) -> HFut,
    HFut: Future<Output = anyhow::Result<R>>,
{
    init_json_logs();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), lambda_runtime::Error> = runtime.block_on(async {
        let state = init()
            .await
            .map_err(|error| lambda_runtime::Error::from(format!("{error:#}")))?;
        // The state lives as long as the container: leaking it gives handlers a plain `&'static`.
        let state: &'static S = Box::leak(Box::new(state));
        let handler = &handler;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            handler(event.payload, event.context, state)
                .await
                .map_err(|error| {
                    let kind = error_kind(&error, classify);
                    tracing::error!(error = %format!("{error:#}"), kind, "invocation failed");
                    lambda_runtime::Diagnostic {
                        error_type: kind,
                        error_message: format!("{error:#}"),
                    }
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

/// An IAM action a binary calls, and why: the contract the deployment's policies are built from
/// (`cdk/contracts/iam.json`).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Action {
    pub action: &'static str,
    pub why: &'static str,
}

/// An environment variable a Lambda reads (`cdk/contracts/environment.json`).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EnvVar {
    pub name: &'static str,
    pub required: bool,
    /// The value used when it is unset (`None`: no default, or required).
    pub default: Option<&'static str>,
    pub meaning: &'static str,
}
