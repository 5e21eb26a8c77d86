"""层层审核: the review queue and reviewers' decisions, with separation of duties.

A decision is recorded per (record, content version, operation, level) — a *review*. The pipeline
reads them on its next run: a record goes out once every required level is approved (auto levels count
as approved); ``reject`` sends it to quarantine, ``duplicate`` (for a suspected near duplicate) records
it as a duplicate of the related record.

Rules enforced here, for the 审核 page and the batch sign-off alike:

* who may decide at a level is the roster (``data/rules/review_roles.yaml``, :mod:`.reviewers`);
  anyone else may look, never decide (:class:`NotPermitted`);
* levels are decided in order, each once (层层审核);
* one person never decides two levels of the same review (:class:`SeparationOfDuties`).

``cf_review_decision`` is append-only and is the audit trail: every accepted decision is one row (who,
when, record, level, decision, comment) and nothing else writes it. Where the decision came from (the
审核 page or the batch sign-off, with its DAG run) is kept as a tag at the head of the stored comment
(``[page] …`` / ``[signoff:<run id>] …``) and read back by :func:`audit_trail`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from creditflow.common import KIND_LABELS, mask_text, opaque_token
from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.reporting.reviewers import Reviewer, Roster, load_roster

DECISIONS = {"approve": "通过", "reject": "退回", "duplicate": "确认重复"}
SOURCES = {"page": "审核页面", "signoff": "批量签署"}
REASONS = {"clean": "无问题", "warnings": "有提示", "natural_person": "自然人", "near_duplicate": "疑似重复",
           "correction": "更正", "withdrawal": "撤销"}
STATUSES = {"pending": "待审核", "approved": "已通过", "rejected": "已退回", "superseded": "已被新版本替代"}
_SOURCE_TAG = re.compile(r"^\[(page|signoff)(?::([^\]\s]*))?\] ?", re.DOTALL)


class ReviewError(ValueError):
    """A decision that cannot be accepted (the message is Chinese: the reviewer reads it)."""


class NotPermitted(ReviewError):
    """The person may not decide at this level (the roster): a viewer looks, never decides."""


class SeparationOfDuties(ReviewError):
    """The person already decided another level of the same review."""


class StaleReview(ReviewError):
    """The review changed under the reviewer: gone, closed, or this level already decided."""


def _reviewer(reviewer: str | Reviewer) -> Reviewer:
    return reviewer if isinstance(reviewer, Reviewer) else Reviewer(str(reviewer))


def _levels(row: Any) -> list[int]:
    return [int(x) for x in str(row["levels_required"]).split(",") if x]


def review_key(record_id: str, content_hash: str, op: str) -> str:
    """A short opaque key of one review (for XCom: it carries no record id, hence no personal data), in
    letters only (:func:`~creditflow.common.opaque_token`) so that no page's masking can alter it."""
    return opaque_token(hashlib.sha256(f"{record_id}|{content_hash}|{op}".encode()).digest()[:10])


def _keys_of(record_id: str, content_hash: str, op: str) -> set[str]:
    """The review's key and the key as written before it was letters only (hex): a batch sign-off whose
    approval was already waiting when the deployment was upgraded still names the reviews it summarised."""
    digest = hashlib.sha256(f"{record_id}|{content_hash}|{op}".encode()).digest()[:10]
    return {opaque_token(digest), digest.hex()}


def resolve_key(engine: sa.Engine, key: str) -> tuple[str, str, str] | None:
    """``(record_id, content_hash, op)`` of the pending review with :func:`review_key` ``key`` (forms carry
    the key, not the record id: a record id may hold a personal ID number, and pages mask those)."""
    r = wh.reviews
    with engine.connect() as conn:
        for rid, content_hash, op in conn.execute(sa.select(r.c.record_id, r.c.content_hash, r.c.op)
                                                  .where(r.c.status == "pending")):
            if key in _keys_of(rid, content_hash, op):
                return rid, content_hash, op
    return None


def split_comment(stored: str | None) -> tuple[str | None, str | None, str]:
    """``(source, source_ref, comment)`` of a stored comment; source is None for rows older than the tag."""
    text = stored or ""
    m = _SOURCE_TAG.match(text)
    if not m:
        return None, None, text
    return m.group(1), m.group(2) or None, text[m.end():]


