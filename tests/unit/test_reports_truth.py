"""The monthly report says what is true (issue #16.5): small warehouses written row by row, as the daily
runs leave them, each with the answer worked out by hand from the definition it tests
(``data/reports/definitions.yaml``, quoted next to each case).

The runs: the run of local day D (``sgs_<kind>|D``) starts D+1 06:00 and writes its reconciliation then;
a record it sends goes out on D+1 (the publication day: "公开日期为完成上报的日常运行之日（数据区间次日）").
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from creditflow.common import TZ
from creditflow.core import warehouse as wh
from creditflow.feedback import build, periods
from creditflow.feedback.periods import month

NOV = "2026-11"
CUT = dt.datetime(2026, 12, 10, tzinfo=TZ)  # the rule's: end of 9 December


def _utc(day: dt.date, hour: int = 6, minute: int = 30) -> str:
    return dt.datetime.combine(day, dt.time(hour, minute), TZ).astimezone(dt.UTC).isoformat(timespec="seconds")


class Warehouse:
    """What daily runs leave behind, one call per fact."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def run(self, day: str, kind: str = "penalty", files: list[dict] | None = None) -> str:
        d = dt.date.fromisoformat(day)
        key = f"sgs_{kind}|{day}"
        with self.engine.begin() as conn:
            conn.execute(wh.run_summary.insert().values(
                run_key=key, kind=kind, dag_id=f"sgs_{kind}", interval_start=f"{day}T00:00:00+08:00",
                interval_end=f"{d + dt.timedelta(days=1)}T00:00:00+08:00", extracted=0, uploaded=0, quarantined=0,
                awaiting_review=0, unchanged=0, duplicates=0, late=0, due_soon=0, rejected_files=0, reconciled=True,
                written_at=_utc(d + dt.timedelta(days=1), 7)))
            for f in files or []:
                conn.execute(wh.source_files.insert().values(run_key=f"{key}|{kind}", **f))
        return key

    def record(self, day: str, rid: str, outcome: str, decision: str, due: str, nk: str, *, kind: str = "penalty",
               op: str | None = None, errors: tuple[str, ...] = (), review_reason: str | None = None,
               detail: str | None = None, duplicate_of: str | None = None, lineage: str = "") -> None:
        key = self.run_key(day, kind)
        source = rid.split(":", 1)[0]
        payload = {"CF_JDRQ": decision, "CF_XDR_LB": "法人及非法人组织", "CF_CFLB": "罚款", "CF_NR_FK": "1"}
        with self.engine.begin() as conn:
            conn.execute(wh.staging.insert().values(
                run_key=key, record_id=rid, kind=kind, source_system=source, source_key=rid.split(":", 1)[1],
                lineage=lineage, interval_start=f"{day}T00:00:00+08:00", extracted_at=_utc(dt.date.fromisoformat(day)),
                raw_payload="{}"))
            conn.execute(wh.standardised.insert().values(
                run_key=key, record_id=rid, kind=kind, source_system=source, natural_key=nk, decision_date=decision,
                due_date=due, source_revoked=False, content_hash="h", body_hash="b", payload=json.dumps(payload)))
            conn.execute(wh.outcomes.insert().values(
                run_key=key, record_id=rid, kind=kind, outcome=outcome, op=op, natural_key=nk,
                duplicate_of=duplicate_of, review_reason=review_reason, detail=detail, due_date=due))
            for rule in errors:
                conn.execute(wh.findings.insert().values(run_key=key, record_id=rid, kind=kind, field="CF_SY",
                                                         rule_id=rule, severity="error", message_zh="缺少处罚事由"))

    def sent_and_accepted(self, day: str, nk: str, rid: str, kind: str = "penalty") -> None:
        """The run of ``day`` sends the 新增 and the platform accepts it that morning (publication day: day + 1)."""
        out = dt.date.fromisoformat(day) + dt.timedelta(days=1)
        with self.engine.begin() as conn:
            for state, minute in (("sent", 30), ("accepted", 40)):
                conn.execute(wh.ledger_history.insert().values(
                    kind=kind, natural_key=nk, record_id=rid, op="create", state=state, content_hash="h",
                    run_key=self.run_key(day, kind), at=_utc(out, 6, minute)))

    @staticmethod
    def run_key(day: str, kind: str = "penalty") -> str:
        return f"sgs_{kind}|{day}"


@pytest.fixture
def w(db_url, monkeypatch):
    # These worlds are read after November's rule cut-off (end of 9 December) has passed: a cut-off still ahead
    # of the clock is clamped to the present (periods.resolve_cut_off). Tests that need another "now" set it.
    monkeypatch.setattr(periods, "now", lambda: dt.datetime(2026, 12, 20, 9, 0, tzinfo=TZ))
    wh.upgrade(db_url)
    engine = wh.engine_from_url(db_url)
    yield Warehouse(engine)
    engine.dispose()


