"""docker-compose.yaml and the Dockerfile, checked without a Docker engine: the compose file is valid
against the Compose Specification's JSON schema (vendored in tests/vendor/compose-spec), every service has
a health check, secrets come only from the env file, the production image carries no test tools or
sandboxes, and every Airflow service runs the command and settings that ``make cluster`` runs for real
(``scripts/cluster.py``)."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import cluster as cl  # noqa: E402

SCHEMA = ROOT / "tests" / "vendor" / "compose-spec" / "compose-spec.json"
AIRFLOW_SERVICES = {"api-server": "api-server", "scheduler": "scheduler", "dag-processor": "dag-processor",
                    "triggerer": "triggerer", "worker": "airflow-worker"}
# Settings that are the machine's own in `make cluster` (paths, loopback ports, two workers on one host, a
# small connection pool for one shared PostgreSQL) — compose has its own values or leaves them out.
MACHINE_LOCAL = {"AIRFLOW__CORE__HOSTNAME_CALLABLE", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
                 "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE", "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW",
                 "AIRFLOW__API__WORKERS"}
# Present in both, with values that differ only by where things are (host names, paths, secrets).
PLACED = {"AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER", "AIRFLOW__CORE__FERNET_KEY",
          "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__FAB__CONFIG_FILE",
          "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
          "AIRFLOW__API__HOST", "AIRFLOW__API__PORT", "AIRFLOW__API__BASE_URL", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
          "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
          "AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW_CONN_CREDITFLOW_DB", "AIRFLOW_CONN_CASE_DB",
          "AIRFLOW_CONN_CREDITFLOW_PII",
          "AIRFLOW_CONN_CREDIT_PLATFORM", "AIRFLOW_CONN_LICENSING_API", "AIRFLOW_VAR_CREDITFLOW_INBOX_DIR",
          "CREDITFLOW_VAR"}
COMPOSE_ONLY = {"AIRFLOW_CONN_SMTP_DEFAULT", "AIRFLOW_VAR_CREDITFLOW_UPLOAD_BATCH_SIZE",
                "AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL", "CREDITFLOW_SGS_START"}
LOCAL_OPTIONS = {"--celery-hostname"}  # several workers on one machine need distinct Celery names
DEV_TOOLS = {"pytest", "pytest-timeout", "hypothesis", "aiosmtpd", "playwright", "ruff", "mypy", "types-requests",
             "types-PyYAML"}
SECRET_KEYS = re.compile(r"(FERNET_KEY|JWT_SECRET|PASSWORD|SECRET|TOKEN)")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cluster_plan(tmp_path_factory) -> tuple[dict[str, str], dict[str, list[str]]]:
    tmp = tmp_path_factory.mktemp("cluster")
    s = cl.Settings(home=tmp / "home", var=tmp / "var", sgs_start="2026-11-01")
    s.extra_env = cl.connections_env(s.warehouse_url, "sqlite:///case.sqlite", 8711, 8712, tmp / "inbox")
    env = cl.environment(s)
    commands = {svc.name: [Path(svc.argv[0]).name, *svc.argv[1:]] for svc in cl.services(s)}
    return env, commands


def _airflow_keys(env: dict[str, str]) -> set[str]:
    return {k for k in env if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) or k == "CREDITFLOW_VAR"}


def test_compose_file_is_valid_against_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_the_schema_check_catches_a_broken_file(compose):
    """The validation above can fail: an unknown service key and a bad depends_on condition are errors."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(compose))
    broken["services"]["scheduler"]["comand"] = ["airflow", "scheduler"]
    broken["services"]["api-server"]["depends_on"]["postgres"]["condition"] = "healthy"
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))
    assert len(errors) >= 2


