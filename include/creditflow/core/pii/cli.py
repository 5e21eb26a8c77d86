"""``creditflow keys …`` — the personal-data keys (#19 §3).

* ``keys new`` prints the connection ``creditflow_pii`` (JSON, as ``AIRFLOW_CONN_CREDITFLOW_PII`` or a secrets
  backend takes it) of the current keyring plus a fresh key made active: the operator stores it where the
  deployment keeps the connection, restarts, then runs ``keys rotate``. The keys go to stdout only, never to
  a log; with ``--first`` (no keyring yet) a new keyring.
* ``keys rotate [--batch N]`` reseals every value not under the active key, table by table, each batch its
  own transaction, printing progress; stopped at any moment it continues where it was when run again, and
  until it ends both keys open values (the old key stays in the connection until ``keys status`` shows no
  value under it).
* ``keys status`` counts the sealed values per table and key id.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    keys = subparsers.add_parser("keys", help="personal-data keys: new key, rotation, status (个人信息加密)")
    from creditflow.cli import _Parser

    sub = keys.add_subparsers(dest="action", required=True, parser_class=_Parser)
    url_help = "warehouse SQLAlchemy URL (default: the creditflow_db connection, AIRFLOW_CONN_CREDITFLOW_DB)"
    p = sub.add_parser("new", help="print the connection creditflow_pii with a new active key (stdout only)")
    p.add_argument("--first", action="store_true", help="a new keyring (first set-up, no connection yet)")
    p.add_argument("--id", default=None, help="id of the new key (default k<N+1>)")
    p = sub.add_parser("rotate", help="reseal every value under the active key, in batches, resumable")
    p.add_argument("--db", default=None, help=url_help)
    p.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    p = sub.add_parser("status", help="sealed values per table and key id")
    p.add_argument("--db", default=None, help=url_help)
    keys.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from creditflow.cli import UsageError, _open_warehouse, _warehouse_url
    from creditflow.core.pii import columns, keys

    try:
        if args.action == "new":
            ring = keys.generate_keyring(args.id or "k1") if args.first else keys.keyring().with_new_key(args.id)
            print(keys.connection_json(ring))
            print(f"新密钥 {ring.active} 已设为当前密钥：请将上行存入连接 {keys.CONN_ID}（环境变量或密钥后端），"
                  "重启后运行 creditflow keys rotate", file=sys.stderr)
            return 0
        ring = keys.keyring()
        if args.action == "rotate" and args.batch < 1:
            raise UsageError("creditflow keys rotate: --batch 至少为 1")
        engine, shown = _open_warehouse(_warehouse_url(args.db), must_exist=True)
        try:
            if args.action == "status":
                for table, counts in columns.status(engine).items():  # type: ignore[arg-type]
                    shown_counts = "，".join(f"{kid}{'（当前）' if kid == ring.active else ''}: {n}"
                                             for kid, n in counts.items()) or "无加密值"
                    print(f"{table}: {shown_counts}")
                return 0

            def progress(table: str, done: int, total: int) -> None:
                print(f"{table}: {done}/{total}", flush=True)

            done = columns.rotate(engine, batch=args.batch, ring=ring, progress=progress)  # type: ignore[arg-type]
            print(f"{shown}: 已将 {sum(done.values())} 行改用密钥 {ring.active} 加密" if len(ring.keys) > 1
                  else f"{shown}: 只有一个密钥 {ring.active}，无需轮换")
            return 0
        finally:
            engine.dispose()  # type: ignore[attr-defined]
    except keys.PiiKeyError as exc:
        print(f"creditflow keys: {exc}", file=sys.stderr)
        return 2
