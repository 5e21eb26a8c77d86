"""A backfill of days the DAG already ran (the README's runbook: ``backfill create … --reprocess-behavior
completed``) never rewrites what later days decided (issue #17.3).

The days run through the real task function (``pipeline.interval.process_interval``) against the sandbox
platform, on district files written here — a district file is archived as it arrived, so a re-run of its
day reads the *old* content again (the case system, by contrast, answers with today's content):

* day 1: 香洲区 reports A and B; both are published;
* day 2: the district re-sends A and B with new facts (事由): two 更正, each waiting for 层层审核 (review
  policy ``correction: required [1, 2]``); B's 更正 is approved by both levels, A's is not decided;
* day 3: B's approved 更正 goes out; A's 更正 is still pending (carried into the run); C is new.

Then days 1–3 are run again. The rules (docs/design.md "Review"): a review is closed by a reviewer's
decision rows, and the pipeline acts on exactly the (record, content, operation) reviewed. So the backfill
must leave A's pending 更正 in 审核 as it was, close no review without a decision row, and send the
platform nothing: day 1's archived A and B are older than what the platform holds or waits for.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

import pytest
import sqlalchemy as sa
from creditflow.core import standard
from creditflow.core import warehouse as wh
from creditflow.reporting import pipeline as sgs
from creditflow.reporting import review
from creditflow.reporting.pipeline import interval
from creditflow_sandbox import platform
from creditflow_sandbox.generator.config import AUTHORITY_USCC
from creditflow_sandbox.generator.parties import make_uscc
from helpers import TZ, ServedApp, platform_client, warehouse

pytestmark = [pytest.mark.integration]
DAYS = [dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 2)]  # Monday to Wednesday


def _record(n: int, uscc: str, day: dt.date, facts: str) -> dict[str, str]:
    return {"CF_XDR_MC": f"珠海市测试{n}号化工有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": uscc,
            "CF_FRDB": "张三", "CF_WSH": f"珠香应急罚〔2026〕{900 + n}号", "CF_WFXW": "未按规定开展安全培训",
            "CF_SY": facts, "CF_YJ": "《中华人民共和国安全生产法》第九十七条", "CF_CFLB": "罚款",
            "CF_NR": "罚款人民币20000元", "CF_NR_FK": "2", "CF_JDRQ": day.isoformat(),
            "CF_YXQ": (day + dt.timedelta(days=365)).isoformat(), "CF_CFJG": "珠海市香洲区应急管理局",
            "CF_CFJGDM": AUTHORITY_USCC, "CF_SJLY": "珠海市香洲区应急管理局", "CF_SJLYDM": AUTHORITY_USCC}


def _deliver(inbox, day: dt.date, rows: list[dict[str, str]], seq: int) -> None:
    """A district CSV (code headers, UTF-8 with BOM) arriving at 09:00 of ``day``."""
    import os

    fields = [f.code for f in standard.fields("penalty")]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(fields)
    for r in rows:
        w.writerow([r.get(f, "") for f in fields])
    folder = inbox / "penalty"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"440402_香洲区_{day:%Y%m%d}_{seq:04d}.csv"
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    arrived = dt.datetime.combine(day, dt.time(9), TZ).timestamp()
    os.utime(path, (arrived, arrived))


def _reviews(engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.select(wh.reviews)))


def _pending(engine) -> list[tuple]:
    return sorted((r["record_id"], r["content_hash"], r["op"], r["reason"], r["created_run_key"])
                  for r in review.pending(engine))


def _platform(pf) -> tuple[list, dict]:
    held = sorted((r["kind"], r["natural_key"], r["version"], r["status"], r["content_hash"])
                  for r in pf.admin("GET", "/admin/records")["records"])
    return held, pf.admin("GET", "/admin/stats")["operations"]


def _uploaded_card(engine) -> int:
    """The dashboard's 已上报 card (all periods, penalty) as its page computes it."""
    from creditflow_ui import dashboard, routes

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(routes, "_engine", lambda: engine)
        return int(dashboard.dashboard_data("penalty", "day", DAYS[-1])["totals"]["uploaded"])


