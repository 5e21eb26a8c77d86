"""The creditflow pages inside Airflow's own API server app (``create_app``: the plugin mounted at
``/creditflow`` exactly as ``airflow api-server`` mounts it), logged in through the real auth path
(SimpleAuthManager's ``POST /auth/token`` with the demo users of ``scripts/airflow_env.py``; the JWT
as the UI's ``_token`` session cookie). The review roster is the demo's ``review_roles.demo.yaml``:
reviewer1 level 1, reviewer2 level 2, chief either level, viewer and admin neither."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from airflow_env import DEMO_ROSTERS
from creditflow.common import contains_unmasked_id
from creditflow.core import warehouse as wh

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERSON_ID = "440402199001010014"
URL_ATTR = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+)""", re.IGNORECASE)
LOCAL_HOSTS = {"testserver", "localhost", "127.0.0.1"}


@pytest.fixture(scope="module")
def world(airflow_home, module_db_url, tmp_path_factory):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    var = tmp_path_factory.mktemp("var")
    engine = wh.engine_from_url(module_db_url)
    wh.create_schema(engine)
    _seed_pages(engine)
    _store_validation_result(var / "gx")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_CREDITFLOW_DB",
                  json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": module_db_url}}))
        mp.setenv("CREDITFLOW_VAR", str(var))
        mp.setenv("CREDITFLOW_REVIEW_ROLES", str(DEMO_ROSTERS["CREDITFLOW_REVIEW_ROLES"]))  # the demo's roster: its user names
        from airflow.api_fastapi.app import create_app
        from creditflow_ui import state

        state.close()  # a new API server: the app's shared engine is this module's warehouse, not the last one's
        yield {"app": create_app("core"), "engine": engine, "var": var}
        state.close()


