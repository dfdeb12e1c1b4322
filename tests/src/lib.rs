//! End-to-end test helpers: start the local AWS (moto server + this project's extensions, see
//! tests/localaws) on a free loopback port, configure the AWS SDK for it, and speak its control and
//! Lambda Runtime APIs.
//!
//! One server runs per test binary ([`LocalAws::shared`]); tests take [`LocalAws::lock`] so that they
//! run one at a time against a freshly reset state. The server exits with the test binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;
use serde_json::Value;

/// moto's default account, used as the organization's management (admin) account.
pub const ADMIN_ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub mod remediation;

pub struct LocalAws {
    child: Mutex<Child>,
    endpoint: String,
    serial: tokio::sync::Mutex<()>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The Python with the local AWS's requirements: `LOCALAWS_PYTHON`, else the project's .venv (which
/// `cargo xtask test` creates).
fn python() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("LOCALAWS_PYTHON") {
        return Ok(PathBuf::from(path));
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    bail!(
        "no Python environment for the local AWS: run `cargo xtask test` once (it creates .venv), or set LOCALAWS_PYTHON"
    )
}

impl LocalAws {
    /// Starts a server on a free port and waits until it accepts connections.
    pub fn start() -> anyhow::Result<LocalAws> {
        let mut child = Command::new(python()?)
            .args(["-m", "localaws", "--port", "0", "--exit-with-parent"])
            .current_dir(workspace_root().join("tests/localaws"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the local AWS")?;
        let stdout = child.stdout.take().context("local AWS stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the local AWS's ready line")?;
        let Some(endpoint) = line.trim().strip_prefix("localaws ready ") else {
            let _ = child.kill();
            bail!("the local AWS did not start: {line:?}");
        };
        Ok(LocalAws {
            endpoint: endpoint.to_string(),
            child: Mutex::new(child),
            serial: tokio::sync::Mutex::new(()),
        })
    }

    /// The server of this test binary, started on first use.
    pub fn shared() -> &'static LocalAws {
        static SHARED: OnceLock<LocalAws> = OnceLock::new();
        SHARED.get_or_init(|| LocalAws::start().expect("local AWS"))
    }

    /// Exclusive use of the server for one test, from a reset state.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let guard = self.serial.lock().await;
        self.control("POST", "/_localaws/reset", None)
            .expect("reset the local AWS");
        guard
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A call to a control endpoint (/_localaws/...), JSON in and out.
    pub fn control(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.endpoint);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            (_, Some(body)) => agent.post(&url).send_json(body),
            (_, None) => agent.post(&url).send_empty(),
        }
        .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.body_mut().read_to_string()?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Binds a Lambda function to a local process: the returned host:port is the AWS_LAMBDA_RUNTIME_API
    /// for that process.
    pub fn bind_runtime(&self, function_arn: &str) -> anyhow::Result<String> {
        let answer = self.control(
            "POST",
            "/_localaws/runtime/bind",
            Some(serde_json::json!({ "FunctionArn": function_arn })),
        )?;
        answer["RuntimeApi"]
            .as_str()
            .map(str::to_string)
            .context("RuntimeApi in the bind answer")
    }

    /// SDK configuration for the local AWS with the given credentials (`None`: the dummy credentials of
    /// the admin account) and at most `attempts` attempts per call.
    pub async fn sdk_config(&self, credentials: Option<Credentials>, attempts: u32) -> SdkConfig {
        let credentials = credentials
            .unwrap_or_else(|| Credentials::new("testing", "testing", None, None, "localaws-dummy"));
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(attempts)
                    .with_initial_backoff(Duration::from_millis(5))
                    .with_max_backoff(Duration::from_millis(50)),
            )
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .load()
            .await
    }

    /// An S3 client of `config` as the local AWS serves buckets (path-style addressing: one host for
    /// every bucket).
    pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(config)
                .force_path_style(true)
                .build(),
        )
    }

    /// `config` in another region.
    pub fn in_region(config: SdkConfig, region: &str) -> SdkConfig {
        config
            .into_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// Credentials of a role in `account`, through STS as any cross-account caller gets them.
    pub async fn assume_role(&self, account: &str, role: &str) -> anyhow::Result<Credentials> {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config(None, 3).await);
        let answer = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
            .role_session_name("e2e")
            .send()
            .await
            .with_context(|| format!("assume {role} in {account}"))?;
        let keys = answer.credentials().context("credentials")?;
        Ok(Credentials::new(
            keys.access_key_id(),
            keys.secret_access_key(),
            Some(keys.session_token().to_string()),
            None,
            "localaws-sts",
        ))
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A Lambda runtime as the Runtime API sees one: polls `next`, answers `response` or `error`.
pub struct RuntimeClient {
    base: String,
    agent: ureq::Agent,
}

/// One invocation handed out by the Runtime API.
pub struct Invocation {
    pub request_id: String,
    pub event: Value,
}

impl RuntimeClient {
    pub fn new(runtime_api: &str) -> RuntimeClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        RuntimeClient {
            base: format!("http://{runtime_api}/2018-06-01/runtime"),
            agent,
        }
    }

    /// Blocks until the next invocation (blocking: call it from a blocking thread in async tests).
    pub fn next(&self) -> anyhow::Result<Invocation> {
        let mut response = self.agent.get(&format!("{}/invocation/next", self.base)).call()?;
        if !response.status().is_success() {
            bail!("runtime API next: {}", response.status());
        }
        let request_id = response
            .headers()
            .get("Lambda-Runtime-Aws-Request-Id")
            .and_then(|v| v.to_str().ok())
            .context("Lambda-Runtime-Aws-Request-Id")?
            .to_string();
        let event = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        Ok(Invocation { request_id, event })
    }

    pub fn respond(&self, request_id: &str, payload: Value) -> anyhow::Result<()> {
        let url = format!("{}/invocation/{request_id}/response", self.base);
        let status = self.agent.post(&url).send_json(payload)?.status();
        if status.as_u16() != 202 {
            bail!("runtime API response: {status}");
        }
        Ok(())
    }
}

