"""The report's credit sections from the credit capability's own history (``cf_credit_event``, append-only,
stamped ``at``): the 安全生产严重失信主体名单 (应急管理部令第11号) and 信用修复 / 两书同达.

Like every figure, a section counts only what was recorded before the cut-off (``at``), by the date that
counts (``on_date``: the decision, the removal, the delivery, the request) inside the period. One row per
行政相对人类别, then 合计. No party is named.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.core import warehouse as wh
from creditflow.feedback.periods import Period, stamp

ACTIVE = ("listed", "published", "revisit")  # on the list: creditflow.credit.lifecycle.ACTIVE
OFF_LIST = ("removed", "expired", "annulled")  # early removal, end of the management period, annulled
TOTAL = "合计"


def _events(engine: sa.Engine, cut_off: dt.datetime, subjects: sa.Table, key: sa.Column,
            party_type: sa.Column) -> pd.DataFrame:
    """The credit events recorded before the cut-off of the subjects in ``subjects``, with their 类别."""
    e = wh.credit_event
    q = (sa.select(e.c.id, e.c.subject_id, e.c.action, e.c.from_state, e.c.to_state, e.c.on_date,
                   party_type.label("party_type"))
         .select_from(e.join(subjects, key == e.c.subject_id)).where(e.c.at < stamp(cut_off)).order_by(e.c.id))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return pd.DataFrame(rows, columns=["id", "subject_id", "action", "from_state", "to_state", "on_date",
                                       "party_type"])


def _in(ev: pd.DataFrame, period: Period) -> pd.Series:
    return (ev["on_date"] >= period.start.isoformat()) & (ev["on_date"] < period.end.isoformat())


def _by_type(frames: dict[str, pd.DataFrame], make: Any) -> list[dict[str, Any]]:
    """One row per 类别 found in any of ``frames`` (sorted), then 合计: ``make(part_of_each_frame)``."""
    types = sorted({t for f in frames.values() for t in f["party_type"].dropna().tolist()})
    out = []
    for t in [*types, None]:
        parts = {k: f if t is None else f[f["party_type"] == t] for k, f in frames.items()}
        out.append({"类别": TOTAL if t is None else t, **make(parts)})
    return out


def dishonesty_list(engine: sa.Engine, period: Period, cut_off: dt.datetime) -> list[dict[str, Any]]:
    """列入数量 (listing decisions dated in the period), 移出数量 (taken off the list in the period: early
    removal, management period over, listing annulled), 其中提前移出, 期末名单数量 (on the list at the end of
    the period's last day, as recorded before the cut-off)."""
    c = wh.credit_case
    ev = _events(engine, cut_off, c, c.c.case_id, c.c.party_type)
    inside = ev[_in(ev, period)]
    listed = inside[inside["action"] == "decide_listing"]
    off = inside[inside["to_state"].isin(OFF_LIST) & inside["from_state"].isin(ACTIVE)]
    moved = ev[(ev["on_date"] < period.end.isoformat()) & ev["to_state"].notna()]
    state = moved.drop_duplicates("subject_id", keep="last")  # ordered by id: the last transition wins
    on_list = state[state["to_state"].isin(ACTIVE)]
    return _by_type({"listed": listed, "off": off, "end": on_list}, lambda p: {
        "列入数量": len(p["listed"]), "移出数量": len(p["off"]),
        "其中提前移出": int((p["off"]["to_state"] == "removed").sum()), "期末名单数量": len(p["end"])})


def credit_repair(engine: sa.Engine, period: Period, cut_off: dt.datetime) -> list[dict[str, Any]]:
    """Of the penalties decided in the period: 应送达修复告知书数 (a 信用修复告知书 issued), 与决定书同时送达数
    (its delivery recorded by the 两书同达 deadline, ``repair_notice_delivery`` of data/credit/periods.yaml —
    the rule the credit capability alerts on), 两书同达率; and 受理修复申请数 / 完成修复数 dated in the period."""
    from creditflow.credit import rules as credit_rules

    p = wh.credit_penalty
    ev = _events(engine, cut_off, p, p.c.penalty_id, p.c.party_type)
    with engine.connect() as conn:
        decided = dict(conn.execute(sa.select(p.c.penalty_id, p.c.decision_date)).all())
    ev["decision_date"] = pd.Series([str(decided.get(x) or "") for x in ev["subject_id"].tolist()], index=ev.index,
                                    dtype=object)
    mine = ev[(ev["decision_date"] >= period.start.isoformat()) & (ev["decision_date"] < period.end.isoformat())]
    issued = mine[mine["action"] == "repair_notice_issued"].drop_duplicates("subject_id")
    delivered = mine[mine["action"] == "repair_notice_delivered"].drop_duplicates("subject_id")
    due = {d: credit_rules.due("repair_notice_delivery", dt.date.fromisoformat(d))
           for d in set(delivered["decision_date"].tolist())}
    in_time = [dt.date.fromisoformat(o) <= due[d] for o, d in
               zip(delivered["on_date"].tolist(), delivered["decision_date"].tolist(), strict=True)]
    together = delivered[pd.Series(in_time, index=delivered.index, dtype=bool)]
    together = together[together["subject_id"].isin(set(issued["subject_id"]))]
    inside = ev[_in(ev, period)]
    requested = inside[inside["action"] == "repair_requested"]
    repaired = inside[inside["action"] == "repair_approved"]

    def row(parts: dict[str, pd.DataFrame]) -> dict[str, Any]:
        n, k = len(parts["issued"]), len(parts["together"])
        return {"应送达修复告知书数": n, "与决定书同时送达数": k, "两书同达率": round(k / n, 4) if n else None,
                "受理修复申请数": len(parts["requested"]), "完成修复数": len(parts["repaired"])}

    return _by_type({"issued": issued, "together": together, "requested": requested, "repaired": repaired}, row)