def _seed_pages(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(wh.run_summary.insert().values(
            run_key="sgs_penalty|2026-11-03", kind="penalty", dag_id="sgs_penalty",
            interval_start="2026-11-03T00:00:00+08:00", interval_end="2026-11-04T00:00:00+08:00", extracted=5,
            uploaded=3, quarantined=1, awaiting_review=1, unchanged=0, duplicates=0, late=0, due_soon=1,
            rejected_files=0, reconciled=True, written_at="2026-11-04T06:10:00+00:00"))
        conn.execute(wh.outcomes.insert().values(run_key="sgs_penalty|2026-11-03", record_id="case_db:q1",
                                                 kind="penalty", outcome="quarantined", due_date="2026-11-12"))
        conn.execute(wh.findings.insert().values(
            run_key="sgs_penalty|2026-11-03", record_id="case_db:q1", field="CF_XDR_ZJHM", rule_id="RIC_INVALID",
            kind="penalty", severity="error", message_zh=f"身份证号{PERSON_ID}校验位错误"))


def _store_validation_result(gx_root) -> None:
    """A real GX 1.24 result, kept where and how the validate stage keeps it."""
    from zoneinfo import ZoneInfo

    from creditflow.reporting import standardise as st
    from creditflow.reporting.pipeline.common import Run
    from creditflow.reporting.pipeline.validate import _store_result
    from creditflow.reporting.validation import validate_gx

    base = {"CF_XDR_MC": "李四", "CF_XDR_LB": "自然人", "CF_XDR_ZJLX": "身份证", "CF_XDR_ZJHM": PERSON_ID,
            "CF_WSH": "珠应急罚〔2026〕1号", "CF_WFXW": "未按规定培训", "CF_SY": "经查", "CF_YJ": "安全生产法",
            "CF_CFLB": "罚款", "CF_NR": "罚款人民币2万元", "CF_NR_FK": "2", "CF_JDRQ": "2026-11-02",
            "CF_YXQ": "2027-11-02", "CF_CFJG": "珠海市应急管理局", "CF_CFJGDM": "11230500001755309F",
            "CF_SJLY": "珠海市应急管理局", "CF_SJLYDM": "11230500001755309F"}
    rows = [{**base, "_source_key": "1"}, {**base, "CF_SY": None, "CF_XDR_ZJHM": "440402199001010015",
                                           "_source_key": "2"}]
    frame = st.standardise(st.map_source_rows(rows, "district_file", "penalty"), "penalty")
    _, result = validate_gx(frame, "penalty", dt.date(2026, 11, 3))
    start = dt.datetime(2026, 11, 3, tzinfo=ZoneInfo("Asia/Shanghai"))
    gx_root.mkdir(parents=True, exist_ok=True)
    _store_result(gx_root, result, Run(dag_id="sgs_penalty", kind="penalty", start=start,
                                       end=start + dt.timedelta(days=1)))


def seed_review(engine: sa.Engine, rid: str, reason: str = "natural_person") -> None:
    with engine.begin() as conn:
        conn.execute(wh.reviews.insert().values(
            record_id=rid, content_hash="h1", op="create", kind="penalty", natural_key=f"doc|{PERSON_ID}",
            reason=reason, related_record=None, levels_required="1,2", status="pending", due_date="2026-11-12",
            created_run_key="sgs_penalty|2026-11-03", created_at="2026-11-04T06:00:00+00:00"))
        conn.execute(wh.standardised.insert().values(
            run_key="sgs_penalty|2026-11-03", record_id=rid, kind="penalty", source_system="district_file",
            content_hash="h1", body_hash="b", payload=json.dumps(
                {"CF_XDR_MC": "李四", "CF_XDR_LB": "自然人", "CF_XDR_ZJHM": PERSON_ID, "CF_WSH": "珠应急罚〔2026〕7号"},
                ensure_ascii=False)))


def audit(engine: sa.Engine, rid: str) -> list[tuple[int, str, str]]:
    from creditflow.reporting import review

    return sorted((a["level"], a["reviewer"], a["source"]) for a in review.audit_trail(engine, record_id=rid))


def login(world, username: str):
    from fastapi.testclient import TestClient

    anonymous = TestClient(world["app"])
    r = anonymous.post("/auth/token", json={"username": username, "password": username})
    assert r.status_code == 201, r.text
    return TestClient(world["app"], cookies={"_token": r.json()["access_token"]}, headers={"Accept": "text/html"})


def csrf_of(client) -> str:
    page = client.get("/creditflow/review")
    assert page.status_code == 200
    m = re.search(r'<meta name="csrf-token" content="([a-p]{64})">', page.text)
    assert m, "the page carries no CSRF token"
    forms = re.findall(r'name="csrf_token" value="([a-p]{64})"', page.text)
    assert set(forms) <= {m.group(1)}  # every form carries the session's token
    return m.group(1)


def decide(client, rid: str, level: int, csrf: str | None, decision: str = "approve", headers=None, comment=""):
    from creditflow.reporting.review import review_key

    form = {"review_key": review_key(rid, "h1", "create"), "level": str(level), "decision": decision,
            "comment": comment}
    if csrf is not None:
        form["csrf_token"] = csrf
    return client.post("/creditflow/review/decide", data=form, headers=headers or {}, follow_redirects=False)


PAGES = ("/creditflow/", "/creditflow/review", "/creditflow/review/audit", "/creditflow/quarantine",
         "/creditflow/quality", "/creditflow/quality?kind=license", "/creditflow/quality?kind=coercion")


def test_every_page_needs_an_airflow_login(world):
    from fastapi.testclient import TestClient

    anonymous = TestClient(world["app"])
    for path in (*PAGES, "/creditflow/api/summary"):
        assert anonymous.get(path).status_code == 401, path
    r = anonymous.post("/creditflow/review/decide", data={"review_key": "a" * 20, "level": "1",
                                                         "decision": "approve"})
    assert r.status_code == 401
    forged = TestClient(world["app"], cookies={"_token": "not-a-jwt"})
    assert forged.get("/creditflow/review").status_code in (401, 403)


def test_pages_render_chinese_masked_and_load_nothing_from_another_host(world):
    seed_review(world["engine"], f"district_file:香洲区_{PERSON_ID}.xlsx#3")
    client = login(world, "viewer")
    index = client.get("/creditflow/quality")
    runs = re.findall(r'href="(/creditflow/quality/penalty/[^"]+)"', index.text)
    assert runs == ["/creditflow/quality/penalty/sgs_penalty_2026-11-03"], index.text[-2000:]
    css = re.findall(r'href="(/creditflow/static/[^"]+\.css)"', index.text)
    assert css and client.get(css[0]).status_code == 200
    expected = {"/creditflow/": "双公示运行概况", "/creditflow/review": "待审核记录", "/creditflow/review/audit": "审核记录",
                "/creditflow/quarantine": "问题数据", "/creditflow/quality": "数据质量报告", runs[0]: "未通过"}
    for path in (*PAGES, runs[0]):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert "default-src 'none'" in page.headers["content-security-policy"]
        foreign = [u for u in URL_ATTR.findall(page.text) if urlsplit(u if "//" in u else "//" + u).hostname
                   not in LOCAL_HOSTS]
        assert foreign == [], (path, foreign)
        assert not contains_unmasked_id(page.text), path
        if path in expected:
            assert expected[path] in page.text, path
    review_page = client.get("/creditflow/review").text
    assert "香洲区_4404**********0014.xlsx#3" in review_page and "仅查看" in review_page
    detail = client.get(runs[0]).text
    failed = re.search(r'<tr class="fail">\s*<td class="bad">未通过</td>\s*<td>([^<]+)<br><code>CF_SY</code>', detail)
    assert failed, "the missing 违法事实 of one record is a failed check on the report"


def test_a_record_whose_id_holds_an_id_number_is_decided_through_its_form(world):
    rid = f"district_file:金湾区_{PERSON_ID}.xlsx#9"
    seed_review(world["engine"], rid)
    client = login(world, "reviewer1")
    page = client.get("/creditflow/review").text
    row = page[page.index("金湾区_4404**********0014.xlsx#9"):]
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', row[:row.index("</form>")]))
    assert set(form) == {"csrf_token", "review_key", "level", "decision"} and PERSON_ID not in page
    r = client.post("/creditflow/review/decide", data={**form, "comment": ""}, follow_redirects=False)
    assert r.status_code == 303
    assert audit(world["engine"], rid) == [(1, "reviewer1", "page")]


def test_a_viewer_may_look_but_never_decide(world):
    rid = "case_db:viewer-1"
    seed_review(world["engine"], rid)
    client = login(world, "viewer")
    page = client.get("/creditflow/review").text
    assert rid in page and 'method="post"' not in page  # no decision form for a viewer
    # Even with a valid form token of their own session, the decision is refused.
    r = decide(client, rid, 1, csrf_of(client))
    assert r.status_code == 403 and "无权" in r.text
    assert audit(world["engine"], rid) == []


def test_admin_alone_cannot_approve_a_level(world):
    rid = "case_db:admin-1"
    seed_review(world["engine"], rid)
    admin = login(world, "admin")
    assert decide(admin, rid, 1, csrf_of(admin)).status_code == 403
    assert audit(world["engine"], rid) == []


def test_the_same_person_cannot_decide_the_second_level(world):
    rid = "case_db:sod-1"
    seed_review(world["engine"], rid)
    chief, reviewer2 = login(world, "chief"), login(world, "reviewer2")
    assert decide(chief, rid, 1, csrf_of(chief), comment="核对无误").status_code == 303
    again = decide(chief, rid, 2, csrf_of(chief))
    assert again.status_code == 409
    assert "同一人不得审核同一记录的两个层级" in again.text
    assert "您已审核第1级" in chief.get("/creditflow/review").text  # the page says so before anyone tries
    assert decide(reviewer2, rid, 2, csrf_of(reviewer2)).status_code == 303
    assert audit(world["engine"], rid) == [(1, "chief", "page"), (2, "reviewer2", "page")]
    with world["engine"].connect() as conn:
        status = conn.execute(sa.select(wh.reviews.c.status).where(wh.reviews.c.record_id == rid)).scalar()
    assert status == "approved"


def test_cross_site_posts_are_refused(world):
    rid = "case_db:csrf-1"
    seed_review(world["engine"], rid)
    reviewer1, chief = login(world, "reviewer1"), login(world, "chief")
    mine = csrf_of(reviewer1)
    attempts = [
        decide(reviewer1, rid, 1, None),  # no token: a plain cross-site form
        decide(reviewer1, rid, 1, "0" * 64),  # a made-up token
        decide(reviewer1, rid, 1, csrf_of(chief)),  # another session's token
        decide(reviewer1, rid, 1, mine, headers={"Origin": "http://evil.example"}),
        decide(reviewer1, rid, 1, mine, headers={"Referer": "https://evil.example/page"}),
        decide(reviewer1, rid, 1, mine, headers={"Sec-Fetch-Site": "cross-site"}),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert audit(world["engine"], rid) == []
    ok = decide(reviewer1, rid, 1, mine, headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 303 and ok.headers["location"] == "/creditflow/review"
    assert audit(world["engine"], rid) == [(1, "reviewer1", "page")]


def test_every_accepted_decision_is_an_audit_row(world):
    engine = world["engine"]
    rids = ["case_db:audit-1", "case_db:audit-2"]
    for rid in rids:
        seed_review(engine, rid)
    reviewer1, reviewer2 = login(world, "reviewer1"), login(world, "reviewer2")
    assert decide(reviewer1, rids[0], 1, csrf_of(reviewer1), comment=f"证件号{PERSON_ID}已核对").status_code == 303
    assert decide(reviewer1, rids[1], 1, csrf_of(reviewer1), decision="reject").status_code == 303
    assert decide(reviewer2, rids[0], 2, csrf_of(reviewer2)).status_code == 303
    assert decide(reviewer2, rids[1], 2, csrf_of(reviewer2)).status_code == 409  # closed by the reject
    assert audit(engine, rids[0]) == [(1, "reviewer1", "page"), (2, "reviewer2", "page")]
    assert audit(engine, rids[1]) == [(1, "reviewer1", "page")]
    page = reviewer2.get("/creditflow/review/audit").text
    for rid in rids:
        assert rid in page
    assert "审核页面" in page and "4404**********0014已核对" in page and PERSON_ID not in page
    with engine.connect() as conn:
        stored = conn.execute(sa.select(wh.review_decisions.c.comment).where(
            wh.review_decisions.c.record_id == rids[0], wh.review_decisions.c.level == 1)).scalar()
    assert PERSON_ID not in stored


def _downloads(client, area: str, text: str) -> list[str]:
    return re.findall(rf'href="/creditflow/dashboard/files/{area}/([^"]+)"', text)


def test_reports_plans_and_notices_download_from_the_local_var_folders(world):
    from urllib.parse import unquote

    var = world["var"]
    (var / "reports" / "2026-11").mkdir(parents=True)
    (var / "reports" / "2026-11" / "双公示月报.csv").write_text(f"名称,证件号\n李四,{PERSON_ID}\n", encoding="utf-8")
    (var / "reports" / ".2026-11.csv.tmp").write_text("half a file", encoding="utf-8")
    (var / "plans" / "2026").mkdir(parents=True)
    (var / "plans" / "2026" / "inspection_plan_2026.pdf").write_bytes(b"%PDF-1.7 plan")
    (var / "reports" / "leak.txt").symlink_to("/etc/hostname")  # a link out of the area is never served
    client = login(world, "viewer")
    page = client.get("/creditflow/dashboard").text
    reports = [unquote(x) for x in _downloads(client, "reports", page)]
    assert "2026-11/双公示月报.csv" in reports and not any(x.startswith(".") for x in reports)
    assert [unquote(x) for x in _downloads(client, "plans", page)] == ["2026/inspection_plan_2026.pdf"]
    r = client.get("/creditflow/dashboard/files/reports/2026-11/双公示月报.csv")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert "4404**********0014" in r.text and PERSON_ID not in r.text
    assert client.get("/creditflow/dashboard/files/plans/2026/inspection_plan_2026.pdf").content == b"%PDF-1.7 plan"
    for bad in ("reports/..%2F..%2Fetc%2Fpasswd", "reports/..%2Fplans%2F2026%2Finspection_plan_2026.pdf",
                "reports/.2026-11.csv.tmp", "reports/leak.txt", "reports/%2Fetc%2Fhostname.txt", "gx/x.json",
                "reports/2026-11/missing.csv"):
        assert client.get(f"/creditflow/dashboard/files/{bad}").status_code == 404, bad
    from fastapi.testclient import TestClient

    anonymous = TestClient(world["app"])
    assert anonymous.get("/creditflow/dashboard/files/reports/2026-11/双公示月报.csv").status_code == 401


def test_downloads_come_from_object_storage_when_configured(world, monkeypatch):
    """The storage Variable points at fsspec's memory:// filesystem: the dashboard lists and serves the
    files from there, and no longer from the local folder."""
    import uuid

    from creditflow.core.storage import Storage

    base = f"memory://creditflow-{uuid.uuid4().hex[:8]}"
    Storage.from_url(base).write_text("notices/2026/告知书.md", f"当事人证件号：{PERSON_ID}\n")
    (world["var"] / "notices").mkdir(exist_ok=True)
    (world["var"] / "notices" / "local-only.md").write_text("local", encoding="utf-8")
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_STORAGE_URL", base)
    client = login(world, "viewer")
    page = client.get("/creditflow/dashboard").text
    assert _downloads(client, "notices", page) == ["2026/%E5%91%8A%E7%9F%A5%E4%B9%A6.md"]
    r = client.get("/creditflow/dashboard/files/notices/2026/告知书.md")
    assert r.status_code == 200 and "4404**********0014" in r.text and PERSON_ID not in r.text
    assert client.get("/creditflow/dashboard/files/notices/local-only.md").status_code == 404
    assert client.get("/creditflow/dashboard/files/notices/..%2F..%2Fnotices%2F2026%2F告知书.md").status_code == 404


def test_an_unhandled_error_is_a_chinese_page_in_the_site_frame_and_a_masked_log(world, monkeypatch, caplog):
    """#18.4: a route that raises answers with the site's Chinese error page (status 500), never Starlette's bare
    "Internal Server Error"; the exception is logged server-side with its traceback, ID numbers masked."""
    import logging

    from creditflow.reporting import review

    rid = "case_db:crash-1"
    seed_review(world["engine"], rid)
    client = login(world, "reviewer1")

    def broken(*args, **kwargs):
        raise RuntimeError(f"warehouse went away while deciding for {PERSON_ID}")

    monkeypatch.setattr(review, "record_decision", broken)
    with caplog.at_level(logging.ERROR, logger="creditflow.ui.errors"):
        r = decide(client, rid, 1, csrf_of(client))
    assert r.status_code == 500
    assert "Internal Server Error" not in r.text and "系统内部错误" in r.text and "错误编号" in r.text
    assert "运行概况" in r.text and "审核记录" in r.text  # the site's own frame (menu), with a way back
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert PERSON_ID not in r.text and "RuntimeError" not in r.text  # the user never sees the traceback
    logged = caplog.text
    assert "Traceback" in logged and "RuntimeError" in logged and "broken" in logged
    assert PERSON_ID not in logged and "4404**********0014" in logged
    ref = re.search(r"错误编号 ([0-9a-f]{8})", r.text).group(1)
    assert ref in logged  # the number the clerk reports finds the log entry
    api = login(world, "reviewer1").get("/creditflow/api/summary", headers={"Accept": "application/json"})
    assert api.status_code == 200


def test_every_status_answers_in_chinese(world):
    """Starlette's own 404/405 and FastAPI's validation (422) say what is wrong in Chinese, inside the frame;
    the JSON API answers in Chinese JSON."""
    client = login(world, "reviewer1")
    missing = client.get("/creditflow/no-such-page")
    assert missing.status_code == 404 and "没有这个页面" in missing.text and "运行概况" in missing.text
    assert "Not Found" not in missing.text
    wrong_method = client.delete("/creditflow/review")
    assert wrong_method.status_code == 405 and "不支持" in wrong_method.text and "Method Not Allowed" not in wrong_method.text
    invalid = client.post("/creditflow/review/decide", data={"review_key": "not a key", "level": "x",
                                                             "csrf_token": csrf_of(client)})
    assert invalid.status_code == 422 and "提交的内容不完整或格式不对" in invalid.text
    # #18.4: fields named as the page labels them, not by their codes (review_key, level, decision)
    assert "审核记录标识格式不对；审核层级应为整数；审核决定缺少" in invalid.text and "review_key" not in invalid.text
    assert "请返回页面重新填写" in invalid.text
    as_json = client.post("/creditflow/review/decide", data={"review_key": "not a key", "level": "x",
                                                             "csrf_token": csrf_of(client)},
                          headers={"Accept": "application/json"})
    assert as_json.status_code == 422  # a program has no page to return to
    assert as_json.json()["detail"] == "提交的内容不完整或格式不对：审核记录标识格式不对；审核层级应为整数；审核决定缺少。"
    assert "field required" not in invalid.text.lower() and "运行概况" in invalid.text
    json_404 = client.get("/creditflow/api/nothing", headers={"Accept": "application/json"})
    assert json_404.status_code == 404 and json_404.json() == {"detail": "没有这个页面或记录，请检查链接。"}
    from fastapi.testclient import TestClient

    forged = TestClient(world["app"], cookies={"_token": "not-a-jwt"}, headers={"Accept": "text/html"})
    refused = forged.get("/creditflow/review")  # Airflow's own token check says why in English: Chinese first
    assert refused.status_code in (401, 403) and re.search(r'<p class="error">(请先登录|您没有)', refused.text)


def test_quarantine_names_the_record_by_doc_no_party_and_who_must_act(world):
    """#18.4: 问题数据 showed only `case_db:D00000814`. A clerk finds the record by its 文号, the party (an ID
    number masked) and the department that must act — data/reports/organisation.yaml: who_must_act
    case_db = "{department}（在执法案件系统中修正）", district_file = "{district}应急管理局（修正后重新报送表格）"."""
    run_key, engine = "sgs_penalty|2026-11-05", world["engine"]
    records = {
        "case_db:D00000814": ("case_db", "case_db:enforcement_case/D00000814", {"department": "危险化学品安全监督管理科"},
                              {"CF_WSH": "珠应急罚〔2026〕814号", "CF_XDR_MC": "珠海宏达化工有限公司",
                               "CF_XDR_SHXYM": "91440400MA4UABCD1N"}),
        "district_file:440402_香洲区_20261105_a.xlsx#4": (
            "district_file", "440402_香洲区_20261105_a.xlsx#4", {},
            {"CF_WSH": "香应急罚〔2026〕12号", "CF_XDR_MC": "王五", "CF_XDR_ZJHM": PERSON_ID})}
    with engine.begin() as conn:
        for rid, (source, lineage, raw, payload) in records.items():
            conn.execute(wh.outcomes.insert().values(run_key=run_key, record_id=rid, kind="penalty",
                                                     outcome="quarantined", due_date="2026-11-14"))
            conn.execute(wh.findings.insert().values(run_key=run_key, record_id=rid, field="CF_CFLB", kind="penalty",
                                                     rule_id="ENUM_CFLB", severity="error", message_zh="处罚类别不在代码表中"))
            conn.execute(wh.staging.insert().values(
                run_key=run_key, record_id=rid, kind="penalty", source_system=source, source_key=rid, lineage=lineage,
                interval_start="2026-11-05T00:00:00+08:00", extracted_at="2026-11-06T06:00:00+00:00",
                raw_payload=json.dumps(raw, ensure_ascii=False)))
            conn.execute(wh.standardised.insert().values(
                run_key=run_key, record_id=rid, kind="penalty", source_system=source, content_hash="h", body_hash="b",
                payload=json.dumps(payload, ensure_ascii=False)))
    page = login(world, "viewer").get("/creditflow/quarantine")
    assert page.status_code == 200
    text = re.sub(r"<[^>]+>", " ", page.text)
    row_case = text[text.index("珠应急罚〔2026〕814号"):]
    row_case = row_case[:row_case.index("case_db:D00000814")]
    assert "珠海宏达化工有限公司 91440400MA4UABCD1N" in row_case  # an organisation's USCC is public
    assert "危险化学品安全监督管理科（在执法案件系统中修正）" in row_case
    row_file = text[text.index("香应急罚〔2026〕12号"):]
    row_file = row_file[:row_file.index("440402_香洲区")]
    assert "王五 4404**********0014" in row_file and PERSON_ID not in page.text
    assert "区县应急管理局（香洲区）" in row_file and "香洲区应急管理局（修正后重新报送表格）" in row_file
    # The older row without staging (seeded for the other tests) still renders, its identity unknown.
    assert "case_db:q1" in page.text


def test_a_reviewer_sends_approved_records_now_through_an_ordinary_audited_run(world):
    """#18.5: "watch them go out with the next run" meant tomorrow 06:00. A reviewer's 立即上报 on 审核 queues an
    ordinary manual run of sgs_<kind> (no logical date: it processes the latest due day, under the same locks),
    refused for anyone the roster gives no level; who asked is recorded (the run and Airflow's audit log) and
    listed on 审核记录."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.log import Log
    from airflow.utils.session import create_session
    from sqlalchemy import select

    subprocess.run([sys.executable, "-m", "airflow", "dags", "reserialize"], check=True, capture_output=True,
                   env={**os.environ})
    with create_session() as session:  # as a new deployment leaves it (other test modules may have run it)
        session.get(DagModel, "sgs_penalty").is_paused = True
    reviewer, viewer = login(world, "reviewer1"), login(world, "viewer")
    page = reviewer.get("/creditflow/review").text
    assert 'action="/creditflow/review/send-now"' in page
    assert 'action="/creditflow/review/send-now"' not in viewer.get("/creditflow/review").text
    refused = viewer.post("/creditflow/review/send-now", data={"kind": "penalty", "csrf_token": csrf_of(viewer)},
                          follow_redirects=False)
    assert refused.status_code == 403 and "不是审核人员" in refused.text
    assert reviewer.post("/creditflow/review/send-now", data={"kind": "penalty"},
                         follow_redirects=False).status_code == 403  # no form token
    paused = reviewer.post("/creditflow/review/send-now", data={"kind": "penalty", "csrf_token": csrf_of(reviewer)},
                           follow_redirects=False)
    assert paused.status_code == 409 and "已暂停" in paused.text  # DAGs start paused: the run would never start
    with create_session() as session:
        session.get(DagModel, "sgs_penalty").is_paused = False
    sent = reviewer.post("/creditflow/review/send-now", data={"kind": "penalty", "csrf_token": csrf_of(reviewer)},
                         follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].endswith("/creditflow/review?sent=penalty")
    with create_session() as session:
        [run] = session.scalars(select(DagRun).where(DagRun.dag_id == "sgs_penalty",
                                                     DagRun.triggering_user_name == "reviewer1")).all()
        assert run.logical_date is None and run.run_type == "manual" and run.triggering_user_name == "reviewer1"
        first_id = run.id
        assert run.conf == {"send_now": True, "requested_by": "reviewer1"}
        [entry] = session.scalars(select(Log).where(Log.event == "creditflow.send_now",
                                                    Log.run_id == run.run_id)).all()
        assert (entry.owner, entry.dag_id, entry.run_id) == ("reviewer1", "sgs_penalty", run.run_id)
    again = reviewer.post("/creditflow/review/send-now", data={"kind": "penalty", "csrf_token": csrf_of(reviewer)},
                          follow_redirects=False)
    assert again.status_code == 409 and "已有一次运行在排队" in again.text  # one queued run is enough
    # A RUNNING run may be past its 决定 (decide) step: approvals made since would wait for tomorrow 06:00 if the
    # request were refused as before ("已审核通过的记录会随它上报" was untrue). The next run is queued
    # (max_active_runs=1 starts it after the running one) and the page says which approvals go with which run.
    with create_session() as session:
        session.get(DagRun, first_id).state = "running"
    behind = reviewer.post("/creditflow/review/send-now", data={"kind": "penalty", "csrf_token": csrf_of(reviewer)},
                           follow_redirects=False)
    assert behind.status_code == 303 and behind.headers["location"].endswith("?sent=penalty&behind=1")
    with create_session() as session:
        states = sorted(str(r.state) for r in session.scalars(select(DagRun).where(
            DagRun.dag_id == "sgs_penalty", DagRun.triggering_user_name == "reviewer1")).all())
    assert states == ["queued", "running"]
    told = re.sub(r"\s+", "", reviewer.get("/creditflow/review?sent=penalty&behind=1").text)
    assert "在它的“决定”步骤之前审核通过的记录随它上报；之后审核通过的由刚排队的这次运行上报" in told
    audit_page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", viewer.get("/creditflow/review/audit").text))
    assert "立即上报请求" in audit_page and "reviewer1 行政处罚 sgs_penalty" in audit_page


def test_the_pages_share_one_engine_created_in_the_apps_lifespan(world, monkeypatch):
    """#17 §6: the 双公示 pages built an engine (and a connection pool) per request. The app's shared state is
    created when Airflow's API server starts the lifespan of the mounted app (Airflow 3.3 enters every mounted
    FastAPI app's lifespan), reused by every page — 双公示 and credit — and closed at shutdown."""
    from creditflow.core import warehouse
    from creditflow_ui import state
    from fastapi.testclient import TestClient

    made = []
    real = warehouse.engine_from_url
    monkeypatch.setattr(warehouse, "engine_from_url", lambda url: made.append(url) or real(url))
    state.close()
    r = TestClient(world["app"]).post("/auth/token", json={"username": "viewer", "password": "viewer"})
    with TestClient(world["app"], cookies={"_token": r.json()["access_token"]}) as client:
        assert len(made) == 1 and state._ENGINES, "the lifespan did not create the engine"
        for path in (*PAGES, "/creditflow/dashboard", "/creditflow/credit/", "/creditflow/credit/penalties"):
            assert client.get(path).status_code == 200, path
        assert len(made) == 1, made
    assert not state._ENGINES  # closed with the server
    assert login(world, "viewer").get("/creditflow/").status_code == 200  # without a lifespan: made on first use
    assert len(made) == 2
