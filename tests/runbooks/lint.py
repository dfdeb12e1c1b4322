"""A linter for this project's SSM Automation runbooks (schemaVersion 0.3): `lint(document)` returns the
problems found, each a sentence naming the step. What Automation checks at CreateDocument or at run time,
and what cfn-lint does not (research/deploy-and-remediation.md §0.10, §1.2, §7.2 item 5):

- the document: schemaVersion '0.3', assumeRole '{{ AutomationAssumeRole }}', parameter types and defaults;
- steps: unique names, known properties, actions from the set the runbooks use; an explicit isCritical
  wherever onFailure goes on to another step (AWS's documentation is ambiguous about its default there);
- flow: every nextStep, onFailure/onCancel `step:X`, branch NextStep/Default names a step; every step is
  reachable and reaches an end (isEnd, or the last step) — no dead loop;
- references: every `{{ x }}` is a parameter, an automation/global variable, an `ssm:` parameter, or the
  declared output of a step that has succeeded on every path to here (an output of a step that failed on
  the way, via onFailure, does not count);
- branches: operators from Automation's list; a choice compares a variable with a constant (a literal or a
  parameter, never a step output);
- API steps: Service/Api exist in botocore, every input is a member of the API's input shape, required
  members are present, literal values pass botocore's ParamValidator (a `{{ }}` value is checked as a
  placeholder of the member's type); outputs have a `$` Selector and a known Type;
- aws:executeScript: a Runtime Automation runs (python3.11), a Script that compiles and defines the Handler
  with (events, context), InputPayload placeholders that resolve, outputs selected from `$.Payload`,
  timeoutSeconds at most 600 (the action's maximum);
- aws:executeAutomation: Targets and TargetParameterName together, one `ParameterValues` mapping whose Values
  are a list or a StringList output/parameter, MaxConcurrency/MaxErrors in StartAutomationExecution's format;
  with a catalog of our documents, the child's parameters: TargetParameterName and RuntimeParameters exist
  there and every required one is given;
- IAM: the actions listed under "Required IAM permissions" in the description equal the actions the steps
  call (`iam_actions`), including the script's `boto3.client("x").method(` calls (`script_actions`).
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.validate import ParamValidator

ACTIONS = {"aws:executeAwsApi", "aws:waitForAwsResourceProperty", "aws:assertAwsResourceProperty", "aws:branch",
           "aws:sleep", "aws:executeAutomation", "aws:executeScript"}
# aws:executeScript Runtime values Automation runs today (automation-action-executeScript.html: Python 3.6-3.8
# retired; python3.11 is the Python runtime; PowerShell is not used here).
SCRIPT_RUNTIMES = {"python3.11"}
SCRIPT_INPUTS = {"Runtime", "Handler", "Script", "InputPayload", "Attachment"}
CHILD_INPUTS = {"DocumentName", "DocumentVersion", "RuntimeParameters", "TargetParameterName", "Targets",
                "TargetMaps", "MaxConcurrency", "MaxErrors", "TargetLocations", "Tags"}
# boto3 client names whose IAM prefix differs.
IAM_PREFIXES = {"resourcegroupstaggingapi": "tag"}
SCRIPT_CALL = re.compile(r"""client\(\s*['"]([a-z0-9-]+)['"]\s*\)\.([A-Za-z_][A-Za-z0-9_]*)""")
API_ACTIONS = {"aws:executeAwsApi", "aws:waitForAwsResourceProperty", "aws:assertAwsResourceProperty"}
STEP_KEYS = {"name", "action", "description", "inputs", "outputs", "onFailure", "onCancel", "isEnd", "nextStep",
             "isCritical", "maxAttempts", "timeoutSeconds"}
DOCUMENT_KEYS = {"schemaVersion", "description", "assumeRole", "parameters", "mainSteps", "outputs", "files"}
PARAMETER_TYPES = {"String", "StringList", "Integer", "Boolean", "MapList", "StringMap"}
OUTPUT_TYPES = {"String", "Integer", "Boolean", "StringList", "StringMap", "MapList"}
OPERATORS = {"StringEquals", "EqualsIgnoreCase", "StartsWith", "EndsWith", "Contains", "NumericEquals",
             "NumericGreater", "NumericLesser", "NumericGreaterOrEquals", "NumericLesserOrEquals", "BooleanEquals"}
VARIABLES = {"automation:EXECUTION_ID", "global:ACCOUNT_ID", "global:REGION", "global:DATE", "global:DATE_TIME",
             "global:AWS_PARTITION"}
# IAM actions whose name differs from the API's.
IAM_NAMES = {("lambda", "GetLayerVersionByArn"): "lambda:GetLayerVersion"}
# aws:executeAutomation starts the child with the role it passes.
CHILD_ACTIONS = {"ssm:StartAutomationExecution", "ssm:GetAutomationExecution", "iam:PassRole"}
REFERENCE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
IAM_SECTION = re.compile(r"^#+\s*Required IAM permissions.*$", re.IGNORECASE | re.MULTILINE)
IAM_LINE = re.compile(r"^\*\s+`([a-z0-9-]+:[A-Za-z0-9]+)`\s*$")

_SESSION = botocore.session.get_session()


def lint(document: dict[str, Any], catalog: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """The problems of one runbook; `catalog` (document name → content) lets aws:executeAutomation steps be
    checked against the child runbook's parameters."""
    problems: list[str] = []
    problems += _document(document)
    steps = document.get("mainSteps") or []
    names = [s.get("name") for s in steps]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"step name {duplicate!r} is used more than once")
    index = {s.get("name"): i for i, s in enumerate(steps)}
    for step in steps:
        problems += _step(step, index, document.get("parameters") or {})
    if not problems:  # the flow and the references need a well-formed graph
        problems += _flow(steps, index)
        problems += _references(document, steps, index)
        problems += _children(document, steps, catalog or {})
        problems += _iam(document)
    return problems


# ------------------------------------------------------------------ document

def _document(document: dict[str, Any]) -> list[str]:
    problems = []
    if document.get("schemaVersion") != "0.3":
        problems.append(f"schemaVersion must be '0.3', not {document.get('schemaVersion')!r}")
    for key in sorted(set(document) - DOCUMENT_KEYS):
        problems.append(f"unknown top-level key {key!r}")
    parameters = document.get("parameters") or {}
    if document.get("assumeRole") != "{{ AutomationAssumeRole }}" or "AutomationAssumeRole" not in parameters:
        problems.append("assumeRole must be '{{ AutomationAssumeRole }}' with an AutomationAssumeRole parameter")
    for name, spec in parameters.items():
        kind = spec.get("type")
        if kind not in PARAMETER_TYPES:
            problems.append(f"parameter {name}: type {kind!r} is not one of {sorted(PARAMETER_TYPES)}")
            continue
        if "default" in spec:
            problems += [f"parameter {name}: {p}" for p in _default_problems(spec)]
    if not document.get("mainSteps"):
        problems.append("mainSteps is empty")
    return problems


def _default_problems(spec: dict[str, Any]) -> list[str]:
    kind, default = spec["type"], spec["default"]
    expected = {"String": str, "Integer": int, "Boolean": bool, "StringList": list, "MapList": list, "StringMap": dict}[kind]
    if not isinstance(default, expected) or (kind == "Integer" and isinstance(default, bool)):
        return [f"default {default!r} is not a {kind}"]
    problems = []
    if "allowedValues" in spec and default not in spec["allowedValues"]:
        problems.append(f"default {default!r} is not in allowedValues")
    if "allowedPattern" in spec and kind == "String" and not re.search(spec["allowedPattern"], default):
        problems.append(f"default {default!r} does not match allowedPattern")
    return problems


# ------------------------------------------------------------------ steps

def _step(step: dict[str, Any], index: dict[str, int], parameters: dict[str, Any]) -> list[str]:
    name, action = step.get("name"), step.get("action")
    where = f"step {name}"
    problems = [f"{where}: unknown property {k!r}" for k in sorted(set(step) - STEP_KEYS)]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,100}", name):
        problems.append(f"{where}: name must be letters, digits or _")
    if action not in ACTIONS:
        return problems + [f"{where}: action {action!r} is not one of {sorted(ACTIONS)}"]
    for key in ("nextStep",):
        if key in step and step[key] not in index:
            problems.append(f"{where}: {key} {step[key]!r} is not a step")
    for key in ("onFailure", "onCancel"):
        value = step.get(key)
        if value is None or value in ("Abort", "Continue") and key == "onFailure" or value == "Abort":
            continue
        if not str(value).startswith("step:"):
            problems.append(f"{where}: {key} {value!r} must be Abort, {'Continue, ' if key == 'onFailure' else ''}or step:<name>")
        elif value[5:] not in index:
            problems.append(f"{where}: {key} {value!r} names no step")
    if str(step.get("onFailure", "")).startswith("step:") and "isCritical" not in step:
        # AWS documents isCritical as "default true" and "only evaluated if you explicitly define it": a step
        # whose failure goes on to another step says which it means.
        problems.append(f"{where}: onFailure {step['onFailure']} needs an explicit isCritical")
    inputs = step.get("inputs") or {}
    if action == "aws:branch":
        problems += _branch(where, inputs, index, parameters)
    elif action in API_ACTIONS:
        problems += _api(where, action, inputs, step.get("outputs") or [])
    elif action == "aws:sleep":
        if not re.fullmatch(r"PT(\d+H)?(\d+M)?(\d+S)?", str(inputs.get("Duration", ""))):
            problems.append(f"{where}: Duration {inputs.get('Duration')!r} is not an ISO 8601 duration PT..")
    elif action == "aws:executeAutomation":
        problems += _execute_automation(where, inputs)
    elif action == "aws:executeScript":
        problems += _script(where, step, inputs)
    return problems


