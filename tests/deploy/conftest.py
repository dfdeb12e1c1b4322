"""tests/deploy: the CDK app's synthesized templates, linted and deployed on the project's local AWS.

Synthesis: unless LRG_CDK_OUT names an existing cloud assembly, the session runs `npx cdk synth` (offline, stand-in
zips where `cargo xtask lambda` has not built the real ones) into cdk/cdk.out once (~20 s). Needs `npm ci` in cdk/.
The local AWS is tests/localaws started through localaws_with_cfn.py (adds the CloudFormation types moto lacks).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
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
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CDK = REPO / "cdk"


@pytest.fixture(scope="session")
def cdk_out() -> Path:
    given = os.environ.get("LRG_CDK_OUT")
    if given:
        out = Path(given)
        assert (out / "manifest.json").exists(), f"LRG_CDK_OUT={given} is not a cloud assembly"
        return out
    return synth(CDK / "cdk.out")


def synth(out: Path, extra: list[str] | None = None) -> Path:
    """`npx cdk synth` (offline, stand-in zips) into `out`, with extra CLI arguments (e.g. context)."""
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1", "CDK_DISABLE_CLI_TELEMETRY": "true"}
    started = time.monotonic()
    result = subprocess.run(["npx", "cdk", "synth", "--no-notices", "-q", "-c", "standInZips=true", *(extra or []),
                             "-o", str(out)], cwd=CDK, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"cdk synth {' '.join(extra or [])}: {time.monotonic() - started:.1f} s")
    return out


def templates(out: Path) -> list[Path]:
    """Every synthesized template, nested stage assemblies included."""
    return sorted(out.rglob("*.template.json"))


class Local:
    def __init__(self, url: str):
        self.url = url

    def client(self, service: str, account: str, region: str = "us-east-1"):
        config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, region_name=region,
                                        request_checksum_calculation="when_required")
        client = boto3.client(service, endpoint_url=self.url, config=config,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.meta.events.register("before-sign.*.*",
                                    lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
        return client

    def deploy(self, name: str, template: dict[str, Any] | str, account: str, region: str = "us-east-1",
               timeout: float = 30) -> dict[str, dict[str, Any]]:
        """CreateStack and wait; returns logical id → stack resource summary. Fails with the stack's reason."""
        cf = self.client("cloudformation", account, region)
        body = template if isinstance(template, str) else json.dumps(template)
        cf.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"])
        deadline = time.monotonic() + timeout
        while True:
            stack = cf.describe_stacks(StackName=name)["Stacks"][0]
            if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert stack["StackStatus"] == "CREATE_COMPLETE", f"{name}: {stack['StackStatus']} {stack.get('StackStatusReason')}"
        summaries = cf.list_stack_resources(StackName=name)["StackResourceSummaries"]
        return {r["LogicalResourceId"]: r for r in summaries}


    def control(self, method: str, path: str, payload: Any = None) -> Any:
        """The local AWS's control API (/_localaws/…)."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def start_recording(self, account: str, region: str = "us-east-1") -> None:
        """A running configuration recorder for all supported types, as Config needs before it records."""
        config = self.client("config", account, region)
        config.put_configuration_recorder(ConfigurationRecorder={
            "name": "default", "roleARN": f"arn:aws:iam::{account}:role/config-recorder",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": False}})
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-bucket"})
        config.start_configuration_recorder(ConfigurationRecorderName="default")

    def function_role(self, account: str, name: str) -> str:
        """A Lambda execution role (created once per name and account)."""
        iam = self.client("iam", account)
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                        "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]


def handler_zip() -> bytes:
    """A Python handler's deployment package (the local AWS stores code; it never runs it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 'ok'\n")
    return buffer.getvalue()


def member_template_of(out: Path) -> dict[str, Any]:
    """The member template: the TemplateBody the MemberStackSet stack embeds."""
    stackset = json.loads((out / "MemberStackSet.template.json").read_text())
    [resource] = [r for r in stackset["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"]
    return json.loads(resource["Properties"]["TemplateBody"])


def wait_for(predicate, what: str, seconds: float = 20, detail=lambda: ""):
    """Polls until `predicate` returns something truthy, and returns it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} ({seconds} s){detail()}")


@pytest.fixture(scope="session")
def local():
    process = subprocess.Popen([sys.executable, str(HERE / "localaws_with_cfn.py"), "--port", "0", "--exit-with-parent"],
                               cwd=REPO / "tests" / "localaws", stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("localaws ready "), line
    yield Local(line.split()[-1])
    process.terminate()
    process.wait(timeout=10)
