"""What a 双公示 run decides, as one pure function (issue #17 §2): :func:`plan`.

``decide`` (decide.py) loads everything a run needs from the warehouse into a :class:`PlanInput`, calls
:func:`plan`, and writes the :class:`Plan` in one transaction. Nothing here reads or writes anything: the
same input gives the same plan, so the rules are tested as tables of cases (tests/unit/test_plan_cases.py).

Each record of the day passes these steps, in order; the first that settles it gives its outcome:

1. :func:`quarantine` — a rule finding of severity *error*, or no natural key (文书号 + 行政相对人).
2. :func:`in_run_duplicates` — one record per natural key, the best source first (sources.yaml).
3. :func:`against_ledger` — what the platform holds decides the operation: none → 新增 (``create``),
   published other content → 更正 (``correct``), revoked → 撤销 (``withdraw``); same content → ``unchanged``.
4. :func:`review_reason` — why a person may have to look: a near duplicate of the same party (a
   published copy from a worse source is then *replaced*), 更正, 撤销, 自然人, warnings, or clean.
5. :func:`review_gate` — the review policy and the reviewers' decisions: send, wait, reject, duplicate.
6. :func:`replace_copies` — a replaced copy is withdrawn in the same run as its original is created.
7. :func:`timeliness` — late / due soon on the official calendar, into the outcome rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from creditflow.core import standard
from creditflow.core.duedates import due_status
from creditflow.core.ledger.queue import IN_FLIGHT  # ledger states whose receipt is still to come
from creditflow.reporting.pipeline.common import OUTCOMES
from creditflow.reporting.pipeline.rerun import day_of, later

if TYPE_CHECKING:
    from creditflow.core.workdays import WorkdayCalendar
    from creditflow.reporting.pipeline.common import Run

Record = dict[str, Any]  # a standardised record of the day (cf_standardised row + its fields)
LedgerRow = dict[str, Any]  # a cf_ledger row


class InFlightError(RuntimeError):
    """A ledger row the run decides on is still in flight (``pending`` or ``sent``): its receipt may change
    the decision, so the run decides nothing until it is in."""


# --- input and output ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    record_id: str | None
    severity: str
    rule_id: str


@dataclass(frozen=True)
class Rules:
    """The rules a run applies, as data: review_policy.yaml's ``policies``, dedup.yaml, the calendar."""

    policy: Mapping[str, Mapping[str, Any]]
    dedup: Mapping[str, Any]
    calendar: WorkdayCalendar
    precedence: Callable[[str], int]  # a source's rank, lower is better (reporting.standardise.precedence)
    due_soon_days: Callable[[dt.date], int]  # the sgs_due_soon working days in force for a due day


@dataclass(frozen=True)
class PlanInput:
    run: Run
    records: Sequence[Record]
    findings: Sequence[Finding]
    ledger: Mapping[str, LedgerRow]  # the ledger rows of the day's natural keys
    party_rows: Sequence[LedgerRow]  # ledger rows of the day's parties, decision dates within the window
    review_decisions: Mapping[tuple[str, str, str], Mapping[int, str]]  # (record, content, op) → level → decision
    stopped: Mapping[str, str]  # natural key → why its publicity stopped (credit capability)
    previous: Mapping[str, Mapping[str, Any]]  # record id → this run's earlier outcome (duplicate_of, detail)
    newer: Mapping[str, str]  # record id → the later day whose run decided it (rerun.newer_records)
    rules: Rules
    # Deciding while an earlier day's uploads may be out (a history load): a decision that would read what a
    # receipt still to come sets — the state of a row of its natural key (past the checks that read only who
    # owns it and which run wrote it), whether a near duplicate is a published worse copy — raises
    # InFlightError instead.
    early: bool = False


@dataclass(frozen=True)
class Decision:
    record_id: str
    outcome: str
    op: str | None = None
    duplicate_of: str | None = None
    review_reason: str | None = None
    related: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ReviewRequest:
    record: Record
    op: str
    reason: str
    related: str | None
    levels_required: str  # "1,2"