def _script(where: str, step: dict[str, Any], inputs: dict[str, Any]) -> list[str]:
    problems = [f"{where}: aws:executeScript has no input {k!r}" for k in sorted(set(inputs) - SCRIPT_INPUTS)]
    if inputs.get("Runtime") not in SCRIPT_RUNTIMES:
        problems.append(f"{where}: Runtime {inputs.get('Runtime')!r} is not one of {sorted(SCRIPT_RUNTIMES)}")
    handler, source = inputs.get("Handler"), inputs.get("Script")
    if not isinstance(source, str) or not handler:
        return problems + [f"{where}: aws:executeScript needs Handler and an inline Script"]
    try:
        compile(source, f"{where} Script", "exec")
    except SyntaxError as error:
        problems.append(f"{where}: Script does not compile: {error}")
    if not re.search(rf"^def {re.escape(str(handler))}\(\s*\w+\s*,\s*\w+\s*\)\s*:", source, re.MULTILINE):
        problems.append(f"{where}: Handler {handler!r} is not defined in Script as a function of (events, context)")
    if int(step.get("timeoutSeconds", 600)) > 600:
        problems.append(f"{where}: timeoutSeconds {step['timeoutSeconds']} is over aws:executeScript's 600")
    for output in step.get("outputs") or []:
        if not str(output.get("Selector", "")).startswith("$.Payload"):
            problems.append(f"{where}: output {output.get('Name')} must select from $.Payload (the handler's return value)")
        if output.get("Type", "String") not in OUTPUT_TYPES:
            problems.append(f"{where}: output {output.get('Name')} has unknown Type {output.get('Type')!r}")
    for service, method in SCRIPT_CALL.findall(source):
        if _operation(service, method) is None:
            problems.append(f"{where}: the script calls {service}.{method}, which is not a botocore operation")
    return problems


