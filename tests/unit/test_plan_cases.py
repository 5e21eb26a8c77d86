"""The 双公示 planner as tables of cases (issue #17 §2): records, ledger rows, reviews in; outcomes out.

No database: :func:`plan.plan` is a pure function. The rules are the real ones (review_policy.yaml,
dedup.yaml, sources.yaml precedence, the official 2026 calendar, sgs_due_soon = 2 working days).
The run is the penalty run of Monday 2026-12-07; it uploads on Tuesday 2026-12-08 (its ``run_date``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from creditflow.common import TZ
from creditflow.reporting.pipeline import plan as P
from creditflow.reporting.pipeline.common import Run
from creditflow.reporting.pipeline.decide import rules_in_force

RUN = Run("sgs_penalty", "penalty", dt.datetime(2026, 12, 7, tzinfo=TZ), dt.datetime(2026, 12, 8, tzinfo=TZ))
THIS, EARLIER, LATER = "sgs_penalty|2026-12-07", "sgs_penalty|2026-12-01", "sgs_penalty|2026-12-09"
RULES = rules_in_force()


def doc(n: int | str) -> str:
    return f"珠应急罚〔2026〕{n}号"


def rec(rid: str, n: int | str = 1, party: str = "P1", **kw: Any) -> dict[str, Any]:
    """A standardised record: ``rid`` is ``source:id``; 文号 ``doc(n)``; a company; due in 8 working days."""
    r = {"record_id": rid, "source_system": rid.split(":")[0], "doc_key": doc(n), "party_key": party,
         "natural_key": f"{doc(n)}|{party}", "decision_date": "2026-12-01", "body_hash": "B1", "content_hash": "H1",
         "source_revoked": False, "due_date": "2026-12-18", "payload": "{}", "CF_XDR_LB": "法人及非法人组织"}
    return {**r, **kw}


def led(owner: str, n: int | str = 1, party: str = "P1", **kw: Any) -> dict[str, Any]:
    """A ledger row: published by an earlier day's run, accepted, content H1."""
    row = {"owner_record_id": owner, "doc_key": doc(n), "party_key": party, "natural_key": f"{doc(n)}|{party}",
           "decision_date": "2026-12-01", "body_hash": "B1", "state": "accepted", "platform_status": "published",
           "op": "create", "accepted_hash": "H1", "pending_hash": "H1", "pending_payload": "{}", "code": None,
           "run_key": EARLIER}
    return {**row, **kw}


def given(records: list[dict[str, Any]], ledger: tuple[dict[str, Any], ...] = (),
          party: tuple[dict[str, Any], ...] | None = None, findings: tuple[tuple[str, str, str], ...] = (),
          reviews: dict[tuple[str, str, str], dict[int, str]] | None = None, stopped: dict[str, str] | None = None,
          previous: dict[str, dict[str, Any]] | None = None, newer: dict[str, str] | None = None) -> P.PlanInput:
    """The planner's input; the ledger rows are also the parties' near-date rows unless ``party`` is given
    (what load reads: the same parties, decision dates within the window)."""
    return P.PlanInput(run=RUN, records=records, findings=[P.Finding(*f) for f in findings],
                       ledger={x["natural_key"]: x for x in ledger},
                       party_rows=list(ledger if party is None else party), review_decisions=reviews or {},
                       stopped=stopped or {}, previous=previous or {}, newer=newer or {}, rules=RULES)


def outcome(outcome: str, op: str | None = None, dup: str | None = None, reason: str | None = None,
            detail: str | None = None, late: bool = False, due_soon: bool = False) -> dict[str, Any]:
    return {"outcome": outcome, "op": op, "duplicate_of": dup, "review_reason": reason, "detail": detail,
            "late": late, "due_soon": due_soon}


def row_of(p: P.Plan, rid: str) -> dict[str, Any]:
    [row] = [x for x in p.outcome_rows if x["record_id"] == rid]
    return {k: row[k] for k in ("outcome", "op", "duplicate_of", "review_reason", "detail", "late", "due_soon")}


