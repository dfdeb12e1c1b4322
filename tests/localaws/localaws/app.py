"""The local AWS: moto's server application wrapped by this project's extensions.

Every request is classified (service, operation, calling account, region), may meet an injected fault,
is answered by an extension where moto falls short, and otherwise goes to moto; successful Lambda
mutations are then recorded into Config. Control endpoints live under /_localaws/."""

from __future__ import annotations

import io
import json
import re
import threading
import traceback
import urllib.parse
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from . import lambda_ext
from .automation import AutomationEngine
from .cloudwatch import CloudWatch
from .config import ConfigState
from .eventbridge import EventBridge
from .faults import FaultInjector
from .lambda_ext import LambdaExtension
from .protocol import (AwsError, Response, cbor_decode, cbor_encode, error_response, json_response, request_id,
                       rest_json_response, validate_input)
from .runtime_api import RuntimeApi
from .synthetic_org import SyntheticOrg

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
JSON_SERVICES = {"config", "organizations", "ssm", "glue", "athena", "sts-json"}
CONFIG_OPERATIONS_WE_OWN = {
    "PutEvaluations", "StartConfigRulesEvaluation", "GetComplianceDetailsByConfigRule",
    "GetComplianceDetailsByResource", "DescribeComplianceByConfigRule", "DeleteEvaluationResults", "DeleteConfigRule",
    "GetResourceConfigHistory", "ListDiscoveredResources", "BatchGetResourceConfig", "SelectResourceConfig",
    "PutOrganizationConfigRule", "DescribeOrganizationConfigRules", "DeleteOrganizationConfigRule",
    "DescribeAggregateComplianceByConfigRules", "GetAggregateComplianceDetailsByConfigRule",
    "GetAggregateConfigRuleComplianceSummary", "ListAggregateDiscoveredResources",
    "BatchGetAggregateResourceConfig", "SelectAggregateResourceConfig",
    "PutRemediationConfigurations", "DescribeRemediationConfigurations", "DeleteRemediationConfiguration",
    "StartRemediationExecution", "DescribeRemediationExecutionStatus",
}
SSM_OPERATIONS_WE_OWN = {"StartAutomationExecution", "GetAutomationExecution", "StopAutomationExecution",
                         "DescribeAutomationExecutions"}


