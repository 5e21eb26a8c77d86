"""``creditflow plan`` — the annual inspection plan from the command line.

    creditflow plan --year 2026 --out var/plans/2026 [--seed N] [--json] [--case-db URL] [--db URL]
                    [--dishonesty-list CSV | --without-dishonesty-list]

Databases are SQLAlchemy URLs; without them the ``case_db`` / ``creditflow_db`` connections are read from
``AIRFLOW_CONN_CASE_DB`` / ``AIRFLOW_CONN_CREDITFLOW_DB`` (an Airflow URI, or JSON with
``extra.sqlalchemy_url`` as in ``config/connections.json``). The warehouse gives the serious-dishonesty
list (``--dishonesty-list`` reads an export instead). A year without an official working-day calendar, a
bad data file, an unreadable input or any other refusal prints one line on stderr and exits 2; a year
with more due work than inspector-days is a plan (exit 0) whose shortfall is printed unit by unit.

Wiring (``creditflow/cli.py``): ``from creditflow.planning import cli as plan_cli`` then
``plan_cli.add_parser(sub)`` inside ``build_parser``; ``main`` calls ``args.func(args)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class ConnectionMissing(ValueError):
    """Neither a URL option nor the Airflow connection variable is set."""


def connection_url(conn_id: str) -> str:
    """SQLAlchemy URL of an Airflow connection given as ``AIRFLOW_CONN_<ID>`` (URI or JSON)."""
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(var, "").strip()
    if not raw:
        raise ConnectionMissing(f"no {var} in the environment: pass the URL as an option")
    if raw.startswith("{"):
        try:
            conn = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConnectionMissing(f"{var}: not JSON: {exc}") from None
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra or "{}")
        if extra.get("sqlalchemy_url"):
            return str(extra["sqlalchemy_url"])
        kind = str(conn.get("conn_type", ""))
        if kind in ("postgres", "postgresql"):
            auth = str(conn.get("login") or "") + (f":{conn['password']}" if conn.get("password") else "")
            return (f"postgresql+psycopg2://{auth}@{conn.get('host', 'localhost')}:{conn.get('port') or 5432}/"
                    f"{conn.get('schema') or ''}")
        if kind == "sqlite":
            return f"sqlite:///{conn.get('host', '')}"
        raise ConnectionMissing(f"{var}: no extra.sqlalchemy_url and conn_type {kind!r} is not a database")
    parts = urlsplit(raw)
    query = parse_qs(parts.query)
    if "sqlalchemy_url" in query:
        return unquote(query["sqlalchemy_url"][0])
    if parts.scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg2://" + raw.split("://", 1)[1]
    return raw


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plan", help="annual supervision-inspection plan (年度监督检查计划)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--year", type=int, required=True, help="plan year (its official calendar must be known)")
    p.add_argument("--out", required=True, help="directory for this year's plan (e.g. var/plans/2026), or an fsspec "
                                                "URL such as s3://bucket/plans/2026 (needs s3fs)")
    p.add_argument("--seed", type=int, default=None, help="seed of the 双随机 draws (default: the year)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--case-db", default=None, help="SQLAlchemy URL of the case system (default: case_db connection)")
    p.add_argument("--db", default=None, help="SQLAlchemy URL of the warehouse, read for the serious-dishonesty "
                                              "list (default: creditflow_db connection)")
    p.add_argument("--as-of", type=_date, default=None,
                   help="read records dated before this day (default: 1 January of the plan year)")
    p.add_argument("--dishonesty-list", default=None, help="CSV export of the 严重失信主体名单 (uscc, name, listed_on, "
                                                           "removed_on, reason), read instead of the warehouse")
    p.add_argument("--without-dishonesty-list", action="store_true",
                   help="plan with an empty list, said so in the plan (only when no warehouse is reachable)")
    p.add_argument("--conflicts", default=None, help="CSV of conflicts of interest (inspector_id, ent_key, reason)")
    p.add_argument("--hazard-tags", default=None, help="CSV of hazard tags (ent_key, tag): 粉尘涉爆, 有限空间 …")
    p.add_argument("--previous", default=None, help="last year's plan directory (default: ../<year-1> next to --out)")
    p.add_argument("--time-limit", type=float, default=30.0, help="solver time limit in seconds")
    p.set_defaults(func=run)
    return p


def _fail(message: str) -> int:
    from creditflow.common import mask_text

    print(mask_text(f"creditflow plan: {message}".replace("\n", " ")), file=sys.stderr)
    return 2


def list_source(args: argparse.Namespace) -> Any:
    """Where the serious-dishonesty list comes from: an exported CSV when given, else the warehouse (``--db`` or
    the creditflow_db connection). No list at all is a refusal unless asked for: the list puts units on the
    key list (上年度列入) and raises their frequency (仍在名单内), so a plan without it must say so on purpose."""
    from creditflow.planning import inputs as pin
    from creditflow.planning.dishonesty import WarehouseDishonestyList

    if args.dishonesty_list:
        return pin.CsvDishonestyList(args.dishonesty_list)
    if args.without_dishonesty_list:
        return pin.NoDishonestyList()
    try:
        url = args.db or connection_url("creditflow_db")
    except ConnectionMissing as exc:
        raise ConnectionMissing(f"严重失信主体名单无从读取（{exc}）：请给出 --db（信用库）或 --dishonesty-list，"
                                "确无名单时用 --without-dishonesty-list") from None
    return WarehouseDishonestyList(url)


def run(args: argparse.Namespace) -> int:
    """The plan for ``args.year``: 0 when written (a shortfall is part of the plan, not an error), 2 with one
    line on stderr for anything that stops it — never a traceback."""
    try:
        return _run(args)
    except Exception as exc:  # the last net: a user never sees a traceback
        return _fail(f"计划未能编制（{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}）")


def _run(args: argparse.Namespace) -> int:
    from creditflow.common import mask_text
    from creditflow.core.fonts import FontMissing
    from creditflow.core.workdays import CalendarDataError, CalendarNotCovered
    from creditflow.planning import inputs as pin
    from creditflow.planning.params import PlanDataError
    from creditflow.planning.plan import PlanCheckError, build_plan, general_kind_zh, require_calendar
    from creditflow.planning.store import previous_plan, read_plan, save_plan

    try:
        if not args.time_limit > 0:
            raise ValueError(f"--time-limit must be positive, got {args.time_limit}")
        require_calendar(args.year)
        case_url = args.case_db or connection_url("case_db")
        source = list_source(args)
        data = pin.load_case_db(case_url, args.year, as_of=args.as_of, list_source=source,
                                hazard_tags=pin.read_hazard_tags(args.hazard_tags) if args.hazard_tags else None,
                                conflicts=pin.read_conflicts(args.conflicts) if args.conflicts else None)
        previous = read_plan(args.previous) if args.previous else previous_plan(args.out, args.year)
        seed = args.year if args.seed is None else args.seed
        plan = build_plan(args.year, data, seed=seed, time_limit=args.time_limit, previous=previous)
        paths = save_plan(plan, args.out)
    except (CalendarNotCovered, CalendarDataError, PlanDataError, PlanCheckError, pin.InputError, ConnectionMissing,
            FontMissing, ValueError, OSError) as exc:
        return _fail(str(exc))
    summary = plan.summary()
    shortfall = [{k: u[k] for k in ("ent_id", "name", "kind", "missing", "inspector_days")}
                 for u in plan.shortfall_units()]
    if args.json:
        print(mask_text(json.dumps({**summary, "shortfall": shortfall}, ensure_ascii=False)))
        return 0
    for key, value in summary.items():
        print(f"{key}: {value}")
    if shortfall:
        print(f"缺口：{summary['mandatory_unscheduled']}户次必检未能安排，缺{summary['shortfall_inspector_days']}人·日"
              f"（{len(shortfall)}家，见XLSX“未安排”表）")
        for u in shortfall:
            kind = "重点单位" if u["kind"] == "key" else general_kind_zh(plan.params.regime.general_cycle_years)
            print(mask_text(f"  {u['ent_id']} {u['name']}：{kind}，未安排{u['missing']}户次，"
                            f"缺{u['inspector_days']}人·日"))
    for problem in plan.inputs.data_problems:
        print(mask_text(f"数据问题：{problem}"))
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``plan`` on its own (``python -m creditflow.planning.cli``) until it is wired into ``creditflow``."""
    parser = argparse.ArgumentParser(prog="creditflow")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