/// A Lambda binary running as a local process behind the local AWS's Runtime API, as the Lambda
/// service runs a `provided.al2023` bootstrap. Killed on drop.
pub struct LambdaProcess {
    child: Child,
}

impl LambdaProcess {
    /// Binds `function_arn` and starts `binary` for it with Lambda's environment, the local AWS's
    /// endpoint, dummy credentials and `extra_env`.
    pub fn start(
        aws: &LocalAws,
        binary: &Path,
        function_arn: &str,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<LambdaProcess> {
        let runtime_api = aws.bind_runtime(function_arn)?;
        let name = function_arn.rsplit(':').next().unwrap_or("function");
        let mut command = Command::new(binary);
        loopback_env(command.env_clear(), aws.endpoint())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file(name)?);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(LambdaProcess { child })
    }

    /// Whether the process is still running (a panic or abort would have ended it).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// A binary of another workspace package (`cargo test` gives a test only its own package's binaries):
/// the one built next to this test executable, built first with cargo if it is not there yet.
/// Keeps a child process on the local AWS: its endpoint, no instance-metadata look-ups, dummy
/// credentials and the region — so no SDK default chain reaches off this machine.
pub fn loopback_env<'c>(command: &'c mut Command, endpoint: &str) -> &'c mut Command {
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
}

/// One evaluation result as Config's compliance reads return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationResult {
    pub compliance: String,
    pub annotation: String,
    /// The ordering timestamp, in whole seconds.
    pub ordering_seconds: i64,
}

