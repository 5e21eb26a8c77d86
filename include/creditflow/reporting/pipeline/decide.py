"""Stages 4–6 — decide (timeliness, dedup, review) and write pending ledger rows: load → plan → write.

The decisions themselves are :mod:`creditflow.reporting.pipeline.plan` (a pure function); this module
reads what it needs from the warehouse and writes what it decided, in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from creditflow.core import ledger, rules
from creditflow.core import warehouse as wh
from creditflow.core.workdays import official_calendar
from creditflow.reporting import standardise as st
from creditflow.reporting.pipeline import plan, rerun
from creditflow.reporting.pipeline.common import (
    Run,
    _chunks,
    dedup_config,
    review_policy,
)
from creditflow.reporting.pipeline.plan import InFlightError as InFlightError  # re-exported for the callers
from creditflow.reporting.pipeline.standardise import load_standardised_records

# --- 4–6. flush in-flight, decide (timeliness, dedup, review) ----------------------------------------


def _ledger_rows(conn: sa.Connection, kind: str, column: sa.Column, keys: list[str],
                 *where: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(set(k for k in keys if k)), 500):
        out += [dict(r) for r in conn.execute(sa.select(wh.ledger).where(wh.ledger.c.kind == kind,
                                                                          column.in_(chunk), *where)).mappings()]
    return out


def ledger_context(conn: sa.Connection, kind: str, natural_keys: list[str], party_keys: list[str],
                   decision_dates: list[str], window_days: int) -> tuple[dict[str, dict[str, Any]],
                                                                           list[dict[str, Any]]]:
    """What a run needs from the ledger: rows of its natural keys, and — for near duplicates — rows of its
    parties whose decision date is within the window of its own dates. Index lookups only, so the work
    of a daily run does not grow with the size of the ledger."""
    by_nk = {r["natural_key"]: r for r in _ledger_rows(conn, kind, wh.ledger.c.natural_key, natural_keys)}
    dates = sorted(d for d in decision_dates if d)
    if not dates:
        return by_nk, []
    lo = (dt.date.fromisoformat(dates[0]) - dt.timedelta(days=window_days)).isoformat()
    hi = (dt.date.fromisoformat(dates[-1]) + dt.timedelta(days=window_days)).isoformat()
    party = _ledger_rows(conn, kind, wh.ledger.c.party_key, party_keys,
                         wh.ledger.c.decision_date >= lo, wh.ledger.c.decision_date <= hi)
    return by_nk, party


def _review_state(conn: sa.Connection, record_ids: list[str]) -> dict[tuple[str, str, str], dict[int, str]]:
    """The reviewers' decisions on these records: (record, content, op) → level → the latest decision."""
    out: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    ids = sorted(set(record_ids))
    d = wh.review_decisions
    for chunk in _chunks(ids, 500):
        for r in conn.execute(sa.select(d).where(d.c.record_id.in_(chunk)).order_by(d.c.id)).mappings():
            out[(r["record_id"], r["content_hash"], r["op"])][int(r["level"])] = r["decision"]
    return out




def decide(run: Run, engine: sa.Engine, batch_size: int = 200, *, early: bool = False) -> dict[str, int]:
    """Stage 4–6: quarantine, exact and near duplicates, op against the ledger, review gate, due dates.

    Load what the run needs, :func:`creditflow.reporting.pipeline.plan.plan` it (a pure function: the
    rules live there), and write this run's outcomes, the review queue and the ledger's pending
    operations (with their batches), all in one transaction.

    ``early``: the run decides while an earlier day's uploads may still be out (a history load,
    :func:`~creditflow.reporting.pipeline.interval.process_range`). A decision that would read what a
    receipt still to come sets (:class:`~creditflow.reporting.pipeline.plan.PlanInput` ``early``) raises
    :class:`~creditflow.reporting.pipeline.plan.InFlightError` before anything is written.
    """
    p = plan.plan(load(run, engine, early=early))
    _write(run, engine, p, batch_size)
    return dict(p.counts)


def rules_in_force() -> plan.Rules:
    """The rule data a run applies (policy files, the official calendar)."""
    return plan.Rules(policy=review_policy()["policies"], dedup=dedup_config(), calendar=official_calendar(),
                      precedence=st.precedence,
                      due_soon_days=lambda due: int(rules.deadline("sgs_due_soon", due).amount))