def _november(w: Warehouse, cut: dt.datetime = CUT) -> dict:
    return build.compute(w.engine, "monthly", NOV, cut)


def test_first_check_judges_the_first_extraction(w):
    """首次校验通过率: "统计期内抽取的记录（含重复报送的副本）中，首次抽取时即通过本局数据质量校验（无“错误”级问题）
    的比例". A: clean. B: quarantined on 2 Nov by a rule (REQUIRED), C: quarantined on 2 Nov by the pipeline's
    own check (no 文书号 → NO_NATURAL_KEY, no finding); both fixed at the source, pass on 4 Nov and are published.
    By hand: 3 records extracted, B and C failed their first check → 1 / 3 = 0.3333 (the latest says 3 / 3)."""
    for day in ("2026-11-02", "2026-11-03", "2026-11-04"):
        w.run(day)
    w.record("2026-11-02", "case_db:A", "uploaded", "2026-11-02", "2026-11-11", "A|x", op="create")
    w.sent_and_accepted("2026-11-02", "A|x", "case_db:A")
    w.record("2026-11-02", "case_db:B", "quarantined", "2026-11-02", "2026-11-11", "B|x", errors=("REQUIRED",),
             detail="REQUIRED")
    w.record("2026-11-02", "case_db:C", "quarantined", "2026-11-02", "2026-11-11", None, detail="NO_NATURAL_KEY")
    for rid, nk in (("case_db:B", "B|x"), ("case_db:C", "C|x")):
        w.record("2026-11-04", rid, "uploaded", "2026-11-02", "2026-11-11", nk, op="create")
        w.sent_and_accepted("2026-11-04", nk, rid)
    h = _november(w)["headline"]
    assert (h["extracted"], h["first_pass"], h["first_pass_rate"]) == (3, 1, 0.3333)
    assert (h["decisions"], h["accepted"], h["not_published"]["total"]) == (3, 3, 0)


def test_a_decision_due_on_the_cut_off_day_and_unpublished_is_late(w):
    """及时率: "逾期数 = 超过期限才公开的决定 + 截止时点仍未公开且已过期限的决定；截止时点未公开且未到期的决定不计入
    分母". Decided Mon 30 Nov: 7 working days, the decision day not counted (1, 2, 3, 4, 7, 8, 9 Dec) → due Wed
    9 Dec. Quarantined, never published. Cut-off at the end of 9 December (the rule's): its deadline is over,
    it is late by 0 working days → 0 / (0 + 1) = 0.0. At a cut-off inside 9 December (08:00) it could still be
    published that day: not yet due, outside the denominator (rate None)."""
    w.run("2026-11-30")
    w.record("2026-11-30", "case_db:L", "quarantined", "2026-11-30", "2026-12-09", "L|x", errors=("REQUIRED",),
             detail="REQUIRED")
    report = _november(w)
    h = report["headline"]
    assert (h["timely"], h["late"], h["timely_rate"], h["not_yet_due"]) == (0, 1, 0.0, 0)
    assert [(r["公开期限"], r["公开日期"], r["逾期工作日"]) for r in report["late"]] == [("2026-12-09", "截止时点未公开", 0)]
    h = _november(w, dt.datetime(2026, 12, 9, 8, tzinfo=TZ))["headline"]
    assert (h["timely"], h["late"], h["timely_rate"], h["not_yet_due"]) == (0, 0, None, 1)


def test_a_district_copy_waiting_in_review_counts_once_with_its_decision(w):
    """产生数量: decisions "不含重复副本"; 拦截的重复报送 includes "待审核的疑似重复（随原决定计）". On 2 Nov the case
    system's original O waits for review (a natural person) and a district file's copy X (文号 mistyped) waits as
    its suspected near duplicate; on 3 Nov O is approved and published (publication day 4 Nov), X still waits.
    By hand: 1 decision, published on time (due 11 Nov), nothing unpublished, nothing late; 2 records extracted,
    1 suspected copy."""
    for day in ("2026-11-02", "2026-11-03"):
        w.run(day)
    copy = "district_file:440402:X"
    for day in ("2026-11-02", "2026-11-03"):
        w.record(day, copy, "awaiting_review", "2026-11-02", "2026-11-11", "X|p", op="create",
                 review_reason="near_duplicate", detail="疑似重复：case_db:O",
                 lineage="440402_香洲区_20261102_0001.csv#row2")
    w.record("2026-11-02", "case_db:O", "awaiting_review", "2026-11-02", "2026-11-11", "O|p", op="create",
             review_reason="natural_person")
    w.record("2026-11-03", "case_db:O", "uploaded", "2026-11-02", "2026-11-11", "O|p", op="create",
             review_reason="natural_person")
    w.sent_and_accepted("2026-11-03", "O|p", "case_db:O")
    report = _november(w)
    h = report["headline"]
    assert (h["decisions"], h["accepted"], h["timely"], h["late"], h["not_published"]["total"]) == (1, 1, 1, 0, 0)
    assert (h["extracted"], h["duplicates"]["near_pending"]) == (2, 1)
    assert report["review"] == [] and report["late"] == []


