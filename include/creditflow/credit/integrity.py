"""诚信审核: may this party proceed (licensing, procurement, bidding)?

Per party code (USCC or resident ID): on the 严重失信名单 or not (since, until, grounds), penalties still
under publicity, repair status, and a verdict ``pass`` / ``fail`` with reasons in Chinese, by the
purpose's policy (``data/credit/integrity.yaml``). An invalid code is an answer for that party, never an
exception. Every check is logged (``cf_credit_check_log``: who, when, what, the answer) with ID numbers
masked; answers never carry an unmasked ID number either, nor a natural person's full name (``mask_name``).
A natural person's rows are found through the blind index of the ID number asked about
(``creditflow.core.pii.lookup_keys``: the code as typed and its blind index; #19 §3), never a clear value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import sqlalchemy as sa

from creditflow.common import mask_id, mask_text
from creditflow.core import identifiers as ids
from creditflow.core import pii
from creditflow.core import warehouse as wh
from creditflow.core.workdays import official_calendar
from creditflow.credit import penalties, rules
from creditflow.credit.lifecycle import ACTIVE, STATES_ZH
from creditflow.credit.store import shown_name

C, P, R = wh.credit_case, wh.credit_penalty, wh.credit_request
CODE_COLUMNS = ("code", "代码", "统一社会信用代码", "身份证号", "身份证号码", "证件号码")
NAME_COLUMNS = ("name", "名称", "单位名称", "姓名", "投标人")


def identify(raw: Any) -> tuple[str, str | None, str | None]:
    """(normalised code, ``uscc`` | ``ric`` | None, Chinese error or None)."""
    code = ids.compact_uscc(raw)
    if not code:
        return code, None, "代码为空"
    if len(code) == 18 and code[:17].isdigit() and not ids.validate_ric(code):
        return code, "ric", None
    problems = ids.validate_uscc(code)
    if not problems:
        return code, "uscc", None
    if code[:17].isdigit() and len(code) in (15, 18):
        return code, None, "居民身份证号码无效（" + "；".join(mask_text(p) for p in ids.validate_ric(code)) + "）"
    return code, None, "统一社会信用代码无效（" + "；".join(mask_text(p) for p in problems) + "）"


def shown(code: str, kind: str | None) -> str:
    """The code as an answer or a log may show it: organisations in full, anything else masked."""
    return code if kind == "uscc" else mask_id(code)


def _repair_state(pen: dict[str, Any], pending: set[str], as_of: dt.date) -> str:
    if pen["penalty_id"] in pending:
        return "信用修复申请办理中"
    if not pen["repairable"] or not pen["earliest_repair"]:
        return "不适用信用修复，期满自动停止公示"
    if pen["earliest_repair"] <= as_of.isoformat():
        return "已满最短公示期，可申请信用修复"
    return f"{pen['earliest_repair']}起可申请信用修复"


# Two look-ups per party, by index (``ix_credit_case_party``, ``ix_credit_penalty_party``, and
# ``ix_credit_request_subject`` for the pending-request flag), built once: this is the hot path of the endpoint.
_CASES = sa.select(C.c.case_id, C.c.situation_id, C.c.party_type, C.c.party_name, C.c.state, C.c.list_start,
                   C.c.list_end).where(C.c.party_key.in_(sa.bindparam("keys", expanding=True)))
_PENALTIES = sa.select(
    P.c.penalty_id, P.c.party_type, P.c.party_name, P.c.doc_no, P.c.decision_date, P.c.categories, P.c.fine_yuan,
    P.c.penalty_class,
    P.c.regime_id, P.c.published, P.c.repairable, P.c.publicity_min_until, P.c.publicity_max_until,
    P.c.earliest_repair, P.c.status,
    sa.exists().where(R.c.subject_id == P.c.penalty_id, R.c.status == "received").label("pending"),
).where(P.c.party_key.in_(sa.bindparam("keys", expanding=True)), P.c.decision_date <= sa.bindparam("day"))


def answer_for(conn: sa.Connection, code: str, kind: str, purpose_key: str, as_of: dt.date,
               calendar: Any = None) -> dict[str, Any]:
    """One party's answer. ``calendar``: the official calendar of this request (:func:`check` takes it once)."""
    day = as_of.isoformat()
    _, spec = rules.purpose(purpose_key)
    keys = list(pii.lookup_keys(code))  # an organisation's code as it is, a person's ID number as its blind index
    cases = [dict(r) for r in conn.execute(_CASES, {"keys": keys}).mappings()]
    # the stored dates may be provisional: those under publicity are read as the official calendar now gives them
    pens = [penalties.current_dates(dict(r), calendar) if r["status"] == "publicising" and r["published"]
            else dict(r) for r in conn.execute(_PENALTIES, {"keys": keys, "day": day}).mappings()]
    current = [c for c in cases if c["state"] in ACTIVE and c["list_start"] <= day <= c["list_end"]]
    under = [p for p in pens if p["status"] == "publicising" and p["published"] and p["publicity_max_until"] >= day]
    pending = {p["penalty_id"] for p in under if p["pending"]}
    named = next((x for x in [*current, *pens, *cases] if x.get("party_name")), None)
    name = shown_name(named["party_type"], named["party_name"]) if named else None  # a person's name masked
    reasons: list[str] = []
    fail = False
    listed: dict[str, Any] = {"on_list": bool(current)}
    if current:
        c = max(current, key=lambda x: x["list_start"])
        sit = rules.situation(c["situation_id"])
        listed.update(since=c["list_start"], until=c["list_end"], grounds=sit.label, state=STATES_ZH[c["state"]])
        msg = f"列入安全生产严重失信主体名单（{c['list_start']}至{c['list_end']}，{sit.article}“{sit.title_zh}”）"
        if "listed" in spec["fail_on"]:
            fail = True
            reasons.append(msg)
        else:
            reasons.append(msg + "（本事项不以此为否决条件）")
    major = []
    if "major_violation" in spec["fail_on"]:
        for p in pens:
            if p["status"] in ("revoked", "repaired"):
                continue
            fine = float(p["fine_yuan"]) if p["fine_yuan"] is not None else None
            decided = dt.date.fromisoformat(p["decision_date"])
            try:
                verdict = rules.major_violation(decided, p["categories"].split(";"), fine)
            except (ValueError, rules.NoRuleInForce):
                verdict = None
            if verdict is False:
                continue
            try:
                until: dt.date | None = rules.major_violation_until(decided)
            except rules.NoRuleInForce:
                until = None
            text = (f"{p['decision_date']}《行政处罚决定书》（{p['doc_no']}），{p['categories']}"
                    + (f"，罚款{fine:,.0f}元" if fine else ""))
            if verdict is None:
                if until is not None and until >= as_of:
                    reasons.append(f"须人工核实是否属于重大违法记录：{text}（作出处罚时“较大数额罚款”无全国统一标准）")
                continue
            if until is not None and until >= as_of:
                major.append(p)
                reasons.append(f"重大违法记录：{text}（认定至{until}）")
        fail = fail or bool(major)
    publicity = [{"doc_no": p["doc_no"], "decision_date": p["decision_date"], "categories": p["categories"],
                  "class": p["penalty_class"], "regime": p["regime_id"], "publicity_until": p["publicity_max_until"],
                  "repair": _repair_state(p, pending, as_of)} for p in under]
    if under and not fail:
        reasons.append(f"有{len(under)}条行政处罚信息在公示期内，不影响本事项")
    removed = [c for c in cases if c["state"] == "removed"]
    repair = {"repaired_penalties": sum(p["status"] == "repaired" for p in pens), "early_removed": bool(removed),
              "pending_requests": len(pending)}
    if not reasons:
        reasons.append("未发现严重失信名单记录和重大违法记录")
    return {"code": shown(code, kind), "code_type": kind, "valid": True, "party_name": name,
            "purpose": purpose_key, "purpose_zh": spec["title_zh"], "as_of": day, "listed": listed,
            "penalties_under_publicity": publicity, "repair": repair, "verdict": "fail" if fail else "pass",
            "reasons": reasons}


