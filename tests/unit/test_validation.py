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
    rows = [vals for f in sorted(tmp_path.iterdir()) for _, vals in read_submission(f).rows]
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
    _, result = v.validate_gx(frame(person), "penalty", AS_OF)
    assert "440402199001010015" in str(result.to_json_dict())  # COMPLETE results carry failing values
    assert "440402199001010015" not in str(scrub_validation_result(result).to_json_dict())