def pending(engine: sa.Engine, kind: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Pending reviews with the levels already decided, the next level due, and a masked preview."""
    r, d = wh.reviews, wh.review_decisions
    q = sa.select(r).where(r.c.status == "pending").order_by(r.c.due_date, r.c.record_id).limit(limit)
    if kind:
        q = q.where(r.c.kind == kind)
    with engine.connect() as conn:
        rows = [dict(x) for x in conn.execute(q).mappings()]
        for row in rows:
            given = conn.execute(sa.select(d.c.level, d.c.decision, d.c.reviewer, d.c.decided_at, d.c.comment).where(
                d.c.record_id == row["record_id"], d.c.content_hash == row["content_hash"], d.c.op == row["op"])
                .order_by(d.c.level)).mappings().all()
            row["decisions"] = []
            for g in given:
                source, _, comment = split_comment(g["comment"])
                row["decisions"].append({**dict(g), "source": source, "comment": comment})
            done = {g["level"] for g in given}
            row["next_level"] = next((lv for lv in _levels(row) if lv not in done), None)
            row["deciders"] = {g["reviewer"]: int(g["level"]) for g in given}
            row["key"] = review_key(row["record_id"], row["content_hash"], row["op"])
            payload = conn.execute(sa.select(wh.standardised.c.payload).where(
                wh.standardised.c.record_id == row["record_id"],
                wh.standardised.c.content_hash == row["content_hash"]).limit(1)).scalar()
            row["preview"] = masked_preview(json.loads(payload)) if payload else {}
    return rows


def masked_preview(payload: dict[str, Any]) -> dict[str, Any]:
    """The record as a reviewer sees it: sealed values opened, personal ID numbers and natural persons'
    names masked (#19 §3)."""
    return pii.masked(payload)


def blocker(row: dict[str, Any], reviewer: Reviewer, roster: Roster) -> str | None:
    """Why ``reviewer`` cannot decide the next level of a pending review (None: they may)."""
    level = row.get("next_level")
    if level is None:
        return "无待审核层级"
    if not roster.may_decide(level, reviewer):
        return f"第{level}级（{roster.name(level)}）由 {roster.describe(level)} 审核"
    other = row.get("deciders", {}).get(reviewer.user_id)
    if other is not None:
        return f"您已审核第{other}级，第{level}级须由他人审核"
    return None


def record_decision(engine: sa.Engine, record_id: str, content_hash: str, op: str, level: int, decision: str,
                    reviewer: str | Reviewer, comment: str = "", *, source: str = "page", source_ref: str = "",
                    roster: Roster | None = None) -> dict[str, Any]:
    """Accept one decision and append its audit row, or raise a :class:`ReviewError` saying why not."""
    who = _reviewer(reviewer)
    user = who.user_id.strip()
    if decision not in DECISIONS:
        raise ReviewError("审核决定须为：" + "、".join(DECISIONS.values()))
    if not user:
        raise ReviewError("缺少审核人")
    if source not in SOURCES:
        raise ReviewError(f"未知的审核来源：{source}")
    roster = roster or load_roster()
    if not roster.may_decide(level, who):
        raise NotPermitted(f"{user} 无权作出第{level}级（{roster.name(level)}）审核决定；"
                           f"该级由 {roster.describe(level)} 审核" if level in roster.levels
                           else f"没有第{level}级审核")
    r, d = wh.reviews, wh.review_decisions
    key = (r.c.record_id == record_id, r.c.content_hash == content_hash, r.c.op == op)
    tag = f"[{source}{':' + source_ref if source_ref else ''}] "
    with engine.begin() as conn:
        # Claim the review row first: a write lock on SQLite, a row lock on PostgreSQL, so two
        # decisions on one review never pass the checks below side by side.
        conn.execute(r.update().where(*key).values(status=r.c.status))
        row = conn.execute(sa.select(r).where(*key)).mappings().first()
        if row is None:
            raise StaleReview("无此待审核记录（可能已被新版本替代）")
        if row["status"] != "pending":
            raise StaleReview(f"该记录已审核完毕（{STATUSES.get(row['status'], row['status'])}）")
        required = _levels(row)
        if level not in required:
            raise ReviewError(f"该记录不需要第{level}级审核（需要：第{'、'.join(map(str, required))}级）")
        given = {int(x.level): x.reviewer for x in conn.execute(sa.select(d.c.level, d.c.reviewer).where(
            d.c.record_id == record_id, d.c.content_hash == content_hash, d.c.op == op))}
        if level in given:
            raise StaleReview(f"第{level}级已由 {given[level]} 审核")
        lower = [lv for lv in required if lv < level and lv not in given]
        if lower and decision in ("approve", "duplicate"):
            raise ReviewError(f"须先由第{lower[0]}级审核（层层审核）")
        mine = sorted(lv for lv, name in given.items() if name == user)
        if mine:
            raise SeparationOfDuties(f"同一人不得审核同一记录的两个层级：{user} 已审核第{mine[0]}级，"
                                     f"第{level}级（{roster.name(level)}）须由他人审核")
        conn.execute(d.insert().values(record_id=record_id, content_hash=content_hash, op=op, level=level,
                                       decision=decision, reviewer=user, comment=tag + mask_text(comment),
                                       decided_at=wh.now_iso()))
        # A rejection ends the review at once (nothing goes out). "Duplicate" is a conclusion each required
        # level signs like an approval: it can withdraw a published record (a copy replaced by its original).
        if decision == "reject":
            status = "rejected"
        elif set(required) <= set(given) | {level}:
            status = "approved"
        else:
            status = "pending"
        conn.execute(r.update().where(*key).values(status=status))
    return {"record_id": record_id, "level": level, "decision": decision, "status": status, "reviewer": user,
            "source": source}


def audit_trail(engine: sa.Engine, limit: int = 500, record_id: str | None = None) -> list[dict[str, Any]]:
    """Accepted decisions, newest first: who, when, record, level, decision, comment, source."""
    d, r = wh.review_decisions, wh.reviews
    q = (sa.select(d, r.c.kind, r.c.reason).select_from(d.outerjoin(r, sa.and_(
        r.c.record_id == d.c.record_id, r.c.content_hash == d.c.content_hash, r.c.op == d.c.op)))
         .order_by(d.c.id.desc()).limit(limit))
    if record_id is not None:
        q = q.where(d.c.record_id == record_id)
    out = []
    with engine.connect() as conn:
        for row in conn.execute(q).mappings():
            source, ref, comment = split_comment(row["comment"])
            out.append({**dict(row), "source": source, "source_ref": ref, "comment": comment})
    return out


def sign_off_candidates(engine: sa.Engine, level: int, kind: str | None = None,
                        reasons: Collection[str] | None = None,
                        rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Pending reviews whose next level is ``level``. Near duplicates never: they need a decision each."""
    return [row for row in (pending(engine, kind, limit=100_000) if rows is None else rows)
            if row["next_level"] == level and row["reason"] != "near_duplicate"
            and (not reasons or row["reason"] in reasons)]


def sign_off_plan(engine: sa.Engine, level: int, roster: Roster | None = None) -> dict[str, Any]:
    """What a batch sign-off at ``level`` would approve, for its approval page and its sign-off task.

    ``keys`` are the reviews summarised (opaque keys, no personal data); ``by_user`` says, for each
    user the approval is assigned to, how many of them that user may approve — the ones they have not
    decided at another level. The sign-off approves exactly those (fewer only if someone decides some
    of them in between); records that arrive after the summary wait for the next sign-off."""
    roster = roster or load_roster()
    users = [u["id"] for u in roster.hitl_users(level)]
    if not users:
        raise ReviewError(f"第{level}级（{roster.name(level)}）在 review_roles.yaml 中没有具名审核人，无法批量签署")
    queue = pending(engine, limit=100_000)
    rows = sign_off_candidates(engine, level, rows=queue)
    by_user = {u: sum(1 for row in rows if u not in row["deciders"]) for u in users}
    counts = Counter((row["kind"], row["reason"]) for row in rows)
    soonest = min((row["due_date"] for row in rows if row["due_date"]), default="—")
    held = sum(1 for row in queue if row["next_level"] == level and row["reason"] == "near_duplicate")
    lines = [f"第{level}级（{roster.name(level)}）可批量签署的待审核记录 {len(rows)} 条，最早截止日期 {soonest}。", "",
             "| 类别 | 原因 | 条数 |", "|---|---|---|",
             *[f"| {KIND_LABELS.get(k, k)} | {REASONS.get(why, why)} | {n} |"
               for (k, why), n in sorted(counts.items())],
             "", "| 签署人 | 将批准 | 须由他人审核（本人已审核其他层级） |", "|---|---|---|",
             *[f"| {u} | {by_user[u]} | {len(rows) - by_user[u]} |" for u in users], "",
             f"批准后，以签署人的名义逐条记录审核决定；本摘要之后新到的记录不在本次签署之内。"
             f"疑似重复 {held} 条不参与批量签署，请在“审核”页面逐条审核。"]
    return {"level": level, "keys": sorted(row["key"] for row in rows), "by_user": by_user,
            "body": "\n".join(lines)}


def sign_off(engine: sa.Engine, level: int, reviewer: str | Reviewer, kind: str | None = None,
             reasons: tuple[str, ...] | None = None, comment: str = "批量审核通过", *,
             only: Collection[str] | None = None, source_ref: str = "", roster: Roster | None = None) -> int:
    """Batch sign-off: approve, in ``reviewer``'s name, every review waiting at ``level`` that the
    reviewer may decide (the roster) and has not decided at another level; with ``only``, just those of
    the given :func:`review_key` keys (what the approval page summarised). Returns how many."""
    who = _reviewer(reviewer)
    roster = roster or load_roster()
    if not roster.may_decide(level, who):
        raise NotPermitted(f"{who.user_id} 无权签署第{level}级（{roster.name(level)}）审核")
    wanted = set(only) if only is not None else None
    n = 0
    for row in sign_off_candidates(engine, level, kind, reasons):
        if who.user_id in row["deciders"] or (wanted is not None and not wanted & _keys_of(
                row["record_id"], row["content_hash"], row["op"])):
            continue
        try:
            record_decision(engine, row["record_id"], row["content_hash"], row["op"], level, "approve", who, comment,
                            source="signoff", source_ref=source_ref, roster=roster)
        except (StaleReview, SeparationOfDuties):
            continue  # decided by someone else since the queue was read
        n += 1
    return n
