"""The key list against last year's plan: who entered, who left and why, whose frequency changed.

Reads the previous year's ``plan.json`` (written by :mod:`creditflow.planning.store`), so a plan made by
an earlier version of the data still compares: only ent_id, name, reasons and visits are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from creditflow.planning.plan import Plan


def _why_left(reason: str, a: Any, plan: Plan) -> str:
    names = plan.params.class_names
    return {
        "high_risk": f"评估等级{a.ent.risk_level}、风险总分{a.score}（{names[a.risk_class]}），不再属安全风险等级较高",
        "unrectified_major_hazard": "重大事故隐患已整改",
        "fatal_accident_last_year": f"{plan.year - 1}年度无亡人生产安全事故",
        "dishonest_last_year": f"{plan.year - 1}年度不在严重失信主体名单",
        "listed_now": "已移出严重失信主体名单",
    }.get(reason, f"情形“{reason}”不再成立")


def diff_key_lists(previous: dict[str, Any], plan: Plan) -> dict[str, Any]:
    old = {r["ent_id"]: r for r in previous.get("key_list", [])}
    new = {r["ent_id"]: r for r in plan.key_records()}
    by_id = plan.by_id
    entered = [{"ent_id": e, "name": new[e]["name"], "reasons_zh": new[e]["reasons_zh"], "visits": new[e]["visits"],
                "why": "；".join(new[e]["reasons_zh"])} for e in sorted(set(new) - set(old))]
    left = []
    for e in sorted(set(old) - set(new)):
        a = by_id.get(e)
        if a is None:
            why = "已不在案件系统企业库（注销、迁出或合并）"
        else:
            why = "；".join(_why_left(r, a, plan) for r in old[e].get("reasons", []))
        left.append({"ent_id": e, "name": old[e].get("name", ""), "previous_reasons_zh": old[e].get("reasons_zh", []),
                     "why": why})
    changed = [{"ent_id": e, "name": new[e]["name"], "previous_visits": old[e].get("visits"),
                "visits": new[e]["visits"], "why": "；".join(new[e]["reasons_zh"])}
               for e in sorted(set(old) & set(new)) if old[e].get("visits") != new[e]["visits"]]
    return {"previous_year": previous.get("summary", {}).get("year"), "entered": entered, "left": left,
            "changed_visits": changed, "stayed": len(set(old) & set(new))}
