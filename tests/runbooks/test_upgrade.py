"""UpgradeLambdaRuntime, loaded from cdk/runbooks/, run by the local AWS's Automation against its Lambda,
Config and SSM Parameter Store (parameters written from cdk/contracts/runtime-upgrades.json)."""

from __future__ import annotations

import json
import threading
import time

import botocore.exceptions
import pytest

import runbooks as rb
from runbooks import RULE, child, ran, run, steps

U = "UpgradeLambdaRuntime"
PIN = "arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4"


@pytest.fixture()
def world(aws):
    """Runbooks deployed, upgrade parameters written, a rule whose verdicts the test decides."""
    rb.write_upgrade_parameters(aws)
    rb.deploy(aws)
    api = rb.config_rule(aws)
    aws.lam = aws.client("lambda")
    aws.api = api
    return aws


def legacy(aws, name: str, runtime: str = "python3.8", verdict: str = "NON_COMPLIANT", **extra) -> str:
    arn = rb.function(aws, name, runtime, **extra)["FunctionArn"]
    rb.evaluate(aws, aws.api, {name: verdict})
    return arn


def snapshot(aws, name: str) -> tuple:
    """What the runbook may change: configuration, versions, tags, runtime management."""
    lam = aws.lam
    configuration = lam.get_function_configuration(FunctionName=name)
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    tags = lam.list_tags(Resource=configuration["FunctionArn"]).get("Tags", {})
    mode = lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] \
        if configuration.get("PackageType") != "Image" else None
    return configuration.get("Runtime"), configuration["RevisionId"], versions, tags, mode


def tags(aws, name: str) -> dict[str, str]:
    arn = aws.lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    return {k.split(":", 1)[1]: v for k, v in aws.lam.list_tags(Resource=arn)["Tags"].items()
            if k.startswith("lambda-runtime-guard:")}


def upgrade(aws, name: str, **parameters) -> dict:
    """DryRun false unless given; an empty TargetRuntime is left out (Automation refuses an empty value)."""
    parameters.setdefault("DryRun", False)
    if parameters.get("TargetRuntime") == "":
        del parameters["TargetRuntime"]
    parameters.setdefault("ConfigRuleName", RULE)
    return run(aws, U, FunctionName=name, **parameters)


def test_python38_is_upgraded_to_its_successor_with_a_rollback_point(world, capsys):
    legacy(world, "orders")
    target = rb.contract()["successors"]["python3.8"]
    before, polls = rb.stats(world), rb.POLLS["GetAutomationExecution"]
    started = time.perf_counter()
    execution = upgrade(world, "orders")
    elapsed = time.perf_counter() - started
    after, polls = rb.stats(world), rb.POLLS["GetAutomationExecution"] - polls
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert execution["Outputs"]["ReadSuccessor.Successor"] == [target]
    inner = child(world, execution)
    assert inner["AutomationExecutionStatus"] == "Success", inner.get("FailureMessage")
    assert inner["Parameters"]["TargetRuntime"] == [target]
    assert ran(inner)[-1] == "TagUpgraded"
    assert inner["Outputs"]["ReadFunction.Runtime"] == ["python3.8"]
    assert inner["Outputs"]["ReadResult.Runtime"] == [target]
    version = inner["Outputs"]["PublishRollbackPoint.Version"][0]
    assert world.lam.get_function_configuration(FunctionName="orders")["Runtime"] == target
    assert world.lam.get_function_configuration(FunctionName="orders", Qualifier=version)["Runtime"] == "python3.8"
    assert tags(world, "orders") == {"result": "upgraded", "previous-runtime": "python3.8", "target-runtime": target,
                                     "rollback-version": version, "execution": inner["AutomationExecutionId"]}
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    calls["ssm:GetAutomationExecution"] -= polls  # the test's own polling
    calls["ssm:StartAutomationExecution"] -= 1  # the test's own start
    calls = {k: n for k, n in calls.items() if n}
    report = [f"default target (parent + child run): {elapsed:.2f} s wall time, {sum(calls.values())} AWS API calls "
              f"{json.dumps(calls, sort_keys=True)}"]

    legacy(world, "billing")
    before, polls = rb.stats(world), rb.POLLS["GetAutomationExecution"]
    started = time.perf_counter()
    execution = upgrade(world, "billing", TargetRuntime=target)
    elapsed = time.perf_counter() - started
    after, polls = rb.stats(world), rb.POLLS["GetAutomationExecution"] - polls
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    calls["ssm:GetAutomationExecution"] -= polls
    calls["ssm:StartAutomationExecution"] -= 1
    calls = {k: n for k, n in calls.items() if n}
    report.append(f"explicit TargetRuntime (one run): {elapsed:.2f} s wall time, {sum(calls.values())} AWS API calls "
                  f"{json.dumps(calls, sort_keys=True)}")
    with capsys.disabled():
        print(f"\nUpgradeLambdaRuntime happy path on localaws, python3.8 -> {target}:\n  " + "\n  ".join(report))


