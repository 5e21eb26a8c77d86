"""Contract tests of the two HTTP sandboxes: every endpoint, auth failures, idempotency, fault knobs."""

from __future__ import annotations

import time

import pytest
import requests
from creditflow_sandbox import licensing, platform
from helpers import ServedApp

pytestmark = pytest.mark.integration
ADMIN = {"X-Admin-Token": "sandbox-admin"}
RECORD = {"CF_XDR_MC": "珠海甲化工有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "91230500MA1B3N1N2M",
          "CF_WSH": "珠应急罚[2026]1号", "CF_CFLB": "罚款", "CF_NR": "罚款人民币2万元", "CF_NR_FK": "2",
          "CF_JDRQ": "2026-11-02", "CF_CFJG": "珠海市应急管理局", "CF_CFJGDM": "11230500001755309F"}


@pytest.fixture
def pf(tmp_path):
    with ServedApp(platform.create_app(db_url=f"sqlite:///{tmp_path}/pf.sqlite", processing_seconds=0.2,
                                       token_ttl=60)) as app:
        yield app


def token(pf) -> dict:
    r = requests.post(pf.url + "/oauth/token", json={"app_key": "creditflow-demo", "app_secret": "demo-secret"})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def submit(pf, headers, records, key="k1", kind="penalty"):
    return requests.post(f"{pf.url}/api/v1/{kind}/batches", json={"records": records},
                         headers={**headers, "Idempotency-Key": key})


def receipts(pf, headers, batch_id):
    for _ in range(50):
        body = requests.get(f"{pf.url}/api/v1/batches/{batch_id}", headers=headers).json()
        if body["status"] == "done":
            return body["receipts"]
        time.sleep(0.05)
    raise AssertionError("batch never finished")


def test_auth_failures(pf):
    assert requests.post(pf.url + "/oauth/token", json={"app_key": "creditflow-demo", "app_secret": "x"}).status_code == 401
    assert submit(pf, {}, [{"op": "create", "data": RECORD}]).json()["code"] == "NO_TOKEN"
    assert submit(pf, {"Authorization": "Bearer nope"}, [{"op": "create", "data": RECORD}]).json()["code"] == "BAD_TOKEN"
    h = token(pf)
    pf.admin("POST", "/admin/expire-tokens")
    r = submit(pf, h, [{"op": "create", "data": RECORD}])
    assert r.status_code == 401 and r.json()["code"] == "TOKEN_EXPIRED"
    assert requests.get(pf.url + "/admin/records").status_code == 403


def test_batch_is_async_with_per_record_receipts(pf):
    h = token(pf)
    bad = {**RECORD, "CF_WSH": "珠应急罚〔2026〕2号", "CF_XDR_SHXYM": "91230500MA1B3N1N2X"}
    r = submit(pf, h, [{"op": "create", "data": RECORD}, {"op": "create", "data": bad}])
    assert r.status_code == 202
    bid = r.json()["batch_id"]
    assert requests.get(f"{pf.url}/api/v1/batches/{bid}", headers=h).json()["status"] == "processing"
    got = receipts(pf, h, bid)
    assert [x["status"] for x in got] == ["accepted", "rejected"]
    assert got[1]["code"] == "E102" and "统一社会信用代码" in got[1]["message"]
    assert got[0]["natural_key"] == "珠应急罚〔2026〕1号|91230500MA1B3N1N2M"


def test_idempotency_key_replays_and_refuses_other_bodies(pf):
    h = token(pf)
    first = submit(pf, h, [{"op": "create", "data": RECORD}]).json()
    again = submit(pf, h, [{"op": "create", "data": RECORD}]).json()
    assert again["batch_id"] == first["batch_id"] and again["replayed"]
    other = submit(pf, h, [{"op": "create", "data": {**RECORD, "CF_NR_FK": "3"}}])
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert submit(pf, h, [{"op": "create", "data": RECORD}], key="").status_code == 400


def test_identical_record_never_stored_twice_and_conflicts_need_correction(pf):
    h = token(pf)
    receipts(pf, h, submit(pf, h, [{"op": "create", "data": RECORD}], key="a").json()["batch_id"])
    same = receipts(pf, h, submit(pf, h, [{"op": "create", "data": RECORD}], key="b").json()["batch_id"])
    assert same[0]["status"] == "accepted" and same[0]["code"] == "A200"
    changed = {**RECORD, "CF_NR": "罚款人民币3万元", "CF_NR_FK": "3"}
    conflict = receipts(pf, h, submit(pf, h, [{"op": "create", "data": changed}], key="c").json()["batch_id"])
    assert conflict[0]["code"] == "E409"
    fixed = receipts(pf, h, submit(pf, h, [{"op": "correct", "data": changed}], key="d").json()["batch_id"])
    assert fixed[0]["status"] == "accepted" and fixed[0]["record_version"] == 2
    held = pf.admin("GET", "/admin/records")["records"]
    assert len(held) == 1 and held[0]["data"]["CF_NR_FK"] == "3"


