"""Published versions with their own runtimes, aliases (also as Config's AWS::Lambda::Alias items), layer versions
with CompatibleRuntimes and their cross-account permission, and the seed that builds all of them at once
(localaws/lambda_ext.py, localaws/config.py). What issue 12 reads.

https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html (a version is a frozen copy of $LATEST)
https://docs.aws.amazon.com/lambda/latest/api/API_ListVersionsByFunction.html
https://docs.aws.amazon.com/lambda/latest/api/API_GetFunctionConfiguration.html (Qualifier: a version or an alias)
https://docs.aws.amazon.com/lambda/latest/api/API_ListAliases.html (FunctionVersion, RoutingConfig)
https://docs.aws.amazon.com/lambda/latest/api/API_GetLayerVersion.html, API_GetLayerVersionByArn.html,
API_AddLayerVersionPermission.html, https://docs.aws.amazon.com/lambda/latest/dg/permissions-layer-cross-account.html
"""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from conftest import ADMIN, REGION, create_function, recording

OTHER = "222233334444"
THIRD = "555566667777"
VERSION_RUNTIMES = ["python3.8", "python3.9", "python3.10", "python3.11", "python3.12"]
LAYER_ZIP = {"ZipFile": b"PK\x05\x06" + b"\0" * 18}  # an empty zip


