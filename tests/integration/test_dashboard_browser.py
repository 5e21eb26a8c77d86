"""数据看板 and 区县自查 in a real browser: Debian's headless Chromium, driven by Playwright, logs in
through Airflow's own login page, opens the dashboard inside the Airflow UI and on its own, checks the
numbers against the warehouse, follows the UI's language, uploads district spreadsheets (a real one, a
zip bomb posing as XLSX) and saves screenshots as test artefacts (``tests/artifacts/``, git-ignored;
``CREDITFLOW_TEST_ARTIFACTS`` to put them elsewhere — the paths are printed).

The warehouse is filled by the pipeline itself (four days, three kinds, against the sandboxes); the API
server is Airflow's own app (``create_app``) with the plugin mounted, served on a free port.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from airflow_env import DEMO_ROSTERS
from creditflow.common import TZ, contains_unmasked_id
from creditflow.core import warehouse as wh
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, run_day, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DAYS = [dt.date(2026, 11, 23) + dt.timedelta(days=i) for i in range(4)]
PERSON_ID = "440402199001010014"
ARTIFACTS = Path(os.environ.get("CREDITFLOW_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide it: {reason}")
    pytest.skip(reason)


def _shot(page, name: str, full: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full)
    print(f"screenshot: {path}")
    return path


@pytest.fixture(scope="module")
def world(airflow_home, module_db_url, tmp_path_factory):
    _need(Path(CHROMIUM).exists(), "Debian's chromium (apt-get install chromium chromium-driver)")
    _need(shutil.which("fc-list") is not None and bool(subprocess.run(
        ["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip()),
        "a Chinese font for the screenshots (apt-get install fonts-wqy-microhei)")
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    d = tmp_path_factory.mktemp("dash")
    cfg = g.GeneratorConfig(seed=3, decisions=70, start=DAYS[0], days=len(DAYS), horizon=DAYS[-1],
                            person_share=0.1, rates={**g.DEFAULT_RATES, "missing_required": 0.08})
    g.generate_to(cfg, case_db_url=f"sqlite:///{d}/case.sqlite", licensing_db_url=f"sqlite:///{d}/lic.sqlite",
                  inbox=d / "inbox", manifest=d / "m.jsonl")
    sample = _district_sample(d / "inbox" / "penalty", d / "sample.xlsx")  # before the pipeline archives them
    engine = warehouse(module_db_url)
    with ServedApp(platform.create_app(db_url=f"sqlite:///{d}/pf.sqlite", processing_seconds=0.05)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{d}/lic.sqlite")) as ls:
        w = World(engine, wh.engine_from_url(f"sqlite:///{d}/case.sqlite"), d / "inbox", d / "drop", pf, ls,
                  g.read_manifest(d / "m.jsonl"))
        for day in DAYS:
            run_day(w, day)
    var = d / "var"
    (var / "reports" / "2026-11").mkdir(parents=True)
    (var / "reports" / "2026-11" / "双公示月报.csv").write_text(f"类别,条数,备注\n行政处罚,12,当事人{PERSON_ID}\n",
                                                           encoding="utf-8")
    (var / "plans").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_CREDITFLOW_DB",
                  json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": module_db_url}}))
        mp.setenv("CREDITFLOW_VAR", str(var))
        mp.setenv("CREDITFLOW_REVIEW_ROLES", str(DEMO_ROSTERS["CREDITFLOW_REVIEW_ROLES"]))  # the demo's roster: its user names
        from airflow.api_fastapi.app import create_app

        with ServedApp(create_app("core")) as api:
            yield {"url": api.url, "engine": engine, "sample": sample, "tmp": d}


def _district_sample(folder: Path, target: Path) -> Path:
    """The longest generated district workbook, with the mistakes a clerk makes: a required cell left empty,
    a date in the wrong format, a row entered twice, a person's ID number with a wrong check digit."""
    from openpyxl import load_workbook

    source = max(folder.glob("*.xlsx"), key=lambda p: (load_workbook(p).active.max_row, p.name))
    wb = load_workbook(source)
    ws = wb.active
    headers = [c.value for c in ws[1]]

    def col(fragment: str) -> int:
        return next(i for i, h in enumerate(headers, start=1) if h and fragment in str(h))

    ws.cell(row=2, column=col("违法事实")).value = None
    ws.cell(row=3, column=col("处罚决定日期")).value = "2026年13月45日"
    if ws.max_row >= 4:
        ws.cell(row=4, column=col("法定代表人证件类型")).value = "身份证"
        ws.cell(row=4, column=col("法定代表人证件号码")).value = "440402199001010015"  # check digit wrong
    ws.append([c.value for c in ws[2]])  # the first data row again: a duplicate
    ws.cell(row=ws.max_row, column=col("违法事实")).value = "重复录入"
    wb.save(target)
    return target


