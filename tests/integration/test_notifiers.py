"""Failures reach a person: the e-mail and webhook routes, fired by Airflow itself (``dag.test()`` of a small
failing DAG built with the project's ``default_task_args``) against a local SMTP sink and a local HTTP
receiver started here; connections and the recipients Variable come from AIRFLOW_CONN_* / AIRFLOW_VAR_*."""

from __future__ import annotations

import email
import json
import logging
import os
import subprocess
import sys
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pendulum
import pytest
from helpers import free_port

pytestmark = [pytest.mark.integration]

PERSONAL_ID = "440402199001010014"
MASKED_ID = "4404**********0014"

PROBE_DAG = '''
"""Probe for the failure routes (test only)."""
import datetime as dt

import pendulum
from airflow.sdk import dag, task
from creditflow_airflow.notifiers import dag_failure_callbacks, default_task_args


@dag(dag_id="notifier_probe", schedule=None, start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Shanghai"),
     default_args=default_task_args(retries=0, execution_timeout=dt.timedelta(minutes=2)),
     on_failure_callback=dag_failure_callbacks(), tags=["impact:internal"])
def notifier_probe():
    @task
    def load_record():
        return {"party": "张三", "id_number": "440402199001010014"}  # record contents travel by XCom only

    @task
    def check_record(record):
        raise ValueError("记录无法处理：当事人身份证号440402199001010014 格式与案件不符")

    check_record(load_record())


notifier_probe()
'''


class SmtpSink:
    """aiosmtpd on a free loopback port; keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
                sink.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()


class HttpReceiver:
    """http.server in a thread on a free loopback port; keeps every POST (path, headers, JSON body)."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append({"path": self.path, "headers": dict(self.headers),
                                       "json": json.loads(body.decode("utf-8"))})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _wire(monkeypatch: pytest.MonkeyPatch, smtp_port: int, http_port: int,
          recipients: str | None = "a@x.gov.cn, b@x.gov.cn", webhook_extra: dict[str, Any] | None = None) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
        "extra": {"from_email": "creditflow@yjglj.zhuhai.gov.cn", "disable_tls": True, "disable_ssl": True,
                  "timeout": 5, "retry_limit": 0}}))
    monkeypatch.setenv("AIRFLOW_CONN_CREDITFLOW_WEBHOOK", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": http_port, "schema": "http",
        "extra": {"endpoint": "/hooks/creditflow", "timeout": 5, **(webhook_extra or {})}}))
    if recipients is None:
        monkeypatch.delenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL", recipients)


def _context(exception: BaseException | None = None, **extra: Any) -> dict[str, Any]:
    """A task-failure context as the task runner passes it (identifiers only are read)."""
    ti = SimpleNamespace(dag_id="sgs_penalty", run_id="scheduled__2026-11-03T16:00:00+00:00",
                         task_id="deliver", map_index=-1, try_number=3, max_tries=2)
    start = pendulum.datetime(2026, 11, 3, tz="Asia/Shanghai")
    run = SimpleNamespace(dag_id=ti.dag_id, run_id=ti.run_id, data_interval_start=start,
                          data_interval_end=start.add(days=1))
    return {"ti": ti, "task_instance": ti, "dag_run": run, "exception": exception, **extra}


# ---------------------------------------------------------------------------------------------------------
# The routes fired by Airflow: a failing task of a DAG built like the project's DAGs
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_db(airflow_home):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ})
    return airflow_home


@pytest.fixture
def probe_dag(tmp_path, airflow_db, monkeypatch):
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "notifier_probe.py").write_text(PROBE_DAG, encoding="utf-8")
    # dag.test() syncs the "dags-folder" bundle, whose path Airflow reads from settings.DAGS_FOLDER.
    from airflow import settings
    from airflow.models import DagBag

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))

    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return bag.get_dag("notifier_probe")


