"""District rows without a natural key (no 文书号): each is staged, standardised and quarantined on its own,
and the warehouse holds no key for them — not the text 'NaN' PostgreSQL stored for pandas' NaN, a "key" every
keyless record shared."""

from __future__ import annotations

import csv
import datetime as dt
import os

import sqlalchemy as sa
from creditflow.common import TZ
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from helpers import warehouse

ROWS = [{"CF_XDR_MC": "珠海乙公司", "CF_SY": "经查"},
        {"CF_XDR_MC": "珠海甲化工有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "91230500MA1B3N1N2M",
         "CF_WSH": "珠应急罚〔2026〕7号"},
        {"CF_XDR_MC": "珠海丙公司"}]


def test_keyless_rows_are_kept_apart_and_have_no_key(db_url, tmp_path):
    engine = warehouse(db_url)
    start = dt.datetime(2026, 11, 2, tzinfo=TZ)
    run = sgs.Run("sgs_penalty", "penalty", start, start + dt.timedelta(days=1))
    folder = tmp_path / "inbox" / "penalty"
    folder.mkdir(parents=True)
    path = folder / "440402_20261101_a.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=sorted({k for r in ROWS for k in r}))
        writer.writeheader()
        writer.writerows(ROWS)
    os.utime(path, (start.timestamp() - 3600, start.timestamp() - 3600))  # arrived before the run

    assert sgs.extract(run, engine, sgs.Sources(inbox=tmp_path / "inbox"))["total"] == 3
    sgs.standardise(run, engine)
    sgs.validate(run, engine)
    assert sgs.decide(run, engine)["quarantined"] == 3  # the keyless two for their missing fields
    s = wh.standardised
    with engine.connect() as conn:
        keys = dict(conn.execute(sa.select(s.c.record_id, sa.func.coalesce(s.c.natural_key, "<none>"))
                                 .where(s.c.run_key == run.run_key)).all())
        docs = {d for (d,) in conn.execute(sa.select(s.c.doc_key).where(s.c.run_key == run.run_key))}
        outcomes = dict(conn.execute(sa.select(wh.outcomes.c.record_id, wh.outcomes.c.outcome)
                                     .where(wh.outcomes.c.run_key == run.run_key)).all())
    assert keys == {"district_file:440402_20261101_a.csv:row2": "<none>",
                    "district_file:440402_20261101_a.csv:row4": "<none>",
                    "district_file:440402:珠应急罚〔2026〕7号|91230500MA1B3N1N2M": "珠应急罚〔2026〕7号|91230500MA1B3N1N2M"}
    assert docs == {None, "珠应急罚〔2026〕7号"}
    assert set(outcomes.values()) == {"quarantined"} and len(outcomes) == 3
