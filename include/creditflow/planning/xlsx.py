"""The plan as an XLSX workbook in the shape published plans use, plus every table behind it.

The bytes depend only on the plan (:mod:`.xlsxpkg`: fixed document and zip times; rows in a defined
order) — the same seed and data give a byte-identical file.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from creditflow.common import mask_text
from creditflow.planning.params import GRADES
from creditflow.planning.plan import Plan, blocked_pairs, credit_label
from creditflow.planning.xlsxpkg import Workbook

KIND_ZH = {"key": "重点检查", "general": "一般检查（双随机）"}
CREDIT_GROUP_ZH = {"good": "信用良好", "ordinary": "一般", "bad": "不良/失信"}
TERM_COLUMNS = [
    ("industry", "行业分"), ("tags", "风险标签分"), ("risk_level", "风险评估分"),
    ("standard_grade", "标准化分"), ("accidents", "事故分"), ("problems", "问题分"),
    ("major_hazards", "重大隐患分"), ("unrectified", "未整改分"), ("listed", "失信分"),
    ("penalties", "处罚分"), ("good_credit", "信用良好分"),
]
HEADERS: dict[str, list[str]] = {
    "计划表": ["检查事项", "依据", "对象数及双随机比例", "检查内容", "检查方式", "频次和上限", "时间",
            "承办机构", "是否联合检查"],
    "工作日测算": ["代号", "项目", "天数（人·日）", "占比", "口径", "来源与核对标记"],
    "重点单位名单": ["单位名称", "统一社会信用代码", "所属区", "行业", "评估风险等级", "风险总分", "风险类别",
                "信用状况", "是否严重失信", "列入情形", "计划检查次数", "已排月份", "承办机构", "备注"],
    "风险评分": ["编号", "单位名称", "统一社会信用代码", "所属区", "行业", *[n for _, n in TERM_COLUMNS],
             "基础分（不含信用）", "总分", "基础风险类别", "风险类别", "信用状况", "分类", "计划检查次数",
             "逐项说明"],
    "月度安排": ["月份", "检查组", "检查户次", "占用组日", "可用组日", "负荷", "涉及区"],
    "检查明细": ["日期", "检查组", "执法人员", "单位名称", "统一社会信用代码", "所属区", "类型", "第几次",
             "时间窗口"],
    "未安排": ["单位名称", "统一社会信用代码", "类型", "必检", "第几次", "时间窗口", "原因", "缺口（人·日）"],
    "双随机抽取": ["基础风险类别", "信用", "单位数", "近期已检查排除", "到期必抽", "抽取库", "目标比例",
              "抽取数", "实际比例"],
    "信用减频对比": ["基础风险类别", "信用良好：单位数", "信用良好：每家年检查次数", "一般：单位数",
                "一般：每家年检查次数", "不良：单位数", "不良：每家年检查次数", "信用良好较不良减少"],
    "检查组": ["检查组", "执法人员", "科室", "全年检查组日", "需回避单位数"],
    "与上年对比": ["变化", "单位名称", "原因", "检查次数"],
    "参数及来源": ["参数", "名称", "值", "来源", "核对标记", "文件"],
}
WIDTHS: dict[str, list[int]] = {
    "计划表": [28, 40, 30, 40, 20, 40, 20, 26, 12], "工作日测算": [8, 36, 14, 16, 30, 60],
    "重点单位名单": [36, 22, 12, 12, 12, 10, 10, 10, 10, 60, 12, 24, 24, 30],
    "月度安排": [8, 10, 10, 10, 10, 10, 40], "检查明细": [12, 8, 20, 36, 22, 12, 16, 8, 12],
    "未安排": [36, 22, 16, 6, 8, 12, 50, 12], "双随机抽取": [14, 12, 14, 36, 16, 10, 10, 10, 10],
    "信用减频对比": [14, 16, 20, 12, 18, 12, 18, 18], "检查组": [10, 30, 40, 14, 14],
    "与上年对比": [10, 36, 70, 12], "参数及来源": [28, 40, 30, 80, 8, 20],
}


def _months_text(year: int, months: set[int]) -> str:
    if not months:
        return "—"
    return f"{year}年{min(months)}月—{max(months)}月"


def plan_rows(plan: Plan) -> list[list[Any]]:
    """The main table in the published shape (columns: ``HEADERS["计划表"]``), one row per 检查事项."""
    by_id = plan.by_id
    key_ids = {k.a.ent.ent_id for k in plan.key_units}
    drawn = {e for e, _ in plan.draw.selected()}
    months: dict[tuple[str, str], set[int]] = defaultdict(set)
    for p in plan.schedule.placed:
        months[(by_id[p.job.ent_id].sector_group, p.job.kind)].add(p.day.month)
    caps = plan.params.regime.caps
    rows = []
    for item in plan.params.items:
        group, kind = item["sector_group"], item["kind"]
        units = [a for a in plan.assessments
                 if a.sector_group == group and (a.ent.ent_id in key_ids) == (kind == "key")]
        depts = sorted({a.department for a in units}) or sorted({i.department for i in plan.params.industries.values()
                                                                  if i.sector_group == group})
        grade_caps = "、".join(f"标准化{g}≤{caps[(group, g)]}次" for g in GRADES if (group, g) in caps)
        if kind == "key":
            n = len(units)
            visits = sum(k.visits for k in plan.key_units if k.a.sector_group == group)
            objects = f"重点单位{n}家，全覆盖（100%），计{visits}户次"
            quarterly = sum(1 for k in plan.key_units if k.a.sector_group == group and k.quarterly)
            freq = f"每年至少{plan.params.regime.key_min_per_year}次"
            freq += f"；严重失信{quarterly}家每季度1次" if quarterly else ""
        else:
            n = len(units)
            picked = sum(1 for a in units if a.ent.ent_id in drawn)
            pct = f"{picked / n * 100:.1f}%" if n else "—"
            objects = f"一般单位{n}家，抽取{picked}家（{pct}）"
            freq = f"每家每年不超过1次；每{plan.draw.cycle_years}年至少1次；信用良好者降低比例"
        freq += f"；年度上限：{grade_caps}" if grade_caps else ""
        rows.append([item["name_zh"], item["basis"], objects, item["content"], item["method"], freq,
                     _months_text(plan.year, months[(group, kind)]), "、".join(depts), item.get("joint", "否")])
    return rows


def _sheet(wb: Workbook, title: str, rows: list[list[Any]], lead: list[list[Any]] | None = None) -> None:
    body = ([mask_text(v) if isinstance(v, str) else v for v in row] for row in rows)
    wb.add_sheet(title, [*(lead or []), HEADERS[title], *body], WIDTHS.get(title))


def _key_rows(plan: Plan) -> list[list[Any]]:
    months: dict[str, list[int]] = defaultdict(list)
    for p in plan.schedule.placed:
        months[p.job.ent_id].append(p.day.month)
    names = plan.params.class_names
    rows = []
    for k in sorted(plan.key_units, key=lambda k: (-k.a.score, k.a.ent.ent_id)):
        e = k.a.ent
        planned = "、".join(f"{m}月" for m in sorted(months.get(e.ent_id, []))) or "未排（见“未安排”）"
        rows.append([e.name, e.uscc, e.district_name, e.industry, e.risk_level, k.a.score, names[k.a.risk_class],
                     credit_label(k.a.credit), "是" if k.a.credit == "listed" else "否",
                     "；".join(r[1] for r in k.reasons), k.visits, planned, k.a.department, k.note])
    return rows


def _risk_rows(plan: Plan) -> list[list[Any]]:
    key_ids = {k.a.ent.ent_id for k in plan.key_units}
    visits = plan.visits_by_ent()
    names = plan.params.class_names
    rows = []
    for a in plan.assessments:
        pts = {t.code: t.points for t in a.terms}
        rows.append([a.ent.ent_id, a.ent.name, a.ent.uscc, a.ent.district_name, a.ent.industry,
                     *[pts.get(c) or None for c, _ in TERM_COLUMNS], a.base_score, a.score, names[a.base_class],
                     names[a.risk_class], credit_label(a.credit), "重点" if a.ent.ent_id in key_ids else "一般",
                     visits.get(a.ent.ent_id, 0), a.explain()])
    return rows


def _month_rows(plan: Plan) -> list[list[Any]]:
    per: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for p in plan.schedule.placed:
        per[(p.day.month, p.team)].append(p)
    rows: list[list[Any]] = []
    for m in range(1, 13):
        cap = plan.schedule.month_capacity[m]
        used = sum(p.job.half_days for t in plan.teams for p in per[(m, t.team_id)])
        count = sum(len(per[(m, t.team_id)]) for t in plan.teams)
        rows.append([f"{m}月", "合计", count, used / 2, cap / 2, f"{used / cap * 100:.1f}%" if cap else "—", ""])
        for t in plan.teams:
            items = per[(m, t.team_id)]
            days = len(plan.schedule.team_days[(t.team_id, m)])
            half = sum(p.job.half_days for p in items)
            rows.append([f"{m}月", t.team_id, len(items), half / 2, days, f"{half / max(1, 2 * days) * 100:.1f}%",
                         "、".join(sorted({p.job.district for p in items}))])
    return rows


def _detail_rows(plan: Plan) -> list[list[Any]]:
    team_by_id = {t.team_id: t for t in plan.teams}
    by_id = plan.by_id
    return [[p.day.isoformat(), p.team, team_by_id[p.team].label, by_id[p.job.ent_id].ent.name,
             by_id[p.job.ent_id].ent.uscc, p.job.district, KIND_ZH[p.job.kind], f"{p.job.visit_no}/{p.job.visits}",
             f"{min(p.job.months)}—{max(p.job.months)}月"]
            for p in sorted(plan.schedule.placed, key=lambda p: (p.day, p.team, p.job.job_id))]


def _unscheduled_rows(plan: Plan) -> list[list[Any]]:
    by_id = plan.by_id
    per = plan.params.inspectors_per_check
    return [[by_id[u.job.ent_id].ent.name, by_id[u.job.ent_id].ent.uscc, KIND_ZH[u.job.kind],
             "是" if u.job.mandatory else "否", f"{u.job.visit_no}/{u.job.visits}",
             f"{min(u.job.months)}—{max(u.job.months)}月", u.reason,
             u.job.half_days / 2 * per if u.job.mandatory else 0] for u in plan.schedule.unscheduled]


def _draw_rows(plan: Plan) -> list[list[Any]]:
    by_id = plan.by_id
    names = plan.params.class_names
    rows: list[list[Any]] = [[names[st.base_class], CREDIT_GROUP_ZH[st.credit], st.total, len(st.excluded_recent),
                              len(st.forced), len(st.pool), str(st.target_ratio), st.quota,
                              f"{st.effective_ratio * 100:.1f}%"] for st in plan.draw.strata]
    rows += [[], ["基础风险类别", "信用", "编号", "单位名称", "状态"]]
    for st in plan.draw.strata:
        drawn = set(st.drawn)
        for status, ids in (("近期已检查，排除", st.excluded_recent), ("三年到期，必抽", st.forced),
                            ("入库", [e for e in st.pool if e not in drawn]), ("入库，抽中", st.drawn)):
            rows += [[st.base_class, st.credit, e, by_id[e].ent.name, status] for e in sorted(ids)]
    return rows


def _credit_rows(plan: Plan) -> list[list[Any]]:
    out = []
    for r in plan.credit_effect():
        reduction = f"{r['reduction_vs_bad'] * 100:.1f}%" if r["reduction_vs_bad"] is not None else "—"
        out.append([r["base_class_zh"], r["good"]["units"], r["good"]["visits_per_unit"], r["ordinary"]["units"],
                    r["ordinary"]["visits_per_unit"], r["bad"]["units"], r["bad"]["visits_per_unit"], reduction])
    return out


def _diff_rows(plan: Plan) -> tuple[list[list[Any]], str]:
    diff = plan.diff
    if not diff:
        return [], "未找到上一年度计划，无对比"
    rows: list[list[Any]] = [["进入", e["name"], e["why"], e["visits"]] for e in diff["entered"]]
    rows += [["退出", e["name"], e["why"], ""] for e in diff["left"]]
    rows += [["频次变化", e["name"], e["why"], f"{e['previous_visits']}→{e['visits']}"]
             for e in diff["changed_visits"]]
    text = (f"与{diff['previous_year']}年度计划相比：进入{len(diff['entered'])}家，退出{len(diff['left'])}家，"
            f"频次变化{len(diff['changed_visits'])}家，保持{diff['stayed']}家")
    return rows, text


def _parameter_rows(plan: Plan) -> list[list[Any]]:
    sched = plan.schedule
    rows: list[list[Any]] = [[p.key, p.name_zh, str(p.value), p.source, p.mark, p.file] for p in plan.params.sourced]
    rows += [[], ["求解器", "OR-Tools CP-SAT（月份分配）"], ["求解状态", sched.status], ["目标值", sched.objective],
             ["下界", sched.bound], ["相对间隙", round(sched.gap, 6)],
             ["检查组×月×区 组合数（下界）", f"{sched.district_pairs}（{sched.district_pairs_bound}）"],
             ["数据截止", plan.as_of.isoformat()], ["严重失信名单来源", plan.inputs.list_source]]
    rows += [["数据问题", p] for p in plan.inputs.data_problems]
    return rows


def write_xlsx(plan: Plan, path: str | Path) -> Path:
    wb = Workbook(f"{plan.year}年度安全生产监督检查计划", stamp=dt.datetime.combine(plan.as_of, dt.time()))
    s = plan.summary()
    _sheet(wb, "计划表", plan_rows(plan), [
        [f"{plan.year}年度安全生产监督检查计划（{plan.params.regime.title_zh}）"],
        [f"执法人员{s['inspectors']}人，监督检查工作日{s['inspection_days']}天"
         f"（重点{s['key_days']}、一般{s['general_days']}）；计划检查{s['inspections']}户次；"
         f"未能安排的必检户次{s['mandatory_unscheduled']}（缺口{s['shortfall_inspector_days']}人·日）"]])
    problems = plan.workday.check()
    verdict = "自检：各项合计与占比已逐项复核，无误" if not problems else "自检未通过：" + "；".join(problems)
    _sheet(wb, "工作日测算", [list(r) for r in plan.workday.rows()], [[verdict], []])
    _sheet(wb, "重点单位名单", _key_rows(plan))
    _sheet(wb, "风险评分", _risk_rows(plan),
           [["各项得分见 risk_weights.yaml / industries.csv / hazard_tags.csv；空白 = 0 分"], []])
    _sheet(wb, "月度安排", _month_rows(plan))
    _sheet(wb, "检查明细", _detail_rows(plan))
    _sheet(wb, "未安排", _unscheduled_rows(plan), [
        [f"必检未安排{s['mandatory_unscheduled']}户次，缺口{s['shortfall_inspector_days']}人·日；"
         "没有任何单位被静默删除。"], []])
    d = plan.draw
    _sheet(wb, "双随机抽取", _draw_rows(plan), [
        [f"随机种子：{d.seed}；抽取方法：random.Random('creditflow-plan:{d.seed}:{plan.year}:<基础风险类别>:<信用>')"
         f".sample(按编号排序的抽取库, 抽取数)；检查力量可抽取{d.capacity_checks}户次，"
         f"比例整体系数{d.scale:.4f}"], []])
    _sheet(wb, "信用减频对比", _credit_rows(plan), [
        ["同一基础风险（不计信用项）的“风险孪生”单位：信用良好（重点监管企业除外）者抽查比例低于有不良记录者。"], []])
    blocked = Counter(t for t, _ in blocked_pairs(plan.inputs, plan.teams))
    _sheet(wb, "检查组", [[t.team_id, t.label, "、".join(sorted({m.department for m in t.members})), t.days,
                         blocked.get(t.team_id, 0)] for t in plan.teams], [
        ["检查组由执法人员名录随机组成（同科室优先，每组不少于两人），种子同上；有利益冲突的组不安排对应单位。"], []])
    rows, text = _diff_rows(plan)
    _sheet(wb, "与上年对比", rows, [[text], []])
    _sheet(wb, "参数及来源", _parameter_rows(plan), [
        ["核对标记：S = 公开来源可查；M = 未核对原文（可配置，待法规科核对）；local = 本局口径"], []])
    return wb.save(path)