@pytest.mark.slow
def test_a_failing_task_alerts_by_mail_and_webhook_without_personal_data(probe_dag, monkeypatch):
    with SmtpSink() as smtp, HttpReceiver() as hook:
        _wire(monkeypatch, smtp.port, hook.port)
        run = probe_dag.test(logical_date=pendulum.datetime(2026, 11, 4, tz="Asia/Shanghai"))
        deadline = time.monotonic() + 10
        while not (smtp.messages and hook.posts) and time.monotonic() < deadline:
            time.sleep(0.1)

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"load_record": "success", "check_record": "failed"}
    link = (os.environ["AIRFLOW__API__BASE_URL"].rstrip("/")
            + f"/dags/notifier_probe/runs/{quote(run.run_id, safe='')}/tasks/check_record")

    # One mail (the DAG-level route stays quiet: the failed task has alerted), to both recipients.
    assert len(smtp.messages) == 1, [m["Subject"] for _, m in smtp.messages]
    rcpt, msg = smtp.messages[0]
    assert sorted(rcpt) == ["a@x.gov.cn", "b@x.gov.cn"]
    subject = str(msg["Subject"])
    assert subject.startswith("【creditflow 告警】任务失败：notifier_probe / check_record")
    assert "第1次尝试" in subject
    raw = msg.as_string()
    body = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    for needle in ("notifier_probe", run.run_id, "check_record", "ValueError", "错误信息", "查看日志",
                   f"当事人身份证号{MASKED_ID} 格式与案件不符", link, "数据区间（北京时间）"):
        assert needle in body, needle
    assert PERSONAL_ID not in body and PERSONAL_ID not in raw
    assert "张三" not in body  # the XCom value (record contents) never reaches an alert

    assert len(hook.posts) == 1
    post = hook.posts[0]
    assert post["path"] == "/hooks/creditflow"
    assert post["headers"]["Content-Type"].startswith("application/json")
    alert = post["json"]
    assert {k: alert[k] for k in ("source", "event", "dag_id", "run_id", "task_id", "try_number", "exception_class",
                                   "url")} == {
        "source": "creditflow", "event": "task_failed", "dag_id": "notifier_probe", "run_id": run.run_id,
        "task_id": "check_record", "try_number": 1, "exception_class": "ValueError", "url": link + "?try_number=1"}
    assert MASKED_ID in alert["message"] and alert["title"] == subject
    dumped = json.dumps(alert, ensure_ascii=False)
    assert PERSONAL_ID not in dumped and "张三" not in dumped


# ---------------------------------------------------------------------------------------------------------
# The notifiers called as Airflow calls them (``notifier(context)``)
# ---------------------------------------------------------------------------------------------------------


def test_timed_out_run_alerts_at_dag_level_and_task_failure_does_not(monkeypatch):
    from creditflow_airflow.notifiers import dag_failure_callbacks

    with SmtpSink() as smtp, HttpReceiver() as hook:
        _wire(monkeypatch, smtp.port, hook.port, recipients="duty@x.gov.cn")
        ctx = {"dag": SimpleNamespace(dag_id="sgs_penalty"), "run_id": "scheduled__2026-11-03T16:00:00+00:00"}
        for notifier in dag_failure_callbacks():
            notifier({**ctx, "reason": "task_failure"})
        assert smtp.messages == [] and hook.posts == []
        for notifier in dag_failure_callbacks():
            notifier({**ctx, "reason": "timed_out"})
    assert len(smtp.messages) == 1 and len(hook.posts) == 1
    subject = str(smtp.messages[0][1]["Subject"])
    assert subject == "【creditflow 告警】运行失败：sgs_penalty（运行超时（dagrun_timeout））"
    alert = hook.posts[0]["json"]
    assert alert["event"] == "dag_run_failed" and alert["task_id"] is None
    assert alert["url"].endswith("/dags/sgs_penalty/runs/scheduled__2026-11-03T16%3A00%3A00%2B00%3A00")


