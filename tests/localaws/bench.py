"""Measures the local AWS. Prints JSON.

Default: start to ready, and seeding an organization's worth of Lambda functions with Config recording on
(each create recorded as a configuration item):

    cargo xtask bench localaws     (or: python bench.py --accounts 50 --functions 100)

Listing: seed N functions in one account (`POST /_localaws/seed/lambda`) and page through them all with
boto3's ListFunctions paginator (50 a page, as Lambda pages):

    python bench.py --list-functions 10000

Per-request latency: N sequential requests over one boto3 client (one pooled connection), and over one
raw HTTP/1.1 connection to the health endpoint:

    python bench.py --latency 300
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import boto3
import botocore.config

os.environ.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
RUNTIMES = ["python3.8", "python3.12", "nodejs20.x", "nodejs22.x", "java17", "provided.al2023", "image"]


def post(url: str, path: str, payload: dict) -> dict:
    request = urllib.request.Request(url + path, method="POST", data=json.dumps(payload).encode())
    with urllib.request.urlopen(request, timeout=900) as response:
        return json.loads(response.read())


def client(url: str, service: str, account: str | None = None):
    config = botocore.config.Config(region_name="us-east-1", retries={"total_max_attempts": 1})
    made = boto3.client(service, endpoint_url=url, config=config)
    if account:
        made.meta.events.register("before-sign.*.*",
                                  lambda request, **_: request.headers.__setitem__("x-moto-account-id", account))
    return made


def bench_seeding(url: str, accounts_count: int, functions: int) -> dict:
    accounts = [f"{100000000000 + i:012d}" for i in range(accounts_count)]
    started = time.perf_counter()
    for account in accounts:
        config = client(url, "config", account)
        config.put_configuration_recorder(ConfigurationRecorder={
            "name": "default", "roleARN": f"arn:aws:iam::{account}:role/config",
            "recordingGroup": {"allSupported": True}})
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config"})
        config.start_configuration_recorder(ConfigurationRecorderName="default")
    created = post(url, "/_localaws/seed/lambda", {"Accounts": accounts, "Region": "us-east-1",
                                                   "FunctionsPerAccount": functions, "Runtimes": RUNTIMES})["Created"]
    seeded = time.perf_counter() - started
    return {"accounts": accounts_count, "functions": created, "seed_s": round(seeded, 2),
            "functions_per_s": round(created / seeded, 1)}


def bench_listing(url: str, count: int) -> dict:
    started = time.perf_counter()
    post(url, "/_localaws/seed/lambda", {"Accounts": ["123456789012"], "Region": "us-east-1",
                                         "FunctionsPerAccount": count, "Runtimes": RUNTIMES})
    seeded = time.perf_counter() - started
    lam = client(url, "lambda")
    pages, names, page_times = 0, 0, []
    started = last = time.perf_counter()
    for page in lam.get_paginator("list_functions").paginate():  # one request per page
        now = time.perf_counter()
        page_times.append(now - last)
        last = now
        pages += 1
        names += len(page["Functions"])
    listed = time.perf_counter() - started
    return {"functions": count, "seed_s": round(seeded, 2), "pages": pages, "listed": names,
            "list_all_s": round(listed, 3), "page_ms_median": round(statistics.median(page_times) * 1000, 2),
            "page_ms_max": round(max(page_times) * 1000, 2)}


def bench_latency(url: str, count: int) -> dict:
    lam = client(url, "lambda")
    lam.list_functions()  # connect and warm up
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        lam.list_functions(MaxItems=1)
        samples.append(time.perf_counter() - started)
    parsed = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    raw, reconnects = [], 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            connection.request("GET", "/_localaws/health")
            response = connection.getresponse()
            response.read()
        except (http.client.HTTPException, ConnectionError):
            reconnects += 1
            connection.close()
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            continue
        if response.getheader("Connection", "").lower() == "close":
            reconnects += 1
            connection.close()
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        raw.append(time.perf_counter() - started)
    connection.close()
    return {"requests": count,
            "boto3_list_functions_ms_median": round(statistics.median(samples) * 1000, 2),
            "boto3_list_functions_ms_p90": round(sorted(samples)[int(0.9 * len(samples))] * 1000, 2),
            "raw_health_ms_median": round(statistics.median(raw) * 1000, 2),
            "raw_health_ms_p90": round(sorted(raw)[int(0.9 * len(raw))] * 1000, 2),
            "raw_connections_closed_by_server": reconnects}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--functions", type=int, default=100)
    parser.add_argument("--list-functions", type=int, default=0, metavar="N",
                        help="seed N functions in one account and time listing them all")
    parser.add_argument("--latency", type=int, default=0, metavar="N", help="time N sequential requests")
    args = parser.parse_args()

    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "localaws", "--port", "0"], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)))
    url = server.stdout.readline().split()[-1]
    with urllib.request.urlopen(url + "/_localaws/health", timeout=10):
        ready = time.perf_counter() - started
    result: dict = {"start_to_ready_s": round(ready, 2)}
    try:
        if args.list_functions:
            result["list_functions"] = bench_listing(url, args.list_functions)
        if args.latency:
            result["latency"] = bench_latency(url, args.latency)
        if not (args.list_functions or args.latency):
            result.update(bench_seeding(url, args.accounts, args.functions))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
