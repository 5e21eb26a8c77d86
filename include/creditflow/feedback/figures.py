"""The figures of one period as of one cut-off, from :class:`~creditflow.feedback.facts.Facts`.

:func:`records_of` gives one row per record of the period (decision date in the period, as the latest
run before the cut-off saw it), with what became of it by the cut-off; :func:`headline` counts them.
Every definition is in ``data/reports/definitions.yaml`` (the report's 说明 sheet prints it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from creditflow.core import duedates
from creditflow.core.workdays import CalendarNotCovered, official_calendar
from creditflow.feedback.facts import Facts
from creditflow.feedback.periods import Period, rule_data, stamp

STATUSES = ("published", "quarantined", "awaiting_review", "in_flight", "exempt", "other")
STATUS_ZH = {"published": "已公开", "quarantined": "问题数据（隔离区）", "awaiting_review": "待审核",
             "in_flight": "上报中（待平台回执）", "exempt": "免于公示", "other": "其他"}
DUP_CLASSES = ("exact", "cross_source", "near_confirmed", "near_pending")
DUP_ZH = {"exact": "完全重复", "cross_source": "跨来源重复", "near_confirmed": "审核确认的疑似重复",
          "near_pending": "待审核的疑似重复（随原决定计）"}
PayloadLookup = Callable[[pd.DataFrame], dict[str, dict[str, Any]]]


def _run_day(run_key: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(run_key).rsplit("|", 1)[1][:10])
    except (IndexError, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value not in (None, "") and not pd.isna(value) else None
    except ValueError:
        return None


def as_of(facts: Facts, cut_off: dt.datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(latest row, first row) per record among the runs written before ``cut_off``."""
    last, first = _as_of_positions(facts, cut_off)
    return facts.rows.iloc[last], facts.rows.iloc[first]


