import datetime as dt

import pandas as pd
import pytest
from creditflow.reporting import standardise as st
from creditflow.reporting import validation as v

AS_OF = dt.date(2026, 11, 27)
BASE = {"CF_XDR_MC": "珠海甲化工有限公司", "CF_XDR_LB": "法人及非法人组织", "CF_XDR_SHXYM": "91230500MA1B3N1N2M",
        "CF_FRDB": "张三", "CF_WSH": "珠应急罚〔2026〕1号", "CF_WFXW": "未按规定培训", "CF_SY": "经查", "CF_YJ": "安全生产法",
        "CF_CFLB": "罚款", "CF_NR": "罚款人民币2万元", "CF_NR_FK": "2", "CF_JDRQ": "2026-11-02", "CF_YXQ": "2027-11-02",
        "CF_CFJG": "珠海市应急管理局", "CF_CFJGDM": "11230500001755309F", "CF_SJLY": "珠海市应急管理局",
        "CF_SJLYDM": "11230500001755309F"}
PERSON = {**BASE, "CF_XDR_MC": "李四", "CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None,
          "CF_XDR_ZJLX": "身份证", "CF_XDR_ZJHM": "440402199001010014"}


def frame(*records, kind="penalty"):
    rows = [{**r, "_source_key": str(i)} for i, r in enumerate(records)]
    return st.standardise(st.map_source_rows(rows, "district_file", kind), kind)


def findings(*records, kind="penalty"):
    f = v.validate_pandas(frame(*records, kind=kind), kind, AS_OF)
    return {(r["field"], r["rule_id"]) for r in f.to_dict("records") if r["severity"] == "error"}


def test_clean_records_pass():
    assert findings(BASE) == set()
    assert findings(PERSON) == set()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"CF_SY": None}, ("CF_SY", "REQUIRED")),
        ({"CF_XDR_SHXYM": "91230500MA1B3N1N2X"}, ("CF_XDR_SHXYM", "USCC_INVALID")),
        ({"CF_XDR_SHXYM": None}, ("CF_XDR_SHXYM", "REQUIRED_IF")),
        ({"CF_XDR_SHXYM": "00000000000000000X"}, ("CF_XDR_SHXYM", "PLACEHOLDER_NEEDS_OTHER_CODE")),
        ({"CF_FRDB": None}, ("CF_FRDB", "REQUIRED_IF")),
        ({"CF_XDR_ZJHM": "440402199001010014"}, ("CF_XDR_ZJHM", "ORG_MUST_NOT_HAVE_PERSON_ID")),
        ({"CF_XDR_LB": "企业"}, ("CF_XDR_LB", "ENUM")),
        ({"CF_CFLB": "罚款;打板子"}, ("CF_CFLB", "ENUM")),
        ({"CF_NR_FK": None}, ("CF_NR_FK", "AMOUNT_REQUIRED")),
        ({"CF_NR_FK": "20000"}, ("CF_NR_FK", "AMOUNT_UNIT")),
        ({"CF_NR_FK": "0.0002"}, ("CF_NR_FK", "AMOUNT_UNIT")),
        ({"CF_NR_FK": "1.1234567"}, ("CF_NR_FK", "AMOUNT_FORMAT")),
        ({"CF_CFLB": "吊销许可证件"}, ("CF_NR_ZKDX", "REQUIRED_IF")),
        ({"CF_JDRQ": "2026-02-30"}, ("CF_JDRQ", "DATE_FORMAT")),
        ({"CF_JDRQ": "2026-12-01"}, ("CF_JDRQ", "DATE_FUTURE")),
        ({"CF_YXQ": "2026-10-01"}, ("CF_YXQ", "DATE_ORDER")),
        ({"CF_GSJZQ": "2030-01-01"}, ("CF_GSJZQ", "DATE_ORDER")),
        # 36 months (the longest maximum period of publicity.yaml) + the longest rest-day run (10 days) after
        # 2026-11-02 is 2029-11-12: one day later no 公示期 can end (民法典 第二百零二、二百零三条)
        ({"CF_GSJZQ": "2029-11-13"}, ("CF_GSJZQ", "DATE_ORDER")),
        ({"CF_CFJGDM": "123"}, ("CF_CFJGDM", "USCC_INVALID")),
        ({"CF_WSH": "珠应急罚〔2026〕" + "1" * 130 + "号"}, ("CF_WSH", "MAX_LENGTH")),
    ],
)
def test_each_rule_fires(change, expected):
    assert expected in findings({**BASE, **change})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"CF_XDR_ZJHM": "440402199001010015"}, ("CF_XDR_ZJHM", "RIC_INVALID")),
        ({"CF_XDR_ZJHM": None}, ("CF_XDR_ZJHM", "REQUIRED_IF")),
        ({"CF_XDR_SHXYM": "91230500MA1B3N1N2M"}, ("CF_XDR_SHXYM", "PERSON_MUST_NOT_HAVE_ORG_CODE")),
    ],
)
def test_natural_person_rules(change, expected):
    assert expected in findings({**PERSON, **change})


