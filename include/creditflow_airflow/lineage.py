"""OpenLineage for the 双公示 DAGs: which datasets each step reads and writes.

Airflow's OpenLineage provider sends a START and a COMPLETE (or FAIL) event for every task; for the
``@task`` steps of ``sgs_<kind>`` this extractor (``[openlineage] extractors =
creditflow_airflow.lineage.SgsTaskExtractor``, set in ``scripts/airflow_env.py``) names their inputs and outputs,
so that a record's path is one chain of jobs and datasets::

    case DB table / licensing API / district inbox → extract → cf_staging → standardise → cf_std
    → validate → cf_finding → decide → cf_outcome, cf_ledger → upload → platform batches
    → receipts → cf_ledger (accepted / rejected) → reconcile → cf_run_summary

The DAG runs these steps in four tasks (``prepare``, ``deliver``, ``receipts``, ``reconcile``; issue #17):
a task's event names the union of its steps' datasets (``io_of``) — tables a step reads after an earlier
step of the same task wrote them are internal — so the chain reads sources → prepare → cf_staging, cf_std,
cf_finding → deliver → ledger, platform batches → receipts → reconcile → cf_run_summary; the run facet's run
key leads to the rows of each step.

Each COMPLETE/FAIL event also carries a ``creditflow`` run facet with the warehouse's run key
(``sgs_penalty|2026-11-03``): a record's rows (``cf_staging.run_key``, ``record_id``, ``lineage`` = source
file or table row) lead to the run key, the run key to these events and their Airflow run. Datasets are
named after the connections (host and database, never a password); other tasks keep the provider's
default (Python source code facet).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    import attr
    from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage
    from airflow.providers.openlineage.extractors.python import PythonExtractor
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import RunFacet, sql_job
except ImportError:  # the provider is optional: without it there is nothing to extract for
    BaseExtractor = None  # type: ignore[assignment,misc]

SQL_DIR = Path(__file__).resolve().parents[1] / "include" / "sql" / "casedb"
CASE_TABLES = {"penalty": "penalty_decision", "coercion": "coercive_measure"}
_DAG = re.compile(r"^sgs_(penalty|license|coercion)$")

# step → (warehouse tables read, warehouse tables written, outside systems read, outside systems written)
STEPS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "extract": ((), ("cf_staging", "cf_source_file"), ("source",), ()),
    "standardise": (("cf_staging",), ("cf_std",), (), ()),
    "validate": (("cf_std",), ("cf_finding",), (), ()),
    "flush_inflight": (("cf_ledger",), ("cf_ledger",), ("receipts",), ("batches",)),
    "decide": (("cf_std", "cf_finding", "cf_ledger", "cf_review"), ("cf_outcome", "cf_review", "cf_ledger"), (), ()),
    "alert_due_soon": (("cf_outcome",), (), (), ()),
    "upload": (("cf_ledger",), ("cf_ledger", "cf_ledger_history"), (), ("batches",)),
    "receipts": (("cf_ledger",), ("cf_ledger", "cf_ledger_history", "cf_outcome", "cf_finding"), ("receipts",), ()),
    "reconcile": (("cf_outcome", "cf_staging"), ("cf_run_summary",), (), ()),
}


# The daily DAG's tasks and the steps each runs, in order (dags/sgs_reporting.py, issue #17 §4).
TASKS: dict[str, tuple[str, ...]] = {
    "prepare": ("extract", "standardise", "validate"),
    "deliver": ("flush_inflight", "decide", "alert_due_soon", "upload"),
    "receipts": ("receipts",),
    "reconcile": ("reconcile",),
}


def io_of(task_id: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Inputs and outputs of a task: its steps' in order — a table a step reads after an earlier step of the
    same task wrote it is internal to the task, not an input."""
    step = step_of(task_id)
    steps = TASKS.get(step, (step,) if step in STEPS else ())
    reads: list[str] = []
    writes: list[str] = []
    outside_in: list[str] = []
    outside_out: list[str] = []
    for name in steps:
        r, w, oi, oo = STEPS[name]
        reads += [t for t in r if t not in writes and t not in reads]
        writes += [t for t in w if t not in writes]
        outside_in += [x for x in oi if x not in outside_in]
        outside_out += [x for x in oo if x not in outside_out]
    return tuple(reads), tuple(writes), tuple(outside_in), tuple(outside_out)


def sql_dataset(url: str, table: str) -> tuple[str, str]:
    """(namespace, name) of a table behind a SQLAlchemy URL, per OpenLineage's naming: ``postgres://host:port``
    and ``database.schema.table``; a SQLite file is ``sqlite://<path>`` and the table. No credentials."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "sqlite":
        return f"sqlite://{url.split(':///', 1)[-1].split('?', 1)[0]}", table
    if scheme in ("postgresql", "postgres"):
        return f"postgres://{parts.hostname}:{parts.port or 5432}", f"{parts.path.lstrip('/')}.public.{table}"
    return f"{scheme}://{parts.hostname}:{parts.port or ''}", f"{parts.path.lstrip('/')}.{table}"


def storage_dataset(url: str) -> tuple[str, str]:
    """(namespace, name) of a storage location per OpenLineage's naming: ``file`` and the path for a local
    folder, ``s3://bucket`` and the key for object storage."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file", "local"):
        return "file", parts.path or url
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def http_dataset(base_url: str, path: str) -> tuple[str, str]:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}", path


