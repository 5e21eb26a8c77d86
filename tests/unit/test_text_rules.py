"""The text rules after the review of issue 18.3 — hand cases with the answer taken from the rule texts
(data/standard/text_patterns.yaml, quoted per group), checked on the GX path, the pandas engine and the
floor (bench/floor.py), on the rows as delivered and as the pipeline standardises them:

1. a value a spreadsheet runs as a formula (OWASP CSV injection) is TEXT_UNSAFE, and the XLSX writers
   write text as text;
2. invisible characters (Default_Ignorable_Code_Point, \\p{Cf}, U+2800, private use, U+FFFD …) are
   TEXT_UNSAFE, and a value of nothing else is not "filled" for REQUIRED / REQUIRED_IF;
3. no finding quotes 6 digits of an ID number in a row, wherever the value is cut;
4. attribute break-out, script links and character references of markup are TEXT_UNSAFE in every text
   field, names and 文号 included;
5. the year-first and 字…第 文号 are real shapes (no DOC_NO_FORMAT).
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from creditflow.reporting import standardise as st
from creditflow.reporting import validation as v

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from floor import floor_findings

from tests.unit.test_reports_truth import Warehouse, _november, w  # noqa: F401  (w: the warehouse fixture)
from tests.unit.test_rule_cases import AS_OF, PENALTY, RIC_OK

U = "TEXT_UNSAFE"
ID = "440402199001010014"  # a valid resident ID number (GB 11643 check digit right)

#: (change to the valid penalty row, the (field, rule) it must give — nothing else)
CASES: list[tuple[dict[str, Any], set[tuple[str, str]]]] = [
    # 1. formula: "=" and "@" always; "+"/"-" when anything but digits, spaces, . , + - ( ) / follows;
    #    full-width ＝＋－＠ and leading spaces too [OWASP CSV Injection]
    ({"CF_WSH": '=HYPERLINK("http://x.cn","点此")'}, {("CF_WSH", U)}),  # not also DOC_NO_FORMAT
    ({"CF_XDR_MC": "@SUM(1+1)*cmd"}, {("CF_XDR_MC", U)}),  # not also NAME_CHARS
    ({"CF_WFXW": "-2+3+cmd|' /C calc'!A0"}, {("CF_WFXW", U)}),
    ({"CF_SY": "  ＝1+1"}, {("CF_SY", U)}),
    ({"CF_YJ": "＋A1"}, {("CF_YJ", U)}),
    ({"CF_NR": "－未按规定培训，罚款人民币2万元"}, {("CF_NR", U)}),
    ({"CF_FRDB": "＠张三"}, {("CF_FRDB", U)}),
    ({"CF_SY": "-12"}, set()), ({"CF_SY": "+86 756 1234567"}, set()), ({"CF_SY": "-"}, set()),
    ({"CF_SY": "经查，-12℃ 以下储存"}, set()),  # not at the start: no spreadsheet reads it as a formula
    # 2. invisible / unshowable [UAX #44 Default_Ignorable_Code_Point; \p{Cf}; U+2800; \p{Co}; U+FFFD]
    *[({"CF_SY": f"经查{c}属实"}, {("CF_SY", U)}) for c in (
        "\u3164", "\u115f", "\u1160", "\uffa0", "\ufe00", "\ufe0f", "\u180b", "\u180f", "\u034f", "\u17b4",
        "\u17b5", "\u00ad", "\u2800", "\ufffd", "\ufffc", "\ue000", "\uf8ff", "\ufdd0", "\ufdef", "\u0600",
        "\U000e0101", "\U0001d173")],
    ({"CF_XDR_MC": "\u3164\u3164\u3164"}, {("CF_XDR_MC", "REQUIRED"), ("CF_XDR_MC", U)}),  # looks empty: is
    ({"CF_WSH": "\u2800\u2800"}, {("CF_WSH", "REQUIRED"), ("CF_WSH", U)}),
    ({"CF_FRDB": "\u3164"}, {("CF_FRDB", "REQUIRED_IF"), ("CF_FRDB", U)}),  # an organisation's 法定代表人
    ({"CF_XDR_MC": "珠海甲化工有限公司\u3164"}, {("CF_XDR_MC", U)}),  # filled, but with a filler
    # 4. script without "<" [WHATWG HTML: event handler attributes, javascript: URLs, character references]
    ({"CF_SY": '" onmouseover="alert(1)" x="'}, {("CF_SY", U)}),
    ({"CF_WFXW": "&lt;img src=x onerror=alert(1)&gt;"}, {("CF_WFXW", U)}),
    ({"CF_YJ": "javascript:alert(1)"}, {("CF_YJ", U)}),
    ({"CF_NR": "罚款人民币2万元＜script＞"}, {("CF_NR", U)}),
    ({"CF_SY": "经查&#60;svg onload=alert(1)&#62;"}, {("CF_SY", U)}),
    ({"CF_SY": "经查&#x3C;b"}, {("CF_SY", U)}),
    ({"CF_SY": "VBScript:MsgBox(1)"}, {("CF_SY", U)}),
    ({"CF_SY": "见data:text/html;base64,PHNjcmlwdD4="}, {("CF_SY", U)}),
    ({"CF_SY": "经查<svg/onload=alert(1)>"}, {("CF_SY", U)}),
    ({"CF_SY": "经查＜ｓｃｒｉｐｔ＞"}, {("CF_SY", U)}),  # full-width letters: NFKC makes it <script>
    ({"CF_XDR_MC": '珠海甲" onmouseover="alert(1)" x="'}, {("CF_XDR_MC", U)}),  # names: error, not a warning
    ({"CF_WSH": "珠应急罚〔2026〕1号&quot;"}, {("CF_WSH", U)}),
    ({"CF_CFLB": "罚款;其他-javascript:alert(1)"}, {("CF_CFLB", U)}),
    # real text that is not markup
    ({"CF_SY": "温度<30℃，依据‹安全生产法›"}, set()), ({"CF_SY": "on duty at 8:00"}, set()),
    ({"CF_SY": "详见http://www.zhuhai.gov.cn/yjglj/?id=1"}, set()),
    ({"CF_XDR_MC": "珠海A&B科技有限公司"}, set()),
    # 5. 文号 shapes: year first (court 案号 style), 字…第 [M]; still a warning: the year not bracketed
    ({"CF_WSH": "(2026)珠应急罚12号"}, set()), ({"CF_WSH": "（2026）珠应急罚12号"}, set()),
    ({"CF_WSH": "（2026）珠应急罚第12号"}, set()), ({"CF_WSH": "【2026】珠应急罚12号"}, set()),
    ({"CF_WSH": "珠应急罚字2026第12号"}, set()), ({"CF_WSH": "（２０２６）粤0402行初12号"}, set()),
    ({"CF_WSH": "〔2026〕珠应急（横琴）罚3-1号"}, set()),
    ({"CF_WSH": "珠应急罚2026年12号"}, {("CF_WSH", "DOC_NO_FORMAT")}),
    ({"CF_WSH": "（2026）12号"}, {("CF_WSH", "DOC_NO_FORMAT")}),  # no 代字
    ({"CF_WSH": "珠应急罚字2026第"}, {("CF_WSH", "DOC_NO_FORMAT")}),  # no number
]


def _raw() -> pd.DataFrame:
    frame = pd.DataFrame([{**PENALTY, **change} for change, _ in CASES])
    frame["_row"] = range(len(frame))
    return frame


def _standardised() -> pd.DataFrame:
    rows = [{**PENALTY, **change, "_source_key": str(i)} for i, (change, _) in enumerate(CASES)]
    return st.standardise(st.map_source_rows(rows, "district_file", "penalty"), "penalty")


def _three_engines(frame: pd.DataFrame) -> pd.DataFrame:
    gx_found, _ = v.validate_gx(frame, "penalty", AS_OF)
    pandas_found = v.validate_pandas(frame, "penalty", AS_OF)
    pd.testing.assert_frame_equal(gx_found, pandas_found)
    floor = floor_findings(v.prepare(frame, "penalty"), "penalty", AS_OF)
    assert {(int(r), f, rid) for r, f, rid in zip(gx_found["_row"], gx_found["field"], gx_found["rule_id"],
                                                  strict=True)} == floor
    return v.with_messages(pandas_found, "penalty")


@pytest.fixture(scope="module", params=["raw", "standardised"])
def found(request) -> pd.DataFrame:
    return _three_engines(_raw() if request.param == "raw" else _standardised())


@pytest.mark.parametrize("i", range(len(CASES)), ids=[repr(next(iter(c[0].values())))[:40] for c in CASES])
def test_hand_case_on_every_engine(found, i):
    got = {(f, r) for f, r in zip(found.loc[found["_row"] == i, "field"], found.loc[found["_row"] == i, "rule_id"],
                                  strict=True)}
    assert got == CASES[i][1]


@pytest.mark.parametrize(("change", "shown"), [
    ({"CF_SY": "=cmd|' /C calc'!A0"}, "会被表格软件当作公式的开头“=cmd|' /C calc'!”"),
    ({"CF_XDR_MC": "\u3164\u3164\u3164"}, "不可见或控制字符（U+3164）"),
    ({"CF_SY": "经查\ue123属实"}, "私用区字符（U+E123"),
    ({"CF_SY": "经查\ufffd属实"}, "无法显示的替换字符（U+FFFD）"),
    ({"CF_SY": '" onmouseover="alert(1)" x="'}, "HTML事件属性“onmouseover=”"),
    ({"CF_SY": "&lt;img src=x onerror=alert(1)&gt;"}, "HTML字符实体“&lt;”"),
    ({"CF_SY": "javascript:alert(1)"}, "脚本链接“javascript:”"),
    ({"CF_SY": "<video/ondataavailable=alert(1)"}, "HTML标记“<video/ondataava”"),  # the tag comes first
    ({"CF_SY": "x' ondataavailable=alert(1)"}, "HTML事件属性“ondataavailable=”"),
    ({"CF_SY": "经查＜script＞"}, "HTML标记“＜script＞”"),
])
def test_the_message_says_what_was_found_in_chinese(change, shown):
    frame = pd.DataFrame([{**PENALTY, **change, "_row": 0}])
    messages = _three_engines(frame).set_index("rule_id")["message_zh"]
    assert shown in messages[U] and "不能公示" in messages[U]


# --- 3. no part of an ID number in a finding ------------------------------------------------------------

def _id_runs(text: str) -> list[str]:
    return [ID[i:i + 6] for i in range(len(ID) - 5) if ID[i:i + 6] in text]


def test_no_finding_quotes_six_digits_of_an_id_number_wherever_the_value_is_cut():
    """mask_text is applied to the whole value before a detail cuts it: DOC_NO_FORMAT quotes 64 characters,
    AMOUNT_UNIT 40 of the 处罚内容, TEXT_UNSAFE 16 from the tag. The ID number is moved across every cut."""
    rows = []
    for k in range(0, 70):
        rows.append({"CF_WSH": "珠" + "A" * k + "-" + ID})  # DOC_NO_FORMAT, cut at 64
        rows.append({"CF_NR": "经" * k + ID + "，罚款人民币20000元", "CF_NR_FK": "20000"})  # AMOUNT_UNIT, cut at 40
        rows.append({"CF_SY": "经查<b>" + "查" * (k % 20) + ID})  # TEXT_UNSAFE snippet of 16
    frame = pd.DataFrame([{**PENALTY, **r} for r in rows])
    frame["_row"] = range(len(frame))
    found = _three_engines(frame)
    assert {"DOC_NO_FORMAT", "AMOUNT_UNIT", U} <= set(found["rule_id"])
    leaks = [(m, _id_runs(m)) for m in found["message_zh"] if _id_runs(m)]
    assert leaks == []
    leaks = [(d, _id_runs(d)) for d in found["detail"] if _id_runs(d)]
    assert leaks == []


# --- 1. the XLSX writers write text as text -------------------------------------------------------------

def _formulas(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [n for n in z.namelist() if n.startswith("xl/worksheets/") and b"<f>" in z.read(n)]


def test_report_xlsx_writes_a_formula_like_value_as_text(w, tmp_path):  # noqa: F811
    """The monthly report lists an unreadable district file by its name: a file named "=1+1" is a cell
    with the text "=1+1", not a formula (openpyxl would make one of any str starting with "=")."""
    from creditflow.feedback import xlsx
    from openpyxl import load_workbook

    w.run("2026-11-05", files=[{"file_name": '=HYPERLINK("http://x.cn","点此")', "status": "rejected", "rows": 0,
                                "reason": "文件无法读取"}])
    path = xlsx.write(_november(w), tmp_path / "r.xlsx")
    assert _formulas(path.read_bytes()) == []
    cells = [c for ws in load_workbook(path) for row in ws.iter_rows() for c in row
             if c.value == '=HYPERLINK("http://x.cn","点此")']
    assert cells and all(c.data_type == "s" for c in cells)


def test_integrity_xlsx_writes_an_uploaded_name_as_text():
    """诚信审核 batch result: the name comes from the uploaded CSV as it is."""
    from creditflow.credit import integrity
    from openpyxl import load_workbook

    data = integrity.to_xlsx([{"code": "X", "name": "=cmd|' /C calc'!A0"}],
                             [{"valid": False, "code": "X", "error": "代码无效"}])
    assert _formulas(data) == []
    cell = load_workbook(io.BytesIO(data)).active["B2"]
    assert (cell.value, cell.data_type) == ("=cmd|' /C calc'!A0", "s")


# --- creditflow check --------------------------------------------------------------------------------------

def test_creditflow_check_refuses_formula_invisible_and_script_rows(tmp_path, capsys):
    import csv
    import json

    from creditflow.cli import main
    from creditflow.core import standard

    fields = standard.fields("penalty")
    person = {"CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None, "CF_XDR_ZJLX": "身份证",
              "CF_XDR_ZJHM": RIC_OK}
    rows = [{}, {"CF_WFXW": '=HYPERLINK("http://x.cn")'}, {**person, "CF_XDR_MC": "ㅤㅤ"},
            {"CF_SY": '" onmouseover="alert(1)" x="'}, {"CF_WSH": "（2026）珠应急罚第12号"}]
    path = tmp_path / "440402_香洲区_20261102.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([fd.name_zh for fd in fields])
        for i, change in enumerate(rows, start=1):
            r = {**PENALTY, "CF_WSH": f"珠应急罚〔2026〕{i}号", **change}  # distinct 文号: no duplicates
            out.writerow(["" if r.get(fd.code) is None else r[fd.code] for fd in fields])
    code = main(["check", str(path), "--json", "--as-of", AS_OF.isoformat()])
    body = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(r["row"], sorted(e["rule"] for e in r["errors"])) for r in body["invalid"]] == [
        (3, [U]), (4, ["REQUIRED", U]), (5, [U])]