def _as_of_positions(facts: Facts, cut_off: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``facts.rows`` of (latest row, first row) per record among the runs written before
    ``cut_off``. Rows are sorted by record, day, run (``facts.load``): a record's rows are adjacent, so
    its first and last row before the cut-off are where the record code changes."""
    codes = facts.memo("record_codes", lambda: pd.factorize(facts.rows["record_id"])[0])
    idx = np.flatnonzero(np.asarray(facts.rows["written_at"] < stamp(cut_off), dtype=bool))
    if not len(idx):
        return idx, idx
    change = codes[idx][1:] != codes[idx][:-1]
    return idx[np.append(change, True)], idx[np.insert(change, 0, True)]


def _parsed_dates(facts: Facts, column: str) -> pd.Series:
    """A date column of ``facts.rows`` parsed once (unreadable: NaT)."""
    return facts.memo(f"parsed_{column}", lambda: pd.to_datetime(facts.rows[column].astype(object),
                                                                  format="%Y-%m-%d", errors="coerce"))


FLAG_COLUMNS = ("sent_at", "accepted_at", "accepted_run", "rejected_at", "rejected_codes")


def _history_flags(facts: Facts, cut_off: dt.datetime, keys: pd.DataFrame, codes: bool = True) -> pd.DataFrame:
    """Per row of ``keys`` (kind, natural_key; same index): create sent / accepted (with its run) /
    rejected (with the platform's codes) before the cut-off — per record key the latest 发送, the first
    入库 (and the least run key among its rows), the latest 退回 and the sorted set of its codes; None when
    there is none.

    Worked on integers: :func:`_create_flag_index` gives each 新增 history row its key, its state and the
    rank of its ``first_at`` / ``first_run`` among all such values, once per Facts; "before the cut-off"
    is then a rank below the cut-off's, and latest / first / least are max / min of ranks."""
    ix = facts.memo("create_flags", lambda: _create_flag_index(facts))
    pos = ix["keys"].get_indexer(_key(keys["kind"], keys["natural_key"]))
    out = pd.DataFrame(index=keys.index, columns=list(FLAG_COLUMNS), dtype=object)
    found = np.unique(pos[pos >= 0])
    if not len(found):
        return out
    n = ix["counts"][found]
    offsets = np.repeat(ix["starts"][found] - np.concatenate([[0], np.cumsum(n)[:-1]]), n) + np.arange(int(n.sum()))
    at_all = ix["at"][offsets]
    before = (at_all >= 0) & (at_all < np.searchsorted(ix["at_values"], stamp(cut_off), side="left"))
    rows = offsets[before]
    key, state, at, run = ix["key"][rows], ix["state"][rows], ix["at"][rows], ix["run"][rows]
    size, none = len(ix["keys"]), np.iinfo(np.int64).max

    def reduce(which: int, values: np.ndarray, biggest: bool) -> np.ndarray:
        acc = np.full(size, -1 if biggest else none, dtype=np.int64)
        pick = state == which
        (np.maximum if biggest else np.minimum).at(acc, key[pick], values[pick])
        return acc

    def strings(ranks: np.ndarray, values: np.ndarray, missing: int) -> list[Any]:
        mine = ranks[np.where(pos >= 0, pos, 0)]
        ok = (pos >= 0) & (mine != missing)
        text = np.full(len(pos), None, dtype=object)
        text[ok] = values[mine[ok]]
        return text.tolist()

    out["sent_at"] = strings(reduce(0, at, True), ix["at_values"], -1)
    out["accepted_at"] = strings(reduce(1, at, False), ix["at_values"], none)
    out["accepted_run"] = strings(reduce(1, run, False), ix["run_values"], none)
    out["rejected_at"] = strings(reduce(2, at, True), ix["at_values"], -1)
    if not codes:  # a trend point counts, it lists no rejection
        return out
    by_key: dict[int, set[str]] = {}
    for k, c in zip(key[state == 2].tolist(), ix["code"][rows[state == 2]].tolist(), strict=True):
        by_key.setdefault(k, set()).add(str(c))
    joined = {k: ",".join(sorted(v)) for k, v in by_key.items()}
    out["rejected_codes"] = [joined.get(p) for p in pos.tolist()]
    return out


def _create_flag_index(facts: Facts) -> dict[str, Any]:
    """The 新增 history rows sorted by record key (:func:`_create_index`) as integer arrays: ``key`` (the
    position in ``keys``), ``state`` (0 sent, 1 accepted, 2 rejected, 3 other), ``at`` (rank in the sorted
    ``at_values``), ``run`` (rank in ``run_values``; none: int64 max), ``code`` (as stored)."""
    h = facts.history
    create = (h["op"] == "create").to_numpy(dtype=bool)
    codes, uniques = pd.factorize(_key(h["kind"][create], h["natural_key"][create]), sort=False)
    order = np.argsort(codes, kind="stable")  # a key's rows together, in their order (as _create_index)
    counts = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    at_codes, at_values = pd.factorize(h["first_at"][create], sort=True)
    run_codes, run_values = pd.factorize(h["first_run"][create], sort=True)
    state = h["state"][create].map({"sent": 0, "accepted": 1, "rejected": 2}).fillna(3).to_numpy(dtype=np.int64)
    run = run_codes.astype(np.int64)
    run[run < 0] = np.iinfo(np.int64).max
    return {"keys": pd.Index(uniques), "starts": starts, "counts": counts, "key": codes[order].astype(np.int64),
            "state": state[order], "at": at_codes.astype(np.int64)[order],
            "at_values": np.asarray(at_values, dtype=object), "run": run[order],
            "run_values": np.asarray(run_values, dtype=object),
            "code": h["code"][create].to_numpy(dtype=object)[order]}


def _key(kind: pd.Series, natural_key: pd.Series) -> pd.Series:
    return kind.astype(str) + "\x00" + natural_key.astype(str)


def _create_index(facts: Facts) -> tuple[pd.DataFrame, pd.Index, np.ndarray, np.ndarray]:
    """新增 history rows grouped by record key, once: (rows sorted by key, distinct keys, start, count)."""
    h = facts.history[facts.history["op"] == "create"]
    codes, uniques = pd.factorize(_key(h["kind"], h["natural_key"]), sort=False)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(uniques)) if len(codes) else np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
    return h.iloc[order].reset_index(drop=True), pd.Index(uniques), starts, counts


def _create_history_of(facts: Facts, keys: pd.DataFrame) -> pd.DataFrame:
    """The 新增 history rows of the records ``keys`` (kind, natural_key), all cut-offs."""
    rows, uniques, starts, counts = facts.memo("create_index", lambda: _create_index(facts))
    wanted = keys.drop_duplicates()
    found = uniques.get_indexer(_key(wanted["kind"], wanted["natural_key"]))
    found = np.unique(found[found >= 0])
    n = counts[found]
    total = int(n.sum())
    if not total:
        return rows.iloc[:0]
    offsets = np.repeat(starts[found] - np.concatenate([[0], np.cumsum(n)[:-1]]), n) + np.arange(total)
    return rows.iloc[offsets]


def records_of(facts: Facts, period: Period, cut_off: dt.datetime,
               payloads: PayloadLookup | None = None, counts_only: bool = False) -> pd.DataFrame:
    """One row per record of ``period`` as of ``cut_off``: the latest run's view plus publication facts.

    ``payloads`` gives the standardised payload of records (for the exemption rules that look at the
    content); without it only the rules that need no content apply. ``counts_only``: for
    :func:`trend_figures` — the same rows and statuses, unsorted, without what only the report's lists
    and the other headline figures read (duplicate class, rejection codes, first check).
    """
    last, first_pos = _as_of_positions(facts, cut_off)  # per record: its latest and its first row
    parsed = _parsed_dates(facts, "decision_date").to_numpy()[last]
    eff = np.where(np.isnat(parsed), _parsed_dates(facts, "day").to_numpy()[first_pos], parsed)
    inside = (eff >= np.datetime64(period.start)) & (eff < np.datetime64(period.end))  # NaT: neither
    last, first_pos, eff = last[inside], first_pos[inside], eff[inside]  # only the period's rows are taken
    rec = facts.rows.iloc[last].copy()
    if rec.empty:
        return _empty(rec)
    for column, source in (("first_run", "run_key"), ("first_day", "day")):
        values = facts.memo(f"objects_{source}", lambda s=source: facts.rows[s].to_numpy(dtype=object))
        rec[column] = values[first_pos]
    rec["decision_day"] = _as_dates(pd.Series(eff))
    for c in ("run_key", "record_id", "kind", "outcome", "natural_key", "duplicate_of", "review_reason", "detail",
              "due_date", "source_system"):
        rec[c] = rec[c].astype(object).where(rec[c].notna(), None)
    rec["source"] = rec["source_system"].astype(str)
    rec["suspected_of"] = [suspected_copy_of(o, r, d) for o, r, d in
                           zip(rec["outcome"].tolist(), rec["review_reason"].tolist(), rec["detail"].tolist(),
                               strict=True)]
    rec["copy"] = (rec["outcome"] == "duplicate") | rec["duplicate_of"].notna() | rec["suspected_of"].notna()
    if not counts_only:
        rec["dup_class"] = [_dup_class(c, r, o, s, p) for c, r, o, s, p in
                            zip(rec["copy"].tolist(), rec["review_reason"].tolist(), rec["duplicate_of"].tolist(),
                                rec["source"].tolist(), rec["suspected_of"].tolist(), strict=True)]
    rec = rec.reset_index(drop=True)
    flags = _history_flags(facts, cut_off, rec[["kind", "natural_key"]], codes=not counts_only)
    for c in FLAG_COLUMNS:
        rec[c] = flags[c]
    rec["submitted"] = rec["sent_at"].notna() | rec["accepted_at"].notna() | rec["rejected_at"].notna()
    rec["published"] = rec["accepted_at"].notna()
    # the publication day is the day (Beijing time) the platform's acceptance was recorded — the one
    # definition of late (duedates.published_late) the dashboard and reconcile use too, also for a backfill
    accepted_day = {a: duedates.acceptance_day(a) for a in set(rec["accepted_at"].tolist()) if isinstance(a, str)}
    rec["pub_day"] = [accepted_day.get(a) if isinstance(a, str) else None for a in rec["accepted_at"].tolist()]
    sent, rejected = rec["sent_at"].astype(object), rec["rejected_at"].astype(object)
    rec["in_flight"] = ~rec["published"] & sent.notna() & (rejected.isna() | (sent.fillna("") > rejected.fillna("")))
    rec.loc[rec["copy"], ["submitted", "published", "in_flight"]] = False
    exempt: list[str | None] = [None] * len(rec)
    kinds, days, revoked, ids = (rec[c].tolist() for c in ("kind", "decision_day", "source_revoked", "record_id"))
    unpublished = np.flatnonzero((~rec["copy"] & ~rec["published"]).to_numpy())
    # the payload only of records a content rule could exempt (no earlier rule decides without it)
    needs: dict[tuple[Any, ...], bool] = {}
    for i in unpublished:
        case = (kinds[i], days[i], bool(revoked[i]))
        if case not in needs:
            needs[case] = _needs_content(*case)
    reading = [i for i in unpublished if needs[(kinds[i], days[i], bool(revoked[i]))]]
    content = payloads(rec.iloc[reading]) if payloads is not None and reading else {}
    failed = _failed_fields(facts, rec.iloc[reading]) if reading else {}
    for i in unpublished:
        exempt[i] = exemption(kinds[i], days[i], bool(revoked[i]), content.get(ids[i]), failed.get(ids[i], frozenset()))
    rec["exempt_rule"] = exempt
    outcome = rec["outcome"]
    rec["status"] = np.select(
        [rec["copy"].to_numpy(), rec["published"].to_numpy(), rec["exempt_rule"].notna().to_numpy(),
         rec["in_flight"].to_numpy(), outcome.isin(["quarantined", "awaiting_review"]).to_numpy()],
        [None, "published", "exempt", "in_flight", outcome.to_numpy()], default="other").astype(object)
    _timeliness(rec, cut_off)
    if counts_only:
        return rec
    rec["first_failed"] = _first_check_failed(facts, first_pos, rec)
    return rec.sort_values(["kind", "decision_day", "record_id"], kind="stable").reset_index(drop=True)


# The pipeline's own quality checks besides the validation rules: a record it quarantines for them failed
# the check (a platform rejection or a reviewer's rejection is not a failed quality check).
OWN_CHECKS = ("NO_NATURAL_KEY",)


def _first_check_failed(facts: Facts, first_pos: np.ndarray, rec: pd.DataFrame) -> list[bool]:
    """Per record of ``rec``: whether its first validation — the earliest counted run that extracted it
    (``first_pos``) — failed: an error finding of that run, or that run quarantined it for one of the
    pipeline's own checks. What later runs made of the record (fixed at the source, passed) does not
    change its first check."""
    errors = facts.error_keys()
    outcome = facts.memo("objects_outcome", lambda: facts.rows["outcome"].to_numpy(dtype=object))[first_pos]
    detail = facts.memo("objects_detail", lambda: facts.rows["detail"].to_numpy(dtype=object))[first_pos]
    return [(fr, rid) in errors or (o == "quarantined" and str(d or "").split(",")[0] in OWN_CHECKS)
            for fr, rid, o, d in zip(rec["first_run"].tolist(), rec["record_id"].tolist(), outcome.tolist(),
                                     detail.tolist(), strict=True)]


def _empty(frame: pd.DataFrame) -> pd.DataFrame:
    for c in ("source", "copy", "dup_class", "submitted", "published", "pub_day", "in_flight", "exempt_rule",
              "status", "due_day", "timely", "late_days", "rejected_codes", "accepted_run", "first_run", "first_day",
              "decision_day", "first_failed", "suspected_of"):
        frame[c] = pd.Series(dtype=object)
    return frame


SUSPECTED = "疑似重复："  # how the pipeline's outcome names the record a suspected near duplicate resembles


def suspected_copy_of(outcome: Any, review_reason: Any, detail: Any) -> str | None:
    """The record a record waiting in review as a suspected near duplicate resembles (the pipeline writes
    ``疑似重复：<record id>`` into its outcome), else None. Such a copy counts once, with that record's
    decision (definitions.yaml ``decisions``), until a reviewer says it is a decision of its own."""
    if outcome != "awaiting_review" or review_reason != "near_duplicate" or not isinstance(detail, str):
        return None
    if not detail.startswith(SUSPECTED):
        return None
    return detail[len(SUSPECTED):] or None


def _dup_class(copy: bool, review_reason: Any, duplicate_of: Any, source: str, suspected_of: Any = None) -> str | None:
    if not copy:
        return None
    if suspected_of is not None:
        return "near_pending"
    if review_reason == "near_duplicate":
        return "near_confirmed"
    other = str(duplicate_of or "").split(":", 1)[0]
    return "exact" if other == source else "cross_source"


def _rules_for(kind: str, decision_day: dt.date, revoked: bool) -> Iterator[dict[str, Any]]:
    """The exemption rules (``exemptions.yaml``, in file order) in force on the decision day for this kind
    and revocation state; the content conditions are left to the caller."""
    for rule in rule_data("exemptions")["exemptions"]:
        if rule["effective_from"] > decision_day or (rule.get("effective_to") and rule["effective_to"] < decision_day):
            continue
        if kind not in rule.get("kinds", [kind]):
            continue
        if "revoked" in rule and bool(rule["revoked"]) != revoked:
            continue
        yield rule


def exemption(kind: str, decision_day: dt.date | None, revoked: bool, payload: dict[str, Any] | None,
              failed_fields: frozenset[str] = frozenset()) -> str | None:
    """The id of the first exemption rule (``exemptions.yaml``) in force on the decision day that the
    record meets, or None. ``failed_fields``: fields with a validation error in the record's latest run — a
    content rule never exempts a record whose content it would read failed validation."""
    if decision_day is None:
        return None
    for rule in _rules_for(kind, decision_day, revoked):
        if _reads_content(rule) and (payload is None or not _content_matches(rule, decision_day, payload,
                                                                             failed_fields)):
            continue
        return str(rule["id"])
    return None


def _reads_content(rule: dict[str, Any]) -> bool:
    return bool(rule.get("unpublished_class"))


def _needs_content(kind: str, decision_day: dt.date | None, revoked: bool) -> bool:
    """Whether :func:`exemption` of such a record depends on its payload: a rule that looks at the content
    is in force and no earlier rule already applies without it."""
    if decision_day is None:
        return False
    for rule in _rules_for(kind, decision_day, revoked):
        return _reads_content(rule)
    return False


# The fields the publicity classification reads: an error on any of them (an amount in the wrong unit, an
# unknown category or party type) leaves the class unknown, so the record cannot be judged exempt.
CLASSIFIED_FIELDS = frozenset({"CF_NR_FK", "CF_CFLB", "CF_XDR_LB", "CF_JDRQ"})


def _failed_fields(facts: Facts, rows: pd.DataFrame) -> dict[str, frozenset[str]]:
    """record_id → fields with a validation error (not the platform's) in the given rows' runs."""
    f = facts.findings
    if f.empty or rows.empty:
        return {}
    wanted = set(zip(rows["run_key"].tolist(), rows["record_id"].tolist(), strict=True))
    out: dict[str, set[str]] = {}
    for run, rid, field, rule in zip(f["run_key"].tolist(), f["record_id"].tolist(), f["field"].tolist(),
                                     f["rule_id"].tolist(), strict=True):
        if rule != "PLATFORM_REJECTED" and (run, rid) in wanted:
            out.setdefault(rid, set()).add(str(field))
    return {k: frozenset(v) for k, v in out.items()}


def _content_matches(rule: dict[str, Any], decision_day: dt.date, payload: dict[str, Any],
                     failed_fields: frozenset[str] = frozenset()) -> bool:
    """Whether the one classification (:func:`creditflow.core.publicity.classify`) puts the record in a class
    that is not published — the same answer the impact preview and the repair notice give."""
    from creditflow.core import publicity

    if failed_fields & CLASSIFIED_FIELDS:
        return False
    categories = [c.strip() for c in str(payload.get("CF_CFLB") or "").replace("；", ";").split(";") if c.strip()]
    if not categories:
        return False
    try:
        fine = publicity.fine_yuan_of(payload.get("CF_NR_FK"), "万元")
        why = publicity.unpublished_reason(decision_day, categories, fine_yuan=fine,
                                           party_type=str(payload.get("CF_XDR_LB") or "") or None)
    except (ValueError, LookupError):
        return False
    # Only the class: natural persons' records go through review and are published by the pipeline (双公示),
    # so "natural_person" (not published on 信用中国 for credit purposes) does not exempt them here.
    return why == "class"


def _as_dates(stamps: pd.Series) -> list[Any]:
    """``[x.date() for x in stamps]``, converting each distinct value once (decision days repeat)."""
    codes, uniques = pd.factorize(stamps, use_na_sentinel=False)
    days = np.empty(len(uniques), dtype=object)
    days[:] = [x.date() for x in uniques]
    return days[codes].tolist()


def deadline_over(due: dt.date, cut_off: dt.datetime) -> bool:
    """Whether the publication deadline ``due`` is over at ``cut_off``: a due date D means published on
    or before D (publication day ≤ D), so the deadline is over once D has ended (local midnight after D)
    at the cut-off. A decision not yet published at the cut-off is then late — also when D is the cut-off's
    own last day (monthly: the 9th, cut-off at its end). At a cut-off inside D (weekly: Monday 08:00, or
    "now") it is still pending: not yet due (definitions.yaml ``timely_rate``)."""
    return dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), cut_off.tzinfo) <= cut_off


