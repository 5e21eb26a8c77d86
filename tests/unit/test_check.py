import csv
import json

import pytest
from creditflow.cli import main

HEADER_ZH = ["行政相对人名称", "行政相对人类别", "行政相对人代码_1（统一社会信用代码）", "法定代表人", "行政处罚决定书文号",
             "违法行为类型", "违法事实", "处罚依据", "处罚类别", "处罚内容", "罚款金额（万元）", "处罚决定日期", "处罚有效期",
             "处罚机关", "处罚机关统一社会信用代码", "数据来源单位", "数据来源单位统一社会信用代码"]
GOOD = ["珠海甲化工有限公司", "法人及非法人组织", "91230500MA1B3N1N2M", "张三", "珠香应急罚〔2026〕1号", "未按规定培训",
        "经查……", "《安全生产法》第九十七条", "罚款", "罚款人民币2万元", "2", "2026-11-02", "2027-11-02", "珠海市香洲区应急管理局",
        "11230500001755309F", "珠海市香洲区应急管理局", "11230500001755309F"]


def write(path, rows, encoding="utf-8-sig", header=HEADER_ZH):
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def run(capsys, *args):
    code = main(["check", *args, "--as-of", "2026-11-27"])
    return code, capsys.readouterr()


def test_valid_file_exit_0(tmp_path, capsys):
    code, out = run(capsys, write(tmp_path / "ok.csv", [GOOD]), "--json")
    assert code == 0
    assert json.loads(out.out) == {"rows": 1, "invalid": [], "duplicates": []}


def test_invalid_rows_and_duplicates_with_spreadsheet_row_numbers(tmp_path, capsys):
    bad = list(GOOD)
    bad[4] = "珠香应急罚〔2026〕2号"
    bad[2] = "91230500MA1B3N1N2X"  # checksum
    bad[10] = "20000"  # 元 in a 万元 column
    dup = list(GOOD)
    dup[4] = "珠香应急罚[2026]1号"  # same 文号 once brackets are normalised
    code, out = run(capsys, write(tmp_path / "bad.csv", [GOOD, bad, dup], encoding="gb18030"), "--json")
    assert code == 1
    body = json.loads(out.out)
    assert body["rows"] == 3
    assert [r["row"] for r in body["invalid"]] == [3]
    rules = {(e["field"], e["rule"]) for e in body["invalid"][0]["errors"]}
    assert {("CF_XDR_SHXYM", "USCC_INVALID"), ("CF_NR_FK", "AMOUNT_UNIT")} <= rules
    assert all(e["message"] for e in body["invalid"][0]["errors"])
    assert body["duplicates"] == [{"row": 4, "duplicate_of": 2}]


def test_code_headers_and_human_output(tmp_path, capsys):
    from creditflow.core import standard

    header = [standard.map_headers("penalty", [h])[0] for h in HEADER_ZH]
    row = list(GOOD)
    row[11] = "2026-13-01"
    code, out = run(capsys, write(tmp_path / "codes.csv", [row], header=header))
    assert code == 1
    assert "第2行" in out.out and "DATE_FORMAT" in out.out and "处罚决定日期" in out.out


def test_xlsx(tmp_path, capsys):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER_ZH)
    ws.append(GOOD)
    wb.save(tmp_path / "a.xlsx")
    assert run(capsys, str(tmp_path / "a.xlsx"))[0] == 0


@pytest.mark.parametrize(("name", "content"), [("x.xlsx", b"not a zip"), ("y.csv", b""), ("z.pdf", b"%PDF"),
                                               ("w.csv", b"a,b,c\n1,2,3\n")])
def test_unreadable_files_exit_2_with_one_line(tmp_path, capsys, name, content):
    (tmp_path / name).write_bytes(content)
    code, out = run(capsys, str(tmp_path / name))
    assert code == 2
    assert out.err.count("\n") == 1 and "Traceback" not in out.err


def test_missing_file_exit_2(tmp_path, capsys):
    assert run(capsys, str(tmp_path / "nope.csv"))[0] == 2


def test_a_directory_is_named_as_such(tmp_path, capsys):
    code, out = run(capsys, str(tmp_path))
    assert code == 2 and "是目录" in out.err and "不存在" not in out.err and out.err.count("\n") == 1


def test_rows_without_a_natural_key_are_never_duplicates(tmp_path, capsys):
    """Two natural persons with a blank 证件号码 have no natural key (文号 | party code): nothing says they are the
    same decision — their 文书号 even differ. Only the same 文书号 and the same party are a duplicate."""
    header = ["CF_XDR_MC", "CF_XDR_LB", "CF_XDR_ZJLX", "CF_XDR_ZJHM", "CF_WSH", "CF_WFXW", "CF_SY", "CF_YJ", "CF_CFLB",
              "CF_NR", "CF_NR_FK", "CF_JDRQ", "CF_YXQ", "CF_CFJG", "CF_CFJGDM", "CF_SJLY", "CF_SJLYDM"]
    tail = ["未按规定培训", "经查属实", "《安全生产法》第九十七条", "罚款", "罚款1000元", "0.1", "2026-11-20", "2026-11-27",
            "珠海市斗门区应急管理局", "11440400MB2C123457", "珠海市斗门区应急管理局", "11440400MB2C123457"]
    rows = [["张三", "自然人", "身份证", "440402199001010014", "珠斗应急罚〔2026〕10号", *tail],  # one with a key
            ["李四", "自然人", "身份证", "", "珠斗应急罚〔2026〕11号", *tail],
            ["王五", "自然人", "身份证", "", "珠斗应急罚〔2026〕12号", *tail]]
    _code, out = run(capsys, write(tmp_path / "persons.csv", rows, header=header), "--json")
    assert json.loads(out.out)["duplicates"] == []