# Every resident ID number that mask_text finds holds 15 digits in a row or the 6-8 grouping (full-width digits
# are digits to ``\d`` as well): a text without either has nothing to mask, and mask_text — which folds the
# whole text first, about 1 ms for one answer — is skipped for it.


def _masked_values(value: Any) -> Any:
    """A JSON-able value with every string (and any number long enough to be one) masked: the same text as
    ``mask_text(json.dumps(value))`` — JSON's quotes, commas and colons keep one value's digits from running into
    the next — but masking a few short strings instead of folding the whole document."""
    if isinstance(value, str):  # every ID form is at least 15 characters: shorter strings (dates, keys) pass
        return mask_text(value) if len(value) >= 15 else value
    if isinstance(value, dict):
        return {(mask_text(k) if len(k) >= 15 else k) if isinstance(k, str) else mask_text(str(k)):
                _masked_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked_values(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**14:
        return mask_text(value)
    return value


def _log_row(ans: dict[str, Any], *, asked_by: str, channel: str, purpose: str) -> dict[str, Any]:
    """The audit row of one answer: who asked, when, through which channel, what (masked), the answer (masked).

    The answer is serialised once and masked value by value only if the whole document could hold an ID number
    (``_MAYBE_ID``): every ID form holds 15 digits in a row or 6 digits, a separator and 8 digits, and JSON keeps
    a value's digits, spaces and hyphens as they are (``ensure_ascii=False``) — a value that could hold one makes
    the document match. Most answers (no personal code, no long digit runs) skip the ≈ 80 ``mask_text`` calls."""
    from creditflow.common import _MAYBE_ID

    doc = json.dumps(ans, ensure_ascii=False)
    if _MAYBE_ID.search(doc):
        doc = json.dumps(_masked_values(ans), ensure_ascii=False)
    return {"at": wh.now_iso(), "asked_by": asked_by, "channel": channel, "purpose": purpose,
            "query": ans["code"][:80], "valid": ans["valid"], "verdict": ans["verdict"], "answer": doc}


_LOG_INSERT = wh.credit_check_log.insert()


def check(engine: sa.Engine | sa.Connection, codes: list[Any], *, asked_by: str, channel: str,
          purpose: str | None = None, as_of: dt.date | None = None,
          audit: AuditWriter | None = None) -> list[dict[str, Any]]:
    """Answer for each code, in order, and log every answer; ValueError for an unknown purpose.

    Without ``audit`` the log rows are written in the same transaction as the reads (the CLI, the pages);
    with one (the HTTP endpoint) they are handed to that :class:`AuditWriter`, which writes them in batches —
    and ``engine`` may then be a connection the caller already holds (the endpoint's autocommit reader, which
    has just looked up the machine client on it: one pool check-out per request)."""
    import contextlib

    from creditflow.common import TZ

    try:
        purpose_key, _ = rules.purpose(purpose)
    except ValueError:  # the caller (a page, the API, the CLI) shows it as it is: in Chinese, with the choices
        known = rules.integrity_policy()["purposes"]
        raise ValueError(f"未知的用途“{purpose}”，应为以下之一：" + "、".join(
            f"{key}（{spec['title_zh']}）" for key, spec in known.items())) from None
    day = as_of or dt.datetime.now(TZ).date()
    calendar = official_calendar()  # once per request (a changed calendar file is seen by the next one)
    out = []
    rows = []
    held = isinstance(engine, sa.Connection)
    opened: contextlib.AbstractContextManager[sa.Connection]
    if isinstance(engine, sa.Connection):
        if audit is None:
            raise TypeError("integrity.check on a held connection needs an AuditWriter")
        opened = contextlib.nullcontext(engine)
    else:
        opened = engine.connect() if audit is not None else engine.begin()
    with opened as conn:
        for raw in codes:
            code, kind, error = identify(raw)
            if error or kind is None:
                masked = mask_id(code) if code[:17].isdigit() or len(code) in (15, 18) else mask_text(code)
                ans: dict[str, Any] = {"code": masked, "valid": False, "error": error, "verdict": None,
                                       "purpose": purpose_key}
            else:
                ans = answer_for(conn, code, kind, purpose_key, day, calendar)
            out.append(ans)
            rows.append(_log_row(ans, asked_by=asked_by, channel=channel, purpose=purpose_key))
        if audit is None and rows:
            conn.execute(_LOG_INSERT, rows)
        elif not held:
            conn.rollback()  # read-only: end the transaction before the connection goes back to the pool
    if audit is not None:
        audit.add(rows)
    return out


class AuditWriter:
    """The audit log of a busy endpoint, written in batches: :meth:`add` queues the rows of a check (no database
    work on the request's path); a background thread inserts what has queued every ``interval`` seconds (or as
    soon as ``batch`` rows wait) in one transaction; :meth:`close` — at a normal shutdown — writes the rest.

    A failed write is retried at the next interval (rows are kept, oldest first, and an error is logged); rows
    are lost only if the process dies without a normal shutdown (at most ``interval`` seconds' worth) or the
    database stays unreachable through :meth:`close`."""

    def __init__(self, engine: sa.Engine, *, interval: float = 0.2, batch: int = 500):
        import threading

        self.engine, self.interval, self.batch = engine, interval, batch
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="creditflow-audit", daemon=True)
        self._thread.start()

    def add(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            if self._closed:  # after close (interpreter exit): write directly, never drop
                self._write(rows)
                return
            self._rows.extend(rows)
            if len(self._rows) >= self.batch:
                self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._rows = self._rows, []
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(_LOG_INSERT, rows)
        self.written += len(rows)

    def flush(self) -> bool:
        """Write what has queued now; False (rows kept for the next try) if the database refused."""
        import logging

        rows = self._take()
        if not rows:
            return True
        try:
            self._write(rows)
        except Exception:  # the database is away: keep the rows and try again
            logging.getLogger(__name__).exception("诚信审核日志写入失败，%d 条记录待重试", len(rows))
            with self._lock:
                self._rows[:0] = rows
            return False
        return True

    def _run(self) -> None:
        failures = 0
        while not self._closed:
            self._wake.wait(min(self.interval * 2 ** failures, 10.0))  # back off while the database is away
            self._wake.clear()
            if not self._closed:
                failures = 0 if self.flush() else min(failures + 1, 6)

    def close(self, attempts: int = 3) -> None:
        """Stop the thread and write every queued row (a few attempts if the database refuses)."""
        import time

        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        for i in range(attempts):
            if self.flush():
                break
            time.sleep(0.5 * (i + 1))
        with self._lock:
            left = len(self._rows)
        if left:
            import logging

            logging.getLogger(__name__).error("诚信审核日志有 %d 条未能写入数据库", left)


# --- batch: a bidders' list ------------------------------------------------------------------------------


def read_parties_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, with or without BOM; GBK accepted) with a code column and an optional name."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gbk")
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip() for f in reader.fieldnames or []]
    code_col = next((f for f in fields if f.lower() in CODE_COLUMNS or f in CODE_COLUMNS), None)
    if code_col is None:
        raise ValueError("CSV 缺少代码列（code / 统一社会信用代码 / 身份证号）")
    name_col = next((f for f in fields if f.lower() in NAME_COLUMNS or f in NAME_COLUMNS), None)
    rows = []
    for raw in reader:
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        rows.append({"code": row.get(code_col, ""), "name": row.get(name_col, "") if name_col else ""})
    return rows