@dataclass(frozen=True)
class Settle:
    """A record this run decided without waiting: its open reviews close or are superseded
    (rerun.settle_reviews); ``reviewed`` is (content, op) of the review its decision was about."""

    record_id: str
    reviewed: tuple[str, str] | None
    outcome: str
    op: str | None


@dataclass(frozen=True)
class Plan:
    decisions: Mapping[str, Decision]
    outcome_rows: Sequence[dict[str, Any]]  # cf_outcome rows, one per record
    ops: Sequence[tuple[Record, str]]  # ledger operations to queue: (record, op)
    ledger_by_nk: Mapping[str, LedgerRow]  # natural keys that have a ledger row (update, not insert)
    review_requests: Sequence[ReviewRequest]
    settle: Sequence[Settle]
    replaced_nks: Mapping[str, str]  # a withdrawn copy's natural key → the original replacing it
    owner_moves: Sequence[tuple[str, str]]  # (natural key, record id): the original takes its published copy
    counts: Mapping[str, int]


# --- 1–2. quarantine and in-run duplicates ------------------------------------------------------------


def quarantine(records: Sequence[Record], findings: Sequence[Finding]) -> tuple[dict[str, Decision], list[Record]]:
    """Records with an error finding or no natural key are quarantined; the rest are valid."""
    errors: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f.severity == "error" and f.record_id is not None:
            errors[f.record_id].add(f.rule_id)
    decisions: dict[str, Decision] = {}
    valid = []
    for r in records:
        rid = r["record_id"]
        if rid in errors:
            decisions[rid] = Decision(rid, "quarantined", detail=",".join(sorted(errors[rid])))
        elif not isinstance(r["natural_key"], str) or not r["natural_key"]:  # None, NaN (a float: truthy) or ""
            decisions[rid] = Decision(rid, "quarantined", detail="NO_NATURAL_KEY")
        else:
            valid.append(r)
    return decisions, valid


def in_run_duplicates(valid: list[Record], precedence: Callable[[str], int]
                      ) -> tuple[dict[str, Decision], dict[str, Record]]:
    """One record per natural key: the best source wins (then the lowest record id); the others are
    duplicates of it. Returns (duplicates, natural key → winner)."""
    decisions: dict[str, Decision] = {}
    winners: dict[str, Record] = {}
    for r in sorted(valid, key=lambda r: (precedence(r["source_system"]), r["record_id"])):
        nk = r["natural_key"]
        if nk in winners:
            decisions[r["record_id"]] = Decision(r["record_id"], "duplicate", duplicate_of=winners[nk]["record_id"],
                                                 detail="同一文书号和行政相对人")
        else:
            winners[nk] = r
    return decisions, winners


def winners_of(records: Sequence[Record], findings: Sequence[Finding],
               precedence: Callable[[str], int]) -> dict[str, Record]:
    """The records that reach the ledger step (what the load step reads the ledger for)."""
    return in_run_duplicates(quarantine(records, findings)[1], precedence)[1]


# --- 3. the operation against the ledger ----------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    decision: Decision | None = None  # settled here
    op: str | None = None  # else the operation the record needs
    owner_move: bool = False  # the original takes over its published copy (same content)


