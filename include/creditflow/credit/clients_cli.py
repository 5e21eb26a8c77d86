"""``creditflow clients add|list|rotate|revoke|limit`` — the registry of 诚信审核's machine clients
(:mod:`creditflow.credit.clients`), wired into ``creditflow.cli`` by :func:`add_parser`.

* ``add ID --name 中文名称 [--rate 600/minute]`` — registers a client and prints its credential **once**
  (``cfk_<ID>.<secret>``; only its hash is stored);
* ``list [--json]`` — every client, revoked ones included (no hash, no secret);
* ``rotate ID [--grace-hours 24]`` — prints a new credential once; the old one stays valid for the grace period
  (``0``: ends at once);
* ``revoke ID`` — refused from the next request on, in every API-server worker;
* ``limit ID RATE`` — a new rate limit.

Each change is recorded with ``cli:<OS user>`` and the time. ``--db`` is the warehouse (default: the
``creditflow_db`` connection). Bad arguments print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
from typing import Any

from creditflow.credit.cli import DB_HELP, _engine, _Usage


def add_parser(subparsers: Any) -> None:
    from creditflow.cli import _Parser
    from creditflow.credit.clients import DEFAULT_RATE_LIMIT

    cl = subparsers.add_parser("clients", help="诚信审核的机器客户端（许可、采购系统）：凭据的发放、轮换与吊销")
    sub = cl.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = sub.add_parser("add", help="register a client system; prints its credential once")
    p.add_argument("client_id", metavar="ID", help="3-32 lower-case letters, digits or '-', e.g. zh-licensing")
    p.add_argument("--name", required=True, help="the calling system's Chinese name, e.g. 珠海市行政许可审批系统")
    p.add_argument("--rate", default=DEFAULT_RATE_LIMIT, help=f"rate limit (default {DEFAULT_RATE_LIMIT})")
    p = sub.add_parser("list", help="every client (revoked ones too); never a secret")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("rotate", help="a new secret (printed once); the old one valid for --grace-hours")
    p.add_argument("client_id", metavar="ID")
    p.add_argument("--grace-hours", type=float, default=24.0, help="how long the old secret stays valid (0: not)")
    p = sub.add_parser("revoke", help="refuse the client's credential from the next request on")
    p.add_argument("client_id", metavar="ID")
    p = sub.add_parser("limit", help="set a client's rate limit")
    p.add_argument("client_id", metavar="ID")
    p.add_argument("rate", help="e.g. 600/minute")
    for action in sub.choices.values():
        action.add_argument("--db", default=None, help=DB_HELP)
    cl.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    try:
        return _run(args)
    except _Usage as exc:
        print(f"creditflow clients {args.action}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"creditflow clients {args.action}: {exc}", file=sys.stderr)
        return 2
    except sa.exc.DBAPIError as exc:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        print(f"creditflow clients {args.action}: warehouse error: {first}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from creditflow.credit import clients

    by = f"cli:{getpass.getuser()}"
    engine = _engine(args.db)
    try:
        if args.action == "add":
            credential = clients.add(engine, args.client_id, args.name, by=by, rate_limit=args.rate)
            print(f"已登记客户端 {args.client_id}（{args.name}），限流 {args.rate}。"
                  "凭据只显示这一次，请交给对方系统管理员妥善保存：")
            print(credential)
        elif args.action == "rotate":
            if args.grace_hours < 0:
                raise _Usage("--grace-hours 不能为负数")
            credential, until = clients.rotate(engine, args.client_id, by=by,
                                               grace=dt.timedelta(hours=args.grace_hours))
            old = f"旧凭据有效至 {until}（UTC）。" if until else "旧凭据立即失效。"
            print(f"已轮换客户端 {args.client_id} 的凭据；{old}新凭据只显示这一次：")
            print(credential)
        elif args.action == "revoke":
            clients.revoke(engine, args.client_id, by=by)
            print(f"已吊销客户端 {args.client_id}：其凭据自下一次请求起被拒绝。")
        elif args.action == "limit":
            clients.set_rate_limit(engine, args.client_id, args.rate)
            print(f"客户端 {args.client_id} 的限流已改为 {args.rate}。")
        else:
            rows = clients.listing(engine)
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            for r in rows if not args.json else []:
                state = f"已吊销（{r['revoked_at']}，{r['revoked_by']}）" if r["revoked_at"] else "有效"
                rotated = f"，轮换于 {r['rotated_at']}" if r["rotated_at"] else ""
                grace = f"，旧凭据有效至 {r['previous_valid_until']}" if r["previous_valid_until"] else ""
                print(f"{r['client_id']}\t{r['name_zh']}\t{r['scope']}\t{r['rate_limit']}\t{state}\t"
                      f"登记于 {r['created_at']}（{r['created_by']}）{rotated}{grace}")
    finally:
        engine.dispose()
    return 0
