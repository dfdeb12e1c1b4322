"""Lambda on top of moto: operation routing, function names and ARNs (account, region, qualifier) as Lambda
resolves them, cross-account access through the function's resource-based policy, ListFunctions /
ListVersionsByFunction / ListAliases paging, Get/PutRuntimeManagementConfig per function version, Invoke
through the Runtime API, and recording every create/update/tag/delete into Config."""

from __future__ import annotations

import base64
import binascii
import bisect
import fnmatch
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaFunction, lambda_backends

from .config import ConfigState
from .lambda_fidelity import LambdaFidelity
from .protocol import AwsError, service_model, validate_input
from .runtime_api import RuntimeApi

MUTATIONS = {"CreateFunction", "DeleteFunction", "UpdateFunctionConfiguration", "UpdateFunctionCode",
             "TagResource", "UntagResource"}
# Alias changes are recorded into Config as AWS::Lambda::Alias items.
ALIAS_MUTATIONS = {"CreateAlias", "UpdateAlias", "DeleteAlias"}
# Lambda returns at most 50 functions a page, whatever MaxItems asks for
# (https://docs.aws.amazon.com/lambda/latest/api/API_ListFunctions.html#lambda-ListFunctions-request-MaxItems);
# ListVersionsByFunction likewise ("returns a maximum of 50 items in each response, even if you set the number
# higher", https://docs.aws.amazon.com/lambda/latest/api/API_ListVersionsByFunction.html).
LIST_PAGE_MAX = 50
# URI labels renamed for the rest of the emulator: the function of an operation is `name`, the tagged resource
# `arn`; every other label keeps the model's name.
_LABELS = {"FunctionName": "name", "Resource": "arn"}


def _build_routes() -> list[tuple[str, re.Pattern[str], dict[str, str], str]]:
    """(method, path regex, required query, operation) for every operation of botocore's Lambda model, so that
    every request is named as AWS names it (the quota and the stats count by operation). An operation whose
    URI carries a fixed query (`/2018-10-31/layers?find=LayerVersion`) is tried before its sibling."""
    model = service_model("lambda")
    routes = []
    for operation in model.operation_names:
        http = model.operation_model(operation).http
        path, _, fixed = http["requestUri"].partition("?")
        regex, position = "^", 0
        for label in re.finditer(r"\{(\w+)(\+?)\}", path):
            regex += re.escape(path[position:label.start()])
            regex += f"(?P<{_LABELS.get(label[1], label[1])}>{'.+' if label[2] else '[^/]+'})"
            position = label.end()
        regex += re.escape(path[position:].rstrip("/")) + "/?$"
        required = dict(urllib.parse.parse_qsl(fixed, keep_blank_values=True))
        routes.append((http["method"], re.compile(regex), required, operation))
    routes.sort(key=lambda r: not r[2])
    return routes


ROUTES = _build_routes()
# Operations whose input has a `Qualifier` in the query string (GetFunction, GetFunctionConfiguration, ...).
QUALIFIED = {op for op in service_model("lambda").operation_names
             if (shape := service_model("lambda").operation_model(op).input_shape) is not None
             and shape.members.get("Qualifier") is not None
             and shape.members["Qualifier"].serialization.get("location") == "querystring"}


def route(method: str, path: str, query: dict[str, list[str]] | None = None) -> tuple[str, dict[str, str]]:
    for verb, pattern, required, operation in ROUTES:
        if verb != method:
            continue
        match = pattern.match(path)
        if match and all((query or {}).get(k, [None])[0] == v or (v == "" and k in (query or {}))
                         for k, v in required.items()):
            return operation, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
    return "Unknown", {}


def function_name(name_or_arn: str) -> str:
    """A function name from a name, a partial ARN or a full ARN (qualifier dropped)."""
    ref = parse_function_ref(name_or_arn)
    if ref is not None:
        return ref.name
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else name_or_arn
    return name_or_arn.split(":")[0]


# ------------------------------------------------------------------ function names and ARNs

# FunctionName as the API reference defines it: a name, a partial ARN (`123456789012:function:f`) or a full
# ARN, each with an optional `:qualifier` (a version, `$LATEST` or an alias), e.g.
# https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html#lambda-GetFunction-request-FunctionName
# (the pattern is botocore's copy of it).
_FUNCTION_REF = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?P<kind>function:)?"
    r"(?P<name>[a-zA-Z0-9-_.]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9-_]+))?$")


@dataclass
class FunctionRef:
    name: str
    qualifier: str | None
    account: str | None  # as written in the ARN (None: the caller's)
    region: str | None   # as written in the ARN (None: the endpoint's)


def parse_function_ref(value: str) -> FunctionRef | None:
    match = _FUNCTION_REF.match(value or "")
    if not match or (value.startswith("arn:") and not match["kind"]):
        return None
    return FunctionRef(match["name"], match["qualifier"], match["account"], match["region"])