def test_an_unreadable_district_file_is_not_published_with_its_reason(w):
    """未报送: decisions of the period not received by the platform, by reason — a district file that could not
    be read holds decisions nobody can count: listed with its district, 承办科室 and reason. The 香洲区 file of
    5 Nov is rejected; the 金湾区 file rejected on 6 Nov was sent again readable and taken on 7 Nov (its
    decisions are records now). By hand: 1 unreadable file, of 香洲区."""
    reason = "文件无法读取：不是有效的 Excel 或 CSV 文件"
    w.run("2026-11-05", files=[{"file_name": "440402_香洲区_20261105_0007.xlsx", "status": "rejected", "rows": 0,
                                "reason": reason}])
    w.run("2026-11-06", files=[{"file_name": "440404_金湾区_20261106_0008.csv", "status": "rejected", "rows": 0,
                                "reason": reason}])
    w.run("2026-11-07", files=[{"file_name": "440404_金湾区_20261106_0008.csv", "status": "ingested", "rows": 3}])
    report = _november(w)
    assert report["headline"]["unreadable_files"] == 1
    assert report["unreadable"] == [{"类别": "行政处罚", "区县": "香洲区", "承办科室": "区县应急管理局（香洲区）",
                                     "文件": "440402_香洲区_20261105_0007.xlsx", "接收日期": "2026-11-05",
                                     "未报送原因": f"区县报送文件无法读取：{reason}", "所含决定数": "不详（文件无法读取）"}]
    table = {r["承办科室"]: r for r in report["department_table"]}
    assert "区县报送文件无法读取1个（所含决定数不详）" in table["区县应急管理局（香洲区）"]["未报送原因"]
    assert "区县报送文件无法读取1个" in table["合计"]["未报送原因"]


def test_without_a_cut_off_the_earlier_of_the_rule_and_now(w, monkeypatch, tmp_path, capsys):
    """"截止时点为次月9日24时" — unless that is still ahead: then the figures are as of now, and the CLI says so."""
    import argparse

    from creditflow.feedback import cli

    monkeypatch.setattr(periods, "now", lambda: dt.datetime(2026, 12, 6, 15, 35, tzinfo=TZ))
    assert periods.resolve_cut_off(None, month("2026-11")) == (dt.datetime(2026, 12, 6, 15, 35, tzinfo=TZ), "now")
    assert periods.resolve_cut_off(None, month("2026-10")) == (dt.datetime(2026, 11, 10, tzinfo=TZ), "rule")
    parser = argparse.ArgumentParser(prog="creditflow")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", "monthly", "--period", NOV, "--out", str(tmp_path), "--db",
                              w.engine.url.render_as_string(hide_password=False)])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cut_off"] == "2026-12-06T15:35:00+08:00"
    assert printed["cut_off_basis"] == "规则截止时点尚未到，按生成报告的时刻"


def test_a_future_explicit_cut_off_is_clamped_to_now(w, monkeypatch, tmp_path, capsys):
    """The 说明 sheet says regenerating with the same cut-off gives the same data ("任何时候以相同统计期和截止时点
    重新生成，数据完全相同") — false for a cut-off not yet reached, where runs still to come would add records.
    A future --cut-off is treated like the default: the present moment, and the CLI says which basis it used."""
    import argparse

    from creditflow.feedback import cli

    monkeypatch.setattr(periods, "now", lambda: dt.datetime(2026, 12, 6, 15, 35, tzinfo=TZ))
    clamped = (dt.datetime(2026, 12, 6, 15, 35, tzinfo=TZ), "clamped")
    assert periods.resolve_cut_off("2026-12-09", month("2026-11")) == clamped  # 12-10 00:00 not yet reached
    assert periods.resolve_cut_off("2026-12-06", month("2026-11")) == clamped  # today's end is ahead too
    assert periods.resolve_cut_off("2026-12-05", month("2026-11")) == (dt.datetime(2026, 12, 6, tzinfo=TZ), "given")
    parser = argparse.ArgumentParser(prog="creditflow")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", "monthly", "--period", NOV, "--cut-off", "2026-12-09", "--out",
                              str(tmp_path), "--db", w.engine.url.render_as_string(hide_password=False)])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["cut_off"] == "2026-12-06T15:35:00+08:00"
    assert printed["cut_off_basis"] == "指定的截止时点尚未到，按生成报告的时刻"