def test_receivers_down_log_and_do_not_raise(monkeypatch, caplog):
    from creditflow_airflow.notifiers import failure_notifiers

    _wire(monkeypatch, free_port(), free_port())  # nothing listens on either port
    caplog.set_level(logging.INFO, logger="creditflow.alert")
    start = time.monotonic()
    for notifier in failure_notifiers():
        notifier(_context(RuntimeError(f"upload failed for 身份证号{PERSONAL_ID}")))  # must not raise
    assert time.monotonic() - start < 30
    errors = [r.getMessage() for r in caplog.records if r.name == "creditflow.alert" and r.levelno == logging.ERROR]
    assert any(m.startswith("creditflow alert (email) not delivered") for m in errors), errors
    assert any(m.startswith("creditflow alert (webhook) not delivered") for m in errors), errors
    assert all(PERSONAL_ID not in r.getMessage() for r in caplog.records)


def test_webhook_error_status_is_logged_not_raised(monkeypatch, caplog):
    from creditflow_airflow.notifiers import WebhookFailureNotifier

    with HttpReceiver(status=500) as hook:
        _wire(monkeypatch, free_port(), hook.port)
        caplog.set_level(logging.INFO, logger="creditflow.alert")
        WebhookFailureNotifier()(_context(TimeoutError("platform did not answer")))
    assert len(hook.posts) == 1
    assert any("HTTP 500" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_unconfigured_routes_are_skipped_with_one_line_each(monkeypatch, caplog):
    from creditflow_airflow.notifiers import failure_notifiers

    with SmtpSink() as smtp:
        _wire(monkeypatch, smtp.port, free_port(), recipients=None)
        monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_WEBHOOK")
        caplog.set_level(logging.INFO, logger="creditflow.alert")
        for notifier in failure_notifiers():
            notifier(_context(ValueError("x")))
    assert smtp.messages == []
    lines = [r for r in caplog.records if r.name == "creditflow.alert"]
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (logging.INFO, "creditflow alert (email) skipped: Variable creditflow_alert_email is not set"),
        (logging.INFO, "creditflow alert (webhook) skipped: connection creditflow_webhook is not defined"),
    ]


def test_wecom_format_and_alert_fields(monkeypatch):
    """A 政务微信/企业微信 group robot takes {"msgtype": "text", ...}; the text carries the same identifiers."""
    from creditflow_airflow.notifiers import WebhookFailureNotifier, failure_alert

    ctx = _context(ValueError(f"坏记录 {PERSONAL_ID}" + "长" * 900))
    alert = failure_alert(ctx)
    assert alert["try_number"] == 3 and alert["max_tries"] == 3 and alert["map_index"] is None
    assert alert["data_interval"] == "2026-11-03 00:00 — 2026-11-04 00:00"
    assert len(alert["message"]) <= 501 and MASKED_ID in alert["message"]
    assert alert["url"].endswith("/dags/sgs_penalty/runs/scheduled__2026-11-03T16%3A00%3A00%2B00%3A00"
                                 "/tasks/deliver?try_number=3")
    with HttpReceiver() as hook:
        _wire(monkeypatch, free_port(), hook.port, webhook_extra={"format": "wecom"})
        WebhookFailureNotifier()(ctx)
    body = hook.posts[0]["json"]
    assert body["msgtype"] == "text"
    content = body["text"]["content"]
    assert content.startswith("【creditflow 告警】任务失败：sgs_penalty / deliver（第3次尝试）")
    for needle in ("scheduled__2026-11-03T16:00:00+00:00", "第3次，共3次", "ValueError", alert["url"]):
        assert needle in content, needle
    assert PERSONAL_ID not in content


def test_dag_files_parse_with_the_notifiers_module_only(tmp_path):
    """The module DAG files import at parse time stays light (no requests, SMTP hook or creditflow import)."""
    code = ("import sys; import creditflow_airflow.notifiers\n"
            "print([m for m in ('requests', 'airflow.providers.smtp.hooks.smtp', 'creditflow.common')"
            " if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "include")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
