"""The 信用管理 pages inside Airflow's own API server app (the one creditflow app, mounted at ``/creditflow``),
logged in through SimpleAuthManager's ``POST /auth/token`` (demo users of ``scripts/airflow_env.py``):
the integrity endpoint answers for listed, repaired and clean parties and refuses calls without a token;
pages render masked; decisions on the page keep separation of duties and CSRF."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from airflow_env import DEMO_ROSTERS
from creditflow.common import contains_unmasked_id
from creditflow.core import warehouse as wh

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LISTED, REPAIRED, CLEAN, MAJOR = "91440400MA4UABCD1N", "91440400MB2C12345Y", "91440400MA51XR7Q0X", "11440400MB2C123457"
PERSON = "440402199001010014"
TODAY = dt.date.today().isoformat()


def _seed(engine: sa.Engine) -> None:
    from creditflow.credit import penalties
    from creditflow.credit.store import seal_text, stored_party

    now = wh.now_iso()
    start = (dt.date.today() - dt.timedelta(days=100)).isoformat()
    end = (dt.date.today() + dt.timedelta(days=900)).isoformat()
    base = {"facts": "无证经营", "basis": "部令11号第七条", "authority_name": "珠海市应急管理局",
            "authority_uscc": MAJOR, "created_on": start, "updated_at": now, "list_start": start, "list_end": end,
            "decided_on": start}
    with engine.begin() as conn:
        conn.execute(wh.credit_case.insert(), [
            {**base, "case_id": "SX-art7_1-D1", "situation_id": "art7_1", "party_key": LISTED,
             "party_type": "法人及非法人组织", "party_name": "珠海宏达化工有限公司", "state": "published"},
            {**base, "case_id": "SX-art7_1-D2", "situation_id": "art7_1", "party_key": REPAIRED,
             "party_type": "法人及非法人组织", "party_name": "珠海海盛物流有限公司", "state": "removed",
             "removed_on": TODAY},
            # a natural person as the credit tables keep one (#19 §3): blind index, name and ID number sealed
            {**base, "case_id": "SX-art7_1-D3", "situation_id": "art7_1", **stored_party("自然人", PERSON, "李四"),
             "party_type": "自然人", "state": "published", "facts": seal_text(f"李四无证经营（{PERSON}）")},
            {**base, "case_id": "SX-art7_1-D4", "situation_id": "art7_1", "party_key": CLEAN,
             "party_type": "法人及非法人组织", "party_name": "珠海源泰新材料有限公司", "state": "candidate",
             "list_start": None, "list_end": None, "decided_on": None}])
    recent = dt.date.today() - dt.timedelta(days=30)

    def row(i: str, uscc: str, codes: str, fine: float) -> dict:
        at = dt.datetime(recent.year, recent.month, recent.day, 10)
        return {"decision_id": i, "doc_no": f"珠应急罚〔{recent.year}〕{i}号", "decision_date": recent,
                "penalty_codes": codes, "fine_yuan": fine, "status": "VALID", "created_at": at, "updated_at": at,
                "party_type": "ENT", "party_name": "某公司", "party_uscc": uscc, "person_id_no": None,
                "authority_name": "珠海市应急管理局", "violation_type": "x", "legal_basis": "x"}

    penalties.track(engine, [row("D9001", REPAIRED, "FK", 20000), row("D9002", MAJOR, "FK,TC", 50000)])
    with engine.begin() as conn:
        conn.execute(wh.credit_penalty.update().where(wh.credit_penalty.c.penalty_id == "case_db:D9001")
                     .values(status="repaired", repaired_on=TODAY))


@pytest.fixture(scope="module")
def world(airflow_home, module_db_url):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    engine = wh.engine_from_url(module_db_url)
    wh.upgrade(engine)
    _seed(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_CREDITFLOW_DB",
                  json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": module_db_url}}))
        mp.setenv("CREDITFLOW_CREDIT_ROLES", str(DEMO_ROSTERS["CREDITFLOW_CREDIT_ROLES"]))  # the demo users
        from airflow.api_fastapi.app import create_app
        from creditflow_ui import state

        state.close()  # a new API server: the app's shared engine is this module's warehouse, not the last one's
        yield {"app": create_app("core"), "engine": engine}
        state.close()


def token(world, username: str) -> str:
    from fastapi.testclient import TestClient

    r = TestClient(world["app"]).post("/auth/token", json={"username": username, "password": username})
    assert r.status_code == 201, r.text
    return str(r.json()["access_token"])


def browser(world, username: str):
    from fastapi.testclient import TestClient

    return TestClient(world["app"], cookies={"_token": token(world, username)}, headers={"Accept": "text/html"})


def api_log(world, at_least: int) -> list[dict]:
    """The endpoint's audit rows once at least ``at_least`` are written (the batch writer's interval: 0.2 s)."""
    deadline = time.monotonic() + 15
    while True:
        with world["engine"].connect() as conn:
            log = [dict(x) for x in conn.execute(sa.select(wh.credit_check_log).where(
                wh.credit_check_log.c.channel == "api")).mappings()]
        if len(log) >= at_least or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


def test_the_integrity_endpoint_refuses_calls_without_an_airflow_token(world):
    from fastapi.testclient import TestClient

    anonymous = TestClient(world["app"])
    assert anonymous.get(f"/creditflow/api/integrity?code={LISTED}").status_code == 401
    assert anonymous.post("/creditflow/api/integrity", json={"codes": [LISTED]}).status_code == 401
    bad = anonymous.get(f"/creditflow/api/integrity?code={LISTED}", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code in (401, 403)
    for path in ("/creditflow/credit/", "/creditflow/credit/penalties", "/creditflow/credit/integrity", "/creditflow/credit/impact"):
        assert anonymous.get(path).status_code == 401, path


def test_the_integrity_endpoint_answers_for_listed_repaired_and_clean_parties(world):
    from fastapi.testclient import TestClient

    api = TestClient(world["app"], headers={"Authorization": f"Bearer {token(world, 'viewer')}"})
    r = api.get("/creditflow/api/integrity", params={"code": [LISTED, REPAIRED, CLEAN, MAJOR, PERSON, "91440400MA4UABCD1X"]})
    assert r.status_code == 200, r.text
    listed, repaired, clean, major, person, invalid = r.json()["answers"]
    assert listed["verdict"] == "fail" and listed["listed"]["on_list"] and "严重失信主体名单" in listed["reasons"][0]
    assert repaired["verdict"] == "pass" and repaired["repair"] == {"repaired_penalties": 1, "early_removed": True,
                                                                     "pending_requests": 0}
    assert clean["verdict"] == "pass" and not clean["listed"]["on_list"]  # a candidate is not a listing
    assert clean["reasons"] == ["未发现严重失信名单记录和重大违法记录"]
    assert major["verdict"] == "fail" and "重大违法记录" in major["reasons"][0]
    assert major["penalties_under_publicity"][0]["publicity_until"]
    assert person["verdict"] == "fail" and person["code"] == "4404**********0014"  # found by the blind index
    assert person["party_name"] == "李＊" and "李四" not in r.text
    assert invalid["valid"] is False and "校验" in invalid["error"] and invalid["verdict"] is None
    # For licensing only the list counts: the major violation passes there.
    lic = api.post("/creditflow/api/integrity", json={"codes": [MAJOR], "purpose": "licensing"}).json()["answers"][0]
    assert lic["verdict"] == "pass" and lic["purpose_zh"] == "安全生产许可审批"
    assert api.get("/creditflow/api/integrity", params={"code": LISTED, "purpose": "nope"}).status_code == 422
    assert not contains_unmasked_id(r.text)
    log = api_log(world, 7)  # the endpoint's audit rows are written in batches, a moment later
    assert len(log) >= 7 and {x["asked_by"] for x in log} == {"viewer"}
    assert not any(contains_unmasked_id(x["answer"]) or contains_unmasked_id(x["query"]) for x in log)
    assert not any("李四" in x["answer"] for x in log)


def test_a_token_is_checked_by_airflow_and_trusted_only_for_the_cache_time(world, monkeypatch):
    """The endpoint asks Airflow about a bearer token once, then trusts it for TOKEN_CACHE_SECONDS: a token
    Airflow revokes (logout) is refused once that time has passed; refused tokens are never trusted."""
    from airflow.api_fastapi.app import get_auth_manager
    from creditflow_ui import credit_api as plugin
    from fastapi.testclient import TestClient

    skew = [0.0]
    monkeypatch.setattr(plugin._TOKENS, "clock", lambda: time.monotonic() + skew[0])
    plugin._TOKENS.clear()
    jwt = token(world, "viewer")
    api = TestClient(world["app"], headers={"Authorization": f"Bearer {jwt}"})
    assert api.get("/creditflow/api/integrity", params={"code": CLEAN}).status_code == 200
    get_auth_manager().revoke_token(jwt)
    assert api.get("/creditflow/api/integrity", params={"code": CLEAN}).status_code == 200  # within the cache time
    skew[0] = plugin.TOKEN_CACHE_SECONDS + 0.1  # the cache time has passed
    assert api.get("/creditflow/api/integrity", params={"code": CLEAN}).status_code in (401, 403)
    assert api.get("/creditflow/api/integrity", params={"code": CLEAN}).status_code in (401, 403)  # not re-cached
    forged = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
    for _ in range(2):
        assert TestClient(world["app"]).get("/creditflow/api/integrity", params={"code": CLEAN},
                                            headers={"Authorization": f"Bearer {forged}"}).status_code == 403
    assert plugin._TOKENS.get(forged) is None and plugin._TOKENS.get(jwt) is None


def test_the_token_cache_never_outlives_the_token_and_stays_bounded(world):
    from creditflow_ui import credit_api as plugin

    cache = plugin.TokenCache(ttl=60, size=3)
    cache.put("expired", "u", time.time() - 1)
    cache.put("soon", "u", time.time() + 0.2)
    assert cache.get("expired") is None and cache.get("soon") == "u"
    time.sleep(0.3)
    assert cache.get("soon") is None
    for i in range(5):
        cache.put(f"t{i}", i, None)
    assert len(cache._users) <= 3 and cache.get("t4") == 4
    off = plugin.TokenCache(ttl=0)
    off.put("t", "u", None)
    assert off.get("t") is None


def test_pages_render_masked_and_documents_download(world):
    client = browser(world, "viewer")
    with world["engine"].connect() as conn:
        doc_id = conn.execute(sa.select(wh.credit_penalty.c.notice_doc_id).where(
            wh.credit_penalty.c.penalty_id == "case_db:D9002")).scalar()
    pages = {"/creditflow/credit/": "李＊", "/creditflow/credit/case/SX-art7_1-D3": "4404**********0014",
             "/creditflow/credit/penalties": "信用修复",
             "/creditflow/credit/penalty/case_db:D9002": "信用修复告知书", "/creditflow/credit/integrity": "诚信审核",
             "/creditflow/credit/impact?categories=罚款,责令停产停业&amount=50000&decided=2026-05-06&party_type=legal": "ndrc_order_36"}
    for path, text in pages.items():
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert text in page.text, path
        assert not contains_unmasked_id(page.text), path
        assert "李四" not in page.text, path  # a natural person's name only masked (#19 §3)
    case_page = client.get("/creditflow/credit/case/SX-art7_1-D3").text
    assert "李＊（自然人" in case_page and "李＊无证经营（4404**********0014）" in case_page
    assert "仅查看" in client.get("/creditflow/credit/").text
    pdf = client.get(f"/creditflow/credit/doc/{doc_id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    docx = client.get(f"/creditflow/credit/doc/{doc_id}.docx")
    assert docx.status_code == 200 and docx.content.startswith(b"PK")
    csrf = re.search(r'name="csrf-token" content="([a-p]{64})"', client.get("/creditflow/credit/integrity").text).group(1)
    batch = client.post("/creditflow/credit/integrity/batch", data={"csrf_token": csrf, "purpose": "bidding"},
                        files={"file": ("bidders.csv", f"名称,统一社会信用代码\n甲,{LISTED}\n乙,{CLEAN}\n".encode())})
    assert batch.status_code == 200 and batch.content.startswith(b"PK")


def test_decisions_on_the_page_take_two_people_and_a_form_token(world):
    case = "/creditflow/credit/case/SX-art7_1-D4"
    # chief may propose and approve — but never both for the same decision; reviewer1 only proposes.
    officer, approver, viewer = browser(world, "chief"), browser(world, "reviewer2"), browser(world, "viewer")
    clerk = browser(world, "reviewer1")

    def csrf(client) -> str:
        return re.search(r'name="csrf-token" content="([a-p]{64})"', client.get(case).text).group(1)

    form = {"action": "issue_notice", "note": "线索属实"}
    assert officer.post(f"{case}/propose", data=form, follow_redirects=False).status_code == 403  # no token
    assert viewer.post(f"{case}/propose", data={**form, "csrf_token": csrf(viewer)},
                       follow_redirects=False).status_code == 403
    assert officer.post(f"{case}/propose", data={**form, "csrf_token": csrf(officer)},
                        follow_redirects=False).status_code == 303
    own = officer.post(f"{case}/approve", data={"accept": "yes", "csrf_token": csrf(officer)}, follow_redirects=False)
    assert own.status_code == 403 and "同一人" in own.text
    no_role = clerk.post(f"{case}/approve", data={"accept": "yes", "csrf_token": csrf(clerk)}, follow_redirects=False)
    assert no_role.status_code == 403 and "无权" in no_role.text
    ok = approver.post(f"{case}/approve", data={"accept": "yes", "csrf_token": csrf(approver)}, follow_redirects=False)
    assert ok.status_code == 303
    page = approver.get(case).text
    assert "已发告知书" in page and ".pdf" in page
    with world["engine"].connect() as conn:  # #18.4: the basis names the regulation, not its id (mem_order_11)
        basis = conn.execute(sa.select(wh.credit_event.c.basis).where(
            wh.credit_event.c.subject_id == "SX-art7_1-D4", wh.credit_event.c.action == "issue_notice")).scalar_one()
    assert basis == "安全生产严重失信主体名单管理办法（应急管理部令第11号） 列入前书面告知（参照行政处罚法）"
    wrong = approver.post(f"{case}/approve", data={"accept": "yes", "csrf_token": csrf(approver)})
    assert wrong.status_code == 409 and "没有待批准" in wrong.text


def _pending_case(world, case_id: str) -> None:
    now = wh.now_iso()
    with world["engine"].begin() as conn:
        conn.execute(wh.credit_case.insert().values(
            case_id=case_id, situation_id="art7_1", party_key=CLEAN, party_type="法人及非法人组织",
            party_name="珠海源泰新材料有限公司", state="candidate", facts="无证经营", basis="部令11号第七条",
            authority_name="珠海市应急管理局", authority_uscc=MAJOR, created_on=TODAY, updated_at=now,
            pending_action="issue_notice", proposed_by="chief", proposed_at=now))


def test_approve_when_the_calendar_year_is_missing_says_so_in_chinese(world, monkeypatch):
    """#18.4: reviewer2's 批准 that needs a deadline in a year without the official calendar got Starlette's bare
    "Internal Server Error"; now a Chinese page in the frame says what is missing and what to do, and nothing
    is changed."""
    from creditflow.core.workdays import CalendarNotCovered
    from creditflow.credit import lifecycle

    case = "/creditflow/credit/case/SX-art7_1-CAL"
    _pending_case(world, "SX-art7_1-CAL")

    def no_calendar(*args, **kwargs):
        raise CalendarNotCovered(2099, (2020, 2027))

    monkeypatch.setattr(lifecycle, "_carry_out", no_calendar)
    approver = browser(world, "reviewer2")
    csrf = re.search(r'name="csrf-token" content="([a-p]{64})"', approver.get(case).text).group(1)
    r = approver.post(f"{case}/approve", data={"accept": "yes", "csrf_token": csrf})
    assert r.status_code == 409, r.text[:300]
    assert "Internal Server Error" not in r.text and "2099年的官方节假日安排" in r.text
    assert "data/calendar/2099.yaml" in r.text and "名单案件" in r.text  # what to do, inside the site frame
    with world["engine"].connect() as conn:
        row = conn.execute(sa.select(wh.credit_case).where(wh.credit_case.c.case_id == "SX-art7_1-CAL")).mappings().one()
    assert row["state"] == "candidate" and row["pending_action"] == "issue_notice"


def test_an_unhandled_error_is_a_chinese_page_or_chinese_json(world, monkeypatch, caplog):
    """Any other exception: the Chinese 500 page in the credit frame (the API: Chinese JSON), logged masked."""
    import logging

    from creditflow.credit import integrity, lifecycle
    from fastapi.testclient import TestClient

    case = "/creditflow/credit/case/SX-art7_1-ERR"
    _pending_case(world, "SX-art7_1-ERR")

    def broken(*args, **kwargs):
        raise KeyError(f"no row for {PERSON}")

    monkeypatch.setattr(lifecycle, "_carry_out", broken)
    approver = browser(world, "reviewer2")
    csrf = re.search(r'name="csrf-token" content="([a-p]{64})"', approver.get(case).text).group(1)
    with caplog.at_level(logging.ERROR, logger="creditflow.ui.errors"):
        r = approver.post(f"{case}/approve", data={"accept": "yes", "csrf_token": csrf})
    assert r.status_code == 500 and "Internal Server Error" not in r.text
    assert "系统内部错误" in r.text and "名单案件" in r.text and PERSON not in r.text
    assert "KeyError" in caplog.text and PERSON not in caplog.text and "Traceback" in caplog.text
    monkeypatch.setattr(integrity, "check", broken)
    api = TestClient(world["app"], headers={"Authorization": f"Bearer {token(world, 'viewer')}"})
    answer = api.get("/creditflow/api/integrity", params={"code": CLEAN})
    assert answer.status_code == 500 and answer.json()["detail"].startswith("系统内部错误")
    bad = api.post("/creditflow/api/integrity", json={"codes": "x"})
    assert bad.status_code == 422 and "请求体应为" in bad.json()["detail"]


# Every token the credit loop writes (creditflow/credit/lifecycle.py, penalties.py, publish.py: the states of a
# case, the actions and events, the statuses of penalties, requests and objections, the publicity classes of
# data/rules/publicity.yaml, the DAGs' actor) — the clerk must read none of them raw.
CASE_STATES = ("candidate", "notice_issued", "notice_delivered", "listed", "published", "revisit", "removed",
               "expired", "dismissed", "annulled")
EVENTS = ("candidate", "propose:issue_notice", "reject:decide_listing", "issue_notice", "dismiss", "decide_listing",
          "maintain_listing", "annul_listing", "revoke_removal", "notice_delivered", "objection", "waiver",
          "objection_upheld", "objection_rejected", "decision_delivered", "removal_requested",
          "early_removal_approved", "early_removal_rejected", "early_removal_proposed_approve", "expired", "revisit",
          "annul_deferred", "published")
PENALTY_EVENTS = ("tracked", "penalty_revoked", "penalty_changed", "repair_notice_issued", "repair_notice_delivered",
                  "publicity_ended", "repair_requested", "penalty_repair_proposed_approve",
                  "penalty_repair_proposed_reject", "repair_approved", "repair_rejected")
OTHER_TOKENS = ("pending", "waived", "upheld", "rejected", "received", "approved", "revoked", "publicising",
                "not_published", "repaired", "ended", "general", "serious", "safety_production", "minor", "system",
                "early_removal", "penalty_repair")


def _visible_text(html: str) -> str:
    import html as html_lib

    text = re.sub(r"<code>.*?</code>", " ", html, flags=re.S)  # identifiers (case and record ids) stay codes
    text = re.sub(r"<(script|style|title)[^>]*>.*?</\1>", " ", text, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", text))


def test_credit_pages_show_no_raw_state_or_action_token(world):
    """#18.4: the pages said `decide_listing`, `candidate`, `propose:issue_notice`, `waived`; every state, action
    and status is now shown in Chinese."""
    now, case_id = wh.now_iso(), "SX-art7_1-EV"
    with world["engine"].begin() as conn:
        conn.execute(wh.credit_case.insert().values(
            case_id=case_id, situation_id="art7_1", party_key=CLEAN, party_type="法人及非法人组织",
            party_name="珠海源泰新材料有限公司", state="notice_delivered", facts="无证经营", basis="部令11号第七条",
            authority_name="珠海市应急管理局", authority_uscc=MAJOR, created_on=TODAY, updated_at=now,
            pending_action="decide_listing", proposed_by="chief", proposed_at=now))
        for i, action in enumerate(EVENTS):
            conn.execute(wh.credit_event.insert().values(
                subject_id=case_id, action=action, from_state=CASE_STATES[i % len(CASE_STATES)],
                to_state=CASE_STATES[(i + 1) % len(CASE_STATES)], actor="system" if i % 2 else "chief",
                on_date=TODAY, at=now))
        for action in PENALTY_EVENTS:
            conn.execute(wh.credit_event.insert().values(subject_id="case_db:D9002", action=action, actor="system",
                                                         on_date=TODAY, at=now))
        for i, status in enumerate(("pending", "waived", "upheld", "rejected")):
            conn.execute(wh.credit_objection.insert().values(case_id=case_id, received_on=TODAY, content=f"申辩{i}",
                                                             status=status, recorded_by="reviewer1", at=now))
        for i, status in enumerate(("received", "approved", "rejected", "revoked")):
            conn.execute(wh.credit_request.insert().values(
                request_id=f"YC-EV-{i}", kind="early_removal", subject_id=case_id, party_key=CLEAN, received_on=TODAY,
                checks="[]", status=status, recorded_by="reviewer1", at=now))
            conn.execute(wh.credit_request.insert().values(
                request_id=f"XF-EV-{i}", kind="penalty_repair", subject_id="case_db:D9002", party_key=MAJOR,
                received_on=TODAY, checks="[]", status=status, recorded_by="reviewer1", at=now))
    client = browser(world, "viewer")
    paths = ["/creditflow/credit/", f"/creditflow/credit/case/{case_id}", "/creditflow/credit/penalties", "/creditflow/credit/penalty/case_db:D9001",
             "/creditflow/credit/penalty/case_db:D9002", *(f"/creditflow/credit/?state={s}" for s in CASE_STATES)]
    tokens = set(CASE_STATES + EVENTS + PENALTY_EVENTS + OTHER_TOKENS)
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, path
        text = _visible_text(page.text)
        raw = sorted(t for t in tokens if re.search(rf"(?<![\w:]){re.escape(t)}(?![\w:])", text))
        assert raw == [], (path, raw, [text[max(0, m.start() - 80):m.end() + 40] for t in raw for m in re.finditer(re.escape(t), text)][:3])
        assert "未知" not in text, path  # every token has its Chinese words
    case_page = re.sub(r"\s+", "", _visible_text(client.get(f"/creditflow/credit/case/{case_id}").text))
    # The words of the regulation's steps (部令第11号: 告知 → 陈述申辩 → 列入决定), not the tokens.
    assert "待批准：作出列入决定" in case_page and "已书面放弃" in case_page and "提出建议：发出列入告知书" in case_page
    assert "告知书已送达（陈述申辩期）" in case_page and "系统（自动办理）" in case_page


def test_credit_deadlines_are_marked_overdue_on_a_sunday_by_the_pages_clock(world):
    """#18.2: the credit pages printed plain dates on their own clock. On Sunday 6 December 2026 (the pages'
    ``clock.today``, overridden as for the 双公示 pages) a deadline of Friday 4 December has passed: "已逾期1个
    工作日" (creditflow.core.duedates.due_status: the due Friday has passed, Monday is the first working day it is
    still missing), in red; Monday's deadline leaves 1 working day (Monday itself). A duty already carried out
    (a decided request) shows its date only; the party's 陈述申辩期 ends (已届满) rather than falls overdue."""
    sunday = dt.date(2026, 12, 6)
    now = wh.now_iso()
    base = {"situation_id": "art7_1", "party_key": CLEAN, "party_type": "法人及非法人组织",
            "party_name": "珠海源泰新材料有限公司", "facts": "无证经营", "basis": "部令11号第七条",
            "authority_name": "珠海市应急管理局", "authority_uscc": MAJOR, "created_on": "2026-11-02", "updated_at": now}
    with world["engine"].begin() as conn:
        for row in [
            {**base, "case_id": "SX-art7_1-SUN", "state": "listed", "decided_on": "2026-11-30",
             "list_start": "2026-11-30", "list_end": "2029-11-30", "publication_due": "2026-12-04"},
            {**base, "case_id": "SX-art7_1-REV", "state": "revisit", "decided_on": "2026-06-01",
             "list_start": "2026-06-01", "list_end": "2029-06-01", "publication_due": "2026-06-04",
             "published_on": "2026-06-02", "revisit_due": "2026-12-07"},
            {**base, "case_id": "SX-art7_1-OBJ", "state": "notice_delivered", "notice_delivered_on": "2026-11-20",
             "objection_until": "2026-12-04"}]:
            conn.execute(wh.credit_case.insert().values(**row))
        conn.execute(wh.credit_request.insert(), [
            {"request_id": "YC-SUN-1", "kind": "early_removal", "subject_id": "SX-art7_1-SUN", "party_key": CLEAN,
             "received_on": "2026-11-20", "due_on": "2026-12-04", "checks": "[]", "status": "received",
             "recorded_by": "reviewer1", "at": now},
            {"request_id": "YC-SUN-2", "kind": "early_removal", "subject_id": "SX-art7_1-SUN", "party_key": CLEAN,
             "received_on": "2026-11-19", "due_on": "2026-12-03", "checks": "[]", "status": "rejected",
             "recorded_by": "reviewer1", "at": now}])
    from creditflow_ui import app, clock

    app.dependency_overrides[clock.today] = lambda: sunday
    try:
        client = browser(world, "viewer")
        listed, revisit, objection = (client.get(f"/creditflow/credit/case/SX-art7_1-{c}").text for c in ("SUN", "REV", "OBJ"))
    finally:
        app.dependency_overrides.pop(clock.today, None)
    overdue = re.findall(r'<span class="due bad overdue" data-state="overdue">([^<]*)<span class="late">([^<]*)</span>',
                         listed)
    # 公示时限 (not yet published) and the pending request's 办结 deadline: both Friday, both overdue
    assert [(d.strip(), label) for d, label in overdue] == [("2026-12-04", "已逾期1个工作日")] * 2
    assert '<span class="due" data-state="done">2026-12-03</span> 前办结' in listed  # decided: no status
    assert '<span class="due" data-state="open">2026-12-07（剩余1个工作日）</span>' in revisit  # 复核时限
    assert 'data-state="ended">2026-12-04（已届满）</span>' in objection and "overdue" not in objection


