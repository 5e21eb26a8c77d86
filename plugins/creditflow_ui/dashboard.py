"""数据看板: the state of the credit data at a glance, for a data engineer and a 信用科 clerk.

``/creditflow/dashboard`` — per record kind and period (day, ISO week, month): extracted, uploaded,
accepted by the platform, quarantined, awaiting review, late and due soon; trends; the 7-working-day clock
of every record not yet published; the quarantine queue with what to fix and who; the review queue;
reconciliation per run with a link to its Airflow run; links to the quality report and to the reports,
plans and notices in the creditflow storage (``var/`` in the demo, object storage in production — served
by this plugin, so a browser never needs the bucket); the serious-dishonesty list and credit repair once they have rows.

How the numbers are counted (the page says the same):

* flows — ``extracted``, ``uploaded``, ``quarantined`` (by the run) — are summed over the period's runs
  (each run's latest reconciliation in ``cf_run_summary``, which keeps them all); ``accepted`` counts the
  platform's acceptances those runs received (``cf_ledger_history``);
* the 已上报 card is what the platform holds: the ledger's records the platform accepted (published or
  withdrawn), whatever any re-run's reconciliation says (:func:`held_by_platform`);
* states — ``awaiting_review``, ``due_soon`` (records carried from run to run) — are the period's last run's;
* ``late`` counts distinct records marked late in the period's runs (``cf_outcome``): a first publication
  is late when the platform accepted it on a day after its deadline (``core.duedates.published_late``,
  the one definition of late, for the report too), a waiting record when its deadline had passed at the run;
* the cards' "now" numbers and the clock are the records not yet published today: latest outcome
  quarantined or awaiting review, with their status on ``core.duedates.due_status`` (a deadline whose day
  has passed is overdue, also on a weekend or holiday); "today" is the ``clock.today`` dependency.

Labels are Chinese; the page follows the Airflow UI's language (``?lang=en`` for English, set by
``static/dashboard.js`` from the UI's own setting when it differs). Routes need an Airflow login; every
printed value passes the templates' masking (:func:`creditflow.common.mask_text`).
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa
from creditflow.common import KIND_LABELS, KINDS, TZ, mask_text
from creditflow.core import warehouse as wh
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from creditflow_ui import auth, charts, clock
from creditflow_ui.clock import due_cell
from creditflow_ui.i18n import labels_for, language_of
from creditflow_ui.routes import identify, render

if TYPE_CHECKING:
    from creditflow.core.storage import Storage

log = logging.getLogger(__name__)
router = APIRouter()

PERIODS = ("day", "week", "month")
FLOWS = ("extracted", "uploaded", "accepted", "quarantined")
STATES = ("awaiting_review", "due_soon")
NOW = ("open_quarantined", "open_review", "open_overdue", "open_due_soon")
COLUMNS = ("extracted", "uploaded", "accepted", "quarantined", "awaiting_review", "late", "due_soon")
# One colour per measure on every chart (classes of static/dashboard.css).
COLOURS = {"extracted": "s0", "uploaded": "s1", "accepted": "s2", "quarantined": "s3", "awaiting_review": "s4"}
CLOCK_BUCKETS = ("overdue", "d0", "d1", "d2", "d3_7", "unknown")
FILE_AREAS = {"reports": "reports", "plans": "plans", "notices": "notices"}
FILE_TYPES = {".pdf": "application/pdf", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              ".csv": "text/csv", ".md": "text/markdown", ".txt": "text/plain", ".json": "application/json",
              ".html": "text/html", ".png": "image/png", ".svg": "image/svg+xml"}
TEXT_TYPES = {".csv", ".md", ".txt", ".json", ".html", ".svg"}
DASHBOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
                 "frame-ancestors 'self'; base-uri 'none'")


def _engine() -> Any:
    from creditflow_ui.routes import _engine as engine

    return engine()


def _storage(area: str) -> Storage:
    """Where the reports, plans or notices are: the creditflow storage (``var/<area>`` in the demo)."""
    from creditflow_airflow.hooks import storage

    return storage(FILE_AREAS[area])


def _shown(key: str) -> bool:
    """Files the page lists and serves: known document types, nothing hidden (temporary files, locks)."""
    parts = key.split("/")
    return posixpath.splitext(key)[1].lower() in FILE_TYPES and not any(p.startswith(".") for p in parts)


# --- periods ------------------------------------------------------------------------------------------


def period_of(day: str, period: str) -> str:
    """The period a data day belongs to: ``2026-11-03``, ``2026-W45`` (ISO week) or ``2026-11``."""
    d = dt.date.fromisoformat(day[:10])
    if period == "week":
        year, week, _ = d.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return d.strftime("%Y-%m")
    return d.isoformat()


@dataclass
class PeriodRow:
    period: str
    kind: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    last_day: str = ""


def per_period(conn: sa.Connection, period: str, kind: str | None = None, limit: int = 30) -> list[PeriodRow]:
    """One row per (period, kind), newest period first (at most ``limit`` periods)."""
    s = wh.run_summary
    q = sa.select(s.c.run_key, s.c.kind, s.c.interval_start,
                  *[s.c[c] for c in ("extracted", "uploaded", "quarantined", *STATES)]).where(wh.latest_summaries())
    if kind:
        q = q.where(s.c.kind == kind)
    runs = conn.execute(q.order_by(s.c.interval_start)).mappings().all()
    h, o = wh.ledger_history, wh.outcomes
    accepted: dict[str, int] = dict(conn.execute(sa.select(h.c.run_key, sa.func.count()).where(h.c.state == "accepted")
                                 .group_by(h.c.run_key)).all())
    late_rows = conn.execute(sa.select(o.c.run_key, o.c.record_id).where(o.c.late == sa.true())).all()
    late_by_run: dict[str, set[str]] = defaultdict(set)
    for run_key, record_id in late_rows:
        late_by_run[run_key].add(record_id)
    rows: dict[tuple[str, str], PeriodRow] = {}
    late: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in runs:
        key = (period_of(r["interval_start"], period), r["kind"])
        row = rows.setdefault(key, PeriodRow(*key))
        for c in ("extracted", "uploaded", "quarantined"):
            row.counts[c] += int(r[c])
        row.counts["accepted"] += int(accepted.get(r["run_key"], 0))
        if r["interval_start"] >= row.last_day:  # states: the period's last run
            row.last_day = r["interval_start"]
            for c in STATES:
                row.counts[c] = int(r[c])
        late[key] |= late_by_run.get(r["run_key"], set())
    for key, records in late.items():
        rows[key].counts["late"] = len(records)
    periods = sorted({p for p, _ in rows}, reverse=True)[:limit]
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted((r for r in rows.values() if r.period in periods),
                  key=lambda r: (r.period, -order.get(r.kind, 9)), reverse=True)


# --- records not yet published: the 7-working-day clock, the quarantine queue -------------------------


def held_by_platform(conn: sa.Connection, kind: str | None = None) -> int:
    """已上报 on the overview cards: the records the platform holds — every ledger row the platform has
    accepted an operation of (published or withdrawn), of the 双公示 kinds. The ledger's accepted state is
    what the platform holds, so no re-run (whose reconciliation counts only what *it* sent) changes it."""
    L = wh.ledger
    q = sa.select(sa.func.count()).select_from(L).where(L.c.platform_status.is_not(None),
                                                        L.c.kind.in_([kind] if kind else list(KINDS)))
    return int(conn.execute(q).scalar_one())


def open_records(conn: sa.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """Records whose latest outcome is quarantined or awaiting review (not on the platform yet)."""
    o, s = wh.outcomes, wh.standardised
    latest = (sa.select(o.c.record_id, sa.func.max(o.c.run_key).label("run_key")).group_by(o.c.record_id)
              .subquery())
    q = (sa.select(o.c.record_id, o.c.kind, o.c.run_key, o.c.outcome, o.c.due_date, o.c.review_reason, o.c.detail,
                   s.c.decision_date)
         .join(latest, sa.and_(latest.c.record_id == o.c.record_id, latest.c.run_key == o.c.run_key))
         .join(s, sa.and_(s.c.run_key == o.c.run_key, s.c.record_id == o.c.record_id), isouter=True)
         .where(o.c.outcome.in_(("quarantined", "awaiting_review"))))
    if kind:
        q = q.where(o.c.kind == kind)
    return [dict(r) for r in conn.execute(q).mappings()]


def clock_bucket(due: str | None, today: dt.date, decision_date: str | None = None) -> tuple[str, int | None]:
    """Which bar of the clock a record falls in, and its working days left (negative: overdue), by
    :func:`creditflow.core.duedates.due_status` — a Friday deadline is overdue on the Sunday after, not due
    today. A deadline not stored (beyond the calendar when computed) is worked out from the decision date."""
    cell = due_cell(due, decision_date, today)
    left = cell["left"]
    if cell["state"] == "overdue":
        return "overdue", left
    if cell["state"] == "unknown" or left is None:
        return "unknown", None
    if left <= 2:
        return f"d{left}", left
    return "d3_7", left


def quarantine_queue(conn: sa.Connection, records: list[dict[str, Any]], today: dt.date,
                     limit: int = 200) -> list[dict[str, Any]]:
    """The quarantined records' open findings, most urgent first, each identified the way 问题数据 identifies
    it (``routes.identify``: 文号, party with its code masked, 承办科室 and who must act)."""
    quarantined = {(r["run_key"], r["record_id"]): r for r in records if r["outcome"] == "quarantined"}
    if not quarantined:
        return []
    f = wh.findings
    run_keys = sorted({k for k, _ in quarantined})
    findings = conn.execute(sa.select(f.c.run_key, f.c.record_id, f.c.field, f.c.rule_id, f.c.message_zh)
                            .where(f.c.run_key.in_(run_keys), f.c.severity == "error")).mappings().all()
    # A record quarantined without an error finding (a reviewer's rejection): its outcome says why.
    reasons: list[dict[str, Any]] = [dict(f) for f in findings]
    with_finding = {(f["run_key"], f["record_id"]) for f in reasons}
    reasons += [{"run_key": k, "record_id": r, "field": "—", "rule_id": "—",
                 "message_zh": quarantined[(k, r)]["detail"] or "已隔离（见审核记录）"}
                for k, r in sorted(quarantined.keys() - with_finding)]
    out = []
    for fd in reasons:
        rec = quarantined.get((fd["run_key"], fd["record_id"]))
        if rec is None:
            continue
        bucket, left = clock_bucket(rec["due_date"], today, rec.get("decision_date"))
        out.append({"record_id": fd["record_id"], "kind": rec["kind"], "run_key": fd["run_key"], "field": fd["field"],
                    "rule_id": fd["rule_id"], "message": fd["message_zh"], "due_date": rec["due_date"],
                    "due": due_cell(rec["due_date"], rec.get("decision_date"), today), "left": left, "bucket": bucket})
    out.sort(key=lambda r: (r["left"] if r["left"] is not None else 999, r["record_id"], r["field"]))
    shown = out[:limit]
    identify(conn, shown)
    return shown


# --- review, reconciliation, files, credit ------------------------------------------------------------


def review_queue(conn: sa.Connection, kind: str | None = None, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Pending reviews by kind, reason and operation, with the earliest due date and how many are overdue. A
    review stored without a due date (beyond the calendar when it was computed) gets the deadline of its
    decision date once the year's calendar is there (``due_cell``), as on the clock chart and 审核."""
    r, st = wh.reviews, wh.standardised
    decided = (sa.select(st.c.decision_date).where(st.c.record_id == r.c.record_id,
                                                   st.c.content_hash == r.c.content_hash)
               .limit(1).scalar_subquery())
    q = (sa.select(r.c.kind, r.c.reason, r.c.op, r.c.due_date, decided.label("decision_date"))
         .where(r.c.status == "pending"))
    if kind:
        q = q.where(r.c.kind == kind)
    day = today or clock.today()
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    earliest: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}
    for x in conn.execute(q).mappings():
        key = (x["kind"], x["reason"], x["op"])
        g = groups.setdefault(key, {"kind": x["kind"], "reason": x["reason"], "op": x["op"], "n": 0, "due": None,
                                    "overdue": 0, "due_cell": None})
        g["n"] += 1
        cell = due_cell(x["due_date"], x["decision_date"], day)
        g["overdue"] += cell["overdue"]
        order = cell["text"] if cell["state"] != "unknown" else "9999"  # a known date before a pending one
        if key not in earliest or order < earliest[key][0]:
            earliest[key] = (order, cell)
    for key, (_order, cell) in earliest.items():
        groups[key]["due"], groups[key]["due_cell"] = cell["text"], cell
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], k[1], k[2] or ""))]


