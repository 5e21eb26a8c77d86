"""``creditflow impact`` and ``creditflow integrity`` (through :func:`creditflow.credit.cli.main`, the same
parser the main CLI gets from ``add_parser``): JSON shapes, batch CSV → XLSX, audit without ID numbers,
and one line on stderr with exit 2 for bad arguments."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from creditflow.common import contains_unmasked_id
from creditflow.core import warehouse as wh
from creditflow.credit.cli import main

PERSON = "440402199001010014"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_impact_json_across_2026_04_01(capsys):
    code, out, _ = run(capsys, "impact", "--categories", "罚款,责令停产停业", "--amount", "50000", "--decided",
                       "2026-05-06", "--party-type", "legal", "--json")
    assert code == 0
    got = json.loads(out)
    assert set(got) >= {"regime", "class", "published", "publicity_min_until", "publicity_max_until",
                        "earliest_repair", "listing", "integrity_fail_until", "rules"}
    assert (got["regime"], got["class"], got["published"]) == ("ndrc_order_36", "serious", True)
    # 严重 1–3 years (民法典 arts. 201–203): the minimum ends 2027-05-06 (a Thursday), repair from 2027-05-07;
    # the maximum's corresponding day 2029-05-06 is a Sunday → Monday 2029-05-07.
    assert (got["publicity_min_until"], got["publicity_max_until"], got["earliest_repair"]) == (
        "2027-05-06", "2029-05-07", "2027-05-07")
    # 实施条例 第十九条: 责令停产停业 is a 重大违法记录; 政府采购法 第二十二条: for the 3 years before the procurement
    assert got["integrity_fail_until"] == "2029-05-06" and got["major_violation"] is True
    assert got["listing"]["triggers"] is False and {p["id"] for p in got["listing"]["possible"]} == {
        "art6_3", "art7_1", "art7_2"}
    assert all({"id", "source", "mark"} <= set(r) for r in got["rules"])
    assert {"ndrc_order_36", "major_violation:caiku_2022_3"} <= {r["id"] for r in got["rules"]}

    code, out, _ = run(capsys, "impact", "--categories", "罚款", "--amount", "30000", "--decided", "2026-03-31",
                       "--party-type", "legal", "--violation", "未取得危险化学品经营许可证从事危险化学品经营", "--json")
    got = json.loads(out)
    assert (got["regime"], got["class"], got["publicity_min_until"]) == ("ndrc_order_58", "safety_production",
                                                                        "2027-03-31")
    # 部令11号 第七条第（一）项 may apply, but a listing needs its own procedure (性质恶劣、情节严重, a listing
    # decision): the preview does not treat the party as listed — a 3万元 fine is no 较大数额罚款 either.
    assert got["listing"]["triggers"] is False and got["listing"]["may_trigger"]
    assert got["listing"]["list_until_if_listed"] == "2029-03-31"
    assert got["integrity_fail_until"] is None

    code, out, _ = run(capsys, "impact", "--categories", "警告", "--decided", "2026-04-01", "--party-type", "natural")
    assert code == 0 and "是否公示：否" in out and "不影响" in out


@pytest.mark.parametrize("argv", [
    ["impact", "--categories", "罚金", "--amount", "1", "--decided", "2026-05-06", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--decided", "2026-05-06", "--party-type", "legal"],  # no amount
    ["impact", "--categories", "罚款", "--amount", "1", "--decided", "2026-13-01", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount", "1", "--decided", "2026-05-06", "--party-type", "robot"],
    ["impact", "--categories", "罚款", "--amount", "1", "--decided", "2026-05-06"],
    # an amount without 罚款 among the categories (财库〔2022〕3号 speaks of 较大数额罚款)
    ["impact", "--categories", "警告", "--amount", "5000000", "--decided", "2026-05-06", "--party-type", "legal"],
    ["integrity"],
    ["integrity", "--file", "/nonexistent/parties.csv", "--db", "sqlite://"],
    # NaN, infinity, a negative fine, text, one no fine can reach (above 2亿元, thresholds.yaml), dates outside
    # the rule data (before 527号's 2019-07-01, after the decision horizon 2027-12-31)
    ["impact", "--categories", "罚款", "--amount", "nan", "--decided", "2026-05-06", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount", "inf", "--decided", "2026-05-06", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount=-1e400", "--decided", "2026-05-06", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount=-5", "--decided", "2026-05-06", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount", "五千", "--decided", "2026-05-06", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount", "1e12", "--decided", "2026-05-06", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount", "1000", "--decided", "2099-01-01", "--party-type", "legal"],
    ["impact", "--categories", "罚款", "--amount", "1000", "--decided", "2019-06-30", "--party-type", "legal"],
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CREDITFLOW_DB", raising=False)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_integrity_cli_and_batch(capsys, tmp_path, db_url):
    engine = wh.engine_from_url(db_url)
    wh.upgrade(engine)
    day = "2026-05-06"
    with engine.begin() as conn:
        conn.execute(wh.credit_case.insert().values(
            case_id="SX-art7_1-D1", situation_id="art7_1", party_key=PERSON, party_type="自然人", party_name="李四",
            facts="x", basis="x", authority_name="局", authority_uscc="11440400MB2C123457", state="published",
            list_start="2026-01-05", list_end="2029-01-05", created_on="2026-01-01", updated_at=wh.now_iso()))
    csv_file = tmp_path / "bidders.csv"
    csv_file.write_text(f"投标人,统一社会信用代码\n甲公司,91440400MA4UABCD1N\n李四,{PERSON}\n丙,12345\n",
                        encoding="utf-8-sig")
    xlsx = tmp_path / "out.xlsx"
    code, out, _ = run(capsys, "integrity", "--file", str(csv_file), "--xlsx", str(xlsx), "--db", db_url,
                       "--as-of", day, "--json")
    answers = json.loads(out)
    assert code == 1  # one party fails, one code is invalid
    assert [a["verdict"] for a in answers] == ["pass", "fail", None]
    assert answers[1]["listed"] == {"on_list": True, "since": "2026-01-05", "until": "2029-01-05",
                                    "grounds": answers[1]["listed"]["grounds"], "state": "已公示"}
    assert "无效" in answers[2]["error"]
    assert not contains_unmasked_id(out)
    from openpyxl import load_workbook

    ws = load_workbook(xlsx).active
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    assert [r[3] for r in rows] == ["通过", "不通过", "代码无效"] and rows[1][1] == "李四"
    assert not any(contains_unmasked_id(v) for r in rows for v in r if isinstance(v, str))
    code, out, _ = run(capsys, "integrity", "91440400MA4UABCD1N", "--db", db_url, "--purpose", "licensing")
    assert code == 0 and "通过" in out
    with engine.connect() as conn:
        log = conn.execute(sa.select(wh.credit_check_log)).mappings().all()
    assert [r["channel"] for r in log] == ["batch"] * 3 + ["cli"]
    assert all(r["asked_by"].startswith("cli:") and not contains_unmasked_id(r["answer"]) for r in log)
    assert dt.date.fromisoformat(json.loads(log[0]["answer"])["as_of"]) == dt.date(2026, 5, 6)
    engine.dispose()


def test_impact_refusals_say_why_in_chinese(capsys):
    code, _, err = run(capsys, "impact", "--categories", "罚款", "--amount", "nan", "--decided", "2026-05-06",
                       "--party-type", "legal")
    assert code == 2 and "罚款金额须为不小于0的有限数字" in err
    code, _, err = run(capsys, "impact", "--categories", "罚款", "--amount", "300000000", "--decided", "2026-05-06",
                       "--party-type", "legal")
    assert code == 2 and "超出任何罚款可能达到的数额" in err
    code, _, err = run(capsys, "impact", "--categories", "罚款", "--amount", "1000", "--decided", "2028-01-01",
                       "--party-type", "legal")
    assert code == 2 and "超出规则数据覆盖的范围" in err


@pytest.mark.parametrize("content", [bytes(range(256)) * 3, b'code\n"unterminated\n', b"\xef\xbb\xbfcode\n\x00\n"])
def test_integrity_never_prints_a_traceback(capsys, tmp_path, content):
    path = tmp_path / "parties.csv"
    path.write_bytes(content)
    code, _, err = run(capsys, "integrity", "--file", str(path), "--db", f"sqlite:///{tmp_path}/none.sqlite")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_impact_an_unexpected_error_is_one_line(capsys, monkeypatch):
    from creditflow.credit import impact

    def boom(*_a, **_k):
        raise KeyError("no such class")

    monkeypatch.setattr(impact, "preview", boom)
    code, out, err = run(capsys, "impact", "--categories", "罚款", "--amount", "1000", "--decided", "2026-05-06",
                         "--party-type", "legal")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_impact_a_possible_listing_is_not_a_listing(capsys):
    # 部令11号 第七条第（一）项 covers only 「未依法取得安全生产相关许可或者许可被暂扣、吊销期间从事相关生产经营活动」:
    # 擅自关闭监控、报警设备 is another conduct — 2万元 on a legal person is 一般 under Order 36 (not listed) and
    # no 较大数额罚款 (财库〔2022〕3号: 200万元), so the integrity check is not affected.
    code, out, _ = run(capsys, "impact", "--categories", "罚款", "--amount", "20000", "--decided", "2026-05-06",
                       "--party-type", "legal", "--violation", "擅自关闭、破坏直接关系生产安全的监控、报警、防护、救生设备、设施")
    assert code == 0 and "不触发" in out and "第七条" not in out.split("严重失信名单：")[1].splitlines()[0]
    assert "诚信审核不通过至：不影响" in out
    # A detector hit is 「可能触发」 only: the class stays the one without a listing, no failure date.
    code, out, _ = run(capsys, "impact", "--categories", "罚款", "--amount", "20000", "--decided", "2026-05-06",
                       "--party-type", "legal", "--violation", "无证经营危险化学品", "--json")
    got = json.loads(out)
    assert got["class"] == "general" and got["integrity_fail_until"] is None
    assert got["listing"]["may_trigger"] and got["listing"]["situations"][0]["id"] == "art7_1"
    assert "须经列入程序" in got["listing"]["situations"][0]["note_zh"]


def test_impact_accepts_full_width_separators(capsys):
    code, out, _ = run(capsys, "impact", "--categories", "罚款；责令停产停业", "--amount", "50000", "--decided",
                       "2026-05-06", "--party-type", "legal", "--json")
    # 实施条例 第十九条: 责令停产停业 is a 重大违法记录 — both categories were read
    assert code == 0 and json.loads(out)["major_violation"] is True


def test_impact_says_a_person_must_judge_when_no_amount_is_fixed(capsys):
    # Decided 2022-02-07, the day before 财库〔2022〕3号 (200万元): 政府采购法实施条例 第十九条 names 较大数额罚款 without
    # a national amount — whether 300万元 bars the party is for a person to judge, not 「不影响」.
    code, out, _ = run(capsys, "impact", "--categories", "罚款", "--amount", "3000000", "--decided", "2022-02-07",
                       "--party-type", "legal")
    line = next(x for x in out.splitlines() if x.startswith("诚信审核不通过至"))
    assert code == 0 and "须人工核实" in line and "不影响" not in line
