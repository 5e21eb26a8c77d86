"""The helpers DAG files share from ``include/creditflow_airflow/notifiers.py``: a run's local interval and the
临期/逾期 alert lines (logged masked, mailed to the Variable's recipients)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, ClassVar

import pendulum
import pytest
from creditflow_airflow.notifiers import local_interval, recipients, send_alert_lines

ID = "440402199001011234"


def test_local_interval_is_local_and_acts_as_of_the_end_date() -> None:
    # 06:30 local = 22:30 UTC the day before: the run covers 11-01 06:30 → 11-02 06:30 and acts as of 11-02.
    ctx = {"data_interval_start": pendulum.datetime(2026, 10, 31, 22, 30, tz="UTC"),
           "data_interval_end": pendulum.datetime(2026, 11, 1, 22, 30, tz="UTC")}
    start, end, today = local_interval(ctx)
    assert (start.date(), start.hour, start.minute) == (dt.date(2026, 11, 1), 6, 30)
    assert end.isoformat() == "2026-11-02T06:30:00+08:00"
    assert today == dt.date(2026, 11, 2)
    assert type(start) is dt.datetime and str(start.tzinfo) == "Asia/Shanghai"  # not pendulum: binds in any driver


def test_recipients_split_on_comma_and_semicolon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL", " a@x.gov.cn; b@x.gov.cn,,")
    assert recipients() == ["a@x.gov.cn", "b@x.gov.cn"]
    monkeypatch.delenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL")
    assert recipients() == []


class _Smtp:
    sent: ClassVar[list[dict[str, Any]]] = []
    from_email = None

    def __init__(self, smtp_conn_id: str) -> None:
        self.conn = smtp_conn_id

    def __enter__(self) -> _Smtp:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send_email_smtp(self, **kwargs: Any) -> None:
        _Smtp.sent.append({"conn": self.conn, **kwargs})


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> type[_Smtp]:
    import airflow.providers.smtp.hooks.smtp as module

    _Smtp.sent = []
    monkeypatch.setattr(module, "SmtpHook", _Smtp)
    return _Smtp


def test_alert_lines_are_logged_masked_and_mailed(monkeypatch: pytest.MonkeyPatch, smtp: type[_Smtp],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL", "duty@x.gov.cn")
    lines = [f"【逾期】当事人{ID}的案件", "【临期】案件 C2"]
    with caplog.at_level(logging.WARNING, logger="creditflow.alert"):
        assert send_alert_lines(lines, f"主题{ID}", f"<li>{ID}</li>") == 2
    assert ID not in caplog.text and "案件 C2" in caplog.text and "【逾期】当事人" in caplog.text
    [mail] = smtp.sent
    assert mail["to"] == ["duty@x.gov.cn"] and mail["conn"] == "smtp_default"
    assert ID not in mail["subject"] + mail["html_content"]


def test_no_mail_without_lines_or_recipients(monkeypatch: pytest.MonkeyPatch, smtp: type[_Smtp]) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL", "duty@x.gov.cn")
    assert send_alert_lines([], "s", "b") == 0
    monkeypatch.delenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL")
    assert send_alert_lines(["x"], "s", "b") == 1
    assert smtp.sent == []


def test_log_is_capped(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_CREDITFLOW_ALERT_EMAIL", raising=False)
    with caplog.at_level(logging.WARNING, logger="creditflow.alert"):
        assert send_alert_lines([f"line {i}" for i in range(5)], "s", "b", limit=3) == 5
    assert "line 2" in caplog.text and "line 3" not in caplog.text and "2 more" in caplog.text
