"""Remediation end to end with every real part: the CDK app synthesized with automatic upgrades on, its member
template deployed as a stack, the real `rule` binary (RULE_BIN) behind the local Lambda Runtime API evaluating
through the member role, Config's compliance-change event on the member's default bus, the deployed EventBridge
rule and targets (organization rule) or the deployed RemediationConfiguration (per-account rule) starting the
runbooks from cdk/runbooks/, and the rule's next evaluation of the upgraded function: COMPLIANT.

What CDK deploys is read from the synthesized templates (rule parameters, triggers, the rule Lambda's
environment, the RemediationConfiguration), never restated here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import CDK, Local, handler_zip, member_template_of, synth, wait_for

HOME = "us-east-1"
# moto's default account: the rule binary's own credentials (testing/testing) belong to it, as a Lambda's
# execution role belongs to the account the Lambda runs in.
MANAGEMENT = "123456789012"
PER_ACCOUNT_TARGET = "555555555555"
RULE_ARN = f"arn:aws:lambda:{HOME}:{MANAGEMENT}:function:lambda-runtime-guard-rule"


@pytest.fixture(scope="module")
def upgrades_out(tmp_path_factory) -> Path:
    """The cloud assembly of a deployment with `automaticUpgrades` on."""
    return synth(tmp_path_factory.mktemp("cdk-out-upgrades"), ["-c", "automaticUpgrades=true"])


def resource(out: Path, stack_prefix: str, kind: str) -> dict[str, Any]:
    """The one resource of `kind` in the stack named `stack_prefix…` (its home-region copy when per region)."""
    candidates = sorted(out.glob(f"{stack_prefix}*.template.json"))
    home = [p for p in candidates if HOME in p.name]
    resources = json.loads((home or candidates)[0].read_text())["Resources"].values()
    [found] = [r for r in resources if r["Type"] == kind]
    return found


def resolve(value: Any, account: str, region: str = HOME) -> Any:
    """The pseudo parameters and Fn::Join CloudFormation resolves in the properties read here."""
    pseudo = {"AWS::Partition": "aws", "AWS::AccountId": account, "AWS::Region": region}
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in pseudo:
            return pseudo[value["Ref"]]
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(resolve(p, account, region) for p in parts)
        return {k: resolve(v, account, region) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, account, region) for v in value]
    return value


def create_function(local: Local, account: str, name: str, runtime: str) -> str:
    return local.client("lambda", account).create_function(
        FunctionName=name, Runtime=runtime, Role=local.function_role(account, "fn-role"), Handler="index.handler",
        Code={"ZipFile": handler_zip()})["FunctionArn"]


@pytest.fixture(scope="module")
def rule_process(local: Local, upgrades_out: Path, tmp_path_factory):
    """The real rule binary as the rule's Lambda in the management account, with the environment the OrgRule
    stack gives it (RULE_MEMBER_ROLE_NAME)."""
    binary = os.environ.get("RULE_BIN")
    assert binary and Path(binary).exists(), "RULE_BIN must name the built rule binary (cargo xtask test sets it)"
    create_function(local, MANAGEMENT, "lambda-runtime-guard-rule", "provided.al2023")
    function = resource(upgrades_out, "OrgRule-", "AWS::Lambda::Function")["Properties"]
    # The stack's resource-based policy: AWS Config may invoke the rule (per-account rules in other accounts
    # name this central function; PutConfigRule checks it).
    permission = resource(upgrades_out, "OrgRule-", "AWS::Lambda::Permission")["Properties"]
    local.client("lambda", MANAGEMENT).add_permission(
        FunctionName=function["FunctionName"], StatementId="config", Action=permission["Action"],
        Principal=permission["Principal"], **({"SourceAccount": permission["SourceAccount"]} if "SourceAccount" in permission else {}))
    api = local.control("POST", "/_localaws/runtime/bind", {"FunctionArn": RULE_ARN, "TimeoutSeconds": 60})["RuntimeApi"]
    log = tmp_path_factory.mktemp("rule-log") / "rule.log"
    env = {
        "PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": api, "AWS_ENDPOINT_URL": local.url,
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": HOME, "AWS_LAMBDA_FUNCTION_NAME": function["FunctionName"],
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function["MemorySize"]),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function['FunctionName']}", "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        **function["Environment"]["Variables"],
    }
    with log.open("w") as sink:
        process = subprocess.Popen([binary], env=env, stdout=sink, stderr=subprocess.STDOUT)
    yield log
    process.terminate()
    process.wait(timeout=10)


def results(local: Local, account: str, rule: str) -> dict[str, dict[str, Any]]:
    config = local.client("config", account)
    found = {}
    for page in config.get_paginator("get_compliance_details_by_config_rule").paginate(
            ConfigRuleName=rule, ComplianceTypes=["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"]):
        for r in page["EvaluationResults"]:
            found[r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"]] = r
    return found


def successor(runtime: str) -> str:
    return json.loads((CDK / "contracts/runtime-upgrades.json").read_text())["successors"][runtime]


def upgraded_and_compliant(local: Local, account: str, rule: str, function: str, log: Path) -> dict[str, Any]:
    """Waits for the runbook's upgrade and then the rule's COMPLIANT re-evaluation; returns that result."""
    lam = local.client("lambda", account)
    target = successor("python3.8")
    def tail() -> str:
        return f"; rule log tail:\n{log.read_text()[-3000:]}"

    wait_for(lambda: lam.get_function_configuration(FunctionName=function)["Runtime"] == target,
             f"{function} upgraded to {target}", 60, tail)
    return wait_for(lambda: (r := results(local, account, rule).get(function)) and r["ComplianceType"] == "COMPLIANT" and r,
                    f"{function} re-evaluated COMPLIANT", 60, tail)


def automation_executions(local: Local, account: str) -> list[dict[str, Any]]:
    return local.client("ssm", account).describe_automation_executions()["AutomationExecutionMetadataList"]


def test_organization_rule_event_upgrades_and_the_rule_then_reports_compliant(local, upgrades_out, rule_process):
    org = local.client("organizations", MANAGEMENT)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="remediation", Email="remediation@example.com")["CreateAccountStatus"]["AccountId"]
    local.deploy("lrg-member", member_template_of(upgrades_out), member, HOME)
    local.start_recording(member)
    rule = resource(upgrades_out, "OrgRule-", "AWS::Config::OrganizationConfigRule")["Properties"]
    metadata = {**rule["OrganizationCustomRuleMetadata"], "LambdaFunctionArn": RULE_ARN}
    local.client("config", MANAGEMENT).put_organization_config_rule(
        OrganizationConfigRuleName=rule["OrganizationConfigRuleName"], OrganizationCustomRuleMetadata=metadata)
    [member_rule] = [r["ConfigRuleName"] for r in local.client("config", member).describe_config_rules()["ConfigRules"]]
    assert member_rule.startswith(f"OrgConfigRule-{rule['OrganizationConfigRuleName']}-")

    arn = create_function(local, member, "legacy-orders", "python3.8")

    final = upgraded_and_compliant(local, member, member_rule, "legacy-orders", rule_process)
    assert successor("python3.8") in final["Annotation"]
    # The path it took: the event delivered to the deployed targets, the runbook run for real (DryRun false
    # because automaticUpgrades is on), the function tagged with what was done.
    deliveries = [d for d in local.control("GET", "/_localaws/events/deliveries")["Deliveries"]
                  if f":{member}:rule/" in d["RuleArn"]]
    # Both deployed targets (TagAndNotify, UpgradeLambdaRuntime) got the NON_COMPLIANT change, once.
    assert sorted(d["TargetId"] for d in deliveries) == ["TagAndNotify", "UpgradeLambdaRuntime"], deliveries
    assert all(d["Outcome"] == "Delivered" for d in deliveries), deliveries
    def upgrades_succeeded() -> bool:
        upgrades = [e for e in automation_executions(local, member)
                    if e["DocumentName"] == "LambdaRuntimeGuard-UpgradeLambdaRuntime"]
        return bool(upgrades) and all(e["AutomationExecutionStatus"] == "Success" for e in upgrades)
    wait_for(upgrades_succeeded, "the upgrade executions (parent and child) ended Success", 30)
    tags = local.client("lambda", member).list_tags(Resource=arn)["Tags"]
    assert tags["lambda-runtime-guard:result"] == "upgraded"
    assert tags["lambda-runtime-guard:previous-runtime"] == "python3.8"


def test_per_account_rule_remediation_configuration_upgrades_and_the_rule_then_reports_compliant(
        local, upgrades_out, rule_process):
    account = PER_ACCOUNT_TARGET
    local.deploy("lrg-member", member_template_of(upgrades_out), account, HOME)
    local.start_recording(account)
    rule = resource(upgrades_out, "PerAccountRule-", "AWS::Config::ConfigRule")["Properties"]
    remediation = resolve(resource(upgrades_out, "PerAccountRule-", "AWS::Config::RemediationConfiguration")["Properties"], account)
    assert remediation["Automatic"] is True and remediation["TargetId"] == "LambdaRuntimeGuard-UpgradeLambdaRuntime"
    config = local.client("config", account)
    config.put_config_rule(ConfigRule={
        **{k: v for k, v in rule.items() if k not in ("InputParameters", "Source")},
        "InputParameters": json.dumps(rule["InputParameters"]),
        "Source": {**rule["Source"], "SourceIdentifier": RULE_ARN}})
    config.put_remediation_configurations(RemediationConfigurations=[remediation])

    create_function(local, account, "legacy-billing", "python3.8")

    upgraded_and_compliant(local, account, rule["ConfigRuleName"], "legacy-billing", rule_process)
    [status] = config.describe_remediation_execution_status(ConfigRuleName=rule["ConfigRuleName"])["RemediationExecutionStatuses"]
    assert status["ResourceKey"]["resourceId"] == "legacy-billing"
