"""The Lambda runtime lifecycle rule on rdklib (PyPI `rdklib` 0.3.10): a minimal port of `rule/`, for
`cargo xtask bench rule` to compare against. Handler: `lifecycle_rule.lambda_handler`.

Ported (the common path, with our rule's decisions): the runtime's lifecycle phase on today's UTC date
against `failPhase` / `failDaysBefore` (NON_COMPLIANT) and `warnDaysBefore` (COMPLIANT, warned), a runtime
newer than the catalog's newest of its family (COMPLIANT), any other unknown runtime (`unknownRuntime`),
container images NOT_APPLICABLE, the exemption tag (`exemptionTag`, `maxExemptionDays`), the runtime update
mode through GetRuntimeManagementConfig when `runtimeUpdateMode` is not `any`, the periodic sweep over
ListFunctions + ListTags, and NOT_APPLICABLE for functions gone (rdklib's own clean-up of old evaluations).

Not ported (refused as InvalidParametersError when set): allowedRuntimes, blockedRuntimes,
customRuntimeMaxAgeDays, imageMaxAgeDays, catalogSsmParameter, catalogMaxAgeDays. Annotations say the same
things in fewer words; the compliance is what the benchmark compares.

The catalog is rule/lifecycle/data/runtimes.json, read once when the module is imported (our binary embeds
the same file): `runtimes.json` beside this module (the packaged function), else LIFECYCLE_CATALOG.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass

import botocore.exceptions
from rdklib import ComplianceType, ConfigRule, Evaluation, Evaluator, InvalidParametersError

LAMBDA_FUNCTION = "AWS::Lambda::Function"
PHASES = ["supported", "deprecated", "create-blocked", "update-blocked"]
PHASE_FIELDS = [("deprecated", "deprecation_date"), ("create-blocked", "block_create_date"),
                ("update-blocked", "block_update_date")]
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# rdklib reads these from ruleParameters itself (execution role, its region, assume-role mode).
RDKLIB_PARAMETERS = {"ExecutionRoleName", "ExecutionRoleRegion", "AssumeRoleMode"}
NOT_PORTED = {"allowedRuntimes", "blockedRuntimes", "customRuntimeMaxAgeDays", "imageMaxAgeDays",
              "catalogSsmParameter", "catalogMaxAgeDays"}


def _date(text):
    return dt.date.fromisoformat(text) if text else None


def _load_catalog():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtimes.json")
    path = here if os.path.exists(here) else os.environ["LIFECYCLE_CATALOG"]
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    runtimes = {}
    for entry in document["runtimes"]:
        entry = dict(entry)
        for _, key in PHASE_FIELDS:
            entry[key] = _date(entry.get(key))
        runtimes[entry["runtime"]] = entry
    return runtimes


CATALOG = _load_catalog()


def _versioned(runtime):
    """`python3.13` -> ("python", (3, 13), ""); `nodejs22.x` -> ("nodejs", (22,), ".x"); else None."""
    match = re.match(r"^([a-z]+)(\d+(?:\.\d+)*)(.*)$", runtime)
    if not match:
        return None
    return match.group(1), tuple(int(part) for part in match.group(2).split(".")), match.group(3)


def _newer_than_known(runtime):
    """The catalog's newest runtime of the family when `runtime` is a later version of it (AWS released
    something after the catalog was written), else None."""
    candidate = _versioned(runtime)
    if candidate is None:
        return None
    family = next((entry["family"] for entry in CATALOG.values()
                   if (v := _versioned(entry["runtime"])) and (v[0], v[2]) == (candidate[0], candidate[2])), None)
    if family is None:
        return None
    versions = [(v[1], entry["runtime"]) for entry in CATALOG.values()
                if entry["family"] == family and (v := _versioned(entry["runtime"]))]
    newest = max(versions)
    return newest[1] if candidate[1] > newest[0] else None


@dataclass
class Policy:
    fail_phase: str = "deprecated"
    fail_days_before: int = 0
    warn_days_before: int = 180
    unknown_compliant: bool = False
    update_mode: str = "not-manual"  # any | not-manual | auto
    exemption_tag: str = "runtime-exempt-until"
    max_exemption_days: int = 365


def _days(name, value):
    if not re.fullmatch(r"\d{1,5}", value) or int(value) > 36500:
        raise InvalidParametersError(f"{name}: {value!r} is not a whole number of days (0 to 36500)")
    return int(value)


def parse_policy(parameters):
    policy = Policy()
    for name, raw in parameters.items():
        value = str(raw).strip() if raw is not None else ""
        if name in RDKLIB_PARAMETERS or value == "":
            continue
        lower = value.lower()
        if name == "failPhase":
            if lower not in PHASES[1:]:
                raise InvalidParametersError(f"failPhase: {value!r} is not one of {', '.join(PHASES[1:])}")
            policy.fail_phase = lower
        elif name == "failDaysBefore":
            policy.fail_days_before = _days(name, value)
        elif name == "warnDaysBefore":
            policy.warn_days_before = _days(name, value)
        elif name == "maxExemptionDays":
            policy.max_exemption_days = _days(name, value)
        elif name == "unknownRuntime":
            if lower not in ("noncompliant", "non_compliant", "non-compliant", "compliant"):
                raise InvalidParametersError(f"unknownRuntime: {value!r} is not noncompliant or compliant")
            policy.unknown_compliant = lower == "compliant"
        elif name == "runtimeUpdateMode":
            if lower not in ("any", "not-manual", "auto"):
                raise InvalidParametersError(f"runtimeUpdateMode: {value!r} is not any, not-manual or auto")
            policy.update_mode = lower
        elif name == "exemptionTag":
            if len(value) > 128 or lower.startswith("aws:"):
                raise InvalidParametersError(f"exemptionTag: {value!r} is not a usable tag key")
            policy.exemption_tag = value
        elif name in NOT_PORTED:
            raise InvalidParametersError(f"{name} is not supported by this port")
        else:
            raise InvalidParametersError(f"unknown parameter {name}")
    return policy


def _lifecycle(runtime, policy, today, fails, notes):
    entry = CATALOG.get(runtime)
    if entry is None:
        newest = _newer_than_known(runtime)
        if newest:
            notes.append(f"{runtime} is newer than the lifecycle data (newest known {newest}): assumed supported.")
        elif policy.unknown_compliant:
            notes.append(f"{runtime} is not in the lifecycle data; unknownRuntime is compliant.")
        else:
            fails.append(f"{runtime} is not in the lifecycle data.")
        return
    timeline = "; ".join(f"{label} {entry[key]}" for label, key in PHASE_FIELDS if entry[key]) or "no deprecation scheduled"
    target = entry.get("successor") or entry.get("latest")
    upgrade = f" Upgrade to {target}." if target else ""
    at_least = [entry[key] for phase, key in PHASE_FIELDS if PHASES.index(phase) >= PHASES.index(policy.fail_phase) and entry[key]]
    if not at_least:
        notes.append(f"{runtime}: {timeline}.")
        return
    fails_from = min(at_least) - dt.timedelta(days=policy.fail_days_before)
    days = (fails_from - today).days
    if days <= 0:
        fails.append(f"{runtime} {timeline}.{upgrade}")
    elif days <= policy.warn_days_before:
        notes.insert(0, f"{runtime} non-compliant from {fails_from}: {timeline}.{upgrade}")
    else:
        notes.append(f"{runtime}: {timeline}.")


def _update_mode(mode, policy, fails):
    """mode: Auto / FunctionUpdate / Manual / other text, or an exception from the look-up."""
    if policy.update_mode == "any" or mode == "Auto":
        return
    if isinstance(mode, Exception):
        fails.append(f"Runtime update mode unknown: {str(mode)[:120]}.")
    elif mode == "FunctionUpdate":
        if policy.update_mode == "auto":
            fails.append("Runtime updates only on function update (FunctionUpdate); this rule requires Auto.")
    elif mode == "Manual":
        fails.append("Runtime version pinned (update mode Manual): it receives no security patches.")
    else:
        fails.append(f"Runtime update mode {str(mode)[:32]!r} is not one this rule knows.")


def _exemption(tags, policy, today, fails, notes):
    """The exemption's last day when the function is exempt today, else None."""
    value = (tags or {}).get(policy.exemption_tag)
    if value is None:
        return None
    value = value.strip()
    try:
        until = dt.date.fromisoformat(value) if DATE.match(value) else None
    except ValueError:
        until = None
    if until is None:
        fails.append(f"Exemption tag {policy.exemption_tag}={value[:32]!r} is not a YYYY-MM-DD date.")
    elif policy.max_exemption_days == 0:
        notes.append(f"Exemption tag {policy.exemption_tag} ignored: exemptions are off.")
    elif (until - today).days > policy.max_exemption_days:
        fails.append(f"Exemption until {until} not honoured: more than {policy.max_exemption_days} days ahead.")
    elif today <= until:
        return until
    else:
        notes.append(f"Exemption expired {until}.")
    return None