def test_an_allowed_explicit_target_runs_without_a_child(world):
    legacy(world, "orders")
    execution = upgrade(world, "orders", TargetRuntime="python3.13")
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert "RunWithSuccessor" not in ran(execution)
    assert world.lam.get_function_configuration(FunctionName="orders")["Runtime"] == "python3.13"


def test_dry_run_changes_nothing_and_reports_the_plan(world):
    legacy(world, "orders")
    world.lam.publish_version(FunctionName="orders")
    world.lam.create_alias(FunctionName="orders", Name="live", FunctionVersion="1")
    before = snapshot(world, "orders")
    execution = run(world, U, FunctionName="orders", ConfigRuleName=RULE)  # DryRun defaults to true
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    inner = child(world, execution)
    assert ran(inner)[-1] == "EndDryRun"
    plan = inner["Outputs"]
    assert execution["Outputs"]["ReadSuccessor.Successor"] == [rb.contract()["successors"]["python3.8"]]
    assert plan["ReadFunction.Runtime"] == ["python3.8"]
    assert plan["ReadRuntimeManagement.UpdateRuntimeOn"] == ["Auto"]
    assert plan["ListAliases.AliasNames"] == ["live"] and plan["ListAliases.AliasVersions"] == ["1"]
    assert "PublishRollbackPoint.Version" not in plan
    assert snapshot(world, "orders") == before


def test_manual_mode_is_switched_to_auto_then_upgraded(world):
    legacy(world, "pinned")
    world.lam.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Manual", RuntimeVersionArn=PIN)
    execution = upgrade(world, "pinned", TargetRuntime="python3.12")
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    assert ["CheckManualMode", "SetModeAuto", "ReadRevision", "Upgrade"] == [
        s for s in ran(execution) if s in ("CheckManualMode", "SetModeAuto", "ReadRevision", "Upgrade")]
    assert world.lam.get_runtime_management_config(FunctionName="pinned")["UpdateRuntimeOn"] == "Auto"
    assert world.lam.get_function_configuration(FunctionName="pinned")["Runtime"] == "python3.12"


