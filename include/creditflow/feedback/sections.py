"""The feedback report's credit sections: the serious-dishonesty list (部令第11号) and credit repair (两书同达).

Each section is declared here (title, the columns the 信用办 asks for, how it is counted) with the
function of :mod:`creditflow.feedback.credit_sections` that computes its rows from the credit capability's
own timestamped history, for the period as of the cut-off — the same reproducibility rule as every figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from creditflow.feedback import credit_sections


@dataclass(frozen=True)
class SectionSpec:
    id: str
    title_zh: str
    columns: tuple[str, ...]
    note: str  # printed under the section: how its figures are counted
    rows: Callable[[Any, Any, dt.datetime], list[dict[str, Any]]]  # (engine, period, cut-off) → rows by column


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("dishonesty_list", "安全生产严重失信主体名单",
                ("类别", "列入数量", "移出数量", "其中提前移出", "期末名单数量"),
                "按《安全生产严重失信主体名单管理办法》（应急管理部令第11号）办理的案件：列入数量为统计期内作出的列入决定数；"
                "移出数量含提前移出、管理期满移出和撤销列入；期末名单数量为统计期末仍在名单内的主体数。"
                "均以截止时点前的办理记录为准。", credit_sections.dishonesty_list),
    SectionSpec("credit_repair", "信用修复与两书同达",
                ("类别", "应送达修复告知书数", "与决定书同时送达数", "两书同达率", "受理修复申请数", "完成修复数"),
                "统计期内作出的行政处罚中已出具信用修复告知书的为应送达数；在本局规定的两书同达期限内（决定之日起"
                "2个工作日，本地口径）登记送达的为同时送达数；修复申请和完成修复按受理、批准日期计。"
                "均以截止时点前的办理记录为准。", credit_sections.credit_repair),
)


def render(engine: Any, period: Any, cut_off: dt.datetime) -> list[dict[str, Any]]:
    """Every section with its rows (only its declared columns) and its note."""
    return [{"id": s.id, "title": s.title_zh, "columns": list(s.columns),
             "rows": [{c: r.get(c) for c in s.columns} for r in s.rows(engine, period, cut_off)], "note": s.note}
            for s in SECTIONS]
