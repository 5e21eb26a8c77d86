"""District inbox: files are claimed once per interval, unreadable ones rejected with a reason, and a
re-run of the interval sees exactly what the first attempt saw."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow_sandbox import generator as g
from helpers import run_for

DAY = dt.date(2026, 11, 2)


def test_rerun_of_an_interval_sees_the_same_files(tmp_path, db_url):
    inbox = tmp_path / "inbox"
    g.generate_to(g.GeneratorConfig(seed=4, decisions=200, start=DAY, days=3, corrupt_file_share=0.3), inbox=inbox)
    engine = wh.engine_from_url(db_url)
    run = run_for(DAY, "penalty")
    first = sgs.extract(run, engine, sgs.Sources(inbox=inbox))
    assert first["rejected_files"] >= 1 and first["district_file"] > 0
    assert not [p for p in inbox.iterdir() if p.is_file()]  # every file claimed: archived or rejected
    reasons = list((inbox / "rejected" / DAY.isoformat()).glob("*.reason.txt"))
    assert reasons and all("损坏" in r.read_text(encoding="utf-8") or "无法" in r.read_text(encoding="utf-8")
                           for r in reasons)
    with engine.connect() as conn:
        staged_first = sorted(r[0] for r in conn.execute(sa.select(wh.staging.c.record_id)))
    again = sgs.extract(run, engine, sgs.Sources(inbox=inbox))
    assert again == first
    with engine.connect() as conn:
        assert sorted(r[0] for r in conn.execute(sa.select(wh.staging.c.record_id))) == staged_first
