"""Issue 16.1 end to end: the nine-row district file that used to fail its day (TypeError in validation)
runs through a real day of the pipeline — the scheduled task's own function, ``process_interval`` — and
quarantines exactly its one bad row; every other row is published (the natural persons after the two
review levels their policy requires)."""

from __future__ import annotations

import csv
import datetime as dt
import os

import pytest
import sqlalchemy as sa
from creditflow.core import standard
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow.reporting import review
from creditflow.reporting.pipeline import interval
from creditflow_sandbox import platform
from helpers import TZ, ServedApp, platform_client, warehouse

from tests.unit.test_validation import _district_nine

pytestmark = [pytest.mark.integration]
DAY = dt.date(2026, 11, 2)


def _write_district_file(inbox, rows) -> str:
    folder = inbox / "penalty"
    folder.mkdir(parents=True)
    path = folder / "440402_香洲区_20261102_0001.csv"
    fields = standard.fields("penalty")
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f.name_zh for f in fields])
        for r in rows:
            w.writerow(["" if r.get(f.code) is None else r.get(f.code) for f in fields])
    arrived = dt.datetime.combine(DAY, dt.time(10), TZ).timestamp()
    os.utime(path, (arrived, arrived))
    return path.name


def test_nine_row_district_file_one_finding_every_other_row_published(tmp_path, db_url):
    rows = [{**r, "CF_JDRQ": DAY.isoformat(), "CF_YXQ": "2027-11-02"} for r in _district_nine()]
    _write_district_file(tmp_path / "inbox", rows)
    engine = warehouse(db_url)
    sources = sgs.Sources(inbox=tmp_path / "inbox")
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.05)) as pf:
        client = platform_client(pf.url)
        first = interval.process_interval(interval.interval_run("penalty", DAY), engine, sources, client)
        # the day runs to the end: nothing raised, the file was read, one row held back
        assert first["extracted"] == 9 and first["rejected_files"] == 0
        assert first["quarantined"] == 1
        assert first["uploaded"] == 1  # the organisation: no review level needs a person
        assert first["awaiting_review"] == 7  # natural persons: 经办科室 and 法规科 (review_policy.yaml)
        with engine.connect() as conn:
            errors = conn.execute(sa.select(wh.findings.c.record_id, wh.findings.c.field, wh.findings.c.rule_id)
                                  .where(wh.findings.c.severity == "error")).all()
        assert [(e.field, e.rule_id) for e in errors] == [("CF_XDR_ZJHM", "RIC_INVALID")]
        assert review.sign_off(engine, 1, "reviewer1") == 7
        assert review.sign_off(engine, 2, "reviewer2") == 7
        nxt = interval.process_interval(interval.interval_run("penalty", DAY + dt.timedelta(days=1)), engine,
                                        sources, client)
        assert nxt["reconciled"]
        published = pf.admin("GET", "/admin/records")["records"]
    # every row but the one with the wrong check digit is on the platform, each once
    assert len(published) == 8
    assert len({r["natural_key"] for r in published}) == 8
    assert not any("30号" in r["natural_key"] for r in published)  # 珠香应急罚〔2026〕30号: the bad row
