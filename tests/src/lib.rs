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