def judge(package_type, runtime, tags, mode, policy, today):
    """(compliance, annotation) of one existing function. `mode` is only looked at for zip functions."""
    if package_type == "Image":
        return ComplianceType.NOT_APPLICABLE, "Container image: no managed runtime to check."
    fails, notes = [], []
    if not runtime:
        fails.append("Zip function without a runtime: cannot check its lifecycle.")
    else:
        _lifecycle(runtime, policy, today, fails, notes)
        _update_mode(mode, policy, fails)
    until = _exemption(tags, policy, today, fails, notes)
    compliance = ComplianceType.NON_COMPLIANT if fails and until is None else ComplianceType.COMPLIANT
    lead = [f"Exempt until {until} (tag {policy.exemption_tag})."] if until else []
    annotation = " ".join(lead + fails + notes) or "No finding."
    return compliance, annotation[:256]


def runtime_update_mode(lambda_client, function):
    try:
        return lambda_client.get_runtime_management_config(FunctionName=function).get("UpdateRuntimeOn", "")
    except botocore.exceptions.ClientError as error:
        return error


def today_utc():
    return dt.datetime.now(dt.timezone.utc).date()


class LifecycleRule(ConfigRule):
    def get_assume_role_mode(self, event):
        # rdklib's own-account mode, the path AssumeRoleMode=false takes (ConfigRule.get_assume_role_mode
        # reads it from ruleParameters): clients come from the function's own credentials, as our rule's do
        # in its own account. The default mode assumes the event's executionRoleArn through a hard-coded
        # https://sts.<region>.amazonaws.com endpoint. Fixed here rather than passed as a rule parameter so
        # that both rules get byte-identical events (ours refuses parameters it does not know).
        return False

    def evaluate_parameters(self, rule_parameters):
        return parse_policy(rule_parameters)

    def evaluate_change(self, event, client_factory, configuration_item, valid_rule_parameters):
        policy = valid_rule_parameters
        configuration = configuration_item.get("configuration") or {}
        package_type = configuration.get("packageType") or "Zip"
        mode = None
        if package_type != "Image" and policy.update_mode != "any":
            function = configuration.get("functionArn") or configuration_item["resourceId"]
            mode = runtime_update_mode(client_factory.build_client("lambda"), function)
        compliance, annotation = judge(package_type, configuration.get("runtime"), configuration_item.get("tags"),
                                       mode, policy, today_utc())
        return [Evaluation(compliance, annotation=annotation)]

    def evaluate_periodic(self, event, client_factory, valid_rule_parameters):
        policy = valid_rule_parameters
        today = today_utc()
        lambda_client = client_factory.build_client("lambda")
        evaluations = []
        for page in lambda_client.get_paginator("list_functions").paginate():
            for function in page["Functions"]:
                arn = function["FunctionArn"]
                tags = lambda_client.list_tags(Resource=arn).get("Tags") or {}
                package_type = function.get("PackageType") or "Zip"
                mode = None
                if package_type != "Image" and policy.update_mode != "any":
                    mode = runtime_update_mode(lambda_client, arn)
                compliance, annotation = judge(package_type, function.get("Runtime"), tags, mode, policy, today)
                evaluations.append(Evaluation(compliance, function["FunctionName"], LAMBDA_FUNCTION, annotation))
        return evaluations


def lambda_handler(event, context):
    return Evaluator(LifecycleRule(), [LAMBDA_FUNCTION]).handle(event, context)