class Call:
    """One classified request."""

    def __init__(self, environ: dict[str, Any], body: bytes):
        self.environ = environ
        self.body = body
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "")
        self.query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self.headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        match = _CREDENTIAL.search(self.headers.get("authorization", ""))
        self.access_key, self.region, self.service = (match.groups() if match else ("", "us-east-1", ""))
        self.path_params: dict[str, str] = {}
        self.form: dict[str, list[str]] = {}
        # A Lambda request's function, as Lambda resolves its name or ARN (set by LocalAws.locate_function).
        self.function: lambda_ext.FunctionRef | None = None
        target = self.headers.get("x-amz-target")
        if self.headers.get("smithy-protocol") == "rpc-v2-cbor" and self.path.startswith("/service/"):
            # Smithy RPC v2 CBOR: POST /service/{service}/operation/{operation}
            self.protocol, self.operation = "cbor", self.path.rstrip("/").rsplit("/", 1)[-1]
        elif target:
            # CloudWatch's JSON is awsQueryCompatible: its errors also carry the query protocol's code.
            self.protocol = "json-qc" if self.service == "monitoring" else "json"
            self.operation = target.rsplit(".", 1)[-1]
        elif self.service == "lambda":
            self.protocol = "rest-json"
            self.operation, self.path_params = lambda_ext.route(self.method, self.path, self.query)
        elif self.service in ("sts", "iam", "monitoring"):
            self.protocol = "query"
            self.form = urllib.parse.parse_qs(body.decode(errors="replace")) if body else dict(self.query)
            self.operation = (self.form.get("Action") or self.query.get("Action") or ["Unknown"])[0]
        elif self.service == "s3":
            self.protocol, self.operation = "rest-xml", _s3_operation(self.method, self.path, self.query)
        else:
            self.protocol, self.operation = "json", "Unknown"
        self.account = self._account()
        # The account whose resources the request reaches: the caller's, or for a Lambda ARN of another account
        # whose resource-based policy lets the caller in, that account.
        self.owner = self.account

    def _account(self) -> str:
        if "x-moto-account-id" in self.headers:
            return self.headers["x-moto-account-id"]
        from moto.iam.models import get_account_id_from

        return get_account_id_from(self.access_key or "AKIAEXAMPLE")

    def json_params(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            raise AwsError("SerializationException", "Start of structure or map found where not expected.")
        if not isinstance(value, dict):
            raise AwsError("SerializationException", "Start of structure or map found where not expected.")
        return value

    def qualifier(self) -> str | None:
        """A Lambda function's qualifier: the name's :suffix or ?Qualifier=."""
        if self.function is not None:
            return self.function.qualifier
        ref = lambda_ext.parse_function_ref(self.path_params.get("name", ""))
        return (ref.qualifier if ref else None) or (self.query.get("Qualifier") or [None])[0]

    def target_account(self) -> str | None:
        """The account an STS AssumeRole reaches into."""
        if self.service == "sts" and self.operation == "AssumeRole":
            arn = (self.form.get("RoleArn") or [""])[0]
            parts = arn.split(":")
            return parts[4] if len(parts) > 4 else None
        return None


def _s3_operation(method: str, path: str, query: dict[str, list[str]]) -> str:
    segments = [p for p in path.split("/") if p]
    if not segments:
        return "ListBuckets" if method == "GET" else "Unknown"
    key = len(segments) > 1
    if method == "PUT" and "partNumber" in query:
        return "UploadPart"
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in query:
        return "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in query:
        return "AbortMultipartUpload"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "GET" and not key:
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    return {("PUT", True): "PutObject", ("GET", True): "GetObject", ("DELETE", True): "DeleteObject",
            ("HEAD", True): "HeadObject", ("PUT", False): "CreateBucket", ("HEAD", False): "HeadBucket",
            ("DELETE", False): "DeleteBucket"}.get((method, key), "Unknown")


class LocalAws:
    def __init__(self) -> None:
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.runtime = RuntimeApi()
        self.automation = AutomationEngine()
        self.config = ConfigState(deliver=lambda arn, event: self.runtime.enqueue(arn, event), automation=self.automation)
        self.events = EventBridge(self.automation)  # rule targets moto cannot deliver to (SSM Automation)
        self.lambdas = LambdaExtension(self.config, self.runtime)
        self.faults = FaultInjector()
        self.synthetic = SyntheticOrg()  # opt-in, POST /_localaws/synthetic-org
        self.cloudwatch = CloudWatch()  # GetMetricData over seeded Lambda invocations
        self.reset_lock = threading.Lock()
        self.calls: dict[str, int] = {}
        self.calls_lock = threading.Lock()

    def reset(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend

        with self.reset_lock:
            moto_api_backend.reset()
            self.runtime.reset()
            self.config.reset()
            self.lambdas.reset()
            self.automation.reset()
            self.events.reset()
            self.faults.configure({})
            self.synthetic.configure(None)
            self.cloudwatch.reset()
            with self.calls_lock:
                self.calls = {}

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        path = environ.get("PATH_INFO", "")
        call: Call | None = None
        try:
            if path.startswith("/_localaws/"):
                return _send(start_response, self.control(environ, path, body))
            call = Call(environ, body)
            if not self.automation.base_url:
                self.automation.base_url = f"http://{environ.get('HTTP_HOST', '127.0.0.1')}"
            with self.calls_lock:
                key = f"{call.service}:{call.operation}"
                self.calls[key] = self.calls.get(key, 0) + 1
            fault = self.faults.decide(call.service, call.operation, call.account, call.target_account())
            if fault is None and call.service == "lambda":
                fault = self.faults.lambda_quota(call.operation, call.account, call.region)
            if fault is None and call.service in ("config", "organizations"):
                fault = self.faults.read_quota(call.service, call.operation, call.account, call.region)
            if fault is not None:
                return _send(start_response, error_response(call.protocol, fault))
            if call.service == "lambda" and ("name" in call.path_params or "arn" in call.path_params):
                self.locate_function(call, environ)
            if call.service == "lambda" and "name" in call.path_params:
                self.lambdas.fidelity.check(call.operation, call.owner, call.region, call.path_params["name"],
                                            call.qualifier(), call.body)
            answer = self.extension(call)
            if answer is not None:
                return _send(start_response, answer)
        except AwsError as error:
            return _send(start_response, error_response(call.protocol if call else "json", error))
        except Exception as error:  # an emulator bug: say so loudly, answer as AWS's InternalFailure
            traceback.print_exc()
            failure = AwsError("InternalFailure", f"localaws: {type(error).__name__}: {error}", 500, sender=False)
            return _send(start_response, error_response(call.protocol if call else "json", failure))
        return self.pass_to_moto(environ, start_response, call)

    def pass_to_moto(self, environ: dict[str, Any], start_response: Callable, call: Call) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.moto(environ, capture)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = int(captured["status"].split(" ", 1)[0])
        if call.service == "lambda" and "name" in call.path_params:
            data = self.lambdas.fidelity.rewrite(call.operation, call.owner, call.region, call.path_params["name"],
                                                 call.qualifier(), status, data)
        if 200 <= status < 300 and call.service == "lambda" and (
                call.operation in lambda_ext.MUTATIONS or call.operation in lambda_ext.ALIAS_MUTATIONS):
            self.lambdas.after_mutation(call.operation, call.owner, call.region, call.path_params, call.body, data)
        if 200 <= status < 300 and call.service == "lambda" and call.operation == "PublishVersion":
            self.lambdas.after_publish(call.owner, call.region, call.path_params["name"], data)
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
        start_response(captured["status"], headers)
        return [data]

    def locate_function(self, call: Call, environ: dict[str, Any]) -> None:
        """Resolves the function (or tagged resource) a Lambda request names as Lambda does (lambda_ext.locate:
        qualifier, Region, account and resource-based policy). moto resolves names only in the caller's account
        and its routes take neither `$LATEST` nor ARNs everywhere, so a request it serves is sent to the owner's
        account with the bare function name and the qualifier as `?Qualifier=`."""
        call.owner, call.function = self.lambdas.locate(call.operation, call.account, call.region, call.access_key,
                                                        call.path_params, call.query)
        if call.owner != call.account:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = call.owner
        ref, raw = call.function, call.path_params.get("name")
        if ref is None or raw is None or raw == ref.name or call.operation not in lambda_ext.QUALIFIED:
            return
        segments = environ.get("PATH_INFO", "").split("/")
        if raw not in segments:
            return
        segments[segments.index(raw)] = ref.name
        path = "/".join(segments)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
                 if k != "Qualifier"]
        if ref.qualifier:
            query.append(("Qualifier", ref.qualifier))
        query_string = urllib.parse.urlencode(query)
        environ["PATH_INFO"] = path
        environ["QUERY_STRING"] = query_string
        environ["RAW_URI"] = environ["REQUEST_URI"] = urllib.parse.quote(path) + (f"?{query_string}" if query_string else "")

    def extension(self, call: Call) -> Response | None:
        if self.synthetic.spec is not None and call.service in ("config", "organizations"):
            answer = self.synthetic.handle(call.service, call.operation, call.account, call.region, call.json_params())
            if answer is not None:
                return json_response(answer)
        if call.service == "config" and call.operation in CONFIG_OPERATIONS_WE_OWN:
            params = call.json_params()
            if call.operation == "PutEvaluations":
                validate_input("config", "PutEvaluations", params)
                odds, rng = self.faults.failed_evaluation_odds(call.account)
                with self.config.lock:
                    result = self.config.op_PutEvaluations(call.account, call.region, params, odds, rng)
            else:
                result = self.config.handle(call.operation, call.account, call.region, params)
            return None if result is NotImplemented else json_response(result)
        if call.service == "monitoring" and call.operation == "GetMetricData":
            return self.get_metric_data(call)
        if call.service == "monitoring" and call.protocol == "cbor":  # moto speaks JSON and query only
            raise AwsError("InternalFailure", f"localaws: CloudWatch {call.operation} over rpc-v2-cbor is not emulated "
                           "(only GetMetricData is)", 501, sender=False)
        if call.service == "events" and call.operation == "TestEventPattern":  # moto lacks it
            return json_response(_test_event_pattern(call.json_params()))
        if call.service == "ssm" and call.operation == "PutParameter":
            _check_parameter_size(call.json_params())  # moto stores any size; AWS does not
            return None
        if call.service == "ssm" and call.operation in SSM_OPERATIONS_WE_OWN:
            params = call.json_params()
            validate_input("ssm", call.operation, params)
            return json_response(self.automation.handle(call.operation, call.account, call.region, params))
        if call.service == "lambda" and call.operation in ("GetLayerVersion", "GetLayerVersionByArn"):
            return rest_json_response(self.lambdas.layer_version(call.operation, call.account, call.region, call.access_key,
                                                                 call.path_params, call.query))
        if call.service == "lambda" and call.operation == "ListLayerVersions":
            return rest_json_response(self.lambdas.list_layer_versions(call.account, call.region, call.access_key,
                                                                       call.path_params, call.query))
        if call.service == "lambda" and call.operation in ("CreateFunction", "UpdateFunctionConfiguration"):
            self.lambdas.check_layers(call.account, call.owner, call.region, call.access_key, call.body)
            return None
        if call.service == "lambda" and call.operation in (
            "ListFunctions", "GetRuntimeManagementConfig", "PutRuntimeManagementConfig", "Invoke",
            "ListVersionsByFunction", "ListAliases",
        ):
            result = self.lambdas.handle(call.operation, call.owner, call.region, call.path_params, call.query,
                                         call.body, call.headers, call.function)
            if isinstance(result, tuple):
                status, payload, headers = result
                return Response(status, payload, [("Content-Type", "application/json"), *headers.items()])
            return rest_json_response(result)
        return None

    def get_metric_data(self, call: Call) -> Response:
        """CloudWatch GetMetricData on the protocol the request came in (localaws/cloudwatch.py)."""
        if call.protocol == "cbor":
            params = cbor_decode(call.body)
        elif call.protocol == "query":
            params = _query_params(call.form)
        else:
            params = call.json_params()
        result = self.cloudwatch.get_metric_data(call.account, call.region, params)
        if call.protocol == "cbor":
            return Response(200, cbor_encode(result), [("Content-Type", "application/cbor"),
                                                       ("smithy-protocol", "rpc-v2-cbor"),
                                                       ("x-amzn-RequestId", request_id())])
        if call.protocol == "query":
            return Response(200, _metric_data_xml(result), [("Content-Type", "text/xml")])
        return json_response(result, content_type="application/x-amz-json-1.0")

    # ---------------------------------------------------------------- control

    def control(self, environ: dict[str, Any], path: str, body: bytes) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        params = json.loads(body) if body else {}
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_localaws/health"):
            return json_response({"status": "ok"}, content_type="application/json")
        if route == ("GET", "/_localaws/connection"):
            # The connection this request came on, as the server (__main__.KeepAliveHandler) set it up.
            connection = environ.get("localaws.connection") or {"TcpNoDelay": None, "RequestsOnConnection": None}
            return json_response(connection, content_type="application/json")
        if route == ("POST", "/_localaws/reset"):
            self.reset()
            return json_response({"reset": True}, content_type="application/json")
        if route == ("POST", "/_localaws/faults"):
            self.faults.configure(params)
            return json_response(self.faults.describe(), content_type="application/json")
        if route == ("GET", "/_localaws/faults"):
            return json_response(self.faults.describe(), content_type="application/json")
        if route == ("POST", "/_localaws/runtime/bind"):
            api = self.runtime.bind(params["FunctionArn"], params.get("TimeoutSeconds"))
            return json_response({"RuntimeApi": api}, content_type="application/json")
        if route == ("POST", "/_localaws/runtime/enqueue"):
            invocation = self.runtime.enqueue(params["FunctionArn"], params.get("Event"))
            return json_response({"RequestId": invocation.id}, content_type="application/json")
        if route == ("GET", "/_localaws/runtime/invocations"):
            arn = (query.get("FunctionArn") or [None])[0]
            return json_response({"Invocations": self.runtime.invocations(arn)}, content_type="application/json")
        if route == ("GET", "/_localaws/events/deliveries"):
            return json_response({"Deliveries": self.events.records()}, content_type="application/json")
        if route == ("GET", "/_localaws/stats"):
            with self.calls_lock:
                calls = dict(self.calls)
            return json_response({"Calls": calls, "EvaluationsRecorded": self.config.recorded_counts(),
                                  "Faults": self.faults.injected()}, content_type="application/json")
        if route == ("POST", "/_localaws/synthetic-org"):
            return json_response(self.synthetic.configure(params), content_type="application/json")
        if route == ("DELETE", "/_localaws/synthetic-org"):
            return json_response(self.synthetic.configure(None), content_type="application/json")
        if route == ("GET", "/_localaws/synthetic-org"):
            return json_response(self.synthetic.describe(), content_type="application/json")
        if route == ("POST", "/_localaws/lambda/settings"):
            return json_response(self.lambdas.fidelity.settings(params), content_type="application/json")
        if route == ("POST", "/_localaws/lambda/update-failures"):
            return json_response(self.lambdas.fidelity.set_failures(params), content_type="application/json")
        if route == ("POST", "/_localaws/config/settings"):
            if "OversizedItemBytes" in params:
                self.config.oversized_bytes = int(params["OversizedItemBytes"])
            return json_response({"OversizedItemBytes": self.config.oversized_bytes}, content_type="application/json")
        if route == ("POST", "/_localaws/config/periodic"):
            sent = self.config.fire_periodic(params.get("AccountId"), params.get("Region"))
            return json_response({"Sent": sent}, content_type="application/json")
        if route == ("POST", "/_localaws/cloudwatch/invocations"):
            return json_response(self.cloudwatch.seed_invocations(params), content_type="application/json")
        if route == ("POST", "/_localaws/seed/lambda"):
            seeded = lambda_ext.seed_functions(self.lambdas, params["Accounts"], params.get("Region", "us-east-1"),
                                               int(params.get("FunctionsPerAccount", 1)), params.get("Runtimes") or [], params)
            return json_response(seeded, content_type="application/json")
        raise AwsError("NotFound", f"no control endpoint {method} {path}", 404)


# The envelope fields TestEventPattern requires of the event
# (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html).
EVENT_ENVELOPE = ("id", "account", "source", "time", "region", "detail-type")


def _test_event_pattern(params: dict[str, Any]) -> dict[str, Any]:
    from moto.events.models import EventPattern

    validate_input("events", "TestEventPattern", params)
    try:
        event = json.loads(params["Event"])
    except ValueError:
        raise AwsError("InvalidEventPatternException", "Event is not valid JSON.")
    if not isinstance(event, dict) or any(k not in event for k in EVENT_ENVELOPE):
        raise AwsError("ValidationException", "Parameter Event is not valid.")
    try:
        pattern = EventPattern.load(params["EventPattern"])
    except Exception as error:
        raise AwsError("InvalidEventPatternException", f"Event pattern is not valid. Reason: {error}")
    return {"Result": pattern.matches_event(event)}


# SSM Parameter Store's value limits by tier (characters).
PARAMETER_VALUE_LIMITS = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}


