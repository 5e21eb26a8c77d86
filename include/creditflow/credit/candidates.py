"""Listing candidates from the case system, under the situations of ``listing.yaml`` that the data can show.

Penalty situations (art. 6(3), 7(1), 7(2)) are read off each valid penalty decision of the interval;
accident situations (art. 6(1), 6(2), 6(4)) off the accidents within their look-back window, on every
run (the case id is deterministic, so a candidate is proposed once). The others are opened by an officer.
Each candidate carries its facts, the article that triggers it and the basis; the DAG only proposes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from creditflow.credit import lifecycle, rules
from creditflow.credit.documents import date_zh
from creditflow.credit.penalties import penalty_record
from creditflow.credit.store import SYSTEM, as_date, is_natural, seal_text

_LEAD = re.compile(r"^(经查|经调查|经核查)[，,:：]?")


def _facts_of_penalty(row: dict[str, Any], rec: dict[str, Any]) -> str:
    facts = _LEAD.sub("", str(row.get("facts") or "").strip()) or str(row.get("violation_type") or "")
    facts = facts.replace("该单位", "你（单位）", 1)
    content = str(row.get("content") or "").strip("；。")
    return (f"{facts}本局于{date_zh(rec['decision_date'])}作出《行政处罚决定书》（{rec['doc_no']}）"
            + (f"，{content}。" if content else "。"))


def _stored_facts(party_type: str, facts: str) -> str:
    """A natural person's facts are sealed (the case system's text may name them; #19 §3)."""
    return str(seal_text(facts)) if is_natural(party_type) else facts


def _regulation_title() -> str:
    return str(rules.listing()["regulation"]["title_zh"])


def from_penalties(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        if str(row.get("status") or "VALID") != "VALID":
            continue
        rec = penalty_record(row)
        if rec is None:
            continue
        for sit in rules.situations():
            if sit.detector.get("type") != "penalty":
                continue
            if sit.matches_penalty(rec["violation_type"] or "", rec["legal_basis"] or "", rec["categories"].split(";")):
                out.append({"case_id": f"SX-{sit.id}-{row['decision_id']}", "situation_id": sit.id,
                            "party_key": rec["party_key"], "party_code": rec["party_code"],
                            "party_type": rec["party_type"], "party_name": rec["party_name"],
                            "facts": _stored_facts(rec["party_type"], _facts_of_penalty(row, rec)),
                            "basis": f"《{_regulation_title()}》{sit.article}；{rec['legal_basis'] or ''}".rstrip("；"),
                            "source_ref": f"case_db:{row['decision_id']}", "penalty_id": rec["penalty_id"],
                            "authority_name": row.get("authority_name") or rules.documents_config()["authority_name"],
                            "authority_uscc": row.get("authority_uscc") or rules.documents_config()["authority_uscc"]})
    return out


_ACCIDENTS = sa.text(
    "SELECT a.accident_id, a.occurred_on, a.accident_level, a.deaths, a.injuries, a.concealed, "
    "e.ent_id, e.uscc, e.ent_name, e.ent_kind FROM accident a JOIN enterprise e ON e.ent_id = a.ent_id "
    "WHERE a.occurred_on >= :since AND a.occurred_on <= :until ORDER BY a.occurred_on, a.accident_id")


def _accident_text(a: dict[str, Any]) -> str:
    return (f"{date_zh(as_date(a['occurred_on']) or dt.date.min)}，你（单位）发生{a['accident_level']}生产安全事故，"
            f"造成{int(a['deaths'] or 0)}人死亡、{int(a['injuries'] or 0)}人受伤"
            + ("，并存在瞒报、谎报事故的行为" if a["concealed"] else ""))


def from_accidents(case_engine: sa.Engine, today: dt.date) -> list[dict[str, Any]]:
    longest = max([int(s.detector.get("lookback_months", s.detector.get("within_months", 0)))
                   for s in rules.situations() if s.detector.get("type", "").startswith("accident")] or [0])
    with case_engine.connect() as conn:
        accidents = [dict(r) for r in conn.execute(_ACCIDENTS, {"since": today - relativedelta(months=longest),
                                                                 "until": today}).mappings()]
    cfg = rules.documents_config()
    out = []
    for sit in rules.situations():
        d = sit.detector
        if d.get("type") == "accident":
            since = today - relativedelta(months=int(d.get("lookback_months", 12)))
            for a in accidents:
                if as_date(a["occurred_on"]) < since or not a["uscc"]:  # type: ignore[operator]
                    continue
                if (d.get("concealed") and a["concealed"]) or a["accident_level"] in d.get("levels", []):
                    out.append(_accident_case(sit, a, [a], cfg))
        elif d.get("type") == "accident_count":
            since = today - relativedelta(months=int(d["within_months"]))
            by_ent: dict[str, list[dict[str, Any]]] = {}
            for a in accidents:
                if a["accident_level"] == d["level"] and as_date(a["occurred_on"]) >= since and a["uscc"]:  # type: ignore[operator]
                    by_ent.setdefault(a["ent_id"], []).append(a)
            for group in by_ent.values():
                if len(group) >= int(d["min_count"]):
                    out.append(_accident_case(sit, group[-1], group, cfg))
    return out


def _accident_case(sit: rules.Situation, a: dict[str, Any], group: list[dict[str, Any]],
                   cfg: dict[str, Any]) -> dict[str, Any]:
    facts = "；".join(_accident_text(x) for x in group) + "。"
    return {"case_id": f"SX-{sit.id}-{'-'.join(x['accident_id'] for x in group)}", "situation_id": sit.id,
            "party_key": str(a["uscc"]).upper(), "party_code": None,
            "party_type": "个体工商户" if a["ent_kind"] == "IND" else "法人及非法人组织",
            "party_name": a["ent_name"], "facts": facts, "basis": f"《{_regulation_title()}》{sit.article}",
            "source_ref": ",".join(f"accident:{x['accident_id']}" for x in group), "penalty_id": None,
            "authority_name": cfg["authority_name"], "authority_uscc": cfg["authority_uscc"]}


def propose_all(engine: sa.Engine, candidates: list[dict[str, Any]], on: dt.date) -> int:
    """Open a case for every candidate not seen before; returns how many are new."""
    new = 0
    with engine.begin() as conn:
        for cand in candidates:
            new += lifecycle.open_case(conn, cand, SYSTEM, on)
    return new
