"""Config behaviours from issue 14, each as the API reference states it: PutOrganizationConfigRule refuses
InputParameters that are not JSON with a 400; GetComplianceDetailsByConfigRule pages 10 results by default and
at most 100, and refuses INSUFFICIENT_DATA as a filter; listings page by key in O(page) with a stable order."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import types
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, custom_rule, recording, rule_function

RULE_LAMBDA = f"arn:aws:lambda:{REGION}:{ADMIN}:function:runtime-rule"
T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)


def error_of(call, **params) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call(**params)
    response = refused.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def rule_with_results(aws, count: int, rule: str = "lambda-runtimes") -> tuple[object, str]:
    """A custom rule with `count` evaluation results (fn-000… NON_COMPLIANT, every third COMPLIANT)."""
    recording(aws)
    custom_rule(aws, rule, RULE_LAMBDA)
    create_function(aws, "seed", "python3.8")
    token = None
    deadline = time.monotonic() + 10
    while token is None and time.monotonic() < deadline:
        for invocation in aws.control("GET", f"/_localaws/runtime/invocations?FunctionArn={RULE_LAMBDA}")["Invocations"]:
            if invocation["Event"]["configRuleName"] == rule:
                token = invocation["Event"]["resultToken"]
        time.sleep(0.05)
    config = aws.client("config", validate=False)
    for start in range(0, count, 100):
        config.put_evaluations(ResultToken=token, Evaluations=[
            {"ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": f"fn-{i:03d}",
             "ComplianceType": "COMPLIANT" if i % 3 == 0 else "NON_COMPLIANT", "OrderingTimestamp": T0}
            for i in range(start, min(start + 100, count))])
    return config, token


def ids(page: dict) -> list[str]:
    return [r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for r in page["EvaluationResults"]]


def test_put_organization_config_rule_refuses_input_parameters_that_are_not_json(aws):
    """API_PutOrganizationConfigRule: InputParameters is "A string, in JSON format"; a parameter that is not
    valid is InvalidParameterValueException (400), which SDKs do not retry (a 500 would be retried)."""
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="m", Email="m@example.com")["CreateAccountStatus"]["AccountId"]
    rule_function(aws, RULE_LAMBDA)
    config = aws.client("config", retries=3)
    code, status, _ = error_of(config.put_organization_config_rule, OrganizationConfigRuleName="bad", OrganizationCustomRuleMetadata={
        "LambdaFunctionArn": RULE_LAMBDA, "OrganizationConfigRuleTriggerTypes": ["ScheduledNotification"],
        "InputParameters": "{not json"})
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert aws.control("GET", "/_localaws/stats")["Calls"]["config:PutOrganizationConfigRule"] == 1  # not retried
    assert config.describe_organization_config_rules()["OrganizationConfigRules"] == []
    assert aws.client("config", member).describe_config_rules()["ConfigRules"] == []


def test_compliance_details_page_10_by_default_and_at_most_100(aws):
    """API_GetComplianceDetailsByConfigRule, Limit: "The default is 10. You cannot specify a number greater
    than 100. If you specify 0, Config uses the default." """
    config, _ = rule_with_results(aws, 150)
    first = config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes")
    assert ids(first) == [f"fn-{i:03d}" for i in range(10)] and "NextToken" in first
    assert len(ids(config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes", Limit=0))) == 10
    most = config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes", Limit=100)
    assert len(ids(most)) == 100 and "NextToken" in most
    code, status, message = error_of(config.get_compliance_details_by_config_rule, ConfigRuleName="lambda-runtimes",
                                     Limit=101)
    assert (code, status) == ("ValidationException", 400)
    assert "Member must have value less than or equal to 100" in message


def test_insufficient_data_is_refused_as_a_filter(aws):
    """"INSUFFICIENT_DATA cannot be used as a ComplianceType for filtering results"
    (API_GetComplianceDetailsByConfigRule and API_GetComplianceDetailsByResource, ComplianceTypes)."""
    config, _ = rule_with_results(aws, 3)
    code, status, _ = error_of(config.get_compliance_details_by_config_rule, ConfigRuleName="lambda-runtimes",
                               ComplianceTypes=["NON_COMPLIANT", "INSUFFICIENT_DATA"])
    assert (code, status) == ("InvalidParameterValueException", 400)
    code, _, _ = error_of(config.get_compliance_details_by_resource, ResourceType="AWS::Lambda::Function",
                          ResourceId="fn-000", ComplianceTypes=["INSUFFICIENT_DATA"])
    assert code == "InvalidParameterValueException"
    for kind in ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"):  # the three the filter takes
        config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes", ComplianceTypes=[kind])


def test_pages_are_stable_when_results_arrive_between_pages(aws):
    config, token = rule_with_results(aws, 60)
    page = config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes", Limit=25)
    seen = ids(page)
    # New results sort before and after the cursor; a flip moves a result between compliance types.
    config.put_evaluations(ResultToken=token, Evaluations=[
        {"ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": resource,
         "ComplianceType": compliance, "OrderingTimestamp": T0 + dt.timedelta(hours=1)}
        for resource, compliance in (("fn-000a", "NON_COMPLIANT"), ("fn-999", "NON_COMPLIANT"), ("fn-040", "COMPLIANT"))])
    while "NextToken" in page:
        page = config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes", Limit=25,
                                                            NextToken=page["NextToken"])
        seen += ids(page)
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert seen == [f"fn-{i:03d}" for i in range(60)] + ["fn-999"]  # fn-000a sorts before the cursor
    only = config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes", ComplianceTypes=["COMPLIANT"],
                                                        Limit=100)
    assert ids(only) == sorted({f"fn-{i:03d}" for i in range(0, 60, 3)} | {"fn-040"})
    code, _, _ = error_of(config.get_compliance_details_by_config_rule, ConfigRuleName="lambda-runtimes",
                          NextToken="not-a-token")
    assert code == "InvalidNextTokenException"


