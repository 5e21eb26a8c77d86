"""Risk score, class and credit status per enterprise, explainable term by term.

Every term (行业, 风险标签, 风险评估等级, 标准化, 事故, 检查问题, 重大隐患, 未整改, 失信, 处罚, 信用良好) is a row
with its points and the facts behind it; the points come from ``risk_weights.yaml`` / ``industries.csv`` /
``hazard_tags.csv``. The *base* score leaves the credit terms out: two enterprises with the same base
score are "risk twins", which is how the plan shows what good credit changes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from creditflow.core import normalize as nz
from creditflow.planning.inputs import Accident, Enterprise, ListedParty, PastInspection, Penalty, PlanInputs
from creditflow.planning.params import PlanParameters

CREDIT_LABELS = {"listed": "严重失信", "bad": "不良记录", "good": "信用良好", "ordinary": "一般"}


@dataclass(frozen=True)
class Term:
    code: str
    name_zh: str
    detail: str
    points: int
    credit: bool = False


@dataclass
class Assessment:
    ent: Enterprise
    terms: list[Term]
    score: int
    base_score: int
    risk_class: str
    base_class: str
    credit: str
    sector_group: str
    department: str
    fatal_last_year: bool = False
    unrectified_major: bool = False
    listed_last_year: bool = False
    listed_now: bool = False
    last_visit: dt.date | None = None
    listing: ListedParty | None = None
    facts: dict[str, int] = field(default_factory=dict)

    def explain(self) -> str:
        return "；".join(f"{t.name_zh}{t.points:+d}（{t.detail}）" for t in self.terms if t.points)


def _since(year: int, years: int) -> dt.date:
    return dt.date(year - years, 1, 1)


def _years(params: PlanParameters, key: str) -> int:
    return int(params.risk["lookback_years"][key]["value"])


def _accident_points(acc: list[Accident], params: PlanParameters) -> tuple[int, str]:
    cfg = params.risk["accidents"]
    pts, parts = 0, []
    for a in acc:
        level = "一般亡人" if a.level == "一般" and a.deaths > 0 else a.level
        p = int(cfg["points"].get(level, cfg["points"].get("一般", 0)))
        if a.concealed:
            p += int(cfg.get("concealed_extra", 0))
        pts += p
        parts.append(f"{a.occurred_on:%Y-%m-%d} {level}事故{'（瞒报/谎报）' if a.concealed else ''}")
    return min(pts, int(cfg["max"])), "、".join(parts)


def assess(inputs: PlanInputs, params: PlanParameters, year: int) -> list[Assessment]:
    """One assessment per enterprise, in ent_id order."""
    as_of = inputs.as_of or dt.date(year, 1, 1)
    acc_by: dict[str, list[Accident]] = defaultdict(list)
    insp_by: dict[str, list[PastInspection]] = defaultdict(list)
    pen_by: dict[str, list[Penalty]] = defaultdict(list)
    for a in inputs.accidents:
        acc_by[a.ent_id].append(a)
    for i in inputs.inspections:
        insp_by[i.ent_id].append(i)
    for p in inputs.penalties:
        pen_by[p.ent_id].append(p)
    listed_by: dict[str, list[ListedParty]] = defaultdict(list)
    for lp in sorted(inputs.listed, key=lambda x: x.listed_on):
        code = nz.normalize_code(lp.uscc)
        if code:
            listed_by[code].append(lp)  # every listing of the USCC, oldest first
    acc_since = _since(year, _years(params, "accidents"))
    insp_since = _since(year, _years(params, "inspections"))
    pen_since = _since(year, _years(params, "penalties"))
    last_year = (dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31))
    rl, sg, ins, cr = (params.risk[k] for k in ("risk_level", "standard_grade", "inspections", "credit"))
    tag_max = int(params.risk.get("hazard_tags_max", {}).get("value", 10**6))
    statuses = params.credit["statuses"]
    out: list[Assessment] = []
    for ent in inputs.enterprises:
        ind = params.industry(ent.industry)
        terms = [Term("industry", "行业", f"{ent.industry}（{ind.sector_group}）", ind.hazard_points)]
        tag_pts = sum(params.hazard_tags.get(t, 0) for t in ent.tags)
        if ent.tags:
            terms.append(Term("tags", "风险标签", "、".join(ent.tags), min(tag_pts, tag_max)))
        terms.append(Term("risk_level", "风险评估等级", ent.risk_level,
                          int(rl["points"].get(ent.risk_level, rl["points"].get("未评估", 0)))))
        terms.append(Term("standard_grade", "安全生产标准化", ent.standard_grade,
                          int(sg["points"].get(ent.standard_grade, sg["points"].get("未定级", 0)))))
        accidents = [a for a in acc_by.get(ent.ent_id, ()) if acc_since <= a.occurred_on < as_of]
        if accidents:
            pts, detail = _accident_points(accidents, params)
            terms.append(Term("accidents", "近年事故", detail, pts))
        before = [i for i in insp_by.get(ent.ent_id, ()) if i.inspected_on < as_of]
        past = [i for i in before if insp_since <= i.inspected_on]
        problems = sum(i.problems for i in past)
        hazards = sum(i.major_hazards for i in past)
        # A major hazard still unrectified is open whenever it was found: older than the look-back window
        # it is overdue all the more (粤应急规〔2021〕4号 重点情形二), so it counts here and for the key list.
        open_major = [i for i in before if i.major_hazards and not i.rectified]
        unrectified = [i for i in past if (i.problems or i.major_hazards) and not i.rectified]
        unrectified += [i for i in open_major if i not in unrectified]
        unrect_major = bool(open_major)
        if problems:
            terms.append(Term("problems", "检查发现问题", f"{len(past)}次检查共{problems}项",
                              min(problems * int(ins["per_problem"]), int(ins["problems_max"]))))
        if hazards:
            terms.append(Term("major_hazards", "重大事故隐患", f"{hazards}项",
                              min(hazards * int(ins["per_major_hazard"]), int(ins["major_hazards_max"]))))
        if unrectified:
            terms.append(Term("unrectified", "问题未整改到位", f"{len(unrectified)}次检查未整改",
                              int(ins["unrectified"])))
        base = sum(t.points for t in terms)
        listings = listed_by.get(nz.normalize_code(ent.uscc) or "", [])
        eve = as_of - dt.timedelta(days=1)
        last_year_hits = [lp for lp in listings if lp.on_list_during(*last_year)]
        now_hits = [lp for lp in listings if lp.on_list_during(eve, eve)]
        listed_ly, listed_now = bool(last_year_hits), bool(now_hits)
        # The listing the plan shows: the one in force now, else the one of last year, else the latest.
        shown = now_hits or last_year_hits or listings
        listing = shown[-1] if shown else None
        credit = "ordinary"
        for st in statuses:
            rule = st["rule"]
            years = int(st.get("years") or 0)
            if rule == "on_list_at_plan_start_or_last_year" and (listed_ly or listed_now):
                credit = "listed"
            elif rule == "penalty_within_years" and any(p.decision_date >= _since(year, years)
                                                        for p in pen_by.get(ent.ent_id, ())):
                credit = "bad"
            elif rule == "clean_record" and not (
                    any(p.decision_date >= _since(year, years) for p in pen_by.get(ent.ent_id, ()))
                    or any(a.occurred_on >= _since(year, years) for a in acc_by.get(ent.ent_id, ()))
                    or unrectified or listing):
                credit = "good"
            elif rule == "otherwise":
                credit = "ordinary"
            else:
                continue
            break
        credit_terms = []
        if credit == "listed" and listing is not None:
            credit_terms.append(Term("listed", "严重失信主体名单",
                                     f"{listing.listed_on:%Y-%m-%d}列入：{listing.reason}",
                                     int(cr["listed"]), True))
        pens = [p for p in pen_by.get(ent.ent_id, ()) if pen_since <= p.decision_date < as_of]
        if pens:
            credit_terms.append(Term("penalties", "行政处罚", f"近{_years(params, 'penalties')}年{len(pens)}次",
                                     min(len(pens) * int(cr["per_penalty"]), int(cr["penalties_max"])), True))
        if credit == "good":
            credit_terms.append(Term("good_credit", "信用良好", "无处罚、无事故、无未整改问题、未列入名单",
                                     int(cr["good_credit"]), True))
        score = base + sum(t.points for t in credit_terms)
        visits = [i.inspected_on for i in before]
        if ent.ent_id in inputs.last_inspected and inputs.last_inspected[ent.ent_id] < as_of:
            visits.append(inputs.last_inspected[ent.ent_id])
        out.append(Assessment(
            ent=ent, terms=terms + credit_terms, score=score, base_score=base,
            risk_class=params.class_of(score).code, base_class=params.class_of(base).code, credit=credit,
            sector_group=ind.sector_group, department=ind.department,
            fatal_last_year=any(a.deaths > 0 and last_year[0] <= a.occurred_on <= last_year[1]
                                for a in acc_by.get(ent.ent_id, ())),
            unrectified_major=unrect_major, listed_last_year=listed_ly, listed_now=listed_now,
            last_visit=max(visits) if visits else None, listing=listing,
            facts={"accidents": len(accidents), "problems": problems, "major_hazards": hazards,
                   "penalties": len(pens), "inspections": len(past)}))
    return out
