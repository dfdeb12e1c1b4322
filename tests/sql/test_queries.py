"""The named Athena queries (aggregator/queries/*.sql) over snapshots the real aggregator binary
writes: read back with pyarrow (an independent Parquet reader), each query transpiled from Athena SQL
with sqlglot and run by DuckDB, the results compared with answers computed here in plain Python;
every query also parsed with Trino's own grammar (trino-query-parser)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp
from trino_query_parser import TrinoSyntaxError, parse_statement

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "aggregator" / "queries"
CATALOG = json.loads((ROOT / "rule" / "lifecycle" / "data" / "runtimes.json").read_text())


def first_block_date_from(day: dt.date) -> dt.date:
    return min(dt.date.fromisoformat(r[k]) for r in CATALOG["runtimes"]
               for k in ("block_create_date", "block_update_date") if r.get(k) and r[k] >= day.isoformat())


# CURRENT_DATE, pinned to a block date so that the day-of boundary ("blocked from today") is in the data.
TODAY = first_block_date_from(dt.date(2026, 11, 23))
DAYS = 3
EXEMPTION_TAG = "runtime-exempt-until"
WARN_DAYS = 180  # the rule's warnDaysBefore default, as aliases_on_old_versions.sql has it
FUNCTION = "AWS::Lambda::Function"
VERSION = "AWS::Lambda::Version"


def aggregator_binary() -> Path:
    """`cargo xtask test` names the binary it built; run alone, the tests build it."""
    if os.environ.get("AGGREGATOR_BIN"):
        return Path(os.environ["AGGREGATOR_BIN"])
    subprocess.run(["cargo", "build", "--quiet", "--locked", "-p", "aggregator", "--bin", "aggregator"],
                   cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    if not target.is_absolute():
        target = ROOT / target
    return target / "debug" / "aggregator"


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("snapshots")
    subprocess.run([str(aggregator_binary()), "sample", "--rows", "5000", "--days", str(DAYS),
                    "--through", TODAY.isoformat(), "--output", str(root)], check=True)
    return root


@pytest.fixture(scope="session")
def rows(dataset: Path) -> list[dict]:
    """Every row of every snapshot, with its partition, read by pyarrow."""
    out = []
    for part in sorted((dataset / "evaluations").glob("dt=*/part-*.parquet")):
        day = part.parent.name.removeprefix("dt=")
        for row in pq.read_table(part).to_pylist():
            row["dt"] = day
            row["account_tags"] = dict(row["account_tags"] or [])
            row["function_tags"] = dict(row["function_tags"] or [])
            out.append(row)
    return out


def latest(rows: list[dict]) -> list[dict]:
    week_ago = (TODAY - dt.timedelta(days=7)).isoformat()
    newest = max(r["dt"] for r in rows if r["dt"] >= week_ago)
    return [r for r in rows if r["dt"] == newest]


def functions(rows: list[dict]) -> list[dict]:
    """The functions' own rows (not their published versions')."""
    return [r for r in rows if r["resource_type"] == FUNCTION]


def version_number(qualifier: str | None) -> tuple[bool, int]:
    """ORDER BY try_cast(qualifier AS integer) NULLS FIRST: the function's row, then its versions."""
    return (qualifier is not None, int(qualifier) if qualifier is not None else 0)


def round1(value: float) -> float:
    """SQL's round(x, 1): half away from zero."""
    return float(decimal.Decimal(repr(value)).quantize(decimal.Decimal("0.1"), rounding=decimal.ROUND_HALF_UP))


def percent(part: int, whole: int) -> float:
    return round1(100.0 * part / whole)


def athena_to_duckdb(sql: str) -> str:
    """Athena (Trino) SQL → DuckDB, with CURRENT_DATE pinned so answers do not move with the clock."""
    tree = sqlglot.parse_one(sql, read="athena")
    tree = tree.transform(lambda node: exp.cast(exp.Literal.string(TODAY.isoformat()), "date")
                          if isinstance(node, exp.CurrentDate) else node)
    return tree.sql(dialect="duckdb")


