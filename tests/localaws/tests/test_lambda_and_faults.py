"""Lambda gaps (pagination, runtime management), fault injection, and fidelity of our responses to
botocore's output shapes."""

from __future__ import annotations

import json

import botocore.exceptions
import botocore.session
import pytest

from conftest import ADMIN, REGION, create_function, lambda_role, recording


def test_list_functions_pages_at_most_50(aws):
    aws.control("POST", "/_localaws/seed/lambda", {"Accounts": [ADMIN], "Region": REGION, "FunctionsPerAccount": 120,
                                                    "Runtimes": ["python3.8", "nodejs22.x", "image"]})
    client = aws.client("lambda")
    first = client.list_functions(MaxItems=500)
    assert len(first["Functions"]) == 50 and "NextMarker" in first
    names = [f["FunctionName"] for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
    assert len(names) == 120 and len(set(names)) == 120
    small = client.list_functions(MaxItems=7)
    assert len(small["Functions"]) == 7
    assert first["Functions"][0]["LastModified"].endswith("+0000")
    images = [f for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]
              if f.get("PackageType") == "Image"]
    assert len(images) == 40 and all("Runtime" not in f or f["Runtime"] is None for f in images)


def test_runtime_management_config(aws):
    create_function(aws, "pinned", "python3.12")
    client = aws.client("lambda")
    assert client.get_runtime_management_config(FunctionName="pinned")["UpdateRuntimeOn"] == "Auto"
    version = "arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4"
    put = client.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Manual", RuntimeVersionArn=version)
    assert put["UpdateRuntimeOn"] == "Manual" and put["FunctionArn"].endswith(":function:pinned")
    got = client.get_runtime_management_config(FunctionName="pinned")
    assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", version)
    client.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="FunctionUpdate")
    got = client.get_runtime_management_config(FunctionName="pinned")
    assert got["UpdateRuntimeOn"] == "FunctionUpdate" and "RuntimeVersionArn" not in got
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Manual")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_runtime_management_config(FunctionName="missing")


def test_throttling_is_spelled_as_each_service_spells_it(aws):
    aws.control("POST", "/_localaws/faults", {"Seed": 7, "Rules": [
        {"Service": "config", "Throttle": 1.0}, {"Service": "lambda", "Throttle": 1.0},
        {"Service": "organizations", "Throttle": 1.0}, {"Service": "s3", "Throttle": 1.0},
        {"Service": "sts", "Throttle": 1.0}]})
    calls = [
        (lambda: aws.client("config").describe_config_rules(), "ThrottlingException", 400),
        (lambda: aws.client("lambda").list_functions(), "TooManyRequestsException", 429),
        (lambda: aws.client("organizations").list_accounts(), "TooManyRequestsException", 400),
        (lambda: aws.client("s3").list_buckets(), "SlowDown", 503),
        (lambda: aws.client("sts").get_caller_identity(), "Throttling", 400),
    ]
    for call, code, status in calls:
        with pytest.raises(botocore.exceptions.ClientError) as error:
            call()
        response = error.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    injected = aws.control("GET", "/_localaws/faults")["Injected"]
    assert injected["throttle:config:DescribeConfigRules"] == 1, injected
    assert injected["throttle:lambda:ListFunctions"] == 1


def test_retries_get_through_partial_throttling(aws):
    aws.control("POST", "/_localaws/faults", {"Seed": 3, "Rules": [{"Service": "config", "Operation": "DescribeConfigRules",
                                                                     "Throttle": 0.5}]})
    client = aws.client("config", retries=10)
    for _ in range(10):
        client.describe_config_rules()
    assert aws.control("GET", "/_localaws/faults")["Injected"]["throttle:config:DescribeConfigRules"] > 0


