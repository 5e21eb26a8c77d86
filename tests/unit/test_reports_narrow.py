"""The run-key half of the monthly report's month-only proof (reports/narrow.py): the recursive index walk
over the ledger history's distinct run keys finds exactly what a plain LIKE filter over every row finds."""

from __future__ import annotations

import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow.reports import narrow
from helpers import warehouse


def test_run_key_walk_equals_a_plain_like_scan(db_url):
    engine = warehouse(db_url)
    keys = [f"sgs_{k}|2026-{m:02d}-{d:02d}" for k in ("penalty", "license") for m in (9, 10, 11) for d in (1, 15, 30)]
    keys += ["credit_list|2026-10-15", "sgs_penalty|2026-10-15"]  # a repeated key counts once
    with engine.begin() as conn:
        conn.execute(wh.ledger_history.insert(), [
            {"kind": "penalty", "natural_key": f"doc{i}|x", "record_id": f"r{i}", "op": "create", "state": "sent",
             "content_hash": "h", "batch_id": "b", "code": None, "run_key": k, "at": "2026-11-01T00:00:00+00:00"}
            for i, k in enumerate(keys)])
    for patterns in (["%|2026-10-%"], ["sgs_penalty|2026-09-%", "%|2026-11-30"], ["%|2027-%"]):
        with engine.connect() as conn:
            walked = sorted(r[0] for r in conn.execute(narrow._run_keys(patterns)))
            plain = sorted({r[0] for r in conn.execute(sa.select(wh.ledger_history.c.run_key).where(
                sa.or_(*[wh.ledger_history.c.run_key.like(x) for x in patterns])))})
        assert walked == plain, patterns
    assert walked == []  # the last patterns match nothing
    engine.dispose()
