import datetime as dt
import json
import math
import os
import subprocess
import sys
from collections import Counter

import pytest
import sqlalchemy as sa
from creditflow.common import TZ
from creditflow.core import identifiers as ids
from creditflow.core.workdays import official_calendar
from creditflow.reporting.submissions import UnreadableSubmission, read_submission
from creditflow_sandbox import generator as g


def _gen(tmp_path, name, **kw):
    cfg = g.GeneratorConfig(**{"seed": 5, "decisions": 300, "start": dt.date(2026, 11, 2), "days": 5, **kw})
    d = tmp_path / name
    counts = g.generate_to(cfg, case_db_url=f"sqlite:///{d}.case.sqlite", licensing_db_url=f"sqlite:///{d}.lic.sqlite",
                           inbox=d / "inbox", manifest=f"{d}.jsonl")
    return counts, g.read_manifest(f"{d}.jsonl"), d


def _files(folder):
    """(name, size, mtime) of every district file in a penalty folder."""
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime) for p in folder.iterdir())


def test_deterministic_by_seed(tmp_path):
    a = _gen(tmp_path, "a")
    b = _gen(tmp_path, "b")
    assert a[0] == b[0]
    assert a[1] == b[1]
    csv_a = [f for f in _files(a[2] / "inbox" / "penalty") if f[0].endswith(".csv")]
    assert csv_a and csv_a == [f for f in _files(b[2] / "inbox" / "penalty") if f[0].endswith(".csv")]
    assert [(n, t) for n, _, t in _files(a[2] / "inbox" / "penalty")] == \
        [(n, t) for n, _, t in _files(b[2] / "inbox" / "penalty")]  # xlsx bytes carry a zip timestamp
    c = _gen(tmp_path, "c", seed=6)
    assert c[1] != a[1]


def test_corrupted_check_characters_do_not_depend_on_the_process():
    # hash() of a str changes with PYTHONHASHSEED; the wrong check character (and the manifest) must not.
    code = "from creditflow_sandbox.generator import corrupt_check; print(corrupt_check('91440400MA4UQ9WT1X'))"
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2", "3")}
    assert len(out) == 1 and out != {"91440400MA4UQ9WT1X"} and out.pop()[:-1] == "91440400MA4UQ9WT1"


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
    assert [p.name for p in (d / "inbox").iterdir()] == ["penalty"]  # one folder per record kind
    rows = 0
    for f in (d / "inbox" / "penalty").iterdir():
        rows += len(read_submission(f).rows)
    assert rows == sum(1 for m in manifest if m["source"] == "district_file")
    assert counts["decisions"] == len(manifest) and counts["files"] == len(list((d / "inbox" / "penalty").iterdir()))


def test_district_files_arrive_on_their_day_in_working_hours(tmp_path):
    _, manifest, d = _gen(tmp_path, "t", corrupt_file_share=0.3)
    files = list((d / "inbox" / "penalty").iterdir())
    assert files
    for f in files:
        district, day = "_".join(f.stem.split("_")[:2]), f.stem.split("_")[2]
        arrived = dt.datetime.fromtimestamp(f.stat().st_mtime, TZ)
        assert arrived == g.arrival_time(5, district, f"{day[:4]}-{day[4:6]}-{day[6:]}")  # corrupt ones too
        assert arrived.strftime("%Y%m%d") == day and 9 <= arrived.hour < 18
    assert {m["file_day"] for m in manifest if m["source"] == "district_file"} <= \
        {f"{f.stem.split('_')[2][:4]}-{f.stem.split('_')[2][4:6]}-{f.stem.split('_')[2][6:]}" for f in files}


def _binomial_interval(n: int, p: float, mass: float = 0.999) -> tuple[int, int]:
    """The central ``mass`` interval [lo, hi] of Binomial(n, p): P(X < lo) and P(X > hi) are each at most
    (1 - mass) / 2."""
    tail = (1 - mass) / 2
    cdf, lo, hi = 0.0, None, n
    for k in range(n + 1):
        cdf += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                        + k * math.log(p) + (n - k) * math.log1p(-p))
        if lo is None and cdf > tail:
            lo = k
        if cdf >= 1 - tail:
            hi = k
            break
    return lo or 0, hi


