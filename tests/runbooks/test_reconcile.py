"""ReconcileNonCompliant, loaded from cdk/runbooks/, run by the local AWS: it finds the rule (a per-account
name, or an organization rule's member copy OrgConfigRule-<name>-<suffix>), lists the NON_COMPLIANT Lambda
functions, skips those a human must act on, and starts UpgradeLambdaRuntime or TagAndNotify per function."""

from __future__ import annotations

import json
import re

import pytest

import localaws_conftest as localaws
import runbooks as rb
from runbooks import ACCOUNT, REGION, ran, steps

R = "ReconcileNonCompliant"
ORG_RULE = "lambda-runtime-guard"
MEMBER_RULE = f"OrgConfigRule-{ORG_RULE}-x1y2z3ab"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:lambda-runtime-guard-findings"
UPGRADE, NOTIFY = rb.name("UpgradeLambdaRuntime"), rb.name("TagAndNotify")
HUMAN = "lambda-runtime-guard:result"


@pytest.fixture()
def world(aws):
    """Every runbook deployed, the upgrade parameters written, the organization rule's member copy."""
    rb.write_upgrade_parameters(aws)
    rb.deploy(aws)
    aws.api = rb.config_rule(aws, rule=MEMBER_RULE)
    aws.lam = aws.client("lambda")
    return aws


def functions(aws, verdicts: dict[str, str], runtime: str = "python3.8", tags: dict[str, dict] | None = None) -> None:
    for name in verdicts:
        rb.function(aws, name, runtime, tags=(tags or {}).get(name))
    rb.evaluate(aws, aws.api, verdicts, rule=MEMBER_RULE)


def reconcile(aws, **parameters) -> dict:
    parameters.setdefault("ConfigRuleName", ORG_RULE)
    return rb.wait(aws, rb.start(aws, R, **parameters), seconds=120)


def state(aws, name: str) -> tuple:
    configuration = aws.lam.get_function_configuration(FunctionName=name)
    versions = [v["Version"] for v in aws.lam.list_versions_by_function(FunctionName=name)["Versions"]]
    return configuration["Runtime"], configuration["RevisionId"], versions, \
        aws.lam.list_tags(Resource=configuration["FunctionArn"]).get("Tags", {})


def children(aws, execution: dict, step: str) -> dict[str, dict]:
    """The child runs of the rate-controlled execution a RunUpgrades/RunTagAndNotify step started, by function."""
    controlled = steps(execution)[step]["Outputs"]["ExecutionId"][0]
    rows = aws.client("ssm").describe_automation_executions(
        Filters=[{"Key": "ParentExecutionId", "Values": [controlled]}])["AutomationExecutionMetadataList"]
    out = {}
    for row in rows:
        child = rb.wait(aws, row["AutomationExecutionId"], seconds=60)
        out[child["Parameters"]["FunctionName"][0]] = child
    return out


def test_org_rule_member_copy_two_upgraded_the_rolled_back_one_untouched(world):
    functions(world, {"orders": "NON_COMPLIANT", "billing": "NON_COMPLIANT", "legacy": "NON_COMPLIANT"},
              tags={"legacy": {HUMAN: "rolled-back", "lambda-runtime-guard:rollback-version": "3"}})
    functions(world, {"fresh": "COMPLIANT"}, runtime="python3.12")
    before = {name: state(world, name) for name in ("legacy", "fresh")}
    execution = reconcile(world, RemediationDocument=UPGRADE, DryRun=False, TopicArn=TOPIC)
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    outputs = execution["Outputs"]
    assert outputs["FindFunctions.RuleName"] == [MEMBER_RULE]
    assert outputs["FindFunctions.Found"] == ["3"]
    assert outputs["FindFunctions.Skipped"] == ["legacy"]
    assert sorted(outputs["FindFunctions.Started"]) == ["billing", "orders"]
    assert ran(execution)[-1] == "RunUpgrades"
    runs = children(world, execution, "RunUpgrades")
    assert sorted(runs) == ["billing", "orders"]
    target = rb.contract()["successors"]["python3.8"]
    for name, child in runs.items():
        assert child["AutomationExecutionStatus"] == "Success", child.get("FailureMessage")
        assert child["Parameters"]["ConfigRuleName"] == [MEMBER_RULE] and child["Parameters"]["DryRun"] == ["false"]
        assert world.lam.get_function_configuration(FunctionName=name)["Runtime"] == target
    assert {name: state(world, name) for name in ("legacy", "fresh")} == before