def to_xlsx(rows: list[dict[str, str]], answers: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    from creditflow.feedback.xlsx import as_text

    wb = Workbook()
    ws = wb.active
    ws.title = "诚信审核结果"
    head = ["序号", "名称", "代码", "结论", "严重失信名单", "列入期限", "公示中的行政处罚", "说明"]
    ws.append(head)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    red = PatternFill("solid", fgColor="FFE5E5")
    for i, (row, ans) in enumerate(zip(rows, answers, strict=True), 1):
        if not ans["valid"]:
            values = [i, row["name"], ans["code"], "代码无效", "", "", "", ans["error"]]
        else:
            listed = ans["listed"]
            values = [i, row["name"] or ans.get("party_name") or "", ans["code"],
                      "通过" if ans["verdict"] == "pass" else "不通过", "是" if listed["on_list"] else "否",
                      f"{listed['since']}至{listed['until']}" if listed["on_list"] else "",
                      "；".join(f"{p['doc_no']}（至{p['publicity_until']}，{p['repair']}）"
                               for p in ans["penalties_under_publicity"]),
                      "；".join(ans["reasons"])]
        ws.append([mask_text(v) if isinstance(v, str) else v for v in values])
        for cell in ws[ws.max_row]:  # a name "=HYPERLINK(…)" from the uploaded CSV stays text, never a formula
            as_text(cell)
        if ans.get("verdict") != "pass":
            for cell in ws[ws.max_row]:
                cell.fill = red
    for col, width in zip("ABCDEFGH", (6, 30, 22, 10, 12, 24, 40, 60), strict=True):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