def error_of(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call(**kwargs)
    response = error.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def arn(name: str, account: str = ADMIN) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:{name}"


def select(config, expression: str) -> list[dict]:
    rows, token = [], None
    while True:
        page = config.select_resource_config(Expression=expression, **({"NextToken": token} if token else {}))
        rows += [json.loads(r) for r in page["Results"]]
        token = page.get("NextToken")
        if not token:
            return rows


def test_seeded_functions_versions_and_aliases_read_back_with_their_own_runtimes(aws):
    # Issue 12's acceptance set-up: 3 functions x 5 versions x 2 aliases, each version on its own runtime.
    recording(aws)
    seeded = aws.control("POST", "/_localaws/seed/lambda", {
        "Accounts": [ADMIN], "Region": REGION, "FunctionsPerAccount": 3, "Runtimes": ["python3.13"],
        "VersionsPerFunction": 5, "VersionRuntimes": VERSION_RUNTIMES, "AliasesPerFunction": 2})
    assert (seeded["Created"], seeded["Versions"], seeded["Aliases"]) == (3, 15, 6)
    lam = aws.client("lambda")
    for name in ("fn-0000", "fn-0001", "fn-0002"):
        pages = list(lam.get_paginator("list_versions_by_function").paginate(
            FunctionName=name, PaginationConfig={"PageSize": 2}))
        assert len(pages) == 3
        versions = [v for page in pages for v in page["Versions"]]
        # $LATEST first, then the published versions in ascending order, each with its own runtime and ARN.
        assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3", "4", "5"]
        assert [v["Runtime"] for v in versions] == ["python3.13", *VERSION_RUNTIMES]
        assert [v["FunctionArn"] for v in versions] == [arn(f"{name}:{v['Version']}") for v in versions]
        for number, runtime in enumerate(VERSION_RUNTIMES, 1):
            assert lam.get_function_configuration(FunctionName=name, Qualifier=str(number))["Runtime"] == runtime
        aliases = lam.list_aliases(FunctionName=name)["Aliases"]
        assert [(a["Name"], a["FunctionVersion"]) for a in aliases] == [("alias-0", "1"), ("alias-1", "2")]
        assert lam.get_function_configuration(FunctionName=name, Qualifier="alias-1")["Runtime"] == "python3.9"
        assert lam.get_function_configuration(FunctionName=f"{name}:alias-0")["Version"] == "1"
        assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "python3.13"
    # Config recorded the functions and every alias (AWS::Lambda::Alias), queryable by the advanced query.
    config = aws.client("config")
    rows = select(config, "SELECT accountId, awsRegion, resourceId, resourceName, arn, configuration.functionVersion, "
                          "configuration.name, configuration.aliasArn WHERE resourceType = 'AWS::Lambda::Alias'")
    assert len(rows) == 6
    assert {(r["resourceName"], r["configuration"]["functionVersion"]) for r in rows} == {("alias-0", "1"), ("alias-1", "2")}
    row = next(r for r in rows if r["resourceId"] == arn("fn-0002:alias-1"))
    assert row == {"accountId": ADMIN, "awsRegion": REGION, "resourceId": arn("fn-0002:alias-1"), "resourceName": "alias-1",
                   "arn": arn("fn-0002:alias-1"), "configuration": {"functionVersion": "2", "name": "alias-1",
                                                                     "aliasArn": arn("fn-0002:alias-1")}}
    functions = select(config, "SELECT resourceId WHERE resourceType = 'AWS::Lambda::Function'")
    assert sorted(r["resourceId"] for r in functions) == ["fn-0000", "fn-0001", "fn-0002"]


def test_a_published_version_keeps_the_configuration_it_was_published_with(aws):
    aws.control("POST", "/_localaws/lambda/settings", {"UpdatePolls": 0})
    lam = aws.client("lambda")
    old = lam.publish_layer_version(LayerName="deps", Content=LAYER_ZIP, CompatibleRuntimes=["python3.9"])
    new = lam.publish_layer_version(LayerName="deps", Content=LAYER_ZIP, CompatibleRuntimes=["python3.12", "python3.13"])
    create_function(aws, "orders", "python3.9", Layers=[old["LayerVersionArn"]], Architectures=["x86_64"])
    assert lam.publish_version(FunctionName="orders")["Version"] == "1"
    lam.update_function_configuration(FunctionName="orders", Runtime="python3.12", Layers=[new["LayerVersionArn"]])
    assert lam.publish_version(FunctionName="orders")["Version"] == "2"
    # A later update of $LATEST changes neither published version.
    lam.update_function_configuration(FunctionName="orders", Runtime="python3.13", Layers=[])
    expected = {"1": ("python3.9", [old["LayerVersionArn"]]), "2": ("python3.12", [new["LayerVersionArn"]]),
                "$LATEST": ("python3.13", [])}
    for version, (runtime, layers) in expected.items():
        configuration = lam.get_function_configuration(FunctionName="orders", Qualifier=version)
        assert configuration["Runtime"] == runtime, version
        assert [layer["Arn"] for layer in configuration.get("Layers", [])] == layers, version
        assert configuration["Architectures"] == ["x86_64"]
    listed = {v["Version"]: v for v in lam.list_versions_by_function(FunctionName="orders")["Versions"]}
    assert {k: (v["Runtime"], [layer["Arn"] for layer in v.get("Layers", [])]) for k, v in listed.items()} == expected
    assert listed["1"]["Layers"][0]["CodeSize"] == 22
    # Versions past 9 keep numeric order (not text order), still at most 50 a page whatever MaxItems says.
    for index in range(3, 13):
        lam.update_function_configuration(FunctionName="orders", Description=f"v{index}")
        lam.publish_version(FunctionName="orders")
    page = lam.list_versions_by_function(FunctionName="orders", MaxItems=500)
    assert [v["Version"] for v in page["Versions"]] == ["$LATEST", *[str(i) for i in range(1, 13)]]
    assert "NextMarker" not in page


def test_list_versions_pages_at_most_50_and_refuses_max_items_outside_the_model(aws):
    # "ListVersionsByFunction returns a maximum of 50 items in each response, even if you set the number higher"
    # (API_ListVersionsByFunction, MaxItems, valid range 1-10000): a MaxItems outside the range is the model's
    # ValidationException.
    aws.control("POST", "/_localaws/seed/lambda", {"Accounts": [ADMIN], "Region": REGION, "FunctionsPerAccount": 1,
                                                    "VersionsPerFunction": 60, "Runtimes": ["python3.12"]})
    lam = aws.client("lambda", validate=False)
    first = lam.list_versions_by_function(FunctionName="fn-0000", MaxItems=10000)
    assert len(first["Versions"]) == 50 and first["NextMarker"]
    rest = lam.list_versions_by_function(FunctionName="fn-0000", Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == [str(i) for i in range(50, 61)] and "NextMarker" not in rest
    for bad in (0, 10001):
        code, message, status = error_of(lam.list_versions_by_function, FunctionName="fn-0000", MaxItems=bad)
        assert (code, status) == ("ValidationException", 400) and "at 'maxItems' failed to satisfy constraint" in message
    code, _, _ = error_of(lam.list_versions_by_function, FunctionName="fn-0000", Marker="not-a-marker")
    assert code == "InvalidParameterValueException"


def test_an_alias_may_route_to_two_versions_and_unknown_qualifiers_are_not_found(aws):
    # API_CreateAlias / API_AliasRoutingConfiguration: the alias's FunctionVersion plus AdditionalVersionWeights.
    aws.control("POST", "/_localaws/seed/lambda", {"Accounts": [ADMIN], "Region": REGION, "FunctionsPerAccount": 1,
                                                    "Runtimes": ["python3.13"], "VersionsPerFunction": 2,
                                                    "VersionRuntimes": ["python3.9", "python3.12"],
                                                    "Aliases": [{"Name": "live", "FunctionVersion": "1",
                                                                 "AdditionalVersionWeights": {"2": 0.25}}]})
    lam = aws.client("lambda")
    [alias] = lam.list_aliases(FunctionName="fn-0000")["Aliases"]
    assert (alias["FunctionVersion"], alias["RoutingConfig"]) == ("1", {"AdditionalVersionWeights": {"2": 0.25}})
    assert lam.list_aliases(FunctionName="fn-0000", FunctionVersion="2")["Aliases"] == []
    # GetFunctionConfiguration with the alias returns the alias's (primary) version's configuration.
    assert lam.get_function_configuration(FunctionName="fn-0000", Qualifier="live")["Runtime"] == "python3.9"
    # An unknown version or alias: ResourceNotFoundException 404 naming the qualified ARN (API_GetFunctionConfiguration, Errors).
    for qualifier in ("9", "canary"):
        code, message, status = error_of(lam.get_function_configuration, FunctionName="fn-0000", Qualifier=qualifier)
        assert (code, status) == ("ResourceNotFoundException", 404) and message.endswith(f"fn-0000:{qualifier}")


def test_alias_changes_are_recorded_into_config(aws):
    aws.control("POST", "/_localaws/lambda/settings", {"UpdatePolls": 0})
    recording(aws)
    create_function(aws, "orders", "python3.9")
    lam = aws.client("lambda")
    lam.publish_version(FunctionName="orders")
    lam.update_function_configuration(FunctionName="orders", Runtime="python3.12")
    lam.publish_version(FunctionName="orders")
    lam.create_alias(FunctionName="orders", Name="live", FunctionVersion="1")
    lam.create_alias(FunctionName="orders", Name="beta", FunctionVersion="2")
    lam.update_alias(FunctionName="orders", Name="live", FunctionVersion="1", Description="blue/green",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    config = aws.client("config")
    query = ("SELECT resourceId, resourceName, configuration.functionVersion, configuration.description, "
             "configuration.routingConfig, relationships WHERE resourceType = 'AWS::Lambda::Alias'")
    rows = {r["resourceName"]: r for r in select(config, query)}
    assert sorted(rows) == ["beta", "live"]
    live = rows["live"]
    assert live["configuration"] == {"functionVersion": "1", "description": "blue/green",
                                     "routingConfig": {"additionalVersionWeights": {"2": 0.1}}}
    assert live["relationships"] == [{"resourceType": "AWS::Lambda::Function", "resourceName": "orders",
                                      "resourceId": "orders", "relationshipName": "Is associated with "}]
    lam.delete_alias(FunctionName="orders", Name="beta")
    assert [r["resourceName"] for r in select(config, query)] == ["live"]
    # Deleting the function deletes its aliases (and their items).
    lam.delete_function(FunctionName="orders")
    assert select(config, query) == []
    # The aggregator's advanced query reads them too.
    create_function(aws, "billing", "python3.11")
    lam.publish_version(FunctionName="billing")
    lam.create_alias(FunctionName="billing", Name="prod", FunctionVersion="1")
    config.put_configuration_aggregator(ConfigurationAggregatorName="acct", AccountAggregationSources=[
        {"AccountIds": [ADMIN], "AllAwsRegions": True}])
    page = config.select_aggregate_resource_config(
        ConfigurationAggregatorName="acct",
        Expression="SELECT accountId, resourceId, configuration.functionVersion WHERE resourceType = 'AWS::Lambda::Alias'")
    assert [json.loads(r) for r in page["Results"]] == [
        {"accountId": ADMIN, "resourceId": arn("billing:prod"), "configuration": {"functionVersion": "1"}}]


def test_layer_versions_carry_compatible_runtimes_and_functions_list_them(aws):
    lam = aws.client("lambda")
    published = lam.publish_layer_version(LayerName="deps", Content=LAYER_ZIP, Description="shared deps",
                                          CompatibleRuntimes=["python3.9", "python3.10"],
                                          CompatibleArchitectures=["x86_64", "arm64"])
    version_arn = published["LayerVersionArn"]
    assert version_arn == f"arn:aws:lambda:{REGION}:{ADMIN}:layer:deps:1"
    reads = [lam.get_layer_version(LayerName="deps", VersionNumber=1),
             lam.get_layer_version(LayerName=published["LayerArn"], VersionNumber=1),
             lam.get_layer_version_by_arn(Arn=version_arn)]
    for read in reads:
        assert read["CompatibleRuntimes"] == ["python3.9", "python3.10"]
        assert read["CompatibleArchitectures"] == ["x86_64", "arm64"]
        assert (read["LayerVersionArn"], read["Version"]) == (version_arn, 1)
    create_function(aws, "orders", "python3.9", Layers=[version_arn])
    layers = [{"Arn": version_arn, "CodeSize": 22}]
    assert lam.get_function_configuration(FunctionName="orders")["Layers"] == layers
    assert lam.list_functions()["Functions"][0]["Layers"] == layers
    # Not found in the caller's own account: ResourceNotFoundException.
    assert error_of(lam.get_layer_version_by_arn, Arn=version_arn[:-1] + "7")[:3:2] == ("ResourceNotFoundException", 404)
    assert error_of(lam.get_layer_version, LayerName="nope", VersionNumber=1)[0] == "ResourceNotFoundException"


def test_list_layer_versions_filters_by_compatible_runtime_and_pages(aws):
    # API_ListLayerVersions: newest first, CompatibleRuntime / CompatibleArchitecture filters, MaxItems 1-50.
    lam = aws.client("lambda")
    runtimes = [["python3.8"], ["python3.9", "python3.10"], ["python3.12"], ["python3.12", "python3.13"], []]
    for compatible in runtimes:
        lam.publish_layer_version(LayerName="deps", Content=LAYER_ZIP, CompatibleRuntimes=compatible,
                                  CompatibleArchitectures=["arm64"] if "python3.13" in compatible else ["x86_64"])
    listed = lam.list_layer_versions(LayerName="deps")["LayerVersions"]
    assert [v["Version"] for v in listed] == [5, 4, 3, 2, 1]
    assert listed[1]["CompatibleRuntimes"] == ["python3.12", "python3.13"] and "CompatibleRuntimes" not in listed[0]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="deps", CompatibleRuntime="python3.12")["LayerVersions"]] == [4, 3]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=f"arn:aws:lambda:{REGION}:{ADMIN}:layer:deps",
                                                          CompatibleRuntime="python3.12",
                                                          CompatibleArchitecture="arm64")["LayerVersions"]] == [4]
    first = lam.list_layer_versions(LayerName="deps", MaxItems=2)
    rest = lam.list_layer_versions(LayerName="deps", Marker=first["NextMarker"])
    assert [v["Version"] for v in first["LayerVersions"] + rest["LayerVersions"]] == [5, 4, 3, 2, 1]
    assert error_of(aws.client("lambda", validate=False).list_layer_versions, LayerName="deps", MaxItems=51)[0] == \
        "ValidationException"
    # Another account's layer: its policy can grant only lambda:GetLayerVersion, never the listing.
    owner = aws.client("lambda", OTHER)
    owner.publish_layer_version(LayerName="vendor", Content=LAYER_ZIP, CompatibleRuntimes=["python3.9"])
    owner.add_layer_version_permission(LayerName="vendor", VersionNumber=1, StatementId="all",
                                       Action="lambda:GetLayerVersion", Principal="*")
    assert error_of(lam.list_layer_versions, LayerName=f"arn:aws:lambda:{REGION}:{OTHER}:layer:vendor")[0] == \
        "AccessDeniedException"


