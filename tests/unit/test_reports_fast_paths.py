"""The monthly report's fast paths give what their plain definitions give: the ledger history grouped in
Python against SQL's GROUP BY, the per-record publication flags against a groupby + merge, the
deadline check against a record-by-record one, completeness against the field-by-field count."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest
import sqlalchemy as sa
from creditflow.common import TZ
from creditflow.core import warehouse as wh
from creditflow.feedback import details, facts, figures
from creditflow.feedback.facts import Facts

STAMPS = [f"2026-10-{d:02d}T{h:02d}:00:00+00:00" for d in range(1, 29) for h in (3, 15)]


def _history_rows(rng: random.Random, n: int) -> list[dict]:
    """Ledger-history rows with repeated keys, NULL op / code / run key, and states outside the report's."""
    return [{"kind": rng.choice(["penalty", "license"]), "natural_key": f"文号{rng.randrange(40)}|x",
             "record_id": "r", "op": rng.choice(["create", "create", "create", "correct", None]),
             "state": rng.choice(["pending", "sent", "accepted", "rejected"]),
             "code": rng.choice([None, None, "E1203", "E102"]), "content_hash": "h",
             "run_key": rng.choice([None, *(f"sgs_penalty|2026-10-{d:02d}" for d in range(1, 29))]),
             "at": rng.choice(STAMPS)} for _ in range(n)]


@pytest.fixture
def engine(db_url):
    """SQLite, or a fresh PostgreSQL schema when CREDITFLOW_TEST_DATABASE_URL is set."""
    wh.upgrade(db_url)
    e = wh.engine_from_url(db_url)
    yield e
    e.dispose()


def test_history_grouped_in_python_is_the_sql_group_by(engine):
    with engine.begin() as conn:
        conn.execute(wh.ledger_history.insert(), _history_rows(random.Random(3), 600))
    window, cut = (dt.date(2026, 10, 2), dt.date(2026, 11, 1)), "2026-10-20T15:00:00+00:00"
    history, _ = facts._history(engine, window, cut, ("penalty", "license", "coercion"))
    h = wh.ledger_history
    since = facts.stamp(facts._local_midnight(window[0]))
    with engine.connect() as conn:
        expect = conn.execute(sa.select(h.c.kind, h.c.natural_key, h.c.op, h.c.state, h.c.code, sa.func.min(h.c.at),
                                        sa.func.min(h.c.run_key))
                              .where(h.c.at < cut, h.c.at >= since, h.c.state.in_(["sent", "accepted", "rejected"]))
                              .group_by(h.c.kind, h.c.natural_key, h.c.op, h.c.state, h.c.code)).all()
    assert history.duplicated(facts.HISTORY_KEY).sum() == 0 and len(history) < 600  # some keys repeated

    def norm(row):
        return tuple("\0NULL" if v is None or pd.isna(v) else v for v in row)
    assert sorted(map(norm, history.itertuples(index=False))) == sorted(map(norm, expect))


def _plain_flags(history: pd.DataFrame, cut_off: dt.datetime, keys: pd.DataFrame) -> pd.DataFrame:
    """The definition: groupby the record's 新增 rows before the cut-off, merged onto the keys."""
    cut = figures.stamp(cut_off)
    h = history[(history["op"] == "create") & (history["first_at"] < cut)]
    index = ["kind", "natural_key"]
    sent = h[h["state"] == "sent"].groupby(index)["first_at"].max().rename("sent_at")
    acc = h[h["state"] == "accepted"].groupby(index).agg(accepted_at=("first_at", "min"),
                                                         accepted_run=("first_run", "min"))
    rej = h[h["state"] == "rejected"].groupby(index).agg(
        rejected_at=("first_at", "max"), rejected_codes=("code", lambda s: ",".join(sorted({str(c) for c in s}))))
    out = pd.concat([sent, acc, rej], axis=1).reset_index()
    return keys.merge(out, on=index, how="left")


def test_publication_flags_are_the_plain_groupby(engine):
    with engine.begin() as conn:
        conn.execute(wh.ledger_history.insert(), _history_rows(random.Random(5), 900))
    history, _ = facts._history(engine, (dt.date(2026, 10, 1), dt.date(2026, 11, 1)), "2026-11-01T00:00:00+00:00",
                                ("penalty", "license"))
    empty = pd.DataFrame()
    known = Facts(dt.datetime(2026, 11, 1, tzinfo=TZ), (dt.date(2026, 10, 1), dt.date(2026, 11, 1)), empty, empty,
                  history, empty, empty, empty, empty)
    rng = random.Random(9)
    keys = pd.DataFrame([{"kind": rng.choice(["penalty", "license", "coercion"]),
                          "natural_key": f"文号{rng.randrange(50)}|x"} for _ in range(120)])
    assert keys.duplicated().any()
    for day in (1, 8, 15, 22, 29):
        cut = dt.datetime(2026, 10, day, 10, tzinfo=dt.UTC)
        mine = figures._history_flags(known, cut, keys)
        expect = _plain_flags(history, cut, keys)
        for c in figures.FLAG_COLUMNS:
            got = [None if pd.isna(v) else v for v in mine[c]]
            want = [None if pd.isna(v) else v for v in expect[c]]
            assert got == want, (day, c)
    assert mine["sent_at"].notna().any() and mine["rejected_codes"].str.contains(",").any()  # not all empty