def test_every_service_has_a_health_check(compose):
    for name, svc in compose["services"].items():
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_the_production_shape_is_there(compose):
    services = compose["services"]
    assert {"postgres", "redis", "airflow-init", "api-server", "scheduler", "dag-processor", "triggerer",
            "airflow-worker", "case-db", "platform", "licensing", "mailpit"} <= set(services)
    assert services["airflow-worker"]["deploy"]["replicas"] >= 2
    init = " ".join(services["airflow-init"]["command"])
    for step in ("airflow db migrate", "python -m creditflow_airflow.fab_roles", "creditflow db upgrade",
                 "airflow pools import"):
        assert step in init, step
    for name in AIRFLOW_SERVICES.values():
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_people_sign_in_with_the_directory(compose, cluster_plan):
    """#19: the FAB auth manager with LDAP, as in make cluster; the directory's address, service account and
    group mapping come from .env (the bureau's directory; the compose stand-in `directory` by default)."""
    env, _ = cluster_plan
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".FabAuthManager")
    assert not {k for k in env if "SIMPLE_AUTH_MANAGER" in k}
    theirs = compose["services"]["api-server"]["environment"]
    assert theirs["AIRFLOW__CORE__AUTH_MANAGER"] == env["AIRFLOW__CORE__AUTH_MANAGER"]
    assert theirs["AIRFLOW__FAB__CONFIG_FILE"] == "/opt/creditflow/config/webserver_config.py"
    assert (ROOT / "config" / "webserver_config.py").exists()
    for key in ("CREDITFLOW_LDAP_URL", "CREDITFLOW_LDAP_BIND_USER", "CREDITFLOW_LDAP_BIND_PASSWORD",
                "CREDITFLOW_LDAP_SEARCH", "CREDITFLOW_LDAP_GROUPS"):
        assert INTERPOLATION.fullmatch(str(theirs[key])), key
    assert str(theirs["CREDITFLOW_RATELIMIT_STORAGE"]).startswith("redis://")  # one count for every API worker
    assert {"CREDITFLOW_REVIEW_ROLES", "CREDITFLOW_CREDIT_ROLES"}.isdisjoint(theirs)  # the packaged files: roles


def test_secrets_come_from_the_env_file_and_are_shared(compose):
    text = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in text
    envs = {name: svc.get("environment") or {} for name, svc in compose["services"].items()}
    for name, env in envs.items():
        for key, value in env.items():
            if SECRET_KEYS.search(key) and not key.endswith("_FILE"):
                assert INTERPOLATION.fullmatch(str(value)), f"{name}: {key} is not taken from .env"
    # One JWT secret and one Fernet key for every Airflow component (the anchor's values, unchanged).
    airflow = [envs[n] for n in AIRFLOW_SERVICES.values()] + [envs["airflow-init"]]
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert len({e[key] for e in airflow}) == 1, key
    # Every variable the file requires is in the committed example; the real .env is ignored by git.
    required = {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(2) in (None, ":?", "?")}
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert required <= example, required - example
    assert any(line.strip() in (".env", "/.env") for line in (ROOT / ".gitignore").read_text().splitlines())


def test_airflow_services_run_what_make_cluster_runs(compose, cluster_plan):
    _env, commands = cluster_plan
    for role, service in AIRFLOW_SERVICES.items():
        ours = next(c for name, c in commands.items() if name == role or name.startswith(f"{role}-"))
        theirs = compose["services"][service]["command"]
        theirs = shlex.split(theirs) if isinstance(theirs, str) else list(theirs)

        def strip(argv: list[str]) -> list[str]:
            out, skip = [], False
            for arg in argv:
                if skip:
                    skip = False
                elif arg in LOCAL_OPTIONS:
                    skip = True
                else:
                    out.append(arg)
            return out

        assert strip(ours) == strip(theirs), (role, ours, theirs)


def test_airflow_services_share_the_settings_of_make_cluster(compose, cluster_plan):
    env, _ = cluster_plan
    ours = _airflow_keys(env) - MACHINE_LOCAL
    for service in AIRFLOW_SERVICES.values():
        theirs = compose["services"][service]["environment"]
        keys = _airflow_keys(theirs)
        assert ours - keys == set(), (service, sorted(ours - keys))
        assert keys - ours - COMPOSE_ONLY == set(), (service, sorted(keys - ours - COMPOSE_ONLY))
        same = ours - PLACED
        assert {k: str(theirs[k]) for k in same} == {k: env[k] for k in same}, service
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_production_image_has_no_test_tools_or_sandboxes():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    runtime = next(s for s in stages if re.match(r"\S+ AS runtime", s))
    sandbox = next(s for s in stages if re.match(r"runtime AS sandbox", s))
    dev_only = re.search(r'ARG DEV_ONLY="([^"]+)"', runtime).group(1)
    requirements = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    kept = [r for r in requirements if not re.search(dev_only, r)]
    names = {re.split(r"[<>=\[ ]", r, maxsplit=1)[0] for r in kept}
    assert not names & DEV_TOOLS, names & DEV_TOOLS
    assert any(r.startswith("apache-airflow[") for r in kept) and "great-expectations" in names
    assert "requirements-runtime.txt -c constraints.txt" in runtime and "_PIP_ADDITIONAL_REQUIREMENTS" not in text
    copied = re.findall(r"^COPY (\S+)", runtime, flags=re.MULTILINE)
    assert not [c for c in copied if c.startswith(("tests", "include/creditflow_sandbox", "bench", "."))], copied
    assert "include/creditflow_sandbox" in sandbox
    compose_text = yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))
    for name, svc in compose_text["services"].items():
        uses_sandbox = svc.get("image") == "creditflow-sandbox:latest"
        assert uses_sandbox == (name in {"platform", "licensing", "sandbox-seed", "directory"}), name