def _execute_automation(where: str, inputs: dict[str, Any]) -> list[str]:
    problems = [f"{where}: aws:executeAutomation has no input {k!r}" for k in sorted(set(inputs) - CHILD_INPUTS)]
    if "DocumentName" not in inputs:
        problems.append(f"{where}: aws:executeAutomation needs DocumentName")
    targets, name = inputs.get("Targets"), inputs.get("TargetParameterName")
    if (targets is None) != (name is None):
        problems.append(f"{where}: Targets and TargetParameterName go together (StartAutomationExecution)")
    if targets is not None:
        if "TargetMaps" in inputs:
            problems.append(f"{where}: Targets and TargetMaps can't be specified together")
        if not isinstance(targets, list) or len(targets) != 1:
            problems.append(f"{where}: Targets takes exactly one mapping")
        else:
            target = targets[0]
            if target.get("Key") != "ParameterValues":
                problems.append(f"{where}: Targets Key must be ParameterValues (one child per value), not {target.get('Key')!r}")
            values = target.get("Values")
            if isinstance(values, list):
                if not 1 <= len(values) <= 50:
                    problems.append(f"{where}: Targets Values take 1-50 values")
            elif not (isinstance(values, str) and REFERENCE.fullmatch(values.strip())):
                problems.append(f"{where}: Targets Values must be a list or one {{{{ StringList }}}} reference")
    shape = _SESSION.get_service_model("ssm").operation_model("StartAutomationExecution").input_shape
    for key in ("MaxConcurrency", "MaxErrors"):
        if key in inputs and not re.match(shape.members[key].metadata["pattern"], str(inputs[key])):
            problems.append(f"{where}: {key} {inputs[key]!r} does not match {shape.members[key].metadata['pattern']}")
    if targets is not None and "MaxErrors" not in inputs:
        problems.append(f"{where}: with Targets, say MaxErrors (AWS documents no default)")
    return problems


