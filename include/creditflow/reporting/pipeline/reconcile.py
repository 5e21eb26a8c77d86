"""Stage 8 — reconcile every record into exactly one outcome; due-soon alert."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_text
from creditflow.core import ledger, rules, standard
from creditflow.core import warehouse as wh
from creditflow.core.identifiers import public_key
from creditflow.reporting.pipeline.common import (
    OUTCOMES,
    ReconciliationError,
    Run,
    log,
)

# --- 8. reconcile ------------------------------------------------------------------------------------


def reconcile(run: Run, engine: sa.Engine, rejected_files: int = 0) -> dict[str, Any]:
    """extracted = uploaded + quarantined + awaiting_review + unchanged + duplicates, record by record."""
    judge_late(run, engine)
    with engine.connect() as conn:
        staged = {r[0] for r in conn.execute(sa.select(wh.staging.c.record_id).where(
            wh.staging.c.run_key == run.run_key, wh.staging.c.kind == run.kind))}
        outs = [dict(r) for r in conn.execute(sa.select(wh.outcomes).where(
            wh.outcomes.c.run_key == run.run_key, wh.outcomes.c.kind == run.kind)).mappings()]
        sent_not_done = conn.execute(sa.select(sa.func.count()).select_from(wh.ledger).where(
            wh.ledger.c.kind == run.kind, wh.ledger.c.run_key == run.run_key,
            wh.ledger.c.state.in_(ledger.IN_FLIGHT))).scalar_one()
    counts = {k: sum(1 for o in outs if o["outcome"] == k) for k in OUTCOMES}
    ids = [o["record_id"] for o in outs]
    problems = []
    if len(ids) != len(set(ids)):
        problems.append("some records have more than one outcome")
    missing = staged - set(ids)
    extra = set(ids) - staged
    if missing:
        problems.append(f"{len(missing)} extracted records have no outcome (e.g. {sorted(missing)[0]})")
    if extra:
        problems.append(f"{len(extra)} outcomes for records that were not extracted")
    if sent_not_done:
        problems.append(f"{sent_not_done} uploads of this run have no receipt yet")
    unknown = {o["outcome"] for o in outs} - set(OUTCOMES)
    if unknown:
        problems.append(f"unknown outcomes {sorted(unknown)}")
    total = sum(counts.values())
    summary = {"run_key": run.run_key, "kind": run.kind, "dag_id": run.dag_id,
               "interval_start": run.start.isoformat(), "interval_end": run.end.isoformat(),
               "extracted": len(staged), "uploaded": counts["uploaded"], "quarantined": counts["quarantined"],
               "awaiting_review": counts["awaiting_review"], "unchanged": counts["unchanged"],
               "duplicates": counts["duplicate"], "late": sum(1 for o in outs if o["late"]),
               "due_soon": sum(1 for o in outs if o["due_soon"]), "rejected_files": rejected_files,
               "reconciled": not problems and total == len(staged), "written_at": wh.now_iso()}
    with engine.begin() as conn:  # append-only: a re-run adds its reconciliation, the earlier ones stay
        conn.execute(wh.run_summary.insert().values(**summary))
    if problems or total != len(staged):
        raise ReconciliationError(f"{run.kind} {run.run_key}: extracted {len(staged)} ≠ outcomes {total}: "
                                  + "; ".join(problems))
    no_deadline = due_unknown_records(run, engine)
    if no_deadline:
        # Processed, published and alerted (the 临期预警 lists them with the reason): a deadline beyond the
        # official calendar is 待定, computed from the decision date once the year's file is added.
        log.warning("%s %s: %d 条记录上网公开期限待定（%s）", run.kind, run.run_key, len(no_deadline),
                    "；".join(sorted({str(u["message_zh"]) for u in no_deadline})))
    return summary


class DeadlineUnknownError(RuntimeError):
    """Kept for callers that import it: a run is no longer failed for a deadline beyond the calendar."""


def judge_late(run: Run, engine: sa.Engine) -> int:
    """This run's first publications the platform accepted: ``late`` becomes the one definition — the
    acceptance day (Beijing time) after the deadline (:func:`creditflow.core.duedates.published_late`) —
    instead of the interval's end, which a backfill of an old day gets wrong. Returns how many changed."""
    from creditflow.core.duedates import published_late, sgs_due

    o, h, s = wh.outcomes, wh.ledger_history, wh.standardised
    with engine.begin() as conn:
        accepted = dict(conn.execute(
            sa.select(h.c.record_id, sa.func.min(h.c.at)).where(
                h.c.run_key == run.run_key, h.c.kind == run.kind, h.c.state == "accepted", h.c.op == "create")
            .group_by(h.c.record_id)).all())
        if not accepted:
            return 0
        rows = conn.execute(
            sa.select(o.c.record_id, o.c.due_date, o.c.late, s.c.decision_date)
            .join(s, sa.and_(s.c.run_key == o.c.run_key, s.c.record_id == o.c.record_id), isouter=True)
            .where(o.c.run_key == run.run_key, o.c.kind == run.kind, o.c.outcome == "uploaded", o.c.op == "create")
        ).all()
        changed = 0
        for record_id, due_date, late, decision_date in rows:
            at = accepted.get(record_id)
            if at is None:
                continue
            now_late = bool(published_late(at, due_date or sgs_due(decision_date)))
            if now_late != bool(late):
                conn.execute(o.update().where(o.c.run_key == run.run_key, o.c.kind == run.kind,
                                              o.c.record_id == record_id).values(late=now_late))
                changed += 1
    return changed


