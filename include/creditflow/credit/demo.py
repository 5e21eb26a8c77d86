"""The demo's people: one 严重失信名单 case and one credit repair walked through the page's steps.

``python -m creditflow.credit.demo --db URL [--platform URL] [--today YYYY-MM-DD]`` (``make demo`` runs it
after the catch-up runs): the demo users of ``scripts/airflow_env.py`` act as on the 信用管理 page —
reviewer1 records and proposes, reviewer2 approves. The case is the first candidate the ``credit_list``
DAG proposed (or one made from a synthetic penalty when there is none); it goes notice → delivery →
waiver → decision, and with ``--platform`` it is published at once (otherwise the DAG's next run does).
The repair is of a penalty decided 13 months earlier (past the minimum period under either order).
Running it again changes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from creditflow.core import warehouse as wh
from creditflow.credit import candidates, lifecycle, penalties, publish
from creditflow.credit.roles import Reviewer

# The demo's users (roles.demo.yaml) with the role the directory gives them in production (roles.yaml).
OFFICER, APPROVER = Reviewer("reviewer1", ("信用管理",)), Reviewer("reviewer2", ("信用管理",))
DEMO_USCC = "91440400MA51XR7Q0X"


def _synthetic_penalty(decided: dt.date, decision_id: str, violation: str) -> dict[str, Any]:
    at = dt.datetime(decided.year, decided.month, decided.day, 10)
    return {"decision_id": decision_id, "doc_no": f"珠应急罚〔{decided.year}〕{decision_id[-4:]}号",
            "decision_date": decided, "penalty_codes": "FK", "fine_yuan": 30000, "status": "VALID", "created_at": at,
            "updated_at": at, "party_type": "ENT", "party_name": "珠海源泰新材料有限公司", "party_uscc": DEMO_USCC,
            "person_id_no": None, "violation_type": violation, "facts": f"经查，该单位{violation}。",
            "legal_basis": "《危险化学品安全管理条例》第七十七条第三款", "content": "罚款人民币3万元",
            "authority_name": "珠海市应急管理局", "authority_uscc": "11440400MB2C123457"}


def walk_listing(engine: sa.Engine, today: dt.date) -> str:
    C = wh.credit_case
    with engine.connect() as conn:
        done = conn.execute(sa.select(C.c.case_id).where(C.c.state.in_(lifecycle.ACTIVE))).first()
        first = conn.execute(sa.select(C.c.case_id).where(C.c.state == "candidate").order_by(C.c.case_id)).first()
    if done is not None:
        return str(done[0])
    if first is None:
        row = _synthetic_penalty(today - dt.timedelta(days=20), "DEMO0001",
                                 "未取得危险化学品经营许可证从事危险化学品经营")
        found = candidates.from_penalties([row])
        candidates.propose_all(engine, found, today - dt.timedelta(days=20))
        case_id = found[0]["case_id"]
    else:
        case_id = str(first[0])
    lifecycle.propose(engine, case_id, "issue_notice", OFFICER, today, note="线索核实，拟列入")
    lifecycle.approve(engine, case_id, APPROVER, today, "credit_demo")
    lifecycle.record_notice_delivery(engine, case_id, today, "直接送达", OFFICER)
    lifecycle.record_objection(engine, case_id, today, "当场书面放弃陈述申辩", OFFICER, waiver=True)
    lifecycle.propose(engine, case_id, "decide_listing", OFFICER, today, note="无证经营危险化学品，情节严重")
    lifecycle.approve(engine, case_id, APPROVER, today, "credit_demo")
    return case_id


def walk_repair(engine: sa.Engine, today: dt.date) -> str:
    decided = today - relativedelta(months=13)  # past the minimum period under Order 58 and Order 36 alike
    row = _synthetic_penalty(decided, "DEMO0002", "未将事故隐患排查治理情况如实记录")
    penalties.track(engine, [row])
    pid = f"case_db:{row['decision_id']}"
    with engine.connect() as conn:
        status = conn.execute(sa.select(wh.credit_penalty.c.status)
                              .where(wh.credit_penalty.c.penalty_id == pid)).scalar()
    if status != "publicising":
        return pid
    penalties.record_notice_delivery(engine, pid, decided, "与处罚决定书同时直接送达", OFFICER)
    rid = penalties.record_repair_request(engine, pid, today - dt.timedelta(days=3),
                                          {"commitment": True, "note": "罚款已缴清，隐患已整改"}, OFFICER)
    penalties.propose_request(engine, rid, "approve", ["obligations"], OFFICER, today - dt.timedelta(days=2))
    penalties.approve_repair(engine, rid, True, today, APPROVER, "credit_demo", note="同意修复")
    return pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m creditflow.credit.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="warehouse SQLAlchemy URL")
    parser.add_argument("--platform", default=None, help="platform sandbox URL (publish at once)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    from creditflow.common import TZ

    today = args.today or dt.datetime.now(TZ).date()
    engine = wh.engine_from_url(args.db)
    try:
        case_id = walk_listing(engine, today)
        penalty_id = walk_repair(engine, today)
        if args.platform:
            from creditflow.core.platform_client import PlatformClient

            publish.deliver(engine, PlatformClient(args.platform, "creditflow-demo", "demo-secret"), wait=10)
    finally:
        engine.dispose()
    print(f"信用管理 demo: listing case {case_id}, repaired penalty {penalty_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