def _check_parameter_size(params: dict[str, Any]) -> None:
    tier = params.get("Tier") or "Standard"
    value = params.get("Value") or ""
    limit = PARAMETER_VALUE_LIMITS.get(tier, 4096)
    if len(value) > limit:
        if tier == "Standard":
            message = ("Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
                       "larger parameter value, upgrade the parameter to use the advanced-parameter tier.")
        else:
            message = f"Advanced tier parameters support a maximum parameter value of {limit} characters."
        raise AwsError("ValidationException", message)


def _query_params(form: dict[str, list[str]]) -> dict[str, Any]:
    """The query protocol's flattened parameters (`MetricDataQueries.member.1.MetricStat.Period=86400`) as the
    nested structure the JSON protocols send."""
    root: dict[str, Any] = {}
    for key, values in form.items():
        if key in ("Action", "Version"):
            continue
        parts = key.split(".")
        node: Any = root
        for position, part in enumerate(parts):
            leaf = position == len(parts) - 1
            if part == "member":
                continue
            if isinstance(node, list):
                index = int(part) - 1
                while len(node) <= index:
                    node.append({})
                if leaf:
                    node[index] = values[0]
                node = node[index]
                continue
            following = parts[position + 1] if not leaf else None
            if leaf:
                node[part] = {"true": True, "false": False}.get(values[0], values[0])
            else:
                node = node.setdefault(part, [] if following == "member" else {})
    return root