# --- 区县自查 bounds (issue #18 point 1) -------------------------------------------------------------------

def test_header_only_file_says_no_data_rows_not_all_passed(tmp_path, capsys):
    """A file with the header and no data row has nothing to report: "没有数据行", never "全部通过"."""
    code, out = run(capsys, write(tmp_path / "empty.csv", []))
    assert code == 1
    assert "没有数据行" in out.out and "全部通过" not in out.out
    code, out = run(capsys, write(tmp_path / "blank.csv", [[""] * len(HEADER_ZH)] * 3))  # blank lines only
    assert code == 1 and "没有数据行" in out.out


def test_reading_stops_at_the_row_limit_and_says_the_file_has_more(tmp_path):
    from creditflow.reporting.submissions import ReadLimits, read_submission

    rows = [[*GOOD[:4], f"珠香应急罚〔2026〕{i}号", *GOOD[5:]] for i in range(1, 6)]
    path = write(tmp_path / "five.csv", rows)
    sub = read_submission(path, None, ReadLimits(rows=3))
    assert [n for n, _ in sub.rows] == [2, 3, 4] and sub.truncated  # spreadsheet rows 2–4: the first three
    exact = read_submission(path, None, ReadLimits(rows=5))
    assert len(exact.rows) == 5 and not exact.truncated  # exactly at the limit: nothing left out
    whole = read_submission(path)
    assert len(whole.rows) == 5 and not whole.truncated  # the pipeline reads without limits, as before


def test_reading_stops_on_blank_lines_and_characters_too(tmp_path):
    from creditflow.reporting.submissions import ReadLimits, read_submission

    path = write(tmp_path / "gap.csv", [GOOD] + [[""]] * 30 + [GOOD])
    sub = read_submission(path, None, ReadLimits(rows=100, scanned=10))
    assert len(sub.rows) == 1 and sub.truncated  # the row after 30 blank lines is past the scan bound
    long = list(GOOD)
    long[6] = "经查" * 500  # 违法事实 of 1,000 characters
    path = write(tmp_path / "long.csv", [long] * 5)
    per_row = sum(len(v) for v in long if v)
    sub = read_submission(path, None, ReadLimits(rows=100, chars=per_row * 2 + 1))
    assert len(sub.rows) == 2 and sub.truncated


def test_xlsx_reading_stops_at_the_row_limit(tmp_path):
    from creditflow.reporting.check import check_file
    from creditflow.reporting.submissions import ReadLimits
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER_ZH)
    for i in range(1, 8):
        ws.append([*GOOD[:4], f"珠香应急罚〔2026〕{i}号", *GOOD[5:]])
    wb.save(tmp_path / "seven.xlsx")
    result = check_file(tmp_path / "seven.xlsx", None, None, ReadLimits(rows=4))
    assert result["rows"] == 4 and result["truncated"]


def _bad_file(tmp_path):
    """Row 2 valid, row 3 a USCC with a wrong check character and a fine in 元 (CF_NR_FK is in 万元), row 4
    row 2 again with the 文号's brackets written differently (the same 文号 once normalised: a duplicate),
    row 5 a resident ID number typed into 处罚类别 (not in the code table; the message quotes the value)."""
    bad = list(GOOD)
    bad[4] = "珠香应急罚〔2026〕2号"
    bad[2] = "91230500MA1B3N1N2X"
    bad[10] = "20000"
    dup = list(GOOD)
    dup[4] = "珠香应急罚[2026]1号"
    person = list(GOOD)
    person[4] = "珠香应急罚〔2026〕3号"
    person[8] = "440402199001010014"
    return write(tmp_path / "bad.csv", [GOOD, bad, dup, person])


def test_page_summary_lists_the_first_findings_and_counts_every_rule(tmp_path):
    from creditflow.common import contains_unmasked_id
    from creditflow.reporting.check import check_file
    from creditflow.reporting.selfcheck import findings, summarize

    result = check_file(_bad_file(tmp_path), None, None)
    every = findings(result)
    summary = summarize(result, shown=2)
    assert summary["rows"] == 4 and summary["invalid_rows"] == 2 and summary["duplicate_rows"] == 1
    assert summary["problems_total"] == len([f for f in every if f["type"] != "warning"]) >= 4
    assert len(summary["problems"]) == 2 and [p["row"] for p in summary["problems"]] == [3, 3]  # row order
    counts = {(r["rule"], r["type"]): r["count"] for r in summary["per_rule"]}
    assert counts[("USCC_INVALID", "error")] == 1 and counts[("AMOUNT_UNIT", "error")] == 1
    assert counts[("DUPLICATE", "duplicate")] == 1 and counts[("ENUM", "error")] >= 1
    assert sum(counts.values()) == summary["problems_total"] + summary["warnings_total"]
    result["unknown_headers"] = ["备注440402199001010014"]
    assert not contains_unmasked_id(summarize(result, shown=100))


