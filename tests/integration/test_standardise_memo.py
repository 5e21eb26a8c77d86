"""The standardise stage keeps the rows it computed, by their inputs (pipeline/standardise.py): a record
taken again while it waits for 层层审核 is not standardised again each day. What it stores must be what
computing afresh stores — the same values, in the same order — and rows kept under other keys are not reused."""

from __future__ import annotations

import datetime as dt
import importlib
import json

import pandas as pd
import sqlalchemy as sa
from creditflow.common import TZ
from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow_sandbox import generator as g
from helpers import warehouse

# the module, not the stage function the package exports under the same name
stage = importlib.import_module("creditflow.reporting.pipeline.standardise")
DAY = dt.date(2026, 11, 2)


def _rows(engine: sa.Engine, run: sgs.Run) -> list[dict]:
    t = wh.standardised
    with engine.connect() as conn:
        return sorted((dict(r) for r in conn.execute(sa.select(t).where(t.c.run_key == run.run_key)).mappings()),
                      key=lambda r: r["record_id"])


def _opened(rows: list[dict]) -> list[dict]:
    """The rows with their payloads opened: what a computation decides, not its ciphertext."""
    return [{**{k: v for k, v in r.items() if k != "payload"},
             "payload": pii.open_payload(r["kind"], json.loads(r["payload"]))} for r in rows]


def _extracted_day(db_url: str, tmp_path, **config) -> tuple[sa.Engine, sgs.Run]:
    """A generated day of penalty decisions (case system and district files), extracted into a warehouse."""
    g.generate_to(g.GeneratorConfig(start=DAY, days=1, **config), case_db_url=f"sqlite:///{tmp_path}/c.sqlite",
                  inbox=tmp_path / "inbox")
    engine = warehouse(db_url)
    start = dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ)
    run = sgs.Run("sgs_penalty", "penalty", start, start + dt.timedelta(days=1))
    sgs.extract(run, engine, sgs.Sources(case_db=wh.engine_from_url(f"sqlite:///{tmp_path}/c.sqlite"),
                                         inbox=tmp_path / "inbox"))
    return engine, run


def test_kept_rows_are_what_computing_afresh_stores(db_url, tmp_path):
    engine, run = _extracted_day(db_url, tmp_path, seed=7, decisions=60)
    stage.clear_memo()
    sgs.standardise(run, engine)
    afresh = _rows(engine, run)
    assert len(afresh) > 20 and len({r["source_system"] for r in afresh}) == 2  # case system and district files
    assert len(stage._MEMO) == len(afresh)

    sgs.standardise(run, engine)  # every row kept: nothing computed
    kept = _rows(engine, run)
    assert kept == afresh

    with engine.connect() as conn:
        staged = pd.read_sql(sa.select(wh.staging).where(wh.staging.c.run_key == run.run_key), conn)
    stage.clear_memo()
    computed = stage._standardised_rows(staged, "penalty", None)
    stage.clear_memo()  # half of them kept, half computed: the same rows in the same order
    stage._standardised_rows(staged.iloc[::2], "penalty", None)
    mixed = stage._standardised_rows(staged, "penalty", None)
    assert _opened(mixed) == _opened(computed)
    assert [r["record_id"] for r in computed] == sorted((r["record_id"] for r in computed),
                                                         key=lambda rid: rid.split(":", 1)[0]) != []
    sgs.standardise(run, engine)
    assert _opened(_rows(engine, run)) == _opened(afresh)

    ring = pii.keyring()  # a new active key (a rotation): nothing kept under the old one is reused
    pii.use_keyring(pii.Keyring({**ring.keys, "k9": pii.generate_keyring().keys["k1"]}, "k9", ring.index_key))
    try:
        sgs.standardise(run, engine)
        other = _rows(engine, run)
        assert not any(f"sm4g:{ring.active}:" in r["payload"] for r in other)
        assert any("sm4g:k9:" in r["payload"] for r in other)
        assert _opened(other) != [] and [r["content_hash"] for r in other] == [r["content_hash"] for r in afresh]
    finally:
        pii.use_keyring(None)


def test_decide_takes_the_fields_validate_opened_only_when_every_payload_is_the_same(db_url, tmp_path,
                                                                                      monkeypatch):
    """load_standardised opens an interval's payloads once for validate and decide in one process: the second
    read gets the same frame, without unsealing again; a changed payload, another interval or other keys
    open afresh; what was kept is taken once."""
    engine, run = _extracted_day(db_url, tmp_path, seed=8, decisions=40)
    sgs.standardise(run, engine)
    opened: list[int] = []
    real_open = pii.open_payload
    monkeypatch.setattr(pii, "open_payload", lambda *a, **k: opened.append(1) or real_open(*a, **k))

    def load() -> pd.DataFrame:
        opened.clear()
        return stage.load_standardised(run, engine)

    first = load()
    assert len(opened) == len(first) > 10
    cells = [str(v) for v in first.drop(columns=["payload"]).to_numpy().ravel()]
    assert not any(c.startswith("sm4g:") for c in cells)  # every personal field opened: clear values
    assert any(json.loads(p) != {} and "sm4g:" in p for p in first["payload"])  # from payloads stored sealed
    second = load()
    assert opened == []  # taken, not opened again
    pd.testing.assert_frame_equal(second, first)
    third = load()  # taken once: opened afresh
    assert len(opened) == len(first)
    pd.testing.assert_frame_equal(third, first)

    t = wh.standardised  # a payload changed in between (a re-run of standardise with other data): opened afresh
    with engine.begin() as conn:
        rid, payload = conn.execute(sa.select(t.c.record_id, t.c.payload).where(t.c.run_key == run.run_key)).first()
        body = json.loads(payload)
        body["CF_SY"] = "经查（更正）"
        conn.execute(t.update().where(t.c.run_key == run.run_key, t.c.record_id == rid).values(payload=json.dumps(body)))
    changed = load()
    assert len(opened) == len(first)
    assert "经查（更正）" in changed["CF_SY"].tolist()
    assert "经查（更正）" in load()["CF_SY"].tolist()  # the kept frame is the changed one

    load()
    ring = pii.keyring()  # other keys in use: nothing kept is taken
    pii.use_keyring(pii.Keyring({**ring.keys, "k9": pii.generate_keyring().keys["k1"]}, "k9", ring.index_key))
    try:
        load()
        assert len(opened) == len(first)
    finally:
        pii.use_keyring(None)
    stage.forget_opened()
    load()
    assert len(opened) == len(first)


def test_decide_reads_the_records_the_frame_gives(db_url, tmp_path):
    """load_standardised_records (decide) gives exactly load_standardised(...).to_dict("records"): the same
    keys, values and types — keyless rows, natural persons, missing fields as None."""
    engine, run = _extracted_day(db_url, tmp_path, seed=12, decisions=80, person_share=0.4)
    sgs.standardise(run, engine)
    framed = stage.load_standardised(run, engine).to_dict("records")
    stage.forget_opened()
    records = stage.load_standardised_records(run, engine)
    assert len(records) == len(framed) > 40
    assert records == framed
    assert [{k: type(v) for k, v in r.items()} for r in records] == [{k: type(v) for k, v in r.items()} for r in framed]
    assert any(v is None for r in records for v in r.values())
    taken = stage.load_standardised_records(run, engine)  # the fields the first read opened, taken
    assert taken == records
    empty = sgs.Run("sgs_penalty", "penalty", run.start + dt.timedelta(days=9), run.start + dt.timedelta(days=10))
    assert stage.load_standardised_records(empty, engine) == []
