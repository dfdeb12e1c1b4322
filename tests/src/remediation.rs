//! Remediation as a deployment sets it up in a member account, through the AWS SDK: the runbooks from
//! `cdk/runbooks/` (the files CDK deploys, read here, never copied), the successor parameters from
//! `cdk/contracts/runtime-upgrades.json`, the Automation role; and running a runbook to its end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use aws_sdk_ssm::types::{AutomationExecution, AutomationExecutionStatus, DocumentFormat, DocumentType};
use serde_json::Value;

use crate::workspace_root;

/// The Automation role's name (as the member stack names it).
pub const AUTOMATION_ROLE: &str = "lambda-runtime-guard-automation";

fn read_json(relative: &str) -> anyhow::Result<Value> {
    let path = workspace_root().join(relative);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The SSM document name of a runbook (`cdk/runbooks/runbooks.json`).
pub fn document_name(runbook: &str) -> anyhow::Result<String> {
    let manifest = read_json("cdk/runbooks/runbooks.json")?;
    manifest["documents"][runbook]["name"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("runbook {runbook} is not in cdk/runbooks/runbooks.json"))
}

/// Creates every runbook of `cdk/runbooks/runbooks.json` as an Automation document (YAML content, the
/// manifest's names), the successor parameters, and the Automation role; returns the role's ARN.
pub async fn deploy(config: &SdkConfig, account: &str) -> anyhow::Result<String> {
    let ssm = aws_sdk_ssm::Client::new(config);
    let manifest = read_json("cdk/runbooks/runbooks.json")?;
    let documents = manifest["documents"]
        .as_object()
        .context("runbooks.json: documents")?;
    for (runbook, entry) in documents {
        let file = entry["file"].as_str().context("runbooks.json: file")?;
        let content = std::fs::read_to_string(workspace_root().join("cdk/runbooks").join(file))
            .with_context(|| format!("reading cdk/runbooks/{file}"))?;
        ssm.create_document()
            .name(entry["name"].as_str().context("runbooks.json: name")?)
            .document_type(DocumentType::Automation)
            .document_format(DocumentFormat::Yaml)
            .content(content)
            .send()
            .await
            .with_context(|| format!("CreateDocument {runbook}"))?;
    }
    let upgrades = read_json("cdk/contracts/runtime-upgrades.json")?;
    let parameters = upgrades["parameters"]
        .as_object()
        .context("runtime-upgrades.json: parameters")?;
    for (name, value) in parameters {
        ssm.put_parameter()
            .name(name)
            .value(value.as_str().context("parameter value")?)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .with_context(|| format!("PutParameter {name}"))?;
    }
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    aws_sdk_iam::Client::new(config)
        .create_role()
        .role_name(AUTOMATION_ROLE)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .context("CreateRole (Automation)")?;
    Ok(format!("arn:aws:iam::{account}:role/{AUTOMATION_ROLE}"))
}

/// Starts `runbook` with `parameters` and waits for its end.
pub async fn run(
    config: &SdkConfig,
    runbook: &str,
    parameters: &[(&str, &str)],
) -> anyhow::Result<AutomationExecution> {
    let ssm = aws_sdk_ssm::Client::new(config);
    let parameters: HashMap<String, Vec<String>> = parameters
        .iter()
        .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
        .collect();
    let started = ssm
        .start_automation_execution()
        .document_name(document_name(runbook)?)
        .set_parameters(Some(parameters))
        .send()
        .await
        .with_context(|| format!("StartAutomationExecution {runbook}"))?;
    wait(
        config,
        started.automation_execution_id().context("no execution id")?,
    )
    .await
}

/// Waits for an execution's end (30 s at most).
pub async fn wait(config: &SdkConfig, execution_id: &str) -> anyhow::Result<AutomationExecution> {
    let ssm = aws_sdk_ssm::Client::new(config);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let execution = ssm
            .get_automation_execution()
            .automation_execution_id(execution_id)
            .send()
            .await?
            .automation_execution
            .context("no execution")?;
        let running = matches!(
            execution.automation_execution_status(),
            Some(
                AutomationExecutionStatus::Pending
                    | AutomationExecutionStatus::Inprogress
                    | AutomationExecutionStatus::Cancelling
            )
        );
        if !running {
            return Ok(execution);
        }
        if Instant::now() > deadline {
            bail!("execution {execution_id} did not end within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One output of an execution (the first value), if present.
pub fn output<'e>(execution: &'e AutomationExecution, name: &str) -> Option<&'e str> {
    execution.outputs()?.get(name)?.first().map(String::as_str)
}

/// The steps that ran, in order.
pub fn steps_ran(execution: &AutomationExecution) -> Vec<&str> {
    execution
        .step_executions()
        .iter()
        .filter(|s| {
            s.step_status()
                .is_some_and(|status| matches!(status.as_str(), "Success" | "Failed"))
        })
        .filter_map(|s| s.step_name())
        .collect()
}
