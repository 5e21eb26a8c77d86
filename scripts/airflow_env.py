"""The environment every Airflow process of this project runs with (demo, tests, CI).

One place decides AIRFLOW_HOME, folders, executor, auth and secrets, so that the api-server, the
scheduler, the dag-processor, the triggerer, the task workers and the tests agree.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _persistent_secret(home: Path, name: str, make) -> str:  # type: ignore[no-untyped-def]
    path = home / name
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _pii_connection(home: Path) -> str:
    """The personal-data keyring (#19 §3) as the connection ``creditflow_pii``: the deployment's own when its
    environment has one, else the demo's, generated once into its Airflow home (mode 0600, never in git)."""
    given = os.environ.get("AIRFLOW_CONN_CREDITFLOW_PII", "").strip()
    if given:
        return given
    path = home / "pii.conn"
    if not path.exists():
        from creditflow.core.pii import keys

        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(keys.connection_json(keys.generate_keyring()))
    return path.read_text().strip()


def _fernet() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# Demo logins (user: Airflow role). Who may decide at which review level is
# include/creditflow/data/rules/review_roles.demo.yaml: reviewer1 第1级 经办科室, reviewer2 第2级 法规科, chief
# either level (never both for one record); viewer and admin look at the 审核 page but never decide.
DEMO_USERS = {"admin": "admin", "reviewer1": "user", "reviewer2": "user", "chief": "user", "viewer": "viewer"}
# The Simple auth manager's roles are admin/op/user/viewer only: the demo's roster and credit roles name its
# users. Production (FAB auth manager, fab_ldap_env) uses the packaged files, which name roles.
DATA = ROOT / "include" / "creditflow" / "data"
DEMO_ROSTERS = {"CREDITFLOW_REVIEW_ROLES": DATA / "rules" / "review_roles.demo.yaml",
                "CREDITFLOW_CREDIT_ROLES": DATA / "credit" / "roles.demo.yaml"}


def airflow_env(home: Path | None = None, port: int = 8080) -> dict[str, str]:
    from creditflow.common import TIMEZONE_NAME

    home = (home or ROOT / ".airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "simple_auth_manager_passwords.json"
    known = json.loads(passwords.read_text()) if passwords.exists() else {}
    if set(DEMO_USERS) - set(known):  # demo password = user name; a changed password is kept
        passwords.write_text(json.dumps({**{u: u for u in DEMO_USERS}, **known}))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": TIMEZONE_NAME,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in DEMO_USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__FERNET_KEY": _persistent_secret(home, "fernet.key", _fernet),
        "AIRFLOW_CONN_CREDITFLOW_PII": _pii_connection(home),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",  # loopback only, like the sandboxes
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": _persistent_secret(home, "jwt.secret",
                                                            lambda: secrets.token_urlsafe(32)),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
        "CREDITFLOW_ROOT": str(ROOT),
        "CREDITFLOW_VAR": str(ROOT / "var"),
        "PYTHONPATH": os.pathsep.join(p for p in [str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")] if p),
        "NO_PROXY": "127.0.0.1,localhost",
        **{name: os.environ.get(name) or str(path) for name, path in DEMO_ROSTERS.items()},
        **lineage_env(home),
    }
    return env


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def fab_ldap_env(home: Path, directory: dict[str, str], *, rate_limit_storage: str = "memory://",
                 jwt_expiration: int = 1800, session_minutes: int = 30, session_max_minutes: int = 480
                 ) -> dict[str, str]:
    """What the production sign-in changes in an environment (``make cluster``, docker-compose.yaml, the LDAP
    tests): Airflow's FAB auth manager, people authenticated by the directory ``directory`` describes
    (``CREDITFLOW_LDAP_*``, see config/webserver_config.py), roles from its groups, the packaged roster and
    credit roles (which name roles), login rate limit and session/token lifetimes. The Flask session secret
    ([api] secret_key) must be the same in every API server: it is kept in ``home`` like the JWT secret."""
    env = {
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        "AIRFLOW__FAB__CONFIG_FILE": str(ROOT / "config" / "webserver_config.py"),
        # Roles and permissions are the init step's work (python -m creditflow_airflow.fab_roles), not each API
        # server's at start (which would also put back a permission the init step took away).
        "AIRFLOW__FAB__UPDATE_FAB_PERMS": "False",
        # The auth manager keeps a user's account (and roles) for [fab] cache_ttl seconds (30): with 0 the roles a
        # login has just re-read from the directory hold from the next request on, for each of the person's sessions.
        "AIRFLOW__FAB__CACHE_TTL": "0",
        "AIRFLOW__FAB__SESSION_LIFETIME_MINUTES": str(session_minutes),  # idle
        "AIRFLOW__FAB__SESSION_MAX_LIFETIME_MINUTES": str(session_max_minutes),  # from login, activity or not
        "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": str(jwt_expiration),
        "AIRFLOW__API__SECRET_KEY": _persistent_secret(home, "api.secret", lambda: secrets.token_urlsafe(32)),
        "CREDITFLOW_RATELIMIT_STORAGE": rate_limit_storage,
        "CREDITFLOW_REVIEW_ROLES": "",  # the packaged files: roles, not the demo's user names
        "CREDITFLOW_CREDIT_ROLES": "",
        **directory,
    }
    return env


def lineage_env(home: Path) -> dict[str, str]:
    """OpenLineage (the Airflow provider): every task's START/COMPLETE event, with the datasets it reads and
    writes (``include/creditflow_airflow/lineage.py``), appended as JSON lines to ``<home>/openlineage/events.jsonl``.
    To send them to Marquez instead, export ``CREDITFLOW_OPENLINEAGE_TRANSPORT`` as
    ``{"type": "http", "url": "http://marquez:5000", "endpoint": "api/v1/lineage"}`` (see the README)."""
    events = home / "openlineage" / "events.jsonl"
    events.parent.mkdir(parents=True, exist_ok=True)
    transport = os.environ.get("CREDITFLOW_OPENLINEAGE_TRANSPORT") or json.dumps(
        {"type": "file", "log_file_path": str(events), "append": True})
    return {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "creditflow",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": transport,
        "AIRFLOW__OPENLINEAGE__EXTRACTORS": "creditflow_airflow.lineage.SgsTaskExtractor",
    }


def cluster_env(home: Path, port: int, *, metadata_url: str, broker_url: str, parallelism: int = 8,
                worker_concurrency: int = 2, heartbeat_timeout: int = 120) -> dict[str, str]:
    """:func:`airflow_env` for Airflow's distributed executor (``make cluster``, docker-compose.yaml): the
    CeleryExecutor with Redis as broker, PostgreSQL as metadata DB and result backend. Every component —
    api-server, scheduler, dag-processor, triggerer, each Celery worker — must run with this one environment:
    the same ``[api_auth] jwt_secret`` (workers call the Execution API with JWTs the api-server signs) and the
    same Fernet key, or tasks fail with "Signature verification failed"."""
    env = airflow_env(home, port)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
        # A broker that stops answering must not hang the scheduler or a worker (Redis socket timeouts);
        # a task running longer than the visibility timeout would be delivered a second time.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__SOCKET_TIMEOUT": "30",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__SOCKET_CONNECT_TIMEOUT": "10",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "43200",
        # A worker that dies (SIGKILL, OOM, lost machine) stops heartbeating its tasks: after this many
        # seconds the scheduler fails the attempt and the task's retry runs on another worker.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(heartbeat_timeout),
    })
    return env
