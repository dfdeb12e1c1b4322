"""A synthetic organization: thousands of accounts, a million Lambda functions and a hundred other Config rules,
generated on the fly from a compact spec and served through the Config aggregator APIs and Organizations, for
benchmarks of the aggregator's call pattern (issue 13 item 7). Nothing is stored per function: every row is
computed from its position by formula, so a page costs O(page) and memory stays small whatever the size.

Opt-in: `POST /_localaws/synthetic-org {spec}` turns it on, `DELETE` turns it off, `GET` describes it. While on,
Config calls from the management account in the aggregator's Region that name the synthetic aggregator, and
Organizations reads from the management account, are answered from it; everything else goes where it went before.

The model (all indexes 0-based; `h(...)` is a seeded 64-bit mix, `u(...)` = h/2^64 in [0, 1)):

- Accounts: index 0 is the management account (`ManagementAccount`, default 123456789012); index a >= 1 is
  account id `200000000000 + (Seed mod 1000) * 10000 + a`. Regions: the spec's names in the order given (a count n
  takes the first n of the 17 Regions enabled by default). Every listing and every NextToken follows index order.
- Pairs: p = a * R + r for account a and Region r (P = A * R pairs). Of them, K = min(PairsWithFunctions, P,
  Functions) hold functions, spread evenly: pair p holds functions iff floor((p+1)K/P) > floor(pK/P), and is then
  the j-th such pair, j = floor(pK/P). With q = N div K and e = N mod K, pair j holds q+1 functions if j < e, else
  q; functions before it: j*q + min(j, e). (R1: 1,000,000 functions over all 85,000 pairs: q = 11, e = 65,000, so
  65,000 pairs of 12 and 20,000 of 11.)
- Function k of a pair (0 <= k < n) is named `fn-<k zero-padded>-<6 hex of h>`, so names sort in k order; its
  global index f = (functions before the pair) + k seeds its runtime, architecture, date and tags.
- The rule (`OrgConfigRule-<Rule>-<8-char suffix>` in every account) has results in every pair that holds
  functions. The triple is NON_COMPLIANT iff u(pair) < NonCompliantShare; then c = max(1, round(n *
  NonCompliantFunctionShare)) of its n functions are NON_COMPLIANT, evenly spread: k is NON_COMPLIANT iff
  floor((k+1)c/n) > floor(kc/n). Every other function is COMPLIANT. A NON_COMPLIANT function has a deprecated
  runtime, a COMPLIANT one a supported runtime or an image.
- Other rules (`OtherRules`, named `securityhub-check-<i:03d>-<suffix>`) have results in every pair (the
  research's K = 100 rules with results per pair), NON_COMPLIANT iff u(pair, rule) < NonCompliantShare, each over
  three S3 buckets; they evaluate no Lambda function.
- OUs: U organizational units in a tree of fan-out 20 under the root: OU u's parent is the root if u < 20, else
  OU (u div 20) - 1. Account a's parent is the root if a mod (U+1) = 0, else OU (a mod (U+1)) - 1.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import json
import threading
from typing import Any, Callable, Iterator

from . import resource_compliance, sql
from .protocol import AwsError, validate_input

LAMBDA_TYPE = "AWS::Lambda::Function"
COMPLIANCE_TYPE = resource_compliance.COMPLIANCE_TYPE
# The 17 Regions enabled by default in every account (opt-in Regions excluded).
DEFAULT_REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "eu-west-1", "eu-west-2",
                   "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
                   "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "sa-east-1"]
DEPRECATED_RUNTIMES = ["python3.7", "python3.8", "nodejs14.x", "nodejs16.x", "java8", "go1.x", "ruby2.7", "dotnet6"]
# Supported well past today under the rule's default parameters (deprecated from 2028 on), so that a function's
# runtime agrees with its pair's compliance, as the rule's verdicts would: the aggregator recomputes COMPLIANT rows
# and asks Config about any the catalog fails. (nodejs20.x was deprecated on 2026-04-30.)
SUPPORTED_RUNTIMES = ["python3.12", "python3.13", "nodejs24.x", "java21", "provided.al2023", "image"]
# "Maximum number of accounts in an aggregator: 10,000. Not adjustable." (Config quotas,
# https://docs.aws.amazon.com/general/latest/gr/awsconfig.html).
MAX_ACCOUNTS = 10_000
OU_FANOUT = 20
BASE_TIME = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.timezone.utc)

SPEC_DEFAULTS: dict[str, Any] = {
    "Accounts": 5000, "Regions": 17, "Functions": 1_000_000, "PairsWithFunctions": None, "OtherRules": 100,
    "Rule": "lambda-runtime-lifecycle", "AggregatorName": "synthetic-org", "AggregatorRegion": "us-east-1",
    "ManagementAccount": "123456789012", "Seed": 0, "NonCompliantShare": 0.3, "NonCompliantFunctionShare": 0.5,
    "OrganizationalUnits": 300, "ResourceComplianceRecorded": False, "InputParameters": "{}",
}

_M = (1 << 64) - 1
# A function's last modification: one of the 1,500 days before BASE_TIME ("YYYY-MM-DD", epoch seconds at midnight).
_DAYS = [((BASE_TIME - dt.timedelta(days=d + 1)).strftime("%Y-%m-%d"),
          int((BASE_TIME - dt.timedelta(days=d + 1)).replace(hour=0).timestamp())) for d in range(1500)]


def _mix(x: int) -> int:
    """splitmix64's finalizer."""
    x = (x + 0x9E3779B97F4A7C15) & _M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M
    return x ^ (x >> 31)


