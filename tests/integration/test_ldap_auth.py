"""The production sign-in (#19 §1): Airflow's FAB auth manager, people from the bureau's directory (LDAP).

A real OpenLDAP server (Debian's slapd, ``creditflow_sandbox.directory``) in a temporary folder with the
demo's people and one group per role, and a real ``airflow api-server`` in production shape
(``scripts/airflow_env.py fab_ldap_env``, ``config/webserver_config.py``), set up by the deployment's init
step (``airflow db migrate``, ``python -m creditflow_airflow.fab_roles``). People sign in through FAB's login
form and ``POST /auth/token``; the creditflow pages then see the roles their groups give them. The review
and credit role tests of the demo shape (test_plugin_routes, test_credit_plugin) run here again on this shape.

With CI set, a missing slapd or python-ldap fails the module instead of skipping it (``make ldap-deps``).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.core import warehouse as wh
from creditflow_sandbox import directory as ldap_dir

from tests.integration.test_credit_plugin import _seed as seed_credit
from tests.integration.test_plugin_routes import audit, csrf_of, decide, seed_review

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
JWT_SECONDS = 600  # [api_auth] jwt_expiration_time of this server (the production default is 1800)
CASE = "/creditflow/credit/case/SX-art7_1-D4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_ldap() -> None:
    missing = []
    if not ldap_dir.available():
        missing.append("slapd / ldap-utils")
    try:
        import ldap  # noqa: F401
    except ImportError:
        missing.append("python-ldap")
    if missing:
        reason = f"{' and '.join(missing)} not installed (make ldap-deps, make install)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the LDAP sign-in tests: {reason}")
        pytest.skip(reason)


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{what} failed:\n{(r.stderr or r.stdout)[-3000:]}"


@pytest.fixture(scope="module")
def fab(tmp_path_factory, module_db_url):
    _require_ldap()
    from airflow_env import airflow_env, fab_ldap_env

    root = tmp_path_factory.mktemp("fab")
    directory = ldap_dir.Directory.start(root / "slapd", _free_port())
    server = None
    try:
        engine = wh.engine_from_url(module_db_url)
        wh.upgrade(engine)
        seed_credit(engine)
        port = _free_port()
        home = root / "airflow"
        env = {**os.environ, **airflow_env(home, port),
               **fab_ldap_env(home, directory.fab_env(), jwt_expiration=JWT_SECONDS)}
        env.update({
            "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins")]),
            "AIRFLOW_CONN_CREDITFLOW_DB": json.dumps({"conn_type": "generic",
                                                      "extra": {"sqlalchemy_url": module_db_url}}),
            "CREDITFLOW_VAR": str(root / "var"),
            # POST /auth/token (creditflow_ui.loginlimit): loose enough for this module's sign-ins, tight for the test
            "CREDITFLOW_TOKEN_RATE_LIMIT": "8 per 15 second", "CREDITFLOW_TOKEN_RATE_LIMIT_ADDRESS": "300 per minute",
        })
        # The deployment's init step, then the API server (scripts/cluster.py does the same).
        _run([sys.executable, "-m", "airflow", "db", "migrate"], env, "airflow db migrate")
        _run([sys.executable, "-m", "creditflow_airflow.fab_roles"], env, "the roles' init step")
        log = (root / "api-server.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1",
                                   "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        import httpx

        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the API server did not start:\n"
                            + (root / "api-server.log").read_text(errors="replace")[-3000:])
            time.sleep(1)
        yield {"url": url, "directory": directory, "engine": engine, "home": home,
               "metadata": sa.create_engine(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])}
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
        directory.stop()


def sign_in(fab, username: str, password: str | None = None):
    import httpx

    return httpx.post(f"{fab['url']}/auth/token", json={"username": username, "password": password or username},
                      timeout=60)


def browser(fab, username: str):
    import httpx

    r = sign_in(fab, username)
    assert r.status_code == 201, r.text
    return httpx.Client(base_url=fab["url"], cookies={"_token": r.json()["access_token"]},
                        headers={"Accept": "text/html"}, timeout=60)


def airflow_roles(fab, username: str) -> set[str]:
    """The roles the auth manager keeps for ``username`` (written at their last login), less Public: FAB gives
    every account its registration role, which has no permission."""
    q = sa.text("SELECT r.name FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id "
                "JOIN ab_role r ON r.id = ur.role_id WHERE u.username = :u")
    with fab["metadata"].connect() as conn:
        return {row[0] for row in conn.execute(q, {"u": username})} - {"Public"}


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_people_sign_in_with_their_directory_password_and_nobody_else_does(fab):
    import httpx

    assert sign_in(fab, "chief").status_code == 201
    assert sign_in(fab, "chief", "wrong-password").status_code == 401
    assert sign_in(fab, "nobody").status_code == 401  # not in the directory
    # The login form (what a person's browser uses): FAB's LDAP login, then Airflow's session cookie.
    with httpx.Client(base_url=fab["url"], timeout=60) as form:
        page = form.get("/auth/login/")
        assert page.status_code == 200
        csrf = page.text.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
        r = form.post("/auth/login/", data={"username": "reviewer1", "password": "reviewer1", "csrf_token": csrf})
        assert r.status_code == 302 and "_token" in form.cookies
        review = form.get("/creditflow/review", headers={"Accept": "text/html"})
        assert review.status_code == 200 and "待审核记录" in review.text
    with httpx.Client(base_url=fab["url"], timeout=60) as anonymous:
        assert anonymous.get("/creditflow/review", headers={"Accept": "text/html"}).status_code in (401, 403)


def test_roles_come_from_the_directory_groups(fab):
    for user in ("chief", "viewer", "admin", "reviewer1"):
        assert sign_in(fab, user).status_code == 201
    assert airflow_roles(fab, "chief") == {"经办科室审核", "法规科审核", "信用管理"}
    assert airflow_roles(fab, "reviewer1") == {"经办科室审核", "信用管理"}
    assert airflow_roles(fab, "viewer") == {"查看"}
    assert airflow_roles(fab, "admin") == {"运维"}
    # The roles' Airflow permissions (creditflow_airflow.fab_roles): 运维 manages connections, the others do not.
    admin, viewer, reviewer = browser(fab, "admin"), browser(fab, "viewer"), browser(fab, "reviewer1")
    assert admin.get("/api/v2/connections").status_code == 200
    assert viewer.get("/api/v2/connections").status_code == 403
    assert reviewer.get("/api/v2/connections").status_code == 403
    assert viewer.get("/api/v2/dags").status_code == 200  # 查看 reads


def test_one_person_never_decides_two_levels_under_the_fab_manager(fab):
    rid = "case_db:fab-sod-1"
    seed_review(fab["engine"], rid)
    chief, reviewer2, viewer, admin = (browser(fab, u) for u in ("chief", "reviewer2", "viewer", "admin"))
    assert decide(viewer, rid, 1, csrf_of(viewer)).status_code == 403  # 查看 looks only
    assert decide(admin, rid, 1, csrf_of(admin)).status_code == 403  # 运维 is no reviewer
    assert decide(reviewer2, rid, 1, csrf_of(reviewer2)).status_code == 403  # 法规科审核 is level 2
    assert decide(chief, rid, 1, csrf_of(chief), comment="核对无误").status_code == 303
    again = decide(chief, rid, 2, csrf_of(chief))
    assert again.status_code == 409 and "同一人不得审核同一记录的两个层级" in again.text
    assert decide(reviewer2, rid, 2, csrf_of(reviewer2)).status_code == 303
    deciders = [who for _level, who, _source in audit(fab["engine"], rid)]
    assert sorted(deciders) == ["chief", "reviewer2"]  # the audit names the login, not FAB's numeric user id


def test_a_directory_account_in_none_of_the_groups_sees_nothing(fab):
    """FAB gives every account the Public role: someone of the directory in no creditflow group is refused."""
    directory = fab["directory"]
    directory.add_member("查看", "admin")  # a groupOfNames keeps at least one member
    directory.remove_member("查看", "viewer")
    try:
        nobody = browser(fab, "viewer")
        assert airflow_roles(fab, "viewer") == set()
        for path in ("/creditflow/review", "/creditflow/dashboard", "/creditflow/credit/"):
            r = nobody.get(path)
            assert r.status_code == 403 and "未加入" in r.text, (path, r.status_code)
    finally:
        directory.add_member("查看", "viewer")
        directory.remove_member("查看", "admin")
    assert browser(fab, "viewer").get("/creditflow/review").status_code == 200


def test_sign_in_through_the_api_is_rate_limited_per_person_and_address(fab):
    """POST /auth/token: Airflow limits only the login form; creditflow_ui.loginlimit counts API sign-ins too."""
    time.sleep(15)  # a fresh window for this module's limit (8 per 15 s per address and name)
    codes = [sign_in(fab, "admin", f"guess{i}").status_code for i in range(10)]
    assert codes[:8] == [401] * 8 and codes[8:] == [429, 429], codes
    refused = sign_in(fab, "admin")
    assert refused.status_code == 429 and "过于频繁" in refused.json()["detail"] and refused.headers["retry-after"]
    assert sign_in(fab, "reviewer2").status_code == 201  # another person from the same address is not held up


def test_no_one_approves_their_own_credit_proposal_under_the_fab_manager(fab):
    officer, approver, viewer = browser(fab, "chief"), browser(fab, "reviewer2"), browser(fab, "viewer")

    def csrf(client) -> str:
        return client.get(CASE).text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]

    form = {"action": "issue_notice", "note": "线索属实"}
    assert viewer.post(f"{CASE}/propose", data={**form, "csrf_token": csrf(viewer)}).status_code == 403
    assert officer.post(f"{CASE}/propose", data={**form, "csrf_token": csrf(officer)}).status_code == 303
    own = officer.post(f"{CASE}/approve", data={"accept": "yes", "csrf_token": csrf(officer)})
    assert own.status_code == 403 and "同一人" in own.text
    assert approver.post(f"{CASE}/approve", data={"accept": "yes", "csrf_token": csrf(approver)}).status_code == 303


def test_a_person_taken_out_of_a_group_loses_the_right_at_the_next_login(fab):
    rid = "case_db:fab-removed-1"
    seed_review(fab["engine"], rid)
    before = browser(fab, "reviewer1")
    assert "经办科室审核" in airflow_roles(fab, "reviewer1")
    assert 'method="post"' in before.get("/creditflow/review").text  # a decision form for them
    directory = fab["directory"]
    directory.remove_member("经办科室审核", "reviewer1")
    try:
        after = browser(fab, "reviewer1")  # the next login reads the groups again
        assert airflow_roles(fab, "reviewer1") == {"信用管理"}
        r = decide(after, rid, 1, csrf_of(after))
        assert r.status_code == 403 and "无权" in r.text
        # The session opened before the change holds the account's roles as that login wrote them ([fab]
        # cache_ttl 0): once the person has logged in again, it no longer carries the role either.
        assert decide(before, rid, 1, csrf_of(before)).status_code == 403
        assert audit(fab["engine"], rid) == []
    finally:
        directory.add_member("经办科室审核", "reviewer1")
    again = browser(fab, "reviewer1")
    assert decide(again, rid, 1, csrf_of(again)).status_code == 303  # back in the group, back the right


def test_tokens_expire(fab):
    import jwt

    token = sign_in(fab, "viewer").json()["access_token"]
    claims = _claims(token)
    assert claims["exp"] - claims["iat"] == JWT_SECONDS
    # The same claims signed with the server's own key: accepted while valid, refused once expired.
    secret = (fab["home"] / "jwt.secret").read_text().strip()
    header = jwt.get_unverified_header(token)

    def signed(**change: int) -> str:
        return jwt.encode({**claims, **change}, secret, algorithm=header["alg"], headers={"kid": header.get("kid")})

    now = int(time.time())
    import httpx

    def dags(tok: str) -> int:
        return httpx.get(f"{fab['url']}/api/v2/dags", headers={"Authorization": f"Bearer {tok}"}, timeout=60).status_code

    assert dags(signed(iat=now - 10, nbf=now - 10, exp=now + 60)) == 200
    assert dags(signed(iat=now - JWT_SECONDS - 10, nbf=now - JWT_SECONDS - 10, exp=now - 10)) == 401
    expired = httpx.get(f"{fab['url']}/creditflow/review", timeout=60, headers={"Accept": "text/html"},
                        cookies={"_token": signed(iat=now - JWT_SECONDS - 10, nbf=now - JWT_SECONDS - 10,
                                                  exp=now - 10)})
    assert expired.status_code in (401, 403)


def test_login_is_rate_limited(fab):
    """Last in the module: the login form's limit (5 per 40 s per address) then refuses this address."""
    import httpx

    with httpx.Client(base_url=fab["url"], timeout=60) as form:
        page = form.get("/auth/login/")
        csrf = page.text.split('name="csrf_token"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
        codes = [form.post("/auth/login/", data={"username": "chief", "password": f"guess{i}", "csrf_token": csrf}
                           ).status_code for i in range(7)]
        assert 429 in codes, codes
        assert codes.index(429) <= 5, codes  # at most five tries (one form login of the first test counts too)
        right = form.post("/auth/login/", data={"username": "chief", "password": "chief", "csrf_token": csrf})
        assert right.status_code == 429  # even the right password, until the window has passed
