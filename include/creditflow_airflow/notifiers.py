"""Failure routes: every failed task (and every DAG run that fails without a failed task) reaches a person.

Two Airflow notifiers, attached to every task through :func:`default_task_args` and to every DAG
through :func:`dag_failure_callbacks`:

=======================  ==========================================================================
route                    configured by
=======================  ==========================================================================
e-mail                   connection ``smtp_default`` (SMTP provider's hook) + Variable
                         ``creditflow_alert_email`` (recipients, comma separated); no Variable →
                         skipped with one log line
webhook                  connection ``creditflow_webhook`` (HTTP: host, port, schema = http/https;
                         extra ``endpoint`` path, ``timeout`` seconds, ``headers``, ``format`` =
                         ``generic`` | ``wecom``); no connection → skipped with one log line
=======================  ==========================================================================

The alert says, in Chinese, which DAG, run, task and try failed, the exception class, the error
message passed through :func:`creditflow.common.mask_text` (and shortened), and a link into the UI
built from ``[api] base_url``. It never carries XCom values or record contents. A notifier never
raises out of a callback: a route that cannot deliver logs one line and the other route still runs.

DAG-level callbacks (unreliable in Airflow 3.x, run by the dag-processor) alert only for runs that
fail for another reason than a failed task (``dagrun_timeout``): a failed task has alerted already.

Standard library and ``airflow.sdk`` only at import: DAG files import this module at parse time.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow.sdk.bases.notifier import BaseNotifier

log = logging.getLogger("creditflow.alert")

SMTP_CONN = "smtp_default"
WEBHOOK_CONN = "creditflow_webhook"
RECIPIENTS_VARIABLE = "creditflow_alert_email"
OWNER = "creditflow"
MESSAGE_LIMIT = 500

#: execution_timeout by kind of task (sensors also set their own ``timeout``; HITL tasks use
#: ``response_timeout`` and no execution_timeout).
TIMEOUTS: dict[str, dt.timedelta] = {
    "quick": dt.timedelta(minutes=10),  # a summary, an alert, a calendar check
    "step": dt.timedelta(hours=1),  # extract / standardise / validate one day of records
    "ledger": dt.timedelta(minutes=30),  # decide against the ledger, reconcile, sign off
    "upload": dt.timedelta(hours=2),  # batches to the platform with retries and backoff
    "poke": dt.timedelta(minutes=5),  # one poke of a reschedule-mode sensor
}

_REASONS = {"timed_out": "运行超时（dagrun_timeout）", "task_failure": "有任务失败",
            "all_tasks_deadlocked": "任务互相等待、无法继续（deadlock）"}


# --------------------------------------------------------------------------------------------------
# The alert: what happened, with identifiers only
# --------------------------------------------------------------------------------------------------


def _mask(value: Any) -> str:
    from creditflow.common import mask_text

    return mask_text(value)


def ui_link(dag_id: str, run_id: str | None = None, task_id: str | None = None, map_index: int | None = None,
            try_number: int | None = None) -> str:
    """``{base_url}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}`` — the task's page with its log."""
    from airflow.sdk.configuration import conf

    base = (conf.get("api", "base_url", fallback=None) or "http://localhost:8080").rstrip("/")
    url = f"{base}/dags/{quote(dag_id, safe='')}"
    if run_id:
        url += f"/runs/{quote(run_id, safe='')}"
        if task_id:
            url += f"/tasks/{quote(task_id, safe='')}"
            if map_index is not None and map_index >= 0:
                url += f"/mapped/{map_index}"
            if try_number:
                url += f"?try_number={try_number}"
    return url