def _metric_data_xml(result: dict[str, Any]) -> bytes:
    """GetMetricData's answer in the query protocol (XML, timestamps ISO 8601)."""
    from xml.sax.saxutils import escape

    def stamp(value: Any) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")

    members = []
    for r in result["MetricDataResults"]:
        stamps = "".join(f"<member>{stamp(t)}</member>" for t in r["Timestamps"])
        values = "".join(f"<member>{v!r}</member>" for v in r["Values"])
        members.append(f"<member><Id>{escape(r['Id'])}</Id><Label>{escape(r['Label'])}</Label>"
                       f"<Timestamps>{stamps}</Timestamps><Values>{values}</Values>"
                       f"<StatusCode>{r['StatusCode']}</StatusCode><Messages/></member>")
    token = f"<NextToken>{escape(result['NextToken'])}</NextToken>" if result.get("NextToken") else ""
    return (f'<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><GetMetricDataResult>'
            f"<MetricDataResults>{''.join(members)}</MetricDataResults>{token}<Messages/></GetMetricDataResult>"
            f"<ResponseMetadata><RequestId>{request_id()}</RequestId></ResponseMetadata></GetMetricDataResponse>").encode()


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""


def _send(start_response: Callable, response: Response) -> list[bytes]:
    headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(response.body))))
    reason = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
              429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}.get(response.status, "")
    start_response(f"{response.status} {reason}", headers)
    return [response.body]