def run_key(dag_id: str, interval_start: Any) -> str:
    """The warehouse's run key of a DAG run: ``dag_id|<local date of the interval start>``."""
    from creditflow.common import TIMEZONE_NAME

    local = interval_start.in_timezone(TIMEZONE_NAME) if hasattr(interval_start, "in_timezone") else interval_start
    return f"{dag_id}|{local.date().isoformat()}"


def step_of(task_id: str) -> str:
    return task_id.rsplit(".", 1)[-1]  # deliver.upload → upload


if BaseExtractor is not None:

    @attr.define
    class CreditflowRunFacet(RunFacet):
        """Where to find this run in the warehouse: ``cf_*.run_key`` and the record kind."""

        runKey: str = attr.field()
        kind: str = attr.field()
        step: str = attr.field()

        @staticmethod
        def _get_schema() -> str:
            return "urn:creditflow:facet:CreditflowRunFacet:1"

    class SgsTaskExtractor(BaseExtractor):
        """Inputs and outputs of the 双公示 steps; the provider's Python extractor for every other task."""

        @classmethod
        def get_operator_classnames(cls) -> list[str]:
            # ReceiptsOperator: the deferrable receipt wait (creditflow_airflow.sgs_tasks).
            return ["_PythonDecoratedOperator", "DecoratedSensorOperator", "ReceiptsOperator"]

        def _kind(self) -> str | None:
            m = _DAG.match(str(getattr(self.operator, "dag_id", "")))
            step = step_of(self.operator.task_id)
            return m.group(1) if m and (step in STEPS or step in TASKS) else None

        def _execute_extraction(self) -> OperatorLineage | None:
            kind = self._kind()
            if kind is None:
                return PythonExtractor(self.operator)._execute_extraction()
            return self._lineage(kind)

        def _lineage(self, kind: str) -> OperatorLineage:
            from creditflow_airflow.hooks import (
                CASE_DB_CONN,
                LICENSING_CONN,
                PLATFORM_CONN,
                WAREHOUSE_CONN,
                _base_url,
                _connection,
                sqlalchemy_url,
                storage,
            )

            step = step_of(self.operator.task_id)
            reads, writes, outside_in, outside_out = io_of(step)
            warehouse = sqlalchemy_url(WAREHOUSE_CONN)
            inputs = [Dataset(*sql_dataset(warehouse, t)) for t in reads]
            outputs = [Dataset(*sql_dataset(warehouse, t)) for t in writes]
            job_facets: dict[str, Any] = {}
            platform = _base_url(_connection(PLATFORM_CONN))
            for what in outside_in:
                if what == "source":
                    if kind in CASE_TABLES:
                        inputs.append(Dataset(*sql_dataset(sqlalchemy_url(CASE_DB_CONN), CASE_TABLES[kind])))
                        sql = SQL_DIR / f"extract_{kind}.sql"
                        if sql.is_file():
                            job_facets["sql"] = sql_job.SQLJobFacet(query=sql.read_text(encoding="utf-8"))
                    else:
                        inputs.append(Dataset(*http_dataset(_base_url(_connection(LICENSING_CONN)),
                                                            "/api/v1/licences")))
                    inputs.append(Dataset(*storage_dataset(storage("inbox").url_of(kind))))
                else:  # per-record receipts of the platform
                    inputs.append(Dataset(*http_dataset(platform, "/api/v1/batches")))
            outputs += [Dataset(*http_dataset(platform, f"/api/v1/{kind}/batches")) for _ in outside_out]
            return OperatorLineage(inputs=inputs, outputs=outputs, job_facets=job_facets)

        def _with_run_facet(self, task_instance: Any) -> OperatorLineage | None:
            lineage = self._execute_extraction()
            kind = self._kind()
            if lineage is None or kind is None:
                return lineage
            try:
                start = task_instance.get_template_context()["data_interval_start"]
                key = run_key(self.operator.dag_id, start)
            except Exception:  # lineage must never fail a task
                return lineage
            lineage.run_facets["creditflow"] = CreditflowRunFacet(runKey=key, kind=kind,
                                                                  step=step_of(self.operator.task_id))
            return lineage

        def extract_on_complete(self, task_instance: Any) -> OperatorLineage | None:
            return self._with_run_facet(task_instance)

        def extract_on_failure(self, task_instance: Any) -> OperatorLineage | None:
            return self._with_run_facet(task_instance)