@pytest.fixture(scope="module")
def browser(world):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package (pip install playwright; never `playwright install`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, world):
    ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1400, "height": 900},
                              accept_downloads=True)
    pg = ctx.new_page()
    pg.requests = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    yield pg
    ctx.close()


def login(page, base: str, target: str, user: str = "admin") -> None:
    """Airflow's own login page (SimpleAuthManager), then on to ``target``."""
    page.goto(f"{base}/auth/login?next={base}{target}")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(user)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile("^" + re.escape(base + target.split("?")[0]) + r"(\?.*)?$"), timeout=30000)
    page.wait_for_load_state("networkidle")


def _foreign(urls: list[str], base: str) -> list[str]:
    """Requests that left the API server (blob:/data: URLs of the page itself stay local)."""
    return [u for u in urls if not u.startswith((base, f"blob:{base}", "data:"))]


def _cells(page, selector: str) -> dict[str, int]:
    return {td.get_attribute("data-k"): int(td.inner_text()) for td in page.query_selector_all(f"{selector} td[data-k]")}


def _latest(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes).order_by(wh.outcomes.c.run_key)).mappings().all()
    latest: dict[str, dict] = {}
    for r in rows:
        latest[r["record_id"]] = dict(r)
    return latest


def test_pages_need_an_airflow_login(world):
    import requests

    for method, path in (("GET", "/creditflow/dashboard"), ("GET", "/creditflow/check"), ("POST", "/creditflow/check"),
                         ("GET", "/creditflow/dashboard/files/reports/2026-11/双公示月报.csv")):
        r = requests.request(method, world["url"] + path, timeout=10)
        assert r.status_code == 401, (path, r.status_code)


def test_dashboard_numbers_match_the_warehouse(world, page):
    base, engine = world["url"], world["engine"]
    login(page, base, "/creditflow/dashboard")
    assert page.title().startswith("数据看板")
    with engine.connect() as conn:
        summaries = conn.execute(sa.select(wh.run_summary)).mappings().all()
        accepted = Counter(dict(conn.execute(sa.select(wh.ledger_history.c.run_key, sa.func.count())
                                             .where(wh.ledger_history.c.state == "accepted")
                                             .group_by(wh.ledger_history.c.run_key)).all()))
        late = Counter(r for r, in conn.execute(sa.select(wh.outcomes.c.run_key).where(wh.outcomes.c.late == sa.true())))
        pending = conn.execute(sa.select(sa.func.count()).select_from(wh.reviews)
                               .where(wh.reviews.c.status == "pending")).scalar_one()
    assert len(summaries) == len(DAYS) * 3 and sum(accepted.values()) > 0 and pending > 0
    for s in summaries:  # the daily view: one row per run
        row = f'#periods tr[data-period="{s["interval_start"][:10]}"][data-kind="{s["kind"]}"]'
        assert _cells(page, row) == {"extracted": s["extracted"], "uploaded": s["uploaded"],
                                     "accepted": accepted[s["run_key"]], "quarantined": s["quarantined"],
                                     "awaiting_review": s["awaiting_review"], "late": late[s["run_key"]],
                                     "due_soon": s["due_soon"]}, s["run_key"]
    totals = {c.get_attribute("data-k"): int(c.query_selector(".value").inner_text())
              for c in page.query_selector_all("#totals .card")}  # flows over the shown periods, then today's state
    assert totals["extracted"] == sum(s["extracted"] for s in summaries)
    assert totals["accepted"] == sum(accepted.values())
    # The 7-working-day clock: every record not yet published, by working days left from today. A record is
    # overdue once its due day has passed (国办发〔2015〕51号: within 7 working days), whatever day today is.
    today = dt.datetime.now(TZ).date()
    open_ = [r for r in _latest(engine).values() if r["outcome"] in ("quarantined", "awaiting_review")]
    clock = {td.get_attribute("data-bucket"): int(td.inner_text()) for td in page.query_selector_all("#clock td")}
    assert sum(clock.values()) == len(open_) > 0
    overdue = sum(1 for r in open_ if r["due_date"] and dt.date.fromisoformat(r["due_date"]) < today)
    assert clock["overdue"] == overdue == totals["open_overdue"]
    assert totals["open_quarantined"] == sum(1 for r in open_ if r["outcome"] == "quarantined")
    assert totals["open_review"] == sum(1 for r in open_ if r["outcome"] == "awaiting_review") > 0
    assert sum(int(td.inner_text()) for td in page.query_selector_all('#reviews td[data-k="n"]')) == pending
    quarantined = {r["record_id"] for r in open_ if r["outcome"] == "quarantined"}
    shown = {tr.get_attribute("data-record") for tr in page.query_selector_all("#quarantine tbody tr")}
    assert shown == quarantined
    assert len(page.query_selector_all("#runs tbody tr")) == len(summaries)
    assert page.query_selector_all('#links ul[data-area="reports"] a')
    html = page.content()
    assert not contains_unmasked_id(html)
    assert "<svg" in html and page.query_selector_all("svg.chart") and "<script src=\"http" not in html
    assert not _foreign(page.requests, base), _foreign(page.requests, base)
    _shot(page, "dashboard_zh.png")
    # The weekly view sums the flows of the week's runs.
    page.select_option('select[name="period"]', "week")
    page.click('form.filter button[type="submit"]')
    page.wait_for_load_state("networkidle")
    week = DAYS[0].isocalendar()
    cells = _cells(page, f'#periods tr[data-period="{week[0]}-W{week[1]:02d}"][data-kind="penalty"]')
    in_week = [s for s in summaries if s["kind"] == "penalty"
               and dt.date.fromisoformat(s["interval_start"][:10]).isocalendar()[:2] == week[:2]]
    assert cells["extracted"] == sum(s["extracted"] for s in in_week)
    assert cells["uploaded"] == sum(s["uploaded"] for s in in_week)