def _branch(where: str, inputs: dict[str, Any], index: dict[str, int], parameters: dict[str, Any]) -> list[str]:
    problems = []
    choices = inputs.get("Choices") or []
    if not choices:
        problems.append(f"{where}: a branch needs Choices")
    if "Default" in inputs and inputs["Default"] not in index:
        problems.append(f"{where}: Default {inputs['Default']!r} is not a step")
    for choice in choices:
        if choice.get("NextStep") not in index:
            problems.append(f"{where}: NextStep {choice.get('NextStep')!r} is not a step")
        problems += _choice(where, {k: v for k, v in choice.items() if k != "NextStep"}, parameters)
    return problems


def _choice(where: str, choice: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    if "And" in choice or "Or" in choice:
        key = "And" if "And" in choice else "Or"
        return [p for inner in choice[key] for p in _choice(where, inner, parameters)]
    if "Not" in choice:
        return _choice(where, choice["Not"], parameters)
    operators = set(choice) - {"Variable"}
    problems = [f"{where}: branch operator {op!r} is not one of Automation's" for op in sorted(operators - OPERATORS)]
    if len(operators) != 1:
        problems.append(f"{where}: a choice needs exactly one operator, has {sorted(operators)}")
    if "Variable" not in choice:
        problems.append(f"{where}: a choice needs a Variable")
    for op in operators & OPERATORS:
        for reference in REFERENCE.findall(str(choice[op])):
            if reference not in parameters:
                problems.append(f"{where}: {op} compares with {{{{ {reference} }}}}; a choice's constant may "
                                "reference only a parameter")
    return problems


def _api(where: str, action: str, inputs: dict[str, Any], outputs: list[dict[str, Any]]) -> list[str]:
    service, api = inputs.get("Service"), inputs.get("Api")
    try:
        model = _SESSION.get_service_model(str(service))
    except Exception:
        return [f"{where}: Service {service!r} is not a botocore service"]
    if api not in model.operation_names:
        return [f"{where}: {service} has no Api {api!r}"]
    params = {k: v for k, v in inputs.items() if k not in ("Service", "Api")}
    problems = []
    if action != "aws:executeAwsApi":
        for key in ("PropertySelector", "DesiredValues"):
            if key not in params:
                problems.append(f"{where}: {action} needs {key}")
        if not str(params.pop("PropertySelector", "$")).startswith("$"):
            problems.append(f"{where}: PropertySelector must start with $")
        params.pop("DesiredValues", None)
    shape = model.operation_model(api).input_shape
    members = shape.members if shape else {}
    for key in sorted(set(params) - set(members)):
        problems.append(f"{where}: {service}.{api} has no input {key!r}")
    concrete = {k: _placeholder(v, members[k]) for k, v in params.items() if k in members}
    report = ParamValidator().validate(concrete, shape)
    if report.has_errors():
        problems.append(f"{where}: {service}.{api} inputs are invalid: {report.generate_report()}")
    for output in outputs:
        if not str(output.get("Selector", "")).startswith("$"):
            problems.append(f"{where}: output {output.get('Name')} needs a Selector starting with $")
        if output.get("Type", "String") not in OUTPUT_TYPES:
            problems.append(f"{where}: output {output.get('Name')} has unknown Type {output.get('Type')!r}")
    return problems


def _placeholder(value: Any, shape: Any) -> Any:
    """The value with every `{{ }}` replaced by a valid value of the member's type (literals kept)."""
    if isinstance(value, str) and REFERENCE.search(value):
        kind = shape.type_name
        if kind in ("integer", "long"):
            return max(int(shape.metadata.get("min", 1)), 1)
        if kind == "boolean":
            return True
        if kind == "list":
            return [_placeholder(value, shape.member)]
        if kind == "timestamp":
            return "2026-01-01T00:00:00Z"
        return "x" * max(int(shape.metadata.get("min", 1)), 1)
    if isinstance(value, dict) and shape.type_name == "map":
        return {k: _placeholder(v, shape.value) for k, v in value.items()}
    if isinstance(value, dict) and shape.type_name == "structure":
        return {k: _placeholder(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if isinstance(value, list) and shape.type_name == "list":
        return [_placeholder(v, shape.member) for v in value]
    return value


# ------------------------------------------------------------------ flow

def edges(steps: list[dict[str, Any]], index: dict[str, int]) -> dict[str, list[tuple[str | None, bool]]]:
    """Each step's successors as (step name or None for the end, whether the step succeeded)."""
    graph: dict[str, list[tuple[str | None, bool]]] = {}
    for i, step in enumerate(steps):
        following = steps[i + 1]["name"] if i + 1 < len(steps) else None
        out: list[tuple[str | None, bool]] = []
        if step.get("isEnd"):
            out.append((None, True))
        elif step["action"] == "aws:branch":
            inputs = step.get("inputs") or {}
            out += [(c["NextStep"], True) for c in inputs.get("Choices", [])]
            out.append((inputs.get("Default", following), True))
        else:
            out.append((step.get("nextStep", following), True))
        on_failure = step.get("onFailure", "Abort")
        if on_failure == "Continue":
            out.append((following, False))
        elif on_failure.startswith("step:"):
            out.append((on_failure[5:], False))
        else:
            out.append((None, False))
        if str(step.get("onCancel", "")).startswith("step:"):
            out.append((step["onCancel"][5:], False))
        graph[step["name"]] = out
    return graph


def _flow(steps: list[dict[str, Any]], index: dict[str, int]) -> list[str]:
    graph = edges(steps, index)
    reachable, todo = set(), [steps[0]["name"]]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        reachable.add(name)
        todo += [target for target, _ in graph[name] if target]
    problems = [f"step {s['name']} is never reached" for s in steps if s["name"] not in reachable]
    # Steps from which the end can be reached by succeeding (a failure's Abort does not count as an end).
    ending = {name for name, out in graph.items() if (None, True) in out}
    changed = True
    while changed:
        changed = False
        for name, out in graph.items():
            if name not in ending and any(target in ending for target, _ in out if target):
                ending.add(name)
                changed = True
    problems += [f"step {name} never reaches an end (a dead loop)" for name in sorted(reachable - ending)]
    return problems


# ------------------------------------------------------------------ references

def _references(document: dict[str, Any], steps: list[dict[str, Any]], index: dict[str, int]) -> list[str]:
    parameters = set(document.get("parameters") or {})
    declared = {s["name"]: {o["Name"] for o in s.get("outputs") or []} for s in steps}
    if any(s["action"] == "aws:executeAutomation" for s in steps):
        for s in steps:
            if s["action"] == "aws:executeAutomation":
                declared[s["name"]] |= {"ExecutionId", "Status", "Output"}
    available = _available(steps, index)
    problems = []
    for step in steps:
        for reference in REFERENCE.findall(_text(step.get("inputs"))):
            problem = _reference(reference, parameters, declared, available[step["name"]])
            if problem:
                problems.append(f"step {step['name']}: {problem}")
    for output in document.get("outputs") or []:
        owner, _, name = str(output).partition(".")
        if name not in declared.get(owner, set()):
            problems.append(f"document output {output!r} is not a declared step output")
    return problems


def _reference(reference: str, parameters: set[str], declared: dict[str, set[str]], ran: set[str]) -> str | None:
    if reference in parameters or reference in VARIABLES or reference.startswith("ssm:"):
        return None
    owner, dot, output = reference.partition(".")
    if not dot:
        return f"{{{{ {reference} }}}} is not a parameter or an automation variable"
    if owner not in declared:
        return f"{{{{ {reference} }}}} names no step"
    if output not in declared[owner]:
        return f"{{{{ {reference} }}}}: step {owner} declares no output {output}"
    if owner not in ran:
        return f"{{{{ {reference} }}}}: step {owner} has not succeeded on every path to here"
    return None


def _available(steps: list[dict[str, Any]], index: dict[str, int]) -> dict[str, set[str]]:
    """For each step, the steps that have succeeded on every path to it (a forward data-flow analysis)."""
    graph = edges(steps, index)
    everything = set(index)
    available = {name: set(everything) for name in index}
    available[steps[0]["name"]] = set()
    changed = True
    while changed:
        changed = False
        incoming: dict[str, list[set[str]]] = {name: [] for name in index}
        for name, out in graph.items():
            for target, succeeded in out:
                if target:
                    incoming[target].append(available[name] | ({name} if succeeded else set()))
        for name in index:
            if name == steps[0]["name"]:
                continue
            value = set.intersection(*incoming[name]) if incoming[name] else set(everything)
            if value != available[name]:
                available[name] = value
                changed = True
    return available


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(_text(v) for v in value)
    return str(value)


# ------------------------------------------------------------------ child runbooks

def _children(document: dict[str, Any], steps: list[dict[str, Any]], catalog: dict[str, dict[str, Any]]) -> list[str]:
    """Targets Values name a StringList; with the child's document known, its parameters match the step."""
    parameters = document.get("parameters") or {}
    types = {f"{s['name']}.{o['Name']}": o.get("Type", "String") for s in steps for o in s.get("outputs") or []}
    types.update({name: spec.get("type") for name, spec in parameters.items()})
    problems = []
    for step in steps:
        if step["action"] != "aws:executeAutomation":
            continue
        where, inputs = f"step {step['name']}", step.get("inputs") or {}
        for target in inputs.get("Targets") or []:
            reference = REFERENCE.fullmatch(str(target.get("Values", "")).strip())
            if reference and types.get(reference.group(1)) != "StringList":
                problems.append(f"{where}: Targets Values {{{{ {reference.group(1)} }}}} must be a StringList "
                                "output or parameter")
        child = catalog.get(str(inputs.get("DocumentName")))
        if child is None:
            continue
        name, given = inputs.get("TargetParameterName"), set(inputs.get("RuntimeParameters") or {})
        declared = child.get("parameters") or {}
        document_name = inputs["DocumentName"]
        if name is not None and name not in declared:
            problems.append(f"{where}: TargetParameterName {name!r} is not a parameter of {document_name}")
        if name is not None and name in given:
            problems.append(f"{where}: {name} is the TargetParameterName; RuntimeParameters must not set it too")
        for key in sorted(given - set(declared)):
            problems.append(f"{where}: RuntimeParameters {key} is not a parameter of {document_name}")
        for key in sorted(k for k, spec in declared.items() if "default" not in spec and k not in given | {name}):
            problems.append(f"{where}: the child {document_name} needs {key} (no default)")
    return problems


# ------------------------------------------------------------------ IAM

def _operation(service: str, method: str) -> str | None:
    """The API name of a boto3 client method (`describe_config_rules` → `DescribeConfigRules`)."""
    try:
        model = _SESSION.get_service_model(service)
    except Exception:
        return None
    return next((op for op in model.operation_names if xform_name(op) == method), None)


def script_actions(document: dict[str, Any]) -> set[str]:
    """The IAM actions aws:executeScript steps call: every `boto3.client("x").method` in their Script."""
    actions: set[str] = set()
    for step in document.get("mainSteps") or []:
        if step.get("action") == "aws:executeScript":
            for service, method in SCRIPT_CALL.findall(str((step.get("inputs") or {}).get("Script", ""))):
                api = _operation(service, method) or method
                actions.add(IAM_NAMES.get((service, api), f"{IAM_PREFIXES.get(service, service)}:{api}"))
    return actions


def iam_actions(document: dict[str, Any]) -> set[str]:
    """The IAM actions the steps call: Service:Api of every API step (IAM's name where it differs), the
    script's client calls and, for aws:executeAutomation, starting and reading the child and passing the
    role to it."""
    actions: set[str] = script_actions(document)
    for step in document.get("mainSteps") or []:
        inputs = step.get("inputs") or {}
        if step.get("action") in API_ACTIONS:
            key = (inputs.get("Service"), inputs.get("Api"))
            actions.add(IAM_NAMES.get(key, f"{key[0]}:{key[1]}"))
        elif step.get("action") == "aws:executeAutomation":
            actions |= CHILD_ACTIONS
    return actions


def listed_actions(document: dict[str, Any]) -> set[str]:
    """The actions under the description's "Required IAM permissions" heading."""
    description = document.get("description") or ""
    match = IAM_SECTION.search(description)
    if not match:
        return set()
    listed = set()
    for line in description[match.end():].splitlines():
        line = line.strip()
        if line.startswith("#"):
            break
        found = IAM_LINE.match(line)
        if found:
            listed.add(found.group(1))
    return listed


def _iam(document: dict[str, Any]) -> list[str]:
    listed, used = listed_actions(document), iam_actions(document)
    problems = [f"IAM action {a} is used by a step but not listed in the description" for a in sorted(used - listed)]
    problems += [f"IAM action {a} is listed in the description but no step uses it" for a in sorted(listed - used)]
    return problems