@pytest.fixture(scope="module")
def world(tmp_path_factory, module_db_url):
    d = tmp_path_factory.mktemp("backfill")
    rng = random.Random(17)
    a, b, c = (make_uscc(rng, "91", "440402") for _ in range(3))
    with ServedApp(platform.create_app(db_url=f"sqlite:///{d}/pf.sqlite", processing_seconds=0.02)) as pf:
        engine = warehouse(module_db_url)
        client = platform_client(pf.url)
        sources = sgs.Sources(inbox=d / "inbox")
        opts = interval.IntervalOptions(receipt_timeout=20)

        def run(day: dt.date) -> dict:
            return interval.process_interval(interval.interval_run("penalty", day), engine, sources, client, opts)

        _deliver(d / "inbox", DAYS[0], [_record(1, a, DAYS[0], "未对从业人员进行安全生产教育和培训"),
                                        _record(2, b, DAYS[0], "特种作业人员未持证上岗")], 1)
        first = [run(DAYS[0])]
        _deliver(d / "inbox", DAYS[1], [_record(1, a, DAYS[0], "未对从业人员进行安全生产教育和培训（更正：补充时间）"),
                                        _record(2, b, DAYS[0], "特种作业人员未持证上岗（更正：补充人数）")], 2)
        first.append(run(DAYS[1]))
        queue = review.pending(engine)
        assert sorted((r["reason"], r["op"]) for r in queue) == [("correction", "correct")] * 2
        b_review = next(r for r in queue if r["preview"]["CF_XDR_SHXYM"] == b)
        for level, who in ((1, "reviewer1"), (2, "reviewer2")):  # the demo roster: 经办科室, 法规科
            review.record_decision(engine, b_review["record_id"], b_review["content_hash"], "correct", level,
                                   "approve", who, "核对更正内容无误")
        _deliver(d / "inbox", DAYS[2], [_record(3, c, DAYS[2], "未建立事故隐患排查治理制度")], 3)
        first.append(run(DAYS[2]))
        before = {"reviews": _reviews(engine), "pending": _pending(engine), "platform": _platform(pf)}
        with engine.connect() as conn:
            before["ledger"] = sorted(tuple(r) for r in conn.execute(sa.select(wh.ledger)))
        before["card"] = _uploaded_card(engine)
        again = [run(day) for day in DAYS]  # the backfill, in day order as Airflow runs it
        yield {"engine": engine, "pf": pf, "before": before, "first": first, "again": again, "a": a, "b": b}
        engine.dispose()


def test_the_days_did_what_the_scenario_says(world):
    held, ops = world["before"]["platform"]
    assert ops == {"create": 3, "correct": 1}  # A, B, C created; B's approved 更正 sent on day 3
    assert sorted(version for _, _, version, _, _ in held) == [1, 1, 2]
    assert [p[:4] for p in world["before"]["pending"]] == [
        (p[0], p[1], "correct", "correction") for p in world["before"]["pending"]]
    assert len(world["before"]["pending"]) == 1  # A's 更正, waiting
    assert [s["uploaded"] for s in world["first"]] == [2, 0, 2]  # day 3: C created, B corrected


def test_backfill_leaves_the_review_queue_as_it_was(world):
    assert _pending(world["engine"]) == world["before"]["pending"]


def test_backfill_closes_no_review_without_a_decision_row(world):
    """Every review row is as it was: none approved, rejected or superseded by the re-runs."""
    assert _reviews(world["engine"]) == world["before"]["reviews"]
    d = wh.review_decisions
    with world["engine"].connect() as conn:
        decided = {(r.record_id, r.content_hash, r.op) for r in conn.execute(sa.select(d))}
        closed = {(r.record_id, r.content_hash, r.op) for r in conn.execute(
            sa.select(wh.reviews).where(wh.reviews.c.status.in_(["approved", "rejected"])))}
    assert closed <= decided


def test_backfill_sends_the_platform_nothing(world):
    assert _platform(world["pf"]) == world["before"]["platform"]
    with world["engine"].connect() as conn:
        assert sorted(tuple(r) for r in conn.execute(sa.select(wh.ledger))) == world["before"]["ledger"]


def _outcomes(world, day: dt.date) -> dict[str, tuple[str, str]]:
    """Party USCC → (outcome, detail) of the day's run."""
    o, std = wh.outcomes, wh.standardised
    key = interval.interval_run("penalty", day).run_key
    with world["engine"].connect() as conn:
        rows = conn.execute(sa.select(std.c.payload, o.c.outcome, o.c.detail).join(
            std, sa.and_(std.c.run_key == o.c.run_key, std.c.record_id == o.c.record_id)).where(o.c.run_key == key))
        import json

        return {json.loads(p)["CF_XDR_SHXYM"]: (outcome, detail or "") for p, outcome, detail in rows}