def _timeliness(rec: pd.DataFrame, cut_off: dt.datetime) -> None:
    """``timely`` True/False (None: not yet due, exempt, a copy, or no deadline) and ``late_days``
    (working days after the deadline: to publication, or to the cut-off's day for one still unpublished —
    0 for one due on that day).

    What a record gets depends only on (copy, status, due date, publication day, decision day), and these
    repeat: each distinct case is worked out once (:func:`_timeliness_of`), then given to its records."""
    cal = official_calendar()
    as_of_day = (cut_off - dt.timedelta(microseconds=1)).date()
    fallback: dict[Any, dt.date | None] = {}  # the deadline of an unreadable due date, by decision day
    late: dict[tuple[dt.date, dt.date], int | None] = {}  # working days from deadline to end
    cases: dict[tuple[Any, ...], tuple[dt.date | None, bool | None, int | None]] = {}
    dues: list[dt.date | None] = []
    timely: list[bool | None] = []
    late_days: list[int | None] = []
    for case in zip(rec["copy"].tolist(), rec["status"].tolist(), rec["due_date"].tolist(), rec["pub_day"].tolist(),
                    rec["decision_day"].tolist(), strict=True):
        got = cases.get(case)
        if got is None:
            got = cases[case] = _timeliness_of(*case, cut_off, as_of_day, cal, fallback, late)
        dues.append(got[0])
        timely.append(got[1])
        late_days.append(got[2])
    rec["due_day"] = dues
    rec["timely"] = timely
    rec["late_days"] = late_days