def test_a_layer_version_of_another_account_needs_its_layer_version_policy(aws):
    owner = aws.client("lambda", OTHER)
    published = owner.publish_layer_version(LayerName="vendor", Content=LAYER_ZIP, CompatibleRuntimes=["python3.9"])
    version_arn = published["LayerVersionArn"]
    lam = aws.client("lambda")
    reads = {"GetLayerVersionByArn": lambda: lam.get_layer_version_by_arn(Arn=version_arn),
             "GetLayerVersion": lambda: lam.get_layer_version(LayerName=published["LayerArn"], VersionNumber=1)}
    for operation, read in reads.items():
        code, message, status = error_of(read)
        assert (code, status) == ("AccessDeniedException", 403), operation
        assert message.endswith(f"is not authorized to perform: lambda:GetLayerVersion on resource: {version_arn} "
                                "because no resource-based policy allows the lambda:GetLayerVersion action"), message
    # A function cannot use it either.
    code, _, _ = error_of(create_function, aws=aws, name="orders", runtime="python3.9", Layers=[version_arn])
    assert code == "AccessDeniedException"
    # A version that does not exist in the other account is access denied too (nothing can allow it).
    assert error_of(lam.get_layer_version_by_arn, Arn=version_arn[:-1] + "9")[0] == "AccessDeniedException"
    owner.add_layer_version_permission(LayerName="vendor", VersionNumber=1, StatementId="admin",
                                       Action="lambda:GetLayerVersion", Principal=ADMIN)
    assert all(read()["CompatibleRuntimes"] == ["python3.9"] for read in reads.values())
    assert create_function(aws, "orders", "python3.9", Layers=[version_arn])["Layers"] == [{"Arn": version_arn, "CodeSize": 22}]
    assert aws.client("lambda").get_function_configuration(FunctionName="orders")["Layers"][0]["Arn"] == version_arn
    # The grant names one account: a third account is still refused.
    third = aws.client("lambda", THIRD)
    assert error_of(third.get_layer_version_by_arn, Arn=version_arn)[0] == "AccessDeniedException"
    # Removing the permission takes the access away again.
    owner.remove_layer_version_permission(LayerName="vendor", VersionNumber=1, StatementId="admin")
    assert error_of(lam.get_layer_version_by_arn, Arn=version_arn)[0] == "AccessDeniedException"
    # `*` with an OrganizationId: the organization's accounts only.
    org = aws.client("organizations")
    org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    owner.add_layer_version_permission(LayerName="vendor", VersionNumber=1, StatementId="org",
                                       Action="lambda:GetLayerVersion", Principal="*", OrganizationId=org_id)
    assert lam.get_layer_version_by_arn(Arn=version_arn)["Version"] == 1
    assert error_of(third.get_layer_version_by_arn, Arn=version_arn)[0] == "AccessDeniedException"