def test_every_rerun_reconciles_and_says_why_it_did_nothing(world):
    assert all(s["reconciled"] for s in world["again"])
    a, b = world["a"], world["b"]
    # Day 1 re-read A and B as the district first sent them. A is still what day 1 published (its own
    # upload, as the first run said); B's platform record is day 3's 更正: the old content is not sent.
    day1 = _outcomes(world, DAYS[0])
    assert day1[a][0] == "uploaded"
    assert day1[b][0] == "unchanged" and DAYS[2].isoformat() in day1[b][1]
    # Day 2's 更正 of A and B: day 3 has already decided both (A waits in 审核, B went out).
    day2 = _outcomes(world, DAYS[1])
    assert {k: v[0] for k, v in day2.items()} == {a: "unchanged", b: "unchanged"}
    assert all(DAYS[2].isoformat() in detail for _, detail in day2.values())
    # Day 3 is the newest day: its re-run finds what its first run found.
    assert [s["uploaded"] for s in world["again"]] == [1, 0, 2]
    assert world["again"][2]["awaiting_review"] == world["first"][2]["awaiting_review"] == 1


class _Viewer:
    role = "viewer"

    def get_id(self) -> str:
        return "viewer"


@pytest.fixture(scope="module")
def pages(world):
    """运行概况 and 数据看板 as the plugin serves them (its routers, logged in as a viewer), on this warehouse."""
    from creditflow_ui import auth, dashboard, routes
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    app.include_router(routes.router)
    app.include_router(dashboard.router)
    app.dependency_overrides[auth.current_user] = _Viewer
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(routes, "_engine", lambda: world["engine"])
        mp.setattr(dashboard, "listed_files", lambda area, limit=50: None)
        yield TestClient(app)


def test_reconciliations_are_history_and_the_overview_shows_both(world, pages):
    s = wh.run_summary
    with world["engine"].connect() as conn:
        rows = conn.execute(sa.select(s.c.run_key, s.c.uploaded, s.c.written_at).order_by(s.c.id)).all()
    keys = [interval.interval_run("penalty", d).run_key for d in DAYS]
    assert [k for k, _, _ in rows] == keys + keys  # each run's first reconciliation kept, the re-run's added
    assert [u for _, u, _ in rows] == [2, 0, 2, 1, 0, 2]  # day 1: both first published then; one since corrected
    html = pages.get("/").text
    import re

    shown = re.findall(r'<tr data-run="([^"]+)" data-kind="penalty" class="(latest|earlier muted)">', html)
    assert shown == [(k, c) for k in reversed(keys) for c in ("latest", "earlier muted")]
    first = html.index(f'data-run="{keys[0]}" data-kind="penalty" class="latest"')
    block = html[first:html.index("</tr>", html.index('class="earlier muted"', first))]
    assert "最新（已重跑 1 次）" in block and "重跑前" in block
    cells = re.findall(r'<td class="num">(\d+)</td>', block)
    assert cells[1] == "1" and cells[10] == "2"  # 已上报: the re-run's 1 on top, the original 2 below it


def test_dashboard_uploaded_is_what_the_platform_holds_after_the_backfill(world, pages):
    held = world["pf"].admin("GET", "/admin/records")["records"]
    html = pages.get("/dashboard", params={"kind": "penalty"}).text
    import re

    card = re.search(r'data-k="uploaded">\s*<div class="value">(\d+)</div>', html)
    assert card is not None and int(card.group(1)) == len(held) == 3
    # Before the backfill too: the runs had sent 4 operations (B's 更正 is a second one), the platform held 3.
    assert world["before"]["card"] == len(world["before"]["platform"][0]) == 3
    assert sum(s["uploaded"] for s in world["first"]) == 4
    # The latest reconciliations sum to 1 + 0 + 2 = 3 uploads only by chance of this scenario; the
    # periods still add each run once (its latest reconciliation), never the original and the re-run.
    periods = re.findall(r'<tr data-period="([^"]+)" data-kind="penalty">(.*?)</tr>', html, re.S)
    uploaded = {p: int(re.search(r'data-k="uploaded">(\d+)<', row).group(1)) for p, row in periods}
    assert uploaded == {DAYS[0].isoformat(): 1, DAYS[1].isoformat(): 0, DAYS[2].isoformat(): 2}