def _timeliness_of(copy: bool, status: Any, due_date: Any, pub_day: Any, decision_day: Any, cut_off: dt.datetime,
                   as_of_day: dt.date, cal: Any, fallback: dict[Any, dt.date | None],
                   late: dict[tuple[dt.date, dt.date], int | None]) -> tuple[dt.date | None, bool | None, int | None]:
    """(deadline, timely, late_days) of one record (:func:`_timeliness`); ``fallback`` and ``late`` are
    caches shared by the report's records."""
    due = _date(due_date)
    if due is None:
        if decision_day not in fallback:
            fallback[decision_day] = _due(decision_day)
        due = fallback[decision_day]
    if copy or status == "exempt" or due is None:
        return due, None, None
    if status == "published" and pub_day is not None:
        # the publication day is the day the platform's acceptance was recorded: the one definition of late
        end, on_time = pub_day, not duedates.published_late(pub_day, due)
    elif not deadline_over(due, cut_off):
        return due, None, None  # not yet due
    else:
        end, on_time = as_of_day, False  # the deadline is over and it is still not published: late
    if on_time:
        return due, True, 0
    if (due, end) not in late:
        try:
            late[(due, end)] = cal.working_days_between(due, end)
        except CalendarNotCovered:
            late[(due, end)] = None
    return due, False, late[(due, end)]


