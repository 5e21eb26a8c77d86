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


def test_resident_id():
    assert ids.validate_ric("440402199001010014") == []
    assert ids.validate_ric("440402199001010015") == ["校验位错误"]
    assert "15位" in ids.validate_ric("440402900101001")[0]
    feb30 = "44040219900230001"
    assert ids.validate_ric(feb30 + ids.ric_check_char(feb30)) == ["出生日期或出生地代码无效"]
    nowhere = "99040219900101001"
    assert ids.validate_ric(nowhere + ids.ric_check_char(nowhere)) == ["出生日期或出生地代码无效"]


def test_ric_checksum_series():
    s = pd.Series(["440402199001010014", "440402199001010015", None, "4404021990010100"])
    assert ids.ric_checksum_ok_series(s).tolist() == [True, False, False, False]


def test_mask_id_hides_the_middle():
    masked = ids.mask_id("440402199001010014")
    assert masked == "4404**********0014"
    assert "19900101" not in masked