def recent_runs(conn: sa.Connection, kind: str | None = None, limit: int = 30) -> list[dict[str, Any]]:
    s = wh.run_summary
    q = sa.select(s).where(wh.latest_summaries()).order_by(s.c.interval_start.desc(), s.c.kind).limit(limit)
    if kind:
        q = q.where(s.c.kind == kind)
    rows = [dict(r) for r in conn.execute(q).mappings()]
    ids = airflow_run_ids(rows)
    for row in rows:
        run_id = ids.get((row["dag_id"], row["interval_start"]))
        row["airflow_href"] = (f"/dags/{quote(row['dag_id'])}/runs/{quote(run_id, safe='')}" if run_id
                               else f"/dags/{quote(row['dag_id'])}/runs")
    return rows


def airflow_run_ids(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(dag_id, interval start as stored) → Airflow run id, from the metadata DB the API server uses."""
    if not rows:
        return {}
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        starts = {}
        for row in rows:
            moment = dt.datetime.fromisoformat(row["interval_start"])
            starts[(row["dag_id"], moment.astimezone(dt.UTC))] = row["interval_start"]
        found: dict[tuple[str, str], str] = {}
        with create_session() as session:
            q = sa.select(DagRun.dag_id, DagRun.run_id, DagRun.data_interval_start).where(
                DagRun.dag_id.in_({d for d, _ in starts}),
                DagRun.data_interval_start.in_({m for _, m in starts}))
            for dag_id, run_id, start in session.execute(q):
                if start is None:
                    continue
                key = (dag_id, start.astimezone(dt.UTC))
                if key in starts:
                    found[(dag_id, starts[key])] = run_id
        return found
    except Exception:  # the links fall back to the DAG's list of runs
        log.debug("no Airflow run ids for the reconciliation table", exc_info=True)
        return {}


def listed_files(area: str, limit: int = 50) -> list[dict[str, Any]] | None:
    """Files under the area's storage (newest first), or None when there is nothing there (yet)."""
    store = _storage(area)
    try:
        if not store.exists():
            return None
        files = [e for e in store.list_files(recursive=True) if _shown(e.key)]
    except OSError:  # the object store is unreachable: the page still shows everything else
        log.warning("could not list %s", store.url, exc_info=True)
        return None
    files.sort(key=lambda e: (e.modified, e.key), reverse=True)
    return [{"path": e.key, "size": e.size, "modified": e.modified.astimezone(TZ).strftime("%Y-%m-%d %H:%M")}
            for e in files[:limit]]


def credit_status(conn: sa.Connection) -> dict[str, Any] | None:
    """严重失信名单 cases by state and credit-repair requests by kind and status, once there are any."""
    try:
        cases: Counter[str] = Counter(dict(conn.execute(sa.select(wh.credit_case.c.state, sa.func.count())
                                          .group_by(wh.credit_case.c.state)).all()))
        requests = Counter({(k, s): n for k, s, n in conn.execute(
            sa.select(wh.credit_request.c.kind, wh.credit_request.c.status, sa.func.count())
            .group_by(wh.credit_request.c.kind, wh.credit_request.c.status)).all()})
    except (AttributeError, sa.exc.SQLAlchemyError):
        return None
    if not cases and not requests:
        return None
    try:
        from creditflow.credit.lifecycle import STATES_ZH
    except ImportError:
        STATES_ZH = {}
    return {"cases": [(STATES_ZH.get(s, s), n) for s, n in sorted(cases.items())],
            "requests": [(k, s, n) for (k, s), n in sorted(requests.items())]}


# --- the page -----------------------------------------------------------------------------------------


def dashboard_data(kind: str | None, period: str, today: dt.date) -> dict[str, Any]:
    with _engine().connect() as conn:
        rows = per_period(conn, period, kind)
        records = open_records(conn, kind)
        queue = quarantine_queue(conn, records, today)
        reviews = review_queue(conn, kind, today)
        runs = recent_runs(conn, kind)
        credit = credit_status(conn)
        held = held_by_platform(conn, kind)
    buckets = [(r["outcome"], clock_bucket(r["due_date"], today, r.get("decision_date"))[0]) for r in records]
    clock = Counter(b for _, b in buckets)
    clock_by_outcome = {o: Counter(b for oc, b in buckets if oc == o) for o in ("quarantined", "awaiting_review")}
    totals = {c: sum(r.counts[c] for r in rows) for c in ("extracted", "accepted")}
    totals["uploaded"] = held
    totals.update(open_quarantined=sum(1 for r in records if r["outcome"] == "quarantined"),
                  open_review=sum(1 for r in records if r["outcome"] == "awaiting_review"),
                  open_overdue=clock.get("overdue", 0),
                  open_due_soon=sum(clock.get(b, 0) for b in ("d0", "d1", "d2")))
    latest_period = rows[0].period if rows else None
    return {"rows": rows, "records": records, "queue": queue, "reviews": reviews, "runs": runs, "credit": credit,
            "clock": {b: clock.get(b, 0) for b in CLOCK_BUCKETS}, "clock_by_outcome": clock_by_outcome,
            "totals": totals, "latest_period": latest_period,
            "rule_counts": Counter((q["rule_id"], q["message"].split("：")[0]) for q in queue).most_common(8)}


def _charts(data: dict[str, Any], t: dict[str, str]) -> dict[str, Any]:
    periods = sorted({r.period for r in data["rows"]})[-20:]
    by = {(r.period, r.kind): r for r in data["rows"]}

    def total(period: str, column: str) -> int:
        return sum(r.counts[column] for (p, _), r in by.items() if p == period)

    trend = charts.line_chart(
        [p[5:] if len(p) == 10 else p for p in periods],
        [charts.Series(t[c], [total(p, c) for p in periods], COLOURS[c]) for c in ("extracted", "uploaded", "accepted",
                                                                                 "quarantined", "awaiting_review")],
        t["chart_trend"])
    buckets = [t[f"clock_{b}"] for b in CLOCK_BUCKETS]
    clock = charts.bar_chart(buckets, [
        charts.Series(t[o], [data["clock_by_outcome"][o].get(b, 0) for b in CLOCK_BUCKETS], COLOURS[o])
        for o in ("quarantined", "awaiting_review")], t["chart_clock"], stacked=True, width=560)
    kinds = [k for k in KINDS if any(r.kind == k for r in data["rows"])]
    latest = data["latest_period"]
    kind_chart = charts.bar_chart([KIND_LABELS[k] if t["lang"] == "zh" else k for k in kinds], [
        charts.Series(t[c], [by[(latest, k)].counts[c] if (latest, k) in by else 0 for k in kinds], COLOURS[c])
        for c in ("uploaded", "quarantined", "awaiting_review")], t["chart_kinds"], width=560) if kinds else None
    return {"trend": trend, "clock": clock, "kinds": kind_chart}


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, kind: str = "", period: str = "day", lang: str = "",
              user: Any = Depends(auth.current_user), today: dt.date = Depends(clock.today)) -> HTMLResponse:
    if kind and kind not in KIND_LABELS:
        raise HTTPException(404, f"未知的类别：{kind}")
    if period not in PERIODS:
        raise HTTPException(404, f"未知的期间：{period}")
    language = language_of(lang, request.headers.get("accept-language", ""))
    t = labels_for(language)
    data = dashboard_data(kind or None, period, today)
    files = {area: listed_files(area) for area in FILE_AREAS}
    response = render(request, "dashboard.html", t["title"], "dashboard", user, t=t, lang=language,
                      kind=kind, period=period, periods=PERIODS, columns=COLUMNS, today=today.isoformat(),
                      buckets=CLOCK_BUCKETS, files=files, charts=_charts(data, t), **data)
    response.headers["Content-Security-Policy"] = DASHBOARD_CSP
    return response


@router.get("/dashboard/files/{area}/{path:path}")
def dashboard_file(request: Request, area: str, path: str, user: Any = Depends(auth.current_user)) -> Response:
    """A report, plan or notice, as an attachment (text files masked like every page)."""
    if area not in FILE_AREAS:
        raise HTTPException(404, "未找到")
    store = _storage(area)
    try:  # a key that leaves the area (``..``, absolute, a symlink out of a local folder) is refused here
        if not _shown(path) or not store.isfile(path):
            raise HTTPException(404, "未找到该文件")
        body = store.read_bytes(path)
    except (ValueError, FileNotFoundError):
        raise HTTPException(404, "未找到该文件") from None
    except OSError:
        log.warning("could not read %s from %s", mask_text(path), store.url, exc_info=True)
        raise HTTPException(503, "文件存储暂时无法访问，请稍后重试") from None
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in TEXT_TYPES:
        body = mask_text(body.decode("utf-8", errors="replace")).encode("utf-8")
    name = quote(posixpath.basename(path))
    return Response(body, media_type=FILE_TYPES[suffix], headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}", "X-Content-Type-Options": "nosniff"})