def test_placeholder_with_another_code_passes():
    assert findings({**BASE, "CF_XDR_SHXYM": "00000000000000000X", "CF_XDR_GSZC": "440400000012345"}) == set()


def test_warnings_do_not_quarantine():
    f = v.validate_pandas(frame({**BASE, "CF_CFJGDM": "91230500MA1B3N1N2M", "CF_CFLB": "罚款;其他",
                                 "CF_NR_WFFF": "0.5"}), "penalty", AS_OF)
    assert set(f["severity"]) == {"warning"}
    assert {"AUTHORITY_USCC_PREFIX", "OTHER_NEEDS_DETAIL", "AMOUNT_WITHOUT_CATEGORY"} <= set(f["rule_id"])


def test_license_and_coercion_rules():
    lic = {"XK_XDR_MC": "珠海甲化工有限公司", "XK_XDR_LB": "法人及非法人组织", "XK_XDR_SHXYM": "91230500MA1B3N1N2M",
           "XK_FRDB": "张三", "XK_XKWS": "危险化学品经营许可证核发决定书", "XK_WSH": "珠应急许〔2026〕1号", "XK_XKLB": "普通",
           "XK_NR": "危险化学品经营", "XK_JDRQ": "2026-11-02", "XK_YXQZ": "2026-11-02", "XK_YXQZI": "2029-11-01",
           "XK_XKJG": "珠海市应急管理局", "XK_XKJGDM": "11230500001755309F", "XK_ZT": "1", "XK_LYDW": "珠海市应急管理局",
           "XK_LYDWDM": "11230500001755309F"}
    assert findings(lic, kind="license") == set()
    assert ("XK_YXQZI", "DATE_ORDER") in findings({**lic, "XK_YXQZI": "2025-01-01"}, kind="license")
    assert ("XK_ZT", "ENUM") in findings({**lic, "XK_ZT": "3"}, kind="license")
    assert findings({**lic, "XK_ZT": "有效", "XK_XKLB": "01"}, kind="license") == set()  # local code aliases


def test_gx_and_pandas_engines_agree_on_generated_data(tmp_path):
    from creditflow.reporting.submissions import read_submission
    from creditflow_sandbox import generator as g

    g.generate_to(g.GeneratorConfig(seed=3, decisions=600, rates={**g.DEFAULT_RATES, "missing_required": 0.08,
                                                                  "bad_checksum": 0.08, "yuan_as_wan": 0.08,
                                                                  "malformed_date": 0.08}), inbox=tmp_path)
    files = sorted(f for f in tmp_path.rglob("*") if f.is_file())  # <inbox>/<kind>/ or flat
    rows = [vals for f in files for _, vals in read_submission(f).rows]
    df = st.standardise(st.map_source_rows(rows, "district_file", "penalty"), "penalty")
    a = v.validate_pandas(df, "penalty", AS_OF)
    b, result = v.validate_gx(df, "penalty", AS_OF)
    assert len(a) > 10
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert result.success is False


