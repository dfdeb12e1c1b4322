"""Lambda reads resolve function names, ARNs and qualifiers as Lambda does (localaws/lambda_ext.py, `locate`):
a qualifier selects that version's configuration; an ARN of another Region is refused; an ARN of another account
is served only when the function's resource-based policy allows the caller the action.

https://docs.aws.amazon.com/lambda/latest/api/API_GetFunctionConfiguration.html (FunctionName, Qualifier)
https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-cross-account.html
"""

from __future__ import annotations

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, zip_bytes

OTHER = "222233334444"
PIN = "arn:aws:lambda:us-east-1::runtime:0b4f9c7e5e0a4bc1a2f7d2c7e6f4c8a1b8f3a5e9d2c4b6a8f0e1d3c5b7a9f2e4"


def arn(name: str, account: str = ADMIN, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def error_of(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call(**kwargs)
    response = error.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def versioned(aws, name: str = "orders", account: str | None = None) -> tuple[object, str]:
    """`name` published as version 1 on python3.9, $LATEST then moved to python3.12; alias `live` -> 1."""
    aws.control("POST", "/_localaws/lambda/settings", {"UpdatePolls": 0})
    create_function(aws, name, "python3.9", account=account)
    lam = aws.client("lambda", account)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(FunctionName=name, Runtime="python3.12")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return lam, version


def reads(lam, name: str) -> dict:
    """The six reads, each naming the function as `name`."""
    return {
        "GetFunction": lambda: lam.get_function(FunctionName=name),
        "GetFunctionConfiguration": lambda: lam.get_function_configuration(FunctionName=name),
        "ListTags": lambda: lam.list_tags(Resource=name),
        "GetRuntimeManagementConfig": lambda: lam.get_runtime_management_config(FunctionName=name),
        "ListVersionsByFunction": lambda: lam.list_versions_by_function(FunctionName=name),
        "ListAliases": lambda: lam.list_aliases(FunctionName=name),
    }


def test_a_qualified_name_or_arn_reads_that_versions_configuration(aws):
    lam, version = versioned(aws)
    assert version == "1"
    qualified = ["orders:1", arn("orders:1"), f"{ADMIN}:function:orders:1", "orders:live", arn("orders:live")]
    for name in qualified:
        for read in (lam.get_function_configuration, lambda **k: lam.get_function(**k)["Configuration"]):
            configuration = read(FunctionName=name)
            assert (configuration["Runtime"], configuration["Version"]) == ("python3.9", "1"), name
            if not name.endswith(":live"):
                assert configuration["FunctionArn"] == arn("orders:1"), name
    by_parameter = lam.get_function_configuration(FunctionName=arn("orders"), Qualifier="1")
    assert by_parameter["Runtime"] == "python3.9"
    for name in ("orders", arn("orders"), f"{ADMIN}:function:orders", "orders:$LATEST", arn("orders:$LATEST")):
        assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "python3.12", name
        assert lam.get_function(FunctionName=name)["Configuration"]["Runtime"] == "python3.12", name
    assert lam.get_function_configuration(FunctionName="orders", Qualifier="$LATEST")["Version"] == "$LATEST"
    # A version that does not exist is Lambda's ResourceNotFoundException naming the qualified ARN.
    code, message, status = error_of(lam.get_function_configuration, FunctionName=arn("orders:9"))
    assert (code, status) == ("ResourceNotFoundException", 404) and message.endswith(":function:orders:9")


def test_a_qualifier_in_the_name_and_a_different_qualifier_parameter_are_refused(aws):
    lam, _ = versioned(aws)
    for read in (lam.get_function, lam.get_function_configuration, lam.get_runtime_management_config):
        code, message, status = error_of(read, FunctionName="orders:1", Qualifier="2")
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert message == "The derived qualifier from the function name does not match the specified qualifier."
    assert lam.get_function_configuration(FunctionName="orders:1", Qualifier="1")["Version"] == "1"


def test_runtime_management_config_belongs_to_each_function_version(aws):
    # https://docs.aws.amazon.com/lambda/latest/api/API_GetRuntimeManagementConfig.html: the configuration is a
    # function version's; Qualifier is $LATEST or a published version number.
    # https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html: a version is a copy of $LATEST.
    aws.control("POST", "/_localaws/lambda/settings", {"UpdatePolls": 0})
    create_function(aws, "pinned", "python3.12")
    lam = aws.client("lambda")
    lam.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Manual", RuntimeVersionArn=PIN)
    lam.update_function_configuration(FunctionName="pinned", Description="v1")
    first = lam.publish_version(FunctionName="pinned")["Version"]
    lam.put_runtime_management_config(FunctionName="pinned", UpdateRuntimeOn="Auto")
    copied = lam.get_runtime_management_config(FunctionName="pinned", Qualifier=first)
    assert (copied["UpdateRuntimeOn"], copied["RuntimeVersionArn"]) == ("Manual", PIN)
    assert copied["FunctionArn"] == arn(f"pinned:{first}")
    assert lam.get_runtime_management_config(FunctionName=arn("pinned"))["UpdateRuntimeOn"] == "Auto"
    lam.put_runtime_management_config(FunctionName=f"pinned:{first}", UpdateRuntimeOn="FunctionUpdate")
    assert lam.get_runtime_management_config(FunctionName=arn(f"pinned:{first}"))["UpdateRuntimeOn"] == "FunctionUpdate"
    assert lam.get_runtime_management_config(FunctionName="pinned:$LATEST")["UpdateRuntimeOn"] == "Auto"
    lam.create_alias(FunctionName="pinned", Name="live", FunctionVersion=first)
    code, _, status = error_of(lam.get_runtime_management_config, FunctionName="pinned", Qualifier="live")
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, _, _ = error_of(lam.get_runtime_management_config, FunctionName="pinned", Qualifier="7")
    assert code == "ResourceNotFoundException"


def test_an_arn_of_another_region_is_refused(aws):
    # The same function name exists in both Regions: the eu-west-1 ARN still does not reach it from us-east-1.
    create_function(aws, "orders", "python3.12")
    west = aws.client("lambda", region="eu-west-1")
    iam_role = aws.client("iam").get_role(RoleName="fn-role")["Role"]["Arn"]
    west.create_function(FunctionName="orders", Runtime="python3.12", Role=iam_role, Handler="index.handler",
                         Code={"ZipFile": zip_bytes()})
    east = aws.client("lambda")
    for operation, read in reads(east, arn("orders", region="eu-west-1")).items():
        code, message, status = error_of(read)
        assert (code, status) == ("ResourceNotFoundException", 404), operation
        assert message == "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')", operation
    assert west.get_function(FunctionName=arn("orders", region="eu-west-1"))["Configuration"]["FunctionArn"] == \
        arn("orders", region="eu-west-1")


def test_an_arn_of_another_account_needs_its_resource_based_policy(aws):
    # Both accounts have a function named `shared`: the other account's ARN must not read the caller's.
    create_function(aws, "shared", "python3.9", tags={"owner": "admin"})
    create_function(aws, "shared", "python3.12", account=OTHER, tags={"owner": "other"})
    other = aws.client("lambda", OTHER)
    other.publish_version(FunctionName="shared")
    other.create_alias(FunctionName="shared", Name="live", FunctionVersion="1")
    lam = aws.client("lambda")
    target = arn("shared", account=OTHER)
    for operation, read in reads(lam, target).items():
        code, message, status = error_of(read)
        assert (code, status) == ("AccessDeniedException", 403), operation
        assert message.endswith(f"is not authorized to perform: lambda:{operation} on resource: {target} because no "
                                f"resource-based policy allows the lambda:{operation} action"), message
    # No function at all behind the ARN: still access denied (no policy can allow it), not not-found.
    code, _, status = error_of(lam.get_function, FunctionName=arn("missing", account=OTHER))
    assert (code, status) == ("AccessDeniedException", 403)
    # A statement for one action allows that action only.
    other.add_permission(FunctionName="shared", StatementId="read", Action="lambda:GetFunction", Principal=ADMIN)
    assert lam.get_function(FunctionName=target)["Configuration"]["Runtime"] == "python3.12"
    assert error_of(lam.get_function_configuration, FunctionName=target)[0] == "AccessDeniedException"
    # A policy applies to the function, version or alias it names: the unqualified grant does not reach version 1.
    assert error_of(lam.get_function, FunctionName=f"{target}:1")[0] == "AccessDeniedException"
    other.add_permission(FunctionName="shared", StatementId="all", Action="lambda:*", Principal=f"arn:aws:iam::{ADMIN}:root")
    assert lam.get_function_configuration(FunctionName=target)["FunctionArn"] == target
    assert lam.list_tags(Resource=target)["Tags"] == {"owner": "other"}
    assert lam.get_runtime_management_config(FunctionName=target)["FunctionArn"] == target
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=target)["Versions"]] == ["$LATEST", "1"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=target)["Aliases"]] == ["live"]
    # The caller's own function is untouched by all this.
    assert lam.get_function_configuration(FunctionName="shared")["Runtime"] == "python3.9"
    assert lam.list_tags(Resource=arn("shared"))["Tags"] == {"owner": "admin"}
    # A third account is not the principal the statements name.
    third = aws.client("lambda", "555566667777")
    assert error_of(third.get_function, FunctionName=target)[0] == "AccessDeniedException"