def test_seeded_layers_attach_to_functions_and_their_versions(aws):
    seeded = aws.control("POST", "/_localaws/seed/lambda", {
        "Accounts": [ADMIN], "Region": REGION, "FunctionsPerAccount": 4, "Runtimes": ["python3.9", "image"],
        "VersionsPerFunction": 1, "VersionRuntimes": ["python3.9"],
        "Layers": [{"LayerName": "own", "CompatibleRuntimes": ["python3.9"]},
                   {"LayerName": "vendor", "Account": OTHER, "CompatibleRuntimes": ["python3.8", "python3.9"],
                    "CompatibleArchitectures": ["x86_64"], "EveryNth": 4}]})
    own, vendor = (f"arn:aws:lambda:{REGION}:{ADMIN}:layer:own:1", f"arn:aws:lambda:{REGION}:{OTHER}:layer:vendor:1")
    assert seeded["LayerVersions"] == [own, vendor]
    lam = aws.client("lambda")
    layers = {f["FunctionName"]: [layer["Arn"] for layer in f.get("Layers", [])] for f in lam.list_functions()["Functions"]}
    # Image functions have no layers; every 4th function (fn-0000) also has the vendor's layer.
    assert layers == {"fn-0000": [own, vendor], "fn-0001": [], "fn-0002": [own], "fn-0003": []}
    version = lam.get_function_configuration(FunctionName="fn-0000", Qualifier="1")
    assert [layer["Arn"] for layer in version["Layers"]] == [own, vendor]
    # The vendor's layer was shared with the seeded account, and lists its compatible runtimes.
    assert lam.get_layer_version_by_arn(Arn=vendor)["CompatibleRuntimes"] == ["python3.8", "python3.9"]
    assert error_of(aws.client("lambda", THIRD).get_layer_version_by_arn, Arn=vendor)[0] == "AccessDeniedException"