def test_a_case_events_basis_names_the_regulation_not_its_id(world):
    """#18.4: 办理记录's 依据 showed ``mem_order_11 …`` (the rule id lifecycle wrote); it is the regulation's title
    (data/credit/listing.yaml) — for events written before, and for those written now."""
    from creditflow.credit import rules

    title = rules.listing()["regulation"]["title_zh"]
    with world["engine"].begin() as conn:
        conn.execute(wh.credit_event.insert().values(
            subject_id="SX-art7_1-D1", action="issue_notice", from_state="candidate", to_state="notice_issued",
            actor="chief", on_date=TODAY, at=wh.now_iso(), basis="mem_order_11 列入前书面告知（参照行政处罚法）"))
    page = browser(world, "viewer").get("/creditflow/credit/case/SX-art7_1-D1").text
    assert "mem_order_11" not in page and f"{title} 列入前书面告知（参照行政处罚法）" in page


def test_the_integrity_api_refuses_an_unknown_purpose_in_chinese(world):
    from fastapi.testclient import TestClient

    api = TestClient(world["app"], headers={"Authorization": f"Bearer {token(world, 'viewer')}"})
    answer = api.get("/creditflow/api/integrity", params={"code": CLEAN, "purpose": "nonsense"})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail.startswith("未知的用途“nonsense”，应为以下之一：licensing（安全生产许可审批）")
    assert "unknown purpose" not in detail and "procurement（政府采购）" in detail