def test_single_record_correct_and_withdraw_endpoints(pf):
    h = token(pf)
    r = requests.post(f"{pf.url}/api/v1/penalty/records/correct", json={"data": RECORD}, headers=h).json()
    assert r["code"] == "E404"
    receipts(pf, h, submit(pf, h, [{"op": "create", "data": RECORD}]).json()["batch_id"])
    w = requests.post(f"{pf.url}/api/v1/penalty/records/withdraw", json={"data": RECORD, "reason": "决定撤销"},
                      headers=h).json()
    assert w["status"] == "accepted"
    again = requests.post(f"{pf.url}/api/v1/penalty/records/withdraw", json={"data": RECORD}, headers=h).json()
    assert again["code"] == "A200"
    assert pf.admin("GET", "/admin/records?status=withdrawn")["records"][0]["version"] == 2
    assert requests.post(f"{pf.url}/api/v1/reward/records/withdraw", json={"data": RECORD}, headers=h).status_code == 404


@pytest.mark.parametrize(("fault", "expect"), [("500", 500), ("502", 502), ("503", 503), ("429", 429)])
def test_fault_queue(pf, fault, expect):
    h = token(pf)
    pf.admin("POST", "/admin/faults", json={"queue": [fault], "retry_after": 7})
    r = submit(pf, h, [{"op": "create", "data": RECORD}])
    assert r.status_code == expect
    if fault == "429":
        assert r.headers["Retry-After"] == "7"
    assert submit(pf, h, [{"op": "create", "data": RECORD}]).status_code == 202  # the queue is spent
    assert pf.admin("GET", "/admin/stats")["faults_injected"] == {fault: 1}


def test_drop_processes_the_request_then_cuts_the_connection(pf):
    h = token(pf)
    pf.admin("POST", "/admin/faults", json={"queue": ["drop"]})
    with pytest.raises(requests.exceptions.RequestException):
        submit(pf, h, [{"op": "create", "data": RECORD}], key="dropped")
    replay = submit(pf, h, [{"op": "create", "data": RECORD}], key="dropped").json()
    assert replay["replayed"]  # the first request did take effect


def test_hang_and_latency(pf):
    h = token(pf)
    pf.admin("POST", "/admin/faults", json={"queue": ["hang"], "hang_seconds": 2})
    with pytest.raises(requests.exceptions.Timeout):
        requests.post(f"{pf.url}/api/v1/penalty/batches", json={"records": [{"op": "create", "data": RECORD}]},
                      headers={**h, "Idempotency-Key": "x"}, timeout=0.5)
    pf.admin("POST", "/admin/faults", json={"latency_ms": 300})
    t = time.monotonic()
    requests.get(f"{pf.url}/api/v1/batches/none", headers=h)
    assert time.monotonic() - t >= 0.3


def test_error_rate_is_seeded_and_repeatable(pf):
    h = token(pf)
    codes = []
    for _ in range(2):
        pf.admin("POST", "/admin/faults", json={"error_rate": 0.5, "seed": 3})
        codes.append([requests.get(f"{pf.url}/api/v1/batches/x", headers=h).status_code for _ in range(12)])
    assert codes[0] == codes[1] and {404, 500, 502, 503} & set(codes[0]) and 404 in codes[0]
    assert requests.post(pf.url + "/admin/faults", json={"bogus": 1}, headers=ADMIN).status_code == 422


def test_persists_across_restart(tmp_path):
    url = f"sqlite:///{tmp_path}/pf.sqlite"
    with ServedApp(platform.create_app(db_url=url, processing_seconds=0)) as a:
        h = token(a)
        receipts(a, h, submit(a, h, [{"op": "create", "data": RECORD}]).json()["batch_id"])
    with ServedApp(platform.create_app(db_url=url)) as b:
        assert len(b.admin("GET", "/admin/records")["records"]) == 1
        assert requests.get(b.url + "/openapi.json").json()["info"]["title"].startswith("全国信用信息共享平台")


def test_licensing_api_paging_and_updated_since(tmp_path):
    items = [{"id": f"L{i:03d}", "updatedAt": f"2026-11-0{1 + i // 10}T10:00:{i % 60:02d}+08:00", "approvalNo": str(i)}
             for i in range(25)]
    with ServedApp(licensing.create_app(db_url=f"sqlite:///{tmp_path}/l.sqlite")) as ls:
        ls.admin("POST", "/admin/licences", json={"items": items})
        assert requests.post(ls.url + "/api/auth/token", json={"client_id": "creditflow",
                                                               "client_secret": "bad"}).status_code == 401
        assert requests.get(ls.url + "/api/v1/licences").status_code == 401
        tok = requests.post(ls.url + "/api/auth/token", json={"client_id": "creditflow",
                                                              "client_secret": "demo-licensing"}).json()["token"]
        h = {"Authorization": f"Bearer {tok}"}
        page1 = requests.get(ls.url + "/api/v1/licences", params={"page_size": 10}, headers=h).json()
        assert page1["total"] == 25 and page1["total_pages"] == 3 and len(page1["items"]) == 10
        since = requests.get(ls.url + "/api/v1/licences", headers=h, params={
            "updated_since": "2026-11-02T00:00:00+08:00", "updated_before": "2026-11-03T00:00:00+08:00"}).json()
        assert [i["id"] for i in since["items"]] == [f"L{i:03d}" for i in range(10, 20)]
        ls.admin("POST", "/admin/faults", json={"queue": ["503"]})
        assert requests.get(ls.url + "/api/v1/licences", headers=h).status_code == 503
        from helpers import licensing_client

        got = licensing_client(ls.url).licences("2026-11-01T00:00:00+08:00", "2026-12-01T00:00:00+08:00", page_size=7)
        assert len(got) == 25