def test_faults_throttle_and_deny_the_new_reads(aws):
    aws.control("POST", "/_localaws/seed/lambda", {"Accounts": [ADMIN], "Region": REGION, "FunctionsPerAccount": 1,
                                                    "VersionsPerFunction": 1, "AliasesPerFunction": 1,
                                                    "Layers": [{"LayerName": "deps", "CompatibleRuntimes": ["python3.12"]}]})
    layer = f"arn:aws:lambda:{REGION}:{ADMIN}:layer:deps:1"
    lam = aws.client("lambda")
    reads = {"ListVersionsByFunction": lambda: lam.list_versions_by_function(FunctionName="fn-0000"),
             "ListAliases": lambda: lam.list_aliases(FunctionName="fn-0000"),
             "GetLayerVersion": lambda: lam.get_layer_version(LayerName="deps", VersionNumber=1),
             "GetLayerVersionByArn": lambda: lam.get_layer_version_by_arn(Arn=layer),
             "ListLayerVersions": lambda: lam.list_layer_versions(LayerName="deps"),
             "GetFunctionConfiguration": lambda: lam.get_function_configuration(FunctionName="fn-0000", Qualifier="1")}
    aws.control("POST", "/_localaws/faults", {"Rules": [{"Service": "lambda", "Operation": op, "Throttle": 1.0}
                                                        for op in reads]})
    for operation, read in reads.items():
        with pytest.raises(botocore.exceptions.ClientError) as error:
            read()
        response = error.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == \
            ("TooManyRequestsException", 429), operation
        assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]
    injected = aws.control("GET", "/_localaws/faults")["Injected"]
    assert all(injected[f"throttle:lambda:{op}"] == 1 for op in reads), injected
    aws.control("POST", "/_localaws/faults", {"DenyAccounts": [ADMIN]})
    for operation, read in reads.items():
        with pytest.raises(botocore.exceptions.ClientError) as error:
            read()
        assert (error.value.response["Error"]["Code"], error.value.response["ResponseMetadata"]["HTTPStatusCode"]) == \
            ("AccessDeniedException", 403), operation
    aws.control("POST", "/_localaws/faults", {})
    assert all(read() for read in reads.values())