BOTH = {1: "approve", 2: "approve"}
DUP = {1: "duplicate", 2: "duplicate"}
NK1 = f"{doc(1)}|P1"
PERSON = {"CF_XDR_LB": "自然人"}

# (id in words, input, record to look at, its expected outcome row)
CASES = [
    # 1–2. quarantine and in-run duplicates
    ("an error finding quarantines the record with its sorted rule ids",
     given([rec("case_db:1")], findings=(("case_db:1", "error", "R2"), ("case_db:1", "error", "R1"),
                                         ("case_db:1", "warning", "W1"))),
     "case_db:1", outcome("quarantined", detail="R1,R2")),
    ("a record without a natural key is quarantined",
     given([rec("case_db:1", natural_key=None)]), "case_db:1", outcome("quarantined", detail="NO_NATURAL_KEY")),
    ("a natural key that is NaN (a float) is no natural key",
     given([rec("case_db:1", natural_key=float("nan"))]), "case_db:1",
     outcome("quarantined", detail="NO_NATURAL_KEY")),
    ("in the run, the district copy of a case-system record is its duplicate",
     given([rec("district_file:1"), rec("case_db:9")]), "district_file:1",
     outcome("duplicate", dup="case_db:9", detail="同一文书号和行政相对人")),
    ("in the run, the case-system record wins over its district copy and is created",
     given([rec("district_file:1"), rec("case_db:9")]), "case_db:9",
     outcome("uploaded", op="create", reason="clean")),
    ("in the run, of two records of the same source the lower record id wins",
     given([rec("case_db:2"), rec("case_db:1")]), "case_db:2",
     outcome("duplicate", dup="case_db:1", detail="同一文书号和行政相对人")),
    # 3. against the ledger
    ("a district record whose key the ledger holds from the case system is a duplicate",
     given([rec("district_file:1")], ledger=(led("case_db:9"),)), "district_file:1",
     outcome("duplicate", dup="case_db:9", detail="与已上报记录的文书号和行政相对人相同")),
    ("a record whose key the ledger holds from an equal source is a duplicate",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:9"),)), "case_db:1",
     outcome("duplicate", dup="case_db:9", detail="与已上报记录的文书号和行政相对人相同")),
    ("a later day's run wrote the ledger row: a re-run of an older day leaves it unchanged",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:1", run_key=LATER),)), "case_db:1",
     outcome("unchanged", detail="2026-12-09 的运行已处理该记录（重跑较早的日期不改变平台上的内容）")),
    ("the platform rejected this very content: quarantined with its code",
     given([rec("case_db:1")], ledger=(led("case_db:1", state="rejected", platform_status=None, code="E101"),)),
     "case_db:1", outcome("quarantined", detail="PLATFORM_REJECTED:E101")),
    ("the platform rejected other content: this content is created",
     given([rec("case_db:1")], ledger=(led("case_db:1", state="rejected", platform_status=None,
                                           pending_hash="H0"),)),
     "case_db:1", outcome("uploaded", op="create", reason="clean")),
    ("published with the same content: unchanged",
     given([rec("case_db:1")], ledger=(led("case_db:1"),)), "case_db:1", outcome("unchanged")),
    ("published with the same content by this very run (a re-run): uploaded again with its operation",
     given([rec("case_db:1")], ledger=(led("case_db:1", run_key=THIS),)), "case_db:1",
     outcome("uploaded", op="create")),
    ("the original arrives after its copy was published with the same content: it takes the record over",
     given([rec("case_db:1")], ledger=(led("district_file:1"),)), "case_db:1",
     outcome("unchanged", detail="原件取代已公示的副本 district_file:1（内容相同，平台无需更新）")),
    ("published with other content: 更正 waits for both review levels",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:1"),)), "case_db:1",
     outcome("awaiting_review", op="correct", reason="correction")),
    ("published and revoked at the source: 撤销 waits for both review levels",
     given([rec("case_db:1", source_revoked=True)], ledger=(led("case_db:1"),)), "case_db:1",
     outcome("awaiting_review", op="withdraw", reason="withdrawal")),
    ("withdrawn after the publicity period ended: never published again",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:1", platform_status="withdrawn",
                                                              op="withdraw"),), stopped={NK1: "期满停止"}),
     "case_db:1", outcome("unchanged", detail="公示已期满停止，不再上报")),
    ("withdrawn and still revoked: unchanged",
     given([rec("case_db:1", source_revoked=True)], ledger=(led("case_db:1", platform_status="withdrawn",
                                                                op="withdraw"),)),
     "case_db:1", outcome("unchanged")),
    ("withdrawn and revoked by this very run (a re-run): uploaded again as 撤销",
     given([rec("case_db:1", source_revoked=True)], ledger=(led("case_db:1", platform_status="withdrawn",
                                                                op="withdraw", run_key=THIS),)),
     "case_db:1", outcome("uploaded", op="withdraw")),
    ("a replaced copy withdrawn by this very run (a re-run): its earlier outcome again",
     given([rec("district_file:5")], ledger=(led("district_file:5", platform_status="withdrawn", op="withdraw",
                                                 run_key=THIS),),
           previous={"district_file:5": {"duplicate_of": "case_db:1", "detail": "文书号有误的副本"}}),
     "district_file:5", outcome("uploaded", op="withdraw", dup="case_db:1", detail="文书号有误的副本")),
    ("withdrawn and in force again: created again",
     given([rec("case_db:1")], ledger=(led("case_db:1", platform_status="withdrawn", op="withdraw"),)),
     "case_db:1", outcome("uploaded", op="create", reason="clean")),
    ("never published and revoked: nothing to send",
     given([rec("case_db:1", source_revoked=True)]), "case_db:1",
     outcome("unchanged", detail="决定已撤销，未曾公示，无需上报")),
    ("in the ledger, never published, and revoked: nothing to send",
     given([rec("case_db:1", source_revoked=True)], ledger=(led("case_db:1", platform_status=None),)),
     "case_db:1", outcome("unchanged", detail="决定已撤销，未曾公示，无需上报")),
    # 4. near duplicates
    ("a similar 文号 of the same party 6 days apart, same body: near duplicate, waits for review",
     given([rec("case_db:1", n=11, decision_date="2026-12-07")], ledger=(led("case_db:9"),)), "case_db:1",
     outcome("awaiting_review", op="create", reason="near_duplicate", detail="疑似重复：case_db:9")),
    ("a similar 文号 of the same party 8 days apart: beyond the window, clean",
     given([rec("case_db:1", n=11, decision_date="2026-12-09")], ledger=(led("case_db:9"),)), "case_db:1",
     outcome("uploaded", op="create", reason="clean")),
    ("a similar 文号 of the same party with another decision body: clean",
     given([rec("case_db:1", n=11, body_hash="B2")], ledger=(led("case_db:9"),)), "case_db:1",
     outcome("uploaded", op="create", reason="clean")),
    ("a similar 文号 of another party: clean",
     given([rec("case_db:1", n=11, party="P2")], ledger=(), party=(led("case_db:9"),)), "case_db:1",
     outcome("uploaded", op="create", reason="clean")),
    ("a dissimilar 文号 of the same party: clean",
     given([rec("case_db:1", n="A-7")], ledger=(led("case_db:9"),)), "case_db:1",
     outcome("uploaded", op="create", reason="clean")),
    ("two records of the same party in one run: the second is a near duplicate of the first",
     given([rec("case_db:2", n=11), rec("case_db:1", n=1)]), "case_db:2",
     outcome("awaiting_review", op="create", reason="near_duplicate", detail="疑似重复：case_db:1")),
    ("the original of a published district copy with a mistyped 文号, confirmed duplicate: uploaded",
     given([rec("case_db:1", n=1)], ledger=(led("district_file:5", n=2),),
           reviews={("case_db:1", "H1", "create"): DUP}), "case_db:1",
     outcome("uploaded", op="create", reason="near_duplicate", detail="疑似重复：district_file:5")),
    ("the copy carried into the run with its original: withdrawn, a duplicate of the original",
     given([rec("case_db:1", n=1), rec("district_file:5", n=2)], ledger=(led("district_file:5", n=2),),
           reviews={("case_db:1", "H1", "create"): DUP}), "district_file:5",
     outcome("uploaded", op="withdraw", dup="case_db:1", detail="文书号有误的副本，已由原件 case_db:1 替换（撤销）")),
    ("the copy's 文号 is another original's, which corrects it in this run: the copy is that one's duplicate",
     given([rec("case_db:1", n=1), rec("case_db:2", n=2, body_hash="B2", content_hash="H2"),
            rec("district_file:5", n=2)], ledger=(led("district_file:5", n=2),),
           reviews={("case_db:1", "H1", "create"): DUP, ("case_db:2", "H2", "correct"): BOTH}), "district_file:5",
     outcome("duplicate", dup="case_db:2", detail="case_db:1 的副本误用了 case_db:2 的文书号，该平台记录已由其原件更正")),
    # 5. the review gate
    ("a reviewer rejected: quarantined",
     given([rec("case_db:1", **PERSON)], reviews={("case_db:1", "H1", "create"): {1: "approve", 2: "reject"}}),
     "case_db:1", outcome("quarantined", reason="natural_person", detail="REVIEW_REJECTED")),
    ("a near duplicate of a record from an equal source, confirmed at both levels: a duplicate of it",
     given([rec("case_db:1", n=11)], ledger=(led("case_db:9"),), reviews={("case_db:1", "H1", "create"): DUP}),
     "case_db:1", outcome("duplicate", dup="case_db:9", reason="near_duplicate", detail="审核确认为重复记录")),
    ("a near duplicate marked duplicate at one level only: still waiting",
     given([rec("case_db:1", n=11)], ledger=(led("case_db:9"),),
           reviews={("case_db:1", "H1", "create"): {1: "duplicate"}}),
     "case_db:1", outcome("awaiting_review", op="create", reason="near_duplicate", detail="疑似重复：case_db:9")),
    ("a natural person approved at both levels: uploaded",
     given([rec("case_db:1", **PERSON)], reviews={("case_db:1", "H1", "create"): BOTH}), "case_db:1",
     outcome("uploaded", op="create", reason="natural_person")),
    ("a natural person approved at one of two levels: still waiting",
     given([rec("case_db:1", **PERSON)], reviews={("case_db:1", "H1", "create"): {1: "approve"}}), "case_db:1",
     outcome("awaiting_review", op="create", reason="natural_person")),
    ("approvals of other content do not count",
     given([rec("case_db:1", **PERSON)], reviews={("case_db:1", "H0", "create"): BOTH}), "case_db:1",
     outcome("awaiting_review", op="create", reason="natural_person")),
    ("a 更正 approved at both levels: uploaded",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:1"),),
           reviews={("case_db:1", "H2", "correct"): BOTH}), "case_db:1",
     outcome("uploaded", op="correct", reason="correction")),
    ("warnings only: the pipeline approves its one level itself",
     given([rec("case_db:1")], findings=(("case_db:1", "warning", "W1"),)), "case_db:1",
     outcome("uploaded", op="create", reason="warnings")),
    ("an unknown deadline is no warning about the record: clean",
     given([rec("case_db:1", due_date=None)], findings=(("case_db:1", "warning", "DUE_DATE_UNKNOWN"),)),
     "case_db:1", outcome("uploaded", op="create", reason="clean")),
    ("a later day's run decided the record: a re-run of an older day leaves it unchanged, no review",
     given([rec("case_db:1", **PERSON)], newer={"case_db:1": "2026-12-09"}), "case_db:1",
     outcome("unchanged", detail="2026-12-09 的运行已处理该记录（重跑较早的日期不改变平台上的内容和审核队列）")),
    # 7. timeliness (the run uploads on Tue 2026-12-08)
    ("a first publication after its due day is late",
     given([rec("case_db:1", due_date="2026-12-04")]), "case_db:1",
     outcome("uploaded", op="create", reason="clean", late=True)),
    ("a record waiting for review after its due day is late, not due soon",
     given([rec("case_db:1", due_date="2026-12-04", **PERSON)]), "case_db:1",
     outcome("awaiting_review", op="create", reason="natural_person", late=True)),
    ("a quarantined record after its due day is late",
     given([rec("case_db:1", due_date="2026-12-04")], findings=(("case_db:1", "error", "R1"),)), "case_db:1",
     outcome("quarantined", detail="R1", late=True)),
    ("a record waiting, due in 2 working days: due soon",
     given([rec("case_db:1", due_date="2026-12-10", **PERSON)]), "case_db:1",
     outcome("awaiting_review", op="create", reason="natural_person", due_soon=True)),
    ("a record waiting, due today: due soon",
     given([rec("case_db:1", due_date="2026-12-08", **PERSON)]), "case_db:1",
     outcome("awaiting_review", op="create", reason="natural_person", due_soon=True)),
    ("a record waiting, due in 3 working days: not yet due soon",
     given([rec("case_db:1", due_date="2026-12-11", **PERSON)]), "case_db:1",
     outcome("awaiting_review", op="create", reason="natural_person")),
    ("a first publication due in 2 working days is not 'due soon' (it is being sent)",
     given([rec("case_db:1", due_date="2026-12-10")]), "case_db:1",
     outcome("uploaded", op="create", reason="clean")),
    ("a 更正 after the first publication's due day is not late (only a first publication is)",
     given([rec("case_db:1", content_hash="H2", due_date="2026-12-04")], ledger=(led("case_db:1"),),
           reviews={("case_db:1", "H2", "correct"): BOTH}), "case_db:1",
     outcome("uploaded", op="correct", reason="correction")),
    ("unchanged after the due day is not late",
     given([rec("case_db:1", due_date="2026-12-04")], ledger=(led("case_db:1"),)), "case_db:1",
     outcome("unchanged")),
    ("a waiting record with an unknown due date: neither late nor due soon",
     given([rec("case_db:1", due_date=None, **PERSON)]), "case_db:1",
     outcome("awaiting_review", op="create", reason="natural_person")),
]