/// Every evaluation result of `rule` in the account and region of `config` (all three compliance
/// types, every page), by resource id.
pub async fn evaluation_results(
    config: &SdkConfig,
    rule: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, EvaluationResult>> {
    use aws_sdk_config::types::ComplianceType;
    let mut pages = aws_sdk_config::Client::new(config)
        .get_compliance_details_by_config_rule()
        .config_rule_name(rule)
        .compliance_types(ComplianceType::Compliant)
        .compliance_types(ComplianceType::NonCompliant)
        .compliance_types(ComplianceType::NotApplicable)
        .into_paginator()
        .send();
    let mut results = std::collections::BTreeMap::new();
    while let Some(page) = pages.next().await {
        for result in page
            .with_context(|| format!("GetComplianceDetailsByConfigRule {rule}"))?
            .evaluation_results()
        {
            let identifier = result.evaluation_result_identifier().context("no identifier")?;
            let id = identifier
                .evaluation_result_qualifier()
                .and_then(|q| q.resource_id())
                .context("no resource id")?;
            results.insert(
                id.to_string(),
                EvaluationResult {
                    compliance: result
                        .compliance_type()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_default(),
                    annotation: result.annotation().unwrap_or_default().to_string(),
                    ordering_seconds: identifier
                        .ordering_timestamp()
                        .map(|t| t.secs())
                        .unwrap_or_default(),
                },
            );
        }
    }
    Ok(results)
}

pub fn workspace_binary(package: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test executable")?;
    // target/<profile>/deps/<test> → target/<profile>/<package>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test executable is not under target/<profile>/deps")?;
    let binary = profile_dir.join(package);
    if !binary.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--bin", package])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .status()
            .with_context(|| format!("building {package}"))?;
        if !status.success() || !binary.exists() {
            bail!("could not build {package} (expected {})", binary.display());
        }
    }
    Ok(binary)
}

/// The process's JSON logs go to a file (named on failure), not into the test output.
fn log_file(name: &str) -> anyhow::Result<Stdio> {
    let dir = std::env::temp_dir().join("e2e-lambda-logs");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}-{}-{}.log", std::process::id(), unique()));
    Ok(Stdio::from(
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
    ))
}

