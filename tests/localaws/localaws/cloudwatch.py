"""CloudWatch GetMetricData over seeded AWS/Lambda `Invocations` (and moto's PutMetricData datapoints), with the
limits and semantics of https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html.

Seeding (`POST /_localaws/cloudwatch/invocations`): per (account, Region, FunctionName[, Resource]) a sum per day,
stored as one datapoint at 00:00 UTC of that day. A series seeded with a `Resource` (an alias or version,
`name:qualifier`) counts in its function's `FunctionName` series too, as Lambda's metrics do (the FunctionName
dimension aggregates every version and alias; https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
A day that is not seeded has no datapoint (CloudWatch returns no datapoint for missing data, not zero).

GetMetricData is served on the three wire protocols CloudWatch speaks (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-protocols-faq.html):
AWS JSON 1.0 with awsQueryCompatible error codes (boto3 ≥ 1.40's choice), Smithy RPC v2 CBOR (the Rust, Go and
Ruby SDKs' recent choice) and the query protocol (older SDKs). Every other CloudWatch operation goes to moto
(moto speaks JSON and query, not CBOR)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
from typing import Any

from .protocol import AwsError, now, parse_timestamp

# A GetMetricData call: "can include as many as 500 MetricDataQuery structures" (API_GetMetricData, request
# MetricDataQueries); "If you omit [MaxDatapoints], the default of 100,800 is used" (request MaxDatapoints).
MAX_QUERIES = 500
DEFAULT_MAX_DATAPOINTS = 100_800
# MetricDataQuery.Id: "The valid characters are letters, numbers, and underscore. The first character must be a
# lowercase letter." (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html)
ID_PATTERN = re.compile(r"^[a-z][A-Za-z0-9_]*$")
STATS = ("Sum", "SampleCount", "Average", "Minimum", "Maximum")
DAY = 86_400


def _epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


class CloudWatch:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            # (account, region, namespace, metric, ((dimension, value), ...) sorted) -> {epoch second: value}
            self.series: dict[tuple[str, str, str, str, tuple[tuple[str, str], ...]], dict[int, float]] = {}

    # ------------------------------------------------------------ control

    def seed_invocations(self, params: dict[str, Any]) -> dict[str, Any]:
        """{"Account", "Region"?, "Series": [{"FunctionName", "Resource"?, "Days": {"YYYY-MM-DD": sum}}],
        "Replace"?}: adds each day's sum (a seeded day replaces nothing unless `Replace`)."""
        account, region = params["Account"], params.get("Region", "us-east-1")
        replace = bool(params.get("Replace"))
        added = 0
        with self.lock:
            if replace:
                for key in [k for k in self.series if k[:4] == (account, region, "AWS/Lambda", "Invocations")]:
                    del self.series[key]
            for series in params.get("Series") or []:
                name = series["FunctionName"]
                keys = [(("FunctionName", name),)]
                if series.get("Resource"):
                    keys.append(tuple(sorted((("FunctionName", name), ("Resource", series["Resource"])))))
                for day, value in (series.get("Days") or {}).items():
                    stamp = _epoch(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc))
                    for dims in keys:
                        points = self.series.setdefault((account, region, "AWS/Lambda", "Invocations", dims), {})
                        points[stamp] = points.get(stamp, 0.0) + float(value)
                    added += 1
        return {"DaysSeeded": added}

    # ------------------------------------------------------------ GetMetricData

    def get_metric_data(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        queries = params.get("MetricDataQueries")
        if not isinstance(queries, list) or not queries:
            raise AwsError("MissingParameter", "The parameter MetricDataQueries is required.")
        if len(queries) > MAX_QUERIES:
            # API_GetMetricData: "A single GetMetricData call can include as many as 500 MetricDataQuery structures."
            raise AwsError("ValidationError", f"The collection MetricDataQueries must not have a size greater than "
                           f"{MAX_QUERIES}.")
        for name in ("StartTime", "EndTime"):
            if params.get(name) is None:
                raise AwsError("MissingParameter", f"The parameter {name} is required.")
        start, end = _time(params["StartTime"]), _time(params["EndTime"])
        if start >= end:
            raise AwsError("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
        scan = params.get("ScanBy") or "TimestampDescending"
        if scan not in ("TimestampDescending", "TimestampAscending"):
            raise AwsError("ValidationError", f"1 validation error detected: Value '{scan}' at 'scanBy' failed to "
                           "satisfy constraint: Member must satisfy enum value set: [TimestampDescending, TimestampAscending]")
        limit = params.get("MaxDatapoints")
        limit = DEFAULT_MAX_DATAPOINTS if limit is None else int(limit)
        if limit < 1:
            raise AwsError("InvalidParameterValue", "The parameter MaxDatapoints must be greater than 0.")
        # "as many as 100,800 data points" a call (API_GetMetricData): a larger MaxDatapoints pages at 100,800.
        limit = min(limit, DEFAULT_MAX_DATAPOINTS)
        seen: set[str] = set()
        for index, query in enumerate(queries, 1):
            _check_query(index, query, seen)
        # CloudWatch rounds StartTime down to the minute (less than 15 days ago), to 5 minutes (15 to 63 days) or to
        # the hour (older) (API_GetMetricData, request StartTime).
        age = now() - start
        granule = 60 if age < dt.timedelta(days=15) else 300 if age < dt.timedelta(days=63) else 3600
        first = _epoch(start) // granule * granule
        last = _epoch(end)  # exclusive ("results include data points up to the specified time stamp")
        digest = hashlib.sha256(json.dumps([queries, first, last, scan, limit], sort_keys=True, default=str).encode()).hexdigest()[:16]
        position = (0, 0)
        if params.get("NextToken"):
            position = _decode_token(params["NextToken"], digest)
        results: list[dict[str, Any]] = []
        budget = limit
        query_index, offset = position
        token = None
        with self.lock:
            while query_index < len(queries):
                query = queries[query_index]
                if query.get("ReturnData") is False:
                    query_index, offset = query_index + 1, 0
                    continue
                points = self._points(account, region, query, first, last, age)
                if scan == "TimestampDescending":
                    points.reverse()
                page = points[offset:offset + budget]
                status = "Complete"
                if offset + len(page) < len(points):
                    status = "PartialData"
                result = {"Id": query["Id"], "Label": query.get("Label") or query["MetricStat"]["Metric"]["MetricName"],
                          "Timestamps": [p[0] for p in page], "Values": [p[1] for p in page], "StatusCode": status,
                          "Messages": []}
                if query.get("AccountId") not in (None, account):
                    # Cross-account observability (a monitoring account reading a source account's metrics) is not
                    # emulated: without a link, the metric is not readable.
                    result.update(Timestamps=[], Values=[], StatusCode="Forbidden")
                results.append(result)
                budget -= len(page)
                if status == "PartialData":
                    token = _encode_token(digest, query_index, offset + len(page))
                    break
                query_index, offset = query_index + 1, 0
                if budget == 0 and query_index < len(queries):
                    token = _encode_token(digest, query_index, 0)
                    break
        answer: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if token:
            answer["NextToken"] = token
        return answer

    def _points(self, account: str, region: str, query: dict[str, Any], first: int, last: int,
                age: dt.timedelta) -> list[tuple[dt.datetime, float]]:
        """The query's datapoints in ascending time: one per Period that has data, timestamped at the period's
        start, counted from the rounded StartTime."""
        stat = query["MetricStat"]
        metric = stat["Metric"]
        period = int(stat["Period"])
        # "If the StartTime parameter specifies a time stamp that is greater than 3 hours ago, you must specify the
        # period as follows or no data points in that time range is returned": a multiple of 60 (3 hours to 15
        # days), of 300 (15 to 63 days), of 3600 (older) (API_MetricStat, Period).
        if age > dt.timedelta(hours=3):
            multiple = 60 if age <= dt.timedelta(days=15) else 300 if age <= dt.timedelta(days=63) else 3600
            if period % multiple:
                return []
        dims = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions") or []))
        samples: dict[int, list[float]] = {}
        seeded = self.series.get((account, region, metric.get("Namespace"), metric.get("MetricName"), dims), {})
        for stamp, value in seeded.items():
            if first <= stamp < last:
                samples.setdefault(first + (stamp - first) // period * period, []).append(value)
        for stamp, value in _moto_samples(account, region, metric, dims):
            if first <= stamp < last:
                samples.setdefault(first + (stamp - first) // period * period, []).append(value)
        return [(dt.datetime.fromtimestamp(bucket, dt.timezone.utc), _statistic(stat["Stat"], values))
                for bucket, values in sorted(samples.items())]


def _time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return parse_timestamp(value)


def _check_query(index: int, query: dict[str, Any], seen: set[str]) -> None:
    """A MetricDataQuery as API_MetricDataQuery defines it: an Id unique in the call that starts with a lowercase
    letter and has only letters, digits and underscores; exactly one of MetricStat and Expression (metric math and
    Metrics Insights are not emulated); a MetricStat with Metric, Period (≥ 1; 1, 5, 10, 20, 30 or a multiple of 60)
    and Stat."""
    where = f"MetricDataQueries.member.{index}"
    query_id = query.get("Id")
    if not query_id:
        raise AwsError("MissingParameter", f"The parameter {where}.Id is required.")
    if not ID_PATTERN.match(query_id):
        raise AwsError("ValidationError", f"The value {query_id} for parameter {where}.Id is not valid: the first "
                       "character must be a lowercase letter, the others letters, numbers or underscores.")
    if query_id in seen:
        raise AwsError("ValidationError", f"The value {query_id} for parameter {where}.Id is not unique.")
    seen.add(query_id)
    if query.get("MetricStat") is not None and query.get("Expression") is not None:
        raise AwsError("ValidationError", f"{where}: Only one of MetricStat and Expression may be specified.")
    if query.get("Expression") is not None:
        raise AwsError("ValidationError", f"{where}.Expression: metric math and Metrics Insights queries are not "
                       "emulated by localaws.")
    stat = query.get("MetricStat")
    if stat is None:
        raise AwsError("ValidationError", f"The parameter {where}.MetricStat is required.")
    for name in ("Metric", "Period", "Stat"):
        if stat.get(name) is None:
            raise AwsError("MissingParameter", f"The parameter {where}.MetricStat.{name} is required.")
    period = int(stat["Period"])
    if period < 1 or (period not in (1, 5, 10, 20, 30) and period % 60):
        raise AwsError("ValidationError", f"The parameter {where}.MetricStat.Period must be 1, 5, 10, 20, 30 or a "
                       "multiple of 60.")
    if stat["Stat"] not in STATS:
        raise AwsError("ValidationError", f"{where}.MetricStat.Stat: only {', '.join(STATS)} are emulated by localaws.")


def _statistic(stat: str, values: list[float]) -> float:
    return {"Sum": lambda: sum(values), "SampleCount": lambda: float(len(values)),
            "Average": lambda: sum(values) / len(values), "Minimum": lambda: min(values),
            "Maximum": lambda: max(values)}[stat]()


def _moto_samples(account: str, region: str, metric: dict[str, Any], dims: tuple[tuple[str, str], ...]):
    """Datapoints put with PutMetricData (moto keeps them) for exactly this metric and dimension set."""
    try:
        from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

        data = list(cloudwatch_backends[account][region].metric_data)
    except Exception:
        return
    for datum in data:
        if not isinstance(datum, MetricDatum) or datum.namespace != metric.get("Namespace") or \
                datum.name != metric.get("MetricName"):
            continue
        if tuple(sorted((d.name, d.value) for d in datum.dimensions)) != dims:
            continue
        stamp = datum.timestamp if datum.timestamp.tzinfo else datum.timestamp.replace(tzinfo=dt.timezone.utc)
        yield _epoch(stamp), float(datum.value)


def _encode_token(digest: str, query_index: int, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([digest, query_index, offset]).encode()).decode()


def _decode_token(token: str, digest: str) -> tuple[int, int]:
    """A NextToken belongs to the request it came from (same queries and time range); another is InvalidNextToken
    (API_GetMetricData, Errors)."""
    try:
        owner, query_index, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
    except Exception:
        raise AwsError("InvalidNextToken", "The service returned an invalid next token.")
    if owner != digest or not isinstance(query_index, int) or not isinstance(offset, int):
        raise AwsError("InvalidNextToken", "The service returned an invalid next token.")
    return query_index, offset
