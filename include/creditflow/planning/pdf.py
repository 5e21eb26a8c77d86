"""The plan's PDF summary: key figures, the workday table, and charts (risk distribution, monthly load,
coverage, good credit against bad-credit twins) with Chinese labels.

Drawn on the project's one PDF layer (:mod:`creditflow.core.pdf`): Chinese in the project's font, embedded;
without it :class:`~creditflow.core.fonts.FontMissing` is raised rather than printing boxes instead of characters.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from creditflow.core import pdf as layer
from creditflow.core.fonts import FontMissing
from creditflow.planning.plan import Plan, credit_label

__all__ = ["FontMissing", "write_pdf"]


def _text_page(plan: Plan) -> Any:
    fig = layer.page()
    s = plan.summary()
    w = plan.workday
    lines = [
        (f"{plan.year}年度安全生产监督检查计划（摘要）", 16),
        (f"依据：{plan.params.regime.title_zh}；安监总政法〔2017〕150号", 9),
        (f"数据截止 {plan.as_of.isoformat()}；随机种子 {plan.seed}；{plan.inputs.list_source}", 9),
        ("", 9),
        ("一、工作日测算", 12),
    ]
    for code, label, days, pct, basis, _ in w.rows():
        if not code.startswith("  "):
            lines.append((f"{label}：{days:g}" + (f"（{pct}）" if pct else "") + (f"  {basis}" if basis else ""), 9))
    problems = w.check()
    lines.append(("自检：合计与占比已逐项复核，无误" if not problems else "自检未通过：" + "；".join(problems), 9))
    lines += [("", 9), ("二、检查对象与安排", 12),
              (f"在册生产经营单位 {s['enterprises']} 家；重点单位 {s['key_enterprises']} 家（全覆盖）；"
               f"一般单位双随机抽取 {len(plan.draw.selected())} 家（比例系数 {plan.draw.scale:.3f}）", 9),
              (f"计划检查 {s['inspections']} 户次，检查组 {len(plan.teams)} 个"
               f"（每组不少于 {plan.params.min_team_size} 人）", 9),
              (f"必检未能安排 {s['mandatory_unscheduled']} 户次，缺口 {s['shortfall_inspector_days']} 人·日"
               + ("（无缺口）" if not s["mandatory_unscheduled"] else "——须增加执法力量或调整重点/一般比例"), 9),
              *_shortfall_lines(plan),
              (f"排程：OR-Tools CP-SAT {plan.schedule.status}，目标值 {s['objective']}，下界 {s['bound']}，"
               f"间隙 {s['gap'] * 100:.2f}%", 9)]
    if plan.diff:
        d = plan.diff
        lines.append((f"与{d['previous_year']}年度相比：重点名单进入 {len(d['entered'])} 家、退出 {len(d['left'])} 家、"
                      f"频次变化 {len(d['changed_visits'])} 家", 9))
    lines += [("", 9), ("三、信用良好减频（与同基础风险、信用不良的“孪生”单位相比）", 12)]
    for r in plan.credit_effect():
        if r["good"]["units"] and r["bad"]["units"]:
            cut = r["reduction_vs_bad"]  # None when bad-credit units get no visit (all capacity went to floors)
            lines.append((f"{r['base_class_zh']}：信用良好 {r['good']['visits_per_unit']:.2f} 次/家·年，"
                          f"不良 {r['bad']['visits_per_unit']:.2f} 次/家·年，"
                          + (f"减少 {cut * 100:.0f}%" if cut is not None else "不良单位本年未能抽查（检查力量不足）"),
                          9))
    y = 0.95
    for text, size in lines:
        fig.text(0.07, y, text, fontsize=size)
        y -= 0.028 if size > 10 else 0.021
    return fig


def _shortfall_lines(plan: Plan, shown: int = 8) -> list[tuple[str, int]]:
    """Which units the shortfall leaves without their mandatory inspections (the first few; all in the XLSX)."""
    units = plan.shortfall_units()
    if not units:
        return []
    lines = [(f"  {u['name']}（{u['kind_zh']}，未安排{u['missing']}户次，缺{u['inspector_days']:g}人·日）", 8)
             for u in units[:shown]]
    if len(units) > shown:
        lines.append((f"  ……共{len(units)}家，名单见XLSX“未安排”表", 8))
    return lines


def _charts(plan: Plan) -> Any:
    fig = layer.page(layer.A4_LANDSCAPE)
    axes = fig.subplots(2, 2)
    names = plan.params.class_names
    codes = [rc.code for rc in plan.params.classes]
    key_ids = {k.a.ent.ent_id for k in plan.key_units}
    ax = axes[0][0]
    key_n = Counter(a.risk_class for a in plan.assessments if a.ent.ent_id in key_ids)
    gen_n = Counter(a.risk_class for a in plan.assessments if a.ent.ent_id not in key_ids)
    labels = [names[c] for c in codes]
    ax.bar(labels, [key_n[c] for c in codes], label="重点单位", color="#c0392b")
    ax.bar(labels, [gen_n[c] for c in codes], bottom=[key_n[c] for c in codes], label="一般单位", color="#95a5a6")
    ax.set_title("风险分布（按风险类别，家）")
    ax.legend()

    ax = axes[0][1]
    load: dict[int, dict[str, float]] = defaultdict(lambda: {"key": 0.0, "general": 0.0})
    for p in plan.schedule.placed:
        load[p.day.month][p.job.kind] += p.job.half_days / 2
    months = list(range(1, 13))
    ax.bar([f"{m}月" for m in months], [load[m]["key"] for m in months], label="重点检查", color="#c0392b")
    ax.bar([f"{m}月" for m in months], [load[m]["general"] for m in months], bottom=[load[m]["key"] for m in months],
           label="一般检查", color="#7f8c8d")
    ax.plot([f"{m}月" for m in months], [plan.schedule.month_capacity[m] / 2 for m in months], color="#2c3e50",
            marker="o", label="可用检查组日")
    ax.set_title("月度负荷（检查组日）")
    top = max([plan.schedule.month_capacity[m] / 2 for m in months] + [1])
    ax.set_ylim(0, top * 1.3)
    ax.legend(fontsize=7, loc="upper left", ncol=3)

    ax = axes[1][0]
    visited = set(plan.visits_by_ent())
    districts = sorted({a.ent.district_name for a in plan.assessments})
    key_cov = [sum(1 for a in plan.assessments if a.ent.district_name == d and a.ent.ent_id in key_ids
                   and a.ent.ent_id in visited) for d in districts]
    gen_cov = [sum(1 for a in plan.assessments if a.ent.district_name == d and a.ent.ent_id not in key_ids
                   and a.ent.ent_id in visited) for d in districts]
    rest = [sum(1 for a in plan.assessments if a.ent.district_name == d and a.ent.ent_id not in visited)
            for d in districts]
    ax.barh(districts, key_cov, label="重点单位（已安排）", color="#c0392b")
    ax.barh(districts, gen_cov, left=key_cov, label="一般单位（抽中）", color="#7f8c8d")
    ax.barh(districts, rest, left=[a + b for a, b in zip(key_cov, gen_cov, strict=True)], label="本年未检查",
            color="#ecf0f1", edgecolor="#bdc3c7")
    ax.set_title("覆盖情况（按区，家）")
    ax.legend(fontsize=7)

    ax = axes[1][1]
    eff = [r for r in plan.credit_effect() if r["good"]["units"] or r["bad"]["units"]]
    xs = range(len(eff))
    for off, credit, color in ((-0.27, "good", "#27ae60"), (0, "ordinary", "#f39c12"), (0.27, "bad", "#c0392b")):
        ax.bar([x + off for x in xs], [r[credit]["visits_per_unit"] or 0 for r in eff], width=0.27,
               label=credit_label(credit) if credit != "bad" else "不良/失信", color=color)
    ax.set_xticks(list(xs), [r["base_class_zh"] for r in eff])
    ax.set_title("信用良好减频：每家年检查次数（同基础风险）")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_pdf(plan: Plan, path: str | Path) -> Path:
    out = Path(path)
    with layer.document(out, f"{plan.year}年度安全生产监督检查计划", font_size=9) as pdf:
        for build in (_text_page, _charts):
            pdf.savefig(build(plan))
    return out
