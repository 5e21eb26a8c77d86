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