def test_denied_account(aws):
    org = aws.client("organizations")
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="locked", Email="l@example.com")["CreateAccountStatus"]["AccountId"]
    aws.control("POST", "/_localaws/faults", {"DenyAccounts": [member]})
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("sts").assume_role(RoleArn=f"arn:aws:iam::{member}:role/Audit", RoleSessionName="audit")
    assert (error.value.response["Error"]["Code"], error.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("config", member).describe_config_rules()
    assert error.value.response["Error"]["Code"] == "AccessDeniedException"
    aws.client("config").describe_config_rules()  # other accounts are unaffected


def test_server_errors_and_failed_evaluations(aws):
    aws.control("POST", "/_localaws/faults", {"Rules": [{"Service": "lambda", "Operation": "ListFunctions", "ServerError": 1.0}]})
    with pytest.raises(botocore.exceptions.ClientError) as error:
        aws.client("lambda").list_functions()
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def _check_shape(shape, value, path, problems):
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object")
            return
        for key, item in value.items():
            if key not in shape.members:
                problems.append(f"{path}.{key}: not in the output shape")
            else:
                _check_shape(shape.members[key], item, f"{path}.{key}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
        else:
            for index, item in enumerate(value):
                _check_shape(shape.member, item, f"{path}[{index}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map")
    elif kind == "string" and not isinstance(value, str):
        problems.append(f"{path}: expected a string, got {type(value).__name__}")
    elif kind == "timestamp" and not isinstance(value, (int, float)):
        problems.append(f"{path}: expected epoch seconds, got {value!r}")
    elif kind in ("integer", "long") and (isinstance(value, bool) or not isinstance(value, int)):
        problems.append(f"{path}: expected an integer")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{path}: expected a boolean")


def test_responses_match_botocore_output_shapes(aws):
    """Every member we send exists in the operation's output shape, with the right JSON type."""
    recording(aws)
    create_function(aws, "orders", "python3.8", tags={"team": "a"})
    raw: dict[str, dict] = {}

    def keep(http_response, model, **_):
        if http_response.status_code == 200 and http_response.content:
            raw[model.name] = json.loads(http_response.content)

    config = aws.client("config")
    config.meta.events.register("after-call.*.*", keep)
    config.put_configuration_aggregator(ConfigurationAggregatorName="acct", AccountAggregationSources=[
        {"AccountIds": [ADMIN], "AllAwsRegions": True}])
    config.get_resource_config_history(resourceType="AWS::Lambda::Function", resourceId="orders")
    config.list_discovered_resources(resourceType="AWS::Lambda::Function")
    config.batch_get_resource_config(resourceKeys=[{"resourceType": "AWS::Lambda::Function", "resourceId": "orders"}])
    config.select_resource_config(Expression="SELECT resourceId, configuration.runtime, tags WHERE resourceType = 'AWS::Lambda::Function'")
    config.describe_aggregate_compliance_by_config_rules(ConfigurationAggregatorName="acct")
    config.get_aggregate_config_rule_compliance_summary(ConfigurationAggregatorName="acct", GroupByKey="AWS_REGION")
    config.list_aggregate_discovered_resources(ConfigurationAggregatorName="acct", ResourceType="AWS::Lambda::Function")
    lam = aws.client("lambda")
    lam.meta.events.register("after-call.*.*", keep)
    lam.list_functions()
    lam.get_runtime_management_config(FunctionName="orders")
    models = {"config": botocore.session.get_session().get_service_model("config"),
              "lambda": botocore.session.get_session().get_service_model("lambda")}
    problems: list[str] = []
    raw.pop("PutConfigurationAggregator")  # moto's own answer, not ours
    assert len(raw) == 9, sorted(raw)
    for operation, body in raw.items():
        service = "lambda" if operation in ("ListFunctions", "GetRuntimeManagementConfig") else "config"
        _check_shape(models[service].operation_model(operation).output_shape, body, operation, problems)
    assert problems == []
    _ = lambda_role  # imported for symmetry with other modules


def test_ssm_parameter_values_are_limited_as_in_aws(aws):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/small", Value="x" * 4096, Type="String")
    with pytest.raises(botocore.exceptions.ClientError) as error:
        ssm.put_parameter(Name="/large", Value="x" * 4097, Type="String")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    ssm.put_parameter(Name="/large", Value="x" * 8192, Type="String", Tier="Advanced")
    with pytest.raises(botocore.exceptions.ClientError):
        ssm.put_parameter(Name="/huge", Value="x" * 8193, Type="String", Tier="Advanced")