# Which defects each source can carry (a record draws one defect at the configured rates; a defect its
# source cannot have leaves it clean): the case system stores dates as dates, so no malformed date there;
# the licensing API has no amounts and no later edits; a district spreadsheet row is one-off; a coercive
# measure is generated clean.
DEFECTS_BY_SOURCE = {
    "case_penalty": {"missing_required", "bad_checksum", "fullwidth", "late_entry", "edit_after_upload",
                     "revocation", "cross_source_duplicate", "near_duplicate", "yuan_as_wan"},
    "licensing": {"missing_required", "bad_checksum", "malformed_date", "fullwidth"},
    "district": {"missing_required", "bad_checksum", "yuan_as_wan", "malformed_date", "fullwidth"},
    "case_coercion": set(),
}


def _source(m: dict) -> str:
    if m["source"] == "case_db":
        return "case_penalty" if m["kind"] == "penalty" else "case_coercion"
    return "licensing" if m["source"] == "licensing_api" else "district"


def test_defects_appear_at_their_configured_rates(tmp_path):
    """Each defect's share among the records that can carry it lies in the 99.9% binomial interval of the
    configured rate (generator/config.py DEFAULT_RATES). No natural persons and no horizon, so that no
    drawn defect is dropped afterwards (a person has no USCC to corrupt; a horizon can leave no day for an
    edit). A district copy of a case-system decision repeats its original's defect: not a draw of its own."""
    _, manifest, _ = _gen(tmp_path, "rates", decisions=8000, person_share=0.0)
    drawn = [m for m in manifest if not m.get("duplicate_of")]
    by_source = Counter(_source(m) for m in drawn)
    assert sum(by_source.values()) == 8000  # one drawn record per decision
    for m in drawn:
        assert m["defect"] is None or m["defect"] in DEFECTS_BY_SOURCE[_source(m)], m
    assert set(g.DEFAULT_RATES) == set(g.DEFECTS)
    for name, rate in g.DEFAULT_RATES.items():
        n = sum(count for src, count in by_source.items() if name in DEFECTS_BY_SOURCE[src])
        got = sum(1 for m in drawn if m["defect"] == name)
        lo, hi = _binomial_interval(n, rate)
        assert lo <= got <= hi, (name, rate, n, got, (lo, hi))
    # The copies: one per cross-source or near duplicate, as the manifest says (none past the horizon).
    copies = Counter(m["defect"] for m in manifest if m.get("duplicate_of"))
    assert copies == Counter(m["defect"] for m in drawn if m["defect"] in ("cross_source_duplicate",
                                                                           "near_duplicate"))


def test_identifiers_are_valid(tmp_path):
    _, manifest, d = _gen(tmp_path, "r", decisions=2000)
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
    assert g.apply_events(engine, events, until=None, before=first) == 0  # strictly before: none yet
    assert g.apply_events(engine, events, until=first) >= 1
    assert g.apply_events(engine, events, until=None) == len(events)

    def snapshot() -> dict[str, list[tuple]]:
        with engine.connect() as conn:
            return {t: sorted(map(tuple, conn.execute(sa.text(f'SELECT * FROM "{t}"'))), key=repr)
                    for t in sa.inspect(engine).get_table_names()}

    before = snapshot()
    with engine.connect() as conn:
        now_present = {r[0] for r in conn.execute(sa.text("SELECT decision_id FROM penalty_decision"))}
    assert all(m["record_id"].split(":")[1] in now_present for m in late)  # the held-back entries arrived
    assert g.apply_events(engine, events, until=None) == len(events)
    assert snapshot() == before  # idempotent: applying again changes no row


def test_corrupt_files_when_asked(tmp_path):
    cfg = g.GeneratorConfig(seed=1, decisions=200, corrupt_file_share=0.2)
    g.generate_to(cfg, inbox=tmp_path / "inbox")
    bad = 0
    files = list((tmp_path / "inbox" / "penalty").iterdir())
    for f in files:
        try:
            read_submission(f)
        except UnreadableSubmission:
            bad += 1
    assert 1 <= bad < len(files)  # some, not all: the share is 0.2


