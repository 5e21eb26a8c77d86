import datetime as dt

import pandas as pd
import pytest
from creditflow.core import identifiers as ids

REAL_USCC = ["91230500MA1B3N1N2M", "11230500001755309F"]  # public samples (REGULATIONS.md §6)


@pytest.mark.parametrize("code", [*REAL_USCC, "91440400MA4UABCD1N", "11440400MB2C123457"])
def test_valid_usccs(code):
    assert ids.validate_uscc(code) == []
    assert ids.is_valid_uscc(code.lower())  # compacted to upper case


def test_real_samples_carry_a_valid_embedded_org_code():
    assert all(ids.uscc_org_code_ok(c) for c in REAL_USCC)
    assert not ids.uscc_org_code_ok("91440400MA4UABCD1N")  # synthetic: org check digit not computed


@pytest.mark.parametrize("prefix", ["N2440400MA0000000", "Y1440400MA0000000", "A1440400MA0000000"])
def test_a_n_y_prefixes_accepted_where_stdnum_rejects(prefix):
    code = prefix + ids.uscc_check_char(prefix)
    assert ids.is_valid_uscc(code)
    assert not ids.stdnum_says_valid(code)  # the documented python-stdnum limitation


def test_stdnum_agrees_on_numeric_prefixes():
    for code in REAL_USCC:
        assert ids.stdnum_says_valid(code) == ids.is_valid_uscc(code)
    bad = "91230500MA1B3N1N2X"
    assert ids.stdnum_says_valid(bad) is False and ids.is_valid_uscc(bad) is False


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91230500MA1B3N1N2", "应为18位"),
        ("91230500MA1B3N1NIM", "不允许的字符"),
        ("91230500MA1B3N1N2X", "校验位错误"),
        ("95230500MA1B3N1N2M", "机构类别"),
        ("B1230500MA1B3N1N2M", "登记管理部门"),
        ("9123O500MA1B3N1N2M", "不允许的字符"),
    ],
)
def test_invalid_uscc_reasons(code, reason):
    problems = ids.validate_uscc(code)
    assert problems and any(reason in p for p in problems)


def test_placeholder_is_not_a_valid_uscc_but_is_recognised():
    assert not ids.is_valid_uscc(ids.USCC_PLACEHOLDER)
    assert ids.is_uscc_placeholder(" 00000000000000000x ")


def test_full_width_and_spaces_are_compacted():
    assert ids.is_valid_uscc("９１２３０５００ＭＡ１Ｂ３Ｎ１Ｎ２Ｍ")
    assert ids.is_valid_uscc("9123 0500 MA1B 3N1N 2M")


def test_vectorised_uscc_matches_scalar():
    import random

    rng = random.Random(7)
    values = []
    for _ in range(400):
        body = rng.choice(["91", "92", "11", "12", "N2", "Y1", "95", "B1"]) + "440402" + "".join(
            rng.choice(ids.USCC_ALPHABET) for _ in range(9))
        check = ids.uscc_check_char(body) if rng.random() < 0.7 else rng.choice(ids.USCC_ALPHABET)
        values.append(body + check)
    values += [None, "", "abc", ids.USCC_PLACEHOLDER]
    series = pd.Series(values)
    assert ids.uscc_valid_series(series).tolist() == [ids.is_valid_uscc(v) for v in values]
    assert ids.uscc_org_code_ok_series(series).tolist() == [ids.uscc_org_code_ok(v) for v in values]


def ric(first17: str) -> str:
    return first17 + ids.ric_check_char(first17)


AS_OF = dt.date(2026, 11, 27)


def test_resident_id():
    assert ids.validate_ric("440402199001010014") == []
    assert ids.validate_ric("440402199001010015") == ["校验位错误"]
    assert "15位" in ids.validate_ric("440402900101001")[0]
    assert ids.validate_ric(ric("44040219900230001")) == ["第7-14位出生日期无效"]  # 30 February
    assert ids.validate_ric(ric("44040200000101001")) == ["第7-14位出生日期无效"]  # year 0000
    assert ids.validate_ric("440402199001010014".lower()) == []
    assert ids.validate_ric(" ４４０４０２１９９００１０１００１４ ") == []  # full width, spaces


@pytest.mark.parametrize(
    "first17",
    [
        "44040319900101001",  # 斗门区 [2001-], holder born 1990: the number was issued after 2001
        "44040419750615002",  # 金湾区 [2001-], born 1975
        "44040219700101003",  # 香洲区 [1984-], born 1970
        "44042119900101004",  # 斗门县 [1983-2001]: a historical code stays valid for numbers issued then
        "44042120050101005",  # ... and is not tied to the birth year either
        "11010319800101006",  # 崇文区 [-2010], abolished
    ],
)
def test_address_code_is_where_the_number_was_issued_not_where_born(first17):
    number = ric(first17)
    from stdnum.cn import ric as stdnum_ric

    assert ids.check_ric(number, AS_OF) == ids.RicCheck(), number
    if first17.startswith(("440403199", "440404197", "440402197")):
        assert not stdnum_ric.is_valid(number)  # the stricter python-stdnum rule this replaces


@pytest.mark.parametrize("area", ["440422", "440499", "999999", "000000", "440405"])
def test_unknown_address_code_with_a_good_check_digit_is_a_warning(area):
    number = ric(area + "19900101001")
    check = ids.check_ric(number, AS_OF)
    assert check.errors == ()
    assert check.warnings == (f"地址码{area}不在已知的行政区划代码中（含已撤销的历史代码）",)
    assert ids.validate_ric(number, AS_OF) == [] and ids.is_valid_ric(number, AS_OF)


def test_stdnum_keyerror_on_an_unknown_county_does_not_escape():
    from stdnum.cn import ric as stdnum_ric

    number = ric("44042219900101001")
    with pytest.raises(KeyError):  # the defect: a known prefecture, an unknown county
        stdnum_ric.validate(number)
    assert ids.check_ric(number, AS_OF).warnings  # ours: a warning, no exception


def test_birth_date_after_the_as_of_date_is_an_error():
    number = ric("44040220261128001")
    assert ids.validate_ric(number, AS_OF) == ["出生日期晚于2026-11-27"]
    assert ids.validate_ric(number, dt.date(2026, 11, 28)) == []


def test_area_names_ignore_the_year_marks():
    assert ids.ric_area_name("440403") == "广东省斗门区"
    assert ids.ric_area_name("440421") == "广东省斗门县"
    assert ids.ric_area_name("440422") is None
    assert ids.ric_area_name("4404") is None and ids.ric_area_name("４４０４０２") is None


def test_ric_checksum_series():
    s = pd.Series(["440402199001010014", "440402199001010015", None, "4404021990010100",
                   "٤٤٠٤٠٢١٩٩٠٠١٠١٠٠١٤", pd.NA])  # Arabic-Indic digits match \d, not [0-9]
    assert ids.ric_checksum_ok_series(s).tolist() == [True, False, False, False, False, False]


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA, pd.NaT, 10**5000, -1, b"\x00", [1, 2], "\x00" * 18],
                         ids=["None", "nan", "NA", "NaT", "huge-int", "-1", "bytes", "list", "nul"])
def test_identifier_checks_never_raise(value):
    assert ids.validate_ric(value)
    assert ids.validate_uscc(value)
    assert ids.uscc_org_code_ok(value) is False
    assert ids.is_uscc_placeholder(value) is False
    assert ids.ric_area_name(value) is None  # issue 16: a null reached it and raised TypeError


def test_mask_id_hides_the_middle():
    masked = ids.mask_id("440402199001010014")
    assert masked == "4404**********0014"
    assert "19900101" not in masked
