"""Lambda behaviour the remediation runbooks meet, on top of moto: checks before a request reaches moto and
rewrites of its answers. Each behaviour names the AWS page it follows.

- Runtime lifecycle: an update that names an update-blocked runtime, or a code update of a function on one,
  is refused; the lifecycle comes from the rule's catalog (rule/lifecycle/data/runtimes.json) and the date
  from `POST /_localaws/lambda/settings {"Today": "YYYY-MM-DD"}` (default: today, UTC).
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html#runtime-deprecation-levels
- `$LATEST` in runtime-management mode Manual: a runtime or architecture change is refused.
  https://docs.aws.amazon.com/lambda/latest/dg/runtime-management-rollback.html
- Container images have no runtime: Runtime/Handler/Layers on an Image function are refused.
  https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html
- `LastUpdateStatus`: InProgress for `UpdatePolls` reads after an update, then Successful, or Failed when an
  update-failure rule matches (`POST /_localaws/lambda/update-failures`); while InProgress a second update or
  a publish gets ResourceConflictException.  https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html
- `RevisionId`: every configuration or code update gives `$LATEST` a new one; an update or publish naming a
  stale one gets PreconditionFailedException (412).
  https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html#lambda-UpdateFunctionConfiguration-request-RevisionId
  https://docs.aws.amazon.com/lambda/latest/api/API_PublishVersion.html#lambda-PublishVersion-request-RevisionId
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

from moto.awslambda.models import lambda_backends

from .protocol import AwsError

CATALOG = Path(__file__).resolve().parents[3] / "rule" / "lifecycle" / "data" / "runtimes.json"
UPDATES = {"UpdateFunctionConfiguration", "UpdateFunctionCode"}
READS = {"GetFunction", "GetFunctionConfiguration"}


def load_catalog(path: Path = CATALOG) -> dict[str, dict[str, Any]]:
    try:
        return {r["runtime"]: r for r in json.loads(path.read_text())["runtimes"]}
    except FileNotFoundError:
        return {}


class LambdaFidelity:
    def __init__(self, mode_of: Callable[[str, str, str], str]):
        """mode_of(account, region, name) -> UpdateRuntimeOn of $LATEST (the extension keeps it)."""
        self.mode_of = mode_of
        self.catalog = load_catalog()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.today: dt.date | None = None
            self.update_polls = 2
            self.failures: list[dict[str, str]] = []
            self.revisions: dict[tuple[str, str, str], str] = {}
            self.updates: dict[tuple[str, str, str], dict[str, Any]] = {}

    # ------------------------------------------------------------ control

    def settings(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if "Today" in params:
                self.today = dt.date.fromisoformat(params["Today"]) if params["Today"] else None
            if "UpdatePolls" in params:
                self.update_polls = int(params["UpdatePolls"])
            return {"Today": self._today().isoformat(), "UpdatePolls": self.update_polls}

    def set_failures(self, params: dict[str, Any]) -> dict[str, Any]:
        """Rules [{FunctionName, Runtime?, Reason?, ReasonCode?}]: a matching update ends Failed."""
        with self.lock:
            self.failures = list(params.get("Rules", []))
            return {"Rules": self.failures}

    def _today(self) -> dt.date:
        return self.today or dt.datetime.now(dt.timezone.utc).date()

    def update_blocked(self, runtime: str | None) -> bool:
        date = (self.catalog.get(runtime or "") or {}).get("block_update_date")
        return bool(date) and dt.date.fromisoformat(date) <= self._today()

    # ------------------------------------------------------------ before moto

    def check(self, operation: str, account: str, region: str, name: str, qualifier: str | None,
              body: bytes) -> None:
        if operation not in UPDATES | {"PublishVersion"}:
            return
        fn = _function(account, region, name)
        if fn is None:
            return  # moto answers ResourceNotFoundException
        params = json.loads(body or b"{}")
        key = (account, region, fn.function_name)
        with self.lock:
            update = self.updates.get(key)
            if update and update["polls"] > 0:
                raise AwsError("ResourceConflictException", "The operation cannot be performed at this time. "
                               f"An update is in progress for resource: {fn.function_arn}", 409)
            revision = self._revision(key)
        if params.get("RevisionId") and params["RevisionId"] != revision:
            raise AwsError("PreconditionFailedException", "The Revision Id provided does not match the latest "
                           "Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id", 412)
        if operation == "PublishVersion":
            return
        if fn.package_type == "Image" and any(k in params for k in ("Runtime", "Handler", "Layers")):
            raise AwsError("InvalidParameterValueException",
                           "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
        current = fn.run_time
        changes_runtime = operation == "UpdateFunctionConfiguration" and params.get("Runtime") not in (None, current)
        changes_arch = (operation == "UpdateFunctionCode" and params.get("Architectures") is not None
                        and list(params["Architectures"]) != list(fn.architectures or ["x86_64"]))
        if (changes_runtime or changes_arch) and self.mode_of(account, region, fn.function_name) == "Manual":
            raise AwsError("InvalidParameterValueException",
                           "Runtime and architecture updates are not supported while the function's runtime update "
                           "mode is Manual. Change the runtime management configuration to Auto or FunctionUpdate first.")
        # An update naming a blocked runtime, or any code update of a function on one, is refused.
        blocked = params.get("Runtime") if operation == "UpdateFunctionConfiguration" else current
        if blocked and fn.package_type != "Image":
            if self.update_blocked(blocked):
                successor = (self.catalog.get(blocked) or {}).get("successor") or "a supported runtime"
                raise AwsError("InvalidParameterValueException",
                               f"The runtime parameter of {blocked} is no longer supported for creating or updating "
                               f"AWS Lambda functions. We recommend you use the new runtime ({successor}) while "
                               "creating or updating functions.")

    # ------------------------------------------------------------ after moto

    def rewrite(self, operation: str, account: str, region: str, name: str, qualifier: str | None,
                status: int, data: bytes) -> bytes:
        if not 200 <= status < 300 or operation not in READS | UPDATES | {"PublishVersion"}:
            return data
        try:
            payload = json.loads(data)
        except ValueError:
            return data
        fn = _function(account, region, name)
        if fn is None:
            return data
        key = (account, region, fn.function_name)
        configuration = payload.get("Configuration", payload) if operation == "GetFunction" else payload
        with self.lock:
            if operation in UPDATES:
                self.revisions[key] = str(uuid.uuid4())
                runtime = configuration.get("Runtime")
                failure = next((f for f in self.failures if f.get("FunctionName") in (fn.function_name, "*")
                                and f.get("Runtime") in (None, runtime)), None)
                self.updates[key] = {"polls": self.update_polls, "failure": failure}
                configuration["LastUpdateStatus"] = "InProgress"
                configuration.pop("LastUpdateStatusReason", None)
            elif operation == "PublishVersion":
                version_key = (account, region, f"{fn.function_name}:{configuration.get('Version')}")
                configuration["RevisionId"] = self._revision(version_key)
            elif qualifier in (None, "", "$LATEST"):
                self._status(key, configuration)
            else:
                configuration["RevisionId"] = self._revision((account, region, f"{fn.function_name}:{qualifier}"))
            if operation != "PublishVersion" and qualifier in (None, "", "$LATEST"):
                configuration["RevisionId"] = self._revision(key)
        return json.dumps(payload).encode()

    def _status(self, key: tuple[str, str, str], configuration: dict[str, Any]) -> None:
        update = self.updates.get(key)
        if not update:
            return
        if update["polls"] > 0:
            update["polls"] -= 1
            configuration["LastUpdateStatus"] = "InProgress"
            return
        if update["failure"]:
            configuration["LastUpdateStatus"] = "Failed"
            configuration["LastUpdateStatusReason"] = update["failure"].get("Reason", "The update failed (injected).")
            configuration["LastUpdateStatusReasonCode"] = update["failure"].get("ReasonCode", "InternalError")
        else:
            configuration["LastUpdateStatus"] = "Successful"

    def _revision(self, key: tuple[str, str, str]) -> str:
        return self.revisions.setdefault(key, str(uuid.uuid4()))

    def revision_of(self, account: str, region: str, name: str) -> str:
        """The RevisionId of `name` ($LATEST) or `name:version`, as GetFunctionConfiguration answers it."""
        with self.lock:
            return self._revision((account, region, name))

    def forget(self, account: str, region: str, name: str) -> None:
        with self.lock:
            for store in (self.revisions, self.updates):
                for key in [k for k in store if k[:2] == (account, region) and k[2].split(":")[0] == name]:
                    store.pop(key, None)


def _function(account: str, region: str, name: str) -> Any:
    from .lambda_ext import function_name

    try:
        return lambda_backends[account][region].get_function(function_name(name))
    except Exception:
        return None
