"""Sections other capabilities plug into the feedback reports.

The serious-dishonesty list (部令第11号) and credit repair (两书同达) are built (``creditflow.credit``);
their sections are computed by :mod:`creditflow.reports.credit_sections` from the credit capability's own
timestamped history, with the columns the 信用办 asks for. A capability may still register another
provider for a declared section (tests, a deployment without the credit tables):

    from creditflow.reports import sections
    sections.register("dishonesty_list", lambda engine, period, cut_off: [...rows as dicts...])

A provider returns the section's rows (dicts keyed by the declared Chinese column names) for the period
as of the cut-off, from its own timestamped history — the same reproducibility rule as every figure.
A section without a provider appears as "尚未启用" with its planned note.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Provider = Callable[[Any, Any, dt.datetime], list[dict[str, Any]]]


@dataclass(frozen=True)
class SectionSpec:
    id: str
    title_zh: str
    columns: tuple[str, ...]
    planned_note: str
    note: str = ""  # printed under an active section: how its figures are counted


PLANNED: tuple[SectionSpec, ...] = (
    SectionSpec("dishonesty_list", "安全生产严重失信主体名单",
                ("类别", "列入数量", "移出数量", "其中提前移出", "期末名单数量"),
                "待严重失信主体名单功能（部令第11号）上线后启用：统计期内列入、移出、提前移出的主体数。",
                "按《安全生产严重失信主体名单管理办法》（应急管理部令第11号）办理的案件：列入数量为统计期内作出的列入决定数；"
                "移出数量含提前移出、管理期满移出和撤销列入；期末名单数量为统计期末仍在名单内的主体数。"
                "均以截止时点前的办理记录为准。"),
    SectionSpec("credit_repair", "信用修复与两书同达",
                ("类别", "应送达修复告知书数", "与决定书同时送达数", "两书同达率", "受理修复申请数", "完成修复数"),
                "待信用修复功能上线后启用：行政处罚决定书与信用修复告知书同时送达的比例（两书同达率）及修复办理情况。",
                "统计期内作出的行政处罚中已出具信用修复告知书的为应送达数；在本局规定的两书同达期限内（决定之日起"
                "2个工作日，本地口径）登记送达的为同时送达数；修复申请和完成修复按受理、批准日期计。"
                "均以截止时点前的办理记录为准。"),
)
_PROVIDERS: dict[str, Provider] = {}


def register(section_id: str, provider: Provider) -> None:
    if section_id not in {s.id for s in PLANNED}:
        raise KeyError(f"no report section {section_id!r}; declared: {[s.id for s in PLANNED]}")
    _PROVIDERS[section_id] = provider


def unregister(section_id: str) -> None:
    _PROVIDERS.pop(section_id, None)


def built_in() -> dict[str, Provider]:
    """The providers creditflow itself has (:mod:`creditflow.reports.credit_sections`)."""
    from creditflow.reports import credit_sections

    return {"dishonesty_list": credit_sections.dishonesty_list, "credit_repair": credit_sections.credit_repair}


def render(engine: Any, period: Any, cut_off: dt.datetime) -> list[dict[str, Any]]:
    """Every declared section: its rows from the registered or built-in provider, or the "not yet active"
    note."""
    out = []
    own = built_in()
    for spec in PLANNED:
        provider = _PROVIDERS.get(spec.id) or own.get(spec.id)
        if provider is None:
            out.append({"id": spec.id, "title": spec.title_zh, "columns": list(spec.columns), "rows": [],
                        "active": False, "note": spec.planned_note})
        else:
            rows = provider(engine, period, cut_off)
            out.append({"id": spec.id, "title": spec.title_zh, "columns": list(spec.columns),
                        "rows": [{c: r.get(c) for c in spec.columns} for r in rows], "active": True,
                        "note": spec.note})
    return out