def test_the_old_credit_prefix_redirects_into_the_one_app(world):
    """信用管理 was a second app at ``/credit`` until #17: bookmarks and licensing systems' configured URLs get a
    308 (method and body kept) to the same page in the one app, the integrity API to ``/creditflow/api/…``."""
    from fastapi.testclient import TestClient

    client = TestClient(world["app"])
    for old, new in (("/credit/", "/creditflow/credit/"), ("/credit/case/SX-1?x=1", "/creditflow/credit/case/SX-1?x=1"),
                     ("/credit/api/integrity?code=X", "/creditflow/api/integrity?code=X")):
        r = client.get(old, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (308, new), old
    jwt = token(world, "viewer")
    moved = TestClient(world["app"], headers={"Authorization": f"Bearer {jwt}"}).post(
        "/credit/api/integrity", json={"codes": [CLEAN]})
    assert moved.status_code == 200 and moved.json()["answers"][0]["code"] == CLEAN


def test_one_app_one_menu_every_page_listed(world):
    """One app mounted once under /creditflow (plus the 308 of the old prefix); the menu lists every page."""
    from creditflow_plugin import CreditflowPlugin
    from creditflow_ui import app
    from starlette.routing import Mount

    mounts = {r.path: r.app for r in world["app"].routes if isinstance(r, Mount)}
    assert mounts["/creditflow"] is app
    assert [p for p, a in mounts.items() if a is app] == ["/creditflow"]
    hrefs = {v["href"] for v in CreditflowPlugin.external_views}
    pages = {f"/creditflow{r.path}" for r in app.routes if "GET" in getattr(r, "methods", ()) and "{" not in r.path
             and "/api/" not in r.path}
    assert pages <= hrefs, pages - hrefs