def _due(day: dt.date | None) -> dt.date | None:
    """The deadline of a record whose stored deadline is missing (from its decision day); None while it is
    unknown (no calendar for that year, or no rule in force): not counted as due."""
    return duedates.sgs_due(day).date if day is not None else None


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def headline(rec: pd.DataFrame, facts: Facts, period: Period, cut_off: dt.datetime,
             completeness: tuple[int, int] | None = None) -> dict[str, Any]:
    """The headline figures of a set of period records (all of them, or one kind / department / district)."""
    dec = rec[~rec["copy"]] if len(rec) else rec
    n, submitted, accepted, timely, late = _decision_counts(dec)
    first_pass_failed = _first_pass_failures(rec, facts)
    not_published = {s: int((dec["status"] == s).sum()) if n else 0 for s in STATUSES if s != "published"}
    not_published["total"] = sum(not_published.values())
    dups = rec[rec["copy"]] if len(rec) else rec
    out: dict[str, Any] = {
        "decisions": n, "submitted": submitted, "accepted": accepted, "timely": timely, "late": late,
        "timely_rate": _rate(timely, timely + late), "late_rate": _rate(late, timely + late),
        "compliance_rate": _rate(accepted, submitted),
        "extracted": len(rec), "first_pass": len(rec) - first_pass_failed,
        "first_pass_rate": _rate(len(rec) - first_pass_failed, len(rec)),
        "not_published": not_published,
        "duplicates": {c: int((dups["dup_class"] == c).sum()) if len(dups) else 0 for c in DUP_CLASSES},
    }
    # neither on time nor late yet: not published and its deadline not over at the cut-off (or no deadline)
    out["not_yet_due"] = int((dec["timely"].isna() & (dec["status"] != "exempt")).sum()) if n else 0
    if completeness is not None:
        filled, required = completeness
        out.update(required_items=required, filled_items=filled, completeness_rate=_rate(filled, required))
    return out


