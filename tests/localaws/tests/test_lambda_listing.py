"""ListFunctions pages in O(page) (localaws/lambda_ext.py, `list_functions`): the sorted names are cached and a
page is a binary search from the marker, so that listing N functions costs N/50 pages of 50, not N/50 sorts and
serializations of all N. Pages hold at most 50 functions
(https://docs.aws.amazon.com/lambda/latest/api/API_ListFunctions.html#lambda-ListFunctions-request-MaxItems)."""

from __future__ import annotations

import sys

from conftest import ADMIN, REGION, ROOT, create_function

sys.path.insert(0, str(ROOT))


def test_each_page_serializes_only_its_own_functions(monkeypatch):
    from moto.awslambda.models import LambdaFunction

    from localaws import lambda_ext
    from localaws.app import LocalAws

    app = LocalAws()
    account = "999988887777"
    lambda_ext.seed_functions(app.lambdas, [account], REGION, 400, ["python3.12"])
    serialized = []
    original = LambdaFunction.get_configuration
    monkeypatch.setattr(LambdaFunction, "get_configuration",
                        lambda self, *a, **k: serialized.append(self.function_name) or original(self, *a, **k))
    rebuilt = []
    sorted_names = app.lambdas._sorted_names
    monkeypatch.setattr(app.lambdas, "_sorted_names", lambda *a: rebuilt.append(sorted_names(*a)) or rebuilt[-1])
    names, marker, pages = [], None, 0
    while True:
        page = app.lambdas.list_functions(account, REGION, {"Marker": [marker]} if marker else {})
        pages += 1
        assert len(serialized) == len(page["Functions"]) <= 50
        serialized.clear()
        names += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert pages == 8 and names == sorted(names) and len(set(names)) == 400
    assert len(rebuilt) == 8 and all(names is rebuilt[0] for names in rebuilt), "the names were sorted again"
    app.runtime.shutdown()


def test_pages_continue_after_the_marker_when_functions_come_and_go(aws):
    aws.control("POST", "/_localaws/seed/lambda", {"Accounts": [ADMIN], "Region": REGION, "FunctionsPerAccount": 120,
                                                    "Runtimes": ["python3.12"]})
    lam = aws.client("lambda")
    first = lam.list_functions()
    seen = [f["FunctionName"] for f in first["Functions"]]
    assert seen == [f"fn-{i:04d}" for i in range(50)]
    # Between pages: a function is deleted ahead of the marker and one is created behind and one ahead of it.
    lam.delete_function(FunctionName="fn-0060")
    create_function(aws, "fn-0010a", "python3.12")
    create_function(aws, "fn-0099a", "python3.12")
    rest = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate(
        PaginationConfig={"StartingToken": first["NextMarker"]}) for f in page["Functions"]]
    expected = [f"fn-{i:04d}" for i in range(50, 120) if i != 60]
    expected.insert(expected.index("fn-0100"), "fn-0099a")
    assert rest == expected
    assert len(set(seen) & set(rest)) == 0
