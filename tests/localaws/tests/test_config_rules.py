"""Config recording of Lambda functions, custom rule invocations through the Runtime API, and
PutEvaluations with AWS's contract."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, custom_rule, lambda_role, recording

RULE_LAMBDA = f"arn:aws:lambda:{REGION}:{ADMIN}:function:runtime-rule"


def evaluation(resource_id: str, compliance: str = "NON_COMPLIANT", when: dt.datetime | None = None,
               annotation: str = "python3.8 deprecated") -> dict:
    return {"ComplianceResourceType": "AWS::Lambda::Function", "ComplianceResourceId": resource_id,
            "ComplianceType": compliance, "Annotation": annotation,
            "OrderingTimestamp": when or dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)}


def setup_rule(aws, **kwargs) -> str:
    recording(aws)
    custom_rule(aws, "lambda-runtimes", RULE_LAMBDA, **kwargs)
    return aws.bind(RULE_LAMBDA)


def test_create_produces_a_change_notification_exactly_as_config_sends_it(aws):
    api = setup_rule(aws, parameters='{"failPhase":"deprecated"}')
    create_function(aws, "orders", "python3.8", tags={"team": "payments"})
    request_id, event = aws.next_invocation(api)
    assert set(event) >= {"version", "invokingEvent", "ruleParameters", "resultToken", "eventLeftScope",
                          "executionRoleArn", "configRuleArn", "configRuleName", "configRuleId", "accountId"}
    assert event["accountId"] == ADMIN and event["configRuleName"] == "lambda-runtimes"
    assert event["eventLeftScope"] is False
    assert json.loads(event["ruleParameters"]) == {"failPhase": "deprecated"}
    invoking = json.loads(event["invokingEvent"])  # a JSON string, parsed a second time
    assert invoking["messageType"] == "ConfigurationItemChangeNotification"
    item = invoking["configurationItem"]
    assert item["resourceType"] == "AWS::Lambda::Function" and item["resourceId"] == "orders"
    assert item["configurationItemStatus"] == "ResourceDiscovered"
    assert item["tags"] == {"team": "payments"}
    configuration = item["configuration"]
    assert configuration["runtime"] == "python3.8" and configuration["packageType"] == "Zip"
    assert configuration["lastModified"].endswith("+0000")  # Lambda's own format
    assert "environment" not in configuration
    assert aws.answer(api, request_id) == 202


def test_updates_tags_and_deletes_are_recorded_and_notified(aws):
    api = setup_rule(aws)
    client = aws.client("lambda")
    arn = create_function(aws, "orders")["FunctionArn"]
    client.update_function_configuration(FunctionName="orders", Runtime="python3.12")
    client.tag_resource(Resource=arn, Tags={"runtime-exempt-until": "2027-01-31"})
    client.delete_function(FunctionName="orders")
    statuses = []
    for _ in range(4):
        request_id, event = aws.next_invocation(api)
        item = json.loads(event["invokingEvent"])["configurationItem"]
        statuses.append((item["configurationItemStatus"], (item["configuration"] or {}).get("runtime"), item["tags"]))
        aws.answer(api, request_id)
    assert statuses == [
        ("ResourceDiscovered", "python3.8", {}),
        ("OK", "python3.12", {}),
        ("OK", "python3.12", {"runtime-exempt-until": "2027-01-31"}),
        ("ResourceDeleted", None, {}),
    ]
    config = aws.client("config")
    history = config.get_resource_config_history(resourceType="AWS::Lambda::Function", resourceId="orders")
    assert [i["configurationItemStatus"] for i in history["configurationItems"]] == [
        "ResourceDeleted", "OK", "OK", "ResourceDiscovered"]
    listed = config.list_discovered_resources(resourceType="AWS::Lambda::Function", includeDeletedResources=True)
    assert listed["resourceIdentifiers"][0]["resourceId"] == "orders"
    assert "resourceDeletionTime" in listed["resourceIdentifiers"][0]
    remaining = config.list_discovered_resources(resourceType="AWS::Lambda::Function")["resourceIdentifiers"]
    assert [r["resourceId"] for r in remaining] == ["runtime-rule"]  # the rule's own function


def test_nothing_is_recorded_without_a_running_recorder(aws):
    custom_rule(aws, "lambda-runtimes", RULE_LAMBDA)
    create_function(aws, "orders")
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("config").get_resource_config_history(resourceType="AWS::Lambda::Function", resourceId="orders")
    assert error.value.response["Error"]["Code"] == "ResourceNotDiscoveredException"
    assert aws.control("GET", f"/_localaws/runtime/invocations?FunctionArn={RULE_LAMBDA}")["Invocations"] == []


def test_oversized_items_send_a_summary_and_the_item_is_in_the_history(aws):
    api = setup_rule(aws)
    aws.control("POST", "/_localaws/config/settings", {"OversizedItemBytes": 100})
    create_function(aws, "big")
    _, event = aws.next_invocation(api)
    invoking = json.loads(event["invokingEvent"])
    assert invoking["messageType"] == "OversizedConfigurationItemChangeNotification"
    summary = invoking["configurationItemSummary"]
    assert summary["resourceId"] == "big" and summary["changeType"] == "CREATE" and "configuration" not in summary
    history = aws.client("config").get_resource_config_history(
        resourceType="AWS::Lambda::Function", resourceId="big", limit=1)["configurationItems"]
    assert json.loads(history[0]["configuration"])["functionName"] == "big"


def test_periodic_and_start_rules_evaluation_send_scheduled_notifications(aws):
    api = setup_rule(aws, periodic=True)
    assert aws.control("POST", "/_localaws/config/periodic", {})["Sent"] == 1
    _, event = aws.next_invocation(api)
    invoking = json.loads(event["invokingEvent"])
    assert invoking["messageType"] == "ScheduledNotification" and invoking["awsAccountId"] == ADMIN
    aws.client("config").start_config_rules_evaluation(ConfigRuleNames=["lambda-runtimes"])
    _, event = aws.next_invocation(api)
    assert json.loads(event["invokingEvent"])["messageType"] == "ScheduledNotification"
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("config").start_config_rules_evaluation(ConfigRuleNames=["nope"])
    assert error.value.response["Error"]["Code"] == "NoSuchConfigRuleException"


def test_put_evaluations_contract(aws):
    api = setup_rule(aws)
    create_function(aws, "orders")
    request_id, event = aws.next_invocation(api)
    token = event["resultToken"]
    config = aws.client("config", validate=False)

    def code_of(**kwargs) -> tuple[str, int, str]:
        with pytest.raises(botocore.exceptions.ClientError) as error:
            config.put_evaluations(**kwargs)
        response = error.value.response
        return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]

    too_many = [evaluation(f"fn-{i}") for i in range(101)]
    code, status, message = code_of(Evaluations=too_many, ResultToken=token)
    assert (code, status) == ("ValidationException", 400)
    assert "at 'evaluations' failed to satisfy constraint: Member must have length less than or equal to 100" in message
    assert code_of(Evaluations=[evaluation("orders", "INSUFFICIENT_DATA")], ResultToken=token)[0] == "InvalidParameterValueException"
    assert code_of(Evaluations=[evaluation("orders", annotation="x" * 257)], ResultToken=token)[0] == "ValidationException"
    assert code_of(Evaluations=[evaluation("orders", annotation="")], ResultToken=token)[0] == "ValidationException"
    assert code_of(Evaluations=[evaluation("orders", "MAYBE")], ResultToken=token)[0] == "ValidationException"
    assert code_of(Evaluations=[evaluation("orders")], ResultToken="not-a-token")[0] == "InvalidResultTokenException"
    # TESTMODE validates and stores nothing.
    assert config.put_evaluations(Evaluations=[evaluation("orders")], ResultToken="TESTMODE", TestMode=True)["FailedEvaluations"] == []
    assert config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes")["EvaluationResults"] == []
    # 100 is fine; the latest OrderingTimestamp wins, an older one is ignored.
    hundred = [evaluation(f"fn-{i}") for i in range(99)] + [evaluation("orders")]
    assert config.put_evaluations(Evaluations=hundred, ResultToken=token)["FailedEvaluations"] == []
    newer = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
    config.put_evaluations(Evaluations=[evaluation("orders", "COMPLIANT", newer, "fixed")], ResultToken=token)
    config.put_evaluations(Evaluations=[evaluation("orders", "NON_COMPLIANT", newer - dt.timedelta(days=5))], ResultToken=token)
    results = {r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"]: r
               for r in _all_results(config, "lambda-runtimes")}
    assert len(results) == 100
    assert results["orders"]["ComplianceType"] == "COMPLIANT" and results["orders"]["Annotation"] == "fixed"
    assert results["orders"]["EvaluationResultIdentifier"]["OrderingTimestamp"] == newer
    by_resource = config.get_compliance_details_by_resource(ResourceType="AWS::Lambda::Function", ResourceId="orders")
    assert by_resource["EvaluationResults"][0]["ComplianceType"] == "COMPLIANT"
    summary = config.describe_compliance_by_config_rule(ConfigRuleNames=["lambda-runtimes"])["ComplianceByConfigRules"][0]
    assert summary["Compliance"]["ComplianceType"] == "NON_COMPLIANT"
    assert summary["Compliance"]["ComplianceContributorCount"] == {"CappedCount": 99, "CapExceeded": False}
    config.delete_evaluation_results(ConfigRuleName="lambda-runtimes")
    assert config.get_compliance_details_by_config_rule(ConfigRuleName="lambda-runtimes")["EvaluationResults"] == []
    # A token is valid only in its own account.
    other = aws.client("config", "210987654321")
    code = None
    try:
        other.put_evaluations(Evaluations=[evaluation("orders")], ResultToken=token)
    except botocore.exceptions.ClientError as error:
        code = error.response["Error"]["Code"]
    assert code == "InvalidResultTokenException"


def _all_results(config, rule: str) -> list[dict]:
    paginator = config.get_paginator("get_compliance_details_by_config_rule")
    return [r for page in paginator.paginate(ConfigRuleName=rule, PaginationConfig={"PageSize": 30})
            for r in page["EvaluationResults"]]


def test_asynchronous_invocations_retry_errors_and_wait_for_late_runtimes(aws):
    recording(aws)
    custom_rule(aws, "lambda-runtimes", RULE_LAMBDA)
    create_function(aws, "early")  # queued before any runtime is bound: must not be lost
    api = aws.bind(RULE_LAMBDA)
    first_id, first = aws.next_invocation(api)
    assert json.loads(first["invokingEvent"])["configurationItem"]["resourceId"] == "early"
    assert aws.answer(api, first_id, "error", {"errorMessage": "boom", "errorType": "Oops"}) == 202
    retry_id, retry = aws.next_invocation(api)
    assert retry_id == first_id and retry["resultToken"] == first["resultToken"]
    aws.answer(api, retry_id, "error", {"errorMessage": "boom again"})
    last_id, _ = aws.next_invocation(api)
    aws.answer(api, last_id, "error", {"errorMessage": "third"})
    invocations = aws.control("GET", f"/_localaws/runtime/invocations?FunctionArn={RULE_LAMBDA}")["Invocations"]
    assert invocations[0]["Status"] == "failed" and len(invocations[0]["Attempts"]) == 3
    with pytest.raises(Exception):
        aws.answer(api, "no-such-request")


def test_invoke_goes_through_the_runtime_api(aws):
    role = lambda_role(aws)
    arn = create_function(aws, "worker", "provided.al2023", role=role)["FunctionArn"]
    api = aws.bind(arn)
    client = aws.client("lambda")
    assert client.invoke(FunctionName="worker", InvocationType="Event", Payload=b'{"a": 1}')["StatusCode"] == 202
    request_id, event = aws.next_invocation(api)
    assert event == {"a": 1}
    aws.answer(api, request_id, "response", {"ok": True})


def test_a_runtime_that_went_away_is_handed_nothing(aws):
    """A runtime killed while it waits on `invocation/next` leaves a closed connection: the next event stays queued
    for the runtime that takes its place (in Lambda a dead execution environment is never handed an event), instead
    of being lost to it until the function's timeout."""
    role = lambda_role(aws)
    arn = create_function(aws, "replaced", "provided.al2023", role=role)["FunctionArn"]
    api = aws.bind(arn, timeout=300)
    host, port = api.split(":")
    gone = socket.create_connection((host, int(port)))
    gone.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)  # the poll is waiting on the server
    gone.close()
    time.sleep(0.5)  # the server's wait notices the closed connection
    client = aws.client("lambda")
    assert client.invoke(FunctionName="replaced", InvocationType="Event", Payload=b'{"n": 1}')["StatusCode"] == 202
    started = time.monotonic()
    request_id, event = aws.next_invocation(api, timeout=5)
    assert event == {"n": 1} and time.monotonic() - started < 2
    aws.answer(api, request_id, "response", {"ok": True})
    invocations = aws.control("GET", f"/_localaws/runtime/invocations?FunctionArn={arn}")["Invocations"]
    assert [len(i["Attempts"]) for i in invocations] == [1]
