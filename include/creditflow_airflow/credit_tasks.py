"""The delivery steps both credit DAGs share (``credit_list``, ``credit_repair``): one wiring, one code path.

* :func:`flush_inflight` — task ``flush_inflight``, first in each run: re-sends what a crashed run left
  ``pending`` (same Idempotency-Key) and collects receipts for up to a minute. It never fails on a slow
  platform: the steps after it skip a case whose publication is still in flight and count it.
* :func:`deliver` — task group ``deliver``: ``send`` submits every pending batch of the capability's two
  kinds (``dishonest_list``; ``penalty`` withdrawals of ``origin`` credit) in the pool ``credit_platform``;
  ``receipts`` (a reschedule-mode sensor, every 5 s for up to an hour) collects the platform's answers
  and then marks the listings it accepted as 已公示.

Both DAGs may deliver at the same time, and the 双公示 upload sends the same ``penalty`` rows: each batch
goes out under the key stored with it in ``cf_ledger``, so the platform applies it once and replays its
first answer to a second sender (``core/ledger.py``, ``creditflow.credit.publish``).

Also what both DAGs' wiring shares: :data:`START`, :data:`DEFAULT_ARGS`, :func:`run_interval`.

Standard library, ``pendulum``, ``airflow.sdk`` and :mod:`creditflow.common` only at import: DAG files import this
module at parse time.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pendulum
from airflow.sdk import PokeReturnValue, task, task_group
from creditflow.common import TIMEZONE_NAME

from creditflow_airflow.notifiers import TIMEOUTS, default_task_args, local_interval

#: Where both credit DAGs' schedules begin: CREDITFLOW_CREDIT_START, else the 双公示 DAGs' start.
START = pendulum.parse(os.environ.get("CREDITFLOW_CREDIT_START", os.environ.get("CREDITFLOW_SGS_START", "2026-11-01")),
                       tz=TIMEZONE_NAME)
DEFAULT_ARGS = default_task_args(retries=2, retry_delay=dt.timedelta(seconds=30), retry_exponential_backoff=True,
                                 execution_timeout=TIMEOUTS["step"])


def run_interval(context: Any) -> Any:
    """(start, end) as aware local datetimes, and the day the run acts as of (the interval's end date)."""
    return local_interval(context)

UPLOAD_POOL = "credit_platform"
FLUSH_WAIT_SECONDS = 60
RECEIPTS_POKE_SECONDS = 5
RECEIPTS_TIMEOUT_SECONDS = 3600


def _engine_and_client() -> tuple[Any, Any]:
    from creditflow_airflow.hooks import CreditPlatformHook, warehouse_engine

    return warehouse_engine(), CreditPlatformHook().get_conn()


def flush_inflight() -> Any:
    """The ``flush_inflight`` task (call inside a DAG)."""

    @task(task_id="flush_inflight", pool=UPLOAD_POOL, execution_timeout=TIMEOUTS["upload"])
    def _flush() -> dict:
        from creditflow.credit import publish

        out = publish.deliver(*_engine_and_client(), wait=FLUSH_WAIT_SECONDS)
        return {"sent": {k: out[k]["records"] for k in publish.KINDS}, "published": out["published"],
                "still_processing": out["still_processing"]}

    return _flush()


def deliver() -> Any:
    """The ``deliver`` task group, ``send >> receipts`` (call inside a DAG)."""

    @task_group(group_id="deliver")
    def _deliver() -> None:
        @task(pool=UPLOAD_POOL, execution_timeout=TIMEOUTS["upload"])
        def send() -> dict:
            from creditflow.credit import publish

            return publish.send_all(*_engine_and_client())

        # timeout: receipts for an hour in all; execution_timeout: one poke.
        @task.sensor(poke_interval=RECEIPTS_POKE_SECONDS, timeout=RECEIPTS_TIMEOUT_SECONDS, mode="reschedule",
                     execution_timeout=TIMEOUTS["poke"])
        def receipts() -> PokeReturnValue:
            from creditflow.credit import publish

            got = publish.collect(*_engine_and_client())
            return PokeReturnValue(is_done=got["still_processing"] == 0, xcom_value=got)

        send() >> receipts()

    return _deliver()
