"""Stages 4–6 — flush in-flight batches, decide (timeliness, dedup, review) and write pending ledger rows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.core import ledger, rules, standard
from creditflow.core import warehouse as wh
from creditflow.core.duedates import due_status
from creditflow.core.workdays import official_calendar
from creditflow.reporting import standardise as st
from creditflow.reporting.pipeline import rerun
from creditflow.reporting.pipeline.common import (
    OUTCOMES,
    Run,
    _chunks,
    dedup_config,
    review_policy,
)
from creditflow.reporting.pipeline.standardise import load_standardised

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


def _review_state(conn: sa.Connection, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict[int, str]]:
    out: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    ids = sorted({k[0] for k in keys})
    d = wh.review_decisions
    for chunk in _chunks(ids, 500):
        for r in conn.execute(sa.select(d).where(d.c.record_id.in_(chunk)).order_by(d.c.id)).mappings():
            out[(r["record_id"], r["content_hash"], r["op"])][int(r["level"])] = r["decision"]
    return out


@dataclass
class Decision:
    record_id: str
    outcome: str
    op: str | None = None
    duplicate_of: str | None = None
    review_reason: str | None = None
    related: str | None = None
    detail: str | None = None


def decide(run: Run, engine: sa.Engine, batch_size: int = 200) -> dict[str, int]:
    """Stage 4–6: quarantine, exact and near duplicates, op against the ledger, review gate, due dates.

    Writes this run's outcomes, the review queue and the ledger's pending operations (with their
    batches), all in one transaction.
    """
    from rapidfuzz import fuzz

    frame = load_standardised(run, engine)
    policy = review_policy()["policies"]
    cfg = dedup_config()
    cal = official_calendar()
    with engine.connect() as conn:
        fnd = pd.read_sql(sa.select(wh.findings).where(wh.findings.c.run_key == run.run_key,
                                                       wh.findings.c.kind == run.kind), conn)
    errors = fnd[fnd["severity"] == "error"].groupby("record_id")["rule_id"].apply(
        lambda s: ",".join(sorted(set(s)))).to_dict()
    # A missing deadline is the calendar's problem, not the record's: it is alerted, not sent to review.
    warned = set(fnd[(fnd["severity"] == "warning") & (fnd["rule_id"] != "DUE_DATE_UNKNOWN")]["record_id"])
    decisions: dict[str, Decision] = {}
    recs = {r["record_id"]: r for r in frame.to_dict("records")}

    valid = []
    for rid, r in recs.items():
        if rid in errors:
            decisions[rid] = Decision(rid, "quarantined", detail=errors[rid])
        elif not isinstance(r["natural_key"], str) or not r["natural_key"]:  # None, NaN (a float: truthy) or ""
            decisions[rid] = Decision(rid, "quarantined", detail="NO_NATURAL_KEY")
        else:
            valid.append(r)
    valid.sort(key=lambda r: (st.precedence(r["source_system"]), r["record_id"]))
    winners: dict[str, dict[str, Any]] = {}
    for r in valid:
        nk = r["natural_key"]
        if nk in winners:
            decisions[r["record_id"]] = Decision(r["record_id"], "duplicate", duplicate_of=winners[nk]["record_id"],
                                                 detail="同一文书号和行政相对人")
        else:
            winners[nk] = r

    with engine.connect() as conn:
        ledger_by_nk, party_rows = ledger_context(
            conn, run.kind, list(winners), [r["party_key"] for r in winners.values()],
            [r["decision_date"] for r in winners.values()], int(cfg["date_window_days"]))
        inflight = [L for L in ledger_by_nk.values() if L["state"] in ("pending", "sent")]
        if inflight:
            raise RuntimeError(f"{len(inflight)} ledger operations still in flight: run flush_inflight first")
        stopped = _publicity_stopped(conn, run.kind, list(winners))
        previous = {o["record_id"]: dict(o) for o in conn.execute(  # this run's outcomes of an earlier attempt
            sa.select(wh.outcomes.c.record_id, wh.outcomes.c.duplicate_of, wh.outcomes.c.detail).where(
                wh.outcomes.c.run_key == run.run_key, wh.outcomes.c.kind == run.kind)).mappings()}
        # A re-run of an older day leaves alone the records a later day's run already decided (rerun.py).
        newer = rerun.newer_records(conn, run, [r["record_id"] for r in winners.values()])
    by_party: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for L in party_rows:
        by_party[L["party_key"]].append({"record_id": L["owner_record_id"], "doc_key": L["doc_key"],
                                         "decision_date": L["decision_date"], "body_hash": L["body_hash"],
                                         "natural_key": L["natural_key"], "ledger": L})

    ops: list[tuple[dict[str, Any], str]] = []
    owner_moves: list[tuple[str, str]] = []  # (natural key, record id): a better source takes a published record
    replace_of: dict[str, dict[str, Any]] = {}  # original's record id → ledger row of the published worse copy
    pending_review: list[tuple[dict[str, Any], str, str | None, str | None]] = []
    candidates: list[tuple[dict[str, Any], str, str | None, str | None]] = []  # (record, op, reason, related)
    for nk, r in winners.items():
        rid, h = r["record_id"], r["content_hash"]
        led = ledger_by_nk.get(nk)
        if led is not None and led["owner_record_id"] != rid:
            owner_source = led["owner_record_id"].split(":", 1)[0]
            if st.precedence(owner_source) <= st.precedence(r["source_system"]):
                decisions[rid] = Decision(rid, "duplicate", duplicate_of=led["owner_record_id"],
                                          detail="与已上报记录的文书号和行政相对人相同")
                continue
        if led is not None and rerun.later(led["run_key"], run):
            # A later day's run wrote this record's ledger row: the platform holds what that run sent.
            decisions[rid] = Decision(rid, "unchanged", detail=f"{rerun.day_of(led['run_key'])} 的运行已处理该记录"
                                      "（重跑较早的日期不改变平台上的内容）")
            continue
        status = led["platform_status"] if led else None
        if led is not None and led["state"] == "rejected" and led["pending_hash"] == h:
            decisions[rid] = Decision(rid, "quarantined", detail=f"PLATFORM_REJECTED:{led['code']}")
            continue
        if status == "published":
            assert led is not None
            if r["source_revoked"]:
                op = "withdraw"
            elif led["accepted_hash"] == h:
                sent_here = led["run_key"] == run.run_key and led["state"] == "accepted"
                moved = led["owner_record_id"] != rid
                if moved:  # the original arrived after its copy was published with the same content
                    owner_moves.append((nk, rid))
                decisions[rid] = Decision(rid, "uploaded" if sent_here else "unchanged",
                                          op=led["op"] if sent_here else None,
                                          detail=(f"原件取代已公示的副本 {led['owner_record_id']}"
                                                  "（内容相同，平台无需更新）") if moved else None)
                continue
            else:
                op = "correct"
        elif status == "withdrawn":
            assert led is not None
            if nk in stopped:  # publicity ended or repaired (信用修复): the platform must not show it again
                decisions[rid] = Decision(rid, "unchanged", detail=f"公示已{stopped[nk]}，不再上报")
                continue
            sent_here = led["run_key"] == run.run_key and led["state"] == "accepted" and led["op"] == "withdraw"
            if r["source_revoked"]:
                decisions[rid] = Decision(rid, "uploaded" if sent_here else "unchanged",
                                          op="withdraw" if sent_here else None)
                continue
            if sent_here:  # a re-run of the run that withdrew it (a replaced copy): the same outcome again
                before = previous.get(rid, {})
                decisions[rid] = Decision(rid, "uploaded", op="withdraw", duplicate_of=before.get("duplicate_of"),
                                          detail=before.get("detail"))
                continue
            op = "create"
        else:
            if r["source_revoked"]:
                decisions[rid] = Decision(rid, "unchanged", detail="决定已撤销，未曾公示，无需上报")
                continue
            op = "create"
        reason = None
        related = None
        takeover = led is not None and led["owner_record_id"] != rid  # a better source takes the record over
        if op == "create" or (op == "correct" and takeover):
            near = _near_duplicate(r, by_party.get(r["party_key"], []), cfg, fuzz)
            if near:
                reason, related = "near_duplicate", near
                copy = next((o.get("ledger") for o in by_party[r["party_key"]] if o["record_id"] == near), None)
                if copy is not None and _worse_published(copy, r["source_system"]):
                    # The published record came from a worse source (a district copy with a mistyped 文号):
                    # a reviewer's "duplicate" replaces it with this original instead of dropping the original.
                    replace_of[rid] = copy
        if reason is None:
            lb = recs[rid].get(f"{standard.PREFIX[run.kind]}_XDR_LB")
            if op == "correct":
                reason = "correction"
            elif op == "withdraw":
                reason = "withdrawal"
            elif lb == "自然人":
                reason = "natural_person"
            else:
                reason = "warnings" if rid in warned else "clean"
        candidates.append((r, op, reason, related))
        if op == "create":  # later records of the same party compare against this one
            by_party[r["party_key"]].append({"record_id": rid, "doc_key": r["doc_key"],
                                             "decision_date": r["decision_date"], "body_hash": r["body_hash"],
                                             "natural_key": nk})

    with engine.connect() as conn:
        states = _review_state(conn, [(r["record_id"], r["content_hash"], op) for r, op, _, _ in candidates])
    replacements: list[tuple[str, dict[str, Any]]] = []
    reviewed: dict[str, tuple[str, str]] = {}  # record id → (content, operation) its review is about
    for r, op, reason, related in candidates:
        rid = r["record_id"]
        if rid in newer:  # a later day's run decided this record: this older run sends and reviews nothing
            decisions[rid] = Decision(rid, "unchanged", detail=f"{newer[rid]} 的运行已处理该记录"
                                      "（重跑较早的日期不改变平台上的内容和审核队列）")
            continue
        reviewed[rid] = (r["content_hash"], op)
        spec = policy[reason]
        required = [int(x) for x in spec["required"]]
        auto = {int(x) for x in spec["auto"]}
        given = states.get((rid, r["content_hash"], op), {})
        signed = all(level in auto or level in given for level in required)  # every required level decided
        if "reject" in given.values():
            decisions[rid] = Decision(rid, "quarantined", review_reason=reason, detail="REVIEW_REJECTED")
        elif signed and "duplicate" in given.values() and related and rid in replace_of:
            decisions[rid] = Decision(rid, "uploaded", op=op, review_reason=reason, related=related,
                                      detail=f"审核确认与已公示的副本重复：以原件替换 {related}")
            ops.append((r, op))
            replacements.append((rid, replace_of[rid]))
        elif signed and "duplicate" in given.values() and related:
            decisions[rid] = Decision(rid, "duplicate", duplicate_of=related, review_reason=reason,
                                      detail="审核确认为重复记录")
        elif all(level in auto or given.get(level) == "approve" for level in required):
            decisions[rid] = Decision(rid, "uploaded", op=op, review_reason=reason, related=related)
            ops.append((r, op))
        else:
            decisions[rid] = Decision(rid, "awaiting_review", op=op, review_reason=reason, related=related)
            pending_review.append((r, op, reason, related))

    # Replaced copies are withdrawn in the same batch run as their original is created.
    replaced_nks: dict[str, str] = {}
    for original_id, copy in replacements:
        copy_id, copy_nk = copy["owner_record_id"], copy["natural_key"]
        ops = [(x, o) for x, o in ops if x["record_id"] != copy_id]
        taker = next((x["record_id"] for x, _ in ops if x["natural_key"] == copy_nk), None)
        if taker is not None:
            # The copy's mistyped 文号 is the real 文号 of another decision of the same party, whose original
            # takes that platform record over in this run (更正): nothing to withdraw.
            if copy_id in recs:
                # Its natural key is the taker's: a duplicate of that record (as any re-run would find).
                decisions[copy_id] = Decision(copy_id, "duplicate", duplicate_of=taker,
                                              detail=f"{original_id} 的副本误用了 {taker} 的文书号，"
                                                     "该平台记录已由其原件更正")
            continue
        ops.append(({"record_id": copy_id, "natural_key": copy_nk, "party_key": copy["party_key"],
                     "doc_key": copy["doc_key"], "decision_date": copy["decision_date"],
                     "body_hash": copy["body_hash"], "content_hash": copy["accepted_hash"],
                     "payload": copy["pending_payload"]}, "withdraw"))
        ledger_by_nk.setdefault(copy_nk, copy)
        replaced_nks[copy_nk] = original_id
        if copy_id in recs:  # carried into this run with its original: its outcome says what became of it
            decisions[copy_id] = Decision(copy_id, "uploaded", op="withdraw", duplicate_of=original_id,
                                          detail=f"文书号有误的副本，已由原件 {original_id} 替换（撤销）")

    # Timeliness on the official calendar.
    out_rows = []
    due_soon_n = 0
    for rid, d in decisions.items():
        r = recs[rid]
        due = r.get("due_date")
        late = due_soon = False
        if due:
            due_d = dt.date.fromisoformat(due)
            first_publication = d.outcome == "uploaded" and d.op == "create"
            waiting = d.outcome in ("awaiting_review", "quarantined")
            status = due_status(due_d, run.run_date, cal)
            if first_publication or waiting:  # a publication's late is judged again on its acceptance day
                late = status.overdue
            if waiting and not late and status.days is not None:
                due_soon = status.days <= int(rules.deadline("sgs_due_soon", due_d).amount)
                due_soon_n += due_soon
        out_rows.append({"run_key": run.run_key, "record_id": rid, "kind": run.kind, "outcome": d.outcome, "op": d.op,
                         "natural_key": r.get("natural_key"), "duplicate_of": d.duplicate_of,
                         "review_reason": d.review_reason,
                         "detail": (d.related and f"疑似重复：{d.related}") or d.detail,
                         "due_date": due, "late": late, "due_soon": due_soon})

    now = wh.now_iso()
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.outcomes, run.run_key, out_rows, kind=run.kind)
        queued = rerun.queued_reviews(conn, [r["record_id"] for r, _, _, _ in pending_review])
        for r, op, reason, related in pending_review:
            key = {"record_id": r["record_id"], "content_hash": r["content_hash"], "op": op}
            if (r["record_id"], r["content_hash"], op) not in queued:
                rerun.supersede_for_new(conn, run, r["record_id"])
                conn.execute(wh.reviews.insert().values(
                    **key, kind=run.kind, natural_key=r["natural_key"], reason=reason, related_record=related,
                    levels_required=",".join(str(x) for x in policy[reason]["required"]), status="pending",
                    due_date=r.get("due_date"), created_run_key=run.run_key, created_at=now))
        # A review closes only on the content and operation it reviewed; other open versions of a record
        # this run settled are superseded — never a later day's review (rerun.settle_reviews).
        settled = [rid for rid, d in decisions.items() if d.outcome != "awaiting_review" and rid not in newer]
        open_rows = rerun.open_reviews(conn, run.kind, settled)
        for rid in settled:
            if rid in open_rows:
                d = decisions[rid]
                rerun.settle_reviews(conn, run, rid, open_rows[rid], reviewed.get(rid), d.outcome, d.op)
        _write_ledger(conn, run, ops, ledger_by_nk, replaced_nks, owner_moves, now, batch_size)
    counts = {k: sum(1 for d in decisions.values() if d.outcome == k) for k in OUTCOMES}
    counts["due_soon"] = due_soon_n
    counts["ops"] = len(ops)
    return counts


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


def _worse_published(ledger_row: dict[str, Any], source_system: str) -> bool:
    """A record the platform holds, settled, that came from a source worse than ``source_system``."""
    owner_source = str(ledger_row["owner_record_id"]).split(":", 1)[0]
    return (ledger_row["platform_status"] == "published" and ledger_row["state"] == "accepted"
            and st.precedence(source_system) < st.precedence(owner_source))


def _near_duplicate(r: dict[str, Any], others: list[dict[str, Any]], cfg: dict[str, Any], fuzz: Any) -> str | None:
    if not r.get("decision_date"):
        return None
    day = dt.date.fromisoformat(r["decision_date"])
    for o in others:
        if o["natural_key"] == r["natural_key"] or not o.get("decision_date") or not o.get("doc_key"):
            continue
        if abs((dt.date.fromisoformat(o["decision_date"]) - day).days) > cfg["date_window_days"]:
            continue
        if cfg.get("same_body") and o.get("body_hash") != r["body_hash"]:
            continue
        if fuzz.ratio(o["doc_key"], r["doc_key"]) >= cfg["doc_similarity"]:
            return str(o["record_id"])
    return None


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
