"""The runbooks pass the linter; mutated copies (changed in memory) fail it with the specific problem — one
mutation per rule, so a linter rule that stops working fails here."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

import runbooks
from lint import iam_actions, lint, listed_actions, script_actions

ALL = list(runbooks.MANIFEST["documents"])


def step(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in document["mainSteps"] if s["name"] == name)


@pytest.mark.parametrize("runbook", ALL)
def test_runbooks_pass_the_linter(runbook):
    assert lint(runbooks.load(runbook), runbooks.catalog()) == []


@pytest.mark.parametrize("runbook", ALL)
def test_iam_actions_listed_everywhere_are_the_ones_the_steps_use(runbook):
    """The description (for people), runbooks.json (for CDK's Automation role) and the steps agree."""
    document = runbooks.load(runbook)
    manifest = set(runbooks.MANIFEST["documents"][runbook]["actions"])
    assert listed_actions(document) == manifest == iam_actions(document)


def test_the_reconciliation_script_calls_exactly_its_declared_actions():
    """The script's `boto3.client("x").method` calls, parsed from the file, are the declared IAM actions that
    are not aws:executeAutomation's (starting, reading and passing the role to the children). The script hands
    the bound method to its pager, so a call is `client("x").method` followed by `(` or by `,` (an argument)."""
    document = runbooks.load("ReconcileNonCompliant")
    source = step(document, "FindFunctions")["inputs"]["Script"]
    calls = set(re.findall(r"""client\(\s*['"]([a-z0-9-]+)['"]\s*\)\.(\w+)\s*[(,]""", source))
    assert len(re.findall(r"client\(", source)) == len(calls), "every client(...) is followed by one method"
    assert calls == {("config", "describe_config_rules"), ("config", "get_compliance_details_by_config_rule"),
                     ("resourcegroupstaggingapi", "get_resources")}
    declared = set(runbooks.MANIFEST["documents"]["ReconcileNonCompliant"]["actions"])
    assert script_actions(document) == {"config:DescribeConfigRules", "config:GetComplianceDetailsByConfigRule",
                                        "tag:GetResources"}
    assert declared - script_actions(document) == {"iam:PassRole", "ssm:GetAutomationExecution",
                                                   "ssm:StartAutomationExecution"}


def test_ssm_parameter_names_follow_the_contract_prefix():
    prefix = runbooks.contract()["ssm_prefix"]
    text = runbooks.text("UpgradeLambdaRuntime")
    assert f"{prefix}/successor/" in text and f"{prefix}/upgrade-targets/" in text
    assert "/lambda-runtime-guard/" not in text.replace(prefix + "/", "")


def mutate(runbook: str, change: Callable[[dict[str, Any]], None]) -> list[str]:
    document = runbooks.load(runbook)
    change(document)
    return lint(document, runbooks.catalog())


def add_step(document: dict[str, Any], new: dict[str, Any]) -> None:
    document["mainSteps"].append(new)


U = "UpgradeLambdaRuntime"
R = "ReconcileNonCompliant"


def script(document: dict[str, Any]) -> dict[str, Any]:
    return step(document, "FindFunctions")["inputs"]


def child(document: dict[str, Any], name: str = "RunUpgrades") -> dict[str, Any]:
    return step(document, name)["inputs"]


MUTATIONS = [
    ("duplicate step name", U, lambda d: step(d, "ReadRevision").update(name="ReadFunction"),
     "step name 'ReadFunction' is used more than once"),
    ("nextStep to nowhere", U, lambda d: step(d, "TagRolledBack").update(nextStep="Nowhere"),
     "step TagRolledBack: nextStep 'Nowhere' is not a step"),
    ("onFailure to nowhere", U, lambda d: step(d, "Upgrade").update(onFailure="step:Nowhere"),
     "step Upgrade: onFailure 'step:Nowhere' names no step"),
    ("onCancel to nowhere", U, lambda d: step(d, "WaitUpgrade").update(onCancel="step:Nowhere"),
     "step WaitUpgrade: onCancel 'step:Nowhere' names no step"),
    ("onFailure misspelt", U, lambda d: step(d, "Upgrade").update(onFailure="Rollback"),
     "step Upgrade: onFailure 'Rollback' must be Abort, Continue, or step:<name>"),
    ("branch NextStep to nowhere", U, lambda d: step(d, "CheckDryRun")["inputs"]["Choices"][0].update(NextStep="Nowhere"),
     "step CheckDryRun: NextStep 'Nowhere' is not a step"),
    ("branch Default to nowhere", U, lambda d: step(d, "CheckDryRun")["inputs"].update(Default="Nowhere"),
     "step CheckDryRun: Default 'Nowhere' is not a step"),
    ("unknown parameter", U, lambda d: step(d, "Upgrade")["inputs"].update(Runtime="{{ Target }}"),
     "step Upgrade: {{ Target }} is not a parameter or an automation variable"),
    ("output of a later step", U, lambda d: step(d, "PublishRollbackPoint")["inputs"].update(RevisionId="{{ ReadRevision.RevisionId }}"),
     "step PublishRollbackPoint: {{ ReadRevision.RevisionId }}: step ReadRevision has not succeeded on every path to here"),
    ("output of a step that failed on the way", U,
     lambda d: step(d, "TagManualAction")["inputs"]["Tags"].update({"x": "{{ ReadResult.Runtime }}"}),
     "step TagManualAction: {{ ReadResult.Runtime }}: step ReadResult has not succeeded on every path to here"),
    ("undeclared output", U, lambda d: step(d, "Upgrade")["inputs"].update(Runtime="{{ ReadFunction.Target }}"),
     "step Upgrade: {{ ReadFunction.Target }}: step ReadFunction declares no output Target"),
    ("document output undeclared", U, lambda d: d["outputs"].append("ReadResult.Nope"),
     "document output 'ReadResult.Nope' is not a declared step output"),
    ("unknown action", U, lambda d: step(d, "ReadSelf").update(action="aws:runCommand"),
     "step ReadSelf: action 'aws:runCommand' is not one of"),
    ("onFailure step without explicit isCritical", U, lambda d: step(d, "Rollback").pop("isCritical"),
     "step Rollback: onFailure step:TagManualAction needs an explicit isCritical"),
    ("unknown step property", U, lambda d: step(d, "Upgrade").update(onError="Abort"),
     "step Upgrade: unknown property 'onError'"),
    ("unknown branch operator", U,
     lambda d: step(d, "CheckDryRun")["inputs"]["Choices"][0].update({"BooleanEquals": None, "Matches": "true"}) or
     step(d, "CheckDryRun")["inputs"]["Choices"][0].pop("BooleanEquals"),
     "step CheckDryRun: branch operator 'Matches' is not one of Automation's"),
    ("choice compares two variables", U,
     lambda d: step(d, "CheckTargetAllowed")["inputs"]["Choices"][0].update(Contains="{{ ReadSuccessor.Successor }}"),
     "step CheckTargetAllowed: Contains compares with {{ ReadSuccessor.Successor }}; a choice's constant may reference only a parameter"),
    ("unknown service", U, lambda d: step(d, "Upgrade")["inputs"].update(Service="lambada"),
     "step Upgrade: Service 'lambada' is not a botocore service"),
    ("unknown api", U, lambda d: step(d, "Upgrade")["inputs"].update(Api="UpdateFunctionRuntime"),
     "step Upgrade: lambda has no Api 'UpdateFunctionRuntime'"),
    ("unknown api input", U, lambda d: step(d, "Upgrade")["inputs"].update(TargetRuntime="python3.12"),
     "step Upgrade: lambda.UpdateFunctionConfiguration has no input 'TargetRuntime'"),
    ("missing required input", U, lambda d: step(d, "ReadRuntimeManagement")["inputs"].pop("FunctionName"),
     "step ReadRuntimeManagement: lambda.GetRuntimeManagementConfig inputs are invalid"),
    ("literal of the wrong type", U, lambda d: step(d, "CheckCompliance")["inputs"].update(ComplianceTypes="NON_COMPLIANT"),
     "step CheckCompliance: config.GetComplianceDetailsByResource inputs are invalid"),
    ("wait without DesiredValues", U, lambda d: step(d, "WaitUpgrade")["inputs"].pop("DesiredValues"),
     "step WaitUpgrade: aws:waitForAwsResourceProperty needs DesiredValues"),
    ("dead loop", U, lambda d: step(d, "TagUpgraded").update(isEnd=False, nextStep="TagUpgraded"),
     "step TagUpgraded never reaches an end (a dead loop)"),
    ("unreachable step", U, lambda d: add_step(d, {"name": "Orphan", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}),
     "step Orphan is never reached"),
    ("IAM action not listed", U, lambda d: d.update(description=d["description"].replace("* `lambda:ListAliases`\n", "")),
     "IAM action lambda:ListAliases is used by a step but not listed in the description"),
    ("IAM action listed but unused", "TagAndNotify", lambda d: step(d, "Notify").update(action="aws:sleep", inputs={"Duration": "PT0S"}, outputs=[]) or d["outputs"].remove("Notify.MessageId"),
     "IAM action sns:Publish is listed in the description but no step uses it"),
    ("parameter type", U, lambda d: d["parameters"]["DryRun"].update(type="Bool"),
     "parameter DryRun: type 'Bool' is not one of"),
    ("parameter default of the wrong type", U, lambda d: d["parameters"]["DryRun"].update(default="yes"),
     "parameter DryRun: default 'yes' is not a Boolean"),
    ("default against its own pattern", "TagAndNotify", lambda d: d["parameters"]["Deadline"].update(default="soon"),
     "parameter Deadline: default 'soon' does not match allowedPattern"),
    ("no assumeRole", "SetRuntimeUpdateModeAuto", lambda d: d.pop("assumeRole"),
     "assumeRole must be '{{ AutomationAssumeRole }}'"),
    ("schema version", "TagAndNotify", lambda d: d.update(schemaVersion="2.2"), "schemaVersion must be '0.3'"),
    ("sleep duration", U, lambda d: step(d, "EndDryRun")["inputs"].update(Duration="5 seconds"),
     "step EndDryRun: Duration '5 seconds' is not an ISO 8601 duration"),
    # aws:executeScript
    ("retired script runtime", R, lambda d: script(d).update(Runtime="python3.8"),
     "step FindFunctions: Runtime 'python3.8' is not one of ['python3.11']"),
    ("unknown script input", R, lambda d: script(d).update(Timeout=30),
     "step FindFunctions: aws:executeScript has no input 'Timeout'"),
    ("handler not defined", R, lambda d: script(d).update(Handler="main"),
     "step FindFunctions: Handler 'main' is not defined in Script"),
    ("script does not compile", R, lambda d: script(d).update(Script=script(d)["Script"].replace("def pages", "def pages(")),
     "step FindFunctions: Script does not compile"),
    ("input payload placeholder", R, lambda d: script(d)["InputPayload"].update(Rule="{{ RuleName }}"),
     "step FindFunctions: {{ RuleName }} is not a parameter or an automation variable"),
    ("script output not from the payload", R, lambda d: step(d, "FindFunctions")["outputs"][0].update(Selector="$.rule"),
     "step FindFunctions: output RuleName must select from $.Payload"),
    ("script timeout over the maximum", R, lambda d: step(d, "FindFunctions").update(timeoutSeconds=900),
     "step FindFunctions: timeoutSeconds 900 is over aws:executeScript's 600"),
    ("script calls an unknown operation", R,
     lambda d: script(d).update(Script=script(d)["Script"].replace(".describe_config_rules,", ".describe_rules,")),
     "step FindFunctions: the script calls config.describe_rules, which is not a botocore operation"),
    ("script call not declared", R,
     lambda d: d.update(description=d["description"].replace("* `tag:GetResources`\n", "")),
     "IAM action tag:GetResources is used by a step but not listed in the description"),
    # aws:executeAutomation with targets
    ("targets without a target parameter", R, lambda d: child(d).pop("TargetParameterName"),
     "step RunUpgrades: Targets and TargetParameterName go together"),
    ("targets key", R, lambda d: child(d)["Targets"][0].update(Key="tag:team"),
     "step RunUpgrades: Targets Key must be ParameterValues"),
    ("two target mappings", R, lambda d: child(d)["Targets"].append({"Key": "ParameterValues", "Values": ["x"]}),
     "step RunUpgrades: Targets takes exactly one mapping"),
    ("target values from a String output", R, lambda d: child(d)["Targets"][0].update(Values="{{ FindFunctions.RuleName }}"),
     "step RunUpgrades: Targets Values {{ FindFunctions.RuleName }} must be a StringList"),
    ("target values unresolved", R, lambda d: child(d)["Targets"][0].update(Values="{{ FindFunctions.Names }}"),
     "step RunUpgrades: {{ FindFunctions.Names }}: step FindFunctions declares no output Names"),
    ("max errors format", R, lambda d: child(d).update(MaxErrors="ten"),
     "step RunUpgrades: MaxErrors 'ten' does not match"),
    ("max concurrency zero", R, lambda d: child(d).update(MaxConcurrency="0"),
     "step RunUpgrades: MaxConcurrency '0' does not match"),
    ("targets without max errors", R, lambda d: child(d).pop("MaxErrors"),
     "step RunUpgrades: with Targets, say MaxErrors"),
    ("target parameter not the child's", R, lambda d: child(d).update(TargetParameterName="Function"),
     "step RunUpgrades: TargetParameterName 'Function' is not a parameter of LambdaRuntimeGuard-UpgradeLambdaRuntime"),
    ("runtime parameter not the child's", R, lambda d: child(d)["RuntimeParameters"].update(TopicArn="{{ TopicArn }}"),
     "step RunUpgrades: RuntimeParameters TopicArn is not a parameter of LambdaRuntimeGuard-UpgradeLambdaRuntime"),
    ("child's required parameter missing", R, lambda d: child(d)["RuntimeParameters"].pop("ConfigRuleName"),
     "step RunUpgrades: the child LambdaRuntimeGuard-UpgradeLambdaRuntime needs ConfigRuleName"),
    ("target parameter set twice", R, lambda d: child(d)["RuntimeParameters"].update(FunctionName="x"),
     "step RunUpgrades: FunctionName is the TargetParameterName; RuntimeParameters must not set it too"),
    ("tag-and-notify child without its topic", R, lambda d: child(d, "RunTagAndNotify")["RuntimeParameters"].pop("TopicArn"),
     "step RunTagAndNotify: the child LambdaRuntimeGuard-TagAndNotify needs TopicArn"),
]


@pytest.mark.parametrize("what,runbook,change,expected", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutated_runbooks_fail_with_the_specific_problem(what, runbook, change, expected):
    problems = mutate(runbook, change)
    assert any(expected in p for p in problems), f"{what}: expected {expected!r} in {problems}"