fn unique() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalAws {
    /// Every invocation of a function so far (status, attempts, response, error).
    pub fn invocations(&self, function_arn: &str) -> anyhow::Result<Vec<Value>> {
        let answer = self.control(
            "GET",
            &format!("/_localaws/runtime/invocations?FunctionArn={function_arn}"),
            None,
        )?;
        Ok(answer["Invocations"].as_array().cloned().unwrap_or_default())
    }

    /// Queues each payload as an asynchronous (`Event`) invocation through Lambda's Invoke, then waits
    /// until the function's invocations have all finished.
    pub async fn invoke_events(
        &self,
        config: &SdkConfig,
        function_arn: &str,
        payloads: &[Value],
        within: Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let lambda = aws_sdk_lambda::Client::new(config);
        for payload in payloads {
            lambda
                .invoke()
                .function_name(function_arn)
                .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
                .send()
                .await
                .with_context(|| format!("queueing an invocation of {function_arn}"))?;
        }
        self.settled(function_arn, payloads.len(), within).await
    }

    /// Waits until `count` invocations of the function have finished (succeeded or failed for good).
    pub async fn settled(
        &self,
        function_arn: &str,
        count: usize,
        within: Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let invocations = self.invocations(function_arn)?;
            let done = invocations
                .iter()
                .filter(|i| matches!(i["Status"].as_str(), Some("succeeded" | "failed")))
                .count();
            if invocations.len() >= count && done == invocations.len() {
                return Ok(invocations);
            }
            if std::time::Instant::now() > deadline {
                bail!("{done} of {count} invocations of {function_arn} settled in time: {invocations:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Set-up steps shared by end-to-end tests, all through the AWS SDK.
pub mod setup {
    use aws_sdk_config::types::{ConfigurationRecorder, DeliveryChannel, RecordingGroup};
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    use serde_json::json;

    /// Function code: the emulator stores it without unpacking or running it (the rule's own Lambda runs
    /// as a local process bound to the Runtime API instead).
    pub fn code() -> Blob {
        Blob::new(b"stored, not run".to_vec())
    }

    pub async fn create_function(config: &aws_config::SdkConfig, name: &str, runtime: Runtime) -> String {
        let role = ensure_role(config).await;
        aws_sdk_lambda::Client::new(config)
            .create_function()
            .function_name(name)
            .runtime(runtime)
            .role(role)
            .handler("index.handler")
            .code(FunctionCode::builder().zip_file(code()).build())
            .send()
            .await
            .expect("create function")
            .function_arn()
            .expect("function arn")
            .to_string()
    }

    /// A layer version (PublishLayerVersion) declaring `compatible_runtimes`; returns its ARN.
    pub async fn publish_layer(
        config: &aws_config::SdkConfig,
        name: &str,
        compatible_runtimes: &[Runtime],
    ) -> String {
        aws_sdk_lambda::Client::new(config)
            .publish_layer_version()
            .layer_name(name)
            .content(
                aws_sdk_lambda::types::LayerVersionContentInput::builder()
                    .zip_file(code())
                    .build(),
            )
            .set_compatible_runtimes(Some(compatible_runtimes.to_vec()))
            .send()
            .await
            .expect("publish layer version")
            .layer_version_arn()
            .expect("layer version arn")
            .to_string()
    }

    /// A Zip function using `layers`; returns its ARN.
    pub async fn create_function_with_layers(
        config: &aws_config::SdkConfig,
        name: &str,
        runtime: Runtime,
        layers: &[String],
    ) -> String {
        let role = ensure_role(config).await;
        aws_sdk_lambda::Client::new(config)
            .create_function()
            .function_name(name)
            .runtime(runtime)
            .role(role)
            .handler("index.handler")
            .code(FunctionCode::builder().zip_file(code()).build())
            .set_layers(Some(layers.to_vec()))
            .send()
            .await
            .expect("create function")
            .function_arn()
            .expect("function arn")
            .to_string()
    }

    /// A function whose published version runs `old` behind alias `alias` while `$LATEST` was moved
    /// on to `current` afterwards (what an upgrade of `$LATEST` alone leaves behind); returns the
    /// version.
    pub async fn alias_on_old_version(
        config: &aws_config::SdkConfig,
        name: &str,
        old: Runtime,
        current: Runtime,
        alias: &str,
    ) -> String {
        create_function(config, name, old).await;
        let lambda = aws_sdk_lambda::Client::new(config);
        let version = lambda
            .publish_version()
            .function_name(name)
            .send()
            .await
            .expect("publish version")
            .version()
            .expect("version")
            .to_string();
        lambda
            .update_function_configuration()
            .function_name(name)
            .runtime(current)
            .send()
            .await
            .expect("update $LATEST's runtime");
        lambda
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version(&version)
            .send()
            .await
            .expect("create alias");
        version
    }

    /// A recorder of every supported type (AWS::Config::ResourceCompliance included), started.
    pub async fn start_recording(config: &aws_config::SdkConfig, account: &str) {
        start_recording_except(config, account, &[]).await;
    }

    /// A recorder of every supported type but `excluded` (the EXCLUSION_BY_RESOURCE_TYPES strategy,
    /// as AWS's cost guidance suggests for AWS::Config::ResourceCompliance), started.
    pub async fn start_recording_except(config: &aws_config::SdkConfig, account: &str, excluded: &[&str]) {
        use aws_sdk_config::types::{
            ExclusionByResourceTypes, RecordingStrategy, RecordingStrategyType, ResourceType,
        };
        let group = if excluded.is_empty() {
            RecordingGroup::builder().all_supported(true).build()
        } else {
            RecordingGroup::builder()
                .all_supported(false)
                .recording_strategy(
                    RecordingStrategy::builder()
                        .use_only(RecordingStrategyType::ExclusionByResourceTypes)
                        .build(),
                )
                .exclusion_by_resource_types(
                    ExclusionByResourceTypes::builder()
                        .set_resource_types(Some(excluded.iter().map(|t| ResourceType::from(*t)).collect()))
                        .build(),
                )
                .build()
        };
        let client = aws_sdk_config::Client::new(config);
        client
            .put_configuration_recorder()
            .configuration_recorder(
                ConfigurationRecorder::builder()
                    .name("default")
                    .role_arn(format!("arn:aws:iam::{account}:role/config-recorder"))
                    .recording_group(group)
                    .build(),
            )
            .send()
            .await
            .expect("recorder");
        client
            .put_delivery_channel()
            .delivery_channel(
                DeliveryChannel::builder()
                    .name("default")
                    .s3_bucket_name("config-bucket")
                    .build(),
            )
            .send()
            .await
            .expect("delivery channel");
        client
            .start_configuration_recorder()
            .configuration_recorder_name("default")
            .send()
            .await
            .expect("start");
    }

    /// A container-image function (no runtime identifier).
    pub async fn create_image_function(config: &aws_config::SdkConfig, name: &str, account: &str) -> String {
        let role = ensure_role(config).await;
        aws_sdk_lambda::Client::new(config)
            .create_function()
            .function_name(name)
            .package_type(aws_sdk_lambda::types::PackageType::Image)
            .role(role)
            .code(
                FunctionCode::builder()
                    .image_uri(format!("{account}.dkr.ecr.us-east-1.amazonaws.com/app:1"))
                    .build(),
            )
            .send()
            .await
            .expect("create image function")
            .function_arn()
            .expect("arn")
            .to_string()
    }

    /// The functions' execution role (created on first use), as Lambda requires one that exists.
    async fn ensure_role(config: &aws_config::SdkConfig) -> String {
        let iam = aws_sdk_iam::Client::new(config);
        let role = match iam.get_role().role_name("fn-role").send().await {
            Ok(found) => found.role,
            Err(_) => {
                iam.create_role()
                    .role_name("fn-role")
                    .assume_role_policy_document(
                        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                        .to_string(),
                    )
                    .send()
                    .await
                    .expect("create role")
                    .role
            }
        };
        role.map(|r| r.arn).expect("role arn")
    }

    /// Tags a function.
    pub async fn tag(config: &aws_config::SdkConfig, arn: &str, key: &str, value: &str) {
        aws_sdk_lambda::Client::new(config)
            .tag_resource()
            .resource(arn)
            .tags(key, value)
            .send()
            .await
            .expect("tag");
    }

    /// An organization (all features) in the admin account with one member account per name; returns
    /// the members' account ids in order.
    pub async fn create_organization(config: &aws_config::SdkConfig, members: &[&str]) -> Vec<String> {
        let org = aws_sdk_organizations::Client::new(config);
        org.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("organization");
        let mut accounts = Vec::new();
        for name in members {
            let created = org
                .create_account()
                .account_name(*name)
                .email(format!("{name}@example.com"))
                .send()
                .await
                .expect("account");
            accounts.push(
                created
                    .create_account_status()
                    .and_then(|s| s.account_id())
                    .expect("id")
                    .to_string(),
            );
        }
        accounts
    }

    /// An organization Config rule for Lambda functions backed by `lambda_arn`, in `config`'s region.
    pub async fn organization_rule(
        config: &aws_config::SdkConfig,
        name: &str,
        lambda_arn: &str,
        triggers: &[aws_sdk_config::types::OrganizationConfigRuleTriggerType],
        parameters: Option<&str>,
    ) {
        let metadata = aws_sdk_config::types::OrganizationCustomRuleMetadata::builder()
            .lambda_function_arn(lambda_arn)
            .set_organization_config_rule_trigger_types(Some(triggers.to_vec()))
            .resource_types_scope("AWS::Lambda::Function")
            .set_input_parameters(parameters.map(str::to_string))
            .build()
            .expect("rule metadata");
        aws_sdk_config::Client::new(config)
            .put_organization_config_rule()
            .organization_config_rule_name(name)
            .organization_custom_rule_metadata(metadata)
            .send()
            .await
            .expect("organization rule");
    }

    /// An organization-wide Config aggregator (all regions) in the admin account.
    pub async fn organization_aggregator(config: &aws_config::SdkConfig, name: &str) {
        aws_sdk_config::Client::new(config)
            .put_configuration_aggregator()
            .configuration_aggregator_name(name)
            .organization_aggregation_source(
                aws_sdk_config::types::OrganizationAggregationSource::builder()
                    .role_arn(format!(
                        "arn:aws:iam::{}:role/config-aggregator",
                        super::ADMIN_ACCOUNT
                    ))
                    .all_aws_regions(true)
                    .build()
                    .expect("source"),
            )
            .send()
            .await
            .expect("aggregator");
    }
}