def test_list_versions_and_aliases_take_arns_page_and_filter(aws):
    # https://docs.aws.amazon.com/lambda/latest/api/API_ListVersionsByFunction.html (at most 50 a page, Marker)
    # https://docs.aws.amazon.com/lambda/latest/api/API_ListAliases.html (FunctionVersion, MaxItems)
    aws.control("POST", "/_localaws/lambda/settings", {"UpdatePolls": 0})
    create_function(aws, "orders", "python3.9")
    lam = aws.client("lambda")
    for index in range(3):
        lam.update_function_configuration(FunctionName="orders", Description=f"v{index}")
        lam.publish_version(FunctionName="orders")
    lam.create_alias(FunctionName="orders", Name="blue", FunctionVersion="1")
    lam.create_alias(FunctionName="orders", Name="green", FunctionVersion="3")
    first = lam.list_versions_by_function(FunctionName=arn("orders"), MaxItems=2)
    assert [v["Version"] for v in first["Versions"]] == ["$LATEST", "1"] and "NextMarker" in first
    assert first["Versions"][0]["FunctionArn"] == arn("orders:$LATEST")
    rest = lam.list_versions_by_function(FunctionName=arn("orders"), MaxItems=2, Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2", "3"] and "NextMarker" not in rest
    pages = lam.get_paginator("list_versions_by_function").paginate(FunctionName=f"{ADMIN}:function:orders")
    assert [v["Version"] for page in pages for v in page["Versions"]] == ["$LATEST", "1", "2", "3"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=arn("orders"))["Aliases"]] == ["blue", "green"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName="orders", FunctionVersion="3")["Aliases"]] == ["green"]
    assert lam.list_aliases(FunctionName="orders", FunctionVersion="2")["Aliases"] == []
    one = lam.list_aliases(FunctionName="orders", MaxItems=1)
    assert [a["Name"] for a in one["Aliases"]] == ["blue"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName="orders", Marker=one["NextMarker"])["Aliases"]] == ["green"]
    for read in (lam.list_versions_by_function, lam.list_aliases):
        code, message, status = error_of(read, FunctionName=arn("missing"))
        assert (code, status) == ("ResourceNotFoundException", 404) and message.endswith(":function:missing")