def test_image_and_os_only_functions_are_not_applicable(world):
    role = world.client("iam").get_role(RoleName="fn-role")["Role"]["Arn"]
    world.lam.create_function(FunctionName="image", Role=role, PackageType="Image",
                              Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"})
    rb.evaluate(world, world.api, {"image": "NON_COMPLIANT"})
    legacy(world, "custom", "provided.al2")
    for name in ("image", "custom"):
        before = snapshot(world, name)
        execution = upgrade(world, name)
        assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
        assert ran(execution)[-1] == "EndNotApplicable"
        assert snapshot(world, name) == before


@pytest.mark.parametrize("runtime,target,failed_step,message", [
    ("go1.x", "", "ReadUpgradeTargets", "/lambda-runtime-guard/upgrade-targets/go1.x"),
    ("python3.8", "nodejs22.x", "RefuseTarget", ",nodejs22.x,"),
    ("python3.8", "python9.9", "RefuseTarget", ",python9.9,"),
    ("python3.8", "python3.8", "RefuseTarget", ",python3.8,"),
])
def test_refused_upgrades_change_nothing_and_say_why(world, runtime, target, failed_step, message):
    legacy(world, "fn", runtime)
    before = snapshot(world, "fn")
    execution = upgrade(world, "fn", TargetRuntime=target)
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert steps(execution)[failed_step]["StepStatus"] == "Failed"
    assert message in execution["FailureMessage"], execution["FailureMessage"]
    assert snapshot(world, "fn") == before


def test_layers_must_list_the_target_when_they_list_runtimes(world):
    lam = world.lam
    layer = lambda name, runtimes: lam.publish_layer_version(  # noqa: E731
        LayerName=name, Content={"ZipFile": rb.localaws_zip()}, CompatibleRuntimes=runtimes)["LayerVersionArn"]
    ok = layer("ok", ["python3.8", "python3.12"])
    unlisted = lam.publish_layer_version(LayerName="any", Content={"ZipFile": rb.localaws_zip()})["LayerVersionArn"]
    old = layer("old", ["python3.8", "python3.9"])
    legacy(world, "fine", Layers=[ok, unlisted])
    legacy(world, "stuck", Layers=[ok, old])
    assert upgrade(world, "fine", TargetRuntime="python3.12")["AutomationExecutionStatus"] == "Success"
    assert lam.get_function_configuration(FunctionName="fine")["Runtime"] == "python3.12"
    before = snapshot(world, "stuck")
    execution = upgrade(world, "stuck", TargetRuntime="python3.12")
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert ran(execution)[-1] == "RefuseLayer2" and "python3.9" in execution["FailureMessage"]
    assert snapshot(world, "stuck") == before


def test_a_stale_trigger_for_a_compliant_function_is_a_no_op(world):
    legacy(world, "orders", verdict="COMPLIANT")
    before = snapshot(world, "orders")
    execution = upgrade(world, "orders")
    assert execution["AutomationExecutionStatus"] == "Success"
    assert ran(execution)[-1] == "EndAlreadyCompliant"
    assert snapshot(world, "orders") == before
    other_rule = upgrade(world, "orders", ConfigRuleName="some-other-rule")
    assert ran(other_rule)[-1] == "EndAlreadyCompliant"


def test_a_failed_update_is_rolled_back_and_the_manual_pin_restored(world):
    legacy(world, "orders")
    world.lam.put_runtime_management_config(FunctionName="orders", UpdateRuntimeOn="Manual", RuntimeVersionArn=PIN)
    world.control("POST", "/_localaws/lambda/update-failures",
                  {"Rules": [{"FunctionName": "orders", "Runtime": "python3.12", "Reason": "injected failure"}]})
    execution = upgrade(world, "orders", TargetRuntime="python3.12")
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "LastUpdateStatus" in execution["FailureMessage"] and "Failed" in execution["FailureMessage"]
    assert ran(execution)[-7:] == ["WaitUpgrade", "AssertUpgradeSuccessful", "Rollback", "WaitRollback",
                                   "AssertRolledBack", "TagRolledBack", "CheckRestoreMode", "RestoreManualMode"][-7:]
    assert world.lam.get_function_configuration(FunctionName="orders")["Runtime"] == "python3.8"
    mode = world.lam.get_runtime_management_config(FunctionName="orders")
    assert (mode["UpdateRuntimeOn"], mode["RuntimeVersionArn"]) == ("Manual", PIN)
    assert tags(world, "orders")["result"] == "rolled-back"


def test_rollback_refused_for_an_update_blocked_runtime_fails_naming_the_version(world):
    legacy(world, "orders")
    catalog = json.loads((rb.ROOT / "rule/lifecycle/data/runtimes.json").read_text())
    blocked = next(r["block_update_date"] for r in catalog["runtimes"] if r["runtime"] == "python3.8")
    world.control("POST", "/_localaws/lambda/settings", {"Today": blocked})
    world.control("POST", "/_localaws/lambda/update-failures", {"Rules": [{"FunctionName": "orders"}]})
    execution = upgrade(world, "orders", TargetRuntime="python3.12")
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert steps(execution)["Rollback"]["StepStatus"] == "Failed"
    assert "no longer supported" in steps(execution)["Rollback"]["FailureMessage"]
    version = execution["Outputs"]["PublishRollbackPoint.Version"][0]
    found = tags(world, "orders")
    assert found["result"] == "manual-action-required" and found["rollback-version"] == version
    assert f"point aliases at version {version}" in found["manual-action"]
    assert world.lam.get_function_configuration(FunctionName="orders", Qualifier=version)["Runtime"] == "python3.8"


def test_a_concurrent_change_aborts_before_anything_changes(world):
    legacy(world, "orders")
    world.control("POST", "/_localaws/faults", {"Rules": [{"Service": "lambda", "Operation": "ListAliases", "LatencyMs": 1500}]})

    def concurrent_deploy() -> None:
        time.sleep(0.7)  # while the runbook waits on ListAliases, after it read the RevisionId
        world.lam.update_function_configuration(FunctionName="orders", MemorySize=512)
        for _ in range(3):
            world.lam.get_function_configuration(FunctionName="orders")

    deploy = threading.Thread(target=concurrent_deploy)
    deploy.start()
    execution = upgrade(world, "orders", TargetRuntime="python3.12")
    deploy.join()
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert ran(execution)[-1] == "PublishRollbackPoint"
    assert "PreconditionFailedException" in execution["FailureMessage"]
    configuration = world.lam.get_function_configuration(FunctionName="orders")
    assert (configuration["Runtime"], configuration["MemorySize"]) == ("python3.8", 512)
    assert [v["Version"] for v in world.lam.list_versions_by_function(FunctionName="orders")["Versions"]] == ["$LATEST"]


def test_missing_function_and_bad_parameters_fail_clearly(world):
    execution = upgrade(world, "nope")
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "ResourceNotFoundException" in execution["FailureMessage"] and "nope" in execution["FailureMessage"]
    for bad in ({"DryRun": "maybe"}, {"FunctionName": "not a name"}, {"TargetRuntime": "Python 3.12"}):
        parameters = {"FunctionName": "orders", "ConfigRuleName": RULE, **bad}
        with pytest.raises(botocore.exceptions.ClientError) as error:
            rb.start(world, U, **parameters)
        assert error.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"
        assert next(iter(bad)) in error.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError):
        world.client("ssm").start_automation_execution(DocumentName=rb.name(U), Parameters={"FunctionName": ["orders"]})