def _decision_counts(dec: pd.DataFrame) -> tuple[int, int, int, int, int]:
    """(decisions, submitted, accepted, timely, late) of the decisions ``dec`` (copies left out)."""
    n = len(dec)
    if not n:
        return 0, 0, 0, 0, 0
    timely = int((dec["timely"] == True).sum())  # noqa: E712 — object column of True/False/None
    late = int((dec["timely"] == False).sum())  # noqa: E712
    return n, int(dec["submitted"].sum()), int(dec["published"].sum()), timely, late


def trend_figures(facts: Facts, period: Period, cut_off: dt.datetime,
                  payloads: PayloadLookup | None = None) -> dict[str, Any]:
    """A trend point: the headline's ``decisions``, ``timely_rate`` and ``compliance_rate`` of ``period`` as
    of ``cut_off`` — counted as :func:`headline` counts them, from the same records, without the rest."""
    rec = records_of(facts, period, cut_off, payloads, counts_only=True)
    n, submitted, accepted, timely, late = _decision_counts(rec[~rec["copy"]] if len(rec) else rec)
    return {"decisions": n, "timely_rate": _rate(timely, timely + late), "compliance_rate": _rate(accepted, submitted)}


def _first_pass_failures(rec: pd.DataFrame, facts: Facts) -> int:
    return int(rec["first_failed"].sum()) if len(rec) else 0