def against_ledger(r: Record, led: LedgerRow | None, inp: PlanInput) -> Verdict:
    """What the ledger row of the record's natural key says: settled, or which operation to send."""
    run, rid, h = inp.run, r["record_id"], r["content_hash"]
    if led is not None and led["owner_record_id"] != rid:
        owner_source = led["owner_record_id"].split(":", 1)[0]
        if inp.rules.precedence(owner_source) <= inp.rules.precedence(r["source_system"]):
            return Verdict(Decision(rid, "duplicate", duplicate_of=led["owner_record_id"],
                                    detail="与已上报记录的文书号和行政相对人相同"))
    if led is not None and later(led["run_key"], run):
        # A later day's run wrote this record's ledger row: the platform holds what that run sent.
        return Verdict(Decision(rid, "unchanged", detail=f"{day_of(led['run_key'])} 的运行已处理该记录"
                                "（重跑较早的日期不改变平台上的内容）"))
    if led is not None and inp.early and led["state"] in IN_FLIGHT:  # what follows reads what its receipt sets
        raise InFlightError("a ledger operation of the run's natural keys is still in flight")
    if led is None:
        if r["source_revoked"]:
            return Verdict(Decision(rid, "unchanged", detail="决定已撤销，未曾公示，无需上报"))
        return Verdict(op="create")
    if led["state"] == "rejected" and led["pending_hash"] == h:
        return Verdict(Decision(rid, "quarantined", detail=f"PLATFORM_REJECTED:{led['code']}"))
    status = led["platform_status"]
    if status == "published":
        if r["source_revoked"]:
            return Verdict(op="withdraw")
        if led["accepted_hash"] != h:
            return Verdict(op="correct")
        sent_here = led["run_key"] == run.run_key and led["state"] == "accepted"
        moved = led["owner_record_id"] != rid  # the original arrived after its copy was published, same content
        return Verdict(Decision(rid, "uploaded" if sent_here else "unchanged", op=led["op"] if sent_here else None,
                                detail=(f"原件取代已公示的副本 {led['owner_record_id']}"
                                        "（内容相同，平台无需更新）") if moved else None), owner_move=moved)
    if status == "withdrawn":
        nk = r["natural_key"]
        if nk in inp.stopped:  # publicity ended or repaired (信用修复): the platform must not show it again
            return Verdict(Decision(rid, "unchanged", detail=f"公示已{inp.stopped[nk]}，不再上报"))
        sent_here = led["run_key"] == run.run_key and led["state"] == "accepted" and led["op"] == "withdraw"
        if r["source_revoked"]:
            return Verdict(Decision(rid, "uploaded" if sent_here else "unchanged",
                                    op="withdraw" if sent_here else None))
        if sent_here:  # a re-run of the run that withdrew it (a replaced copy): the same outcome again
            before = inp.previous.get(rid, {})
            return Verdict(Decision(rid, "uploaded", op="withdraw", duplicate_of=before.get("duplicate_of"),
                                    detail=before.get("detail")))
        return Verdict(op="create")
    if r["source_revoked"]:  # a ledger row the platform never published
        return Verdict(Decision(rid, "unchanged", detail="决定已撤销，未曾公示，无需上报"))
    return Verdict(op="create")


# --- 4. why a person may have to look -------------------------------------------------------------------


def near_duplicate(r: Record, others: list[dict[str, Any]], cfg: Mapping[str, Any]) -> str | None:
    """The first record of the same party within the date window, with the same body, whose 文号 is
    similar enough (rapidfuzz ratio) — a near duplicate, never the same natural key."""
    from rapidfuzz import fuzz

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


def worse_source(ledger_row: LedgerRow, source_system: str, precedence: Callable[[str], int]) -> bool:
    """The ledger row's record came from a source worse than ``source_system``."""
    return precedence(source_system) < precedence(str(ledger_row["owner_record_id"]).split(":", 1)[0])


def worse_published(ledger_row: LedgerRow, source_system: str, precedence: Callable[[str], int]) -> bool:
    """A record the platform holds, settled, that came from a source worse than ``source_system``."""
    return (ledger_row["platform_status"] == "published" and ledger_row["state"] == "accepted"
            and worse_source(ledger_row, source_system, precedence))


def review_reason(r: Record, op: str, led: LedgerRow | None, by_party: dict[str, list[dict[str, Any]]],
                  warned: set[str | None], inp: PlanInput) -> tuple[str, str | None, LedgerRow | None]:
    """(review reason, related record, published worse copy the record would replace)."""
    rid = r["record_id"]
    takeover = led is not None and led["owner_record_id"] != rid  # a better source takes the record over
    if op == "create" or (op == "correct" and takeover):
        near = near_duplicate(r, by_party.get(r["party_key"], []), inp.rules.dedup)
        if near:
            copy = next((o.get("ledger") for o in by_party[r["party_key"]] if o["record_id"] == near), None)
            if (copy is not None and inp.early and copy["state"] in IN_FLIGHT
                    and worse_source(copy, r["source_system"], inp.rules.precedence)):
                raise InFlightError("a near duplicate's ledger operation is still in flight")
            if copy is not None and worse_published(copy, r["source_system"], inp.rules.precedence):
                # The published record came from a worse source (a district copy with a mistyped 文号):
                # a reviewer's "duplicate" replaces it with this original instead of dropping the original.
                return "near_duplicate", near, copy
            return "near_duplicate", near, None
    if op == "correct":
        return "correction", None, None
    if op == "withdraw":
        return "withdrawal", None, None
    if r.get(f"{standard.PREFIX[inp.run.kind]}_XDR_LB") == "自然人":
        return "natural_person", None, None
    return ("warnings" if rid in warned else "clean"), None, None