def due_unknown_records(run: Run, engine: sa.Engine) -> list[dict[str, Any]]:
    """Records of this run flagged ``DUE_DATE_UNKNOWN`` by validation (no personal data)."""
    f, o = wh.findings, wh.outcomes
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(f.c.record_id, f.c.message_zh, o.c.outcome, o.c.review_reason)
            .join(o, sa.and_(o.c.run_key == f.c.run_key, o.c.kind == f.c.kind, o.c.record_id == f.c.record_id))
            .where(f.c.run_key == run.run_key, f.c.kind == run.kind, f.c.rule_id == "DUE_DATE_UNKNOWN")
            .order_by(f.c.record_id)).mappings()
        return [{**dict(r), "due_date": None} for r in rows]


def due_soon_records(run: Run, engine: sa.Engine) -> list[dict[str, Any]]:
    """Records of this run that are not yet accepted and are due within the alert window (no personal data)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(wh.outcomes.c.record_id, wh.outcomes.c.outcome, wh.outcomes.c.due_date,
                                      wh.outcomes.c.review_reason)
                            .where(wh.outcomes.c.run_key == run.run_key, wh.outcomes.c.kind == run.kind,
                                   wh.outcomes.c.due_soon.is_(True))).mappings()
        return [dict(r) for r in rows]


def due_soon_alert(kind: str, run_date: dt.date, records: list[dict[str, Any]],
                   unknown: list[dict[str, Any]] | None = None) -> tuple[str, str] | None:
    """临期预警 (subject, HTML body) for records not yet accepted and due within the alert window, or None.

    No personal data: record ids (ID numbers already masked in them), reasons and due dates only.
    """
    if not records and not unknown:
        return None
    kind_zh = standard.KIND_ZH[kind]
    reasons = {"awaiting_review": "待审核", "quarantined": "问题数据待修正", "uploaded": "已上报",
               "unchanged": "无变化", "duplicate": "重复"}
    rows = sorted(records, key=lambda r: (r["due_date"] or "", r["record_id"]))
    unknown = list(unknown or [])
    if rows:
        subject = f"【临期预警】{kind_zh} {len(rows)} 条记录将于 {rows[0]['due_date']} 前到期，尚未上报"
    else:
        subject = f"【期限预警】{kind_zh} {len(unknown)} 条记录上网公开期限待定（无法计算）"
    if rows and unknown:
        subject += f"；另有 {len(unknown)} 条记录期限待定（无法计算）"
    lines = "".join(
        f"<tr><td>{public_key(str(r['record_id']))}</td><td>{reasons.get(r['outcome'], r['outcome'])}</td>"
        f"<td>{r.get('review_reason') or ''}</td><td>{r['due_date']}</td></tr>" for r in rows[:200])
    more = f"<p>另有 {len(rows) - 200} 条未列出。</p>" if len(rows) > 200 else ""
    body = ""
    if rows:
        body += (f"<p>截至 {run_date.isoformat()}，以下{kind_zh}记录距“7个工作日内上网公开”的期限不足"
                 f"{int(rules.deadline('sgs_due_soon', run_date).amount)}个工作日，尚未被共享平台接收。"
                 "请今天完成审核或修正源数据，下一次运行将自动上报。</p>"
                 f"<table border='1'><tr><th>记录</th><th>状态</th><th>原因</th><th>截止日期</th></tr>{lines}</table>"
                 f"{more}")
    if unknown:
        causes = "".join(f"<li>{mask_text(m)}</li>" for m in sorted({str(u["message_zh"]) for u in unknown}))
        listed = "".join(f"<tr><td>{public_key(str(u['record_id']))}</td>"
                         f"<td>{reasons.get(str(u.get('outcome')), u.get('outcome') or '')}</td></tr>"
                         for u in unknown[:200])
        body += (f"<p>以下{kind_zh}记录“7个工作日内上网公开”的期限待定，系统不会把它们当作“无期限”处理："
                 f"记录照常处理和上报，期限在补充该年官方日历后自动计算、显示，无需重新录入或重跑：</p><ul>{causes}</ul>"
                 f"<table border='1'><tr><th>记录</th><th>状态</th></tr>{listed}</table>")
    return subject, body