def _case(conn, case_id: str, party_type: str, state: str) -> None:
    conn.execute(wh.credit_case.insert().values(
        case_id=case_id, situation_id="S1", party_key=case_id, party_type=party_type, party_name="某公司", facts="f",
        basis="b", authority_name="珠海市应急管理局", authority_uscc="11440400MB2C123457", state=state,
        created_on="2026-01-01", updated_at="x"))


def _penalty(conn, pid: str, decided: str) -> None:
    conn.execute(wh.credit_penalty.insert().values(
        penalty_id=pid, party_key=pid, party_type="法人及非法人组织", party_name="某公司", doc_no=pid,
        decision_date=decided, categories="罚款", regime_id="r", penalty_class="c", published=True, repairable=True,
        publicity_max_until="2029-01-01", status="publicising", updated_at="x"))


def _event(conn, subject: str, action: str, on: str, frm: str | None = None, to: str | None = None,
           at: str | None = None) -> None:
    conn.execute(wh.credit_event.insert().values(subject_id=subject, action=action, from_state=frm, to_state=to,
                                                 actor="u", on_date=on, at=at or _utc(dt.date.fromisoformat(on), 10)))


def test_credit_sections_show_the_warehouse_cases(w):
    """严重失信名单 (部令第11号): K1 listed 5 Nov and published 6 Nov; K2 listed in October, removed early on 20 Nov;
    K3's listing dated 25 Nov was recorded on 12 Dec, after the cut-off. By hand: 列入 1, 移出 1 (提前 1), on the list
    at the end of November 1 (K1). 两书同达 (data/credit/periods.yaml repair_notice_delivery: 2 working days from the
    decision): P1 decided Mon 2 Nov, delivered Wed 4 Nov (in time); P2 decided Tue 3 Nov, delivered 10 Nov (not);
    P3 (2025) repair requested 15 Nov, approved 20 Nov. By hand: 2 notices, 1 together, 0.5, 1 request, 1 repaired."""
    with w.engine.begin() as conn:
        _case(conn, "K1", "法人及非法人组织", "published")
        _case(conn, "K2", "法人及非法人组织", "removed")
        _case(conn, "K3", "个体工商户", "listed")
        _event(conn, "K1", "decide_listing", "2026-11-05", "notice_delivered", "listed")
        _event(conn, "K1", "published", "2026-11-06", "listed", "published")
        _event(conn, "K2", "decide_listing", "2026-10-12", "notice_delivered", "listed")
        _event(conn, "K2", "early_removal_approved", "2026-11-20", "listed", "removed")
        _event(conn, "K3", "decide_listing", "2026-11-25", "notice_delivered", "listed",
               at=_utc(dt.date(2026, 12, 12), 10))
        for pid, decided, delivered in (("P1", "2026-11-02", "2026-11-04"), ("P2", "2026-11-03", "2026-11-10")):
            _penalty(conn, pid, decided)
            _event(conn, pid, "tracked", decided, None, "publicising")
            _event(conn, pid, "repair_notice_issued", decided)
            _event(conn, pid, "repair_notice_delivered", delivered)
        _penalty(conn, "P3", "2025-03-03")
        _event(conn, "P3", "repair_requested", "2026-11-15")
        _event(conn, "P3", "repair_approved", "2026-11-20", "publicising", "repaired")
    got = {s["id"]: s for s in _november(w)["sections"]}
    assert got["dishonesty_list"]["note"] and "两书同达" in got["credit_repair"]["note"]
    assert got["dishonesty_list"]["rows"][-1] == {"类别": "合计", "列入数量": 1, "移出数量": 1, "其中提前移出": 1,
                                                 "期末名单数量": 1}
    assert got["credit_repair"]["rows"][-1] == {"类别": "合计", "应送达修复告知书数": 2, "与决定书同时送达数": 1,
                                               "两书同达率": 0.5, "受理修复申请数": 1, "完成修复数": 1}


def test_notes_sheet_is_chinese_and_cites_official_documents(w):
    """#18.4: the 说明 sheet 市信用办 reads is in Chinese and cites official documents, not news or blog
    addresses; where only a secondary source was found it says so, in Chinese."""
    import re

    from creditflow.feedback.xlsx import notes_rows

    rows = notes_rows(_november(w))
    for row in rows:
        for text in row.values():
            assert not re.search(r"[A-Za-z]{2,}|://|\.ya?ml|\[[SM]\]", str(text)), text
    sources = {r["项目"]: r["来源"] for r in rows}
    assert "国办发〔2015〕51号" in sources["及时率"] and "二次来源" in sources["及时率"]
    assert "二次来源" in sources["免于公示：第36号令轻微失信信息（如简易程序罚款、警告），原则上不予公示"]
    assert "按规则的截止时点" in next(r["定义"] for r in rows if r["项目"] == "数据截止与可复核")