def _party_entry(x: Mapping[str, Any], record_id: str) -> dict[str, Any]:
    return {"record_id": record_id, "doc_key": x["doc_key"], "decision_date": x["decision_date"],
            "body_hash": x["body_hash"], "natural_key": x["natural_key"]}


# --- 5. the review gate ---------------------------------------------------------------------------------


def review_gate(r: Record, op: str, reason: str, related: str | None, copy: LedgerRow | None,
                inp: PlanInput) -> tuple[Decision, bool]:
    """The record's outcome under the review policy of ``reason`` and the decisions reviewers gave for
    exactly this content and operation, and whether it replaces ``copy`` (a published copy from a worse
    source: a reviewer's "duplicate" sends the original and withdraws the copy)."""
    rid = r["record_id"]
    spec = inp.rules.policy[reason]
    required = [int(x) for x in spec["required"]]
    auto = {int(x) for x in spec["auto"]}
    given = inp.review_decisions.get((rid, r["content_hash"], op), {})
    signed = all(level in auto or level in given for level in required)  # every required level decided
    if "reject" in given.values():
        return Decision(rid, "quarantined", review_reason=reason, detail="REVIEW_REJECTED"), False
    if signed and "duplicate" in given.values() and related and copy is not None:
        return Decision(rid, "uploaded", op=op, review_reason=reason, related=related,
                        detail=f"审核确认与已公示的副本重复：以原件替换 {related}"), True
    if signed and "duplicate" in given.values() and related:
        return Decision(rid, "duplicate", duplicate_of=related, review_reason=reason,
                        detail="审核确认为重复记录"), False
    if all(level in auto or given.get(level) == "approve" for level in required):
        return Decision(rid, "uploaded", op=op, review_reason=reason, related=related), False
    return Decision(rid, "awaiting_review", op=op, review_reason=reason, related=related), False


# --- 6. replaced copies ---------------------------------------------------------------------------------


def replace_copies(replacements: list[tuple[str, LedgerRow]], ops: list[tuple[Record, str]],
                   recs: Mapping[str, Record], decisions: dict[str, Decision], ledger_by_nk: dict[str, LedgerRow]
                   ) -> tuple[list[tuple[Record, str]], dict[str, str]]:
    """Replaced copies are withdrawn in the same batch run as their original is created. Updates
    ``decisions`` and ``ledger_by_nk`` (the plan's own); returns (ops, copy's natural key → original)."""
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
    return ops, replaced_nks


# --- 7. timeliness --------------------------------------------------------------------------------------


def timeliness(d: Decision, due: str | None, inp: PlanInput) -> tuple[bool, bool]:
    """(late, due soon) on the run's day: a first publication or a record still waiting is late once its
    deadline has passed (a publication's late is judged again on its acceptance day); a waiting record is
    due soon within the sgs_due_soon working days. Unknown deadline: neither."""
    if not due:
        return False, False
    due_d = dt.date.fromisoformat(due)
    first_publication = d.outcome == "uploaded" and d.op == "create"
    waiting = d.outcome in ("awaiting_review", "quarantined")
    status = due_status(due_d, inp.run.run_date, inp.rules.calendar)
    late = due_soon = False
    if first_publication or waiting:
        late = status.overdue
    if waiting and not late and status.days is not None:
        due_soon = status.days <= inp.rules.due_soon_days(due_d)
    return late, due_soon


# --- the plan -------------------------------------------------------------------------------------------


