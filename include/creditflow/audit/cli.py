"""``creditflow audit pii-scan`` — the auditor's check of #19 §3: no personal data in clear where it is stored.

    creditflow audit pii-scan --manifest var/manifest.jsonl --sqlite var/creditflow.sqlite \\
        --dir .airflow [--pg postgresql://…/creditflow] [--json]

Prints, per source and per table or file, how many resident ID numbers and natural persons' names it found,
with masked samples only. Exit 0 when nothing is found, 1 when something is, 2 on bad arguments.

Wiring (``creditflow/cli.py``): ``from creditflow.audit import cli as audit_cli`` then
``audit_cli.add_parser(sub)`` in ``build_parser``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("audit", help="the auditor's checks (#19 §3)")
    sub = parser.add_subparsers(dest="audit_kind", required=True, parser_class=type(parser))
    p = sub.add_parser("pii-scan", help="look for resident ID numbers and persons' names in clear in raw storage")
    p.add_argument("--manifest", default=None,
                   help="the generator's manifest (JSON lines): its ID numbers and persons' names are looked for too")
    p.add_argument("--sqlite", action="append", default=[], metavar="FILE",
                   help="a SQLite file: its bytes, its -wal/-shm/-journal siblings and its tables (repeatable)")
    p.add_argument("--pg", action="append", default=[], metavar="URL",
                   help="a PostgreSQL database, scanned as pg_dump writes it (repeatable)")
    p.add_argument("--dir", action="append", default=[], metavar="DIR",
                   help="a folder (the Airflow home: logs, metadata database), every file in it (repeatable)")
    p.add_argument("--json", action="store_true", help="the findings as JSON")
    p.set_defaults(func=run)
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"creditflow audit pii-scan: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from creditflow.audit.pii_scan import report_text, scan

    if not (args.sqlite or args.pg or args.dir):
        return _fail("give at least one of --sqlite FILE, --pg URL, --dir DIR")
    for path in [*args.sqlite, *args.dir, *([args.manifest] if args.manifest else [])]:
        if not Path(path).exists():
            return _fail(f"不存在：{path}")
    try:
        sources = scan(sqlite=args.sqlite, postgres=args.pg, directories=args.dir, manifest=args.manifest)
    except RuntimeError as exc:
        return _fail(str(exc))
    except (OSError, ValueError) as exc:
        return _fail(f"无法读取：{exc}")
    if args.json:
        print(json.dumps([s.as_dict() for s in sources], ensure_ascii=False, indent=1))
    else:
        print(report_text(sources))
    return 1 if any(s.total for s in sources) else 0