SUNDAY = dt.date(2026, 12, 6)  # the Sunday of issue #18.2; the Friday before is 2026-12-04


@pytest.fixture
def on_sunday():
    """The pages' clock set to a Sunday (the plugin's ``clock.today`` dependency)."""
    from creditflow_ui import app, clock

    app.dependency_overrides[clock.today] = lambda: SUNDAY
    yield SUNDAY
    app.dependency_overrides.pop(clock.today, None)


def test_on_a_sunday_a_friday_deadline_is_overdue_on_every_page(world, page, on_sunday):
    """Issue #18.2: on Sunday a record due the Friday before is overdue (its due day has passed), not 今日到期;
    the dashboard counts every such record, and 审核 and 问题数据 mark their due-date cells 已逾期 in red."""
    base, engine = world["url"], world["engine"]
    open_ = [r for r in _latest(engine).values() if r["outcome"] in ("quarantined", "awaiting_review")]
    friday = on_sunday - dt.timedelta(days=2)
    due = {r["record_id"]: dt.date.fromisoformat(r["due_date"]) for r in open_ if r["due_date"]}
    assert any(d == friday for d in due.values()), sorted(set(due.values()))  # the case the issue is about
    overdue = {rid for rid, d in due.items() if d < on_sunday}
    login(page, base, "/creditflow/dashboard")
    assert f"{on_sunday.isoformat()}" in page.inner_text("form.filter")
    clock = {td.get_attribute("data-bucket"): int(td.inner_text()) for td in page.query_selector_all("#clock td")}
    totals = {c.get_attribute("data-k"): int(c.query_selector(".value").inner_text())
              for c in page.query_selector_all("#totals .card")}
    assert clock["overdue"] == totals["open_overdue"] == len(overdue) > 1
    assert clock["d0"] == 0  # nothing is due on a Sunday
    for tr in page.query_selector_all("#quarantine tbody tr"):
        cell = tr.query_selector("td.due")
        late = tr.get_attribute("data-record") in overdue
        assert ("overdue" in (cell.get_attribute("class") or "")) == late
        assert ("已逾期" in cell.inner_text()) == late
    _shot(page, "dashboard_sunday.png")

    login(page, base, "/creditflow/review")
    with engine.connect() as conn:
        pending = conn.execute(sa.select(wh.reviews.c.record_id, wh.reviews.c.due_date)
                               .where(wh.reviews.c.status == "pending")).all()
    late_reviews = sum(1 for r in pending if r.due_date and dt.date.fromisoformat(r.due_date) < on_sunday)
    cells = page.query_selector_all("table.review td.due")
    assert len(cells) == len(pending)
    marked = [c for c in cells if "overdue" in (c.get_attribute("class") or "")]
    assert len(marked) == late_reviews > 0 and all("已逾期" in c.inner_text() for c in marked)

    login(page, base, "/creditflow/quarantine")
    cells = page.query_selector_all("td.due")
    assert cells and all(("overdue" in (c.get_attribute("class") or "")) == ("已逾期" in c.inner_text()) for c in cells)
    shown_overdue = {c.inner_text().split()[0] for c in cells if "overdue" in (c.get_attribute("class") or "")}
    assert shown_overdue and all(dt.date.fromisoformat(d) < on_sunday for d in shown_overdue)


