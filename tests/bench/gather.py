"""`cargo xtask bench gather`: the release aggregator against a synthetic organization on the local AWS
(tests/bench/gather_org.py), its API calls printed against the minimum the page sizes allow, its peak RSS, and its
wall time under an injected Config read limit, extrapolated to the full organization.

    cargo xtask bench gather [-- --scale-spec JSON --rate-spec JSON --config-rps 10]
    python tests/bench/gather.py --aggregator-bin target/release/aggregator

Two runs, each on a fresh local AWS:
1. scale: the organization of the issue (default R1: 5,000 accounts x 17 Regions, 1 M functions, 100 other rules,
   ResourceCompliance recorded), no rate limit: calls by operation (`GET /_localaws/stats`), the minimum
   (`gather_org.minimum_calls`), peak RSS (the child's ru_maxrss), wall time, the run's exit code and rows;
2. rate: a smaller organization of the same shape under `ConfigReadQuota` (default 10 calls a second): its wall time,
   and that time scaled by the ratio of Config calls (the run is bound by the Config read rate) — the estimate for the
   scale organization at that rate.

The last line, for scripts: `gather calls=N minimum=M ratio=R rss_mib=X`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gather_org  # noqa: E402  (after sys.path)

RULE = "lambda-runtime-lifecycle"
R1 = gather_org.R1
# The same shape, ~1/25 of R1's accounts: about 1,000 Config calls, under two minutes at 10 a second.
SMALL = {**R1, "Accounts": 200, "Functions": 40_000, "OrganizationalUnits": 12}


def run_aggregator(binary: Path, local: gather_org.LocalAws, described: dict[str, Any], out: Path,
                   extra: list[str]) -> dict[str, Any]:
    """One `aggregator run` against the synthetic organization; its exit code, summary, wall time and peak RSS."""
    env = {"PATH": os.environ.get("PATH", ""), **gather_org.LOOPBACK_ENV, "AWS_ENDPOINT_URL": local.url,
           "AWS_REGION": described["Derived"]["AggregatorRegion"], "RUST_LOG": "warn"}
    before = local.stats()
    with tempfile.TemporaryFile("w+") as stdout_file, tempfile.TemporaryFile("w+") as stderr_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(binary), "run", "--config-aggregator", described["Derived"]["AggregatorName"], "--rule", RULE,
             "--output", str(out), *extra],
            env=env, stdout=stdout_file, stderr=stderr_file, text=True)
        # wait4: this child's own peak RSS (ru_maxrss, KiB), not the largest of every child so far.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout_file.seek(0)
        stderr_file.seek(0)
        stdout, stderr = stdout_file.read(), stderr_file.read()
    after = local.stats()
    calls = {key: count - before["Calls"].get(key, 0) for key, count in after["Calls"].items()}
    calls = {key: count for key, count in sorted(calls.items()) if count}
    summary: dict[str, Any] = {}
    try:
        whole = json.loads(stdout)
        summary = whole if isinstance(whole, dict) else {}
    except json.JSONDecodeError:
        pass
    for line in [] if summary else reversed(stdout.splitlines()):
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            summary = parsed
            break
    return {"exit": process.returncode, "seconds": seconds, "calls": calls, "total": sum(calls.values()),
            "config": sum(v for k, v in calls.items() if k.startswith("config:")),
            "rss_kib": usage.ru_maxrss, "summary": summary, "stderr_tail": stderr[-2000:]}


def scenario(binary: Path, spec: dict[str, Any], config_rps: int | None,
             extra: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    local = gather_org.LocalAws()
    try:
        described = local.organization(spec, config_rps=config_rps)
        with tempfile.TemporaryDirectory(prefix="bench-gather-") as out:
            result = run_aggregator(binary, local, described, Path(out), extra)
    finally:
        local.stop()
    return result, gather_org.minimum_calls(spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aggregator-bin", type=Path, required=True)
    parser.add_argument("--scale-spec", default=json.dumps(R1), help="the organization counted (JSON)")
    parser.add_argument("--rate-spec", default=json.dumps(SMALL), help="the organization timed under the limit (JSON)")
    parser.add_argument("--config-rps", type=int, default=10, help="the injected Config read limit (calls a second)")
    args = parser.parse_args()
    scale_spec, rate_spec = json.loads(args.scale_spec), json.loads(args.rate_spec)

    print(f"==> scale: {json.dumps(scale_spec)}", file=sys.stderr)
    # Counted unthrottled: the aggregator's own limits raised too (they would make it a rate run).
    scale, minimum = scenario(args.aggregator_bin, scale_spec, None,
                              ["--config-calls-per-second", "1000", "--organizations-calls-per-second", "1000"])
    print(f"==> rate: {json.dumps(rate_spec)} under ConfigReadQuota {args.config_rps}/s", file=sys.stderr)
    # The aggregator paced just below the server's limit (at exactly the limit, timing jitter makes the server
    # refuse calls, and the SDK's three attempts do not always get through).
    below = str(max(1, args.config_rps - 1))
    rate, rate_minimum = scenario(args.aggregator_bin, rate_spec, args.config_rps, ["--config-calls-per-second", below])

    for name, r in (("scale", scale), ("rate", rate)):
        if r["exit"] not in (0, 2):
            print(f"{name}: the aggregator exited {r['exit']}: {r['stderr_tail']}", file=sys.stderr)
    print(f"{'operation':52} {'calls':>9} {'minimum':>9}")
    for op in sorted(set(scale["calls"]) | set(minimum["by_operation"])):
        print(f"{op:52} {scale['calls'].get(op, 0):>9,} {minimum['by_operation'].get(op, 0):>9,}")
    print(f"{'total':52} {scale['total']:>9,} {minimum['total']:>9,}")
    rows = scale["summary"].get("rows")
    print(f"scale: {scale['seconds']:.1f} s unthrottled, exit {scale['exit']}, rows {rows}, "
          f"peak RSS {scale['rss_kib'] / 1024:.1f} MiB; Describe calls "
          f"{scale['calls'].get('config:DescribeAggregateComplianceByConfigRules', 0)} with "
          f"{scale_spec.get('OtherRules', 0)} other rules")
    per_config_call = rate["seconds"] / max(rate["config"], 1)
    estimate = per_config_call * scale["config"]
    print(f"rate: {rate['seconds']:.1f} s for {rate['config']:,} Config calls at {args.config_rps}/s "
          f"(minimum {rate_minimum['config']:,}), exit {rate['exit']}; scaled to the scale organization's "
          f"{scale['config']:,} Config calls: {estimate / 60:.1f} min")
    print(json.dumps({"scale": {k: v for k, v in scale.items() if k != "stderr_tail"},
                      "rate": {k: v for k, v in rate.items() if k != "stderr_tail"}, "minimum": minimum,
                      "estimate_minutes": estimate / 60}))
    print(f"gather calls={scale['total']} minimum={minimum['total']} ratio={scale['total'] / minimum['total']:.3f} "
          f"rss_mib={scale['rss_kib'] / 1024:.1f}")
    return 0 if scale["exit"] in (0, 2) and rate["exit"] in (0, 2) else 1


if __name__ == "__main__":
    sys.exit(main())
