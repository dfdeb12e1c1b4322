"""Cold start of a Lambda bootstrap on the local Runtime API: from spawning the process to its first
answered invocation (an empty event, which the rule refuses at once without any AWS call, so the
time is the runtime's initialisation plus one round trip). Prints JSON.

    python coldstart.py path/to/bootstrap [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

ARN = "arn:aws:lambda:us-east-1:123456789012:function:coldstart"


def control(url: str, method: str, path: str, payload=None):
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    server = subprocess.Popen([sys.executable, "-m", "localaws", "--port", "0"], cwd=here, stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().split()[-1]
    samples = []
    try:
        for _ in range(args.runs):
            control(url, "POST", "/_localaws/reset")
            api = control(url, "POST", "/_localaws/runtime/bind", {"FunctionArn": ARN})["RuntimeApi"]
            env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": api, "AWS_LAMBDA_FUNCTION_NAME": "coldstart",
                   "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                   "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/coldstart", "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                   "AWS_ENDPOINT_URL": url, "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
            # The event waits in the queue, as an asynchronous invocation would for a new sandbox.
            control(url, "POST", "/_localaws/runtime/enqueue", {"FunctionArn": ARN, "Event": {}})
            started = time.perf_counter()
            process = subprocess.Popen([args.bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while True:
                    invocations = control(url, "GET", f"/_localaws/runtime/invocations?FunctionArn={ARN}")["Invocations"]
                    if invocations and invocations[0]["Attempts"] and invocations[0]["Attempts"][0]["Outcome"] != "running":
                        break
                    if time.perf_counter() - started > 30:
                        raise SystemExit("the bootstrap did not answer within 30 s")
                    time.sleep(0.002)
                samples.append((time.perf_counter() - started) * 1000)
            finally:
                process.kill()
                process.wait()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps({"bootstrap": args.bootstrap, "runs": len(samples), "first_response_ms_median": round(statistics.median(samples), 1),
                      "first_response_ms_max": round(max(samples), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