def test_dashboard_inside_the_airflow_ui(world, page):
    base = world["url"]
    login(page, base, "/plugin/creditflow_dashboard")
    frame_el = page.wait_for_selector("iframe", timeout=30000)
    frame = frame_el.content_frame()
    frame.wait_for_selector("#dashboard", timeout=30000)
    assert frame.query_selector("h1").inner_text() == "数据看板"
    page.wait_for_timeout(500)
    _shot(page, "dashboard_in_airflow_ui.png", full=False)
    assert not _foreign(page.requests, base), _foreign(page.requests, base)


def test_dashboard_follows_the_ui_language(world, page):
    base = world["url"]
    login(page, base, "/creditflow/dashboard")
    assert page.get_attribute("#dashboard", "data-lang") == "zh"
    page.evaluate("localStorage.setItem('i18nextLng', 'en')")  # what the Airflow UI's language menu stores
    page.goto(f"{base}/creditflow/dashboard")
    page.wait_for_url(re.compile(r".*lang=en.*"), timeout=10000)
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("#dashboard", "data-lang") == "en"
    assert page.query_selector("h1").inner_text() == "Credit data dashboard"
    _shot(page, "dashboard_en.png")


def test_report_links_download_masked_files(world, page):
    base = world["url"]
    login(page, base, "/creditflow/dashboard")
    link = page.query_selector('#links ul[data-area="reports"] a')
    assert link.inner_text() == "2026-11/双公示月报.csv"
    with page.expect_download() as info:
        link.click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert "行政处罚,12" in text and PERSON_ID not in text and not contains_unmasked_id(text)
    r = page.request.get(f"{base}/creditflow/dashboard/files/reports/..%2F..%2Fetc%2Fpasswd")
    assert r.status == 404


def _csrf(page) -> str:
    return page.get_attribute('meta[name="csrf-token"]', "content")


def _bomb() -> bytes:
    """A ZIP posing as XLSX: the workbook's parts, and one sheet of 80 MB of zeros (compresses to ~80 KB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            chunk = b"0" * (1024 * 1024)
            for _ in range(80):
                sheet.write(chunk)
    return buf.getvalue()


def test_district_self_check_gives_the_findings_of_creditflow_check(world, page):
    from creditflow.reporting.check import check_file

    base, sample = world["url"], world["sample"]
    expected = check_file(sample, None, dt.datetime.now(TZ).date())
    assert expected["invalid"] and expected["duplicates"]  # the sample has mistakes to find
    before = set(Path(tempfile.gettempdir()).glob("creditflow-check-*"))
    login(page, base, "/creditflow/check")
    page.set_input_files('input[name="file"]', str(sample))
    page.click('form.upload button[type="submit"]')
    page.wait_for_selector("#check-result", timeout=60000)
    result = page.query_selector("#check-result")
    assert int(result.get_attribute("data-rows")) == expected["rows"]
    assert int(result.get_attribute("data-invalid")) == len(expected["invalid"])
    assert int(result.get_attribute("data-duplicates")) == len(expected["duplicates"])
    rows = [(int(tr.get_attribute("data-row")), tr.get_attribute("data-rule"))
            for tr in page.query_selector_all("#check-errors tbody tr")]
    assert sorted(rows) == sorted([(i["row"], e["rule"]) for i in expected["invalid"] for e in i["errors"]]
                                  + [(i["row"], "DUPLICATE") for i in expected["duplicates"]])
    assert not contains_unmasked_id(page.content())
    _shot(page, "self_check.png")
    assert set(Path(tempfile.gettempdir()).glob("creditflow-check-*")) == before  # nothing kept

    # A zip bomb posing as XLSX, a picture renamed .xlsx, an oversized file, a wrong type: refused, in Chinese.
    page.set_input_files('input[name="file"]', files=[{"name": "bomb.xlsx", "mimeType": "application/octet-stream",
                                                      "buffer": _bomb()}])
    page.click('form.upload button[type="submit"]')
    page.wait_for_selector("#check-error")
    assert "解压后过大" in page.inner_text("#check-error")
    _shot(page, "self_check_zip_bomb.png")
    token = _csrf(page)
    cases = {"fake.xlsx": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 400, "不是有效的 Excel"),
             "notes.docx": (b"PK\x03\x04", "不支持的文件类型"),
             "big.csv": (b"a" * (6 * 1024 * 1024), "文件过大")}
    for name, (data, message) in cases.items():
        r = page.request.post(f"{base}/creditflow/check", multipart={
            "csrf_token": token, "file": {"name": name, "mimeType": "application/octet-stream", "buffer": data}})
        assert r.status in (413, 422), (name, r.status)
        assert message in r.text(), (name, r.text()[:300])
    r = page.request.post(f"{base}/creditflow/check", multipart={
        "file": {"name": "sample.xlsx", "mimeType": "application/octet-stream", "buffer": sample.read_bytes()}})
    assert r.status == 403  # no CSRF token
    assert set(Path(tempfile.gettempdir()).glob("creditflow-check-*")) == before
