"""Feedback reports end to end: a generated November, run day by day through the pipeline, reported as of
the cut-off; every headline figure against the manifest's truth (and the case system for 承办科室),
the files opened and looked into, the e-mail read back from a local SMTP sink, and the report made again
after records were corrected and published past the cut-off — with identical figures.

The pipeline's clock is the simulated one (``warehouse.now_iso`` follows the days) and validation uses
the pandas engine (``test_validation`` proves it equal to the GX one), to keep this under a minute.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import re
import subprocess
from collections import Counter
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from creditflow.common import TZ, contains_unmasked_id
from creditflow.core import identifiers as ids
from creditflow.core import warehouse as wh
from creditflow.feedback import build, periods, store
from creditflow.reporting import review
from creditflow.reporting import validation as v
from creditflow_sandbox import generator as g
from creditflow_sandbox import licensing, platform
from helpers import ServedApp, World, apply_events_until, deliver_files, run_day, warehouse

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START, DAYS = dt.date(2026, 11, 16), 5
LAST = START + dt.timedelta(days=DAYS - 1)
CUT_OFF = dt.datetime(2026, 12, 10, tzinfo=TZ)  # the rule's: end of 9 December


def _at(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _rejected_enterprise(manifest: list[dict], case_db: sa.Engine) -> tuple[str, set[str]]:
    """An enterprise all of whose case-system decisions are clean (no copies elsewhere): the test gives it
    an N-prefixed code the pipeline accepts and the platform rejects (E102)."""
    by_case = {}
    for m in manifest:
        for e in m.get("events", []):
            for row in e.get("rows", {}).get("enforcement_case", []):
                by_case[row["case_id"]] = row.get("ent_id")
    with case_db.connect() as conn:
        by_case.update({c: e for c, e in conn.execute(sa.text("SELECT case_id, ent_id FROM enforcement_case"))})
        kinds = dict(conn.execute(sa.text("SELECT ent_id, ent_kind FROM enterprise")).all())
    decisions: dict[str, list[dict]] = {}
    for m in manifest:
        if m["source"] == "case_db":
            ent = by_case.get("C" + m["record_id"].split(":")[1][1:])
            if ent:
                decisions.setdefault(ent, []).append(m)
    for ent, ms in sorted(decisions.items()):
        if kinds.get(ent) == "ENT" and all(x["defect"] is None and x["decision_date"] >= "2026-11-16" for x in ms):
            return ent, {x["record_id"] for x in ms}
    raise AssertionError("no clean enterprise to reject")


@pytest.fixture(scope="module")
def world(tmp_path_factory, module_db_url):
    d = tmp_path_factory.mktemp("reports")
    cfg = g.GeneratorConfig(seed=11, decisions=120, start=START, days=DAYS, horizon=LAST, person_share=0.15)
    case_url = f"sqlite:///{d}/case.sqlite"
    g.generate_to(cfg, case_db_url=case_url, licensing_db_url=f"sqlite:///{d}/lic.sqlite", inbox=d / "drop",
                  manifest=d / "m.jsonl", apply_all_events=False)
    (d / "inbox").mkdir()
    manifest = g.read_manifest(d / "m.jsonl")
    clock = {"now": _at(dt.datetime.now(TZ))}
    with pytest.MonkeyPatch.context() as mp, \
            ServedApp(platform.create_app(db_url=f"sqlite:///{d}/pf.sqlite", processing_seconds=0.0)) as pf, \
            ServedApp(licensing.create_app(db_url=f"sqlite:///{d}/lic.sqlite")) as ls:
        mp.setattr(wh, "now_iso", lambda: clock["now"])
        # The reports are read after the cut-offs this module uses have passed (the latest: end of 20 December);
        # a cut-off still ahead of the clock would be clamped to the present (periods.resolve_cut_off).
        mp.setattr(periods, "now", lambda: dt.datetime(2026, 12, 21, 9, tzinfo=TZ))
        mp.setattr(v, "validate_gx", lambda df, kind, as_of, context=None: (v.validate_pandas(df, kind, as_of), None))
        w = World(warehouse(module_db_url), wh.engine_from_url(case_url), d / "inbox", d / "drop", pf, ls, manifest)
        w.dir, w.clock = d, clock
        ent, w.rejected = _rejected_enterprise(manifest, w.case_db)
        with w.case_db.begin() as conn:
            old = conn.execute(sa.text("SELECT uscc FROM enterprise WHERE ent_id = :e"), {"e": ent}).scalar_one()
            first17 = "N2440400" + old[8:17]
            conn.execute(sa.text("UPDATE enterprise SET uscc = :u WHERE ent_id = :e"),
                         {"u": first17 + ids.uscc_check_char(first17), "e": ent})
        truth = {m["record_id"]: m for m in manifest}

        def day_run(day: dt.date, sign_off: bool) -> None:
            run_at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), TZ)
            clock["now"] = _at(run_at)
            apply_events_until(w, run_at.replace(tzinfo=None))
            deliver_files(w, day)
            run_day(w, day)
            clock["now"] = _at(run_at + dt.timedelta(hours=2))
            for row in review.pending(w.warehouse):
                if truth.get(row["record_id"], {}).get("review_decision") == "duplicate":
                    for level in range(row["next_level"], 3):  # each required level signs "duplicate"
                        review.record_decision(w.warehouse, row["record_id"], row["content_hash"], row["op"], level,
                                               "duplicate", f"reviewer{level}", "文书号录入错误，与已报送记录重复")
            if sign_off:
                review.sign_off(w.warehouse, 1, "reviewer1")
                review.sign_off(w.warehouse, 2, "reviewer2")

        for i in range(DAYS):
            day_run(START + dt.timedelta(days=i), sign_off=i < DAYS - 1)
        day_run(LAST + dt.timedelta(days=1), sign_off=False)  # applies the last near-duplicate decisions
        w.first = build.compute(w.warehouse, "monthly", "2026-11", CUT_OFF)  # the rule's (the default once past)
        w.files = store.save(w.first, d / "reports")
        w.weekly = build.compute(w.warehouse, "weekly", "2026-W47")
        store.save(w.weekly, d / "reports")

        # After the cut-off: the waiting natural persons are approved and published (late), one decision is
        # corrected and another revoked — the platform and the ledger change, the November report must not.
        published = sorted(m["record_id"] for m in manifest if m["source"] == "case_db" and m["kind"] == "penalty"
                           and m["outcome"] == "uploaded" and not m.get("review") and m["record_id"] not in w.rejected)
        edited, revoked = published[0].split(":")[1], published[1].split(":")[1]
        with w.case_db.begin() as conn:
            at = dt.datetime(2026, 12, 14, 10)
            conn.execute(sa.text("UPDATE penalty_decision SET legal_basis = legal_basis || '（更正）', updated_at = :t "
                                 "WHERE decision_id = :k"), {"t": at, "k": edited})
            conn.execute(sa.text("UPDATE penalty_decision SET status = 'REVOKED', status_changed_at = :t, "
                                 "updated_at = :t WHERE decision_id = :k"), {"t": at, "k": revoked})
        clock["now"] = _at(dt.datetime(2026, 12, 14, 9, tzinfo=TZ))
        review.sign_off(w.warehouse, 1, "reviewer1")
        review.sign_off(w.warehouse, 2, "reviewer2")
        day_run(dt.date(2026, 12, 14), sign_off=True)
        day_run(dt.date(2026, 12, 15), sign_off=False)
        w.ops_after = world_ops(w)
        w.second = build.compute(w.warehouse, "monthly", "2026-11", CUT_OFF)
        w.files2 = store.write_files(w.second, d / "again")
        yield w


def world_ops(w: World) -> Counter:
    with w.warehouse.connect() as conn:
        return Counter((r.op, r.state) for r in conn.execute(sa.select(wh.ledger_history.c.op,
                                                                        wh.ledger_history.c.state)))


def _first_seen(m: dict) -> dt.date:
    if m.get("entered_at"):
        return dt.datetime.fromisoformat(m["entered_at"]).date()
    return dt.date.fromisoformat(m.get("file_day") or m["decision_date"])


def _truth(w: World) -> dict:
    """What the figures must be, from the manifest (and the test's own injected rejection)."""
    cohort = [m for m in w.manifest if m["decision_date"].startswith("2026-11")]
    dec = [m for m in cohort if m["outcome"] != "duplicate"]
    fixes = {m["record_id"]: max((dt.datetime.fromisoformat(e["at"]).date() for e in m["events"]), default=None)
             for m in dec if m.get("fixed_after_quarantine")}
    waiting = {m["record_id"] for m in dec if m.get("review") == "natural_person" and m["outcome"] == "uploaded"
               and max(_first_seen(m), fixes.get(m["record_id"]) or START) == LAST}
    rejected = {m["record_id"] for m in dec if m["record_id"] in w.rejected}
    published = [m for m in dec if m["outcome"] in ("uploaded", "corrected", "withdrawn")
                 and m["record_id"] not in waiting | rejected]
    quarantined = [m for m in dec if m["outcome"] == "quarantined"]
    late_published = sum(1 for m in published if m.get("late"))
    unpublished = len(dec) - len(published)  # all overdue by 9 December
    return {"cohort": cohort, "decisions": len(dec), "published": published, "submitted": len(published) + len(rejected),
            "accepted": len(published), "timely": len(published) - late_published,
            "late": late_published + unpublished, "quarantined": len(quarantined) + len(rejected),
            "awaiting": len(waiting), "rejected": len(rejected),
            "first_pass_failed": sum(1 for m in cohort if m["outcome"] == "quarantined" or m.get("fixed_after_quarantine")),
            "missing_items": sum(1 for m in quarantined if m.get("rule") == "REQUIRED"),
            "duplicates": Counter({"near_duplicate": "near_confirmed", "cross_source_duplicate": "cross_source"}[m["defect"]]
                                  for m in cohort if m["outcome"] == "duplicate")}


def test_headline_figures_match_the_manifest(world):
    t, h = _truth(world), world.first["headline"]
    assert t["late"] > t["quarantined"] > 0 and t["awaiting"] > 0 and t["rejected"] > 0  # the data was dirty
    assert (h["decisions"], h["submitted"], h["accepted"]) == (t["decisions"], t["submitted"], t["accepted"])
    assert (h["timely"], h["late"]) == (t["timely"], t["late"])
    assert h["timely_rate"] == round(t["timely"] / (t["timely"] + t["late"]), 4)
    assert h["compliance_rate"] == round(t["accepted"] / t["submitted"], 4) < 1
    assert (h["extracted"], h["extracted"] - h["first_pass"]) == (len(t["cohort"]), t["first_pass_failed"])
    assert h["not_published"] == {"quarantined": t["quarantined"], "awaiting_review": t["awaiting"], "in_flight": 0,
                                  "exempt": 0, "other": 0, "total": t["decisions"] - t["accepted"]}
    assert h["required_items"] - h["filled_items"] == t["missing_items"]
    assert Counter({k: n for k, n in h["duplicates"].items() if n}) == t["duplicates"]
    assert world.first["rejections"] == [{"平台返回代码": "E102", "平台说明": "行政相对人统一社会信用代码校验失败",
                                         "记录数": t["rejected"]}]
    summary = build.cli_summary(world.first)
    assert summary["period"] == "2026-11" and summary["cut_off"] == "2026-12-10T00:00:00+08:00"


def test_department_table_matches_the_case_system(world):
    t = _truth(world)
    with world.case_db.connect() as conn:
        dept = dict(conn.execute(sa.text(
            "SELECT 'case_db:' || d.decision_id, c.department FROM penalty_decision d JOIN enforcement_case c "
            "ON c.case_id = d.case_id UNION ALL SELECT 'case_db:' || m.measure_id, c.department FROM "
            "coercive_measure m JOIN enforcement_case c ON c.case_id = m.case_id")).all())
    expected, accepted = Counter(), Counter()
    published = {m["record_id"] for m in t["published"]}
    for m in t["cohort"]:
        if m["outcome"] == "duplicate":
            continue
        name = {"case_db": dept.get(m["record_id"]), "licensing_api": "行政审批科"}.get(
            m["source"], f"区县应急管理局（{m.get('district')}）")
        expected[name] += 1
        accepted[name] += m["record_id"] in published
    table = {r["承办科室"]: r for r in world.first["department_table"]}
    assert {k: r["产生数量"] for k, r in table.items() if k != "合计"} == dict(expected)
    assert {k: r["平台入库数量"] for k, r in table.items() if k != "合计"} == {k: accepted[k] for k in expected}
    total = table["合计"]
    assert total["产生数量"] == total["平台入库数量"] + total["未报送数量"] == t["decisions"]
    assert "问题数据" in total["未报送原因"] and "待审核" in total["未报送原因"]
    assert {r["label"] for r in world.first["by_kind"]} == {"行政处罚", "行政许可", "行政强制"}
    assert sum(r["decisions"] for r in world.first["by_district"]) == t["decisions"]


def test_figures_are_the_same_after_records_changed_past_the_cut_off(world):
    assert world.ops_after[("correct", "accepted")] >= 1 and world.ops_after[("withdraw", "accepted")] >= 1
    assert build.dumps(world.second) == build.dumps(world.first)
    assert world.files2["summary"].read_bytes() == world.files["summary"].read_bytes()
    assert _cells(world.files2["xlsx"]) == _cells(world.files["xlsx"])
    assert _pdf_text(world.files2["pdf"]) == _pdf_text(world.files["pdf"])
    later = build.compute(world.warehouse, "monthly", "2026-11", dt.date(2026, 12, 20))
    assert later["headline"]["accepted"] > world.first["headline"]["accepted"]  # a later cut-off sees them


def _cells(path) -> list:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        return [(ws.title, row) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_workbook_opens_with_frozen_headers_formats_and_notes(world):
    from openpyxl import load_workbook

    wb = load_workbook(world.files["xlsx"])
    assert {"汇总", "科室报表", "按类别", "按承办科室", "按区县", "逾期明细", "未报送-问题数据", "未报送-待审核",
            "平台退回", "重复拦截", "趋势", "隔离区账龄", "说明"} <= set(wb.sheetnames)
    assert all(ws.freeze_panes for ws in wb.worksheets)
    head = wb["汇总"]
    rates = {r[0].value: r[1] for r in head.iter_rows(min_row=6) if r[0].value}
    assert rates["及时率"].number_format == "0.00%" and rates["及时率"].value == world.first["headline"]["timely_rate"]
    assert [c.value for c in wb["科室报表"][1]] == ["承办科室", "产生数量", "报送数量", "平台入库数量", "未报送数量", "未报送原因"]
    notes = " ".join(str(c.value) for row in wb["说明"].iter_rows() for c in row)
    assert "国办发〔2015〕51号" in notes and "未核实" in notes
    assert wb.properties.created == dt.datetime(2026, 12, 9, 16, 0)  # the cut-off, not the moment of writing


def test_pdf_has_embedded_chinese_fonts_and_converts_to_pages(world, tmp_path):
    fonts = subprocess.run(["pdffonts", str(world.files["pdf"])], capture_output=True, text=True, check=True).stdout
    assert "NotoSansSC" in fonts and all(" yes " in line for line in fonts.splitlines()[2:])
    text = _pdf_text(world.files["pdf"])
    assert "及时率" in text and "各承办科室报送情况" in text and "隔离区积压" in text
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(world.files["pdf"]), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) >= 5


def test_no_unmasked_id_number_in_either_file(world):
    persons = {m["natural_key"].split("|")[1] for m in world.manifest
               if re.fullmatch(r"\d{17}[\dX]", m["natural_key"].split("|")[1])}
    assert persons, "the generator made no natural persons"
    cells = " ".join(str(x) for _, row in _cells(world.files["xlsx"]) for x in row)
    text = _pdf_text(world.files["pdf"])
    for blob in (cells, text, world.files["summary"].read_text(encoding="utf-8")):
        assert not contains_unmasked_id(blob)
        assert not any(p in blob for p in persons)
    waiting = [r for r in world.first["review"] if r["审核原因"] == "自然人"]
    assert len(waiting) == _truth(world)["awaiting"] > 0  # natural persons' records are listed, without their IDs


def test_weekly_report_and_the_download_listing(world):
    assert world.weekly["period"] == "2026-W47" and world.weekly["cut_off"] == "2026-11-23T08:00:00+08:00"
    assert 0 < world.weekly["headline"]["decisions"] < world.first["headline"]["decisions"]
    listed = store.list_reports(world.dir / "reports")
    assert [(r["kind"], r["period"]) for r in listed] == [("monthly", "2026-11"), ("weekly", "2026-W47")]
    assert {f["format"] for f in listed[0]["files"]} == {"xlsx", "pdf"}
    assert (world.dir / "reports" / listed[0]["files"][0]["path"]).is_file()
    assert listed[0]["headline"]["decisions"] == world.first["headline"]["decisions"]


class SmtpSink:
    """aiosmtpd on a free loopback port, keeping every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from helpers import free_port

        self.messages: list = []
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
                sink.messages.append((list(envelope.rcpt_tos), msg))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        self.controller.stop()


def _smtp_default(monkeypatch, sink) -> None:  # type: ignore[no-untyped-def]
    """Connection ``smtp_default`` pointing at the test's SMTP sink (plain SMTP, no retries)."""
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": sink.port,
        "extra": {"from_email": "creditflow@yjglj.zhuhai.gov.cn", "disable_tls": True, "disable_ssl": True,
                  "timeout": 5, "retry_limit": 0}}))


