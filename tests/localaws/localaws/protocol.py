"""Wire formats: how each AWS protocol spells a response and an error, and input validation driven by
botocore's service models (so limits and messages follow AWS, not our memory of them)."""

from __future__ import annotations

import datetime as dt
import json
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

import botocore.session

_SESSION = botocore.session.get_session()
_MODELS: dict[str, Any] = {}


def service_model(service: str):
    if service not in _MODELS:
        _MODELS[service] = _SESSION.get_service_model(service)
    return _MODELS[service]


class AwsError(Exception):
    """An error answered the way the service's protocol answers it."""

    def __init__(self, code: str, message: str, status: int = 400, sender: bool = True,
                 retry_after: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender = sender
        self.retry_after = retry_after  # seconds, sent as Retry-After where the protocol has it
        self.reason = reason  # Lambda's `Reason` member (TooManyRequestsException)


def validation_error(problems: list[str]) -> AwsError:
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return AwsError("ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems))


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def request_id() -> str:
    return str(uuid.uuid4())


def json_response(payload: Any, status: int = 200, content_type: str = "application/x-amz-json-1.1") -> Response:
    return Response(
        status,
        json.dumps(payload, default=_json_default).encode(),
        [("Content-Type", content_type), ("x-amzn-RequestId", request_id())],
    )


def rest_json_response(payload: Any, status: int = 200) -> Response:
    return json_response(payload, status, "application/json")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serializable: {type(value)}")


def cbor_encode(value: Any) -> bytes:
    """Smithy RPC v2 CBOR (RFC 8949) for the values a response holds: maps, lists, text, integers, floats (64-bit),
    booleans, null, and timestamps as tag 1 with epoch seconds (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html)."""
    out = bytearray()

    def head(major: int, length: int) -> None:
        if length < 24:
            out.append(major << 5 | length)
        elif length < 1 << 8:
            out.extend((major << 5 | 24, length))
        elif length < 1 << 16:
            out.append(major << 5 | 25)
            out.extend(length.to_bytes(2, "big"))
        elif length < 1 << 32:
            out.append(major << 5 | 26)
            out.extend(length.to_bytes(4, "big"))
        else:
            out.append(major << 5 | 27)
            out.extend(length.to_bytes(8, "big"))

    def item(v: Any) -> None:
        if v is None:
            out.append(0xF6)
        elif v is True or v is False:
            out.append(0xF5 if v else 0xF4)
        elif isinstance(v, int):
            head(0, v) if v >= 0 else head(1, -1 - v)
        elif isinstance(v, float):
            out.append(0xFB)
            out.extend(struct.pack(">d", v))
        elif isinstance(v, dt.datetime):
            out.append(0xC1)  # tag 1
            item(v.timestamp())
        elif isinstance(v, str):
            data = v.encode()
            head(3, len(data))
            out.extend(data)
        elif isinstance(v, (bytes, bytearray)):
            head(2, len(v))
            out.extend(v)
        elif isinstance(v, (list, tuple)):
            head(4, len(v))
            for x in v:
                item(x)
        elif isinstance(v, dict):
            head(5, len(v))
            for k, x in v.items():
                item(str(k))
                item(x)
        else:
            raise TypeError(f"not CBOR serializable: {type(v)}")

    item(value)
    return bytes(out)


def cbor_decode(data: bytes) -> Any:
    """A CBOR request body, decoded by botocore's own RPC v2 CBOR parser (tag 1 timestamps become datetimes)."""
    from botocore.parsers import RpcV2CBORParser

    parser = RpcV2CBORParser()
    return parser.parse_data_item(parser.get_peekable_stream_from_bytes(data)) if data else {}


def error_response(protocol: str, error: AwsError) -> Response:
    rid = request_id()
    if protocol in ("json-qc", "cbor"):
        # awsQueryCompatible services (CloudWatch) also name the query protocol's error code and fault in
        # `x-amzn-query-error`, which the SDKs read first (https://smithy.io/2.0/aws/protocols/aws-query-protocol.html#aws-protocols-awsquerycompatible-trait).
        headers = [("x-amzn-RequestId", rid), ("x-amzn-ErrorType", error.code),
                   ("x-amzn-query-error", f"{error.code};{'Sender' if error.sender else 'Receiver'}")]
        payload_qc = {"__type": error.code, "message": error.message}
        if protocol == "cbor":
            return Response(error.status, cbor_encode(payload_qc),
                            [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), *headers])
        return Response(error.status, json.dumps(payload_qc).encode(),
                        [("Content-Type", "application/x-amz-json-1.0"), *headers])
    if protocol == "json":
        payload_json: dict[str, Any] = {"__type": error.code, "message": error.message}
        if error.reason:  # e.g. Organizations' InvalidInputException `Reason`
            payload_json["Reason"] = error.reason
        body = json.dumps(payload_json).encode()
        return Response(
            error.status,
            body,
            [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", rid), ("x-amzn-ErrorType", error.code)],
        )
    if protocol == "rest-json":
        payload: dict[str, Any] = {"Type": "User" if error.sender else "Service", "message": error.message}
        if error.code == "TooManyRequestsException":
            payload["Reason"] = error.reason or "CallerRateLimitExceeded"
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", rid), ("x-amzn-ErrorType", error.code)]
        if error.status == 429:
            headers.append(("Retry-After", str(error.retry_after or 1)))
        return Response(error.status, json.dumps(payload).encode(), headers)
    if protocol == "query":
        kind = "Sender" if error.sender else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{error.code}</Code>"
            f"<Message>{_xml_escape(error.message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
        return Response(error.status, body, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)])
    # rest-xml (S3)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{error.code}</Code>'
        f"<Message>{_xml_escape(error.message)}</Message><RequestId>{rid}</RequestId></Error>"
    ).encode()
    return Response(error.status, body, [("Content-Type", "application/xml"), ("x-amz-request-id", rid)])


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 100 else text[:97] + "..."