def test_a_page_serializes_only_its_own_results(monkeypatch):
    """O(page), not O(N): a page of GetComplianceDetailsByConfigRule serializes the results it returns and no
    others (the old code sorted and serialized every result for every page). Counted in-process, on the
    emulator's own ConfigState: a property of the emulator, not of AWS, so no HTTP is needed to see it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from moto.config.models import config_backends

    from localaws import config as cfg

    state = cfg.ConfigState(deliver=lambda *_: None)
    account, region = "000000000042", REGION  # this process's own moto state, not the server's
    config_backends[account][region].config_rules["r"] = types.SimpleNamespace(
        config_rule_arn=f"arn:aws:config:{region}:{account}:config-rule/config-rule-r")
    state.tokens["t"] = cfg.Token(account, region, "r", cfg.now())
    total = 5000
    for start in range(0, total, 100):
        state.op_PutEvaluations(account, region, {"ResultToken": "t", "Evaluations": [
            {"ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": f"fn-{i:05d}",
             "ComplianceType": "COMPLIANT" if i % 2 else "NON_COMPLIANT", "OrderingTimestamp": T0.timestamp()}
            for i in range(start, start + 100)]})
    serialized: list[object] = []
    original = cfg.ConfigState._result
    monkeypatch.setattr(cfg.ConfigState, "_result",
                        staticmethod(lambda name, e: serialized.append(e) or original(name, e)))
    params: dict = {"ConfigRuleName": "r", "Limit": 10, "ComplianceTypes": ["NON_COMPLIANT"]}
    seen: list[str] = []
    for _ in range(3):
        page = state.op_GetComplianceDetailsByConfigRule(account, region, params)
        seen += [r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"] for r in page["EvaluationResults"]]
        params["NextToken"] = page["NextToken"]
    assert len(serialized) == 30
    assert seen == [f"fn-{i:05d}" for i in range(0, 60, 2)]
    summary = state.op_DescribeComplianceByConfigRule(account, region, {"ConfigRuleNames": ["r"]})
    assert summary["ComplianceByConfigRules"][0]["Compliance"]["ComplianceContributorCount"] == {
        "CappedCount": 100, "CapExceeded": True}  # counted, not recomputed over the 5,000 results
    config_backends[account][region].config_rules.pop("r")


def test_resource_history_and_discovered_resources_page_by_key(aws):
    recording(aws)
    create_function(aws, "fn-b", "python3.12")
    lam = aws.client("lambda")
    for i in range(4):
        lam.update_function_configuration(FunctionName="fn-b", Description=f"v{i}")
        while lam.get_function_configuration(FunctionName="fn-b").get("LastUpdateStatus") == "InProgress":
            pass  # Lambda refuses the next update while this one is in progress
    config = aws.client("config")

    def history(order: str) -> list[str]:
        out, token = [], None
        while True:
            page = config.get_resource_config_history(resourceType="AWS::Lambda::Function", resourceId="fn-b",
                                                      chronologicalOrder=order, limit=2, **({"nextToken": token} if token else {}))
            out += [i["configurationStateId"] for i in page["configurationItems"]]
            token = page.get("nextToken")
            if not token:
                return out

    forward, reverse = history("Forward"), history("Reverse")
    assert len(forward) == 5 and reverse == list(reversed(forward))
    for name in ("fn-d", "fn-a", "fn-c"):
        create_function(aws, name, "python3.12")
    first = config.list_discovered_resources(resourceType="AWS::Lambda::Function", limit=2)
    assert [r["resourceId"] for r in first["resourceIdentifiers"]] == ["fn-a", "fn-b"]
    create_function(aws, "fn-0", "python3.12")  # before the cursor: not on later pages
    lam.delete_function(FunctionName="fn-d")
    rest = config.list_discovered_resources(resourceType="AWS::Lambda::Function", limit=2, nextToken=first["nextToken"])
    assert [r["resourceId"] for r in rest["resourceIdentifiers"]] == ["fn-c"] and "nextToken" not in rest
    # A token of another listing is not a token of this one.
    code, _, _ = error_of(config.get_resource_config_history, resourceType="AWS::Lambda::Function", resourceId="fn-b",
                          nextToken=first["nextToken"])
    assert code == "InvalidNextTokenException"
    deleted = config.list_discovered_resources(resourceType="AWS::Lambda::Function", includeDeletedResources=True,
                                               resourceIds=["fn-d", "fn-a"])
    assert [(r["resourceId"], "resourceDeletionTime" in r) for r in deleted["resourceIdentifiers"]] == [
        ("fn-a", False), ("fn-d", True)]


def test_select_pages_come_from_one_run_of_the_query(aws):
    recording(aws)
    for i in range(5):
        create_function(aws, f"fn-{i}", "python3.12")
    config = aws.client("config")
    expression = "SELECT resourceId WHERE resourceType = 'AWS::Lambda::Function'"
    page = config.select_resource_config(Expression=expression, Limit=2)
    rows = [json.loads(r)["resourceId"] for r in page["Results"]]
    create_function(aws, "fn-9", "python3.12")  # after the query ran: not in its pages
    while "NextToken" in page:
        page = config.select_resource_config(Expression=expression, Limit=2, NextToken=page["NextToken"])
        rows += [json.loads(r)["resourceId"] for r in page["Results"]]
    assert rows == [f"fn-{i}" for i in range(5)]
    code, _, _ = error_of(config.select_resource_config, Expression=expression, NextToken="bogus")
    assert code == "InvalidNextTokenException"