@pytest.mark.parametrize(("inp", "rid", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_outcome(inp: P.PlanInput, rid: str, expected: dict[str, Any]) -> None:
    p = P.plan(inp)
    assert row_of(p, rid) == expected
    assert len(p.outcome_rows) == len(inp.records)  # nothing lost: one outcome per record


def test_natural_person_reason_reads_the_kind_s_own_field() -> None:
    run = Run("sgs_license", "license", RUN.start, RUN.end)
    inp = given([rec("licensing_api:1", XK_XDR_LB="自然人", CF_XDR_LB=None)])
    p = P.plan(P.PlanInput(**{**inp.__dict__, "run": run}))
    assert row_of(p, "licensing_api:1") == outcome("awaiting_review", op="create", reason="natural_person")


# What the run writes besides its outcomes: (id, input, ops, owner moves, replaced copies, review requests)
REPLACED = given([rec("case_db:1", n=1)], ledger=(), party=(led("district_file:5", n=2),),  # the copy is not in the run
                 reviews={("case_db:1", "H1", "create"): DUP})
TAKEN = given([rec("case_db:1", n=1), rec("case_db:2", n=2, body_hash="B2", content_hash="H2")],
              ledger=(led("district_file:5", n=2),),
              reviews={("case_db:1", "H1", "create"): DUP, ("case_db:2", "H2", "correct"): BOTH})
EFFECTS = [
    ("a clean new record is one create", given([rec("case_db:1")]), [("case_db:1", "create")], [], {}, []),
    ("a waiting record is one review request with its required levels",
     given([rec("case_db:1", **PERSON)]), [], [], {}, [("case_db:1", "H1", "create", "natural_person", None, "1,2")]),
    ("a 更正 waiting for review asks both levels",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:1"),)), [], [], {},
     [("case_db:1", "H2", "correct", "correction", None, "1,2")]),
    ("a near duplicate asks both levels and names the related record",
     given([rec("case_db:1", n=11)], ledger=(led("case_db:9"),)), [], [], {},
     [("case_db:1", "H1", "create", "near_duplicate", "case_db:9", "1,2")]),
    ("the original taking over its published copy with the same content is an owner move, no operation",
     given([rec("case_db:1")], ledger=(led("district_file:1"),)), [], [(NK1, "case_db:1")], {}, []),
    ("a confirmed original replaces its worse published copy: create it, withdraw the copy, same run",
     REPLACED, [("case_db:1", "create"), ("district_file:5", "withdraw")], [], {f"{doc(2)}|P1": "case_db:1"}, []),
    ("the copy's 文号 is corrected by its own original in the run: nothing is withdrawn",
     TAKEN, [("case_db:1", "create"), ("case_db:2", "correct")], [], {}, []),
    ("a later day's decision: nothing sent, nothing asked", given([rec("case_db:1", **PERSON)],
                                                                   newer={"case_db:1": "2026-12-09"}), [], [], {}, []),
]


@pytest.mark.parametrize(("inp", "ops", "moves", "replaced", "requests"), [c[1:] for c in EFFECTS],
                         ids=[c[0] for c in EFFECTS])
def test_effects(inp: P.PlanInput, ops: list[tuple[str, str]], moves: list[tuple[str, str]],
                 replaced: dict[str, str], requests: list[tuple[Any, ...]]) -> None:
    p = P.plan(inp)
    assert [(r["record_id"], op) for r, op in p.ops] == ops
    assert list(p.owner_moves) == moves
    assert dict(p.replaced_nks) == replaced
    assert [(q.record["record_id"], q.record["content_hash"], q.op, q.reason, q.related, q.levels_required)
            for q in p.review_requests] == requests
    assert p.counts["ops"] == len(ops)


def test_the_withdrawal_of_a_replaced_copy_is_its_published_content() -> None:
    p = P.plan(REPLACED)
    [copy] = [r for r, op in p.ops if op == "withdraw"]
    assert (copy["natural_key"], copy["content_hash"], copy["party_key"]) == (f"{doc(2)}|P1", "H1", "P1")
    assert f"{doc(2)}|P1" in p.ledger_by_nk  # an update of its ledger row, not an insert
    assert f"{doc(2)}|P1" not in REPLACED.ledger  # the input is not touched


SETTLE = [
    ("quarantined by a finding: its reviews settle with nothing reviewed",
     given([rec("case_db:1")], findings=(("case_db:1", "error", "R1"),)), [("case_db:1", None, "quarantined", None)]),
    ("uploaded: its review of this content and operation can close",
     given([rec("case_db:1")]), [("case_db:1", ("H1", "create"), "uploaded", "create")]),
    ("a duplicate in the run settles too", given([rec("case_db:1"), rec("case_db:2")]),
     [("case_db:2", None, "duplicate", None), ("case_db:1", ("H1", "create"), "uploaded", "create")]),
    ("waiting for review settles nothing", given([rec("case_db:1", **PERSON)]), []),
    ("a later day's record settles nothing", given([rec("case_db:1")], newer={"case_db:1": "2026-12-09"}), []),
]


@pytest.mark.parametrize(("inp", "expected"), [c[1:] for c in SETTLE], ids=[c[0] for c in SETTLE])
def test_reviews_to_settle(inp: P.PlanInput, expected: list[tuple[Any, ...]]) -> None:
    assert [(s.record_id, s.reviewed, s.outcome, s.op) for s in P.plan(inp).settle] == expected


def test_counts_add_up() -> None:
    p = P.plan(given([rec("case_db:1"), rec("case_db:2"), rec("case_db:3", n=3, due_date="2026-12-10", **PERSON),
                      rec("case_db:4", n=4, natural_key=None)]))
    assert dict(p.counts) == {"uploaded": 1, "quarantined": 1, "awaiting_review": 1, "unchanged": 0,
                              "duplicate": 1, "due_soon": 1, "ops": 1}


def test_the_planner_reads_and_writes_nothing() -> None:
    src = (Path(P.__file__)).read_text(encoding="utf-8")
    assert "sqlalchemy" not in src and "engine" not in src and "open(" not in src


SENT = {"state": "sent", "platform_status": None, "accepted_hash": None}  # uploaded, its receipt still to come
CONFIRMED = {("case_db:1", "H1", "create"): DUP}

# An early run (a history load deciding before the day before's receipts are in) that must wait: the decision
# reads what the receipt of an in-flight ledger row sets.
MUST_WAIT = [
    ("its own natural key's row is in flight (created, corrected or rejected: the receipt says which)",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:1", **SENT),))),
    ("a better source's original of its copy is in flight: same",
     given([rec("case_db:1")], ledger=(led("district_file:1", **SENT),))),
    ("a near duplicate from a worse source is in flight: published, the original replaces it; rejected, not",
     given([rec("case_db:1", n=1)], ledger=(led("district_file:5", n=2, **SENT),), reviews=CONFIRMED)),
]
# ... and one that need not: nothing it decides reads what an in-flight row's receipt sets.
NEED_NOT_WAIT = [
    ("its copy's row is in flight and the ledger holds it from an equal or better source: a duplicate",
     given([rec("district_file:1")], ledger=(led("case_db:9", **SENT),))),
    ("a later day's run wrote the row in flight: unchanged",
     given([rec("case_db:1", content_hash="H2")], ledger=(led("case_db:1", run_key=LATER, **SENT),))),
    ("a near duplicate from an equal source is in flight: a near duplicate either way",
     given([rec("case_db:1", n=11)], ledger=(led("case_db:9", **SENT),))),
    ("rows of the party in flight that are no near duplicate (another body, beyond the window)",
     given([rec("case_db:1", n=1)], ledger=(), party=(led("district_file:6", n=3, body_hash="B2", **SENT),
                                                       led("district_file:7", n=2, decision_date="2026-11-20", **SENT)))),
]


@pytest.mark.parametrize("inp", [c[1] for c in MUST_WAIT], ids=[c[0] for c in MUST_WAIT])
def test_an_early_run_waits_for_a_receipt_its_decision_reads(inp: P.PlanInput) -> None:
    import dataclasses

    with pytest.raises(P.InFlightError):
        P.plan(dataclasses.replace(inp, early=True))
    # Why: with the receipt in, the decision depends on what it says.
    answered = [dataclasses.replace(inp, ledger={k: {**v, **receipt} for k, v in inp.ledger.items()},
                                    party_rows=[{**x, **receipt} for x in inp.party_rows])
                for receipt in ({"state": "accepted", "platform_status": "published", "accepted_hash": "H1"},
                                {"state": "rejected", "code": "E101"})]
    assert P.plan(answered[0]).outcome_rows != P.plan(answered[1]).outcome_rows


@pytest.mark.parametrize("inp", [c[1] for c in NEED_NOT_WAIT], ids=[c[0] for c in NEED_NOT_WAIT])
def test_an_early_run_decides_what_no_receipt_changes(inp: P.PlanInput) -> None:
    import dataclasses

    early = P.plan(dataclasses.replace(inp, early=True))
    assert early.outcome_rows == P.plan(inp).outcome_rows
    for receipt in ({"state": "accepted", "platform_status": "published", "accepted_hash": "H1"},
                    {"state": "rejected", "code": "E101"}):  # what it decides is what it decides once they are in
        answered = dataclasses.replace(inp, ledger={k: {**v, **receipt} for k, v in inp.ledger.items()},
                                       party_rows=[{**x, **receipt} for x in inp.party_rows])
        assert P.plan(answered).outcome_rows == early.outcome_rows
