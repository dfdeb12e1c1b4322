"""The reporting stack deployed on the local AWS in the admin account: the asset the CDK CLI would publish is put in
the bootstrap bucket first (as `cdk deploy` does), then CreateStack. Checks what the deployment really produced:
the bucket policy (TLS only), an object written where the aggregator writes, the Glue table equal to
cdk/contracts/dataset.json (through the Glue API), the named queries, the aggregator's environment."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from conftest import CDK, REPO, Local

ADMIN = "222222222222"  # cdk.json's adminAccountId
REGION = "us-east-1"


def context() -> dict:
    return json.loads((CDK / "cdk.json").read_text())["context"]


def contract(name: str) -> dict:
    real = CDK / "contracts" / name
    return json.loads((real if real.exists() else CDK / "test/fixtures/contracts-provisional" / name).read_text())


def publish_assets(local: Local, out: Path, stack: str) -> None:
    """What `cdk deploy` does before CreateStack: zip/upload the file assets to the bootstrap bucket, and the
    bootstrap version parameter the template's CheckBootstrapVersion rule reads."""
    s3 = local.client("s3", ADMIN, REGION)
    manifest = json.loads((out / f"{stack}.assets.json").read_text())
    for asset in manifest["files"].values():
        [destination] = asset["destinations"].values()
        bucket = destination["bucketName"].replace("${AWS::AccountId}", ADMIN).replace("${AWS::Region}", REGION)
        if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            s3.create_bucket(Bucket=bucket)
        source = out / asset["source"]["path"]
        if asset["source"].get("packaging") == "zip" and source.is_dir():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for file in sorted(source.rglob("*")):
                    archive.write(file, file.relative_to(source))
            body = buffer.getvalue()
        else:
            body = source.read_bytes()
        s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
    local.client("ssm", ADMIN, REGION).put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30",
                                                     Type="String", Overwrite=True)


@pytest.fixture(scope="module")
def reporting(local: Local, cdk_out: Path):
    publish_assets(local, cdk_out, "Reporting")
    return local.deploy("lrg-reporting", (cdk_out / "Reporting.template.json").read_text(), ADMIN, REGION)


def test_reports_bucket_is_tls_only_and_takes_a_snapshot_object(local, reporting):
    ctx = context()
    s3 = local.client("s3", ADMIN, REGION)
    bucket = ctx["reportsBucketName"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    deny_http = [s for s in policy["Statement"] if s["Effect"] == "Deny"
                 and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert deny_http and deny_http[0]["Action"] == "s3:*"
    assert any(s.get("Condition", {}).get("NumericLessThan", {}).get("s3:TlsVersion") == 1.2 for s in policy["Statement"])
    # The local endpoint is plain HTTP, so AWS would refuse this write (aws:SecureTransport=false), and so does the
    # deployed policy here (moto applies Deny statements for Principal * and ignores their conditions).
    layout = contract("dataset.json")["layout"]
    key = f"{ctx['reportsPrefix']}/{layout['prefix']}dt=2026-11-25/part-00000.parquet"
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Without the policy the same write lands where the aggregator writes (the bucket itself is usable).
    s3.delete_bucket_policy(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"PAR1"  # (HEAD on the local AWS reports length 0)


def test_glue_table_equals_the_dataset_contract(local, reporting):
    ctx = context()
    data = contract("dataset.json")
    glue = local.client("glue", ADMIN, REGION)
    database = ctx.get("prefix", "lambda-runtime-guard").replace("-", "_")
    table = glue.get_table(DatabaseName=database, Name=data["layout"]["prefix"].rstrip("/"))["Table"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(c["name"], c["athena_type"]) for c in data["columns"]]
    keys = [k if isinstance(k, str) else k["name"] for k in data["partition_keys"]]
    assert [k["Name"] for k in table["PartitionKeys"]] == keys
    root = f"s3://{ctx['reportsBucketName']}/{ctx['reportsPrefix']}/{data['layout']['prefix']}"
    assert table["StorageDescriptor"]["Location"] == root
    for name, value in data["table_properties"].items():
        assert table["Parameters"][name] == value.replace("{root}", root).replace("{first_day}", ctx["reportsFirstDay"]), name


def test_one_named_query_per_sql_file(local, reporting):
    athena = local.client("athena", ADMIN, REGION)
    ids = athena.list_named_queries(WorkGroup="lambda-runtime-guard")["NamedQueryIds"]
    queries = [athena.get_named_query(NamedQueryId=i)["NamedQuery"] for i in ids]
    files = sorted((REPO / "aggregator" / "queries").glob("*.sql"))
    assert sorted(q["Name"] for q in queries) == sorted(f"lambda-runtime-guard-{f.stem}" for f in files)
    for file in files:
        [query] = [q for q in queries if q["Name"] == f"lambda-runtime-guard-{file.stem}"]
        assert query["QueryString"] == file.read_text()


def test_aggregator_function_environment(local, reporting):
    ctx = context()
    lam = local.client("lambda", ADMIN, REGION)
    config = lam.get_function_configuration(FunctionName="lambda-runtime-guard-aggregator")
    assert config["Runtime"] == "provided.al2023"  # (moto's CloudFormation drops Architectures: checked in cdk/test)
    env = config["Environment"]["Variables"]
    contract_env = contract("environment.json")["aggregator"]
    assert {v["name"] for v in contract_env if v["required"]} <= set(env)
    assert set(env) <= {v["name"] for v in contract_env}
    assert json.loads(env[next(n for n in env if n.endswith("RULE_PARAMETERS"))]) == ctx["ruleParameters"]
