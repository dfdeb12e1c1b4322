"""Measures the local AWS: start to ready, and seeding an organization's worth of Lambda functions
with Config recording on (each create recorded as a configuration item). Prints JSON.

    cargo xtask bench localaws     (or: python bench.py --accounts 50 --functions 100)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.config

os.environ.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--functions", type=int, default=100)
    args = parser.parse_args()

    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "localaws", "--port", "0"], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)))
    url = server.stdout.readline().split()[-1]
    with urllib.request.urlopen(url + "/_localaws/health", timeout=10):
        ready = time.perf_counter() - started
    try:
        accounts = [f"{100000000000 + i:012d}" for i in range(args.accounts)]
        seed_started = time.perf_counter()
        for account in accounts:
            config = boto3.client("config", endpoint_url=url, config=botocore.config.Config(region_name="us-east-1"))
            config.meta.events.register("before-sign.*.*", lambda request, a=account, **_: request.headers.__setitem__("x-moto-account-id", a))
            config.put_configuration_recorder(ConfigurationRecorder={
                "name": "default", "roleARN": f"arn:aws:iam::{account}:role/config",
                "recordingGroup": {"allSupported": True}})
            config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config"})
            config.start_configuration_recorder(ConfigurationRecorderName="default")
        request = urllib.request.Request(url + "/_localaws/seed/lambda", method="POST", data=json.dumps({
            "Accounts": accounts, "Region": "us-east-1", "FunctionsPerAccount": args.functions,
            "Runtimes": ["python3.8", "python3.12", "nodejs20.x", "nodejs22.x", "java17", "provided.al2023", "image"],
        }).encode())
        with urllib.request.urlopen(request, timeout=600) as response:
            created = json.loads(response.read())["Created"]
        seeded = time.perf_counter() - seed_started
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps({"start_to_ready_s": round(ready, 2), "accounts": args.accounts, "functions": created,
                      "seed_s": round(seeded, 2), "functions_per_s": round(created / seeded, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
