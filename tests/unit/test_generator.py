import datetime as dt
import json
from collections import Counter

import pytest
import sqlalchemy as sa
from creditflow.core import identifiers as ids
from creditflow.reporting.submissions import read_submission
from creditflow_sandbox import generator as g


def _gen(tmp_path, name, **kw):
    cfg = g.GeneratorConfig(**{"seed": 5, "decisions": 300, "start": dt.date(2026, 11, 2), "days": 5, **kw})
    d = tmp_path / name
    counts = g.generate_to(cfg, case_db_url=f"sqlite:///{d}.case.sqlite", licensing_db_url=f"sqlite:///{d}.lic.sqlite",
                           inbox=d / "inbox", manifest=f"{d}.jsonl")
    return counts, g.read_manifest(f"{d}.jsonl"), d


def test_deterministic_by_seed(tmp_path):
    a = _gen(tmp_path, "a")
    b = _gen(tmp_path, "b")
    assert a[0] == b[0]
    assert a[1] == b[1]
    c = _gen(tmp_path, "c", seed=6)
    assert c[1] != a[1]


def test_manifest_matches_what_was_written(tmp_path):
    counts, manifest, d = _gen(tmp_path, "m")
    engine = sa.create_engine(f"sqlite:///{d}.case.sqlite")
    with engine.connect() as conn:
        decisions = {r[0] for r in conn.execute(sa.text("SELECT decision_id FROM penalty_decision"))}
        measures = {r[0] for r in conn.execute(sa.text("SELECT measure_id FROM coercive_measure"))}
    case_pen = {m["record_id"].split(":")[1] for m in manifest if m["source"] == "case_db" and m["kind"] == "penalty"}
    assert decisions == case_pen  # late entries too: events are applied by default
    assert measures == {m["record_id"].split(":")[1] for m in manifest if m["kind"] == "coercion"}
    lic = sa.create_engine(f"sqlite:///{d}.lic.sqlite")
    with lic.connect() as conn:
        licences = {r[0] for r in conn.execute(sa.text("SELECT id FROM ls_licence"))}
    assert licences == {m["record_id"].split(":")[1] for m in manifest if m["source"] == "licensing_api"}
    rows = 0
    for f in (d / "inbox").iterdir():
        rows += len(read_submission(f).rows)
    assert rows == sum(1 for m in manifest if m["source"] == "district_file")
    assert counts["decisions"] == len(manifest)


def test_defects_appear_at_their_rates_and_identifiers_are_valid(tmp_path):
    _, manifest, d = _gen(tmp_path, "r", decisions=2000)
    defects = Counter(m["defect"] for m in manifest)
    for name in ("missing_required", "bad_checksum", "fullwidth", "late_entry", "edit_after_upload", "revocation",
                 "cross_source_duplicate", "near_duplicate", "yuan_as_wan", "malformed_date"):
        assert defects[name] > 0, name
    engine = sa.create_engine(f"sqlite:///{d}.case.sqlite")
    with engine.connect() as conn:
        usccs = [r[0] for r in conn.execute(sa.text("SELECT uscc FROM enterprise WHERE ent_id LIKE 'E%'"))]
        rics = [r[0] for r in conn.execute(sa.text("SELECT id_no FROM person"))]
    assert all(ids.is_valid_uscc(u) and ids.uscc_org_code_ok(u) for u in usccs)
    assert all(not ids.validate_ric(r) for r in rics)
    outcomes = Counter(m["outcome"] for m in manifest)
    assert set(outcomes) <= {"uploaded", "quarantined", "duplicate", "corrected", "withdrawn"}


def test_events_can_be_held_back_and_applied_in_time(tmp_path):
    cfg = g.GeneratorConfig(seed=5, decisions=300, start=dt.date(2026, 11, 2), days=5)
    url = f"sqlite:///{tmp_path}/case.sqlite"
    counts = g.generate_to(cfg, case_db_url=url, manifest=tmp_path / "m.jsonl", apply_all_events=False)
    manifest = g.read_manifest(tmp_path / "m.jsonl")
    events = g.events_of(manifest)
    assert counts["events_pending"] == len(events) > 0
    engine = sa.create_engine(url)
    late = [m for m in manifest if m.get("late")]
    with engine.connect() as conn:
        present = {r[0] for r in conn.execute(sa.text("SELECT decision_id FROM penalty_decision"))}
    assert not any(m["record_id"].split(":")[1] in present for m in late)
    first = dt.datetime.fromisoformat(events[0]["at"])
    assert g.apply_events(engine, events, until=first) >= 1
    assert g.apply_events(engine, events, until=None) == len(events)
    assert g.apply_events(engine, events, until=None) == len(events)  # idempotent


def test_corrupt_files_when_asked(tmp_path):
    cfg = g.GeneratorConfig(seed=1, decisions=200, corrupt_file_share=0.2)
    g.generate_to(cfg, inbox=tmp_path / "inbox")
    from creditflow.reporting.submissions import UnreadableSubmission

    bad = 0
    for f in (tmp_path / "inbox").iterdir():
        try:
            read_submission(f)
        except UnreadableSubmission:
            bad += 1
    assert bad >= 1


@pytest.mark.parametrize("field", ["decision_date", "natural_key", "record_id", "outcome"])
def test_manifest_lines_have(tmp_path, field):
    _, manifest, _ = _gen(tmp_path, "f", decisions=50)
    assert all(m.get(field) for m in manifest)
    json.dumps(manifest)


def test_supervision_data_for_the_inspection_plan(tmp_path):
    _, _, d = _gen(tmp_path, "s", decisions=3000)
    engine = sa.create_engine(f"sqlite:///{d}.case.sqlite")
    with engine.connect() as conn:
        n = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
             for t in ("inspector", "accident", "inspection")}
        teams = [r[0] for r in conn.execute(sa.text("SELECT inspector_ids FROM inspection"))]
        levels = {r[0] for r in conn.execute(sa.text("SELECT accident_level FROM accident"))}
    assert n["inspector"] >= 8 and n["accident"] > 0 and n["inspection"] > n["accident"]
    assert all(len(t.split(",")) >= 2 for t in teams)
    assert levels <= {"一般", "较大", "重大", "特别重大"}


def test_cli_rates(tmp_path, capsys):
    from creditflow.cli import main

    assert main(["generate", "--decisions", "50", "--rates", '{"bad_checksum": 0.5}', "--manifest",
                 str(tmp_path / "m.jsonl")]) == 0
    assert sum(m["defect"] == "bad_checksum" for m in g.read_manifest(tmp_path / "m.jsonl")) > 5
    assert main(["generate", "--rates", '{"nonsense": 1}']) == 2
    assert main(["generate", "--rates", "{bad json"]) == 2