def unreadable_files(facts: Facts, period: Period, cut_off: dt.datetime) -> pd.DataFrame:
    """District files a run counted at the cut-off rejected as unreadable, on a day of the period (a file's
    decisions are dated by the run that received it, as a record whose decision date cannot be read), and
    not taken afterwards under the same name by a counted run (the district sent it again, readable: its
    decisions are then records). One row per file (kind, file_name, day, reason): their decisions are
    未报送 although nobody knows how many (definitions.yaml ``not_published``)."""
    f = facts.files[(facts.files["written_at"] < stamp(cut_off)).to_numpy(dtype=bool)]
    rejected = f[(f["status"] == "rejected") & (f["day"] >= period.start.isoformat())
                 & (f["day"] < period.end.isoformat())].drop_duplicates(["kind", "file_name"], keep="first")
    ingested = f[f["status"] == "ingested"].groupby(["kind", "file_name"])["day"].max().to_dict()
    later = [ingested.get((k, n), "") >= d for k, n, d in
             zip(rejected["kind"].tolist(), rejected["file_name"].tolist(), rejected["day"].tolist(), strict=True)]
    return rejected[~np.array(later, dtype=bool)].reset_index(drop=True)


def corrections(facts: Facts, period: Period, cut_off: dt.datetime) -> dict[str, Any]:
    """更正 / 撤销 accepted in the period (by the day they went out) against new records published in it."""
    cut = stamp(cut_off)
    changes = facts.memo("changes_out", lambda: (facts.changes, _out_days(facts.changes["run_key"])))
    ch = changes[0][(changes[0]["at"] < cut).to_numpy() & _days_in(changes[1], period)]
    created_all = facts.memo("created_out", lambda: _created_out(facts))
    h, pub = created_all
    created = int(((h["first_at"] < cut).to_numpy() & _days_in(pub, period)).sum())
    corrected = int((ch["op"] == "correct").sum())
    withdrawn = int((ch["op"] == "withdraw").sum())
    return {"published_new": created, "corrections": corrected, "withdrawals": withdrawn,
            "correction_rate": _rate(corrected + withdrawn, created)}


def _out_days(run_keys: pd.Series) -> np.ndarray:
    """Per row: the ordinal of the day its run's operation went out (run day + 1; 0 when unreadable),
    parsed once per distinct run key."""
    keys = [str(r) for r in run_keys.tolist()]  # _run_day reads str(run_key): a missing one is never in a period
    days = {r: ((_run_day(r) or dt.date.min) + dt.timedelta(days=1)).toordinal() for r in set(keys)}
    return np.array([days[r] for r in keys], dtype=np.int64)


def _days_in(days: np.ndarray, period: Period) -> np.ndarray:
    return (days >= period.start.toordinal()) & (days < period.end.toordinal())


def _created_out(facts: Facts) -> tuple[pd.DataFrame, np.ndarray]:
    """Accepted 新增 operations (any cut-off) with the day each went out."""
    h = facts.history
    h = h[(h["op"] == "create") & (h["state"] == "accepted")]
    return h, _out_days(h["first_run"])