def test_every_message_is_chinese_and_names_the_field():
    f = v.with_messages(v.validate_pandas(frame({**BASE, "CF_SY": None, "CF_XDR_SHXYM": "9123"}), "penalty", AS_OF),
                        "penalty")
    for msg, field in zip(f["message_zh"], f["field"], strict=True):
        assert field in msg and any("\u4e00" <= c <= "\u9fff" for c in msg)


def test_results_kept_for_data_docs_hold_no_id_numbers():
    from creditflow.reporting.pipeline import scrub_validation_result

    person = {**BASE, "CF_XDR_MC": "李四", "CF_XDR_LB": "自然人", "CF_XDR_SHXYM": None, "CF_FRDB": None,
              "CF_XDR_ZJLX": "身份证", "CF_XDR_ZJHM": "440402199001010015"}
    found, result = v.validate_gx(frame(person), "penalty", AS_OF)
    assert ("CF_XDR_ZJHM", "RIC_INVALID") in set(zip(found["field"], found["rule_id"], strict=True))
    # GX asserts over the rules' failure indicators: its results carry counts, never a value
    assert "440402199001010015" not in str(result.to_json_dict())
    assert "440402199001010015" not in str(scrub_validation_result(result).to_json_dict())


def test_gx_result_has_one_expectation_per_rule_whose_counts_are_the_findings():
    rows = [BASE, {**BASE, "CF_SY": None, "CF_JDRQ": "2026-02-30"}, {**BASE, "CF_SY": None, "CF_XDR_SHXYM": "9123"}]
    found, result = v.validate_gx(frame(*rows), "penalty", AS_OF)
    rules = v.rules_for("penalty", AS_OF)
    assert sorted(r.expectation_config.meta["name"] for r in result.results) == sorted(r.name for r in rules)
    counts = {r.expectation_config.meta["name"]: r.result["unexpected_count"] for r in result.results}
    assert all(r.result["element_count"] == 3 for r in result.results)
    expected = found.assign(name=[next(r.name for r in rules if (r.rule_id, r.field) == (a, b))
                                  for a, b in zip(found["rule_id"], found["field"], strict=True)])
    assert {k: c for k, c in counts.items() if c} == expected["name"].value_counts().to_dict()
    assert counts["REQUIRED:CF_SY"] == 2 and result.success is False


def test_issue_12_year_0000_is_rejected_by_the_normaliser_and_both_engines():
    df = frame({**BASE, "CF_JDRQ": "0000-01-01"})
    assert df.loc[0, "CF_JDRQ"] == "0000-01-01"  # unreadable: kept as text for the message
    expected = {("CF_JDRQ", "DATE_FORMAT")}
    pandas_found = v.validate_pandas(df, "penalty", AS_OF)
    gx_found, _ = v.validate_gx(df, "penalty", AS_OF)
    assert {(r["field"], r["rule_id"]) for r in pandas_found.to_dict("records")} == expected
    pd.testing.assert_frame_equal(pandas_found, gx_found)


