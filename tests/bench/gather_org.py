"""The synthetic organization for `cargo xtask bench gather` (issue 13 item 7): start the local AWS, serve an
organization generated from a spec (tests/localaws/localaws/synthetic_org.py), optionally under a read-rate limit,
and say how few API calls the page sizes allow to read it.

    python tests/bench/gather_org.py minimum [--spec JSON]
    python tests/bench/gather_org.py serve [--spec JSON] [--config-rps N] [--orgs-rps N]
    python tests/bench/gather_org.py replay [--spec JSON] [--concurrency 8] [--config-rps N]

`minimum` prints the breakdown of `minimum_calls(spec)` as JSON. `serve` starts the local AWS, posts the spec (and
the quotas), prints `localaws ready URL`, then one JSON line with the spec's description and the minimum, and serves
until stdin closes or SIGTERM. `replay` reads the organization with the best pattern itself (boto3, threads), as a
reference client: its call counts, read back from `GET /_localaws/stats`, must equal the minimum, and its wall time
tells how many calls a second the emulator serves.

## The minimum (`minimum_calls`)

The best pattern of the research (shared/docs/research/scale-and-beyond-peers.md §1.4, §6.1), every count exact for
the spec (computed from the same formulas the server uses, `localaws.synthetic_org.Spec`), with A accounts, R
Regions, P = A·R pairs, N functions in K pairs, M other rules, U OUs:

1. `DescribeOrganizationConfigRules` — 1 call: the deployed rule's parameters (issue 13 item 6). The member rules'
   name `OrgConfigRule-<name>-<suffix>` is derived from its ARN (`…/<name>-<suffix>`), no extra call.
2. `DescribeAggregateComplianceByConfigRules` filtered by that member name: the rule has results in the K pairs
   with functions only ("Does not display rules that do not have compliance results"), 1,000 a page:
   max(1, ceil(K / 1000)). The M other rules cost nothing. (Unfiltered: ceil((K + P·M) / 1000).)
3. `SelectAggregateResourceConfig`, the inventory: one organization-wide query split into S shards by batches of
   at most B account ids (`accountId IN (…)`; B = 240 keeps the expression under its 4,096 characters), each shard
   over every Region: Σ_shard max(1, ceil(rows_shard / 100)) ≤ ceil(N / 100) + S. (R1: 10,000 + 21.)
   The breakdown also gives one unsharded stream (ceil(N / 100), the floor, but one sequential NextToken chain) and
   Region × batch shards (R·S shards).
4. Compliance, the cheaper of
   (a) the organization-wide `AWS::Config::ResourceCompliance` query, sharded as the inventory (one item per
       evaluated function: N rows), only when the spec has `ResourceComplianceRecorded`;
   (b) `GetAggregateComplianceDetailsByConfigRule` with `ComplianceType=NON_COMPLIANT` for every NON_COMPLIANT triple
       (known from step 2's rows): Σ_NC triple max(1, ceil(c / 100)), c its NON_COMPLIANT functions.
   (c) per shard the cheaper of (b) and the ResourceCompliance query restricted to the rule's NON_COMPLIANT items
       (`configuration.configRuleList.complianceType = 'NON_COMPLIANT'`): ceil(c_shard / 100) — what the aggregator
       does. Like (b) it reads no COMPLIANT result: COMPLIANT rows take their lifecycle columns and annotation from
       the rule's recomputed verdict (issue 13 item 1), in triples the listing shows with results.
5. Organizations, uncached: `ListRoots` 1; for the root and each of the U OUs, `ListOrganizationalUnitsForParent`
   max(1, ceil(children OUs / 20)) and `ListAccountsForParent` max(1, ceil(children accounts / 20)); then
   `ListTagsForResource` once per account (A; 3 tags, one page). (R1: 1 + 301 + 551 + 5,000 = 5,853.) With tags
   cached and a share f refreshed per run (`tag_refresh_share`), A·f tag calls.

R1 (5,000 accounts × 17 Regions, 1 M functions over all 85,000 pairs, 100 other rules, 300 OUs, 30 % of triples
NON_COMPLIANT, ResourceCompliance recorded): 1 + 85 + 10,007 + 1,537 (c) + 5,603 ≈ 17,200 calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests/localaws"))
sys.path.insert(0, str(HERE))

from local_aws import LOOPBACK_ENV, LocalAwsProcess  # noqa: E402,F401  (LOOPBACK_ENV: for gather.py)
from localaws.synthetic_org import OU_FANOUT, Spec  # noqa: E402

# The research's R1 scenario, the one issue 13's acceptance names.
R1 = {"Accounts": 5000, "Regions": 17, "Functions": 1_000_000, "OtherRules": 100, "OrganizationalUnits": 300,
      "NonCompliantShare": 0.3, "ResourceComplianceRecorded": True, "Seed": 1}
# The inventory query the aggregator runs (aggregator/src/gather.rs `inventory_query`), without its predicates.
FUNCTION_QUERY = ("SELECT resourceId, arn, accountId, awsRegion, configuration.runtime, configuration.packageType, "
                  "configuration.architectures, configuration.lastModified, tags "
                  "WHERE resourceType = 'AWS::Lambda::Function'")
COMPLIANCE_QUERY = ("SELECT accountId, awsRegion, configuration.targetResourceId, configuration.configRuleList "
                    "WHERE resourceType = 'AWS::Config::ResourceCompliance' "
                    "AND configuration.targetResourceType = 'AWS::Lambda::Function'")
ACCOUNT_BATCH = 240
SELECT_PAGE, DESCRIBE_PAGE, DETAILS_PAGE, ORGS_PAGE = 100, 1000, 100, 20


def pages(rows: int, size: int) -> int:
    """Calls to read `rows` at `size` a page: an empty listing still costs one call."""
    return max(1, math.ceil(rows / size))


def batches(accounts: int, size: int) -> list[range]:
    return [range(start, min(start + size, accounts)) for start in range(0, accounts, size)]


def minimum_calls(spec: dict[str, Any], account_batch: int = ACCOUNT_BATCH, tag_refresh_share: float = 1.0) -> dict[str, Any]:
    """The fewest calls the page sizes allow for the best pattern (module docstring), by operation, with the
    alternatives it was chosen from. `total` is the number to compare a gather's call count with."""
    s = Spec(spec)
    regions = len(s.regions)
    per_pair: dict[tuple[int, int], int] = {}
    nc_details = 0
    nc_triples = 0
    nc_functions = 0
    for a in range(s.accounts):
        for r in range(regions):
            n = s.pair_count(a, r)
            if not n:
                continue
            per_pair[(a, r)] = n
            if s.triple_nc(a, r):
                c = s.nc_count(n)
                nc_triples += 1
                nc_functions += c
                nc_details += pages(c, DETAILS_PAGE)
    shards = batches(s.accounts, account_batch)
    shard_rows = [sum(per_pair.get((a, r), 0) for a in shard for r in range(regions)) for shard in shards]
    region_shard_rows = [sum(per_pair.get((a, r), 0) for a in shard) for shard in shards for r in range(regions)]
    inventory = sum(pages(rows, SELECT_PAGE) for rows in shard_rows)
    describe = pages(len(per_pair), DESCRIBE_PAGE)
    resource_compliance = inventory if s.rc_recorded else None
    # Per shard, the cheaper of one NON_COMPLIANT-only ResourceCompliance query and a details read per
    # NON_COMPLIANT triple (what the aggregator chooses, shard by shard).
    nc_only_select = 0
    hybrid_details = 0
    for shard in shards:
        nc_pairs = [(a, r) for a in shard for r in range(regions) if (a, r) in per_pair and s.triple_nc(a, r)]
        if not nc_pairs:
            continue
        by_details = sum(pages(s.nc_count(per_pair[p]), DETAILS_PAGE) for p in nc_pairs)
        by_items = pages(sum(s.nc_count(per_pair[p]) for p in nc_pairs), SELECT_PAGE)
        if s.rc_recorded and by_items < by_details:
            nc_only_select += by_items
        else:
            hybrid_details += by_details
    options = {"NonCompliantDetails": (nc_details, 0, nc_details)}
    if resource_compliance is not None:
        options["ResourceCompliance"] = (resource_compliance, resource_compliance, 0)
        options["NonCompliantResourceCompliance"] = (nc_only_select + hybrid_details, nc_only_select, hybrid_details)
    compliance_choice = min(options, key=lambda k: options[k][0])
    compliance, compliance_select, compliance_details = options[compliance_choice]
    nodes = s.ous + 1
    ou_calls = sum(pages(len(s.child_ous(node)), ORGS_PAGE) for node in range(nodes))
    account_calls = sum(pages(len(s.child_accounts(node)), ORGS_PAGE) for node in range(nodes))
    tags = math.ceil(s.accounts * tag_refresh_share)
    by_operation = {
        "config:DescribeOrganizationConfigRules": 1,
        "config:DescribeAggregateComplianceByConfigRules": describe,
        "config:SelectAggregateResourceConfig": inventory + compliance_select,
        "config:GetAggregateComplianceDetailsByConfigRule": compliance_details,
        "organizations:ListRoots": 1,
        "organizations:ListOrganizationalUnitsForParent": ou_calls,
        "organizations:ListAccountsForParent": account_calls,
        "organizations:ListTagsForResource": tags,
    }
    by_operation = {k: v for k, v in by_operation.items() if v}
    config_calls = sum(v for k, v in by_operation.items() if k.startswith("config:"))
    return {
        "total": sum(by_operation.values()),
        "config": config_calls,
        "organizations": sum(v for k, v in by_operation.items() if k.startswith("organizations:")),
        "by_operation": by_operation,
        "steps": {"rule_parameters": 1, "describe": describe, "inventory": inventory,
                  "compliance": compliance, "compliance_via": compliance_choice,
                  "organizations_tree": 1 + ou_calls + account_calls, "account_tags": tags},
        "alternatives": {
            "describe_unfiltered": pages(len(per_pair) + s.pairs * s.other_rules, DESCRIBE_PAGE),
            "inventory_unsharded": pages(s.functions, SELECT_PAGE),
            "inventory_region_x_batch": sum(pages(rows, SELECT_PAGE) for rows in region_shard_rows),
            "compliance_resource_compliance": resource_compliance,
            "compliance_noncompliant_details": nc_details,
            "compliance_resource_compliance_noncompliant_only": (
                sum(pages(sum(s.nc_count(per_pair[(a, r)]) for a in shard for r in range(regions)
                              if (a, r) in per_pair and s.triple_nc(a, r)), SELECT_PAGE) for shard in shards)
                if s.rc_recorded else None),
        },
        "shape": {"accounts": s.accounts, "regions": regions, "pairs": s.pairs, "pairs_with_functions": len(per_pair),
                  "functions": s.functions, "other_rules": s.other_rules, "ous": s.ous, "shards": len(shards),
                  "account_batch": account_batch, "noncompliant_triples": nc_triples,
                  "noncompliant_functions": nc_functions, "member_rule": s.member_rule,
                  "resource_compliance_recorded": s.rc_recorded},
        # Config calls at a sustained rate r take config / r seconds (Organizations runs beside it).
        "minutes_at_10_per_second": round(config_calls / 10 / 60, 1),
    }