def test_full_list_xlsx_has_every_finding_masked(tmp_path):
    from creditflow.common import contains_unmasked_id
    from creditflow.reporting.check import check_file
    from creditflow.reporting.selfcheck import findings, write_xlsx
    from openpyxl import load_workbook

    result = check_file(_bad_file(tmp_path), None, None)
    write_xlsx(result, tmp_path / "list.xlsx", "李四440402199001010014处罚.csv")  # a clerk names files so
    cells = [list(r) for r in load_workbook(tmp_path / "list.xlsx").active.iter_rows(values_only=True)]
    header = cells.index(["行号", "字段", "规则", "类型", "需要修改的地方"])
    listed = cells[header + 1:]
    assert [tuple(r[:3]) for r in listed] == [(f["row"], f["field"], f["rule"]) for f in findings(result)]
    assert ("ENUM", "错误") in {(r[2], r[3]) for r in listed if r[0] == 5}  # the ID typed into 处罚类别 ...
    assert not contains_unmasked_id(cells)  # ... is nowhere in the list unmasked, nor is the file name's


def _worker(tmp_path, path, *args):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import creditflow

    env = {**os.environ, "PYTHONPATH": str(Path(creditflow.__file__).resolve().parents[1])}
    p = subprocess.run([sys.executable, "-m", "creditflow.reporting.selfcheck", str(path), "--as-of", "2026-11-27",
                        *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


def test_worker_process_answers_with_the_summary_and_refusals(tmp_path):
    code, out = _worker(tmp_path, _bad_file(tmp_path), "--shown", "1")
    assert code == 0 and out["summary"]["invalid_rows"] == 2 and len(out["summary"]["problems"]) == 1
    (tmp_path / "x.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    code, out = _worker(tmp_path, tmp_path / "x.xlsx")
    assert code == 0 and out["refused"].startswith("无法读取该表格")


def test_worker_memory_cap_refuses_in_chinese(tmp_path):
    """With its address space capped at 8 MB over its imports the check cannot hold a 5,000-row file:
    the process answers with a Chinese refusal (exit 3) instead of growing."""
    rows = [[*GOOD[:4], f"珠香应急罚〔2026〕{i}号", *GOOD[5:]] for i in range(5000)]
    code, out = _worker(tmp_path, write(tmp_path / "many.csv", rows), "--memory-mb", "8")
    assert code == 3 and "内存上限" in out["refused"]


def test_a_sheet_without_dimension_is_not_parsed_whole_before_its_first_row(tmp_path):
    """openpyxl looks for <dimension> until <sheetData> ends: without one (the self-check's worst file has
    none) the whole sheet was parsed at load — about 1.5 s of CPU for this 20 MB sheet — before row 1."""
    import sys
    import time
    from pathlib import Path

    from creditflow.reporting.submissions import ReadLimits, read_submission

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from selfcheck import worst_workbook

    worst_workbook(tmp_path / "w.xlsx", unpacked=20 * 1024 * 1024)
    t = time.process_time()
    sub = read_submission(tmp_path / "w.xlsx", None, ReadLimits(rows=10))
    assert len(sub.rows) == 10 and sub.truncated
    assert time.process_time() - t < 0.5


def test_a_message_quoting_a_huge_cell_is_cut_on_the_page_and_in_the_list(tmp_path):
    """ENUM quotes the value: a 10,000-character 处罚类别 must not make a 10 KB line (× 200 on the page)."""
    from creditflow.reporting.check import check_file
    from creditflow.reporting.selfcheck import MESSAGE_CHARS, summarize

    row = list(GOOD)
    row[8] = "罚" * 10_000
    summary = summarize(check_file(write(tmp_path / "huge.csv", [row]), None, None))
    enum = [p for p in summary["problems"] if p["rule"] == "ENUM"]
    assert enum and all(len(p["message"]) <= MESSAGE_CHARS and p["message"].endswith("…") for p in enum)


def test_the_self_checks_engine_finds_exactly_what_the_pipelines_gx_suite_finds(tmp_path):
    """区县自查 evaluates the rules with the pandas engine (no GX import, within its memory bound): on a file
    with errors, warnings, a duplicate and an ID number in the wrong column it must say exactly what
    ``creditflow check`` (GX, the pipeline's suite) says."""
    import datetime as dt

    from creditflow.reporting.check import check_file

    path = _bad_file(tmp_path)
    gx = check_file(path, None, dt.date(2026, 11, 27), engine="gx")
    pandas = check_file(path, None, dt.date(2026, 11, 27), engine="pandas")
    assert gx["invalid"] and gx["duplicates"]
    assert pandas == gx