def run_query(dataset: Path, name: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    pattern = str(dataset / "evaluations" / "*" / "*.parquet")
    con.execute(f"CREATE VIEW evaluations AS SELECT * FROM read_parquet('{pattern}', "
                "hive_partitioning = true, hive_types = {'dt': 'VARCHAR'})")
    table = con.sql(athena_to_duckdb((QUERIES / f"{name}.sql").read_text())).to_arrow_table()
    return [tuple(r.values()) for r in table.to_pylist()]


def query_names() -> list[str]:
    return sorted(p.stem for p in QUERIES.glob("*.sql"))


def test_the_named_queries_are_the_ones_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Named queries")[1].split("\n## ")[0]
    documented = sorted(re.findall(r"^\| `(\w+)\.sql` \|", section, re.M))
    assert query_names() == documented
    assert len(documented) == 10


def table_columns(dataset: Path) -> set[str]:
    part = next((dataset / "evaluations").glob("dt=*/part-*.parquet"))
    return set(pq.ParquetFile(part).schema_arrow.names) | {"dt"}


@pytest.mark.parametrize("name", query_names())
def test_no_query_names_a_new_column_after_a_table_column(dataset: Path, name: str) -> None:
    """`SELECT *, x AS c` where the table has a column c gives the relation two columns c: Athena
    refuses a reference to either ("Column 'c' is ambiguous") while DuckDB quietly takes the first."""
    columns = table_columns(dataset)
    tree = sqlglot.parse_one((QUERIES / f"{name}.sql").read_text(), read="athena")
    for select in tree.find_all(exp.Select):
        if any(isinstance(e, exp.Star) for e in select.expressions):
            shadowing = {e.alias for e in select.expressions if isinstance(e, exp.Alias)} & columns
            assert not shadowing, f"{name}: {sorted(shadowing)} also a column of the table"


def test_the_column_check_can_fail(dataset: Path) -> None:
    sql = "SELECT exempt_until FROM (SELECT *, current_date AS exempt_until FROM evaluations) AS t"
    tree = sqlglot.parse_one(sql, read="athena")
    select = next(s for s in tree.find_all(exp.Select) if any(isinstance(e, exp.Star) for e in s.expressions))
    assert {e.alias for e in select.expressions if isinstance(e, exp.Alias)} & table_columns(dataset)


@pytest.mark.parametrize("name", query_names())
def test_query_parses_with_trinos_grammar(name: str) -> None:
    sql = (QUERIES / f"{name}.sql").read_text()
    sql = re.sub(r"--[^\n]*", "", sql)  # the parser takes one bare statement
    parse_statement(sql)


def test_the_trino_grammar_check_can_fail() -> None:
    with pytest.raises(TrinoSyntaxError):
        parse_statement("SELECT count(*) FROM evaluations WHERE")


def test_pyarrow_reads_the_schema_the_athena_ddl_declares(dataset: Path) -> None:
    ddl = subprocess.run([str(aggregator_binary()), "ddl", "--location", "s3://bucket/prefix"],
                         check=True, capture_output=True, text=True).stdout
    declared = re.findall(r"^\s+`(\w+)` (.+?),?$", ddl.split("PARTITIONED BY")[0], re.M)
    athena = {"string": "string", "int": "int32", "date": "date32[day]", "timestamp": "timestamp[ms, tz=UTC]",
              "bigint": "int64", "array<string>": "list<item: string>", "map<string,string>": "map<string, string>"}
    for part in (dataset / "evaluations").glob("dt=*/part-*.parquet"):
        parquet = pq.ParquetFile(part)
        schema = parquet.schema_arrow
        # pyarrow names a map type after its field ("map<string, string ('account_tags')>").
        found = [(f.name, re.sub(r" \('\w+'\)", "", str(f.type))) for f in schema]
        assert found == [(name, athena[kind]) for name, kind in declared]
        metadata = parquet.metadata
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(column)
                assert chunk.compression == "ZSTD", chunk
        account = metadata.row_group(0).column(0)
        assert account.is_stats_set and account.statistics.has_min_max


def test_noncompliant_by_account_and_ou(dataset: Path, rows: list[dict]) -> None:
    groups: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in functions(latest(rows)):
        counts = groups[(r["ou_path"], r["account_id"], r["account_name"])]
        counts[0] += r["compliance_type"] == "NON_COMPLIANT"
        counts[1] += 1
        counts[2] += r["compliance_type"] in ("COMPLIANT", "NON_COMPLIANT")
    expected = sorted(((*k, nc, n, e, percent(nc, e)) for k, (nc, n, e) in groups.items() if nc),
                      key=lambda t: (-t[3], t[1]))
    assert expected
    # Every function has a row: the share counts only those the rule decided.
    assert any(t[4] != t[5] for t in expected), "NOT_APPLICABLE or INSUFFICIENT_DATA rows are in the data"
    assert run_query(dataset, "noncompliant_by_account") == expected


def next_block(row: dict) -> tuple[str, dt.date] | None:
    if row["block_create_date"] and row["block_create_date"] >= TODAY:
        return "function create", row["block_create_date"]
    if row["block_update_date"] and row["block_update_date"] >= TODAY:
        return "function update", row["block_update_date"]
    return None


def test_upgrade_before_next_block(dataset: Path, rows: list[dict]) -> None:
    expected = []
    for r in functions(latest(rows)):
        block = next_block(r)
        if block:
            expected.append((r["account_id"], r["account_name"], r["ou_path"], r["region"], r["resource_id"],
                             r["runtime"], r["phase"], block[0], block[1], (block[1] - TODAY).days,
                             r["successor"], r["latest_runtime"], r["function_tags"].get("team")))
    expected.sort(key=lambda t: (t[9], t[0], t[3], t[4]))
    assert {t[7] for t in expected} == {"function create", "function update"}, "both kinds of deadline occur"
    assert any(t[9] == 0 for t in expected), "a block that starts today is still ahead"
    assert run_query(dataset, "upgrade_before_next_block") == expected


def test_daily_trend(dataset: Path, rows: list[dict]) -> None:
    days: dict[str, list] = defaultdict(lambda: [0, 0, 0, set()])
    for r in functions(rows):
        day = days[r["dt"]]
        day[0] += 1
        day[1] += r["compliance_type"] == "NON_COMPLIANT"
        day[2] += r["compliance_type"] == "COMPLIANT"
        day[3].add(r["account_id"])
    expected = [(d, n, nc + c, nc, c, len(a), percent(nc, nc + c)) for d, (n, nc, c, a) in sorted(days.items())]
    assert all(t[1] > t[2] for t in expected), "undecided rows (NOT_APPLICABLE, INSUFFICIENT_DATA) are counted apart"
    assert len(expected) == DAYS and len({t[1] for t in expected}) == DAYS, "the days differ"
    assert run_query(dataset, "daily_trend") == expected


def test_runtime_mix(dataset: Path, rows: list[dict]) -> None:
    groups: dict[tuple, list] = defaultdict(lambda: [0, set(), 0])
    for r in functions(latest(rows)):
        key = (r["runtime_family"] or "container image", r["runtime"] or "container image", r["phase"])
        groups[key][0] += 1
        groups[key][1].add(r["account_id"])
        groups[key][2] += r["compliance_type"] == "NON_COMPLIANT"
    expected = sorted(((*k, n, len(a), nc) for k, (n, a, nc) in groups.items()), key=lambda t: (-t[3], t[1]))
    assert run_query(dataset, "runtime_mix") == expected


def test_os_only_and_image_functions_with_their_age(dataset: Path, rows: list[dict]) -> None:
    expected = []
    for r in functions(latest(rows)):
        if r["runtime_family"] == "provided" or r["package_type"] == "Image":
            modified = r["code_last_modified"]
            expected.append((r["account_id"], r["account_name"], r["region"], r["resource_id"], r["package_type"],
                             r["runtime"] or "container image", modified, (TODAY - modified.date()).days,
                             r["compliance_type"], r["function_tags"].get("team")))
    expected.sort(key=lambda t: (-t[7], t[0], t[2], t[3]))
    assert {t[4] for t in expected} == {"Zip", "Image"}
    assert run_query(dataset, "os_only_and_images") == expected


def test_exemptions_expiring_within_30_days(dataset: Path, rows: list[dict]) -> None:
    expected = []
    for r in functions(latest(rows)):
        text = r["function_tags"].get(EXEMPTION_TAG)
        if not text:
            continue
        until = dt.date.fromisoformat(text)
        if TODAY <= until <= TODAY + dt.timedelta(days=30):
            expected.append((r["account_id"], r["account_name"], r["region"], r["resource_id"], r["runtime"],
                             until, (until - TODAY).days, r["successor"], r["function_tags"].get("team")))
    expected.sort(key=lambda t: (t[6], t[0], t[2], t[3]))
    tagged = sum(1 for r in functions(latest(rows)) if EXEMPTION_TAG in r["function_tags"])
    assert 0 < len(expected) < tagged, "some exemptions end later or have ended"
    assert run_query(dataset, "exemptions_expiring") == expected


def test_the_sample_is_shaped_like_the_enrichment(rows: list[dict]) -> None:
    """What the four enrichment queries rely on, in the rows the binary writes: version rows carry the
    function's name, a qualifier and aliases and have their function's row; invocations are NULL
    (not read) or a count, last_invoked_date NULL exactly when there was none, else within the 30
    days before the snapshot."""
    keys = {(r["dt"], r["account_id"], r["region"], r["resource_id"]) for r in functions(rows)}
    versions = [r for r in rows if r["resource_type"] == VERSION]
    assert versions and {r["resource_type"] for r in rows} == {FUNCTION, VERSION}
    for r in rows:
        if r["resource_type"] == VERSION:
            assert r["qualifier"].isdigit() and r["aliases"], r
            assert r["function_arn"].endswith(f":function:{r['resource_id']}:{r['qualifier']}")
            assert (r["dt"], r["account_id"], r["region"], r["resource_id"]) in keys
        else:
            assert r["qualifier"] is None and r["aliases"] == []
        day = dt.date.fromisoformat(r["dt"])
        if r["invocations_30d"]:
            assert day - dt.timedelta(days=30) <= r["last_invoked_date"] < day, r
        else:
            assert r["last_invoked_date"] is None, r
        for arn in r["blocking_layers"]:
            assert re.fullmatch(rf"arn:aws:lambda:{r['region']}:\d{{12}}:layer:[\w-]+:\d+", arn), arn
    read = [r["invocations_30d"] for r in latest(rows) if r["invocations_30d"] is not None]
    assert 0 in read and min(n for n in read if n) < 1000 and max(read) > 1_000_000, "0, a few, many"


def test_fix_first(dataset: Path, rows: list[dict]) -> None:
    snapshot = latest(rows)
    expected = [(r["account_id"], r["account_name"], r["region"], r["resource_type"], r["resource_id"],
                 r["qualifier"], r["invocations_30d"], r["last_invoked_date"], r["runtime"], r["phase"],
                 r["successor"], r["deprecation_date"], r["block_create_date"], r["block_update_date"],
                 r["days_to_fail"], r["function_tags"].get("team"), r["account_tags"].get("owner"))
                for r in snapshot if r["compliance_type"] == "NON_COMPLIANT"]
    expected.sort(key=lambda t: (t[6] is None, -(t[6] or 0), t[0], t[2], t[4], version_number(t[5])))
    counts = [t[6] for t in expected]
    assert None in counts and 0 in counts and counts.index(0) < counts.index(None), "NULL (not read) after 0"
    assert {t[3] for t in expected} == {FUNCTION, VERSION}
    assert any(r["compliance_type"] == "COMPLIANT" and r["invocations_30d"] for r in snapshot), "warned rows read"
    assert run_query(dataset, "fix_first") == expected


def test_delete_candidates(dataset: Path, rows: list[dict]) -> None:
    snapshot = latest(rows)
    expected = []
    for r in snapshot:
        if r["invocations_30d"] == 0 and r["phase"] not in (None, "supported"):
            modified = r["code_last_modified"]
            expected.append((r["account_id"], r["account_name"], r["region"], r["resource_type"], r["resource_id"],
                             r["qualifier"], r["aliases"], r["runtime"], r["phase"], modified,
                             (TODAY - modified.date()).days, r["compliance_type"], r["function_tags"].get("team")))
    expected.sort(key=lambda t: (t[9], t[0], t[2], t[4], version_number(t[5])))
    assert {t[3] for t in expected} == {FUNCTION, VERSION}
    past_support = [r for r in snapshot if r["phase"] not in (None, "supported")]
    assert any(r["invocations_30d"] is None for r in past_support), "not read is not 'not invoked'"
    assert any(r["invocations_30d"] == 0 and r["phase"] == "supported" for r in snapshot), "supported stays"
    assert any(r["invocations_30d"] == 0 and r["phase"] is None for r in snapshot), "images have no phase"
    assert run_query(dataset, "delete_candidates") == expected


def test_aliases_on_old_versions(dataset: Path, rows: list[dict]) -> None:
    snapshot = latest(rows)
    function_rows = {(r["account_id"], r["region"], r["rule_name"], r["resource_id"]): r for r in functions(snapshot)}
    expected = []
    for r in snapshot:
        if r["resource_type"] != VERSION:
            continue
        past_support = r["phase"] is not None and r["phase"] != "supported"
        warned = r["days_to_fail"] is not None and r["days_to_fail"] <= WARN_DAYS
        if past_support or warned:
            function = function_rows.get((r["account_id"], r["region"], r["rule_name"], r["resource_id"]), {})
            expected.append((r["account_id"], r["account_name"], r["region"], r["resource_id"], r["qualifier"],
                             r["aliases"], r["runtime"], r["phase"], r["days_to_fail"], r["compliance_type"],
                             r["successor"], function.get("runtime"), function.get("phase"),
                             r["function_tags"].get("team")))
    expected.sort(key=lambda t: (t[8] is None, t[8] or 0, t[0], t[2], t[3], int(t[4])))
    versions = [r for r in snapshot if r["resource_type"] == VERSION]
    assert len(expected) < len(versions), "versions on supported runtimes, outside the window, are left out"
    assert any(t[7] == "supported" for t in expected), "supported but within the warning window"
    assert any(t[7] != "supported" and t[12] == "supported" for t in expected), "old version, $LATEST supported"
    assert all(t[11] is not None for t in expected), "every version found its function"
    assert len({t[:4] for t in expected}) < len(expected), "functions with several old versions"
    assert run_query(dataset, "aliases_on_old_versions") == expected


def test_upgrades_blocked_by_layer(dataset: Path, rows: list[dict]) -> None:
    snapshot = latest(rows)
    groups: dict[tuple, list] = defaultdict(lambda: [0, set(), 0, None])
    for r in functions(snapshot):
        if not r["blocking_layers"] or r["successor"] is None:
            continue
        for arn in r["blocking_layers"]:
            group = groups[(arn, r["runtime"], r["successor"])]
            group[0] += 1
            group[1].add(r["account_id"])
            group[2] += r["compliance_type"] == "NON_COMPLIANT"
            if r["days_to_fail"] is not None:
                group[3] = r["days_to_fail"] if group[3] is None else min(group[3], r["days_to_fail"])
    per_layer: dict[str, int] = defaultdict(int)
    for (arn, _, _), group in groups.items():
        per_layer[arn] += group[0]
    expected = sorted(((arn, arn.split(":")[4], runtime, successor, n, len(accounts), nc, days, per_layer[arn])
                       for (arn, runtime, successor), (n, accounts, nc, days) in groups.items()),
                      key=lambda t: (-t[8], t[0], -t[4], t[2]))
    assert any(t[8] > t[4] for t in expected), "a layer holds back functions on more than one runtime"
    assert any(r["blocking_layers"] for r in snapshot if r["resource_type"] == VERSION), "versions are not upgraded"
    assert len({t[1] for t in expected}) > 1, "shared and own-account layers"
    assert run_query(dataset, "upgrades_blocked_by_layer") == expected
