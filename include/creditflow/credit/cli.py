"""``creditflow integrity`` and ``creditflow impact`` — wired into ``creditflow.cli`` by
:func:`add_parser` (subcommands on its subparsers) and :func:`run` (the handler, returns the exit code).

* ``creditflow integrity CODE… [--file parties.csv] [--xlsx out.xlsx] [--json] [--purpose P] [--as-of DATE]
  [--db URL]`` — 诚信审核 per party; exit 0 when every party passes, 1 when any fails or has an invalid
  code, 2 on bad arguments. Every check is logged in the warehouse as asked by ``cli:<OS user>``.
* ``creditflow impact --categories 罚款,责令停产停业 --amount 50000 --decided 2026-05-06 --party-type legal
  [--party CODE] [--violation TEXT] [--basis TEXT] [--db URL] [--json]`` — 处罚前信用影响评估.

``--db`` is the warehouse (default: the ``creditflow_db`` connection as Airflow hands it to processes,
``AIRFLOW_CONN_CREDITFLOW_DB``). Bad arguments print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DB_HELP = "warehouse SQLAlchemy URL (default: the creditflow_db connection, AIRFLOW_CONN_CREDITFLOW_DB)"


class _Usage(Exception):
    pass


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def add_parser(subparsers: Any) -> None:
    """Add ``integrity`` and ``impact`` to the main parser's subparsers (sets ``func`` = :func:`run`)."""
    p = subparsers.add_parser("integrity", help="诚信审核: may these parties proceed? (USCC or resident ID)")
    p.add_argument("codes", nargs="*", metavar="CODE")
    p.add_argument("--file", help="CSV of parties (a code column; a name column optional)")
    p.add_argument("--xlsx", help="write the answers to this XLSX file (batch mode)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--purpose", default=None, help="licensing | procurement | bidding (default: integrity.yaml)")
    p.add_argument("--as-of", type=_date, default=None, help="the day the check is for (default: today)")
    p.add_argument("--db", default=None, help=DB_HELP)
    p.set_defaults(func=run, credit_command="integrity")

    p = subparsers.add_parser("impact", help="处罚前信用影响评估 of a draft penalty")
    p.add_argument("--categories", required=True, help="处罚类别, comma separated (e.g. 罚款,责令停产停业)")
    p.add_argument("--amount", default=None, help="fine in 元")
    p.add_argument("--decided", type=_date, required=True, help="decision date (YYYY-MM-DD)")
    p.add_argument("--party-type", required=True, help="legal | individual | natural")
    p.add_argument("--party", default=None, help="the party's code (USCC or resident ID): adds its history")
    p.add_argument("--violation", default=None, help="违法行为类型 (decides some listing situations)")
    p.add_argument("--basis", default=None, help="处罚依据")
    p.add_argument("--db", default=None, help=DB_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run, credit_command="impact")