def _local(value: Any) -> str | None:
    if not isinstance(value, dt.datetime):
        return None
    from creditflow.common import TZ

    return value.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def failure_alert(context: Mapping[str, Any], *, level: str = "task") -> dict[str, Any]:
    """The alert as data: identifiers, masked message, link, and a Chinese title and text.

    ``level`` is ``"task"`` (a task's on_failure_callback) or ``"dag"`` (a DAG run's).
    """
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    dag_id = str(getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", "") or "")
    run_id = str(getattr(ti, "run_id", None) or context.get("run_id") or getattr(dag_run, "run_id", "") or "")
    task_id = str(getattr(ti, "task_id", "") or "") if level == "task" else ""
    map_index = getattr(ti, "map_index", None) if level == "task" else None
    try_number = getattr(ti, "try_number", None) if level == "task" else None
    max_tries = getattr(ti, "max_tries", None) if level == "task" else None
    error = context.get("exception")
    if level == "dag":
        reason = str(context.get("reason") or "")
        error_class = "DagRunFailed"
        message = _REASONS.get(reason, reason or "运行失败")
    elif isinstance(error, BaseException):
        error_class = type(error).__name__
        message = str(error)
    else:
        error_class = "TaskFailed"
        message = str(error or context.get("reason") or "任务失败（无异常信息，可能是进程被终止或心跳超时）")
    message = _mask(message)
    if len(message) > MESSAGE_LIMIT:
        message = message[:MESSAGE_LIMIT] + "…"
    start = _local(getattr(dag_run, "data_interval_start", None) or context.get("data_interval_start"))
    end = _local(getattr(dag_run, "data_interval_end", None) or context.get("data_interval_end"))
    alert: dict[str, Any] = {
        "source": "creditflow",
        "event": "task_failed" if level == "task" else "dag_run_failed",
        "dag_id": _mask(dag_id),
        "run_id": _mask(run_id),
        "task_id": _mask(task_id) or None,
        "map_index": map_index if isinstance(map_index, int) and map_index >= 0 else None,
        "try_number": try_number if isinstance(try_number, int) else None,
        "max_tries": (max_tries + 1) if isinstance(max_tries, int) else None,
        "exception_class": error_class,
        "message": message,
        "data_interval": f"{start} — {end}" if start and end else None,
        "url": ui_link(dag_id, run_id or None, task_id or None, map_index if isinstance(map_index, int) else None,
                       try_number if isinstance(try_number, int) else None),
    }
    alert["title"] = _title(alert)
    alert["text"] = _text(alert)
    return alert


def _title(a: Mapping[str, Any]) -> str:
    if a["event"] == "task_failed":
        tries = f"（第{a['try_number']}次尝试）" if a["try_number"] else ""
        return f"【creditflow 告警】任务失败：{a['dag_id']} / {a['task_id']}{tries}"
    return f"【creditflow 告警】运行失败：{a['dag_id']}（{a['message']}）"


_ADVICE = ("处理：打开链接查看日志；DAG 说明（Docs）中有处理步骤。"
           "修复原因后在界面上清除（Clear）失败的任务即可重跑，重跑是安全的。")


def _lines(a: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("DAG", a["dag_id"]), ("运行（run_id）", a["run_id"])]
    if a["task_id"]:
        task = a["task_id"] + (f"（映射序号 {a['map_index']}）" if a["map_index"] is not None else "")
        rows.append(("任务（task_id）", task))
    if a["try_number"]:
        rows.append(("尝试次数", f"第{a['try_number']}次" + (f"，共{a['max_tries']}次" if a["max_tries"] else "")))
    if a["data_interval"]:
        rows.append(("数据区间（北京时间）", a["data_interval"]))
    rows += [("错误类型", a["exception_class"]), ("错误信息", a["message"]), ("查看日志", a["url"])]
    return rows


def _text(a: Mapping[str, Any]) -> str:
    body = "\n".join(f"{k}：{v}" for k, v in _lines(a))
    return f"{_title(a)}\n{body}\n{_ADVICE}"


def _html(a: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>"
        + (f"<a href='{html.escape(v)}'>{html.escape(v)}</a>" if k == "查看日志" else html.escape(str(v)))
        + "</td></tr>"
        for k, v in _lines(a))
    return (f"<p>{html.escape(_title(a))}</p><table>{rows}</table><p>{html.escape(_ADVICE)}</p>"
            "<p>此邮件由 creditflow 自动发送，不含个人信息。</p>")


# --------------------------------------------------------------------------------------------------
# The notifiers
# --------------------------------------------------------------------------------------------------


class _FailureNotifier(BaseNotifier):
    """Shared by both routes: builds the alert, skips DAG-level alerts already sent by a task, never raises."""

    route = ""

    def __init__(self, *, level: str = "task") -> None:
        super().__init__()
        if level not in ("task", "dag"):
            raise ValueError(f"level must be 'task' or 'dag', not {level!r}")
        self.level = level

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render: the alert is built from identifiers, never from a template (an error message
        holding ``{{`` must not be evaluated), and this step then cannot fail before :meth:`notify`."""

    def notify(self, context: Any) -> None:
        try:
            if self.level == "dag" and context.get("reason") == "task_failure":
                log.info("creditflow alert (%s): DAG run failed because a task failed — the task has alerted",
                         self.route)
                return
            alert = failure_alert(context, level=self.level)
            self.send(alert)
        except Exception as exc:  # a callback must never raise: log and let the other route run
            log.error("creditflow alert (%s) not delivered: %s: %s", self.route, type(exc).__name__,
                      _mask(exc)[:MESSAGE_LIMIT])

    def send(self, alert: dict[str, Any]) -> None:
        raise NotImplementedError


class EmailFailureNotifier(_FailureNotifier):
    """E-mail through the ``smtp_default`` connection to Variable ``creditflow_alert_email``."""

    route = "email"

    def __init__(self, *, level: str = "task", smtp_conn_id: str = SMTP_CONN,
                 recipients_variable: str = RECIPIENTS_VARIABLE) -> None:
        super().__init__(level=level)
        self.smtp_conn_id = smtp_conn_id
        self.recipients_variable = recipients_variable

    def recipients(self) -> list[str]:
        return recipients(self.recipients_variable)

    def send(self, alert: dict[str, Any]) -> None:
        to = self.recipients()
        if not to:
            log.info("creditflow alert (email) skipped: Variable %s is not set", self.recipients_variable)
            return
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=self.smtp_conn_id) as smtp:
            smtp.send_email_smtp(to=to, subject=alert["title"], html_content=_html(alert),
                                 from_email=smtp.from_email or "creditflow-airflow@localhost")
        log.info("creditflow alert (email) sent to %d recipient(s): %s", len(to), alert["title"])


class WebhookFailureNotifier(_FailureNotifier):
    """POST the alert as JSON to the ``creditflow_webhook`` HTTP connection."""

    route = "webhook"

    def __init__(self, *, level: str = "task", conn_id: str = WEBHOOK_CONN) -> None:
        super().__init__(level=level)
        self.conn_id = conn_id

    def _connection(self) -> Any:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return BaseHook.get_connection(self.conn_id)
        except AirflowNotFoundException:
            return None

    def send(self, alert: dict[str, Any]) -> None:
        conn = self._connection()
        if conn is None:
            log.info("creditflow alert (webhook) skipped: connection %s is not defined", self.conn_id)
            return
        import requests

        extra = conn.extra_dejson or {}
        url = webhook_url(conn)
        payload: dict[str, Any] = dict(alert)
        if extra.get("format") == "wecom":  # 政务微信 / 企业微信 group robot
            payload = {"msgtype": "text", "text": {"content": alert["text"]}}
        headers = {"Content-Type": "application/json; charset=utf-8", **(extra.get("headers") or {})}
        auth = (conn.login, conn.password or "") if conn.login else None
        resp = requests.post(url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers=headers,
                             auth=auth, timeout=float(extra.get("timeout", 10)))
        if resp.status_code >= 400:
            log.error("creditflow alert (webhook) not delivered: %s answered HTTP %s", self.conn_id,
                      resp.status_code)
            return
        log.info("creditflow alert (webhook) delivered to %s: %s", self.conn_id, alert["title"])


def webhook_url(conn: Any) -> str:
    """``schema://host:port`` + extra ``endpoint`` (a host may also be a whole URL)."""
    host = str(conn.host or "localhost")
    base = host if "://" in host else f"{conn.schema or 'http'}://{host}"
    if conn.port and f":{conn.port}" not in base.split("://", 1)[1]:
        base = base.rstrip("/") + f":{conn.port}"
    endpoint = str((conn.extra_dejson or {}).get("endpoint") or "")
    return base.rstrip("/") + ("/" + endpoint.lstrip("/") if endpoint else "")


# --------------------------------------------------------------------------------------------------
# What every DAG uses
# --------------------------------------------------------------------------------------------------


def failure_notifiers(level: str = "task") -> list[BaseNotifier]:
    """Both routes, for ``on_failure_callback``."""
    return [EmailFailureNotifier(level=level), WebhookFailureNotifier(level=level)]


def dag_failure_callbacks() -> list[BaseNotifier]:
    """For ``@dag(on_failure_callback=...)``: alerts runs failing without a failed task (dagrun_timeout)."""
    return failure_notifiers("dag")


def default_task_args(*, retries: int = 1, retry_delay: dt.timedelta = dt.timedelta(minutes=1),
                      execution_timeout: dt.timedelta = TIMEOUTS["step"], **extra: Any) -> dict[str, Any]:
    """``default_args`` for every DAG: owner, retries, an execution_timeout and both failure notifiers.

    Tasks set their own ``execution_timeout`` from :data:`TIMEOUTS` where their kind differs.
    """
    return {"owner": OWNER, "retries": retries, "retry_delay": retry_delay, "execution_timeout": execution_timeout,
            "on_failure_callback": failure_notifiers("task"), **extra}


def recipients(variable: str = RECIPIENTS_VARIABLE) -> list[str]:
    """The addresses in a Variable (comma or semicolon separated); none when it is unset."""
    from airflow.sdk import Variable

    raw = Variable.get(variable, default=None) or ""
    return [a.strip() for a in str(raw).replace(";", ",").split(",") if a.strip()]


def local_interval(context: Mapping[str, Any]) -> tuple[dt.datetime, dt.datetime, dt.date]:
    """A run's data interval as plain aware datetimes in local time (:data:`creditflow.common.TZ`; pendulum
    objects do not bind in every DB driver), and the day the run acts as of: the interval's end date."""
    from creditflow.common import TZ

    start = dt.datetime.fromisoformat(context["data_interval_start"].isoformat()).astimezone(TZ)
    end = dt.datetime.fromisoformat(context["data_interval_end"].isoformat()).astimezone(TZ)
    return start, end, end.date()


def send_alert_lines(lines: list[str], subject: str, html_body: str, *, limit: int = 200,
                     smtp_conn_id: str = SMTP_CONN, recipients_variable: str = RECIPIENTS_VARIABLE) -> int:
    """A DAG's 临期/逾期 lines: each logged (masked, at most ``limit``), and the whole e-mailed through
    ``smtp_conn_id`` to Variable ``recipients_variable`` when it is set. Returns how many lines there were.

    Unlike the failure notifiers this raises when the mail cannot be sent: the task fails and retries."""
    for line in lines[:limit]:
        log.warning("%s", _mask(line))
    if len(lines) > limit:
        log.warning("… %d more", len(lines) - limit)
    to = recipients(recipients_variable) if lines else []
    if to:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=smtp_conn_id) as smtp:
            smtp.send_email_smtp(to=to, subject=_mask(subject), html_content=_mask(html_body),
                                 from_email=smtp.from_email or "creditflow-airflow@localhost")
    return len(lines)
