"""Stages 4–6 — flush in-flight batches, decide (timeliness, dedup, review) and write pending ledger rows."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from creditflow.core import rules, standard
from creditflow.core import warehouse as wh
from creditflow.core.workdays import official_calendar
from creditflow.reporting import standardise as st
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


def _idem(kind: str, nk: str, op: str, h: str) -> str:
    return hashlib.sha256(f"{kind}|{nk}|{op}|{h}".encode()).hexdigest()[:40]


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
    warned = set(fnd[fnd["severity"] == "warning"]["record_id"])
    decisions: dict[str, Decision] = {}
    recs = {r["record_id"]: r for r in frame.to_dict("records")}

    valid = []
    for rid, r in recs.items():
        if rid in errors:
            decisions[rid] = Decision(rid, "quarantined", detail=errors[rid])
        elif not r["natural_key"]:
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
    by_party: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for L in party_rows:
        by_party[L["party_key"]].append({"record_id": L["owner_record_id"], "doc_key": L["doc_key"],
                                         "decision_date": L["decision_date"], "body_hash": L["body_hash"],
                                         "natural_key": L["natural_key"]})

    ops: list[tuple[dict[str, Any], str]] = []
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
                decisions[rid] = Decision(rid, "uploaded" if sent_here else "unchanged",
                                          op=led["op"] if sent_here else None)
                continue
            else:
                op = "correct"
        elif status == "withdrawn":
            assert led is not None
            if r["source_revoked"]:
                sent_here = led["run_key"] == run.run_key and led["state"] == "accepted"
                decisions[rid] = Decision(rid, "uploaded" if sent_here else "unchanged",
                                          op="withdraw" if sent_here else None)
                continue
            op = "create"
        else:
            if r["source_revoked"]:
                decisions[rid] = Decision(rid, "unchanged", detail="决定已撤销，未曾公示，无需上报")
                continue
            op = "create"
        reason = None
        related = None
        if op == "create":
            near = _near_duplicate(r, by_party.get(r["party_key"], []), cfg, fuzz)
            if near:
                reason, related = "near_duplicate", near
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
    for r, op, reason, related in candidates:
        rid = r["record_id"]
        spec = policy[reason]
        required = [int(x) for x in spec["required"]]
        auto = {int(x) for x in spec["auto"]}
        given = states.get((rid, r["content_hash"], op), {})
        if "reject" in given.values():
            decisions[rid] = Decision(rid, "quarantined", review_reason=reason, detail="REVIEW_REJECTED")
        elif "duplicate" in given.values() and related:
            decisions[rid] = Decision(rid, "duplicate", duplicate_of=related, review_reason=reason,
                                      detail="审核确认为重复记录")
        elif all(level in auto or given.get(level) == "approve" for level in required):
            decisions[rid] = Decision(rid, "uploaded", op=op, review_reason=reason, related=related)
            ops.append((r, op))
        else:
            decisions[rid] = Decision(rid, "awaiting_review", op=op, review_reason=reason, related=related)
            pending_review.append((r, op, reason, related))

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
            if first_publication or waiting:
                late = run.run_date > due_d
            if waiting and not late:
                left = cal.working_days_between(run.run_date, due_d)
                due_soon = 0 <= left <= int(rules.deadline("sgs_due_soon", due_d).amount)
                due_soon_n += due_soon
        out_rows.append({"run_key": run.run_key, "record_id": rid, "kind": run.kind, "outcome": d.outcome, "op": d.op,
                         "natural_key": r.get("natural_key"), "duplicate_of": d.duplicate_of,
                         "review_reason": d.review_reason,
                         "detail": (d.related and f"疑似重复：{d.related}") or d.detail,
                         "due_date": due, "late": late, "due_soon": due_soon})

    now = wh.now_iso()
    with engine.begin() as conn:
        wh.replace_run_rows(conn, wh.outcomes, run.run_key, out_rows, kind=run.kind)
        for r, op, reason, related in pending_review:
            key = {"record_id": r["record_id"], "content_hash": r["content_hash"], "op": op}
            exists = conn.execute(sa.select(wh.reviews.c.status).where(*[wh.reviews.c[k] == v for k, v in key.items()])
                                  ).first()
            if exists is None:
                conn.execute(wh.reviews.update().where(wh.reviews.c.record_id == r["record_id"],
                                                       wh.reviews.c.status == "pending")
                             .values(status="superseded", applied_run_key=run.run_key))
                conn.execute(wh.reviews.insert().values(
                    **key, kind=run.kind, natural_key=r["natural_key"], reason=reason, related_record=related,
                    levels_required=",".join(str(x) for x in policy[reason]["required"]), status="pending",
                    due_date=r.get("due_date"), created_run_key=run.run_key, created_at=now))
        # Reviews this run acted on are closed; older pending versions of the same records are superseded.
        for rid, d in decisions.items():
            if d.outcome in ("awaiting_review",):
                continue
            conn.execute(wh.reviews.update().where(wh.reviews.c.record_id == rid, wh.reviews.c.status == "pending")
                         .values(status="approved" if d.outcome == "uploaded" else "rejected"))
            conn.execute(wh.reviews.update().where(wh.reviews.c.record_id == rid,
                                                   wh.reviews.c.applied_run_key.is_(None))
                         .values(applied_run_key=run.run_key))
        _write_pending(conn, run, ops, ledger_by_nk, now, batch_size)
    counts = {k: sum(1 for d in decisions.values() if d.outcome == k) for k in OUTCOMES}
    counts["due_soon"] = due_soon_n
    counts["ops"] = len(ops)
    return counts


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


def _write_pending(conn: sa.Connection, run: Run, ops: list[tuple[dict[str, Any], str]],
                   ledger_by_nk: dict[str, dict[str, Any]], now: str, batch_size: int = 200) -> None:
    """Ledger rows → pending, with deterministic batches (so a resend after a crash is identical)."""
    ops = sorted(ops, key=lambda x: x[0]["natural_key"])
    for batch in _chunks(ops, batch_size):
        keys = [_idem(run.kind, r["natural_key"], op, r["content_hash"]) for r, op in batch]
        batch_key = hashlib.sha256("|".join(keys).encode()).hexdigest()[:40]
        for seq, ((r, op), idem) in enumerate(zip(batch, keys, strict=True)):
            values = {"owner_record_id": r["record_id"], "party_key": r["party_key"], "doc_key": r["doc_key"],
                      "decision_date": r["decision_date"], "body_hash": r["body_hash"], "state": "pending",
                      "op": op, "pending_hash": r["content_hash"], "pending_payload": r["payload"],
                      "idempotency_key": idem, "batch_key": batch_key, "batch_seq": seq, "batch_id": None,
                      "code": None, "message": None, "run_key": run.run_key, "updated_at": now}
            nk = r["natural_key"]
            if nk in ledger_by_nk:
                conn.execute(wh.ledger.update().where(wh.ledger.c.kind == run.kind, wh.ledger.c.natural_key == nk)
                             .values(**values))
            else:
                conn.execute(wh.ledger.insert().values(kind=run.kind, natural_key=nk, **values))
            conn.execute(wh.ledger_history.insert().values(kind=run.kind, natural_key=nk, record_id=r["record_id"],
                                                           op=op, state="pending", content_hash=r["content_hash"],
                                                           run_key=run.run_key, at=now))