def _engine(url: str | None) -> Any:
    from creditflow.core import warehouse as wh

    if not url:
        try:
            url = wh.airflow_connection_url("creditflow_db")
        except (LookupError, ValueError) as exc:
            raise _Usage(f"cannot resolve the warehouse: {exc}; give --db URL") from None
    try:
        return wh.engine_from_url(url)
    except Exception as exc:  # bad URL or missing driver: the user's to fix
        raise _Usage(f"cannot open the warehouse: {type(exc).__name__}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from creditflow.common import mask_text

    try:
        if args.credit_command == "impact":
            return _impact(args)
        return _integrity(args)
    except _Usage as exc:
        print(f"creditflow {args.credit_command}: {exc}", file=sys.stderr)
        return 2
    except sa.exc.DBAPIError as exc:
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        print(f"creditflow {args.credit_command}: warehouse error: {first}", file=sys.stderr)
        return 2
    except sa.exc.OperationalError as exc:  # pragma: no cover — raised as DBAPIError above in practice
        print(f"creditflow {args.credit_command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback for a user: one line, exit 2
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"creditflow {args.credit_command}: 无法处理该输入（{type(exc).__name__}：{mask_text(first)[:200]}）",
              file=sys.stderr)
        return 2


def _impact(args: argparse.Namespace) -> int:
    from creditflow.core import standard
    from creditflow.credit import impact, rules

    cats = [c.strip() for c in re.split(r"[,，;；、]", args.categories) if c.strip()]
    known = set(standard.enum_values("CF_CFLB"))
    unknown = [c for c in cats if c.split("-")[0] not in known]
    if unknown or not cats:
        raise _Usage(f"unknown 处罚类别 {unknown or args.categories!r}; known: {'、'.join(sorted(known))}")
    amount: Any = args.amount
    if amount is not None and "罚款" not in {c.split("-")[0] for c in cats}:
        raise _Usage(f"--amount 只用于罚款：处罚类别（{'、'.join(cats)}）不含罚款")
    if amount is not None:
        try:
            amount = float(str(amount).replace(",", "").replace("，", ""))
        except ValueError:
            raise _Usage(f"罚款金额须为数字（元），收到：{args.amount}") from None
    try:
        party_type = rules.party_type_of(args.party_type)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    engine = _engine(args.db) if args.party else None
    draft = impact.Draft(categories=cats, decided=args.decided, party_type=party_type, amount_yuan=amount,
                         party=args.party, violation=args.violation, basis=args.basis)
    try:
        out = impact.preview(draft, engine)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    except rules.NoRuleInForce as exc:
        raise _Usage(str(exc)) from None
    finally:
        if engine is not None:
            engine.dispose()
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    lst = out["listing"]
    print(f"适用规则：{out['regime_zh']}（{out['regime']}），类别 {out['class']}")
    print(f"是否公示：{'是' if out['published'] else '否'}；最短公示期至 {out['publicity_min_until'] or '—'}；"
          f"最长公示期至 {out['publicity_max_until']}；最早可申请修复 {out['earliest_repair'] or '不适用'}"
          + ("（所涉年度节假日安排尚未公布，期限最后一日暂仅按周末顺延）" if out.get("dates_provisional") else ""))
    if lst.get("may_trigger"):
        hits = "、".join(s["article"] for s in lst["situations"]) + " " + lst["situations"][0]["note_zh"]
    else:
        maybe = "、".join(s["article"] for s in lst["possible"])
        hits = "不触发" + (f"（可能：{maybe}，{lst['possible'][0]['needs_zh']}）" if lst["possible"] else "")
    print(f"严重失信名单：{hits}")
    print(f"诚信审核不通过至：{impact.integrity_text_zh(out)}（{out['integrity_purpose']}）")
    return 0


def _integrity(args: argparse.Namespace) -> int:
    import getpass

    from creditflow.common import mask_text
    from creditflow.credit import integrity

    rows = [{"code": c, "name": ""} for c in args.codes]
    if args.file:
        try:
            rows += integrity.read_parties_csv(Path(args.file).read_bytes())
        except OSError as exc:
            raise _Usage(f"cannot read {args.file}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Usage(f"{args.file}: {exc}") from None
    if not rows:
        raise _Usage("give at least one CODE or --file parties.csv")
    engine = _engine(args.db)
    try:
        answers = integrity.check(engine, [r["code"] for r in rows], asked_by=f"cli:{getpass.getuser()}",
                                  channel="batch" if args.file else "cli", purpose=args.purpose, as_of=args.as_of)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    finally:
        engine.dispose()
    if args.xlsx:
        Path(args.xlsx).write_bytes(integrity.to_xlsx(rows, answers))
    if args.json:
        print(json.dumps(answers, ensure_ascii=False, indent=2))
    else:
        for ans in answers:
            if not ans["valid"]:
                print(f"{ans['code']}\t代码无效\t{ans['error']}")
            else:
                print(mask_text(f"{ans['code']}\t{'通过' if ans['verdict'] == 'pass' else '不通过'}\t"
                                f"{ans.get('party_name') or ''}\t{'；'.join(ans['reasons'])}"))
    return 0 if all(a.get("verdict") == "pass" for a in answers) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m creditflow.credit.cli``), the same as ``creditflow integrity|impact``."""
    from creditflow.cli import UsageError, _Parser

    parser = _Parser(prog="creditflow")
    add_parser(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