def test_email_arrives_at_the_sink_with_both_attachments(world, monkeypatch):
    """The DAG's own send step, through the SMTP provider's hook and the smtp_default connection."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "dags"))
    import credit_reports

    with SmtpSink() as sink:
        _smtp_default(monkeypatch, sink)
        monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_REPORT_EMAIL_MONTHLY", "xyb@zhuhai.gov.cn; data@yjglj.gov.cn")
        # the storage's reports area is where the world's reports were saved (<base>/reports)
        monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_STORAGE_URL", str(world.files["pdf"].parents[3]))
        built = {"files": {k: str(p) for k, p in world.files.items()}}
        assert credit_reports.send(built, "creditflow_report_email_monthly") == 2
    assert len(sink.messages) == 1
    rcpt, msg = sink.messages[0]
    assert sorted(rcpt) == ["data@yjglj.gov.cn", "xyb@zhuhai.gov.cn"]
    assert "双公示数据报送情况月报" in str(msg["Subject"]) and "2026年11月" in str(msg["Subject"])
    names = sorted(part.get_filename() for part in msg.iter_attachments())
    assert names == ["creditflow-monthly-2026-11.pdf", "creditflow-monthly-2026-11.xlsx"]
    pdf = next(p for p in msg.iter_attachments() if p.get_filename().endswith(".pdf"))
    assert pdf.get_content() == world.files["pdf"].read_bytes()


def test_reports_saved_to_object_storage_are_mailed_from_it(world, monkeypatch):
    """No local disk shared between workers: the build task publishes to the storage (fsspec memory:// here,
    S3 in production) and the send task, elsewhere, reads the files back from it."""
    import uuid

    from creditflow.core.storage import Storage
    from creditflow.feedback.store import save_to

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "dags"))
    import credit_reports

    base = f"memory://cf-reports-{uuid.uuid4().hex[:8]}"
    files = save_to(world.first, Storage.from_url(f"{base}/reports"))
    assert all(v.startswith("memory://") for v in files.values())
    with SmtpSink() as sink:
        _smtp_default(monkeypatch, sink)
        monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_REPORT_EMAIL_MONTHLY", "xyb@zhuhai.gov.cn")
        monkeypatch.setenv("AIRFLOW_VAR_CREDITFLOW_STORAGE_URL", base)
        assert credit_reports.send({"files": files}, "creditflow_report_email_monthly") == 1
    (_, msg), = sink.messages
    pdf = next(p for p in msg.iter_attachments() if p.get_filename().endswith(".pdf"))
    assert pdf.get_content() == world.files["pdf"].read_bytes()  # the same report, byte for byte


def test_cli_writes_the_files_and_prints_the_headline_figures(world, tmp_path, capsys):
    import argparse

    from creditflow.feedback import cli

    parser = argparse.ArgumentParser(prog="creditflow")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", "monthly", "--period", "2026-11", "--cut-off", "2026-12-09", "--out",
                              str(tmp_path), "--db", world.warehouse.url.render_as_string(hide_password=False)])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    files = printed.pop("files")
    assert printed == build.cli_summary(world.first)  # the rule's cut-off, after the December changes: same
    assert printed["cut_off_basis"] == "按规则的截止时点"
    assert set(printed) == {"period", "cut_off", "cut_off_basis", "decisions", "submitted", "accepted", "timely_rate",
                            "compliance_rate", "first_pass_rate", "completeness_rate", "not_published"}
    assert Path(files["xlsx"]).is_file() and Path(files["pdf"]).read_bytes().startswith(b"%PDF")