def load(run: Run, engine: sa.Engine, *, early: bool = False) -> plan.PlanInput:
    """Everything :func:`plan.plan` reads, from the warehouse, as plain data. The ledger is read only for
    the records that reach the ledger step (index lookups: the work does not grow with the ledger).

    Raises :class:`~creditflow.reporting.pipeline.plan.InFlightError` when a row of the run's natural keys
    is in flight (``flush_inflight`` waits for those first) — unless ``early``: then :func:`plan.plan` raises
    it where a decision would read what the receipt sets."""
    records = load_standardised_records(run, engine)
    cfg = rules_in_force()
    with engine.connect() as conn:
        f = wh.findings
        findings = [plan.Finding(rid, sev, rule) for rid, sev, rule in conn.execute(sa.select(
            f.c.record_id, f.c.severity, f.c.rule_id).where(f.c.run_key == run.run_key, f.c.kind == run.kind))]
        winners = plan.winners_of(records, findings, cfg.precedence)
        ledger_by_nk, party_rows = ledger_context(
            conn, run.kind, list(winners), [r["party_key"] for r in winners.values()],
            [r["decision_date"] for r in winners.values()], int(cfg.dedup["date_window_days"]))
        inflight = [L for L in ledger_by_nk.values() if L["state"] in ledger.IN_FLIGHT]
        if inflight and not early:  # early: plan raises where a decision would read what a receipt sets
            raise plan.InFlightError(f"{len(inflight)} ledger operations still in flight: run flush_inflight first")
        winner_ids = [r["record_id"] for r in winners.values()]
        return plan.PlanInput(
            run=run, records=records, findings=findings, ledger=ledger_by_nk, party_rows=party_rows,
            review_decisions=_review_state(conn, winner_ids),
            stopped=_publicity_stopped(conn, run.kind, list(winners)),
            previous={o["record_id"]: dict(o) for o in conn.execute(  # this run's outcomes of an earlier attempt
                sa.select(wh.outcomes.c.record_id, wh.outcomes.c.duplicate_of, wh.outcomes.c.detail).where(
                    wh.outcomes.c.run_key == run.run_key, wh.outcomes.c.kind == run.kind)).mappings()},
            # A re-run of an older day leaves alone the records a later day's run already decided (rerun.py).
            newer=rerun.newer_records(conn, run, winner_ids),
            rules=cfg, early=early)


def _write(run: Run, engine: sa.Engine, p: plan.Plan, batch_size: int) -> None:
    """The plan, in one transaction: outcomes, review requests, settled reviews, the ledger's operations."""
    now = wh.now_iso()
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.outcomes, run.run_key, [{**o, "decided_at": now} for o in p.outcome_rows],
                            kind=run.kind)
        queued = rerun.queued_reviews(conn, [q.record["record_id"] for q in p.review_requests])
        for q in p.review_requests:
            r = q.record
            key = {"record_id": r["record_id"], "content_hash": r["content_hash"], "op": q.op}
            if (r["record_id"], r["content_hash"], q.op) not in queued:
                rerun.supersede_for_new(conn, run, r["record_id"])
                conn.execute(wh.reviews.insert().values(
                    **key, kind=run.kind, natural_key=r["natural_key"], reason=q.reason, related_record=q.related,
                    levels_required=q.levels_required, status="pending",
                    due_date=r.get("due_date"), created_run_key=run.run_key, created_at=now))
        # A review closes only on the content and operation it reviewed (rerun.settle_reviews).
        open_rows = rerun.open_reviews(conn, run.kind, [s.record_id for s in p.settle])
        for s in p.settle:
            if s.record_id in open_rows:
                rerun.settle_reviews(conn, run, s.record_id, open_rows[s.record_id], s.reviewed, s.outcome, s.op)
        _write_ledger(conn, run, list(p.ops), dict(p.ledger_by_nk), dict(p.replaced_nks), list(p.owner_moves),
                      now, batch_size)


def _publicity_stopped(conn: sa.Connection, kind: str, natural_keys: list[str]) -> dict[str, str]:
    """Penalties whose publication the credit capability stopped (publicity period ended, or repaired)."""
    if kind != "penalty" or not natural_keys:
        return {}
    p = wh.credit_penalty
    labels = {"ended": "期满停止", "repaired": "经信用修复停止"}
    out: dict[str, str] = {}
    for chunk in _chunks(sorted(set(natural_keys)), 500):
        for nk, status in conn.execute(sa.select(p.c.natural_key, p.c.status).where(
                p.c.natural_key.in_(chunk), p.c.status.in_(list(labels)))):
            out[nk] = labels[status]
    return out


def _write_ledger(conn: sa.Connection, run: Run, ops: list[tuple[dict[str, Any], str]],
                  ledger_by_nk: dict[str, dict[str, Any]], replaced_nks: dict[str, str],
                  owner_moves: list[tuple[str, str]], now: str, batch_size: int = 200) -> None:
    """The run's ledger writes, through :mod:`creditflow.core.ledger` (under the ledger lock): its operations
    → pending, each checked against the row this run decided on (``ledger_by_nk``; a row another capability
    changed since — a credit withdrawal queued meanwhile — fails the run, and its retry decides again);
    a replaced copy's withdrawal names its original; owner moves of published rows with the same content."""
    queued = [ledger.Operation(
        natural_key=r["natural_key"], op=op, record_id=r["record_id"], payload=r["payload"],
        content_hash=r["content_hash"], party_key=r["party_key"], doc_key=r["doc_key"],
        decision_date=r["decision_date"], body_hash=r["body_hash"],
        replaces_record_id=replaced_nks.get(r["natural_key"]) if op == "withdraw" else None,
        expected=ledger_by_nk.get(r["natural_key"])) for r, op in ops]
    ledger.queue_sgs(conn, run.kind, run.run_key, queued, now, batch_size)
    ledger.move_owners(conn, run.kind, owner_moves, now)