def test_dry_run_changes_nothing(world):
    functions(world, {"orders": "NON_COMPLIANT", "billing": "NON_COMPLIANT"})
    before = {name: state(world, name) for name in ("orders", "billing")}
    execution = reconcile(world, RemediationDocument=UPGRADE)  # DryRun defaults to true
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    runs = children(world, execution, "RunUpgrades")
    assert sorted(runs) == ["billing", "orders"]
    for child in runs.values():
        assert child["Parameters"]["DryRun"] == ["true"]
        assert ran(rb.child(world, child))[-1] == "EndDryRun"
    assert {name: state(world, name) for name in ("orders", "billing")} == before


def test_one_failed_child_does_not_stop_the_others(world):
    """go1.x has no config-only upgrade: its child is refused (Failed, nothing changed); MaxErrors 100% lets the
    others run; the reconciliation ends Failed, naming the count."""
    functions(world, {"old-go": "NON_COMPLIANT"}, runtime="go1.x")
    functions(world, {"orders": "NON_COMPLIANT", "billing": "NON_COMPLIANT"})
    execution = reconcile(world, RemediationDocument=UPGRADE, DryRun=False, MaxFunctions=3)
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "1 of 3 targets failed" in execution["FailureMessage"]
    runs = children(world, execution, "RunUpgrades")
    assert runs["old-go"]["AutomationExecutionStatus"] == "Failed"
    assert "upgrade-targets/go1.x" in runs["old-go"]["FailureMessage"]
    target = rb.contract()["successors"]["python3.8"]
    for name in ("orders", "billing"):
        assert runs[name]["AutomationExecutionStatus"] == "Success"
        assert world.lam.get_function_configuration(FunctionName=name)["Runtime"] == target


def test_no_matching_rule_fails_clearly(world):
    execution = reconcile(world, ConfigRuleName="other-rule", TopicArn=TOPIC)
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert steps(execution)["FindFunctions"]["StepStatus"] == "Failed"
    assert "0 Config rules named other-rule or OrgConfigRule-other-rule-<suffix>: []" in execution["FailureMessage"]


def test_two_rules_matching_the_prefix_fail_clearly(world):
    localaws.custom_rule(world, f"OrgConfigRule-{ORG_RULE}-q9w8e7r6", rb.rule_arn())
    execution = reconcile(world, TopicArn=TOPIC)
    assert execution["AutomationExecutionStatus"] == "Failed"
    message = execution["FailureMessage"]
    assert f"2 Config rules named {ORG_RULE}" in message and MEMBER_RULE in message and "q9w8e7r6" in message


def test_an_exact_name_wins_and_a_longer_org_rule_name_is_not_ours(world):
    # the member copy of an organization rule named "lambda-runtime-guard-extra" shares our prefix
    localaws.custom_rule(world, f"OrgConfigRule-{ORG_RULE}-extra-a1b2c3d4", rb.rule_arn())
    execution = reconcile(world, TopicArn=TOPIC)
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert execution["Outputs"]["FindFunctions.RuleName"] == [MEMBER_RULE]
    localaws.custom_rule(world, ORG_RULE, rb.rule_arn())  # a per-account rule of exactly that name
    execution = reconcile(world, TopicArn=TOPIC)
    assert execution["Outputs"]["FindFunctions.RuleName"] == [ORG_RULE]
    execution = reconcile(world, ConfigRuleName=MEMBER_RULE, TopicArn=TOPIC)  # the member copy's own name
    assert execution["Outputs"]["FindFunctions.RuleName"] == [MEMBER_RULE]


def test_nothing_non_compliant_ends_without_starting_children(world):
    functions(world, {"fresh": "COMPLIANT"}, runtime="python3.12")
    functions(world, {"legacy": "NON_COMPLIANT"}, tags={"legacy": {HUMAN: "manual-action-required"}})
    execution = reconcile(world, RemediationDocument=UPGRADE, DryRun=False)
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert ran(execution) == ["FindFunctions", "ChooseChild", "EndNothingToStart"]
    assert execution["Outputs"]["FindFunctions.Found"] == ["1"]
    assert execution["Outputs"]["FindFunctions.Skipped"] == ["legacy"]
    assert execution["Outputs"]["FindFunctions.Started"] == []
    rows = world.client("ssm").describe_automation_executions(
        Filters=[{"Key": "ParentExecutionId", "Values": [execution["AutomationExecutionId"]]}])
    assert rows["AutomationExecutionMetadataList"] == []


