"""Lambda on top of moto: ListFunctions pagination, Get/PutRuntimeManagementConfig, Invoke through the
Runtime API, and recording every create/update/tag/delete into Config."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from typing import Any

from moto.awslambda.models import lambda_backends

from .config import ConfigState
from .lambda_fidelity import LambdaFidelity
from .protocol import AwsError, paginate, validate_input
from .runtime_api import RuntimeApi

# (method, path regex) -> operation, for the Lambda REST routes this project touches.
ROUTES = [
    ("GET", r"^/2015-03-31/functions/?$", "ListFunctions"),
    ("POST", r"^/2015-03-31/functions/?$", "CreateFunction"),
    ("GET", r"^/2015-03-31/functions/(?P<name>[^/]+)/?$", "GetFunction"),
    ("GET", r"^/2015-03-31/functions/(?P<name>[^/]+)/aliases/?$", "ListAliases"),
    ("GET", r"^/2015-03-31/functions/(?P<name>[^/]+)/versions/?$", "ListVersionsByFunction"),
    ("GET", r"^/2018-10-31/layers/?$", "GetLayerVersionByArn"),
    ("DELETE", r"^/2015-03-31/functions/(?P<name>[^/]+)/?$", "DeleteFunction"),
    ("GET", r"^/2015-03-31/functions/(?P<name>[^/]+)/configuration/?$", "GetFunctionConfiguration"),
    ("PUT", r"^/2015-03-31/functions/(?P<name>[^/]+)/configuration/?$", "UpdateFunctionConfiguration"),
    ("PUT", r"^/2015-03-31/functions/(?P<name>[^/]+)/code/?$", "UpdateFunctionCode"),
    ("POST", r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$", "Invoke"),
    ("POST", r"^/2015-03-31/functions/(?P<name>[^/]+)/versions/?$", "PublishVersion"),
    ("POST", r"^/2015-03-31/functions/(?P<name>[^/]+)/policy/?$", "AddPermission"),
    ("GET", r"^/2017-03-31/tags/(?P<arn>.+)$", "ListTags"),
    ("POST", r"^/2017-03-31/tags/(?P<arn>.+)$", "TagResource"),
    ("DELETE", r"^/2017-03-31/tags/(?P<arn>.+)$", "UntagResource"),
    ("GET", r"^/2021-07-20/functions/(?P<name>[^/]+)/runtime-management-config/?$", "GetRuntimeManagementConfig"),
    ("PUT", r"^/2021-07-20/functions/(?P<name>[^/]+)/runtime-management-config/?$", "PutRuntimeManagementConfig"),
]
MUTATIONS = {"CreateFunction", "DeleteFunction", "UpdateFunctionConfiguration", "UpdateFunctionCode",
             "TagResource", "UntagResource"}
# Lambda returns at most 50 functions a page, whatever MaxItems asks for.
LIST_PAGE_MAX = 50


def route(method: str, path: str) -> tuple[str, dict[str, str]]:
    for verb, pattern, operation in ROUTES:
        match = re.match(pattern, path)
        if verb == method and match:
            return operation, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
    return "Unknown", {}


def function_name(name_or_arn: str) -> str:
    """A function name from a name, a partial ARN or a full ARN (qualifier dropped)."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        return parts[6] if len(parts) > 6 else name_or_arn
    return name_or_arn.split(":")[0]


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
            self.runtime_management: dict[tuple[str, str, str], dict[str, str]] = {}
        self.fidelity.reset()

    def mode_of(self, account: str, region: str, name: str) -> str:
        with self.lock:
            return self.runtime_management.get((account, region, name), {"UpdateRuntimeOn": "Auto"})["UpdateRuntimeOn"]

    @staticmethod
    def _function(account: str, region: str, name_or_arn: str) -> Any:
        backend = lambda_backends[account][region]
        try:
            return backend.get_function(function_name(name_or_arn))
        except Exception:
            raise AwsError("ResourceNotFoundException",
                           f"Function not found: arn:aws:lambda:{region}:{account}:function:{function_name(name_or_arn)}", 404)

    def handle(self, operation: str, account: str, region: str, path_params: dict[str, str],
               query: dict[str, list[str]], body: bytes, headers: dict[str, str]) -> Any:
        if operation == "ListFunctions":
            return self.list_functions(account, region, query)
        if operation == "GetRuntimeManagementConfig":
            fn = self._function(account, region, path_params["name"])
            setting = self.runtime_management.get((account, region, fn.function_name), {"UpdateRuntimeOn": "Auto"})
            result = {"UpdateRuntimeOn": setting["UpdateRuntimeOn"], "FunctionArn": fn.function_arn}
            if setting["UpdateRuntimeOn"] == "Manual":
                result["RuntimeVersionArn"] = setting["RuntimeVersionArn"]
            return result
        if operation == "PutRuntimeManagementConfig":
            params = json.loads(body or b"{}")
            params["FunctionName"] = path_params["name"]
            validate_input("lambda", "PutRuntimeManagementConfig", params)
            fn = self._function(account, region, path_params["name"])
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
                self.runtime_management[(account, region, fn.function_name)] = setting
            return {**setting, "FunctionArn": fn.function_arn}
        if operation == "Invoke":
            return self.invoke(account, region, path_params["name"], body, headers)
        if operation == "GetLayerVersionByArn":  # moto lacks it
            # https://docs.aws.amazon.com/lambda/latest/api/API_GetLayerVersionByArn.html
            arn = (query.get("Arn") or [""])[0]
            parts = arn.split(":")
            try:
                version = lambda_backends[account][region].get_layer_version(parts[6], parts[7])
            except Exception:
                version = None
            if version is None:
                raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
            return version.get_layer_version()
        return NotImplemented

    def list_functions(self, account: str, region: str, query: dict[str, list[str]]) -> dict[str, Any]:
        max_items = int(query.get("MaxItems", ["50"])[0])
        if not 1 <= max_items <= 10000:
            raise AwsError("InvalidParameterValueException", "MaxItems must be between 1 and 10000")
        functions = sorted(lambda_backends[account][region].list_functions(func_version=None),
                           key=lambda f: f.function_name)
        configurations = []
        for fn in functions:
            # Lambda leaves unset members out; moto sends them as null.
            configuration = {k: v for k, v in fn.get_configuration().items() if v is not None}
            configuration["LastModified"] = aws_last_modified(configuration.get("LastModified", ""))
            configurations.append(configuration)
        page, marker = paginate(configurations, query.get("Marker", [None])[0], min(max_items, LIST_PAGE_MAX))
        return {"Functions": page, **({"NextMarker": marker} if marker else {})}

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
        """Records the function as it now is (or its deletion) into Config."""
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
                self.runtime_management.pop((account, region, name), None)
            self.fidelity.forget(account, region, name)
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            self.config.record_lambda(account, region, name, None, {}, arn)
            return
        self.config.record_lambda(account, region, name, config_item_configuration(fn.get_configuration()),
                                  dict(fn.tags or {}), fn.function_arn)


def zip_of(text: str) -> str:
    """A base64 zip with one file, for seeding functions without a client."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", text)
    return base64.b64encode(buffer.getvalue()).decode()


def seed_functions(extension: LambdaExtension, accounts: list[str], region: str, per_account: int,
                   runtimes: list[str]) -> int:
    """Creates `per_account` functions in each account directly in moto's backend (fast bulk set-up
    for tests and the demo), recording each into Config like any other create."""
    from moto.iam.models import iam_backends

    code = zip_of("def handler(event, context):\n    return event\n")
    created = 0
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
            spec = {"FunctionName": f"fn-{index:04d}", "Runtime": runtime, "Role": role.arn, "Handler": "index.handler",
                    "Code": {"ZipFile": code}, "Tags": {"team": f"team-{index % 5}"}}
            if runtime == "image":
                spec.pop("Runtime")
                spec.pop("Handler")
                spec["PackageType"] = "Image"
                spec["Code"] = {"ImageUri": f"{account}.dkr.ecr.{region}.amazonaws.com/app:latest"}
            backend.create_function(spec)
            extension.record(account, region, spec["FunctionName"])
            created += 1
    return created