# ---------------------------------------------------------------- the local AWS


class LocalAws(LocalAwsProcess):
    """The local AWS serving a synthetic organization."""

    def organization(self, spec: dict[str, Any], config_rps: int | None = None, orgs_rps: int | None = None) -> dict[str, Any]:
        """Serves the synthetic organization of `spec` (and the read-rate quotas, when given)."""
        faults: dict[str, Any] = {}
        if config_rps:
            faults["ConfigReadQuota"] = {"RequestsPerSecond": config_rps}
        if orgs_rps:
            faults["OrganizationsReadQuota"] = {"RequestsPerSecond": orgs_rps}
        self.control("POST", "faults", faults)
        return self.control("POST", "synthetic-org", spec)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (user + system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def replay(local: LocalAws, spec: dict[str, Any], concurrency: int = 8, account_batch: int = ACCOUNT_BATCH) -> dict[str, Any]:
    """Reads the synthetic organization with the best pattern (boto3, `concurrency` threads) and returns what it
    read and how long it took. Standard retries absorb throttling."""
    import boto3
    import botocore.config

    described = local.control("GET", "synthetic-org")
    derived = described["Derived"]
    aggregator = derived["AggregatorName"]
    config = botocore.config.Config(region_name=derived["AggregatorRegion"], max_pool_connections=concurrency * 2,
                                    retries={"mode": "standard", "total_max_attempts": 20})
    local_thread = threading.local()

    def client(service: str):
        if not hasattr(local_thread, service):
            setattr(local_thread, service, boto3.client(service, endpoint_url=local.url, config=config))
        return getattr(local_thread, service)

    def drain(operation: str, member: str, **kwargs: Any) -> list[Any]:
        service = "organizations" if operation.startswith(("list_roots", "list_organizational", "list_accounts", "list_tags")) else "config"
        items, token = [], None
        while True:
            page = getattr(client(service), operation)(**kwargs, **({"NextToken": token} if token else {}))
            items += page[member]
            token = page.get("NextToken")
            if not token:
                return items

    started = time.monotonic()
    rule = client("config").describe_organization_config_rules(
        OrganizationConfigRuleNames=[described["Spec"]["Rule"]])["OrganizationConfigRules"][0]
    member_rule = "OrgConfigRule-" + rule["OrganizationConfigRuleArn"].rsplit("/", 1)[1]
    triples = drain("describe_aggregate_compliance_by_config_rules", "AggregateComplianceByConfigRules",
                    ConfigurationAggregatorName=aggregator, Limit=DESCRIBE_PAGE, Filters={"ConfigRuleName": member_rule})
    accounts = _all_accounts(described)

    def shard_query(base: str, batch: list[str]) -> str:
        return f"{base} AND accountId IN ({', '.join(repr(a) for a in batch)})"

    shards = [accounts[i:i + account_batch] for i in range(0, len(accounts), account_batch)]
    with ThreadPoolExecutor(concurrency) as pool:
        inventory = pool.map(lambda batch: len(drain("select_aggregate_resource_config", "Results",
                                                     ConfigurationAggregatorName=aggregator, Limit=SELECT_PAGE,
                                                     Expression=shard_query(FUNCTION_QUERY, batch))), shards)
        functions = sum(inventory)
        noncompliant_triples = [t for t in triples if t["Compliance"]["ComplianceType"] == "NON_COMPLIANT"]
        minimum = minimum_calls(described["Spec"], account_batch)
        if minimum["steps"]["compliance_via"] == "ResourceCompliance":
            compliance_rows = sum(pool.map(lambda batch: len(drain(
                "select_aggregate_resource_config", "Results", ConfigurationAggregatorName=aggregator,
                Limit=SELECT_PAGE, Expression=shard_query(COMPLIANCE_QUERY, batch))), shards))
        elif minimum["steps"]["compliance_via"] == "NonCompliantResourceCompliance":
            # Per shard the cheaper of its NON_COMPLIANT items (one query) and a details read per NON_COMPLIANT
            # triple, judged from the listing's counts as the aggregator judges it.
            shard_of = {account: index for index, batch in enumerate(shards) for account in batch}
            by_shard: dict[int, list[dict[str, Any]]] = {}
            for t in noncompliant_triples:
                by_shard.setdefault(shard_of[t["AccountId"]], []).append(t)
            noncompliant_query = (f"{COMPLIANCE_QUERY} AND configuration.configRuleList.configRuleName = '{member_rule}' "
                                  "AND configuration.configRuleList.complianceType = 'NON_COMPLIANT'")

            def shard_compliance(index: int) -> int:
                listed = by_shard.get(index, [])
                counts = [t["Compliance"]["ComplianceContributorCount"]["CappedCount"] for t in listed]
                if listed and pages(sum(counts), SELECT_PAGE) < sum(pages(c, DETAILS_PAGE) for c in counts):
                    # Only the accounts with a NON_COMPLIANT triple: 240 ids beside this longer query pass 4,096.
                    accounts_nc = sorted({t["AccountId"] for t in listed})
                    return len(drain("select_aggregate_resource_config", "Results", ConfigurationAggregatorName=aggregator,
                                     Limit=SELECT_PAGE, Expression=shard_query(noncompliant_query, accounts_nc)))
                return sum(len(drain(
                    "get_aggregate_compliance_details_by_config_rule", "AggregateEvaluationResults",
                    ConfigurationAggregatorName=aggregator, ConfigRuleName=member_rule, AccountId=t["AccountId"],
                    AwsRegion=t["AwsRegion"], ComplianceType="NON_COMPLIANT", Limit=DETAILS_PAGE)) for t in listed)

            compliance_rows = sum(pool.map(shard_compliance, range(len(shards))))
        else:
            compliance_rows = sum(pool.map(lambda t: len(drain(
                "get_aggregate_compliance_details_by_config_rule", "AggregateEvaluationResults",
                ConfigurationAggregatorName=aggregator, ConfigRuleName=member_rule, AccountId=t["AccountId"],
                AwsRegion=t["AwsRegion"], ComplianceType="NON_COMPLIANT", Limit=DETAILS_PAGE)), noncompliant_triples))
        organizations = _organizations(client, drain, pool)
    elapsed = time.monotonic() - started
    return {"functions": functions, "triples": len(triples), "compliance_rows": compliance_rows,
            "accounts": organizations, "seconds": round(elapsed, 1)}


def _all_accounts(described: dict[str, Any]) -> list[str]:
    """The organization's account ids in Organizations' order (the walk below reads them too, counted; the shards
    are cut from this list so that they are the ones `minimum_calls` counts)."""
    spec = Spec(described["Spec"])
    return [spec.account_id(a) for a in range(spec.accounts)]


def _organizations(client, drain, pool) -> int:
    roots = drain("list_roots", "Roots")
    pending, accounts = [r["Id"] for r in roots], []
    while pending:
        level = pending
        pending = []
        for units, members in pool.map(lambda parent: (
                drain("list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent),
                drain("list_accounts_for_parent", "Accounts", ParentId=parent)), level):
            pending += [u["Id"] for u in units]
            accounts += [a["Id"] for a in members]
    list(pool.map(lambda account: client("organizations").list_tags_for_resource(ResourceId=account), accounts))
    return len(accounts)


# ---------------------------------------------------------------- command line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["minimum", "serve", "replay"])
    parser.add_argument("--spec", default=None, help="the synthetic organization as JSON (default: R1)")
    parser.add_argument("--config-rps", type=int, default=None, help="ConfigReadQuota.RequestsPerSecond")
    parser.add_argument("--orgs-rps", type=int, default=None, help="OrganizationsReadQuota.RequestsPerSecond")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--account-batch", type=int, default=ACCOUNT_BATCH)
    args = parser.parse_args()
    spec = json.loads(args.spec) if args.spec else dict(R1)
    if args.command == "minimum":
        print(json.dumps(minimum_calls(spec, args.account_batch), indent=2))
        return
    local = LocalAws()
    try:
        described = local.organization(spec, args.config_rps, args.orgs_rps)
        if args.command == "serve":
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            print(f"localaws ready {local.url}", flush=True)
            print(json.dumps({"organization": described, "minimum": minimum_calls(spec, args.account_batch)}), flush=True)
            sys.stdin.read()  # until the driver closes our stdin
            return
        minimum = minimum_calls(spec, args.account_batch)
        cpu = local.cpu_seconds()
        read = replay(local, spec, args.concurrency, args.account_batch)
        cpu = local.cpu_seconds() - cpu
        calls = {k: v for k, v in local.stats()["Calls"].items() if k.startswith(("config:", "organizations:"))}
        total = sum(calls.values())
        print(json.dumps({"read": read, "calls_by_operation": calls, "minimum_by_operation": minimum["by_operation"],
                          "faults": local.stats()["Faults"]}, indent=2))
        print(f"replay calls={total} minimum={minimum['total']} ratio={total / minimum['total']:.3f} "
              f"seconds={read['seconds']} calls_per_second={total / max(read['seconds'], 1e-9):.0f} "
              f"server_cpu_seconds={cpu:.1f} server_cpu_ms_per_call={cpu / total * 1000:.2f}")
    finally:
        local.stop()


if __name__ == "__main__":
    main()
