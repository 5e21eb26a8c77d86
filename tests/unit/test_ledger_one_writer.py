"""The ledger has one writer (issue #17.1): no module outside ``creditflow.core.ledger`` (and the migrations)
inserts, updates or deletes ``cf_ledger`` / ``cf_ledger_history`` — through the table objects, any name
bound to them (``L = wh.ledger``), or SQL text — and no code gives ``message`` a meaning by a prefix."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"ledger", "ledger_history"}
WRITES = {"insert", "update", "delete"}
RAW_SQL = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+cf_ledger", re.IGNORECASE)
ALLOWED = ("include/creditflow/core/ledger/", "include/creditflow/core/migrations/")


def _sources() -> list[Path]:
    return sorted(p for d in ("include", "plugins") for p in (ROOT / d).rglob("*.py"))


def _table_names(tree: ast.AST) -> set[str]:
    """Names the module binds to the ledger tables: ``L = wh.ledger``, ``C, L = wh.x, wh.ledger``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        pairs: list[tuple[ast.expr, ast.expr]] = []
        for target in node.targets:
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs += list(zip(target.elts, node.value.elts, strict=False))
            else:
                pairs.append((target, node.value))
        for target, value in pairs:
            if isinstance(target, ast.Name) and isinstance(value, ast.Attribute) and value.attr in TABLES:
                names.add(target.id)
    return names


def writes(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    aliases = _table_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
            table = node.func.value
            if (isinstance(table, ast.Attribute) and table.attr in TABLES) or (
                    isinstance(table, ast.Name) and table.id in aliases):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node.func)}")
    found += [f"{name}: SQL {m.group(0)!r}" for m in RAW_SQL.finditer(text)]
    return found


def test_only_core_ledger_writes_the_ledger_tables():
    outside = [w for p in _sources() if not str(p.relative_to(ROOT)).startswith(ALLOWED) for w in writes(p)]
    assert outside == []


def test_the_scan_finds_the_writes_it_must_forbid(tmp_path):
    """The scan is not vacuous: it sees core/ledger's own writes, and every form it forbids."""
    inside = [w for p in _sources() if str(p.relative_to(ROOT)).startswith(ALLOWED[0]) for w in writes(p)]
    assert len(inside) >= 6
    probe = tmp_path / "probe.py"
    probe.write_text("import sqlalchemy as sa\nfrom creditflow.core import warehouse as wh\n"
                     "C, L = wh.credit_case, wh.ledger\nH = wh.ledger_history\n"
                     "def f(conn):\n    conn.execute(L.update().values(message='x'))\n"
                     "    conn.execute(wh.ledger.delete())\n    conn.execute(H.insert())\n"
                     "    conn.execute(sa.text('update cf_ledger set message = 1'))\n"
                     "    conn.execute(C.update())\n", encoding="utf-8")
    assert len(writes(probe)) == 4


def test_no_message_prefix_carries_meaning():
    prefixes = re.compile(r"""["'](credit|replaced_by):["'{]""")
    used = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in _sources()
            if not str(p.relative_to(ROOT)).startswith(ALLOWED[1])
            for m in prefixes.finditer(p.read_text(encoding="utf-8"))]
    assert used == []
