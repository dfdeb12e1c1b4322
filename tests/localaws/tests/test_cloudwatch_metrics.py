"""CloudWatch GetMetricData over seeded AWS/Lambda Invocations (localaws/cloudwatch.py), through boto3 on each of
CloudWatch's three wire protocols: AWS JSON 1.0 (boto3's choice), Smithy RPC v2 CBOR (the Rust SDK's) and query.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-protocols-faq.html
"""

from __future__ import annotations

import datetime as dt

import botocore.exceptions
import botocore.model
import pytest

from conftest import ADMIN, REGION

OTHER = "222233334444"
TODAY = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def day(offset: int) -> str:
    return (TODAY - dt.timedelta(days=offset)).date().isoformat()


def query(query_id: str, function: str, period: int = 86400, stat: str = "Sum", resource: str | None = None) -> dict:
    dimensions = [{"Name": "FunctionName", "Value": function}]
    if resource:
        dimensions.append({"Name": "Resource", "Value": resource})
    return {"Id": query_id, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                                      "Dimensions": dimensions}, "Period": period, "Stat": stat}}


def seed(aws, series: list[dict], account: str = ADMIN) -> None:
    aws.control("POST", "/_localaws/cloudwatch/invocations", {"Account": account, "Region": REGION, "Series": series})


def error_of(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call(**kwargs)
    response = error.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(params=["json", "smithy-rpc-v2-cbor", "query"])
def cloudwatch(request, aws, monkeypatch):
    """A boto3 CloudWatch client speaking one protocol: botocore picks the first protocol of its priority list that
    the service model offers (json, then rpc-v2-cbor, then query), so narrowing the list selects one."""
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", (request.param,))
    client = aws.client("cloudwatch")
    assert client.meta.service_model.resolved_protocol == request.param
    return client


def test_invocations_sum_per_day_missing_days_have_no_datapoint(aws, cloudwatch):
    seed(aws, [{"FunctionName": "hot", "Days": {day(1): 120, day(2): 80, day(5): 0.0, day(40): 9}},
               {"FunctionName": "aliased", "Resource": "aliased:live", "Days": {day(3): 7}},
               {"FunctionName": "aliased", "Days": {day(3): 1}}])
    start, end = TODAY - dt.timedelta(days=30), TODAY
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[query("daily", "hot"), query("month", "hot", period=30 * 86400), query("cold", "idle"),
                           query("fn", "aliased", period=30 * 86400),
                           query("alias", "aliased", period=30 * 86400, resource="aliased:live")],
        StartTime=start, EndTime=end)
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    daily = results["daily"]
    # Newest first (ScanBy defaults to TimestampDescending); a day seeded with 0 is a datapoint of 0, a day not
    # seeded (and day 40, outside the window) is none; each timestamp is the start of its period.
    assert daily["Timestamps"] == [TODAY - dt.timedelta(days=d) for d in (1, 2, 5)]
    assert daily["Values"] == [120.0, 80.0, 0.0]
    assert daily["StatusCode"] == "Complete" and daily["Label"] == "Invocations"
    assert (results["month"]["Timestamps"], results["month"]["Values"]) == ([start], [200.0])
    assert (results["cold"]["Timestamps"], results["cold"]["Values"], results["cold"]["StatusCode"]) == ([], [], "Complete")
    # Invocations of an alias count in the function's FunctionName series and in its own (FunctionName, Resource).
    assert results["fn"]["Values"] == [8.0] and results["alias"]["Values"] == [7.0]
    assert "NextToken" not in answer
    ascending = cloudwatch.get_metric_data(MetricDataQueries=[query("daily", "hot")], StartTime=start, EndTime=end,
                                           ScanBy="TimestampAscending")
    assert ascending["MetricDataResults"][0]["Values"] == [0.0, 80.0, 120.0]
    # Metrics of another account are not the caller's.
    other = aws.client("cloudwatch", OTHER).get_metric_data(MetricDataQueries=[query("daily", "hot")], StartTime=start,
                                                              EndTime=end)
    assert other["MetricDataResults"][0]["Values"] == []


def test_at_most_500_queries_a_call_with_valid_ids(aws, cloudwatch):
    seed(aws, [{"FunctionName": f"fn-{i:04d}", "Days": {day(1): i}} for i in range(500)])
    window = {"StartTime": TODAY - dt.timedelta(days=30), "EndTime": TODAY}
    answer = cloudwatch.get_metric_data(MetricDataQueries=[query(f"q{i}", f"fn-{i:04d}", 30 * 86400) for i in range(500)],
                                        **window)
    assert [r["Values"] for r in answer["MetricDataResults"]] == [[float(i)] for i in range(500)]
    code, message, status = error_of(cloudwatch.get_metric_data,
                                     MetricDataQueries=[query(f"q{i}", "x") for i in range(501)], **window)
    assert (code, status) == ("ValidationError", 400) and "500" in message
    for bad in ("Q1", "1q", "q-1"):  # the first character a lowercase letter; letters, digits, underscores
        assert error_of(cloudwatch.get_metric_data, MetricDataQueries=[query(bad, "x")], **window)[0] == "ValidationError"
    assert error_of(cloudwatch.get_metric_data, MetricDataQueries=[query("a", "x"), query("a", "y")],
                    **window)[0] == "ValidationError"
    assert error_of(cloudwatch.get_metric_data, MetricDataQueries=[query("a", "x", period=90)], **window)[0] == "ValidationError"
    assert error_of(cloudwatch.get_metric_data, MetricDataQueries=[query("a", "x")], StartTime=TODAY,
                    EndTime=TODAY - dt.timedelta(days=1))[0] == "InvalidParameterValue"
    assert error_of(cloudwatch.get_metric_data, MetricDataQueries=[{"Id": "e", "Expression": "SUM(METRICS())"}],
                    **window)[0] == "ValidationError"


