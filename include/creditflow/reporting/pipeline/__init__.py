"""The 双公示 pipeline, stage by stage, as plain functions over the warehouse (no Airflow here).

Each stage takes a :class:`Run` (kind + data interval) and is a transaction over that run's rows: run it
twice and the second run replaces exactly what the first wrote. The DAG in ``dags/sgs_reporting.py``
calls these in order; tests call them directly.

    extract → standardise → validate → flush_inflight → decide (timeliness, dedup, review) → upload
    → collect_receipts → reconcile

"Nothing lost": every staged record gets exactly one outcome — ``uploaded`` (create/更正/撤销, in this
run), ``quarantined`` (rule findings or platform rejection), ``awaiting_review``, ``unchanged`` (the
platform already holds this content) or ``duplicate`` (of a named record) — and :func:`reconcile`
fails the run when the counts do not add up.

One module per stage: ``extract``, ``standardise``, ``validate`` (+ the result for 数据质量报告), ``decide``
(load → plan → write; the rules — timeliness, dedup, review — are the pure function in ``plan``), ``upload``
(upload, receipts), ``reconcile`` (+ due-soon alert); ``stages`` groups them into the daily DAG's four tasks.
"""

from creditflow.reporting.pipeline.common import (
    OUTCOMES,
    ReconciliationError,
    Run,
    Sources,
    dedup_config,
    review_policy,
)
from creditflow.reporting.pipeline.decide import decide, ledger_context
from creditflow.reporting.pipeline.extract import InboxTransientError, carried_over, extract, extract_inbox
from creditflow.reporting.pipeline.reconcile import (
    DeadlineUnknownError,
    due_soon_alert,
    due_soon_records,
    due_unknown_records,
    reconcile,
)
from creditflow.reporting.pipeline.standardise import load_standardised, standardise, standardise_frame
from creditflow.reporting.pipeline.upload import collect_receipts, flush_inflight, upload
from creditflow.reporting.pipeline.validate import (
    QualityReportError,
    due_date_findings,
    received_on,
    scrub_validation_result,
    validate,
)

__all__ = [
    "OUTCOMES",
    "DeadlineUnknownError",
    "InboxTransientError",
    "QualityReportError",
    "ReconciliationError",
    "Run",
    "Sources",
    "carried_over",
    "collect_receipts",
    "decide",
    "dedup_config",
    "due_date_findings",
    "due_soon_alert",
    "due_soon_records",
    "due_unknown_records",
    "extract",
    "extract_inbox",
    "flush_inflight",
    "ledger_context",
    "load_standardised",
    "received_on",
    "reconcile",
    "review_policy",
    "scrub_validation_result",
    "standardise",
    "standardise_frame",
    "upload",
    "validate",
]
