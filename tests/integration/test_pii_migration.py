"""Revision 0018 encrypts a warehouse the releases before #19 §3 filled, in place and without loss.

The warehouse is built honestly: the real pipeline runs three days against the sandboxes on a warehouse at
revision 0016, with sealing and blinding turned off (``sm4._PASSTHROUGH_FOR_TESTS``) — exactly what those
releases stored. Then every clear value and the ledger's hashes and idempotency keys are noted, the
warehouse is upgraded, and: every opened value equals the old clear one, no clear ID number or natural
person's name is left in any column, the hashes and idempotency keys are the same, natural keys agree
across tables, and the next run sends nothing to the platform.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.core import migrations, pii
from creditflow.core import warehouse as wh
from creditflow.core.pii import sm4
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, deliver_files, run_day

pytestmark = [pytest.mark.integration]
START = dt.date(2026, 11, 2)
DAYS = 3


def _ledger(engine):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(wh.ledger)).mappings()]


def _text_values(engine):
    """Every text value of every table (table, column, value)."""
    out = []
    with engine.connect() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        for table in md.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text))]
            if not cols:
                continue
            for row in conn.execute(sa.select(*cols)):
                out += [(table.name, c.name, v) for c, v in zip(cols, row, strict=True) if v]
    return out


@pytest.fixture
def world(tmp_path, db_url, monkeypatch):
    cfg = g.GeneratorConfig(seed=11, decisions=60, start=START, days=DAYS, person_share=0.4)
    case_url = f"sqlite:///{tmp_path}/case.sqlite"
    g.generate_to(cfg, case_db_url=case_url, licensing_db_url=f"sqlite:///{tmp_path}/lic.sqlite",
                  inbox=tmp_path / "drop", manifest=tmp_path / "m.jsonl", apply_all_events=True)
    (tmp_path / "inbox").mkdir()
    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine, "0016")
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.0)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{tmp_path}/lic.sqlite")) as ls:
        w = World(engine, wh.engine_from_url(case_url), tmp_path / "inbox", tmp_path / "drop", pf, ls,
                  g.read_manifest(tmp_path / "m.jsonl"))
        with monkeypatch.context() as m:  # the release before: no sealing, schema 0016
            m.setattr(sm4, "_PASSTHROUGH_FOR_TESTS", True)
            m.setattr(wh, "require_current", lambda engine: "0016")
            # nor cf_outcome.decided_at (0020): the outcome table as it was, and rows written without it
            m.setattr(wh, "outcomes", sa.Table("cf_outcome", sa.MetaData(), *[
                sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in wh.outcomes.columns if c.name != "decided_at"]))
            replace = wh.replace_run_rows
            m.setattr(wh, "replace_run_rows", lambda conn, table, run_key, rows, **kw: replace(
                conn, table, run_key, [{k: v for k, v in r.items() if k != "decided_at"} for r in rows], **kw))
            for i in range(DAYS):
                deliver_files(w, START + dt.timedelta(days=i))
                run_day(w, START + dt.timedelta(days=i))
        yield w
        w.case_db.dispose()
    engine.dispose()


def test_0018_encrypts_in_place_without_loss_and_nothing_is_resent(world):
    engine = world.warehouse
    ids = {m["natural_key"].split("|")[1] for m in world.manifest
           if len(m["natural_key"].split("|")[1]) == 18 and m["natural_key"].split("|")[1][:17].isdigit()}
    assert ids, "the generator made no natural persons"
    with engine.connect() as conn:
        std_before = {(r.run_key, r.record_id): (r.kind, json.loads(r.payload), r.party_key, r.natural_key)
                      for r in conn.execute(sa.select(wh.standardised))}
        raw_before = {(r.run_key, r.record_id): json.loads(r.raw_payload) for r in conn.execute(sa.select(wh.staging))}
    names = {p[f"{k}_XDR_MC"] for kind, p, _, _ in std_before.values() for k in ("CF", "XK", "QZ")
             if p.get(f"{k}_XDR_LB") == "自然人" and p.get(f"{k}_XDR_MC")}
    names |= {p[f"{k}_FRDB"] for _, p, _, _ in std_before.values() for k in ("CF", "XK", "QZ") if p.get(f"{k}_FRDB")}
    assert names
    clear_ids_found = {i for _, _, v in _text_values(engine) for i in ids if i in v}
    assert clear_ids_found, "the release before stored ID numbers in clear (else this test proves nothing)"
    ledger_before = _ledger(engine)
    assert any(r["state"] == "accepted" for r in ledger_before)
    marks = sorted((r["kind"], r["accepted_hash"] or "", r["pending_hash"] or "", r["idempotency_key"] or "",
                    r["batch_key"] or "") for r in ledger_before)
    payloads_before = sorted(json.dumps(json.loads(r["pending_payload"]), sort_keys=True, ensure_ascii=False)
                             for r in ledger_before if r["pending_payload"])
    operations = world.platform.admin("GET", "/admin/stats")["operations"]

    assert wh.upgrade(engine) == ("0016", migrations.head())

    # Every opened value equals the old clear value.
    with engine.connect() as conn:
        std_after = {(r.run_key, r.record_id): (r.kind, json.loads(r.payload), r.party_key, r.natural_key)
                     for r in conn.execute(sa.select(wh.standardised))}
        raw_after = {(r.run_key, r.record_id): json.loads(r.raw_payload) for r in conn.execute(sa.select(wh.staging))}
    assert std_after.keys() == std_before.keys() and raw_after.keys() == raw_before.keys()
    persons = 0
    for key, (kind, payload, party, nk) in std_before.items():
        _, sealed, party_after, nk_after = std_after[key]
        assert pii.open_payload(kind, sealed) == payload
        if any(payload.get(f"{k}_XDR_LB") == "自然人" for k in ("CF", "XK", "QZ")) and party:
            persons += 1
            assert party_after == pii.party_key(party, True) and party_after.startswith("bi:")
            assert nk_after == (nk.rpartition("|")[0] + "|" + party_after if nk else nk)
            assert any(pii.is_sealed(v) for v in sealed.values())
        else:
            assert (party_after, nk_after) == (party, nk)
    assert persons
    assert all(pii.open_all(raw_after[k]) == {**v, **{f: str(x) for f, x in v.items() if isinstance(x, int)
                                                      and not isinstance(x, bool) and pii.is_sealed(raw_after[k][f])}}
               for k, v in raw_before.items())

    # No clear ID number or natural person's name left anywhere.
    leaks = [(t, c) for t, c, v in _text_values(engine) if any(i in v for i in ids) or any(n in v for n in names)]
    assert not leaks, leaks[:5]
    if engine.dialect.name == "sqlite":  # nor in the file's bytes: freed pages, the WAL (the upgrade compacts)
        engine.dispose()  # no connection open while the bytes are read (POSIX locks)
        path = Path(engine.url.database)
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert not [i for i in ids if i.encode() in raw]
        assert not [n for n in names if n.encode() in raw]

    # The ledger: same hashes and idempotency keys, payloads open to what they were, keys agree with cf_std.
    ledger_after = _ledger(engine)
    assert sorted((r["kind"], r["accepted_hash"] or "", r["pending_hash"] or "", r["idempotency_key"] or "",
                   r["batch_key"] or "") for r in ledger_after) == marks
    assert sorted(json.dumps(pii.open_json(r["pending_payload"]), sort_keys=True, ensure_ascii=False)
                  for r in ledger_after if r["pending_payload"]) == payloads_before
    std_keys = {nk for _, _, _, nk in std_after.values() if nk}
    assert {r["natural_key"] for r in ledger_after} <= std_keys
    with engine.connect() as conn:
        for table in (wh.outcomes, wh.reviews, wh.ledger_history):
            keys = {nk for (nk,) in conn.execute(sa.select(table.c.natural_key)) if nk}
            assert keys <= std_keys | {r["natural_key"] for r in ledger_after}, table.name

    # The next run (nothing new at the sources) sends nothing: the platform sees no operation.
    summary = run_day(world, START + dt.timedelta(days=DAYS))
    assert world.platform.admin("GET", "/admin/stats")["operations"] == operations
    assert all(s["uploaded"] == 0 for s in summary.values()), summary
    assert not [r for r in _ledger(engine) if r["state"] in ("pending", "sent")]

    # The revision's downgrade (by hand: creditflow never downgrades itself; same keyring) gives the clear
    # warehouse back: the old rows exactly as they were.
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "0016")
    with engine.connect() as conn:
        std_down = {(r.run_key, r.record_id): (r.kind, json.loads(r.payload), r.party_key, r.natural_key)
                    for r in conn.execute(sa.select(wh.standardised.c.run_key, wh.standardised.c.record_id,
                                                    wh.standardised.c.kind, wh.standardised.c.payload,
                                                    wh.standardised.c.party_key, wh.standardised.c.natural_key))}
    assert {k: std_down[k] for k in std_before} == std_before
    assert not [v for _, _, v in _text_values(engine) if "sm4g:" in v or "bi:" in v]