def test_the_cap_is_honoured(world):
    world.client("sns").create_topic(Name="lambda-runtime-guard-findings")
    names = [f"fn{i}" for i in range(5)]
    functions(world, {name: "NON_COMPLIANT" for name in names})
    execution = reconcile(world, TopicArn=TOPIC, MaxFunctions=2)
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    started = execution["Outputs"]["FindFunctions.Started"]
    assert execution["Outputs"]["FindFunctions.Found"] == ["5"]
    assert len(started) == 2 and set(started) <= set(names)
    assert sorted(children(world, execution, "RunTagAndNotify")) == sorted(started)
    tagged = [name for name in names if "lambda-runtime-guard:finding" in state(world, name)[3]]
    assert sorted(tagged) == sorted(started)
    for bad in (0, 51):
        failed = reconcile(world, TopicArn=TOPIC, MaxFunctions=bad)
        assert failed["AutomationExecutionStatus"] == "Failed" and "MaxFunctions must be 1-50" in failed["FailureMessage"]


def test_tag_and_notify_as_the_child(world):
    sns, sqs = world.client("sns"), world.client("sqs")
    sns.create_topic(Name="lambda-runtime-guard-findings")
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=queue_arn)
    functions(world, {"orders": "NON_COMPLIANT", "billing": "NON_COMPLIANT", "legacy": "NON_COMPLIANT"},
              tags={"legacy": {HUMAN: "upgrade-refused"}})
    execution = reconcile(world, TopicArn=TOPIC)  # RemediationDocument defaults to TagAndNotify
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert ran(execution)[-1] == "RunTagAndNotify"
    runs = children(world, execution, "RunTagAndNotify")
    assert sorted(runs) == ["billing", "orders"]
    for name, child in runs.items():
        assert ran(child)[-1] == "Notify", child.get("FailureMessage")
        assert child["Parameters"]["ConfigRuleName"] == [MEMBER_RULE]
        assert state(world, name)[3]["lambda-runtime-guard:finding"] == "deprecated-runtime"
        assert state(world, name)[0] == "python3.8"
    bodies = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        bodies += [json.loads(m["Body"])["Message"] for m in batch]
    assert len(bodies) == 2 and all(MEMBER_RULE in body for body in bodies)
    again = reconcile(world, TopicArn=TOPIC)  # TagAndNotify is idempotent: no second message
    assert all(ran(c)[-1] == "EndAlreadyNotified" for c in children(world, again, "RunTagAndNotify").values())
    missing = reconcile(world)
    assert missing["AutomationExecutionStatus"] == "Failed" and "TagAndNotify needs TopicArn" in missing["FailureMessage"]


def test_the_daily_schedule_input_starts_it_as_cdk_fills_it(world):
    """The wiring file's `reconciliation` input, with the placeholders filled as the member stack fills them
    (automatic upgrades off), is a valid start of the document it names."""
    wiring = json.loads((rb.RUNBOOKS / "compliance-change-pattern.json").read_text())["reconciliation"]
    assert wiring["runbook"] == R and wiring["document"] == rb.name(R)
    world.client("sns").create_topic(Name="lambda-runtime-guard-findings")
    functions(world, {"orders": "NON_COMPLIANT"})
    values = {"RULE_NAME": ORG_RULE, "AUTOMATION_ROLE_ARN": rb.ROLE, "TOPIC_ARN": TOPIC, "DRY_RUN": "true",
              "REMEDIATION_DOCUMENT": NOTIFY}
    parameters = json.loads(re.sub(r"%([A-Z_]+)%", lambda m: values[m.group(1)], json.dumps(wiring["input"])))
    started = world.client("ssm").start_automation_execution(DocumentName=wiring["document"], Parameters=parameters)
    execution = rb.wait(world, started["AutomationExecutionId"], seconds=120)
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert execution["Outputs"]["FindFunctions.Started"] == ["orders"]
    assert ran(execution)[-1] == "RunTagAndNotify"
