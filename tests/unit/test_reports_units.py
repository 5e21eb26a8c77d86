"""Feedback reports, piece by piece: periods and cut-offs, exemption rules, completeness, who and where,
the pipeline gate, the font, the credit sections, the command line's argument errors."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
import sqlalchemy as sa
from creditflow.common import TZ, contains_unmasked_id
from creditflow.core import fonts
from creditflow.core import warehouse as wh
from creditflow.feedback import cli, details, figures, gate, store
from creditflow.feedback.periods import PeriodError, cut_off_of, month, parse_period, period_before, target, week_of


def test_months_and_weeks_with_their_cut_offs():
    oct_ = month("2026-10")
    assert (oct_.start, oct_.end, oct_.title_zh) == (dt.date(2026, 10, 1), dt.date(2026, 11, 1), "2026年10月")
    assert oct_.default_cut_off() == dt.datetime(2026, 11, 10, tzinfo=TZ)  # end of the 9th
    assert oct_.shifted(-10).label == "2025-12" and oct_.same_last_year().label == "2025-10"
    w44 = week_of("2026-W44")
    assert (w44.start, w44.last_day) == (dt.date(2026, 10, 26), dt.date(2026, 11, 1))
    assert w44.default_cut_off() == dt.datetime(2026, 11, 2, 8, tzinfo=TZ)
    assert w44.shifted(10).label == "2027-W01" and week_of("2026-W53").same_last_year().label == "2025-W52"
    assert period_before("monthly", dt.datetime(2026, 11, 10, 8, tzinfo=TZ)).label == "2026-10"
    assert period_before("weekly", dt.datetime(2026, 11, 2, 8, tzinfo=TZ)).label == "2026-W44"
    assert period_before("monthly", dt.datetime(2026, 1, 10, 0, 30, tzinfo=dt.UTC)).label == "2025-12"


@pytest.mark.parametrize("kind,label", [("monthly", "2026-13"), ("monthly", "2026/10"), ("weekly", "2026-W54"),
                                        ("weekly", "2026-44"), ("yearly", "2026")])
def test_bad_periods_are_refused(kind, label):
    with pytest.raises(PeriodError):
        parse_period(kind, label)


def test_cut_off_is_the_end_of_the_given_day_and_never_inside_the_period():
    oct_ = month("2026-10")
    assert cut_off_of("2026-11-05", oct_) == dt.datetime(2026, 11, 6, tzinfo=TZ)
    assert cut_off_of(None, oct_) == oct_.default_cut_off()
    assert cut_off_of("2026-10-30", oct_) == dt.datetime(2026, 10, 31, tzinfo=TZ)  # the month so far
    with pytest.raises(PeriodError):
        cut_off_of("2026-09-30", oct_)
    with pytest.raises(PeriodError):
        cut_off_of("9 Nov", oct_)


def test_targets_are_dated_rule_data():
    assert target("compliance_rate", dt.date(2026, 10, 31))["min"] == 0.95
    assert target("timely_rate", dt.date(2026, 10, 31))["min"] == 1.0
    assert target("compliance_rate", dt.date(2010, 1, 1)) is None


def test_exemptions_apply_by_decision_date_and_content():
    person = {"CF_CFLB": "警告;罚款", "CF_NR_FK": "0.02", "CF_XDR_LB": "自然人"}
    assert figures.exemption("penalty", dt.date(2026, 5, 6), True, None) == "revoked_before_publication"
    assert figures.exemption("penalty", dt.date(2026, 5, 6), False, person) == "simple_procedure_minor"
    assert figures.exemption("penalty", dt.date(2026, 3, 31), False, person) is None  # before Order 36
    assert figures.exemption("penalty", dt.date(2026, 5, 6), False, {**person, "CF_NR_FK": "0.05"}) is None
    org = {"CF_CFLB": "罚款", "CF_NR_FK": "0.3", "CF_XDR_LB": "法人及非法人组织"}
    assert figures.exemption("penalty", dt.date(2026, 5, 6), False, org) == "simple_procedure_minor"
    assert figures.exemption("penalty", dt.date(2026, 5, 6), False, {**org, "CF_CFLB": "罚款;责令停产停业"}) is None
    assert figures.exemption("license", dt.date(2026, 5, 6), False, org) is None


def _penalty(**changes):
    base = {"CF_XDR_MC": "珠海某化工有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "91440402MA4UXXXX1A",
            "CF_FRDB": "张某", "CF_WSH": "珠应急罚〔2026〕1号", "CF_WFXW": "未培训", "CF_SY": "经查", "CF_YJ": "安全生产法",
            "CF_CFLB": "罚款", "CF_NR": "罚款1万元", "CF_NR_FK": "1", "CF_JDRQ": "2026-11-02", "CF_YXQ": "2027-11-02",
            "CF_CFJG": "珠海市应急管理局", "CF_CFJGDM": "11440400MB2C123457", "CF_SJLY": "珠海市应急管理局",
            "CF_SJLYDM": "11440400MB2C123457"}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def test_completeness_counts_required_items_by_party_and_penalty_category():
    filled, required = details.completeness_items("penalty", _penalty())
    assert filled == required == 17  # 14 always, 2 for an organisation, 1 for 罚款
    assert details.completeness_items("penalty", _penalty(CF_SY=None)) == (16, 17)
    assert details.completeness_items("penalty", _penalty(CF_CFLB="警告", CF_NR_FK=None)) == (16, 16)
    person = _penalty(CF_XDR_LB="自然人", CF_XDR_SHXYM=None, CF_FRDB=None, CF_XDR_ZJLX="身份证")
    assert details.completeness_items("penalty", person) == (16, 17)  # the ID number is missing
    placeholder = _penalty(CF_XDR_SHXYM="00000000000000000X")
    assert details.completeness_items("penalty", placeholder) == (17, 18)
    assert details.completeness_items("penalty", {**placeholder, "CF_XDR_ZZJG": "MA4UXXXX1"}) == (18, 18)


def test_department_and_district_of_each_source():
    payload = {"CF_XDR_SHXYM": "91440403MA4UXXXX1A"}
    assert details.district_of("case_db", "case_no=1", None, payload, "penalty") == "斗门区"
    assert details.district_of("case_db", "", "金湾区", payload, "penalty") == "金湾区"  # carried by the extract
    assert details.district_of("district_file", "440402_香洲区_20261116_0001.xlsx#row3", None, payload,
                               "penalty") == "香洲区"
    assert details.district_of("licensing_api", "", None, {"XK_XDR_SHXYM": "91110000MA4UXXXX1A"}, "license") == "珠海市外"
    assert details.district_of("case_db", "", None, {}, "penalty") == "未知区县"
    assert details.department_of("case_db", "执法监督科", "香洲区") == "执法监督科"
    assert details.department_of("licensing_api", None, "香洲区") == "行政审批科"
    assert details.department_of("district_file", None, "香洲区") == "区县应急管理局（香洲区）"


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path}/wh.sqlite"
    wh.upgrade(url)
    e = wh.engine_from_url(url)
    yield e
    e.dispose()


def _runs(engine, days, kinds=("penalty", "license", "coercion")):
    rows = [{"run_key": f"sgs_{k}|{d}", "kind": k, "dag_id": f"sgs_{k}", "interval_start": f"{d}T00:00:00+08:00",
             "interval_end": f"{d}T00:00:00+08:00", "extracted": 0, "uploaded": 0, "quarantined": 0,
             "awaiting_review": 0, "unchanged": 0, "duplicates": 0, "late": 0, "due_soon": 0, "rejected_files": 0,
             "reconciled": True, "written_at": "2026-11-01T00:00:00+00:00"} for k in kinds for d in days]
    with engine.begin() as conn:
        conn.execute(wh.run_summary.insert(), rows)


def test_gate_waits_for_every_daily_run_and_every_upload_in_flight(engine):
    w = week_of("2026-W44")
    cut = w.default_cut_off()
    later = cut + dt.timedelta(hours=1)
    assert [d.isoformat() for d in gate.days_needed(w, cut)] == [f"2026-{d}" for d in
                                                                ("10-26", "10-27", "10-28", "10-29", "10-30",
                                                                 "10-31", "11-01")]
    _runs(engine, [f"2026-10-{d}" for d in range(26, 32)])
    settled, reasons = gate.pipeline_settled(engine, w, cut, now=later)
    assert not settled and len(reasons) == 3 and "2026-11-01" in reasons[0]
    _runs(engine, ["2026-11-01"])
    assert gate.pipeline_settled(engine, w, cut, now=later) == (True, [])
    assert not gate.pipeline_settled(engine, w, cut, now=cut - dt.timedelta(minutes=1))[0]  # cut-off not yet passed
    with engine.begin() as conn:
        conn.execute(wh.ledger.insert().values(kind="penalty", natural_key="A|B", owner_record_id="case_db:1",
                                               decision_date="2026-10-30", state="sent", updated_at="x"))
    settled, reasons = gate.pipeline_settled(engine, w, cut, now=later)
    assert not settled and reasons == ["行政处罚：1条上报操作仍在途（待发送或待平台回执）"]


def test_empty_warehouse_gives_a_report_of_zeros(engine):
    from creditflow.feedback import build

    report = build.compute(engine, "weekly", "2026-W44")
    h = report["headline"]
    assert (h["decisions"], h["timely_rate"], h["compliance_rate"], h["not_published"]["total"]) == (0, None, None, 0)
    assert len(report["trend"]) == 12 and report["department_table"] == []
    # both credit sections: one 合计 row of zeros (no case, no penalty)
    assert [[r["类别"] for r in s["rows"]] for s in report["sections"]] == [["合计"]] * 2
    assert report["sections"][0]["rows"][0]["期末名单数量"] == 0 and report["sections"][1]["rows"][0]["两书同达率"] is None


def test_font_comes_from_the_installed_package(monkeypatch, tmp_path):
    path = fonts.cjk_font_path()
    assert path.is_file() and path.suffix in (".otf", ".ttf")
    monkeypatch.setenv(fonts.ENV_VARIABLE, str(tmp_path / "missing.ttf"))
    with pytest.raises(fonts.FontMissing):
        fonts.cjk_font_path()


def test_pdf_text_wrapping_never_leaves_an_id_like_number():
    from creditflow.feedback.pdf import _wrap

    text = "来源 https://example.gov.cn/news/1160089765710794752 与 440402199001010014"
    for width in range(8, 40):
        assert not contains_unmasked_id(_wrap(text, width))


def test_listing_of_an_empty_or_missing_store(tmp_path):
    assert store.list_reports(tmp_path / "nothing") == []
    (tmp_path / "monthly" / "2026-10").mkdir(parents=True)  # a folder without summary is not a report
    assert store.list_reports(tmp_path) == []
    with pytest.raises(PeriodError):
        store.folder(tmp_path, "monthly", "../../etc")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="creditflow")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv,message", [
    (["report", "monthly", "--period", "2026-13", "--out", "x", "--db", "sqlite://"], "not a month"),
    (["report", "weekly", "--week", "2026-W44", "--cut-off", "2026-10-20", "--out", "x", "--db", "sqlite://"],
     "before period 2026-W44 starts"),
    (["report", "monthly", "--period", "2026-10", "--out", "x"], "cannot resolve the warehouse"),
])
def test_cli_bad_arguments_exit_2_with_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_DB", raising=False)
    args = _parse(argv)
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_refuses_a_warehouse_that_is_not_migrated(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/empty.sqlite"
    sa.create_engine(url).connect().close()
    args = _parse(["report", "monthly", "--period", "2026-10", "--out", str(tmp_path / "out"), "--db", url])
    assert args.func(args) == 1
    assert "creditflow db upgrade" in capsys.readouterr().err


def test_cut_off_selections_match_their_plain_definitions():
    """The per-record positions and the indexed 新增 history give what drop_duplicates / merge give."""
    import random

    import pandas as pd
    from creditflow.feedback.facts import Facts

    rng = random.Random(7)
    stamps = [f"2026-10-{d:02d}T15:00:00+00:00" for d in range(1, 29)]
    rows = pd.DataFrame([{"record_id": f"case_db:{rng.randrange(40):03d}", "day": f"2026-10-{d:02d}",
                          "run_key": f"sgs_penalty|2026-10-{d:02d}", "written_at": stamps[d - 1],
                          "decision_date": rng.choice(["2026-10-03", "", None, "2026-13-01"])}
                         for d in (rng.randrange(1, 29) for _ in range(300))])
    rows = rows.sort_values(["record_id", "day", "run_key"], kind="stable").reset_index(drop=True)
    history = pd.DataFrame([{"kind": rng.choice(["penalty", "license"]), "natural_key": f"文号{rng.randrange(30)}|x",
                             "op": rng.choice(["create", "correct"]), "state": rng.choice(["sent", "accepted"]),
                             "code": None, "first_at": rng.choice(stamps), "first_run": "r"} for _ in range(200)])
    empty = pd.DataFrame()
    known = Facts(dt.datetime(2026, 10, 31, tzinfo=TZ), (dt.date(2026, 10, 1), dt.date(2026, 11, 1)), empty, rows,
                  history, empty, empty, empty, empty)
    keys = history[["kind", "natural_key"]].sample(15, random_state=1)
    for day in (1, 9, 20, 28):
        cut = dt.datetime(2026, 10, day, 23, 59, tzinfo=dt.UTC)
        latest, first = figures.as_of(known, cut)
        plain = rows[rows["written_at"] < cut.isoformat(timespec="seconds")]
        assert latest.equals(plain.drop_duplicates("record_id", keep="last"))
        assert first.equals(plain.drop_duplicates("record_id", keep="first"))
        mine = figures._create_history_of(known, keys)
        expect = history[history["op"] == "create"].merge(keys.drop_duplicates(), on=["kind", "natural_key"])
        cols = list(history.columns)
        assert sorted(map(tuple, mine[cols].astype(str).values)) == sorted(map(tuple, expect[cols].astype(str).values))
    assert len(figures._create_history_of(known, keys.assign(natural_key="none"))) == 0