def test_aliases_on_published_versions_are_reported(world):
    legacy(world, "orders")
    world.lam.publish_version(FunctionName="orders")
    world.lam.create_alias(FunctionName="orders", Name="live", FunctionVersion="1")
    world.lam.create_alias(FunctionName="orders", Name="edge", FunctionVersion="$LATEST")
    execution = upgrade(world, "orders", TargetRuntime="python3.12")
    assert execution["AutomationExecutionStatus"] == "Success", execution.get("FailureMessage")
    aliases = dict(zip(execution["Outputs"]["ListAliases.AliasNames"], execution["Outputs"]["ListAliases.AliasVersions"]))
    assert aliases == {"live": "1", "edge": "$LATEST"}
    assert world.lam.get_function_configuration(FunctionName="orders", Qualifier="live")["Runtime"] == "python3.8"


# ------------------------------------------------------------------ the emulator is not lenient where the runbook relies on AWS

def without(change) -> dict:
    document = rb.load(U)
    change({s["name"]: s for s in document["mainSteps"]})
    return document


def test_without_the_manual_switch_lambda_refuses_the_upgrade(aws):
    """Proves the SetModeAuto step is needed: a copy that skips it is refused by Lambda (as AWS does)."""
    rb.write_upgrade_parameters(aws)
    rb.deploy(aws, U, content=without(lambda s: s["CheckManualMode"]["inputs"].update(Default="ReadRevision", Choices=[
        {"NextStep": "ReadRevision", "Variable": "{{ ReadRuntimeManagement.UpdateRuntimeOn }}", "StringEquals": "x"}])))
    aws.api = rb.config_rule(aws)
    aws.lam = aws.client("lambda")
    legacy(aws, "pinned")
    aws.lam.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Manual", RuntimeVersionArn=PIN)
    execution = upgrade(aws, "pinned", TargetRuntime="python3.12")
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "Manual" in steps(execution)["Upgrade"]["FailureMessage"]
    assert aws.lam.get_function_configuration(FunctionName="pinned")["Runtime"] == "python3.8"


def test_without_waiting_for_the_update_the_check_sees_in_progress(aws):
    """Proves WaitUpgrade is needed: LastUpdateStatus is InProgress right after the update (as in AWS)."""
    rb.write_upgrade_parameters(aws)
    rb.deploy(aws, U, content=without(lambda s: s["Upgrade"].update(nextStep="AssertUpgradeSuccessful")))
    aws.api = rb.config_rule(aws)
    aws.lam = aws.client("lambda")
    legacy(aws, "orders")
    execution = upgrade(aws, "orders", TargetRuntime="python3.12")
    assert execution["AutomationExecutionStatus"] == "Failed"
    assert "InProgress" in steps(execution)["AssertUpgradeSuccessful"]["FailureMessage"]