COERCION = {"QZ_XDR_MC": "珠海乙仓储有限公司", "QZ_XDR_LB": "法人及非法人组织", "QZ_XDR_SHXYM": "91230500MA1B3N1N2M",
            "QZ_FRDB": "王五", "QZ_WSH": "珠应急强〔2026〕3号", "QZ_QZLB": "行政强制措施", "QZ_CSLX": "扣押财物",
            "QZ_SY": "存在重大事故隐患", "QZ_YJ": "安全生产法第七十条", "QZ_NR": "扣押设备", "QZ_JDRQ": "2026-10-01",
            "QZ_QXZ": "2026-10-01", "QZ_ZT": "1", "QZ_SSJG": "珠海市应急管理局", "QZ_SSJGDM": "11230500001755309F",
            "QZ_SJLY": "珠海市应急管理局", "QZ_SJLYDM": "11230500001755309F"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"QZ_QXZI": "2026-10-31"}, set()),  # 30 days (start day not counted)
        ({"QZ_QXZI": "2026-11-01"}, {("QZ_QXZI", "SEIZURE_OVER_30_DAYS", "warning")}),
        ({"QZ_QXZI": "2026-11-30"}, {("QZ_QXZI", "SEIZURE_OVER_30_DAYS", "warning")}),  # 60: extension at most
        ({"QZ_QXZI": "2026-12-01"}, {("QZ_QXZI", "SEIZURE_OVER_60_DAYS", "error")}),
        ({"QZ_QXZI": "2026-10-31", "QZ_ZT": "2", "QZ_JCRQ": "2026-12-15"},
         {("QZ_JCRQ", "SEIZURE_OVER_60_DAYS", "error")}),  # lifted 75 days after it began
        ({"QZ_CSLX": "冻结存款、汇款", "QZ_QXZI": "2027-03-01"}, set()),  # art. 25 covers 查封/扣押 only
        ({"QZ_QXZI": None}, set()),  # no end yet: nothing to measure
    ],
)
def test_seizure_period_limits(change, expected):
    df = frame({**COERCION, **change}, kind="coercion")
    found = v.validate_pandas(df, "coercion", AS_OF)
    assert {(r["field"], r["rule_id"], r["severity"]) for r in found.to_dict("records")} == expected


def test_seizure_messages_are_chinese_and_state_the_days():
    df = frame({**COERCION, "QZ_QXZI": "2026-12-01"}, kind="coercion")
    msg = v.with_messages(v.validate_pandas(df, "coercion", AS_OF), "coercion")["message_zh"].tolist()
    assert msg == ["查封、扣押期限超过60日（QZ_QXZ 2026-10-01 至 QZ_QXZI 2026-12-01，共61日）：法定期限30日，"
                   "经批准延长也不得超过30日。如含检测、检验、检疫或者技术鉴定期间（不计入期限）或法律、行政法规另有规定，"
                   "请在源系统中更正期限或说明。"]


def test_zhuhai_id_numbers_through_the_frame_path_on_both_engines():
    ok = ["440403199001010010", "440404197506150024", "440402197001010031", "440421199001010048"]
    unknown = "44042219900101001X"
    df = frame(*[{**PERSON, "CF_WSH": f"珠应急罚〔2026〕{i}号", "CF_XDR_ZJHM": n} for i, n in enumerate([*ok, unknown])])
    pandas_found = v.validate_pandas(df, "penalty", AS_OF)
    gx_found, _ = v.validate_gx(df, "penalty", AS_OF)
    pd.testing.assert_frame_equal(pandas_found, gx_found)
    assert pandas_found[["_row", "rule_id", "severity"]].values.tolist() == [[4, "RIC_AREA_UNKNOWN", "warning"]]
    message = v.with_messages(pandas_found, "penalty")["message_zh"][0]
    assert "440422" in message and unknown not in message and "请核对" in message


def test_lifted_without_a_date_names_the_status_not_the_party_category():
    df = frame({**COERCION, "QZ_QXZI": "2026-10-20", "QZ_ZT": "2"}, kind="coercion")
    msg = v.with_messages(v.validate_pandas(df, "coercion", AS_OF), "coercion")["message_zh"].tolist()
    assert msg == ["解除日期（QZ_JCRQ）在此情况下必填：当前状态为“2”"]


# --- issue 16.1: a district file of ordinary data must not crash the check -------------------------------