def _token(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _untoken(token: str | None, arity: int, error: Callable[[], AwsError]) -> list[Any] | None:
    """The key a NextToken names: `arity` values, the first a string (what the token belongs to), the rest
    non-negative integers. Anything else is `error()`."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except Exception:
        key = None
    if (not isinstance(key, list) or len(key) != arity or not isinstance(key[0], str)
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in key[1:])):
        raise error()
    return key


def _config_token_error() -> AwsError:
    return AwsError("InvalidNextTokenException", "The nextToken provided is invalid")


def _orgs_token_error() -> AwsError:
    # Organizations' InvalidInputException, Reason INVALID_NEXT_TOKEN ("You specified an invalid value for
    # nextToken. You must get the value from the response to a previous call to the API.")
    # (https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html#API_ListAccounts_Errors)
    return AwsError("InvalidInputException", "You specified an invalid value for nextToken. You must get the value "
                    "from the response to a previous call to the API.", reason="INVALID_NEXT_TOKEN")


class Spec:
    """A validated synthetic-organization spec and every formula of the module docstring."""

    def __init__(self, raw: dict[str, Any]):
        unknown = set(raw) - set(SPEC_DEFAULTS)
        if unknown:
            raise AwsError("ValidationException", f"synthetic-org: unknown keys {sorted(unknown)}; known: {sorted(SPEC_DEFAULTS)}")
        spec = {**SPEC_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}

        def whole(name: str, low: int, high: int | None = None) -> int:
            value = spec[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
                raise AwsError("ValidationException", f"synthetic-org: {name} must be a whole number in [{low}, {high or 'inf'}]")
            return value

        def share(name: str) -> float:
            value = spec[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise AwsError("ValidationException", f"synthetic-org: {name} must be a number in [0, 1]")
            return float(value)

        self.accounts = whole("Accounts", 1, MAX_ACCOUNTS)
        regions = spec["Regions"]
        if isinstance(regions, int) and not isinstance(regions, bool):
            if not 1 <= regions <= len(DEFAULT_REGIONS):
                raise AwsError("ValidationException", f"synthetic-org: Regions as a count must be in [1, {len(DEFAULT_REGIONS)}]")
            regions = DEFAULT_REGIONS[:regions]
        if (not isinstance(regions, list) or not regions or len(set(regions)) != len(regions)
                or not all(isinstance(r, str) and r for r in regions)):
            raise AwsError("ValidationException", "synthetic-org: Regions must be a count or a list of distinct names")
        self.regions: list[str] = list(regions)
        self.region_index = {name: i for i, name in enumerate(self.regions)}
        self.functions = whole("Functions", 0)
        self.other_rules = whole("OtherRules", 0, 1000)
        self.ous = whole("OrganizationalUnits", 0, 100_000)
        self.seed = whole("Seed", 0)
        self.nc_share = share("NonCompliantShare")
        self.nc_function_share = share("NonCompliantFunctionShare")
        for name in ("Rule", "AggregatorName", "AggregatorRegion", "InputParameters"):
            if not isinstance(spec[name], str) or not spec[name]:
                raise AwsError("ValidationException", f"synthetic-org: {name} must be a non-empty string")
        self.rule, self.aggregator, self.aggregator_region = spec["Rule"], spec["AggregatorName"], spec["AggregatorRegion"]
        self.input_parameters = spec["InputParameters"]
        self.management = spec["ManagementAccount"]
        if not (isinstance(self.management, str) and len(self.management) == 12 and self.management.isdigit()):
            raise AwsError("ValidationException", "synthetic-org: ManagementAccount must be a 12-digit account id")
        if not isinstance(spec["ResourceComplianceRecorded"], bool):
            raise AwsError("ValidationException", "synthetic-org: ResourceComplianceRecorded must be true or false")
        self.rc_recorded = spec["ResourceComplianceRecorded"]
        self.account_base = 200_000_000_000 + (self.seed % 1000) * 10_000
        if self.account_base < int(self.management) < self.account_base + self.accounts:
            raise AwsError("ValidationException", "synthetic-org: ManagementAccount collides with a member account id")
        self.pairs = self.accounts * len(self.regions)
        wanted = spec["PairsWithFunctions"]
        if wanted is not None:
            spec["PairsWithFunctions"] = wanted = whole("PairsWithFunctions", 1, self.pairs)
        self.occupied = min(wanted if wanted is not None else self.pairs, self.pairs, self.functions)
        if self.occupied:
            self.per_pair, self.extra = divmod(self.functions, self.occupied)
        else:
            self.per_pair, self.extra = 0, 0
        widest = self.per_pair + (1 if self.extra else 0)
        self.name_width = max(5, len(str(max(widest - 1, 0))))
        digest = hashlib.sha256(f"{self.seed}/{self.rule}".encode()).hexdigest()
        self.suffix = "".join(c if c.isalpha() else "abcdefghij"[int(c)] for c in digest[:8])
        self.member_rule = f"OrgConfigRule-{self.rule}-{self.suffix}"
        self.other_names = [f"securityhub-check-{i:03d}-{digest[8 + i % 40:14 + i % 40]}" for i in range(self.other_rules)]
        self.rule_names = [self.member_rule, *self.other_names]
        self.org_id = "o-" + "".join(c if c.isalpha() else "klmnopqrst"[int(c)] for c in digest[20:30])
        self.root_id = "r-" + digest[30:34]
        self.spec = spec

    # ---- hashing

    def h(self, *parts: int) -> int:
        x = _mix(self.seed)
        for part in parts:
            x = _mix(x ^ part)
        return x

    def u(self, *parts: int) -> float:
        return self.h(*parts) / 2.0 ** 64

    # ---- accounts and regions

    def account_id(self, a: int) -> str:
        return self.management if a == 0 else f"{self.account_base + a:012d}"

    def account_index(self, account_id: str) -> int | None:
        if account_id == self.management:
            return 0
        if len(account_id) == 12 and account_id.isdigit():
            a = int(account_id) - self.account_base
            if 1 <= a < self.accounts:
                return a
        return None

    # ---- functions

    def pair_slot(self, p: int) -> int | None:
        """j when pair p holds functions, else None."""
        if not self.occupied:
            return None
        j = p * self.occupied // self.pairs
        return j if (p + 1) * self.occupied // self.pairs > j else None

    def pair_count(self, a: int, r: int) -> int:
        j = self.pair_slot(a * len(self.regions) + r)
        if j is None:
            return 0
        return self.per_pair + (1 if j < self.extra else 0)

    def pair_first(self, j: int) -> int:
        return j * self.per_pair + min(j, self.extra)

    def triple_nc(self, a: int, r: int) -> bool:
        """Whether the rule's triple in this pair is NON_COMPLIANT (the pair must hold functions)."""
        return self.u(1, a * len(self.regions) + r) < self.nc_share

    def nc_count(self, n: int) -> int:
        return min(n, max(1, round(n * self.nc_function_share)))

    def function_nc(self, a: int, r: int, k: int, n: int) -> bool:
        if not self.triple_nc(a, r):
            return False
        c = self.nc_count(n)
        return (k + 1) * c // n > k * c // n

    def nc_position(self, rank: int, n: int) -> int:
        """k of the rank-th NON_COMPLIANT function of a NON_COMPLIANT pair of n functions."""
        c = self.nc_count(n)
        return -(-(rank + 1) * n // c) - 1

    def function(self, a: int, r: int, k: int, n: int) -> dict[str, Any]:
        """Function k of pair (a, r) as Config's configuration item (the fields the advanced query reads)."""
        account, region = self.account_id(a), self.regions[r]
        j = self.pair_slot(a * len(self.regions) + r)
        f = self.pair_first(j or 0) + k
        x = self.h(2, f)
        name = f"fn-{k:0{self.name_width}d}-{x & 0xFFFFFF:06x}"
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        nc = self.function_nc(a, r, k, n)
        runtimes = DEPRECATED_RUNTIMES if nc else SUPPORTED_RUNTIMES
        runtime = runtimes[(x >> 24) % len(runtimes)]
        day, second = _DAYS[(x >> 32) % len(_DAYS)], (x >> 44) % 86400
        clock = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.000"
        configuration: dict[str, Any] = {
            "functionName": name, "functionArn": arn,
            "packageType": "Image" if runtime == "image" else "Zip",
            "architectures": ["arm64" if (x >> 40) & 3 == 0 else "x86_64"],
            "lastModified": f"{day[0]}T{clock}+0000",
            "memorySize": 128 << ((x >> 50) % 4), "timeout": 3 + (x >> 52) % 60,
            "state": {"value": "Active"}, "version": "$LATEST",
        }
        if runtime != "image":
            configuration["runtime"] = runtime
            configuration["handler"] = "index.handler"
        capture = f"{day[0]}T{clock}Z"
        return {
            "awsAccountId": account, "awsRegion": region, "resourceType": LAMBDA_TYPE, "resourceId": name,
            "resourceName": name, "ARN": arn, "configurationItemStatus": "OK", "configurationItemCaptureTime": capture,
            "resourceCreationTime": capture, "availabilityZone": "Not Applicable",
            "configurationStateId": str((day[1] + second) * 1000), "configurationItemVersion": "1.3",
            "configuration": configuration,
            "tags": {"app": f"app-{(x >> 8) % 1000:03d}", "owner": f"team-{(x >> 18) % 50:02d}"},
        }

    def compliance_item(self, a: int, r: int, k: int, n: int) -> dict[str, Any]:
        """The AWS::Config::ResourceCompliance item of function k of pair (a, r), shaped as the moto-backed Config
        records one (localaws/resource_compliance.py: resourceId "<target type>/<target id>" as in AWS's documented
        example, no annotation, no result time): the rules that evaluated the function, here only the rule, since
        the other rules evaluate S3 buckets."""
        item = self.function(a, r, k, n)
        compliance = "NON_COMPLIANT" if self.function_nc(a, r, k, n) else "COMPLIANT"
        name = item["resourceId"]
        configuration = resource_compliance.configuration(LAMBDA_TYPE, name, [resource_compliance.rule_entry(
            self.member_rule, compliance, self.rule_arn(a, r, 0), self.rule_id(a, r, 0))])
        return resource_compliance.item(item["awsAccountId"], item["awsRegion"], LAMBDA_TYPE, name, configuration,
                                        item["configurationItemCaptureTime"], item["configurationStateId"], "OK")

    # ---- rules

    def rule_arn(self, a: int, r: int, i: int) -> str:
        return f"arn:aws:config:{self.regions[r]}:{self.account_id(a)}:config-rule/{self.rule_id(a, r, i)}"

    def rule_id(self, a: int, r: int, i: int) -> str:
        return f"config-rule-{self.h(3, a, r, i) & 0xFFFFFF:06x}"

    def triple(self, a: int, r: int, i: int) -> dict[str, Any] | None:
        """Rule i's compliance in pair (a, r) (0: the rule, else other rule i-1), or None: no results there."""
        if i == 0:
            n = self.pair_count(a, r)
            if not n:
                return None
            if self.triple_nc(a, r):
                c = self.nc_count(n)
                return {"ComplianceType": "NON_COMPLIANT",
                        "ComplianceContributorCount": {"CappedCount": min(c, 100), "CapExceeded": c > 100}}
            return {"ComplianceType": "COMPLIANT"}
        if self.u(4, a * len(self.regions) + r, i) < self.nc_share:
            return {"ComplianceType": "NON_COMPLIANT",
                    "ComplianceContributorCount": {"CappedCount": 1, "CapExceeded": False}}
        return {"ComplianceType": "COMPLIANT"}

    # ---- organizational units

    def ou_id(self, u: int) -> str:
        return f"ou-{self.root_id[2:]}-{u:08x}"

    def ou_index(self, ou_id: str) -> int | None:
        prefix = f"ou-{self.root_id[2:]}-"
        if ou_id.startswith(prefix) and len(ou_id) == len(prefix) + 8:
            try:
                u = int(ou_id[len(prefix):], 16)
            except ValueError:
                return None
            return u if 0 <= u < self.ous and ou_id == self.ou_id(u) else None
        return None

    def parent_node(self, parent_id: str) -> int | None:
        """0 for the root, u + 1 for OU u, None when unknown."""
        if parent_id == self.root_id:
            return 0
        u = self.ou_index(parent_id)
        return None if u is None else u + 1

    def child_ous(self, node: int) -> range:
        """OUs under node (0: the root; u + 1: OU u)."""
        first = node * OU_FANOUT
        return range(min(first, self.ous), min(first + OU_FANOUT, self.ous))

    def child_accounts(self, node: int) -> range:
        return range(node, self.accounts, self.ous + 1)

    def account_parent(self, a: int) -> int:
        return a % (self.ous + 1)


class SyntheticOrg:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spec: Spec | None = None
        self.plans: dict[str, tuple[SelectPlan, str]] = {}  # expression -> (plan, fingerprint), for plans_spec
        self.plans_spec: Spec | None = None
        # (spec, group key, account filter, region filter) -> {group: [compliant rules, non-compliant rules]}
        self.summaries: dict[tuple[int, str, str, str], dict[str, list[int]]] = {}

    def configure(self, raw: dict[str, Any] | None) -> dict[str, Any]:
        spec = Spec(raw) if raw is not None else None
        with self.lock:
            self.spec = spec
        return self.describe()

    def describe(self) -> dict[str, Any]:
        spec = self.spec
        if spec is None:
            return {"Active": False}
        return {
            "Active": True, "Spec": spec.spec,
            "Derived": {
                "Regions": spec.regions, "Pairs": spec.pairs, "PairsWithFunctions": spec.occupied,
                "FunctionsPerPair": [spec.per_pair, spec.per_pair + (1 if spec.extra else 0)],
                "PairsWithOneMore": spec.extra, "MemberRuleName": spec.member_rule,
                "OtherRuleNames": spec.other_names[:3] + (["..."] if spec.other_rules > 3 else []),
                "ManagementAccount": spec.management, "FirstMemberAccount": spec.account_id(1) if spec.accounts > 1 else None,
                "OrganizationId": spec.org_id, "RootId": spec.root_id,
                "AggregatorName": spec.aggregator, "AggregatorRegion": spec.aggregator_region,
            },
        }

    # ---------------------------------------------------------------- dispatch

    CONFIG_OPERATIONS = {"DescribeAggregateComplianceByConfigRules", "SelectAggregateResourceConfig",
                         "GetAggregateComplianceDetailsByConfigRule", "DescribeOrganizationConfigRules",
                         "DescribeConfigurationAggregators", "GetAggregateConfigRuleComplianceSummary"}
    ORGANIZATIONS_OPERATIONS = {"DescribeOrganization", "ListRoots", "ListOrganizationalUnitsForParent",
                                "ListAccountsForParent", "ListAccounts", "ListTagsForResource", "DescribeAccount",
                                "ListChildren"}

    def handle(self, service: str, operation: str, account: str, region: str, params: dict[str, Any]) -> Any:
        """The answer from the synthetic organization, or None when the call is not for it."""
        spec = self.spec
        if spec is None or account != spec.management:
            return None
        if service == "config" and operation in self.CONFIG_OPERATIONS and region == spec.aggregator_region:
            if operation == "DescribeOrganizationConfigRules":
                names = params.get("OrganizationConfigRuleNames")
                if names and names != [spec.rule]:
                    return None
                validate_input("config", operation, params)
                return self.describe_org_rules(spec)
            if operation == "DescribeConfigurationAggregators":
                names = params.get("ConfigurationAggregatorNames")
                if names != [spec.aggregator]:
                    return None
                return self.describe_aggregators(spec)
            if params.get("ConfigurationAggregatorName") != spec.aggregator:
                return None
            validate_input("config", operation, params)
            return getattr(self, f"op_{operation}")(spec, params)
        if service == "organizations" and operation in self.ORGANIZATIONS_OPERATIONS:
            self.check_org_params(params)
            return getattr(self, f"org_{operation}")(spec, params)
        return None

    # ---------------------------------------------------------------- Config

    @staticmethod
    def describe_org_rules(spec: Spec) -> dict[str, Any]:
        return {"OrganizationConfigRules": [{
            "OrganizationConfigRuleName": spec.rule,
            "OrganizationConfigRuleArn": f"arn:aws:config:{spec.aggregator_region}:{spec.management}:organization-config-rule/{spec.rule}-{spec.suffix}",
            "OrganizationCustomRuleMetadata": {
                "LambdaFunctionArn": f"arn:aws:lambda:{spec.aggregator_region}:{spec.management}:function:{spec.rule}",
                "OrganizationConfigRuleTriggerTypes": ["ConfigurationItemChangeNotification",
                                                       "OversizedConfigurationItemChangeNotification",
                                                       "ScheduledNotification"],
                "ResourceTypesScope": [LAMBDA_TYPE], "InputParameters": spec.input_parameters,
                "MaximumExecutionFrequency": "TwentyFour_Hours"},
            "ExcludedAccounts": [], "LastUpdateTime": BASE_TIME.timestamp()}]}

    @staticmethod
    def describe_aggregators(spec: Spec) -> dict[str, Any]:
        return {"ConfigurationAggregators": [{
            "ConfigurationAggregatorName": spec.aggregator,
            "ConfigurationAggregatorArn": f"arn:aws:config:{spec.aggregator_region}:{spec.management}:config-aggregator/config-aggregator-{spec.suffix}",
            "OrganizationAggregationSource": {"RoleArn": f"arn:aws:iam::{spec.management}:role/config-aggregator",
                                              "AllAwsRegions": True},
            "CreationTime": BASE_TIME.timestamp(), "LastUpdatedTime": BASE_TIME.timestamp()}]}

    def op_DescribeAggregateComplianceByConfigRules(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/config/latest/APIReference/API_DescribeAggregateComplianceByConfigRules.html:
        Limit 0-1000, "The default is maximum. If you specify 0, Config uses the default" (over 1000 is refused by
        the service model's range: ValidationException); Filters ConfigRuleName, ComplianceType, AccountId,
        AwsRegion (exact match); "Does not display rules that do not have compliance results" (a pair without
        functions has no row for the rule). ConfigRuleComplianceFilters: "Config supports only COMPLIANT and
        NON_COMPLIANT. Config does not support the NOT_APPLICABLE value"
        (https://docs.aws.amazon.com/config/latest/APIReference/API_ConfigRuleComplianceFilters.html); which
        error AWS answers for NOT_APPLICABLE or INSUFFICIENT_DATA is not documented: InvalidParameterValueException
        here. Rows come in (account, Region, rule) order, the rule's member copy first."""
        filters = params.get("Filters") or {}
        wanted = filters.get("ComplianceType")
        if wanted and wanted not in ("COMPLIANT", "NON_COMPLIANT"):
            raise AwsError("InvalidParameterValueException",
                           f"The compliance type {wanted} is not supported as a filter. Use COMPLIANT or NON_COMPLIANT.")
        limit = int(params.get("Limit") or 1000)
        key = _untoken(params.get("NextToken"), 4, _config_token_error)
        if key is not None and (key[0] != "describe" or key[1] >= spec.accounts or key[2] >= len(spec.regions)
                                or key[3] > spec.other_rules):
            raise _config_token_error()
        accounts = self._accounts_filter(spec, filters.get("AccountId"))
        regions = self._regions_filter(spec, filters.get("AwsRegion"))
        if filters.get("ConfigRuleName"):
            name = filters["ConfigRuleName"]
            rules = [spec.rule_names.index(name)] if name in spec.rule_names else []
        else:
            rules = list(range(len(spec.rule_names)))
        rows: list[dict[str, Any]] = []
        token = None
        start = (key[1], key[2], key[3]) if key else (0, 0, 0)
        for a, r in _pairs(accounts, regions, start[0], start[1], len(spec.regions)):
            first = bisect.bisect_left(rules, start[2]) if (a, r) == start[:2] else 0
            for i in rules[first:]:
                compliance = spec.triple(a, r, i)
                if compliance is None or (wanted and compliance["ComplianceType"] != wanted):
                    continue
                if len(rows) == limit:
                    token = _token(["describe", a, r, i])
                    break
                rows.append({"ConfigRuleName": spec.rule_names[i], "Compliance": compliance,
                             "AccountId": spec.account_id(a), "AwsRegion": spec.regions[r]})
            if token:
                break
        return {"AggregateComplianceByConfigRules": rows, **({"NextToken": token} if token else {})}

    @staticmethod
    def _accounts_filter(spec: Spec, account_id: str | None) -> range | list[int]:
        if not account_id:
            return range(spec.accounts)
        a = spec.account_index(account_id)
        return [] if a is None else [a]

    @staticmethod
    def _regions_filter(spec: Spec, region: str | None) -> range | list[int]:
        if not region:
            return range(len(spec.regions))
        return [spec.region_index[region]] if region in spec.region_index else []

    def op_GetAggregateConfigRuleComplianceSummary(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/config/latest/APIReference/API_GetAggregateConfigRuleComplianceSummary.html:
        the number of compliant and noncompliant rules per group (GroupByKey ACCOUNT_ID or AWS_REGION, or one
        unnamed group), Filters AccountId/AwsRegion, Limit 0-1000 ("The default is 1000"; over 1000 is refused by
        the service model's range), groups in name order, NextToken. A triple without results counts in neither.
        Counted once per spec and filters (every triple of the organization), then paged."""
        filters = params.get("Filters") or {}
        group_by = params.get("GroupByKey") or ""
        if group_by not in ("", "ACCOUNT_ID", "AWS_REGION"):
            raise AwsError("ValidationException", f"GroupByKey {group_by!r} is not ACCOUNT_ID or AWS_REGION")
        key = (id(spec), group_by, filters.get("AccountId") or "", filters.get("AwsRegion") or "")
        groups = self.summaries.get(key)
        if groups is None:
            groups = {}
            for a in self._accounts_filter(spec, filters.get("AccountId")):
                for r in self._regions_filter(spec, filters.get("AwsRegion")):
                    name = spec.account_id(a) if group_by == "ACCOUNT_ID" else spec.regions[r] if group_by else ""
                    for i in range(len(spec.rule_names)):
                        compliance = spec.triple(a, r, i)
                        if compliance is None:
                            continue
                        counts = groups.setdefault(name, [0, 0])
                        counts[compliance["ComplianceType"] == "NON_COMPLIANT"] += 1
            with self.lock:
                self.summaries = {k: v for k, v in self.summaries.items() if k[0] == id(spec)}
                self.summaries[key] = groups
        limit = int(params.get("Limit") or 1000)
        token = _untoken(params.get("NextToken"), 2, _config_token_error)
        names = sorted(groups)
        start = token[1] if token and token[0] == "summary" else 0
        if token and (token[0] != "summary" or start > len(names)):
            raise _config_token_error()
        page = names[start:start + limit]
        stamp = dt.datetime.now(dt.timezone.utc).timestamp()
        result: dict[str, Any] = {"AggregateComplianceCounts": [
            {"GroupName": g, "ComplianceSummary": {
                "CompliantResourceCount": {"CappedCount": groups[g][0], "CapExceeded": False},
                "NonCompliantResourceCount": {"CappedCount": groups[g][1], "CapExceeded": False},
                "ComplianceSummaryTimestamp": stamp}} for g in page]}
        if group_by:
            result["GroupByKey"] = group_by
        if start + limit < len(names):
            result["NextToken"] = _token(["summary", start + limit])
        return result

    def op_GetAggregateComplianceDetailsByConfigRule(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/config/latest/APIReference/API_GetAggregateComplianceDetailsByConfigRule.html:
        ConfigRuleName, AccountId and AwsRegion required; ComplianceType "Config supports only the COMPLIANT and
        NON_COMPLIANT" (others: InvalidParameterValueException, as the moto-backed path answers); Limit "The
        default is 50. You cannot specify a number greater than 100. If you specify 0, Config uses the default."
        Results in resource-id order; a NextToken belongs to its (rule, account, Region)."""
        wanted = params.get("ComplianceType")
        if wanted and wanted not in ("COMPLIANT", "NON_COMPLIANT"):
            raise AwsError("InvalidParameterValueException",
                           f"The compliance type {wanted} is not supported. Use COMPLIANT or NON_COMPLIANT.")
        limit = int(params.get("Limit") or 50)
        name = params["ConfigRuleName"]
        a, r = spec.account_index(params["AccountId"]), spec.region_index.get(params["AwsRegion"])
        i = spec.rule_names.index(name) if name in spec.rule_names else None
        where = f"details/{name}/{params['AccountId']}/{params['AwsRegion']}"
        key = _untoken(params.get("NextToken"), 2, _config_token_error)
        if key is not None and key[0] != where:
            raise _config_token_error()
        if a is None or r is None or i is None or spec.triple(a, r, i) is None:
            return {"AggregateEvaluationResults": []}
        start = key[1] if key else 0
        results: list[dict[str, Any]] = []
        token = None
        invoked = BASE_TIME.timestamp()
        for resource_type, resource_id, compliance, annotation, position in self._evaluations(spec, a, r, i, wanted, start):
            if len(results) == limit:
                token = _token([where, position])
                break
            result = {
                "EvaluationResultIdentifier": {
                    "EvaluationResultQualifier": {"ConfigRuleName": name, "ResourceType": resource_type,
                                                  "ResourceId": resource_id, "EvaluationMode": "DETECTIVE"},
                    "OrderingTimestamp": invoked},
                "ComplianceType": compliance, "ResultRecordedTime": invoked + 1, "ConfigRuleInvokedTime": invoked,
                "AccountId": spec.account_id(a), "AwsRegion": spec.regions[r]}
            if annotation:
                result["Annotation"] = annotation
            results.append(result)
        return {"AggregateEvaluationResults": results, **({"NextToken": token} if token else {})}

    @staticmethod
    def _evaluations(spec: Spec, a: int, r: int, i: int, wanted: str | None,
                     start: int) -> Iterator[tuple[str, str, str, str | None, int]]:
        """(type, id, compliance, annotation, position) of rule i's results in pair (a, r) from `start`."""
        if i == 0:
            n = spec.pair_count(a, r)
            nc_pair = spec.triple_nc(a, r)
            if wanted == "NON_COMPLIANT":
                if not nc_pair:
                    return
                c = spec.nc_count(n)
                # the first NON_COMPLIANT rank at or after position `start`
                rank = start * c // n if start else 0
                while rank < c:
                    k = spec.nc_position(rank, n)
                    rank += 1
                    if k < start:
                        continue
                    yield _function_result(spec, a, r, k, n)
                return
            for k in range(start, n):
                nc = nc_pair and spec.function_nc(a, r, k, n)
                if wanted == "COMPLIANT" and nc:
                    continue
                yield _function_result(spec, a, r, k, n)
            return
        nc_triple = spec.triple(a, r, i)["ComplianceType"] == "NON_COMPLIANT"
        for k in range(start, 3):
            compliance = "NON_COMPLIANT" if nc_triple and k == 0 else "COMPLIANT"
            if wanted and compliance != wanted:
                continue
            yield ("AWS::S3::Bucket", f"bucket-{spec.account_id(a)}-{spec.regions[r]}-{k}", compliance,
                   "Public access is not blocked." if compliance == "NON_COMPLIANT" else None, k)

    def op_SelectAggregateResourceConfig(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/config/latest/APIReference/API_SelectAggregateResourceConfig.html: Expression
        1-4096 characters and Limit/MaxResults 0-100 (the service model's bounds: ValidationException beyond);
        without either, "the default page size is set to 25" for a query without GROUP BY or aggregates; errors
        InvalidExpressionException, InvalidLimitException, InvalidNextTokenException. Only the query shapes an
        organization-wide inventory uses are understood (see `SelectPlan`); anything else is refused with
        InvalidExpressionException naming it, never answered with everything."""
        plan, fingerprint = self._plan(spec, params["Expression"])
        query = plan.query
        limit = int(params.get("Limit") or params.get("MaxResults") or 25)
        key = _untoken(params.get("NextToken"), 4, _config_token_error)
        if key is not None and (key[0] != fingerprint or key[1] >= spec.accounts or key[2] >= len(spec.regions)):
            raise _config_token_error()
        start = (key[1], key[2], key[3]) if key else (0, 0, 0)
        rows: list[str] = []
        token = None
        for a, r in _pairs(plan.accounts, plan.regions, start[0], start[1], len(spec.regions)):
            n = spec.pair_count(a, r)
            if not n or not plan.pair_may_match(a, r):
                continue
            for k in range(start[2] if (a, r) == start[:2] else 0, n):
                if not plan.matches(a, r, k, n):
                    continue
                if len(rows) == limit:
                    token = _token([fingerprint, a, r, k])
                    break
                rows.append(json.dumps(plan.row(a, r, k, n), separators=(",", ":")))
            if token:
                break
        result: dict[str, Any] = {"Results": rows, "QueryInfo": {"SelectFields": [{"Name": f} for f in query.field_names]}}
        if token:
            result["NextToken"] = token
        return result

    PLANS_KEPT = 1024

    def _plan(self, spec: Spec, expression: str) -> tuple["SelectPlan", str]:
        """The plan of an expression, parsed once: a sharded inventory sends the same few hundred expressions, each
        up to 4,096 characters, page after page."""
        with self.lock:
            cached = self.plans.get(expression) if self.plans_spec is spec else None
        if cached is not None:
            return cached
        try:
            query = sql.parse(expression)
        except sql.SqlError as error:
            raise AwsError("InvalidExpressionException", str(error))
        planned = SelectPlan(spec, query), hashlib.sha256(expression.encode()).hexdigest()[:16]
        with self.lock:
            if self.plans_spec is not spec:
                self.plans, self.plans_spec = {}, spec
            if len(self.plans) >= self.PLANS_KEPT:
                self.plans.pop(next(iter(self.plans)))
            self.plans[expression] = planned
        return planned

    # ---------------------------------------------------------------- Organizations

    @staticmethod
    def check_org_params(params: dict[str, Any]) -> None:
        """MaxResults 1-20 for every listing (the API reference's "Valid Range: Minimum value of 1. Maximum value
        of 20.", e.g. https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html);
        Organizations answers a value out of range with InvalidInputException, Reason MAX_VALUE_EXCEEDED /
        MIN_VALUE_EXCEEDED (the InvalidInputException reasons listed on every operation's page)."""
        value = params.get("MaxResults")
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise AwsError("InvalidInputException", "MaxResults must be a number.", reason="INVALID_ENUM")
        if value > 20:
            raise AwsError("InvalidInputException", "You provided a value that exceeds the maximum allowed value.",
                           reason="MAX_VALUE_EXCEEDED")
        if value < 1:
            raise AwsError("InvalidInputException", "You provided a value that is less than the minimum allowed value.",
                           reason="MIN_VALUE_EXCEEDED")

    # Not documented ("it defaults to a value that is specific to the operation"): 20, the maximum, here.
    ORG_DEFAULT_PAGE = 20

    def _account(self, spec: Spec, a: int) -> dict[str, Any]:
        account_id = spec.account_id(a)
        joined = BASE_TIME - dt.timedelta(days=1 + spec.h(5, a) % 2000)
        return {"Id": account_id, "Arn": f"arn:aws:organizations::{spec.management}:account/{spec.org_id}/{account_id}",
                "Email": f"aws+{account_id}@example.com", "Name": "management" if a == 0 else f"member-{a:05d}",
                "Status": "ACTIVE", "State": "ACTIVE", "JoinedMethod": "CREATED" if a else "INVITED",
                "JoinedTimestamp": joined.timestamp()}

    def _ou(self, spec: Spec, u: int) -> dict[str, Any]:
        ou_id = spec.ou_id(u)
        return {"Id": ou_id, "Arn": f"arn:aws:organizations::{spec.management}:ou/{spec.org_id}/{ou_id}",
                "Name": f"ou-{u:04d}"}

    def _paged(self, spec: Spec, params: dict[str, Any], where: str, items: range,
               render: Callable[[int], dict[str, Any]], member: str) -> dict[str, Any]:
        """A page of `items` (a range of indexes) after the token's position."""
        limit = params.get("MaxResults") or self.ORG_DEFAULT_PAGE
        key = _untoken(params.get("NextToken"), 2, _orgs_token_error)
        if key is not None and key[0] != where:
            raise _orgs_token_error()
        start = bisect.bisect_left(items, key[1]) if key else 0
        chosen = items[start:start + limit]
        result: dict[str, Any] = {member: [render(i) for i in chosen]}
        if start + limit < len(items):
            result["NextToken"] = _token([where, items[start + limit]])
        return result

    def _parent(self, spec: Spec, params: dict[str, Any]) -> int:
        node = spec.parent_node(params.get("ParentId") or "")
        if node is None:
            # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html#API_ListAccountsForParent_Errors
            raise AwsError("ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
        return node

    def org_DescribeOrganization(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        return {"Organization": {
            "Id": spec.org_id, "Arn": f"arn:aws:organizations::{spec.management}:organization/{spec.org_id}",
            "FeatureSet": "ALL", "MasterAccountArn": f"arn:aws:organizations::{spec.management}:account/{spec.org_id}/{spec.management}",
            "MasterAccountId": spec.management, "MasterAccountEmail": f"aws+{spec.management}@example.com",
            "AvailablePolicyTypes": []}}

    def org_ListRoots(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        return self._paged(spec, params, "roots", range(1), lambda _: {
            "Id": spec.root_id, "Arn": f"arn:aws:organizations::{spec.management}:root/{spec.org_id}/{spec.root_id}",
            "Name": "Root", "PolicyTypes": []}, "Roots")

    def org_ListOrganizationalUnitsForParent(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        node = self._parent(spec, params)
        return self._paged(spec, params, f"ous/{node}", spec.child_ous(node), lambda u: self._ou(spec, u),
                           "OrganizationalUnits")

    def org_ListAccountsForParent(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        node = self._parent(spec, params)
        return self._paged(spec, params, f"accounts/{node}", spec.child_accounts(node),
                           lambda a: self._account(spec, a), "Accounts")

    def org_ListAccounts(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        return self._paged(spec, params, "accounts", range(spec.accounts), lambda a: self._account(spec, a), "Accounts")

    def org_ListChildren(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        node = self._parent(spec, params)
        if params.get("ChildType") == "ORGANIZATIONAL_UNIT":
            return self._paged(spec, params, f"children-ous/{node}", spec.child_ous(node),
                               lambda u: {"Id": spec.ou_id(u), "Type": "ORGANIZATIONAL_UNIT"}, "Children")
        return self._paged(spec, params, f"children-accounts/{node}", spec.child_accounts(node),
                           lambda a: {"Id": spec.account_id(a), "Type": "ACCOUNT"}, "Children")

    def org_DescribeAccount(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        a = spec.account_index(params.get("AccountId") or "")
        if a is None:
            raise AwsError("AccountNotFoundException", "You specified an account that doesn't exist.")
        return {"Account": self._account(spec, a)}

    def org_ListTagsForResource(self, spec: Spec, params: dict[str, Any]) -> dict[str, Any]:
        """Tags of an account (three, derived from its index), an OU or the root (none)."""
        resource = params.get("ResourceId") or ""
        a = spec.account_index(resource)
        if a is None and spec.parent_node(resource) is None:
            # https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListTagsForResource.html#API_ListTagsForResource_Errors
            raise AwsError("TargetNotFoundException", "We can't find a root, OU, account, or policy with the TargetId that you specified.")
        tags = []
        if a is not None:
            x = spec.h(6, a)
            tags = [{"Key": "cost-center", "Value": f"cc-{x % 400:03d}"},
                    {"Key": "environment", "Value": ["prod", "staging", "dev", "sandbox"][(x >> 10) % 4]},
                    {"Key": "owner", "Value": f"team-{(x >> 20) % 50:02d}"}]
        return self._paged(spec, params, f"tags/{resource}", range(len(tags)), lambda i: tags[i], "Tags")


def _function_result(spec: Spec, a: int, r: int, k: int, n: int) -> tuple[str, str, str, str | None, int]:
    item = spec.function(a, r, k, n)
    if spec.function_nc(a, r, k, n):
        runtime = item["configuration"].get("runtime", "image")
        return LAMBDA_TYPE, item["resourceId"], "NON_COMPLIANT", f"{runtime} is deprecated", k
    return LAMBDA_TYPE, item["resourceId"], "COMPLIANT", None, k


def _pairs(accounts: range | list[int], regions: range | list[int], a0: int, r0: int, region_count: int) -> Iterator[tuple[int, int]]:
    """(account, Region) index pairs of the selection in (a, r) order, from (a0, r0) on."""
    for ai in range(bisect.bisect_left(accounts, a0), len(accounts)):
        a = accounts[ai]
        first = bisect.bisect_left(regions, r0) if a == a0 else 0
        for ri in range(first, len(regions)):
            yield a, regions[ri]


class SelectPlan:
    """What a SelectAggregateResourceConfig expression asks of the synthetic organization. Understood:

        SELECT <properties> WHERE resourceType = 'AWS::Lambda::Function'
            [AND awsRegion = 'r' | awsRegion IN ('r', ...)] [AND accountId = 'a' | accountId IN ('a', ...)]
        SELECT <properties> WHERE resourceType = 'AWS::Config::ResourceCompliance'
            [AND configuration.targetResourceType = 'AWS::Lambda::Function'] [AND the Region / account predicates]
            [AND configuration.complianceType = | IN ...] [AND configuration.configRuleList.configRuleName = | IN ...]
            [AND configuration.configRuleList.complianceType = | IN ...]

    conditions in any order, joined by AND; `<properties>` anything the items carry (missing ones are left out of
    the rows, as Config does). Another resource type matches nothing (the synthetic organization records no
    other); ResourceCompliance matches nothing unless `ResourceComplianceRecorded`. A property the type does not
    have is refused as the moto-backed Config refuses it (sql.check_properties); anything else not understood
    (another property in WHERE, !=, LIKE) is refused with InvalidExpressionException naming it.

    Conditions on configRuleList's properties hold when any element satisfies them (sql.py, "Multiple properties
    within an array"); a synthetic item lists one rule, so "any element" is that element, and a condition on the
    list's complianceType is one on the item's complianceType. test_resource_compliance.py checks the plan against
    sql.Query.run over the same items."""

    LAMBDA_FIELDS = {"resourceType", "accountId", "awsRegion"}
    COMPLIANCE_FIELDS = LAMBDA_FIELDS | {"configuration.targetResourceType", "configuration.complianceType",
                                         "configuration.configRuleList.configRuleName",
                                         "configuration.configRuleList.complianceType"}

    def __init__(self, spec: Spec, query: sql.Query):
        self.spec = spec
        self.query = query
        self.empty = False
        try:
            sql.check_properties(query)
        except sql.SqlError as error:
            raise AwsError("InvalidExpressionException", str(error))
        types = [c for c in query.conditions if c.field == "resourceType"]
        if len(types) != 1 or types[0].op != "=":
            raise self.unsupported("a query of the synthetic organization must have exactly one "
                                   "`resourceType = '...'` condition")
        self.resource_type = str(types[0].values[0])
        allowed = self.COMPLIANCE_FIELDS if self.resource_type == COMPLIANCE_TYPE else self.LAMBDA_FIELDS
        if self.resource_type not in (LAMBDA_TYPE, COMPLIANCE_TYPE):
            allowed = self.COMPLIANCE_FIELDS  # nothing matches anyway; still refuse what is never understood
            self.empty = True
        if self.resource_type == COMPLIANCE_TYPE and not spec.rc_recorded:
            self.empty = True
        accounts: set[int] | None = None
        regions: set[int] | None = None
        self.compliance: set[str] | None = None
        self.rule_names: set[str] | None = None
        self.rule_compliance: set[str] | None = None
        for condition in query.conditions:
            if condition.field not in allowed:
                raise self.unsupported(f"the condition on `{condition.field}` is not supported for "
                                       f"{self.resource_type}; supported: {', '.join(sorted(allowed))}")
            if condition.op not in ("=", "IN"):
                raise self.unsupported(f"the operator {condition.op} (on `{condition.field}`) is not supported; "
                                       "use = or IN")
            values = {str(v) for v in condition.values}
            if condition.field == "accountId":
                chosen = {spec.account_index(v) for v in values} - {None}
                accounts = chosen if accounts is None else accounts & chosen
            elif condition.field == "awsRegion":
                chosen = {spec.region_index[v] for v in values if v in spec.region_index}
                regions = chosen if regions is None else regions & chosen
            elif condition.field == "configuration.targetResourceType":
                if LAMBDA_TYPE not in values:
                    self.empty = True
            elif condition.field == "configuration.complianceType":
                self.compliance = values if self.compliance is None else self.compliance & values
            elif condition.field == "configuration.configRuleList.configRuleName":
                self.rule_names = values if self.rule_names is None else self.rule_names & values
            elif condition.field == "configuration.configRuleList.complianceType":
                self.rule_compliance = values if self.rule_compliance is None else self.rule_compliance & values
        if self.rule_names is not None and spec.member_rule not in self.rule_names:
            self.empty = True  # the items list the rule only
        self.accounts: range | list[int] = [] if self.empty else (
            range(spec.accounts) if accounts is None else sorted(accounts))
        self.regions: range | list[int] = range(len(spec.regions)) if regions is None else sorted(regions)
        # One element per configRuleList: the conditions on the list and on the item's compliance meet in it.
        wanted = None
        for chosen in (self.compliance, self.rule_compliance):
            if chosen is not None:
                wanted = chosen if wanted is None else wanted & chosen
        self.wanted = wanted & {"COMPLIANT", "NON_COMPLIANT"} if wanted is not None else None
        if self.wanted is not None and not self.wanted:
            self.accounts = []

    @staticmethod
    def unsupported(what: str) -> AwsError:
        return AwsError("InvalidExpressionException", f"localaws synthetic organization: {what}")

    def pair_may_match(self, a: int, r: int) -> bool:
        if self.resource_type == COMPLIANCE_TYPE and self.wanted == {"NON_COMPLIANT"}:
            return self.spec.triple_nc(a, r)
        return True

    def matches(self, a: int, r: int, k: int, n: int) -> bool:
        if self.resource_type == LAMBDA_TYPE or self.wanted is None or len(self.wanted) == 2:
            return True
        nc = self.spec.function_nc(a, r, k, n)
        return ("NON_COMPLIANT" if nc else "COMPLIANT") in self.wanted

    def row(self, a: int, r: int, k: int, n: int) -> dict[str, Any]:
        """The selected properties of the item, as sql.project shapes a row of the moto-backed Config."""
        item = self.spec.function(a, r, k, n) if self.resource_type == LAMBDA_TYPE else self.spec.compliance_item(a, r, k, n)
        return sql.project(item, self.query.field_names)