def _old_timeliness(rec: pd.DataFrame, cut_off: dt.datetime) -> tuple[list, list, list]:
    """The record-by-record definition of :func:`figures._timeliness`."""
    cal = figures.official_calendar()
    as_of_day = (cut_off - dt.timedelta(microseconds=1)).date()
    timely, late, dues = [], [], []
    for r in rec.itertuples(index=False):
        due = figures._date(r.due_date) or figures._due(r.decision_day)
        dues.append(due)
        if r.copy or r.status == "exempt" or due is None:
            timely.append(None)
            late.append(None)
            continue
        if r.status == "published" and r.pub_day is not None:
            on_time = r.pub_day <= due
            timely.append(on_time)
            late.append(0 if on_time else cal.working_days_between(due, r.pub_day))
        elif dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), cut_off.tzinfo) <= cut_off:
            timely.append(False)  # unpublished, the deadline day over: late (0 working days when due that day)
            late.append(cal.working_days_between(due, as_of_day))
        else:
            timely.append(None)
            late.append(None)
    return timely, late, dues


def test_deadline_check_is_the_record_by_record_one():
    rng = random.Random(11)
    days = [dt.date(2026, 9, 20) + dt.timedelta(days=i) for i in range(40)]
    rec = pd.DataFrame([{"copy": rng.random() < 0.1, "status": rng.choice(["published", "exempt", "quarantined"]),
                         "due_date": rng.choice([None, "", "2026-13-40", *(d.isoformat() for d in days[9:])]),
                         "pub_day": rng.choice([None, *days]), "decision_day": rng.choice([None, *days])}
                        for _ in range(400)])
    cut = dt.datetime(2026, 10, 20, tzinfo=TZ)
    timely, late, dues = _old_timeliness(rec, cut)
    expect = rec.assign(timely=timely, late_days=late, due_day=dues)
    figures._timeliness(rec, cut)
    assert rec[list(expect.columns)].equals(expect)
    assert True in timely and False in timely and any(x and x > 0 for x in late)


def _old_completeness(kind: str, payload: dict) -> tuple[int, int]:
    """Field by field, as the field dictionary's flags say (the definition)."""
    p = details.standard.PREFIX[kind]
    category, penalties = str(payload.get(f"{p}_XDR_LB") or ""), str(payload.get("CF_CFLB") or "")
    filled = required = 0
    for code, condition in details._required_spec(kind):
        need = {"organisation": category in details.ORG_CATEGORIES, "person": category == "自然人",
                "always": True}.get(condition)
        if need is None:
            need = any(word in penalties for word in details._BY_PENALTY[condition])
        if need:
            required += 1
            filled += details._filled(payload.get(code))
    if str(payload.get(f"{p}_XDR_SHXYM") or "").upper() == details.PLACEHOLDER:
        required += 1
        filled += any(details._filled(payload.get(p + s)) for s in details._OTHER_CODES)
    return filled, required


@pytest.mark.parametrize("kind", ["penalty", "license", "coercion"])
def test_completeness_is_the_field_by_field_count(kind):
    rng = random.Random(13)
    codes = [c for c, _ in details._required_spec(kind)]
    p = details.standard.PREFIX[kind]
    for _ in range(300):
        payload = {c: rng.choice([None, "", "  ", "值", 0, 1.5]) for c in codes if rng.random() < 0.8}
        payload[f"{p}_XDR_LB"] = rng.choice(["自然人", "法人及非法人组织", "个体工商户", None])
        payload["CF_CFLB"] = rng.choice(["罚款", "警告;没收违法所得", "暂扣", "", None])
        if rng.random() < 0.3:
            payload[f"{p}_XDR_SHXYM"] = details.PLACEHOLDER
        assert details.completeness_items(kind, payload) == _old_completeness(kind, payload)


@pytest.mark.parametrize("rows", [
    [("a", None, 1, None), ("b", None, 0, "x")],  # text, all-NULL text, integer flag, text with NULL
    [("a", None, 1, None)] * 1000 + [("b", None, None, "x")],  # an integer column with a NULL further down
    [("a", None, 1, None)] * 1000 + [("b", 2, 0, "x")],  # a number in a text column after the sample
    [("a", None, 1.5, None), ("b", None, 2, "x")],  # mixed numbers: pyarrow infers them
    [("a", None, True, None), ("b", None, False, "x")],  # booleans
    [("a", None, 1, b"x"), ("b", None, 0, None)],  # bytes
])
def test_frame_is_from_records(rows):
    """facts._frame gives the columns and dtypes pyarrow's per-column inference gives (or pandas' own)."""
    import pyarrow as pa

    columns = ["a", "b", "c", "d"]
    got = facts._frame(rows, columns)
    try:
        want = pa.Table.from_arrays([pa.array(c) for c in zip(*rows, strict=True)], names=columns).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        want = pd.DataFrame.from_records(rows, columns=columns)
    pd.testing.assert_frame_equal(got, want)
