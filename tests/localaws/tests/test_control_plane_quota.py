"""Lambda's control-plane request quota, opt-in through `POST /_localaws/faults {"LambdaControlPlaneQuota": {...}}`
(localaws/faults.py): per account and Region, GetFunction 100 requests per second, GetPolicy 15, and every other
control-plane API 15 per second together; invocations are not counted. Over it, TooManyRequestsException 429 with
Retry-After and Reason CallerRateLimitExceeded.

https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#api-requests
https://docs.aws.amazon.com/botocore/latest/reference/services/lambda/client/exceptions/TooManyRequestsException.html
"""

from __future__ import annotations

import time

import botocore.exceptions
import pytest

from conftest import create_function

OTHER = "222233334444"


def throttled(call, **kwargs) -> dict:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call(**kwargs)
    return error.value.response


def burst(calls: list, budget: float = 0.9) -> None:
    """Runs `calls` and checks they all fit in one window of the one-second quota."""
    started = time.monotonic()
    for call in calls:
        call()
    assert time.monotonic() - started < budget, "the machine is too slow for a one-second window"


def test_quota_is_off_unless_asked_for(aws):
    lam = aws.client("lambda")
    for _ in range(40):
        lam.list_functions()
    assert aws.control("GET", "/_localaws/faults")["LambdaControlPlaneQuota"] is None


def test_other_control_plane_apis_share_fifteen_requests_a_second(aws):
    create_function(aws, "orders", "python3.12")
    described = aws.control("POST", "/_localaws/faults", {"LambdaControlPlaneQuota": {}})
    assert described["LambdaControlPlaneQuota"] == {"RequestsPerSecond": 15, "GetFunctionRequestsPerSecond": 100,
                                                    "GetPolicyRequestsPerSecond": 15, "Accounts": []}
    lam = aws.client("lambda")
    mixed = [lambda: lam.list_functions(), lambda: lam.get_function_configuration(FunctionName="orders"),
             lambda: lam.list_tags(Resource="arn:aws:lambda:us-east-1:123456789012:function:orders"),
             lambda: lam.get_runtime_management_config(FunctionName="orders"),
             lambda: lam.list_aliases(FunctionName="orders")]
    burst([mixed[i % len(mixed)] for i in range(15)] + [lambda: lam.get_function(FunctionName="orders")])
    # The 16th control-plane request of the second, whichever API: over the shared budget.
    response = throttled(lam.list_versions_by_function, FunctionName="orders")
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["Reason"] == "CallerRateLimitExceeded"
    assert response["retryAfterSeconds"] == "1"  # the Retry-After header, as botocore models it
    assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    # GetFunction has a budget of its own, and invocations are not counted.
    assert lam.get_function(FunctionName="orders")["Configuration"]["FunctionName"] == "orders"
    assert lam.invoke(FunctionName="orders", InvocationType="DryRun")["StatusCode"] == 204
    # Per account and Region: another account, or the same account in another Region, has its own.
    aws.client("lambda", OTHER).list_functions()
    aws.client("lambda", region="eu-west-1").list_functions()
    time.sleep(1.05)
    assert lam.list_functions()["Functions"][0]["FunctionName"] == "orders"
    injected = aws.control("GET", "/_localaws/faults")["Injected"]
    assert injected["quota:lambda:ListVersionsByFunction"] == 1, injected
    stats = aws.control("GET", "/_localaws/stats")
    assert stats["Faults"]["quota:lambda:ListVersionsByFunction"] == 1
    assert stats["Calls"]["lambda:ListVersionsByFunction"] == 1


def test_get_function_and_get_policy_have_budgets_of_their_own(aws):
    create_function(aws, "orders", "python3.12")
    lam = aws.client("lambda")
    lam.add_permission(FunctionName="orders", StatementId="s", Action="lambda:GetFunction", Principal="111122223333")
    aws.control("POST", "/_localaws/faults", {"LambdaControlPlaneQuota": {
        "RequestsPerSecond": 2, "GetFunctionRequestsPerSecond": 4, "GetPolicyRequestsPerSecond": 3}})
    burst([lambda: lam.get_function(FunctionName="orders")] * 4 + [lambda: lam.get_policy(FunctionName="orders")] * 3
          + [lambda: lam.list_functions()] * 2)
    for call, kwargs in ((lam.get_function, {"FunctionName": "orders"}), (lam.get_policy, {"FunctionName": "orders"}),
                         (lam.list_functions, {})):
        assert throttled(call, **kwargs)["Error"]["Code"] == "TooManyRequestsException"
    injected = aws.control("GET", "/_localaws/faults")["Injected"]
    assert {k: v for k, v in injected.items() if k.startswith("quota:")} == {
        "quota:lambda:GetFunction": 1, "quota:lambda:GetPolicy": 1, "quota:lambda:ListFunctions": 1}


def test_quota_can_name_the_accounts_it_applies_to_and_is_reset(aws):
    aws.control("POST", "/_localaws/faults", {"LambdaControlPlaneQuota": {"RequestsPerSecond": 1, "Accounts": [OTHER]}})
    lam, other = aws.client("lambda"), aws.client("lambda", OTHER)
    burst([lambda: lam.list_functions()] * 5 + [lambda: other.list_functions()])
    assert throttled(other.list_functions)["Error"]["Code"] == "TooManyRequestsException"
    # An SDK's standard retries (backing off) get through.
    patient = aws.client("lambda", OTHER, retries=5)
    assert patient.list_functions()["Functions"] == []
    aws.control("POST", "/_localaws/reset")
    for _ in range(5):
        other.list_functions()


def test_a_bad_quota_spec_is_refused(aws):
    for spec in ({"RequestsPerSecnd": 15}, {"RequestsPerSecond": 0}, {"GetPolicyRequestsPerSecond": "15"}):
        with pytest.raises(Exception) as error:
            aws.control("POST", "/_localaws/faults", {"LambdaControlPlaneQuota": spec})
        assert "400" in str(error.value)
