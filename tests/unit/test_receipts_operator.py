"""The ``receipts`` task of sgs_<kind> (include/creditflow_airflow/sgs_tasks.py ReceiptsOperator), its
look-defer-resume logic with the platform and the warehouse replaced by a script of answers: it defers while
batches are processing (to the trigger, with the connection id and no secret), resumes to record the
receipts, and fails with ReceiptsTimeoutError's Chinese text when the trigger's deadline passed."""

from __future__ import annotations

import contextlib
import datetime as dt
import time

import pytest
from creditflow.common import TZ
from creditflow.reporting.pipeline import Run, interval, stages
from creditflow_airflow import sgs_tasks

RUN = Run(dag_id="sgs_penalty", kind="penalty", start=dt.datetime(2026, 11, 3, tzinfo=TZ),
          end=dt.datetime(2026, 11, 4, tzinfo=TZ))


@pytest.fixture
def operator(monkeypatch):
    answers: list[dict] = []
    monkeypatch.setattr(interval, "interval_lock", lambda _engine, _run: contextlib.nullcontext())
    monkeypatch.setattr(stages, "check_receipts", lambda *_a: answers.pop(0))
    monkeypatch.setattr(sgs_tasks, "_platform", lambda: None)
    monkeypatch.setattr(sgs_tasks, "_wiring", lambda kind, context: (RUN, None, stages.IntervalOptions(
        receipt_timeout=600), stages.Steps()))
    return sgs_tasks.ReceiptsOperator(task_id="receipts", kind="penalty"), answers


def test_defers_while_batches_are_processing_and_resumes_to_record_them(operator):
    from airflow.sdk.exceptions import TaskDeferred

    op, answers = operator
    answers.append({"accepted": 0, "rejected": 0, "still_processing": 5, "batch_ids": ["B1", "B2"]})
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    trigger = deferred.value.trigger
    path, kwargs = trigger.serialize()
    assert path == "creditflow_airflow.triggers.PlatformReceiptsTrigger" and deferred.value.method_name == "execute_complete"
    assert kwargs["batch_ids"] == ["B1", "B2"] and kwargs["conn_id"] == "credit_platform"
    assert 590 < kwargs["deadline"] - time.time() <= 600 and kwargs["echo"]["waits"] == 0
    answers.append({"accepted": 5, "rejected": 0, "still_processing": 0, "batch_ids": []})
    got = op.execute_complete({}, {"status": "done", "polls": 3, "waited": 7.0, "echo": kwargs["echo"]})
    assert got["accepted"] == 5 and got["deferred"] == 1 and "batch_ids" not in got


def test_fails_in_chinese_when_the_wait_timed_out(operator):
    op, answers = operator
    answers.append({"accepted": 0, "rejected": 0, "still_processing": 3, "batch_ids": ["B1"]})
    echo = {"deadline": time.time() + 100, "timeout": 600.0, "waits": 0}
    with pytest.raises(stages.ReceiptsTimeoutError, match="3 条记录在 600 秒内未收到共享平台回执"):
        op.execute_complete({}, {"status": "timeout", "polls": 9, "waited": 600.0, "echo": echo})


def test_an_empty_day_never_defers(operator):
    op, answers = operator
    answers.append({"accepted": 0, "rejected": 0, "still_processing": 0, "batch_ids": []})
    assert op.execute({})["deferred"] == 0