def plan(inp: PlanInput) -> Plan:
    """The run's decisions, ledger operations, review requests and review settlements (steps 1–7)."""
    run, rules = inp.run, inp.rules
    recs = {r["record_id"]: r for r in inp.records}
    # A missing deadline is the calendar's problem, not the record's: it is alerted, not sent to review.
    warned = {f.record_id for f in inp.findings if f.severity == "warning" and f.rule_id != "DUE_DATE_UNKNOWN"}
    decisions, valid = quarantine(list(recs.values()), inp.findings)
    duplicates, winners = in_run_duplicates(valid, rules.precedence)
    decisions.update(duplicates)

    by_party: dict[str, list[dict[str, Any]]] = defaultdict(list)  # near-duplicate candidates per party
    for L in inp.party_rows:
        by_party[L["party_key"]].append({**_party_entry(L, L["owner_record_id"]), "ledger": L})
    owner_moves: list[tuple[str, str]] = []
    candidates: list[tuple[Record, str, str, str | None, LedgerRow | None]] = []  # record, op, reason, related, copy
    for nk, r in winners.items():
        led = inp.ledger.get(nk)
        v = against_ledger(r, led, inp)
        if v.owner_move:
            owner_moves.append((nk, r["record_id"]))
        if v.decision is not None:
            decisions[r["record_id"]] = v.decision
            continue
        assert v.op is not None
        reason, related, copy = review_reason(r, v.op, led, by_party, warned, inp)
        candidates.append((r, v.op, reason, related, copy))
        if v.op == "create":  # later records of the same party compare against this one
            by_party[r["party_key"]].append(_party_entry(r, r["record_id"]))

    ops: list[tuple[Record, str]] = []
    replacements: list[tuple[str, LedgerRow]] = []
    requests: list[ReviewRequest] = []
    reviewed: dict[str, tuple[str, str]] = {}  # record id → (content, operation) its review is about
    for r, op, reason, related, copy in candidates:
        rid = r["record_id"]
        if rid in inp.newer:  # a later day's run decided this record: this older run sends and reviews nothing
            decisions[rid] = Decision(rid, "unchanged", detail=f"{inp.newer[rid]} 的运行已处理该记录"
                                      "（重跑较早的日期不改变平台上的内容和审核队列）")
            continue
        reviewed[rid] = (r["content_hash"], op)
        d, replaces = review_gate(r, op, reason, related, copy, inp)
        decisions[rid] = d
        if d.outcome == "uploaded":
            ops.append((r, op))
        if replaces:
            assert copy is not None
            replacements.append((rid, copy))
        elif d.outcome == "awaiting_review":
            requests.append(ReviewRequest(r, op, reason, related,
                                          ",".join(str(x) for x in rules.policy[reason]["required"])))

    ledger_by_nk = dict(inp.ledger)
    ops, replaced_nks = replace_copies(replacements, ops, recs, decisions, ledger_by_nk)

    out_rows = []
    due_soon_n = 0
    for rid, d in decisions.items():
        r = recs[rid]
        due = r.get("due_date")
        late, due_soon = timeliness(d, due, inp)
        due_soon_n += due_soon
        out_rows.append({"run_key": run.run_key, "record_id": rid, "kind": run.kind, "outcome": d.outcome, "op": d.op,
                         "natural_key": r.get("natural_key"), "duplicate_of": d.duplicate_of,
                         "review_reason": d.review_reason,
                         "detail": (d.related and f"疑似重复：{d.related}") or d.detail,
                         "due_date": due, "late": late, "due_soon": due_soon})
    # A review closes only on the content and operation it reviewed; other open versions of a record this
    # run settled are superseded — never a later day's review (rerun.settle_reviews).
    settle = [Settle(rid, reviewed.get(rid), d.outcome, d.op) for rid, d in decisions.items()
              if d.outcome != "awaiting_review" and rid not in inp.newer]
    counts = {k: sum(1 for d in decisions.values() if d.outcome == k) for k in OUTCOMES}
    counts["due_soon"] = due_soon_n
    counts["ops"] = len(ops)
    return Plan(decisions, out_rows, ops, ledger_by_nk, requests, settle, replaced_nks, owner_moves, counts)