def _ric(first17: str) -> str:
    """GB 11643-1999 §6.2: check character = "10X98765432"[Σ(a_i·W_i) mod 11], W_i = 2^(17-i) mod 11 —
    computed here, not by the module under test."""
    return first17 + "10X98765432"[sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17)) % 11]


#: Seven different county codes, every one a real code (python-stdnum cn/loc): 香洲 斗门 金湾 越秀 东城 黄浦 南山.
COUNTIES = ["440402", "440403", "440404", "440104", "110101", "310101", "440305"]


def _district_nine() -> list[dict[str, object]]:
    """Issue 16.1's file: seven natural persons with seven county codes, one organisation without
    证件号码, one ID whose check digit is wrong."""
    people = [{**PERSON, "CF_XDR_MC": f"张{i}", "CF_WSH": f"珠香应急罚〔2026〕{i + 10}号",
               "CF_XDR_ZJHM": _ric(f"{area}198001{i + 1:02d}00{i}")} for i, area in enumerate(COUNTIES)]
    good = _ric("44040219800101991")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    return [*people, {**BASE, "CF_WSH": "珠香应急罚〔2026〕20号"},
            {**PERSON, "CF_XDR_MC": "李四", "CF_WSH": "珠香应急罚〔2026〕30号", "CF_XDR_ZJHM": wrong}]


def test_issue_16_mostly_distinct_id_column_with_a_null_does_not_crash_either_engine():
    """Both engines used to raise TypeError (the address-code lookup called on a null by distinct_map's
    full-column path, taken when most values are distinct)."""
    f = frame(*_district_nine())
    for found in (v.validate_pandas(f, "penalty", AS_OF), v.validate_gx(f, "penalty", AS_OF)[0]):
        errors = found[found["severity"] == "error"]
        # GB 11643: a wrong check digit makes the number invalid — the one error of the file
        assert list(zip(errors["_row"], errors["field"], errors["rule_id"], strict=True)) == [
            (8, "CF_XDR_ZJHM", "RIC_INVALID")]
        assert "RIC_AREA_UNKNOWN" not in set(found["rule_id"])  # all seven county codes are known


def test_issue_16_creditflow_check_on_the_nine_row_district_file(tmp_path, capsys):
    import csv
    import json

    from creditflow.cli import main
    from creditflow.core import standard

    fields = standard.fields("penalty")
    path = tmp_path / "440402_香洲区_20261102.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([fd.name_zh for fd in fields])
        for r in _district_nine():
            w.writerow(["" if r.get(fd.code) is None else r.get(fd.code) for fd in fields])
    code = main(["check", str(path), "--json", "--as-of", AS_OF.isoformat()])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    body = json.loads(out.out)
    assert code == 1 and body["rows"] == 9 and body["duplicates"] == []
    assert [(r["row"], [e["rule"] for e in r["errors"]]) for r in body["invalid"]] == [(10, ["RIC_INVALID"])]


# --- issue 18.3: markup and control characters are not published -----------------------------------------

def _both(*records, kind="penalty"):
    f = frame(*records, kind=kind)
    pandas_found = v.validate_pandas(f, kind, AS_OF)
    gx_found, _ = v.validate_gx(f, kind, AS_OF)
    pd.testing.assert_frame_equal(gx_found, pandas_found)
    return v.with_messages(pandas_found, kind)


