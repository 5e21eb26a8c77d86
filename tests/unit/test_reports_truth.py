"""The monthly report says what is true (issue #16.5): small warehouses written row by row, as the daily
runs leave them, each with the answer worked out by hand from the definition it tests
(``data/reports/definitions.yaml``, quoted next to each case).

The runs: the run of local day D (``sgs_<kind>|D``) starts D+1 06:00 and writes its reconciliation then;
a record it sends goes out on D+1 (the publication day: "公开日期为完成上报的日常运行之日（数据区间次日）").
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from creditflow.common import TZ
from creditflow.core import warehouse as wh
from creditflow.reports import build, periods, snapshots

NOV = "2026-11"
CUT = dt.datetime(2026, 12, 10, tzinfo=TZ)  # the rule's: end of 9 December


def _utc(day: dt.date, hour: int = 6, minute: int = 30) -> str:
    return dt.datetime.combine(day, dt.time(hour, minute), TZ).astimezone(dt.UTC).isoformat(timespec="seconds")


class Warehouse:
    """What daily runs leave behind, one call per fact."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def run(self, day: str, kind: str = "penalty", files: list[dict] | None = None) -> str:
        d = dt.date.fromisoformat(day)
        key = f"sgs_{kind}|{day}"
        with self.engine.begin() as conn:
            conn.execute(wh.run_summary.insert().values(
                run_key=key, kind=kind, dag_id=f"sgs_{kind}", interval_start=f"{day}T00:00:00+08:00",
                interval_end=f"{d + dt.timedelta(days=1)}T00:00:00+08:00", extracted=0, uploaded=0, quarantined=0,
                awaiting_review=0, unchanged=0, duplicates=0, late=0, due_soon=0, rejected_files=0, reconciled=True,
                written_at=_utc(d + dt.timedelta(days=1), 7)))
            for f in files or []:
                conn.execute(wh.source_files.insert().values(run_key=f"{key}|{kind}", **f))
        return key

    def record(self, day: str, rid: str, outcome: str, decision: str, due: str, nk: str, *, kind: str = "penalty",
               op: str | None = None, errors: tuple[str, ...] = (), review_reason: str | None = None,
               detail: str | None = None, duplicate_of: str | None = None, lineage: str = "") -> None:
        key = self.run_key(day, kind)
        source = rid.split(":", 1)[0]
        payload = {"CF_JDRQ": decision, "CF_XDR_LB": "法人及非法人组织", "CF_CFLB": "罚款", "CF_NR_FK": "1"}
        with self.engine.begin() as conn:
            conn.execute(wh.staging.insert().values(
                run_key=key, record_id=rid, kind=kind, source_system=source, source_key=rid.split(":", 1)[1],
                lineage=lineage, interval_start=f"{day}T00:00:00+08:00", extracted_at=_utc(dt.date.fromisoformat(day)),
                raw_payload="{}"))
            conn.execute(wh.standardised.insert().values(
                run_key=key, record_id=rid, kind=kind, source_system=source, natural_key=nk, decision_date=decision,
                due_date=due, source_revoked=False, content_hash="h", body_hash="b", payload=json.dumps(payload)))
            conn.execute(wh.outcomes.insert().values(
                run_key=key, record_id=rid, kind=kind, outcome=outcome, op=op, natural_key=nk,
                duplicate_of=duplicate_of, review_reason=review_reason, detail=detail, due_date=due))
            for rule in errors:
                conn.execute(wh.findings.insert().values(run_key=key, record_id=rid, kind=kind, field="CF_SY",
                                                         rule_id=rule, severity="error", message_zh="缺少处罚事由"))

    def sent_and_accepted(self, day: str, nk: str, rid: str, kind: str = "penalty") -> None:
        """The run of ``day`` sends the 新增 and the platform accepts it that morning (publication day: day + 1)."""
        out = dt.date.fromisoformat(day) + dt.timedelta(days=1)
        with self.engine.begin() as conn:
            for state, minute in (("sent", 30), ("accepted", 40)):
                conn.execute(wh.ledger_history.insert().values(
                    kind=kind, natural_key=nk, record_id=rid, op="create", state=state, content_hash="h",
                    run_key=self.run_key(day, kind), at=_utc(out, 6, minute)))

    @staticmethod
    def run_key(day: str, kind: str = "penalty") -> str:
        return f"sgs_{kind}|{day}"


@pytest.fixture
def w(db_url):
    wh.upgrade(db_url)
    engine = wh.engine_from_url(db_url)
    yield Warehouse(engine)
    engine.dispose()


def _november(w: Warehouse, cut: dt.datetime = CUT) -> dict:
    return build.compute(w.engine, "monthly", NOV, cut)


def test_first_check_judges_the_first_extraction(w):
    """首次校验通过率: "统计期内抽取的记录（含重复报送的副本）中，首次抽取时即通过本局数据质量校验（无“错误”级问题）
    的比例". A: clean. B: quarantined on 2 Nov (REQUIRED), fixed at the source, passes on 4 Nov and is published.
    By hand: 2 records extracted, B failed its first check → 1 / 2 = 0.5 (the latest extraction would say 2 / 2)."""
    for day in ("2026-11-02", "2026-11-03", "2026-11-04"):
        w.run(day)
    w.record("2026-11-02", "case_db:A", "uploaded", "2026-11-02", "2026-11-11", "A|x", op="create")
    w.sent_and_accepted("2026-11-02", "A|x", "case_db:A")
    w.record("2026-11-02", "case_db:B", "quarantined", "2026-11-02", "2026-11-11", "B|x", errors=("REQUIRED",),
             detail="REQUIRED")
    w.record("2026-11-04", "case_db:B", "uploaded", "2026-11-02", "2026-11-11", "B|x", op="create")
    w.sent_and_accepted("2026-11-04", "B|x", "case_db:B")
    h = _november(w)["headline"]
    assert (h["extracted"], h["first_pass"], h["first_pass_rate"]) == (2, 1, 0.5)
    assert (h["decisions"], h["accepted"], h["not_published"]["total"]) == (2, 2, 0)