# --- a window that the demo walks day by day -----------------------------------------------------------

WINDOW = (dt.date(2026, 11, 23), 5)  # Monday to Friday
DEMO_RATES = {**g.DEFAULT_RATES, "late_entry": 0.06, "edit_after_upload": 0.07, "revocation": 0.05,
              "near_duplicate": 0.05}


def _window_cfg(**kw):
    start, days = WINDOW
    return g.GeneratorConfig(**{"seed": 11, "decisions": 400, "start": start, "days": days, "rates": DEMO_RATES,
                                "horizon": start + dt.timedelta(days=days - 1), "corrupt_file_share": 0.1, **kw})


def test_a_horizon_keeps_every_change_inside_the_window(tmp_path):
    cfg = _window_cfg()
    g.generate_to(cfg, manifest=tmp_path / "m.jsonl")
    manifest = g.read_manifest(tmp_path / "m.jsonl")
    events = g.events_of(manifest)
    assert events and all(dt.datetime.fromisoformat(e["at"]).date() <= cfg.horizon for e in events)
    assert all(dt.date.fromisoformat(m["file_day"]) <= cfg.horizon for m in manifest if m.get("file_day"))
    cal = official_calendar()
    late = [m for m in manifest if m.get("late")]
    assert late
    for m in late:  # entered inside the window, decided more than 7 working days before
        entered = dt.datetime.fromisoformat(m["entered_at"]).date()
        assert cfg.start <= entered <= cfg.horizon
        assert cal.working_days_between(dt.date.fromisoformat(m["decision_date"]), entered) > 7
    outcomes = Counter(m["outcome"] for m in manifest)
    assert outcomes["corrected"] and outcomes["withdrawn"] and outcomes["duplicate"]
    assert any(m.get("review") == "near_duplicate" for m in manifest)
    for m in manifest:  # a change comes after its decision was first uploaded (the next morning at the earliest)
        for e in m["events"]:
            if e.get("op") != "insert":
                assert dt.datetime.fromisoformat(e["at"]).date() > dt.date.fromisoformat(m["decision_date"])


def _latest_in_case_db(engine):
    with engine.connect() as conn:
        stamps = []
        for table in ("penalty_decision", "coercive_measure", "enforcement_case"):
            for col in ("created_at", "updated_at"):
                stamps += [r[0] for r in conn.execute(sa.text(f"SELECT {col} FROM {table}")) if r[0]]
        stamps += [r[0] for r in conn.execute(sa.text("SELECT status_changed_at FROM penalty_decision")) if r[0]]
        days = [r[0] for r in conn.execute(sa.text(
            "SELECT decision_date FROM penalty_decision UNION ALL SELECT decision_date FROM coercive_measure"))]
    return [dt.datetime.fromisoformat(str(s)) for s in stamps], [dt.date.fromisoformat(str(d)) for d in days]