def test_results_page_at_max_datapoints_with_a_next_token(aws, cloudwatch):
    seed(aws, [{"FunctionName": name, "Days": {day(d): d for d in range(1, 11)}} for name in ("a", "b", "c")])
    request = {"MetricDataQueries": [query("a", "a"), query("b", "b"), query("c", "c")],
               "StartTime": TODAY - dt.timedelta(days=30), "EndTime": TODAY, "ScanBy": "TimestampAscending",
               "MaxDatapoints": 12}
    first = cloudwatch.get_metric_data(**request)
    assert [(r["Id"], len(r["Values"]), r["StatusCode"]) for r in first["MetricDataResults"]] == \
        [("a", 10, "Complete"), ("b", 2, "PartialData")]
    second = cloudwatch.get_metric_data(**request, NextToken=first["NextToken"])
    assert [(r["Id"], len(r["Values"]), r["StatusCode"]) for r in second["MetricDataResults"]] == \
        [("b", 8, "Complete"), ("c", 4, "PartialData")]
    merged: dict[str, list[float]] = {}
    for page in cloudwatch.get_paginator("get_metric_data").paginate(**request):
        for result in page["MetricDataResults"]:
            merged.setdefault(result["Id"], []).extend(result["Values"])
    assert merged == {name: [float(d) for d in range(10, 0, -1)] for name in ("a", "b", "c")}
    # A token belongs to its request.
    other = {**request, "MetricDataQueries": [query("a", "a")]}
    assert error_of(cloudwatch.get_metric_data, **other, NextToken=first["NextToken"])[0] == "InvalidNextToken"
    assert error_of(cloudwatch.get_metric_data, **request, NextToken="bogus")[0] == "InvalidNextToken"


def test_a_call_returns_at_most_100800_datapoints(aws):
    # "as many as 100,800 data points" a call (API_GetMetricData): a larger MaxDatapoints still pages there.
    series = [{"FunctionName": f"fn-{i:03d}", "Days": {day(d): 1 for d in range(1, 401)}} for i in range(260)]
    for start in range(0, 260, 65):
        seed(aws, series[start:start + 65])
    cloudwatch = aws.client("cloudwatch")
    request = {"MetricDataQueries": [query(f"q{i}", f"fn-{i:03d}") for i in range(260)],
               "StartTime": TODAY - dt.timedelta(days=420), "EndTime": TODAY, "MaxDatapoints": 200_000}
    first = cloudwatch.get_metric_data(**request)
    assert sum(len(r["Values"]) for r in first["MetricDataResults"]) == 100_800 and first["NextToken"]
    second = cloudwatch.get_metric_data(**request, NextToken=first["NextToken"])
    assert sum(len(r["Values"]) for r in second["MetricDataResults"]) == 260 * 400 - 100_800
    assert "NextToken" not in second


def test_faults_throttle_and_deny_get_metric_data(aws, cloudwatch):
    # CloudWatch throttling is the query protocol's `Throttling` 400 on every protocol (JSON and CBOR name it in
    # x-amzn-query-error); botocore retries it as throttling.
    seed(aws, [{"FunctionName": "hot", "Days": {day(1): 3}}])
    request = {"MetricDataQueries": [query("a", "hot")], "StartTime": TODAY - dt.timedelta(days=7), "EndTime": TODAY}
    aws.control("POST", "/_localaws/faults", {"Rules": [{"Service": "cloudwatch", "Operation": "GetMetricData",
                                                         "Throttle": 1.0}]})
    assert error_of(cloudwatch.get_metric_data, **request)[::2] == ("Throttling", 400)
    assert aws.control("GET", "/_localaws/faults")["Injected"] == {"throttle:monitoring:GetMetricData": 1}
    aws.control("POST", "/_localaws/faults", {"Seed": 1, "Rules": [{"Service": "monitoring", "Throttle": 0.5}]})
    patient = aws.client("cloudwatch", retries=10)
    assert all(patient.get_metric_data(**request)["MetricDataResults"][0]["Values"] == [3.0] for _ in range(3))
    assert aws.control("GET", "/_localaws/faults")["Injected"]["throttle:monitoring:GetMetricData"] > 0
    aws.control("POST", "/_localaws/faults", {"DenyAccounts": [ADMIN]})
    assert error_of(cloudwatch.get_metric_data, **request)[0] == "AccessDeniedException"
    aws.control("POST", "/_localaws/faults", {})
    assert cloudwatch.get_metric_data(**request)["MetricDataResults"][0]["Values"] == [3.0]


def test_put_metric_data_datapoints_are_read_too(aws):
    cloudwatch = aws.client("cloudwatch")
    stamp = TODAY - dt.timedelta(hours=5)
    cloudwatch.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Orders", "Dimensions": [{"Name": "Shop", "Value": "a"}], "Value": v, "Timestamp": stamp}
        for v in (1.0, 2.0, 4.0)])
    metric = {"Namespace": "App", "MetricName": "Orders", "Dimensions": [{"Name": "Shop", "Value": "a"}]}
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": f"s{i}", "MetricStat": {"Metric": metric, "Period": 3600, "Stat": stat}}
                           for i, stat in enumerate(("Sum", "SampleCount", "Maximum"))],
        StartTime=TODAY - dt.timedelta(days=1), EndTime=TODAY)
    assert [r["Values"] for r in answer["MetricDataResults"]] == [[7.0], [3.0], [4.0]]
