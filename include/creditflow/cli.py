"""``creditflow`` — the command line for data engineers.

Subcommands: ``workdays`` (working-day arithmetic on the official calendar), ``check`` (validate a
district submission), ``sandbox`` (run the outside systems' sandboxes), ``generate`` (fill them with
realistic dirty data and a ground-truth manifest), ``db`` (the warehouse schema: ``upgrade`` to the
latest revision, ``current``, ``history``; the warehouse is ``--db URL`` or else the ``creditflow_db``
connection as Airflow hands it to processes, ``AIRFLOW_CONN_CREDITFLOW_DB``), ``audit pii-scan`` (the
auditor's check that no personal data is stored in clear, :mod:`creditflow.audit`), ``keys`` (the personal-data
keys: ``new``, ``rotate``, ``status``), ``clients`` (the machine clients of 诚信审核).

Errors a user can fix (bad arguments, an uncovered year, an unreadable file) print one line on stderr
and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from creditflow.common import KINDS

if TYPE_CHECKING:
    from creditflow.core.duedates import Due


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _date(text: str) -> dt.date:
    from creditflow.core.normalize import parse_date

    value = parse_date(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)")
    return value


def _how_to_know(due: Due) -> str:
    """What makes an unknown deadline computable (the missing year's official calendar), or nothing."""
    y = due.missing_year
    return f"：补充 data/calendar/{y}.yaml（国务院办公厅{y}年部分节假日安排）后可计算" if y else ""


def _cmd_workdays(args: argparse.Namespace) -> int:
    from creditflow.core import duedates, workdays

    if args.action == "add":
        print(workdays.add_working_days(args.date, args.n).isoformat())
    elif args.action == "due":
        due = duedates.sgs_due(args.date)  # the one 双公示 deadline, as the pipeline and the pages compute it
        if due.date is None:
            raise UsageError(f"creditflow workdays due: 上网公开期限{due.label_zh()}{_how_to_know(due)}")
        print(due.date.isoformat())
    elif args.action == "between":
        print(workdays.working_days_between(args.date, args.end))
    elif args.action == "export":
        sys.stdout.write(workdays.official_calendar().export_year(args.year))
    elif args.action == "count":
        print(workdays.official_calendar().working_days_in_year(args.year))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from creditflow.reporting.check import run_check

    return run_check(args.file, kind=args.kind, as_json=args.json, as_of=args.as_of)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from creditflow_sandbox import serve

    serve(args.system, host=args.host, port=args.port, db_url=args.db)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    import json

    from creditflow_sandbox.generator import DEFAULT_RATES, DEFECTS, GeneratorConfig, generate_to

    rates = dict(DEFAULT_RATES)
    if args.rates:
        try:
            given = json.loads(args.rates)
        except json.JSONDecodeError as exc:
            raise UsageError(f"creditflow generate: --rates is not JSON: {exc}") from None
        unknown = set(given) - set(DEFECTS)
        if unknown:
            raise UsageError(f"creditflow generate: unknown defects {sorted(unknown)}; known: {', '.join(DEFECTS)}")
        rates.update({k: float(v) for k, v in given.items()})
    if args.horizon is not None and args.horizon < args.start:
        raise UsageError(f"creditflow generate: --horizon {args.horizon} is before --start {args.start}")
    cfg = GeneratorConfig(seed=args.seed, decisions=args.decisions, start=args.start, days=args.days, rates=rates,
                          corrupt_file_share=args.corrupt_files, horizon=args.horizon)
    summary = generate_to(cfg, case_db_url=args.case_db, licensing_db_url=args.licensing_db,
                          inbox=args.inbox, manifest=args.manifest, timeline=args.timeline)
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


def _warehouse_url(given: str | None) -> str:
    if given:
        return given
    from creditflow.core.warehouse import airflow_connection_url

    try:
        return airflow_connection_url("creditflow_db")
    except (LookupError, ValueError) as exc:
        raise UsageError(f"creditflow db: cannot resolve the warehouse: {exc}; give --db URL") from None


def _shown(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _open_warehouse(url: str, must_exist: bool) -> tuple[object, str]:
    from pathlib import Path

    import sqlalchemy as sa

    from creditflow.core.warehouse import engine_from_url

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise UsageError("creditflow db: not a database URL (e.g. postgresql+psycopg2://user@host/db, "
                         "sqlite:///path/file.sqlite)") from None
    shown = parsed.render_as_string(hide_password=True)
    if must_exist and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        raise UsageError(f"creditflow db: no such SQLite file: {parsed.database}")
    try:
        return engine_from_url(url), shown
    except (sa.exc.NoSuchModuleError, ImportError, OSError) as exc:
        raise UsageError(f"creditflow db: cannot open {shown}: {exc}") from None


def _cmd_db(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from creditflow.core import migrations
    from creditflow.core import warehouse as wh

    head = migrations.head()
    if args.action == "history":
        for rev, doc in migrations.revisions():
            print(f"{rev}{' (head)' if rev == head else ''}  {doc}")
        return 0
    engine, shown = _open_warehouse(_warehouse_url(args.db), must_exist=args.action == "current")
    assert isinstance(engine, sa.Engine)
    try:
        if args.action == "upgrade":
            try:
                before, after = wh.upgrade(engine, args.to)
            except ValueError as exc:
                raise UsageError(f"creditflow db upgrade: {exc}") from None
            if before == after:
                print(f"{shown}: already at {after}{' (head)' if after == head else ''}")
            else:
                was = {None: "empty", "legacy": "create_all schema without version, stamped " + migrations.BASELINE}
                print(f"{shown}: {was.get(before, before)} → {after}{' (head)' if after == head else ''}")
        else:
            with engine.connect() as conn:
                at = migrations.state(conn)
            note = {head: " (head)", "empty": " (no tables: `creditflow db upgrade` creates them)",
                    "legacy": f" (create_all schema without version: `creditflow db upgrade` stamps it "
                              f"{migrations.BASELINE})"}.get(at, f" (behind {head}: run `creditflow db upgrade`)")
            print(f"{shown}: {at}{note}")
        return 0
    except sa.exc.DBAPIError as exc:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        raise UsageError(f"creditflow db: cannot use {shown}: {first}") from None
    except migrations.SchemaError as exc:
        print(f"creditflow db: {shown}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="creditflow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    wd = sub.add_parser("workdays", help="working days on the official calendar (法定工作日)")
    wd_sub = wd.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = wd_sub.add_parser("add", help="the date N working days after DATE (DATE not counted)")
    p.add_argument("date", type=_date)
    p.add_argument("n", type=int)
    p = wd_sub.add_parser("due", help="双公示 deadline for a decision made on DATE (7 working days)")
    p.add_argument("date", type=_date)
    p = wd_sub.add_parser("between", help="working days in (DATE, END]")
    p.add_argument("date", type=_date)
    p.add_argument("end", type=_date)
    p = wd_sub.add_parser("count", help="working days in YEAR")
    p.add_argument("year", type=int)
    p = wd_sub.add_parser("export", help="YEAR's schedule as an override file (YAML)")
    p.add_argument("year", type=int)
    wd.set_defaults(func=_cmd_workdays)

    ck = sub.add_parser("check", help="validate one district submission (xlsx/csv)")
    ck.add_argument("file")
    ck.add_argument("--kind", choices=list(KINDS))
    ck.add_argument("--json", action="store_true")
    ck.add_argument("--as-of", type=_date, default=None,
                    help="reference date for 'not in the future' checks (default: today)")
    ck.set_defaults(func=_cmd_check)

    sb = sub.add_parser("sandbox", help="run a sandbox of an outside system")
    sb.add_argument("system", choices=["platform", "licensing"])
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=None)
    sb.add_argument("--db", default=None, help="SQLAlchemy URL (default: a SQLite file)")
    sb.set_defaults(func=_cmd_sandbox)

    gen = sub.add_parser("generate", help="fill the sandboxes with realistic dirty data")
    gen.add_argument("--seed", type=int, default=20261127)
    gen.add_argument("--decisions", type=int, default=1000)
    gen.add_argument("--start", type=_date, default=dt.date(2026, 11, 2))
    gen.add_argument("--days", type=int, default=14)
    gen.add_argument("--case-db", default=None, help="SQLAlchemy URL of the case system")
    gen.add_argument("--licensing-db", default=None, help="SQLAlchemy URL of the licensing sandbox")
    gen.add_argument("--inbox", default=None, help="district inbox folder")
    gen.add_argument("--manifest", default=None, help="ground-truth manifest (JSON lines)")
    gen.add_argument("--rates", default=None,
                     help='defect rates as JSON, e.g. \'{"bad_checksum": 0.05, "late_entry": 0.1}\'')
    gen.add_argument("--corrupt-files", type=float, default=0.0, help="share of district files made unreadable")
    gen.add_argument("--horizon", type=_date, default=None,
                     help="last day anything may happen: every later change is drawn inside the window")
    gen.add_argument("--timeline", default=None,
                     help="seed only the past; later entries, licences and events go to this JSONL file "
                          "(released day by day as make demo does)")
    gen.set_defaults(func=_cmd_generate)

    db = sub.add_parser("db", help="the warehouse schema (versioned migrations)")
    db_sub = db.add_subparsers(dest="action", required=True, parser_class=_Parser)
    url_help = "warehouse SQLAlchemy URL (default: the creditflow_db connection, AIRFLOW_CONN_CREDITFLOW_DB)"
    p = db_sub.add_parser("upgrade", help="bring the warehouse to the latest revision (creates it when empty)")
    p.add_argument("--db", default=None, help=url_help)
    p.add_argument("--to", default="head", help="target revision (default: head)")
    p = db_sub.add_parser("current", help="the revision the warehouse is at")
    p.add_argument("--db", default=None, help=url_help)
    db_sub.add_parser("history", help="the revisions, oldest first")
    db.set_defaults(func=_cmd_db)

    # Capabilities bring their own subcommands (each module: add_parser(sub), run(args)).
    from creditflow.audit import cli as audit_cli
    from creditflow.core.pii import cli as keys_cli
    from creditflow.credit import cli as credit_cli
    from creditflow.credit import clients_cli
    from creditflow.feedback import cli as report_cli
    from creditflow.planning import cli as plan_cli

    plan_cli.add_parser(sub)
    report_cli.add_parser(sub)
    credit_cli.add_parser(sub)
    clients_cli.add_parser(sub)
    audit_cli.add_parser(sub)
    keys_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from creditflow.core.pii import PiiKeyError
    from creditflow.core.workdays import CalendarDataError, CalendarNotCovered

    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (CalendarNotCovered, CalendarDataError) as exc:
        print(f"creditflow: {exc}", file=sys.stderr)
        return 2
    except PiiKeyError as exc:  # no keyring (e.g. `db upgrade` to 0018): the Chinese message names the connection
        print(f"creditflow: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
