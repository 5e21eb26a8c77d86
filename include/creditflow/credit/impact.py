"""处罚前信用影响评估: what a draft penalty would do to the party's credit, before it is decided.

Given the draft (penalty categories, fine, decision date, party type; optionally the party's code, the
violation type and the legal basis), it answers with the rule set and publicity class that apply, whether
the penalty is published, the minimum and maximum publicity end dates, the earliest repair date, whether
it triggers or counts toward a 严重失信名单 listing, and until when integrity checks would fail — each with
the rules it used (id, source, mark).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from creditflow.core import publicity as core_publicity
from creditflow.core import warehouse as wh
from creditflow.credit import rules
from creditflow.credit.lifecycle import ACTIVE


@dataclass(frozen=True)
class Draft:
    categories: list[str]
    decided: dt.date
    party_type: str  # 法人及非法人组织 | 个体工商户 | 自然人
    amount_yuan: float | None = None
    party: str | None = None
    violation: str | None = None
    basis: str | None = None


def _dedupe(refs: list[dict[str, str]]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for r in refs:
        seen.setdefault(r["id"], r)
    return list(seen.values())


def check(draft: Draft) -> list[str]:
    """The draft's categories, or ValueError with one Chinese sentence: no category, a fine that is not a finite
    non-negative number or that no fine can reach, a 罚款 without its amount, a decision date outside the rule data."""
    cats = [c.strip() for c in draft.categories if c.strip()]
    if not cats:
        raise ValueError("至少需要一个处罚类别")
    try:
        fine = core_publicity.fine_yuan_of(draft.amount_yuan)
    except ValueError:
        raise ValueError(f"罚款金额须为不小于0的有限数字（元），收到：{draft.amount_yuan}") from None
    if fine is not None and fine > core_publicity.max_fine_yuan():
        raise ValueError(f"罚款金额{fine:,.0f}元超出任何罚款可能达到的数额（{core_publicity.max_fine_yuan():,.0f}元），"
                         "请核对金额单位（元）")
    if fine and "罚款" not in {c.split("-")[0] for c in cats}:
        raise ValueError("给出罚款金额时处罚类别须含罚款（没有罚款类别的金额不是罚款）")
    if "罚款" in cats and not fine:
        raise ValueError("处罚类别含罚款时须给出罚款金额（元）")
    first = min(r["effective_from"] for r in core_publicity.publicity_rules()["regimes"])
    if draft.decided < first or draft.decided > core_publicity.horizon():
        raise ValueError(f"决定日期{draft.decided.isoformat()}超出规则数据覆盖的范围"
                         f"（{first.isoformat()}至{core_publicity.horizon().isoformat()}）")
    return cats


def preview(draft: Draft, engine: sa.Engine | None = None) -> dict[str, Any]:
    cats = check(draft)
    refs: list[dict[str, str]] = []
    listing = _listing(draft, cats, engine, refs)
    # One classification (creditflow.core.publicity). A detector hit is only a possible listing (部令11号: the
    # listing procedure — 性质恶劣、情节严重, notice, statement, a listing decision — comes first), so the preview
    # classifies the penalty as not listed and no listing date enters the integrity answer.
    pub = rules.publicity(draft.decided, cats, draft.party_type, fine_yuan=draft.amount_yuan, listed=False)
    refs[:0] = list(pub.rules)
    fail_until: dt.date | None = None
    _, spec = rules.purpose(None)
    major = rules.major_violation(draft.decided, cats, draft.amount_yuan) if "major_violation" in spec["fail_on"] \
        else False
    if major is not False:
        refs.append(rules.major_violation_ref(draft.decided))
    if major:
        fail_until = rules.major_violation_until(draft.decided)
    if listing.get("on_list_now") and "listed" in spec["fail_on"]:
        current = dt.date.fromisoformat(listing["on_list_until"])
        fail_until = max(fail_until, current) if fail_until else current
    policy = rules.integrity_policy()
    refs.append({"id": f"integrity:{policy['default_purpose']}", "source": " ".join(str(spec["source"]).split()),
                 "mark": str(spec["mark"])})
    return {
        "regime": pub.regime_id, "regime_zh": pub.regime_title_zh, "class": pub.penalty_class,
        "published": pub.published, "repairable": pub.repairable,
        "publicity_min_until": pub.min_until.isoformat() if pub.min_until else None,
        "publicity_max_until": pub.max_until.isoformat(),
        "earliest_repair": pub.earliest_repair.isoformat() if pub.earliest_repair else None,
        "repair_notice": rules.gets_repair_notice(draft.party_type),
        "listing": listing,
        "integrity_fail_until": fail_until.isoformat() if fail_until else None,
        "major_violation": major,  # True / False / None (a fine under a rule without a fixed amount: a person judges)
        "dates_provisional": pub.provisional,
        "integrity_purpose": policy["default_purpose"],
        "rules": _dedupe(refs),
    }


def integrity_text_zh(out: dict[str, Any]) -> str:
    """The preview's integrity answer in words: the failure date, 须人工核实 when the 重大违法记录 rule in force
    fixes no amount for the fine (``major_violation`` None, as :mod:`creditflow.credit.integrity` says), or 不影响."""
    if out.get("integrity_fail_until"):
        return str(out["integrity_fail_until"])
    if out.get("major_violation") is None:
        return "须人工核实是否属于重大违法记录（作出处罚时“较大数额罚款”无全国统一标准）"
    return "不影响"


MAY_TRIGGER_ZH = "可能触发（须经列入程序：性质恶劣、情节严重并作出列入决定）"


def _listing(draft: Draft, cats: list[str], engine: sa.Engine | None, refs: list[dict[str, str]]) -> dict[str, Any]:
    """Listing situations the draft may meet. ``triggers`` stays False: a detector hit is never a listing
    (``may_trigger`` / ``situations`` carry the hits, with the management period a listing decided on the
    same day would have, for information only)."""
    triggers, possible = [], []
    for sit in rules.situations():
        if sit.detector.get("type") != "penalty":
            continue
        hit = sit.matches_penalty(draft.violation, draft.basis, cats)
        if hit:
            triggers.append({"id": sit.id, "article": sit.article, "title_zh": sit.title_zh, "note_zh": MAY_TRIGGER_ZH})
            refs.append({"id": f"listing:{sit.id}", "source": sit.source, "mark": sit.mark})
        elif hit is None:
            needs = "违法行为类型" if "violation_regex" in sit.detector else "处罚依据"
            possible.append({"id": sit.id, "article": sit.article, "title_zh": sit.title_zh,
                             "needs_zh": f"视{needs}而定（--violation / --basis）"})
    out: dict[str, Any] = {"triggers": False, "may_trigger": bool(triggers), "situations": triggers,
                           "possible": possible, "counts_toward": []}
    if triggers:
        refs.append(rules.ref("list_management_period", draft.decided))
        refs.append(rules.ref("list_early_removal_after", draft.decided))
        out["list_until_if_listed"] = rules.due("list_management_period", draft.decided).isoformat()
        out["earliest_removal_if_listed"] = rules.due("list_early_removal_after", draft.decided).isoformat()
        out["note_zh"] = (MAY_TRIGGER_ZH + "；未列入前不按严重失信处理。若与处罚同日作出列入决定，管理期至"
                          + out["list_until_if_listed"])
    if draft.party and engine is not None:
        _party_history(draft, engine, out, refs)
    return out


def _party_history(draft: Draft, engine: sa.Engine, out: dict[str, Any], refs: list[dict[str, str]]) -> None:
    """What the warehouse knows of the party: a listing in force, and accident situations that count."""
    from creditflow.core.pii import lookup_keys
    from creditflow.credit.integrity import identify

    code, _kind, error = identify(draft.party)
    if error:
        raise ValueError(error)
    C = wh.credit_case
    day = draft.decided.isoformat()
    with engine.connect() as conn:
        cases = [dict(r) for r in conn.execute(sa.select(C).where(C.c.party_key.in_(lookup_keys(code)))).mappings()]
    current = [c for c in cases if c["state"] in ACTIVE and c["list_start"] <= day <= c["list_end"]]
    out["on_list_now"] = bool(current)
    if current:
        out["on_list_until"] = max(c["list_end"] for c in current)
    for sit in rules.situations():
        if sit.group != "accident" or sit.detector.get("type") == "penalty":
            continue
        # each detector's own window (listing.yaml within_months / lookback_months); a situation without one in
        # the data (decided by a person) does not count toward anything here
        months = sit.detector.get("within_months", sit.detector.get("lookback_months"))
        if months is None:
            continue
        window = draft.decided - relativedelta(months=int(months))
        related = [c for c in cases if c["situation_id"] == sit.id and c["created_on"] >= window.isoformat()
                   and c["state"] not in ("dismissed", "annulled")]
        if related:
            out["counts_toward"].append({"id": sit.id, "article": sit.article, "title_zh": sit.title_zh,
                                         "cases": [c["case_id"] for c in related]})
            refs.append({"id": f"listing:{sit.id}", "source": sit.source, "mark": sit.mark})
