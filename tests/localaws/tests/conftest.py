"""One local AWS per test session on a free loopback port; every test starts from a reset state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

os.environ.update({
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
})
ROOT = Path(__file__).resolve().parents[1]
ADMIN = "123456789012"  # moto's default account: the organization's management account in these tests
REGION = "us-east-1"


class Local:
    def __init__(self, url: str):
        self.url = url

    def control(self, method: str, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def client(self, service: str, account: str | None = None, region: str = REGION, retries: int = 1,
               validate: bool = True, **keys: str):
        """A boto3 client; validate=False lets bad input reach the server, to test its own checks."""
        config = botocore.config.Config(retries={"total_max_attempts": retries, "mode": "standard"}, region_name=region,
                                        parameter_validation=validate)
        client = boto3.client(service, endpoint_url=self.url, config=config,
                              aws_access_key_id=keys.get("key", "testing"),
                              aws_secret_access_key=keys.get("secret", "testing"),
                              aws_session_token=keys.get("token"))
        if account:
            client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
        return client

    # -- Runtime API client, as a Lambda runtime would poll it

    def bind(self, arn: str, timeout: float = 30) -> str:
        return self.control("POST", "/_localaws/runtime/bind", {"FunctionArn": arn, "TimeoutSeconds": timeout})["RuntimeApi"]

    @staticmethod
    def next_invocation(api: str, timeout: float = 10) -> tuple[str, dict[str, Any]]:
        with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next", timeout=timeout) as response:
            return response.headers["Lambda-Runtime-Aws-Request-Id"], json.loads(response.read())

    @staticmethod
    def answer(api: str, request_id: str, outcome: str = "response", payload: Any = None) -> int:
        request = urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{request_id}/{outcome}",
                                         data=json.dumps(payload or {}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status


@pytest.fixture(scope="session")
def server():
    process = subprocess.Popen([sys.executable, "-m", "localaws", "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("localaws ready "), line
    yield Local(line.split()[-1])
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture()
def aws(server):
    server.control("POST", "/_localaws/reset")
    return server


def recording(aws: Local, account: str | None = None, region: str = REGION) -> None:
    """A running configuration recorder for all supported types, as Config needs before it records."""
    config = aws.client("config", account, region)
    config.put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": f"arn:aws:iam::{account or ADMIN}:role/config-recorder",
        "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": False}})
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-bucket"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")


def lambda_role(aws: Local, account: str | None = None) -> str:
    iam = aws.client("iam", account)
    return iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]


def rule_function(aws: Local, lambda_arn: str) -> None:
    """The rule's own Lambda, which Config checks exists when a rule names it."""
    parts = lambda_arn.split(":")
    account, name = parts[4], parts[6]
    client = aws.client("lambda", account, parts[3])
    try:
        client.get_function(FunctionName=name)
    except client.exceptions.ResourceNotFoundException:
        create_function(aws, name, "provided.al2023", account=account)


def custom_rule(aws: Local, name: str, lambda_arn: str, account: str | None = None, periodic: bool = False,
                parameters: str = "{}") -> None:
    rule_function(aws, lambda_arn)
    details = [{"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"},
               {"EventSource": "aws.config", "MessageType": "OversizedConfigurationItemChangeNotification"}]
    if periodic:
        details.append({"EventSource": "aws.config", "MessageType": "ScheduledNotification",
                        "MaximumExecutionFrequency": "TwentyFour_Hours"})
    aws.client("config", account).put_config_rule(ConfigRule={
        "ConfigRuleName": name, "Scope": {"ComplianceResourceTypes": ["AWS::Lambda::Function"]},
        "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": lambda_arn, "SourceDetails": details},
        "InputParameters": parameters})


ZIP = None


def zip_bytes() -> bytes:
    global ZIP
    if ZIP is None:
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("index.py", "def handler(event, context):\n    return event\n")
        ZIP = buffer.getvalue()
    return ZIP


def create_function(aws: Local, name: str, runtime: str = "python3.8", account: str | None = None,
                    role: str | None = None, tags: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    if role is None:
        iam = aws.client("iam", account)
        try:
            role = iam.get_role(RoleName="fn-role")["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            role = lambda_role(aws, account)
    return aws.client("lambda", account).create_function(
        FunctionName=name, Runtime=runtime, Role=role, Handler="index.handler", Code={"ZipFile": zip_bytes()},
        Tags=tags or {}, **extra)