# The IAM action each operation is authorized as, where it differs from the operation's name
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html).
IAM_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
               "ListVersionsByFunction": "ListVersionsByFunction", "GetLayerVersionByArn": "GetLayerVersion"}


# A layer or layer version ARN (https://docs.aws.amazon.com/lambda/latest/api/API_GetLayerVersionByArn.html#lambda-GetLayerVersionByArn-request-Arn).
_LAYER_ARN = re.compile(r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                        r"layer:(?P<name>[a-zA-Z0-9-_]+)(?::(?P<version>[0-9]+))?$")


def _layers_data(self: Any, layer_version_arns: list[str]) -> list[dict[str, Any]]:
    """moto looks a function's layers up in the function's own account whatever account the ARN names; Lambda
    uses the layer version the ARN names, in its account ("You can use layers from other accounts", with that
    layer version's permission: https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html). Permission is
    checked before moto (LambdaExtension.check_layers)."""
    from moto.awslambda.exceptions import UnknownLayerVersionException

    found = []
    for arn in layer_version_arns:
        match = _LAYER_ARN.match(arn)
        account = match["account"] if match else self.account_id
        version = lambda_backends[account][self.region].layers_versions_by_arn(arn)
        if version is None:
            raise UnknownLayerVersionException(layer_version_arns)
        found.append({"Arn": version.arn, "CodeSize": version.code_size})
    return found


LambdaFunction._get_layers_data = _layers_data


def iam_action(operation: str) -> str:
    return "lambda:" + IAM_ACTIONS.get(operation, operation)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, account: str, caller_arn: str) -> bool:
    """A policy principal naming the caller: `*`, its account (ID or root ARN), or its own ARN (for an assumed
    role, the role's ARN; https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html)."""
    if principal == "*":
        return True
    values = _as_list(principal.get("AWS", [])) if isinstance(principal, dict) else _as_list(principal)
    role = re.sub(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.*$", r"arn:\1:iam::\2:role/\3", caller_arn)
    return any(v in ("*", account, f"arn:aws:iam::{account}:root", caller_arn, role) for v in values)


def policy_allows(statements: list[dict[str, Any]], action: str, resource: str, account: str, caller_arn: str) -> bool:
    """IAM's evaluation of a resource-based policy for a principal of another account: an explicit Deny wins,
    then an Allow is needed (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
    Conditions are not evaluated: an Allow with a Condition does not count, a Deny with one does."""
    allowed = False
    for statement in statements:
        if not _principal_matches(statement.get("Principal"), account, caller_arn):
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(statement.get("Action", []))):
            continue
        if not any(fnmatch.fnmatchcase(resource, str(r)) for r in _as_list(statement.get("Resource", "*"))):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow" and not statement.get("Condition"):
            allowed = True
    return allowed


def caller_arn(account: str, access_key: str, region: str) -> str:
    """The caller's identity as STS would name it (moto tracks assumed-role and IAM-user keys)."""
    try:
        from moto.sts.models import sts_backends

        return sts_backends[account]["aws"].get_caller_identity(access_key or "AKIAEXAMPLE", region)[1]
    except Exception:
        return f"arn:aws:iam::{account}:root"


def encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode_marker(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise AwsError("InvalidParameterValueException", f"Invalid marker: {marker}")


def _max_items(query: dict[str, list[str]], default: int | None) -> int | None:
    raw = (query.get("MaxItems") or [None])[0]
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    # MaxItems is 1-10,000 in the API reference (e.g. https://docs.aws.amazon.com/lambda/latest/api/API_ListVersionsByFunction.html#lambda-ListVersionsByFunction-request-MaxItems);
    # a value outside it fails the model's constraint, which Lambda answers with ValidationException in the
    # model's words. Within it, a list operation still returns at most its page size (50).
    if not 1 <= value <= 10000:
        bound = "greater than or equal to 1" if value < 1 else "less than or equal to 10000"
        raise AwsError("ValidationException", f"1 validation error detected: Value '{raw}' at 'maxItems' failed to "
                       f"satisfy constraint: Member must have value {bound}")
    return value


def _lambda_shape(configuration: dict[str, Any]) -> dict[str, Any]:
    """Lambda leaves unset members out (moto sends them as null) and writes LastModified with `+0000`."""
    shaped = {k: v for k, v in configuration.items() if v is not None}
    if "LastModified" in shaped:
        shaped["LastModified"] = aws_last_modified(shaped["LastModified"])
    return shaped

def aws_last_modified(text: str) -> str:
    """moto writes 2026-11-23T21:30:00.123456000Z; Lambda writes 2026-11-23T21:30:00.123+0000."""
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?", text or "")
    if not match:
        return text
    millis = (match.group(2) or "000")[:3].ljust(3, "0")
    return f"{match.group(1)}.{millis}+0000"


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def config_item_configuration(configuration: dict[str, Any]) -> dict[str, Any]:
    """GetFunctionConfiguration's shape as Config records it: camelCase keys, enum wrappers, and no
    environment variables (they may hold secrets)."""
    raw = {k: v for k, v in configuration.items() if k not in ("Environment", "Tags") and v is not None}
    raw["LastModified"] = aws_last_modified(raw.get("LastModified", ""))
    item = _camel(raw)
    if "state" in item and isinstance(item["state"], str):
        item["state"] = {"value": item["state"]}
    item["layers"] = [{"arn": layer.get("arn") or layer.get("Arn"), "codeSize": layer.get("codeSize", 0)}
                      for layer in (configuration.get("Layers") or []) if isinstance(layer, dict)]
    return item


class LambdaExtension:
    def __init__(self, config: ConfigState, runtime: RuntimeApi):
        self.config = config
        self.runtime = runtime
        self.lock = threading.Lock()
        self.fidelity = LambdaFidelity(self.mode_of)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            # (account, region, name) for $LATEST, (account, region, "name:version") for a published version.
            self.runtime_management: dict[tuple[str, str, str], dict[str, str]] = {}
            self.name_index: dict[tuple[str, str], tuple[tuple[int, int], list[str]]] = {}
        self.fidelity.reset()

    def mode_of(self, account: str, region: str, name: str) -> str:
        with self.lock:
            return self.runtime_management.get((account, region, name), {"UpdateRuntimeOn": "Auto"})["UpdateRuntimeOn"]

    @staticmethod
    def _function(account: str, region: str, name_or_arn: str, qualifier: str | None = None) -> Any:
        backend = lambda_backends[account][region]
        ref = parse_function_ref(name_or_arn)
        name = ref.name if ref else function_name(name_or_arn)
        qualifier = qualifier or (ref.qualifier if ref else None)
        try:
            return backend.get_function(name, qualifier)
        except Exception:
            # A function, version or alias that does not exist: ResourceNotFoundException 404
            # (https://docs.aws.amazon.com/lambda/latest/api/API_GetFunctionConfiguration.html#API_GetFunctionConfiguration_Errors).
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}" + (f":{qualifier}" if qualifier else "")
            raise AwsError("ResourceNotFoundException", f"Function not found: {arn}", 404)

    # ------------------------------------------------------------ which function a request names

    def locate(self, operation: str, caller: str, region: str, access_key: str, path_params: dict[str, str],
               query: dict[str, list[str]]) -> tuple[str, FunctionRef | None]:
        """The account that owns the function (or tagged resource) a request names, and the parsed name.

        As Lambda resolves a FunctionName or resource ARN:
        - a qualifier in the name and a different `Qualifier` parameter are refused (InvalidParameterValueException,
          "The derived qualifier from the function name does not match the specified qualifier.");
        - an ARN of another Region is refused: a function is reachable only through its own Region's endpoint
          (ResourceNotFoundException 404, "Functions from 'R1' are not reachable in this region ('R2')", AWS's
          answer as quoted in https://github.com/aws/aws-cli/issues/3954; the 404 is the API reference's
          ResourceNotFoundException, e.g. https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html#API_GetFunction_Errors);
        - an ARN of another account is served from that account only when the function's resource-based policy
          allows the caller the operation's action ("You can grant cross-account access for most API actions
          that operate on an existing function", https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-cross-account.html;
          a policy applies to the function, version or alias it names,
          https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html); otherwise, or when
          there is no such function, AccessDeniedException 403 in IAM's words, "... is not authorized to perform:
          lambda:GetFunction on resource: ARN because no resource-based policy allows the lambda:GetFunction
          action" (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html)."""
        raw = path_params.get("name") if "name" in path_params else path_params.get("arn")
        if raw is None:
            return caller, None
        ref = parse_function_ref(raw)
        if ref is None:
            if "arn" in path_params and raw.startswith("arn:"):  # another resource type (event source mapping, ...)
                parts = raw.split(":")
                if len(parts) > 4 and parts[3] and parts[3] != region:
                    raise AwsError("ResourceNotFoundException",
                                   f"Functions from '{parts[3]}' are not reachable in this region ('{region}')", 404)
                if len(parts) > 4 and parts[4] and parts[4] != caller:
                    self._deny(operation, caller, access_key, region, raw)
            return caller, None
        given = (query.get("Qualifier") or [None])[0] if operation in QUALIFIED else None
        if given and ref.qualifier and given != ref.qualifier:
            raise AwsError("InvalidParameterValueException",
                           "The derived qualifier from the function name does not match the specified qualifier.")
        ref.qualifier = ref.qualifier or given
        if ref.region and ref.region != region:
            raise AwsError("ResourceNotFoundException",
                           f"Functions from '{ref.region}' are not reachable in this region ('{region}')", 404)
        if not ref.account or ref.account == caller:
            return caller, ref
        owner = ref.account
        resource = f"arn:aws:lambda:{region}:{owner}:function:{ref.name}"
        if ref.qualifier and ref.qualifier != "$LATEST":
            resource += f":{ref.qualifier}"
        who = caller_arn(caller, access_key, region)
        try:
            fn = lambda_backends[owner][region].get_function(ref.name, ref.qualifier)
            statements = list(fn.policy.statements)
        except Exception:
            statements = []
        if not policy_allows(statements, iam_action(operation), resource, caller, who):
            self._deny(operation, caller, access_key, region, resource, who)
        return owner, ref

    @staticmethod
    def _deny(operation: str, caller: str, access_key: str, region: str, resource: str, who: str | None = None) -> None:
        who = who or caller_arn(caller, access_key, region)
        action = iam_action(operation)
        raise AwsError("AccessDeniedException", f"User: {who} is not authorized to perform: {action} on resource: "
                       f"{resource} because no resource-based policy allows the {action} action", 403)

    # ------------------------------------------------------------ operations served here

    def handle(self, operation: str, account: str, region: str, path_params: dict[str, str],
               query: dict[str, list[str]], body: bytes, headers: dict[str, str], ref: FunctionRef | None = None) -> Any:
        """`account` owns the function (see locate); `ref` is the function the path names, qualifier resolved."""
        if operation == "ListFunctions":
            return self.list_functions(account, region, query)
        if operation == "ListVersionsByFunction":
            return self.list_versions(account, region, path_params["name"], query)
        if operation == "ListAliases":
            return self.list_aliases(account, region, path_params["name"], query)
        if operation == "GetRuntimeManagementConfig":
            fn, key = self._version_key(account, region, path_params["name"], ref)
            with self.lock:
                setting = dict(self.runtime_management.get(key, {"UpdateRuntimeOn": "Auto"}))
            result = {"UpdateRuntimeOn": setting["UpdateRuntimeOn"], "FunctionArn": fn.function_arn}
            if setting["UpdateRuntimeOn"] == "Manual":
                result["RuntimeVersionArn"] = setting["RuntimeVersionArn"]
            return result
        if operation == "PutRuntimeManagementConfig":
            params = json.loads(body or b"{}")
            params["FunctionName"] = path_params["name"]
            validate_input("lambda", "PutRuntimeManagementConfig", params)
            fn, key = self._version_key(account, region, path_params["name"], ref)
            if fn.package_type == "Image":
                raise AwsError("InvalidParameterValueException",
                               "Runtime management configuration is not supported for container image functions.")
            mode = params["UpdateRuntimeOn"]
            if mode == "Manual" and not params.get("RuntimeVersionArn"):
                raise AwsError("InvalidParameterValueException", "RuntimeVersionArn is required when UpdateRuntimeOn is Manual.")
            if mode != "Manual" and params.get("RuntimeVersionArn"):
                raise AwsError("InvalidParameterValueException", "RuntimeVersionArn can be set only when UpdateRuntimeOn is Manual.")
            setting = {"UpdateRuntimeOn": mode}
            if mode == "Manual":
                setting["RuntimeVersionArn"] = params["RuntimeVersionArn"]
            with self.lock:
                self.runtime_management[key] = setting
            return {**setting, "FunctionArn": fn.function_arn}
        if operation == "Invoke":
            return self.invoke(account, region, path_params["name"], body, headers)
        return NotImplemented

    # ------------------------------------------------------------ layers

    def layer_version(self, operation: str, caller: str, region: str, access_key: str, path_params: dict[str, str],
                      query: dict[str, list[str]]) -> dict[str, Any]:
        """GetLayerVersion (`LayerName` a name or a layer ARN, `VersionNumber`) and GetLayerVersionByArn (moto lacks
        it), with the layer version's CompatibleRuntimes and CompatibleArchitectures as published
        (https://docs.aws.amazon.com/lambda/latest/api/API_GetLayerVersion.html,
        https://docs.aws.amazon.com/lambda/latest/api/API_GetLayerVersionByArn.html)."""
        if operation == "GetLayerVersionByArn":
            match = _LAYER_ARN.match((query.get("Arn") or [""])[0])
            if not match or not match["version"]:
                raise AwsError("ValidationException", "1 validation error detected: Value at 'arn' failed to satisfy "
                               "constraint: Member must satisfy regular expression pattern: "
                               "arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+")
            owner, layer_region, name, number = match["account"], match["region"], match["name"], match["version"]
        else:
            raw = path_params.get("LayerName", "")
            match = _LAYER_ARN.match(raw)
            owner, layer_region, name = (match["account"], match["region"], match["name"]) if match else (caller, region, raw)
            number = path_params.get("VersionNumber", "")
        return self.readable_layer_version(caller, region, access_key, owner, layer_region, name, number, operation).get_layer_version()

    def list_layer_versions(self, caller: str, region: str, access_key: str, path_params: dict[str, str],
                            query: dict[str, list[str]]) -> dict[str, Any]:
        """ListLayerVersions (https://docs.aws.amazon.com/lambda/latest/api/API_ListLayerVersions.html): newest first;
        `CompatibleRuntime` / `CompatibleArchitecture` keep the versions that list that runtime / architecture;
        `MaxItems` 1-50 (outside it, the model's ValidationException), `Marker` -> `NextMarker`. moto ignores the
        filters and paging. Another account's layer: a layer version policy grants only lambda:GetLayerVersion
        (API_AddLayerVersionPermission, Action), so listing its versions is AccessDeniedException."""
        raw = path_params.get("LayerName", "")
        match = _LAYER_ARN.match(raw)
        owner, name = (match["account"], match["name"]) if match else (caller, raw)
        if match and match["region"] != region:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        if owner != caller:
            self._deny("ListLayerVersions", caller, access_key, region, f"arn:aws:lambda:{region}:{owner}:layer:{name}")
        raw_max = (query.get("MaxItems") or [None])[0]
        if raw_max is not None and not (raw_max.isdigit() and 1 <= int(raw_max) <= 50):
            raise AwsError("ValidationException", f"1 validation error detected: Value '{raw_max}' at 'maxItems' failed "
                           "to satisfy constraint: Member must have value between 1 and 50")
        limit = int(raw_max or 50)
        runtime = (query.get("CompatibleRuntime") or [None])[0]
        architecture = (query.get("CompatibleArchitecture") or [None])[0]
        versions = sorted(lambda_backends[owner][region].list_layer_versions(name), key=lambda v: v.version, reverse=True)
        versions = [v for v in versions if (not runtime or runtime in (v.compatible_runtimes or []))
                    and (not architecture or architecture in (v.compatible_architectures or []))]
        start = self._offset(query, len(versions))
        page = [{k: v for k, v in version.get_layer_version().items() if k not in ("Content", "LayerArn") and v not in (None, "")}
                for version in versions[start:start + limit]]
        end = start + len(page)
        return {"LayerVersions": page, **({"NextMarker": encode_marker(str(end))} if end < len(versions) else {})}

    def readable_layer_version(self, caller: str, region: str, access_key: str, owner: str, layer_region: str,
                               name: str, number: str, operation: str = "GetLayerVersion") -> Any:
        """The layer version, if the caller may read it. A layer version of another account is readable only when
        its layer version policy (AddLayerVersionPermission) allows the caller's account, or `*`, the
        `lambda:GetLayerVersion` action ("Layer permissions": https://docs.aws.amazon.com/lambda/latest/dg/permissions-layer-cross-account.html,
        https://docs.aws.amazon.com/lambda/latest/api/API_AddLayerVersionPermission.html); otherwise, or when there
        is no such version, AccessDeniedException 403 as for functions (see `locate`). A statement with an
        `OrganizationId` (a `aws:PrincipalOrgID` condition) allows the accounts of that organization. Layers are
        Regional: another Region's ARN is ResourceNotFoundException."""
        arn = f"arn:aws:lambda:{layer_region}:{owner}:layer:{name}:{number}"
        if layer_region != region:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        try:
            version = lambda_backends[owner][region].get_layer_version(name, number)
        except Exception:
            version = None
        if owner != caller:
            statements = [_org_condition_met(s, caller) for s in (version.policy.statements if version else [])]
            if not policy_allows([s for s in statements if s], "lambda:GetLayerVersion", arn, caller,
                                 caller_arn(caller, access_key, region)):
                self._deny(operation, caller, access_key, region, arn)
        if version is None:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        return version

    def check_layers(self, caller: str, owner: str, region: str, access_key: str, body: bytes) -> None:
        """CreateFunction / UpdateFunctionConfiguration naming layer versions of other accounts: each must be
        readable by the caller (https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html)."""
        try:
            layers = json.loads(body or b"{}").get("Layers") or []
        except ValueError:
            return
        for arn in layers:
            match = _LAYER_ARN.match(arn) if isinstance(arn, str) else None
            if match and match["version"] and match["account"] != owner:
                self.readable_layer_version(caller, region, access_key, match["account"], match["region"],
                                            match["name"], match["version"], "GetLayerVersion")

    def _version_key(self, account: str, region: str, name: str, ref: FunctionRef | None) -> tuple[Any, tuple[str, str, str]]:
        """The function version a runtime management request names and its settings key. The configuration is a
        function version's: `Qualifier` "can be $LATEST or a published version number. If no value is specified,
        the configuration for the $LATEST version is returned"
        (https://docs.aws.amazon.com/lambda/latest/api/API_GetRuntimeManagementConfig.html#lambda-GetRuntimeManagementConfig-request-Qualifier).
        An alias is not a version number: it is refused as a function that does not exist."""
        qualifier = ref.qualifier if ref else None
        fn = self._function(account, region, ref.name if ref else name)
        if qualifier in (None, "", "$LATEST"):
            return fn, (account, region, fn.function_name)
        version = next((v for v in lambda_backends[account][region]._lambdas._functions
                        .get(fn.function_name, {}).get("versions", []) if str(v.version) == qualifier), None)
        if version is None:
            raise AwsError("ResourceNotFoundException",
                           f"Function not found: arn:aws:lambda:{region}:{account}:function:{fn.function_name}:{qualifier}", 404)
        return version, (account, region, f"{fn.function_name}:{qualifier}")

    def after_publish(self, account: str, region: str, name: str, response_body: bytes) -> None:
        """A published version is "a copy of the unpublished version of the function"
        (https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html), runtime management
        configuration included; a version published before keeps its own."""
        version = json.loads(response_body or b"{}").get("Version")
        if not version or version == "$LATEST":
            return
        name = function_name(name)
        with self.lock:
            latest = self.runtime_management.get((account, region, name))
            if latest is not None:
                self.runtime_management.setdefault((account, region, f"{name}:{version}"), dict(latest))

    # ------------------------------------------------------------ listings

    def _sorted_names(self, account: str, region: str) -> list[str]:
        """The account's function names in order, re-sorted only when the set of names changed. The stamp is
        taken from the same snapshot the names come from (moto's dict, whatever created the function:
        the API, CloudFormation or the seed endpoint); hashing the names is O(N) but far cheaper than
        sorting and serializing them."""
        functions = lambda_backends[account][region]._lambdas._functions
        for _ in range(3):
            try:
                keys = tuple(functions)
                break
            except RuntimeError:  # a create or delete in another thread changed the dict under us
                continue
        else:
            keys = tuple(dict(functions))
        stamp = (len(keys), hash(keys))
        with self.lock:
            cached = self.name_index.get((account, region))
            if cached and cached[0] == stamp:
                return cached[1]
        names = sorted(keys)
        with self.lock:
            self.name_index[(account, region)] = (stamp, names)
        return names

    def list_functions(self, account: str, region: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """One page in O(page): a binary search from the marker (the last name of the previous page) into the
        cached sorted names, and only the page's configurations serialized."""
        limit = min(_max_items(query, LIST_PAGE_MAX) or LIST_PAGE_MAX, LIST_PAGE_MAX)
        names = self._sorted_names(account, region)
        marker = (query.get("Marker") or [None])[0]
        start = bisect.bisect_right(names, decode_marker(marker)) if marker else 0
        functions = lambda_backends[account][region]._lambdas._functions
        page, position = [], start
        while position < len(names) and len(page) < limit:
            group = functions.get(names[position])
            position += 1
            if group and group.get("latest") is not None:
                page.append(_lambda_shape(group["latest"].get_configuration()))
        result: dict[str, Any] = {"Functions": page}
        if position < len(names):
            result["NextMarker"] = encode_marker(names[position - 1])
        return result

    def list_versions(self, account: str, region: str, name: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/lambda/latest/api/API_ListVersionsByFunction.html: $LATEST and every published
        version with its own configuration (a version is the copy of $LATEST made at PublishVersion,
        https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html), $LATEST first then the versions
        in ascending order, at most 50 a page."""
        fn = self._function(account, region, function_name(name))
        backend = lambda_backends[account][region]
        versions = list(backend.list_versions_by_function(fn.function_name))
        limit = min(_max_items(query, LIST_PAGE_MAX) or LIST_PAGE_MAX, LIST_PAGE_MAX)
        start = self._offset(query, len(versions))
        page = []
        for version in versions[start:start + limit]:
            configuration = _lambda_shape(version.get_configuration())
            if configuration.get("FunctionArn", "").endswith(":$LATEST"):
                configuration["Version"] = "$LATEST"
            qualifier = configuration.get("Version")
            configuration["RevisionId"] = self.fidelity.revision_of(
                account, region, fn.function_name if qualifier == "$LATEST" else f"{fn.function_name}:{qualifier}")
            page.append(configuration)
        end = start + len(page)
        return {"Versions": page, **({"NextMarker": encode_marker(str(end))} if end < len(versions) else {})}

    def list_aliases(self, account: str, region: str, name: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/lambda/latest/api/API_ListAliases.html: `FunctionVersion` keeps the aliases
        that point at that version; `MaxItems` limits the page. Each alias as API_AliasConfiguration: `AliasArn`,
        `Name`, `FunctionVersion`, `Description`, `RevisionId` and, when it routes to a second version,
        `RoutingConfig.AdditionalVersionWeights` (https://docs.aws.amazon.com/lambda/latest/api/API_AliasRoutingConfiguration.html)."""
        fn = self._function(account, region, function_name(name))
        aliases = [a.to_json() for a in lambda_backends[account][region].list_aliases(fn.function_name)]
        version = (query.get("FunctionVersion") or [None])[0]
        if version:
            aliases = [a for a in aliases if a.get("FunctionVersion") == version]
        limit = _max_items(query, None) or len(aliases) or 1
        start = self._offset(query, len(aliases))
        page = [{k: v for k, v in a.items() if v is not None} for a in aliases[start:start + limit]]
        end = start + len(page)
        return {"Aliases": page, **({"NextMarker": encode_marker(str(end))} if end < len(aliases) else {})}

    @staticmethod
    def _offset(query: dict[str, list[str]], total: int) -> int:
        marker = (query.get("Marker") or [None])[0]
        if not marker:
            return 0
        text = decode_marker(marker)
        if not text.isdigit() or int(text) > total:
            raise AwsError("InvalidParameterValueException", f"Invalid marker: {marker}")
        return int(text)

    def invoke(self, account: str, region: str, name: str, body: bytes, headers: dict[str, str]) -> Any:
        fn = self._function(account, region, name)
        kind = headers.get("x-amz-invocation-type", "RequestResponse")
        event = json.loads(body) if body else {}
        if kind == "DryRun":
            return (204, b"", {})
        if kind == "Event":
            self.runtime.enqueue(fn.function_arn, event)
            return (202, b"", {})
        invocation = self.runtime.enqueue(fn.function_arn, event, synchronous=True)
        if not invocation.done.wait(timeout=float(fn.timeout or 3) + 30):
            raise AwsError("ServiceException", "no runtime answered the invocation", 500, sender=False)
        if invocation.status == "succeeded":
            return (200, json.dumps(invocation.response).encode(), {"X-Amz-Executed-Version": "$LATEST"})
        return (200, json.dumps(invocation.error).encode(),
                {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"})

    def after_mutation(self, operation: str, account: str, region: str, path_params: dict[str, str],
                       request_body: bytes, response_body: bytes) -> None:
        """Records the function (or alias) as it now is, or its deletion, into Config."""
        if operation in ALIAS_MUTATIONS:
            alias = path_params.get("Name") or json.loads(request_body or b"{}").get("Name")
            if alias:
                self.record_alias(account, region, function_name(path_params.get("name", "")), alias)
            return
        if operation == "CreateFunction":
            name = json.loads(response_body or b"{}").get("FunctionName") or json.loads(request_body or b"{}").get("FunctionName")
        elif operation in ("TagResource", "UntagResource"):
            name = function_name(path_params.get("arn", ""))
        else:
            name = function_name(path_params.get("name", ""))
        if not name:
            return
        self.record(account, region, name)

    def record(self, account: str, region: str, name: str) -> None:
        backend = lambda_backends[account][region]
        try:
            fn = backend.get_function(name)
        except Exception:
            with self.lock:
                for key in [k for k in self.runtime_management if k[:2] == (account, region)
                            and k[2].split(":")[0] == name]:
                    self.runtime_management.pop(key, None)
            self.fidelity.forget(account, region, name)
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            self.config.record_lambda(account, region, name, None, {}, arn)
            self.config.forget_aliases(account, region, name)
            return
        self.config.record_lambda(account, region, name, config_item_configuration(fn.get_configuration()),
                                  dict(fn.tags or {}), fn.function_arn)


    def record_alias(self, account: str, region: str, function: str, alias: str) -> None:
        """An alias's configuration item: GetAlias's answer in camelCase (aliasArn, description, functionVersion,
        name, routingConfig.additionalVersionWeights, revisionId), or its deletion."""
        arn = f"arn:aws:lambda:{region}:{account}:function:{function}:{alias}"
        try:
            found = lambda_backends[account][region].get_alias(alias, function)
        except Exception:
            self.config.record_alias(account, region, function, alias, None, arn)
            return
        configuration = _camel({k: v for k, v in found.to_json().items() if v is not None})
        self.config.record_alias(account, region, function, alias, configuration, arn)


def _org_condition_met(statement: dict[str, Any], caller: str) -> dict[str, Any] | None:
    """A layer permission given with `OrganizationId` carries the condition aws:PrincipalOrgID = that id: the
    statement without it when the caller's account belongs to that organization, None when it does not; other
    statements unchanged."""
    condition = statement.get("Condition")
    org_id = (condition or {}).get("StringEquals", {}).get("aws:PrincipalOrgID") if isinstance(condition, dict) else None
    if statement.get("OrganizationId"):  # moto keeps AddLayerVersionPermission's OrganizationId as given
        org_id, condition = statement["OrganizationId"], {"StringEquals": {"aws:PrincipalOrgID": statement["OrganizationId"]}}
    if not org_id or len(condition) != 1 or len(condition["StringEquals"]) != 1:
        return statement
    try:
        from moto.organizations.models import organizations_backends

        management, partition = organizations_backends.master_accounts.get(caller, (caller, "aws"))
        org = organizations_backends[management][partition].org
        member = org is not None and org.id == org_id
    except Exception:
        member = False
    return {k: v for k, v in statement.items() if k not in ("Condition", "OrganizationId")} if member else None


def zip_of(text: str) -> str:
    """A base64 zip with one file, for seeding functions without a client."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", text)
    return base64.b64encode(buffer.getvalue()).decode()


def seed_functions(extension: LambdaExtension, accounts: list[str], region: str, per_account: int,
                   runtimes: list[str], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Creates `per_account` functions `fn-0000`, `fn-0001`, ... in each account directly in moto's backend (fast
    bulk set-up for tests and the demo), recording each function and alias into Config like the API would.

    `spec` (the rest of the seed request, every key optional):
    - `Layers`: [{"LayerName", "CompatibleRuntimes"?, "CompatibleArchitectures"?, "Account"?, "EveryNth"?}]: a
      layer version published in each seeded account (or once, in `Account`, shared with every seeded account
      through AddLayerVersionPermission) and attached to every `EveryNth`-th function (default 1: all) when it is
      created, so published versions carry it too.
    - `VersionsPerFunction` V: V versions published per function, version i (1-based) on
      `VersionRuntimes`[(i-1) mod len] (default `Runtimes`); `$LATEST` then goes back to the function's own runtime.
      Image functions publish versions without a runtime.
    - `AliasesPerFunction` A: aliases `alias-0` ... `alias-(A-1)`, alias j pointing at version (j mod V) + 1; or
      `Aliases`: [{"Name", "FunctionVersion", "AdditionalVersionWeights"?}] given for every function."""
    from moto.iam.models import iam_backends

    spec = spec or {}
    code = zip_of("def handler(event, context):\n    return event\n")
    versions = int(spec.get("VersionsPerFunction") or 0)
    version_runtimes = spec.get("VersionRuntimes") or runtimes or ["python3.12"]
    aliases = list(spec.get("Aliases") or [])
    for j in range(int(spec.get("AliasesPerFunction") or 0)):
        if not versions:
            raise AwsError("InvalidParameterValueException", "AliasesPerFunction needs VersionsPerFunction")
        aliases.append({"Name": f"alias-{j}", "FunctionVersion": str(j % versions + 1)})
    layer_zip = base64.b64decode(zip_of("# layer\n"))
    layers: dict[str, list[tuple[str, int]]] = {account: [] for account in accounts}
    published_layers: list[str] = []
    for layer in spec.get("Layers") or []:
        owners = [layer["Account"]] if layer.get("Account") else accounts
        for owner in owners:
            version = lambda_backends[owner][region].publish_layer_version({
                "LayerName": layer["LayerName"], "Content": {"ZipFile": base64.b64encode(layer_zip).decode()},
                **{k: layer[k] for k in ("CompatibleRuntimes", "CompatibleArchitectures", "Description") if k in layer}})
            published_layers.append(version.arn)
            for account in (accounts if layer.get("Account") else [owner]):
                if account != owner:
                    version.policy.add_statement(json.dumps({
                        "StatementId": f"seed-{account}", "Action": "lambda:GetLayerVersion", "Principal": account}))
                layers[account].append((version.arn, max(1, int(layer.get("EveryNth") or 1))))
    created = published = aliased = 0
    for account in accounts:
        iam = iam_backends[account]["aws"]
        try:
            role = iam.get_role("localaws-seed-role")
        except Exception:
            role = iam.create_role("localaws-seed-role", json.dumps({"Version": "2012-10-17", "Statement": []}),
                                   "/", None, "seed", [], None)
        backend = lambda_backends[account][region]
        for index in range(per_account):
            runtime = runtimes[index % len(runtimes)] if runtimes else "python3.12"
            spec_fn = {"FunctionName": f"fn-{index:04d}", "Runtime": runtime, "Role": role.arn, "Handler": "index.handler",
                       "Code": {"ZipFile": code}, "Tags": {"team": f"team-{index % 5}"}}
            if runtime == "image":
                spec_fn.pop("Runtime")
                spec_fn.pop("Handler")
                spec_fn["PackageType"] = "Image"
                spec_fn["Code"] = {"ImageUri": f"{account}.dkr.ecr.{region}.amazonaws.com/app:latest"}
            else:
                attached = [arn for arn, nth in layers[account] if index % nth == 0]
                if attached:
                    spec_fn["Layers"] = attached
            name = spec_fn["FunctionName"]
            backend.create_function(spec_fn)
            created += 1
            for number in range(1, versions + 1):
                change: dict[str, Any] = {"Description": f"version {number}"}
                if runtime != "image":
                    change["Runtime"] = version_runtimes[(number - 1) % len(version_runtimes)]
                backend.update_function_configuration(name, None, change)
                backend.publish_version(name, "")
                published += 1
            if versions:
                backend.update_function_configuration(name, None, {"Description": "", **(
                    {"Runtime": runtime} if runtime != "image" else {})})
            extension.record(account, region, name)
            for alias in aliases:
                weights = alias.get("AdditionalVersionWeights")
                backend.create_alias(alias["Name"], name, str(alias["FunctionVersion"]), alias.get("Description", ""),
                                     {"AdditionalVersionWeights": weights} if weights else None)
                extension.record_alias(account, region, name, alias["Name"])
                aliased += 1
    return {"Created": created, "Versions": published, "Aliases": aliased, "LayerVersions": published_layers}