@pytest.mark.parametrize(("change", "field", "shown"), [
    ({"CF_XDR_MC": "<script>alert(1)</script>"}, "CF_XDR_MC", "HTML标记“<script>alert（1）”"),
    ({"CF_WSH": '"><svg onload=alert(4)>'}, "CF_WSH", "HTML标记“<svgonload=alert”"),
    ({"CF_XDR_MC": "＜script＞珠海甲"}, "CF_XDR_MC", "HTML标记“<script>珠海甲”"),  # the name normaliser folds ＜＞
    ({"CF_XDR_MC": "珠海>甲化工有限公司"}, "CF_XDR_MC", "尖括号“>”"),  # names: no angle bracket at all
    ({"CF_SY": "经查<!-- x -->属实"}, "CF_SY", "HTML标记“<!-- x -->属实”"),
    ({"CF_NR": "罚款人民币2万元</td>"}, "CF_NR", "HTML标记“</td>”"),
    ({"CF_FRDB": "张\x07三"}, "CF_FRDB", "不可见或控制字符（U+0007）"),
    ({"CF_YJ": "安全生产法\u202e条七十九第"}, "CF_YJ", "不可见或控制字符（U+202E）"),  # bidi override (Trojan Source)
    ({"CF_XDR_MC": "珠海甲\u2066化工有限公司"}, "CF_XDR_MC", "不可见或控制字符（U+2066）"),  # bidi isolate
    ({"CF_WFXW": "未按规定培训\u200e"}, "CF_WFXW", "不可见或控制字符（U+200E）"),  # LRM
    ({"CF_CFLB": "罚款;其他-<img src=x onerror=alert(1)>"}, "CF_CFLB", "HTML标记“<imgsrc=xonerror”"),
])
def test_markup_and_control_characters_are_errors_on_both_engines(change, field, shown):
    """Issue 18.3's examples, standardised as the pipeline does (names fold parentheses, 文号 and
    categories lose their spaces) and then refused; the message quotes the start of the tag."""
    found = _both({**BASE, **change})
    errors = found[found["severity"] == "error"]
    assert list(zip(errors["field"], errors["rule_id"], strict=True)) == [(field, "TEXT_UNSAFE")]
    message = errors["message_zh"].iloc[0]
    assert shown in message and "不能公示" in message


def test_zero_width_space_and_bom_are_removed_by_the_standardiser_not_refused():
    # clean_text folds ZWSP/BOM with the whitespace: what reaches validation is clean, so no finding
    assert findings({**BASE, "CF_XDR_MC": "珠海\u200b甲化工\ufeff有限公司"}) == set()


def test_odd_names_and_doc_numbers_are_warnings_that_do_not_quarantine():
    found = _both({**BASE, "CF_XDR_MC": "珠海甲★化工有限公司", "CF_WSH": "珠应急罚2026年12号"})
    assert set(zip(found["field"], found["rule_id"], found["severity"], strict=True)) == {
        ("CF_XDR_MC", "NAME_CHARS", "warning"), ("CF_WSH", "DOC_NO_FORMAT", "warning")}
    assert "“★”" in found.set_index("rule_id").loc["NAME_CHARS", "message_zh"]


def test_published_text_of_licences_and_coercions_is_checked_too():
    lic = {"XK_XDR_MC": "珠海甲化工有限公司", "XK_XDR_LB": "法人及非法人组织", "XK_XDR_SHXYM": "91230500MA1B3N1N2M",
           "XK_FRDB": "张三", "XK_XKWS": "许可决定书<svg/onload=alert(1)>", "XK_WSH": "珠应急许〔2026〕1号",
           "XK_XKLB": "普通", "XK_NR": "危险化学品经营", "XK_JDRQ": "2026-11-02", "XK_YXQZ": "2026-11-02",
           "XK_YXQZI": "2029-11-01", "XK_XKJG": "珠海市应急管理局", "XK_XKJGDM": "11230500001755309F", "XK_ZT": "1",
           "XK_LYDW": "珠海市应急管理局", "XK_LYDWDM": "11230500001755309F"}
    found = _both(lic, kind="license")
    assert set(zip(found["field"], found["rule_id"], strict=True)) == {("XK_XKWS", "TEXT_UNSAFE")}


def test_the_quoted_tag_never_shows_part_of_an_id_number():
    # a tag in front of an ID number: the 16 characters quoted must not carry its unmasked digits
    found = _both({**BASE, "CF_SY": "经查<b>440402199001010014属实"})
    message = found.set_index("rule_id").loc["TEXT_UNSAFE", "message_zh"]
    assert "HTML标记“<b>" in message and "19900101" not in message and "4404021" not in message


