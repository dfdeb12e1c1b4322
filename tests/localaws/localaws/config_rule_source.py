"""PutConfigRule with a custom rule's Lambda function in another account or region, as AWS allows it.

moto looks the function up in the caller's own account and region only, so a per-account rule backed by a
central Lambda (the shape this project deploys) is refused there. AWS accepts it when the function exists
and its resource-based policy lets AWS Config invoke it — the `lambda add-permission --principal
config.amazonaws.com` step of the custom-rule guide
(https://docs.aws.amazon.com/config/latest/developerguide/evaluate-config_develop-rules_lambda-functions.html,
https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html) — and refuses it otherwise with
InsufficientPermissionsException "The AWS Lambda function … cannot be invoked. Check the specified function
ARN, and check the function's permissions"
(https://docs.aws.amazon.com/config/latest/APIReference/API_PutConfigRule.html, Errors). A policy statement
with `AWS:SourceAccount` admits only rules of that account
(https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-services.html)."""

from __future__ import annotations

import json
from typing import Any

from moto.awslambda.utils import get_backend
from moto.config import models as config_models
from moto.config.exceptions import InsufficientPermissionsException

CONFIG_PRINCIPAL = "config.amazonaws.com"


def _config_may_invoke(policy: dict[str, Any], rule_account: str) -> bool:
    allowed = False
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        services = service if isinstance(service, list) else [service]
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if CONFIG_PRINCIPAL not in services or not {"lambda:InvokeFunction", "lambda:*"} & set(actions):
            continue
        conditions = statement.get("Condition") or {}
        source_accounts = [v for test in conditions.values() for k, v in test.items() if k.lower() == "aws:sourceaccount"]
        matches = all(rule_account in (v if isinstance(v, list) else [v]) for v in source_accounts)
        if statement.get("Effect") == "Deny" and matches:
            return False
        if statement.get("Effect") == "Allow" and matches:
            allowed = True
    return allowed


def install() -> None:
    original = config_models.Source.__init__

    def init(self, account_id: str, region: str, owner: str, source_identifier: str, source_details=None):
        parts = source_identifier.split(":") if owner == "CUSTOM_LAMBDA" else []
        if len(parts) >= 7 and parts[:3] == ["arn", "aws", "lambda"] and (parts[4], parts[3]) != (account_id, region):
            function_account, function_region = parts[4], parts[3]
            refusal = InsufficientPermissionsException(
                f"The AWS Lambda function {source_identifier} cannot be invoked. Check the specified function ARN, "
                "and check the function's permissions")
            backend = get_backend(function_account, function_region)
            try:
                backend.get_function(source_identifier)
                # GetPolicy's wire format: {"Policy": "<the policy document as a JSON string>", "RevisionId": …}
                policy = json.loads(json.loads(backend.get_policy(parts[6]))["Policy"])
            except Exception:
                raise refusal from None
            if not _config_may_invoke(policy, account_id):
                raise refusal
            # The function is checked where it lives; moto's own look-up then runs in that account and region.
            return original(self, function_account, function_region, owner, source_identifier, source_details)
        return original(self, account_id, region, owner, source_identifier, source_details)

    config_models.Source.__init__ = init