def validate_input(service: str, operation: str, params: dict[str, Any]) -> None:
    """Checks `params` against the operation's input shape as AWS does (required members, lengths,
    ranges, enums, types) and raises AWS's ValidationException listing every problem."""
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None:
        return
    problems: list[str] = []
    _check(shape, params, "", problems)
    if problems:
        raise validation_error(problems)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check(shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    where = path or "input"
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(_not_a(value, where, "a structure"))
            return
        for required in shape.required_members:
            if value.get(required) is None:
                member_path = f"{path}.{_lower_first(required)}" if path else _lower_first(required)
                problems.append(f"Value null at '{member_path}' failed to satisfy constraint: Member must not be null")
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                member_path = f"{path}.{_lower_first(name)}" if path else _lower_first(name)
                _check(member, value[name], member_path, problems)
        return
    if kind == "list":
        if not isinstance(value, list):
            problems.append(_not_a(value, where, "a list"))
            return
        _check_length(shape, len(value), value, where, problems)
        for index, item in enumerate(value):
            _check(shape.member, item, f"{where}.{index + 1}.member", problems)
        return
    if kind == "map":
        if not isinstance(value, dict):
            problems.append(_not_a(value, where, "a map"))
            return
        _check_length(shape, len(value), value, where, problems)
        for key, item in value.items():
            _check(shape.key, key, f"{where}.key", problems)
            _check(shape.value, item, f"{where}.value", problems)
        return
    if kind == "string":
        if not isinstance(value, str):
            problems.append(_not_a(value, where, "a string"))
            return
        _check_length(shape, len(value), value, where, problems)
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            problems.append(
                f"Value '{_describe(value)}' at '{where}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(_not_a(value, where, "a number"))
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            problems.append(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value less than or equal to {high}")
        return
    if kind == "boolean" and not isinstance(value, bool):
        problems.append(_not_a(value, where, "a boolean"))
    if kind == "timestamp" and not isinstance(value, (int, float, str)):
        problems.append(_not_a(value, where, "a timestamp"))


def _not_a(value: Any, where: str, kind: str) -> str:
    return f"Value '{_describe(value)}' at '{where}' failed to satisfy constraint: Member must be {kind}"


def _check_length(shape, length: int, value: Any, where: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        problems.append(
            f"Value '{_describe(value)}' at '{where}' failed to satisfy constraint: Member must have length greater than or equal to {low}"
        )
    if high is not None and length > high:
        problems.append(
            f"Value '{_describe(value)}' at '{where}' failed to satisfy constraint: Member must have length less than or equal to {high}"
        )


def parse_timestamp(value: Any) -> dt.datetime:
    """A timestamp as the JSON protocols send it: epoch seconds (number) or ISO 8601 text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            parsed = dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    raise AwsError("ValidationException", f"'{_describe(value)}' is not a timestamp")


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def paginate(items: list[Any], token: str | None, limit: int) -> tuple[list[Any], str | None]:
    """Slices `items` with an opaque offset token, as the services' NextToken does."""
    start = 0
    if token:
        try:
            start = int(token.split("-", 1)[1], 16)
        except (IndexError, ValueError):
            raise AwsError("InvalidNextTokenException", "The nextToken provided is invalid")
        if start > len(items):
            raise AwsError("InvalidNextTokenException", "The nextToken provided is invalid")
    page = items[start : start + limit]
    end = start + len(page)
    return page, (f"t-{end:x}" if end < len(items) else None)