def test_generated_data_does_not_trip_the_text_rules(tmp_path):
    """The generator's normal data — district files in their three formats with the full-width defect,
    and the varied bulk rows, raw and standardised — has real names and 文号: no text finding."""
    from creditflow.reporting.submissions import read_submission
    from creditflow_sandbox import generator as g
    from creditflow_sandbox.generator.varied import varied_district_rows

    g.generate_to(g.GeneratorConfig(seed=5, decisions=600, rates={**g.DEFAULT_RATES, "fullwidth": 0.3}),
                  inbox=tmp_path)
    rows = [vals for f in sorted(p for p in tmp_path.rglob("*") if p.is_file()) for _, vals in read_submission(f).rows]
    district = st.standardise(st.map_source_rows(rows, "district_file", "penalty"), "penalty")
    varied = varied_district_rows(3000, seed=2)
    varied_std = st.standardise(st.map_source_rows(varied.assign(_source_key=[str(i) for i in range(len(varied))]),
                                                   "district_file", "penalty"), "penalty")
    for f in (district, varied.assign(_row=range(len(varied))), varied_std):
        found = v.validate_pandas(f, "penalty", AS_OF)
        assert len(found) > 0  # the data is dirty on purpose: the rules ran
        assert not set(found["rule_id"]) & {"TEXT_UNSAFE", "NAME_CHARS", "DOC_NO_FORMAT"}


def test_the_kept_configuration_gives_gx_the_result_it_builds_itself():
    """ExpectCreditflowRuleToHold keeps its GX configuration per state of its fields: the suite's result is
    the one GX gives when it builds the configuration on every read, and a changed field is seen."""
    from creditflow.reporting.validation import gx as g

    rows = [BASE, PERSON, {**BASE, "CF_WSH": "", "CF_JDRQ": "2026-02-30"}, {**BASE, "CF_XDR_SHXYM": "9123"}]
    expectation = g._gx_classes()
    kept = expectation.__dict__["configuration"]

    def result() -> dict:
        found, res = v.validate_gx(frame(*rows), "penalty", AS_OF)
        body = res.to_json_dict()
        body.pop("meta")
        return {"findings": found.to_dict("records"), "result": body}

    with_kept = [result(), result()]
    try:
        delattr(expectation, "configuration")  # GX's own property: built on every read
        built = result()
    finally:
        expectation.configuration = kept
    assert with_kept[0] == built and with_kept[1] == built
    one = expectation(column="REQUIRED:CF_WSH", meta={"name": "a"})
    assert one.configuration.meta == {"name": "a"}
    one.meta = {"name": "b"}
    assert one.configuration.meta == {"name": "b"}
    one.meta["name"] = "c"  # changed in place: the kept configuration is built again
    assert one.configuration.meta == {"name": "c"}


def test_the_result_kept_for_the_quality_report_is_gx_own_json():
    """``result_json`` is ``to_json_dict()`` — the same dict — on results that pass, fail and raise, on a
    second run of the same suite (configurations kept) and after a configuration changed."""
    import copy

    from creditflow.reporting.validation import gx as g
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.validator.exception_info import ExceptionInfo

    rows = [BASE, PERSON, {**BASE, "CF_WSH": "", "CF_JDRQ": "2026-02-30"}, {**BASE, "CF_XDR_SHXYM": "9123"}]
    for _ in range(2):
        _, result = v.validate_gx(frame(*rows), "penalty", AS_OF)
        assert {r.success for r in result.results} == {True, False}
        assert g.result_json(result) == result.to_json_dict()
    raised = copy.copy(result.results[0])
    raised.success = False
    raised.exception_info = ExceptionInfo(exception_traceback="Traceback …", exception_message="boom")
    changed = copy.copy(result.results[1])
    changed.expectation_config = copy.deepcopy(changed.expectation_config)
    changed.expectation_config.meta["severity"] = "warning"
    mixed = ExpectationSuiteValidationResult(success=False, results=[raised, changed, *result.results[2:]],
                                             suite_name="sgs_penalty", statistics=result.statistics,
                                             meta=result.meta)
    assert g.result_json(mixed) == mixed.to_json_dict()
    assert g.result_json(mixed)["results"][1]["expectation_config"]["meta"]["severity"] == "warning"
    bare = ExpectationSuiteValidationResult(success=True, results=[ExpectationValidationResult(success=True)],
                                            suite_name="empty")
    assert g.result_json(bare) == bare.to_json_dict()


