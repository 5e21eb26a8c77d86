"""``creditflow report monthly|weekly`` — a feedback report from the warehouse, for any period.

    creditflow report monthly --period 2026-10 [--cut-off 2026-11-09] --out DIR [--db URL]
    creditflow report weekly  --week 2026-W44  [--cut-off 2026-11-02] --out DIR [--db URL]

Writes the XLSX, the PDF and ``summary.json`` into DIR and prints the headline figures as JSON on stdout.
``--cut-off`` is a day (figures as of its end, local time); default: the rule's cut-off of the period, or
the present moment when that is still ahead — the printed ``cut_off`` and ``cut_off_basis`` say which.
``--db`` is a SQLAlchemy URL; default: the ``creditflow_db`` connection (``AIRFLOW_CONN_CREDITFLOW_DB``).
Exit 0 on success, 2 on bad arguments (one line on stderr), 1 when the warehouse cannot be used.

Wiring (``creditflow/cli.py``): ``from creditflow.feedback import cli as report_cli`` then
``report_cli.add_parser(sub)`` in ``build_parser``; the parser's ``func`` is :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` (with ``monthly`` and ``weekly``) to a ``creditflow`` sub-parser set."""
    parser = subparsers.add_parser("report", help="feedback reports to 市信用办 (双公示月报, weekly quality report)")
    sub = parser.add_subparsers(dest="report_kind", required=True, parser_class=type(parser))
    for kind, flag, example in (("monthly", "--period", "2026-10"), ("weekly", "--week", "2026-W44")):
        p = sub.add_parser(kind, help=f"the {kind} report of one period")
        p.add_argument(flag, dest="period", required=True, help=f"the period, e.g. {example}")
        p.add_argument("--cut-off", default=None, help="figures as of the end of this day (YYYY-MM-DD); "
                                                       "default: the period's rule cut-off, or now if that "
                                                       "is still ahead (printed as cut_off_basis)")
        p.add_argument("--out", required=True, help="folder for the XLSX, the PDF and summary.json")
        p.add_argument("--db", default=None, help="warehouse SQLAlchemy URL (default: the creditflow_db connection)")
        p.set_defaults(func=run, report_kind=kind)
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"creditflow report: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from creditflow.core import warehouse as wh
    from creditflow.feedback import build, store
    from creditflow.feedback.periods import PeriodError, parse_period, resolve_cut_off

    try:
        period = parse_period(args.report_kind, args.period)
        cut_off, basis = resolve_cut_off(args.cut_off, period)
    except PeriodError as exc:
        return _fail(str(exc))
    url = args.db
    if not url:
        try:
            url = wh.airflow_connection_url("creditflow_db")
        except (LookupError, ValueError) as exc:
            return _fail(f"cannot resolve the warehouse: {exc}; give --db URL")
    try:
        engine = wh.engine_from_url(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        return _fail(f"not a usable database URL: {type(exc).__name__}")
    try:
        try:
            wh.require_current(engine)
        except sa.exc.DBAPIError as exc:
            return _fail(f"cannot read the warehouse: {type(exc.orig).__name__}", 1)
        except Exception as exc:  # SchemaError: not migrated
            return _fail(str(exc), 1)
        report = build.compute(engine, period.kind, period, cut_off, cut_off_basis=basis)
        files = store.write_files(report, args.out)
    finally:
        engine.dispose()
    summary = build.cli_summary(report)
    summary["files"] = {k: str(v) for k, v in files.items() if k != "summary"}
    print(json.dumps(summary, ensure_ascii=False, sort_keys=False))
    return 0
