"""One home for each constant (#17.7): the time zone is written out only in ``creditflow.common``.

Issue #17 point 7: "the time zone (written out in ten places) … One home for each constant". Every Python file
of the deployment (include/, plugins/, dags/, scripts/, bench/) takes the zone from ``creditflow.common.TZ``
(date arithmetic) or ``TIMEZONE_NAME`` (where Airflow or pendulum want a name). Docstrings and comments may
name the zone (they explain it); code may not.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / "include" / "creditflow" / "common.py"
SCANNED = ("include", "plugins", "dags", "scripts", "bench")
ZONE = "Asia/Shanghai"


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def violations(source: str) -> list[str]:
    """Where code (not a docstring or a comment) spells out the zone or builds a zone of its own."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and ZONE in node.value \
                and id(node) not in docs:
            out.append(f"line {node.lineno}: literal {ZONE!r}")
        elif isinstance(node, ast.Call) and "ZoneInfo" in (getattr(node.func, "id", None),
                                                            getattr(node.func, "attr", None)):
            out.append(f"line {node.lineno}: ZoneInfo(…)")
        elif (isinstance(node, ast.ImportFrom) and node.module == "zoneinfo") \
                or (isinstance(node, ast.Import) and any(a.name == "zoneinfo" for a in node.names)):
            out.append(f"line {node.lineno}: imports zoneinfo")
    return out


def _python_files() -> list[Path]:
    return sorted(p for d in SCANNED for p in (ROOT / d).rglob("*.py") if p != HOME and ".venv" not in p.parts)


def test_the_checker_sees_each_way_of_writing_the_zone():
    """The check below is not vacuous: each form a second home would take is found."""
    assert violations('TZ = "Asia/Shanghai"\n')
    assert violations('import pendulum\nstart = pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai")\n')
    assert violations("from zoneinfo import ZoneInfo\nzone = ZoneInfo(name)\n")
    assert violations("import zoneinfo\nzone = zoneinfo.ZoneInfo(name)\n")
    assert not violations('"""Runs at 06:00 Asia/Shanghai."""\nfrom creditflow.common import TZ  # Asia/Shanghai\n')


def test_scanned_tree_is_not_empty():
    files = _python_files()
    assert len(files) > 100 and ROOT / "dags" / "sgs_reporting.py" in files


def test_the_time_zone_has_one_home():
    found = {str(p.relative_to(ROOT)): v for p in _python_files() if (v := violations(p.read_text(encoding="utf-8")))}
    assert not found, f"use creditflow.common.TZ / TIMEZONE_NAME instead: {found}"


def test_the_one_zone_is_beijing_time():
    """Beijing time: UTC+8 all year (no daylight saving), the zone the case system records in
    (include/sql/casedb/schema.sql)."""
    import datetime as dt

    from creditflow.common import TIMEZONE_NAME, TZ

    assert str(TZ) == TIMEZONE_NAME
    for month in (1, 7):
        assert dt.datetime(2026, month, 1, tzinfo=TZ).utcoffset() == dt.timedelta(hours=8)


# --- the decision-date field map --------------------------------------------------------------------------------


def test_the_decision_date_map_has_each_kind_and_matches_the_field_dictionary():
    """Each kind's decision date is the one field its dictionary names 决定日期 (处罚决定日期 / 许可决定日期 /
    强制决定日期): a date the record always carries."""
    from creditflow.common import KINDS
    from creditflow.core import standard

    assert set(standard.DECISION_DATE) == set(KINDS)
    for kind in KINDS:
        named = [f for f in standard.fields(kind) if f.name_zh.endswith("决定日期")]
        assert [f.code for f in named] == [standard.DECISION_DATE[kind]], kind
        assert named[0].type == "date" and named[0].always_required, kind


def _jdrq_maps(source: str) -> list[int]:
    """Lines of dict literals that map two or more kinds to their ``*_JDRQ`` field (a second home of the map)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            values = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            if sum(v.endswith("_JDRQ") for v in values) >= 2:
                out.append(node.lineno)
    return out


def test_the_decision_date_map_has_one_home():
    assert _jdrq_maps('DD = {"penalty": "CF_JDRQ", "license": "XK_JDRQ"}\n')  # the check can fail
    home = ROOT / "include" / "creditflow" / "core" / "standard.py"
    found = {str(p.relative_to(ROOT)): lines for p in _python_files() if p != home
             and (lines := _jdrq_maps(p.read_text(encoding="utf-8")))}
    assert not found, f"import creditflow.core.standard.DECISION_DATE instead: {found}"


# --- the 双公示 deadline ------------------------------------------------------------------------------------------


def _rule_calls(source: str) -> list[int]:
    """Lines that call or import the rule function ``sgs_due_date`` (the deadline without its unknown reason)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.ImportFrom) and any(a.name == "sgs_due_date" for a in node.names)) \
                or (isinstance(node, ast.Attribute) and node.attr == "sgs_due_date"):
            out.append(node.lineno)
    return out


def test_the_deadline_is_computed_in_one_place():
    """Every place that needs a record's 7-working-day deadline calls creditflow.core.duedates.sgs_due, which
    stores the reason when it is unknown; only duedates reaches the rule function itself."""
    assert _rule_calls("from creditflow.core import rules\nrules.sgs_due_date(day)\n")  # the check can fail
    allowed = {ROOT / "include" / "creditflow" / "core" / p for p in ("duedates.py", "rules.py")}
    found = {str(p.relative_to(ROOT)): lines for p in _python_files() if p not in allowed
             and (lines := _rule_calls(p.read_text(encoding="utf-8")))}
    assert not found, f"call creditflow.core.duedates.sgs_due instead: {found}"