def test_the_kept_dependencies_are_the_ones_gx_works_out():
    """ExpectCreditflowRuleToHold keeps GX's validation dependencies per state: for every expectation of every
    suite they equal what GX works out itself, each call gets its own objects, and the suite's result is
    the one GX gives without them."""
    from creditflow.reporting.validation import gx as g
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import BatchExpectation

    expectation = g._gx_classes()
    engine = PandasExecutionEngine()

    def plain(deps) -> tuple:
        return ({n: (m.id, dict(m.metric_domain_kwargs), dict(m.metric_value_kwargs))
                 for n, m in deps.metric_configurations.items()}, deps.result_format)

    for kind in ("penalty", "license", "coercion"):
        for e in g.build_suite(kind).expectations:
            for runtime in (None, {"result_format": "BASIC"}, {"result_format": {"result_format": "SUMMARY"}}):
                gx_own = BatchExpectation.get_validation_dependencies(e, engine, runtime)
                first, second = (e.get_validation_dependencies(engine, runtime) for _ in range(2))
                assert plain(first) == plain(second) == plain(gx_own)
                assert first.metric_configurations[g.FAILURES_METRIC] is not second.metric_configurations[
                    g.FAILURES_METRIC]
    one = expectation(column="REQUIRED:CF_WSH")
    assert dict(one.get_validation_dependencies(engine).metric_configurations[g.FAILURES_METRIC]
                .metric_value_kwargs)["column"] == "REQUIRED:CF_WSH"
    one.column = "REQUIRED:CF_SY"  # a changed field is seen
    assert dict(one.get_validation_dependencies(engine).metric_configurations[g.FAILURES_METRIC]
                .metric_value_kwargs)["column"] == "REQUIRED:CF_SY"

    rows = [BASE, PERSON, {**BASE, "CF_WSH": "", "CF_JDRQ": "2026-02-30"}, {**BASE, "CF_XDR_SHXYM": "9123"}]

    def result() -> dict:
        found, res = v.validate_gx(frame(*rows), "penalty", AS_OF)
        body = g.result_json(res)
        body.pop("meta")
        return {"findings": found.to_dict("records"), "result": body}

    kept = result()
    lean = expectation.__dict__["get_validation_dependencies"]
    try:
        delattr(expectation, "get_validation_dependencies")  # GX's own: worked out on every call
        built = result()
    finally:
        expectation.get_validation_dependencies = lean
    assert kept == built


def test_an_expectation_whose_column_is_missing_fails_the_run_instead_of_passing():
    """GX's metric reads the rule's indicator column from the batch: a column that is not there is an error
    GX reports for that expectation, and validate_gx raises it — never a rule counted as passed."""
    from creditflow.reporting.validation import gx as g

    rules = v.rules_for("penalty", AS_OF)
    failing = g.failure_indicators(v.prepare(frame(BASE), "penalty"), rules).drop(columns=[rules[3].name])
    result = g._run_suite(g._validation_definition("penalty"), failing)
    broken = [r for r in result.results if g._raised(r.exception_info)]
    assert [r.expectation_config.meta["name"] for r in broken] == [rules[3].name]
    assert not result.success