def test_advancing_day_by_day_never_shows_a_run_what_came_later(tmp_path):
    cfg = _window_cfg()
    case_url, lic_url = f"sqlite:///{tmp_path}/case.sqlite", f"sqlite:///{tmp_path}/lic.sqlite"
    counts = g.generate_to(cfg, case_db_url=case_url, licensing_db_url=lic_url, inbox=tmp_path / "drop",
                           manifest=tmp_path / "m.jsonl", timeline=tmp_path / "t.jsonl")
    manifest, timeline = g.read_manifest(tmp_path / "m.jsonl"), g.read_timeline(tmp_path / "t.jsonl")
    assert counts["timeline"] == len(timeline) > counts["events"] > 0
    case, lic = sa.create_engine(case_url), sa.create_engine(lic_url)
    inbox = tmp_path / "inbox"
    days = [cfg.start + dt.timedelta(days=i) for i in range(-1, cfg.days)]  # from the eve of the window
    seen_files = 0
    for day in days:
        cutoff = g.run_cutoff(day)
        assert cutoff == dt.datetime(day.year, day.month, day.day, 6, tzinfo=TZ) + dt.timedelta(days=1)
        g.advance_to(cutoff, timeline, case_db=case, licensing_db=lic, drop=tmp_path / "drop", inbox=inbox)
        local = cutoff.replace(tzinfo=None)
        stamps, decided = _latest_in_case_db(case)
        assert all(s < local for s in stamps), day
        assert all(d <= day for d in decided), day
        with lic.connect() as conn:
            assert all(dt.datetime.fromisoformat(r[0]) < cutoff for r in conn.execute(
                sa.text("SELECT updated_at FROM ls_licence")))
        arrived = list((inbox / "penalty").iterdir()) if (inbox / "penalty").exists() else []
        assert all(dt.datetime.fromtimestamp(f.stat().st_mtime, TZ) < cutoff for f in arrived), day
        assert all(f.stem.split("_")[2] <= day.strftime("%Y%m%d") for f in arrived), day
        for f in arrived:
            try:
                sub = read_submission(f)
            except UnreadableSubmission:
                continue
            for _, values in sub.rows:
                try:
                    assert dt.date.fromisoformat(str(values.get("CF_JDRQ"))) <= day
                except ValueError:
                    pass  # a malformed date (a defect on purpose)
        waiting = list((tmp_path / "drop" / "penalty").iterdir())
        assert all(dt.datetime.fromtimestamp(f.stat().st_mtime, TZ) >= cutoff for f in waiting), day
        # …and nothing that had happened is missing: every decision entered before the cutoff is there.
        expected = {m["record_id"].split(":")[1] for m in manifest if m["source"] == "case_db" and m["kind"] == "penalty"
                    and dt.datetime.fromisoformat(m.get("entered_at") or m["decision_date"] + "T00:00") < local
                    and (m.get("late") or dt.date.fromisoformat(m["decision_date"]) <= day)}
        with case.connect() as conn:
            present = {r[0] for r in conn.execute(sa.text("SELECT decision_id FROM penalty_decision"))}
        assert present == expected, day
        assert len(arrived) >= seen_files
        seen_files = len(arrived)
    assert days[0] < cfg.start and seen_files == counts["files"]  # by the last run every file has arrived
    with case.connect() as conn:
        revoked = conn.execute(sa.text("SELECT COUNT(*) FROM penalty_decision WHERE status = 'REVOKED'")).scalar()
    assert revoked == sum(1 for m in manifest if m["outcome"] == "withdrawn") > 0


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


def test_varied_mode_every_name_code_and_fact_distinct_and_deterministic():
    from creditflow.reporting import standardise as st
    from creditflow_sandbox.generator.varied import varied_district_rows

    rows = varied_district_rows(20_000, seed=7)
    assert rows.equals(varied_district_rows(20_000, seed=7))
    assert not rows.equals(varied_district_rows(20_000, seed=8))
    assert not varied_district_rows(100, seed=7, offset=100)["CF_WSH"].isin(rows["CF_WSH"].iloc[:100]).any()
    orgs = rows[rows["CF_XDR_LB"] != "自然人"]
    persons = rows[rows["CF_XDR_LB"] == "自然人"]
    for col, frame in (("CF_WSH", rows), ("CF_SY", rows), ("_source_key", rows), ("CF_XDR_MC", orgs),
                       ("CF_XDR_SHXYM", orgs), ("CF_XDR_ZJHM", persons)):
        assert frame[col].nunique() == len(frame), col  # distinct: no per-distinct-value cache is flattered
    assert rows["CF_NR_FK"].nunique() > 2000 and rows["CF_JDRQ"].nunique() > 900
    assert 0.03 < len(persons) / len(rows) < 0.07
    valid = ids.uscc_valid_series(orgs["CF_XDR_SHXYM"])
    assert 0.94 < valid.mean() < 0.99  # bad check digits and lower-case writing, at their rates
    assert ids.ric_checksum_ok_series(persons["CF_XDR_ZJHM"]).all()
    assert 0.02 < rows["CF_YJ"].isna().mean() < 0.04  # missing_required
    frame = st.standardise(st.map_source_rows(rows, "district_file", "penalty"), "penalty")
    assert frame["natural_key"].nunique() == len(frame)
    assert frame["CF_JDRQ"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").mean() > 0.97  # the date variants are readable
